#include "mesh/dag/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string_view>

#include "mesh/crypto/hash.hpp"

namespace mesh::dag {

namespace {

// Schema version 1. Invariants enforced by CHECK: state is 0 (undecided),
// 1 (final) or 2 (rejected), and decided_seq is set exactly when the state is
// final or rejected. insert_seq is the rowid, so it grows with every insert
// (rows are never deleted). Unsigned 64-bit fields are stored as the signed
// integer with the same bits.
constexpr const char* create_schema_sql = R"sql(
CREATE TABLE schema_version (
  version INTEGER NOT NULL
);
CREATE TABLE vertices (
  insert_seq   INTEGER PRIMARY KEY,
  id           BLOB    NOT NULL UNIQUE,
  parents      BLOB    NOT NULL,
  payload      BLOB    NOT NULL,
  content_type BLOB    NOT NULL,
  conflict_key BLOB    NOT NULL,
  author_id    BLOB    NOT NULL,
  author_key   BLOB    NOT NULL,
  sequence     INTEGER NOT NULL,
  timestamp_ms INTEGER NOT NULL,
  suite        INTEGER NOT NULL,
  signature    BLOB    NOT NULL,
  state        INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
  decided_seq  INTEGER CHECK ((state = 0) = (decided_seq IS NULL))
);
CREATE INDEX vertices_by_state ON vertices (state, decided_seq);
)sql";

// The columns that stored_row decodes, in this order.
#define MESH_VERTEX_COLUMNS                                                                  \
  "insert_seq, id, parents, payload, content_type, conflict_key, author_id, author_key, " \
  "sequence, timestamp_ms, suite, signature, state, decided_seq"

constexpr const char* insert_sql =
    "INSERT INTO vertices (id, parents, payload, content_type, conflict_key, author_id, "
    "author_key, sequence, timestamp_ms, suite, signature, state, decided_seq) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) "
    "ON CONFLICT (id) DO NOTHING";
constexpr const char* update_state_sql =
    "UPDATE vertices SET state = ?1, decided_seq = ?2 WHERE id = ?3";
constexpr const char* select_row_sql = "SELECT " MESH_VERTEX_COLUMNS " FROM vertices WHERE id = ?1";
constexpr const char* select_state_sql = "SELECT state FROM vertices WHERE id = ?1";
constexpr const char* select_decided_sql =
    "SELECT decided_seq, id FROM vertices WHERE state = ?1 AND decided_seq > ?2 "
    "ORDER BY decided_seq LIMIT ?3";
constexpr const char* select_undecided_sql =
    "SELECT insert_seq, id FROM vertices WHERE state = 0 AND insert_seq > ?1 "
    "ORDER BY insert_seq LIMIT ?2";
constexpr const char* select_by_state_sql =
    "SELECT " MESH_VERTEX_COLUMNS " FROM vertices WHERE state = ?1 ORDER BY insert_seq";
constexpr const char* select_all_sql =
    "SELECT " MESH_VERTEX_COLUMNS " FROM vertices ORDER BY insert_seq";

#undef MESH_VERTEX_COLUMNS

std::size_t state_index(vertex_state state) { return static_cast<std::size_t>(state); }

std::string column_bytes(sqlite3_stmt* query, int column) {
  const auto* data = static_cast<const char*>(sqlite3_column_blob(query, column));
  const auto size = sqlite3_column_bytes(query, column);
  if (data == nullptr || size <= 0) {
    return {};
  }
  return std::string(data, static_cast<std::size_t>(size));
}

std::uint64_t column_u64(sqlite3_stmt* query, int column) {
  return static_cast<std::uint64_t>(sqlite3_column_int64(query, column));
}

int bind_bytes(sqlite3_stmt* query, int index, std::string_view bytes) {
  // A null pointer would bind SQL NULL, so an empty value binds a zero-length blob.
  if (bytes.empty()) {
    return sqlite3_bind_zeroblob(query, index, 0);
  }
  return sqlite3_bind_blob(query, index, bytes.data(), static_cast<int>(bytes.size()),
                           SQLITE_STATIC);
}

int bind_u64(sqlite3_stmt* query, int index, std::uint64_t value) {
  return sqlite3_bind_int64(query, index, static_cast<sqlite3_int64>(value));
}

// Resets a kept statement and clears its bindings when the caller is done.
class statement_use {
 public:
  explicit statement_use(sqlite3_stmt* query) noexcept : query_(query) {}
  ~statement_use() {
    sqlite3_reset(query_);
    sqlite3_clear_bindings(query_);
  }
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;

