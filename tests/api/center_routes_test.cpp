// The contact-center configuration over HTTP (routes_center.cpp) with a real
// center::Repository, on SQLite and PostgreSQL (HOTLINE_TEST_STORAGE).
#include <gtest/gtest.h>

#include <filesystem>

#include "api/server_fixture.h"
#include "center/center.h"
#include "center/test_wav.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;
namespace http = boost::beast::http;

namespace {

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) |
                   (std::uint32_t(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += k[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const auto n = std::uint32_t(std::uint8_t(in[i])) << 16;
    out += std::string{k[(n >> 18) & 63], k[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const auto n = (std::uint32_t(std::uint8_t(in[i])) << 16) | (std::uint32_t(std::uint8_t(in[i + 1])) << 8);
    out += std::string{k[(n >> 18) & 63], k[(n >> 12) & 63], k[(n >> 6) & 63], '='};
  }
  return out;
}

// An ApiServer with a center::Repository whose prompts go to `prompts_dir`.
struct CenterServer {
  TempDir dir{"hotline-center-api"};
  std::string prompts_dir = dir.str() + "/prompts";
  ApiServer s{"", {}, fast_policy(), [this](ApiServer& srv, api::ApiOptions& o) {
                auto repo = std::make_shared<center::Repository>(*srv.db, srv.clock,
                                                                 center::RepositoryOptions{prompts_dir});
                srv.keep_alive.push_back(repo);
                o.services.center = repo.get();
              }};
};

std::string field_of(const HttpResult& r) { return r.json()["error"]["details"].value("field", ""); }

}  // namespace

TEST(CenterRoutes, CreateListGetUpdateDelete) {
  CenterServer cs;
  auto admin = cs.s.signed_in("acme", "root", {"admin"});
  auto created = admin.post("/api/v1/skills", {{"name", "billing"}, {"description", "invoices"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const auto id = created.json()["id"].get<std::int64_t>();
  EXPECT_EQ(created.json()["name"], "billing");
  const auto path = "/api/v1/skills/" + std::to_string(id);

  auto list = admin.get("/api/v1/skills");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.items().size(), 1u);
  EXPECT_EQ(list.items()[0], created.json());
  EXPECT_EQ(admin.get(path).json(), created.json());

  auto put = admin.put(path, {{"name", "billing"}, {"description", "all money matters"}});
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["description"], "all money matters");
  EXPECT_EQ(admin.get(path).json()["description"], "all money matters");

  auto q =
      admin.post("/api/v1/queues", {{"name", "support"}, {"skills", {{{"skill", "billing"}, {"level", 3}}}}});
  ASSERT_EQ(q.status, 201) << q.body;
  EXPECT_EQ(q.json()["strategy"], "longest-idle");

  // Still used by the queue: 409 naming it; then gone with the queue.
  auto used = admin.del(path);
  EXPECT_EQ(used.status, 409);
  EXPECT_NE(used.body.find("queue 'support'"), std::string::npos) << used.body;
  EXPECT_EQ(admin.del("/api/v1/queues/" + std::to_string(q.json()["id"].get<std::int64_t>())).status, 204);
  EXPECT_EQ(admin.del(path).status, 204);
  EXPECT_EQ(admin.get(path).status, 404);
  EXPECT_EQ(admin.post("/api/v1/skills", {{"name", "billing"}}).status, 201);
  EXPECT_EQ(admin.post("/api/v1/skills", {{"name", "billing"}}).status, 409);
}

TEST(CenterRoutes, EveryKindHasItsRoutes) {
  CenterServer cs;
  auto admin = cs.s.signed_in("acme", "root", {"admin"});
  const std::vector<std::pair<std::string, json>> bodies = {
      {"skills", {{"name", "sales"}}},
      {"agents",
       {{"name", "Li Wei"}, {"extension", "1001"}, {"skills", {{{"skill", "sales"}, {"level", 5}}}}}},
      {"queues", {{"name", "sales"}, {"skills", {{{"skill", "sales"}}}}}},
      {"calendars", {{"name", "main"}, {"weekly", {{"mon", {"09:00-18:00"}}}}}},
      {"trunks", {{"name", "carrier"}, {"allowed_sources", {"203.0.113.0/24"}}, {"password", "s3cret"}}},
      {"prompts", {{"name", "welcome"}, {"language", "en"}}},
      {"flows",
       {{"name", "main"},
        {"definition", {{"start", "q"}, {"nodes", {{"q", {{"type", "queue"}, {"queue", "sales"}}}}}}}}},
      {"numbers", {{"number", "4000"}, {"flow", "main"}}},
      {"reason-codes", {{"code", 100}, {"label", "Lunch"}}},
      {"wrapup-codes", {{"code", 1}, {"label", "Resolved"}}},
      {"customers", {{"name", "Zhang"}, {"phones", {"+86 138-0000-0000"}}, {"vip", true}}},
  };
  for (const auto& [plural, body] : bodies) {
    auto r = admin.post("/api/v1/" + plural, body);
    ASSERT_EQ(r.status, 201) << plural << ": " << r.body;
    EXPECT_EQ(admin.get("/api/v1/" + plural).items().size(), 1u) << plural;
    auto one = admin.get("/api/v1/" + plural + "/" + std::to_string(r.json()["id"].get<std::int64_t>()));
    EXPECT_EQ(one.status, 200) << plural;
    EXPECT_EQ(one.json(), r.json()) << plural;
  }
  EXPECT_FALSE(admin.get("/api/v1/trunks").items()[0].contains("password"));
  EXPECT_EQ(admin.get("/api/v1/customers").items()[0]["phones"][0], "+8613800000000");  // admin may read PII

  const auto flow = admin.get("/api/v1/flows").items()[0];
  const auto fid = std::to_string(flow["id"].get<std::int64_t>());
  auto v2 = admin.put("/api/v1/flows/" + fid, flow);
  ASSERT_EQ(v2.status, 200) << v2.body;
  EXPECT_EQ(v2.json()["version"], 2);
  auto versions = admin.get("/api/v1/flows/" + fid + "/versions");
  ASSERT_EQ(versions.status, 200);
  ASSERT_EQ(versions.items().size(), 2u);
  EXPECT_EQ(versions.items()[1]["version"], 2);
}

TEST(CenterRoutes, BadInputIs400NamingTheFieldAndChangesNothing) {
  CenterServer cs;
  auto admin = cs.s.signed_in("acme", "root", {"admin"});
  ASSERT_EQ(admin.post("/api/v1/skills", {{"name", "sales"}}).status, 201);
  const auto before = cs.s.count("center_objects") + cs.s.count("audit_log");
  const std::vector<std::tuple<std::string, json, std::string>> cases = {
      {"/api/v1/queues", {{"name", "q"}, {"ring_timeout_s", 1}}, "ring_timeout_s"},
      {"/api/v1/queues",
       {{"name", "q"}, {"skills", {{{"skill", "sales"}, {"level", 0}}}}},
       "skills[0].level"},
      {"/api/v1/queues", {{"name", "q"}, {"skills", {{{"skill", "nope"}}}}}, "skills[0].skill"},
      {"/api/v1/queues", {{"name", "q"}, {"strategy", "fastest"}}, "strategy"},
      {"/api/v1/queues", {{"name", "q"}, {"colour", "red"}}, "colour"},
      {"/api/v1/numbers", {{"number", "4000"}, {"flow", "nope"}}, "flow"},
      {"/api/v1/trunks", {{"name", "t"}, {"allowed_sources", {"10.0.0.0/40"}}}, "allowed_sources[0]"},
      {"/api/v1/calendars", {{"name", "c"}, {"time_zone", "Nowhere/City"}}, "time_zone"},
      {"/api/v1/calendars", {{"name", "c"}, {"holidays", {"2026-13-01"}}}, "holidays[0]"},
      {"/api/v1/customers", {{"phones", {"call me"}}}, "phones[0]"},
      {"/api/v1/flows", {{"name", "f"}, {"definition", {{"nodes", json::object()}}}}, "definition.start"},
  };
  for (const auto& [path, body, field] : cases) {
    auto r = admin.post(path, body);
    EXPECT_EQ(r.status, 400) << path << " " << body.dump() << " -> " << r.body;
    EXPECT_EQ(r.json()["error"]["code"], "invalid_argument") << r.body;
    EXPECT_EQ(field_of(r), field) << r.body;
  }
  EXPECT_EQ(admin.request(http::verb::post, "/api/v1/queues", "[1]").status, 400);
  EXPECT_EQ(admin.request(http::verb::post, "/api/v1/queues", "{bad").status, 400);
  EXPECT_EQ(admin.get("/api/v1/queues/abc").status, 400);
  EXPECT_EQ(cs.s.count("center_objects") + cs.s.count("audit_log"), before);
}

TEST(CenterRoutes, RolesWithoutThePermissionGet403) {
  CenterServer cs;
  cs.s.signed_in("acme", "root", {"admin"});
  auto agent = cs.s.signed_in("acme", "agent1", {"agent"});
  auto supervisor = cs.s.signed_in("acme", "sup", {"supervisor"});
  auto manager = cs.s.signed_in("acme", "mgr", {"manager"});
  auto auditor = cs.s.signed_in("acme", "aud", {"auditor"});
  EXPECT_EQ(agent.get("/api/v1/queues").status, 200);                        // queues.read
  EXPECT_EQ(agent.post("/api/v1/skills", {{"name", "sales"}}).status, 403);  // queues.write
  EXPECT_EQ(agent.get("/api/v1/agents").status, 403);                        // agents.read
  EXPECT_EQ(auditor.get("/api/v1/queues").status, 403);
  EXPECT_EQ(supervisor.post("/api/v1/agents", {{"name", "A"}}).status, 201);  // agents.write
  EXPECT_EQ(supervisor.post("/api/v1/reason-codes", {{"code", 100}, {"label", "L"}}).status,
            403);  // settings.write
  EXPECT_EQ(manager.post("/api/v1/reason-codes", {{"code", 100}, {"label", "L"}}).status, 201);
  EXPECT_EQ(manager.post("/api/v1/skills", {{"name", "sales"}}).status, 201);
  auto upload =
      supervisor.put("/api/v1/prompts/audio", {{"name", "x"}, {"language", "en"}, {"wav_base64", ""}});
  EXPECT_EQ(upload.status, 403);
  EXPECT_EQ(cs.s.count("center_objects"), 3);
}

TEST(CenterRoutes, PhonesAreMaskedWithoutPiiPermission) {
  CenterServer cs;
  auto sup = cs.s.signed_in("acme", "sup", {"supervisor"});  // customers.pii.read
  auto agent = cs.s.signed_in("acme", "agent1", {"agent"});  // customers.read, no PII
  auto created = agent.post("/api/v1/customers", {{"name", "Zhang"}, {"phones", {"+8613812345678"}}});
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["phones"][0], "+861381234****");
  EXPECT_EQ(agent.get("/api/v1/customers").items()[0]["phones"][0], "+861381234****");
  EXPECT_EQ(sup.get("/api/v1/customers").items()[0]["phones"][0], "+8613812345678");
  EXPECT_EQ(agent.get("/api/v1/customers").body.find("12345678"), std::string::npos);
}

TEST(CenterRoutes, AnotherTenantsObjectsAre404) {
  CenterServer cs;
  auto acme = cs.s.signed_in("acme", "root", {"admin"});
  auto globex = cs.s.signed_in("globex", "root", {"admin"});
  auto r = acme.post("/api/v1/skills", {{"name", "sales"}});
  ASSERT_EQ(r.status, 201);
  const auto path = "/api/v1/skills/" + std::to_string(r.json()["id"].get<std::int64_t>());
  EXPECT_EQ(globex.get(path).status, 404);
  EXPECT_EQ(globex.put(path, {{"name", "mine"}}).status, 404);
  EXPECT_EQ(globex.del(path).status, 404);
  EXPECT_TRUE(globex.get("/api/v1/skills").items().empty());
  EXPECT_EQ(acme.get(path).json()["name"], "sales");
  EXPECT_EQ(globex.post("/api/v1/skills", {{"name", "sales"}}).status, 201);  // names are per tenant
}

TEST(CenterRoutes, ChangesAreAudited) {
  CenterServer cs;
  auto admin = cs.s.signed_in("acme", "root", {"admin"});
  auto q = admin.post("/api/v1/queues", {{"name", "support"}});
  ASSERT_EQ(q.status, 201);
  const auto path = "/api/v1/queues/" + std::to_string(q.json()["id"].get<std::int64_t>());
  ASSERT_EQ(admin.put(path, {{"name", "support"}, {"priority", 5}}).status, 200);
  ASSERT_EQ(admin.del(path).status, 204);
  for (const char* action : {"queue.create", "queue.update", "queue.delete"}) {
    auto a = admin.get(std::string("/api/v1/audit?action=") + action);
    ASSERT_EQ(a.items().size(), 1u) << action;
    EXPECT_EQ(a.items()[0]["target"], "queue:" + std::to_string(q.json()["id"].get<std::int64_t>()));
    EXPECT_NE(a.items()[0]["actor"].get<std::string>().find("root"), std::string::npos);
  }
  auto upd = admin.get("/api/v1/audit?action=queue.update").items()[0]["details"];
  EXPECT_EQ(upd["before"]["priority"], 0);
  EXPECT_EQ(upd["after"]["priority"], 5);
}

TEST(CenterRoutes, PromptUploadStoresARealWavAndRefusesAnythingElse) {
  CenterServer cs;
  auto admin = cs.s.signed_in("acme", "root", {"admin"});
  const auto wav = make_wav(cs.dir.str() + "/tone.wav");
  auto r = admin.put("/api/v1/prompts/audio",
                     {{"name", "welcome"}, {"language", "zh-CN"}, {"wav_base64", base64(wav)}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["bytes"], static_cast<std::int64_t>(wav.size()));
  const std::string path = r.json()["path"];
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(std::filesystem::file_size(path), wav.size());
  EXPECT_EQ(path.rfind(cs.prompts_dir + "/", 0), 0u);
  EXPECT_EQ(admin.get("/api/v1/prompts").items().size(), 1u);
  EXPECT_EQ(admin.get("/api/v1/audit?action=prompt.upload").items().size(), 1u);

  const auto before = cs.s.count("center_objects") + cs.s.count("audit_log");
  auto text =
      admin.put("/api/v1/prompts/audio",
                {{"name", "hello"}, {"language", "en"}, {"wav_base64", base64("just some text, not audio")}});
  EXPECT_EQ(text.status, 400) << text.body;
  EXPECT_EQ(field_of(text), "wav_base64");
  EXPECT_NE(text.json()["error"]["message"].get<std::string>().find("audio"), std::string::npos) << text.body;
  auto garbage =
      admin.put("/api/v1/prompts/audio", {{"name", "hello"}, {"language", "en"}, {"wav_base64", "!!!"}});
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(field_of(garbage), "wav_base64");
  auto bad_name =
      admin.put("/api/v1/prompts/audio", {{"name", "../x"}, {"language", "en"}, {"wav_base64", base64(wav)}});
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(field_of(bad_name), "name");
  auto missing = admin.put("/api/v1/prompts/audio", {{"name", "hello"}, {"language", "en"}});
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(field_of(missing), "wav_base64");
  EXPECT_EQ(cs.s.count("center_objects") + cs.s.count("audit_log"), before);
  EXPECT_FALSE(std::filesystem::exists(cs.prompts_dir + "/1/en/hello.wav"));
}

TEST(CenterRoutes, WithoutTheServiceTheRoutesAnswer503) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  auto r = admin.get("/api/v1/queues");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.json()["error"]["code"], "unavailable");
  EXPECT_EQ(admin.post("/api/v1/skills", {{"name", "x"}}).status, 503);
}
