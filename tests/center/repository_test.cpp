// The center repository on SQLite and on a real PostgreSQL server: every kind
// round-trips, every rule refuses bad input naming the field and changing
// nothing, references are protected, flows keep versions, snapshots follow
// writes, tenants are isolated, prompts are stored as verified WAV files.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "center/center.h"
#include "center/test_wav.h"
#include "iam/iam.h"
#include "schema/schema.h"
#include "store/database.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace hotline::center {
namespace {

using store::Backend;
namespace fs = std::filesystem;

json with(json base, const std::string& key, json value) {
  base[key] = std::move(value);
  return base;
}
json without(json base, const std::string& key) {
  base.erase(key);
  return base;
}

// A flow that routes to queue `queue`.
json flow_to(const std::string& name, const std::string& queue) {
  return {{"name", name},
          {"definition", {{"start", "q"}, {"nodes", {{"q", {{"type", "queue"}, {"queue", queue}}}}}}}};
}

class CenterTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    static std::atomic<int> n{0};
    const auto url = GetParam() == Backend::Sqlite
                         ? "sqlite://" + dir_.str() + "/center.db"
                         : testing::PostgresServer::shared().create_schema("center_" + std::to_string(n++));
    db = store::Database::open(url);
    db->migrate(schema::migrations());
    iam::AuthPolicy policy;
    policy.kdf = security::KdfCost{1, 8 * 1024 * 1024};
    directory = std::make_unique<iam::Directory>(*db, clock, policy);
    acme = directory->create_tenant("acme", "Acme", iam::Actor::cli())->id;
    other = directory->create_tenant("other", "Other", iam::Actor::cli())->id;
    actor.tenant_id = acme;
    actor.user_id = 1;
    actor.name = "user:1:alice";
    actor.source = "127.0.0.1";
    actor.permissions = iam::PermissionSet::all();
    prompts_dir = dir_.str() + "/prompts";
    repo = std::make_unique<Repository>(*db, clock, RepositoryOptions{prompts_dir, 64 * 1024});
  }

  json make(Kind k, const json& body, std::int64_t tenant = 0) {
    auto r = repo->create(tenant ? tenant : acme, k, body, actor);
    EXPECT_TRUE(r) << to_string(k) << ": " << r.error().field << ": " << r.error().message;
    return r ? *r : json();
  }

  // A small valid configuration the validation cases refer to.
  void baseline() {
    make(Kind::kSkill, {{"name", "billing"}});
    make(Kind::kSkill, {{"name", "sales"}});
    make(Kind::kQueue, {{"name", "support"}, {"skills", {{{"skill", "billing"}, {"level", 3}}}}});
    make(Kind::kCalendar, {{"name", "main"}});
    make(Kind::kTrunk, {{"name", "carrier"}, {"allowed_sources", {"203.0.113.0/24"}}});
    make(Kind::kFlow, flow_to("main", "support"));
  }

  std::int64_t count(const std::string& table) {
    return db->exec("SELECT COUNT(*) FROM " + table).rows.at(0).integer(0);
  }
  std::int64_t footprint() {
    return count("center_objects") * 1000000 + count("center_flow_versions") * 1000 + count("audit_log");
  }
  std::int64_t audit_count(const std::string& action) {
    return db->exec("SELECT COUNT(*) FROM audit_log WHERE action = $1", {action}).rows.at(0).integer(0);
  }

  testing::TempDir dir_{"hotline-center"};
  common::FakeClock clock;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<iam::Directory> directory;
  std::unique_ptr<Repository> repo;
  std::int64_t acme = 0, other = 0;
  iam::Actor actor;
  std::string prompts_dir;
};

// ---- round trips ----

struct Sample {
  Kind kind;
  json create;
  json update;
};

std::vector<Sample> samples() {
  return {
      {Kind::kSkill,
       {{"name", "french"}, {"description", "speaks French"}},
       {{"name", "french"}, {"description", "fluent"}}},
      {Kind::kAgent,
       {{"name", "Li Wei"},
        {"extension", "1001"},
        {"skills", {{{"skill", "billing"}, {"level", 7}}}},
        {"chat_capacity", 3}},
       {{"name", "Li Wei"}, {"extension", "1002"}, {"active", false}}},
      {Kind::kQueue,
       {{"name", "vip"},
        {"strategy", "highest-skill"},
        {"skills", {{{"skill", "sales"}, {"level", 2}}}},
        {"overflow",
         {{{"after_s", 30}, {"action", "relax"}, {"skills", json::array()}},
          {{"after_s", 60}, {"action", "add_queue"}, {"queue", "support"}},
          {{"after_s", 300}, {"action", "voicemail"}}}}},
       {{"name", "vip"}, {"strategy", "ring-all"}, {"match", "any"}, {"max_wait_s", 600}, {"record", true}}},
      {Kind::kNumber,
       {{"number", "+861088880000"}, {"flow", "main"}},
       {{"number", "+861088880000"}, {"flow", "main"}, {"language", "en"}}},
      {Kind::kTrunk,
       {{"name", "backup"},
        {"allowed_sources", {"198.51.100.7", "2001:db8::/32"}},
        {"host", "sip.example.com"},
        {"password", "s3cret"}},
       {{"name", "backup"}, {"host", "198.51.100.8"}, {"port", 5080}, {"transport", "tcp"}}},
      {Kind::kCalendar,
       {{"name", "weekdays"},
        {"time_zone", "Europe/Paris"},
        {"weekly", {{"mon", {"09:00-12:00", "13:00-18:00"}}, {"fri", {"09:00-24:00"}}}},
        {"holidays", {"2026-05-01"}},
        {"workdays", {"2026-05-09"}}},
       {{"name", "weekdays"}, {"weekly", {{"sat", {"10:00-14:00"}}}}, {"workday_hours", {"10:00-16:00"}}}},
      {Kind::kPrompt,
       {{"name", "welcome"}, {"language", "zh-CN"}},
       {{"name", "welcome2"}, {"language", "en"}}},
      {Kind::kFlow, flow_to("sales", "support"), flow_to("sales-v2", "support")},
      {Kind::kReasonCode, {{"code", 100}, {"label", "Lunch"}}, {{"code", 101}, {"label", "Training"}}},
      {Kind::kWrapUpCode, {{"code", 1}, {"label", "Resolved"}}, {{"code", 2}, {"label", "Escalated"}}},
      {Kind::kCustomer,
       {{"name", "Zhang San"}, {"phones", {"+86 138-0000-0000"}}, {"vip", true}, {"priority", 10}},
       {{"name", "Zhang San"}, {"phones", {"+8613800000000", "010 8888 0000"}}, {"blocked", true}}},
  };
}