 private:
  sqlite3_stmt* query_;
};

}  // namespace

// One row of the vertices table.
struct sqlite_vertex_store::stored_row {
  std::uint64_t insert_seq = 0;
  vertex_id id;
  vertex value;
  vertex_state state = vertex_state::undecided;
  std::uint64_t decided_seq = 0;
};

namespace {

// Decodes the row under `query`, which selects the columns in stored_row
// order. Returns an error message for a row that breaks the schema's rules.
std::optional<std::string> decode_row(sqlite3_stmt* query, auto& row) {
  row.insert_seq = column_u64(query, 0);
  row.id = column_bytes(query, 1);

  const auto parents = column_bytes(query, 2);
  if (parents.size() % vertex_id_size != 0) {
    return "row " + std::to_string(row.insert_seq) + " has " + std::to_string(parents.size()) +
           " parent bytes, not a multiple of 32";
  }
  row.value.parents.clear();
  for (std::size_t offset = 0; offset < parents.size(); offset += vertex_id_size) {
    row.value.parents.push_back(parents.substr(offset, vertex_id_size));
  }

  row.value.payload = column_bytes(query, 3);
  row.value.content_type = column_bytes(query, 4);
  row.value.conflict_key = column_bytes(query, 5);
  row.value.author_id = column_bytes(query, 6);
  row.value.author_key = column_bytes(query, 7);
  row.value.sequence = column_u64(query, 8);
  row.value.timestamp_ms = column_u64(query, 9);
  row.value.suite = static_cast<std::uint32_t>(sqlite3_column_int64(query, 10));
  row.value.signature = column_bytes(query, 11);

  const auto state = sqlite3_column_int64(query, 12);
  if (state < 0 || state > 2) {
    return "row " + std::to_string(row.insert_seq) + " has state " + std::to_string(state) +
           "; accepted are 0, 1 and 2";
  }
  row.state = static_cast<vertex_state>(state);
  row.decided_seq = column_u64(query, 13);
  return std::nullopt;
}

}  // namespace

void sqlite_vertex_store::statement_deleter::operator()(sqlite3_stmt* statement) const noexcept {
  sqlite3_finalize(statement);
}

sqlite_vertex_store::sqlite_vertex_store(std::filesystem::path file)
    : file_(std::move(file)), read_error_limiter_(5, std::chrono::seconds(10)) {}

sqlite_vertex_store::~sqlite_vertex_store() {
  if (batch_open_) {
    telemetry::logger("dag")->warn("vertex store closed with an open batch; rolling back file={}",
                                   file_.string());
    rollback_batch();
  }

  // Every statement must be finalized before the connection closes.
  insert_.reset();
  update_state_.reset();
  select_row_.reset();
  select_state_.reset();
  select_decided_.reset();
  select_undecided_.reset();
  begin_.reset();
  commit_.reset();
  rollback_.reset();

  if (db_ != nullptr && sqlite3_close(db_) != SQLITE_OK) {
    telemetry::logger("dag")->error("vertex store close failed file={} error={}", file_.string(),
                                    sqlite3_errmsg(db_));
  }
}

result<std::unique_ptr<sqlite_vertex_store>> sqlite_vertex_store::open(
    const std::filesystem::path& file, sync_mode mode) {
  std::unique_ptr<sqlite_vertex_store> store(new sqlite_vertex_store(file));

  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(file.c_str(), &store->db_, flags, nullptr) != SQLITE_OK) {
    return store->sqlite_error("open");
  }
  sqlite3_extended_result_codes(store->db_, 1);

  if (auto configured = store->configure(mode); !configured) {
    return configured.err();
  }
  if (auto schema = store->prepare_schema(); !schema) {
    return schema.err();
  }
  if (auto prepared = store->prepare_statements(); !prepared) {
    return prepared.err();
  }
  if (auto counted = store->load_counters(); !counted) {
    return counted.err();
  }

  telemetry::logger("dag")->info(
      "vertex store opened file={} vertices={} undecided={} final={} rejected={}", file.string(),
      store->size(), store->counts_[0], store->counts_[1], store->counts_[2]);
  return store;
}

