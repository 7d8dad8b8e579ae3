// The SWIM + Lifeguard state machine; see swim.hpp and docs/membership.md.
#include "mesh/membership/swim.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "membership/member_store.hpp"
#include "mesh/membership/codec.hpp"

namespace mesh::membership {

namespace {

using mesh::v1::MembershipMessage;
using mesh::v1::MemberUpdate;

// Returned by next_wakeup() when nothing is scheduled; far enough away to
// mean "never" and small enough that `never - now` cannot overflow.
constexpr timestamp never{std::numeric_limits<std::int64_t>::max() / 4};

// Gossip updates waiting per node. Beyond it the most transmitted updates are
// dropped; periodic push-pull repairs anything lost that way.
// NOTE: sized for the simulator's 10,000-node join storm; in steady state the
// queue contains a handful of updates.
constexpr std::size_t gossip_queue_capacity = 1024;

// A node that just joined runs follow_up_push_pull_count extra push-pulls,
// the first one this many probe intervals after the join and each further one
// after twice the previous wait. Measured in the simulator: with a single
// follow-up after 2 intervals, 1 in 1,000 joiners still missed a member
// until the next periodic push-pull, 90 s later at that size. The first one
// comes after one interval because members that join at the same moment
// as this node often learn of each other only this way: their join gossip
// runs out of retransmissions before the others know of this node (seen with
// 50 processes joining one seed on loopback).
constexpr int follow_up_push_pull_after = 1;
constexpr int follow_up_push_pull_count = 2;

// After its join a node adds its own alive update to every message it sends,
// for this many push-pull periods. A member that joined while this node's
// join gossip was spreading may never receive that gossip. It then learns
// of this node from the first probe or gossip round this node sends it,
// instead of at the next push-pull. Seen with 100 processes joining one seed
// on two cores: one member missed another for 37 s without it.
constexpr int self_announce_push_pull_periods = 1;

// A helper of an indirect probe sends a nack when the target has not acked
// within this fraction of its probe timeout, early enough that the nack
// reaches the requester before the requester's probe interval ends.
constexpr double nack_timeout_fraction = 0.8;

// A member this node sent a message to within this window counts as a
// recent contact, because the transport most likely still has a
// connection to it.
constexpr timestamp contact_window = std::chrono::seconds(60);

// Gossip entries kept for reuse by recycle(). 128 covers two messages with
// the maximum of 64 entries, at about 200 bytes each.
constexpr std::size_t spare_updates_capacity = 128;

// Rank of a state at equal incarnation: a higher rank overrides a lower one.
int precedence(member_state state) {
  return static_cast<int>(state);
}

// True when an update (state, incarnation) replaces the recorded one.
bool supersedes(member_state state, std::uint64_t incarnation, member_state current,
                std::uint64_t current_incarnation) {
  if (incarnation != current_incarnation) {
    return incarnation > current_incarnation;
  }
  return precedence(state) > precedence(current);
}

// encode() overwrites every known field of a reused entry but not the
// unknown ones that came from the wire, so such entries are not reused.
bool has_unknown_fields(const MemberUpdate& update) {
  const auto& info = update.info();
  return !update.GetReflection()->GetUnknownFields(update).empty() ||
         !info.GetReflection()->GetUnknownFields(info).empty();
}

bool has_unknown_fields(const mesh::v1::PushPull& push_pull) {
  if (!push_pull.GetReflection()->GetUnknownFields(push_pull).empty()) {
    return true;
  }
  return std::any_of(push_pull.members().begin(), push_pull.members().end(),
                     [](const MemberUpdate& update) { return has_unknown_fields(update); });
}

bool is_reachable(member_state state) {
  return state == member_state::alive || state == member_state::suspect;
}

}  // namespace

// Suspicion timer of one member (Lifeguard): it starts at the maximum timeout
// and shrinks toward the minimum as independent reporters confirm.
struct suspicion {
  std::uint64_t incarnation = 0;
  timestamp start{0};
  timestamp min_timeout{0};
  timestamp max_timeout{0};
  std::uint32_t expected_confirmations = 0;
  std::vector<std::string> reporters;  // the first reporter plus every confirmation
  timestamp deadline{0};

  [[nodiscard]] timestamp timeout() const {
    const auto confirmations = static_cast<double>(reporters.size() - 1);
    if (expected_confirmations == 0) {
      return min_timeout;
    }
    const double fraction =
        std::log(confirmations + 1.0) / std::log(static_cast<double>(expected_confirmations) + 1.0);
    const double span = static_cast<double>((max_timeout - min_timeout).count());
    const auto shrunk = max_timeout - timestamp(static_cast<std::int64_t>(std::floor(fraction * span)));
    return std::max(min_timeout, shrunk);
  }
};

class swim::impl {
 public:
  impl(swim_config config, member_info self, std::uint64_t initial_incarnation, std::uint64_t seed,
       timestamp now, std::shared_ptr<info_pool> pool);

