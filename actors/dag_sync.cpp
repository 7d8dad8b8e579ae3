// The DAG actor's side of the peers: their messages (vertices, polls,
// votes, fetches, tips) and the requests for vertices this node lacks.
#include "dag_actor_state.hpp"

namespace mesh::actors::dag_detail {

namespace {

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

}  // namespace

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

void send_tips(dag_actor* self, const std::string& to, bool reply_requested) {
  auto& st = self->state;
  mesh::v1::DagMessage message;
  message.mutable_tips()->set_reply_requested(reply_requested);
  for (const auto& id : st.machine->tips()) {
    message.mutable_tips()->add_vertex_ids(id);
  }
  send_to(self, to, message);
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

}  // namespace mesh::actors::dag_detail
