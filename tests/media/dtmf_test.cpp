// RFC 4733 telephone-events and in-band (Goertzel) DTMF detection.
#include "media/dtmf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "media/rtp.h"
#include "pcap_reader.h"

namespace hotline::media {
namespace {

TEST(TelephoneEvent, EncodesRfc4733Layout) {
  // RFC 4733 §2.3 figure: event(8) | E R volume(6) | duration(16).
  // Example modelled on RFC 4733 §5: digit '9', volume 10 (-10 dBm0), duration 1600 (200 ms), final packet.
  std::uint8_t buf[4];
  ASSERT_EQ(write_telephone_event(buf, TelephoneEvent{9, true, 10, 1600}), 4u);
  EXPECT_EQ(buf[0], 0x09);
  EXPECT_EQ(buf[1], 0x8a);
  EXPECT_EQ(buf[2], 0x06);
  EXPECT_EQ(buf[3], 0x40);
  auto ev = parse_telephone_event(buf);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->event, 9);
  EXPECT_TRUE(ev->end);
  EXPECT_EQ(ev->volume, 10);
  EXPECT_EQ(ev->duration, 1600);
  // The R bit is ignored on receipt.
  std::uint8_t r[4] = {11, 0x40 | 20, 0, 160};
  auto ev2 = parse_telephone_event(r);
  ASSERT_TRUE(ev2);
  EXPECT_FALSE(ev2->end);
  EXPECT_EQ(ev2->volume, 20);
  EXPECT_EQ(dtmf_event_to_char(ev2->event), '#');
  EXPECT_FALSE(parse_telephone_event(std::span<const std::uint8_t>(r, 3)));
}

TEST(TelephoneEvent, CharMapping) {
  const std::string all = "0123456789*#ABCD";
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(dtmf_char_to_event(all[i]), static_cast<int>(i));
    EXPECT_EQ(dtmf_event_to_char(static_cast<std::uint8_t>(i)), all[i]);
  }
  EXPECT_EQ(dtmf_char_to_event('x'), -1);
  EXPECT_EQ(dtmf_event_to_char(16), '\0');
}

// The RFC 4733 §5 style sequence: one key press sent as interim updates every
// 50 ms (duration 400, 800, 1200) then the final duration three times with E.
TEST(TelephoneEventReceiver, ReportsOncePerPressDespiteRedundancy) {
  TelephoneEventReceiver rx;
  int reports = 0;
  for (std::uint16_t d : {400, 800, 1200}) reports += rx.on_packet(0, {9, false, 10, d}).has_value();
  EXPECT_TRUE(rx.in_event());
  for (int i = 0; i < 3; ++i) reports += rx.on_packet(0, {9, true, 10, 1600}).has_value();
  EXPECT_EQ(reports, 1);
  EXPECT_FALSE(rx.in_event());
  // Late duplicate of an interim packet after the end: still the same press.
  EXPECT_FALSE(rx.on_packet(0, {9, false, 10, 800}));
  // Next press of the same digit has a new timestamp → reported.
  auto d = rx.on_packet(8000, {9, false, 10, 400});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digit, '9');
  EXPECT_EQ(d->source, DtmfSource::rfc4733);
  // A reordered packet from the earlier press does not resurrect it.
  EXPECT_FALSE(rx.on_packet(0, {9, true, 10, 1600}));
  EXPECT_EQ(rx.events(), 2u);
}

TEST(TelephoneEventReceiver, LostStartStillReportsOnEnd) {
  TelephoneEventReceiver rx;
  auto d = rx.on_packet(320, {1, true, 10, 800});  // only end packets arrived
  ASSERT_TRUE(d);
  EXPECT_EQ(d->digit, '1');
  EXPECT_FALSE(rx.on_packet(320, {1, true, 10, 800}));
  EXPECT_FALSE(rx.on_packet(640, {200, false, 10, 160}));  // non-DTMF event code ignored
}

// SIPp's shipped RFC 2833 captures: each file holds one digit.
TEST(TelephoneEventReceiver, DecodesSippCaptures) {
  const std::string names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound"};
  const std::string expect = "0123456789*#";
  for (int i = 0; i < 12; ++i) {
    const std::string path = "/usr/share/sip-tester/dtmf_2833_" + names[i] + ".pcap";
    auto recs = testing::read_pcap_udp(path);
    ASSERT_FALSE(recs.empty()) << path;
    TelephoneEventReceiver rx;
    std::string got;
    for (const auto& r : recs) {
      RtpPacket p;
      ASSERT_EQ(parse_rtp(r.payload, p), ParseStatus::ok);
      EXPECT_EQ(p.header.payload_type, 101);
      auto ev = parse_telephone_event(std::span(r.payload).subspan(p.payload_offset, p.payload_size));
      ASSERT_TRUE(ev);
      if (auto d = rx.on_packet(p.header.timestamp, *ev)) got += d->digit;
    }
    EXPECT_EQ(got, std::string(1, expect[i])) << path;
  }
}

