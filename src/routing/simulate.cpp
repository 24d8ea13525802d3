#include "routing/simulate.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "routing/erlang.h"
#include "routing/simulator.h"

namespace hotline::routing {
namespace {

constexpr const char* kUsage =
    "usage: hotline simulate [options] SCENARIO.json\n"
    "\n"
    "Runs a discrete-event simulation of the scenario through the real ACD\n"
    "engine and prints queue and agent metrics.\n"
    "\n"
    "options:\n"
    "  --strategy NAME       use NAME for every queue\n"
    "  --compare A,B,...     run once per strategy on the same arrival stream\n"
    "  --compare-all         compare all built-in strategies\n"
    "  --erlang              also print the Erlang C prediction (single queue)\n"
    "  --help                show this help\n"
    "\n"
    "strategies: longest-idle least-occupied round-robin fewest-handled\n"
    "            highest-skill weighted-random ring-all fatigue-aware\n"
    "The scenario format is described in docs/routing.md.\n";

std::string pct(double v) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1) << v * 100 << "%";
  return s.str();
}
std::string num(double v, int prec = 1) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

struct AgentSummary {
  double occupancy = 0, utilization = 0, answer_rate = 0;
  std::uint64_t min_handled = 0, max_handled = 0;
};

AgentSummary summarize_agents(const MetricsReport& r) {
  AgentSummary s;
  double handling = 0, staffed = 0, logged = 0;
  std::uint64_t offered = 0, answered = 0;
  bool first = true;
  for (const auto& a : r.agents) {
    handling += a.handling_seconds;
    staffed += a.handling_seconds + a.available_seconds + a.ringing_seconds;
    logged += a.logged_in_seconds;
    offered += a.offered;
    answered += a.answered;
    s.min_handled = first ? a.handled : std::min(s.min_handled, a.handled);
    s.max_handled = first ? a.handled : std::max(s.max_handled, a.handled);
    first = false;
  }
  if (staffed > 0) s.occupancy = handling / staffed;
  if (logged > 0) s.utilization = handling / logged;
  if (offered > 0) s.answer_rate = static_cast<double>(answered) / static_cast<double>(offered);
  return s;
}

void print_report(const sim::Scenario& sc, const sim::SimulationResult& r, std::ostream& out) {
  out << "strategy: " << to_string(r.strategy)
      << (r.strategy_overridden ? " (all queues)" : " (per scenario)") << "\n";
  out << std::left << std::setw(14) << "queue" << std::right << std::setw(9) << "offered" << std::setw(10)
      << "answered" << std::setw(10) << "abandon" << std::setw(9) << "SL" << std::setw(9) << "SL+ab"
      << std::setw(9) << "ASA s" << std::setw(9) << "AHT s" << std::setw(11) << "max wait s"
      << "\n";
  auto row = [&](const std::string& name, const QueueMetrics& m) {
    out << std::left << std::setw(14) << name << std::right << std::setw(9) << m.offered << std::setw(10)
        << m.answered << std::setw(10) << m.abandoned << std::setw(9) << pct(m.service_level_answered)
        << std::setw(9) << pct(m.service_level_abandoned) << std::setw(9) << num(m.asa_seconds)
        << std::setw(9) << num(m.aht_seconds) << std::setw(11)
        << num(std::chrono::duration<double>(m.longest_current_wait).count()) << "\n";
  };
  for (const auto& q : sc.queues) {
    const QueueMetrics* m = r.report.queue(q.config.id);
    row(q.name, m ? *m : QueueMetrics{});
  }
  row("TOTAL", r.report.total);
  const AgentSummary a = summarize_agents(r.report);
  out << "agents: " << r.report.agents.size() << "  occupancy " << pct(a.occupancy) << "  utilization "
      << pct(a.utilization) << "  answer rate " << pct(a.answer_rate) << "  handled per agent "
      << a.min_handled << ".." << a.max_handled << "\n";
  out << "arrivals " << r.arrivals << ", routing decisions " << r.offers << ", events " << r.events
      << ", still in system at end " << r.left_in_system << "\n";
}

void print_erlang(const sim::Scenario& sc, std::ostream& out) {
  if (sc.queues.size() != 1) {
    out << "erlang: prediction needs a single-queue scenario\n";
    return;
  }
  const auto& q = sc.queues[0];
  int agents = 0;
  for (const auto& g : sc.agents) agents += g.count;
  const double aht = q.handle.mean_seconds + std::chrono::duration<double>(q.config.wrap_up).count();
  const double traffic = q.arrivals_per_hour / 3600.0 * aht;
  const double t = std::chrono::duration<double>(q.config.service_level_threshold).count();
  out << "erlang C (" << agents << " agents, " << num(traffic, 2) << " Erlangs, M/M/N without abandonment): "
      << "P(wait) " << pct(erlang::erlang_c(agents, traffic)) << "  SL "
      << pct(erlang::service_level(agents, traffic, aht, t)) << "  ASA "
      << num(erlang::average_speed_of_answer(agents, traffic, aht)) << " s  occupancy "
      << pct(erlang::occupancy(agents, traffic)) << "\n";
  if (auto n = erlang::agents_for_service_level(traffic, aht, t, 0.8))
    out << "erlang C: agents needed for 80% within " << num(t, 0) << " s: " << *n << "\n";
}

