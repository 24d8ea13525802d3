// RTP port ranges for the media tests' engines.
//
// CTest runs several media test processes at once (media_tests on io_uring
// and on epoll, the SIPp and allocation suites), and a test may send to a port
// after its session closed (a traffic thread that outlives the engine, a pacer
// aimed at a phone that went away). If another process's live session had
// that port, its exact packet counts would be off. So each CTest entry gets a
// range of its own (HL_TEST_RTP_PORTS="min-max", set in
// tests/media/CMakeLists.txt), all below the kernel's ephemeral ports
// (32768 and up on Linux), where the tests' phones and SIPp's sockets live.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "media/engine.h"

namespace hotline::media::testing {

struct PortRange {
  std::uint16_t min = 10000;  // a binary run outside CTest
  std::uint16_t max = 11999;
};

inline PortRange test_rtp_ports() {
  PortRange r;
  const char* env = std::getenv("HL_TEST_RTP_PORTS");
  unsigned lo = 0;
  unsigned hi = 0;
  if (env && std::sscanf(env, "%u-%u", &lo, &hi) == 2 && lo >= 1024 && hi < 32768 && lo + 16 <= hi) {
    r.min = static_cast<std::uint16_t>(lo);
    r.max = static_cast<std::uint16_t>(hi);
  }
  return r;
}

inline void use_test_ports(EngineConfig& c) {
  const PortRange r = test_rtp_ports();
  c.port_min = r.min;
  c.port_max = r.max;
}

// An engine with `loops` loops on the loopback, on this entry's ports.
inline EngineConfig loopback_config(unsigned loops = 1) {
  EngineConfig c;
  c.loops = loops;
  use_test_ports(c);
  c.bind_address = "127.0.0.1";
  return c;
}

}  // namespace hotline::media::testing
