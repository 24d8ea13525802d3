// Engine behaviour, one rule per test. Time comes from a FakeClock only.
#include "routing/engine.h"

#include <gtest/gtest.h>

#include <map>

#include "engine_fixture.h"

namespace hotline::routing::testing {
namespace {

constexpr SkillId kSales = 1, kSupport = 2, kFrench = 3, kRegionEu = 9;

TEST_F(EngineTest, OfferAnswerEndWrapUpLifecycle) {
  auto q = queue_cfg(1);
  q.wrap_up = Millis(30'000);
  add_queue(q);
  add_agent(1);
  ready(1);
  take();
  ASSERT_EQ(*enqueue(100, 1), EnqueueOutcome::kQueued);
  auto ev = take();
  ASSERT_EQ(only(ev, EventType::kEnqueued).size(), 1u);
  auto off = only(ev, EventType::kOffered);
  ASSERT_EQ(off.size(), 1u);
  EXPECT_EQ(off[0].agent, A(1));
  EXPECT_EQ(off[0].interaction, X(100));
  EXPECT_EQ(off[0].deadline, now() + Millis(15'000));
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kRinging);

  advance_s(3);
  ASSERT_TRUE(engine.answered(X(100), A(1), now()).ok());
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kBusy);
  EXPECT_EQ(engine.interaction(X(100))->phase, Phase::kConnected);
  advance_s(60);
  ASSERT_TRUE(engine.ended(X(100), now()).ok());
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kWrapUp);
  auto ended = only(take(), EventType::kEnded);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].deadline, now() + Millis(30'000));
  ASSERT_TRUE(engine.next_deadline().has_value());

  advance_s(29);
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kWrapUp);
  advance_s(1);
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kIdle);
  EXPECT_EQ(only(take(), EventType::kWrapUpEnded).size(), 1u);
  EXPECT_EQ(engine.live_interaction_count(), 0u);
  EXPECT_EQ(engine.agent(A(1))->handled_today, 1u);
}

TEST_F(EngineTest, WrapUpDoneEarlyFreesAgent) {
  auto q = queue_cfg(1);
  q.wrap_up = Millis(60'000);
  add_queue(q);
  add_agent(1);
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  complete(1, 1);
  take();
  ASSERT_TRUE(engine.enqueue(spec(2, 1), now()).ok());
  EXPECT_TRUE(offers().empty());  // agent in wrap-up
  ASSERT_TRUE(engine.wrap_up_done(X(1), now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(2));
  EXPECT_FALSE(engine.wrap_up_done(X(1), now()).ok());
}

TEST_F(EngineTest, WaitsUntilAgentReady) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  EXPECT_TRUE(offers().empty());
  EXPECT_EQ(engine.queue(Q(1), now())->waiting, 1u);
  advance_s(10);
  EXPECT_EQ(engine.queue(Q(1), now())->longest_wait, Duration(std::chrono::seconds(10)));
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  ASSERT_EQ(offers().size(), 1u);
  EXPECT_EQ(engine.queue(Q(1), now())->waiting, 0u);
}

TEST_F(EngineTest, PriorityFirstThenFifo) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1, 0).ok());
  advance_s(1);
  ASSERT_TRUE(enqueue(2, 1, 0).ok());
  advance_s(1);
  ASSERT_TRUE(enqueue(3, 1, 5).ok());  // VIP, arrived last
  advance_s(1);
  ASSERT_TRUE(enqueue(4, 1, 0).ok());
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  std::vector<InteractionId> order;
  for (int i = 0; i < 4; ++i) {
    auto o = offers();
    ASSERT_EQ(o.size(), 1u);
    order.push_back(o[0].interaction);
    complete(raw(o[0].interaction), 1);
  }
  EXPECT_EQ(order, (std::vector<InteractionId>{X(3), X(1), X(2), X(4)}));
}

TEST_F(EngineTest, SkillRequirementAllWithLevels) {
  add_queue(queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 5}, {kFrench, 1}}}));
  add_agent(1, {{kSales, 9}});                // no French
  add_agent(2, {{kSales, 4}, {kFrench, 3}});  // level too low
  add_agent(3, {{kSales, 5}, {kFrench, 1}});  // exactly enough
  ready(1);
  ready(2);
  ready(3);
  ASSERT_TRUE(enqueue(1, 1).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].agent, A(3));
}

