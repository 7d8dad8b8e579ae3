// Unit tests for metric families, the process collector, the Prometheus text
// output (checked with promtool when it is installed) and JSON log lines.

#include <gtest/gtest.h>
#include <fcntl.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "mesh/config/version.hpp"
#include "mesh/telemetry/logging.hpp"
#include "mesh/telemetry/metrics.hpp"
#include "mesh/telemetry/process_metrics.hpp"

namespace {

using namespace std::chrono_literals;

// Returns the value of the sample line that starts with `series` followed by
// a space, for example `mesh_actor_messages_total{actor_type="wire"}`.
std::optional<double> sample_value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(series + " ")) {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("mesh-telemetry-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(ActorMetrics, SerializedSamplesParseBack) {
  auto registry = std::make_shared<prometheus::Registry>();
  mesh::telemetry::actor_metrics metrics(*registry);
  metrics.record_message("wire", 3us);
  metrics.record_message("wire", 2ms);
  metrics.record_message("membership", 400ms);
  metrics.set_mailbox_depth("wire", 17);

  const auto text = mesh::telemetry::serialize_text({registry});

  EXPECT_EQ(sample_value(text, R"(mesh_actor_messages_total{actor_type="wire"})"), 2.0) << text;
  EXPECT_EQ(sample_value(text, R"(mesh_actor_messages_total{actor_type="membership"})"), 1.0);
  EXPECT_EQ(sample_value(text, R"(mesh_actor_mailbox_depth{actor_type="wire"})"), 17.0);
  EXPECT_EQ(sample_value(text, R"(mesh_actor_handler_seconds_count{actor_type="wire"})"), 2.0);
  EXPECT_EQ(sample_value(text, R"(mesh_actor_handler_seconds_bucket{actor_type="wire",le="5e-06"})"), 1.0);
  EXPECT_EQ(sample_value(text, R"(mesh_actor_handler_seconds_bucket{actor_type="wire",le="0.0025"})"), 2.0);
  const auto sum = sample_value(text, R"(mesh_actor_handler_seconds_sum{actor_type="membership"})");
  ASSERT_TRUE(sum.has_value());
  EXPECT_NEAR(*sum, 0.4, 1e-9);
  EXPECT_NE(text.find("# TYPE mesh_actor_handler_seconds histogram"), std::string::npos);
}

TEST(ActorMetrics, HandlerBucketsSpanMicrosecondToSecond) {
  const auto buckets = mesh::telemetry::handler_time_buckets();
  ASSERT_EQ(buckets.size(), 19U);
  EXPECT_DOUBLE_EQ(buckets.front(), 1e-6);
  EXPECT_DOUBLE_EQ(buckets.back(), 1.0);
  for (std::size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LT(buckets[i - 1], buckets[i]);
  }
}

TEST(ActorMetrics, CountsFromManyThreads) {
  auto registry = std::make_shared<prometheus::Registry>();
  mesh::telemetry::actor_metrics metrics(*registry);
  constexpr int threads = 4;
  constexpr int per_thread = 2000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        metrics.record_message(i % 2 == 0 ? "even" : "odd", std::chrono::nanoseconds(t + i));
      }
    });
  }
  for (auto& worker : workers) {
    worker.join();
  }
  const auto text = mesh::telemetry::serialize_text({registry});
  EXPECT_EQ(sample_value(text, R"(mesh_actor_messages_total{actor_type="even"})"), threads * per_thread / 2);
  EXPECT_EQ(sample_value(text, R"(mesh_actor_messages_total{actor_type="odd"})"), threads * per_thread / 2);
}

TEST(BuildInfo, GaugeIsOneWithVersionLabel) {
  auto registry = std::make_shared<prometheus::Registry>();
  mesh::telemetry::register_build_info(*registry, mesh::config::library_version);
  const auto text = mesh::telemetry::serialize_text({registry});
  EXPECT_EQ(sample_value(text, "mesh_build_info{version=\"" + std::string(mesh::config::library_version) + "\"}"),
            1.0)
      << text;
}

