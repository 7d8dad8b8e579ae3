#pragma once
// Validation of decoded membership messages and conversion between the
// protobuf schema (proto/mesh/v1/membership.proto) and the value types of
// types.hpp. The wire thread calls validate_message on every decoded
// MembershipMessage so that nothing malformed reaches the state machine.
// docs/membership.md has the message table. Free functions, no shared state.

#include <cstddef>
#include <string_view>

#include "mesh/error.hpp"
#include "mesh/membership/types.hpp"
#include "mesh/v1/membership.pb.h"

namespace mesh::membership {

struct codec_limits {
  std::size_t max_members = 20000;   // entries in one push-pull
  std::size_t max_gossip = 64;       // piggybacked updates on one message
  std::size_t max_name_bytes = 128;  // MemberInfo.name
};

// Checks every field of `message`. Returns errc::decode_error with a message
// that names the field path and the offending value.
[[nodiscard]] result<void> validate_message(const mesh::v1::MembershipMessage& message,
                                            const codec_limits& limits);

// True for exactly 32 lowercase hex characters.
[[nodiscard]] bool is_valid_node_id(std::string_view node_id);

// True for "host:port" or "[v6-host]:port" with a non-empty host and a port in 1..65535.
[[nodiscard]] bool is_valid_address(std::string_view address);

[[nodiscard]] mesh::v1::NodeRole to_proto(node_role role);
[[nodiscard]] mesh::v1::MemberState to_proto(member_state state);
void to_proto(const member_info& info, mesh::v1::MemberInfo& out);

// The conversions from protobuf expect a message that passed validate_message.
[[nodiscard]] node_role from_proto(mesh::v1::NodeRole role);
[[nodiscard]] member_state from_proto(mesh::v1::MemberState state);
[[nodiscard]] member_info from_proto(const mesh::v1::MemberInfo& info);

}  // namespace mesh::membership