std::filesystem::path sqlite_vertex_store::wal_file() const {
  auto wal = file_;
  wal += "-wal";
  return wal;
}

// WAL lets readers run during a write. synchronous=FULL syncs the log on
// every commit, so a committed transaction survives a power cut; NORMAL
// leaves that sync to the caller and syncs only at checkpoints.
result<void> sqlite_vertex_store::configure(sync_mode sync) {
  auto journal = prepare("PRAGMA journal_mode=WAL");
  if (!journal) {
    return journal.err();
  }
  if (sqlite3_step(journal->get()) != SQLITE_ROW) {
    return sqlite_error("PRAGMA journal_mode=WAL");
  }
  const auto mode = column_bytes(journal->get(), 0);
  if (mode != "wal") {
    return fail(errc::io_error, file_.string() + ": journal mode is '" + mode +
                                    "' after requesting WAL; put the file on a local file "
                                    "system that supports shared memory");
  }
  if (sync == sync_mode::by_caller) {
    return execute("PRAGMA synchronous=NORMAL", "PRAGMA synchronous=NORMAL");
  }
  return execute("PRAGMA synchronous=FULL", "PRAGMA synchronous=FULL");
}

result<void> sqlite_vertex_store::prepare_schema() {
  if (auto begun = execute("BEGIN IMMEDIATE", "begin schema transaction"); !begun) {
    return begun;
  }
  auto check = [&]() -> result<void> {
    auto tables = prepare("SELECT name FROM sqlite_schema WHERE type = 'table'");
    if (!tables) {
      return tables.err();
    }
    bool has_version = false;
    std::size_t table_count = 0;
    int step = SQLITE_ROW;
    while ((step = sqlite3_step(tables->get())) == SQLITE_ROW) {
      ++table_count;
      has_version = has_version || column_bytes(tables->get(), 0) == "schema_version";
    }
    if (step != SQLITE_DONE) {
      return sqlite_error("list tables");
    }

    if (table_count == 0) {
      if (auto created = execute(create_schema_sql, "create schema"); !created) {
        return created;
      }
      const auto insert_version =
          "INSERT INTO schema_version (version) VALUES (" +
          std::to_string(sqlite_store_schema_version) + ")";
      return execute(insert_version.c_str(), "write schema version");
    }
    if (!has_version) {
      return fail(errc::decode_error,
                  file_.string() + " is an SQLite database but not a vertex store: it has " +
                      std::to_string(table_count) + " tables and no schema_version table");
    }

    auto version = prepare("SELECT version FROM schema_version");
    if (!version) {
      return version.err();
    }
    if (sqlite3_step(version->get()) != SQLITE_ROW) {
      return fail(errc::decode_error,
                  file_.string() + ": the schema_version table is empty; the file is damaged");
    }
    const auto found = sqlite3_column_int64(version->get(), 0);
    if (found != sqlite_store_schema_version) {
      return fail(errc::unsupported_version,
                  file_.string() + " has vertex store schema version " + std::to_string(found) +
                      "; this build reads only version " +
                      std::to_string(sqlite_store_schema_version) +
                      ". Open it with the build that wrote it, or use another data directory");
    }
    return {};
  };

  auto checked = check();
  if (!checked) {
    (void)execute("ROLLBACK", "roll back schema transaction");
    return checked;
  }
  return execute("COMMIT", "commit schema transaction");
}

result<void> sqlite_vertex_store::prepare_statements() {
  const std::pair<statement*, const char*> kept[] = {
      {&insert_, insert_sql},
      {&update_state_, update_state_sql},
      {&select_row_, select_row_sql},
      {&select_state_, select_state_sql},
      {&select_decided_, select_decided_sql},
      {&select_undecided_, select_undecided_sql},
      {&begin_, "BEGIN IMMEDIATE"},
      {&commit_, "COMMIT"},
      {&rollback_, "ROLLBACK"},
  };
  for (const auto& [target, sql] : kept) {
    auto prepared = prepare(sql);
    if (!prepared) {
      return prepared.err();
    }
    *target = std::move(*prepared);
  }
  return {};
}

