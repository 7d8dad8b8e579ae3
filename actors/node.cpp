#include "mesh/node.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <thread>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "mesh/actors/health_monitor.hpp"
#include "mesh/actors/membership_actor.hpp"
#include "mesh/actors/messages.hpp"
#include "mesh/crypto/mesh_key.hpp"
#include "mesh/config/version.hpp"
#include "mesh/membership/codec.hpp"
#include "mesh/telemetry/logging.hpp"
#include "node_impl.hpp"

namespace mesh {

namespace {

result<std::string> read_token(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(errc::invalid_config,
                "MESH_API_TOKEN_FILE: cannot read '" + file.string() + "'");
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto token = buffer.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
    token.pop_back();
  }
  if (token.size() < 16) {
    return fail(errc::invalid_config, "MESH_API_TOKEN_FILE: token in '" + file.string() +
                                          "' is shorter than 16 characters");
  }
  return token;
}

// Validates a membership body on the wire thread, so that nothing malformed
// reaches the membership actor, then hands it over.
wire::handler membership_handler(caf::actor target,
                                 std::shared_ptr<std::atomic<std::int64_t>> backlog) {
  return [target, backlog](mesh::v1::Envelope&& envelope) -> result<void> {
    mesh::actors::inbound_membership inbound;
    if (!inbound.message.ParseFromString(envelope.body())) {
      return fail(errc::decode_error, "membership body is not a valid MembershipMessage");
    }
    if (auto valid = membership::validate_message(inbound.message, membership::codec_limits{});
        !valid) {
      return valid.err();
    }
    if (!membership::is_valid_address(envelope.sender_address())) {
      return fail(errc::decode_error, "envelope sender_address '" + envelope.sender_address() +
                                          "' is not host:port");
    }
    inbound.from_address = envelope.sender_address();
    backlog->fetch_add(1, std::memory_order_relaxed);
    caf::anon_send(target, std::move(inbound));
    return {};
  };
}

// Paths that one port serves, so that the 404 reply of another port names it.
struct served_paths {
  const char* prefix;
  const char* purpose;
  const char* where;
};
constexpr served_paths path_owners[] = {
    {"/v1/status", "rpc", "the RPC port (rpc_port, 8080 by default)"},
    {"/v1/peers", "rpc", "the RPC port (rpc_port, 8080 by default)"},
    {"/v1/vertices", "rpc", "the RPC port (rpc_port, 8080 by default)"},
    {"/v1/dag", "rpc", "the RPC port (rpc_port, 8080 by default)"},
    {"/v1/agents", "api", "the API port (api_port, 8081 by default)"},
    {"/v1/jobs", "api", "the API port (api_port, 8081 by default)"},
    {"/v1/models", "api", "the API port (api_port, 8081 by default)"},
    {"/metrics", "metrics", "the metrics port (metrics_port, 9090 by default)"},
};

result<std::unique_ptr<http::server>> start_server(const node::impl& state, std::uint16_t port,
                                                   const char* purpose,
                                                   void (node::impl::*add_routes)(http::router&)
                                                       const) {
  auto routes = std::make_shared<http::router>();
  state.add_health_routes(*routes);
  if (add_routes != nullptr) {
    (state.*add_routes)(*routes);
  }
  for (const auto& owner : path_owners) {
    if (std::string_view(owner.purpose) != purpose) {
      routes->add_hint(owner.prefix, std::string("this path is served on ") + owner.where);
    }
  }
  auto server = http::server::start(state.config.bind_address, port, routes, state.api_token);
  if (!server) {
    return fail(server.err().code,
                std::string(purpose) + " server: " + server.err().message);
  }
  telemetry::logger("http")->info("listening purpose={} address={}:{}", purpose,
                                  state.config.bind_address, (*server)->port());
  return server;
}

}  // namespace

