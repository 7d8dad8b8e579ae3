#include "mesh/telemetry/logging.hpp"

#include <spdlog/formatter.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unistd.h>

#include <ctime>
#include <mutex>

#include "mesh/http/json.hpp"

namespace mesh::telemetry {

namespace {

constexpr const char* text_pattern = "%Y-%m-%dT%H:%M:%S.%fZ %^%-5l%$ [%n] %v";

// JSON lines for Loki: one object per line with the UTC time, level, logger
// name, process and thread id, and the message. spdlog's pattern formatter
// copies the message verbatim, so this formatter escapes the logger name and
// the message itself; a message with quotes, newlines or invalid UTF-8 still
// yields one valid JSON object.
class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(since_epoch - seconds).count();
    const std::time_t as_time_t = seconds.count();
    std::tm utc{};
    gmtime_r(&as_time_t, &utc);

    const auto level = spdlog::level::to_string_view(msg.level);
    fmt::format_to(std::back_inserter(dest),
                   R"({{"time":"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z","level":"{}","logger":{},"pid":{},"thread":{},"message":{}}})",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                   utc.tm_sec, micros, std::string_view(level.data(), level.size()),
                   http::json_quote(std::string_view(msg.logger_name.data(), msg.logger_name.size())),
                   pid_, msg.thread_id,
                   http::json_quote(std::string_view(msg.payload.data(), msg.payload.size())));
    dest.push_back('\n');
  }

  [[nodiscard]] std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<json_formatter>();
  }

 private:
  const long pid_ = static_cast<long>(::getpid());
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format) {
  if (format == log_format::json) {
    return std::make_unique<json_formatter>();
  }
  return std::make_unique<spdlog::pattern_formatter>(text_pattern, spdlog::pattern_time_type::utc);
}

namespace {

std::mutex config_mutex;
log_format active_format = log_format::text;
spdlog::level::level_enum active_level = spdlog::level::info;

}  // namespace

result<void> configure_logging(std::string_view level, log_format format) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return fail(errc::invalid_config,
                "invalid log level '" + std::string(level) +
                    "': accepted are trace, debug, info, warn, error, critical, off");
  }

  std::lock_guard lock(config_mutex);
  active_level = parsed;
  active_format = format;
  spdlog::set_level(active_level);
  // set_formatter hands a clone to every registered logger.
  spdlog::set_formatter(make_log_formatter(active_format));
  return {};
}

std::shared_ptr<spdlog::logger> logger(std::string_view component) {
  const std::string name(component);
  if (auto existing = spdlog::get(name)) {
    return existing;
  }

  std::lock_guard lock(config_mutex);
  if (auto existing = spdlog::get(name)) {
    return existing;
  }
  // All loggers share one stderr sink, so lines from several threads never
  // interleave inside a line.
  static auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto created = std::make_shared<spdlog::logger>(name, sink);
  created->set_level(active_level);
  created->set_formatter(make_log_formatter(active_format));
  spdlog::register_logger(created);
  return created;
}

rate_limiter::rate_limiter(std::uint32_t burst, std::chrono::steady_clock::duration period) noexcept
    : burst_(burst),
      period_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(period).count()) {}

bool rate_limiter::allow(std::uint64_t& suppressed) noexcept {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
  auto start = window_start_ns_.load(std::memory_order_relaxed);
  if (now - start >= period_ns_ &&
      window_start_ns_.compare_exchange_strong(start, now, std::memory_order_relaxed)) {
    in_window_.store(0, std::memory_order_relaxed);
  }
  if (in_window_.fetch_add(1, std::memory_order_relaxed) < burst_) {
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }
  suppressed_.fetch_add(1, std::memory_order_relaxed);
  suppressed = 0;
  return false;
}

}  // namespace mesh::telemetry
