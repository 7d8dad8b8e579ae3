// A real Prometheus server scrapes a 4-node mesh on 127.0.0.1 and reports
// every node up; promtool finds nothing to complain about in a live scrape.
// Prometheus and promtool come from Debian's prometheus package, unpacked by
// scripts/install-deps; the tests skip with a message when they are absent.

#include <gtest/gtest.h>

#include <regex>

#include "support/cluster.hpp"

namespace mesh::testing {
namespace {

using namespace std::chrono_literals;

class mesh_prometheus : public ::testing::Test {
 protected:
  mesh_prometheus() : mesh_("mesh-prometheus") {}

  void SetUp() override {
    if (!std::filesystem::exists(tools_dir() / "prometheus")) {
      GTEST_SKIP() << "prometheus not found in " << tools_dir()
                   << "; run scripts/install-deps to unpack it";
    }
    auto& bootstrap = mesh_.add("bootstrap", "bootstrap-0");
    ASSERT_TRUE(mesh_.start(bootstrap, {}));
    for (int i = 1; i <= 3; ++i) {
      auto& worker = mesh_.add("worker", "worker-" + std::to_string(i));
      ASSERT_TRUE(mesh_.start(worker, {bootstrap.p2p_address()}));
    }
    const bool converged = eventually(30s, [&] {
      for (const auto& node : mesh_.nodes()) {
        if (alive_count(*node) != 4) {
          return false;
        }
      }
      return true;
    });
    ASSERT_TRUE(converged) << mesh_.logs();
  }

  cluster mesh_;
};

TEST_F(mesh_prometheus, server_reports_every_node_up) {
  const auto config_file = mesh_.dir() / "prometheus.yml";
  {
    std::ofstream config(config_file);
    config << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
           << "scrape_configs:\n  - job_name: mesh\n    static_configs:\n      - targets:\n";
    for (const auto& node : mesh_.nodes()) {
      config << "          - 127.0.0.1:" << node->ports.metrics << "\n";
    }
  }
  const auto web_port = free_port();
  child_process prometheus((tools_dir() / "prometheus").string(),
                           {"--config.file=" + config_file.string(),
                            "--storage.tsdb.path=" + (mesh_.dir() / "tsdb").string(),
                            "--web.listen-address=127.0.0.1:" + std::to_string(web_port)},
                           {}, mesh_.dir() / "prometheus.log");
  ASSERT_TRUE(prometheus.start());

  // The first scrape comes several seconds after the server starts.
  const std::regex up_sample(R"re("value":\[[0-9.]+,"1"\])re");
  std::string last_reply;
  const bool all_up = eventually(60s, [&] {
    auto reply = mesh::http::get(
        "http://127.0.0.1:" + std::to_string(web_port) + "/api/v1/query?query=up", 2s);
    if (!reply || reply->status != 200) {
      return false;
    }
    last_reply = reply->body;
    const auto count = std::distance(
        std::sregex_iterator(last_reply.begin(), last_reply.end(), up_sample),
        std::sregex_iterator());
    return count == 4;
  });
  EXPECT_TRUE(all_up) << "last reply: " << last_reply << "\n" << prometheus.log_tail();

  prometheus.signal(SIGTERM);
  EXPECT_TRUE(prometheus.wait_for_exit(20s).has_value());
}

TEST_F(mesh_prometheus, promtool_accepts_live_scrape) {
  const auto& node = *mesh_.nodes().front();
  auto scrape = mesh::http::get("http://127.0.0.1:" + std::to_string(node.ports.metrics) + "/metrics", 2s);
  ASSERT_TRUE(scrape.has_value());
  ASSERT_EQ(scrape->status, 200u);
  for (const auto* family : {"mesh_actor_messages_total", "mesh_actor_handler_seconds",
                             "mesh_actor_mailbox_depth", "mesh_wire_sent_bytes_total",
                             "mesh_wire_dropped_messages_total", "mesh_membership_members",
                             "process_resident_memory_bytes", "process_cpu_seconds_total"}) {
    EXPECT_NE(scrape->body.find(family), std::string::npos) << family << " missing";
  }

  const auto scrape_file = mesh_.dir() / "scrape.txt";
  std::ofstream(scrape_file) << scrape->body;
  child_process promtool("/bin/sh",
                         {"-c", (tools_dir() / "promtool").string() + " check metrics < " +
                                    scrape_file.string()},
                         {}, mesh_.dir() / "promtool.log");
  ASSERT_TRUE(promtool.start());
  const auto status = promtool.wait_for_exit(30s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0) << promtool.log();
  EXPECT_EQ(promtool.log(), "") << "promtool reported problems";
}

}  // namespace
}  // namespace mesh::testing
