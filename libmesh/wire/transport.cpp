#include "mesh/wire/transport.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <future>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "mesh/telemetry/logging.hpp"
#include "wire/envelope_codec.hpp"
#include "wire/peer_address.hpp"

namespace mesh::wire {

namespace {

using namespace detail;
using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// libzmq looks for the ZAP handler of a context at this fixed endpoint (RFC 27).
constexpr const char* zap_endpoint = "inproc://zeromq.zap.01";
// Each transport has its own context, so a fixed inproc name cannot collide.
constexpr const char* monitor_endpoint = "inproc://mesh-wire-router-monitor";
constexpr const char* zap_domain = "mesh";

// Inbound envelopes handled per poll wake-up before outbound work gets a
// turn. A batch frame is always finished, so a wake-up may pass this bound by
// less than one batch.
constexpr std::size_t max_inbound_per_wakeup = 1024;
// Events taken from epoll per wake-up; more stay for the next epoll_wait.
constexpr std::size_t epoll_batch = 256;
// epoll tags of the fixed descriptors. A DEALER's tag is the address of its
// peer_connection, which is never this small.
constexpr std::uint64_t tag_wake = 1;
constexpr std::uint64_t tag_fixed_socket = 2;

// ZAP requests handled per poll wake-up. Each one blocks a CURVE handshake
// until the reply is sent, and a storm of joining peers queues many at once.
constexpr std::size_t max_zap_per_wakeup = 256;

// ZeroMQ per-pipe high-water marks, in ZeroMQ messages (a batch frame counts
// as one). Outbound messages beyond the DEALER's mark wait in the transport's
// own per-peer queue, where max_queued_per_peer bounds them.
constexpr int dealer_send_hwm = 1000;
constexpr int dealer_receive_hwm = 1000;
constexpr int router_receive_hwm = 1000;
constexpr int router_send_hwm = 1000;

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

}  // namespace

// State shared between the callers of send() and the wire thread, and the
// sockets that only the wire thread touches.
class transport::impl {
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
  telemetry::rate_limiter drop_log_limit_{10, 10s};

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

result<void> transport::impl::open_wake_fd() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return fail(errc::io_error, std::string("eventfd failed: ") + std::strerror(errno));
  }
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    return fail(errc::io_error, std::string("epoll_create1 failed: ") + std::strerror(errno));
  }
  epoll_events_.resize(epoll_batch);
  return {};
}

result<std::uint16_t> transport::impl::launch() {
  std::promise<result<std::uint16_t>> started;
  auto started_future = started.get_future();
  thread_ = std::thread([this, &started] { run(started); });

  auto port = started_future.get();
  if (!port) {
    thread_.join();
  }
  return port;
}

void transport::impl::run(std::promise<result<std::uint16_t>>& started) {
  try {
    const auto port = open_sockets();
    if (advertise_address_.empty()) {
      std::string host = config_.advertise_host.empty() ? config_.bind_address : config_.advertise_host;
      if (host == "0.0.0.0") {
        host = "127.0.0.1";
      } else if (host == "::") {
        host = "::1";
      }
      advertise_address_ = bracket_if_ipv6(host) + ":" + std::to_string(port);
    }
    mesh::v1::Envelope header;
    header.set_protocol_version(protocol_version);
    header.set_sender_id(config_.node_id);
    header.set_sender_address(advertise_address_);
    envelope_header_ = header.SerializeAsString();
    started.set_value(port);
  } catch (const std::exception& e) {
    const std::string where = bracket_if_ipv6(config_.bind_address) + ":" + std::to_string(config_.port);
    if (router_) {
      router_->close();
    }
    zap_.reset();
    monitor_.reset();
    router_.reset();
    context_.close();
    started.set_value(fail(errc::io_error, "cannot open the P2P ROUTER on " + where + ": " + e.what() +
                                               "; choose a free port or another bind_address"));
    return;
  }

  log_->info("wire transport started port={} advertise={} curve={} max_frame_bytes={}", port_,
             advertise_address_, config_.curve ? "on" : "off", config_.max_frame_bytes);
  loop();
  shut_down();
}

