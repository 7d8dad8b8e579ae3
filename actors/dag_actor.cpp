// The DAG actor: feeds the consensus engine with local submissions, peers'
// vertices, polls and votes, runs the poll loop, commits the store in groups
// and reports decisions only after the commit. See dag_actor.hpp.
#include "mesh/actors/dag_actor.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <map>
#include <random>
#include <unordered_map>
#include <unordered_set>

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

namespace mesh::actors {

namespace {

using namespace std::chrono_literals;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using synced_atom = caf::atom_constant<caf::atom("synced")>;
using steady = std::chrono::steady_clock;

constexpr std::size_t latency_window = 2048;
// Gauges and counters follow the engine at most this often.
constexpr auto metrics_period = 250ms;
constexpr std::size_t max_vertices_per_reply = 1024;
constexpr std::size_t max_reply_bytes = 2 * 1024 * 1024;

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

std::string hex(const dag::vertex_id& id) { return crypto::to_hex(id); }

// Parses a 64-character hex vertex id; nullopt for anything else.
std::optional<dag::vertex_id> parse_id(const std::string& text) {
  if (text.size() != 2 * dag::vertex_id_size) {
    return std::nullopt;
  }
  auto raw = crypto::from_hex(text);
  if (!raw) {
    return std::nullopt;
  }
  return std::move(*raw);
}

void send_to(dag_actor* self, const std::string& node_id, const mesh::v1::DagMessage& message) {
  auto& st = self->state;
  auto address = st.address_of.find(node_id);
  if (address == st.address_of.end() || st.transport == nullptr) {
    return;
  }
  auto sent = st.transport->send(address->second, mesh::v1::MESSAGE_KIND_DAG,
                                 message.SerializeAsString());
  std::uint64_t suppressed = 0;
  if (!sent && st.send_errors.allow(suppressed)) {
    st.log->debug("send failed peer={} error={} suppressed={}", node_id, sent.err().message,
                  suppressed);
  }
}

// Rebuilds the member maps when the status board changed.
void refresh_members(dag_actor* self) {
  auto& st = self->state;
  if (st.config.board == nullptr) {
    return;
  }
  auto snapshot = st.config.board->snapshot();
  if (snapshot == st.seen_board) {
    return;
  }
  st.seen_board = snapshot;
  st.address_of.clear();
  st.member_ids.clear();
  std::vector<std::string> voters;
  const auto& self_id = st.config.identity->node_id();
  for (const auto& m : snapshot->members) {
    if (m.info.node_id == self_id || (m.state != membership::member_state::alive &&
                                      m.state != membership::member_state::suspect)) {
      continue;
    }
    st.address_of[m.info.node_id] = m.info.address;
    st.member_ids.push_back(m.info.node_id);
    // A suspect voter would time out polls until it is declared dead, so
    // only alive members are polled.
    if (m.info.role != membership::node_role::agent && m.state == membership::member_state::alive) {
      voters.push_back(m.info.node_id);
    }
  }
  st.machine->set_voting_peers(std::move(voters));
}

void open_batch(dag_actor* self) {
  auto& st = self->state;
  if (!st.batch_open) {
    if (auto begun = st.machine->begin_batch(); !begun) {
      std::uint64_t suppressed = 0;
      if (st.store_errors.allow(suppressed)) {
        st.log->error("vertex store transaction failed to begin error={} suppressed={}",
                      begun.err().message, suppressed);
      }
    } else {
      st.batch_open = true;
    }
  }
  if (!st.flush_scheduled) {
    // Sent to the end of the mailbox: every message already waiting joins
    // this transaction, so one commit covers a burst.
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

dag_vertex_view make_view(const dag_state& st, const dag::vertex_id& id) {
  dag_vertex_view view;
  auto state = st.machine->state(id);
  if (!state) {
    return view;
  }
  auto stored = st.machine->store().get(id);
  if (!stored) {
    return view;
  }
  view.found = true;
  view.id_hex = hex(id);
  view.vertex = std::move(*stored);
  view.state = *state;
  view.confidence = st.machine->confidence(id);
  return view;
}

void record_latency(dag_state& st, const dag::vertex_id& id) {
  auto submitted = st.submitted_at.find(id);
  if (submitted == st.submitted_at.end()) {
    return;
  }
  const auto latency = steady::now() - submitted->second;
  st.submitted_at.erase(submitted);
  st.latencies_ms.push_back(std::chrono::duration<double, std::milli>(latency).count());
  if (st.latencies_ms.size() > latency_window) {
    st.latencies_ms.pop_front();
  }
  if (st.config.metrics != nullptr) {
    st.config.metrics->record_finality(latency);
  }
}

// Reports the engine's decisions: awaiting requests, subscribers, metrics.
// Runs only after the store committed them.
void report_events(dag_actor* self, std::vector<consensus::event>& events) {
  auto& st = self->state;
  for (auto& e : events) {
    if (e.kind == consensus::event_kind::equivocation_detected) {
      st.log->warn("equivocation author={} sequence={} first={} second={}", e.author_id,
                   e.sequence, hex(e.conflicting_id), hex(e.id));
      continue;
    }
    if (e.kind == consensus::event_kind::vertex_final) {
      record_latency(st, e.id);
    } else {
      st.submitted_at.erase(e.id);
    }
    auto waiting = st.awaiting.find(e.id);
    if (waiting == st.awaiting.end() && st.subscribers.empty()) {
      continue;  // nobody to tell, so the store is not read
    }
    auto view = make_view(st, e.id);
    if (waiting != st.awaiting.end()) {
      for (auto& promise : waiting->second) {
        promise.deliver(view);
      }
      st.awaiting.erase(waiting);
    }
    for (const auto& listener : st.subscribers) {
      self->send(listener, dag_vertex_decided{view.id_hex, view.vertex, view.state});
    }
  }
}

void publish_metrics(dag_actor* self) {
  auto& st = self->state;
  if (st.config.metrics == nullptr || steady::now() - st.last_metrics < metrics_period) {
    return;
  }
  st.last_metrics = steady::now();
  const auto& store = st.machine->store();
  st.config.metrics->observe(*st.machine, store.count(dag::vertex_state::undecided),
                             store.count(dag::vertex_state::final),
                             store.count(dag::vertex_state::rejected));
}

// Sends the gossip, delivers the replies and reports the decisions that
// depended on commits up to `commit`, now that they are durable.
void release_through(dag_actor* self, std::uint64_t commit) {
  auto& st = self->state;
  while (!st.unreleased.empty() && st.unreleased.front().commit <= commit) {
    auto batch = std::move(st.unreleased.front());
    st.unreleased.pop_front();
    if (!batch.gossip.empty()) {
      mesh::v1::DagMessage gossip;
      for (auto& v : batch.gossip) {
        *gossip.mutable_vertices()->add_vertices() = std::move(v);
      }
      for (const auto& member : st.member_ids) {
        send_to(self, member, gossip);
      }
    }
    for (auto& [promise, reply] : batch.replies) {
      promise.deliver(std::move(reply));
    }
    report_events(self, batch.events);
  }
}

// Commits the open transaction. What depends on it (this node's new
// vertices, the replies to their submitters, decisions) waits until the
// commit is durable: at once in sync_mode::on_commit, else when the syncer
// reports the write-ahead log synced.
void flush(dag_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.batch_open) {
    const auto started = steady::now();
    auto committed = st.machine->commit_batch();
    st.batch_open = false;
    if (!committed) {
      // NOTE: the engine's memory already contains the changes of this batch.
      // After a restart the store's older state wins, and the undecided
      // vertices are polled again.
      std::uint64_t suppressed = 0;
      if (st.store_errors.allow(suppressed)) {
        st.log->error("vertex store commit failed error={} suppressed={}",
                      committed.err().message, suppressed);
      }
    } else {
      ++st.commits;
      if (st.config.metrics != nullptr) {
        st.config.metrics->record_commit(steady::now() - started);
      }
    }
  }

  auto events = st.machine->take_events();
  if (!st.own_outbox.empty() || !st.submit_replies.empty() || !events.empty()) {
    st.unreleased.push_back(unreleased_batch{st.commits, std::exchange(st.own_outbox, {}),
                                             std::exchange(st.submit_replies, {}),
                                             std::move(events)});
  }
  if (st.syncer && st.commits > st.synced) {
    st.syncer->request(st.commits);
    return;
  }
  release_through(self, st.commits);
}

// Records vertices this node lacks. They are requested from `source` once
// fetch_delay has passed, since a vertex named by a peer is usually already
// on its way here through the author's gossip.
void note_absent(dag_actor* self, const std::string& source, const std::vector<dag::vertex_id>& ids) {
  auto& st = self->state;
  const auto now = steady::now();
  for (const auto& id : ids) {
    if (!st.machine->store().has(id)) {
      st.absent.try_emplace(id, absent_vertex{source, now, {}, 0});
    }
  }
}

// Requests the absent vertices that are due. The first request goes to the
// peer that named the vertex and requests the vertex alone. Retries go to a
// random member and include ancestors, because a vertex still missing after
// one round trip usually means this node is behind. Drops ids that arrived
// or ran out of attempts.
void request_absent(dag_actor* self) {
  auto& st = self->state;
  if (st.absent.empty()) {
    return;
  }
  const auto now = steady::now();
  std::map<std::string, mesh::v1::DagMessage> requests;
  std::uniform_int_distribution<std::size_t> pick(0, std::max<std::size_t>(st.member_ids.size(), 1) - 1);
  for (auto it = st.absent.begin(); it != st.absent.end();) {
    auto& w = it->second;
    if (st.machine->store().has(it->first) || w.attempts >= st.config.max_fetch_attempts) {
      it = st.absent.erase(it);
      continue;
    }
    const bool due = w.attempts == 0 ? now - w.since >= st.config.fetch_delay
                                     : now - w.last_request >= st.config.fetch_retry;
    if (due) {
      const auto& peer = w.attempts == 0 || st.member_ids.empty() ? w.source
                                                                   : st.member_ids[pick(st.rng)];
      auto& fetch = *requests[peer].mutable_fetch();
      fetch.add_vertex_ids(it->first);
      if (w.attempts > 0) {
        fetch.set_max_ancestors(static_cast<std::uint32_t>(st.config.fetch_ancestors));
      }
      ++w.attempts;
      w.last_request = now;
    }
    ++it;
  }
  for (const auto& [peer, message] : requests) {
    if (st.config.metrics != nullptr) {
      st.config.metrics->count_fetch_sent(1);
    }
    send_to(self, peer, message);
  }
}

void add_vertices(dag_actor* self, const std::string& from,
                  const google::protobuf::RepeatedPtrField<mesh::v1::Vertex>& vertices) {
  auto& st = self->state;
  open_batch(self);
  std::vector<dag::vertex_id> missing;
  for (const auto& message : vertices) {
    auto outcome = st.machine->add_vertex(dag::from_proto(message), dag_state::now());
    if (!outcome.id.empty()) {
      st.absent.erase(outcome.id);
    }
    if (outcome.result == dag::validation_result::missing_parents) {
      missing.insert(missing.end(), outcome.missing_parents.begin(), outcome.missing_parents.end());
    }
  }
  note_absent(self, from, missing);
}

// Replies with the requested vertices, each preceded by up to
// fetch_ancestors of its ancestors, parents before children.
void answer_fetch(dag_actor* self, const std::string& from, const mesh::v1::VertexFetch& request) {
  auto& st = self->state;
  const auto& store = st.machine->store();
  std::vector<dag::vertex_id> order;
  std::unordered_set<dag::vertex_id> seen;
  for (const auto& id : request.vertex_ids()) {
    if (!store.has(id) || seen.contains(id)) {
      continue;
    }
    // Breadth-first over the parents, then reversed: ancestors come first.
    std::vector<dag::vertex_id> walk{id};
    seen.insert(id);
    const std::size_t limit = std::min<std::size_t>(request.max_ancestors(), st.config.fetch_ancestors) + 1;
    for (std::size_t i = 0; i < walk.size() && walk.size() < limit; ++i) {
      auto v = store.get(walk[i]);
      if (!v) {
        continue;
      }
      for (const auto& parent : v->parents) {
        if (!seen.contains(parent) && store.has(parent)) {
          seen.insert(parent);
          walk.push_back(parent);
        }
      }
    }
    order.insert(order.end(), walk.rbegin(), walk.rend());
    if (order.size() >= max_vertices_per_reply) {
      break;
    }
  }
  if (order.empty()) {
    return;
  }

  mesh::v1::DagMessage reply;
  std::size_t bytes = 0;
  for (const auto& id : order) {
    auto v = store.get(id);
    if (!v) {
      continue;
    }
    auto* out = reply.mutable_vertices()->add_vertices();
    dag::to_proto(*v, *out);
    bytes += out->ByteSizeLong();
    if (bytes > max_reply_bytes || reply.vertices().vertices_size() >= static_cast<int>(max_vertices_per_reply)) {
      break;
    }
  }
  if (st.config.metrics != nullptr) {
    st.config.metrics->count_fetch_answered();
  }
  send_to(self, from, reply);
}

void answer_poll(dag_actor* self, const std::string& from, const mesh::v1::PollRequest& poll) {
  auto& st = self->state;
  std::vector<dag::vertex_id> ids(poll.vertex_ids().begin(), poll.vertex_ids().end());
  const auto votes = st.machine->on_poll(from, ids);
  mesh::v1::DagMessage reply;
  reply.mutable_votes()->set_poll_id(poll.poll_id());
  std::vector<dag::vertex_id> unknown;
  for (std::size_t i = 0; i < votes.size(); ++i) {
    reply.mutable_votes()->add_preferred(votes[i]);
    if (!votes[i] && !st.machine->store().has(ids[i])) {
      unknown.push_back(ids[i]);
    }
  }
  send_to(self, from, reply);
  if (st.config.metrics != nullptr) {
    st.config.metrics->count_poll_answered();
  }
  note_absent(self, from, unknown);
}

void send_tips(dag_actor* self, const std::string& to, bool reply_requested) {
  auto& st = self->state;
  mesh::v1::DagMessage message;
  message.mutable_tips()->set_reply_requested(reply_requested);
  for (const auto& id : st.machine->tips()) {
    message.mutable_tips()->add_vertex_ids(id);
  }
  send_to(self, to, message);
}

// Times out old polls and sends the polls the engine wants to start.
void start_polls(dag_actor* self, dag::timestamp now) {
  auto& st = self->state;
  open_batch(self);
  for (const auto& poll : st.machine->next_polls(now)) {
    mesh::v1::DagMessage message;
    message.mutable_poll()->set_poll_id(poll.poll_id);
    for (const auto& id : poll.vertex_ids) {
      message.mutable_poll()->add_vertex_ids(id);
    }
    send_to(self, poll.peer_id, message);
  }
}

void handle_inbound(dag_actor* self, inbound_dag& inbound) {
  auto& st = self->state;
  refresh_members(self);
  // A peer that is not (yet) on the board still gets replies.
  if (!inbound.from_address.empty()) {
    st.address_of.try_emplace(inbound.from_id, inbound.from_address);
  }
  auto& message = inbound.message;
  switch (message.body_case()) {
    case mesh::v1::DagMessage::kVertices:
      add_vertices(self, inbound.from_id, message.vertices().vertices());
      break;
    case mesh::v1::DagMessage::kFetch:
      answer_fetch(self, inbound.from_id, message.fetch());
      break;
    case mesh::v1::DagMessage::kPoll:
      answer_poll(self, inbound.from_id, message.poll());
      break;
    case mesh::v1::DagMessage::kVotes: {
      open_batch(self);
      std::vector<bool> votes(message.votes().preferred().begin(), message.votes().preferred().end());
      const auto before = st.machine->outstanding_polls();
      st.machine->on_votes(message.votes().poll_id(), inbound.from_id, votes, dag_state::now());
      // A poll finished: start the next one now instead of at the next tick.
      if (st.machine->outstanding_polls() < before) {
        start_polls(self, dag_state::now());
      }
      break;
    }
    case mesh::v1::DagMessage::kTips: {
      std::vector<dag::vertex_id> unknown;
      for (const auto& id : message.tips().vertex_ids()) {
        if (!st.machine->store().has(id)) {
          unknown.push_back(id);
        }
      }
      note_absent(self, inbound.from_id, unknown);
      if (message.tips().reply_requested()) {
        send_tips(self, inbound.from_id, false);
      }
      break;
    }
    case mesh::v1::DagMessage::BODY_NOT_SET:
      break;
  }
}

void tick(dag_actor* self) {
  auto& st = self->state;
  refresh_members(self);
  const auto now = dag_state::now();

  if (st.machine->waiting_count() > 0) {
    if (auto expired = st.machine->expire_waiting(now, st.config.max_waiting); expired > 0) {
      st.log->warn("vertices dropped: ancestry missing after {} ms count={}",
                   st.config.max_waiting.count(), expired);
    }
    // Parents that a waiting vertex still lacks; a peer named them earlier,
    // or any member may have them.
    if (!st.member_ids.empty()) {
      std::uniform_int_distribution<std::size_t> pick(0, st.member_ids.size() - 1);
      note_absent(self, st.member_ids[pick(st.rng)], st.machine->missing_vertices());
    }
  }
  request_absent(self);

  const bool busy = st.machine->undecided_count() > 0 || st.machine->outstanding_polls() > 0;
  if (busy) {
    start_polls(self, now);
  }

  if (steady::now() - st.last_sync >= st.config.sync_interval && !st.member_ids.empty()) {
    st.last_sync = steady::now();
    std::uniform_int_distribution<std::size_t> pick(0, st.member_ids.size() - 1);
    send_tips(self, st.member_ids[pick(st.rng)], true);
  }
  publish_metrics(self);

  const bool waiting = st.machine->waiting_count() > 0 || !st.absent.empty();
  st.idle_tick_pending = !busy && !waiting;
  self->delayed_send(self, st.idle_tick_pending ? st.config.idle_interval : st.config.poll_interval,
                     tick_atom::value, ++st.tick_generation);
}

// Ticks at once when work arrived while the next tick is an idle one, so the
// first poll of a new vertex does not wait for idle_interval.
void wake_ticks(dag_actor* self) {
  auto& st = self->state;
  if (!st.idle_tick_pending) {
    return;
  }
  const bool work = st.machine->undecided_count() > 0 || st.machine->outstanding_polls() > 0 ||
                    st.machine->waiting_count() > 0 || !st.absent.empty();
  if (work) {
    st.idle_tick_pending = false;
    self->send(self, tick_atom::value, ++st.tick_generation);
  }
}

// The first sequence number this node may use: above every vertex it
// authored before (the store survives restarts) and above the wall clock in
// microseconds, so that even vertices lost with an uncommitted transaction
// are never reused with other content.
std::uint64_t first_sequence(const dag_state& st) {
  const auto& self_id = st.config.identity->node_id();
  std::uint64_t highest = 0;
  for (auto state : {dag::vertex_state::undecided, dag::vertex_state::final, dag::vertex_state::rejected}) {
    st.machine->store().for_each(state, [&](const dag::vertex_id&, const dag::vertex& v) {
      if (v.author_id == self_id) {
        highest = std::max(highest, v.sequence);
      }
      return true;
    });
  }
  const auto micros = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  return std::max(highest + 1, micros);
}

dag_submit_reply reject_submission(std::string code, std::string message) {
  dag_submit_reply reply;
  reply.error_code = std::move(code);
  reply.message = std::move(message);
  return reply;
}

// Signs and adds a vertex authored by this node and queues its gossip.
dag_submit_reply submit(dag_actor* self, submit_vertex& request) {
  auto& st = self->state;
  refresh_members(self);
  dag::vertex_draft draft;
  draft.parents = st.machine->select_parents(st.rng);
  draft.payload = std::move(request.payload);
  draft.content_type = std::move(request.content_type);
  draft.conflict_key = std::move(request.conflict_key);
  draft.sequence = st.next_sequence;
  draft.timestamp_ms = static_cast<std::uint64_t>(dag_state::now().count());
  auto signed_vertex = dag::sign_vertex(std::move(draft), *st.config.identity);
  if (!signed_vertex) {
    return reject_submission("crypto_error", signed_vertex.err().message);
  }

  open_batch(self);
  auto outcome = st.machine->add_own_vertex(*signed_vertex, dag_state::now());
  if (outcome.result != dag::validation_result::accepted) {
    const auto reason = std::string(dag::to_string(outcome.result));
    if (outcome.result == dag::validation_result::payload_too_large) {
      return reject_submission("too_large", "payload is larger than the limit of this node");
    }
    if (outcome.result == dag::validation_result::store_failed) {
      return reject_submission("io_error", "the vertex store failed to write the vertex");
    }
    return reject_submission("invalid_argument", "vertex refused: " + reason);
  }
  ++st.next_sequence;
  st.submitted_at[outcome.id] = steady::now();
  auto& gossip = st.own_outbox.emplace_back();
  dag::to_proto(*signed_vertex, gossip);

  dag_submit_reply reply;
  reply.ok = true;
  reply.id_hex = hex(outcome.id);
  return reply;
}

caf::behavior running(dag_actor* self) {
  auto timed = [self](auto&& step) {
    const auto started = steady::now();
    step();
    if (self->state.config.actor_metrics != nullptr) {
      self->state.config.actor_metrics->record_message("dag", steady::now() - started);
    }
  };
  return {
      [self, timed](inbound_dag& inbound) {
        timed([&] {
          handle_inbound(self, inbound);
          wake_ticks(self);
        });
      },
      [self, timed](tick_atom, std::uint64_t generation) {
        if (generation == self->state.tick_generation) {
          timed([&] { tick(self); });
        }
      },
      [self, timed](flush_atom) { timed([&] { flush(self); }); },
      [self, timed](synced_atom, std::uint64_t commit) {
        timed([&] {
          self->state.synced = std::max(self->state.synced, commit);
          release_through(self, commit);
        });
      },
      [self, timed](submit_vertex& request) {
        auto promise = self->make_response_promise();
        timed([&] {
          auto reply = submit(self, request);
          if (!reply.ok) {
            promise.deliver(std::move(reply));
            return;
          }
          wake_ticks(self);
          // Replied to after the commit, so the id it names is durable.
          self->state.submit_replies.emplace_back(promise, std::move(reply));
        });
      },
      [self](vertex_atom, const std::string& id_hex) {
        dag_vertex_view view;
        if (auto id = parse_id(id_hex)) {
          view = make_view(self->state, *id);
        }
        return view;
      },
      [self](await_final_atom, const std::string& id_hex) {
        auto promise = self->make_response_promise();
        auto id = parse_id(id_hex);
        if (!id) {
          promise.deliver(dag_vertex_view{});
          return;
        }
        auto view = make_view(self->state, *id);
        if (view.found && view.state != dag::vertex_state::undecided) {
          promise.deliver(std::move(view));
          return;
        }
        self->state.awaiting[*id].push_back(std::move(promise));
      },
      [self](tips_atom) {
        dag_tips out;
        for (const auto& id : self->state.machine->tips()) {
          out.id_hex.push_back(hex(id));
        }
        return out;
      },
      [self](status_atom) {
        auto& st = self->state;
        dag_status out;
        const auto& store = st.machine->store();
        out.undecided = store.count(dag::vertex_state::undecided);
        out.final = store.count(dag::vertex_state::final);
        out.rejected = store.count(dag::vertex_state::rejected);
        out.waiting_for_parents = st.machine->waiting_count();
        out.voting_peers = st.machine->current_quorum().k;
        out.outstanding_polls = st.machine->outstanding_polls();
        out.equivocations = st.machine->stats().equivocations;
        std::vector<double> sorted(st.latencies_ms.begin(), st.latencies_ms.end());
        std::sort(sorted.begin(), sorted.end());
        out.latency_samples = sorted.size();
        if (!sorted.empty()) {
          out.latency_p50_ms = sorted[sorted.size() / 2];
          out.latency_p99_ms = sorted[std::min(sorted.size() - 1, sorted.size() * 99 / 100)];
        }
        return out;
      },
      [self](list_atom, const dag_page_query& query) {
        auto& st = self->state;
        dag_page page;
        const auto limit = std::clamp<std::uint32_t>(query.limit, 1, 1000);
        auto entries = st.machine->store().decided_after(query.state, query.after, limit);
        for (const auto& [position, id] : entries) {
          page.vertices.push_back(make_view(st, id));
        }
        if (entries.size() == limit) {
          page.next = entries.back().first;
        }
        return page;
      },
      [self](subscribe_atom, const caf::actor& listener) {
        self->state.subscribers.push_back(listener);
        self->monitor(listener);
      },
  };
}

caf::behavior dag_behavior(dag_actor* self, dag_actor_config config) {
  auto& st = self->state;
  st.config = std::move(config);
  st.machine = st.config.engine;
  st.rng.seed(st.config.seed);
  st.next_sequence = first_sequence(st);
  if (!st.config.wal_file.empty()) {
    const auto address = self->address();
    st.syncer = std::make_unique<dag::file_syncer>(st.config.wal_file, [address](std::uint64_t commit) {
      if (auto target = caf::actor_cast<caf::actor>(address)) {
        caf::anon_send(target, synced_atom::value, commit);
      }
    });
  }
  self->set_down_handler([self](const caf::down_msg& down) {
    std::erase_if(self->state.subscribers,
                  [&down](const caf::actor& listener) { return listener.address() == down.source; });
  });
  // Messages may arrive before the transport is handed over; they wait.
  self->set_default_handler(caf::skip);
  return {
      [self](start_dag& start) {
        auto& state = self->state;
        state.transport = start.transport;
        state.log->info("dag started vertices={} undecided={} next_sequence={}",
                        state.machine->store().size(), state.machine->undecided_count(),
                        state.next_sequence);
        self->set_default_handler(caf::print_and_drop);
        self->become(running(self));
        tick(self);
      },
  };
}

}  // namespace

caf::actor spawn_dag_actor(caf::actor_system& system, dag_actor_config config) {
  // NOTE: a store commit waits for fsync on a scheduler thread, so the other
  // actors of the node run on the remaining threads meanwhile. Spawning this
  // actor detached made node::stop() hang in await_all_actors_done() with
  // CAF 0.17, so it stays scheduled.
  return system.spawn(dag_behavior, std::move(config));
}

}  // namespace mesh::actors
