// routing/simulate.h — the `hotline simulate` subcommand.
//
//   hotline simulate [--strategy NAME] [--compare NAME,NAME,...|--compare-all]
//                    [--erlang] scenario.json
//
// `args` are the words after `simulate`. Prints metrics to `out`, errors and
// usage problems to `err`. Returns the process exit code (0 ok, 1 scenario
// error, 2 usage error). The app wires it as:
//   if (argv[1] == "simulate") return run_simulate_command({argv+2, argv+argc}, std::cout, std::cerr);
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace hotline::routing {

int run_simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace hotline::routing
