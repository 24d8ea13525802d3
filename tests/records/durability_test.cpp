// Group commit is durable: a child process writes calls (and a leg each)
// through Store, reports on a pipe after every flush() returns, and is
// SIGKILLed mid-stream. Every call flushed before the kill is there, whole;
// calls queued after the last flush may or may not be, but never torn.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "fixture.h"

namespace hotline::records::test {
namespace {

constexpr int kPerFlush = 7;

// Child side: never returns; only _exit, so no parent-owned destructors (the
// shared PostgreSQL server!) run in the child.
[[noreturn]] void write_forever(const std::string& url, std::int64_t tenant, int ack_fd) {
  try {
    auto db = store::Database::open(url, store::Options{2, std::chrono::milliseconds(30000)});
    common::SystemClock clock;
    Store s(*db, clock, {.max_batch = 50, .max_delay = std::chrono::milliseconds(2), .keks = {}});
    for (int n = 1; n < 1'000'000; ++n) {
      s.put_call(make_call(tenant, n));
      s.put_leg(make_leg(tenant, n, 0));
      if (n % kPerFlush == 0) {
        s.flush();
        char line[64];
        const int len = std::snprintf(line, sizeof line, "flushed %d\n", n);
        if (::write(ack_fd, line, static_cast<std::size_t>(len)) != len) _exit(3);
      }
    }
    _exit(0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "records durability child: %s\n", e.what());
    _exit(2);
  }
}

// Reads "flushed N" lines; returns the highest N (0 at EOF with none).
struct AckReader {
  int fd;
  std::string buf;
  int last = 0;
  bool eof = false;

  // Consumes what is available (blocking up to `timeout_ms` for the first byte).
  bool read_some(int timeout_ms) {
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR) return true;
    if (rc <= 0) return false;
    char chunk[4096];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) {
      eof = true;
      return true;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n')) {
      int v = 0;
      EXPECT_EQ(std::sscanf(buf.substr(0, nl).c_str(), "flushed %d", &v), 1) << buf.substr(0, nl);
      EXPECT_EQ(v, last + kPerFlush) << "acks in order";
      last = v;
      buf.erase(0, nl + 1);
    }
    return true;
  }
};

TEST_P(RecordsTest, FlushedRecordsSurviveSigkill) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    write_forever(url(), t1, fds[1]);
  }
  ::close(fds[1]);
  AckReader acks{fds[0]};
  constexpr int kKillAfter = 40 * kPerFlush;
  while (acks.last < kKillAfter && !acks.eof) {
    ASSERT_TRUE(acks.read_some(60'000)) << "child stopped acknowledging after " << acks.last;  // hang guard
  }
  ASSERT_FALSE(acks.eof) << "child exited early";
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  while (!acks.eof && acks.read_some(0)) {
  }  // acks written before the kill that we had not read yet count too
  ::close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  const int flushed = acks.last;
  ASSERT_GE(flushed, kKillAfter);

  common::SystemClock clock;
  auto reopened = store::Database::open(url());
  Store s(*reopened, clock);
  int present = 0;
  for (const auto& r : reopened->exec(std::string("SELECT id FROM calls WHERE tenant_id = $1"), {t1}).rows) {
    const int n = std::stoi(r.text(0).substr(1));
    auto got = s.call(t1, r.text(0));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, make_call(t1, n)) << "torn call " << n;
    ++present;
  }
  for (int n = 1; n <= flushed; ++n) {
    auto got = s.call(t1, "c" + std::to_string(n));
    ASSERT_TRUE(got.ok()) << "flushed call " << n << " of " << flushed << " lost";
    auto legs = s.legs(t1, "c" + std::to_string(n));
    ASSERT_EQ(legs.size(), 1u) << "flushed leg " << n << " lost";
    EXPECT_EQ(legs[0], make_leg(t1, n, 0));
  }
  EXPECT_GE(present, flushed);
  // At most what was queued after the last flush (one batch) may be extra.
  EXPECT_LE(present, flushed + kPerFlush);
  // Still writable after the crash.
  s.put_call(make_call(t1, 2'000'000));
  s.flush();
  EXPECT_TRUE(s.call(t1, "c2000000").ok());
}

}  // namespace
}  // namespace hotline::records::test
