#pragma once
// Private state of mesh::node, shared by node.cpp (start and stop) and
// node_routes.cpp (HTTP routes). Not installed.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <prometheus/registry.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "mesh/actors/neural_metrics.hpp"
#include "mesh/actors/status_board.hpp"
#include "mesh/config/node_config.hpp"
#include "mesh/consensus/metrics.hpp"
#include "mesh/crypto/identity.hpp"
#include "mesh/http/server.hpp"
#include "mesh/membership/metrics.hpp"
#include "mesh/node.hpp"
#include "mesh/telemetry/metrics.hpp"
#include "mesh/telemetry/process_metrics.hpp"
#include "mesh/wire/metrics.hpp"
#include "mesh/wire/transport.hpp"

namespace mesh {

class node::impl {
 public:
  config::node_config config;
  std::optional<crypto::identity> identity;
  std::optional<std::string> api_token;
  std::string advertise_host;
  bool secure = false;
  node_ports ports;

  // Metrics: the registry outlives everything that records into it.
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<telemetry::process_collector> process_metrics;
  std::unique_ptr<wire::wire_metrics> wire_metrics;
  std::unique_ptr<membership::membership_metrics> membership_metrics;
  std::unique_ptr<telemetry::actor_metrics> actor_metrics;
  std::unique_ptr<consensus::dag_metrics> dag_metrics;

  actors::status_board board;

  std::unique_ptr<caf::actor_system_config> actor_config;
  std::unique_ptr<caf::actor_system> system;
  caf::actor membership;
  caf::actor health;
  caf::actor dag;
  caf::actor neural;

  std::unique_ptr<wire::transport> transport;
  std::unique_ptr<http::server> rpc_server;
  std::unique_ptr<http::server> api_server;
  std::unique_ptr<http::server> mcp_server;
  std::unique_ptr<http::server> metrics_server;

  std::mutex stop_mutex;
  bool stopped = false;

  // Routes shared by every HTTP port: /health, /livez, /ready, /readyz.
  void add_health_routes(http::router& routes) const;
  // GET /v1/status and GET /v1/peers on the RPC port.
  void add_mesh_routes(http::router& routes) const;
  // GET /metrics on the metrics port.
  void add_metrics_routes(http::router& routes) const;

  // QuDAG (node_dag.cpp). spawn_dag() runs after the identity and metrics
  // exist and before the transport starts. dag_handler() is registered with
  // the transport, and start_dag() hands the started transport to the actor.
  [[nodiscard]] result<void> spawn_dag();
  [[nodiscard]] wire::handler dag_handler();
  void start_dag();
  // The vertex and DAG routes on the RPC port.
  void add_dag_routes(http::router& routes) const;

  // Neural mesh (node_neural.cpp), in the same order as the QuDAG steps.
  void spawn_neural();
  [[nodiscard]] wire::handler neural_handler();
  void start_neural();
  // The agent, job and model routes on the API port.
  void add_neural_routes(http::router& routes) const;

  // ----- neural mesh state (node_neural.cpp) -----
  std::unique_ptr<actors::neural_metrics> neural_metrics;
};

}  // namespace mesh
