#include "sip/md5.h"

#include <cmath>
#include <cstring>

namespace hotline::sip {
namespace {

// RFC 1321 §3.4: T[i] is the integer part of 4294967296 * abs(sin(i)),
// i = 1..64 (in radians). Doubles carry enough precision for all 64.
const std::array<std::uint32_t, 64>& sine_table() {
  static const std::array<std::uint32_t, 64> t = [] {
    std::array<std::uint32_t, 64> v{};
    for (int i = 0; i < 64; ++i)
      v[static_cast<size_t>(i)] =
          static_cast<std::uint32_t>(std::floor(std::fabs(std::sin(i + 1)) * 4294967296.0));
    return v;
  }();
  return t;
}

// Per-round left rotations (RFC 1321 §3.4, S11..S44).
constexpr int kShift[4][4] = {{7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

constexpr std::uint32_t rotl(std::uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

std::uint32_t load_le(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

}  // namespace

Md5::Md5() : state_{0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u} {}

void Md5::block(const unsigned char* p) {
  const auto& t = sine_table();
  std::uint32_t x[16];
  for (int i = 0; i < 16; ++i) x[i] = load_le(p + 4 * i);
  std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  // One step of §3.4: a = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s), then the
  // registers rotate. One loop per round keeps F and k free of branches.
  auto step = [&](std::uint32_t f, int i, int k) {
    std::uint32_t next = b + rotl(a + f + x[k] + t[static_cast<size_t>(i)], kShift[i / 16][i % 4]);
    a = d;
    d = c;
    c = b;
    b = next;
  };
  for (int i = 0; i < 16; ++i) step((b & c) | (~b & d), i, i);
  for (int i = 16; i < 32; ++i) step((b & d) | (c & ~d), i, (5 * i + 1) % 16);
  for (int i = 32; i < 48; ++i) step(b ^ c ^ d, i, (3 * i + 5) % 16);
  for (int i = 48; i < 64; ++i) step(c ^ (b | ~d), i, (7 * i) % 16);
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
}

void Md5::update(std::string_view data) {
  auto p = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t n = data.size();
  std::size_t used = length_ % 64;
  length_ += n;
  if (used) {
    std::size_t take = std::min(n, 64 - used);
    std::memcpy(buffer_.data() + used, p, take);
    p += take;
    n -= take;
    if (used + take < 64) return;
    block(buffer_.data());
  }
  for (; n >= 64; p += 64, n -= 64) block(p);
  if (n) std::memcpy(buffer_.data(), p, n);
}

Md5::Digest Md5::finish() {
  // §3.1-3.2: a 1 bit, zeros to 56 mod 64 bytes, the bit length (LE).
  const std::uint64_t bits = length_ * 8;
  static const unsigned char pad[64] = {0x80};
  std::size_t used = length_ % 64;
  update(std::string_view(reinterpret_cast<const char*>(pad), used < 56 ? 56 - used : 120 - used));
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(bits >> (8 * i));
  update(std::string_view(reinterpret_cast<const char*>(len), 8));
  Digest out;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      out[static_cast<size_t>(4 * i + j)] =
          static_cast<unsigned char>(state_[static_cast<size_t>(i)] >> (8 * j));
  return out;
}

}  // namespace hotline::sip
