// sip/digest.h — HTTP Digest for SIP (RFC 7616 over RFC 3261 §22).
//
// MD5 for phone compatibility and SHA-256 when the client supports it; both
// with qop=auth (and the qop-less RFC 2069 form old phones still send).
// Nonces are stateless: hex(timestamp) + truncated HMAC-SHA256(secret,
// timestamp|realm). A server keeps no per-nonce memory (a flood of
// unauthenticated REGISTERs costs nothing), can tell a forged nonce from an
// expired one (stale=true, §3.3), and nonces die after `ttl`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hotline::sip {

enum class DigestAlgorithm { kMd5, kSha256 };
const char* algorithm_name(DigestAlgorithm a);  // "MD5", "SHA-256"

// Hex digest of `data`.
std::string digest_hex(DigestAlgorithm a, std::string_view data);
// H(username ":" realm ":" password)
std::string digest_ha1(DigestAlgorithm a, std::string_view user, std::string_view realm,
                       std::string_view password);

// Authorization / Proxy-Authorization credentials as views: into the
// header value, or into `scratch` for quoted values with backslash escapes
// (rare). The registrar reads every authenticated REGISTER this way, with
// no allocation; DigestCredentials below is the owned form of the same
// parse.
struct DigestCredentialsView {
  std::string_view username, realm, nonce, uri, response, cnonce, nc, qop, opaque;
  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;
  bool algorithm_supported = true;  // false for e.g. MD5-sess, SHA-512-256

  // nullptr on success, else what is wrong. `scratch` must outlive the
  // views; it is written only when a value needs unescaping.
  const char* parse(std::string_view header_value, std::string& scratch);
};

// Parsed Authorization / Proxy-Authorization credentials.
struct DigestCredentials {
  std::string username, realm, nonce, uri, response, cnonce, nc, qop, opaque;
  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;
  bool algorithm_supported = true;  // false for e.g. MD5-sess, SHA-512-256

  static common::Result<DigestCredentials> parse(std::string_view header_value);
  DigestCredentialsView view() const;
};

// Parsed WWW-Authenticate challenge (client side, for tests and qualify).
struct DigestChallenge {
  std::string realm, nonce, opaque, qop;
  DigestAlgorithm algorithm = DigestAlgorithm::kMd5;
  bool stale = false;

  static common::Result<DigestChallenge> parse(std::string_view header_value);
  std::string str() const;
};

// Expected `response` value for the given credentials and HA1.
std::string digest_response(DigestAlgorithm a, std::string_view ha1, const DigestCredentials& c,
                            std::string_view method);
// Whether c.response is the expected one (constant time; no allocation).
bool digest_response_matches(DigestAlgorithm a, std::string_view ha1, const DigestCredentialsView& c,
                             std::string_view method);
inline bool digest_response_matches(DigestAlgorithm a, std::string_view ha1, const DigestCredentials& c,
                                    std::string_view method) {
  return digest_response_matches(a, ha1, c.view(), method);
}
// HA1 into `out` (room for 64 characters); returns its length.
size_t digest_ha1_to(DigestAlgorithm a, std::string_view user, std::string_view realm,
                     std::string_view password, char* out);
// Builds an Authorization (or Proxy-Authorization) value answering `ch`
// (client side, RFC 7616 §3.4): qop=auth with `cnonce` and `nc` when the
// challenge offers "auth" in its qop list, the RFC 2069 form (no qop) when
// it offers no qop at all. Quoted values are escaped (§25.1 quoted-string).
std::string digest_authorization(const DigestChallenge& ch, std::string_view user, std::string_view password,
                                 std::string_view method, std::string_view uri, std::string_view cnonce,
                                 std::uint32_t nc);
// True when the challenge's qop list contains the token "auth" (not only
// "auth-int", which we do not implement).
bool offers_qop_auth(const DigestChallenge& ch);
// Client side (RFC 3261 §22.3): from all WWW-Authenticate or
// Proxy-Authenticate values of one response, the challenges to answer, one
// per realm (several proxies may each challenge): for each realm the
// strongest we can compute (SHA-256 over MD5). Skipped: other schemes,
// unknown algorithms (MD5-sess, SHA-512-256), a qop list without "auth",
// and malformed values. Empty when nothing can be answered.
std::vector<DigestChallenge> answerable_challenges(const std::vector<std::string_view>& values);
bool constant_time_equals(std::string_view a, std::string_view b);
// `bytes` bytes from the OS's cryptographic generator, as hex (key material:
// random_token() is a fast PRNG for tags and must not be used for secrets).
std::string random_secret_hex(size_t bytes);

// Not thread-safe: the keyed HMAC state is reused for every nonce (keying
// it costs more than the MAC itself); use one per thread (the stack has one).
class NonceManager {
 public:
  // `secret` should be random per process (or shared across a cluster).
  NonceManager(std::string secret, std::chrono::seconds ttl);
  ~NonceManager();
  NonceManager(const NonceManager&) = delete;
  NonceManager& operator=(const NonceManager&) = delete;
  static constexpr size_t kNonceSize = 48;  // 16 hex digits of time, 32 of MAC
  std::string issue(std::string_view realm, std::int64_t now_ms) const;
  // The same nonce written to `out` (kNonceSize characters).
  void issue_to(std::string_view realm, std::int64_t now_ms, char* out) const;
  enum class Check { kValid, kStale, kInvalid };
  Check check(std::string_view nonce, std::string_view realm, std::int64_t now_ms) const;

 private:
  // Writes the truncated HMAC-SHA256(secret, ts_hex "|" realm) as 32 hex
  // digits to `out`.
  void mac(std::string_view ts_hex, std::string_view realm, char* out) const;
  struct KeyedHmac;  // SHA-256 states after the key's inner and outer pads
  std::chrono::seconds ttl_;
  std::unique_ptr<KeyedHmac> hmac_;
};

}  // namespace hotline::sip
