// The permission matrix: docs/permissions.md == the code == what HTTP does.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "api/server_fixture.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;
namespace http = boost::beast::http;

namespace {

std::vector<std::vector<std::string>> table_rows(const std::string& md, const std::string& header_start) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(md);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!inside) {
      inside = line.rfind(header_start, 0) == 0;
      continue;
    }
    if (line.rfind("|---", 0) == 0) continue;
    if (line.empty() || line[0] != '|') break;
    std::vector<std::string> cells;
    std::string cell;
    std::istringstream ls(line.substr(1));
    while (std::getline(ls, cell, '|')) {
      auto b = cell.find_first_not_of(' ');
      auto e = cell.find_last_not_of(' ');
      cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
    }
    rows.push_back(cells);
  }
  return rows;
}

std::string read_doc() {
  std::ifstream f(std::string(HOTLINE_SOURCE_DIR) + "/docs/permissions.md");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string access_of(const api::Route& r) {
  if (r.access == api::Access::Public) return "public";
  if (r.access == api::Access::SignedIn) return "signed-in";
  return std::string(iam::permission_name(*r.permission));
}

}  // namespace

TEST(PermissionsDoc, RoleMatrixMatchesTheCode) {
  auto rows = table_rows(read_doc(), "| Permission |");
  ASSERT_EQ(rows.size(), iam::all_permissions().size());
  const auto& roles = iam::builtin_roles();
  for (const auto& row : rows) {
    ASSERT_EQ(row.size(), 1 + roles.size());
    auto p = iam::permission_from_name(row[0]);
    ASSERT_TRUE(p) << "unknown permission in doc: " << row[0];
    for (std::size_t i = 0; i < roles.size(); ++i) {
      EXPECT_EQ(row[1 + i] == "✓", roles[i].permissions.has(*p)) << row[0] << " for " << roles[i].name;
    }
  }
}

TEST(PermissionsDoc, RouteTableMatchesTheRouter) {
  ApiServer s;
  std::set<std::string> doc, code;
  for (const auto& row : table_rows(read_doc(), "| Method |"))
    doc.insert(row[0] + " " + row[1] + " " + row[2]);
  for (const auto& r : s.api->router().routes()) {
    code.insert(std::string(http::to_string(r.method)) + " " + r.pattern + " " + access_of(r));
  }
  EXPECT_EQ(doc, code);
}

TEST(OpenApi, DescribesEveryRoute) {
  ApiServer s;
  auto r = s.client().get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  auto doc = r.json();
  EXPECT_EQ(doc["openapi"], "3.0.3");
  ASSERT_TRUE(doc["components"]["schemas"].contains("Error"));
  std::size_t operations = 0;
  for (const auto& route : s.api->router().routes()) {
    std::string method(http::to_string(route.method));
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    ASSERT_TRUE(doc["paths"].contains(route.pattern)) << route.pattern << " missing from openapi.json";
    const auto& op = doc["paths"][route.pattern];
    ASSERT_TRUE(op.contains(method)) << method << " " << route.pattern << " missing from openapi.json";
    EXPECT_FALSE(op[method]["summary"].get<std::string>().empty());
    EXPECT_TRUE(op[method].contains("responses"));
    if (route.permission) {
      EXPECT_EQ(op[method]["x-permission"], iam::permission_name(*route.permission));
    }
    if (route.access != api::Access::Public) {
      EXPECT_FALSE(op[method]["security"].empty());
    }
  }
  for (auto& [path, ops] : doc["paths"].items()) operations += ops.size();
  EXPECT_EQ(operations, s.api->router().routes().size())
      << "openapi.json lists routes the router does not have";
}

TEST(OpenApi, PathIdsAreTypedAsTheRoutesTakeThem) {
  ApiServer s;
  auto doc = s.client().get("/api/v1/openapi.json").json();
  auto id_schema = [&](const std::string& path, const std::string& method) {
    for (const auto& p : doc["paths"][path][method]["parameters"])
      if (p["in"] == "path" && p["name"] == "id") return p["schema"];
    return json();
  };
  // Call and recording ids are text (16 hex digits today); users are numbered.
  EXPECT_EQ(id_schema("/api/v1/calls/{id}", "get")["type"], "string");
  EXPECT_EQ(id_schema("/api/v1/calls/{id}/wrapup", "put")["type"], "string");
  EXPECT_EQ(id_schema("/api/v1/recordings/{id}/audio", "get")["type"], "string");
  EXPECT_EQ(id_schema("/api/v1/users/{id}", "get")["type"], "integer");
}

