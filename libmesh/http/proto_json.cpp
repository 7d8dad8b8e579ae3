#include "mesh/http/proto_json.hpp"

#include <google/protobuf/util/json_util.h>

#include "mesh/http/json_syntax.hpp"

namespace mesh::http {

std::string to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  // Printing a message built in this process cannot fail, so the status is
  // not checked.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

result<void> from_json(std::string_view body, google::protobuf::Message& out) {
  if (body.empty()) {
    return fail(errc::invalid_argument, "request body is empty: a JSON object is expected");
  }
  if (auto syntax = check_json_syntax(body); !syntax) {
    return fail(errc::invalid_argument, "request body: " + syntax.err().message);
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &out, options);
  if (!status.ok()) {
    return fail(errc::invalid_argument, "request body: " + std::string(status.message()));
  }
  return {};
}

}  // namespace mesh::http
