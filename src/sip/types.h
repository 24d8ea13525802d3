// sip/types.h — small value types shared by every layer of the stack.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace hotline::sip {

enum class Transport : std::uint8_t { kUdp, kTcp, kTls, kWs, kWss };
const char* transport_name(Transport t);  // "UDP", "TCP", "TLS", "WS", "WSS"
inline bool is_reliable(Transport t) { return t != Transport::kUdp; }

// Where a message came from or goes to. For connection-oriented transports
// `flow` names the connection (RFC 5626 "flow"): responses and requests to a
// registered device go back over the same connection (NAT traversal without
// Path/Outbound). flow == 0 means "any / open a new one".
struct Peer {
  Transport transport = Transport::kUdp;
  std::string ip;  // textual address, IPv6 without brackets
  std::uint16_t port = 0;
  std::uint64_t flow = 0;

  std::string str() const;  // "udp:192.0.2.1:5060", "tcp:[2001:db8::1]:5060#7"
  bool operator==(const Peer& o) const {
    return transport == o.transport && ip == o.ip && port == o.port && flow == o.flow;
  }
};

// RFC 3261 §17 timer base values; all timers derive from these.
struct TimerConfig {
  std::chrono::milliseconds t1{500};   // RTT estimate
  std::chrono::milliseconds t2{4000};  // max retransmit interval for non-INVITE / 2xx
  std::chrono::milliseconds t4{5000};  // max time a message stays in the network
};

}  // namespace hotline::sip
