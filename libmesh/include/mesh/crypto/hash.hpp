#pragma once
// SHA-256, hex encoding and random bytes from OpenSSL's CSPRNG. Every function
// is thread-safe and keeps no state between calls.

#include <cstddef>
#include <string>
#include <string_view>

#include "mesh/error.hpp"

namespace mesh::crypto {

// Returns the 32-byte SHA-256 digest of `data` as raw bytes.
[[nodiscard]] std::string sha256(std::string_view data);

// Returns `bytes` as lowercase hex, two characters per byte.
[[nodiscard]] std::string to_hex(std::string_view bytes);

// Decodes hex (either case) into raw bytes. Fails on an odd length or a
// character outside 0-9, a-f, A-F.
[[nodiscard]] result<std::string> from_hex(std::string_view hex);

// Returns `count` bytes from OpenSSL's RAND_bytes. Fails only when the
// generator is not seeded.
[[nodiscard]] result<std::string> random_bytes(std::size_t count);

}  // namespace mesh::crypto
