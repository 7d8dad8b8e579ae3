// Model codecs: the protobuf model and FANN's .net format, checked against
// libfann itself when it is available.

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "mesh/neural/codec.hpp"
#include "mesh/v1/neural.pb.h"
#include "test_support.hpp"

#ifdef MESH_HAVE_FANN
#include <floatfann.h>
#endif

namespace mesh::neural {
namespace {

network random_network(const topology& shape, std::uint64_t seed) {
  auto net = network::create(shape);
  EXPECT_TRUE(net.has_value());
  std::mt19937_64 rng(seed);
  net->randomize_weights(rng, -1.0f, 1.0f);
  return std::move(*net);
}

topology mixed_topology() {
  topology shape = topology::standard({5, 7, 4, 3}, activation_function::sigmoid_symmetric,
                                      activation_function::sigmoid);
  shape.layers[2].activation = activation_function::elliot_symmetric;
  shape.layers[2].steepness = 0.75f;
  return shape;
}

TEST(ModelCodec, ProtobufRoundTrip) {
  model original{random_network(mixed_topology(), 1), std::nullopt, std::nullopt};
  original.scaling = input_scaling{{0, 1, 2, 3, 4}, {1, 2, 3, 4, 5}, -1.0f, 1.0f};
  original.training = training_metadata{training_algorithm::quickprop, 120, 0.0125, 3,
                                        std::string(64, 'a'), "thyroid.train"};

  auto bytes = encode_model(original);
  ASSERT_TRUE(bytes.has_value());
  auto decoded = decode_model(*bytes);
  ASSERT_TRUE(decoded.has_value()) << decoded.err().message;
  EXPECT_EQ(decoded->net.layout(), original.net.layout());
  EXPECT_EQ(decoded->net.weights(), original.net.weights());
  EXPECT_EQ(decoded->scaling, original.scaling);
  EXPECT_EQ(decoded->training, original.training);
}

TEST(ModelCodec, RejectsInconsistentMessages) {
  model original{random_network(mixed_topology(), 2), std::nullopt, std::nullopt};
  v1::NeuralModel message;
  to_proto(original, message);

  v1::NeuralModel missing_weight = message;
  missing_weight.mutable_weights()->RemoveLast();
  auto short_weights = from_proto(missing_weight);
  ASSERT_FALSE(short_weights.has_value());
  EXPECT_EQ(short_weights.err().code, errc::decode_error);
  EXPECT_NE(short_weights.err().message.find("weights"), std::string::npos);

  v1::NeuralModel wrong_version = message;
  wrong_version.set_format_version(9);
  auto version = from_proto(wrong_version);
  ASSERT_FALSE(version.has_value());
  EXPECT_EQ(version.err().code, errc::unsupported_version);

  v1::NeuralModel bad_activation = message;
  bad_activation.mutable_layers(1)->set_activation(static_cast<v1::NeuralActivation>(77));
  EXPECT_FALSE(from_proto(bad_activation).has_value());

  v1::NeuralModel huge = message;
  huge.mutable_layers(1)->set_size(4000000000u);
  EXPECT_FALSE(from_proto(huge).has_value());

  auto garbage = decode_model("\xff\xff\xff\xff");
  ASSERT_FALSE(garbage.has_value());
  EXPECT_EQ(garbage.err().code, errc::decode_error);
}

TEST(FannNet, ExportImportRoundTrip) {
  const network original = random_network(mixed_topology(), 3);
  training_params params;
  params.learning_rate = 0.3f;
  params.algorithm = training_algorithm::quickprop;
  auto text = export_fann_net(original, params);
  ASSERT_TRUE(text.has_value());
  auto imported = import_fann_net(*text, "memory.net");
  ASSERT_TRUE(imported.has_value()) << imported.err().message;
  EXPECT_EQ(imported->net.layout(), original.layout());
  EXPECT_EQ(imported->net.weights(), original.weights());
  EXPECT_FLOAT_EQ(imported->params.learning_rate, 0.3f);
  EXPECT_EQ(imported->params.algorithm, training_algorithm::quickprop);
}

TEST(FannNet, ReluCannotBeExported) {
  const network net = random_network(
      topology::standard({2, 3, 1}, activation_function::relu, activation_function::linear), 4);
  auto text = export_fann_net(net);
  ASSERT_FALSE(text.has_value());
  EXPECT_NE(text.err().message.find("relu"), std::string::npos);
}

TEST(FannNet, MalformedFilesNameLine) {
  const network net = random_network(topology::standard({2, 2, 1}, activation_function::sigmoid,
                                                        activation_function::sigmoid),
                                     5);
  const std::string good = *export_fann_net(net);

  auto wrong_version = import_fann_net("FANN_FIX_2.0\n" + good.substr(good.find('\n') + 1), "x.net");
  ASSERT_FALSE(wrong_version.has_value());
  EXPECT_NE(wrong_version.err().message.find("x.net:1:"), std::string::npos);

  std::string shortcut = good;
  shortcut.replace(shortcut.find("network_type=0"), 14, "network_type=1");
  auto rejected = import_fann_net(shortcut, "x.net");
  ASSERT_FALSE(rejected.has_value());
  EXPECT_NE(rejected.err().message.find("x.net:5:"), std::string::npos) << rejected.err().message;

  const std::string truncated = good.substr(0, good.size() - 30);
  auto cut = import_fann_net(truncated, "x.net");
  ASSERT_FALSE(cut.has_value());
  EXPECT_EQ(cut.err().code, errc::decode_error);
}

#ifdef MESH_HAVE_FANN

class FannPeer : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("mesh_neural_" +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".net");
  }
  void TearDown() override { std::filesystem::remove(path_); }

