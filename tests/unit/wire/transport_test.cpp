// The wire transport between real ZeroMQ sockets on 127.0.0.1: delivery with
// and without CURVE, rejection of peers without the mesh key, dropped and
// counted malformed frames, batch frames, per-peer queue limits and stop().

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "mesh/crypto/mesh_key.hpp"
#include "mesh/wire/metrics.hpp"
#include "mesh/wire/transport.hpp"

namespace {

using namespace std::chrono_literals;
using mesh::v1::Envelope;
using mesh::v1::MessageKind;
using mesh::wire::drop_reason;
using mesh::wire::transport;
using mesh::wire::transport_config;
using mesh::wire::wire_metrics;

constexpr auto membership = mesh::v1::MESSAGE_KIND_MEMBERSHIP;

// Envelopes delivered to a handler, collected for the test thread.
class inbox {
 public:
  mesh::wire::handler make_handler() {
    return [this](Envelope&& envelope) -> mesh::result<void> {
      std::lock_guard lock(mutex_);
      envelopes_.push_back(std::move(envelope));
      changed_.notify_all();
      return {};
    };
  }

  bool wait_for(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return envelopes_.size() >= count; });
  }

  std::size_t size() {
    std::lock_guard lock(mutex_);
    return envelopes_.size();
  }

  Envelope at(std::size_t i) {
    std::lock_guard lock(mutex_);
    return envelopes_.at(i);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Envelope> envelopes_;
};

template <class Predicate>
bool eventually(Predicate predicate, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

// Returns a loopback port that nothing listens on: the kernel picks a free
// port for a socket that is then closed.
std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

mesh::crypto::curve_keypair keys_for(char fill) {
  auto pair = mesh::crypto::derive_curve_keypair(std::string(32, fill));
  EXPECT_TRUE(pair.has_value());
  return *pair;
}

std::string envelope_frame(std::uint32_t version, int kind, const std::string& body) {
  Envelope envelope;
  envelope.set_protocol_version(version);
  envelope.set_sender_id("0123456789abcdef0123456789abcdef");
  envelope.set_sender_address("127.0.0.1:1");
  envelope.set_kind(static_cast<MessageKind>(kind));
  envelope.set_body(body);
  return envelope.SerializeAsString();
}

// Builds a batch frame as docs/wire-format.md lays it out: the marker byte 0,
// the envelope count as a varint, then each envelope after its length as a
// varint. The entries need not be valid envelopes.
std::string batch_frame(const std::vector<std::string>& entries) {
  const auto append_varint = [](std::string& out, std::uint64_t value) {
    while (value >= 0x80) {
      out.push_back(static_cast<char>((value & 0x7F) | 0x80));
      value >>= 7;
    }
    out.push_back(static_cast<char>(value));
  };
  std::string frame(1, '\0');
  append_varint(frame, entries.size());
  for (const auto& entry : entries) {
    append_varint(frame, entry.size());
    frame += entry;
  }
  return frame;
}

// Splits a batch frame into its entries; nullopt when the layout is broken.
std::optional<std::vector<std::string>> split_batch_frame(const std::string& frame) {
  std::size_t at = 0;
  const auto read_varint = [&]() -> std::optional<std::uint64_t> {
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64 && at < frame.size(); shift += 7) {
      const auto byte = static_cast<unsigned char>(frame[at++]);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        return value;
      }
    }
    return std::nullopt;
  };
  if (frame.empty() || frame[0] != '\0') {
    return std::nullopt;
  }
  at = 1;
  const auto count = read_varint();
  if (!count) {
    return std::nullopt;
  }
  std::vector<std::string> entries;
  for (std::uint64_t i = 0; i < *count; ++i) {
    const auto length = read_varint();
    if (!length || *length > frame.size() - at) {
      return std::nullopt;
    }
    entries.push_back(frame.substr(at, *length));
    at += *length;
  }
  if (at != frame.size()) {
    return std::nullopt;
  }
  return entries;
}

class Transport : public ::testing::Test {
 protected:
  struct node {
    std::unique_ptr<prometheus::Registry> registry = std::make_unique<prometheus::Registry>();
    std::unique_ptr<wire_metrics> metrics = std::make_unique<wire_metrics>(*registry);
    std::unique_ptr<inbox> received = std::make_unique<inbox>();
    std::unique_ptr<transport> wire;

    double dropped(drop_reason reason) { return metrics->dropped(reason).Value(); }
  };

  static transport_config loopback_config(const std::string& node_id) {
    transport_config config;
    config.node_id = node_id;
    config.bind_address = "127.0.0.1";
    config.port = 0;
    return config;
  }

