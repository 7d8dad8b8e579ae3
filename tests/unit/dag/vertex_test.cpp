// Canonical encoding (golden bytes), ids, signing, tampering and the
// protobuf conversion of QuDAG vertices.

#include <gtest/gtest.h>

#include <functional>

#include "mesh/crypto/hash.hpp"
#include "mesh/dag/signature_suite.hpp"
#include "mesh/dag/vertex.hpp"

namespace mesh::dag {
namespace {

vertex golden_vertex() {
  vertex v;
  for (int i = 0; i < 32; ++i) {
    v.author_key.push_back(static_cast<char>(i));
  }
  v.suite = suite_ed25519;
  v.sequence = 7;
  v.timestamp_ms = 1'700'000'000'000;
  v.parents = {std::string(32, '\x11'), std::string(32, '\x22')};
  v.content_type = "text/plain";
  v.conflict_key = "k1";
  v.payload = "hello";
  v.signature = "not part of the encoding";
  return v;
}

const crypto::identity& test_identity() {
  static auto identity = crypto::identity::generate();
  return *identity;
}

vertex signed_vertex() {
  vertex_draft draft;
  draft.parents = {std::string(32, '\x22'), std::string(32, '\x11')};
  draft.payload = "payload";
  draft.content_type = "application/json";
  draft.conflict_key = "account-1";
  draft.sequence = 3;
  draft.timestamp_ms = 1'700'000'000'123;
  auto v = sign_vertex(draft, test_identity());
  EXPECT_TRUE(v.has_value());
  return *v;
}

bool signature_valid(const vertex& v) {
  return make_ed25519_suite()->verify(v.author_key, compute_id(v), v.signature);
}

TEST(CanonicalEncoding, MatchesGoldenBytes) {
  // Each line is one field of the layout in docs/qudag.md, big-endian.
  const std::string expected_hex =
      "51554441472d5631"                                                  // magic "QUDAG-V1"
      "00000001"                                                          // suite
      "00000020"                                                          // key length
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  // author key
      "0000000000000007"                                                  // sequence
      "0000018bcfe56800"                                                  // timestamp ms
      "00000002"                                                          // parent count
      "00000020"
      "1111111111111111111111111111111111111111111111111111111111111111"  // parent 1
      "00000020"
      "2222222222222222222222222222222222222222222222222222222222222222"  // parent 2
      "0000000a"
      "746578742f706c61696e"  // content type
      "00000002"
      "6b31"  // conflict key
      "00000005"
      "68656c6c6f";  // payload

  EXPECT_EQ(crypto::to_hex(canonical_encoding(golden_vertex())), expected_hex);
}

TEST(CanonicalEncoding, IdIsSha256OfEncoding) {
  // SHA-256 of the golden bytes, computed independently with Python's hashlib.
  EXPECT_EQ(crypto::to_hex(compute_id(golden_vertex())),
            "f1b67446bfff8ab4fdd7630d7702afca2c5c78675a84382dc1386c50706a7e3d");
}

TEST(CanonicalEncoding, IgnoresSignatureAndAuthorId) {
  auto v = golden_vertex();
  const auto id = compute_id(v);
  v.signature = "other";
  v.author_id = "ffffffffffffffffffffffffffffffff";
  EXPECT_EQ(compute_id(v), id);
}

TEST(CanonicalEncoding, EveryFieldChangesId) {
  const auto base = compute_id(golden_vertex());
  std::vector<std::function<void(vertex&)>> edits = {
      [](vertex& v) { v.payload += "!"; },
      [](vertex& v) { v.content_type = "text/html"; },
      [](vertex& v) { v.conflict_key.clear(); },
      [](vertex& v) { v.sequence += 1; },
      [](vertex& v) { v.timestamp_ms += 1; },
      [](vertex& v) { v.suite = suite_ml_dsa_65; },
      [](vertex& v) { v.author_key[0] = '\x7f'; },
      [](vertex& v) { v.parents.pop_back(); },
      // Moving bytes between adjacent fields must not collide.
      [](vertex& v) {
        v.content_type = "text/plai";
        v.conflict_key = "nk1";
      },
  };
  for (std::size_t i = 0; i < edits.size(); ++i) {
    auto v = golden_vertex();
    edits[i](v);
    EXPECT_NE(compute_id(v), base) << "edit " << i;
  }
}

TEST(SignVertex, SortsParentsAndSigns) {
  const auto v = signed_vertex();
  ASSERT_EQ(v.parents.size(), 2U);
  EXPECT_LT(v.parents[0], v.parents[1]);
  EXPECT_EQ(v.author_id, test_identity().node_id());
  EXPECT_EQ(v.author_key, test_identity().public_key());
  EXPECT_EQ(v.suite, suite_ed25519);
  EXPECT_EQ(v.signature.size(), crypto::ed25519_signature_size);
  EXPECT_TRUE(signature_valid(v));
}

TEST(SignVertex, RejectsBadParents) {
  vertex_draft short_parent;
  short_parent.parents = {"abc"};
  auto result = sign_vertex(short_parent, test_identity());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.err().code, errc::invalid_argument);

  vertex_draft repeated;
  repeated.parents = {std::string(32, 'a'), std::string(32, 'a')};
  result = sign_vertex(repeated, test_identity());
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.err().code, errc::invalid_argument);
}

TEST(SignVertex, TamperingBreaksSignature) {
  std::vector<std::function<void(vertex&)>> tampers = {
      [](vertex& v) { v.payload[0] ^= 1; },
      [](vertex& v) { v.content_type = "text/plain"; },
      [](vertex& v) { v.conflict_key = "account-2"; },
      [](vertex& v) { v.sequence = 4; },
      [](vertex& v) { v.timestamp_ms -= 1; },
      [](vertex& v) { v.parents.pop_back(); },
      [](vertex& v) { v.signature[10] ^= 1; },
      [](vertex& v) {
        auto other = crypto::identity::generate();
        v.author_key = other->public_key();
      },
  };
  for (std::size_t i = 0; i < tampers.size(); ++i) {
    auto v = signed_vertex();
    tampers[i](v);
    EXPECT_FALSE(signature_valid(v)) << "tamper " << i;
  }
}

TEST(VertexProto, RoundTrips) {
  const auto v = signed_vertex();
  mesh::v1::Vertex message;
  to_proto(v, message);

  std::string bytes;
  ASSERT_TRUE(message.SerializeToString(&bytes));
  mesh::v1::Vertex decoded_message;
  ASSERT_TRUE(decoded_message.ParseFromString(bytes));
  const auto decoded = from_proto(decoded_message);

  EXPECT_EQ(decoded.parents, v.parents);
  EXPECT_EQ(decoded.payload, v.payload);
  EXPECT_EQ(decoded.content_type, v.content_type);
  EXPECT_EQ(decoded.conflict_key, v.conflict_key);
  EXPECT_EQ(decoded.author_id, v.author_id);
  EXPECT_EQ(decoded.author_key, v.author_key);
  EXPECT_EQ(decoded.sequence, v.sequence);
  EXPECT_EQ(decoded.timestamp_ms, v.timestamp_ms);
  EXPECT_EQ(decoded.suite, v.suite);
  EXPECT_EQ(decoded.signature, v.signature);
  EXPECT_EQ(compute_id(decoded), compute_id(v));
}

TEST(VertexProto, MissingAuthorBecomesEmpty) {
  mesh::v1::Vertex message;
  message.set_payload("x");
  const auto v = from_proto(message);
  EXPECT_TRUE(v.author_id.empty());
  EXPECT_TRUE(v.author_key.empty());
}

}  // namespace
}  // namespace mesh::dag
