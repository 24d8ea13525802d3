// URL handling, SQL text helpers, SQLite specifics and PostgreSQL reconnects.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "fixture.h"
#include "store/internal.h"
#include "support/process.h"

namespace hotline::store::test {
namespace {

using detail::rewrite_placeholders;

std::string open_error(const std::string& url) {
  try {
    Database::open(url);
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::Connection) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "open(" << url << ") did not throw";
  return {};
}

TEST(Placeholders, RewritesDollarDigitsOnlyOutsideQuotesAndComments) {
  EXPECT_EQ(rewrite_placeholders("SELECT $1, $12 FROM t WHERE a=$2"), "SELECT ?1, ?12 FROM t WHERE a=?2");
  EXPECT_EQ(rewrite_placeholders("SELECT '$1', \"$2\", $3"), "SELECT '$1', \"$2\", ?3");
  EXPECT_EQ(rewrite_placeholders("SELECT 'it''s $1', $1"), "SELECT 'it''s $1', ?1");
  EXPECT_EQ(rewrite_placeholders("SELECT $1 -- $2\n, $3"), "SELECT ?1 -- $2\n, ?3");
  EXPECT_EQ(rewrite_placeholders("SELECT /* $1 */ $2"), "SELECT /* $1 */ ?2");
  EXPECT_EQ(rewrite_placeholders("SELECT a$1, $x, $"), "SELECT a$1, $x, $");
  EXPECT_EQ(rewrite_placeholders("SELECT 'unterminated $1"), "SELECT 'unterminated $1");
  EXPECT_EQ(rewrite_placeholders(""), "");
  EXPECT_EQ(detail::max_placeholder("SELECT $2, '$9', $1 -- $7"), 2);
  EXPECT_EQ(detail::max_placeholder("SELECT $12"), 12);
  EXPECT_EQ(detail::max_placeholder("SELECT 1"), 0);
}

TEST(Urls, RedactsPasswords) {
  EXPECT_EQ(detail::redact_url("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db");
  EXPECT_EQ(detail::redact_url("postgresql://u@h/db"), "postgresql://u@h/db");
  EXPECT_EQ(detail::redact_url("postgresql://h:5432/db"), "postgresql://h:5432/db");
  EXPECT_EQ(detail::redact_url("sqlite://var/a.db"), "sqlite://var/a.db");
}

TEST(Urls, PlainSelectDetection) {
  EXPECT_TRUE(detail::is_plain_select("  select 1"));
  EXPECT_TRUE(detail::is_plain_select("-- c\nSELECT x FROM t"));
  EXPECT_FALSE(detail::is_plain_select("INSERT INTO t VALUES (1) RETURNING id"));
  EXPECT_FALSE(detail::is_plain_select("WITH x AS (DELETE FROM t RETURNING id) SELECT * FROM x"));
  EXPECT_FALSE(detail::is_plain_select("sel"));
}

TEST(Urls, MalformedUrlsNameTheSchemeProblem) {
  EXPECT_NE(open_error("").find("scheme"), std::string::npos);
  EXPECT_NE(open_error("mysql://u:pw@h/db").find("'mysql:'"), std::string::npos);
  EXPECT_NE(open_error("var/hotline.db").find("scheme"), std::string::npos);
  EXPECT_NE(open_error("sqlite:var/hotline.db").find("scheme"), std::string::npos);
  EXPECT_NE(open_error("sqlite://").find("no path"), std::string::npos);
  EXPECT_NE(open_error("sqlite://a.db?mode=ro").find("no query"), std::string::npos);
  auto msg = open_error("postgresql://user:hunter2@127.0.0.1:5432/db?sslmode=bogus");
  EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
  auto msg2 = open_error("postgresql://user:hunter2@[::1/db");
  EXPECT_EQ(msg2.find("hunter2"), std::string::npos) << msg2;
}

TEST(Urls, UnreachablePostgresIsAConnectionError) {
  int port = testing::free_tcp_port();
  auto msg = open_error("postgresql://nobody:pw@127.0.0.1:" + std::to_string(port) + "/none");
  EXPECT_NE(msg.find("127.0.0.1"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(":pw@"), std::string::npos) << msg;
}

TEST(Sqlite, CreatesParentDirectoriesAndRelativePaths) {
  testing::TempDir dir;
  auto nested = dir.path() / "a" / "b" / "c.db";
  auto db = Database::open("sqlite://" + nested.string());
  db->exec("CREATE TABLE t (x INTEGER)");
  EXPECT_TRUE(std::filesystem::exists(nested));
  auto mode = db->exec("PRAGMA journal_mode").rows.at(0).text(0);
  EXPECT_EQ(mode, "wal");
  EXPECT_EQ(db->exec("PRAGMA synchronous").rows.at(0).integer(0), 2);  // FULL
  EXPECT_EQ(db->exec("PRAGMA foreign_keys").rows.at(0).integer(0), 1);

  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.path());
  {
    auto rel = Database::open("sqlite://rel/dir/r.db");
    rel->exec("CREATE TABLE r (x INTEGER)");
  }
  std::filesystem::current_path(cwd);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "rel" / "dir" / "r.db"));
}

TEST(Sqlite, UnopenableFileIsAConnectionError) {
  testing::TempDir dir;
  auto file = dir.path() / "plain";
  { std::ofstream(file) << "x"; }
  // A path below a regular file cannot be created.
  auto msg = open_error("sqlite://" + (file / "x.db").string());
  EXPECT_FALSE(msg.empty());
}

TEST(Sqlite, MemoryDatabaseIsOneSharedConnection) {
  auto db = Database::open("sqlite::memory:", Options{8, std::chrono::milliseconds(5000)});
  auto alt = Database::open("sqlite://:memory:", Options{8, std::chrono::milliseconds(5000)});
  alt->exec("CREATE TABLE t (x INTEGER)");
  alt->exec("INSERT INTO t VALUES (1)");
  for (int k = 0; k < 10; ++k) EXPECT_EQ(alt->exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0), 1);
  db->exec("CREATE TABLE t (x INTEGER)");
  db->transaction([](Tx& tx) { tx.exec("INSERT INTO t VALUES (1)"); });
  // Every later call sees the same database, whatever the pool size asked.
  for (int k = 0; k < 10; ++k) EXPECT_EQ(db->exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0), 1);
  db->migrate({{1, "m", "CREATE TABLE m (y INTEGER)", ""}});
  EXPECT_EQ(db->schema_version(), 1);
  EXPECT_TRUE(db->ping());
}

