#pragma once
// Line and number parsing shared by the data set readers and the .net
// reader. Private to libmesh/neural.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/error.hpp"
#include "mesh/neural/activation.hpp"

namespace mesh::neural::detail {

// Splits text into lines ('\n', with a trailing '\r' removed) and counts them
// from 1.
class line_reader {
 public:
  explicit line_reader(std::string_view text) : text_(text) {}

  // Stores the next line in `line`; false at the end of the text.
  bool next(std::string_view& line) {
    if (position_ >= text_.size()) {
      return false;
    }
    const std::size_t end = text_.find('\n', position_);
    const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
    line = text_.substr(position_, stop - position_);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    position_ = stop + 1;
    ++line_number_;
    return true;
  }

  [[nodiscard]] std::size_t line_number() const noexcept { return line_number_; }

 private:
  std::string_view text_;
  std::size_t position_ = 0;
  std::size_t line_number_ = 0;
};

[[nodiscard]] inline std::string_view trim(std::string_view text) {
  const std::size_t first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) {
    return {};
  }
  const std::size_t last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

[[nodiscard]] inline bool is_blank(std::string_view line) { return trim(line).empty(); }

// Parses a whole token as a number that is finite as a float; nullopt
// otherwise (NaN, Inf, overflow, trailing characters).
[[nodiscard]] inline std::optional<double> parse_finite(std::string_view token) {
  if (!token.empty() && token.front() == '+') {
    token.remove_prefix(1);
  }
  double value = 0.0;
  const auto [end, code] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (code != std::errc{} || end != token.data() + token.size() || !std::isfinite(value) ||
      std::fabs(value) > static_cast<double>(std::numeric_limits<scalar>::max())) {
    return std::nullopt;
  }
  return value;
}

// Parses an unsigned integer token; nullopt for anything else.
[[nodiscard]] inline std::optional<std::size_t> parse_count(std::string_view token) {
  std::size_t value = 0;
  const auto [end, code] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (code != std::errc{} || end != token.data() + token.size() || token.empty()) {
    return std::nullopt;
  }
  return value;
}

// Builds "<source>:<line>: <message>" as errc::decode_error.
[[nodiscard]] inline error decode_error_at(std::string_view source, std::size_t line,
                                           const std::string& message) {
  return fail(errc::decode_error,
              std::string(source) + ":" + std::to_string(line) + ": " + message);
}

// Reads a whole file; errc::io_error naming the path when it cannot.
[[nodiscard]] result<std::string> read_file_bytes(const std::filesystem::path& path);

// Writes a whole file; errc::io_error naming the path when it cannot.
[[nodiscard]] result<void> write_file_bytes(const std::filesystem::path& path,
                                            std::string_view bytes);

}  // namespace mesh::neural::detail
