#include "mesh/actors/membership_actor.hpp"

#include <caf/all.hpp>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "mesh/actors/messages.hpp"
#include "mesh/actors/status_board.hpp"
#include "mesh/membership/metrics.hpp"
#include "mesh/membership/swim.hpp"
#include "mesh/telemetry/logging.hpp"
#include "mesh/telemetry/metrics.hpp"
#include "mesh/wire/transport.hpp"

namespace mesh::actors {

namespace {

using namespace std::chrono_literals;
using left_atom = caf::atom_constant<caf::atom("left")>;

// How long a leaving node keeps gossiping so that its LEFT state reaches the
// other members before the process exits.
constexpr auto leave_linger = 600ms;
// Bounds for the timer that drives swim::tick: never sleep past the next
// protocol deadline, but do not spin either.
constexpr auto min_tick_delay = 2ms;
constexpr auto max_tick_delay = 100ms;
constexpr auto metrics_period = 500ms;
constexpr auto resolve_timeout = 15s;

struct membership_state {
  std::unique_ptr<membership::swim> swim;
  membership_actor_config config;
  wire::transport* transport = nullptr;
  caf::actor resolver;
  std::chrono::steady_clock::time_point origin = std::chrono::steady_clock::now();
  std::optional<membership::timestamp> tick_scheduled_for;
  membership::timestamp last_observed{-metrics_period};
  bool resolving = false;
  bool leaving = false;
  // Pending (leave_atom) requests; the actor replies once the leave had time to spread.
  std::vector<caf::response_promise> leave_promises;
  std::shared_ptr<spdlog::logger> log = telemetry::logger("membership");
  telemetry::rate_limiter send_errors{5, std::chrono::seconds(10)};

  static inline const char* name = "membership";

