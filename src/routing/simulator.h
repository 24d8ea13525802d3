// routing/simulator.h — discrete-event simulation driving the real Engine.
//
// Callers arrive per queue as a Poisson process; handle times and caller
// patience are exponential, lognormal or constant. Agents answer every offer
// after `answer_delay` and hang up after the interaction's handle time;
// callers abandon when their patience runs out before an answer. Everything
// that happens goes through the Engine's public API, and the metrics come from
// the Engine's event log (metrics.h) — the simulator measures the real thing.
//
// The arrival stream (arrival times, handle times, patience, priority) is
// generated up front from the scenario seed, so runs with different
// strategies see exactly the same callers.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "routing/metrics.h"
#include "routing/types.h"

namespace hotline::routing::sim {

enum class Distribution : std::uint8_t { kExponential, kLognormal, kConstant, kNever };

struct DistributionSpec {
  Distribution kind = Distribution::kExponential;
  double mean_seconds = 180;
  double sd_seconds = 0;  // lognormal only
};

struct QueueSpec {
  std::string name;
  QueueConfig config;  // id assigned by the parser (1..n)
  double arrivals_per_hour = 0;
  DistributionSpec handle;
  DistributionSpec patience{Distribution::kNever, 0, 0};
  double vip_fraction = 0;  // share of callers with priority 1
};

struct AgentGroupSpec {
  std::string name;
  int count = 1;
  AgentConfig config;  // ids assigned by the simulator
};

struct Scenario {
  std::uint64_t seed = 1;
  double duration_seconds = 8 * 3600.0;
  double warmup_seconds = 0;
  double answer_delay_seconds = 0;
  std::vector<QueueSpec> queues;
  std::vector<AgentGroupSpec> agents;
  std::vector<StrategyKind> compare;  // strategies to compare (may be empty)
  std::map<std::string, SkillId> skills;
};

// Parses the JSON scenario format documented in docs/routing.md. Errors name
// the offending field.
common::Result<Scenario> parse_scenario(std::string_view json_text);
common::Result<Scenario> load_scenario(const std::string& path);

struct SimulationResult {
  StrategyKind strategy = StrategyKind::kLongestIdle;
  bool strategy_overridden = false;
  MetricsReport report;  // over [warmup, duration)
  std::uint64_t arrivals = 0;
  std::uint64_t offers = 0;  // routing decisions made by the engine
  std::uint64_t events = 0;
  std::uint64_t left_in_system = 0;  // still waiting/connected at the end
};

// Runs the scenario. With `strategy` set, every queue uses it (comparisons).
SimulationResult simulate(const Scenario& scenario, const StrategyKind* strategy = nullptr);

}  // namespace hotline::routing::sim
