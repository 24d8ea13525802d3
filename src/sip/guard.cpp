#include "sip/guard.h"

#include <algorithm>
#include <array>

namespace hotline::sip {

bool Guard::exempt(const std::string& ip) const {
  for (const auto& p : config_.exempt_prefixes)
    if (ip.compare(0, p.size(), p) == 0) return true;
  return trusted_ && trusted_(ip);
}

namespace {
// Lower-cases at most N bytes of `s` into `buf` (no allocation: this runs on
// every request).
template <size_t N>
std::string_view lower_prefix(std::string_view s, std::array<char, N>& buf) {
  size_t n = std::min(s.size(), N);
  for (size_t i = 0; i < n; ++i) buf[i] = ascii_lower(s[i]);
  return std::string_view(buf.data(), n);
}
}  // namespace

bool Guard::is_scanner(const Message& msg) const {
  std::string_view ua_raw = msg.header(HeaderId::kUserAgent);
  std::string_view from_raw = msg.header(HeaderId::kFrom);
  if (ua_raw.empty() && from_raw.empty()) return false;
  std::array<char, 256> ua_buf;
  std::string_view ua = lower_prefix(ua_raw, ua_buf);
  for (const auto& s : scanners_lower_)
    if (ua.find(s) != std::string_view::npos) return true;
  // svwar/svmap also put their name in From's display name.
  if (!sipvicious_listed_ || from_raw.empty()) return false;
  std::array<char, 64> from_buf;
  return lower_prefix(from_raw, from_buf).find("sipvicious") != std::string_view::npos;
}

Guard::Verdict Guard::admit(const Message& msg, const std::string& ip, common::SteadyTime now) {
  if (msg.is_request() && is_scanner(msg)) {
    ++stats_.scanners;
    return Verdict::kScanner;
  }
  return admit_source(ip, now);
}

Guard::Verdict Guard::admit_source(const std::string& ip, common::SteadyTime now) {
  if (exempt(ip)) return Verdict::kAllow;
  auto it = sources_.find(ip);
  if (it == sources_.end()) {
    if (sources_.size() >= config_.max_sources) {
      purge(now);
      if (sources_.size() >= config_.max_sources) {
        ++stats_.rate_limited;
        return Verdict::kRateLimited;
      }
    }
    it = sources_.emplace(ip, Source{config_.burst, now, 0, now, {}}).first;
  }
  Source& s = it->second;
  if (s.banned_until > now) {
    ++stats_.banned;
    return Verdict::kBanned;
  }
  double elapsed = std::chrono::duration<double>(now - s.last).count();
  s.tokens = std::min(config_.burst, s.tokens + elapsed * config_.requests_per_second);
  s.last = now;
  if (s.tokens < 1.0) {
    ++stats_.rate_limited;
    return Verdict::kRateLimited;
  }
  s.tokens -= 1.0;
  return Verdict::kAllow;
}

void Guard::auth_result(const std::string& ip, bool ok, common::SteadyTime now) {
  if (exempt(ip)) return;
  auto it = sources_.find(ip);
  if (it == sources_.end()) return;
  Source& s = it->second;
  if (ok) {
    s.failures = 0;
    return;
  }
  if (now - s.window_start > config_.failure_window) {
    s.window_start = now;
    s.failures = 0;
  }
  if (++s.failures >= config_.max_auth_failures) {
    s.banned_until = now + config_.ban_time;
    s.failures = 0;
    ++stats_.bans_issued;
  }
}

bool Guard::banned(const std::string& ip, common::SteadyTime now) const {
  auto it = sources_.find(ip);
  return it != sources_.end() && it->second.banned_until > now;
}

void Guard::purge(common::SteadyTime now) {
  // An entry whose bucket has refilled, with no ban and no recent failures,
  // carries no information: drop it.
  auto refill = std::chrono::duration<double>(config_.burst / std::max(config_.requests_per_second, 1e-9));
  for (auto it = sources_.begin(); it != sources_.end();) {
    const Source& s = it->second;
    bool idle = now - s.last > refill && s.banned_until <= now &&
                (s.failures == 0 || now - s.window_start > config_.failure_window);
    it = idle ? sources_.erase(it) : std::next(it);
  }
}

}  // namespace hotline::sip