std::uint16_t transport::impl::open_sockets() {
  // Sockets close with linger 0 unless shut_down() sets a linger, so context
  // termination does not wait for an unreachable peer.
  context_.set(zmq::ctxopt::blocky, 0);

  // The ZAP handler must be bound before the CURVE server accepts a peer.
  if (config_.curve) {
    zap_.emplace(context_, zmq::socket_type::rep);
    zap_->set(zmq::sockopt::linger, 0);
    zap_->bind(zap_endpoint);
  }

  router_.emplace(context_, zmq::socket_type::router);
  router_->set(zmq::sockopt::linger, 0);
  router_->set(zmq::sockopt::rcvhwm, router_receive_hwm);
  router_->set(zmq::sockopt::sndhwm, router_send_hwm);
  // A send to a routing id whose connection is gone fails with EHOSTUNREACH
  // instead of vanishing, so the message can go through a DEALER instead.
  router_->set(zmq::sockopt::router_mandatory, 1);
  router_->set(zmq::sockopt::maxmsgsize, hard_frame_limit_);
  router_->set(zmq::sockopt::tcp_keepalive, 1);
  router_->set(zmq::sockopt::tcp_keepalive_idle, 60);
  router_->set(zmq::sockopt::tcp_keepalive_intvl, 10);
  router_->set(zmq::sockopt::tcp_keepalive_cnt, 3);
  if (config_.bind_address.find(':') != std::string::npos) {
    router_->set(zmq::sockopt::ipv6, 1);
  }
  if (config_.curve) {
    router_->set(zmq::sockopt::curve_server, 1);
    router_->set(zmq::sockopt::curve_secretkey, config_.curve->secret_key);
    router_->set(zmq::sockopt::zap_domain, zap_domain);
  }

  if (zmq_socket_monitor(router_->handle(), monitor_endpoint,
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0) {
    throw zmq::error_t();
  }
  monitor_.emplace(context_, zmq::socket_type::pair);
  monitor_->set(zmq::sockopt::linger, 0);
  monitor_->connect(monitor_endpoint);

  watch(wake_fd_, tag_wake);
  watch_socket(*router_, tag_fixed_socket);
  watch_socket(*monitor_, tag_fixed_socket);
  if (zap_) {
    watch_socket(*zap_, tag_fixed_socket);
  }

  const std::string port_text = config_.port == 0 ? "*" : std::to_string(config_.port);
  router_->bind("tcp://" + bracket_if_ipv6(config_.bind_address) + ":" + port_text);

  const std::string endpoint = router_->get(zmq::sockopt::last_endpoint);
  port_ = static_cast<std::uint16_t>(std::stoul(endpoint.substr(endpoint.rfind(':') + 1)));
  return port_;
}

void transport::impl::loop() {
  auto next_idle_check = clock::now();
  while (true) {
    try {
      std::unique_lock lock(mutex_);
      if (stopping_) {
        return;
      }
      lock.unlock();
      poll_once(next_idle_check);
    } catch (const zmq::error_t& e) {
      if (e.num() == ETERM) {
        return;
      }
      std::uint64_t suppressed = 0;
      if (drop_log_limit_.allow(suppressed)) {
        log_->error("wire loop caught a ZeroMQ error error=\"{}\" suppressed={}", e.what(), suppressed);
      }
    }
  }
}

namespace {

bool has_input(zmq::socket_t& socket) {
  return (socket.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
}

}  // namespace

// ZMQ_FD signals that a socket's state may have changed, and reading
// ZMQ_EVENTS clears the signal. Any other call on the socket can clear it
// too. So every socket that was read or written is asked for ZMQ_EVENTS
// again before the thread blocks, and one with input left keeps the next
// poll from blocking.
void transport::impl::poll_once(clock::time_point& next_idle_check) {
  // The flag is set before the queue is checked, and send() reads it after
  // queueing, so either this check sees the new message or send() sees the
  // flag and writes the eventfd.
  poll_sleeping_.store(true);
  bool has_queued = false;
  {
    std::lock_guard lock(mutex_);
    has_queued = !queued_.empty();
  }
  const auto now = clock::now();
  const bool busy = has_queued || !due_.empty() || fixed_input_left_;
  const auto until_idle_check = std::chrono::duration_cast<std::chrono::milliseconds>(next_idle_check - now);
  const int timeout = busy ? 0 : static_cast<int>(std::max(until_idle_check, 0ms).count());
  const int ready = ::epoll_wait(epoll_fd_, epoll_events_.data(), static_cast<int>(epoll_events_.size()), timeout);
  poll_sleeping_.store(false);

  for (int i = 0; i < ready; ++i) {
    const auto tag = epoll_events_[static_cast<std::size_t>(i)].data.u64;
    if (tag == tag_wake) {
      clear_wake();
    } else if (tag != tag_fixed_socket) {
      list(*reinterpret_cast<peer_connection*>(static_cast<std::uintptr_t>(tag)));
    }
  }
  take_queued();

  // ZAP requests go first, because every message to or from a new CURVE peer
  // waits for the ZAP reply, and up to 1024 inbound envelopes would go before it.
  if (zap_ && has_input(*zap_)) {
    answer_zap_requests();
  }
  if (has_input(*router_)) {
    receive_inbound();
  }
  if (has_input(*monitor_)) {
    read_monitor();
  }

  // flush() returns at once for a peer that cannot take a message, so every
  // peer with waiting messages gets a try, whichever event woke the thread.
  auto serving = std::move(due_);
  due_.clear();
  serving.insert(serving.end(), backlog_.begin(), backlog_.end());
  backlog_.clear();
  for (auto* peer : serving) {
    peer->listed = false;
  }
  for (auto* peer : serving) {
    if (serve(*peer)) {
      peer->listed = true;
      due_.push_back(peer);
    } else if (!peer->waiting.empty()) {
      peer->listed = true;
      backlog_.push_back(peer);
    }
  }
  release_counts();

  // Routed sends went through the ROUTER, which may have cleared its signal.
  fixed_input_left_ = has_input(*router_) || (zap_ && has_input(*zap_)) || has_input(*monitor_);

  const auto after = clock::now();
  if (after >= next_idle_check) {
    close_idle_peers(after);
    forget_idle_routes(after);
    const auto check_every = std::clamp(config_.peer_idle_timeout / 4, std::chrono::milliseconds(10),
                                        std::chrono::milliseconds(1000));
    next_idle_check = after + check_every;
  }
}

bool transport::impl::serve(peer_connection& peer) {
  if (!peer.socket) {
    if (!peer.waiting.empty()) {
      flush(peer, *peer.address);
    }
    // flush() may have attached a DEALER, which signals once it connects.
    return false;
  }
  bool input_left = false;
  if (has_input(*peer.socket)) {
    input_left = receive_from_dealer(peer);
  }
  if (!peer.waiting.empty()) {
    flush(peer, *peer.address);
  }
  // Sending may have cleared the signal of input that arrived meanwhile.
  return input_left || has_input(*peer.socket);
}

void transport::impl::list(peer_connection& peer) {
  if (!peer.listed) {
    peer.listed = true;
    due_.push_back(&peer);
  }
}

void transport::impl::watch(int fd, std::uint64_t tag) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = tag;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    throw zmq::error_t();
  }
}

