// Unit tests for the Beast HTTP server, router and blocking client. Every
// server binds 127.0.0.1 port 0.

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <atomic>
#include <future>
#include <thread>

#include "mesh/http/client.hpp"
#include "mesh/http/json.hpp"
#include "mesh/http/server.hpp"

namespace {

using namespace std::chrono_literals;
using mesh::http::request;
using mesh::http::responder;
using mesh::http::response;

constexpr auto timeout = 5000ms;

std::string url(const mesh::http::server& srv, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(srv.port()) + target;
}

std::unique_ptr<mesh::http::server> start(std::shared_ptr<mesh::http::router> routes,
                                          std::optional<std::string> token = std::nullopt,
                                          mesh::http::server_limits limits = {}) {
  auto started = mesh::http::server::start("127.0.0.1", 0, std::move(routes), std::move(token), limits);
  EXPECT_TRUE(started.has_value()) << (started ? "" : started.err().message);
  return started ? std::move(*started) : nullptr;
}

std::shared_ptr<mesh::http::router> echo_routes() {
  auto routes = std::make_shared<mesh::http::router>();
  routes->add("GET", "/health", [](request, responder done) { done({200, "application/json", R"({"status":"ok"})"}); });
  routes->add("GET", "/v1/vertices/{id}", [](request req, responder done) {
    done({200, "text/plain", "vertex " + req.params.at("id")});
  });
  routes->add("GET", "/v1/vertices/latest", [](request, responder done) { done({200, "text/plain", "latest"}); });
  routes->add("GET", "/v1/search", [](request req, responder done) {
    done({200, "text/plain", req.query["q"] + "|" + req.query["limit"]});
  });
  routes->add("POST", "/v1/vertices", [](request req, responder done) { done({201, "application/json", req.body}); },
              true);
  routes->add("DELETE", "/v1/vertices/{id}", [](request req, responder done) {
    done({204, "application/json", ""});
    (void)req;
  }, true);
  return routes;
}

TEST(HttpRouter, LiteralSegmentWinsOverPlaceholder) {
  auto routes = echo_routes();
  const auto latest = routes->find("GET", "/v1/vertices/latest");
  ASSERT_NE(latest.target, nullptr);
  EXPECT_TRUE(latest.params.empty());

  const auto other = routes->find("GET", "/v1/vertices/abc");
  ASSERT_NE(other.target, nullptr);
  EXPECT_EQ(other.params.at("id"), "abc");
}

TEST(HttpRouter, ReportsAllowedMethodsForKnownPath) {
  auto routes = echo_routes();
  const auto found = routes->find("PUT", "/v1/vertices");
  EXPECT_EQ(found.target, nullptr);
  ASSERT_EQ(found.allowed_methods.size(), 1U);
  EXPECT_EQ(found.allowed_methods[0], "POST");
}

TEST(HttpRouter, RejectsMalformedAndDuplicatePatterns) {
  mesh::http::router routes;
  const auto noop = [](request, responder done) { done({}); };
  EXPECT_THROW(routes.add("GET", "v1/x", noop), std::invalid_argument);
  EXPECT_THROW(routes.add("GET", "/v1/{}", noop), std::invalid_argument);
  EXPECT_THROW(routes.add("GET", "/v1/{id", noop), std::invalid_argument);
  routes.add("GET", "/v1/{id}", noop);
  EXPECT_THROW(routes.add("GET", "/v1/{other}", noop), std::invalid_argument);
}

TEST(HttpRouter, PlaceholderNeedsNonEmptySegment) {
  auto routes = echo_routes();
  EXPECT_EQ(routes->find("GET", "/v1/vertices/").target, nullptr);
}

TEST(HttpServer, ServesRouteWithParamsAndQuery) {
  auto srv = start(echo_routes());
  ASSERT_NE(srv, nullptr);

  auto health = mesh::http::get(url(*srv, "/health"), timeout);
  ASSERT_TRUE(health.has_value()) << health.err().message;
  EXPECT_EQ(health->status, 200U);
  EXPECT_EQ(health->content_type, "application/json");
  EXPECT_EQ(health->body, R"({"status":"ok"})");

  auto vertex = mesh::http::get(url(*srv, "/v1/vertices/a%2Fb"), timeout);
  ASSERT_TRUE(vertex.has_value());
  EXPECT_EQ(vertex->body, "vertex a/b");

  auto search = mesh::http::get(url(*srv, "/v1/search?q=hello+world%21&limit=5"), timeout);
  ASSERT_TRUE(search.has_value());
  EXPECT_EQ(search->body, "hello world!|5");
}

TEST(HttpServer, UnknownPathIs404WithJsonError) {
  auto srv = start(echo_routes());
  ASSERT_NE(srv, nullptr);
  auto reply = mesh::http::get(url(*srv, "/nope"), timeout);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 404U);
  EXPECT_EQ(reply->content_type, "application/json");
  EXPECT_NE(reply->body.find(R"({"error":{"code":"not_found","message":")"), std::string::npos) << reply->body;
}

TEST(HttpServer, UnknownPathNamesHintedPort) {
  auto routes = echo_routes();
  routes->add_hint("/v1/jobs", "this path is served on the API port");
  routes->add_hint("/v1", "a shorter prefix");
  auto srv = start(routes);
  ASSERT_NE(srv, nullptr);

  auto hinted = mesh::http::get(url(*srv, "/v1/jobs/42"), timeout);
  ASSERT_TRUE(hinted.has_value());
  EXPECT_EQ(hinted->status, 404U);
  EXPECT_NE(hinted->body.find("no route for /v1/jobs/42; this path is served on the API port"), std::string::npos)
      << hinted->body;

  auto plain = mesh::http::get(url(*srv, "/nope"), timeout);
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->body.find("served on"), std::string::npos) << plain->body;
}

