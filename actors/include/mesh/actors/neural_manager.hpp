#pragma once
// The neural manager: one actor per node that owns the node's neural agents,
// coordinates the training jobs submitted to this node, runs the training
// replicas other coordinators place here, keeps an index of the models that
// are final in the DAG and serves inference from a cache of loaded models.
// docs/neural.md describes the job protocol; docs/api.md the HTTP API.
//
// Messages:
//   (start_neural)          once the transport runs; everything else waits
//   (inbound_neural)        a validated MESSAGE_KIND_NEURAL body from the wire
//   (neural_api_request)    one HTTP request; the manager calls its responder
//   (dag_vertex_decided)    from the DAG actor, after the manager subscribed

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>

#include <string>

#include "mesh/config/node_config.hpp"
#include "mesh/error.hpp"
#include "mesh/http/server.hpp"
#include "mesh/v1/neural.pb.h"

namespace mesh::telemetry {
class actor_metrics;
}
namespace mesh::wire {
class transport;
}

namespace mesh::actors {

class status_board;
struct neural_metrics;

// Content type of a DAG vertex whose payload is a serialized
// mesh.v1.NeuralModel.
inline constexpr std::string_view neural_model_content_type =
    "application/vnd.mesh.neural-model+protobuf";

struct neural_manager_config {
  config::neural_config limits;
  // This node's role; bootstrap nodes get no training replicas.
  std::string role;
  // The DAG actor; null when the node runs without one, and then jobs fail
  // at publication and only cached models can be served.
  caf::actor dag;
  // Not owned; each must outlive the actor. Any may be null in tests.
  status_board* board = nullptr;
  neural_metrics* metrics = nullptr;
  telemetry::actor_metrics* actor_metrics = nullptr;
};

// Starts the manager once the transport is bound. The node keeps ownership
// of the transport and stops the manager before it.
struct start_neural {
  wire::transport* transport = nullptr;
  std::string node_id;
  std::string node_name;
  // host:port of this node's P2P socket.
  std::string address;
};

// A neural message that the wire thread decoded and validated.
struct inbound_neural {
  std::string from_id;
  std::string from_address;
  mesh::v1::NeuralMessage message;
};

// The API operations; each maps to one route in docs/api.md.
enum class neural_call {
  spawn_agent,   // POST /v1/agents
  list_agents,   // GET /v1/agents
  kill_agent,    // DELETE /v1/agents/{id}
  submit_job,    // POST /v1/jobs
  list_jobs,     // GET /v1/jobs
  get_job,       // GET /v1/jobs/{id}
  cancel_job,    // DELETE /v1/jobs/{id}
  list_models,   // GET /v1/models
  get_model,     // GET /v1/models/{id}
  infer,         // POST /v1/models/{id}/infer
};

// One HTTP request for the manager. It calls `respond` exactly once.
struct neural_api_request {
  neural_call call = neural_call::list_agents;
  http::request request;
  http::responder respond;
};

// Checks a NeuralMessage from a peer: known kind, ids and sizes in range,
// shard and weight counts consistent. The error names the field.
[[nodiscard]] result<void> validate_neural_message(const mesh::v1::NeuralMessage& message);

[[nodiscard]] caf::actor spawn_neural_manager(caf::actor_system& system,
                                              neural_manager_config config);

}  // namespace mesh::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::start_neural)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::inbound_neural)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::neural_api_request)
