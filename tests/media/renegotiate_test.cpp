// Re-negotiation of live sessions (MediaEngine::update: codec, payload types,
// ptime, remote address) and in-band DTMF generation for peers without
// telephone-event, all over real UDP sockets on loopback.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "media/media.h"
#include "test_ports.h"
#include "udp_peer.h"

namespace hotline::media {
namespace {

using testing::Datagram;
using testing::UdpPeer;
using testing::wait_for;
using namespace std::chrono_literals;

EngineConfig test_config() {
  EngineConfig c;
  c.loops = 1;
  hotline::media::testing::use_test_ports(c);
  c.bind_address = "127.0.0.1";
  c.rtcp_interval = std::chrono::hours(1);  // only RTP on the phones' sockets
  return c;
}

SessionParams to_port(std::uint16_t port, Codec codec = Codec::pcmu) {
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = port;
  p.codec = codec;
  p.payload_type = static_cast<std::uint8_t>(codec);
  return p;
}

struct Rtp {
  RtpPacket pkt;
  std::vector<std::uint8_t> payload;
};

std::optional<Rtp> next_rtp(const UdpPeer& peer, int timeout_ms = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    auto d = peer.recv(50);
    if (!d || looks_like_rtcp(d->data)) continue;
    Rtp r;
    if (parse_rtp(d->data, r.pkt) != ParseStatus::ok) continue;
    r.payload.assign(
        d->data.begin() + static_cast<std::ptrdiff_t>(r.pkt.payload_offset),
        d->data.begin() + static_cast<std::ptrdiff_t>(r.pkt.payload_offset + r.pkt.payload_size));
    return r;
  }
  return std::nullopt;
}

// The last RTP packet that reaches `peer` before it has been quiet for
// 300 ms (nullopt if none). Not only what is queued already: under load the
// kernel may hand a loopback datagram to the receiver later (softirq work
// deferred to ksoftirqd on another CPU), so a packet sent to the old address
// just before the update can land after the first one at the new address.
std::optional<Rtp> last_arriving(const UdpPeer& peer) {
  std::optional<Rtp> last;
  while (auto r = next_rtp(peer, 300)) last = std::move(r);
  return last;
}

bool all_bytes(const std::vector<std::uint8_t>& v, std::uint8_t b) {
  return !v.empty() && std::all_of(v.begin(), v.end(), [b](std::uint8_t x) { return x == b; });
}

TEST(Update, SwitchesCodecPtimeAndAddressOfALiveSession) {
  MediaEngine engine(test_config());
  UdpPeer before, after;
  SessionParams p = to_port(before.port());
  auto s = engine.create_session(p, {});
  ASSERT_TRUE(s) << s.error().message;
  const std::uint16_t port = (*s)->local_port();
  auto first = next_rtp(before);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->pkt.header.payload_type, 0);
  EXPECT_TRUE(all_bytes(first->payload, 0xff));  // μ-law silence, 20 ms
  EXPECT_EQ(first->payload.size(), 160u);
  before.send_rtp(port, {false, 0, 1, 160, 0xB0}, std::vector<std::uint8_t>(160, 0xff));
  ASSERT_TRUE(wait_for([&] { return (*s)->stats().get().packets_received == 1; }));

  // re-INVITE: the peer moved and now wants PCMA at 30 ms.
  SessionParams q = to_port(after.port(), Codec::pcma);
  q.ptime_ms = 30;
  ASSERT_TRUE(engine.update(**s, q));
  auto moved = next_rtp(after);
  ASSERT_TRUE(moved);
  // The last packet sent to the old address (the first one, if the update was that quick).
  auto old_last = last_arriving(before);
  if (!old_last) old_last = first;
  EXPECT_EQ(moved->pkt.header.payload_type, 8);
  EXPECT_TRUE(all_bytes(moved->payload, 0xd5));  // A-law silence
  EXPECT_EQ(moved->payload.size(), 240u);
  EXPECT_EQ(moved->pkt.header.ssrc, first->pkt.header.ssrc);  // one stream for the session's life
  EXPECT_EQ(static_cast<std::uint16_t>(moved->pkt.header.sequence - old_last->pkt.header.sequence), 1);
  EXPECT_TRUE(moved->pkt.header.marker);  // new pacing grid: a new segment
  auto next = next_rtp(after);
  ASSERT_TRUE(next);
  // One 30 ms frame later (whole frames later if the loop stalled and skipped ticks).
  const std::uint32_t dts = next->pkt.header.timestamp - moved->pkt.header.timestamp;
  EXPECT_TRUE(dts >= 240u && dts % 240u == 0) << dts;
  EXPECT_FALSE(next_rtp(before, 100));  // nothing goes to the old address any more