  static std::unique_ptr<node> start_node(transport_config config) {
    auto created = std::make_unique<node>();
    std::map<MessageKind, mesh::wire::handler> handlers;
    handlers[membership] = created->received->make_handler();
    auto started = transport::start(std::move(config), std::move(handlers), *created->metrics);
    EXPECT_TRUE(started.has_value()) << started.err().message;
    if (started.has_value()) {
      created->wire = std::move(started).value();
    }
    return created;
  }

  static std::unique_ptr<node> start_node(const std::string& node_id,
                                          std::optional<mesh::crypto::curve_keypair> curve = std::nullopt) {
    auto config = loopback_config(node_id);
    config.curve = std::move(curve);
    return start_node(std::move(config));
  }

  // A raw cppzmq DEALER connected to `target`, for sending frames that a
  // transport never produces.
  struct raw_dealer {
    zmq::context_t context;
    zmq::socket_t socket{context, zmq::socket_type::dealer};

    explicit raw_dealer(const transport& target) {
      socket.set(zmq::sockopt::linger, 0);
      socket.connect("tcp://" + target.advertise_address());
    }

    void send(const std::string& frame) { socket.send(zmq::buffer(frame), zmq::send_flags::none); }
  };

  // Sends one valid envelope through `from` and checks that `to` gets it,
  // proving the receiver still works after a dropped frame.
  static void expect_still_delivers(raw_dealer& from, node& to, std::size_t expected_count) {
    from.send(envelope_frame(mesh::wire::protocol_version, membership, "still alive"));
    ASSERT_TRUE(to.received->wait_for(expected_count));
    EXPECT_EQ(to.received->at(expected_count - 1).body(), "still alive");
  }
};

TEST_F(Transport, RoundTripInsecure) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");

  ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "ping").has_value());

  ASSERT_TRUE(b->received->wait_for(1));
  const auto envelope = b->received->at(0);
  EXPECT_EQ(envelope.protocol_version(), mesh::wire::protocol_version);
  EXPECT_EQ(envelope.sender_id(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  EXPECT_EQ(envelope.sender_address(), a->wire->advertise_address());
  EXPECT_EQ(envelope.kind(), membership);
  EXPECT_EQ(envelope.body(), "ping");
  EXPECT_TRUE(eventually([&] { return a->metrics->sent_messages(membership).Value() == 1; }));
  EXPECT_EQ(b->metrics->received_messages(membership).Value(), 1);
}

TEST_F(Transport, FrameMatchesProtobufSerialization) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  router.bind("tcp://127.0.0.1:*");
  const std::string endpoint = router.get(zmq::sockopt::last_endpoint);
  const std::string address = endpoint.substr(std::string("tcp://").size());

  ASSERT_TRUE(a->wire->send(address, mesh::v1::MESSAGE_KIND_BENCH, std::string(300, 'b')).has_value());
  zmq::message_t routing_id;
  zmq::message_t frame;
  ASSERT_TRUE(router.recv(routing_id));
  ASSERT_TRUE(router.recv(frame));

  Envelope expected;
  expected.set_protocol_version(mesh::wire::protocol_version);
  expected.set_sender_id("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  expected.set_sender_address(a->wire->advertise_address());
  expected.set_kind(mesh::v1::MESSAGE_KIND_BENCH);
  expected.set_body(std::string(300, 'b'));
  EXPECT_FALSE(frame.more());
  EXPECT_EQ(frame.to_string(), expected.SerializeAsString());
}

TEST_F(Transport, AdvertiseAddressUsesChosenPort) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

  EXPECT_NE(a->wire->port(), 0);
  EXPECT_EQ(a->wire->advertise_address(), "127.0.0.1:" + std::to_string(a->wire->port()));
}

TEST_F(Transport, RoundTripCurve) {
  const auto keys = keys_for('k');
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", keys);
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", keys);

  ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "secret ping").has_value());

  ASSERT_TRUE(b->received->wait_for(1));
  EXPECT_EQ(b->received->at(0).body(), "secret ping");
  EXPECT_EQ(b->dropped(drop_reason::auth_failed), 0);
  EXPECT_EQ(b->metrics->handshakes().Value(), 1);
}

// Peers that connect to one CURVE node at the same moment, as in a join
// storm, each wait for a ZAP reply from its wire thread. The first message of
// every peer, and the reply over a new connection back to it, arrive within 1 s.
// NOTE: in one process this takes about 50 ms, so the bound catches a stalled
// handshake, not the slower convergence of a 50-process storm.
TEST_F(Transport, ReplyUsesSendersConnection) {
  const auto keys = keys_for('m');
  // Nothing listens on the address that `a` advertises, so `b` can reach
  // `a` only over the connection that `a` opened.
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.curve = keys;
  config.advertise_address = "127.0.0.1:" + std::to_string(unused_port());
  auto a = start_node(std::move(config));
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", keys);

  ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "ping").has_value());
  ASSERT_TRUE(b->received->wait_for(1));
  const auto request = b->received->at(0);
  EXPECT_EQ(request.sender_address(), a->wire->advertise_address());

  ASSERT_TRUE(b->wire->send(request.sender_address(), membership, "ack").has_value());
  ASSERT_TRUE(a->received->wait_for(1));
  EXPECT_EQ(a->received->at(0).body(), "ack");
  EXPECT_EQ(b->dropped(drop_reason::send_failed), 0);
}

