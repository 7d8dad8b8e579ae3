// QuDAG throughput and finality latency on a 3-node loopback mesh, measured
// against the Ed25519 verification rate of OpenSSL on one core in the same
// run (every vertex costs each node at least one verification).
//
// Workloads:
//   verify      Ed25519 verifications per second on one thread.
//   throughput  32 submitter threads per node submit vertices with 256-byte
//               payloads as fast as their node accepts them; the rate is the
//               number of vertices divided by the time until the last one is
//               final on every node.
//   latency     paced round-robin submissions at 10 % and 50 % of the
//               measured throughput; time from the submit call to the
//               decision callback of the submitting node, p50 and p99.
//
// The three nodes run in this process (mesh::node, as a C++ service embeds
// them) with CURVE on and the SQLite store in a temporary directory, so the
// numbers include signing, verification, gossip, polls and durable commits.
//
// Usage: bench_dag_throughput [--vertices 6000] [--latency-seconds 5] [--preset default]

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mesh/crypto/hash.hpp"
#include "mesh/crypto/identity.hpp"
#include "mesh/crypto/mesh_key.hpp"
#include "mesh/node.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double verifications_per_second(std::chrono::milliseconds duration) {
  auto identity = mesh::crypto::identity::generate();
  if (!identity) {
    return 0;
  }
  const std::string message(32, 'm');
  const auto signature = identity->sign(message);
  if (!signature) {
    return 0;
  }
  std::uint64_t count = 0;
  const auto start = steady::now();
  while (steady::now() - start < duration) {
    for (int i = 0; i < 100; ++i) {
      count += mesh::crypto::verify_ed25519(identity->public_key(), message, *signature) ? 1 : 0;
    }
  }
  return static_cast<double>(count) / std::chrono::duration<double>(steady::now() - start).count();
}

// Counts decisions per node and remembers when each vertex became final on
// the node that submitted it.
struct decisions {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::uint64_t> final_per_node;
  std::unordered_map<std::string, steady::time_point> decided_at;  // on the author's node

  explicit decisions(std::size_t nodes) : final_per_node(nodes, 0) {}
};

struct mesh_under_test {
  mesh::testing::temp_dir dir{"mesh-bench-dag"};
  std::vector<std::unique_ptr<mesh::node>> nodes;
  std::unique_ptr<decisions> decided;
};

