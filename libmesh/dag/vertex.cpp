#include "mesh/dag/vertex.hpp"

#include <algorithm>

#include "mesh/crypto/hash.hpp"

namespace mesh::dag {

namespace {

void append_u32(std::string& out, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xffU));
  }
}

void append_u64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((value >> shift) & 0xffU));
  }
}

// A length as u32 followed by the bytes. Validation bounds every field far
// below 4 GiB, so the cast never truncates for a vertex that passes it.
void append_bytes(std::string& out, std::string_view bytes) {
  append_u32(out, static_cast<std::uint32_t>(bytes.size()));
  out.append(bytes);
}

}  // namespace

std::string canonical_encoding(const vertex& v) {
  std::string out;
  out.reserve(64 + v.author_key.size() + v.parents.size() * vertex_id_size + v.content_type.size() +
              v.conflict_key.size() + v.payload.size());

  out.append(canonical_magic);
  append_u32(out, v.suite);
  append_bytes(out, v.author_key);
  append_u64(out, v.sequence);
  append_u64(out, v.timestamp_ms);

  append_u32(out, static_cast<std::uint32_t>(v.parents.size()));
  for (const auto& parent : v.parents) {
    append_bytes(out, parent);
  }

  append_bytes(out, v.content_type);
  append_bytes(out, v.conflict_key);
  append_bytes(out, v.payload);
  return out;
}

vertex_id compute_id(const vertex& v) { return crypto::sha256(canonical_encoding(v)); }

result<vertex> sign_vertex(vertex_draft draft, const crypto::identity& author) {
  for (const auto& parent : draft.parents) {
    if (parent.size() != vertex_id_size) {
      return fail(errc::invalid_argument, "parent id has " + std::to_string(parent.size()) +
                                              " bytes; a vertex id has 32");
    }
  }
  std::sort(draft.parents.begin(), draft.parents.end());
  if (std::adjacent_find(draft.parents.begin(), draft.parents.end()) != draft.parents.end()) {
    return fail(errc::invalid_argument, "parent list names the same vertex twice");
  }

  vertex v;
  v.parents = std::move(draft.parents);
  v.payload = std::move(draft.payload);
  v.content_type = std::move(draft.content_type);
  v.conflict_key = std::move(draft.conflict_key);
  v.author_id = author.node_id();
  v.author_key = author.public_key();
  v.sequence = draft.sequence;
  v.timestamp_ms = draft.timestamp_ms;
  v.suite = suite_ed25519;

  auto signature = author.sign(compute_id(v));
  if (!signature) {
    return signature.err();
  }
  v.signature = std::move(*signature);
  return v;
}

void to_proto(const vertex& v, mesh::v1::Vertex& out) {
  out.Clear();
  for (const auto& parent : v.parents) {
    out.add_parents(parent);
  }
  out.set_payload(v.payload);
  out.set_content_type(v.content_type);
  out.set_conflict_key(v.conflict_key);
  out.mutable_author()->set_node_id(v.author_id);
  out.mutable_author()->set_public_key(v.author_key);
  out.set_sequence(v.sequence);
  out.set_timestamp_ms(v.timestamp_ms);
  out.set_signature_suite(v.suite);
  out.set_signature(v.signature);
}

vertex from_proto(const mesh::v1::Vertex& message) {
  vertex v;
  v.parents.assign(message.parents().begin(), message.parents().end());
  v.payload = message.payload();
  v.content_type = message.content_type();
  v.conflict_key = message.conflict_key();
  v.author_id = message.author().node_id();
  v.author_key = message.author().public_key();
  v.sequence = message.sequence();
  v.timestamp_ms = message.timestamp_ms();
  v.suite = message.signature_suite();
  v.signature = message.signature();
  return v;
}

}  // namespace mesh::dag
