// The DAG actor's store commits: vertices are added inside an open
// transaction, and what depends on them (gossip of this node's vertices,
// replies, decisions) is released only once the commit is durable.
#include "dag_actor_state.hpp"

namespace mesh::actors::dag_detail {

namespace {

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
      continue;  // no one waits for it, so the store is not read
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

}  // namespace

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

}  // namespace mesh::actors::dag_detail