bool split_strategies(const std::string& list, std::vector<StrategyKind>& out, std::ostream& err) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    StrategyKind k;
    if (!parse_strategy(item, k)) {
      err << "hotline simulate: unknown strategy '" << item << "'\n";
      return false;
    }
    out.push_back(k);
  }
  if (out.empty()) {
    err << "hotline simulate: --compare needs at least one strategy\n";
    return false;
  }
  return true;
}

}  // namespace

int run_simulate_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string path;
  std::vector<StrategyKind> compare;
  bool have_strategy = false, erlang_flag = false, compare_flag = false;
  StrategyKind strategy = StrategyKind::kLongestIdle;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      out << kUsage;
      return 0;
    } else if (a == "--strategy") {
      if (i + 1 >= args.size() || !parse_strategy(args[i + 1], strategy)) {
        err << "hotline simulate: --strategy needs a known strategy name\n" << kUsage;
        return 2;
      }
      have_strategy = true;
      ++i;
    } else if (a == "--compare") {
      if (i + 1 >= args.size() || !split_strategies(args[i + 1], compare, err)) return 2;
      compare_flag = true;
      ++i;
    } else if (a == "--compare-all") {
      compare.clear();
      for (int k = 0; k <= static_cast<int>(StrategyKind::kFatigueAware); ++k)
        compare.push_back(static_cast<StrategyKind>(k));
      compare_flag = true;
    } else if (a == "--erlang") {
      erlang_flag = true;
    } else if (!a.empty() && a[0] == '-') {
      err << "hotline simulate: unknown option " << a << "\n" << kUsage;
      return 2;
    } else if (path.empty()) {
      path = a;
    } else {
      err << "hotline simulate: only one scenario file may be given\n";
      return 2;
    }
  }
  if (path.empty()) {
    err << "hotline simulate: missing scenario file\n" << kUsage;
    return 2;
  }
  if (have_strategy && compare_flag) {
    err << "hotline simulate: --strategy and --compare are exclusive\n";
    return 2;
  }
  auto sc = sim::load_scenario(path);
  if (!sc) {
    err << "hotline simulate: " << path << ": " << (sc.error().field.empty() ? "" : sc.error().field + ": ")
        << sc.error().message << "\n";
    return 1;
  }
  if (!compare_flag && !have_strategy && !sc->compare.empty()) {
    compare = sc->compare;
    compare_flag = true;
  }
  out << "scenario: " << path << "  seed " << sc->seed << ", " << num(sc->duration_seconds / 3600.0, 2)
      << " h simulated, warm-up " << num(sc->warmup_seconds / 60.0, 0) << " min\n";
  if (erlang_flag) print_erlang(*sc, out);
  if (!compare_flag) {
    const auto r = sim::simulate(*sc, have_strategy ? &strategy : nullptr);
    print_report(*sc, r, out);
    return 0;
  }
  out << "\ncomparison on the same arrival stream:\n";
  out << std::left << std::setw(17) << "strategy" << std::right << std::setw(9) << "SL" << std::setw(9)
      << "SL+ab" << std::setw(9) << "ASA s" << std::setw(10) << "abandon" << std::setw(11) << "occupancy"
      << std::setw(14) << "handled/agent"
      << "\n";
  std::vector<sim::SimulationResult> results;
  for (StrategyKind k : compare) {
    results.push_back(sim::simulate(*sc, &k));
    const auto& r = results.back();
    const AgentSummary a = summarize_agents(r.report);
    const auto& t = r.report.total;
    const double abandon_rate =
        t.offered > 0 ? static_cast<double>(t.abandoned) / static_cast<double>(t.offered) : 0.0;
    out << std::left << std::setw(17) << to_string(k) << std::right << std::setw(9)
        << pct(t.service_level_answered) << std::setw(9) << pct(t.service_level_abandoned) << std::setw(9)
        << num(t.asa_seconds) << std::setw(10) << pct(abandon_rate) << std::setw(11) << pct(a.occupancy)
        << std::setw(14) << (std::to_string(a.min_handled) + ".." + std::to_string(a.max_handled)) << "\n";
  }
  for (const auto& r : results) {
    out << "\n";
    print_report(*sc, r, out);
  }
  return 0;
}

}  // namespace hotline::routing
