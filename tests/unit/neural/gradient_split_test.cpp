// A batch epoch split into compute_gradient on shards and one apply_gradient
// from their sum gives the weights and errors of run_epoch on the whole set,
// which is what synchronous data-parallel training of a job relies on.

#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"
#include "test_support.hpp"

namespace mesh::neural {
namespace {

constexpr int epochs = 10;

network make_network(const dataset& data, std::uint64_t seed) {
  auto net = network::create(topology::standard({2, 12, 1}, activation_function::sigmoid_symmetric,
                                                activation_function::sigmoid_symmetric));
  EXPECT_TRUE(net.has_value());
  std::mt19937_64 rng(seed);
  EXPECT_TRUE(net->init_weights(data, rng).has_value());
  return std::move(*net);
}

// Columns [start, start + count) of `data` as a data set of their own.
dataset shard_of(const dataset& data, Eigen::Index start, Eigen::Index count) {
  auto shard = dataset::create(data.inputs().middleCols(start, count),
                               data.outputs().middleCols(start, count));
  EXPECT_TRUE(shard.has_value());
  return std::move(*shard);
}

training_params params_for(training_algorithm algorithm) {
  training_params params;
  params.algorithm = algorithm;
  if (algorithm == training_algorithm::adam) {
    params.adam_learning_rate = 0.02f;
  }
  return params;
}

// Trains `epochs` epochs both ways from the same weights: run_epoch on the
// whole set, and per epoch one gradient per shard (each from its own trainer,
// as on separate replicas), summed, applied by a third trainer. The weights
// may differ by `tolerance` after the first epoch and by ten times that
// later, because rounding differences of the slope sums carry over.
void expect_same_trajectory(training_algorithm algorithm, Eigen::Index cut, double tolerance) {
  const dataset data = testing::make_two_spiral(300, 1.5);
  const training_params params = params_for(algorithm);
  const std::vector<dataset> shards{shard_of(data, 0, cut),
                                    shard_of(data, cut, data.inputs().cols() - cut)};

  network whole = make_network(data, 21);
  network split = whole;
  auto whole_trainer = trainer::create(whole, params);
  auto coordinator = trainer::create(split, params);
  std::vector<trainer> replicas;
  for (std::size_t r = 0; r < shards.size(); ++r) {
    replicas.push_back(std::move(*trainer::create(split, params)));
  }
  ASSERT_TRUE(whole_trainer.has_value());
  ASSERT_TRUE(coordinator.has_value());

  for (int epoch = 0; epoch < epochs; ++epoch) {
    auto expected = whole_trainer->run_epoch(whole, data);
    ASSERT_TRUE(expected.has_value());

    gradient total;
    for (std::size_t r = 0; r < shards.size(); ++r) {
      auto part = replicas[r].compute_gradient(split, shards[r]);
      ASSERT_TRUE(part.has_value());
      EXPECT_EQ(part->samples, shards[r].num_samples());
      ASSERT_TRUE(total.add(*part).has_value());
    }
    EXPECT_EQ(total.samples, data.num_samples());
    auto applied = coordinator->apply_gradient(split, total);
    ASSERT_TRUE(applied.has_value());

    EXPECT_NEAR(applied->mse, expected->mse, 1e-6) << "epoch " << epoch;
    EXPECT_EQ(applied->bit_fail, expected->bit_fail) << "epoch " << epoch;
    const auto a = whole.weights();
    const auto b = split.weights();
    ASSERT_EQ(a.size(), b.size());
    const double allowed = epoch == 0 ? tolerance : 10 * tolerance;
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_NEAR(a[i], b[i], allowed) << "epoch " << epoch << " weight " << i;
    }
  }
  EXPECT_EQ(coordinator->epochs(), static_cast<std::uint64_t>(epochs));
}

class BatchAlgorithm : public ::testing::TestWithParam<training_algorithm> {};

TEST_P(BatchAlgorithm, ShardsAtBlockBoundaryMatchRunEpoch) {
  expect_same_trajectory(GetParam(), static_cast<Eigen::Index>(training_block_samples), 1e-6);
}

TEST_P(BatchAlgorithm, ShardsInsideBlockMatchRunEpoch) {
  expect_same_trajectory(GetParam(), 301, 1e-6);
}

// One replica over the whole set and two replicas whose shards are cut at a
// block boundary sum the same float block slopes in double. So a job
// follows the same trajectory with either replica count, unless rounding the
// double sums to float differs.
TEST_P(BatchAlgorithm, BlockAlignedShardsMatchOneReplica) {
  const dataset data = testing::make_two_spiral(300, 1.5);
  const training_params params = params_for(GetParam());
  const auto cut = static_cast<Eigen::Index>(training_block_samples);
  const dataset first = shard_of(data, 0, cut);
  const dataset second = shard_of(data, cut, data.inputs().cols() - cut);

  network one = make_network(data, 21);
  network two = one;
  auto one_trainer = trainer::create(one, params);
  auto two_trainer = trainer::create(two, params);
  ASSERT_TRUE(one_trainer.has_value());
  ASSERT_TRUE(two_trainer.has_value());

  for (int epoch = 0; epoch < epochs; ++epoch) {
    auto whole = one_trainer->compute_gradient(one, data);
    ASSERT_TRUE(whole.has_value());
    ASSERT_TRUE(one_trainer->apply_gradient(one, *whole).has_value());

    gradient total;
    for (const dataset* shard : {&first, &second}) {
      auto part = two_trainer->compute_gradient(two, *shard);
      ASSERT_TRUE(part.has_value());
      ASSERT_TRUE(total.add(*part).has_value());
    }
    ASSERT_TRUE(two_trainer->apply_gradient(two, total).has_value());

    EXPECT_EQ(one.weights(), two.weights()) << "epoch " << epoch;
  }
}

INSTANTIATE_TEST_SUITE_P(GradientSplit, BatchAlgorithm,
                         ::testing::Values(training_algorithm::batch, training_algorithm::rprop,
                                           training_algorithm::quickprop,
                                           training_algorithm::adam),
                         [](const auto& param_info) { return std::string(to_string(param_info.param)); });

TEST(GradientSplit, ComputeGradientLeavesWeightsUnchanged) {
  const dataset data = testing::make_xor();
  network net = make_network(data, 3);
  const auto before = net.weights();
  auto train = trainer::create(net, params_for(training_algorithm::rprop));
  ASSERT_TRUE(train.has_value());

  auto first = train->compute_gradient(net, data);
  auto second = train->compute_gradient(net, data);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(net.weights(), before);
  EXPECT_EQ(first->slopes, second->slopes);
  EXPECT_EQ(first->slopes.size(), net.num_weights());
  EXPECT_EQ(train->epochs(), 0u);
}

TEST(GradientSplit, ApplyGradientRejectsIncremental) {
  const dataset data = testing::make_xor();
  network net = make_network(data, 3);
  auto train = trainer::create(net, params_for(training_algorithm::incremental));
  ASSERT_TRUE(train.has_value());
  auto total = train->compute_gradient(net, data);
  ASSERT_TRUE(total.has_value());

  auto applied = train->apply_gradient(net, *total);
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.err().code, errc::invalid_argument);
  EXPECT_NE(applied.err().message.find("incremental"), std::string::npos) << applied.err().message;
}

