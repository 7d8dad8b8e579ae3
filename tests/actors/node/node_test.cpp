// Actor-level tests: mesh::node objects in one process (each with its own
// actor system and wire thread) and the health monitor actor on its own.

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include <chrono>
#include <thread>

#include "mesh/actors/health_monitor.hpp"
#include "mesh/actors/status_board.hpp"
#include "mesh/node.hpp"
#include "support/process.hpp"

namespace mesh {
namespace {

using namespace std::chrono_literals;

config::node_config local_config(const std::filesystem::path& dir, const std::string& name,
                                 const std::string& role) {
  config::node_config config;
  config.role = role;
  config.node_name = name;
  config.data_dir = dir / name;
  config.bind_address = "127.0.0.1";
  config.p2p_port = 0;
  config.rpc_port = 0;
  config.api_port = 0;
  config.mcp_port = 0;
  config.metrics_port = 0;
  config.insecure = true;
  config.worker_threads = 1;
  return config;
}

std::size_t alive_members(const node& n) {
  std::size_t alive = 0;
  for (const auto& m : n.peers()) {
    alive += m.state == membership::member_state::alive ? 1 : 0;
  }
  return alive;
}

TEST(node_actors, two_nodes_join_in_process) {
  testing::temp_dir dir("mesh-actors");
  auto seed = node::start(local_config(dir.path(), "seed", "bootstrap"));
  ASSERT_TRUE(seed.has_value()) << seed.err().message;

  auto worker_config = local_config(dir.path(), "worker", "worker");
  worker_config.bootstrap_peers = {(*seed)->p2p_address()};
  auto worker = node::start(worker_config);
  ASSERT_TRUE(worker.has_value()) << worker.err().message;

  EXPECT_TRUE(testing::eventually(10s, [&] {
    return alive_members(**seed) == 2 && alive_members(**worker) == 2;
  }));
  EXPECT_TRUE((*worker)->joined());
  EXPECT_NE((*seed)->node_id(), (*worker)->node_id());

  (*worker)->stop();
  EXPECT_TRUE(testing::eventually(10s, [&] {
    for (const auto& m : (*seed)->peers()) {
      if (m.info.name == "worker") {
        return m.state == membership::member_state::left;
      }
    }
    return false;
  }));
  (*seed)->stop();
}

TEST(node_actors, start_rejects_invalid_role) {
  testing::temp_dir dir("mesh-actors");
  auto config = local_config(dir.path(), "bad", "leader");
  auto started = node::start(config);
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.err().code, errc::invalid_config);
  EXPECT_NE(started.err().message.find("leader"), std::string::npos) << started.err().message;
}

TEST(node_actors, stop_is_idempotent) {
  testing::temp_dir dir("mesh-actors");
  auto started = node::start(local_config(dir.path(), "solo", "bootstrap"));
  ASSERT_TRUE(started.has_value()) << started.err().message;
  EXPECT_TRUE(testing::eventually(5s, [&] { return (*started)->joined(); }));
  (*started)->stop();
  (*started)->stop();
}

TEST(health_monitor, stopped_actor_turns_component_unhealthy) {
  caf::actor_system_config config;
  caf::actor_system system{config};
  actors::status_board board;

  // The spawned function takes an argument: with none, CAF 0.17 dereferences
  // an empty argument tuple, which UndefinedBehaviorSanitizer flags.
  auto watched = system.spawn(
      [](caf::event_based_actor*, int offset) -> caf::behavior {
        return {[offset](int value) { return value + offset; }};
      },
      1);
  actors::health_monitor_config health;
  health.watched.emplace("worker_pool", watched);
  health.period = 50ms;
  health.board = &board;
  auto monitor = actors::spawn_health_monitor(system, health);

  EXPECT_TRUE(testing::eventually(5s, [&] {
    const auto snapshot = board.snapshot();
    const auto found = snapshot->components.find("worker_pool");
    return found != snapshot->components.end() && found->second.healthy;
  }));

  caf::anon_send_exit(watched, caf::exit_reason::user_shutdown);
  EXPECT_TRUE(testing::eventually(5s, [&] {
    const auto snapshot = board.snapshot();
    const auto found = snapshot->components.find("worker_pool");
    return found != snapshot->components.end() && !found->second.healthy;
  }));
  const auto snapshot = board.snapshot();
  EXPECT_NE(snapshot->components.at("worker_pool").detail.find("stopped"), std::string::npos);

  caf::anon_send_exit(monitor, caf::exit_reason::user_shutdown);
}

}  // namespace
}  // namespace mesh
