#pragma once
// The consensus engine's private state, shared by its files: engine.cpp
// (configuration checks and the public wrapper), engine_insert.cpp (checking
// and inserting vertices), engine_restore.cpp (rebuilding the state from the
// store at start) and engine_voting.cpp (polls, preferences and finality).

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "mesh/consensus/engine.hpp"
#include "mesh/crypto/hash.hpp"
#include "mesh/dag/graph.hpp"
#include "mesh/telemetry/logging.hpp"

namespace mesh::consensus {

using dag::validation_result;
using dag::vertex_state;

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

  add_outcome add(const dag::vertex& v, timestamp now, bool signed_here);
  add_outcome record_outcome(add_outcome outcome);
  void record_outcome_counts(validation_result result) { stats_.validation.record(result); }

  [[nodiscard]] bool banned_above(const std::string& author_id, std::uint64_t sequence) const;
  validation_result wait_for_parents(const vertex_id& id, const dag::vertex& v,
                                     const std::vector<vertex_id>& missing, timestamp now);

  // Inserts the vertices that waited for `id`, and recursively those that
  // waited for them. Their outcomes are counted in the stats only.
  void insert_waiting_children(const vertex_id& id);

  static std::string key_set_name(const std::string& conflict_key) { return "k" + conflict_key; }
  static std::string sequence_set_name(const std::string& author_id, std::uint64_t sequence);

  // Stores a verified vertex whose parents are all present and enters it
  // into its conflict sets. Returns accepted, equivocation or store_failed.
  validation_result insert(const vertex_id& id, const dag::vertex& v);

  // A vertex starts rejected when a parent is rejected or one of its
  // conflict sets already has a final member; otherwise undecided.
  [[nodiscard]] vertex_state initial_state(const dag::vertex& v,
                                           const std::string& sequence_set) const;

  // Adds `id` to the graph and records it in `state`, as a member of its
  // sequence set and, when it has a conflict key, of that key's set.
  vertex_record& enter(const vertex_id& id, const dag::vertex& v, vertex_state state,
                       const std::string& sequence_set);
  std::size_t join_set(const std::string& name, const vertex_id& id);
  void record_equivocation(const vertex_id& id, const dag::vertex& v, const vertex_id& first_id);

  // --- restart -------------------------------------------------------------

  // Rebuilds the DAG, the conflict sets with their decided winners, the bans
  // and the equivocation evidence from the store. The store walk runs in
  // insertion order, so every parent is restored before its children.
  // Undecided vertices restart with no confidence and are polled again; the
  // counters in stats() cover only this engine's lifetime.
  result<void> restore();
  void restore_vertex(const vertex_id& id, const dag::vertex& v, vertex_state state);

  // Same bookkeeping as record_equivocation, without an event: the event was
  // reported before the restart.
  void restore_equivocation(const dag::vertex& v, const vertex_id& first_id);

  // Rejects the undecided vertices that a consistent store cannot contain: those
  // with a rejected parent or in a conflict set that has a final member. They
  // appear when a rejected state failed to reach the store before a restart.
  // Returns how many vertices were rejected, descendants included.
  std::size_t reject_contradicted();

  // --- preference ----------------------------------------------------------

  [[nodiscard]] bool preferred(const vertex_id& id, const vertex_record& record) const;
  [[nodiscard]] bool strongly(const vertex_id& id) const;

  // --- polls ---------------------------------------------------------------

  std::vector<poll_request> next_polls(timestamp now);

  // Takes up to max_vertices_per_poll undecided vertices that no outstanding
  // poll covers and marks them as polled. Half of them come newest first,
  // because a chit for a new vertex also counts for its undecided ancestors.
  // The rest come oldest first, so that a vertex without descendants is
  // polled too.
  std::vector<vertex_id> next_batch();

  // With no voting peer, this node's own preference is a unanimous poll.
  void decide_alone(timestamp now);

  void expire_polls(timestamp now);
  void time_out(std::uint64_t poll_id);
  void votes(std::uint64_t poll_id, const std::string& from_peer, const std::vector<bool>& votes);

  // Applies the outcome of one poll. Each undecided vertex gains at most one
  // preference vote and one chit per poll, however many of its descendants
  // the poll carried, so confidence counts samples, not vertices.
  void finish(const poll_state& poll);

  void collect_undecided_ancestors(const vertex_id& id, std::unordered_set<vertex_id>& out) const;

  // Snowball preference: a set prefers the member with the highest d(T);
  // ties keep the current preference.
  void update_preferences(const std::unordered_set<vertex_id>& supported);

  // Confidence and the consecutive-success counters. A set in which two
  // members reached the quorum in one poll (possible only with Byzantine
  // votes) gets its counter reset instead.
  void update_counters(const std::unordered_set<vertex_id>& supported);

  // --- finality ------------------------------------------------------------

  [[nodiscard]] bool acceptable(const vertex_id& id) const;

  // Finalizes every acceptable vertex among `candidates` and, as parents
  // become final, among their descendants, parents first.
  void finalize_from(const std::unordered_set<vertex_id>& candidates);

  // Marks `id` final after the store has recorded it, then rejects the other
  // members of its conflict sets. Returns false when the store write failed.
  bool finalize(const vertex_id& id);

  // Rejects `id` and every undecided descendant, since none of them can be
  // final once an ancestor is rejected.
  void reject(const vertex_id& id);

  // Moves the preference of a set off a rejected member, to the undecided
  // member with the highest preference strength.
  void repair_preference(conflict_set& set);
};

}  // namespace mesh::consensus
