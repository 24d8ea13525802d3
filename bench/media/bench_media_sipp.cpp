// bench_media_sipp: concurrent bridged G.711 calls driven by SIPp with media.
//
// For each call i the engine holds two bridged sessions A_i and B_i. A SIPp
// UAC calls a SIPp UAS (uas_answer_inf.xml, bench harness only) whose answer
// points at A_i, and plays SIPp's g711a.pcap (236 packets) to it. A_i relays
// to B_i, which sends to a `sipp -rtp_echo` instance; the echo comes back to
// B_i and is relayed through A_i to the UAC. Path per packet:
//   pcap → A_i → B_i → echo → B_i → A_i → UAC   (two relays per direction)
// Reported: loss end to end (packets A_i relayed back vs. packets the pcap
// holds), and CPU of the media threads per relayed packet.
//
//   bench_media_sipp <calls> [calls_per_second] [batch_window_us]
// batch_window_us sets EngineConfig::batch_window (interrupt coalescing; 0 = off).
// HL_MEDIA_RTP_IO=epoll|io_uring picks the RTP I/O backend (EngineConfig::rtp_io;
// unset: the default, io_uring, falling back to epoll). HL_MEDIA_KERNEL_RELAY=lo
// relays the bridges in the kernel (media/kernel_relay.h; needs root). The
// kernel relay's work runs in the senders' system calls and softirqs, not on
// the media threads, so the whole machine's CPU per relayed packet (all
// processes, SIPp included, from /proc/stat) is reported beside the media
// threads' own: compare that line between the two modes.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "media/media.h"

extern char** environ;

namespace {

using namespace hotline::media;
namespace fs = std::filesystem;

pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Like wait_exit, but leaves the child a zombie so its final CPU times stay
// readable in /proc; reap() it afterwards.
int wait_exit_keep(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
      return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    usleep(10000);
  }
  kill(pid, SIGTERM);
  return -1;
}

void reap(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
}

int wait_exit(pid_t pid, int seconds) {
  for (int i = 0; i < seconds * 100; ++i) {
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    usleep(10000);
  }
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  return -1;
}

double media_cpu_seconds() {
  double total = 0;
  const long hz = sysconf(_SC_CLK_TCK);
  for (const auto& e : fs::directory_iterator("/proc/self/task")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    // The engine's loops and any io_uring workers the kernel started for them.
    if (name.rfind("hl-media-", 0) != 0 && name.rfind("iou-", 0) != 0) continue;
    std::ifstream stat(e.path() / "stat");
    std::string s((std::istreambuf_iterator<char>(stat)), {});
    std::istringstream rest(s.substr(s.rfind(')') + 2));
    std::vector<std::string> f;
    for (std::string x; rest >> x;) f.push_back(x);
    total += (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(hz);
  }
  return total;
}

// utime + stime of a process (all its threads), or of one thread (/proc/<pid>/task/<tid>).
double process_cpu_seconds(const fs::path& proc_dir) {
  std::ifstream stat(proc_dir / "stat");
  std::string s((std::istreambuf_iterator<char>(stat)), {});
  if (s.empty()) return 0;
  std::istringstream rest(s.substr(s.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  return f.size() > 12 ? (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK))
                       : 0;
}

// The system under test: this process (engine, harness), the SIPp peers and
// the kernel's softirq threads. On the loopback a packet's receive work runs
// in its sender's system call (or ksoftirqd), so the kernel relay's work shows
// up in SIPp's system time: only this sum compares the two modes fairly,
// without the other tenants of a shared machine.
double system_under_test_seconds(const std::vector<pid_t>& peers) {
  double total = process_cpu_seconds("/proc/self");
  for (pid_t p : peers) total += process_cpu_seconds("/proc/" + std::to_string(p));
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && name.rfind("ksoftirqd/", 0) == 0) total += process_cpu_seconds(e.path());
  }
  return total;
}

