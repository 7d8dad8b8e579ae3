// The swim state machine driven through fake_network: joins, convergence,
// failure detection, refutation, leave, partitions, restarts and reaping.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>

#include "fake_network.hpp"
#include "mesh/membership/codec.hpp"
#include "mesh/membership/swim.hpp"

namespace mesh::membership::testing {
namespace {

bool contains(const std::vector<event::kind>& kinds, event::kind what) {
  return std::find(kinds.begin(), kinds.end(), what) != kinds.end();
}

TEST(SwimJoin, TwoNodesSeeEachOther) {
  fake_network net(fast_config(), 2);
  net.join_all_through_first();
  EXPECT_TRUE(net.node(0).joined());
  EXPECT_FALSE(net.node(1).joined());

  net.run_for(200ms);

  EXPECT_TRUE(net.node(1).joined());
  EXPECT_TRUE(net.all_see_alive({0, 1}));
  EXPECT_TRUE(contains(net.events_about(0, 1), event::kind::joined));
  EXPECT_TRUE(contains(net.events_about(1, 0), event::kind::joined));
  EXPECT_EQ(net.node(1).stats().join_attempts, 1u);
}

TEST(SwimJoin, EmptySeedListJoinsAlone) {
  fake_network net(fast_config(), 1);
  net.join(0, {});
  EXPECT_TRUE(net.node(0).joined());
  EXPECT_EQ(net.node(0).alive_count(), 1u);
  EXPECT_EQ(net.node(0).stats().join_attempts, 0u);
}

TEST(SwimJoin, OwnAddressIsNotASeed) {
  fake_network net(fast_config(), 1);
  net.node(0).join({address_of(0)}, net.now());
  EXPECT_TRUE(net.node(0).joined());
  EXPECT_TRUE(net.node(0).take_outbox().empty());
}

TEST(SwimJoin, RetryBacksOffUntilMaximum) {
  auto config = fast_config();
  fake_network net(config, 2);
  net.stop(0);
  auto& joiner = net.node(1);
  const timestamp start = net.now();

  // Each retry doubles the wait: 200, 400, 800, 1600, then capped at 2000 ms.
  EXPECT_FALSE(joiner.join_retry_due(start));
  timestamp at = start;
  std::vector<timestamp> waits;
  for (int attempt = 0; attempt < 6; ++attempt) {
    joiner.join({address_of(0)}, at);
    timestamp wait = 1ms;
    while (!joiner.join_retry_due(at + wait)) {
      wait += 1ms;
    }
    waits.push_back(wait);
    at += wait;
  }
  EXPECT_EQ(waits[0], 200ms);
  EXPECT_EQ(waits[1], 400ms);
  EXPECT_EQ(waits[2], 800ms);
  EXPECT_EQ(waits[3], 1600ms);
  EXPECT_EQ(waits[4], 2000ms);
  EXPECT_EQ(waits[5], 2000ms);
  EXPECT_EQ(joiner.stats().join_attempts, 6u);
  EXPECT_FALSE(joiner.joined());
}

TEST(SwimJoin, LateSeedIsReachedByRetry) {
  fake_network net(fast_config(), 2);
  net.stop(0);
  net.remember_seeds(1, {0});
  net.join(1, {0});
  net.run_for(500ms);
  EXPECT_FALSE(net.node(1).joined());

  net.start(0, 1);
  net.join(0, {});
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive({0, 1}); }, 5s));
  EXPECT_GE(net.node(1).stats().join_attempts, 2u);
}

// Returns the description of fake_network's node `index`.
member_info info_of(std::size_t index) {
  member_info info;
  info.node_id = node_id_of(index);
  info.name = fmt::format("node-{}", index);
  info.address = address_of(index);
  info.ports.p2p = 4001;
  return info;
}

// Returns a gossip message with one alive update about node `index`.
v1::MembershipMessage alive_gossip_about(std::size_t index) {
  v1::MembershipMessage message;
  message.mutable_broadcast();
  auto& update = *message.add_gossip();
  update.mutable_info()->set_node_id(node_id_of(index));
  update.mutable_info()->set_name(fmt::format("node-{}", index));
  update.mutable_info()->set_address(address_of(index));
  update.mutable_info()->set_role(v1::NODE_ROLE_WORKER);
  update.set_state(v1::MEMBER_STATE_ALIVE);
  update.set_incarnation(1);
  return message;
}

