// Training algorithms with FANN 2.2's update rules (fann_train.c) on Eigen:
// batch algorithms compute the slopes of a whole block of samples with
// matrix-matrix products, incremental training with matrix-vector products.

#include "mesh/neural/trainer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "neural/kernels.hpp"

namespace mesh::neural {
namespace {

// Samples per matrix-matrix block in batch epochs: large enough for
// efficient products, small enough that the activations stay in cache.
constexpr auto block_samples = static_cast<Eigen::Index>(training_block_samples);

// FANN clips every weight to this magnitude after an iRPROP- or quickprop step.
constexpr scalar weight_limit = 1500.0f;

struct algorithm_name {
  training_algorithm algorithm;
  std::string_view name;
};

constexpr std::array<algorithm_name, 5> algorithm_names{{
    {training_algorithm::incremental, "incremental"},
    {training_algorithm::batch, "batch"},
    {training_algorithm::rprop, "rprop"},
    {training_algorithm::quickprop, "quickprop"},
    {training_algorithm::adam, "adam"},
}};

// FANN's tanh error function: ln((1 + d) / (1 - d)), clipped to +-17 where
// |d| is within 1e-7 of 1.
scalar tanh_error(scalar difference) {
  if (difference < -0.9999999f) {
    return -17.0f;
  }
  if (difference > 0.9999999f) {
    return 17.0f;
  }
  return static_cast<scalar>(std::log((1.0 + difference) / (1.0 - difference)));
}

result<void> check_range(std::string_view field, scalar value, bool valid,
                         std::string_view accepted) {
  if (valid && std::isfinite(value)) {
    return {};
  }
  return fail(errc::invalid_argument, "training parameter " + std::string(field) + " = " +
                                          std::to_string(value) + "; accepted: " +
                                          std::string(accepted));
}

std::vector<weight_matrix> zeros_like(const topology& shape) {
  std::vector<weight_matrix> result;
  for (std::size_t l = 1; l < shape.layers.size(); ++l) {
    result.push_back(weight_matrix::Zero(static_cast<Eigen::Index>(shape.layers[l].size),
                                         static_cast<Eigen::Index>(shape.layers[l - 1].size + 1)));
  }
  return result;
}

// Output differences as fann_update_MSE computes them: desired - actual,
// halved for symmetric activations. Adds the squared differences and the bit
// fails to the totals.
void output_differences(activation_function output, scalar bit_fail_limit, const matrix& actual,
                        const Eigen::Ref<const matrix>& desired, matrix& differences,
                        double& squared_sum, std::size_t& bit_fail) {
  differences = desired - actual;
  if (is_symmetric(output)) {
    differences *= 0.5f;
  }
  squared_sum += differences.cast<double>().squaredNorm();
  bit_fail += static_cast<std::size_t>((differences.array().abs() >= bit_fail_limit).count());
}

}  // namespace

std::string_view to_string(training_algorithm algorithm) noexcept {
  for (const auto& entry : algorithm_names) {
    if (entry.algorithm == algorithm) {
      return entry.name;
    }
  }
  return "unknown";
}

result<training_algorithm> parse_training_algorithm(std::string_view name) {
  for (const auto& entry : algorithm_names) {
    if (entry.name == name) {
      return entry.algorithm;
    }
  }
  return fail(errc::invalid_argument, "unknown training algorithm '" + std::string(name) +
                                          "'; accepted: incremental, batch, rprop, quickprop, "
                                          "adam");
}

result<void> training_params::validate() const {
  if (to_string(algorithm) == "unknown") {
    return fail(errc::invalid_argument, "unknown training algorithm code " +
                                            std::to_string(static_cast<unsigned>(algorithm)));
  }
  if (error != error_function::linear && error != error_function::tanh) {
    return fail(errc::invalid_argument, "unknown error function code " +
                                            std::to_string(static_cast<unsigned>(error)));
  }
  const std::array<result<void>, 13> checks{
      check_range("learning_rate", learning_rate, learning_rate > 0.0f, "a finite value > 0"),
      check_range("learning_momentum", learning_momentum,
                  learning_momentum >= 0.0f && learning_momentum < 1.0f, "[0, 1)"),
      check_range("bit_fail_limit", bit_fail_limit, bit_fail_limit > 0.0f, "a finite value > 0"),
      check_range("rprop_increase_factor", rprop_increase_factor, rprop_increase_factor > 1.0f,
                  "a finite value > 1"),
      check_range("rprop_decrease_factor", rprop_decrease_factor,
                  rprop_decrease_factor > 0.0f && rprop_decrease_factor < 1.0f, "(0, 1)"),
      check_range("rprop_delta_min", rprop_delta_min, rprop_delta_min >= 0.0f,
                  "a finite value >= 0"),
      check_range("rprop_delta_max", rprop_delta_max, rprop_delta_max > rprop_delta_min,
                  "a finite value > rprop_delta_min"),
      check_range("rprop_delta_zero", rprop_delta_zero, rprop_delta_zero > 0.0f,
                  "a finite value > 0"),
      check_range("quickprop_decay", quickprop_decay, quickprop_decay <= 0.0f,
                  "a finite value <= 0"),
      check_range("quickprop_mu", quickprop_mu, quickprop_mu > 0.0f, "a finite value > 0"),
      check_range("adam_learning_rate", adam_learning_rate, adam_learning_rate > 0.0f,
                  "a finite value > 0"),
      check_range("adam_beta1", adam_beta1, adam_beta1 >= 0.0f && adam_beta1 < 1.0f, "[0, 1)"),
      check_range("adam_beta2", adam_beta2, adam_beta2 >= 0.0f && adam_beta2 < 1.0f, "[0, 1)"),
  };
  for (const auto& check : checks) {
    if (!check) {
      return check;
    }
  }
  return check_range("adam_epsilon", adam_epsilon, adam_epsilon > 0.0f, "a finite value > 0");
}

trainer::trainer(const network& net, const training_params& params)
    : params_(params), topology_(net.layout()) {
  reset();
}

result<trainer> trainer::create(const network& net, const training_params& params) {
  if (auto valid = params.validate(); !valid) {
    return valid.err();
  }
  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    const activation_function function = net.layout().layers[l].activation;
    if (!is_trainable(function)) {
      return fail(errc::invalid_argument, "layer " + std::to_string(l) + " uses activation " +
                                              std::string(to_string(function)) +
                                              ", which has no derivative and cannot be trained");
    }
  }
  return trainer(net, params);
}

