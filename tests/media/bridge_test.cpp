// Bridging two sessions: relay with SSRC/sequence/timestamp rewriting across
// source switches, PCMU↔PCMA transcoding, DTMF forwarding.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
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

TEST(Bridge, RelaysWithRewrittenHeadersAcrossSourceSwitches) {
  MediaEngine engine(hotline::media::testing::loopback_config(2));
  UdpPeer caller_phone, agent_phone;
  SessionParams pa;
  pa.remote_address = "127.0.0.1";
  pa.remote_port = caller_phone.port();
  pa.codec = Codec::pcmu;
  pa.payload_type = 0;
  pa.telephone_event_pt = 101;
  SessionParams pb = pa;
  pb.remote_port = agent_phone.port();
  pb.codec = Codec::pcma;  // agent side uses A-law: the bridge transcodes
  pb.payload_type = 8;
  pb.telephone_event_pt = 96;
  auto a = engine.create_session(pa, {});
  ASSERT_TRUE(a);
  auto b = engine.create_session(pb, {}, a->get());
  ASSERT_TRUE(b);
  EXPECT_EQ((*a)->loop_index(), (*b)->loop_index());

  Collector col(agent_phone);
  // Phase 1: B sends silence (its own pacer).
  ASSERT_TRUE(col.wait([](auto& v) { return v.size() >= 5; }));
  ASSERT_TRUE(engine.bridge(**a, **b));
  // Wait until the pacer stops: packets now only come from relay.

  // Phase 2: caller phone sends μ-law with its own SSRC/seq/ts; then a new SSRC (source switch).
  std::vector<std::uint8_t> payload(160);
  for (int i = 0; i < 160; ++i) payload[i] = static_cast<std::uint8_t>(i);
  auto send_stream = [&](std::uint32_t ssrc, std::uint16_t seq0, std::uint32_t ts0, int count) {
    for (int i = 0; i < count; ++i) {
      caller_phone.send_rtp((*a)->local_port(),
                            {i == 0, 0, static_cast<std::uint16_t>(seq0 + i), ts0 + 160u * i, ssrc}, payload);
      ::usleep(20000);  // paced like a phone
    }
  };
  // bridge() is posted to the sessions' loop; a stats() round trip on that loop is a barrier.
  (void)(*b)->stats().get();
  send_stream(0xAAAA0001, 65500, 4294967000u, 30);  // wraps both seq and ts
  send_stream(0xBBBB0002, 10, 500, 30);
  // DTMF from the caller is forwarded with the agent's telephone-event PT.
  std::uint8_t ev[4];
  write_telephone_event(ev, {7, false, 10, 160});
  caller_phone.send_rtp((*a)->local_port(), {true, 101, 40, 500 + 160 * 30, 0xBBBB0002}, ev);
  ASSERT_TRUE(col.wait([](auto& v) {
    return std::count_if(v.begin(), v.end(), [](const Rx& r) { return r.p.header.payload_type == 96; }) >= 1;
  }));
  // Phase 3: back to silence from B's own pacer.
  engine.unbridge(**a);
  const std::size_t n_before_unbridge = col.size();
  ASSERT_TRUE(col.wait([&](auto& v) { return v.size() >= n_before_unbridge + 10; }));
  const std::vector<Rx> at_agent = col.snapshot();

  // Every packet B sent: one SSRC, consecutive sequence numbers, timestamps
  // moving forward in step with real time.
  const std::uint32_t ssrc = at_agent[0].p.header.ssrc;
  int relayed_audio = 0, markers = 0;
  const std::uint8_t* u2a = transcode_table(Codec::pcmu, Codec::pcma);
  for (std::size_t i = 0; i < at_agent.size(); ++i) {
    const auto& r = at_agent[i];
    EXPECT_EQ(r.p.header.ssrc, ssrc) << i;
    if (i > 0) {
      const auto& prev = at_agent[i - 1];
      EXPECT_EQ(static_cast<std::uint16_t>(r.p.header.sequence - prev.p.header.sequence), 1) << i;
      const std::int32_t dts = static_cast<std::int32_t>(r.p.header.timestamp - prev.p.header.timestamp);
      const double dt_ms = std::chrono::duration<double, std::milli>(r.at - prev.at).count();
      if (r.p.header.payload_type != 96 && prev.p.header.payload_type != 96) {
        EXPECT_GE(dts, 160) << i;  // never backwards, at least one frame
        // Timestamp gap tracks wall time. The slack is for scheduling (phone,
        // engine and collector threads on a loaded machine); timestamps not
        // rewritten at a switch would be off by seconds.
        EXPECT_LT(std::abs(dts / 8.0 - dt_ms), 250.0)
            << i << " pt " << int(r.p.header.payload_type) << " dts " << dts << " dt " << dt_ms << " n "
            << at_agent.size();
      }
    }
    markers += r.p.header.marker;
    if (r.p.header.payload_type == 8 && r.data[12] == u2a[0] && r.data[13] == u2a[1] &&
        r.data[171] == u2a[159]) {
      ++relayed_audio;
      for (int k = 0; k < 160; ++k) ASSERT_EQ(r.data[12 + k], u2a[k]);
    }
  }
  EXPECT_EQ(relayed_audio, 60);  // both caller streams, transcoded, all in order
  EXPECT_GE(markers, 3);         // start, each source switch, back to silence
  auto sb = (*b)->stats().get();
  EXPECT_EQ(sb.packets_relayed, 61u);
}

}  // namespace
}  // namespace hotline::media

