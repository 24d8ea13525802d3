#include "common/result.h"

#include <gtest/gtest.h>

using hotline::common::Error;
using hotline::common::Result;

TEST(Result, HoldsValueOrError) {
  Result<int> good = 7;
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 7);
  Result<int> bad = Error::invalid("age", "must be positive");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "invalid_argument");
  EXPECT_EQ(bad.error().field, "age");
}