void trainer::reset() {
  epochs_ = 0;
  adam_steps_ = 0;
  slopes_ = zeros_like(topology_);
  previous_slopes_ = zeros_like(topology_);
  previous_steps_ = zeros_like(topology_);
  adam_m_.clear();
  adam_v_.clear();
  if (params_.algorithm == training_algorithm::rprop) {
    // fann_clear_train_arrays starts every iRPROP- step at delta_zero.
    for (weight_matrix& steps : previous_steps_) {
      steps.setConstant(params_.rprop_delta_zero);
    }
  }
  if (params_.algorithm == training_algorithm::adam) {
    adam_m_ = zeros_like(topology_);
    adam_v_ = zeros_like(topology_);
  }
}

result<void> trainer::check_shapes(const network& net, const dataset& data) const {
  if (net.layout().layers.size() != topology_.layers.size() ||
      net.num_weights() != topology_.num_weights()) {
    return fail(errc::invalid_argument,
                "trainer was created for a network of another shape (" +
                    std::to_string(topology_.num_weights()) + " weights, this one has " +
                    std::to_string(net.num_weights()) + ")");
  }
  if (data.num_inputs() != net.num_inputs() || data.num_outputs() != net.num_outputs()) {
    return fail(errc::invalid_argument,
                "data set has " + std::to_string(data.num_inputs()) + " inputs and " +
                    std::to_string(data.num_outputs()) + " outputs, the network " +
                    std::to_string(net.num_inputs()) + " and " + std::to_string(net.num_outputs()));
  }
  return {};
}

