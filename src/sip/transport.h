// sip/transport.h — UDP, TCP and TLS transports on Boost.Asio (RFC 3261 §18).
//
// Hands complete messages (one datagram, or one Content-Length-framed message
// from a stream) to a callback together with the Peer they came from. Stream
// connections get a flow id so that responses and later requests go back on
// the same connection (NATed phones, RFC 5626 flows). A double-CRLF ping on a
// stream is answered with a CRLF pong (RFC 5626 §3.5.1).
//
// UDP receives are batched (recvmmsg until EAGAIN on each readiness) and
// the UDP sends made while a batch is delivered go out together (sendmmsg).
// Requires one thread running the io_context, like the rest of the stack.
//
// Bounded by construction: a datagram or stream message above
// max_message_size is dropped (the stream is closed), connections are capped,
// and idle connections are reaped by reap_idle().
//
// WebSocket (RFC 7118) will be another listener kind feeding the same
// callback with Transport::kWs/kWss; nothing above this layer changes.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "sip/types.h"

namespace hotline::sip {

struct ListenAddress {
  Transport transport = Transport::kUdp;
  std::string address = "0.0.0.0";  // "::" for IPv6
  std::uint16_t port = 5060;        // 0 = any free port (see TransportManager::bound())
};

struct TransportConfig {
  size_t max_message_size = 65535;
  size_t max_connections = 10000;
  std::chrono::seconds idle_timeout{900};
  std::string tls_cert_file;  // PEM chain
  std::string tls_key_file;   // PEM private key
};

class TransportManager {
 public:
  using Receiver = std::function<void(std::string data, const Peer& from)>;

  TransportManager(boost::asio::io_context& io, TransportConfig config, Receiver on_message);
  ~TransportManager();

  common::Status listen(const ListenAddress& where);
  // Actual bound addresses (ports resolved when 0 was asked).
  std::vector<ListenAddress> bound() const;
  // Queues `wire` to `to`. For streams: on flow `to.flow` if open, else a new
  // outgoing TCP connection (TLS requires an existing flow). Returns false
  // when it cannot be sent at all.
  bool send(const Peer& to, std::string wire);
  // The same without taking ownership: UDP sends straight from `wire`;
  // streams copy it into their write queue.
  bool send_view(const Peer& to, std::string_view wire);
  void stop();
  void reap_idle();
  size_t connection_count() const { return conns_.size(); }
  // Our address as seen on a listener of this transport/family, for Via and
  // Contact (the bound address, or `advertised` if set).
  ListenAddress local_for(Transport t, bool ipv6) const;
  void set_advertised_address(std::string a) { advertised_ = std::move(a); }
  // Called when a stream flow closes (the stack marks bindings unreachable).
  void set_on_flow_closed(std::function<void(std::uint64_t flow)> f) { on_flow_closed_ = std::move(f); }

  class Connection;  // implementation detail (stream connections)

 private:
  friend class Connection;
  struct Udp;
  struct Acceptor;
  void accept_next(const std::shared_ptr<Acceptor>& a);
  void udp_wait(const std::shared_ptr<Udp>& u);
  void udp_drain(const std::shared_ptr<Udp>& u);
  bool send_udp(const Peer& to, std::string_view wire);
  void udp_flush(Udp& u);
  void connection_closed(std::uint64_t flow);
  void deliver(std::string data, const Peer& from) { on_message_(std::move(data), from); }

  boost::asio::io_context& io_;
  TransportConfig config_;
  Receiver on_message_;
  std::function<void(std::uint64_t)> on_flow_closed_;
  std::vector<std::shared_ptr<Udp>> udp_;
  std::vector<std::shared_ptr<Acceptor>> acceptors_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Connection>> conns_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::uint64_t next_flow_ = 1;
  std::string advertised_;
  bool in_udp_batch_ = false;  // udp_drain() is delivering: UDP sends wait in the outbox
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hotline::sip
