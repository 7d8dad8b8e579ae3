// swim_config::validate: defaults pass, each out-of-range field is named.
// scaled_push_pull_interval: the push-pull interval as the member count grows.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mesh/membership/config.hpp"

namespace mesh::membership {
namespace {

using namespace std::chrono_literals;

std::string rejection(const swim_config& config) {
  const auto checked = config.validate();
  if (checked) {
    return "";
  }
  EXPECT_EQ(checked.err().code, errc::invalid_config);
  return checked.err().message;
}

TEST(SwimConfig, DefaultsAreValid) {
  EXPECT_EQ(rejection(swim_config{}), "");
}

TEST(SwimConfig, RejectsZeroProbeInterval) {
  swim_config config;
  config.probe_interval = 0ms;
  EXPECT_NE(rejection(config).find("membership.probe_interval = 0"), std::string::npos);
}

TEST(SwimConfig, RejectsProbeTimeoutNotBelowInterval) {
  swim_config config;
  config.probe_timeout = config.probe_interval;
  EXPECT_NE(rejection(config).find("probe_timeout"), std::string::npos);
}

TEST(SwimConfig, RejectsZeroFanout) {
  swim_config config;
  config.gossip_fanout = 0;
  EXPECT_NE(rejection(config).find("membership.gossip_fanout = 0 is invalid; accepted: 1 to 64"),
            std::string::npos);
}

// Each count field accepts the ends of its range and rejects the value just
// outside, with a message that names the field, the value and the range.
TEST(SwimConfig, CountRanges) {
  struct count_case {
    std::uint32_t swim_config::*field;
    const char* name;
    std::uint32_t min;
    std::uint32_t max;
  };
  const count_case cases[] = {
      {&swim_config::gossip_cold_targets, "gossip_cold_targets", 0, 64},
      {&swim_config::gossip_cold_scale_threshold, "gossip_cold_scale_threshold", 1, 1000000},
      {&swim_config::push_pull_scale_threshold, "push_pull_scale_threshold", 1, 1000000},
  };
  for (const auto& c : cases) {
    swim_config config;
    config.*c.field = c.min;
    EXPECT_EQ(rejection(config), "") << c.name;
    config.*c.field = c.max;
    EXPECT_EQ(rejection(config), "") << c.name;

    const auto outside = c.min > 0 ? c.min - 1 : c.max + 1;
    config.*c.field = outside;
    const auto expected =
        fmt::format("membership.{} = {} is invalid; accepted: {} to {}", c.name, outside, c.min, c.max);
    EXPECT_NE(rejection(config).find(expected), std::string::npos) << c.name;
  }
}

TEST(SwimConfig, NewsIntervalRange) {
  swim_config config;
  config.gossip_news_interval = 1ms;
  EXPECT_EQ(rejection(config), "");
  config.gossip_news_interval = 0ms;
  EXPECT_NE(rejection(config).find("membership.gossip_news_interval = 0 is invalid; accepted: 1 ms to 60000 ms"),
            std::string::npos);
}

TEST(SwimConfig, RejectsZeroSuspicionMultiplier) {
  swim_config config;
  config.suspicion_multiplier = 0;
  EXPECT_NE(rejection(config).find("suspicion_multiplier"), std::string::npos);
}

TEST(SwimConfig, RejectsRetryMaximumBelowInitial) {
  swim_config config;
  config.join_retry_initial = 5s;
  config.join_retry_max = 1s;
  EXPECT_NE(rejection(config).find("join_retry_max = 1000 ms"), std::string::npos);
}

// The defaults: a 15 s interval, scaled above 32 alive members.
TEST(PushPullScaling, DefaultIntervalAtTenMembers) {
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 10), 15s);
}

TEST(PushPullScaling, ThresholdItselfIsNotScaled) {
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 32), 15s);
}

TEST(PushPullScaling, DoubledJustAboveThreshold) {
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 33), 30s);
}

TEST(PushPullScaling, ExactDoublingsHaveNoRoundingError) {
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 64), 30s);
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 65), 45s);
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 1024), 90s);
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 1025), 105s);
}

TEST(PushPullScaling, SixIntervalsAtThousandMembers) {
  // 32 * 2^5 = 1024 covers 1,000 members: 5 doublings, 6 intervals.
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 1000), 90s);
}

TEST(PushPullScaling, TenIntervalsAtTenThousandMembers) {
  // 32 * 2^9 = 16,384 covers 10,000 members: 9 doublings, 10 intervals.
  EXPECT_EQ(scaled_push_pull_interval(swim_config{}, 10000), 150s);
}

TEST(PushPullScaling, FollowsConfiguredThresholdAndInterval) {
  swim_config config;
  config.push_pull_interval = 2s;
  config.push_pull_scale_threshold = 100;
  EXPECT_EQ(scaled_push_pull_interval(config, 10), 2s);
  EXPECT_EQ(scaled_push_pull_interval(config, 100), 2s);
  EXPECT_EQ(scaled_push_pull_interval(config, 101), 4s);
  EXPECT_EQ(scaled_push_pull_interval(config, 1000), 10s);
  EXPECT_EQ(scaled_push_pull_interval(config, 10000), 16s);
}

TEST(PushPullScaling, GrowsMonotonicallyWithMembers) {
  const swim_config config;
  auto previous = scaled_push_pull_interval(config, 1);
  for (std::size_t members = 2; members <= 20000; ++members) {
    const auto interval = scaled_push_pull_interval(config, members);
    ASSERT_GE(interval, previous) << "members=" << members;
    previous = interval;
  }
}

}  // namespace
}  // namespace mesh::membership
