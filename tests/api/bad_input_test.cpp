// Bad input: every case gets a 4xx in the one error shape, with a reason,
// and changes nothing (row counts and the audit log are compared).
#include <gtest/gtest.h>

#include "api/server_fixture.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;
namespace http = boost::beast::http;

namespace {

struct Snapshot {
  std::int64_t users, roles, audit;
  bool operator==(const Snapshot&) const = default;
};

Snapshot snap(ApiServer& s) { return {s.count("users"), s.count("roles"), s.count("audit_log")}; }

void expect_error(const HttpResult& r, unsigned status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_EQ(j["error"]["code"], code) << r.body;
  EXPECT_TRUE(j["error"]["message"].is_string());
  EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  EXPECT_TRUE(j["error"]["details"].is_object());
}

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    admin = std::make_unique<HttpClient>(s.signed_in("acme", "root", {"admin"}));
    before = snap(s);
  }
  void TearDown() override { EXPECT_EQ(snap(s), before) << "bad input changed stored records"; }
  HttpResult post_raw(const std::string& target, const std::string& body,
                      const std::string& ct = "application/json") {
    return admin->request(http::verb::post, target, body, {{"Content-Type", ct}});
  }

  ApiServer s;
  std::unique_ptr<HttpClient> admin;
  Snapshot before{};
};

}  // namespace

TEST_F(BadInput, MalformedJson) {
  auto r = post_raw("/api/v1/users", R"({"username": "x", )");
  expect_error(r, 400, "malformed_json");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("parse error"), std::string::npos);
}

TEST_F(BadInput, BodyMustBeAnObject) {
  expect_error(post_raw("/api/v1/users", "[1,2]"), 400, "malformed_json");
}

TEST_F(BadInput, WrongContentType) {
  expect_error(post_raw("/api/v1/users", R"({"username":"x"})", "text/plain"), 415, "unsupported_media_type");
}

TEST_F(BadInput, WrongTypesNameTheField) {
  auto r = admin->post("/api/v1/users", {{"username", 42}, {"password", "a-long-password"}});
  expect_error(r, 400, "invalid_argument");
  EXPECT_EQ(r.json()["error"]["details"]["field"], "username");
  auto roles =
      admin->post("/api/v1/users", {{"username", "x"}, {"password", "a-long-password"}, {"roles", "admin"}});
  expect_error(roles, 400, "invalid_argument");
  EXPECT_EQ(roles.json()["error"]["details"]["field"], "roles");
  auto active =
      admin->post("/api/v1/users", {{"username", "x"}, {"password", "a-long-password"}, {"active", "yes"}});
  EXPECT_EQ(active.json()["error"]["details"]["field"], "active");
}

TEST_F(BadInput, MissingFieldsNameTheField) {
  auto r = admin->post("/api/v1/users", {{"username", "x"}});
  expect_error(r, 400, "invalid_argument");
  EXPECT_EQ(r.json()["error"]["details"]["field"], "password");
  auto login = s.client().post("/api/v1/auth/login", {{"tenant", "acme"}, {"username", "root"}});
  expect_error(login, 400, "invalid_argument");
}

TEST_F(BadInput, UnknownFieldsAreRejected) {
  auto r =
      admin->post("/api/v1/users", {{"username", "x"}, {"password", "a-long-password"}, {"is_admin", true}});
  expect_error(r, 400, "invalid_argument");
  EXPECT_NE(r.json()["error"]["message"].get<std::string>().find("is_admin"), std::string::npos);
}

