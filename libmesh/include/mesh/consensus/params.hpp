#pragma once
// Avalanche parameters (k, alpha, beta1, beta2) with the default, fast and
// secure presets, and the quorum a poll uses when the mesh has fewer voting
// peers than k. docs/qudag.md gives the reasoning behind each preset.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mesh/error.hpp"

namespace mesh::consensus {

struct avalanche_params {
  // Sample size: voting peers queried per poll.
  std::size_t k = 20;
  // Quorum: yes votes out of k for a successful poll (a chit). Must exceed k/2.
  std::size_t alpha = 15;
  // Early commitment: confidence at which a vertex that is alone in its
  // conflict sets becomes final.
  std::uint32_t beta1 = 15;
  // Consecutive successful polls after which the preferred vertex of a
  // conflict set with more than one member becomes final.
  std::uint32_t beta2 = 20;

  // Small meshes and tests: fewer rounds to finality, weaker margins.
  [[nodiscard]] static avalanche_params fast();
  // Larger sample, higher quorum and longer runs before finality.
  [[nodiscard]] static avalanche_params secure();
};

// Returns the preset named "default", "fast" or "secure"; fails with
// invalid_config naming the accepted values otherwise.
[[nodiscard]] result<avalanche_params> avalanche_preset(std::string_view name);

// Fails with invalid_config when k is 0, alpha is not in (k/2, k], beta1 is 0
// or beta2 is below beta1.
[[nodiscard]] result<void> validate(const avalanche_params& params);

// The numbers one poll uses.
struct poll_quorum {
  std::size_t k = 0;
  // Yes votes that count as a preference vote: a strict majority of k.
  std::size_t alpha_preference = 0;
  // Yes votes that count as a chit: alpha scaled to k, never below alpha_preference.
  std::size_t alpha_confidence = 0;
};

// Returns the quorum for a mesh with `voting_peers` peers besides this node:
// k' = min(k, voting_peers), alpha_preference = floor(k'/2) + 1 and
// alpha_confidence = max(ceil(alpha * k' / k), alpha_preference). All three
// are 0 when voting_peers is 0.
[[nodiscard]] poll_quorum effective_quorum(const avalanche_params& params,
                                           std::size_t voting_peers) noexcept;

}  // namespace mesh::consensus
