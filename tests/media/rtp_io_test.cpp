// RTP I/O backends (EngineConfig::rtp_io): choosing one, falling back, and
// what the io_uring backend does differently from epoll — one buffer ring
// shared by every socket of a loop (bursts larger than it), receives that
// must be cancelled before a port is free again, completions that arrive
// after a session closed. Each case runs on both backends; the io_uring
// cases are skipped where the kernel or the build has no io_uring. (The rest
// of media_tests runs on io_uring as CTest's media_tests_io_uring.)
#include "media/rtp_io.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
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

// Packets the kernel dropped because a CPU's input backlog was full, summed
// over CPUs (second column of /proc/net/softnet_stat); 0 if unreadable.
std::uint64_t loopback_backlog_drops() {
  std::ifstream in("/proc/net/softnet_stat");
  std::uint64_t sum = 0;
  std::string processed, dropped, rest;
  while (in >> processed >> dropped && std::getline(in, rest)) sum += std::stoull(dropped, nullptr, 16);
  return sum;
}

TEST(RtpIoChoice, NamesParseAndPrint) {
  for (auto b : {RtpIoBackend::automatic, RtpIoBackend::epoll, RtpIoBackend::io_uring})
    EXPECT_EQ(parse_rtp_io_backend(to_string(b)), b);
  EXPECT_FALSE(parse_rtp_io_backend("uring"));
}

TEST(RtpIoChoice, EnvironmentDecidesOnlyForAutomatic) {
  const char* old = std::getenv("HL_MEDIA_RTP_IO");
  const std::string saved = old ? old : "";
  ::setenv("HL_MEDIA_RTP_IO", "io_uring", 1);
  EXPECT_EQ(resolve_rtp_io(RtpIoBackend::automatic), RtpIoBackend::io_uring);
  EXPECT_EQ(resolve_rtp_io(RtpIoBackend::epoll), RtpIoBackend::epoll);
  ::setenv("HL_MEDIA_RTP_IO", "epoll", 1);
  EXPECT_EQ(resolve_rtp_io(RtpIoBackend::automatic), RtpIoBackend::epoll);
  EXPECT_EQ(resolve_rtp_io(RtpIoBackend::io_uring), RtpIoBackend::io_uring);
  ::setenv("HL_MEDIA_RTP_IO", "nonsense",
           1);  // ignored: the default (io_uring, falling back by itself) applies
  EXPECT_EQ(resolve_rtp_io(RtpIoBackend::automatic), RtpIoBackend::io_uring);
  ::unsetenv("HL_MEDIA_RTP_IO");
  EXPECT_EQ(resolve_rtp_io(RtpIoBackend::automatic), RtpIoBackend::io_uring);
  if (old) {
    ::setenv("HL_MEDIA_RTP_IO", saved.c_str(), 1);
  } else {
    ::unsetenv("HL_MEDIA_RTP_IO");
  }
}

TEST(RtpIoChoice, ForcedEpollRunsEpoll) {
  EngineConfig c;
  c.loops = 1;
  c.rtp_io = RtpIoBackend::epoll;
  MediaEngine engine(c);
  EXPECT_EQ(engine.rtp_io_backend(), RtpIoBackend::epoll);
  EXPECT_TRUE(engine.rtp_io_fallback_reason().empty());
}

TEST(RtpIoChoice, IoUringRunsOrSaysWhyNot) {
  EngineConfig c;
  c.loops = 2;
  c.rtp_io = RtpIoBackend::io_uring;
  MediaEngine engine(c);
  if (engine.rtp_io_backend() == RtpIoBackend::io_uring) {
    EXPECT_TRUE(engine.rtp_io_fallback_reason().empty());
  } else {
    EXPECT_EQ(engine.rtp_io_backend(), RtpIoBackend::epoll);  // the fallback, never nothing
    EXPECT_FALSE(engine.rtp_io_fallback_reason().empty());
  }
}

