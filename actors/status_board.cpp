#include "mesh/actors/status_board.hpp"

namespace mesh::actors {

status_board::status_board() : current_(std::make_shared<board_snapshot>()) {}

void status_board::publish_members(std::vector<membership::member> members,
                                   membership::member self, bool joined) {
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<board_snapshot>(*current_);
  next->members = std::move(members);
  next->self = std::move(self);
  next->joined = joined;
  next->updated_at = std::chrono::system_clock::now();
  current_ = std::move(next);
}

void status_board::set_component(const std::string& name, bool healthy, std::string detail) {
  std::lock_guard lock(mutex_);
  auto next = std::make_shared<board_snapshot>(*current_);
  next->components[name] = component_health{healthy, std::move(detail)};
  next->updated_at = std::chrono::system_clock::now();
  current_ = std::move(next);
}

std::shared_ptr<const board_snapshot> status_board::snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace mesh::actors