result<void> sqlite_vertex_store::load_counters() {
  auto counts = prepare("SELECT state, COUNT(*) FROM vertices GROUP BY state");
  if (!counts) {
    return counts.err();
  }
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(counts->get())) == SQLITE_ROW) {
    const auto state = sqlite3_column_int64(counts->get(), 0);
    if (state >= 0 && state <= 2) {
      counts_[static_cast<std::size_t>(state)] =
          static_cast<std::size_t>(sqlite3_column_int64(counts->get(), 1));
    }
  }
  if (step != SQLITE_DONE) {
    return sqlite_error("count vertices");
  }

  auto last = prepare("SELECT COALESCE(MAX(decided_seq), 0) FROM vertices");
  if (!last) {
    return last.err();
  }
  if (sqlite3_step(last->get()) != SQLITE_ROW) {
    return sqlite_error("read last decided_seq");
  }
  last_decided_position_ = column_u64(last->get(), 0);
  return {};
}

result<sqlite_vertex_store::statement> sqlite_vertex_store::prepare(const char* sql) const {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    return sqlite_error(sql);
  }
  return statement(raw);
}

result<void> sqlite_vertex_store::execute(const char* sql, const char* operation) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return fail(errc::io_error, file_.string() + ": " + operation + " failed: " + text);
  }
  return {};
}

error sqlite_vertex_store::sqlite_error(const char* operation) const {
  std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
  const int code = db_ != nullptr ? sqlite3_extended_errcode(db_) : SQLITE_NOMEM;
  return fail(errc::io_error, file_.string() + ": " + operation + " failed: " + message +
                                  " (SQLite code " + std::to_string(code) + ")");
}

void sqlite_vertex_store::log_read_error(const error& failure) const {
  std::uint64_t suppressed = 0;
  if (read_error_limiter_.allow(suppressed)) {
    telemetry::logger("dag")->error("vertex store read failed error={} suppressed={}",
                                    failure.message, suppressed);
  }
}

// --- writes ----------------------------------------------------------------

result<void> sqlite_vertex_store::put(const vertex_id& id, const vertex& v, vertex_state state) {
  std::string parents;
  parents.reserve(v.parents.size() * vertex_id_size);
  for (const auto& parent : v.parents) {
    if (parent.size() != vertex_id_size) {
      return fail(errc::invalid_argument, "vertex " + crypto::to_hex(id) + " has a parent id of " +
                                              std::to_string(parent.size()) +
                                              " bytes; the store accepts 32-byte ids only");
    }
    parents.append(parent);
  }

  const bool decided = state != vertex_state::undecided;
  const auto decided_seq = last_decided_position_ + 1;

  auto* query = insert_.get();
  statement_use use(query);
  int bound = SQLITE_OK;
  bound |= bind_bytes(query, 1, id);
  bound |= bind_bytes(query, 2, parents);
  bound |= bind_bytes(query, 3, v.payload);
  bound |= bind_bytes(query, 4, v.content_type);
  bound |= bind_bytes(query, 5, v.conflict_key);
  bound |= bind_bytes(query, 6, v.author_id);
  bound |= bind_bytes(query, 7, v.author_key);
  bound |= bind_u64(query, 8, v.sequence);
  bound |= bind_u64(query, 9, v.timestamp_ms);
  bound |= sqlite3_bind_int64(query, 10, v.suite);
  bound |= bind_bytes(query, 11, v.signature);
  bound |= sqlite3_bind_int(query, 12, static_cast<int>(state));
  bound |= decided ? bind_u64(query, 13, decided_seq) : sqlite3_bind_null(query, 13);
  if (bound != SQLITE_OK) {
    return sqlite_error("bind vertex");
  }

  if (sqlite3_step(query) != SQLITE_DONE) {
    return sqlite_error("insert vertex");
  }
  if (sqlite3_changes(db_) == 0) {
    return {};
  }

  ++counts_[state_index(state)];
  if (decided) {
    last_decided_position_ = decided_seq;
  }
  return {};
}

