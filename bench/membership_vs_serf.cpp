// Membership against HashiCorp Serf, side by side in one run on 127.0.0.1.
//
// Workloads:
//   convergence  N node processes (1 bootstrap + N-1 workers started at once)
//                until every node has logged all N members as joined; the same
//                with N `serf agent` processes all joined to the first agent.
//   detection    in a converged mesh of N, SIGKILL one worker and time until
//                every other node has logged it dead (ours) or failed (Serf).
//   in-process   the convergence workload with N mesh::node objects in this
//                process instead of N processes (no Serf counterpart).
//   soak         N nodes for a fixed time while busy loops load every core;
//                counts suspicions and deaths, which must be zero.
//
// Both systems are observed the same way: their logs are tailed every 20 ms
// and a node counts as converged when its log names every member as joined.
// Members of both run at nice 5, so that the observer in this process is
// not starved by a hundred busy members and reads each line when it is written.
// The cpu columns sum the user and system CPU seconds of a cluster's members
// from their start until the cluster stops right after the measurement.
// Serf runs with its default LAN profile (probe interval 1 s, gossip interval
// 200 ms, suspicion multiplier 4). Results go to docs/benchmarks.md.
//
// --security picks what protects the traffic of both systems:
//   encrypted  libmesh with CURVE (its default), Serf with -encrypt (AES-GCM
//              with a shared 32-byte key)
//   plain      libmesh with --insecure, Serf without a key (its default)
//   mixed      libmesh with CURVE, Serf without a key: the pairing of the
//              runs before this option existed
//
// Usage: bench_membership_vs_serf [--sizes 10,50,100] [--detect-sizes 10,50]
//        [--soak-seconds 0] [--soak-size 50] [--timeout 120] [--repetitions 1]
//        [--security encrypted|plain|mixed] [--mesh-flag FLAG]...
//
// --mesh-flag adds one command-line argument to every libmesh member, for
// tuning experiments such as --mesh-flag=--gossip-cold-targets=0. Without
// it both systems run their defaults.

#include <CLI/CLI.hpp>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mesh/node.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using mesh::testing::child_process;
using clock_type = std::chrono::steady_clock;

// Nice value of every member process of either system.
constexpr int member_niceness = 5;

// Protection of the members' traffic; see --security in the header.
enum class security { encrypted, plain, mixed };

// Member settings of a cluster beyond roles and ports.
struct cluster_options {
  security protection = security::encrypted;
  std::vector<std::string> mesh_flags;  // appended to every libmesh member's arguments
};

// The same 32 bytes as the libmesh mesh key of the clusters, base64 for Serf.
constexpr const char* serf_encrypt_key = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";

// Reads a log file incrementally and collects the member names that appear
// in lines matching one pattern per event kind.
class log_follower {
 public:
  log_follower(std::filesystem::path file, std::regex joined, std::regex failed,
               std::regex suspected)
      : file_(std::move(file)),
        joined_(std::move(joined)),
        failed_(std::move(failed)),
        suspected_(std::move(suspected)) {}

  void poll() {
    if (!in_.is_open()) {
      in_.open(file_);
      if (!in_) {
        in_.close();
        return;
      }
    }
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset_));
    std::string line;
    while (std::getline(in_, line)) {
      if (in_.eof()) {
        break;  // a partial line: read it again next time
      }
      offset_ += line.size() + 1;
      // Most lines name no member event; the substring check skips the
      // regular expressions for them, so the observer keeps up.
      if (line.find("ember") == std::string::npos && line.find("uspect") == std::string::npos) {
        continue;
      }
      std::smatch match;
      if (std::regex_search(line, match, joined_)) {
        joined_names_.insert(match[1]);
      } else if (std::regex_search(line, match, failed_)) {
        failed_names_.insert(match[1]);
      } else if (std::regex_search(line, match, suspected_)) {
        ++suspicions_;
      }
    }
  }

  [[nodiscard]] std::size_t joined_count() const { return joined_names_.size(); }
  [[nodiscard]] bool saw_failure_of(const std::string& name) const {
    return failed_names_.count(name) != 0;
  }
  [[nodiscard]] std::size_t failures() const { return failed_names_.size(); }
  [[nodiscard]] std::size_t suspicions() const { return suspicions_; }

 private:
  std::filesystem::path file_;
  std::ifstream in_;
  std::regex joined_;
  std::regex failed_;
  std::regex suspected_;
  std::size_t offset_ = 0;
  std::set<std::string> joined_names_;
  std::set<std::string> failed_names_;
  std::size_t suspicions_ = 0;
};

