// Mesh key files (raw and hex forms, rejected files) and the CURVE key pair
// derived from the mesh key.

#include <gtest/gtest.h>
#include <zmq.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "mesh/crypto/hash.hpp"
#include "mesh/crypto/mesh_key.hpp"

namespace {

namespace fs = std::filesystem;
using mesh::crypto::derive_curve_keypair;
using mesh::crypto::load_mesh_key;

class mesh_key_file : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "mesh-key-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path write(const std::string& contents) {
    const auto path = dir_ / "mesh.key";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
    return path;
  }

  fs::path dir_;
};

const std::string sample_key_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string sample_key() { return *mesh::crypto::from_hex(sample_key_hex); }

TEST_F(mesh_key_file, RawThirtyTwoBytes) {
  const std::string raw = sample_key();

  auto key = load_mesh_key(write(raw));

  ASSERT_TRUE(key.has_value()) << key.err().message;
  EXPECT_EQ(*key, raw);
}

TEST_F(mesh_key_file, HexWithTrailingNewline) {
  auto key = load_mesh_key(write(sample_key_hex + "\n"));

  ASSERT_TRUE(key.has_value()) << key.err().message;
  EXPECT_EQ(*key, sample_key());
}

TEST_F(mesh_key_file, UppercaseHexWithSurroundingSpaces) {
  std::string upper = sample_key_hex;
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }

  auto key = load_mesh_key(write("  " + upper + " \r\n"));

  ASSERT_TRUE(key.has_value()) << key.err().message;
  EXPECT_EQ(*key, sample_key());
}

TEST_F(mesh_key_file, WrongLengthNamesPathAndFormats) {
  const auto path = write("0123456789abcdef");

  auto key = load_mesh_key(path);

  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.err().code, mesh::errc::invalid_config);
  EXPECT_NE(key.err().message.find(path.string()), std::string::npos) << key.err().message;
  EXPECT_NE(key.err().message.find("32 raw bytes or 64 hex characters"), std::string::npos) << key.err().message;
}

TEST_F(mesh_key_file, NonHexCharactersRejected) {
  auto key = load_mesh_key(write(std::string(63, 'a') + "g"));

  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.err().code, mesh::errc::invalid_config);
  EXPECT_NE(key.err().message.find("offset 63"), std::string::npos) << key.err().message;
}

TEST_F(mesh_key_file, RawKeyWithNewlineRejected) {
  auto key = load_mesh_key(write(sample_key() + "\n"));

  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.err().code, mesh::errc::invalid_config);
}

TEST_F(mesh_key_file, EmptyFileRejected) {
  auto key = load_mesh_key(write(""));

  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.err().code, mesh::errc::invalid_config);
}

TEST_F(mesh_key_file, MissingFileNamesPath) {
  const auto path = dir_ / "absent.key";

  auto key = load_mesh_key(path);

  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.err().code, mesh::errc::io_error);
  EXPECT_NE(key.err().message.find(path.string()), std::string::npos) << key.err().message;
}

TEST_F(mesh_key_file, WorldReadableFileLoadsWithWarning) {
  const auto path = write(sample_key_hex);
  fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                  fs::perm_options::replace);

  auto key = load_mesh_key(path);

  ASSERT_TRUE(key.has_value()) << key.err().message;
  EXPECT_EQ(*key, sample_key());
}

TEST_F(mesh_key_file, GeneratedHexKeyLoadsBack) {
  auto generated = mesh::crypto::generate_mesh_key_hex();
  ASSERT_TRUE(generated.has_value());
  EXPECT_EQ(generated->size(), 64U);
  EXPECT_EQ(generated->find_first_not_of("0123456789abcdef"), std::string::npos);

  auto key = load_mesh_key(write(*generated + "\n"));

  ASSERT_TRUE(key.has_value()) << key.err().message;
  EXPECT_EQ(mesh::crypto::to_hex(*key), *generated);
}

TEST(CurveDerivation, SameMeshKeySameKeyPair) {
  auto first = derive_curve_keypair(sample_key());
  auto second = derive_curve_keypair(sample_key());
  ASSERT_TRUE(first.has_value()) << first.err().message;
  ASSERT_TRUE(second.has_value());

  EXPECT_EQ(first->public_key, second->public_key);
  EXPECT_EQ(first->secret_key, second->secret_key);
  EXPECT_EQ(first->public_key.size(), 40U);
  EXPECT_EQ(first->secret_key.size(), 40U);
}

TEST(CurveDerivation, OtherMeshKeyOtherKeyPair) {
  std::string other = sample_key();
  other[0] = static_cast<char>(other[0] ^ 0x01);

  auto first = derive_curve_keypair(sample_key());
  auto second = derive_curve_keypair(other);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());

  EXPECT_NE(first->public_key, second->public_key);
  EXPECT_NE(first->secret_key, second->secret_key);
}

TEST(CurveDerivation, PublicKeyMatchesZmqCurvePublic) {
  auto pair = derive_curve_keypair(sample_key());
  ASSERT_TRUE(pair.has_value());

  std::array<char, 41> public_z85{};
  ASSERT_EQ(zmq_curve_public(public_z85.data(), pair->secret_key.c_str()), 0);

  EXPECT_EQ(std::string(public_z85.data()), pair->public_key);
}

TEST(CurveDerivation, SecretIsClampedHashOfLabelAndKey) {
  auto pair = derive_curve_keypair(sample_key());
  ASSERT_TRUE(pair.has_value());

  std::string expected = mesh::crypto::sha256("libmesh curve v1" + sample_key());
  expected[0] = static_cast<char>(static_cast<unsigned char>(expected[0]) & 248U);
  expected[31] = static_cast<char>((static_cast<unsigned char>(expected[31]) & 127U) | 64U);
  std::array<std::uint8_t, 32> decoded{};
  ASSERT_NE(zmq_z85_decode(decoded.data(), pair->secret_key.c_str()), nullptr);

  EXPECT_EQ(std::string(reinterpret_cast<const char*>(decoded.data()), decoded.size()), expected);
}

TEST(CurveDerivation, RejectsKeyOfWrongLength) {
  auto pair = derive_curve_keypair("short");

  ASSERT_FALSE(pair.has_value());
  EXPECT_EQ(pair.err().code, mesh::errc::invalid_argument);
  EXPECT_NE(pair.err().message.find("expected 32"), std::string::npos) << pair.err().message;
}

}  // namespace