namespace hotline::media {
namespace {

// The OutMode transitions not covered above: playing → bridged, bridged →
// playing (the peer falls back to silence), bridged → closed (the peer falls
// back to silence). Every packet each phone sees keeps one SSRC and
// consecutive sequence numbers.
TEST(Bridge, ModeTransitionsKeepStreamsContinuous) {
  MediaEngine engine(hotline::media::testing::loopback_config());
  UdpPeer pa_phone, pb_phone;
  SessionParams pa;
  pa.remote_address = "127.0.0.1";
  pa.remote_port = pa_phone.port();
  SessionParams pb = pa;
  pb.remote_port = pb_phone.port();
  std::atomic<int> done{0};
  SessionEvents eb;
  eb.on_playback_done = [&](std::uint64_t) { ++done; };
  auto a = engine.create_session(pa, {});
  auto b = engine.create_session(pb, eb, a->get());
  ASSERT_TRUE(a && b);
  Collector at_a(pa_phone), at_b(pb_phone);
  auto clip = std::make_shared<Clip>();
  clip->samples.assign(8000 * 5, 1000);  // 5 s of a constant level (μ-law 0xce-ish, not silence)
  const std::uint8_t clip_byte = linear_to_ulaw(1000);

  // silence → playing (B), then playing → bridged: the clip stops, relay takes over.
  (*b)->play({clip}, false, 1);
  ASSERT_TRUE(at_b.wait([&](auto& v) {
    return std::count_if(v.begin(), v.end(), [&](const Rx& r) { return r.data[12] == clip_byte; }) >= 5;
  }));
  ASSERT_TRUE(engine.bridge(**a, **b));
  (void)(*b)->stats().get();
  // In the bridge nobody talks, so neither session sends; A's phone talks now:
  // The first frame alone: with the kernel relay (media_tests_kernel) frames
  // queued while userspace hands the bridge over could be overtaken.
  std::vector<std::uint8_t> voice(160, 0x11);
  pa_phone.send_rtp((*a)->local_port(), {true, 0, 0, 0, 0xF00D}, voice);
  ASSERT_TRUE(at_b.wait([](auto& v) {
    return std::any_of(v.begin(), v.end(), [](const Rx& r) { return r.data[12] == 0x11; });
  }));
  (void)(*a)->stats().get();
  for (std::uint16_t i = 1; i < 5; ++i)
    pa_phone.send_rtp((*a)->local_port(), {false, 0, i, 160u * i, 0xF00D}, voice);
  ASSERT_TRUE(at_b.wait([](auto& v) {
    return std::count_if(v.begin(), v.end(), [](const Rx& r) { return r.data[12] == 0x11; }) == 5;
  }));
  EXPECT_EQ(done.load(), 0);  // leaving playback for a bridge is not "playback done"

  // bridged → playing: B plays again; A is left alone and falls back to silence.
  const std::size_t a_before = at_a.size();
  (*b)->play({clip}, false, 2);
  ASSERT_TRUE(at_a.wait([&](auto& v) { return v.size() >= a_before + 5; }));
  ASSERT_TRUE(at_b.wait([&](auto& v) {
    return std::count_if(v.begin(), v.end(), [&](const Rx& r) { return r.data[12] == clip_byte; }) >= 10;
  }));

  // playing → bridged again, then B closes: A falls back to silence.
  ASSERT_TRUE(engine.bridge(**a, **b));
  (*b)->close();
  const std::size_t a_mid = at_a.size();
  ASSERT_TRUE(at_a.wait([&](auto& v) { return v.size() >= a_mid + 5; }));

  for (Collector* col : {&at_a, &at_b}) {
    auto v = col->snapshot();
    ASSERT_GE(v.size(), 5u);
    for (std::size_t i = 1; i < v.size(); ++i) {
      EXPECT_EQ(v[i].p.header.ssrc, v[0].p.header.ssrc) << i;
      EXPECT_EQ(static_cast<std::uint16_t>(v[i].p.header.sequence - v[i - 1].p.header.sequence), 1) << i;
      EXPECT_GE(static_cast<std::int32_t>(v[i].p.header.timestamp - v[i - 1].p.header.timestamp), 160)
          << (col == &at_a ? "A" : "B") << " packet " << i << " of " << v.size() << " byte "
          << int(v[i].data[12]) << " prev byte " << int(v[i - 1].data[12]) << " marker "
          << v[i].p.header.marker;
    }
  }
}

}  // namespace
}  // namespace hotline::media

