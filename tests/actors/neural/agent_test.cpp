// The neural agent actor in-process: training in slices, gradients for
// data-parallel training, inference with the agent's input scaling,
// snapshots, weight replacement and the memory and busy refusals.

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "mesh/actors/neural_agent.hpp"

namespace {

using namespace std::chrono_literals;
using mesh::actors::agent_infer_reply;
using mesh::actors::agent_infer_request;
using mesh::actors::agent_spec;
using mesh::actors::agent_train_reply;
using mesh::actors::agent_train_request;
namespace neural = mesh::neural;

constexpr std::size_t plenty = std::size_t{64} << 20;

std::shared_ptr<const neural::dataset> xor_data() {
  neural::matrix inputs(2, 4);
  neural::matrix outputs(1, 4);
  inputs << -1, -1, 1, 1, -1, 1, -1, 1;
  outputs << -1, 1, 1, -1;
  auto data = neural::dataset::create(inputs, outputs);
  EXPECT_TRUE(data.has_value());
  return std::make_shared<const neural::dataset>(std::move(*data));
}

agent_spec xor_spec(std::uint64_t seed) {
  const auto layout = neural::topology::standard({2, 4, 1}, neural::activation_function::sigmoid_symmetric,
                                                 neural::activation_function::sigmoid_symmetric);
  auto net = neural::network::create(layout);
  EXPECT_TRUE(net.has_value());
  std::mt19937_64 rng(seed);
  net->randomize_weights(rng);
  return agent_spec{neural::model{std::move(*net), std::nullopt, std::nullopt}, neural::training_params{}};
}

class agent_test : public ::testing::Test {
 protected:
  caf::actor_system_config config_;
  caf::actor_system system_{config_};
  caf::scoped_actor self_{system_};

  agent_train_reply train(const caf::actor& agent, agent_train_request request) {
    agent_train_reply out;
    self_->request(agent, 60s, mesh::actors::neural_train_atom::value, std::move(request))
        .receive([&](const agent_train_reply& reply) { out = reply; },
                 [&](const caf::error& err) { out.error = system_.render(err); });
    return out;
  }

