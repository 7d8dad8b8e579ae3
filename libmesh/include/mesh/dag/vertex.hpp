#pragma once
// QuDAG vertices: the value type, the canonical encoding that the vertex id
// and the signature cover, signing with a node identity and conversion to and
// from mesh.v1.Vertex. docs/qudag.md has the field table and the byte layout.
// Free functions, no shared state.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mesh/crypto/identity.hpp"
#include "mesh/error.hpp"
#include "mesh/v1/dag.pb.h"

namespace mesh::dag {

// Milliseconds since the Unix epoch, always passed in by the caller.
using timestamp = std::chrono::milliseconds;

// Raw 32-byte SHA-256 of the canonical encoding without the signature.
using vertex_id = std::string;
inline constexpr std::size_t vertex_id_size = 32;

// Signature suite ids, as carried in Vertex.signature_suite.
inline constexpr std::uint32_t suite_ed25519 = 1;
inline constexpr std::uint32_t suite_ml_dsa_65 = 2;

// The first 8 bytes of every canonical encoding; they name the format version.
inline constexpr std::string_view canonical_magic = "QUDAG-V1";

struct vertex {
  std::vector<vertex_id> parents;  // ascending byte order, distinct
  std::string payload;
  std::string content_type;
  std::string conflict_key;  // empty: conflicts with no other vertex
  std::string author_id;     // node id derived from author_key
  std::string author_key;    // raw public key of the author's identity
  std::uint64_t sequence = 0;
  std::uint64_t timestamp_ms = 0;
  std::uint32_t suite = suite_ed25519;
  std::string signature;
};

// Limits that validation enforces; the defaults suit small control messages
// and model descriptors, not bulk data.
struct vertex_limits {
  std::size_t max_payload_bytes = 256 * 1024;
  std::size_t max_parents = 8;
  std::size_t max_content_type_bytes = 128;
  std::size_t max_conflict_key_bytes = 256;
  // A vertex whose timestamp is further than this ahead of the receiver's
  // clock is rejected with clock_skew.
  timestamp max_clock_skew{30'000};
};

// Returns the canonical encoding of every field except the signature and the
// author id (which derives from the key). The parents are encoded in the
// order stored; validation rejects any other order than ascending.
[[nodiscard]] std::string canonical_encoding(const vertex& v);

// Returns SHA-256 of canonical_encoding(v): the vertex id.
[[nodiscard]] vertex_id compute_id(const vertex& v);

// The fields an author chooses; sign_vertex adds the rest.
struct vertex_draft {
  std::vector<vertex_id> parents;
  std::string payload;
  std::string content_type;
  std::string conflict_key;
  std::uint64_t sequence = 0;
  std::uint64_t timestamp_ms = 0;
};

// Builds a vertex from `draft`: sorts the parents, sets the author from
// `author` and signs the id with Ed25519. Fails with invalid_argument on a
// parent id that is not 32 bytes or appears twice, and with crypto_error when
// signing fails.
[[nodiscard]] result<vertex> sign_vertex(vertex_draft draft, const crypto::identity& author);

void to_proto(const vertex& v, mesh::v1::Vertex& out);

// Copies the fields of `message`; a missing author becomes empty fields that
// validation rejects as malformed.
[[nodiscard]] vertex from_proto(const mesh::v1::Vertex& message);

}  // namespace mesh::dag