class RtpIoBackends : public ::testing::TestWithParam<RtpIoBackend> {
 protected:
  EngineConfig config(unsigned loops) const {
    EngineConfig c;
    c.loops = loops;
    hotline::media::testing::use_test_ports(c);
    c.bind_address = "127.0.0.1";
    c.rtp_io = GetParam();
    return c;
  }
  // Skips the test when io_uring was asked for and the engine fell back.
  bool runs_wanted_backend(const MediaEngine& e) const { return e.rtp_io_backend() == GetParam(); }
};

// `calls` bridged calls whose phones are all `phone` (no latching), bridges in place.
std::vector<std::shared_ptr<MediaSession>> bridged_calls(MediaEngine& engine, const UdpPeer& phone,
                                                         int calls) {
  std::vector<std::shared_ptr<MediaSession>> legs;
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = phone.port();
  p.latching = false;
  p.detect_inband_dtmf = false;
  for (int i = 0; i < calls; ++i) {
    auto a = engine.create_session(p, {});
    auto b = engine.create_session(p, {}, a ? a->get() : nullptr);
    if (!a || !b) return {};
    (void)engine.bridge(**a, **b);
    legs.push_back(*a);
    legs.push_back(*b);
  }
  for (auto& l : legs) (void)l->stats().get();  // barrier: bridges in place
  return legs;
}

std::vector<std::uint8_t> marked_packet(std::uint16_t seq, std::uint32_t ssrc) {
  std::vector<std::uint8_t> pkt(172, 0x7f);  // 0x7f: not μ-law silence, so relays are told apart
  write_rtp_header(pkt, {false, 0, seq, 160u * seq, ssrc});
  return pkt;
}

std::size_t relayed_count(const std::vector<Rx>& v) {
  return static_cast<std::size_t>(std::count_if(
      v.begin(), v.end(), [](const Rx& r) { return r.data.size() == 172 && r.data[12] == 0x7f; }));
}

// A burst on every leg at once, larger than the io_uring buffer ring (64):
// receives stop with ENOBUFS and are re-armed once buffers return, so every
// packet is still relayed, in order per leg.
TEST_P(RtpIoBackends, BurstAcrossManySocketsLargerThanTheBufferRing) {
  EngineConfig c = config(1);
  c.uring_buffers = 64;
  MediaEngine engine(c);
  if (!runs_wanted_backend(engine)) GTEST_SKIP() << engine.rtp_io_fallback_reason();
  UdpPeer phone;
  auto legs = bridged_calls(engine, phone, 50);
  ASSERT_EQ(legs.size(), 100u);
  Collector col(phone);
  constexpr int kPerLeg = 8;
  for (int k = 0; k < kPerLeg; ++k) {
    for (std::size_t l = 0; l < legs.size(); ++l)
      phone.send_to(legs[l]->local_port(),
                    marked_packet(static_cast<std::uint16_t>(k), static_cast<std::uint32_t>(l + 1)));
  }
  const std::size_t want = legs.size() * kPerLeg;
  EXPECT_TRUE(col.wait([&](auto& v) { return relayed_count(v) >= want; }));
  std::uint64_t relayed = 0;
  for (auto& l : legs) relayed += l->stats().get().packets_relayed;
  EXPECT_EQ(relayed, want);
  // Per leg (each has its own outgoing SSRC) the sequence numbers arrive consecutively.
  const auto got = col.snapshot();
  std::map<std::uint32_t, std::vector<std::uint16_t>> by_ssrc;
  for (const Rx& r : got) {
    if (r.data.size() == 172 && r.data[12] == 0x7f) by_ssrc[r.p.header.ssrc].push_back(r.p.header.sequence);
  }
  EXPECT_EQ(by_ssrc.size(), legs.size());
  for (auto& [ssrc, seqs] : by_ssrc) {
    ASSERT_EQ(seqs.size(), static_cast<std::size_t>(kPerLeg)) << ssrc;
    // With the kernel relay (media_tests_kernel) a packet the kernel relays
    // right after the handover can overtake the one userspace still holds:
    // then the numbers must be complete and consecutive, not in arrival order.
    if (engine.kernel_relay_active()) {
      const std::uint16_t base = seqs[0];
      std::sort(seqs.begin(), seqs.end(), [base](std::uint16_t x, std::uint16_t y) {
        return static_cast<std::int16_t>(x - base) < static_cast<std::int16_t>(y - base);
      });
    }
    for (std::size_t i = 1; i < seqs.size(); ++i)
      EXPECT_EQ(static_cast<std::uint16_t>(seqs[i] - seqs[i - 1]), 1);
  }
}

