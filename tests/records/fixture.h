// Shared fixture: a migrated database (SQLite file or a fresh PostgreSQL
// schema on the shared real server) with two tenants, and record makers.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "iam/iam.h"
#include "records/records.h"
#include "schema/schema.h"
#include "store/database.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace hotline::records::test {

inline std::string backend_name(const ::testing::TestParamInfo<store::Backend>& info) {
  return info.param == store::Backend::Sqlite ? "Sqlite" : "Postgres";
}

class RecordsTest : public ::testing::TestWithParam<store::Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == store::Backend::Sqlite) {
      url_ = "sqlite://" + (dir_.path() / "records.db").string();
    } else {
      static std::atomic<int> counter{0};
      url_ = testing::PostgresServer::shared().create_schema("rec" + std::to_string(counter++));
    }
    db = store::Database::open(url_);
    db->migrate(schema::migrations());
    directory = std::make_unique<iam::Directory>(*db, clock, iam::AuthPolicy{});
    t1 = directory->create_tenant("one", "One", iam::Actor::cli())->id;
    t2 = directory->create_tenant("two", "Two", iam::Actor::cli())->id;
  }

  std::unique_ptr<Store> make_store(StoreOptions options = {}) {
    return std::make_unique<Store>(*db, clock, std::move(options));
  }

  std::int64_t count(const std::string& table) {
    return db->exec("SELECT COUNT(*) FROM " + table).rows.at(0).integer(0);
  }
  std::int64_t audits(const std::string& action) {
    return db->exec("SELECT COUNT(*) FROM audit_log WHERE action = $1", {action}).rows.at(0).integer(0);
  }

  const std::string& url() const { return url_; }

  testing::TempDir dir_{"hotline-records"};
  std::string url_;
  common::FakeClock clock;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<iam::Directory> directory;
  std::int64_t t1 = 0, t2 = 0;
};

// 2026-01-01T00:00:00Z, the FakeClock's wall epoch.
constexpr std::int64_t kT0 = 1'767'225'600'000;

// A fully populated call whose every field derives from `n`.
inline CallRecord make_call(std::int64_t tenant, int n) {
  CallRecord c;
  c.id = "c" + std::to_string(n);
  c.tenant_id = tenant;
  c.direction = n % 5 == 0 ? "outbound" : "inbound";
  c.caller = "+4930" + std::to_string(1000000 + n);
  c.caller_name = "Caller " + std::to_string(n);
  c.dialled = "800" + std::to_string(n % 3);
  c.customer_id = n % 4 == 0 ? 0 : 100 + n;
  c.flow = "main";
  c.ivr_path = "welcome,menu";
  c.queue = n % 2 == 0 ? "sales" : "support";
  c.agent_id = 1 + n % 3;
  c.agent_extension = "10" + std::to_string(1 + n % 3);
  c.arrived_ms = kT0 + 1000LL * (n / 2);  // pairs share a timestamp: ties in paging
  c.ivr_left_ms = c.arrived_ms + 100;
  c.queued_ms = c.arrived_ms + 200;
  c.offered_ms = c.arrived_ms + 300;
  c.answered_ms = n % 3 == 0 ? 0 : c.arrived_ms + 400;
  c.ended_ms = c.arrived_ms + 900;
  c.wrapup_ended_ms = c.ended_ms + 50;
  c.offers = 1 + n % 2;
  c.priority = n % 4;
  c.disposition = n % 3 == 0 ? "abandoned" : "answered";
  c.end_reason = "caller hangup";
  c.wrapup_code = "";
  c.notes = "";
  c.recording_id = n % 3 == 0 ? "" : "r" + std::to_string(n);
  c.holds = n % 3 == 0 ? 0 : 1 + n % 2;
  c.hold_ms = 1500LL * c.holds;
  return c;
}

inline CallLeg make_leg(std::int64_t tenant, int n, int leg_no) {
  CallLeg l;
  l.call_id = "c" + std::to_string(n);
  l.tenant_id = tenant;
  l.leg_no = leg_no;
  l.role = leg_no == 0 ? "caller" : "agent";
  l.peer = leg_no == 0 ? "+4930" + std::to_string(1000000 + n) : "sip:101@acme";
  l.agent_id = leg_no == 0 ? 0 : 1 + n % 3;
  l.started_ms = kT0 + n;
  l.answered_ms = kT0 + n + 10;
  l.ended_ms = kT0 + n + 90;
  l.sip_status = 200;
  l.end_reason = "bye";
  return l;
}

inline RecordingInfo make_recording(std::int64_t tenant, int n, const std::string& kind = "call") {
  RecordingInfo r;
  r.id = "r" + std::to_string(n);
  r.tenant_id = tenant;
  r.call_id = "c" + std::to_string(n);
  r.kind = kind;
  r.path = "/var/lib/hotline/rec/r" + std::to_string(n) + ".hrec";
  r.cipher = "aes-256-gcm";
  r.started_ms = kT0 + 1000LL * (n / 2);
  r.ended_ms = r.started_ms + 500;
  r.bytes = 32000LL * n;
  r.queue = n % 2 == 0 ? "sales" : "support";
  r.customer_id = 100 + n;
  return r;
}

inline EventRecord make_event(std::int64_t tenant, int n) {
  EventRecord e;
  e.tenant_id = tenant;
  e.seq = n;
  e.time_ms = kT0 + 10LL * (n / 3);  // triples share a timestamp
  e.type = n % 2 == 0 ? "offered" : "agent_state";
  e.agent_id = 1 + n % 4;
  e.call_id = "c" + std::to_string(n % 7);
  e.queue = "sales";
  e.value = n;
  e.disposition = n % 2 == 0 ? "answered" : "";
  e.reason = n % 3;
  return e;
}

}  // namespace hotline::records::test
