// Shared HTTP calls of meshctl's commands; see meshctl_common.hpp.
#include "meshctl_common.hpp"

#include <google/protobuf/util/json_util.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "mesh/http/client.hpp"

namespace mesh::ctl {

namespace {

bool parse_reply(const options& opts, const std::string& path, const std::string& raw,
                 google::protobuf::Message& message) {
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  const auto parsed = google::protobuf::util::JsonStringToMessage(raw, &message, parse);
  if (!parsed.ok()) {
    std::cerr << "meshctl: reply from " << opts.node << path
              << " is not valid JSON: " << parsed.ToString() << "\n";
    return false;
  }
  return true;
}

}  // namespace

bool fetch(const options& opts, const std::string& path, google::protobuf::Message& message,
           std::string& raw, bool quiet) {
  auto reply = mesh::http::get(opts.node + path, request_timeout);
  if (!reply) {
    if (!quiet) {
      std::cerr << "meshctl: request to " << opts.node << path
                << " failed: " << reply.err().message << "\n";
    }
    return false;
  }
  if (reply->status != 200) {
    if (!quiet) {
      std::cerr << "meshctl: " << opts.node << path << " returned HTTP " << reply->status << ": "
                << reply->body << "\n";
    }
    return false;
  }
  raw = reply->body;
  return parse_reply(opts, path, raw, message);
}

std::optional<std::string> read_token(const options& opts) {
  std::string file = opts.token_file;
  if (file.empty()) {
    const char* env = std::getenv("MESH_API_TOKEN_FILE");
    file = env != nullptr ? env : "";
  }
  if (file.empty()) {
    return std::string();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::cerr << "meshctl: cannot read the token file '" << file << "'\n";
    return std::nullopt;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto token = buffer.str();
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())) != 0) {
    token.pop_back();
  }
  return token;
}

bool post(const options& opts, const std::string& path, const std::string& body,
          std::initializer_list<unsigned> accepted, google::protobuf::Message& message,
          std::string& raw, std::chrono::milliseconds timeout) {
  auto token = read_token(opts);
  if (!token) {
    return false;
  }
  auto reply = mesh::http::post(opts.node + path, body, *token, timeout);
  if (!reply) {
    std::cerr << "meshctl: request to " << opts.node << path << " failed: " << reply.err().message
              << "\n";
    return false;
  }
  if (std::find(accepted.begin(), accepted.end(), reply->status) == accepted.end()) {
    std::cerr << "meshctl: " << opts.node << path << " returned HTTP " << reply->status << ": "
              << reply->body << "\n";
    return false;
  }
  raw = reply->body;
  return parse_reply(opts, path, raw, message);
}

}  // namespace mesh::ctl
