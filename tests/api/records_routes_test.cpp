// Call records over HTTP: filters, paging, bad parameters, permissions,
// masking, tenancy, CSV export, audited wrap-up and recording download.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "api/server_fixture.h"
#include "records/records.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;

namespace {

constexpr std::int64_t kT0 = 1'767'225'600'000;

media::Kek test_kek() {
  media::Kek k;
  k.id = "kek-api";
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(i * 3 + 1);
  return k;
}

ApiServer::Setup with_records() {
  return [](ApiServer& s, api::ApiOptions& o) {
    records::StoreOptions opts;
    opts.keks = {test_kek()};
    auto store = std::make_shared<records::Store>(*s.db, s.clock, opts);
    s.keep_alive.push_back(store);
    o.services.records = store.get();
  };
}

records::Store& store_of(ApiServer& s) {
  return *std::static_pointer_cast<records::Store>(s.keep_alive.at(0));
}

std::int64_t tenant_id(ApiServer& s, const std::string& slug) {
  auto t = s.directory->find_tenant(slug);
  if (!t) t = *s.directory->create_tenant(slug, slug, iam::Actor::cli());
  return t->id;
}

records::CallRecord call(std::int64_t tenant, int n) {
  records::CallRecord c;
  c.id = "c" + std::to_string(n);
  c.tenant_id = tenant;
  c.caller = "+4930" + std::to_string(1000000 + n);
  c.queue = n % 2 == 0 ? "sales" : "support";
  c.agent_id = 1 + n % 3;
  c.arrived_ms = kT0 + 1000LL * n;
  c.ended_ms = c.arrived_ms + 500;
  c.disposition = n % 3 == 0 ? "abandoned" : "answered";
  return c;
}

std::string field_of(const HttpResult& r) {
  auto j = r.json();
  return j["error"]["details"].value("field", std::string("?"));
}

class RecordsApi : public ::testing::Test {
 protected:
  RecordsApi() : s("", {}, fast_policy(), with_records()) {
    admin = std::make_unique<HttpClient>(s.signed_in("acme", "root", {"admin"}));
    acme = tenant_id(s, "acme");
    other = tenant_id(s, "other");
  }
  void put_calls(std::int64_t tenant, int n) {
    for (int i = 0; i < n; ++i) store_of(s).put_call(call(tenant, i));
    store_of(s).flush();
  }
  std::size_t audit_count(const std::string& action) {
    auto r = admin->get("/api/v1/audit?action=" + action + "&limit=500");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.items().size();
  }

  ApiServer s;
  std::unique_ptr<HttpClient> admin;
  std::int64_t acme = 0, other = 0;
};

TEST(RecordsApiWithoutService, Answers503Unavailable) {
  ApiServer s;
  auto admin = s.signed_in("acme", "root", {"admin"});
  for (const char* path : {"/api/v1/calls", "/api/v1/calls/c1", "/api/v1/calls/export", "/api/v1/voicemails",
                           "/api/v1/routing-events", "/api/v1/recordings/r1/audio"}) {
    auto r = admin.get(path);
    EXPECT_EQ(r.status, 503) << path;
    EXPECT_EQ(r.json()["error"]["code"], "unavailable") << path;
  }
}

TEST_F(RecordsApi, ListsPagesAndFilters) {
  put_calls(acme, 25);
  std::set<std::string> seen;
  std::string target = "/api/v1/calls?limit=10";
  std::int64_t last_arrived = INT64_MAX;
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 10);
    auto r = admin->get(target);
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& c : r.items()) {
      EXPECT_TRUE(seen.insert(c["id"].get<std::string>()).second);
      EXPECT_LT(c["arrived_ms"].get<std::int64_t>(), last_arrived);
      last_arrived = c["arrived_ms"];
    }
    auto next = r.json()["next_cursor"];
    if (next.is_null()) break;
    target = "/api/v1/calls?limit=10&cursor=" + next.get<std::string>();
  }
  EXPECT_EQ(seen.size(), 25u);

  auto sales = admin->get("/api/v1/calls?queue=sales&disposition=answered&limit=1000");
  ASSERT_EQ(sales.status, 200);
  for (const auto& c : sales.items()) {
    EXPECT_EQ(c["queue"], "sales");
    EXPECT_EQ(c["disposition"], "answered");
  }
  EXPECT_EQ(sales.items().size(), 8u);  // even n < 25 not divisible by 3
  auto window =
      admin->get("/api/v1/calls?from=" + std::to_string(kT0 + 5000) + "&to=" + std::to_string(kT0 + 10000));
  EXPECT_EQ(window.items().size(), 5u);
  auto agent = admin->get("/api/v1/calls?agent_id=2");
  for (const auto& c : agent.items()) EXPECT_EQ(c["agent_id"], 2);
  auto by_caller = admin->get("/api/v1/calls?caller=%2B49301000007");
  ASSERT_EQ(by_caller.items().size(), 1u);
  EXPECT_EQ(by_caller.items()[0]["id"], "c7");
}

