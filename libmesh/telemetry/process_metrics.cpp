#include "mesh/telemetry/process_metrics.hpp"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <string_view>

namespace mesh::telemetry {

namespace {

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::optional<double> parse_number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

// Fields of /proc/<pid>/stat (see proc(5)), numbered from 1 as the man page
// does. The command name (field 2) is in parentheses and may itself contain
// spaces and ')', so the split starts after the last ')'.
struct stat_fields {
  std::vector<std::string> after_comm;

  [[nodiscard]] std::optional<double> field(std::size_t number) const {
    constexpr std::size_t first_after_comm = 3;
    if (number < first_after_comm || number - first_after_comm >= after_comm.size()) {
      return std::nullopt;
    }
    return parse_number(after_comm[number - first_after_comm]);
  }
};

std::optional<stat_fields> read_stat(const std::filesystem::path& path) {
  const auto content = read_file(path);
  if (!content) {
    return std::nullopt;
  }
  const auto comm_end = content->rfind(')');
  if (comm_end == std::string::npos) {
    return std::nullopt;
  }
  stat_fields fields;
  std::istringstream rest(content->substr(comm_end + 1));
  std::string token;
  while (rest >> token) {
    fields.after_comm.push_back(token);
  }
  return fields;
}

// Returns the system boot time in seconds since the epoch ("btime" in /proc/stat).
std::optional<double> read_boot_time(const std::filesystem::path& path) {
  const auto content = read_file(path);
  if (!content) {
    return std::nullopt;
  }
  std::istringstream lines(*content);
  std::string line;
  constexpr std::string_view prefix = "btime ";
  while (std::getline(lines, line)) {
    if (line.starts_with(prefix)) {
      return parse_number(std::string_view(line).substr(prefix.size()));
    }
  }
  return std::nullopt;
}

// Returns the soft limit of "Max open files" in /proc/<pid>/limits.
std::optional<double> read_max_fds(const std::filesystem::path& path) {
  const auto content = read_file(path);
  if (!content) {
    return std::nullopt;
  }
  std::istringstream lines(*content);
  std::string line;
  constexpr std::string_view prefix = "Max open files";
  while (std::getline(lines, line)) {
    if (!line.starts_with(prefix)) {
      continue;
    }
    std::istringstream limits(line.substr(prefix.size()));
    std::string soft;
    limits >> soft;
    if (soft == "unlimited") {
      return std::numeric_limits<double>::infinity();
    }
    return parse_number(soft);
  }
  return std::nullopt;
}

// Counts the entries of <pid>/fd, leaving out the descriptor this function
// opens to list the directory.
std::optional<double> count_open_fds(const std::filesystem::path& fd_dir) {
  DIR* dir = ::opendir(fd_dir.c_str());
  if (dir == nullptr) {
    return std::nullopt;
  }
  const std::string own_fd = std::to_string(::dirfd(dir));
  const auto own_target = std::filesystem::canonical(fd_dir);

  double count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    if (name == own_fd) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(fd_dir / name, ec);
      if (!ec && target == own_target) {
        continue;
      }
    }
    count += 1;
  }
  ::closedir(dir);
  return count;
}

prometheus::MetricFamily make_family(std::string name, std::string help, prometheus::MetricType type,
                                     double value) {
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {metric}};
}

}  // namespace

process_collector::process_collector(std::filesystem::path proc_root)
    : proc_root_(std::move(proc_root)) {}

process_sample process_collector::sample() const {
  process_sample out;
  const auto self = proc_root_ / "self";
  const auto ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto page_size = static_cast<double>(::sysconf(_SC_PAGESIZE));

  if (const auto stat = read_stat(self / "stat")) {
    constexpr std::size_t utime = 14;
    constexpr std::size_t stime = 15;
    constexpr std::size_t num_threads = 20;
    constexpr std::size_t starttime = 22;
    constexpr std::size_t vsize = 23;
    constexpr std::size_t rss = 24;

    const auto user = stat->field(utime);
    const auto system = stat->field(stime);
    if (user && system) {
      out.cpu_seconds = (*user + *system) / ticks_per_second;
    }
    out.threads = stat->field(num_threads);
    out.virtual_memory_bytes = stat->field(vsize);
    if (const auto pages = stat->field(rss)) {
      out.resident_memory_bytes = *pages * page_size;
    }
    const auto started_ticks = stat->field(starttime);
    const auto boot_time = read_boot_time(proc_root_ / "stat");
    if (started_ticks && boot_time) {
      out.start_time_seconds = *boot_time + *started_ticks / ticks_per_second;
    }
  }

  out.open_fds = count_open_fds(self / "fd");
  out.max_fds = read_max_fds(self / "limits");
  return out;
}

std::vector<prometheus::MetricFamily> process_collector::Collect() const {
  using prometheus::MetricType;
  const auto values = sample();
  std::vector<prometheus::MetricFamily> families;

  const auto add = [&](const std::optional<double>& value, const char* name, const char* help,
                       MetricType type) {
    if (value) {
      families.push_back(make_family(name, help, type, *value));
    }
  };
  add(values.cpu_seconds, "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.", MetricType::Counter);
  add(values.resident_memory_bytes, "process_resident_memory_bytes",
      "Resident memory size in bytes.", MetricType::Gauge);
  add(values.virtual_memory_bytes, "process_virtual_memory_bytes",
      "Virtual memory size in bytes.", MetricType::Gauge);
  add(values.open_fds, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge);
  add(values.max_fds, "process_max_fds", "Maximum number of open file descriptors.",
      MetricType::Gauge);
  add(values.start_time_seconds, "process_start_time_seconds",
      "Start time of the process since unix epoch in seconds.", MetricType::Gauge);
  add(values.threads, "process_threads", "Number of OS threads in the process.", MetricType::Gauge);
  return families;
}

}  // namespace mesh::telemetry