TEST_P(CenterTest, EveryKindRoundTrips) {
  baseline();
  for (auto s : samples()) {
    SCOPED_TRACE(std::string(to_string(s.kind)));
    auto created = make(s.kind, s.create);
    ASSERT_TRUE(created.contains("id"));
    const auto id = created["id"].get<std::int64_t>();
    auto got = repo->get(acme, s.kind, id);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, created);
    for (const auto& [k, v] : s.create.items())
      if (k != "phones" && k != "password" && k != "weekly" && k != "overflow") {
        EXPECT_EQ(created[k], v) << k;
      }
    EXPECT_FALSE(created.contains("password"));
    auto listed = repo->list(acme, s.kind);
    EXPECT_NE(std::find(listed.begin(), listed.end(), created), listed.end());

    auto updated = repo->update(acme, s.kind, id, s.update, actor);
    ASSERT_TRUE(updated) << updated.error().field << ": " << updated.error().message;
    EXPECT_EQ((*updated)["id"], id);
    for (const auto& [k, v] : s.update.items())
      if (k != "phones" && k != "weekly") {
        EXPECT_EQ((*updated)[k], v) << k;
      }
    EXPECT_EQ(*repo->get(acme, s.kind, id), *updated);

    ASSERT_TRUE(repo->remove(acme, s.kind, id, actor));
    auto gone = repo->get(acme, s.kind, id);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code, "not_found");
    const auto k = std::string(to_string(s.kind));
    // baseline() made two skills and one queue, calendar, trunk and flow.
    const std::map<Kind, int> made_before = {
        {Kind::kSkill, 2}, {Kind::kQueue, 1}, {Kind::kCalendar, 1}, {Kind::kTrunk, 1}, {Kind::kFlow, 1}};
    const int earlier = made_before.count(s.kind) ? made_before.at(s.kind) : 0;
    EXPECT_EQ(audit_count(k + ".create"), 1 + earlier);
    EXPECT_EQ(audit_count(k + ".update"), 1);
    EXPECT_EQ(audit_count(k + ".delete"), 1);
  }
}

TEST_P(CenterTest, OmittedFieldsGetTheirDefaults) {
  baseline();
  auto q = make(Kind::kQueue, {{"name", "plain"}});
  EXPECT_EQ(q["strategy"], "longest-idle");
  EXPECT_EQ(q["match"], "all");
  EXPECT_EQ(q["ring_timeout_s"], 15);
  EXPECT_EQ(q["wrap_up_s"], 10);
  EXPECT_EQ(q["max_wait_action"], "voicemail");
  EXPECT_EQ(q["service_level_s"], 20);
  EXPECT_EQ(q["moh_prompt"], "moh");
  EXPECT_EQ(q["callback_attempts"], 3);
  EXPECT_EQ(q["overflow"], json::array());
  auto n = make(Kind::kNumber, {{"number", "4000"}, {"flow", "main"}});
  EXPECT_EQ(n["language"], "zh-CN");
  auto c = make(Kind::kCalendar, {{"name", "cal"}});
  EXPECT_EQ(c["time_zone"], "Asia/Shanghai");
  EXPECT_EQ(c["workday_hours"], json::array({"09:00-18:00"}));
  EXPECT_EQ(c["weekly"]["mon"], json::array());
  auto a = make(Kind::kAgent, {{"name", "A"}});
  EXPECT_EQ(a["voice_capacity"], 1);
  EXPECT_EQ(a["user_id"], nullptr);
  // Null means "the default" too.
  auto t = make(Kind::kTrunk, {{"name", "t"}, {"port", nullptr}});
  EXPECT_EQ(t["port"], 5060);
  EXPECT_EQ(t["transport"], "udp");
}

TEST_P(CenterTest, PhonesAreNormalised) {
  auto c = make(Kind::kCustomer, {{"phones", {"+86 138-0000-0000", "(010) 8888.0000"}}});
  EXPECT_EQ(c["phones"], json::array({"+8613800000000", "01088880000"}));
}

// ---- validation: every rule, naming the field, changing nothing ----

struct Case {
  Kind kind;
  json body;
  std::string field;
};

