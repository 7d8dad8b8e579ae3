#pragma once
// Named spdlog loggers, one per component (wire, membership, dag, consensus,
// neural, http, node), and the process-wide log format. Messages carry
// key=value fields, for example `logger->info("peer joined id={} address={}",
// id, address)`.

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mesh/error.hpp"

namespace mesh::telemetry {

enum class log_format { text, json };

// Sets the level (trace, debug, info, warn, error, critical, off) and format
// of every logger, present and future. Thread-safe; call it once at start.
[[nodiscard]] result<void> configure_logging(std::string_view level, log_format format);

// Creates the formatter configure_logging installs for `format`: a UTC text
// pattern, or one JSON object per line with the message escaped.
[[nodiscard]] std::unique_ptr<spdlog::formatter> make_log_formatter(log_format format);

// Returns the logger for `component`, creating it on first use. Thread-safe.
[[nodiscard]] std::shared_ptr<spdlog::logger> logger(std::string_view component);

// Lets through at most `burst` events per `period` and counts the rest, so a
// flood of one kind of error cannot flood the log. Thread-safe.
class rate_limiter {
 public:
  rate_limiter(std::uint32_t burst, std::chrono::steady_clock::duration period) noexcept;

  // Returns true when the caller may log now. `suppressed` receives how many
  // events were held back since the last allowed one.
  [[nodiscard]] bool allow(std::uint64_t& suppressed) noexcept;

 private:
  const std::uint32_t burst_;
  const std::int64_t period_ns_;
  std::atomic<std::int64_t> window_start_ns_{0};
  std::atomic<std::uint32_t> in_window_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace mesh::telemetry
