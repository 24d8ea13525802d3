#include "sip/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <deque>

#include "sip/message.h"

namespace hotline::sip {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using common::Error;

// One UDP listener. Receives are batched: one readiness wake-up drains the
// socket with recvmmsg() into kBatch preallocated slots, so a burst costs
// one epoll round trip and one system call per kBatch datagrams instead of
// a recvfrom and a completion handler each.
struct TransportManager::Udp {
  static constexpr size_t kBatch = 16;
  // Slots are 17 cache lines further apart than a power of two: with the
  // default 64 KiB limit, slots 64 KiB apart would all map to the same
  // L1/L2 cache sets, and a batch of datagrams would evict itself between
  // the kernel's copy and our parse.
  static constexpr size_t kStagger = 17 * 64;
  Udp(asio::io_context& io, size_t max_message)
      : sock(io), slot_size(max_message + 1), stride((slot_size + 63) / 64 * 64 + kStagger) {
    bufs.resize(kBatch * stride);
    for (size_t i = 0; i < kBatch; ++i) {
      iov[i] = iovec{bufs.data() + i * stride, slot_size};
      msgs[i] = mmsghdr{};
    }
  }
  // Resets the per-slot headers recvmmsg() overwrites.
  void prepare() {
    for (size_t i = 0; i < kBatch; ++i) {
      msgs[i].msg_hdr = msghdr{};
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_len = 0;
    }
  }
  // Datagrams produced while a received batch is processed; sent together
  // with sendmmsg() when the batch is done (one system call instead of one
  // sendto() per response). Their bytes are copied into one buffer kept
  // across batches, so a response costs no allocation of its own.
  struct Outgoing {
    size_t off, len;  // in out_bytes
    sockaddr_storage addr;
    socklen_t addr_len;
  };
  std::vector<Outgoing> outbox;
  std::string out_bytes;
  udp::socket sock;
  size_t slot_size;  // one more than the largest message, to see truncation
  size_t stride;     // distance between slots in `bufs`
  std::vector<char> bufs;
  std::array<iovec, kBatch> iov{};
  std::array<mmsghdr, kBatch> msgs{};
  std::array<sockaddr_storage, kBatch> addrs{};
  ListenAddress bound;
  bool v6 = false;
};

struct TransportManager::Acceptor {
  explicit Acceptor(asio::io_context& io) : acc(io) {}
  tcp::acceptor acc;
  ListenAddress bound;
};

class TransportManager::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TransportManager& m, std::uint64_t flow, Transport t, tcp::socket sock)
      : m_(m), alive_(m.alive_), flow_(flow), transport_(t) {
    if (t == Transport::kTls) {
      tls_.emplace(std::move(sock), *m.tls_);
    } else {
      plain_.emplace(std::move(sock));
    }
    last_active_ = std::chrono::steady_clock::now();
  }

  tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  Peer peer() const { return peer_; }
  std::chrono::steady_clock::time_point last_active() const { return last_active_; }

  void start_server() {
    set_peer();
    if (tls_) {
      auto self = shared_from_this();
      tls_->async_handshake(asio::ssl::stream_base::server, [self](const boost::system::error_code& ec) {
        if (!self->alive()) return;
        if (ec) return self->close();
        self->ready_ = true;
        self->flush();
        self->read();
      });
    } else {
      ready_ = true;
      read();
    }
  }

  void start_client(const tcp::endpoint& ep) {
    auto self = shared_from_this();
    peer_ = Peer{transport_, ep.address().to_string(), ep.port(), flow_};
    socket().async_connect(ep, [self](const boost::system::error_code& ec) {
      if (!self->alive()) return;
      if (ec) return self->close();
      self->ready_ = true;
      self->flush();
      self->read();
    });
  }

  void write(std::string data) {
    if (closed_) return;
    out_.push_back(std::move(data));
    if (ready_ && !writing_) flush();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
    if (alive()) m_.connection_closed(flow_);
  }

 private:
  bool alive() const { return !alive_.expired() && !closed_; }

  void set_peer() {
    boost::system::error_code ec;
    auto ep = socket().remote_endpoint(ec);
    peer_ = Peer{transport_, ec ? std::string() : ep.address().to_string(), ec ? std::uint16_t{0} : ep.port(),
                 flow_};
  }

  template <class Buf, class F>
  void read_some(const Buf& b, F&& f) {
    if (tls_)
      tls_->async_read_some(b, std::forward<F>(f));
    else
      plain_->async_read_some(b, std::forward<F>(f));
  }

  void read() {
    auto self = shared_from_this();
    read_some(asio::buffer(chunk_), [self](const boost::system::error_code& ec, size_t n) {
      if (!self->alive()) return;
      if (ec) return self->close();
      self->last_active_ = std::chrono::steady_clock::now();
      self->in_.append(self->chunk_.data(), n);
      if (!self->drain()) return self->close();
      self->read();
    });
  }

  // Frames and delivers complete messages; false = protocol error.
  bool drain() {
    size_t off = 0;
    bool ok = true;
    while (off < in_.size()) {
      std::string_view rest(in_.data() + off, in_.size() - off);
      FrameResult f = frame_stream(rest, m_.config_.max_message_size);
      if (f.kind == FrameResult::kNeedMore) break;
      if (f.kind == FrameResult::kError) {
        ok = false;
        break;
      }
      if (f.kind == FrameResult::kKeepAlive) {
        // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong.
        if (f.size >= 4 && rest.substr(0, 4) == "\r\n\r\n") write("\r\n");
        off += f.size;
        continue;
      }
      std::string msg(rest.substr(0, f.size));
      off += f.size;
      m_.deliver(std::move(msg), peer_);
      if (!alive()) return true;
    }
    in_.erase(0, off);
    return ok;
  }

  void flush() {
    if (out_.empty() || closed_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    auto handler = [self](const boost::system::error_code& ec, size_t) {
      if (!self->alive()) return;
      if (ec) return self->close();
      self->out_.pop_front();
      self->flush();
    };
    if (tls_)
      asio::async_write(*tls_, asio::buffer(out_.front()), handler);
    else
      asio::async_write(*plain_, asio::buffer(out_.front()), handler);
  }

  TransportManager& m_;
  std::weak_ptr<bool> alive_;
  std::uint64_t flow_;
  Transport transport_;
  std::optional<tcp::socket> plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  Peer peer_;
  std::array<char, 16384> chunk_{};
  std::string in_;
  std::deque<std::string> out_;
  bool ready_ = false, writing_ = false, closed_ = false;
  std::chrono::steady_clock::time_point last_active_;
};