struct member_process {
  std::string name;
  std::unique_ptr<child_process> process;
  std::unique_ptr<log_follower> follower;
};

// Returns true when `port` on 127.0.0.1 can be bound with socket `type`.
bool can_bind(std::uint16_t port, int type) {
  const int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) {
    return false;
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return bound;
}

// Returns a port for a Serf agent, free for TCP and UDP. A port from
// bind(0) lies in the ephemeral range, where an outgoing connection of a
// running member can take it before the agent binds it. The agent then
// exits and its cluster never converges. The ports below 32768 (the start
// of Linux's default ephemeral range) are never handed out automatically.
std::uint16_t serf_port() {
  constexpr std::uint16_t first = 20000;
  constexpr std::uint16_t last = 32000;
  static std::uint16_t next = first + static_cast<std::uint16_t>(::getpid() % 4000);
  for (int tries = 0; tries < last - first; ++tries) {
    const std::uint16_t port = next;
    next = next + 1 < last ? next + 1 : first;
    if (can_bind(port, SOCK_STREAM) && can_bind(port, SOCK_DGRAM)) {
      return port;
    }
  }
  throw std::runtime_error("no port between 20000 and 32000 is free for TCP and UDP");
}

// One cluster of either system, started and observed the same way.
class cluster {
 public:
  enum class kind { mesh, serf };

  // Each cluster gets a directory of its own, so a repetition starts with
  // new node identities and empty stores, as the first run did.
  cluster(kind system, const std::filesystem::path& dir, cluster_options options)
      : system_(system),
        options_(std::move(options)),
        dir_(dir.string() + "-" + std::to_string(next_cluster_number++)),
        seed_port_(system == kind::serf ? serf_port() : mesh::testing::free_port()) {
    std::filesystem::create_directories(dir_);
    if (system_ == kind::mesh) {
      key_file_ = dir_ / "mesh.key";
      std::ofstream(key_file_) << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
      std::filesystem::permissions(key_file_, std::filesystem::perms::owner_read |
                                                  std::filesystem::perms::owner_write);
    }
  }

  ~cluster() {
    for (auto& m : members_) {
      m.process->signal(SIGKILL);
    }
    for (auto& m : members_) {
      (void)m.process->wait_for_exit(5s);
    }
  }

