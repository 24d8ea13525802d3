// common/result.h — errors as values.
//
// Untrusted input (the wire, the API) never throws through a subsystem
// boundary: functions return Result<T>, and the edge (SIP or HTTP) maps the
// Error's code to one response. Broken invariants assert instead.
//
//   Result<User> r = users.find(id);
//   if (!r) return http_error(r.error());
//   use(*r);
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace hotline::common {

// Error codes are short stable identifiers ("not_found", "invalid_argument")
// that API clients may match on; messages are for humans.
struct Error {
  std::string code;
  std::string message;
  std::string field;            // the offending input field, when there is one
  long long retry_after_s = 0;  // for "locked"/"rate_limited": when to try again

  static Error invalid(std::string field, std::string message) {
    return Error{"invalid_argument", std::move(message), std::move(field)};
  }
  static Error not_found(std::string message) { return Error{"not_found", std::move(message), {}}; }
  static Error conflict(std::string message) { return Error{"conflict", std::move(message), {}}; }
  static Error internal(std::string message) { return Error{"internal", std::move(message), {}}; }
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation with no value.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Status(Ok{}); }

}  // namespace hotline::common
