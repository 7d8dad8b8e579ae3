#pragma once
// Private state of the DAG actor, shared by its files: dag_actor.cpp (the
// behavior, the tick loop and local submissions), dag_commit.cpp (store
// commits and what waits for them) and dag_sync.cpp (messages from peers and
// fetching the vertices this node lacks). Not installed.

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "mesh/actors/dag_actor.hpp"
#include "mesh/actors/messages.hpp"
#include "mesh/actors/status_board.hpp"
#include "mesh/consensus/engine.hpp"
#include "mesh/consensus/metrics.hpp"
#include "mesh/crypto/hash.hpp"
#include "mesh/crypto/identity.hpp"
#include "mesh/dag/file_syncer.hpp"
#include "mesh/telemetry/logging.hpp"
#include "mesh/telemetry/metrics.hpp"
#include "mesh/wire/transport.hpp"

namespace mesh::actors::dag_detail {

using flush_atom = caf::atom_constant<caf::atom("flush")>;
using synced_atom = caf::atom_constant<caf::atom("synced")>;
using steady = std::chrono::steady_clock;

inline constexpr std::size_t latency_window = 2048;
// Gauges and counters follow the engine at most this often.
inline constexpr auto metrics_period = std::chrono::milliseconds(250);
inline constexpr std::size_t max_vertices_per_reply = 1024;
inline constexpr std::size_t max_reply_bytes = 2 * 1024 * 1024;

// A vertex this node lacks: a parent of a waiting vertex, or an id a peer
// polled or announced as a tip.
struct absent_vertex {
  std::string source;  // the peer that named it, asked first
  steady::time_point since{};
  steady::time_point last_request{};
  std::uint32_t attempts = 0;
};

// What a flush produced, held until the commits it depends on are durable.
struct unreleased_batch {
  std::uint64_t commit = 0;
  std::vector<mesh::v1::Vertex> gossip;
  std::vector<std::pair<caf::response_promise, dag_submit_reply>> replies;
  std::vector<consensus::event> events;
};

struct dag_state {
  dag_actor_config config;
  std::shared_ptr<consensus::engine> machine;
  wire::transport* transport = nullptr;
  std::shared_ptr<spdlog::logger> log = telemetry::logger("dag");
  std::mt19937_64 rng;

  // Members from the status board: voters are polled, everyone gets gossip.
  std::shared_ptr<const board_snapshot> seen_board;
  std::unordered_map<std::string, std::string> address_of;  // node id -> p2p address
  std::vector<std::string> member_ids;                       // alive members except self

  std::uint64_t next_sequence = 0;
  bool batch_open = false;
  bool flush_scheduled = false;
  steady::time_point last_sync{};
  steady::time_point last_metrics{};
  // Generation of the pending tick message. Only that message runs, so a
  // wake-up replaces a pending idle tick by starting a new generation.
  std::uint64_t tick_generation = 0;
  bool idle_tick_pending = false;

  // Sent after the next commit: this node's new vertices and their replies.
  std::vector<mesh::v1::Vertex> own_outbox;
  std::vector<std::pair<caf::response_promise, dag_submit_reply>> submit_replies;

  std::unordered_map<dag::vertex_id, steady::time_point> submitted_at;
  std::deque<double> latencies_ms;
  std::unordered_map<dag::vertex_id, std::vector<caf::response_promise>> awaiting;
  std::vector<caf::actor> subscribers;
  std::unordered_map<dag::vertex_id, absent_vertex> absent;

  // Commits so far, and how many of them the syncer made durable.
  std::uint64_t commits = 0;
  std::uint64_t synced = 0;
  std::deque<unreleased_batch> unreleased;
  // Declared after the engine, so its thread stops before the store closes.
  std::unique_ptr<dag::file_syncer> syncer;

  telemetry::rate_limiter send_errors{5, std::chrono::seconds(10)};
  telemetry::rate_limiter store_errors{5, std::chrono::seconds(10)};

  [[nodiscard]] static dag::timestamp now() {
    return std::chrono::duration_cast<dag::timestamp>(
        std::chrono::system_clock::now().time_since_epoch());
  }
};

using dag_actor = caf::stateful_actor<dag_state>;

inline std::string hex(const dag::vertex_id& id) { return crypto::to_hex(id); }

// Parses a 64-character hex vertex id; nullopt for anything else.
inline std::optional<dag::vertex_id> parse_id(const std::string& text) {
  if (text.size() != 2 * dag::vertex_id_size) {
    return std::nullopt;
  }
  auto raw = crypto::from_hex(text);
  if (!raw) {
    return std::nullopt;
  }
  return std::move(*raw);
}

// Peers (dag_sync.cpp).
void send_to(dag_actor* self, const std::string& node_id, const mesh::v1::DagMessage& message);
void refresh_members(dag_actor* self);
void note_absent(dag_actor* self, const std::string& source, const std::vector<dag::vertex_id>& ids);
void request_absent(dag_actor* self);
void send_tips(dag_actor* self, const std::string& to, bool reply_requested);
void handle_inbound(dag_actor* self, inbound_dag& inbound);

// Commits (dag_commit.cpp).
void open_batch(dag_actor* self);
[[nodiscard]] dag_vertex_view make_view(const dag_state& st, const dag::vertex_id& id);
void publish_metrics(dag_actor* self);
void release_through(dag_actor* self, std::uint64_t commit);
void flush(dag_actor* self);

// The poll loop (dag_actor.cpp).
void start_polls(dag_actor* self, dag::timestamp now);

}  // namespace mesh::actors::dag_detail
