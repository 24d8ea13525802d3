// The storage contract, checked against SQLite and a real PostgreSQL server.
#include <gtest/gtest.h>

#include <future>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>

#include "fixture.h"

namespace hotline::store::test {
namespace {

using Kind = StoreError::Kind;

// Runs `fn`, expecting a StoreError of `kind`; returns its message.
template <class F>
std::string expect_store_error_at(int line, Kind kind, F&& fn) {
  try {
    fn();
  } catch (const StoreError& e) {
    EXPECT_EQ(static_cast<int>(e.kind()), static_cast<int>(kind)) << e.what() << " at line " << line;
    return e.what();
  }
  ADD_FAILURE() << "expected StoreError kind " << static_cast<int>(kind) << " at line " << line;
  return {};
}

#define expect_store_error(...) expect_store_error_at(__LINE__, __VA_ARGS__)

std::int64_t count(Database& db, const std::string& table) {
  return db.exec("SELECT COUNT(*) FROM " + table).rows.at(0).integer(0);
}

TEST_P(StoreTest, ReportsItsBackend) {
  auto db = open();
  EXPECT_EQ(db->backend(), GetParam());
  EXPECT_TRUE(db->ping());
}

TEST_P(StoreTest, RoundTripsEveryValueType) {
  auto db = open();
  db->exec("CREATE TABLE v (" + id_column() + ", i BIGINT, r DOUBLE PRECISION, s TEXT, b " +
           ddl("BLOB", "BYTEA") + ")");
  const std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  const std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::vector<std::vector<Value>> rows = {
      {kMin, -1e300, std::string(""), Blob{}},
      {kMax, 1e-300, std::string("héllo wörld ✓ 日本語 🎉"), Blob{{0, 1, 0, 255, 0}}},
      {std::int64_t{0}, 3.141592653589793, std::string("it's $1 and ?1 'quoted'"), Blob{{0}}},
      {std::int64_t{-1}, 0.1, std::string(1000, 'x'), Blob{std::vector<std::uint8_t>(4096, 0)}},
      {Null{}, Null{}, Null{}, Null{}},
  };
  std::vector<std::int64_t> ids;
  for (const auto& r : rows) {
    auto res = db->exec("INSERT INTO v (i, r, s, b) VALUES ($1, $2, $3, $4) RETURNING id", r);
    ASSERT_EQ(res.rows.size(), 1u);
    ids.push_back(res.rows[0].integer(0));
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    auto res = db->exec("SELECT i, r, s, b FROM v WHERE id = $1", {ids[k]});
    ASSERT_EQ(res.rows.size(), 1u);
    ASSERT_EQ(res.columns, (std::vector<std::string>{"i", "r", "s", "b"}));
    for (std::size_t c = 0; c < 4; ++c) {
      EXPECT_EQ(res.rows[0].at(c), rows[k][c]) << "row " << k << " column " << c;
    }
  }
  // Empty string and empty blob are values, not NULL.
  auto empty = db->exec("SELECT s, b FROM v WHERE id = $1", {ids[0]}).rows.at(0);
  EXPECT_FALSE(empty.is_null(0));
  EXPECT_EQ(empty.text(0), "");
  EXPECT_TRUE(empty.blob(1).bytes.empty());
  EXPECT_EQ(empty.opt_text(0), std::optional<std::string>(""));
  auto nulls = db->exec("SELECT i, s FROM v WHERE id = $1", {ids[4]}).rows.at(0);
  EXPECT_TRUE(nulls.is_null(0));
  EXPECT_EQ(nulls.opt_integer(0), std::nullopt);
  EXPECT_EQ(nulls.opt_text(1), std::nullopt);
  // A NULL parameter matches nothing with `=`, and IS NULL finds the row.
  EXPECT_EQ(db->exec("SELECT id FROM v WHERE s IS NULL").rows.size(), 1u);
  EXPECT_EQ(db->exec("SELECT id FROM v WHERE s = $1", {std::string("héllo wörld ✓ 日本語 🎉")}).rows.size(),
            1u);
}

TEST_P(StoreTest, AccessorsCheckTypes) {
  auto db = open();
  auto row = db->exec("SELECT 42, 'text', 2.5").rows.at(0);
  EXPECT_EQ(row.integer(0), 42);
  EXPECT_EQ(row.real(0), 42.0);
  EXPECT_EQ(row.text(1), "text");
  EXPECT_EQ(row.real(2), 2.5);
  expect_store_error(Kind::Type, [&] { row.text(0); });
  expect_store_error(Kind::Type, [&] { row.integer(1); });
  expect_store_error(Kind::Type, [&] { row.blob(1); });
  expect_store_error(Kind::Type, [&] { row.integer(7); });
}

TEST_P(StoreTest, PlaceholdersUpToTwelveInAnyOrder) {
  auto db = open();
  std::string cols, params;
  std::vector<Value> values;
  for (int k = 1; k <= 12; ++k) {
    cols += (k > 1 ? ", c" : "c") + std::to_string(k);
    params += (k > 1 ? ", $" : "$") + std::to_string(k);
    values.emplace_back(std::int64_t{k * 100});
  }
  std::string typed;
  for (int k = 1; k <= 12; ++k) typed += (k > 1 ? ", c" : "c") + std::to_string(k) + " BIGINT";
  db->exec("CREATE TABLE p (" + typed + ")");
  EXPECT_EQ(db->exec("INSERT INTO p (" + cols + ") VALUES (" + params + ")", values).affected, 1);
  auto r = db->exec(
      "SELECT c12, c1, c10 FROM p WHERE c2 = $2 AND c1 = $1 AND c12 = $12 AND c10 = $10 AND "
      "c3 = $3 AND c4 = $4 AND c5 = $5 AND c6 = $6 AND c7 = $7 AND c8 = $8 AND c9 = $9 AND "
      "c11 = $11",
      values);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].integer(0), 1200);
  EXPECT_EQ(r.rows[0].integer(1), 100);
  EXPECT_EQ(r.rows[0].integer(2), 1000);
  // $2 before $1, and the same placeholder twice.
  auto s = db->exec("SELECT c1 FROM p WHERE c2 = $2 AND c1 = $1 AND c1 + $1 = 200",
                    {std::int64_t{100}, std::int64_t{200}});
  EXPECT_EQ(s.rows.size(), 1u);
  // `$1` inside a literal is text, not a placeholder.
  auto lit = db->exec("SELECT '$1 and $2', $1", {std::string("x")});
  EXPECT_EQ(lit.rows.at(0).text(0), "$1 and $2");
}

