// Users and roles through the API: CRUD, tenancy, grants and their audit.
#include <gtest/gtest.h>

#include "api/server_fixture.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;

namespace {

json new_user(const std::string& name, std::vector<std::string> roles = {}) {
  return {{"username", name},
          {"password", "a-long-password"},
          {"display_name", "User " + name},
          {"email", name + "@example.com"},
          {"roles", roles}};
}

}  // namespace

TEST(Users, CreateGetUpdateDeleteWithAudit) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto created = admin.post("/api/v1/users", new_user("carol", {"agent"}));
  ASSERT_EQ(created.status, 201) << created.body;
  auto id = created.json()["id"].get<std::int64_t>();
  EXPECT_EQ(created.json()["roles"], json::array({"agent"}));
  EXPECT_EQ(created.json().count("password"), 0u);
  EXPECT_EQ(created.json().count("password_hash"), 0u);

  auto got = admin.get("/api/v1/users/" + std::to_string(id));
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["email"], "carol@example.com");

  auto patched = admin.patch("/api/v1/users/" + std::to_string(id), {{"display_name", "Carol Chen 陈"}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json()["display_name"], "Carol Chen 陈");

  auto audit = admin.get("/api/v1/audit?action=user.update");
  ASSERT_EQ(audit.status, 200);
  auto entry = audit.json()["items"].at(0);
  EXPECT_EQ(entry["target"], "user:" + std::to_string(id));
  EXPECT_EQ(entry["actor"], "user:1:root");
  EXPECT_EQ(entry["details"]["before"], json({{"display_name", "User carol"}}));
  EXPECT_EQ(entry["details"]["after"], json({{"display_name", "Carol Chen 陈"}}));

  EXPECT_EQ(admin.del("/api/v1/users/" + std::to_string(id)).status, 204);
  EXPECT_EQ(admin.get("/api/v1/users/" + std::to_string(id)).status, 404);
  EXPECT_EQ(admin.get("/api/v1/audit?action=user.delete").json()["items"].size(), 1u);
}

TEST(Users, DuplicateUsernameIsConflict) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  ASSERT_EQ(admin.post("/api/v1/users", new_user("dup")).status, 201);
  auto again = admin.post("/api/v1/users", new_user("dup"));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json()["error"]["code"], "conflict");
}

TEST(Users, ListIsPaginated) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  for (int i = 0; i < 7; ++i)
    ASSERT_EQ(admin.post("/api/v1/users", new_user("u" + std::to_string(i))).status, 201);
  std::vector<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto r = admin.get("/api/v1/users?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    for (auto& u : r.items()) seen.push_back(u["username"]);
    if (r.json()["next_cursor"].is_null()) break;
    cursor = r.json()["next_cursor"];
  }
  EXPECT_EQ(seen.size(), 8u);  // root + 7
  EXPECT_EQ(seen.front(), "root");
}

TEST(Tenancy, UsersOfOneTenantNeverSeeAnother) {
  ApiServer s;
  auto a = s.signed_in("acme", "root", {"admin"});
  auto b = s.signed_in("globex", "boss", {"admin"});
  auto bobs = b.post("/api/v1/users", new_user("secret-bob"));
  ASSERT_EQ(bobs.status, 201);
  auto bob_id = std::to_string(bobs.json()["id"].get<std::int64_t>());

  EXPECT_EQ(a.get("/api/v1/users/" + bob_id).status, 404);
  EXPECT_EQ(a.patch("/api/v1/users/" + bob_id, {{"display_name", "pwned"}}).status, 404);
  EXPECT_EQ(a.del("/api/v1/users/" + bob_id).status, 404);
  EXPECT_EQ(a.put("/api/v1/users/" + bob_id + "/password", {{"password", "hijacked-password"}}).status, 404);
  EXPECT_EQ(a.put("/api/v1/users/" + bob_id + "/roles", {{"roles", json::array()}}).status, 404);
  for (auto& u : a.get("/api/v1/users").items()) EXPECT_NE(u["username"], "secret-bob");
  for (auto& e : a.get("/api/v1/audit?limit=500").items()) {
    EXPECT_EQ(e["target"].get<std::string>().find(bob_id), std::string::npos) << e.dump();
  }
  // A role id of the other tenant is not visible either.
  auto b_roles = b.get("/api/v1/roles").json()["items"];
  auto b_role_id = std::to_string(b_roles.at(0)["id"].get<std::int64_t>());
  EXPECT_EQ(a.get("/api/v1/roles/" + b_role_id).status, 404);
  EXPECT_EQ(b.get("/api/v1/users/" + bob_id).status, 200);
}

