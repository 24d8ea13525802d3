// app/cli.h — the `hotline` command line: subcommands and their help.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace hotline::app {

// Runs `hotline <args...>`; returns the process exit code. Output goes to
// `out`, diagnostics to `err`. `serve` blocks until SIGINT/SIGTERM.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

constexpr const char* kVersion = "0.1.0";

}  // namespace hotline::app
