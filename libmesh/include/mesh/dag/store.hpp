#pragma once
// Storage of vertices and their consensus state behind an abstract interface,
// so that the in-memory store here and a durable SQLite store can be swapped.
// The consensus engine writes a vertex before it counts it and writes the
// final state before it reports a vertex final.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>

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

  [[nodiscard]] virtual std::size_t size() const = 0;
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
  [[nodiscard]] std::size_t size() const override;

 private:
  struct entry {
    vertex value;
    vertex_state state;
  };
  std::unordered_map<vertex_id, entry> entries_;
};

}  // namespace mesh::dag
