#include "mesh/http/server.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "mesh/http/json.hpp"
#include "mesh/telemetry/logging.hpp"

namespace mesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

using digest = std::array<unsigned char, 32>;

digest sha256(std::string_view text) {
  digest out{};
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

// Compares the bearer credential in `authorization` with the token through
// their SHA-256 digests, so the time taken depends neither on where they
// differ nor on the credential's length.
bool bearer_matches(std::string_view authorization, const digest& token_digest) {
  constexpr std::string_view scheme = "bearer ";
  if (authorization.size() < scheme.size()) {
    return false;
  }
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != scheme[i]) {
      return false;
    }
  }
  const auto presented = sha256(authorization.substr(scheme.size()));
  return CRYPTO_memcmp(presented.data(), token_digest.data(), presented.size()) == 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Decodes %XX escapes (and '+' as a space when `plus_is_space`); empty for a
// malformed escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const int high = hex_value(text[i + 1]);
      const int low = hex_value(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!name || !value) {
      return std::nullopt;
    }
    out[std::move(*name)] = std::move(*value);
  }
  return out;
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += separator;
    }
    out += item;
  }
  return out;
}

class session;

}  // namespace

// Everything the io thread works on. The io_context is declared first so
// that it is destroyed last: uninvoked handlers, which own sessions, are
// destroyed with it while the sockets' services still exist.
struct server::state : std::enable_shared_from_this<server::state> {
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_retry{ioc};
  std::shared_ptr<const router> routes;
  std::optional<digest> token_digest;
  server_limits limits;
  std::uint16_t port = 0;
  std::string endpoint_text;
  std::shared_ptr<spdlog::logger> log = telemetry::logger("http");
  telemetry::rate_limiter accept_errors{5, std::chrono::seconds(10)};

  std::atomic<bool> stopped{false};
  std::mutex stop_mutex;
  std::thread thread;

  // Owned and touched by the io thread only.
  std::unordered_map<std::uint64_t, std::shared_ptr<session>> sessions;
  std::uint64_t next_session_id = 0;

  void do_accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);
};

