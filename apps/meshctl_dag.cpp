// meshctl dag: submit vertices to a node and read the DAG through the
// node's RPC port.
//
//   meshctl dag submit (--json VALUE | --data TEXT | --file PATH)
//                      [--content-type TYPE] [--conflict-key KEY] [--wait]
//   meshctl dag get ID
//   meshctl dag status
//   meshctl dag tips

#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "mesh/http/proto_json.hpp"
#include "mesh/v1/dag_api.pb.h"
#include "meshctl_common.hpp"

namespace mesh::ctl {

namespace {

struct submit_options {
  std::string json;
  std::string data;
  std::string file;
  std::string content_type;
  std::string conflict_key;
  bool wait = false;
};

void print_vertex(const mesh::v1::VertexView& v) {
  std::printf("id            %s\n", v.id().c_str());
  std::printf("state         %s\n", v.state().c_str());
  std::printf("confidence    %u\n", v.confidence());
  std::printf("author        %s\n", v.author_id().c_str());
  std::printf("sequence      %llu\n", static_cast<unsigned long long>(v.sequence()));
  std::printf("timestamp_ms  %llu\n", static_cast<unsigned long long>(v.timestamp_ms()));
  std::printf("content_type  %s\n", v.content_type().c_str());
  std::printf("conflict_key  %s\n", v.conflict_key().c_str());
  std::printf("payload       %zu bytes\n", v.payload().size());
  for (const auto& parent : v.parents()) {
    std::printf("parent        %s\n", parent.c_str());
  }
}

int submit(const options& opts, const submit_options& sub) {
  const int sources = (sub.json.empty() ? 0 : 1) + (sub.data.empty() ? 0 : 1) + (sub.file.empty() ? 0 : 1);
  if (sources != 1) {
    std::cerr << "meshctl: dag submit needs exactly one of --json, --data and --file\n";
    return exit_usage;
  }
  mesh::v1::SubmitVertexRequest request;
  if (!sub.json.empty()) {
    auto parsed = google::protobuf::util::JsonStringToMessage(sub.json, request.mutable_json());
    if (!parsed.ok()) {
      std::cerr << "meshctl: --json '" << sub.json << "' is not a JSON value: " << parsed.message()
                << "\n";
      return exit_usage;
    }
  } else if (!sub.data.empty()) {
    request.set_payload(sub.data);
  } else {
    std::ifstream in(sub.file, std::ios::binary);
    if (!in) {
      std::cerr << "meshctl: cannot read --file '" << sub.file << "'\n";
      return exit_failure;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    request.set_payload(buffer.str());
  }
  request.set_content_type(sub.content_type);
  request.set_conflict_key(sub.conflict_key);

  std::string raw;
  if (!sub.wait) {
    mesh::v1::SubmitVertexReply reply;
    if (!post(opts, "/v1/vertices", http::to_json(request), {202}, reply, raw)) {
      return exit_failure;
    }
    std::cout << (opts.output == "json" ? raw : reply.id()) << "\n";
    return 0;
  }
  mesh::v1::VertexView view;
  if (!post(opts, "/v1/vertices?wait=final", http::to_json(request), {200, 409}, view, raw, 30s)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
  } else {
    std::cout << view.id() << " " << view.state() << "\n";
  }
  return view.state() == "final" ? 0 : exit_failure;
}

int get(const options& opts, const std::string& id) {
  mesh::v1::VertexView view;
  std::string raw;
  if (!fetch(opts, "/v1/vertices/" + id, view, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
  } else {
    print_vertex(view);
  }
  return 0;
}

int status(const options& opts) {
  mesh::v1::DagStatusReply s;
  std::string raw;
  if (!fetch(opts, "/v1/dag/status", s, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
    return 0;
  }
  std::printf("final                %u\n", s.final());
  std::printf("pending              %u\n", s.pending());
  std::printf("rejected             %u\n", s.rejected());
  std::printf("waiting for parents  %u\n", s.waiting_for_parents());
  std::printf("voting peers         %u\n", s.voting_peers());
  std::printf("outstanding polls    %u\n", s.outstanding_polls());
  std::printf("equivocations        %u\n", s.equivocations());
  if (s.finality_samples() == 0) {
    std::printf("finality             no vertex final yet\n");
  } else {
    std::printf("finality p50         %.1f ms\n", s.finality_p50_ms());
    std::printf("finality p99         %.1f ms (%u samples)\n", s.finality_p99_ms(), s.finality_samples());
  }
  std::printf("preset               %s\n", s.preset().c_str());
  std::string suites;
  for (const auto& suite : s.signature_suites()) {
    suites += (suites.empty() ? "" : ", ") + suite;
  }
  std::printf("signature suites     %s\n", suites.c_str());
  return 0;
}

int tips(const options& opts) {
  mesh::v1::TipsReply reply;
  std::string raw;
  if (!fetch(opts, "/v1/dag/tips", reply, raw)) {
    return exit_failure;
  }
  if (opts.output == "json") {
    std::cout << raw << "\n";
    return 0;
  }
  for (const auto& id : reply.tips()) {
    std::cout << id << "\n";
  }
  return 0;
}

}  // namespace

std::function<std::optional<int>()> add_dag_commands(CLI::App& app, options& opts) {
  auto* dag = app.add_subcommand("dag", "Submit vertices and read the QuDAG of a node");
  dag->require_subcommand(1);
  auto add_common = [&opts](CLI::App* command) {
    command->add_option("--node", opts.node, "Base URL of the node's RPC port")->capture_default_str();
    command->add_option("--output,-o", opts.output, "Output format")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
  };

  auto sub = std::make_shared<submit_options>();
  auto* submit_cmd = dag->add_subcommand("submit", "Submit a vertex and print its id");
  add_common(submit_cmd);
  submit_cmd->add_option("--json", sub->json, "Payload: a JSON value, stored as compact JSON");
  submit_cmd->add_option("--data", sub->data, "Payload: this text, as bytes");
  submit_cmd->add_option("--file", sub->file, "Payload: the bytes of this file");
  submit_cmd->add_option("--content-type", sub->content_type, "Content type of the payload");
  submit_cmd->add_option("--conflict-key", sub->conflict_key,
                         "Vertices with the same key conflict: one of them becomes final");
  submit_cmd->add_flag("--wait", sub->wait, "Wait until the vertex is final or rejected");
  submit_cmd->add_option("--token-file", opts.token_file,
                         "File with the API bearer token (default: $MESH_API_TOKEN_FILE)");

  auto id = std::make_shared<std::string>();
  auto* get_cmd = dag->add_subcommand("get", "Show a vertex, its state and confidence");
  add_common(get_cmd);
  get_cmd->add_option("id", *id, "Vertex id (64 hex characters)")->required();

  auto* status_cmd = dag->add_subcommand("status", "Show vertex counts and finality latency");
  add_common(status_cmd);
  auto* tips_cmd = dag->add_subcommand("tips", "List the tips of the DAG");
  add_common(tips_cmd);

  return [&opts, sub, id, submit_cmd, get_cmd, status_cmd, tips_cmd]() -> std::optional<int> {
    if (*submit_cmd) {
      return submit(opts, *sub);
    }
    if (*get_cmd) {
      return get(opts, *id);
    }
    if (*status_cmd) {
      return status(opts);
    }
    if (*tips_cmd) {
      return tips(opts);
    }
    return std::nullopt;
  };
}

}  // namespace mesh::ctl
