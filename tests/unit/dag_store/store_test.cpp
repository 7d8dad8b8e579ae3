// The vertex_store contract, run against the memory store and the SQLite
// store, and the SQLite store's durability: reopen, group commit, rollback of
// an uncommitted batch (also when the process dies) and clear errors for
// files it cannot use.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mesh/crypto/hash.hpp"
#include "mesh/dag/sqlite_store.hpp"
#include "mesh/dag/store.hpp"
#include "support/process.hpp"

namespace mesh::dag {
namespace {

using page = std::vector<std::pair<std::uint64_t, vertex_id>>;

// A vertex with every field set to a distinct value, including bytes that are
// not valid text. The store does not validate signatures, so none is computed.
vertex make_vertex(int n, std::vector<vertex_id> parents = {}) {
  vertex v;
  v.parents = std::move(parents);
  v.payload = std::string("payload\0", 8) + std::to_string(n) + "\xff\xfe";
  v.content_type = "application/test+" + std::to_string(n);
  v.conflict_key = n % 2 == 0 ? std::string{} : "key-" + std::to_string(n);
  v.author_id = "author-" + std::to_string(n % 3);
  v.author_key = std::string(32, static_cast<char>(n));
  v.sequence = static_cast<std::uint64_t>(n);
  v.timestamp_ms = 1'700'000'000'000ULL + static_cast<std::uint64_t>(n);
  v.suite = suite_ed25519;
  v.signature = std::string(64, static_cast<char>(0x80 + n));
  return v;
}

vertex_id id_of(const vertex& v) { return compute_id(v); }

void expect_same_vertex(const vertex& actual, const vertex& expected) {
  EXPECT_EQ(actual.parents, expected.parents);
  EXPECT_EQ(actual.payload, expected.payload);
  EXPECT_EQ(actual.content_type, expected.content_type);
  EXPECT_EQ(actual.conflict_key, expected.conflict_key);
  EXPECT_EQ(actual.author_id, expected.author_id);
  EXPECT_EQ(actual.author_key, expected.author_key);
  EXPECT_EQ(actual.sequence, expected.sequence);
  EXPECT_EQ(actual.timestamp_ms, expected.timestamp_ms);
  EXPECT_EQ(actual.suite, expected.suite);
  EXPECT_EQ(actual.signature, expected.signature);
}

std::vector<vertex_id> ids_of(const page& entries) {
  std::vector<vertex_id> out;
  for (const auto& [position, id] : entries) {
    out.push_back(id);
  }
  return out;
}

// --- the contract, for both stores -------------------------------------------

struct store_kind {
  const char* name;
  bool durable;
};

class StoreContract : public ::testing::TestWithParam<store_kind> {
 protected:
  void SetUp() override {
    if (GetParam().durable) {
      auto opened = sqlite_vertex_store::open(dir_.path() / "vertices.db");
      ASSERT_TRUE(opened.has_value()) << opened.err().message;
      store_ = std::move(*opened);
    } else {
      store_ = std::make_unique<memory_vertex_store>();
    }
  }

