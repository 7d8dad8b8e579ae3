// Side-by-side comparison of mesh::neural with libfann 2.2 (floatfann, the
// library pkg-config's "fann" links) in one process.
//
// Workloads, each on the FANN benchmark sets mushroom, thyroid and robot
// (NAME.train to train, NAME.test to measure), same topology, same initial
// weights (ours exported to .net and loaded by libfann), iRPROP- with FANN's
// default parameters, same number of epochs:
//   1. training time per epoch        ours / libfann, target <= 1.0
//   2. MSE on the test set after it   ours / libfann, target <= 1.05
//   3. inference samples per second   ours / libfann, target >= 1.0, for a
//      whole batch (run_batch) and for one sample at a time (run) against
//      fann_run in a loop.
// A set whose files are absent is skipped with a message. The data folder is
// $MESH_DATASETS_DIR, else <source>/../shared/datasets/fann, else argv[1].

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "mesh/neural/codec.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"

#ifdef MESH_HAVE_FANN
#include <floatfann.h>
#endif

namespace {

using namespace mesh::neural;
using clock_type = std::chrono::steady_clock;

struct workload {
  const char* name;
  std::size_t hidden;
  int epochs;
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::filesystem::path find_datasets(int argc, char** argv) {
  if (const char* env = std::getenv("MESH_DATASETS_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  // This file is <source>/bench/neural_vs_fann.cpp.
  const auto source = std::filesystem::path(__FILE__).parent_path().parent_path();
  const auto beside = source / ".." / "shared" / "datasets" / "fann";
  if (std::filesystem::is_directory(beside)) {
    return beside;
  }
  return argc > 1 ? std::filesystem::path(argv[1]) : beside;
}

#ifdef MESH_HAVE_FANN

void run_workload(const std::filesystem::path& dir, const workload& work) {
  const auto train_path = dir / (std::string(work.name) + ".train");
  const auto test_path = dir / (std::string(work.name) + ".test");
  if (!std::filesystem::exists(train_path) || !std::filesystem::exists(test_path)) {
    std::printf("%-9s skipped: %s or %s is absent\n", work.name, train_path.c_str(),
                test_path.c_str());
    return;
  }
  auto train = read_fann_file(train_path);
  auto test = read_fann_file(test_path);
  if (!train || !test) {
    std::printf("%-9s skipped: %s\n", work.name,
                (!train ? train.err() : test.err()).message.c_str());
    return;
  }

  // Same shape and initial weights on both sides.
  auto net = network::create(topology::standard({train->num_inputs(), work.hidden, train->num_outputs()},
                                                activation_function::sigmoid_symmetric,
                                                activation_function::sigmoid));
  std::mt19937_64 rng(2024);
  net->randomize_weights(rng);
  const auto net_path = std::filesystem::temp_directory_path() / "bench_neural_vs_fann.net";
  training_params params;
  if (!save_fann_net(*net, net_path, params)) {
    std::printf("%-9s skipped: cannot write %s\n", work.name, net_path.c_str());
    return;
  }
  struct fann* peer = fann_create_from_file(net_path.c_str());
  std::filesystem::remove(net_path);
  struct fann_train_data* peer_train = fann_read_train_from_file(train_path.c_str());
  struct fann_train_data* peer_test = fann_read_train_from_file(test_path.c_str());
  if (peer == nullptr || peer_train == nullptr || peer_test == nullptr) {
    std::printf("%-9s skipped: libfann could not load the network or the data\n", work.name);
    return;
  }

  // 1. Training.
  auto ours_trainer = trainer::create(*net, params);
  auto start = clock_type::now();
  for (int epoch = 0; epoch < work.epochs; ++epoch) {
    (void)ours_trainer->run_epoch(*net, *train);
  }
  const double ours_train = seconds_since(start) / work.epochs;

  start = clock_type::now();
  for (int epoch = 0; epoch < work.epochs; ++epoch) {
    fann_train_epoch(peer, peer_train);
  }
  const double fann_train = seconds_since(start) / work.epochs;

  // 2. Test MSE.
  const double ours_mse = test_network(*net, *test)->mse;
  const double fann_mse = fann_test_data(peer, peer_test);

  // 3. Inference: repeat the test set until about 0.3 s have passed. The
  // volatile sink keeps the compiler from dropping unused results.
  volatile scalar sink = 0.0f;
  const auto samples = static_cast<double>(test->num_samples());
  int rounds = 0;
  start = clock_type::now();
  do {
    sink = net->run_batch(test->inputs())->sum();
    ++rounds;
  } while (seconds_since(start) < 0.3);
  const double ours_batch_rate = rounds * samples / seconds_since(start);

  rounds = 0;
  start = clock_type::now();
  do {
    for (Eigen::Index i = 0; i < test->inputs().cols(); ++i) {
      const auto output = net->run(std::span<const scalar>(test->inputs().col(i).data(),
                                                           test->num_inputs()));
      sink = output->front();
    }
    ++rounds;
  } while (seconds_since(start) < 0.3);
  const double ours_single_rate = rounds * samples / seconds_since(start);

  rounds = 0;
  start = clock_type::now();
  do {
    for (unsigned i = 0; i < peer_test->num_data; ++i) {
      const fann_type* output = fann_run(peer, peer_test->input[i]);
      sink = output[0];
    }
    ++rounds;
  } while (seconds_since(start) < 0.3);
  const double fann_rate = rounds * samples / seconds_since(start);

  std::printf(
      "%-9s %3zu-%zu-%zu %4d epochs | epoch ms ours %8.3f fann %8.3f ratio %5.2f | test MSE ours "
      "%.5f fann %.5f ratio %5.2f | inference/s batch %10.0f single %9.0f fann %9.0f ratios %5.2f "
      "%5.2f\n",
      work.name, train->num_inputs(), work.hidden, train->num_outputs(), work.epochs,
      ours_train * 1e3, fann_train * 1e3, ours_train / fann_train, ours_mse, fann_mse,
      ours_mse / fann_mse, ours_batch_rate, ours_single_rate, fann_rate,
      ours_batch_rate / fann_rate, ours_single_rate / fann_rate);

  (void)sink;
  fann_destroy_train(peer_train);
  fann_destroy_train(peer_test);
  fann_destroy(peer);
}

#endif

}  // namespace

int main(int argc, char** argv) {
#ifdef MESH_HAVE_FANN
  const std::filesystem::path dir = find_datasets(argc, argv);
  std::printf("data sets: %s\n", dir.c_str());
  for (const workload& work : {workload{"mushroom", 32, 100}, workload{"thyroid", 32, 300},
                               workload{"robot", 32, 1000}}) {
    run_workload(dir, work);
  }
  return 0;
#else
  (void)argc;
  (void)argv;
  std::printf("libfann not found at configure time (MESH_HAVE_FANN unset): nothing to compare\n");
  return 0;
#endif
}