TEST_F(Transport, ReplyReconnectsAfterRestart) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  const auto a_address = a->wire->advertise_address();
  ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "ping").has_value());
  ASSERT_TRUE(b->received->wait_for(1));
  ASSERT_TRUE(b->wire->send(a_address, membership, "ack").has_value());
  ASSERT_TRUE(a->received->wait_for(1));

  // `a` restarts on the same port; its connection to `b` is gone, so `b`
  // must open its own. A message sent before `b` notices the closed
  // connection may be lost with it, so `b` sends until one arrives.
  const auto port = a->wire->port();
  a->wire->stop();
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.port = port;
  auto restarted = start_node(std::move(config));
  ASSERT_NE(restarted->wire, nullptr);
  EXPECT_TRUE(eventually([&] {
    (void)b->wire->send(a_address, membership, "after restart");
    return restarted->received->size() > 0;
  }));
  EXPECT_EQ(restarted->received->at(0).body(), "after restart");
}

TEST_F(Transport, CurveJoinStormRepliesWithinOneSecond) {
  constexpr std::size_t peers = 16;
  const auto keys = keys_for('k');
  auto seed = std::make_unique<node>();
  transport* seed_wire = nullptr;
  std::map<MessageKind, mesh::wire::handler> seed_handlers;
  auto seed_inbox = seed->received->make_handler();
  seed_handlers[membership] = [&seed_wire, seed_inbox](Envelope&& envelope) -> mesh::result<void> {
    const std::string reply_to = envelope.sender_address();
    if (auto stored = seed_inbox(std::move(envelope)); !stored) {
      return stored;
    }
    return seed_wire->send(reply_to, membership, "welcome");
  };
  auto config = loopback_config("5eed5eed5eed5eed5eed5eed5eed5eed");
  config.curve = keys;
  auto started = transport::start(std::move(config), std::move(seed_handlers), *seed->metrics);
  ASSERT_TRUE(started.has_value()) << started.err().message;
  seed->wire = std::move(started).value();
  seed_wire = seed->wire.get();

  std::vector<std::unique_ptr<node>> joiners;
  for (std::size_t i = 0; i < peers; ++i) {
    joiners.push_back(start_node(std::string(32, static_cast<char>('a' + i)), keys));
  }

  const auto sent_at = std::chrono::steady_clock::now();
  for (auto& joiner : joiners) {
    ASSERT_TRUE(joiner->wire->send(seed->wire->advertise_address(), membership, "join").has_value());
  }

  EXPECT_TRUE(seed->received->wait_for(peers, 1s)) << "joins delivered: " << seed->received->size();
  for (std::size_t i = 0; i < peers; ++i) {
    const auto left = std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   sent_at + 1s - std::chrono::steady_clock::now()),
                               0ms);
    EXPECT_TRUE(joiners[i]->received->wait_for(1, left)) << "joiner " << i << " got no reply within 1 s";
  }
  EXPECT_EQ(seed->dropped(drop_reason::auth_failed), 0);
}

TEST_F(Transport, ReplyReachesSenderAddress) {
  const auto keys = keys_for('k');
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", keys);
  auto b = std::make_unique<node>();
  transport* b_wire = nullptr;
  std::map<MessageKind, mesh::wire::handler> handlers;
  handlers[membership] = [&b_wire](Envelope&& envelope) -> mesh::result<void> {
    return b_wire->send(envelope.sender_address(), membership, "ack:" + envelope.body());
  };
  auto config = loopback_config("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  config.curve = keys;
  auto started = transport::start(std::move(config), std::move(handlers), *b->metrics);
  ASSERT_TRUE(started.has_value()) << started.err().message;
  b->wire = std::move(started).value();
  b_wire = b->wire.get();

  ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "probe").has_value());

  ASSERT_TRUE(a->received->wait_for(1));
  EXPECT_EQ(a->received->at(0).body(), "ack:probe");
  EXPECT_EQ(a->received->at(0).sender_id(), "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
}

