// Tests that need separate processes.
//
// Durability: a commit acknowledged to the caller survives SIGKILL of the
// process that made it. A child process commits rows one by one and reports
// each id on a pipe only after exec()/transaction() returned; the parent kills
// it mid-stream, reopens the database and checks every acknowledged row.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "fixture.h"

namespace hotline::store::test {
namespace {

// Child side: never returns; only _exit, so no parent-owned destructors
// (the shared PostgreSQL server!) run in the child.
[[noreturn]] void commit_forever(const std::string& url, int ack_fd) {
  try {
    auto db = Database::open(url, Options{1, std::chrono::milliseconds(30000)});
    for (std::int64_t id = 1; id < 1'000'000; ++id) {
      if (id % 2 == 0) {
        db->transaction([&](Tx& tx) {
          tx.exec("INSERT INTO acked (id, payload) VALUES ($1, $2)", {id, std::string("tx")});
        });
      } else {
        db->exec("INSERT INTO acked (id, payload) VALUES ($1, $2)", {id, std::string("auto")});
      }
      if (::write(ack_fd, &id, sizeof id) != static_cast<ssize_t>(sizeof id)) _exit(3);
    }
    _exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "durability child: %s\n", e.what());
    _exit(2);
  }
}

TEST_P(StoreTest, AcknowledgedCommitsSurviveSigkill) {
  {
    auto db = open();
    db->exec("CREATE TABLE acked (id BIGINT PRIMARY KEY, payload TEXT NOT NULL)");
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    commit_forever(url(), fds[1]);
  }
  ::close(fds[1]);
  constexpr std::int64_t kAcks = 200;
  std::int64_t last = 0;
  bool child_died = false;
  while (last < kAcks) {
    pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, 60'000);  // generous: only fails if the child hangs
    if (rc < 0 && errno == EINTR) continue;
    ASSERT_GT(rc, 0) << "child stopped acknowledging after " << last << " rows";
    std::int64_t id = 0;
    ssize_t n = ::read(fds[0], &id, sizeof id);
    if (n == 0) {
      child_died = true;
      break;
    }
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof id));
    ASSERT_EQ(id, last + 1);
    last = id;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  // Acks the child wrote before dying but we had not read yet count too.
  std::int64_t id = 0;
  while (::read(fds[0], &id, sizeof id) == static_cast<ssize_t>(sizeof id)) last = id;
  ::close(fds[0]);
  ASSERT_FALSE(child_died) << "child exited early with status " << status;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  auto db = open();
  auto r = db->exec("SELECT COUNT(*), MIN(id), MAX(id) FROM acked WHERE id <= $1", {last});
  EXPECT_EQ(r.rows.at(0).integer(0), last) << "acknowledged rows lost";
  EXPECT_EQ(r.rows.at(0).integer(1), 1);
  EXPECT_EQ(r.rows.at(0).integer(2), last);
  // At most the one in-flight commit may exist beyond the last ack.
  EXPECT_LE(db->exec("SELECT COUNT(*) FROM acked WHERE id > $1", {last}).rows.at(0).integer(0), 1);
  db->exec("INSERT INTO acked (id, payload) VALUES ($1, 'after')", {last + 10});  // still writable
}

std::vector<Migration> many_migrations() {
  std::vector<Migration> ms;
  ms.push_back({1, "seed", "CREATE TABLE seeded (x INTEGER); INSERT INTO seeded VALUES (1)",
                "CREATE TABLE seeded (x INTEGER); INSERT INTO seeded VALUES (1)"});
  for (int k = 2; k <= 12; ++k) {
    std::string sql = "CREATE TABLE m" + std::to_string(k) + " (x INTEGER)";
    ms.push_back({k, "table " + std::to_string(k), sql, sql});
  }
  return ms;
}

TEST_P(StoreTest, SeveralProcessesMigrateAtOnce) {
  auto ms = many_migrations();
  { open(); }  // create the (empty) database file / check the server first
  constexpr int kChildren = 3;
  std::vector<pid_t> pids;
  for (int k = 0; k < kChildren; ++k) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        Database::open(url(), Options{2, std::chrono::milliseconds(30000)})->migrate(ms);
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "migrating child: %s\n", e.what());
        _exit(1);
      }
    }
    pids.push_back(pid);
  }
  auto db = open(Options{2, std::chrono::milliseconds(30000)});
  db->migrate(ms);
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  EXPECT_EQ(db->schema_version(), 12);
  EXPECT_EQ(db->exec("SELECT COUNT(*) FROM schema_migrations").rows.at(0).integer(0), 12);
  EXPECT_EQ(db->exec("SELECT COUNT(*) FROM seeded").rows.at(0).integer(0), 1);
}

}  // namespace
}  // namespace hotline::store::test
