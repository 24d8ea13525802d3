// The kernel relay (media/kernel_relay.h): a same-law bridge relayed by the
// BPF program on the loopback, through real sockets, against what the
// userspace relay guarantees (one SSRC, consecutive sequence numbers, the
// payload untouched, events reported and forwarded, statistics kept).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
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

// An engine with the kernel relay on the loopback, or the reason there is none.
struct KernelEngine {
  KernelEngine() : engine(config()) {}
  static EngineConfig config() {
    EngineConfig c;
    c.loops = 1;
    testing::use_test_ports(c);
    c.bind_address = "127.0.0.1";
    c.kernel_relay_interfaces = {"lo"};
    return c;
  }
  MediaEngine engine;
};

// Whether this kernel says it can run the relay (tc BPF classifiers, the bpf
// system call); nullopt when it does not say (no /proc/config.gz).
std::optional<bool> kernel_has_tc_bpf() {
  FILE* f = ::popen("zcat /proc/config.gz 2>/dev/null", "r");
  if (f == nullptr) return std::nullopt;
  std::string config;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) config.append(buf, n);
  ::pclose(f);
  if (config.empty()) return std::nullopt;
  return config.find("CONFIG_BPF_SYSCALL=y") != std::string::npos &&
         config.find("CONFIG_NET_CLS_BPF=") != std::string::npos &&
         config.find("CONFIG_NET_SCH_INGRESS=") != std::string::npos;
}

// Without root, or on a kernel without tc BPF, the relay cannot load: a skip
// that says why. As root on a kernel that has it, it must load.
#define REQUIRE_KERNEL_RELAY(e)                                                                      \
  do {                                                                                               \
    if (!(e).kernel_relay_active()) {                                                                \
      if (::geteuid() != 0) {                                                                        \
        GTEST_SKIP() << "kernel relay needs root: " << (e).kernel_relay_error();                     \
      }                                                                                              \
      if (kernel_has_tc_bpf() != std::optional<bool>(true)) {                                        \
        GTEST_SKIP() << "this kernel has no tc BPF (or does not say): " << (e).kernel_relay_error(); \
      }                                                                                              \
      FAIL() << "kernel relay did not load as root: " << (e).kernel_relay_error();                   \
    }                                                                                                \
  } while (0)

SessionParams params_for(const UdpPeer& phone, std::uint8_t pt, int event_pt) {
  SessionParams p;
  p.remote_address = "127.0.0.1";
  p.remote_port = phone.port();
  p.codec = Codec::pcmu;
  p.payload_type = pt;
  p.telephone_event_pt = event_pt;
  p.detect_inband_dtmf = false;
  return p;
}

std::vector<std::uint8_t> numbered_payload(int i) {
  std::vector<std::uint8_t> p(160);
  for (int k = 0; k < 160; ++k) p[k] = static_cast<std::uint8_t>(i + k);
  return p;
}

// `to_address` 0: the address the phone itself is bound to.
void send_stream(const UdpPeer& phone, std::uint16_t to, std::uint8_t pt, std::uint32_t ssrc,
                 std::uint16_t seq0, std::uint32_t ts0, int count, int first_index,
                 in_addr_t to_address = 0) {
  for (int i = 0; i < count; ++i) {
    phone.send_rtp(to, {i == 0, pt, static_cast<std::uint16_t>(seq0 + i), ts0 + 160u * i, ssrc},
                   numbered_payload(first_index + i), to_address);
    ::usleep(5000);
  }
}

// Whether `r` is the numbered frame `index` (see numbered_payload).
bool is_frame(const Rx& r, int index) {
  return r.data.size() == 172 && r.data[12] == static_cast<std::uint8_t>(index) &&
         r.data[13] == static_cast<std::uint8_t>(index + 1);
}

// How many numbered frames (not the pacer's silence, 0xff) `v` holds.
std::size_t numbered_frames(const std::vector<Rx>& v) {
  return static_cast<std::size_t>(std::count_if(
      v.begin(), v.end(), [](const Rx& r) { return r.data.size() == 172 && r.data[12] != 0xff; }));
}

