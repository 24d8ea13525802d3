#include "security/security.h"

#include <gtest/gtest.h>

#include <set>

using namespace hotline::security;

namespace {
// Small cost so the suite stays fast; production uses KdfCost{} defaults.
const KdfCost kFast{1, 8 * 1024 * 1024};
}  // namespace

TEST(Password, HashIsArgon2idAndVerifies) {
  auto h = hash_password("correct horse", kFast);
  EXPECT_EQ(h.rfind("$argon2id$", 0), 0u) << h;
  EXPECT_TRUE(verify_password(h, "correct horse"));
  EXPECT_FALSE(verify_password(h, "correct horsf"));
  EXPECT_FALSE(verify_password(h, ""));
}

TEST(Password, SaltMakesEqualPasswordsHashDifferently) {
  EXPECT_NE(hash_password("same", kFast), hash_password("same", kFast));
}

TEST(Password, MalformedStoredHashNeverMatches) {
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("plaintext", "plaintext"));
  EXPECT_FALSE(verify_password(std::string(500, 'a'), "x"));
}

TEST(Password, NeedsRehashWhenCostChanges) {
  auto h = hash_password("pw", kFast);
  EXPECT_FALSE(needs_rehash(h, kFast));
  EXPECT_TRUE(needs_rehash(h, KdfCost{2, 16 * 1024 * 1024}));
}

TEST(Password, DummyHashNeverMatchesEmptyOrCommonPasswords) {
  const auto& d = dummy_password_hash(kFast);
  EXPECT_FALSE(verify_password(d, ""));
  EXPECT_FALSE(verify_password(d, "admin"));
  EXPECT_EQ(&d, &dummy_password_hash(kFast));
}

TEST(Tokens, Are256BitBase64UrlAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = new_token();
    EXPECT_EQ(t.size(), 43u);
    EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
              std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Tokens, GeneratedPasswordsAvoidLookAlikes) {
  auto p = generate_password(64);
  EXPECT_EQ(p.size(), 64u);
  EXPECT_EQ(p.find_first_of("0O1lI"), std::string::npos);
  EXPECT_NE(generate_password(), generate_password());
}

TEST(Hash, Sha256KnownVectors) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hash, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Hash, Md5KnownVector) {
  // RFC 1321 test suite.
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
}
