// Integration tests of QuDAG with real node processes on 127.0.0.1: vertices
// submitted round-robin become final with identical ids everywhere,
// conflicting submissions resolve to one winner on every node, and a node
// killed during a load catches up without losing a final vertex.

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "mesh/v1/dag_api.pb.h"
#include "support/cluster.hpp"

namespace mesh::testing {
namespace {

using namespace std::chrono_literals;

constexpr auto convergence_timeout = 30s;
constexpr auto finality_timeout = 120s;
constexpr auto request_timeout = 10s;

// POST /v1/vertices with a JSON value; returns the id, or "" on failure.
std::string submit(const test_node& node, const std::string& json_value,
                   const std::string& conflict_key = "", bool wait_final = false) {
  std::string body = "{\"json\":" + json_value;
  if (!conflict_key.empty()) {
    body += ",\"conflict_key\":\"" + conflict_key + "\"";
  }
  body += "}";
  auto reply = http::post(node.rpc_url() + "/v1/vertices" + (wait_final ? "?wait=final" : ""), body,
                          "", request_timeout + (wait_final ? 30s : 0s));
  if (!reply || (reply->status != 202 && reply->status != 200 && reply->status != 409)) {
    return "";
  }
  if (wait_final) {
    mesh::v1::VertexView view;
    return google::protobuf::util::JsonStringToMessage(reply->body, &view).ok() ? view.id() : "";
  }
  mesh::v1::SubmitVertexReply out;
  return google::protobuf::util::JsonStringToMessage(reply->body, &out).ok() ? out.id() : "";
}

std::optional<mesh::v1::DagStatusReply> status(const test_node& node) {
  auto reply = http::get(node.rpc_url() + "/v1/dag/status", 2s);
  if (!reply || reply->status != 200) {
    return std::nullopt;
  }
  mesh::v1::DagStatusReply out;
  if (!google::protobuf::util::JsonStringToMessage(reply->body, &out).ok()) {
    return std::nullopt;
  }
  return out;
}

// Every vertex id in `state` on `node`, read page by page; nullopt when a
// page fails.
std::optional<std::set<std::string>> vertex_ids(const test_node& node, const std::string& state) {
  std::set<std::string> ids;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    auto reply = http::get(node.rpc_url() + "/v1/dag/vertices?state=" + state +
                               "&limit=500&after=" + cursor,
                           5s);
    if (!reply || reply->status != 200) {
      return std::nullopt;
    }
    mesh::v1::VertexPage out;
    if (!google::protobuf::util::JsonStringToMessage(reply->body, &out).ok()) {
      return std::nullopt;
    }
    for (const auto& v : out.vertices()) {
      ids.insert(v.id());
    }
    if (out.next_cursor().empty()) {
      return ids;
    }
    cursor = out.next_cursor();
  }
  return std::nullopt;
}

std::string state_on(const test_node& node, const std::string& id) {
  auto reply = http::get(node.rpc_url() + "/v1/vertices/" + id, 2s);
  if (!reply || reply->status != 200) {
    return "";
  }
  mesh::v1::VertexView view;
  return google::protobuf::util::JsonStringToMessage(reply->body, &view).ok() ? view.state() : "";
}

class dag_mesh : public ::testing::Test {
 protected:
  dag_mesh() : mesh_("dag-mesh") {}

  // Starts 1 bootstrap and `workers` workers and waits until all see all.
  void start_mesh(std::size_t workers) {
    auto& bootstrap = mesh_.add("bootstrap", "bootstrap-0");
    ASSERT_TRUE(mesh_.start(bootstrap, {})) << mesh_.logs();
    for (std::size_t i = 1; i <= workers; ++i) {
      auto& worker = mesh_.add("worker", "worker-" + std::to_string(i));
      ASSERT_TRUE(mesh_.start(worker, {bootstrap.p2p_address()})) << mesh_.logs();
    }
    const auto expected = workers + 1;
    const bool converged = eventually(convergence_timeout, [&] {
      for (const auto& node : mesh_.nodes()) {
        if (alive_count(*node) != expected) {
          return false;
        }
      }
      return true;
    });
    ASSERT_TRUE(converged) << "mesh of " << expected << " did not converge\n" << mesh_.logs();
  }

  test_node& node(std::size_t index) { return *mesh_.nodes().at(index); }
  std::size_t size() { return mesh_.nodes().size(); }

