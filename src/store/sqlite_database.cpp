// SQLite backend: WAL + synchronous=FULL, a small connection pool, one
// in-process writer lock, and a prepared-statement cache per connection.
//
// Why an in-process writer lock on top of BEGIN IMMEDIATE: SQLite's busy
// handler polls with growing sleeps, so threads of one process contending
// for the write lock waste time and can starve past busy_timeout. Threads
// queue on a mutex instead; the busy handler then only covers other
// processes sharing the file.
#include <sqlite3.h>

#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "store/internal.h"

namespace hotline::store::detail {
namespace {

constexpr std::size_t kStatementCacheSize = 128;

std::string excerpt(std::string_view sql) {
  std::string s(sql.substr(0, 160));
  if (sql.size() > 160) s += "...";
  return s;
}

StoreError::Kind kind_for(int rc) {
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
      return StoreError::Kind::Unique;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return StoreError::Kind::ForeignKey;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
      return StoreError::Kind::Check;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StoreError::Kind::Busy;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return StoreError::Kind::Connection;
    default:
      return StoreError::Kind::Other;
  }
}

StoreError sqlite_error(sqlite3* db, int rc, std::string_view sql) {
  std::string msg = "sqlite: ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  msg += " (code " + std::to_string(rc) + ")";
  if (!sql.empty()) msg += " in: " + excerpt(sql);
  return StoreError(kind_for(rc), msg);
}

struct Conn {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache;

  ~Conn() {
    clear_cache();
    sqlite3_close_v2(db);
  }
  void clear_cache() {
    for (auto& [sql, st] : cache) sqlite3_finalize(st);
    cache.clear();
  }

  // Runs SQL without parameters, possibly several statements (migrations,
  // BEGIN/COMMIT).
  void exec_script(std::string_view sql) {
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw StoreError(kind_for(sqlite3_extended_errcode(db)),
                       "sqlite: " + msg + " (code " + std::to_string(sqlite3_extended_errcode(db)) +
                           ") in: " + excerpt(sql));
    }
  }

  sqlite3_stmt* prepare(std::string_view sql) {
    std::string key(sql);
    if (auto it = cache.find(key); it != cache.end()) return it->second;
    std::string rewritten = rewrite_placeholders(sql);
    sqlite3_stmt* st = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db, rewritten.data(), static_cast<int>(rewritten.size()),
                                SQLITE_PREPARE_PERSISTENT, &st, &tail);
    if (rc != SQLITE_OK) throw sqlite_error(db, rc, sql);
    if (st == nullptr) throw StoreError(StoreError::Kind::Other, "store: empty SQL statement");
    for (const char* p = tail; p && *p; ++p) {
      if (*p != ' ' && *p != '\n' && *p != '\t' && *p != '\r' && *p != ';') {
        sqlite3_finalize(st);
        throw StoreError(StoreError::Kind::Other,
                         "store: exec() runs exactly one statement (PostgreSQL rejects more with "
                         "parameters); got several in: " +
                             excerpt(sql));
      }
    }
    if (cache.size() >= kStatementCacheSize) clear_cache();
    cache.emplace(std::move(key), st);
    return st;
  }
};

// Resets a cached statement when a query finishes, even by exception, so the
// next user starts clean and read transactions do not stay open.
struct StmtReset {
  sqlite3_stmt* st;
  ~StmtReset() {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
  }
};

