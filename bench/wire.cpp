// Wire transport benchmarks over TCP loopback (127.0.0.1), each with 64 B and
// 1 KiB bodies, without and with CURVE:
//   BM_transport_stream    node A sends a batch of messages to node B through
//                          two mesh::wire::transport objects; reports msgs/s
//                          from the first send() to the last handler call.
//                          The transport packs envelopes that wait for the
//                          same peer into batch frames, so this measures
//                          delivery to the handler, not ZeroMQ messages.
//   BM_transport_pingpong  A sends one message, B's handler echoes it to the
//                          sender address, A's handler receives it; reports
//                          round trips/s and round-trip p50_us and p99_us.
//   BM_raw_stream          the peer: the same batch over a bare cppzmq
//                          DEALER -> ROUTER pair, one ZeroMQ context per node,
//                          one ZeroMQ message per body, counted when the
//                          receiving thread has read it.
//   BM_raw_pingpong        the peer: the same echo over two DEALER -> ROUTER
//                          pairs (A's DEALER to B's ROUTER and back), as the
//                          transport does it.
// Every run is bounded: a fixed number of iterations, a fixed batch, and a
// 10 s wait per batch after which the benchmark stops with an error.
// On a shared machine, compare medians of interleaved runs:
//   bench_wire --benchmark_filter=stream --benchmark_repetitions=3
//     --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true
// (one command line).

#include <benchmark/benchmark.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "mesh/crypto/mesh_key.hpp"
#include "mesh/wire/metrics.hpp"
#include "mesh/wire/transport.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto bench_kind = mesh::v1::MESSAGE_KIND_BENCH;
constexpr std::int64_t stream_batch = 20000;
constexpr std::int64_t pingpong_batch = 2000;
constexpr auto batch_timeout = 10s;
constexpr int iterations = 3;

std::optional<mesh::crypto::curve_keypair> bench_keys(bool curve) {
  if (!curve) {
    return std::nullopt;
  }
  auto keys = mesh::crypto::derive_curve_keypair(std::string(32, 'b'));
  return keys ? std::optional(*keys) : std::nullopt;
}

double percentile_us(std::vector<double>& samples_us, double fraction) {
  if (samples_us.empty()) {
    return 0;
  }
  const auto index = static_cast<std::size_t>(fraction * static_cast<double>(samples_us.size() - 1));
  std::nth_element(samples_us.begin(), samples_us.begin() + static_cast<std::ptrdiff_t>(index), samples_us.end());
  return samples_us[index];
}

void report(benchmark::State& state, std::int64_t messages, double seconds, std::vector<double>* rtt_us) {
  state.counters["msgs/s"] = seconds > 0 ? static_cast<double>(messages) / seconds : 0;
  if (rtt_us != nullptr) {
    state.counters["p50_us"] = percentile_us(*rtt_us, 0.50);
    state.counters["p99_us"] = percentile_us(*rtt_us, 0.99);
  }
  state.SetItemsProcessed(messages);
  state.SetBytesProcessed(messages * state.range(0));
}

// Blocks until `counter` reaches `target` or the batch timeout passes.
bool wait_until(const std::atomic<std::int64_t>& counter, std::int64_t target) {
  const auto deadline = clock_type::now() + batch_timeout;
  auto seen = counter.load(std::memory_order_acquire);
  while (seen < target) {
    if (clock_type::now() > deadline) {
      return false;
    }
    counter.wait(seen, std::memory_order_acquire);
    seen = counter.load(std::memory_order_acquire);
  }
  return true;
}

// Two transports on 127.0.0.1 with port 0. B echoes each message back to the
// sender when `echo` is set; A counts what comes back.
struct transport_pair {
  prometheus::Registry registry;
  mesh::wire::wire_metrics metrics_a{registry};
  mesh::wire::wire_metrics metrics_b{registry};
  std::unique_ptr<mesh::wire::transport> a;
  std::unique_ptr<mesh::wire::transport> b;
  mesh::wire::transport* b_raw = nullptr;
  std::atomic<std::int64_t> received_by_a{0};
  std::atomic<std::int64_t> received_by_b{0};
  std::atomic<std::int64_t> reply_time_ns{0};
  std::string error;

