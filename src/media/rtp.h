// media/rtp.h — RTP and RTCP wire formats (RFC 3550), no I/O.
//
// Parsing never allocates and never throws: packets come from the network and
// are untrusted, so every parse returns a status value and a view into the
// caller's buffer. Writers fill a caller-provided buffer and return the number
// of bytes written (0 when it does not fit).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace hotline::media {

enum class ParseStatus : std::uint8_t {
  ok,
  too_short,    // shorter than the fixed header or than a declared length
  bad_version,  // version field is not 2
  bad_padding,  // padding count larger than the payload
  bad_length,   // a length field disagrees with the datagram
  bad_type,     // not an RTCP packet type we can read
};

constexpr std::size_t kRtpHeaderSize = 12;

struct RtpHeader {
  bool marker = false;
  std::uint8_t payload_type = 0;
  std::uint16_t sequence = 0;
  std::uint32_t timestamp = 0;
  std::uint32_t ssrc = 0;
};

// A parsed RTP packet: the fixed header plus where the payload lies inside the
// original buffer (after CSRCs and the extension, before padding).
struct RtpPacket {
  RtpHeader header;
  std::uint8_t csrc_count = 0;
  bool has_extension = false;
  std::size_t payload_offset = 0;
  std::size_t payload_size = 0;
};

ParseStatus parse_rtp(std::span<const std::uint8_t> data, RtpPacket& out);

// Writes the 12-byte fixed header (V=2, no padding/extension/CSRC).
std::size_t write_rtp_header(std::span<std::uint8_t> out, const RtpHeader& h);

// Rewrites sequence, timestamp, SSRC, PT and marker of an RTP packet in place
// (the bridge relay path). Assumes `data` already parsed successfully.
void rewrite_rtp_header(std::span<std::uint8_t> data, const RtpHeader& h);

// RFC 5761 §4: RTCP packet types 192..223 when the second byte is read as a PT.
inline bool looks_like_rtcp(std::span<const std::uint8_t> data) {
  return data.size() >= 2 && data[1] >= 192 && data[1] <= 223;
}

// ---- RTCP ---------------------------------------------------------------

enum class RtcpType : std::uint8_t { sr = 200, rr = 201, sdes = 202, bye = 203, app = 204 };

struct ReportBlock {
  std::uint32_t ssrc = 0;
  std::uint8_t fraction_lost = 0;         // fixed point /256
  std::int32_t cumulative_lost = 0;       // 24-bit signed on the wire
  std::uint32_t highest_seq = 0;          // extended highest sequence number received
  std::uint32_t jitter = 0;               // interarrival jitter in timestamp units
  std::uint32_t last_sr = 0;              // middle 32 bits of the last SR's NTP time
  std::uint32_t delay_since_last_sr = 0;  // 1/65536 s
};

struct SenderInfo {
  std::uint64_t ntp = 0;  // 32.32 fixed point NTP timestamp
  std::uint32_t rtp_timestamp = 0;
  std::uint32_t packet_count = 0;
  std::uint32_t octet_count = 0;
};

constexpr std::size_t kMaxReportBlocks = 31;  // the RC field is 5 bits

// One packet of a compound RTCP datagram. For BYE, `ssrc` is the first SSRC.
struct RtcpPacket {
  RtcpType type = RtcpType::rr;
  std::uint32_t ssrc = 0;
  bool has_sender_info = false;
  SenderInfo sender;
  std::uint8_t report_count = 0;
  std::array<ReportBlock, kMaxReportBlocks> reports{};
};

// Calls `on_packet(const RtcpPacket&)` for every SR, RR and BYE of a compound
// datagram; SDES and APP are skipped after their length is validated.
// Returns the first error; packets before it have been delivered.
template <class F>
ParseStatus parse_rtcp(std::span<const std::uint8_t> data, F&& on_packet);

// Builders. Each returns bytes written or 0 if `out` is too small.
std::size_t write_rtcp_sr(std::span<std::uint8_t> out, std::uint32_t ssrc, const SenderInfo& info,
                          std::span<const ReportBlock> blocks);
std::size_t write_rtcp_rr(std::span<std::uint8_t> out, std::uint32_t ssrc,
                          std::span<const ReportBlock> blocks);
std::size_t write_rtcp_sdes_cname(std::span<std::uint8_t> out, std::uint32_t ssrc,
                                  std::span<const char> cname);
std::size_t write_rtcp_bye(std::span<std::uint8_t> out, std::uint32_t ssrc);

// Internal helper used by the template; exposed for the fuzz target.
ParseStatus parse_rtcp_one(std::span<const std::uint8_t> data, std::size_t& consumed, RtcpPacket& out,
                           bool& deliver);

template <class F>
ParseStatus parse_rtcp(std::span<const std::uint8_t> data, F&& on_packet) {
  if (data.empty()) return ParseStatus::too_short;
  RtcpPacket pkt;
  while (!data.empty()) {
    std::size_t used = 0;
    bool deliver = false;
    ParseStatus st = parse_rtcp_one(data, used, pkt, deliver);
    if (st != ParseStatus::ok) return st;
    if (deliver) on_packet(static_cast<const RtcpPacket&>(pkt));
    data = data.subspan(used);
  }
  return ParseStatus::ok;
}

// NTP 32.32 time from a Unix epoch in nanoseconds (RFC 3550 §4).
std::uint64_t ntp_from_unix_ns(std::int64_t unix_ns);

}  // namespace hotline::media
