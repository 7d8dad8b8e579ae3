#pragma once
// The durable vertex store: one SQLite database file in WAL mode. With
// sync_mode::on_commit (synchronous=FULL) a write or a batch is on disk when
// it returns; with sync_mode::by_caller (synchronous=NORMAL) a commit reaches
// the operating system, which keeps it across a crash of the process, and the
// caller makes it durable with an fdatasync of wal_file() (see file_syncer).
// A crash rolls back anything that was not committed. docs/qudag.md ("Storage")
// lists the tables and columns.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mesh/dag/store.hpp"
#include "mesh/dag/vertex.hpp"
#include "mesh/error.hpp"
#include "mesh/telemetry/logging.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace mesh::dag {

// The schema version this build writes and reads. open() rejects a file with
// any other version instead of guessing at its layout.
inline constexpr std::int64_t sqlite_store_schema_version = 1;

// Vertex store in one SQLite file. Not thread-safe: one owner calls every
// method (the SQLite connection is opened without its own mutex). Owns the
// connection and its prepared statements; the destructor rolls back a batch
// that was not committed and closes the file.
//
// Every write runs in a transaction. Outside a batch each put() or
// set_state() is one statement, which SQLite commits atomically on its own.
// Inside a batch all writes share one transaction. A vertex's parents must
// be 32-byte ids, because they are stored concatenated.
enum class sync_mode : std::uint8_t {
  on_commit,  // every commit waits for fsync
  by_caller,  // commits return at once; the caller syncs wal_file()
};

class sqlite_vertex_store final : public vertex_store {
 public:
  // Opens `file`, creating it and the schema when it does not exist (the
  // directory must exist). Fails with io_error naming the file and the SQLite
  // message when SQLite cannot open it, the file is not a database or WAL mode
  // is unavailable, and with unsupported_version when the file contains another
  // schema version.
  [[nodiscard]] static result<std::unique_ptr<sqlite_vertex_store>> open(
      const std::filesystem::path& file, sync_mode mode = sync_mode::on_commit);

  // The write-ahead log that commits append to: `file` with "-wal" appended.
  [[nodiscard]] std::filesystem::path wal_file() const;

  ~sqlite_vertex_store() override;
  sqlite_vertex_store(const sqlite_vertex_store&) = delete;
  sqlite_vertex_store& operator=(const sqlite_vertex_store&) = delete;

  // Fails with invalid_argument for a parent id that is not 32 bytes.
  [[nodiscard]] result<void> put(const vertex_id& id, const vertex& v, vertex_state state) override;
  [[nodiscard]] result<void> set_state(const vertex_id& id, vertex_state state) override;

  // Fails with io_error when the row cannot be read or decoded.
  [[nodiscard]] result<vertex> get(const vertex_id& id) const override;

  // The read methods below cannot return an error. They log it, rate-limited,
  // and report an unknown vertex or an empty result.
  [[nodiscard]] bool has(const vertex_id& id) const override;
  [[nodiscard]] std::optional<vertex_state> state(const vertex_id& id) const override;
  void for_each(vertex_state state,
                const std::function<bool(const vertex_id&, const vertex&)>& visit) const override;
  void for_each_inserted(
      const std::function<bool(const vertex_id&, const vertex&, vertex_state)>& visit)
      const override;
  [[nodiscard]] std::vector<std::pair<std::uint64_t, vertex_id>> decided_after(
      vertex_state state, std::uint64_t after, std::size_t limit) const override;

  // Served from counters kept next to the database, without a query.
  [[nodiscard]] std::size_t count(vertex_state state) const override;
  [[nodiscard]] std::size_t size() const override;

  [[nodiscard]] result<void> begin_batch() override;
  [[nodiscard]] result<void> commit_batch() override;

  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }

 private:
  struct statement_deleter {
    void operator()(sqlite3_stmt* statement) const noexcept;
  };
  using statement = std::unique_ptr<sqlite3_stmt, statement_deleter>;

  struct stored_row;

  explicit sqlite_vertex_store(std::filesystem::path file);

  [[nodiscard]] result<void> configure(sync_mode sync);
  [[nodiscard]] result<void> prepare_schema();
  [[nodiscard]] result<void> prepare_statements();
  [[nodiscard]] result<void> load_counters();
  [[nodiscard]] result<statement> prepare(const char* sql) const;
  [[nodiscard]] result<void> execute(const char* sql, const char* operation);
  [[nodiscard]] result<std::optional<stored_row>> find_row(const vertex_id& id) const;
  [[nodiscard]] result<void> walk(sqlite3_stmt* query, const char* operation,
                                  const std::function<bool(const stored_row&)>& visit) const;
  void rollback_batch() noexcept;

  // Returns io_error "<file>: <operation> failed: <SQLite message>".
  [[nodiscard]] error sqlite_error(const char* operation) const;
  void log_read_error(const error& failure) const;

  std::filesystem::path file_;
  sqlite3* db_ = nullptr;

  // Kept prepared for the life of the connection. Scans that call back into
  // the store (for_each, for_each_inserted) prepare their own statement.
  statement insert_;
  statement update_state_;
  statement select_row_;
  statement select_state_;
  statement select_decided_;
  statement select_undecided_;
  statement begin_;
  statement commit_;
  statement rollback_;

  // Counters mirrored from the rows this connection reads: rows per state and
  // the last decision position. A batch saves them at begin and restores them
  // when its commit fails and the batch is rolled back.
  std::array<std::size_t, 3> counts_{};
  std::uint64_t last_decided_position_ = 0;
  std::array<std::size_t, 3> batch_counts_{};
  std::uint64_t batch_last_decided_position_ = 0;
  bool batch_open_ = false;

  mutable telemetry::rate_limiter read_error_limiter_;
};

}  // namespace mesh::dag