TEST_F(EngineTest, SkillRequirementAny) {
  add_queue(queue_cfg(1, Requirement{MatchMode::kAny, {{kSales, 5}, {kSupport, 5}}}));
  add_agent(1, {{kSales, 2}});
  add_agent(2, {{kSupport, 7}});
  ready(1);
  ready(2);
  ASSERT_TRUE(enqueue(1, 1).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].agent, A(2));
  ASSERT_TRUE(enqueue(2, 1).ok());
  EXPECT_TRUE(offers().empty());  // agent 1 does not qualify
}

TEST_F(EngineTest, InteractionRequiredSkillsAndAttributeRules) {
  auto q = queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 1}}});
  q.attribute_rules.push_back(AttributeRule{"region", "EU", {kRegionEu, 1}});
  add_queue(q);
  add_agent(1, {{kSales, 5}});
  add_agent(2, {{kSales, 5}, {kRegionEu, 1}, {kFrench, 2}});
  ready(1);
  ready(2);
  take();
  // Longest idle would pick agent 1, but the region rule requires agent 2.
  InteractionSpec eu = spec(1, 1);
  eu.attributes.push_back({"region", "EU"});
  ASSERT_TRUE(engine.enqueue(eu, now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].agent, A(2));
  InteractionSpec fr = spec(2, 1);
  fr.required_skills.push_back({kFrench, 3});
  ASSERT_TRUE(engine.enqueue(fr, now()).ok());
  EXPECT_TRUE(offers().empty());  // agent 2 has French 2 only
}

TEST_F(EngineTest, RingTimeoutRequeuesAtHeadWithOriginalArrivalAndMissedAfterN) {
  auto q = queue_cfg(1);
  q.ring_timeout = Millis(10'000);
  q.max_consecutive_misses = 2;
  add_queue(q);
  add_agent(1);
  add_agent(2);
  ready(1);
  advance_s(1);
  ready(2);
  ASSERT_TRUE(enqueue(1, 1).ok());
  const Time arrival = now();
  auto o = offers();
  ASSERT_EQ(o[0].agent, A(1));  // longest idle
  advance_s(2);
  ASSERT_TRUE(enqueue(2, 1).ok());  // goes to agent 2
  ASSERT_EQ(offers()[0].agent, A(2));
  advance_s(8);  // ring timeout of interaction 1
  auto ev = take();
  auto cancelled = only(ev, EventType::kOfferCancelled);
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].agent, A(1));
  EXPECT_EQ(only(ev, EventType::kNoAnswer).size(), 1u);
  ASSERT_EQ(only(ev, EventType::kRequeued).size(), 1u);
  auto snap = engine.interaction(X(1));
  EXPECT_EQ(snap->phase, Phase::kWaiting);
  EXPECT_EQ(snap->arrival, arrival);
  EXPECT_EQ(engine.agent(A(1))->consecutive_misses, 1);
  // A newer call must not overtake the requeued one when agent 2 frees up.
  // Agent 1 let interaction 1 ring out, so it is not offered 1 again right
  // away, but it is free for a new interaction.
  ASSERT_TRUE(enqueue(3, 1).ok());
  EXPECT_EQ(engine.interaction(X(3))->ringing, std::vector<AgentId>{A(1)});
  take();
  complete(2, 2);
  auto next = offers();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].interaction, X(1));
  EXPECT_EQ(next[0].agent, A(2));
  advance_s(10);  // agent 1 misses again -> not ready (missed)
  auto a1 = engine.agent(A(1));
  EXPECT_EQ(a1->status, AgentStatus::kNotReady);
  EXPECT_EQ(a1->reason, reason::kMissed);
}

TEST_F(EngineTest, DeclinedAgentIsNotOfferedSameInteractionDuringBackoff) {
  add_queue(queue_cfg(1));
  add_agent(1);
  add_agent(2);
  ready(1);
  advance_s(1);
  ready(2);
  ASSERT_TRUE(engine.login(A(2), now()).ok() == false);  // already logged in
  ASSERT_TRUE(engine.set_not_ready(A(2), reason::kBreak, now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_EQ(offers()[0].agent, A(1));
  ASSERT_TRUE(engine.declined(X(1), A(1), now()).ok());
  EXPECT_TRUE(offers().empty());  // agent 1 declined, agent 2 on break
  ASSERT_TRUE(engine.set_ready(A(2), now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].agent, A(2));
  ASSERT_TRUE(engine.declined(X(1), A(2), now()).ok());
  EXPECT_TRUE(offers().empty());
  advance_s(15);  // backoff over: offered again
  EXPECT_EQ(offers().size(), 1u);
  EXPECT_EQ(engine.declined(X(99), A(1), now()).error().code, "not_found");
}

TEST_F(EngineTest, AbandonWhileWaitingAndWhileRinging) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_TRUE(engine.abandoned(X(1), now()).ok());
  EXPECT_EQ(engine.queue(Q(1), now())->waiting, 0u);
  EXPECT_EQ(only(take(), EventType::kAbandoned).size(), 1u);
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  ASSERT_TRUE(enqueue(2, 1).ok());
  ASSERT_EQ(offers().size(), 1u);
  ASSERT_TRUE(engine.abandoned(X(2), now()).ok());
  auto ev = take();
  EXPECT_EQ(only(ev, EventType::kOfferCancelled).size(), 1u);
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kIdle);
  EXPECT_FALSE(engine.abandoned(X(2), now()).ok());
}

