// Unit tests for node configuration loading: defaults, the YAML file,
// MESH_* variables, flags, their precedence, and the error messages for bad
// values. The environment is a map passed in, never the process environment.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "mesh/config/node_config.hpp"
#include "mesh/config/version.hpp"

namespace {

using mesh::config::load_status;

class NodeConfig : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("mesh-config-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    key_file_ = dir_ / "mesh.key";
    std::ofstream(key_file_) << std::string(32, 'k');
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write_yaml(const std::string& text) {
    const auto path = dir_ / "node.yaml";
    std::ofstream(path) << text;
    return path;
  }

  mesh::result<mesh::config::loaded_config> run(std::vector<std::string> args,
                                                std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), "mesh-worker");
    std::vector<const char*> argv;
    for (const auto& arg : args) {
      argv.push_back(arg.c_str());
    }
    const auto lookup = [env](const std::string& name) -> std::optional<std::string> {
      const auto found = env.find(name);
      if (found == env.end()) {
        return std::nullopt;
      }
      return found->second;
    };
    return mesh::config::load(static_cast<int>(argv.size()), argv.data(), "worker", lookup);
  }

  // Runs with the key file set, so tests of other keys pass the key check.
  mesh::result<mesh::config::loaded_config> run_keyed(std::vector<std::string> args,
                                                      std::map<std::string, std::string> env = {}) {
    args.push_back("--key-file");
    args.push_back(key_file_.string());
    return run(std::move(args), std::move(env));
  }

  std::filesystem::path dir_;
  std::filesystem::path key_file_;
};

// Expects an invalid_config error whose message contains every piece.
void expect_invalid(const mesh::result<mesh::config::loaded_config>& loaded,
                    const std::vector<std::string>& pieces) {
  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.err().code, mesh::errc::invalid_config);
  for (const auto& piece : pieces) {
    EXPECT_NE(loaded.err().message.find(piece), std::string::npos)
        << "expected '" << piece << "' in: " << loaded.err().message;
  }
}

TEST_F(NodeConfig, DefaultsWithKeyFile) {
  auto loaded = run_keyed({});
  ASSERT_TRUE(loaded.has_value()) << loaded.err().message;
  const auto& config = loaded->config;
  EXPECT_EQ(loaded->status, load_status::run);
  EXPECT_EQ(config.role, "worker");
  EXPECT_FALSE(config.node_name.empty());
  EXPECT_EQ(config.data_dir, std::filesystem::path("mesh-data") / config.node_name);
  EXPECT_EQ(config.bind_address, "0.0.0.0");
  EXPECT_TRUE(config.advertise_address.empty());
  EXPECT_TRUE(config.bootstrap_peers.empty());
  EXPECT_EQ(config.p2p_port, 4001);
  EXPECT_EQ(config.rpc_port, 8080);
  EXPECT_EQ(config.api_port, 8081);
  EXPECT_EQ(config.mcp_port, 3000);
  EXPECT_EQ(config.metrics_port, 9090);
  EXPECT_EQ(config.log_level, "info");
  EXPECT_EQ(config.log_format, "text");
  EXPECT_FALSE(config.insecure);
  EXPECT_EQ(config.worker_threads, 0U);
  EXPECT_EQ(config.membership.probe_interval, mesh::membership::swim_config{}.probe_interval);
}

TEST_F(NodeConfig, MissingKeyFileWithoutInsecureFails) {
  expect_invalid(run({}), {"--key-file", "MESH_KEY_FILE", "--insecure"});
  expect_invalid(run({"--key-file", (dir_ / "absent.key").string()}), {"--key-file", "absent.key"});
  auto insecure = run({"--insecure"});
  ASSERT_TRUE(insecure.has_value()) << insecure.err().message;
  EXPECT_TRUE(insecure->config.insecure);
}

TEST_F(NodeConfig, PrecedenceFlagsOverEnvOverYamlOverDefaults) {
  const auto yaml = write_yaml(
      "node_name: from-yaml\n"
      "p2p_port: 5001\n"
      "rpc_port: 5080\n"
      "api_port: 5081\n"
      "membership:\n"
      "  probe_interval_ms: 900\n"
      "  probe_timeout_ms: 300\n");
  auto loaded = run_keyed({"--config", yaml.string(), "--api-port", "7081"},
                          {{"MESH_RPC_PORT", "6080"}, {"MESH_API_PORT", "6081"}, {"MESH_PROBE_TIMEOUT_MS", "350"}});
  ASSERT_TRUE(loaded.has_value()) << loaded.err().message;
  const auto& config = loaded->config;
  EXPECT_EQ(config.node_name, "from-yaml");
  EXPECT_EQ(config.p2p_port, 5001);
  EXPECT_EQ(config.rpc_port, 6080);
  EXPECT_EQ(config.api_port, 7081);
  EXPECT_EQ(config.mcp_port, 3000);
  EXPECT_EQ(config.membership.probe_interval, std::chrono::milliseconds(900));
  EXPECT_EQ(config.membership.probe_timeout, std::chrono::milliseconds(350));
  EXPECT_EQ(config.data_dir, std::filesystem::path("mesh-data/from-yaml"));
}

