// The outbound half of the wire thread: per-peer queues handed to ZeroMQ,
// over our own DEALER or back over a connection the peer opened, packed into
// batch frames when several messages wait.
#include <cstring>

#include "wire/envelope_codec.hpp"
#include "wire/transport_impl.hpp"

namespace mesh::wire {

using namespace detail;
using namespace std::chrono_literals;

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

}  // namespace mesh::wire
