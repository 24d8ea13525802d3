#include "media/rtp_io.h"

#include <sys/epoll.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "media/session.h"
#ifdef HOTLINE_HAVE_LIBURING
#include "media/uring_io.h"
#endif

namespace hotline::media {

namespace asio = boost::asio;

// ---- backend choice -----------------------------------------------------------

const char* to_string(RtpIoBackend b) {
  switch (b) {
    case RtpIoBackend::automatic:
      return "auto";
    case RtpIoBackend::epoll:
      return "epoll";
    case RtpIoBackend::io_uring:
      return "io_uring";
  }
  return "?";
}

std::optional<RtpIoBackend> parse_rtp_io_backend(std::string_view s) {
  if (s == "auto") return RtpIoBackend::automatic;
  if (s == "epoll") return RtpIoBackend::epoll;
  if (s == "io_uring") return RtpIoBackend::io_uring;
  return std::nullopt;
}

RtpIoBackend resolve_rtp_io(RtpIoBackend configured) {
  // The built-in default when nothing asks otherwise (see EngineConfig::rtp_io).
  // io_uring: cheaper per relayed packet in every paired run (bench/README.md,
  // Media), and make_rtp_io falls back to epoll where its setup fails.
  constexpr RtpIoBackend kDefault = RtpIoBackend::io_uring;
  if (configured != RtpIoBackend::automatic) return configured;
  const char* env = std::getenv("HL_MEDIA_RTP_IO");
  const auto from_env = env ? parse_rtp_io_backend(env) : std::nullopt;
  if (from_env && *from_env != RtpIoBackend::automatic) return *from_env;
  return kDefault;
}

std::unique_ptr<RtpIo> make_rtp_io(asio::io_context& io, RtpIoBackend wanted, unsigned uring_buffers,
                                   std::string* why) {
  if (resolve_rtp_io(wanted) == RtpIoBackend::io_uring) {
#ifdef HOTLINE_HAVE_LIBURING
    if (auto uring = UringRtpIo::create(io, uring_buffers, why)) return uring;
#else
    (void)uring_buffers;
    if (why) *why = "built without liburing";
#endif
  }
  return std::make_unique<EpollRtpIo>(io);
}

// ---- epoll backend ---------------------------------------------------------------

RxBatch::RxBatch() {
  for (std::size_t i = 0; i < kPackets; ++i) {
    iov[i] = iovec{buf[i].data(), kBytes};
    msg[i].msg_hdr.msg_iov = &iov[i];
    msg[i].msg_hdr.msg_iovlen = 1;
    msg[i].msg_hdr.msg_name = &addr[i];
  }
}

EpollRtpIo::EpollRtpIo(asio::io_context& io) : epoll_(io, ::epoll_create1(EPOLL_CLOEXEC)) {}

void EpollRtpIo::add(Session& s) {
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: a socket left undrained is reported again
  ev.data.ptr = &s;
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, s.rtp_fd(), &ev) != 0) return;
  ++registered_;
  if (!waiting_) arm();
}

void EpollRtpIo::remove(Session& s) {
  if (tx_.target == &s) flush();
  if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, s.rtp_fd(), nullptr) != 0) return;
  if (--registered_ == 0 && waiting_) {
    boost::system::error_code ec;
    epoll_.cancel(ec);
  }
}

void EpollRtpIo::arm() {
  waiting_ = true;
  epoll_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    waiting_ = false;
    if (!ec) on_ready();
    if (registered_ > 0 && !waiting_) arm();
  });
}

void EpollRtpIo::on_ready() {
  std::array<epoll_event, 64> ev;
  const int n = ::epoll_wait(epoll_.native_handle(), ev.data(), static_cast<int>(ev.size()), 0);
  // Sessions are closed (and removed) only by their own posted handlers, never
  // while this batch runs, so every pointer here is alive.
  for (int i = 0; i < n; ++i) drain(*static_cast<Session*>(ev[static_cast<std::size_t>(i)].data.ptr));
}

// Drains what is queued, RxBatch::kPackets datagrams per syscall; a short
// batch means the queue is empty, so no extra read ends in EAGAIN. Bounded,
// so one busy socket cannot starve the loop (the level-triggered set reports
// a socket with datagrams left again on its next round).
void EpollRtpIo::drain(Session& s) {
  if (s.closed()) return;
  const common::SteadyTime now = s.clock_now();
  for (int round = 0; round < 2; ++round) {
    const int n = receive_batch(s.rtp_fd());
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EBADF) break;
      continue;  // e.g. ECONNREFUSED reported for an earlier send: consumed, keep reading
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(n) && !s.closed(); ++i) {
      const msghdr& h = rx_.msg[i].msg_hdr;
      if ((h.msg_flags & MSG_TRUNC) != 0) {
        s.on_oversized_datagram();
        continue;
      }
      s.on_datagram(rx_.buf[i].data(), rx_.msg[i].msg_len, static_cast<const sockaddr*>(h.msg_name),
                    h.msg_namelen, now);
    }
    flush();  // before the next recvmmsg reuses the buffers
    if (s.closed() || static_cast<std::size_t>(n) < RxBatch::kPackets) break;
  }
}

int EpollRtpIo::receive_batch(int fd) {
  for (auto& m : rx_.msg) {
    m.msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    m.msg_hdr.msg_flags = 0;
  }
  return ::recvmmsg(fd, rx_.msg.data(), RxBatch::kPackets, MSG_DONTWAIT, nullptr);
}

void EpollRtpIo::queue_send(Session& from, std::uint8_t* data, std::size_t size) {
  if (tx_.target != &from || tx_.n == tx_.msg.size()) flush();
  tx_.target = &from;
  const std::size_t i = tx_.n++;
  tx_.iov[i] = iovec{data, size};
  msghdr& h = tx_.msg[i].msg_hdr;
  h = msghdr{};
  h.msg_iov = &tx_.iov[i];
  h.msg_iovlen = 1;
  const socklen_t len = from.send_address(tx_.addr[i]);
  if (len > 0) {  // a connected socket has its destination already
    h.msg_name = &tx_.addr[i];
    h.msg_namelen = len;
  }
}

void EpollRtpIo::flush() {
  Session* target = std::exchange(tx_.target, nullptr);
  const std::size_t n = std::exchange(tx_.n, 0);
  std::size_t done = 0;
  while (target != nullptr && done < n) {
    const int r =
        ::sendmmsg(target->rtp_fd(), tx_.msg.data() + done, static_cast<unsigned>(n - done), MSG_DONTWAIT);
    if (r < 0) {
      // A full socket buffer drops the rest, as the network would; another
      // error (ICMP port unreachable reported late) costs only this packet.
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EBADF) return;
      ++done;
      continue;
    }
    for (std::size_t i = done; i < done + static_cast<std::size_t>(r); ++i)
      target->count_sent(tx_.msg[i].msg_len);
    done += static_cast<std::size_t>(r);
  }
}

}  // namespace hotline::media
