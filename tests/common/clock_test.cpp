#include "common/clock.h"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
using hotline::common::FakeClock;

TEST(FakeClock, AdvancesSteadyAndWallTogether) {
  FakeClock clock;
  auto t0 = clock.now();
  auto w0 = clock.wall_ms();
  clock.advance(1500ms);
  EXPECT_EQ(clock.now() - t0, 1500ms);
  EXPECT_EQ(clock.wall_ms() - w0, 1500);
}

TEST(FakeClock, StartsAtConfiguredWallTime) {
  FakeClock clock(42'000);
  EXPECT_EQ(clock.wall_ms(), 42'000 + 1'000'000);
}
