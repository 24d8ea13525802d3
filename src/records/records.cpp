// The group-commit writer: put_* queue records, one thread commits them in
// batches, one transaction per batch.
#include "records/records.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "records/rows.h"

namespace hotline::records {

using detail::Item;
using SteadyClock = std::chrono::steady_clock;

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 32) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
  });
}

struct Store::Writer {
  Writer(store::Database& database, std::size_t batch, std::chrono::milliseconds delay)
      : db(database), max_batch(std::max<std::size_t>(batch, 1)), max_delay(delay) {
    thread = std::thread([this] { run(); });
  }

  struct Queued {
    Item item;
    SteadyClock::time_point at;
  };

  void push(Item item) {
    std::lock_guard lock(mu);
    queue.push_back({std::move(item), SteadyClock::now()});
    ++enqueued;
    // The writer waits either for a first record or for a full batch.
    if (queue.size() == 1 || queue.size() >= max_batch) wake.notify_one();
  }

  void reject(const std::string& why) {
    spdlog::error("records: dropping {}", why);
    std::lock_guard lock(mu);
    ++stats.failed;
  }

  void flush() {
    std::unique_lock lock(mu);
    const std::uint64_t target = enqueued;
    if (processed >= target) return;
    flush_target = std::max(flush_target, target);
    wake.notify_one();
    done.wait(lock, [&] { return processed >= target; });
  }

  void stop_and_join() {
    {
      std::lock_guard lock(mu);
      stop = true;
    }
    wake.notify_one();
    thread.join();
  }

  void run() {
    std::unique_lock lock(mu);
    for (;;) {
      wake.wait(lock, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stopping, and everything is written
      // Wait for company: a full batch, a flush, the stop, or the oldest
      // record's max_delay, whichever comes first.
      wake.wait_until(lock, queue.front().at + max_delay,
                      [&] { return stop || queue.size() >= max_batch || flush_target > processed; });
      std::vector<Item> batch;
      const std::size_t n = std::min(queue.size(), max_batch);
      batch.reserve(n);
      for (std::size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue.front().item));
        queue.pop_front();
      }
      lock.unlock();
      const auto [ok, failed, whole] = commit(batch);
      lock.lock();
      stats.committed += ok;
      stats.failed += failed;
      stats.batches += whole ? 1 : 0;
      processed += n;
      done.notify_all();
    }
  }

  struct Outcome {
    std::uint64_t committed = 0;
    std::uint64_t failed = 0;
    bool whole = false;  // committed as one transaction
  };

  // Runs without the lock, so put_* never wait for the disk.
  Outcome commit(const std::vector<Item>& batch) {
    try {
      db.transaction([&](store::Tx& tx) {
        for (const auto& item : batch) detail::write(tx, item);
      });
      return {batch.size(), 0, true};
    } catch (const std::exception& e) {
      spdlog::error("records: batch of {} failed ({}); retrying record by record", batch.size(), e.what());
    }
    Outcome out;
    for (const auto& item : batch) {
      try {
        db.transaction([&](store::Tx& tx) { detail::write(tx, item); });
        ++out.committed;
      } catch (const std::exception& e) {
        spdlog::error("records: dropping {}: {}", detail::describe(item), e.what());
        ++out.failed;
      }
    }
    return out;
  }

  store::Database& db;
  const std::size_t max_batch;
  const std::chrono::milliseconds max_delay;

  mutable std::mutex mu;
  std::condition_variable wake;  // the writer: records, flush, stop
  std::condition_variable done;  // flushers: a batch finished
  std::deque<Queued> queue;
  std::uint64_t enqueued = 0;      // records ever queued
  std::uint64_t processed = 0;     // of those, committed or failed (FIFO, so a prefix)
  std::uint64_t flush_target = 0;  // highest `enqueued` a flush() waits for
  bool stop = false;
  Stats stats;
  std::thread thread;  // last: started once everything above exists
};

Store::Store(store::Database& db, common::Clock& clock, StoreOptions options)
    : db_(db), clock_(clock), options_(std::move(options)) {
  writer_ = std::make_unique<Writer>(db_, options_.max_batch, options_.max_delay);
}

Store::~Store() { writer_->stop_and_join(); }

namespace {

std::string tenant_problem(std::int64_t tenant) {
  return tenant > 0 ? "" : "tenant_id " + std::to_string(tenant) + " is not positive";
}

}  // namespace

void Store::put_call(CallRecord call) {
  auto why = tenant_problem(call.tenant_id);
  if (why.empty() && !valid_id(call.id)) why = "malformed call id";
  if (!why.empty()) return writer_->reject(detail::describe(call) + ": " + why);
  writer_->push(std::move(call));
}

void Store::put_leg(CallLeg leg) {
  auto why = tenant_problem(leg.tenant_id);
  if (why.empty() && !valid_id(leg.call_id)) why = "malformed call id";
  if (why.empty() && leg.leg_no < 0) why = "negative leg_no";
  if (!why.empty()) return writer_->reject(detail::describe(leg) + ": " + why);
  writer_->push(std::move(leg));
}

void Store::put_recording(RecordingInfo rec) {
  auto why = tenant_problem(rec.tenant_id);
  if (why.empty() && !valid_id(rec.id)) why = "malformed recording id";
  if (why.empty() && !rec.call_id.empty() && !valid_id(rec.call_id)) why = "malformed call id";
  if (!why.empty()) return writer_->reject(detail::describe(rec) + ": " + why);
  writer_->push(std::move(rec));
}

void Store::put_event(EventRecord ev) {
  auto why = tenant_problem(ev.tenant_id);
  if (why.empty() && ev.type.empty()) why = "empty type";
  if (!why.empty()) return writer_->reject(detail::describe(ev) + ": " + why);
  writer_->push(std::move(ev));
}

void Store::flush() { writer_->flush(); }

Store::Stats Store::stats() const {
  std::lock_guard lock(writer_->mu);
  return writer_->stats;
}

}  // namespace hotline::records
