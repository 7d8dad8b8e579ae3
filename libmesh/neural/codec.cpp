// Protobuf encoding of models (mesh.v1.NeuralModel).

#include "mesh/neural/codec.hpp"

#include <cmath>
#include <string>

#include "mesh/v1/neural.pb.h"

namespace mesh::neural {
namespace {

constexpr std::uint32_t model_format_version = 1;

// Proto enum values are FANN codes plus one (0 is "unspecified").
v1::NeuralActivation to_proto(activation_function function) {
  return static_cast<v1::NeuralActivation>(static_cast<int>(function) + 1);
}

std::optional<activation_function> from_proto(v1::NeuralActivation value) {
  const int code = static_cast<int>(value) - 1;
  if (code == static_cast<int>(activation_function::relu)) {
    return activation_function::relu;
  }
  if (code < 0) {
    return std::nullopt;
  }
  return activation_from_fann_code(static_cast<unsigned>(code));
}

v1::NeuralTrainingAlgorithm to_proto(training_algorithm algorithm) {
  switch (algorithm) {
    case training_algorithm::incremental:
      return v1::NEURAL_TRAINING_ALGORITHM_INCREMENTAL;
    case training_algorithm::batch:
      return v1::NEURAL_TRAINING_ALGORITHM_BATCH;
    case training_algorithm::rprop:
      return v1::NEURAL_TRAINING_ALGORITHM_RPROP;
    case training_algorithm::quickprop:
      return v1::NEURAL_TRAINING_ALGORITHM_QUICKPROP;
    case training_algorithm::adam:
      return v1::NEURAL_TRAINING_ALGORITHM_ADAM;
  }
  return v1::NEURAL_TRAINING_ALGORITHM_UNSPECIFIED;
}

std::optional<training_algorithm> from_proto(v1::NeuralTrainingAlgorithm value) {
  switch (value) {
    case v1::NEURAL_TRAINING_ALGORITHM_INCREMENTAL:
      return training_algorithm::incremental;
    case v1::NEURAL_TRAINING_ALGORITHM_BATCH:
      return training_algorithm::batch;
    case v1::NEURAL_TRAINING_ALGORITHM_RPROP:
      return training_algorithm::rprop;
    case v1::NEURAL_TRAINING_ALGORITHM_QUICKPROP:
      return training_algorithm::quickprop;
    case v1::NEURAL_TRAINING_ALGORITHM_ADAM:
      return training_algorithm::adam;
    default:
      return std::nullopt;
  }
}

error invalid_model(const std::string& message) {
  return fail(errc::decode_error, "invalid NeuralModel: " + message);
}

}  // namespace

void to_proto(const model& value, v1::NeuralModel& message) {
  message.Clear();
  message.set_format_version(model_format_version);
  for (const layer_spec& layer : value.net.layout().layers) {
    v1::NeuralLayer* entry = message.add_layers();
    entry->set_size(static_cast<std::uint32_t>(layer.size));
    entry->set_activation(to_proto(layer.activation));
    entry->set_steepness(layer.steepness);
  }
  const std::vector<scalar> weights = value.net.weights();
  message.mutable_weights()->Add(weights.begin(), weights.end());

  if (value.scaling) {
    v1::NeuralInputScaling* scaling = message.mutable_scaling();
    scaling->mutable_input_min()->Add(value.scaling->input_min.begin(),
                                      value.scaling->input_min.end());
    scaling->mutable_input_max()->Add(value.scaling->input_max.begin(),
                                      value.scaling->input_max.end());
    scaling->set_target_min(value.scaling->target_min);
    scaling->set_target_max(value.scaling->target_max);
  }
  if (value.training) {
    v1::NeuralTrainingMetadata* training = message.mutable_training();
    training->set_algorithm(to_proto(value.training->algorithm));
    training->set_epochs(value.training->epochs);
    training->set_final_mse(value.training->final_mse);
    training->set_final_bit_fail(value.training->final_bit_fail);
    training->set_dataset_sha256(value.training->dataset_sha256);
    training->set_dataset_name(value.training->dataset_name);
  }
}

result<model> from_proto(const v1::NeuralModel& message) {
  if (message.format_version() != model_format_version) {
    return fail(errc::unsupported_version,
                "NeuralModel format_version " + std::to_string(message.format_version()) +
                    " is not supported; this build reads version " +
                    std::to_string(model_format_version));
  }
  if (static_cast<std::size_t>(message.layers_size()) > max_layers) {
    return invalid_model(std::to_string(message.layers_size()) + " layers, at most " +
                         std::to_string(max_layers) + " accepted");
  }

  topology shape;
  for (int i = 0; i < message.layers_size(); ++i) {
    const v1::NeuralLayer& layer = message.layers(i);
    const auto function = from_proto(layer.activation());
    if (i > 0 && !function) {
      return invalid_model("layer " + std::to_string(i) + " has unknown activation " +
                           std::to_string(static_cast<int>(layer.activation())));
    }
    shape.layers.push_back(layer_spec{layer.size(), function.value_or(activation_function::linear),
                                      i == 0 ? 0.5f : layer.steepness()});
  }
  if (auto valid = shape.validate(); !valid) {
    return invalid_model(valid.err().message);
  }

  auto net = network::create(shape);
  if (!net) {
    return invalid_model(net.err().message);
  }
  if (static_cast<std::size_t>(message.weights_size()) != net->num_weights()) {
    return invalid_model("the topology needs " + std::to_string(net->num_weights()) +
                         " weights, the message has " + std::to_string(message.weights_size()));
  }
  const std::span<const scalar> weights(message.weights().data(),
                                        static_cast<std::size_t>(message.weights_size()));
  if (auto set = net->set_weights(weights); !set) {
    return invalid_model(set.err().message);
  }

  model value{std::move(*net), std::nullopt, std::nullopt};
  if (message.has_scaling()) {
    const v1::NeuralInputScaling& scaling = message.scaling();
    const auto inputs = static_cast<int>(shape.layers.front().size);
    if (scaling.input_min_size() != inputs || scaling.input_max_size() != inputs) {
      return invalid_model("scaling has " + std::to_string(scaling.input_min_size()) + " minima and " +
                           std::to_string(scaling.input_max_size()) + " maxima for " +
                           std::to_string(inputs) + " inputs");
    }
    input_scaling parsed;
    parsed.input_min.assign(scaling.input_min().begin(), scaling.input_min().end());
    parsed.input_max.assign(scaling.input_max().begin(), scaling.input_max().end());
    parsed.target_min = scaling.target_min();
    parsed.target_max = scaling.target_max();
    for (int i = 0; i < inputs; ++i) {
      if (!std::isfinite(scaling.input_min(i)) || !std::isfinite(scaling.input_max(i))) {
        return invalid_model("scaling of input " + std::to_string(i) + " is not finite");
      }
    }
    if (!(std::isfinite(parsed.target_min) && std::isfinite(parsed.target_max) &&
          parsed.target_min < parsed.target_max)) {
      return invalid_model("scaling target range is empty or not finite");
    }
    value.scaling = std::move(parsed);
  }
  if (message.has_training()) {
    const v1::NeuralTrainingMetadata& training = message.training();
    const auto algorithm = from_proto(training.algorithm());
    if (!algorithm) {
      return invalid_model("unknown training algorithm " +
                           std::to_string(static_cast<int>(training.algorithm())));
    }
    value.training = training_metadata{*algorithm,
                                       training.epochs(),
                                       training.final_mse(),
                                       training.final_bit_fail(),
                                       training.dataset_sha256(),
                                       training.dataset_name()};
  }
  return value;
}

result<std::string> encode_model(const model& value) {
  v1::NeuralModel message;
  to_proto(value, message);
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return fail(errc::invalid_argument, "NeuralModel serialization failed");
  }
  return bytes;
}

result<model> decode_model(std::string_view bytes) {
  if (bytes.size() > max_encoded_model_bytes) {
    return fail(errc::too_large, "encoded model has " + std::to_string(bytes.size()) +
                                     " bytes, at most " +
                                     std::to_string(max_encoded_model_bytes) + " accepted");
  }
  v1::NeuralModel message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return fail(errc::decode_error, "bytes are not a valid mesh.v1.NeuralModel");
  }
  return from_proto(message);
}

}  // namespace mesh::neural
