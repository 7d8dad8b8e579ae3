#pragma once
// Error values for the whole project: an error code from one enum plus a
// message for people, and result<T>, which holds either a value or an error.
// Exceptions from cppzmq, Protobuf, Beast and yaml-cpp are caught at the
// boundary where they are thrown and turned into these values.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mesh {

enum class errc {
  // A caller passed a value outside the accepted range or format.
  invalid_argument = 1,
  // A configuration key has a value that is not accepted.
  invalid_config,
  // A file or socket operation failed; the message names the path or address.
  io_error,
  // An OpenSSL or CURVE operation failed.
  crypto_error,
  // Bytes from a peer or a file could not be decoded.
  decode_error,
  // Input is larger than a configured limit.
  too_large,
  // A peer speaks a protocol version this build does not support.
  unsupported_version,
  // A requested object does not exist.
  not_found,
  // An operation did not finish before its deadline.
  timed_out,
  // A request was valid but refused by policy or by a limit.
  rejected,
  // The object was stopped or is shutting down.
  closed,
};

// Returns the stable lowercase name of `code`, used in logs and JSON replies.
[[nodiscard]] std::string_view to_string(errc code) noexcept;

struct error {
  errc code;
  std::string message;
};

// Holds either a T or an error. Thread safety: none, like any value type.
template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  result(error err) : storage_(std::in_place_index<1>, std::move(err)) {}

  [[nodiscard]] bool has_value() const noexcept { return storage_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  [[nodiscard]] T& value() & {
    assert(has_value());
    return std::get<0>(storage_);
  }
  [[nodiscard]] const T& value() const& {
    assert(has_value());
    return std::get<0>(storage_);
  }
  [[nodiscard]] T&& value() && {
    assert(has_value());
    return std::get<0>(std::move(storage_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const error& err() const {
    assert(!has_value());
    return std::get<1>(storage_);
  }

 private:
  std::variant<T, error> storage_;
};

// result<void>: success or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(error err) : error_(std::move(err)), failed_(true) {}

  [[nodiscard]] bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return has_value(); }

  [[nodiscard]] const error& err() const {
    assert(failed_);
    return error_;
  }

 private:
  error error_{errc::invalid_argument, {}};
  bool failed_ = false;
};

// Shorthand for returning an error: `return fail(errc::io_error, "...")`.
[[nodiscard]] inline error fail(errc code, std::string message) {
  return error{code, std::move(message)};
}

}  // namespace mesh
