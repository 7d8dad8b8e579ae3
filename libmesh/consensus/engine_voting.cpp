// Avalanche voting: preferences, the polls this node sends and the votes it
// counts, and finality.
#include "consensus/engine_impl.hpp"

namespace mesh::consensus {

bool engine::impl::preferred(const vertex_id& id, const vertex_record& record) const {
  return std::all_of(record.conflict_sets.begin(), record.conflict_sets.end(),
                     [&](std::size_t set) { return sets_[set].preference == id; });
}

bool engine::impl::strongly(const vertex_id& id) const {
  auto record = records_.find(id);
  if (record == records_.end()) {
    return false;
  }
  if (record->second.state != vertex_state::undecided) {
    return record->second.state == vertex_state::final;
  }
  if (auto memo = strong_memo_.find(id); memo != strong_memo_.end()) {
    return memo->second;
  }
  bool result = preferred(id, record->second);
  for (const auto& parent : graph_.parents(id)) {
    if (!result) {
      break;
    }
    result = strongly(parent);
  }
  strong_memo_.emplace(id, result);
  return result;
}

std::vector<poll_request> engine::impl::next_polls(timestamp now) {
  expire_polls(now);

  const auto quorum = effective_quorum(config_.avalanche, peers_.size());
  if (quorum.k == 0) {
    decide_alone(now);
    return {};
  }

  std::vector<poll_request> requests;
  while (polls_.size() < config_.max_outstanding_polls) {
    auto batch = next_batch();
    if (batch.empty()) {
      break;
    }
    const auto poll_id = next_poll_id_++;
    auto& poll = polls_[poll_id];
    poll.vertex_ids = std::move(batch);
    poll.quorum = quorum;
    poll.started = now;
    poll.yes_votes.assign(poll.vertex_ids.size(), 0);
    std::sample(peers_.begin(), peers_.end(), std::back_inserter(poll.peers), quorum.k, rng_);
    poll.replied.assign(poll.peers.size(), false);
    ++stats_.polls_started;

    for (const auto& peer : poll.peers) {
      requests.push_back(poll_request{poll_id, peer, poll.vertex_ids});
    }
  }
  return requests;
}

std::vector<vertex_id> engine::impl::next_batch() {
  std::vector<vertex_id> batch;
  auto take = [&](const vertex_id& id) {
    auto& record = records_.at(id);
    if (!record.in_poll) {
      record.in_poll = true;
      batch.push_back(id);
    }
  };
  const auto newest = (config_.max_vertices_per_poll + 1) / 2;
  for (auto it = undecided_.rbegin(); it != undecided_.rend() && batch.size() < newest; ++it) {
    take(it->second);
  }
  for (auto it = undecided_.begin();
       it != undecided_.end() && batch.size() < config_.max_vertices_per_poll; ++it) {
    take(it->second);
  }
  return batch;
}

void engine::impl::decide_alone(timestamp now) {
  poll_state poll;
  poll.quorum = poll_quorum{1, 1, 1};
  poll.started = now;
  poll.vertex_ids = next_batch();
  if (poll.vertex_ids.empty()) {
    return;
  }
  for (const auto& id : poll.vertex_ids) {
    poll.yes_votes.push_back(strongly(id) ? 1 : 0);
  }
  finish(poll);
}

void engine::impl::expire_polls(timestamp now) {
  std::vector<std::uint64_t> expired;
  for (const auto& [poll_id, poll] : polls_) {
    if (now - poll.started >= config_.poll_timeout) {
      expired.push_back(poll_id);
    }
  }
  for (auto poll_id : expired) {
    time_out(poll_id);
  }
}

void engine::impl::time_out(std::uint64_t poll_id) {
  auto it = polls_.find(poll_id);
  if (it == polls_.end()) {
    return;
  }
  auto poll = std::move(it->second);
  polls_.erase(it);
  ++stats_.polls_timed_out;
  finish(poll);
}

void engine::impl::votes(std::uint64_t poll_id, const std::string& from_peer,
                         const std::vector<bool>& votes) {
  auto it = polls_.find(poll_id);
  if (it == polls_.end()) {
    ++stats_.votes_ignored;
    return;
  }
  auto& poll = it->second;
  auto peer = std::find(poll.peers.begin(), poll.peers.end(), from_peer);
  if (peer == poll.peers.end() || votes.size() != poll.vertex_ids.size()) {
    ++stats_.votes_ignored;
    return;
  }
  const auto slot = static_cast<std::size_t>(peer - poll.peers.begin());
  if (poll.replied[slot]) {
    ++stats_.votes_ignored;
    return;
  }

  poll.replied[slot] = true;
  ++stats_.votes_received;
  for (std::size_t i = 0; i < votes.size(); ++i) {
    if (votes[i]) {
      ++poll.yes_votes[i];
    }
  }

  if (std::all_of(poll.replied.begin(), poll.replied.end(), [](bool r) { return r; })) {
    auto done = std::move(poll);
    polls_.erase(it);
    ++stats_.polls_completed;
    finish(done);
  }
}

void engine::impl::finish(const poll_state& poll) {
  std::unordered_set<vertex_id> majority;
  std::unordered_set<vertex_id> quorum;

  for (std::size_t i = 0; i < poll.vertex_ids.size(); ++i) {
    const auto& id = poll.vertex_ids[i];
    auto record = records_.find(id);
    if (record == records_.end()) {
      continue;
    }
    record->second.in_poll = false;
    if (record->second.state != vertex_state::undecided) {
      continue;
    }
    if (poll.yes_votes[i] >= poll.quorum.alpha_preference) {
      collect_undecided_ancestors(id, majority);
    }
    if (poll.yes_votes[i] >= poll.quorum.alpha_confidence) {
      record->second.chit = true;
      ++stats_.chits;
      collect_undecided_ancestors(id, quorum);
    }
  }

  update_preferences(majority);
  update_counters(quorum);
  finalize_from(quorum);
}

void engine::impl::collect_undecided_ancestors(const vertex_id& id,
                                               std::unordered_set<vertex_id>& out) const {
  graph_.walk_ancestors(id, [&](const vertex_id& ancestor) {
    if (records_.at(ancestor).state != vertex_state::undecided) {
      return false;
    }
    return out.insert(ancestor).second;
  });
}

void engine::impl::update_preferences(const std::unordered_set<vertex_id>& supported) {
  for (const auto& id : supported) {
    ++records_.at(id).preference_strength;
  }
  for (const auto& id : supported) {
    const auto& record = records_.at(id);
    for (auto set_index : record.conflict_sets) {
      auto& set = sets_[set_index];
      if (set.preference == id) {
        continue;
      }
      if (set.preference.empty() ||
          records_.at(set.preference).state == vertex_state::rejected ||
          record.preference_strength > records_.at(set.preference).preference_strength) {
        set.preference = id;
        strong_memo_.clear();
      }
    }
  }
}

void engine::impl::update_counters(const std::unordered_set<vertex_id>& supported) {
  std::unordered_map<std::size_t, std::vector<vertex_id>> hits;
  for (const auto& id : supported) {
    auto& record = records_.at(id);
    ++record.confidence;
    for (auto set_index : record.conflict_sets) {
      hits[set_index].push_back(id);
    }
  }
  for (auto& [set_index, members] : hits) {
    auto& set = sets_[set_index];
    if (members.size() != 1) {
      set.count = 0;
      continue;
    }
    if (set.last == members.front()) {
      ++set.count;
    } else {
      set.last = members.front();
      set.count = 1;
    }
  }
}

bool engine::impl::acceptable(const vertex_id& id) const {
  const auto& record = records_.at(id);
  if (record.state != vertex_state::undecided) {
    return false;
  }
  for (const auto& parent : graph_.parents(id)) {
    if (records_.at(parent).state != vertex_state::final) {
      return false;
    }
  }
  for (auto set_index : record.conflict_sets) {
    const auto& set = sets_[set_index];
    const bool early_commit =
        set.members.size() == 1 && record.confidence >= config_.avalanche.beta1;
    const bool consecutive = set.preference == id && set.last == id &&
                             set.count >= config_.avalanche.beta2;
    if (!early_commit && !consecutive) {
      return false;
    }
  }
  return true;
}

void engine::impl::finalize_from(const std::unordered_set<vertex_id>& candidates) {
  std::set<std::pair<std::uint64_t, vertex_id>> queue;
  for (const auto& id : candidates) {
    queue.emplace(graph_.height(id), id);
  }
  while (!queue.empty()) {
    const auto id = queue.begin()->second;
    queue.erase(queue.begin());
    if (!acceptable(id) || !finalize(id)) {
      continue;
    }
    for (const auto& child : graph_.children(id)) {
      if (records_.at(child).state == vertex_state::undecided) {
        queue.emplace(graph_.height(child), child);
      }
    }
  }
}

bool engine::impl::finalize(const vertex_id& id) {
  if (auto stored = store_->set_state(id, vertex_state::final); !stored) {
    log_->error("vertex store failed to record final state vertex={} error={}",
                crypto::to_hex(id), stored.err().message);
    return false;
  }
  auto& record = records_.at(id);
  record.state = vertex_state::final;
  undecided_.erase(record.order);
  --undecided_count_;
  ++stats_.vertices_final;
  strong_memo_.clear();
  events_.push_back(event{event_kind::vertex_final, id, {}, record.author_id, record.sequence});

  for (auto set_index : record.conflict_sets) {
    auto& set = sets_[set_index];
    set.decided = true;
    set.preference = id;
    for (const auto& member : std::vector<vertex_id>(set.members)) {
      if (member != id && records_.at(member).state == vertex_state::undecided) {
        reject(member);
      }
    }
  }
  return true;
}

void engine::impl::reject(const vertex_id& id) {
  std::vector<vertex_id> rejected;
  graph_.walk_descendants(id, [&](const vertex_id& descendant) {
    if (records_.at(descendant).state != vertex_state::undecided) {
      return false;
    }
    rejected.push_back(descendant);
    return true;
  });

  for (const auto& victim : rejected) {
    auto& record = records_.at(victim);
    if (auto stored = store_->set_state(victim, vertex_state::rejected); !stored) {
      // The vertex stays rejected in memory, and after a restart
      // reject_contradicted() rejects it again from its final rival or
      // rejected ancestor.
      log_->error("vertex store failed to record rejected state vertex={} error={}",
                  crypto::to_hex(victim), stored.err().message);
    }
    record.state = vertex_state::rejected;
    undecided_.erase(record.order);
    --undecided_count_;
    ++stats_.vertices_rejected;
    events_.push_back(
        event{event_kind::vertex_rejected, victim, {}, record.author_id, record.sequence});
  }
  strong_memo_.clear();

  for (const auto& victim : rejected) {
    for (auto set_index : records_.at(victim).conflict_sets) {
      repair_preference(sets_[set_index]);
    }
  }
}

void engine::impl::repair_preference(conflict_set& set) {
  if (set.decided) {
    return;
  }
  if (!set.preference.empty() && records_.at(set.preference).state != vertex_state::rejected) {
    return;
  }
  const vertex_id* best = nullptr;
  for (const auto& member : set.members) {
    const auto& record = records_.at(member);
    if (record.state != vertex_state::undecided) {
      continue;
    }
    if (best == nullptr || record.preference_strength > records_.at(*best).preference_strength) {
      best = &member;
    }
  }
  if (best != nullptr) {
    set.preference = *best;
    set.count = 0;
  }
}

}  // namespace mesh::consensus
