#include "mesh/crypto/mesh_key.hpp"

#include <sys/stat.h>
#include <zmq.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

#include "mesh/crypto/hash.hpp"
#include "mesh/telemetry/logging.hpp"

namespace mesh::crypto {

namespace {

// Domain separation for the derivation, so the CURVE secret never equals a
// hash that some other use of the mesh key might produce.
constexpr std::string_view curve_derivation_label = "libmesh curve v1";

constexpr std::size_t z85_key_length = 40;

// Accepts at most this many bytes, so a wrong path (a log file, a device)
// fails fast instead of being read whole.
constexpr std::size_t max_mesh_key_file_size = 4096;

std::string_view trim_whitespace(std::string_view text) {
  constexpr std::string_view whitespace = " \t\r\n\v\f";
  const auto first = text.find_first_not_of(whitespace);
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(whitespace);
  return text.substr(first, last - first + 1);
}

std::string accepted_formats() { return "accepted are exactly 32 raw bytes or 64 hex characters"; }

void warn_if_shared(const std::filesystem::path& file) {
  struct stat info {};
  if (::stat(file.c_str(), &info) != 0) {
    return;
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) == 0) {
    return;
  }
  std::array<char, 8> mode{};
  std::snprintf(mode.data(), mode.size(), "%04o", static_cast<unsigned>(info.st_mode & 07777));
  telemetry::logger("crypto")->warn(
      "mesh key file is readable by group or others path={} mode={}; restrict it to the node's user "
      "(in Kubernetes set defaultMode: 0400 on the Secret volume)",
      file.string(), mode.data());
}

}  // namespace

result<std::string> load_mesh_key(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) {
    return fail(errc::io_error, "cannot read mesh key file " + file.string() + ": " + ec.message());
  }
  if (size > max_mesh_key_file_size) {
    return fail(errc::invalid_config, "invalid mesh key file " + file.string() + ": it has " +
                                          std::to_string(size) + " bytes; " + accepted_formats());
  }

  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return fail(errc::io_error, "cannot open mesh key file " + file.string() + ": " +
                                    std::error_code(errno, std::generic_category()).message());
  }
  const std::string contents{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  warn_if_shared(file);

  // 32 bytes can only be the raw form: the hex form has 64 characters.
  if (contents.size() == mesh_key_size) {
    return contents;
  }

  const auto hex = trim_whitespace(contents);
  if (hex.size() != 2 * mesh_key_size) {
    return fail(errc::invalid_config, "invalid mesh key file " + file.string() + ": it has " +
                                          std::to_string(contents.size()) + " bytes (" +
                                          std::to_string(hex.size()) + " without surrounding whitespace); " +
                                          accepted_formats() + " (create one with `meshctl keygen`)");
  }
  auto key = from_hex(hex);
  if (!key) {
    return fail(errc::invalid_config, "invalid mesh key file " + file.string() + ": " + key.err().message +
                                          "; " + accepted_formats());
  }
  return key;
}

result<std::string> generate_mesh_key_hex() {
  auto key = random_bytes(mesh_key_size);
  if (!key) {
    return key.err();
  }
  return to_hex(*key);
}

result<curve_keypair> derive_curve_keypair(std::string_view mesh_key) {
  if (mesh_key.size() != mesh_key_size) {
    return fail(errc::invalid_argument, "mesh key has " + std::to_string(mesh_key.size()) +
                                            " bytes, expected " + std::to_string(mesh_key_size));
  }
  if (zmq_has("curve") == 0) {
    return fail(errc::crypto_error, "libzmq was built without CURVE support; install a libzmq with CURVE");
  }

  std::string input(curve_derivation_label);
  input.append(mesh_key);
  std::string secret = sha256(input);
  if (secret.size() != 32) {
    return fail(errc::crypto_error, "SHA-256 failed while deriving the CURVE key");
  }

  // X25519 clamping (RFC 7748, section 5). libzmq's crypto_box clamps as well,
  // so this only makes the stored secret the canonical scalar.
  secret[0] = static_cast<char>(static_cast<unsigned char>(secret[0]) & 248U);
  secret[31] = static_cast<char>((static_cast<unsigned char>(secret[31]) & 127U) | 64U);

  std::array<char, z85_key_length + 1> secret_z85{};
  if (zmq_z85_encode(secret_z85.data(), reinterpret_cast<const std::uint8_t*>(secret.data()), secret.size()) ==
      nullptr) {
    return fail(errc::crypto_error, "zmq_z85_encode failed on the derived CURVE secret key");
  }
  std::array<char, z85_key_length + 1> public_z85{};
  if (zmq_curve_public(public_z85.data(), secret_z85.data()) != 0) {
    return fail(errc::crypto_error, std::string("zmq_curve_public failed: ") + zmq_strerror(zmq_errno()));
  }

  return curve_keypair{std::string(public_z85.data(), z85_key_length),
                       std::string(secret_z85.data(), z85_key_length)};
}

}  // namespace mesh::crypto
