#pragma once
// The QuDAG consensus engine: validates and stores vertices, keeps the DAG,
// and runs Avalanche (Snowball per conflict set over a DAG of vertices) to
// decide which vertices become final and which are rejected. It owns no
// thread, clock, socket or global random source: the caller passes the time
// into every call, sends the polls that next_polls() returns, delivers the
// replies with on_votes(), answers peers' polls with on_poll() and drains
// take_events(). docs/qudag.md describes the protocol and this API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "mesh/consensus/params.hpp"
#include "mesh/dag/signature_suite.hpp"
#include "mesh/dag/store.hpp"
#include "mesh/dag/validation.hpp"
#include "mesh/dag/vertex.hpp"
#include "mesh/error.hpp"

namespace mesh::consensus {

using dag::timestamp;
using dag::vertex_id;

struct engine_config {
  // Node id of this node; excluded from the voting peers it polls.
  std::string self_id;
  avalanche_params avalanche;
  dag::vertex_limits limits;
  // Parents that select_parents() picks for a new vertex, at most limits.max_parents.
  std::size_t parents_per_vertex = 3;
  // Vertex ids in one poll request.
  std::size_t max_vertices_per_poll = 64;
  // Polls waiting for replies at one time.
  std::size_t max_outstanding_polls = 4;
  // A poll without all replies after this long counts the missing votes as "no".
  timestamp poll_timeout{2000};
  // Verified vertices kept while their parents are fetched.
  std::size_t max_waiting_vertices = 4096;
};

// Fails with invalid_config naming the field when a value is out of range.
[[nodiscard]] result<void> validate(const engine_config& config);

// One message to send: ask `peer_id` whether it strongly prefers each vertex.
struct poll_request {
  std::uint64_t poll_id = 0;
  std::string peer_id;
  std::vector<vertex_id> vertex_ids;
};

enum class event_kind : std::uint8_t {
  vertex_final,
  vertex_rejected,
  equivocation_detected,
};

struct event {
  event_kind kind = event_kind::vertex_final;
  vertex_id id;
  // equivocation_detected: the vertex stored first with the same author and
  // sequence number. Empty for the other kinds.
  vertex_id conflicting_id;
  std::string author_id;
  std::uint64_t sequence = 0;
};

// Two signed vertices from one author with one sequence number.
struct equivocation_evidence {
  std::string author_id;
  std::uint64_t sequence = 0;
  dag::vertex first;
  dag::vertex second;
};

struct add_outcome {
  dag::validation_result result = dag::validation_result::malformed;
  // Empty when the format checks failed.
  vertex_id id;
  // For missing_parents: the parent ids the caller must fetch.
  std::vector<vertex_id> missing_parents;
};

struct engine_stats {
  dag::validation_stats validation;
  std::uint64_t polls_started = 0;
  std::uint64_t polls_completed = 0;   // every sampled peer replied
  std::uint64_t polls_timed_out = 0;   // finished with votes missing
  std::uint64_t votes_received = 0;
  std::uint64_t votes_ignored = 0;     // unknown poll, peer not sampled, repeated or wrong length
  std::uint64_t chits = 0;             // vertex polls that reached alpha
  std::uint64_t vertices_final = 0;
  std::uint64_t vertices_rejected = 0;
  std::uint64_t equivocations = 0;
  std::uint64_t waiting_expired = 0;   // dropped by expire_waiting(): ancestry never arrived
};

// Pure Avalanche state machine. Not thread-safe; one owner (an actor) calls
// every method. Owns its vertex store and its random source for peer
// sampling, which is seeded at construction.
class engine {
 public:
  // Fails with invalid_config when `config` does not validate or `store` is null.
  // A store that already contains vertices is restored: the DAG, tips, conflict
  // sets with their final winners, bans and equivocation evidence are rebuilt,
  // final and rejected vertices keep their state, and undecided ones are
  // polled again from zero confidence. An undecided vertex with a rejected
  // parent or a decided conflict set is rejected then (a vertex_rejected
  // event). Fails with decode_error when a stored vertex precedes its parent
  // in insertion order and with io_error when the store cannot be read.
  [[nodiscard]] static result<engine> create(engine_config config, dag::suite_registry suites,
                                             std::unique_ptr<dag::vertex_store> store,
                                             std::uint64_t seed);

