#pragma once
// JSON bodies through the protobuf JSON mapping: field names as written in
// the .proto files, every primitive field printed, unknown fields refused.
// Free functions, no shared state.

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "mesh/error.hpp"

namespace mesh::http {

// Prints `message` as JSON with the .proto field names.
[[nodiscard]] std::string to_json(const google::protobuf::Message& message);

// Parses `body` into `out`. Fails with invalid_argument when the text is not
// strict JSON, and the message then names the byte offset. It also fails with
// protobuf's description of the problem, which names the field, for an
// unknown field or a value of the wrong type, such as bad base64 for bytes.
[[nodiscard]] result<void> from_json(std::string_view body, google::protobuf::Message& out);

}  // namespace mesh::http
