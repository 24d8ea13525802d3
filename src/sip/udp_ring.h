// sip/udp_ring.h — internal: UDP receives through io_uring, for
// TransportManager (contract in transport.h). Built only with liburing
// (HOTLINE_HAVE_LIBURING).
//
// Why: a registrar's traffic is round trips with its clients (REGISTER, 401,
// REGISTER, 200), so a readiness wake-up finds one or two datagrams. With
// epoll each costs a recvmmsg for the data and one more that ends in EAGAIN,
// on machines (virtual ones above all) where a system call costs over a
// microsecond. Here every listener has one multishot recvmsg outstanding
// that fills buffers from a provided buffer ring: the kernel posts each
// datagram to the completion queue as task work of the loop thread, run on
// its next system call (typically the sendmmsg of the previous responses)
// or when it sleeps, and the loop reads it without a system call of its own.
// The owner watches fd() for readiness (posted completions).
//
// Contract: one thread uses the ring at a time, and the receives should be
// armed from the thread that runs the loop (the kernel runs their task work
// on the thread that submitted them). Buffers go back to the kernel as soon
// as the callback returns, so the callback copies what it keeps. Not
// copyable.
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hotline::sip {

class UdpReceiveRing {
 public:
  // One received datagram, valid during the callback.
  struct Datagram {
    std::size_t listener;  // as given to add()
    const char* data;
    std::size_t size;
    const sockaddr* from;
    socklen_t from_len;
    bool truncated;  // longer than max_message: the caller drops it
  };

  // nullptr, with the reason in `why`, when the kernel refuses the ring, the
  // buffer ring or a multishot receive (tried on a loopback socket first).
  static std::unique_ptr<UdpReceiveRing> create(std::size_t max_message, std::string* why);
  ~UdpReceiveRing();
  UdpReceiveRing(const UdpReceiveRing&) = delete;
  UdpReceiveRing& operator=(const UdpReceiveRing&) = delete;

  // Queues a multishot receive on `fd` for listener `listener`; submit()
  // hands it to the kernel.
  void add(int fd, std::size_t listener);
  // Submits what is queued (a system call only when something is).
  void submit();
  // Hands every posted datagram to `on` in arrival order, returns each buffer
  // after its call, and queues a new receive for a listener whose receive
  // ended (no buffer was free, or an ICMP error was reported). Returns the
  // number of completions seen.
  template <class F>
  std::size_t reap(F&& on) {
    std::size_t n = 0;
    unsigned head;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++n;
      if (const auto b = buffer_of(*cqe); b >= 0) {
        Datagram d{};
        if (parse(*cqe, static_cast<unsigned>(b), d)) on(d);
        give_back(static_cast<unsigned>(b));
      }
      if (!(cqe->flags & IORING_CQE_F_MORE)) ended(*cqe);
    }
    io_uring_cq_advance(&ring_, static_cast<unsigned>(n));
    publish_buffers();
    return n;
  }
  // The descriptor to wait on: readable while completions are posted.
  int fd() const { return ring_.ring_fd; }
  // Cancels every receive and waits (briefly) until the kernel let go of
  // the sockets, so their ports are free when this returns.
  void stop();

 private:
  static constexpr unsigned kBuffers = 64;
  static constexpr unsigned kNameBytes = sizeof(sockaddr_in6);  // IPv4 fits too
  static constexpr int kGroup = 0;

  struct Receive {
    int fd = -1;  // -1 once stopped: not re-armed
    bool armed = false;
    int failures = 0;  // receives that ended in an error, in a row
  };

  UdpReceiveRing(std::size_t max_message);
  bool init(unsigned flags, std::string* why);
  bool setup_buffers(std::string* why);
  bool self_test(std::string* why);
  void arm(std::size_t listener);
  static int buffer_of(const io_uring_cqe& cqe) {
    return (cqe.flags & IORING_CQE_F_BUFFER) ? static_cast<int>(cqe.flags >> IORING_CQE_BUFFER_SHIFT) : -1;
  }
  bool parse(const io_uring_cqe& cqe, unsigned buffer, Datagram& d);
  void ended(const io_uring_cqe& cqe);
  void give_back(unsigned buffer);
  void publish_buffers();
  char* buffer_at(unsigned i) { return buffers_.get() + i * stride_; }

  io_uring ring_{};
  bool ring_ready_ = false;
  std::size_t max_message_;
  std::size_t buffer_bytes_;  // what the kernel may fill: header, name, payload
  std::size_t stride_;        // distance between buffers
  std::unique_ptr<char[]> buffers_;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  unsigned returned_ = 0;  // buffers added since the last publish
  msghdr template_{};      // name space per buffer, no control data
  std::vector<Receive> receives_;
  bool pending_ = false;  // SQEs queued
};

}  // namespace hotline::sip
