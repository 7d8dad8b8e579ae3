#include "mesh/consensus/engine.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "mesh/crypto/hash.hpp"
#include "mesh/dag/graph.hpp"
#include "mesh/telemetry/logging.hpp"

namespace mesh::consensus {

using dag::validation_result;
using dag::vertex_state;

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

// Consensus state of one stored vertex.
struct vertex_record {
  std::string author_id;
  std::uint64_t sequence = 0;
  std::vector<std::size_t> conflict_sets;  // indices into impl::sets_
  vertex_state state = vertex_state::undecided;
  // Polls with a majority for this vertex or a descendant: the Snowball
  // preference strength d(T) that decides the preference of a conflict set.
  std::uint64_t preference_strength = 0;
  // Polls that reached alpha_confidence for this vertex or a descendant.
  std::uint64_t confidence = 0;
  bool chit = false;
  bool in_poll = false;
  // Position in impl::undecided_ while the vertex is undecided.
  std::uint64_t order = 0;
};

// A conflict set: the vertices that share a conflict key, or the vertices of
// one author with one sequence number. Invariant: once `decided`, exactly one
// member is final and `preference` names it.
struct conflict_set {
  std::vector<vertex_id> members;
  vertex_id preference;
  vertex_id last;
  std::uint64_t count = 0;  // consecutive successful polls for `last`
  bool decided = false;
};

struct poll_state {
  std::vector<vertex_id> vertex_ids;
  std::vector<std::string> peers;
  std::vector<bool> replied;
  std::vector<std::size_t> yes_votes;
  poll_quorum quorum;
  timestamp started{0};
};

struct waiting_vertex {
  dag::vertex value;
  std::size_t missing = 0;
  timestamp since{0};
};

class engine::impl {
 public:
  impl(engine_config config, dag::suite_registry suites, std::unique_ptr<dag::vertex_store> store,
       std::uint64_t seed)
      : config_(std::move(config)),
        suites_(std::move(suites)),
        store_(std::move(store)),
        rng_(seed),
        log_(telemetry::logger("consensus")) {}

  engine_config config_;
  dag::suite_registry suites_;
  std::unique_ptr<dag::vertex_store> store_;
  std::mt19937_64 rng_;
  std::shared_ptr<spdlog::logger> log_;

  dag::graph graph_;
  std::unordered_map<vertex_id, vertex_record> records_;
  std::vector<conflict_set> sets_;
  std::unordered_map<std::string, std::size_t> set_index_;
  // Undecided vertices by insertion order; a vertex leaves when it is decided.
  std::map<std::uint64_t, vertex_id> undecided_;
  std::uint64_t next_order_ = 0;
  std::size_t undecided_count_ = 0;

  std::unordered_map<vertex_id, waiting_vertex> waiting_;
  std::unordered_map<vertex_id, std::vector<vertex_id>> waiters_;  // missing parent -> children

  std::vector<std::string> peers_;
  std::map<std::uint64_t, poll_state> polls_;
  std::uint64_t next_poll_id_ = 1;

  std::unordered_map<std::string, std::uint64_t> banned_from_;  // author -> lowest equivocated sequence
  std::vector<equivocation_evidence> evidence_;
  std::vector<event> events_;
  engine_stats stats_;

  // Memo of strongly_preferred(), cleared whenever a preference or state changes.
  mutable std::unordered_map<vertex_id, bool> strong_memo_;

  // --- insertion -----------------------------------------------------------

