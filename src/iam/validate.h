// iam/validate.h — input rules shared by the directory and its callers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace hotline::iam {

// Each returns an invalid_argument error naming `field`, or nothing when fine.
std::optional<common::Error> check_username(std::string_view v, const char* field = "username");
std::optional<common::Error> check_slug(std::string_view v, const char* field = "slug");
std::optional<common::Error> check_role_name(std::string_view v, const char* field = "name");
std::optional<common::Error> check_text(std::string_view v, std::size_t max, const char* field);
std::optional<common::Error> check_email(std::string_view v, const char* field = "email");
std::optional<common::Error> check_password(std::string_view v, std::size_t min_length,
                                            const char* field = "password");

// True when `s` is well-formed UTF-8 without NUL or other C0 controls except tab.
bool is_clean_utf8(std::string_view s);

}  // namespace hotline::iam
