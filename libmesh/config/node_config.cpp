#include "mesh/config/node_config.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstdlib>
#include <map>
#include <set>

#include "config/values.hpp"
#include "mesh/config/version.hpp"

namespace mesh::config {

namespace {

using detail::parse_unsigned;

// One value as the user wrote it, with where it came from, for example
// {"4002", "--p2p-port"} or {"4002", "YAML key 'p2p_port' in node.yaml"}.
struct raw_value {
  std::string text;
  std::string origin;
};

using setter = std::function<result<void>(node_config&, const raw_value&)>;

// One configuration key. `name` is the YAML key under its section, from which
// the flag (--name-with-dashes) and the environment variable (MESH_NAME) are
// derived.
struct key_spec {
  std::string section;  // "" or "membership"
  std::string name;
  std::string help;
  setter apply;

  [[nodiscard]] std::string yaml_path() const { return section.empty() ? name : section + "." + name; }

  [[nodiscard]] std::string flag() const {
    std::string out = "--" + name;
    std::replace(out.begin(), out.end(), '_', '-');
    return out;
  }

  [[nodiscard]] std::string env() const {
    std::string out = "MESH_" + name;
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
  }
};

template <class Value, class Parse>
setter assign(Value node_config::*field, Parse parse) {
  return [field, parse](node_config& config, const raw_value& raw) -> result<void> {
    auto parsed = parse(raw.origin, raw.text);
    if (!parsed) {
      return parsed.err();
    }
    config.*field = static_cast<Value>(std::move(*parsed));
    return {};
  };
}

setter assign_port(std::uint16_t node_config::*field) { return assign(field, detail::parse_port); }

setter assign_path(std::filesystem::path node_config::*field) {
  return [field](node_config& config, const raw_value& raw) -> result<void> {
    config.*field = raw.text;
    return {};
  };
}

// Membership keys parse against the ranges that swim_config::validate()
// accepts, so that an error names the key as the user wrote it.
setter assign_ms(std::chrono::milliseconds mesh::membership::swim_config::*field,
                 mesh::membership::field_range range) {
  return [field, range](node_config& config, const raw_value& raw) -> result<void> {
    auto parsed = parse_unsigned(raw.origin, raw.text, range.min, range.max);
    if (!parsed) {
      return parsed.err();
    }
    config.membership.*field = std::chrono::milliseconds(*parsed);
    return {};
  };
}

setter assign_count(std::uint32_t mesh::membership::swim_config::*field, mesh::membership::field_range range) {
  return [field, range](node_config& config, const raw_value& raw) -> result<void> {
    auto parsed = parse_unsigned(raw.origin, raw.text, range.min, range.max);
    if (!parsed) {
      return parsed.err();
    }
    config.membership.*field = static_cast<std::uint32_t>(*parsed);
    return {};
  };
}

// Neural limits: counts and sizes in MiB are capped at 1 << 20, timeouts at
// one day, so that a value off by several orders of magnitude is rejected.
constexpr std::uint64_t max_neural_milliseconds = 24ULL * 60 * 60 * 1000;

setter assign_neural_count(std::uint32_t neural_config::*field) {
  return [field](node_config& config, const raw_value& raw) -> result<void> {
    auto parsed = parse_unsigned(raw.origin, raw.text, 0, 1U << 20U);
    if (!parsed) {
      return parsed.err();
    }
    config.neural.*field = static_cast<std::uint32_t>(*parsed);
    return {};
  };
}

setter assign_neural_ms(std::chrono::milliseconds neural_config::*field) {
  return [field](node_config& config, const raw_value& raw) -> result<void> {
    auto parsed = parse_unsigned(raw.origin, raw.text, 1, max_neural_milliseconds);
    if (!parsed) {
      return parsed.err();
    }
    config.neural.*field = std::chrono::milliseconds(*parsed);
    return {};
  };
}

const std::vector<std::string_view> roles = {"bootstrap", "worker", "agent"};
const std::vector<std::string_view> log_levels = {"trace", "debug", "info", "warn",
                                                  "error", "critical", "off"};
const std::vector<std::string_view> log_formats = {"text", "json"};
const std::vector<std::string_view> dag_presets = {"default", "fast", "secure"};

std::vector<key_spec> make_key_specs() {
  using detail::parse_choice;
  using swim = mesh::membership::swim_config;
  namespace accepted = mesh::membership::ranges;
  std::vector<key_spec> specs;

  specs.push_back({"", "role", "Node role: bootstrap, worker or agent",
                   assign(&node_config::role, [](std::string_view origin, std::string_view text) {
                     return parse_choice(origin, text, roles);
                   })});
  specs.push_back({"", "node_name", "Node name (default: the host name)",
                   assign(&node_config::node_name, detail::parse_node_name)});
  specs.push_back({"", "data_dir", "Data directory (default: ./mesh-data/<node_name>)",
                   assign_path(&node_config::data_dir)});
  specs.push_back({"", "bind_address", "IP address the listening sockets bind to",
                   assign(&node_config::bind_address, detail::parse_bind_address)});
  specs.push_back({"", "advertise_address", "Host other nodes use to reach this node (default: derived)",
                   assign(&node_config::advertise_address,
                          [](std::string_view origin, std::string_view text) -> result<std::string> {
                            if (text.empty()) {
                              return std::string();
                            }
                            return detail::parse_host(origin, text);
                          })});
  specs.push_back({"", "bootstrap_peers", "Comma-separated host:port list of nodes to join through",
                   assign(&node_config::bootstrap_peers, detail::parse_peer_list)});
  specs.push_back({"", "p2p_port", "P2P (ZeroMQ) port; 0 picks a free port", assign_port(&node_config::p2p_port)});
  specs.push_back({"", "rpc_port", "QuDAG RPC HTTP port; 0 picks a free port", assign_port(&node_config::rpc_port)});
  specs.push_back({"", "api_port", "Neural mesh API HTTP port; 0 picks a free port",
                   assign_port(&node_config::api_port)});
  specs.push_back({"", "mcp_port", "MCP HTTP port; 0 picks a free port", assign_port(&node_config::mcp_port)});
  specs.push_back({"", "metrics_port", "Prometheus metrics HTTP port; 0 picks a free port",
                   assign_port(&node_config::metrics_port)});
  specs.push_back({"", "key_file", "File with the 32-byte mesh key (required unless --insecure)",
                   assign_path(&node_config::key_file)});
  specs.push_back({"", "api_token_file", "File with the bearer token for mutating HTTP endpoints",
                   assign_path(&node_config::api_token_file)});
  specs.push_back({"", "log_level", "Log level: trace, debug, info, warn, error, critical or off",
                   assign(&node_config::log_level, [](std::string_view origin, std::string_view text) {
                     return parse_choice(origin, text, log_levels);
                   })});
  specs.push_back({"", "log_format", "Log format: text or json",
                   assign(&node_config::log_format, [](std::string_view origin, std::string_view text) {
                     return parse_choice(origin, text, log_formats);
                   })});
  specs.push_back({"", "insecure", "Run without the mesh key and without CURVE encryption",
                   assign(&node_config::insecure, detail::parse_bool)});
  specs.push_back({"", "worker_threads", "CAF scheduler threads; 0 means one per core",
                   assign(&node_config::worker_threads, [](std::string_view origin, std::string_view text) {
                     return parse_unsigned(origin, text, 0, 1024);
                   })});

  const std::string section = "membership";
  specs.push_back({section, "probe_interval_ms", "SWIM probe interval in milliseconds",
                   assign_ms(&swim::probe_interval, accepted::probe_interval)});
  specs.push_back({section, "probe_timeout_ms", "Direct probe ack timeout in milliseconds",
                   assign_ms(&swim::probe_timeout, accepted::probe_timeout)});
  specs.push_back({section, "indirect_probes", "Members asked for indirect probes",
                   assign_count(&swim::indirect_probes, accepted::indirect_probes)});
  specs.push_back({section, "gossip_interval_ms", "Gossip round interval in milliseconds",
                   assign_ms(&swim::gossip_interval, accepted::gossip_interval)});
  specs.push_back({section, "gossip_fanout", "Members contacted per gossip round",
                   assign_count(&swim::gossip_fanout, accepted::gossip_fanout)});
  specs.push_back({section, "gossip_cold_targets",
                   "Gossip targets per round not contacted in the last minute",
                   assign_count(&swim::gossip_cold_targets, accepted::gossip_cold_targets)});
  specs.push_back({section, "gossip_cold_scale_threshold",
                   "Alive members above which every regular gossip target is random",
                   assign_count(&swim::gossip_cold_scale_threshold, accepted::gossip_cold_scale_threshold)});
  specs.push_back({section, "gossip_news_interval_ms",
                   "Shortest gap between gossip rounds while unsent updates wait, in milliseconds",
                   assign_ms(&swim::gossip_news_interval, accepted::gossip_news_interval)});
  specs.push_back({section, "retransmit_multiplier", "Update retransmissions per log10(N + 1)",
                   assign_count(&swim::retransmit_multiplier, accepted::retransmit_multiplier)});
  specs.push_back({section, "push_pull_interval_ms", "Full state push-pull interval in milliseconds",
                   assign_ms(&swim::push_pull_interval, accepted::push_pull_interval)});
  specs.push_back({section, "push_pull_scale_threshold",
                   "Alive members above which the push-pull interval grows by one interval per doubling",
                   assign_count(&swim::push_pull_scale_threshold, accepted::push_pull_scale_threshold)});
  specs.push_back({section, "suspicion_multiplier", "Minimum suspicion timeout multiplier",
                   assign_count(&swim::suspicion_multiplier, accepted::suspicion_multiplier)});
  specs.push_back({section, "suspicion_max_multiplier", "Maximum suspicion timeout, as a multiple of the minimum",
                   assign_count(&swim::suspicion_max_multiplier, accepted::suspicion_max_multiplier)});
  specs.push_back({section, "dead_reap_after_ms", "Time after which dead and left members are forgotten, in milliseconds",
                   assign_ms(&swim::dead_reap_after, accepted::dead_reap_after)});
  specs.push_back({section, "join_retry_initial_ms", "First join retry delay in milliseconds",
                   assign_ms(&swim::join_retry_initial, accepted::join_retry_initial)});
  specs.push_back({section, "join_retry_max_ms", "Maximum join retry delay in milliseconds",
                   assign_ms(&swim::join_retry_max, accepted::join_retry_max)});
  specs.push_back({section, "gossip_to_dead_ms", "Time dead members keep receiving gossip, in milliseconds",
                   assign_ms(&swim::gossip_to_dead, accepted::gossip_to_dead)});
  specs.push_back({section, "awareness_max_multiplier",
                   "Maximum Lifeguard local health multiplier; 0 turns local health off",
                   assign_count(&swim::awareness_max_multiplier, accepted::awareness_max_multiplier)});

  const std::string dag_section = "dag";
  specs.push_back({dag_section, "avalanche_preset", "Avalanche parameter preset: default, fast or secure",
                   [](node_config& config, const raw_value& raw) -> result<void> {
                     auto parsed = detail::parse_choice(raw.origin, raw.text, dag_presets);
                     if (!parsed) {
                       return parsed.err();
                     }
                     config.dag.preset = std::move(*parsed);
                     return {};
                   }});
  specs.push_back({dag_section, "max_vertex_payload_bytes", "Largest vertex payload accepted, in bytes",
                   [](node_config& config, const raw_value& raw) -> result<void> {
                     auto parsed = parse_unsigned(raw.origin, raw.text, 1, 4U * 1024U * 1024U);
                     if (!parsed) {
                       return parsed.err();
                     }
                     config.dag.max_payload_bytes = static_cast<std::uint32_t>(*parsed);
                     return {};
                   }});

  const std::string neural = "neural";
  specs.push_back({neural, "max_agents", "Neural agents this node runs at once; 0 hosts none",
                   assign_neural_count(&neural_config::max_agents)});
  specs.push_back({neural, "max_agent_memory_mb", "Estimated memory limit of one neural agent in MiB",
                   assign_neural_count(&neural_config::max_agent_memory_mb)});
  specs.push_back({neural, "inference_timeout_ms", "Time limit of one inference request in milliseconds",
                   assign_neural_ms(&neural_config::inference_timeout)});
  specs.push_back({neural, "model_cache_mb", "Memory of the models loaded for inference in MiB",
                   assign_neural_count(&neural_config::model_cache_mb)});
  specs.push_back({neural, "replica_timeout_ms",
                   "Silence after which a job places a training replica again, in milliseconds",
                   assign_neural_ms(&neural_config::replica_timeout)});
  return specs;
}

// The values of one layer (YAML file, environment or flags), keyed by YAML path.
using layer = std::map<std::string, raw_value>;

std::string accepted_keys(const std::vector<key_spec>& specs, std::string_view section) {
  std::string out;
  for (const auto& spec : specs) {
    if (spec.section == section) {
      out += out.empty() ? "" : ", ";
      out += spec.name;
    }
  }
  return out;
}

result<std::string> scalar_text(const YAML::Node& node, const std::string& origin, bool list_allowed) {
  if (node.IsNull()) {
    return std::string();
  }
  if (node.IsScalar()) {
    return node.Scalar();
  }
  if (list_allowed && node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) {
        return fail(errc::invalid_config, "invalid " + origin + ": expected a list of host:port strings");
      }
      joined += joined.empty() ? "" : ",";
      joined += item.Scalar();
    }
    return joined;
  }
  return fail(errc::invalid_config,
              "invalid " + origin + ": expected a single value" + (list_allowed ? " or a list" : ""));
}

