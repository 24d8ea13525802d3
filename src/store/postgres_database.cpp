// PostgreSQL backend over libpq: a pool of connections, text-format results
// converted by column type OID, SQLSTATE mapped to StoreError kinds.
//
// Reconnects: a connection that libpq reports broken is dropped when its
// lease ends and the pool opens a new one on demand. A statement that failed
// because the connection broke is re-sent only when that cannot apply it twice
// (plain SELECTs, and BEGIN of a transaction); writes surface the Connection
// error to the caller.
#include <libpq-fe.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>
#include <thread>
#include <unordered_map>

#include "store/internal.h"

namespace hotline::store::detail {
namespace {

// Type OIDs from pg_type.h (stable across releases).
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kOid = 26,
              kFloat4 = 700, kFloat8 = 701, kNumeric = 1700;
constexpr int kSerializationRetries = 4;
// pg_advisory_lock key guarding migrate(): "hotline" in ASCII.
constexpr const char* kMigrationLockKey = "29400711071344229";

std::string excerpt(std::string_view sql) {
  std::string s(sql.substr(0, 160));
  if (sql.size() > 160) s += "...";
  return s;
}

// Serialisation failures and deadlocks: the transaction may succeed if run
// again. Thrown as kind Busy so callers that do not retry see Busy.
class RetryableError : public StoreError {
 public:
  using StoreError::StoreError;
};

constexpr std::size_t kStatementCacheSize = 128;

struct Conn {
  PGconn* pg = nullptr;
  // Server-side prepared statements by SQL text + parameter types, so hot
  // queries skip parse and plan: one round trip per exec.
  std::unordered_map<std::string, std::string> prepared;
  std::uint64_t next_statement = 0;
  ~Conn() { PQfinish(pg); }
  bool broken() const { return PQstatus(pg) != CONNECTION_OK; }
};

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

StoreError::Kind kind_for(const std::string& state) {
  if (state == "23505") return StoreError::Kind::Unique;
  if (state == "23503") return StoreError::Kind::ForeignKey;
  if (state == "23502" || state == "23514") return StoreError::Kind::Check;
  if (state == "40001" || state == "40P01" || state == "55P03") return StoreError::Kind::Busy;
  // Class 08 except 08P01 (protocol violation: e.g. wrong parameter count),
  // and the shutdown family of class 57P.
  if ((state.starts_with("08") && state != "08P01") || state == "57P01" || state == "57P02" ||
      state == "57P03") {
    return StoreError::Kind::Connection;
  }
  return StoreError::Kind::Other;
}

[[noreturn]] void throw_result_error(Conn& c, PGresult* res, std::string_view sql) {
  std::string state;
  std::string msg;
  if (res) {
    if (const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) state = s;
    msg = PQresultErrorMessage(res);
  }
  if (msg.empty()) msg = PQerrorMessage(c.pg);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  StoreError::Kind kind = kind_for(state);
  if (c.broken()) kind = StoreError::Kind::Connection;
  std::string what = "postgres: " + msg;
  if (!state.empty()) what += " (SQLSTATE " + state + ")";
  if (!sql.empty()) what += " in: " + excerpt(sql);
  if (state == "40001" || state == "40P01") throw RetryableError(kind, what);
  throw StoreError(kind, what);
}

std::string format_double(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest exact round-trip form
  return std::string(buf, end);
}

double parse_double(const char* s, int len) {
  std::string_view v(s, static_cast<std::size_t>(len));
  if (v == "NaN") return std::nan("");
  if (v == "Infinity") return HUGE_VAL;
  if (v == "-Infinity") return -HUGE_VAL;
  double d = 0;
  auto [end, ec] = std::from_chars(s, s + len, d);
  if (ec != std::errc() || end != s + len) {
    throw StoreError(StoreError::Kind::Other, "postgres: cannot parse float '" + std::string(v) + "'");
  }
  return d;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Blob parse_bytea(const char* s, int len) {
  Blob b;
  if (len >= 2 && s[0] == '\\' && s[1] == 'x') {
    b.bytes.reserve(static_cast<std::size_t>(len - 2) / 2);
    for (int i = 2; i + 1 < len; i += 2) {
      int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
      if (hi < 0 || lo < 0) throw StoreError(StoreError::Kind::Other, "postgres: malformed bytea");
      b.bytes.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return b;
  }
  // bytea_output = escape (old servers/configs): let libpq decode it.
  std::size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(s), &n);
  if (!raw) throw StoreError(StoreError::Kind::Other, "postgres: malformed bytea");
  b.bytes.assign(raw, raw + n);
  PQfreemem(raw);
  return b;
}

Value convert(PGresult* res, int row, int col) {
  if (PQgetisnull(res, row, col)) return Null{};
  const char* s = PQgetvalue(res, row, col);
  int len = PQgetlength(res, row, col);
  switch (PQftype(res, col)) {
    case kInt8:
    case kInt4:
    case kInt2:
    case kOid: {
      std::int64_t v = 0;
      std::from_chars(s, s + len, v);
      return v;
    }
    case kBool:
      return std::int64_t{s[0] == 't' ? 1 : 0};
    case kFloat4:
    case kFloat8:
      return parse_double(s, len);
    case kNumeric: {
      // SUM(bigint) and friends are numeric; integral values stay integers,
      // as they do on SQLite.
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(s, s + len, v);
      if (ec == std::errc() && end == s + len) return v;
      return parse_double(s, len);
    }
    case kBytea:
      return parse_bytea(s, len);
    default:
      return std::string(s, static_cast<std::size_t>(len));
  }
}

QueryResult to_result(PGresult* res) {
  QueryResult r;
  int ncol = PQnfields(res);
  int nrow = PQntuples(res);
  r.columns.reserve(static_cast<std::size_t>(ncol));
  for (int c = 0; c < ncol; ++c) r.columns.emplace_back(PQfname(res, c));
  r.rows.reserve(static_cast<std::size_t>(nrow));
  for (int i = 0; i < nrow; ++i) {
    std::vector<Value> cols;
    cols.reserve(static_cast<std::size_t>(ncol));
    for (int c = 0; c < ncol; ++c) cols.push_back(convert(res, i, c));
    r.rows.emplace_back(std::move(cols));
  }
  const char* tuples = PQcmdTuples(res);
  if (tuples && *tuples) std::from_chars(tuples, tuples + std::strlen(tuples), r.affected);
  // PostgreSQL reports SELECT row counts in the command tag; the contract's
  // `affected` counts changed rows only.
  if (std::strncmp(PQcmdStatus(res), "SELECT", 6) == 0) r.affected = 0;
  return r;
}

// One statement with parameters (extended protocol: exactly one statement).
QueryResult run(Conn& c, std::string_view sql, const std::vector<Value>& params) {
  check_params(params);
  // PostgreSQL accepts extra (typed) parameters silently; SQLite does not.
  // Refuse both ways so a wrong argument list fails on either backend.
  if (max_placeholder(sql) != static_cast<int>(params.size())) {
    throw StoreError(StoreError::Kind::Other,
                     "store: statement takes " + std::to_string(max_placeholder(sql)) + " parameters but " +
                         std::to_string(params.size()) + " were given: " + excerpt(sql));
  }
  std::string query(sql);
  const int n = static_cast<int>(params.size());
  std::vector<Oid> types(params.size());
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size()), formats(params.size());
  std::vector<std::string> storage(params.size());
  static const char kEmpty[1] = {0};
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    switch (v.index()) {
      case 0:  // NULL: type left to the server (inferred from context)
        values[i] = nullptr;
        break;
      case 1:
        storage[i] = std::to_string(std::get<std::int64_t>(v));
        values[i] = storage[i].c_str();
        types[i] = kInt8;
        break;
      case 2:
        storage[i] = format_double(std::get<double>(v));
        values[i] = storage[i].c_str();
        types[i] = kFloat8;
        break;
      case 3:
        values[i] = std::get<std::string>(v).c_str();
        types[i] = kText;
        break;
      default: {
        const auto& b = std::get<Blob>(v).bytes;
        values[i] = b.empty() ? kEmpty : reinterpret_cast<const char*>(b.data());
        lengths[i] = static_cast<int>(b.size());
        formats[i] = 1;  // binary: raw bytes, no escaping
        types[i] = kBytea;
        break;
      }
    }
  }
  std::string key = query;
  key.push_back('\0');
  for (Oid t : types) key += std::to_string(t) + ",";
  for (int attempt = 0;; ++attempt) {
    auto it = c.prepared.find(key);
    if (it == c.prepared.end()) {
      if (c.prepared.size() >= kStatementCacheSize) {
        // Prepared statements are not transactional: safe inside a transaction.
        PQclear(PQexec(c.pg, "DEALLOCATE ALL"));
        c.prepared.clear();
      }
      std::string name = "hotline_" + std::to_string(++c.next_statement);
      ResultPtr prep(PQprepare(c.pg, name.c_str(), query.c_str(), n, types.data()), &PQclear);
      if (!prep || PQresultStatus(prep.get()) != PGRES_COMMAND_OK) throw_result_error(c, prep.get(), sql);
      it = c.prepared.emplace(key, std::move(name)).first;
    }
    ResultPtr res(
        PQexecPrepared(c.pg, it->second.c_str(), n, values.data(), lengths.data(), formats.data(), 0),
        &PQclear);
    auto st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return to_result(res.get());
    // A table used by a cached statement changed shape ("cached plan must not
    // change result type"): forget it, and outside a transaction prepare again.
    const char* state = res ? PQresultErrorField(res.get(), PG_DIAG_SQLSTATE) : nullptr;
    if (state && std::strcmp(state, "0A000") == 0 && !c.broken()) {
      PQclear(PQexec(c.pg, ("DEALLOCATE " + it->second).c_str()));
      c.prepared.erase(it);
      if (attempt == 0 && PQtransactionStatus(c.pg) == PQTRANS_IDLE) continue;
    }
    throw_result_error(c, res.get(), sql);
  }
}

// Several statements, no parameters (simple protocol): migrations, BEGIN...
void run_script(Conn& c, std::string_view sql) {
  std::string query(sql);
  ResultPtr res(PQexec(c.pg, query.c_str()), &PQclear);
  auto st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
    throw_result_error(c, res.get(), sql);
  }
}

