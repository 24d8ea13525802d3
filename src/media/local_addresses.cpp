#include "media/local_addresses.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace hotline::media {

namespace asio = boost::asio;

namespace {

std::vector<asio::ip::address> host_addresses() {
  std::vector<asio::ip::address> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    if (i->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      out.emplace_back(asio::ip::address_v4(ntohl(in->sin_addr.s_addr)));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), in6->sin6_addr.s6_addr, b.size());
      out.emplace_back(asio::ip::address_v6(b));  // without scope: compared by address
    }
  }
  ::freeifaddrs(list);
  return out;
}

}  // namespace

asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  if (a.is_v6() && a.to_v6().scope_id() != 0) {
    asio::ip::address_v6 v6 = a.to_v6();
    v6.scope_id(0);
    return v6;
  }
  return a;
}

LocalAddresses::LocalAddresses() : addresses_(host_addresses()) {}

LocalAddresses::LocalAddresses(std::vector<asio::ip::address> addresses) : addresses_(std::move(addresses)) {}

bool LocalAddresses::contains(const asio::ip::address& address) const {
  const asio::ip::address a = unmapped(address);
  if (a.is_loopback()) return true;  // all of 127/8, and ::1
  return std::find(addresses_.begin(), addresses_.end(), a) != addresses_.end();
}

}  // namespace hotline::media
