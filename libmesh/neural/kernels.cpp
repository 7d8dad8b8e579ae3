// Vectorized activation kernels. The common functions use Eigen array
// expressions (SIMD exp); the rare ones fall back to the scalar functions.

#include "neural/kernels.hpp"

namespace mesh::neural::detail {

void apply_activation(activation_function function, const matrix& sums, matrix& values) {
  values.resize(sums.rows(), sums.cols());
  auto s = sums.array();
  auto v = values.array();

  switch (function) {
    case activation_function::linear:
      v = s;
      return;
    case activation_function::sigmoid:
      v = (1.0f + (-2.0f * s).exp()).inverse();
      return;
    case activation_function::sigmoid_symmetric:
      v = 2.0f * (1.0f + (-2.0f * s).exp()).inverse() - 1.0f;
      return;
    case activation_function::relu:
      v = s.max(0.0f);
      return;
    case activation_function::elliot_symmetric:
      v = s / (1.0f + s.abs());
      return;
    default:
      v = s.unaryExpr([function](scalar sum) { return activate(function, sum); });
      return;
  }
}

void multiply_by_derivative(activation_function function, scalar steepness, const matrix& values,
                            const matrix& sums, matrix& errors) {
  auto e = errors.array();
  auto v = values.array();

  switch (function) {
    case activation_function::linear:
    case activation_function::linear_piece:
    case activation_function::linear_piece_symmetric:
      e *= steepness;
      return;
    case activation_function::sigmoid:
    case activation_function::sigmoid_stepwise:
      e *= (2.0f * steepness) * v.max(0.01f).min(0.99f) * (1.0f - v.max(0.01f).min(0.99f));
      return;
    case activation_function::sigmoid_symmetric:
    case activation_function::sigmoid_symmetric_stepwise:
      e *= steepness * (1.0f - v.max(-0.98f).min(0.98f).square());
      return;
    case activation_function::relu:
      e *= (sums.array() > 0.0f).cast<scalar>() * steepness;
      return;
    default:
      e *= values.array().binaryExpr(sums.array(), [function, steepness](scalar value, scalar sum) {
        return derivative(function, steepness, value, sum);
      });
      return;
  }
}

}  // namespace mesh::neural::detail
