#pragma once
// The state of a transport and its wire thread, private to the wire. The
// thread's work is split by direction. transport.cpp starts, polls and stops
// it and takes the messages of send(), transport_outbound.cpp hands them to
// ZeroMQ, and transport_inbound.cpp reads frames, replies to ZAP requests and
// reads the ROUTER's monitor.

#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "mesh/telemetry/logging.hpp"
#include "mesh/wire/transport.hpp"

namespace mesh::wire {

namespace detail {

using clock = std::chrono::steady_clock;

// libzmq looks for the ZAP handler of a context at this fixed endpoint (RFC 27).
inline constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";
// Each transport creates its own context (impl::context_), so a fixed inproc
// name cannot collide.
inline constexpr const char* monitor_endpoint = "inproc://mesh-wire-router-monitor";
inline constexpr const char* zap_domain = "mesh";

// Inbound envelopes handled per poll wake-up before outbound work gets a
// turn. A batch frame is always finished, so a wake-up may pass this bound by
// less than one batch.
inline constexpr std::size_t max_inbound_per_wakeup = 1024;
// Events taken from epoll per wake-up; more stay for the next epoll_wait.
inline constexpr std::size_t epoll_batch = 256;
// epoll tags of the fixed descriptors. A DEALER's tag is the address of its
// peer_connection, which is never this small.
inline constexpr std::uint64_t tag_wake = 1;
inline constexpr std::uint64_t tag_fixed_socket = 2;

// ZAP requests handled per poll wake-up. Each one blocks a CURVE handshake
// until the reply is sent, and a storm of joining peers queues many at once.
inline constexpr std::size_t max_zap_per_wakeup = 256;

// ZeroMQ per-pipe high-water marks, in ZeroMQ messages (a batch frame counts
// as one). Outbound messages beyond the DEALER's mark wait in the transport's
// own per-peer queue, where max_queued_per_peer bounds them.
inline constexpr int dealer_send_hwm = 1000;
inline constexpr int dealer_receive_hwm = 1000;
inline constexpr int router_receive_hwm = 1000;
inline constexpr int router_send_hwm = 1000;

struct queued_message {
  std::string address;
  mesh::v1::MessageKind kind;
  std::string body;
};

struct waiting_message {
  mesh::v1::MessageKind kind;
  std::string body;
  // Size of the serialized Envelope that carries `body`.
  std::size_t envelope_bytes;
};

// The path to one remote address, with the messages that ZeroMQ has not
// taken yet (the peer is not connected or its high-water mark is reached).
// The path is our own DEALER or, when the peer connected to us first, the
// peer's connection to our ROUTER. Such a peer has no `socket`, and each
// send looks its routing id up in inbound_routes_.
//
// Invariant: when `encoded_count` is above 0, `encoded` is a ZeroMQ message
// that ZeroMQ refused with EAGAIN and that carries the first `encoded_count`
// entries of `waiting`, as one envelope or as one batch frame.
struct peer_connection {
  std::optional<zmq::socket_t> socket;
  std::deque<waiting_message> waiting;
  // Time of the last message handed to ZeroMQ, or of the first message queued
  // after an idle period; the idle timeout runs from here.
  clock::time_point last_progress;
  // Messages sent or dropped since the shared per-peer counts were updated.
  std::size_t released = 0;
  zmq::message_t encoded;
  std::size_t encoded_count = 0;
  // The key of this entry in transport::impl::peers_.
  const std::string* address = nullptr;
  // Listed in transport::impl::due_ or backlog_.
  bool listed = false;
};

// Returns whether `socket` has a message to read. Reading ZMQ_EVENTS also
// clears the signal of its ZMQ_FD.
inline bool has_input(zmq::socket_t& socket) {
  return (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
}

}  // namespace detail

// State shared between the callers of send() and the wire thread, and the
// sockets that only the wire thread touches.
class transport::impl {
  using clock = detail::clock;
  using peer_connection = detail::peer_connection;
  using queued_message = detail::queued_message;

 public:
  impl(transport_config config, std::map<mesh::v1::MessageKind, handler> handlers, wire_metrics& metrics)
      : config_(std::move(config)),
        handlers_(std::move(handlers)),
        metrics_(metrics),
        log_(telemetry::logger("wire")) {}

