// Models and inference in the neural manager: models are read from final
// DAG vertices, listed and described over the API, cached as decoded
// networks, and run for inference requests in the requesting agent's place.
#include <cmath>

#include "mesh/telemetry/metrics.hpp"
#include "neural_manager_state.hpp"

namespace mesh::actors::detail {

using namespace std::chrono_literals;

namespace {

// Bounds of one inference request.
constexpr std::size_t max_infer_rows = 10000;

// Fills a ModelInfo from a decoded NeuralModel message.
mesh::v1::ModelInfo summarize(const std::string& id, const mesh::v1::NeuralModel& message,
                              const neural::model& decoded, const std::string& author) {
  mesh::v1::ModelInfo info;
  info.set_id(id);
  const auto& layout = decoded.net.layout();
  for (auto size : layer_sizes(layout)) {
    info.add_layers(size);
  }
  if (layout.layers.size() > 2) {
    info.set_activation_hidden(std::string(neural::to_string(layout.layers[1].activation)));
  }
  info.set_activation_output(std::string(neural::to_string(layout.layers.back().activation)));
  info.set_num_weights(decoded.net.num_weights());
  for (const auto& name : message.class_names()) {
    info.add_class_names(name);
  }
  if (decoded.training) {
    info.set_algorithm(std::string(neural::to_string(decoded.training->algorithm)));
    info.set_epochs(decoded.training->epochs);
    info.set_final_mse(decoded.training->final_mse);
    info.set_dataset_name(decoded.training->dataset_name);
    info.set_dataset_sha256(decoded.training->dataset_sha256);
  }
  info.set_author_id(author);
  return info;
}

struct decoded_model {
  neural::model model;
  std::vector<std::string> class_names;
  mesh::v1::ModelInfo info;
};

result<decoded_model> decode_vertex(const std::string& id, const dag::vertex& vertex) {
  if (vertex.content_type != neural_model_content_type) {
    return fail(errc::not_found, "vertex '" + id + "' is not a model: its content type is '" +
                                     vertex.content_type + "'");
  }
  mesh::v1::NeuralModel message;
  if (!message.ParseFromString(vertex.payload)) {
    return fail(errc::decode_error, "model '" + id + "' is not a valid NeuralModel");
  }
  auto decoded = neural::from_proto(message);
  if (!decoded) {
    return fail(errc::decode_error, "model '" + id + "': " + decoded.err().message);
  }
  if (!message.class_names().empty() &&
      static_cast<std::size_t>(message.class_names_size()) != decoded->net.num_outputs()) {
    return fail(errc::decode_error, "model '" + id + "' names " +
                                        std::to_string(message.class_names_size()) +
                                        " classes for " +
                                        std::to_string(decoded->net.num_outputs()) + " outputs");
  }
  auto info = summarize(id, message, *decoded, vertex.author_id);
  std::vector<std::string> class_names(message.class_names().begin(), message.class_names().end());
  return decoded_model{std::move(*decoded), std::move(class_names), std::move(info)};
}

struct infer_call {
  neural_api_request request;
  std::string model_id;
  neural::matrix inputs;
  clock::time_point started = clock::now();
};

void finish_inference(manager_state& state, infer_call& call, const std::string& outcome,
                      http::response response) {
  if (state.config.metrics != nullptr) {
    state.config.metrics->inference_requests.Add({{"outcome", outcome}}).Increment();
    if (outcome == "ok") {
      const std::chrono::duration<double> elapsed = clock::now() - call.started;
      state.config.metrics->inference_seconds
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                           0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5, 1, 2.5, 5})
          .Observe(elapsed.count());
    }
  }
  call.request.respond(std::move(response));
}

