#include "mesh/actors/neural_agent.hpp"

#include <caf/all.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "mesh/telemetry/logging.hpp"

namespace mesh::actors {

namespace {

using namespace std::chrono_literals;
using slice_atom = caf::atom_constant<caf::atom("nslice")>;

// Training runs epochs for at most this long per message, then yields the
// worker thread, so inference and exit messages wait at most about this long.
constexpr auto slice_budget = 20ms;

// A training run in progress.
struct training_run {
  agent_train_request request;
  caf::typed_response_promise<agent_train_reply> promise;
  std::uint64_t done = 0;
  neural::epoch_result last;
};

struct agent_state {
  std::optional<neural::network> net;
  std::optional<neural::trainer> trainer;
  std::optional<neural::input_scaling> scaling;
  std::optional<neural::training_metadata> training;
  std::size_t max_memory_bytes = 0;
  std::optional<training_run> run;

  static inline const char* name = "neural_agent";
};

using agent_actor = caf::stateful_actor<agent_state>;

agent_train_reply refused(std::string refusal, std::string message) {
  agent_train_reply reply;
  reply.refusal = std::move(refusal);
  reply.error = std::move(message);
  return reply;
}

void finish_run(agent_actor* self, bool reached) {
  auto& st = self->state;
  agent_train_reply reply;
  reply.ok = true;
  reply.epochs = st.run->done;
  reply.last = st.run->last;
  reply.desired_error_reached = reached;
  reply.weights = st.net->weights();
  st.run->promise.deliver(std::move(reply));
  st.run.reset();
}

void fail_run(agent_actor* self, const error& reason) {
  auto& st = self->state;
  agent_train_reply reply;
  reply.error = reason.message;
  reply.epochs = st.run->done;
  st.run->promise.deliver(std::move(reply));
  st.run.reset();
}

// Runs epochs until the slice budget is spent, the run is complete or the
// desired error is reached; schedules the next slice when work remains.
void run_slice(agent_actor* self) {
  auto& st = self->state;
  if (!st.run) {
    return;
  }
  const auto started = std::chrono::steady_clock::now();
  auto& run = *st.run;
  while (run.done < run.request.epochs) {
    auto epoch = st.trainer->run_epoch(*st.net, *run.request.data);
    if (!epoch) {
      fail_run(self, epoch.err());
      return;
    }
    run.last = *epoch;
    ++run.done;
    if (run.last.mse <= run.request.desired_error) {
      finish_run(self, true);
      return;
    }
    if (std::chrono::steady_clock::now() - started >= slice_budget) {
      break;
    }
  }
  if (run.done >= run.request.epochs) {
    finish_run(self, false);
    return;
  }
  self->send(self, slice_atom::value);
}

// Checks that `data` fits the network and the agent's memory limit; returns
// the refusal reason ("" for an invalid request) and message, or nothing.
std::optional<std::pair<std::string, std::string>> check_data(const agent_state& state,
                                                              const neural::dataset* data) {
  if (data == nullptr) {
    return std::pair<std::string, std::string>{"", "request without a data set"};
  }
  if (data->num_inputs() != state.net->num_inputs() ||
      data->num_outputs() != state.net->num_outputs()) {
    return std::pair<std::string, std::string>{
        "", "data set has " + std::to_string(data->num_inputs()) + " inputs and " +
                std::to_string(data->num_outputs()) + " outputs, the network expects " +
                std::to_string(state.net->num_inputs()) + " and " +
                std::to_string(state.net->num_outputs())};
  }
  const auto needed = estimate_agent_memory(state.net->layout(), data->num_samples());
  if (needed > state.max_memory_bytes) {
    return std::pair<std::string, std::string>{
        "agent_memory", "training on " + std::to_string(data->num_samples()) +
                            " samples needs an estimated " + std::to_string(needed) +
                            " bytes, above the agent memory limit of " +
                            std::to_string(state.max_memory_bytes) +
                            " bytes (neural.max_agent_memory_mb)"};
  }
  return std::nullopt;
}

agent_gradient_reply compute_gradient(agent_actor* self, const agent_gradient_request& request) {
  auto& state = self->state;
  agent_gradient_reply reply;
  if (state.run) {
    reply.refusal = "busy";
    reply.error = "the agent is training; wait for the running request";
    return reply;
  }
  if (auto invalid = check_data(state, request.data.get())) {
    reply.refusal = invalid->first;
    reply.error = invalid->second;
    return reply;
  }
  if (!request.weights.empty()) {
    if (auto set = state.net->set_weights(request.weights); !set) {
      reply.error = "weights: " + set.err().message;
      return reply;
    }
  }
  // NOTE: the whole shard is processed in this one message, not in slices,
  // so an inference request to this agent waits for one epoch of its shard.
  auto computed = state.trainer->compute_gradient(*state.net, *request.data);
  if (!computed) {
    reply.error = computed.err().message;
    return reply;
  }
  reply.ok = true;
  reply.gradient = std::move(*computed);
  return reply;
}

caf::behavior agent_behavior(agent_actor* self, agent_spec spec, std::size_t max_memory_bytes,
                             std::shared_ptr<neural::trainer> trainer) {
  auto& st = self->state;
  st.net.emplace(std::move(spec.model.net));
  st.trainer.emplace(std::move(*trainer));
  st.scaling = std::move(spec.model.scaling);
  st.training = std::move(spec.model.training);
  st.max_memory_bytes = max_memory_bytes;

  return {
      [self](neural_train_atom, agent_train_request& request) -> caf::result<agent_train_reply> {
        auto& state = self->state;
        if (state.run) {
          return refused("busy", "the agent is already training; wait for the running request");
        }
        if (auto invalid = check_data(state, request.data.get())) {
          return refused(invalid->first, invalid->second);
        }
        if (request.epochs == 0) {
          return refused("", "train request for 0 epochs; request at least 1");
        }
        if (!request.start_weights.empty()) {
          if (auto set = state.net->set_weights(request.start_weights); !set) {
            return refused("", "start weights: " + set.err().message);
          }
        }
        auto promise = self->make_response_promise<agent_train_reply>();
        state.run = training_run{std::move(request), promise, 0, {}};
        self->send(self, slice_atom::value);
        return promise;
      },
      [self](slice_atom) { run_slice(self); },
      [self](neural_gradient_atom, const agent_gradient_request& request) {
        return compute_gradient(self, request);
      },
      [self](neural_infer_atom, agent_infer_request& request) {
        auto& state = self->state;
        agent_infer_reply reply;
        if (static_cast<std::size_t>(request.inputs.rows()) != state.net->num_inputs()) {
          reply.error = "each input row must have " + std::to_string(state.net->num_inputs()) +
                        " values, got " + std::to_string(request.inputs.rows());
          return reply;
        }
        if (state.scaling) {
          if (auto scaled = state.scaling->apply(request.inputs); !scaled) {
            reply.error = scaled.err().message;
            return reply;
          }
        }
        auto outputs = state.net->run_batch(request.inputs);
        if (!outputs) {
          reply.error = outputs.err().message;
          return reply;
        }
        reply.ok = true;
        reply.outputs = std::move(*outputs);
        return reply;
      },
      [self](neural_snapshot_atom) {
        auto& state = self->state;
        return neural::model{*state.net, state.scaling, state.training};
      },
      [self](neural_weights_atom, const agent_weights& weights) {
        agent_ack ack;
        if (self->state.run) {
          ack.error = "cannot replace the weights while the agent is training";
          return ack;
        }
        if (auto set = self->state.net->set_weights(weights.values); !set) {
          ack.error = set.err().message;
          return ack;
        }
        ack.ok = true;
        return ack;
      },
  };
}

}  // namespace

std::size_t estimate_agent_memory(const neural::topology& layout, std::size_t samples) {
  const std::size_t weights = layout.num_weights();
  std::size_t neurons = 0;
  for (std::size_t l = 1; l < layout.layers.size(); ++l) {
    neurons += layout.layers[l].size;
  }
  // The network, slopes, previous slopes, previous steps and two Adam
  // moments: six values per weight.
  const std::size_t per_weight = 6 * weights;
  // Sums, values and errors of every layer after the input, per sample.
  const std::size_t per_sample = 3 * neurons * samples;
  return (per_weight + per_sample) * sizeof(neural::scalar);
}

result<caf::actor> spawn_neural_agent(caf::actor_system& system, agent_spec spec,
                                      std::size_t max_memory_bytes) {
  if (auto valid = spec.model.net.layout().validate(); !valid) {
    return fail(errc::invalid_argument, valid.err().message);
  }
  auto created = neural::trainer::create(spec.model.net, spec.params);
  if (!created) {
    return fail(errc::invalid_argument, created.err().message);
  }
  const auto needed = estimate_agent_memory(spec.model.net.layout(), 0);
  if (needed > max_memory_bytes) {
    return fail(errc::rejected, "a network of " + std::to_string(spec.model.net.num_weights()) +
                                    " weights needs an estimated " + std::to_string(needed) +
                                    " bytes, above the agent memory limit of " +
                                    std::to_string(max_memory_bytes) +
                                    " bytes (neural.max_agent_memory_mb)");
  }
  auto trainer = std::make_shared<neural::trainer>(std::move(*created));
  return system.spawn(agent_behavior, std::move(spec), max_memory_bytes, std::move(trainer));
}

}  // namespace mesh::actors