TEST_F(EngineTest, MaxWaitRemovesWithDisposition) {
  auto q = queue_cfg(1);
  q.max_wait = Millis(60'000);
  q.max_wait_disposition = Disposition::kVoicemail;
  add_queue(q);
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  advance_s(59);
  EXPECT_EQ(engine.queue(Q(1), now())->waiting, 1u);
  advance_s(1);
  auto removed = only(take(), EventType::kRemoved);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].disposition, Disposition::kVoicemail);
  EXPECT_FALSE(engine.interaction(X(1)).ok());
}

TEST_F(EngineTest, MaxLengthRejectsWhenFull) {
  auto q = queue_cfg(1);
  q.max_length = 2;
  add_queue(q);
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  EXPECT_EQ(*enqueue(1, 1), EnqueueOutcome::kQueued);
  EXPECT_EQ(*enqueue(2, 1), EnqueueOutcome::kQueued);
  EXPECT_EQ(*enqueue(3, 1), EnqueueOutcome::kQueueFull);
  auto rej = only(take(), EventType::kRejected);
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].disposition, Disposition::kQueueFull);
  EXPECT_EQ(engine.live_interaction_count(), 2u);
}

TEST_F(EngineTest, NoAgentsPolicies) {
  auto reject = queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 1}}});
  reject.no_agents = NoAgentsPolicy::kReject;
  add_queue(reject);
  auto redirect = queue_cfg(2, Requirement{MatchMode::kAll, {{kSupport, 1}}});
  redirect.no_agents = NoAgentsPolicy::kRedirect;
  redirect.no_agents_redirect = Q(3);
  add_queue(redirect);
  add_queue(queue_cfg(3));
  add_agent(1, {{kSales, 1}});  // logged out for now
  EXPECT_EQ(*enqueue(1, 1), EnqueueOutcome::kNoAgents);
  ready(1);
  EXPECT_EQ(*enqueue(2, 1), EnqueueOutcome::kQueued);
  EXPECT_EQ(*enqueue(3, 2), EnqueueOutcome::kRedirected);
  EXPECT_EQ(engine.interaction(X(3))->queue, Q(3));
}

TEST_F(EngineTest, NoAgentsRejectAppliesWhenLastAgentLogsOut) {
  auto q = queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 1}}});
  q.no_agents = NoAgentsPolicy::kReject;
  add_queue(q);
  add_agent(1, {{kSales, 1}});
  add_agent(2, {{kSales, 1}});
  ASSERT_TRUE(engine.login(A(1), now()).ok());  // logged in, not ready: calls wait
  ASSERT_TRUE(engine.login(A(2), now()).ok());
  ASSERT_EQ(*enqueue(1, 1), EnqueueOutcome::kQueued);
  ASSERT_EQ(*enqueue(2, 1), EnqueueOutcome::kQueued);
  ASSERT_TRUE(engine.convert_to_callback(X(2), now()).ok());
  ASSERT_TRUE(engine.set_ready(A(2), now()).ok());  // takes 1, 2 still waits
  ASSERT_EQ(*enqueue(3, 1), EnqueueOutcome::kQueued);
  take();
  // One agent left: nothing changes.
  ASSERT_TRUE(engine.logout(A(1), now()).ok());
  EXPECT_TRUE(only(take(), EventType::kRemoved).empty());
  EXPECT_EQ(engine.queue(Q(1), now())->staffed, 1u);
  // The last agent leaves while 1 rings it and 3 waits: both leave routing
  // as "no agents"; the callback (caller not on the line) keeps waiting.
  ASSERT_TRUE(engine.logout(A(2), now()).ok());
  auto removed = only(take(), EventType::kRemoved);
  ASSERT_EQ(removed.size(), 2u);
  for (const Event& e : removed) EXPECT_EQ(e.disposition, Disposition::kNoAgents);
  EXPECT_EQ(removed[0].interaction, X(1));  // queue order: earliest first
  EXPECT_EQ(removed[1].interaction, X(3));
  EXPECT_FALSE(engine.interaction(X(1)).ok());
  EXPECT_FALSE(engine.interaction(X(3)).ok());
  EXPECT_EQ(engine.interaction(X(2))->phase, Phase::kWaiting);
  // A new arrival is rejected as before.
  EXPECT_EQ(*enqueue(4, 1), EnqueueOutcome::kNoAgents);
}

