#pragma once
// Training algorithms of FANN 2.2 (incremental and batch backpropagation,
// iRPROP-, quickprop) plus Adam, run one epoch at a time so that a caller can
// train in bounded slices. A batch epoch also splits into two halves:
// computing the gradient of a data set, and applying one update from it.
// Replicas on several nodes compute the gradients of their shards, and one
// coordinator applies the update. The MSE and bit-fail figures
// are FANN's (fann_train.c); docs/neural.md defines them.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/neural/network.hpp"

namespace mesh::neural {

// The numeric values are FANN 2.2's fann_train_enum codes; adam has none.
enum class training_algorithm : std::uint8_t {
  incremental = 0,
  batch = 1,
  rprop = 2,
  quickprop = 3,
  adam = 100,
};

[[nodiscard]] std::string_view to_string(training_algorithm algorithm) noexcept;
[[nodiscard]] result<training_algorithm> parse_training_algorithm(std::string_view name);

// FANN's fann_errorfunc_enum: linear uses the output difference as it is;
// tanh replaces it by ln((1 + d) / (1 - d)), clipped to +-17, for the
// gradient only (the MSE always uses d).
enum class error_function : std::uint8_t { linear = 0, tanh = 1 };

// FANN's fann_stopfunc_enum: stop on the MSE or on the bit-fail count.
enum class stop_function : std::uint8_t { mse = 0, bit = 1 };

// Parameters of every algorithm; the defaults are FANN 2.2's (and Adam's
// usual ones).
struct training_params {
  training_algorithm algorithm = training_algorithm::rprop;
  error_function error = error_function::tanh;
  // Incremental, batch and quickprop.
  scalar learning_rate = 0.7f;
  // Incremental only.
  scalar learning_momentum = 0.0f;
  // An output whose |difference| (halved for symmetric outputs) is at least
  // this counts as one bit fail.
  scalar bit_fail_limit = 0.35f;
  // iRPROP-.
  scalar rprop_increase_factor = 1.2f;
  scalar rprop_decrease_factor = 0.5f;
  scalar rprop_delta_min = 0.0f;
  scalar rprop_delta_max = 50.0f;
  scalar rprop_delta_zero = 0.1f;
  // Quickprop.
  scalar quickprop_decay = -0.0001f;
  scalar quickprop_mu = 1.75f;
  // Adam: one step per epoch on the mean gradient over the data set.
  scalar adam_learning_rate = 0.001f;
  scalar adam_beta1 = 0.9f;
  scalar adam_beta2 = 0.999f;
  scalar adam_epsilon = 1e-8f;

  // Checks every field; the error names the field, its value and the range.
  [[nodiscard]] result<void> validate() const;
};

// Error figures of one pass over a data set.
struct epoch_result {
  // Sum of squared output differences (halved for symmetric outputs) divided
  // by num_samples * num_outputs.
  double mse = 0.0;
  // Outputs whose |difference| reached bit_fail_limit.
  std::size_t bit_fail = 0;
};

// Samples per matrix-matrix block in a batch epoch. compute_gradient starts
// its blocks at the first sample of the data set it is given, so shards cut at
// multiples of this size are processed in the same blocks as the whole set.
inline constexpr std::size_t training_block_samples = 256;

// The slopes of a data set at fixed weights: for every weight the sum over
// the samples of error term times input, the negative gradient of the summed
// error. Sums of gradients of disjoint shards are the gradient of their union.
struct gradient {
  // One value per weight in FANN's connection order. Double, so that sums of
  // the same blocks in another order round to the same float in almost every
  // case.
  std::vector<double> slopes;
  std::size_t samples = 0;
  // Sum of the squared output differences (halved for symmetric outputs).
  double squared_error = 0.0;
  std::size_t bit_fail = 0;

  // Adds `other` to this gradient; errc::invalid_argument when the slope
  // counts differ. An empty gradient takes the size of `other`.
  [[nodiscard]] result<void> add(const gradient& other);

