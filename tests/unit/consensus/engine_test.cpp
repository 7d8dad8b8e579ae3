// One consensus engine driven by hand: Avalanche parameters, the stateful
// validation results, the poll API and finality and rejection rules.

#include <gtest/gtest.h>

#include "mesh/consensus/engine.hpp"
#include "simulation.hpp"

namespace mesh::consensus {
namespace {

using dag::validation_result;
using dag::vertex_state;
using testing::shared_identity;

constexpr timestamp t0{1'700'000'000'000};
const std::vector<std::string> three_peers = {"peer-a", "peer-b", "peer-c"};

engine make_engine(engine_config config = {}, std::unique_ptr<dag::vertex_store> store = nullptr) {
  config.self_id = shared_identity(0).node_id();
  if (!store) {
    store = std::make_unique<dag::memory_vertex_store>();
  }
  auto created = engine::create(config, dag::suite_registry::with_builtin_suites(), std::move(store), 9);
  EXPECT_TRUE(created.has_value());
  return std::move(*created);
}

dag::vertex make_vertex(std::size_t author, std::uint64_t sequence, std::vector<vertex_id> parents = {},
                        std::string conflict_key = {}, std::string payload = "p") {
  dag::vertex_draft draft;
  draft.parents = std::move(parents);
  draft.payload = std::move(payload);
  draft.content_type = "text/plain";
  draft.conflict_key = std::move(conflict_key);
  draft.sequence = sequence;
  draft.timestamp_ms = static_cast<std::uint64_t>(t0.count());
  auto v = dag::sign_vertex(std::move(draft), shared_identity(author));
  EXPECT_TRUE(v.has_value());
  return *v;
}

// Runs one poll in which every sampled peer votes `vote` for every vertex.
void poll_round(engine& e, timestamp now, bool vote = true) {
  auto requests = e.next_polls(now);
  for (const auto& request : requests) {
    e.on_votes(request.poll_id, request.peer_id, std::vector<bool>(request.vertex_ids.size(), vote),
               now);
  }
}

TEST(AvalancheParams, PresetsValidate) {
  EXPECT_TRUE(validate(avalanche_params{}).has_value());
  EXPECT_TRUE(validate(avalanche_params::fast()).has_value());
  EXPECT_TRUE(validate(avalanche_params::secure()).has_value());
  EXPECT_EQ(avalanche_preset("secure")->beta2, avalanche_params::secure().beta2);
  auto unknown = avalanche_preset("turbo");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_NE(unknown.err().message.find("default, fast, secure"), std::string::npos);
}

TEST(AvalancheParams, RejectsOutOfRange) {
  avalanche_params params;
  params.alpha = params.k / 2;
  EXPECT_FALSE(validate(params).has_value());
  params = {};
  params.alpha = params.k + 1;
  EXPECT_FALSE(validate(params).has_value());
  params = {};
  params.beta2 = params.beta1 - 1;
  EXPECT_FALSE(validate(params).has_value());
  params = {};
  params.k = 0;
  EXPECT_FALSE(validate(params).has_value());
}

TEST(AvalancheParams, QuorumShrinksWithMesh) {
  const avalanche_params params;  // k = 20, alpha = 15
  struct row {
    std::size_t peers, k, alpha_preference, alpha_confidence;
  };
  const row table[] = {
      {0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {4, 4, 3, 3},
      {9, 9, 5, 7}, {19, 19, 10, 15}, {20, 20, 11, 15}, {100, 20, 11, 15},
  };
  for (const auto& expected : table) {
    const auto quorum = effective_quorum(params, expected.peers);
    EXPECT_EQ(quorum.k, expected.k) << expected.peers;
    EXPECT_EQ(quorum.alpha_preference, expected.alpha_preference) << expected.peers;
    EXPECT_EQ(quorum.alpha_confidence, expected.alpha_confidence) << expected.peers;
  }
}

TEST(EngineConfig, Validates) {
  engine_config config;
  config.parents_per_vertex = config.limits.max_parents + 1;
  EXPECT_FALSE(validate(config).has_value());
  config = {};
  config.poll_timeout = timestamp{0};
  EXPECT_FALSE(validate(config).has_value());
  auto created = engine::create(engine_config{}, dag::suite_registry::with_builtin_suites(), nullptr, 1);
  EXPECT_FALSE(created.has_value());
}

TEST(EngineAdd, AcceptsAndReportsAlreadyKnown) {
  auto e = make_engine();
  const auto v = make_vertex(1, 0);
  EXPECT_EQ(e.add_vertex(v, t0).result, validation_result::accepted);
  EXPECT_EQ(e.add_vertex(v, t0).result, validation_result::already_known);
  EXPECT_EQ(e.state(dag::compute_id(v)), vertex_state::undecided);
  EXPECT_EQ(e.stats().validation.count(validation_result::already_known), 1U);
  EXPECT_TRUE(e.store().has(dag::compute_id(v)));
}

TEST(EngineAdd, StatelessReasonsAreCounted) {
  auto e = make_engine();
  auto v = make_vertex(1, 0);
  v.payload = "tampered";
  EXPECT_EQ(e.add_vertex(v, t0).result, validation_result::bad_signature);

  auto future = make_vertex(1, 1);
  EXPECT_EQ(e.add_vertex(future, t0 - timestamp{60'000}).result, validation_result::clock_skew);

  auto unknown_suite = make_vertex(1, 2);
  unknown_suite.suite = 250;
  EXPECT_EQ(e.add_vertex(unknown_suite, t0).result, validation_result::unknown_suite);

  EXPECT_EQ(e.stats().validation.count(validation_result::bad_signature), 1U);
  EXPECT_EQ(e.stats().validation.count(validation_result::clock_skew), 1U);
  EXPECT_EQ(e.stats().validation.count(validation_result::unknown_suite), 1U);
  EXPECT_EQ(e.store().size(), 0U);
}

TEST(EngineAdd, MissingParentsWaitThenInsert) {
  auto e = make_engine();
  const auto parent = make_vertex(1, 0);
  const auto child = make_vertex(1, 1, {dag::compute_id(parent)});
  const auto grandchild = make_vertex(2, 0, {dag::compute_id(child)});

  auto outcome = e.add_vertex(grandchild, t0);
  EXPECT_EQ(outcome.result, validation_result::missing_parents);
  EXPECT_EQ(outcome.missing_parents, std::vector<vertex_id>{dag::compute_id(child)});
  EXPECT_EQ(e.add_vertex(child, t0).result, validation_result::missing_parents);
  EXPECT_EQ(e.missing_vertices(), std::vector<vertex_id>{dag::compute_id(parent)});
  EXPECT_FALSE(e.state(dag::compute_id(grandchild)).has_value());
  EXPECT_EQ(e.add_vertex(grandchild, t0).result, validation_result::already_known);

  EXPECT_EQ(e.add_vertex(parent, t0).result, validation_result::accepted);
  EXPECT_EQ(e.state(dag::compute_id(child)), vertex_state::undecided);
  EXPECT_EQ(e.state(dag::compute_id(grandchild)), vertex_state::undecided);
  EXPECT_TRUE(e.missing_vertices().empty());
  EXPECT_EQ(e.stats().validation.count(validation_result::accepted), 3U);
}

TEST(EngineAdd, BufferFull) {
  engine_config config;
  config.max_waiting_vertices = 1;
  auto e = make_engine(config);
  EXPECT_EQ(e.add_vertex(make_vertex(1, 0, {std::string(32, 'x')}), t0).result,
            validation_result::missing_parents);
  EXPECT_EQ(e.add_vertex(make_vertex(1, 1, {std::string(32, 'y')}), t0).result,
            validation_result::buffer_full);
}

TEST(EngineAdd, EquivocationStoresEvidenceAndBansLater) {
  auto e = make_engine();
  const auto first = make_vertex(3, 5, {}, {}, "first");
  const auto second = make_vertex(3, 5, {}, {}, "second");
  ASSERT_EQ(e.add_vertex(make_vertex(3, 4), t0).result, validation_result::accepted);
  ASSERT_EQ(e.add_vertex(first, t0).result, validation_result::accepted);
  EXPECT_FALSE(e.is_banned(shared_identity(3).node_id()));

  EXPECT_EQ(e.add_vertex(second, t0).result, validation_result::equivocation);
  EXPECT_TRUE(e.is_banned(shared_identity(3).node_id()));
  ASSERT_EQ(e.equivocations().size(), 1U);
  EXPECT_EQ(e.equivocations()[0].first.payload, "first");
  EXPECT_EQ(e.equivocations()[0].second.payload, "second");
  EXPECT_EQ(e.stats().equivocations, 1U);

  const auto events = e.take_events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].kind, event_kind::equivocation_detected);
  EXPECT_EQ(events[0].id, dag::compute_id(second));
  EXPECT_EQ(events[0].conflicting_id, dag::compute_id(first));

  // Both stay in the DAG as one conflict set: at most one can be preferred.
  EXPECT_TRUE(e.strongly_preferred(dag::compute_id(first)));
  EXPECT_FALSE(e.strongly_preferred(dag::compute_id(second)));

  EXPECT_EQ(e.add_vertex(make_vertex(3, 6), t0).result, validation_result::author_banned);
  EXPECT_EQ(e.add_vertex(make_vertex(3, 2), t0).result, validation_result::accepted);
  EXPECT_EQ(e.stats().validation.count(validation_result::author_banned), 1U);
}

class failing_store final : public dag::vertex_store {
 public:
  result<void> put(const vertex_id&, const dag::vertex&, vertex_state) override {
    return fail(errc::io_error, "disk full");
  }
  result<void> set_state(const vertex_id&, vertex_state) override {
    return fail(errc::io_error, "disk full");
  }
  result<dag::vertex> get(const vertex_id&) const override { return fail(errc::not_found, "none"); }
  bool has(const vertex_id&) const override { return false; }
  std::optional<vertex_state> state(const vertex_id&) const override { return std::nullopt; }
  void for_each(vertex_state,
                const std::function<bool(const vertex_id&, const dag::vertex&)>&) const override {}
  void for_each_inserted(const std::function<bool(const vertex_id&, const dag::vertex&,
                                                  vertex_state)>&) const override {}
  std::vector<std::pair<std::uint64_t, vertex_id>> decided_after(vertex_state, std::uint64_t,
                                                                 std::size_t) const override {
    return {};
  }
  std::size_t count(vertex_state) const override { return 0; }
  std::size_t size() const override { return 0; }
  result<void> begin_batch() override { return fail(errc::io_error, "disk full"); }
  result<void> commit_batch() override { return fail(errc::io_error, "disk full"); }
};

TEST(EngineAdd, StoreFailed) {
  auto e = make_engine({}, std::make_unique<failing_store>());
  const auto v = make_vertex(1, 0);
  EXPECT_EQ(e.add_vertex(v, t0).result, validation_result::store_failed);
  EXPECT_FALSE(e.state(dag::compute_id(v)).has_value());
  EXPECT_EQ(e.stats().validation.count(validation_result::store_failed), 1U);
}

TEST(EnginePoll, RequestsGoToSampledPeers) {
  auto e = make_engine();
  e.set_voting_peers({"peer-a", "peer-b", shared_identity(0).node_id(), "peer-a"});
  EXPECT_EQ(e.current_quorum().k, 2U);
  ASSERT_EQ(e.add_vertex(make_vertex(1, 0), t0).result, validation_result::accepted);

  const auto requests = e.next_polls(t0);
  ASSERT_EQ(requests.size(), 2U);
  EXPECT_EQ(requests[0].poll_id, requests[1].poll_id);
  EXPECT_NE(requests[0].peer_id, requests[1].peer_id);
  EXPECT_EQ(requests[0].vertex_ids.size(), 1U);
  // The vertex is in an outstanding poll, so no second poll starts.
  EXPECT_TRUE(e.next_polls(t0).empty());
  EXPECT_EQ(e.outstanding_polls(), 1U);
}

TEST(EnginePoll, IgnoresRepliesThatDoNotFit) {
  auto e = make_engine();
  e.set_voting_peers(three_peers);
  ASSERT_EQ(e.add_vertex(make_vertex(1, 0), t0).result, validation_result::accepted);
  const auto requests = e.next_polls(t0);
  ASSERT_EQ(requests.size(), 3U);
  const auto poll_id = requests[0].poll_id;

  e.on_votes(poll_id + 100, "peer-a", {true}, t0);       // unknown poll
  e.on_votes(poll_id, "stranger", {true}, t0);           // not sampled
  e.on_votes(poll_id, "peer-a", {true, true}, t0);       // wrong length
  e.on_votes(poll_id, "peer-a", {true}, t0);
  e.on_votes(poll_id, "peer-a", {true}, t0);             // repeated
  EXPECT_EQ(e.stats().votes_ignored, 4U);
  EXPECT_EQ(e.stats().votes_received, 1U);
  EXPECT_EQ(e.outstanding_polls(), 1U);
}

TEST(EnginePoll, TimeoutCountsMissingVotesAsNo) {
  engine_config config;
  config.poll_timeout = timestamp{500};
  auto e = make_engine(config);
  e.set_voting_peers(three_peers);
  const auto v = make_vertex(1, 0);
  ASSERT_EQ(e.add_vertex(v, t0).result, validation_result::accepted);

  auto requests = e.next_polls(t0);
  e.on_votes(requests[0].poll_id, requests[0].peer_id, {true}, t0);
  e.on_poll_timeout(requests[0].poll_id, t0);
  EXPECT_EQ(e.stats().polls_timed_out, 1U);
  EXPECT_EQ(e.confidence(dag::compute_id(v)), 0U);

  // next_polls expires a poll by itself once poll_timeout has passed.
  requests = e.next_polls(t0);
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_TRUE(e.next_polls(t0 + timestamp{499}).empty());
  EXPECT_EQ(e.next_polls(t0 + timestamp{500}).size(), 3U);
  EXPECT_EQ(e.stats().polls_timed_out, 2U);
}

TEST(EngineFinality, EarlyCommitAfterBeta1) {
  engine_config config;
  config.avalanche = avalanche_params::fast();
  auto e = make_engine(config);
  e.set_voting_peers(three_peers);
  const auto v = make_vertex(1, 0);
  const auto id = dag::compute_id(v);
  ASSERT_EQ(e.add_vertex(v, t0).result, validation_result::accepted);

  for (std::uint32_t i = 1; i < config.avalanche.beta1; ++i) {
    poll_round(e, t0);
    ASSERT_EQ(e.state(id), vertex_state::undecided) << "after " << i << " polls";
    EXPECT_EQ(e.confidence(id), i);
  }
  poll_round(e, t0);
  EXPECT_EQ(e.state(id), vertex_state::final);
  EXPECT_EQ(e.store().state(id), vertex_state::final);
  const auto events = e.take_events();
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].kind, event_kind::vertex_final);
  EXPECT_EQ(e.undecided_count(), 0U);
}

TEST(EngineFinality, FailedPollsGiveNoConfidence) {
  auto e = make_engine();
  e.set_voting_peers(three_peers);
  const auto v = make_vertex(1, 0);
  ASSERT_EQ(e.add_vertex(v, t0).result, validation_result::accepted);
  for (int i = 0; i < 50; ++i) {
    poll_round(e, t0, false);
  }
  EXPECT_EQ(e.confidence(dag::compute_id(v)), 0U);
  EXPECT_EQ(e.state(dag::compute_id(v)), vertex_state::undecided);
}

TEST(EngineFinality, ConfidenceFlowsToAncestors) {
  auto e = make_engine();
  e.set_voting_peers(three_peers);
  const auto parent = make_vertex(1, 0);
  const auto child = make_vertex(1, 1, {dag::compute_id(parent)});
  ASSERT_EQ(e.add_vertex(parent, t0).result, validation_result::accepted);
  ASSERT_EQ(e.add_vertex(child, t0).result, validation_result::accepted);

  // Only the child gets yes votes; the parent gains confidence through it,
  // once per poll.
  auto requests = e.next_polls(t0);
  for (const auto& request : requests) {
    std::vector<bool> votes;
    for (const auto& id : request.vertex_ids) {
      votes.push_back(id == dag::compute_id(child));
    }
    e.on_votes(request.poll_id, request.peer_id, votes, t0);
  }
  EXPECT_EQ(e.confidence(dag::compute_id(child)), 1U);
  EXPECT_EQ(e.confidence(dag::compute_id(parent)), 1U);
}

TEST(EngineFinality, ConflictNeedsBeta2AndRejectsLoserAndDescendants) {
  engine_config config;
  config.avalanche = avalanche_params::fast();
  auto e = make_engine(config);
  e.set_voting_peers(three_peers);
  const auto winner = make_vertex(1, 0, {}, "coin-1", "to carol");
  const auto loser = make_vertex(2, 0, {}, "coin-1", "to dave");
  const auto loser_child = make_vertex(4, 0, {dag::compute_id(loser)});
  ASSERT_EQ(e.add_vertex(winner, t0).result, validation_result::accepted);
  ASSERT_EQ(e.add_vertex(loser, t0).result, validation_result::accepted);
  ASSERT_EQ(e.add_vertex(loser_child, t0).result, validation_result::accepted);
  EXPECT_EQ(e.preference("coin-1"), dag::compute_id(winner));

  const auto answers = e.on_poll("peer-a", {dag::compute_id(winner), dag::compute_id(loser),
                                            dag::compute_id(loser_child), std::string(32, 'u')});
  EXPECT_EQ(answers, (std::vector<bool>{true, false, false, false}));

  // The peers vote like this node: yes for the winner only.
  for (std::uint32_t i = 0; i < config.avalanche.beta2; ++i) {
    ASSERT_EQ(e.state(dag::compute_id(winner)), vertex_state::undecided) << "poll " << i;
    auto requests = e.next_polls(t0);
    for (const auto& request : requests) {
      e.on_votes(request.poll_id, request.peer_id, e.on_poll("peer", request.vertex_ids), t0);
    }
  }
  EXPECT_EQ(e.state(dag::compute_id(winner)), vertex_state::final);
  EXPECT_EQ(e.state(dag::compute_id(loser)), vertex_state::rejected);
  EXPECT_EQ(e.state(dag::compute_id(loser_child)), vertex_state::rejected);
  EXPECT_EQ(e.store().state(dag::compute_id(loser)), vertex_state::rejected);
  EXPECT_EQ(e.stats().vertices_rejected, 2U);

  // A late vertex in the decided set and a child of a rejected vertex start rejected.
  const auto late = make_vertex(5, 0, {}, "coin-1", "too late");
  ASSERT_EQ(e.add_vertex(late, t0).result, validation_result::accepted);
  EXPECT_EQ(e.state(dag::compute_id(late)), vertex_state::rejected);

  std::mt19937_64 rng(1);
  for (int i = 0; i < 20; ++i) {
    for (const auto& parent : e.select_parents(rng)) {
      EXPECT_EQ(e.state(parent), vertex_state::final);
    }
  }
}

TEST(EngineFinality, PreferenceSwitchesToStrongerMember) {
  auto e = make_engine();
  e.set_voting_peers(three_peers);
  const auto first = make_vertex(1, 0, {}, "coin-2", "first seen");
  const auto second = make_vertex(2, 0, {}, "coin-2", "network favourite");
  ASSERT_EQ(e.add_vertex(first, t0).result, validation_result::accepted);
  ASSERT_EQ(e.add_vertex(second, t0).result, validation_result::accepted);
  EXPECT_EQ(e.preference("coin-2"), dag::compute_id(first));

  auto requests = e.next_polls(t0);
  for (const auto& request : requests) {
    std::vector<bool> votes;
    for (const auto& id : request.vertex_ids) {
      votes.push_back(id == dag::compute_id(second));
    }
    e.on_votes(request.poll_id, request.peer_id, votes, t0);
  }
  EXPECT_EQ(e.preference("coin-2"), dag::compute_id(second));
  EXPECT_TRUE(e.strongly_preferred(dag::compute_id(second)));
  EXPECT_FALSE(e.strongly_preferred(dag::compute_id(first)));
}

TEST(EngineSolo, DecidesWithoutPeers) {
  engine_config config;
  config.avalanche = avalanche_params::fast();
  auto e = make_engine(config);
  const auto v = make_vertex(0, 0);
  ASSERT_EQ(e.add_vertex(v, t0).result, validation_result::accepted);
  for (std::uint32_t i = 0; i < config.avalanche.beta1; ++i) {
    EXPECT_TRUE(e.next_polls(t0).empty());
  }
  EXPECT_EQ(e.state(dag::compute_id(v)), vertex_state::final);
}

TEST(EngineTips, SelectParentsPrefersTips) {
  auto e = make_engine();
  std::mt19937_64 rng(5);
  EXPECT_TRUE(e.select_parents(rng).empty());
  const auto root = make_vertex(1, 0);
  const auto a = make_vertex(1, 1, {dag::compute_id(root)});
  const auto b = make_vertex(2, 0, {dag::compute_id(root)});
  for (const auto& v : {root, a, b}) {
    ASSERT_EQ(e.add_vertex(v, t0).result, validation_result::accepted);
  }
  auto parents = e.select_parents(rng);
  std::vector<vertex_id> expected{dag::compute_id(a), dag::compute_id(b)};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(parents, expected);
}

}  // namespace
}  // namespace mesh::consensus