std::vector<Case> invalid_cases(std::int64_t other_user) {
  const json agent = {{"name", "Agent"},
                      {"skills", {{{"skill", "billing"}, {"level", 1}}, {{"skill", "sales"}, {"level", 2}}}}};
  const json queue = {{"name", "q2"}};
  const json number = {{"number", "4001"}, {"flow", "main"}};
  const json trunk = {{"name", "t2"}, {"allowed_sources", {"10.0.0.1", "10.0.0.0/8"}}};
  const json cal = {{"name", "c2"}};
  const json prompt = {{"name", "hello"}, {"language", "en"}};
  const json flow = flow_to("f2", "support");
  const json code = {{"code", 200}, {"label", "Break"}};
  const json cust = {{"phones", {"+8613900000000"}}};
  auto ovf = [&](json steps) { return with(queue, "overflow", std::move(steps)); };
  auto weekly = [&](json w) { return with(cal, "weekly", std::move(w)); };
  auto def = [&](json d) { return with(flow, "definition", std::move(d)); };
  return {
      // agents
      {Kind::kAgent, without(agent, "name"), "name"},
      {Kind::kAgent, with(agent, "name", std::string(129, 'x')), "name"},
      {Kind::kAgent, with(agent, "name", 5), "name"},
      {Kind::kAgent, with(agent, "extension", "1 0"), "extension"},
      {Kind::kAgent,
       with(agent, "skills", {{{"skill", "billing"}, {"level", 1}}, {{"skill", "sales"}, {"level", 11}}}),
       "skills[1].level"},
      {Kind::kAgent, with(agent, "skills", {{{"skill", "billing"}, {"level", 0}}}), "skills[0].level"},
      {Kind::kAgent, with(agent, "skills", {{{"skill", "nope"}, {"level", 1}}}), "skills[0].skill"},
      {Kind::kAgent, with(agent, "skills", {{{"skill", "Bad Name"}}}), "skills[0].skill"},
      {Kind::kAgent, with(agent, "skills", {{{"skill", "sales"}}, {{"skill", "sales"}}}), "skills[1].skill"},
      {Kind::kAgent, with(agent, "skills", {{{"skill", "sales"}, {"colour", "red"}}}), "skills[0].colour"},
      {Kind::kAgent, with(agent, "skills", "sales"), "skills"},
      {Kind::kAgent, with(agent, "voice_capacity", 2), "voice_capacity"},
      {Kind::kAgent, with(agent, "chat_capacity", -1), "chat_capacity"},
      {Kind::kAgent, with(agent, "email_capacity", 21), "email_capacity"},
      {Kind::kAgent, with(agent, "active", "yes"), "active"},
      {Kind::kAgent, with(agent, "user_id", 999999), "user_id"},
      {Kind::kAgent, with(agent, "user_id", other_user), "user_id"},
      {Kind::kAgent, with(agent, "user_id", "1"), "user_id"},
      {Kind::kAgent, with(agent, "colour", "red"), "colour"},
      // skills
      {Kind::kSkill, {{"name", "Billing"}}, "name"},
      {Kind::kSkill, {{"name", std::string(65, 'a')}}, "name"},
      {Kind::kSkill, {{"name", ""}}, "name"},
      {Kind::kSkill, {{"name", "x"}, {"description", std::string(257, 'd')}}, "description"},
      {Kind::kSkill, {{"name", "x"}, {"description", "bad\x01"}}, "description"},
      // queues
      {Kind::kQueue, with(queue, "name", "has space"), "name"},
      {Kind::kQueue, with(queue, "display_name", std::string(129, 'x')), "display_name"},
      {Kind::kQueue, with(queue, "strategy", "longest_idle"), "strategy"},
      {Kind::kQueue, with(queue, "match", "some"), "match"},
      {Kind::kQueue, with(queue, "skills", {{{"skill", "nope"}}}), "skills[0].skill"},
      {Kind::kQueue, with(queue, "ring_timeout_s", 4), "ring_timeout_s"},
      {Kind::kQueue, with(queue, "ring_timeout_s", 301), "ring_timeout_s"},
      {Kind::kQueue, with(queue, "ring_timeout_s", 15.5), "ring_timeout_s"},
      {Kind::kQueue, with(queue, "wrap_up_s", -1), "wrap_up_s"},
      {Kind::kQueue, with(queue, "max_wait_s", 86401), "max_wait_s"},
      {Kind::kQueue, with(queue, "max_wait_action", "hangup"), "max_wait_action"},
      {Kind::kQueue, with(queue, "max_length", -1), "max_length"},
      {Kind::kQueue, with(queue, "service_level_s", 0), "service_level_s"},
      {Kind::kQueue, with(queue, "max_consecutive_misses", 101), "max_consecutive_misses"},
      {Kind::kQueue, with(queue, "priority", 101), "priority"},
      {Kind::kQueue, with(queue, "record", 1), "record"},
      {Kind::kQueue, with(queue, "moh_prompt", "Bad!"), "moh_prompt"},
      {Kind::kQueue, with(queue, "announce_interval_s", 3601), "announce_interval_s"},
      {Kind::kQueue, with(queue, "announce_position", "no"), "announce_position"},
      {Kind::kQueue, with(queue, "callback_attempts", 11), "callback_attempts"},
      {Kind::kQueue, with(queue, "callback_retry_s", 29), "callback_retry_s"},
      {Kind::kQueue, with(queue, "ring_timeout_s", 18446744073709551615ull), "ring_timeout_s"},
      {Kind::kQueue, ovf("x"), "overflow"},
      {Kind::kQueue, ovf({{{"after_s", 0}, {"action", "voicemail"}}}), "overflow[0].after_s"},
      {Kind::kQueue, ovf({{{"action", "voicemail"}}}), "overflow[0].after_s"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "explode"}}}), "overflow[0].action"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "add_queue"}}}), "overflow[0].queue"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "add_queue"}, {"queue", "nope"}}}),
       "overflow[0].queue"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "add_queue"}, {"queue", "q2"}}}), "overflow[0].queue"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "voicemail"}, {"queue", "support"}}}),
       "overflow[0].queue"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "callback"}, {"skills", {{{"skill", "sales"}}}}}}),
       "overflow[0].skills"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "relax"}, {"skills", {{{"skill", "nope"}}}}}}),
       "overflow[0].skills[0].skill"},
      {Kind::kQueue,
       ovf({{{"after_s", 50}, {"action", "relax"}}, {{"after_s", 50}, {"action", "voicemail"}}}),
       "overflow[1].after_s"},
      {Kind::kQueue, ovf({{{"after_s", 5}, {"action", "voicemail"}, {"when", 1}}}), "overflow[0].when"},
      // numbers
      {Kind::kNumber, without(number, "number"), "number"},
      {Kind::kNumber, with(number, "number", ""), "number"},
      {Kind::kNumber, with(number, "number", "12a"), "number"},
      {Kind::kNumber, with(number, "number", "1+2"), "number"},
      {Kind::kNumber, with(number, "number", std::string(33, '1')), "number"},
      {Kind::kNumber, with(number, "flow", "nope"), "flow"},
      {Kind::kNumber, without(number, "flow"), "flow"},
      {Kind::kNumber, with(number, "language", "x"), "language"},
      {Kind::kNumber, with(number, "language", "zh_CN"), "language"},
      // trunks
      {Kind::kTrunk, with(trunk, "allowed_sources", {"10.0.0.1", "10.0.0.0/33"}), "allowed_sources[1]"},
      {Kind::kTrunk, with(trunk, "allowed_sources", {"not-an-ip"}), "allowed_sources[0]"},
      {Kind::kTrunk, with(trunk, "allowed_sources", {"::1/129"}), "allowed_sources[0]"},
      {Kind::kTrunk, with(trunk, "allowed_sources", {"10.0.0.256"}), "allowed_sources[0]"},
      {Kind::kTrunk, with(trunk, "allowed_sources", {"10.0.0.0/"}), "allowed_sources[0]"},
      {Kind::kTrunk, with(trunk, "allowed_sources", json::array({7})), "allowed_sources[0]"},
      {Kind::kTrunk, with(trunk, "port", 0), "port"},
      {Kind::kTrunk, with(trunk, "port", 65536), "port"},
      {Kind::kTrunk, with(trunk, "transport", "tls"), "transport"},
      {Kind::kTrunk, with(trunk, "host", "bad host"), "host"},
      {Kind::kTrunk, with(trunk, "username", "a:b"), "username"},
      {Kind::kTrunk, with(trunk, "password", std::string(129, 'p')), "password"},
      {Kind::kTrunk, with(trunk, "caller_id", std::string(65, '1')), "caller_id"},
      // calendars
      {Kind::kCalendar, with(cal, "time_zone", "Mars/Olympus"), "time_zone"},
      {Kind::kCalendar, with(cal, "time_zone", "../../etc/passwd"), "time_zone"},
      {Kind::kCalendar, with(cal, "time_zone", "/etc/passwd"), "time_zone"},
      {Kind::kCalendar, weekly({{"mon", {"9:00-18:00"}}}), "weekly.mon[0]"},
      {Kind::kCalendar, weekly({{"tue", {"18:00-09:00"}}}), "weekly.tue[0]"},
      {Kind::kCalendar, weekly({{"wed", {"09:00-12:00", "11:00-13:00"}}}), "weekly.wed[1]"},
      {Kind::kCalendar, weekly({{"thu", {"09:60-10:00"}}}), "weekly.thu[0]"},
      {Kind::kCalendar, weekly({{"fri", {"24:00-24:00"}}}), "weekly.fri[0]"},
      {Kind::kCalendar, weekly({{"xyz", json::array()}}), "weekly.xyz"},
      {Kind::kCalendar, weekly({"09:00-18:00"}), "weekly"},
      {Kind::kCalendar, with(cal, "holidays", {"2026-02-30"}), "holidays[0]"},
      {Kind::kCalendar, with(cal, "holidays", {"2025-02-29"}), "holidays[0]"},
      {Kind::kCalendar, with(cal, "holidays", {"2026-10-01", "2026-10-01"}), "holidays[1]"},
      {Kind::kCalendar, with(cal, "holidays", {"26-10-01"}), "holidays[0]"},
      {Kind::kCalendar, with(with(cal, "holidays", {"2026-10-10"}), "workdays", {"2026-10-10"}),
       "workdays[0]"},
      {Kind::kCalendar, with(cal, "workday_hours", {"25:00-26:00"}), "workday_hours[0]"},
      // prompts
      {Kind::kPrompt, with(prompt, "name", "Bad"), "name"},
      {Kind::kPrompt, without(prompt, "language"), "language"},
      {Kind::kPrompt, with(prompt, "language", "english!"), "language"},
      // flows
      {Kind::kFlow, without(flow, "definition"), "definition"},
      {Kind::kFlow, def("x"), "definition"},
      {Kind::kFlow, def({{"nodes", json::object()}}), "definition.start"},
      {Kind::kFlow, def({{"start", "a"}, {"nodes", json::array()}}), "definition.nodes"},
      {Kind::kFlow, def({{"start", "a"}, {"nodes", {{"a", {{"type", "queue"}, {"queue", "nope"}}}}}}),
       "definition.nodes.a.queue"},
      {Kind::kFlow, def({{"start", "a"}, {"nodes", {{"a", {{"type", "hours"}, {"calendar", "nope"}}}}}}),
       "definition.nodes.a.calendar"},
      {Kind::kFlow, with(flow, "name", "Main"), "name"},
      // codes
      {Kind::kReasonCode, with(code, "code", 99), "code"},
      {Kind::kReasonCode, with(code, "code", "200"), "code"},
      {Kind::kReasonCode, without(code, "code"), "code"},
      {Kind::kReasonCode, with(code, "label", ""), "label"},
      {Kind::kReasonCode, without(code, "label"), "label"},
      {Kind::kWrapUpCode, with(code, "code", 0), "code"},
      {Kind::kWrapUpCode, with(code, "code", 1000000), "code"},
      // customers
      {Kind::kCustomer, with(cust, "phones", {"abc"}), "phones[0]"},
      {Kind::kCustomer, with(cust, "phones", {"+8613900000001", "12"}), "phones[1]"},
      {Kind::kCustomer, with(cust, "phones", {"+86+1390000"}), "phones[0]"},
      {Kind::kCustomer, with(cust, "phones", {"+8613900000001", "+86 139 0000 0001"}), "phones[1]"},
      {Kind::kCustomer, with(cust, "phones", "+8613900000001"), "phones"},
      {Kind::kCustomer, with(cust, "phones", json(std::vector<std::string>(11, "123"))), "phones"},
      {Kind::kCustomer, with(cust, "priority", 101), "priority"},
      {Kind::kCustomer, with(cust, "vip", "true"), "vip"},
      {Kind::kCustomer, with(cust, "language", "zz_ZZ"), "language"},
      {Kind::kCustomer, with(cust, "name", std::string(129, 'n')), "name"},
  };
}