TEST_P(StoreTest, ReturningIdAndAffectedCounts) {
  auto db = open();
  db->exec("CREATE TABLE a (" + id_column() + ", name TEXT NOT NULL, n BIGINT NOT NULL DEFAULT 0)");
  std::set<std::int64_t> ids;
  for (int k = 0; k < 5; ++k) {
    auto r = db->exec("INSERT INTO a (name) VALUES ($1) RETURNING id", {"n" + std::to_string(k)});
    EXPECT_EQ(r.affected, 1);
    ASSERT_EQ(r.rows.size(), 1u);
    EXPECT_EQ(r.columns.at(0), "id");
    ids.insert(r.rows[0].integer(0));
  }
  EXPECT_EQ(ids.size(), 5u);
  EXPECT_EQ(db->exec("UPDATE a SET n = n + 1 WHERE id <= $1", {*std::next(ids.begin(), 2)}).affected, 3);
  EXPECT_EQ(db->exec("UPDATE a SET n = 7 WHERE name = $1", {std::string("nobody")}).affected, 0);
  EXPECT_EQ(db->exec("SELECT * FROM a").affected, 0);
  EXPECT_EQ(db->exec("DELETE FROM a WHERE n = $1", {std::int64_t{1}}).affected, 3);
  EXPECT_EQ(count(*db, "a"), 2);
  EXPECT_EQ(db->exec("INSERT INTO a (name) VALUES ($1) ON CONFLICT DO NOTHING", {std::string("x")}).affected,
            1);
}