TEST(Sqlite, LockHeldByAnotherProcessIsBusyAfterTimeout) {
  testing::TempDir dir;
  std::string url = "sqlite://" + (dir.path() / "busy.db").string();
  // Two Database objects share no in-process lock: like two processes.
  auto holder = Database::open(url);
  auto waiter = Database::open(url, Options{2, std::chrono::milliseconds(100)});
  holder->exec("CREATE TABLE t (x INTEGER)");
  std::promise<void> holding, release;
  std::thread t([&] {
    holder->transaction([&](Tx& tx) {
      tx.exec("INSERT INTO t VALUES (1)");
      holding.set_value();
      release.get_future().wait();
    });
  });
  holding.get_future().wait();
  StoreError::Kind tx_kind = StoreError::Kind::Other, exec_kind = StoreError::Kind::Other;
  try {
    waiter->transaction([](Tx& tx) { tx.exec("INSERT INTO t VALUES (2)"); });
  } catch (const StoreError& e) {
    tx_kind = e.kind();
  }
  try {
    waiter->exec("INSERT INTO t VALUES (3)");
  } catch (const StoreError& e) {
    exec_kind = e.kind();
  }
  // Readers are not blocked by the writer (WAL).
  EXPECT_EQ(waiter->exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0), 0);
  release.set_value();
  t.join();
  EXPECT_EQ(tx_kind, StoreError::Kind::Busy);
  EXPECT_EQ(exec_kind, StoreError::Kind::Busy);
  EXPECT_EQ(waiter->exec("SELECT COUNT(*) FROM t").rows.at(0).integer(0), 1);
}