TEST(HttpServer, WrongMethodIs405) {
  auto srv = start(echo_routes());
  ASSERT_NE(srv, nullptr);
  auto reply = mesh::http::post(url(*srv, "/health"), "{}", "", timeout);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 405U);
  EXPECT_NE(reply->body.find("method_not_allowed"), std::string::npos);
}

TEST(HttpServer, TokenRouteRejectsMissingOrWrongToken) {
  auto srv = start(echo_routes(), "s3cret");
  ASSERT_NE(srv, nullptr);

  auto missing = mesh::http::post(url(*srv, "/v1/vertices"), "{}", "", timeout);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->status, 401U);
  EXPECT_NE(missing->body.find("unauthorized"), std::string::npos);

  auto wrong = mesh::http::post(url(*srv, "/v1/vertices"), "{}", "s3cret-not", timeout);
  ASSERT_TRUE(wrong.has_value());
  EXPECT_EQ(wrong->status, 401U);

  auto deleted_wrong = mesh::http::del(url(*srv, "/v1/vertices/7"), "other", timeout);
  ASSERT_TRUE(deleted_wrong.has_value());
  EXPECT_EQ(deleted_wrong->status, 401U);

  auto right = mesh::http::post(url(*srv, "/v1/vertices"), R"({"a":1})", "s3cret", timeout);
  ASSERT_TRUE(right.has_value());
  EXPECT_EQ(right->status, 201U);
  EXPECT_EQ(right->body, R"({"a":1})");

  auto deleted = mesh::http::del(url(*srv, "/v1/vertices/7"), "s3cret", timeout);
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(deleted->status, 204U);

  // Routes without requires_token stay open.
  auto health = mesh::http::get(url(*srv, "/health"), timeout);
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200U);
}

TEST(HttpServer, BodyOverLimitIs413) {
  mesh::http::server_limits limits;
  limits.max_body_bytes = 1024;
  auto srv = start(echo_routes(), "t", limits);
  ASSERT_NE(srv, nullptr);

  auto small = mesh::http::post(url(*srv, "/v1/vertices"), std::string(1024, 'x'), "t", timeout);
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->status, 201U);

  auto large = mesh::http::post(url(*srv, "/v1/vertices"), std::string(256 * 1024, 'x'), "t", timeout);
  ASSERT_TRUE(large.has_value()) << large.err().message;
  EXPECT_EQ(large->status, 413U);
  EXPECT_NE(large->body.find("too_large"), std::string::npos);
}

