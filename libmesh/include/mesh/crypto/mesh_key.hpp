#pragma once
// The mesh key, the 32-byte shared secret that admits a node to the mesh, and
// the ZeroMQ CURVE key pair that every node derives from it. docs/wire-format.md
// describes the derivation and how the ZAP handler uses it.

#include <filesystem>
#include <string>
#include <string_view>

#include "mesh/error.hpp"

namespace mesh::crypto {

inline constexpr std::size_t mesh_key_size = 32;

// Reads the mesh key from `file`, which contains either exactly 32 raw bytes or
// 64 hex characters (surrounding whitespace such as a trailing newline is
// ignored for hex). Returns the 32 raw bytes. A file readable by group or
// others is accepted with a warning on the "crypto" logger, because
// Kubernetes mounts Secrets with mode 0644 unless defaultMode is set.
[[nodiscard]] result<std::string> load_mesh_key(const std::filesystem::path& file);

// Returns a new random mesh key as 64 lowercase hex characters.
[[nodiscard]] result<std::string> generate_mesh_key_hex();

// A CURVE key pair as 40-character Z85 strings, the form ZeroMQ's socket
// options take.
struct curve_keypair {
  std::string public_key;
  std::string secret_key;
};

// Derives the mesh's CURVE key pair from the 32-byte mesh key:
// secret = SHA-256("libmesh curve v1" || mesh_key), clamped as X25519 expects,
// and public = zmq_curve_public(secret). Every node with the same mesh key
// gets the same pair. Fails when the key is not 32 bytes or when libzmq was
// built without CURVE.
[[nodiscard]] result<curve_keypair> derive_curve_keypair(std::string_view mesh_key);

}  // namespace mesh::crypto
