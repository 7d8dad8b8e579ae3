#include "mesh/crypto/identity.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <system_error>

#include "mesh/crypto/hash.hpp"

namespace mesh::crypto {

namespace {

struct bio_deleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct md_ctx_deleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

// Returns the oldest queued OpenSSL error as text and clears the queue.
std::string openssl_error() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "no OpenSSL error recorded";
  }
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// A PEM password callback that supplies no password, so an encrypted key file
// fails to load instead of prompting on the terminal.
int no_password(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

result<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(errc::io_error, "cannot open " + path.string() + ": " + errno_text(errno));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return fail(errc::io_error, "cannot read " + path.string());
  }
  return contents.str();
}

// Writes `contents` to `path` with mode 0600 unless `path` exists, in which
// case it returns false and leaves the existing file alone. The data goes to
// a temporary file first, is flushed with fsync and is then linked into place,
// so readers see either no file or the whole file.
result<bool> write_new_private_file(const std::filesystem::path& path, std::string_view contents) {
  const auto temp = path.parent_path() / (path.filename().string() + ".tmp-" + std::to_string(::getpid()));
  ::unlink(temp.c_str());

  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    return fail(errc::io_error, "cannot create " + temp.string() + ": " + errno_text(errno));
  }

  std::size_t written = 0;
  while (written < contents.size()) {
    const auto n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(temp.c_str());
      return fail(errc::io_error, "cannot write " + temp.string() + ": " + errno_text(err));
    }
    written += static_cast<std::size_t>(n);
  }

  if (::fchmod(fd, S_IRUSR | S_IWUSR) != 0 || ::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return fail(errc::io_error, "cannot flush " + temp.string() + ": " + errno_text(err));
  }
  ::close(fd);

  // link() fails with EEXIST instead of replacing, so when two processes
  // start on one data directory at once, both end up with the same key.
  const int linked = ::link(temp.c_str(), path.c_str());
  const int link_err = errno;
  ::unlink(temp.c_str());
  if (linked != 0 && link_err == EEXIST) {
    return false;
  }
  if (linked != 0) {
    return fail(errc::io_error, "cannot move " + temp.string() + " to " + path.string() + ": " +
                                    errno_text(link_err));
  }

  const int dir_fd = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return true;
}

result<void> ensure_data_dir(const std::filesystem::path& data_dir) {
  std::error_code ec;
  if (std::filesystem::exists(data_dir, ec)) {
    if (!std::filesystem::is_directory(data_dir, ec)) {
      return fail(errc::io_error, "data directory " + data_dir.string() + " exists but is not a directory");
    }
    return {};
  }

  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return fail(errc::io_error, "cannot create data directory " + data_dir.string() + ": " + ec.message());
  }
  std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ec);
  if (ec) {
    return fail(errc::io_error,
                "cannot set mode 0700 on data directory " + data_dir.string() + ": " + ec.message());
  }
  return {};
}

result<pkey_ptr> parse_private_key(const std::string& pem, const std::filesystem::path& path) {
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return fail(errc::crypto_error, "BIO_new_mem_buf failed: " + openssl_error());
  }

  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_password, nullptr));
  if (!key) {
    return fail(errc::decode_error, "invalid node key file " + path.string() +
                                        ": expected an unencrypted PEM PKCS#8 Ed25519 private key (" +
                                        openssl_error() + "); move the file away to create a new identity");
  }
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    return fail(errc::decode_error, "invalid node key file " + path.string() + ": holds a " +
                                        std::string(EVP_PKEY_get0_type_name(key.get())) +
                                        " key, expected Ed25519");
  }
  return key;
}

}  // namespace

identity::identity(evp_pkey_st* key) : key_(key) {
  std::array<unsigned char, ed25519_public_key_size> raw{};
  std::size_t length = raw.size();
  if (EVP_PKEY_get_raw_public_key(key_, raw.data(), &length) == 1) {
    public_key_.assign(reinterpret_cast<const char*>(raw.data()), length);
  }
  node_id_ = node_id_from_public_key(public_key_);
}

