#include "media/uring_io.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "media/session.h"

namespace hotline::media {

namespace asio = boost::asio;

namespace {

// user_data: kind in the top two bits; receives carry slot and generation.
constexpr std::uint64_t kRecv = 1ull << 62;
constexpr std::uint64_t kSend = 2ull << 62;
constexpr std::uint64_t kIgnore = 3ull << 62;  // cancellations, self-test
constexpr std::uint64_t kKindMask = 3ull << 62;
constexpr unsigned kSqEntries = 1024;
// Rounds of reap + enter per wake-up before other handlers (timers) get a turn.
constexpr int kMaxRounds = 8;

std::uint64_t recv_tag(std::uint32_t slot, std::uint32_t generation) {
  return kRecv | (static_cast<std::uint64_t>(slot & 0x3fffffffu) << 32) | generation;
}

std::string errno_text(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

// Setup flags in order of preference, each later set dropping what an older
// kernel may refuse. SINGLE_ISSUER lets the kernel skip locking.
// DEFER_TASKRUN queues a completion's work on the ring until the loop enters
// it: a datagram arriving while the loop sleeps signals the ring's eventfd
// only when that queue goes from empty to non-empty (one wake-up per batch,
// not per packet) and never interrupts the thread; the work then runs in
// the loop's own io_uring_enter. The ring fd itself does not wake an epoll
// waiter for deferred work, so with DEFER_TASKRUN Asio watches a registered
// eventfd instead. COOP_TASKRUN avoids an IPI per completion, but each
// completion still interrupts a sleeping loop (EINTR out of epoll_wait).
// HL_MEDIA_URING_SETUP=defer|coop|plain pins one kind (for measurements).
std::vector<unsigned> flag_sets() {
  // TASKRUN_FLAG: the kernel marks deferred work in the SQ flags, so work
  // that arrived while the eventfd was muted (see on_ready) is not missed.
  const unsigned defer = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  const unsigned coop_single = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  const unsigned coop = IORING_SETUP_COOP_TASKRUN;
  const char* env = std::getenv("HL_MEDIA_URING_SETUP");
  const std::string_view pin = env ? env : "";
  if (pin == "defer") return {defer};
  if (pin == "coop") return {coop_single, coop};
  if (pin == "plain") return {0};
  return {defer, coop_single, coop, 0};
}

unsigned round_up_pow2(unsigned n) {
  unsigned p = 64;
  while (p < n && p < 32768) p <<= 1;
  return p;
}

}  // namespace

std::unique_ptr<UringRtpIo> UringRtpIo::create(asio::io_context& io, unsigned buffers, std::string* why) {
  std::string last = "no io_uring setup flags to try";
  for (const unsigned flags : flag_sets()) {
    std::unique_ptr<UringRtpIo> r(new UringRtpIo(io, buffers));
    if (r->init(flags, &last)) return r;
  }
  if (why) *why = last;
  return nullptr;
}

UringRtpIo::UringRtpIo(asio::io_context& io, unsigned buffers) : watch_(io), nbuf_(round_up_pow2(buffers)) {}

UringRtpIo::~UringRtpIo() {
  boost::system::error_code ec;
  watch_.close(ec);  // a dup of the ring fd would keep the ring alive
  if (ring_ready_) io_uring_queue_exit(&ring_);
  if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
}

bool UringRtpIo::init(unsigned flags, std::string* why) {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_CQSIZE;
  // Every buffer can be one receive and one send completion; at least the
  // SQ size, as the kernel requires.
  p.cq_entries = std::max(nbuf_ * 2, kSqEntries * 2);
  const int rc = io_uring_queue_init_params(kSqEntries, &ring_, &p);
  if (rc < 0) {
    *why = errno_text("io_uring_queue_init", -rc);
    return false;
  }
  ring_ready_ = true;
  setup_flags_ = flags;
  recv_template_.msg_namelen = kNameBytes;
  if (!setup_buffer_ring(why) || !open_wake_fd(why) || !self_test(why)) return false;
  tx_slots_.resize(nbuf_);
  free_tx_.reserve(nbuf_);
  for (std::uint32_t i = nbuf_; i > 0; --i) free_tx_.push_back(i - 1);
  return true;
}

bool UringRtpIo::open_wake_fd(std::string* why) {
  int fd = -1;
  if (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) {
    fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
      *why = errno_text("eventfd", errno);
      return false;
    }
    const int rc = io_uring_register_eventfd(&ring_, fd);
    if (rc < 0) {
      ::close(fd);
      *why = errno_text("io_uring_register_eventfd", -rc);
      return false;
    }
    wake_is_eventfd_ = true;
  } else {
    fd = ::fcntl(ring_.ring_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      *why = errno_text("dup ring fd", errno);
      return false;
    }
  }
  watch_.assign(fd);
  return true;
}

bool UringRtpIo::setup_buffer_ring(std::string* why) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  buf_ring_bytes_ = (nbuf_ * sizeof(io_uring_buf) + page - 1) / page * page;
  void* mem = ::mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (mem == MAP_FAILED) {
    *why = errno_text("mmap buffer ring", errno);
    return false;
  }
  buf_ring_ = static_cast<io_uring_buf_ring*>(mem);
  io_uring_buf_ring_init(buf_ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem);
  reg.ring_entries = nbuf_;
  reg.bgid = kGroup;
  const int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (rc < 0) {
    *why = errno_text("io_uring_register_buf_ring", -rc);
    return false;
  }
  buffers_ = std::make_unique_for_overwrite<std::uint8_t[]>(nbuf_ * kBufBytes);
  refs_.assign(nbuf_, 1);
  for (std::uint32_t i = 0; i < nbuf_; ++i) release(i);
  publish_buffers();
  return true;
}

