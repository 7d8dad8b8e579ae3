#pragma once
// Prometheus metric families of the ZeroMQ wire transport. Every counter child
// (one per message kind and drop reason) is created up front, so the wire
// thread never takes the registry's lock on its hot path.

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <cstddef>
#include <string_view>

#include "mesh/v1/envelope.pb.h"

namespace mesh::wire {

// Cause of a dropped message, the value of the `reason` label.
enum class drop_reason {
  oversized,            // frame larger than transport_config::max_frame_bytes
  malformed_envelope,   // not a decodable Envelope, or not one frame after the routing id
  unsupported_version,  // Envelope.protocol_version differs from wire::protocol_version
  unknown_kind,         // no handler is registered for Envelope.kind
  malformed_body,       // the handler rejected the body
  queue_full,           // the peer already had max_queued_per_peer messages waiting
  send_failed,          // ZeroMQ could not take the message before the peer timed out or the transport stopped
  invalid_address,      // the peer address is not host:port or ZeroMQ rejected it
  auth_failed,          // a peer failed the CURVE handshake or the ZAP check
};

inline constexpr std::size_t drop_reason_count = 9;

// Returns the label value of `reason`, e.g. "queue_full".
[[nodiscard]] std::string_view to_string(drop_reason reason) noexcept;

// Returns the label value of `kind`: the enum name in lowercase without the
// MESSAGE_KIND_ prefix, e.g. "membership", or "unknown" for other values.
[[nodiscard]] std::string_view kind_label(mesh::v1::MessageKind kind) noexcept;

// Metric families of one transport. Thread safety: every member function may
// be called from any thread. Ownership: the families belong to the registry,
// which must outlive this object; this object must outlive every transport
// that reports into it.
class wire_metrics {
 public:
  explicit wire_metrics(prometheus::Registry& registry);

  void record_sent(mesh::v1::MessageKind kind, std::size_t bytes);
  void record_received(mesh::v1::MessageKind kind, std::size_t bytes);
  void record_dropped(drop_reason reason, double count = 1);

  // Counter of mesh_wire_dropped_messages_total for `reason`.
  [[nodiscard]] prometheus::Counter& dropped(drop_reason reason) { return *dropped_[index(reason)]; }
  [[nodiscard]] prometheus::Counter& sent_messages(mesh::v1::MessageKind kind);
  [[nodiscard]] prometheus::Counter& received_messages(mesh::v1::MessageKind kind);

  // mesh_wire_handshakes_total: inbound CURVE handshakes whose client key
  // passed the mesh key check. Failed checks count as drops (auth_failed).
  [[nodiscard]] prometheus::Counter& handshakes() { return handshakes_; }
  // mesh_wire_peers: open outbound (DEALER) sockets.
  [[nodiscard]] prometheus::Gauge& peers() { return peers_; }
  // mesh_wire_queue_depth: outbound messages accepted by send() and not yet
  // handed to ZeroMQ or dropped.
  [[nodiscard]] prometheus::Gauge& queue_depth() { return queue_depth_; }

 private:
  // Children for every MessageKind value up to this bound; larger values
  // share the "unknown" child.
  static constexpr std::size_t kind_slots = 16;

  struct kind_counters {
    prometheus::Counter* sent_bytes = nullptr;
    prometheus::Counter* received_bytes = nullptr;
    prometheus::Counter* sent_messages = nullptr;
    prometheus::Counter* received_messages = nullptr;
  };

  static constexpr std::size_t index(drop_reason reason) noexcept { return static_cast<std::size_t>(reason); }
  [[nodiscard]] kind_counters& counters_for(mesh::v1::MessageKind kind) noexcept;

  prometheus::Family<prometheus::Counter>& sent_bytes_family_;
  prometheus::Family<prometheus::Counter>& received_bytes_family_;
  prometheus::Family<prometheus::Counter>& sent_messages_family_;
  prometheus::Family<prometheus::Counter>& received_messages_family_;
  prometheus::Family<prometheus::Counter>& dropped_family_;
  std::array<kind_counters, kind_slots + 1> kinds_{};  // last slot: "unknown"
  std::array<prometheus::Counter*, drop_reason_count> dropped_{};
  prometheus::Counter& handshakes_;
  prometheus::Gauge& peers_;
  prometheus::Gauge& queue_depth_;
};

}  // namespace mesh::wire
