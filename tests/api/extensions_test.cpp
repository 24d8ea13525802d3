// SIP extensions through the API: one-time passwords, HA1-only storage,
// validation, tenancy and audit.
#include <gtest/gtest.h>

#include "api/server_fixture.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;

TEST(Extensions, CreateReturnsThePasswordOnceAndStoresOnlyHa1) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto r = admin.post("/api/v1/extensions", {{"extension", "1001"}, {"display_name", "Agent One"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string pw = r.json()["password"];
  EXPECT_EQ(pw.size(), 16u);
  auto stored = s.db->exec("SELECT realm, ha1_md5, ha1_sha256 FROM extensions").rows.at(0);
  EXPECT_EQ(stored.text(0), "hotline");
  EXPECT_EQ(stored.text(1), security::md5_hex("1001:hotline:" + pw));
  EXPECT_EQ(stored.text(2), security::sha256_hex("1001:hotline:" + pw));
  auto list = admin.get("/api/v1/extensions");
  EXPECT_EQ(list.body.find(pw), std::string::npos);
  EXPECT_EQ(list.items().size(), 1u);
  EXPECT_EQ(admin.get("/api/v1/audit?action=extension.create").items().size(), 1u);
}

TEST(Extensions, GivenPasswordIsNotEchoedAndValidated) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto r = admin.post("/api/v1/extensions", {{"extension", "2001"}, {"password", "chosen-secret"}});
  ASSERT_EQ(r.status, 201);
  EXPECT_FALSE(r.json().contains("password"));
  auto bad = admin.post("/api/v1/extensions", {{"extension", "2002"}, {"password", "short"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["error"]["details"]["field"], "password");
  auto colon = admin.post("/api/v1/extensions", {{"extension", "2003"}, {"password", "has:colon-inside"}});
  EXPECT_EQ(colon.status, 400);
  auto name = admin.post("/api/v1/extensions", {{"extension", "1 0 0"}});
  EXPECT_EQ(name.status, 400);
  EXPECT_EQ(name.json()["error"]["details"]["field"], "extension");
  EXPECT_EQ(admin.post("/api/v1/extensions", {{"extension", "2001"}}).status, 409);
  EXPECT_EQ(admin.post("/api/v1/extensions", {{"extension", "2004"}, {"user_id", "seven"}}).status, 400);
  EXPECT_EQ(admin.post("/api/v1/extensions", {{"extension", "2005"}, {"user_id", 424242}}).status, 400);
  EXPECT_EQ(s.count("extensions"), 1);
}

TEST(Extensions, PasswordChangeAndDelete) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto created = admin.post("/api/v1/extensions", {{"extension", "3001"}});
  auto id = std::to_string(created.json()["id"].get<std::int64_t>());
  auto before = s.db->exec("SELECT ha1_md5 FROM extensions").rows.at(0).text(0);
  auto changed = admin.put("/api/v1/extensions/" + id + "/password", json::object());
  ASSERT_EQ(changed.status, 200) << changed.body;
  const std::string pw = changed.json()["password"];
  auto after = s.db->exec("SELECT ha1_md5 FROM extensions").rows.at(0).text(0);
  EXPECT_NE(before, after);
  EXPECT_EQ(after, security::md5_hex("3001:hotline:" + pw));
  EXPECT_EQ(admin.del("/api/v1/extensions/" + id).status, 204);
  EXPECT_EQ(admin.del("/api/v1/extensions/" + id).status, 404);
}

TEST(Extensions, OtherTenantsCannotSeeOrTouchThem) {
  ApiServer s;
  auto a = s.signed_in("acme", "root", {"admin"});
  auto b = s.signed_in("globex", "boss", {"admin"});
  auto created = b.post("/api/v1/extensions", {{"extension", "4001"}});
  auto id = std::to_string(created.json()["id"].get<std::int64_t>());
  EXPECT_TRUE(a.get("/api/v1/extensions").items().empty());
  EXPECT_EQ(a.put("/api/v1/extensions/" + id + "/password", json::object()).status, 404);
  EXPECT_EQ(a.del("/api/v1/extensions/" + id).status, 404);
  EXPECT_EQ(b.get("/api/v1/extensions").items().size(), 1u);
  // The same number may exist in both tenants.
  EXPECT_EQ(a.post("/api/v1/extensions", {{"extension", "4001"}}).status, 201);
}