TEST(SerializeText, SkipsExpiredCollectables) {
  std::weak_ptr<prometheus::Collectable> expired;
  {
    auto registry = std::make_shared<prometheus::Registry>();
    mesh::telemetry::register_build_info(*registry, "x");
    expired = registry;
  }
  EXPECT_EQ(mesh::telemetry::serialize_text({expired}), "");
}

TEST(ProcessCollector, LiveValuesAreSane) {
  const mesh::telemetry::process_collector collector;
  const auto before = collector.sample();

  ASSERT_TRUE(before.cpu_seconds.has_value());
  EXPECT_GE(*before.cpu_seconds, 0.0);
  ASSERT_TRUE(before.resident_memory_bytes.has_value());
  EXPECT_GT(*before.resident_memory_bytes, 1024.0 * 1024.0);
  ASSERT_TRUE(before.virtual_memory_bytes.has_value());
  EXPECT_GE(*before.virtual_memory_bytes, *before.resident_memory_bytes);
  ASSERT_TRUE(before.threads.has_value());
  EXPECT_GE(*before.threads, 1.0);
  ASSERT_TRUE(before.max_fds.has_value());
  ASSERT_TRUE(before.open_fds.has_value());
  EXPECT_LE(*before.open_fds, *before.max_fds);

  ASSERT_TRUE(before.start_time_seconds.has_value());
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(*before.start_time_seconds, now + 1.0);
  EXPECT_GT(*before.start_time_seconds, now - 24 * 3600.0);

  const int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  const auto after = collector.sample();
  ::close(fd);
  EXPECT_EQ(*after.open_fds, *before.open_fds + 1);
}

TEST(ProcessCollector, ParsesProcfsLayout) {
  const auto root = temp_dir("procfs");
  std::filesystem::create_directories(root / "self" / "fd");
  for (const char* fd : {"0", "1", "2", "7"}) {
    std::ofstream(root / "self" / "fd" / fd) << "";
  }
  // Fields 3.. of proc(5) after a command name with spaces and parentheses:
  // utime (14) = 250 ticks, stime (15) = 150, num_threads (20) = 9,
  // starttime (22) = 1000 ticks, vsize (23) = 123456789, rss (24) = 10 pages.
  std::ofstream(root / "self" / "stat")
      << "4242 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 9 0 1000 123456789 10 rest\n";
  std::ofstream(root / "self" / "limits") << "Limit                     Soft Limit           Hard Limit           Units\n"
                                             "Max open files            4096                 8192                 files\n";
  std::ofstream(root / "stat") << "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";

  const mesh::telemetry::process_collector collector(root);
  const auto values = collector.sample();
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));

  EXPECT_DOUBLE_EQ(values.cpu_seconds.value_or(-1), 400.0 / ticks);
  EXPECT_DOUBLE_EQ(values.threads.value_or(-1), 9.0);
  EXPECT_DOUBLE_EQ(values.virtual_memory_bytes.value_or(-1), 123456789.0);
  EXPECT_DOUBLE_EQ(values.resident_memory_bytes.value_or(-1), 10.0 * page);
  EXPECT_DOUBLE_EQ(values.start_time_seconds.value_or(-1), 1700000000.0 + 1000.0 / ticks);
  EXPECT_DOUBLE_EQ(values.max_fds.value_or(-1), 4096.0);
  EXPECT_DOUBLE_EQ(values.open_fds.value_or(-1), 4.0);
  std::filesystem::remove_all(root);
}

TEST(ProcessCollector, LeavesOutFamiliesItCannotRead) {
  const auto root = temp_dir("empty");
  const mesh::telemetry::process_collector collector(root);
  EXPECT_TRUE(collector.Collect().empty());
  std::filesystem::remove_all(root);
}

TEST(ProcessCollector, FamiliesUseConventionalNames) {
  auto collector = std::make_shared<mesh::telemetry::process_collector>();
  const auto text = mesh::telemetry::serialize_text({collector});
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes",
                           "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                           "process_start_time_seconds", "process_threads"}) {
    EXPECT_NE(text.find(std::string("\n") + name + " "), std::string::npos) << name << " missing in\n" << text;
  }
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
}

