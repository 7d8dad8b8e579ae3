// Interning pool, member table and gossip queue; see member_store.hpp.
#include "membership/member_store.hpp"

#include <algorithm>
#include <bit>

#include "mesh/membership/codec.hpp"

namespace mesh::membership {

namespace {

bool same_info(const member_info& info, const mesh::v1::MemberInfo& proto) {
  const auto& ports = proto.ports();
  return info.node_id == proto.node_id() && info.name == proto.name() &&
         to_proto(info.role) == proto.role() && info.address == proto.address() &&
         info.ports.p2p == ports.p2p() && info.ports.rpc == ports.rpc() &&
         info.ports.api == ports.api() && info.ports.mcp == ports.mcp() &&
         info.ports.metrics == ports.metrics() && info.load == proto.load() &&
         info.identity_key == proto.identity_key();
}

}  // namespace

std::shared_ptr<info_pool> make_info_pool() {
  return std::make_shared<info_pool>();
}

std::size_t hash_node_id(std::string_view node_id) {
  return std::hash<std::string_view>{}(node_id);
}

info_pool::~info_pool() {
  for (auto& [id, infos] : by_id_) {
    for (auto* info : infos) {
      delete info;
    }
  }
}

shared_info* info_pool::intern(const mesh::v1::MemberInfo& info) {
  auto& infos = by_id_[info.node_id()];
  for (auto* existing : infos) {
    if (same_info(existing->info, info)) {
      return existing;
    }
  }
  auto* created = new shared_info{from_proto(info), hash_node_id(info.node_id()), 0, this};
  infos.push_back(created);
  ++size_;
  return created;
}

shared_info* info_pool::intern(const member_info& info) {
  auto& infos = by_id_[info.node_id];
  for (auto* existing : infos) {
    if (existing->info == info) {
      return existing;
    }
  }
  auto* created = new shared_info{info, hash_node_id(info.node_id), 0, this};
  infos.push_back(created);
  ++size_;
  return created;
}

void info_pool::release(shared_info* info) {
  const auto found = by_id_.find(info->info.node_id);
  if (found != by_id_.end()) {
    auto& infos = found->second;
    infos.erase(std::remove(infos.begin(), infos.end(), info), infos.end());
    if (infos.empty()) {
      by_id_.erase(found);
    }
  }
  --size_;
  delete info;
}

std::unique_ptr<mesh::v1::PushPull> info_pool::take_push_pull() {
  if (spare_push_pulls_.empty()) {
    return std::make_unique<mesh::v1::PushPull>();
  }
  auto spare = std::move(spare_push_pulls_.back());
  spare_push_pulls_.pop_back();
  return spare;
}

void info_pool::keep_push_pull(std::unique_ptr<mesh::v1::PushPull> push_pull) {
  if (spare_push_pulls_.size() < spare_push_pulls_capacity) {
    spare_push_pulls_.push_back(std::move(push_pull));
  }
}

std::uint32_t member_table::find(std::string_view node_id, std::size_t hash) const {
  if (slots_.empty()) {
    return npos;
  }
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t slot = hash & mask;; slot = (slot + 1) & mask) {
    const std::uint32_t position = slots_[slot];
    if (position == npos) {
      return npos;
    }
    const auto& candidate = entries_[position].info;
    if (candidate.id_hash() == hash && candidate->node_id == node_id) {
      return position;
    }
  }
}

std::uint32_t member_table::insert(entry item) {
  const auto position = static_cast<std::uint32_t>(entries_.size());
  const std::size_t hash = item.info.id_hash();
  entries_.push_back(std::move(item));

  // Keep the load factor at or below one half so that probe sequences stay
  // short; growing to 2n..4n slots (not more) keeps the index at 4-8 bytes
  // per member, which matters with 10,000 instances of 10,000 members.
  if (slots_.size() < 2 * entries_.size()) {
    rebuild_index(std::max<std::size_t>(16, std::bit_ceil(2 * entries_.size())));
    return position;
  }
  const std::size_t mask = slots_.size() - 1;
  std::size_t slot = hash & mask;
  while (slots_[slot] != npos) {
    slot = (slot + 1) & mask;
  }
  slots_[slot] = position;
  return position;
}

void member_table::remove(std::vector<std::uint32_t> positions) {
  std::sort(positions.begin(), positions.end(), std::greater<>());
  for (const auto position : positions) {
    if (position + 1 != entries_.size()) {
      entries_[position] = std::move(entries_.back());
    }
    entries_.pop_back();
  }
  rebuild_index(std::max<std::size_t>(16, std::bit_ceil(2 * entries_.size() + 1)));
}

void member_table::rebuild_index(std::size_t slot_count) {
  slots_.assign(slot_count, npos);
  const std::size_t mask = slot_count - 1;
  for (std::uint32_t position = 0; position < entries_.size(); ++position) {
    std::size_t slot = entries_[position].info.id_hash() & mask;
    while (slots_[slot] != npos) {
      slot = (slot + 1) & mask;
    }
    slots_[slot] = position;
  }
}

std::size_t gossip_queue::push(gossip_item item) {
  auto& to = lanes_[item.urgent ? 0 : 1];
  if (to.buckets.empty()) {
    to.buckets.resize(1);
  }
  to.buckets.front().push_back(std::move(item));
  ++to.size;

  std::size_t dropped = 0;
  while (size() > capacity_) {
    (lanes_[1].size > 0 ? lanes_[1] : lanes_[0]).drop_one();
    ++dropped;
  }
  return dropped;
}

void gossip_queue::lane::drop_one() {
  while (buckets.back().empty()) {
    buckets.pop_back();
  }
  buckets.back().pop_front();
  --size;
}

}  // namespace mesh::membership