  mesh::testing::temp_dir dir_{"mesh-store-contract"};
  std::unique_ptr<vertex_store> store_;
};

TEST_P(StoreContract, RoundTripsEveryField) {
  const auto parent_a = make_vertex(1);
  const auto parent_b = make_vertex(2);
  auto v = make_vertex(3, {id_of(parent_a), id_of(parent_b)});
  v.sequence = std::numeric_limits<std::uint64_t>::max();
  v.timestamp_ms = std::numeric_limits<std::uint64_t>::max() - 1;
  v.suite = suite_ml_dsa_65;

  ASSERT_TRUE(store_->put(id_of(v), v, vertex_state::undecided).has_value());
  auto stored = store_->get(id_of(v));
  ASSERT_TRUE(stored.has_value()) << stored.err().message;
  expect_same_vertex(*stored, v);
  EXPECT_TRUE(store_->has(id_of(v)));
  EXPECT_EQ(store_->state(id_of(v)), vertex_state::undecided);
}

TEST_P(StoreContract, RoundTripsEmptyFields) {
  vertex v;
  v.author_id = "a";
  ASSERT_TRUE(store_->put("empty-fields-id", v, vertex_state::undecided).has_value());
  auto stored = store_->get("empty-fields-id");
  ASSERT_TRUE(stored.has_value()) << stored.err().message;
  expect_same_vertex(*stored, v);
}

TEST_P(StoreContract, UnknownIdIsNotFound) {
  EXPECT_FALSE(store_->has("missing"));
  EXPECT_EQ(store_->state("missing"), std::nullopt);
  auto got = store_->get("missing");
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.err().code, errc::not_found);
  auto set = store_->set_state("missing", vertex_state::final);
  ASSERT_FALSE(set.has_value());
  EXPECT_EQ(set.err().code, errc::not_found);
}

TEST_P(StoreContract, PutAgainKeepsFirst) {
  const auto v = make_vertex(1);
  ASSERT_TRUE(store_->put(id_of(v), v, vertex_state::undecided).has_value());
  auto other = make_vertex(2);
  ASSERT_TRUE(store_->put(id_of(v), other, vertex_state::rejected).has_value());

  EXPECT_EQ(store_->size(), 1U);
  EXPECT_EQ(store_->state(id_of(v)), vertex_state::undecided);
  EXPECT_EQ(store_->get(id_of(v))->payload, v.payload);
  EXPECT_EQ(store_->count(vertex_state::undecided), 1U);
  EXPECT_EQ(store_->count(vertex_state::rejected), 0U);
}

TEST_P(StoreContract, CountsFollowStates) {
  std::vector<vertex_id> ids;
  for (int n = 0; n < 6; ++n) {
    const auto v = make_vertex(n);
    ids.push_back(id_of(v));
    ASSERT_TRUE(store_->put(ids.back(), v, vertex_state::undecided).has_value());
  }
  ASSERT_TRUE(store_->set_state(ids[0], vertex_state::final).has_value());
  ASSERT_TRUE(store_->set_state(ids[1], vertex_state::final).has_value());
  ASSERT_TRUE(store_->set_state(ids[2], vertex_state::rejected).has_value());
  ASSERT_TRUE(store_->set_state(ids[2], vertex_state::rejected).has_value());

  EXPECT_EQ(store_->size(), 6U);
  EXPECT_EQ(store_->count(vertex_state::undecided), 3U);
  EXPECT_EQ(store_->count(vertex_state::final), 2U);
  EXPECT_EQ(store_->count(vertex_state::rejected), 1U);
  EXPECT_EQ(store_->state(ids[2]), vertex_state::rejected);

  std::vector<vertex_id> final_ids;
  store_->for_each(vertex_state::final, [&](const vertex_id& id, const vertex&) {
    final_ids.push_back(id);
    return true;
  });
  std::sort(final_ids.begin(), final_ids.end());
  std::vector<vertex_id> expected{ids[0], ids[1]};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(final_ids, expected);
}

TEST_P(StoreContract, PagesFollowDecisionOrder) {
  std::vector<vertex_id> ids;
  for (int n = 0; n < 6; ++n) {
    const auto v = make_vertex(n);
    ids.push_back(id_of(v));
    ASSERT_TRUE(store_->put(ids.back(), v, vertex_state::undecided).has_value());
  }
  // Decide out of insertion order: final 4, 1, 3; rejected 0.
  ASSERT_TRUE(store_->set_state(ids[4], vertex_state::final).has_value());
  ASSERT_TRUE(store_->set_state(ids[0], vertex_state::rejected).has_value());
  ASSERT_TRUE(store_->set_state(ids[1], vertex_state::final).has_value());
  ASSERT_TRUE(store_->set_state(ids[3], vertex_state::final).has_value());

  const auto first = store_->decided_after(vertex_state::final, 0, 2);
  ASSERT_EQ(first.size(), 2U);
  EXPECT_EQ(ids_of(first), (std::vector<vertex_id>{ids[4], ids[1]}));
  EXPECT_LT(first[0].first, first[1].first);

  const auto second = store_->decided_after(vertex_state::final, first.back().first, 2);
  EXPECT_EQ(ids_of(second), (std::vector<vertex_id>{ids[3]}));
  EXPECT_TRUE(store_->decided_after(vertex_state::final, second.back().first, 2).empty());

  EXPECT_EQ(ids_of(store_->decided_after(vertex_state::rejected, 0, 10)),
            (std::vector<vertex_id>{ids[0]}));
  EXPECT_EQ(ids_of(store_->decided_after(vertex_state::undecided, 0, 10)),
            (std::vector<vertex_id>{ids[2], ids[5]}));
  EXPECT_TRUE(store_->decided_after(vertex_state::final, 0, 0).empty());
  EXPECT_TRUE(
      store_->decided_after(vertex_state::final, std::numeric_limits<std::uint64_t>::max(), 5)
          .empty());
}

TEST_P(StoreContract, UndecidedPagesUseInsertionPosition) {
  std::vector<vertex_id> ids;
  for (int n = 0; n < 5; ++n) {
    const auto v = make_vertex(n);
    ids.push_back(id_of(v));
    ASSERT_TRUE(store_->put(ids.back(), v, vertex_state::undecided).has_value());
  }
  const auto first = store_->decided_after(vertex_state::undecided, 0, 3);
  EXPECT_EQ(ids_of(first), (std::vector<vertex_id>{ids[0], ids[1], ids[2]}));
  const auto rest = store_->decided_after(vertex_state::undecided, first.back().first, 3);
  EXPECT_EQ(ids_of(rest), (std::vector<vertex_id>{ids[3], ids[4]}));
}

TEST_P(StoreContract, DecidedPositionSurvivesRepeatedState) {
  const auto a = make_vertex(1);
  const auto b = make_vertex(2);
  ASSERT_TRUE(store_->put(id_of(a), a, vertex_state::undecided).has_value());
  ASSERT_TRUE(store_->put(id_of(b), b, vertex_state::undecided).has_value());
  ASSERT_TRUE(store_->set_state(id_of(a), vertex_state::final).has_value());
  ASSERT_TRUE(store_->set_state(id_of(b), vertex_state::final).has_value());
  const auto before = store_->decided_after(vertex_state::final, 0, 10);

  ASSERT_TRUE(store_->set_state(id_of(a), vertex_state::final).has_value());
  EXPECT_EQ(store_->decided_after(vertex_state::final, 0, 10), before);
}

TEST_P(StoreContract, PutDecidedGetsPosition) {
  const auto a = make_vertex(1);
  const auto b = make_vertex(2);
  ASSERT_TRUE(store_->put(id_of(a), a, vertex_state::rejected).has_value());
  ASSERT_TRUE(store_->put(id_of(b), b, vertex_state::undecided).has_value());
  ASSERT_TRUE(store_->set_state(id_of(b), vertex_state::rejected).has_value());
  EXPECT_EQ(ids_of(store_->decided_after(vertex_state::rejected, 0, 10)),
            (std::vector<vertex_id>{id_of(a), id_of(b)}));
  EXPECT_EQ(store_->count(vertex_state::rejected), 2U);
}

TEST_P(StoreContract, WalksInInsertionOrder) {
  const auto root = make_vertex(5);
  const auto child = make_vertex(1, {id_of(root)});
  const auto grandchild = make_vertex(9, {id_of(child)});
  ASSERT_TRUE(store_->put(id_of(root), root, vertex_state::final).has_value());
  ASSERT_TRUE(store_->put(id_of(child), child, vertex_state::undecided).has_value());
  ASSERT_TRUE(store_->put(id_of(grandchild), grandchild, vertex_state::rejected).has_value());

  std::vector<std::pair<vertex_id, vertex_state>> walked;
  store_->for_each_inserted([&](const vertex_id& id, const vertex& v, vertex_state state) {
    EXPECT_EQ(id_of(v), id);
    walked.emplace_back(id, state);
    return true;
  });
  const std::vector<std::pair<vertex_id, vertex_state>> expected{
      {id_of(root), vertex_state::final},
      {id_of(child), vertex_state::undecided},
      {id_of(grandchild), vertex_state::rejected}};
  EXPECT_EQ(walked, expected);

  std::size_t visited = 0;
  store_->for_each_inserted([&](const vertex_id&, const vertex&, vertex_state) {
    ++visited;
    return false;
  });
  EXPECT_EQ(visited, 1U);
}

TEST_P(StoreContract, BatchCallsMustPair) {
  auto commit = store_->commit_batch();
  ASSERT_FALSE(commit.has_value());
  EXPECT_EQ(commit.err().code, errc::invalid_argument);

  ASSERT_TRUE(store_->begin_batch().has_value());
  auto again = store_->begin_batch();
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.err().code, errc::invalid_argument);
  ASSERT_TRUE(store_->commit_batch().has_value());
  ASSERT_TRUE(store_->begin_batch().has_value());
  ASSERT_TRUE(store_->commit_batch().has_value());
}

