// Training jobs, the coordinator side, and the HTTP handlers of /v1/jobs.
// The coordinator loads the data set, places the replicas, combines their
// work each round (sums their gradients and applies one update for batch
// algorithms, averages their weights for incremental training), places a
// failed replica again and publishes the model. The replica side is in
// neural_job_replica.cpp; docs/neural.md describes the exchange.

#include <algorithm>
#include <cmath>
#include <numeric>

#include "mesh/wire/transport.hpp"
#include "neural_manager_state.hpp"

namespace mesh::actors::detail {

mesh::v1::NeuralTrainingAlgorithm to_proto(neural::training_algorithm algorithm) {
  switch (algorithm) {
    case neural::training_algorithm::incremental:
      return mesh::v1::NEURAL_TRAINING_ALGORITHM_INCREMENTAL;
    case neural::training_algorithm::batch:
      return mesh::v1::NEURAL_TRAINING_ALGORITHM_BATCH;
    case neural::training_algorithm::rprop:
      return mesh::v1::NEURAL_TRAINING_ALGORITHM_RPROP;
    case neural::training_algorithm::quickprop:
      return mesh::v1::NEURAL_TRAINING_ALGORITHM_QUICKPROP;
    case neural::training_algorithm::adam:
      return mesh::v1::NEURAL_TRAINING_ALGORITHM_ADAM;
  }
  return mesh::v1::NEURAL_TRAINING_ALGORITHM_UNSPECIFIED;
}

result<neural::training_params> from_proto(const mesh::v1::NeuralTrainingParams& message) {
  neural::training_params params;
  switch (message.algorithm()) {
    case mesh::v1::NEURAL_TRAINING_ALGORITHM_INCREMENTAL:
      params.algorithm = neural::training_algorithm::incremental;
      break;
    case mesh::v1::NEURAL_TRAINING_ALGORITHM_BATCH:
      params.algorithm = neural::training_algorithm::batch;
      break;
    case mesh::v1::NEURAL_TRAINING_ALGORITHM_RPROP:
      params.algorithm = neural::training_algorithm::rprop;
      break;
    case mesh::v1::NEURAL_TRAINING_ALGORITHM_QUICKPROP:
      params.algorithm = neural::training_algorithm::quickprop;
      break;
    case mesh::v1::NEURAL_TRAINING_ALGORITHM_ADAM:
      params.algorithm = neural::training_algorithm::adam;
      break;
    default:
      return fail(errc::decode_error, "params.algorithm " + std::to_string(message.algorithm()) +
                                          " is not a known training algorithm");
  }
  if (message.learning_rate() > 0) {
    params.learning_rate = message.learning_rate();
    params.adam_learning_rate = message.learning_rate();
  }
  if (auto valid = params.validate(); !valid) {
    return fail(errc::decode_error, "params: " + valid.err().message);
  }
  return params;
}

namespace {

// An assign message above this is refused before sending, leaving room in
// the transport's 4 MiB frame for the envelope.
constexpr std::size_t max_assign_bytes = 4 * 1024 * 1024 - 64 * 1024;
// Finished job records kept for GET /v1/jobs; older ones are dropped.
constexpr std::size_t max_finished_jobs = 200;

mesh::v1::JobStatus describe(const job_record& job) {
  mesh::v1::JobStatus status;
  status.set_id(job.id);
  status.set_state(job.state);
  status.set_epoch(job.epoch);
  status.set_max_epochs(job.request.max_epochs());
  status.set_train_mse(job.train_mse);
  if (job.model_id) {
    status.set_model_id(*job.model_id);
  }
  if (job.test_mse) {
    status.set_test_mse(*job.test_mse);
  }
  if (job.test_accuracy) {
    status.set_test_accuracy(*job.test_accuracy);
  }
  if (job.error) {
    status.set_error(*job.error);
  }
  status.set_replicas(job.request.replicas());
  for (const auto& slot : job.replicas) {
    auto* replica = status.add_placement();
    replica->set_index(slot.index);
    replica->set_node_id(slot.node_id);
    replica->set_node_name(slot.node_name);
    replica->set_attempt(slot.attempt);
    replica->set_samples(slot.shard ? slot.shard->num_samples() : 0);
  }
  status.set_replacements(job.replacements);
  const auto end = job.ended.value_or(clock::now());
  status.set_elapsed_seconds(std::chrono::duration<double>(end - job.created).count());
  status.set_train_samples(job.train ? job.train->num_samples() : 0);
  status.set_test_samples(job.test ? job.test->num_samples() : 0);
  return status;
}

// ----- coordinator -----

void send_stop(manager_actor* self, const job_record& job, const replica_slot& slot) {
  mesh::v1::NeuralMessage message;
  auto* stop = message.mutable_stop();
  stop->set_job_id(job.id);
  stop->set_replica(slot.index);
  stop->set_attempt(slot.attempt);
  deliver(self, slot.node_id, slot.address, message);
}

void end_job(manager_actor* self, job_record& job, const std::string& state,
             std::optional<std::string> reason) {
  auto& st = self->state;
  if (!job.publishing) {
    for (const auto& slot : job.replicas) {
      if (!slot.node_id.empty()) {
        send_stop(self, job, slot);
      }
    }
  }
  job.state = state;
  job.error = std::move(reason);
  job.ended = clock::now();
  job.publishing = false;
  if (st.config.metrics != nullptr) {
    st.config.metrics->remove_job_mse(job.id, "train");
    if (job.test_mse) {
      st.config.metrics->set_job_mse(job.id, "test", *job.test_mse);
    }
  }
  if (job.error) {
    st.log->warn("job {} id={} epoch={} error={}", state, job.id, job.epoch, *job.error);
  } else {
    st.log->info("job {} id={} epoch={} train_mse={} test_mse={} model={}", state, job.id, job.epoch,
                 job.train_mse, job.test_mse.value_or(-1), job.model_id.value_or(""));
  }
  update_job_metrics(st);
}

struct candidate {
  std::string node_id;
  std::string name;
  std::string address;
  std::uint32_t load = 0;
};

// Alive members that host agents: workers and agents, this node included.
std::vector<candidate> hosting_nodes(const manager_state& state) {
  std::vector<candidate> out;
  if (state.config.board == nullptr) {
    if (state.config.role != "bootstrap") {
      out.push_back({state.node_id, state.node_name, state.address, 0});
    }
    return out;
  }
  const auto snapshot = state.config.board->snapshot();
  for (const auto& member : snapshot->members) {
    if (member.state != membership::member_state::alive ||
        member.info.role == membership::node_role::bootstrap || member.info.address.empty()) {
      continue;
    }
    out.push_back({member.info.node_id, member.info.name, member.info.address, member.info.load});
  }
  if (out.empty() && state.config.role != "bootstrap" && snapshot->members.empty()) {
    out.push_back({state.node_id, state.node_name, state.address, 0});
  }
  return out;
}

// Orders candidates by the replicas of `job` they already run, then by load.
void rank_candidates(std::vector<candidate>& nodes, const job_record& job) {
  auto used = [&job](const std::string& node_id) {
    return std::count_if(job.replicas.begin(), job.replicas.end(),
                         [&node_id](const replica_slot& slot) { return slot.node_id == node_id; });
  };
  std::sort(nodes.begin(), nodes.end(), [&used](const candidate& a, const candidate& b) {
    const auto ua = used(a.node_id);
    const auto ub = used(b.node_id);
    if (ua != ub) {
      return ua < ub;
    }
    if (a.load != b.load) {
      return a.load < b.load;
    }
    return a.node_id < b.node_id;
  });
}

result<void> send_assign(manager_actor* self, job_record& job, replica_slot& slot) {
  mesh::v1::NeuralMessage message;
  auto* assign = message.mutable_assign();
  assign->set_job_id(job.id);
  assign->set_replica(slot.index);
  assign->set_attempt(slot.attempt);
  assign->set_round(job.round);
  assign->set_round_epochs(job.round_epochs);
  assign->set_mode(job.sum_gradients ? mesh::v1::NEURAL_REPLICA_MODE_SUM_GRADIENTS
                                     : mesh::v1::NEURAL_REPLICA_MODE_AVERAGE_WEIGHTS);

  auto net = neural::network::create(job.layout);
  if (!net) {
    return net.err();
  }
  if (auto set = net->set_weights(job.weights); !set) {
    return set.err();
  }
  neural::to_proto(neural::model{std::move(*net), std::nullopt, std::nullopt}, *assign->mutable_model());
  assign->mutable_params()->set_algorithm(to_proto(job.params.algorithm));
  assign->mutable_params()->set_learning_rate(job.request.learning_rate());

  auto* shard = assign->mutable_shard();
  const auto& data = *slot.shard;
  shard->set_num_inputs(static_cast<std::uint32_t>(data.num_inputs()));
  shard->set_num_outputs(static_cast<std::uint32_t>(data.num_outputs()));
  shard->mutable_inputs()->Reserve(static_cast<int>(data.inputs().size()));
  shard->mutable_outputs()->Reserve(static_cast<int>(data.outputs().size()));
  for (Eigen::Index col = 0; col < data.inputs().cols(); ++col) {
    for (Eigen::Index row = 0; row < data.inputs().rows(); ++row) {
      shard->add_inputs(data.inputs()(row, col));
    }
    for (Eigen::Index row = 0; row < data.outputs().rows(); ++row) {
      shard->add_outputs(data.outputs()(row, col));
    }
  }
  const auto bytes = message.ByteSizeLong();
  if (bytes > max_assign_bytes) {
    return fail(errc::too_large, "replica " + std::to_string(slot.index) + " needs " +
                                     std::to_string(bytes) + " bytes for its shard of " +
                                     std::to_string(data.num_samples()) +
                                     " samples, above the wire limit of " +
                                     std::to_string(max_assign_bytes) + "; use more replicas");
  }
  slot.reported = false;
  slot.last_heard = clock::now();
  deliver(self, slot.node_id, slot.address, message);
  self->state.log->info("replica placed job={} replica={} attempt={} node={} name={} round={} samples={}",
                        job.id, slot.index, slot.attempt, slot.node_id, slot.node_name, job.round,
                        data.num_samples());
  return {};
}

// Places replica `index` of `job` again, on another node when one exists.
void replace_replica(manager_actor* self, job_record& job, std::size_t index,
                     const std::string& reason) {
  auto& st = self->state;
  auto& slot = job.replicas[index];
  const auto failed_node = slot.node_id;
  send_stop(self, job, slot);

  const std::uint32_t max_replacements = 4 * job.request.replicas() + 4;
  if (job.replacements >= max_replacements) {
    end_job(self, job, "failed",
            "replica " + std::to_string(index) + " failed again (" + reason + ") after " +
                std::to_string(job.replacements) + " replacements");
    return;
  }

  auto nodes = hosting_nodes(st);
  std::erase_if(nodes, [&failed_node](const candidate& c) { return c.node_id == failed_node; });
  if (nodes.empty()) {
    end_job(self, job, "failed",
            "replica " + std::to_string(index) + " failed (" + reason +
                ") and no other alive worker or agent node can take it");
    return;
  }
  rank_candidates(nodes, job);
  const auto& chosen = nodes.front();
  st.log->warn("replica placed again job={} replica={} from={} to={} reason={}", job.id, index,
               failed_node, chosen.node_id, reason);
  slot.node_id = chosen.node_id;
  slot.node_name = chosen.name;
  slot.address = chosen.address;
  ++slot.attempt;
  ++job.replacements;
  if (auto sent = send_assign(self, job, slot); !sent) {
    end_job(self, job, "failed", sent.err().message);
  }
}

void publish_model(manager_actor* self, job_record& job);

// Averages the replicas' weights into job.weights, weighted by shard size.
// Returns the train MSE, weighted the same way.
result<double> average_replica_weights(job_record& job) {
  double total_samples = 0;
  for (const auto& slot : job.replicas) {
    total_samples += static_cast<double>(slot.shard->num_samples());
  }
  std::vector<double> sum(job.weights.size(), 0.0);
  double mse = 0;
  for (const auto& slot : job.replicas) {
    const double share = static_cast<double>(slot.shard->num_samples()) / total_samples;
    if (slot.weights.size() != sum.size()) {
      return fail(errc::invalid_argument, "replica " + std::to_string(slot.index) + " reported " +
                                              std::to_string(slot.weights.size()) +
                                              " weights, expected " + std::to_string(sum.size()));
    }
    for (std::size_t i = 0; i < sum.size(); ++i) {
      sum[i] += share * static_cast<double>(slot.weights[i]);
    }
    mse += share * slot.mse;
  }
  for (std::size_t i = 0; i < sum.size(); ++i) {
    job.weights[i] = static_cast<neural::scalar>(sum[i]);
  }
  return mse;
}

// Sums the replicas' gradients in replica order, which is the gradient of the
// whole training set at job.weights, and applies one update of the job's
// algorithm to job.weights. Returns the MSE of the epoch over the whole set.
result<double> apply_replica_gradients(job_record& job) {
  neural::gradient total;
  for (const auto& slot : job.replicas) {
    if (auto added = total.add(slot.gradient); !added) {
      return fail(errc::invalid_argument,
                  "replica " + std::to_string(slot.index) + ": " + added.err().message);
    }
  }
  auto net = neural::network::create(job.layout);
  if (!net) {
    return net.err();
  }
  if (auto set = net->set_weights(job.weights); !set) {
    return set.err();
  }
  auto applied = job.trainer->apply_gradient(*net, total);
  if (!applied) {
    return applied.err();
  }
  job.weights = net->weights();
  job.last_bit_fail = static_cast<double>(applied->bit_fail);
  return applied->mse;
}

// Epochs of the next round: one with summed gradients, else epochs_per_round
// up to the remaining epoch budget.
std::uint32_t next_round_epochs(const job_record& job) {
  if (job.sum_gradients) {
    return 1;
  }
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(job.epochs_per_round, job.request.max_epochs() - job.epoch));
}

void complete_round(manager_actor* self, job_record& job) {
  auto& st = self->state;
  auto combined = job.sum_gradients ? apply_replica_gradients(job) : average_replica_weights(job);
  if (!combined) {
    end_job(self, job, "failed", combined.err().message);
    return;
  }
  const double mse = *combined;

  const std::chrono::duration<double> took = clock::now() - job.round_started;
  job.epochs_per_second = took.count() > 0 ? job.round_epochs / took.count() : 0.0;
  job.epoch += job.round_epochs;
  job.train_mse = mse;
  if (st.config.metrics != nullptr) {
    st.config.metrics->epochs.Add({}).Increment(job.round_epochs);
    st.config.metrics->set_job_mse(job.id, "train", mse);
  }
  st.log->debug("round done job={} round={} epoch={} train_mse={} epochs_per_second={:.1f}", job.id,
                job.round, job.epoch, mse, job.epochs_per_second);

  if (mse <= job.request.desired_error() || job.epoch >= job.request.max_epochs()) {
    publish_model(self, job);
    return;
  }

  ++job.round;
  job.round_epochs = next_round_epochs(job);
  job.round_started = clock::now();
  for (auto& slot : job.replicas) {
    mesh::v1::NeuralMessage message;
    auto* round = message.mutable_round();
    round->set_job_id(job.id);
    round->set_replica(slot.index);
    round->set_attempt(slot.attempt);
    round->set_round(job.round);
    round->set_round_epochs(job.round_epochs);
    round->mutable_weights()->Add(job.weights.begin(), job.weights.end());
    slot.reported = false;
    slot.last_heard = clock::now();
    deliver(self, slot.node_id, slot.address, message);
  }
  update_job_metrics(st);
}

// Measures the model on the test set: FANN's MSE and, for classifiers, the
// share of samples whose largest output is the target class.
void evaluate(job_record& job, const neural::network& net) {
  if (!job.test) {
    return;
  }
  auto tested = neural::test_network(net, *job.test, job.params.bit_fail_limit);
  if (tested) {
    job.test_mse = tested->mse;
  }
  if (job.class_names.empty()) {
    return;
  }
  auto outputs = net.run_batch(job.test->inputs());
  if (!outputs) {
    return;
  }
  std::size_t correct = 0;
  for (Eigen::Index col = 0; col < outputs->cols(); ++col) {
    Eigen::Index predicted = 0;
    Eigen::Index expected = 0;
    outputs->col(col).maxCoeff(&predicted);
    job.test->outputs().col(col).maxCoeff(&expected);
    correct += predicted == expected ? 1 : 0;
  }
  job.test_accuracy = static_cast<double>(correct) / static_cast<double>(outputs->cols());
}

void publish_model(manager_actor* self, job_record& job) {
  auto& st = self->state;
  for (const auto& slot : job.replicas) {
    send_stop(self, job, slot);
  }
  job.publishing = true;

  auto net = neural::network::create(job.layout);
  if (!net) {
    end_job(self, job, "failed", net.err().message);
    return;
  }
  if (auto set = net->set_weights(job.weights); !set) {
    end_job(self, job, "failed", set.err().message);
    return;
  }
  evaluate(job, *net);

  neural::training_metadata metadata;
  metadata.algorithm = job.params.algorithm;
  metadata.epochs = job.epoch;
  metadata.final_mse = job.train_mse;
  metadata.dataset_sha256 = job.dataset_sha256;
  metadata.dataset_name = job.dataset_name;
  mesh::v1::NeuralModel message;
  neural::to_proto(neural::model{std::move(*net), job.scaling, metadata}, message);
  for (const auto& name : job.class_names) {
    message.add_class_names(name);
  }

  if (!st.config.dag) {
    end_job(self, job, "failed",
            "the model is trained (test_mse " + std::to_string(job.test_mse.value_or(-1)) +
                ") but this node runs without a DAG, so it cannot be published");
    return;
  }
  const auto job_id = job.id;
  st.log->info("publishing model job={} epoch={} train_mse={} test_mse={} test_accuracy={}", job.id,
               job.epoch, job.train_mse, job.test_mse.value_or(-1), job.test_accuracy.value_or(-1));
  submit_vertex vertex{message.SerializeAsString(), std::string(neural_model_content_type), ""};
  self->request(st.config.dag, std::chrono::seconds(30), std::move(vertex))
      .then(
          [self, job_id](const dag_submit_reply& reply) {
            auto found = self->state.jobs.find(job_id);
            if (found == self->state.jobs.end() || found->second.state != "running") {
              return;
            }
            if (!reply.ok) {
              end_job(self, found->second, "failed",
                      "publishing the model failed: " + reply.error_code + ": " + reply.message);
              return;
            }
            const auto id = reply.id_hex;
            self->request(self->state.config.dag, std::chrono::minutes(2), await_final_atom::value, id)
                .then(
                    [self, job_id, id](const dag_vertex_view& view) {
                      auto entry = self->state.jobs.find(job_id);
                      if (entry == self->state.jobs.end() || entry->second.state != "running") {
                        return;
                      }
                      if (view.state != dag::vertex_state::final) {
                        end_job(self, entry->second, "failed",
                                "the model vertex " + id + " was rejected by the DAG");
                        return;
                      }
                      index_model(self->state, id, view.vertex);
                      entry->second.model_id = id;
                      end_job(self, entry->second, "completed", std::nullopt);
                    },
                    [self, job_id, id](const caf::error& err) {
                      auto entry = self->state.jobs.find(job_id);
                      if (entry != self->state.jobs.end() && entry->second.state == "running") {
                        end_job(self, entry->second, "failed",
                                "the model vertex " + id + " did not become final: " +
                                    self->system().render(err));
                      }
                    });
          },
          [self, job_id](const caf::error& err) {
            auto found = self->state.jobs.find(job_id);
            if (found != self->state.jobs.end() && found->second.state == "running") {
              end_job(self, found->second, "failed",
                      "publishing the model failed: " + self->system().render(err));
            }
          });
}

// Reads the training and test sets of `job` as its request describes.
result<void> load_data(job_record& job, std::mt19937_64& rng) {
  const auto& request = job.request;
  auto output_activation = *neural::parse_activation_function(request.activation_output());
  const auto range = neural::output_range(output_activation);

  // A set comes from a file on this node or from the text in the request.
  auto read = [&](const std::string& path, const std::string& text,
                  std::string_view field) -> result<neural::dataset> {
    if (request.format() == "fann") {
      return text.empty() ? neural::read_fann_file(path) : neural::parse_fann_text(text, field);
    }
    neural::csv_options options;
    options.header = request.csv_header() == "sklearn" ? neural::csv_header::sklearn
                     : request.csv_header() == "names" ? neural::csv_header::names
                                                       : neural::csv_header::none;
    options.off_value = range.low;
    options.on_value = range.high;
    return text.empty() ? neural::read_csv_file(path, options)
                        : neural::parse_csv_text(text, field, options);
  };

  const auto train_field = request.train_data().empty() ? "train_path" : "train_data";
  auto train = read(request.train_path(), request.train_data(), train_field);
  if (!train) {
    return fail(train.err().code, std::string(train_field) + ": " + train.err().message);
  }
  std::optional<neural::dataset> test;
  if (!request.test_path().empty() || !request.test_data().empty()) {
    const auto test_field = request.test_data().empty() ? "test_path" : "test_data";
    auto read_test = read(request.test_path(), request.test_data(), test_field);
    if (!read_test) {
      return fail(read_test.err().code, std::string(test_field) + ": " + read_test.err().message);
    }
    if (read_test->num_inputs() != train->num_inputs() ||
        read_test->num_outputs() != train->num_outputs()) {
      return fail(errc::invalid_argument,
                  "test_path: the test set has " + std::to_string(read_test->num_inputs()) +
                      " inputs and " + std::to_string(read_test->num_outputs()) +
                      " outputs, the training set " + std::to_string(train->num_inputs()) +
                      " and " + std::to_string(train->num_outputs()));
    }
    test = std::move(*read_test);
  }
  job.dataset_sha256 = train->source_sha256;
  job.dataset_name = request.train_data().empty()
                         ? std::filesystem::path(request.train_path()).filename().string()
                         : std::string("train_data");
  job.class_names = train->class_names;

  neural::dataset training = std::move(*train);
  if (request.test_fraction() > 0) {
    auto split = neural::split_dataset(training, 1.0 - request.test_fraction(), rng);
    if (!split) {
      return fail(split.err().code, "test_fraction: " + split.err().message);
    }
    training = std::move(split->first);
    test = std::move(split->second);
  }

  // A FANN file with one-hot targets (each sample has exactly one output at
  // the high value, all others at the low value) is a classification set.
  if (job.class_names.empty() && training.num_outputs() >= 2) {
    const auto& targets = training.outputs();
    const auto low = targets.minCoeff();
    const auto high = targets.maxCoeff();
    bool one_hot = low < high;
    for (Eigen::Index col = 0; one_hot && col < targets.cols(); ++col) {
      int highs = 0;
      for (Eigen::Index row = 0; row < targets.rows(); ++row) {
        const auto value = targets(row, col);
        one_hot = one_hot && (value == low || value == high);
        highs += value == high ? 1 : 0;
      }
      one_hot = one_hot && highs == 1;
    }
    if (one_hot) {
      for (std::size_t i = 0; i < training.num_outputs(); ++i) {
        job.class_names.push_back(std::to_string(i));
      }
    }
  }

  auto hidden = *neural::parse_activation_function(request.activation_hidden());
  auto scaling = neural::input_scaling::fit_for(
      training, request.hidden_layers().empty() ? output_activation : hidden);
  if (!scaling) {
    return scaling.err();
  }
  if (auto applied = scaling->apply(training); !applied) {
    return applied.err();
  }
  if (test) {
    if (auto applied = scaling->apply(*test); !applied) {
      return applied.err();
    }
    job.test = std::make_shared<const neural::dataset>(std::move(*test));
  }
  job.scaling = std::move(*scaling);
  job.train = std::make_shared<const neural::dataset>(neural::shuffle_dataset(training, rng));
  // The parsed sets replace the text sent in the request.
  job.request.clear_train_data();
  job.request.clear_test_data();
  return {};
}

// A gradient report carries 8 bytes per weight, so the network must be small
// enough for one report to fit the wire frame.
result<void> check_gradient_size(const neural::topology& layout) {
  const std::size_t bytes = layout.num_weights() * sizeof(double);
  if (bytes > max_assign_bytes) {
    return fail(errc::invalid_argument,
                "hidden_layers: the network has " + std::to_string(layout.num_weights()) +
                    " weights, so a replica's gradient needs " + std::to_string(bytes) +
                    " bytes, above the wire limit of " + std::to_string(max_assign_bytes) +
                    "; use at most " + std::to_string(max_assign_bytes / sizeof(double)) +
                    " weights or the incremental algorithm");
  }
  return {};
}

// Sizes of the contiguous shards of `total` samples. Shards are cut at
// multiples of training_block_samples, so every replica computes its
// gradient over the same blocks as one replica over the whole set would. The
// last shard takes the last, partial block. With fewer blocks than replicas
// the sizes differ by at most one sample instead.
std::vector<std::size_t> shard_sizes(std::size_t total, std::uint32_t replicas) {
  std::vector<std::size_t> sizes(replicas, 0);
  const std::size_t block = neural::training_block_samples;
  const std::size_t blocks = (total + block - 1) / block;
  if (blocks < replicas) {
    for (std::uint32_t r = 0; r < replicas; ++r) {
      sizes[r] = total / replicas + (r < total % replicas ? 1 : 0);
    }
    return sizes;
  }
  std::size_t remaining = total;
  for (std::uint32_t r = 0; r < replicas; ++r) {
    const std::size_t shard_blocks = blocks / replicas + (r < blocks % replicas ? 1 : 0);
    sizes[r] = std::min(remaining, shard_blocks * block);
    remaining -= sizes[r];
  }
  return sizes;
}

result<void> prepare_job(manager_actor* self, job_record& job) {
  auto& st = self->state;
  std::mt19937_64 rng(job.seed);
  if (auto loaded = load_data(job, rng); !loaded) {
    return loaded;
  }
  const auto& request = job.request;
  if (job.train->num_samples() < request.replicas()) {
    return fail(errc::invalid_argument, "replicas: " + std::to_string(request.replicas()) +
                                            " replicas need at least as many training samples, got " +
                                            std::to_string(job.train->num_samples()));
  }

  std::vector<std::size_t> sizes{job.train->num_inputs()};
  sizes.insert(sizes.end(), request.hidden_layers().begin(), request.hidden_layers().end());
  sizes.push_back(job.train->num_outputs());
  job.layout = neural::topology::standard(sizes, *neural::parse_activation_function(request.activation_hidden()),
                                          *neural::parse_activation_function(request.activation_output()));
  if (auto valid = job.layout.validate(); !valid) {
    return fail(errc::invalid_argument, "hidden_layers: " + valid.err().message);
  }
  job.params.algorithm = *neural::parse_training_algorithm(request.algorithm());
  if (request.learning_rate() > 0) {
    job.params.learning_rate = request.learning_rate();
    job.params.adam_learning_rate = request.learning_rate();
  }
  auto net = neural::network::create(job.layout);
  if (!net) {
    return net.err();
  }
  auto checked = neural::trainer::create(*net, job.params);
  if (!checked) {
    return fail(errc::invalid_argument, checked.err().message);
  }
  job.sum_gradients = job.params.algorithm != neural::training_algorithm::incremental;
  if (job.sum_gradients) {
    job.trainer.emplace(std::move(*checked));
    if (auto fits = check_gradient_size(job.layout); !fits) {
      return fits;
    }
  }
  if (auto initialized = net->init_weights(*job.train, rng); !initialized) {
    return initialized.err();
  }
  job.weights = net->weights();

  auto nodes = hosting_nodes(st);
  if (nodes.size() < request.replicas()) {
    return fail(errc::rejected, "replicas: " + std::to_string(request.replicas()) +
                                    " replicas need as many alive worker or agent nodes, the mesh has " +
                                    std::to_string(nodes.size()));
  }
  rank_candidates(nodes, job);

  const auto counts = shard_sizes(job.train->num_samples(), request.replicas());
  std::size_t start = 0;
  for (std::uint32_t r = 0; r < request.replicas(); ++r) {
    const std::size_t count = counts[r];
    const auto columns = static_cast<Eigen::Index>(count);
    auto shard = neural::dataset::create(
        job.train->inputs().middleCols(static_cast<Eigen::Index>(start), columns),
        job.train->outputs().middleCols(static_cast<Eigen::Index>(start), columns));
    if (!shard) {
      return shard.err();
    }
    start += count;
    replica_slot slot;
    slot.index = r;
    slot.node_id = nodes[r].node_id;
    slot.node_name = nodes[r].name;
    slot.address = nodes[r].address;
    slot.shard = std::make_shared<const neural::dataset>(std::move(*shard));
    job.replicas.push_back(std::move(slot));
  }
  return {};
}

void drop_old_jobs(manager_state& state) {
  std::vector<std::pair<std::uint64_t, std::string>> finished;
  for (const auto& [id, job] : state.jobs) {
    if (job.ended) {
      finished.emplace_back(job.sequence, id);
    }
  }
  if (finished.size() <= max_finished_jobs) {
    return;
  }
  std::sort(finished.begin(), finished.end());
  for (std::size_t i = 0; i + max_finished_jobs < finished.size(); ++i) {
    if (state.config.metrics != nullptr) {
      state.config.metrics->remove_job_mse(finished[i].second, "test");
    }
    state.jobs.erase(finished[i].second);
  }
}

void on_report(manager_actor* self, const inbound_neural& inbound) {
  auto& st = self->state;
  const auto& report = inbound.message.report();
  auto found = st.jobs.find(report.job_id());
  if (found == st.jobs.end()) {
    return;
  }
  auto& job = found->second;
  if (job.state != "running" || job.publishing || report.replica() >= job.replicas.size()) {
    return;
  }
  auto& slot = job.replicas[report.replica()];
  if (slot.attempt != report.attempt() || slot.node_id != inbound.from_id ||
      report.round() != job.round) {
    return;
  }
  slot.last_heard = clock::now();
  if (!report.error().empty()) {
    replace_replica(self, job, report.replica(), "replica error on " + slot.node_name + ": " + report.error());
    return;
  }
  if (job.sum_gradients &&
      (static_cast<std::size_t>(report.slopes_size()) != job.weights.size() ||
       report.samples() != slot.shard->num_samples())) {
    replace_replica(self, job, report.replica(),
                    "replica on " + slot.node_name + " reported " +
                        std::to_string(report.slopes_size()) + " slopes over " +
                        std::to_string(report.samples()) + " samples, expected " +
                        std::to_string(job.weights.size()) + " over " +
                        std::to_string(slot.shard->num_samples()));
    return;
  }
  slot.reported = true;
  slot.mse = report.mse();
  if (job.sum_gradients) {
    slot.gradient.slopes.assign(report.slopes().begin(), report.slopes().end());
    slot.gradient.samples = report.samples();
    slot.gradient.squared_error = report.squared_error();
    slot.gradient.bit_fail = report.bit_fail();
  } else {
    slot.weights.assign(report.weights().begin(), report.weights().end());
  }
  const bool all = std::all_of(job.replicas.begin(), job.replicas.end(),
                               [](const replica_slot& s) { return s.reported; });
  if (all) {
    complete_round(self, job);
  }
}

}  // namespace