namespace hotline::media {
namespace {

// With EngineConfig::batch_window the loops coalesce wake-ups (run_loop): a
// bridge still relays every packet in order, including a burst larger than
// one recvmmsg batch, playback keeps flowing, and the engine still shuts
// down (the loops run out of work once the sessions are closed).
TEST(Bridge, RelaysEverythingWithABatchWindow) {
  EngineConfig c = hotline::media::testing::loopback_config();
  c.batch_window = std::chrono::microseconds(500);
  auto engine = std::make_unique<MediaEngine>(c);
  UdpPeer pa, pb, pc;
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = pa.port();
  SessionParams q = p;
  q.remote_port = pb.port();
  SessionParams r = p;
  r.remote_port = pc.port();
  auto a = engine->create_session(p, {});
  auto b = engine->create_session(q, {}, a->get());
  auto player = engine->create_session(r, {}, a->get());
  ASSERT_TRUE(a && b && player);
  ASSERT_TRUE(engine->bridge(**a, **b));
  (void)(*a)->stats().get();
  std::vector<std::uint8_t> payload(160, 0x2a);
  const std::uint16_t burst = 40;  // more than RxBatch::kPackets: the drain takes several batches
  for (std::uint16_t k = 0; k < burst; ++k)
    pa.send_rtp((*a)->local_port(), {false, 0, k, 160u * k, 0x51}, payload);
  std::vector<std::uint16_t> seqs;
  ASSERT_TRUE(wait_for([&] {
    while (auto d = pb.recv(0)) {
      RtpPacket pk;
      if (parse_rtp(d->data, pk) == ParseStatus::ok && !looks_like_rtcp(d->data) && d->data.size() == 172 &&
          d->data[12] == 0x2a)
        seqs.push_back(pk.header.sequence);
    }
    return seqs.size() >= burst;
  }));
  ASSERT_EQ(seqs.size(), burst);
  // With the kernel relay (media_tests_kernel) frames relayed by the kernel
  // right after the handover can overtake those userspace still holds:
  // then the numbers must be complete and consecutive, not in arrival order.
  if (engine->kernel_relay_active()) {
    const std::uint16_t base = seqs[0];
    std::sort(seqs.begin(), seqs.end(), [base](std::uint16_t x, std::uint16_t y) {
      return static_cast<std::int16_t>(x - base) < static_cast<std::int16_t>(y - base);
    });
  }
  for (std::size_t i = 1; i < seqs.size(); ++i)
    EXPECT_EQ(static_cast<std::uint16_t>(seqs[i] - seqs[i - 1]), 1);
  EXPECT_EQ((*b)->stats().get().packets_relayed, burst);
  int paced = 0;
  EXPECT_TRUE(wait_for([&] {
    while (pc.recv(0)) ++paced;
    return paced >= 10;  // the third session's silence keeps coming
  }));
  a->reset();
  b->reset();
  player->reset();
  engine.reset();  // joins the loops: would hang if run_loop never ran out of work
}

}  // namespace
}  // namespace hotline::media

