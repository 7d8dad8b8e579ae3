#include "mesh/http/client.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <optional>

namespace mesh::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

// Responses larger than this are rejected; the node's largest replies (DAG
// pages, model downloads) stay well below it.
constexpr std::size_t max_response_body_bytes = 64 * 1024 * 1024;

struct parsed_url {
  std::string host;  // without brackets for IPv6
  std::string port;
  std::string target;
  std::string host_header;
};

result<parsed_url> parse_url(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) {
    return fail(errc::invalid_argument,
                "invalid URL '" + url + "': only http://host[:port]/path is accepted");
  }

  const std::string_view rest = std::string_view(url).substr(scheme.size());
  const auto authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  parsed_url out;
  out.target = authority_end == std::string_view::npos ? "/" : std::string(rest.substr(authority_end));
  if (out.target.front() == '?') {
    out.target.insert(0, "/");
  }
  out.host_header = std::string(authority);

  std::string_view port_text;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return fail(errc::invalid_argument, "invalid URL '" + url + "': unterminated IPv6 address");
    }
    out.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') {
      return fail(errc::invalid_argument, "invalid URL '" + url + "': expected ':' after ']'");
    }
    port_text = after.empty() ? std::string_view{} : after.substr(1);
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    port_text = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    return fail(errc::invalid_argument, "invalid URL '" + url + "': the host is empty");
  }

  if (port_text.empty()) {
    out.port = "80";
    return out;
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    return fail(errc::invalid_argument, "invalid URL '" + url + "': port '" + std::string(port_text) +
                                            "' is not a number from 1 to 65535");
  }
  out.port = std::string(port_text);
  return out;
}

result<response> perform(bhttp::verb method, const std::string& url, const std::string* body,
                         const std::string& bearer_token, std::chrono::milliseconds timeout) {
  auto parsed = parse_url(url);
  if (!parsed) {
    return parsed.err();
  }
  const auto& target = *parsed;
  const std::string label = std::string(bhttp::to_string(method)) + " " + url;

  bhttp::request<bhttp::string_body> req{method, target.target, 11};
  req.set(bhttp::field::host, target.host_header);
  req.set(bhttp::field::user_agent, "libmesh-client");
  req.keep_alive(false);
  if (!bearer_token.empty()) {
    req.set(bhttp::field::authorization, "Bearer " + bearer_token);
  }
  if (body != nullptr) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = *body;
  }
  req.prepare_payload();

  asio::io_context ioc{1};
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(max_response_body_bytes);
  std::optional<result<response>> outcome;

  const auto failed = [&](std::string_view step, const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) {
      outcome = fail(errc::timed_out, label + ": " + std::string(step) + " timed out after " +
                                          std::to_string(timeout.count()) + " ms");
      return;
    }
    outcome = fail(errc::io_error, label + ": " + std::string(step) + " failed: " + ec.message());
  };

  resolver.async_resolve(target.host, target.port, [&](const boost::system::error_code& resolve_ec,
                                                       const tcp::resolver::results_type& endpoints) {
    if (resolve_ec) {
      failed("resolving " + target.host, resolve_ec);
      return;
    }
    stream.expires_after(timeout);
    stream.async_connect(endpoints, [&](const boost::system::error_code& connect_ec, const tcp::endpoint&) {
      if (connect_ec) {
        failed("connecting to " + target.host_header, connect_ec);
        return;
      }
      bhttp::async_write(stream, req, [&](const boost::system::error_code& write_ec, std::size_t) {
        if (write_ec) {
          failed("sending the request", write_ec);
          return;
        }
        bhttp::async_read(stream, buffer, parser, [&](const boost::system::error_code& read_ec, std::size_t) {
          // end_of_stream and partial_message mean the server closed the
          // connection early, which is a transport failure, not bad syntax.
          const bool closed_early =
              read_ec == bhttp::error::end_of_stream || read_ec == bhttp::error::partial_message;
          if (read_ec && !closed_early &&
              read_ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category()) {
            outcome = fail(errc::decode_error, label + ": malformed response: " + read_ec.message());
            return;
          }
          if (read_ec) {
            failed("reading the response", read_ec);
            return;
          }
          auto& raw = parser.get();
          response reply;
          reply.status = raw.result_int();
          reply.content_type = std::string(raw[bhttp::field::content_type]);
          reply.body = std::move(raw.body());
          outcome = std::move(reply);
        });
      });
    });
  });

  ioc.run_for(timeout);
  if (!outcome) {
    return fail(errc::timed_out, label + ": no complete response within " +
                                     std::to_string(timeout.count()) + " ms");
  }
  return std::move(*outcome);
}

}  // namespace

result<response> get(const std::string& url, std::chrono::milliseconds timeout) {
  return perform(bhttp::verb::get, url, nullptr, {}, timeout);
}

result<response> post(const std::string& url, const std::string& body, const std::string& bearer_token,
                      std::chrono::milliseconds timeout) {
  return perform(bhttp::verb::post, url, &body, bearer_token, timeout);
}

result<response> del(const std::string& url, const std::string& bearer_token,
                     std::chrono::milliseconds timeout) {
  return perform(bhttp::verb::delete_, url, nullptr, bearer_token, timeout);
}

}  // namespace mesh::http
