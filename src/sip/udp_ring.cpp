#include "sip/udp_ring.h"

#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hotline::sip {

namespace {

// user_data of a receive is its listener's index; cancellations are tagged.
constexpr std::uint64_t kCancel = 1ull << 63;
constexpr unsigned kSqEntries = 64;
// A receive that keeps failing at once (not for want of buffers) is not
// re-armed forever: after this many failures in a row without a datagram.
constexpr int kMaxFailures = 16;

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

// Setup flags in order of preference. COOP_TASKRUN: a datagram arriving
// while the loop runs does not interrupt it (no IPI); its task work runs on
// the loop's next system call.
constexpr unsigned kFlagSets[] = {IORING_SETUP_COOP_TASKRUN, 0};

}  // namespace

std::unique_ptr<UdpReceiveRing> UdpReceiveRing::create(std::size_t max_message, std::string* why) {
  std::string last;
  for (unsigned flags : kFlagSets) {
    std::unique_ptr<UdpReceiveRing> r(new UdpReceiveRing(max_message));
    if (r->init(flags, &last)) return r;
  }
  if (why) *why = last;
  return nullptr;
}

UdpReceiveRing::UdpReceiveRing(std::size_t max_message)
    : max_message_(max_message),
      buffer_bytes_(sizeof(io_uring_recvmsg_out) + kNameBytes + max_message),
      // 17 cache lines more than a multiple of 64 bytes, so buffers do not
      // all map to the same cache sets (see the epoll path's slots).
      stride_((buffer_bytes_ + 63) / 64 * 64 + 17 * 64) {}

UdpReceiveRing::~UdpReceiveRing() {
  stop();
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
}

bool UdpReceiveRing::init(unsigned flags, std::string* why) {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_CQSIZE;
  p.cq_entries = kBuffers * 4;  // a datagram holds a buffer until reaped: no overflow
  if (int rc = io_uring_queue_init_params(kSqEntries, &ring_, &p); rc < 0) {
    *why = errno_text("io_uring_queue_init", -rc);
    return false;
  }
  ring_ready_ = true;
  template_.msg_namelen = kNameBytes;
  return setup_buffers(why) && self_test(why);
}

bool UdpReceiveRing::setup_buffers(std::string* why) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  buf_ring_bytes_ = (kBuffers * sizeof(io_uring_buf) + page - 1) / page * page;
  void* mem = ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *why = errno_text("mmap buffer ring", errno);
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
  reg.ring_entries = kBuffers;
  reg.bgid = kGroup;
  if (int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc < 0) {
    *why = errno_text("io_uring_register_buf_ring", -rc);
    return false;
  }
  // Untouched until the kernel writes a datagram: only the first pages of
  // each buffer are ever resident with usual message sizes.
  buffers_ = std::make_unique_for_overwrite<char[]>(kBuffers * stride_);
  for (unsigned i = 0; i < kBuffers; ++i) give_back(i);
  publish_buffers();
  return true;
}

// Multishot recvmsg with provided buffers needs Linux 6.0, and the owner
// relies on a posted completion waking an edge-triggered epoll wait on the
// ring's descriptor (as Asio registers descriptors): both are tried on a
// loopback socket before the ring is used.
bool UdpReceiveRing::self_test(std::string* why) {
  const int rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bool ok = rx >= 0 && tx >= 0 && ep >= 0 && ::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (ok) {
    add(rx, 0);
    submit();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET;
    ok = ::epoll_ctl(ep, EPOLL_CTL_ADD, fd(), &ev) == 0 &&
         ::sendto(tx, "x", 1, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 1;
    int n = -1;
    for (int tries = 0; ok && tries < 8; ++tries) {
      n = ::epoll_wait(ep, &ev, 1, 500);
      if (n >= 0 || errno != EINTR) break;
    }
    ok = ok && n == 1;
  }
  bool received = false;
  if (ok) {
    reap([&](const Datagram& d) { received = d.size == 1 && d.data[0] == 'x'; });
    ok = received && receives_[0].armed;  // still armed: the receive is multishot
  }
  stop();
  receives_.clear();
  if (ep >= 0) ::close(ep);
  if (rx >= 0) ::close(rx);
  if (tx >= 0) ::close(tx);
  if (!ok) *why = "io_uring multishot recvmsg self-test failed";
  return ok;
}

void UdpReceiveRing::add(int fd, std::size_t listener) {
  if (receives_.size() <= listener) receives_.resize(listener + 1);
  receives_[listener] = Receive{fd, false, 0};
  arm(listener);
}

void UdpReceiveRing::arm(std::size_t listener) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    submit();  // SQ full: hand over what is queued
    sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) return;
  }
  io_uring_prep_recvmsg_multishot(sqe, receives_[listener].fd, &template_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kGroup;
  io_uring_sqe_set_data64(sqe, listener);
  receives_[listener].armed = true;
  pending_ = true;
}