TransportManager::TransportManager(asio::io_context& io, TransportConfig config, Receiver on_message)
    : io_(io), config_(std::move(config)), on_message_(std::move(on_message)) {}

TransportManager::~TransportManager() { stop(); }

common::Status TransportManager::listen(const ListenAddress& where) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(where.address, ec);
  if (ec) return Error::invalid("address", "bad listen address " + where.address);
  if (where.transport == Transport::kUdp) {
    auto u = std::make_shared<Udp>(io_, config_.max_message_size);
    udp::endpoint ep(addr, where.port);
    u->sock.open(ep.protocol(), ec);
    if (!ec && addr.is_v6()) u->sock.set_option(asio::ip::v6_only(true), ec);
    if (!ec) u->sock.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec), ec.clear();
    if (!ec) u->sock.bind(ep, ec);
    // Non-blocking: receives are drained in a loop; a send that would block
    // (4 MB socket buffer full) is dropped like any lost datagram.
    if (!ec) u->sock.non_blocking(true, ec);
    if (!ec) u->sock.set_option(asio::socket_base::send_buffer_size(4 << 20), ec), ec.clear();
    if (ec)
      return Error::internal("udp bind " + where.address + ":" + std::to_string(where.port) + ": " +
                             ec.message());
    u->bound = where;
    u->bound.port = u->sock.local_endpoint().port();
    u->v6 = addr.is_v6();
    udp_.push_back(u);
    udp_wait(u);
    return common::ok_status();
  }
  if (where.transport == Transport::kTls && !tls_) {
    if (config_.tls_cert_file.empty() || config_.tls_key_file.empty())
      return Error::invalid("tls", "TLS listener needs a certificate and a key");
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    ctx->use_certificate_chain_file(config_.tls_cert_file, ec);
    if (!ec) ctx->use_private_key_file(config_.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) return Error::invalid("tls", "cannot load certificate/key: " + ec.message());
    tls_ = std::move(ctx);
  }
  if (where.transport != Transport::kTcp && where.transport != Transport::kTls)
    return Error::invalid("transport", "WebSocket listeners are not implemented yet");
  auto a = std::make_shared<Acceptor>(io_);
  tcp::endpoint ep(addr, where.port);
  a->acc.open(ep.protocol(), ec);
  if (!ec && addr.is_v6()) a->acc.set_option(asio::ip::v6_only(true), ec);
  if (!ec) a->acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a->acc.bind(ep, ec);
  if (!ec) a->acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Error::internal("tcp bind " + where.address + ":" + std::to_string(where.port) + ": " +
                           ec.message());
  a->bound = where;
  a->bound.port = a->acc.local_endpoint().port();
  acceptors_.push_back(a);
  accept_next(a);
  return common::ok_status();
}

