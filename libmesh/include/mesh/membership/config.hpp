#pragma once
// Timing and fan-out parameters of the SWIM membership protocol. Every field
// can be set from the node configuration; docs/operations.md lists the
// defaults and what each one trades off.

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "mesh/error.hpp"

namespace mesh::membership {

// Accepted range of a numeric field of swim_config, in milliseconds for a
// duration.
struct field_range {
  std::uint64_t min;
  std::uint64_t max;
};

// The ranges that swim_config::validate() accepts. The node configuration
// loader parses each key against the same range, so that a value out of
// range is reported under the flag, variable or YAML key that set it.
namespace ranges {
inline constexpr std::uint64_t minute_ms = 60'000;
inline constexpr std::uint64_t hour_ms = 60 * minute_ms;
inline constexpr std::uint64_t day_ms = 24 * hour_ms;

inline constexpr field_range probe_interval{10, minute_ms};
inline constexpr field_range probe_timeout{1, minute_ms};
inline constexpr field_range indirect_probes{0, 16};
inline constexpr field_range gossip_interval{1, minute_ms};
inline constexpr field_range gossip_fanout{1, 64};
inline constexpr field_range gossip_cold_targets{0, 64};
inline constexpr field_range gossip_cold_scale_threshold{1, 1'000'000};
inline constexpr field_range gossip_news_interval{1, minute_ms};
inline constexpr field_range retransmit_multiplier{1, 64};
inline constexpr field_range push_pull_interval{100, day_ms};
inline constexpr field_range push_pull_scale_threshold{1, 1'000'000};
inline constexpr field_range suspicion_multiplier{1, 100};
inline constexpr field_range suspicion_max_multiplier{1, 100};
inline constexpr field_range gossip_to_dead{0, day_ms};
inline constexpr field_range dead_reap_after{1, day_ms};
inline constexpr field_range awareness_max_multiplier{0, 100};
inline constexpr field_range join_retry_initial{1, hour_ms};
inline constexpr field_range join_retry_max{1, day_ms};
}  // namespace ranges

struct swim_config {
  // Period of the failure detector: one member is probed per interval.
  // 400 ms rather than 500 ms: in the simulator (docs/membership.md) a
  // stopped node among 100 is then declared dead after about 4 s, not 5 s.
  // That is under half of what memberlist's LAN defaults give (1 s probes),
  // and the suspicion multiplier, the margin against false deaths, stays 4.
  std::chrono::milliseconds probe_interval{400};
  // Time to wait for a direct ack before sending indirect probes.
  std::chrono::milliseconds probe_timeout{200};
  // Members asked to probe the target on our behalf when the direct probe fails.
  std::uint32_t indirect_probes{3};
  // Period of gossip rounds that send queued updates without a probe.
  // memberlist's LAN value. 100 ms with fanout 4 spreads updates faster in
  // the simulator. In a 100-process join storm on two cores, though, that
  // traffic starved the nodes: 7.6 s to converge and 287 to 630 false
  // deaths, against 5.5 s and 8 to 28 with 200 ms and fanout 3.
  std::chrono::milliseconds gossip_interval{200};
  // Members contacted per gossip round, as memberlist.
  std::uint32_t gossip_fanout{3};
  // Of those, at most this many are cold: members this node has not sent a
  // message to in the last minute. The others are picked among members it
  // has contacted. Over ZeroMQ CURVE a first contact costs a handshake (about
  // 1.4 ms CPU for both ends), and in a 100-process join storm random targets
  // made about 5,000 of them within seconds. With 1, the storm converged in
  // about 2 s instead of 3 to 4.7 s. Set it to gossip_fanout for classic
  // SWIM, where every target is random. 0 gossips to contacted members only,
  // and probes alone make new contacts. That saves more handshakes where many
  // nodes share few cores, but spreads news more slowly (docs/membership.md).
  std::uint32_t gossip_cold_targets{1};
  // Alive members above which gossip_cold_targets no longer applies and
  // every target of a regular round is random, as in classic SWIM. The
  // contacted members of a large mesh are a small share of it, so gossip
  // that keeps going to them repeats news. At 3,000 simulated nodes one
  // cold target per round left the mesh complete 6.2 s after the last
  // join, random targets 1.2 s. Handshakes matter where many nodes share
  // few cores, which is rare for a mesh of hundreds of processes
  // (docs/membership.md, "Where the large-mesh tail comes from").
  std::uint32_t gossip_cold_scale_threshold{256};
  // Shortest gap between gossip rounds while updates that were never sent
  // wait in the queue. News then travels one hop per this gap instead of one
  // per gossip_interval. Such a news round goes to contacted members only,
  // so it costs no handshake. Without news the rounds keep gossip_interval,
  // and gossip_interval or more turns news rounds off. In the simulator,
  // 1,000 nodes joining at 100 per second were complete 1.5 to 3.0 s after
  // the last join, against 4.5 to 4.8 s without, for 13 to 27 % more
  // messages (docs/membership.md, "News rounds").
  std::chrono::milliseconds gossip_news_interval{100};
  // Each update is retransmitted retransmit_multiplier * ceil(log10(N + 1)) times.
  std::uint32_t retransmit_multiplier{4};
  // Full state exchange with one random member per interval, at or below
  // push_pull_scale_threshold alive members; see scaled_push_pull_interval().
  std::chrono::milliseconds push_pull_interval{15000};
  // Alive members above which the push-pull interval grows by one interval
  // per doubling of the member count. A full state has N entries, so without
  // the scaling the push-pull traffic of the mesh grows like N^2; with it,
  // like N log N. 32 as in memberlist.
  std::uint32_t push_pull_scale_threshold{32};
  // Minimum suspicion timeout = suspicion_multiplier * log10(max(N, 10)) * probe_interval.
  std::uint32_t suspicion_multiplier{4};
  // Maximum suspicion timeout = suspicion_max_multiplier * minimum; the
  // timeout starts at the maximum and shrinks as other members confirm.
  std::uint32_t suspicion_max_multiplier{3};
  // Gossip rounds also pick members that died less than this long ago, so that
  // a member wrongly declared dead hears it and refutes.
  std::chrono::milliseconds gossip_to_dead{std::chrono::seconds(30)};
  // Dead and left members are forgotten after this long.
  std::chrono::milliseconds dead_reap_after{std::chrono::minutes(5)};
  // Upper bound of the local health multiplier (Lifeguard): the probe
  // interval and the probe timeout are multiplied by (local health + 1), so
  // a node that is itself slow probes less often and waits longer before it
  // suspects anyone. 8 as in memberlist; 0 turns the scaling off.
  std::uint32_t awareness_max_multiplier{8};
  // Join retries back off from join_retry_initial, doubling up to join_retry_max.
  std::chrono::milliseconds join_retry_initial{500};
  std::chrono::milliseconds join_retry_max{10000};

  // Checks every field; the error names the field, its value and the accepted range.
  [[nodiscard]] result<void> validate() const;
};

// Push-pull interval for `alive_members` alive members, this node included:
// push_pull_interval up to push_pull_scale_threshold members, and
// push_pull_interval * (k + 1) above it, where k is the smallest integer
// with threshold * 2^k >= alive_members. With the defaults: 15 s at 32
// members, 30 s at 33 to 64, 90 s at 1,000 and 150 s at 10,000.
[[nodiscard]] std::chrono::milliseconds scaled_push_pull_interval(const swim_config& config,
                                                                  std::size_t alive_members);

}  // namespace mesh::membership
