// sip/guard.h — per-source admission control against hostile traffic.
//
// Three cheap checks run before a message reaches the transaction layer:
//  * a token bucket per source IP (requests/s with a burst), excess dropped;
//  * temporary bans after repeated authentication failures (the registrar
//    reports each check), banned sources are dropped silently;
//  * scanners (friendly-scanner, sipvicious, sipcli…) recognised by
//    User-Agent are dropped without a response, which is what makes
//    svmap/svwar give up.
// The source table is bounded (max_sources); when it is full, idle entries
// are purged and, failing that, unknown sources are refused until it drains,
// so a spoofed-source flood cannot grow memory. Exempt prefixes (e.g. a
// carrier's trunk or 127.0.0.1 for load tests) bypass rate limits and bans.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "sip/message.h"

namespace hotline::sip {

struct GuardConfig {
  double requests_per_second = 50;  // sustained, per source IP
  double burst = 200;
  int max_auth_failures = 10;  // within failure_window -> ban
  std::chrono::seconds failure_window{60};
  std::chrono::seconds ban_time{600};
  size_t max_sources = 100000;
  std::vector<std::string> exempt_prefixes;  // textual prefixes: "127.0.0.1", "10.1."
  std::vector<std::string> scanner_agents = {
      "friendly-scanner", "sipvicious", "sipcli",          "sip-scan", "sipsak",
      "sundayddr",        "iWar",       "VaxSIPUserAgent", "SIVuS",    "smap"};
};

class Guard {
 public:
  enum class Verdict { kAllow, kRateLimited, kBanned, kScanner };

  explicit Guard(GuardConfig config) : config_(std::move(config)) {
    for (const auto& a : config_.scanner_agents) scanners_lower_.push_back(to_lower(a));
    sipvicious_listed_ =
        std::find(scanners_lower_.begin(), scanners_lower_.end(), "sipvicious") != scanners_lower_.end();
  }
  // Called for every received request (responses are only rate-counted).
  Verdict admit(const Message& msg, const std::string& ip, common::SteadyTime now);
  // Rate/ban check for traffic that is not a parsed request.
  Verdict admit_source(const std::string& ip, common::SteadyTime now);
  // Sources that bypass rate limits and bans besides the exempt prefixes,
  // decided by the application (e.g. the configured SIP trunks, whose one
  // address carries every call of a carrier). Called for every message on
  // the stack's thread, so it must be cheap.
  void set_trusted(std::function<bool(const std::string& ip)> trusted) { trusted_ = std::move(trusted); }
  void auth_result(const std::string& ip, bool ok, common::SteadyTime now);
  bool banned(const std::string& ip, common::SteadyTime now) const;
  bool is_scanner(const Message& msg) const;
  size_t tracked() const { return sources_.size(); }
  void purge(common::SteadyTime now);

  struct Stats {
    std::uint64_t rate_limited = 0, banned = 0, scanners = 0, bans_issued = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Source {
    double tokens = 0;
    common::SteadyTime last{};
    int failures = 0;
    common::SteadyTime window_start{};
    common::SteadyTime banned_until{};
  };
  bool exempt(const std::string& ip) const;
  std::function<bool(const std::string& ip)> trusted_;

  GuardConfig config_;
  std::vector<std::string> scanners_lower_;
  bool sipvicious_listed_ = false;  // From's display name is checked for it too
  std::unordered_map<std::string, Source> sources_;
  Stats stats_;
};

}  // namespace hotline::sip
