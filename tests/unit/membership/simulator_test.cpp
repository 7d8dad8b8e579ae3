// The membership simulator at 500 nodes: the staggered join converges, a
// stopped node is declared dead by every other node, no running node is
// declared dead, and the event bound stops a run that is cut short. At 10
// nodes: connected pairs are counted once each.
#include <gtest/gtest.h>

#include "mesh/membership/simulator.hpp"

namespace mesh::membership {
namespace {

using namespace std::chrono_literals;

// 500 nodes joining through 3 seeds over 5 s (about 100 joins per second),
// with the default protocol parameters, so the push-pull interval is scaled
// (4 doublings above 32 members: 75 s).
simulation_config five_hundred_nodes() {
  simulation_config config;
  config.nodes = 500;
  config.seeds = 3;
  config.join_window = 5s;
  config.latency = 1ms;
  config.latency_jitter = 2ms;
  config.seed = 11;
  config.phase_limit = 60s;
  return config;
}

TEST(Simulator, FiveHundredNodesConvergeWithoutFalseDeaths) {
  const auto config = five_hundred_nodes();
  const auto result = simulate(config);

  EXPECT_EQ(result.nodes, 500U);
  ASSERT_TRUE(result.converged) << "not converged after " << result.convergence_time.count() << " ms";
  EXPECT_EQ(result.complete_nodes, 500U);
  EXPECT_GE(result.convergence_time, config.join_window);
  EXPECT_LT(result.convergence_time, config.join_window + 10s);
  ASSERT_TRUE(result.detected) << "stopped node not dead everywhere after "
                               << result.detection_time.count() << " ms";
  EXPECT_LT(result.detection_time, 20s);
  EXPECT_EQ(result.false_deaths, 0U);
  EXPECT_FALSE(result.event_limit_reached);
  EXPECT_GT(result.detection_messages, 0U);
}

TEST(Simulator, CountsEachConnectedPairOnce) {
  simulation_config config;
  config.nodes = 10;
  config.seed = 3;
  config.phase_limit = 10s;
  const auto result = simulate(config);

  ASSERT_TRUE(result.converged);
  // Every joiner reached the seed; the ten nodes have 45 pairs in all.
  EXPECT_GE(result.convergence_pairs, 9U);
  EXPECT_LE(result.convergence_pairs, 45U);
}

TEST(Simulator, EventLimitStopsTheRun) {
  auto config = five_hundred_nodes();
  config.max_events = 10'000;
  const auto result = simulate(config);

  EXPECT_TRUE(result.event_limit_reached);
  EXPECT_FALSE(result.converged);
  EXPECT_LT(result.complete_nodes, 500U);
  EXPECT_FALSE(result.detected);
  EXPECT_EQ(result.events_processed, 10'000U);
}

}  // namespace
}  // namespace mesh::membership
