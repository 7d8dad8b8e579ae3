#pragma once
// Private storage of the swim state machine, kept compact for simulations of
// thousands of instances in one process. member_info values are interned in
// an info_pool and shared by reference count. A member entry is 24 bytes, the
// index is an open-addressing table of 32-bit slots, and the gossip queue
// keeps no per-member index. By estimate, 10,000 instances that know 10,000
// members each need about 4 GB. Not thread-safe: everything here belongs to
// one thread.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mesh/membership/swim.hpp"
#include "mesh/membership/types.hpp"
#include "mesh/v1/membership.pb.h"

namespace mesh::membership {

struct shared_info {
  member_info info;
  std::size_t id_hash = 0;
  std::uint32_t references = 0;
  info_pool* pool = nullptr;
};

// Interned member_info values, keyed by node id. An entry lives while an
// info_ref points to it.
class info_pool {
 public:
  info_pool() = default;
  info_pool(const info_pool&) = delete;
  info_pool& operator=(const info_pool&) = delete;
  ~info_pool();

  [[nodiscard]] shared_info* intern(const mesh::v1::MemberInfo& info);
  [[nodiscard]] shared_info* intern(const member_info& info);
  void release(shared_info* info);
  [[nodiscard]] std::size_t size() const { return size_; }

  // Full-state push-pull bodies handed back through swim::recycle(), with
  // their member entries still allocated, so that the next full state built
  // by any swim sharing this pool overwrites them instead of allocating
  // about seven objects per member. take_push_pull() returns a new empty
  // body when no spare is left.
  [[nodiscard]] std::unique_ptr<mesh::v1::PushPull> take_push_pull();
  void keep_push_pull(std::unique_ptr<mesh::v1::PushPull> push_pull);

 private:
  // A push-pull is in flight for one network latency, so a few spares cover
  // a simulation of thousands of nodes. 4 bodies of 10,000 members are about
  // 10 MB.
  static constexpr std::size_t spare_push_pulls_capacity = 4;

  std::unordered_map<std::string, std::vector<shared_info*>> by_id_;
  std::size_t size_ = 0;
  std::vector<std::unique_ptr<mesh::v1::PushPull>> spare_push_pulls_;
};

[[nodiscard]] std::size_t hash_node_id(std::string_view node_id);

// Counted reference to an interned member_info.
class info_ref {
 public:
  info_ref() = default;
  explicit info_ref(shared_info* info) : info_(info) {
    if (info_ != nullptr) {
      ++info_->references;
    }
  }
  info_ref(const info_ref& other) : info_ref(other.info_) {}
  info_ref(info_ref&& other) noexcept : info_(other.info_) { other.info_ = nullptr; }
  info_ref& operator=(info_ref other) noexcept {
    std::swap(info_, other.info_);
    return *this;
  }
  ~info_ref() {
    if (info_ != nullptr && --info_->references == 0) {
      info_->pool->release(info_);
    }
  }

  [[nodiscard]] explicit operator bool() const { return info_ != nullptr; }
  [[nodiscard]] const member_info& operator*() const { return info_->info; }
  [[nodiscard]] const member_info* operator->() const { return &info_->info; }
  [[nodiscard]] std::size_t id_hash() const { return info_->id_hash; }
  [[nodiscard]] bool same(const info_ref& other) const { return info_ == other.info_; }

 private:
  shared_info* info_ = nullptr;
};

// The member list: a dense vector of entries plus an open-addressing index.
// Invariant: every entry has a distinct node id, and slots_ maps each node id
// to its entry's position. Removal swaps entries, so positions change.
class member_table {
 public:
  static constexpr std::uint32_t npos = UINT32_MAX;
  static constexpr timestamp never_contacted = timestamp::min();

  struct entry {
    info_ref info;
    std::uint64_t incarnation = 0;
    // When this node last sent the member a message; never_contacted before.
    timestamp last_contact = never_contacted;

    [[nodiscard]] member_state state() const { return static_cast<member_state>(packed_ & 3); }
    [[nodiscard]] timestamp since() const { return timestamp(packed_ >> 2); }
    void set_state(member_state state, timestamp since) {
      packed_ = (since.count() * 4) | static_cast<std::int64_t>(state);
    }

   private:
    // State in the low two bits, state_since in milliseconds above them.
    std::int64_t packed_ = 0;
  };

  [[nodiscard]] std::uint32_t find(std::string_view node_id) const {
    return find(node_id, hash_node_id(node_id));
  }
  [[nodiscard]] std::uint32_t find(std::string_view node_id, std::size_t hash) const;
  std::uint32_t insert(entry item);

