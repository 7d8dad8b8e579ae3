// The swim state machine's dissemination: gossip rounds, push-pull, reaping
// and the encoding of the messages it sends.
#include "membership/swim_impl.hpp"

namespace mesh::membership {

void swim::impl::gossip_round(timestamp now, std::size_t cold_limit) {
  last_gossip_at_ = now;
  news_waiting_ = false;
  send_gossip(now, cold_limit);
}

void swim::impl::send_gossip(timestamp now, std::size_t cold_limit) {
  if (gossip_.empty()) {
    return;
  }
  const auto self = self_position();
  const auto targets = random_members_warm(config_.gossip_fanout, cold_limit, now, [&](std::uint32_t position) {
    if (position == self) {
      return false;
    }
    const auto& entry = table_.at(position);
    if (is_reachable(entry.state())) {
      return true;
    }
    // Recently dead members still hear gossip, so that one declared dead by
    // mistake learns it and refutes.
    return entry.state() == member_state::dead && now - entry.since() < config_.gossip_to_dead;
  });

  for (const auto target : targets) {
    if (gossip_.empty()) {
      break;
    }
    MembershipMessage message;
    message.mutable_broadcast();
    mark_contact(target, now);
    send(table_.at(target).info->address, std::move(message));
  }
}

void swim::impl::push_pull_round(timestamp now) {
  next_push_pull_at_ = now + push_pull_period();
  bool pull_only = false;
  if (follow_up_push_pulls_ > 0) {
    const int done = follow_up_push_pull_count - follow_up_push_pulls_;
    --follow_up_push_pulls_;
    if (follow_up_push_pulls_ > 0) {
      const auto wait = follow_up_push_pull_after * config_.probe_interval * (std::int64_t{2} << done);
      next_push_pull_at_ = std::min(next_push_pull_at_, now + wait);
    }
    // In a large mesh a follow-up only pulls: the partner already heard of
    // this node through its join gossip, and the joiner's own state is
    // mostly what the seed just sent it. That saves N entries per follow-up.
    pull_only = alive_count() > config_.push_pull_scale_threshold;
  }

  // Dead members are candidates too: a push-pull that reaches a member on the
  // other side of a healed partition makes both sides refute and recover.
  const auto self = self_position();
  const auto partners = random_members(1, [&](std::uint32_t position) {
    return position != self && table_.at(position).state() != member_state::left;
  });
  if (partners.empty()) {
    return;
  }

  MembershipMessage message;
  if (pull_only) {
    message.mutable_push_pull();
  } else {
    fill_full_state(message);
  }
  ++stats_.push_pulls;
  mark_contact(partners.front(), now);
  send(table_.at(partners.front()).info->address, std::move(message));
}

void swim::impl::reap(timestamp now) {
  std::vector<std::uint32_t> removed;
  while (!reap_queue_.empty() && reap_queue_.front().first <= now) {
    const std::string node_id = std::move(reap_queue_.front().second);
    reap_queue_.pop_front();
    const auto position = table_.find(node_id);
    if (position == member_table::npos) {
      continue;
    }
    const auto& entry = table_.at(position);
    const bool dead_or_left = entry.state() == member_state::dead || entry.state() == member_state::left;
    const bool duplicate = std::find(removed.begin(), removed.end(), position) != removed.end();
    if (!dead_or_left || duplicate || entry.since() + config_.dead_reap_after > now) {
      continue;
    }
    emit(event::kind::reaped, entry);
    --counts_[static_cast<std::size_t>(entry.state())];
    removed.push_back(position);
  }

  if (!removed.empty()) {
    table_.remove(std::move(removed));
    reset_probe_order();
    probe_.active = probe_.active && table_.find(probe_.target_id) != member_table::npos;
  }
}

void swim::impl::expire_relays(timestamp now) {
  for (auto it = relays_.begin(); it != relays_.end();) {
    if (it->second.expires <= now) {
      it = relays_.erase(it);
    } else {
      ++it;
    }
  }
}

void swim::impl::send_due_nacks(timestamp now) {
  for (auto& [sequence, pending] : relays_) {
    if (!pending.nack_pending || pending.nack_at > now) {
      continue;
    }
    pending.nack_pending = false;
    MembershipMessage message;
    message.mutable_nack()->set_sequence(pending.requester_sequence);
    ++stats_.nacks_sent;
    send(pending.requester_address, std::move(message));
  }
}

void swim::impl::adjust_health(int delta) {
  const auto raised = static_cast<std::int64_t>(stats_.local_health) + delta;
  stats_.local_health = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(raised, 0, config_.awareness_max_multiplier));
}