result<layer> read_yaml_layer(const std::string& path, const std::vector<key_spec>& specs) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return fail(errc::invalid_config, "cannot read config file '" + path + "': it does not exist or is not readable");
  } catch (const YAML::Exception& e) {
    return fail(errc::invalid_config, "invalid YAML in config file '" + path + "': " + e.what());
  }

  layer values;
  if (root.IsNull()) {
    return values;
  }
  if (!root.IsMap()) {
    return fail(errc::invalid_config, "config file '" + path + "' must contain a mapping of keys to values");
  }

  const auto origin_of = [&](const std::string& yaml_path) {
    return "YAML key '" + yaml_path + "' in '" + path + "'";
  };
  const auto find_spec = [&](const std::string& section, const std::string& name) -> const key_spec* {
    for (const auto& spec : specs) {
      if (spec.section == section && spec.name == name) {
        return &spec;
      }
    }
    return nullptr;
  };

  // Reads the keys of one mapping; `section` is "" for the top level.
  const std::function<result<void>(const YAML::Node&, const std::string&)> read_map =
      [&](const YAML::Node& map, const std::string& section) -> result<void> {
    for (const auto& entry : map) {
      const auto name = entry.first.as<std::string>();
      const std::string yaml_path = section.empty() ? name : section + "." + name;

      if (section.empty() && (name == "membership" || name == "neural" || name == "dag")) {
        if (entry.second.IsNull()) {
          continue;
        }
        if (!entry.second.IsMap()) {
          return fail(errc::invalid_config,
                      "invalid " + origin_of(yaml_path) + ": expected a mapping of " + name + " keys");
        }
        if (auto nested = read_map(entry.second, name); !nested) {
          return nested;
        }
        continue;
      }

      const auto* spec = find_spec(section, name);
      if (spec == nullptr) {
        return fail(errc::invalid_config, "unknown key '" + yaml_path + "' in config file '" + path +
                                              "'; accepted keys" + (section.empty() ? "" : " under " + section) +
                                              ": " + accepted_keys(specs, section) +
                                              (section.empty() ? ", membership, neural, dag" : ""));
      }
      auto text = scalar_text(entry.second, origin_of(yaml_path), name == "bootstrap_peers");
      if (!text) {
        return text.err();
      }
      values[yaml_path] = raw_value{std::move(*text), origin_of(yaml_path)};
    }
    return {};
  };

  try {
    if (auto read = read_map(root, ""); !read) {
      return read.err();
    }
  } catch (const YAML::Exception& e) {
    return fail(errc::invalid_config, "invalid YAML in config file '" + path + "': " + e.what());
  }
  return values;
}

