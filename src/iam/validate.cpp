#include "iam/validate.h"

namespace hotline::iam {
namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

common::Error bad(const char* field, std::string msg) {
  return common::Error::invalid(field, std::move(msg));
}

}  // namespace

bool is_clean_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t') return false;
      if (c == 0x7F) return false;
      ++i;
      continue;
    }
    int extra = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;
    if (cp >= 0xD800 && cp <= 0xDFFF) return false;
    if (cp > 0x10FFFF) return false;
    i += extra + 1;
  }
  return true;
}

std::optional<common::Error> check_username(std::string_view v, const char* field) {
  if (v.empty() || v.size() > 64) return bad(field, "must be 1 to 64 characters");
  if (!is_alnum(v[0])) return bad(field, "must start with a letter or digit");
  for (char c : v) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-' && c != '@') {
      return bad(field, "may contain only letters, digits and . _ - @");
    }
  }
  return std::nullopt;
}

std::optional<common::Error> check_slug(std::string_view v, const char* field) {
  if (v.empty() || v.size() > 63) return bad(field, "must be 1 to 63 characters");
  if (!is_lower_alnum(v[0])) return bad(field, "must start with a lower-case letter or digit");
  for (char c : v) {
    if (!is_lower_alnum(c) && c != '-') return bad(field, "may contain only a-z, 0-9 and -");
  }
  return std::nullopt;
}

std::optional<common::Error> check_role_name(std::string_view v, const char* field) {
  if (v.empty() || v.size() > 64) return bad(field, "must be 1 to 64 characters");
  for (char c : v) {
    if (!is_lower_alnum(c) && c != '-' && c != '_' && c != '.') {
      return bad(field, "may contain only a-z, 0-9 and - _ .");
    }
  }
  return std::nullopt;
}

std::optional<common::Error> check_text(std::string_view v, std::size_t max, const char* field) {
  if (v.size() > max) return bad(field, "must be at most " + std::to_string(max) + " bytes");
  if (!is_clean_utf8(v)) return bad(field, "must be valid UTF-8 without control characters");
  return std::nullopt;
}

std::optional<common::Error> check_email(std::string_view v, const char* field) {
  if (v.empty()) return std::nullopt;
  if (auto e = check_text(v, 254, field)) return e;
  auto at = v.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= v.size() ||
      v.find(' ') != std::string_view::npos) {
    return bad(field, "must look like name@example.com");
  }
  return std::nullopt;
}

std::optional<common::Error> check_password(std::string_view v, std::size_t min_length, const char* field) {
  if (v.size() < min_length)
    return bad(field, "must be at least " + std::to_string(min_length) + " characters");
  if (v.size() > 1024) return bad(field, "must be at most 1024 bytes");
  if (!is_clean_utf8(v)) return bad(field, "must be valid UTF-8 without control characters");
  return std::nullopt;
}

}  // namespace hotline::iam