  // Only the new payload type is accepted now.
  const auto base = (*s)->stats().get();
  after.send_rtp(port, {false, 8, 10, 1600, 0xA0}, std::vector<std::uint8_t>(240, 0xd5));
  ASSERT_TRUE(wait_for([&] { return (*s)->stats().get().packets_received == base.packets_received + 1; }));
  after.send_rtp(port, {false, 0, 11, 1840, 0xA0}, std::vector<std::uint8_t>(240, 0xff));
  ASSERT_TRUE(wait_for([&] { return (*s)->stats().get().dropped_invalid == base.dropped_invalid + 1; }));
  auto st = (*s)->stats().get();
  EXPECT_TRUE(st.latched);
  EXPECT_EQ(st.remote, "127.0.0.1:" + std::to_string(after.port()));

  // A re-INVITE that repeats the address keeps the latch (a NATed phone stays reachable).
  q.telephone_event_pt = 96;
  ASSERT_TRUE(engine.update(**s, q));
  EXPECT_TRUE((*s)->stats().get().latched);
}

TEST(Update, RejectsBadPayloadTypesAndChangesNothing) {
  MediaEngine engine(test_config());
  UdpPeer phone;
  auto s = engine.create_session(to_port(phone.port()), {});
  ASSERT_TRUE(s);
  SessionParams bad = to_port(phone.port(), Codec::pcma);
  bad.payload_type = 200;
  auto r = engine.update(**s, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "payload_type");
  bad.payload_type = 8;
  bad.telephone_event_pt = 8;
  r = engine.update(**s, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "telephone_event_pt");
  bad.telephone_event_pt = 128;
  EXPECT_FALSE(engine.update(**s, bad));
  (void)(*s)->stats().get();  // loop barrier: anything posted has run
  phone.drain();
  auto pk = next_rtp(phone);
  ASSERT_TRUE(pk);
  EXPECT_EQ(pk->pkt.header.payload_type, 0);
  EXPECT_TRUE(all_bytes(pk->payload, 0xff));
}

// A bridge follows a codec change of one leg: same law first (pure relay),
// then transcoded both ways once that leg switched to PCMA.
TEST(Update, BridgeTranscodesAfterOneLegChangesCodec) {
  MediaEngine engine(test_config());
  UdpPeer pa, pb;
  auto a = engine.create_session(to_port(pa.port()), {});
  auto b = engine.create_session(to_port(pb.port()), {}, a->get());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(engine.bridge(**a, **b));
  (void)(*a)->stats().get();
  const std::uint8_t voice = 0x2a;  // a non-silent μ-law code
  // Relayed packets are recognised by their payload (the legs' own silence is 0xff/0xd5).
  auto relayed_to = [](const UdpPeer& peer, std::uint8_t expect_pt) -> std::optional<Rtp> {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = next_rtp(peer, 100);
      if (r && r->pkt.header.payload_type == expect_pt && !all_bytes(r->payload, 0xff) &&
          !all_bytes(r->payload, 0xd5))
        return r;
    }
    return std::nullopt;
  };
  std::uint16_t seq = 0;
  auto send_a = [&] {
    pa.send_rtp((*a)->local_port(), {false, 0, seq, 160u * seq, 0xAA}, std::vector<std::uint8_t>(160, voice));
    ++seq;
  };
  send_a();
  auto same = relayed_to(pb, 0);
  ASSERT_TRUE(same);
  EXPECT_TRUE(all_bytes(same->payload, voice));

  ASSERT_TRUE(engine.update(**b, to_port(pb.port(), Codec::pcma)));
  (void)(*b)->stats().get();
  send_a();
  auto trans = relayed_to(pb, 8);
  ASSERT_TRUE(trans);
  EXPECT_TRUE(all_bytes(trans->payload, linear_to_alaw(ulaw_to_linear(voice))));
  const std::uint8_t alaw_voice = 0x3c;
  pb.send_rtp((*b)->local_port(), {false, 8, 1, 160, 0xBB}, std::vector<std::uint8_t>(160, alaw_voice));
  auto back = relayed_to(pa, 0);
  ASSERT_TRUE(back);
  EXPECT_TRUE(all_bytes(back->payload, linear_to_ulaw(alaw_to_linear(alaw_voice))));
}