  agent_infer_reply infer(const caf::actor& agent, neural::matrix inputs) {
    agent_infer_reply out;
    self_->request(agent, 10s, mesh::actors::neural_infer_atom::value, agent_infer_request{std::move(inputs)})
        .receive([&](const agent_infer_reply& reply) { out = reply; },
                 [&](const caf::error& err) { out.error = system_.render(err); });
    return out;
  }
};

TEST_F(agent_test, trains_xor_and_infers) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(3), plenty);
  ASSERT_TRUE(agent.has_value()) << agent.err().message;
  const auto data = xor_data();

  const auto reply = train(*agent, agent_train_request{data, {}, 2000, 0.001});
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_TRUE(reply.desired_error_reached);
  EXPECT_LE(reply.last.mse, 0.001);
  EXPECT_LT(reply.epochs, 2000u);
  EXPECT_EQ(reply.weights.size(), 17u);

  const auto answer = infer(*agent, data->inputs());
  ASSERT_TRUE(answer.ok) << answer.error;
  ASSERT_EQ(answer.outputs.cols(), 4);
  for (Eigen::Index i = 0; i < 4; ++i) {
    EXPECT_EQ(answer.outputs(0, i) > 0, data->outputs()(0, i) > 0) << "sample " << i;
  }
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, runs_exact_epoch_count) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(5), plenty);
  ASSERT_TRUE(agent.has_value());
  const auto first = train(*agent, agent_train_request{xor_data(), {}, 7, 0.0});
  ASSERT_TRUE(first.ok) << first.error;
  EXPECT_EQ(first.epochs, 7u);
  EXPECT_FALSE(first.desired_error_reached);
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, start_weights_replace_network) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(5), plenty);
  ASSERT_TRUE(agent.has_value());
  std::vector<neural::scalar> zeros(17, 0.0f);
  // With all-zero weights every output is 0 before the epoch's update, and
  // FANN halves the difference of symmetric outputs: (1 / 2)^2 = 0.25 per
  // sample. The random weights of the spec would give another MSE.
  const auto reply = train(*agent, agent_train_request{xor_data(), zeros, 1, 0.0});
  ASSERT_TRUE(reply.ok) << reply.error;
  EXPECT_NEAR(reply.last.mse, 0.25, 1e-6);
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, snapshot_matches_weights) {
  auto spec = xor_spec(9);
  const auto expected = spec.model.net.weights();
  auto agent = mesh::actors::spawn_neural_agent(system_, std::move(spec), plenty);
  ASSERT_TRUE(agent.has_value());
  std::vector<neural::scalar> weights;
  self_->request(*agent, 10s, mesh::actors::neural_snapshot_atom::value)
      .receive([&](const neural::model& model) { weights = model.net.weights(); },
               [&](const caf::error& err) { FAIL() << system_.render(err); });
  EXPECT_EQ(weights, expected);

  std::vector<neural::scalar> replaced(17, 0.25f);
  mesh::actors::agent_ack ack;
  self_->request(*agent, 10s, mesh::actors::neural_weights_atom::value, mesh::actors::agent_weights{replaced})
      .receive([&](const mesh::actors::agent_ack& reply) { ack = reply; },
               [&](const caf::error& err) { FAIL() << system_.render(err); });
  EXPECT_TRUE(ack.ok) << ack.error;
  self_->request(*agent, 10s, mesh::actors::neural_snapshot_atom::value)
      .receive([&](const neural::model& model) { weights = model.net.weights(); },
               [&](const caf::error& err) { FAIL() << system_.render(err); });
  EXPECT_EQ(weights, replaced);
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, applies_input_scaling) {
  auto spec = xor_spec(2);
  neural::input_scaling scaling;
  scaling.input_min = {0.0f, 0.0f};
  scaling.input_max = {10.0f, 10.0f};
  scaling.target_min = -1.0f;
  scaling.target_max = 1.0f;
  spec.model.scaling = scaling;
  auto reference = spec.model.net;
  auto agent = mesh::actors::spawn_neural_agent(system_, std::move(spec), plenty);
  ASSERT_TRUE(agent.has_value());

  neural::matrix raw(2, 1);
  raw << 10.0f, 0.0f;
  const auto answer = infer(*agent, raw);
  ASSERT_TRUE(answer.ok) << answer.error;
  const std::vector<neural::scalar> scaled{1.0f, -1.0f};
  auto direct = reference.run(scaled);
  ASSERT_TRUE(direct.has_value());
  EXPECT_FLOAT_EQ(answer.outputs(0, 0), (*direct)[0]);
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, rejects_wrong_input_width) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(2), plenty);
  ASSERT_TRUE(agent.has_value());
  const auto answer = infer(*agent, neural::matrix::Zero(3, 2));
  EXPECT_FALSE(answer.ok);
  EXPECT_NE(answer.error.find("2 values"), std::string::npos) << answer.error;
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, spawn_refused_over_memory_limit) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(2), 100);
  ASSERT_FALSE(agent.has_value());
  EXPECT_EQ(agent.err().code, mesh::errc::rejected);
  EXPECT_NE(agent.err().message.find("max_agent_memory_mb"), std::string::npos) << agent.err().message;
}