layer read_environment_layer(const std::vector<key_spec>& specs, const environment_lookup& environment) {
  layer values;
  for (const auto& spec : specs) {
    const auto name = spec.env();
    auto value = environment(name);
    if (value && !value->empty()) {
      values[spec.yaml_path()] = raw_value{std::move(*value), "environment variable " + name};
    }
  }
  return values;
}

result<void> apply_layer(node_config& config, const layer& values, const std::vector<key_spec>& specs,
                         std::map<std::string, std::string>& origins) {
  for (const auto& spec : specs) {
    const auto found = values.find(spec.yaml_path());
    if (found == values.end()) {
      continue;
    }
    if (auto applied = spec.apply(config, found->second); !applied) {
      return applied;
    }
    origins[spec.yaml_path()] = found->second.origin;
  }
  return {};
}

std::string host_name() {
  std::array<char, 256> buffer{};
  if (::gethostname(buffer.data(), buffer.size() - 1) != 0 || buffer[0] == '\0') {
    return "mesh-node";
  }
  return buffer.data();
}

std::string origin_or_default(const std::map<std::string, std::string>& origins, const std::string& key) {
  const auto found = origins.find(key);
  return found == origins.end() ? key + " (default)" : found->second;
}

// Checks that involve several keys or the file system, after all layers.
result<void> validate(node_config& config, const std::map<std::string, std::string>& origins) {
  if (config.node_name.empty()) {
    auto derived = detail::parse_node_name("node name derived from the host name", host_name());
    if (!derived) {
      return fail(errc::invalid_config, derived.err().message + "; set --node-name or MESH_NODE_NAME");
    }
    config.node_name = std::move(*derived);
  }
  if (config.data_dir.empty()) {
    config.data_dir = std::filesystem::path("mesh-data") / config.node_name;
  }

  const std::array<std::pair<const char*, std::uint16_t>, 5> ports = {{
      {"p2p_port", config.p2p_port},
      {"rpc_port", config.rpc_port},
      {"api_port", config.api_port},
      {"mcp_port", config.mcp_port},
      {"metrics_port", config.metrics_port},
  }};
  for (std::size_t i = 0; i < ports.size(); ++i) {
    for (std::size_t j = i + 1; j < ports.size(); ++j) {
      if (ports[i].second != 0 && ports[i].second == ports[j].second) {
        return fail(errc::invalid_config,
                    "invalid " + origin_or_default(origins, ports[j].first) + " '" +
                        std::to_string(ports[j].second) + "': the port is already used by " +
                        origin_or_default(origins, ports[i].first) + "; give each port its own number or 0");
      }
    }
  }

  if (!config.insecure) {
    if (config.key_file.empty()) {
      return fail(errc::invalid_config,
                  "missing mesh key: set --key-file, MESH_KEY_FILE or key_file to the 32-byte key file, "
                  "or pass --insecure to run without encryption");
    }
    std::error_code ec;
    if (!std::filesystem::is_regular_file(config.key_file, ec)) {
      return fail(errc::invalid_config, "invalid " + origin_or_default(origins, "key_file") + " '" +
                                            config.key_file.string() + "': no such regular file");
    }
  }
  if (!config.api_token_file.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(config.api_token_file, ec)) {
      return fail(errc::invalid_config, "invalid " + origin_or_default(origins, "api_token_file") + " '" +
                                            config.api_token_file.string() + "': no such regular file");
    }
  }

  if (auto membership = config.membership.validate(); !membership) {
    return fail(errc::invalid_config, "invalid membership configuration: " + membership.err().message);
  }
  return {};
}

