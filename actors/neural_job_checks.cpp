// Checks of what reaches the neural manager from outside: training messages
// from other nodes, before they reach a handler, and job requests from the
// HTTP API. Each failure names the field, the value and what is accepted.

#include <cmath>

#include "neural_manager_state.hpp"

namespace mesh::actors {

namespace {

// Bounds that validate_neural_message and the job request check.
constexpr std::size_t max_id_bytes = 64;
constexpr std::uint32_t max_replicas = 64;
constexpr std::uint64_t max_job_epochs = 10'000'000;
constexpr std::uint32_t max_round_epochs = 100'000;

result<void> check_id(const std::string& field, const std::string& value) {
  if (value.empty() || value.size() > max_id_bytes) {
    return fail(errc::decode_error, field + " must have 1 to " + std::to_string(max_id_bytes) +
                                        " bytes, got " + std::to_string(value.size()));
  }
  return {};
}

result<void> check_weights(const google::protobuf::RepeatedField<float>& weights) {
  if (static_cast<std::size_t>(weights.size()) > neural::max_weights) {
    return fail(errc::decode_error, "weights: " + std::to_string(weights.size()) + " values, at most " +
                                        std::to_string(neural::max_weights));
  }
  for (const float value : weights) {
    if (!std::isfinite(value)) {
      return fail(errc::decode_error, "weights: contains a value that is not finite");
    }
  }
  return {};
}

result<void> check_shard(const mesh::v1::NeuralShard& shard) {
  if (shard.num_inputs() == 0 || shard.num_inputs() > neural::max_layer_size ||
      shard.num_outputs() == 0 || shard.num_outputs() > neural::max_layer_size) {
    return fail(errc::decode_error, "shard: num_inputs and num_outputs must be 1 to " +
                                        std::to_string(neural::max_layer_size));
  }
  const auto samples = static_cast<std::size_t>(shard.inputs_size()) / shard.num_inputs();
  if (samples == 0 || samples * shard.num_inputs() != static_cast<std::size_t>(shard.inputs_size()) ||
      samples * shard.num_outputs() != static_cast<std::size_t>(shard.outputs_size())) {
    return fail(errc::decode_error, "shard: " + std::to_string(shard.inputs_size()) + " inputs and " +
                                        std::to_string(shard.outputs_size()) +
                                        " outputs do not form whole samples of " +
                                        std::to_string(shard.num_inputs()) + " and " +
                                        std::to_string(shard.num_outputs()));
  }
  return {};
}

result<void> check_slopes(const mesh::v1::NeuralReplicaReport& report) {
  if (static_cast<std::size_t>(report.slopes_size()) > neural::max_weights) {
    return fail(errc::decode_error, "report.slopes: " + std::to_string(report.slopes_size()) +
                                        " values, at most " + std::to_string(neural::max_weights));
  }
  for (const double value : report.slopes()) {
    if (!std::isfinite(value)) {
      return fail(errc::decode_error, "report.slopes: contains a value that is not finite");
    }
  }
  if (!std::isfinite(report.squared_error()) || report.squared_error() < 0) {
    return fail(errc::decode_error, "report.squared_error must be a finite number >= 0");
  }
  return {};
}

result<void> check_round_epochs(std::uint32_t epochs) {
  if (epochs == 0 || epochs > max_round_epochs) {
    return fail(errc::decode_error, "round_epochs must be 1 to " + std::to_string(max_round_epochs) +
                                        ", got " + std::to_string(epochs));
  }
  return {};
}

}  // namespace

result<void> validate_neural_message(const mesh::v1::NeuralMessage& message) {
  using kind = mesh::v1::NeuralMessage::KindCase;
  switch (message.kind_case()) {
    case kind::kAssign: {
      const auto& assign = message.assign();
      if (auto ok = check_id("assign.job_id", assign.job_id()); !ok) {
        return ok;
      }
      if (assign.replica() >= max_replicas) {
        return fail(errc::decode_error, "assign.replica must be below " + std::to_string(max_replicas));
      }
      if (auto ok = check_round_epochs(assign.round_epochs()); !ok) {
        return ok;
      }
      if (!mesh::v1::NeuralReplicaMode_IsValid(assign.mode())) {
        return fail(errc::decode_error,
                    "assign.mode " + std::to_string(assign.mode()) + " is not a known replica mode");
      }
      if (assign.mode() == mesh::v1::NEURAL_REPLICA_MODE_SUM_GRADIENTS && assign.round_epochs() != 1) {
        return fail(errc::decode_error, "assign.round_epochs must be 1 with summed gradients, got " +
                                            std::to_string(assign.round_epochs()));
      }
      if (!assign.has_model()) {
        return fail(errc::decode_error, "assign.model is missing");
      }
      if (auto ok = check_shard(assign.shard()); !ok) {
        return ok;
      }
      return check_weights(assign.model().weights());
    }
    case kind::kRound: {
      const auto& round = message.round();
      if (auto ok = check_id("round.job_id", round.job_id()); !ok) {
        return ok;
      }
      if (auto ok = check_round_epochs(round.round_epochs()); !ok) {
        return ok;
      }
      return check_weights(round.weights());
    }
    case kind::kReport: {
      const auto& report = message.report();
      if (auto ok = check_id("report.job_id", report.job_id()); !ok) {
        return ok;
      }
      if (!std::isfinite(report.mse()) || report.mse() < 0) {
        return fail(errc::decode_error, "report.mse must be a finite number >= 0");
      }
      if (report.error().empty() && report.weights().empty() && report.slopes().empty()) {
        return fail(errc::decode_error, "report has neither weights, slopes nor an error");
      }
      if (auto ok = check_slopes(report); !ok) {
        return ok;
      }
      return check_weights(report.weights());
    }
    case kind::kStop:
      return check_id("stop.job_id", message.stop().job_id());
    case kind::KIND_NOT_SET:
      break;
  }
  return fail(errc::decode_error, "NeuralMessage has no known kind set");
}

namespace detail {

result<void> validate_request(mesh::v1::JobRequest& request) {
  auto invalid = [](const std::string& message) { return fail(errc::invalid_argument, message); };
  if (request.train_path().empty() && request.train_data().empty()) {
    return invalid("train_path: missing; give the path of a training file on this node, or "
                   "the file's text in train_data");
  }
  if (!request.train_path().empty() && !request.train_data().empty()) {
    return invalid("train_data: give either train_path or train_data, not both");
  }
  if (!request.test_path().empty() && !request.test_data().empty()) {
    return invalid("test_data: give either test_path or test_data, not both");
  }

  if (request.format() != "fann" && request.format() != "csv") {
    return invalid("format: '" + request.format() + "' is invalid; accepted are fann and csv");
  }
  if (request.csv_header().empty()) {
    request.set_csv_header("none");
  }
  if (request.csv_header() != "none" && request.csv_header() != "names" &&
      request.csv_header() != "sklearn") {
    return invalid("csv_header: '" + request.csv_header() +
                   "' is invalid; accepted are none, names and sklearn");
  }
  if (request.format() == "fann" && request.csv_header() != "none") {
    return invalid("csv_header: only valid with format csv");
  }

  if (!std::isfinite(request.test_fraction()) || request.test_fraction() < 0 ||
      request.test_fraction() >= 1) {
    return invalid("test_fraction: " + std::to_string(request.test_fraction()) +
                   " is outside [0, 1)");
  }
  if (request.test_fraction() > 0 && (!request.test_path().empty() || !request.test_data().empty())) {
    return invalid("test_fraction: give either a test set or test_fraction, not both");
  }

  for (int i = 0; i < request.hidden_layers_size(); ++i) {
    if (request.hidden_layers(i) == 0 || request.hidden_layers(i) > neural::max_layer_size) {
      return invalid("hidden_layers[" + std::to_string(i) + "]: " +
                     std::to_string(request.hidden_layers(i)) + " is outside 1 to " +
                     std::to_string(neural::max_layer_size));
    }
  }
  for (const auto* field : {"activation_hidden", "activation_output"}) {
    const auto& name = std::string(field) == "activation_hidden" ? request.activation_hidden()
                                                                   : request.activation_output();
    if (name.empty()) {
      continue;
    }
    if (auto parsed = neural::parse_activation_function(name); !parsed) {
      return invalid(std::string(field) + ": " + parsed.err().message);
    }
  }
  if (request.activation_hidden().empty()) {
    request.set_activation_hidden("sigmoid_symmetric");
  }
  if (request.activation_output().empty()) {
    request.set_activation_output("sigmoid_symmetric");
  }

  if (request.algorithm().empty()) {
    request.set_algorithm("rprop");
  }
  if (auto parsed = neural::parse_training_algorithm(request.algorithm()); !parsed) {
    return invalid("algorithm: " + parsed.err().message);
  }
  if (request.max_epochs() == 0 || request.max_epochs() > max_job_epochs) {
    return invalid("max_epochs: " + std::to_string(request.max_epochs()) + " is outside 1 to " +
                   std::to_string(max_job_epochs));
  }
  if (!std::isfinite(request.desired_error()) || request.desired_error() < 0) {
    return invalid("desired_error: must be a finite number >= 0");
  }
  if (request.replicas() == 0) {
    request.set_replicas(1);
  }
  if (request.replicas() > max_replicas) {
    return invalid("replicas: " + std::to_string(request.replicas()) + " is above " +
                   std::to_string(max_replicas));
  }
  if (request.epochs_per_round() == 0) {
    request.set_epochs_per_round(10);
  }
  if (request.epochs_per_round() > max_round_epochs) {
    return invalid("epochs_per_round: " + std::to_string(request.epochs_per_round()) +
                   " is above " + std::to_string(max_round_epochs));
  }
  if (!std::isfinite(request.learning_rate()) || request.learning_rate() < 0) {
    return invalid("learning_rate: must be a finite number >= 0 (0 keeps the default)");
  }
  return {};
}

}  // namespace detail

}  // namespace mesh::actors