TEST_P(StoreTest, ConstraintViolationsMapToKinds) {
  auto db = open();
  db->exec("CREATE TABLE parent (" + id_column() + ", name TEXT NOT NULL UNIQUE)");
  db->exec("CREATE TABLE child (" + id_column() +
           ", parent_id BIGINT NOT NULL REFERENCES parent(id), qty BIGINT NOT NULL CHECK (qty > 0))");
  auto pid =
      db->exec("INSERT INTO parent (name) VALUES ($1) RETURNING id", {std::string("a")}).rows[0].integer(0);
  expect_store_error(Kind::Unique,
                     [&] { db->exec("INSERT INTO parent (name) VALUES ($1)", {std::string("a")}); });
  expect_store_error(Kind::Unique, [&] {
    db->exec("INSERT INTO parent (id, name) VALUES ($1, $2)", {pid, std::string("b")});
  });
  expect_store_error(Kind::ForeignKey,
                     [&] { db->exec("INSERT INTO child (parent_id, qty) VALUES ($1, 1)", {pid + 1000}); });
  expect_store_error(Kind::Check,
                     [&] { db->exec("INSERT INTO child (parent_id, qty) VALUES ($1, 0)", {pid}); });
  expect_store_error(Kind::Check, [&] {
    db->exec("INSERT INTO child (parent_id, qty) VALUES ($1, $2)", {pid, Null{}});
  });
  db->exec("INSERT INTO child (parent_id, qty) VALUES ($1, 1)", {pid});
  expect_store_error(Kind::ForeignKey, [&] { db->exec("DELETE FROM parent WHERE id = $1", {pid}); });
  expect_store_error(Kind::Other, [&] { db->exec("SELEC nonsense"); });
  expect_store_error(Kind::Other, [&] { db->exec("SELECT * FROM no_such_table"); });
  // The failed statements left the connection usable.
  EXPECT_EQ(count(*db, "child"), 1);
}

TEST_P(StoreTest, RejectsMisuseClearly) {
  auto db = open();
  db->exec("CREATE TABLE m (x BIGINT)");
  auto multi = expect_store_error(Kind::Other,
                                  [&] { db->exec("INSERT INTO m VALUES (1); INSERT INTO m VALUES (2)"); });
  EXPECT_EQ(count(*db, "m"), 0) << multi;
  expect_store_error(Kind::Other, [&] { db->exec("INSERT INTO m VALUES ($1)", {}); });
  expect_store_error(Kind::Other, [&] {
    db->exec("INSERT INTO m VALUES ($1)", {std::int64_t{1}, std::int64_t{2}});
  });
  // Transaction control belongs to transaction(), not to SQL text.
  expect_store_error(Kind::Other, [&] { db->exec("BEGIN"); });
  db->exec("INSERT INTO m VALUES (1)");  // the connection is back in autocommit
  expect_store_error(Kind::Other, [&] {
    db->transaction([](Tx& tx) {
      tx.exec("INSERT INTO m VALUES (2)");
      tx.exec("ROLLBACK");
    });
  });
  auto other = open();
  EXPECT_EQ(count(*other, "m"), 1);
  auto nul = expect_store_error(Kind::Other, [&] { db->exec("SELECT $1", {std::string("a\0b", 3)}); });
  EXPECT_NE(nul.find("NUL"), std::string::npos) << nul;
}

TEST_P(StoreTest, TransactionCommitsAndReturnsValue) {
  auto db = open();
  db->exec("CREATE TABLE t (" + id_column() + ", name TEXT)");
  auto last = db->transaction([&](Tx& tx) {
    std::int64_t id = 0;
    for (int k = 0; k < 3; ++k) {
      id = tx.exec("INSERT INTO t (name) VALUES ($1) RETURNING id", {std::string("r")}).rows.at(0).integer(0);
    }
    // Reads inside the transaction see its own writes.
    EXPECT_EQ(tx.exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0), 3);
    return id;
  });
  EXPECT_GT(last, 0);
  EXPECT_EQ(count(*db, "t"), 3);
  auto other = open();  // a different pool sees the committed rows
  EXPECT_EQ(count(*other, "t"), 3);
}