TEST_F(RecordsApi, BadParametersAre400NamingTheParameter) {
  put_calls(acme, 2);
  struct Case {
    std::string target, field;
  };
  for (const auto& [target, field] : std::vector<Case>{
           {"/api/v1/calls?limit=0", "limit"},
           {"/api/v1/calls?limit=1001", "limit"},
           {"/api/v1/calls?from=abc", "from"},
           {"/api/v1/calls?from=10&to=5", "to"},
           {"/api/v1/calls?agent_id=-1", "agent_id"},
           {"/api/v1/calls?cursor=garbage", "cursor"},
           {"/api/v1/calls?queue=" + std::string(200, 'q'), "queue"},
           {"/api/v1/calls/export?to=x", "to"},
           {"/api/v1/calls/bad.id", "id"},
           {"/api/v1/calls/" + std::string(33, 'a'), "id"},
           {"/api/v1/recordings/no.such/audio", "id"},
           {"/api/v1/voicemails?limit=x", "limit"},
           {"/api/v1/voicemails?cursor=1:a:b", "cursor"},
           {"/api/v1/routing-events?call_id=a.b", "call_id"},
           {"/api/v1/routing-events?cursor=1:x", "cursor"},
           {"/api/v1/routing-events?type=" + std::string(65, 't'), "type"},
       }) {
    auto r = admin->get(target);
    EXPECT_EQ(r.status, 400) << target << " " << r.body;
    EXPECT_EQ(field_of(r), field) << target;
  }
}

TEST_F(RecordsApi, PermissionsAndPhoneMasking) {
  put_calls(acme, 3);
  auto agent = s.signed_in("acme", "ann", {"agent"});
  EXPECT_EQ(agent.get("/api/v1/calls").status, 403);
  EXPECT_EQ(agent.get("/api/v1/calls/c1").status, 403);
  EXPECT_EQ(agent.get("/api/v1/calls/export").status, 403);

  auto auditor = s.signed_in("acme", "aud", {"auditor"});  // reports.read, no customers.pii.read
  auto masked = auditor.get("/api/v1/calls/c1");
  ASSERT_EQ(masked.status, 200) << masked.body;
  EXPECT_EQ(masked.json()["caller"], "+4930100****");
  EXPECT_EQ(auditor.get("/api/v1/calls?caller=%2B49301000001").status, 403);
  auto csv = auditor.get("/api/v1/calls/export");
  EXPECT_EQ(csv.body.find("+49301000001"), std::string::npos);
  EXPECT_NE(csv.body.find("'+4930100****"), std::string::npos);

  auto sup = s.signed_in("acme", "sup", {"supervisor"});
  EXPECT_EQ(sup.get("/api/v1/calls/c1").json()["caller"], "+49301000001");
}

