// Digest primitives: MD5 against the RFC 1321 test suite (appendix A.5) and against OpenSSL on
// every length across the block and padding boundaries, fed whole and in
// uneven pieces.
#include "sip/digest.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>

#include "sip/md5.h"

namespace {

using hotline::sip::Md5;

std::string hex(const Md5::Digest& d) {
  char out[33] = {0};
  for (size_t i = 0; i < d.size(); ++i) snprintf(out + 2 * i, 3, "%02x", d[i]);
  return out;
}

std::string md5_hex(std::string_view s) {
  Md5 m;
  m.update(s);
  return hex(m.finish());
}

std::string openssl_md5_hex(std::string_view s) {
  Md5::Digest d{};
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), d.data(), &n, EVP_md5(), nullptr);
  return hex(d);
}

TEST(Md5, Rfc1321TestSuite) {
  EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(md5_hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(md5_hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(md5_hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(md5_hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(md5_hex("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
            "d174ab98d277d9f5a5611c2c9f419d9f");
  EXPECT_EQ(md5_hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
}

TEST(Md5, MatchesOpenSslOnEveryLengthAndSplit) {
  std::mt19937 rng(7);
  std::string data;
  for (int len = 0; len <= 300; ++len) {
    EXPECT_EQ(md5_hex(data), openssl_md5_hex(data)) << "length " << len;
    // The same bytes in random pieces give the same digest.
    Md5 m;
    size_t at = 0;
    while (at < data.size()) {
      size_t piece = std::min<size_t>(data.size() - at, rng() % 70);
      m.update(std::string_view(data).substr(at, piece));
      at += piece;
    }
    EXPECT_EQ(hex(m.finish()), openssl_md5_hex(data)) << "length " << len << " in pieces";
    data.push_back(static_cast<char>(rng()));
  }
}

// RFC 2617 §3.5's worked example (qop=auth, MD5) through the digest layer,
// which now hashes with this implementation.
TEST(Md5, DigestResponseOfRfc2617Example) {
  using namespace hotline::sip;
  DigestCredentials c;
  c.username = "Mufasa";
  c.realm = "testrealm@host.com";
  c.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
  c.uri = "/dir/index.html";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  std::string ha1 = digest_ha1(DigestAlgorithm::kMd5, c.username, c.realm, "Circle Of Life");
  EXPECT_EQ(digest_response(DigestAlgorithm::kMd5, ha1, c, "GET"), "6629fae49393a05397450978507c4ef1");
  c.response = "6629fae49393a05397450978507c4ef1";
  EXPECT_TRUE(digest_response_matches(DigestAlgorithm::kMd5, ha1, c, "GET"));
  c.response = "6629fae49393a05397450978507c4ef2";
  EXPECT_FALSE(digest_response_matches(DigestAlgorithm::kMd5, ha1, c, "GET"));
}

}  // namespace

namespace {

// The nonce's MAC half is HMAC-SHA256 (RFC 2104) truncated to 128 bits,
// whatever the secret's length (keys longer than a block are hashed first).
TEST(NonceManager, MacIsTruncatedHmacSha256) {
  using hotline::sip::NonceManager;
  for (std::string secret : {std::string(), std::string("short"), std::string(64, 'k'), std::string(65, 'k'),
                             std::string(200, 'x')}) {
    NonceManager nonces(secret, std::chrono::seconds(300));
    std::string nonce = nonces.issue("pbx.example.com", 1'700'000'000'123);
    ASSERT_EQ(nonce.size(), 48u);
    std::string msg = nonce.substr(0, 16) + "|pbx.example.com";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(msg.data()), msg.size(), md, &n);
    char hex[33] = {0};
    for (int i = 0; i < 16; ++i) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EXPECT_EQ(nonce.substr(16), std::string(hex)) << "secret length " << secret.size();
    EXPECT_EQ(nonces.check(nonce, "pbx.example.com", 1'700'000'000'500), NonceManager::Check::kValid);
    EXPECT_EQ(nonces.check(nonce, "other.example.com", 1'700'000'000'500), NonceManager::Check::kInvalid);
  }
}

}  // namespace
