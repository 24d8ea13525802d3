// Metrics on hand-built event sequences (numbers worked out by hand in the
// comments), plus one log produced by the real engine.
#include "routing/metrics.h"

#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace hotline::routing {
namespace {

using testing::A;
using testing::Q;
using testing::X;

class LogBuilder {
 public:
  Time at(double s) const {
    return t0_ + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
  }
  Event& add(EventType type, double t, std::uint64_t agent = 0, std::uint64_t ix = 0, double arrival = 0) {
    Event& e = log.emplace_back();
    e.seq = log.size();
    e.type = type;
    e.time = at(t);
    e.agent = A(agent);
    e.interaction = X(ix);
    e.queue = Q(1);
    e.arrival = at(arrival);
    return e;
  }
  void state(double t, std::uint64_t agent, AgentState s) {
    add(EventType::kAgentStateChanged, t, agent).value = static_cast<std::uint8_t>(s);
  }
  std::vector<Event> log;

 private:
  Time t0_ = common::FakeClock().now();
};

// Queue 1 (T = 20 s, short abandon 5 s), agent 1:
//  ix1 arrives 10, rings 10-15, talk 15-75 with hold 30-40, wrap 75-85.
//  ix2 arrives 20, abandons 22 (short). ix3 arrives 30, abandons 60.
//  ix4 arrives 40, rings 85-90, talk 90-150, wrap 150-160.
//  ix5 arrives 170, still waiting at 200. Agent on break from 180.
LogBuilder scenario() {
  LogBuilder b;
  b.add(EventType::kAgentLoggedIn, 0, 1);
  b.add(EventType::kAgentReady, 0, 1);
  b.add(EventType::kEnqueued, 10, 0, 1, 10);
  b.add(EventType::kOffered, 10, 1, 1, 10);
  b.state(10, 1, AgentState::kRinging);
  b.add(EventType::kAnswered, 15, 1, 1, 10);
  b.state(15, 1, AgentState::kBusy);
  b.add(EventType::kEnqueued, 20, 0, 2, 20);
  b.add(EventType::kAbandoned, 22, 0, 2, 20);
  b.add(EventType::kEnqueued, 30, 0, 3, 30);
  b.add(EventType::kHoldStarted, 30, 1, 1, 10);
  b.add(EventType::kHoldEnded, 40, 1, 1, 10);
  b.add(EventType::kEnqueued, 40, 0, 4, 40);
  b.add(EventType::kAbandoned, 60, 0, 3, 30);
  b.add(EventType::kEnded, 75, 1, 1, 10);
  b.state(75, 1, AgentState::kWrapUp);
  b.add(EventType::kWrapUpEnded, 85, 1, 1, 10);
  b.state(85, 1, AgentState::kIdle);
  b.add(EventType::kOffered, 85, 1, 4, 40);
  b.state(85, 1, AgentState::kRinging);
  b.add(EventType::kAnswered, 90, 1, 4, 40);
  b.state(90, 1, AgentState::kBusy);
  b.add(EventType::kEnded, 150, 1, 4, 40);
  b.state(150, 1, AgentState::kWrapUp);
  b.add(EventType::kWrapUpEnded, 160, 1, 4, 40);
  b.state(160, 1, AgentState::kIdle);
  b.add(EventType::kEnqueued, 170, 0, 5, 170);
  b.add(EventType::kAgentNotReady, 180, 1).reason = reason::kBreak;
  return b;
}

TEST(Metrics, WholeInterval) {
  LogBuilder b = scenario();
  MetricsReport r = compute_metrics(b.log, b.at(0), b.at(200));
  const QueueMetrics* q = r.queue(Q(1));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->offered, 5u);
  EXPECT_EQ(q->answered, 2u);
  EXPECT_EQ(q->answered_within_threshold, 1u);  // ix1 waited 5 s, ix4 50 s
  EXPECT_EQ(q->abandoned, 2u);
  EXPECT_EQ(q->short_abandoned, 1u);
  EXPECT_DOUBLE_EQ(q->service_level_answered, 0.5);
  EXPECT_DOUBLE_EQ(q->service_level_abandoned, 1.0 / 3.0);  // 1 / (2 + 2 - 1)
  EXPECT_DOUBLE_EQ(q->asa_seconds, 27.5);                   // (5 + 50) / 2
  EXPECT_EQ(q->handled, 2u);
  EXPECT_DOUBLE_EQ(q->avg_talk_seconds, 55.0);  // (50 + 60) / 2, hold excluded
  EXPECT_DOUBLE_EQ(q->avg_hold_seconds, 5.0);
  EXPECT_DOUBLE_EQ(q->avg_wrap_seconds, 10.0);
  EXPECT_DOUBLE_EQ(q->aht_seconds, 70.0);
  EXPECT_DOUBLE_EQ(q->avg_abandon_wait_seconds, 16.0);  // (2 + 30) / 2
  EXPECT_EQ(q->waiting_at_end, 1u);
  EXPECT_EQ(q->longest_current_wait, Duration(std::chrono::seconds(30)));