TEST_P(CenterTest, EveryRuleRefusesBadInputNamingTheFieldAndChangesNothing) {
  baseline();
  auto other_user =
      directory->create_user(other, {"bob", "Bob", "", "correct-horse-battery", {}, true}, iam::Actor::cli());
  ASSERT_TRUE(other_user);
  const auto before = footprint();
  const auto generation = repo->snapshot(acme)->generation;
  for (const auto& c : invalid_cases(other_user->id)) {
    auto r = repo->create(acme, c.kind, c.body, actor);
    ASSERT_FALSE(r) << to_string(c.kind) << " " << c.body.dump() << " was accepted";
    EXPECT_EQ(r.error().code, "invalid_argument") << c.body.dump() << ": " << r.error().message;
    EXPECT_EQ(r.error().field, c.field) << c.body.dump() << ": " << r.error().message;
    EXPECT_FALSE(r.error().message.empty());
  }
  EXPECT_EQ(footprint(), before);
  EXPECT_EQ(repo->snapshot(acme)->generation, generation);
}

TEST_P(CenterTest, InvalidUpdateChangesNothing) {
  baseline();
  auto q = *repo->list(acme, Kind::kQueue).begin();
  const auto before = footprint();
  auto r = repo->update(acme, Kind::kQueue, q["id"], with(q, "ring_timeout_s", 1), actor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "ring_timeout_s");
  EXPECT_EQ(*repo->get(acme, Kind::kQueue, q["id"]), q);
  EXPECT_EQ(footprint(), before);
}

