#pragma once
// A deterministic network of consensus engines for tests. Time advances in
// rounds of 100 ms. In each round the nodes take turns in a shuffled order:
// a node starts its polls, and its messages and every message they cause
// are delivered, shuffled, before the next node's turn. A reply therefore
// reflects the receiver's state at delivery, and nodes do not move in
// lockstep (which on a fully sampled mesh can keep an even split forever).
// Every message between two nodes is dropped with probability `loss`.
// Byzantine nodes either vote at random or issue two vertices with one
// sequence number to the two halves of the mesh.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "mesh/consensus/engine.hpp"
#include "mesh/crypto/identity.hpp"
#include "mesh/dag/vertex.hpp"
#include "mesh/telemetry/logging.hpp"

namespace mesh::consensus::testing {

enum class byzantine_kind { random_votes, equivocates };

struct simulation_options {
  std::size_t nodes = 5;
  std::size_t byzantine = 0;
  byzantine_kind byzantine_behaviour = byzantine_kind::random_votes;
  double loss = 0.0;
  avalanche_params params = avalanche_params::fast();
  std::uint64_t seed = 1;
};

// Identities are expensive enough to share between seeds: node i of every
// simulation uses identity i.
inline const crypto::identity& shared_identity(std::size_t index) {
  static std::vector<std::unique_ptr<crypto::identity>> pool;
  while (pool.size() <= index) {
    auto generated = crypto::identity::generate();
    if (!generated) {
      throw std::runtime_error("identity generation failed: " + generated.err().message);
    }
    pool.push_back(std::make_unique<crypto::identity>(std::move(*generated)));
  }
  return *pool[index];
}

class simulation {
 public:
  static constexpr timestamp round_length{100};

  explicit simulation(simulation_options options) : options_(options), rng_(options.seed) {
    // Equivocation warnings would flood the test output.
    telemetry::logger("consensus")->set_level(spdlog::level::err);
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < options_.nodes; ++i) {
      ids.push_back(shared_identity(i).node_id());
    }
    for (std::size_t i = 0; i < options_.nodes; ++i) {
      engine_config config;
      config.self_id = ids[i];
      config.avalanche = options_.params;
      config.poll_timeout = round_length;
      auto created = engine::create(config, dag::suite_registry::with_builtin_suites(),
                                    std::make_unique<dag::memory_vertex_store>(),
                                    options_.seed * 1000 + i);
      if (!created) {
        throw std::runtime_error("engine creation failed: " + created.err().message);
      }
      nodes_.push_back(node{std::move(*created), i >= options_.nodes - options_.byzantine, 0});
      nodes_.back().consensus.set_voting_peers(ids);
    }
  }

  [[nodiscard]] std::size_t size() const { return nodes_.size(); }
  [[nodiscard]] bool honest(std::size_t index) const { return !nodes_[index].byzantine; }
  [[nodiscard]] engine& at(std::size_t index) { return nodes_[index].consensus; }
  [[nodiscard]] timestamp now() const { return round_length * static_cast<std::int64_t>(round_); }
  [[nodiscard]] std::size_t round() const { return round_; }

  // Node `author` builds a vertex on parents from its own tip selection, adds
  // it locally and pushes it to every other node. Returns its id.
  vertex_id submit(std::size_t author, const std::string& payload,
                   const std::string& conflict_key = {}) {
    auto& from = nodes_[author];
    dag::vertex_draft draft;
    draft.parents = from.consensus.select_parents(rng_);
    draft.payload = payload;
    draft.content_type = "text/plain";
    draft.conflict_key = conflict_key;
    draft.sequence = from.next_sequence++;
    draft.timestamp_ms = static_cast<std::uint64_t>(now().count());
    auto signed_vertex = dag::sign_vertex(std::move(draft), shared_identity(author));
    EXPECT_TRUE(signed_vertex.has_value());
    const auto& v = *signed_vertex;
    const auto id = dag::compute_id(v);
    vertices_[id] = v;

    auto added = from.consensus.add_vertex(v, now());
    EXPECT_EQ(added.result, dag::validation_result::accepted) << dag::to_string(added.result);
    for (std::size_t to = 0; to < nodes_.size(); ++to) {
      if (to != author) {
        send(message{author, to, vertex_push{v}});
      }
    }
    return id;
  }

