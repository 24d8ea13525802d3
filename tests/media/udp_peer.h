// Test helper: a plain UDP socket on 127.0.0.1 acting as the remote phone.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "media/rtp.h"

namespace hotline::media::testing {

struct Datagram {
  std::vector<std::uint8_t> data;
  std::chrono::steady_clock::time_point at;
  std::uint16_t from_port = 0;
};

class UdpPeer {
 public:
  // Bound to `address` (host order; the loopback by default), in the network
  // namespace of the creating thread.
  explicit UdpPeer(std::uint16_t port = 0, in_addr_t address = INADDR_LOOPBACK) : address_(address) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(address);
    a.sin_port = htons(port);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind failed");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    int big = 4 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  ~UdpPeer() { ::close(fd_); }
  UdpPeer(const UdpPeer&) = delete;
  UdpPeer& operator=(const UdpPeer&) = delete;

  std::uint16_t port() const { return port_; }
  int fd() const { return fd_; }

  // To `port` at the address this peer is bound to, or at `address` (host order).
  void send_to(std::uint16_t port, std::span<const std::uint8_t> data, in_addr_t address = 0) const {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(address != 0 ? address : address_);
    a.sin_port = htons(port);
    ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }

  void send_rtp(std::uint16_t port, const RtpHeader& h, std::span<const std::uint8_t> payload,
                in_addr_t address = 0) const {
    std::vector<std::uint8_t> buf(kRtpHeaderSize + payload.size());
    write_rtp_header(buf, h);
    std::copy(payload.begin(), payload.end(), buf.begin() + kRtpHeaderSize);
    send_to(port, buf, address);
  }

  std::optional<Datagram> recv(int timeout_ms) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
    Datagram d;
    d.data.resize(2048);
    sockaddr_in a{};
    socklen_t len = sizeof a;
    const ssize_t n = ::recvfrom(fd_, d.data.data(), d.data.size(), 0, reinterpret_cast<sockaddr*>(&a), &len);
    if (n < 0) return std::nullopt;
    d.at = std::chrono::steady_clock::now();
    d.data.resize(static_cast<std::size_t>(n));
    d.from_port = ntohs(a.sin_port);
    return d;
  }

  // Discards everything queued.
  void drain() const {
    while (recv(0)) {
    }
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  in_addr_t address_ = INADDR_LOOPBACK;
};

// Polls `pred` until true or `timeout` passes (generous timeouts; never a fixed sleep).
template <class Pred>
bool wait_for(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    ::usleep(2000);
  }
  return pred();
}

}  // namespace hotline::media::testing
