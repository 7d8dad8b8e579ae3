#pragma once
// Minimal JSON text helpers for HTTP replies and JSON log lines: string
// escaping and the project's error body. Boost 1.74 ships no Boost.JSON, and
// structured API bodies use the protobuf JSON mapping instead.

#include <string>
#include <string_view>

namespace mesh::http {

// Escapes `text` for use inside a JSON string literal (without the quotes).
// Quotes, backslashes and control characters are escaped; invalid UTF-8 byte
// sequences are replaced with U+FFFD so that the output is always valid JSON.
[[nodiscard]] std::string json_escape(std::string_view text);

// Returns `text` escaped and wrapped in double quotes.
[[nodiscard]] std::string json_quote(std::string_view text);

// Returns the error body every HTTP endpoint uses:
// {"error":{"code":"<code>","message":"<message>"}}.
[[nodiscard]] std::string json_error_body(std::string_view code, std::string_view message);

}  // namespace mesh::http
