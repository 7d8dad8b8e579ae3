// Distributed training: wall time to one desired error with 1, 2 and 3
// replicas on the FANN thyroid set (21-16-3, sigmoid_symmetric, iRPROP-,
// seed 1). The mesh has 4 node processes on loopback: one bootstrap that
// coordinates the jobs and three workers that run the replicas.
//
// Workloads:
//   local      the same job in this process without a mesh: the same input
//              scaling, shuffle and initial weights, one gradient over the
//              whole set and one update per epoch. It is the baseline, and
//              its epoch count is the one every mesh run must reproduce,
//              because summed shard gradients follow one replica's
//              trajectory.
//   replicas   POST /v1/jobs to the bootstrap with R = 1, 2, 3 replicas,
//              polled every 5 ms. "train" is the time from the submit until
//              the job's train MSE is at most the desired error (the data
//              set is read and placed, then one gradient round trip per
//              epoch); "total" is the time until the job is completed, which
//              adds testing, publishing the model vertex and its finality.
//
// Every node process shares the machine's cores with the others, so on a
// machine with fewer cores than replicas more replicas cannot run faster.
// Results go to docs/benchmarks.md.
//
// Usage: bench_neural_distributed [--desired-error 0.0072] [--max-epochs 5000]
//        [--repeats 3] [--replicas 1,2,3] [--datasets DIR]

#include <CLI/CLI.hpp>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mesh/http/client.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"
#include "mesh/v1/neural_api.pb.h"
#include "support/cluster.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace neural = mesh::neural;

constexpr std::uint64_t seed = 1;
constexpr std::size_t hidden_neurons = 16;

