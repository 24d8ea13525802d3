#include "media/g711.h"

#include <array>

namespace hotline::media {
namespace {

constexpr std::int16_t decode_ulaw(std::uint8_t code) {
  code = static_cast<std::uint8_t>(~code);
  const int sign = code & 0x80;
  const int exponent = (code >> 4) & 0x07;
  const int mantissa = code & 0x0f;
  const int magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return static_cast<std::int16_t>(sign ? -magnitude : magnitude);
}

constexpr std::int16_t decode_alaw(std::uint8_t code) {
  code ^= 0x55;  // even-bit inversion
  const int sign = code & 0x80;
  const int exponent = (code >> 4) & 0x07;
  const int mantissa = code & 0x0f;
  int magnitude = (mantissa << 4) + 8;
  if (exponent != 0) magnitude = (magnitude + 0x100) << (exponent - 1);
  return static_cast<std::int16_t>(sign ? magnitude : -magnitude);  // A-law: bit set = positive
}

constexpr auto make_table(std::int16_t (*f)(std::uint8_t)) {
  std::array<std::int16_t, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = f(static_cast<std::uint8_t>(i));
  return t;
}

constexpr std::array<std::int16_t, 256> kUlaw = make_table(decode_ulaw);
constexpr std::array<std::int16_t, 256> kAlaw = make_table(decode_alaw);

int top_segment(int value) {  // index of the highest set bit at or above bit 7..14
  int seg = 0;
  for (int v = value >> 7; v != 0 && seg < 8; v >>= 1) ++seg;
  return seg;
}

struct TranscodeTables {
  std::array<std::uint8_t, 256> u2a{};
  std::array<std::uint8_t, 256> a2u{};
  TranscodeTables() {
    for (int i = 0; i < 256; ++i) {
      u2a[i] = linear_to_alaw(kUlaw[i]);
      a2u[i] = linear_to_ulaw(kAlaw[i]);
    }
  }
};

const TranscodeTables& tables() {
  static const TranscodeTables t;
  return t;
}

}  // namespace

std::uint8_t linear_to_ulaw(std::int16_t sample) {
  constexpr int kBias = 0x84;
  constexpr int kClip = 32635;
  int value = sample;
  int sign = 0;
  if (value < 0) {
    value = -value - 1;  // one's complement, as the ITU-T G.191 reference coder does
    sign = 0x80;
  }
  if (value > kClip) value = kClip;
  value += kBias;
  const int exponent = top_segment(value) == 0 ? 0 : top_segment(value) - 1;
  const int mantissa = (value >> (exponent + 3)) & 0x0f;
  return static_cast<std::uint8_t>(~(sign | (exponent << 4) | mantissa));
}

std::uint8_t linear_to_alaw(std::int16_t sample) {
  int value = sample;
  int sign = 0x80;  // positive
  if (value < 0) {
    value = -value - 1;  // one's complement as in the reference coder: -1 maps like 0
    sign = 0;
  }
  if (value > 32767) value = 32767;
  int exponent = 0;
  for (int v = value >> 8; v != 0 && exponent < 7; v >>= 1) ++exponent;
  const int mantissa = exponent == 0 ? (value >> 4) & 0x0f : (value >> (exponent + 3)) & 0x0f;
  return static_cast<std::uint8_t>((sign | (exponent << 4) | mantissa) ^ 0x55);
}

std::int16_t ulaw_to_linear(std::uint8_t code) { return kUlaw[code]; }
std::int16_t alaw_to_linear(std::uint8_t code) { return kAlaw[code]; }
std::uint8_t ulaw_to_alaw(std::uint8_t code) { return tables().u2a[code]; }
std::uint8_t alaw_to_ulaw(std::uint8_t code) { return tables().a2u[code]; }

const std::uint8_t* transcode_table(Codec from, Codec to) {
  if (from == to) return nullptr;
  return from == Codec::pcmu ? tables().u2a.data() : tables().a2u.data();
}

void g711_encode(Codec codec, const std::int16_t* in, std::uint8_t* out, std::size_t n) {
  if (codec == Codec::pcmu) {
    for (std::size_t i = 0; i < n; ++i) out[i] = linear_to_ulaw(in[i]);
  } else {
    for (std::size_t i = 0; i < n; ++i) out[i] = linear_to_alaw(in[i]);
  }
}

void g711_decode(Codec codec, const std::uint8_t* in, std::int16_t* out, std::size_t n) {
  const std::int16_t* t = codec == Codec::pcmu ? kUlaw.data() : kAlaw.data();
  for (std::size_t i = 0; i < n; ++i) out[i] = t[in[i]];
}

std::uint8_t g711_silence(Codec codec) { return codec == Codec::pcmu ? 0xff : 0xd5; }

}  // namespace hotline::media
