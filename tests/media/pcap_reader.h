// Test helper: reads UDP payloads from classic pcap files (Ethernet or Linux
// cooked capture, IPv4), such as the G.711 and RFC 2833 captures SIPp ships in
// /usr/share/sip-tester. Malformed records are skipped, never trusted.
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace hotline::media::testing {

struct UdpRecord {
  double time = 0;  // seconds since the first record
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  std::vector<std::uint8_t> payload;
};

inline std::vector<UdpRecord> read_pcap_udp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<std::uint8_t> d{std::istreambuf_iterator<char>(f), {}};
  std::vector<UdpRecord> out;
  if (d.size() < 24) return out;
  auto le32 = [&](std::size_t o) {
    return std::uint32_t(d[o]) | (std::uint32_t(d[o + 1]) << 8) | (std::uint32_t(d[o + 2]) << 16) |
           (std::uint32_t(d[o + 3]) << 24);
  };
  if (le32(0) != 0xa1b2c3d4u) return out;  // little-endian microsecond pcap only
  const std::uint32_t link = le32(20);
  std::size_t off = 24;
  double t0 = -1;
  while (off + 16 <= d.size()) {
    const double t = le32(off) + le32(off + 4) / 1e6;
    const std::size_t incl = le32(off + 8);
    off += 16;
    if (off + incl > d.size()) break;
    const std::uint8_t* p = d.data() + off;
    std::size_t n = incl;
    off += incl;
    std::size_t l2 = link == 1 ? 14 : link == 113 ? 16 : 0;
    if (l2 == 0 || n < l2 + 28) continue;
    const std::uint8_t* ip = p + l2;
    if ((ip[0] >> 4) != 4 || ip[9] != 17) continue;
    const std::size_t ihl = (ip[0] & 0x0f) * 4u;
    if (n < l2 + ihl + 8) continue;
    const std::uint8_t* udp = ip + ihl;
    const std::size_t ulen = (udp[4] << 8) | udp[5];
    if (ulen < 8 || l2 + ihl + ulen > n) continue;
    if (t0 < 0) t0 = t;
    UdpRecord r;
    r.time = t - t0;
    r.src_port = static_cast<std::uint16_t>((udp[0] << 8) | udp[1]);
    r.dst_port = static_cast<std::uint16_t>((udp[2] << 8) | udp[3]);
    r.payload.assign(udp + 8, udp + ulen);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace hotline::media::testing
