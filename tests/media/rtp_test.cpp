// RTP/RTCP codec (RFC 3550) and reception statistics (RFC 3550 A.1, A.3, A.8).
#include "media/rtp.h"

#include <gtest/gtest.h>

#include <vector>

#include "media/stats.h"

namespace hotline::media {
namespace {

TEST(Rtp, ParsesFixedHeader) {
  // V=2, M=1, PT=0, seq 0x1234, ts 0xdeadbeef, ssrc 0x01020304, payload 3 bytes.
  const std::uint8_t pkt[] = {0x80, 0x80, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 0xaa, 0xbb, 0xcc};
  RtpPacket p;
  ASSERT_EQ(parse_rtp(pkt, p), ParseStatus::ok);
  EXPECT_TRUE(p.header.marker);
  EXPECT_EQ(p.header.payload_type, 0);
  EXPECT_EQ(p.header.sequence, 0x1234);
  EXPECT_EQ(p.header.timestamp, 0xdeadbeefu);
  EXPECT_EQ(p.header.ssrc, 0x01020304u);
  EXPECT_EQ(p.payload_offset, 12u);
  EXPECT_EQ(p.payload_size, 3u);
}

TEST(Rtp, SkipsCsrcExtensionAndPadding) {
  std::vector<std::uint8_t> pkt = {0xb1, 8,    0, 1, 0, 0, 0, 2, 0, 0, 0, 3,  // V=2 P=1 X=1 CC=1
                                   9,    9,    9, 9,                          // CSRC
                                   0xbe, 0xde, 0, 1, 7, 7, 7, 7,              // extension, 1 word
                                   0x55, 0x66,                                // payload
                                   0,    0,    3};                            // 3 bytes of padding
  RtpPacket p;
  ASSERT_EQ(parse_rtp(pkt, p), ParseStatus::ok);
  EXPECT_EQ(p.csrc_count, 1);
  EXPECT_TRUE(p.has_extension);
  EXPECT_EQ(p.payload_offset, 24u);
  EXPECT_EQ(p.payload_size, 2u);
  EXPECT_EQ(p.header.payload_type, 8);
}

TEST(Rtp, RejectsMalformed) {
  RtpPacket p;
  std::vector<std::uint8_t> short_pkt(11, 0x80);
  EXPECT_EQ(parse_rtp(short_pkt, p), ParseStatus::too_short);
  std::vector<std::uint8_t> v1(12, 0);
  v1[0] = 0x40;
  EXPECT_EQ(parse_rtp(v1, p), ParseStatus::bad_version);
  std::vector<std::uint8_t> cc(12, 0);
  cc[0] = 0x8f;  // 15 CSRCs declared, none present
  EXPECT_EQ(parse_rtp(cc, p), ParseStatus::too_short);
  std::vector<std::uint8_t> pad(13, 0);
  pad[0] = 0xa0;
  pad[12] = 9;  // pads past the header
  EXPECT_EQ(parse_rtp(pad, p), ParseStatus::bad_padding);
  pad[12] = 0;  // zero padding count is invalid too
  EXPECT_EQ(parse_rtp(pad, p), ParseStatus::bad_padding);
  std::vector<std::uint8_t> ext(16, 0);
  ext[0] = 0x90;
  ext[14] = 0;
  ext[15] = 5;  // 5 extension words, none present
  EXPECT_EQ(parse_rtp(ext, p), ParseStatus::too_short);
}

TEST(Rtp, WriteAndRewriteRoundTrip) {
  std::vector<std::uint8_t> buf(20, 0);
  RtpHeader h{true, 101, 65535, 4000000000u, 0xcafebabe};
  ASSERT_EQ(write_rtp_header(buf, h), 12u);
  RtpPacket p;
  ASSERT_EQ(parse_rtp(buf, p), ParseStatus::ok);
  EXPECT_EQ(p.header.sequence, 65535);
  EXPECT_EQ(p.header.payload_type, 101);
  rewrite_rtp_header(buf, RtpHeader{false, 0, 7, 8, 9});
  ASSERT_EQ(parse_rtp(buf, p), ParseStatus::ok);
  EXPECT_FALSE(p.header.marker);
  EXPECT_EQ(p.header.sequence, 7);
  EXPECT_EQ(p.header.timestamp, 8u);
  EXPECT_EQ(p.header.ssrc, 9u);
  EXPECT_EQ(p.payload_size, 8u);
  std::vector<std::uint8_t> tiny(4);
  EXPECT_EQ(write_rtp_header(tiny, h), 0u);
}

TEST(Rtcp, CompoundSrSdesByeRoundTrip) {
  std::vector<std::uint8_t> buf(512);
  ReportBlock b;
  b.ssrc = 0x11111111;
  b.fraction_lost = 64;
  b.cumulative_lost = -3;  // duplicates can make it negative (RFC 3550 §6.4.1)
  b.highest_seq = 70000;
  b.jitter = 42;
  b.last_sr = 0x12345678;
  b.delay_since_last_sr = 65536;
  SenderInfo si{ntp_from_unix_ns(1'700'000'000'500'000'000), 160, 10, 1600};
  std::size_t n = write_rtcp_sr(buf, 0xabcdef01, si, std::span(&b, 1));
  ASSERT_EQ(n, 52u);
  const char cname[] = "hotline@host";
  std::size_t m = write_rtcp_sdes_cname(std::span(buf).subspan(n), 0xabcdef01, std::span(cname, 12));
  ASSERT_GT(m, 0u);
  EXPECT_EQ(m % 4, 0u);
  std::size_t k = write_rtcp_bye(std::span(buf).subspan(n + m), 0xabcdef01);
  ASSERT_EQ(k, 8u);
  std::vector<RtcpPacket> got;
  ASSERT_EQ(parse_rtcp(std::span(buf.data(), n + m + k), [&](const RtcpPacket& p) { got.push_back(p); }),
            ParseStatus::ok);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, RtcpType::sr);
  EXPECT_EQ(got[0].ssrc, 0xabcdef01u);
  EXPECT_EQ(got[0].sender.packet_count, 10u);
  EXPECT_EQ(got[0].sender.ntp >> 32, 1'700'000'000u + 2208988800u);
  // 0.5 s is 0x80000000 in the fraction.
  EXPECT_NEAR(static_cast<double>(got[0].sender.ntp & 0xffffffffu), 2147483648.0, 2.0);
  ASSERT_EQ(got[0].report_count, 1);
  EXPECT_EQ(got[0].reports[0].cumulative_lost, -3);
  EXPECT_EQ(got[0].reports[0].fraction_lost, 64);
  EXPECT_EQ(got[0].reports[0].highest_seq, 70000u);
  EXPECT_EQ(got[0].reports[0].jitter, 42u);
  EXPECT_EQ(got[0].reports[0].last_sr, 0x12345678u);
  EXPECT_EQ(got[1].type, RtcpType::bye);
}

TEST(Rtcp, RejectsBadLengthsAndTypes) {
  std::vector<std::uint8_t> buf(64);
  std::size_t n = write_rtcp_rr(buf, 1, {});
  ASSERT_EQ(n, 8u);
  int calls = 0;
  auto cb = [&](const RtcpPacket&) { ++calls; };
  EXPECT_EQ(parse_rtcp(std::span(buf.data(), 7), cb), ParseStatus::bad_length);
  buf[0] = 0x81;  // claims one report block but length says none
  EXPECT_EQ(parse_rtcp(std::span(buf.data(), n), cb), ParseStatus::bad_length);
  buf[0] = 0x80;
  buf[1] = 150;
  EXPECT_EQ(parse_rtcp(std::span(buf.data(), n), cb), ParseStatus::bad_type);
  EXPECT_EQ(parse_rtcp(std::span<const std::uint8_t>(), cb), ParseStatus::too_short);
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(looks_like_rtcp(std::span<const std::uint8_t>(std::vector<std::uint8_t>{0x80, 200}.data(), 2)));
}

TEST(ReceiveStats, CountsLossAndWrap) {
  ReceiveStats s;
  std::uint16_t seq = 65530;
  std::uint32_t ts = 0;
  for (int i = 0; i < 20; ++i, ++seq, ts += 160) {
    if (i == 5 || i == 6) continue;  // lose two (across the wrap)
    EXPECT_TRUE(s.on_packet(seq, ts, ts + 1000));
  }
  EXPECT_EQ(s.received(), 18u);
  EXPECT_EQ(s.expected(), 20);
  EXPECT_EQ(s.lost(), 2);
  ReportBlock b = s.make_report(5, 0, 0);
  EXPECT_EQ(b.cumulative_lost, 2);
  EXPECT_EQ(b.fraction_lost, (2 << 8) / 20);
  EXPECT_EQ(b.highest_seq, 65536u + static_cast<std::uint16_t>(65530 + 19));
  // Next interval without loss reports fraction 0.
  for (int i = 0; i < 10; ++i, ++seq, ts += 160) s.on_packet(seq, ts, ts + 1000);
  EXPECT_EQ(s.make_report(5, 0, 0).fraction_lost, 0);
  EXPECT_EQ(s.jitter(), 0u);  // constant transit time
}

TEST(ReceiveStats, JitterFollowsRfcEstimator) {
  ReceiveStats s;
  // Alternate arrival offsets of 0 and 80 units: |D| = 80 every packet, so J → 80.
  std::uint32_t ts = 1000;
  for (int i = 0; i < 500; ++i, ts += 160) s.on_packet(static_cast<std::uint16_t>(i), ts, ts + (i % 2) * 80);
  EXPECT_NEAR(static_cast<double>(s.jitter()), 80.0, 2.0);
}

TEST(ReceiveStats, BigJumpNeedsConfirmation) {
  ReceiveStats s;
  s.on_packet(100, 0, 0);
  s.on_packet(101, 160, 160);
  EXPECT_FALSE(s.on_packet(30000, 320, 320));  // stray packet
  EXPECT_TRUE(s.on_packet(102, 480, 480));
  EXPECT_FALSE(s.on_packet(40000, 640, 640));
  EXPECT_TRUE(s.on_packet(40001, 800, 800));  // sender restarted: re-synchronised
  EXPECT_EQ(s.received(), 1u);
}

}  // namespace
}  // namespace hotline::media
