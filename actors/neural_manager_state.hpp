#pragma once
// Private state of the neural manager, shared by neural_manager.cpp (agents
// and HTTP dispatch), neural_models.cpp (models and inference) and the job
// files: neural_jobs.cpp (coordinator), neural_job_replica.cpp and
// neural_job_checks.cpp. Not installed.

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "mesh/actors/dag_actor.hpp"
#include "mesh/actors/neural_agent.hpp"
#include "mesh/actors/neural_manager.hpp"
#include "mesh/actors/neural_metrics.hpp"
#include "mesh/actors/status_board.hpp"
#include "mesh/neural/codec.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/telemetry/logging.hpp"
#include "mesh/v1/neural_api.pb.h"

namespace mesh::actors::detail {

using clock = std::chrono::steady_clock;
using job_tick_atom = caf::atom_constant<caf::atom("njobtick")>;
using job_load_atom = caf::atom_constant<caf::atom("njobload")>;

// An agent this node runs.
struct agent_entry {
  std::string id;
  caf::actor actor;
  // "api", "replica" or "model", as in AgentInfo.kind.
  std::string kind;
  neural::topology layout;
  std::size_t memory_bytes = 0;
  std::string job_id;
  std::string model_id;
};

// The coordinator's view of one replica of a job.
struct replica_slot {
  std::uint32_t index = 0;
  std::string node_id;
  std::string node_name;
  std::string address;
  std::uint32_t attempt = 0;
  std::shared_ptr<const neural::dataset> shard;
  // Set when the replica reported the job's current round.
  bool reported = false;
  // The reported weights (averaged weights) or gradient (summed gradients).
  std::vector<neural::scalar> weights;
  neural::gradient gradient;
  double mse = 0.0;
  clock::time_point last_heard;
};

// A job this node coordinates. Invariant: while state is "running" and
// `publishing` is false, `replicas` has one slot per requested replica and
// every slot is placed on an alive node.
struct job_record {
  std::string id;
  mesh::v1::JobRequest request;
  std::string state = "queued";
  std::uint64_t seed = 0;
  std::uint32_t epochs_per_round = 10;
  neural::topology layout;
  neural::training_params params;
  // Batch algorithms: every round is one epoch whose replica gradients are
  // summed and applied by `trainer`, which keeps the algorithm state (iRPROP-
  // steps, previous slopes, quickprop steps, Adam moments). Incremental
  // training averages the replicas' weights instead.
  bool sum_gradients = false;
  std::optional<neural::trainer> trainer;
  std::shared_ptr<const neural::dataset> train;
  std::shared_ptr<const neural::dataset> test;
  std::optional<neural::input_scaling> scaling;
  std::vector<std::string> class_names;
  std::string dataset_sha256;
  std::string dataset_name;
  // The weights of the current round: the initial weights in round 0, later
  // the last average or the result of the last update.
  std::vector<neural::scalar> weights;
  std::uint64_t epoch = 0;
  std::uint64_t round = 0;
  std::uint32_t round_epochs = 0;
  double train_mse = 0.0;
  double last_bit_fail = 0.0;
  std::vector<replica_slot> replicas;
  std::uint32_t replacements = 0;
  bool publishing = false;
  std::optional<std::string> model_id;
  std::optional<double> test_mse;
  std::optional<double> test_accuracy;
  std::optional<std::string> error;
  clock::time_point created = clock::now();
  clock::time_point round_started = clock::now();
  std::optional<clock::time_point> ended;
  double epochs_per_second = 0.0;
  // Order of submission, for listing and for dropping the oldest records.
  std::uint64_t sequence = 0;
};

// A replica that another node's job (or this node's) placed here.
struct replica_task {
  std::string job_id;
  std::uint32_t replica = 0;
  std::uint32_t attempt = 0;
  std::string coordinator_id;
  std::string coordinator_address;
  std::shared_ptr<const neural::dataset> shard;
  std::string agent_id;
  // Report the shard's gradient each round instead of training on it.
  bool sum_gradients = false;
  clock::time_point last_heard = clock::now();
};

// A model that is final in the DAG, as listed by GET /v1/models.
struct model_entry {
  mesh::v1::ModelInfo info;
};

// A model loaded for inference.
struct loaded_model {
  std::string agent_id;
  std::size_t bytes = 0;
  bool classifier = false;
  std::uint64_t last_used = 0;
};

struct manager_state {
  neural_manager_config config;
  wire::transport* transport = nullptr;
  std::string node_id;
  std::string node_name;
  std::string address;
  bool started = false;