// Returns whether `message` carries an entry about `node_id`, in its gossip or its full state.
bool mentions(const v1::MembershipMessage& message, const std::string& node_id) {
  const auto about = [&](const v1::MemberUpdate& update) { return update.info().node_id() == node_id; };
  if (std::any_of(message.gossip().begin(), message.gossip().end(), about)) {
    return true;
  }
  return message.has_push_pull() &&
         std::any_of(message.push_pull().members().begin(), message.push_pull().members().end(), about);
}

// Returns node 0, joined alone, after neighbours reported members `first`
// to `last` alive.
swim node_zero_knowing(const swim_config& config, std::size_t first, std::size_t last,
                       std::chrono::milliseconds now) {
  swim machine(config, info_of(0), 1, 7, now);
  machine.join({}, now);
  for (std::size_t index = first; index <= last; ++index) {
    machine.receive(address_of(index), alive_gossip_about(index), now);
  }
  return machine;
}

TEST(SwimJoin, NewMemberAnnouncesItself) {
  fake_network net(fast_config(), 3);
  net.join(0, {});
  net.join(1, {0});
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive({0, 1}); }, 2s));

  // For its first second node 2 is invisible to node 1: its join gossip,
  // its own alive update and its follow-up push-pulls never reach node 1.
  net.set_drop_rule([](std::size_t, std::size_t to, const v1::MembershipMessage& message) {
    return to == 1 && mentions(message, node_id_of(2));
  });
  net.join(2, {0});
  net.run_for(1s);
  ASSERT_FALSE(net.view(1, 2).has_value());

  // From then on node 1 hears of node 2 from node 2 alone. Its next
  // periodic push-pull is more than 2 s away, so only the announcement in
  // its own probes and gossip can tell node 1.
  net.set_drop_rule([](std::size_t from, std::size_t to, const v1::MembershipMessage& message) {
    return to == 1 && from != 2 && mentions(message, node_id_of(2));
  });
  EXPECT_TRUE(net.run_until([&] { return net.all_see_alive({0, 1, 2}); }, 1500ms));
  EXPECT_TRUE(contains(net.events_about(1, 2), event::kind::joined));
}

TEST(SwimGossip, AliveNewsSentTwiceAsOften) {
  // No probes, so node 1 stays alive however long it is silent.
  auto config = fast_config();
  config.probe_interval = std::chrono::hours(1);
  auto now = 1000ms;
  swim machine(config, info_of(0), 1, 11, now);
  machine.join({}, now);
  machine.receive(address_of(1), alive_gossip_about(1), now);

  std::size_t alive_entries = 0;
  for (int step = 0; step < 600; ++step) {
    now += 5ms;
    machine.tick(now);
    for (const auto& out : machine.take_outbox()) {
      for (const auto& gossip : out.message.gossip()) {
        if (gossip.info().node_id() == node_id_of(1) && gossip.state() == v1::MEMBER_STATE_ALIVE) {
          ++alive_entries;
        }
      }
    }
  }

  // Two alive members: retransmit_multiplier * ceil(log10(3)) sends, twice.
  EXPECT_EQ(alive_entries, 2 * config.retransmit_multiplier);
}

// Runs `rounds` gossip rounds of a node with 20 members in its table and
// news about each of them. Returns the targets of each round.
std::vector<std::set<std::string>> gossip_targets_per_round(std::uint32_t cold_targets, int rounds,
                                                            std::uint32_t cold_scale_threshold = 256) {
  auto config = fast_config();
  config.probe_interval = std::chrono::hours(1);
  config.push_pull_interval = std::chrono::hours(1);
  config.gossip_cold_targets = cold_targets;
  config.gossip_cold_scale_threshold = cold_scale_threshold;
  auto now = 1000ms;
  auto machine = node_zero_knowing(config, 1, 20, now);
  (void)machine.take_outbox();

  std::vector<std::set<std::string>> per_round;
  while (per_round.size() < static_cast<std::size_t>(rounds)) {
    now += 5ms;
    machine.tick(now);
    std::set<std::string> targets;
    for (const auto& out : machine.take_outbox()) {
      if (out.message.has_broadcast()) {
        targets.insert(out.address);
      }
    }
    if (!targets.empty()) {
      per_round.push_back(std::move(targets));
    }
  }
  return per_round;
}