TEST_F(Transport, OtherMeshKeyNeverDelivered) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", keys_for('k'));
  auto intruder = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", keys_for('x'));
  auto member = start_node("cccccccccccccccccccccccccccccccc", keys_for('k'));

  ASSERT_TRUE(intruder->wire->send(server->wire->advertise_address(), membership, "let me in").has_value());

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::auth_failed) >= 1; }));
  EXPECT_EQ(server->metrics->handshakes().Value(), 0);
  ASSERT_TRUE(member->wire->send(server->wire->advertise_address(), membership, "member").has_value());
  ASSERT_TRUE(server->received->wait_for(1));
  EXPECT_EQ(server->metrics->handshakes().Value(), 1);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(server->received->size(), 1U);
  EXPECT_EQ(server->received->at(0).body(), "member");
  EXPECT_EQ(intruder->metrics->sent_messages(membership).Value(), 0);
}

TEST_F(Transport, InsecureClientToCurveServerNeverDelivered) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", keys_for('k'));
  auto plain = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

  ASSERT_TRUE(plain->wire->send(server->wire->advertise_address(), membership, "plain text").has_value());

  // Either side may detect the mechanism mismatch first, so the server does
  // not always count auth_failed; the message must never arrive either way.
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(server->received->size(), 0U);
  EXPECT_EQ(plain->metrics->sent_messages(membership).Value(), 0);
}

TEST_F(Transport, ZapRejectsClientKeyOtherThanMeshKey) {
  const auto keys = keys_for('k');
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", keys);

  // This client knows the server's public key but has its own key pair, so
  // the CURVE handshake succeeds and only the ZAP rule can reject it.
  std::array<char, 41> client_public{};
  std::array<char, 41> client_secret{};
  ASSERT_EQ(zmq_curve_keypair(client_public.data(), client_secret.data()), 0);
  zmq::context_t context;
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.set(zmq::sockopt::curve_serverkey, keys.public_key);
  dealer.set(zmq::sockopt::curve_publickey, std::string(client_public.data(), 40));
  dealer.set(zmq::sockopt::curve_secretkey, std::string(client_secret.data(), 40));
  dealer.connect("tcp://" + server->wire->advertise_address());
  const auto frame = envelope_frame(mesh::wire::protocol_version, membership, "forged");
  dealer.send(zmq::buffer(frame), zmq::send_flags::dontwait);

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::auth_failed) >= 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(server->received->size(), 0U);
}

TEST_F(Transport, GarbageFrameDroppedAsMalformedEnvelope) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);

  raw.send(std::string("\xff\xff\xff\xff\xff", 5));

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::malformed_envelope) == 1; }));
  expect_still_delivers(raw, *server, 1);
  EXPECT_EQ(server->received->size(), 1U);
}

TEST_F(Transport, MultipartFrameDroppedAsMalformedEnvelope) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);
  const auto frame = envelope_frame(mesh::wire::protocol_version, membership, "two parts");

  raw.socket.send(zmq::buffer(frame), zmq::send_flags::sndmore);
  raw.socket.send(zmq::buffer(frame), zmq::send_flags::none);

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::malformed_envelope) == 1; }));
  expect_still_delivers(raw, *server, 1);
}

TEST_F(Transport, WrongVersionDropped) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);

  raw.send(envelope_frame(mesh::wire::protocol_version + 1, membership, "from the future"));
  raw.send(envelope_frame(0, membership, "no version"));

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::unsupported_version) == 2; }));
  expect_still_delivers(raw, *server, 1);
}

TEST_F(Transport, UnknownKindDropped) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);

  raw.send(envelope_frame(mesh::wire::protocol_version, mesh::v1::MESSAGE_KIND_DAG, "no handler"));
  raw.send(envelope_frame(mesh::wire::protocol_version, 9, "not in the enum"));

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::unknown_kind) == 2; }));
  expect_still_delivers(raw, *server, 1);
}

TEST_F(Transport, OversizedFrameDropped) {
  auto config = loopback_config("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  config.max_frame_bytes = 1024;
  auto server = start_node(std::move(config));
  raw_dealer raw(*server->wire);

  raw.send(envelope_frame(mesh::wire::protocol_version, membership, std::string(1500, 'x')));

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::oversized) == 1; }));
  expect_still_delivers(raw, *server, 1);
}

TEST_F(Transport, HandlerErrorCountsMalformedBody) {
  auto metrics_registry = std::make_unique<prometheus::Registry>();
  wire_metrics metrics(*metrics_registry);
  inbox accepted;
  auto accept = accepted.make_handler();
  std::map<MessageKind, mesh::wire::handler> handlers;
  handlers[membership] = [&accept](Envelope&& envelope) -> mesh::result<void> {
    if (envelope.body() == "bad") {
      return mesh::fail(mesh::errc::decode_error, "body is not a MembershipMessage");
    }
    return accept(std::move(envelope));
  };
  auto started = transport::start(loopback_config("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"), std::move(handlers), metrics);
  ASSERT_TRUE(started.has_value()) << started.err().message;
  raw_dealer raw(**started);

  raw.send(envelope_frame(mesh::wire::protocol_version, membership, "bad"));
  raw.send(envelope_frame(mesh::wire::protocol_version, membership, "good"));

  ASSERT_TRUE(accepted.wait_for(1));
  EXPECT_EQ(accepted.at(0).body(), "good");
  EXPECT_EQ(metrics.dropped(drop_reason::malformed_body).Value(), 1);
}