// close() returns the RTP port to the OS at once (an io_uring receive holds
// the socket until it is cancelled).
TEST_P(RtpIoBackends, ClosedSessionsPortCanBeBoundAgain) {
  MediaEngine engine(config(1));
  if (!runs_wanted_backend(engine)) GTEST_SKIP() << engine.rtp_io_fallback_reason();
  auto s = engine.create_session(SessionParams{}, {});
  ASSERT_TRUE(s);
  const std::uint16_t port = (*s)->local_port();
  (void)(*s)->stats().get();  // started: its receive is armed
  (*s)->close();
  (void)(*s)->stats().get();  // posted after close(): the close has run
  EXPECT_NO_THROW(UdpPeer again(port));
}

// Legs close while packets keep arriving for them and for the legs that stay;
// completions for a closed session must not reach it (ASan watches), and the
// calls that remain keep relaying. The engine then shuts down under traffic.
TEST_P(RtpIoBackends, ClosingLegsUnderTrafficLeavesTheOthersRelaying) {
  auto engine = std::make_unique<MediaEngine>(config(2));
  if (!runs_wanted_backend(*engine)) GTEST_SKIP() << engine->rtp_io_fallback_reason();
  UdpPeer phone;
  auto legs = bridged_calls(*engine, phone, 20);
  ASSERT_EQ(legs.size(), 40u);
  std::vector<std::uint16_t> ports;
  for (auto& l : legs) ports.push_back(l->local_port());
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    for (std::uint16_t seq = 0; !stop; ++seq) {
      for (std::size_t l = 0; l < ports.size(); ++l)
        phone.send_to(ports[l], marked_packet(seq, static_cast<std::uint32_t>(l + 1)));
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(100ms);
  for (std::size_t l = 0; l < legs.size(); l += 4) legs[l]->close();  // one leg of every other call
  std::this_thread::sleep_for(50ms);
  // A call with both legs open (1: legs 2 and 3) keeps relaying after the closes.
  const auto before = legs[2]->stats().get().packets_relayed;
  EXPECT_TRUE(wait_for([&] { return legs[2]->stats().get().packets_relayed > before; }));
  engine.reset();  // closes the rest while packets still arrive
  stop = true;
  traffic.join();
}

// A datagram larger than a receive buffer is counted as invalid and dropped;
// the socket goes on receiving.
TEST_P(RtpIoBackends, OversizedDatagramIsDroppedAndReceivingContinues) {
  MediaEngine engine(config(1));
  if (!runs_wanted_backend(engine)) GTEST_SKIP() << engine.rtp_io_fallback_reason();
  UdpPeer phone;
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = phone.port();
  auto s = engine.create_session(p, {});
  ASSERT_TRUE(s);
  (void)(*s)->stats().get();
  std::vector<std::uint8_t> big(3000, 0x7f);
  write_rtp_header(big, {false, 0, 1, 160, 42});
  phone.send_to((*s)->local_port(), big);
  phone.send_to((*s)->local_port(), marked_packet(2, 42));
  EXPECT_TRUE(wait_for([&] { return (*s)->stats().get().packets_received == 1; }));
  EXPECT_EQ((*s)->stats().get().dropped_invalid, 1u);
}

// A burst across many sockets arrives while the loop is busy elsewhere (a
// slow event handler), to sessions that relay nothing (so a batch queues no
// sends), and then nothing more arrives. With DEFER_TASKRUN the kernel runs
// only a bounded number of deferred receives per enter and signals the
// eventfd again only for new work: a batch that stopped at the first enter
// without sends would leave the rest of the burst unread.
TEST_P(RtpIoBackends, BurstWhileTheLoopIsBusyIsReadToTheLastPacket) {
  MediaEngine engine(config(1));
  if (!runs_wanted_backend(engine)) GTEST_SKIP() << engine.rtp_io_fallback_reason();
  UdpPeer phone;
  SessionParams p;
  p.latching = false;  // no remote: packets are accepted and nothing is sent back
  p.detect_inband_dtmf = false;
  p.media_timeout = 1ms;  // only the blocker: fires at its first housekeeping tick
  std::atomic<bool> blocking{false};
  SessionEvents slow;
  slow.on_media_timeout = [&] {
    blocking = true;
    std::this_thread::sleep_for(150ms);  // holds the loop thread
  };
  auto blocker = engine.create_session(p, slow);
  ASSERT_TRUE(blocker);
  p.media_timeout = 0ms;
  std::vector<std::shared_ptr<MediaSession>> sessions;
  for (int i = 0; i < 300; ++i) {
    auto s = engine.create_session(p, {});
    ASSERT_TRUE(s);
    sessions.push_back(*s);
  }
  for (auto& s : sessions) (void)s->stats().get();  // all started
  ASSERT_TRUE(wait_for([&] { return blocking.load(); }));
  const std::uint64_t kernel_drops_before = loopback_backlog_drops();
  for (std::size_t i = 0; i < sessions.size(); ++i) {
    phone.send_to(sessions[i]->local_port(), marked_packet(1, static_cast<std::uint32_t>(i + 1)));
    // Loopback delivery goes through a per-CPU backlog of 1,000 packets
    // (netdev_max_backlog) shared with every other process; short breaks
    // keep a loaded machine from dropping part of the burst before it
    // reaches the sockets. All of it still lands while the loop is blocked.
    if (i % 50 == 49) std::this_thread::sleep_for(1ms);
  }
  const auto received = [&] {
    std::uint64_t n = 0;
    for (auto& s : sessions) n += s->stats().get().packets_received;
    return n;
  };
  EXPECT_TRUE(wait_for([&] { return received() == sessions.size(); }))
      << received() << " received; the kernel dropped " << loopback_backlog_drops() - kernel_drops_before
      << " packets on any CPU's backlog meanwhile (/proc/net/softnet_stat)";
}

// A socket connected to its peer (fixed remote, no latching) gets ICMP port
// unreachable for the datagrams it sends while nobody listens there; the
// kernel reports that as ECONNREFUSED on the socket's next receive or send.
// That must not end the session's receiving: once the phone is back, its
// packets are received and the session's output reaches it again.
TEST_P(RtpIoBackends, ConnectedSocketSurvivesPortUnreachable) {
  MediaEngine engine(config(1));
  if (!runs_wanted_backend(engine)) GTEST_SKIP() << engine.rtp_io_fallback_reason();
  std::uint16_t phone_port = 0;
  { phone_port = UdpPeer().port(); }  // a port with nobody behind it
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = phone_port;
  p.latching = false;
  p.detect_inband_dtmf = false;
  auto s = engine.create_session(p, {});
  ASSERT_TRUE(s);
  std::this_thread::sleep_for(150ms);  // the pacer's silence draws ICMP errors
  UdpPeer phone(phone_port);
  for (std::uint16_t seq = 1; seq <= 5; ++seq) {
    phone.send_to((*s)->local_port(), marked_packet(seq, 7));
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(wait_for([&] { return (*s)->stats().get().packets_received == 5; }));
  EXPECT_TRUE(wait_for([&] { return phone.recv(100).has_value(); }));  // silence flows to the phone again
}

INSTANTIATE_TEST_SUITE_P(Backends, RtpIoBackends,
                         ::testing::Values(RtpIoBackend::epoll, RtpIoBackend::io_uring),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace
}  // namespace hotline::media