TEST(SwimGossip, OneColdTargetPerRound) {
  // Five rounds: the queued news run out in the seventh.
  const auto rounds = gossip_targets_per_round(1, 5);
  std::set<std::string> contacted;
  for (std::size_t round = 0; round < rounds.size(); ++round) {
    std::size_t cold = 0;
    for (const auto& target : rounds[round]) {
      cold += contacted.insert(target).second ? 1 : 0;
    }
    EXPECT_EQ(cold, 1U) << "round " << round;
    // Round r has r contacted members to add, up to the fanout of 3.
    EXPECT_EQ(rounds[round].size(), std::min<std::size_t>(round + 1, 3)) << "round " << round;
  }
}

TEST(SwimGossip, ColdTargetsAtFanoutPickAnyMembers) {
  const auto rounds = gossip_targets_per_round(3, 1);
  EXPECT_EQ(rounds.front().size(), 3U);
}

TEST(SwimGossip, LargeMeshPicksAnyMembers) {
  // The node has 21 alive members. Above a threshold of 20 every target may
  // be cold. At a threshold of 21 the limit of one cold target applies.
  const auto above_threshold = gossip_targets_per_round(1, 1, 20);
  EXPECT_EQ(above_threshold.front().size(), 3U);

  const auto at_threshold = gossip_targets_per_round(1, 1, 21);
  EXPECT_EQ(at_threshold.front().size(), 1U);
}

// Counts the push-pulls that node zero starts from 4 s to 8 s. The node has
// 200 members from the start and receives alive updates about `news` more at
// 3 s. Its first push-pull comes by 2 s, and with 201 members the scaled
// period is then 9 s.
int push_pulls_after_news(std::size_t news) {
  auto config = fast_config();
  config.push_pull_interval = 1s;
  config.push_pull_scale_threshold = 1;
  config.probe_interval = std::chrono::hours(1);
  config.probe_timeout = std::chrono::minutes(30);
  auto now = 1000ms;
  auto machine = node_zero_knowing(config, 1, 200, now);

  int push_pulls = 0;
  for (; now < 8000ms; now += 10ms) {
    if (now == 3000ms) {
      for (std::size_t index = 201; index <= 200 + news; ++index) {
        machine.receive(address_of(index), alive_gossip_about(index), now);
      }
    }
    machine.tick(now);
    for (const auto& out : machine.take_outbox()) {
      if (now >= 4000ms && out.message.has_push_pull()) {
        ++push_pulls;
      }
    }
  }
  return push_pulls;
}

TEST(SwimPushPull, DroppedNewsBringsPushPullForward) {
  // 1,100 updates overflow the queue of 1,024, and a push-pull follows one
  // push_pull_interval after the last drop. 20 updates fit and change nothing.
  EXPECT_EQ(push_pulls_after_news(1100), 1);
  EXPECT_EQ(push_pulls_after_news(20), 0);
}

// An update about member `index` in `state` at `incarnation`, as member 1 reports it.
v1::MembershipMessage gossip_about(std::size_t index, v1::MemberState state, std::uint64_t incarnation) {
  auto message = alive_gossip_about(index);
  auto& update = *message.mutable_gossip(0);
  update.set_state(state);
  update.set_incarnation(incarnation);
  if (state != v1::MEMBER_STATE_ALIVE) {
    update.set_reporter_id(node_id_of(1));
  }
  return message;
}

// Node zero has members 1 to 20 in its table, receives `updates` and then
// alive news about 1,180 new members, more than its gossip queue holds.
// Returns the entries of its first gossip broadcast as (node id, state,
// incarnation).
std::set<std::tuple<std::string, v1::MemberState, std::uint64_t>> first_broadcast_after(
    const std::vector<v1::MembershipMessage>& updates) {
  auto config = fast_config();
  config.probe_interval = std::chrono::hours(1);
  config.push_pull_interval = std::chrono::hours(1);
  auto now = 1000ms;
  auto machine = node_zero_knowing(config, 1, 20, now);
  for (const auto& message : updates) {
    machine.receive(address_of(1), message, now);
  }
  for (std::size_t index = 21; index <= 1200; ++index) {
    machine.receive(address_of(index), alive_gossip_about(index), now);
  }
  (void)machine.take_outbox();

  std::set<std::tuple<std::string, v1::MemberState, std::uint64_t>> entries;
  for (; now < 3000ms && entries.empty(); now += 5ms) {
    machine.tick(now);
    for (const auto& out : machine.take_outbox()) {
      if (!out.message.has_broadcast() || !entries.empty()) {
        continue;
      }
      for (const auto& update : out.message.gossip()) {
        entries.emplace(update.info().node_id(), update.state(), update.incarnation());
      }
    }
  }
  return entries;
}