TEST_F(agent_test, train_refused_over_memory_limit) {
  const auto layout = xor_spec(1).model.net.layout();
  const auto limit = mesh::actors::estimate_agent_memory(layout, 2);
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(2), limit);
  ASSERT_TRUE(agent.has_value());
  const auto reply = train(*agent, agent_train_request{xor_data(), {}, 5, 0.0});
  EXPECT_FALSE(reply.ok);
  EXPECT_EQ(reply.refusal, "agent_memory");
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, second_train_refused_while_busy) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(4), plenty);
  ASSERT_TRUE(agent.has_value());
  // No network fits one input with two opposite outputs, so the first run
  // cannot end early. Its epochs take about 0.16 s in a Release build.
  neural::matrix inputs(2, 2);
  neural::matrix outputs(1, 2);
  inputs << -1, -1, 1, 1;
  outputs << -1, 1;
  auto conflicting = neural::dataset::create(inputs, outputs);
  ASSERT_TRUE(conflicting.has_value());
  const auto data = std::make_shared<const neural::dataset>(std::move(*conflicting));
  // The first run's reply is not awaited because the run takes over a minute
  // under the sanitizers. It ends with the agent.
  caf::anon_send(*agent, mesh::actors::neural_train_atom::value,
                 agent_train_request{data, {}, 500000, 0.0});
  const auto second = train(*agent, agent_train_request{data, {}, 1, 0.0});
  EXPECT_FALSE(second.ok);
  EXPECT_EQ(second.refusal, "busy");

  // Inference is answered between slices of the running training.
  const auto answer = infer(*agent, data->inputs());
  EXPECT_TRUE(answer.ok) << answer.error;
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, rejects_shape_mismatch) {
  auto agent = mesh::actors::spawn_neural_agent(system_, xor_spec(4), plenty);
  ASSERT_TRUE(agent.has_value());
  neural::matrix inputs = neural::matrix::Zero(3, 2);
  neural::matrix outputs = neural::matrix::Zero(1, 2);
  auto data = neural::dataset::create(inputs, outputs);
  ASSERT_TRUE(data.has_value());
  const auto reply =
      train(*agent, agent_train_request{std::make_shared<const neural::dataset>(std::move(*data)), {}, 1, 0.0});
  EXPECT_FALSE(reply.ok);
  EXPECT_NE(reply.error.find("3 inputs"), std::string::npos) << reply.error;
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

TEST_F(agent_test, computes_gradient_at_given_weights) {
  auto spec = xor_spec(5);
  auto reference_net = spec.model.net;
  auto agent = mesh::actors::spawn_neural_agent(system_, std::move(spec), plenty);
  ASSERT_TRUE(agent.has_value()) << agent.err().message;
  const auto data = xor_data();

  // The gradient at other weights than the agent's, as a replica gets them.
  std::vector<neural::scalar> weights(reference_net.num_weights(), 0.05f);
  ASSERT_TRUE(reference_net.set_weights(weights).has_value());
  auto reference_trainer = neural::trainer::create(reference_net, neural::training_params{});
  ASSERT_TRUE(reference_trainer.has_value());
  const auto expected = reference_trainer->compute_gradient(reference_net, *data);
  ASSERT_TRUE(expected.has_value());

  mesh::actors::agent_gradient_reply out;
  self_->request(*agent, 10s, mesh::actors::neural_gradient_atom::value,
                 mesh::actors::agent_gradient_request{data, weights})
      .receive([&](const mesh::actors::agent_gradient_reply& reply) { out = reply; },
               [&](const caf::error& err) { out.error = system_.render(err); });
  ASSERT_TRUE(out.ok) << out.error;
  EXPECT_EQ(out.gradient.samples, 4u);
  EXPECT_EQ(out.gradient.slopes, expected->slopes);
  EXPECT_EQ(out.gradient.squared_error, expected->squared_error);

  // A data set of another width is an error naming both widths.
  neural::matrix inputs(3, 1);
  inputs.setZero();
  neural::matrix outputs(1, 1);
  outputs.setZero();
  auto wide = neural::dataset::create(inputs, outputs);
  ASSERT_TRUE(wide.has_value());
  mesh::actors::agent_gradient_reply refused;
  self_->request(*agent, 10s, mesh::actors::neural_gradient_atom::value,
                 mesh::actors::agent_gradient_request{
                     std::make_shared<const neural::dataset>(std::move(*wide)), {}})
      .receive([&](const mesh::actors::agent_gradient_reply& reply) { refused = reply; },
               [&](const caf::error& err) { refused.error = system_.render(err); });
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.error.find("3 inputs"), std::string::npos) << refused.error;
  self_->send_exit(*agent, caf::exit_reason::user_shutdown);
}

}  // namespace
