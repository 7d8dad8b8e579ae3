#pragma once
// Value types of the SWIM membership protocol: member descriptions, member
// states, the messages the state machine hands to the wire, the events it
// reports and its counters. Plain values without synchronisation.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/v1/membership.pb.h"

namespace mesh::membership {

// Monotonic time since an arbitrary origin. The caller always passes it in;
// the membership core never reads a clock.
using timestamp = std::chrono::milliseconds;

enum class node_role { bootstrap, worker, agent };

// Precedence at equal incarnation: left > dead > suspect > alive.
enum class member_state { alive, suspect, dead, left };

[[nodiscard]] std::string_view to_string(node_role role);
[[nodiscard]] std::string_view to_string(member_state state);

// Parses "bootstrap", "worker" or "agent"; returns nullopt for anything else.
[[nodiscard]] std::optional<node_role> parse_role(std::string_view text);

// Ports on which a member serves; 0 means the service is off.
struct service_ports {
  std::uint16_t p2p = 0;
  std::uint16_t rpc = 0;
  std::uint16_t api = 0;
  std::uint16_t mcp = 0;
  std::uint16_t metrics = 0;

  friend bool operator==(const service_ports&, const service_ports&) = default;
};

// Description a member advertises about itself. A member changes it only
// together with a higher incarnation.
struct member_info {
  std::string node_id;  // 32 lowercase hex characters
  std::string name;
  node_role role = node_role::worker;
  std::string address;  // host:port of the P2P socket
  service_ports ports;
  std::uint32_t load = 0;    // per mille, 0..1000
  std::string identity_key;  // raw Ed25519 public key, 32 bytes, or empty

  friend bool operator==(const member_info&, const member_info&) = default;
};

struct member {
  member_info info;
  member_state state = member_state::alive;
  std::uint64_t incarnation = 0;
  timestamp state_since{0};  // when this node recorded the current state
};

// A message for the wire thread to send to `address` (host:port).
struct outbound {
  std::string address;
  mesh::v1::MembershipMessage message;
};

// A change of the membership view, for logs and for the actors above.
struct event {
  enum class kind {
    joined,     // a member became known
    recovered,  // a dead or left member is alive again with a higher incarnation
    suspected,  // a member became suspect
    refuted,    // a suspicion was refuted: by this node about itself, or by the member
    died,       // a suspicion expired or a peer declared the member dead
    left,       // a member left gracefully
    reaped,     // a dead or left member was forgotten after dead_reap_after
    updated,    // an alive member advertised new info with a higher incarnation
  };
  kind what = kind::joined;
  std::string node_id;
  std::string name;
  std::string address;
  std::uint64_t incarnation = 0;
};

[[nodiscard]] std::string_view to_string(event::kind what);

// Totals since construction; they only grow. local_health is the exception:
// it is the current value.
struct statistics {
  std::uint64_t probes_sent = 0;           // direct pings sent as prober
  std::uint64_t probes_failed = 0;         // probes with no ack before the probe interval ended
  std::uint64_t indirect_probes_sent = 0;  // ping requests sent to helpers
  std::uint64_t suspicions_raised = 0;     // members this node suspected after a failed probe
  std::uint64_t refutations = 0;           // times this node refuted a suspicion about itself
  std::uint64_t push_pulls = 0;            // push-pull exchanges started or answered
  std::uint64_t gossip_dropped = 0;        // queued updates dropped by the queue bound before their last send
  std::uint64_t join_attempts = 0;         // calls to join() with at least one seed address
  std::uint64_t nacks_sent = 0;            // nacks sent as helper of an indirect probe
  std::uint64_t nacks_received = 0;        // nacks received for this node's own probes
  std::uint64_t nacks_missed = 0;          // nacks expected from helpers that did not arrive
  // Lifeguard local health multiplier, 0..awareness_max_multiplier; 0 is healthy.
  std::uint32_t local_health = 0;
};

}  // namespace mesh::membership
