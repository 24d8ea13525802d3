// security/security.h — primitives for credentials, tokens and tamper evidence.
//
// Passwords: argon2id via libsodium (memory-hard), encoded in the standard
// "$argon2id$v=19$m=...,t=...,p=1$salt$hash" string, so the cost can be
// raised later and old hashes still verify (needs_rehash tells when).
//
// Tokens: 256 random bits, base64url without padding. Only their SHA-256 is
// ever stored, so a database leak does not leak live sessions.
//
// All comparisons of secrets are constant-time.
//
// Thread-safety: every function is safe to call from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotline::security {

struct KdfCost {
  std::uint64_t opslimit = 2;                     // argon2id passes (libsodium "interactive")
  std::size_t memlimit_bytes = 64 * 1024 * 1024;  // 64 MiB
};

// Hashes `password`. Throws std::runtime_error only when the system cannot
// allocate the KDF memory.
std::string hash_password(std::string_view password, const KdfCost& cost);

// True when `password` matches `encoded` (an output of hash_password).
// Malformed `encoded` values simply do not match.
bool verify_password(std::string_view encoded, std::string_view password);

// True when `encoded` was made with a cost other than `cost`.
bool needs_rehash(std::string_view encoded, const KdfCost& cost);

// A hash of a password nobody knows, with `cost`; verifying against it costs
// the same as a real verification, so unknown users are not revealed by timing.
const std::string& dummy_password_hash(const KdfCost& cost);

// Cryptographically secure random bytes.
std::vector<std::uint8_t> random_bytes(std::size_t n);

// 32 random bytes as base64url (43 characters, no padding).
std::string new_token();

// A human-typeable random password: `length` characters from an alphabet
// without look-alikes (no 0/O, 1/l/I).
std::string generate_password(std::size_t length = 20);

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);

// Lower-case hex MD5 of `data`: only for SIP digest HA1 (RFC 2617/7616),
// which phones still require; never for anything else.
std::string md5_hex(std::string_view data);

// Constant-time equality (length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

std::string to_hex(std::span<const std::uint8_t> bytes);
std::string base64url(std::span<const std::uint8_t> bytes);

}  // namespace hotline::security