void transport::impl::watch_socket(zmq::socket_t& socket, std::uint64_t tag) {
  watch(socket.get(zmq::sockopt::fd), tag);
}

void transport::impl::unwatch_socket(zmq::socket_t& socket) {
  // ZeroMQ closes a socket's descriptor later, on its reaper thread, so the
  // descriptor leaves the epoll set here, before the socket closes.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, socket.get(zmq::sockopt::fd), nullptr);
}

peer_connection& transport::impl::add_peer(const std::string& address, std::optional<zmq::socket_t> socket) {
  auto [it, inserted] = peers_.emplace(address, peer_connection{std::move(socket), {}, clock::now(), 0});
  auto& peer = it->second;
  peer.address = &it->first;
  if (peer.socket) {
    watch_socket(*peer.socket, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&peer)));
  }
  metrics_.peers().Increment();
  return peer;
}

void transport::impl::wake() {
  const std::uint64_t one = 1;
  // A full counter (EAGAIN) still leaves the eventfd readable, so the wire
  // thread wakes either way.
  [[maybe_unused]] const auto written = ::write(wake_fd_, &one, sizeof(one));
}

void transport::impl::clear_wake() {
  std::uint64_t count = 0;
  [[maybe_unused]] const auto read_bytes = ::read(wake_fd_, &count, sizeof(count));
}

void transport::impl::take_queued() {
  taken_.clear();
  {
    std::lock_guard lock(mutex_);
    taken_.swap(queued_);
  }

  const auto now = clock::now();
  const std::string* last_address = nullptr;
  peer_connection* last_peer = nullptr;
  for (auto& message : taken_) {
    peer_connection* peer = nullptr;
    if (last_address != nullptr && *last_address == message.address) {
      peer = last_peer;
    } else {
      auto it = peers_.find(message.address);
      if (it != peers_.end()) {
        peer = &it->second;
      } else if (inbound_routes_.count(message.address) != 0) {
        // The peer connected to us: reply over its connection instead of
        // opening a second one, which saves a handshake per peer pair.
        peer = &add_peer(message.address, std::nullopt);
      } else {
        peer = connect_peer(message.address);
      }
      last_address = &message.address;
      last_peer = peer;
    }
    if (peer == nullptr) {
      metrics_.record_dropped(drop_reason::invalid_address);
      std::lock_guard lock(mutex_);
      auto count = queued_per_peer_.find(message.address);
      if (count != queued_per_peer_.end() && --count->second == 0) {
        queued_per_peer_.erase(count);
      }
      metrics_.queue_depth().Decrement();
      continue;
    }
    if (peer->waiting.empty()) {
      peer->last_progress = now;
    }
    const auto bytes = envelope_size(envelope_header_.size(), message.kind, message.body.size());
    peer->waiting.push_back(waiting_message{message.kind, std::move(message.body), bytes});
    list(*peer);
  }
  taken_.clear();
}

namespace {

// Opens a DEALER to `address` with the transport's options.
zmq::socket_t open_dealer(zmq::context_t& context, const transport_config& config, std::int64_t hard_frame_limit,
                          const std::string& address) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, dealer_send_hwm);
  socket.set(zmq::sockopt::rcvhwm, dealer_receive_hwm);
  socket.set(zmq::sockopt::maxmsgsize, hard_frame_limit);
  // Messages wait in our queue, not in a ZeroMQ pipe, until the connection
  // is up, so an unreachable peer fills its max_queued_per_peer.
  socket.set(zmq::sockopt::immediate, 1);
  socket.set(zmq::sockopt::ipv6, 1);
  socket.set(zmq::sockopt::reconnect_ivl, 100);
  // A short cap on the reconnect backoff: a peer that restarts on the same
  // address is reachable again within half a second, before its probes
  // time out and turn into a suspicion.
  socket.set(zmq::sockopt::reconnect_ivl_max, 500);
  socket.set(zmq::sockopt::connect_timeout, 5000);
  socket.set(zmq::sockopt::tcp_keepalive, 1);
  socket.set(zmq::sockopt::tcp_keepalive_idle, 60);
  socket.set(zmq::sockopt::tcp_keepalive_intvl, 10);
  socket.set(zmq::sockopt::tcp_keepalive_cnt, 3);
  if (config.curve) {
    socket.set(zmq::sockopt::curve_serverkey, config.curve->public_key);
    socket.set(zmq::sockopt::curve_publickey, config.curve->public_key);
    socket.set(zmq::sockopt::curve_secretkey, config.curve->secret_key);
  }
  socket.connect("tcp://" + address);
  return socket;
}

}  // namespace

