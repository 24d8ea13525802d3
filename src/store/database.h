// store/database.h — the one storage interface, two real backends.
//
// `Database::open(url)` picks the backend from the URL scheme:
//   sqlite://var/hotline.db          (embedded default; WAL, synchronous=FULL)
//   sqlite::memory:                  (tests only)
//   postgresql://user:pw@host:port/db  (also postgres://)
//
// SQL is written once for both backends with `$1..$N` placeholders; the SQLite
// backend rewrites them to `?1..?N`. Portable SQL only outside migrations:
// INTEGER/BIGINT ids with `RETURNING id`, TEXT, INTEGER milliseconds for time,
// 0/1 for booleans, no backend-specific functions.
//
//   auto db = store::Database::open("sqlite://var/hotline.db");
//   db->migrate(schema::migrations());
//   auto id = db->transaction([&](store::Tx& tx) {
//     auto r = tx.exec("INSERT INTO users(tenant_id, username) VALUES ($1, $2) RETURNING id",
//                      {tenant_id, std::string("alice")});
//     return r.rows.at(0).integer(0);
//   });
//
// Durability contract: when exec() (autocommit) or transaction() returns, the
// change is committed and survives a process kill (SQLite: WAL with
// synchronous=FULL; PostgreSQL: synchronous_commit as configured on the server).
//
// Errors: failures throw StoreError. Its `kind` distinguishes constraint
// violations (mapped to HTTP 409 by the API) from everything else.
//
// Thread-safety: Database is safe to use from many threads; it keeps a pool of
// connections and each exec()/transaction() holds one for its duration. A Tx is
// only valid inside the transaction() callback on the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace hotline::store {

struct Null {
  bool operator==(const Null&) const = default;
};
struct Blob {
  std::vector<std::uint8_t> bytes;
  bool operator==(const Blob&) const = default;
};

// One SQL value. Integers are 64-bit; text is UTF-8.
using Value = std::variant<Null, std::int64_t, double, std::string, Blob>;

class Row {
 public:
  Row() = default;
  explicit Row(std::vector<Value> cols) : cols_(std::move(cols)) {}
  std::size_t size() const { return cols_.size(); }
  bool is_null(std::size_t i) const;
  // Accessors throw StoreError(kind=Type) on a type mismatch. integer() also
  // accepts text holding a decimal number (PostgreSQL's text protocol).
  std::int64_t integer(std::size_t i) const;
  double real(std::size_t i) const;
  const std::string& text(std::size_t i) const;
  const Blob& blob(std::size_t i) const;
  std::optional<std::int64_t> opt_integer(std::size_t i) const;
  std::optional<std::string> opt_text(std::size_t i) const;
  const Value& at(std::size_t i) const { return cols_.at(i); }

 private:
  // at() with a StoreError(Type) instead of std::out_of_range.
  const Value& checked(std::size_t i) const;
  std::vector<Value> cols_;
};

struct QueryResult {
  std::vector<std::string> columns;
  std::vector<Row> rows;
  std::int64_t affected = 0;  // rows changed by INSERT/UPDATE/DELETE
};

enum class Backend { Sqlite, Postgres };

class StoreError : public std::runtime_error {
 public:
  enum class Kind {
    Unique,      // unique or primary-key violation
    ForeignKey,  // foreign-key violation
    Check,       // CHECK / NOT NULL violation
    Busy,        // lock timeout / serialization failure after retries
    Connection,  // cannot reach the server / open the file
    Type,        // Row accessor type mismatch
    Other
  };
  StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// A schema change, written once per backend where DDL differs.
struct Migration {
  int version;           // strictly increasing, starting at 1
  std::string name;      // short description, stored in schema_migrations
  std::string sqlite;    // may contain several statements separated by ';'
  std::string postgres;  // may contain several statements separated by ';'
};

// Statement executor valid inside Database::transaction().
class Tx {
 public:
  virtual ~Tx() = default;
  virtual QueryResult exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;
};

struct Options {
  int pool_size = 4;                             // connections kept open
  std::chrono::milliseconds busy_timeout{5000};  // SQLite busy handler / pool wait
};

class Database {
 public:
  virtual ~Database() = default;

  // Throws StoreError(Connection) if the URL is malformed or unreachable.
  static std::unique_ptr<Database> open(const std::string& url, const Options& options = {});

  virtual Backend backend() const = 0;

  // One statement in its own transaction (autocommit). Exactly one statement;
  // the number of params must equal the highest $N used.
  virtual QueryResult exec(std::string_view sql, const std::vector<Value>& params = {}) = 0;

  // Runs `fn(tx)` in one transaction: commits when fn returns, rolls back and
  // rethrows when it throws. Write transactions on SQLite start with BEGIN
  // IMMEDIATE so writers serialise instead of failing late.
  //
  // Also (docs/store.md): a failed tx.exec() aborts the whole transaction on
  // both backends — later tx.exec() calls throw and transaction() throws even
  // if fn swallowed the error, so catch StoreError outside transaction().
  // Calling transaction()/exec()/migrate() on the same Database inside fn
  // throws StoreError(Other) (no nesting). On PostgreSQL, fn is run again
  // (up to 4 attempts) after a deadlock or serialization failure, so keep it
  // free of side effects other than tx.exec().
  template <class F>
  auto transaction(F&& fn) -> std::invoke_result_t<F, Tx&> {
    using R = std::invoke_result_t<F, Tx&>;
    if constexpr (std::is_void_v<R>) {
      run_transaction([&](Tx& tx) { fn(tx); });
    } else {
      std::optional<R> out;
      run_transaction([&](Tx& tx) { out.emplace(fn(tx)); });
      return std::move(*out);
    }
  }

  // Like transaction(), for several reads that must see one consistent
  // snapshot. Never waits for writers: on SQLite it takes no write lock (WAL
  // readers run concurrently with the writer); on PostgreSQL it is BEGIN READ
  // ONLY. A statement that writes throws StoreError(Other). Same abort and
  // nesting rules as transaction().
  template <class F>
  auto read_transaction(F&& fn) -> std::invoke_result_t<F, Tx&> {
    using R = std::invoke_result_t<F, Tx&>;
    if constexpr (std::is_void_v<R>) {
      run_read_transaction([&](Tx& tx) { fn(tx); });
    } else {
      std::optional<R> out;
      run_read_transaction([&](Tx& tx) { out.emplace(fn(tx)); });
      return std::move(*out);
    }
  }

  // Applies every migration whose version is above the stored one, each in its
  // own transaction, recording it in `schema_migrations(version, name,
  // applied_at_ms)`. Safe to call at every start and from several processes
  // at once (PostgreSQL: advisory lock; SQLite: BEGIN IMMEDIATE).
  virtual void migrate(const std::vector<Migration>& migrations) = 0;

  // Highest applied migration version, 0 for an empty database.
  virtual int schema_version() = 0;

  // Cheap liveness check for /readyz: true when a connection answers.
  virtual bool ping() = 0;

 protected:
  virtual void run_transaction(const std::function<void(Tx&)>& fn) = 0;
  // Default for other implementations (fakes): a normal transaction.
  virtual void run_read_transaction(const std::function<void(Tx&)>& fn) { run_transaction(fn); }
};

}  // namespace hotline::store