  void join(const std::vector<std::string>& seed_addresses, timestamp now);
  [[nodiscard]] bool joined() const { return joined_; }
  [[nodiscard]] bool join_retry_due(timestamp now) const {
    return !joined_ && join_started_ && now >= next_join_retry_;
  }
  void receive(const std::string& from_address, const MembershipMessage& message, timestamp now);
  void tick(timestamp now);
  void leave(timestamp now);
  void set_load(std::uint32_t load);

  std::vector<outbound> take_outbox() { return std::exchange(outbox_, {}); }
  void recycle(MembershipMessage&& message);
  std::vector<event> take_events() { return std::exchange(events_, {}); }
  [[nodiscard]] std::vector<member> members() const;
  [[nodiscard]] const member& self() const { return self_cache_; }
  [[nodiscard]] std::size_t alive_count() const {
    return counts_[static_cast<std::size_t>(member_state::alive)] +
           counts_[static_cast<std::size_t>(member_state::suspect)];
  }
  [[nodiscard]] std::size_t count(member_state state) const {
    return counts_[static_cast<std::size_t>(state)];
  }
  [[nodiscard]] timestamp next_wakeup() const;
  [[nodiscard]] const statistics& stats() const { return stats_; }

 private:
  // The probe this node runs in the current probe interval.
  struct probe {
    bool active = false;
    bool indirect_sent = false;
    std::string target_id;
    std::uint64_t sequence = 0;
    timestamp indirect_at{0};
    timestamp end{0};
    std::uint32_t expected_nacks = 0;  // helpers asked for a nack
    std::uint32_t nacks = 0;           // nacks received so far
  };

  // A ping sent on behalf of another member; its ack is forwarded, and
  // without an ack by nack_at a nack goes to the requester.
  struct relay {
    std::string requester_address;
    std::uint64_t requester_sequence = 0;
    timestamp expires{0};
    bool nack_pending = false;
    timestamp nack_at{0};
  };

  // Receiving.
  void handle_ping(const std::string& from_address, const mesh::v1::Ping& ping);
  void handle_ack(const mesh::v1::Ack& ack);
  void handle_nack(const mesh::v1::Nack& nack);
  void handle_ping_request(const std::string& from_address, const mesh::v1::PingRequest& request,
                           timestamp now);
  void handle_push_pull(const std::string& from_address, const mesh::v1::PushPull& push_pull,
                        timestamp now);
  void apply_update(const MemberUpdate& update, bool from_push_pull, timestamp now);
  void add_member(const MemberUpdate& update, member_state state, timestamp now);
  void apply_to_self(const MemberUpdate& update, member_state state);
  void refute(std::uint64_t heard_incarnation, bool accused);

  // Probing and suspicion.
  void run_probe(timestamp now);
  void start_probe(timestamp now);
  void send_indirect_probes(timestamp now);
  void probe_failed(timestamp now);
  void suspect(std::uint32_t position, std::uint64_t incarnation, const std::string& reporter,
               timestamp now);
  bool confirm(const std::string& node_id, const std::string& reporter);
  void expire_suspicions(timestamp now);
  [[nodiscard]] std::uint32_t next_probe_target();
  void add_to_probe_order(std::uint32_t position);
  void reset_probe_order();

  // Dissemination.
  // Sends queued updates to gossip_fanout members, at most `cold_limit` of
  // them cold, and counts as a round for the pacing of news rounds.
  void gossip_round(timestamp now, std::size_t cold_limit);
  // Sends queued updates like gossip_round without counting as a round.
  void send_gossip(timestamp now, std::size_t cold_limit);
  void push_pull_round(timestamp now);
  void reap(timestamp now);
  void expire_relays(timestamp now);
  void send_due_nacks(timestamp now);

  // Local health (Lifeguard).
  void adjust_health(int delta);
  [[nodiscard]] timestamp scaled(timestamp period) const {
    return period * (std::int64_t{stats_.local_health} + 1);
  }
  void queue_update(std::uint32_t position, const std::string& reporter);
  void send(const std::string& address, MembershipMessage message);
  void fill_full_state(MembershipMessage& message);
  void encode(const member_table::entry& entry, const info_ref& reporter, MemberUpdate& out) const;
  [[nodiscard]] MemberUpdate* spare_update();
  [[nodiscard]] std::uint32_t retransmit_limit() const;
  [[nodiscard]] timestamp push_pull_period() const;
  template <class Predicate>
  [[nodiscard]] std::vector<std::uint32_t> random_members(std::size_t count, Predicate accept);
  // Like random_members, but at most `cold_limit` of the chosen members lack
  // a recent contact; cold picks beyond it are skipped.
  template <class Predicate>
  [[nodiscard]] std::vector<std::uint32_t> random_members_warm(std::size_t count, std::size_t cold_limit,
                                                               timestamp now, Predicate accept);
  [[nodiscard]] bool recently_contacted(const member_table::entry& entry, timestamp now) const {
    return entry.last_contact != member_table::never_contacted && now - entry.last_contact < contact_window;
  }
  void mark_contact(std::uint32_t position, timestamp now) { table_.at(position).last_contact = now; }