TEST(SwimGossip, RefutationGoesBeforeNewerNews) {
  // Node zero receives a suspicion about itself and refutes at incarnation 2.
  const auto own = first_broadcast_after({gossip_about(0, v1::MEMBER_STATE_SUSPECT, 1)});
  EXPECT_EQ(own.count({node_id_of(0), v1::MEMBER_STATE_ALIVE, 2}), 1U);

  // Member 5 is suspected, then refutes.
  const auto relayed = first_broadcast_after(
      {gossip_about(5, v1::MEMBER_STATE_SUSPECT, 1), gossip_about(5, v1::MEMBER_STATE_ALIVE, 2)});
  EXPECT_EQ(relayed.count({node_id_of(5), v1::MEMBER_STATE_ALIVE, 2}), 1U);
}

TEST(SwimGossip, LeaveGoesBeforeNewerNews) {
  const auto entries = first_broadcast_after({gossip_about(5, v1::MEMBER_STATE_LEFT, 2)});
  EXPECT_EQ(entries.count({node_id_of(5), v1::MEMBER_STATE_LEFT, 2}), 1U);
}

TEST(SwimGossip, SuspicionWaitsBehindNewerNews) {
  // Suspicions are frequent on a lossy network, and ahead of the joins they
  // slowed convergence (docs/membership.md, "Refutations first").
  const auto entries = first_broadcast_after({gossip_about(5, v1::MEMBER_STATE_SUSPECT, 1)});
  EXPECT_EQ(entries.count({node_id_of(5), v1::MEMBER_STATE_SUSPECT, 1}), 0U);
  EXPECT_EQ(entries.size(), 64U);
}

// Gossip broadcasts seen while a swim instance ran, and every address it sent to.
struct broadcast_census {
  std::size_t broadcasts = 0;
  std::set<std::string> cold_targets;  // broadcast to before any other message went there
  std::set<std::string> contacted;
};

// Ticks `machine` `steps` times, `step` apart, and records its output.
broadcast_census run_and_count_broadcasts(swim& machine, std::chrono::milliseconds& now, int steps,
                                          std::chrono::milliseconds step) {
  broadcast_census census;
  for (int i = 0; i < steps; ++i) {
    now += step;
    machine.tick(now);
    for (const auto& out : machine.take_outbox()) {
      if (out.message.has_broadcast()) {
        ++census.broadcasts;
        if (census.contacted.count(out.address) == 0) {
          census.cold_targets.insert(out.address);
        }
      }
      census.contacted.insert(out.address);
    }
  }
  return census;
}

TEST(SwimGossip, ZeroColdTargetsOnlyContacted) {
  auto config = fast_config();
  config.push_pull_interval = std::chrono::hours(1);
  config.gossip_cold_targets = 0;
  auto now = 1000ms;
  auto machine = node_zero_knowing(config, 1, 20, now);

  // Probes make the contacts, one member per probe interval. No member
  // acks, so the updates stay queued and every gossip round sends some.
  const auto census = run_and_count_broadcasts(machine, now, 400, 5ms);
  EXPECT_GT(census.broadcasts, 0U);
  EXPECT_TRUE(census.cold_targets.empty()) << *census.cold_targets.begin() << " was never contacted";
  EXPECT_LT(census.contacted.size(), 20U);
}

// Milliseconds from `injected` until the first gossip round that carries an
// update about member 6, which a neighbour reports at `injected`. Rounds
// carrying the earlier news of members 1 to 5 run every gossip_interval, and
// their targets become the contacts that a news round sends to.
std::optional<std::int64_t> news_delay(std::chrono::milliseconds news_interval) {
  auto config = fast_config();
  config.gossip_cold_targets = config.gossip_fanout;
  config.probe_interval = 10s;  // no probe fails and makes news of its own
  config.push_pull_interval = std::chrono::hours(1);
  config.gossip_interval = 50ms;
  config.gossip_news_interval = news_interval;
  const auto started = 1000ms;
  const auto injected = started + 120ms;
  auto now = started;
  auto machine = node_zero_knowing(config, 1, 5, now);
  for (; now < started + 300ms; now += 1ms) {
    if (now == injected) {
      machine.receive(address_of(1), alive_gossip_about(6), now);
    }
    machine.tick(now);
    for (const auto& out : machine.take_outbox()) {
      if (now >= injected && out.message.has_broadcast() && mentions(out.message, node_id_of(6))) {
        return (now - injected).count();
      }
    }
  }
  return std::nullopt;
}