TEST_F(NodeConfig, ConfigPathFromEnvironment) {
  const auto yaml = write_yaml("node_name: via-env-path\n");
  auto loaded = run_keyed({}, {{"MESH_CONFIG", yaml.string()}});
  ASSERT_TRUE(loaded.has_value()) << loaded.err().message;
  EXPECT_EQ(loaded->config.node_name, "via-env-path");
}

TEST_F(NodeConfig, EmptyEnvironmentValueCountsAsUnset) {
  auto loaded = run_keyed({}, {{"MESH_P2P_PORT", ""}});
  ASSERT_TRUE(loaded.has_value()) << loaded.err().message;
  EXPECT_EQ(loaded->config.p2p_port, 4001);
}

TEST_F(NodeConfig, BootstrapPeersFromEachSource) {
  const auto yaml = write_yaml("bootstrap_peers: [seed-1:4001, \"[::1]:4002\"]\n");
  auto from_yaml = run_keyed({"--config", yaml.string()});
  ASSERT_TRUE(from_yaml.has_value()) << from_yaml.err().message;
  EXPECT_EQ(from_yaml->config.bootstrap_peers, (std::vector<std::string>{"seed-1:4001", "[::1]:4002"}));

  auto from_env = run_keyed({}, {{"MESH_BOOTSTRAP_PEERS", "127.0.0.1:4001, 127.0.0.2:4001"}});
  ASSERT_TRUE(from_env.has_value()) << from_env.err().message;
  EXPECT_EQ(from_env->config.bootstrap_peers, (std::vector<std::string>{"127.0.0.1:4001", "127.0.0.2:4001"}));

  auto from_flags = run_keyed({"--bootstrap-peers", "a.example:1,b:2", "--bootstrap-peers", "c:3"});
  ASSERT_TRUE(from_flags.has_value()) << from_flags.err().message;
  EXPECT_EQ(from_flags->config.bootstrap_peers, (std::vector<std::string>{"a.example:1", "b:2", "c:3"}));
}

TEST_F(NodeConfig, BadBootstrapPeerNamesEntry) {
  expect_invalid(run_keyed({"--bootstrap-peers", "seed-1"}), {"--bootstrap-peers", "'seed-1'", "host:port"});
  expect_invalid(run_keyed({}, {{"MESH_BOOTSTRAP_PEERS", "ok:1,bad:0"}}), {"MESH_BOOTSTRAP_PEERS", "'bad:0'"});
  expect_invalid(run_keyed({"--bootstrap-peers", "[zz]:1"}), {"'[zz]:1'"});
  expect_invalid(run_keyed({"--bootstrap-peers", "under_score:1"}), {"'under_score:1'"});
}

TEST_F(NodeConfig, MalformedNumbersNameKeyAndValue) {
  expect_invalid(run_keyed({"--p2p-port", "70000"}), {"--p2p-port", "'70000'", "0 to 65535"});
  expect_invalid(run_keyed({"--rpc-port", "80a"}), {"--rpc-port", "'80a'"});
  expect_invalid(run_keyed({"--rpc-port", "-1"}), {"--rpc-port", "'-1'"});
  expect_invalid(run_keyed({}, {{"MESH_METRICS_PORT", "nine"}}), {"MESH_METRICS_PORT", "'nine'"});
  expect_invalid(run_keyed({}, {{"MESH_WORKER_THREADS", "5000"}}), {"MESH_WORKER_THREADS", "'5000'", "0 to 1024"});
  const auto yaml = write_yaml("membership:\n  gossip_interval_ms: fast\n");
  expect_invalid(run_keyed({"--config", yaml.string()}), {"membership.gossip_interval_ms", "'fast'", "node.yaml"});
}

TEST_F(NodeConfig, UnknownYamlKeyIsRejected) {
  const auto top = write_yaml("p2p_prot: 4001\n");
  expect_invalid(run_keyed({"--config", top.string()}), {"p2p_prot", "p2p_port"});
  const auto nested = write_yaml("membership:\n  probe_intervall_ms: 5\n");
  expect_invalid(run_keyed({"--config", nested.string()}), {"membership.probe_intervall_ms", "probe_interval_ms"});
}