  const AgentMetrics* a = r.agent(A(1));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->offered, 2u);
  EXPECT_EQ(a->answered, 2u);
  EXPECT_DOUBLE_EQ(a->answer_rate, 1.0);
  EXPECT_DOUBLE_EQ(a->logged_in_seconds, 200.0);
  EXPECT_DOUBLE_EQ(a->handling_seconds, 140.0);  // 60 + 10 + 60 + 10
  EXPECT_DOUBLE_EQ(a->ringing_seconds, 10.0);
  EXPECT_DOUBLE_EQ(a->available_seconds, 30.0);  // 0-10 and 160-180
  EXPECT_DOUBLE_EQ(a->occupancy, 140.0 / 180.0);
  EXPECT_DOUBLE_EQ(a->utilization, 0.7);
  EXPECT_DOUBLE_EQ(a->aht_seconds, 70.0);
  EXPECT_EQ(r.total.offered, 5u);
  EXPECT_DOUBLE_EQ(r.total.asa_seconds, 27.5);
}

TEST(Metrics, SubIntervalClipsTimeAndCountsEventsInside) {
  LogBuilder b = scenario();
  MetricsReport r = compute_metrics(b.log, b.at(50), b.at(100));
  const QueueMetrics* q = r.queue(Q(1));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->offered, 0u);
  EXPECT_EQ(q->answered, 1u);  // ix4 at 90
  EXPECT_EQ(q->answered_within_threshold, 0u);
  EXPECT_DOUBLE_EQ(q->service_level_answered, 0.0);
  EXPECT_EQ(q->abandoned, 1u);  // ix3 at 60
  EXPECT_EQ(q->short_abandoned, 0u);
  EXPECT_EQ(q->handled, 1u);  // ix1 wrap ended at 85
  EXPECT_DOUBLE_EQ(q->aht_seconds, 70.0);
  EXPECT_EQ(q->waiting_at_end, 0u);
  const AgentMetrics* a = r.agent(A(1));
  ASSERT_NE(a, nullptr);
  EXPECT_DOUBLE_EQ(a->logged_in_seconds, 50.0);
  EXPECT_DOUBLE_EQ(a->handling_seconds, 45.0);  // busy 50-75, wrap 75-85, busy 90-100
  EXPECT_DOUBLE_EQ(a->ringing_seconds, 5.0);
  EXPECT_DOUBLE_EQ(a->occupancy, 0.9);
}

TEST(Metrics, LiveViewAtAnEarlierNow) {
  LogBuilder b = scenario();
  // "Live" at t = 50: ix3 (since 30) and ix4 (since 40) are waiting.
  MetricsReport r = compute_metrics(b.log, b.at(0), b.at(50));
  const QueueMetrics* q = r.queue(Q(1));
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->waiting_at_end, 2u);
  EXPECT_EQ(q->longest_current_wait, Duration(std::chrono::seconds(20)));
  EXPECT_EQ(q->answered, 1u);
}

TEST(Metrics, PerQueueThresholdsAndIncludingAbandonsVariant) {
  LogBuilder b = scenario();
  MetricsOptions o;
  o.per_queue[1] = {Millis(60'000), Millis(1'000)};
  MetricsReport r = compute_metrics(b.log, b.at(0), b.at(200), o);
  const QueueMetrics* q = r.queue(Q(1));
  EXPECT_EQ(q->answered_within_threshold, 2u);
  EXPECT_EQ(q->short_abandoned, 0u);
  EXPECT_DOUBLE_EQ(q->service_level_abandoned, 0.5);  // 2 / (2 + 2)
}

TEST(Metrics, EmptyLogGivesZeros) {
  std::vector<Event> none;
  const Time t = common::FakeClock().now();
  MetricsReport r = compute_metrics(none, t, t + Millis(1000));
  EXPECT_TRUE(r.queues.empty());
  EXPECT_TRUE(r.agents.empty());
  EXPECT_EQ(r.total.offered, 0u);
  EXPECT_DOUBLE_EQ(r.total.service_level_answered, 0.0);
}

class MetricsFromEngine : public testing::EngineTest {};

TEST_F(MetricsFromEngine, EngineLogGivesExpectedNumbers) {
  auto q = queue_cfg(1);
  q.wrap_up = Millis(5'000);
  add_queue(q);
  add_agent(1);
  const Time start = now();
  ready(1);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(enqueue(i, 1).ok());
    advance_s(10);
    ASSERT_TRUE(engine.answered(X(i), A(1), now()).ok());
    advance_s(60);
    ASSERT_TRUE(engine.ended(X(i), now()).ok());
    advance_s(5);  // wrap-up ends by timer
  }
  take();
  auto r = compute_metrics(log, start, now() + Millis(1));
  const QueueMetrics* m = r.queue(Q(1));
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->offered, 3u);
  EXPECT_EQ(m->answered, 3u);
  EXPECT_EQ(m->handled, 3u);
  EXPECT_DOUBLE_EQ(m->asa_seconds, 10.0);
  EXPECT_DOUBLE_EQ(m->aht_seconds, 65.0);
  EXPECT_DOUBLE_EQ(m->service_level_answered, 1.0);
  const AgentMetrics* a = r.agent(A(1));
  ASSERT_NE(a, nullptr);
  EXPECT_NEAR(a->handling_seconds, 195.0, 1e-9);
  EXPECT_NEAR(a->ringing_seconds, 30.0, 1e-9);
  EXPECT_NEAR(a->occupancy, 195.0 / 225.001, 1e-6);
}

}  // namespace
}  // namespace hotline::routing
