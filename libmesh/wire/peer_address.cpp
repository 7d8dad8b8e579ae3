// Peer addresses: "host:port" or "[v6]:port", checked without allocating,
// because send() checks the address of every message.
#include "wire/peer_address.hpp"

namespace mesh::wire {

namespace {

// ASCII checks without the locale lookups of std::isalnum.
bool is_host_char(char c, bool bracketed) {
  const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  if (alnum || c == '-' || c == '.') {
    return true;
  }
  return bracketed && (c == ':' || c == '%');
}

}  // namespace

namespace detail {

std::string bracket_if_ipv6(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::optional<std::string> split_peer_address(std::string_view address, std::string_view& host,
                                              std::uint16_t& port) {
  std::string_view port_text;
  const bool bracketed = !address.empty() && address.front() == '[';
  if (bracketed) {
    const auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') {
      return "an IPv6 host must be followed by ]:port";
    }
    host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return "the port is missing";
    }
    host = address.substr(0, colon);
    port_text = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return "an IPv6 host must be in brackets";
    }
  }

  if (host.empty()) {
    return "the host is empty";
  }
  for (const char c : host) {
    if (!is_host_char(c, bracketed)) {
      return "the host contains the character '" + std::string(1, c) + "'";
    }
  }
  if (port_text.empty() || port_text.size() > 5) {
    return "the port is not a number";
  }
  unsigned long value = 0;
  for (const char c : port_text) {
    if (c < '0' || c > '9') {
      return "the port is not a number";
    }
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return "the port is out of range";
  }
  port = static_cast<std::uint16_t>(value);
  return std::nullopt;
}

error invalid_peer_address(std::string_view address, const std::string& reason) {
  return error{errc::invalid_argument, "invalid peer address '" + std::string(address) + "': " + reason +
                                           "; expected host:port (IPv6 as [address]:port) with a port from 1 to "
                                           "65535"};
}

}  // namespace detail

result<peer_address> parse_peer_address(std::string_view address) {
  std::string_view host;
  std::uint16_t port = 0;
  if (auto reason = detail::split_peer_address(address, host, port)) {
    return detail::invalid_peer_address(address, *reason);
  }
  return peer_address{std::string(host), port};
}

}  // namespace mesh::wire
