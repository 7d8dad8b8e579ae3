// Wiring of the neural mesh into mesh::node: the neural manager actor, its
// wire handler for MESSAGE_KIND_NEURAL and its routes on the API port.

#include <caf/all.hpp>

#include "mesh/actors/neural_manager.hpp"
#include "mesh/telemetry/logging.hpp"
#include "node_impl.hpp"

namespace mesh {

void node::impl::spawn_neural() {
  neural_metrics = std::make_unique<actors::neural_metrics>(*registry);
  actors::neural_manager_config manager_config;
  manager_config.limits = config.neural;
  manager_config.role = config.role;
  manager_config.dag = dag;
  manager_config.board = &board;
  manager_config.metrics = neural_metrics.get();
  manager_config.actor_metrics = actor_metrics.get();
  neural = actors::spawn_neural_manager(*system, std::move(manager_config));
}

wire::handler node::impl::neural_handler() {
  auto target = neural;
  return [target](mesh::v1::Envelope&& envelope) -> result<void> {
    actors::inbound_neural inbound;
    if (!inbound.message.ParseFromString(envelope.body())) {
      return fail(errc::decode_error, "neural body is not a valid NeuralMessage");
    }
    if (auto valid = actors::validate_neural_message(inbound.message); !valid) {
      return valid.err();
    }
    if (envelope.sender_id().empty() || envelope.sender_address().empty()) {
      return fail(errc::decode_error, "neural envelope without sender_id or sender_address");
    }
    inbound.from_id = envelope.sender_id();
    inbound.from_address = envelope.sender_address();
    caf::anon_send(target, std::move(inbound));
    return {};
  };
}

void node::impl::start_neural() {
  actors::start_neural start;
  start.transport = transport.get();
  start.node_id = identity->node_id();
  start.node_name = config.node_name;
  start.address = transport->advertise_address();
  caf::anon_send(neural, std::move(start));
}

void node::impl::add_neural_routes(http::router& routes) const {
  const auto manager = neural;
  auto route = [manager](actors::neural_call call) {
    return [manager, call](http::request request, http::responder respond) {
      caf::anon_send(manager, actors::neural_api_request{call, std::move(request), std::move(respond)});
    };
  };
  using call = actors::neural_call;
  routes.add("POST", "/v1/agents", route(call::spawn_agent), true);
  routes.add("GET", "/v1/agents", route(call::list_agents));
  routes.add("DELETE", "/v1/agents/{id}", route(call::kill_agent), true);
  routes.add("POST", "/v1/jobs", route(call::submit_job), true);
  routes.add("GET", "/v1/jobs", route(call::list_jobs));
  routes.add("GET", "/v1/jobs/{id}", route(call::get_job));
  routes.add("DELETE", "/v1/jobs/{id}", route(call::cancel_job), true);
  routes.add("GET", "/v1/models", route(call::list_models));
  routes.add("GET", "/v1/models/{id}", route(call::get_model));
  // Inference changes nothing, so like the GET routes it needs no token.
  routes.add("POST", "/v1/models/{id}/infer", route(call::infer));
}

}  // namespace mesh
