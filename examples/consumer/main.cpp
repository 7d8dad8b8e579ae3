// Runs a single-node mesh inside this process through the installed libmesh
// package: starts a bootstrap node on 127.0.0.1 with ports chosen by the
// kernel, waits until it has joined, prints its view of the mesh and stops.

#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "mesh/node.hpp"

int main() {
  mesh::config::node_config config;
  config.role = "bootstrap";
  config.node_name = "consumer";
  config.data_dir = std::filesystem::temp_directory_path() / "mesh-consumer-example";
  config.bind_address = "127.0.0.1";
  config.p2p_port = 0;
  config.rpc_port = 0;
  config.api_port = 0;
  config.mcp_port = 0;
  config.metrics_port = 0;
  config.insecure = true;

  auto started = mesh::node::start(config);
  if (!started) {
    std::cerr << "mesh-consumer: node failed to start: " << started.err().message << "\n";
    return 1;
  }
  auto& node = *started;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!node->joined() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!node->joined()) {
    std::cerr << "mesh-consumer: node did not become ready within 10 s\n";
    return 1;
  }

  std::cout << "node " << node->node_id() << " listening on " << node->p2p_address()
            << ", RPC port " << node->ports().rpc << "\n";
  for (const auto& member : node->peers()) {
    std::cout << "  member " << member.info.name << " " << member.info.address << " "
              << mesh::membership::to_string(member.state) << "\n";
  }
  node->stop();
  return 0;
}