  add_outcome add(const dag::vertex& v, timestamp now, bool signed_here) {
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

  add_outcome record_outcome(add_outcome outcome) {
    record_outcome_counts(outcome.result);
    return outcome;
  }

  void record_outcome_counts(validation_result result) { stats_.validation.record(result); }

  [[nodiscard]] bool banned_above(const std::string& author_id, std::uint64_t sequence) const {
    auto it = banned_from_.find(author_id);
    return it != banned_from_.end() && sequence > it->second;
  }

  validation_result wait_for_parents(const vertex_id& id, const dag::vertex& v,
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

  // Inserts the vertices that waited for `id`, and recursively those that
  // waited for them. Their outcomes are counted in the stats only.
  void insert_waiting_children(const vertex_id& id) {
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

  static std::string key_set_name(const std::string& conflict_key) { return "k" + conflict_key; }

  static std::string sequence_set_name(const std::string& author_id, std::uint64_t sequence) {
    return "s" + author_id + ":" + std::to_string(sequence);
  }

  // Stores a verified vertex whose parents are all present and enters it
  // into its conflict sets. Returns accepted, equivocation or store_failed.
  validation_result insert(const vertex_id& id, const dag::vertex& v) {
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
    (void)graph_.insert(id, v.parents);

    auto& record = records_[id];
    record.author_id = v.author_id;
    record.sequence = v.sequence;
    record.state = initial;
    record.conflict_sets.push_back(join_set(sequence_set, id));
    if (!v.conflict_key.empty()) {
      record.conflict_sets.push_back(join_set(key_set_name(v.conflict_key), id));
    }
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

  // A vertex starts rejected when a parent is rejected or one of its
  // conflict sets already has a final member; otherwise undecided.
  [[nodiscard]] vertex_state initial_state(const dag::vertex& v,
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

  std::size_t join_set(const std::string& name, const vertex_id& id) {
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

  void record_equivocation(const vertex_id& id, const dag::vertex& v, const vertex_id& first_id) {
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

  // --- restart -------------------------------------------------------------

  // Rebuilds the DAG, the conflict sets with their decided winners, the bans
  // and the equivocation evidence from the store. The store walk runs in
  // insertion order, so every parent is restored before its children.
  // Undecided vertices restart with no confidence and are polled again; the
  // counters in stats() cover only this engine's lifetime.
  result<void> restore() {
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

  void restore_vertex(const vertex_id& id, const dag::vertex& v, vertex_state state) {
    const auto sequence_set = sequence_set_name(v.author_id, v.sequence);
    const auto sequence_it = set_index_.find(sequence_set);
    const bool equivocates =
        sequence_it != set_index_.end() && !sets_[sequence_it->second].members.empty();
    (void)graph_.insert(id, v.parents);

    auto& record = records_[id];
    record.author_id = v.author_id;
    record.sequence = v.sequence;
    record.state = state;
    record.conflict_sets.push_back(join_set(sequence_set, id));
    if (!v.conflict_key.empty()) {
      record.conflict_sets.push_back(join_set(key_set_name(v.conflict_key), id));
    }

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

  // Same bookkeeping as record_equivocation, without an event: the event was
  // reported before the restart.
  void restore_equivocation(const dag::vertex& v, const vertex_id& first_id) {
    if (auto first = store_->get(first_id)) {
      evidence_.push_back(equivocation_evidence{v.author_id, v.sequence, std::move(*first), v});
    }
    auto [ban, inserted] = banned_from_.try_emplace(v.author_id, v.sequence);
    if (!inserted) {
      ban->second = std::min(ban->second, v.sequence);
    }
  }

  // Rejects the undecided vertices that a consistent store cannot contain: those
  // with a rejected parent or in a conflict set that has a final member. They
  // appear when a rejected state failed to reach the store before a restart.
  // Returns how many vertices were rejected, descendants included.
  std::size_t reject_contradicted() {
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

  // --- preference ----------------------------------------------------------

  [[nodiscard]] bool preferred(const vertex_id& id, const vertex_record& record) const {
    return std::all_of(record.conflict_sets.begin(), record.conflict_sets.end(),
                       [&](std::size_t set) { return sets_[set].preference == id; });
  }

  [[nodiscard]] bool strongly(const vertex_id& id) const {
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

  // --- polls ---------------------------------------------------------------

  std::vector<poll_request> next_polls(timestamp now) {
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

  // Takes up to max_vertices_per_poll undecided vertices that no outstanding
  // poll covers and marks them as polled: half of them newest first, because
  // a chit for a new vertex also counts for its undecided ancestors, and the
  // rest oldest first, so that a vertex without descendants is polled too.
  std::vector<vertex_id> next_batch() {
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

  // With no voting peer, this node's own preference is a unanimous poll.
  void decide_alone(timestamp now) {
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

  void expire_polls(timestamp now) {
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

  void time_out(std::uint64_t poll_id) {
    auto it = polls_.find(poll_id);
    if (it == polls_.end()) {
      return;
    }
    auto poll = std::move(it->second);
    polls_.erase(it);
    ++stats_.polls_timed_out;
    finish(poll);
  }

  void votes(std::uint64_t poll_id, const std::string& from_peer, const std::vector<bool>& votes) {
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

  // Applies the outcome of one poll. Each undecided vertex gains at most one
  // preference vote and one chit per poll, however many of its descendants
  // the poll carried, so confidence counts samples, not vertices.
  void finish(const poll_state& poll) {
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

  void collect_undecided_ancestors(const vertex_id& id, std::unordered_set<vertex_id>& out) const {
    graph_.walk_ancestors(id, [&](const vertex_id& ancestor) {
      if (records_.at(ancestor).state != vertex_state::undecided) {
        return false;
      }
      return out.insert(ancestor).second;
    });
  }

  // Snowball preference: a set prefers the member with the highest d(T);
  // ties keep the current preference.
  void update_preferences(const std::unordered_set<vertex_id>& supported) {
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

  // Confidence and the consecutive-success counters. A set in which two
  // members reached the quorum in one poll (possible only with Byzantine
  // votes) gets its counter reset instead.
  void update_counters(const std::unordered_set<vertex_id>& supported) {
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

  // --- finality ------------------------------------------------------------

  [[nodiscard]] bool acceptable(const vertex_id& id) const {
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

  // Finalizes every acceptable vertex among `candidates` and, as parents
  // become final, among their descendants, parents first.
  void finalize_from(const std::unordered_set<vertex_id>& candidates) {
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

  // Marks `id` final after the store has recorded it, then rejects the other
  // members of its conflict sets. Returns false when the store write failed.
  bool finalize(const vertex_id& id) {
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

  // Rejects `id` and every undecided descendant, since none of them can be
  // final once an ancestor is rejected.
  void reject(const vertex_id& id) {
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

  // Moves the preference of a set off a rejected member, to the undecided
  // member with the highest preference strength.
  void repair_preference(conflict_set& set) {
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
};

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
