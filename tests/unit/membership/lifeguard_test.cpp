// Lifeguard local health awareness driven through fake_network: nacks from
// helpers of indirect probes, the local health multiplier rising on a node
// that processes its messages late, and its decay once the node recovers.
#include <gtest/gtest.h>

#include <cstdint>

#include "fake_network.hpp"
#include "mesh/membership/swim.hpp"

namespace mesh::membership::testing {
namespace {

constexpr std::size_t slow_node = 0;

// Short suspicion timeouts so that a suspicion whose refutation is delayed
// by the slow node ends in a death: 2 * log10(10) * 200 ms = 400 ms.
swim_config lifeguard_config(std::uint32_t awareness_max_multiplier) {
  auto config = fast_config();
  config.suspicion_multiplier = 2;
  config.suspicion_max_multiplier = 1;
  config.awareness_max_multiplier = awareness_max_multiplier;
  return config;
}

std::uint64_t deaths_declared_by(const fake_network& net, std::size_t observer) {
  std::uint64_t deaths = 0;
  for (std::size_t j = 0; j < net.size(); ++j) {
    for (const auto kind : net.events_about(observer, j)) {
      deaths += kind == event::kind::died ? 1 : 0;
    }
  }
  return deaths;
}

struct slow_node_outcome {
  std::uint64_t deaths_while_slow = 0;  // declared by the slow node after the warm-up
  std::uint64_t probes_while_slow = 0;
  std::uint32_t max_local_health = 0;
};

// Ten nodes converge, then node 0 handles every message 250 ms late for
// 20 s. Its acks then come back after more than the 200 ms probe interval.
slow_node_outcome run_slow_node(fake_network& net) {
  net.join_all_through_first();
  EXPECT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 3s));

  net.set_delay(slow_node, 250ms);
  slow_node_outcome outcome;
  // Warm-up: the multiplier needs a few failed probes to rise.
  for (int step = 0; step < 10; ++step) {
    net.run_for(100ms);
    outcome.max_local_health = std::max(outcome.max_local_health, net.node(slow_node).stats().local_health);
  }
  const std::uint64_t deaths_before = deaths_declared_by(net, slow_node);
  const std::uint64_t probes_before = net.node(slow_node).stats().probes_sent;
  for (int step = 0; step < 190; ++step) {
    net.run_for(100ms);
    outcome.max_local_health = std::max(outcome.max_local_health, net.node(slow_node).stats().local_health);
  }
  outcome.deaths_while_slow = deaths_declared_by(net, slow_node) - deaths_before;
  outcome.probes_while_slow = net.node(slow_node).stats().probes_sent - probes_before;
  return outcome;
}

TEST(SwimLifeguard, SlowNodeRaisesHealthAvoidsDeaths) {
  fake_network without(lifeguard_config(0), 10);
  const auto plain = run_slow_node(without);
  fake_network with(lifeguard_config(8), 10);
  const auto aware = run_slow_node(with);

  // Without Lifeguard the slow node keeps declaring healthy members dead.
  EXPECT_EQ(plain.max_local_health, 0u);
  EXPECT_GE(plain.deaths_while_slow, 10u);

  // With it, the multiplier rises, the node probes less often and its acks
  // arrive within the scaled probe interval. The multiplier settles where
  // the scaled timeout is close to the delay, so now and then a probe still
  // misses: at most one death per 20 without Lifeguard (measured: 1 to 91
  // with gossip fanout 3, 0 with fanout 4).
  EXPECT_GE(aware.max_local_health, 3u);
  EXPECT_LT(aware.probes_while_slow * 2, plain.probes_while_slow);
  EXPECT_LE(aware.deaths_while_slow * 20, plain.deaths_while_slow);
}

TEST(SwimLifeguard, HealthDecaysAfterRecovery) {
  fake_network net(lifeguard_config(8), 10);
  const auto outcome = run_slow_node(net);
  ASSERT_GE(outcome.max_local_health, 3u);

  net.set_delay(slow_node, 0ms);
  EXPECT_TRUE(net.run_until([&] { return net.node(slow_node).stats().local_health == 0; }, 30s));

  // The healthy members were never slow themselves, whatever node 0 did.
  for (std::size_t i = 1; i < net.size(); ++i) {
    EXPECT_LE(net.node(i).stats().local_health, 1u) << "node " << i;
  }
}

TEST(SwimLifeguard, HelperSendsNackForSilentTarget) {
  fake_network net(fast_config(), 3);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  // Node 2 stops: the probes of nodes 0 and 1 fail, and each is the other's
  // only helper, so each one nacks the other's ping request.
  net.stop(2);
  ASSERT_TRUE(net.run_until([&] { return net.node(0).stats().probes_failed >= 1; }, 5s));

  EXPECT_GE(net.node(1).stats().nacks_sent, 1u);
  EXPECT_GE(net.node(0).stats().nacks_received, 1u);
  EXPECT_EQ(net.node(0).stats().nacks_missed, 0u);
  EXPECT_EQ(net.node(0).stats().local_health, 0u);
  EXPECT_EQ(net.node(1).stats().local_health, 0u);
}

TEST(SwimLifeguard, MissingNacksRaiseHealth) {
  fake_network net(fast_config(), 3);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  // Node 2 stops and node 0 never receives a nack, as if its inbound path
  // were broken: each failed probe of node 0 counts one missed nack.
  net.set_drop_rule([](std::size_t, std::size_t to, const v1::MembershipMessage& message) {
    return to == 0 && message.has_nack();
  });
  net.stop(2);
  ASSERT_TRUE(net.run_until([&] { return net.node(0).stats().probes_failed >= 2; }, 10s));

  EXPECT_GE(net.node(0).stats().nacks_missed, 1u);
  EXPECT_GE(net.node(0).stats().local_health, 1u);
  EXPECT_EQ(net.node(0).stats().nacks_received, 0u);
  EXPECT_EQ(net.node(1).stats().local_health, 0u);
}

TEST(SwimLifeguard, HealthScalesProbeInterval) {
  const auto config = fast_config();
  fake_network net(config, 3);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  // Every ack and nack to node 0 is lost: its probes fail and no nack
  // arrives, so its multiplier climbs to the maximum.
  net.set_drop_rule([](std::size_t, std::size_t to, const v1::MembershipMessage& message) {
    return to == 0 && (message.has_ack() || message.has_nack());
  });
  ASSERT_TRUE(net.run_until(
      [&] { return net.node(0).stats().local_health == config.awareness_max_multiplier; }, 20s));

  // Then probes start (max + 1) probe intervals apart.
  std::vector<timestamp> starts;
  std::uint64_t sent = net.node(0).stats().probes_sent;
  while (starts.size() < 3 && net.now() < timestamp(60000)) {
    net.run_for(5ms);
    if (net.node(0).stats().probes_sent > sent) {
      sent = net.node(0).stats().probes_sent;
      starts.push_back(net.now());
    }
  }
  ASSERT_EQ(starts.size(), 3u);
  const auto scaled_interval = config.probe_interval * (config.awareness_max_multiplier + 1);
  EXPECT_GE(starts[2] - starts[1], scaled_interval);
  EXPECT_LE(starts[2] - starts[1], scaled_interval + 10ms);
}

}  // namespace
}  // namespace mesh::membership::testing