TEST_F(EngineTest, NoAgentsRedirectMovesWaitingKeepingArrival) {
  auto q = queue_cfg(1, Requirement{MatchMode::kAll, {{kSupport, 1}}});
  q.no_agents = NoAgentsPolicy::kRedirect;
  q.no_agents_redirect = Q(2);
  add_queue(q);
  add_queue(queue_cfg(2, Requirement{MatchMode::kAll, {{kSales, 1}}}));
  add_agent(1, {{kSupport, 1}});
  add_agent(2, {{kSales, 1}});
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_EQ(*enqueue(1, 1), EnqueueOutcome::kQueued);
  const Time arrival = now();
  advance_s(30);
  ASSERT_EQ(*enqueue(2, 1), EnqueueOutcome::kQueued);
  take();
  ASSERT_TRUE(engine.logout(A(1), now()).ok());
  auto moved = only(take(), EventType::kRequeued);
  ASSERT_EQ(moved.size(), 2u);
  for (const Event& e : moved) {
    EXPECT_EQ(e.disposition, Disposition::kTransferred);
    EXPECT_EQ(e.queue, Q(2));
  }
  EXPECT_EQ(engine.interaction(X(1))->queue, Q(2));
  EXPECT_EQ(engine.interaction(X(1))->arrival, arrival);
  EXPECT_EQ(engine.queue(Q(1), now())->waiting, 0u);
  EXPECT_EQ(engine.queue(Q(2), now())->waiting, 2u);
  // The redirect queue's agent takes them in their original order.
  ready(2);
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(1));
}

TEST_F(EngineTest, NoAgentsPolicyAppliesWhenASkillChangeLeavesQueueUnstaffed) {
  auto q = queue_cfg(1, Requirement{MatchMode::kAll, {{kFrench, 1}}});
  q.no_agents = NoAgentsPolicy::kReject;
  add_queue(q);
  add_agent(1, {{kFrench, 2}});
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_EQ(*enqueue(1, 1), EnqueueOutcome::kQueued);
  take();
  add_agent(1, {{kSales, 2}});  // no longer speaks French
  auto removed = only(take(), EventType::kRemoved);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].disposition, Disposition::kNoAgents);
}

TEST_F(EngineTest, QueueAnywayKeepsWaitingWhenLastAgentLogsOut) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_TRUE(engine.logout(A(1), now()).ok());
  EXPECT_TRUE(only(take(), EventType::kRemoved).empty());
  EXPECT_EQ(engine.interaction(X(1))->phase, Phase::kWaiting);
}

