// The records store on both backends: round trips, upserts, paging, filters,
// tenancy, wrap-up, failed batches and group commit.
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "fixture.h"

namespace hotline::records::test {
namespace {

using namespace std::chrono_literals;

// Every page of calls() until the end, checking the order on the way.
std::vector<CallRecord> all_calls(Store& s, std::int64_t tenant, CallFilter f) {
  std::vector<CallRecord> out;
  for (int pages = 0; pages < 10'000; ++pages) {
    auto page = s.calls(tenant, f);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page) break;
    EXPECT_LE(static_cast<int>(page->items.size()), f.limit);
    for (auto& c : page->items) out.push_back(std::move(c));
    if (!page->next_cursor) break;
    f.cursor = *page->next_cursor;
  }
  return out;
}

void expect_newest_first(const std::vector<CallRecord>& calls) {
  for (std::size_t i = 1; i < calls.size(); ++i) {
    const auto& a = calls[i - 1];
    const auto& b = calls[i];
    EXPECT_TRUE(a.arrived_ms > b.arrived_ms || (a.arrived_ms == b.arrived_ms && a.id > b.id))
        << a.id << " before " << b.id;
  }
}

std::set<std::string> ids(const std::vector<CallRecord>& calls) {
  std::set<std::string> out;
  for (const auto& c : calls) out.insert(c.id);
  return out;
}

TEST_P(RecordsTest, RoundTripOfEveryKind) {
  auto s = make_store();
  const auto call = make_call(t1, 7);
  const auto leg0 = make_leg(t1, 7, 0), leg1 = make_leg(t1, 7, 1);
  const auto rec = make_recording(t1, 7);
  const auto ev = make_event(t1, 7);
  s->put_call(call);
  s->put_leg(leg1);
  s->put_leg(leg0);
  s->put_recording(rec);
  s->put_event(ev);
  s->flush();

  auto got = s->call(t1, "c7");
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(*got, call);
  EXPECT_EQ(s->legs(t1, "c7"), (std::vector<CallLeg>{leg0, leg1}));  // by leg_no
  EXPECT_EQ(s->recordings_for(t1, "c7"), std::vector<RecordingInfo>{rec});
  auto r = s->recording(t1, "r7");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, rec);
  auto evs = s->events(t1, {});
  ASSERT_TRUE(evs.ok());
  EXPECT_EQ(evs->items, std::vector<EventRecord>{ev});
  EXPECT_FALSE(evs->next_cursor);
  auto st = s->stats();
  EXPECT_EQ(st.committed, 5u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_GE(st.batches, 1u);
}

TEST_P(RecordsTest, UnicodeAndEmptyTextSurvive) {
  auto s = make_store();
  auto c = make_call(t1, 1);
  c.caller_name = "Zoë 王小明 🚀";
  c.ivr_path = "";
  c.end_reason = "it's \"quoted\"";
  s->put_call(c);
  s->flush();
  EXPECT_EQ(*s->call(t1, "c1"), c);
}

TEST_P(RecordsTest, UpsertsReplaceAndEventsAppend) {
  auto s = make_store();
  auto c = make_call(t1, 1);
  c.disposition = "";
  c.answered_ms = 0;
  s->put_call(c);
  s->put_leg(make_leg(t1, 1, 1));
  s->put_recording(make_recording(t1, 1));
  s->put_event(make_event(t1, 1));
  s->flush();
  c.disposition = "answered";
  c.answered_ms = c.arrived_ms + 5;
  c.offers = 3;
  auto leg = make_leg(t1, 1, 1);
  leg.sip_status = 486;
  leg.end_reason = "busy";
  auto rec = make_recording(t1, 1);
  rec.bytes = 1;
  s->put_call(c);
  s->put_leg(leg);
  s->put_recording(rec);
  s->put_event(make_event(t1, 1));
  s->flush();
  EXPECT_EQ(count("calls"), 1);
  EXPECT_EQ(*s->call(t1, "c1"), c);
  EXPECT_EQ(s->legs(t1, "c1"), std::vector<CallLeg>{leg});
  EXPECT_EQ(*s->recording(t1, "r1"), rec);
  EXPECT_EQ(count("routing_events"), 2);
}

TEST_P(RecordsTest, LaterWriteInOneBatchWins) {
  auto s = make_store({.max_batch = 1000, .max_delay = std::chrono::hours(1), .keks = {}});
  for (int k = 0; k < 5; ++k) {
    auto c = make_call(t1, 1);
    c.offers = k;
    s->put_call(c);
  }
  s->flush();
  EXPECT_EQ(s->call(t1, "c1")->offers, 4);
  EXPECT_EQ(s->stats().batches, 1u);
}

TEST_P(RecordsTest, PagingCoversEveryCallExactlyOnceNewestFirst) {
  auto s = make_store();
  constexpr int kCalls = 137;
  for (int n = 0; n < kCalls; ++n) s->put_call(make_call(t1, n));
  s->flush();
  for (int limit : {1, 10, 50, 136, 137, 1000}) {
    CallFilter f;
    f.limit = limit;
    auto got = all_calls(*s, t1, f);
    EXPECT_EQ(got.size(), static_cast<std::size_t>(kCalls)) << "limit " << limit;
    EXPECT_EQ(ids(got).size(), static_cast<std::size_t>(kCalls)) << "limit " << limit;
    expect_newest_first(got);
  }
  CallFilter exact;
  exact.limit = kCalls;
  EXPECT_FALSE(s->calls(t1, exact)->next_cursor) << "a full last page has no cursor";
}

TEST_P(RecordsTest, EventAndVoicemailPagingCoverEveryRowOnce) {
  auto s = make_store();
  for (int n = 0; n < 95; ++n) s->put_event(make_event(t1, n));
  for (int n = 0; n < 33; ++n) s->put_recording(make_recording(t1, n, n % 3 == 0 ? "call" : "voicemail"));
  s->flush();
  std::set<std::int64_t> seqs;
  EventFilter ef;
  ef.limit = 7;
  std::int64_t last_time = INT64_MAX;
  for (;;) {
    auto page = s->events(t1, ef);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& e : page->items) {
      EXPECT_TRUE(seqs.insert(e.seq).second) << "seq " << e.seq << " twice";
      EXPECT_LE(e.time_ms, last_time);
      last_time = e.time_ms;
    }
    if (!page->next_cursor) break;
    ef.cursor = *page->next_cursor;
  }
  EXPECT_EQ(seqs.size(), 95u);

