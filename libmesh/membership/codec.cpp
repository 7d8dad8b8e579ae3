// Validation of membership messages and protobuf conversions; see codec.hpp.
#include "mesh/membership/codec.hpp"

#include <fmt/format.h>

#include <charconv>
#include <string>

namespace mesh::membership {

namespace {

using mesh::v1::MemberInfo;
using mesh::v1::MembershipMessage;
using mesh::v1::MemberUpdate;

constexpr std::size_t max_shown_value = 64;
constexpr std::size_t max_host_bytes = 253;
constexpr std::size_t identity_key_bytes = 32;

// Quotes a value for an error message, cut to max_shown_value characters.
std::string quoted(std::string_view value) {
  if (value.size() > max_shown_value) {
    return fmt::format("\"{}...\" ({} bytes)", value.substr(0, max_shown_value), value.size());
  }
  return fmt::format("\"{}\"", value);
}

error invalid(std::string_view field, std::string_view problem) {
  return fail(errc::decode_error, fmt::format("invalid membership message: {} {}", field, problem));
}

result<void> check_node_id(std::string_view field, std::string_view node_id) {
  if (!is_valid_node_id(node_id)) {
    return invalid(field, fmt::format("{} is not 32 lowercase hex characters", quoted(node_id)));
  }
  return {};
}

result<void> check_address(std::string_view field, std::string_view address) {
  if (!is_valid_address(address)) {
    return invalid(field, fmt::format("{} is not host:port with a port in 1..65535", quoted(address)));
  }
  return {};
}

result<void> check_port(const std::string& field, std::uint32_t port) {
  if (port > 65535) {
    return invalid(field, fmt::format("{} is not a port in 0..65535", port));
  }
  return {};
}

result<void> check_info(const std::string& path, const MemberInfo& info, const codec_limits& limits) {
  if (auto checked = check_node_id(path + ".node_id", info.node_id()); !checked) {
    return checked;
  }
  if (info.name().size() > limits.max_name_bytes) {
    return invalid(path + ".name", fmt::format("{} is longer than {} bytes", quoted(info.name()),
                                               limits.max_name_bytes));
  }
  if (info.role() == mesh::v1::NODE_ROLE_UNSPECIFIED || !mesh::v1::NodeRole_IsValid(info.role())) {
    return invalid(path + ".role",
                   fmt::format("{} is not bootstrap (1), worker (2) or agent (3)",
                               static_cast<int>(info.role())));
  }
  if (auto checked = check_address(path + ".address", info.address()); !checked) {
    return checked;
  }
  if (info.has_ports()) {
    const auto& ports = info.ports();
    const std::pair<const char*, std::uint32_t> fields[] = {{"p2p", ports.p2p()},
                                                             {"rpc", ports.rpc()},
                                                             {"api", ports.api()},
                                                             {"mcp", ports.mcp()},
                                                             {"metrics", ports.metrics()}};
    for (const auto& [name, port] : fields) {
      if (auto checked = check_port(path + ".ports." + name, port); !checked) {
        return checked;
      }
    }
  }
  if (!info.identity_key().empty() && info.identity_key().size() != identity_key_bytes) {
    return invalid(path + ".identity_key",
                   fmt::format("has {} bytes; expected 0 or {}", info.identity_key().size(),
                               identity_key_bytes));
  }
  return {};
}

result<void> check_update(const std::string& path, const MemberUpdate& update,
                          const codec_limits& limits) {
  if (!update.has_info()) {
    return invalid(path + ".info", "is missing");
  }
  if (auto checked = check_info(path + ".info", update.info(), limits); !checked) {
    return checked;
  }
  if (update.state() == mesh::v1::MEMBER_STATE_UNSPECIFIED ||
      !mesh::v1::MemberState_IsValid(update.state())) {
    return invalid(path + ".state",
                   fmt::format("{} is not alive (1), suspect (2), dead (3) or left (4)",
                               static_cast<int>(update.state())));
  }
  if (!update.reporter_id().empty()) {
    if (auto checked = check_node_id(path + ".reporter_id", update.reporter_id()); !checked) {
      return checked;
    }
  }
  return {};
}

result<void> check_optional_node_id(std::string_view field, std::string_view node_id) {
  if (node_id.empty()) {
    return {};
  }
  return check_node_id(field, node_id);
}

result<void> check_body(const MembershipMessage& message, const codec_limits& limits) {
  switch (message.message_case()) {
    case MembershipMessage::kPing: {
      const auto& ping = message.ping();
      if (auto checked = check_optional_node_id("ping.target_id", ping.target_id()); !checked) {
        return checked;
      }
      if (!ping.requester_address().empty()) {
        return check_address("ping.requester_address", ping.requester_address());
      }
      return {};
    }
    case MembershipMessage::kAck:
      return check_optional_node_id("ack.target_id", message.ack().target_id());
    case MembershipMessage::kPingRequest: {
      const auto& request = message.ping_request();
      if (auto checked = check_node_id("ping_request.target_id", request.target_id()); !checked) {
        return checked;
      }
      return check_address("ping_request.target_address", request.target_address());
    }
    case MembershipMessage::kPushPull: {
      const auto& push_pull = message.push_pull();
      if (static_cast<std::size_t>(push_pull.members_size()) > limits.max_members) {
        return invalid("push_pull.members", fmt::format("has {} entries; the limit is {}",
                                                        push_pull.members_size(), limits.max_members));
      }
      for (int i = 0; i < push_pull.members_size(); ++i) {
        auto checked = check_update(fmt::format("push_pull.members[{}]", i), push_pull.members(i), limits);
        if (!checked) {
          return checked;
        }
      }
      return {};
    }
    case MembershipMessage::kNack:
      return {};
    case MembershipMessage::kBroadcast:
      return {};
    case MembershipMessage::MESSAGE_NOT_SET:
      break;
  }
  return invalid("message", "has no ping, ack, ping_request, push_pull, broadcast or nack set");
}

}  // namespace

bool is_valid_node_id(std::string_view node_id) {
  if (node_id.size() != 32) {
    return false;
  }
  for (char c : node_id) {
    const bool digit = c >= '0' && c <= '9';
    const bool lower_hex = c >= 'a' && c <= 'f';
    if (!digit && !lower_hex) {
      return false;
    }
  }
  return true;
}

bool is_valid_address(std::string_view address) {
  std::string_view host;
  std::string_view port;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find("]:");
    if (close == std::string_view::npos) {
      return false;
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      return false;
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return false;  // an IPv6 host needs brackets
    }
  }
  if (host.empty() || host.size() > max_host_bytes) {
    return false;
  }
  for (char c : host) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte >= 0x7f || c == '/' || c == '[' || c == ']') {
      return false;
    }
  }
  if (port.empty() || port.size() > 5) {
    return false;
  }
  unsigned value = 0;
  const auto [end, code] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (code != std::errc{} || end != port.data() + port.size()) {
    return false;
  }
  return value >= 1 && value <= 65535;
}