  ~impl() {
    if (wake_fd_ >= 0) {
      ::close(wake_fd_);
    }
    if (epoll_fd_ >= 0) {
      ::close(epoll_fd_);
    }
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  result<void> open_wake_fd();
  result<std::uint16_t> launch();
  result<void> send(const std::string& address, mesh::v1::MessageKind kind, std::string body);
  void stop(std::chrono::milliseconds linger);

  std::uint16_t port_ = 0;
  std::string advertise_address_;
  transport_config config_;
  // Raw 32-byte form of config_.curve->public_key, compared in ZAP requests.
  std::string curve_public_raw_;
  // ZMQ_MAXMSGSIZE: ZeroMQ closes the connection of a peer that sends more.
  std::int64_t hard_frame_limit_ = 0;
  // Serialized Envelope fields 1-3, the same in every message this node
  // sends. write_envelope() appends fields 4 and 5, which gives the bytes
  // that Envelope::SerializeToString produces, without building an Envelope.
  std::string envelope_header_;
  // Largest batch frame sent: the smaller of max_batch_bytes and max_frame_bytes.
  std::size_t batch_limit_bytes_ = 0;

 private:
  // Wire thread: setup, loop and shutdown.
  void run(std::promise<result<std::uint16_t>>& started);
  std::uint16_t open_sockets();
  void loop();
  void shut_down();

  void poll_once(clock::time_point& next_idle_check);
  void wake();
  void clear_wake();
  void take_queued();
  peer_connection* connect_peer(const std::string& address);
  // Opens a DEALER for a peer whose inbound route is gone; its waiting
  // messages then go through the DEALER. Returns false if that fails.
  bool attach_dealer(peer_connection& peer, const std::string& address);
  void flush(peer_connection& peer, const std::string& address);
  // Sends peer.encoded through the ROUTER over the peer's own connection.
  // Returns nullopt when the route is gone.
  std::optional<bool> send_routed(peer_connection& peer, const std::string& address);
  // Reads from the peer's DEALER and sends its waiting messages. Returns
  // true when work is left for the next wake-up.
  bool serve(peer_connection& peer);
  // Reads at most max_inbound_per_wakeup envelopes from the peer's DEALER.
  // Returns true when more input waits.
  bool receive_from_dealer(peer_connection& peer);
  void watch(int fd, std::uint64_t tag);
  void watch_socket(zmq::socket_t& socket, std::uint64_t tag);
  void unwatch_socket(zmq::socket_t& socket);
  void list(peer_connection& peer);
  peer_connection& add_peer(const std::string& address, std::optional<zmq::socket_t> socket);
  void remember_route(const std::string& address);
  void forget_idle_routes(clock::time_point now);
  void encode_next(peer_connection& peer);
  void release_counts();
  void receive_inbound();
  std::size_t process_frame(zmq::message_t& frame, bool extra_frames);
  std::size_t process_batch(zmq::message_t& frame);
  void process_envelope(const void* data, std::size_t size, zmq::message_t& frame);
  // Replies to the waiting ZAP requests, at most max_zap_per_wakeup of them.
  void answer_zap_requests();
  // Replies to one ZAP request. Returns false when none was waiting.
  bool answer_zap();
  void read_monitor();
  void close_idle_peers(clock::time_point now);
  void drop_waiting(peer_connection& peer, const std::string& address, std::string_view why);
  void log_drop(drop_reason reason, std::string_view detail, std::string_view peer);

  std::map<mesh::v1::MessageKind, handler> handlers_;
  wire_metrics& metrics_;
  std::shared_ptr<spdlog::logger> log_;
  telemetry::rate_limiter drop_log_limit_{10, std::chrono::seconds(10)};

  // Shared with send(); guarded by mutex_.
  std::mutex mutex_;
  std::vector<queued_message> queued_;
  std::unordered_map<std::string, std::size_t> queued_per_peer_;
  bool stopping_ = false;
  std::chrono::milliseconds linger_{0};

  int wake_fd_ = -1;
  // True while the wire thread may block in zmq_poll. send() writes the
  // eventfd only then, so a busy wire thread costs senders no system call.
  std::atomic<bool> poll_sleeping_{false};
  std::mutex stop_mutex_;
  std::thread thread_;

  // Wire thread only.
  std::vector<queued_message> taken_;
  zmq::context_t context_;
  std::optional<zmq::socket_t> router_;
  std::optional<zmq::socket_t> zap_;
  std::optional<zmq::socket_t> monitor_;
  std::unordered_map<std::string, peer_connection> peers_;
  // A peer's connection to our ROUTER: its routing id and when a message
  // last came over it, by the sender_address of its envelopes.
  struct inbound_route {
    std::string routing_id;
    clock::time_point last_seen;
  };
  std::unordered_map<std::string, inbound_route> inbound_routes_;
  // Routing id of the ROUTER frame being processed, or null. It is null for
  // a DEALER frame, and after the first valid envelope of a frame recorded
  // it, because all envelopes of a frame come from the same sender.
  const zmq::message_t* current_route_ = nullptr;
  // epoll instance of the wire thread. It watches the eventfd and the
  // ZMQ_FD of every socket, so a wake-up costs work for the sockets that
  // signaled, not for every peer.
  int epoll_fd_ = -1;
  std::vector<epoll_event> epoll_events_;
  // Peers to serve in the next poll_once: their DEALER signaled or has input
  // left, or they got messages. While any is listed, the poll does not block.
  std::vector<peer_connection*> due_;
  // Peers with messages that ZeroMQ did not take yet. They get a try on every
  // wake-up; a DEALER that becomes writable also signals on its own.
  std::vector<peer_connection*> backlog_;
  // The ROUTER, the ZAP socket or the monitor has input left after a bounded read.
  bool fixed_input_left_ = false;
  // Reused for every inbound envelope, so its string fields keep their capacity.
  mesh::v1::Envelope inbound_;
  // Offsets and sizes of the envelopes of the batch frame being processed.
  std::vector<std::pair<std::size_t, std::size_t>> batch_entries_;
};

}  // namespace mesh::wire
