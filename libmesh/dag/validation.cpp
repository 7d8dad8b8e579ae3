#include "mesh/dag/validation.hpp"

#include <cstdint>
#include <limits>

#include "mesh/crypto/identity.hpp"

namespace mesh::dag {

std::string_view to_string(validation_result result) noexcept {
  switch (result) {
    case validation_result::accepted:
      return "accepted";
    case validation_result::already_known:
      return "already_known";
    case validation_result::malformed:
      return "malformed";
    case validation_result::payload_too_large:
      return "payload_too_large";
    case validation_result::too_many_parents:
      return "too_many_parents";
    case validation_result::duplicate_parent:
      return "duplicate_parent";
    case validation_result::unknown_suite:
      return "unknown_suite";
    case validation_result::bad_signature:
      return "bad_signature";
    case validation_result::clock_skew:
      return "clock_skew";
    case validation_result::author_banned:
      return "author_banned";
    case validation_result::equivocation:
      return "equivocation";
    case validation_result::missing_parents:
      return "missing_parents";
    case validation_result::buffer_full:
      return "buffer_full";
    case validation_result::store_failed:
      return "store_failed";
  }
  return "unknown";
}

validation_result check_vertex_format(const vertex& v, const vertex_limits& limits,
                                      const suite_registry& suites) {
  if (v.author_key.empty() || v.signature.empty() ||
      v.content_type.size() > limits.max_content_type_bytes ||
      v.conflict_key.size() > limits.max_conflict_key_bytes ||
      v.timestamp_ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return validation_result::malformed;
  }
  if (v.author_id != crypto::node_id_from_public_key(v.author_key)) {
    return validation_result::malformed;
  }
  for (const auto& parent : v.parents) {
    if (parent.size() != vertex_id_size) {
      return validation_result::malformed;
    }
  }

  if (v.payload.size() > limits.max_payload_bytes) {
    return validation_result::payload_too_large;
  }
  if (v.parents.size() > limits.max_parents) {
    return validation_result::too_many_parents;
  }

  // Duplicates are checked before the order so that a repeated id reports
  // duplicate_parent even when the list is otherwise sorted.
  for (std::size_t i = 1; i < v.parents.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (v.parents[i] == v.parents[j]) {
        return validation_result::duplicate_parent;
      }
    }
  }
  for (std::size_t i = 1; i < v.parents.size(); ++i) {
    if (!(v.parents[i - 1] < v.parents[i])) {
      return validation_result::malformed;
    }
  }

  const auto* suite = suites.find(v.suite);
  if (suite == nullptr) {
    return validation_result::unknown_suite;
  }
  if (v.author_key.size() != suite->public_key_size()) {
    return validation_result::malformed;
  }
  return validation_result::accepted;
}

validation_result check_vertex(const vertex& v, const vertex_limits& limits,
                               const suite_registry& suites, timestamp now, vertex_id& id_out) {
  if (auto format = check_vertex_format(v, limits, suites); format != validation_result::accepted) {
    return format;
  }
  id_out = compute_id(v);

  const auto* suite = suites.find(v.suite);
  if (!suite->verify(v.author_key, id_out, v.signature)) {
    return validation_result::bad_signature;
  }

  const auto latest_accepted = now + limits.max_clock_skew;
  if (static_cast<std::int64_t>(v.timestamp_ms) > latest_accepted.count()) {
    return validation_result::clock_skew;
  }
  return validation_result::accepted;
}

}  // namespace mesh::dag