  std::set<std::string> vm;
  std::string cursor;
  for (;;) {
    auto page = s->voicemails(t1, "", cursor, 4);
    ASSERT_TRUE(page.ok());
    for (const auto& r : page->items) {
      EXPECT_EQ(r.kind, "voicemail");
      EXPECT_TRUE(vm.insert(r.id).second);
    }
    if (!page->next_cursor) break;
    cursor = *page->next_cursor;
  }
  EXPECT_EQ(vm.size(), 22u);
  auto sales = s->voicemails(t1, "sales", "", 1000);
  ASSERT_TRUE(sales.ok());
  for (const auto& r : sales->items) EXPECT_EQ(r.queue, "sales");
  EXPECT_EQ(sales->items.size(), 11u);
}

TEST_P(RecordsTest, CallFilters) {
  auto s = make_store();
  for (int n = 0; n < 60; ++n) s->put_call(make_call(t1, n));
  s->flush();
  auto check = [&](CallFilter f, auto pred, std::size_t expected) {
    f.limit = 7;
    auto got = all_calls(*s, t1, f);
    EXPECT_EQ(got.size(), expected);
    for (const auto& c : got) EXPECT_TRUE(pred(c)) << c.id;
    expect_newest_first(got);
  };
  check(
      {.queue = "sales"}, [](const CallRecord& c) { return c.queue == "sales"; }, 30);
  check(
      {.agent_id = 2}, [](const CallRecord& c) { return c.agent_id == 2; }, 20);
  check(
      {.disposition = "abandoned"}, [](const CallRecord& c) { return c.disposition == "abandoned"; }, 20);
  check(
      {.caller = "+49301000042"}, [](const CallRecord& c) { return c.id == "c42"; }, 1);
  // arrived_ms = kT0 + 1000 * (n / 2): [kT0 + 10 s, kT0 + 20 s) holds n = 20..39.
  check(
      {.from_ms = kT0 + 10'000, .to_ms = kT0 + 20'000},
      [](const CallRecord& c) { return c.arrived_ms >= kT0 + 10'000 && c.arrived_ms < kT0 + 20'000; }, 20);
  check(
      {.from_ms = kT0 + 10'000, .to_ms = kT0 + 20'000, .queue = "support", .disposition = "answered"},
      [](const CallRecord& c) { return c.queue == "support" && c.disposition == "answered"; },
      6);  // odd n in 20..39 not divisible by 3: 23 25 29 31 35 37
}

