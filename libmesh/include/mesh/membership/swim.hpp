#pragma once
// The SWIM membership state machine with Lifeguard-style suspicion: push-pull
// state exchange, direct and indirect probes, suspicion timeouts that shrink
// with independent confirmations, incarnation numbers, graceful leave and
// reaping. It owns no thread, clock, random source or socket: the caller
// passes the time into every call, delivers inbound messages with receive()
// and sends what take_outbox() returns. docs/membership.md describes the
// protocol and the parameters.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mesh/membership/config.hpp"
#include "mesh/membership/types.hpp"
#include "mesh/v1/membership.pb.h"

namespace mesh::membership {

// Interns member_info values so that many swim instances in one process (the
// simulator) store each distinct member_info once. A swim without a shared
// pool creates its own. Not thread-safe: every swim that shares a pool must
// run on the same thread. Shared ownership through std::shared_ptr.
class info_pool;

// Creates an empty pool to share between swim instances on one thread.
[[nodiscard]] std::shared_ptr<info_pool> make_info_pool();

// Pure SWIM + Lifeguard state machine. Not thread-safe; one owner calls every
// method. Randomness comes from a std::mt19937_64 seeded with `seed`.
class swim {
 public:
  swim(swim_config config, member_info self, std::uint64_t initial_incarnation, std::uint64_t seed,
       timestamp now);
  // Same, with a pool shared with other swim instances on this thread.
  swim(swim_config config, member_info self, std::uint64_t initial_incarnation, std::uint64_t seed,
       timestamp now, std::shared_ptr<info_pool> pool);
  ~swim();
  swim(swim&&) noexcept;
  swim& operator=(swim&&) noexcept;
  swim(const swim&) = delete;
  swim& operator=(const swim&) = delete;

  // Queues a push-pull join to each host:port in `seed_addresses` (own address
  // excluded). Call again on each retry with freshly resolved addresses. With
  // no address left, this node is a first or solitary member and joined()
  // becomes true at once.
  void join(const std::vector<std::string>& seed_addresses, timestamp now);

  // True once a push-pull reply arrived from any peer, or after join() with no seed.
  [[nodiscard]] bool joined() const;

  // True when not joined and the join backoff (join_retry_initial, doubling up
  // to join_retry_max) has expired since the last join().
  [[nodiscard]] bool join_retry_due(timestamp now) const;

  // Handles one message from the member at `from_address` (its P2P host:port).
  // The message must have passed validate_message.
  void receive(const std::string& from_address, const mesh::v1::MembershipMessage& message,
               timestamp now);

  // Runs the probes, probe timeouts, gossip rounds, push-pulls, suspicion
  // timeouts and reaping that are due at `now`.
  void tick(timestamp now);

  // Leaves gracefully: records this node as LEFT with incarnation + 1 and
  // sends that update to several members. Afterwards the node stops probing
  // and refuting and only drains its gossip queue.
  void leave(timestamp now);

  // Advertises a new load; the change travels with incarnation + 1.
  void set_load(std::uint32_t load);

  [[nodiscard]] std::vector<outbound> take_outbox();

  // Optional: hands back a message after it was serialized or delivered, so
  // that its gossip entries and its push-pull body are reused for later
  // outbound messages instead of allocated anew. Keeps at most 128 gossip
  // entries and, in the info_pool, 4 push-pull bodies; frees the rest.
  void recycle(mesh::v1::MembershipMessage&& message);
  [[nodiscard]] std::vector<event> take_events();

  // Every known member including self, sorted by node_id.
  [[nodiscard]] std::vector<member> members() const;
  [[nodiscard]] const member& self() const;

  // Alive plus suspect members, including self.
  [[nodiscard]] std::size_t alive_count() const;

  // Known members in `state`, including self; constant time.
  [[nodiscard]] std::size_t count(member_state state) const;

  // Earliest time at which tick() has work to do.
  [[nodiscard]] timestamp next_wakeup() const;

  [[nodiscard]] const statistics& stats() const;

 private:
  class impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace mesh::membership