// Sends raw bytes on a fresh connection and returns everything the server
// writes back until it closes the connection or 5 s pass.
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  boost::asio::write(socket, boost::asio::buffer(bytes));
  ::timeval read_timeout{5, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &read_timeout, sizeof(read_timeout));
  std::string received;
  std::array<char, 4096> chunk{};
  boost::system::error_code ec;
  while (true) {
    const auto n = socket.read_some(boost::asio::buffer(chunk), ec);
    if (ec) {
      break;
    }
    received.append(chunk.data(), n);
  }
  return received;
}

TEST(HttpServer, MalformedRequestIs400) {
  auto srv = start(echo_routes());
  ASSERT_NE(srv, nullptr);
  const auto reply = raw_exchange(srv->port(), "GARBAGE\r\n\r\n");
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
  EXPECT_NE(reply.find("bad_request"), std::string::npos);
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  auto srv = start(echo_routes());
  ASSERT_NE(srv, nullptr);
  const auto reply = raw_exchange(srv->port(),
                                  "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                                  "GET /v1/vertices/9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const auto first = reply.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << reply;
  EXPECT_NE(reply.find("HTTP/1.1 200", first + 1), std::string::npos) << reply;
  EXPECT_NE(reply.find("vertex 9"), std::string::npos);
}

TEST(HttpServer, ResponderMayBeCalledFromAnotherThread) {
  auto routes = std::make_shared<mesh::http::router>();
  std::vector<std::thread> workers;
  std::mutex workers_mutex;
  routes->add("GET", "/later", [&](request, responder done) {
    std::lock_guard lock(workers_mutex);
    workers.emplace_back([done] {
      std::this_thread::sleep_for(50ms);
      done({200, "text/plain", "from worker"});
    });
  });
  auto srv = start(routes);
  ASSERT_NE(srv, nullptr);

  auto reply = mesh::http::get(url(*srv, "/later"), timeout);
  ASSERT_TRUE(reply.has_value()) << reply.err().message;
  EXPECT_EQ(reply->body, "from worker");

  for (auto& worker : workers) {
    worker.join();
  }
}

TEST(HttpServer, DroppedResponderAnswers500) {
  auto routes = std::make_shared<mesh::http::router>();
  routes->add("GET", "/drop", [](request, responder) {});
  auto srv = start(routes);
  ASSERT_NE(srv, nullptr);
  auto reply = mesh::http::get(url(*srv, "/drop"), timeout);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 500U);
}

TEST(HttpServer, HandlerTimeoutAnswers503AndIgnoresLateReply) {
  auto routes = std::make_shared<mesh::http::router>();
  std::promise<responder> held;
  routes->add("GET", "/slow", [&](request, responder done) { held.set_value(done); });
  mesh::http::server_limits limits;
  limits.handler_timeout = 1s;
  auto srv = start(routes, std::nullopt, limits);
  ASSERT_NE(srv, nullptr);

  auto reply = mesh::http::get(url(*srv, "/slow"), timeout);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, 503U);
  held.get_future().get()({200, "text/plain", "too late"});
}

TEST(HttpServer, ConcurrentRequestsAllSucceed) {
  auto srv = start(echo_routes());
  ASSERT_NE(srv, nullptr);
  constexpr int clients = 8;
  constexpr int per_client = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      for (int i = 0; i < per_client; ++i) {
        const auto id = std::to_string(c * per_client + i);
        auto reply = mesh::http::get(url(*srv, "/v1/vertices/" + id), timeout);
        if (reply && reply->status == 200 && reply->body == "vertex " + id) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }
  EXPECT_EQ(ok.load(), clients * per_client);
}

TEST(HttpServer, ConnectionsOverLimitGet503) {
  mesh::http::server_limits limits;
  limits.max_connections = 1;
  auto srv = start(echo_routes(), std::nullopt, limits);
  ASSERT_NE(srv, nullptr);

  // Hold one idle connection open so the next one is over the limit.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket idle(ioc);
  idle.connect({boost::asio::ip::make_address("127.0.0.1"), srv->port()});
  std::this_thread::sleep_for(100ms);

  auto reply = mesh::http::get(url(*srv, "/health"), timeout);
  ASSERT_TRUE(reply.has_value()) << reply.err().message;
  EXPECT_EQ(reply->status, 503U);
}