  // Waits until every node reports at least `count` final vertices.
  bool all_final(std::size_t count) {
    return eventually(finality_timeout, [&] {
      for (std::size_t i = 0; i < size(); ++i) {
        auto s = status(node(i));
        if (!s || s->final() < count) {
          return false;
        }
      }
      return true;
    });
  }

  // Submits `count` vertices round-robin to every node; returns their ids.
  std::vector<std::string> submit_round_robin(std::size_t count, const std::string& tag) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < count; ++i) {
      auto id = submit(node(i % size()), "{\"" + tag + "\":" + std::to_string(i) + "}");
      EXPECT_FALSE(id.empty()) << "submission " << i << " to " << node(i % size()).name;
      ids.push_back(std::move(id));
    }
    return ids;
  }

  void expect_identical_final_sets(const std::vector<std::string>& submitted) {
    auto reference = vertex_ids(node(0), "final");
    ASSERT_TRUE(reference.has_value());
    for (const auto& id : submitted) {
      EXPECT_TRUE(reference->contains(id)) << "submitted vertex " << id << " is not final";
    }
    for (std::size_t i = 1; i < size(); ++i) {
      auto other = vertex_ids(node(i), "final");
      ASSERT_TRUE(other.has_value()) << node(i).name;
      EXPECT_EQ(*other, *reference) << node(i).name << " has another set of final vertices";
    }
  }

  cluster mesh_;
};

TEST_F(dag_mesh, three_nodes_finalize_identical_vertices) {
  start_mesh(2);
  const auto ids = submit_round_robin(1000, "three");
  ASSERT_TRUE(all_final(1000)) << mesh_.logs();
  expect_identical_final_sets(ids);
}

TEST_F(dag_mesh, five_nodes_finalize_identical_vertices) {
  start_mesh(4);
  const auto ids = submit_round_robin(1000, "five");
  ASSERT_TRUE(all_final(1000)) << mesh_.logs();
  expect_identical_final_sets(ids);
}

TEST_F(dag_mesh, conflicting_submissions_have_one_winner_everywhere) {
  start_mesh(2);
  constexpr int rounds = 20;
  for (int round = 0; round < rounds; ++round) {
    const auto key = "account-" + std::to_string(round);
    std::string first;
    std::string second;
    // Both submissions leave at the same moment, to two different nodes.
    std::atomic<bool> go{false};
    std::thread a([&] {
      while (!go.load()) {
      }
      first = submit(node(1), "{\"spend\":1}", key, true);
    });
    std::thread b([&] {
      while (!go.load()) {
      }
      second = submit(node(2), "{\"spend\":2}", key, true);
    });
    go = true;
    a.join();
    b.join();
    ASSERT_FALSE(first.empty()) << "round " << round << "\n" << mesh_.logs();
    ASSERT_FALSE(second.empty()) << "round " << round;

    const bool decided = eventually(30s, [&] {
      for (std::size_t i = 0; i < size(); ++i) {
        for (const auto& id : {first, second}) {
          const auto s = state_on(node(i), id);
          if (s != "final" && s != "rejected") {
            return false;
          }
        }
      }
      return true;
    });
    ASSERT_TRUE(decided) << "round " << round << " undecided\n" << mesh_.logs();
    const auto winner = state_on(node(0), first) == "final" ? first : second;
    const auto loser = winner == first ? second : first;
    for (std::size_t i = 0; i < size(); ++i) {
      EXPECT_EQ(state_on(node(i), winner), "final") << "round " << round << " " << node(i).name;
      EXPECT_EQ(state_on(node(i), loser), "rejected") << "round " << round << " " << node(i).name;
    }
  }
}