void update_job_metrics(manager_state& state) {
  if (state.config.metrics == nullptr) {
    return;
  }
  std::map<std::string, double> by_state{
      {"queued", 0}, {"running", 0}, {"completed", 0}, {"failed", 0}, {"cancelled", 0}};
  double rate = 0;
  for (const auto& [id, job] : state.jobs) {
    by_state[job.state] += 1;
    if (job.state == "running") {
      rate += job.epochs_per_second;
    }
  }
  for (const auto& [name, count] : by_state) {
    state.config.metrics->jobs.Add({{"state", name}}).Set(count);
  }
  state.config.metrics->epochs_per_second.Add({}).Set(rate);
}

void submit_job(manager_actor* self, neural_api_request& request) {
  auto& st = self->state;
  mesh::v1::JobRequest body;
  if (auto parsed = parse_json(request.request.body, body); !parsed) {
    request.respond(error_reply(parsed.err()));
    return;
  }
  if (auto valid = validate_request(body); !valid) {
    request.respond(error_reply(valid.err()));
    return;
  }
  job_record job;
  job.id = random_id(st, "job-");
  job.seed = body.has_seed() ? body.seed() : st.rng();
  job.epochs_per_round = body.epochs_per_round();
  job.request = std::move(body);
  job.sequence = ++st.job_sequence;
  st.log->info("job queued id={} train_path={} replicas={} max_epochs={} algorithm={}", job.id,
               job.request.train_path(), job.request.replicas(), job.request.max_epochs(),
               job.request.algorithm());
  const auto status = describe(job);
  const auto id = job.id;
  st.jobs.emplace(id, std::move(job));
  drop_old_jobs(st);
  update_job_metrics(st);
  self->send(self, job_load_atom::value, id);
  request.respond(json_response(status, 202));
}

