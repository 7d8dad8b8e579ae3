// Data sets: the container, FANN training files, numeric CSV (plain or
// gzip), splitting and input scaling.

#include "mesh/neural/dataset.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <openssl/evp.h>
#include <zlib.h>

#include "neural/text_parsing.hpp"

namespace mesh::neural {
namespace detail {

result<std::string> read_file_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return fail(errc::io_error, "cannot open " + path.string() + " for reading");
  }
  std::ostringstream content;
  content << file.rdbuf();
  if (file.bad()) {
    return fail(errc::io_error, "failed to read " + path.string());
  }
  return std::move(content).str();
}

result<void> write_file_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    return fail(errc::io_error, "cannot open " + path.string() + " for writing");
  }
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file) {
    return fail(errc::io_error, "failed to write " + path.string());
  }
  return {};
}

}  // namespace detail

namespace {

using detail::decode_error_at;
using detail::line_reader;

bool is_gzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

result<std::string> gunzip(std::string_view compressed, std::string_view source,
                           std::size_t max_bytes) {
  z_stream stream{};
  // 16 + MAX_WBITS selects the gzip wrapper.
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    return fail(errc::decode_error, std::string(source) + ": zlib inflateInit2 failed");
  }

  std::string output;
  char buffer[1 << 16];
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (status != Z_STREAM_END) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof(buffer);
    status = inflate(&stream, Z_NO_FLUSH);
    if (status != Z_OK && status != Z_STREAM_END) {
      inflateEnd(&stream);
      return fail(errc::decode_error, std::string(source) + ": invalid or truncated gzip data (" +
                                          (stream.msg != nullptr ? stream.msg : "no detail") + ")");
    }
    output.append(buffer, sizeof(buffer) - stream.avail_out);
    if (output.size() > max_bytes) {
      inflateEnd(&stream);
      return fail(errc::too_large, std::string(source) + ": decompressed size exceeds " +
                                       std::to_string(max_bytes) + " bytes");
    }
    if (status == Z_OK && stream.avail_in == 0 && stream.avail_out != 0) {
      inflateEnd(&stream);
      return fail(errc::decode_error, std::string(source) + ": truncated gzip data");
    }
  }
  inflateEnd(&stream);
  return output;
}

// Splits on any run of spaces and tabs.
std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> tokens;
  std::size_t position = 0;
  while (position < line.size()) {
    const std::size_t start = line.find_first_not_of(" \t\r", position);
    if (start == std::string_view::npos) {
      break;
    }
    const std::size_t end = line.find_first_of(" \t\r", start);
    const std::size_t stop = end == std::string_view::npos ? line.size() : end;
    tokens.push_back(line.substr(start, stop - start));
    position = stop;
  }
  return tokens;
}

std::vector<std::string_view> split_commas(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t position = 0;
  while (true) {
    const std::size_t comma = line.find(',', position);
    if (comma == std::string_view::npos) {
      fields.push_back(detail::trim(line.substr(position)));
      return fields;
    }
    fields.push_back(detail::trim(line.substr(position, comma - position)));
    position = comma + 1;
  }
}

// Reads the next non-blank line; false at the end of the text.
bool next_content_line(line_reader& reader, std::string_view& line) {
  while (reader.next(line)) {
    if (!detail::is_blank(line)) {
      return true;
    }
  }
  return false;
}

// Parses exactly `count` numbers of one line into `column`.
result<void> parse_values(std::string_view line, std::size_t count, std::string_view what,
                          std::string_view source, std::size_t line_number,
                          Eigen::Ref<matrix> column) {
  const auto tokens = split_whitespace(line);
  if (tokens.size() != count) {
    return decode_error_at(source, line_number,
                           "expected " + std::to_string(count) + " " + std::string(what) +
                               " values, found " + std::to_string(tokens.size()));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const auto value = detail::parse_finite(tokens[i]);
    if (!value) {
      return decode_error_at(source, line_number,
                             "value " + std::to_string(i + 1) + " '" + std::string(tokens[i]) +
                                 "' is not a finite number");
    }
    column(static_cast<Eigen::Index>(i), 0) = static_cast<scalar>(*value);
  }
  return {};
}

}  // namespace

