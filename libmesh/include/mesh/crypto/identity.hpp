#pragma once
// Node identity: an Ed25519 key pair whose public key names the node in the
// mesh and signs membership claims and DAG vertices.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "mesh/error.hpp"

// OpenSSL's key type, declared here so that this header does not pull in
// <openssl/evp.h>.
struct evp_pkey_st;

namespace mesh::crypto {

// Name of the key file inside the node's data directory.
inline constexpr const char* node_key_file_name = "node.key";

// Length of the raw Ed25519 public key and of a signature, in bytes.
inline constexpr std::size_t ed25519_public_key_size = 32;
inline constexpr std::size_t ed25519_signature_size = 64;

// An Ed25519 key pair and the node id derived from it. The node id is the
// lowercase hex of the first 16 bytes of SHA-256(raw public key), 32
// characters.
//
// Thread safety: const member functions may be called from several threads at
// once. Ownership: owns its OpenSSL key; movable, not copyable.
class identity {
 public:
  // Loads <data_dir>/node.key, or creates it on first start. Creates data_dir
  // with mode 0700 when it is missing. A new key is written to a temporary
  // file with mode 0600, flushed with fsync and renamed into place, so a crash
  // never leaves a half-written key. Fails when the key file is readable or
  // writable by group or others, is not PEM PKCS#8, or contains a key other than
  // Ed25519.
  [[nodiscard]] static result<identity> load_or_create(const std::filesystem::path& data_dir);

  // Generates a key pair that lives only in memory, for tests and simulations.
  [[nodiscard]] static result<identity> generate();

  identity(identity&& other) noexcept;
  identity& operator=(identity&& other) noexcept;
  identity(const identity&) = delete;
  identity& operator=(const identity&) = delete;
  ~identity();

  [[nodiscard]] const std::string& node_id() const noexcept { return node_id_; }

  // Raw 32-byte public key.
  [[nodiscard]] const std::string& public_key() const noexcept { return public_key_; }

  // Signs `message` with Ed25519 (no pre-hash) and returns the 64-byte signature.
  [[nodiscard]] result<std::string> sign(std::string_view message) const;

  // Returns the private key as PEM PKCS#8, the format of node.key.
  [[nodiscard]] result<std::string> private_key_pem() const;

 private:
  explicit identity(evp_pkey_st* key);

  evp_pkey_st* key_ = nullptr;
  std::string public_key_;
  std::string node_id_;
};

// Returns the node id for a raw Ed25519 public key.
[[nodiscard]] std::string node_id_from_public_key(std::string_view public_key);

// Returns true when `signature` is a valid Ed25519 signature of `message` by
// the raw 32-byte `public_key`. Malformed keys and signatures return false.
// Thread-safe.
[[nodiscard]] bool verify_ed25519(std::string_view public_key, std::string_view message,
                                  std::string_view signature);

}  // namespace mesh::crypto
