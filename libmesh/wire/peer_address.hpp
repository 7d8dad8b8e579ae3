#pragma once
// Checks of peer addresses, private to the wire. parse_peer_address() in
// mesh/wire/transport.hpp is the public form.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/error.hpp"
#include "mesh/wire/transport.hpp"

namespace mesh::wire::detail {

// Returns `host` in brackets when it is an IPv6 address, for ZeroMQ endpoints.
[[nodiscard]] std::string bracket_if_ipv6(const std::string& host);

// Splits "host:port" (or "[v6]:port") without allocating. Returns the reason
// when `address` is invalid, and nullopt with `host` and `port` set otherwise.
[[nodiscard]] std::optional<std::string> split_peer_address(std::string_view address, std::string_view& host,
                                                            std::uint16_t& port);

// Returns the error for an invalid `address`, naming `reason` and the accepted form.
[[nodiscard]] error invalid_peer_address(std::string_view address, const std::string& reason);

}  // namespace mesh::wire::detail