result<void> validate_message(const MembershipMessage& message, const codec_limits& limits) {
  if (static_cast<std::size_t>(message.gossip_size()) > limits.max_gossip) {
    return invalid("gossip", fmt::format("has {} entries; the limit is {}", message.gossip_size(),
                                         limits.max_gossip));
  }
  if (auto checked = check_body(message, limits); !checked) {
    return checked;
  }
  for (int i = 0; i < message.gossip_size(); ++i) {
    auto checked = check_update(fmt::format("gossip[{}]", i), message.gossip(i), limits);
    if (!checked) {
      return checked;
    }
  }
  return {};
}

mesh::v1::NodeRole to_proto(node_role role) {
  switch (role) {
    case node_role::bootstrap:
      return mesh::v1::NODE_ROLE_BOOTSTRAP;
    case node_role::worker:
      return mesh::v1::NODE_ROLE_WORKER;
    case node_role::agent:
      return mesh::v1::NODE_ROLE_AGENT;
  }
  return mesh::v1::NODE_ROLE_UNSPECIFIED;
}

mesh::v1::MemberState to_proto(member_state state) {
  switch (state) {
    case member_state::alive:
      return mesh::v1::MEMBER_STATE_ALIVE;
    case member_state::suspect:
      return mesh::v1::MEMBER_STATE_SUSPECT;
    case member_state::dead:
      return mesh::v1::MEMBER_STATE_DEAD;
    case member_state::left:
      return mesh::v1::MEMBER_STATE_LEFT;
  }
  return mesh::v1::MEMBER_STATE_UNSPECIFIED;
}

void to_proto(const member_info& info, mesh::v1::MemberInfo& out) {
  out.set_node_id(info.node_id);
  out.set_name(info.name);
  out.set_role(to_proto(info.role));
  out.set_address(info.address);
  auto& ports = *out.mutable_ports();
  ports.set_p2p(info.ports.p2p);
  ports.set_rpc(info.ports.rpc);
  ports.set_api(info.ports.api);
  ports.set_mcp(info.ports.mcp);
  ports.set_metrics(info.ports.metrics);
  out.set_load(info.load);
  if (info.identity_key.empty()) {
    out.clear_identity_key();
  } else {
    out.set_identity_key(info.identity_key);
  }
}

node_role from_proto(mesh::v1::NodeRole role) {
  switch (role) {
    case mesh::v1::NODE_ROLE_BOOTSTRAP:
      return node_role::bootstrap;
    case mesh::v1::NODE_ROLE_AGENT:
      return node_role::agent;
    default:
      return node_role::worker;
  }
}

member_state from_proto(mesh::v1::MemberState state) {
  switch (state) {
    case mesh::v1::MEMBER_STATE_SUSPECT:
      return member_state::suspect;
    case mesh::v1::MEMBER_STATE_DEAD:
      return member_state::dead;
    case mesh::v1::MEMBER_STATE_LEFT:
      return member_state::left;
    default:
      return member_state::alive;
  }
}

member_info from_proto(const mesh::v1::MemberInfo& info) {
  member_info out;
  out.node_id = info.node_id();
  out.name = info.name();
  out.role = from_proto(info.role());
  out.address = info.address();
  out.ports.p2p = static_cast<std::uint16_t>(info.ports().p2p());
  out.ports.rpc = static_cast<std::uint16_t>(info.ports().rpc());
  out.ports.api = static_cast<std::uint16_t>(info.ports().api());
  out.ports.mcp = static_cast<std::uint16_t>(info.ports().mcp());
  out.ports.metrics = static_cast<std::uint16_t>(info.ports().metrics());
  out.load = info.load();
  out.identity_key = info.identity_key();
  return out;
}

}  // namespace mesh::membership
