#include <stdexcept>
#include <string_view>

#include "mesh/http/json.hpp"
#include "mesh/http/server.hpp"

namespace mesh::http {

namespace {

// Splits "/a/b" into {"a", "b"}; "/" becomes {""}.
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> segments;
  std::string_view rest = path.substr(1);
  while (true) {
    const auto slash = rest.find('/');
    segments.emplace_back(rest.substr(0, slash));
    if (slash == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(slash + 1);
  }
  return segments;
}

bool is_placeholder(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// True when `a` and `b` match exactly the same paths.
bool same_shape(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const bool a_placeholder = is_placeholder(a[i]);
    if (a_placeholder != is_placeholder(b[i]) || (!a_placeholder && a[i] != b[i])) {
      return false;
    }
  }
  return true;
}

// Returns which segments of `pattern` are literal when it matches `path`.
// A match with literals earlier in the path is the more specific one.
std::optional<std::vector<bool>> match_segments(const std::vector<std::string>& pattern,
                                                const std::vector<std::string>& path) {
  if (pattern.size() != path.size()) {
    return std::nullopt;
  }
  std::vector<bool> literal(pattern.size());
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_placeholder(pattern[i])) {
      if (path[i].empty()) {
        return std::nullopt;
      }
    } else if (pattern[i] != path[i]) {
      return std::nullopt;
    } else {
      literal[i] = true;
    }
  }
  return literal;
}

}  // namespace

response error_response(unsigned status, std::string_view code, std::string_view message) {
  return response{status, "application/json", json_error_body(code, message)};
}

void router::add(std::string method, std::string pattern, handler h, bool requires_token) {
  if (pattern.empty() || pattern.front() != '/') {
    throw std::invalid_argument("route pattern '" + pattern + "' must start with '/'");
  }
  if (method.empty()) {
    throw std::invalid_argument("route method for '" + pattern + "' is empty");
  }
  if (!h) {
    throw std::invalid_argument("route " + method + " " + pattern + " has no handler");
  }

  auto segments = split_path(pattern);
  for (const auto& segment : segments) {
    const bool has_brace = segment.find_first_of("{}") != std::string::npos;
    if (has_brace && (!is_placeholder(segment) || segment.size() == 2 ||
                      segment.find_first_of("{}", 1) != segment.size() - 1)) {
      throw std::invalid_argument("route pattern '" + pattern + "' has a malformed placeholder '" +
                                  segment + "'; write one {name} per segment");
    }
  }

  for (const auto& existing : routes_) {
    if (existing.method == method && same_shape(existing.segments, segments)) {
      throw std::invalid_argument("route " + method + " " + pattern + " is already registered");
    }
  }
  routes_.push_back(route{std::move(method), std::move(segments), std::move(h), requires_token});
}

router::match router::find(std::string_view method, std::string_view path) const {
  match found;
  if (path.empty() || path.front() != '/') {
    return found;
  }

  const auto segments = split_path(path);
  const route* best = nullptr;
  std::vector<bool> best_literals;
  for (const auto& candidate : routes_) {
    const auto literals = match_segments(candidate.segments, segments);
    if (!literals) {
      continue;
    }
    if (candidate.method != method) {
      found.allowed_methods.push_back(candidate.method);
      continue;
    }
    if (best == nullptr || *literals > best_literals) {
      best = &candidate;
      best_literals = *literals;
    }
  }

  if (best == nullptr) {
    return found;
  }
  found.allowed_methods.clear();
  found.target = &best->target;
  found.requires_token = best->requires_token;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (is_placeholder(best->segments[i])) {
      const auto& name = best->segments[i];
      found.params[name.substr(1, name.size() - 2)] = segments[i];
    }
  }
  return found;
}

void router::add_hint(std::string prefix, std::string hint) {
  hints_.emplace_back(std::move(prefix), std::move(hint));
}

const std::string* router::hint_for(std::string_view path) const {
  const std::string* best = nullptr;
  std::size_t best_length = 0;
  for (const auto& [prefix, hint] : hints_) {
    if (path.substr(0, prefix.size()) == prefix && (best == nullptr || prefix.size() > best_length)) {
      best = &hint;
      best_length = prefix.size();
    }
  }
  return best;
}

}  // namespace mesh::http
