// String forms of the membership enums.
#include "mesh/membership/types.hpp"

namespace mesh::membership {

std::string_view to_string(node_role role) {
  switch (role) {
    case node_role::bootstrap:
      return "bootstrap";
    case node_role::worker:
      return "worker";
    case node_role::agent:
      return "agent";
  }
  return "unknown";
}

std::string_view to_string(member_state state) {
  switch (state) {
    case member_state::alive:
      return "alive";
    case member_state::suspect:
      return "suspect";
    case member_state::dead:
      return "dead";
    case member_state::left:
      return "left";
  }
  return "unknown";
}

std::optional<node_role> parse_role(std::string_view text) {
  if (text == "bootstrap") {
    return node_role::bootstrap;
  }
  if (text == "worker") {
    return node_role::worker;
  }
  if (text == "agent") {
    return node_role::agent;
  }
  return std::nullopt;
}

std::string_view to_string(event::kind what) {
  switch (what) {
    case event::kind::joined:
      return "joined";
    case event::kind::recovered:
      return "recovered";
    case event::kind::suspected:
      return "suspected";
    case event::kind::refuted:
      return "refuted";
    case event::kind::died:
      return "died";
    case event::kind::left:
      return "left";
    case event::kind::reaped:
      return "reaped";
    case event::kind::updated:
      return "updated";
  }
  return "unknown";
}

}  // namespace mesh::membership