TEST(SwimGossip, NewsRoundComesEarly) {
  // The round before the news ran at about 100 ms, so the news waits for
  // the 150 ms round with the full interval, and goes out at once with a
  // news interval of 10 ms.
  const auto fast = news_delay(10ms);
  const auto slow = news_delay(50ms);
  ASSERT_TRUE(fast.has_value());
  ASSERT_TRUE(slow.has_value());
  EXPECT_LE(*fast, 2);
  EXPECT_GE(*slow, 20);
}

// A news round opens no connection: it goes only to members that this node
// sent to before, here the members that its probes reached. The first
// regular round comes at a random phase of the 10-minute gossip interval,
// after the 300 ms this test runs but for a 0.05 % chance.
TEST(SwimGossip, NewsRoundSkipsColdMembers) {
  auto config = fast_config();
  config.gossip_cold_targets = config.gossip_fanout;
  config.gossip_interval = std::chrono::minutes(10);
  config.gossip_news_interval = 10ms;
  config.probe_interval = 30ms;
  config.probe_timeout = 10ms;
  config.push_pull_interval = std::chrono::hours(1);
  auto now = 1000ms;
  auto machine = node_zero_knowing(config, 1, 20, now);

  const auto census = run_and_count_broadcasts(machine, now, 300, 1ms);
  EXPECT_GT(census.broadcasts, 0U);
  EXPECT_TRUE(census.cold_targets.empty()) << *census.cold_targets.begin() << " was cold";
}

// A joiner announces itself in a first round and again in a news round. The
// 10-minute regular rounds fall inside the test's 50 ms with 0.01 % chance.
TEST(SwimGossip, JoinerAnnouncesTwice) {
  auto config = fast_config();
  config.gossip_interval = std::chrono::minutes(10);
  config.gossip_news_interval = 10ms;
  config.probe_interval = 10s;
  config.push_pull_interval = std::chrono::hours(1);
  auto now = 1000ms;
  auto seed = node_zero_knowing(config, 2, 6, now);
  (void)seed.take_outbox();

  swim joiner(config, info_of(1), 1, 8, now);
  joiner.join({address_of(0)}, now);
  for (const auto& out : joiner.take_outbox()) {
    seed.receive(address_of(1), out.message, now);
  }
  for (const auto& out : seed.take_outbox()) {
    if (out.address == address_of(1)) {
      joiner.receive(address_of(0), out.message, now);
    }
  }
  ASSERT_TRUE(joiner.joined());

  // The first round went out while the joiner handled the reply.
  const auto announces = [](const std::vector<outbound>& outbox) {
    return std::any_of(outbox.begin(), outbox.end(), [](const auto& out) {
      return out.message.has_broadcast() && mentions(out.message, node_id_of(1));
    });
  };
  ASSERT_TRUE(announces(joiner.take_outbox()));
  std::size_t news_rounds = 0;
  for (const auto end = now + 50ms; now < end;) {
    now += 1ms;
    joiner.tick(now);
    news_rounds += announces(joiner.take_outbox()) ? 1 : 0;
  }
  EXPECT_EQ(news_rounds, 1U);
}

TEST(SwimConvergence, FiveNodes) {
  fake_network net(fast_config(), 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(net.node(i).joined()) << "node " << i;
    EXPECT_EQ(net.node(i).members().size(), 5u) << "node " << i;
  }
}

TEST(SwimConvergence, TwentyNodes) {
  fake_network net(fast_config(), 20);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 3s));

  // With everyone alive and every link up, nobody may be suspected.
  net.run_for(5s);
  for (std::size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(net.node(i).stats().suspicions_raised, 0u) << "node " << i;
  }
  EXPECT_TRUE(net.all_see_alive(net.all_nodes()));
}

TEST(SwimConvergence, MembersAreSortedAndIncludeSelf) {
  fake_network net(fast_config(), 4);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));
  const auto members = net.node(2).members();
  ASSERT_EQ(members.size(), 4u);
  for (std::size_t i = 0; i < members.size(); ++i) {
    EXPECT_EQ(members[i].info.node_id, node_id_of(i));
  }
  EXPECT_EQ(net.node(2).self().info.node_id, node_id_of(2));
  EXPECT_EQ(net.node(2).self().state, member_state::alive);
}

