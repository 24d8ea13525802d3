#include "sip/digest.h"

// For SHA256_Init/Update/Final with a copyable state (see KeyedHmac).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <vector>

#include "sip/md5.h"
#include "sip/uri.h"

namespace hotline::sip {
namespace {

using common::Error;
using common::Result;

const EVP_MD* md(DigestAlgorithm a) {
  // Fetched once: implicit fetches cost microseconds per call in OpenSSL 3.
  static EVP_MD* md5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  static EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return a == DigestAlgorithm::kMd5 ? md5 : sha256;
}

// Lower-case hex of `n` bytes into `out` (2n characters).
void write_hex(const unsigned char* p, size_t n, char* out) {
  static const char* d = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = d[p[i] >> 4];
    out[2 * i + 1] = d[p[i] & 15];
  }
}

std::string to_hex(const unsigned char* p, size_t n) {
  std::string s(n * 2, '0');
  write_hex(p, n, s.data());
  return s;
}

// Reads one auth-param value at `i` (token or quoted-string with escapes)
// as a view into `s`; a quoted value with escapes is unescaped into
// `scratch` (reserved to s.size() on first use, so views into it stay
// valid: the unescaped values together are never longer than `s`).
bool read_auth_value(std::string_view s, size_t& i, std::string& scratch, std::string_view& val) {
  if (i < s.size() && s[i] == '"') {
    ++i;
    size_t close = s.find('"', i);
    if (close == std::string_view::npos) return false;  // unterminated
    std::string_view run = s.substr(i, close - i);
    if (run.find('\\') == std::string_view::npos) {
      val = run;
      i = close + 1;
      return true;
    }
    if (scratch.capacity() < s.size()) {
      scratch.clear();
      scratch.reserve(s.size());
    }
    size_t start = scratch.size();
    while (i < s.size()) {
      char c = s[i++];
      if (c == '\\' && i < s.size()) {
        scratch.push_back(s[i++]);
      } else if (c == '"') {
        val = std::string_view(scratch).substr(start);
        return true;
      } else {
        scratch.push_back(c);
      }
    }
    return false;  // unterminated
  }
  size_t vs = i;
  while (i < s.size() && s[i] != ',' && s[i] != ' ') ++i;
  val = s.substr(vs, i - vs);
  return true;
}

// Splits `k=v, k="v", …` (RFC 7616 auth-params) and hands each pair to
// `on_param(key, value)`; keys are case-insensitive, so handlers compare
// them with iequals (no lower-cased copy: this runs on every authenticated
// REGISTER, as does the absence of an intermediate list). At most 32 params.
// Values are views into `s` or `scratch` (see read_auth_value).
template <class F>
bool parse_auth_params(std::string_view s, std::string& scratch, F&& on_param) {
  size_t i = 0;
  int count = 0;
  std::string_view val;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\r' || s[i] == '\n')) ++i;
    if (i >= s.size()) break;
    size_t ks = i;
    while (i < s.size() && s[i] != '=' && s[i] != ' ' && s[i] != ',') ++i;
    std::string_view key = s.substr(ks, i - ks);
    while (i < s.size() && s[i] == ' ') ++i;
    if (i >= s.size() || s[i] != '=') return false;
    ++i;
    while (i < s.size() && s[i] == ' ') ++i;
    if (!read_auth_value(s, i, scratch, val)) return false;
    if (key.empty() || ++count > 33) return false;
    on_param(key, val);
  }
  return true;
}

std::optional<DigestAlgorithm> parse_algorithm(std::string_view a) {
  if (a.empty() || iequals(a, "MD5")) return DigestAlgorithm::kMd5;
  if (iequals(a, "SHA-256")) return DigestAlgorithm::kSha256;
  return std::nullopt;
}

// RFC 3261 §25.1 quoted-string: '"' and '\\' escaped.
std::string quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string_view strip_scheme(std::string_view v, bool& ok) {
  v = trim(v);
  ok = v.size() > 7 && iequals(v.substr(0, 6), "Digest") && (v[6] == ' ' || v[6] == '\t');
  return ok ? v.substr(7) : v;
}

}  // namespace

const char* algorithm_name(DigestAlgorithm a) { return a == DigestAlgorithm::kMd5 ? "MD5" : "SHA-256"; }

