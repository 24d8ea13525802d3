// routing/strategy.h — agent-selection strategies behind one interface.
//
// When an interaction can go to several available agents, the engine asks the
// queue's strategy to rank them. The engine only shows the strategy agents
// that are eligible (status Ready, free capacity on the channel, skills meet
// the requirement), so a strategy can never violate a requirement.
//
// Two fast paths keep the decision path cheap:
//  * `idle_ordered()` strategies (longest idle) want the agent available the
//    longest; the engine walks its per-skill lists, which are kept in
//    availability order, and stops at the first eligible agent.
//  * `ring_all()` strategies get up to QueueConfig::ring_all_max eligible
//    agents in availability order, rung at once.
// Every other strategy is scored over all eligible available agents (O(k) in
// the number of *available* agents with the driving skill, not all agents).
#pragma once

#include <cstdint>
#include <memory>

#include "routing/types.h"

namespace hotline::routing {

// What a strategy may look at for one candidate agent.
struct CandidateView {
  std::uint32_t rank = 0;  // stable per-engine agent index (creation order)
  Time available_since{};  // when the agent last became available on this channel
  int level = 0;           // level in the queue's first required skill (0 if none)
  std::uint32_t handled_today = 0;
  double recent_busy_seconds = 0;  // handle time, exponentially decayed (1 h time constant)
  double fatigue = 0;              // run of long/difficult interactions, decays while idle
  double weight = 1.0;             // AgentConfig::weight
  double random_unit = 1.0;        // uniform in (0,1], from the engine's seeded PRNG
};

struct SelectionContext {
  Time now{};
  std::uint32_t rr_last = 0;      // rank of the agent this queue offered to last
  std::uint32_t agent_slots = 1;  // number of agent ranks ever allocated (ring size)
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual StrategyKind kind() const = 0;
  virtual bool idle_ordered() const { return false; }
  virtual bool ring_all() const { return false; }
  virtual bool needs_random() const { return false; }
  // Higher is better; ties go to the agent available the longest, then to the
  // lower rank, so selection is deterministic.
  virtual double score(const CandidateView& c, const SelectionContext& ctx) const = 0;
};

// The built-in strategies; the returned object lives for the whole program.
const Strategy& builtin_strategy(StrategyKind kind);

// Seconds between two time points as a double.
inline double seconds_between(Time from, Time to) { return std::chrono::duration<double>(to - from).count(); }

}  // namespace hotline::routing
