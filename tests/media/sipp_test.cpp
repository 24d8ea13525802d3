// Integration with SIPp, a real SIP/RTP peer (Debian package sip-tester).
//
// 1. `sipp -rtp_echo`: a session plays generated speech to SIPp's echo port;
//    the echo comes back to the session, which records it (encrypted); the
//    decrypted WAV is cross-correlated with the speech that was sent.
// 2. pcap play: a SIPp UAC calls a SIPp UAS running tests/media/sipp/uas_answer.xml
//    (a test-only responder whose SDP points at our session) and plays SIPp's
//    shipped G.711 A-law and RFC 2833 captures to the session.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <string>
#include <vector>

#include "media/media.h"
#include "pcap_reader.h"
#include "process.h"
#include "rtp_collector.h"
#include "test_ports.h"
#include "udp_peer.h"

namespace hotline::media {
namespace {

using namespace std::chrono_literals;
using testing::Process;
using testing::wait_for;
namespace fs = std::filesystem;

// Free UDP ports for SIPp: bind, read the port, release.
std::uint16_t free_port(int need_plus = 0) {
  for (int i = 0; i < 100; ++i) {
    testing::UdpPeer p;
    const std::uint16_t port = p.port();
    if (port % 2 != 0 || port > 65000) continue;
    bool ok = true;
    std::vector<std::unique_ptr<testing::UdpPeer>> extra;
    for (int k = 1; k <= need_plus && ok; ++k) {
      try {
        extra.push_back(std::make_unique<testing::UdpPeer>(static_cast<std::uint16_t>(port + k)));
      } catch (...) {
        ok = false;
      }
    }
    if (ok) return port;
  }
  return 0;
}

Kek kek() {
  Kek k;
  k.id = "test";
  k.key.fill(0x5a);
  return k;
}

EngineConfig config() {
  EngineConfig c;
  c.loops = 1;
  hotline::media::testing::use_test_ports(c);
  c.bind_address = "127.0.0.1";
  return c;
}

TEST(Sipp, RtpEchoRoundTripIsRecordedFaithfully) {
  const fs::path dir = fs::temp_directory_path() / ("hotline-sipp-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::uint16_t echo_port = free_port(3);
  const std::uint16_t sip_port = free_port();
  ASSERT_NE(echo_port, 0);
  Process sipp({"sipp", "-sn", "uas", "-rtp_echo", "-mp", std::to_string(echo_port), "-i", "127.0.0.1", "-p",
                std::to_string(sip_port), "-nostdin"},
               (dir / "sipp_echo.log").string());
  ASSERT_TRUE(sipp.started());

  PromptLibrary prompts(std::string(HOTLINE_BINARY_DIR) + "/prompts");
  auto speech = prompts.get("en", "welcome");
  ASSERT_TRUE(speech);
  MediaEngine engine(config());
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = echo_port;
  p.codec = Codec::pcmu;
  p.payload_type = 0;
  std::atomic<int> done{0};
  SessionEvents ev;
  ev.on_playback_done = [&](std::uint64_t) { ++done; };
  auto caller = engine.create_session(p, ev);
  ASSERT_TRUE(caller);
  SessionParams q = p;
  q.remote_address.clear();
  q.remote_port = 0;
  auto agent = engine.create_session(q, {}, caller->get());  // silent second leg
  ASSERT_TRUE(agent);
  // SIPp needs a moment to open its echo socket: wait until echoes come back.
  ASSERT_TRUE(wait_for([&] { return (*caller)->stats().get().packets_received > 5; }, 10s))
      << "no echo from sipp";
  auto rec =
      engine.start_recording(**caller, **agent, {(dir / "echo.hrec").string(), kek(), Cipher::aes_256_gcm});
  ASSERT_TRUE(rec);
  (void)(*caller)->stats().get();
  (*caller)->play({*speech}, false, 1);
  ASSERT_TRUE(wait_for([&] { return done.load() == 1; }, 30s));
  // Everything sent up to the end of the prompt must come back (silence keeps flowing after it).
  const auto sent = (*caller)->stats().get().packets_sent;
  ASSERT_TRUE(wait_for([&] { return (*caller)->stats().get().packets_received >= sent; }, 10s));
  ASSERT_TRUE((*rec)->stop().get());
  auto st = (*caller)->stats().get();
  EXPECT_EQ(st.lost, 0);
  EXPECT_LT(st.jitter_ms, 20.0);
  EXPECT_GT(st.packets_sent, (*speech)->samples.size() / 160);

  std::vector<Kek> keks = {kek()};
  auto info = decrypt_recording((dir / "echo.hrec").string(), (dir / "echo.wav").string(), keks);
  ASSERT_TRUE(info) << info.error().message;
  SF_INFO si{};
  SNDFILE* f = sf_open((dir / "echo.wav").c_str(), SFM_READ, &si);
  ASSERT_TRUE(f);
  std::vector<std::int16_t> wav(static_cast<std::size_t>(si.frames * si.channels));
  sf_readf_short(f, wav.data(), si.frames);
  sf_close(f);
  const std::size_t n = wav.size() / 2;
  const auto& s = (*speech)->samples;
  std::vector<double> ref(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) ref[i] = ulaw_to_linear(linear_to_ulaw(s[i]));
  const double ref_e = std::inner_product(ref.begin(), ref.end(), ref.begin(), 0.0);
  double best = 0;
  for (std::size_t lag = 0; lag + ref.size() <= n; lag += 1) {
    double xy = 0, yy = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      const double l = wav[2 * (i + lag)];
      xy += ref[i] * l;
      yy += l * l;
    }
    if (yy > 0) best = std::max(best, xy / std::sqrt(ref_e * yy));
    if (best > 0.99) break;
  }
  EXPECT_GT(best, 0.95);
  sipp.stop();
  fs::remove_all(dir);
}

// The digits a session reported (on its loop thread).
struct DigitLog {
  std::mutex mu;
  std::string digits;
  SessionEvents events() {
    SessionEvents ev;
    ev.on_dtmf = [this](const DtmfDigit& d) {
      std::lock_guard l(mu);
      digits += d.digit;
    };
    return ev;
  }
  std::string get() {
    std::lock_guard l(mu);
    return digits;
  }
};

// Our leg as the SDP in uas_answer.xml negotiates it.
SessionParams pcap_call_params() {
  SessionParams p;
  p.codec = Codec::pcma;
  p.payload_type = 8;
  p.telephone_event_pt = 101;
  return p;
}

// One SIPp call whose UAC plays g711a.pcap then dtmf_2833_1.pcap to our
// session at `target_port` (uas_answer.xml answers with it); logs in `dir`.
void play_pcap_call(const fs::path& dir, std::uint16_t target_port) {
  const std::string scen = std::string(HOTLINE_SOURCE_DIR) + "/tests/media/sipp/";
  const std::uint16_t uas_port = free_port();
  const std::uint16_t uac_port = free_port();
  const std::uint16_t uac_media = free_port(3);
  Process uas({"sipp", "-sf", scen + "uas_answer.xml", "-i", "127.0.0.1", "-p", std::to_string(uas_port),
               "-m", "1", "-key", "media_target_port", std::to_string(target_port), "-nostdin"},
              (dir / "uas.log").string());
  ASSERT_TRUE(uas.started());
  ::usleep(300000);  // let the UAS bind before the INVITE (the UAC retransmits anyway)
  Process uac(
      {"sipp", "127.0.0.1:" + std::to_string(uas_port), "-sf", scen + "uac_pcap.xml", "-i", "127.0.0.1", "-p",
       std::to_string(uac_port), "-mp", std::to_string(uac_media), "-m", "1", "-nostdin"},
      (dir / "uac.log").string());
  ASSERT_TRUE(uac.started());
  EXPECT_EQ(uac.wait(60s), 0) << "sipp UAC failed; see " << (dir / "uac.log");
  EXPECT_EQ(uas.wait(10s), 0) << "sipp UAS failed; see " << (dir / "uas.log");
}

TEST(Sipp, PcapPlayDeliversG711AndRfc2833ToSession) {
  const fs::path dir = fs::temp_directory_path() / ("hotline-sipp-pcap-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  MediaEngine engine(config());
  DigitLog log;
  const SessionParams p = pcap_call_params();
  auto s = engine.create_session(p, log.events());
  ASSERT_TRUE(s);
  play_pcap_call(dir, (*s)->local_port());
  ASSERT_TRUE(wait_for([&] { return !log.get().empty(); }));
  auto st = (*s)->stats().get();
  // g711a.pcap holds 236 A-law packets; dtmf_2833_1.pcap 10 events (one digit).
  EXPECT_GE(st.packets_received, 236u + 10u);
  EXPECT_TRUE(st.latched);
  EXPECT_EQ(st.dropped_invalid, 0u);
  EXPECT_EQ(log.get(), "1");
  fs::remove_all(dir);
}

// 3. The same pcap play into a bridge that the kernel relays (HL kernel relay on
//    the loopback; needs root): the agent's phone gets every A-law frame of
//    the capture in order under one SSRC, the digit is reported and forwarded
//    as an event, and the kernel carried the audio.
TEST(Sipp, PcapPlayThroughAKernelRelayedBridge) {
  EngineConfig c = config();
  c.kernel_relay_interfaces = {"lo"};
  MediaEngine engine(c);
  if (!engine.kernel_relay_active()) GTEST_SKIP() << "no kernel relay here: " << engine.kernel_relay_error();
  const fs::path dir = fs::temp_directory_path() / ("hotline-sipp-kernel-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  DigitLog log;
  const SessionParams p = pcap_call_params();
  auto s = engine.create_session(p, log.events());
  ASSERT_TRUE(s);
  testing::UdpPeer agent_phone;
  SessionParams q = p;
  q.remote_address = "127.0.0.1";
  q.remote_port = agent_phone.port();
  q.telephone_event_pt = 96;
  auto agent = engine.create_session(q, {}, s->get());
  ASSERT_TRUE(agent);
  testing::Collector at_agent(agent_phone);
  ASSERT_TRUE(engine.bridge(**s, **agent));
  play_pcap_call(dir, (*s)->local_port());
  const auto frames = [](const std::vector<testing::Rx>& v) {
    return std::count_if(v.begin(), v.end(),
                         [](const testing::Rx& r) { return r.p.header.payload_type == 8; });
  };
  ASSERT_TRUE(at_agent.wait([&](auto& v) { return frames(v) >= 236; }, 20s)) << at_agent.size();
  ASSERT_TRUE(wait_for([&] { return !log.get().empty(); }));
  const SessionStats st = (*agent)->stats().get();
  std::vector<testing::Rx> got = at_agent.snapshot();
  // In sequence order (an event relayed by userspace may trail the audio the
  // kernel relays): one SSRC, no gaps, and the capture's frames in order.
  const std::uint16_t first = got.front().p.header.sequence;
  std::stable_sort(got.begin(), got.end(), [first](const testing::Rx& x, const testing::Rx& y) {
    return static_cast<std::uint16_t>(x.p.header.sequence - first) <
           static_cast<std::uint16_t>(y.p.header.sequence - first);
  });
  std::vector<std::vector<std::uint8_t>> heard;
  int events = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].p.header.ssrc, got[0].p.header.ssrc);
    const bool repeated_end = i > 0 && got[i].p.header.payload_type == 96 &&
                              got[i].p.header.sequence == got[i - 1].p.header.sequence;
    if (i > 0 && !repeated_end) {  // the capture repeats its end-of-event packet with one sequence number
      EXPECT_EQ(static_cast<std::uint16_t>(got[i].p.header.sequence - got[i - 1].p.header.sequence), 1) << i;
    }
    if (got[i].p.header.payload_type == 96) ++events;
    if (got[i].p.header.payload_type == 8) heard.emplace_back(got[i].data.begin() + 12, got[i].data.end());
  }
  std::vector<std::vector<std::uint8_t>> sent;
  for (const auto& r : testing::read_pcap_udp("/usr/share/sip-tester/g711a.pcap")) {
    if (r.payload.size() > 12 && (r.payload[1] & 0x7f) == 8)
      sent.emplace_back(r.payload.begin() + 12, r.payload.end());
  }
  ASSERT_EQ(sent.size(), 236u);
  // B's own silence before the call's audio arrived is A-law too: skip it.
  while (heard.size() > sent.size() && heard.front() != sent.front()) heard.erase(heard.begin());
  EXPECT_TRUE(heard == sent) << "heard " << heard.size() << " frames";
  EXPECT_GE(events, 3);
  EXPECT_GE(st.packets_relayed_kernel, 200u);
  EXPECT_EQ(log.get(), "1");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hotline::media
