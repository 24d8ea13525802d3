// Sign-in, sessions, throttling and lockout through the real HTTP API.
#include <gtest/gtest.h>

#include "api/server_fixture.h"

using namespace hotline;
using namespace hotline::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

json creds(const std::string& user, const std::string& pw, const std::string& tenant = "acme") {
  return {{"tenant", tenant}, {"username", user}, {"password", pw}};
}

std::int64_t audit_count(ApiServer& s, const std::string& action) {
  return s.db->exec("SELECT COUNT(*) FROM audit_log WHERE action = $1", {action}).rows.at(0).integer(0);
}

}  // namespace

TEST(Auth, LoginReturnsTokenThatAuthenticatesMe) {
  ApiServer s;
  auto admin = s.signed_in("acme", "alice", {"admin"});
  auto me = admin.get("/api/v1/me");
  ASSERT_EQ(me.status, 200) << me.body;
  auto j = me.json();
  EXPECT_EQ(j["username"], "alice");
  EXPECT_EQ(j["tenant"]["slug"], "acme");
  EXPECT_EQ(j["roles"], json::array({"admin"}));
  EXPECT_NE(std::find(j["permissions"].begin(), j["permissions"].end(), "users.write"),
            j["permissions"].end());
  EXPECT_FALSE(me.header("X-Request-Id").empty());
  EXPECT_EQ(audit_count(s, "auth.login"), 1);
}

TEST(Auth, TokenIsStoredOnlyAsHash) {
  ApiServer s;
  auto c = s.signed_in("acme", "alice", {"agent"});
  auto rows = s.db->exec("SELECT token_hash FROM sessions").rows;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text(0), security::sha256_hex(c.token));
  EXPECT_NE(rows[0].text(0), c.token);
}

TEST(Auth, WrongPasswordAndUnknownUserLookTheSame) {
  ApiServer s;
  s.signed_in("acme", "alice", {"agent"});
  auto c = s.client();
  auto wrong = c.post("/api/v1/auth/login", creds("alice", "not-the-password"));
  auto unknown = c.post("/api/v1/auth/login", creds("nobody", "not-the-password"));
  auto no_tenant = c.post("/api/v1/auth/login", creds("alice", "not-the-password", "ghost"));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(no_tenant.status, 401);
  EXPECT_EQ(wrong.json()["error"], unknown.json()["error"]);
  EXPECT_EQ(wrong.json()["error"], no_tenant.json()["error"]);
  EXPECT_EQ(audit_count(s, "auth.login_failed"), 3);
}

TEST(Auth, RepeatedFailuresLockTheAccountAndAreAudited) {
  ApiServer s;
  s.signed_in("acme", "alice", {"agent"});
  auto c = s.client();
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(c.post("/api/v1/auth/login", creds("alice", "wrong-wrong")).status, 401);
  auto fifth = c.post("/api/v1/auth/login", creds("alice", "wrong-wrong"));
  EXPECT_EQ(fifth.status, 429);
  EXPECT_EQ(fifth.json()["error"]["code"], "locked");
  EXPECT_FALSE(fifth.header("Retry-After").empty());
  // Even the right password is refused while locked.
  auto right = c.post("/api/v1/auth/login", creds("alice", ApiServer::kPassword));
  EXPECT_EQ(right.status, 429);
  EXPECT_EQ(audit_count(s, "auth.locked"), 1);
  EXPECT_EQ(audit_count(s, "auth.login_blocked"), 1);
  // After the lockout the right password works again.
  s.clock.advance(16min);
  EXPECT_EQ(c.post("/api/v1/auth/login", creds("alice", ApiServer::kPassword)).status, 200);
}

TEST(Auth, UnknownAccountsLockTheSameWay) {
  ApiServer s;
  s.signed_in("acme", "alice", {"agent"});
  auto c = s.client();
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(c.post("/api/v1/auth/login", creds("ghost", "wrong-wrong")).status, 401);
  auto fifth = c.post("/api/v1/auth/login", creds("ghost", "wrong-wrong"));
  EXPECT_EQ(fifth.status, 429);
  EXPECT_EQ(fifth.json()["error"]["code"], "locked");
}