TEST_P(RecordsTest, EventFilters) {
  auto s = make_store();
  for (int n = 0; n < 84; ++n) s->put_event(make_event(t1, n));
  s->flush();
  auto all = [&](EventFilter f) {
    std::vector<EventRecord> out;
    f.limit = 5;
    for (;;) {
      auto page = s->events(t1, f);
      EXPECT_TRUE(page.ok());
      if (!page) return out;
      out.insert(out.end(), page->items.begin(), page->items.end());
      if (!page->next_cursor) return out;
      f.cursor = *page->next_cursor;
    }
  };
  EXPECT_EQ(all({.type = "offered"}).size(), 42u);
  EXPECT_EQ(all({.agent_id = 3}).size(), 21u);
  EXPECT_EQ(all({.call_id = "c0"}).size(), 12u);
  // time_ms = kT0 + 10 * (n / 3): [kT0 + 100, kT0 + 200) holds n = 30..59.
  auto window = all({.from_ms = kT0 + 100, .to_ms = kT0 + 200});
  EXPECT_EQ(window.size(), 30u);
  for (const auto& e : window) EXPECT_TRUE(e.seq >= 30 && e.seq < 60) << e.seq;
  EXPECT_EQ(all({.agent_id = 1, .type = "offered"}).size(), 21u);
}

TEST_P(RecordsTest, BadFiltersAreRejectedNamingTheField) {
  auto s = make_store();
  s->put_call(make_call(t1, 1));
  s->flush();
  auto field_of = [&](CallFilter f) {
    auto r = s->calls(t1, f);
    return r ? std::string("ok") : r.error().code + ":" + r.error().field;
  };
  EXPECT_EQ(field_of({.limit = 0}), "invalid_argument:limit");
  EXPECT_EQ(field_of({.limit = 1001}), "invalid_argument:limit");
  EXPECT_EQ(field_of({.from_ms = -1}), "invalid_argument:from");
  EXPECT_EQ(field_of({.from_ms = 10, .to_ms = 10}), "invalid_argument:to");
  EXPECT_EQ(field_of({.agent_id = -3}), "invalid_argument:agent_id");
  EXPECT_EQ(field_of({.queue = std::string(129, 'q')}), "invalid_argument:queue");
  EXPECT_EQ(field_of({.caller = "a\x01"}), "invalid_argument:caller");
  EXPECT_EQ(field_of({.disposition = "\xff"}), "invalid_argument:disposition");
  for (const std::string& bad :
       std::vector<std::string>{"x", ":c1", "12", "12:", "12:c 1", "1a:c1", "99999999999999999999:c1",
                                "1:" + std::string(33, 'a')}) {
    EXPECT_EQ(field_of({.cursor = bad}), "invalid_argument:cursor") << bad;
  }
  auto ev = s->events(t1, {.cursor = "5:abc"});
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.error().field, "cursor");
  EXPECT_EQ(s->events(t1, {.call_id = "no spaces"}).error().field, "call_id");
  EXPECT_EQ(s->events(t1, {.limit = 0}).error().field, "limit");
  EXPECT_EQ(s->voicemails(t1, "", "", 0).error().field, "limit");
  EXPECT_EQ(s->voicemails(t1, "", "nope", 10).error().field, "cursor");
  EXPECT_EQ(field_of({}), "ok");
}

TEST_P(RecordsTest, AnotherTenantsRowsAreNeverVisible) {
  auto s = make_store();
  s->put_call(make_call(t2, 1));
  s->put_leg(make_leg(t2, 1, 0));
  s->put_recording(make_recording(t2, 1));
  s->put_recording(make_recording(t2, 2, "voicemail"));
  s->put_event(make_event(t2, 1));
  // The same call id in the other tenant is a different row.
  auto mine = make_call(t1, 3);
  s->put_call(mine);
  s->flush();
  EXPECT_EQ(s->call(t1, "c1").error().code, "not_found");
  EXPECT_TRUE(s->legs(t1, "c1").empty());
  EXPECT_TRUE(s->recordings_for(t1, "c1").empty());
  EXPECT_EQ(s->recording(t1, "r1").error().code, "not_found");
  EXPECT_TRUE(s->voicemails(t1, "", "", 100)->items.empty());
  EXPECT_TRUE(s->events(t1, {})->items.empty());
  auto list = s->calls(t1, {});
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(list->items[0].id, "c3");
  EXPECT_EQ(s->set_wrapup(t1, "c1", "sale", "", iam::Actor::system()).error().code, "not_found");
  EXPECT_EQ(s->call(t2, "c1")->wrapup_code, "");
  EXPECT_EQ(s->listen(t1, "r1", iam::Actor::system()).error().code, "not_found");
  EXPECT_EQ(audits("recording.listen") + audits("call.wrapup"), 0);

  auto other = make_call(t2, 3);
  s->put_call(other);
  s->flush();
  EXPECT_EQ(*s->call(t1, "c3"), mine);
  EXPECT_EQ(*s->call(t2, "c3"), other);
}

