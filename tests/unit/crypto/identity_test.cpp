// Node identity: creation, reload, file permissions, rejected key files, and
// Ed25519 signatures.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "mesh/crypto/hash.hpp"
#include "mesh/crypto/identity.hpp"

namespace {

namespace fs = std::filesystem;
using mesh::crypto::identity;

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "mesh-identity-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

unsigned file_mode(const fs::path& path) {
  struct stat info {};
  EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
  return info.st_mode & 07777;
}

void write_file(const fs::path& path, const std::string& contents, fs::perms mode) {
  std::ofstream(path, std::ios::binary) << contents;
  fs::permissions(path, mode, fs::perm_options::replace);
}

bool is_lower_hex(const std::string& text) {
  return text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

TEST(Identity, CreateThenReloadKeepsNodeId) {
  temp_dir dir;
  const auto data_dir = dir.path() / "nested" / "data";

  auto created = identity::load_or_create(data_dir);
  ASSERT_TRUE(created.has_value()) << created.err().message;
  auto reloaded = identity::load_or_create(data_dir);
  ASSERT_TRUE(reloaded.has_value()) << reloaded.err().message;

  EXPECT_EQ(created->node_id(), reloaded->node_id());
  EXPECT_EQ(created->public_key(), reloaded->public_key());
  EXPECT_EQ(created->node_id().size(), 32U);
  EXPECT_TRUE(is_lower_hex(created->node_id())) << created->node_id();
  EXPECT_EQ(created->public_key().size(), 32U);
}

TEST(Identity, NodeIdIsHashOfPublicKey) {
  auto generated = identity::generate();
  ASSERT_TRUE(generated.has_value());

  const auto expected = mesh::crypto::to_hex(mesh::crypto::sha256(generated->public_key()).substr(0, 16));
  EXPECT_EQ(generated->node_id(), expected);
}

TEST(Identity, KeyFileMode0600AndDirMode0700) {
  temp_dir dir;
  const auto data_dir = dir.path() / "data";

  auto created = identity::load_or_create(data_dir);
  ASSERT_TRUE(created.has_value()) << created.err().message;

  EXPECT_EQ(file_mode(data_dir / "node.key"), 0600U);
  EXPECT_EQ(file_mode(data_dir), 0700U);
  EXPECT_FALSE(fs::exists(data_dir / ("node.key.tmp-" + std::to_string(::getpid()))));
}

TEST(Identity, GeneratedKeysDiffer) {
  auto first = identity::generate();
  auto second = identity::generate();
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());

  EXPECT_NE(first->node_id(), second->node_id());
}

TEST(Identity, RejectsGroupReadableKeyFile) {
  temp_dir dir;
  ASSERT_TRUE(identity::load_or_create(dir.path()).has_value());
  fs::permissions(dir.path() / "node.key", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read,
                  fs::perm_options::replace);

  auto loaded = identity::load_or_create(dir.path());

  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.err().code, mesh::errc::rejected);
  EXPECT_NE(loaded.err().message.find("0640"), std::string::npos) << loaded.err().message;
  EXPECT_NE(loaded.err().message.find("chmod 600"), std::string::npos) << loaded.err().message;
}

TEST(Identity, RejectsCorruptKeyFile) {
  temp_dir dir;
  const auto key_path = dir.path() / "node.key";
  write_file(key_path, "-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
             fs::perms::owner_read | fs::perms::owner_write);

  auto loaded = identity::load_or_create(dir.path());

  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.err().code, mesh::errc::decode_error);
  EXPECT_NE(loaded.err().message.find(key_path.string()), std::string::npos) << loaded.err().message;
}

TEST(Identity, RejectsNonEd25519Key) {
  temp_dir dir;
  EVP_PKEY* x25519 = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  ASSERT_NE(x25519, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, x25519, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  write_file(dir.path() / "node.key", std::string(data, static_cast<std::size_t>(length)),
             fs::perms::owner_read | fs::perms::owner_write);
  BIO_free(bio);
  EVP_PKEY_free(x25519);

  auto loaded = identity::load_or_create(dir.path());

  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.err().code, mesh::errc::decode_error);
  EXPECT_NE(loaded.err().message.find("expected Ed25519"), std::string::npos) << loaded.err().message;
}