TEST_P(StoreTest, TransactionRollsBackOnException) {
  auto db = open();
  db->exec("CREATE TABLE t (x BIGINT)");
  db->exec("INSERT INTO t VALUES (1)");
  EXPECT_THROW(db->transaction([&](Tx& tx) {
    tx.exec("INSERT INTO t VALUES (2)");
    tx.exec("UPDATE t SET x = 10 WHERE x = 1");
    tx.exec("CREATE TABLE t2 (y BIGINT)");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  auto rows = db->exec("SELECT x FROM t").rows;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].integer(0), 1);
  expect_store_error(Kind::Other, [&] { db->exec("SELECT * FROM t2"); });
  // The connection went back to the pool in a clean state.
  db->transaction([&](Tx& tx) { tx.exec("INSERT INTO t VALUES (3)"); });
  EXPECT_EQ(count(*db, "t"), 2);
}

TEST_P(StoreTest, FailedStatementAbortsTheWholeTransaction) {
  auto db = open();
  db->exec("CREATE TABLE u (name TEXT PRIMARY KEY)");
  db->exec("INSERT INTO u VALUES ('taken')");
  // Swallowing the error does not let the transaction commit half its work.
  auto msg = expect_store_error(Kind::Unique, [&] {
    db->transaction([&](Tx& tx) {
      tx.exec("INSERT INTO u VALUES ('new')");
      EXPECT_THROW(tx.exec("INSERT INTO u VALUES ('taken')"), StoreError);
      expect_store_error(Kind::Unique, [&] { tx.exec("INSERT INTO u VALUES ('later')"); });
    });
  });
  EXPECT_FALSE(msg.empty());
  EXPECT_EQ(count(*db, "u"), 1);
}

TEST_P(StoreTest, ReadTransactionNeverWaitsForWritersAndRejectsWrites) {
  auto db = open(Options{3, std::chrono::milliseconds(100)});
  db->exec("CREATE TABLE t (x BIGINT)");
  db->exec("INSERT INTO t VALUES (1)");
  std::promise<void> holding, release;
  std::thread writer([&] {
    db->transaction([&](Tx& tx) {
      tx.exec("INSERT INTO t VALUES (2)");
      holding.set_value();
      release.get_future().wait();
    });
  });
  holding.get_future().wait();
  // A write transaction is open; a read transaction (100 ms timeout) still
  // runs and sees only committed rows, twice the same.
  auto seen = db->read_transaction([](Tx& tx) {
    auto a = tx.exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0);
    auto b = tx.exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0);
    return std::make_pair(a, b);
  });
  release.set_value();
  writer.join();
  EXPECT_EQ(seen, std::make_pair(std::int64_t{1}, std::int64_t{1}));
  expect_store_error(Kind::Other,
                     [&] { db->read_transaction([](Tx& tx) { tx.exec("INSERT INTO t VALUES (3)"); }); });
  expect_store_error(Kind::Other,
                     [&] { db->read_transaction([&](Tx&) { db->read_transaction([](Tx&) {}); }); });
  EXPECT_EQ(count(*db, "t"), 2);
}

TEST_P(StoreTest, NestedUseIsRejected) {
  auto db = open();
  db->exec("CREATE TABLE t (x BIGINT)");
  db->transaction([&](Tx& tx) {
    tx.exec("INSERT INTO t VALUES (1)");
    expect_store_error(Kind::Other, [&] { db->transaction([](Tx&) {}); });
    expect_store_error(Kind::Other, [&] { db->exec("SELECT 1"); });
    expect_store_error(Kind::Other, [&] { db->migrate({}); });
    tx.exec("INSERT INTO t VALUES (2)");  // the transaction itself is unharmed
  });
  EXPECT_EQ(count(*db, "t"), 2);
}

TEST_P(StoreTest, ConcurrentWritersAllCommit) {
  Options opt;
  opt.pool_size = 4;
  opt.busy_timeout = std::chrono::milliseconds(30000);  // generous: 2 shared cores, maybe ASan
  auto db = open(opt);
  db->exec("CREATE TABLE c (" + id_column() +
           ", thread BIGINT NOT NULL, seq BIGINT NOT NULL, UNIQUE (thread, seq))");
  constexpr int kThreads = 8;
  constexpr int kRows = 200;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kRows; ++k) {
        try {
          db->transaction([&](Tx& tx) {
            tx.exec("INSERT INTO c (thread, seq) VALUES ($1, $2)", {std::int64_t{t}, std::int64_t{k}});
            if (k % 50 == 0) tx.exec("SELECT COUNT(*) FROM c WHERE thread = $1", {std::int64_t{t}});
          });
          if (k % 20 == 0)
            db->exec("SELECT seq FROM c WHERE thread = $1 AND seq = $2", {std::int64_t{t}, std::int64_t{k}});
        } catch (const std::exception& e) {
          ++failures;
          ADD_FAILURE() << e.what();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count(*db, "c"), kThreads * kRows);
  auto per_thread = db->exec("SELECT thread, COUNT(*) FROM c GROUP BY thread ORDER BY thread");
  ASSERT_EQ(per_thread.rows.size(), static_cast<std::size_t>(kThreads));
  for (const auto& r : per_thread.rows) EXPECT_EQ(r.integer(1), kRows);
}

