#pragma once
// Test harness: N swim instances on a fake clock, connected by an in-memory
// network with a fixed one-way latency and per-link drop controls. Every
// delivered message first passes validate_message, as on the wire thread.

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "mesh/membership/codec.hpp"
#include "mesh/membership/swim.hpp"

namespace mesh::membership::testing {

using namespace std::chrono_literals;

inline std::string node_id_of(std::size_t index) {
  return fmt::format("{:032x}", index + 1);
}

inline std::string address_of(std::size_t index) {
  return fmt::format("10.0.{}.{}:4001", index / 250, index % 250 + 1);
}

// Returns a config with short timers so that tests run few simulated seconds.
inline swim_config fast_config() {
  swim_config config;
  config.probe_interval = 200ms;
  config.probe_timeout = 80ms;
  config.gossip_interval = 50ms;
  config.push_pull_interval = 3s;
  config.dead_reap_after = 60s;
  config.join_retry_initial = 200ms;
  config.join_retry_max = 2s;
  return config;
}

class fake_network {
 public:
  // Decides whether a message from one node index to another is dropped.
  using drop_rule = std::function<bool(std::size_t from, std::size_t to, const v1::MembershipMessage&)>;

  explicit fake_network(swim_config config, std::size_t nodes, std::uint64_t seed = 7)
      : config_(config), seed_(seed) {
    for (std::size_t i = 0; i < nodes; ++i) {
      index_of_[address_of(i)] = i;
      slots_.push_back(slot{});
      start(i, 1);
    }
  }

  [[nodiscard]] swim& node(std::size_t i) { return *slots_.at(i).machine; }
  [[nodiscard]] std::size_t size() const { return slots_.size(); }
  [[nodiscard]] timestamp now() const { return now_; }

  // Replaces node i with a fresh swim (a start or a restart with the same id).
  void start(std::size_t i, std::uint64_t incarnation) {
    member_info info;
    info.node_id = node_id_of(i);
    info.name = fmt::format("node-{}", i);
    info.address = address_of(i);
    info.ports.p2p = 4001;
    slots_[i].machine = std::make_unique<swim>(config_, info, incarnation, seed_ * 1000 + i + incarnation, now_);
    slots_[i].running = true;
  }

  void stop(std::size_t i) { slots_.at(i).running = false; }

  // Node i joins through the nodes in `seeds` (none: it is the first member).
  void join(std::size_t i, const std::vector<std::size_t>& seeds) {
    std::vector<std::string> addresses;
    for (auto seed : seeds) {
      addresses.push_back(address_of(seed));
    }
    node(i).join(addresses, now_);
  }

  // Starts node 0 alone and joins every other node through it.
  void join_all_through_first() {
    join(0, {});
    for (std::size_t i = 1; i < size(); ++i) {
      join(i, {0});
    }
  }

  // Adds `delay` to every message node i sends or receives, as if the node
  // processed its messages late (an overloaded or paused process).
  void set_delay(std::size_t i, timestamp delay) { slots_.at(i).delay = delay; }

  void set_drop_rule(drop_rule rule) { drop_ = std::move(rule); }
  void clear_drop_rule() { drop_ = nullptr; }

  // Drops every message between the two groups, in both directions.
  void partition(const std::set<std::size_t>& side) {
    set_drop_rule([side](std::size_t from, std::size_t to, const v1::MembershipMessage&) {
      return side.contains(from) != side.contains(to);
    });
  }

  // Advances the clock in steps of `step`, ticking due nodes and delivering messages.
  void run_for(timestamp duration, timestamp step = 5ms) {
    const timestamp end = now_ + duration;
    while (now_ < end) {
      now_ += step;
      deliver_due();
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        auto& s = slots_[i];
        if (s.running && s.machine->next_wakeup() <= now_) {
          s.machine->tick(now_);
        }
        if (s.running && !s.machine->joined() && s.machine->join_retry_due(now_) && !s.seeds.empty()) {
          join(i, s.seeds);
        }
        collect(i);
      }
    }
  }

  // Runs until `done` holds or `limit` passes; returns whether it held.
  bool run_until(const std::function<bool()>& done, timestamp limit, timestamp step = 5ms) {
    const timestamp end = now_ + limit;
    while (now_ < end) {
      if (done()) {
        return true;
      }
      run_for(step, step);
    }
    return done();
  }

  // Node i's view of node j, or nullopt when i does not know j.
  [[nodiscard]] std::optional<member> view(std::size_t i, std::size_t j) {
    for (auto& m : node(i).members()) {
      if (m.info.node_id == node_id_of(j)) {
        return m;
      }
    }
    return std::nullopt;
  }

  // True when every running node among `nodes` knows exactly those nodes, all alive.
  [[nodiscard]] bool all_see_alive(const std::vector<std::size_t>& nodes) {
    for (auto i : nodes) {
      if (!slots_[i].running) {
        continue;
      }
      if (node(i).count(member_state::alive) != nodes.size() || node(i).alive_count() != nodes.size()) {
        return false;
      }
      for (auto j : nodes) {
        auto seen = view(i, j);
        if (!seen || seen->state != member_state::alive) {
          return false;
        }
      }
    }
    return true;
  }

  [[nodiscard]] std::vector<std::size_t> all_nodes() const {
    std::vector<std::size_t> nodes(slots_.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      nodes[i] = i;
    }
    return nodes;
  }

  // Events that node i reported about node j, in order.
  [[nodiscard]] std::vector<event::kind> events_about(std::size_t i, std::size_t j) const {
    std::vector<event::kind> kinds;
    for (const auto& e : slots_.at(i).events) {
      if (e.node_id == node_id_of(j)) {
        kinds.push_back(e.what);
      }
    }
    return kinds;
  }

  void remember_seeds(std::size_t i, std::vector<std::size_t> seeds) { slots_.at(i).seeds = std::move(seeds); }

  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;

 private:
  struct slot {
    std::unique_ptr<swim> machine;
    bool running = false;
    std::vector<event> events;
    std::vector<std::size_t> seeds;
    timestamp delay{0};
  };
  struct in_flight {
    timestamp due;
    std::size_t from;
    std::size_t to;
    v1::MembershipMessage message;
  };

  void collect(std::size_t i) {
    auto& s = slots_[i];
    for (auto& e : s.machine->take_events()) {
      s.events.push_back(std::move(e));
    }
    for (auto& out : s.machine->take_outbox()) {
      const auto target = index_of_.find(out.address);
      if (!s.running || target == index_of_.end()) {
        ++dropped;
        continue;
      }
      const timestamp due = now_ + latency_ + s.delay + slots_[target->second].delay;
      queue_.push_back(in_flight{due, i, target->second, std::move(out.message)});
    }
  }

  void deliver_due() {
    std::vector<in_flight> due;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (it->due <= now_) {
        due.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& m : due) {
      const auto valid = validate_message(m.message, codec_limits{});
      EXPECT_TRUE(valid.has_value()) << (valid ? "" : valid.err().message);
      const bool lost = drop_ && drop_(m.from, m.to, m.message);
      if (lost || !slots_[m.to].running) {
        ++dropped;
        continue;
      }
      ++delivered;
      slots_[m.to].machine->receive(address_of(m.from), m.message, now_);
      collect(m.to);
    }
  }

  swim_config config_;
  std::uint64_t seed_;
  timestamp now_{1000};
  timestamp latency_{2};
  std::vector<slot> slots_;
  std::map<std::string, std::size_t> index_of_;
  std::vector<in_flight> queue_;
  drop_rule drop_;
};

}  // namespace mesh::membership::testing