result<dataset> dataset::create(matrix inputs, matrix outputs) {
  if (inputs.rows() == 0 || outputs.rows() == 0) {
    return fail(errc::invalid_argument, "dataset needs at least one input and one output, got " +
                                            std::to_string(inputs.rows()) + " and " +
                                            std::to_string(outputs.rows()));
  }
  if (inputs.cols() != outputs.cols() || inputs.cols() == 0) {
    return fail(errc::invalid_argument, "dataset has " + std::to_string(inputs.cols()) +
                                            " input samples and " + std::to_string(outputs.cols()) +
                                            " output samples; they must be equal and > 0");
  }
  for (Eigen::Index sample = 0; sample < inputs.cols(); ++sample) {
    if (!inputs.col(sample).allFinite() || !outputs.col(sample).allFinite()) {
      return fail(errc::invalid_argument,
                  "dataset sample " + std::to_string(sample) + " has a non-finite value");
    }
  }

  dataset data;
  data.inputs_ = std::move(inputs);
  data.outputs_ = std::move(outputs);
  return data;
}

result<dataset> parse_fann_text(std::string_view text, std::string_view source_name) {
  line_reader reader(text);
  std::string_view line;
  if (!next_content_line(reader, line)) {
    return decode_error_at(source_name, reader.line_number(),
                           "empty file; expected the header 'num_data num_input num_output'");
  }

  const auto header = split_whitespace(line);
  std::optional<std::size_t> counts[3];
  for (std::size_t i = 0; i < 3 && i < header.size(); ++i) {
    counts[i] = detail::parse_count(header[i]);
  }
  if (header.size() != 3 || !counts[0] || !counts[1] || !counts[2] || *counts[0] == 0 ||
      *counts[1] == 0 || *counts[2] == 0) {
    return decode_error_at(source_name, reader.line_number(),
                           "invalid header '" + std::string(detail::trim(line)) +
                               "'; expected three positive integers 'num_data num_input "
                               "num_output'");
  }
  const std::size_t num_data = *counts[0];
  const std::size_t num_input = *counts[1];
  const std::size_t num_output = *counts[2];

  // Every value takes at least two bytes (a digit and a separator), which
  // bounds the allocation by the input size before anything is read.
  const double declared = static_cast<double>(num_data) * static_cast<double>(num_input + num_output);
  if (declared > static_cast<double>(text.size()) / 2.0 + 1.0) {
    return decode_error_at(source_name, reader.line_number(),
                           "header declares " + std::to_string(num_data) + " samples of " +
                               std::to_string(num_input + num_output) +
                               " values, more than the file can hold (truncated?)");
  }

  matrix inputs(static_cast<Eigen::Index>(num_input), static_cast<Eigen::Index>(num_data));
  matrix outputs(static_cast<Eigen::Index>(num_output), static_cast<Eigen::Index>(num_data));
  for (std::size_t sample = 0; sample < num_data; ++sample) {
    const auto column = static_cast<Eigen::Index>(sample);
    if (!next_content_line(reader, line)) {
      return decode_error_at(source_name, reader.line_number(),
                             "file ends after " + std::to_string(sample) + " of " +
                                 std::to_string(num_data) + " samples (truncated)");
    }
    if (auto parsed = parse_values(line, num_input, "input", source_name, reader.line_number(),
                                   inputs.col(column));
        !parsed) {
      return parsed.err();
    }
    if (!next_content_line(reader, line)) {
      return decode_error_at(source_name, reader.line_number(),
                             "file ends before the outputs of sample " + std::to_string(sample + 1) +
                                 " (truncated)");
    }
    if (auto parsed = parse_values(line, num_output, "output", source_name, reader.line_number(),
                                   outputs.col(column));
        !parsed) {
      return parsed.err();
    }
  }

  if (next_content_line(reader, line)) {
    return decode_error_at(source_name, reader.line_number(),
                           "unexpected data after the " + std::to_string(num_data) +
                               " samples the header declares");
  }

  auto data = dataset::create(std::move(inputs), std::move(outputs));
  if (!data) {
    return fail(errc::decode_error, std::string(source_name) + ": " + data.err().message);
  }
  return data;
}

result<dataset> read_fann_file(const std::filesystem::path& path) {
  auto bytes = detail::read_file_bytes(path);
  if (!bytes) {
    return bytes.err();
  }
  auto data = parse_fann_text(*bytes, path.string());
  if (data) {
    data->source_sha256 = sha256_hex(*bytes);
  }
  return data;
}

