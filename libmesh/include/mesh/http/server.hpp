#pragma once
// HTTP/1.1 server on Boost.Beast for the node's JSON APIs, /health and
// /metrics. Handlers never block: a handler receives the request and a
// responder, hands the work to an actor, and the actor calls the responder
// from its own thread; the server completes the response on its io thread.
//
// Usage:
//   auto routes = std::make_shared<mesh::http::router>();
//   routes->add("GET", "/v1/vertices/{id}", [](request req, responder done) {
//     done({200, "application/json", lookup(req.params.at("id"))});
//   });
//   auto started = server::start("127.0.0.1", 0, routes, token);

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/error.hpp"

namespace mesh::http {

struct request {
  std::string method;
  // The request target as sent, for example "/v1/vertices/ab?limit=5".
  std::string target;
  // The target without the query string, not percent-decoded.
  std::string path;
  // Query parameters, percent-decoded ('+' is a space). A repeated name keeps the last value.
  std::map<std::string, std::string> query;
  // Values of the {param} segments of the matched route, percent-decoded.
  std::map<std::string, std::string> params;
  std::string body;
  // The Authorization header as sent, empty when absent.
  std::string authorization;
  // "address:port" of the peer.
  std::string remote_address;
};

struct response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Returns an error response with the project's JSON error body,
// {"error":{"code":"<code>","message":"<message>"}}.
[[nodiscard]] response error_response(unsigned status, std::string_view code, std::string_view message);

// Completes one request. Call it exactly once, from any thread; calls after
// the first, and calls after the request timed out or the server stopped, are
// ignored. A responder destroyed without being called answers 500.
using responder = std::function<void(response)>;

// Handles one request. Runs on the server's io thread, so it must not block.
using handler = std::function<void(request, responder)>;

// Maps method and path to handlers. Patterns are absolute paths whose
// segments are literal or a {name} placeholder that matches one non-empty
// segment, for example "/v1/vertices/{id}". A literal segment wins over a
// placeholder at the same position. Thread safety: fill it before passing it
// to server::start; after that it is only read.
class router {
 public:
  // Outcome of looking up a method and path.
  struct match {
    // The handler, or null when no route matched.
    const handler* target = nullptr;
    bool requires_token = false;
    std::map<std::string, std::string> params;
    // Methods registered for the path when the path matched but the method did
    // not; empty when the path matched no pattern at all.
    std::vector<std::string> allowed_methods;
  };

  // Registers `h` for `method` (upper case, for example "GET") and
  // `pattern`. Routes with `requires_token` answer 401 unless the request
  // carries "Authorization: Bearer <token>" with the server's token. Throws
  // std::invalid_argument for a pattern that does not start with '/', has an
  // empty or malformed placeholder, or is already registered for `method`,
  // because those are programming errors in the wiring code.
  void add(std::string method, std::string pattern, handler h, bool requires_token = false);

  // Finds the route for `method` and `path` (not percent-decoded).
  [[nodiscard]] match find(std::string_view method, std::string_view path) const;

  // Adds `hint` to the 404 reply for a path that matches no route and starts
  // with `prefix`, for example the port that serves such paths.
  void add_hint(std::string prefix, std::string hint);

  // Returns the hint of the longest matching prefix, or null when none matches.
  [[nodiscard]] const std::string* hint_for(std::string_view path) const;

 private:
  struct route {
    std::string method;
    std::vector<std::string> segments;
    handler target;
    bool requires_token;
  };

  std::vector<route> routes_;
  std::vector<std::pair<std::string, std::string>> hints_;
};

struct server_limits {
  // Requests with a larger body are answered 413.
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  // Time allowed to receive one request, and the idle time after which a
  // keep-alive connection is closed.
  std::chrono::seconds read_timeout{30};
  // Time a handler has to call its responder before the server answers 503.
  std::chrono::seconds handler_timeout{30};
  // Connections beyond this are answered 503 and closed.
  std::size_t max_connections = 20000;
};

// One listening socket served by one io_context on one thread. Answers 404
// for unknown paths, 405 for a known path with another method, 401 on token
// routes without the right bearer token (compared in constant time), 413 for
// bodies over the limit and 400 for malformed HTTP, all with the JSON error
// body. Connections are kept alive unless the client asks otherwise.
//
// When `api_token` is empty (std::nullopt), routes that require a token are
// open to everyone, and start() logs a warning saying so.
//
// Thread safety: port() and stop() may be called from any thread except the
// server's own io thread (stop() joins it). Ownership: the caller owns the
// server; the destructor stops it.
class server {
 public:
  // Binds `bind_address:port` (port 0 picks a free port) and starts serving.
  // Fails with errc::io_error naming the address and port when the address
  // is invalid or in use.
  [[nodiscard]] static result<std::unique_ptr<server>> start(
      const std::string& bind_address, std::uint16_t port, std::shared_ptr<const router> routes,
      std::optional<std::string> api_token, server_limits limits = {});

  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  // The bound port, useful after binding port 0.
  [[nodiscard]] std::uint16_t port() const noexcept;

  // Closes the listening socket and every connection, then joins the io
  // thread. Requests still waiting for a responder get no reply. Idempotent.
  void stop();

  struct state;

 private:
  explicit server(std::shared_ptr<state> shared_state);

  std::shared_ptr<state> state_;
};

}  // namespace mesh::http
