#include "mesh/dag/store.hpp"

#include "mesh/crypto/hash.hpp"

namespace mesh::dag {

std::string_view to_string(vertex_state state) noexcept {
  switch (state) {
    case vertex_state::undecided:
      return "undecided";
    case vertex_state::final:
      return "final";
    case vertex_state::rejected:
      return "rejected";
  }
  return "unknown";
}

result<void> memory_vertex_store::put(const vertex_id& id, const vertex& v, vertex_state state) {
  entries_.try_emplace(id, entry{v, state});
  return {};
}

result<void> memory_vertex_store::set_state(const vertex_id& id, vertex_state state) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return fail(errc::not_found, "vertex " + crypto::to_hex(id) + " is not stored");
  }
  it->second.state = state;
  return {};
}

result<vertex> memory_vertex_store::get(const vertex_id& id) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return fail(errc::not_found, "vertex " + crypto::to_hex(id) + " is not stored");
  }
  return it->second.value;
}

bool memory_vertex_store::has(const vertex_id& id) const { return entries_.contains(id); }

std::optional<vertex_state> memory_vertex_store::state(const vertex_id& id) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return std::nullopt;
  }
  return it->second.state;
}

void memory_vertex_store::for_each(
    vertex_state state, const std::function<bool(const vertex_id&, const vertex&)>& visit) const {
  for (const auto& [id, stored] : entries_) {
    if (stored.state == state && !visit(id, stored.value)) {
      return;
    }
  }
}

std::size_t memory_vertex_store::size() const { return entries_.size(); }

}  // namespace mesh::dag
