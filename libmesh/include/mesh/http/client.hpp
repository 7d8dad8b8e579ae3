#pragma once
// Blocking HTTP/1.1 client for meshctl, tests and benchmarks. Each call opens
// one connection, sends one request and waits for the whole response. Only
// plain "http://host[:port]/path" URLs are accepted. Thread-safe: calls share
// no state.

#include <chrono>
#include <string>

#include "mesh/error.hpp"
#include "mesh/http/server.hpp"

namespace mesh::http {

// Each function fails with errc::invalid_argument for a malformed URL,
// errc::io_error when resolving, connecting or transferring fails,
// errc::timed_out when `timeout` (covering the whole exchange) passes, and
// errc::decode_error for a malformed response. Any HTTP status, including
// 4xx and 5xx, is a successful result. An empty `bearer_token` sends no
// Authorization header.
[[nodiscard]] result<response> get(const std::string& url, std::chrono::milliseconds timeout);
[[nodiscard]] result<response> post(const std::string& url, const std::string& body,
                                    const std::string& bearer_token,
                                    std::chrono::milliseconds timeout);
[[nodiscard]] result<response> del(const std::string& url, const std::string& bearer_token,
                                   std::chrono::milliseconds timeout);

}  // namespace mesh::http