  // An equivocating node signs two vertices with one sequence number and
  // pushes the first to the lower half of the mesh and the second to the
  // upper half. Returns both ids.
  std::pair<vertex_id, vertex_id> equivocate(std::size_t author) {
    auto& from = nodes_[author];
    const auto sequence = from.next_sequence++;
    std::vector<dag::vertex> pair;
    for (int variant = 0; variant < 2; ++variant) {
      dag::vertex_draft draft;
      draft.parents = from.consensus.select_parents(rng_);
      draft.payload = "equivocation " + std::to_string(variant);
      draft.content_type = "text/plain";
      draft.sequence = sequence;
      draft.timestamp_ms = static_cast<std::uint64_t>(now().count());
      auto signed_vertex = dag::sign_vertex(std::move(draft), shared_identity(author));
      EXPECT_TRUE(signed_vertex.has_value());
      pair.push_back(*signed_vertex);
      vertices_[dag::compute_id(pair.back())] = pair.back();
    }
    for (std::size_t to = 0; to < nodes_.size(); ++to) {
      if (to != author) {
        send(message{author, to, vertex_push{pair[to < nodes_.size() / 2 ? 0 : 1]}});
      }
    }
    return {dag::compute_id(pair[0]), dag::compute_id(pair[1])};
  }