TEST(SwimFailure, SilentNodeIsSuspectedThenDead) {
  const auto config = fast_config();
  fake_network net(config, 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  net.stop(4);
  const auto dead_everywhere = [&] {
    for (std::size_t i = 0; i < 4; ++i) {
      const auto seen = net.view(i, 4);
      if (!seen || seen->state != member_state::dead) {
        return false;
      }
    }
    return true;
  };
  ASSERT_TRUE(net.run_until(dead_everywhere, 20s));

  std::uint64_t suspicions = 0;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto kinds = net.events_about(i, 4);
    EXPECT_TRUE(contains(kinds, event::kind::died)) << "node " << i;
    suspicions += net.node(i).stats().suspicions_raised;
    EXPECT_EQ(net.node(i).alive_count(), 4u) << "node " << i;
  }
  EXPECT_GE(suspicions, 1u);

  // The member that declared the death first suspected it.
  bool suspected_before_death = false;
  for (std::size_t i = 0; i < 4; ++i) {
    const auto kinds = net.events_about(i, 4);
    const auto suspected = std::find(kinds.begin(), kinds.end(), event::kind::suspected);
    const auto died = std::find(kinds.begin(), kinds.end(), event::kind::died);
    suspected_before_death = suspected_before_death || suspected < died;
  }
  EXPECT_TRUE(suspected_before_death);
}

TEST(SwimFailure, DetectionWaitsForMinimumSuspicionTimeout) {
  const auto config = fast_config();
  fake_network net(config, 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  net.stop(4);
  const timestamp stopped_at = net.now();
  ASSERT_TRUE(net.run_until([&] { return net.node(0).count(member_state::dead) == 1; }, 20s));

  // Minimum suspicion timeout = 4 * log10(max(5, 10)) * 200 ms = 800 ms, plus
  // at least one probe interval for the failed probe itself.
  EXPECT_GE(net.now() - stopped_at, config.probe_interval + 800ms);
}

TEST(SwimRefute, DroppedAcksCauseRefutationNotDeath) {
  fake_network net(fast_config(), 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));
  const std::uint64_t before = net.node(2).self().incarnation;

  // Node 2 loses every ack it sends (direct and relayed) for two seconds.
  net.set_drop_rule([](std::size_t from, std::size_t, const v1::MembershipMessage& message) {
    return from == 2 && message.has_ack();
  });
  net.run_for(2s);
  net.clear_drop_rule();
  net.run_for(3s);

  EXPECT_GE(net.node(2).stats().refutations, 1u);
  EXPECT_GT(net.node(2).self().incarnation, before);
  EXPECT_TRUE(net.all_see_alive(net.all_nodes()));
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_FALSE(contains(net.events_about(i, 2), event::kind::died)) << "node " << i;
  }
  std::uint64_t suspicions = 0;
  for (std::size_t i = 0; i < 5; ++i) {
    suspicions += net.node(i).stats().suspicions_raised;
  }
  EXPECT_GE(suspicions, 1u);
}

TEST(SwimRefute, HearingItselfDeadRefutesAboveIt) {
  fake_network net(fast_config(), 1);
  auto& machine = net.node(0);
  net.join(0, {});

  v1::MembershipMessage message;
  message.mutable_broadcast();
  auto& update = *message.add_gossip();
  to_proto(machine.self().info, *update.mutable_info());
  update.set_state(v1::MEMBER_STATE_DEAD);
  update.set_incarnation(50);
  update.set_reporter_id(node_id_of(9));
  ASSERT_TRUE(validate_message(message, codec_limits{}).has_value());

  machine.receive(address_of(9), message, net.now());

  EXPECT_EQ(machine.self().incarnation, 51u);
  EXPECT_EQ(machine.self().state, member_state::alive);
  EXPECT_EQ(machine.stats().refutations, 1u);
}

TEST(SwimRefute, StaleSuspicionIsIgnored) {
  fake_network net(fast_config(), 1);
  auto& machine = net.node(0);

  v1::MembershipMessage message;
  message.mutable_broadcast();
  auto& update = *message.add_gossip();
  to_proto(machine.self().info, *update.mutable_info());
  update.set_state(v1::MEMBER_STATE_SUSPECT);
  update.set_incarnation(0);  // below the initial incarnation 1
  machine.receive(address_of(9), message, net.now());

  EXPECT_EQ(machine.self().incarnation, 1u);
  EXPECT_EQ(machine.stats().refutations, 0u);
}

