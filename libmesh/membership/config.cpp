// Range checks of swim_config; see config.hpp.
#include <fmt/format.h>

#include <algorithm>

#include "mesh/membership/config.hpp"

namespace mesh::membership {

namespace {

using std::chrono::milliseconds;

error out_of_range(std::string_view field, std::int64_t value, std::string_view accepted) {
  return fail(errc::invalid_config,
              fmt::format("membership.{} = {} is invalid; accepted: {}", field, value, accepted));
}

result<void> check_duration(std::string_view field, milliseconds value, milliseconds low,
                            milliseconds high) {
  if (value < low || value > high) {
    return out_of_range(field, value.count(),
                        fmt::format("{} ms to {} ms", low.count(), high.count()));
  }
  return {};
}

result<void> check_count(std::string_view field, std::uint32_t value, std::uint32_t low,
                         std::uint32_t high) {
  if (value < low || value > high) {
    return out_of_range(field, value, fmt::format("{} to {}", low, high));
  }
  return {};
}

}  // namespace

result<void> swim_config::validate() const {
  const milliseconds hour = std::chrono::hours(1);
  const milliseconds day = std::chrono::hours(24);

  const result<void> checks[] = {
      check_duration("probe_interval", probe_interval, milliseconds(10), std::chrono::minutes(1)),
      check_duration("probe_timeout", probe_timeout, milliseconds(1), std::chrono::minutes(1)),
      check_count("indirect_probes", indirect_probes, 0, 16),
      check_duration("gossip_interval", gossip_interval, milliseconds(1), std::chrono::minutes(1)),
      check_count("gossip_fanout", gossip_fanout, 1, 64),
      check_count("gossip_cold_targets", gossip_cold_targets, 0, 64),
      check_count("gossip_cold_scale_threshold", gossip_cold_scale_threshold, 1, 1000000),
      check_duration("gossip_news_interval", gossip_news_interval, milliseconds(1), std::chrono::minutes(1)),
      check_count("retransmit_multiplier", retransmit_multiplier, 1, 64),
      check_duration("push_pull_interval", push_pull_interval, milliseconds(100), day),
      check_count("push_pull_scale_threshold", push_pull_scale_threshold, 1, 1000000),
      check_count("suspicion_multiplier", suspicion_multiplier, 1, 100),
      check_count("suspicion_max_multiplier", suspicion_max_multiplier, 1, 100),
      check_duration("gossip_to_dead", gossip_to_dead, milliseconds(0), day),
      check_duration("dead_reap_after", dead_reap_after, milliseconds(1), day),
      check_count("awareness_max_multiplier", awareness_max_multiplier, 0, 100),
      check_duration("join_retry_initial", join_retry_initial, milliseconds(1), hour),
      check_duration("join_retry_max", join_retry_max, milliseconds(1), day),
  };
  for (const auto& checked : checks) {
    if (!checked) {
      return checked;
    }
  }

  if (probe_timeout >= probe_interval) {
    return fail(errc::invalid_config,
                fmt::format("membership.probe_timeout = {} ms is invalid; it must be less than "
                            "probe_interval = {} ms so that indirect probes fit in the interval",
                            probe_timeout.count(), probe_interval.count()));
  }
  if (join_retry_max < join_retry_initial) {
    return fail(errc::invalid_config,
                fmt::format("membership.join_retry_max = {} ms is invalid; it must be at least "
                            "join_retry_initial = {} ms",
                            join_retry_max.count(), join_retry_initial.count()));
  }
  return {};
}

milliseconds scaled_push_pull_interval(const swim_config& config, std::size_t alive_members) {
  // Integer form of memberlist's ceil(log2(N) - log2(threshold)) + 1, so
  // that exact doublings such as 64 members over 32 give no rounding error.
  const std::uint64_t threshold = std::max<std::uint32_t>(config.push_pull_scale_threshold, 1);
  if (alive_members <= threshold) {
    return config.push_pull_interval;
  }
  std::int64_t doublings = 0;
  for (std::uint64_t covered = threshold; covered < alive_members; covered *= 2) {
    ++doublings;
  }
  return config.push_pull_interval * (doublings + 1);
}

}  // namespace mesh::membership