struct Digits {
  std::mutex mu;
  std::string got;
  std::vector<DtmfSource> sources;
  SessionEvents events() {
    SessionEvents e;
    e.on_dtmf = [this](const DtmfDigit& d) {
      std::lock_guard l(mu);
      got += d.digit;
      sources.push_back(d.source);
    };
    return e;
  }
  std::string digits() {
    std::lock_guard l(mu);
    return got;
  }
};

// Without telephone-event the digits go in-band; another session's Goertzel
// detector (what a carrier or phone does) decodes them, repeated digits too.
void inband_round_trip(Codec codec, int duration_ms) {
  MediaEngine engine(test_config());
  Digits heard;
  // Two sessions talking to each other: the sender and a listening "phone".
  // The sender needs some remote before the receiver (and its port) exists:
  // a plain socket, replaced by update() below.
  UdpPeer first_remote;
  SessionParams sp = to_port(first_remote.port(), codec);
  sp.telephone_event_pt = -1;
  auto sender = engine.create_session(sp, {});
  ASSERT_TRUE(sender);
  SessionParams rp = to_port((*sender)->local_port(), codec);
  rp.telephone_event_pt = -1;
  auto receiver = engine.create_session(rp, heard.events());
  ASSERT_TRUE(receiver);
  sp.remote_port = (*receiver)->local_port();
  ASSERT_TRUE(engine.update(**sender, sp));
  const std::string digits = "1179#*0D";
  (*sender)->send_dtmf(digits, duration_ms);
  EXPECT_TRUE(wait_for([&] { return heard.digits().size() >= digits.size(); }));
  EXPECT_EQ(heard.digits(), digits);
  std::lock_guard l(heard.mu);
  for (DtmfSource src : heard.sources) EXPECT_EQ(src, DtmfSource::inband);
  EXPECT_EQ((*receiver)->stats().get().dropped_invalid, 0u);  // no telephone-event packets were sent
}

TEST(InbandDtmfSend, PcmuDigitsAreDetected) { inband_round_trip(Codec::pcmu, 100); }
TEST(InbandDtmfSend, PcmaShortestDigitsAreDetected) { inband_round_trip(Codec::pcma, 40); }

// When the re-INVITE drops telephone-event, digits switch to in-band; a
// bridged leg's relay pauses for them and resumes afterwards.
TEST(InbandDtmfSend, BridgedLegAfterTelephoneEventWasDropped) {
  MediaEngine engine(test_config());
  UdpPeer phone, other;
  auto a = engine.create_session(to_port(phone.port()), {});
  auto b = engine.create_session(to_port(other.port()), {}, a->get());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(engine.bridge(**a, **b));
  SessionParams no_te = to_port(phone.port());
  no_te.telephone_event_pt = -1;
  ASSERT_TRUE(engine.update(**a, no_te));
  (void)(*a)->stats().get();
  phone.drain();
  (*a)->send_dtmf("5", 100);
  InbandDtmfDetector detector;
  std::string got;
  std::vector<std::int16_t> pcm;
  int audio_packets = 0;
  // The tone, then its gap (silence), then nothing: a bridged leg's pacer stops.
  while (auto r = next_rtp(phone, 1000)) {
    ASSERT_EQ(r->pkt.header.payload_type, 0) << "telephone-event sent although not negotiated";
    // Silence sent before the digit (and delivered after the drain) is not part of it.
    if (audio_packets == 0 && all_bytes(r->payload, 0xff)) continue;
    ++audio_packets;
    pcm.resize(r->payload.size());
    g711_decode(Codec::pcmu, r->payload.data(), pcm.data(), pcm.size());
    detector.process(pcm.data(), pcm.size(), [&](char c) { got += c; });
  }
  EXPECT_EQ(got, "5");
  // At most 100 ms of tone and 60 ms of silence in 20 ms frames (a stalled
  // loop skips ticks rather than bursting, so there may be fewer).
  EXPECT_LE(audio_packets, 5 + 3);
  EXPECT_EQ((*a)->stats().get().packets_relayed, 0u);
  // Relaying resumes after the digit: the other phone's audio reaches this one.
  std::uint16_t k = 0;
  EXPECT_TRUE(wait_for([&] {
    other.send_rtp((*b)->local_port(), {false, 0, k, 160u * k, 0xCC}, std::vector<std::uint8_t>(160, 0x2a));
    ++k;
    return (*a)->stats().get().packets_relayed > 0;
  }));
  auto relayed = next_rtp(phone);
  ASSERT_TRUE(relayed);
  EXPECT_TRUE(all_bytes(relayed->payload, 0x2a));
}

}  // namespace
}  // namespace hotline::media
