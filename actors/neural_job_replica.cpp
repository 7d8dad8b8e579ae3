// Training jobs, the replica side. A replica computes the gradient of its
// shard, or trains on it, in a local agent and reports the result to the
// coordinator each round. docs/neural.md describes the exchange.

#include "neural_manager_state.hpp"

namespace mesh::actors::detail {

namespace {

// Returns a report message that names the replica and `round`.
mesh::v1::NeuralMessage report_for(const replica_task& task, std::uint64_t round) {
  mesh::v1::NeuralMessage message;
  auto* report = message.mutable_report();
  report->set_job_id(task.job_id);
  report->set_replica(task.replica);
  report->set_attempt(task.attempt);
  report->set_round(round);
  return message;
}

void send_report(manager_actor* self, const replica_task& task, std::uint64_t round,
                 const agent_train_reply* reply, const std::string& error) {
  auto message = report_for(task, round);
  auto* report = message.mutable_report();
  if (reply != nullptr) {
    report->set_mse(reply->last.mse);
    report->set_bit_fail(reply->last.bit_fail);
    report->mutable_weights()->Add(reply->weights.begin(), reply->weights.end());
  }
  report->set_samples(task.shard ? task.shard->num_samples() : 0);
  report->set_error(error);
  deliver(self, task.coordinator_id, task.coordinator_address, message);
}

void send_gradient_report(manager_actor* self, const replica_task& task, std::uint64_t round,
                          const neural::gradient& gradient, std::size_t num_outputs) {
  auto message = report_for(task, round);
  auto* report = message.mutable_report();
  const auto errors = gradient.errors(num_outputs);
  report->set_mse(errors.mse);
  report->set_bit_fail(errors.bit_fail);
  report->set_samples(gradient.samples);
  report->set_squared_error(gradient.squared_error);
  report->mutable_slopes()->Add(gradient.slopes.begin(), gradient.slopes.end());
  deliver(self, task.coordinator_id, task.coordinator_address, message);
}

// Returns the replica a reply is for, or nullptr when the replica stopped or
// restarted (another attempt) since the request went out.
replica_task* current_replica(manager_actor* self, const std::string& key, std::uint32_t attempt) {
  auto found = self->state.replicas.find(key);
  if (found == self->state.replicas.end() || found->second.attempt != attempt) {
    return nullptr;
  }
  return &found->second;
}

// Reports a round the agent could not run and stops the replica. `what`
// names the round kind in the log line.
void fail_round(manager_actor* self, const std::string& key, std::uint64_t round, const char* what,
                const std::string& refusal, const std::string& error) {
  auto& state = self->state;
  auto& task = state.replicas.at(key);
  if (!refusal.empty()) {
    count_refusal(state, refusal);
  }
  state.log->warn("replica {} failed job={} replica={} error={}", what, task.job_id, task.replica, error);
  send_report(self, task, round, nullptr, error);
  stop_replica(self, key);
}

// Returns the error handler for a request to the replica's agent. A CAF
// error, such as an exited agent actor, fails the round and stops the replica.
auto agent_failure_handler(manager_actor* self, const std::string& key, std::uint32_t attempt,
                           std::uint64_t round) {
  return [self, key, attempt, round](const caf::error& err) {
    auto* task = current_replica(self, key, attempt);
    if (task == nullptr) {
      return;
    }
    send_report(self, *task, round, nullptr, "replica agent failed: " + self->system().render(err));
    stop_replica(self, key);
  };
}

// Returns the replica task that `message` (an assign or a round) names, with
// its sender as the coordinator. Shard, agent and mode stay empty.
template <class Message>
replica_task task_named_by(const Message& message, const inbound_neural& inbound) {
  replica_task task;
  task.job_id = message.job_id();
  task.replica = message.replica();
  task.attempt = message.attempt();
  task.coordinator_id = inbound.from_id;
  task.coordinator_address = inbound.from_address;
  return task;
}

// Sends `request` to the replica's agent for `round`. A reply to a replica
// that stopped or restarted meanwhile is dropped, a refusal fails the round,
// and report(replica, reply) sends the result to the coordinator. `what`
// names the round kind in log lines.
template <class Atom, class Reply, class Request, class Report>
void ask_agent(manager_actor* self, const std::string& key, std::uint64_t round, const char* what,
               Request request, Report report) {
  auto& st = self->state;
  const auto& task = st.replicas.at(key);
  const auto agent = st.agents.at(task.agent_id).actor;
  const auto attempt = task.attempt;
  self->request(agent, caf::infinite, Atom::value, std::move(request))
      .then(
          [self, key, attempt, round, what, report](const Reply& reply) {
            auto* current = current_replica(self, key, attempt);
            if (current == nullptr) {
              return;
            }
            if (!reply.ok) {
              fail_round(self, key, round, what, reply.refusal, reply.error);
              return;
            }
            report(*current, reply);
          },
          agent_failure_handler(self, key, attempt, round));
}

void train_round(manager_actor* self, const std::string& key, std::uint64_t round,
                 std::uint32_t epochs, std::vector<neural::scalar> weights) {
  const auto& task = self->state.replicas.at(key);
  ask_agent<neural_train_atom, agent_train_reply>(
      self, key, round, "training", agent_train_request{task.shard, std::move(weights), epochs, 0.0},
      [self, round](const replica_task& replica, const agent_train_reply& reply) {
        send_report(self, replica, round, &reply, "");
      });
}

// Computes the gradient of the replica's shard at `weights` (empty: the
// weights of the assign) and reports it for `round`.
void gradient_round(manager_actor* self, const std::string& key, std::uint64_t round,
                    std::vector<neural::scalar> weights) {
  const auto& task = self->state.replicas.at(key);
  ask_agent<neural_gradient_atom, agent_gradient_reply>(
      self, key, round, "gradient", agent_gradient_request{task.shard, std::move(weights)},
      [self, round](const replica_task& replica, const agent_gradient_reply& reply) {
        send_gradient_report(self, replica, round, reply.gradient, replica.shard->num_outputs());
      });
}

}  // namespace

std::string replica_key(const std::string& job_id, std::uint32_t replica) {
  return job_id + "/" + std::to_string(replica);
}

void stop_replica(manager_actor* self, const std::string& key) {
  auto& st = self->state;
  auto found = st.replicas.find(key);
  if (found == st.replicas.end()) {
    return;
  }
  remove_agent(self, found->second.agent_id);
  st.replicas.erase(found);
}

void on_assign(manager_actor* self, const inbound_neural& inbound) {
  auto& st = self->state;
  const auto& assign = inbound.message.assign();
  const auto key = replica_key(assign.job_id(), assign.replica());
  auto task = task_named_by(assign, inbound);
  task.sum_gradients = assign.mode() == mesh::v1::NEURAL_REPLICA_MODE_SUM_GRADIENTS;

  if (auto existing = st.replicas.find(key); existing != st.replicas.end()) {
    if (existing->second.attempt > assign.attempt()) {
      return;
    }
    stop_replica(self, key);
  }
  auto reject_assign = [&](const std::string& reason, const std::string& message) {
    if (!reason.empty()) {
      count_refusal(st, reason);
    }
    st.log->warn("replica refused job={} replica={} error={}", task.job_id, task.replica, message);
    send_report(self, task, assign.round(), nullptr, message);
  };

  if (counted_agents(st) >= st.config.limits.max_agents) {
    reject_assign("max_agents", "node " + st.node_name + " already runs " + std::to_string(counted_agents(st)) +
                             " agents, the limit is neural.max_agents = " +
                             std::to_string(st.config.limits.max_agents));
    return;
  }
  auto model = neural::from_proto(assign.model());
  if (!model) {
    reject_assign("", "assign.model: " + model.err().message);
    return;
  }
  auto params = from_proto(assign.params());
  if (!params) {
    reject_assign("", params.err().message);
    return;
  }
  const auto& shard = assign.shard();
  if (shard.num_inputs() != model->net.num_inputs() || shard.num_outputs() != model->net.num_outputs()) {
    reject_assign("", "assign.shard does not match the model's input and output layers");
    return;
  }
  const auto samples = static_cast<Eigen::Index>(shard.inputs_size() / shard.num_inputs());
  neural::matrix inputs(shard.num_inputs(), samples);
  neural::matrix outputs(shard.num_outputs(), samples);
  std::copy(shard.inputs().begin(), shard.inputs().end(), inputs.data());
  std::copy(shard.outputs().begin(), shard.outputs().end(), outputs.data());
  auto data = neural::dataset::create(std::move(inputs), std::move(outputs));
  if (!data) {
    reject_assign("", "assign.shard: " + data.err().message);
    return;
  }
  task.shard = std::make_shared<const neural::dataset>(std::move(*data));

  const auto layout = model->net.layout();
  auto spawned = spawn_neural_agent(self->system(), agent_spec{std::move(*model), *params}, memory_limit(st));
  if (!spawned) {
    reject_assign(spawned.err().code == errc::rejected ? "agent_memory" : "", spawned.err().message);
    return;
  }
  auto agent =
      new_agent(st, *spawned, "replica", layout, estimate_agent_memory(layout, task.shard->num_samples()));
  agent.job_id = task.job_id;
  task.agent_id = agent.id;
  st.agents.emplace(agent.id, std::move(agent));
  update_agent_metrics(st);
  st.log->info("replica started job={} replica={} attempt={} coordinator={} samples={} round={}",
               task.job_id, task.replica, task.attempt, task.coordinator_id,
               task.shard->num_samples(), assign.round());
  const bool sum_gradients = task.sum_gradients;
  st.replicas.emplace(key, std::move(task));
  if (sum_gradients) {
    gradient_round(self, key, assign.round(), {});
  } else {
    train_round(self, key, assign.round(), assign.round_epochs(), {});
  }
}

void on_round(manager_actor* self, const inbound_neural& inbound) {
  auto& st = self->state;
  const auto& round = inbound.message.round();
  const auto key = replica_key(round.job_id(), round.replica());
  auto found = st.replicas.find(key);
  if (found == st.replicas.end() || found->second.attempt != round.attempt()) {
    send_report(self, task_named_by(round, inbound), round.round(), nullptr,
                "node " + st.node_name + " runs no replica " + std::to_string(round.replica()) +
                    " of job " + round.job_id() + " at attempt " + std::to_string(round.attempt()));
    return;
  }
  found->second.last_heard = clock::now();
  std::vector<neural::scalar> weights(round.weights().begin(), round.weights().end());
  if (found->second.sum_gradients) {
    gradient_round(self, key, round.round(), std::move(weights));
  } else {
    train_round(self, key, round.round(), round.round_epochs(), std::move(weights));
  }
}

}  // namespace mesh::actors::detail