TEST(SerializeText, PromtoolFindsNoProblems) {
  const std::filesystem::path promtool =
      std::filesystem::path(std::getenv("HOME") ? std::getenv("HOME") : "/root") /
      ".cache/libmesh-tools/root/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) {
    GTEST_SKIP() << "promtool not found at " << promtool << "; skipping the lint of the metrics text";
  }

  auto registry = std::make_shared<prometheus::Registry>();
  mesh::telemetry::actor_metrics metrics(*registry);
  metrics.record_message("wire", 10us);
  metrics.set_mailbox_depth("wire", 3);
  mesh::telemetry::register_build_info(*registry, mesh::config::library_version);
  auto process = std::make_shared<mesh::telemetry::process_collector>();
  const auto text = mesh::telemetry::serialize_text({registry, process});

  const auto dir = temp_dir("promtool");
  const auto input = dir / "metrics.txt";
  std::ofstream(input) << text;
  const std::string command = promtool.string() + " check metrics < " + input.string() + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  std::array<char, 512> chunk{};
  while (std::fgets(chunk.data(), chunk.size(), pipe) != nullptr) {
    output += chunk.data();
  }
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "") << "input was:\n" << text;
  std::filesystem::remove_all(dir);
}

std::string format_json_line(const std::string& logger_name, const std::string& message) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger log(logger_name, sink);
  log.set_formatter(mesh::telemetry::make_log_formatter(mesh::telemetry::log_format::json));
  log.warn("{}", message);
  log.flush();
  return out.str();
}

TEST(JsonLogFormat, EscapesMessage) {
  const auto line = format_json_line("wire", "peer \"a\" said\nhello\\ \x01 and \xC3");
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "a log record must stay on one line: " << line;
  EXPECT_NE(line.find(R"("message":"peer \"a\" said\nhello\\ \u0001 and )" "\xEF\xBF\xBD\"}"), std::string::npos)
      << line;
  EXPECT_NE(line.find(R"("level":"warning")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("logger":"wire")"), std::string::npos) << line;
  EXPECT_TRUE(line.starts_with(R"({"time":")")) << line;
  EXPECT_NE(line.find(R"("pid":)" + std::to_string(::getpid())), std::string::npos) << line;
}

TEST(JsonLogFormat, TimeIsUtcIso8601WithMicroseconds) {
  const auto line = format_json_line("dag", "x");
  // {"time":"2024-05-01T12:34:56.123456Z",...
  const auto start = line.find(R"("time":")") + 8;
  const auto time = line.substr(start, line.find('"', start) - start);
  ASSERT_EQ(time.size(), 27U) << time;
  EXPECT_EQ(time[4], '-');
  EXPECT_EQ(time[10], 'T');
  EXPECT_EQ(time[19], '.');
  EXPECT_EQ(time.back(), 'Z');
}

TEST(ConfigureLogging, RejectsUnknownLevel) {
  auto configured = mesh::telemetry::configure_logging("verbose", mesh::telemetry::log_format::text);
  ASSERT_FALSE(configured.has_value());
  EXPECT_EQ(configured.err().code, mesh::errc::invalid_config);
  EXPECT_NE(configured.err().message.find("verbose"), std::string::npos);
}

TEST(ConfigureLogging, JsonAppliesToExistingAndNewLoggers) {
  auto existing = mesh::telemetry::logger("test-existing");
  ASSERT_TRUE(mesh::telemetry::configure_logging("debug", mesh::telemetry::log_format::json).has_value());
  auto created = mesh::telemetry::logger("test-created");

  testing::internal::CaptureStderr();
  existing->debug("first \"quoted\"");
  created->info("second");
  const auto captured = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(mesh::telemetry::configure_logging("info", mesh::telemetry::log_format::text).has_value());

  EXPECT_NE(captured.find(R"("logger":"test-existing","pid")"), std::string::npos) << captured;
  EXPECT_NE(captured.find(R"("message":"first \"quoted\"")"), std::string::npos) << captured;
  EXPECT_NE(captured.find(R"("logger":"test-created")"), std::string::npos) << captured;
}

}  // namespace