  std::map<std::string, agent_entry> agents;
  std::map<std::string, job_record> jobs;
  std::map<std::string, replica_task> replicas;  // key: job id + "/" + replica index
  std::map<std::string, model_entry> models;
  std::map<std::string, loaded_model> loaded;
  std::uint64_t use_counter = 0;
  std::uint64_t job_sequence = 0;

  std::mt19937_64 rng{std::random_device{}()};
  std::shared_ptr<spdlog::logger> log = telemetry::logger("neural");
  telemetry::rate_limiter send_errors{5, std::chrono::seconds(10)};

  static inline const char* name = "neural_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

// Shared helpers (neural_manager.cpp).
[[nodiscard]] std::string to_json(const google::protobuf::Message& message);
[[nodiscard]] result<void> parse_json(const std::string& body, google::protobuf::Message& message);
[[nodiscard]] http::response json_response(const google::protobuf::Message& message,
                                           unsigned status = 200);
[[nodiscard]] http::response error_reply(const error& reason);
[[nodiscard]] std::string random_id(manager_state& state, std::string_view prefix);
// Returns the entry of a new agent `actor` with a fresh id; the caller adds it
// to state.agents.
[[nodiscard]] agent_entry new_agent(manager_state& state, caf::actor actor, std::string kind,
                                    neural::topology layout, std::size_t memory_bytes);
// Agents of kind api and replica, which neural.max_agents bounds.
[[nodiscard]] std::size_t counted_agents(const manager_state& state);
void count_refusal(manager_state& state, const std::string& reason);
void update_agent_metrics(manager_state& state);
void remove_agent(manager_actor* self, const std::string& id);
void index_model(manager_state& state, const std::string& id, const dag::vertex& vertex);

// Layer sizes of `layout`, input layer first.
[[nodiscard]] std::vector<std::uint32_t> layer_sizes(const neural::topology& layout);
// neural.max_agent_memory_mb in bytes.
[[nodiscard]] std::size_t memory_limit(const manager_state& state);

// Requests to the DAG actor wait this long for a reply.
inline constexpr auto dag_request_timeout = std::chrono::seconds(10);

// Models and inference (neural_models.cpp).
// Loads the final model `model_id` from the DAG and passes it to `done`.
void load_model_payload(manager_actor* self, const std::string& model_id,
                        std::function<void(result<neural::model>, std::vector<std::string>)> done);
void list_models(manager_actor* self, neural_api_request& request);
void get_model(manager_actor* self, neural_api_request& request);
void infer(manager_actor* self, neural_api_request& request);

// Sends `message` to the node `node_id` at `address`; a message to this node
// goes straight to the manager's mailbox.
void deliver(manager_actor* self, const std::string& node_id, const std::string& address,
             const mesh::v1::NeuralMessage& message);

// Training parameters in neural messages (neural_jobs.cpp).
[[nodiscard]] mesh::v1::NeuralTrainingAlgorithm to_proto(neural::training_algorithm algorithm);
[[nodiscard]] result<neural::training_params> from_proto(const mesh::v1::NeuralTrainingParams& message);

// Checks a job request from the HTTP API and fills in the defaults of its
// empty fields (neural_job_checks.cpp).
[[nodiscard]] result<void> validate_request(mesh::v1::JobRequest& request);

// The replica side of jobs (neural_job_replica.cpp).
[[nodiscard]] std::string replica_key(const std::string& job_id, std::uint32_t replica);
void stop_replica(manager_actor* self, const std::string& key);
void on_assign(manager_actor* self, const inbound_neural& inbound);
void on_round(manager_actor* self, const inbound_neural& inbound);

// Jobs: the coordinator and the HTTP handlers (neural_jobs.cpp).
void submit_job(manager_actor* self, neural_api_request& request);
void start_job(manager_actor* self, const std::string& job_id);
void list_jobs(manager_actor* self, neural_api_request& request);
void get_job(manager_actor* self, neural_api_request& request);
void cancel_job(manager_actor* self, neural_api_request& request);
void check_jobs(manager_actor* self);
void handle_neural_message(manager_actor* self, inbound_neural& inbound);
void update_job_metrics(manager_state& state);

}  // namespace mesh::actors::detail
