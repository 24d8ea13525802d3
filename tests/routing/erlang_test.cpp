// Erlang B/C against published values.
#include "routing/erlang.h"

#include <gtest/gtest.h>

#include <cmath>

namespace hotline::routing::erlang {
namespace {

TEST(Erlang, ErlangBTableValue) {
  // Classic Erlang B table: 5 Erlangs offered to 10 lines -> 1.84 % blocking.
  EXPECT_NEAR(erlang_b(10, 5.0), 0.0184, 5e-5);
  EXPECT_DOUBLE_EQ(erlang_b(0, 5.0), 1.0);
  EXPECT_DOUBLE_EQ(erlang_b(3, 0.0), 0.0);
}

TEST(Erlang, ErlangCClosedForm) {
  // M/M/3 with A = 2: C = (8/6 * 3) / (1 + 2 + 2 + 4) = 4/9 (also the
  // documented ErlangC[3, 2] example in Mathematica).
  EXPECT_NEAR(erlang_c(3, 2.0), 4.0 / 9.0, 1e-12);
  // Textbook: one call per minute, 3 min service, 5 agents -> 23.6 % wait.
  EXPECT_NEAR(erlang_c(5, 3.0), 0.236, 5e-4);
}

TEST(Erlang, PublishedCallCenterTable) {
  // 100 calls per 30 minutes, AHT 180 s -> A = 10 Erlangs; SL target 20 s.
  // Published Erlang C values: P(wait) 68.2 %, 44.9 %, 28.5 %, 17.4 % for
  // 11..14 agents; 14 agents give 88.8 % answered within 20 s.
  const double a = 10.0;
  EXPECT_NEAR(erlang_c(11, a), 0.6821, 5e-4);
  EXPECT_NEAR(erlang_c(12, a), 0.4494, 5e-4);
  EXPECT_NEAR(erlang_c(13, a), 0.2853, 5e-4);
  EXPECT_NEAR(erlang_c(14, a), 0.1741, 5e-4);
  EXPECT_NEAR(service_level(14, a, 180, 20), 0.888, 1e-3);
  EXPECT_NEAR(service_level(13, a, 180, 20), 0.796, 1e-3);
  EXPECT_EQ(agents_for_service_level(a, 180, 20, 0.80), 14);
  EXPECT_NEAR(occupancy(14, a), 10.0 / 14.0, 1e-12);
  // ASA = C * AHT / (N - A) = 0.1741 * 180 / 4.
  EXPECT_NEAR(average_speed_of_answer(14, a, 180), 0.17413 * 45.0, 1e-2);
}

TEST(Erlang, StaffingForWaitProbability) {
  // 30 calls/h, 5 min each (A = 2.5): at least 90 % not delayed needs 6.
  EXPECT_EQ(agents_for_wait_probability(2.5, 0.10), 6);
  EXPECT_GT(erlang_c(5, 2.5), 0.10);
  EXPECT_LT(erlang_c(6, 2.5), 0.10);
}

TEST(Erlang, StableForLargeSystems) {
  // 5,000 Erlangs: A^N and N! overflow doubles, the recurrence does not.
  const double c = erlang_c(5100, 5000.0);
  EXPECT_TRUE(std::isfinite(c));
  EXPECT_GT(c, 0.0);
  EXPECT_LT(c, 1.0);
  auto n = agents_for_service_level(5000.0, 300, 20, 0.9);
  ASSERT_TRUE(n.has_value());
  EXPECT_GT(*n, 5000);
  EXPECT_LT(*n, 5200);
}

TEST(Erlang, UnstableAndInvalidInputs) {
  EXPECT_DOUBLE_EQ(erlang_c(10, 10.0), 1.0);
  EXPECT_DOUBLE_EQ(service_level(9, 10.0, 180, 20), 0.0);
  EXPECT_TRUE(std::isinf(average_speed_of_answer(10, 10.0, 180)));
  EXPECT_FALSE(agents_for_service_level(10, 0, 20, 0.8).has_value());
  EXPECT_FALSE(agents_for_service_level(10, 180, 20, 1.0).has_value());
  EXPECT_FALSE(agents_for_service_level(1e9, 180, 20, 0.8, 100).has_value());
  EXPECT_DOUBLE_EQ(service_level(1, 0.0, 180, 20), 1.0);
}

}  // namespace
}  // namespace hotline::routing::erlang