namespace {

// Lower-case hex digest of the concatenation of `parts` into `out` (room
// for 64 characters); returns its length. No intermediate strings: this
// runs three times per authenticated REGISTER.
size_t hash_hex(DigestAlgorithm a, std::initializer_list<std::string_view> parts, char* out) {
  if (a == DigestAlgorithm::kMd5) {
    Md5 m;
    for (auto p : parts) m.update(p);
    Md5::Digest d = m.finish();
    write_hex(d.data(), d.size(), out);
    return 2 * d.size();
  }
  // One context per thread, re-initialised per digest: EVP_Digest()
  // allocates and frees a context on every call.
  thread_local std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char md_out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestInit_ex(ctx.get(), md(a), nullptr);
  for (auto p : parts) EVP_DigestUpdate(ctx.get(), p.data(), p.size());
  EVP_DigestFinal_ex(ctx.get(), md_out, &len);
  write_hex(md_out, len, out);
  return 2 * len;
}

constexpr size_t kMaxHex = 2 * EVP_MAX_MD_SIZE;

// The expected `response` (RFC 7616 §3.4.1) as hex into `out`.
size_t response_hex(DigestAlgorithm a, std::string_view ha1, const DigestCredentialsView& c,
                    std::string_view method, char* out) {
  char ha2[kMaxHex];
  size_t ha2_len = hash_hex(a, {method, ":", c.uri}, ha2);
  std::string_view h2(ha2, ha2_len);
  if (c.qop.empty()) return hash_hex(a, {ha1, ":", c.nonce, ":", h2}, out);  // RFC 2069 form
  return hash_hex(a, {ha1, ":", c.nonce, ":", c.nc, ":", c.cnonce, ":", c.qop, ":", h2}, out);
}

}  // namespace

std::string digest_hex(DigestAlgorithm a, std::string_view data) {
  char out[kMaxHex];
  return std::string(out, hash_hex(a, {data}, out));
}

size_t digest_ha1_to(DigestAlgorithm a, std::string_view user, std::string_view realm,
                     std::string_view password, char* out) {
  return hash_hex(a, {user, ":", realm, ":", password}, out);
}

std::string digest_ha1(DigestAlgorithm a, std::string_view user, std::string_view realm,
                       std::string_view password) {
  char out[kMaxHex];
  return std::string(out, digest_ha1_to(a, user, realm, password, out));
}

const char* DigestCredentialsView::parse(std::string_view header_value, std::string& scratch) {
  bool ok;
  std::string_view rest = strip_scheme(header_value, ok);
  if (!ok) return "not a Digest credential";
  DigestCredentialsView& c = *this;
  c = DigestCredentialsView{};
  // By length first: one case-insensitive compare per parameter, not a
  // walk over every name (this runs for each parameter of every
  // authenticated REGISTER).
  auto field = [&c](std::string_view k) -> std::string_view* {
    auto is = [k](std::string_view name) { return iequals(k, name); };
    switch (k.size()) {
      case 2:
        return is("nc") ? &c.nc : nullptr;
      case 3:
        return is("uri") ? &c.uri : is("qop") ? &c.qop : nullptr;
      case 5:
        return is("realm") ? &c.realm : is("nonce") ? &c.nonce : nullptr;
      case 6:
        return is("cnonce") ? &c.cnonce : is("opaque") ? &c.opaque : nullptr;
      case 8:
        return is("username") ? &c.username : is("response") ? &c.response : nullptr;
      default:
        return nullptr;
    }
  };
  bool ok_params = parse_auth_params(rest, scratch, [&](std::string_view k, std::string_view v) {
    if (std::string_view* f = field(k)) {
      *f = v;
    } else if (iequals(k, "algorithm")) {
      auto a = parse_algorithm(v);
      c.algorithm_supported = a.has_value();
      c.algorithm = a.value_or(DigestAlgorithm::kMd5);
    }
  });
  if (!ok_params) return "malformed auth-params";
  if (c.username.empty() || c.nonce.empty() || c.response.empty() || c.uri.empty())
    return "missing username, nonce, uri or response";
  if (!c.qop.empty() && (c.cnonce.empty() || c.nc.empty())) return "qop without cnonce/nc";
  return nullptr;
}

Result<DigestCredentials> DigestCredentials::parse(std::string_view header_value) {
  std::string scratch;
  DigestCredentialsView v;
  if (const char* err = v.parse(header_value, scratch)) return Error::invalid("authorization", err);
  DigestCredentials c;
  c.username = v.username;
  c.realm = v.realm;
  c.nonce = v.nonce;
  c.uri = v.uri;
  c.response = v.response;
  c.cnonce = v.cnonce;
  c.nc = v.nc;
  c.qop = v.qop;
  c.opaque = v.opaque;
  c.algorithm = v.algorithm;
  c.algorithm_supported = v.algorithm_supported;
  return c;
}