TEST(GradientSplit, ApplyGradientRejectsWrongSize) {
  const dataset data = testing::make_xor();
  network net = make_network(data, 3);
  auto train = trainer::create(net, params_for(training_algorithm::rprop));
  ASSERT_TRUE(train.has_value());

  gradient wrong;
  wrong.slopes.assign(net.num_weights() + 1, 0.0);
  wrong.samples = 4;
  auto applied = train->apply_gradient(net, wrong);
  ASSERT_FALSE(applied.has_value());
  EXPECT_NE(applied.err().message.find(std::to_string(net.num_weights() + 1)), std::string::npos)
      << applied.err().message;

  gradient empty;
  empty.slopes.assign(net.num_weights(), 0.0);
  EXPECT_FALSE(train->apply_gradient(net, empty).has_value());
}

TEST(GradientSplit, AddRejectsOtherSize) {
  gradient a;
  a.slopes.assign(3, 1.0);
  a.samples = 1;
  gradient b;
  b.slopes.assign(4, 1.0);
  b.samples = 1;
  EXPECT_FALSE(a.add(b).has_value());

  gradient empty;
  ASSERT_TRUE(empty.add(a).has_value());
  EXPECT_EQ(empty.slopes, a.slopes);
  EXPECT_EQ(empty.samples, 1u);
}

}  // namespace
}  // namespace mesh::neural