peer_connection* transport::impl::connect_peer(const std::string& address) {
  try {
    auto& peer = add_peer(address, open_dealer(context_, config_, hard_frame_limit_, address));
    log_->debug("peer socket opened address={}", address);
    return &peer;
  } catch (const zmq::error_t& e) {
    log_drop(drop_reason::invalid_address, e.what(), address);
    return nullptr;
  }
}

bool transport::impl::attach_dealer(peer_connection& peer, const std::string& address) {
  try {
    peer.socket.emplace(open_dealer(context_, config_, hard_frame_limit_, address));
    watch_socket(*peer.socket, static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(&peer)));
    log_->debug("peer socket opened after its inbound route closed address={}", address);
    return true;
  } catch (const zmq::error_t& e) {
    drop_waiting(peer, address, e.what());
    return false;
  }
}

void transport::impl::flush(peer_connection& peer, const std::string& address) {
  if (!peer.socket) {
    bool progressed = false;
    while (!peer.waiting.empty()) {
      if (peer.encoded_count == 0) {
        encode_next(peer);
      }
      const auto sent = send_routed(peer, address);
      if (!sent) {
        // The peer's connection closed: continue through our own DEALER.
        if (attach_dealer(peer, address)) {
          flush(peer, address);
        }
        return;
      }
      if (!*sent) {
        break;
      }
      for (std::size_t i = 0; i < peer.encoded_count; ++i) {
        const auto& message = peer.waiting.front();
        metrics_.record_sent(message.kind, message.envelope_bytes);
        peer.waiting.pop_front();
      }
      peer.released += peer.encoded_count;
      peer.encoded_count = 0;
      progressed = true;
    }
    if (progressed) {
      peer.last_progress = clock::now();
    }
    return;
  }

  auto& socket = *peer.socket;
  // Asking first saves encoding a message for a peer that is not connected.
  if ((socket.get(zmq::sockopt::events) & ZMQ_POLLOUT) == 0) {
    return;
  }

  bool progressed = false;
  while (!peer.waiting.empty()) {
    if (peer.encoded_count == 0) {
      encode_next(peer);
    }
    const std::size_t count = peer.encoded_count;

    zmq::send_result_t sent;
    try {
      sent = socket.send(peer.encoded, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      metrics_.record_dropped(drop_reason::send_failed, static_cast<double>(count));
      log_drop(drop_reason::send_failed, e.what(), "");
      peer.waiting.erase(peer.waiting.begin(), peer.waiting.begin() + static_cast<std::ptrdiff_t>(count));
      peer.released += count;
      peer.encoded_count = 0;
      continue;
    }
    if (!sent) {
      // The high-water mark was reached. A refused message stays intact in
      // peer.encoded and is sent first on the next attempt.
      break;
    }

    for (std::size_t i = 0; i < count; ++i) {
      const auto& message = peer.waiting.front();
      metrics_.record_sent(message.kind, message.envelope_bytes);
      peer.waiting.pop_front();
    }
    peer.released += count;
    peer.encoded_count = 0;
    progressed = true;
  }
  if (progressed) {
    peer.last_progress = clock::now();
  }
}

namespace {

// Reads and discards the frames after `frame` of a multipart message, so the
// next read starts at a new message. Returns whether there were any.
bool discard_rest(zmq::socket_t& socket, const zmq::message_t& frame) {
  bool discarded = false;
  bool more = frame.more();
  while (more) {
    zmq::message_t extra;
    if (!socket.recv(extra, zmq::recv_flags::dontwait)) {
      break;
    }
    discarded = true;
    more = extra.more();
  }
  return discarded;
}

}  // namespace

std::optional<bool> transport::impl::send_routed(peer_connection& peer, const std::string& address) {
  const auto route = inbound_routes_.find(address);
  if (route == inbound_routes_.end()) {
    return std::nullopt;
  }
  const auto& id = route->second.routing_id;
  // A copy, because ZeroMQ empties a message it accepts and a refused
  // routing id frame must not leave the encoded frame half sent.
  zmq::message_t frame(peer.encoded.data(), peer.encoded.size());
  try {
    if (!router_->send(zmq::buffer(id), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      return false;
    }
    // libzmq checks the high-water mark on the first part of a message
    // only, so after the routing id frame this part is accepted too.
    (void)router_->send(frame, zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    if (e.num() == EHOSTUNREACH) {
      inbound_routes_.erase(route);
      return std::nullopt;
    }
    throw;
  }
  return true;
}

bool transport::impl::receive_from_dealer(peer_connection& peer) {
  zmq::message_t frame;
  std::size_t envelopes = 0;
  bool received = false;
  while (envelopes < max_inbound_per_wakeup && peer.socket->recv(frame, zmq::recv_flags::dontwait)) {
    received = true;
    const bool extra_frames = discard_rest(*peer.socket, frame);
    envelopes += process_frame(frame, extra_frames);
  }
  // The peer sends over this DEALER, so it is in use even when this node
  // sends nothing. Closing it as idle would cut off the peer's messages.
  if (received && peer.waiting.empty()) {
    peer.last_progress = clock::now();
  }
  return envelopes >= max_inbound_per_wakeup;
}

void transport::impl::remember_route(const std::string& address) {
  const auto now = clock::now();
  auto it = inbound_routes_.find(address);
  if (it == inbound_routes_.end()) {
    inbound_routes_.emplace(address, inbound_route{current_route_->to_string(), now});
    return;
  }
  if (it->second.routing_id != current_route_->to_string_view()) {
    it->second.routing_id = current_route_->to_string();
  }
  it->second.last_seen = now;
}

void transport::impl::forget_idle_routes(clock::time_point now) {
  for (auto it = inbound_routes_.begin(); it != inbound_routes_.end();) {
    if (now - it->second.last_seen >= config_.peer_idle_timeout) {
      it = inbound_routes_.erase(it);
    } else {
      ++it;
    }
  }
}

// Encodes the front of the peer's queue into peer.encoded: one envelope, or a
// batch frame (docs/wire-format.md, "Batch frames") when at least two waiting
// envelopes fit into batch_limit_bytes_ and max_batch_messages.
void transport::impl::encode_next(peer_connection& peer) {
  const auto max_count = std::min(config_.max_batch_messages, peer.waiting.size());
  // The count prefix is sized for max_count, so adding an entry never makes
  // an earlier size check wrong.
  std::size_t batch_bytes = 1 + varint_size(max_count);
  std::size_t count = 0;
  while (count < max_count) {
    const auto envelope_bytes = peer.waiting[count].envelope_bytes;
    const auto entry_bytes = varint_size(envelope_bytes) + envelope_bytes;
    if (batch_bytes + entry_bytes > batch_limit_bytes_) {
      break;
    }
    batch_bytes += entry_bytes;
    ++count;
  }

  if (count < 2) {
    const auto& message = peer.waiting.front();
    peer.encoded.rebuild(message.envelope_bytes);
    write_envelope(peer.encoded.data<char>(), envelope_header_, message.kind, message.body);
    peer.encoded_count = 1;
    return;
  }

  batch_bytes = 1 + varint_size(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto envelope_bytes = peer.waiting[i].envelope_bytes;
    batch_bytes += varint_size(envelope_bytes) + envelope_bytes;
  }
  peer.encoded.rebuild(batch_bytes);
  char* out = peer.encoded.data<char>();
  *out++ = static_cast<char>(batch_marker);
  out = write_varint(out, count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& message = peer.waiting[i];
    out = write_varint(out, message.envelope_bytes);
    out = write_envelope(out, envelope_header_, message.kind, message.body);
  }
  peer.encoded_count = count;
}

void transport::impl::release_counts() {
  std::size_t total = 0;
  std::lock_guard lock(mutex_);
  for (auto& [address, peer] : peers_) {
    if (peer.released == 0) {
      continue;
    }
    auto count = queued_per_peer_.find(address);
    if (count != queued_per_peer_.end()) {
      count->second -= std::min(count->second, peer.released);
      if (count->second == 0) {
        queued_per_peer_.erase(count);
      }
    }
    total += peer.released;
    peer.released = 0;
  }
  if (total > 0) {
    metrics_.queue_depth().Decrement(static_cast<double>(total));
  }
}

void transport::impl::receive_inbound() {
  std::size_t envelopes = 0;
  zmq::message_t routing_id;
  zmq::message_t frame;
  while (envelopes < max_inbound_per_wakeup) {
    if (!router_->recv(routing_id, zmq::recv_flags::dontwait)) {
      return;
    }
    if (!routing_id.more()) {
      continue;
    }

    if (!router_->recv(frame, zmq::recv_flags::dontwait)) {
      return;
    }

    // A DEALER of this transport sends exactly one frame. The rest of a longer
    // multipart message is read and discarded, so the next read starts at a routing id.
    const bool extra_frames = discard_rest(*router_, frame);
    current_route_ = &routing_id;
    envelopes += process_frame(frame, extra_frames);
    current_route_ = nullptr;
  }
}

namespace {

// Returns the TCP address of the peer that sent `frame`, for log lines.
std::string peer_of(zmq::message_t& frame) {
  const char* address = nullptr;
  try {
    address = frame.gets("Peer-Address");
  } catch (const zmq::error_t&) {
    return "unknown";
  }
  return address != nullptr ? address : "unknown";
}

}  // namespace

// Validates one frame from the ROUTER and passes its envelopes to their
// handlers. Returns the number of envelopes the frame contained, at least 1.
std::size_t transport::impl::process_frame(zmq::message_t& frame, bool extra_frames) {
  if (frame.size() > config_.max_frame_bytes) {
    metrics_.record_dropped(drop_reason::oversized);
    log_drop(drop_reason::oversized, "frame of " + std::to_string(frame.size()) + " bytes", peer_of(frame));
    return 1;
  }
  if (extra_frames) {
    metrics_.record_dropped(drop_reason::malformed_envelope);
    log_drop(drop_reason::malformed_envelope, "more than one frame after the routing id", peer_of(frame));
    return 1;
  }
  if (frame.size() > 0 && *frame.data<unsigned char>() == batch_marker) {
    return process_batch(frame);
  }
  process_envelope(frame.data(), frame.size(), frame);
  return 1;
}

// Checks the whole batch container before any envelope is delivered, so a
// truncated or inconsistent container is dropped as one malformed_envelope.
// After that each envelope is validated and counted on its own.
std::size_t transport::impl::process_batch(zmq::message_t& frame) {
  const auto* begin = frame.data<unsigned char>();
  const auto* end = begin + frame.size();
  const auto* in = begin + 1;

  const auto malformed = [&](const std::string& why) -> std::size_t {
    metrics_.record_dropped(drop_reason::malformed_envelope);
    log_drop(drop_reason::malformed_envelope, "batch frame of " + std::to_string(frame.size()) + " bytes: " + why,
             peer_of(frame));
    return 1;
  };

  const auto count = read_varint(&in, end);
  if (!count || *count == 0) {
    return malformed("missing or zero envelope count");
  }
  // Every entry takes at least one byte, which bounds the count before
  // anything is reserved for it.
  if (*count > static_cast<std::uint64_t>(end - in)) {
    return malformed("envelope count " + std::to_string(*count) + " exceeds the frame");
  }

  auto& entries = batch_entries_;
  entries.clear();
  for (std::uint64_t i = 0; i < *count; ++i) {
    const auto length = read_varint(&in, end);
    if (!length || *length > static_cast<std::uint64_t>(end - in)) {
      return malformed("envelope " + std::to_string(i) + " of " + std::to_string(*count) + " is truncated");
    }
    entries.emplace_back(static_cast<std::size_t>(in - begin), static_cast<std::size_t>(*length));
    in += *length;
  }
  if (in != end) {
    return malformed(std::to_string(end - in) + " bytes after the last envelope");
  }

  for (const auto& [offset, size] : entries) {
    process_envelope(begin + offset, size, frame);
  }
  return entries.size();
}

// Decodes and checks one envelope and passes it to its handler. Every
// failure is counted and logged; `frame` names the peer in log lines.
void transport::impl::process_envelope(const void* data, std::size_t size, zmq::message_t& frame) {
  auto& envelope = inbound_;
  envelope.Clear();
  if (!envelope.ParseFromArray(data, static_cast<int>(size))) {
    metrics_.record_dropped(drop_reason::malformed_envelope);
    log_drop(drop_reason::malformed_envelope, "not a mesh.v1.Envelope", peer_of(frame));
    return;
  }
  if (envelope.protocol_version() != protocol_version) {
    metrics_.record_dropped(drop_reason::unsupported_version);
    log_drop(drop_reason::unsupported_version,
             "protocol_version " + std::to_string(envelope.protocol_version()) + ", expected " +
                 std::to_string(protocol_version),
             peer_of(frame));
    return;
  }
  if (current_route_ != nullptr && !envelope.sender_address().empty()) {
    remember_route(envelope.sender_address());
    current_route_ = nullptr;
  }
  const auto kind = envelope.kind();
  auto handler_it = handlers_.find(kind);
  if (handler_it == handlers_.end()) {
    metrics_.record_dropped(drop_reason::unknown_kind);
    log_drop(drop_reason::unknown_kind, "kind " + std::to_string(static_cast<int>(kind)), peer_of(frame));
    return;
  }

  metrics_.record_received(kind, size);
  // The handler may move fields out of the envelope, so the sender id for
  // the log line is copied only when the handler fails.
  result<void> handled;
  try {
    handled = handler_it->second(std::move(envelope));
  } catch (const std::exception& e) {
    handled = fail(errc::decode_error, std::string("handler threw: ") + e.what());
  }
  if (!handled) {
    metrics_.record_dropped(drop_reason::malformed_body);
    log_drop(drop_reason::malformed_body, std::string(kind_label(kind)) + " body: " + handled.err().message,
             peer_of(frame));
  }
}

void transport::impl::answer_zap_requests() {
  for (std::size_t answered = 0; answered < max_zap_per_wakeup; ++answered) {
    if (!answer_zap()) {
      return;
    }
  }
}

bool transport::impl::answer_zap() {
  std::vector<zmq::message_t> request;
  while (true) {
    zmq::message_t part;
    if (!zap_->recv(part, zmq::recv_flags::dontwait)) {
      break;
    }
    const bool more = part.more();
    request.push_back(std::move(part));
    if (!more) {
      break;
    }
  }
  if (request.empty()) {
    return false;
  }

  // ZAP request frames (RFC 27): version, request id, domain, address,
  // identity, mechanism, then the mechanism's credentials. For CURVE the one
  // credential is the client's 32-byte public key.
  const auto text = [&request](std::size_t i) {
    return i < request.size() ? request[i].to_string() : std::string();
  };
  const std::string version = text(0);
  const std::string mechanism = text(5);
  const bool admitted = version == "1.0" && mechanism == "CURVE" && request.size() == 7 &&
                        request[6].to_string_view() == curve_public_raw_;

  const std::array<std::string, 6> reply = {
      "1.0", text(1), admitted ? "200" : "400", admitted ? "OK" : "client key is not the mesh key", "", ""};
  for (std::size_t i = 0; i < reply.size(); ++i) {
    zap_->send(zmq::buffer(reply[i]), i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }

  if (admitted) {
    metrics_.handshakes().Increment();
  } else {
    metrics_.record_dropped(drop_reason::auth_failed);
    log_drop(drop_reason::auth_failed, "ZAP rejected mechanism " + mechanism, text(3));
  }
  return true;
}

void transport::impl::read_monitor() {
  // Monitor events are two frames: 2 bytes event id and 4 bytes value, then
  // the endpoint (zmq_socket_monitor(3)).
  zmq::message_t event_frame;
  if (!monitor_->recv(event_frame, zmq::recv_flags::dontwait)) {
    return;
  }
  zmq::message_t endpoint_frame;
  if (event_frame.more()) {
    (void)monitor_->recv(endpoint_frame, zmq::recv_flags::dontwait);
  }
  if (event_frame.size() < 6) {
    return;
  }
  std::uint16_t event = 0;
  std::memcpy(&event, event_frame.data(), sizeof(event));

  // A ZAP denial shows up as HANDSHAKE_FAILED_AUTH and was counted when the
  // ZAP reply was sent. A protocol failure is a peer with another mesh key,
  // one without CURVE, or one that does not speak ZMTP.
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
    metrics_.record_dropped(drop_reason::auth_failed);
    // libzmq 4.3 reports the listening endpoint here, not the remote one.
    log_drop(drop_reason::auth_failed,
             "handshake failed on " + endpoint_frame.to_string() + " (another mesh key, or CURVE on one side only)",
             "");
  }
}

void transport::impl::close_idle_peers(clock::time_point now) {
  for (auto it = peers_.begin(); it != peers_.end();) {
    auto& peer = it->second;
    if (now - peer.last_progress < config_.peer_idle_timeout) {
      ++it;
      continue;
    }
    if (!peer.waiting.empty()) {
      drop_waiting(peer, it->first, "peer unreachable for peer_idle_timeout");
    }
    if (peer.socket) {
      log_->debug("peer socket closed after idle timeout address={}", it->first);
      unwatch_socket(*peer.socket);
      peer.socket->close();
    }
    if (peer.listed) {
      std::erase(due_, &peer);
      std::erase(backlog_, &peer);
    }
    metrics_.peers().Decrement();
    // The count of the dropped messages must reach queued_per_peer_ before
    // the peer entry with its `released` field goes away.
    {
      std::lock_guard lock(mutex_);
      auto count = queued_per_peer_.find(it->first);
      if (count != queued_per_peer_.end()) {
        count->second -= std::min(count->second, peer.released);
        if (count->second == 0) {
          queued_per_peer_.erase(count);
        }
      }
    }
    metrics_.queue_depth().Decrement(static_cast<double>(peer.released));
    it = peers_.erase(it);
  }
}

void transport::impl::drop_waiting(peer_connection& peer, const std::string& address, std::string_view why) {
  const auto count = peer.waiting.size();
  metrics_.record_dropped(drop_reason::send_failed, static_cast<double>(count));
  log_->warn("dropped outbound messages reason=send_failed address={} count={} cause=\"{}\"", address, count, why);
  peer.released += count;
  peer.waiting.clear();
  peer.encoded_count = 0;
}

void transport::impl::log_drop(drop_reason reason, std::string_view detail, std::string_view peer) {
  std::uint64_t suppressed = 0;
  if (drop_log_limit_.allow(suppressed)) {
    log_->warn("dropped message reason={} peer={} detail=\"{}\" suppressed_since_last={}", to_string(reason),
               peer.empty() ? "-" : peer, detail, suppressed);
  }
}

void transport::impl::shut_down() {
  std::chrono::milliseconds linger{0};
  {
    std::lock_guard lock(mutex_);
    linger = linger_;
  }
  const auto deadline = clock::now() + linger;

  try {
    take_queued();

    // Hand over what the peers accept until the linger runs out.
    while (clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items;
      bool routed_waiting = false;
      for (auto& [address, peer] : peers_) {
        flush(peer, address);
        if (peer.waiting.empty()) {
          continue;
        }
        if (peer.socket) {
          items.push_back({peer.socket->handle(), 0, ZMQ_POLLOUT, 0});
        } else {
          routed_waiting = true;
        }
      }
      if (routed_waiting) {
        items.push_back({router_->handle(), 0, ZMQ_POLLOUT, 0});
      }
      if (items.empty()) {
        break;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      zmq::poll(items.data(), items.size(), std::clamp(left, 1ms, 50ms));
    }
  } catch (const zmq::error_t& e) {
    log_->error("error while flushing at stop error=\"{}\"", e.what());
  }

  for (auto& [address, peer] : peers_) {
    if (!peer.waiting.empty()) {
      drop_waiting(peer, address, "transport stopped");
    }
  }
  release_counts();

  // Messages already inside ZeroMQ get whatever is left of the linger.
  const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()), 0ms);
  for (auto& [address, peer] : peers_) {
    if (!peer.socket) {
      continue;
    }
    try {
      peer.socket->set(zmq::sockopt::linger, static_cast<int>(left.count()));
    } catch (const zmq::error_t&) {
      // The socket closes with linger 0 then.
    }
    peer.socket->close();
  }
  // Replies sent through the ROUTER get the same linger.
  try {
    router_->set(zmq::sockopt::linger, static_cast<int>(left.count()));
  } catch (const zmq::error_t&) {
    // The ROUTER closes with linger 0 then.
  }
  metrics_.peers().Decrement(static_cast<double>(peers_.size()));
  peers_.clear();

  zmq_socket_monitor(router_->handle(), nullptr, 0);
  monitor_.reset();
  zap_.reset();
  router_.reset();
  context_.close();
  log_->info("wire transport stopped port={}", port_);
}

result<void> transport::impl::send(const std::string& address, mesh::v1::MessageKind kind, std::string body) {
  std::string_view host;
  std::uint16_t port = 0;
  if (auto why = split_peer_address(address, host, port)) {
    metrics_.record_dropped(drop_reason::invalid_address);
    return invalid_peer_address(address, *why);
  }

  // The wire thread encodes the envelope; here only its size is checked.
  const auto frame_bytes = envelope_size(envelope_header_.size(), kind, body.size());
  if (frame_bytes > config_.max_frame_bytes) {
    metrics_.record_dropped(drop_reason::oversized);
    return fail(errc::too_large, "envelope of " + std::to_string(frame_bytes) + " bytes to " + address +
                                     " exceeds max_frame_bytes " + std::to_string(config_.max_frame_bytes));
  }

  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      metrics_.record_dropped(drop_reason::send_failed);
      return fail(errc::rejected, "cannot send to " + address + ": the wire transport has stopped");
    }
    auto& count = queued_per_peer_[address];
    if (count >= config_.max_queued_per_peer) {
      metrics_.record_dropped(drop_reason::queue_full);
      return fail(errc::rejected, "cannot send to " + address + ": " + std::to_string(count) +
                                      " messages already wait for this peer (max_queued_per_peer)");
    }
    ++count;
    queued_.push_back(queued_message{address, kind, std::move(body)});
    metrics_.queue_depth().Increment();
  }

  if (poll_sleeping_.exchange(false)) {
    wake();
  }
  return {};
}

