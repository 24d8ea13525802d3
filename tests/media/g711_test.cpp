// G.711 against ITU-T G.711 reference values and against SoX's independent coder.
//
// Golden files (tests/media/data) were produced with:
//   python3 -c "import struct; open('ramp.raw','wb').write(b''.join(struct.pack('<h',v) for v in
//   range(-32768,32768)))" sox -D -t raw -r 8000 -e signed -b 16 -c 1 ramp.raw -t raw -e mu-law -b 8
//   sox_ulaw_encode.bin printf '%b' ... (codes 0..255) | sox -D -t raw -r 8000 -e mu-law -b 8 -c 1 - -t raw
//   -e signed -b 16 sox_ulaw_decode.s16le
// and the same with a-law.
#include "media/g711.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace hotline::media {
namespace {

std::vector<unsigned char> read_file(const std::string& name) {
  std::ifstream f(std::string(HOTLINE_SOURCE_DIR) + "/tests/media/data/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), {}};
}

// ITU-T G.711 Table 2a (μ-law): for each segment, the decoder output of the
// first and last code (in the 14-bit scale of the table; ×4 for 16-bit) and
// Table 1a (A-law) in the 13-bit scale (×8 for 16-bit). Positive values;
// codes are the transmitted characters (after G.711's bit inversions).
struct Ref {
  unsigned code;
  int value;
};

TEST(G711, UlawDecoderMatchesItuTable) {
  // Segment endpoints of G.711 Table 2a: 0, 2, ..., 30 | 33 ... 93 | 99 ... 219 | ... | 4191 ... 8031.
  const Ref refs[] = {{0xFF, 0},    {0xF0, 30},   {0xEF, 33},   {0xE0, 93},  {0xDF, 99},   {0xD0, 219},
                      {0xCF, 231},  {0xC0, 471},  {0xBF, 495},  {0xB0, 975}, {0xAF, 1023}, {0xA0, 1983},
                      {0x9F, 2079}, {0x90, 3999}, {0x8F, 4191}, {0x80, 8031}};
  for (const auto& r : refs) {
    EXPECT_EQ(ulaw_to_linear(static_cast<std::uint8_t>(r.code)), r.value * 4) << std::hex << r.code;
    // Negative half: sign bit cleared.
    EXPECT_EQ(ulaw_to_linear(static_cast<std::uint8_t>(r.code & 0x7F)), -r.value * 4) << std::hex << r.code;
  }
}

TEST(G711, AlawDecoderMatchesItuTable) {
  // G.711 Table 1a: segment 1 outputs 1, 3, ..., 31; segment 2: 33 ... 63; segment 3: 66 ... 126;
  // ... segment 8: 2112 ... 4032. Characters carry the even-bit inversion (XOR 0x55).
  const Ref refs[] = {{0x80 ^ 0x55, 1},   {0x8F ^ 0x55, 31},   {0x90 ^ 0x55, 33},   {0x9F ^ 0x55, 63},
                      {0xA0 ^ 0x55, 66},  {0xAF ^ 0x55, 126},  {0xB0 ^ 0x55, 132},  {0xC0 ^ 0x55, 264},
                      {0xD0 ^ 0x55, 528}, {0xE0 ^ 0x55, 1056}, {0xF0 ^ 0x55, 2112}, {0xFF ^ 0x55, 4032}};
  for (const auto& r : refs) {
    EXPECT_EQ(alaw_to_linear(static_cast<std::uint8_t>(r.code)), r.value * 8) << std::hex << r.code;
    EXPECT_EQ(alaw_to_linear(static_cast<std::uint8_t>(r.code ^ 0x80)), -r.value * 8) << std::hex << r.code;
  }
  EXPECT_EQ(g711_silence(Codec::pcma), 0xD5);
  EXPECT_EQ(g711_silence(Codec::pcmu), 0xFF);
}

TEST(G711, DecodersMatchSox) {
  auto u = read_file("sox_ulaw_decode.s16le");
  auto a = read_file("sox_alaw_decode.s16le");
  ASSERT_EQ(u.size(), 512u);
  ASSERT_EQ(a.size(), 512u);
  for (int c = 0; c < 256; ++c) {
    auto s16 = [](const std::vector<unsigned char>& v, int i) {
      return static_cast<std::int16_t>(v[2 * i] | (v[2 * i + 1] << 8));
    };
    EXPECT_EQ(ulaw_to_linear(static_cast<std::uint8_t>(c)), s16(u, c)) << c;
    EXPECT_EQ(alaw_to_linear(static_cast<std::uint8_t>(c)), s16(a, c)) << c;
  }
}

// The encoder must pick the quantisation interval that contains the input
// (G.711 decision values lie halfway between reconstruction values). SoX
// rounds before quantising where the ITU-T G.191 reference truncates, so the
// two may differ only for inputs within one rounding step of a decision value.
TEST(G711, EncodersQuantiseToNearestIntervalAndAgreeWithSox) {
  auto su = read_file("sox_ulaw_encode.bin");
  auto sa = read_file("sox_alaw_encode.bin");
  ASSERT_EQ(su.size(), 65536u);
  ASSERT_EQ(sa.size(), 65536u);
  int u_diff = 0, a_diff = 0;
  for (int x = -32768; x <= 32767; ++x) {
    const auto s = static_cast<std::int16_t>(x);
    const std::uint8_t cu = linear_to_ulaw(s), ca = linear_to_alaw(s);
    const int du = ulaw_to_linear(cu), da = alaw_to_linear(ca);
    // Step sizes: μ-law up to 1024 (16-bit scale), A-law up to 1024; error ≤ half step + 1 truncation unit.
    // Step size of the segment a code lies in, in the 16-bit scale.
    auto step_u = [](std::uint8_t c) { return 8 << (((~c) & 0x70) >> 4); };
    auto step_a = [](std::uint8_t c) {
      const int e = ((c ^ 0x55) & 0x70) >> 4;
      return e <= 1 ? 16 : 16 << (e - 1);
    };
    if (std::abs(x) < 32000) {  // clipping region excluded
      // Reconstruction values sit mid-interval, so the error is at most half a step
      // (+1 for the one's-complement handling of negative inputs).
      ASSERT_LE(std::abs(du - x), step_u(cu) / 2 + 1) << x;
      ASSERT_LE(std::abs(da - x), step_a(ca) / 2 + 1) << x;
      const std::uint8_t xu = su[x + 32768], xa = sa[x + 32768];
      // SoX rounds to 14/13 bits first, so its error may exceed half a step by that rounding.
      EXPECT_LE(std::abs(ulaw_to_linear(xu) - x), step_u(xu) / 2 + 4) << x;
      EXPECT_LE(std::abs(alaw_to_linear(xa) - x), step_a(xa) / 2 + 8) << x;
      u_diff += xu != cu;
      a_diff += xa != ca;
    }
  }
  // Rounding-vs-truncation only matters in a thin band at each decision value.
  EXPECT_LT(u_diff, 65536 / 20);
  EXPECT_LT(a_diff, 65536 / 20);
}

TEST(G711, TranscodeTablesPreserveValues) {
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    // μ→A→μ may lose at most one step of the coarser law near zero.
    const int orig = ulaw_to_linear(code);
    const int back = alaw_to_linear(ulaw_to_alaw(code));
    EXPECT_LE(std::abs(orig - back), std::max(16, std::abs(orig) / 16)) << c;
    EXPECT_EQ(transcode_table(Codec::pcmu, Codec::pcma)[c], ulaw_to_alaw(code));
    EXPECT_EQ(transcode_table(Codec::pcma, Codec::pcmu)[c], alaw_to_ulaw(code));
  }
  EXPECT_EQ(transcode_table(Codec::pcmu, Codec::pcmu), nullptr);
}

TEST(G711, BulkEncodeDecodeRoundTrip) {
  std::vector<std::int16_t> in(160), out(160);
  std::vector<std::uint8_t> enc(160);
  for (int i = 0; i < 160; ++i) in[i] = static_cast<std::int16_t>((i - 80) * 300);
  for (Codec c : {Codec::pcmu, Codec::pcma}) {
    g711_encode(c, in.data(), enc.data(), in.size());
    g711_decode(c, enc.data(), out.data(), out.size());
    for (int i = 0; i < 160; ++i) EXPECT_LE(std::abs(in[i] - out[i]), std::abs(in[i]) / 16 + 16);
  }
}

}  // namespace
}  // namespace hotline::media
