#pragma once
// Shared pieces of meshctl's commands: options, exit codes and the HTTP
// calls that parse JSON replies. Each command group lives in its own file
// and registers its subcommands on the CLI11 app.

#include <CLI/CLI.hpp>
#include <google/protobuf/message.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace mesh::ctl {

using namespace std::chrono_literals;

inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_timed_out = 4;
inline constexpr auto request_timeout = 5s;

struct options {
  std::string node = "http://127.0.0.1:8080";
  std::string output = "table";
  // File with the bearer token for mutating calls; MESH_API_TOKEN_FILE when empty.
  std::string token_file;
};

// Fetches `path` from the node and parses the JSON reply into `message`.
// Prints why to standard error unless `quiet`, and returns false on failure.
bool fetch(const options& opts, const std::string& path, google::protobuf::Message& message,
           std::string& raw, bool quiet = false);

// POSTs `body` to `path` with the bearer token and parses a reply with one of
// the `accepted` statuses into `message`. Prints why to standard error and
// returns false on any other outcome.
bool post(const options& opts, const std::string& path, const std::string& body,
          std::initializer_list<unsigned> accepted, google::protobuf::Message& message,
          std::string& raw, std::chrono::milliseconds timeout = request_timeout);

// Reads the bearer token from opts.token_file or MESH_API_TOKEN_FILE; empty
// when neither is set. Prints why and returns nullopt when the file cannot
// be read.
std::optional<std::string> read_token(const options& opts);

// Registers the `dag` command group. The returned function runs the command
// that was parsed, or returns nullopt when none of the group's was.
std::function<std::optional<int>()> add_dag_commands(CLI::App& app, options& opts);

// Registers the `neural` command group (meshctl_neural.cpp), the same way.
std::function<std::optional<int>()> add_neural_commands(CLI::App& app, options& opts);

}  // namespace mesh::ctl
