// One test per strategy: the same situation, where each strategy picks a
// different agent than longest-idle would (or a defined distribution).
#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace hotline::routing::testing {
namespace {

constexpr SkillId kSales = 1;

class StrategyTest : public EngineTest {
 protected:
  void queue_with(StrategyKind k, int ring_all_max = 8) {
    auto q = queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 1}}});
    q.strategy = k;
    q.ring_all_max = ring_all_max;
    q.fatigue_long_handle = Millis(300'000);
    add_queue(q);
  }
  // Agents 1..n, made ready in id order one second apart (agent 1 longest idle).
  void agents(int n, std::vector<int> levels = {}) {
    for (int i = 1; i <= n; ++i) {
      const int lvl = levels.empty() ? 5 : levels[static_cast<std::size_t>(i - 1)];
      add_agent(static_cast<std::uint64_t>(i), {{kSales, lvl}});
    }
    for (int i = 1; i <= n; ++i) {
      ready(static_cast<std::uint64_t>(i));
      advance_s(1);
    }
    take();
  }
  AgentId route(std::uint64_t ix) {
    EXPECT_TRUE(enqueue(ix, 1).ok());
    auto o = offers();
    EXPECT_EQ(o.size(), 1u);
    return o.empty() ? AgentId{} : o[0].agent;
  }
  // Has agent `a` handle an interaction of `seconds`.
  void handle(std::uint64_t ix, std::uint64_t a, int seconds) {
    for (int i = 1; i <= 3; ++i)
      if (static_cast<std::uint64_t>(i) != a) {
        ASSERT_TRUE(engine.set_not_ready(A(i), reason::kBreak, now()).ok());
      }
    ASSERT_TRUE(enqueue(ix, 1).ok());
    ASSERT_TRUE(engine.answered(X(ix), A(a), now()).ok());
    advance_s(seconds);
    ASSERT_TRUE(engine.ended(X(ix), now()).ok());
    for (int i = 1; i <= 3; ++i)
      if (static_cast<std::uint64_t>(i) != a) {
        ASSERT_TRUE(engine.set_ready(A(i), now()).ok());
      }
    take();
  }
};

TEST_F(StrategyTest, LongestIdlePicksEarliestAvailable) {
  queue_with(StrategyKind::kLongestIdle);
  agents(3);
  EXPECT_EQ(route(1), A(1));
  EXPECT_EQ(route(2), A(2));
  complete(1, 1);  // agent 1 is available again, but most recently
  EXPECT_EQ(route(3), A(3));
  EXPECT_EQ(route(4), A(1));
}

TEST_F(StrategyTest, LeastOccupiedPicksLeastRecentHandleTime) {
  queue_with(StrategyKind::kLeastOccupied);
  agents(3);
  handle(10, 1, 600);
  handle(11, 2, 60);
  handle(12, 3, 300);
  EXPECT_EQ(route(1), A(2));
}

TEST_F(StrategyTest, RoundRobinContinuesAfterLastOffered) {
  queue_with(StrategyKind::kRoundRobin);
  agents(3);
  // Ranks are creation order (agent 1 = rank 0). The ring starts after rank 0.
  std::vector<AgentId> got;
  for (std::uint64_t i = 1; i <= 4; ++i) {
    got.push_back(route(i));
    complete(i, raw(got.back()));
  }
  EXPECT_EQ(got, (std::vector<AgentId>{A(2), A(3), A(1), A(2)}));
}

TEST_F(StrategyTest, FewestHandledToday) {
  queue_with(StrategyKind::kFewestHandledToday);
  agents(3);
  handle(10, 1, 10);
  handle(11, 1, 10);
  handle(12, 3, 10);
  handle(13, 2, 10);
  handle(14, 2, 10);
  EXPECT_EQ(route(1), A(3));
  engine.start_new_day();
  EXPECT_EQ(engine.agent(A(1))->handled_today, 0u);
}

TEST_F(StrategyTest, HighestSkillFirst) {
  queue_with(StrategyKind::kHighestSkill);
  agents(3, {3, 9, 6});
  EXPECT_EQ(route(1), A(2));
  EXPECT_EQ(route(2), A(3));
}

TEST_F(StrategyTest, WeightedRandomFollowsWeights) {
  queue_with(StrategyKind::kWeightedRandom);
  AgentConfig a;
  a.id = A(1);
  a.skills = {{kSales, 5}};
  a.weight = 1;
  ASSERT_TRUE(engine.upsert_agent(a, now()).ok());
  a.id = A(2);
  a.weight = 3;
  ASSERT_TRUE(engine.upsert_agent(a, now()).ok());
  ready(1);
  ready(2);
  take();
  int second = 0;
  const int n = 4000;
  for (int i = 1; i <= n; ++i) {
    if (route(static_cast<std::uint64_t>(i)) == A(2)) ++second;
    ASSERT_TRUE(engine.abandoned(X(i), now()).ok());
    take();
  }
  // p = 0.75; 4000 trials -> sd ~ 0.007; allow ~4 sd.
  EXPECT_NEAR(static_cast<double>(second) / n, 0.75, 0.03);
}

