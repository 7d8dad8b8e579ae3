// Distributed training on real node processes. A 3-node mesh (one bootstrap,
// two workers) trains the FANN thyroid set with one and with two replicas,
// and serves inference through a node that never trained the model. It
// counts jobs and inference requests in /metrics, and finishes a job after
// SIGKILL of a replica's node. The data sets live outside the repository in
// ../shared/datasets/fann; the tests skip when it is absent.

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "mesh/http/client.hpp"
#include "mesh/v1/neural_api.pb.h"
#include "support/cluster.hpp"

namespace {

using namespace std::chrono_literals;
using mesh::testing::cluster;
using mesh::testing::eventually;
using mesh::testing::test_node;

std::filesystem::path fann_dir() {
  return std::filesystem::path(MESH_SOURCE_DIR) / ".." / "shared" / "datasets" / "fann";
}

std::string api_url(const test_node& node) { return "http://127.0.0.1:" + std::to_string(node.ports.api); }

std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

template <class Message>
bool parse(const std::string& body, Message& out) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  return google::protobuf::util::JsonStringToMessage(body, &out, options).ok();
}

mesh::v1::JobRequest thyroid_job(std::uint32_t replicas, std::uint64_t epochs) {
  mesh::v1::JobRequest job;
  job.set_train_path((fann_dir() / "thyroid.train").string());
  job.set_test_path((fann_dir() / "thyroid.test").string());
  job.set_format("fann");
  job.add_hidden_layers(16);
  job.set_activation_hidden("sigmoid_symmetric");
  job.set_activation_output("sigmoid_symmetric");
  job.set_algorithm("rprop");
  job.set_max_epochs(epochs);
  job.set_replicas(replicas);
  job.set_seed(1);
  return job;
}

class neural_mesh_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(fann_dir() / "thyroid.train")) {
      return;
    }
    mesh_ = std::make_unique<cluster>("neural-mesh");
    auto& bootstrap = mesh_->add("bootstrap", "b0");
    mesh_->add("worker", "w1");
    mesh_->add("worker", "w2");
    ASSERT_TRUE(mesh_->start(bootstrap, {})) << mesh_->logs();
    for (std::size_t i = 1; i < mesh_->nodes().size(); ++i) {
      ASSERT_TRUE(mesh_->start(*mesh_->nodes()[i], {bootstrap.p2p_address()})) << mesh_->logs();
    }
    for (const auto& node : mesh_->nodes()) {
      ASSERT_TRUE(eventually(20s, [&] { return mesh::testing::alive_count(*node) == 3; }))
          << node->name << " did not see 3 alive members\n"
          << mesh_->logs();
    }
  }

  static void TearDownTestSuite() { mesh_.reset(); }

  void SetUp() override {
    if (!mesh_) {
      GTEST_SKIP() << "FANN data sets not found in " << fann_dir()
                   << "; place thyroid.train and thyroid.test there to run these tests";
    }
  }

  static test_node& node(std::size_t index) { return *mesh_->nodes()[index]; }

  // The node id the bootstrap lists for `target`; empty when it lists none.
  static std::string node_id_of(const test_node& target) {
    const auto peers = mesh::testing::fetch_peers(node(0));
    if (!peers) {
      return "";
    }
    for (const auto& peer : peers->peers()) {
      if (peer.name() == target.name) {
        return peer.node_id();
      }
    }
    return "";
  }

  // Submits `job` to `coordinator` and returns the new job id.
  static std::string submit(const test_node& coordinator, const mesh::v1::JobRequest& job) {
    auto reply = mesh::http::post(api_url(coordinator) + "/v1/jobs", to_json(job), "", 5s);
    EXPECT_TRUE(reply.has_value());
    if (!reply) {
      return "";
    }
    EXPECT_EQ(reply->status, 202u) << reply->body;
    mesh::v1::JobStatus status;
    EXPECT_TRUE(parse(reply->body, status)) << reply->body;
    return status.id();
  }

  static std::optional<mesh::v1::JobStatus> job_status(const test_node& coordinator, const std::string& id) {
    auto reply = mesh::http::get(api_url(coordinator) + "/v1/jobs/" + id, 5s);
    if (!reply || reply->status != 200) {
      return std::nullopt;
    }
    mesh::v1::JobStatus status;
    if (!parse(reply->body, status)) {
      return std::nullopt;
    }
    return status;
  }

  // Polls until the job ends; returns its final status.
  static mesh::v1::JobStatus wait_for_end(const test_node& coordinator, const std::string& id,
                                          std::chrono::seconds timeout) {
    mesh::v1::JobStatus last;
    eventually(timeout, [&] {
      auto status = job_status(coordinator, id);
      if (status) {
        last = *status;
      }
      return last.state() == "completed" || last.state() == "failed" || last.state() == "cancelled";
    });
    return last;
  }

  static inline std::unique_ptr<cluster> mesh_;
};

