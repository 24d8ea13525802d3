#include "support/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace hotline::testing {
namespace {

struct Credentials {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Credentials lookup(const ProcessOptions& o) {
  Credentials c;
  if (!o.as_user || ::geteuid() != 0) return c;
  passwd pw{};
  passwd* res = nullptr;
  char buf[4096];
  if (getpwnam_r(o.as_user->c_str(), &pw, buf, sizeof buf, &res) != 0 || res == nullptr) {
    throw std::runtime_error("process: system user '" + *o.as_user + "' does not exist");
  }
  c.drop = true;
  c.uid = pw.pw_uid;
  c.gid = pw.pw_gid;
  return c;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

// Everything between fork() and exec() must be async-signal-safe: the test
// process may have other threads.
[[noreturn]] void exec_child(const std::vector<char*>& argv, const Credentials& cred, const char* cwd,
                             int out_fd, bool die_with_parent, pid_t parent) {
  if (out_fd >= 0) {
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
  }
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  ::close_range(3, ~0U, 0);
  if (cwd && ::chdir(cwd) != 0) _exit(126);
  if (cred.drop) {
    if (::setgroups(1, &cred.gid) != 0 || ::setgid(cred.gid) != 0 || ::setuid(cred.uid) != 0) _exit(126);
  }
  // After setuid: changing credentials clears the parent-death signal.
  if (die_with_parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGINT);
    if (::getppid() != parent) _exit(125);
  }
  ::execv(argv[0], argv.data());
  _exit(127);
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
  if (argv.empty()) throw std::runtime_error("process: empty argv");
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (::access(argv.at(0).c_str(), X_OK) != 0) {
    throw std::runtime_error("process: '" + argv[0] + "' is not an executable (is its package installed?)");
  }
  auto args = c_argv(argv);
  auto cred = lookup(options);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("process: pipe: ") + std::strerror(errno));
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw std::runtime_error(std::string("process: fork: ") + std::strerror(errno));
  }
  if (pid == 0) exec_child(args, cred, options.cwd ? options.cwd->c_str() : nullptr, fds[1], false, parent);
  ::close(fds[1]);
  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  char buf[4096];
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) continue;
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = decode_status(status);
  return result;
}

pid_t spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (::access(argv.at(0).c_str(), X_OK) != 0) {
    throw std::runtime_error("process: '" + argv[0] + "' is not an executable (is its package installed?)");
  }
  auto args = c_argv(argv);
  auto cred = lookup(options);
  int out = -1;
  if (options.log_path) {
    out = ::open(options.log_path->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0)
      throw std::runtime_error("process: cannot open log " + *options.log_path + ": " + std::strerror(errno));
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    if (out >= 0) ::close(out);
    throw std::runtime_error(std::string("process: fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    exec_child(args, cred, options.cwd ? options.cwd->c_str() : nullptr, out, options.die_with_parent,
               parent);
  }
  if (out >= 0) ::close(out);
  return pid;
}

std::optional<int> wait_process(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_status(status);
    if (r < 0 && errno != EINTR) return -1;  // not our child / already reaped
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling interval, not a timing assumption
  }
}

}  // namespace hotline::testing
