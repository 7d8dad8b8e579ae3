// Integration tests with real node processes on 127.0.0.1: convergence,
// failure detection, restart with the same identity, graceful leave, CURVE
// admission and configuration errors.

#include <gtest/gtest.h>

#include "support/cluster.hpp"

namespace mesh::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto convergence_timeout = 30s;
constexpr auto detection_timeout = 30s;

class mesh_membership : public ::testing::Test {
 protected:
  mesh_membership() : mesh_("mesh-membership") {}

  // Starts 1 bootstrap and `workers` workers and waits until all see all.
  void start_mesh(std::size_t workers) {
    auto& bootstrap = mesh_.add("bootstrap", "bootstrap-0");
    ASSERT_TRUE(mesh_.start(bootstrap, {}));
    for (std::size_t i = 1; i <= workers; ++i) {
      auto& worker = mesh_.add("worker", "worker-" + std::to_string(i));
      ASSERT_TRUE(mesh_.start(worker, {bootstrap.p2p_address()}));
    }
    const auto expected = workers + 1;
    const bool converged = eventually(convergence_timeout, [&] {
      for (const auto& node : mesh_.nodes()) {
        if (alive_count(*node) != expected) {
          return false;
        }
      }
      return true;
    });
    ASSERT_TRUE(converged) << "mesh of " << expected << " did not converge\n" << mesh_.logs();
  }

  test_node& node(std::size_t index) { return *mesh_.nodes().at(index); }

  cluster mesh_;
};

TEST_F(mesh_membership, four_nodes_converge) {
  start_mesh(3);
  const auto peers = fetch_peers(node(0));
  ASSERT_TRUE(peers.has_value());
  ASSERT_EQ(peers->peers_size(), 4);
  for (const auto& peer : peers->peers()) {
    EXPECT_EQ(peer.state(), "alive") << peer.name();
    EXPECT_EQ(peer.node_id().size(), 32u) << peer.name();
    EXPECT_GT(peer.incarnation(), 0u) << peer.name();
  }
}

TEST_F(mesh_membership, killed_node_marked_dead_then_rejoins) {
  start_mesh(3);
  auto& victim = node(3);
  const auto id_before = [&] {
    const auto peers = fetch_peers(node(0));
    if (!peers) {
      return std::string{};
    }
    for (const auto& peer : peers->peers()) {
      if (peer.name() == victim.name) {
        return peer.node_id();
      }
    }
    return std::string{};
  }();
  ASSERT_FALSE(id_before.empty());

  victim.process->signal(SIGKILL);
  ASSERT_TRUE(victim.process->wait_for_exit(5s).has_value());

  for (std::size_t i = 0; i < 3; ++i) {
    const bool dead = eventually(detection_timeout,
                                 [&] { return state_of(node(i), victim.name) == "dead"; });
    EXPECT_TRUE(dead) << node(i).name << " sees " << victim.name << " as '"
                      << state_of(node(i), victim.name) << "'\n"
                      << mesh_.logs();
  }

  ASSERT_TRUE(mesh_.start(victim, {node(0).p2p_address()}));
  for (std::size_t i = 0; i < 4; ++i) {
    const bool back = eventually(convergence_timeout, [&] { return alive_count(node(i)) == 4; });
    EXPECT_TRUE(back) << node(i).name << " does not see 4 alive after the restart\n"
                      << mesh_.logs();
  }
  const auto peers_after = fetch_peers(node(0));
  ASSERT_TRUE(peers_after.has_value());
  for (const auto& peer : peers_after->peers()) {
    if (peer.name() == victim.name) {
      EXPECT_EQ(peer.node_id(), id_before) << "a restarted node must keep its node id";
    }
  }
  // Probes sent while the other nodes reconnect may raise a suspicion, which
  // the restarted node refutes; it must end up alive, never dead.
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(eventually(10s, [&] { return state_of(node(i), victim.name) == "alive"; }))
        << node(i).name << " sees " << victim.name << " as '" << state_of(node(i), victim.name)
        << "'\n"
        << mesh_.logs();
  }
}

