#include "sip/md5.h"

#include <cmath>
#include <cstring>
#include <utility>

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

namespace {

// The four registers; step I of §3.4 updates one of them in place instead of
// rotating all four, and every index, shift and round function is a
// constant of the step (all 64 steps unrolled at compile time: the loop
// form paid for variable rotations and index arithmetic, ~1.1 k
// instructions per block).
struct Regs {
  std::uint32_t v[4];
};

template <int I>
inline void md5_step(Regs& r, const std::uint32_t* x, const std::array<std::uint32_t, 64>& t) {
  // Step I writes register (4 - I % 4) % 4, i.e. a, d, c, b, a, d, … with
  // the others in the roles of b, c, d (RFC 1321's [abcd k s i] pattern).
  constexpr int A = (4 - I % 4) % 4, B = (A + 1) % 4, C = (A + 2) % 4, D = (A + 3) % 4;
  constexpr int kRound = I / 16;
  constexpr int K = kRound == 0   ? I
                    : kRound == 1 ? (5 * I + 1) % 16
                    : kRound == 2 ? (3 * I + 5) % 16
                                  : (7 * I) % 16;
  constexpr int S = kShift[kRound][I % 4];
  const std::uint32_t b = r.v[B], c = r.v[C], d = r.v[D];
  std::uint32_t f;
  if constexpr (kRound == 0)
    f = d ^ (b & (c ^ d));  // (b & c) | (~b & d)
  else if constexpr (kRound == 1)
    f = c ^ (d & (b ^ c));  // (b & d) | (c & ~d)
  else if constexpr (kRound == 2)
    f = b ^ c ^ d;
  else
    f = c ^ (b | ~d);
  r.v[A] = b + rotl(r.v[A] + f + x[K] + t[I], S);
}

template <int... I>
inline void md5_steps(Regs& r, const std::uint32_t* x, const std::array<std::uint32_t, 64>& t,
                      std::integer_sequence<int, I...>) {
  (md5_step<I>(r, x, t), ...);
}

}  // namespace

void Md5::block(const unsigned char* p) {
  const auto& t = sine_table();
  std::uint32_t x[16];
  for (int i = 0; i < 16; ++i) x[i] = load_le(p + 4 * i);
  Regs r{{state_[0], state_[1], state_[2], state_[3]}};
  md5_steps(r, x, t, std::make_integer_sequence<int, 64>{});
  for (size_t i = 0; i < 4; ++i) state_[i] += r.v[i];
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
