#pragma once
// Parsers for configuration values (private to libmesh/config). Each returns
// errc::invalid_config with a message naming `origin` (the flag, environment
// variable or YAML key the value came from), the value and what is accepted.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/error.hpp"

namespace mesh::config::detail {

[[nodiscard]] result<std::uint64_t> parse_unsigned(std::string_view origin, std::string_view text,
                                                   std::uint64_t min, std::uint64_t max);
[[nodiscard]] result<std::uint16_t> parse_port(std::string_view origin, std::string_view text);
[[nodiscard]] result<bool> parse_bool(std::string_view origin, std::string_view text);
[[nodiscard]] result<std::string> parse_choice(std::string_view origin, std::string_view text,
                                               const std::vector<std::string_view>& accepted);

// Node names end up in paths and metric labels: 1 to 253 characters from
// A-Z a-z 0-9 . _ - and not "." or "..".
[[nodiscard]] result<std::string> parse_node_name(std::string_view origin, std::string_view text);

// An IPv4 or IPv6 literal to bind sockets to.
[[nodiscard]] result<std::string> parse_bind_address(std::string_view origin, std::string_view text);

// A DNS name (RFC 1123), an IPv4 literal or an IPv6 literal, without a port.
[[nodiscard]] result<std::string> parse_host(std::string_view origin, std::string_view text);

// A comma-separated list of host:port entries (IPv6 as [addr]:port, port
// 1..65535). Empty entries are skipped, so "" is the empty list.
[[nodiscard]] result<std::vector<std::string>> parse_peer_list(std::string_view origin,
                                                               std::string_view text);

}  // namespace mesh::config::detail
