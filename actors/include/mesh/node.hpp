#pragma once
// mesh::node runs one mesh node inside the calling process: identity, the
// ZeroMQ wire thread, the CAF actors (membership, health monitor), the HTTP
// servers on the RPC, API, MCP and metrics ports, and the metrics registry.
// The executables are thin shells over this class, and a C++ service can embed
// a node the same way:
//
//   auto cfg = mesh::config::load(argc, argv, "worker", env);
//   auto started = mesh::node::start(cfg->config);
//   if (!started) { /* started.err().message says why */ }
//   ... (*started)->peers() ...
//   (*started)->stop();  // graceful leave, then shutdown
//
// Thread safety: all const methods and stop() may be called from any thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mesh/config/node_config.hpp"
#include "mesh/error.hpp"
#include "mesh/membership/types.hpp"

namespace mesh {

struct node_ports {
  std::uint16_t p2p = 0;
  std::uint16_t rpc = 0;
  std::uint16_t api = 0;
  std::uint16_t mcp = 0;
  std::uint16_t metrics = 0;
};

class node {
 public:
  // Starts every service. Fails with errc::invalid_config for a bad
  // configuration, errc::io_error when a port cannot be bound or the data
  // directory is not writable, errc::crypto_error for key problems.
  [[nodiscard]] static result<std::unique_ptr<node>> start(const config::node_config& config);

  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  // Leaves the mesh gracefully, then stops the services in reverse order of
  // their start. Waits at most `timeout` for the leave to spread. Idempotent.
  void stop(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

  [[nodiscard]] const std::string& node_id() const;
  [[nodiscard]] const node_ports& ports() const;
  [[nodiscard]] std::string p2p_address() const;

  // Every member this node knows, this node included, sorted by node id.
  [[nodiscard]] std::vector<membership::member> peers() const;
  // True once a join succeeded (immediately for a bootstrap without peers).
  [[nodiscard]] bool joined() const;

  class impl;

 private:
  explicit node(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace mesh