bool start_mesh(mesh_under_test& m, std::size_t count, const std::string& preset) {
  const auto key_file = m.dir.path() / "mesh.key";
  auto key = mesh::crypto::generate_mesh_key_hex();
  if (!key) {
    return false;
  }
  {
    std::FILE* out = std::fopen(key_file.c_str(), "w");
    if (out == nullptr) {
      return false;
    }
    std::fputs(key->c_str(), out);
    std::fclose(out);
    std::filesystem::permissions(key_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  }
  const auto seed_port = mesh::testing::free_port();
  for (std::size_t i = 0; i < count; ++i) {
    mesh::config::node_config config;
    config.role = i == 0 ? "bootstrap" : "worker";
    config.node_name = "dag-" + std::to_string(i);
    config.data_dir = m.dir.path() / config.node_name;
    std::filesystem::create_directories(config.data_dir);
    config.bind_address = "127.0.0.1";
    config.p2p_port = i == 0 ? seed_port : 0;
    config.rpc_port = config.api_port = config.mcp_port = config.metrics_port = 0;
    config.key_file = key_file;
    config.dag.preset = preset;
    config.worker_threads = 1;
    config.log_level = "warn";
    if (i > 0) {
      config.bootstrap_peers = {"127.0.0.1:" + std::to_string(seed_port)};
    }
    auto started = mesh::node::start(config);
    if (!started) {
      std::fprintf(stderr, "node %zu failed to start: %s\n", i, started.err().message.c_str());
      return false;
    }
    m.nodes.push_back(std::move(*started));
  }
  m.decided = std::make_unique<decisions>(count);
  for (std::size_t i = 0; i < count; ++i) {
    m.nodes[i]->on_decision([&m, i](const std::string& id, mesh::dag::vertex_state state) {
      auto& d = *m.decided;
      const auto now = steady::now();
      std::lock_guard lock(d.mutex);
      if (state == mesh::dag::vertex_state::final) {
        ++d.final_per_node[i];
      }
      d.decided_at.try_emplace(id + "@" + std::to_string(i), now);
      d.changed.notify_all();
    });
  }
  const auto deadline = steady::now() + 30s;
  while (steady::now() < deadline) {
    bool all = true;
    for (const auto& n : m.nodes) {
      std::size_t alive = 0;
      for (const auto& p : n->peers()) {
        alive += p.state == mesh::membership::member_state::alive ? 1 : 0;
      }
      all = all && alive == count;
    }
    if (all) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  std::fprintf(stderr, "the mesh did not converge within 30 s\n");
  return false;
}

// Waits until every node has at least `target` final vertices.
bool wait_all_final(mesh_under_test& m, std::uint64_t target, std::chrono::seconds timeout) {
  auto& d = *m.decided;
  std::unique_lock lock(d.mutex);
  return d.changed.wait_for(lock, timeout, [&] {
    return std::all_of(d.final_per_node.begin(), d.final_per_node.end(),
                       [target](std::uint64_t n) { return n >= target; });
  });
}

// A submission returns once the vertex is durable, so one thread per node
// would measure the fsync time; several let the group commit batch them.
constexpr std::size_t submitters_per_node = 32;

std::string payload(std::size_t index) {
  std::string out(256, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>((index * 131 + i * 7) & 0xff);
  }
  return out;
}

// Returns final vertices per second, or 0 when the run failed.
double measure_throughput(mesh_under_test& m, std::size_t vertices) {
  const auto before = m.decided->final_per_node.front();
  const auto start = steady::now();
  std::atomic<std::size_t> failures{0};
  std::vector<std::thread> submitters;
  const auto threads = m.nodes.size() * submitters_per_node;
  const auto per_thread = vertices / threads;
  for (std::size_t t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      auto& target = *m.nodes[t % m.nodes.size()];
      for (std::size_t i = 0; i < per_thread; ++i) {
        if (!target.submit_vertex(payload(t * per_thread + i), "application/octet-stream")) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : submitters) {
    t.join();
  }
  const auto submitted = per_thread * threads - failures.load();
  if (!wait_all_final(m, before + submitted, 300s)) {
    std::fprintf(stderr, "throughput: not every vertex became final within 300 s\n");
    return 0;
  }
  const auto seconds = std::chrono::duration<double>(steady::now() - start).count();
  return static_cast<double>(submitted) / seconds;
}

struct latency_result {
  double p50_ms = 0;
  double p99_ms = 0;
  std::size_t samples = 0;
};

latency_result measure_latency(mesh_under_test& m, double rate, std::chrono::seconds duration) {
  const auto count = static_cast<std::size_t>(rate * static_cast<double>(duration.count()));
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  std::vector<std::pair<std::string, steady::time_point>> sent;
  const auto start = steady::now();
  for (std::size_t i = 0; i < count; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<steady::duration>(interval * static_cast<double>(i)));
    const auto node = i % m.nodes.size();
    const auto t0 = steady::now();
    auto id = m.nodes[node]->submit_vertex(payload(1'000'000 + i), "application/octet-stream");
    if (id) {
      sent.emplace_back(*id + "@" + std::to_string(node), t0);
    }
  }
  // Wait for the stragglers, then read the decision times.
  const auto deadline = steady::now() + 60s;
  std::vector<double> latencies;
  while (steady::now() < deadline) {
    latencies.clear();
    {
      std::lock_guard lock(m.decided->mutex);
      for (const auto& [key, t0] : sent) {
        auto it = m.decided->decided_at.find(key);
        if (it != m.decided->decided_at.end()) {
          latencies.push_back(std::chrono::duration<double, std::milli>(it->second - t0).count());
        }
      }
    }
    if (latencies.size() == sent.size()) {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  latency_result out;
  if (latencies.empty()) {
    return out;
  }
  std::sort(latencies.begin(), latencies.end());
  out.samples = latencies.size();
  out.p50_ms = latencies[latencies.size() / 2];
  out.p99_ms = latencies[std::min(latencies.size() - 1, latencies.size() * 99 / 100)];
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"QuDAG throughput and finality latency on a 3-node loopback mesh"};
  std::size_t vertices = 6000;
  int latency_seconds = 5;
  std::string preset = "default";
  app.add_option("--vertices", vertices, "Vertices in the throughput workload")->check(CLI::Range(30, 1000000));
  app.add_option("--latency-seconds", latency_seconds, "Length of each latency workload")
      ->check(CLI::Range(1, 600));
  app.add_option("--preset", preset, "Avalanche preset of the nodes")
      ->check(CLI::IsMember({"default", "fast", "secure"}));
  CLI11_PARSE(app, argc, argv);

  const auto verify_rate = verifications_per_second(2s);
  std::printf("ed25519 verifications/s (1 thread): %.0f\n", verify_rate);

  mesh_under_test m;
  if (!start_mesh(m, 3, preset)) {
    return 1;
  }
  const auto throughput = measure_throughput(m, vertices);
  if (throughput <= 0) {
    return 1;
  }
  std::printf("final vertices/s (3 nodes, 256 B payloads, preset %s): %.0f  ratio to verifications: %.3f\n",
              preset.c_str(), throughput, throughput / verify_rate);

  for (const double share : {0.10, 0.50}) {
    const auto rate = std::max(1.0, throughput * share);
    const auto latency = measure_latency(m, rate, std::chrono::seconds(latency_seconds));
    std::printf("latency at %2.0f %% (%.0f vertices/s): p50 %.1f ms  p99 %.1f ms  samples %zu\n",
                share * 100, rate, latency.p50_ms, latency.p99_ms, latency.samples);
  }
  for (auto& n : m.nodes) {
    n->stop(std::chrono::milliseconds(500));
  }
  return 0;
}
