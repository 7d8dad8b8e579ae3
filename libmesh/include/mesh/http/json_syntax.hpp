#pragma once
// Strict JSON syntax check (RFC 8259). protobuf's JSON parser (3.21) also
// accepts unquoted object keys, single-quoted strings and trailing commas, so
// request bodies pass this check before they reach it.

#include <string_view>

#include "mesh/error.hpp"

namespace mesh::http {

// Maximum nesting of objects and arrays. It bounds the recursion of this
// check, and no request message of the API nests anywhere near as deep.
inline constexpr int max_json_depth = 100;

// Checks that `text` is exactly one JSON value with optional whitespace
// around it. Fails with invalid_argument naming the byte offset and what
// was expected there. Does not check that strings are valid UTF-8.
[[nodiscard]] result<void> check_json_syntax(std::string_view text);

}  // namespace mesh::http