  // Starts member `index`; member 0 is the seed the others join.
  void start(std::size_t index) {
    member_process m;
    m.name = (index == 0 ? "seed-" : "node-") + std::to_string(index);
    const auto log_file = dir_ / (m.name + ".log");
    std::vector<std::string> args;
    std::string program;
    if (system_ == kind::mesh) {
      program = std::string(MESH_BIN_DIR) + (index == 0 ? "/mesh-bootstrap" : "/mesh-worker");
      const auto p2p = index == 0 ? seed_port_ : 0;
      args = {"--node-name", m.name, "--data-dir", (dir_ / m.name).string(),
              "--bind-address", "127.0.0.1", "--key-file", key_file_.string(),
              "--p2p-port", std::to_string(p2p), "--rpc-port", "0", "--api-port", "0",
              "--mcp-port", "0", "--metrics-port", "0", "--worker-threads", "1"};
      if (options_.protection == security::plain) {
        args.push_back("--insecure");
      }
      args.insert(args.end(), options_.mesh_flags.begin(), options_.mesh_flags.end());
      if (index > 0) {
        args.push_back("--bootstrap-peers");
        args.push_back("127.0.0.1:" + std::to_string(seed_port_));
      }
      m.follower = std::make_unique<log_follower>(
          log_file, std::regex(R"(member joined id=\S+ name=(\S+))"),
          std::regex(R"(member dead id=\S+ name=(\S+))"),
          std::regex(R"(member suspected id=\S+ name=(\S+))"));
      joined_target_offset_ = 1;  // a node does not log itself as joined
    } else {
      program = (mesh::testing::tools_dir() / "serf").string();
      const auto bind = index == 0 ? seed_port_ : serf_port();
      args = {"agent", "-node=" + m.name, "-bind=127.0.0.1:" + std::to_string(bind),
              "-rpc-addr=127.0.0.1:" + std::to_string(serf_port()),
              "-log-level=info"};
      if (options_.protection == security::encrypted) {
        args.push_back(std::string("-encrypt=") + serf_encrypt_key);
      }
      if (index > 0) {
        args.push_back("-join=127.0.0.1:" + std::to_string(seed_port_));
      }
      m.follower = std::make_unique<log_follower>(
          log_file, std::regex(R"(EventMemberJoin: (\S+))"),
          std::regex(R"(EventMemberFailed: (\S+))"),
          std::regex(R"(Suspect (\S+) has failed)"));
      joined_target_offset_ = 0;
    }
    m.process = std::make_unique<child_process>(program, args, std::map<std::string, std::string>{},
                                                log_file);
    // Both systems' members run below this process's priority. Otherwise a
    // hundred busy members starve the observer, which then reads the logs
    // seconds after the events and adds that lag to the measured time.
    m.process->set_niceness(member_niceness);
    if (!m.process->start()) {
      throw std::runtime_error("cannot start " + program);
    }
    members_.push_back(std::move(m));
  }

  // Waits until every member logged all `n` members as joined; returns the
  // elapsed time since `since`, or nullopt on timeout.
  std::optional<double> wait_converged(std::size_t n, clock_type::time_point since,
                                       std::chrono::seconds timeout) {
    const auto deadline = since + timeout;
    while (clock_type::now() < deadline) {
      bool all = true;
      for (auto& m : members_) {
        m.follower->poll();
        all = all && m.follower->joined_count() + joined_target_offset_ >= n;
      }
      if (all) {
        return std::chrono::duration<double>(clock_type::now() - since).count();
      }
      std::this_thread::sleep_for(20ms);
    }
    report_exited_members();
    return std::nullopt;
  }

