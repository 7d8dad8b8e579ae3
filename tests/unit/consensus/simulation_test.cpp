// Avalanche over simulated meshes of 5 to 50 nodes: safety over many seeds
// with Byzantine voters and equivocators, liveness under message loss, and
// resolution of conflicting vertices submitted at once to different nodes.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>

#include "simulation.hpp"

namespace mesh::consensus::testing {
namespace {

struct conflict_pair {
  vertex_id first;
  vertex_id second;
};

// Two distinct honest nodes, picked from the seed.
std::pair<std::size_t, std::size_t> two_honest(simulation& sim, std::mt19937_64& rng) {
  std::vector<std::size_t> honest;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    if (sim.honest(i)) {
      honest.push_back(i);
    }
  }
  std::shuffle(honest.begin(), honest.end(), rng);
  return {honest[0], honest[1]};
}

// True when exactly one vertex of the pair is final on every honest node,
// the same one everywhere, and the other is rejected.
bool resolved_to_one_winner(simulation& sim, const conflict_pair& pair) {
  const bool first_wins = sim.final_everywhere(pair.first);
  const bool second_wins = sim.final_everywhere(pair.second);
  if (first_wins == second_wins) {
    return false;
  }
  const auto& loser = first_wins ? pair.second : pair.first;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    if (sim.honest(i) && sim.at(i).state(loser) != dag::vertex_state::rejected) {
      return false;
    }
  }
  return true;
}

// True when both vertices are decided on every honest node with the same
// outcome everywhere. Both may be rejected when they were built on vertices
// that lost earlier conflicts.
bool settled(simulation& sim, const conflict_pair& pair) {
  for (const auto& id : {pair.first, pair.second}) {
    if (!sim.decided_everywhere(id)) {
      return false;
    }
    std::optional<dag::vertex_state> seen;
    for (std::size_t i = 0; i < sim.size(); ++i) {
      if (!sim.honest(i)) {
        continue;
      }
      const auto state = sim.at(i).state(id);
      if (seen && state != seen) {
        return false;
      }
      seen = state;
    }
  }
  return true;
}

TEST(Simulation, SafetyOver200SeedsSmallMeshes) {
  const auto started = std::chrono::steady_clock::now();
  std::size_t seeds_settled = 0;

  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    simulation_options options;
    options.nodes = 5 + seed % 6;
    options.byzantine = options.nodes / 5;
    options.byzantine_behaviour =
        seed % 2 == 0 ? byzantine_kind::random_votes : byzantine_kind::equivocates;
    options.loss = 0.1;
    options.seed = seed;
    simulation sim(options);
    std::mt19937_64 rng(seed);

    std::vector<conflict_pair> conflicts;
    for (int r = 0; r < 6; ++r) {
      const auto [a, b] = two_honest(sim, rng);
      const auto key = "coin-" + std::to_string(r);
      conflicts.push_back({sim.submit(a, "spend by a", key), sim.submit(b, "spend by b", key)});
      if (options.byzantine_behaviour == byzantine_kind::equivocates && r % 2 == 0) {
        (void)sim.equivocate(sim.size() - 1);
      }
      sim.step();
    }
    auto all_settled = [&] {
      return std::all_of(conflicts.begin(), conflicts.end(),
                         [&](const auto& pair) { return settled(sim, pair); });
    };
    sim.run_until(all_settled, 200);

    ASSERT_EQ(sim.safety_violation(), "") << "seed " << seed << " nodes " << options.nodes;
    if (all_settled()) {
      ++seeds_settled;
    }
  }

  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  std::printf("safety: 200 seeds, 5-10 nodes, %zu seeds settled every conflict, %.1f s\n",
              seeds_settled, elapsed.count());
  // Liveness is not promised with Byzantine voters, but nearly every seed should settle.
  EXPECT_GE(seeds_settled, 190U);
}

TEST(Simulation, ConflictsResolveToOneWinner) {
  for (std::uint64_t seed = 0; seed < 40; ++seed) {
    simulation_options options;
    const std::size_t sizes[] = {5, 6, 10, 20};
    options.nodes = sizes[seed % 4];
    options.seed = 1000 + seed;
    simulation sim(options);
    std::mt19937_64 rng(seed);

    // Both spends are submitted in the same round at two different nodes.
    const auto [a, b] = two_honest(sim, rng);
    const conflict_pair pair{sim.submit(a, "pay carol", "account-7/nonce-1"),
                             sim.submit(b, "pay dave", "account-7/nonce-1")};
    const auto rounds = sim.run_until([&] { return resolved_to_one_winner(sim, pair); }, 300);

    ASSERT_TRUE(resolved_to_one_winner(sim, pair))
        << "seed " << seed << " nodes " << options.nodes << " after " << rounds << " rounds";
    ASSERT_EQ(sim.safety_violation(), "");
  }
}

