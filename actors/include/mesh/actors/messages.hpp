#pragma once
// Atoms and message types that the node's actors exchange. Types that carry
// pointers or protobuf objects never leave the process, so they are declared
// as unsafe message types and are not serializable.

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <string>
#include <vector>

#include "mesh/membership/types.hpp"
#include "mesh/v1/membership.pb.h"

namespace mesh::wire {
class transport;
}

namespace mesh::actors {

using tick_atom = caf::atom_constant<caf::atom("tick")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using resolved_atom = caf::atom_constant<caf::atom("resolved")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using load_atom = caf::atom_constant<caf::atom("load")>;

// A membership message that the wire thread decoded and validated.
struct inbound_membership {
  std::string from_address;
  mesh::v1::MembershipMessage message;
};

// Starts the membership actor once the transport and the HTTP servers are
// bound, so that `self` carries the ports that were actually chosen. The node
// keeps ownership of the transport and stops the actor before it.
struct start_membership {
  wire::transport* transport = nullptr;
  membership::member_info self;
};

// Seed addresses (host:port) after name resolution.
struct resolved_seeds {
  std::vector<std::string> addresses;
};

}  // namespace mesh::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::inbound_membership)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::start_membership)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::resolved_seeds)