TEST_P(RecordsTest, WrapupIsValidatedAndAuditedWithTheChange) {
  auto s = make_store();
  s->put_call(make_call(t1, 1));  // not flushed: set_wrapup flushes first
  const auto actor = iam::Actor{t1, 42, "user:42:ann", "10.0.0.1", {}};
  const std::string notes = "called back\nwants a quote\t(urgent) — ünïcödé";
  ASSERT_TRUE(s->set_wrapup(t1, "c1", "sale", notes, actor).ok());
  auto c = s->call(t1, "c1");
  EXPECT_EQ(c->wrapup_code, "sale");
  EXPECT_EQ(c->notes, notes);
  auto a =
      db->exec("SELECT actor, source, target, details, tenant_id FROM audit_log WHERE action = 'call.wrapup'")
          .rows;
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].text(0), "user:42:ann");
  EXPECT_EQ(a[0].text(1), "10.0.0.1");
  EXPECT_EQ(a[0].text(2), "call:c1");
  EXPECT_EQ(a[0].integer(4), t1);
  auto details = nlohmann::json::parse(a[0].text(3));
  EXPECT_EQ(details["after"]["code"], "sale");
  EXPECT_EQ(details["after"]["notes_chars"], 44);
  EXPECT_EQ(details["before"]["code"], "");
  EXPECT_EQ(a[0].text(3).find("quote"), std::string::npos) << "notes text stays out of the audit chain";

  // Bad input: a clear error, nothing changed, nothing audited.
  auto field = [&](const std::string& id, const std::string& code, const std::string& n) {
    auto r = s->set_wrapup(t1, id, code, n, actor);
    return r ? std::string("ok") : r.error().field;
  };
  EXPECT_EQ(field("c1", std::string(65, 'x'), ""), "code");
  EXPECT_EQ(field("c1", "a\nb", ""), "code");
  EXPECT_EQ(field("c1", "ok", std::string(4001, 'n')), "notes");
  EXPECT_EQ(field("c1", "ok", "bell\x07"), "notes");
  EXPECT_EQ(field("c1", "ok", "\xc3"), "notes");
  EXPECT_EQ(field("bad id", "ok", ""), "id");
  EXPECT_EQ(s->set_wrapup(t1, "c999", "ok", "", actor).error().code, "not_found");
  EXPECT_EQ(s->call(t1, "c1")->notes, notes);
  EXPECT_EQ(audits("call.wrapup"), 1);

  // 4000 characters of 2-byte UTF-8 (8000 bytes) are fine.
  std::string long_notes;
  for (int i = 0; i < 4000; ++i) long_notes += "é";
  EXPECT_EQ(field("c1", "", long_notes), "ok");
  EXPECT_EQ(audits("call.wrapup"), 2);
  EXPECT_FALSE(directory->verify_audit().broken);
}

TEST_P(RecordsTest, LaterCallSnapshotKeepsTheAgentsWrapup) {
  auto s = make_store();
  s->put_call(make_call(t1, 1));
  ASSERT_TRUE(s->set_wrapup(t1, "c1", "sale", "notes", iam::Actor::system()).ok());
  auto c = make_call(t1, 1);
  c.wrapup_ended_ms = c.ended_ms + 3000;
  s->put_call(c);
  s->flush();
  auto got = s->call(t1, "c1");
  EXPECT_EQ(got->wrapup_ended_ms, c.wrapup_ended_ms);
  EXPECT_EQ(got->wrapup_code, "sale");
  EXPECT_EQ(got->notes, "notes");
  c.wrapup_code = "callback";
  s->put_call(c);
  s->flush();
  EXPECT_EQ(s->call(t1, "c1")->wrapup_code, "callback");
}