TEST(HttpServer, StopWhileRequestInFlight) {
  auto routes = std::make_shared<mesh::http::router>();
  std::promise<responder> held;
  routes->add("GET", "/hang", [&](request, responder done) { held.set_value(done); });
  auto srv = start(routes);
  ASSERT_NE(srv, nullptr);
  const auto target = url(*srv, "/hang");

  auto pending = std::async(std::launch::async, [&] { return mesh::http::get(target, timeout); });
  auto future_responder = held.get_future();
  ASSERT_EQ(future_responder.wait_for(timeout), std::future_status::ready);
  auto done = future_responder.get();

  const auto before = std::chrono::steady_clock::now();
  srv->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);

  auto reply = pending.get();
  EXPECT_FALSE(reply.has_value());
  EXPECT_EQ(reply.err().code, mesh::errc::io_error) << reply.err().message;

  // The responder outlives the server; calling it must do nothing.
  srv.reset();
  done({200, "text/plain", "after stop"});
}

TEST(HttpServer, PortInUseIsIoErrorNamingAddress) {
  auto first = start(echo_routes());
  ASSERT_NE(first, nullptr);
  auto second = mesh::http::server::start("127.0.0.1", first->port(), echo_routes(), std::nullopt);
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.err().code, mesh::errc::io_error);
  EXPECT_NE(second.err().message.find("127.0.0.1:" + std::to_string(first->port())), std::string::npos)
      << second.err().message;
}

TEST(HttpServer, InvalidBindAddressIsIoError) {
  auto started = mesh::http::server::start("not-an-ip", 0, echo_routes(), std::nullopt);
  ASSERT_FALSE(started.has_value());
  EXPECT_EQ(started.err().code, mesh::errc::io_error);
  EXPECT_NE(started.err().message.find("not-an-ip"), std::string::npos);
}

TEST(HttpClient, RefusedConnectionIsIoError) {
  // Bind and close a socket to find a port with no listener.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor probe(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();

  const auto before = std::chrono::steady_clock::now();
  auto reply = mesh::http::get("http://127.0.0.1:" + std::to_string(port) + "/health", 2000ms);
  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.err().code, mesh::errc::io_error) << reply.err().message;
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2000ms);
}

TEST(HttpClient, SilentServerTimesOut) {
  // A listening socket that never accepts: the connect succeeds through the
  // backlog, and no response ever arrives.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor silent(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = silent.local_endpoint().port();

  const auto before = std::chrono::steady_clock::now();
  auto reply = mesh::http::get("http://127.0.0.1:" + std::to_string(port) + "/health", 300ms);
  const auto elapsed = std::chrono::steady_clock::now() - before;
  ASSERT_FALSE(reply.has_value());
  EXPECT_EQ(reply.err().code, mesh::errc::timed_out) << reply.err().message;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LT(elapsed, 2000ms);
}

TEST(HttpClient, RejectsMalformedUrls) {
  for (const std::string bad : {"https://127.0.0.1/x", "127.0.0.1:80/x", "http://:80/x", "http://127.0.0.1:0/x",
                                "http://127.0.0.1:99999/x", "http://[::1/x"}) {
    auto reply = mesh::http::get(bad, 100ms);
    ASSERT_FALSE(reply.has_value()) << bad;
    EXPECT_EQ(reply.err().code, mesh::errc::invalid_argument) << bad;
    EXPECT_NE(reply.err().message.find(bad), std::string::npos) << reply.err().message;
  }
}

TEST(HttpJson, EscapesQuotesControlsAndInvalidUtf8) {
  EXPECT_EQ(mesh::http::json_escape(R"(say "hi" \ )"), R"(say \"hi\" \\ )");
  EXPECT_EQ(mesh::http::json_escape("a\nb\tc\x01"), "a\\nb\\tc\\u0001");
  EXPECT_EQ(mesh::http::json_escape("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(mesh::http::json_escape("bad\xC3"), "bad\xEF\xBF\xBD");
  EXPECT_EQ(mesh::http::json_escape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(mesh::http::json_error_body("not_found", "no \"x\""),
            R"({"error":{"code":"not_found","message":"no \"x\""}})");
}

}  // namespace
