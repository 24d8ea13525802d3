#include "security/mask.h"

#include <gtest/gtest.h>

using namespace hotline::security;

TEST(Mask, CardNumbersPassingLuhnAreMasked) {
  EXPECT_EQ(mask_card_numbers("card 4111111111111111 ok"), "card 411111******1111 ok");
  EXPECT_EQ(mask_card_numbers("4111-1111-1111-1111"), "4111-11**-****-1111");
}

TEST(Mask, NumbersFailingLuhnOrTooShortAreKept) {
  EXPECT_EQ(mask_card_numbers("order 4111111111111112"), "order 4111111111111112");
  EXPECT_EQ(mask_card_numbers("call 13812345678"), "call 13812345678");
}

TEST(Mask, PhoneHidesLastFourDigits) {
  EXPECT_EQ(mask_phone("+8613812345678"), "+861381234****");
  EXPECT_EQ(mask_phone("138-1234-5678"), "138-1234-****");
  EXPECT_EQ(mask_phone("12"), "**");
}