TEST_F(dag_mesh, killed_node_catches_up_without_losing_final_vertices) {
  start_mesh(2);
  auto& victim = node(2);

  // Load in the background, round-robin over the two nodes that stay up.
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> accepted{0};
  std::thread load([&] {
    for (std::size_t i = 0; i < 600 && !stop.load(); ++i) {
      if (!submit(node(i % 2), "{\"load\":" + std::to_string(i) + "}").empty()) {
        ++accepted;
      }
    }
  });

  ASSERT_TRUE(eventually(30s, [&] { return accepted.load() >= 150; }));
  // Everything any node reported final before the kill must survive it.
  std::set<std::string> reported_final;
  for (std::size_t i = 0; i < size(); ++i) {
    auto ids = vertex_ids(node(i), "final");
    ASSERT_TRUE(ids.has_value());
    reported_final.insert(ids->begin(), ids->end());
  }
  victim.process->signal(SIGKILL);
  ASSERT_TRUE(victim.process->wait_for_exit(5s).has_value());
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(mesh_.start(victim, {node(0).p2p_address()})) << mesh_.logs();
  load.join();
  stop = true;

  // When the load is over, every node converges on the same final set.
  auto survivors_final = [&] {
    auto s = status(node(0));
    return s ? s->final() : 0u;
  };
  ASSERT_TRUE(eventually(finality_timeout, [&] {
    auto s = status(node(0));
    return s && s->pending() == 0 && s->waiting_for_parents() == 0;
  })) << mesh_.logs();
  ASSERT_TRUE(all_final(survivors_final())) << mesh_.logs();
  ASSERT_TRUE(eventually(finality_timeout, [&] {
    auto reference = vertex_ids(node(0), "final");
    auto caught_up = vertex_ids(victim, "final");
    return reference && caught_up && *reference == *caught_up;
  })) << "the restarted node did not catch up\n" << mesh_.logs();

  for (std::size_t i = 0; i < size(); ++i) {
    auto ids = vertex_ids(node(i), "final");
    ASSERT_TRUE(ids.has_value());
    for (const auto& id : reported_final) {
      EXPECT_TRUE(ids->contains(id)) << node(i).name << " lost final vertex " << id;
    }
  }
}

TEST_F(dag_mesh, bad_submission_names_field) {
  start_mesh(1);
  const auto url = node(0).rpc_url() + "/v1/vertices";
  struct bad_case {
    std::string body;
    unsigned status;
    std::string mentions;
  };
  const std::vector<bad_case> cases = {
      {"{\"json\": ", 400, "request body"},
      {"{\"payload\":\"!!not base64\"}", 400, "payload"},
      {"{\"colour\":\"red\"}", 400, "colour"},
      {"{\"payload\":7}", 400, "payload"},
      {"{}", 400, "payload"},
      {"{\"payload\":\"aGk=\",\"json\":1}", 400, "exactly one"},
      {"{\"payload\":\"" + std::string(400'000, 'A') + "\"}", 413, "max_vertex_payload_bytes"},
  };
  for (const auto& c : cases) {
    auto reply = http::post(url, c.body, "", request_timeout);
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, c.status) << c.body.substr(0, 60) << " -> " << reply->body;
    EXPECT_NE(reply->body.find(c.mentions), std::string::npos)
        << c.body.substr(0, 60) << " -> " << reply->body;
  }

  auto bad_id = http::get(node(0).rpc_url() + "/v1/vertices/xyz", 2s);
  ASSERT_TRUE(bad_id.has_value());
  EXPECT_EQ(bad_id->status, 400u);
  auto unknown = http::get(node(0).rpc_url() + "/v1/vertices/" + std::string(64, 'a'), 2s);
  ASSERT_TRUE(unknown.has_value());
  EXPECT_EQ(unknown->status, 404u);
  auto bad_state = http::get(node(0).rpc_url() + "/v1/dag/vertices?state=maybe", 2s);
  ASSERT_TRUE(bad_state.has_value());
  EXPECT_EQ(bad_state->status, 400u);
  EXPECT_NE(bad_state->body.find("state"), std::string::npos);

  // Nothing was stored, and the node still accepts a good vertex.
  auto s = status(node(0));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->pending() + s->final() + s->rejected(), 0u);
  ASSERT_GE(s->signature_suites_size(), 1);
  EXPECT_EQ(s->signature_suites(0), "ed25519");
  EXPECT_FALSE(submit(node(0), "{\"ok\":true}", "", true).empty()) << mesh_.logs();

  // The gauges follow within one poll-loop period.
  std::string scraped;
  EXPECT_TRUE(eventually(5s, [&] {
    auto metrics = http::get("http://127.0.0.1:" + std::to_string(node(0).ports.metrics) + "/metrics", 2s);
    scraped = metrics ? metrics->body : "";
    return scraped.find("mesh_dag_vertices{state=\"final\"} 1") != std::string::npos;
  })) << scraped.substr(0, 3000);
  EXPECT_NE(scraped.find("mesh_dag_finality_seconds_count 1"), std::string::npos);
}

}  // namespace
}  // namespace mesh::testing
