#pragma once
// The DAG actor owns the node's QuDAG consensus engine and its SQLite vertex
// store. It validates, stores and gossips vertices, fetches missing parents,
// runs Avalanche polls against the voting members on the status board, and
// replies to local requests from the HTTP routes and other actors.
//
// Requests (all replies are sent to the requester):
//   (submit_vertex)            -> dag_submit_reply
//   (vertex_atom, id_hex)      -> dag_vertex_view        (found=false when unknown)
//   (await_final_atom, id_hex) -> dag_vertex_view        once final or rejected
//   (tips_atom)                -> dag_tips
//   (status_atom)              -> dag_status
//   (list_atom, dag_page_query)-> dag_page
//   (subscribe_atom, caf::actor listener): the listener then receives one
//       dag_vertex_decided for every vertex that becomes final or rejected.

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/dag/store.hpp"
#include "mesh/dag/vertex.hpp"
#include "mesh/v1/dag.pb.h"

namespace mesh::consensus {
class engine;
struct dag_metrics;
}
namespace mesh::crypto {
class identity;
}
namespace mesh::telemetry {
class actor_metrics;
}
namespace mesh::wire {
class transport;
}

namespace mesh::actors {

class status_board;

using vertex_atom = caf::atom_constant<caf::atom("vertex")>;
using await_final_atom = caf::atom_constant<caf::atom("awaitfin")>;
using tips_atom = caf::atom_constant<caf::atom("tips")>;
using status_atom = caf::atom_constant<caf::atom("dagstatus")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;

// A new vertex authored by this node.
struct submit_vertex {
  std::string payload;
  std::string content_type;
  std::string conflict_key;  // empty: no conflict set
};

struct dag_submit_reply {
  bool ok = false;
  std::string id_hex;
  // When !ok: "invalid_argument", "unavailable" or "io_error", and why.
  std::string error_code;
  std::string message;
};

struct dag_vertex_view {
  bool found = false;
  std::string id_hex;
  dag::vertex vertex;
  dag::vertex_state state = dag::vertex_state::undecided;
  std::uint64_t confidence = 0;
};

struct dag_tips {
  std::vector<std::string> id_hex;
};

struct dag_status {
  std::uint64_t undecided = 0;
  std::uint64_t final = 0;
  std::uint64_t rejected = 0;
  std::uint64_t waiting_for_parents = 0;
  std::uint64_t voting_peers = 0;
  std::uint64_t outstanding_polls = 0;
  std::uint64_t equivocations = 0;
  // Finality latency of the most recent vertices this node authored, in
  // milliseconds.
  double latency_p50_ms = 0;
  double latency_p99_ms = 0;
  std::uint64_t latency_samples = 0;
};

struct dag_page_query {
  dag::vertex_state state = dag::vertex_state::final;
  // Position after which the page starts; 0 for the first page.
  std::uint64_t after = 0;
  std::uint32_t limit = 100;
};

struct dag_page {
  std::vector<dag_vertex_view> vertices;
  // Pass as `after` to get the next page; 0 when there is no more.
  std::uint64_t next = 0;
};

// Sent to subscribers when a vertex becomes final or rejected.
struct dag_vertex_decided {
  std::string id_hex;
  dag::vertex vertex;
  dag::vertex_state state = dag::vertex_state::final;
};

// A DAG message that the wire thread decoded.
struct inbound_dag {
  std::string from_id;
  std::string from_address;
  mesh::v1::DagMessage message;
};

// Hands the started transport to the actor. Until then it keeps every other
// message in its mailbox.
struct start_dag {
  wire::transport* transport = nullptr;
};

struct dag_actor_config {
  // The engine over the node's vertex store, already reloaded from it.
  std::shared_ptr<consensus::engine> engine;
  // The store's write-ahead log when it was opened with sync_mode::by_caller:
  // the actor syncs it on a thread of its own and holds back what depends on
  // a commit until then. Empty when every commit syncs by itself.
  std::filesystem::path wal_file;
  // Interval of the poll loop while vertices are undecided or missing.
  std::chrono::milliseconds poll_interval{2};
  // Interval of the poll loop when there is nothing to decide. New work
  // (a vertex, a submission) ends an idle wait at once. Every tick wakes two
  // threads (CAF's clock and a worker), so 50 ms made the DAG actor the
  // busiest actor of an idle node: 20 ticks per second out of about 40
  // actor messages.
  std::chrono::milliseconds idle_interval{250};
  // Every interval the node sends its tips to one random member, which
  // fetches what it lacks. After a restart this is how a node catches up.
  std::chrono::milliseconds sync_interval{1000};
  // A vertex this node lacks is requested after fetch_delay (it is usually
  // on its way already), then again every fetch_retry, at most
  // max_fetch_attempts times. A vertex whose ancestry is still missing after
  // max_waiting is dropped and counted.
  std::chrono::milliseconds fetch_delay{25};
  std::chrono::milliseconds fetch_retry{300};
  std::uint32_t max_fetch_attempts = 20;
  std::chrono::milliseconds max_waiting{30000};
  // Maximum ancestors sent along with each vertex in a fetch reply, when the
  // request includes max_ancestors.
  std::size_t fetch_ancestors = 256;
  std::uint64_t seed = 0;
  // Not owned; each must outlive the actor.
  const crypto::identity* identity = nullptr;
  status_board* board = nullptr;
  consensus::dag_metrics* metrics = nullptr;
  telemetry::actor_metrics* actor_metrics = nullptr;
};

[[nodiscard]] caf::actor spawn_dag_actor(caf::actor_system& system, dag_actor_config config);

}  // namespace mesh::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::submit_vertex)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_submit_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_vertex_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_tips)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_page_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::dag_vertex_decided)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::inbound_dag)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(mesh::actors::start_dag)