TEST_P(StoreContract, BatchReadsSeeItsWrites) {
  const auto v = make_vertex(1);
  ASSERT_TRUE(store_->begin_batch().has_value());
  ASSERT_TRUE(store_->put(id_of(v), v, vertex_state::undecided).has_value());
  ASSERT_TRUE(store_->set_state(id_of(v), vertex_state::final).has_value());
  EXPECT_EQ(store_->state(id_of(v)), vertex_state::final);
  EXPECT_EQ(store_->count(vertex_state::final), 1U);
  EXPECT_EQ(store_->decided_after(vertex_state::final, 0, 5).size(), 1U);
  ASSERT_TRUE(store_->commit_batch().has_value());
  EXPECT_EQ(store_->state(id_of(v)), vertex_state::final);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContract,
                         ::testing::Values(store_kind{"memory", false}, store_kind{"sqlite", true}),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

// --- SQLite durability and errors ----------------------------------------------

class SqliteStore : public ::testing::Test {
 protected:
  std::unique_ptr<sqlite_vertex_store> open_store() {
    auto opened = sqlite_vertex_store::open(file_);
    EXPECT_TRUE(opened.has_value()) << opened.err().message;
    return opened ? std::move(*opened) : nullptr;
  }

  // Runs `statement` on the file through a separate SQLite connection.
  void run_sql(const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
    char* message = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &message), SQLITE_OK)
        << (message != nullptr ? message : "");
    sqlite3_free(message);
    sqlite3_close(db);
  }

  mesh::testing::temp_dir dir_{"mesh-sqlite-store"};
  std::filesystem::path file_ = dir_.path() / "vertices.db";
};

