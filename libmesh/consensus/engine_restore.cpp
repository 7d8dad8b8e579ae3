// Rebuilding the engine's state from its vertex store at start.
#include "consensus/engine_impl.hpp"

namespace mesh::consensus {

result<void> engine::impl::restore() {
  std::optional<error> failure;
  std::size_t restored = 0;
  store_->for_each_inserted(
      [&](const vertex_id& id, const dag::vertex& v, vertex_state state) {
        const auto missing = graph_.missing(v.parents);
        if (!missing.empty()) {
          failure = fail(errc::decode_error,
                         "vertex store is inconsistent: vertex " + crypto::to_hex(id) +
                             " was stored before its parent " + crypto::to_hex(missing.front()));
          return false;
        }
        restore_vertex(id, v, state);
        ++restored;
        return true;
      });
  if (failure) {
    return *failure;
  }
  if (restored != store_->size()) {
    return fail(errc::io_error, "vertex store walk returned " + std::to_string(restored) +
                                    " of " + std::to_string(store_->size()) +
                                    " vertices; the log names the read error");
  }

  const auto healed = reject_contradicted();
  log_->info("engine restored from store vertices={} undecided={} equivocations={} "
             "rejected_on_restore={}",
             restored, undecided_count_, evidence_.size(), healed);
  return {};
}

void engine::impl::restore_vertex(const vertex_id& id, const dag::vertex& v, vertex_state state) {
  const auto sequence_set = sequence_set_name(v.author_id, v.sequence);
  const auto sequence_it = set_index_.find(sequence_set);
  const bool equivocates =
      sequence_it != set_index_.end() && !sets_[sequence_it->second].members.empty();
  auto& record = enter(id, v, state, sequence_set);

  if (state == vertex_state::final) {
    for (auto set_index : record.conflict_sets) {
      sets_[set_index].decided = true;
      sets_[set_index].preference = id;
    }
  } else if (state == vertex_state::undecided) {
    record.order = next_order_++;
    undecided_.emplace(record.order, id);
    ++undecided_count_;
  }

  if (equivocates) {
    restore_equivocation(v, sets_[sequence_it->second].members.front());
  }
}

void engine::impl::restore_equivocation(const dag::vertex& v, const vertex_id& first_id) {
  if (auto first = store_->get(first_id)) {
    evidence_.push_back(equivocation_evidence{v.author_id, v.sequence, std::move(*first), v});
  }
  auto [ban, inserted] = banned_from_.try_emplace(v.author_id, v.sequence);
  if (!inserted) {
    ban->second = std::min(ban->second, v.sequence);
  }
}

std::size_t engine::impl::reject_contradicted() {
  const auto before = stats_.vertices_rejected;
  std::vector<vertex_id> pending;
  for (const auto& [order, id] : undecided_) {
    pending.push_back(id);
  }
  for (const auto& id : pending) {
    const auto& record = records_.at(id);
    if (record.state != vertex_state::undecided) {
      continue;
    }
    const auto& parents = graph_.parents(id);
    const bool parent_rejected = std::any_of(parents.begin(), parents.end(), [&](const auto& p) {
      return records_.at(p).state == vertex_state::rejected;
    });
    const bool set_decided =
        std::any_of(record.conflict_sets.begin(), record.conflict_sets.end(),
                    [&](std::size_t set_index) { return sets_[set_index].decided; });
    if (parent_rejected || set_decided) {
      reject(id);
    }
  }
  strong_memo_.clear();
  return static_cast<std::size_t>(stats_.vertices_rejected - before);
}

}  // namespace mesh::consensus
