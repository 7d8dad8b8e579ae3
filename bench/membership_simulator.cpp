// Simulated SWIM membership at scale (mesh::membership::simulator).
// Workloads, each as nodes/loss-percent:
//   BM_membership_simulation/100/0     100 nodes join one bootstrap at once: the
//                                      scenario compared against Serf 0.9.4
//                                      (memberlist LAN defaults) on real processes
//   BM_membership_simulation/1000/{0,10}/10: joins staggered over 10 s
//                                      (about 100 per second) through 3 seeds,
//                                      then one node stops
//   BM_membership_simulation/10000/{0,10}/10: joins staggered over 100 s
//                                      (about 100 per second, the rate of the
//                                      1,000-node rows) through 3 seeds, then
//                                      one node stops
//   BM_membership_simulation/3000/0/1: joins staggered over 3 s (about 1,000
//                                      per second, more news than gossip
//                                      carries, so the queue bound drops
//                                      some), then one node stops
// Manual time is the simulated convergence time in seconds; the counters give
// convergence and failure detection in seconds and in probe intervals, the
// messages sent, messages per node per simulated second during failure
// detection (after convergence), deaths declared about running nodes (false
// positives), whether the event bound stopped the run, and how many nodes
// had every member when the join phase ended.
// Every row stops by itself: after 10 simulated minutes per phase, and the
// 10,000-node rows after 100 million events. The 10,000-node 0 % row took
// 68 to 77 CPU minutes and 7 GB, the 3,000-node row about 4 CPU minutes, on
// the machine of docs/benchmarks.md.
// Run: bench_membership_simulator --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <chrono>

#include "mesh/membership/simulator.hpp"

namespace {

using namespace std::chrono_literals;
using mesh::membership::simulation_config;

simulation_config scenario(std::size_t nodes, double loss, std::int64_t window_ms_per_node) {
  simulation_config config;
  config.nodes = nodes;
  config.loss = loss;
  config.latency = 1ms;
  config.latency_jitter = 2ms;
  config.seed = 42;
  if (nodes <= 100) {
    config.seeds = 1;
    config.join_window = 0ms;
  } else {
    // Staggered over three seeds: window_ms_per_node 10 gives about 100
    // joins per second, 1 gives about 1,000.
    config.seeds = 3;
    config.join_window = std::chrono::milliseconds(static_cast<std::int64_t>(nodes) * window_ms_per_node);
  }
  if (nodes >= 10000) {
    config.max_events = 100'000'000;
  }
  return config;
}

double seconds(std::chrono::milliseconds time) {
  return std::chrono::duration<double>(time).count();
}

void BM_membership_simulation(benchmark::State& state) {
  const auto nodes = static_cast<std::size_t>(state.range(0));
  const double loss = static_cast<double>(state.range(1)) / 100.0;
  const std::int64_t window_ms_per_node = state.range(2);
  for (auto _ : state) {
    const auto config = scenario(nodes, loss, window_ms_per_node);
    const auto result = mesh::membership::simulate(config);
    state.SetIterationTime(seconds(result.convergence_time));
    state.counters["converged"] = result.converged ? 1 : 0;
    state.counters["complete_nodes"] = static_cast<double>(result.complete_nodes);
    state.counters["convergence_s"] = seconds(result.convergence_time);
    state.counters["after_last_join_s"] = seconds(result.convergence_time - config.join_window);
    state.counters["convergence_rounds"] = result.convergence_rounds;
    state.counters["detected"] = result.detected ? 1 : 0;
    state.counters["detection_s"] = seconds(result.detection_time);
    state.counters["detection_rounds"] = result.detection_rounds;
    state.counters["false_deaths"] = static_cast<double>(result.false_deaths);
    state.counters["messages"] = static_cast<double>(result.messages_sent);
    const double detection_s = seconds(result.detection_time);
    state.counters["msgs_per_node_s"] =
        detection_s > 0 ? static_cast<double>(result.detection_messages) / static_cast<double>(nodes - 1) / detection_s
                        : 0;
    state.counters["event_limit"] = result.event_limit_reached ? 1 : 0;
    state.counters["gossip_entries"] = static_cast<double>(result.gossip_entries);
    state.counters["push_pull_entries"] = static_cast<double>(result.push_pull_entries);
    state.counters["pairs_connected"] = static_cast<double>(result.convergence_pairs);
  }
}

BENCHMARK(BM_membership_simulation)
    ->ArgNames({"nodes", "loss_pct", "window_ms_per_node"})
    ->Args({100, 0, 0})
    ->Args({1000, 0, 10})
    ->Args({1000, 10, 10})
    ->Args({10000, 0, 10})
    ->Args({10000, 10, 10})
    ->Args({3000, 0, 1})
    ->Args({3000, 10, 1})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
