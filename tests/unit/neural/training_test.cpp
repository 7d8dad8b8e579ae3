// Every training algorithm learns XOR, 3-bit parity and a two-spiral
// problem; training is reproducible from a seed and resumable in slices.

#include <random>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"
#include "test_support.hpp"

namespace mesh::neural {
namespace {

struct algorithm_case {
  training_algorithm algorithm;
  training_params params;
};

std::vector<algorithm_case> all_algorithms() {
  std::vector<algorithm_case> cases;
  for (training_algorithm algorithm :
       {training_algorithm::incremental, training_algorithm::batch, training_algorithm::rprop,
        training_algorithm::quickprop, training_algorithm::adam}) {
    training_params params;
    params.algorithm = algorithm;
    if (algorithm == training_algorithm::adam) {
      params.adam_learning_rate = 0.02f;
    }
    if (algorithm == training_algorithm::batch || algorithm == training_algorithm::quickprop) {
      params.learning_rate = 2.0f;
    }
    if (algorithm == training_algorithm::incremental) {
      params.learning_rate = 0.1f;
    }
    cases.push_back({algorithm, params});
  }
  return cases;
}

// Trains a fresh network and returns the outputs on the training inputs.
matrix train_and_run(const dataset& data, const std::vector<std::size_t>& sizes,
                     const training_params& params, std::uint64_t max_epochs,
                     double desired_error, std::uint64_t seed) {
  auto net = network::create(topology::standard(sizes, activation_function::sigmoid_symmetric,
                                                activation_function::sigmoid_symmetric));
  EXPECT_TRUE(net.has_value());
  std::mt19937_64 rng(seed);
  EXPECT_TRUE(net->init_weights(data, rng).has_value());
  auto train = trainer::create(*net, params);
  EXPECT_TRUE(train.has_value());
  auto summary = train->train(*net, data, stop_criteria{max_epochs, desired_error, stop_function::mse});
  EXPECT_TRUE(summary.has_value());
  return *net->run_batch(data.inputs());
}

class EveryAlgorithm : public ::testing::TestWithParam<training_algorithm> {
 protected:
  [[nodiscard]] training_params params() const {
    for (const auto& entry : all_algorithms()) {
      if (entry.algorithm == GetParam()) {
        return entry.params;
      }
    }
    return {};
  }
};

TEST_P(EveryAlgorithm, LearnsXor) {
  const dataset data = testing::make_xor();
  const matrix outputs = train_and_run(data, {2, 4, 1}, params(), 5000, 0.001, 11);
  EXPECT_EQ(testing::sign_accuracy(outputs, data.outputs()), 1.0);
}

TEST_P(EveryAlgorithm, LearnsParity3) {
  const dataset data = testing::make_parity(3);
  const matrix outputs = train_and_run(data, {3, 6, 1}, params(), 10000, 0.001, 5);
  EXPECT_EQ(testing::sign_accuracy(outputs, data.outputs()), 1.0);
}

TEST_P(EveryAlgorithm, LearnsTwoSpiral) {
  // One and a half turns per spiral, 60 points each: far from linearly
  // separable, yet small enough for a Debug build.
  const dataset data = testing::make_two_spiral(60, 1.5);
  const matrix outputs = train_and_run(data, {2, 16, 16, 1}, params(), 3000, 0.002, 3);
  // Chance is 0.5; a network that did not learn the spirals stays far below 0.95.
  EXPECT_GE(testing::sign_accuracy(outputs, data.outputs()), 0.95);
}

INSTANTIATE_TEST_SUITE_P(Training, EveryAlgorithm,
                         ::testing::Values(training_algorithm::incremental,
                                           training_algorithm::batch, training_algorithm::rprop,
                                           training_algorithm::quickprop,
                                           training_algorithm::adam),
                         [](const ::testing::TestParamInfo<training_algorithm>& param_info) {
                           return std::string(to_string(param_info.param));
                         });

TEST(Training, SameSeedGivesSameWeights) {
  const dataset data = testing::make_parity(3);
  training_params params;
  auto first = network::create(topology::standard({3, 5, 1}, activation_function::sigmoid_symmetric,
                                                  activation_function::sigmoid_symmetric));
  auto second = first;
  std::mt19937_64 rng_a(42);
  std::mt19937_64 rng_b(42);
  first->randomize_weights(rng_a);
  second->randomize_weights(rng_b);
  ASSERT_EQ(first->weights(), second->weights());

  auto train_a = trainer::create(*first, params);
  auto train_b = trainer::create(*second, params);
  ASSERT_TRUE(train_a->train(*first, data, stop_criteria{50, 0.0, stop_function::mse}).has_value());
  ASSERT_TRUE(train_b->train(*second, data, stop_criteria{50, 0.0, stop_function::mse}).has_value());
  EXPECT_EQ(first->weights(), second->weights());

  std::mt19937_64 rng_c(43);
  auto third = network::create(first->layout());
  third->randomize_weights(rng_c);
  std::mt19937_64 rng_d(42);
  auto fourth = network::create(first->layout());
  fourth->randomize_weights(rng_d);
  EXPECT_NE(third->weights(), fourth->weights());
}

TEST(Training, SlicedEqualsContinuous) {
  const dataset data = testing::make_xor();
  for (const auto& [algorithm, params] : all_algorithms()) {
    auto whole = network::create(topology::standard({2, 3, 1}, activation_function::sigmoid_symmetric,
                                                    activation_function::sigmoid_symmetric));
    std::mt19937_64 rng(9);
    whole->randomize_weights(rng);
    auto sliced = whole;

    auto whole_trainer = trainer::create(*whole, params);
    ASSERT_TRUE(whole_trainer->train(*whole, data, stop_criteria{40, 0.0, stop_function::mse}).has_value());

    auto sliced_trainer = trainer::create(*sliced, params);
    for (int slice = 0; slice < 4; ++slice) {
      // Taking the weights out and putting them back, as replica averaging
      // does, must not disturb the trainer's state.
      const std::vector<scalar> weights = sliced->weights();
      ASSERT_TRUE(sliced->set_weights(weights).has_value());
      ASSERT_TRUE(sliced_trainer->train(*sliced, data, stop_criteria{10, 0.0, stop_function::mse})
                      .has_value());
    }
    EXPECT_EQ(sliced_trainer->epochs(), 40u);
    EXPECT_EQ(whole->weights(), sliced->weights()) << to_string(algorithm);
  }
}

TEST(Training, StopsAtDesiredError) {
  const dataset data = testing::make_xor();
  auto net = network::create(topology::standard({2, 4, 1}, activation_function::sigmoid_symmetric,
                                                activation_function::sigmoid_symmetric));
  std::mt19937_64 rng(1);
  net->randomize_weights(rng);
  auto train = trainer::create(*net, training_params{});
  auto summary = train->train(*net, data, stop_criteria{5000, 0.01, stop_function::mse});
  ASSERT_TRUE(summary.has_value());
  EXPECT_TRUE(summary->desired_error_reached);
  EXPECT_LT(summary->epochs, 5000u);
  EXPECT_LE(summary->last.mse, 0.01);

  auto bits = train->train(*net, data, stop_criteria{5000, 0.0, stop_function::bit});
  ASSERT_TRUE(bits.has_value());
  EXPECT_EQ(bits->last.bit_fail, 0u);
}

TEST(Training, AverageWeightsIsElementMean) {
  const std::vector<std::vector<float>> replicas{{1.0f, 2.0f, 3.0f}, {3.0f, 4.0f, -3.0f}};
  auto mean = average_weights(std::span<const std::vector<float>>(replicas));
  ASSERT_TRUE(mean.has_value());
  EXPECT_EQ(*mean, (std::vector<float>{2.0f, 3.0f, 0.0f}));

  const std::vector<std::vector<float>> mismatched{{1.0f}, {1.0f, 2.0f}};
  auto rejected = average_weights(std::span<const std::vector<float>>(mismatched));
  ASSERT_FALSE(rejected.has_value());
  EXPECT_EQ(rejected.err().code, errc::invalid_argument);
}

TEST(Training, RejectsInvalidParameters) {
  auto net = network::create(topology::standard({2, 2, 1}, activation_function::sigmoid,
                                                activation_function::threshold));
  auto untrainable = trainer::create(*net, training_params{});
  ASSERT_FALSE(untrainable.has_value());
  EXPECT_NE(untrainable.err().message.find("threshold"), std::string::npos);

  training_params params;
  params.rprop_decrease_factor = 1.5f;
  auto invalid = training_params(params).validate();
  ASSERT_FALSE(invalid.has_value());
  EXPECT_NE(invalid.err().message.find("rprop_decrease_factor"), std::string::npos);
}

}  // namespace
}  // namespace mesh::neural
