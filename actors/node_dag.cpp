// Wiring of QuDAG into mesh::node: the vertex store in the data directory,
// the consensus engine reloaded from it, the DAG actor, its wire handler and
// the vertex and DAG routes on the RPC port.

#include <caf/all.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>
#include <random>

#include "mesh/actors/dag_actor.hpp"
#include "mesh/actors/http_bridge.hpp"
#include "mesh/consensus/engine.hpp"
#include "mesh/crypto/hash.hpp"
#include "mesh/dag/sqlite_store.hpp"
#include "mesh/http/proto_json.hpp"
#include "mesh/telemetry/logging.hpp"
#include "mesh/v1/dag_api.pb.h"
#include "node_impl.hpp"

namespace mesh {

namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds request_timeout = 10s;
// POST /v1/vertices?wait=final waits at most this long, below the HTTP
// server's handler timeout.
constexpr std::chrono::milliseconds max_wait_final = 25s;
constexpr std::string_view database_name = "dag.sqlite";

// Validates a DAG body on the wire thread: it must parse, carry one body, and
// keep every id at 32 bytes, so that the actor receives only well-formed input.
result<actors::inbound_dag> decode_dag(mesh::v1::Envelope&& envelope) {
  actors::inbound_dag inbound;
  if (!inbound.message.ParseFromString(envelope.body())) {
    return fail(errc::decode_error, "DAG body is not a valid DagMessage");
  }
  auto check_ids = [](const auto& ids, std::string_view field) -> result<void> {
    for (const auto& id : ids) {
      if (id.size() != dag::vertex_id_size) {
        return fail(errc::decode_error, std::string(field) + " holds an id of " +
                                            std::to_string(id.size()) + " bytes, expected 32");
      }
    }
    return {};
  };
  const auto& m = inbound.message;
  result<void> valid;
  switch (m.body_case()) {
    case mesh::v1::DagMessage::kVertices:
      break;  // the engine validates every vertex and counts the outcome
    case mesh::v1::DagMessage::kFetch:
      valid = check_ids(m.fetch().vertex_ids(), "fetch.vertex_ids");
      break;
    case mesh::v1::DagMessage::kPoll:
      valid = check_ids(m.poll().vertex_ids(), "poll.vertex_ids");
      break;
    case mesh::v1::DagMessage::kVotes:
      break;  // the engine ignores and counts votes that do not fit a poll
    case mesh::v1::DagMessage::kTips:
      valid = check_ids(m.tips().vertex_ids(), "tips.vertex_ids");
      break;
    case mesh::v1::DagMessage::BODY_NOT_SET:
      return fail(errc::decode_error, "DAG message has no body");
  }
  if (!valid) {
    return valid.err();
  }
  inbound.from_id = envelope.sender_id();
  inbound.from_address = envelope.sender_address();
  return inbound;
}

std::string api_state(dag::vertex_state state) {
  return state == dag::vertex_state::undecided ? "pending" : std::string(dag::to_string(state));
}

void fill_view(mesh::v1::VertexView& out, const actors::dag_vertex_view& view) {
  out.set_id(view.id_hex);
  for (const auto& parent : view.vertex.parents) {
    out.add_parents(crypto::to_hex(parent));
  }
  out.set_payload(view.vertex.payload);
  out.set_content_type(view.vertex.content_type);
  out.set_conflict_key(view.vertex.conflict_key);
  out.set_author_id(view.vertex.author_id);
  out.set_sequence(view.vertex.sequence);
  out.set_timestamp_ms(view.vertex.timestamp_ms);
  out.set_signature_suite(view.vertex.suite == dag::suite_ed25519 ? "ed25519" : "ml-dsa-65");
  out.set_state(api_state(view.state));
  out.set_confidence(static_cast<std::uint32_t>(std::min<std::uint64_t>(view.confidence, UINT32_MAX)));
}

http::response json_reply(unsigned status, const google::protobuf::Message& message) {
  return http::response{status, "application/json", http::to_json(message)};
}

http::response bad_request(std::string message) {
  return http::error_response(400, "invalid_argument", message);
}

// Turns the JSON body of POST /v1/vertices into a submission, or explains
// which field is wrong.
result<actors::submit_vertex> parse_submission(const std::string& body, std::size_t max_payload) {
  mesh::v1::SubmitVertexRequest request;
  if (auto parsed = http::from_json(body, request); !parsed) {
    return parsed.err();
  }
  actors::submit_vertex submission;
  if (request.has_json()) {
    if (!request.payload().empty()) {
      return fail(errc::invalid_argument, "payload and json: set exactly one of them");
    }
    submission.payload = http::to_json(request.json());
    submission.content_type = request.content_type().empty() ? "application/json" : request.content_type();
  } else {
    if (request.payload().empty()) {
      return fail(errc::invalid_argument, "payload: set payload (base64) or json (any JSON value)");
    }
    submission.payload = request.payload();
    submission.content_type =
        request.content_type().empty() ? "application/octet-stream" : request.content_type();
  }
  if (submission.payload.size() > max_payload) {
    return fail(errc::too_large, "payload: " + std::to_string(submission.payload.size()) +
                                     " bytes is over the limit of " + std::to_string(max_payload) +
                                     " bytes (dag.max_vertex_payload_bytes)");
  }
  submission.conflict_key = request.conflict_key();
  return submission;
}

result<std::uint64_t> parse_cursor(const std::map<std::string, std::string>& query,
                                   const std::string& name, std::uint64_t fallback,
                                   std::uint64_t max) {
  auto it = query.find(name);
  if (it == query.end() || it->second.empty()) {
    return fallback;
  }
  std::uint64_t value = 0;
  const auto& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value > max) {
    return fail(errc::invalid_argument, name + ": '" + text + "' is not an integer from 0 to " +
                                            std::to_string(max));
  }
  return value;
}

