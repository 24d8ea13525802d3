// store/internal.h — pieces shared by the two backends; not part of the API.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/database.h"

namespace hotline::store::detail {

// Rewrites `$N` placeholders to SQLite's `?N`, leaving `$` inside quoted
// literals, quoted identifiers and comments alone.
std::string rewrite_placeholders(std::string_view sql);

// Highest `$N` used outside quotes and comments (0 when none).
int max_placeholder(std::string_view sql);

// True when the statement only reads (starts with SELECT/WITH/VALUES after
// whitespace and comments is not enough for WITH ... INSERT, so WITH is not
// counted). Used to decide whether a statement may be re-sent after a broken
// connection: re-sending a write could apply it twice.
bool is_plain_select(std::string_view sql);

// `postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`, so
// error messages and logs never carry passwords.
std::string redact_url(std::string_view url);

// Replaces the URL's password wherever it appears in `message` (libpq echoes
// the whole URI in some parse errors).
std::string scrub_password(std::string message, std::string_view url);

// Throws StoreError(Other) unless versions are > 0 and strictly increasing.
void validate_migrations(const std::vector<Migration>& migrations);

// Throws StoreError(Other) if a text parameter holds a NUL byte: PostgreSQL
// cannot store it, so neither backend accepts it.
void check_params(const std::vector<Value>& params);

std::int64_t now_ms();

// Marks "this thread is inside db.transaction()" so that nested
// transaction() or db.exec() calls fail fast instead of deadlocking on the
// connection pool / writer lock.
class TransactionScope {
 public:
  explicit TransactionScope(const Database* db);
  ~TransactionScope();
  TransactionScope(const TransactionScope&) = delete;
  TransactionScope& operator=(const TransactionScope&) = delete;
  static bool active(const Database* db);
  // Throws StoreError(Other) naming `what` when called inside a transaction.
  static void forbid_nested(const Database* db, const char* what);

 private:
  const Database* db_;
};

// A small blocking pool. Connections are created lazily up to `max`; a lease
// returns its connection on destruction unless it was discarded (broken).
template <class Conn>
class Pool {
 public:
  using Factory = std::function<std::unique_ptr<Conn>()>;
  Pool(std::size_t max, std::chrono::milliseconds wait, Factory factory)
      : max_(max == 0 ? 1 : max), wait_(wait), factory_(std::move(factory)) {}

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Conn> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->release(std::move(conn_));
    }
    Conn& operator*() { return *conn_; }
    Conn* operator->() { return conn_.get(); }
    // Drops the connection (it is broken); the pool makes a new one later.
    void discard() {
      if (conn_) {
        conn_.reset();
        pool_->forget();
      }
    }

   private:
    Pool* pool_;
    std::unique_ptr<Conn> conn_;
  };

  Lease acquire() {
    std::unique_lock lock(mu_);
    bool ok = cv_.wait_for(lock, wait_, [&] { return !idle_.empty() || total_ < max_; });
    if (!ok) {
      throw StoreError(StoreError::Kind::Busy,
                       "store: no free database connection within " + std::to_string(wait_.count()) + " ms");
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
    ++total_;
    lock.unlock();
    try {
      return Lease(this, factory_());
    } catch (...) {
      forget();
      throw;
    }
  }

  // Closes every idle connection: after one turned out broken (server
  // restart), the others very likely are too.
  void drop_idle() {
    std::vector<std::unique_ptr<Conn>> dropped;
    {
      std::lock_guard lock(mu_);
      total_ -= idle_.size();
      dropped.swap(idle_);
      cv_.notify_all();
    }
  }

  // Puts an already-open connection into the pool (used to keep the probe
  // connection made by open()).
  void adopt(std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu_);
    ++total_;
    idle_.push_back(std::move(c));
    cv_.notify_one();
  }

 private:
  void release(std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(c));
    cv_.notify_one();
  }
  void forget() {
    std::lock_guard lock(mu_);
    --total_;
    cv_.notify_one();
  }

  std::size_t max_;
  std::chrono::milliseconds wait_;
  Factory factory_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  std::size_t total_ = 0;
};

std::unique_ptr<Database> open_sqlite(const std::string& path, bool memory, const Options& options);
std::unique_ptr<Database> open_postgres(const std::string& url, const Options& options);

}  // namespace hotline::store::detail
