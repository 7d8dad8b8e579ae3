#pragma once
// Model storage: the protobuf encoding of a trained model
// (mesh.v1.NeuralModel in proto/mesh/v1/neural.proto) and FANN's .net text
// format (FANN_FLO_2.1, as fann_save writes it), so models move between this
// project and libfann. docs/neural.md has the field tables.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "mesh/error.hpp"
#include "mesh/neural/dataset.hpp"
#include "mesh/neural/network.hpp"
#include "mesh/neural/trainer.hpp"

namespace mesh::v1 {
class NeuralModel;
}

namespace mesh::neural {

// How a model was trained.
struct training_metadata {
  training_algorithm algorithm = training_algorithm::rprop;
  std::uint64_t epochs = 0;
  double final_mse = 0.0;
  std::uint64_t final_bit_fail = 0;
  // SHA-256 of the training file's bytes (dataset::source_sha256).
  std::string dataset_sha256;
  std::string dataset_name;

  friend bool operator==(const training_metadata&, const training_metadata&) = default;
};

// A network with what inference and provenance need. A value type.
struct model {
  network net;
  std::optional<input_scaling> scaling;
  std::optional<training_metadata> training;
};

// Upper bound on an encoded model that decode_model accepts, in bytes.
inline constexpr std::size_t max_encoded_model_bytes = std::size_t{1} << 28;

// Protobuf encoding. decode_model rejects (errc::decode_error) bytes that do
// not parse, an invalid topology, a weight count that does not match it, a
// non-finite weight and scaling of the wrong length; errc::too_large above
// max_encoded_model_bytes.
[[nodiscard]] result<std::string> encode_model(const model& value);
[[nodiscard]] result<model> decode_model(std::string_view bytes);

// The same, into and out of a message that the caller embeds elsewhere.
void to_proto(const model& value, mesh::v1::NeuralModel& message);
[[nodiscard]] result<model> from_proto(const mesh::v1::NeuralModel& message);

// A network read from a .net file with the training parameters stored in it.
struct fann_net {
  network net;
  training_params params;
};

// Writes `net` in FANN_FLO_2.1 format with the parameter lines fann_save
// writes (training parameters from `params`, cascade lines at FANN's
// defaults). errc::invalid_argument for relu layers, which FANN 2.2 lacks;
// an adam `params.algorithm` is written as FANN_TRAIN_RPROP.
[[nodiscard]] result<std::string> export_fann_net(const network& net,
                                                  const training_params& params = {});
[[nodiscard]] result<void> save_fann_net(const network& net, const std::filesystem::path& path,
                                         const training_params& params = {});

// Reads a FANN_FLO_2.1 file of a fully connected layered network (what
// fann_create_standard makes). Rejected with errc::decode_error, naming the
// source and line: other versions, shortcut or sparse networks, included
// scaling parameters, neurons of one layer with different activations or
// steepness, and any malformed value.
[[nodiscard]] result<fann_net> import_fann_net(std::string_view text, std::string_view source_name);
[[nodiscard]] result<fann_net> load_fann_net(const std::filesystem::path& path);

}  // namespace mesh::neural
