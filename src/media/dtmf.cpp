#include "media/dtmf.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace hotline::media {
namespace {

constexpr std::array<double, 4> kRows = {697.0, 770.0, 852.0, 941.0};
constexpr std::array<double, 4> kCols = {1209.0, 1336.0, 1477.0, 1633.0};
constexpr char kKeys[4][4] = {
    {'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}};

struct Coefs {
  std::array<double, 4> row{}, col{}, row2{}, col2{};
  Coefs() {
    auto c = [](double f) { return 2.0 * std::cos(2.0 * std::numbers::pi * f / 8000.0); };
    for (int i = 0; i < 4; ++i) {
      row[i] = c(kRows[i]);
      col[i] = c(kCols[i]);
      row2[i] = c(2 * kRows[i]);
      col2[i] = c(2 * kCols[i]);
    }
  }
};
const Coefs kCoefs;

double goertzel(const std::int16_t* x, std::size_t n, double coef) {
  double s1 = 0, s2 = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double s0 = x[i] + coef * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - coef * s1 * s2;
}

// dBm0 reference: a sine of amplitude 32768 * 10^(3.14/20) / sqrt(2)... we use
// the common convention that 0 dBm0 ≈ 3.17 dBov for μ-law (G.711 Table 5).
double dbm0_to_amplitude(double dbm0) { return 32767.0 * std::pow(10.0, (dbm0 - 3.17) / 20.0); }

}  // namespace

std::optional<TelephoneEvent> parse_telephone_event(std::span<const std::uint8_t> p) {
  if (p.size() < 4) return std::nullopt;
  TelephoneEvent ev;
  ev.event = p[0];
  ev.end = (p[1] & 0x80) != 0;
  ev.volume = p[1] & 0x3f;
  ev.duration = static_cast<std::uint16_t>((p[2] << 8) | p[3]);
  return ev;
}

std::size_t write_telephone_event(std::span<std::uint8_t> out, const TelephoneEvent& ev) {
  if (out.size() < 4) return 0;
  out[0] = ev.event;
  out[1] = static_cast<std::uint8_t>((ev.end ? 0x80 : 0) | (ev.volume & 0x3f));
  out[2] = static_cast<std::uint8_t>(ev.duration >> 8);
  out[3] = static_cast<std::uint8_t>(ev.duration);
  return 4;
}

char dtmf_event_to_char(std::uint8_t event) {
  static constexpr char kMap[] = "0123456789*#ABCD";
  return event < 16 ? kMap[event] : '\0';
}

int dtmf_char_to_event(char d) {
  if (d >= '0' && d <= '9') return d - '0';
  switch (d) {
    case '*':
      return 10;
    case '#':
      return 11;
    case 'A':
    case 'a':
      return 12;
    case 'B':
    case 'b':
      return 13;
    case 'C':
    case 'c':
      return 14;
    case 'D':
    case 'd':
      return 15;
    default:
      return -1;
  }
}

std::optional<DtmfDigit> TelephoneEventReceiver::on_packet(std::uint32_t ts, const TelephoneEvent& ev) {
  const char c = dtmf_event_to_char(ev.event);
  if (c == '\0') return std::nullopt;  // not a DTMF event (e.g. a tone event we do not handle)
  if (active_ && ts == timestamp_ && ev.event == event_) {
    // Same key press: a continuation, a repeated end packet or a late duplicate.
    if (ev.end) ended_ = true;
    return std::nullopt;
  }
  // A packet older than the current event (reordered tail of the previous
  // press) must not resurrect it: RTP timestamps only move forward per press.
  if (active_ && static_cast<std::int32_t>(ts - timestamp_) < 0) return std::nullopt;
  active_ = true;
  ended_ = ev.end;
  timestamp_ = ts;
  event_ = ev.event;
  ++events_;
  return DtmfDigit{c, DtmfSource::rfc4733};
}

void InbandDtmfDetector::reset() {
  fill_ = 0;
  last_hit_ = 0;
  hit_count_ = 0;
  reported_ = false;
}

char InbandDtmfDetector::analyse_block() const {
  const std::int16_t* x = block_.data();
  double total = 0;
  for (std::size_t i = 0; i < kBlock; ++i) total += double(x[i]) * x[i];
  // Minimum level: about -36 dBm0 per tone pair (well below a quiet phone).
  if (total < kBlock * 400.0 * 400.0 / 2) return 0;
  std::array<double, 4> rp{}, cp{};
  int ri = 0, ci = 0;
  for (int i = 0; i < 4; ++i) {
    rp[i] = goertzel(x, kBlock, kCoefs.row[i]);
    cp[i] = goertzel(x, kBlock, kCoefs.col[i]);
    if (rp[i] > rp[ri]) ri = i;
    if (cp[i] > cp[ci]) ci = i;
  }
  const double r = rp[ri], c = cp[ci];
  // Twist: column may be up to 8 dB stronger (normal), row up to 4 dB (reverse); Q.24 figures.
  if (c > r * 6.3 || r > c * 2.5) return 0;
  // Each tone must stand out in its group by 6 dB.
  for (int i = 0; i < 4; ++i) {
    if (i != ri && rp[i] * 4.0 > r) return 0;
    if (i != ci && cp[i] * 4.0 > c) return 0;
  }
  // The pair must hold most of the block energy. A pure tone's Goertzel power
  // is ≈ (N/2)·Σx², so compare against that.
  if ((r + c) < 0.6 * total * (kBlock / 2.0)) return 0;
  // Speech has strong second harmonics; DTMF does not. Only the column tones'
  // harmonics are checked: every row tone's harmonic lies within one Goertzel
  // bin of a column frequency, so it would measure the column tone itself.
  if (goertzel(x, kBlock, kCoefs.col2[ci]) > c * 0.1) return 0;
  return kKeys[ri][ci];
}

char InbandDtmfDetector::update(char hit) {
  if (hit == 0) {
    // A single dropped block inside a tone (noise burst) should not split a press;
    // two quiet blocks end it.
    if (last_hit_ != 0 && hit_count_ > 0) {
      hit_count_ = -1;  // one grace block
      return 0;
    }
    last_hit_ = 0;
    hit_count_ = 0;
    reported_ = false;
    return 0;
  }
  if (hit != last_hit_) {
    last_hit_ = hit;
    hit_count_ = 1;
    reported_ = false;
  } else if (hit_count_ < 0) {
    hit_count_ = kConfirmBlocks;  // resumed after the grace block
  } else {
    ++hit_count_;
  }
  if (!reported_ && hit_count_ >= kConfirmBlocks) {
    reported_ = true;
    return hit;
  }
  return 0;
}

bool generate_dtmf(char digit, std::span<std::int16_t> out, double level_dbm0, std::size_t offset) {
  int ev = dtmf_char_to_event(digit);
  if (ev < 0) return false;
  int r = -1, c = -1;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j)
      if (kKeys[i][j] == (digit >= 'a' ? digit - 32 : digit)) r = i, c = j;
  if (r < 0) return false;
  const double a = dbm0_to_amplitude(level_dbm0);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const double t = double(i + offset) / 8000.0;
    double v =
        a * (std::sin(2 * std::numbers::pi * kRows[r] * t) + std::sin(2 * std::numbers::pi * kCols[c] * t));
    out[i] = static_cast<std::int16_t>(std::clamp(v, -32768.0, 32767.0));
  }
  return true;
}

}  // namespace hotline::media