void transport::impl::stop(std::chrono::milliseconds linger) {
  std::lock_guard stop_lock(stop_mutex_);
  if (!thread_.joinable()) {
    return;
  }
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    linger_ = std::max(linger, 0ms);
  }
  wake();
  thread_.join();
}

result<std::unique_ptr<transport>> transport::start(transport_config config,
                                                    std::map<mesh::v1::MessageKind, handler> handlers,
                                                    wire_metrics& metrics) {
  if (config.node_id.empty()) {
    return fail(errc::invalid_config, "wire transport: node_id is empty; pass the node identity's id");
  }
  if (config.max_frame_bytes == 0 || config.max_queued_per_peer == 0) {
    return fail(errc::invalid_config, "wire transport: max_frame_bytes and max_queued_per_peer must be at least 1");
  }
  if (config.max_batch_messages == 0 || config.max_batch_bytes == 0) {
    return fail(errc::invalid_config,
                "wire transport: max_batch_messages and max_batch_bytes must be at least 1; set "
                "max_batch_messages to 1 to send every envelope in its own frame");
  }
  if (config.peer_idle_timeout <= std::chrono::milliseconds(0)) {
    return fail(errc::invalid_config, "wire transport: peer_idle_timeout must be positive");
  }
  if (config.bind_address.empty()) {
    return fail(errc::invalid_config, "wire transport: bind_address is empty; use 0.0.0.0 for all interfaces");
  }

  std::string curve_public_raw;
  if (config.curve) {
    const auto& keys = *config.curve;
    std::array<std::uint8_t, 32> decoded{};
    if (keys.public_key.size() != 40 || keys.secret_key.size() != 40 ||
        zmq_z85_decode(decoded.data(), keys.public_key.c_str()) == nullptr) {
      return fail(errc::invalid_config,
                  "wire transport: CURVE keys must be 40-character Z85 strings; derive them with "
                  "crypto::derive_curve_keypair");
    }
    curve_public_raw.assign(reinterpret_cast<const char*>(decoded.data()), decoded.size());
  }
  if (!config.advertise_address.empty()) {
    if (auto checked = parse_peer_address(config.advertise_address); !checked) {
      return fail(errc::invalid_config, "wire transport: advertise_address: " + checked.err().message);
    }
  }
  for (const auto& [kind, callback] : handlers) {
    if (!callback) {
      return fail(errc::invalid_argument, "wire transport: the handler for kind " +
                                              std::string(kind_label(kind)) + " is empty");
    }
  }

  auto state = std::make_unique<impl>(std::move(config), std::move(handlers), metrics);
  state->advertise_address_ = state->config_.advertise_address;
  state->curve_public_raw_ = std::move(curve_public_raw);
  const auto limit = state->config_.max_frame_bytes;
  state->batch_limit_bytes_ = std::min(state->config_.max_batch_bytes, limit);
  state->hard_frame_limit_ = limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max() / 2)
                                 ? std::numeric_limits<std::int64_t>::max()
                                 : static_cast<std::int64_t>(2 * limit);
  if (auto opened = state->open_wake_fd(); !opened) {
    return opened.err();
  }

  auto port = state->launch();
  if (!port) {
    return port.err();
  }

  return std::unique_ptr<transport>(new transport(std::move(state)));
}

transport::transport(std::unique_ptr<impl> state) : impl_(std::move(state)) {}

transport::~transport() { stop(); }

std::uint16_t transport::port() const noexcept { return impl_->port_; }

const std::string& transport::advertise_address() const noexcept { return impl_->advertise_address_; }

result<void> transport::send(const std::string& address, mesh::v1::MessageKind kind, std::string body) {
  return impl_->send(address, kind, std::move(body));
}

void transport::stop(std::chrono::milliseconds linger) { impl_->stop(linger); }

}  // namespace mesh::wire
