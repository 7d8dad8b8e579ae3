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
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mesh/config/node_config.hpp"
#include "mesh/dag/store.hpp"
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

  // QuDAG. Blocking calls for service threads; never call them from an actor.
  //
  // Signs a vertex with this node's identity, stores it durably and gossips
  // it. Returns its id (64 lowercase hex characters). Fails with
  // invalid_argument or too_large for a refused vertex, io_error when the
  // store fails and timed_out when the node does not reply within `timeout`.
  [[nodiscard]] result<std::string> submit_vertex(
      std::string payload, std::string content_type, std::string conflict_key = {},
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) const;

  // Waits until vertex `id_hex` is final or rejected and returns the state.
  // Fails with not_found for a malformed id and timed_out after `timeout`.
  [[nodiscard]] result<dag::vertex_state> await_vertex(const std::string& id_hex,
                                                       std::chrono::milliseconds timeout) const;

  // Called once for every vertex that becomes final or rejected on this
  // node, with its id in hex, from an actor thread: it must not block.
  using decision_callback = std::function<void(const std::string& id_hex, dag::vertex_state state)>;
  void on_decision(decision_callback callback) const;

  class impl;

 private:
  explicit node(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace mesh
