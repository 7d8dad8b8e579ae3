// HTTP routes of a node: health and readiness on every port, the mesh view on
// the RPC port and the Prometheus text format on the metrics port. Handlers
// read the status board, so none of them waits for an actor.

#include <google/protobuf/util/json_util.h>
#include <prometheus/text_serializer.h>

#include "mesh/config/version.hpp"
#include "mesh/http/proto_json.hpp"
#include "mesh/v1/node_api.pb.h"
#include "node_impl.hpp"

namespace mesh {

namespace {

using http::to_json;

void fill_ports(mesh::v1::ServiceAddresses& out, const membership::member_info& info) {
  out.set_p2p(info.address);
  out.set_rpc_port(info.ports.rpc);
  out.set_api_port(info.ports.api);
  out.set_mcp_port(info.ports.mcp);
  out.set_metrics_port(info.ports.metrics);
}

std::uint32_t count_alive(const actors::board_snapshot& snapshot) {
  std::uint32_t alive = 0;
  for (const auto& m : snapshot.members) {
    if (m.state == membership::member_state::alive ||
        m.state == membership::member_state::suspect) {
      ++alive;
    }
  }
  return alive;
}

// Builds the health reply. `readiness` adds the join requirement.
http::response health_response(const actors::board_snapshot& snapshot, const std::string& node_id,
                               bool readiness) {
  mesh::v1::HealthReply reply;
  reply.set_node_id(node_id);
  bool healthy = true;
  for (const auto& [name, component] : snapshot.components) {
    auto* entry = reply.add_components();
    entry->set_name(name);
    entry->set_healthy(component.healthy);
    entry->set_detail(component.detail);
    // The health monitor writes its detail once per period; the member view
    // on the board is newer, so a running membership component reports it.
    if (name == "membership" && component.healthy) {
      entry->set_detail(snapshot.joined
                            ? "joined, " + std::to_string(count_alive(snapshot)) + " members alive"
                            : std::string("joining"));
    }
    healthy = healthy && component.healthy;
  }

  unsigned status = 200;
  if (!healthy) {
    reply.set_status("degraded");
    status = 503;
  } else if (readiness && !snapshot.joined) {
    reply.set_status("not_ready");
    status = 503;
  } else {
    reply.set_status("ok");
  }
  return http::response{status, "application/json", to_json(reply)};
}

}  // namespace

void node::impl::add_health_routes(http::router& routes) const {
  const auto* board_ptr = &board;
  const auto id = identity->node_id();
  auto liveness = [board_ptr, id](const http::request&, http::responder respond) {
    respond(health_response(*board_ptr->snapshot(), id, false));
  };
  auto readiness = [board_ptr, id](const http::request&, http::responder respond) {
    respond(health_response(*board_ptr->snapshot(), id, true));
  };
  routes.add("GET", "/health", liveness);
  routes.add("GET", "/livez", liveness);
  routes.add("GET", "/ready", readiness);
  routes.add("GET", "/readyz", readiness);
}

void node::impl::add_mesh_routes(http::router& routes) const {
  const auto* board_ptr = &board;
  const auto role = config.role;
  const bool is_secure = secure;

  routes.add("GET", "/v1/status",
             [board_ptr, role, is_secure](const http::request&, http::responder respond) {
               const auto snapshot = board_ptr->snapshot();
               mesh::v1::StatusReply reply;
               reply.set_node_id(snapshot->self.info.node_id);
               reply.set_name(snapshot->self.info.name);
               reply.set_role(role);
               fill_ports(*reply.mutable_addresses(), snapshot->self.info);
               reply.set_mesh_size(count_alive(*snapshot));
               reply.set_joined(snapshot->joined);
               reply.set_incarnation(snapshot->self.incarnation);
               reply.set_version(std::string(config::library_version));
               reply.set_secure(is_secure);
               respond(http::response{200, "application/json", to_json(reply)});
             });

  routes.add("GET", "/v1/peers", [board_ptr](const http::request&, http::responder respond) {
    const auto snapshot = board_ptr->snapshot();
    mesh::v1::PeersReply reply;
    for (const auto& m : snapshot->members) {
      auto* peer = reply.add_peers();
      peer->set_node_id(m.info.node_id);
      peer->set_name(m.info.name);
      peer->set_role(std::string(membership::to_string(m.info.role)));
      peer->set_address(m.info.address);
      peer->set_state(std::string(membership::to_string(m.state)));
      peer->set_incarnation(m.incarnation);
      peer->set_load(m.info.load);
      fill_ports(*peer->mutable_ports(), m.info);
    }
    respond(http::response{200, "application/json", to_json(reply)});
  });

  add_dag_routes(routes);
}

void node::impl::add_metrics_routes(http::router& routes) const {
  std::weak_ptr<prometheus::Registry> weak_registry = registry;
  std::weak_ptr<telemetry::process_collector> weak_process = process_metrics;
  routes.add("GET", "/metrics",
             [weak_registry, weak_process](const http::request&, http::responder respond) {
               std::vector<prometheus::MetricFamily> families;
               if (auto reg = weak_registry.lock()) {
                 families = reg->Collect();
               }
               if (auto process = weak_process.lock()) {
                 auto more = process->Collect();
                 families.insert(families.end(), more.begin(), more.end());
               }
               prometheus::TextSerializer serializer;
               respond(http::response{200, "text/plain; version=0.0.4; charset=utf-8",
                                      serializer.Serialize(families)});
             });
}

}  // namespace mesh
