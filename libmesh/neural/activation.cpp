// Scalar activation functions and their derivatives (FANN 2.2 semantics).

#include "mesh/neural/activation.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

namespace mesh::neural {
namespace {

struct activation_name {
  activation_function function;
  std::string_view name;
};

constexpr std::array<activation_name, 18> activation_names{{
    {activation_function::linear, "linear"},
    {activation_function::threshold, "threshold"},
    {activation_function::threshold_symmetric, "threshold_symmetric"},
    {activation_function::sigmoid, "sigmoid"},
    {activation_function::sigmoid_stepwise, "sigmoid_stepwise"},
    {activation_function::sigmoid_symmetric, "sigmoid_symmetric"},
    {activation_function::sigmoid_symmetric_stepwise, "sigmoid_symmetric_stepwise"},
    {activation_function::gaussian, "gaussian"},
    {activation_function::gaussian_symmetric, "gaussian_symmetric"},
    {activation_function::elliot, "elliot"},
    {activation_function::elliot_symmetric, "elliot_symmetric"},
    {activation_function::linear_piece, "linear_piece"},
    {activation_function::linear_piece_symmetric, "linear_piece_symmetric"},
    {activation_function::sin_symmetric, "sin_symmetric"},
    {activation_function::cos_symmetric, "cos_symmetric"},
    {activation_function::sin, "sin"},
    {activation_function::cos, "cos"},
    {activation_function::relu, "relu"},
}};

// FANN's stepwise functions interpolate linearly between six points of the
// smooth function: where the sigmoid 1 / (1 + exp(-2x)) is 0.005, 0.05,
// 0.25, 0.75, 0.95 and 0.995, that is x = ln(p / (1 - p)) / 2.
constexpr std::array<double, 6> stepwise_levels{0.005, 0.05, 0.25, 0.75, 0.95, 0.995};

scalar stepwise_sigmoid(scalar sum) {
  static const auto breakpoints = [] {
    std::array<double, 6> x{};
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = std::log(stepwise_levels[i] / (1.0 - stepwise_levels[i])) / 2.0;
    }
    return x;
  }();

  const double s = sum;
  if (s < breakpoints.front()) {
    return 0.0f;
  }
  if (s >= breakpoints.back()) {
    return 1.0f;
  }
  std::size_t i = 0;
  while (s >= breakpoints[i + 1]) {
    ++i;
  }
  const double t = (s - breakpoints[i]) / (breakpoints[i + 1] - breakpoints[i]);
  return static_cast<scalar>(stepwise_levels[i] + t * (stepwise_levels[i + 1] - stepwise_levels[i]));
}

}  // namespace

std::string_view to_string(activation_function function) noexcept {
  for (const auto& entry : activation_names) {
    if (entry.function == function) {
      return entry.name;
    }
  }
  return "unknown";
}

result<activation_function> parse_activation_function(std::string_view name) {
  std::string accepted;
  for (const auto& entry : activation_names) {
    if (entry.name == name) {
      return entry.function;
    }
    accepted += accepted.empty() ? "" : ", ";
    accepted += entry.name;
  }
  return fail(errc::invalid_argument, "unknown activation function '" + std::string(name) +
                                          "'; accepted: " + accepted);
}

std::optional<activation_function> activation_from_fann_code(unsigned code) noexcept {
  for (const auto& entry : activation_names) {
    if (entry.function != activation_function::relu && static_cast<unsigned>(entry.function) == code) {
      return entry.function;
    }
  }
  return std::nullopt;
}

std::optional<unsigned> fann_code(activation_function function) noexcept {
  if (function == activation_function::relu) {
    return std::nullopt;
  }
  return static_cast<unsigned>(function);
}

bool is_symmetric(activation_function function) noexcept {
  switch (function) {
    case activation_function::linear_piece_symmetric:
    case activation_function::threshold_symmetric:
    case activation_function::sigmoid_symmetric:
    case activation_function::sigmoid_symmetric_stepwise:
    case activation_function::elliot_symmetric:
    case activation_function::gaussian_symmetric:
    case activation_function::sin_symmetric:
    case activation_function::cos_symmetric:
      return true;
    default:
      return false;
  }
}

