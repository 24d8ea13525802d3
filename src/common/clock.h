// common/clock.h — the time seam.
//
// Every subsystem that needs time takes a `Clock&` instead of calling
// std::chrono directly, so tests drive time with FakeClock and never sleep.
//
//   hotline::common::FakeClock clock;
//   engine.tick(clock.now());
//   clock.advance(std::chrono::seconds(30));
//
// Thread-safety: SystemClock is stateless. FakeClock is safe to read from
// several threads while one thread advances it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace hotline::common {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time for timers and durations.
  virtual SteadyTime now() const = 0;
  // Calendar time for records (audit entries, CDRs, expiry stored in the DB).
  virtual WallTime wall_now() const = 0;

  // Milliseconds since the Unix epoch; the unit every stored timestamp uses.
  std::int64_t wall_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(wall_now().time_since_epoch()).count();
  }
};

class SystemClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
  static SystemClock& instance() {
    static SystemClock clock;
    return clock;
  }
};

// Starts at a fixed, non-zero point so that "time zero" bugs show up.
class FakeClock final : public Clock {
 public:
  FakeClock() = default;
  explicit FakeClock(std::int64_t wall_epoch_ms) : wall_offset_ms_(wall_epoch_ms) {}

  SteadyTime now() const override { return SteadyTime(std::chrono::nanoseconds(ns_.load())); }
  WallTime wall_now() const override {
    return WallTime(std::chrono::milliseconds(wall_offset_ms_)) +
           std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(ns_.load()));
  }
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> d) {
    ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }

 private:
  std::atomic<std::int64_t> ns_{1'000'000'000'000};  // 1000 s after the steady epoch
  std::int64_t wall_offset_ms_ = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
};

}  // namespace hotline::common
