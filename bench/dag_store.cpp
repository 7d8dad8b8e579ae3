// Vertex store benchmarks: durable inserts per second into a fresh SQLite
// file under /tmp, with B = 1, 16 and 128 vertices per transaction.
//   BM_store_put/B    sqlite_vertex_store::put() of signed vertices (256-byte
//                     payload, 3 parents), B puts between begin_batch() and
//                     commit_batch().
//   BM_bare_insert/B  the peer: a bare SQLite loop with the same open flags
//                     and pragmas (no connection mutex, journal_mode=WAL,
//                     synchronous=FULL), the same table and index (created by
//                     the store, then closed), one prepared INSERT and
//                     BEGIN IMMEDIATE / COMMIT around each B rows.
// Both variants insert the same vertices in the same order. Each run inserts
// a fixed number of vertices and stops with an error after 120 s. After the
// Google Benchmark table, main() prints per batch size the median rows per
// second of both, their ratio store/bare, and the CPU microseconds per row
// (the cost without the wait for the disk sync). The temporary folder under
// /tmp is removed at exit.
// On a shared machine, compare interleaved repetitions:
//   bench_dag_store --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true

#include <benchmark/benchmark.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "mesh/crypto/identity.hpp"
#include "mesh/dag/sqlite_store.hpp"
#include "mesh/dag/vertex.hpp"
#include "mesh/telemetry/logging.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t payload_bytes = 256;
constexpr std::size_t parents_per_vertex = 3;
constexpr auto run_deadline = std::chrono::seconds(120);

// Batches per run for each batch size, so every run is bounded in count and
// the single-row runs, which wait for one sync per row, stay short.
std::int64_t batches_for(std::int64_t batch_size) {
  if (batch_size <= 1) {
    return 200;
  }
  if (batch_size <= 16) {
    return 100;
  }
  return 40;
}

constexpr std::int64_t max_vertices = 40 * 128;

struct signed_vertex {
  mesh::dag::vertex_id id;
  mesh::dag::vertex value;
};

// The same signed vertices for every run: vertex i names vertices i-1, i-2
// and i-3 as parents, like a chain of tips.
const std::vector<signed_vertex>& vertices() {
  static const std::vector<signed_vertex> pool = [] {
    auto author = mesh::crypto::identity::generate();
    if (!author) {
      throw std::runtime_error("identity generation failed: " + author.err().message);
    }
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int> byte(0, 255);
    std::vector<signed_vertex> out;
    out.reserve(max_vertices);
    for (std::int64_t i = 0; i < max_vertices; ++i) {
      mesh::dag::vertex_draft draft;
      for (std::size_t back = 1; back <= parents_per_vertex && back <= out.size(); ++back) {
        draft.parents.push_back(out[out.size() - back].id);
      }
      draft.payload.resize(payload_bytes);
      for (auto& c : draft.payload) {
        c = static_cast<char>(byte(rng));
      }
      draft.content_type = "application/octet-stream";
      draft.sequence = static_cast<std::uint64_t>(i);
      draft.timestamp_ms = 1'700'000'000'000ULL + static_cast<std::uint64_t>(i);
      auto v = mesh::dag::sign_vertex(std::move(draft), *author);
      if (!v) {
        throw std::runtime_error("signing failed: " + v.err().message);
      }
      const auto id = mesh::dag::compute_id(*v);
      out.push_back(signed_vertex{id, std::move(*v)});
    }
    return out;
  }();
  return pool;
}

std::filesystem::path& bench_dir() {
  static std::filesystem::path dir;
  return dir;
}

