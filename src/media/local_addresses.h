// media/local_addresses.h — the addresses of this host, so a session bound to
// the wildcard address can tell whether an endpoint is its own socket.
//
// Why: a bridge leg whose remote is the other leg's own port (an SDP
// pointing one leg at the other, by mistake or on purpose) would relay each
// packet back to the leg that received it, round and round for as long as
// the call lasts. Session::relay_from_peer refuses to (SessionStats::
// dropped_loop) and such a bridge is never handed to the kernel relay.
//
// Read once when the engine starts; an address added later is still known
// when it is the engine's bind address or a loopback one. Immutable, so any
// loop may read it.
#ifndef HOTLINE_MEDIA_LOCAL_ADDRESSES_H
#define HOTLINE_MEDIA_LOCAL_ADDRESSES_H

#include <boost/asio/ip/address.hpp>
#include <vector>

namespace hotline::media {

class LocalAddresses {
 public:
  LocalAddresses();  // from getifaddrs(); empty (loopback only) if that fails
  explicit LocalAddresses(std::vector<boost::asio::ip::address> addresses);
  // Loopback (127/8, ::1), or an address of one of this host's interfaces;
  // IPv4-mapped IPv6 addresses as their IPv4 address.
  bool contains(const boost::asio::ip::address& a) const;

 private:
  std::vector<boost::asio::ip::address> addresses_;
};

// ::ffff:a.b.c.d (how a socket bound to :: hears an IPv4 peer) as a.b.c.d.
boost::asio::ip::address unmapped(const boost::asio::ip::address& a);

}  // namespace hotline::media

#endif
