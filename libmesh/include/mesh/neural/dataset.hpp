#pragma once
// Training data: the dataset container, readers for FANN's training-file
// format and numeric CSV (plain or gzip), a seeded train/test split and
// min-max input scaling. docs/neural.md describes the file formats.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/neural/activation.hpp"
#include "mesh/neural/network.hpp"

namespace mesh::neural {

// Samples for training or testing: inputs and desired outputs, one column per
// sample. Invariant: both matrices have the same number of columns, at least
// one row each, and only finite values. Thread safety: none; a value type.
class dataset {
 public:
  // Checks the invariant; the error names the first offending sample.
  [[nodiscard]] static result<dataset> create(matrix inputs, matrix outputs);

  [[nodiscard]] std::size_t num_samples() const noexcept {
    return static_cast<std::size_t>(inputs_.cols());
  }
  [[nodiscard]] std::size_t num_inputs() const noexcept {
    return static_cast<std::size_t>(inputs_.rows());
  }
  [[nodiscard]] std::size_t num_outputs() const noexcept {
    return static_cast<std::size_t>(outputs_.rows());
  }
  [[nodiscard]] const matrix& inputs() const noexcept { return inputs_; }
  [[nodiscard]] const matrix& outputs() const noexcept { return outputs_; }
  // Mutable inputs for in-place scaling; values must stay finite.
  [[nodiscard]] matrix& mutable_inputs() noexcept { return inputs_; }

  // Class names of a classification set, in one-hot order; empty otherwise.
  std::vector<std::string> class_names;
  // SHA-256 of the bytes of the file it was read from, lowercase hex; empty
  // for data built in memory.
  std::string source_sha256;

 private:
  dataset() = default;

  matrix inputs_;
  matrix outputs_;
};

// Reads FANN's training-file format: a header line "num_data num_input
// num_output", then for each sample a line of num_input values and a line of
// num_output values. Blank lines are skipped. Any other layout, a non-number,
// NaN, Inf or a truncated file is errc::decode_error naming the file and line.
// NOTE: FANN itself ignores line breaks; a file that wraps one sample over
// several lines is rejected here.
[[nodiscard]] result<dataset> read_fann_file(const std::filesystem::path& path);

// Parses the same format from memory; `source_name` appears in errors.
[[nodiscard]] result<dataset> parse_fann_text(std::string_view text, std::string_view source_name);

// Writes a dataset in FANN's training-file format (values as "%.9g").
[[nodiscard]] std::string format_fann_text(const dataset& data);
[[nodiscard]] result<void> write_fann_file(const dataset& data, const std::filesystem::path& path);

// What the first line of a CSV file contains.
enum class csv_header {
  // No header: the first line is data.
  none,
  // Column names, skipped.
  names,
  // scikit-learn's bundled files: "n_samples,n_features,class names...".
  // The counts are checked against the data and the names become
  // class_names.
  sklearn,
};

// What the label column means.
enum class csv_task {
  // Integer class labels, turned into one-hot outputs.
  classification,
  // The label value is the single output.
  regression,
};

struct csv_options {
  csv_header header = csv_header::none;
  // Index of the label column; negative counts from the end (-1 = last).
  int label_column = -1;
  csv_task task = csv_task::classification;
  // One-hot output values; use -1 for off_value with symmetric activations.
  scalar off_value = 0.0f;
  scalar on_value = 1.0f;
  // Upper bound on the decompressed size of a gzip file, in bytes.
  std::size_t max_decompressed_bytes = std::size_t{1} << 30;
};

// Reads a numeric CSV file, gzip-compressed or not (detected by the gzip
// magic bytes). Every row must have the same number of columns. For
// classification the classes are the distinct labels in ascending order
// (for csv_header::sklearn, the labels 0 .. k-1 of the k header names).
// Errors are errc::decode_error (or io_error) naming the file and line.
[[nodiscard]] result<dataset> read_csv_file(const std::filesystem::path& path,
                                            const csv_options& options = {});

// Parses CSV text from memory; `source_name` appears in errors.
[[nodiscard]] result<dataset> parse_csv_text(std::string_view text, std::string_view source_name,
                                             const csv_options& options = {});

// Shuffles the samples with `rng` (Fisher-Yates) and splits them: the first
// round(train_fraction * n) go to the training set, the rest to the test set.
// train_fraction must be in (0, 1) and both parts must be non-empty.
[[nodiscard]] result<std::pair<dataset, dataset>> split_dataset(const dataset& data,
                                                                double train_fraction,
                                                                std::mt19937_64& rng);

// Returns the samples in a shuffled order; used by split_dataset.
[[nodiscard]] dataset shuffle_dataset(const dataset& data, std::mt19937_64& rng);

// Min-max scaling of each input to [target_min, target_max], fitted on a
// training set and stored with the model so that inference scales the same
// way. A constant input maps to the middle of the target range. Values
// outside the fitted range are not clipped.
struct input_scaling {
  std::vector<scalar> input_min;
  std::vector<scalar> input_max;
  scalar target_min = -1.0f;
  scalar target_max = 1.0f;

  // Fits the per-input minimum and maximum of `data`.
  [[nodiscard]] static result<input_scaling> fit(const dataset& data, scalar target_min,
                                                 scalar target_max);

  // Fits to the output range of `hidden` (the activation the inputs feed).
  [[nodiscard]] static result<input_scaling> fit_for(const dataset& data,
                                                     activation_function hidden);

  // Scales a matrix with one sample per column, or one sample, in place.
  [[nodiscard]] result<void> apply(matrix& inputs) const;
  [[nodiscard]] result<void> apply(std::span<scalar> input) const;
  [[nodiscard]] result<void> apply(dataset& data) const;

  friend bool operator==(const input_scaling&, const input_scaling&) = default;
};

// SHA-256 of `bytes`, lowercase hex.
[[nodiscard]] std::string sha256_hex(std::string_view bytes);

}  // namespace mesh::neural
