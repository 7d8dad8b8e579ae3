#pragma once
// Element-wise activation and derivative kernels over whole matrices, used by
// the forward pass and by backpropagation. Private to libmesh/neural.

#include "mesh/neural/activation.hpp"
#include "mesh/neural/network.hpp"

namespace mesh::neural::detail {

// values = f(sums), element by element; `values` is resized to match.
void apply_activation(activation_function function, const matrix& sums, matrix& values);

// errors *= f'(values, sums), with the conventions of neural::derivative.
void multiply_by_derivative(activation_function function, scalar steepness, const matrix& values,
                            const matrix& sums, matrix& errors);

}  // namespace mesh::neural::detail
