#pragma once
// The node-to-node transport: protobuf Envelopes over ZeroMQ, with CURVE
// encryption and authentication when a mesh key is configured. The frame
// layout, limits and drop reasons are in docs/wire-format.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mesh/crypto/mesh_key.hpp"
#include "mesh/error.hpp"
#include "mesh/v1/envelope.pb.h"
#include "mesh/wire/metrics.hpp"

namespace mesh::wire {

// Value of Envelope.protocol_version that this build sends and accepts.
inline constexpr std::uint32_t protocol_version = 1;

struct transport_config {
  // Node id written into Envelope.sender_id of every outbound message.
  std::string node_id;
  // Interface the ROUTER binds to; an IPv6 address is given without brackets.
  std::string bind_address = "0.0.0.0";
  // P2P port; 0 picks a free port, which transport::port() then returns.
  std::uint16_t port = 4001;
  // host:port written into Envelope.sender_address, where peers send replies.
  // Empty: the bind address (127.0.0.1 for 0.0.0.0, ::1 for ::) and the bound port.
  std::string advertise_address;
  // Host for the advertised address when advertise_address is empty; it is
  // combined with the bound port, which matters when `port` is 0.
  std::string advertise_host;
  // CURVE key pair derived from the mesh key; nullopt sends plain TCP.
  std::optional<crypto::curve_keypair> curve;
  // Largest serialized Envelope accepted or sent, in bytes.
  std::size_t max_frame_bytes = 4 * 1024 * 1024;
  // Most envelopes packed into one batch frame. The wire thread batches only
  // envelopes that are already waiting for the same peer, so batching adds no
  // delay; 1 sends every envelope in its own frame.
  std::size_t max_batch_messages = 256;
  // Largest batch frame in bytes; the effective bound is the smaller of this
  // and max_frame_bytes. An envelope that does not fit goes in its own frame.
  std::size_t max_batch_bytes = 64 * 1024;
  // Outbound messages that may wait per peer address; more are dropped with
  // reason "queue_full".
  std::size_t max_queued_per_peer = 4096;
  // An outbound socket with nothing sent for this long is closed, and the
  // messages still waiting on it are dropped with reason "send_failed".
  std::chrono::milliseconds peer_idle_timeout{std::chrono::minutes(2)};
};

// Called on the wire thread for each valid inbound envelope of the kind it is
// registered for. It must not block. Returning an error counts the message as
// dropped with reason "malformed_body" and logs it (rate-limited), so the
// handler validates the body fully before passing it on.
using handler = std::function<result<void>(mesh::v1::Envelope&& envelope)>;

// Owns one wire thread, the only thread that touches ZeroMQ sockets. They are
// a ROUTER bound on the P2P port, one DEALER per remote address (connected on
// the first send, reconnected by ZeroMQ) and the ZAP handler for CURVE. An
// eventfd wakes the thread when send() queues a message.
//
// Thread safety: send(), port(), advertise_address() and stop() may be called
// from any thread. Ownership: the wire_metrics passed to start() must outlive
// the transport; handlers are owned by the transport and destroyed after the
// wire thread has stopped.
class transport {
 public:
  // Binds the ROUTER and starts the wire thread. Fails when the address is
  // invalid or in use, or when the CURVE keys are malformed.
  [[nodiscard]] static result<std::unique_ptr<transport>> start(transport_config config,
                                                                std::map<mesh::v1::MessageKind, handler> handlers,
                                                                wire_metrics& metrics);

  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;
  ~transport();  // stop() with the default linger

  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] const std::string& advertise_address() const noexcept;

  // Queues `body` in an Envelope of `kind` for the peer at `address`
  // (host:port, IPv6 hosts in brackets) and returns without waiting. Fails
  // with errc::invalid_argument for a malformed address, errc::too_large for
  // an envelope over max_frame_bytes, and errc::rejected when the peer's
  // queue is full or the transport has stopped. Every failure is counted.
  // NOTE: a host name that does not resolve is not an error here: ZeroMQ
  // keeps retrying the connection, and the waiting messages are dropped as
  // "send_failed" after peer_idle_timeout.
  [[nodiscard]] result<void> send(const std::string& address, mesh::v1::MessageKind kind, std::string body);

  // Sends what can be sent within `linger`, drops the rest as "send_failed",
  // closes every socket and joins the wire thread. Idempotent; returns after
  // about `linger` at most.
  void stop(std::chrono::milliseconds linger = std::chrono::milliseconds(500));

  class impl;

 private:
  explicit transport(std::unique_ptr<impl> state);

  std::unique_ptr<impl> impl_;
};

// Splits "host:port" (or "[v6]:port") into host and port, and checks that the
// host contains only characters ZeroMQ accepts and that the port is 1-65535.
struct peer_address {
  std::string host;
  std::uint16_t port = 0;
};
[[nodiscard]] result<peer_address> parse_peer_address(std::string_view address);

}  // namespace mesh::wire