// ---- in-band -----------------------------------------------------------

std::string detect(const std::vector<std::int16_t>& audio) {
  InbandDtmfDetector det;
  std::string got;
  // Feed in 20 ms packets as the session does.
  for (std::size_t i = 0; i < audio.size(); i += 160) {
    det.process(audio.data() + i, std::min<std::size_t>(160, audio.size() - i), [&](char c) { got += c; });
  }
  return got;
}

void append_silence(std::vector<std::int16_t>& v, std::size_t n) { v.insert(v.end(), n, 0); }

void append_digit(std::vector<std::int16_t>& v, char d, int ms, double level_row, double level_col) {
  // Separate row/column levels give twist: generate each tone at its level and sum.
  std::vector<std::int16_t> a(ms * 8), b(ms * 8);
  // generate_dtmf gives both tones at one level; build twisted pairs from two calls at different levels
  // and keep only the wanted tone of each by subtracting the other-level pair scaled... simpler: direct
  // synthesis.
  const double rows[] = {697, 770, 852, 941}, cols[] = {1209, 1336, 1477, 1633};
  const char keys[4][4] = {
      {'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}};
  int r = 0, c = 0;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      if (keys[i][j] == d) r = i, c = j;
  const double ar = 32767.0 * std::pow(10.0, (level_row - 3.17) / 20.0);
  const double ac = 32767.0 * std::pow(10.0, (level_col - 3.17) / 20.0);
  for (int i = 0; i < ms * 8; ++i) {
    const double t = i / 8000.0;
    v.push_back(static_cast<std::int16_t>(ar * std::sin(2 * M_PI * rows[r] * t) +
                                          ac * std::sin(2 * M_PI * cols[c] * t)));
  }
}

TEST(InbandDtmf, DetectsAllDigitsClean) {
  std::vector<std::int16_t> audio;
  const std::string digits = "123A456B789C*0#D";
  for (char d : digits) {
    append_digit(audio, d, 60, -10, -10);
    append_silence(audio, 480);
  }
  EXPECT_EQ(detect(audio), digits);
}

TEST(InbandDtmf, GeneratorProducesDetectableTones) {
  std::vector<std::int16_t> audio(800);
  ASSERT_TRUE(generate_dtmf('7', audio));
  append_silence(audio, 400);
  EXPECT_EQ(detect(audio), "7");
  EXPECT_FALSE(generate_dtmf('x', audio));
}

TEST(InbandDtmf, WithNoiseAndTwist) {
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0.0, 300.0);  // ≈ -43 dBov white noise, ~20 dB below the tones
  std::vector<std::int16_t> audio;
  const std::string digits = "5820#";
  const double twists[][2] = {
      {-10, -6}, {-8, -11}, {-12, -5}, {-6, -9}, {-20, -20}};  // normal ≤ 7 dB, reverse ≤ 3 dB
  for (std::size_t i = 0; i < digits.size(); ++i) {
    append_silence(audio, 400);
    append_digit(audio, digits[i], 70, twists[i][0], twists[i][1]);
  }
  append_silence(audio, 400);
  for (auto& s : audio) s = static_cast<std::int16_t>(std::clamp(s + noise(rng), -32768.0, 32767.0));
  EXPECT_EQ(detect(audio), digits);
}

TEST(InbandDtmf, RejectsExcessiveTwistAndShortBursts) {
  std::vector<std::int16_t> audio;
  append_digit(audio, '1', 80, -4, -20);  // row 16 dB above column: reverse twist far beyond 4 dB
  append_silence(audio, 400);
  append_digit(audio, '2', 10, -10, -10);  // 10 ms blip, shorter than a key press
  append_silence(audio, 400);
  EXPECT_EQ(detect(audio), "");
}

TEST(InbandDtmf, LongPressIsOneDigit) {
  std::vector<std::int16_t> audio;
  append_digit(audio, '4', 1500, -10, -10);
  append_silence(audio, 200);
  append_digit(audio, '4', 100, -10, -10);
  EXPECT_EQ(detect(audio), "44");
}

}  // namespace
}  // namespace hotline::media
