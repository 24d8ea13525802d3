// media/uring_io.h — internal: the io_uring RTP backend (contract in rtp_io.h).
// Built only with liburing (HOTLINE_HAVE_LIBURING).
//
// One ring per loop, created on the loop thread. Every registered socket has
// one multishot recvmsg outstanding that picks its buffers from a provided
// buffer ring shared by all the loop's sockets, so a burst across 1000 calls
// is received without a syscall per socket. Asio watches an eventfd the
// ring signals (DEFER_TASKRUN: once per batch of deferred completions) or,
// with other setup flags, the ring's file descriptor; each wake-up reaps every completion, hands the
// datagrams to their sessions, queues their relays as send SQEs and submits them — with the re-armed receives
// and cancellations — in one io_uring_enter, which also runs the ring's task work (posting the next
// completions) and is repeated only while it produced more work. Buffers return to the buffer ring when their
// datagram was handled and, if relayed, its send completed. No allocation per
// packet: slots, buffers and the buffer ring are sized at setup.
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "media/rtp_io.h"

namespace hotline::media {

class UringRtpIo final : public RtpIo {
 public:
  // nullptr, with the reason in `why`, when the kernel refuses a ring, the
  // buffer ring or multishot receive (checked on a socket pair before use).
  // `buffers` is rounded up to a power of two (at least 64).
  static std::unique_ptr<UringRtpIo> create(boost::asio::io_context& io, unsigned buffers, std::string* why);
  ~UringRtpIo() override;
  UringRtpIo(const UringRtpIo&) = delete;
  UringRtpIo& operator=(const UringRtpIo&) = delete;

  RtpIoBackend kind() const override { return RtpIoBackend::io_uring; }
  void add(Session& s) override;
  void remove(Session& s) override;
  void queue_send(Session& from, std::uint8_t* data, std::size_t size) override;

  // IORING_SETUP_* flags the kernel accepted (tests and benchmarks report them).
  unsigned setup_flags() const { return setup_flags_; }

 private:
  static constexpr std::size_t kBufBytes = 2048;                // per datagram, header included
  static constexpr unsigned kNameBytes = sizeof(sockaddr_in6);  // source address space in each buffer
  static constexpr int kGroup = 0;                              // buffer group id

  // One socket's multishot receive. The slot lives until the kernel's last
  // completion for it (no IORING_CQE_F_MORE), so completions that arrive after
  // remove() find `session` null instead of a dangling pointer.
  struct RxSlot {
    Session* session = nullptr;
    std::uint32_t generation = 0;
    bool armed = false;         // a request is live in the kernel
    bool rearm_queued = false;  // listed in rearm_
  };
  // One relayed datagram in flight: the buffer it reads stays referenced
  // until its completion.
  struct TxSlot {
    Session* session = nullptr;  // counted on completion; null once removed
    std::uint32_t buffer = 0;
    std::uint32_t size = 0;
    msghdr msg{};
    iovec iov{};
    sockaddr_storage addr{};
  };

  UringRtpIo(boost::asio::io_context& io, unsigned buffers);
  bool init(unsigned flags, std::string* why);
  bool self_test(std::string* why);
  bool open_wake_fd(std::string* why);
  bool wake_fd_wakes_epoll();
  bool setup_buffer_ring(std::string* why);
  void arm_wait();
  void on_ready();
  unsigned reap();
  void on_receive(const io_uring_cqe& cqe);
  void deliver(Session& s, std::uint32_t buffer, int length);
  void on_send(const io_uring_cqe& cqe);
  bool arm_receive(std::uint32_t slot);
  void rearm_stopped();
  void free_rx_slot(std::uint32_t slot);
  void hold(std::uint32_t buffer) { ++refs_[buffer]; }
  void release(std::uint32_t buffer);
  void publish_buffers();
  io_uring_sqe* next_sqe();
  void enter();
  void post_drain();  // on_ready as a posted handler, at most one queued
  // DEFER_TASKRUN: completion work is queued in the kernel, to be run by an enter.
  bool deferred_work_pending() const;
  void send_now(Session& from, const std::uint8_t* data, std::size_t size);
  std::uint8_t* buffer_at(std::uint32_t i) { return buffers_.get() + i * kBufBytes; }

  io_uring ring_{};
  bool ring_ready_ = false;
  unsigned setup_flags_ = 0;
  // What Asio watches: an eventfd registered with the ring (DEFER_TASKRUN,
  // see flag_sets in the .cpp), else a dup of the ring fd.
  boost::asio::posix::stream_descriptor watch_;
  bool wake_is_eventfd_ = false;
  std::uint64_t wake_count_ = 0;  // eventfd reads land here
  bool waiting_ = false;
  std::size_t registered_ = 0;
  bool in_batch_ = false;  // inside on_ready: submissions wait for its enter
  bool drain_posted_ = false;

  unsigned nbuf_;
  std::unique_ptr<std::uint8_t[]> buffers_;
  io_uring_buf_ring* buf_ring_ = nullptr;
  std::size_t buf_ring_bytes_ = 0;
  std::vector<std::uint16_t> refs_;  // holders of each buffer (delivery, sends)
  unsigned returned_ = 0;            // buffers added to the ring since the last advance
  msghdr recv_template_{};           // name space per buffer; no control data

  std::vector<RxSlot> rx_slots_;
  std::vector<std::uint32_t> free_rx_;
  std::vector<std::uint32_t> rearm_;
  std::uint32_t generation_ = 0;
  std::vector<TxSlot> tx_slots_;
  std::vector<std::uint32_t> free_tx_;
};

}  // namespace hotline::media