// Flag values as parsed by CLI11, before validation.
struct command_line {
  std::vector<std::string> values;  // one per key_spec, same order
  std::vector<CLI::Option*> options;
  std::vector<std::string> peers;
  CLI::Option* peers_option = nullptr;
  bool insecure = false;
  CLI::Option* insecure_option = nullptr;
  std::string config_path;
  CLI::Option* config_option = nullptr;
  bool print_config = false;
  bool version = false;
};

// Placeholder for the value in --help, from the key's unit suffix.
std::string value_name(std::string_view name) {
  if (name.ends_with("_port")) {
    return "PORT";
  }
  if (name.ends_with("_ms")) {
    return "MS";
  }
  if (name.ends_with("_mb")) {
    return "MIB";
  }
  if (name.ends_with("_bytes")) {
    return "BYTES";
  }
  if (name.ends_with("_file") || name.ends_with("_dir")) {
    return "PATH";
  }
  if (name == "worker_threads" || name == "max_agents" || name.ends_with("_multiplier") || name == "indirect_probes" ||
      name == "gossip_fanout" || name == "gossip_cold_targets" || name.ends_with("_threshold")) {
    return "N";
  }
  return "TEXT";
}

void add_flags(CLI::App& app, const std::vector<key_spec>& specs, command_line& cli) {
  cli.values.resize(specs.size());
  cli.options.resize(specs.size(), nullptr);
  cli.config_option =
      app.add_option("--config", cli.config_path, "YAML configuration file (env MESH_CONFIG)")->type_name("PATH");
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& spec = specs[i];
    const std::string help = spec.help + " (env " + spec.env() + ")";
    if (spec.name == "insecure") {
      cli.insecure_option = app.add_flag("--insecure", cli.insecure, help);
    } else if (spec.name == "bootstrap_peers") {
      cli.peers_option = app.add_option("--bootstrap-peers", cli.peers, help)->delimiter(',')->type_name("HOST:PORT,...");
    } else {
      cli.options[i] = app.add_option(spec.flag(), cli.values[i], help)
                           ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                           ->type_name(value_name(spec.name));
    }
  }
  app.add_flag("--print-config", cli.print_config, "Print the effective configuration as YAML and exit");
  app.add_flag("--version", cli.version, "Print the version and exit");
}

