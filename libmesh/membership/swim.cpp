// The SWIM + Lifeguard state machine; see swim.hpp and docs/membership.md.
// This file: construction, joining, timers, leaving, state changes and the
// public wrapper.
#include "membership/swim_impl.hpp"

namespace mesh::membership {

// --- construction -----------------------------------------------------------

swim::impl::impl(swim_config config, member_info self, std::uint64_t initial_incarnation,
                 std::uint64_t seed, timestamp now, std::shared_ptr<info_pool> pool)
    : pool_(pool ? std::move(pool) : make_info_pool()),
      config_(config),
      rng_(seed),
      self_id_(self.node_id),
      self_address_(self.address),
      join_backoff_(config.join_retry_initial) {
  member_table::entry entry;
  entry.info = info_ref(pool_->intern(self));
  entry.incarnation = initial_incarnation;
  entry.set_state(member_state::alive, now);
  const auto position = table_.insert(std::move(entry));
  counts_[static_cast<std::size_t>(member_state::alive)] = 1;
  refresh_self_cache();

  // Our own alive update goes out with the first gossip after the join.
  queue_update(position, {});

  // Random phases keep nodes that start together from probing in lockstep.
  auto phase = [&](timestamp period) {
    return timestamp(std::uniform_int_distribution<std::int64_t>(0, period.count())(rng_));
  };
  next_probe_at_ = now + phase(config_.probe_interval);
  next_gossip_at_ = now + phase(config_.gossip_interval);
  next_push_pull_at_ = now + config_.push_pull_interval + phase(config_.push_pull_interval);
}

void swim::impl::refresh_self_cache() {
  const auto& entry = table_.at(self_position());
  self_cache_.info = *entry.info;
  self_cache_.state = entry.state();
  self_cache_.incarnation = entry.incarnation;
  self_cache_.state_since = entry.since();
}

// --- joining ----------------------------------------------------------------

void swim::impl::join(const std::vector<std::string>& seed_addresses, timestamp now) {
  join_started_ = true;
  std::vector<std::string> targets;
  for (const auto& address : seed_addresses) {
    const bool duplicate = std::find(targets.begin(), targets.end(), address) != targets.end();
    if (address != self_address_ && !duplicate) {
      targets.push_back(address);
    }
  }

  if (targets.empty()) {
    joined_ = true;
    return;
  }

  ++stats_.join_attempts;
  for (const auto& address : targets) {
    MembershipMessage message;
    fill_full_state(message);
    message.mutable_push_pull()->set_join(true);
    ++stats_.push_pulls;
    send(address, std::move(message));
  }

  next_join_retry_ = now + join_backoff_;
  join_backoff_ = std::min(join_backoff_ * 2, config_.join_retry_max);
}

// --- timers -----------------------------------------------------------------

void swim::impl::tick(timestamp now) {
  if (announce_self_ && now >= announce_self_until_) {
    announce_self_ = false;
  }
  if (now >= next_gossip_at_) {
    next_gossip_at_ = now + config_.gossip_interval;
    gossip_round(now, regular_cold_limit());
  } else if (news_waiting_ && now >= last_gossip_at_ + config_.gossip_news_interval) {
    // A news round between the regular ones goes to contacted members only,
    // so that it costs no handshake.
    gossip_round(now, 0);
  }
  if (left_) {
    return;
  }

  reap(now);
  expire_suspicions(now);
  send_due_nacks(now);
  expire_relays(now);
  run_probe(now);
  if (news_dropped_) {
    // Each drop moves the repair later, so it runs once the wave of news ends.
    news_dropped_ = false;
    repair_push_pull_at_ = now + config_.push_pull_interval;
  }
  if (repair_push_pull_at_ && now >= *repair_push_pull_at_) {
    repair_push_pull_at_.reset();
    next_push_pull_at_ = std::min(next_push_pull_at_, now);
  }
  if (now >= next_push_pull_at_) {
    push_pull_round(now);
  }
}

timestamp swim::impl::next_wakeup() const {
  timestamp wakeup = never;
  if (!gossip_.empty()) {
    wakeup = next_gossip_at_;
    if (news_waiting_) {
      wakeup = std::min(wakeup, last_gossip_at_ + config_.gossip_news_interval);
    }
  }
  if (left_) {
    return wakeup;
  }

  if (table_.size() > 1) {
    wakeup = std::min(wakeup, next_push_pull_at_);
  }
  if (repair_push_pull_at_) {
    wakeup = std::min(wakeup, *repair_push_pull_at_);
  }
  if (probe_.active) {
    wakeup = std::min(wakeup, probe_.indirect_sent ? probe_.end : probe_.indirect_at);
  } else if (alive_count() > 1) {
    wakeup = std::min(wakeup, next_probe_at_);
  }
  for (const auto& [node_id, timer] : suspicions_) {
    wakeup = std::min(wakeup, timer.deadline);
  }
  for (const auto& [sequence, pending] : relays_) {
    if (pending.nack_pending) {
      wakeup = std::min(wakeup, pending.nack_at);
    }
  }
  if (!reap_queue_.empty()) {
    wakeup = std::min(wakeup, reap_queue_.front().first);
  }
  return wakeup;
}

// --- leaving and load -------------------------------------------------------

void swim::impl::leave(timestamp now) {
  if (left_) {
    return;
  }
  left_ = true;
  announce_self_ = false;
  probe_.active = false;

  const auto position = self_position();
  auto& entry = table_.at(position);
  set_state(entry, member_state::left, entry.incarnation + 1, now);
  refresh_self_cache();
  queue_update(position, {});

  const auto targets = random_members(2 * std::size_t{config_.gossip_fanout}, [&](std::uint32_t candidate) {
    return candidate != position && is_reachable(table_.at(candidate).state());
  });
  for (const auto target : targets) {
    MembershipMessage message;
    message.mutable_broadcast();
    mark_contact(target, now);
    send(table_.at(target).info->address, std::move(message));
  }
}

void swim::impl::set_load(std::uint32_t load) {
  const auto position = self_position();
  auto& entry = table_.at(position);
  if (left_ || entry.info->load == load) {
    return;
  }
  member_info changed = *entry.info;
  changed.load = load;
  entry.info = info_ref(pool_->intern(changed));
  ++entry.incarnation;
  refresh_self_cache();
  queue_update(position, {});
}

// --- state changes ----------------------------------------------------------

void swim::impl::set_state(member_table::entry& entry, member_state state, std::uint64_t incarnation,
                           timestamp now) {
  const member_state previous = entry.state();
  --counts_[static_cast<std::size_t>(previous)];
  ++counts_[static_cast<std::size_t>(state)];
  entry.incarnation = incarnation;
  entry.set_state(state, now);

  if (previous == member_state::suspect && state != member_state::suspect) {
    suspicions_.erase(entry.info->node_id);
  }
  if (state == member_state::dead || state == member_state::left) {
    reap_queue_.emplace_back(now + config_.dead_reap_after, entry.info->node_id);
  }
}

void swim::impl::emit(event::kind what, const member_table::entry& entry) {
  events_.push_back(event{what, entry.info->node_id, entry.info->name, entry.info->address,
                          entry.incarnation});
}

std::vector<member> swim::impl::members() const {
  std::vector<member> result;
  result.reserve(table_.size());
  for (std::uint32_t position = 0; position < table_.size(); ++position) {
    const auto& entry = table_.at(position);
    result.push_back(member{*entry.info, entry.state(), entry.incarnation, entry.since()});
  }
  std::sort(result.begin(), result.end(),
            [](const member& a, const member& b) { return a.info.node_id < b.info.node_id; });
  return result;
}

// --- public wrapper ---------------------------------------------------------

swim::swim(swim_config config, member_info self, std::uint64_t initial_incarnation,
           std::uint64_t seed, timestamp now)
    : swim(config, std::move(self), initial_incarnation, seed, now, nullptr) {}

swim::swim(swim_config config, member_info self, std::uint64_t initial_incarnation,
           std::uint64_t seed, timestamp now, std::shared_ptr<info_pool> pool)
    : impl_(std::make_unique<impl>(config, std::move(self), initial_incarnation, seed, now,
                                   std::move(pool))) {}

swim::~swim() = default;
swim::swim(swim&&) noexcept = default;
swim& swim::operator=(swim&&) noexcept = default;

void swim::join(const std::vector<std::string>& seed_addresses, timestamp now) {
  impl_->join(seed_addresses, now);
}
bool swim::joined() const {
  return impl_->joined();
}
bool swim::join_retry_due(timestamp now) const {
  return impl_->join_retry_due(now);
}
void swim::receive(const std::string& from_address, const mesh::v1::MembershipMessage& message,
                   timestamp now) {
  impl_->receive(from_address, message, now);
}
void swim::tick(timestamp now) {
  impl_->tick(now);
}
void swim::leave(timestamp now) {
  impl_->leave(now);
}
void swim::set_load(std::uint32_t load) {
  impl_->set_load(load);
}
std::vector<outbound> swim::take_outbox() {
  return impl_->take_outbox();
}
void swim::recycle(mesh::v1::MembershipMessage&& message) {
  impl_->recycle(std::move(message));
}
std::vector<event> swim::take_events() {
  return impl_->take_events();
}
std::vector<member> swim::members() const {
  return impl_->members();
}
const member& swim::self() const {
  return impl_->self();
}
std::size_t swim::alive_count() const {
  return impl_->alive_count();
}
std::size_t swim::count(member_state state) const {
  return impl_->count(state);
}
timestamp swim::next_wakeup() const {
  return impl_->next_wakeup();
}
const statistics& swim::stats() const {
  return impl_->stats();
}

}  // namespace mesh::membership