TEST_F(BadInput, InvalidValues) {
  expect_error(admin->post("/api/v1/users", {{"username", "bad name"}, {"password", "a-long-password"}}), 400,
               "invalid_argument");
  expect_error(admin->post("/api/v1/users", {{"username", "ok"}, {"password", "short"}}), 400,
               "invalid_argument");
  expect_error(
      admin->post("/api/v1/users", {{"username", "ok"}, {"password", "a-long-password"}, {"email", "nope"}}),
      400, "invalid_argument");
  expect_error(admin->post("/api/v1/users",
                           {{"username", "ok"}, {"password", "a-long-password"}, {"roles", {"czar"}}}),
               400, "invalid_argument");
  expect_error(admin->post("/api/v1/roles", {{"name", "r"}, {"permissions", {"everything"}}}), 400,
               "invalid_argument");
  expect_error(admin->get("/api/v1/users?limit=0"), 400, "invalid_argument");
  expect_error(admin->get("/api/v1/users?limit=ten"), 400, "invalid_argument");
  expect_error(admin->get("/api/v1/users/abc"), 400, "invalid_argument");
  expect_error(admin->get("/api/v1/users/-5"), 400, "invalid_argument");
  expect_error(admin->get("/api/v1/audit?colour=red"), 400, "invalid_argument");
}

TEST_F(BadInput, SqlMetacharactersAreData) {
  // Rejected by validation where the field has a format...
  expect_error(admin->post("/api/v1/users",
                           {{"username", "x'; DROP TABLE users;--"}, {"password", "a-long-password"}}),
               400, "invalid_argument");
  // ...and harmless as values everywhere else (parameters, never SQL text).
  auto r = admin->get("/api/v1/audit?action=%27%20OR%201%3D1%20--");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.json()["items"].empty());
  auto login = s.client().post(
      "/api/v1/auth/login",
      {{"tenant", "acme' OR '1'='1"}, {"username", "root' --"}, {"password", "x' OR 'x'='x"}});
  expect_error(login, 401, "unauthorized");
  before.audit += 1;  // the failed login is audited, as it must be
}

TEST_F(BadInput, InvalidUtf8) {
  std::string bad = "{\"username\":\"a\xC3\x28\",\"password\":\"a-long-password\"}";
  expect_error(post_raw("/api/v1/users", bad), 400, "malformed_json");
  std::string overlong =
      "{\"username\":\"a\",\"password\":\"a-long-password\",\"display_name\":\"\xC0\xAF\"}";
  expect_error(post_raw("/api/v1/users", overlong), 400, "malformed_json");
  expect_error(admin->get("/api/v1/audit?action=%C3%28"), 400, "invalid_argument");
  expect_error(admin->post("/api/v1/users", {{"username", "ctl"},
                                             {"password", "a-long-password"},
                                             {"display_name", std::string("tab\x01")}}),
               400, "invalid_argument");
}

TEST_F(BadInput, OversizedBody) {
  std::string big = R"({"username":")" + std::string(2 << 20, 'a') + R"("})";
  auto r = post_raw("/api/v1/users", big);
  expect_error(r, 413, "payload_too_large");
}

TEST_F(BadInput, OversizedHeaders) {
  auto r = admin->request(http::verb::get, "/api/v1/me", "", {{"X-Filler", std::string(32 << 10, 'x')}});
  expect_error(r, 431, "headers_too_large");
}

TEST_F(BadInput, MalformedHttp) {
  auto c = s.client();
  auto r = c.raw("GARBAGE\r\n\r\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["error"]["code"], "bad_request");
}

TEST_F(BadInput, UnknownRouteAndWrongMethod) {
  expect_error(admin->get("/api/v1/nope"), 404, "not_found");
  auto r = admin->request(http::verb::delete_, "/api/v1/me");
  expect_error(r, 405, "method_not_allowed");
  EXPECT_EQ(r.header("Allow"), "GET");
}

TEST_F(BadInput, UnauthenticatedWritesChangeNothing) {
  auto anon = s.client();
  expect_error(anon.post("/api/v1/users", {{"username", "x"}, {"password", "a-long-password"}}), 401,
               "unauthorized");
  anon.token = std::string(43, 'z');
  expect_error(anon.post("/api/v1/roles", {{"name", "x"}, {"permissions", json::array()}}), 401,
               "unauthorized");
}