void bind(sqlite3* db, sqlite3_stmt* st, const std::vector<Value>& params, std::string_view sql) {
  int expected = sqlite3_bind_parameter_count(st);
  if (expected != static_cast<int>(params.size())) {
    throw StoreError(StoreError::Kind::Other, "store: statement takes " + std::to_string(expected) +
                                                  " parameters but " + std::to_string(params.size()) +
                                                  " were given: " + excerpt(sql));
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    int idx = static_cast<int>(i + 1);
    int rc = SQLITE_OK;
    const Value& v = params[i];
    switch (v.index()) {
      case 0:
        rc = sqlite3_bind_null(st, idx);
        break;
      case 1:
        rc = sqlite3_bind_int64(st, idx, std::get<std::int64_t>(v));
        break;
      case 2:
        rc = sqlite3_bind_double(st, idx, std::get<double>(v));
        break;
      case 3: {
        const auto& s = std::get<std::string>(v);
        rc = sqlite3_bind_text64(st, idx, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
        break;
      }
      default: {
        const auto& b = std::get<Blob>(v).bytes;
        // A null data pointer would bind NULL, so empty blobs use zeroblob.
        rc = b.empty() ? sqlite3_bind_zeroblob(st, idx, 0)
                       : sqlite3_bind_blob64(st, idx, b.data(), b.size(), SQLITE_STATIC);
        break;
      }
    }
    if (rc != SQLITE_OK) throw sqlite_error(db, rc, sql);
  }
}

Value column_value(sqlite3_stmt* st, int i) {
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      return static_cast<std::int64_t>(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
      return sqlite3_column_double(st, i);
    case SQLITE_TEXT: {
      auto p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
      int n = sqlite3_column_bytes(st, i);
      return std::string(p ? p : "", static_cast<std::size_t>(n));
    }
    case SQLITE_BLOB: {
      auto p = static_cast<const std::uint8_t*>(sqlite3_column_blob(st, i));
      int n = sqlite3_column_bytes(st, i);
      Blob b;
      if (p && n > 0) b.bytes.assign(p, p + n);
      return b;
    }
    default:
      return Null{};
  }
}

class SqliteDatabase;

class SqliteTx final : public Tx {
 public:
  SqliteTx(Conn& conn, bool read_only) : conn_(conn), read_only_(read_only) {}
  QueryResult exec(std::string_view sql, const std::vector<Value>& params) override;
  bool failed() const { return !failure_.empty(); }
  StoreError::Kind failure_kind() const { return failure_kind_; }
  const std::string& failure() const { return failure_; }
  void close() { closed_ = true; }

 private:
  Conn& conn_;
  bool read_only_;
  bool closed_ = false;
  std::string failure_;
  StoreError::Kind failure_kind_ = StoreError::Kind::Other;
};

// One statement on one connection. The caller holds whatever locks apply.
QueryResult run(Conn& c, std::string_view sql, const std::vector<Value>& params) {
  check_params(params);
  sqlite3_stmt* st = c.prepare(sql);
  StmtReset reset{st};
  bool readonly = sqlite3_stmt_readonly(st) != 0;
  bind(c.db, st, params, sql);
  QueryResult r;
  auto before = sqlite3_total_changes64(c.db);
  int rc = sqlite3_step(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) throw sqlite_error(c.db, rc, sql);
  // Column names only after the first step: a cached statement is re-prepared
  // there if the schema changed (`SELECT *` after ALTER TABLE).
  int ncol = sqlite3_column_count(st);
  r.columns.reserve(static_cast<std::size_t>(ncol));
  for (int i = 0; i < ncol; ++i) r.columns.emplace_back(sqlite3_column_name(st, i));
  for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
    std::vector<Value> cols;
    cols.reserve(static_cast<std::size_t>(ncol));
    for (int i = 0; i < ncol; ++i) cols.push_back(column_value(st, i));
    r.rows.emplace_back(std::move(cols));
  }
  if (rc != SQLITE_DONE) throw sqlite_error(c.db, rc, sql);
  // sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE even
  // after other statements, so only trust it when this statement changed rows.
  if (!readonly && sqlite3_total_changes64(c.db) != before) r.affected = sqlite3_changes64(c.db);
  return r;
}