TEST(Identity, DataDirThatIsAFileFails) {
  temp_dir dir;
  const auto not_a_dir = dir.path() / "file";
  write_file(not_a_dir, "x", fs::perms::owner_read | fs::perms::owner_write);

  auto loaded = identity::load_or_create(not_a_dir);

  ASSERT_FALSE(loaded.has_value());
  EXPECT_EQ(loaded.err().code, mesh::errc::io_error);
}

TEST(Identity, SignatureVerifies) {
  auto signer = identity::generate();
  ASSERT_TRUE(signer.has_value());

  auto signature = signer->sign("vertex payload");
  ASSERT_TRUE(signature.has_value()) << signature.err().message;

  EXPECT_EQ(signature->size(), 64U);
  EXPECT_TRUE(mesh::crypto::verify_ed25519(signer->public_key(), "vertex payload", *signature));
}

TEST(Identity, TamperedMessageFailsVerification) {
  auto signer = identity::generate();
  ASSERT_TRUE(signer.has_value());
  auto signature = signer->sign("vertex payload");
  ASSERT_TRUE(signature.has_value());

  EXPECT_FALSE(mesh::crypto::verify_ed25519(signer->public_key(), "vertex payloaD", *signature));
}

TEST(Identity, TamperedSignatureFailsVerification) {
  auto signer = identity::generate();
  ASSERT_TRUE(signer.has_value());
  auto signature = signer->sign("vertex payload");
  ASSERT_TRUE(signature.has_value());

  std::string tampered = *signature;
  tampered[10] = static_cast<char>(tampered[10] ^ 0x01);
  EXPECT_FALSE(mesh::crypto::verify_ed25519(signer->public_key(), "vertex payload", tampered));
}

TEST(Identity, OtherKeyFailsVerification) {
  auto signer = identity::generate();
  auto other = identity::generate();
  ASSERT_TRUE(signer.has_value());
  ASSERT_TRUE(other.has_value());
  auto signature = signer->sign("vertex payload");
  ASSERT_TRUE(signature.has_value());

  EXPECT_FALSE(mesh::crypto::verify_ed25519(other->public_key(), "vertex payload", *signature));
}

TEST(Identity, MalformedInputsFailVerification) {
  auto signer = identity::generate();
  ASSERT_TRUE(signer.has_value());
  auto signature = signer->sign("m");
  ASSERT_TRUE(signature.has_value());

  EXPECT_FALSE(mesh::crypto::verify_ed25519(signer->public_key().substr(0, 31), "m", *signature));
  EXPECT_FALSE(mesh::crypto::verify_ed25519(signer->public_key(), "m", signature->substr(0, 63)));
  EXPECT_FALSE(mesh::crypto::verify_ed25519("", "m", ""));
}

TEST(Identity, ReloadedKeySignsForSamePublicKey) {
  temp_dir dir;
  auto created = identity::load_or_create(dir.path());
  ASSERT_TRUE(created.has_value());
  const std::string public_key = created->public_key();

  auto reloaded = identity::load_or_create(dir.path());
  ASSERT_TRUE(reloaded.has_value());
  auto signature = reloaded->sign("after restart");
  ASSERT_TRUE(signature.has_value());

  EXPECT_TRUE(mesh::crypto::verify_ed25519(public_key, "after restart", *signature));
}

TEST(Identity, MovedIdentityStillSigns) {
  auto generated = identity::generate();
  ASSERT_TRUE(generated.has_value());
  identity moved = std::move(generated).value();

  auto signature = moved.sign("x");

  ASSERT_TRUE(signature.has_value());
  EXPECT_TRUE(mesh::crypto::verify_ed25519(moved.public_key(), "x", *signature));
}

TEST(Identity, ConcurrentSigningFromThreads) {
  auto generated = identity::generate();
  ASSERT_TRUE(generated.has_value());
  const identity& signer = *generated;

  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (std::size_t t = 0; t < failures.size(); ++t) {
    threads.emplace_back([&signer, &failures, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string message = "thread " + std::to_string(t) + " message " + std::to_string(i);
        auto signature = signer.sign(message);
        if (!signature || !mesh::crypto::verify_ed25519(signer.public_key(), message, *signature)) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& thread : threads) {
    thread.join();
  }

  for (std::size_t t = 0; t < failures.size(); ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
  }
}

}  // namespace