TEST_F(EngineTest, OverflowStepsApplyAtTheirTimes) {
  auto general = queue_cfg(2);
  add_queue(general);
  auto q = queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 8}}});
  q.overflow.push_back(
      {Millis(30'000), OverflowStep::Action::kRelax, Requirement{MatchMode::kAll, {{kSales, 3}}}, {}});
  q.overflow.push_back({Millis(60'000), OverflowStep::Action::kAddQueue, {}, Q(2)});
  q.overflow.push_back({Millis(120'000), OverflowStep::Action::kOfferCallback, {}, {}});
  add_queue(q);
  add_agent(1, {{kSales, 3}});
  add_agent(2, {});  // general only
  ready(1);
  ready(2);
  ASSERT_TRUE(engine.set_not_ready(A(1), reason::kBreak, now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_TRUE(enqueue(2, 1).ok());
  EXPECT_TRUE(offers().empty());
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  EXPECT_TRUE(offers().empty());  // level 3 < 8
  advance_s(29);
  EXPECT_TRUE(offers().empty());
  advance_s(1);  // relax step at 30 s
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(1));
  EXPECT_EQ(o[0].agent, A(1));
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());
  EXPECT_EQ(engine.interaction(X(2))->overflow_steps_applied, 1);
  advance_s(30);  // add-queue step at 60 s: agent 2 (general) takes interaction 2
  o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(2));
  EXPECT_EQ(o[0].agent, A(2));
  // A third interaction reaches the callback step while all agents are busy.
  ASSERT_TRUE(engine.answered(X(2), A(2), now()).ok());
  ASSERT_TRUE(enqueue(3, 1).ok());
  advance_s(119);
  EXPECT_TRUE(only(take(), EventType::kCallbackOffer).empty());
  advance_s(1);
  auto cb = only(take(), EventType::kCallbackOffer);
  ASSERT_EQ(cb.size(), 1u);
  EXPECT_EQ(cb[0].interaction, X(3));
  EXPECT_EQ(engine.interaction(X(3))->overflow_steps_applied, 3);
}

TEST_F(EngineTest, VoicemailStepRemoves) {
  auto q = queue_cfg(1);
  q.overflow.push_back({Millis(45'000), OverflowStep::Action::kVoicemail, {}, {}});
  add_queue(q);
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  advance_s(45);
  auto ev = take();
  auto removed = only(ev, EventType::kRemoved);
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ(removed[0].disposition, Disposition::kVoicemail);
  EXPECT_EQ(only(ev, EventType::kOverflowed).size(), 1u);
}

TEST_F(EngineTest, AgentServingSeveralQueuesTakesLongestWaitingAcrossThem) {
  add_queue(queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 1}}}));
  add_queue(queue_cfg(2, Requirement{MatchMode::kAll, {{kSupport, 1}}}));
  add_agent(1, {{kSales, 1}, {kSupport, 1}});
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  advance_s(1);
  ASSERT_TRUE(enqueue(2, 2).ok());
  advance_s(1);
  ASSERT_TRUE(enqueue(3, 1).ok());
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  std::vector<InteractionId> order;
  for (int i = 0; i < 3; ++i) {
    auto o = offers();
    ASSERT_EQ(o.size(), 1u);
    order.push_back(o[0].interaction);
    complete(raw(o[0].interaction), 1);
  }
  EXPECT_EQ(order, (std::vector<InteractionId>{X(1), X(2), X(3)}));
}

TEST_F(EngineTest, QueueWeightCountsAsExtraWait) {
  add_queue(queue_cfg(1));
  auto vip = queue_cfg(2);
  vip.weight_seconds = 60;
  add_queue(vip);
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  advance_s(30);
  ASSERT_TRUE(enqueue(2, 2).ok());  // waited 30 s less, but weighted +60 s
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  EXPECT_EQ(offers()[0].interaction, X(2));
}

TEST_F(EngineTest, ChatCapacityAndVoiceBlocking) {
  auto chat = queue_cfg(1);
  chat.channel = Channel::kChat;
  add_queue(chat);
  add_queue(queue_cfg(2));
  add_agent(1, {}, 1, 2);
  ready(1);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(engine.enqueue(spec(i, 1, 0, Channel::kChat), now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);  // a ringing agent gets no second offer
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());
  o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(2));
  ASSERT_TRUE(engine.answered(X(2), A(1), now()).ok());
  EXPECT_TRUE(offers().empty());  // chat capacity 2 reached
  EXPECT_EQ(engine.agent(A(1))->used[1], 2);
  // A voice call can still come (voice blocks chat, not the reverse).
  ASSERT_TRUE(enqueue(10, 2).ok());
  o = offers();
  ASSERT_EQ(o.size(), 1u);
  ASSERT_TRUE(engine.answered(X(10), A(1), now()).ok());
  ASSERT_TRUE(engine.ended(X(1), now()).ok());  // a chat slot frees, but voice is active
  EXPECT_TRUE(offers().empty());
  ASSERT_TRUE(engine.ended(X(10), now()).ok());
  o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(3));
}

TEST_F(EngineTest, StickyAgentGetsFirstOfferWithinWindow) {
  auto q = queue_cfg(1);
  q.sticky_window = Millis(7LL * 24 * 3600 * 1000);
  q.sticky_wait = Millis(20'000);
  add_queue(q);
  add_agent(1);
  add_agent(2);
  ready(1);
  advance_s(1);
  ready(2);
  ASSERT_TRUE(engine.enqueue(spec(1, 1, 555), now()).ok());
  ASSERT_EQ(offers()[0].agent, A(1));
  complete(1, 1);
  advance_s(100);
  // Agent 2 is now the longest idle, but customer 555 goes to agent 1 first.
  ASSERT_TRUE(engine.enqueue(spec(2, 1, 555), now()).ok());
  ASSERT_EQ(offers()[0].agent, A(1));
  complete(2, 1);
  // Agent 1 busy: the customer waits up to sticky_wait, then anyone.
  ASSERT_TRUE(enqueue(3, 1).ok());
  ASSERT_EQ(offers()[0].agent, A(2));
  ASSERT_TRUE(engine.answered(X(3), A(2), now()).ok());
  ASSERT_TRUE(engine.enqueue(spec(4, 1, 555), now()).ok());
  ASSERT_TRUE(engine.enqueue(spec(5, 1), now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);  // agent 1 free again takes 4 (sticky) — it was idle
  EXPECT_EQ(o[0].interaction, X(4));
  EXPECT_EQ(o[0].agent, A(1));
}

TEST_F(EngineTest, StickyWindowExpiresToOtherAgents) {
  auto q = queue_cfg(1);
  q.sticky_window = Millis(3600'000);
  q.sticky_wait = Millis(20'000);
  add_queue(q);
  add_agent(1);
  add_agent(2);
  ready(1);
  ASSERT_TRUE(engine.enqueue(spec(1, 1, 7), now()).ok());
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());  // agent 1 busy
  ready(2);
  take();
  ASSERT_TRUE(engine.enqueue(spec(2, 1, 7), now()).ok());
  EXPECT_TRUE(offers().empty());  // reserved for agent 1
  advance_s(20);
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].agent, A(2));
}

// Sticky memory is bounded by the answers of one window: with one customer
// answered every 10 s and a 1 h window, after each tick the window
// [now - 1 h, now] holds exactly 360 answers, however many customers passed;
// the memory empties once the window has passed.
TEST_F(EngineTest, StickyMemoryStaysBoundedUnderChurn) {
  auto q = queue_cfg(1);
  q.sticky_window = Millis(3600'000);
  q.sticky_wait = Millis(5'000);
  add_queue(q);
  add_agent(1);
  ready(1);
  const std::size_t bound = 3600 / 10;
  std::size_t peak = 0;
  for (std::uint64_t i = 1; i <= 2000; ++i) {
    ASSERT_TRUE(engine.enqueue(spec(i, 1, 1000 + i), now()).ok());
    complete(i, 1);
    advance_s(10);
    peak = std::max(peak, engine.sticky_entries());
    ASSERT_LE(engine.sticky_entries(), bound) << "after " << i << " customers";
  }
  EXPECT_EQ(peak, bound);  // the window really is remembered, not less
  // The latest customer is still remembered: with agent 1 busy it waits for
  // agent 1 although agent 2 is free; the first customer is forgotten.
  add_agent(2);
  ready(2);
  ASSERT_TRUE(enqueue(9000, 1).ok());  // no customer id: agent 1 (longest idle)
  ASSERT_EQ(offers()[0].agent, A(1));
  ASSERT_TRUE(engine.answered(X(9000), A(1), now()).ok());
  ASSERT_TRUE(engine.enqueue(spec(9001, 1, 1000 + 2000), now()).ok());
  EXPECT_TRUE(offers().empty());
  ASSERT_TRUE(engine.enqueue(spec(9002, 1, 1000 + 1), now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(9002));
  EXPECT_EQ(o[0].agent, A(2));
  advance_s(3601);
  EXPECT_EQ(engine.sticky_entries(), 0u);
}

TEST_F(EngineTest, StickyMemoryCountsEachCustomerOnce) {
  auto q = queue_cfg(1);
  q.sticky_window = Millis(3600'000);
  q.sticky_wait = Millis(5'000);
  add_queue(q);
  add_agent(1);
  ready(1);
  for (std::uint64_t i = 1; i <= 50; ++i) {
    ASSERT_TRUE(engine.enqueue(spec(i, 1, 1 + i % 3), now()).ok());
    complete(i, 1);
    advance_s(1);
  }
  EXPECT_EQ(engine.sticky_entries(), 3u);
  // No sticky queue left: nothing is remembered.
  q.sticky_window = Millis(0);
  add_queue(q);
  EXPECT_EQ(engine.sticky_entries(), 0u);
}

// The availability lists delete lazily; under churn where a list is never
// empty (one agent always available) they must still not grow with the
// number of availability changes.
TEST_F(EngineTest, AvailabilityListsStayBoundedUnderChurn) {
  add_queue(queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 1}}}));
  for (std::uint64_t a = 1; a <= 3; ++a) {
    add_agent(a, {{kSales, 5}, {kSupport, 3}});
    ready(a);
  }
  auto cycle = [&](std::uint64_t i) {
    ASSERT_TRUE(enqueue(i, 1).ok());
    auto o = offers();
    ASSERT_EQ(o.size(), 1u);
    complete(i, raw(o[0].agent));
    advance(Millis(10));
  };
  for (std::uint64_t i = 1; i <= 200; ++i) cycle(i);
  const std::size_t early = engine.approximate_memory_bytes();
  for (std::uint64_t i = 201; i <= 20'000; ++i) cycle(i);
  EXPECT_LE(engine.approximate_memory_bytes(), early + 4096);
  EXPECT_EQ(engine.check_invariants(), "");
}

TEST_F(EngineTest, VirtualHoldKeepsPositionAndOffersAgentFirst) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ASSERT_TRUE(engine.login(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  advance_s(1);
  ASSERT_TRUE(enqueue(2, 1).ok());
  ASSERT_TRUE(engine.convert_to_callback(X(1), now()).ok());
  EXPECT_EQ(engine.abandoned(X(1), now()).error().code, "conflict");
  EXPECT_FALSE(engine.convert_to_callback(X(1), now()).ok());
  ASSERT_TRUE(engine.set_ready(A(1), now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].interaction, X(1));
  EXPECT_EQ(o[0].value, 1);  // callback: dial the agent first
}

TEST_F(EngineTest, ScheduledCallbackQueuedAtItsTime) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ready(1);
  ASSERT_TRUE(engine.schedule_callback(spec(1, 1), now() + Millis(3600'000), now()).ok());
  EXPECT_EQ(engine.interaction(X(1))->phase, Phase::kScheduled);
  advance(Millis(3599'000));
  EXPECT_TRUE(offers().empty());
  advance_s(1);
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].value, 1);
}

TEST_F(EngineTest, EstimatedWaitFromHandleTimesAndStaffing) {
  auto q = queue_cfg(1);
  add_queue(q);
  add_agent(1);
  add_agent(2);
  ready(1);
  ready(2);
  // Prior handle time is 180 s; 2 staffed agents -> position p waits (p+1)*90 s.
  EXPECT_EQ(*engine.estimated_wait(Q(1), 0), Duration(std::chrono::seconds(90)));
  EXPECT_EQ(*engine.estimated_wait(Q(1), 3), Duration(std::chrono::seconds(360)));
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());
  advance_s(80);
  ASSERT_TRUE(engine.ended(X(1), now()).ok());
  // EWMA: 0.9*180 + 0.1*80 = 170 s.
  EXPECT_NEAR(engine.queue(Q(1), now())->recent_handle_seconds, 170.0, 1e-9);
  EXPECT_FALSE(engine.estimated_wait(Q(9), 0).ok());
}

TEST_F(EngineTest, HeartbeatLossMovesAgentToSafeState) {
  add_queue(queue_cfg(1));
  AgentConfig c;
  c.id = A(1);
  c.heartbeat_timeout = Millis(30'000);
  ASSERT_TRUE(engine.upsert_agent(c, now()).ok());
  add_agent(2);
  ready(1);
  advance_s(20);
  ASSERT_TRUE(engine.heartbeat(A(1), now()).ok());
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_EQ(offers()[0].agent, A(1));
  advance_s(29);
  EXPECT_EQ(engine.agent(A(1))->status, AgentStatus::kReady);
  advance_s(1);
  auto ev = take();
  EXPECT_EQ(only(ev, EventType::kOfferCancelled).size(), 1u);
  auto a = engine.agent(A(1));
  EXPECT_EQ(a->status, AgentStatus::kNotReady);
  EXPECT_EQ(a->reason, reason::kDisconnected);
  EXPECT_EQ(a->state, AgentState::kIdle);
  EXPECT_EQ(engine.interaction(X(1))->phase, Phase::kWaiting);
  ready(2);
  EXPECT_EQ(offers()[0].agent, A(2));
}

TEST_F(EngineTest, ReconcileFixesStaleInteractions) {
  add_queue(queue_cfg(1));
  add_agent(1, {}, 1, 0);
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());
  // The call layer says agent 1 has nothing: the call is ended for routing.
  ASSERT_TRUE(engine.reconcile(A(1), {}, now()).ok());
  EXPECT_EQ(engine.agent(A(1))->state, AgentState::kIdle);
  EXPECT_FALSE(engine.interaction(X(1)).ok());
  std::vector<InteractionId> ghost{X(77)};
  EXPECT_EQ(engine.reconcile(A(1), ghost, now()).error().code, "conflict");
}

TEST_F(EngineTest, LogoutRules) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());
  EXPECT_EQ(engine.logout(A(1), now()).error().code, "conflict");
  ASSERT_TRUE(engine.ended(X(1), now()).ok());
  take();
  ASSERT_TRUE(enqueue(2, 1).ok());
  ASSERT_EQ(offers().size(), 1u);
  ASSERT_TRUE(engine.logout(A(1), now()).ok());  // ringing offer withdrawn
  auto ev = take();
  EXPECT_EQ(only(ev, EventType::kOfferCancelled).size(), 1u);
  EXPECT_EQ(only(ev, EventType::kAgentLoggedOut).size(), 1u);
  EXPECT_EQ(engine.interaction(X(2))->phase, Phase::kWaiting);
  EXPECT_EQ(engine.agent(A(1))->status, AgentStatus::kLoggedOut);
  EXPECT_FALSE(engine.set_ready(A(1), now()).ok());
  EXPECT_TRUE(engine.remove_agent(A(1)).ok());
  EXPECT_FALSE(engine.login(A(1), now()).ok());
}

TEST_F(EngineTest, HoldIsTrackedOnConnectedOnly) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  EXPECT_FALSE(engine.hold(X(1), true, now()).ok());
  ASSERT_TRUE(engine.answered(X(1), A(1), now()).ok());
  ASSERT_TRUE(engine.hold(X(1), true, now()).ok());
  EXPECT_FALSE(engine.hold(X(1), true, now()).ok());
  advance_s(5);
  ASSERT_TRUE(engine.ended(X(1), now()).ok());  // ends the hold too
  auto ev = take();
  EXPECT_EQ(only(ev, EventType::kHoldStarted).size(), 1u);
  EXPECT_EQ(only(ev, EventType::kHoldEnded).size(), 1u);
}

TEST_F(EngineTest, InvalidInputIsAnErrorNotACrash) {
  add_queue(queue_cfg(1));
  AgentConfig bad;
  bad.id = A(5);
  bad.skills = {{kSales, 11}};
  EXPECT_EQ(engine.upsert_agent(bad, now()).error().code, "invalid_argument");
  bad.skills = {{kSales, 2}, {kSales, 3}};
  EXPECT_EQ(engine.upsert_agent(bad, now()).error().code, "invalid_argument");
  EXPECT_EQ(engine.upsert_agent(AgentConfig{}, now()).error().code, "invalid_argument");
  QueueConfig q = queue_cfg(2);
  q.overflow.push_back({Millis(60'000), OverflowStep::Action::kVoicemail, {}, {}});
  q.overflow.push_back({Millis(30'000), OverflowStep::Action::kVoicemail, {}, {}});
  EXPECT_EQ(engine.upsert_queue(q, now()).error().code, "invalid_argument");
  EXPECT_EQ(enqueue(1, 99).error().code, "not_found");
  ASSERT_TRUE(enqueue(1, 1).ok());
  EXPECT_EQ(enqueue(1, 1).error().code, "conflict");
  EXPECT_EQ(engine.answered(X(1), A(1), now()).error().code, "not_found");
  EXPECT_EQ(engine.ended(X(1), now()).error().code, "conflict");
  EXPECT_EQ(engine.remove_queue(Q(1)).error().code, "conflict");
  EXPECT_TRUE(engine.abandoned(X(1), now()).ok());
  EXPECT_TRUE(engine.remove_queue(Q(1)).ok());
  EXPECT_FALSE(engine.login(A(42), now()).ok());
}

TEST_F(EngineTest, TimeNeverRunsBackwards) {
  add_queue(queue_cfg(1));
  add_agent(1);
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  const Time t = now();
  ASSERT_TRUE(engine.answered(X(1), A(1), t - Millis(5'000)).ok());
  auto ev = only(take(), EventType::kAnswered);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].time, t);
}

TEST_F(EngineTest, SkillChangeAppliesToNextDecision) {
  add_queue(queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 5}}}));
  add_agent(1, {{kSales, 2}});
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  EXPECT_TRUE(offers().empty());
  AgentConfig c;
  c.id = A(1);
  c.skills = {{kSales, 6}};
  ASSERT_TRUE(engine.upsert_agent(c, now()).ok());
  EXPECT_EQ(offers().size(), 1u);
}

TEST_F(EngineTest, QueueRequirementChangeReroutesWaiting) {
  add_queue(queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 5}}}));
  add_agent(1, {{kSales, 2}});
  ready(1);
  ASSERT_TRUE(enqueue(1, 1).ok());
  EXPECT_TRUE(offers().empty());
  ASSERT_TRUE(engine.upsert_queue(queue_cfg(1, Requirement{MatchMode::kAll, {{kSales, 2}}}), now()).ok());
  EXPECT_EQ(offers().size(), 1u);
}

}  // namespace
}  // namespace hotline::routing::testing
