#pragma once
// Process metrics with the names and units of the Prometheus client library
// conventions, read from procfs on every scrape:
//   process_cpu_seconds_total       counter, user + system CPU time in seconds
//   process_resident_memory_bytes   gauge, resident set size
//   process_virtual_memory_bytes    gauge, virtual memory size
//   process_open_fds                gauge, open file descriptors
//   process_max_fds                 gauge, soft limit on open file descriptors
//   process_start_time_seconds      gauge, start time since the Unix epoch
//   process_threads                 gauge, number of OS threads

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <filesystem>
#include <optional>
#include <vector>

namespace mesh::telemetry {

// Values read in one scrape; a field is empty when its procfs file could not
// be read or parsed.
struct process_sample {
  std::optional<double> cpu_seconds;
  std::optional<double> resident_memory_bytes;
  std::optional<double> virtual_memory_bytes;
  std::optional<double> open_fds;
  std::optional<double> max_fds;
  std::optional<double> start_time_seconds;
  std::optional<double> threads;
};

// A prometheus::Collectable for the current process. Register it with
// `exposer`-style code or pass it to serialize_text. Families whose files
// cannot be read are left out of the scrape rather than reported as 0.
// Thread-safe: Collect() keeps no state between calls.
class process_collector final : public prometheus::Collectable {
 public:
  // `proc_root` is the procfs mount; tests pass a directory laid out like
  // it, with self/stat, self/limits, self/fd/ and stat.
  explicit process_collector(std::filesystem::path proc_root = "/proc");

  // Reads the procfs files once.
  [[nodiscard]] process_sample sample() const;

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::filesystem::path proc_root_;
};

}  // namespace mesh::telemetry