result<void> sqlite_vertex_store::set_state(const vertex_id& id, vertex_state state) {
  auto current = find_row(id);
  if (!current) {
    return current.err();
  }
  if (!current->has_value()) {
    return fail(errc::not_found, "vertex " + crypto::to_hex(id) + " is not stored in " +
                                     file_.string());
  }
  const auto previous = (*current)->state;
  if (previous == state) {
    return {};
  }

  const bool decided = state != vertex_state::undecided;
  const auto decided_seq = last_decided_position_ + 1;

  auto* query = update_state_.get();
  statement_use use(query);
  int bound = sqlite3_bind_int(query, 1, static_cast<int>(state));
  bound |= decided ? bind_u64(query, 2, decided_seq) : sqlite3_bind_null(query, 2);
  bound |= bind_bytes(query, 3, id);
  if (bound != SQLITE_OK) {
    return sqlite_error("bind state");
  }
  if (sqlite3_step(query) != SQLITE_DONE) {
    return sqlite_error("update vertex state");
  }

  --counts_[state_index(previous)];
  ++counts_[state_index(state)];
  if (decided) {
    last_decided_position_ = decided_seq;
  }
  return {};
}

// --- batches ---------------------------------------------------------------

result<void> sqlite_vertex_store::begin_batch() {
  if (batch_open_) {
    return fail(errc::invalid_argument, "begin_batch: a batch is already open on " +
                                            file_.string() + "; commit it first");
  }
  statement_use use(begin_.get());
  if (sqlite3_step(begin_.get()) != SQLITE_DONE) {
    return sqlite_error("begin batch");
  }
  batch_counts_ = counts_;
  batch_last_decided_position_ = last_decided_position_;
  batch_open_ = true;
  return {};
}

result<void> sqlite_vertex_store::commit_batch() {
  if (!batch_open_) {
    return fail(errc::invalid_argument, "commit_batch: no batch is open on " + file_.string() +
                                            "; call begin_batch first");
  }
  int step = SQLITE_DONE;
  {
    statement_use use(commit_.get());
    step = sqlite3_step(commit_.get());
  }
  if (step != SQLITE_DONE) {
    auto failure = sqlite_error("commit batch");
    rollback_batch();
    return failure;
  }
  batch_open_ = false;
  return {};
}

void sqlite_vertex_store::rollback_batch() noexcept {
  // A failed COMMIT may leave the transaction open; SQLite may also have
  // rolled it back already, in which case the connection is in autocommit.
  if (sqlite3_get_autocommit(db_) == 0) {
    statement_use use(rollback_.get());
    if (sqlite3_step(rollback_.get()) != SQLITE_DONE) {
      telemetry::logger("dag")->error("vertex store rollback failed file={} error={}",
                                      file_.string(), sqlite3_errmsg(db_));
    }
  }
  counts_ = batch_counts_;
  last_decided_position_ = batch_last_decided_position_;
  batch_open_ = false;
}

// --- reads -----------------------------------------------------------------

result<std::optional<sqlite_vertex_store::stored_row>> sqlite_vertex_store::find_row(
    const vertex_id& id) const {
  auto* query = select_row_.get();
  statement_use use(query);
  if (bind_bytes(query, 1, id) != SQLITE_OK) {
    return sqlite_error("bind vertex id");
  }
  const int step = sqlite3_step(query);
  if (step == SQLITE_DONE) {
    return std::optional<stored_row>{};
  }
  if (step != SQLITE_ROW) {
    return sqlite_error("read vertex");
  }
  stored_row row;
  if (auto damaged = decode_row(query, row)) {
    return fail(errc::io_error, file_.string() + ": " + *damaged);
  }
  return std::optional<stored_row>{std::move(row)};
}

result<vertex> sqlite_vertex_store::get(const vertex_id& id) const {
  auto row = find_row(id);
  if (!row) {
    return row.err();
  }
  if (!row->has_value()) {
    return fail(errc::not_found, "vertex " + crypto::to_hex(id) + " is not stored in " +
                                     file_.string());
  }
  return std::move((*row)->value);
}

bool sqlite_vertex_store::has(const vertex_id& id) const { return state(id).has_value(); }

