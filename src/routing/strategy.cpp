#include "routing/strategy.h"

#include <cmath>

namespace hotline::routing {
namespace {

class LongestIdle final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kLongestIdle; }
  bool idle_ordered() const override { return true; }
  double score(const CandidateView& c, const SelectionContext& ctx) const override {
    return seconds_between(c.available_since, ctx.now);
  }
};

// Least recent handle time: the agent who spent the least time handling
// interactions recently (decayed busy seconds) goes first.
class LeastOccupied final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kLeastOccupied; }
  double score(const CandidateView& c, const SelectionContext&) const override {
    return -c.recent_busy_seconds;
  }
};

// Round robin with memory: the next agent (by rank) after the one this queue
// offered to last, wrapping around.
class RoundRobin final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kRoundRobin; }
  double score(const CandidateView& c, const SelectionContext& ctx) const override {
    const std::uint64_t n = ctx.agent_slots == 0 ? 1 : ctx.agent_slots;
    const std::uint64_t distance = (static_cast<std::uint64_t>(c.rank) + n - ctx.rr_last - 1) % n;
    return -static_cast<double>(distance);
  }
};

class FewestHandled final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kFewestHandledToday; }
  double score(const CandidateView& c, const SelectionContext&) const override {
    return -static_cast<double>(c.handled_today);
  }
};

class HighestSkill final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kHighestSkill; }
  double score(const CandidateView& c, const SelectionContext&) const override { return c.level; }
};

// Weighted random without replacement (Efraimidis–Spirakis): key = ln(u)/w;
// the largest key wins, which picks agent i with probability w_i / sum(w).
class WeightedRandom final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kWeightedRandom; }
  bool needs_random() const override { return true; }
  double score(const CandidateView& c, const SelectionContext&) const override {
    const double w = c.weight > 0 ? c.weight : 1e-9;
    return std::log(c.random_unit) / w;
  }
};

class RingAll final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kRingAll; }
  bool ring_all() const override { return true; }
  double score(const CandidateView& c, const SelectionContext& ctx) const override {
    return seconds_between(c.available_since, ctx.now);
  }
};

// Longest idle, but an agent's idle time counts for less after a run of long
// or difficult interactions: score = idle / (1 + fatigue).
class FatigueAware final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kFatigueAware; }
  double score(const CandidateView& c, const SelectionContext& ctx) const override {
    return seconds_between(c.available_since, ctx.now) / (1.0 + c.fatigue);
  }
};

}  // namespace

const Strategy& builtin_strategy(StrategyKind kind) {
  static const LongestIdle longest_idle;
  static const LeastOccupied least_occupied;
  static const RoundRobin round_robin;
  static const FewestHandled fewest_handled;
  static const HighestSkill highest_skill;
  static const WeightedRandom weighted_random;
  static const RingAll ring_all;
  static const FatigueAware fatigue_aware;
  switch (kind) {
    case StrategyKind::kLongestIdle:
      return longest_idle;
    case StrategyKind::kLeastOccupied:
      return least_occupied;
    case StrategyKind::kRoundRobin:
      return round_robin;
    case StrategyKind::kFewestHandledToday:
      return fewest_handled;
    case StrategyKind::kHighestSkill:
      return highest_skill;
    case StrategyKind::kWeightedRandom:
      return weighted_random;
    case StrategyKind::kRingAll:
      return ring_all;
    case StrategyKind::kFatigueAware:
      return fatigue_aware;
  }
  return longest_idle;
}

}  // namespace hotline::routing