// Waits for readiness. (A one-byte MSG_PEEK receive instead, which Asio
// 1.74 queues without the epoll_ctl() it makes per async_wait, was tried:
// it first peeks at once, and when that finds a datagram the completion
// goes through an extra epoll_wait(0), so it cost more system calls, not
// fewer.)
void TransportManager::udp_wait(const std::shared_ptr<Udp>& u) {
  std::weak_ptr<bool> alive = alive_;
  u->sock.async_wait(udp::socket::wait_read, [this, u, alive](const boost::system::error_code& e) {
    if (alive.expired() || e == asio::error::operation_aborted || !u->sock.is_open()) return;
    udp_drain(u);
  });
}

namespace {
// Text <-> binary conversions of peer addresses cost about 1.5 k
// instructions each (inet_ntop formats through sprintf; make_address
// parses), once per datagram each way. Datagrams come from few addresses at
// a time (a trunk, a load generator, phones refreshing), so a small
// direct-mapped cache per thread answers nearly all of them.
class AddressCache {
 public:
  // The text form of an IPv4 (4 bytes) or IPv6 (16 bytes) address.
  std::string_view text(int family, const void* bytes) {
    const size_t len = family == AF_INET6 ? 16 : 4;
    Entry& e = by_binary_[hash(static_cast<const unsigned char*>(bytes), len)];
    if (e.family != family || std::memcmp(e.bytes, bytes, len) != 0) {
      char text[INET6_ADDRSTRLEN] = {0};
      inet_ntop(family, bytes, text, sizeof text);
      fill(e, family, bytes, len, text);
    }
    return std::string_view(e.text, e.text_len);
  }
  // The parsed form of a textual address; false if it is not one.
  bool address(std::string_view text, boost::asio::ip::address& out) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return false;
    Entry& e = by_text_[hash(reinterpret_cast<const unsigned char*>(text.data()), text.size())];
    if (e.family == 0 || std::string_view(e.text, e.text_len) != text) {
      boost::system::error_code ec;
      char z[INET6_ADDRSTRLEN] = {0};
      std::memcpy(z, text.data(), text.size());
      auto a = boost::asio::ip::make_address(z, ec);
      if (ec) return false;
      if (a.is_v6()) {
        if (a.to_v6().scope_id() != 0) {  // link-local with a scope: rare, not cached
          out = a;
          return true;
        }
        auto b = a.to_v6().to_bytes();
        fill(e, AF_INET6, b.data(), b.size(), z);
      } else {
        auto b = a.to_v4().to_bytes();
        fill(e, AF_INET, b.data(), b.size(), z);
      }
    }
    if (e.family == AF_INET6) {
      boost::asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), e.bytes, b.size());
      out = boost::asio::ip::address_v6(b);
    } else {
      boost::asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), e.bytes, b.size());
      out = boost::asio::ip::address_v4(b);
    }
    return true;
  }

 private:
  struct Entry {
    int family = 0;  // 0: empty
    unsigned char bytes[16] = {};
    char text[INET6_ADDRSTRLEN] = {};
    std::uint8_t text_len = 0;
  };
  static constexpr size_t kSlots = 64;
  static size_t hash(const unsigned char* p, size_t n) {
    std::uint32_t h = 2166136261u;  // FNV-1a
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 16777619u;
    return h % kSlots;
  }
  static void fill(Entry& e, int family, const void* bytes, size_t len, const char* text) {
    e.family = family;
    std::memcpy(e.bytes, bytes, len);
    e.text_len = static_cast<std::uint8_t>(std::strlen(text));
    std::memcpy(e.text, text, e.text_len);
  }
  std::array<Entry, kSlots> by_binary_, by_text_;
};

AddressCache& address_cache() {
  thread_local AddressCache cache;
  return cache;
}

