#include "rtp_fuzz_target.h"

#include <span>

#include "media/dtmf.h"
#include "media/g711.h"
#include "media/rtp.h"
#include "media/stats.h"

namespace hotline::media {

void fuzz_rtp_rtcp(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> in(data, size);
  RtpPacket p;
  if (parse_rtp(in, p) == ParseStatus::ok) {
    // Whatever the header claims, the payload must lie inside the datagram.
    if (p.payload_offset + p.payload_size > size) __builtin_trap();
    const auto payload = in.subspan(p.payload_offset, p.payload_size);
    if (auto ev = parse_telephone_event(payload)) {
      TelephoneEventReceiver rx;
      (void)rx.on_packet(p.header.timestamp, *ev);
      (void)rx.on_packet(p.header.timestamp + 1, *ev);
    }
    ReceiveStats st;
    st.on_packet(p.header.sequence, p.header.timestamp, 0);
    st.on_packet(static_cast<std::uint16_t>(p.header.sequence + 40000), p.header.timestamp + 160, 200);
    (void)st.make_report(p.header.ssrc, 0, 0);
    std::int16_t pcm[256];
    const std::size_t n = payload.size() < 256 ? payload.size() : 256;
    g711_decode(Codec::pcma, payload.data(), pcm, n);
    InbandDtmfDetector det;
    det.process(pcm, n, [](char) {});
  }
  std::size_t packets = 0;
  (void)parse_rtcp(in, [&](const RtcpPacket& r) {
    if (r.report_count > kMaxReportBlocks) __builtin_trap();
    ++packets;
  });
  (void)looks_like_rtcp(in);
}

}  // namespace hotline::media