TEST(Auth, SourceIsThrottledAcrossAccounts) {
  iam::AuthPolicy policy = fast_policy();
  policy.max_failures_per_source = 6;
  ApiServer s("", {}, policy);
  s.signed_in("acme", "alice", {"agent"});
  auto c = s.client();
  for (int i = 0; i < 6; ++i) {
    c.post("/api/v1/auth/login", creds("user" + std::to_string(i), "wrong-wrong"));
  }
  auto r = c.post("/api/v1/auth/login", creds("alice", ApiServer::kPassword));
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.json()["error"]["code"], "rate_limited");
  s.clock.advance(6min);
  EXPECT_EQ(c.post("/api/v1/auth/login", creds("alice", ApiServer::kPassword)).status, 200);
}

TEST(Auth, LogoutEndsTheSession) {
  ApiServer s;
  auto c = s.signed_in("acme", "alice", {"agent"});
  EXPECT_EQ(c.get("/api/v1/me").status, 200);
  EXPECT_EQ(c.request(boost::beast::http::verb::post, "/api/v1/auth/logout").status, 204);
  auto after = c.get("/api/v1/me");
  EXPECT_EQ(after.status, 401);
  EXPECT_EQ(after.json()["error"]["code"], "unauthorized");
  EXPECT_EQ(audit_count(s, "auth.logout"), 1);
}

TEST(Auth, SessionsExpire) {
  ApiServer s;
  auto c = s.signed_in("acme", "alice", {"agent"});
  s.clock.advance(8h - 1min);
  EXPECT_EQ(c.get("/api/v1/me").status, 200);
  s.clock.advance(2min);
  EXPECT_EQ(c.get("/api/v1/me").status, 401);
}

TEST(Auth, PasswordChangeEndsOtherSessions) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto agent = s.signed_in("acme", "bob", {"agent"});
  auto bob = *s.directory->find_user(1, "bob");
  auto r =
      admin.put("/api/v1/users/" + std::to_string(bob.id) + "/password", {{"password", "a-new-password-1"}});
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(agent.get("/api/v1/me").status, 401);
  auto c = s.client();
  EXPECT_EQ(c.post("/api/v1/auth/login", creds("bob", "a-new-password-1")).status, 200);
}

TEST(Auth, OwnPasswordChangeNeedsTheCurrentOne) {
  ApiServer s;
  auto c = s.signed_in("acme", "alice", {"agent"});
  auto bad = c.put("/api/v1/me/password",
                   {{"current_password", "nope-nope-nope"}, {"new_password", "brand-new-pass"}});
  EXPECT_EQ(bad.status, 403);
  auto good = c.put("/api/v1/me/password",
                    {{"current_password", ApiServer::kPassword}, {"new_password", "brand-new-pass"}});
  EXPECT_EQ(good.status, 204) << good.body;
  EXPECT_EQ(s.client().post("/api/v1/auth/login", creds("alice", "brand-new-pass")).status, 200);
}

TEST(Auth, BadTokensAreRejected) {
  ApiServer s;
  auto c = s.client();
  EXPECT_EQ(c.get("/api/v1/me").status, 401);
  c.token = "not-a-token";
  EXPECT_EQ(c.get("/api/v1/me").status, 401);
  c.token = std::string(43, 'A');
  EXPECT_EQ(c.get("/api/v1/me").status, 401);
  auto r = c.request(boost::beast::http::verb::get, "/api/v1/me", "", {{"Authorization", "Basic YTpi"}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.json()["error"]["code"], "unauthorized");
}

TEST(Auth, DeactivatedUserIsSignedOutAndCannotSignIn) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto agent = s.signed_in("acme", "bob", {"agent"});
  auto bob = *s.directory->find_user(1, "bob");
  ASSERT_EQ(admin.patch("/api/v1/users/" + std::to_string(bob.id), {{"active", false}}).status, 200);
  EXPECT_EQ(agent.get("/api/v1/me").status, 401);
  EXPECT_EQ(s.client().post("/api/v1/auth/login", creds("bob", ApiServer::kPassword)).status, 401);
}
