#include "security/mask.h"

#include <cctype>
#include <vector>

namespace hotline::security {
namespace {

bool luhn_ok(const std::vector<int>& digits) {
  int sum = 0;
  bool dbl = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    int d = *it;
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string mask_card_numbers(std::string_view text) {
  std::string out(text);
  std::size_t i = 0;
  while (i < out.size()) {
    if (!is_digit(out[i])) {
      ++i;
      continue;
    }
    // Collect a run of digits allowing single spaces/dashes between them.
    std::vector<std::size_t> pos;
    std::size_t j = i;
    while (j < out.size()) {
      if (is_digit(out[j])) {
        pos.push_back(j++);
      } else if ((out[j] == ' ' || out[j] == '-') && j + 1 < out.size() && is_digit(out[j + 1])) {
        ++j;
      } else {
        break;
      }
    }
    if (pos.size() >= 13 && pos.size() <= 19) {
      std::vector<int> digits;
      for (auto p : pos) digits.push_back(out[p] - '0');
      if (luhn_ok(digits)) {
        for (std::size_t k = 6; k + 4 < pos.size(); ++k) out[pos[k]] = '*';
      }
    }
    i = j;
  }
  return out;
}

std::string mask_phone(std::string_view phone) {
  std::string out(phone);
  int hidden = 0;
  for (auto it = out.rbegin(); it != out.rend() && hidden < 4; ++it) {
    if (is_digit(*it)) {
      *it = '*';
      ++hidden;
    }
  }
  return out;
}

}  // namespace hotline::security
