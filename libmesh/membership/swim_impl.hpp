#pragma once
// The swim state machine's private class and constants, shared by its
// files: swim.cpp (construction, joining, timers, leaving, state changes),
// swim_receive.cpp (message handlers and updates), swim_probe.cpp (probes
// and suspicion) and swim_gossip.cpp (gossip, push-pull and encoding).

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "membership/member_store.hpp"
#include "mesh/membership/codec.hpp"
#include "mesh/membership/swim.hpp"

namespace mesh::membership {

using mesh::v1::MembershipMessage;
using mesh::v1::MemberUpdate;

// Returned by next_wakeup() when nothing is scheduled; far enough away to
// mean "never" and small enough that `never - now` cannot overflow.
inline constexpr timestamp never{std::numeric_limits<std::int64_t>::max() / 4};

// Gossip updates waiting per node. Beyond it the most transmitted updates are
// dropped; periodic push-pull repairs anything lost that way.
// NOTE: sized for the simulator's 10,000-node join storm; in steady state the
// queue contains a handful of updates.
inline constexpr std::size_t gossip_queue_capacity = 1024;

// A node that just joined runs follow_up_push_pull_count extra push-pulls,
// the first one this many probe intervals after the join and each further one
// after twice the previous wait. Measured in the simulator: with a single
// follow-up after 2 intervals, 1 in 1,000 joiners still missed a member
// until the next periodic push-pull, 90 s later at that size. The first one
// comes after one interval, because members that join at the same moment as
// this node often learn of each other only this way. Their join gossip runs
// out of retransmissions before the others know of this node (seen with 50
// processes joining one seed on loopback).
inline constexpr int follow_up_push_pull_after = 1;
inline constexpr int follow_up_push_pull_count = 2;

// After its join a node adds its own alive update to every message it sends,
// for this many push-pull periods. A member that joined while this node's
// join gossip was spreading may never receive that gossip. It then learns
// of this node from the first probe or gossip round this node sends it,
// instead of at the next push-pull. Seen with 100 processes joining one seed
// on two cores: one member missed another for 37 s without it.
inline constexpr int self_announce_push_pull_periods = 1;

// A helper of an indirect probe sends a nack when the target has not acked
// within this fraction of its probe timeout, early enough that the nack
// reaches the requester before the requester's probe interval ends.
inline constexpr double nack_timeout_fraction = 0.8;

// A member this node sent a message to within this window counts as a
// recent contact, because the transport most likely still has a
// connection to it.
inline constexpr timestamp contact_window = std::chrono::seconds(60);

// Gossip entries kept for reuse by recycle(). 128 covers two messages with
// the maximum of 64 entries, at about 200 bytes each.
inline constexpr std::size_t spare_updates_capacity = 128;

// Rank of a state at equal incarnation: a higher rank overrides a lower one.
inline int precedence(member_state state) {
  return static_cast<int>(state);
}

// True when an update (state, incarnation) replaces the recorded one.
inline bool supersedes(member_state state, std::uint64_t incarnation, member_state current,
                std::uint64_t current_incarnation) {
  if (incarnation != current_incarnation) {
    return incarnation > current_incarnation;
  }
  return precedence(state) > precedence(current);
}

// encode() overwrites every known field of a reused entry but not the
// unknown ones that came from the wire, so such entries are not reused.
inline bool has_unknown_fields(const MemberUpdate& update) {
  const auto& info = update.info();
  return !update.GetReflection()->GetUnknownFields(update).empty() ||
         !info.GetReflection()->GetUnknownFields(info).empty();
}

inline bool has_unknown_fields(const mesh::v1::PushPull& push_pull) {
  if (!push_pull.GetReflection()->GetUnknownFields(push_pull).empty()) {
    return true;
  }
  return std::any_of(push_pull.members().begin(), push_pull.members().end(),
                     [](const MemberUpdate& update) { return has_unknown_fields(update); });
}

inline bool is_reachable(member_state state) {
  return state == member_state::alive || state == member_state::suspect;
}

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
  // Returns the cold targets allowed in a regular round: gossip_cold_targets,
  // or every target above gossip_cold_scale_threshold alive members.
  [[nodiscard]] std::size_t regular_cold_limit() const {
    if (alive_count() > config_.gossip_cold_scale_threshold) {
      return std::max(config_.gossip_fanout, config_.gossip_cold_targets);
    }
    return config_.gossip_cold_targets;
  }
  void push_pull_round(timestamp now);
  void reap(timestamp now);
  void expire_relays(timestamp now);
  void send_due_nacks(timestamp now);

  // Local health (Lifeguard).
  void adjust_health(int delta);
  [[nodiscard]] timestamp scaled(timestamp period) const {
    return period * (std::int64_t{stats_.local_health} + 1);
  }
  // Queues the member's current entry as gossip. `refutation` marks alive
  // news that overrides a suspicion or a death, which takes the urgent lane
  // as leaves do.
  void queue_update(std::uint32_t position, const std::string& reporter, bool refutation = false);
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
  // Whether the queue bound dropped news since the last tick.
  bool news_dropped_ = false;
  // Time of the push-pull that fills the gaps of dropped news: one
  // push_pull_interval after the last drop, before the scaled period.
  std::optional<timestamp> repair_push_pull_at_;
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

}  // namespace mesh::membership
