// The dense-handle entry points (engine.h, "the same reports by handle"):
// events carry the handles, reports by handle behave like reports by id,
// and a stale handle — its interaction left routing and the slot may hold
// another one — is rejected without touching anything.
#include <gtest/gtest.h>

#include "engine_fixture.h"
#include "routing/engine.h"

namespace hotline::routing::testing {
namespace {

class HandleTest : public EngineTest {
 protected:
  void SetUp() override {
    add_queue(queue_cfg(1));
    add_agent(1);
    add_agent(2);
    ready(1);
    take();
  }
  // Enqueues `id` and returns its kOffered event (agent 1 is ready).
  Event enqueue_and_offer(std::uint64_t id) {
    InteractionHandle h;
    EXPECT_TRUE(engine.enqueue(spec(id, 1), now(), h).ok());
    auto off = only(take(), EventType::kOffered);
    EXPECT_EQ(off.size(), 1u);
    EXPECT_EQ(off.at(0).handle, h) << "the offer carries the handle enqueue returned";
    return off.at(0);
  }
  // No event came out and the interaction's phase did not change.
  void expect_untouched(std::uint64_t id, Phase phase) {
    EXPECT_EQ(engine.pending_events(), 0u);
    ASSERT_TRUE(engine.interaction(X(id)).ok());
    EXPECT_EQ(engine.interaction(X(id))->phase, phase);
  }
};

TEST_F(HandleTest, EventsCarryTheHandlesOfTheirInteractionAndAgent) {
  InteractionHandle h;
  ASSERT_TRUE(engine.enqueue(spec(100, 1), now(), h).ok());
  ASSERT_TRUE(h.valid());
  EXPECT_EQ(*engine.handle_of(X(100)), h);
  const AgentHandle a1 = *engine.handle_of(A(1));
  for (const Event& e : take()) {
    if (e.interaction == X(100)) {
      EXPECT_EQ(e.handle, h) << to_string(e.type);
    }
    if (e.agent == A(1)) {
      EXPECT_EQ(e.agent_handle, a1) << to_string(e.type);
    }
  }
  EXPECT_NE(*engine.handle_of(A(1)), *engine.handle_of(A(2)));
  EXPECT_EQ(engine.handle_of(X(999)).error().code, "not_found");
  EXPECT_EQ(engine.handle_of(A(999)).error().code, "not_found");
}

TEST_F(HandleTest, ReportsByHandleRunTheWholeLifecycle) {
  auto q = queue_cfg(1);
  q.wrap_up = Millis(30'000);
  add_queue(q);
  const Event off = enqueue_and_offer(100);
  ASSERT_TRUE(engine.answered(off.handle, off.agent_handle, now()).ok());
  EXPECT_EQ(engine.interaction(X(100))->phase, Phase::kConnected);
  ASSERT_TRUE(engine.ended(off.handle, now()).ok());
  EXPECT_EQ(engine.interaction(X(100))->phase, Phase::kWrapUp);
  ASSERT_TRUE(engine.wrap_up_done(off.handle, now()).ok());
  EXPECT_FALSE(engine.interaction(X(100)).ok());
  const auto ev = take();
  EXPECT_EQ(only(ev, EventType::kAnswered).size(), 1u);
  EXPECT_EQ(only(ev, EventType::kEnded).size(), 1u);
  EXPECT_EQ(only(ev, EventType::kWrapUpEnded).size(), 1u);
}

TEST_F(HandleTest, DeclineNoAnswerAndAbandonByHandle) {
  ready(2);
  Event off = enqueue_and_offer(100);
  ASSERT_TRUE(engine.declined(off.handle, off.agent_handle, now()).ok());
  auto again = only(take(), EventType::kOffered);  // the other agent gets it
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].handle, off.handle) << "a requeue keeps the handle";
  ASSERT_TRUE(engine.no_answer(again[0].handle, again[0].agent_handle, now()).ok());
  take();
  ASSERT_TRUE(engine.abandoned(off.handle, now()).ok());
  EXPECT_FALSE(engine.interaction(X(100)).ok());
  EXPECT_EQ(only(take(), EventType::kAbandoned).size(), 1u);
}

TEST_F(HandleTest, WrongAgentHandleIsAConflictLikeWrongAgentId) {
  const Event off = enqueue_and_offer(100);
  const AgentHandle other = *engine.handle_of(A(2));
  EXPECT_EQ(engine.answered(off.handle, other, now()).error().code, "conflict");
  EXPECT_EQ(engine.answered(X(100), A(2), now()).error().code, "conflict");
  expect_untouched(100, Phase::kOffered);
}

// The slot of a finished interaction is reused by the next one with a new
// generation; every report through the old handle is refused and the new
// interaction is not touched.
TEST_F(HandleTest, StaleHandleIsRejectedAndNeverTouchesTheSlotsNextOccupant) {
  const Event first = enqueue_and_offer(100);
  complete(100, 1);
  take();
  const Event second = enqueue_and_offer(200);
  ASSERT_EQ(second.handle.slot, first.handle.slot) << "the freed slot is reused";
  ASSERT_NE(second.handle.gen, first.handle.gen);
  const InteractionHandle stale = first.handle;
  const AgentHandle a1 = first.agent_handle;
  for (const auto& st : {engine.answered(stale, a1, now()), engine.declined(stale, a1, now()),
                         engine.no_answer(stale, a1, now()), engine.abandoned(stale, now()),
                         engine.ended(stale, now()), engine.wrap_up_done(stale, now())}) {
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, "not_found");
    EXPECT_NE(st.error().message.find("stale"), std::string::npos) << st.error().message;
  }
  expect_untouched(200, Phase::kOffered);
  // The live handle still works.
  ASSERT_TRUE(engine.answered(second.handle, second.agent_handle, now()).ok());
}