  // State changes.
  void set_state(member_table::entry& entry, member_state state, std::uint64_t incarnation,
                 timestamp now);
  void emit(event::kind what, const member_table::entry& entry);
  [[nodiscard]] std::uint32_t self_position() const { return table_.find(self_id_); }
  void refresh_self_cache();
  [[nodiscard]] info_ref reporter_ref(const std::string& node_id) const;

  // The pool is declared first so that it outlives every info_ref below.
  std::shared_ptr<info_pool> pool_;
  swim_config config_;
  codec_limits limits_;
  std::mt19937_64 rng_;
  std::string self_id_;
  std::string self_address_;

  member_table table_;
  std::array<std::size_t, 4> counts_{};
  member self_cache_;

  bool joined_ = false;
  bool join_started_ = false;
  bool left_ = false;
  timestamp next_join_retry_{0};
  timestamp join_backoff_{0};

  std::vector<std::uint32_t> probe_order_;
  std::size_t probe_cursor_ = 0;
  probe probe_;
  std::uint64_t next_sequence_ = 1;
  std::unordered_map<std::uint64_t, relay> relays_;
  std::unordered_map<std::string, suspicion> suspicions_;
  std::deque<std::pair<timestamp, std::string>> reap_queue_;  // ordered by due time

  timestamp next_probe_at_{0};
  timestamp next_gossip_at_{0};
  timestamp last_gossip_at_{0};
  // An update was queued since the last gossip round, so a news round is due.
  bool news_waiting_ = false;
  timestamp next_push_pull_at_{0};
  int follow_up_push_pulls_ = 0;
  // Until this time every message carries this node's own alive update.
  timestamp announce_self_until_{0};
  bool announce_self_ = false;

  gossip_queue gossip_{gossip_queue_capacity};
  std::vector<outbound> outbox_;
  // Gossip entries of recycled messages. Their strings and sub-messages are
  // still allocated, so encoding into them overwrites instead of allocating.
  std::vector<std::unique_ptr<MemberUpdate>> spare_updates_;
  std::vector<event> events_;
  statistics stats_{};
};

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

// --- receiving --------------------------------------------------------------

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
      gossip_round(now, config_.gossip_cold_targets);
    }
    return;
  }

  if (!joined_) {
    joined_ = true;
    announce_self_ = true;
    announce_self_until_ = now + self_announce_push_pull_periods * push_pull_period();
    // Not a round for the news pacing, so a news round repeats the announcement
    // at the next tick; docs/membership.md ("News rounds") has the speed-up.
    send_gossip(now, config_.gossip_cold_targets);

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
      queue_update(position, {});
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
  queue_update(position, {});
}

// --- probing and suspicion --------------------------------------------------

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

// --- dissemination ----------------------------------------------------------

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

void swim::impl::queue_update(std::uint32_t position, const std::string& reporter) {
  const auto& entry = table_.at(position);
  gossip_item item;
  item.info = entry.info;
  item.reporter = reporter_ref(reporter);
  item.incarnation = entry.incarnation;
  item.state = entry.state();
  item.second_round = item.state == member_state::alive;
  gossip_.push(std::move(item));
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

template <class Predicate>
std::vector<std::uint32_t> swim::impl::random_members(std::size_t count, Predicate accept) {
  std::vector<std::uint32_t> chosen;
  const std::uint32_t size = table_.size();
  if (size <= 1 || count == 0) {
    return chosen;
  }
  std::uniform_int_distribution<std::uint32_t> pick(0, size - 1);
  for (std::size_t attempt = 0; attempt < 3 * std::size_t{size} && chosen.size() < count; ++attempt) {
    const std::uint32_t position = pick(rng_);
    if (std::find(chosen.begin(), chosen.end(), position) == chosen.end() && accept(position)) {
      chosen.push_back(position);
    }
  }
  return chosen;
}

template <class Predicate>
std::vector<std::uint32_t> swim::impl::random_members_warm(std::size_t count, std::size_t cold_limit,
                                                           timestamp now, Predicate accept) {
  std::size_t cold = 0;
  return random_members(count, [&](std::uint32_t position) {
    if (!accept(position)) {
      return false;
    }
    if (recently_contacted(table_.at(position), now)) {
      return true;
    }
    if (cold >= cold_limit) {
      return false;
    }
    ++cold;
    return true;
  });
}

// --- timers -----------------------------------------------------------------

void swim::impl::tick(timestamp now) {
  if (announce_self_ && now >= announce_self_until_) {
    announce_self_ = false;
  }
  if (now >= next_gossip_at_) {
    next_gossip_at_ = now + config_.gossip_interval;
    gossip_round(now, config_.gossip_cold_targets);
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
