#pragma once
// Signature suites for vertex signatures, keyed by the suite id carried in
// each vertex. Ed25519 (id 1) is always present. ML-DSA-65 (id 2) is
// registered only when the OpenSSL library loaded at run time provides it
// (OpenSSL 3.5 and later); OpenSSL 3.0 does not.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mesh/error.hpp"

namespace mesh::dag {

// Verifies signatures of one algorithm. Implementations are immutable and
// thread-safe.
class signature_suite {
 public:
  virtual ~signature_suite() = default;

  [[nodiscard]] virtual std::uint32_t id() const noexcept = 0;
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
  [[nodiscard]] virtual std::size_t public_key_size() const noexcept = 0;

  // Returns true when `signature` is valid for `message` under the raw
  // `public_key`. Malformed keys and signatures return false.
  [[nodiscard]] virtual bool verify(std::string_view public_key, std::string_view message,
                                    std::string_view signature) const = 0;
};

// The suites a node accepts. Not thread-safe while add() runs; after setup,
// const lookups may run on several threads. Owns its suites through
// shared_ptr, so copies share them.
class suite_registry {
 public:
  // Returns a registry with every suite this build and the loaded OpenSSL
  // support (see available_suites()).
  [[nodiscard]] static suite_registry with_builtin_suites();

  // Adds `suite`. Fails with invalid_argument when its id is already taken.
  [[nodiscard]] result<void> add(std::shared_ptr<const signature_suite> suite);

  // Returns the suite with `id`, or nullptr when none is registered.
  [[nodiscard]] const signature_suite* find(std::uint32_t id) const noexcept;

  [[nodiscard]] std::vector<std::uint32_t> ids() const;

 private:
  std::vector<std::shared_ptr<const signature_suite>> suites_;
};

// Returns the Ed25519 suite (id 1).
[[nodiscard]] std::shared_ptr<const signature_suite> make_ed25519_suite();

// Returns the ML-DSA-65 suite (id 2) when the loaded OpenSSL provides the
// algorithm, nullptr otherwise.
[[nodiscard]] std::shared_ptr<const signature_suite> make_ml_dsa_65_suite();

// Names of the suites available in this process, for example {"ed25519"} on
// OpenSSL 3.0 and {"ed25519", "ml-dsa-65"} on OpenSSL 3.5.
[[nodiscard]] std::vector<std::string> available_suites();

}  // namespace mesh::dag