  transport_pair(bool curve, bool echo) {
    auto config = [&](const std::string& id) {
      mesh::wire::transport_config c;
      c.node_id = id;
      c.bind_address = "127.0.0.1";
      c.port = 0;
      c.curve = bench_keys(curve);
      c.max_queued_per_peer = static_cast<std::size_t>(stream_batch) + 16;
      return c;
    };

    std::map<mesh::v1::MessageKind, mesh::wire::handler> handlers_b;
    handlers_b[bench_kind] = [this, echo](mesh::v1::Envelope&& envelope) -> mesh::result<void> {
      if (echo) {
        auto sent = b_raw->send(envelope.sender_address(), bench_kind, std::move(*envelope.mutable_body()));
        if (!sent) {
          return sent;
        }
      }
      received_by_b.fetch_add(1, std::memory_order_release);
      received_by_b.notify_one();
      return {};
    };
    std::map<mesh::v1::MessageKind, mesh::wire::handler> handlers_a;
    handlers_a[bench_kind] = [this](mesh::v1::Envelope&&) -> mesh::result<void> {
      reply_time_ns.store(clock_type::now().time_since_epoch().count(), std::memory_order_relaxed);
      received_by_a.fetch_add(1, std::memory_order_release);
      received_by_a.notify_one();
      return {};
    };

    auto started_b = mesh::wire::transport::start(config(std::string(32, 'b')), std::move(handlers_b), metrics_b);
    auto started_a = mesh::wire::transport::start(config(std::string(32, 'a')), std::move(handlers_a), metrics_a);
    if (!started_a || !started_b) {
      error = !started_a ? started_a.err().message : started_b.err().message;
      return;
    }
    a = std::move(started_a).value();
    b = std::move(started_b).value();
    b_raw = b.get();
  }
};

void BM_transport_stream(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  transport_pair pair(state.range(1) != 0, false);
  if (!pair.error.empty()) {
    state.SkipWithError(pair.error.c_str());
    return;
  }
  const std::string target = pair.b->advertise_address();

  // Warm-up: the first message opens and authenticates the connection.
  (void)pair.a->send(target, bench_kind, std::string(size, 'w'));
  if (!wait_until(pair.received_by_b, 1)) {
    state.SkipWithError("warm-up message not delivered");
    return;
  }

  const std::string body(size, 'x');
  std::int64_t messages = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto base = pair.received_by_b.load();
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < stream_batch; ++i) {
      if (!pair.a->send(target, bench_kind, body)) {
        state.SkipWithError("send rejected");
        return;
      }
    }
    if (!wait_until(pair.received_by_b, base + stream_batch)) {
      state.SkipWithError("batch not delivered within 10 s");
      return;
    }
    seconds += std::chrono::duration<double>(clock_type::now() - start).count();
    messages += stream_batch;
  }
  report(state, messages, seconds, nullptr);
}

void BM_transport_pingpong(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  transport_pair pair(state.range(1) != 0, true);
  if (!pair.error.empty()) {
    state.SkipWithError(pair.error.c_str());
    return;
  }
  const std::string target = pair.b->advertise_address();

  (void)pair.a->send(target, bench_kind, std::string(size, 'w'));
  if (!wait_until(pair.received_by_a, 1)) {
    state.SkipWithError("warm-up round trip not completed");
    return;
  }

  const std::string body(size, 'x');
  std::vector<double> rtt_us;
  rtt_us.reserve(static_cast<std::size_t>(pingpong_batch * iterations));
  std::int64_t messages = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < pingpong_batch; ++i) {
      const auto expected = pair.received_by_a.load() + 1;
      const auto sent_at = clock_type::now();
      if (!pair.a->send(target, bench_kind, body)) {
        state.SkipWithError("send rejected");
        return;
      }
      if (!wait_until(pair.received_by_a, expected)) {
        state.SkipWithError("round trip not completed within 10 s");
        return;
      }
      const auto replied_at = clock_type::time_point(clock_type::duration(pair.reply_time_ns.load()));
      rtt_us.push_back(std::chrono::duration<double, std::micro>(replied_at - sent_at).count());
    }
    seconds += std::chrono::duration<double>(clock_type::now() - start).count();
    messages += pingpong_batch;
  }
  report(state, messages, seconds, &rtt_us);
}

// A ROUTER and a DEALER of one raw node, in its own context like a transport.
struct raw_node {
  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  zmq::socket_t dealer{context, zmq::socket_type::dealer};
  std::string endpoint;

  explicit raw_node(const std::optional<mesh::crypto::curve_keypair>& keys) {
    for (auto* socket : {&router, &dealer}) {
      socket->set(zmq::sockopt::linger, 0);
    }
    if (keys) {
      router.set(zmq::sockopt::curve_server, 1);
      router.set(zmq::sockopt::curve_secretkey, keys->secret_key);
      dealer.set(zmq::sockopt::curve_serverkey, keys->public_key);
      dealer.set(zmq::sockopt::curve_publickey, keys->public_key);
      dealer.set(zmq::sockopt::curve_secretkey, keys->secret_key);
    }
    router.set(zmq::sockopt::rcvtimeo, 10000);
    dealer.set(zmq::sockopt::sndtimeo, 10000);
    router.bind("tcp://127.0.0.1:*");
    endpoint = router.get(zmq::sockopt::last_endpoint);
  }