TEST_F(neural_mesh_test, rejects_invalid_job_fields) {
  auto job = thyroid_job(2, 10);
  job.set_format("xml");
  auto reply = mesh::http::post(api_url(node(0)) + "/v1/jobs", to_json(job), "", 5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400u);
  EXPECT_NE(reply->body.find("format"), std::string::npos) << reply->body;

  job = thyroid_job(2, 10);
  job.set_algorithm("sgd");
  reply = mesh::http::post(api_url(node(0)) + "/v1/jobs", to_json(job), "", 5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400u);
  EXPECT_NE(reply->body.find("algorithm"), std::string::npos) << reply->body;

  reply = mesh::http::post(api_url(node(0)) + "/v1/jobs", R"({"train_path":"x","colour":1})", "", 5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400u);
  EXPECT_NE(reply->body.find("colour"), std::string::npos) << reply->body;

  reply = mesh::http::get(api_url(node(0)) + "/v1/jobs/job-unknown", 5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 404u);
}

TEST_F(neural_mesh_test, missing_training_file_fails_job) {
  auto job = thyroid_job(1, 10);
  job.set_train_path((fann_dir() / "no-such-file.train").string());
  const auto id = submit(node(0), job);
  const auto status = wait_for_end(node(0), id, 30s);
  EXPECT_EQ(status.state(), "failed");
  EXPECT_NE(status.error().find("no-such-file.train"), std::string::npos) << status.error();
}

TEST_F(neural_mesh_test, job_with_data_in_request_completes) {
  auto read_text = [](const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  auto job = thyroid_job(2, 20);
  job.clear_train_path();
  job.clear_test_path();
  job.set_train_data(read_text(fann_dir() / "thyroid.train"));
  job.set_test_data(read_text(fann_dir() / "thyroid.test"));
  ASSERT_FALSE(job.train_data().empty());

  const auto id = submit(node(0), job);
  const auto status = wait_for_end(node(0), id, 120s);
  EXPECT_EQ(status.state(), "completed") << status.error() << "\n" << mesh_->logs();
  EXPECT_FALSE(status.model_id().empty());
  EXPECT_GT(status.test_samples(), 0u);
  EXPECT_GT(status.test_mse(), 0.0);

  // A path and a text for the same set is ambiguous.
  job.set_train_path((fann_dir() / "thyroid.train").string());
  auto reply = mesh::http::post(api_url(node(0)) + "/v1/jobs", to_json(job), "", 5s);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 400u);
  EXPECT_NE(reply->body.find("train_data"), std::string::npos) << reply->body;
}

