// Supervisor silent listen: a third session hears the mix of both directions
// of a bridged call, over real UDP on loopback; and the mix buffer itself.
#include "media/listen.h"

#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "media/media.h"
#include "rtp_collector.h"
#include "test_ports.h"
#include "udp_peer.h"

namespace hotline::media {
namespace {

using testing::Collector;
using testing::Rx;
using testing::UdpPeer;
using testing::wait_for;
using namespace std::chrono_literals;

constexpr double kAmp = 8000;  // each side; the sum stays below full scale

// Goertzel power at `hz`, normalised so a sine of amplitude A gives about A²/4.
double tone_power(const std::vector<double>& x, double hz) {
  const double c = 2 * std::cos(2 * M_PI * hz / 8000);
  double s1 = 0, s2 = 0;
  for (double v : x) {
    const double s0 = v + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const double n = static_cast<double>(x.size());
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (n * n);
}

std::vector<std::uint8_t> tone_frame(Codec codec, double hz, std::uint32_t k) {
  std::vector<std::int16_t> pcm(160);
  for (std::uint32_t i = 0; i < 160; ++i)
    pcm[i] = static_cast<std::int16_t>(kAmp * std::sin(2 * M_PI * hz * (160.0 * k + i) / 8000));
  std::vector<std::uint8_t> out(160);
  g711_encode(codec, pcm.data(), out.data(), 160);
  return out;
}

bool is_silence(const Rx& r, Codec codec);

// Decoded payloads of every packet that is not pure silence, in order.
std::vector<double> audible_frames(const std::vector<Rx>& rx, Codec codec) {
  std::vector<double> out;
  for (const Rx& r : rx) {
    if (is_silence(r, codec)) continue;
    std::vector<std::int16_t> pcm(r.p.payload_size);
    g711_decode(codec, r.data.data() + r.p.payload_offset, pcm.data(), pcm.size());
    out.insert(out.end(), pcm.begin(), pcm.end());
  }
  return out;
}

// tone_power per 20 ms frame, averaged (the test tones are whole numbers of
// cycles per frame, so each frame's bins are independent of the others').
double mean_frame_power(const std::vector<double>& x, double hz) {
  double sum = 0;
  std::size_t frames = 0;
  for (std::size_t at = 0; at + 160 <= x.size(); at += 160, ++frames)
    sum += tone_power(std::vector<double>(x.begin() + static_cast<std::ptrdiff_t>(at),
                                          x.begin() + static_cast<std::ptrdiff_t>(at + 160)),
                      hz);
  return frames ? sum / static_cast<double>(frames) : 0;
}

// What `col` collected once `more` further packets have come (so the mix's
// jitter cushion has played out), audible frames only.
std::vector<double> played_mix(Collector& col, Codec codec, std::size_t more = 20) {
  const std::size_t now = col.size();
  EXPECT_TRUE(col.wait([&](const std::vector<Rx>& v) { return v.size() >= now + more; }));
  return audible_frames(col.snapshot(), codec);
}

bool is_silence(const Rx& r, Codec codec) {
  const std::uint8_t* p = r.data.data() + r.p.payload_offset;
  return r.p.payload_size > 0 &&
         std::all_of(p, p + r.p.payload_size, [&](std::uint8_t b) { return b == g711_silence(codec); });
}

bool consecutive(const std::vector<Rx>& rx) {
  for (std::size_t i = 1; i < rx.size(); ++i)
    if (static_cast<std::uint16_t>(rx[i].p.header.sequence - rx[i - 1].p.header.sequence) != 1) return false;
  return !rx.empty();
}

SessionStats stats(const MediaSession& s) { return s.stats().get(); }

struct Codecs {
  Codec a, b, l;
};

// A bridged call (caller phone A on session a, agent phone B on b) and a
// supervisor phone L on session l, every phone's packets collected from the
// start, so packet i of a collector is the i-th packet its session sent.
class Call {
 public:
  explicit Call(Codecs c, unsigned loops = 1) : codecs_(c), engine_(config(loops)) {
    a_ = open(pa_, c.a, nullptr);
    b_ = open(pb_, c.b, a_.get());
    l_ = open(pl_, c.l, a_.get());
  }
  static EngineConfig config(unsigned loops) {
    EngineConfig e;
    e.loops = loops;
    hotline::media::testing::use_test_ports(e);
    e.bind_address = "127.0.0.1";
    return e;
  }
  std::shared_ptr<MediaSession> open(const UdpPeer& phone, Codec codec, const MediaSession* colocate) {
    SessionParams p;
    p.remote_address = "127.0.0.1";
    p.remote_port = phone.port();
    p.codec = codec;
    p.payload_type = static_cast<std::uint8_t>(codec);
    auto s = engine_.create_session(p, {}, colocate);
    if (!s) throw std::runtime_error(s.error().message);
    return *s;
  }
  // `frames` 20 ms frames: A sends 1 kHz, B 2 kHz, L (if `supervisor_talks`)
  // 3 kHz; paced like phones. Sequence and timestamps continue across calls.
  void talk(int frames, bool supervisor_talks = false, bool a_talks = true) {
    const auto start = std::chrono::steady_clock::now();
    for (int f = 0; f < frames; ++f, ++k_) {
      const auto seq = static_cast<std::uint16_t>(k_);
      const std::uint32_t ts = 160 * k_;
      if (a_talks) send(pa_, *a_, codecs_.a, {k_ == 0, 0, seq, ts, 0xCA11}, 1000);
      send(pb_, *b_, codecs_.b, {k_ == 0, 0, seq, ts, 0xA6E7}, 2000);
      if (supervisor_talks) send(pl_, *l_, codecs_.l, {k_ == 0, 0, seq, ts, 0x50BE}, 3000);
      std::this_thread::sleep_until(start + (f + 1) * 20ms);  // a phone's pacing, not a wait for a result
    }
  }
  void send(const UdpPeer& phone, const MediaSession& to, Codec codec, RtpHeader h, double hz) {
    h.payload_type = static_cast<std::uint8_t>(codec);
    phone.send_rtp(to.local_port(), h, tone_frame(codec, hz, k_));
  }
  // Waits until the listener has sent a packet carrying audio, i.e. the mix is flowing.
  bool listener_hears_something() {
    return at_l_.wait([&](const std::vector<Rx>& v) {
      return std::any_of(v.begin(), v.end(), [&](const Rx& r) { return !is_silence(r, codecs_.l); });
    });
  }
  // A round trip to the loop (so everything posted before has run); returns how
  // many packets L's session had sent by then.
  std::uint64_t barrier() { return stats(*l_).packets_sent; }
  // L's packets from number `sent` on (at least `at_least` of them).
  std::vector<Rx> listener_packets_since(std::uint64_t sent, std::size_t at_least) {
    EXPECT_TRUE(at_l_.wait([&](const std::vector<Rx>& v) { return v.size() >= sent + at_least; }));
    auto all = at_l_.snapshot();
    std::vector<Rx> after;
    for (const Rx& r : all)
      if (static_cast<std::uint16_t>(r.p.header.sequence - all[0].p.header.sequence) >= sent)
        after.push_back(r);
    return after;
  }

  Codecs codecs_;
  MediaEngine engine_;
  UdpPeer pa_, pb_, pl_;
  Collector at_a_{pa_}, at_b_{pb_}, at_l_{pl_};
  std::shared_ptr<MediaSession> a_, b_, l_;
  std::uint32_t k_ = 0;
};

class ListenCodecs : public ::testing::TestWithParam<Codecs> {};

TEST_P(ListenCodecs, SupervisorHearsBothSidesAndIsHeardByNobody) {
  Call call(GetParam());
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  (void)stats(*call.l_);  // barrier: listening
  const int frames = 100;
  call.talk(frames, /*supervisor_talks=*/true);

  // Every packet accounted for: each leg relayed exactly the other phone's
  // packets, and the supervisor's were all dropped.
  EXPECT_TRUE(wait_for([&] {
    return stats(*call.a_).packets_relayed == frames && stats(*call.b_).packets_relayed == frames &&
           stats(*call.l_).dropped_listening == frames;
  }));
  EXPECT_EQ(stats(*call.l_).packets_relayed, 0u);

  // The mix holds both tones, not the supervisor's. Judged frame by frame
  // over every frame that carries audio, once the mix has played out: on a
  // loaded machine the phones' packets come late and bunched, the jitter
  // buffer then plays silence while it refills or drops what piled up, and
  // a window by arrival time (or one transform over the whole stream, whose
  // phase jumps at each such gap) would judge the scheduler, not the mix.
  const auto mix = played_mix(call.at_l_, GetParam().l);
  ASSERT_GE(mix.size(), 160u * 25) << "at least half a second of the two seconds talked is heard";
  const double p1 = mean_frame_power(mix, 1000), p2 = mean_frame_power(mix, 2000);
  const double p3 = mean_frame_power(mix, 3000), floor = mean_frame_power(mix, 1500);
  EXPECT_GT(p1, kAmp * kAmp / 4 * 0.25);
  EXPECT_GT(p2, kAmp * kAmp / 4 * 0.25);
  EXPECT_LT(p3, p1 / 100);
  EXPECT_LT(floor, p1 / 100);

  // The bridge is unaffected: A hears B's tone (and not the supervisor), B hears A's,
  // on consecutive sequence numbers.
  auto relayed_all = [&](const std::vector<Rx>& v) {
    return std::count_if(v.begin(), v.end(), [](const Rx& r) {
             return !is_silence(r, Codec::pcmu) && !is_silence(r, Codec::pcma);
           }) >= frames;
  };
  ASSERT_TRUE(call.at_a_.wait(relayed_all));
  ASSERT_TRUE(call.at_b_.wait(relayed_all));
  const auto at_a = call.at_a_.snapshot(), at_b = call.at_b_.snapshot();
  EXPECT_TRUE(consecutive(at_a));
  EXPECT_TRUE(consecutive(at_b));
  EXPECT_TRUE(consecutive(call.at_l_.snapshot()));
  // Judged over the relayed frames (not by arrival time, which judges the scheduler).
  const auto heard_a = audible_frames(at_a, GetParam().a);
  const auto heard_b = audible_frames(at_b, GetParam().b);
  ASSERT_GE(heard_a.size(), 160u * frames);
  ASSERT_GE(heard_b.size(), 160u * frames);
  const double a2 = mean_frame_power(heard_a, 2000), b1 = mean_frame_power(heard_b, 1000);
  EXPECT_GT(a2, kAmp * kAmp / 4 * 0.5);
  EXPECT_LT(mean_frame_power(heard_a, 3000), a2 / 100);
  EXPECT_LT(mean_frame_power(heard_a, 1000), a2 / 100);
  EXPECT_GT(b1, kAmp * kAmp / 4 * 0.5);
  EXPECT_LT(mean_frame_power(heard_b, 3000), b1 / 100);
}

INSTANTIATE_TEST_SUITE_P(Laws, ListenCodecs,
                         ::testing::Values(Codecs{Codec::pcmu, Codec::pcmu, Codec::pcmu},
                                           Codecs{Codec::pcma, Codec::pcma, Codec::pcmu},
                                           Codecs{Codec::pcmu, Codec::pcma, Codec::pcma}),
                         [](const auto& info) {
                           auto n = [](Codec c) {
                             return c == Codec::pcmu ? std::string("U") : std::string("A");
                           };
                           return "a" + n(info.param.a) + "_b" + n(info.param.b) + "_l" + n(info.param.l);
                         });

TEST(Listen, UnlistenReturnsTheListenerToSilence) {
  Call call({Codec::pcmu, Codec::pcmu, Codec::pcmu});
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  call.talk(20);
  ASSERT_TRUE(call.listener_hears_something());
  call.engine_.unlisten(*call.l_);
  const std::uint64_t since = call.barrier();
  call.talk(30, /*supervisor_talks=*/true);  // both sides keep talking: L must not hear them
  const auto after = call.listener_packets_since(since, 20);
  ASSERT_GE(after.size(), 20u);
  for (const Rx& r : after) EXPECT_TRUE(is_silence(r, Codec::pcmu)) << "seq " << r.p.header.sequence;
  // The call goes on; the supervisor is no longer listening, so nothing is counted as dropped by it.
  // Counted from the start (B's phone sent one packet per frame, k_ in all),
  // not from a sample taken after talk(20): under load a packet of talk(20)
  // can still be on its way through loopback when a sample is taken.
  EXPECT_TRUE(wait_for([&] { return stats(*call.b_).packets_relayed == call.k_; }));
  EXPECT_EQ(stats(*call.l_).dropped_listening, 0u);
  EXPECT_TRUE(consecutive(call.at_l_.snapshot()));
}

TEST(Listen, ClosingALegSilencesTheListener) {
  Call call({Codec::pcma, Codec::pcma, Codec::pcma});
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  call.talk(20);
  ASSERT_TRUE(call.listener_hears_something());
  call.a_->close();
  const std::uint64_t since = call.barrier();
  call.talk(30, false, /*a_talks=*/false);  // B keeps talking into a call whose other leg is gone
  const auto after = call.listener_packets_since(since, 20);
  ASSERT_GE(after.size(), 20u);
  for (const Rx& r : after) EXPECT_TRUE(is_silence(r, Codec::pcma)) << "seq " << r.p.header.sequence;
  // The remaining sessions still work and close cleanly. Waited for: B's last
  // packets can still be on their way through loopback when L's are counted.
  EXPECT_TRUE(wait_for([&] { return stats(*call.b_).packets_received >= call.k_; }))
      << "B's session received " << stats(*call.b_).packets_received << " of " << call.k_;
  call.engine_.unlisten(*call.l_);  // no-op now
  call.b_->close();
  call.l_->close();
  EXPECT_EQ(stats(*call.l_).dropped_listening, 0u);
}

TEST(Listen, ClosingTheListenerLeavesTheCallAlone) {
  Call call({Codec::pcmu, Codec::pcma, Codec::pcmu});
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  call.talk(20);
  ASSERT_TRUE(call.listener_hears_something());
  call.l_->close();
  call.talk(20);
  // Every packet both phones sent (k_ each, from the start) was relayed.
  EXPECT_TRUE(wait_for([&] {
    return stats(*call.a_).packets_relayed == call.k_ && stats(*call.b_).packets_relayed == call.k_;
  }));
  EXPECT_TRUE(consecutive(call.at_a_.snapshot()));
  EXPECT_TRUE(consecutive(call.at_b_.snapshot()));
  call.a_->close();
  call.b_->close();
}

TEST(Listen, PlayingOnTheListenerEndsTheListen) {
  Call call({Codec::pcmu, Codec::pcmu, Codec::pcmu});
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  call.talk(20);
  ASSERT_TRUE(call.listener_hears_something());
  call.l_->silence();
  const std::uint64_t since = call.barrier();
  call.talk(20, /*supervisor_talks=*/true);
  const auto after = call.listener_packets_since(since, 10);
  ASSERT_GE(after.size(), 10u);
  for (const Rx& r : after) EXPECT_TRUE(is_silence(r, Codec::pcmu));
  EXPECT_EQ(stats(*call.l_).dropped_listening, 0u);
}

TEST(Listen, ReplacesWhatTheListenerWasPlaying) {
  Call call({Codec::pcmu, Codec::pcmu, Codec::pcma});
  call.l_->play_tone({600, 0, -6, {}, 0}, 1);  // continuous 600 Hz
  ASSERT_TRUE(call.listener_hears_something());
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  const std::uint64_t since = call.barrier();
  call.talk(40);
  const auto after = call.listener_packets_since(since, 30);
  const auto mix = audible_frames(after, Codec::pcma);  // frame by frame: see SupervisorHearsBothSides…
  ASSERT_GE(mix.size(), 160u * 15);
  EXPECT_GT(mean_frame_power(mix, 1000), 100 * mean_frame_power(mix, 600));
  EXPECT_GT(mean_frame_power(mix, 2000), 100 * mean_frame_power(mix, 600));
}

TEST(Listen, TwoSupervisorsOnOneCall) {
  Call call({Codec::pcmu, Codec::pcmu, Codec::pcmu});
  UdpPeer p2;
  Collector at_2(p2);
  auto l2 = call.open(p2, Codec::pcma, call.a_.get());
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  ASSERT_TRUE(call.engine_.listen(*l2, *call.a_, *call.b_));
  call.engine_.unlisten(*call.l_);  // the first one leaves; the second keeps listening
  (void)stats(*l2);
  call.talk(50);
  const auto mix = played_mix(at_2, Codec::pcma);
  ASSERT_GE(mix.size(), 160u * 12);
  EXPECT_GT(mean_frame_power(mix, 1000), kAmp * kAmp / 4 * 0.25);
  EXPECT_GT(mean_frame_power(mix, 2000), kAmp * kAmp / 4 * 0.25);
}

TEST(Listen, RejectsBadSessionsAndChangesNothing) {
  Call call({Codec::pcmu, Codec::pcmu, Codec::pcmu}, /*loops=*/2);
  UdpPeer elsewhere_phone;
  auto elsewhere = call.open(elsewhere_phone, Codec::pcmu, nullptr);  // round-robin: the other loop
  ASSERT_NE(elsewhere->loop_index(), call.a_->loop_index());
  auto bad = [](const common::Status& s) { return !s && s.error().field == "session"; };
  EXPECT_TRUE(bad(call.engine_.listen(*call.l_, *call.a_, *call.a_)));
  EXPECT_TRUE(bad(call.engine_.listen(*call.a_, *call.a_, *call.b_)));
  EXPECT_TRUE(bad(call.engine_.listen(*call.l_, *call.a_, *call.l_)));
  EXPECT_TRUE(bad(call.engine_.listen(*elsewhere, *call.a_, *call.b_)));
  EXPECT_TRUE(bad(call.engine_.listen(*call.l_, *call.a_, *elsewhere)));
  // Nothing started: L's own packet is received normally, not dropped as a listener's.
  const std::uint64_t since = call.barrier();
  call.talk(5, /*supervisor_talks=*/true);
  EXPECT_TRUE(wait_for([&] { return stats(*call.l_).packets_received == 5; }));
  EXPECT_EQ(stats(*call.l_).dropped_listening, 0u);
  const auto after = call.listener_packets_since(since, 5);
  for (const Rx& r : after) EXPECT_TRUE(is_silence(r, Codec::pcmu));
}

// Reads a WAV as interleaved samples.
std::vector<std::int16_t> read_wav(const std::string& path, int& channels) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return {};
  std::vector<std::int16_t> v(static_cast<std::size_t>(info.frames * info.channels));
  sf_read_short(f, v.data(), static_cast<sf_count_t>(v.size()));
  sf_close(f);
  channels = info.channels;
  return v;
}

// A recorded call a supervisor listens to: one decode of each leg feeds both.
TEST(Listen, CoexistsWithRecording) {
  const auto dir = std::filesystem::temp_directory_path() / ("hotline_listen_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Kek kek;
  kek.id = "k1";
  kek.key.fill(0x42);
  Call call({Codec::pcma, Codec::pcmu, Codec::pcmu});
  ASSERT_TRUE(call.engine_.bridge(*call.a_, *call.b_));
  auto rec = call.engine_.start_recording(*call.a_, *call.b_, {(dir / "c.hrec").string(), kek});
  ASSERT_TRUE(rec) << rec.error().message;
  ASSERT_TRUE(call.engine_.listen(*call.l_, *call.a_, *call.b_));
  (void)stats(*call.l_);
  call.talk(75);
  ASSERT_TRUE((*rec)->stop().get());

  const auto mix = played_mix(call.at_l_, Codec::pcmu);
  ASSERT_GE(mix.size(), 160u * 18);
  EXPECT_GT(mean_frame_power(mix, 1000), kAmp * kAmp / 4 * 0.25);
  EXPECT_GT(mean_frame_power(mix, 2000), kAmp * kAmp / 4 * 0.25);

  std::vector<Kek> keks = {kek};
  auto info = decrypt_recording((dir / "c.hrec").string(), (dir / "c.wav").string(), keks);
  ASSERT_TRUE(info) << info.error().message;
  int channels = 0;
  const auto wav = read_wav((dir / "c.wav").string(), channels);
  ASSERT_EQ(channels, 2);
  std::vector<double> left, right;
  for (std::size_t i = 8000 / 2 * 2; i + 1 < wav.size(); i += 2) {  // skip the first 0.5 s
    left.push_back(wav[i]);
    right.push_back(wav[i + 1]);
  }
  ASSERT_GE(left.size(), 4000u);
  EXPECT_GT(tone_power(left, 1000), 100 * tone_power(left, 2000));  // caller on the left
  EXPECT_GT(tone_power(right, 2000), 100 * tone_power(right, 1000));
  std::filesystem::remove_all(dir);
}

// ---- the mix buffer ------------------------------------------------------------

std::vector<std::int16_t> pull(ListenMix& m, std::size_t n) {
  std::vector<std::int16_t> out(n, 1234);
  m.pull(out.data(), n);
  return out;
}

TEST(ListenMixBuffer, WaitsForThePrefillThenPlays) {
  ListenMix m(320);
  const std::vector<std::int16_t> ones(160, 1);
  m.push(0, ones.data(), 160);
  EXPECT_EQ(pull(m, 160), std::vector<std::int16_t>(160, 0));  // cushion not full yet
  m.push(0, ones.data(), 160);
  EXPECT_EQ(pull(m, 160), std::vector<std::int16_t>(160, 1));
  EXPECT_EQ(m.queued(0), 160u);
}

TEST(ListenMixBuffer, SumsSidesWithSaturation) {
  ListenMix m(160);
  const std::vector<std::int16_t> hi(160, 30000), lo(160, -30000), small(160, 5);
  m.push(0, hi.data(), 160);
  m.push(1, hi.data(), 160);
  EXPECT_EQ(pull(m, 160), std::vector<std::int16_t>(160, 32767));
  m.push(0, lo.data(), 160);
  m.push(1, lo.data(), 160);
  EXPECT_EQ(pull(m, 160), std::vector<std::int16_t>(160, -32768));
  m.push(0, hi.data(), 160);
  m.push(1, small.data(), 160);
  EXPECT_EQ(pull(m, 160), std::vector<std::int16_t>(160, 30005));
}

TEST(ListenMixBuffer, UnderrunPlaysWhatIsLeftThenPrefillsAgain) {
  ListenMix m(160);
  std::vector<std::int16_t> ramp(240);
  for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = static_cast<std::int16_t>(i + 1);
  m.push(1, ramp.data(), 240);
  EXPECT_EQ(pull(m, 160)[159], 160);
  const auto second = pull(m, 160);  // 80 left: those, then silence
  EXPECT_EQ(second[79], 240);
  EXPECT_EQ(second[80], 0);
  EXPECT_EQ(m.underruns(), 1u);
  m.push(1, ramp.data(), 100);  // below the prefill: still silent
  EXPECT_EQ(pull(m, 160)[0], 0);
  m.push(1, ramp.data(), 100);
  EXPECT_EQ(pull(m, 160)[0], 1);
}

TEST(ListenMixBuffer, BoundsLatencyByDroppingTheOldest) {
  ListenMix m(160, 320);
  std::vector<std::int16_t> frame(160);
  for (std::int16_t k = 1; k <= 4; ++k) {  // 640 queued > 160 + 320: keep the newest 160
    std::fill(frame.begin(), frame.end(), k);
    m.push(0, frame.data(), 160);
  }
  EXPECT_EQ(m.queued(0), 160u);
  EXPECT_EQ(m.dropped(), 480u);
  EXPECT_EQ(pull(m, 160), std::vector<std::int16_t>(160, 4));
}

TEST(ListenMixBuffer, TakesAnyPacketSizeAndIgnoresBadSides) {
  ListenMix m(480);
  const std::vector<std::int16_t> big(2000, 7);  // longer than one push may be: the tail is kept
  m.push(0, big.data(), big.size());
  EXPECT_EQ(m.queued(0), ListenMix::kMaxPush);
  m.push(2, big.data(), 10);
  m.push(-1, big.data(), 10);
  EXPECT_EQ(m.queued(1), 0u);
  EXPECT_EQ(pull(m, 3000).back(), 0);  // longer than the accumulator: done in pieces
  EXPECT_EQ(m.queued(0), 0u);
}

}  // namespace
}  // namespace hotline::media