void swim::impl::queue_update(std::uint32_t position, const std::string& reporter, bool refutation) {
  const auto& entry = table_.at(position);
  gossip_item item;
  item.info = entry.info;
  item.reporter = reporter_ref(reporter);
  item.incarnation = entry.incarnation;
  item.state = entry.state();
  item.second_round = item.state == member_state::alive;
  item.urgent = refutation || item.state == member_state::left;
  const auto dropped = gossip_.push(std::move(item));
  if (dropped > 0) {
    stats_.gossip_dropped += dropped;
    news_dropped_ = true;
  }
  news_waiting_ = true;
}

info_ref swim::impl::reporter_ref(const std::string& node_id) const {
  if (node_id.empty()) {
    return {};
  }
  const auto position = table_.find(node_id);
  return position == member_table::npos ? info_ref{} : table_.at(position).info;
}

void swim::impl::send(const std::string& address, MembershipMessage message) {
  // A full state already contains this node's entry.
  const bool full_state = message.has_push_pull() && message.push_pull().members_size() > 0;
  const bool announce = announce_self_ && !full_state;
  auto room = limits_.max_gossip - static_cast<std::size_t>(message.gossip_size());
  if (announce && room > 0) {
    --room;
  }
  const auto self = self_position();
  bool self_included = false;
  gossip_.take(room, retransmit_limit(), [&](const gossip_item& item) {
    const auto position = table_.find(item.info->node_id, item.info.id_hash());
    if (position == member_table::npos) {
      return false;
    }
    const auto& entry = table_.at(position);
    if (entry.incarnation != item.incarnation || entry.state() != item.state) {
      return false;
    }
    MemberUpdate* update = spare_update();
    encode(entry, item.reporter, *update);
    message.mutable_gossip()->AddAllocated(update);
    self_included = self_included || position == self;
    return true;
  });
  if (announce && !self_included &&
      static_cast<std::size_t>(message.gossip_size()) < limits_.max_gossip) {
    MemberUpdate* update = spare_update();
    encode(table_.at(self), {}, *update);
    message.mutable_gossip()->AddAllocated(update);
  }
  outbox_.push_back(outbound{address, std::move(message)});
}

MemberUpdate* swim::impl::spare_update() {
  if (spare_updates_.empty()) {
    return new MemberUpdate();
  }
  MemberUpdate* update = spare_updates_.back().release();
  spare_updates_.pop_back();
  return update;
}

void swim::impl::recycle(MembershipMessage&& message) {
  if (message.has_push_pull()) {
    std::unique_ptr<mesh::v1::PushPull> body(message.release_push_pull());
    if (!has_unknown_fields(*body)) {
      pool_->keep_push_pull(std::move(body));
    }
  }

  auto& gossip = *message.mutable_gossip();
  const int keep = static_cast<int>(
      std::min<std::size_t>(spare_updates_capacity - spare_updates_.size(), gossip.size()));
  if (keep <= 0) {
    return;
  }
  std::vector<MemberUpdate*> taken(static_cast<std::size_t>(keep));
  gossip.ExtractSubrange(gossip.size() - keep, keep, taken.data());
  for (auto* update : taken) {
    if (has_unknown_fields(*update)) {
      delete update;
      continue;
    }
    spare_updates_.emplace_back(update);
  }
}

void swim::impl::fill_full_state(MembershipMessage& message) {
  // A recycled body keeps its entries, and encode() overwrites every field
  // of each, so only the entries beyond the current member count are freed.
  std::unique_ptr<mesh::v1::PushPull> body = pool_->take_push_pull();
  body->set_join(false);
  body->set_reply(false);
  auto& members = *body->mutable_members();
  const int count = static_cast<int>(table_.size());
  members.Reserve(count);
  for (int position = 0; position < count; ++position) {
    MemberUpdate* out = position < members.size() ? members.Mutable(position) : members.Add();
    encode(table_.at(static_cast<std::uint32_t>(position)), {}, *out);
  }
  if (members.size() > count) {
    members.DeleteSubrange(count, members.size() - count);
  }
  message.set_allocated_push_pull(body.release());
}

void swim::impl::encode(const member_table::entry& entry, const info_ref& reporter,
                        MemberUpdate& out) const {
  // `out` may be a reused update, so every field is written, the empty
  // reporter too.
  to_proto(*entry.info, *out.mutable_info());
  out.set_state(to_proto(entry.state()));
  out.set_incarnation(entry.incarnation);
  if (reporter) {
    out.set_reporter_id(reporter->node_id);
  } else {
    out.clear_reporter_id();
  }
}

std::uint32_t swim::impl::retransmit_limit() const {
  const auto members = static_cast<double>(alive_count());
  return config_.retransmit_multiplier *
         static_cast<std::uint32_t>(std::ceil(std::log10(members + 1.0)));
}

timestamp swim::impl::push_pull_period() const {
  return scaled_push_pull_interval(config_, alive_count());
}

}  // namespace mesh::membership