TEST(Roles, BuiltinRolesExistAndCannotBeChanged) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto roles = admin.get("/api/v1/roles").json()["items"];
  std::vector<std::string> names;
  for (auto& r : roles) names.push_back(r["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"agent", "supervisor", "manager", "admin", "auditor"}));
  auto admin_id = std::to_string(roles.at(3)["id"].get<std::int64_t>());
  EXPECT_EQ(admin.patch("/api/v1/roles/" + admin_id, {{"description", "x"}}).status, 403);
  EXPECT_EQ(admin.del("/api/v1/roles/" + admin_id).status, 403);
}

TEST(Roles, CustomRoleLifecycleAndAssignment) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto created = admin.post("/api/v1/roles", {{"name", "qa"},
                                              {"description", "Quality checks"},
                                              {"permissions", {"recordings.listen", "reports.read"}}});
  ASSERT_EQ(created.status, 201) << created.body;
  auto rid = std::to_string(created.json()["id"].get<std::int64_t>());
  auto user = admin.post("/api/v1/users", new_user("quinn"));
  auto uid = std::to_string(user.json()["id"].get<std::int64_t>());
  auto assigned = admin.put("/api/v1/users/" + uid + "/roles", {{"roles", {"qa"}}});
  ASSERT_EQ(assigned.status, 200) << assigned.body;
  EXPECT_EQ(assigned.json()["roles"], json::array({"qa"}));

  // quinn's permissions follow the role, including after the role changes.
  auto quinn = s.client();
  quinn.token = quinn
                    .post("/api/v1/auth/login",
                          {{"tenant", "acme"}, {"username", "quinn"}, {"password", "a-long-password"}})
                    .json()["token"];
  EXPECT_EQ(quinn.get("/api/v1/audit").status, 403);
  ASSERT_EQ(admin.patch("/api/v1/roles/" + rid, {{"permissions", {"audit.read"}}}).status, 200);
  EXPECT_EQ(quinn.get("/api/v1/audit").status, 200);

  EXPECT_EQ(admin.del("/api/v1/roles/" + rid).status, 409);  // still assigned
  ASSERT_EQ(admin.put("/api/v1/users/" + uid + "/roles", {{"roles", json::array()}}).status, 200);
  EXPECT_EQ(admin.del("/api/v1/roles/" + rid).status, 204);
  auto perm_changes = admin.get("/api/v1/audit?action=user.roles").json()["items"];
  ASSERT_EQ(perm_changes.size(), 2u);
  EXPECT_EQ(perm_changes[0]["details"]["before"]["roles"], json::array({"qa"}));
}

TEST(Roles, NobodyGrantsWhatTheyDoNotHold) {
  ApiServer s;
  s.signed_in("acme", "root", {"admin"});
  // A custom role allowed to manage roles, but without audit.read.
  auto t = *s.directory->find_tenant("acme");
  ASSERT_TRUE(s.directory->create_role(
      t.id, {"rolemgr", "", {"roles.read", "roles.write", "roles.assign", "users.read"}}, iam::Actor::cli()));
  auto mgr = s.signed_in("acme", "mgr", {"rolemgr"});
  auto r = mgr.post("/api/v1/roles", {{"name", "spy"}, {"permissions", {"audit.read"}}});
  EXPECT_EQ(r.status, 403);
  auto me = *s.directory->find_user(t.id, "mgr");
  auto escalate = mgr.put("/api/v1/users/" + std::to_string(me.id) + "/roles", {{"roles", {"admin"}}});
  EXPECT_EQ(escalate.status, 403);
  EXPECT_EQ(s.directory->find_user(t.id, "mgr")->roles, std::vector<std::string>{"rolemgr"});
}

TEST(Roles, TheLastAdminCannotBeRemoved) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto me = admin.get("/api/v1/me").json();
  auto id = std::to_string(me["id"].get<std::int64_t>());
  auto r = admin.put("/api/v1/users/" + id + "/roles", {{"roles", {"agent"}}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(admin.patch("/api/v1/users/" + id, {{"active", false}}).status, 409);
  EXPECT_EQ(admin.get("/api/v1/me").json()["roles"], json::array({"admin"}));
}

TEST(Audit, FiltersAndPagesNewestFirst) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  for (int i = 0; i < 5; ++i) admin.post("/api/v1/users", new_user("a" + std::to_string(i)));
  auto first = admin.get("/api/v1/audit?action=user.create&limit=2");
  ASSERT_EQ(first.status, 200);
  auto items = first.json()["items"];
  ASSERT_EQ(items.size(), 2u);
  EXPECT_GT(items[0]["seq"], items[1]["seq"]);
  std::string cursor = first.json()["next_cursor"];
  auto second = admin.get("/api/v1/audit?action=user.create&limit=2&cursor=" + cursor).json();
  EXPECT_LT(second["items"][0]["seq"], items[1]["seq"]);
  auto by_target = admin.get("/api/v1/audit?target=" + items[0]["target"].get<std::string>()).json()["items"];
  EXPECT_EQ(by_target.size(), 1u);
  auto v = s.directory->verify_audit();
  EXPECT_FALSE(v.broken.has_value());
  EXPECT_GE(v.entries_checked, 8);
}
