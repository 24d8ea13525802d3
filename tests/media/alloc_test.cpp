// Proves the steady-state packet path allocates nothing: global operator new
// is replaced by a counter that only counts allocations made on the media
// loop threads (hl-media-*). After a warm-up, relaying, recording-free
// bridged traffic with RTP statistics and in-band DTMF detection, with or
// without a supervisor listening, must not allocate at all. Separate
// executable because it replaces operator new.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "media/media.h"
#include "test_ports.h"
#include "udp_peer.h"

namespace {
std::atomic<long> g_media_allocs{0};

bool on_media_thread() {
  thread_local int state = -1;  // -1 unknown, 0 no, 1 yes
  if (state < 0) {
    char name[32] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    state = std::strncmp(name, "hl-media-", 9) == 0 ? 1 : 0;
  }
  return state == 1;
}
}  // namespace

void* operator new(std::size_t n) {
  if (on_media_thread()) g_media_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace hotline::media {
namespace {

using testing::UdpPeer;
using testing::wait_for;

// Bridged traffic; with `listened`, a supervisor session also listens (the
// legs decode into its mix buffer, its pacer mixes and encodes).
void relay_without_allocating(bool listened) {
  EngineConfig c;
  c.loops = 1;
  hotline::media::testing::use_test_ports(c);
  c.bind_address = "127.0.0.1";
  c.rtcp_interval = std::chrono::hours(1);  // keep RTCP out of the measured window
  MediaEngine engine(c);
  UdpPeer pa, pb;
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = pa.port();
  SessionParams q = p;
  q.remote_port = pb.port();
  q.codec = Codec::pcma;  // exercise transcoding too
  q.payload_type = 8;
  auto a = engine.create_session(p, {});
  auto b = engine.create_session(q, {}, a->get());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(engine.bridge(**a, **b));
  UdpPeer pl;
  SessionParams r = p;
  r.remote_port = pl.port();
  auto l = engine.create_session(r, {}, a->get());
  ASSERT_TRUE(l);
  if (listened) {
    ASSERT_TRUE(engine.listen(**l, **a, **b));
  }
  (void)(*a)->stats().get();
  const auto bridged_at = std::chrono::steady_clock::now();
  std::vector<std::uint8_t> pkt(12 + 160, 0x20);  // a non-silent value in both laws
  std::uint16_t seq = 0;
  // Sends in bursts of 50 per side (socket buffers are finite) and waits for
  // every packet to come out of the bridge at the other phone.
  int mixed = 0;  // non-silent packets at the supervisor's phone
  auto send_and_wait = [&](int n) {
    int got = 0;
    for (int sent = 0; sent < n; sent += 50) {
      for (int i = 0; i < 50; ++i, ++seq) {
        write_rtp_header(pkt, {false, 0, seq, 160u * seq, 0x5151});
        pa.send_to((*a)->local_port(), pkt);
        write_rtp_header(pkt, {false, 8, seq, 160u * seq, 0x6161});
        pb.send_to((*b)->local_port(), pkt);
      }
      const bool ok = wait_for([&] {
        for (const UdpPeer* peer : {&pa, &pb}) {
          while (auto d = peer->recv(0)) {
            if (d->data.size() == pkt.size() && d->data[12] != 0xff && d->data[12] != 0xd5) ++got;
          }
        }
        while (auto d = pl.recv(0)) {  // the supervisor's phone keeps up
          if (d->data.size() == pkt.size() && d->data[12] != 0xff) ++mixed;
        }
        return got >= 2 * (sent + 50);
      });
      if (!ok) return false;
    }
    return true;
  };
  // Warm-up: Asio's handler-memory caches, first-packet paths, and the pacers'
  // last ticks after the switch to bridging (a mode change, not steady state).
  do {
    ASSERT_TRUE(send_and_wait(50));
  } while (std::chrono::steady_clock::now() - bridged_at < std::chrono::milliseconds(200));
  const long before = g_media_allocs.load();
  ASSERT_TRUE(send_and_wait(1000));
  EXPECT_EQ(g_media_allocs.load() - before, 0) << "allocations on the media threads per 2000 relayed packets";
  if (listened) {
    EXPECT_GT(mixed, 0);  // the listener was mixing all along
  } else {
    EXPECT_EQ(mixed, 0);
  }
}

TEST(SteadyState, BridgedRelayDoesNotAllocate) { relay_without_allocating(false); }
TEST(SteadyState, ListenedBridgeDoesNotAllocate) { relay_without_allocating(true); }

TEST(SteadyState, PacedPlaybackDoesNotAllocate) {
  EngineConfig c;
  c.loops = 1;
  hotline::media::testing::use_test_ports(c);
  c.bind_address = "127.0.0.1";
  c.rtcp_interval = std::chrono::hours(1);
  MediaEngine engine(c);
  UdpPeer phone;
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = phone.port();
  auto s = engine.create_session(p, {});
  ASSERT_TRUE(s);
  auto clip = std::make_shared<Clip>();
  for (int i = 0; i < 4000; ++i) clip->samples.push_back(static_cast<std::int16_t>((i % 40) * 300));
  (*s)->play({clip}, /*loop: music on hold*/ true, 1);
  auto receive = [&](int n) {
    int got = 0;
    return wait_for([&] {
      while (phone.recv(0)) ++got;
      return got >= n;
    });
  };
  ASSERT_TRUE(receive(25));  // warm-up
  const long before = g_media_allocs.load();
  ASSERT_TRUE(receive(50));  // one second of paced packets, looping the clip twice
  EXPECT_EQ(g_media_allocs.load() - before, 0) << "allocations on the media thread per 50 paced packets";
}

}  // namespace
}  // namespace hotline::media