// Like send_stream, but the handover settles first: the first frame goes
// alone, and the rest follow once it has reached `at` and the loop has run
// after it (`leg`'s statistics, a round trip on the loop). Otherwise, on a
// loaded machine, frames queue in the socket while the loop is late to take
// the first one; those are relayed in userspace — correctly, but not by the
// kernel, whose share the tests check.
void send_segment(const UdpPeer& phone, std::uint16_t to, std::uint32_t ssrc, std::uint16_t seq0,
                  std::uint32_t ts0, int count, int first_index, Collector& at, const MediaSession& leg,
                  in_addr_t to_address = 0) {
  send_stream(phone, to, 0, ssrc, seq0, ts0, 1, first_index, to_address);
  EXPECT_TRUE(at.wait([&](const std::vector<Rx>& v) {
    return std::any_of(v.begin(), v.end(), [&](const Rx& r) { return is_frame(r, first_index); });
  })) << "frame "
      << first_index << " was not relayed";
  (void)leg.stats().get();
  for (int i = 1; i < count; ++i) {
    phone.send_rtp(to, {false, 0, static_cast<std::uint16_t>(seq0 + i), ts0 + 160u * i, ssrc},
                   numbered_payload(first_index + i), to_address);
    ::usleep(5000);
  }
}

// Every packet one phone got: one SSRC, from the session's own port, and —
// put in sequence order — consecutive sequence numbers without gaps or
// duplicates (events pass through userspace while the kernel relays the
// audio, so an event may arrive a frame or two late, as over any network).
// Returns the relayed audio frames' indexes in sequence order.
std::vector<int> check_stream(std::vector<Rx> got, std::uint16_t from_port, std::uint8_t audio_pt) {
  if (got.empty()) return {};
  const std::uint16_t first_seq = got[0].p.header.sequence;
  std::stable_sort(got.begin(), got.end(), [&](const Rx& x, const Rx& y) {
    return static_cast<std::int16_t>(x.p.header.sequence - first_seq) <
           static_cast<std::int16_t>(y.p.header.sequence - first_seq);
  });
  std::vector<int> frames;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const Rx& r = got[i];
    EXPECT_EQ(r.p.header.ssrc, got[0].p.header.ssrc) << i;
    EXPECT_EQ(r.from_port, from_port) << i;
    if (i > 0) {
      EXPECT_EQ(static_cast<std::uint16_t>(r.p.header.sequence - got[i - 1].p.header.sequence), 1) << i;
    }
    if (r.p.header.payload_type != audio_pt || r.data.size() != 172) continue;
    const int first = r.data[12];
    bool numbered = first != 0xff;  // silence from the pacer is 0xff
    for (int k = 0; k < 160 && numbered; ++k)
      numbered = r.data[12 + k] == static_cast<std::uint8_t>(first + k);
    if (numbered) frames.push_back(first);
  }
  return frames;
}