  [[nodiscard]] membership::timestamp now() const {
    return std::chrono::duration_cast<membership::timestamp>(std::chrono::steady_clock::now() -
                                                             origin);
  }
};

using membership_actor = caf::stateful_actor<membership_state>;

void log_events(membership_actor* self) {
  auto& st = self->state;
  for (const auto& e : st.swim->take_events()) {
    using kind = membership::event::kind;
    switch (e.what) {
      case kind::joined:
        st.log->info("member joined id={} name={} address={} incarnation={}", e.node_id, e.name,
                     e.address, e.incarnation);
        break;
      case kind::recovered:
        st.log->info("member alive again id={} name={} incarnation={}", e.node_id, e.name,
                     e.incarnation);
        break;
      case kind::suspected:
        st.log->warn("member suspected id={} name={} incarnation={}", e.node_id, e.name,
                     e.incarnation);
        break;
      case kind::refuted:
        st.log->info("suspicion refuted id={} name={} incarnation={}", e.node_id, e.name,
                     e.incarnation);
        break;
      case kind::died:
        st.log->warn("member dead id={} name={} address={} incarnation={}", e.node_id, e.name,
                     e.address, e.incarnation);
        break;
      case kind::left:
        st.log->info("member left id={} name={} incarnation={}", e.node_id, e.name,
                     e.incarnation);
        break;
      case kind::reaped:
        st.log->debug("member reaped id={} name={}", e.node_id, e.name);
        break;
      case kind::updated:
        st.log->debug("member updated id={} name={} incarnation={}", e.node_id, e.name,
                      e.incarnation);
        break;
    }
  }
}

void flush_outbox(membership_actor* self) {
  auto& st = self->state;
  auto outbox = st.swim->take_outbox();
  if (st.transport == nullptr) {
    return;
  }
  for (auto& out : outbox) {
    auto sent = st.transport->send(out.address, mesh::v1::MESSAGE_KIND_MEMBERSHIP,
                                   out.message.SerializeAsString());
    // The state machine reuses the message's gossip entries for later messages.
    st.swim->recycle(std::move(out.message));
    std::uint64_t suppressed = 0;
    if (!sent && st.send_errors.allow(suppressed)) {
      st.log->debug("send failed address={} error={} suppressed={}", out.address,
                    sent.err().message, suppressed);
    }
  }
}

void publish(membership_actor* self, bool force) {
  auto& st = self->state;
  const auto now = st.now();
  if (!force && now - st.last_observed < metrics_period) {
    return;
  }
  st.last_observed = now;
  if (st.config.metrics != nullptr) {
    st.config.metrics->observe(*st.swim);
  }
  if (st.config.actor_metrics != nullptr) {
    const auto backlog = st.config.inbound_backlog ? st.config.inbound_backlog->load() : 0;
    st.config.actor_metrics->set_mailbox_depth("membership",
                                               static_cast<std::size_t>(std::max<std::int64_t>(backlog, 0)));
  }
  if (st.config.board != nullptr) {
    st.config.board->publish_members(st.swim->members(), st.swim->self(), st.swim->joined());
  }
}

// Runs the protocol steps due now, sends what they produced and arms the
// timer for the next deadline.
void after_step(membership_actor* self, bool membership_changed) {
  auto& st = self->state;
  flush_outbox(self);
  log_events(self);
  publish(self, membership_changed);

  const auto now = st.now();
  auto delay = std::clamp(st.swim->next_wakeup() - now,
                          membership::timestamp(min_tick_delay),
                          membership::timestamp(max_tick_delay));
  const auto due = now + delay;
  if (!st.tick_scheduled_for || due + 1ms < *st.tick_scheduled_for) {
    st.tick_scheduled_for = due;
    self->delayed_send(self, delay, tick_atom::value);
  }
}

void request_join(membership_actor* self) {
  auto& st = self->state;
  if (st.resolving || st.leaving) {
    return;
  }
  st.resolving = true;
  st.log->info("join attempt peers={}", fmt::join(st.config.bootstrap_peers, ","));
  self->request(st.resolver, resolve_timeout, resolve_atom::value, st.config.bootstrap_peers)
      .then(
          [self](const resolved_seeds& seeds) {
            auto& state = self->state;
            state.resolving = false;
            if (seeds.addresses.empty()) {
              state.log->warn("join attempt failed: no bootstrap peer resolved peers={}",
                              fmt::join(state.config.bootstrap_peers, ","));
            }
            // An empty list still counts as an attempt, so the retry backoff grows.
            state.swim->join(seeds.addresses, state.now());
            after_step(self, false);
          },
          [self](const caf::error& err) {
            self->state.resolving = false;
            self->state.log->warn("bootstrap peer resolution failed error={}",
                                  self->system().render(err));
          });
}

// Resolves bootstrap peer names off the scheduler's threads. It takes the
// logger as an argument: CAF 0.17 dereferences an empty argument tuple when a
// spawned function has no arguments, which UndefinedBehaviorSanitizer flags.
caf::behavior resolver_behavior(caf::event_based_actor*, std::shared_ptr<spdlog::logger> log) {
  return {
      [log](resolve_atom, const std::vector<std::string>& peers) {
        auto addresses = resolve_addresses(peers);
        log->debug("bootstrap peers resolved peers={} addresses={}", peers.size(), addresses.size());
        return resolved_seeds{std::move(addresses)};
      },
  };
}

caf::behavior running_behavior(membership_actor* self);

caf::behavior membership_behavior(membership_actor* self, membership_actor_config config) {
  self->state.config = std::move(config);
  // Messages from the wire may arrive before the start message; they wait.
  self->set_default_handler(caf::skip);
  return {
      [self](start_membership& start) {
        auto& st = self->state;
        st.transport = start.transport;
        st.swim = std::make_unique<membership::swim>(st.config.swim, start.self,
                                                     st.config.initial_incarnation,
                                                     st.config.seed, st.now());
        st.resolver = self->system().spawn<caf::detached>(resolver_behavior, st.log);
        self->link_to(st.resolver);
        st.log->info("membership started id={} name={} address={} incarnation={}",
                     start.self.node_id, start.self.name, start.self.address,
                     st.config.initial_incarnation);
        self->set_default_handler(caf::print_and_drop);
        self->become(running_behavior(self));

        if (st.config.bootstrap_peers.empty()) {
          st.swim->join({}, st.now());
        } else {
          request_join(self);
        }
        after_step(self, true);
      },
  };
}

caf::behavior running_behavior(membership_actor* self) {
  auto timed = [self](auto&& step) {
    const auto started = std::chrono::steady_clock::now();
    step();
    if (self->state.config.actor_metrics != nullptr) {
      self->state.config.actor_metrics->record_message("membership",
                                                       std::chrono::steady_clock::now() - started);
    }
  };

  return {
      [self, timed](const inbound_membership& inbound) {
        timed([&] {
          auto& state = self->state;
          if (state.config.inbound_backlog) {
            state.config.inbound_backlog->fetch_sub(1, std::memory_order_relaxed);
          }
          const auto members_before = state.swim->alive_count();
          state.swim->receive(inbound.from_address, inbound.message, state.now());
          after_step(self, state.swim->alive_count() != members_before);
        });
      },
      [self, timed](tick_atom) {
        timed([&] {
          auto& state = self->state;
          state.tick_scheduled_for.reset();
          const auto now = state.now();
          state.swim->tick(now);
          if (!state.leaving && !state.swim->joined() && state.swim->join_retry_due(now)) {
            request_join(self);
          }
          after_step(self, false);
        });
      },
      [self, timed](load_atom, std::uint32_t load) {
        timed([&] { self->state.swim->set_load(load); });
      },
      [self](leave_atom) -> caf::result<bool> {
        auto& state = self->state;
        if (!state.leaving) {
          state.leaving = true;
          state.log->info("leaving the mesh id={} members={}", state.swim->self().info.node_id,
                          state.swim->alive_count());
          state.swim->leave(state.now());
          after_step(self, true);
        }
        auto promise = self->make_response_promise<bool>();
        state.leave_promises.push_back(promise);
        self->delayed_send(self, leave_linger, left_atom::value);
        return promise;
      },
      [self](left_atom) {
        auto& state = self->state;
        flush_outbox(self);
        publish(self, true);
        for (auto& promise : state.leave_promises) {
          promise.deliver(true);
        }
        state.leave_promises.clear();
      },
  };
}

}  // namespace

caf::actor spawn_membership_actor(caf::actor_system& system, membership_actor_config config) {
  return system.spawn(membership_behavior, std::move(config));
}

std::vector<std::string> resolve_addresses(const std::vector<std::string>& peers) {
  auto log = telemetry::logger("membership");
  std::vector<std::string> resolved;
  for (const auto& peer : peers) {
    const auto colon = peer.rfind(':');
    if (colon == std::string::npos) {
      log->warn("invalid bootstrap peer peer={}: expected host:port", peer);
      continue;
    }
    auto host = peer.substr(0, colon);
    const auto port = peer.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }

    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      log->warn("bootstrap peer did not resolve peer={} error={}", peer, ::gai_strerror(rc));
      continue;
    }

    for (auto* entry = found; entry != nullptr; entry = entry->ai_next) {
      char text[NI_MAXHOST];
      if (::getnameinfo(entry->ai_addr, entry->ai_addrlen, text, sizeof(text), nullptr, 0,
                        NI_NUMERICHOST) != 0) {
        continue;
      }
      std::string address = entry->ai_family == AF_INET6
                                ? "[" + std::string(text) + "]:" + port
                                : std::string(text) + ":" + port;
      if (std::find(resolved.begin(), resolved.end(), address) == resolved.end()) {
        resolved.push_back(std::move(address));
      }
    }
    ::freeaddrinfo(found);
  }
  return resolved;
}

}  // namespace mesh::actors