std::optional<vertex_state> sqlite_vertex_store::state(const vertex_id& id) const {
  auto* query = select_state_.get();
  statement_use use(query);
  if (bind_bytes(query, 1, id) != SQLITE_OK) {
    log_read_error(sqlite_error("bind vertex id"));
    return std::nullopt;
  }
  const int step = sqlite3_step(query);
  if (step == SQLITE_DONE) {
    return std::nullopt;
  }
  if (step != SQLITE_ROW) {
    log_read_error(sqlite_error("read vertex state"));
    return std::nullopt;
  }
  const auto value = sqlite3_column_int64(query, 0);
  if (value < 0 || value > 2) {
    log_read_error(fail(errc::io_error, file_.string() + ": vertex " + crypto::to_hex(id) +
                                            " has state " + std::to_string(value)));
    return std::nullopt;
  }
  return static_cast<vertex_state>(value);
}

result<void> sqlite_vertex_store::walk(sqlite3_stmt* query, const char* operation,
                                       const std::function<bool(const stored_row&)>& visit) const {
  stored_row row;
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(query)) == SQLITE_ROW) {
    if (auto damaged = decode_row(query, row)) {
      return fail(errc::io_error, file_.string() + ": " + *damaged);
    }
    if (!visit(row)) {
      return {};
    }
  }
  if (step != SQLITE_DONE) {
    return sqlite_error(operation);
  }
  return {};
}

void sqlite_vertex_store::for_each(
    vertex_state state, const std::function<bool(const vertex_id&, const vertex&)>& visit) const {
  auto query = prepare(select_by_state_sql);
  if (!query) {
    log_read_error(query.err());
    return;
  }
  if (sqlite3_bind_int(query->get(), 1, static_cast<int>(state)) != SQLITE_OK) {
    log_read_error(sqlite_error("bind state"));
    return;
  }
  auto walked = walk(query->get(), "scan vertices by state",
                     [&](const stored_row& row) { return visit(row.id, row.value); });
  if (!walked) {
    log_read_error(walked.err());
  }
}

void sqlite_vertex_store::for_each_inserted(
    const std::function<bool(const vertex_id&, const vertex&, vertex_state)>& visit) const {
  auto query = prepare(select_all_sql);
  if (!query) {
    log_read_error(query.err());
    return;
  }
  auto walked = walk(query->get(), "scan vertices in insertion order",
                     [&](const stored_row& row) { return visit(row.id, row.value, row.state); });
  if (!walked) {
    log_read_error(walked.err());
  }
}

std::vector<std::pair<std::uint64_t, vertex_id>> sqlite_vertex_store::decided_after(
    vertex_state state, std::uint64_t after, std::size_t limit) const {
  std::vector<std::pair<std::uint64_t, vertex_id>> page;
  if (limit == 0) {
    return page;
  }
  // SQLite compares signed integers, so a cursor beyond INT64_MAX would wrap;
  // no position gets that large, and such a cursor has no page after it.
  if (after > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return page;
  }
  const auto capped_limit = static_cast<sqlite3_int64>(
      std::min<std::uint64_t>(limit, std::numeric_limits<std::int64_t>::max()));

  const bool undecided = state == vertex_state::undecided;
  auto* query = undecided ? select_undecided_.get() : select_decided_.get();
  statement_use use(query);
  int bound = SQLITE_OK;
  if (undecided) {
    bound |= bind_u64(query, 1, after);
    bound |= sqlite3_bind_int64(query, 2, capped_limit);
  } else {
    bound |= sqlite3_bind_int(query, 1, static_cast<int>(state));
    bound |= bind_u64(query, 2, after);
    bound |= sqlite3_bind_int64(query, 3, capped_limit);
  }
  if (bound != SQLITE_OK) {
    log_read_error(sqlite_error("bind page query"));
    return page;
  }

  int step = SQLITE_ROW;
  while ((step = sqlite3_step(query)) == SQLITE_ROW) {
    page.emplace_back(column_u64(query, 0), column_bytes(query, 1));
  }
  if (step != SQLITE_DONE) {
    log_read_error(sqlite_error("read page"));
    page.clear();
  }
  return page;
}

std::size_t sqlite_vertex_store::count(vertex_state state) const {
  return counts_[state_index(state)];
}

std::size_t sqlite_vertex_store::size() const { return counts_[0] + counts_[1] + counts_[2]; }

}  // namespace mesh::dag
