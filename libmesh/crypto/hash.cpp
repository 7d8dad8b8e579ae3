#include "mesh/crypto/hash.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <climits>

namespace mesh::crypto {

std::string sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;

  // EVP_Digest fails only when an allocation fails. The result is then empty,
  // which derive_curve_keypair checks for.
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    hex.push_back(digits[byte >> 4U]);
    hex.push_back(digits[byte & 0x0FU]);
  }
  return hex;
}

namespace {

int hex_value(char c) noexcept {
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

}  // namespace

result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return fail(errc::invalid_argument,
                "invalid hex string: length " + std::to_string(hex.size()) + " is odd");
  }

  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int high = hex_value(hex[i]);
    const int low = hex_value(hex[i + 1]);
    if (high < 0 || low < 0) {
      return fail(errc::invalid_argument, "invalid hex string: character at offset " +
                                              std::to_string(high < 0 ? i : i + 1) +
                                              " is not 0-9, a-f or A-F");
    }
    bytes.push_back(static_cast<char>((high << 4) | low));
  }
  return bytes;
}

result<std::string> random_bytes(std::size_t count) {
  if (count > static_cast<std::size_t>(INT_MAX)) {
    return fail(errc::invalid_argument, "random_bytes: count " + std::to_string(count) + " is too large");
  }

  std::string bytes(count, '\0');
  if (count > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
    return fail(errc::crypto_error, "RAND_bytes failed: the OpenSSL random generator is not seeded");
  }
  return bytes;
}

}  // namespace mesh::crypto