TEST_F(StrategyTest, WeightedRandomIsDeterministicForASeed) {
  auto run = [](std::uint64_t seed) {
    common::FakeClock clk;
    EngineOptions o;
    o.seed = seed;
    Engine e(o);
    QueueConfig q;
    q.id = Q(1);
    q.strategy = StrategyKind::kWeightedRandom;
    EXPECT_TRUE(e.upsert_queue(q, clk.now()).ok());
    for (std::uint64_t i = 1; i <= 5; ++i) {
      AgentConfig a;
      a.id = A(i);
      EXPECT_TRUE(e.upsert_agent(a, clk.now()).ok());
      EXPECT_TRUE(e.login(A(i), clk.now()).ok());
      EXPECT_TRUE(e.set_ready(A(i), clk.now()).ok());
    }
    std::vector<std::uint64_t> picks;
    std::vector<Event> ev;
    for (std::uint64_t i = 1; i <= 50; ++i) {
      InteractionSpec s;
      s.id = X(i);
      s.queue = Q(1);
      EXPECT_TRUE(e.enqueue(s, clk.now()).ok());
      ev.clear();
      e.drain(ev);
      for (auto& x : ev)
        if (x.type == EventType::kOffered) picks.push_back(raw(x.agent));
      EXPECT_TRUE(e.abandoned(X(i), clk.now()).ok());
    }
    return picks;
  };
  EXPECT_EQ(run(42), run(42));
  EXPECT_NE(run(42), run(43));
}

TEST_F(StrategyTest, RingAllRingsEveryoneFirstAnswerWins) {
  queue_with(StrategyKind::kRingAll, 2);
  agents(3);
  ASSERT_TRUE(enqueue(1, 1).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 2u);  // capped by ring_all_max, longest idle first
  EXPECT_EQ(o[0].agent, A(1));
  EXPECT_EQ(o[1].agent, A(2));
  ASSERT_TRUE(engine.answered(X(1), A(2), now()).ok());
  auto ev = take();
  auto cancelled = only(ev, EventType::kOfferCancelled);
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].agent, A(1));
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kIdle);
  EXPECT_EQ(engine.agent(A(2))->state, AgentState::kBusy);
  // One agent declining does not requeue while another still rings.
  ASSERT_TRUE(enqueue(2, 1).ok());
  o = offers();
  ASSERT_EQ(o.size(), 2u);
  ASSERT_TRUE(engine.declined(X(2), o[0].agent, now()).ok());
  EXPECT_EQ(engine.interaction(X(2))->phase, Phase::kOffered);
  ASSERT_TRUE(engine.declined(X(2), o[1].agent, now()).ok());
  EXPECT_EQ(engine.interaction(X(2))->phase, Phase::kWaiting);
}

TEST_F(StrategyTest, FatigueAwarePrefersRestedAgent) {
  queue_with(StrategyKind::kFatigueAware);
  agents(2);
  // Agent 1 handles two long calls, agent 2 two short ones.
  for (std::uint64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(engine.set_not_ready(A(2), reason::kBreak, now()).ok());
    ASSERT_TRUE(enqueue(10 + i, 1).ok());
    ASSERT_TRUE(engine.answered(X(10 + i), A(1), now()).ok());
    advance_s(400);
    ASSERT_TRUE(engine.ended(X(10 + i), now()).ok());
    ASSERT_TRUE(engine.set_ready(A(2), now()).ok());
  }
  advance_s(1);
  for (std::uint64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(engine.set_not_ready(A(1), reason::kBreak, now()).ok());
    ASSERT_TRUE(enqueue(20 + i, 1).ok());
    ASSERT_TRUE(engine.answered(X(20 + i), A(2), now()).ok());
    advance_s(30);
    ASSERT_TRUE(engine.ended(X(20 + i), now()).ok());
    ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  }
  take();
  // Agent 1 was available earlier (longest idle), but is fatigued.
  advance_s(60);
  EXPECT_EQ(route(1), A(2));
}

class NewestFirst final : public Strategy {
 public:
  StrategyKind kind() const override { return StrategyKind::kLongestIdle; }
  double score(const CandidateView& c, const SelectionContext&) const override {
    return static_cast<double>(c.rank);
  }
};

TEST_F(StrategyTest, CustomStrategyPlugsIn) {
  queue_with(StrategyKind::kLongestIdle);
  agents(3);
  ASSERT_TRUE(engine.set_custom_strategy(Q(1), std::make_shared<NewestFirst>()).ok());
  EXPECT_EQ(route(1), A(3));
  ASSERT_TRUE(engine.set_custom_strategy(Q(1), nullptr).ok());
  EXPECT_EQ(route(2), A(1));
}

}  // namespace
}  // namespace hotline::routing::testing