  // Kills member `index` and waits until every other member logged it failed.
  std::optional<double> kill_and_wait_detected(std::size_t index, std::chrono::seconds timeout) {
    auto& victim = members_.at(index);
    const auto killed_at = clock_type::now();
    victim.process->signal(SIGKILL);
    (void)victim.process->wait_for_exit(5s);
    const auto deadline = killed_at + timeout;
    while (clock_type::now() < deadline) {
      bool all = true;
      for (std::size_t i = 0; i < members_.size(); ++i) {
        if (i == index) {
          continue;
        }
        members_[i].follower->poll();
        all = all && members_[i].follower->saw_failure_of(victim.name);
      }
      if (all) {
        return std::chrono::duration<double>(clock_type::now() - killed_at).count();
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }

  // Prints to stderr how many members exited early and the last log line of
  // the first of them. A timeout caused by a member that could not start
  // then reads differently from a slow cluster.
  void report_exited_members() {
    std::size_t exited = 0;
    std::string first;
    for (auto& m : members_) {
      if (m.process->running()) {
        continue;
      }
      if (exited++ == 0) {
        std::ifstream log(dir_ / (m.name + ".log"));
        std::string line;
        while (std::getline(log, line)) {
          if (!line.empty()) {
            first = m.name + ": " + line;
          }
        }
      }
    }
    if (exited > 0) {
      std::fprintf(stderr, "%s: %zu of %zu members exited; last log line of %s\n",
                   system_ == kind::mesh ? "libmesh" : "serf", exited,
                   members_.size(), first.c_str());
    }
  }

  // Suspicions and failures logged by all members so far.
  std::pair<std::size_t, std::size_t> false_alarms() {
    std::size_t suspicions = 0;
    std::size_t failures = 0;
    for (auto& m : members_) {
      m.follower->poll();
      suspicions += m.follower->suspicions();
      failures += m.follower->failures();
    }
    return {suspicions, failures};
  }

 private:
  kind system_;
  cluster_options options_;
  std::filesystem::path dir_;
  std::filesystem::path key_file_;
  std::uint16_t seed_port_;
  static inline int next_cluster_number = 0;
  std::size_t joined_target_offset_ = 0;
  std::vector<member_process> members_;
};

const char* name_of(cluster::kind system) { return system == cluster::kind::mesh ? "libmesh" : "serf"; }

std::string format_seconds(const std::optional<double>& value) {
  if (!value) {
    return "timeout";
  }
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", *value);
  return text;
}

std::optional<double> measure_convergence(cluster::kind system, std::size_t n,
                                          const std::filesystem::path& dir,
                                          std::chrono::seconds timeout, const cluster_options& options) {
  cluster c(system, dir / (std::string(name_of(system)) + "-converge-" + std::to_string(n)), options);
  c.start(0);
  if (!c.wait_converged(1, clock_type::now(), 30s)) {
    return std::nullopt;
  }
  std::this_thread::sleep_for(500ms);
  const auto started = clock_type::now();
  for (std::size_t i = 1; i < n; ++i) {
    c.start(i);
  }
  return c.wait_converged(n, started, timeout);
}

std::optional<double> measure_detection(cluster::kind system, std::size_t n,
                                        const std::filesystem::path& dir,
                                        std::chrono::seconds timeout, const cluster_options& options) {
  cluster c(system, dir / (std::string(name_of(system)) + "-detect-" + std::to_string(n)), options);
  c.start(0);
  // `serf agent -join` exits when its seed is not listening yet.
  if (!c.wait_converged(1, clock_type::now(), 30s)) {
    return std::nullopt;
  }
  for (std::size_t i = 1; i < n; ++i) {
    c.start(i);
  }
  if (!c.wait_converged(n, clock_type::now(), timeout)) {
    return std::nullopt;
  }
  std::this_thread::sleep_for(2s);  // let probing settle into its steady state
  return c.kill_and_wait_detected(n - 1, timeout);
}

// N mesh::node objects in this process, each with its own actor system and
// wire thread, all joined to the first.
std::optional<double> measure_in_process(std::size_t n, const std::filesystem::path& dir,
                                         std::chrono::seconds timeout) {
  auto make_config = [&](std::size_t index, std::uint16_t seed_port) {
    mesh::config::node_config config;
    config.role = index == 0 ? "bootstrap" : "worker";
    config.node_name = "inproc-" + std::to_string(index);
    config.data_dir = dir / "in-process" / config.node_name;
    config.bind_address = "127.0.0.1";
    config.p2p_port = index == 0 ? seed_port : 0;
    config.rpc_port = config.api_port = config.mcp_port = config.metrics_port = 0;
    config.insecure = true;
    config.worker_threads = 1;
    if (index > 0) {
      config.bootstrap_peers = {"127.0.0.1:" + std::to_string(seed_port)};
    }
    return config;
  };

  const auto seed_port = mesh::testing::free_port();
  std::vector<std::unique_ptr<mesh::node>> nodes;
  auto seed = mesh::node::start(make_config(0, seed_port));
  if (!seed) {
    std::fprintf(stderr, "in-process seed failed: %s\n", seed.err().message.c_str());
    return std::nullopt;
  }
  nodes.push_back(std::move(*seed));

  const auto started = clock_type::now();
  for (std::size_t i = 1; i < n; ++i) {
    auto started_node = mesh::node::start(make_config(i, seed_port));
    if (!started_node) {
      std::fprintf(stderr, "in-process node %zu failed: %s\n", i,
                   started_node.err().message.c_str());
      return std::nullopt;
    }
    nodes.push_back(std::move(*started_node));
  }

  std::optional<double> elapsed;
  const auto deadline = started + timeout;
  while (clock_type::now() < deadline && !elapsed) {
    const bool all = std::all_of(nodes.begin(), nodes.end(), [n](const auto& node) {
      const auto members = node->peers();
      return static_cast<std::size_t>(std::count_if(members.begin(), members.end(), [](const auto& m) {
               return m.state == mesh::membership::member_state::alive;
             })) == n;
    });
    if (all) {
      elapsed = std::chrono::duration<double>(clock_type::now() - started).count();
    }
    std::this_thread::sleep_for(20ms);
  }
  for (auto& node : nodes) {
    node->stop(std::chrono::milliseconds(0));
  }
  return elapsed;
}

void run_soak(std::size_t n, std::chrono::seconds duration, const std::filesystem::path& dir,
              const cluster_options& options) {
  cluster c(cluster::kind::mesh, dir / "libmesh-soak", options);
  c.start(0);
  if (!c.wait_converged(1, clock_type::now(), 30s)) {
    std::printf("soak: the seed did not start\n");
    return;
  }
  for (std::size_t i = 1; i < n; ++i) {
    c.start(i);
  }
  if (!c.wait_converged(n, clock_type::now(), 120s)) {
    std::printf("soak: mesh of %zu did not converge\n", n);
    return;
  }
  const auto baseline = c.false_alarms();

  // Busy loops on every core for the whole soak, bounded by its duration.
  std::atomic<bool> stop{false};
  std::vector<std::thread> burners;
  for (unsigned i = 0; i < std::max(1u, std::thread::hardware_concurrency()); ++i) {
    burners.emplace_back([&stop] {
      volatile std::uint64_t sink = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 100000; ++k) {
          sink = sink + static_cast<std::uint64_t>(k);
        }
      }
    });
  }
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& t : burners) {
    t.join();
  }
  const auto after = c.false_alarms();
  std::printf("soak: %zu nodes, %lld s with every core busy: %zu suspicions, %zu false deaths\n", n,
              static_cast<long long>(duration.count()), after.first - baseline.first,
              after.second - baseline.second);
}

