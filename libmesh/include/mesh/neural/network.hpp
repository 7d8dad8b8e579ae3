#pragma once
// The multilayer perceptron: a fully connected feed-forward network on Eigen
// with FANN's layout. Every layer after the input has a weight matrix whose
// last column holds the weights from the previous layer's bias neuron, so the
// flat weight vector is FANN's connection list in the same order.

#include <cstddef>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "mesh/error.hpp"
#include "mesh/neural/activation.hpp"

namespace mesh::neural {

// Column-major matrix; data sets store one sample per column.
using matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic>;
// Row-major weight matrix of one layer: row j holds neuron j's incoming
// weights, the bias weight last. Row-major makes the flat layout FANN's.
using weight_matrix = Eigen::Matrix<scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

class dataset;

// Upper bounds that create() and every decoder enforce.
inline constexpr std::size_t max_layers = 64;
inline constexpr std::size_t max_layer_size = 1u << 20;
inline constexpr std::size_t max_weights = std::size_t{1} << 26;

// One layer of a topology. The activation and steepness of the input layer
// are not used.
struct layer_spec {
  std::size_t size = 0;
  activation_function activation = activation_function::sigmoid_symmetric;
  scalar steepness = 0.5f;
};

// The shape of a network: layers[0] is the input layer, the last is the
// output layer. Bias neurons are implied and not counted in `size`.
struct topology {
  std::vector<layer_spec> layers;

  // Builds the topology of fann_create_standard: all hidden layers share one
  // activation, the output layer has its own, and every layer the steepness.
  [[nodiscard]] static topology standard(const std::vector<std::size_t>& sizes,
                                         activation_function hidden,
                                         activation_function output, scalar steepness = 0.5f);

  // Checks the layer count, sizes and steepness; the error names the layer.
  [[nodiscard]] result<void> validate() const;

  // Number of weights, bias weights included.
  [[nodiscard]] std::size_t num_weights() const noexcept;

  friend bool operator==(const topology&, const topology&) = default;
};

inline bool operator==(const layer_spec& a, const layer_spec& b) noexcept {
  return a.size == b.size && a.activation == b.activation && a.steepness == b.steepness;
}

// A network: topology plus weights. Running it is const and allocates only
// its result. Thread safety: const members may be called from many threads;
// anything that changes the weights needs exclusive access. A value type
// that owns its weights.
class network {
 public:
  // Creates a network with all weights 0. Call randomize_weights or
  // init_weights (or set_weights) before training.
  [[nodiscard]] static result<network> create(const topology& spec);

  [[nodiscard]] const topology& layout() const noexcept { return topology_; }
  [[nodiscard]] std::size_t num_layers() const noexcept { return topology_.layers.size(); }
  [[nodiscard]] std::size_t num_inputs() const noexcept { return topology_.layers.front().size; }
  [[nodiscard]] std::size_t num_outputs() const noexcept { return topology_.layers.back().size; }
  [[nodiscard]] std::size_t num_weights() const noexcept { return num_weights_; }

  // Returns all weights in FANN's connection order: layer by layer, neuron by
  // neuron, each neuron's inputs in order and its bias weight last.
  [[nodiscard]] std::vector<scalar> weights() const;

  // Replaces all weights; the span must have num_weights() finite values.
  [[nodiscard]] result<void> set_weights(std::span<const scalar> weights);

  // Weights of layer `layer` (1 .. num_layers() - 1).
  [[nodiscard]] const weight_matrix& layer_weights(std::size_t layer) const {
    return weights_[layer - 1];
  }
  [[nodiscard]] weight_matrix& layer_weights(std::size_t layer) { return weights_[layer - 1]; }

  // Draws every weight uniformly from [min_weight, max_weight) like
  // fann_randomize_weights (FANN's default is [-0.1, 0.1]).
  void randomize_weights(std::mt19937_64& rng, scalar min_weight = -0.1f,
                         scalar max_weight = 0.1f);

  // Widrow-Nguyen initialization as fann_init_weights does it: the scale
  // factor (0.7 * hidden neurons)^(1 / inputs) / (input range of `data`);
  // bias weights from [-scale, scale), the others from [0, scale).
  [[nodiscard]] result<void> init_weights(const dataset& data, std::mt19937_64& rng);

  // Runs one sample; the input must have num_inputs() values.
  [[nodiscard]] result<std::vector<scalar>> run(std::span<const scalar> input) const;

  // Runs many samples at once: `inputs` has num_inputs() rows and one column
  // per sample; the result has num_outputs() rows.
  [[nodiscard]] result<matrix> run_batch(const matrix& inputs) const;

 private:
  network() = default;

  topology topology_;
  std::size_t num_weights_ = 0;
  // weights_[l - 1] feeds layer l: layers[l].size rows, layers[l - 1].size + 1 columns.
  std::vector<weight_matrix> weights_;
};

// Computes the sum of each layer's weights times its inputs, scales it by the
// steepness, clips it to +-150/steepness and applies the activation, as
// fann_run does. `sums` and `values` receive one matrix per layer after the
// input (index l - 1 for layer l). Used by network::run_batch and the trainer.
void forward(const network& net, const Eigen::Ref<const matrix>& inputs,
             std::vector<matrix>& sums, std::vector<matrix>& values);

// Averages weight vectors element by element, as replicas of one job do
// between training slices. Every vector must have the same length.
template <class T>
[[nodiscard]] result<std::vector<T>> average_weights(std::span<const std::vector<T>> replicas) {
  if (replicas.empty()) {
    return fail(errc::invalid_argument, "average_weights: no weight vectors given");
  }

  const std::size_t length = replicas.front().size();
  std::vector<double> sum(length, 0.0);
  for (std::size_t r = 0; r < replicas.size(); ++r) {
    if (replicas[r].size() != length) {
      return fail(errc::invalid_argument,
                  "average_weights: replica " + std::to_string(r) + " has " +
                      std::to_string(replicas[r].size()) + " weights, expected " +
                      std::to_string(length));
    }
    for (std::size_t i = 0; i < length; ++i) {
      sum[i] += static_cast<double>(replicas[r][i]);
    }
  }

  std::vector<T> mean(length);
  const double count = static_cast<double>(replicas.size());
  for (std::size_t i = 0; i < length; ++i) {
    mean[i] = static_cast<T>(sum[i] / count);
  }
  return mean;
}

}  // namespace mesh::neural
