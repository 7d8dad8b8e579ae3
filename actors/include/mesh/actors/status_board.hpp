#pragma once
// The status board: the latest membership view and component health, written
// by actors and read by HTTP handlers. Readers get an immutable snapshot, so an
// HTTP handler never waits for an actor and never sees a half-updated view.

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mesh/membership/types.hpp"

namespace mesh::actors {

struct component_health {
  bool healthy = false;
  std::string detail;
};

struct board_snapshot {
  std::vector<membership::member> members;  // includes this node
  membership::member self;
  bool joined = false;
  std::map<std::string, component_health> components;
  std::chrono::system_clock::time_point updated_at;
};

// Thread-safe: every method may be called from any thread.
class status_board {
 public:
  status_board();

  void publish_members(std::vector<membership::member> members, membership::member self,
                       bool joined);
  void set_component(const std::string& name, bool healthy, std::string detail);

  [[nodiscard]] std::shared_ptr<const board_snapshot> snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const board_snapshot> current_;
};

}  // namespace mesh::actors