// Multishot recvmsg with a provided buffer needs kernel 6.0, and Asio relies
// on the ring fd waking poll when a datagram completes (with every flag set):
// try both on a loopback socket pair before the loop uses the ring.
bool UringRtpIo::self_test(std::string* why) {
  const int rx = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int tx = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  bool ok = rx >= 0 && tx >= 0 && ::bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
            ::getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (ok) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_recvmsg_multishot(sqe, rx, &recv_template_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kGroup;
    io_uring_sqe_set_data64(sqe, kIgnore | 1);
    ok = io_uring_submit(&ring_) == 1;
  }
  // The datagram comes from another thread once this one sleeps in epoll on
  // the descriptor Asio will watch, as the loop will: a completion already
  // pending when the wait starts would not prove the wake-up. (poll() would:
  // it re-polls the ring whenever the thread is woken, epoll only reports
  // what the descriptor's wait queue signalled.)
  std::thread sender;
  if (ok) {
    sender = std::thread([tx, a] {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      (void)::sendto(tx, "x", 1, 0, reinterpret_cast<const sockaddr*>(&a), sizeof a);
    });
  }
  ok = ok && wake_fd_wakes_epoll();
  if (sender.joinable()) sender.join();
  if (ok) (void)io_uring_get_events(&ring_);
  io_uring_cqe* cqe = nullptr;
  ok = ok && io_uring_peek_cqe(&ring_, &cqe) == 0 && cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER) &&
       (cqe->flags & IORING_CQE_F_MORE);
  if (cqe != nullptr) {
    if (cqe->flags & IORING_CQE_F_BUFFER) release(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    io_uring_cqe_seen(&ring_, cqe);
  }
  publish_buffers();
  // Cancel and wait for the request's end, so the test socket is really closed.
  io_uring_sqe* cancel = io_uring_get_sqe(&ring_);
  io_uring_prep_cancel64(cancel, kIgnore | 1, 0);
  io_uring_sqe_set_data64(cancel, kIgnore | 2);
  (void)io_uring_submit_and_get_events(&ring_);
  __kernel_timespec ts{0, 100'000'000};
  bool cancelled = false, ended = false;
  while (!(cancelled && ended) && io_uring_wait_cqe_timeout(&ring_, &cqe, &ts) == 0) {
    cancelled = cancelled || cqe->user_data == (kIgnore | 2);
    ended = ended || (cqe->user_data == (kIgnore | 1) && !(cqe->flags & IORING_CQE_F_MORE));
    if (cqe->flags & IORING_CQE_F_BUFFER) release(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    io_uring_cqe_seen(&ring_, cqe);
  }
  publish_buffers();
  if (rx >= 0) ::close(rx);
  if (tx >= 0) ::close(tx);
  if (!ok)
    *why = "io_uring multishot recvmsg self-test failed (setup flags " + std::to_string(setup_flags_) + ")";
  return ok;
}

bool UringRtpIo::wake_fd_wakes_epoll() {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;  // as Asio registers descriptors
  bool ok = ep >= 0 && ::epoll_ctl(ep, EPOLL_CTL_ADD, watch_.native_handle(), &ev) == 0;
  // Without DEFER_TASKRUN the completion's task work interrupts the wait
  // (EINTR) and, run on the way out, posts the CQE that readies the ring fd;
  // Asio retries after EINTR just like this. With DEFER_TASKRUN the eventfd
  // is signalled and the work waits for io_uring_get_events below.
  int n = -1;
  for (int tries = 0; ok && tries < 8; ++tries) {
    n = ::epoll_wait(ep, &ev, 1, 500);
    if (n >= 0 || errno != EINTR) break;
  }
  if (ep >= 0) ::close(ep);
  return ok && n == 1;
}

// ---- registration ------------------------------------------------------------------

void UringRtpIo::add(Session& s) {
  std::uint32_t slot;
  if (!free_rx_.empty()) {
    slot = free_rx_.back();
    free_rx_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(rx_slots_.size());
    rx_slots_.emplace_back();
    // Sized with the slots, so the hot path never grows them.
    free_rx_.reserve(rx_slots_.size());
    rearm_.reserve(rx_slots_.size());
  }
  rx_slots_[slot] = RxSlot{&s, ++generation_, false, false};
  s.rtp_io_slot = slot;
  if (!arm_receive(slot)) {
    rx_slots_[slot].rearm_queued = true;
    rearm_.push_back(slot);
  }
  if (!in_batch_) enter();
  ++registered_;
  if (!waiting_) arm_wait();
}

void UringRtpIo::remove(Session& s) {
  const std::uint32_t slot = s.rtp_io_slot;
  if (slot >= rx_slots_.size() || rx_slots_[slot].session != &s) return;
  // Queued sends name the socket's fd, which the session closes next.
  if (io_uring_sq_ready(&ring_) > 0) enter();
  for (TxSlot& t : tx_slots_) {
    if (t.session == &s) t.session = nullptr;
  }
  RxSlot& r = rx_slots_[slot];
  r.session = nullptr;
  if (r.armed) {
    // The request holds the socket open: cancel it now, so closing the
    // socket frees the port at once. Its last completion frees the slot.
    if (io_uring_sqe* sqe = next_sqe()) {
      io_uring_prep_cancel64(sqe, recv_tag(slot, r.generation), 0);
      io_uring_sqe_set_data64(sqe, kIgnore);
    }
    enter();
  } else if (!r.rearm_queued) {
    free_rx_slot(slot);
  }
  if (--registered_ == 0 && waiting_) {
    boost::system::error_code ec;
    watch_.cancel(ec);
  }
}

void UringRtpIo::free_rx_slot(std::uint32_t slot) {
  rx_slots_[slot] = RxSlot{};
  free_rx_.push_back(slot);
}

bool UringRtpIo::arm_receive(std::uint32_t slot) {
  RxSlot& r = rx_slots_[slot];
  io_uring_sqe* sqe = next_sqe();
  if (sqe == nullptr) return false;
  io_uring_prep_recvmsg_multishot(sqe, r.session->rtp_fd(), &recv_template_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = kGroup;
  io_uring_sqe_set_data64(sqe, recv_tag(slot, r.generation));
  r.armed = true;
  return true;
}

void UringRtpIo::rearm_stopped() {
  std::size_t kept = 0;
  for (const std::uint32_t slot : rearm_) {
    RxSlot& r = rx_slots_[slot];
    if (r.session == nullptr) {
      r.rearm_queued = false;
      if (!r.armed) free_rx_slot(slot);
    } else if (arm_receive(slot)) {
      r.rearm_queued = false;
    } else {
      rearm_[kept++] = slot;  // no SQE now: next round
    }
  }
  rearm_.resize(kept);
}

// ---- the loop's batch -----------------------------------------------------------------

void UringRtpIo::arm_wait() {
  waiting_ = true;
  auto on_wake = [this](const boost::system::error_code& ec, std::size_t = 0) {
    waiting_ = false;
    if (!ec) on_ready();
    if (registered_ > 0 && !waiting_) arm_wait();
  };
  if (wake_is_eventfd_) {
    // A read, not a wait: Asio tries it at once, so a signal that came while
    // the last batch ran (and found no wait queued) is not lost, and it
    // resets the counter.
    watch_.async_read_some(asio::buffer(&wake_count_, sizeof wake_count_), on_wake);
  } else {
    watch_.async_wait(asio::posix::stream_descriptor::wait_read, on_wake);
  }
}

void UringRtpIo::on_ready() {
  in_batch_ = true;
  drain_posted_ = false;
  const bool deferred = (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) != 0;
  // The kernel signals the eventfd for every enter that posts completions,
  // our own sends' included: muted while the batch runs, or each batch would
  // wake the loop again for completions it reaps itself.
  if (deferred) (void)io_uring_cq_eventfd_toggle(&ring_, false);
  bool settled = false;
  for (int round = 0; round < kMaxRounds && !settled; ++round) {
    const unsigned reaped = reap();
    rearm_stopped();
    // Done when nothing is left to submit and no completion is still on its
    // way. Without DEFER_TASKRUN completions were posted before this wake-up,
    // so a round that found some (or followed an enter) ends the batch. With
    // it they are posted only inside our enter, and the kernel runs a bounded
    // number of deferred items per enter (about 20), keeping the rest without
    // signalling the eventfd again: the SQ ring's TASKRUN flag, set while any
    // deferred work waits, decides.
    const bool nothing_to_submit = io_uring_sq_ready(&ring_) == 0;
    settled = nothing_to_submit && (deferred ? !deferred_work_pending() : reaped > 0 || round > 0);
    if (!settled) enter();
  }
  in_batch_ = false;
  // A flood outlasted the rounds: continue after the handlers waiting
  // meanwhile (the eventfd stays muted, the posted batch unmutes it).
  if (!settled) {
    post_drain();
    return;
  }
  if (deferred) {
    (void)io_uring_cq_eventfd_toggle(&ring_, true);
    // Work deferred while muted signalled nothing, and later work signals
    // only if that was run: the kernel's flag tells. The fence orders the
    // unmute before the read, as the kernel orders its flag before the signal.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (deferred_work_pending() || io_uring_cq_ready(&ring_) > 0) post_drain();
  }
}

bool UringRtpIo::deferred_work_pending() const {
  return (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN) != 0;
}

void UringRtpIo::post_drain() {
  if (drain_posted_) return;
  drain_posted_ = true;
  asio::post(watch_.get_executor(), [this] { on_ready(); });
}

void UringRtpIo::enter() {
  publish_buffers();
  // Submits what is queued and, with GETEVENTS, runs the ring's pending task
  // work so completions are posted. A failure (EINTR, EBUSY while the CQ
  // overflows) leaves the SQEs queued for the next round.
  (void)io_uring_submit_and_get_events(&ring_);
  // Outside a batch (add, remove, a send from a timer) a DEFER_TASKRUN enter
  // may have run deferred receives whose eventfd signal was already used up:
  // reap them soon rather than at the next signal.
  if (!in_batch_ && (setup_flags_ & IORING_SETUP_DEFER_TASKRUN) && io_uring_cq_ready(&ring_) > 0)
    post_drain();
}

io_uring_sqe* UringRtpIo::next_sqe() {
  if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
  publish_buffers();
  (void)io_uring_submit(&ring_);  // SQ full: hand over what is queued and go on
  return io_uring_get_sqe(&ring_);
}

unsigned UringRtpIo::reap() {
  unsigned n = 0;
  unsigned head;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++n;
    const std::uint64_t kind = cqe->user_data & kKindMask;
    if (kind == kRecv) {
      on_receive(*cqe);
    } else if (kind == kSend) {
      on_send(*cqe);
    }
  }
  io_uring_cq_advance(&ring_, n);
  return n;
}

void UringRtpIo::on_receive(const io_uring_cqe& cqe) {
  const auto slot = static_cast<std::uint32_t>((cqe.user_data >> 32) & 0x3fffffffu);
  const auto generation = static_cast<std::uint32_t>(cqe.user_data);
  if (slot >= rx_slots_.size() || rx_slots_[slot].generation != generation) return;  // slots outlive requests
  if (cqe.flags & IORING_CQE_F_BUFFER) {
    const std::uint32_t b = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
    refs_[b] = 1;
    if (Session* s = rx_slots_[slot].session; s != nullptr && cqe.res > 0) deliver(*s, b, cqe.res);
    release(b);
  }
  if (cqe.flags & IORING_CQE_F_MORE) return;
  // The request ended: buffers ran out (ENOBUFS), an error was reported
  // (ICMP port unreachable) or it was cancelled. Re-armed after this round
  // returned its buffers, unless the session is gone.
  RxSlot& r = rx_slots_[slot];
  r.armed = false;
  if (r.rearm_queued) return;
  if (r.session == nullptr) {
    free_rx_slot(slot);
    return;
  }
  r.rearm_queued = true;
  rearm_.push_back(slot);
}

void UringRtpIo::deliver(Session& s, std::uint32_t b, int length) {
  if (s.closed()) return;
  io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer_at(b), length, &recv_template_);
  if (out == nullptr) return;
  if (out->flags & MSG_TRUNC) {
    s.on_oversized_datagram();
    return;
  }
  auto* payload = static_cast<std::uint8_t*>(io_uring_recvmsg_payload(out, &recv_template_));
  const unsigned size = io_uring_recvmsg_payload_length(out, length, &recv_template_);
  const auto name_len = static_cast<socklen_t>(std::min<unsigned>(out->namelen, kNameBytes));
  s.on_datagram(payload, size, static_cast<const sockaddr*>(io_uring_recvmsg_name(out)), name_len,
                s.clock_now());
}

