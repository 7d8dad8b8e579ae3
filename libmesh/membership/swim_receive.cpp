// The swim state machine's message handlers and how it applies member
// updates, refutations included.
#include "membership/swim_impl.hpp"

namespace mesh::membership {

void swim::impl::receive(const std::string& from_address, const MembershipMessage& message,
                         timestamp now) {
  for (const auto& update : message.gossip()) {
    apply_update(update, false, now);
  }

  switch (message.message_case()) {
    case MembershipMessage::kPing:
      handle_ping(from_address, message.ping());
      break;
    case MembershipMessage::kAck:
      handle_ack(message.ack());
      break;
    case MembershipMessage::kPingRequest:
      handle_ping_request(from_address, message.ping_request(), now);
      break;
    case MembershipMessage::kPushPull:
      handle_push_pull(from_address, message.push_pull(), now);
      break;
    case MembershipMessage::kNack:
      handle_nack(message.nack());
      break;
    case MembershipMessage::kBroadcast:
    case MembershipMessage::MESSAGE_NOT_SET:
      break;
  }
}

void swim::impl::handle_ping(const std::string& from_address, const mesh::v1::Ping& ping) {
  // A ping for another node id reached an address that changed hands.
  if (!ping.target_id().empty() && ping.target_id() != self_id_) {
    return;
  }
  MembershipMessage reply;
  auto& ack = *reply.mutable_ack();
  ack.set_sequence(ping.sequence());
  ack.set_target_id(self_id_);
  send(from_address, std::move(reply));
}

void swim::impl::handle_ack(const mesh::v1::Ack& ack) {
  const auto relayed = relays_.find(ack.sequence());
  if (relayed != relays_.end()) {
    MembershipMessage forward;
    auto& forwarded = *forward.mutable_ack();
    forwarded.set_sequence(relayed->second.requester_sequence);
    forwarded.set_target_id(ack.target_id());
    const std::string requester = std::move(relayed->second.requester_address);
    relays_.erase(relayed);
    send(requester, std::move(forward));
    return;
  }

  if (probe_.active && ack.sequence() == probe_.sequence) {
    probe_.active = false;
    adjust_health(-1);
  }
}

void swim::impl::handle_nack(const mesh::v1::Nack& nack) {
  if (probe_.active && nack.sequence() == probe_.sequence && probe_.nacks < probe_.expected_nacks) {
    ++probe_.nacks;
    ++stats_.nacks_received;
  }
}

void swim::impl::handle_ping_request(const std::string& from_address,
                                     const mesh::v1::PingRequest& request, timestamp now) {
  const std::uint64_t sequence = next_sequence_++;
  const auto nack_after = timestamp(static_cast<std::int64_t>(
      nack_timeout_fraction * static_cast<double>(config_.probe_timeout.count())));
  relays_[sequence] = relay{from_address, request.sequence(), now + scaled(config_.probe_interval),
                            request.nack(), now + nack_after};

  MembershipMessage message;
  auto& ping = *message.mutable_ping();
  ping.set_sequence(sequence);
  ping.set_target_id(request.target_id());
  ping.set_requester_address(from_address);
  ping.set_requester_sequence(request.sequence());
  send(request.target_address(), std::move(message));
}

void swim::impl::handle_push_pull(const std::string& from_address,
                                  const mesh::v1::PushPull& push_pull, timestamp now) {
  for (const auto& update : push_pull.members()) {
    apply_update(update, true, now);
  }

  if (!push_pull.reply()) {
    MembershipMessage reply;
    fill_full_state(reply);
    reply.mutable_push_pull()->set_join(push_pull.join());
    reply.mutable_push_pull()->set_reply(true);
    ++stats_.push_pulls;
    send(from_address, std::move(reply));

    // Spread the news of a new member at once instead of at the next round.
    if (push_pull.join()) {
      gossip_round(now, regular_cold_limit());
    }
    return;
  }

  if (!joined_) {
    joined_ = true;
    announce_self_ = true;
    announce_self_until_ = now + self_announce_push_pull_periods * push_pull_period();
    // Not a round for the news pacing, so a news round repeats the announcement
    // at the next tick; docs/membership.md ("News rounds") has the speed-up.
    send_gossip(now, regular_cold_limit());

    // Members that joined at about the same time through other seeds may
    // have been gossiped before anyone knew this node. One early push-pull
    // picks them up instead of waiting a whole push-pull period.
    follow_up_push_pulls_ = follow_up_push_pull_count;
    next_push_pull_at_ = std::min(next_push_pull_at_, now + follow_up_push_pull_after * config_.probe_interval);
  }
}

void swim::impl::apply_update(const MemberUpdate& update, bool from_push_pull, timestamp now) {
  const auto& node_id = update.info().node_id();
  auto state = from_proto(update.state());
  const std::uint64_t incarnation = update.incarnation();

  if (node_id == self_id_) {
    apply_to_self(update, state);
    return;
  }

  // A peer's full state that calls a member dead is only a reason to suspect
  // it, so that a member that is in fact alive can refute (as memberlist does).
  if (from_push_pull && state == member_state::dead) {
    state = member_state::suspect;
  }

  const std::uint32_t position = table_.find(node_id);
  if (position == member_table::npos) {
    if (is_reachable(state)) {
      add_member(update, state, now);
    }
    return;
  }

  auto& entry = table_.at(position);
  const member_state previous = entry.state();
  if (!supersedes(state, incarnation, previous, entry.incarnation)) {
    const bool confirmation = state == member_state::suspect && previous == member_state::suspect &&
                              incarnation == entry.incarnation && !update.reporter_id().empty();
    if (confirmation && confirm(node_id, update.reporter_id())) {
      queue_update(position, update.reporter_id());
    }
    return;
  }

  bool info_changed = false;
  if (incarnation > entry.incarnation) {
    info_ref incoming(pool_->intern(update.info()));
    info_changed = !incoming.same(entry.info);
    entry.info = std::move(incoming);
  }

  switch (state) {
    case member_state::alive:
      set_state(entry, member_state::alive, incarnation, now);
      if (previous == member_state::suspect) {
        emit(event::kind::refuted, entry);
      } else if (previous == member_state::dead || previous == member_state::left) {
        emit(event::kind::recovered, entry);
      } else if (info_changed) {
        emit(event::kind::updated, entry);
      }
      queue_update(position, {}, previous == member_state::suspect || previous == member_state::dead);
      return;
    case member_state::suspect:
      suspect(position, incarnation, update.reporter_id(), now);
      return;
    case member_state::dead:
      set_state(entry, member_state::dead, incarnation, now);
      emit(event::kind::died, entry);
      queue_update(position, update.reporter_id());
      return;
    case member_state::left:
      set_state(entry, member_state::left, incarnation, now);
      emit(event::kind::left, entry);
      queue_update(position, {});
      return;
  }
}

void swim::impl::add_member(const MemberUpdate& update, member_state state, timestamp now) {
  member_table::entry entry;
  entry.info = info_ref(pool_->intern(update.info()));
  entry.incarnation = update.incarnation();
  entry.set_state(member_state::alive, now);
  const auto position = table_.insert(std::move(entry));
  ++counts_[static_cast<std::size_t>(member_state::alive)];
  add_to_probe_order(position);
  emit(event::kind::joined, table_.at(position));

  if (state == member_state::suspect) {
    suspect(position, update.incarnation(), update.reporter_id(), now);
    return;
  }
  queue_update(position, {});
}

void swim::impl::apply_to_self(const MemberUpdate& update, member_state state) {
  if (left_) {
    return;
  }
  const std::uint64_t own = table_.at(self_position()).incarnation;
  if (update.incarnation() < own) {
    return;
  }

  // An alive update about us at our incarnation with our info is our own echo.
  // With other info or a higher incarnation it stems from an earlier run of
  // this node id, and the newer run must override it.
  if (state == member_state::alive && update.incarnation() == own) {
    info_ref incoming(pool_->intern(update.info()));
    if (incoming.same(table_.at(self_position()).info)) {
      return;
    }
  }
  refute(update.incarnation(), state != member_state::alive);
}

void swim::impl::refute(std::uint64_t heard_incarnation, bool accused) {
  const auto position = self_position();
  auto& entry = table_.at(position);
  entry.incarnation = std::max(entry.incarnation, heard_incarnation) + 1;
  ++stats_.refutations;

  // Lifeguard: being suspected is a sign that this node replies too slowly.
  if (accused) {
    adjust_health(1);
  }
  refresh_self_cache();
  emit(event::kind::refuted, entry);
  queue_update(position, {}, true);
}

}  // namespace mesh::membership