namespace {

// One connection. Reads a request, dispatches it, waits for the responder,
// writes the response, and reads the next one while the connection is kept
// alive. Runs on the io thread only; responders reach it through post().
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, server::state& owner, std::weak_ptr<server::state> weak_owner,
          std::uint64_t id)
      : stream_(std::move(socket)),
        handler_timer_(owner.ioc),
        owner_(owner),
        weak_owner_(std::move(weak_owner)),
        id_(id) {
    boost::system::error_code ec;
    const auto remote = stream_.socket().remote_endpoint(ec);
    remote_ = ec ? "unknown" : format_endpoint(remote);
  }

  void start() { do_read(); }

  // Sends 503 and closes the connection, for connections over the limit.
  void reject_overloaded() {
    keep_alive_ = false;
    write(error_response(503, "unavailable", "too many connections; retry later"), {});
  }

  // Writes the response to request number `sequence` unless that request
  // already has one (a handler timeout, or an earlier responder call).
  void on_response(std::uint64_t sequence, response reply) {
    if (!awaiting_response_ || sequence != sequence_) {
      return;
    }
    awaiting_response_ = false;
    handler_timer_.cancel();
    write(std::move(reply), {});
  }

  void close() {
    const auto self = shared_from_this();
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    handler_timer_.cancel();
    owner_.sessions.erase(id_);
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->body_limit(owner_.limits.max_body_bytes);
    stream_.expires_after(owner_.limits.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                        self->on_read(ec);
                      });
  }

  void on_read(const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) {
      return;
    }
    if (ec == bhttp::error::body_limit) {
      keep_alive_ = false;
      write(error_response(413, "too_large",
                           "request body exceeds the limit of " +
                               std::to_string(owner_.limits.max_body_bytes) + " bytes"),
            {});
      return;
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      keep_alive_ = false;
      write(error_response(400, "bad_request", "malformed HTTP request: " + ec.message()), {});
      return;
    }
    if (ec) {
      // End of stream, idle timeout or a reset leave no one to reply to.
      owner_.log->debug("connection closed remote={} reason={}", remote_, ec.message());
      close();
      return;
    }

    dispatch(parser_->release());
  }

  void dispatch(bhttp::request<bhttp::string_body> raw) {
    version_ = raw.version();
    keep_alive_ = raw.keep_alive();

    request req;
    req.method = std::string(raw.method_string());
    req.target = std::string(raw.target());
    req.authorization = std::string(raw[bhttp::field::authorization]);
    req.remote_address = remote_;
    req.body = std::move(raw.body());

    const auto question = req.target.find('?');
    req.path = req.target.substr(0, question);
    if (req.path.empty() || req.path.front() != '/') {
      write(error_response(400, "bad_request",
                           "request target '" + req.target + "' must be an absolute path"),
            {});
      return;
    }
    if (question != std::string::npos) {
      auto query = parse_query(std::string_view(req.target).substr(question + 1));
      if (!query) {
        write(error_response(400, "bad_request",
                             "invalid percent-encoding in query of '" + req.target + "'"),
              {});
        return;
      }
      req.query = std::move(*query);
    }

    auto found = owner_.routes->find(req.method, req.path);
    if (found.target == nullptr) {
      if (!found.allowed_methods.empty()) {
        write(error_response(405, "method_not_allowed",
                             "method " + req.method + " is not allowed on " + req.path +
                                 "; allowed: " + join(found.allowed_methods, ", ")),
              {{"Allow", join(found.allowed_methods, ", ")}});
        return;
      }
      const std::string* hint = owner_.routes->hint_for(req.path);
      write(error_response(404, "not_found", "no route for " + req.path + (hint != nullptr ? "; " + *hint : "")),
            {});
      return;
    }

    for (auto& [name, value] : found.params) {
      auto decoded = percent_decode(value, false);
      if (!decoded) {
        write(error_response(400, "bad_request",
                             "invalid percent-encoding in path segment '" + value + "'"),
              {});
        return;
      }
      req.params[name] = std::move(*decoded);
    }

    if (found.requires_token && owner_.token_digest &&
        !bearer_matches(req.authorization, *owner_.token_digest)) {
      write(error_response(401, "unauthorized",
                           "missing or invalid bearer token; send 'Authorization: Bearer <token>'"),
            {{"WWW-Authenticate", "Bearer"}});
      return;
    }

    call_handler(*found.target, std::move(req));
  }

  void call_handler(const handler& target, request req) {
    awaiting_response_ = true;
    const auto sequence = ++sequence_;
    handler_timer_.expires_after(owner_.limits.handler_timeout);
    handler_timer_.async_wait([weak = weak_from_this(), sequence](const boost::system::error_code& ec) {
      const auto self = weak.lock();
      if (ec || !self) {
        return;
      }
      self->owner_.log->warn("handler timed out remote={} timeout_s={}", self->remote_,
                             self->owner_.limits.handler_timeout.count());
      self->on_response(sequence, error_response(503, "timed_out", "the request handler did not reply in time"));
    });

    auto reply = make_responder(sequence);
    try {
      target(std::move(req), reply);
    } catch (const std::exception& e) {
      owner_.log->error("handler threw remote={} error={}", remote_, e.what());
      reply(error_response(500, "internal", "the request handler failed"));
    }
  }

  responder make_responder(std::uint64_t sequence);

  void write(response reply, std::vector<std::pair<std::string, std::string>> extra_headers) {
    if (reply.status >= 400) {
      owner_.log->debug("request failed remote={} status={} body={}", remote_, reply.status, reply.body);
    }
    response_ = {};
    response_.version(version_ == 0 ? 11 : version_);
    response_.result(reply.status);
    response_.set(bhttp::field::server, "libmesh");
    response_.set(bhttp::field::content_type, reply.content_type);
    for (const auto& [name, value] : extra_headers) {
      response_.set(name, value);
    }
    response_.body() = std::move(reply.body);
    response_.keep_alive(keep_alive_);
    response_.prepare_payload();

    stream_.expires_after(owner_.limits.read_timeout);
    bhttp::async_write(stream_, response_,
                       [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                         self->on_write(ec);
                       });
  }

  void on_write(const boost::system::error_code& ec) {
    if (ec) {
      if (ec != asio::error::operation_aborted) {
        owner_.log->debug("write failed remote={} error={}", remote_, ec.message());
        close();
      }
      return;
    }
    if (keep_alive_) {
      do_read();
      return;
    }
    linger();
  }

  // Half-closes the connection and discards what the client still sends, so
  // that a client still writing a rejected body reads the response instead
  // of a reset. Bounded by time and by the bytes discarded.
  void linger() {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::min<std::chrono::steady_clock::duration>(owner_.limits.read_timeout,
                                                                        std::chrono::seconds(5)));
    drain();
  }

  void drain() {
    constexpr std::size_t max_discarded = 64 * 1024 * 1024;
    stream_.async_read_some(asio::buffer(discard_),
                            [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                              self->discarded_ += n;
                              if (ec || self->discarded_ > max_discarded) {
                                if (ec != asio::error::operation_aborted) {
                                  self->close();
                                }
                                return;
                              }
                              self->drain();
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> response_;
  asio::steady_timer handler_timer_;
  server::state& owner_;
  std::weak_ptr<server::state> weak_owner_;
  const std::uint64_t id_;
  std::string remote_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool awaiting_response_ = false;
  std::uint64_t sequence_ = 0;
  std::array<char, 16 * 1024> discard_{};
  std::size_t discarded_ = 0;
};

// Shared by all copies of one responder. The first call posts the response to
// the io thread. If no copy was called before the last one is destroyed, the
// server replies 500. Holds only weak references, so a responder kept
// after the server stopped neither keeps the server alive nor touches it.
class responder_state {
 public:
  responder_state(std::weak_ptr<server::state> owner, std::weak_ptr<session> target,
                  std::uint64_t sequence)
      : owner_(std::move(owner)), target_(std::move(target)), sequence_(sequence) {}

  responder_state(const responder_state&) = delete;
  responder_state& operator=(const responder_state&) = delete;

  ~responder_state() {
    if (!called_.load()) {
      complete(error_response(500, "internal", "the request handler dropped the request"));
    }
  }

  void complete(response reply) {
    if (called_.exchange(true)) {
      return;
    }
    const auto owner = owner_.lock();
    if (!owner || owner->stopped.load()) {
      return;
    }
    asio::post(owner->ioc, [target = target_, sequence = sequence_, reply = std::move(reply)]() mutable {
      if (const auto live = target.lock()) {
        live->on_response(sequence, std::move(reply));
      }
    });
  }

 private:
  std::weak_ptr<server::state> owner_;
  std::weak_ptr<session> target_;
  const std::uint64_t sequence_;
  std::atomic<bool> called_{false};
};

responder session::make_responder(std::uint64_t sequence) {
  auto shared = std::make_shared<responder_state>(weak_owner_, weak_from_this(), sequence);
  return [shared](response reply) { shared->complete(std::move(reply)); };
}

}  // namespace

void server::state::do_accept() {
  acceptor.async_accept(ioc, [this](const boost::system::error_code& ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void server::state::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || stopped.load()) {
    return;
  }
  if (ec) {
    // Typically EMFILE: wait a little instead of spinning on the error.
    std::uint64_t suppressed = 0;
    if (accept_errors.allow(suppressed)) {
      log->error("accept failed endpoint={} error={} suppressed={}", endpoint_text, ec.message(),
                 suppressed);
    }
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](const boost::system::error_code& timer_ec) {
      if (!timer_ec) {
        do_accept();
      }
    });
    return;
  }

  const auto id = next_session_id++;
  if (sessions.size() >= limits.max_connections) {
    auto rejected = std::make_shared<session>(std::move(socket), *this, weak_from_this(), id);
    rejected->reject_overloaded();
  } else {
    auto accepted = std::make_shared<session>(std::move(socket), *this, weak_from_this(), id);
    sessions.emplace(id, accepted);
    accepted->start();
  }
  do_accept();
}

