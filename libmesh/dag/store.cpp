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

namespace {

std::size_t state_index(vertex_state state) { return static_cast<std::size_t>(state); }

}  // namespace

result<void> memory_vertex_store::put(const vertex_id& id, const vertex& v, vertex_state state) {
  auto [it, inserted] = entries_.try_emplace(id, entry{v, state, 0});
  if (!inserted) {
    return {};
  }

  insertion_order_.push_back(id);
  ++counts_[state_index(state)];
  if (state != vertex_state::undecided) {
    it->second.decided_position = ++last_decided_position_;
    decided_.emplace(it->second.decided_position, id);
  }
  return {};
}

result<void> memory_vertex_store::set_state(const vertex_id& id, vertex_state state) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return fail(errc::not_found, "vertex " + crypto::to_hex(id) + " is not stored");
  }
  auto& stored = it->second;
  if (stored.state == state) {
    return {};
  }

  --counts_[state_index(stored.state)];
  ++counts_[state_index(state)];
  stored.state = state;

  if (stored.decided_position != 0) {
    decided_.erase(stored.decided_position);
    stored.decided_position = 0;
  }
  if (state != vertex_state::undecided) {
    stored.decided_position = ++last_decided_position_;
    decided_.emplace(stored.decided_position, id);
  }
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

void memory_vertex_store::for_each_inserted(
    const std::function<bool(const vertex_id&, const vertex&, vertex_state)>& visit) const {
  for (const auto& id : insertion_order_) {
    const auto& stored = entries_.at(id);
    if (!visit(id, stored.value, stored.state)) {
      return;
    }
  }
}

std::vector<std::pair<std::uint64_t, vertex_id>> memory_vertex_store::decided_after(
    vertex_state state, std::uint64_t after, std::size_t limit) const {
  std::vector<std::pair<std::uint64_t, vertex_id>> page;
  if (limit == 0) {
    return page;
  }

  if (state == vertex_state::undecided) {
    for (auto position = after + 1; position <= insertion_order_.size(); ++position) {
      const auto& id = insertion_order_[position - 1];
      if (entries_.at(id).state == vertex_state::undecided) {
        page.emplace_back(position, id);
        if (page.size() == limit) {
          break;
        }
      }
    }
    return page;
  }

  for (auto it = decided_.upper_bound(after); it != decided_.end(); ++it) {
    if (entries_.at(it->second).state == state) {
      page.emplace_back(it->first, it->second);
      if (page.size() == limit) {
        break;
      }
    }
  }
  return page;
}

std::size_t memory_vertex_store::count(vertex_state state) const {
  return counts_[state_index(state)];
}

std::size_t memory_vertex_store::size() const { return entries_.size(); }

result<void> memory_vertex_store::begin_batch() {
  if (batch_open_) {
    return fail(errc::invalid_argument, "begin_batch: a batch is already open; commit it first");
  }
  batch_open_ = true;
  return {};
}

result<void> memory_vertex_store::commit_batch() {
  if (!batch_open_) {
    return fail(errc::invalid_argument, "commit_batch: no batch is open; call begin_batch first");
  }
  batch_open_ = false;
  return {};
}

}  // namespace mesh::dag
