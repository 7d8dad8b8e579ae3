#pragma once
// Configuration of one node (bootstrap, worker or agent) and its loader.
// Values are layered: built-in defaults < YAML file (--config PATH) < MESH_*
// environment variables < command-line flags. docs/configuration.md lists
// every key with its flag, environment name, YAML key, default and accepted
// values.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/error.hpp"
#include "mesh/membership/config.hpp"

namespace mesh::config {

// Limits of the neural agents on one node (YAML section `neural`).
struct neural_config {
  // Agents this node runs at once: spawned through the API and job replicas.
  // Cached inference models do not count. 0 makes the node refuse both.
  std::uint32_t max_agents = 8;
  // Estimated memory of one agent (weights, training state and shard), in MiB.
  std::uint32_t max_agent_memory_mb = 256;
  // Time one inference request may take before it fails, in milliseconds.
  std::chrono::milliseconds inference_timeout{5000};
  // Memory of the models loaded for inference, in MiB; the least recently
  // used model is unloaded first.
  std::uint32_t model_cache_mb = 256;
  // A job coordinator places a replica again when it reports nothing for
  // this long, in milliseconds.
  std::chrono::milliseconds replica_timeout{20000};
};

// A plain value type; no thread safety of its own.
// QuDAG settings of a node.
struct dag_config {
  // Avalanche parameter preset: "default", "fast" or "secure" (docs/qudag.md).
  std::string preset = "default";
  // Largest vertex payload this node accepts, in bytes.
  std::uint32_t max_payload_bytes = 256 * 1024;
};

struct node_config {
  // "bootstrap", "worker" or "agent"; the executable supplies the default.
  std::string role;
  // Default: the host name.
  std::string node_name;
  // Default: ./mesh-data/<node_name>.
  std::filesystem::path data_dir;
  std::string bind_address = "0.0.0.0";
  // Host (no port) other nodes use to reach this one. Empty means derive it
  // with resolve_advertise_address().
  std::string advertise_address;
  // host:port of the nodes to join through; empty by default.
  std::vector<std::string> bootstrap_peers;
  // 0 picks a free port.
  std::uint16_t p2p_port = 4001;
  std::uint16_t rpc_port = 8080;
  std::uint16_t api_port = 8081;
  std::uint16_t mcp_port = 3000;
  std::uint16_t metrics_port = 9090;
  // The 32-byte mesh key; required unless `insecure`.
  std::filesystem::path key_file;
  // Bearer token for the mutating HTTP endpoints; optional.
  std::filesystem::path api_token_file;
  std::string log_level = "info";
  // "text" or "json".
  std::string log_format = "text";
  // Runs without the mesh key and without CURVE encryption.
  bool insecure = false;
  // CAF scheduler threads; 0 means one per core.
  std::uint32_t worker_threads = 0;
  mesh::membership::swim_config membership;
  neural_config neural;
  dag_config dag;
};

enum class load_status {
  // Start the node with the loaded configuration.
  run,
  // --help, --version or --print-config was handled: print `output` to
  // standard output and exit with status 0.
  exit_ok,
};

struct loaded_config {
  node_config config;
  load_status status = load_status::run;
  // Text to print when status is exit_ok.
  std::string output;
};

// Looks up one environment variable; std::nullopt when it is not set.
using environment_lookup = std::function<std::optional<std::string>(const std::string&)>;

// Returns a lookup that reads the process environment.
[[nodiscard]] environment_lookup process_environment();

// Builds the configuration from defaults, the YAML file, `environment` and
// the command line, then validates it. `default_role` is the role of the
// executable. Fails with errc::invalid_config for an unknown YAML key or
// flag, a malformed value or a missing mesh key. The message names the key
// as the user wrote it (flag, environment name or YAML key), the value, and
// what is accepted. An environment variable set to the empty string counts
// as unset.
[[nodiscard]] result<loaded_config> load(int argc, const char* const* argv, std::string_view default_role,
                                         const environment_lookup& environment);

// Renders `config` as a YAML file that load() accepts back. Prints the key
// and token file paths, never their contents.
[[nodiscard]] std::string to_yaml(const node_config& config);

// Returns the host other nodes should use for this node. That is
// advertise_address when set, else bind_address unless it is a wildcard
// (0.0.0.0 or ::), else the first non-loopback IPv4 address the host name
// resolves to, and 127.0.0.1 when there is none.
[[nodiscard]] std::string resolve_advertise_address(const node_config& config);

}  // namespace mesh::config
