// media/stats.h — RTP reception statistics (RFC 3550 appendix A.1, A.3, A.8).
//
// One ReceiveStats per remote source. on_packet() is called for every valid
// RTP packet with its arrival time in timestamp units (8 kHz for G.711), so
// jitter comes out in the units RTCP reports use.
#pragma once

#include <cstdint>

#include "media/rtp.h"

namespace hotline::media {

class ReceiveStats {
 public:
  // Returns false for packets the RFC's source validation drops (a big jump
  // that is not yet confirmed by a second, consecutive packet).
  bool on_packet(std::uint16_t seq, std::uint32_t rtp_ts, std::uint32_t arrival_units);

  // Report block for RTCP; updates the "since last report" counters (A.3).
  ReportBlock make_report(std::uint32_t source_ssrc, std::uint32_t last_sr, std::uint32_t dlsr);

  std::uint64_t received() const { return received_; }
  std::uint32_t extended_max() const { return cycles_ + max_seq_; }
  std::int64_t expected() const;
  std::int64_t lost() const { return expected() - static_cast<std::int64_t>(received_); }
  std::uint32_t jitter() const { return static_cast<std::uint32_t>(jitter_ >> 4); }
  bool initialised() const { return initialised_; }
  void reset() { *this = ReceiveStats{}; }

  // Where the A.1/A.8 algorithms stand, for handing the stream to the kernel
  // relay (kernel_relay.h), which continues them, and back.
  struct Position {
    std::uint16_t max_seq = 0;
    std::uint32_t cycles = 0;
    std::int32_t last_transit = 0;
    std::uint32_t jitter16 = 0;
    bool have_transit = false;
  };
  Position position() const;
  // Continues from `p` after `more` packets were received elsewhere (in order,
  // within the A.1 window: the kernel leaves anything else to on_packet).
  void resume(const Position& p, std::uint64_t more);

 private:
  void init_seq(std::uint16_t seq);

  bool initialised_ = false;
  std::uint16_t max_seq_ = 0;
  std::uint32_t cycles_ = 0;
  std::uint32_t base_seq_ = 0;
  std::uint32_t bad_seq_ = 0x10001;
  std::uint64_t received_ = 0;
  std::uint64_t expected_prior_ = 0;
  std::uint64_t received_prior_ = 0;
  std::int64_t last_transit_ = 0;
  bool have_transit_ = false;
  std::uint32_t jitter_ = 0;  // scaled by 16 as in A.8
};

}  // namespace hotline::media