TEST(SwimUpdate, SameIncarnationWithOtherInfoIsIgnored) {
  fake_network net(fast_config(), 2);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive({0, 1}); }, 2s));
  const auto known = *net.view(0, 1);

  v1::MembershipMessage message;
  message.mutable_broadcast();
  auto& update = *message.add_gossip();
  auto changed = known.info;
  changed.load = 999;
  to_proto(changed, *update.mutable_info());
  update.set_state(v1::MEMBER_STATE_ALIVE);
  update.set_incarnation(known.incarnation);
  net.node(0).receive(address_of(1), message, net.now());
  EXPECT_EQ(net.view(0, 1)->info.load, known.info.load);

  update.set_incarnation(known.incarnation + 1);
  net.node(0).receive(address_of(1), message, net.now());
  EXPECT_EQ(net.view(0, 1)->info.load, 999u);
  EXPECT_EQ(net.node(0).take_events().back().what, event::kind::updated);
}

TEST(SwimUpdate, LoadChangeSpreadsWithHigherIncarnation) {
  fake_network net(fast_config(), 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));
  const std::uint64_t before = net.node(3).self().incarnation;

  net.node(3).set_load(420);
  EXPECT_EQ(net.node(3).self().incarnation, before + 1);
  EXPECT_EQ(net.node(3).self().info.load, 420u);

  const auto everyone_sees_load = [&] {
    for (std::size_t i = 0; i < 5; ++i) {
      if (net.view(i, 3)->info.load != 420u) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(net.run_until(everyone_sees_load, 2s));
}

TEST(SwimLeave, OthersRecordLeftNotDead) {
  fake_network net(fast_config(), 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));
  const std::uint64_t before = net.node(3).self().incarnation;

  net.node(3).leave(net.now());
  EXPECT_EQ(net.node(3).self().state, member_state::left);
  EXPECT_EQ(net.node(3).self().incarnation, before + 1);
  net.run_for(300ms);
  net.stop(3);
  net.run_for(10s);

  for (std::size_t i : {0u, 1u, 2u, 4u}) {
    const auto seen = net.view(i, 3);
    ASSERT_TRUE(seen.has_value()) << "node " << i;
    EXPECT_EQ(seen->state, member_state::left) << "node " << i;
    const auto kinds = net.events_about(i, 3);
    EXPECT_TRUE(contains(kinds, event::kind::left)) << "node " << i;
    EXPECT_FALSE(contains(kinds, event::kind::died)) << "node " << i;
    EXPECT_FALSE(contains(kinds, event::kind::suspected)) << "node " << i;
    EXPECT_EQ(net.node(i).alive_count(), 4u) << "node " << i;
  }
}

TEST(SwimPartition, HalvesMarkEachOtherDeadThenHeal) {
  fake_network net(fast_config(), 10);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 3s));

  const std::set<std::size_t> left_side = {0, 1, 2, 3, 4};
  net.partition(left_side);
  const auto split = [&] {
    for (std::size_t i = 0; i < 10; ++i) {
      for (std::size_t j = 0; j < 10; ++j) {
        const bool same_side = left_side.contains(i) == left_side.contains(j);
        const auto seen = net.view(i, j);
        const auto expected = same_side ? member_state::alive : member_state::dead;
        if (!seen || seen->state != expected) {
          return false;
        }
      }
    }
    return true;
  };
  ASSERT_TRUE(net.run_until(split, 30s));

  net.clear_drop_rule();
  EXPECT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 30s));
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_GE(net.node(i).stats().refutations, 1u) << "node " << i;
  }
}

TEST(SwimRestart, SameIdWithHigherIncarnationRejoins) {
  fake_network net(fast_config(), 5);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  net.stop(4);
  ASSERT_TRUE(net.run_until(
      [&] {
        for (std::size_t i = 0; i < 4; ++i) {
          if (net.view(i, 4)->state != member_state::dead) {
            return false;
          }
        }
        return true;
      },
      20s));

  net.start(4, 1000);
  net.join(4, {0});
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 5s));
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_GE(net.view(i, 4)->incarnation, 1000u) << "node " << i;
    EXPECT_TRUE(contains(net.events_about(i, 4), event::kind::recovered)) << "node " << i;
  }
}

TEST(SwimRestart, RestartBelowRecordedIncarnationRefutesAbove) {
  fake_network net(fast_config(), 3);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  // Node 2 refutes a few times so that its incarnation climbs, then dies.
  for (int i = 0; i < 3; ++i) {
    net.node(2).set_load(static_cast<std::uint32_t>(100 + i));
  }
  net.run_for(1s);
  const std::uint64_t recorded = net.view(0, 2)->incarnation;
  ASSERT_GE(recorded, 4u);
  net.stop(2);
  ASSERT_TRUE(net.run_until([&] { return net.view(0, 2)->state == member_state::dead; }, 20s));

  // The restart uses a lower incarnation; the seed's reply tells it the dead record.
  net.start(2, 2);
  net.join(2, {0});
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 5s));
  EXPECT_GT(net.node(2).self().incarnation, recorded);
}

