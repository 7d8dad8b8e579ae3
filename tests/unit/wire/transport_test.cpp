// The wire transport between real ZeroMQ sockets on 127.0.0.1: delivery with
// and without CURVE, rejection of peers without the mesh key, dropped and
// counted malformed frames, per-peer queue limits and stop().

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
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
  ASSERT_TRUE(member->wire->send(server->wire->advertise_address(), membership, "member").has_value());
  ASSERT_TRUE(server->received->wait_for(1));
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
        "mesh_wire_received_messages_total", "mesh_wire_dropped_messages_total", "mesh_wire_peers",
        "mesh_wire_queue_depth"}) {
    ASSERT_TRUE(help.count(name) == 1) << name;
    EXPECT_FALSE(help[name].empty()) << name;
  }
  EXPECT_EQ(metrics.sent_messages(membership).Value(), 1);
  EXPECT_EQ(metrics.dropped(drop_reason::auth_failed).Value(), 1);
  EXPECT_EQ(mesh::wire::kind_label(membership), "membership");
  EXPECT_EQ(mesh::wire::to_string(drop_reason::queue_full), "queue_full");
}

}  // namespace