std::string format_fann_text(const dataset& data) {
  std::string text = std::to_string(data.num_samples()) + " " + std::to_string(data.num_inputs()) +
                     " " + std::to_string(data.num_outputs()) + "\n";
  char number[32];
  const auto append_column = [&](const matrix& values, Eigen::Index column) {
    for (Eigen::Index row = 0; row < values.rows(); ++row) {
      std::snprintf(number, sizeof(number), "%.9g", static_cast<double>(values(row, column)));
      text += number;
      text += row + 1 == values.rows() ? "\n" : " ";
    }
  };
  for (Eigen::Index sample = 0; sample < data.inputs().cols(); ++sample) {
    append_column(data.inputs(), sample);
    append_column(data.outputs(), sample);
  }
  return text;
}

result<void> write_fann_file(const dataset& data, const std::filesystem::path& path) {
  return detail::write_file_bytes(path, format_fann_text(data));
}

result<dataset> parse_csv_text(std::string_view text, std::string_view source_name,
                               const csv_options& options) {
  if (!(options.off_value < options.on_value || options.task == csv_task::regression)) {
    return fail(errc::invalid_argument, "csv_options: off_value must be below on_value");
  }

  line_reader reader(text);
  std::string_view line;
  std::vector<std::string> header_names;
  std::size_t header_samples = 0;
  std::size_t header_features = 0;
  std::size_t header_line = 0;

  if (options.header != csv_header::none) {
    if (!next_content_line(reader, line)) {
      return decode_error_at(source_name, reader.line_number(), "empty file; expected a header");
    }
    header_line = reader.line_number();
    if (options.header == csv_header::sklearn) {
      const auto fields = split_commas(line);
      const auto samples = fields.size() >= 2 ? detail::parse_count(fields[0]) : std::nullopt;
      const auto features = fields.size() >= 2 ? detail::parse_count(fields[1]) : std::nullopt;
      if (!samples || !features) {
        return decode_error_at(source_name, header_line,
                               "invalid scikit-learn header '" + std::string(line) +
                                   "'; expected 'n_samples,n_features[,class names...]'");
      }
      header_samples = *samples;
      header_features = *features;
      for (std::size_t i = 2; i < fields.size(); ++i) {
        header_names.emplace_back(fields[i]);
      }
    }
  }

  // Rows as parsed numbers, one vector per sample.
  std::vector<double> values;
  std::vector<std::size_t> row_lines;
  std::size_t columns = 0;
  while (next_content_line(reader, line)) {
    const auto fields = split_commas(line);
    if (columns == 0) {
      columns = fields.size();
      if (columns < 2) {
        return decode_error_at(source_name, reader.line_number(),
                               "a row needs at least one feature and a label, found " +
                                   std::to_string(columns) + " column");
      }
    } else if (fields.size() != columns) {
      return decode_error_at(source_name, reader.line_number(),
                             "expected " + std::to_string(columns) + " columns, found " +
                                 std::to_string(fields.size()));
    }
    for (std::size_t i = 0; i < fields.size(); ++i) {
      const auto value = detail::parse_finite(fields[i]);
      if (!value) {
        return decode_error_at(source_name, reader.line_number(),
                               "column " + std::to_string(i + 1) + " '" + std::string(fields[i]) +
                                   "' is not a finite number");
      }
      values.push_back(*value);
    }
    row_lines.push_back(reader.line_number());
  }
  if (row_lines.empty()) {
    return decode_error_at(source_name, reader.line_number(), "no data rows");
  }

  const auto column_count = static_cast<int>(columns);
  const int label = options.label_column < 0 ? column_count + options.label_column
                                             : options.label_column;
  if (label < 0 || label >= column_count) {
    return fail(errc::invalid_argument, std::string(source_name) + ": label column " +
                                            std::to_string(options.label_column) +
                                            " is outside the " + std::to_string(columns) +
                                            " columns");
  }
  const auto label_index = static_cast<std::size_t>(label);
  const std::size_t samples = row_lines.size();
  const std::size_t features = columns - 1;

  if (options.header == csv_header::sklearn) {
    if (header_samples != samples || header_features != features) {
      return decode_error_at(source_name, header_line,
                             "header declares " + std::to_string(header_samples) + " samples of " +
                                 std::to_string(header_features) + " features, the file has " +
                                 std::to_string(samples) + " of " + std::to_string(features));
    }
  }

  // Classes: the header's names (labels 0 .. k-1) or the distinct labels.
  std::map<double, std::size_t> class_index;
  std::vector<std::string> class_names;
  if (options.task == csv_task::classification) {
    for (std::size_t row = 0; row < samples; ++row) {
      const double value = values[row * columns + label_index];
      if (value != std::floor(value)) {
        return decode_error_at(source_name, row_lines[row],
                               "class label " + std::to_string(value) + " is not an integer");
      }
      class_index.emplace(value, 0);
    }
    if (!header_names.empty()) {
      for (const auto& [value, index] : class_index) {
        if (value < 0 || value >= static_cast<double>(header_names.size())) {
          return fail(errc::decode_error,
                      std::string(source_name) + ": class label " + std::to_string(value) +
                          " is outside the " + std::to_string(header_names.size()) +
                          " classes the header names");
        }
      }
      class_index.clear();
      for (std::size_t i = 0; i < header_names.size(); ++i) {
        class_index.emplace(static_cast<double>(i), i);
      }
      class_names = header_names;
    } else {
      std::size_t next = 0;
      for (auto& [value, index] : class_index) {
        index = next++;
        class_names.push_back(std::to_string(static_cast<long long>(value)));
      }
    }
  }

  const std::size_t outputs_count =
      options.task == csv_task::classification ? class_index.size() : 1;
  matrix inputs(static_cast<Eigen::Index>(features), static_cast<Eigen::Index>(samples));
  matrix outputs(static_cast<Eigen::Index>(outputs_count), static_cast<Eigen::Index>(samples));
  for (std::size_t row = 0; row < samples; ++row) {
    const auto column = static_cast<Eigen::Index>(row);
    Eigen::Index feature = 0;
    for (std::size_t i = 0; i < columns; ++i) {
      const double value = values[row * columns + i];
      if (i == label_index) {
        if (options.task == csv_task::classification) {
          outputs.col(column).setConstant(options.off_value);
          outputs(static_cast<Eigen::Index>(class_index.at(value)), column) = options.on_value;
        } else {
          outputs(0, column) = static_cast<scalar>(value);
        }
      } else {
        inputs(feature++, column) = static_cast<scalar>(value);
      }
    }
  }

  auto data = dataset::create(std::move(inputs), std::move(outputs));
  if (!data) {
    return fail(errc::decode_error, std::string(source_name) + ": " + data.err().message);
  }
  data->class_names = std::move(class_names);
  return data;
}