identity::identity(identity&& other) noexcept
    : key_(other.key_), public_key_(std::move(other.public_key_)), node_id_(std::move(other.node_id_)) {
  other.key_ = nullptr;
}

identity& identity::operator=(identity&& other) noexcept {
  if (this != &other) {
    EVP_PKEY_free(key_);
    key_ = other.key_;
    other.key_ = nullptr;
    public_key_ = std::move(other.public_key_);
    node_id_ = std::move(other.node_id_);
  }
  return *this;
}

identity::~identity() { EVP_PKEY_free(key_); }

result<identity> identity::generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) {
    return fail(errc::crypto_error, "Ed25519 key generation failed: " + openssl_error());
  }
  return identity(key);
}

result<identity> identity::load_or_create(const std::filesystem::path& data_dir) {
  if (auto made = ensure_data_dir(data_dir); !made) {
    return made.err();
  }
  const auto path = data_dir / node_key_file_name;

  // A missing file is created; if another process creates it first, the loop
  // runs once more and loads that file.
  for (int attempt = 0; attempt < 2; ++attempt) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
      if (errno != ENOENT) {
        return fail(errc::io_error, "cannot stat node key file " + path.string() + ": " + errno_text(errno));
      }

      auto created = generate();
      if (!created) {
        return created.err();
      }
      auto pem = created->private_key_pem();
      if (!pem) {
        return pem.err();
      }
      auto written = write_new_private_file(path, *pem);
      if (!written) {
        return written.err();
      }
      if (*written) {
        return std::move(created).value();
      }
      continue;
    }

    if (!S_ISREG(info.st_mode)) {
      return fail(errc::io_error, "node key file " + path.string() + " is not a regular file");
    }
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      std::array<char, 8> mode{};
      std::snprintf(mode.data(), mode.size(), "%04o", static_cast<unsigned>(info.st_mode & 07777));
      return fail(errc::rejected, "node key file " + path.string() + " has mode " + mode.data() +
                                      ", which lets group or others access it; run chmod 600 on it");
    }

    auto pem = read_file(path);
    if (!pem) {
      return pem.err();
    }
    auto key = parse_private_key(*pem, path);
    if (!key) {
      return key.err();
    }
    return identity(key->release());
  }
  return fail(errc::io_error, "node key file " + path.string() + " appeared and vanished during creation");
}

result<std::string> identity::sign(std::string_view message) const {
  if (key_ == nullptr) {
    return fail(errc::crypto_error, "sign called on a moved-from identity");
  }

  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_) != 1) {
    return fail(errc::crypto_error, "Ed25519 sign init failed: " + openssl_error());
  }

  std::string signature(ed25519_signature_size, '\0');
  std::size_t length = signature.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return fail(errc::crypto_error, "Ed25519 sign failed: " + openssl_error());
  }
  signature.resize(length);
  return signature;
}

result<std::string> identity::private_key_pem() const {
  if (key_ == nullptr) {
    return fail(errc::crypto_error, "private_key_pem called on a moved-from identity");
  }

  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PKCS8PrivateKey(bio.get(), key_, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return fail(errc::crypto_error, "cannot encode Ed25519 key as PEM: " + openssl_error());
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(length));
}

std::string node_id_from_public_key(std::string_view public_key) {
  return to_hex(sha256(public_key).substr(0, 16));
}

bool verify_ed25519(std::string_view public_key, std::string_view message, std::string_view signature) {
  if (public_key.size() != ed25519_public_key_size || signature.size() != ed25519_signature_size) {
    return false;
  }

  pkey_ptr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                           reinterpret_cast<const unsigned char*>(public_key.data()),
                                           public_key.size()));
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    ERR_clear_error();
    return false;
  }

  const int verified =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size());
  ERR_clear_error();
  return verified == 1;
}

}  // namespace mesh::crypto