TEST_F(NodeConfig, BadYamlFileIsReported) {
  expect_invalid(run_keyed({"--config", (dir_ / "missing.yaml").string()}), {"missing.yaml"});
  const auto broken = write_yaml("p2p_port: [1, 2\n");
  expect_invalid(run_keyed({"--config", broken.string()}), {"invalid YAML", "node.yaml"});
  const auto list = write_yaml("- a\n- b\n");
  expect_invalid(run_keyed({"--config", list.string()}), {"mapping"});
}

TEST_F(NodeConfig, UnknownLogLevelAndFormat) {
  expect_invalid(run_keyed({"--log-level", "verbose"}), {"--log-level", "'verbose'", "trace, debug, info"});
  expect_invalid(run_keyed({}, {{"MESH_LOG_FORMAT", "xml"}}), {"MESH_LOG_FORMAT", "'xml'", "text, json"});
}

TEST_F(NodeConfig, InsecureAcceptsOnlyTrueOrFalse) {
  expect_invalid(run({}, {{"MESH_INSECURE", "yes"}}), {"MESH_INSECURE", "'yes'", "true or false"});
  auto loaded = run({}, {{"MESH_INSECURE", "true"}});
  ASSERT_TRUE(loaded.has_value()) << loaded.err().message;
  EXPECT_TRUE(loaded->config.insecure);
}

TEST_F(NodeConfig, AddressesAreValidated) {
  expect_invalid(run_keyed({"--bind-address", "localhost"}), {"--bind-address", "'localhost'"});
  expect_invalid(run_keyed({"--advertise-address", "node-1:4001"}), {"--advertise-address", "'node-1:4001'"});
  auto loaded = run_keyed({"--bind-address", "::", "--advertise-address", "node-1.mesh.svc"});
  ASSERT_TRUE(loaded.has_value()) << loaded.err().message;
  EXPECT_EQ(loaded->config.bind_address, "::");
  EXPECT_EQ(loaded->config.advertise_address, "node-1.mesh.svc");
}

TEST_F(NodeConfig, DuplicatePortsAreRejected) {
  expect_invalid(run_keyed({"--rpc-port", "4001"}), {"--rpc-port", "'4001'", "p2p_port"});
  auto zeros = run_keyed({"--p2p-port", "0", "--rpc-port", "0", "--api-port", "0", "--mcp-port", "0",
                          "--metrics-port", "0"});
  ASSERT_TRUE(zeros.has_value()) << zeros.err().message;
}

TEST_F(NodeConfig, RoleFlagAndBadRole) {
  auto agent = run_keyed({"--role", "agent"});
  ASSERT_TRUE(agent.has_value()) << agent.err().message;
  EXPECT_EQ(agent->config.role, "agent");
  expect_invalid(run_keyed({"--role", "leader"}), {"--role", "'leader'", "bootstrap, worker, agent"});
}

TEST_F(NodeConfig, NodeNameIsValidated) {
  expect_invalid(run_keyed({"--node-name", "../etc"}), {"--node-name", "'../etc'"});
}

TEST_F(NodeConfig, MembershipValidationIsApplied) {
  // probe_timeout must be shorter than probe_interval.
  expect_invalid(run_keyed({"--probe-interval-ms", "100", "--probe-timeout-ms", "200"}), {"membership"});
}

// Both scale thresholds are member counts: each source sets them, up to a
// million, and 0 is rejected under the flag's name.
TEST_F(NodeConfig, ScaleThresholdsFromEachSource) {
  using swim = mesh::membership::swim_config;
  const std::pair<std::string, std::uint32_t swim::*> keys[] = {
      {"push_pull_scale_threshold", &swim::push_pull_scale_threshold},
      {"gossip_cold_scale_threshold", &swim::gossip_cold_scale_threshold},
  };
  for (const auto& [key, field] : keys) {
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    std::string variable = "MESH_" + key;
    std::transform(variable.begin(), variable.end(), variable.begin(), [](unsigned char c) { return std::toupper(c); });

    auto from_flag = run_keyed({flag, "64"});
    ASSERT_TRUE(from_flag.has_value()) << from_flag.err().message;
    EXPECT_EQ(from_flag->config.membership.*field, 64U) << key;

    auto from_env = run_keyed({}, {{variable, "1000000"}});
    ASSERT_TRUE(from_env.has_value()) << from_env.err().message;
    EXPECT_EQ(from_env->config.membership.*field, 1000000U) << key;

    const auto yaml = write_yaml("membership:\n  " + key + ": 2000\n");
    auto from_yaml = run_keyed({"--config", yaml.string()});
    ASSERT_TRUE(from_yaml.has_value()) << from_yaml.err().message;
    EXPECT_EQ(from_yaml->config.membership.*field, 2000U) << key;

    expect_invalid(run_keyed({flag, "0"}), {flag, "'0'"});
  }
}

