// The consensus engine's configuration checks and its public wrapper. The
// state machine behind it is in engine_insert.cpp, engine_restore.cpp and
// engine_voting.cpp, over the state in engine_impl.hpp.
#include "consensus/engine_impl.hpp"

namespace mesh::consensus {

result<void> validate(const engine_config& config) {
  if (auto params = validate(config.avalanche); !params) {
    return params;
  }
  if (config.parents_per_vertex == 0 || config.parents_per_vertex > config.limits.max_parents) {
    return fail(errc::invalid_config,
                "parents_per_vertex " + std::to_string(config.parents_per_vertex) +
                    " must be between 1 and limits.max_parents (" +
                    std::to_string(config.limits.max_parents) + ")");
  }
  if (config.max_vertices_per_poll == 0) {
    return fail(errc::invalid_config, "max_vertices_per_poll is 0; it must be at least 1");
  }
  if (config.max_outstanding_polls == 0) {
    return fail(errc::invalid_config, "max_outstanding_polls is 0; it must be at least 1");
  }
  if (config.poll_timeout.count() <= 0) {
    return fail(errc::invalid_config, "poll_timeout must be positive, got " +
                                          std::to_string(config.poll_timeout.count()) + " ms");
  }
  return {};
}

// --- engine ----------------------------------------------------------------

result<engine> engine::create(engine_config config, dag::suite_registry suites,
                              std::unique_ptr<dag::vertex_store> store, std::uint64_t seed) {
  if (auto valid = validate(config); !valid) {
    return valid.err();
  }
  if (!store) {
    return fail(errc::invalid_config, "vertex store is null");
  }
  auto state = std::make_unique<impl>(std::move(config), std::move(suites), std::move(store), seed);
  if (auto restored = state->restore(); !restored) {
    return restored.err();
  }
  return engine(std::move(state));
}

engine::engine(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
engine::~engine() = default;
engine::engine(engine&&) noexcept = default;
engine& engine::operator=(engine&&) noexcept = default;

void engine::set_voting_peers(std::vector<std::string> peer_ids) {
  std::sort(peer_ids.begin(), peer_ids.end());
  peer_ids.erase(std::unique(peer_ids.begin(), peer_ids.end()), peer_ids.end());
  std::erase(peer_ids, impl_->config_.self_id);
  impl_->peers_ = std::move(peer_ids);
}

add_outcome engine::add_vertex(const dag::vertex& v, timestamp now) {
  return impl_->add(v, now, false);
}

add_outcome engine::add_own_vertex(const dag::vertex& v, timestamp now) {
  if (v.author_id != impl_->config_.self_id) {
    return impl_->add(v, now, false);
  }
  return impl_->add(v, now, true);
}

std::vector<vertex_id> engine::select_parents(std::mt19937_64& rng) const {
  const auto tips = impl_->graph_.tips([this](const vertex_id& id) { return impl_->strongly(id); });
  std::vector<dag::tip_candidate> candidates;
  candidates.reserve(tips.size());
  for (const auto& id : tips) {
    const auto weight = static_cast<double>(impl_->records_.at(id).confidence) + 1.0;
    candidates.push_back(dag::tip_candidate{id, weight});
  }
  return dag::select_tips(std::move(candidates), impl_->config_.parents_per_vertex, rng);
}

std::vector<poll_request> engine::next_polls(timestamp now) { return impl_->next_polls(now); }

std::vector<bool> engine::on_poll(const std::string& from_peer,
                                  const std::vector<vertex_id>& vertex_ids) const {
  (void)from_peer;  // NOTE: no per-peer rate limit yet; the wire layer bounds request sizes.
  std::vector<bool> votes;
  votes.reserve(vertex_ids.size());
  for (const auto& id : vertex_ids) {
    votes.push_back(impl_->strongly(id));
  }
  return votes;
}

void engine::on_votes(std::uint64_t poll_id, const std::string& from_peer,
                      const std::vector<bool>& votes, timestamp now) {
  (void)now;
  impl_->votes(poll_id, from_peer, votes);
}

void engine::on_poll_timeout(std::uint64_t poll_id, timestamp now) {
  (void)now;
  impl_->time_out(poll_id);
}

std::vector<event> engine::take_events() { return std::exchange(impl_->events_, {}); }

std::optional<dag::vertex_state> engine::state(const vertex_id& id) const {
  auto it = impl_->records_.find(id);
  if (it == impl_->records_.end()) {
    return std::nullopt;
  }
  return it->second.state;
}

std::uint64_t engine::confidence(const vertex_id& id) const {
  auto it = impl_->records_.find(id);
  return it == impl_->records_.end() ? 0 : it->second.confidence;
}

bool engine::strongly_preferred(const vertex_id& id) const { return impl_->strongly(id); }

std::optional<vertex_id> engine::preference(const std::string& conflict_key) const {
  auto it = impl_->set_index_.find(impl::key_set_name(conflict_key));
  if (conflict_key.empty() || it == impl_->set_index_.end()) {
    return std::nullopt;
  }
  return impl_->sets_[it->second].preference;
}

std::vector<vertex_id> engine::missing_vertices() const {
  std::vector<vertex_id> out;
  for (const auto& [parent, children] : impl_->waiters_) {
    if (!impl_->waiting_.contains(parent)) {
      out.push_back(parent);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<equivocation_evidence> engine::equivocations() const { return impl_->evidence_; }

bool engine::is_banned(const std::string& author_id) const {
  return impl_->banned_from_.contains(author_id);
}

std::size_t engine::undecided_count() const { return impl_->undecided_count_; }

std::size_t engine::outstanding_polls() const { return impl_->polls_.size(); }

poll_quorum engine::current_quorum() const {
  return effective_quorum(impl_->config_.avalanche, impl_->peers_.size());
}

const dag::vertex_store& engine::store() const { return *impl_->store_; }

const engine_stats& engine::stats() const { return impl_->stats_; }

std::vector<vertex_id> engine::tips() const {
  auto out = impl_->graph_.tips([this](const vertex_id& id) { return impl_->strongly(id); });
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t engine::open_conflict_sets() const {
  return static_cast<std::size_t>(std::count_if(
      impl_->sets_.begin(), impl_->sets_.end(),
      [](const conflict_set& set) { return !set.decided && set.members.size() > 1; }));
}

std::size_t engine::waiting_count() const { return impl_->waiting_.size(); }

result<void> engine::begin_batch() { return impl_->store_->begin_batch(); }

result<void> engine::commit_batch() { return impl_->store_->commit_batch(); }

std::size_t engine::expire_waiting(timestamp now, timestamp max_wait) {
  std::vector<vertex_id> expired;
  for (const auto& [id, waiting] : impl_->waiting_) {
    if (now - waiting.since > max_wait) {
      expired.push_back(id);
    }
  }
  for (const auto& id : expired) {
    impl_->waiting_.erase(id);
  }
  // Parents that no waiting vertex needs any more are not fetched again.
  for (auto it = impl_->waiters_.begin(); it != impl_->waiters_.end();) {
    std::erase_if(it->second, [this](const vertex_id& child) {
      return !impl_->waiting_.contains(child);
    });
    it = it->second.empty() ? impl_->waiters_.erase(it) : std::next(it);
  }
  impl_->stats_.waiting_expired += expired.size();
  return expired.size();
}

}  // namespace mesh::consensus
