#include "config/values.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace mesh::config::detail {

namespace {

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

error invalid(std::string_view origin, std::string_view text, std::string_view accepted) {
  return fail(errc::invalid_config,
              "invalid " + std::string(origin) + " " + quoted(text) + ": " + std::string(accepted));
}

bool is_ipv4(const std::string& text) {
  in_addr address{};
  return ::inet_pton(AF_INET, text.c_str(), &address) == 1;
}

bool is_ipv6(const std::string& text) {
  in6_addr address{};
  return ::inet_pton(AF_INET6, text.c_str(), &address) == 1;
}

bool is_dns_name(std::string_view text) {
  if (text.empty() || text.size() > 253) {
    return false;
  }
  std::size_t label_start = 0;
  while (label_start <= text.size()) {
    const auto dot = text.find('.', label_start);
    const auto label = text.substr(label_start, dot == std::string_view::npos ? std::string_view::npos
                                                                              : dot - label_start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    const bool valid_chars = std::all_of(label.begin(), label.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    });
    if (!valid_chars) {
      return false;
    }
    if (dot == std::string_view::npos) {
      break;
    }
    label_start = dot + 1;
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace

result<std::uint64_t> parse_unsigned(std::string_view origin, std::string_view text, std::uint64_t min,
                                     std::uint64_t max) {
  const std::string accepted =
      "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    return invalid(origin, text, accepted);
  }
  if (value < min || value > max) {
    return invalid(origin, text, accepted);
  }
  return value;
}

result<std::uint16_t> parse_port(std::string_view origin, std::string_view text) {
  auto parsed = parse_unsigned(origin, text, 0, 65535);
  if (!parsed) {
    return invalid(origin, text, "expected a port from 0 to 65535 (0 picks a free port)");
  }
  return static_cast<std::uint16_t>(*parsed);
}

result<bool> parse_bool(std::string_view origin, std::string_view text) {
  if (text == "true") {
    return true;
  }
  if (text == "false") {
    return false;
  }
  return invalid(origin, text, "expected true or false");
}

result<std::string> parse_choice(std::string_view origin, std::string_view text,
                                 const std::vector<std::string_view>& accepted) {
  if (std::find(accepted.begin(), accepted.end(), text) != accepted.end()) {
    return std::string(text);
  }
  std::string list;
  for (const auto choice : accepted) {
    list += list.empty() ? "" : ", ";
    list += choice;
  }
  return invalid(origin, text, "expected one of " + list);
}

result<std::string> parse_node_name(std::string_view origin, std::string_view text) {
  const bool valid_chars = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (text.empty() || text.size() > 253 || !valid_chars || text == "." || text == "..") {
    return invalid(origin, text,
                   "expected 1 to 253 characters from A-Z a-z 0-9 . _ - (and not '.' or '..')");
  }
  return std::string(text);
}

result<std::string> parse_bind_address(std::string_view origin, std::string_view text) {
  const std::string value(text);
  if (is_ipv4(value) || is_ipv6(value)) {
    return value;
  }
  return invalid(origin, text, "expected an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1 or ::");
}

result<std::string> parse_host(std::string_view origin, std::string_view text) {
  const std::string value(text);
  if (is_ipv4(value) || is_ipv6(value) || is_dns_name(text)) {
    return value;
  }
  return invalid(origin, text, "expected a host name or an IP address, without a port");
}

result<std::vector<std::string>> parse_peer_list(std::string_view origin, std::string_view text) {
  constexpr std::string_view accepted =
      "expected comma-separated host:port entries such as seed-1:4001,10.0.0.5:4001 or [::1]:4001, "
      "with ports from 1 to 65535";
  std::vector<std::string> peers;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    const auto entry = trim(rest.substr(0, comma));

    if (!entry.empty()) {
      const auto colon = entry.rfind(':');
      if (colon == std::string_view::npos || colon == 0) {
        return invalid(origin, entry, accepted);
      }
      auto host = std::string(entry.substr(0, colon));
      bool host_valid = false;
      if (host.front() == '[') {
        host_valid = host.size() > 2 && host.back() == ']' && is_ipv6(host.substr(1, host.size() - 2));
      } else {
        host_valid = is_ipv4(host) || is_dns_name(host);
      }
      const auto port = parse_unsigned(origin, entry.substr(colon + 1), 1, 65535);
      if (!host_valid || !port) {
        return invalid(origin, entry, accepted);
      }
      peers.emplace_back(entry);
    }

    if (comma == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(comma + 1);
  }
  return peers;
}

}  // namespace mesh::config::detail
