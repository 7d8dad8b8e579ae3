// The swim state machine's probes (direct, indirect, nacks) and Lifeguard
// suspicion.
#include "membership/swim_impl.hpp"

namespace mesh::membership {

void swim::impl::run_probe(timestamp now) {
  if (probe_.active && !probe_.indirect_sent && now >= probe_.indirect_at) {
    send_indirect_probes(now);
  }
  if (probe_.active && now >= probe_.end) {
    probe_failed(now);
  }
  if (!probe_.active && now >= next_probe_at_) {
    next_probe_at_ = now + scaled(config_.probe_interval);
    start_probe(now);
  }
}

void swim::impl::start_probe(timestamp now) {
  const std::uint32_t position = next_probe_target();
  if (position == member_table::npos) {
    return;
  }
  const auto& target = table_.at(position);

  probe_.active = true;
  probe_.indirect_sent = false;
  probe_.target_id = target.info->node_id;
  probe_.sequence = next_sequence_++;
  // A first contact waits for a new connection (a CURVE handshake) before
  // the ping, so it gets twice the time before helpers are asked and before
  // the probe fails.
  const std::int64_t first_contact = recently_contacted(target, now) ? 1 : 2;
  probe_.indirect_at = now + first_contact * scaled(config_.probe_timeout);
  probe_.end = now + first_contact * scaled(config_.probe_interval);
  probe_.expected_nacks = 0;
  probe_.nacks = 0;

  MembershipMessage message;
  auto& ping = *message.mutable_ping();
  ping.set_sequence(probe_.sequence);
  ping.set_target_id(probe_.target_id);

  // Lifeguard's buddy system: a suspect target hears of the suspicion first,
  // so that it refutes without waiting for the gossip to reach it.
  if (target.state() == member_state::suspect) {
    encode(target, {}, *message.add_gossip());
  }
  ++stats_.probes_sent;
  mark_contact(position, now);
  send(target.info->address, std::move(message));
}

void swim::impl::send_indirect_probes(timestamp now) {
  probe_.indirect_sent = true;
  const std::uint32_t target = table_.find(probe_.target_id);
  if (target == member_table::npos) {
    return;
  }
  const std::string target_address = table_.at(target).info->address;
  const auto self = self_position();
  auto helper = [&](std::uint32_t position) {
    return position != self && position != target &&
           table_.at(position).state() == member_state::alive;
  };
  // Contacted members first, then any others up to indirect_probes.
  auto helpers = random_members_warm(config_.indirect_probes, 0, now, helper);
  const auto missing = config_.indirect_probes - helpers.size();
  const auto extra = random_members(missing, [&](std::uint32_t position) {
    return helper(position) && std::find(helpers.begin(), helpers.end(), position) == helpers.end();
  });
  helpers.insert(helpers.end(), extra.begin(), extra.end());

  for (const auto chosen : helpers) {
    MembershipMessage message;
    auto& request = *message.mutable_ping_request();
    request.set_sequence(probe_.sequence);
    request.set_target_id(probe_.target_id);
    request.set_target_address(target_address);
    request.set_nack(true);
    ++probe_.expected_nacks;
    ++stats_.indirect_probes_sent;
    mark_contact(chosen, now);
    send(table_.at(chosen).info->address, std::move(message));
  }
}

void swim::impl::probe_failed(timestamp now) {
  probe_.active = false;
  ++stats_.probes_failed;

  // Lifeguard: helpers that sent a nack work, so a missing nack
  // hints that this node itself is slow. Without helpers, every failed
  // probe counts against local health.
  if (probe_.expected_nacks > 0) {
    const std::uint32_t missed = probe_.expected_nacks - probe_.nacks;
    stats_.nacks_missed += missed;
    adjust_health(static_cast<int>(missed));
  } else {
    adjust_health(1);
  }
  const std::uint32_t position = table_.find(probe_.target_id);
  if (position == member_table::npos) {
    return;
  }
  auto& target = table_.at(position);
  if (target.state() == member_state::alive) {
    ++stats_.suspicions_raised;
    suspect(position, target.incarnation, self_id_, now);
  } else if (target.state() == member_state::suspect && confirm(probe_.target_id, self_id_)) {
    queue_update(position, self_id_);
  }
}

void swim::impl::suspect(std::uint32_t position, std::uint64_t incarnation,
                         const std::string& reporter, timestamp now) {
  auto& entry = table_.at(position);
  set_state(entry, member_state::suspect, incarnation, now);

  const auto members = static_cast<double>(alive_count());
  const double scale = std::log10(std::max(members, 10.0));
  suspicion timer;
  timer.incarnation = incarnation;
  timer.start = now;
  timer.min_timeout = timestamp(static_cast<std::int64_t>(
      config_.suspicion_multiplier * scale * static_cast<double>(config_.probe_interval.count())));
  timer.max_timeout = timer.min_timeout * config_.suspicion_max_multiplier;
  // Lifeguard expects suspicion_multiplier - 2 confirmations; with too few
  // other members to send them the timeout is the minimum from the start.
  const std::uint32_t expected =
      config_.suspicion_multiplier > 2 ? config_.suspicion_multiplier - 2 : 0;
  timer.expected_confirmations = alive_count() >= expected + 2 ? expected : 0;
  timer.reporters.push_back(reporter);
  timer.deadline = timer.start + timer.timeout();
  suspicions_[entry.info->node_id] = std::move(timer);

  emit(event::kind::suspected, entry);
  queue_update(position, reporter);
}

bool swim::impl::confirm(const std::string& node_id, const std::string& reporter) {
  const auto found = suspicions_.find(node_id);
  if (found == suspicions_.end() || reporter.empty()) {
    return false;
  }
  auto& timer = found->second;
  if (std::find(timer.reporters.begin(), timer.reporters.end(), reporter) != timer.reporters.end()) {
    return false;
  }
  timer.reporters.push_back(reporter);
  timer.deadline = timer.start + timer.timeout();
  return true;
}

void swim::impl::expire_suspicions(timestamp now) {
  std::vector<std::string> expired;
  for (const auto& [node_id, timer] : suspicions_) {
    if (timer.deadline <= now) {
      expired.push_back(node_id);
    }
  }
  for (const auto& node_id : expired) {
    const auto position = table_.find(node_id);
    suspicions_.erase(node_id);
    if (position == member_table::npos || table_.at(position).state() != member_state::suspect) {
      continue;
    }
    auto& entry = table_.at(position);
    set_state(entry, member_state::dead, entry.incarnation, now);
    emit(event::kind::died, entry);
    queue_update(position, self_id_);
  }
}

std::uint32_t swim::impl::next_probe_target() {
  const auto self = self_position();
  for (int pass = 0; pass < 2; ++pass) {
    while (probe_cursor_ < probe_order_.size()) {
      const std::uint32_t position = probe_order_[probe_cursor_++];
      if (position < table_.size() && position != self && is_reachable(table_.at(position).state())) {
        return position;
      }
    }
    reset_probe_order();
  }
  return member_table::npos;
}

void swim::impl::add_to_probe_order(std::uint32_t position) {
  // A new member goes to a random place among those not yet probed this pass,
  // as in SWIM's randomized round robin.
  probe_order_.push_back(position);
  const std::size_t last = probe_order_.size() - 1;
  const std::size_t first = std::min(probe_cursor_, last);
  const std::size_t swap_with = std::uniform_int_distribution<std::size_t>(first, last)(rng_);
  std::swap(probe_order_[swap_with], probe_order_[last]);
}

void swim::impl::reset_probe_order() {
  probe_order_.resize(table_.size());
  for (std::uint32_t position = 0; position < table_.size(); ++position) {
    probe_order_[position] = position;
  }
  std::shuffle(probe_order_.begin(), probe_order_.end(), rng_);
  probe_cursor_ = 0;
}

}  // namespace mesh::membership
