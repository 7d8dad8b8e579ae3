// swim_config::validate: defaults pass, each out-of-range field is named.
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

}  // namespace
}  // namespace mesh::membership