void rollback_quietly(Conn& c) {
  if (c.broken()) return;
  PGresult* r = PQexec(c.pg, "ROLLBACK");
  PQclear(r);
}

class PgTx final : public Tx {
 public:
  explicit PgTx(Conn& c) : conn_(c) {}
  QueryResult exec(std::string_view sql, const std::vector<Value>& params) override {
    if (closed_) throw StoreError(StoreError::Kind::Other, "store: Tx used after its transaction ended");
    if (failed_) {
      throw StoreError(failure_kind_,
                       "store: transaction already failed (" + failure_ + "); rethrow instead of continuing");
    }
    try {
      auto r = run(conn_, sql, params);
      if (PQtransactionStatus(conn_.pg) == PQTRANS_IDLE) {
        throw StoreError(StoreError::Kind::Other,
                         "store: a statement ended the transaction (COMMIT/ROLLBACK); transaction() commits "
                         "when the callback returns");
      }
      return r;
    } catch (const RetryableError& e) {
      record(e);
      throw;
    } catch (const StoreError& e) {
      record(e);
      throw;
    }
  }
  void close() { closed_ = true; }
  bool failed() const { return failed_; }
  bool retryable() const { return retryable_; }
  StoreError::Kind failure_kind() const { return failure_kind_; }
  const std::string& failure() const { return failure_; }