TEST_F(Transport, QueueFullForUnreachablePeer) {
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.max_queued_per_peer = 5;
  auto a = start_node(std::move(config));
  const std::string unreachable = "127.0.0.1:" + std::to_string(unused_port());

  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a->wire->send(unreachable, membership, "waits").has_value()) << i;
  }
  auto sixth = a->wire->send(unreachable, membership, "one too many");

  ASSERT_FALSE(sixth.has_value());
  EXPECT_EQ(sixth.err().code, mesh::errc::rejected);
  EXPECT_EQ(a->dropped(drop_reason::queue_full), 1);
  EXPECT_EQ(a->metrics->queue_depth().Value(), 5);
  EXPECT_TRUE(eventually([&] { return a->metrics->peers().Value() == 1; }));
}

TEST_F(Transport, QueueLimitIsPerPeer) {
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.max_queued_per_peer = 2;
  auto a = start_node(std::move(config));
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  const std::string unreachable = "127.0.0.1:" + std::to_string(unused_port());

  ASSERT_TRUE(a->wire->send(unreachable, membership, "1").has_value());
  ASSERT_TRUE(a->wire->send(unreachable, membership, "2").has_value());
  ASSERT_FALSE(a->wire->send(unreachable, membership, "3").has_value());

  ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "other peer").has_value());
  ASSERT_TRUE(b->received->wait_for(1));
}

TEST_F(Transport, IdlePeerDropsWaitingMessages) {
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.max_queued_per_peer = 3;
  config.peer_idle_timeout = 200ms;
  auto a = start_node(std::move(config));
  const std::string unreachable = "127.0.0.1:" + std::to_string(unused_port());

  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->wire->send(unreachable, membership, "waits").has_value());
  }

  EXPECT_TRUE(eventually([&] { return a->dropped(drop_reason::send_failed) == 3; }));
  EXPECT_TRUE(eventually([&] { return a->metrics->peers().Value() == 0; }));
  EXPECT_EQ(a->metrics->queue_depth().Value(), 0);
  EXPECT_TRUE(a->wire->send(unreachable, membership, "queue has room again").has_value());
}

TEST_F(Transport, InvalidAddressRejectedAndCounted) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

  for (const std::string address : {"no-port", "127.0.0.1:0", "127.0.0.1:70000", "bad host:4001", "::1:4001",
                                    "[::1:4001", "127.0.0.1:port", ":4001"}) {
    auto sent = a->wire->send(address, membership, "x");
    ASSERT_FALSE(sent.has_value()) << address;
    EXPECT_EQ(sent.err().code, mesh::errc::invalid_argument) << address;
    EXPECT_NE(sent.err().message.find(address), std::string::npos) << sent.err().message;
  }
  EXPECT_EQ(a->dropped(drop_reason::invalid_address), 8);
}

TEST_F(Transport, OversizedSendRejected) {
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.max_frame_bytes = 256;
  auto a = start_node(std::move(config));

  auto sent = a->wire->send("127.0.0.1:4001", membership, std::string(300, 'x'));

  ASSERT_FALSE(sent.has_value());
  EXPECT_EQ(sent.err().code, mesh::errc::too_large);
  EXPECT_EQ(a->dropped(drop_reason::oversized), 1);
}

TEST_F(Transport, StopIsIdempotentAndBounded) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  const std::string unreachable = "127.0.0.1:" + std::to_string(unused_port());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(a->wire->send(unreachable, membership, "never sent").has_value());
  }

  const auto started = std::chrono::steady_clock::now();
  a->wire->stop(200ms);
  const auto first_stop = std::chrono::steady_clock::now() - started;
  a->wire->stop(200ms);
  const auto both_stops = std::chrono::steady_clock::now() - started;

  EXPECT_LT(first_stop, 1500ms);
  EXPECT_LT(both_stops - first_stop, 50ms);
  EXPECT_EQ(a->dropped(drop_reason::send_failed), 10);
  EXPECT_EQ(a->metrics->queue_depth().Value(), 0);
  EXPECT_EQ(a->metrics->peers().Value(), 0);
  auto after = a->wire->send(unreachable, membership, "late");
  ASSERT_FALSE(after.has_value());
  EXPECT_EQ(after.err().code, mesh::errc::rejected);
}

TEST_F(Transport, StopFromSeveralThreads) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

  std::vector<std::thread> stoppers;
  for (int i = 0; i < 4; ++i) {
    stoppers.emplace_back([&a] { a->wire->stop(100ms); });
  }
  for (auto& thread : stoppers) {
    thread.join();
  }

  EXPECT_FALSE(a->wire->send("127.0.0.1:4001", membership, "late").has_value());
}

