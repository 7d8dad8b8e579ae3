#pragma once
// Storage of vertices and their consensus state behind an abstract interface,
// so that the in-memory store here and the durable SQLite store
// (sqlite_store.hpp) can be swapped. The consensus engine writes a vertex
// before it counts it and writes the final state before it reports a vertex
// final. With a batch open, the owner reports final vertices only after
// commit_batch() succeeded.
//
// Positions: every stored vertex gets an insertion position (1, 2, ... in the
// order of put), and a vertex that becomes final or rejected gets a decision
// position from one counter shared by both states. Positions only grow, may
// have gaps, and page through the store with decided_after().

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mesh/dag/vertex.hpp"
#include "mesh/error.hpp"

namespace mesh::dag {

enum class vertex_state : std::uint8_t {
  undecided = 0,
  final = 1,
  rejected = 2,
};

[[nodiscard]] std::string_view to_string(vertex_state state) noexcept;

// Abstract vertex store. Implementations state their own thread safety; the
// engine calls every method from its owner's thread only.
class vertex_store {
 public:
  virtual ~vertex_store() = default;

  // Stores `v` under `id` in `state`. Storing an id again replaces nothing
  // and succeeds. Fails with io_error when the medium fails.
  [[nodiscard]] virtual result<void> put(const vertex_id& id, const vertex& v,
                                         vertex_state state) = 0;

  // Changes the state of a stored vertex. Fails with not_found for an unknown id.
  [[nodiscard]] virtual result<void> set_state(const vertex_id& id, vertex_state state) = 0;

  // Returns the vertex, or not_found.
  [[nodiscard]] virtual result<vertex> get(const vertex_id& id) const = 0;

  [[nodiscard]] virtual bool has(const vertex_id& id) const = 0;

  // Returns the state of a stored vertex, or nullopt for an unknown id.
  [[nodiscard]] virtual std::optional<vertex_state> state(const vertex_id& id) const = 0;

  // Calls `visit` for every stored vertex in `state`, in no defined order,
  // until `visit` returns false.
  virtual void for_each(vertex_state state,
                        const std::function<bool(const vertex_id&, const vertex&)>& visit) const = 0;

  // Calls `visit` for every stored vertex in insertion order, so parents come
  // before their children, until `visit` returns false. The engine rebuilds
  // its state from this walk when it is created.
  virtual void for_each_inserted(
      const std::function<bool(const vertex_id&, const vertex&, vertex_state)>& visit) const = 0;

  // Returns up to `limit` (position, id) pairs of vertices in `state` whose
  // position is greater than `after`, in ascending position. For final and
  // rejected the position is the decision position; for undecided it is the
  // insertion position. Pass the last position returned as the next `after`.
  [[nodiscard]] virtual std::vector<std::pair<std::uint64_t, vertex_id>> decided_after(
      vertex_state state, std::uint64_t after, std::size_t limit) const = 0;

  // Returns the number of stored vertices in `state`.
  [[nodiscard]] virtual std::size_t count(vertex_state state) const = 0;

  [[nodiscard]] virtual std::size_t size() const = 0;

  // Group commit: the writes between begin_batch() and commit_batch() become
  // durable together, with one sync of the medium. Without an open batch
  // every write is durable when it returns. Reads inside a batch see its
  // writes. begin_batch() fails with invalid_argument when a batch is already
  // open, and commit_batch() when none is open. Both fail with io_error when
  // the medium fails, and a failed commit discards the whole batch.
  [[nodiscard]] virtual result<void> begin_batch() = 0;
  [[nodiscard]] virtual result<void> commit_batch() = 0;
};

// Vertex store in memory. Not thread-safe. Owns copies of the vertices.
class memory_vertex_store final : public vertex_store {
 public:
  [[nodiscard]] result<void> put(const vertex_id& id, const vertex& v, vertex_state state) override;
  [[nodiscard]] result<void> set_state(const vertex_id& id, vertex_state state) override;
  [[nodiscard]] result<vertex> get(const vertex_id& id) const override;
  [[nodiscard]] bool has(const vertex_id& id) const override;
  [[nodiscard]] std::optional<vertex_state> state(const vertex_id& id) const override;
  void for_each(vertex_state state,
                const std::function<bool(const vertex_id&, const vertex&)>& visit) const override;
  void for_each_inserted(
      const std::function<bool(const vertex_id&, const vertex&, vertex_state)>& visit)
      const override;
  [[nodiscard]] std::vector<std::pair<std::uint64_t, vertex_id>> decided_after(
      vertex_state state, std::uint64_t after, std::size_t limit) const override;
  [[nodiscard]] std::size_t count(vertex_state state) const override;
  [[nodiscard]] std::size_t size() const override;

  // Nothing in memory needs a sync, so a batch only tracks whether it is
  // open; the errors are the same as for a durable store.
  [[nodiscard]] result<void> begin_batch() override;
  [[nodiscard]] result<void> commit_batch() override;

 private:
  struct entry {
    vertex value;
    vertex_state state;
    std::uint64_t decided_position = 0;  // 0 while undecided
  };

  // Invariants: insertion_order_[p - 1] is the vertex with insertion position
  // p; decided_ maps each decision position to the vertex that has it now.
  std::unordered_map<vertex_id, entry> entries_;
  std::vector<vertex_id> insertion_order_;
  std::map<std::uint64_t, vertex_id> decided_;
  std::uint64_t last_decided_position_ = 0;
  std::array<std::size_t, 3> counts_{};  // indexed by vertex_state
  bool batch_open_ = false;
};

}  // namespace mesh::dag
