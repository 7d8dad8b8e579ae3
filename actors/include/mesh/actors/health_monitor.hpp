#pragma once
// The health monitor actor: watches the node's other actors and the
// membership view, and writes each component's state on the status board,
// where GET /health and GET /ready read it.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <chrono>
#include <map>
#include <string>

namespace mesh::telemetry {
struct actor_metrics;
}

namespace mesh::actors {

class status_board;

struct health_monitor_config {
  // Actors to watch, by component name; a component turns unhealthy when its
  // actor terminates.
  std::map<std::string, caf::actor> watched;
  std::chrono::milliseconds period{1000};
  // Not owned; must outlive the actor.
  status_board* board = nullptr;
  telemetry::actor_metrics* actor_metrics = nullptr;
};

[[nodiscard]] caf::actor spawn_health_monitor(caf::actor_system& system,
                                              health_monitor_config config);

}  // namespace mesh::actors