  [[nodiscard]] entry& at(std::uint32_t index) { return entries_[index]; }
  [[nodiscard]] const entry& at(std::uint32_t index) const { return entries_[index]; }
  [[nodiscard]] std::uint32_t size() const { return static_cast<std::uint32_t>(entries_.size()); }

  // Removes the entries at `positions` (distinct, any order) and rebuilds the index.
  void remove(std::vector<std::uint32_t> positions);

 private:
  void rebuild_index(std::size_t slot_count);

  std::vector<entry> entries_;
  std::vector<std::uint32_t> slots_;
};

// One queued gossip update. The member's current entry supplies the info
// when it is sent. An item whose incarnation or state no longer matches the
// entry is stale, so it is dropped.
struct gossip_item {
  info_ref info;
  info_ref reporter;  // empty unless the state is suspect or dead
  std::uint64_t incarnation = 0;
  member_state state = member_state::alive;
  // Sent for a second round of retransmit_limit transmissions. With m
  // transmissions per node a given member misses an update with a
  // probability of about e^-m. Alive news gets the second round, because a
  // missed join or refutation costs a push-pull period or a false death.
  bool second_round = false;
  // Whether the item goes before other news and is dropped last (refutations
  // and leaves). Under a wave of join news a refutation otherwise arrives
  // after the suspicion it answers has expired.
  bool urgent = false;
};

// Gossip waiting to be piggybacked, in two lanes: urgent items, then the
// others. Within a lane, items are bucketed by how often they were sent, and
// take() prefers the least transmitted and, among those, the newest items.
// When more than `capacity` items wait, the most transmitted of the other
// lane go first, and urgent items only when no other item is left.
class gossip_queue {
 public:
  explicit gossip_queue(std::size_t capacity) : capacity_(capacity) {}

  // Adds `item` and returns how many waiting items the capacity bound dropped.
  std::size_t push(gossip_item item);

  // Calls emit(item) for up to `limit` items; emit returns false for a stale
  // item, which is dropped without counting. Items sent
  // `retransmit_limit` times leave the queue.
  template <class Emit>
  std::size_t take(std::size_t limit, std::uint32_t retransmit_limit, Emit&& emit);

  [[nodiscard]] bool empty() const { return size() == 0; }
  [[nodiscard]] std::size_t size() const { return lanes_[0].size + lanes_[1].size; }

 private:
  struct lane {
    std::vector<std::deque<gossip_item>> buckets;
    std::size_t size = 0;

    // Drops the oldest of the most transmitted items. The lane must not be empty.
    void drop_one();
  };

  template <class Emit>
  std::size_t take_from(lane& from, std::size_t limit, std::uint32_t retransmit_limit, Emit& emit);

  lane lanes_[2];  // urgent first
  std::vector<std::pair<std::uint32_t, gossip_item>> sent_;
  std::size_t capacity_;
};

template <class Emit>
std::size_t gossip_queue::take(std::size_t limit, std::uint32_t retransmit_limit, Emit&& emit) {
  std::size_t emitted = 0;
  for (auto& from : lanes_) {
    emitted += take_from(from, limit - emitted, retransmit_limit, emit);
  }
  return emitted;
}

template <class Emit>
std::size_t gossip_queue::take_from(lane& from, std::size_t limit, std::uint32_t retransmit_limit, Emit& emit) {
  auto& buckets = from.buckets;
  while (buckets.size() > retransmit_limit) {
    from.size -= buckets.back().size();
    buckets.pop_back();
  }

  std::size_t emitted = 0;
  for (std::uint32_t transmits = 0; transmits < buckets.size() && emitted < limit; ++transmits) {
    auto& bucket = buckets[transmits];
    while (!bucket.empty() && emitted < limit) {
      gossip_item item = std::move(bucket.back());
      bucket.pop_back();
      --from.size;
      if (!emit(item)) {
        continue;
      }
      ++emitted;
      if (transmits + 1 < retransmit_limit) {
        sent_.emplace_back(transmits + 1, std::move(item));
      } else if (item.second_round) {
        item.second_round = false;
        sent_.emplace_back(0, std::move(item));
      }
    }
  }

  for (auto& [transmits, item] : sent_) {
    if (buckets.size() <= transmits) {
      buckets.resize(transmits + 1);
    }
    buckets[transmits].push_back(std::move(item));
    ++from.size;
  }
  sent_.clear();
  return emitted;
}

}  // namespace mesh::membership
