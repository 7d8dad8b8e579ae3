#pragma once
// Test support: a local mesh of real node processes on 127.0.0.1, each with
// its own data folder, ports and log file, plus helpers that read the nodes'
// HTTP API.

#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/http/client.hpp"
#include "mesh/v1/node_api.pb.h"
#include "support/process.hpp"

namespace mesh::testing {

struct node_ports {
  std::uint16_t p2p = 0;
  std::uint16_t rpc = 0;
  std::uint16_t api = 0;
  std::uint16_t mcp = 0;
  std::uint16_t metrics = 0;
};

struct test_node {
  std::string name;
  std::string role;
  node_ports ports;
  std::filesystem::path data_dir;
  std::vector<std::string> extra_args;
  std::map<std::string, std::string> extra_env;
  std::unique_ptr<child_process> process;

  [[nodiscard]] std::string rpc_url() const {
    return "http://127.0.0.1:" + std::to_string(ports.rpc);
  }
  [[nodiscard]] std::string p2p_address() const {
    return "127.0.0.1:" + std::to_string(ports.p2p);
  }
};

// Membership timings for tests: fast enough that a failure is detected in a
// few seconds, slow enough for a loaded 2-core CI machine.
inline std::map<std::string, std::string> fast_membership_env() {
  return {
      {"MESH_PROBE_INTERVAL_MS", "300"},
      {"MESH_PROBE_TIMEOUT_MS", "150"},
      {"MESH_GOSSIP_INTERVAL_MS", "100"},
      {"MESH_SUSPICION_MULTIPLIER", "3"},
  };
}

// Owns the nodes of one test; destroying it kills whatever still runs.
class cluster {
 public:
  explicit cluster(std::string name) : dir_(name) {
    key_file_ = dir_.path() / "mesh.key";
    std::ofstream(key_file_) << "5f0c2a3b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8\n";
    std::filesystem::permissions(key_file_, std::filesystem::perms::owner_read |
                                                std::filesystem::perms::owner_write);
  }

  [[nodiscard]] const std::filesystem::path& dir() const { return dir_.path(); }
  [[nodiscard]] const std::filesystem::path& key_file() const { return key_file_; }

  // Adds a node description without starting it.
  test_node& add(const std::string& role, const std::string& name,
                 std::vector<std::string> extra_args = {},
                 std::map<std::string, std::string> extra_env = {}) {
    auto node = std::make_unique<test_node>();
    node->name = name;
    node->role = role;
    node->ports = node_ports{free_port(), free_port(), free_port(), free_port(), free_port()};
    node->data_dir = dir_.path() / name;
    node->extra_args = std::move(extra_args);
    node->extra_env = std::move(extra_env);
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  // Starts (or restarts) `node`, joining through `bootstrap` unless it is
  // the bootstrap itself, and waits until its RPC port responds. A port taken
  // by another process between free_port() and the bind (exit status 3,
  // "Address already in use") gets new ports and another attempt.
  bool start(test_node& node, const std::vector<std::string>& bootstrap_peers) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (!spawn(node, bootstrap_peers)) {
        return false;
      }
      const bool up = eventually(std::chrono::seconds(10), [&] {
        if (!node.process->running()) {
          return true;
        }
        auto reply = mesh::http::get(node.rpc_url() + "/livez", std::chrono::milliseconds(500));
        return reply.has_value();
      });
      if (up && node.process->running()) {
        return true;
      }
      if (node.process->running() ||
          node.process->log().find("already in use") == std::string::npos) {
        return false;
      }
      node.ports = node_ports{free_port(), free_port(), free_port(), free_port(), free_port()};
    }
    return false;
  }

 private:
  bool spawn(test_node& node, const std::vector<std::string>& bootstrap_peers) {
    std::vector<std::string> args = {
        "--node-name",    node.name,
        "--data-dir",     node.data_dir.string(),
        "--bind-address", "127.0.0.1",
        "--p2p-port",     std::to_string(node.ports.p2p),
        "--rpc-port",     std::to_string(node.ports.rpc),
        "--api-port",     std::to_string(node.ports.api),
        "--mcp-port",     std::to_string(node.ports.mcp),
        "--metrics-port", std::to_string(node.ports.metrics),
        "--log-level",    "debug",
    };
    std::string peers;
    for (const auto& peer : bootstrap_peers) {
      peers += (peers.empty() ? "" : ",") + peer;
    }
    if (!peers.empty()) {
      args.push_back("--bootstrap-peers");
      args.push_back(peers);
    }
    args.insert(args.end(), node.extra_args.begin(), node.extra_args.end());

    auto env = fast_membership_env();
    env["MESH_KEY_FILE"] = key_file_.string();
    for (const auto& [key, value] : node.extra_env) {
      env[key] = value;
    }
    node.process = std::make_unique<child_process>(std::string(MESH_BIN_DIR) + "/mesh-" + node.role,
                                                   std::move(args), std::move(env),
                                                   dir_.path() / (node.name + ".log"));
    return node.process->start();
  }

 public:
  [[nodiscard]] std::vector<std::unique_ptr<test_node>>& nodes() { return nodes_; }

  // Everything the nodes logged, for failure messages.
  [[nodiscard]] std::string logs() const {
    std::string all;
    for (const auto& node : nodes_) {
      if (node->process) {
        all += "----- " + node->name + " -----\n" + node->process->log_tail(30);
      }
    }
    return all;
  }

 private:
  temp_dir dir_;
  std::filesystem::path key_file_;
  std::vector<std::unique_ptr<test_node>> nodes_;
};

// GET /v1/peers from `node`; nullopt when the node does not respond.
inline std::optional<mesh::v1::PeersReply> fetch_peers(const test_node& node) {
  auto reply = mesh::http::get(node.rpc_url() + "/v1/peers", std::chrono::milliseconds(2000));
  if (!reply || reply->status != 200) {
    return std::nullopt;
  }
  mesh::v1::PeersReply peers;
  if (!google::protobuf::util::JsonStringToMessage(reply->body, &peers).ok()) {
    return std::nullopt;
  }
  return peers;
}

// The state that `observer` reports for the member named `name`, or "" when
// it does not list it.
inline std::string state_of(const test_node& observer, const std::string& name) {
  const auto peers = fetch_peers(observer);
  if (!peers) {
    return "";
  }
  for (const auto& peer : peers->peers()) {
    if (peer.name() == name) {
      return peer.state();
    }
  }
  return "";
}

inline std::size_t alive_count(const test_node& observer) {
  const auto peers = fetch_peers(observer);
  if (!peers) {
    return 0;
  }
  std::size_t alive = 0;
  for (const auto& peer : peers->peers()) {
    alive += peer.state() == "alive" ? 1 : 0;
  }
  return alive;
}

}  // namespace mesh::testing