http::response submit_error(const actors::dag_submit_reply& reply) {
  const unsigned status = reply.error_code == "too_large"          ? 413
                          : reply.error_code == "invalid_argument" ? 400
                                                                   : 503;
  return http::error_response(status, reply.error_code, reply.message);
}

// POST /v1/vertices?wait=final: submits, then replies with the vertex view
// once it is final (200) or rejected (409), or 504 after max_wait_final.
void submit_and_wait(caf::actor_system& system, const caf::actor& target,
                     actors::submit_vertex submission, http::responder respond) {
  system.spawn(
      [submission = std::move(submission), respond = std::move(respond)](
          caf::event_based_actor* self, const caf::actor& destination) mutable {
        self->request(destination, request_timeout, std::move(submission))
            .then(
                [self, destination, respond](actors::dag_submit_reply& reply) mutable {
                  if (!reply.ok) {
                    respond(submit_error(reply));
                    return;
                  }
                  self->request(destination, max_wait_final, actors::await_final_atom::value,
                                reply.id_hex)
                      .then(
                          [respond](actors::dag_vertex_view& view) mutable {
                            mesh::v1::VertexView out;
                            fill_view(out, view);
                            respond(json_reply(view.state == dag::vertex_state::final ? 200 : 409, out));
                          },
                          [respond, id = reply.id_hex](const caf::error&) mutable {
                            respond(http::error_response(504, "timed_out",
                                                         "vertex " + id + " is not decided yet"));
                          });
                },
                [respond, self](const caf::error& err) mutable {
                  respond(http::error_response(503, "unavailable",
                                               "no reply from the DAG: " + self->system().render(err)));
                });
      },
      target);
}

}  // namespace

result<void> node::impl::spawn_dag() {
  auto preset = consensus::avalanche_preset(config.dag.preset);
  if (!preset) {
    return preset.err();
  }
  // Commits return without waiting for the disk. The DAG actor syncs the
  // write-ahead log on its own thread before anything that depends on a
  // commit leaves the node.
  auto store = dag::sqlite_vertex_store::open(config.data_dir / database_name,
                                              dag::sync_mode::by_caller);
  if (!store) {
    return store.err();
  }
  const auto wal_file = (*store)->wal_file();
  consensus::engine_config engine_config;
  engine_config.self_id = identity->node_id();
  engine_config.avalanche = *preset;
  engine_config.limits.max_payload_bytes = config.dag.max_payload_bytes;
  std::random_device entropy;
  const auto seed = (static_cast<std::uint64_t>(entropy()) << 32) | entropy();
  auto engine = consensus::engine::create(engine_config, dag::suite_registry::with_builtin_suites(),
                                          std::move(*store), seed);
  if (!engine) {
    return engine.err();
  }
  telemetry::logger("dag")->info("vertex store opened file={} vertices={} preset={} suites={}",
                                 (config.data_dir / database_name).string(),
                                 engine->store().size(), config.dag.preset,
                                 fmt::join(dag::available_suites(), ","));

  dag_metrics = std::make_unique<consensus::dag_metrics>(*registry);
  actors::dag_actor_config dag_config;
  dag_config.engine = std::make_shared<consensus::engine>(std::move(*engine));
  dag_config.seed = seed ^ 0x9e3779b97f4a7c15ULL;
  dag_config.wal_file = wal_file;
  dag_config.identity = &*identity;
  dag_config.board = &board;
  dag_config.metrics = dag_metrics.get();
  dag_config.actor_metrics = actor_metrics.get();
  dag = actors::spawn_dag_actor(*system, std::move(dag_config));
  return {};
}