void UringRtpIo::on_send(const io_uring_cqe& cqe) {
  const auto i = static_cast<std::uint32_t>(cqe.user_data);
  TxSlot& t = tx_slots_[i];
  // A failed send (full socket buffer, ICMP error) drops the packet, as the network would.
  if (t.session != nullptr && cqe.res >= 0) t.session->count_sent(t.size);
  t.session = nullptr;
  release(t.buffer);
  free_tx_.push_back(i);
}

// ---- sends and buffers -------------------------------------------------------------

void UringRtpIo::queue_send(Session& from, std::uint8_t* data, std::size_t size) {
  const auto base = reinterpret_cast<std::uintptr_t>(buffers_.get());
  const auto at = reinterpret_cast<std::uintptr_t>(data);
  io_uring_sqe* sqe = nullptr;
  if (at < base || at >= base + nbuf_ * kBufBytes || free_tx_.empty() || (sqe = next_sqe()) == nullptr) {
    send_now(from, data, size);  // not one of our buffers, or out of slots: plain send
    return;
  }
  const std::uint32_t i = free_tx_.back();
  free_tx_.pop_back();
  TxSlot& t = tx_slots_[i];
  t.session = &from;
  t.buffer = static_cast<std::uint32_t>((at - base) / kBufBytes);
  t.size = static_cast<std::uint32_t>(size);
  hold(t.buffer);
  // MSG_DONTWAIT: a full socket buffer fails the send (dropped) instead of
  // parking it in the ring. A connected socket needs no address (plain send).
  const socklen_t len = from.send_address(t.addr);
  if (len == 0) {
    io_uring_prep_send(sqe, from.rtp_fd(), data, size, MSG_DONTWAIT);
  } else {
    t.iov = iovec{data, size};
    t.msg = msghdr{};
    t.msg.msg_name = &t.addr;
    t.msg.msg_namelen = len;
    t.msg.msg_iov = &t.iov;
    t.msg.msg_iovlen = 1;
    io_uring_prep_sendmsg(sqe, from.rtp_fd(), &t.msg, MSG_DONTWAIT);
  }
  io_uring_sqe_set_data64(sqe, kSend | i);
  if (!in_batch_) enter();  // outside a batch nobody else would submit it
}

void UringRtpIo::send_now(Session& from, const std::uint8_t* data, std::size_t size) {
  sockaddr_storage addr;
  const socklen_t len = from.send_address(addr);
  const ssize_t r = len == 0 ? ::send(from.rtp_fd(), data, size, MSG_DONTWAIT)
                             : ::sendto(from.rtp_fd(), data, size, MSG_DONTWAIT,
                                        reinterpret_cast<const sockaddr*>(&addr), len);
  if (r >= 0) from.count_sent(size);
}

void UringRtpIo::release(std::uint32_t b) {
  if (--refs_[b] != 0) return;
  io_uring_buf_ring_add(buf_ring_, buffer_at(b), kBufBytes, static_cast<unsigned short>(b),
                        io_uring_buf_ring_mask(nbuf_), static_cast<int>(returned_++));
}

void UringRtpIo::publish_buffers() {
  if (returned_ == 0) return;
  io_uring_buf_ring_advance(buf_ring_, static_cast<int>(returned_));
  returned_ = 0;
}

}  // namespace hotline::media