TEST_F(RecordsApi, CallDetailAndOtherTenants) {
  put_calls(acme, 2);
  auto& st = store_of(s);
  records::CallLeg leg;
  leg.call_id = "c1";
  leg.tenant_id = acme;
  leg.leg_no = 0;
  leg.role = "caller";
  leg.peer = "+49301000001";
  st.put_leg(leg);
  leg.leg_no = 1;
  leg.role = "agent";
  leg.peer = "sip:101@acme";
  st.put_leg(leg);
  records::RecordingInfo rec;
  rec.id = "r1";
  rec.tenant_id = acme;
  rec.call_id = "c1";
  rec.path = "/secret/path.hrec";
  st.put_recording(rec);
  auto theirs = call(other, 9);
  st.put_call(theirs);
  st.flush();

  auto r = admin->get("/api/v1/calls/c1");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = r.json();
  ASSERT_EQ(j["legs"].size(), 2u);
  EXPECT_EQ(j["legs"][0]["role"], "caller");
  EXPECT_EQ(j["legs"][1]["peer"], "sip:101@acme");
  ASSERT_EQ(j["recordings"].size(), 1u);
  EXPECT_EQ(j["recordings"][0]["id"], "r1");
  EXPECT_EQ(r.body.find("/secret/path"), std::string::npos) << "file paths stay on the server";

  auto auditor = s.signed_in("acme", "aud", {"auditor"});
  EXPECT_EQ(auditor.get("/api/v1/calls/c1").json()["legs"][0]["peer"], "+4930100****");

  EXPECT_EQ(admin->get("/api/v1/calls/c9").status, 404);
  EXPECT_EQ(admin->get("/api/v1/calls?limit=1000").items().size(), 2u);
  EXPECT_EQ(admin->put("/api/v1/calls/c9/wrapup", {{"code", "x"}}).status, 404);
  EXPECT_EQ(store_of(s).call(other, "c9")->wrapup_code, "");
}

TEST_F(RecordsApi, CsvExport) {
  put_calls(acme, 12);
  auto r = admin->get("/api/v1/calls/export?queue=support");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type").rfind("text/csv", 0), 0u);
  EXPECT_NE(r.header("Content-Disposition").find("calls.csv"), std::string::npos);
  std::istringstream in(r.body);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 7u);  // header + 6 odd n < 12
  EXPECT_EQ(lines[0].rfind("id,direction,caller,", 0), 0u);
  EXPECT_EQ(lines[0].back(), '\r');
  EXPECT_EQ(lines[1].rfind("c11,inbound,'+49301000011,", 0), 0u) << lines[1];
}