wire::handler node::impl::dag_handler() {
  return [target = dag](mesh::v1::Envelope&& envelope) -> result<void> {
    auto inbound = decode_dag(std::move(envelope));
    if (!inbound) {
      return inbound.err();
    }
    caf::anon_send(target, std::move(*inbound));
    return {};
  };
}

void node::impl::start_dag() { caf::anon_send(dag, actors::start_dag{transport.get()}); }

void node::impl::add_dag_routes(http::router& routes) const {
  auto* actor_system = system.get();
  const auto target = dag;
  const std::size_t max_payload = config.dag.max_payload_bytes;
  const auto preset = config.dag.preset;

  routes.add(
      "POST", "/v1/vertices",
      [actor_system, target, max_payload](http::request req, http::responder respond) {
        auto submission = parse_submission(req.body, max_payload);
        if (!submission) {
          respond(http::error_response(submission.err().code == errc::too_large ? 413 : 400,
                                       to_string(submission.err().code), submission.err().message));
          return;
        }
        const bool wait_final = req.query.contains("wait") && req.query.at("wait") == "final";
        if (req.query.contains("wait") && !wait_final) {
          respond(bad_request("wait: '" + req.query.at("wait") + "' is not accepted: use wait=final"));
          return;
        }
        if (wait_final) {
          submit_and_wait(*actor_system, target, std::move(*submission), std::move(respond));
          return;
        }
        actors::ask<actors::dag_submit_reply>(
            *actor_system, target, std::move(respond), request_timeout,
            [](actors::dag_submit_reply& reply) {
              if (!reply.ok) {
                return submit_error(reply);
              }
              mesh::v1::SubmitVertexReply out;
              out.set_id(reply.id_hex);
              return json_reply(202, out);
            },
            std::move(*submission));
      },
      true);

  routes.add("GET", "/v1/vertices/{id}",
             [actor_system, target](http::request req, http::responder respond) {
               const auto& id = req.params.at("id");
               if (id.size() != 64 || !crypto::from_hex(id)) {
                 respond(bad_request("id: '" + id + "' is not a vertex id (64 hex characters)"));
                 return;
               }
               actors::ask<actors::dag_vertex_view>(
                   *actor_system, target, std::move(respond), request_timeout,
                   [id](actors::dag_vertex_view& view) {
                     if (!view.found) {
                       return http::error_response(404, "not_found", "no vertex with id " + id);
                     }
                     mesh::v1::VertexView out;
                     fill_view(out, view);
                     return json_reply(200, out);
                   },
                   actors::vertex_atom::value, id);
             });

  routes.add("GET", "/v1/dag/tips", [actor_system, target](http::request, http::responder respond) {
    actors::ask<actors::dag_tips>(*actor_system, target, std::move(respond), request_timeout,
                                  [](actors::dag_tips& tips) {
                                    mesh::v1::TipsReply out;
                                    for (auto& id : tips.id_hex) {
                                      out.add_tips(std::move(id));
                                    }
                                    return json_reply(200, out);
                                  },
                                  actors::tips_atom::value);
  });

  routes.add("GET", "/v1/dag/status",
             [actor_system, target, preset](http::request, http::responder respond) {
               actors::ask<actors::dag_status>(
                   *actor_system, target, std::move(respond), request_timeout,
                   [preset](actors::dag_status& status) {
                     auto narrow = [](std::uint64_t v) {
                       return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, UINT32_MAX));
                     };
                     mesh::v1::DagStatusReply out;
                     out.set_pending(narrow(status.undecided));
                     out.set_final(narrow(status.final));
                     out.set_rejected(narrow(status.rejected));
                     out.set_waiting_for_parents(narrow(status.waiting_for_parents));
                     out.set_voting_peers(narrow(status.voting_peers));
                     out.set_outstanding_polls(narrow(status.outstanding_polls));
                     out.set_equivocations(narrow(status.equivocations));
                     out.set_finality_p50_ms(status.latency_p50_ms);
                     out.set_finality_p99_ms(status.latency_p99_ms);
                     out.set_finality_samples(narrow(status.latency_samples));
                     out.set_preset(preset);
                     for (const auto& suite : dag::available_suites()) {
                       out.add_signature_suites(suite);
                     }
                     return json_reply(200, out);
                   },
                   actors::status_atom::value);
             });

  routes.add("GET", "/v1/dag/vertices", [actor_system, target](http::request req, http::responder respond) {
    actors::dag_page_query query;
    const auto state = req.query.contains("state") ? req.query.at("state") : std::string("final");
    if (state == "final") {
      query.state = dag::vertex_state::final;
    } else if (state == "rejected") {
      query.state = dag::vertex_state::rejected;
    } else if (state == "pending") {
      query.state = dag::vertex_state::undecided;
    } else {
      respond(bad_request("state: '" + state + "' is not accepted: use final, rejected or pending"));
      return;
    }
    auto after = parse_cursor(req.query, "after", 0, UINT64_MAX);
    auto limit = parse_cursor(req.query, "limit", 100, 1000);
    if (!after || !limit) {
      respond(bad_request(!after ? after.err().message : limit.err().message));
      return;
    }
    if (*limit == 0) {
      respond(bad_request("limit: '0' is not an integer from 1 to 1000"));
      return;
    }
    query.after = *after;
    query.limit = static_cast<std::uint32_t>(*limit);
    actors::ask<actors::dag_page>(*actor_system, target, std::move(respond), request_timeout,
                                  [](actors::dag_page& page) {
                                    mesh::v1::VertexPage out;
                                    for (const auto& view : page.vertices) {
                                      if (view.found) {
                                        fill_view(*out.add_vertices(), view);
                                      }
                                    }
                                    if (page.next != 0) {
                                      out.set_next_cursor(std::to_string(page.next));
                                    }
                                    return json_reply(200, out);
                                  },
                                  actors::list_atom::value, query);
  });
}

}  // namespace mesh