// The sender of a received datagram as a Peer (no allocation for IPv4 and
// short IPv6 addresses: they fit std::string's inline buffer).
Peer udp_peer(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(a);
    if (s6.sin6_scope_id == 0)
      return Peer{Transport::kUdp, std::string(address_cache().text(AF_INET6, &s6.sin6_addr)),
                  ntohs(s6.sin6_port), 0};
    char text[INET6_ADDRSTRLEN] = {0};  // link-local with a scope: not cached
    inet_ntop(AF_INET6, &s6.sin6_addr, text, sizeof text);
    return Peer{Transport::kUdp, text, ntohs(s6.sin6_port), 0};
  }
  const auto& s4 = reinterpret_cast<const sockaddr_in&>(a);
  return Peer{Transport::kUdp, std::string(address_cache().text(AF_INET, &s4.sin_addr)), ntohs(s4.sin_port),
              0};
}
}  // namespace

// Called when the socket is readable: takes everything queued, kBatch
// datagrams per recvmmsg(), until the socket is empty (EAGAIN). Under load
// the next datagram usually arrives while this one is processed, and one
// more recvmmsg() is cheaper than a round trip through the reactor. A
// datagram arriving after the EAGAIN raises a new readiness event, which the
// wait queued below receives (one thread runs the io_context, so the reactor
// cannot consume that event before the wait is queued). After kMaxRounds
// the rest is left to a posted continuation, so timers and other sockets get
// their turn under a flood.
void TransportManager::udp_drain(const std::shared_ptr<Udp>& u) {
  constexpr int kMaxRounds = 64;
  std::weak_ptr<bool> alive = alive_;
  for (int round = 0; round < kMaxRounds; ++round) {
    u->prepare();
    int n = ::recvmmsg(u->sock.native_handle(), u->msgs.data(), Udp::kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return udp_wait(u);  // EAGAIN (drained) or a socket error
    in_udp_batch_ = true;
    for (int i = 0; i < n; ++i) {
      const mmsghdr& m = u->msgs[static_cast<size_t>(i)];
      bool truncated = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0;
      if (m.msg_len == 0 || truncated || m.msg_len > config_.max_message_size) continue;
      const char* data = static_cast<const char*>(m.msg_hdr.msg_iov->iov_base);
      std::string bytes = message_buffer();
      bytes.assign(data, m.msg_len);
      deliver(std::move(bytes), udp_peer(u->addrs[static_cast<size_t>(i)]));
      if (alive.expired()) return;  // we are gone: nothing left to flush
    }
    in_udp_batch_ = false;
    for (const auto& other : udp_) udp_flush(*other);
    if (!u->sock.is_open()) return;
  }
  asio::post(io_, [this, u, alive] {
    if (!alive.expired() && u->sock.is_open()) udp_drain(u);
  });
}

void TransportManager::accept_next(const std::shared_ptr<Acceptor>& a) {
  std::weak_ptr<bool> alive = alive_;
  a->acc.async_accept([this, a, alive](const boost::system::error_code& ec, tcp::socket sock) {
    if (alive.expired() || ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (conns_.size() >= config_.max_connections) {
        boost::system::error_code ignore;
        sock.close(ignore);
      } else {
        std::uint64_t flow = next_flow_++;
        auto c = std::make_shared<Connection>(*this, flow, a->bound.transport, std::move(sock));
        conns_[flow] = c;
        c->start_server();
      }
    }
    accept_next(a);
  });
}

void TransportManager::connection_closed(std::uint64_t flow) {
  if (conns_.erase(flow) && on_flow_closed_) on_flow_closed_(flow);
}

std::vector<ListenAddress> TransportManager::bound() const {
  std::vector<ListenAddress> out;
  for (const auto& u : udp_) out.push_back(u->bound);
  for (const auto& a : acceptors_) out.push_back(a->bound);
  return out;
}

bool TransportManager::send_view(const Peer& to, std::string_view wire) {
  if (to.transport == Transport::kUdp) return send_udp(to, wire);
  return send(to, std::string(wire));
}

// Inside a receive batch the datagram joins the listener's outbox (its
// bytes copied into the outbox's buffer); otherwise it goes out at once with a
// non-blocking sendto(): no handler, no copy. The listener's family is
// known from bind(), so no getsockname() per send.
bool TransportManager::send_udp(const Peer& to, std::string_view wire) {
  boost::system::error_code ec;
  asio::ip::address addr;
  if (!address_cache().address(to.ip, addr)) return false;
  for (const auto& u : udp_) {
    if (u->v6 != addr.is_v6()) continue;
    udp::endpoint ep(addr, to.port);
    if (!in_udp_batch_) {
      u->sock.send_to(asio::buffer(wire.data(), wire.size()), ep, 0, ec);
      return !ec;
    }
    if (u->outbox.size() >= 4 * Udp::kBatch) udp_flush(*u);  // bounded
    Udp::Outgoing o{u->out_bytes.size(), wire.size(), {}, static_cast<socklen_t>(ep.size())};
    u->out_bytes.append(wire);
    std::memcpy(&o.addr, ep.data(), ep.size());
    u->outbox.push_back(o);
    return true;
  }
  return false;
}

// A datagram the socket cannot take now (EAGAIN: send buffer full) is
// dropped like any lost datagram; retransmission timers cover it.
void TransportManager::udp_flush(Udp& u) {
  size_t done = 0;
  while (done < u.outbox.size()) {
    std::array<mmsghdr, Udp::kBatch> msgs{};
    std::array<iovec, Udp::kBatch> iov{};
    size_t n = std::min(Udp::kBatch, u.outbox.size() - done);
    for (size_t i = 0; i < n; ++i) {
      Udp::Outgoing& o = u.outbox[done + i];
      iov[i] = iovec{u.out_bytes.data() + o.off, o.len};
      msgs[i].msg_hdr.msg_name = &o.addr;
      msgs[i].msg_hdr.msg_namelen = o.addr_len;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = ::sendmmsg(u.sock.native_handle(), msgs.data(), static_cast<unsigned>(n), MSG_DONTWAIT);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) break;
    done += static_cast<size_t>(sent);
  }
  u.outbox.clear();
  // Keeps its capacity for the next batch, unless a burst of large
  // datagrams grew it beyond what a usual batch needs.
  if (u.out_bytes.capacity() > (1u << 20))
    std::string().swap(u.out_bytes);
  else
    u.out_bytes.clear();
}

bool TransportManager::send(const Peer& to, std::string wire) {
  if (to.transport == Transport::kUdp) return send_udp(to, wire);
  if (auto it = conns_.find(to.flow); to.flow && it != conns_.end()) {
    it->second->write(std::move(wire));
    return true;
  }
  // Reuse any open connection to the same address (e.g. flow id unknown).
  for (auto& [flow, c] : conns_) {
    Peer p = c->peer();
    if (p.transport == to.transport && p.ip == to.ip && p.port == to.port) {
      c->write(std::move(wire));
      return true;
    }
  }
  if (to.transport != Transport::kTcp || conns_.size() >= config_.max_connections) return false;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(to.ip, ec);
  if (ec) return false;
  std::uint64_t flow = next_flow_++;
  auto c = std::make_shared<Connection>(*this, flow, Transport::kTcp, tcp::socket(io_));
  conns_[flow] = c;
  c->write(std::move(wire));
  c->start_client(tcp::endpoint(addr, to.port));
  return true;
}

void TransportManager::stop() {
  boost::system::error_code ec;
  for (auto& u : udp_) u->sock.close(ec);
  for (auto& a : acceptors_) a->acc.close(ec);
  auto conns = std::move(conns_);
  conns_.clear();
  for (auto& [flow, c] : conns) c->close();
}

void TransportManager::reap_idle() {
  auto now = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<Connection>> idle;
  for (auto& [flow, c] : conns_)
    if (now - c->last_active() > config_.idle_timeout) idle.push_back(c);
  for (auto& c : idle) c->close();
}

ListenAddress TransportManager::local_for(Transport t, bool ipv6) const {
  auto pick = [&](const ListenAddress& b) -> std::optional<ListenAddress> {
    if (b.transport != t) return std::nullopt;
    bool v6 = b.address.find(':') != std::string::npos;
    if (v6 != ipv6) return std::nullopt;
    ListenAddress r = b;
    if (!advertised_.empty())
      r.address = advertised_;
    else if (r.address == "0.0.0.0")
      r.address = "127.0.0.1";
    else if (r.address == "::")
      r.address = "::1";
    return r;
  };
  for (const auto& u : udp_)
    if (auto r = pick(u->bound)) return *r;
  for (const auto& a : acceptors_)
    if (auto r = pick(a->bound)) return *r;
  // Fall back to any listener of that transport, then anything.
  for (const auto& b : bound())
    if (b.transport == t) return b;
  auto all = bound();
  return all.empty() ? ListenAddress{} : all.front();
}

}  // namespace hotline::sip
