// Discrete-event simulation of many swim instances; see simulator.hpp.
#include "mesh/membership/simulator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "mesh/membership/swim.hpp"

namespace mesh::membership {

namespace {

enum class action : std::uint8_t { start, wake, deliver };

struct scheduled {
  timestamp at;
  std::uint64_t order;  // ties run in scheduling order
  action what;
  std::uint32_t target;  // node index, or slab index for deliver

  bool operator>(const scheduled& other) const {
    return at != other.at ? at > other.at : order > other.order;
  }
};

struct in_flight {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  mesh::v1::MembershipMessage message;
};

struct sim_node {
  std::unique_ptr<swim> machine;
  std::string address;
  bool running = false;
  bool complete = false;  // has all N members as alive or suspect
  bool saw_victim_dead = false;
  timestamp wake_at{-1};
};

std::string simulated_node_id(std::size_t index) {
  return fmt::format("{:032x}", index + 1);
}

std::string simulated_address(std::size_t index) {
  return fmt::format("10.{}.{}.{}:4001", index / 65536 % 256, index / 256 % 256, index % 256);
}

}  // namespace

class simulator::impl {
 public:
  explicit impl(simulation_config config)
      : config_(std::move(config)), rng_(config_.seed), pool_(make_info_pool()) {
    nodes_.resize(config_.nodes);
    for (std::size_t i = 0; i < config_.nodes; ++i) {
      nodes_[i].address = simulated_address(i);
      index_of_.emplace(nodes_[i].address, static_cast<std::uint32_t>(i));
    }
    result_.nodes = config_.nodes;
    if (config_.nodes <= max_pair_count_nodes) {
      paired_.assign(config_.nodes * config_.nodes, false);
    }
  }

  void run_convergence() {
    const std::size_t seeds = std::clamp<std::size_t>(config_.seeds, 1, config_.nodes);
    std::uniform_int_distribution<std::int64_t> start_at(0, config_.join_window.count());
    for (std::uint32_t i = 0; i < config_.nodes; ++i) {
      const timestamp at = i < seeds ? timestamp(0) : timestamp(start_at(rng_));
      push(at, action::start, i);
    }

    const bool done = run_until([&] { return complete_ == config_.nodes; }, config_.phase_limit);
    result_.converged = done;
    result_.complete_nodes = complete_;
    result_.convergence_pairs = pairs_;
    result_.convergence_time = now_;
    result_.convergence_rounds = rounds(now_);
  }

  void run_failure_detection() {
    const std::size_t seeds = std::clamp<std::size_t>(config_.seeds, 1, config_.nodes);
    if (config_.nodes <= seeds) {
      return;
    }
    victim_ = static_cast<std::uint32_t>(
        std::uniform_int_distribution<std::size_t>(seeds, config_.nodes - 1)(rng_));
    nodes_[*victim_].running = false;
    const timestamp stopped_at = now_;
    const std::uint64_t messages_before = result_.messages_sent;
    const std::size_t others = config_.nodes - 1;

    const bool done = run_until([&] { return saw_victim_dead_ == others; }, config_.phase_limit);
    result_.detected = done;
    result_.detection_time = now_ - stopped_at;
    result_.detection_messages = result_.messages_sent - messages_before;
    result_.detection_rounds = rounds(result_.detection_time);
  }

  [[nodiscard]] const simulation_result& result() const { return result_; }

 private:
  template <class Done>
  bool run_until(Done done, timestamp limit) {
    const timestamp end = now_ + limit;
    while (!queue_.empty() && !done()) {
      if (config_.max_events != 0 && result_.events_processed >= config_.max_events) {
        result_.event_limit_reached = true;
        break;
      }
      const scheduled next = queue_.top();
      if (next.at > end) {
        break;
      }
      queue_.pop();
      now_ = next.at;
      ++result_.events_processed;
      switch (next.what) {
        case action::start:
          start(next.target);
          break;
        case action::wake:
          wake(next.target);
          break;
        case action::deliver:
          deliver(next.target);
          break;
      }
    }
    return done();
  }

  void push(timestamp at, action what, std::uint32_t target) {
    queue_.push(scheduled{at, next_order_++, what, target});
  }

  void start(std::uint32_t index) {
    auto& node = nodes_[index];
    member_info info;
    info.node_id = simulated_node_id(index);
    info.name = fmt::format("sim-{}", index);
    info.address = node.address;
    info.ports.p2p = 4001;
    node.machine = std::make_unique<swim>(config_.swim, std::move(info), 1, config_.seed * 7919 + index,
                                          now_, pool_);
    node.running = true;
    join(index);
    after_step(index);
  }

  void join(std::uint32_t index) {
    const std::size_t seeds = std::clamp<std::size_t>(config_.seeds, 1, config_.nodes);
    if (index == 0) {
      nodes_[index].machine->join({}, now_);
      return;
    }
    // Seeds join seed 0; everyone else joins one random seed per attempt.
    const std::size_t seed =
        index < seeds ? 0 : std::uniform_int_distribution<std::size_t>(0, seeds - 1)(rng_);
    nodes_[index].machine->join({nodes_[seed].address}, now_);
  }

  void wake(std::uint32_t index) {
    auto& node = nodes_[index];
    if (!node.running || node.wake_at != now_) {
      return;  // stopped, or superseded by an earlier wake-up
    }
    node.wake_at = timestamp(-1);
    node.machine->tick(now_);
    if (!node.machine->joined() && node.machine->join_retry_due(now_)) {
      join(index);
    }
    after_step(index);
  }