void start_job(manager_actor* self, const std::string& job_id) {
  auto& st = self->state;
  auto found = st.jobs.find(job_id);
  if (found == st.jobs.end() || found->second.state != "queued") {
    return;
  }
  auto& job = found->second;
  // NOTE: the data set is read on the manager's thread, so other requests to
  // this node's manager wait while a large file is parsed.
  if (auto prepared = prepare_job(self, job); !prepared) {
    end_job(self, job, "failed", prepared.err().message);
    return;
  }
  job.state = "running";
  job.round = 0;
  job.epoch = 0;
  job.round_epochs = next_round_epochs(job);
  job.round_started = clock::now();
  st.log->info("job running id={} train_samples={} test_samples={} weights={} replicas={}", job.id,
               job.train->num_samples(), job.test ? job.test->num_samples() : 0,
               job.layout.num_weights(), job.replicas.size());
  for (auto& slot : job.replicas) {
    if (auto sent = send_assign(self, job, slot); !sent) {
      end_job(self, job, "failed", sent.err().message);
      return;
    }
  }
  update_job_metrics(st);
}

void list_jobs(manager_actor* self, neural_api_request& request) {
  std::vector<const job_record*> ordered;
  for (const auto& [id, job] : self->state.jobs) {
    ordered.push_back(&job);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const job_record* a, const job_record* b) { return a->sequence < b->sequence; });
  mesh::v1::JobList list;
  for (const auto* job : ordered) {
    *list.add_jobs() = describe(*job);
  }
  request.respond(json_response(list));
}