// Times of one workload at one size over all repetitions; a timeout is nullopt.
struct paired_runs {
  std::vector<std::optional<double>> ours;
  std::vector<std::optional<double>> theirs;
  std::vector<double> ours_cpu;
  std::vector<double> theirs_cpu;
};

// Returns the CPU seconds, user and system, of every child process that has
// exited and been waited for so far.
double children_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Runs one measurement and appends to `cpu` the CPU seconds its member
// processes used, from their start until the cluster was stopped.
template <class Measure>
std::optional<double> measure_with_cpu(Measure& measure, cluster::kind system,
                                       std::vector<double>& cpu) {
  const auto before = children_cpu_seconds();
  auto seconds = measure(system);
  cpu.push_back(children_cpu_seconds() - before);
  return seconds;
}

void print_row(const char* workload, std::size_t n, const std::optional<double>& ours,
               const std::optional<double>& theirs, double ours_cpu, double theirs_cpu) {
  const auto ratio = ours && theirs ? format_seconds(*ours / *theirs) : "n/a";
  std::printf("%-12s %5zu %12s %12s %8s %11.2f %10.2f\n", workload, n,
              format_seconds(ours).c_str(), format_seconds(theirs).c_str(), ratio.c_str(),
              ours_cpu, theirs_cpu);
  std::fflush(stdout);
}

// Median of the runs that finished; nullopt when fewer than half finished,
// so that timeouts cannot make a median look good.
std::optional<double> median_of(std::vector<std::optional<double>> runs) {
  std::vector<double> done;
  for (const auto& run : runs) {
    if (run) {
      done.push_back(*run);
    }
  }
  if (done.empty() || 2 * done.size() < runs.size()) {
    return std::nullopt;
  }
  std::sort(done.begin(), done.end());
  const auto middle = done.size() / 2;
  return done.size() % 2 == 1 ? done[middle] : (done[middle - 1] + done[middle]) / 2;
}

std::vector<std::optional<double>> as_optional(const std::vector<double>& values) {
  return {values.begin(), values.end()};
}

// Runs `measure` for both systems `repetitions` times, alternating, prints
// each pair and, for more than one repetition, the medians.
template <class Measure>
void compare(const char* workload, const char* median_label, std::size_t n, int repetitions,
             Measure measure) {
  paired_runs runs;
  for (int i = 0; i < repetitions; ++i) {
    runs.ours.push_back(measure_with_cpu(measure, cluster::kind::mesh, runs.ours_cpu));
    runs.theirs.push_back(measure_with_cpu(measure, cluster::kind::serf, runs.theirs_cpu));
    print_row(workload, n, runs.ours.back(), runs.theirs.back(), runs.ours_cpu.back(),
              runs.theirs_cpu.back());
  }
  if (repetitions > 1) {
    print_row(median_label, n, median_of(runs.ours), median_of(runs.theirs),
              *median_of(as_optional(runs.ours_cpu)), *median_of(as_optional(runs.theirs_cpu)));
  }
}