// Forward pass, output error and backpropagation for a block of samples, as
// fann_run + fann_compute_MSE + fann_backpropagate_MSE do for one. Leaves
// errors_[l - 1] = the error term of every neuron of layer l and adds to
// `totals`.
void trainer::compute_errors(const network& net, const Eigen::Ref<const matrix>& inputs,
                             const Eigen::Ref<const matrix>& desired, epoch_result& totals) {
  const std::size_t layers = net.num_layers();
  forward(net, inputs, sums_, values_);
  errors_.resize(layers - 1);

  const layer_spec& output = net.layout().layers.back();
  matrix& output_errors = errors_.back();
  double squared_sum = 0.0;
  output_differences(output.activation, params_.bit_fail_limit, values_.back(), desired,
                     output_errors, squared_sum, totals.bit_fail);
  totals.mse += squared_sum;

  if (params_.error == error_function::tanh) {
    output_errors = output_errors.unaryExpr(&tanh_error);
  }
  detail::multiply_by_derivative(output.activation, output.steepness, values_.back(), sums_.back(),
                                 output_errors);

  for (std::size_t l = layers - 1; l >= 2; --l) {
    const weight_matrix& weights = net.layer_weights(l);
    const Eigen::Index previous = weights.cols() - 1;
    matrix& hidden_errors = errors_[l - 2];
    hidden_errors.noalias() = weights.leftCols(previous).transpose() * errors_[l - 1];
    const layer_spec& hidden = net.layout().layers[l - 1];
    detail::multiply_by_derivative(hidden.activation, hidden.steepness, values_[l - 2],
                                   sums_[l - 2], hidden_errors);
  }
}

void trainer::update_incremental(network& net, const Eigen::Ref<const matrix>& input) {
  const scalar rate = params_.learning_rate;
  const scalar momentum = params_.learning_momentum;

  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    weight_matrix& weights = net.layer_weights(l);
    const Eigen::Index previous = weights.cols() - 1;
    const matrix& error = errors_[l - 1];

    if (momentum == 0.0f) {
      if (l == 1) {
        weights.leftCols(previous).noalias() += rate * error * input.transpose();
      } else {
        weights.leftCols(previous).noalias() += rate * error * values_[l - 2].transpose();
      }
      weights.col(previous) += rate * error.col(0);
      continue;
    }

    // delta_w = rate * error * value + momentum * previous delta_w.
    weight_matrix& deltas = previous_steps_[l - 1];
    deltas *= momentum;
    if (l == 1) {
      deltas.leftCols(previous).noalias() += rate * error * input.transpose();
    } else {
      deltas.leftCols(previous).noalias() += rate * error * values_[l - 2].transpose();
    }
    deltas.col(previous) += rate * error.col(0);
    weights += deltas;
  }
}

void trainer::update_batch(network& net, std::size_t num_samples) {
  const scalar epsilon = params_.learning_rate / static_cast<scalar>(num_samples);
  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    net.layer_weights(l) += epsilon * slopes_[l - 1];
  }
}

void trainer::update_rprop(network& net) {
  const scalar increase = params_.rprop_increase_factor;
  const scalar decrease = params_.rprop_decrease_factor;
  const scalar delta_min = params_.rprop_delta_min;
  const scalar delta_max = params_.rprop_delta_max;

  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    auto weights = net.layer_weights(l).array();
    auto slope = slopes_[l - 1].array();
    auto previous_slope = previous_slopes_[l - 1].array();
    auto step = previous_steps_[l - 1].array();

    // iRPROP- as fann_update_weights_irpropm: a step never drops below
    // 0.0001 before it is scaled; after a sign change the step shrinks and
    // the slope is forgotten. FANN then still moves the weight by +step
    // (slope 0 counts as "not negative"); that is kept for equal results.
    const auto same_sign = (previous_slope * slope) >= 0.0f;
    const auto floor_step = step.max(0.0001f);
    step = same_sign.select((floor_step * increase).min(delta_max),
                            (floor_step * decrease).max(delta_min));
    slope = same_sign.select(slope, weight_matrix::Zero(slope.rows(), slope.cols()).array());
    weights = (slope < 0.0f).select(weights - step, weights + step);
    weights = weights.max(-weight_limit).min(weight_limit);

    previous_slope = slope;
    slope = 0.0f;
  }
}