 private:
  void record(const StoreError& e) {
    failed_ = true;
    retryable_ = dynamic_cast<const RetryableError*>(&e) != nullptr;
    failure_kind_ = e.kind();
    failure_ = e.what();
  }
  Conn& conn_;
  bool closed_ = false;
  bool failed_ = false;
  bool retryable_ = false;
  StoreError::Kind failure_kind_ = StoreError::Kind::Other;
  std::string failure_;
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::string url, const Options& options)
      : url_(std::move(url)),
        options_(options),
        pool_(static_cast<std::size_t>(std::max(1, options.pool_size)), options.busy_timeout,
              [this] { return connect(); }) {
    pool_.adopt(connect());  // unreachable server: fail at open()
  }

  Backend backend() const override { return Backend::Postgres; }

  QueryResult exec(std::string_view sql, const std::vector<Value>& params) override {
    TransactionScope::forbid_nested(this, "Database::exec()");
    const bool resend_ok = is_plain_select(sql);
    for (int attempt = 0;; ++attempt) {
      auto conn = pool_.acquire();
      try {
        auto r = run(*conn, sql, params);
        if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE) {
          // A stray BEGIN would leave the pooled connection inside a transaction.
          rollback_quietly(*conn);
          throw StoreError(StoreError::Kind::Other,
                           "store: exec() must not open a transaction; use transaction()");
        }
        return r;
      } catch (const RetryableError&) {
        // Autocommit statement was rolled back entirely: safe to run again.
        if (attempt + 1 >= kSerializationRetries) throw;
        backoff(attempt);
      } catch (const StoreError& e) {
        if (conn->broken()) drop_broken(conn);
        if (e.kind() != StoreError::Kind::Connection || !resend_ok || attempt > 0) throw;
      }
    }
  }

  void migrate(const std::vector<Migration>& migrations) override {
    validate_migrations(migrations);
    TransactionScope::forbid_nested(this, "migrate()");
    auto conn = pool_.acquire();
    try {
      // Session-level lock: concurrent starters queue here, then find the
      // migrations applied and do nothing.
      run_script(*conn, std::string("SELECT pg_advisory_lock(") + kMigrationLockKey + ")");
      try {
        run_script(*conn,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
                   "NULL, applied_at_ms BIGINT NOT NULL)");
        auto cur =
            run(*conn, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {}).rows.at(0).integer(0);
        for (const auto& m : migrations) {
          if (m.version <= cur) continue;
          run_script(*conn, "BEGIN");
          try {
            if (!m.postgres.empty()) run_script(*conn, m.postgres);
            run(*conn, "INSERT INTO schema_migrations(version, name, applied_at_ms) VALUES ($1, $2, $3)",
                {static_cast<std::int64_t>(m.version), m.name, now_ms()});
            run_script(*conn, "COMMIT");
          } catch (const StoreError& e) {
            rollback_quietly(*conn);
            throw StoreError(e.kind(), "store: migration " + std::to_string(m.version) + " (" + m.name +
                                           ") failed: " + e.what());
          }
        }
      } catch (...) {
        unlock_migrations(*conn);
        throw;
      }
      unlock_migrations(*conn);
    } catch (...) {
      if (conn->broken()) drop_broken(conn);
      throw;
    }
  }

  int schema_version() override {
    auto t = exec("SELECT to_regclass('schema_migrations') IS NOT NULL", {});
    if (t.rows.at(0).integer(0) == 0) return 0;
    auto r = exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", {});
    return static_cast<int>(r.rows.at(0).integer(0));
  }

  bool ping() override {
    try {
      auto r = exec("SELECT 1", {});
      return r.rows.size() == 1 && r.rows[0].integer(0) == 1;
    } catch (const std::exception&) {
      return false;
    }
  }

 protected:
  void run_transaction(const std::function<void(Tx&)>& fn) override { transact(fn, "BEGIN"); }

  // READ ONLY: the server rejects writes (SQLSTATE 25006 -> Other).
  void run_read_transaction(const std::function<void(Tx&)>& fn) override { transact(fn, "BEGIN READ ONLY"); }

 private:
  void transact(const std::function<void(Tx&)>& fn, const char* begin) {
    TransactionScope scope(this);
    for (int attempt = 0;; ++attempt) {
      auto conn = pool_.acquire();
      try {
        run_script(*conn, begin);
      } catch (const StoreError& e) {
        // Nothing ran yet: a stale connection may be replaced and retried.
        bool broken = conn->broken();
        if (broken) drop_broken(conn);
        if (!broken || attempt > 0) throw;
        continue;
      }
      PgTx tx(*conn);
      try {
        fn(tx);
        tx.close();
        if (tx.failed()) {
          if (tx.retryable()) throw RetryableError(tx.failure_kind(), tx.failure());
          throw StoreError(tx.failure_kind(),
                           "store: transaction rolled back because a statement failed: " + tx.failure());
        }
        run_script(*conn, "COMMIT");
        return;
      } catch (const RetryableError&) {
        tx.close();
        rollback_quietly(*conn);
        if (attempt + 1 >= kSerializationRetries) throw;
        backoff(attempt);
      } catch (...) {
        tx.close();
        rollback_quietly(*conn);
        if (conn->broken()) drop_broken(conn);
        throw;
      }
    }
  }

  void drop_broken(Pool<Conn>::Lease& lease) {
    lease.discard();
    pool_.drop_idle();
  }

  std::unique_ptr<Conn> connect() {
    auto c = std::make_unique<Conn>();
    // A default connect_timeout so an unreachable host fails open() in
    // seconds, not after the OS TCP timeout; one in the URL wins (keywords
    // processed later override earlier ones, and the URL comes last).
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {"10", url_.c_str(), nullptr};
    c->pg = PQconnectdbParams(keys, values, 1);
    if (c->pg == nullptr || PQstatus(c->pg) != CONNECTION_OK) {
      std::string msg = c->pg ? PQerrorMessage(c->pg) : "out of memory";
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      throw StoreError(StoreError::Kind::Connection,
                       "store: cannot connect to " + redact_url(url_) + ": " + scrub_password(msg, url_));
    }
    // "relation already exists, skipping" and similar notices are not errors.
    PQsetNoticeProcessor(
        c->pg, [](void*, const char*) {}, nullptr);
    return c;
  }

  void unlock_migrations(Conn& c) {
    if (c.broken()) return;  // the server released the session lock
    rollback_quietly(c);
    PGresult* r = PQexec(c.pg, (std::string("SELECT pg_advisory_unlock(") + kMigrationLockKey + ")").c_str());
    PQclear(r);
  }

  static void backoff(int attempt) {
    // Jitter so that two transactions that deadlocked do not collide again.
    thread_local std::minstd_rand rng{std::random_device{}()};
    int ms = (5 << attempt) + static_cast<int>(rng() % 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }

  std::string url_;
  Options options_;
  Pool<Conn> pool_;
};

}  // namespace

std::unique_ptr<Database> open_postgres(const std::string& url, const Options& options) {
  char* err = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &err);
  if (parsed == nullptr) {
    std::string msg = err ? err : "out of memory";
    if (err) PQfreemem(err);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw StoreError(StoreError::Kind::Connection, "store: malformed postgresql:// URL '" + redact_url(url) +
                                                       "': " + scrub_password(msg, url));
  }
  PQconninfoFree(parsed);
  return std::make_unique<PostgresDatabase>(url, options);
}

}  // namespace hotline::store::detail