TEST(KernelRelay, RelaysASameLawBridgeBothWaysLikeTheUserspaceRelay) {
  KernelEngine k;
  REQUIRE_KERNEL_RELAY(k.engine);
  UdpPeer caller_phone, agent_phone, stranger;
  std::atomic<int> digits{0};
  SessionEvents events;
  events.on_dtmf = [&](const DtmfDigit&) { ++digits; };
  auto a = k.engine.create_session(params_for(caller_phone, 0, 101), events);
  ASSERT_TRUE(a);
  auto b = k.engine.create_session(params_for(agent_phone, 0, 96), {}, a->get());
  ASSERT_TRUE(b);
  Collector at_agent(agent_phone), at_caller(caller_phone);
  ASSERT_TRUE(k.engine.bridge(**a, **b));
  (void)(*b)->stats().get();  // the bridge is in place (a round trip on the loop)
  const std::uint16_t pa = (*a)->local_port(), pb = (*b)->local_port();

  // Both phones' first frames go alone (both legs latch and hand over), then the rest at once.
  send_stream(agent_phone, pb, 0, 0xCCCC0003, 100, 9000, 1, 0);
  send_segment(caller_phone, pa, 0xAAAA0001, 65500, 4294967000u, 1, 0, at_agent, **a);  // wraps seq and ts
  ASSERT_TRUE(at_caller.wait([](const std::vector<Rx>& v) {
    return std::any_of(v.begin(), v.end(), [](const Rx& r) { return is_frame(r, 0); });
  }));
  (void)(*b)->stats().get();
  std::thread agent_talks([&] {
    for (int i = 1; i < 60; ++i) {
      agent_phone.send_rtp(pb, {false, 0, static_cast<std::uint16_t>(100 + i), 9000 + 160u * i, 0xCCCC0003},
                           numbered_payload(i));
      ::usleep(5000);
    }
  });
  for (int i = 1; i < 30; ++i) {
    caller_phone.send_rtp(
        pa, {false, 0, static_cast<std::uint16_t>(65500 + i), 4294967000u + 160u * i, 0xAAAA0001},
        numbered_payload(i));
    ::usleep(5000);
  }
  // A stranger's packet to the caller leg, while the kernel relays it: not relayed
  // (the program leaves it to the stack; the latched, connected socket drops it).
  stranger.send_rtp(pa, {false, 0, 65530, 0, 0xAAAA0001}, numbered_payload(200));
  std::uint8_t ev[4];
  write_telephone_event(ev, {7, true, 10, 800});  // reported, and forwarded with the agent's event PT
  caller_phone.send_rtp(pa, {true, 101, 65530, 4294967000u + 160 * 30, 0xAAAA0001}, ev);
  send_segment(caller_phone, pa, 0xAAAA0001, 65531, 4294967000u + 160 * 31, 20, 30, at_agent, **a);
  send_segment(caller_phone, pa, 0xBBBB0002, 7, 500, 30, 50, at_agent, **a);  // a new source: a new segment
  agent_talks.join();

  ASSERT_TRUE(at_agent.wait([](auto& v) {
    return numbered_frames(v) >= 80 &&
           std::any_of(v.begin(), v.end(), [](const Rx& r) { return r.p.header.payload_type == 96; });
  }));
  ASSERT_TRUE(at_caller.wait([](auto& v) { return numbered_frames(v) >= 60; }));
  ASSERT_TRUE(wait_for([&] {
    const SessionStats x = (*a)->stats().get(), y = (*b)->stats().get();
    return x.packets_received >= 81 && y.packets_received >= 60 && digits.load() >= 1;
  }));
  ::usleep(100000);  // anything stray would have arrived by now
  const SessionStats sa = (*a)->stats().get();
  const SessionStats sb = (*b)->stats().get();
  k.engine.unbridge(**a);

  const std::vector<Rx> agent_got = at_agent.snapshot();
  std::vector<int> frames = check_stream(agent_got, pb, 0);
  std::vector<int> want(80);
  for (int i = 0; i < 80; ++i) want[i] = i;
  EXPECT_EQ(frames, want);
  EXPECT_EQ(std::count_if(agent_got.begin(), agent_got.end(),
                          [](const Rx& r) { return r.p.header.payload_type == 96; }),
            1);
  EXPECT_EQ(digits.load(), 1);
  const std::vector<int> caller_frames = check_stream(at_caller.snapshot(), pa, 0);
  EXPECT_EQ(caller_frames.size(), 60u);

  EXPECT_EQ(sb.packets_relayed, 81u);  // 80 audio + 1 event
  // Userspace relays the first packet of each segment, the event, and any
  // packet that raced a withdrawal (the agent's phone latching, say).
  EXPECT_GE(sb.packets_relayed_kernel, 60u) << "the kernel relayed too little";
  EXPECT_EQ(sa.packets_received, 81u);
  EXPECT_EQ(sa.lost, 0);
  EXPECT_EQ(sa.packets_relayed, 60u);
  EXPECT_GE(sa.packets_relayed_kernel, 45u);
  EXPECT_EQ(sb.packets_received, 60u);
}