node::node(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

node::~node() { stop(); }

result<std::unique_ptr<node>> node::start(const config::node_config& config) {
  auto log = telemetry::logger("node");
  auto state = std::make_unique<impl>();
  state->config = config;

  const auto role = membership::parse_role(config.role);
  if (!role) {
    return fail(errc::invalid_config, "role '" + config.role +
                                          "' is invalid: accepted are bootstrap, worker, agent");
  }
  if (auto valid = config.membership.validate(); !valid) {
    return valid.err();
  }

  // Identity and keys.
  auto identity = crypto::identity::load_or_create(config.data_dir);
  if (!identity) {
    return identity.err();
  }
  state->identity.emplace(std::move(*identity));

  std::optional<crypto::curve_keypair> curve;
  if (!config.insecure) {
    auto key = crypto::load_mesh_key(config.key_file);
    if (!key) {
      return key.err();
    }
    auto derived = crypto::derive_curve_keypair(*key);
    if (!derived) {
      return derived.err();
    }
    curve = std::move(*derived);
    state->secure = true;
  } else {
    log->warn("running without CURVE: P2P traffic is neither authenticated nor encrypted");
  }

  if (!config.api_token_file.empty()) {
    auto token = read_token(config.api_token_file);
    if (!token) {
      return token.err();
    }
    state->api_token = std::move(*token);
  }

  // Metrics.
  state->process_metrics = std::make_shared<telemetry::process_collector>();
  state->wire_metrics = std::make_unique<wire::wire_metrics>(*state->registry);
  state->membership_metrics = std::make_unique<membership::membership_metrics>(*state->registry);
  state->actor_metrics = std::make_unique<telemetry::actor_metrics>(*state->registry);
  telemetry::register_build_info(*state->registry, std::string(config::library_version));

  // Actor system and the membership actor, which waits for its start message.
  state->actor_config = std::make_unique<caf::actor_system_config>();
  // CAF's work-stealing workers poll for jobs and sleep 50 us between polls
  // before they block. A node runs a few dozen actors and handles a few
  // hundred messages per second, so each message ended in a dozen sleeps.
  // In a 100-process join storm the workers made 3,400 to 4,300 context
  // switches per process, about 80 % of the total. Work sharing keeps one
  // queue under a mutex and blocks on a condition variable at once. With
  // this few actors the shared queue is not contended.
  state->actor_config->set("scheduler.policy", caf::atom("sharing"));
  // CAF's own default is at least four workers; the node uses one per core.
  const std::size_t workers = config.worker_threads > 0
                                  ? config.worker_threads
                                  : std::max(1u, std::thread::hardware_concurrency());
  state->actor_config->set("scheduler.max-threads", workers);
  state->system = std::make_unique<caf::actor_system>(*state->actor_config);

  std::random_device entropy;
  actors::membership_actor_config membership_config;
  membership_config.swim = config.membership;
  membership_config.initial_incarnation = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  membership_config.seed = (static_cast<std::uint64_t>(entropy()) << 32) | entropy();
  membership_config.bootstrap_peers = config.bootstrap_peers;
  auto inbound_backlog = std::make_shared<std::atomic<std::int64_t>>(0);
  membership_config.inbound_backlog = inbound_backlog;
  membership_config.board = &state->board;
  membership_config.metrics = state->membership_metrics.get();
  membership_config.actor_metrics = state->actor_metrics.get();
  state->membership = actors::spawn_membership_actor(*state->system, std::move(membership_config));

  // Wire.
  state->advertise_host = config::resolve_advertise_address(config);
  wire::transport_config wire_config;
  wire_config.node_id = state->identity->node_id();
  wire_config.bind_address = config.bind_address;
  wire_config.port = config.p2p_port;
  wire_config.advertise_host = state->advertise_host;
  wire_config.curve = curve;
  std::map<mesh::v1::MessageKind, wire::handler> handlers;
  handlers.emplace(mesh::v1::MESSAGE_KIND_MEMBERSHIP, membership_handler(state->membership, inbound_backlog));
  if (auto spawned = state->spawn_dag(); !spawned) {
    caf::anon_send_exit(state->membership, caf::exit_reason::user_shutdown);
    return spawned.err();
  }
  state->spawn_neural();
  handlers.emplace(mesh::v1::MESSAGE_KIND_DAG, state->dag_handler());
  handlers.emplace(mesh::v1::MESSAGE_KIND_NEURAL, state->neural_handler());
  auto transport = wire::transport::start(std::move(wire_config), std::move(handlers),
                                          *state->wire_metrics);
  if (!transport) {
    for (const auto& started : {state->neural, state->dag, state->membership}) {
      if (started) {
        caf::anon_send_exit(started, caf::exit_reason::user_shutdown);
      }
    }
    return fail(transport.err().code, "P2P transport: " + transport.err().message);
  }
  state->transport = std::move(*transport);
  state->ports.p2p = state->transport->port();
  log->info("P2P listening address={} advertised={} secure={}", config.bind_address,
            state->transport->advertise_address(), state->secure);

  // HTTP servers.
  auto fail_started = [&state](const error& reason) -> error {
    auto failed = std::unique_ptr<node>(new node(std::move(state)));
    failed->stop(std::chrono::milliseconds(0));
    return reason;
  };
  auto rpc = start_server(*state, config.rpc_port, "rpc", &impl::add_mesh_routes);
  if (!rpc) {
    return fail_started(rpc.err());
  }
  auto api = start_server(*state, config.api_port, "api", &impl::add_neural_routes);
  if (!api) {
    return fail_started(api.err());
  }
  auto mcp = start_server(*state, config.mcp_port, "mcp", nullptr);
  if (!mcp) {
    return fail_started(mcp.err());
  }
  auto metrics = start_server(*state, config.metrics_port, "metrics", &impl::add_metrics_routes);
  if (!metrics) {
    return fail_started(metrics.err());
  }
  state->rpc_server = std::move(*rpc);
  state->api_server = std::move(*api);
  state->mcp_server = std::move(*mcp);
  state->metrics_server = std::move(*metrics);
  state->ports.rpc = state->rpc_server->port();
  state->ports.api = state->api_server->port();
  state->ports.mcp = state->mcp_server->port();
  state->ports.metrics = state->metrics_server->port();

  // Start membership with the ports that were actually bound.
  actors::start_membership start;
  start.transport = state->transport.get();
  start.self.node_id = state->identity->node_id();
  start.self.name = config.node_name;
  start.self.role = *role;
  start.self.address = state->transport->advertise_address();
  start.self.ports = membership::service_ports{state->ports.p2p, state->ports.rpc,
                                               state->ports.api, state->ports.mcp,
                                               state->ports.metrics};
  start.self.identity_key = state->identity->public_key();
  state->board.publish_members({}, membership::member{start.self, membership::member_state::alive,
                                                      0, membership::timestamp{0}},
                               false);
  caf::anon_send(state->membership, std::move(start));
  state->start_dag();
  state->start_neural();

  actors::health_monitor_config health_config;
  health_config.watched.emplace("membership", state->membership);
  for (const auto& [name, component] : {std::pair{"dag", state->dag}, std::pair{"neural", state->neural}}) {
    if (component) {
      health_config.watched.emplace(name, component);
    }
  }
  health_config.board = &state->board;
  health_config.actor_metrics = state->actor_metrics.get();
  state->health = actors::spawn_health_monitor(*state->system, std::move(health_config));

  log->info("node started id={} name={} role={} p2p={} rpc={} api={} mcp={} metrics={}",
            state->identity->node_id(), config.node_name, config.role, state->ports.p2p,
            state->ports.rpc, state->ports.api, state->ports.mcp, state->ports.metrics);
  return std::unique_ptr<node>(new node(std::move(state)));
}

void node::stop(std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  auto log = telemetry::logger("node");
  log->info("node stopping id={}", impl_->identity ? impl_->identity->node_id() : "");

  // 1. Graceful leave while the transport still runs.
  if (impl_->membership && impl_->transport && timeout.count() > 0) {
    caf::scoped_actor self{*impl_->system};
    self->request(impl_->membership, timeout, actors::leave_atom::value)
        .receive([](bool) {},
                 [&log](const caf::error& err) {
                   log->warn("graceful leave did not finish error={}", caf::to_string(err));
                 });
  }

  // 2. Actors, then the servers and the wire thread, in reverse start order.
  if (impl_->health) {
    caf::anon_send_exit(impl_->health, caf::exit_reason::user_shutdown);
  }
  for (const auto& started : {impl_->neural, impl_->dag, impl_->membership}) {
    if (started) {
      caf::anon_send_exit(started, caf::exit_reason::user_shutdown);
    }
  }
  for (auto* server : {&impl_->metrics_server, &impl_->mcp_server, &impl_->api_server,
                       &impl_->rpc_server}) {
    if (*server) {
      (*server)->stop();
    }
  }
  if (impl_->system) {
    impl_->system->await_all_actors_done();
  }
  if (impl_->transport) {
    impl_->transport->stop();
  }
  impl_->system.reset();
  log->info("node stopped");
}

const std::string& node::node_id() const { return impl_->identity->node_id(); }

const node_ports& node::ports() const { return impl_->ports; }

std::string node::p2p_address() const {
  return impl_->transport ? impl_->transport->advertise_address() : std::string{};
}

std::vector<membership::member> node::peers() const { return impl_->board.snapshot()->members; }

bool node::joined() const { return impl_->board.snapshot()->joined; }

}  // namespace mesh
