// DAG structure, tip selection and the in-memory vertex store.

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "mesh/dag/graph.hpp"
#include "mesh/dag/store.hpp"

namespace mesh::dag {
namespace {

vertex_id id_of(char c) { return std::string(32, c); }

// a <- b <- d, a <- c <- d, c <- e
graph diamond() {
  graph g;
  EXPECT_TRUE(g.insert(id_of('a'), {}).has_value());
  EXPECT_TRUE(g.insert(id_of('b'), {id_of('a')}).has_value());
  EXPECT_TRUE(g.insert(id_of('c'), {id_of('a')}).has_value());
  EXPECT_TRUE(g.insert(id_of('d'), {id_of('b'), id_of('c')}).has_value());
  EXPECT_TRUE(g.insert(id_of('e'), {id_of('c')}).has_value());
  return g;
}

TEST(Graph, InsertRejectsDuplicateAndMissingParent) {
  auto g = diamond();
  auto again = g.insert(id_of('a'), {});
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.err().code, errc::invalid_argument);

  auto orphan = g.insert(id_of('z'), {id_of('y')});
  ASSERT_FALSE(orphan.has_value());
  EXPECT_EQ(orphan.err().code, errc::not_found);
  EXPECT_FALSE(g.contains(id_of('z')));
  EXPECT_EQ(g.size(), 5U);
}

TEST(Graph, LinksAndHeights) {
  const auto g = diamond();
  EXPECT_EQ(g.height(id_of('a')), 0U);
  EXPECT_EQ(g.height(id_of('d')), 2U);
  EXPECT_EQ(g.children(id_of('c')), (std::vector<vertex_id>{id_of('d'), id_of('e')}));
  EXPECT_EQ(g.parents(id_of('d')), (std::vector<vertex_id>{id_of('b'), id_of('c')}));
  EXPECT_EQ(g.missing({id_of('a'), id_of('x')}), (std::vector<vertex_id>{id_of('x')}));
}

TEST(Graph, AncestorWalkVisitsEachOnce) {
  const auto g = diamond();
  std::map<vertex_id, int> visits;
  g.walk_ancestors(id_of('d'), [&](const vertex_id& id) {
    ++visits[id];
    return true;
  });
  EXPECT_EQ(visits.size(), 4U);
  for (const auto& [id, count] : visits) {
    EXPECT_EQ(count, 1) << id;
  }
  EXPECT_FALSE(visits.contains(id_of('e')));
}

TEST(Graph, WalkStopsWhereVisitReturnsFalse) {
  const auto g = diamond();
  std::vector<vertex_id> seen;
  g.walk_descendants(id_of('a'), [&](const vertex_id& id) {
    seen.push_back(id);
    return id != id_of('c');
  });
  EXPECT_EQ(std::count(seen.begin(), seen.end(), id_of('e')), 0);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), id_of('d')), 1);  // reached through b
}

TEST(Graph, IsAncestor) {
  const auto g = diamond();
  EXPECT_TRUE(g.is_ancestor(id_of('a'), id_of('d')));
  EXPECT_TRUE(g.is_ancestor(id_of('d'), id_of('d')));
  EXPECT_FALSE(g.is_ancestor(id_of('e'), id_of('d')));
  EXPECT_FALSE(g.is_ancestor(id_of('b'), id_of('e')));
}

TEST(Graph, TipsHonourFilter) {
  const auto g = diamond();
  auto all = [](const vertex_id&) { return true; };
  EXPECT_EQ(g.tips(all), (std::vector<vertex_id>{id_of('d'), id_of('e')}));

  // Without d, its parent b becomes a tip.
  auto without_d = [](const vertex_id& id) { return id != id_of('d'); };
  EXPECT_EQ(g.tips(without_d), (std::vector<vertex_id>{id_of('b'), id_of('e')}));
}

TEST(SelectTips, PicksDistinctSortedAndBounded) {
  std::mt19937_64 rng(7);
  std::vector<tip_candidate> candidates{{id_of('c'), 1}, {id_of('a'), 1}, {id_of('b'), 1}};
  const auto picked = select_tips(candidates, 2, rng);
  ASSERT_EQ(picked.size(), 2U);
  EXPECT_LT(picked[0], picked[1]);

  EXPECT_EQ(select_tips(candidates, 10, rng).size(), 3U);
  EXPECT_TRUE(select_tips({}, 3, rng).empty());
}

TEST(SelectTips, NeverPicksZeroWeight) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200; ++i) {
    const auto picked = select_tips({{id_of('a'), 0.0}, {id_of('b'), 1.0}}, 2, rng);
    ASSERT_EQ(picked, std::vector<vertex_id>{id_of('b')});
  }
}

TEST(SelectTips, FollowsWeights) {
  std::mt19937_64 rng(3);
  int heavy = 0;
  const int draws = 4000;
  for (int i = 0; i < draws; ++i) {
    const auto picked = select_tips({{id_of('h'), 9.0}, {id_of('l'), 1.0}}, 1, rng);
    heavy += picked.front() == id_of('h') ? 1 : 0;
  }
  // Expected 90%; 4000 draws put the observed share within 0.86..0.94 with
  // overwhelming probability.
  EXPECT_GT(heavy, draws * 86 / 100);
  EXPECT_LT(heavy, draws * 94 / 100);
}

TEST(MemoryStore, PutGetStateAndIterate) {
  memory_vertex_store store;
  vertex v;
  v.payload = "one";
  ASSERT_TRUE(store.put(id_of('1'), v, vertex_state::undecided).has_value());
  v.payload = "two";
  ASSERT_TRUE(store.put(id_of('2'), v, vertex_state::final).has_value());

  EXPECT_TRUE(store.has(id_of('1')));
  EXPECT_FALSE(store.has(id_of('3')));
  EXPECT_EQ(store.get(id_of('2'))->payload, "two");
  EXPECT_EQ(store.get(id_of('3')).err().code, errc::not_found);
  EXPECT_EQ(store.state(id_of('1')), vertex_state::undecided);
  EXPECT_FALSE(store.state(id_of('3')).has_value());

  ASSERT_TRUE(store.set_state(id_of('1'), vertex_state::rejected).has_value());
  EXPECT_EQ(store.set_state(id_of('3'), vertex_state::final).err().code, errc::not_found);

  std::vector<vertex_id> rejected;
  store.for_each(vertex_state::rejected, [&](const vertex_id& id, const vertex&) {
    rejected.push_back(id);
    return true;
  });
  EXPECT_EQ(rejected, std::vector<vertex_id>{id_of('1')});
  EXPECT_EQ(store.size(), 2U);
}

TEST(MemoryStore, PutAgainKeepsFirst) {
  memory_vertex_store store;
  vertex v;
  v.payload = "first";
  ASSERT_TRUE(store.put(id_of('1'), v, vertex_state::final).has_value());
  v.payload = "second";
  ASSERT_TRUE(store.put(id_of('1'), v, vertex_state::undecided).has_value());
  EXPECT_EQ(store.get(id_of('1'))->payload, "first");
  EXPECT_EQ(store.state(id_of('1')), vertex_state::final);
}

}  // namespace
}  // namespace mesh::dag
