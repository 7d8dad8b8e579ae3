#include "mesh/http/json_syntax.hpp"

#include <string>

namespace mesh::http {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Recursive-descent reader over the text. Each read_* method consumes one
// production of the RFC 8259 grammar or records what it expected.
class syntax_reader {
 public:
  explicit syntax_reader(std::string_view text) : text_(text) {}

  result<void> check() {
    skip_whitespace();
    if (!read_value(0)) {
      return error();
    }
    skip_whitespace();
    if (pos_ != text_.size()) {
      expected_ = "the end of the text after the value";
      return error();
    }
    return {};
  }

 private:
  [[nodiscard]] bool at_end() const { return pos_ >= text_.size(); }
  [[nodiscard]] char peek() const { return text_[pos_]; }

  result<void> error() const {
    std::string found;
    if (at_end()) {
      found = "the end of the text";
    } else if (static_cast<unsigned char>(text_[pos_]) < 0x20) {
      found = "control character " + std::to_string(static_cast<int>(text_[pos_]));
    } else {
      found = "'" + std::string(1, text_[pos_]) + "'";
    }
    return fail(errc::invalid_argument, "invalid JSON at byte " + std::to_string(pos_) + ": expected " +
                                            std::string(expected_) + ", found " + found);
  }

  bool expect(std::string_view expectation) {
    expected_ = expectation;
    return false;
  }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) {
      ++pos_;
    }
  }

  bool read_value(int depth) {
    if (at_end()) {
      return expect("a value");
    }
    switch (peek()) {
      case '{':
        return read_container(depth + 1, true);
      case '[':
        return read_container(depth + 1, false);
      case '"':
        return read_string();
      case 't':
        return read_literal("true");
      case 'f':
        return read_literal("false");
      case 'n':
        return read_literal("null");
      default:
        if (peek() == '-' || is_digit(peek())) {
          return read_number();
        }
        return expect("a value (object, array, string, number, true, false or null)");
    }
  }

  // Reads an object (`keyed`, members "key": value) or an array, whose
  // opening bracket is at pos_.
  bool read_container(int depth, bool keyed) {
    if (depth > max_json_depth) {
      return expect("at most " + std::to_string(max_json_depth) + " levels of nesting");
    }
    const char close = keyed ? '}' : ']';
    ++pos_;
    skip_whitespace();
    if (!at_end() && peek() == close) {
      ++pos_;
      return true;
    }
    while (true) {
      if (keyed && !read_key()) {
        return false;
      }
      if (!read_value(depth)) {
        return false;
      }
      skip_whitespace();
      if (!at_end() && peek() == ',') {
        ++pos_;
        skip_whitespace();
        continue;
      }
      if (!at_end() && peek() == close) {
        ++pos_;
        return true;
      }
      return expect(keyed ? "',' or '}' in the object" : "',' or ']' in the array");
    }
  }

  // Reads an object key and the colon after it, and the whitespace around the colon.
  bool read_key() {
    if (at_end() || peek() != '"') {
      return expect("an object key in double quotes");
    }
    if (!read_string()) {
      return false;
    }
    skip_whitespace();
    if (at_end() || peek() != ':') {
      return expect("':' after the object key");
    }
    ++pos_;
    skip_whitespace();
    return true;
  }

  bool read_string() {
    ++pos_;  // opening quote
    while (!at_end()) {
      const char c = peek();
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return expect("an escaped control character (\\n, \\t, \\u0000 ...) in the string");
      }
      if (c != '\\') {
        ++pos_;
        continue;
      }
      ++pos_;
      if (at_end()) {
        break;
      }
      const char escaped = peek();
      if (escaped == 'u') {
        ++pos_;
        for (int i = 0; i < 4; ++i, ++pos_) {
          if (at_end() || !is_hex_digit(peek())) {
            return expect("four hexadecimal digits after \\u");
          }
        }
        continue;
      }
      if (std::string_view("\"\\/bfnrt").find(escaped) == std::string_view::npos) {
        return expect("one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u after the backslash");
      }
      ++pos_;
    }
    return expect("the closing '\"' of the string");
  }

  bool read_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) {
      return expect("a value (object, array, string, number, true, false or null)");
    }
    pos_ += word.size();
    return true;
  }

  bool read_digits() {
    if (at_end() || !is_digit(peek())) {
      return expect("a digit");
    }
    while (!at_end() && is_digit(peek())) {
      ++pos_;
    }
    return true;
  }

  bool read_number() {
    if (peek() == '-') {
      ++pos_;
    }
    if (!at_end() && peek() == '0') {
      ++pos_;  // no further digits may follow a leading zero
    } else if (!read_digits()) {
      return false;
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (!read_digits()) {
        return false;
      }
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) {
        ++pos_;
      }
      if (!read_digits()) {
        return false;
      }
    }
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string expected_;
};

}  // namespace

result<void> check_json_syntax(std::string_view text) {
  return syntax_reader(text).check();
}

}  // namespace mesh::http