TEST_F(SqliteStore, ReopenKeepsEverything) {
  const auto a = make_vertex(1);
  const auto b = make_vertex(2, {id_of(a)});
  const auto c = make_vertex(3, {id_of(b)});
  page final_page;
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->put(id_of(a), a, vertex_state::undecided).has_value());
    ASSERT_TRUE(store->put(id_of(b), b, vertex_state::undecided).has_value());
    ASSERT_TRUE(store->put(id_of(c), c, vertex_state::rejected).has_value());
    ASSERT_TRUE(store->set_state(id_of(b), vertex_state::final).has_value());
    ASSERT_TRUE(store->set_state(id_of(a), vertex_state::final).has_value());
    final_page = store->decided_after(vertex_state::final, 0, 10);
  }

  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->size(), 3U);
  EXPECT_EQ(store->count(vertex_state::final), 2U);
  EXPECT_EQ(store->count(vertex_state::rejected), 1U);
  EXPECT_EQ(store->count(vertex_state::undecided), 0U);
  EXPECT_EQ(store->decided_after(vertex_state::final, 0, 10), final_page);
  expect_same_vertex(*store->get(id_of(c)), c);

  // Positions keep growing after a reopen, so a client's cursor stays valid.
  const auto d = make_vertex(4);
  ASSERT_TRUE(store->put(id_of(d), d, vertex_state::undecided).has_value());
  ASSERT_TRUE(store->set_state(id_of(d), vertex_state::final).has_value());
  const auto next = store->decided_after(vertex_state::final, final_page.back().first, 10);
  EXPECT_EQ(ids_of(next), (std::vector<vertex_id>{id_of(d)}));
}

TEST_F(SqliteStore, CommittedBatchPersists) {
  std::vector<vertex_id> ids;
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->begin_batch().has_value());
    for (int n = 0; n < 20; ++n) {
      const auto v = make_vertex(n);
      ids.push_back(id_of(v));
      ASSERT_TRUE(store->put(ids.back(), v, vertex_state::undecided).has_value());
    }
    ASSERT_TRUE(store->set_state(ids[7], vertex_state::final).has_value());
    ASSERT_TRUE(store->commit_batch().has_value());
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->size(), 20U);
  EXPECT_EQ(store->state(ids[7]), vertex_state::final);
  EXPECT_EQ(store->count(vertex_state::undecided), 19U);
}

TEST_F(SqliteStore, UncommittedBatchIsRolledBack) {
  const auto kept = make_vertex(1);
  const auto lost = make_vertex(2);
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->put(id_of(kept), kept, vertex_state::undecided).has_value());
    ASSERT_TRUE(store->begin_batch().has_value());
    ASSERT_TRUE(store->put(id_of(lost), lost, vertex_state::undecided).has_value());
    ASSERT_TRUE(store->set_state(id_of(kept), vertex_state::final).has_value());
    // Destroyed without commit_batch().
  }
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->has(id_of(lost)));
  EXPECT_EQ(store->state(id_of(kept)), vertex_state::undecided);
  EXPECT_EQ(store->size(), 1U);
  EXPECT_EQ(store->count(vertex_state::final), 0U);
  EXPECT_TRUE(store->decided_after(vertex_state::final, 0, 10).empty());
}

// Runs `body` in a child process that exits without closing anything, as a
// crash would, and waits for it.
void run_and_exit_abruptly(const std::function<void()>& body) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    body();
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