TEST_F(Transport, StopFlushesQueuedMessages) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");

  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, std::to_string(i)).has_value());
  }
  a->wire->stop(2s);

  ASSERT_TRUE(b->received->wait_for(100));
  EXPECT_EQ(b->received->at(0).body(), "0");
  EXPECT_EQ(b->received->at(99).body(), "99");
  EXPECT_EQ(a->dropped(drop_reason::send_failed), 0);
}

TEST_F(Transport, PortInUseFailsToStart) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto config = loopback_config("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  config.port = a->wire->port();
  prometheus::Registry registry;
  wire_metrics metrics(registry);

  auto second = transport::start(std::move(config), {}, metrics);

  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.err().code, mesh::errc::io_error);
  EXPECT_NE(second.err().message.find(std::to_string(a->wire->port())), std::string::npos)
      << second.err().message;
}

TEST_F(Transport, InvalidConfigRejected) {
  prometheus::Registry registry;
  wire_metrics metrics(registry);

  auto no_id = transport::start(loopback_config(""), {}, metrics);
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.curve = mesh::crypto::curve_keypair{"short", "short"};
  auto bad_keys = transport::start(std::move(config), {}, metrics);
  auto advertise = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  advertise.advertise_address = "no-port";
  auto bad_advertise = transport::start(std::move(advertise), {}, metrics);

  ASSERT_FALSE(no_id.has_value());
  EXPECT_EQ(no_id.err().code, mesh::errc::invalid_config);
  ASSERT_FALSE(bad_keys.has_value());
  EXPECT_EQ(bad_keys.err().code, mesh::errc::invalid_config);
  ASSERT_FALSE(bad_advertise.has_value());
  EXPECT_EQ(bad_advertise.err().code, mesh::errc::invalid_config);
}

TEST_F(Transport, ManySmallMessagesArriveInOrderPerSender) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto c = start_node("cccccccccccccccccccccccccccccccc");
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  constexpr int per_sender = 3000;

  std::thread from_c([&] {
    for (int i = 0; i < per_sender; ++i) {
      ASSERT_TRUE(c->wire->send(b->wire->advertise_address(), membership, "c" + std::to_string(i)).has_value());
    }
  });
  for (int i = 0; i < per_sender; ++i) {
    ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, "a" + std::to_string(i)).has_value());
  }
  from_c.join();

  ASSERT_TRUE(b->received->wait_for(2 * per_sender, 20s));
  std::map<std::string, int> next_index;
  for (std::size_t i = 0; i < b->received->size(); ++i) {
    const auto envelope = b->received->at(i);
    const std::string prefix = envelope.sender_id() == "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" ? "a" : "c";
    auto& expected = next_index[envelope.sender_id()];
    ASSERT_EQ(envelope.body(), prefix + std::to_string(expected)) << "message " << i;
    ++expected;
  }
  EXPECT_EQ(next_index["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"], per_sender);
  EXPECT_EQ(next_index["cccccccccccccccccccccccccccccccc"], per_sender);
  EXPECT_EQ(b->received->size(), 2U * per_sender);
  EXPECT_EQ(b->metrics->received_messages(membership).Value(), 2 * per_sender);
  EXPECT_TRUE(eventually([&] { return a->metrics->sent_messages(membership).Value() == per_sender; }));
  EXPECT_EQ(a->metrics->queue_depth().Value(), 0);
}

TEST_F(Transport, MixedSizesArriveIntactAndInOrder) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto b = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  // 70000 bytes is over the default max_batch_bytes, so those go alone.
  const std::vector<std::size_t> sizes = {0, 1, 64, 1000, 20000, 70000, 3, 65000};
  constexpr int rounds = 20;

  std::vector<std::string> bodies;
  for (int round = 0; round < rounds; ++round) {
    for (const auto size : sizes) {
      std::string body(size, static_cast<char>('a' + bodies.size() % 26));
      if (size >= 8) {
        const std::string index = std::to_string(bodies.size());
        body.replace(0, index.size(), index);
      }
      bodies.push_back(std::move(body));
    }
  }
  for (const auto& body : bodies) {
    ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, body).has_value());
  }

  ASSERT_TRUE(b->received->wait_for(bodies.size(), 20s));
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    const auto envelope = b->received->at(i);
    ASSERT_EQ(envelope.body().size(), bodies[i].size()) << "message " << i;
    ASSERT_EQ(envelope.body(), bodies[i]) << "message " << i;
  }
  EXPECT_EQ(b->received->size(), bodies.size());
  EXPECT_EQ(b->metrics->received_messages(membership).Value(), static_cast<double>(bodies.size()));
}

