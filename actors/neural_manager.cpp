#include "mesh/actors/neural_manager.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "mesh/telemetry/metrics.hpp"
#include "mesh/wire/transport.hpp"
#include "mesh/http/proto_json.hpp"
#include "neural_manager_state.hpp"

namespace mesh::actors {

namespace detail {

using namespace std::chrono_literals;

namespace {

constexpr auto job_tick_period = 500ms;
// Pages of final vertices read at start to find models decided earlier.
constexpr std::size_t max_index_pages = 1000;

unsigned status_for(errc code) {
  switch (code) {
    case errc::invalid_argument:
    case errc::decode_error:
      return 400;
    case errc::not_found:
      return 404;
    case errc::rejected:
    case errc::too_large:
      return 429;
    case errc::timed_out:
      return 504;
    case errc::closed:
      return 503;
    default:
      return 500;
  }
}

}  // namespace

std::string to_json(const google::protobuf::Message& message) { return http::to_json(message); }

result<void> parse_json(const std::string& body, google::protobuf::Message& message) {
  return http::from_json(body, message);
}

http::response json_response(const google::protobuf::Message& message, unsigned status) {
  return http::response{status, "application/json", to_json(message)};
}

http::response error_reply(const error& reason) {
  return http::error_response(status_for(reason.code), to_string(reason.code), reason.message);
}

std::string random_id(manager_state& state, std::string_view prefix) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string id(prefix);
  auto value = state.rng();
  for (int i = 0; i < 16; ++i) {
    id.push_back(digits[value & 0xfU]);
    value >>= 4U;
  }
  return id;
}

agent_entry new_agent(manager_state& state, caf::actor actor, std::string kind, neural::topology layout,
                      std::size_t memory_bytes) {
  agent_entry agent;
  agent.id = random_id(state, "agent-");
  agent.actor = std::move(actor);
  agent.kind = std::move(kind);
  agent.layout = std::move(layout);
  agent.memory_bytes = memory_bytes;
  return agent;
}

std::size_t counted_agents(const manager_state& state) {
  return static_cast<std::size_t>(std::count_if(
      state.agents.begin(), state.agents.end(),
      [](const auto& entry) { return entry.second.kind != "model"; }));
}

void count_refusal(manager_state& state, const std::string& reason) {
  if (state.config.metrics != nullptr) {
    state.config.metrics->refusals.Add({{"reason", reason}}).Increment();
  }
}

void update_agent_metrics(manager_state& state) {
  if (state.config.metrics == nullptr) {
    return;
  }
  std::map<std::string, double> by_kind{{"api", 0}, {"replica", 0}, {"model", 0}};
  for (const auto& [id, agent] : state.agents) {
    by_kind[agent.kind] += 1;
  }
  for (const auto& [kind, count] : by_kind) {
    state.config.metrics->agents_active.Add({{"kind", kind}}).Set(count);
  }
}

void remove_agent(manager_actor* self, const std::string& id) {
  auto& st = self->state;
  auto found = st.agents.find(id);
  if (found == st.agents.end()) {
    return;
  }
  self->send_exit(found->second.actor, caf::exit_reason::user_shutdown);
  st.log->debug("agent stopped id={} kind={}", id, found->second.kind);
  if (found->second.kind == "model") {
    st.loaded.erase(found->second.model_id);
  }
  st.agents.erase(found);
  update_agent_metrics(st);
}

void deliver(manager_actor* self, const std::string& node_id, const std::string& address,
             const mesh::v1::NeuralMessage& message) {
  auto& st = self->state;
  if (node_id == st.node_id) {
    self->send(self, inbound_neural{st.node_id, st.address, message});
    return;
  }
  if (st.transport == nullptr) {
    return;
  }
  auto sent = st.transport->send(address, mesh::v1::MESSAGE_KIND_NEURAL, message.SerializeAsString());
  std::uint64_t suppressed = 0;
  if (!sent && st.send_errors.allow(suppressed)) {
    st.log->warn("send failed node={} address={} error={} suppressed={}", node_id, address,
                 sent.err().message, suppressed);
  }
}

std::vector<std::uint32_t> layer_sizes(const neural::topology& layout) {
  std::vector<std::uint32_t> sizes;
  for (const auto& layer : layout.layers) {
    sizes.push_back(static_cast<std::uint32_t>(layer.size));
  }
  return sizes;
}

std::size_t memory_limit(const manager_state& state) {
  return static_cast<std::size_t>(state.config.limits.max_agent_memory_mb) * 1024 * 1024;
}

namespace {

mesh::v1::AgentInfo describe(const agent_entry& agent) {
  mesh::v1::AgentInfo info;
  info.set_id(agent.id);
  info.set_kind(agent.kind);
  for (auto size : layer_sizes(agent.layout)) {
    info.add_layers(size);
  }
  info.set_num_weights(agent.layout.num_weights());
  info.set_memory_bytes(agent.memory_bytes);
  info.set_job_id(agent.job_id);
  info.set_model_id(agent.model_id);
  return info;
}

// ----- agents -----

result<neural::activation_function> activation_or(const std::string& field,
                                                  const std::string& name,
                                                  neural::activation_function fallback) {
  if (name.empty()) {
    return fallback;
  }
  auto parsed = neural::parse_activation_function(name);
  if (!parsed) {
    return fail(errc::invalid_argument, field + ": " + parsed.err().message);
  }
  return *parsed;
}

result<neural::training_algorithm> algorithm_or(const std::string& name) {
  if (name.empty()) {
    return neural::training_algorithm::rprop;
  }
  auto parsed = neural::parse_training_algorithm(name);
  if (!parsed) {
    return fail(errc::invalid_argument, "algorithm: " + parsed.err().message);
  }
  return *parsed;
}

void add_agent(manager_actor* self, neural_api_request& request, agent_spec spec,
               std::string model_id) {
  auto& st = self->state;
  const auto layout = spec.model.net.layout();
  auto spawned = spawn_neural_agent(self->system(), std::move(spec), memory_limit(st));
  if (!spawned) {
    if (spawned.err().code == errc::rejected) {
      count_refusal(st, "agent_memory");
    }
    request.respond(error_reply(spawned.err()));
    return;
  }
  auto agent = new_agent(st, *spawned, "api", layout, estimate_agent_memory(layout, 0));
  agent.model_id = std::move(model_id);
  st.log->info("agent spawned id={} weights={} model={}", agent.id, layout.num_weights(),
               agent.model_id);
  auto info = describe(agent);
  st.agents.emplace(agent.id, std::move(agent));
  update_agent_metrics(st);
  request.respond(json_response(info, 201));
}

void spawn_agent(manager_actor* self, neural_api_request& request) {
  auto& st = self->state;
  mesh::v1::AgentSpawnRequest body;
  if (auto parsed = parse_json(request.request.body, body); !parsed) {
    request.respond(error_reply(parsed.err()));
    return;
  }
  if (counted_agents(st) >= st.config.limits.max_agents) {
    count_refusal(st, "max_agents");
    request.respond(error_reply(fail(
        errc::rejected, "this node already runs " + std::to_string(counted_agents(st)) +
                            " agents, the limit is neural.max_agents = " +
                            std::to_string(st.config.limits.max_agents))));
    return;
  }
  auto algorithm = algorithm_or(body.algorithm());
  if (!algorithm) {
    request.respond(error_reply(algorithm.err()));
    return;
  }
  neural::training_params params;
  params.algorithm = *algorithm;

  if (!body.model_id().empty()) {
    if (body.layers_size() > 0) {
      request.respond(error_reply(
          fail(errc::invalid_argument, "layers: give either layers or model_id, not both")));
      return;
    }
    auto pending = std::make_shared<neural_api_request>(std::move(request));
    const auto model_id = body.model_id();
    load_model_payload(self, model_id,
                       [self, pending, params, model_id](result<neural::model> loaded,
                                                         std::vector<std::string>) {
                         if (!loaded) {
                           pending->respond(error_reply(loaded.err()));
                           return;
                         }
                         add_agent(self, *pending, agent_spec{std::move(*loaded), params}, model_id);
                       });
    return;
  }

  if (body.layers_size() < 2) {
    request.respond(error_reply(fail(
        errc::invalid_argument,
        "layers: give at least two layer sizes (input and output), for example [2, 3, 1]")));
    return;
  }
  auto hidden = activation_or("activation_hidden", body.activation_hidden(),
                              neural::activation_function::sigmoid_symmetric);
  auto output = activation_or("activation_output", body.activation_output(),
                              neural::activation_function::sigmoid_symmetric);
  if (!hidden || !output) {
    request.respond(error_reply(!hidden ? hidden.err() : output.err()));
    return;
  }
  std::vector<std::size_t> sizes(body.layers().begin(), body.layers().end());
  const auto layout = neural::topology::standard(sizes, *hidden, *output);
  if (auto valid = layout.validate(); !valid) {
    request.respond(error_reply(fail(errc::invalid_argument, "layers: " + valid.err().message)));
    return;
  }
  auto net = neural::network::create(layout);
  if (!net) {
    request.respond(error_reply(fail(errc::invalid_argument, "layers: " + net.err().message)));
    return;
  }
  std::mt19937_64 rng(body.has_seed() ? body.seed() : st.rng());
  net->randomize_weights(rng);
  add_agent(self, request, agent_spec{neural::model{std::move(*net), std::nullopt, std::nullopt}, params},
            "");
}

void list_agents(manager_actor* self, neural_api_request& request) {
  mesh::v1::AgentList list;
  for (const auto& [id, agent] : self->state.agents) {
    *list.add_agents() = describe(agent);
  }
  request.respond(json_response(list));
}

void kill_agent(manager_actor* self, neural_api_request& request) {
  auto& st = self->state;
  const auto id = request.request.params["id"];
  auto found = st.agents.find(id);
  if (found == st.agents.end()) {
    request.respond(error_reply(fail(errc::not_found, "no agent with id '" + id + "' on this node")));
    return;
  }
  if (found->second.kind == "replica") {
    request.respond(error_reply(fail(
        errc::invalid_argument, "agent '" + id + "' is a replica of job '" + found->second.job_id +
                                    "'; cancel the job on its coordinator instead")));
    return;
  }
  auto info = describe(found->second);
  remove_agent(self, id);
  st.log->info("agent terminated id={}", id);
  request.respond(json_response(info));
}

// ----- wiring -----

void dispatch(manager_actor* self, neural_api_request& request) {
  switch (request.call) {
    case neural_call::spawn_agent:
      spawn_agent(self, request);
      return;
    case neural_call::list_agents:
      list_agents(self, request);
      return;
    case neural_call::kill_agent:
      kill_agent(self, request);
      return;
    case neural_call::submit_job:
      submit_job(self, request);
      return;
    case neural_call::list_jobs:
      list_jobs(self, request);
      return;
    case neural_call::get_job:
      get_job(self, request);
      return;
    case neural_call::cancel_job:
      cancel_job(self, request);
      return;
    case neural_call::list_models:
      list_models(self, request);
      return;
    case neural_call::get_model:
      get_model(self, request);
      return;
    case neural_call::infer:
      infer(self, request);
      return;
  }
}

// Reads the final vertices page by page and indexes the models among them,
// so a restarted node lists the models decided before it subscribed.
void index_existing_models(manager_actor* self, std::uint64_t after, std::size_t pages) {
  auto& st = self->state;
  if (pages >= max_index_pages) {
    st.log->warn("model index stopped after {} pages of final vertices", pages);
    return;
  }
  dag_page_query query;
  query.state = dag::vertex_state::final;
  query.after = after;
  query.limit = 100;
  self->request(st.config.dag, dag_request_timeout, list_atom::value, query)
      .then(
          [self, pages](const dag_page& page) {
            for (const auto& view : page.vertices) {
              index_model(self->state, view.id_hex, view.vertex);
            }
            if (page.next != 0) {
              index_existing_models(self, page.next, pages + 1);
            }
          },
          [self](const caf::error& err) {
            self->state.log->warn("reading the models already in the DAG failed error={}",
                                  self->system().render(err));
          });
}

caf::behavior running_behavior(manager_actor* self) {
  auto timed = [self](auto&& step) {
    const auto started = clock::now();
    step();
    if (self->state.config.actor_metrics != nullptr) {
      self->state.config.actor_metrics->record_message("neural_manager", clock::now() - started);
    }
  };
  return {
      [self, timed](neural_api_request& request) { timed([&] { dispatch(self, request); }); },
      [self, timed](inbound_neural& inbound) {
        timed([&] { handle_neural_message(self, inbound); });
      },
      [self, timed](job_load_atom, const std::string& job_id) {
        timed([&] { start_job(self, job_id); });
      },
      [self, timed](job_tick_atom) {
        timed([&] { check_jobs(self); });
        self->delayed_send(self, job_tick_period, job_tick_atom::value);
      },
      [self, timed](const dag_vertex_decided& decided) {
        timed([&] {
          if (decided.state == dag::vertex_state::final) {
            index_model(self->state, decided.id_hex, decided.vertex);
          }
        });
      },
  };
}

caf::behavior manager_behavior(manager_actor* self, neural_manager_config config) {
  self->state.config = std::move(config);
  // Requests that arrive before the start message wait in the mailbox.
  self->set_default_handler(caf::skip);
  return {
      [self](start_neural& start) {
        auto& st = self->state;
        st.transport = start.transport;
        st.node_id = start.node_id;
        st.node_name = start.node_name;
        st.address = start.address;
        st.started = true;
        st.log->info("neural manager started id={} address={} max_agents={} dag={}", st.node_id,
                     st.address, st.config.limits.max_agents, st.config.dag ? "yes" : "no");
        self->set_default_handler(caf::print_and_drop);
        self->become(running_behavior(self));
        if (st.config.dag) {
          self->send(st.config.dag, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
          index_existing_models(self, 0, 0);
        }
        update_agent_metrics(st);
        update_job_metrics(st);
        self->delayed_send(self, job_tick_period, job_tick_atom::value);
      },
  };
}

}  // namespace

}  // namespace detail

caf::actor spawn_neural_manager(caf::actor_system& system, neural_manager_config config) {
  return system.spawn(detail::manager_behavior, std::move(config));
}

}  // namespace mesh::actors
