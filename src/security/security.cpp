#include "security/security.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <map>
#include <mutex>
#include <stdexcept>

namespace hotline::security {
namespace {

void ensure_sodium() {
  static const bool ready = [] { return sodium_init() >= 0; }();
  if (!ready) throw std::runtime_error("libsodium failed to initialise");
}

}  // namespace

std::string hash_password(std::string_view password, const KdfCost& cost) {
  ensure_sodium();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.opslimit, cost.memlimit_bytes,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("password hashing ran out of memory");
  }
  return std::string(out);
}

bool verify_password(std::string_view encoded, std::string_view password) {
  ensure_sodium();
  if (encoded.empty() || encoded.size() >= crypto_pwhash_STRBYTES) return false;
  std::string z(encoded);  // libsodium wants a NUL-terminated string
  return crypto_pwhash_str_verify(z.c_str(), password.data(), password.size()) == 0;
}

bool needs_rehash(std::string_view encoded, const KdfCost& cost) {
  ensure_sodium();
  std::string z(encoded);
  return crypto_pwhash_str_needs_rehash(z.c_str(), cost.opslimit, cost.memlimit_bytes) != 0;
}

const std::string& dummy_password_hash(const KdfCost& cost) {
  static std::mutex mu;
  static std::map<std::pair<std::uint64_t, std::size_t>, std::string> cache;
  std::lock_guard lock(mu);
  auto key = std::make_pair(cost.opslimit, cost.memlimit_bytes);
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, hash_password(new_token(), cost)).first;
  return it->second;
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  ensure_sodium();
  std::vector<std::uint8_t> out(n);
  randombytes_buf(out.data(), n);
  return out;
}

std::string new_token() {
  auto bytes = random_bytes(32);
  return base64url(bytes);
}

std::string generate_password(std::size_t length) {
  ensure_sodium();
  static constexpr std::string_view alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out;
  out.reserve(length);
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(alphabet[randombytes_uniform(static_cast<std::uint32_t>(alphabet.size()))]);
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return to_hex(std::span<const std::uint8_t>(digest, len));
}

std::string md5_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  return to_hex(std::span<const std::uint8_t>(digest, len));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xF];
  }
  return out;
}

std::string base64url(std::span<const std::uint8_t> bytes) {
  ensure_sodium();
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

}  // namespace hotline::security