TEST(KernelRelay, SwitchingAwayFromTheBridgeKeepsTheSequence) {
  KernelEngine k;
  REQUIRE_KERNEL_RELAY(k.engine);
  UdpPeer caller_phone, agent_phone;
  auto a = k.engine.create_session(params_for(caller_phone, 0, 101), {});
  ASSERT_TRUE(a);
  auto b = k.engine.create_session(params_for(agent_phone, 0, 101), {}, a->get());
  ASSERT_TRUE(b);
  Collector at_agent(agent_phone);
  ASSERT_TRUE(at_agent.wait([](auto& v) { return v.size() >= 3; }));  // B's own silence first
  ASSERT_TRUE(k.engine.bridge(**a, **b));
  (void)(*b)->stats().get();
  send_segment(caller_phone, (*a)->local_port(), 0x1234, 1, 0, 40, 0, at_agent, **a);
  ASSERT_TRUE(at_agent.wait([](auto& v) { return numbered_frames(v) >= 40; }));
  k.engine.unbridge(**a);  // back to B's pacer: silence
  const std::size_t n = at_agent.size();
  ASSERT_TRUE(at_agent.wait([&](auto& v) { return v.size() >= n + 10; }));
  const auto got = at_agent.snapshot();
  const std::vector<int> frames = check_stream(got, (*b)->local_port(), 0);
  EXPECT_EQ(frames.size(), 40u);
  const SessionStats sb = (*b)->stats().get();
  EXPECT_GE(sb.packets_relayed_kernel, 35u);
  // The silence after the bridge continues the timeline forward.
  for (std::size_t i = 1; i < got.size(); ++i)
    EXPECT_GT(static_cast<std::int32_t>(got[i].p.header.timestamp - got[i - 1].p.header.timestamp), 0) << i;
}