// Busy CPU seconds of the whole machine (every CPU, every process, softirqs).
double machine_busy_seconds() {
  std::ifstream stat("/proc/stat");
  std::string cpu;
  stat >> cpu;  // the "cpu" line: user nice system idle iowait irq softirq steal ...
  std::vector<double> f;
  for (double x; f.size() < 8 && stat >> x;) f.push_back(x);
  const double busy = f[0] + f[1] + f[2] + f[5] + f[6];
  return busy / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::atoi(argv[1]) : 100;
  const int cps = argc > 2 ? std::atoi(argv[2]) : 50;
  const int window_us = argc > 3 ? std::atoi(argv[3]) : 0;
  const std::string here = HOTLINE_MEDIA_BENCH_DIR;  // uac_pcap.xml, uas_answer_inf.xml
  const fs::path dir = fs::temp_directory_path() / ("hotline-media-sipp-bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const int echo_port = 46000, uas_port = 45060, uac_port = 45062, uac_media = 47000;

  EngineConfig cfg;
  cfg.loops = 2;
  cfg.bind_address = "127.0.0.1";
  cfg.port_min = 20000;
  cfg.port_max = 39999;
  cfg.batch_window = std::chrono::microseconds(window_us);
  MediaEngine engine(cfg);
  if (!engine.rtp_io_fallback_reason().empty())
    std::fprintf(stderr, "io_uring not used: %s\n", engine.rtp_io_fallback_reason().c_str());
  if (!engine.kernel_relay_error().empty())
    std::fprintf(stderr, "kernel relay not used: %s\n", engine.kernel_relay_error().c_str());
  std::vector<std::shared_ptr<MediaSession>> a_legs, b_legs;
  std::ofstream inf(dir / "ports.csv");
  inf << "SEQUENTIAL\n";
  for (int i = 0; i < calls; ++i) {
    SessionParams pa;  // the caller leg, as negotiated by uas_answer_inf.xml
    pa.codec = Codec::pcma;
    pa.payload_type = 8;
    pa.detect_inband_dtmf = false;
    SessionParams pb = pa;  // the "agent" leg: SIPp's echo
    pb.remote_address = "127.0.0.1";
    pb.remote_port = echo_port;
    auto a = engine.create_session(pa, {});
    if (!a) {
      std::cerr << "create_session: " << a.error().message << "\n";
      return 1;
    }
    auto b = engine.create_session(pb, {}, a->get());
    if (!b) return 1;
    (void)engine.bridge(**a, **b);
    inf << (*a)->local_port() << "\n";
    a_legs.push_back(*a);
    b_legs.push_back(*b);
  }
  inf.close();
  for (auto& s : a_legs) (void)s->stats().get();

  const pid_t echo = spawn({"sipp", "-sn", "uas", "-rtp_echo", "-mp", std::to_string(echo_port), "-i",
                            "127.0.0.1", "-p", "45064", "-nostdin"},
                           (dir / "echo.log").string());
  const pid_t uas =
      spawn({"sipp", "-sf", here + "/uas_answer_inf.xml", "-inf", (dir / "ports.csv").string(), "-i",
             "127.0.0.1", "-p", std::to_string(uas_port), "-m", std::to_string(calls), "-nostdin"},
            (dir / "uas.log").string());
  usleep(500000);
  const double cpu0 = media_cpu_seconds();
  const double machine0 = machine_busy_seconds();
  std::vector<pid_t> peers{echo, uas};
  const double sut0 = system_under_test_seconds(peers);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t uac =
      spawn({"sipp", "127.0.0.1:" + std::to_string(uas_port), "-sf", here + "/uac_pcap.xml", "-i",
             "127.0.0.1", "-p", std::to_string(uac_port), "-mp", std::to_string(uac_media), "-m",
             std::to_string(calls), "-r", std::to_string(cps), "-l", std::to_string(calls), "-nostdin"},
            (dir / "uac.log").string());
  peers.push_back(uac);
  const int uac_rc = wait_exit_keep(uac, 600);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  usleep(500000);  // last echoes
  const double cpu = media_cpu_seconds() - cpu0;
  const double machine = machine_busy_seconds() - machine0;
  const double sut =
      system_under_test_seconds(peers) - sut0;  // the UAC started after sut0: all of its CPU counts
  reap(uac);
  const int uas_rc = wait_exit(uas, 10);
  kill(echo, SIGTERM);
  wait_exit(echo, 5);

  std::uint64_t a_rx = 0, a_relayed = 0, b_rx = 0, b_relayed = 0, in_kernel = 0;
  for (auto& s : a_legs) {
    auto st = s->stats().get();
    a_rx += st.packets_received;
    a_relayed += st.packets_relayed;
    in_kernel += st.packets_relayed_kernel;
  }
  for (auto& s : b_legs) {
    auto st = s->stats().get();
    b_rx += st.packets_received;
    b_relayed += st.packets_relayed;
    in_kernel += st.packets_relayed_kernel;
  }
  const double expected = 236.0 * calls;
  const double relayed = static_cast<double>(a_relayed + b_relayed);
  std::printf(
      "calls=%d cps=%d batch_window=%dus rtp_io=%s kernel_relay=%s uac_rc=%d uas_rc=%d duration=%.1fs\n",
      calls, cps, window_us, to_string(engine.rtp_io_backend()), engine.kernel_relay_active() ? "on" : "off",
      uac_rc, uas_rc, secs);
  std::printf("pcap packets=%.0f  A rx=%llu  A->B relayed=%llu  B rx(echo)=%llu  B->A relayed=%llu\n",
              expected, static_cast<unsigned long long>(a_rx), static_cast<unsigned long long>(b_relayed),
              static_cast<unsigned long long>(b_rx), static_cast<unsigned long long>(a_relayed));
  std::printf(
      "end-to-end loss=%.3f%%  media CPU=%.2fs (%.1f%% of one core)  CPU per relayed packet=%.2f us\n",
      100.0 * (1.0 - static_cast<double>(a_relayed) / expected), cpu, 100.0 * cpu / secs,
      relayed > 0 ? cpu * 1e6 / relayed : 0.0);
  std::printf(
      "relayed by the kernel=%.1f%%  system under test CPU (engine+SIPp+ksoftirqd)=%.2fs  per relayed "
      "packet=%.2f us  (whole machine: %.2fs, %.2f us)\n",
      relayed > 0 ? 100.0 * static_cast<double>(in_kernel) / relayed : 0.0, sut,
      relayed > 0 ? sut * 1e6 / relayed : 0.0, machine, relayed > 0 ? machine * 1e6 / relayed : 0.0);
  std::printf("logs in %s\n", dir.c_str());
  return 0;
}