result<dataset> read_csv_file(const std::filesystem::path& path, const csv_options& options) {
  auto bytes = detail::read_file_bytes(path);
  if (!bytes) {
    return bytes.err();
  }

  const std::string source = path.string();
  result<dataset> data = fail(errc::decode_error, source);
  if (is_gzip(*bytes)) {
    auto text = gunzip(*bytes, source, options.max_decompressed_bytes);
    if (!text) {
      return text.err();
    }
    data = parse_csv_text(*text, source, options);
  } else {
    data = parse_csv_text(*bytes, source, options);
  }
  if (data) {
    data->source_sha256 = sha256_hex(*bytes);
  }
  return data;
}

dataset shuffle_dataset(const dataset& data, std::mt19937_64& rng) {
  std::vector<Eigen::Index> order(data.num_samples());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = static_cast<Eigen::Index>(i);
  }
  // Fisher-Yates with a plain modulo draw, so a seed gives the same order
  // with every standard library; the modulo bias is below 2^-40 for any
  // realistic sample count.
  for (std::size_t i = order.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }

  matrix inputs(data.inputs().rows(), data.inputs().cols());
  matrix outputs(data.outputs().rows(), data.outputs().cols());
  for (std::size_t i = 0; i < order.size(); ++i) {
    inputs.col(static_cast<Eigen::Index>(i)) = data.inputs().col(order[i]);
    outputs.col(static_cast<Eigen::Index>(i)) = data.outputs().col(order[i]);
  }
  auto shuffled = dataset::create(std::move(inputs), std::move(outputs));
  shuffled->class_names = data.class_names;
  shuffled->source_sha256 = data.source_sha256;
  return std::move(*shuffled);
}