// Bridges a caller leg with `pa` to an agent leg, sends 20 frames and returns
// the agent leg's statistics once all 20 have reached the agent's phone.
SessionStats bridge_and_send(KernelEngine& k, UdpPeer& caller_phone, UdpPeer& agent_phone,
                             const SessionParams& pa, bool record) {
  auto a = k.engine.create_session(pa, {});
  auto b = k.engine.create_session(params_for(agent_phone, 0, 101), {}, a ? a->get() : nullptr);
  EXPECT_TRUE(a && b);
  if (!a || !b) return {};
  Collector at_agent(agent_phone);
  EXPECT_TRUE(k.engine.bridge(**a, **b));
  const auto dir = std::filesystem::temp_directory_path() / ("hl-kr-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::unique_ptr<RecordingHandle> rec;
  if (record) {
    Kek kek;
    kek.id = "k";
    auto r = k.engine.start_recording(**a, **b, {(dir / "call.hrec").string(), kek, Cipher::aes_256_gcm});
    EXPECT_TRUE(r);
    if (r) rec = std::move(*r);
  }
  (void)(*b)->stats().get();  // bridge (and recorder) in place
  send_segment(caller_phone, (*a)->local_port(), 0x1234, 1, 0, 20, 0, at_agent, **a);
  EXPECT_TRUE(at_agent.wait([](auto& v) {
    return std::count_if(v.begin(), v.end(),
                         [](const Rx& r) { return r.data.size() == 172 && r.data[12] != 0xff; }) >= 20;
  }));
  const SessionStats sb = (*b)->stats().get();
  if (rec) {
    EXPECT_TRUE(rec->stop().get());
  }
  std::filesystem::remove_all(dir);
  return sb;
}

// A second host: a network namespace joined to this one by a veth pair,
// 10.77.<n>.1 here and 10.77.<n>.2 there. Gone (with the pair) on destruction.
class PeerHost {
 public:
  // The subnet comes from this CTest entry's own RTP port range (test_ports.h),
  // so suites running at once never share one.
  PeerHost() : n_(testing::test_rtp_ports().min / 500 % 250), ns_("hlkr" + std::to_string(::getpid())) {
    const std::string here = "hlkr" + std::to_string(n_) + "a", there = "hlkr" + std::to_string(n_) + "b";
    const std::string net = "10.77." + std::to_string(n_) + ".";
    (void)run("ip link del " + here + " 2>/dev/null");  // left by a run that was killed
    ok_ = run("ip netns add " + ns_) && run("ip link add " + here + " type veth peer name " + there) &&
          run("ip link set " + there + " netns " + ns_) && run("ip addr add " + net + "1/24 dev " + here) &&
          run("ip link set " + here + " up") && run(in_ns("ip addr add " + net + "2/24 dev " + there)) &&
          run(in_ns("ip link set " + there + " up"));
    interface_ = here;
  }
  ~PeerHost() { (void)run("ip netns del " + ns_ + " 2>/dev/null"); }  // takes the veth pair with it
  bool ok() const { return ok_; }
  const std::string& interface() const { return interface_; }
  in_addr_t here() const { return (10u << 24) | (77u << 16) | (static_cast<in_addr_t>(n_) << 8) | 1u; }
  in_addr_t there() const { return here() + 1; }
  std::string here_text() const { return "10.77." + std::to_string(n_) + ".1"; }
  std::string there_text() const { return "10.77." + std::to_string(n_) + ".2"; }
  // A socket on the other host (made by a thread that joins its namespace).
  std::unique_ptr<UdpPeer> phone() const {
    std::unique_ptr<UdpPeer> p;
    std::thread t([&] {
      const int fd = ::open(("/var/run/netns/" + ns_).c_str(), O_RDONLY);
      if (fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0) p = std::make_unique<UdpPeer>(0, there());
      if (fd >= 0) ::close(fd);
    });
    t.join();
    return p;
  }

 private:
  static bool run(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
  std::string in_ns(const std::string& cmd) const { return "ip netns exec " + ns_ + " " + cmd; }
  int n_;
  std::string ns_, interface_;
  bool ok_ = false;
};

// Both phones on another host: the program sees the packets at the veth's
// ingress and sends them back out of it, the neighbour table (ARP) filling in
// the MAC addresses — the path a real trunk and desk phones take.
TEST(KernelRelay, RelaysBetweenPhonesOnAnotherHost) {
  if (::geteuid() != 0 || kernel_has_tc_bpf() != std::optional<bool>(true))
    GTEST_SKIP() << "needs root and a kernel with tc BPF";
  PeerHost host;
  ASSERT_TRUE(host.ok()) << "could not set up the network namespace and veth pair";
  EngineConfig c = KernelEngine::config();
  c.bind_address = host.here_text();
  c.kernel_relay_interfaces = {host.interface()};
  MediaEngine engine(c);
  ASSERT_TRUE(engine.kernel_relay_active()) << engine.kernel_relay_error();
  auto caller_phone = host.phone(), agent_phone = host.phone();
  ASSERT_TRUE(caller_phone && agent_phone);
  SessionParams pa = params_for(*caller_phone, 0, 101), pb = params_for(*agent_phone, 0, 96);
  pa.remote_address = pb.remote_address = host.there_text();
  auto a = engine.create_session(pa, {});
  ASSERT_TRUE(a);
  auto b = engine.create_session(pb, {}, a->get());
  ASSERT_TRUE(b);
  Collector at_agent(*agent_phone);
  ASSERT_TRUE(engine.bridge(**a, **b));
  (void)(*b)->stats().get();
  send_segment(*caller_phone, (*a)->local_port(), 0x5151, 1, 0, 60, 0, at_agent, **a, host.here());
  ASSERT_TRUE(at_agent.wait([](auto& v) {
    return std::count_if(v.begin(), v.end(),
                         [](const Rx& r) { return r.data.size() == 172 && r.data[12] != 0xff; }) >= 60;
  }));
  const std::vector<int> frames = check_stream(at_agent.snapshot(), (*b)->local_port(), 0);
  std::vector<int> want(60);
  for (int i = 0; i < 60; ++i) want[i] = i;
  EXPECT_EQ(frames, want);
  const SessionStats sb = (*b)->stats().get();
  EXPECT_EQ(sb.packets_relayed, 60u);
  EXPECT_GE(sb.packets_relayed_kernel, 50u);
}

TEST(KernelRelay, InbandDetectionForAPeerWithoutTelephoneEventStaysInUserspace) {
  KernelEngine k;
  REQUIRE_KERNEL_RELAY(k.engine);
  UdpPeer caller_phone, agent_phone;
  SessionParams p = params_for(caller_phone, 0, -1);  // no telephone-event: digits come as tones
  p.detect_inband_dtmf = true;
  const SessionStats sb = bridge_and_send(k, caller_phone, agent_phone, p, false);
  EXPECT_EQ(sb.packets_relayed, 20u);
  EXPECT_EQ(sb.packets_relayed_kernel, 0u);
}

TEST(KernelRelay, ARecordedCallStaysInUserspace) {
  KernelEngine k;
  REQUIRE_KERNEL_RELAY(k.engine);
  UdpPeer caller_phone, agent_phone;
  const SessionStats sb =
      bridge_and_send(k, caller_phone, agent_phone, params_for(caller_phone, 0, 101), true);
  EXPECT_EQ(sb.packets_relayed, 20u);
  EXPECT_EQ(sb.packets_relayed_kernel, 0u);
}

TEST(KernelRelay, APeerWithTelephoneEventIsTrustedToSendEvents) {
  KernelEngine k;
  REQUIRE_KERNEL_RELAY(k.engine);
  UdpPeer caller_phone, agent_phone;
  SessionParams p = params_for(caller_phone, 0, 101);
  p.detect_inband_dtmf = true;  // the default; events were negotiated
  const SessionStats sb = bridge_and_send(k, caller_phone, agent_phone, p, false);
  EXPECT_EQ(sb.packets_relayed, 20u);
  EXPECT_GE(sb.packets_relayed_kernel, 15u);
}

TEST(KernelRelay, KernelRelayedPacketsKeepTheMediaTimeoutAway) {
  KernelEngine k;
  REQUIRE_KERNEL_RELAY(k.engine);
  UdpPeer caller_phone, agent_phone;
  std::atomic<int> timeouts{0};
  SessionParams p = params_for(caller_phone, 0, 101);
  p.media_timeout = 600ms;
  SessionEvents events;
  events.on_media_timeout = [&] { ++timeouts; };
  auto a = k.engine.create_session(p, events);
  ASSERT_TRUE(a);
  auto b = k.engine.create_session(params_for(agent_phone, 0, 101), {}, a->get());
  ASSERT_TRUE(b);
  Collector at_agent(agent_phone);
  ASSERT_TRUE(k.engine.bridge(**a, **b));
  (void)(*b)->stats().get();
  // 1.5 s of audio, nearly all relayed by the kernel (20 ms apart); the
  // first frame alone, as in send_segment.
  send_stream(caller_phone, (*a)->local_port(), 0, 0x77, 0, 0, 1, 0);
  ASSERT_TRUE(at_agent.wait([](auto& v) { return numbered_frames(v) >= 1; }));
  (void)(*a)->stats().get();
  for (int i = 1; i < 75; ++i) {
    caller_phone.send_rtp((*a)->local_port(), {i == 0, 0, static_cast<std::uint16_t>(i), 160u * i, 0x77},
                          numbered_payload(i));
    ::usleep(20000);
  }
  EXPECT_EQ(timeouts.load(), 0);
  ASSERT_TRUE(at_agent.wait([](auto& v) { return numbered_frames(v) >= 75; }));
  EXPECT_GE((*b)->stats().get().packets_relayed_kernel, 70u);
  EXPECT_TRUE(wait_for([&] { return timeouts.load() == 1; }));  // the caller went quiet
}

}  // namespace
}  // namespace hotline::media
