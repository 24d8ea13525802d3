// LocalAddresses (media/local_addresses.h): which endpoints are this host's,
// as the bridge's loop guard needs to know for a session bound to the
// wildcard address.
#include "media/local_addresses.h"

#include <gtest/gtest.h>

namespace hotline::media {
namespace {

namespace ip = boost::asio::ip;

TEST(LocalAddresses, LoopbackAndMappedAddressesAreLocal) {
  const LocalAddresses none(std::vector<ip::address>{});
  EXPECT_TRUE(none.contains(ip::make_address("127.0.0.1")));
  EXPECT_TRUE(none.contains(ip::make_address("127.3.2.1")));  // all of 127/8
  EXPECT_TRUE(none.contains(ip::make_address("::1")));
  EXPECT_TRUE(none.contains(ip::make_address("::ffff:127.0.0.1")));
  EXPECT_FALSE(none.contains(ip::make_address("192.0.2.10")));
  EXPECT_FALSE(none.contains(ip::make_address("2001:db8::1")));
}

TEST(LocalAddresses, InterfaceAddressesAreLocalInEitherForm) {
  const LocalAddresses some({ip::make_address("192.0.2.10"), ip::make_address("2001:db8::5")});
  EXPECT_TRUE(some.contains(ip::make_address("192.0.2.10")));
  EXPECT_TRUE(some.contains(ip::make_address("::ffff:192.0.2.10")));  // heard on a socket bound to ::
  EXPECT_TRUE(some.contains(ip::make_address("2001:db8::5")));
  EXPECT_FALSE(some.contains(ip::make_address("192.0.2.11")));
  EXPECT_FALSE(some.contains(ip::make_address("2001:db8::6")));
  EXPECT_EQ(unmapped(ip::make_address("::ffff:192.0.2.10")), ip::make_address("192.0.2.10"));
}

TEST(LocalAddresses, ReadsThisHostsInterfaces) {
  const LocalAddresses host;
  EXPECT_TRUE(host.contains(ip::make_address("127.0.0.1")));
  EXPECT_FALSE(host.contains(ip::make_address("192.0.2.99")));  // TEST-NET-1: never assigned
}

}  // namespace
}  // namespace hotline::media
