// media/listen.h — internal: the mix buffer behind supervisor silent listen.
//
// Two sides (the audio received on each leg of a bridged call) are pushed in
// as they arrive, in whatever packet sizes the phones use; the listener's
// pacer pulls one frame at a time and gets the saturated sum. Each side is a
// small FIFO jitter buffer on a fixed ring: it starts playing once `prefill`
// samples are queued, goes back to prefilling on an underrun (what was left
// plays, the rest of the frame is silence), and drops its oldest audio when
// more than `prefill + slack` piles up (clock drift, a burst after a stall),
// so latency stays bounded. No allocation, no locks: one loop owns it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace hotline::media {

class ListenMix {
 public:
  static constexpr std::size_t kRingSamples = 4096;  // per side; > prefill + slack + one packet
  static constexpr std::size_t kMaxPush = 1024;      // longer pushes keep their last kMaxPush samples

  // `prefill` is clamped to what the ring can hold alongside the slack.
  explicit ListenMix(std::size_t prefill = 480, std::size_t slack = 640);

  void push(int side, const std::int16_t* samples, std::size_t n);  // side 0 or 1
  // Writes n samples: side 0 + side 1, saturated to 16 bits.
  void pull(std::int16_t* out, std::size_t n);
  void reset();  // both sides empty and prefilling

  std::size_t queued(int side) const;
  std::uint64_t underruns() const { return underruns_; }
  std::uint64_t dropped() const { return dropped_; }  // samples discarded to bound latency

 private:
  struct Side {
    std::array<std::int16_t, kRingSamples> ring{};
    std::uint64_t read = 0, write = 0;  // sample counters; ring index = counter % kRingSamples
    bool playing = false;
  };
  // Adds up to n samples of `s` into acc (which starts at zero).
  void take(Side& s, std::int32_t* acc, std::size_t n);

  Side sides_[2];
  std::size_t prefill_;
  std::size_t limit_;  // queued samples beyond this are dropped
  std::array<std::int32_t, kMaxPush> acc_{};
  std::uint64_t underruns_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace hotline::media