  std::filesystem::path path_;
};

TEST_F(FannPeer, LibfannRunsExportedNetworkIdentically) {
  for (const topology& shape :
       {mixed_topology(),
        topology::standard({4, 6, 2}, activation_function::sigmoid_stepwise,
                           activation_function::linear, 0.9f),
        topology::standard({3, 8, 8, 1}, activation_function::gaussian,
                           activation_function::sigmoid_symmetric, 1.0f)}) {
    const network net = random_network(shape, 6);
    ASSERT_TRUE(save_fann_net(net, path_).has_value());
    struct fann* peer = fann_create_from_file(path_.string().c_str());
    ASSERT_NE(peer, nullptr) << "libfann could not load " << path_;
    EXPECT_EQ(fann_get_total_connections(peer), net.num_weights());

    std::mt19937_64 rng(8);
    std::uniform_real_distribution<float> draw(-1.0f, 1.0f);
    for (int sample = 0; sample < 50; ++sample) {
      std::vector<fann_type> input(net.num_inputs());
      for (auto& value : input) {
        value = draw(rng);
      }
      const std::vector<scalar> ours = *net.run(input);
      const fann_type* theirs = fann_run(peer, input.data());
      for (std::size_t i = 0; i < ours.size(); ++i) {
        EXPECT_NEAR(ours[i], theirs[i], 1e-5) << "output " << i << " sample " << sample;
      }
    }
    fann_destroy(peer);
  }
}

TEST_F(FannPeer, ImportsLibfannNetworkIdentically) {
  struct fann* peer = fann_create_standard(4, 6, 9, 5, 2);
  ASSERT_NE(peer, nullptr);
  fann_set_activation_function_hidden(peer, FANN_SIGMOID_SYMMETRIC);
  fann_set_activation_function_output(peer, FANN_SIGMOID);
  fann_set_activation_steepness_output(peer, 0.7f);
  fann_randomize_weights(peer, -0.8f, 0.8f);
  fann_set_learning_rate(peer, 0.25f);
  ASSERT_EQ(fann_save(peer, path_.string().c_str()), 0);

  auto imported = load_fann_net(path_);
  ASSERT_TRUE(imported.has_value()) << imported.err().message;
  EXPECT_EQ(imported->net.num_inputs(), 6u);
  EXPECT_EQ(imported->net.num_outputs(), 2u);
  EXPECT_FLOAT_EQ(imported->params.learning_rate, 0.25f);
  EXPECT_EQ(imported->net.layout().layers.back().activation, activation_function::sigmoid);

  std::mt19937_64 rng(10);
  std::uniform_real_distribution<float> draw(-1.0f, 1.0f);
  for (int sample = 0; sample < 50; ++sample) {
    std::vector<fann_type> input(6);
    for (auto& value : input) {
      value = draw(rng);
    }
    const fann_type* theirs = fann_run(peer, input.data());
    const std::vector<scalar> ours = *imported->net.run(input);
    for (std::size_t i = 0; i < ours.size(); ++i) {
      EXPECT_NEAR(ours[i], theirs[i], 1e-5) << "output " << i << " sample " << sample;
    }
  }
  fann_destroy(peer);
}

// Runs the same epochs in libfann and here from identical weights and
// compares the reported MSE, which checks the update rules, not only the
// forward pass.
TEST_F(FannPeer, TrainingMatchesLibfannEpochByEpoch) {
  const dataset data = testing::make_parity(3);
  const std::string data_path = path_.string() + ".data";
  ASSERT_TRUE(write_fann_file(data, data_path).has_value());
  struct fann_train_data* peer_data = fann_read_train_from_file(data_path.c_str());
  ASSERT_NE(peer_data, nullptr);

  for (training_algorithm algorithm :
       {training_algorithm::incremental, training_algorithm::batch, training_algorithm::rprop,
        training_algorithm::quickprop}) {
    for (error_function error : {error_function::linear, error_function::tanh}) {
      network net = random_network(topology::standard({3, 5, 1}, activation_function::sigmoid_symmetric,
                                                      activation_function::sigmoid_symmetric),
                                   12);
      training_params params;
      params.algorithm = algorithm;
      params.error = error;
      ASSERT_TRUE(save_fann_net(net, path_, params).has_value());
      struct fann* peer = fann_create_from_file(path_.string().c_str());
      ASSERT_NE(peer, nullptr);

      auto train = trainer::create(net, params);
      ASSERT_TRUE(train.has_value());
      for (int epoch = 0; epoch < 20; ++epoch) {
        const float theirs = fann_train_epoch(peer, peer_data);
        const unsigned their_bit_fail = fann_get_bit_fail(peer);
        auto ours = train->run_epoch(net, data);
        ASSERT_TRUE(ours.has_value());
        EXPECT_NEAR(ours->mse, theirs, 1e-4 + 1e-3 * theirs)
            << to_string(algorithm) << " error=" << static_cast<int>(error) << " epoch " << epoch;
        EXPECT_EQ(ours->bit_fail, their_bit_fail)
            << to_string(algorithm) << " error=" << static_cast<int>(error) << " epoch " << epoch;
      }
      fann_destroy(peer);
    }
  }
  fann_destroy_train(peer_data);
  std::filesystem::remove(data_path);
}

#else

TEST(FannPeer, LibfannAbsent) { GTEST_SKIP() << "built without libfann (MESH_HAVE_FANN unset)"; }

#endif

}  // namespace
}  // namespace mesh::neural