  ~engine();
  engine(engine&&) noexcept;
  engine& operator=(engine&&) noexcept;
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // Replaces the voting peers that polls sample from; self and repeats are
  // dropped. With no peer left the node decides alone (each next_polls()
  // counts its own preference as a unanimous poll).
  void set_voting_peers(std::vector<std::string> peer_ids);

  // Validates `v`, stores it and starts consensus on it. A vertex with
  // missing parents waits until add_vertex() delivers them; the waiting
  // vertex is then inserted without another call.
  [[nodiscard]] add_outcome add_vertex(const dag::vertex& v, timestamp now);

  // Same as add_vertex for a vertex that this node has just signed with its
  // own identity: the signature check is skipped. A vertex with another
  // author gets every check.
  [[nodiscard]] add_outcome add_own_vertex(const dag::vertex& v, timestamp now);

  // Picks up to parents_per_vertex parents for a new vertex among the tips
  // of the strongly preferred part of the DAG, weighted by confidence + 1.
  // Never picks a rejected vertex. Empty for an empty DAG.
  [[nodiscard]] std::vector<vertex_id> select_parents(std::mt19937_64& rng) const;

  // Finishes polls older than poll_timeout, then starts polls for undecided
  // vertices that are in no outstanding poll. Returns the requests to send.
  [[nodiscard]] std::vector<poll_request> next_polls(timestamp now);

  // Answers a peer's poll: element i is true when this node strongly prefers
  // vertex_ids[i]. Unknown vertices get false; the caller may fetch them.
  [[nodiscard]] std::vector<bool> on_poll(const std::string& from_peer,
                                          const std::vector<vertex_id>& vertex_ids) const;

  // Records the reply of `from_peer` to poll `poll_id`; votes[i] answers the
  // poll's i-th vertex. Ignores and counts replies that do not fit the poll.
  void on_votes(std::uint64_t poll_id, const std::string& from_peer, const std::vector<bool>& votes,
                timestamp now);

  // Finishes poll `poll_id` now, counting missing votes as "no".
  void on_poll_timeout(std::uint64_t poll_id, timestamp now);

  [[nodiscard]] std::vector<event> take_events();

  // State of a stored vertex; nullopt when it is unknown or still waiting for parents.
  [[nodiscard]] std::optional<dag::vertex_state> state(const vertex_id& id) const;

  // Successful polls that counted for this vertex (on it or a descendant); 0 when unknown.
  [[nodiscard]] std::uint64_t confidence(const vertex_id& id) const;

  // True when the vertex and every undecided ancestor is the preference of
  // each of its conflict sets; final vertices count as preferred.
  [[nodiscard]] bool strongly_preferred(const vertex_id& id) const;

  // The preferred vertex of the conflict set of `conflict_key`, if the key is known.
  [[nodiscard]] std::optional<vertex_id> preference(const std::string& conflict_key) const;

  // Parents that waiting vertices need and nobody has delivered yet.
  [[nodiscard]] std::vector<vertex_id> missing_vertices() const;

  [[nodiscard]] std::vector<equivocation_evidence> equivocations() const;

  // True when `author_id` equivocated; its vertices above the lowest
  // equivocated sequence number are rejected.
  [[nodiscard]] bool is_banned(const std::string& author_id) const;

  [[nodiscard]] std::size_t undecided_count() const;
  [[nodiscard]] std::size_t outstanding_polls() const;
  [[nodiscard]] poll_quorum current_quorum() const;
  [[nodiscard]] const dag::vertex_store& store() const;
  [[nodiscard]] const engine_stats& stats() const;

  // Tips of the strongly preferred part of the DAG, in ascending id order.
  [[nodiscard]] std::vector<vertex_id> tips() const;

  // Conflict sets with more than one member and no final vertex yet.
  [[nodiscard]] std::size_t open_conflict_sets() const;

  // Vertices waiting for parents.
  [[nodiscard]] std::size_t waiting_count() const;

  // Group commit: store writes between the two calls form one transaction.
  // The owner reports final vertices only after commit_batch() succeeded.
  [[nodiscard]] result<void> begin_batch();
  [[nodiscard]] result<void> commit_batch();

  // Drops the vertices that have waited for their parents longer than
  // `max_wait`; counted in stats().waiting_expired. Returns how many.
  std::size_t expire_waiting(timestamp now, timestamp max_wait);

 private:
  class impl;
  explicit engine(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

}  // namespace mesh::consensus