TEST_P(CenterTest, ReadOnlyFieldsFromGetAreAcceptedOnPut) {
  baseline();
  auto p =
      make(Kind::kPrompt, {{"name", "hello"}, {"language", "en"}, {"path", "/etc/passwd"}, {"bytes", 5}});
  EXPECT_EQ(p["path"], "");  // clients never choose a file
  EXPECT_EQ(p["bytes"], 0);
  auto f = repo->list(acme, Kind::kFlow).at(0);
  auto r = repo->update(acme, Kind::kFlow, f["id"], f, actor);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)["version"], 2);
}

// ---- uniqueness and references ----

TEST_P(CenterTest, DuplicatesAreConflicts) {
  baseline();
  make(Kind::kNumber, {{"number", "4000"}, {"flow", "main"}});
  make(Kind::kReasonCode, {{"code", 100}, {"label", "Lunch"}});
  make(Kind::kPrompt, {{"name", "hello"}, {"language", "en"}});
  make(Kind::kPrompt, {{"name", "hello"}, {"language", "zh-CN"}});  // same name, other language: fine
  make(Kind::kCustomer, {{"phones", {"+8613800000000"}}});
  make(Kind::kAgent, {{"name", "A"}, {"extension", "1001"}});
  const std::vector<Case> dups = {
      {Kind::kSkill, {{"name", "billing"}}, "name"},
      {Kind::kQueue, {{"name", "support"}}, "name"},
      {Kind::kNumber, {{"number", "4000"}, {"flow", "main"}}, "number"},
      {Kind::kReasonCode, {{"code", 100}, {"label", "Other"}}, "code"},
      {Kind::kPrompt, {{"name", "hello"}, {"language", "en"}}, "name"},
      {Kind::kCustomer, {{"phones", {"+86 138 0000 0000"}}}, "phones[0]"},
      {Kind::kAgent, {{"name", "B"}, {"extension", "1001"}}, "extension"},
      {Kind::kAgent, {{"name", "A"}}, "name"},
  };
  const auto before = footprint();
  for (const auto& c : dups) {
    auto r = repo->create(acme, c.kind, c.body, actor);
    ASSERT_FALSE(r) << c.body.dump();
    EXPECT_EQ(r.error().code, "conflict") << c.body.dump();
    EXPECT_EQ(r.error().field, c.field) << c.body.dump();
  }
  EXPECT_EQ(footprint(), before);
  // Renaming onto an existing name is a conflict too.
  auto sales = repo->list(acme, Kind::kSkill).at(1);
  auto r = repo->update(acme, Kind::kSkill, sales["id"], {{"name", "billing"}}, actor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "conflict");
}

TEST_P(CenterTest, AgentUsersAreUsersOfTheTenantAndAgentsAtMostOnce) {
  auto u = directory->create_user(acme, {"alice", "Alice", "", "correct-horse-battery", {}, true},
                                  iam::Actor::cli());
  ASSERT_TRUE(u);
  make(Kind::kAgent, {{"name", "Alice"}, {"user_id", u->id}});
  auto r = repo->create(acme, Kind::kAgent, {{"name", "Alice 2"}, {"user_id", u->id}}, actor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "conflict");
  EXPECT_EQ(r.error().field, "user_id");
}