TEST_F(SqliteStore, ProcessExitKeepsOnlyCommitted) {
  const auto committed = make_vertex(1);
  const auto single = make_vertex(2);
  const auto pending = make_vertex(3);
  run_and_exit_abruptly([&] {
    auto opened = sqlite_vertex_store::open(file_);
    if (!opened) {
      ::_exit(2);
    }
    auto& store = **opened;
    const bool ok = store.begin_batch().has_value() &&
                    store.put(id_of(committed), committed, vertex_state::undecided).has_value() &&
                    store.commit_batch().has_value() &&
                    store.put(id_of(single), single, vertex_state::rejected).has_value() &&
                    store.begin_batch().has_value() &&
                    store.put(id_of(pending), pending, vertex_state::undecided).has_value() &&
                    store.set_state(id_of(committed), vertex_state::final).has_value();
    ::_exit(ok ? 0 : 3);
  });

  auto store = open_store();
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->has(id_of(committed)));
  EXPECT_EQ(store->state(id_of(committed)), vertex_state::undecided);
  EXPECT_EQ(store->state(id_of(single)), vertex_state::rejected);
  EXPECT_FALSE(store->has(id_of(pending)));
  EXPECT_EQ(store->size(), 2U);
}

TEST_F(SqliteStore, UsesWalJournal) {
  { auto store = open_store(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* query = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &query, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(query), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(query, 0)), "wal");
  sqlite3_finalize(query);
  sqlite3_close(db);
}

TEST_F(SqliteStore, RejectsShortParentId) {
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  const auto v = make_vertex(1, {"short"});
  auto put = store->put("some-id", v, vertex_state::undecided);
  ASSERT_FALSE(put.has_value());
  EXPECT_EQ(put.err().code, errc::invalid_argument);
  EXPECT_NE(put.err().message.find("5 bytes"), std::string::npos) << put.err().message;
  EXPECT_EQ(store->size(), 0U);
}

TEST_F(SqliteStore, NonDatabaseFileIsIoError) {
  {
    std::ofstream out(file_, std::ios::binary);
    for (int i = 0; i < 256; ++i) {
      out << "this is not an SQLite database ";
    }
  }
  auto opened = sqlite_vertex_store::open(file_);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.err().code, errc::io_error);
  EXPECT_NE(opened.err().message.find(file_.string()), std::string::npos) << opened.err().message;
  EXPECT_NE(opened.err().message.find("not a database"), std::string::npos)
      << opened.err().message;
}

TEST_F(SqliteStore, MissingDirectoryIsIoError) {
  const auto nowhere = dir_.path() / "absent" / "vertices.db";
  auto opened = sqlite_vertex_store::open(nowhere);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.err().code, errc::io_error);
  EXPECT_NE(opened.err().message.find(nowhere.string()), std::string::npos)
      << opened.err().message;
}

TEST_F(SqliteStore, FutureSchemaVersionIsRejected) {
  { auto store = open_store(); }
  run_sql("UPDATE schema_version SET version = 7");

  auto opened = sqlite_vertex_store::open(file_);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.err().code, errc::unsupported_version);
  EXPECT_NE(opened.err().message.find("version 7"), std::string::npos) << opened.err().message;
  EXPECT_NE(opened.err().message.find("only version 1"), std::string::npos)
      << opened.err().message;
  EXPECT_NE(opened.err().message.find(file_.string()), std::string::npos) << opened.err().message;
}

TEST_F(SqliteStore, ForeignDatabaseIsRejected) {
  run_sql("CREATE TABLE accounts (name TEXT)");
  auto opened = sqlite_vertex_store::open(file_);
  ASSERT_FALSE(opened.has_value());
  EXPECT_EQ(opened.err().code, errc::decode_error);
  EXPECT_NE(opened.err().message.find("not a vertex store"), std::string::npos)
      << opened.err().message;
}

TEST_F(SqliteStore, DamagedRowIsReadError) {
  const auto v = make_vertex(1);
  {
    auto store = open_store();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->put(id_of(v), v, vertex_state::undecided).has_value());
  }
  run_sql("UPDATE vertices SET parents = x'0102'");
  auto store = open_store();
  ASSERT_NE(store, nullptr);
  auto got = store->get(id_of(v));
  ASSERT_FALSE(got.has_value());
  EXPECT_EQ(got.err().code, errc::io_error);
  EXPECT_NE(got.err().message.find("2 parent bytes"), std::string::npos) << got.err().message;
}

}  // namespace
}  // namespace mesh::dag