TEST_P(StoreTest, CachedStatementsSurviveSchemaChanges) {
  auto db = open(Options{1, std::chrono::milliseconds(5000)});  // one connection: same cache
  db->exec("CREATE TABLE s (a BIGINT)");
  db->exec("INSERT INTO s VALUES ($1)", {std::int64_t{1}});
  EXPECT_EQ(db->exec("SELECT * FROM s").columns.size(), 1u);
  db->exec("ALTER TABLE s ADD COLUMN b TEXT");
  auto r = db->exec("SELECT * FROM s");
  EXPECT_EQ(r.columns, (std::vector<std::string>{"a", "b"}));
  db->exec("INSERT INTO s (a) VALUES ($1)", {std::int64_t{2}});
  EXPECT_EQ(count(*db, "s"), 2);
  // Same SQL with a different parameter type is a different statement.
  db->exec("INSERT INTO s (a, b) VALUES ($1, $2)", {std::int64_t{3}, Null{}});
  db->exec("INSERT INTO s (a, b) VALUES ($1, $2)", {std::int64_t{4}, std::string("x")});
  EXPECT_EQ(db->exec("SELECT b FROM s WHERE a = $1", {std::int64_t{4}}).rows.at(0).text(0), "x");
  // Many distinct statements overflow the cache without harm.
  for (int k = 0; k < 300; ++k) {
    EXPECT_EQ(db->exec("SELECT " + std::to_string(k) + " + $1", {std::int64_t{1}}).rows.at(0).integer(0),
              k + 1);
  }
}

TEST_P(StoreTest, PoolExhaustionIsBusyAfterTimeout) {
  auto db = open(Options{1, std::chrono::milliseconds(100)});
  db->exec("CREATE TABLE t (x BIGINT)");
  std::promise<void> done;
  std::promise<void> holding;
  std::thread holder([&] {
    db->transaction([&](Tx& tx) {
      tx.exec("INSERT INTO t VALUES (1)");
      holding.set_value();
      done.get_future().wait();  // released by the main thread below
    });
  });
  holding.get_future().wait();
  // The only connection is held until we say so: this must time out.
  auto msg = expect_store_error(Kind::Busy, [&] { db->exec("SELECT COUNT(*) FROM t"); });
  done.set_value();
  holder.join();
  EXPECT_NE(msg.find("100 ms"), std::string::npos) << msg;
  EXPECT_EQ(count(*db, "t"), 1);
}

TEST_P(StoreTest, ReadersProceedWhileWritersQueue) {
  auto db = open(Options{2, std::chrono::milliseconds(30000)});
  db->exec("CREATE TABLE t (x BIGINT)");
  db->exec("INSERT INTO t VALUES (0)");
  std::promise<void> release;
  std::promise<void> holding;
  std::thread writer_in_tx([&] {
    db->transaction([&](Tx& tx) {
      tx.exec("INSERT INTO t VALUES (1)");
      holding.set_value();
      release.get_future().wait();
    });
  });
  holding.get_future().wait();
  // Autocommit writers queue behind the open transaction (SQLite: writer
  // lock; PostgreSQL: they do not conflict and may finish first).
  std::vector<std::thread> writers;
  for (int k = 0; k < 3; ++k) {
    writers.emplace_back([&, k] { db->exec("INSERT INTO t VALUES ($1)", {std::int64_t{10 + k}}); });
  }
  // Readers still get a connection and see the last committed state.
  for (int k = 0; k < 20; ++k) {
    auto n = count(*db, "t");
    EXPECT_GE(n, 1);
    EXPECT_LE(n, 4);
  }
  release.set_value();
  writer_in_tx.join();
  for (auto& w : writers) w.join();
  EXPECT_EQ(count(*db, "t"), 5);
}

std::vector<Migration> sample_migrations() {
  return {
      {1, "create users", "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
       "CREATE TABLE users (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name TEXT NOT NULL)"},
      {2, "users email; seed",
       "ALTER TABLE users ADD COLUMN email TEXT; INSERT INTO users (name, email) VALUES ('admin', 'a@x');",
       "ALTER TABLE users ADD COLUMN email TEXT; INSERT INTO users (name, email) VALUES ('admin', 'a@x');"},
      {5, "index", "CREATE UNIQUE INDEX users_name ON users (name)",
       "CREATE UNIQUE INDEX users_name ON users (name)"},
  };
}