TEST_F(HandleTest, HandlesOutsideTheArraysAreRejected) {
  enqueue_and_offer(100);
  const InteractionHandle bogus{12345, 0};
  const AgentHandle nobody{777};
  EXPECT_EQ(engine.ended(bogus, now()).error().code, "not_found");
  EXPECT_EQ(engine.ended(InteractionHandle{}, now()).error().code, "not_found");
  EXPECT_EQ(engine.answered(*engine.handle_of(X(100)), nobody, now()).error().code, "not_found");
  expect_untouched(100, Phase::kOffered);
}

TEST_F(HandleTest, RemovedAgentsHandleIsStaleEvenAfterTheIdReturns) {
  const AgentHandle old = *engine.handle_of(A(2));
  ASSERT_TRUE(engine.remove_agent(A(2)).ok());
  add_agent(2);
  ready(2);
  EXPECT_NE(*engine.handle_of(A(2)), old) << "a re-added agent gets a new slot";
  const Event off = enqueue_and_offer(100);  // agent 1 has waited longer
  ASSERT_EQ(off.agent, A(1));
  ASSERT_TRUE(engine.answered(off.handle, off.agent_handle, now()).ok());
  take();
  InteractionHandle h;
  ASSERT_TRUE(engine.enqueue(spec(101, 1), now(), h).ok());
  auto to2 = only(take(), EventType::kOffered);
  ASSERT_EQ(to2.size(), 1u);
  ASSERT_EQ(to2[0].agent, A(2));
  EXPECT_EQ(engine.answered(h, old, now()).error().code, "not_found");
  expect_untouched(101, Phase::kOffered);
}

TEST_F(HandleTest, EnqueueLeavesTheHandleUnsetWhenTheInteractionNeverQueued) {
  auto q = queue_cfg(2);
  q.max_length = 1;
  add_queue(q);
  ASSERT_TRUE(engine.set_not_ready(A(1), reason::kBreak, now()).ok());  // staffed, nobody ready
  InteractionHandle waiting, full;
  ASSERT_EQ(*engine.enqueue(spec(301, 2), now(), waiting), EnqueueOutcome::kQueued);
  EXPECT_TRUE(waiting.valid());
  ASSERT_EQ(*engine.enqueue(spec(302, 2), now(), full), EnqueueOutcome::kQueueFull);
  EXPECT_FALSE(full.valid());
  for (const Event& e : only(take(), EventType::kRejected)) EXPECT_FALSE(e.handle.valid());
}

}  // namespace
}  // namespace hotline::routing::testing