void get_job(manager_actor* self, neural_api_request& request) {
  const auto id = request.request.params["id"];
  auto found = self->state.jobs.find(id);
  if (found == self->state.jobs.end()) {
    request.respond(error_reply(fail(
        errc::not_found, "no job with id '" + id + "' on this node; ask the node that received it")));
    return;
  }
  request.respond(json_response(describe(found->second)));
}

void cancel_job(manager_actor* self, neural_api_request& request) {
  const auto id = request.request.params["id"];
  auto found = self->state.jobs.find(id);
  if (found == self->state.jobs.end()) {
    request.respond(error_reply(fail(errc::not_found, "no job with id '" + id + "' on this node")));
    return;
  }
  auto& job = found->second;
  if (job.ended) {
    request.respond(http::error_response(409, "conflict", "job '" + id + "' already ended in state " + job.state));
    return;
  }
  end_job(self, job, "cancelled", std::nullopt);
  request.respond(json_response(describe(job)));
}

void check_jobs(manager_actor* self) {
  auto& st = self->state;
  const auto now = clock::now();
  std::shared_ptr<const board_snapshot> snapshot;
  if (st.config.board != nullptr) {
    snapshot = st.config.board->snapshot();
  }
  auto node_state = [&snapshot](const std::string& node_id) -> std::optional<membership::member_state> {
    if (!snapshot) {
      return membership::member_state::alive;
    }
    for (const auto& member : snapshot->members) {
      if (member.info.node_id == node_id) {
        return member.state;
      }
    }
    return std::nullopt;
  };

  for (auto& [id, job] : st.jobs) {
    if (job.state != "running" || job.publishing) {
      continue;
    }
    for (std::size_t i = 0; i < job.replicas.size() && job.state == "running"; ++i) {
      const auto& slot = job.replicas[i];
      if (slot.reported) {
        continue;
      }
      const auto state = node_state(slot.node_id);
      if (!state || *state == membership::member_state::dead ||
          *state == membership::member_state::left) {
        replace_replica(self, job, i,
                        "node " + slot.node_name + " is " +
                            (state ? std::string(membership::to_string(*state)) : "gone"));
      } else if (now - slot.last_heard > st.config.limits.replica_timeout) {
        replace_replica(self, job, i,
                        "no report from node " + slot.node_name + " for " +
                            std::to_string(st.config.limits.replica_timeout.count()) + " ms");
      }
    }
  }

  // Replicas whose coordinator went silent for long are stopped.
  const auto orphan_after = std::max<std::chrono::milliseconds>(3 * st.config.limits.replica_timeout,
                                                                std::chrono::minutes(1));
  std::vector<std::string> orphans;
  for (const auto& [key, task] : st.replicas) {
    if (now - task.last_heard > orphan_after) {
      orphans.push_back(key);
    }
  }
  for (const auto& key : orphans) {
    st.log->warn("replica stopped: no message from its coordinator key={}", key);
    stop_replica(self, key);
  }
  update_job_metrics(st);
}

void handle_neural_message(manager_actor* self, inbound_neural& inbound) {
  using kind = mesh::v1::NeuralMessage::KindCase;
  switch (inbound.message.kind_case()) {
    case kind::kAssign:
      on_assign(self, inbound);
      return;
    case kind::kRound:
      on_round(self, inbound);
      return;
    case kind::kReport:
      on_report(self, inbound);
      return;
    case kind::kStop: {
      const auto& stop = inbound.message.stop();
      const auto key = replica_key(stop.job_id(), stop.replica());
      auto found = self->state.replicas.find(key);
      if (found != self->state.replicas.end() && found->second.attempt <= stop.attempt() &&
          found->second.coordinator_id == inbound.from_id) {
        self->state.log->info("replica stopped job={} replica={}", stop.job_id(), stop.replica());
        stop_replica(self, key);
      }
      return;
    }
    case kind::KIND_NOT_SET:
      return;
  }
}

}  // namespace mesh::actors::detail