TEST_F(neural_mesh_test, two_replicas_train_thyroid_and_serve_inference) {
  constexpr std::uint64_t epochs = 200;
  const auto single_id = submit(node(0), thyroid_job(1, epochs));
  const auto single = wait_for_end(node(0), single_id, 180s);
  ASSERT_EQ(single.state(), "completed") << single.error() << "\n" << mesh_->logs();
  ASSERT_EQ(single.placement_size(), 1);

  const auto pair_id = submit(node(0), thyroid_job(2, epochs));
  const auto pair = wait_for_end(node(0), pair_id, 180s);
  ASSERT_EQ(pair.state(), "completed") << pair.error() << "\n" << mesh_->logs();

  // Both replicas ran, on the two workers.
  ASSERT_EQ(pair.placement_size(), 2);
  EXPECT_NE(pair.placement(0).node_id(), pair.placement(1).node_id());
  EXPECT_EQ(pair.placement(0).samples() + pair.placement(1).samples(), pair.train_samples());
  EXPECT_EQ(pair.epoch(), epochs);
  ASSERT_TRUE(pair.has_model_id());
  EXPECT_EQ(pair.model_id().size(), 64u);
  ASSERT_TRUE(pair.has_test_accuracy());
  EXPECT_GT(pair.test_accuracy(), 0.92);

  // Each epoch the coordinator sums the two shard gradients, which is the
  // gradient of the whole set, and applies one iRPROP- update, so two
  // replicas follow the trajectory of one. The shards are cut at the
  // trainer's block boundaries and the sums are taken in double, so only a
  // float rounding tie could make them differ; 1 percent covers that.
  ASSERT_TRUE(single.has_test_mse());
  ASSERT_TRUE(pair.has_test_mse());
  RecordProperty("one_replica_test_mse", std::to_string(single.test_mse()));
  RecordProperty("two_replica_test_mse", std::to_string(pair.test_mse()));
  EXPECT_LE(pair.test_mse(), single.test_mse() * 1.01)
      << "2 replicas: " << pair.test_mse() << ", 1 replica: " << single.test_mse();
  EXPECT_NEAR(pair.train_mse(), single.train_mse(), single.train_mse() * 0.01);

  // The worker that did not run the single-replica job never trained that
  // model; it loads it from its copy of the DAG.
  const auto& trained_on = single.placement(0).node_id();
  const test_node& other = node_id_of(node(1)) == trained_on ? node(2) : node(1);
  ASSERT_NE(node_id_of(other), trained_on);

  mesh::v1::InferRequest request;
  for (const auto& row : {std::vector<double>(21, 0.0), std::vector<double>(21, 1.0)}) {
    auto* values = request.add_inputs();
    for (double v : row) {
      values->add_values()->set_number_value(v);
    }
  }
  std::optional<mesh::http::response> answer;
  ASSERT_TRUE(eventually(20s, [&] {
    auto reply = mesh::http::post(api_url(other) + "/v1/models/" + single.model_id() + "/infer",
                                  to_json(request), "", 10s);
    if (reply && reply->status == 200) {
      answer = *reply;
      return true;
    }
    return false;
  })) << mesh_->logs();
  mesh::v1::InferReply reply;
  ASSERT_TRUE(parse(answer->body, reply)) << answer->body;
  ASSERT_EQ(reply.outputs_size(), 2);
  EXPECT_EQ(reply.outputs(0).values_size(), 3);
  ASSERT_EQ(reply.classes_size(), 2);
  EXPECT_LT(reply.classes(0), 3u);

  // A row of the wrong width is a 400 naming the row.
  auto bad = mesh::http::post(api_url(other) + "/v1/models/" + single.model_id() + "/infer",
                              R"({"inputs":[[1,2,3]]})", "", 10s);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400u);
  EXPECT_NE(bad->body.find("21"), std::string::npos) << bad->body;

  // The model is listed on the node that loaded it.
  auto listed = mesh::http::get(api_url(other) + "/v1/models/" + single.model_id(), 5s);
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->status, 200u);
  mesh::v1::ModelInfo info;
  ASSERT_TRUE(parse(listed->body, info));
  EXPECT_TRUE(info.loaded());
  EXPECT_EQ(info.layers_size(), 3);
}

