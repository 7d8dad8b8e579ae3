#include "mesh/dag/file_syncer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mesh/telemetry/logging.hpp"

namespace mesh::dag {

file_syncer::file_syncer(std::filesystem::path file, synced_callback callback)
    : file_(std::move(file)), callback_(std::move(callback)), thread_([this] { run(); }) {}

file_syncer::~file_syncer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void file_syncer::request(std::uint64_t commit) {
  {
    std::lock_guard lock(mutex_);
    if (commit <= requested_) {
      return;
    }
    requested_ = commit;
  }
  wake_.notify_one();
}

void file_syncer::run() {
  std::uint64_t synced = 0;
  while (true) {
    std::uint64_t target = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || requested_ > synced; });
      if (requested_ <= synced) {
        return;  // stopping with nothing left to sync
      }
      target = requested_;
    }
    // Everything committed up to `target` was written before request(target).
    sync_once();
    synced = target;
    callback_(synced);
  }
}

void file_syncer::sync_once() {
  auto log = telemetry::logger("dag");
  if (fd_ < 0) {
    fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd_ >= 0 && ::fdatasync(fd_) == 0) {
    return;
  }
  log->warn("fdatasync of {} failed ({}); syncing its file system instead", file_.string(),
            std::strerror(errno));
  const int dir = ::open(file_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0 || ::syncfs(dir) != 0) {
    log->error("syncfs of {} failed ({}); calling sync()", file_.parent_path().string(),
               std::strerror(errno));
    ::sync();
  }
  if (dir >= 0) {
    ::close(dir);
  }
}

}  // namespace mesh::dag
