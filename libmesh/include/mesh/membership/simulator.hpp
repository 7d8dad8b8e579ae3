#pragma once
// Discrete-event simulation of N swim instances in one process over a
// simulated network with one-way latency and random packet loss. It measures
// convergence after a staggered join and the time until a stopped node is
// declared dead by every other node. docs/membership.md describes the
// scenario. Single-threaded; one owner.

#include <cstdint>
#include <memory>
#include <optional>

#include "mesh/membership/config.hpp"
#include "mesh/membership/types.hpp"

namespace mesh::membership {

struct simulation_config {
  std::size_t nodes = 100;
  // Nodes 0..seeds-1 start first; every other node joins through one of them.
  std::size_t seeds = 1;
  // Joins start uniformly spread over this window, beginning at time 0.
  timestamp join_window{0};
  timestamp latency{1};       // one-way
  timestamp latency_jitter{0};  // added uniformly in [0, jitter]
  double loss = 0.0;            // probability that a message is dropped
  std::uint64_t seed = 1;
  // Each phase gives up after this much simulated time.
  timestamp phase_limit{std::chrono::minutes(10)};
  // Both phases together stop after this many events (starts, wake-ups and
  // deliveries), so that a run too large for the machine ends by itself
  // with converged or detected false; 0 means no limit.
  std::uint64_t max_events = 0;
  swim_config swim;
};

struct simulation_result {
  std::size_t nodes = 0;
  bool converged = false;
  std::size_t complete_nodes = 0;  // Nodes with all N members as alive or suspect when the join phase ended.
  timestamp convergence_time{0};  // from time 0 until every node has all N as alive or suspect
  double convergence_rounds = 0;  // the same in probe intervals
  bool detected = false;
  timestamp detection_time{0};  // from the stop until every other node marks the node dead
  double detection_rounds = 0;
  std::uint64_t false_deaths = 0;  // deaths declared about running nodes
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_lost = 0;
  std::uint64_t gossip_entries = 0;     // piggybacked updates sent
  std::uint64_t push_pull_entries = 0;  // member entries sent in push-pulls
  // Node pairs that exchanged a message during the join phase: the
  // connections a real mesh opens, each with a CURVE handshake. Counted
  // up to max_pair_count_nodes nodes, 0 above.
  std::uint64_t convergence_pairs = 0;
  std::uint64_t events_processed = 0;
  bool event_limit_reached = false;      // max_events stopped the run
  std::uint64_t detection_messages = 0;  // messages sent during the failure detection phase
};

// Largest mesh for which the simulator counts connected pairs (one bit per pair).
inline constexpr std::size_t max_pair_count_nodes = 20000;

class simulator {
 public:
  explicit simulator(simulation_config config);
  ~simulator();
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  // Runs the join phase until every node has all N members as alive or suspect, none
  // dead (or phase_limit).
  void run_convergence();

  // Stops one non-seed node and runs until all others mark it dead (or phase_limit).
  void run_failure_detection();

  [[nodiscard]] const simulation_result& result() const;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

// Runs both phases and returns the result.
[[nodiscard]] simulation_result simulate(const simulation_config& config);

}  // namespace mesh::membership