TEST_P(CenterTest, ReferencedObjectsCannotBeDeletedOrRenamed) {
  baseline();
  make(Kind::kNumber, {{"number", "4000"}, {"flow", "main"}});
  make(Kind::kQueue,
       {{"name", "spill"}, {"overflow", {{{"after_s", 30}, {"action", "add_queue"}, {"queue", "support"}}}}});
  make(Kind::kFlow,
       {{"name", "hours"},
        {"definition", {{"start", "h"}, {"nodes", {{"h", {{"type", "hours"}, {"calendar", "main"}}}}}}}});
  auto id_of = [&](Kind k, const std::string& key, const std::string& value) {
    for (const auto& o : repo->list(acme, k))
      if (o[key] == value) return o["id"].get<std::int64_t>();
    ADD_FAILURE() << value;
    return std::int64_t{0};
  };
  const auto before = footprint();
  struct Ref {
    Kind kind;
    std::int64_t id;
    std::string referrer;
  };
  const std::vector<Ref> refs = {
      {Kind::kSkill, id_of(Kind::kSkill, "name", "billing"), "queue 'support'"},
      {Kind::kFlow, id_of(Kind::kFlow, "name", "main"), "number '4000'"},
      {Kind::kQueue, id_of(Kind::kQueue, "name", "support"), "queue 'spill'"},
      {Kind::kCalendar, id_of(Kind::kCalendar, "name", "main"), "flow 'hours'"},
  };
  for (const auto& ref : refs) {
    auto r = repo->remove(acme, ref.kind, ref.id, actor);
    ASSERT_FALSE(r) << to_string(ref.kind);
    EXPECT_EQ(r.error().code, "conflict");
    EXPECT_NE(r.error().message.find(ref.referrer), std::string::npos) << r.error().message;
  }
  auto rename = repo->update(acme, Kind::kSkill, refs[0].id, {{"name", "billing2"}}, actor);
  ASSERT_FALSE(rename);
  EXPECT_EQ(rename.error().code, "conflict");
  EXPECT_NE(rename.error().message.find("queue 'support'"), std::string::npos);
  EXPECT_EQ(footprint(), before);

  // Once the referrer is gone, the delete goes through.
  ASSERT_TRUE(repo->remove(acme, Kind::kNumber, id_of(Kind::kNumber, "number", "4000"), actor));
  EXPECT_TRUE(repo->remove(acme, Kind::kFlow, refs[1].id, actor));
}

// ---- flows ----

TEST_P(CenterTest, FlowsKeepEveryVersionAndTheNewestIsLive) {
  baseline();
  make(Kind::kQueue, {{"name", "sales"}});
  auto f = make(Kind::kFlow, flow_to("sales-flow", "support"));
  EXPECT_EQ(f["version"], 1);
  const auto id = f["id"].get<std::int64_t>();
  auto v2 = repo->update(acme, Kind::kFlow, id, flow_to("sales-flow", "sales"), actor);
  ASSERT_TRUE(v2);
  EXPECT_EQ((*v2)["version"], 2);
  auto v3 = repo->update(acme, Kind::kFlow, id, flow_to("sales-flow", "support"), actor);
  ASSERT_TRUE(v3);
  EXPECT_EQ((*v3)["version"], 3);
  auto versions = repo->flow_versions(acme, id);
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0]["version"], 1);
  EXPECT_EQ((*versions)[1]["definition"]["nodes"]["q"]["queue"], "sales");
  EXPECT_EQ((*versions)[2]["definition"]["nodes"]["q"]["queue"], "support");
  EXPECT_EQ((*versions)[2]["actor"], "user:1:alice");
  const auto* live = repo->snapshot(acme)->flow("sales-flow");
  ASSERT_NE(live, nullptr);
  EXPECT_EQ(live->version, 3);
  EXPECT_EQ(live->definition["nodes"]["q"]["queue"], "support");
  // A refused save makes no version.
  ASSERT_FALSE(repo->update(acme, Kind::kFlow, id, flow_to("sales-flow", "nope"), actor));
  EXPECT_EQ(repo->flow_versions(acme, id)->size(), 3u);
  EXPECT_EQ(repo->flow_versions(other, id).error().code, "not_found");
}