  // Runs one round: polls, then delivery until no message is left.
  void step() {
    ++round_;
    std::vector<std::size_t> order(nodes_.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::shuffle(order.begin(), order.end(), rng_);

    for (auto i : order) {
      for (auto& request : nodes_[i].consensus.next_polls(now())) {
        const auto to = index_of(request.peer_id);
        send(message{i, to, poll{request.poll_id, std::move(request.vertex_ids)}});
      }
      for (const auto& missing : nodes_[i].consensus.missing_vertices()) {
        const auto to = random_other(i);
        send(message{i, to, fetch{{missing}}});
      }
      deliver_all();
    }
    collect_events();
  }

  // Delivers in-flight messages, shuffled, until none is left.
  void deliver_all() {
    while (!in_flight_.empty()) {
      auto batch = std::move(in_flight_);
      in_flight_.clear();
      std::shuffle(batch.begin(), batch.end(), rng_);
      for (auto& m : batch) {
        deliver(std::move(m));
      }
    }
  }

  // Runs rounds until `done` returns true or `max_rounds` rounds have run. Returns
  // the number of rounds run.
  template <class Predicate>
  std::size_t run_until(Predicate done, std::size_t max_rounds) {
    std::size_t rounds = 0;
    while (rounds < max_rounds && !done()) {
      step();
      ++rounds;
    }
    return rounds;
  }

  [[nodiscard]] bool final_everywhere(const vertex_id& id) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (honest(i) && at(i).state(id) != dag::vertex_state::final) {
        return false;
      }
    }
    return true;
  }

  [[nodiscard]] bool decided_everywhere(const vertex_id& id) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      const auto state = at(i).state(id);
      if (honest(i) && (!state || *state == dag::vertex_state::undecided)) {
        return false;
      }
    }
    return true;
  }

  // Every vertex that some honest node reported final, by node.
  [[nodiscard]] const std::map<std::size_t, std::set<vertex_id>>& finals() const { return finals_; }

  // Empty when no two honest nodes finalized conflicting vertices (same
  // conflict key, or same author and sequence number); otherwise a
  // description of the first violation.
  [[nodiscard]] std::string safety_violation() const {
    std::map<std::string, vertex_id> winner;
    for (const auto& [node_index, ids] : finals_) {
      if (!honest(node_index)) {
        continue;
      }
      for (const auto& id : ids) {
        const auto& v = vertices_.at(id);
        std::vector<std::string> keys{"s" + v.author_id + ":" + std::to_string(v.sequence)};
        if (!v.conflict_key.empty()) {
          keys.push_back("k" + v.conflict_key);
        }
        for (const auto& key : keys) {
          auto [it, inserted] = winner.emplace(key, id);
          if (!inserted && it->second != id) {
            return "node " + std::to_string(node_index) + " finalized a vertex that conflicts " +
                   "with another final vertex in set " + key;
          }
        }
      }
    }
    return {};
  }

  [[nodiscard]] std::uint64_t equivocations_detected() const { return equivocation_events_; }

 private:
  struct vertex_push {
    dag::vertex value;
  };
  struct fetch {
    std::vector<vertex_id> ids;
  };
  struct poll {
    std::uint64_t poll_id;
    std::vector<vertex_id> ids;
  };
  struct reply {
    std::uint64_t poll_id;
    std::vector<bool> votes;
  };
  struct message {
    std::size_t from;
    std::size_t to;
    std::variant<vertex_push, fetch, poll, reply> body;
  };
  struct node {
    engine consensus;
    bool byzantine;
    std::uint64_t next_sequence;
  };

  void send(message m) {
    std::bernoulli_distribution dropped(options_.loss);
    if (m.from != m.to && dropped(rng_)) {
      return;
    }
    in_flight_.push_back(std::move(m));
  }

  std::size_t index_of(const std::string& node_id) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (shared_identity(i).node_id() == node_id) {
        return i;
      }
    }
    throw std::runtime_error("poll addressed to an unknown node id " + node_id);
  }

  std::size_t random_other(std::size_t self) {
    std::uniform_int_distribution<std::size_t> pick(0, nodes_.size() - 2);
    const auto other = pick(rng_);
    return other >= self ? other + 1 : other;
  }

  void deliver(message m) {
    auto& receiver = nodes_[m.to];
    if (auto* push = std::get_if<vertex_push>(&m.body)) {
      auto added = receiver.consensus.add_vertex(push->value, now());
      if (added.result == dag::validation_result::missing_parents) {
        send(message{m.to, m.from, fetch{added.missing_parents}});
      }
      return;
    }
    if (auto* wanted = std::get_if<fetch>(&m.body)) {
      for (const auto& id : wanted->ids) {
        auto stored = receiver.consensus.store().get(id);
        if (stored) {
          send(message{m.to, m.from, vertex_push{*stored}});
        }
      }
      return;
    }
    if (auto* query = std::get_if<poll>(&m.body)) {
      answer_poll(m, *query);
      return;
    }
    auto& votes = std::get<reply>(m.body);
    receiver.consensus.on_votes(votes.poll_id, shared_identity(m.from).node_id(), votes.votes,
                                now());
  }

  void answer_poll(const message& m, const poll& query) {
    auto& receiver = nodes_[m.to];
    std::vector<bool> votes;
    if (receiver.byzantine && options_.byzantine_behaviour == byzantine_kind::random_votes) {
      std::bernoulli_distribution coin(0.5);
      for (std::size_t i = 0; i < query.ids.size(); ++i) {
        votes.push_back(coin(rng_));
      }
    } else {
      votes = receiver.consensus.on_poll(shared_identity(m.from).node_id(), query.ids);
      std::vector<vertex_id> unknown;
      for (const auto& id : query.ids) {
        if (!receiver.consensus.state(id)) {
          unknown.push_back(id);
        }
      }
      if (!unknown.empty()) {
        send(message{m.to, m.from, fetch{std::move(unknown)}});
      }
    }
    send(message{m.to, m.from, reply{query.poll_id, std::move(votes)}});
  }

  void collect_events() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      for (const auto& e : nodes_[i].consensus.take_events()) {
        if (e.kind == event_kind::vertex_final) {
          finals_[i].insert(e.id);
        } else if (e.kind == event_kind::equivocation_detected) {
          ++equivocation_events_;
        }
      }
    }
  }

  simulation_options options_;
  std::mt19937_64 rng_;
  std::vector<node> nodes_;
  std::vector<message> in_flight_;
  std::map<vertex_id, dag::vertex> vertices_;
  std::map<std::size_t, std::set<vertex_id>> finals_;
  std::uint64_t equivocation_events_ = 0;
  std::size_t round_ = 0;
};

}  // namespace mesh::consensus::testing
