#pragma once
// Makes appended data of one file durable on a thread of its own, so that
// the owner of the file never waits for the disk. The owner numbers its
// commits, calls request(n) after commit n, and keeps what depends on
// commit n until the callback reports a number >= n. One fdatasync covers
// every commit requested before it started.
//
// Used for the write-ahead log of sqlite_vertex_store in sync_mode::by_caller.

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

namespace mesh::dag {

// Thread-safe: request() may be called from any thread. Owns its thread; the
// destructor finishes the sync in progress, then joins it. The callback runs
// on that thread and must not block.
class file_syncer {
 public:
  using synced_callback = std::function<void(std::uint64_t synced_through)>;

  // `file` may not exist yet; it is opened at the first request. When it
  // cannot be opened, the file system that contains its directory is synced
  // instead (syncfs), which is slower but just as durable.
  file_syncer(std::filesystem::path file, synced_callback callback);
  ~file_syncer();

  file_syncer(const file_syncer&) = delete;
  file_syncer& operator=(const file_syncer&) = delete;

  // Asks for a sync that covers commit `commit` and everything before it.
  void request(std::uint64_t commit);

 private:
  void run();
  void sync_once();

  std::filesystem::path file_;
  synced_callback callback_;
  int fd_ = -1;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::uint64_t requested_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mesh::dag
