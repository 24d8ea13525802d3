#include "media/listen.h"

#include <algorithm>
#include <cstring>

namespace hotline::media {

ListenMix::ListenMix(std::size_t prefill, std::size_t slack) {
  prefill_ = std::min(prefill, kRingSamples - kMaxPush - slack);
  limit_ = prefill_ + slack;
}

void ListenMix::reset() {
  for (auto& s : sides_) {
    s.read = s.write = 0;
    s.playing = false;
  }
}

std::size_t ListenMix::queued(int side) const {
  const Side& s = sides_[side & 1];
  return static_cast<std::size_t>(s.write - s.read);
}

void ListenMix::push(int side, const std::int16_t* samples, std::size_t n) {
  if (side < 0 || side > 1) return;
  Side& s = sides_[side];
  if (n > kMaxPush) {
    samples += n - kMaxPush;
    n = kMaxPush;
  }
  for (std::size_t i = 0; i < n; ++i) s.ring[(s.write + i) % kRingSamples] = samples[i];
  s.write += n;
  // Bound the latency: keep the newest `prefill_` samples once past the limit.
  if (s.write - s.read > limit_) {
    dropped_ += s.write - s.read - prefill_;
    s.read = s.write - prefill_;
  }
  if (!s.playing && s.write - s.read >= prefill_) s.playing = true;
}

void ListenMix::take(Side& s, std::int32_t* acc, std::size_t n) {
  if (!s.playing) return;
  const std::size_t have = static_cast<std::size_t>(s.write - s.read);
  const std::size_t k = std::min(have, n);
  for (std::size_t i = 0; i < k; ++i) acc[i] += s.ring[(s.read + i) % kRingSamples];
  s.read += k;
  if (k < n) {  // ran dry: build the cushion up again before playing on
    s.playing = false;
    ++underruns_;
  }
}

void ListenMix::pull(std::int16_t* out, std::size_t n) {
  while (n > 0) {
    const std::size_t m = std::min(n, acc_.size());
    std::fill_n(acc_.begin(), m, 0);
    take(sides_[0], acc_.data(), m);
    take(sides_[1], acc_.data(), m);
    for (std::size_t i = 0; i < m; ++i)
      out[i] = static_cast<std::int16_t>(std::clamp(acc_[i], -32768, 32767));
    out += m;
    n -= m;
  }
}

}  // namespace hotline::media