server::server(std::shared_ptr<state> shared_state) : state_(std::move(shared_state)) {}

server::~server() { stop(); }

std::uint16_t server::port() const noexcept { return state_->port; }

result<std::unique_ptr<server>> server::start(const std::string& bind_address, std::uint16_t port,
                                              std::shared_ptr<const router> routes,
                                              std::optional<std::string> api_token,
                                              server_limits limits) {
  const std::string requested = bind_address + ":" + std::to_string(port);
  if (!routes) {
    return fail(errc::invalid_argument, "http server on " + requested + " started without routes");
  }

  boost::system::error_code ec;
  const auto address = asio::ip::make_address(bind_address, ec);
  if (ec) {
    return fail(errc::io_error, "cannot listen on " + requested + ": '" + bind_address +
                                    "' is not an IPv4 or IPv6 address");
  }

  auto shared = std::make_shared<state>();
  shared->routes = std::move(routes);
  shared->limits = limits;
  if (api_token) {
    shared->token_digest = sha256(*api_token);
  }

  const tcp::endpoint endpoint(address, port);
  auto& acceptor = shared->acceptor;
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return fail(errc::io_error, "cannot listen on " + requested + ": " + ec.message());
  }
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return fail(errc::io_error, "cannot listen on " + requested + ": " + ec.message());
  }
  if (acceptor.bind(endpoint, ec); ec) {
    return fail(errc::io_error, "cannot listen on " + requested + ": " + ec.message());
  }
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return fail(errc::io_error, "cannot listen on " + requested + ": " + ec.message());
  }
  shared->port = acceptor.local_endpoint().port();
  shared->endpoint_text = format_endpoint(acceptor.local_endpoint());

  if (!api_token) {
    shared->log->warn(
        "http server has no api token endpoint={}; routes that require a token accept every request",
        shared->endpoint_text);
  }

  shared->do_accept();
  shared->thread = std::thread([raw = shared.get()] {
    while (true) {
      try {
        raw->ioc.run();
        return;
      } catch (const std::exception& e) {
        raw->log->error("http io thread caught an exception endpoint={} error={}", raw->endpoint_text,
                        e.what());
      }
    }
  });
  shared->log->info("http server started endpoint={}", shared->endpoint_text);
  return std::unique_ptr<server>(new server(std::move(shared)));
}

void server::stop() {
  std::lock_guard lock(state_->stop_mutex);
  if (state_->stopped.exchange(true)) {
    return;
  }

  asio::post(state_->ioc, [raw = state_.get()] {
    boost::system::error_code ignored;
    raw->acceptor.close(ignored);
    raw->accept_retry.cancel();
    auto open_sessions = std::move(raw->sessions);
    raw->sessions.clear();
    for (auto& [id, open] : open_sessions) {
      open->close();
    }
    raw->ioc.stop();
  });
  if (state_->thread.joinable()) {
    state_->thread.join();
  }
  state_->log->info("http server stopped endpoint={}", state_->endpoint_text);
}

}  // namespace mesh::http
