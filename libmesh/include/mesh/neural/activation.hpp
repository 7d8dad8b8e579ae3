#pragma once
// Activation functions of the multilayer perceptron, with the formulas and
// derivative conventions of FANN 2.2 (fann_activation.h, fann_train.c).
// docs/neural.md has the table of formulas.

#include <cstdint>
#include <optional>
#include <string_view>

#include "mesh/error.hpp"

namespace mesh::neural {

// The number type of every weight, activation and data value. float matches
// FANN's default library (libfann.so is floatfann); docs/neural.md says why.
using scalar = float;

// Activation functions. The numeric values are FANN 2.2's
// fann_activationfunc_enum codes, so a .net file maps 1:1. relu is not part
// of FANN 2.2 and cannot be exported to a .net file.
enum class activation_function : std::uint8_t {
  linear = 0,
  threshold = 1,
  threshold_symmetric = 2,
  sigmoid = 3,
  sigmoid_stepwise = 4,
  sigmoid_symmetric = 5,
  sigmoid_symmetric_stepwise = 6,
  gaussian = 7,
  gaussian_symmetric = 8,
  elliot = 10,
  elliot_symmetric = 11,
  linear_piece = 12,
  linear_piece_symmetric = 13,
  sin_symmetric = 14,
  cos_symmetric = 15,
  sin = 16,
  cos = 17,
  relu = 100,
};

// Returns the lowercase name ("sigmoid_symmetric"), the same as FANN's
// FANN_SIGMOID_SYMMETRIC without the prefix.
[[nodiscard]] std::string_view to_string(activation_function function) noexcept;

// Parses a name as returned by to_string; the error lists the accepted names.
[[nodiscard]] result<activation_function> parse_activation_function(std::string_view name);

// Maps a FANN 2.2 activation code to the enum; nullopt for codes FANN 2.2
// does not define (9, FANN_GAUSSIAN_STEPWISE, is rejected because FANN 2.2
// computes it as a constant 0).
[[nodiscard]] std::optional<activation_function> activation_from_fann_code(unsigned code) noexcept;

// The FANN 2.2 code, or nullopt for relu.
[[nodiscard]] std::optional<unsigned> fann_code(activation_function function) noexcept;

// True for the functions whose output range is [-1, 1]. FANN halves the
// output error of these before the MSE and the gradient (fann_update_MSE).
[[nodiscard]] bool is_symmetric(activation_function function) noexcept;

// False for threshold and threshold_symmetric, which have no derivative.
[[nodiscard]] bool is_trainable(activation_function function) noexcept;

// The output range [low, high] that input scaling and one-hot targets use:
// [0, 1] for the sigmoid family, [-1, 1] for symmetric functions, and
// [-1, 1] for linear and relu.
struct value_range {
  scalar low;
  scalar high;
};
[[nodiscard]] value_range output_range(activation_function function) noexcept;

// Computes the activation of `sum`, which is already multiplied by the
// steepness and clipped to +-150/steepness as fann_run does.
[[nodiscard]] scalar activate(activation_function function, scalar sum) noexcept;

// Computes d value / d net, where net is the weighted input before the
// steepness: `value` is activate(sum) and `sum` is steepness * net.
// Follows FANN's conventions: the sigmoid family clips `value` to
// [0.01, 0.99] and the symmetric family to [-0.98, 0.98] before the
// derivative, and the stepwise and linear_piece functions use the derivative
// of the function they approximate. NOTE: for gaussian, sin and cos this
// returns the exact derivative, which equals FANN 2.2's only at steepness 1.
[[nodiscard]] scalar derivative(activation_function function, scalar steepness, scalar value,
                                scalar sum) noexcept;

}  // namespace mesh::neural
