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

result<void> check_duration(std::string_view field, milliseconds value, field_range range) {
  const auto count = value.count();
  if (count < 0 || static_cast<std::uint64_t>(count) < range.min || static_cast<std::uint64_t>(count) > range.max) {
    return out_of_range(field, count, fmt::format("{} ms to {} ms", range.min, range.max));
  }
  return {};
}

result<void> check_count(std::string_view field, std::uint32_t value, field_range range) {
  if (value < range.min || value > range.max) {
    return out_of_range(field, value, fmt::format("{} to {}", range.min, range.max));
  }
  return {};
}

}  // namespace

result<void> swim_config::validate() const {
  const result<void> checks[] = {
      check_duration("probe_interval", probe_interval, ranges::probe_interval),
      check_duration("probe_timeout", probe_timeout, ranges::probe_timeout),
      check_count("indirect_probes", indirect_probes, ranges::indirect_probes),
      check_duration("gossip_interval", gossip_interval, ranges::gossip_interval),
      check_count("gossip_fanout", gossip_fanout, ranges::gossip_fanout),
      check_count("gossip_cold_targets", gossip_cold_targets, ranges::gossip_cold_targets),
      check_count("gossip_cold_scale_threshold", gossip_cold_scale_threshold, ranges::gossip_cold_scale_threshold),
      check_duration("gossip_news_interval", gossip_news_interval, ranges::gossip_news_interval),
      check_count("retransmit_multiplier", retransmit_multiplier, ranges::retransmit_multiplier),
      check_duration("push_pull_interval", push_pull_interval, ranges::push_pull_interval),
      check_count("push_pull_scale_threshold", push_pull_scale_threshold, ranges::push_pull_scale_threshold),
      check_count("suspicion_multiplier", suspicion_multiplier, ranges::suspicion_multiplier),
      check_count("suspicion_max_multiplier", suspicion_max_multiplier, ranges::suspicion_max_multiplier),
      check_duration("gossip_to_dead", gossip_to_dead, ranges::gossip_to_dead),
      check_duration("dead_reap_after", dead_reap_after, ranges::dead_reap_after),
      check_count("awareness_max_multiplier", awareness_max_multiplier, ranges::awareness_max_multiplier),
      check_duration("join_retry_initial", join_retry_initial, ranges::join_retry_initial),
      check_duration("join_retry_max", join_retry_max, ranges::join_retry_max),
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