layer flag_layer(const std::vector<key_spec>& specs, const command_line& cli) {
  layer values;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const auto& spec = specs[i];
    if (cli.options[i] != nullptr && cli.options[i]->count() > 0) {
      values[spec.yaml_path()] = raw_value{cli.values[i], spec.flag()};
    }
  }
  if (cli.peers_option != nullptr && cli.peers_option->count() > 0) {
    std::string joined;
    for (const auto& peer : cli.peers) {
      joined += joined.empty() ? "" : ",";
      joined += peer;
    }
    values["bootstrap_peers"] = raw_value{joined, "--bootstrap-peers"};
  }
  if (cli.insecure_option != nullptr && cli.insecure_option->count() > 0) {
    values["insecure"] = raw_value{cli.insecure ? "true" : "false", "--insecure"};
  }
  return values;
}

}  // namespace

environment_lookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) {
      return std::nullopt;
    }
    return std::string(value);
  };
}

result<loaded_config> load(int argc, const char* const* argv, std::string_view default_role,
                           const environment_lookup& environment) {
  const auto specs = make_key_specs();
  loaded_config loaded;
  std::map<std::string, std::string> origins;

  // Step 1: built-in defaults.
  const std::string program = "mesh-" + std::string(default_role);
  if (auto role = detail::parse_choice("default role", default_role, roles); !role) {
    return role.err();
  } else {
    loaded.config.role = std::move(*role);
  }

  // Step 2: parse the command line first, because it names the YAML file
  // and may ask only for help or the version.
  CLI::App app(program + " " + std::string(library_version) + ": a libmesh node", program);
  command_line cli;
  add_flags(app, specs, cli);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    loaded.status = load_status::exit_ok;
    loaded.output = app.help();
    return loaded;
  } catch (const CLI::ParseError& e) {
    return fail(errc::invalid_config,
                "invalid command line: " + std::string(e.what()) + "; run " + program + " --help for the accepted flags");
  }
  if (cli.version) {
    loaded.status = load_status::exit_ok;
    loaded.output = program + " " + std::string(library_version) + "\n";
    return loaded;
  }

  // Step 3: the YAML file, named by --config or MESH_CONFIG.
  std::string config_path = cli.config_path;
  if (cli.config_option->count() == 0) {
    config_path = environment("MESH_CONFIG").value_or("");
  }
  if (!config_path.empty()) {
    auto file_values = read_yaml_layer(config_path, specs);
    if (!file_values) {
      return file_values.err();
    }
    if (auto applied = apply_layer(loaded.config, *file_values, specs, origins); !applied) {
      return applied.err();
    }
  }

  // Step 4: MESH_* environment variables, then step 5: flags.
  if (auto applied = apply_layer(loaded.config, read_environment_layer(specs, environment), specs, origins);
      !applied) {
    return applied.err();
  }
  if (auto applied = apply_layer(loaded.config, flag_layer(specs, cli), specs, origins); !applied) {
    return applied.err();
  }

  if (auto valid = validate(loaded.config, origins); !valid) {
    return valid.err();
  }

  if (cli.print_config) {
    loaded.status = load_status::exit_ok;
    loaded.output = to_yaml(loaded.config);
  }
  return loaded;
}