// A database file that no earlier run used, with its WAL and shared-memory
// files removed by the destructor.
class fresh_file {
 public:
  fresh_file() {
    static int counter = 0;
    path_ = bench_dir() / ("run-" + std::to_string(++counter) + ".db");
  }
  ~fresh_file() {
    std::error_code ignored;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix, ignored);
    }
  }
  fresh_file(const fresh_file&) = delete;
  fresh_file& operator=(const fresh_file&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void BM_store_put(benchmark::State& state) {
  const auto batch_size = state.range(0);
  const auto& pool = vertices();
  fresh_file file;
  auto opened = mesh::dag::sqlite_vertex_store::open(file.path());
  if (!opened) {
    state.SkipWithError(opened.err().message.c_str());
    return;
  }
  auto& store = **opened;

  std::size_t next = 0;
  const auto deadline = clock_type::now() + run_deadline;
  for (auto _ : state) {
    if (!store.begin_batch()) {
      state.SkipWithError("begin_batch failed");
      break;
    }
    for (std::int64_t i = 0; i < batch_size; ++i) {
      const auto& v = pool[next++];
      if (!store.put(v.id, v.value, mesh::dag::vertex_state::undecided)) {
        state.SkipWithError("put failed");
        break;
      }
    }
    if (!store.commit_batch()) {
      state.SkipWithError("commit_batch failed");
      break;
    }
    if (clock_type::now() > deadline) {
      state.SkipWithError("run exceeded 120 s");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch_size);
}

// Binds and inserts one vertex with the same columns as the store.
bool bare_insert(sqlite3_stmt* insert, const signed_vertex& v) {
  std::string parents;
  for (const auto& parent : v.value.parents) {
    parents.append(parent);
  }
  auto blob = [&](int index, const std::string& bytes) {
    return bytes.empty() ? sqlite3_bind_zeroblob(insert, index, 0)
                         : sqlite3_bind_blob(insert, index, bytes.data(),
                                             static_cast<int>(bytes.size()), SQLITE_STATIC);
  };
  int bound = blob(1, v.id);
  bound |= blob(2, parents);
  bound |= blob(3, v.value.payload);
  bound |= blob(4, v.value.content_type);
  bound |= blob(5, v.value.conflict_key);
  bound |= blob(6, v.value.author_id);
  bound |= blob(7, v.value.author_key);
  bound |= sqlite3_bind_int64(insert, 8, static_cast<sqlite3_int64>(v.value.sequence));
  bound |= sqlite3_bind_int64(insert, 9, static_cast<sqlite3_int64>(v.value.timestamp_ms));
  bound |= sqlite3_bind_int64(insert, 10, v.value.suite);
  bound |= blob(11, v.value.signature);
  bound |= sqlite3_bind_int(insert, 12, 0);
  bound |= sqlite3_bind_null(insert, 13);
  const bool ok = bound == SQLITE_OK && sqlite3_step(insert) == SQLITE_DONE;
  sqlite3_reset(insert);
  return ok;
}

void BM_bare_insert(benchmark::State& state) {
  const auto batch_size = state.range(0);
  const auto& pool = vertices();
  fresh_file file;
  {
    // The store creates the schema, so both variants write the same table.
    auto created = mesh::dag::sqlite_vertex_store::open(file.path());
    if (!created) {
      state.SkipWithError(created.err().message.c_str());
      return;
    }
  }

  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  const bool ready =
      sqlite3_open_v2(file.path().c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                      nullptr) == SQLITE_OK &&
      sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) == SQLITE_OK &&
      sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db,
                         "INSERT INTO vertices (id, parents, payload, content_type, conflict_key, "
                         "author_id, author_key, sequence, timestamp_ms, suite, signature, state, "
                         "decided_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
                         "?13)",
                         -1, &insert, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, nullptr) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr) == SQLITE_OK;

  if (!ready) {
    state.SkipWithError(sqlite3_errmsg(db));
  } else {
    std::size_t next = 0;
    const auto deadline = clock_type::now() + run_deadline;
    for (auto _ : state) {
      const bool begun = sqlite3_step(begin) == SQLITE_DONE;
      sqlite3_reset(begin);
      if (!begun) {
        state.SkipWithError(sqlite3_errmsg(db));
        break;
      }
      bool inserted = true;
      for (std::int64_t i = 0; i < batch_size && inserted; ++i) {
        inserted = bare_insert(insert, pool[next++]);
      }
      const bool committed = inserted && sqlite3_step(commit) == SQLITE_DONE;
      sqlite3_reset(commit);
      if (!committed) {
        state.SkipWithError(sqlite3_errmsg(db));
        break;
      }
      if (clock_type::now() > deadline) {
        state.SkipWithError("run exceeded 120 s");
        break;
      }
    }
    state.SetItemsProcessed(state.iterations() * batch_size);
  }

  sqlite3_finalize(insert);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
}