DigestCredentialsView DigestCredentials::view() const {
  DigestCredentialsView v;
  v.username = username;
  v.realm = realm;
  v.nonce = nonce;
  v.uri = uri;
  v.response = response;
  v.cnonce = cnonce;
  v.nc = nc;
  v.qop = qop;
  v.opaque = opaque;
  v.algorithm = algorithm;
  v.algorithm_supported = algorithm_supported;
  return v;
}

Result<DigestChallenge> DigestChallenge::parse(std::string_view header_value) {
  bool ok;
  std::string_view rest = strip_scheme(header_value, ok);
  if (!ok) return Error::invalid("www-authenticate", "not a Digest challenge");
  DigestChallenge ch;
  bool unsupported = false;
  std::string scratch;
  bool ok_params = parse_auth_params(rest, scratch, [&](std::string_view k, std::string_view v) {
    if (iequals(k, "realm"))
      ch.realm = v;
    else if (iequals(k, "nonce"))
      ch.nonce = v;
    else if (iequals(k, "opaque"))
      ch.opaque = v;
    else if (iequals(k, "qop"))
      ch.qop = v;
    else if (iequals(k, "stale"))
      ch.stale = iequals(v, "true");
    else if (iequals(k, "algorithm")) {
      auto a = parse_algorithm(v);
      unsupported = unsupported || !a;
      ch.algorithm = a.value_or(DigestAlgorithm::kMd5);
    }
  });
  if (!ok_params) return Error::invalid("www-authenticate", "malformed auth-params");
  if (unsupported) return Error::invalid("www-authenticate", "unsupported algorithm");
  if (ch.nonce.empty()) return Error::invalid("www-authenticate", "missing nonce");
  return ch;
}

std::string DigestChallenge::str() const {
  std::string r = "Digest realm=\"" + realm + "\", nonce=\"" + nonce + "\"";
  if (!opaque.empty()) r += ", opaque=\"" + opaque + "\"";
  r += ", algorithm=" + std::string(algorithm_name(algorithm));
  if (!qop.empty()) r += ", qop=\"" + qop + "\"";
  if (stale) r += ", stale=true";
  return r;
}

std::string digest_response(DigestAlgorithm a, std::string_view ha1, const DigestCredentials& c,
                            std::string_view method) {
  char out[kMaxHex];
  return std::string(out, response_hex(a, ha1, c.view(), method, out));
}

bool digest_response_matches(DigestAlgorithm a, std::string_view ha1, const DigestCredentialsView& c,
                             std::string_view method) {
  char out[kMaxHex];
  return constant_time_equals(std::string_view(out, response_hex(a, ha1, c, method, out)), c.response);
}

bool offers_qop_auth(const DigestChallenge& ch) {
  std::string_view list = ch.qop;
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), "auth")) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::vector<DigestChallenge> answerable_challenges(const std::vector<std::string_view>& values) {
  std::vector<DigestChallenge> out;
  for (auto v : values) {
    auto ch = DigestChallenge::parse(v);
    if (!ch || (!ch->qop.empty() && !offers_qop_auth(*ch))) continue;
    auto same_realm =
        std::find_if(out.begin(), out.end(), [&](const auto& c) { return c.realm == ch->realm; });
    if (same_realm == out.end())
      out.push_back(std::move(*ch));
    else if (ch->algorithm == DigestAlgorithm::kSha256)
      *same_realm = std::move(*ch);  // RFC 7616 §3.7: prefer the strongest offered
  }
  return out;
}

