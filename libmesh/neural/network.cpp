// The multilayer perceptron: topology checks, weight access, initialization
// and the forward pass.

#include "mesh/neural/network.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "mesh/neural/dataset.hpp"
#include "neural/kernels.hpp"

namespace mesh::neural {
namespace {

// Uniform value in [low, high) from 53 random bits, so the sequence for a
// seed is the same with every standard library.
scalar uniform(std::mt19937_64& rng, scalar low, scalar high) {
  const double unit = static_cast<double>(rng() >> 11) * 0x1.0p-53;
  return static_cast<scalar>(static_cast<double>(low) +
                             (static_cast<double>(high) - static_cast<double>(low)) * unit);
}

}  // namespace

topology topology::standard(const std::vector<std::size_t>& sizes, activation_function hidden,
                            activation_function output, scalar steepness) {
  topology result;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const bool is_output = i + 1 == sizes.size();
    result.layers.push_back(layer_spec{sizes[i], is_output ? output : hidden, steepness});
  }
  if (!result.layers.empty()) {
    result.layers.front().activation = activation_function::linear;
  }
  return result;
}

result<void> topology::validate() const {
  if (layers.size() < 2 || layers.size() > max_layers) {
    return fail(errc::invalid_argument, "topology has " + std::to_string(layers.size()) +
                                            " layers; accepted: 2 to " +
                                            std::to_string(max_layers));
  }

  std::size_t weights = 0;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const layer_spec& layer = layers[i];
    if (layer.size == 0 || layer.size > max_layer_size) {
      return fail(errc::invalid_argument, "layer " + std::to_string(i) + " has " +
                                              std::to_string(layer.size) +
                                              " neurons; accepted: 1 to " +
                                              std::to_string(max_layer_size));
    }
    if (i == 0) {
      continue;
    }
    if (!(std::isfinite(layer.steepness) && layer.steepness > 0.0f)) {
      return fail(errc::invalid_argument, "layer " + std::to_string(i) + " has steepness " +
                                              std::to_string(layer.steepness) +
                                              "; accepted: a finite value > 0");
    }
    if (to_string(layer.activation) == "unknown") {
      return fail(errc::invalid_argument,
                  "layer " + std::to_string(i) + " has an unknown activation code " +
                      std::to_string(static_cast<unsigned>(layer.activation)));
    }
    weights += layer.size * (layers[i - 1].size + 1);
    if (weights > max_weights) {
      return fail(errc::too_large, "topology has more than " + std::to_string(max_weights) +
                                       " weights");
    }
  }
  return {};
}

std::size_t topology::num_weights() const noexcept {
  std::size_t weights = 0;
  for (std::size_t i = 1; i < layers.size(); ++i) {
    weights += layers[i].size * (layers[i - 1].size + 1);
  }
  return weights;
}

result<network> network::create(const topology& spec) {
  if (auto valid = spec.validate(); !valid) {
    return valid.err();
  }

  network net;
  net.topology_ = spec;
  net.num_weights_ = spec.num_weights();
  for (std::size_t i = 1; i < spec.layers.size(); ++i) {
    const auto rows = static_cast<Eigen::Index>(spec.layers[i].size);
    const auto cols = static_cast<Eigen::Index>(spec.layers[i - 1].size + 1);
    net.weights_.push_back(weight_matrix::Zero(rows, cols));
  }
  return net;
}

std::vector<scalar> network::weights() const {
  std::vector<scalar> flat;
  flat.reserve(num_weights_);
  for (const weight_matrix& layer : weights_) {
    flat.insert(flat.end(), layer.data(), layer.data() + layer.size());
  }
  return flat;
}

result<void> network::set_weights(std::span<const scalar> weights) {
  if (weights.size() != num_weights_) {
    return fail(errc::invalid_argument, "set_weights: got " + std::to_string(weights.size()) +
                                            " weights, the network has " +
                                            std::to_string(num_weights_));
  }
  for (std::size_t i = 0; i < weights.size(); ++i) {
    if (!std::isfinite(weights[i])) {
      return fail(errc::invalid_argument,
                  "set_weights: weight " + std::to_string(i) + " is not finite");
    }
  }

  const scalar* source = weights.data();
  for (weight_matrix& layer : weights_) {
    std::memcpy(layer.data(), source, static_cast<std::size_t>(layer.size()) * sizeof(scalar));
    source += layer.size();
  }
  return {};
}