// Registers each batch size with its own fixed iteration count.
void register_benchmarks() {
  for (std::int64_t batch_size : {1, 16, 128}) {
    benchmark::RegisterBenchmark("BM_store_put", BM_store_put)
        ->Arg(batch_size)
        ->Iterations(batches_for(batch_size))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("BM_bare_insert", BM_bare_insert)
        ->Arg(batch_size)
        ->Iterations(batches_for(batch_size))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

// Passes every run to the console and keeps items/s per variant and batch size.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  explicit ratio_reporter(bool color)
      : benchmark::ConsoleReporter(color ? OO_Defaults : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& run : runs) {
      // With --benchmark_report_aggregates_only only the aggregates arrive;
      // the median aggregate then stands for the repetitions.
      const bool usable = run.run_type == Run::RT_Iteration ||
                          (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median");
      if (!usable || run.error_occurred) {
        continue;
      }
      auto rate = run.counters.find("items_per_second");
      if (rate == run.counters.end()) {
        continue;
      }
      auto& by_kind = run.run_type == Run::RT_Iteration ? iterations_ : median_aggregates_;
      auto& sample = by_kind[run.run_name.function_name][run.run_name.args];
      sample.rows_per_second.push_back(rate->second.value);
      // CPU time per row shows the cost of the code around SQLite without
      // the wait for the disk sync, which dominates the rate on a busy disk.
      const double rows = rate->second.value * run.GetAdjustedRealTime() /
                          benchmark::GetTimeUnitMultiplier(run.time_unit);
      if (rows > 0) {
        sample.cpu_us_per_row.push_back(run.GetAdjustedCPUTime() /
                                        benchmark::GetTimeUnitMultiplier(run.time_unit) * 1e6 /
                                        rows);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void print_ratios() const {
    std::printf("\nstore/bare, median over repetitions (rate: durable rows per second)\n");
    std::printf("%-6s %12s %12s %7s %14s %14s\n", "batch", "store rows/s", "bare rows/s",
                "ratio", "store cpu us", "bare cpu us");
    for (const auto* args : {"1", "16", "128"}) {
      const auto store = find("BM_store_put", args);
      const auto bare = find("BM_bare_insert", args);
      if (store == nullptr || bare == nullptr) {
        std::printf("%-6s %12s %12s %7s %14s %14s\n", args, "-", "-", "-", "-", "-");
        continue;
      }
      const auto store_rate = median(store->rows_per_second);
      const auto bare_rate = median(bare->rows_per_second);
      std::printf("%-6s %12.0f %12.0f %7.2f %14.1f %14.1f\n", args, store_rate, bare_rate,
                  store_rate / bare_rate, median(store->cpu_us_per_row),
                  median(bare->cpu_us_per_row));
    }
  }

 private:
  struct samples {
    std::vector<double> rows_per_second;
    std::vector<double> cpu_us_per_row;
  };

  using sample_map = std::map<std::string, std::map<std::string, samples>>;

  // Prefers the single repetitions and falls back to the median aggregate.
  [[nodiscard]] const samples* find(const std::string& name, const std::string& args) const {
    if (const auto* found = find_in(iterations_, name, args)) {
      return found;
    }
    return find_in(median_aggregates_, name, args);
  }

  [[nodiscard]] static const samples* find_in(const sample_map& map, const std::string& name,
                                              const std::string& args) {
    auto by_name = map.find(name);
    if (by_name == map.end()) {
      return nullptr;
    }
    auto by_args = by_name->second.find(args);
    if (by_args == by_name->second.end() || by_args->second.rows_per_second.empty()) {
      return nullptr;
    }
    return &by_args->second;
  }

  [[nodiscard]] static double median(std::vector<double> values) {
    if (values.empty()) {
      return 0;
    }
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
  }

  sample_map iterations_;
  sample_map median_aggregates_;
};

}  // namespace

int main(int argc, char** argv) {
  mesh::telemetry::logger("dag")->set_level(spdlog::level::warn);

  std::string pattern = "/tmp/mesh-bench-store-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("mkdtemp /tmp/mesh-bench-store-XXXXXX");
    return 1;
  }
  bench_dir() = pattern;

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
    std::filesystem::remove_all(bench_dir());
    return 1;
  }
  register_benchmarks();

  // Sign the vertices before any run, so a failure stops here with a message.
  try {
    (void)vertices();
  } catch (const std::runtime_error& failure) {
    std::fprintf(stderr, "%s\n", failure.what());
    std::filesystem::remove_all(bench_dir());
    return 1;
  }

  ratio_reporter reporter(::isatty(STDOUT_FILENO) == 1);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();

  std::error_code ignored;
  std::filesystem::remove_all(bench_dir(), ignored);
  return 0;
}
