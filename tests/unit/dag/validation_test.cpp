// The stateless validation checks, one test per reason, and the signature
// suite registry.

#include <gtest/gtest.h>

#include <algorithm>

#include "mesh/dag/signature_suite.hpp"
#include "mesh/dag/validation.hpp"

namespace mesh::dag {
namespace {

constexpr timestamp now{1'700'000'000'000};

const crypto::identity& author() {
  static auto identity = crypto::identity::generate();
  return *identity;
}

vertex make(vertex_draft draft) {
  if (draft.timestamp_ms == 0) {
    draft.timestamp_ms = static_cast<std::uint64_t>(now.count());
  }
  auto v = sign_vertex(std::move(draft), author());
  EXPECT_TRUE(v.has_value());
  return *v;
}

vertex valid_vertex() {
  vertex_draft draft;
  draft.parents = {std::string(32, 'a'), std::string(32, 'b')};
  draft.payload = "ok";
  draft.content_type = "text/plain";
  return make(draft);
}

// Re-signs `v` after an edit, so the check under test is the only one failing.
vertex resign(vertex v) {
  auto signature = author().sign(compute_id(v));
  EXPECT_TRUE(signature.has_value());
  v.signature = *signature;
  return v;
}

validation_result check(const vertex& v, const vertex_limits& limits = {}) {
  const auto suites = suite_registry::with_builtin_suites();
  vertex_id id;
  return check_vertex(v, limits, suites, now, id);
}

TEST(ValidationNames, AreDistinct) {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < validation_result_count; ++i) {
    names.push_back(to_string(static_cast<validation_result>(i)));
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
  EXPECT_EQ(to_string(validation_result::bad_signature), "bad_signature");
}

TEST(CheckVertex, AcceptsValidVertexAndReturnsId) {
  const auto v = valid_vertex();
  const auto suites = suite_registry::with_builtin_suites();
  vertex_id id;
  EXPECT_EQ(check_vertex(v, {}, suites, now, id), validation_result::accepted);
  EXPECT_EQ(id, compute_id(v));
}

TEST(CheckVertex, MalformedAuthorId) {
  auto v = valid_vertex();
  v.author_id = std::string(32, '0');
  EXPECT_EQ(check(v), validation_result::malformed);
}

TEST(CheckVertex, MalformedShortParent) {
  auto v = valid_vertex();
  v.parents[0] = "short";
  EXPECT_EQ(check(resign(v)), validation_result::malformed);
}

TEST(CheckVertex, MalformedUnsortedParents) {
  auto v = valid_vertex();
  std::swap(v.parents[0], v.parents[1]);
  EXPECT_EQ(check(resign(v)), validation_result::malformed);
}

TEST(CheckVertex, MalformedEmptySignature) {
  auto v = valid_vertex();
  v.signature.clear();
  EXPECT_EQ(check(v), validation_result::malformed);
}

TEST(CheckVertex, MalformedLongContentType) {
  vertex_limits limits;
  vertex_draft draft;
  draft.content_type = std::string(limits.max_content_type_bytes + 1, 't');
  EXPECT_EQ(check(make(draft), limits), validation_result::malformed);
}

TEST(CheckVertex, MalformedLongConflictKey) {
  vertex_limits limits;
  vertex_draft draft;
  draft.conflict_key = std::string(limits.max_conflict_key_bytes + 1, 'k');
  EXPECT_EQ(check(make(draft), limits), validation_result::malformed);
}

TEST(CheckVertex, PayloadTooLarge) {
  vertex_limits limits;
  limits.max_payload_bytes = 16;
  vertex_draft draft;
  draft.payload = std::string(16, 'p');
  EXPECT_EQ(check(make(draft), limits), validation_result::accepted);
  draft.payload.push_back('p');
  EXPECT_EQ(check(make(draft), limits), validation_result::payload_too_large);
}

TEST(CheckVertex, TooManyParents) {
  vertex_limits limits;
  limits.max_parents = 2;
  vertex_draft draft;
  draft.parents = {std::string(32, 'a'), std::string(32, 'b')};
  EXPECT_EQ(check(make(draft), limits), validation_result::accepted);
  draft.parents.push_back(std::string(32, 'c'));
  EXPECT_EQ(check(make(draft), limits), validation_result::too_many_parents);
}

TEST(CheckVertex, DuplicateParent) {
  auto v = valid_vertex();
  v.parents[1] = v.parents[0];
  EXPECT_EQ(check(resign(v)), validation_result::duplicate_parent);
}

TEST(CheckVertex, UnknownSuite) {
  auto v = valid_vertex();
  v.suite = 99;
  EXPECT_EQ(check(resign(v)), validation_result::unknown_suite);
}

TEST(CheckVertex, KeySizeWrongForSuite) {
  auto v = valid_vertex();
  v.author_key += "x";
  v.author_id = crypto::node_id_from_public_key(v.author_key);
  EXPECT_EQ(check(v), validation_result::malformed);
}

TEST(CheckVertex, BadSignature) {
  auto v = valid_vertex();
  v.payload = "changed after signing";
  EXPECT_EQ(check(v), validation_result::bad_signature);

  auto other = valid_vertex();
  other.signature[0] ^= 1;
  EXPECT_EQ(check(other), validation_result::bad_signature);
}

TEST(CheckVertex, ClockSkew) {
  const vertex_limits limits;
  vertex_draft draft;
  draft.timestamp_ms = static_cast<std::uint64_t>((now + limits.max_clock_skew).count());
  EXPECT_EQ(check(make(draft), limits), validation_result::accepted);
  draft.timestamp_ms += 1;
  EXPECT_EQ(check(make(draft), limits), validation_result::clock_skew);
}

TEST(CheckVertex, OldTimestampAccepted) {
  vertex_draft draft;
  draft.timestamp_ms = 1;
  EXPECT_EQ(check(make(draft)), validation_result::accepted);
}

TEST(ValidationStats, CountsPerResult) {
  validation_stats stats;
  stats.record(validation_result::clock_skew);
  stats.record(validation_result::clock_skew);
  stats.record(validation_result::accepted);
  EXPECT_EQ(stats.count(validation_result::clock_skew), 2U);
  EXPECT_EQ(stats.count(validation_result::accepted), 1U);
  EXPECT_EQ(stats.count(validation_result::bad_signature), 0U);
}

TEST(SuiteRegistry, BuiltinHasEd25519) {
  const auto registry = suite_registry::with_builtin_suites();
  const auto* suite = registry.find(suite_ed25519);
  ASSERT_NE(suite, nullptr);
  EXPECT_EQ(suite->name(), "ed25519");
  EXPECT_EQ(suite->public_key_size(), 32U);
  EXPECT_EQ(registry.find(77), nullptr);
}

TEST(SuiteRegistry, AvailableSuitesMatchOpenSsl) {
  const auto names = available_suites();
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.front(), "ed25519");
  const bool has_ml_dsa = make_ml_dsa_65_suite() != nullptr;
  EXPECT_EQ(std::find(names.begin(), names.end(), "ml-dsa-65") != names.end(), has_ml_dsa);
  EXPECT_EQ(names.size(), has_ml_dsa ? 2U : 1U);
}

TEST(SuiteRegistry, RejectsDuplicateId) {
  auto registry = suite_registry::with_builtin_suites();
  auto added = registry.add(make_ed25519_suite());
  ASSERT_FALSE(added.has_value());
  EXPECT_EQ(added.err().code, errc::invalid_argument);
  EXPECT_FALSE(registry.add(nullptr).has_value());
}

// A suite registered at run time is used for its id.
TEST(SuiteRegistry, CustomSuiteVerifies) {
  class accept_all final : public signature_suite {
   public:
    std::uint32_t id() const noexcept override { return 40; }
    std::string_view name() const noexcept override { return "accept-all"; }
    std::size_t public_key_size() const noexcept override { return 32; }
    bool verify(std::string_view, std::string_view, std::string_view) const override { return true; }
  };
  suite_registry registry;
  ASSERT_TRUE(registry.add(std::make_shared<accept_all>()).has_value());

  auto v = valid_vertex();
  v.suite = 40;
  v.signature = "anything";
  vertex_id id;
  EXPECT_EQ(check_vertex(v, {}, registry, now, id), validation_result::accepted);
  v.suite = suite_ed25519;
  EXPECT_EQ(check_vertex(v, {}, registry, now, id), validation_result::unknown_suite);
}

}  // namespace
}  // namespace mesh::dag