TEST(Postgres, DeadlockedTransactionIsRunAgain) {
  auto db = Database::open(testing::PostgresServer::shared().create_schema("deadlock"));
  db->exec("CREATE TABLE acct (id BIGINT PRIMARY KEY, balance BIGINT NOT NULL)");
  db->exec("INSERT INTO acct VALUES (1, 100), (2, 100)");
  // Each transaction locks one row, waits until the other has locked the
  // other row, then asks for it: a guaranteed deadlock on the first attempt.
  std::promise<void> locked[2];
  std::shared_future<void> ready[2] = {locked[0].get_future().share(), locked[1].get_future().share()};
  std::atomic<int> attempts[2] = {0, 0};
  auto transfer = [&](int me) {
    std::int64_t first = me + 1, second = 2 - me;
    db->transaction([&](Tx& tx) {
      int attempt = ++attempts[me];
      tx.exec("UPDATE acct SET balance = balance - 10 WHERE id = $1", {first});
      if (attempt == 1) {
        locked[me].set_value();
        ready[1 - me].wait();
      }
      tx.exec("UPDATE acct SET balance = balance + 10 WHERE id = $1", {second});
    });
  };
  std::exception_ptr errors[2];
  std::thread a([&] {
    try {
      transfer(0);
    } catch (...) {
      errors[0] = std::current_exception();
    }
  });
  std::thread b([&] {
    try {
      transfer(1);
    } catch (...) {
      errors[1] = std::current_exception();
    }
  });
  a.join();
  b.join();
  EXPECT_FALSE(errors[0]);
  EXPECT_FALSE(errors[1]);
  // Exactly one of them was chosen as the deadlock victim and re-run.
  EXPECT_EQ(attempts[0] + attempts[1], 3);
  auto r = db->exec("SELECT SUM(balance), COUNT(*) FROM acct");
  EXPECT_EQ(r.rows.at(0).integer(0), 200);
  auto one = db->exec("SELECT balance FROM acct WHERE id = 1").rows.at(0).integer(0);
  EXPECT_EQ(one, 100);  // -10 then +10 from the other transfer
}

TEST(Postgres, ReconnectsAfterServerRestart) {
  auto& pg = testing::PostgresServer::shared();
  auto url = pg.create_database("reconnect");
  auto db = Database::open(url, Options{2, std::chrono::milliseconds(5000)});
  db->exec("CREATE TABLE r (x BIGINT)");
  db->exec("INSERT INTO r VALUES (1)");
  pg.stop();
  EXPECT_FALSE(db->ping());
  try {
    db->exec("INSERT INTO r VALUES (2)");
    ADD_FAILURE() << "insert succeeded with the server down";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::Connection) << e.what();
  }
  pg.start();
  // Broken connections are replaced; no restart of our process needed.
  EXPECT_TRUE(db->ping());
  db->exec("INSERT INTO r VALUES (3)");
  EXPECT_EQ(db->exec("SELECT COUNT(*) FROM r").rows.at(0).integer(0), 2);
  db->transaction([](Tx& tx) { tx.exec("INSERT INTO r VALUES (4)"); });
}

TEST(Postgres, AllStaleConnectionsAreReplacedAfterRestart) {
  auto& pg = testing::PostgresServer::shared();
  auto db = Database::open(pg.create_schema("stale"), Options{4, std::chrono::milliseconds(30000)});
  db->exec("CREATE TABLE r (x BIGINT)");
  // Fill the pool: four transactions open at the same time need four connections.
  constexpr int kConns = 4;
  std::atomic<int> inside{0};
  std::promise<void> all_in;
  std::shared_future<void> go = all_in.get_future().share();
  std::vector<std::thread> threads;
  for (int k = 0; k < kConns; ++k) {
    threads.emplace_back([&, k] {
      db->transaction([&](Tx& tx) {
        tx.exec("INSERT INTO r VALUES ($1)", {std::int64_t{k}});
        if (++inside == kConns) all_in.set_value();
        go.wait();
      });
    });
  }
  for (auto& t : threads) t.join();
  pg.stop();
  pg.start();
  // Every idle connection is now stale. Reads recover transparently...
  for (int k = 0; k < kConns + 1; ++k) {
    EXPECT_EQ(db->exec("SELECT COUNT(*) FROM r").rows.at(0).integer(0), kConns) << "read " << k;
  }
  // ...and so do transactions and writes (stale ones were dropped together).
  db->transaction([](Tx& tx) { tx.exec("INSERT INTO r VALUES (10)"); });
  db->exec("INSERT INTO r VALUES (11)");
  EXPECT_EQ(db->exec("SELECT COUNT(*) FROM r").rows.at(0).integer(0), kConns + 2);
}

}  // namespace
}  // namespace hotline::store::test