// Regression: openapi() used to lower-case "GET" to "get" by inserting and
// erasing keys of the very JSON object it was iterating, then stepped the
// iterator off the erased (freed) node. That crashed api_tests_postgres now
// and then; under ASan it needs freed memory filled (asan_options.cpp) to
// fail every time, as the freed node is read inside uninstrumented
// libstdc++. Every method on one path, and /users/{id}'s GET/PATCH/DELETE.
TEST(OpenApi, ListsEveryMethodOfAPathOnceInLowerCase) {
  api::Router router;
  auto handler = [](api::RequestContext&) { return api::Reply{}; };
  const std::vector<http::verb> all = {http::verb::get, http::verb::post, http::verb::put, http::verb::patch,
                                       http::verb::delete_};
  for (auto v : all) router.add(v, "/all", api::Access::Public, std::nullopt, {"summary", "tag"}, handler);
  for (auto v : {http::verb::get, http::verb::patch, http::verb::delete_})
    router.add(v, "/items/{id}", api::Access::SignedIn, std::nullopt, {"summary", "tag"}, handler);
  router.add(http::verb::delete_, "/one", api::Access::Public, std::nullopt, {"summary", "tag"}, handler);
  auto methods = [](const json& ops) {
    std::vector<std::string> out;
    for (const auto& [m, op] : ops.items()) {
      out.push_back(m);
      EXPECT_EQ(op["summary"], "summary") << m;
    }
    return out;
  };
  for (int i = 0; i < 20; ++i) {
    const auto doc = router.openapi("test");
    ASSERT_EQ(doc["paths"].size(), 3u);
    EXPECT_EQ(methods(doc["paths"]["/all"]),
              (std::vector<std::string>{"delete", "get", "patch", "post", "put"}));
    EXPECT_EQ(methods(doc["paths"]["/items/{id}"]), (std::vector<std::string>{"delete", "get", "patch"}));
    EXPECT_EQ(methods(doc["paths"]["/one"]), (std::vector<std::string>{"delete"}));
    EXPECT_EQ(doc["paths"]["/all"]["get"]["operationId"], "GET /all");
  }
}

// Calls every route as every built-in role: 403 exactly when the role lacks
// the route's permission; never 401/403 for signed-in routes.
TEST(PermissionsOverHttp, EveryRouteForEveryBuiltinRole) {
  ApiServer s;
  s.signed_in("acme", "root", {"admin"});  // keeps an admin so nothing is refused for that reason
  for (const auto& role : iam::builtin_roles()) {
    auto c = s.signed_in("acme", "as-" + std::string(role.name), {std::string(role.name)});
    std::vector<const api::Route*> routes;
    for (const auto& r : s.api->router().routes()) routes.push_back(&r);
    // Sign-out last: it ends the session the other calls use.
    std::stable_partition(routes.begin(), routes.end(),
                          [](const api::Route* r) { return r->pattern != "/api/v1/auth/logout"; });
    for (const auto* r : routes) {
      std::string target = std::regex_replace(r->pattern, std::regex("\\{id\\}"), "999999");
      const bool has_body =
          r->method == http::verb::post || r->method == http::verb::put || r->method == http::verb::patch;
      auto res = c.request(r->method, target, has_body ? "{}" : "");
      const std::string what =
          std::string(role.name) + " " + std::string(http::to_string(r->method)) + " " + r->pattern;
      if (r->access == api::Access::Permission) {
        const bool allowed = role.permissions.has(*r->permission);
        EXPECT_EQ(res.status == 403, !allowed) << what << " -> " << res.status << " " << res.body;
      } else {
        EXPECT_NE(res.status, 403) << what;
        if (r->access == api::Access::SignedIn) {
          EXPECT_NE(res.status, 401) << what;
        }
      }
    }
  }
}
