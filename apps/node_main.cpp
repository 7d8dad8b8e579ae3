// mesh-bootstrap, mesh-worker and mesh-agent: one node program built three
// times with a different default role (MESH_DEFAULT_ROLE). It loads the
// configuration, starts a mesh::node and waits for SIGTERM or SIGINT, then
// leaves the mesh gracefully and exits.
//
// Exit status: 0 after a clean stop (or --help, --version, --print-config),
// 1 on an unexpected error, 2 for an invalid configuration or usage, 3 when a
// service cannot start (port in use, data directory not writable, bad key).

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "mesh/config/node_config.hpp"
#include "mesh/node.hpp"
#include "mesh/telemetry/logging.hpp"

namespace {

constexpr int exit_unexpected = 1;
constexpr int exit_invalid_config = 2;
constexpr int exit_startup_failed = 3;

std::optional<std::string> read_environment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    return std::nullopt;
  }
  return std::string(value);
}

int run(int argc, char** argv) {
  const std::string program = "mesh-" MESH_DEFAULT_ROLE;

  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto loaded = mesh::config::load(argc, argv, MESH_DEFAULT_ROLE, read_environment);
  if (!loaded) {
    std::cerr << program << ": " << loaded.err().message << "\n";
    return exit_invalid_config;
  }
  if (loaded->status == mesh::config::load_status::exit_ok) {
    std::cout << loaded->output;
    return EXIT_SUCCESS;
  }
  const auto& config = loaded->config;

  const auto format = config.log_format == "json" ? mesh::telemetry::log_format::json
                                                  : mesh::telemetry::log_format::text;
  if (auto configured = mesh::telemetry::configure_logging(config.log_level, format);
      !configured) {
    std::cerr << program << ": " << configured.err().message << "\n";
    return exit_invalid_config;
  }

  auto log = mesh::telemetry::logger("node");
  auto started = mesh::node::start(config);
  if (!started) {
    log->critical("start failed error={} message={}", mesh::to_string(started.err().code),
                  started.err().message);
    return started.err().code == mesh::errc::invalid_config ? exit_invalid_config
                                                            : exit_startup_failed;
  }
  auto& node = *started;

  int received = 0;
  sigwait(&stop_signals, &received);
  log->info("signal received signal={}", received == SIGTERM ? "SIGTERM" : "SIGINT");
  node->stop();
  return EXIT_SUCCESS;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "mesh-" MESH_DEFAULT_ROLE ": unexpected error: " << e.what() << "\n";
    return exit_unexpected;
  }
}