std::string digest_authorization(const DigestChallenge& ch, std::string_view user, std::string_view password,
                                 std::string_view method, std::string_view uri, std::string_view cnonce,
                                 std::uint32_t nc) {
  DigestCredentials c;
  c.username = std::string(user);
  c.realm = ch.realm;
  c.nonce = ch.nonce;
  c.uri = std::string(uri);
  c.algorithm = ch.algorithm;
  bool auth = offers_qop_auth(ch);
  if (auth) {
    c.qop = "auth";
    c.cnonce = std::string(cnonce);
    char buf[9];
    snprintf(buf, sizeof buf, "%08x", nc);
    c.nc = buf;
  }
  c.response = digest_response(ch.algorithm, digest_ha1(ch.algorithm, user, ch.realm, password), c, method);
  std::string r = "Digest username=" + quoted(c.username) + ", realm=" + quoted(c.realm) +
                  ", nonce=" + quoted(c.nonce) + ", uri=" + quoted(c.uri) + ", response=\"" + c.response +
                  "\", algorithm=" + algorithm_name(ch.algorithm);
  if (auth) r += ", qop=auth, nc=" + c.nc + ", cnonce=" + quoted(c.cnonce);
  if (!ch.opaque.empty()) r += ", opaque=" + quoted(ch.opaque);
  return r;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(ascii_lower(a[i]) ^ ascii_lower(b[i]));
  return diff == 0;
}

std::string random_secret_hex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return to_hex(raw.data(), raw.size());
}

// RFC 2104 HMAC on SHA-256 with both key pads absorbed once: a MAC is then
// two copies of a plain struct and two compression-function calls. The
// EVP_MAC interface re-initialises through the provider layer on every
// call (context copies, cleansing), which cost several times the hashing.
// The low-level SHA256_* calls are deprecated in OpenSSL 3 but still run
// the same CPU-specific code (SHA extensions where present).
struct NonceManager::KeyedHmac {
  SHA256_CTX inner, outer;
};

NonceManager::NonceManager(std::string secret, std::chrono::seconds ttl)
    : ttl_(ttl), hmac_(std::make_unique<KeyedHmac>()) {
  unsigned char key[SHA256_CBLOCK] = {0};
  if (secret.size() > sizeof key) {
    SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), key);
  } else {
    std::memcpy(key, secret.data(), secret.size());
  }
  unsigned char ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];
  for (size_t i = 0; i < sizeof key; ++i) {
    ipad[i] = key[i] ^ 0x36;
    opad[i] = key[i] ^ 0x5c;
  }
  SHA256_Init(&hmac_->inner);
  SHA256_Update(&hmac_->inner, ipad, sizeof ipad);
  SHA256_Init(&hmac_->outer);
  SHA256_Update(&hmac_->outer, opad, sizeof opad);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
}

NonceManager::~NonceManager() { OPENSSL_cleanse(hmac_.get(), sizeof *hmac_); }

void NonceManager::mac(std::string_view ts_hex, std::string_view realm, char* out) const {
  SHA256_CTX c = hmac_->inner;
  SHA256_Update(&c, ts_hex.data(), ts_hex.size());
  SHA256_Update(&c, "|", 1);
  SHA256_Update(&c, realm.data(), realm.size());
  unsigned char inner[SHA256_DIGEST_LENGTH], md[SHA256_DIGEST_LENGTH];
  SHA256_Final(inner, &c);
  c = hmac_->outer;
  SHA256_Update(&c, inner, sizeof inner);
  SHA256_Final(md, &c);
  write_hex(md, 16, out);
}

void NonceManager::issue_to(std::string_view realm, std::int64_t now_ms, char* out) const {
  auto ts = static_cast<std::uint64_t>(now_ms);
  for (int i = 15; i >= 0; --i, ts >>= 4) out[i] = "0123456789abcdef"[ts & 15];
  mac(std::string_view(out, 16), realm, out + 16);
}

std::string NonceManager::issue(std::string_view realm, std::int64_t now_ms) const {
  char nonce[kNonceSize];
  issue_to(realm, now_ms, nonce);
  return std::string(nonce, sizeof nonce);
}

NonceManager::Check NonceManager::check(std::string_view nonce, std::string_view realm,
                                        std::int64_t now_ms) const {
  if (nonce.size() != kNonceSize) return Check::kInvalid;
  std::string_view ts = nonce.substr(0, 16);
  char expected[32];
  mac(ts, realm, expected);
  if (!constant_time_equals(nonce.substr(16), std::string_view(expected, sizeof expected)))
    return Check::kInvalid;
  std::uint64_t issued = 0;
  for (char c : ts) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (v < 0) return Check::kInvalid;
    issued = issued * 16 + static_cast<std::uint64_t>(v);
  }
  auto age = now_ms - static_cast<std::int64_t>(issued);
  if (age < -5000) return Check::kInvalid;  // from the future: not ours
  if (age > std::chrono::duration_cast<std::chrono::milliseconds>(ttl_).count()) return Check::kStale;
  return Check::kValid;
}

}  // namespace hotline::sip
