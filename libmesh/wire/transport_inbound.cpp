// The inbound half of the wire thread: frames from the ROUTER and from our
// DEALERs, checked and passed to their handlers, the routes back to peers
// that connected to us, ZAP replies and the ROUTER's monitor events.
#include "wire/envelope_codec.hpp"
#include "wire/transport_impl.hpp"

namespace mesh::wire {

using namespace detail;
using namespace std::chrono_literals;

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

}  // namespace mesh::wire
