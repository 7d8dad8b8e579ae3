// meshctl neural: agents, training jobs and inference through a node's API
// port (default http://127.0.0.1:8081).
//
//   meshctl neural spawn --layers 2,3,1 [--activation-hidden F] [--activation-output F]
//                        [--algorithm A] [--seed N] | --model ID
//   meshctl neural list
//   meshctl neural kill AGENT_ID
//   meshctl neural train --train-path PATH --format fann|csv --max-epochs N [job flags] [--wait]
//   meshctl neural jobs [JOB_ID]
//   meshctl neural infer MODEL_ID (--inputs JSON | --data PATH --format fann|csv)
//   meshctl neural split --input PATH --format fann|csv --test-fraction F
//                        --train-out PATH --test-out PATH
//
// `train --wait` exits 1 when the job fails or is cancelled and 4 when
// --timeout passes first. `infer --data` prints the accuracy when the model
// is a classifier and the file has one-hot targets.

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include "mesh/http/client.hpp"
#include "mesh/http/proto_json.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/v1/neural_api.pb.h"
#include "meshctl_common.hpp"

namespace mesh::ctl {

namespace {

constexpr auto infer_timeout = 60s;
// Rows per inference request when sending a data file.
constexpr int infer_batch_rows = 500;

struct neural_options {
  std::string node = "http://127.0.0.1:8081";
  // spawn
  std::vector<unsigned> layers;
  std::string model_id;
  // train
  mesh::v1::JobRequest job;
  std::vector<unsigned> hidden_layers;
  std::uint64_t seed = 0;
  bool wait = false;
  double timeout_seconds = 600;
  // kill, jobs, infer
  std::string id;
  std::string inputs_json;
  std::string data_path;
  std::string data_format = "fann";
  std::string csv_header = "none";
  // split
  std::string input_path;
  double test_fraction = 0.2;
  std::string train_out;
  std::string test_out;
};

options with_node(const options& opts, const neural_options& neural) {
  options copy = opts;
  copy.node = neural.node;
  return copy;
}

bool del(const options& opts, const std::string& path, google::protobuf::Message& message) {
  auto token = read_token(opts);
  if (!token) {
    return false;
  }
  auto reply = mesh::http::del(opts.node + path, *token, request_timeout);
  if (!reply) {
    std::cerr << "meshctl: request to " << opts.node << path << " failed: " << reply.err().message << "\n";
    return false;
  }
  if (reply->status != 200) {
    std::cerr << "meshctl: " << opts.node << path << " returned HTTP " << reply->status << ": "
              << reply->body << "\n";
    return false;
  }
  return mesh::http::from_json(reply->body, message).has_value();
}

void print_job(const mesh::v1::JobStatus& job) {
  std::printf("%-22s  %-9s  epoch %llu/%llu  train_mse %.4g", job.id().c_str(), job.state().c_str(),
              static_cast<unsigned long long>(job.epoch()),
              static_cast<unsigned long long>(job.max_epochs()), job.train_mse());
  if (job.has_test_mse()) {
    std::printf("  test_mse %.4g", job.test_mse());
  }
  if (job.has_test_accuracy()) {
    std::printf("  test_accuracy %.4f", job.test_accuracy());
  }
  if (job.has_model_id()) {
    std::printf("  model %s", job.model_id().c_str());
  }
  std::printf("  elapsed %.1f s\n", job.elapsed_seconds());
  if (job.has_error()) {
    std::printf("  error: %s\n", job.error().c_str());
  }
}

void print_agent(const mesh::v1::AgentInfo& agent) {
  std::string layers;
  for (auto size : agent.layers()) {
    layers += (layers.empty() ? "" : "-") + std::to_string(size);
  }
  std::printf("%-22s  %-7s  %-14s  %8llu weights  %s%s\n", agent.id().c_str(), agent.kind().c_str(),
              layers.c_str(), static_cast<unsigned long long>(agent.num_weights()),
              agent.job_id().c_str(), agent.model_id().c_str());
}

int spawn(const options& opts, const neural_options& neural, const mesh::v1::AgentSpawnRequest& base) {
  auto request = base;
  for (auto size : neural.layers) {
    request.add_layers(size);
  }
  request.set_model_id(neural.model_id);
  mesh::v1::AgentInfo agent;
  std::string raw;
  if (!post(opts, "/v1/agents", mesh::http::to_json(request), {201}, agent, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
  } else {
    print_agent(agent);
  }
  return 0;
}

int list(const options& opts) {
  mesh::v1::AgentList agents;
  std::string raw;
  if (!fetch(opts, "/v1/agents", agents, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
    return 0;
  }
  if (agents.agents().empty()) {
    std::cout << "no agents on this node\n";
  }
  for (const auto& agent : agents.agents()) {
    print_agent(agent);
  }
  return 0;
}

int kill(const options& opts, const std::string& id) {
  mesh::v1::AgentInfo agent;
  if (!del(opts, "/v1/agents/" + id, agent)) {
    return exit_failure;
  }
  std::cout << "terminated agent " << agent.id() << "\n";
  return 0;
}

int train(const options& opts, const neural_options& neural, bool seed_given) {
  auto request = neural.job;
  for (auto size : neural.hidden_layers) {
    request.add_hidden_layers(size);
  }
  if (seed_given) {
    request.set_seed(neural.seed);
  }
  mesh::v1::JobStatus job;
  std::string raw;
  if (!post(opts, "/v1/jobs", mesh::http::to_json(request), {202}, job, raw)) {
    return exit_failure;
  }
  if (!neural.wait) {
    if (opts.output == "json") {
      std::cout << raw << "\n";
    } else {
      std::cout << job.id() << "\n";
    }
    return 0;
  }

  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(neural.timeout_seconds);
  std::uint64_t shown_epoch = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(250ms);
    mesh::v1::JobStatus status;
    if (!fetch(opts, "/v1/jobs/" + job.id(), status, raw, true)) {
      continue;
    }
    const bool done = status.state() == "completed" || status.state() == "failed" ||
                      status.state() == "cancelled";
    if (opts.output != "json" && !done && status.epoch() != shown_epoch) {
      shown_epoch = status.epoch();
      std::fprintf(stderr, "epoch %llu/%llu train_mse %.6f\n", static_cast<unsigned long long>(status.epoch()),
                   static_cast<unsigned long long>(status.max_epochs()), status.train_mse());
    }
    if (done) {
      if (opts.output == "json") {
        std::cout << raw << "\n";
      } else {
        print_job(status);
      }
      return status.state() == "completed" ? 0 : exit_failure;
    }
  }
  std::cerr << "meshctl: job " << job.id() << " did not finish within " << neural.timeout_seconds << " s\n";
  return exit_timed_out;
}

int jobs(const options& opts, const std::string& id) {
  std::string raw;
  if (!id.empty()) {
    mesh::v1::JobStatus job;
    if (!fetch(opts, "/v1/jobs/" + id, job, raw)) {
      return exit_failure;
    }
    if (opts.output == "json") {
      std::cout << raw << "\n";
    } else {
      print_job(job);
    }
    return 0;
  }
  mesh::v1::JobList list;
  if (!fetch(opts, "/v1/jobs", list, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
    return 0;
  }
  if (list.jobs().empty()) {
    std::cout << "no jobs on this node (jobs are listed by the node that received them)\n";
  }
  for (const auto& job : list.jobs()) {
    print_job(job);
  }
  return 0;
}

result<neural::dataset> read_data(const std::string& path, const std::string& format,
                                  const std::string& header) {
  if (format == "fann") {
    return neural::read_fann_file(path);
  }
  neural::csv_options options;
  options.header = header == "sklearn" ? neural::csv_header::sklearn
                   : header == "names" ? neural::csv_header::names
                                       : neural::csv_header::none;
  return neural::read_csv_file(path, options);
}

// Sends every row of the data file through the model and counts the rows
// whose class matches the one-hot target.
int infer_file(const options& opts, const neural_options& neural) {
  auto data = read_data(neural.data_path, neural.data_format, neural.csv_header);
  if (!data) {
    std::cerr << "meshctl: --data: " << data.err().message << "\n";
    return exit_failure;
  }
  const auto rows = static_cast<int>(data->num_samples());
  std::size_t correct = 0;
  std::size_t classified = 0;
  const auto started = std::chrono::steady_clock::now();
  for (int first = 0; first < rows; first += infer_batch_rows) {
    const int last = std::min(rows, first + infer_batch_rows);
    mesh::v1::InferRequest request;
    for (int row = first; row < last; ++row) {
      auto* values = request.add_inputs();
      for (Eigen::Index i = 0; i < data->inputs().rows(); ++i) {
        values->add_values()->set_number_value(data->inputs()(i, row));
      }
    }
    mesh::v1::InferReply reply;
    std::string raw;
    if (!post(opts, "/v1/models/" + neural.id + "/infer", mesh::http::to_json(request), {200}, reply, raw,
              infer_timeout)) {
      return exit_failure;
    }
    for (int k = 0; k < reply.classes_size() && first + k < last; ++k) {
      Eigen::Index expected = 0;
      data->outputs().col(first + k).maxCoeff(&expected);
      correct += static_cast<Eigen::Index>(reply.classes(k)) == expected ? 1 : 0;
      ++classified;
    }
  }
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  std::printf("samples %d  time %.3f s", rows, took.count());
  if (classified > 0) {
    std::printf("  accuracy %.4f (%zu of %zu)", static_cast<double>(correct) / static_cast<double>(classified),
                correct, classified);
  }
  std::printf("\n");
  return 0;
}

int infer(const options& opts, const neural_options& neural) {
  if (neural.inputs_json.empty() == neural.data_path.empty()) {
    std::cerr << "meshctl: neural infer needs exactly one of --inputs and --data\n";
    return exit_usage;
  }
  if (!neural.data_path.empty()) {
    return infer_file(opts, neural);
  }
  mesh::v1::InferReply reply;
  std::string raw;
  const std::string body = "{\"inputs\":" + neural.inputs_json + "}";
  if (!post(opts, "/v1/models/" + neural.id + "/infer", body, {200}, reply, raw, infer_timeout)) {
    return exit_failure;
  }
  std::cout << raw << "\n";
  return 0;
}

int split(const neural_options& neural) {
  auto data = read_data(neural.input_path, neural.data_format, neural.csv_header);
  if (!data) {
    std::cerr << "meshctl: --input: " << data.err().message << "\n";
    return exit_failure;
  }
  std::mt19937_64 rng(neural.seed);
  auto parts = neural::split_dataset(*data, 1.0 - neural.test_fraction, rng);
  if (!parts) {
    std::cerr << "meshctl: --test-fraction: " << parts.err().message << "\n";
    return exit_usage;
  }
  if (auto written = neural::write_fann_file(parts->first, neural.train_out); !written) {
    std::cerr << "meshctl: --train-out: " << written.err().message << "\n";
    return exit_failure;
  }
  if (auto written = neural::write_fann_file(parts->second, neural.test_out); !written) {
    std::cerr << "meshctl: --test-out: " << written.err().message << "\n";
    return exit_failure;
  }
  std::printf("wrote %zu training samples to %s and %zu test samples to %s\n", parts->first.num_samples(),
              neural.train_out.c_str(), parts->second.num_samples(), neural.test_out.c_str());
  return 0;
}

}  // namespace

std::function<std::optional<int>()> add_neural_commands(CLI::App& app, options& opts) {
  auto neural = std::make_shared<neural_options>();
  auto spawn_request = std::make_shared<mesh::v1::AgentSpawnRequest>();
  auto* group = app.add_subcommand("neural", "Neural agents, training jobs and inference (API port)");
  group->require_subcommand(1);

  auto add_common = [&opts, neural](CLI::App* command) {
    command->add_option("--node", neural->node, "Base URL of the node's API port")->capture_default_str();
    command->add_option("--output,-o", opts.output, "Output format")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
    command->add_option("--token-file", opts.token_file,
                        "File with the API bearer token (default: MESH_API_TOKEN_FILE)");
  };
  const auto activations = CLI::IsMember({"linear", "sigmoid", "sigmoid_symmetric", "relu", "sigmoid_stepwise",
                                          "sigmoid_symmetric_stepwise", "elliot", "elliot_symmetric",
                                          "gaussian", "gaussian_symmetric", "linear_piece",
                                          "linear_piece_symmetric", "sin", "cos", "sin_symmetric",
                                          "cos_symmetric"});
  const auto algorithms = CLI::IsMember({"incremental", "batch", "rprop", "quickprop", "adam"});

  auto* spawn_cmd = group->add_subcommand("spawn", "Spawn an agent with random weights or a trained model");
  add_common(spawn_cmd);
  spawn_cmd->add_option("--layers", neural->layers, "Layer sizes from input to output, e.g. 2,3,1")
      ->delimiter(',');
  spawn_cmd->add_option("--model", neural->model_id, "Load this final model from the DAG instead");
  spawn_cmd->add_option_function<std::string>(
      "--activation-hidden", [spawn_request](const std::string& v) { spawn_request->set_activation_hidden(v); },
      "Activation of the hidden layers")->check(activations);
  spawn_cmd->add_option_function<std::string>(
      "--activation-output", [spawn_request](const std::string& v) { spawn_request->set_activation_output(v); },
      "Activation of the output layer")->check(activations);
  spawn_cmd->add_option_function<std::string>(
      "--algorithm", [spawn_request](const std::string& v) { spawn_request->set_algorithm(v); },
      "Training algorithm")->check(algorithms);
  spawn_cmd->add_option_function<std::uint64_t>(
      "--seed", [spawn_request](std::uint64_t v) { spawn_request->set_seed(v); }, "Seed of the random weights");

  auto* list_cmd = group->add_subcommand("list", "List the agents on the node");
  add_common(list_cmd);

  auto* kill_cmd = group->add_subcommand("kill", "Terminate an agent");
  add_common(kill_cmd);
  kill_cmd->add_option("id", neural->id, "Agent id")->required();

  auto* train_cmd = group->add_subcommand("train", "Submit a training job to the node, which coordinates it");
  add_common(train_cmd);
  auto& job = neural->job;
  train_cmd->add_option_function<std::string>("--train-path", [&job](const std::string& v) { job.set_train_path(v); },
                                              "Training file on the node")->required();
  train_cmd->add_option_function<std::string>("--test-path", [&job](const std::string& v) { job.set_test_path(v); },
                                              "Test file on the node");
  train_cmd->add_option_function<std::string>("--format", [&job](const std::string& v) { job.set_format(v); },
                                              "File format")->required()->check(CLI::IsMember({"fann", "csv"}));
  train_cmd->add_option_function<std::string>("--csv-header", [&job](const std::string& v) { job.set_csv_header(v); },
                                              "CSV header line")->check(CLI::IsMember({"none", "names", "sklearn"}));
  train_cmd->add_option_function<double>("--test-fraction", [&job](double v) { job.set_test_fraction(v); },
                                         "Share of the training file held out as the test set");
  train_cmd->add_option("--hidden-layers", neural->hidden_layers, "Hidden layer sizes, e.g. 32 or 10,10")
      ->delimiter(',');
  train_cmd->add_option_function<std::string>("--activation-hidden",
                                              [&job](const std::string& v) { job.set_activation_hidden(v); },
                                              "Activation of the hidden layers")->check(activations);
  train_cmd->add_option_function<std::string>("--activation-output",
                                              [&job](const std::string& v) { job.set_activation_output(v); },
                                              "Activation of the output layer")->check(activations);
  train_cmd->add_option_function<std::string>("--algorithm", [&job](const std::string& v) { job.set_algorithm(v); },
                                              "Training algorithm")->check(algorithms);
  train_cmd->add_option_function<std::uint64_t>("--max-epochs", [&job](std::uint64_t v) { job.set_max_epochs(v); },
                                                 "Epochs per replica")->required();
  train_cmd->add_option_function<double>("--desired-error", [&job](double v) { job.set_desired_error(v); },
                                         "Stop once the train MSE is at most this");
  train_cmd->add_option_function<std::uint32_t>("--replicas", [&job](std::uint32_t v) { job.set_replicas(v); },
                                                "Replicas on distinct nodes (default 1)");
  train_cmd->add_option_function<std::uint32_t>("--epochs-per-round",
                                                [&job](std::uint32_t v) { job.set_epochs_per_round(v); },
                                                "Incremental algorithm only: epochs between two weight averages (default 10)");
  train_cmd->add_option_function<float>("--learning-rate", [&job](float v) { job.set_learning_rate(v); },
                                        "Learning rate (default: the algorithm's)");
  auto* seed_option = train_cmd->add_option("--seed", neural->seed, "Seed of the split, shuffle and weights");
  train_cmd->add_flag("--wait", neural->wait, "Wait until the job ends and print the result");
  train_cmd->add_option("--timeout", neural->timeout_seconds, "Seconds --wait waits")->capture_default_str();

  auto* jobs_cmd = group->add_subcommand("jobs", "List the jobs this node coordinates, or show one");
  add_common(jobs_cmd);
  jobs_cmd->add_option("id", neural->id, "Job id");

  auto* infer_cmd = group->add_subcommand("infer", "Run inputs through a final model");
  add_common(infer_cmd);
  infer_cmd->add_option("id", neural->id, "Model id (hex vertex id)")->required();
  infer_cmd->add_option("--inputs", neural->inputs_json, "JSON list of input rows, e.g. [[0,1],[1,1]]");
  infer_cmd->add_option("--data", neural->data_path, "Data file whose inputs are sent and targets compared");
  infer_cmd->add_option("--format", neural->data_format, "Format of --data")
      ->check(CLI::IsMember({"fann", "csv"}))->capture_default_str();
  infer_cmd->add_option("--csv-header", neural->csv_header, "CSV header line of --data")
      ->check(CLI::IsMember({"none", "names", "sklearn"}))->capture_default_str();

  auto* split_cmd = group->add_subcommand("split", "Split a data file into FANN training and test files");
  split_cmd->add_option("--input", neural->input_path, "Data file")->required();
  split_cmd->add_option("--format", neural->data_format, "Format of --input")
      ->check(CLI::IsMember({"fann", "csv"}))->capture_default_str();
  split_cmd->add_option("--csv-header", neural->csv_header, "CSV header line of --input")
      ->check(CLI::IsMember({"none", "names", "sklearn"}))->capture_default_str();
  split_cmd->add_option("--test-fraction", neural->test_fraction, "Share of samples in the test file")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  split_cmd->add_option("--seed", neural->seed, "Seed of the shuffle")->capture_default_str();
  split_cmd->add_option("--train-out", neural->train_out, "Training file to write")->required();
  split_cmd->add_option("--test-out", neural->test_out, "Test file to write")->required();

  return [=, &opts]() -> std::optional<int> {
    if (!*group) {
      return std::nullopt;
    }
    const auto node_opts = with_node(opts, *neural);
    if (*spawn_cmd) {
      if (neural->layers.empty() == neural->model_id.empty()) {
        std::cerr << "meshctl: neural spawn needs exactly one of --layers and --model\n";
        return exit_usage;
      }
      return spawn(node_opts, *neural, *spawn_request);
    }
    if (*list_cmd) {
      return list(node_opts);
    }
    if (*kill_cmd) {
      return kill(node_opts, neural->id);
    }
    if (*train_cmd) {
      return train(node_opts, *neural, seed_option->count() > 0);
    }
    if (*jobs_cmd) {
      return jobs(node_opts, neural->id);
    }
    if (*infer_cmd) {
      return infer(node_opts, *neural);
    }
    if (*split_cmd) {
      return split(*neural);
    }
    return exit_usage;
  };
}

}  // namespace mesh::ctl
