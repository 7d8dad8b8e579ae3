// SHA-256 against the FIPS 180-2 test vector, and hex encoding and decoding.

#include <gtest/gtest.h>

#include <string>

#include "mesh/crypto/hash.hpp"

namespace {

using mesh::crypto::from_hex;
using mesh::crypto::sha256;
using mesh::crypto::to_hex;

TEST(Hash, Sha256OfAbcMatchesFips180Vector) {
  EXPECT_EQ(to_hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hash, Sha256OfEmptyInput) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Hash, ToHexIsLowercase) { EXPECT_EQ(to_hex(std::string("\x00\xab\xff", 3)), "00abff"); }

TEST(Hash, FromHexRoundTrip) {
  auto bytes = from_hex("00AbfF");

  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(*bytes, std::string("\x00\xab\xff", 3));
}

TEST(Hash, FromHexRejectsOddLength) {
  auto bytes = from_hex("abc");

  ASSERT_FALSE(bytes.has_value());
  EXPECT_EQ(bytes.err().code, mesh::errc::invalid_argument);
}

TEST(Hash, FromHexRejectsNonHexCharacter) {
  auto bytes = from_hex("zz");

  ASSERT_FALSE(bytes.has_value());
  EXPECT_NE(bytes.err().message.find("offset 0"), std::string::npos) << bytes.err().message;
}

TEST(Hash, RandomBytesHaveRequestedLength) {
  auto first = mesh::crypto::random_bytes(32);
  auto second = mesh::crypto::random_bytes(32);

  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->size(), 32U);
  EXPECT_NE(*first, *second);
}

}  // namespace