std::string to_yaml(const node_config& config) {
  const auto& m = config.membership;
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "role" << YAML::Value << config.role;
  out << YAML::Key << "node_name" << YAML::Value << config.node_name;
  out << YAML::Key << "data_dir" << YAML::Value << config.data_dir.string();
  out << YAML::Key << "bind_address" << YAML::Value << config.bind_address;
  out << YAML::Key << "advertise_address" << YAML::Value << config.advertise_address;
  out << YAML::Key << "bootstrap_peers" << YAML::Value << YAML::Flow << config.bootstrap_peers;
  out << YAML::Key << "p2p_port" << YAML::Value << config.p2p_port;
  out << YAML::Key << "rpc_port" << YAML::Value << config.rpc_port;
  out << YAML::Key << "api_port" << YAML::Value << config.api_port;
  out << YAML::Key << "mcp_port" << YAML::Value << config.mcp_port;
  out << YAML::Key << "metrics_port" << YAML::Value << config.metrics_port;
  out << YAML::Key << "key_file" << YAML::Value << config.key_file.string();
  out << YAML::Key << "api_token_file" << YAML::Value << config.api_token_file.string();
  out << YAML::Key << "log_level" << YAML::Value << config.log_level;
  out << YAML::Key << "log_format" << YAML::Value << config.log_format;
  out << YAML::Key << "insecure" << YAML::Value << config.insecure;
  out << YAML::Key << "worker_threads" << YAML::Value << config.worker_threads;

  out << YAML::Key << "membership" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "probe_interval_ms" << YAML::Value << m.probe_interval.count();
  out << YAML::Key << "probe_timeout_ms" << YAML::Value << m.probe_timeout.count();
  out << YAML::Key << "indirect_probes" << YAML::Value << m.indirect_probes;
  out << YAML::Key << "gossip_interval_ms" << YAML::Value << m.gossip_interval.count();
  out << YAML::Key << "gossip_fanout" << YAML::Value << m.gossip_fanout;
  out << YAML::Key << "gossip_cold_targets" << YAML::Value << m.gossip_cold_targets;
  out << YAML::Key << "gossip_cold_scale_threshold" << YAML::Value << m.gossip_cold_scale_threshold;
  out << YAML::Key << "gossip_news_interval_ms" << YAML::Value << m.gossip_news_interval.count();
  out << YAML::Key << "retransmit_multiplier" << YAML::Value << m.retransmit_multiplier;
  out << YAML::Key << "push_pull_interval_ms" << YAML::Value << m.push_pull_interval.count();
  out << YAML::Key << "push_pull_scale_threshold" << YAML::Value << m.push_pull_scale_threshold;
  out << YAML::Key << "suspicion_multiplier" << YAML::Value << m.suspicion_multiplier;
  out << YAML::Key << "suspicion_max_multiplier" << YAML::Value << m.suspicion_max_multiplier;
  out << YAML::Key << "dead_reap_after_ms" << YAML::Value << m.dead_reap_after.count();
  out << YAML::Key << "join_retry_initial_ms" << YAML::Value << m.join_retry_initial.count();
  out << YAML::Key << "join_retry_max_ms" << YAML::Value << m.join_retry_max.count();
  out << YAML::Key << "gossip_to_dead_ms" << YAML::Value << m.gossip_to_dead.count();
  out << YAML::Key << "awareness_max_multiplier" << YAML::Value << m.awareness_max_multiplier;
  out << YAML::EndMap;

  out << YAML::Key << "dag" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "avalanche_preset" << YAML::Value << config.dag.preset;
  out << YAML::Key << "max_vertex_payload_bytes" << YAML::Value << config.dag.max_payload_bytes;
  out << YAML::EndMap;

  const auto& n = config.neural;
  out << YAML::Key << "neural" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "max_agents" << YAML::Value << n.max_agents;
  out << YAML::Key << "max_agent_memory_mb" << YAML::Value << n.max_agent_memory_mb;
  out << YAML::Key << "inference_timeout_ms" << YAML::Value << n.inference_timeout.count();
  out << YAML::Key << "model_cache_mb" << YAML::Value << n.model_cache_mb;
  out << YAML::Key << "replica_timeout_ms" << YAML::Value << n.replica_timeout.count();
  out << YAML::EndMap;

  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string resolve_advertise_address(const node_config& config) {
  if (!config.advertise_address.empty()) {
    return config.advertise_address;
  }
  if (config.bind_address != "0.0.0.0" && config.bind_address != "::") {
    return config.bind_address;
  }

  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  std::string chosen = "127.0.0.1";
  if (::getaddrinfo(host_name().c_str(), nullptr, &hints, &found) == 0) {
    for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
      const auto* ipv4 = reinterpret_cast<const sockaddr_in*>(entry->ai_addr);
      const auto host_order = ntohl(ipv4->sin_addr.s_addr);
      if ((host_order >> 24U) == 127U) {
        continue;
      }
      std::array<char, NI_MAXHOST> text{};
      if (::getnameinfo(entry->ai_addr, entry->ai_addrlen, text.data(), text.size(), nullptr, 0,
                        NI_NUMERICHOST) == 0) {
        chosen = text.data();
        break;
      }
    }
    ::freeaddrinfo(found);
  }
  return chosen;
}

}  // namespace mesh::config
