// udp_floor — the I/O floor of a SIP server on this machine: a UDP
// responder that answers every request by sending its own bytes back with
// the request line replaced by a status line and the one or two headers
// SIPp's scenarios check (Via, From, To, Call-ID and CSeq are then those of
// the request, which is all SIPp checks): "200 OK" and an Allow line for
// OPTIONS; for REGISTER a 401 with a digest challenge, and "200 OK" with
// a Contact carrying expires once the REGISTER has credentials (nothing is
// verified, so SIPp's register scenario runs against it too). It uses the
// same batched system calls as the stack (epoll wait, recvmmsg until EAGAIN,
// one sendmmsg per batch) and does no other work, so its CPU time per
// transaction is what any server pays here for the kernel's UDP path and the
// loopback delivery to SIPp. Not a SIP implementation: a measuring stick for
// bench/README.md.
//
//   udp_floor [port]   prints "PORT <n>", runs until SIGINT/SIGTERM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

constexpr int kBatch = 16;
constexpr size_t kMaxDatagram = 65536;
volatile std::sig_atomic_t g_stop = 0;

struct Slots {
  std::array<std::array<char, kMaxDatagram>, kBatch> in{};
  std::array<std::array<char, kMaxDatagram>, kBatch> out{};
  std::array<sockaddr_in, kBatch> peers{};
  std::array<iovec, kBatch> in_iov{}, out_iov{};
  std::array<mmsghdr, kBatch> in_msgs{}, out_msgs{};
};

// The status line and extra headers of the reply to `req`: a REGISTER
// without credentials gets a 401 with an MD5 challenge, one with credentials
// a 200 with a Contact carrying expires (what the REGISTER scenario checks),
// anything else a 200 with the Allow line the OPTIONS scenario checks.
std::string_view status_for(std::string_view req) {
  static constexpr std::string_view kOptions = "SIP/2.0 200 OK\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS";
  static constexpr std::string_view kChallenge =
      "SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"127.0.0.1\", "
      "nonce=\"1733390000.0123456789abcdef0123456789abcdef01234567\", algorithm=MD5, qop=\"auth\"";
  static constexpr std::string_view kRegistered =
      "SIP/2.0 200 OK\r\nContact: <sip:floor@127.0.0.1>;expires=600";
  if (req.substr(0, 9) != "REGISTER ") return kOptions;
  return req.find("\r\nAuthorization:") == std::string_view::npos ? kChallenge : kRegistered;
}

// Builds the reply for datagram i in place; returns its length (0: drop).
size_t reply(const char* req, size_t len, char* out) {
  std::string_view r(req, len);
  size_t eol = r.find("\r\n");
  if (eol == std::string_view::npos || r.substr(0, 4) == "SIP/") return 0;
  std::string_view status = status_for(r);
  size_t n = status.size() + (len - eol);
  if (n > kMaxDatagram) return 0;
  std::memcpy(out, status.data(), status.size());
  std::memcpy(out + status.size(), req + eol, len - eol);
  return n;
}

void drain(int fd, Slots& s) {
  for (;;) {
    for (int i = 0; i < kBatch; ++i) {
      s.in_iov[i] = iovec{s.in[i].data(), kMaxDatagram};
      s.in_msgs[i].msg_hdr = msghdr{};
      s.in_msgs[i].msg_hdr.msg_iov = &s.in_iov[i];
      s.in_msgs[i].msg_hdr.msg_iovlen = 1;
      s.in_msgs[i].msg_hdr.msg_name = &s.peers[i];
      s.in_msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    int n = ::recvmmsg(fd, s.in_msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    int out = 0;
    for (int i = 0; i < n; ++i) {
      size_t len = reply(s.in[i].data(), s.in_msgs[i].msg_len, s.out[out].data());
      if (len == 0) continue;
      s.out_iov[out] = iovec{s.out[out].data(), len};
      s.out_msgs[out].msg_hdr = msghdr{};
      s.out_msgs[out].msg_hdr.msg_iov = &s.out_iov[out];
      s.out_msgs[out].msg_hdr.msg_iovlen = 1;
      s.out_msgs[out].msg_hdr.msg_name = &s.peers[i];
      s.out_msgs[out].msg_hdr.msg_namelen = s.in_msgs[i].msg_hdr.msg_namelen;
      ++out;
    }
    if (out > 0) (void)::sendmmsg(fd, s.out_msgs.data(), static_cast<unsigned>(out), MSG_DONTWAIT);
    if (n < kBatch) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = argc > 1 ? std::atoi(argv[1]) : 0;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int buf = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
    std::perror("udp_floor: bind");
    return 1;
  }
  std::printf("PORT %d\n", ntohs(a.sin_port));
  std::fflush(stdout);
  std::signal(SIGINT, [](int) { g_stop = 1; });
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  int ep = ::epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  static Slots slots;
  while (!g_stop) {
    epoll_event got{};
    if (::epoll_wait(ep, &got, 1, 200) > 0) drain(fd, slots);
  }
  return 0;
}