void UdpReceiveRing::submit() {
  if (!pending_) return;
  pending_ = false;
  // A failure (EINTR, EBUSY while completions overflow) leaves the SQEs
  // queued: retried with the next submit.
  if (io_uring_submit(&ring_) < 0) pending_ = true;
}

bool UdpReceiveRing::parse(const io_uring_cqe& cqe, unsigned buffer, Datagram& d) {
  if (cqe.res <= 0 || (cqe.user_data & kCancel) || cqe.user_data >= receives_.size()) return false;
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer_at(buffer), cqe.res, &template_);
  if (out == nullptr) return false;
  receives_[cqe.user_data].failures = 0;
  d.listener = static_cast<std::size_t>(cqe.user_data);
  d.data = static_cast<const char*>(io_uring_recvmsg_payload(out, &template_));
  d.size = io_uring_recvmsg_payload_length(out, cqe.res, &template_);
  d.from = static_cast<const sockaddr*>(io_uring_recvmsg_name(out));
  d.from_len = std::min<socklen_t>(out->namelen, kNameBytes);
  d.truncated = (out->flags & MSG_TRUNC) != 0;
  return true;
}

// A receive ended: for want of a free buffer (ENOBUFS: re-armed now that
// this reap returns buffers; queued datagrams wait in the socket), after an
// error, or because stop() cancelled it (its fd is then -1).
void UdpReceiveRing::ended(const io_uring_cqe& cqe) {
  if ((cqe.user_data & kCancel) || cqe.user_data >= receives_.size()) return;
  Receive& r = receives_[cqe.user_data];
  r.armed = false;
  if (r.fd < 0) return;
  if (cqe.res < 0 && cqe.res != -ENOBUFS && ++r.failures >= kMaxFailures) return;
  arm(static_cast<std::size_t>(cqe.user_data));
}

void UdpReceiveRing::give_back(unsigned buffer) {
  io_uring_buf_ring_add(buf_ring_, buffer_at(buffer), static_cast<unsigned>(buffer_bytes_),
                        static_cast<unsigned short>(buffer), io_uring_buf_ring_mask(kBuffers),
                        static_cast<int>(returned_++));
}

void UdpReceiveRing::publish_buffers() {
  if (returned_ == 0) return;
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(returned_));
  returned_ = 0;
}

void UdpReceiveRing::stop() {
  if (!ring_ready_) return;
  bool any = false;
  for (std::size_t i = 0; i < receives_.size(); ++i) {
    Receive& r = receives_[i];
    r.fd = -1;
    if (!r.armed) continue;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      (void)io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    if (sqe == nullptr) continue;
    io_uring_prep_cancel64(sqe, i, 0);
    io_uring_sqe_set_data64(sqe, kCancel | i);
    any = true;
  }
  if (!any) return;
  pending_ = true;
  submit();
  // Wait for each receive's last completion: until then the request holds
  // its socket (and port) open.
  __kernel_timespec ts{0, 100'000'000};
  auto armed = [&] {
    return std::any_of(receives_.begin(), receives_.end(), [](const Receive& r) { return r.armed; });
  };
  io_uring_cqe* cqe = nullptr;
  while (armed() && io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) == 0) reap([](const Datagram&) {});
}

}  // namespace hotline::sip