namespace hotline::media {
namespace {

// A bridge leg whose SDP points at the other leg's own port (a mistaken or
// hostile answer) would send every packet it relays back into the bridge,
// where the other leg (once it has latched onto it, or was told that
// address) relays it again, round and round. The engine does not send them
// (dropped_loop), and never hands such a bridge to the kernel relay.
// Here A has latched onto its phone, so the test can count exactly what B
// would have sent to A's port. Each case is an engine bind address and the
// address B's SDP names with A's port: the bound address itself, this
// host's loopback seen from a wildcard bind (LocalAddresses), and the
// unspecified address (which the kernel delivers to this host).
struct LoopCase {
  const char* bind;
  const char* b_remote;
};
class BridgeLoop : public ::testing::TestWithParam<LoopCase> {};

TEST_P(BridgeLoop, ALegPointedAtTheOtherLegsPortRelaysNothingInACircle) {
  EngineConfig c = hotline::media::testing::loopback_config();
  c.bind_address = GetParam().bind;
  MediaEngine engine(c);
  UdpPeer caller_phone;
  SessionParams pa;
  pa.remote_address = "127.0.0.1";
  pa.remote_port = caller_phone.port();
  auto a = engine.create_session(pa, {});
  ASSERT_TRUE(a);
  std::vector<std::uint8_t> voice(160, 0x2a);
  caller_phone.send_rtp((*a)->local_port(), {true, 0, 0, 0, 0xC0FFEE}, voice);
  ASSERT_TRUE(wait_for([&] { return (*a)->stats().get().latched; }));  // onto the caller's phone
  SessionParams pb;
  pb.remote_address = GetParam().b_remote;
  pb.remote_port = (*a)->local_port();  // the caller leg's own port
  pb.latching = false;
  auto b = engine.create_session(pb, {}, a->get());
  ASSERT_TRUE(b);
  ASSERT_TRUE(engine.bridge(**a, **b));
  (void)(*a)->stats().get();
  for (std::uint16_t k = 1; k <= 10; ++k) {
    caller_phone.send_rtp((*a)->local_port(), {false, 0, k, 160u * k, 0xC0FFEE}, voice);
    ::usleep(5000);
  }
  EXPECT_TRUE(wait_for([&] { return (*b)->stats().get().dropped_loop == 10; }));
  const SessionStats sb = (*b)->stats().get();
  EXPECT_EQ(sb.packets_relayed, 0u);
  EXPECT_EQ(sb.packets_relayed_kernel, 0u);
  EXPECT_EQ((*a)->stats().get().packets_received, 11u);
  // Once B's peer is somewhere else (a re-INVITE), the relay works again.
  UdpPeer agent_phone;
  Collector at_agent(agent_phone);
  SessionParams moved = pb;
  moved.remote_address = "127.0.0.1";
  moved.remote_port = agent_phone.port();
  ASSERT_TRUE(engine.update(**b, moved));
  (void)(*b)->stats().get();
  for (std::uint16_t k = 11; k <= 15; ++k) {
    caller_phone.send_rtp((*a)->local_port(), {false, 0, k, 160u * k, 0xC0FFEE}, voice);
    ::usleep(5000);
  }
  EXPECT_TRUE(at_agent.wait([](const std::vector<Rx>& v) {
    return std::count_if(v.begin(), v.end(),
                         [](const Rx& r) { return r.data.size() == 172 && r.data[12] == 0x2a; }) == 5;
  }));
  EXPECT_EQ((*b)->stats().get().dropped_loop, 10u);
}

INSTANTIATE_TEST_SUITE_P(Addresses, BridgeLoop,
                         ::testing::Values(LoopCase{"127.0.0.1", "127.0.0.1"},
                                           LoopCase{"0.0.0.0", "127.0.0.1"},
                                           LoopCase{"127.0.0.1", "0.0.0.0"}),
                         [](const auto& info) {
                           return std::string(info.index == 0   ? "BoundAddress"
                                              : info.index == 1 ? "WildcardBindLoopback"
                                                                : "UnspecifiedAddress");
                         });

}  // namespace
}  // namespace hotline::media