  void deliver(std::uint32_t slot) {
    in_flight message = std::move(slab_[slot]);
    free_slots_.push_back(slot);
    auto& node = nodes_[message.to];
    if (!node.running) {
      ++result_.messages_lost;
      return;
    }
    node.machine->receive(nodes_[message.from].address, message.message, now_);
    node.machine->recycle(std::move(message.message));
    after_step(message.to);
  }

  // Collects a node's output and events after it ran, and schedules its next wake-up.
  void after_step(std::uint32_t index) {
    auto& node = nodes_[index];
    auto& machine = *node.machine;

    for (const auto& e : machine.take_events()) {
      if (e.what != event::kind::died) {
        continue;
      }
      if (victim_ && e.node_id == simulated_node_id(*victim_)) {
        if (!node.saw_victim_dead) {
          node.saw_victim_dead = true;
          ++saw_victim_dead_;
        }
      } else {
        ++result_.false_deaths;
      }
    }

    for (auto& out : machine.take_outbox()) {
      send(index, std::move(out));
    }

    // Suspect counts as known: with packet loss some probe fails somewhere
    // nearly all the time, so "no suspect anywhere" is rarely true at once
    // although every suspicion of a running node ends in a refutation.
    const bool complete = machine.alive_count() == config_.nodes;
    if (complete != node.complete) {
      node.complete = complete;
      complete_ = complete ? complete_ + 1 : complete_ - 1;
    }

    timestamp wakeup = std::max(machine.next_wakeup(), now_ + timestamp(1));
    if (!machine.joined()) {
      // A joining node also wakes for its join retry.
      wakeup = std::min(wakeup, now_ + config_.swim.join_retry_initial);
    }
    if (node.wake_at < now_ || wakeup < node.wake_at) {
      node.wake_at = wakeup;
      push(wakeup, action::wake, index);
    }
  }

  // Counts the pair once, whichever side sends first: the real transport
  // opens one connection per pair and replies over it.
  void count_pair(std::uint32_t from, std::uint32_t to) {
    if (paired_.empty()) {
      return;
    }
    const std::size_t bit = std::size_t{std::min(from, to)} * config_.nodes + std::max(from, to);
    if (!paired_[bit]) {
      paired_[bit] = true;
      ++pairs_;
    }
  }

  void send(std::uint32_t from, outbound out) {
    ++result_.messages_sent;
    result_.gossip_entries += static_cast<std::uint64_t>(out.message.gossip_size());
    if (out.message.has_push_pull()) {
      result_.push_pull_entries += static_cast<std::uint64_t>(out.message.push_pull().members_size());
    }

    const auto target = index_of_.find(out.address);
    if (target != index_of_.end()) {
      count_pair(from, target->second);
    }
    // Loss applies to the datagram-like messages only. A push-pull travels
    // over a connection (TCP over ZeroMQ in the real transport), so it either
    // arrives or the connection fails, which loss does not model.
    const bool lost = !out.message.has_push_pull() && loss_(rng_) < config_.loss;
    if (target == index_of_.end() || lost) {
      ++result_.messages_lost;
      return;
    }

    std::uint32_t slot = 0;
    if (free_slots_.empty()) {
      slot = static_cast<std::uint32_t>(slab_.size());
      slab_.emplace_back();
    } else {
      slot = free_slots_.back();
      free_slots_.pop_back();
    }
    slab_[slot].from = from;
    slab_[slot].to = target->second;
    slab_[slot].message = std::move(out.message);

    timestamp delay = config_.latency;
    if (config_.latency_jitter.count() > 0) {
      delay += timestamp(std::uniform_int_distribution<std::int64_t>(0, config_.latency_jitter.count())(rng_));
    }
    push(now_ + delay, action::deliver, slot);
  }

  [[nodiscard]] double rounds(timestamp time) const {
    return static_cast<double>(time.count()) / static_cast<double>(config_.swim.probe_interval.count());
  }

  simulation_config config_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> loss_{0.0, 1.0};
  std::shared_ptr<info_pool> pool_;
  std::vector<sim_node> nodes_;
  std::unordered_map<std::string, std::uint32_t> index_of_;
  std::priority_queue<scheduled, std::vector<scheduled>, std::greater<>> queue_;
  std::uint64_t next_order_ = 0;
  std::vector<in_flight> slab_;
  std::vector<std::uint32_t> free_slots_;
  timestamp now_{0};
  std::size_t complete_ = 0;
  std::optional<std::uint32_t> victim_;
  std::size_t saw_victim_dead_ = 0;
  std::vector<bool> paired_;  // one bit per pair, at min * nodes + max
  std::uint64_t pairs_ = 0;
  simulation_result result_;
};

simulator::simulator(simulation_config config) : impl_(std::make_unique<impl>(std::move(config))) {}
simulator::~simulator() = default;

void simulator::run_convergence() {
  impl_->run_convergence();
}

void simulator::run_failure_detection() {
  impl_->run_failure_detection();
}

const simulation_result& simulator::result() const {
  return impl_->result();
}

simulation_result simulate(const simulation_config& config) {
  simulator sim(config);
  sim.run_convergence();
  if (sim.result().converged) {
    sim.run_failure_detection();
  }
  return sim.result();
}

}  // namespace mesh::membership