namespace mesh {

result<std::string> node::submit_vertex(std::string payload, std::string content_type,
                                        std::string conflict_key,
                                        std::chrono::milliseconds timeout) const {
  caf::scoped_actor self{*impl_->system};
  result<std::string> out = fail(errc::timed_out, "the DAG actor did not answer in time");
  self->request(impl_->dag, timeout,
                actors::submit_vertex{std::move(payload), std::move(content_type), std::move(conflict_key)})
      .receive(
          [&out](actors::dag_submit_reply& reply) {
            if (reply.ok) {
              out = std::move(reply.id_hex);
              return;
            }
            const auto code = reply.error_code == "too_large"          ? errc::too_large
                              : reply.error_code == "invalid_argument" ? errc::invalid_argument
                                                                       : errc::io_error;
            out = fail(code, reply.message);
          },
          [&out](const caf::error&) {});
  return out;
}

result<dag::vertex_state> node::await_vertex(const std::string& id_hex,
                                             std::chrono::milliseconds timeout) const {
  caf::scoped_actor self{*impl_->system};
  result<dag::vertex_state> out = fail(errc::timed_out, "vertex " + id_hex + " is not decided yet");
  self->request(impl_->dag, timeout, actors::await_final_atom::value, id_hex)
      .receive(
          [&out, &id_hex](actors::dag_vertex_view& view) {
            if (!view.found) {
              out = fail(errc::not_found, "'" + id_hex + "' is not a vertex id (64 hex characters)");
              return;
            }
            out = view.state;
          },
          [](const caf::error&) {});
  return out;
}

void node::on_decision(decision_callback callback) const {
  // Linked to the DAG actor, so it stops with the node.
  auto listener = impl_->system->spawn(
      [](caf::event_based_actor* self, decision_callback fn, const caf::actor& dag) -> caf::behavior {
        self->link_to(dag);
        return {
            [fn](const actors::dag_vertex_decided& decided) { fn(decided.id_hex, decided.state); },
        };
      },
      std::move(callback), impl_->dag);
  caf::anon_send(impl_->dag, actors::subscribe_atom::value, listener);
}

}  // namespace mesh