TEST_F(NodeConfig, MembershipRangeNamesTheFlag) {
  expect_invalid(run_keyed({"--gossip-cold-targets", "65"}), {"--gossip-cold-targets", "'65'", "0 to 64"});
  expect_invalid(run_keyed({"--probe-interval-ms", "60001"}), {"--probe-interval-ms", "'60001'", "10 to 60000"});
}

TEST_F(NodeConfig, MembershipRangeCheckedPerLayer) {
  // The flag overrides the variable, but the variable is out of range.
  expect_invalid(run_keyed({"--gossip-cold-targets", "3"}, {{"MESH_GOSSIP_COLD_TARGETS", "65"}}),
                 {"MESH_GOSSIP_COLD_TARGETS", "'65'"});
}

TEST_F(NodeConfig, UnknownFlagIsUsageError) {
  expect_invalid(run_keyed({"--no-such-flag"}), {"--no-such-flag", "--help"});
}

TEST_F(NodeConfig, HelpAndVersionExitWithOutput) {
  auto help = run({"--help"});
  ASSERT_TRUE(help.has_value());
  EXPECT_EQ(help->status, load_status::exit_ok);
  for (const char* flag : {"--node-name", "--bootstrap-peers", "--p2p-port", "--insecure", "--config",
                           "--print-config", "--probe-interval-ms", "MESH_P2P_PORT"}) {
    EXPECT_NE(help->output.find(flag), std::string::npos) << flag;
  }

  auto version = run({"--version"});
  ASSERT_TRUE(version.has_value());
  EXPECT_EQ(version->status, load_status::exit_ok);
  EXPECT_EQ(version->output, "mesh-worker " + std::string(mesh::config::library_version) + "\n");
}

TEST_F(NodeConfig, PrintConfigRoundTripsAndHidesNoSecrets) {
  const auto token = dir_ / "api.token";
  std::ofstream(token) << "very-secret-token";
  auto printed = run_keyed({"--print-config", "--node-name", "n1", "--bootstrap-peers", "127.0.0.1:4001",
                            "--api-token-file", token.string(), "--probe-interval-ms", "750", "--log-format",
                            "json"});
  ASSERT_TRUE(printed.has_value()) << printed.err().message;
  EXPECT_EQ(printed->status, load_status::exit_ok);
  EXPECT_EQ(printed->output.find("very-secret-token"), std::string::npos);
  EXPECT_EQ(printed->output.find(std::string(32, 'k')), std::string::npos);
  EXPECT_NE(printed->output.find(token.string()), std::string::npos);

  const auto yaml = write_yaml(printed->output);
  auto reloaded = run({"--config", yaml.string()});
  ASSERT_TRUE(reloaded.has_value()) << reloaded.err().message << "\n" << printed->output;
  EXPECT_EQ(mesh::config::to_yaml(reloaded->config), printed->output);
  EXPECT_EQ(reloaded->config.membership.probe_interval, std::chrono::milliseconds(750));
  EXPECT_EQ(reloaded->config.bootstrap_peers, std::vector<std::string>{"127.0.0.1:4001"});
}

TEST(AdvertiseAddress, ExplicitThenBindAddress) {
  mesh::config::node_config config;
  config.advertise_address = "node-7.mesh";
  config.bind_address = "10.1.2.3";
  EXPECT_EQ(mesh::config::resolve_advertise_address(config), "node-7.mesh");
  config.advertise_address.clear();
  EXPECT_EQ(mesh::config::resolve_advertise_address(config), "10.1.2.3");
}

TEST(LibraryVersion, MatchesProjectVersion) {
  std::ifstream cmake(std::string(MESH_SOURCE_DIR) + "/CMakeLists.txt");
  ASSERT_TRUE(cmake.good());
  const std::string text((std::istreambuf_iterator<char>(cmake)), std::istreambuf_iterator<char>());
  std::smatch match;
  ASSERT_TRUE(std::regex_search(text, match, std::regex(R"(project\(libmesh\s+VERSION\s+([0-9.]+))")));
  EXPECT_EQ(match[1].str(), mesh::config::library_version);
}

}  // namespace