// Reads the value of the sample `series` (name and labels as printed) from
// the node's /metrics page. Returns nullopt when either is missing.
std::optional<double> scrape(const test_node& target, const std::string& series) {
  auto page = mesh::http::get("http://127.0.0.1:" + std::to_string(target.ports.metrics) + "/metrics", 2s);
  if (!page || page->status != 200) {
    return std::nullopt;
  }
  const auto at = page->body.find("\n" + series + " ");
  if (at == std::string::npos) {
    return std::nullopt;
  }
  return std::stod(page->body.substr(at + series.size() + 2));
}

TEST_F(neural_mesh_test, metrics_count_jobs_and_inference) {
  // w1 coordinates no other job in this suite, so it counts exactly this one.
  auto& coordinator = node(1);
  const auto id = submit(coordinator, thyroid_job(1, 20));
  const auto status = wait_for_end(coordinator, id, 120s);
  ASSERT_EQ(status.state(), "completed") << status.error() << "\n" << mesh_->logs();

  EXPECT_TRUE(eventually(5s, [&] {
    return scrape(coordinator, R"(mesh_neural_jobs{state="completed"})") == 1.0;
  })) << "mesh_neural_jobs{state=\"completed\"} = "
      << scrape(coordinator, R"(mesh_neural_jobs{state="completed"})").value_or(-1);
  EXPECT_EQ(scrape(coordinator, R"(mesh_neural_jobs{state="running"})"), 0.0);
  EXPECT_GE(scrape(coordinator, "mesh_neural_epochs_total").value_or(0), 20.0);

  const auto before_ok = scrape(coordinator, R"(mesh_neural_inference_requests_total{outcome="ok"})").value_or(0);
  const auto before_invalid =
      scrape(coordinator, R"(mesh_neural_inference_requests_total{outcome="invalid"})").value_or(0);
  const std::string url = api_url(coordinator) + "/v1/models/" + status.model_id() + "/infer";
  // One row of 21 zeros, thyroid's input width.
  std::string row = "[0";
  for (int i = 1; i < 21; ++i) {
    row += ",0";
  }
  row += "]";
  std::optional<mesh::http::response> answer;
  ASSERT_TRUE(eventually(20s, [&] {
    auto reply = mesh::http::post(url, R"({"inputs":[)" + row + "]}", "", 10s);
    if (reply && reply->status == 200) {
      answer = *reply;
      return true;
    }
    return false;
  })) << mesh_->logs();
  auto bad = mesh::http::post(url, R"({"inputs":[[1,2]]})", "", 10s);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->status, 400u);

  EXPECT_EQ(scrape(coordinator, R"(mesh_neural_inference_requests_total{outcome="ok"})"), before_ok + 1);
  EXPECT_EQ(scrape(coordinator, R"(mesh_neural_inference_requests_total{outcome="invalid"})"),
            before_invalid + 1);
  EXPECT_GE(scrape(coordinator, "mesh_neural_inference_seconds_count").value_or(0), 1.0);
}

// Runs last: it kills w2.
TEST_F(neural_mesh_test, job_survives_sigkill_of_replica_node) {
  const auto id = submit(node(0), thyroid_job(2, 600));
  ASSERT_TRUE(eventually(60s, [&] {
    auto status = job_status(node(0), id);
    return status && status->state() == "running" && status->epoch() >= 20;
  })) << mesh_->logs();

  auto& victim = node(2);
  const auto victim_id = node_id_of(victim);
  ASSERT_FALSE(victim_id.empty());
  victim.process->signal(SIGKILL);
  ASSERT_TRUE(victim.process->wait_for_exit(5s).has_value());

  const auto status = wait_for_end(node(0), id, 240s);
  ASSERT_EQ(status.state(), "completed") << status.error() << "\n" << mesh_->logs();
  EXPECT_GE(status.replacements(), 1u);
  EXPECT_EQ(status.epoch(), 600u);
  for (const auto& replica : status.placement()) {
    EXPECT_NE(replica.node_id(), victim_id) << "replica " << replica.index() << " stayed on the killed node";
  }
  EXPECT_TRUE(status.has_model_id());
}

}  // namespace
