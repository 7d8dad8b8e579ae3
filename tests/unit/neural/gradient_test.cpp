// Activation derivatives and network slopes against central finite
// differences.

#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "mesh/neural/activation.hpp"
#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"
#include "test_support.hpp"

namespace mesh::neural {
namespace {

// Every trainable function whose derivative is the derivative of the
// function itself (the stepwise ones use the smooth sigmoid's, as in FANN).
const std::vector<activation_function> smooth_functions{
    activation_function::linear,          activation_function::sigmoid,
    activation_function::sigmoid_symmetric, activation_function::gaussian,
    activation_function::gaussian_symmetric, activation_function::elliot,
    activation_function::elliot_symmetric, activation_function::linear_piece,
    activation_function::linear_piece_symmetric, activation_function::sin_symmetric,
    activation_function::cos_symmetric,   activation_function::sin,
    activation_function::cos,             activation_function::relu,
};

double value_at(activation_function function, double steepness, double net) {
  return activate(function, static_cast<scalar>(steepness * net));
}

TEST(ActivationDerivative, MatchesFiniteDifferences) {
  // Nets chosen inside every function's unclipped, non-kinked region.
  const std::vector<double> nets{-0.7, -0.3, 0.2, 0.45, 0.8};
  const std::vector<double> steepnesses{0.5, 1.0};
  const double h = 1e-3;

  for (activation_function function : smooth_functions) {
    for (double steepness : steepnesses) {
      for (double net : nets) {
        // FANN gives linear_piece slope `steepness` on its flat part too, so
        // only its linear part has this derivative.
        if (function == activation_function::linear_piece && net < 0.0) {
          continue;
        }
        const double numeric =
            (value_at(function, steepness, net + h) - value_at(function, steepness, net - h)) /
            (2.0 * h);
        const auto sum = static_cast<scalar>(steepness * net);
        const double analytic = derivative(function, static_cast<scalar>(steepness),
                                           activate(function, sum), sum);
        EXPECT_NEAR(analytic, numeric, 2e-3)
            << to_string(function) << " steepness=" << steepness << " net=" << net;
      }
    }
  }
}

TEST(ActivationDerivative, StepwiseUsesSigmoidDerivative) {
  for (scalar value : {0.1f, 0.5f, 0.9f}) {
    EXPECT_FLOAT_EQ(derivative(activation_function::sigmoid_stepwise, 0.5f, value, 0.0f),
                    derivative(activation_function::sigmoid, 0.5f, value, 0.0f));
    EXPECT_FLOAT_EQ(
        derivative(activation_function::sigmoid_symmetric_stepwise, 0.5f, value - 0.5f, 0.0f),
        derivative(activation_function::sigmoid_symmetric, 0.5f, value - 0.5f, 0.0f));
  }
}

TEST(ActivationDerivative, ClipsSaturatedSigmoidLikeFann) {
  // FANN clips the value to [0.01, 0.99] so that a saturated neuron still learns.
  EXPECT_NEAR(derivative(activation_function::sigmoid, 1.0f, 1.0f, 20.0f), 2.0 * 0.99 * 0.01,
              1e-6);
  EXPECT_NEAR(derivative(activation_function::sigmoid_symmetric, 1.0f, -1.0f, -20.0f),
              1.0 - 0.98 * 0.98, 1e-6);
}

TEST(ActivationFunction, StepwiseApproximatesSigmoid) {
  for (scalar sum = -3.0f; sum <= 3.0f; sum += 0.25f) {
    EXPECT_NEAR(activate(activation_function::sigmoid_stepwise, sum),
                activate(activation_function::sigmoid, sum), 0.035)
        << "sum=" << sum;
  }
}

TEST(ActivationFunction, NamesRoundTrip) {
  for (activation_function function : smooth_functions) {
    auto parsed = parse_activation_function(to_string(function));
    ASSERT_TRUE(parsed.has_value()) << to_string(function);
    EXPECT_EQ(*parsed, function);
  }
  auto unknown = parse_activation_function("softmax");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.err().message.find("softmax"), std::string::npos);
}

// The error whose negative gradient FANN's slopes are (linear error
// function), summed over samples and outputs, with d = desired - actual:
// d^2 / 2, or (d / 2)^2 for symmetric outputs, whose error FANN halves.
double total_error(const network& net, const dataset& data) {
  const matrix outputs = *net.run_batch(data.inputs());
  const matrix differences = data.outputs() - outputs;
  const double squared = differences.cast<double>().squaredNorm();
  return is_symmetric(net.layout().layers.back().activation) ? squared / 4.0 : squared / 2.0;
}

TEST(NetworkGradient, BatchSlopesMatchFiniteDifferences) {
  const dataset data = testing::make_parity(3);
  for (activation_function hidden : smooth_functions) {
    // FANN gives the linear_piece functions slope `steepness` even where
    // they are flat, so only the smooth ones have an exact network gradient.
    if (hidden == activation_function::linear_piece ||
        hidden == activation_function::linear_piece_symmetric) {
      continue;
    }
    for (activation_function output :
         {activation_function::sigmoid, activation_function::sigmoid_symmetric,
          activation_function::linear}) {
      auto net = network::create(topology::standard({3, 4, 3, 1}, hidden, output, 0.8f));
      ASSERT_TRUE(net.has_value());
      std::mt19937_64 rng(7);
      net->randomize_weights(rng, -0.5f, 0.5f);
      const std::vector<scalar> before = net->weights();

      // One batch epoch moves every weight by learning_rate / N * slope.
      training_params params;
      params.algorithm = training_algorithm::batch;
      params.error = error_function::linear;
      params.learning_rate = 1.0f;
      auto train = trainer::create(*net, params);
      ASSERT_TRUE(train.has_value());
      network stepped = *net;
      ASSERT_TRUE(train->run_epoch(stepped, data).has_value());
      const std::vector<scalar> after = stepped.weights();

      const double samples = static_cast<double>(data.num_samples());
      // relu has a kink at 0 that a wide step can cross.
      const double h = hidden == activation_function::relu ? 1e-3 : 1e-2;
      for (std::size_t i = 0; i < before.size(); ++i) {
        const double slope = (static_cast<double>(after[i]) - before[i]) * samples;
        std::vector<scalar> shifted = before;
        shifted[i] = static_cast<scalar>(before[i] + h);
        ASSERT_TRUE(net->set_weights(shifted).has_value());
        const double plus = total_error(*net, data);
        shifted[i] = static_cast<scalar>(before[i] - h);
        ASSERT_TRUE(net->set_weights(shifted).has_value());
        const double minus = total_error(*net, data);
        const double numeric = -(plus - minus) / (2.0 * h);
        EXPECT_NEAR(slope, numeric, 2e-3 + 0.02 * std::fabs(numeric))
            << "hidden=" << to_string(hidden) << " output=" << to_string(output)
            << " weight=" << i;
      }
    }
  }
}

}  // namespace
}  // namespace mesh::neural
