#pragma once
// The membership actor owns the node's SWIM state machine. It feeds it inbound
// messages from the wire thread and ticks from its own timer, sends the
// outbox through the transport, logs membership events, updates the metrics
// and publishes the member list on the status board.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mesh/membership/config.hpp"
#include "mesh/membership/types.hpp"

namespace mesh::membership {
struct membership_metrics;
}
namespace mesh::telemetry {
struct actor_metrics;
}

namespace mesh::actors {

class status_board;

struct membership_actor_config {
  membership::swim_config swim;
  // Must exceed every incarnation this node id used before; the node passes
  // wall-clock seconds, so a restarted node outranks its old entries.
  std::uint64_t initial_incarnation = 0;
  std::uint64_t seed = 0;
  // host:port; names are resolved again before every join attempt.
  std::vector<std::string> bootstrap_peers;
  // Inbound messages that the wire thread handed over and the actor has not
  // handled yet: the wire thread increments it, the actor decrements it and
  // reports it as the mailbox depth. CAF 0.17 has no safe way to read the
  // mailbox size from inside a handler. Optional.
  std::shared_ptr<std::atomic<std::int64_t>> inbound_backlog;
  // Not owned; each must outlive the actor.
  status_board* board = nullptr;
  membership::membership_metrics* metrics = nullptr;
  telemetry::actor_metrics* actor_metrics = nullptr;
};

// Spawns the actor. Until it receives start_membership it keeps every other
// message in its mailbox; it then creates the state machine and joins. On (leave_atom) it broadcasts a graceful
// leave and replies once the leave had time to spread.
[[nodiscard]] caf::actor spawn_membership_actor(caf::actor_system& system,
                                                membership_actor_config config);

// Resolves "host:port" strings to "address:port" with getaddrinfo. Entries
// that do not resolve are logged and skipped. Blocking: call it from a
// detached actor only.
[[nodiscard]] std::vector<std::string> resolve_addresses(const std::vector<std::string>& peers);

}  // namespace mesh::actors