void evict_models(manager_actor* self) {
  auto& st = self->state;
  const std::size_t limit = static_cast<std::size_t>(st.config.limits.model_cache_mb) * 1024 * 1024;
  std::size_t total = 0;
  for (const auto& [id, model] : st.loaded) {
    total += model.bytes;
  }
  while (total > limit && !st.loaded.empty()) {
    auto oldest = std::min_element(st.loaded.begin(), st.loaded.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    total -= oldest->second.bytes;
    st.log->info("model unloaded from the inference cache id={} bytes={}", oldest->first,
                 oldest->second.bytes);
    const auto agent_id = oldest->second.agent_id;
    st.loaded.erase(oldest);
    remove_agent(self, agent_id);
  }
}

void run_inference(manager_actor* self, std::shared_ptr<infer_call> call) {
  auto& st = self->state;
  auto found = st.loaded.find(call->model_id);
  if (found == st.loaded.end()) {
    finish_inference(st, *call, "error",
                     error_reply(fail(errc::not_found, "model '" + call->model_id +
                                                           "' was unloaded; retry the request")));
    return;
  }
  found->second.last_used = ++st.use_counter;
  const bool classifier = found->second.classifier;
  const auto agent = st.agents.at(found->second.agent_id).actor;
  self->request(agent, st.config.limits.inference_timeout, neural_infer_atom::value,
                agent_infer_request{std::move(call->inputs)})
      .then(
          [self, call, classifier](const agent_infer_reply& reply) {
            auto& state = self->state;
            if (!reply.ok) {
              finish_inference(state, *call, "invalid",
                               error_reply(fail(errc::invalid_argument, "inputs: " + reply.error)));
              return;
            }
            mesh::v1::InferReply out;
            out.set_model_id(call->model_id);
            for (Eigen::Index col = 0; col < reply.outputs.cols(); ++col) {
              auto* row = out.add_outputs();
              Eigen::Index best = 0;
              for (Eigen::Index r = 0; r < reply.outputs.rows(); ++r) {
                row->add_values()->set_number_value(reply.outputs(r, col));
                if (reply.outputs(r, col) > reply.outputs(best, col)) {
                  best = r;
                }
              }
              if (classifier) {
                out.add_classes(static_cast<std::uint32_t>(best));
              }
            }
            finish_inference(state, *call, "ok", json_response(out));
          },
          [self, call](const caf::error& err) {
            auto& state = self->state;
            count_refusal(state, "inference_timeout");
            finish_inference(state, *call, "timed_out",
                             error_reply(fail(errc::timed_out,
                                              "inference on model '" + call->model_id +
                                                  "' did not finish within neural.inference_timeout_ms = " +
                                                  std::to_string(state.config.limits.inference_timeout.count()) +
                                                  " ms: " + self->system().render(err))));
          });
}

result<neural::matrix> parse_inputs(const mesh::v1::InferRequest& body) {
  if (body.inputs_size() == 0) {
    return fail(errc::invalid_argument, "inputs: give at least one input row");
  }
  if (static_cast<std::size_t>(body.inputs_size()) > max_infer_rows) {
    return fail(errc::invalid_argument, "inputs: " + std::to_string(body.inputs_size()) +
                                            " rows, at most " + std::to_string(max_infer_rows) +
                                            " per request");
  }
  const int width = body.inputs(0).values_size();
  if (width == 0) {
    return fail(errc::invalid_argument, "inputs[0]: empty row");
  }
  neural::matrix inputs(width, body.inputs_size());
  for (int row = 0; row < body.inputs_size(); ++row) {
    const auto& values = body.inputs(row);
    if (values.values_size() != width) {
      return fail(errc::invalid_argument, "inputs[" + std::to_string(row) + "]: " +
                                              std::to_string(values.values_size()) +
                                              " values, the first row has " + std::to_string(width));
    }
    for (int i = 0; i < width; ++i) {
      const auto& value = values.values(i);
      if (!value.has_number_value() || !std::isfinite(value.number_value())) {
        return fail(errc::invalid_argument, "inputs[" + std::to_string(row) + "][" +
                                                std::to_string(i) + "]: expected a finite number");
      }
      inputs(i, row) = static_cast<neural::scalar>(value.number_value());
    }
  }
  return inputs;
}

}  // namespace

// Loads the final model `model_id` from the DAG and passes it to `done`.
void load_model_payload(manager_actor* self, const std::string& model_id,
                        std::function<void(result<neural::model>, std::vector<std::string>)> done) {
  auto& st = self->state;
  if (!st.config.dag) {
    done(fail(errc::closed, "this node runs without a DAG, so it cannot load model '" + model_id + "'"),
         {});
    return;
  }
  self->request(st.config.dag, dag_request_timeout, vertex_atom::value, model_id)
      .then(
          [self, model_id, done](const dag_vertex_view& view) {
            if (!view.found) {
              done(fail(errc::not_found, "no model with id '" + model_id + "' in the DAG"), {});
              return;
            }
            if (view.state != dag::vertex_state::final) {
              done(fail(errc::not_found, "model '" + model_id +
                                             "' is not final yet; retry once the DAG decided it"),
                   {});
              return;
            }
            auto decoded = decode_vertex(model_id, view.vertex);
            if (!decoded) {
              done(decoded.err(), {});
              return;
            }
            self->state.models[model_id] = model_entry{decoded->info};
            done(std::move(decoded->model), std::move(decoded->class_names));
          },
          [self, model_id, done](const caf::error& err) {
            done(fail(errc::timed_out, "DAG lookup of model '" + model_id +
                                           "' failed: " + self->system().render(err)),
                 {});
          });
}

