#pragma once
// Test support: starts the project's executables and test servers as child
// processes with their output in a log file, and stops them by PID.

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace mesh::testing {

// One child process. The destructor kills it (SIGKILL) if it still runs.
// Not thread-safe.
class child_process {
 public:
  child_process(std::string program, std::vector<std::string> args,
                std::map<std::string, std::string> extra_env, std::filesystem::path log_file)
      : program_(std::move(program)),
        args_(std::move(args)),
        env_(std::move(extra_env)),
        log_file_(std::move(log_file)) {}

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    if (running()) {
      signal(SIGKILL);
      wait_for_exit(std::chrono::seconds(5));
    }
  }

  // Lowers the scheduling priority of the program (nice value, 0 to 19),
  // from the next start() on.
  void set_niceness(int niceness) { niceness_ = niceness; }

  // Starts the program; returns false when fork fails. The child gets
  // SIGKILL when the test process dies, so a test killed by a timeout leaves
  // no node running.
  bool start() {
    std::vector<std::string> argv_storage{program_};
    argv_storage.insert(argv_storage.end(), args_.begin(), args_.end());
    std::vector<char*> argv;
    for (auto& a : argv_storage) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    std::map<std::string, std::string> merged;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry(*e);
      const auto eq = entry.find('=');
      if (eq != std::string::npos && entry.rfind("MESH_", 0) != 0) {
        merged[entry.substr(0, eq)] = entry.substr(eq + 1);
      }
    }
    for (const auto& [key, value] : env_) {
      merged[key] = value;
    }
    std::vector<std::string> env_storage;
    for (const auto& [key, value] : merged) {
      env_storage.push_back(key + "=" + value);
    }
    std::vector<char*> envp;
    for (auto& e : env_storage) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);

    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      return false;
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      if (log_fd < 0 || null_fd < 0) {
        ::_exit(127);
      }
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      if (niceness_ != 0) {
        ::setpriority(PRIO_PROCESS, 0, niceness_);
      }
      ::execve(program_.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    pid_ = pid;
    exited_ = false;
    return true;
  }

  void signal(int signal_number) const {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, signal_number);
    }
  }

  // Waits for the process to exit; returns its exit status (or 128 + signal)
  // or nullopt on timeout.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited_) {
      int status = 0;
      const auto rc = ::waitpid(pid_, &status, WNOHANG);
      if (rc == pid_) {
        exited_ = true;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exit_status_;
  }

  [[nodiscard]] bool running() {
    if (pid_ <= 0 || exited_) {
      return false;
    }
    return !wait_for_exit(std::chrono::milliseconds(0)).has_value();
  }

  [[nodiscard]] pid_t pid() const { return pid_; }

  [[nodiscard]] std::string log() const {
    std::ifstream in(log_file_);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }

  // The last `lines` lines of the log, for failure messages.
  [[nodiscard]] std::string log_tail(std::size_t lines = 40) const {
    const auto text = log();
    std::size_t pos = text.size();
    for (std::size_t n = 0; n <= lines && pos > 0; ++n) {
      pos = text.rfind('\n', pos - 1);
      if (pos == std::string::npos) {
        pos = 0;
        break;
      }
    }
    return text.substr(pos);
  }

 private:
  std::string program_;
  std::vector<std::string> args_;
  std::map<std::string, std::string> env_;
  std::filesystem::path log_file_;
  pid_t pid_ = -1;
  bool exited_ = true;
  int niceness_ = 0;
  int exit_status_ = -1;
};

// Polls `condition` every 100 ms until it returns true or `timeout` passes.
template <class Condition>
bool eventually(std::chrono::milliseconds timeout, Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return condition();
}

// A fresh temporary folder, removed by the destructor.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Returns a TCP port on 127.0.0.1 that was free a moment ago.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// The folder where scripts/install-deps unpacked Prometheus and Serf.
inline std::filesystem::path tools_dir() {
  if (const char* configured = std::getenv("MESH_TOOLS_DIR")) {
    return std::filesystem::path(configured) / "root/usr/bin";
  }
  const char* cache = std::getenv("XDG_CACHE_HOME");
  std::filesystem::path base = cache != nullptr ? std::filesystem::path(cache)
                                                : std::filesystem::path(std::getenv("HOME")) / ".cache";
  return base / "libmesh-tools/root/usr/bin";
}

}  // namespace mesh::testing
