#include "media/stats.h"

#include <cstdlib>

namespace hotline::media {
namespace {
constexpr std::uint32_t kMaxDropout = 3000;
constexpr std::uint32_t kMaxMisorder = 100;
constexpr std::uint32_t kSeqMod = 1u << 16;
}  // namespace

void ReceiveStats::init_seq(std::uint16_t seq) {
  base_seq_ = seq;
  max_seq_ = seq;
  bad_seq_ = kSeqMod + 1;
  cycles_ = 0;
  received_ = 0;
  received_prior_ = 0;
  expected_prior_ = 0;
}

bool ReceiveStats::on_packet(std::uint16_t seq, std::uint32_t rtp_ts, std::uint32_t arrival) {
  if (!initialised_) {
    init_seq(seq);
    initialised_ = true;
  } else {
    const std::uint16_t udelta = static_cast<std::uint16_t>(seq - max_seq_);
    if (udelta < kMaxDropout) {
      if (seq < max_seq_) cycles_ += kSeqMod;  // wrapped
      max_seq_ = seq;
    } else if (udelta <= kSeqMod - kMaxMisorder) {
      // Big jump: accept only if the next packet follows it (sender restarted).
      if (seq == bad_seq_) {
        init_seq(seq);
      } else {
        bad_seq_ = (std::uint32_t{seq} + 1) & (kSeqMod - 1);
        return false;
      }
    }
    // else: duplicate or reordered packet, counted below
  }
  ++received_;
  // A.8 interarrival jitter: J += (|D| - J) / 16, kept scaled by 16.
  const std::int64_t transit = static_cast<std::int64_t>(arrival) - static_cast<std::int64_t>(rtp_ts);
  const std::int32_t transit32 = static_cast<std::int32_t>(transit);
  if (have_transit_) {
    std::int32_t d = transit32 - static_cast<std::int32_t>(last_transit_);
    if (d < 0) d = -d;
    jitter_ += static_cast<std::uint32_t>(d) - ((jitter_ + 8) >> 4);
  }
  last_transit_ = transit32;
  have_transit_ = true;
  return true;
}

ReceiveStats::Position ReceiveStats::position() const {
  return Position{max_seq_, cycles_, static_cast<std::int32_t>(last_transit_), jitter_, have_transit_};
}

void ReceiveStats::resume(const Position& p, std::uint64_t more) {
  max_seq_ = p.max_seq;
  cycles_ = p.cycles;
  last_transit_ = p.last_transit;
  jitter_ = p.jitter16;
  have_transit_ = p.have_transit;
  received_ += more;
}

std::int64_t ReceiveStats::expected() const {
  if (!initialised_) return 0;
  return static_cast<std::int64_t>(extended_max()) - static_cast<std::int64_t>(base_seq_) + 1;
}

ReportBlock ReceiveStats::make_report(std::uint32_t source_ssrc, std::uint32_t last_sr, std::uint32_t dlsr) {
  ReportBlock b;
  b.ssrc = source_ssrc;
  const std::int64_t exp = expected();
  const std::int64_t expected_interval = exp - static_cast<std::int64_t>(expected_prior_);
  const std::int64_t received_interval = static_cast<std::int64_t>(received_ - received_prior_);
  expected_prior_ = static_cast<std::uint64_t>(exp);
  received_prior_ = received_;
  const std::int64_t lost_interval = expected_interval - received_interval;
  b.fraction_lost = (expected_interval <= 0 || lost_interval <= 0)
                        ? 0
                        : static_cast<std::uint8_t>((lost_interval << 8) / expected_interval);
  b.cumulative_lost = static_cast<std::int32_t>(lost());
  b.highest_seq = extended_max();
  b.jitter = jitter();
  b.last_sr = last_sr;
  b.delay_since_last_sr = dlsr;
  return b;
}

}  // namespace hotline::media
