// Checking and inserting vertices: format and signature checks, the buffer
// of vertices that wait for their parents, conflict sets and equivocations.
#include "consensus/engine_impl.hpp"

namespace mesh::consensus {

add_outcome engine::impl::add(const dag::vertex& v, timestamp now, bool signed_here) {
  add_outcome outcome;
  outcome.result = dag::check_vertex_format(v, config_.limits, suites_);
  if (outcome.result != validation_result::accepted) {
    return record_outcome(std::move(outcome));
  }

  outcome.id = dag::compute_id(v);
  if (records_.contains(outcome.id) || waiting_.contains(outcome.id)) {
    outcome.result = validation_result::already_known;
    return record_outcome(std::move(outcome));
  }

  // A vertex this node signed a moment ago needs no signature check.
  if (!signed_here) {
    vertex_id checked_id;
    outcome.result = dag::check_vertex(v, config_.limits, suites_, now, checked_id);
    if (outcome.result != validation_result::accepted) {
      return record_outcome(std::move(outcome));
    }
  }

  if (banned_above(v.author_id, v.sequence)) {
    outcome.result = validation_result::author_banned;
    return record_outcome(std::move(outcome));
  }

  outcome.missing_parents = graph_.missing(v.parents);
  if (!outcome.missing_parents.empty()) {
    outcome.result = wait_for_parents(outcome.id, v, outcome.missing_parents, now);
    return record_outcome(std::move(outcome));
  }

  outcome.result = insert(outcome.id, v);
  record_outcome_counts(outcome.result);
  insert_waiting_children(outcome.id);
  return outcome;
}

add_outcome engine::impl::record_outcome(add_outcome outcome) {
  record_outcome_counts(outcome.result);
  return outcome;
}

bool engine::impl::banned_above(const std::string& author_id, std::uint64_t sequence) const {
  auto it = banned_from_.find(author_id);
  return it != banned_from_.end() && sequence > it->second;
}

validation_result engine::impl::wait_for_parents(const vertex_id& id, const dag::vertex& v,
                                                 const std::vector<vertex_id>& missing, timestamp now) {
  if (waiting_.size() >= config_.max_waiting_vertices) {
    log_->warn("vertex dropped: parent buffer full vertex={} limit={}", crypto::to_hex(id),
               config_.max_waiting_vertices);
    return validation_result::buffer_full;
  }
  waiting_.emplace(id, waiting_vertex{v, missing.size(), now});
  for (const auto& parent : missing) {
    waiters_[parent].push_back(id);
  }
  return validation_result::missing_parents;
}

void engine::impl::insert_waiting_children(const vertex_id& id) {
  std::vector<vertex_id> arrived{id};
  while (!arrived.empty()) {
    const auto parent = std::move(arrived.back());
    arrived.pop_back();

    auto waiters = waiters_.find(parent);
    if (waiters == waiters_.end()) {
      continue;
    }
    const auto children = std::move(waiters->second);
    waiters_.erase(waiters);

    for (const auto& child_id : children) {
      auto child = waiting_.find(child_id);
      if (child == waiting_.end() || --child->second.missing > 0) {
        continue;
      }
      const auto value = std::move(child->second.value);
      waiting_.erase(child);

      auto result = validation_result::author_banned;
      if (!banned_above(value.author_id, value.sequence)) {
        result = insert(child_id, value);
      }
      record_outcome_counts(result);
      if (records_.contains(child_id)) {
        arrived.push_back(child_id);
      }
    }
  }
}

std::string engine::impl::sequence_set_name(const std::string& author_id, std::uint64_t sequence) {
  return "s" + author_id + ":" + std::to_string(sequence);
}

validation_result engine::impl::insert(const vertex_id& id, const dag::vertex& v) {
  const auto sequence_set = sequence_set_name(v.author_id, v.sequence);
  const auto sequence_it = set_index_.find(sequence_set);
  const bool equivocates =
      sequence_it != set_index_.end() && !sets_[sequence_it->second].members.empty();

  const auto initial = initial_state(v, sequence_set);
  if (auto stored = store_->put(id, v, initial); !stored) {
    log_->error("vertex store write failed vertex={} error={}", crypto::to_hex(id),
                stored.err().message);
    return validation_result::store_failed;
  }
  auto& record = enter(id, v, initial, sequence_set);
  strong_memo_.clear();

  if (initial == vertex_state::rejected) {
    ++stats_.vertices_rejected;
    events_.push_back(event{event_kind::vertex_rejected, id, {}, v.author_id, v.sequence});
  } else {
    record.order = next_order_++;
    undecided_.emplace(record.order, id);
    ++undecided_count_;
  }

  if (equivocates) {
    record_equivocation(id, v, sets_[sequence_it->second].members.front());
    return validation_result::equivocation;
  }
  return validation_result::accepted;
}

vertex_state engine::impl::initial_state(const dag::vertex& v,
                                         const std::string& sequence_set) const {
  for (const auto& parent : v.parents) {
    if (records_.at(parent).state == vertex_state::rejected) {
      return vertex_state::rejected;
    }
  }
  std::vector<std::string> names{sequence_set};
  if (!v.conflict_key.empty()) {
    names.push_back(key_set_name(v.conflict_key));
  }
  for (const auto& name : names) {
    auto it = set_index_.find(name);
    if (it != set_index_.end() && sets_[it->second].decided) {
      return vertex_state::rejected;
    }
  }
  return vertex_state::undecided;
}

vertex_record& engine::impl::enter(const vertex_id& id, const dag::vertex& v, vertex_state state,
                                  const std::string& sequence_set) {
  (void)graph_.insert(id, v.parents);
  auto& record = records_[id];
  record.author_id = v.author_id;
  record.sequence = v.sequence;
  record.state = state;
  record.conflict_sets.push_back(join_set(sequence_set, id));
  if (!v.conflict_key.empty()) {
    record.conflict_sets.push_back(join_set(key_set_name(v.conflict_key), id));
  }
  return record;
}

std::size_t engine::impl::join_set(const std::string& name, const vertex_id& id) {
  auto [it, created] = set_index_.try_emplace(name, sets_.size());
  if (created) {
    sets_.emplace_back();
  }
  auto& set = sets_[it->second];
  set.members.push_back(id);
  if (set.preference.empty() || records_.at(set.preference).state == vertex_state::rejected) {
    if (records_.at(id).state != vertex_state::rejected) {
      set.preference = id;
    }
  }
  return it->second;
}

void engine::impl::record_equivocation(const vertex_id& id, const dag::vertex& v,
                                       const vertex_id& first_id) {
  auto first = store_->get(first_id);
  if (first) {
    evidence_.push_back(equivocation_evidence{v.author_id, v.sequence, std::move(*first), v});
  }
  auto [ban, inserted] = banned_from_.try_emplace(v.author_id, v.sequence);
  if (!inserted) {
    ban->second = std::min(ban->second, v.sequence);
  }
  ++stats_.equivocations;
  events_.push_back(event{event_kind::equivocation_detected, id, first_id, v.author_id, v.sequence});
  log_->warn("equivocation author={} sequence={} first={} second={}", v.author_id, v.sequence,
             crypto::to_hex(first_id), crypto::to_hex(id));
}

}  // namespace mesh::consensus