  // The MSE and bit fails of the samples, as run_epoch reports them.
  [[nodiscard]] epoch_result errors(std::size_t num_outputs) const;
};

struct stop_criteria {
  std::uint64_t max_epochs = 1000;
  // Stops when the MSE (stop_function::mse) or the bit-fail count
  // (stop_function::bit) is at most this value after an epoch.
  double desired_error = 0.0;
  stop_function stop = stop_function::mse;
};

struct training_summary {
  std::uint64_t epochs = 0;
  epoch_result last;
  bool desired_error_reached = false;
};

// Trains one network shape with one algorithm. Its state (iRPROP- step sizes,
// previous slopes, quickprop steps, momentum, Adam moments, epoch count)
// persists across run_epoch calls, so training can run in slices, and the
// weights may be replaced between epochs (after averaging) without a reset.
// Thread safety: none; one trainer per network, used by one thread at a time.
class trainer {
 public:
  // Validates the parameters against the network's shape: every activation
  // after the input layer must be trainable.
  [[nodiscard]] static result<trainer> create(const network& net, const training_params& params);

  // Runs one epoch of the configured algorithm over `data` and returns the
  // MSE and bit fails measured during it (before the epoch's final update,
  // as FANN reports them).
  [[nodiscard]] result<epoch_result> run_epoch(network& net, const dataset& data);

  // Computes the gradient of `data` at the network's current weights with
  // the configured error function and bit-fail limit. Changes neither the
  // weights nor the algorithm state, only the trainer's buffers.
  [[nodiscard]] result<gradient> compute_gradient(const network& net, const dataset& data);

  // Applies one update of the configured batch algorithm (batch, rprop,
  // quickprop or adam) from the gradient of a whole training set, and counts
  // an epoch. compute_gradient over the set followed by apply_gradient gives
  // the weights of run_epoch up to float rounding of the slope sums. Returns
  // the MSE and bit fails of the gradient. errc::invalid_argument for the
  // incremental algorithm, a gradient of 0 samples or of another slope count.
  [[nodiscard]] result<epoch_result> apply_gradient(network& net, const gradient& total);

  // Runs epochs until `criteria` stops it, like fann_train_on_data.
  [[nodiscard]] result<training_summary> train(network& net, const dataset& data,
                                               const stop_criteria& criteria);

  // Forgets all algorithm state, as a new trainer would have it.
  void reset();

  [[nodiscard]] const training_params& params() const noexcept { return params_; }
  [[nodiscard]] std::uint64_t epochs() const noexcept { return epochs_; }

 private:
  struct workspace;

  trainer(const network& net, const training_params& params);

  [[nodiscard]] result<void> check_shapes(const network& net, const dataset& data) const;
  void compute_errors(const network& net, const Eigen::Ref<const matrix>& inputs,
                      const Eigen::Ref<const matrix>& desired, epoch_result& totals);
  void add_block_slopes(const network& net, const Eigen::Ref<const matrix>& inputs,
                        std::vector<weight_matrix>& slopes) const;
  void apply_update(network& net, std::size_t num_samples);
  void update_incremental(network& net, const Eigen::Ref<const matrix>& input);
  void update_batch(network& net, std::size_t num_samples);
  void update_rprop(network& net);
  void update_quickprop(network& net, std::size_t num_samples);
  void update_adam(network& net, std::size_t num_samples);

  training_params params_;
  topology topology_;
  std::uint64_t epochs_ = 0;
  std::uint64_t adam_steps_ = 0;

  // Per layer after the input, shaped like its weight matrix.
  std::vector<weight_matrix> slopes_;
  std::vector<weight_matrix> previous_slopes_;
  std::vector<weight_matrix> previous_steps_;
  std::vector<weight_matrix> adam_m_;
  std::vector<weight_matrix> adam_v_;

  // Forward and backward buffers, reused between epochs.
  std::vector<matrix> sums_;
  std::vector<matrix> values_;
  std::vector<matrix> errors_;
};

// Measures a network on a data set like fann_test_data: the same MSE and
// bit-fail definitions, no weight change.
[[nodiscard]] result<epoch_result> test_network(const network& net, const dataset& data,
                                                scalar bit_fail_limit = 0.35f);

}  // namespace mesh::neural