TEST_F(mesh_membership, terminated_node_recorded_as_left) {
  start_mesh(3);
  auto& leaver = node(2);
  leaver.process->signal(SIGTERM);
  const auto status = leaver.process->wait_for_exit(10s);
  ASSERT_TRUE(status.has_value()) << "node did not exit within 10 s of SIGTERM";
  EXPECT_EQ(*status, 0) << leaver.process->log_tail();

  for (const std::size_t i : {0u, 1u, 3u}) {
    const bool left = eventually(detection_timeout,
                                 [&] { return state_of(node(i), leaver.name) == "left"; });
    EXPECT_TRUE(left) << node(i).name << " sees " << leaver.name << " as '"
                      << state_of(node(i), leaver.name) << "'\n"
                      << mesh_.logs();
  }
  // A graceful leave must never turn into a failure afterwards.
  std::this_thread::sleep_for(3s);
  EXPECT_EQ(state_of(node(0), leaver.name), "left");
}

TEST_F(mesh_membership, node_with_other_key_cannot_join) {
  start_mesh(1);
  const auto other_key = mesh_.dir() / "other.key";
  std::ofstream(other_key) << std::string(64, 'a') << "\n";
  std::filesystem::permissions(other_key, std::filesystem::perms::owner_read |
                                              std::filesystem::perms::owner_write);

  auto& intruder = mesh_.add("worker", "intruder", {}, {{"MESH_KEY_FILE", other_key.string()}});
  ASSERT_TRUE(mesh_.start(intruder, {node(0).p2p_address()}));

  std::this_thread::sleep_for(5s);
  EXPECT_EQ(state_of(node(0), "intruder"), "") << mesh_.logs();
  EXPECT_EQ(alive_count(node(0)), 2u);
  const auto ready = mesh::http::get(intruder.rpc_url() + "/ready", 2s);
  ASSERT_TRUE(ready.has_value()) << intruder.process->log_tail();
  EXPECT_EQ(ready->status, 503u) << ready->body;
}

TEST_F(mesh_membership, ready_reports_joined_node) {
  start_mesh(1);
  for (const auto& path : {"/health", "/livez", "/ready", "/readyz"}) {
    for (const auto port : {node(1).ports.rpc, node(1).ports.api, node(1).ports.mcp,
                            node(1).ports.metrics}) {
      const auto url = "http://127.0.0.1:" + std::to_string(port) + path;
      const auto reply = mesh::http::get(url, 2s);
      ASSERT_TRUE(reply.has_value()) << url;
      EXPECT_EQ(reply->status, 200u) << url << " " << reply->body;
      EXPECT_NE(reply->body.find("\"membership\""), std::string::npos) << reply->body;
    }
  }
}

TEST(mesh_config, invalid_port_exits_with_2) {
  temp_dir dir("mesh-config");
  child_process node(std::string(MESH_BIN_DIR) + "/mesh-worker",
                     {"--insecure", "--p2p-port", "70000", "--data-dir", dir.path().string()}, {},
                     dir.path() / "node.log");
  ASSERT_TRUE(node.start());
  const auto status = node.wait_for_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 2);
  EXPECT_NE(node.log().find("70000"), std::string::npos) << node.log();
}

TEST(mesh_config, missing_key_file_exits_with_2) {
  temp_dir dir("mesh-config");
  child_process node(std::string(MESH_BIN_DIR) + "/mesh-worker",
                     {"--data-dir", dir.path().string()}, {}, dir.path() / "node.log");
  ASSERT_TRUE(node.start());
  const auto status = node.wait_for_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 2) << node.log();
  EXPECT_NE(node.log().find("MESH_KEY_FILE"), std::string::npos) << node.log();
}

}  // namespace
}  // namespace mesh::testing
