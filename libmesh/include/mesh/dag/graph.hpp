#pragma once
// The structure of the vertex DAG: parent and child links, heights, tips and
// ancestry walks. It stores ids only; payloads live in a vertex_store and
// consensus state in the engine.
//
// Invariants: every parent of an inserted vertex was inserted before it, so
// the graph is acyclic and height(v) = 1 + max height of its parents (0 for a
// vertex without parents).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <unordered_map>
#include <vector>

#include "mesh/dag/vertex.hpp"
#include "mesh/error.hpp"

namespace mesh::dag {

// Not thread-safe; one owner calls every method. Owns its index.
class graph {
 public:
  // Inserts `id` below `parents`. Fails with invalid_argument when `id` is
  // already present and with not_found when a parent is missing.
  [[nodiscard]] result<void> insert(const vertex_id& id, const std::vector<vertex_id>& parents);

  [[nodiscard]] bool contains(const vertex_id& id) const;

  // Returns the ids in `parents` that are not in the graph.
  [[nodiscard]] std::vector<vertex_id> missing(const std::vector<vertex_id>& parents) const;

  // The next three require contains(id).
  [[nodiscard]] const std::vector<vertex_id>& parents(const vertex_id& id) const;
  [[nodiscard]] const std::vector<vertex_id>& children(const vertex_id& id) const;
  [[nodiscard]] std::uint64_t height(const vertex_id& id) const;

  // Visits `from` and then each of its ancestors once, depth first. When
  // `visit` returns false, the walk does not continue past that vertex.
  void walk_ancestors(const vertex_id& from, const std::function<bool(const vertex_id&)>& visit) const;

  // Same as walk_ancestors, towards the children.
  void walk_descendants(const vertex_id& from,
                        const std::function<bool(const vertex_id&)>& visit) const;

  // True when `ancestor` is `of` or reachable from `of` through parent links.
  [[nodiscard]] bool is_ancestor(const vertex_id& ancestor, const vertex_id& of) const;

  // Returns the vertices for which `include` is true and for none of whose
  // children it is true, in insertion order. `include` must be closed under
  // parents (true for a vertex means true for its parents), as "strongly
  // preferred" is. The search starts at the vertices without children and
  // walks down only through excluded vertices, so its cost grows with the
  // excluded top of the DAG, not with its size.
  [[nodiscard]] std::vector<vertex_id> tips(const std::function<bool(const vertex_id&)>& include) const;

  [[nodiscard]] std::size_t size() const noexcept { return nodes_.size(); }

 private:
  struct node {
    vertex_id id;
    std::vector<vertex_id> parents;
    std::vector<vertex_id> children;
    std::uint64_t height = 0;
  };

  void walk(const vertex_id& from, bool towards_parents,
            const std::function<bool(const vertex_id&)>& visit) const;

  std::vector<node> nodes_;
  std::unordered_map<vertex_id, std::size_t> index_;
  // Indexes of the vertices without children, in insertion order.
  std::set<std::size_t> childless_;
};

// A tip that tip selection may pick, with a positive weight (the engine uses
// confidence + 1).
struct tip_candidate {
  vertex_id id;
  double weight = 1.0;
};

// Picks up to `max_parents` distinct candidates without replacement; each draw
// picks a remaining candidate with probability proportional to its weight.
// Candidates with a weight that is not positive are never picked. The result
// is sorted in ascending byte order, ready for a vertex_draft.
[[nodiscard]] std::vector<vertex_id> select_tips(std::vector<tip_candidate> candidates,
                                                 std::size_t max_parents, std::mt19937_64& rng);

}  // namespace mesh::dag