TEST_F(RecordsApi, WrapupIsAuditedAndValidated) {
  put_calls(acme, 2);
  auto agent = s.signed_in("acme", "ann", {"agent"});
  auto r = agent.put("/api/v1/calls/c1/wrapup", {{"code", "sale"}, {"notes", "two seats\nfollow up"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["wrapup_code"], "sale");
  EXPECT_EQ(r.json()["notes"], "two seats\nfollow up");
  EXPECT_EQ(r.json()["caller"], "+4930100****") << "agents do not hold customers.pii.read";
  auto audit = admin->get("/api/v1/audit?action=call.wrapup");
  ASSERT_EQ(audit.items().size(), 1u);
  EXPECT_EQ(audit.items()[0]["target"], "call:c1");
  EXPECT_NE(audit.items()[0]["actor"].get<std::string>().find("ann"), std::string::npos);

  auto bad = [&](const json& body) {
    auto res = agent.put("/api/v1/calls/c1/wrapup", body);
    EXPECT_EQ(res.status, 400) << body.dump() << " " << res.body;
    return field_of(res);
  };
  EXPECT_EQ(bad({{"code", std::string(65, 'x')}}), "code");
  EXPECT_EQ(bad({{"code", "ok"}, {"notes", std::string(4001, 'n')}}), "notes");
  EXPECT_EQ(bad({{"notes", "no code"}}), "code");
  EXPECT_EQ(bad({{"code", 5}}), "code");
  EXPECT_EQ(bad({{"code", "ok"}, {"extra", 1}}), "extra");
  EXPECT_EQ(agent.put("/api/v1/calls/c404/wrapup", {{"code", "ok"}}).status, 404);
  EXPECT_EQ(store_of(s).call(acme, "c1")->wrapup_code, "sale");
  EXPECT_EQ(audit_count("call.wrapup"), 1u);

  auto auditor = s.signed_in("acme", "aud", {"auditor"});  // no agents.state.self
  EXPECT_EQ(auditor.put("/api/v1/calls/c1/wrapup", {{"code", "x"}}).status, 403);
}

TEST_F(RecordsApi, AudioDownloadIsAuditedAndNeedsRecordingsListen) {
  TempDir dir;
  const auto path = (dir.path() / "r1.hrec").string();
  {
    auto f = media::EncryptedRecordingFile::create(path, test_kek(), media::Cipher::aes_256_gcm);
    ASSERT_TRUE(f.ok());
    std::vector<std::uint8_t> pcm(40000);
    for (std::size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<std::uint8_t>(i * 7);
    ASSERT_TRUE((*f)->write(pcm).ok());
    ASSERT_TRUE((*f)->finish().ok());
  }
  records::RecordingInfo rec;
  rec.id = "r1";
  rec.tenant_id = acme;
  rec.call_id = "c1";
  rec.path = path;
  store_of(s).put_recording(rec);
  rec.tenant_id = other;
  rec.id = "r2";
  store_of(s).put_recording(rec);
  store_of(s).flush();

  const auto expected_path = (dir.path() / "expected.wav").string();
  auto kek = test_kek();
  ASSERT_TRUE(media::decrypt_recording(path, expected_path, std::span<const media::Kek>(&kek, 1)).ok());
  std::ifstream in(expected_path, std::ios::binary);
  std::string expected((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  auto agent = s.signed_in("acme", "ann", {"agent"});
  EXPECT_EQ(agent.get("/api/v1/recordings/r1/audio").status, 403);
  EXPECT_EQ(audit_count("recording.listen"), 0u);

  auto sup = s.signed_in("acme", "sup", {"supervisor"});
  auto r = sup.get("/api/v1/recordings/r1/audio");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "audio/wav");
  EXPECT_EQ(r.body, expected);
  EXPECT_EQ(r.body.substr(0, 4), "RIFF");
  EXPECT_EQ(audit_count("recording.listen"), 1u);
  EXPECT_EQ(sup.get("/api/v1/recordings/r2/audio").status, 404) << "another tenant's recording";
  EXPECT_EQ(sup.get("/api/v1/recordings/nope/audio").status, 404);
  EXPECT_EQ(audit_count("recording.listen"), 1u);
}

TEST_F(RecordsApi, VoicemailsAndRoutingEvents) {
  auto& st = store_of(s);
  for (int n = 0; n < 6; ++n) {
    records::RecordingInfo vm;
    vm.id = "vm" + std::to_string(n);
    vm.tenant_id = n == 5 ? other : acme;
    vm.kind = n == 4 ? "call" : "voicemail";
    vm.queue = n % 2 == 0 ? "sales" : "support";
    vm.started_ms = kT0 + n;
    st.put_recording(vm);
  }
  for (int n = 0; n < 30; ++n) {
    records::EventRecord e;
    e.tenant_id = n == 29 ? other : acme;
    e.seq = n;
    e.time_ms = kT0 + n;
    e.type = n % 3 == 0 ? "offered" : "answered";
    e.agent_id = 1 + n % 2;
    e.call_id = "c" + std::to_string(n % 5);
    st.put_event(e);
  }
  st.flush();
  auto vms = admin->get("/api/v1/voicemails");
  ASSERT_EQ(vms.status, 200) << vms.body;
  ASSERT_EQ(vms.items().size(), 4u);
  EXPECT_EQ(vms.items()[0]["id"], "vm3");
  EXPECT_EQ(admin->get("/api/v1/voicemails?queue=sales").items().size(), 2u);
  auto page = admin->get("/api/v1/voicemails?limit=3");
  EXPECT_EQ(page.items().size(), 3u);
  auto rest =
      admin->get("/api/v1/voicemails?limit=3&cursor=" + page.json()["next_cursor"].get<std::string>());
  ASSERT_EQ(rest.items().size(), 1u);
  EXPECT_EQ(rest.items()[0]["id"], "vm0");

  auto evs = admin->get("/api/v1/routing-events?limit=1000");
  ASSERT_EQ(evs.status, 200) << evs.body;
  EXPECT_EQ(evs.items().size(), 29u);
  EXPECT_EQ(evs.items()[0]["seq"], 28);
  EXPECT_EQ(admin->get("/api/v1/routing-events?type=offered&limit=1000").items().size(), 10u);
  EXPECT_EQ(admin->get("/api/v1/routing-events?call_id=c0&agent_id=1").items().size(), 3u);
  auto window = admin->get("/api/v1/routing-events?from=" + std::to_string(kT0 + 10) +
                           "&to=" + std::to_string(kT0 + 20) + "&limit=4");
  EXPECT_EQ(window.items().size(), 4u);
  EXPECT_FALSE(window.json()["next_cursor"].is_null());
  auto agent = s.signed_in("acme", "ann", {"agent"});
  EXPECT_EQ(agent.get("/api/v1/routing-events").status, 403);
  EXPECT_EQ(agent.get("/api/v1/voicemails").status, 403);
}

}  // namespace
