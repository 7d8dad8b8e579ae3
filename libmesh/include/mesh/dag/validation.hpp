#pragma once
// Validation of received vertices: the outcome enum, its counters and the
// checks that need no DAG state. The consensus engine adds the checks that
// need state (already known, author banned, equivocation, missing parents).
// docs/qudag.md lists the order. Free functions, no shared state.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mesh/dag/signature_suite.hpp"
#include "mesh/dag/vertex.hpp"

namespace mesh::dag {

enum class validation_result : std::uint8_t {
  // Stored and handed to consensus.
  accepted = 0,
  // A vertex with this id is already stored or waiting for parents; nothing changed.
  already_known,
  // A field breaks the format: author id does not match the key, a parent id
  // is not 32 bytes, parents not in ascending order, a key of the wrong size
  // for the suite, an empty signature, or an oversized content type or
  // conflict key.
  malformed,
  payload_too_large,
  too_many_parents,
  duplicate_parent,
  // No suite with this id is registered in this process.
  unknown_suite,
  bad_signature,
  // The timestamp is further ahead of the receiver's clock than max_clock_skew.
  clock_skew,
  // The author equivocated at a lower sequence number; its later vertices are rejected.
  author_banned,
  // Same author and sequence number as a stored vertex with another id. The
  // vertex is stored as evidence and joins the conflict set of the first one.
  equivocation,
  // Some parents are unknown. The vertex waits in a bounded buffer, and the
  // caller must fetch the ids that the engine reports.
  missing_parents,
  // The parent buffer is full; the vertex was dropped.
  buffer_full,
  // The vertex store failed to write; the vertex was dropped.
  store_failed,
};

inline constexpr std::size_t validation_result_count =
    static_cast<std::size_t>(validation_result::store_failed) + 1;

// Returns the stable lowercase name of `result`, used as a metric label.
[[nodiscard]] std::string_view to_string(validation_result result) noexcept;

// Counters per validation result. Not thread-safe, like any value type.
struct validation_stats {
  std::array<std::uint64_t, validation_result_count> counts{};

  void record(validation_result result) noexcept { ++counts[static_cast<std::size_t>(result)]; }
  [[nodiscard]] std::uint64_t count(validation_result result) const noexcept {
    return counts[static_cast<std::size_t>(result)];
  }
};

// Runs the stateless checks in the documented order: format, payload size,
// parent count, duplicate parents, suite, signature, clock skew. Writes the
// vertex id to `id_out` as soon as the format checks pass, so the caller can
// look it up. Returns accepted when every check passes.
[[nodiscard]] validation_result check_vertex(const vertex& v, const vertex_limits& limits,
                                             const suite_registry& suites, timestamp now,
                                             vertex_id& id_out);

// Runs only the checks before the signature, so a caller can skip the
// signature for a vertex whose id it already stores.
[[nodiscard]] validation_result check_vertex_format(const vertex& v, const vertex_limits& limits,
                                                    const suite_registry& suites);

}  // namespace mesh::dag