void trainer::update_quickprop(network& net, std::size_t num_samples) {
  const scalar epsilon = params_.learning_rate / static_cast<scalar>(num_samples);
  const scalar decay = params_.quickprop_decay;
  const scalar mu = params_.quickprop_mu;
  const scalar shrink = mu / (1.0f + mu);

  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    weight_matrix& weights = net.layer_weights(l);
    weight_matrix& slopes = slopes_[l - 1];
    weight_matrix& previous_slopes = previous_slopes_[l - 1];
    weight_matrix& previous_steps = previous_steps_[l - 1];

    // Fahlman's quickprop with FANN's conventions: the slope points
    // downhill, a weight decay term is added to it, steps of magnitude
    // below 0.001 count as zero, and weights stay within +-1500.
    for (Eigen::Index i = 0; i < weights.size(); ++i) {
      const scalar weight = weights.data()[i];
      const scalar previous_step = previous_steps.data()[i];
      const scalar slope = slopes.data()[i] + decay * weight;
      const scalar previous_slope = previous_slopes.data()[i];
      scalar next_step = 0.0f;

      if (previous_step > 0.001f) {
        if (slope > 0.0f) {
          next_step += epsilon * slope;
        }
        if (slope > shrink * previous_slope) {
          next_step += mu * previous_step;
        } else {
          next_step += previous_step * slope / (previous_slope - slope);
        }
      } else if (previous_step < -0.001f) {
        if (slope < 0.0f) {
          next_step += epsilon * slope;
        }
        if (slope < shrink * previous_slope) {
          next_step += mu * previous_step;
        } else {
          next_step += previous_step * slope / (previous_slope - slope);
        }
      } else {
        next_step += epsilon * slope;
      }

      previous_steps.data()[i] = next_step;
      weights.data()[i] = std::clamp(weight + next_step, -weight_limit, weight_limit);
      previous_slopes.data()[i] = slope;
      slopes.data()[i] = 0.0f;
    }
  }
}

void trainer::update_adam(network& net, std::size_t num_samples) {
  ++adam_steps_;
  const double beta1 = params_.adam_beta1;
  const double beta2 = params_.adam_beta2;
  const auto step = static_cast<double>(adam_steps_);
  const auto correction1 = static_cast<scalar>(1.0 - std::pow(beta1, step));
  const auto correction2 = static_cast<scalar>(1.0 - std::pow(beta2, step));
  const scalar rate = params_.adam_learning_rate;
  const scalar epsilon = params_.adam_epsilon;
  const scalar b1 = params_.adam_beta1;
  const scalar b2 = params_.adam_beta2;

  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    // The slope points downhill on the summed error, so the gradient of the
    // mean error is -slope / num_samples.
    auto gradient = slopes_[l - 1].array() * (-1.0f / static_cast<scalar>(num_samples));
    auto m = adam_m_[l - 1].array();
    auto v = adam_v_[l - 1].array();
    m = b1 * m + (1.0f - b1) * gradient;
    v = b2 * v + (1.0f - b2) * gradient.square();
    net.layer_weights(l).array() -=
        rate * (m / correction1) / ((v / correction2).sqrt() + epsilon);
    slopes_[l - 1].setZero();
  }
}

