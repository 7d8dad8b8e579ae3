// The transport's life cycle and its wire thread's loop: start, the epoll
// wait, the queue that send() fills, idle peers, and the flush at stop.
#include "mesh/wire/transport.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "wire/envelope_codec.hpp"
#include "wire/peer_address.hpp"
#include "wire/transport_impl.hpp"

namespace mesh::wire {

using namespace detail;
using namespace std::chrono_literals;

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
