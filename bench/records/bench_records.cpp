// Records benchmarks: committed CDRs per second on SQLite with group commit
// against one transaction per record.
//
//   build/dev/bench/records/bench_records --benchmark_min_time=2
//
// SQLite file in /tmp (WAL, synchronous=FULL): every commit is one fsync.
#include <benchmark/benchmark.h>

#include <atomic>
#include <memory>

#include "records/records.h"
#include "schema/schema.h"
#include "store/database.h"
#include "support/temp_dir.h"

namespace {

using namespace hotline;

struct Env {
  testing::TempDir dir{"hotline-bench-records"};
  std::unique_ptr<store::Database> db;
  std::int64_t tenant = 0;
  Env() {
    db = store::Database::open("sqlite://" + dir.str() + "/records.db");
    db->migrate(schema::migrations());
    tenant =
        db->exec("INSERT INTO tenants (slug, name, active, created_ms) VALUES ('b', 'b', 1, 0) RETURNING id")
            .rows.at(0)
            .integer(0);
  }
};

Env& env() {
  static Env e;
  return e;
}

std::atomic<std::int64_t> next_id{1};

records::CallRecord make_call(std::int64_t tenant) {
  records::CallRecord c;
  const auto n = next_id.fetch_add(1);
  c.id = "b" + std::to_string(n);
  c.tenant_id = tenant;
  c.caller = "+4930" + std::to_string(1'000'000 + n % 1'000'000);
  c.queue = "sales";
  c.agent_id = 1 + n % 20;
  c.arrived_ms = 1'767'225'600'000 + n;
  c.answered_ms = c.arrived_ms + 4000;
  c.ended_ms = c.arrived_ms + 120'000;
  c.disposition = "answered";
  c.end_reason = "caller hangup";
  return c;
}

// The call layer's pattern: many puts, an occasional flush. One iteration =
// 1000 records queued and flushed; the writer commits them in batches.
void BM_GroupCommit(benchmark::State& state) {
  auto& e = env();
  common::SystemClock clock;
  records::Store s(*e.db, clock,
                   {.max_batch = static_cast<std::size_t>(state.range(0)), .max_delay = {}, .keks = {}});
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) s.put_call(make_call(e.tenant));
    s.flush();
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.counters["batches_per_1000"] =
      benchmark::Counter(static_cast<double>(s.stats().batches) / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_GroupCommit)->Arg(1000)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

// The baseline: every record its own transaction (max_batch = 1, flushed
// after each put), i.e. one fsync per record.
void BM_OneTransactionPerRecord(benchmark::State& state) {
  auto& e = env();
  common::SystemClock clock;
  records::Store s(*e.db, clock, {.max_batch = 1, .max_delay = {}, .keks = {}});
  for (auto _ : state) {
    s.put_call(make_call(e.tenant));
    s.flush();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OneTransactionPerRecord)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Several threads that each need their record durable before going on
// (put + flush): concurrent flushers share the writer's batches.
void BM_FlushEachRecordConcurrently(benchmark::State& state) {
  auto& e = env();
  common::SystemClock clock;
  static std::unique_ptr<records::Store> shared;
  if (state.thread_index() == 0) shared = std::make_unique<records::Store>(*e.db, clock);
  // Google Benchmark starts all threads' loops together after this point.
  for (auto _ : state) {
    shared->put_call(make_call(e.tenant));
    shared->flush();
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["batches"] = static_cast<double>(shared->stats().batches);
    state.counters["records"] = static_cast<double>(shared->stats().committed);
  }
}
BENCHMARK(BM_FlushEachRecordConcurrently)
    ->Threads(1)
    ->Threads(8)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