// Adds the slopes of the block whose error terms compute_errors just left in
// errors_ to `slopes`.
void trainer::add_block_slopes(const network& net, const Eigen::Ref<const matrix>& inputs,
                               std::vector<weight_matrix>& slopes) const {
  for (std::size_t l = 1; l < net.num_layers(); ++l) {
    weight_matrix& slope = slopes[l - 1];
    const Eigen::Index previous = slope.cols() - 1;
    if (l == 1) {
      slope.leftCols(previous).noalias() += errors_[0] * inputs.transpose();
    } else {
      slope.leftCols(previous).noalias() += errors_[l - 1] * values_[l - 2].transpose();
    }
    slope.col(previous) += errors_[l - 1].rowwise().sum();
  }
}

// Updates the weights from slopes_ summed over `num_samples` samples with the
// configured batch algorithm, then clears slopes_ (the update functions of
// iRPROP-, quickprop and Adam clear them as they go).
void trainer::apply_update(network& net, std::size_t num_samples) {
  switch (params_.algorithm) {
    case training_algorithm::batch:
      update_batch(net, num_samples);
      for (weight_matrix& slope : slopes_) {
        slope.setZero();
      }
      break;
    case training_algorithm::rprop:
      update_rprop(net);
      break;
    case training_algorithm::quickprop:
      update_quickprop(net, num_samples);
      break;
    case training_algorithm::adam:
      update_adam(net, num_samples);
      break;
    case training_algorithm::incremental:
      break;
  }
}

result<void> gradient::add(const gradient& other) {
  if (slopes.empty() && samples == 0) {
    slopes.assign(other.slopes.size(), 0.0);
  }
  if (other.slopes.size() != slopes.size()) {
    return fail(errc::invalid_argument, "gradient of " + std::to_string(other.slopes.size()) +
                                            " slopes cannot be added to one of " +
                                            std::to_string(slopes.size()));
  }
  for (std::size_t i = 0; i < slopes.size(); ++i) {
    slopes[i] += other.slopes[i];
  }
  samples += other.samples;
  squared_error += other.squared_error;
  bit_fail += other.bit_fail;
  return {};
}

epoch_result gradient::errors(std::size_t num_outputs) const {
  epoch_result result;
  const auto values = static_cast<double>(samples * num_outputs);
  result.mse = values > 0 ? squared_error / values : 0.0;
  result.bit_fail = bit_fail;
  return result;
}

result<gradient> trainer::compute_gradient(const network& net, const dataset& data) {
  if (auto shapes = check_shapes(net, data); !shapes) {
    return shapes.err();
  }

  gradient out;
  out.slopes.assign(net.num_weights(), 0.0);
  out.samples = data.num_samples();
  epoch_result totals;
  std::vector<weight_matrix> block_slopes = zeros_like(topology_);
  const Eigen::Index samples = data.inputs().cols();

  for (Eigen::Index start = 0; start < samples; start += block_samples) {
    const Eigen::Index count = std::min(block_samples, samples - start);
    const auto inputs = data.inputs().middleCols(start, count);
    compute_errors(net, inputs, data.outputs().middleCols(start, count), totals);

    for (weight_matrix& slope : block_slopes) {
      slope.setZero();
    }
    add_block_slopes(net, inputs, block_slopes);

    // Row-major layer matrices, layer after layer: FANN's connection order.
    std::size_t offset = 0;
    for (const weight_matrix& slope : block_slopes) {
      for (Eigen::Index i = 0; i < slope.size(); ++i) {
        out.slopes[offset + static_cast<std::size_t>(i)] += static_cast<double>(slope.data()[i]);
      }
      offset += static_cast<std::size_t>(slope.size());
    }
  }

  out.squared_error = totals.mse;
  out.bit_fail = totals.bit_fail;
  return out;
}