TEST(Simulation, LivenessWithTwentyPercentLoss) {
  std::size_t slowest = 0;
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    simulation_options options;
    const std::size_t sizes[] = {5, 10, 20};
    options.nodes = sizes[seed % 3];
    options.loss = 0.2;
    options.seed = 2000 + seed;
    simulation sim(options);
    std::mt19937_64 rng(seed);

    std::vector<vertex_id> submitted;
    for (int r = 0; r < 6; ++r) {
      for (int n = 0; n < 2; ++n) {
        const auto author = std::uniform_int_distribution<std::size_t>(0, sim.size() - 1)(rng);
        submitted.push_back(sim.submit(author, "reading " + std::to_string(r * 2 + n)));
      }
      sim.step();
    }
    const auto rounds = sim.run_until(
        [&] {
          return std::all_of(submitted.begin(), submitted.end(),
                             [&](const auto& id) { return sim.final_everywhere(id); });
        },
        150);
    slowest = std::max(slowest, rounds);

    for (const auto& id : submitted) {
      ASSERT_TRUE(sim.final_everywhere(id)) << "seed " << seed << " nodes " << options.nodes;
    }
  }
  std::printf("liveness: 30 seeds, 20%% loss, slowest seed needed %zu rounds after the last submit\n",
              slowest);
}

TEST(Simulation, EquivocationDetectedAndAtMostOneFinal) {
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    simulation_options options;
    options.nodes = 7;
    options.byzantine = 1;
    options.byzantine_behaviour = byzantine_kind::equivocates;
    options.seed = 3000 + seed;
    simulation sim(options);

    const auto [first, second] = sim.equivocate(sim.size() - 1);
    sim.run_until([&] { return sim.decided_everywhere(first) && sim.decided_everywhere(second); },
                  300);

    ASSERT_EQ(sim.safety_violation(), "") << "seed " << seed;
    for (std::size_t i = 0; i + 1 < sim.size(); ++i) {
      EXPECT_TRUE(sim.at(i).is_banned(shared_identity(sim.size() - 1).node_id()))
          << "node " << i << " seed " << seed;
      EXPECT_FALSE(sim.at(i).state(first) == dag::vertex_state::final &&
                   sim.at(i).state(second) == dag::vertex_state::final);
    }
    EXPECT_TRUE(sim.final_everywhere(first) != sim.final_everywhere(second)) << "seed " << seed;
  }
}

TEST(Simulation, FiftyNodesWithByzantineMinority) {
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t seed = 0; seed < 4; ++seed) {
    simulation_options options;
    options.nodes = 50;
    options.byzantine = 9;
    options.byzantine_behaviour =
        seed % 2 == 0 ? byzantine_kind::random_votes : byzantine_kind::equivocates;
    options.loss = 0.05;
    options.params = avalanche_params{};
    options.seed = 4000 + seed;
    simulation sim(options);
    std::mt19937_64 rng(seed);

    std::vector<conflict_pair> conflicts;
    for (int r = 0; r < 4; ++r) {
      const auto [a, b] = two_honest(sim, rng);
      const auto key = "lease-" + std::to_string(r);
      conflicts.push_back({sim.submit(a, "lease to a", key), sim.submit(b, "lease to b", key)});
      (void)sim.submit(b, "heartbeat " + std::to_string(r));
      if (options.byzantine_behaviour == byzantine_kind::equivocates) {
        (void)sim.equivocate(sim.size() - 1 - static_cast<std::size_t>(r));
      }
      sim.step();
    }
    sim.run_until(
        [&] {
          return std::all_of(conflicts.begin(), conflicts.end(),
                             [&](const auto& pair) { return settled(sim, pair); });
        },
        300);

    ASSERT_EQ(sim.safety_violation(), "") << "seed " << seed;
    for (const auto& pair : conflicts) {
      EXPECT_TRUE(settled(sim, pair)) << "seed " << seed;
    }
  }
  const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started);
  std::printf("50 nodes: 4 seeds, %.1f s\n", elapsed.count());
}

}  // namespace
}  // namespace mesh::consensus::testing