QueryResult SqliteTx::exec(std::string_view sql, const std::vector<Value>& params) {
  if (closed_) throw StoreError(StoreError::Kind::Other, "store: Tx used after its transaction ended");
  if (failed()) {
    throw StoreError(failure_kind_,
                     "store: transaction already failed (" + failure_ + "); rethrow instead of continuing");
  }
  try {
    if (read_only_ && !sqlite3_stmt_readonly(conn_.prepare(sql))) {
      throw StoreError(StoreError::Kind::Other,
                       "store: read_transaction() cannot write: " + std::string(sql));
    }
    auto r = run(conn_, sql, params);
    if (sqlite3_get_autocommit(conn_.db)) {
      throw StoreError(StoreError::Kind::Other,
                       "store: a statement ended the transaction (COMMIT/ROLLBACK); transaction() commits "
                       "when the callback returns");
    }
    return r;
  } catch (const StoreError& e) {
    // PostgreSQL aborts the whole transaction on any error; SQLite only the
    // statement. Behave like PostgreSQL so code works the same on both.
    failure_ = e.what();
    failure_kind_ = e.kind();
    throw;
  }
}

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::string path, bool memory, const Options& options)
      : path_(std::move(path)),
        memory_(memory),
        options_(options),
        pool_(memory ? 1 : static_cast<std::size_t>(std::max(1, options.pool_size)), options.busy_timeout,
              [this] { return connect(); }) {
    if (!memory_) {
      std::filesystem::path parent = std::filesystem::path(path_).parent_path();
      std::error_code ec;
      if (!parent.empty()) std::filesystem::create_directories(parent, ec);
      if (ec) {
        throw StoreError(StoreError::Kind::Connection,
                         "store: cannot create directory '" + parent.string() + "': " + ec.message());
      }
    }
    pool_.adopt(connect());  // fail now, at open(), if the file is unusable
  }

  Backend backend() const override { return Backend::Sqlite; }

  QueryResult exec(std::string_view sql, const std::vector<Value>& params) override {
    TransactionScope::forbid_nested(this, "Database::exec()");
    std::optional<Pool<Conn>::Lease> conn(pool_.acquire());
    bool readonly = sqlite3_stmt_readonly((*conn)->prepare(sql)) != 0;
    std::unique_lock<std::timed_mutex> wl(write_mu_, std::defer_lock);
    if (!readonly && !wl.try_lock()) {
      // Wait for the writer lock without holding a connection, so queued
      // writers never starve readers of connections.
      conn.reset();
      wl = lock_writer();
      conn.emplace(pool_.acquire());
    }
    auto r = run(**conn, sql, params);
    if (!sqlite3_get_autocommit((*conn)->db)) {
      // A stray BEGIN would leave the pooled connection inside a transaction.
      sqlite3_exec((*conn)->db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw StoreError(StoreError::Kind::Other,
                       "store: exec() must not open a transaction; use transaction()");
    }
    return r;
  }

  void migrate(const std::vector<Migration>& migrations) override {
    validate_migrations(migrations);
    TransactionScope::forbid_nested(this, "migrate()");
    write_transaction([&](Conn& conn) {
      conn.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    });
    for (const auto& m : migrations) {
      // Re-read the version under the write lock: another process may have
      // applied this migration since we looked.
      write_transaction([&](Conn& conn) {
        auto cur = run(conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {});
        if (cur.rows.at(0).integer(0) >= m.version) return;
        try {
          if (!m.sqlite.empty()) conn.exec_script(m.sqlite);
          run(conn, "INSERT INTO schema_migrations(version, name, applied_at_ms) VALUES ($1, $2, $3)",
              {static_cast<std::int64_t>(m.version), m.name, now_ms()});
        } catch (const StoreError& e) {
          throw StoreError(e.kind(), "store: migration " + std::to_string(m.version) + " (" + m.name +
                                         ") failed: " + e.what());
        }
      });
    }
  }

  int schema_version() override {
    TransactionScope::forbid_nested(this, "schema_version()");
    auto conn = pool_.acquire();
    auto t = run(
        *conn, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", {});
    if (t.rows.at(0).integer(0) == 0) return 0;
    auto v = run(*conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {});
    return static_cast<int>(v.rows.at(0).integer(0));
  }

  bool ping() override {
    try {
      auto conn = pool_.acquire();
      auto r = run(*conn, "SELECT 1", {});
      return r.rows.size() == 1 && r.rows[0].integer(0) == 1;
    } catch (const std::exception&) {
      return false;
    }
  }

 protected:
  void run_transaction(const std::function<void(Tx&)>& fn) override {
    TransactionScope scope(this);
    write_transaction([&](Conn& conn) { run_callback(conn, false, fn); });
  }

  void run_read_transaction(const std::function<void(Tx&)>& fn) override {
    TransactionScope scope(this);
    auto conn = pool_.acquire();
    Conn& c = *conn;
    // Deferred BEGIN: the snapshot starts at the first read; no write lock.
    c.exec_script("BEGIN");
    try {
      run_callback(c, true, fn);
      c.exec_script("COMMIT");
    } catch (...) {
      if (!sqlite3_get_autocommit(c.db)) sqlite3_exec(c.db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

 private:
  static void run_callback(Conn& conn, bool read_only, const std::function<void(Tx&)>& fn) {
    SqliteTx tx(conn, read_only);
    try {
      fn(tx);
    } catch (...) {
      tx.close();
      throw;
    }
    tx.close();
    if (tx.failed()) {
      throw StoreError(tx.failure_kind(),
                       "store: transaction rolled back because a statement failed: " + tx.failure());
    }
  }

  std::unique_ptr<Conn> connect() {
    auto c = std::make_unique<Conn>();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    std::string name = memory_ ? ":memory:" : path_;
    int rc = sqlite3_open_v2(name.c_str(), &c->db, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc);
      throw StoreError(StoreError::Kind::Connection,
                       "store: cannot open sqlite database '" + name + "': " + msg);
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, static_cast<int>(options_.busy_timeout.count()));
    try {
      if (!memory_) {
        auto r = run(*c, "PRAGMA journal_mode=WAL", {});
        if (r.rows.empty() || r.rows[0].text(0) != "wal") {
          throw StoreError(StoreError::Kind::Connection,
                           "store: sqlite database '" + name + "' refused WAL journal mode");
        }
      }
      c->exec_script("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
    } catch (const StoreError& e) {
      throw StoreError(e.kind() == StoreError::Kind::Busy ? e.kind() : StoreError::Kind::Connection,
                       "store: cannot open sqlite database '" + name + "': " + e.what());
    }
    return c;
  }

  std::unique_lock<std::timed_mutex> lock_writer() {
    std::unique_lock<std::timed_mutex> wl(write_mu_, std::defer_lock);
    if (!wl.try_lock_for(options_.busy_timeout)) {
      throw StoreError(StoreError::Kind::Busy, "store: sqlite write lock not available within " +
                                                   std::to_string(options_.busy_timeout.count()) + " ms");
    }
    return wl;
  }

  // BEGIN IMMEDIATE ... COMMIT around `body(conn)`, rolled back if it throws.
  // Lock order everywhere: writer lock, then a pooled connection, so writers
  // queueing for the lock hold no connection that readers could use.
  template <class F>
  void write_transaction(F&& body) {
    auto wl = lock_writer();
    auto conn = pool_.acquire();
    Conn& c = *conn;
    c.exec_script("BEGIN IMMEDIATE");
    try {
      body(c);
      c.exec_script("COMMIT");
    } catch (...) {
      if (!sqlite3_get_autocommit(c.db)) sqlite3_exec(c.db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  std::string path_;
  bool memory_;
  Options options_;
  std::timed_mutex write_mu_;
  Pool<Conn> pool_;
};

}  // namespace

std::unique_ptr<Database> open_sqlite(const std::string& path, bool memory, const Options& options) {
  return std::make_unique<SqliteDatabase>(path, memory, options);
}

}  // namespace hotline::store::detail
