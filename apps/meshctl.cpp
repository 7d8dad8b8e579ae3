// meshctl: the operator's command-line client for a running node's HTTP API.
//
//   meshctl status [--node URL] [--output table|json]
//   meshctl peers  [--node URL] [--output table|json]
//   meshctl wait   [--node URL] --members N [--timeout SECONDS]
//   meshctl keygen --out FILE
//   meshctl dag submit|get|status|tips   (meshctl_dag.cpp)
//   meshctl neural spawn|list|kill|train|jobs|infer|split   (meshctl_neural.cpp)
//
// Exit status: 0 success, 1 the node returned an error or could not be
// reached, 2 invalid usage, 4 `wait` timed out.

#include <CLI/CLI.hpp>
#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "mesh/crypto/mesh_key.hpp"
#include "mesh/http/client.hpp"
#include "mesh/v1/node_api.pb.h"
#include "meshctl_common.hpp"

namespace {

using namespace mesh::ctl;

int show_status(const options& opts) {
  mesh::v1::StatusReply status;
  std::string raw;
  if (!fetch(opts, "/v1/status", status, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
    return 0;
  }
  std::printf("node id     %s\n", status.node_id().c_str());
  std::printf("name        %s\n", status.name().c_str());
  std::printf("role        %s\n", status.role().c_str());
  std::printf("p2p         %s (%s)\n", status.addresses().p2p().c_str(),
              status.secure() ? "CURVE" : "insecure");
  std::printf("ports       rpc=%u api=%u mcp=%u metrics=%u\n", status.addresses().rpc_port(),
              status.addresses().api_port(), status.addresses().mcp_port(),
              status.addresses().metrics_port());
  std::printf("joined      %s\n", status.joined() ? "yes" : "no");
  std::printf("mesh size   %u\n", status.mesh_size());
  std::printf("incarnation %llu\n", static_cast<unsigned long long>(status.incarnation()));
  std::printf("version     %s\n", status.version().c_str());
  return 0;
}

int show_peers(const options& opts) {
  mesh::v1::PeersReply peers;
  std::string raw;
  if (!fetch(opts, "/v1/peers", peers, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
    return 0;
  }
  std::printf("%-32s  %-16s  %-9s  %-21s  %-7s  %s\n", "NODE ID", "NAME", "ROLE", "ADDRESS",
              "STATE", "INCARNATION");
  for (const auto& peer : peers.peers()) {
    std::printf("%-32s  %-16s  %-9s  %-21s  %-7s  %llu\n", peer.node_id().c_str(),
                peer.name().c_str(), peer.role().c_str(), peer.address().c_str(),
                peer.state().c_str(), static_cast<unsigned long long>(peer.incarnation()));
  }
  return 0;
}

int wait_for_members(const options& opts, unsigned members, double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(timeout_seconds);
  unsigned alive = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    mesh::v1::PeersReply peers;
    std::string raw;
    if (fetch(opts, "/v1/peers", peers, raw, true)) {
      alive = 0;
      for (const auto& peer : peers.peers()) {
        alive += peer.state() == "alive" ? 1 : 0;
      }
      if (alive >= members) {
        std::cout << opts.node << " sees " << alive << " alive members\n";
        return 0;
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  std::cerr << "meshctl: timed out after " << timeout_seconds << " s: " << opts.node << " sees "
            << alive << " alive members, expected " << members << "\n";
  return exit_timed_out;
}

int write_key(const std::string& path) {
  auto key = mesh::crypto::generate_mesh_key_hex();
  if (!key) {
    std::cerr << "meshctl: " << key.err().message << "\n";
    return exit_failure;
  }
  const auto old_mask = ::umask(077);
  std::ofstream out(path, std::ios::trunc);
  ::umask(old_mask);
  if (!out || !(out << *key << "\n")) {
    std::cerr << "meshctl: cannot write mesh key to '" << path << "'\n";
    return exit_failure;
  }
  std::cout << "wrote a new 32-byte mesh key to " << path << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mesh::ctl;
  CLI::App app{"meshctl: inspect and operate a libmesh node through its HTTP API", "meshctl"};
  app.require_subcommand(1);
  options opts;

  auto add_common = [&opts](CLI::App* command) {
    command->add_option("--node", opts.node, "Base URL of the node's RPC port")
        ->capture_default_str();
    command->add_option("--output,-o", opts.output, "Output format")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
  };

  auto* status = app.add_subcommand("status", "Show the node's identity, ports and mesh size");
  add_common(status);
  auto* peers = app.add_subcommand("peers", "List every member the node knows and its state");
  add_common(peers);

  unsigned members = 0;
  double timeout_seconds = 30;
  auto* wait = app.add_subcommand("wait", "Wait until the node sees at least N alive members");
  add_common(wait);
  wait->add_option("--members", members, "Number of alive members to wait for, this node included")
      ->required()
      ->check(CLI::Range(1u, 100000u));
  wait->add_option("--timeout", timeout_seconds, "Seconds to wait before giving up")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();

  std::string key_path;
  auto* keygen = app.add_subcommand("keygen", "Write a new random mesh key (64 hex characters)");
  keygen->add_option("--out", key_path, "File to create, readable by its owner only")->required();

  auto run_dag = add_dag_commands(app, opts);
  auto run_neural = add_neural_commands(app, opts);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }

  if (*status) {
    return show_status(opts);
  }
  if (*peers) {
    return show_peers(opts);
  }
  if (*wait) {
    return wait_for_members(opts, members, timeout_seconds);
  }
  if (*keygen) {
    return write_key(key_path);
  }
  if (auto code = run_dag()) {
    return *code;
  }
  if (auto code = run_neural()) {
    return *code;
  }
  return exit_usage;
}
