// bench_media: CPU per relayed packet, G.711, recorder write, pacing jitter.
//
//   build/release/bench/media/bench_media                       # everything
//   build/release/bench/media/bench_media --benchmark_filter=Relay
//   HOTLINE_PACING_SECONDS=3600 build/release/bench/media/bench_media --benchmark_filter=Pacing
//
// The loopback benchmarks run a real MediaEngine; "CPU per packet" is the CPU
// time of the engine's own threads (hl-media-*, from /proc) divided by the
// packets they relayed, so the load generator's cost is not counted.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "media/listen.h"
#include "media/media.h"
#include "media/stats.h"

namespace hotline::media {
namespace {

using namespace std::chrono_literals;

// ---- micro benchmarks ----------------------------------------------------------

void BM_G711Encode(benchmark::State& state) {
  std::vector<std::int16_t> in(160);
  for (int i = 0; i < 160; ++i) in[i] = static_cast<std::int16_t>(std::sin(i * 0.1) * 12000);
  std::vector<std::uint8_t> out(160);
  const Codec c = state.range(0) ? Codec::pcma : Codec::pcmu;
  for (auto _ : state) {
    g711_encode(c, in.data(), out.data(), 160);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 160);
  state.SetLabel(c == Codec::pcma ? "PCMA, 160 samples" : "PCMU, 160 samples");
}
BENCHMARK(BM_G711Encode)->Arg(0)->Arg(1);

void BM_G711Decode(benchmark::State& state) {
  std::vector<std::uint8_t> in(160);
  for (int i = 0; i < 160; ++i) in[i] = static_cast<std::uint8_t>(i * 37);
  std::vector<std::int16_t> out(160);
  const Codec c = state.range(0) ? Codec::pcma : Codec::pcmu;
  for (auto _ : state) {
    g711_decode(c, in.data(), out.data(), 160);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * 160);
}
BENCHMARK(BM_G711Decode)->Arg(0)->Arg(1);

// One silent-listen tick: each leg's decoded 20 ms pushed into the mix, then
// the listener's pull (saturating sum) and G.711 encode. (The legs' decode is
// already paid for by in-band DTMF detection.) arg: listener law.
void BM_ListenMixTick(benchmark::State& state) {
  ListenMix mix(480);
  std::vector<std::int16_t> caller(160), agent(160), out(160);
  for (int i = 0; i < 160; ++i) {
    caller[i] = static_cast<std::int16_t>(std::sin(i * 0.785) * 8000);
    agent[i] = static_cast<std::int16_t>(std::sin(i * 1.571) * 8000);
  }
  std::vector<std::uint8_t> payload(160);
  const Codec c = state.range(0) ? Codec::pcma : Codec::pcmu;
  for (int k = 0; k < 3; ++k) {  // fill the cushion
    mix.push(0, caller.data(), 160);
    mix.push(1, agent.data(), 160);
  }
  for (auto _ : state) {
    mix.push(0, caller.data(), 160);
    mix.push(1, agent.data(), 160);
    mix.pull(out.data(), 160);
    g711_encode(c, out.data(), payload.data(), 160);
    benchmark::DoNotOptimize(payload.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(c == Codec::pcma ? "PCMA listener, per 20 ms tick" : "PCMU listener, per 20 ms tick");
}
BENCHMARK(BM_ListenMixTick)->Arg(0)->Arg(1);

// The header work of one relayed packet, without the two syscalls: parse,
// receive statistics, header rewrite, and (arg 1) PCMU→PCMA transcoding.
void BM_RelayHeaderPath(benchmark::State& state) {
  std::vector<std::uint8_t> pkt(172, 0xff);
  write_rtp_header(pkt, {false, 0, 1, 160, 0x1234});
  ReceiveStats stats;
  std::uint16_t seq = 0;
  std::uint32_t ts = 0;
  const std::uint8_t* table = state.range(0) ? transcode_table(Codec::pcmu, Codec::pcma) : nullptr;
  for (auto _ : state) {
    RtpPacket p;
    pkt[2] = static_cast<std::uint8_t>(seq >> 8);
    pkt[3] = static_cast<std::uint8_t>(seq);
    if (parse_rtp(pkt, p) != ParseStatus::ok) state.SkipWithError("parse");
    stats.on_packet(p.header.sequence, p.header.timestamp, ts);
    if (table) {
      std::uint8_t* pl = pkt.data() + p.payload_offset;
      for (std::size_t i = 0; i < p.payload_size; ++i) pl[i] = table[pl[i]];
    }
    rewrite_rtp_header(pkt, {false, 8, static_cast<std::uint16_t>(seq + 77), ts + 999, 0xabcd});
    benchmark::DoNotOptimize(pkt.data());
    ++seq;
    ts += 160;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(table ? "with PCMU->PCMA transcode" : "same codec");
}
BENCHMARK(BM_RelayHeaderPath)->Arg(0)->Arg(1);

// Recording cost per 20 ms of a call: decode both legs' frames into the
// recorder, poll, and the amortised AES-256-GCM chunk sealing + file write.
void BM_RecorderWrite(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / ("bench-media-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  Kek kek;
  kek.id = "bench";
  kek.key.fill(1);
  const Cipher cipher = state.range(0) ? sm4_cipher() : Cipher::aes_256_gcm;
  auto file = EncryptedRecordingFile::create((dir / "r.hrec").string(), kek, cipher);
  if (!file) {
    state.SkipWithError("create");
    return;
  }
  common::FakeClock clock;
  Recorder rec(std::move(*file), clock.now(), 100ms);
  std::vector<std::uint8_t> enc(160, 0x55);
  std::vector<std::int16_t> pcm(160);
  std::uint32_t ts = 0;
  for (auto _ : state) {
    clock.advance(20ms);
    g711_decode(Codec::pcmu, enc.data(), pcm.data(), 160);
    rec.push(0, 1, ts, pcm.data(), 160, clock.now());
    g711_decode(Codec::pcmu, enc.data(), pcm.data(), 160);
    rec.push(1, 2, ts, pcm.data(), 160, clock.now());
    (void)rec.poll(clock.now());
    ts += 160;
  }
  (void)rec.stop(clock.now());
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string("per 20 ms stereo frame, ") + cipher_name(cipher));
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_RecorderWrite)->Arg(0)->Arg(1);

// ---- loopback benchmarks with a real engine ---------------------------------------

// CPU seconds used so far by the engine's threads (named hl-media-*) and
// by any io_uring worker threads (iou-wrk-*, iou-sqp-*) the kernel started
// for them, so work the io_uring backend hands off is counted too.
bool is_media_thread(const std::string& name) {
  return name.rfind("hl-media-", 0) == 0 || name.rfind("iou-", 0) == 0;
}

double media_thread_cpu_seconds() {
  double total = 0;
  const long hz = sysconf(_SC_CLK_TCK);
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    if (!is_media_thread(name)) continue;
    std::ifstream stat(e.path() / "stat");
    std::string s((std::istreambuf_iterator<char>(stat)), {});
    const auto close = s.rfind(')');
    std::istringstream rest(s.substr(close + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field) f.push_back(field);
    // After ")": state(0) ... utime is field 14 overall → index 11 here, stime 12.
    total += (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(hz);
  }
  return total;
}

int udp_socket(std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int big = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  *port = ntohs(a.sin_port);
  return fd;
}

// `calls` bridged calls, each direction 50 packets/s, for `seconds`; reports
// engine CPU per relayed packet and loss.
void BM_RelayLoopback(benchmark::State& state) {
  const int calls = static_cast<int>(state.range(0));
  const double seconds = 3.0;
  EngineConfig cfg;
  cfg.loops = 2;
  cfg.batch_window = std::chrono::microseconds(state.range(2));
  cfg.rtp_io = state.range(3) ? RtpIoBackend::io_uring : RtpIoBackend::epoll;
  cfg.bind_address = "127.0.0.1";
  cfg.port_min = 40000;
  cfg.port_max = 59999;
  MediaEngine engine(cfg);
  if (engine.rtp_io_backend() != cfg.rtp_io) {
    state.SkipWithError(("io_uring unavailable: " + engine.rtp_io_fallback_reason()).c_str());
    return;
  }
  // One socket plays every phone (caller and agent) so the generator is cheap;
  // its port is latched by every session.
  std::uint16_t phone_port = 0;
  const int phone = udp_socket(&phone_port);
  std::vector<std::shared_ptr<MediaSession>> legs;
  for (int i = 0; i < calls; ++i) {
    SessionParams p;
    p.remote_address = "127.0.0.1";
    p.remote_port = phone_port;
    p.detect_inband_dtmf = state.range(1) != 0;
    p.latching = false;  // every leg talks to the same phone socket
    auto a = engine.create_session(p, {});
    auto b = engine.create_session(p, {}, a->get());
    if (!a || !b) {
      state.SkipWithError("ports");
      return;
    }
    (void)engine.bridge(**a, **b);
    legs.push_back(*a);
    legs.push_back(*b);
  }
  for (auto& l : legs) (void)l->stats().get();  // barrier: bridges in place
  // Generator payload 0x7f (not μ-law silence 0xff) so the sink counts only relayed packets.
  std::vector<std::uint8_t> pkt(172, 0x7f);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> received{0};
  // BENCH_MEDIA_SINK=timed: the sink never sleeps in the kernel on its
  // socket (it naps 1 ms in user space, then drains), so a relayed packet
  // finds no waiter to wake. On loopback the receiver's wake-up otherwise
  // runs inside the engine's send and is billed to it; on a real network it
  // happens on the phone's host. (Its socket buffer holds far more than 1 ms.)
  const char* sink_env = std::getenv("BENCH_MEDIA_SINK");
  const bool timed_sink = sink_env != nullptr && std::string_view(sink_env) == "timed";
  std::thread sink([&] {
    std::vector<std::uint8_t> buf(2048);
    while (!stop) {
      if (timed_sink) {
        std::this_thread::sleep_for(1ms);
      } else {
        pollfd pf{phone, POLLIN, 0};
        if (::poll(&pf, 1, 20) <= 0) continue;
      }
      ssize_t n;
      while ((n = ::recv(phone, buf.data(), buf.size(), 0)) > 0) {
        if (n == 172 && buf[12] == 0x7f) received.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  std::uint64_t sent = 0;
  double cpu = 0, elapsed = seconds;
  for (auto _ : state) {
    received = 0;
    const double cpu0 = media_thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    const int ticks = static_cast<int>(seconds * 50);
    std::uint16_t seq = 0;
    for (int t = 0; t < ticks; ++t) {
      std::this_thread::sleep_until(t0 + t * 20ms);
      for (std::size_t l = 0; l < legs.size(); ++l) {
        write_rtp_header(pkt, {false, 0, seq, 160u * seq, static_cast<std::uint32_t>(l + 1)});
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        dst.sin_port = htons(legs[l]->local_port());
        ::sendto(phone, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
        ++sent;
      }
      ++seq;
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::this_thread::sleep_for(200ms);  // drain in-flight packets
    cpu = media_thread_cpu_seconds() - cpu0;
  }
  stop = true;
  sink.join();
  ::close(phone);
  std::uint64_t relayed = 0;
  for (auto& l : legs) relayed += l->stats().get().packets_relayed;
  // Bridged legs also send nothing else, so every packet the sink saw was relayed
  // (plus RTCP, which goes to phone_port+1 and is not counted).
  const double loss = sent ? 1.0 - static_cast<double>(received.load()) / static_cast<double>(sent) : 0;
  state.counters["calls"] = calls;
  state.counters["pkts_per_s"] = static_cast<double>(sent) / elapsed;
  state.counters["cpu_us_per_pkt"] = relayed ? cpu * 1e6 / static_cast<double>(relayed) : 0;
  state.counters["engine_cpu_pct"] = cpu / elapsed * 100;
  state.counters["loss_pct"] = loss * 100;
  state.counters["batch_window_us"] = static_cast<double>(state.range(2));
  state.SetLabel(std::string(to_string(engine.rtp_io_backend())) +
                 (state.range(1) ? ", in-band DTMF detection on" : ", in-band DTMF detection off") +
                 (timed_sink ? ", timed sink" : ""));
}
// Args: calls, in-band DTMF detection, EngineConfig::batch_window in µs,
// backend (0 = epoll, 1 = io_uring).
BENCHMARK(BM_RelayLoopback)
    ->Args({100, 0, 0, 0})
    ->Args({500, 0, 0, 0})
    ->Args({1000, 0, 0, 0})
    ->Args({500, 1, 0, 0})
    ->Args({1000, 0, 200, 0})
    ->Args({100, 0, 0, 1})
    ->Args({500, 0, 0, 1})
    ->Args({1000, 0, 0, 1})
    ->Args({1000, 0, 200, 1})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

// Playback pacing: `sessions` sessions send silence to one socket; kernel
// receive timestamps give each packet's arrival; jitter is the deviation of
// each inter-arrival gap from ptime, drift the end-to-end error of the grid.
void BM_PacingJitter(benchmark::State& state) {
  const int sessions = static_cast<int>(state.range(0));
  const int rt_priority = static_cast<int>(state.range(1));
  double seconds = 10;
  if (const char* env = std::getenv("HOTLINE_PACING_SECONDS")) seconds = std::atof(env);
  EngineConfig cfg;
  cfg.loops = 2;
  cfg.bind_address = "127.0.0.1";
  cfg.port_min = 40000;
  cfg.port_max = 59999;
  cfg.realtime_priority = rt_priority;
  cfg.batch_window = std::chrono::microseconds(state.range(2));
  MediaEngine engine(cfg);
  std::uint16_t port = 0;
  const int fd = udp_socket(&port);
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  std::vector<std::shared_ptr<MediaSession>> ss;
  for (int i = 0; i < sessions; ++i) {
    SessionParams p;
    p.remote_address = "127.0.0.1";
    p.remote_port = port;
    p.latching = false;
    auto s = engine.create_session(p, {});
    if (!s) {
      state.SkipWithError("ports");
      return;
    }
    ss.push_back(*s);
  }
  // Per SSRC: arrival times (ns).
  std::vector<std::pair<std::uint32_t, std::int64_t>> arrivals;
  arrivals.reserve(static_cast<std::size_t>(sessions * seconds * 50 * 1.1));
  for (auto _ : state) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    std::vector<std::uint8_t> buf(2048);
    char ctrl[256];
    while (std::chrono::steady_clock::now() < end) {
      pollfd pf{fd, POLLIN, 0};
      if (::poll(&pf, 1, 50) <= 0) continue;
      while (true) {
        iovec iov{buf.data(), buf.size()};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = ctrl;
        m.msg_controllen = sizeof ctrl;
        const ssize_t n = ::recvmsg(fd, &m, 0);
        if (n <= 0) break;
        RtpPacket p;
        if (parse_rtp(std::span(buf.data(), static_cast<std::size_t>(n)), p) != ParseStatus::ok) continue;
        std::int64_t t = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
            timespec ts;
            std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
            t = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
          }
        }
        arrivals.emplace_back(p.header.ssrc, t);
      }
    }
  }
  ::close(fd);
  std::stable_sort(arrivals.begin(), arrivals.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<double> dev;
  double worst_drift = 0;
  for (std::size_t i = 0; i < arrivals.size();) {
    std::size_t j = i;
    while (j < arrivals.size() && arrivals[j].first == arrivals[i].first) ++j;
    // Skip the first packets (session start-up) of each stream.
    const std::size_t first = i + 5;
    for (std::size_t k = first + 1; k < j; ++k)
      dev.push_back((arrivals[k].second - arrivals[k - 1].second) / 1e6 - 20.0);
    if (j > first + 1) {
      const double span_ms = (arrivals[j - 1].second - arrivals[first].second) / 1e6;
      const double ideal = 20.0 * static_cast<double>(j - 1 - first);
      worst_drift = std::max(worst_drift, std::abs(span_ms - ideal));
    }
    i = j;
  }
  std::vector<double> absdev(dev.size());
  std::transform(dev.begin(), dev.end(), absdev.begin(), [](double d) { return std::abs(d); });
  std::sort(absdev.begin(), absdev.end());
  auto pct = [&](double q) {
    return absdev.empty() ? 0 : absdev[static_cast<std::size_t>(q * (absdev.size() - 1))];
  };
  state.counters["sessions"] = sessions;
  state.counters["packets"] = static_cast<double>(dev.size());
  state.counters["jitter_p50_ms"] = pct(0.5);
  state.counters["jitter_p99_ms"] = pct(0.99);
  state.counters["jitter_max_ms"] = pct(1.0);
  state.counters["max_drift_ms"] = worst_drift;
  state.counters["seconds"] = seconds;
  state.counters["batch_window_us"] = static_cast<double>(state.range(2));
  state.SetLabel(rt_priority ? "SCHED_FIFO loops" : "normal scheduling");
}
// Args: sessions, SCHED_FIFO priority (0 = normal), EngineConfig::batch_window in µs.
BENCHMARK(BM_PacingJitter)
    ->Args({1, 0, 0})
    ->Args({200, 0, 0})
    ->Args({200, 10, 0})
    ->Args({200, 0, 200})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace hotline::media

BENCHMARK_MAIN();
