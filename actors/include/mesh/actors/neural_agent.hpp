#pragma once
// The neural agent: an actor that owns one network and its trainer. It trains
// on a data set in bounded slices (a few milliseconds of epochs per message,
// then a message to itself), so a long training run never occupies a CAF worker
// thread, and it answers inference and snapshot requests between slices.
//
// Requests (every reply goes to the requester):
//   (neural_train_atom, agent_train_request)   -> agent_train_reply
//   (neural_gradient_atom, agent_gradient_request) -> agent_gradient_reply
//   (neural_infer_atom, agent_infer_request)   -> agent_infer_reply
//   (neural_snapshot_atom)                     -> neural::model
//   (neural_weights_atom, agent_weights)       -> agent_ack
// An exit message terminates the agent; a training run in progress then
// gets a broken-promise error.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/neural/codec.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"

namespace mesh::actors {

using neural_train_atom = caf::atom_constant<caf::atom("ntrain")>;
using neural_infer_atom = caf::atom_constant<caf::atom("ninfer")>;
using neural_snapshot_atom = caf::atom_constant<caf::atom("nsnapshot")>;
using neural_weights_atom = caf::atom_constant<caf::atom("nweights")>;
using neural_gradient_atom = caf::atom_constant<caf::atom("ngradient")>;

// What an agent starts with: the network (its topology and weights), the
// input scaling it applies before inference, and the training parameters.
struct agent_spec {
  neural::model model;
  neural::training_params params;
};

// Trains the agent's network for `epochs` epochs on `data`, or until the MSE
// of an epoch is at most `desired_error`. The data set is shared and never
// changed, so the sender may keep a reference. Its inputs must already be
// scaled; the agent applies its scaling only to inference inputs.
struct agent_train_request {
  std::shared_ptr<const neural::dataset> data;
  // Weights to start from, for example the average of a job's replicas;
  // empty keeps the current weights. The trainer's state is kept either way.
  std::vector<neural::scalar> start_weights;
  std::uint64_t epochs = 1;
  double desired_error = 0.0;
};

struct agent_train_reply {
  bool ok = false;
  // Why training failed or was refused, when !ok.
  std::string error;
  // Set when the agent refused the request because of a limit, for example
  // "agent_memory" or "busy"; empty for other failures.
  std::string refusal;
  std::uint64_t epochs = 0;
  neural::epoch_result last;
  bool desired_error_reached = false;
  // The weights after the last epoch, in FANN's connection order.
  std::vector<neural::scalar> weights;
};

// Computes the gradient of `data` at `weights` in one message: the replica's
// part of one epoch of synchronous data-parallel training. The weights stay
// as the agent's weights afterwards; the trainer's algorithm state is not
// used or changed.
struct agent_gradient_request {
  std::shared_ptr<const neural::dataset> data;
  // Empty keeps the current weights.
  std::vector<neural::scalar> weights;
};

struct agent_gradient_reply {
  bool ok = false;
  std::string error;
  // As agent_train_reply::refusal.
  std::string refusal;
  neural::gradient gradient;
};

// Raw inputs, one sample per column; the agent scales them.
struct agent_infer_request {
  neural::matrix inputs;
};

struct agent_infer_reply {
  bool ok = false;
  std::string error;
  // One sample per column.
  neural::matrix outputs;
};

// Replacement weights, for example the average of a job's replicas.
struct agent_weights {
  std::vector<neural::scalar> values;
};

struct agent_ack {
  bool ok = false;
  std::string error;
};

// Estimates the memory of an agent in bytes: the weights, the trainer's
// per-weight state (slopes, previous slopes and steps, two Adam moments) and
// the forward and backward buffers for `samples` training samples. An
// estimate, not a measurement: Eigen and the allocator add some overhead.
[[nodiscard]] std::size_t estimate_agent_memory(const neural::topology& layout,
                                                std::size_t samples);

// Checks the spec (topology, weights, training parameters) and its memory
// estimate without a shard against `max_memory_bytes`, then spawns the
// agent. errc::invalid_argument for an invalid spec, errc::rejected when the
// estimate is above the limit; the message names the values.
[[nodiscard]] result<caf::actor> spawn_neural_agent(caf::actor_system& system, agent_spec spec,
                                                    std::size_t max_memory_bytes);

}  // namespace mesh::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_train_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_train_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_gradient_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_gradient_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_infer_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_infer_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_ack)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::neural::model)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::agent_weights)