TEST_P(CenterTest, FlowValidatorHookIsConsultedWithTheConfiguration) {
  baseline();
  std::vector<std::string> seen_queues;
  repo->set_flow_validator([&](const json& definition, const Snapshot& snap) -> std::optional<common::Error> {
    for (const auto& q : snap.queues) seen_queues.push_back(q.name);
    if (definition.contains("reject")) return common::Error{"invalid", "no menu", "nodes.menu.next"};
    return std::nullopt;
  });
  auto good = flow_to("hooked", "support");
  make(Kind::kFlow, good);
  EXPECT_NE(std::find(seen_queues.begin(), seen_queues.end(), "support"), seen_queues.end());
  auto bad = flow_to("hooked2", "support");
  bad["definition"]["reject"] = true;
  const auto before = footprint();
  auto r = repo->create(acme, Kind::kFlow, bad, actor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_argument");
  EXPECT_EQ(r.error().field, "definition.nodes.menu.next");
  EXPECT_EQ(footprint(), before);
}

// ---- snapshot and listener ----

TEST_P(CenterTest, SnapshotIsRebuiltAfterEveryWriteAndTheListenerCalledAfterCommit) {
  std::vector<std::int64_t> told;
  std::vector<bool> committed;
  repo->set_change_listener([&](std::int64_t tenant) {
    told.push_back(tenant);
    // Another connection sees the change: the listener runs after commit.
    committed.push_back(
        db->exec("SELECT COUNT(*) FROM center_objects WHERE kind = 'skill'").rows.at(0).integer(0) ==
        static_cast<std::int64_t>(repo->snapshot(tenant)->skills.size()));
  });
  auto s0 = repo->snapshot(acme);
  EXPECT_TRUE(s0->skills.empty());
  EXPECT_EQ(repo->snapshot(acme), s0);  // cached
  auto skill = make(Kind::kSkill, {{"name", "billing"}});
  auto s1 = repo->snapshot(acme);
  EXPECT_GT(s1->generation, s0->generation);
  ASSERT_EQ(s1->skills.size(), 1u);
  EXPECT_EQ(s1->skills[0].name, "billing");
  EXPECT_TRUE(s0->skills.empty());  // an old snapshot never changes
  ASSERT_TRUE(
      repo->update(acme, Kind::kSkill, skill["id"], {{"name", "billing"}, {"description", "d"}}, actor));
  EXPECT_EQ(repo->snapshot(acme)->skills.at(0).description, "d");
  ASSERT_TRUE(repo->remove(acme, Kind::kSkill, skill["id"], actor));
  EXPECT_TRUE(repo->snapshot(acme)->skills.empty());
  EXPECT_EQ(told, (std::vector<std::int64_t>{acme, acme, acme}));
  EXPECT_EQ(committed, (std::vector<bool>{true, true, true}));
  // A refused write tells nobody.
  ASSERT_FALSE(repo->create(acme, Kind::kSkill, {{"name", "BAD"}}, actor));
  EXPECT_EQ(told.size(), 3u);
}

TEST_P(CenterTest, SnapshotLookups) {
  baseline();
  make(Kind::kNumber, {{"number", "+861088880000"}, {"flow", "main"}});
  make(Kind::kNumber, {{"number", "4000"}, {"flow", "main"}});
  make(Kind::kTrunk, {{"name", "wide"}, {"allowed_sources", {"203.0.0.0/16", "2001:db8::/32"}}});
  make(Kind::kTrunk, {{"name", "v6host"}, {"allowed_sources", {"2001:db8::5"}}});
  make(Kind::kCustomer, {{"name", "Zhang"}, {"phones", {"+86 138-0000-0000"}}, {"vip", true}});
  make(Kind::kPrompt, {{"name", "welcome"}, {"language", "en"}});
  make(Kind::kAgent, {{"name", "A"}, {"extension", "1001"}});
  auto s = repo->snapshot(acme);
  ASSERT_NE(s->number("+861088880000"), nullptr);
  EXPECT_EQ(s->number("861088880000"), s->number("+861088880000"));
  EXPECT_EQ(s->number("4000")->number, "4000");
  EXPECT_EQ(s->number("+4000")->number, "4000");
  EXPECT_EQ(s->number("400"), nullptr);
  EXPECT_EQ(s->trunk_for_source("203.0.113.9")->name, "carrier");  // /24 beats /16
  EXPECT_EQ(s->trunk_for_source("203.0.1.1")->name, "wide");
  EXPECT_EQ(s->trunk_for_source("2001:db8::5")->name, "v6host");
  EXPECT_EQ(s->trunk_for_source("[2001:db8::6]")->name, "wide");
  EXPECT_EQ(s->trunk_for_source("::ffff:203.0.113.1")->name, "carrier");
  EXPECT_EQ(s->trunk_for_source("198.51.100.1"), nullptr);
  EXPECT_EQ(s->trunk_for_source("garbage"), nullptr);
  ASSERT_NE(s->customer_by_phone("+8613800000000"), nullptr);
  EXPECT_TRUE(s->customer_by_phone("+86 138 0000 0000")->vip);
  EXPECT_EQ(s->customer_by_phone("13800000000"), nullptr);  // country-code matching is not done
  EXPECT_EQ(s->customer_by_phone(""), nullptr);
  EXPECT_NE(s->prompt("welcome", "en"), nullptr);
  EXPECT_EQ(s->prompt("welcome", "zh-CN"), nullptr);
  EXPECT_EQ(s->agent_by_extension("1001")->name, "A");
  EXPECT_EQ(s->agent(s->agents[0].id), &s->agents[0]);
  EXPECT_EQ(s->queue("support")->skills.at(0).level, 3);
  EXPECT_EQ(s->calendar("main")->time_zone, "Asia/Shanghai");
  EXPECT_EQ(s->trunk("carrier")->allowed_sources.at(0), "203.0.113.0/24");
  EXPECT_EQ(s->flow("main")->version, 1);
}

// ---- tenancy ----

TEST_P(CenterTest, AnotherTenantsObjectsAreNotFound) {
  baseline();
  auto skill = repo->list(acme, Kind::kSkill).at(0);
  const auto id = skill["id"].get<std::int64_t>();
  EXPECT_EQ(repo->get(other, Kind::kSkill, id).error().code, "not_found");
  EXPECT_EQ(repo->update(other, Kind::kSkill, id, {{"name", "x"}}, actor).error().code, "not_found");
  EXPECT_EQ(repo->remove(other, Kind::kSkill, id, actor).error().code, "not_found");
  EXPECT_EQ(repo->get(acme, Kind::kQueue, id).error().code, "not_found");  // same id, other kind
  EXPECT_TRUE(repo->list(other, Kind::kSkill).empty());
  EXPECT_TRUE(repo->snapshot(other)->skills.empty());
  // Names are per tenant; references too (acme's flows are not other's).
  make(Kind::kSkill, {{"name", "billing"}}, other);
  auto r = repo->create(other, Kind::kNumber, {{"number", "4000"}, {"flow", "main"}}, actor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "flow");
  EXPECT_EQ(repo->get(acme, Kind::kSkill, id)->at("name"), "billing");
}

// Concurrent writers cannot together break a reference: a skill deleted while
// a queue using it is created leaves either both or just the deletion.
TEST_P(CenterTest, ConcurrentWritesKeepReferencesIntact) {
  for (int i = 0; i < 8; ++i) {
    const auto skill = "s" + std::to_string(i);
    auto created = make(Kind::kSkill, {{"name", skill}});
    std::thread remover([&] { (void)repo->remove(acme, Kind::kSkill, created["id"], actor); });
    std::thread user([&] {
      (void)repo->create(acme, Kind::kQueue,
                         {{"name", "q" + std::to_string(i)}, {"skills", {{{"skill", skill}}}}}, actor);
    });
    remover.join();
    user.join();
    auto snap = repo->snapshot(acme);
    const bool skill_exists = std::any_of(snap->skills.begin(), snap->skills.end(),
                                          [&](const SkillDef& s) { return s.name == skill; });
    EXPECT_TRUE(snap->queue("q" + std::to_string(i)) == nullptr || skill_exists) << skill;
  }
}

TEST_P(CenterTest, WritesForAnUnknownTenantAreNotFound) {
  auto r = repo->create(999999, Kind::kSkill, {{"name", "x"}}, actor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "not_found");
}

// ---- secrets, audit ----

TEST_P(CenterTest, TrunkPasswordIsNeverReturnedAndKeptWhenOmitted) {
  auto t = make(Kind::kTrunk, {{"name", "out"}, {"host", "sip.example.com"}, {"password", "s3cret"}});
  EXPECT_FALSE(t.contains("password"));
  ASSERT_TRUE(
      repo->update(acme, Kind::kTrunk, t["id"], {{"name", "out"}, {"host", "sip2.example.com"}}, actor));
  EXPECT_EQ(repo->snapshot(acme)->trunk("out")->password, "s3cret");
  ASSERT_TRUE(repo->update(acme, Kind::kTrunk, t["id"], {{"name", "out"}, {"password", ""}}, actor));
  EXPECT_EQ(repo->snapshot(acme)->trunk("out")->password, "");
  auto audit = db->exec("SELECT details FROM audit_log WHERE action LIKE 'trunk.%'").rows;
  ASSERT_EQ(audit.size(), 3u);
  for (const auto& row : audit) EXPECT_EQ(row.text(0).find("s3cret"), std::string::npos);
}

TEST_P(CenterTest, AuditEntriesNameActorActionAndTargetAndMaskPhones) {
  auto c = make(Kind::kCustomer, {{"name", "Zhang"}, {"phones", {"+8613812345678"}}});
  auto rows =
      db->exec(
            "SELECT actor, source, action, target, details FROM audit_log WHERE action = 'customer.create'")
          .rows;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].text(0), "user:1:alice");
  EXPECT_EQ(rows[0].text(1), "127.0.0.1");
  EXPECT_EQ(rows[0].text(3), "customer:" + std::to_string(c["id"].get<std::int64_t>()));
  EXPECT_EQ(rows[0].text(4).find("+8613812345678"), std::string::npos);
  auto details = json::parse(rows[0].text(4));
  EXPECT_EQ(details["after"]["name"], "Zhang");
  EXPECT_TRUE(directory->verify_audit().broken == std::nullopt);
}