// Messages queued for a peer that is not listening yet wait in the transport,
// so they are all waiting when the connection comes up and must be batched.
TEST_F(Transport, WaitingMessagesLeaveAsBatchFrame) {
  auto a = start_node("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  const std::string address = "127.0.0.1:" + std::to_string(unused_port());
  constexpr int count = 50;
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(a->wire->send(address, membership, "m" + std::to_string(i)).has_value());
  }
  std::this_thread::sleep_for(100ms);

  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  router.bind("tcp://" + address);

  std::vector<std::string> frames;
  std::vector<Envelope> envelopes;
  while (envelopes.size() < count) {
    zmq::message_t routing_id;
    zmq::message_t frame;
    ASSERT_TRUE(router.recv(routing_id));
    ASSERT_TRUE(router.recv(frame));
    ASSERT_FALSE(frame.more());
    frames.push_back(frame.to_string());
    auto entries = split_batch_frame(frames.back());
    ASSERT_TRUE(entries.has_value()) << "frame " << frames.size() - 1 << " is not a batch frame";
    for (const auto& entry : *entries) {
      Envelope envelope;
      ASSERT_TRUE(envelope.ParseFromString(entry));
      envelopes.push_back(std::move(envelope));
    }
  }

  EXPECT_LT(frames.size(), static_cast<std::size_t>(count));
  ASSERT_EQ(envelopes.size(), static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(envelopes[i].body(), "m" + std::to_string(i));
    EXPECT_EQ(envelopes[i].sender_id(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    EXPECT_EQ(envelopes[i].protocol_version(), mesh::wire::protocol_version);
  }
  EXPECT_TRUE(eventually([&] { return a->metrics->sent_messages(membership).Value() == count; }));
}

TEST_F(Transport, BatchSizeOneSendsPlainEnvelopes) {
  auto config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  config.max_batch_messages = 1;
  auto a = start_node(std::move(config));
  const std::string address = "127.0.0.1:" + std::to_string(unused_port());
  constexpr int count = 20;
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(a->wire->send(address, membership, "m" + std::to_string(i)).has_value());
  }
  std::this_thread::sleep_for(100ms);

  zmq::context_t context;
  zmq::socket_t router(context, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.set(zmq::sockopt::rcvtimeo, 5000);
  router.bind("tcp://" + address);

  for (int i = 0; i < count; ++i) {
    zmq::message_t routing_id;
    zmq::message_t frame;
    ASSERT_TRUE(router.recv(routing_id));
    ASSERT_TRUE(router.recv(frame));
    Envelope envelope;
    ASSERT_TRUE(envelope.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) << "frame " << i;
    EXPECT_EQ(envelope.body(), "m" + std::to_string(i));
  }
}

TEST_F(Transport, BatchWithCorruptEnvelopeDeliversTheRest) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);

  raw.send(batch_frame({envelope_frame(mesh::wire::protocol_version, membership, "one"),
                        std::string("\xff\xff\xff", 3),
                        envelope_frame(mesh::wire::protocol_version + 1, membership, "three"),
                        envelope_frame(mesh::wire::protocol_version, membership, "four")}));

  ASSERT_TRUE(server->received->wait_for(2));
  EXPECT_EQ(server->received->at(0).body(), "one");
  EXPECT_EQ(server->received->at(1).body(), "four");
  EXPECT_EQ(server->dropped(drop_reason::malformed_envelope), 1);
  EXPECT_EQ(server->dropped(drop_reason::unsupported_version), 1);
  EXPECT_EQ(server->metrics->received_messages(membership).Value(), 2);
  expect_still_delivers(raw, *server, 3);
}

TEST_F(Transport, NestedBatchCountsAsMalformedEnvelope) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);
  const auto inner = batch_frame({envelope_frame(mesh::wire::protocol_version, membership, "hidden"),
                                  envelope_frame(mesh::wire::protocol_version, membership, "hidden")});

  raw.send(batch_frame({inner, envelope_frame(mesh::wire::protocol_version, membership, "outer")}));

  ASSERT_TRUE(server->received->wait_for(1));
  EXPECT_EQ(server->received->at(0).body(), "outer");
  EXPECT_EQ(server->dropped(drop_reason::malformed_envelope), 1);
}

TEST_F(Transport, MalformedBatchContainerDroppedWhole) {
  auto server = start_node("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  raw_dealer raw(*server->wire);
  const auto valid = envelope_frame(mesh::wire::protocol_version, membership, "must not arrive");
  const auto two = batch_frame({valid, valid});

  struct malformed_case {
    std::string name;
    std::string frame;
  };
  const std::vector<malformed_case> cases = {
      {"marker only", std::string(1, '\0')},
      {"zero count", std::string("\0\0", 2)},
      {"truncated last envelope", two.substr(0, two.size() - 3)},
      {"count above entries", std::string("\0\3", 2) + two.substr(2)},
      {"count above frame size", std::string("\0\x80\x80\x04", 4) + two.substr(2)},
      {"length varint cut off", std::string("\0\1\x80", 3)},
      {"bytes after last envelope", two + "xx"},
  };

  for (std::size_t i = 0; i < cases.size(); ++i) {
    raw.send(cases[i].frame);
    EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::malformed_envelope) == i + 1.0; }))
        << cases[i].name;
  }

  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server->received->size(), 0U);
  EXPECT_EQ(server->metrics->received_messages(membership).Value(), 0);
  expect_still_delivers(raw, *server, 1);
}