TEST_P(RecordsTest, FailedBatchIsRetriedRecordByRecordAndLosesNothingElse) {
  auto s = make_store({.max_batch = 1000, .max_delay = std::chrono::hours(1), .keks = {}});
  for (int n = 0; n < 10; ++n) {
    auto c = make_call(t1, n);
    if (n == 4) c.caller = std::string("nul\0inside", 10);  // the store refuses NUL in text
    if (n == 7) c.tenant_id = 999'999;                      // no such tenant: foreign key
    s->put_call(c);
  }
  s->put_event(make_event(t1, 1));
  s->flush();
  auto st = s->stats();
  EXPECT_EQ(st.committed, 9u);
  EXPECT_EQ(st.failed, 2u);
  EXPECT_EQ(st.batches, 0u) << "the failed batch is not counted as committed";
  EXPECT_EQ(count("calls"), 8);
  EXPECT_EQ(count("routing_events"), 1);
  EXPECT_EQ(s->call(t1, "c4").error().code, "not_found");
  EXPECT_TRUE(s->call(t1, "c5").ok());
  // The writer carries on.
  s->put_call(make_call(t1, 50));
  s->flush();
  EXPECT_TRUE(s->call(t1, "c50").ok());
  EXPECT_EQ(s->stats().batches, 1u);
}

TEST_P(RecordsTest, MalformedRecordsAreRejectedAtPut) {
  auto s = make_store();
  auto c = make_call(t1, 1);
  c.id = "has space";
  s->put_call(c);
  c = make_call(0, 2);
  s->put_call(c);
  auto l = make_leg(t1, 1, 0);
  l.call_id = "";
  s->put_leg(l);
  l = make_leg(t1, 1, -1);
  s->put_leg(l);
  auto r = make_recording(t1, 1);
  r.id = std::string(33, 'r');
  s->put_recording(r);
  auto e = make_event(t1, 1);
  e.type = "";
  s->put_event(e);
  s->flush();
  EXPECT_EQ(s->stats().failed, 6u);
  EXPECT_EQ(s->stats().committed, 0u);
  EXPECT_EQ(count("calls") + count("call_legs") + count("recordings") + count("routing_events"), 0);
}

TEST_P(RecordsTest, GroupCommitFromSeveralThreads) {
  // With an hour of max_delay the writer commits only full batches and on
  // flush, so the batch count is bounded exactly, independent of timing.
  constexpr int kThreads = 4, kPerThread = 250, kBatch = 100;
  auto s = make_store({.max_batch = kBatch, .max_delay = std::chrono::hours(1), .keks = {}});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        if (i % 2 == 0) {
          s->put_call(make_call(t1, n));
        } else {
          s->put_event(make_event(t1, n));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  s->flush();
  const auto st = s->stats();
  constexpr std::uint64_t kRecords = kThreads * kPerThread;
  EXPECT_EQ(st.committed, kRecords);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_LE(st.batches, kRecords / kBatch + 1);
  EXPECT_LT(st.batches, st.committed);
  EXPECT_EQ(count("calls"), kRecords / 2);
  EXPECT_EQ(count("routing_events"), kRecords / 2);
}

TEST_P(RecordsTest, ConcurrentFlushersEachSeeTheirOwnWrites) {
  auto s = make_store();
  std::vector<std::thread> threads;
  std::atomic<int> missing{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const int n = t * 100 + i;
        s->put_call(make_call(t1, n));
        s->flush();
        if (!s->call(t1, "c" + std::to_string(n)).ok()) ++missing;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(missing.load(), 0);
  EXPECT_EQ(count("calls"), 80);
}

TEST_P(RecordsTest, MaxDelayCommitsWithoutAFlush) {
  auto s = make_store({.max_batch = 1000, .max_delay = 1ms, .keks = {}});
  s->put_call(make_call(t1, 1));
  // Waits for the writer's own deadline; the bound only catches a hang.
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (s->stats().committed == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(s->stats().committed, 1u);
  EXPECT_TRUE(s->call(t1, "c1").ok());
}

TEST_P(RecordsTest, DestructorCommitsWhatIsQueued) {
  {
    auto s = make_store({.max_batch = 1000, .max_delay = std::chrono::hours(1), .keks = {}});
    for (int n = 0; n < 25; ++n) s->put_call(make_call(t1, n));
  }
  EXPECT_EQ(count("calls"), 25);
  auto s = make_store();
  s->flush();  // nothing queued: returns at once
  EXPECT_EQ(s->stats().batches, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, RecordsTest,
                         ::testing::Values(store::Backend::Sqlite, store::Backend::Postgres), backend_name);

}  // namespace
}  // namespace hotline::records::test