  // Receives one routed message (routing id, payload); false on timeout.
  bool receive(zmq::message_t& payload) {
    zmq::message_t routing_id;
    return router.recv(routing_id) && router.recv(payload);
  }
};

void BM_raw_stream(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto keys = bench_keys(state.range(1) != 0);
  raw_node a(keys);
  raw_node b(keys);
  a.dealer.connect(b.endpoint);

  std::atomic<std::int64_t> received{0};
  std::atomic<bool> failed{false};
  const std::int64_t total = 1 + stream_batch * iterations;
  std::thread receiver([&] {
    zmq::message_t payload;
    for (std::int64_t i = 0; i < total; ++i) {
      if (!b.receive(payload)) {
        failed = true;
        received.fetch_add(total, std::memory_order_release);
        received.notify_one();
        return;
      }
      received.fetch_add(1, std::memory_order_release);
      received.notify_one();
    }
  });

  a.dealer.send(zmq::buffer(std::string(size, 'w')), zmq::send_flags::none);
  const bool warmed = wait_until(received, 1);

  const std::string body(size, 'x');
  std::int64_t messages = 0;
  double seconds = 0;
  for (auto _ : state) {
    if (!warmed || failed) {
      state.SkipWithError("raw receiver timed out");
      break;
    }
    const auto base = received.load();
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < stream_batch; ++i) {
      zmq::message_t message(body.data(), body.size());
      if (!a.dealer.send(message, zmq::send_flags::none)) {
        failed = true;
        break;
      }
    }
    if (failed || !wait_until(received, base + stream_batch)) {
      state.SkipWithError("raw batch not delivered within 10 s");
      break;
    }
    seconds += std::chrono::duration<double>(clock_type::now() - start).count();
    messages += stream_batch;
  }

  // A skipped run leaves the receiver waiting; closing the context ends it.
  if (received.load() < total) {
    b.router.close();
    b.context.shutdown();
  }
  receiver.join();
  report(state, messages, seconds, nullptr);
}

void BM_raw_pingpong(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const auto keys = bench_keys(state.range(1) != 0);
  raw_node a(keys);
  raw_node b(keys);
  a.dealer.connect(b.endpoint);
  b.dealer.connect(a.endpoint);

  const std::int64_t total = 1 + pingpong_batch * iterations;
  std::thread echo([&] {
    zmq::message_t payload;
    try {
      for (std::int64_t i = 0; i < total; ++i) {
        if (!b.receive(payload) || !b.dealer.send(payload, zmq::send_flags::none)) {
          return;
        }
      }
    } catch (const zmq::error_t&) {
      // The context was shut down after a failed run.
    }
  });

  zmq::message_t reply;
  a.dealer.send(zmq::buffer(std::string(size, 'w')), zmq::send_flags::none);
  const bool warmed = a.receive(reply);

  const std::string body(size, 'x');
  std::vector<double> rtt_us;
  rtt_us.reserve(static_cast<std::size_t>(pingpong_batch * iterations));
  std::int64_t messages = 0;
  double seconds = 0;
  bool failed = !warmed;
  for (auto _ : state) {
    if (failed) {
      state.SkipWithError("raw round trip timed out");
      break;
    }
    const auto start = clock_type::now();
    for (std::int64_t i = 0; i < pingpong_batch; ++i) {
      const auto sent_at = clock_type::now();
      zmq::message_t message(body.data(), body.size());
      if (!a.dealer.send(message, zmq::send_flags::none) || !a.receive(reply)) {
        failed = true;
        break;
      }
      rtt_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - sent_at).count());
    }
    if (failed) {
      state.SkipWithError("raw round trip timed out");
      break;
    }
    seconds += std::chrono::duration<double>(clock_type::now() - start).count();
    messages += pingpong_batch;
  }

  if (failed) {
    b.context.shutdown();
  }
  echo.join();
  report(state, messages, seconds, &rtt_us);
}

// Arguments: {body bytes, CURVE off/on}.
void wire_args(benchmark::internal::Benchmark* bench) {
  bench->ArgNames({"bytes", "curve"});
  for (const std::int64_t curve : {0, 1}) {
    for (const std::int64_t bytes : {64, 1024}) {
      bench->Args({bytes, curve});
    }
  }
  bench->Iterations(iterations)->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_transport_stream)->Apply(wire_args);
BENCHMARK(BM_raw_stream)->Apply(wire_args);
BENCHMARK(BM_transport_pingpong)->Apply(wire_args);
BENCHMARK(BM_raw_pingpong)->Apply(wire_args);

}  // namespace

BENCHMARK_MAIN();