TEST_P(StoreTest, MigrationsApplyInOrderOnceAndRecordVersions) {
  auto db = open();
  EXPECT_EQ(db->schema_version(), 0);
  auto ms = sample_migrations();
  db->migrate(ms);
  EXPECT_EQ(db->schema_version(), 5);
  auto rec = db->exec("SELECT version, name, applied_at_ms FROM schema_migrations ORDER BY version");
  ASSERT_EQ(rec.rows.size(), 3u);
  EXPECT_EQ(rec.rows[0].integer(0), 1);
  EXPECT_EQ(rec.rows[1].text(1), "users email; seed");
  EXPECT_EQ(rec.rows[2].integer(0), 5);
  EXPECT_GT(rec.rows[2].integer(2), 1'600'000'000'000);  // epoch milliseconds
  // Second call: nothing to do (these DDL statements would fail if re-run).
  db->migrate(ms);
  EXPECT_EQ(count(*db, "users"), 1);
  expect_store_error(Kind::Unique, [&] { db->exec("INSERT INTO users (name) VALUES ('admin')"); });
  // A later release adds one migration: only it runs.
  ms.push_back(
      {6, "seed two", "INSERT INTO users (name) VALUES ('two')", "INSERT INTO users (name) VALUES ('two')"});
  db->migrate(ms);
  EXPECT_EQ(db->schema_version(), 6);
  EXPECT_EQ(count(*db, "users"), 2);
  // A fresh connection pool sees the same version.
  EXPECT_EQ(open()->schema_version(), 6);
}

TEST_P(StoreTest, FailingMigrationRollsBackAndKeepsVersion) {
  auto db = open();
  auto ms = sample_migrations();
  ms.resize(1);
  ms.push_back({2, "broken", "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1)",
                "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1)"});
  ms.push_back({3, "never", "CREATE TABLE never (x INTEGER)", "CREATE TABLE never (x INTEGER)"});
  auto msg = expect_store_error(Kind::Other, [&] { db->migrate(ms); });
  EXPECT_NE(msg.find("migration 2 (broken)"), std::string::npos) << msg;
  EXPECT_EQ(db->schema_version(), 1);
  expect_store_error(Kind::Other, [&] { db->exec("SELECT * FROM half"); });
  expect_store_error(Kind::Other, [&] { db->exec("SELECT * FROM never"); });
  // Fixing the migration lets the next start proceed.
  ms[1].sqlite = ms[1].postgres = "CREATE TABLE half (x INTEGER)";
  db->migrate(ms);
  EXPECT_EQ(db->schema_version(), 3);
}

TEST_P(StoreTest, MigrationListMustBeOrdered) {
  auto db = open();
  auto ms = sample_migrations();
  std::swap(ms[0], ms[1]);
  expect_store_error(Kind::Other, [&] { db->migrate(ms); });
  expect_store_error(Kind::Other, [&] { db->migrate({{0, "zero", "", ""}}); });
  EXPECT_EQ(db->schema_version(), 0);
}

TEST_P(StoreTest, ConcurrentMigrateFromSeveralPools) {
  // Separate Database objects behave like separate processes: their own
  // connections, their own in-process locks.
  auto ms = sample_migrations();
  for (int k = 6; k <= 20; ++k) {
    std::string sql = "CREATE TABLE t" + std::to_string(k) + " (x INTEGER)";
    ms.push_back({k, "table " + std::to_string(k), sql, sql});
  }
  constexpr int kMigrators = 4;
  std::vector<std::unique_ptr<Database>> dbs;
  Options opt;
  opt.busy_timeout = std::chrono::milliseconds(30000);
  for (int k = 0; k < kMigrators; ++k) dbs.push_back(open(opt));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < kMigrators; ++k) {
    threads.emplace_back([&, k] {
      try {
        dbs[static_cast<std::size_t>(k)]->migrate(ms);
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(dbs[0]->schema_version(), 20);
  EXPECT_EQ(count(*dbs[0], "schema_migrations"), static_cast<std::int64_t>(ms.size()));
  EXPECT_EQ(count(*dbs[0], "users"), 1);  // the seed ran exactly once
}

TEST_P(StoreTest, ReopenKeepsData) {
  {
    auto db = open();
    db->exec("CREATE TABLE k (x TEXT)");
    db->exec("INSERT INTO k VALUES ($1)", {std::string("kept")});
  }
  auto db = open();
  EXPECT_EQ(db->exec("SELECT x FROM k").rows.at(0).text(0), "kept");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::Sqlite, Backend::Postgres),
                         backend_name);

}  // namespace
}  // namespace hotline::store::test