std::vector<std::size_t> parse_sizes(const std::string& text) {
  std::vector<std::size_t> sizes;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) {
      sizes.push_back(std::stoul(item));
    }
  }
  return sizes;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Membership convergence and failure detection: libmesh against Serf"};
  std::string sizes_text = "10,50,100";
  std::string detect_text = "10,50";
  int soak_seconds = 0;
  std::size_t soak_size = 50;
  int timeout_seconds = 120;
  int repetitions = 1;
  cluster_options options;
  const std::map<std::string, security> security_names{
      {"encrypted", security::encrypted}, {"plain", security::plain}, {"mixed", security::mixed}};
  app.add_option("--sizes", sizes_text, "Cluster sizes for the convergence workload");
  app.add_option("--detect-sizes", detect_text, "Cluster sizes for the detection workload");
  app.add_option("--soak-seconds", soak_seconds, "Length of the soak workload; 0 skips it")
      ->check(CLI::Range(0, 3600));
  app.add_option("--soak-size", soak_size, "Nodes in the soak workload")->check(CLI::Range(2, 200));
  app.add_option("--timeout", timeout_seconds, "Seconds before a measurement counts as timed out")
      ->check(CLI::Range(10, 600));
  app.add_option("--repetitions", repetitions,
                 "Runs of each comparison, alternating the systems; above 1 the medians are printed too")
      ->check(CLI::Range(1, 20));
  app.add_option("--security", options.protection,
                 "encrypted: CURVE against Serf -encrypt; plain: --insecure against Serf without a key; "
                 "mixed: CURVE against Serf without a key")
      ->transform(CLI::CheckedTransformer(security_names, CLI::ignore_case));
  app.add_option("--mesh-flag", options.mesh_flags,
                 "Argument added to every libmesh member, such as --mesh-flag=--gossip-cold-targets=0; repeatable")
      ->allow_extra_args(false);
  CLI11_PARSE(app, argc, argv);

  if (!std::filesystem::exists(mesh::testing::tools_dir() / "serf")) {
    std::fprintf(stderr, "serf not found in %s; run scripts/install-deps\n",
                 mesh::testing::tools_dir().c_str());
    return 1;
  }
  mesh::testing::temp_dir dir("mesh-bench-serf");
  const auto timeout = std::chrono::seconds(timeout_seconds);

  for (const auto& [name, value] : security_names) {
    if (value == options.protection) {
      std::printf("security: %s (in-process rows run without CURVE)\n", name.c_str());
    }
  }
  for (const auto& flag : options.mesh_flags) {
    std::printf("libmesh member flag: %s\n", flag.c_str());
  }
  std::printf("%-12s %5s %12s %12s %8s %11s %10s\n", "workload", "N", "libmesh_s", "serf_s",
              "ratio", "libmesh_cpu", "serf_cpu");
  for (const auto n : parse_sizes(sizes_text)) {
    compare("convergence", "conv-median", n, repetitions,
            [&](cluster::kind system) { return measure_convergence(system, n, dir.path(), timeout, options); });
  }
  for (const auto n : parse_sizes(sizes_text)) {
    const auto ours = measure_in_process(n, dir.path(), timeout);
    std::printf("%-12s %5zu %12s %12s %8s\n", "in-process", n, format_seconds(ours).c_str(), "-",
                "-");
    std::fflush(stdout);
  }
  for (const auto n : parse_sizes(detect_text)) {
    compare("detection", "det-median", n, repetitions,
            [&](cluster::kind system) { return measure_detection(system, n, dir.path(), timeout, options); });
  }
  if (soak_seconds > 0) {
    run_soak(soak_size, std::chrono::seconds(soak_seconds), dir.path(), options);
  }
  return 0;
}