void network::randomize_weights(std::mt19937_64& rng, scalar min_weight, scalar max_weight) {
  for (weight_matrix& layer : weights_) {
    for (Eigen::Index i = 0; i < layer.size(); ++i) {
      layer.data()[i] = uniform(rng, min_weight, max_weight);
    }
  }
}

result<void> network::init_weights(const dataset& data, std::mt19937_64& rng) {
  if (data.num_inputs() != num_inputs()) {
    return fail(errc::invalid_argument, "init_weights: data set has " +
                                            std::to_string(data.num_inputs()) +
                                            " inputs, the network " + std::to_string(num_inputs()));
  }

  const scalar smallest = data.inputs().minCoeff();
  const scalar largest = data.inputs().maxCoeff();
  if (!(largest > smallest)) {
    return fail(errc::invalid_argument,
                "init_weights: every input value is " + std::to_string(smallest) +
                    ", so Widrow-Nguyen has no input range to scale by");
  }

  std::size_t hidden_neurons = 0;
  for (std::size_t i = 1; i + 1 < topology_.layers.size(); ++i) {
    hidden_neurons += topology_.layers[i].size;
  }
  const double scale =
      std::pow(0.7 * static_cast<double>(hidden_neurons), 1.0 / static_cast<double>(num_inputs())) /
      static_cast<double>(largest - smallest);
  const auto scale_factor = static_cast<scalar>(scale);

  for (weight_matrix& layer : weights_) {
    const Eigen::Index bias_column = layer.cols() - 1;
    for (Eigen::Index row = 0; row < layer.rows(); ++row) {
      for (Eigen::Index col = 0; col < layer.cols(); ++col) {
        const scalar low = col == bias_column ? -scale_factor : 0.0f;
        layer(row, col) = uniform(rng, low, scale_factor);
      }
    }
  }
  return {};
}

void forward(const network& net, const Eigen::Ref<const matrix>& inputs, std::vector<matrix>& sums,
             std::vector<matrix>& values) {
  const std::size_t layers = net.num_layers();
  sums.resize(layers - 1);
  values.resize(layers - 1);

  for (std::size_t l = 1; l < layers; ++l) {
    const layer_spec& spec = net.layout().layers[l];
    const weight_matrix& weights = net.layer_weights(l);
    const Eigen::Index previous = weights.cols() - 1;
    matrix& sum = sums[l - 1];

    sum.resize(weights.rows(), inputs.cols());
    if (l == 1) {
      sum.noalias() = weights.leftCols(previous) * inputs;
    } else {
      sum.noalias() = weights.leftCols(previous) * values[l - 2];
    }
    sum.colwise() += weights.col(previous);

    // fann_run multiplies by the steepness and clips to +-150 / steepness
    // so that exp() cannot overflow.
    const scalar max_sum = 150.0f / spec.steepness;
    sum.array() = (sum.array() * spec.steepness).max(-max_sum).min(max_sum);

    detail::apply_activation(spec.activation, sum, values[l - 1]);
  }
}

result<std::vector<scalar>> network::run(std::span<const scalar> input) const {
  if (input.size() != num_inputs()) {
    return fail(errc::invalid_argument, "run: got " + std::to_string(input.size()) +
                                            " inputs, the network has " +
                                            std::to_string(num_inputs()));
  }

  const Eigen::Map<const matrix> column(input.data(), static_cast<Eigen::Index>(input.size()), 1);
  std::vector<matrix> sums;
  std::vector<matrix> values;
  forward(*this, column, sums, values);

  const matrix& output = values.back();
  return std::vector<scalar>(output.data(), output.data() + output.size());
}

result<matrix> network::run_batch(const matrix& inputs) const {
  if (static_cast<std::size_t>(inputs.rows()) != num_inputs()) {
    return fail(errc::invalid_argument, "run_batch: inputs have " + std::to_string(inputs.rows()) +
                                            " rows, the network has " +
                                            std::to_string(num_inputs()) + " inputs");
  }

  std::vector<matrix> sums;
  std::vector<matrix> values;
  forward(*this, inputs, sums, values);
  return std::move(values.back());
}

}  // namespace mesh::neural
