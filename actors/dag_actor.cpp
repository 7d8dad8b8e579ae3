// The DAG actor: feeds the consensus engine with local submissions, peers'
// vertices, polls and votes, runs the poll loop, commits the store in groups
// and reports decisions only after the commit. See dag_actor.hpp; this file
// has the behavior, the tick loop and local submissions.
#include "dag_actor_state.hpp"

namespace mesh::actors::dag_detail {

namespace {

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

}  // namespace mesh::actors::dag_detail

namespace mesh::actors {

caf::actor spawn_dag_actor(caf::actor_system& system, dag_actor_config config) {
  // NOTE: a store commit waits for fsync on a scheduler thread, so the other
  // actors of the node run on the remaining threads meanwhile. Spawning this
  // actor detached made node::stop() hang in await_all_actors_done() with
  // CAF 0.17, so it stays scheduled.
  return system.spawn(dag_detail::dag_behavior, std::move(config));
}

}  // namespace mesh::actors