// The folder with the FANN data sets: --datasets, else $MESH_DATASETS_DIR,
// else <source>/../shared/datasets/fann.
std::filesystem::path fann_dir(const std::string& option) {
  if (!option.empty()) {
    return option;
  }
  if (const char* env = std::getenv("MESH_DATASETS_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  // This file is <source>/bench/neural_distributed.cpp.
  return std::filesystem::path(__FILE__).parent_path().parent_path() / ".." / "shared" / "datasets" /
         "fann";
}

struct local_result {
  std::uint64_t epochs = 0;
  double train_mse = 0;
  double seconds = 0;
  bool reached = false;
};

// Trains as the coordinator of a job does (neural_jobs.cpp, load_data and
// prepare_job): min-max scaling for the hidden activation, a shuffle and
// Widrow-Nguyen weights from one generator seeded with the job's seed, then
// compute_gradient and apply_gradient per epoch.
std::optional<local_result> train_locally(const std::filesystem::path& train_path,
                                          double desired_error, std::uint64_t max_epochs) {
  auto read = neural::read_fann_file(train_path.string());
  if (!read) {
    std::fprintf(stderr, "reading %s failed: %s\n", train_path.c_str(), read.err().message.c_str());
    return std::nullopt;
  }
  std::mt19937_64 rng(seed);
  const auto activation = neural::activation_function::sigmoid_symmetric;
  auto scaling = neural::input_scaling::fit_for(*read, activation);
  if (!scaling || !scaling->apply(*read)) {
    std::fprintf(stderr, "input scaling failed\n");
    return std::nullopt;
  }
  const neural::dataset data = neural::shuffle_dataset(*read, rng);
  auto net = neural::network::create(neural::topology::standard(
      {data.num_inputs(), hidden_neurons, data.num_outputs()}, activation, activation));
  if (!net || !net->init_weights(data, rng)) {
    std::fprintf(stderr, "creating the network failed\n");
    return std::nullopt;
  }
  auto trainer = neural::trainer::create(*net, neural::training_params{});
  if (!trainer) {
    std::fprintf(stderr, "creating the trainer failed: %s\n", trainer.err().message.c_str());
    return std::nullopt;
  }

  local_result result;
  const auto start = steady::now();
  while (result.epochs < max_epochs) {
    auto gradient = trainer->compute_gradient(*net, data);
    if (!gradient) {
      return std::nullopt;
    }
    auto epoch = trainer->apply_gradient(*net, *gradient);
    if (!epoch) {
      return std::nullopt;
    }
    ++result.epochs;
    result.train_mse = epoch->mse;
    if (epoch->mse <= desired_error) {
      result.reached = true;
      break;
    }
  }
  result.seconds = std::chrono::duration<double>(steady::now() - start).count();
  return result;
}

std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::optional<mesh::v1::JobStatus> parse_status(const std::string& body) {
  mesh::v1::JobStatus status;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(body, &status, options).ok()) {
    return std::nullopt;
  }
  return status;
}

struct mesh_run {
  bool ok = false;
  std::string error;
  std::uint64_t epochs = 0;
  double train_mse = 0;
  double train_seconds = 0;
  double total_seconds = 0;
};

// Submits one job with `replicas` replicas to `coordinator` and polls it
// until it ends or `timeout` passes.
mesh_run run_job(const mesh::testing::test_node& coordinator, const std::filesystem::path& data_dir,
                 std::uint32_t replicas, double desired_error, std::uint64_t max_epochs,
                 std::chrono::seconds timeout) {
  mesh::v1::JobRequest job;
  job.set_train_path(std::filesystem::absolute(data_dir / "thyroid.train").string());
  job.set_test_path(std::filesystem::absolute(data_dir / "thyroid.test").string());
  job.set_format("fann");
  job.add_hidden_layers(static_cast<std::uint32_t>(hidden_neurons));
  job.set_activation_hidden("sigmoid_symmetric");
  job.set_activation_output("sigmoid_symmetric");
  job.set_algorithm("rprop");
  job.set_max_epochs(max_epochs);
  job.set_desired_error(desired_error);
  job.set_replicas(replicas);
  job.set_seed(seed);

  mesh_run run;
  const std::string api = "http://127.0.0.1:" + std::to_string(coordinator.ports.api);
  const auto start = steady::now();
  auto submitted = mesh::http::post(api + "/v1/jobs", to_json(job), "", 5s);
  if (!submitted || submitted->status != 202) {
    run.error = submitted ? submitted->body : "no reply to POST /v1/jobs";
    return run;
  }
  const auto created = parse_status(submitted->body);
  if (!created) {
    run.error = "invalid JobStatus: " + submitted->body;
    return run;
  }

  std::optional<steady::time_point> trained;
  while (steady::now() - start < timeout) {
    auto reply = mesh::http::get(api + "/v1/jobs/" + created->id(), 2s);
    const auto status = reply && reply->status == 200 ? parse_status(reply->body) : std::nullopt;
    if (status) {
      const bool done_training = status->state() != "queued" &&
                                 (status->state() != "running" || status->epoch() >= max_epochs ||
                                  (status->epoch() > 0 && status->train_mse() <= desired_error));
      if (!trained && done_training) {
        trained = steady::now();
      }
      if (status->state() == "completed" || status->state() == "failed" ||
          status->state() == "cancelled") {
        run.ok = status->state() == "completed";
        run.error = status->error();
        run.epochs = status->epoch();
        run.train_mse = status->train_mse();
        run.total_seconds = std::chrono::duration<double>(steady::now() - start).count();
        run.train_seconds = std::chrono::duration<double>(*trained - start).count();
        return run;
      }
    }
    std::this_thread::sleep_for(5ms);
  }
  run.error = "the job did not end within " + std::to_string(timeout.count()) + " s";
  return run;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Distributed training on thyroid with 1, 2 and 3 replicas"};
  // One replica reaches it after about 300 epochs (Release build, seed 1).
  double desired_error = 0.0072;
  std::uint64_t max_epochs = 5000;
  int repeats = 3;
  std::vector<std::uint32_t> replica_counts{1, 2, 3};
  std::string datasets;
  app.add_option("--datasets", datasets, "Folder with thyroid.train and thyroid.test");
  app.add_option("--desired-error", desired_error, "Train MSE at which every job stops")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-epochs", max_epochs, "Epoch limit of every job")->check(CLI::Range(1, 1000000));
  app.add_option("--repeats", repeats, "Jobs per replica count; the table shows medians")
      ->check(CLI::Range(1, 20));
  app.add_option("--replicas", replica_counts, "Replica counts to measure, at most 3")
      ->delimiter(',')
      ->check(CLI::Range(1, 3));
  CLI11_PARSE(app, argc, argv);

  const auto data_dir = fann_dir(datasets);
  const auto train_path = data_dir / "thyroid.train";
  if (!std::filesystem::exists(train_path) || !std::filesystem::exists(data_dir / "thyroid.test")) {
      std::printf("skipped: thyroid.train or thyroid.test not found in %s; give the folder with "
                "--datasets or MESH_DATASETS_DIR\n",
                data_dir.c_str());
    return 0;
  }

  const auto local = train_locally(train_path, desired_error, max_epochs);
  if (!local) {
    return 1;
  }
  std::printf("local: %llu epochs to train MSE %.6f (desired %.6f%s) in %.3f s, %.3f ms per epoch\n",
              static_cast<unsigned long long>(local->epochs), local->train_mse, desired_error,
              local->reached ? "" : ", NOT reached", local->seconds,
              1000.0 * local->seconds / static_cast<double>(local->epochs));

  mesh::testing::cluster mesh("neural-bench");
  auto& bootstrap = mesh.add("bootstrap", "b0");
  for (int i = 1; i <= 3; ++i) {
    mesh.add("worker", "w" + std::to_string(i));
  }
  if (!mesh.start(bootstrap, {})) {
    std::fprintf(stderr, "bootstrap did not start\n%s", mesh.logs().c_str());
    return 1;
  }
  for (std::size_t i = 1; i < mesh.nodes().size(); ++i) {
    if (!mesh.start(*mesh.nodes()[i], {bootstrap.p2p_address()})) {
      std::fprintf(stderr, "%s did not start\n%s", mesh.nodes()[i]->name.c_str(), mesh.logs().c_str());
      return 1;
    }
  }
  const bool converged = mesh::testing::eventually(30s, [&] {
    return std::all_of(mesh.nodes().begin(), mesh.nodes().end(),
                       [](const auto& node) { return mesh::testing::alive_count(*node) == 4; });
  });
  if (!converged) {
    std::fprintf(stderr, "the 4 nodes did not see each other alive within 30 s\n%s", mesh.logs().c_str());
    return 1;
  }

  std::printf("\n| replicas | epochs | train MSE | train s (median of %d) | ms per epoch | total s | "
              "train speed-up vs 1 replica |\n|---|---|---|---|---|---|---|\n",
              repeats);
  double one_replica = 0;
  int status = 0;
  for (const auto replicas : replica_counts) {
    std::vector<double> train_times;
    std::vector<double> total_times;
    mesh_run last;
    for (int r = 0; r < repeats; ++r) {
      last = run_job(bootstrap, data_dir, replicas, desired_error, max_epochs, 300s);
      if (!last.ok) {
        std::fprintf(stderr, "job with %u replicas failed: %s\n%s", replicas, last.error.c_str(),
                     mesh.logs().c_str());
        return 1;
      }
      if (last.epochs != local->epochs) {
        std::fprintf(stderr, "note: %u replicas took %llu epochs, the local run %llu\n", replicas,
                     static_cast<unsigned long long>(last.epochs),
                     static_cast<unsigned long long>(local->epochs));
        status = 2;
      }
      train_times.push_back(last.train_seconds);
      total_times.push_back(last.total_seconds);
    }
    const double train = median(train_times);
    if (replicas == 1) {
      one_replica = train;
    }
    std::printf("| %u | %llu | %.6f | %.3f | %.2f | %.3f | %s |\n", replicas,
                static_cast<unsigned long long>(last.epochs), last.train_mse, train,
                1000.0 * train / static_cast<double>(last.epochs), median(total_times),
                one_replica > 0 ? std::to_string(one_replica / train).substr(0, 4).c_str() : "-");
    std::fflush(stdout);
  }
  return status;
}
