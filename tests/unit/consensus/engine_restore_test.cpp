// An engine created on a SQLite store that already contains vertices: states,
// tips, conflict sets, bans and evidence survive a restart, undecided
// vertices are polled again, and an inconsistent store is repaired or
// reported.

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mesh/consensus/engine.hpp"
#include "mesh/crypto/hash.hpp"
#include "mesh/dag/sqlite_store.hpp"
#include "simulation.hpp"
#include "support/process.hpp"

namespace mesh::consensus {
namespace {

using dag::validation_result;
using dag::vertex_state;
using testing::shared_identity;

constexpr timestamp t0{1'700'000'000'000};
const std::vector<std::string> three_peers = {"peer-a", "peer-b", "peer-c"};

dag::vertex make_vertex(std::size_t author, std::uint64_t sequence,
                        std::vector<vertex_id> parents = {}, std::string conflict_key = {},
                        std::string payload = "p") {
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

vertex_id id_of(const dag::vertex& v) { return dag::compute_id(v); }

std::vector<vertex_id> sorted(std::vector<vertex_id> ids) {
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Runs one poll in which every sampled peer votes as this node does.
void agreeing_round(engine& e) {
  for (const auto& request : e.next_polls(t0)) {
    e.on_votes(request.poll_id, request.peer_id, e.on_poll(request.peer_id, request.vertex_ids),
               t0);
  }
}

// Runs agreeing polls until `id` is decided, at most `max_rounds` of them.
void poll_until_decided(engine& e, const vertex_id& id, int max_rounds = 100) {
  for (int round = 0; round < max_rounds && e.state(id) == vertex_state::undecided; ++round) {
    agreeing_round(e);
  }
}

std::vector<vertex_id> ids_with_kind(const std::vector<event>& events, event_kind kind) {
  std::vector<vertex_id> out;
  for (const auto& e : events) {
    if (e.kind == kind) {
      out.push_back(e.id);
    }
  }
  return sorted(out);
}

class EngineRestore : public ::testing::Test {
 protected:
  std::unique_ptr<dag::sqlite_vertex_store> open_store() {
    auto opened = dag::sqlite_vertex_store::open(file_);
    EXPECT_TRUE(opened.has_value()) << opened.err().message;
    return opened ? std::move(*opened) : nullptr;
  }

  result<engine> create_engine(std::unique_ptr<dag::vertex_store> store) {
    engine_config config;
    config.self_id = shared_identity(0).node_id();
    config.avalanche = avalanche_params::fast();
    auto created =
        engine::create(config, dag::suite_registry::with_builtin_suites(), std::move(store), 7);
    if (created) {
      created->set_voting_peers(three_peers);
    }
    return created;
  }

  engine open_engine() {
    auto created = create_engine(open_store());
    EXPECT_TRUE(created.has_value()) << created.err().message;
    return std::move(*created);
  }

  mesh::testing::temp_dir dir_{"mesh-engine-restore"};
  std::filesystem::path file_ = dir_.path() / "vertices.db";
};

TEST_F(EngineRestore, KeepsStatesAndResumesPolling) {
  const auto a = make_vertex(1, 0);
  const auto b = make_vertex(1, 1, {id_of(a)});
  const auto c = make_vertex(1, 2, {id_of(b)});
  const auto d = make_vertex(2, 0, {id_of(a)});
  std::vector<vertex_id> parents_before;
  {
    auto e = open_engine();
    ASSERT_EQ(e.add_vertex(a, t0).result, validation_result::accepted);
    ASSERT_EQ(e.add_vertex(b, t0).result, validation_result::accepted);
    poll_until_decided(e, id_of(b));
    ASSERT_EQ(e.state(id_of(b)), vertex_state::final);

    ASSERT_EQ(e.add_vertex(c, t0).result, validation_result::accepted);
    ASSERT_EQ(e.add_vertex(d, t0).result, validation_result::accepted);
    agreeing_round(e);
    agreeing_round(e);
    ASSERT_EQ(e.state(id_of(c)), vertex_state::undecided);
    ASSERT_EQ(e.state(id_of(d)), vertex_state::undecided);
    std::mt19937_64 rng(3);
    parents_before = e.select_parents(rng);
  }

  auto e = open_engine();
  EXPECT_EQ(e.state(id_of(a)), vertex_state::final);
  EXPECT_EQ(e.state(id_of(b)), vertex_state::final);
  EXPECT_EQ(e.state(id_of(c)), vertex_state::undecided);
  EXPECT_EQ(e.state(id_of(d)), vertex_state::undecided);
  EXPECT_EQ(e.undecided_count(), 2U);
  EXPECT_EQ(e.confidence(id_of(c)), 0U);
  EXPECT_TRUE(e.take_events().empty());

  std::mt19937_64 rng(3);
  const auto parents_after = e.select_parents(rng);
  EXPECT_EQ(parents_after, sorted({id_of(c), id_of(d)}));
  EXPECT_EQ(parents_after, parents_before);

  // A vertex on the restored tips is accepted without fetching anything.
  const auto next = make_vertex(1, 3, parents_after);
  EXPECT_EQ(e.add_vertex(next, t0).result, validation_result::accepted);
  // The author's sequence numbers are known again: reusing one is equivocation.
  EXPECT_EQ(e.add_vertex(make_vertex(1, 2, {id_of(b)}, {}, "other"), t0).result,
            validation_result::equivocation);
  (void)e.take_events();

  poll_until_decided(e, id_of(d));
  EXPECT_EQ(e.state(id_of(d)), vertex_state::final);
  const auto events = e.take_events();
  const auto finals = ids_with_kind(events, event_kind::vertex_final);
  EXPECT_TRUE(std::binary_search(finals.begin(), finals.end(), id_of(d)));
  EXPECT_FALSE(std::binary_search(finals.begin(), finals.end(), id_of(a)));
  EXPECT_FALSE(std::binary_search(finals.begin(), finals.end(), id_of(b)));

  const auto page = e.store().decided_after(vertex_state::final, 0, 2);
  ASSERT_EQ(page.size(), 2U);
  EXPECT_EQ(page[0].second, id_of(a));
  EXPECT_EQ(page[1].second, id_of(b));
}

TEST_F(EngineRestore, ConflictWinnerStaysFinal) {
  const auto winner = make_vertex(1, 0, {}, "coin-1", "to carol");
  const auto loser = make_vertex(2, 0, {}, "coin-1", "to dave");
  const auto loser_child = make_vertex(3, 0, {id_of(loser)});
  {
    auto e = open_engine();
    ASSERT_EQ(e.add_vertex(winner, t0).result, validation_result::accepted);
    ASSERT_EQ(e.add_vertex(loser, t0).result, validation_result::accepted);
    ASSERT_EQ(e.add_vertex(loser_child, t0).result, validation_result::accepted);
    poll_until_decided(e, id_of(winner));
    ASSERT_EQ(e.state(id_of(winner)), vertex_state::final);
    ASSERT_EQ(e.state(id_of(loser)), vertex_state::rejected);
    ASSERT_EQ(e.state(id_of(loser_child)), vertex_state::rejected);
  }

  auto e = open_engine();
  EXPECT_EQ(e.state(id_of(winner)), vertex_state::final);
  EXPECT_EQ(e.state(id_of(loser)), vertex_state::rejected);
  EXPECT_EQ(e.state(id_of(loser_child)), vertex_state::rejected);
  EXPECT_EQ(e.preference("coin-1"), id_of(winner));
  EXPECT_EQ(e.undecided_count(), 0U);

  const auto newcomer = make_vertex(4, 0, {}, "coin-1", "to erin");
  ASSERT_EQ(e.add_vertex(newcomer, t0).result, validation_result::accepted);
  EXPECT_EQ(e.state(id_of(newcomer)), vertex_state::rejected);
  const auto orphan = make_vertex(5, 0, {id_of(loser)});
  ASSERT_EQ(e.add_vertex(orphan, t0).result, validation_result::accepted);
  EXPECT_EQ(e.state(id_of(orphan)), vertex_state::rejected);

  std::mt19937_64 rng(1);
  EXPECT_EQ(e.select_parents(rng), std::vector<vertex_id>{id_of(winner)});
}

TEST_F(EngineRestore, KeepsEquivocationEvidenceAndBan) {
  const auto first = make_vertex(1, 0, {}, {}, "first");
  const auto second = make_vertex(1, 0, {}, {}, "second");
  {
    auto e = open_engine();
    ASSERT_EQ(e.add_vertex(first, t0).result, validation_result::accepted);
    ASSERT_EQ(e.add_vertex(second, t0).result, validation_result::equivocation);
  }

  auto e = open_engine();
  EXPECT_TRUE(e.is_banned(shared_identity(1).node_id()));
  const auto evidence = e.equivocations();
  ASSERT_EQ(evidence.size(), 1U);
  EXPECT_EQ(evidence[0].author_id, shared_identity(1).node_id());
  EXPECT_EQ(evidence[0].sequence, 0U);
  EXPECT_EQ(evidence[0].first.payload, "first");
  EXPECT_EQ(evidence[0].second.payload, "second");
  EXPECT_TRUE(ids_with_kind(e.take_events(), event_kind::equivocation_detected).empty());

  EXPECT_EQ(e.add_vertex(make_vertex(1, 1), t0).result, validation_result::author_banned);
}

TEST_F(EngineRestore, RejectsContradictedUndecided) {
  const auto rejected_parent = make_vertex(1, 0);
  const auto child = make_vertex(2, 0, {id_of(rejected_parent)});
  const auto grandchild = make_vertex(2, 1, {id_of(child)});
  const auto winner = make_vertex(3, 0, {}, "coin-9");
  const auto late = make_vertex(4, 0, {}, "coin-9");
  const auto fine = make_vertex(5, 0);
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    // What a store looks like when rejected states failed to reach the disk.
    ASSERT_TRUE(store->put(id_of(rejected_parent), rejected_parent, vertex_state::rejected));
    ASSERT_TRUE(store->put(id_of(child), child, vertex_state::undecided));
    ASSERT_TRUE(store->put(id_of(grandchild), grandchild, vertex_state::undecided));
    ASSERT_TRUE(store->put(id_of(winner), winner, vertex_state::final));
    ASSERT_TRUE(store->put(id_of(late), late, vertex_state::undecided));
    ASSERT_TRUE(store->put(id_of(fine), fine, vertex_state::undecided));
  }

  auto e = open_engine();
  EXPECT_EQ(e.state(id_of(child)), vertex_state::rejected);
  EXPECT_EQ(e.state(id_of(grandchild)), vertex_state::rejected);
  EXPECT_EQ(e.state(id_of(late)), vertex_state::rejected);
  EXPECT_EQ(e.state(id_of(fine)), vertex_state::undecided);
  EXPECT_EQ(e.store().state(id_of(child)), vertex_state::rejected);
  EXPECT_EQ(e.store().state(id_of(late)), vertex_state::rejected);
  EXPECT_EQ(e.undecided_count(), 1U);
  EXPECT_EQ(ids_with_kind(e.take_events(), event_kind::vertex_rejected),
            sorted({id_of(child), id_of(grandchild), id_of(late)}));
}

TEST_F(EngineRestore, StoreWithoutParentFails) {
  const auto parent = make_vertex(1, 0);
  const auto child = make_vertex(1, 1, {id_of(parent)});
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->put(id_of(child), child, vertex_state::undecided));
  }
  auto created = create_engine(open_store());
  ASSERT_FALSE(created.has_value());
  EXPECT_EQ(created.err().code, errc::decode_error);
  EXPECT_NE(created.err().message.find(crypto::to_hex(id_of(parent))), std::string::npos)
      << created.err().message;
}

TEST_F(EngineRestore, UncommittedBatchIsForgotten) {
  const auto kept = make_vertex(1, 0);
  const auto lost = make_vertex(2, 0);
  {
    auto e = open_engine();
    ASSERT_TRUE(e.begin_batch());
    ASSERT_EQ(e.add_vertex(kept, t0).result, validation_result::accepted);
    poll_until_decided(e, id_of(kept));
    ASSERT_EQ(e.state(id_of(kept)), vertex_state::final);
    ASSERT_TRUE(e.commit_batch());

    ASSERT_TRUE(e.begin_batch());
    ASSERT_EQ(e.add_vertex(lost, t0).result, validation_result::accepted);
    poll_until_decided(e, id_of(lost));
    ASSERT_EQ(e.state(id_of(lost)), vertex_state::final);
    // Destroyed before commit_batch(): the final state was never reported.
  }

  auto e = open_engine();
  EXPECT_EQ(e.state(id_of(kept)), vertex_state::final);
  EXPECT_EQ(e.state(id_of(lost)), std::nullopt);
  EXPECT_EQ(e.store().size(), 1U);
}

}  // namespace
}  // namespace mesh::consensus