void list_models(manager_actor* self, neural_api_request& request) {
  auto& st = self->state;
  mesh::v1::ModelList list;
  for (const auto& [id, entry] : st.models) {
    auto* info = list.add_models();
    *info = entry.info;
    info->set_loaded(st.loaded.contains(id));
  }
  request.respond(json_response(list));
}

void get_model(manager_actor* self, neural_api_request& request) {
  auto& st = self->state;
  const auto id = request.request.params["id"];
  if (auto found = st.models.find(id); found != st.models.end()) {
    auto info = found->second.info;
    info.set_loaded(st.loaded.contains(id));
    request.respond(json_response(info));
    return;
  }
  auto pending = std::make_shared<neural_api_request>(std::move(request));
  load_model_payload(self, id, [self, pending, id](result<neural::model> loaded, std::vector<std::string>) {
    if (!loaded) {
      pending->respond(error_reply(loaded.err()));
      return;
    }
    auto info = self->state.models[id].info;
    info.set_loaded(self->state.loaded.contains(id));
    pending->respond(json_response(info));
  });
}

void infer(manager_actor* self, neural_api_request& request) {
  auto& st = self->state;
  auto call = std::make_shared<infer_call>();
  call->model_id = request.request.params["id"];
  call->request = std::move(request);

  mesh::v1::InferRequest body;
  if (auto parsed = parse_json(call->request.request.body, body); !parsed) {
    finish_inference(st, *call, "invalid", error_reply(parsed.err()));
    return;
  }
  auto inputs = parse_inputs(body);
  if (!inputs) {
    finish_inference(st, *call, "invalid", error_reply(inputs.err()));
    return;
  }
  call->inputs = std::move(*inputs);

  if (st.loaded.contains(call->model_id)) {
    run_inference(self, call);
    return;
  }
  load_model_payload(self, call->model_id,
                     [self, call](result<neural::model> loaded, std::vector<std::string> classes) {
                       auto& state = self->state;
                       if (state.loaded.contains(call->model_id)) {
                         run_inference(self, call);
                         return;
                       }
                       if (!loaded) {
                         const auto outcome = loaded.err().code == errc::not_found ? "not_found" : "error";
                         finish_inference(state, *call, outcome, error_reply(loaded.err()));
                         return;
                       }
                       const auto layout = loaded->net.layout();
                       const auto bytes = estimate_agent_memory(layout, 0);
                       auto spawned = spawn_neural_agent(self->system(),
                                                         agent_spec{std::move(*loaded), {}},
                                                         std::max(bytes, memory_limit(state)));
                       if (!spawned) {
                         finish_inference(state, *call, "error", error_reply(spawned.err()));
                         return;
                       }
                       auto agent = new_agent(state, *spawned, "model", layout, bytes);
                       agent.model_id = call->model_id;
                       state.loaded[call->model_id] =
                           loaded_model{agent.id, bytes, !classes.empty(), ++state.use_counter};
                       state.log->info("model loaded for inference id={} agent={} bytes={}",
                                       call->model_id, agent.id, bytes);
                       state.agents.emplace(agent.id, std::move(agent));
                       update_agent_metrics(state);
                       evict_models(self);
                       if (!state.loaded.contains(call->model_id)) {
                         finish_inference(state, *call, "error",
                                          error_reply(fail(errc::rejected,
                                                           "model '" + call->model_id + "' needs " +
                                                               std::to_string(bytes) +
                                                               " bytes, more than neural.model_cache_mb allows")));
                         return;
                       }
                       run_inference(self, call);
                     });
}

void index_model(manager_state& state, const std::string& id, const dag::vertex& vertex) {
  if (vertex.content_type != neural_model_content_type || state.models.contains(id)) {
    return;
  }
  auto decoded = decode_vertex(id, vertex);
  if (!decoded) {
    state.log->warn("final model vertex is invalid id={} error={}", id, decoded.err().message);
    return;
  }
  state.models[id] = model_entry{decoded->info};
  state.log->info("model indexed id={} author={} weights={}", id, vertex.author_id,
                  decoded->info.num_weights());
}

}  // namespace mesh::actors::detail
