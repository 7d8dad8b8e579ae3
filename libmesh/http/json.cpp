#include "mesh/http/json.hpp"

#include <cstdint>

namespace mesh::http {

namespace {

constexpr std::string_view replacement_character = "\xEF\xBF\xBD";

// Returns the length of the well-formed UTF-8 sequence that starts at
// text[pos], or 0 when the bytes there are not one (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view text, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[pos + i]); };
  const auto continuation = [&](std::size_t i) {
    return pos + i < text.size() && (byte(i) & 0xC0U) == 0x80U;
  };

  const std::uint8_t lead = byte(0);
  if (lead < 0x80U) {
    return 1;
  }
  if (lead >= 0xC2U && lead <= 0xDFU) {
    return continuation(1) ? 2 : 0;
  }
  if (lead >= 0xE0U && lead <= 0xEFU) {
    if (!continuation(1) || !continuation(2)) {
      return 0;
    }
    if (lead == 0xE0U && byte(1) < 0xA0U) {
      return 0;
    }
    if (lead == 0xEDU && byte(1) >= 0xA0U) {
      return 0;
    }
    return 3;
  }
  if (lead >= 0xF0U && lead <= 0xF4U) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) {
      return 0;
    }
    if (lead == 0xF0U && byte(1) < 0x90U) {
      return 0;
    }
    if (lead == 0xF4U && byte(1) >= 0x90U) {
      return 0;
    }
    return 4;
  }
  return 0;
}

}  // namespace

std::string json_escape(std::string_view text) {
  static constexpr char hex_digits[] = "0123456789abcdef";

  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t pos = 0;
  while (pos < text.size()) {
    const char c = text[pos];
    const auto code = static_cast<std::uint8_t>(c);

    if (code >= 0x80U) {
      const std::size_t length = utf8_sequence_length(text, pos);
      if (length == 0) {
        out += replacement_character;
        ++pos;
      } else {
        out.append(text.substr(pos, length));
        pos += length;
      }
      continue;
    }

    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (code < 0x20U || code == 0x7FU) {
          out += "\\u00";
          out += hex_digits[code >> 4U];
          out += hex_digits[code & 0x0FU];
        } else {
          out += c;
        }
    }
    ++pos;
  }
  return out;
}

std::string json_quote(std::string_view text) {
  std::string out = "\"";
  out += json_escape(text);
  out += '"';
  return out;
}

std::string json_error_body(std::string_view code, std::string_view message) {
  std::string out = R"({"error":{"code":)";
  out += json_quote(code);
  out += R"(,"message":)";
  out += json_quote(message);
  out += "}}";
  return out;
}

}  // namespace mesh::http
