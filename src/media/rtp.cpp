#include "media/rtp.h"

#include <algorithm>
#include <cstring>

namespace hotline::media {
namespace {

std::uint16_t rd16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t rd32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
void wr16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void wr32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

void write_report_block(std::uint8_t* p, const ReportBlock& b) {
  wr32(p, b.ssrc);
  // Cumulative loss is a 24-bit two's complement number, clamped (RFC 3550 §6.4.1).
  std::int32_t lost = std::clamp<std::int32_t>(b.cumulative_lost, -0x800000, 0x7fffff);
  std::uint32_t lost24 = static_cast<std::uint32_t>(lost) & 0xffffffu;
  wr32(p + 4, (std::uint32_t{b.fraction_lost} << 24) | lost24);
  wr32(p + 8, b.highest_seq);
  wr32(p + 12, b.jitter);
  wr32(p + 16, b.last_sr);
  wr32(p + 20, b.delay_since_last_sr);
}

ReportBlock read_report_block(const std::uint8_t* p) {
  ReportBlock b;
  b.ssrc = rd32(p);
  std::uint32_t w = rd32(p + 4);
  b.fraction_lost = static_cast<std::uint8_t>(w >> 24);
  std::uint32_t lost24 = w & 0xffffffu;
  b.cumulative_lost = (lost24 & 0x800000u) ? static_cast<std::int32_t>(lost24 | 0xff000000u)
                                           : static_cast<std::int32_t>(lost24);
  b.highest_seq = rd32(p + 8);
  b.jitter = rd32(p + 12);
  b.last_sr = rd32(p + 16);
  b.delay_since_last_sr = rd32(p + 20);
  return b;
}

}  // namespace

ParseStatus parse_rtp(std::span<const std::uint8_t> data, RtpPacket& out) {
  if (data.size() < kRtpHeaderSize) return ParseStatus::too_short;
  const std::uint8_t* p = data.data();
  if ((p[0] >> 6) != 2) return ParseStatus::bad_version;
  const bool padding = (p[0] & 0x20) != 0;
  out.has_extension = (p[0] & 0x10) != 0;
  out.csrc_count = p[0] & 0x0f;
  out.header.marker = (p[1] & 0x80) != 0;
  out.header.payload_type = p[1] & 0x7f;
  out.header.sequence = rd16(p + 2);
  out.header.timestamp = rd32(p + 4);
  out.header.ssrc = rd32(p + 8);
  std::size_t off = kRtpHeaderSize + 4u * out.csrc_count;
  if (off > data.size()) return ParseStatus::too_short;
  if (out.has_extension) {
    if (off + 4 > data.size()) return ParseStatus::too_short;
    std::size_t ext_words = rd16(p + off + 2);
    off += 4 + 4 * ext_words;
    if (off > data.size()) return ParseStatus::too_short;
  }
  std::size_t end = data.size();
  if (padding) {
    std::size_t pad = p[end - 1];
    if (pad == 0 || pad > end - off) return ParseStatus::bad_padding;
    end -= pad;
  }
  out.payload_offset = off;
  out.payload_size = end - off;
  return ParseStatus::ok;
}

std::size_t write_rtp_header(std::span<std::uint8_t> out, const RtpHeader& h) {
  if (out.size() < kRtpHeaderSize) return 0;
  std::uint8_t* p = out.data();
  p[0] = 0x80;
  p[1] = static_cast<std::uint8_t>((h.marker ? 0x80 : 0) | (h.payload_type & 0x7f));
  wr16(p + 2, h.sequence);
  wr32(p + 4, h.timestamp);
  wr32(p + 8, h.ssrc);
  return kRtpHeaderSize;
}

void rewrite_rtp_header(std::span<std::uint8_t> data, const RtpHeader& h) {
  std::uint8_t* p = data.data();
  p[1] = static_cast<std::uint8_t>((h.marker ? 0x80 : 0) | (h.payload_type & 0x7f));
  wr16(p + 2, h.sequence);
  wr32(p + 4, h.timestamp);
  wr32(p + 8, h.ssrc);
}

ParseStatus parse_rtcp_one(std::span<const std::uint8_t> data, std::size_t& consumed, RtcpPacket& out,
                           bool& deliver) {
  deliver = false;
  if (data.size() < 4) return ParseStatus::too_short;
  const std::uint8_t* p = data.data();
  if ((p[0] >> 6) != 2) return ParseStatus::bad_version;
  const std::uint8_t count = p[0] & 0x1f;
  const std::uint8_t type = p[1];
  const std::size_t len = 4u * (std::size_t{rd16(p + 2)} + 1);
  if (len > data.size()) return ParseStatus::bad_length;
  consumed = len;
  std::size_t body_end = len;
  if (p[0] & 0x20) {  // padding, only legal on the last packet but harmless to honour
    std::size_t pad = p[len - 1];
    if (pad == 0 || pad > len - 4) return ParseStatus::bad_padding;
    body_end -= pad;
  }
  if (type < 192 || type > 223) return ParseStatus::bad_type;
  switch (type) {
    case 200:
    case 201: {
      const bool sr = type == 200;
      const std::size_t need = 8 + (sr ? 20 : 0) + 24u * count;
      if (need > body_end) return ParseStatus::bad_length;
      out.type = sr ? RtcpType::sr : RtcpType::rr;
      out.ssrc = rd32(p + 4);
      out.has_sender_info = sr;
      std::size_t off = 8;
      if (sr) {
        out.sender.ntp = (std::uint64_t{rd32(p + 8)} << 32) | rd32(p + 12);
        out.sender.rtp_timestamp = rd32(p + 16);
        out.sender.packet_count = rd32(p + 20);
        out.sender.octet_count = rd32(p + 24);
        off = 28;
      }
      out.report_count = count;
      for (std::size_t i = 0; i < count; ++i) out.reports[i] = read_report_block(p + off + 24 * i);
      deliver = true;
      return ParseStatus::ok;
    }
    case 203: {
      if (count * 4u + 4 > body_end) return ParseStatus::bad_length;
      out.type = RtcpType::bye;
      out.ssrc = count > 0 ? rd32(p + 4) : 0;
      out.has_sender_info = false;
      out.report_count = 0;
      deliver = true;
      return ParseStatus::ok;
    }
    default:
      return ParseStatus::ok;  // SDES, APP, XR and friends: length checked, content ignored
  }
}

std::size_t write_rtcp_sr(std::span<std::uint8_t> out, std::uint32_t ssrc, const SenderInfo& info,
                          std::span<const ReportBlock> blocks) {
  const std::size_t n = std::min(blocks.size(), kMaxReportBlocks);
  const std::size_t len = 28 + 24 * n;
  if (out.size() < len) return 0;
  std::uint8_t* p = out.data();
  p[0] = static_cast<std::uint8_t>(0x80 | n);
  p[1] = 200;
  wr16(p + 2, static_cast<std::uint16_t>(len / 4 - 1));
  wr32(p + 4, ssrc);
  wr32(p + 8, static_cast<std::uint32_t>(info.ntp >> 32));
  wr32(p + 12, static_cast<std::uint32_t>(info.ntp));
  wr32(p + 16, info.rtp_timestamp);
  wr32(p + 20, info.packet_count);
  wr32(p + 24, info.octet_count);
  for (std::size_t i = 0; i < n; ++i) write_report_block(p + 28 + 24 * i, blocks[i]);
  return len;
}

std::size_t write_rtcp_rr(std::span<std::uint8_t> out, std::uint32_t ssrc,
                          std::span<const ReportBlock> blocks) {
  const std::size_t n = std::min(blocks.size(), kMaxReportBlocks);
  const std::size_t len = 8 + 24 * n;
  if (out.size() < len) return 0;
  std::uint8_t* p = out.data();
  p[0] = static_cast<std::uint8_t>(0x80 | n);
  p[1] = 201;
  wr16(p + 2, static_cast<std::uint16_t>(len / 4 - 1));
  wr32(p + 4, ssrc);
  for (std::size_t i = 0; i < n; ++i) write_report_block(p + 8 + 24 * i, blocks[i]);
  return len;
}

std::size_t write_rtcp_sdes_cname(std::span<std::uint8_t> out, std::uint32_t ssrc,
                                  std::span<const char> cname) {
  const std::size_t name_len = std::min<std::size_t>(cname.size(), 255);
  // header(4) + ssrc(4) + type(1) + len(1) + name + at least one null, padded to 32 bits
  std::size_t len = 4 + 4 + 2 + name_len + 1;
  len = (len + 3) & ~std::size_t{3};
  if (out.size() < len) return 0;
  std::uint8_t* p = out.data();
  std::memset(p, 0, len);
  p[0] = 0x81;
  p[1] = 202;
  wr16(p + 2, static_cast<std::uint16_t>(len / 4 - 1));
  wr32(p + 4, ssrc);
  p[8] = 1;  // CNAME
  p[9] = static_cast<std::uint8_t>(name_len);
  if (name_len > 0) std::memcpy(p + 10, cname.data(), name_len);
  return len;
}

std::size_t write_rtcp_bye(std::span<std::uint8_t> out, std::uint32_t ssrc) {
  if (out.size() < 8) return 0;
  std::uint8_t* p = out.data();
  p[0] = 0x81;
  p[1] = 203;
  wr16(p + 2, 1);
  wr32(p + 4, ssrc);
  return 8;
}

std::uint64_t ntp_from_unix_ns(std::int64_t unix_ns) {
  constexpr std::uint64_t kNtpUnixOffset = 2208988800ull;  // 1900 → 1970
  const std::uint64_t secs = static_cast<std::uint64_t>(unix_ns / 1'000'000'000) + kNtpUnixOffset;
  const std::uint64_t frac_ns = static_cast<std::uint64_t>(unix_ns % 1'000'000'000);
  return (secs << 32) | ((frac_ns << 32) / 1'000'000'000ull);
}

}  // namespace hotline::media