// ---- prompts ----

TEST_P(CenterTest, PromptAudioIsStoredAsAVerifiedWavFile) {
  const auto wav = testing::make_wav(dir_.str() + "/tone.wav");
  auto r = repo->put_prompt_audio(acme, "welcome", "zh-CN", wav, actor);
  ASSERT_TRUE(r) << r.error().message;
  const auto path = prompts_dir + "/" + std::to_string(acme) + "/zh-CN/welcome.wav";
  EXPECT_EQ((*r)["path"], path);
  EXPECT_EQ((*r)["bytes"], static_cast<std::int64_t>(wav.size()));
  ASSERT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::file_size(path), wav.size());
  const auto* p = repo->snapshot(acme)->prompt("welcome", "zh-CN");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->path, path);
  EXPECT_EQ(audit_count("prompt.upload"), 1);
  // No temp files left behind.
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 1u);

  // Uploading again replaces the audio of the same record.
  const auto longer = testing::make_wav(dir_.str() + "/tone2.wav", 0.5);
  auto again = repo->put_prompt_audio(acme, "welcome", "zh-CN", longer, actor);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)["id"], (*r)["id"]);
  EXPECT_EQ(fs::file_size(path), longer.size());
  EXPECT_EQ(repo->list(acme, Kind::kPrompt).size(), 1u);

  // Renaming a prompt with audio is refused; deleting removes the file.
  auto rename =
      repo->update(acme, Kind::kPrompt, (*r)["id"], {{"name", "other"}, {"language", "zh-CN"}}, actor);
  ASSERT_FALSE(rename);
  EXPECT_EQ(rename.error().field, "name");
  ASSERT_TRUE(repo->remove(acme, Kind::kPrompt, (*r)["id"], actor));
  EXPECT_FALSE(fs::exists(path));
}

TEST_P(CenterTest, AnythingButAWavIsRefusedAndNothingIsStored) {
  const auto wav = testing::make_wav(dir_.str() + "/tone.wav");
  const auto before = footprint();
  struct Bad {
    std::string name, language, bytes, field;
  };
  const std::vector<Bad> bad = {
      {"welcome", "en", "this is not audio at all, just some text", "wav"},
      {"welcome", "en", "", "wav"},
      {"welcome", "en", wav.substr(0, 30), "wav"},
      {"welcome", "en", std::string(64 * 1024 + 1, 'x'), "wav"},
      {"../evil", "en", wav, "name"},
      {"welcome", "../..", wav, "language"},
  };
  for (const auto& b : bad) {
    auto r = repo->put_prompt_audio(acme, b.name, b.language, b.bytes, actor);
    ASSERT_FALSE(r) << b.name << " " << b.bytes.size();
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_EQ(r.error().field, b.field) << r.error().message;
  }
  EXPECT_EQ(footprint(), before);
  std::size_t files = 0;
  if (fs::exists(prompts_dir))
    for (const auto& e : fs::recursive_directory_iterator(prompts_dir)) files += e.is_regular_file() ? 1 : 0;
  EXPECT_EQ(files, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, CenterTest, ::testing::Values(Backend::Sqlite, Backend::Postgres),
                         [](const ::testing::TestParamInfo<Backend>& i) {
                           return i.param == Backend::Sqlite ? "Sqlite" : "Postgres";
                         });

TEST(Kinds, NamesRoundTrip) {
  for (auto k : {Kind::kAgent, Kind::kSkill, Kind::kQueue, Kind::kNumber, Kind::kTrunk, Kind::kCalendar,
                 Kind::kPrompt, Kind::kFlow, Kind::kReasonCode, Kind::kWrapUpCode, Kind::kCustomer}) {
    EXPECT_EQ(parse_kind(to_string(k)), k);
  }
  EXPECT_EQ(to_string(Kind::kReasonCode), "reason_code");
  EXPECT_EQ(to_string(Kind::kWrapUpCode), "wrapup_code");
  EXPECT_EQ(parse_kind("queues"), std::nullopt);
}

}  // namespace
}  // namespace hotline::center
