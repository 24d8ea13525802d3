// sip::Guard: per-source token bucket, exempt prefixes, application-trusted
// sources (trunks), bans after repeated authentication failures.
#include "sip/guard.h"

#include <gtest/gtest.h>

namespace hotline::sip {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

GuardConfig small_bucket() {
  GuardConfig c;
  c.requests_per_second = 10;
  c.burst = 5;
  c.max_auth_failures = 3;
  c.ban_time = seconds(60);
  return c;
}

int admitted(Guard& g, const std::string& ip, int n, common::SteadyTime now) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += g.admit_source(ip, now) == Guard::Verdict::kAllow;
  return ok;
}

Message options_from(std::string_view from, std::string_view user_agent) {
  std::string text =
      "OPTIONS sip:100@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n"
      "From: " +
      std::string(from) +
      ";tag=1\r\nTo: <sip:100@example.com>\r\nCall-ID: c1\r\n"
      "CSeq: 1 OPTIONS\r\n";
  if (!user_agent.empty()) text += "User-Agent: " + std::string(user_agent) + "\r\n";
  auto m = Message::parse(text + "Content-Length: 0\r\n\r\n");
  EXPECT_TRUE(m.ok());
  return m ? std::move(*m) : Message();
}

// Scanners are known by User-Agent (any case), and sipvicious also by
// From's display name; only while sipvicious is on the list.
TEST(Guard, ScannersByUserAgentAndSipviciousByFrom) {
  Guard g{GuardConfig{}};
  auto now = common::SteadyTime{};
  EXPECT_EQ(g.admit(options_from("<sip:a@b>", "Friendly-Scanner"), "192.0.2.1", now),
            Guard::Verdict::kScanner);
  EXPECT_EQ(g.admit(options_from("\"SIPVicious\" <sip:100@b>", ""), "192.0.2.1", now),
            Guard::Verdict::kScanner);
  EXPECT_EQ(g.admit(options_from("<sip:a@b>", "SIPp"), "192.0.2.1", now), Guard::Verdict::kAllow);
  GuardConfig other;
  other.scanner_agents = {"sipcli"};
  Guard h{other};
  EXPECT_EQ(h.admit(options_from("\"sipvicious\" <sip:100@b>", ""), "192.0.2.1", now),
            Guard::Verdict::kAllow);
  EXPECT_EQ(h.admit(options_from("<sip:a@b>", "sipcli/1.8"), "192.0.2.1", now), Guard::Verdict::kScanner);
}

TEST(Guard, BurstThenTheSustainedRatePerSource) {
  Guard g(small_bucket());
  const common::SteadyTime t0{};
  EXPECT_EQ(admitted(g, "192.0.2.1", 20, t0), 5);                      // the burst
  EXPECT_EQ(admitted(g, "192.0.2.1", 20, t0 + milliseconds(500)), 5);  // 0.5 s x 10/s refilled
  EXPECT_EQ(admitted(g, "192.0.2.2", 20, t0), 5);                      // another source has its own bucket
  EXPECT_GT(g.stats().rate_limited, 0u);
}

TEST(Guard, ExemptPrefixesAreNeverLimited) {
  auto c = small_bucket();
  c.exempt_prefixes = {"10.1."};
  Guard g(c);
  EXPECT_EQ(admitted(g, "10.1.2.3", 100, {}), 100);
  EXPECT_EQ(admitted(g, "10.2.2.3", 100, {}), 5);
}

TEST(Guard, SourcesTrustedByTheApplicationBypassLimitsAndBans) {
  Guard g(small_bucket());
  g.set_trusted([](const std::string& ip) { return ip == "203.0.113.9"; });  // a carrier's trunk
  EXPECT_EQ(admitted(g, "203.0.113.9", 1000, {}), 1000);
  for (int i = 0; i < 10; ++i) g.auth_result("203.0.113.9", false, {});
  EXPECT_FALSE(g.banned("203.0.113.9", {}));
  EXPECT_EQ(admitted(g, "203.0.113.10", 100, {}), 5);  // its neighbour is an ordinary source
}

TEST(Guard, RepeatedAuthenticationFailuresBanTheSourceForBanTime) {
  Guard g(small_bucket());
  const common::SteadyTime t0{};
  ASSERT_EQ(g.admit_source("198.51.100.7", t0), Guard::Verdict::kAllow);
  for (int i = 0; i < 3; ++i) g.auth_result("198.51.100.7", false, t0);
  EXPECT_TRUE(g.banned("198.51.100.7", t0 + seconds(1)));
  EXPECT_EQ(g.admit_source("198.51.100.7", t0 + seconds(1)), Guard::Verdict::kBanned);
  EXPECT_FALSE(g.banned("198.51.100.7", t0 + seconds(61)));
  EXPECT_EQ(g.admit_source("198.51.100.7", t0 + seconds(61)), Guard::Verdict::kAllow);
}

}  // namespace
}  // namespace hotline::sip