TEST_F(Transport, OversizedBatchFrameDropped) {
  auto config = loopback_config("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  config.max_frame_bytes = 1024;
  auto server = start_node(std::move(config));
  raw_dealer raw(*server->wire);
  const auto envelope = envelope_frame(mesh::wire::protocol_version, membership, std::string(500, 'x'));

  raw.send(batch_frame({envelope, envelope, envelope}));

  EXPECT_TRUE(eventually([&] { return server->dropped(drop_reason::oversized) == 1; }));
  expect_still_delivers(raw, *server, 1);
}

TEST_F(Transport, SenderBatchesStayWithinMaxFrameBytes) {
  auto sender_config = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  sender_config.max_frame_bytes = 1024;
  auto a = start_node(std::move(sender_config));
  auto receiver_config = loopback_config("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  receiver_config.max_frame_bytes = 1024;
  auto b = start_node(std::move(receiver_config));
  constexpr int count = 200;

  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(a->wire->send(b->wire->advertise_address(), membership, std::string(300, 'p')).has_value());
  }

  ASSERT_TRUE(b->received->wait_for(count, 10s));
  EXPECT_EQ(b->dropped(drop_reason::oversized), 0);
  EXPECT_EQ(b->received->size(), static_cast<std::size_t>(count));
}

TEST_F(Transport, ZeroBatchLimitsRejected) {
  prometheus::Registry registry;
  wire_metrics metrics(registry);
  auto no_messages = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  no_messages.max_batch_messages = 0;
  auto no_bytes = loopback_config("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  no_bytes.max_batch_bytes = 0;

  auto zero_messages = transport::start(std::move(no_messages), {}, metrics);
  auto zero_bytes = transport::start(std::move(no_bytes), {}, metrics);

  ASSERT_FALSE(zero_messages.has_value());
  EXPECT_EQ(zero_messages.err().code, mesh::errc::invalid_config);
  EXPECT_NE(zero_messages.err().message.find("max_batch_messages"), std::string::npos);
  ASSERT_FALSE(zero_bytes.has_value());
  EXPECT_EQ(zero_bytes.err().code, mesh::errc::invalid_config);
}

TEST(PeerAddress, AcceptsHostPortForms) {
  auto ipv4 = mesh::wire::parse_peer_address("127.0.0.1:4001");
  auto name = mesh::wire::parse_peer_address("mesh-bootstrap-0.mesh:4001");
  auto ipv6 = mesh::wire::parse_peer_address("[::1]:65535");

  ASSERT_TRUE(ipv4.has_value());
  EXPECT_EQ(ipv4->host, "127.0.0.1");
  EXPECT_EQ(ipv4->port, 4001);
  ASSERT_TRUE(name.has_value());
  EXPECT_EQ(name->host, "mesh-bootstrap-0.mesh");
  ASSERT_TRUE(ipv6.has_value());
  EXPECT_EQ(ipv6->host, "::1");
  EXPECT_EQ(ipv6->port, 65535);
}

TEST(WireMetrics, FamiliesHaveNamesAndHelp) {
  prometheus::Registry registry;
  wire_metrics metrics(registry);
  metrics.record_sent(membership, 10);
  metrics.record_dropped(drop_reason::auth_failed);

  std::map<std::string, std::string> help;
  for (const auto& family : registry.Collect()) {
    help[family.name] = family.help;
  }

  for (const std::string name :
       {"mesh_wire_sent_bytes_total", "mesh_wire_received_bytes_total", "mesh_wire_sent_messages_total",
        "mesh_wire_received_messages_total", "mesh_wire_dropped_messages_total",
        "mesh_wire_handshakes_total", "mesh_wire_peers", "mesh_wire_queue_depth"}) {
    ASSERT_TRUE(help.count(name) == 1) << name;
    EXPECT_FALSE(help[name].empty()) << name;
  }
  EXPECT_EQ(metrics.sent_messages(membership).Value(), 1);
  EXPECT_EQ(metrics.dropped(drop_reason::auth_failed).Value(), 1);
  EXPECT_EQ(mesh::wire::kind_label(membership), "membership");
  EXPECT_EQ(mesh::wire::to_string(drop_reason::queue_full), "queue_full");
}

}  // namespace