result<std::pair<dataset, dataset>> split_dataset(const dataset& data, double train_fraction,
                                                  std::mt19937_64& rng) {
  if (!(train_fraction > 0.0 && train_fraction < 1.0)) {
    return fail(errc::invalid_argument, "split_dataset: train_fraction " +
                                            std::to_string(train_fraction) +
                                            " is outside the open interval (0, 1)");
  }
  const std::size_t total = data.num_samples();
  const auto train_count =
      static_cast<std::size_t>(std::llround(train_fraction * static_cast<double>(total)));
  if (train_count == 0 || train_count >= total) {
    return fail(errc::invalid_argument, "split_dataset: " + std::to_string(total) +
                                            " samples at fraction " +
                                            std::to_string(train_fraction) +
                                            " leave one part empty");
  }

  const dataset shuffled = shuffle_dataset(data, rng);
  const auto train_columns = static_cast<Eigen::Index>(train_count);
  const auto test_columns = static_cast<Eigen::Index>(total - train_count);
  auto train = dataset::create(shuffled.inputs().leftCols(train_columns),
                               shuffled.outputs().leftCols(train_columns));
  auto test = dataset::create(shuffled.inputs().rightCols(test_columns),
                              shuffled.outputs().rightCols(test_columns));
  train->class_names = data.class_names;
  test->class_names = data.class_names;
  train->source_sha256 = data.source_sha256;
  test->source_sha256 = data.source_sha256;
  return std::pair<dataset, dataset>(std::move(*train), std::move(*test));
}

result<input_scaling> input_scaling::fit(const dataset& data, scalar target_min,
                                         scalar target_max) {
  if (!(std::isfinite(target_min) && std::isfinite(target_max) && target_min < target_max)) {
    return fail(errc::invalid_argument, "input_scaling: target range [" +
                                            std::to_string(target_min) + ", " +
                                            std::to_string(target_max) + "] is empty or not finite");
  }
  input_scaling scaling;
  scaling.target_min = target_min;
  scaling.target_max = target_max;
  const Eigen::VectorXf minimum = data.inputs().rowwise().minCoeff();
  const Eigen::VectorXf maximum = data.inputs().rowwise().maxCoeff();
  scaling.input_min.assign(minimum.data(), minimum.data() + minimum.size());
  scaling.input_max.assign(maximum.data(), maximum.data() + maximum.size());
  return scaling;
}

result<input_scaling> input_scaling::fit_for(const dataset& data, activation_function hidden) {
  const value_range range = output_range(hidden);
  return fit(data, range.low, range.high);
}

result<void> input_scaling::apply(matrix& inputs) const {
  if (static_cast<std::size_t>(inputs.rows()) != input_min.size() ||
      input_min.size() != input_max.size()) {
    return fail(errc::invalid_argument, "input_scaling: fitted for " +
                                            std::to_string(input_min.size()) + " inputs, got " +
                                            std::to_string(inputs.rows()));
  }
  const scalar middle = (target_min + target_max) / 2.0f;
  for (Eigen::Index row = 0; row < inputs.rows(); ++row) {
    const scalar low = input_min[static_cast<std::size_t>(row)];
    const scalar span = input_max[static_cast<std::size_t>(row)] - low;
    if (span > 0.0f) {
      const scalar factor = (target_max - target_min) / span;
      inputs.row(row).array() = (inputs.row(row).array() - low) * factor + target_min;
    } else {
      inputs.row(row).setConstant(middle);
    }
  }
  return {};
}

result<void> input_scaling::apply(std::span<scalar> input) const {
  Eigen::Map<matrix> column(input.data(), static_cast<Eigen::Index>(input.size()), 1);
  matrix copy = column;
  if (auto applied = apply(copy); !applied) {
    return applied;
  }
  column = copy;
  return {};
}

result<void> input_scaling::apply(dataset& data) const { return apply(data.mutable_inputs()); }

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);

  static constexpr char hex[] = "0123456789abcdef";
  std::string text;
  text.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    text += hex[digest[i] >> 4];
    text += hex[digest[i] & 0x0f];
  }
  return text;
}

}  // namespace mesh::neural