TEST(SwimReap, DeadMemberIsForgotten) {
  auto config = fast_config();
  config.dead_reap_after = 5s;
  fake_network net(config, 4);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  net.stop(3);
  ASSERT_TRUE(net.run_until([&] { return net.node(0).count(member_state::dead) == 1; }, 20s));
  EXPECT_TRUE(net.view(0, 3).has_value());

  net.run_for(4s);
  EXPECT_TRUE(net.view(0, 3).has_value());

  ASSERT_TRUE(net.run_until(
      [&] {
        for (std::size_t i = 0; i < 3; ++i) {
          if (net.view(i, 3).has_value()) {
            return false;
          }
        }
        return true;
      },
      5s));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(contains(net.events_about(i, 3), event::kind::reaped)) << "node " << i;
    EXPECT_EQ(net.node(i).members().size(), 3u) << "node " << i;
    EXPECT_EQ(net.node(i).count(member_state::dead), 0u) << "node " << i;
  }

  // The remaining members keep probing each other without false suspicions.
  net.run_for(3s);
  EXPECT_TRUE(net.all_see_alive({0, 1, 2}));
}

TEST(SwimWakeup, NextWakeupIsNeverLateForAProbe) {
  fake_network net(fast_config(), 3);
  net.join_all_through_first();
  net.run_for(1s);
  const auto wakeup = net.node(1).next_wakeup();
  EXPECT_GT(wakeup, net.now() - 1ms);
  EXPECT_LE(wakeup, net.now() + fast_config().probe_interval);
}

TEST(SwimProbe, IndirectProbeThroughHelperKeepsTargetAlive) {
  fake_network net(fast_config(), 4);
  net.join_all_through_first();
  ASSERT_TRUE(net.run_until([&] { return net.all_see_alive(net.all_nodes()); }, 2s));

  // The link between 0 and 3 is down; 1 and 2 can reach both.
  net.set_drop_rule([](std::size_t from, std::size_t to, const v1::MembershipMessage&) {
    return (from == 0 && to == 3) || (from == 3 && to == 0);
  });
  net.run_for(5s);

  EXPECT_GE(net.node(0).stats().indirect_probes_sent, 1u);
  EXPECT_EQ(net.node(0).stats().suspicions_raised, 0u);
  EXPECT_EQ(net.view(0, 3)->state, member_state::alive);
}

TEST(SwimRecycle, ReusedEntriesCarryNoStaleFields) {
  const auto config = fast_config();
  swim machine(config, info_of(0), 1, 11, 1000ms);
  machine.join({}, 1000ms);

  // Node 1 becomes known through gossip, so an alive update about it is queued.
  machine.receive(address_of(1), alive_gossip_about(1), 1000ms);

  // A recycled message whose entries have every optional field set.
  v1::MembershipMessage stale;
  stale.mutable_broadcast();
  for (int i = 0; i < 4; ++i) {
    auto& entry = *stale.add_gossip();
    entry.mutable_info()->set_node_id(node_id_of(7));
    entry.mutable_info()->set_name("stale");
    entry.mutable_info()->set_identity_key(std::string(32, 'k'));
    entry.mutable_info()->set_load(900);
    entry.set_state(v1::MEMBER_STATE_DEAD);
    entry.set_incarnation(99);
    entry.set_reporter_id(node_id_of(7));
  }
  machine.recycle(std::move(stale));

  machine.tick(1000ms + config.probe_interval + config.gossip_interval);
  const auto sent = machine.take_outbox();
  ASSERT_FALSE(sent.empty());
  std::size_t entries = 0;
  for (const auto& out : sent) {
    for (const auto& gossip : out.message.gossip()) {
      ++entries;
      const auto& node_id = gossip.info().node_id();
      EXPECT_TRUE(node_id == node_id_of(0) || node_id == node_id_of(1)) << node_id;
      EXPECT_NE(gossip.info().name(), "stale");
      EXPECT_TRUE(gossip.info().identity_key().empty());
      EXPECT_EQ(gossip.info().load(), 0u);
      EXPECT_EQ(gossip.state(), v1::MEMBER_STATE_ALIVE);
      EXPECT_LT(gossip.incarnation(), 99u);
      EXPECT_TRUE(gossip.reporter_id().empty());
    }
  }
  EXPECT_GE(entries, 2u);
}

}  // namespace
}  // namespace mesh::membership::testing