bool is_trainable(activation_function function) noexcept {
  return function != activation_function::threshold &&
         function != activation_function::threshold_symmetric;
}

value_range output_range(activation_function function) noexcept {
  switch (function) {
    case activation_function::threshold:
    case activation_function::sigmoid:
    case activation_function::sigmoid_stepwise:
    case activation_function::gaussian:
    case activation_function::elliot:
    case activation_function::linear_piece:
    case activation_function::sin:
    case activation_function::cos:
      return {0.0f, 1.0f};
    default:
      return {-1.0f, 1.0f};
  }
}

scalar activate(activation_function function, scalar sum) noexcept {
  switch (function) {
    case activation_function::linear:
      return sum;
    case activation_function::threshold:
      return sum < 0.0f ? 0.0f : 1.0f;
    case activation_function::threshold_symmetric:
      return sum < 0.0f ? -1.0f : 1.0f;
    case activation_function::sigmoid:
      return 1.0f / (1.0f + std::exp(-2.0f * sum));
    case activation_function::sigmoid_stepwise:
      return stepwise_sigmoid(sum);
    case activation_function::sigmoid_symmetric:
      return 2.0f / (1.0f + std::exp(-2.0f * sum)) - 1.0f;
    case activation_function::sigmoid_symmetric_stepwise:
      return 2.0f * stepwise_sigmoid(sum) - 1.0f;
    case activation_function::gaussian:
      return std::exp(-sum * sum);
    case activation_function::gaussian_symmetric:
      return 2.0f * std::exp(-sum * sum) - 1.0f;
    case activation_function::elliot:
      return (sum / 2.0f) / (1.0f + std::fabs(sum)) + 0.5f;
    case activation_function::elliot_symmetric:
      return sum / (1.0f + std::fabs(sum));
    case activation_function::linear_piece:
      return std::clamp(sum, 0.0f, 1.0f);
    case activation_function::linear_piece_symmetric:
      return std::clamp(sum, -1.0f, 1.0f);
    case activation_function::sin_symmetric:
      return std::sin(sum);
    case activation_function::cos_symmetric:
      return std::cos(sum);
    case activation_function::sin:
      return std::sin(sum) / 2.0f + 0.5f;
    case activation_function::cos:
      return std::cos(sum) / 2.0f + 0.5f;
    case activation_function::relu:
      return sum > 0.0f ? sum : 0.0f;
  }
  return 0.0f;
}

scalar derivative(activation_function function, scalar steepness, scalar value,
                  scalar sum) noexcept {
  const scalar magnitude = 1.0f + std::fabs(sum);
  switch (function) {
    case activation_function::linear:
    case activation_function::linear_piece:
    case activation_function::linear_piece_symmetric:
      return steepness;
    case activation_function::sigmoid:
    case activation_function::sigmoid_stepwise: {
      const scalar v = std::clamp(value, 0.01f, 0.99f);
      return 2.0f * steepness * v * (1.0f - v);
    }
    case activation_function::sigmoid_symmetric:
    case activation_function::sigmoid_symmetric_stepwise: {
      const scalar v = std::clamp(value, -0.98f, 0.98f);
      return steepness * (1.0f - v * v);
    }
    case activation_function::gaussian:
      return -2.0f * sum * value * steepness;
    case activation_function::gaussian_symmetric:
      return -2.0f * sum * (value + 1.0f) * steepness;
    case activation_function::elliot:
      return steepness / (2.0f * magnitude * magnitude);
    case activation_function::elliot_symmetric:
      return steepness / (magnitude * magnitude);
    case activation_function::sin_symmetric:
      return steepness * std::cos(sum);
    case activation_function::cos_symmetric:
      return -steepness * std::sin(sum);
    case activation_function::sin:
      return steepness * std::cos(sum) / 2.0f;
    case activation_function::cos:
      return -steepness * std::sin(sum) / 2.0f;
    case activation_function::relu:
      return sum > 0.0f ? steepness : 0.0f;
    case activation_function::threshold:
    case activation_function::threshold_symmetric:
      return 0.0f;
  }
  return 0.0f;
}

}  // namespace mesh::neural
