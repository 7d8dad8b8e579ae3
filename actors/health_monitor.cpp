#include "mesh/actors/health_monitor.hpp"

#include <caf/all.hpp>

#include "mesh/actors/messages.hpp"
#include "mesh/actors/status_board.hpp"
#include "mesh/telemetry/logging.hpp"
#include "mesh/telemetry/metrics.hpp"

namespace mesh::actors {

namespace {

struct health_state {
  health_monitor_config config;
  std::map<caf::actor_addr, std::string> names;
  std::shared_ptr<spdlog::logger> log = telemetry::logger("health");
  bool was_joined = false;

  static inline const char* name = "health_monitor";
};

using health_actor = caf::stateful_actor<health_state>;

void check_membership(health_actor* self) {
  auto& st = self->state;
  const auto snapshot = st.config.board->snapshot();
  const auto alive = std::count_if(snapshot->members.begin(), snapshot->members.end(),
                                   [](const membership::member& m) {
                                     return m.state == membership::member_state::alive ||
                                            m.state == membership::member_state::suspect;
                                   });
  auto actor_state = snapshot->components.find("membership");
  const bool actor_running =
      actor_state == snapshot->components.end() || actor_state->second.healthy;
  if (!actor_running) {
    return;
  }

  if (snapshot->joined) {
    st.config.board->set_component("membership", true,
                                   fmt::format("joined, {} members alive", alive));
  } else {
    st.config.board->set_component("membership", true, "joining");
  }
  if (snapshot->joined != st.was_joined) {
    st.log->info("membership readiness changed joined={} alive={}", snapshot->joined, alive);
    st.was_joined = snapshot->joined;
  }
}

caf::behavior health_behavior(health_actor* self, health_monitor_config config) {
  self->state.config = std::move(config);
  for (const auto& [component, actor] : self->state.config.watched) {
    self->monitor(actor);
    self->state.names.emplace(actor.address(), component);
    self->state.config.board->set_component(component, true, "running");
  }

  self->set_down_handler([self](caf::down_msg& down) {
    auto& st = self->state;
    const auto found = st.names.find(down.source);
    if (found == st.names.end()) {
      return;
    }
    const auto reason = self->system().render(down.reason);
    st.log->error("component actor stopped component={} reason={}", found->second, reason);
    st.config.board->set_component(found->second, false, "actor stopped: " + reason);
  });

  self->send(self, check_atom::value);
  return {
      [self](check_atom) {
        const auto started = std::chrono::steady_clock::now();
        check_membership(self);
        if (self->state.config.actor_metrics != nullptr) {
          self->state.config.actor_metrics->record_message(
              "health_monitor", std::chrono::steady_clock::now() - started);
        }
        self->delayed_send(self, self->state.config.period, check_atom::value);
      },
  };
}

}  // namespace

caf::actor spawn_health_monitor(caf::actor_system& system, health_monitor_config config) {
  return system.spawn(health_behavior, std::move(config));
}

}  // namespace mesh::actors
