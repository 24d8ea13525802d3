// media/rtp_io.h — internal: how one event loop reads its sessions' RTP
// sockets and writes relayed packets (EngineConfig::rtp_io).
//
// Contract shared by the backends (all calls on the loop thread):
//  * add(s) from Session::start() until remove(s) from Session::close(); after
//    remove() returns the backend never touches `s` again (it may outlive it).
//  * Each received datagram is handed to Session::on_datagram with a buffer
//    the backend owns; the session may rewrite it in place and pass it back
//    through queue_send() (a bridge relay) during that call.
//  * queue_send() may defer the send until the end of the current batch; the
//    backend keeps the buffer alive until the kernel has the datagram, counts
//    it with Session::count_sent on success, and drops it (as the network
//    would) when the socket buffer is full. Pacer output (silence, prompts,
//    DTMF) is sent by the session itself, synchronously.
//  * While any session is registered the backend keeps one Asio wait
//    outstanding; with none it cancels it, so an idle loop's io_context can
//    run out of work and its thread end (engine shutdown).
#pragma once

#include <sys/socket.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "media/engine.h"

namespace hotline::media {

class Session;

class RtpIo {
 public:
  virtual ~RtpIo() = default;
  virtual RtpIoBackend kind() const = 0;
  virtual void add(Session& s) = 0;
  virtual void remove(Session& s) = 0;
  // `data` points into the buffer of the datagram being delivered.
  virtual void queue_send(Session& from, std::uint8_t* data, std::size_t size) = 0;
};

// The io_uring backend when `wanted` resolves to it (resolve_rtp_io: for
// `automatic` the environment, else the default, io_uring) and its setup
// succeeds; else epoll. `why` gets the reason io_uring was not used.
std::unique_ptr<RtpIo> make_rtp_io(boost::asio::io_context& io, RtpIoBackend wanted, unsigned uring_buffers,
                                   std::string* why);

// `automatic` resolved against HL_MEDIA_RTP_IO and the built-in default.
RtpIoBackend resolve_rtp_io(RtpIoBackend configured);

// Datagrams read from one socket with one recvmmsg, reused for every socket
// (one drains at a time), so sessions carry no receive buffer of their own.
struct RxBatch {
  static constexpr std::size_t kPackets = 16;
  static constexpr std::size_t kBytes = 2048;  // larger datagrams are truncated and dropped
  RxBatch();
  RxBatch(const RxBatch&) = delete;
  RxBatch& operator=(const RxBatch&) = delete;
  std::array<std::array<std::uint8_t, kBytes>, kPackets> buf{};
  std::array<mmsghdr, kPackets> msg{};
  std::array<iovec, kPackets> iov{};
  std::array<sockaddr_storage, kPackets> addr{};
};

// Relayed packets waiting to leave through one session's socket, sent with
// one sendmmsg. They point into the RxBatch, so the batch is flushed before
// that is refilled.
struct TxBatch {
  Session* target = nullptr;
  std::size_t n = 0;
  std::array<mmsghdr, RxBatch::kPackets> msg{};
  std::array<iovec, RxBatch::kPackets> iov{};
  std::array<sockaddr_storage, RxBatch::kPackets> addr{};
};

// The epoll backend: every RTP socket of the loop in one inner,
// level-triggered epoll set that Asio watches as a single descriptor. One
// wake-up costs one Asio wait and one epoll_wait however many sockets became
// readable; each readable socket is drained with recvmmsg (a short batch
// means the queue is empty, so no read ends in EAGAIN) and the relays of one
// drain leave with one sendmmsg per destination socket.
class EpollRtpIo final : public RtpIo {
 public:
  explicit EpollRtpIo(boost::asio::io_context& io);
  RtpIoBackend kind() const override { return RtpIoBackend::epoll; }
  void add(Session& s) override;
  void remove(Session& s) override;
  void queue_send(Session& from, std::uint8_t* data, std::size_t size) override;

 private:
  void arm();
  void on_ready();
  void drain(Session& s);
  int receive_batch(int fd);
  void flush();
  boost::asio::posix::stream_descriptor epoll_;  // owns the epoll fd
  std::size_t registered_ = 0;
  bool waiting_ = false;  // an Asio wait on the set is outstanding
  RxBatch rx_;
  TxBatch tx_;
};

}  // namespace hotline::media
