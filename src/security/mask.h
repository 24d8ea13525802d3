// security/mask.h — masking of card and phone numbers in text shown to people.
//
//   mask_phone("+8613812345678") == "+861381234****" ... keeps the first digits
//   and hides the last four, so agents can recognise a region but not dial.
#pragma once

#include <string>
#include <string_view>

namespace hotline::security {

// Replaces all but the first 6 and last 4 digits of every run of 13–19 digits
// (spaces and dashes allowed inside) that passes the Luhn check with '*'.
std::string mask_card_numbers(std::string_view text);

// Hides the last four digits of a phone number; keeps '+' and separators.
std::string mask_phone(std::string_view phone);

}  // namespace hotline::security
