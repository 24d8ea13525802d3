// support/process.h — run helper programs (initdb, pg_ctl, sipp...) from tests.
//
//   auto r = hotline::testing::run_process({"/usr/bin/sipp", "-v"});
//   ASSERT_EQ(r.exit_code, 0) << r.output;
//
// When the test runs as root and `as_user` is set, the child switches to that
// system user before exec (PostgreSQL refuses to run as root).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace hotline::testing {

struct ProcessOptions {
  std::optional<std::string> as_user;          // only applied when running as root
  std::optional<std::string> cwd;              // working directory of the child
  std::optional<std::string> log_path;         // spawn(): stdout+stderr appended here
  bool die_with_parent = false;                // spawn(): SIGINT the child if we die
  std::chrono::milliseconds timeout{120'000};  // run_process(): kill after this
};

struct ProcessResult {
  int exit_code = -1;  // exit status, or -signal when killed by a signal
  std::string output;  // stdout and stderr interleaved
  bool timed_out = false;
};

// Runs argv[0] (an absolute path) to completion, capturing its output.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Starts argv[0] in the background; returns its pid. Throws std::runtime_error
// if the fork fails. The caller reaps it (wait_process / waitpid).
pid_t spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Waits up to `timeout` for `pid` to exit; returns its exit code as in
// ProcessResult, or std::nullopt if it is still running.
std::optional<int> wait_process(pid_t pid, std::chrono::milliseconds timeout);

}  // namespace hotline::testing
