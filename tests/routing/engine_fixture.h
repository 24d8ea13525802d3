// Shared fixture for engine tests: a FakeClock, an Engine, and helpers that
// drain events and check the engine's invariants after every test.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "common/clock.h"
#include "routing/engine.h"

namespace hotline::routing::testing {

inline AgentId A(std::uint64_t n) { return AgentId{n}; }
inline QueueId Q(std::uint64_t n) { return QueueId{n}; }
inline InteractionId X(std::uint64_t n) { return InteractionId{n}; }

class EngineTest : public ::testing::Test {
 protected:
  common::FakeClock clock;
  Engine engine;
  std::vector<Event> log;  // everything drained so far

  Time now() const { return clock.now(); }
  void advance(Millis d) {
    clock.advance(d);
    engine.tick(now());
  }
  void advance_s(int s) { advance(Millis(s * 1000)); }

  // Events produced since the last call.
  std::vector<Event> take() {
    std::vector<Event> out;
    engine.drain(out);
    log.insert(log.end(), out.begin(), out.end());
    return out;
  }
  static std::vector<Event> only(const std::vector<Event>& ev, EventType t) {
    std::vector<Event> out;
    std::copy_if(ev.begin(), ev.end(), std::back_inserter(out), [&](const Event& e) { return e.type == t; });
    return out;
  }
  std::vector<Event> offers() { return only(take(), EventType::kOffered); }

  void add_agent(std::uint64_t id, std::vector<SkillLevel> skills = {}, int voice = 1, int chat = 0) {
    AgentConfig c;
    c.id = A(id);
    c.skills = std::move(skills);
    c.capacity[0] = voice;
    c.capacity[1] = chat;
    ASSERT_TRUE(engine.upsert_agent(c, now()).ok());
  }
  void ready(std::uint64_t id) {
    ASSERT_TRUE(engine.login(A(id), now()).ok());
    ASSERT_TRUE(engine.set_ready(A(id), now()).ok());
  }
  QueueConfig queue_cfg(std::uint64_t id, Requirement req = {}) {
    QueueConfig q;
    q.id = Q(id);
    q.requirement = std::move(req);
    q.ring_timeout = Millis(15'000);
    q.wrap_up = Millis(0);
    return q;
  }
  void add_queue(const QueueConfig& q) { ASSERT_TRUE(engine.upsert_queue(q, now()).ok()); }
  static InteractionSpec spec(std::uint64_t id, std::uint64_t queue, std::uint64_t customer = 0,
                              Channel ch = Channel::kVoice) {
    InteractionSpec s;
    s.id = X(id);
    s.queue = Q(queue);
    s.customer = customer;
    s.channel = ch;
    return s;
  }
  common::Result<EnqueueOutcome> enqueue(std::uint64_t id, std::uint64_t queue, int priority = 0) {
    InteractionSpec s;
    s.id = X(id);
    s.queue = Q(queue);
    s.priority = priority;
    return engine.enqueue(s, now());
  }
  // Answers and ends an interaction immediately (frees a no-wrap agent).
  void complete(std::uint64_t ix, std::uint64_t agent) {
    ASSERT_TRUE(engine.answered(X(ix), A(agent), now()).ok());
    ASSERT_TRUE(engine.ended(X(ix), now()).ok());
  }

  void TearDown() override { EXPECT_EQ(engine.check_invariants(), ""); }
};

}  // namespace hotline::routing::testing
