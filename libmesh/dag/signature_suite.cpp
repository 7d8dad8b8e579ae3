#include "mesh/dag/signature_suite.hpp"

#include <openssl/evp.h>

#include <algorithm>

#include "mesh/crypto/identity.hpp"
#include "mesh/dag/vertex.hpp"

namespace mesh::dag {

namespace {

class ed25519_suite final : public signature_suite {
 public:
  [[nodiscard]] std::uint32_t id() const noexcept override { return suite_ed25519; }
  [[nodiscard]] std::string_view name() const noexcept override { return "ed25519"; }
  [[nodiscard]] std::size_t public_key_size() const noexcept override {
    return crypto::ed25519_public_key_size;
  }
  [[nodiscard]] bool verify(std::string_view public_key, std::string_view message,
                            std::string_view signature) const override {
    return crypto::verify_ed25519(public_key, message, signature);
  }
};

struct pkey_deleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct keymgmt_deleter {
  void operator()(EVP_KEYMGMT* keymgmt) const noexcept { EVP_KEYMGMT_free(keymgmt); }
};

// ML-DSA-65 (FIPS 204) through the generic EVP interface that OpenSSL 3.0
// already has, so this file compiles on 3.0 and the algorithm appears when a
// newer library or provider is loaded. Sizes are from FIPS 204, table 2.
// NOTE: this verifier has never run, because OpenSSL 3.0 lacks the algorithm.
// Test it against OpenSSL 3.5 before relying on it.
class ml_dsa_65_suite final : public signature_suite {
 public:
  static constexpr const char* algorithm = "ML-DSA-65";

  [[nodiscard]] std::uint32_t id() const noexcept override { return suite_ml_dsa_65; }
  [[nodiscard]] std::string_view name() const noexcept override { return "ml-dsa-65"; }
  [[nodiscard]] std::size_t public_key_size() const noexcept override { return 1952; }
  [[nodiscard]] bool verify(std::string_view public_key, std::string_view message,
                            std::string_view signature) const override {
    if (public_key.size() != public_key_size() || signature.size() != 3309) {
      return false;
    }
    std::unique_ptr<EVP_PKEY, pkey_deleter> key(EVP_PKEY_new_raw_public_key_ex(
        nullptr, algorithm, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()),
        public_key.size()));
    if (!key) {
      return false;
    }
    std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(),
                                        nullptr) != 1) {
      return false;
    }
    return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(message.data()),
                            message.size()) == 1;
  }
};

bool openssl_has_ml_dsa_65() {
  std::unique_ptr<EVP_KEYMGMT, keymgmt_deleter> keymgmt(
      EVP_KEYMGMT_fetch(nullptr, ml_dsa_65_suite::algorithm, nullptr));
  return keymgmt != nullptr;
}

}  // namespace

suite_registry suite_registry::with_builtin_suites() {
  suite_registry registry;
  registry.suites_.push_back(make_ed25519_suite());
  if (auto ml_dsa = make_ml_dsa_65_suite()) {
    registry.suites_.push_back(std::move(ml_dsa));
  }
  return registry;
}

result<void> suite_registry::add(std::shared_ptr<const signature_suite> suite) {
  if (!suite) {
    return fail(errc::invalid_argument, "signature suite is null");
  }
  if (find(suite->id()) != nullptr) {
    return fail(errc::invalid_argument,
                "signature suite id " + std::to_string(suite->id()) + " is already registered");
  }
  suites_.push_back(std::move(suite));
  return {};
}

const signature_suite* suite_registry::find(std::uint32_t id) const noexcept {
  for (const auto& suite : suites_) {
    if (suite->id() == id) {
      return suite.get();
    }
  }
  return nullptr;
}

std::vector<std::uint32_t> suite_registry::ids() const {
  std::vector<std::uint32_t> out;
  for (const auto& suite : suites_) {
    out.push_back(suite->id());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<const signature_suite> make_ed25519_suite() {
  return std::make_shared<ed25519_suite>();
}

std::shared_ptr<const signature_suite> make_ml_dsa_65_suite() {
  if (!openssl_has_ml_dsa_65()) {
    return nullptr;
  }
  return std::make_shared<ml_dsa_65_suite>();
}

std::vector<std::string> available_suites() {
  std::vector<std::string> names;
  const auto registry = suite_registry::with_builtin_suites();
  for (auto id : registry.ids()) {
    names.emplace_back(registry.find(id)->name());
  }
  return names;
}

}  // namespace mesh::dag