result<epoch_result> trainer::apply_gradient(network& net, const gradient& total) {
  if (params_.algorithm == training_algorithm::incremental) {
    return fail(errc::invalid_argument,
                "apply_gradient: incremental training updates after every sample and has no "
                "epoch gradient; use run_epoch");
  }
  if (net.num_weights() != topology_.num_weights() ||
      net.layout().layers.size() != topology_.layers.size()) {
    return fail(errc::invalid_argument,
                "trainer was created for a network of another shape (" +
                    std::to_string(topology_.num_weights()) + " weights, this one has " +
                    std::to_string(net.num_weights()) + ")");
  }
  if (total.slopes.size() != net.num_weights()) {
    return fail(errc::invalid_argument, "apply_gradient: the gradient has " +
                                            std::to_string(total.slopes.size()) +
                                            " slopes, the network " +
                                            std::to_string(net.num_weights()) + " weights");
  }
  if (total.samples == 0) {
    return fail(errc::invalid_argument, "apply_gradient: the gradient covers 0 samples");
  }

  std::size_t offset = 0;
  for (weight_matrix& slope : slopes_) {
    for (Eigen::Index i = 0; i < slope.size(); ++i) {
      slope.data()[i] = static_cast<scalar>(total.slopes[offset + static_cast<std::size_t>(i)]);
    }
    offset += static_cast<std::size_t>(slope.size());
  }
  apply_update(net, total.samples);
  ++epochs_;
  return total.errors(net.num_outputs());
}

result<epoch_result> trainer::run_epoch(network& net, const dataset& data) {
  if (auto shapes = check_shapes(net, data); !shapes) {
    return shapes.err();
  }

  epoch_result totals;
  const Eigen::Index samples = data.inputs().cols();

  if (params_.algorithm == training_algorithm::incremental) {
    for (Eigen::Index i = 0; i < samples; ++i) {
      const auto input = data.inputs().col(i);
      compute_errors(net, input, data.outputs().col(i), totals);
      update_incremental(net, input);
    }
  } else {
    for (Eigen::Index start = 0; start < samples; start += block_samples) {
      const Eigen::Index count = std::min(block_samples, samples - start);
      const auto inputs = data.inputs().middleCols(start, count);
      compute_errors(net, inputs, data.outputs().middleCols(start, count), totals);
      add_block_slopes(net, inputs, slopes_);
    }
    apply_update(net, static_cast<std::size_t>(samples));
  }

  ++epochs_;
  totals.mse /= static_cast<double>(data.num_samples() * data.num_outputs());
  return totals;
}

result<training_summary> trainer::train(network& net, const dataset& data,
                                        const stop_criteria& criteria) {
  training_summary summary;
  for (std::uint64_t epoch = 0; epoch < criteria.max_epochs; ++epoch) {
    auto result = run_epoch(net, data);
    if (!result) {
      return result.err();
    }
    summary.last = *result;
    ++summary.epochs;

    const bool reached = criteria.stop == stop_function::mse
                             ? summary.last.mse <= criteria.desired_error
                             : static_cast<double>(summary.last.bit_fail) <= criteria.desired_error;
    if (reached) {
      summary.desired_error_reached = true;
      break;
    }
  }
  return summary;
}

result<epoch_result> test_network(const network& net, const dataset& data,
                                  scalar bit_fail_limit) {
  if (data.num_inputs() != net.num_inputs() || data.num_outputs() != net.num_outputs()) {
    return fail(errc::invalid_argument,
                "data set has " + std::to_string(data.num_inputs()) + " inputs and " +
                    std::to_string(data.num_outputs()) + " outputs, the network " +
                    std::to_string(net.num_inputs()) + " and " + std::to_string(net.num_outputs()));
  }

  epoch_result totals;
  std::vector<matrix> sums;
  std::vector<matrix> values;
  matrix differences;
  const Eigen::Index samples = data.inputs().cols();
  const activation_function output = net.layout().layers.back().activation;
  for (Eigen::Index start = 0; start < samples; start += block_samples) {
    const Eigen::Index count = std::min(block_samples, samples - start);
    forward(net, data.inputs().middleCols(start, count), sums, values);
    output_differences(output, bit_fail_limit, values.back(),
                       data.outputs().middleCols(start, count), differences, totals.mse,
                       totals.bit_fail);
  }
  totals.mse /= static_cast<double>(data.num_samples() * data.num_outputs());
  return totals;
}

}  // namespace mesh::neural
