// Property-style tests: random operation sequences from a seeded PRNG
// (deterministic), checking after every step that
//  * the engine's own invariants hold (capacity, index consistency, work
//    conservation: no available agent could take a waiting interaction),
// and over the event log that
//  * no agent is booked beyond capacity,
//  * every interaction ends at most once and nothing happens to it afterwards,
//    and every enqueued interaction is either finished or still in routing,
//  * offers respect skill requirements (home tiers, overflow queues, extras),
//  * equal-priority interactions are offered in arrival order,
//  * overflow steps are applied exactly when due (fake clock),
//  * events carry one handle per interaction for its whole stay, never one an
//    earlier interaction had; reports by handle give the same event log as
//    reports by id, and stale handles are refused without side effects.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "common/clock.h"
#include "routing/engine.h"

namespace hotline::routing {
namespace {

struct Model {
  std::map<std::uint64_t, AgentConfig> agents;
  std::map<std::uint64_t, QueueConfig> queues;
  std::map<std::uint64_t, InteractionSpec> specs;
};

bool has(const AgentConfig& a, const SkillLevel& need) {
  for (const auto& s : a.skills)
    if (s.skill == need.skill && s.level >= need.level) return true;
  return false;
}
bool meets(const AgentConfig& a, const Requirement& r) {
  if (r.skills.empty()) return true;
  if (r.mode == MatchMode::kAll) {
    for (const auto& s : r.skills)
      if (!has(a, s)) return false;
    return true;
  }
  for (const auto& s : r.skills)
    if (has(a, s)) return true;
  return false;
}

Requirement random_req(std::mt19937_64& rng, int skills) {
  Requirement r;
  r.mode = rng() % 3 == 0 ? MatchMode::kAny : MatchMode::kAll;
  const int n = static_cast<int>(rng() % 3);
  for (int i = 0; i < n; ++i) {
    SkillId s = static_cast<SkillId>(1 + rng() % static_cast<std::uint64_t>(skills));
    bool dup = false;
    for (auto& e : r.skills) dup |= e.skill == s;
    if (!dup) r.skills.push_back({s, static_cast<int>(1 + rng() % 10)});
  }
  return r;
}

struct RunOptions {
  std::uint64_t seed = 1;
  int steps = 3000;
  bool fifo_mode = false;  // one requirement-free queue, no declines: strict order
  bool by_handle = false;  // report answers, ends, ... through the handle overloads
  std::vector<Event>* log_out = nullptr;
};

void run(const RunOptions& opt) {
  std::mt19937_64 rng(opt.seed);
  common::FakeClock clock;
  EngineOptions eo;
  eo.seed = opt.seed;
  Engine engine(eo);
  Model model;
  const int kSkills = 6, kAgents = opt.fifo_mode ? 6 : 12, kQueues = opt.fifo_mode ? 1 : 4;

  for (int q = 1; q <= kQueues; ++q) {
    QueueConfig c;
    c.id = QueueId{static_cast<std::uint64_t>(q)};
    c.channel = (!opt.fifo_mode && q == 4) ? Channel::kChat : Channel::kVoice;
    c.ring_timeout = Millis(opt.fifo_mode ? 3600'000 : 8'000 + static_cast<int>(rng() % 10'000));
    c.wrap_up = Millis(static_cast<int>(rng() % 3) * 5'000);
    c.max_consecutive_misses = 3;
    if (!opt.fifo_mode) {
      c.requirement = random_req(rng, kSkills);
      c.strategy = static_cast<StrategyKind>(rng() % 8);
      c.max_wait = Millis(rng() % 2 ? 0 : 300'000);
      c.max_length = rng() % 2 ? 0 : 20;
      c.overflow.push_back({Millis(20'000), OverflowStep::Action::kRelax, random_req(rng, kSkills), {}});
      c.overflow.push_back({Millis(40'000),
                            OverflowStep::Action::kAddQueue,
                            {},
                            QueueId{1 + rng() % static_cast<std::uint64_t>(kQueues)}});
      c.overflow.push_back({Millis(90'000), OverflowStep::Action::kOfferCallback, {}, {}});
      c.sticky_window = Millis(3600'000);
      c.sticky_wait = Millis(5'000);
    }
    ASSERT_TRUE(engine.upsert_queue(c, clock.now()).ok());
    model.queues[static_cast<std::uint64_t>(q)] = c;
  }
  for (int a = 1; a <= kAgents; ++a) {
    AgentConfig c;
    c.id = AgentId{static_cast<std::uint64_t>(a)};
    if (!opt.fifo_mode) {
      for (int s = 1; s <= kSkills; ++s)
        if (rng() % 2) c.skills.push_back({static_cast<SkillId>(s), static_cast<int>(1 + rng() % 10)});
      c.capacity[1] = static_cast<int>(rng() % 3);
      c.weight = 0.5 + static_cast<double>(rng() % 4);
    }
    ASSERT_TRUE(engine.upsert_agent(c, clock.now()).ok());
    model.agents[static_cast<std::uint64_t>(a)] = c;
  }

  std::vector<Event> log;
  std::uint64_t next_ix = 1;
  auto pick = [&](const std::vector<std::uint64_t>& v) { return v[rng() % v.size()]; };

  // Live state as seen from the log.
  std::map<std::uint64_t, std::set<std::uint64_t>> ringing;  // ix -> agents
  std::map<std::uint64_t, std::uint64_t> connected;          // ix -> agent
  std::map<std::uint64_t, std::uint64_t> wrapping;           // ix -> agent
  std::map<std::uint64_t, Event> waiting;                    // ix -> enqueue/requeue event
  std::set<std::uint64_t> finished;
  std::map<std::uint64_t, std::map<int, int>> held;             // agent -> channel -> slots
  std::map<std::uint64_t, std::set<std::uint64_t>> tiers_seen;  // ix -> queues it may be in

  // Handles as the events give them; a (slot, generation) pair names one
  // interaction ever.
  std::map<std::uint64_t, InteractionHandle> handle;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> owner;
  std::map<std::uint64_t, AgentHandle> agent_handle;
  auto check_handles = [&](const Event& e) {
    const std::uint64_t ix = raw(e.interaction), ag = raw(e.agent);
    if (ix != 0 && e.type != EventType::kRejected) {
      ASSERT_TRUE(e.handle.valid()) << to_string(e.type);
      auto [it, fresh] = handle.try_emplace(ix, e.handle);
      ASSERT_EQ(it->second, e.handle) << "interaction " << ix << " changed handle";
      if (fresh) {
        auto [o, unused] = owner.try_emplace({e.handle.slot, e.handle.gen}, ix);
        ASSERT_EQ(o->second, ix) << "handle of interaction " << o->second << " given to " << ix;
      }
    }
    if (ag != 0) {
      ASSERT_TRUE(e.agent_handle.valid());
      auto [it, fresh] = agent_handle.try_emplace(ag, e.agent_handle);
      ASSERT_EQ(it->second, e.agent_handle) << "agent " << ag << " changed handle";
    }
  };

  // Every report through the handle of a finished interaction (its slot may
  // hold another one by now) is not_found and changes nothing. A PRNG of its
  // own keeps the main sequence the same as in the run by id.
  std::mt19937_64 stale_rng(opt.seed ^ 0x5a5a);
  auto stale_reports_are_refused = [&]() {
    if (finished.empty() || stale_rng() % 4 != 0) return;
    const std::uint64_t ix = *std::next(finished.begin(), static_cast<long>(stale_rng() % finished.size()));
    if (!handle.count(ix) || agent_handle.empty()) return;  // rejected at enqueue: never had one
    const InteractionHandle h = handle[ix];
    const AgentHandle any_agent = agent_handle.begin()->second;
    const std::string before = engine.check_invariants();
    for (const auto& st : {engine.ended(h, clock.now()), engine.answered(h, any_agent, clock.now()),
                           engine.abandoned(h, clock.now()), engine.wrap_up_done(h, clock.now()),
                           engine.declined(h, any_agent, clock.now())}) {
      ASSERT_FALSE(st.ok());
      ASSERT_EQ(st.error().code, "not_found");
    }
    ASSERT_EQ(engine.pending_events(), 0u) << "a stale handle produced events";
    ASSERT_EQ(engine.check_invariants(), before);
  };

  std::map<EventType, int> seen;
  auto check_events = [&](std::size_t from) {
    for (std::size_t i = from; i < log.size(); ++i) {
      const Event& e = log[i];
      ++seen[e.type];
      const std::uint64_t ix = raw(e.interaction), ag = raw(e.agent);
      if (ix != 0 && e.type != EventType::kRejected) {
        ASSERT_FALSE(finished.count(ix))
            << "event " << to_string(e.type) << " after interaction " << ix << " ended";
      }
      check_handles(e);
      if (::testing::Test::HasFatalFailure()) return;
      switch (e.type) {
        case EventType::kEnqueued:
        case EventType::kRequeued:
          waiting[ix] = e;
          break;
        case EventType::kOffered: {
          // Ring-all emits several offers for one interaction in a row.
          ASSERT_TRUE(waiting.count(ix) || !ringing[ix].empty())
              << "offer of an interaction that is not waiting";
          if (opt.fifo_mode) {
            const Event& me = waiting[ix];
            const int pri = model.specs[ix].priority;
            for (auto& [other, oe] : waiting) {
              if (other == ix) continue;
              const int opri = model.specs[other].priority;
              ASSERT_FALSE(opri > pri || (opri == pri && oe.arrival < me.arrival))
                  << "offered " << ix << " while " << other << " was ahead";
            }
          }
          waiting.erase(ix);
          ringing[ix].insert(ag);
          int& slots = held[ag][static_cast<int>(e.channel)];
          ++slots;
          ASSERT_LE(slots, model.agents[ag].capacity[static_cast<int>(e.channel)])
              << "agent " << ag << " overbooked";
          // Skill requirement: some requirement the interaction may be routed by.
          const AgentConfig& a = model.agents[ag];
          for (const auto& s : model.specs[ix].required_skills) ASSERT_TRUE(has(a, s));
          const QueueConfig& home = model.queues[raw(model.specs[ix].queue)];
          bool ok = meets(a, home.requirement);
          for (const auto& st : home.overflow) {
            if (st.action == OverflowStep::Action::kRelax) ok |= meets(a, st.requirement);
            if (st.action == OverflowStep::Action::kAddQueue)
              ok |= meets(a, model.queues[raw(st.queue)].requirement);
          }
          ASSERT_TRUE(ok) << "agent " << ag << " does not meet any requirement of interaction " << ix;
          break;
        }
        case EventType::kOfferCancelled:
        case EventType::kNoAnswer:
        case EventType::kDeclined:
          if (ringing[ix].erase(ag)) --held[ag][static_cast<int>(e.channel)];
          break;
        case EventType::kAnswered:
          ASSERT_TRUE(ringing[ix].count(ag));
          ASSERT_FALSE(connected.count(ix)) << "answered twice";
          ringing[ix].erase(ag);
          connected[ix] = ag;
          break;
        case EventType::kEnded:
          ASSERT_EQ(connected[ix], ag);
          connected.erase(ix);
          wrapping[ix] = ag;
          break;
        case EventType::kWrapUpEnded:
          ASSERT_EQ(wrapping[ix], ag);
          wrapping.erase(ix);
          --held[ag][static_cast<int>(e.channel)];
          finished.insert(ix);
          break;
        case EventType::kAbandoned:
        case EventType::kRemoved:
          ASSERT_TRUE(ringing[ix].empty()) << "left routing while still ringing";
          ASSERT_FALSE(connected.count(ix));
          waiting.erase(ix);
          finished.insert(ix);
          break;
        case EventType::kRejected:
          finished.insert(ix);
          break;
        default:
          break;
      }
    }
  };

  for (int step = 0; step < opt.steps; ++step) {
    const Time now = clock.now();
    const int op = static_cast<int>(rng() % 100);
    std::vector<std::uint64_t> ring_ix, conn_ix, wrap_ix, wait_ix;
    for (auto& [ix, s] : ringing)
      if (!s.empty()) ring_ix.push_back(ix);
    for (auto& [ix, a] : connected) conn_ix.push_back(ix);
    for (auto& [ix, a] : wrapping) wrap_ix.push_back(ix);
    for (auto& [ix, e] : waiting) wait_ix.push_back(ix);
    const std::uint64_t agent = 1 + rng() % static_cast<std::uint64_t>(kAgents);
    const AgentId aid{agent};
    if (op < 22) {
      InteractionSpec s;
      s.id = InteractionId{next_ix};
      s.queue = QueueId{1 + rng() % static_cast<std::uint64_t>(kQueues)};
      s.channel = model.queues[raw(s.queue)].channel;
      s.priority = static_cast<int>(rng() % 3);
      s.customer = opt.fifo_mode ? 0 : 1 + rng() % 20;
      if (!opt.fifo_mode && rng() % 5 == 0)
        s.required_skills.push_back({static_cast<SkillId>(1 + rng() % kSkills), 1});
      model.specs[next_ix] = s;
      ASSERT_TRUE(engine.enqueue(s, now).ok());
      ++next_ix;
    } else if (op < 40 && !ring_ix.empty()) {
      const std::uint64_t ix = pick(ring_ix);
      const std::uint64_t a = *std::next(ringing[ix].begin(), static_cast<long>(rng() % ringing[ix].size()));
      const int how = opt.fifo_mode ? 0 : static_cast<int>(rng() % 4);
      const InteractionHandle h = handle[ix];
      const AgentHandle ah = agent_handle[a];
      if (how <= 1) {
        ASSERT_TRUE((opt.by_handle ? engine.answered(h, ah, now)
                                   : engine.answered(InteractionId{ix}, AgentId{a}, now))
                        .ok());
      } else if (how == 2) {
        ASSERT_TRUE((opt.by_handle ? engine.declined(h, ah, now)
                                   : engine.declined(InteractionId{ix}, AgentId{a}, now))
                        .ok());
      } else {
        ASSERT_TRUE((opt.by_handle ? engine.no_answer(h, ah, now)
                                   : engine.no_answer(InteractionId{ix}, AgentId{a}, now))
                        .ok());
      }
    } else if (op < 55 && !conn_ix.empty()) {
      const std::uint64_t ix = pick(conn_ix);
      const bool difficult = rng() % 4 == 0;
      ASSERT_TRUE((opt.by_handle ? engine.ended(handle[ix], now, difficult)
                                 : engine.ended(InteractionId{ix}, now, difficult))
                      .ok());
    } else if (op < 58 && !wrap_ix.empty()) {
      const std::uint64_t ix = pick(wrap_ix);
      ASSERT_TRUE(
          (opt.by_handle ? engine.wrap_up_done(handle[ix], now) : engine.wrap_up_done(InteractionId{ix}, now))
              .ok());
    } else if (op < 63 && (!wait_ix.empty() || !ring_ix.empty())) {
      std::vector<std::uint64_t> both = wait_ix;
      both.insert(both.end(), ring_ix.begin(), ring_ix.end());
      const std::uint64_t ix = pick(both);
      auto st = opt.by_handle ? engine.abandoned(handle[ix], now) : engine.abandoned(InteractionId{ix}, now);
      if (!st) {
        ASSERT_EQ(st.error().code, "conflict");  // callbacks cannot be abandoned
      }
    } else if (op < 65 && !wait_ix.empty() && !opt.fifo_mode) {
      (void)engine.convert_to_callback(InteractionId{pick(wait_ix)}, now);
    } else if (op < 67 && !conn_ix.empty()) {
      (void)engine.hold(InteractionId{pick(conn_ix)}, rng() % 2 == 0, now);
    } else if (op < 75) {
      (void)engine.login(aid, now);
      (void)engine.set_ready(aid, now);
    } else if (op < 79) {
      (void)engine.set_not_ready(aid, reason::kBreak + static_cast<ReasonCode>(rng() % 3), now);
    } else if (op < 81) {
      (void)engine.logout(aid, now);
    } else if (op < 82 && !opt.fifo_mode) {
      // Live reconfiguration: new skills for an agent.
      AgentConfig c = model.agents[agent];
      c.skills.clear();
      for (int s = 1; s <= kSkills; ++s)
        if (rng() % 2) c.skills.push_back({static_cast<SkillId>(s), static_cast<int>(1 + rng() % 10)});
      ASSERT_TRUE(engine.upsert_agent(c, now).ok());
      model.agents[agent] = c;
    } else if (op < 83 && !opt.fifo_mode) {
      // Live reconfiguration: new base and relaxed requirements for a queue.
      const std::uint64_t q = 1 + rng() % static_cast<std::uint64_t>(kQueues);
      QueueConfig c = model.queues[q];
      c.requirement = random_req(rng, kSkills);
      c.overflow[0].requirement = random_req(rng, kSkills);
      ASSERT_TRUE(engine.upsert_queue(c, now).ok());
      model.queues[q] = c;
    } else {
      clock.advance(Millis(static_cast<int>(rng() % 4000)));
      engine.tick(clock.now());
    }
    const std::size_t before = log.size();
    engine.drain(log);
    check_events(before);
    if (::testing::Test::HasFatalFailure()) return;
    if (opt.by_handle) {
      stale_reports_are_refused();
      if (::testing::Test::HasFatalFailure()) return;
    }
    const std::string inv = engine.check_invariants();
    ASSERT_EQ(inv, "") << "seed " << opt.seed << " step " << step;
    // Overflow steps applied exactly when due for every waiting interaction.
    if (!opt.fifo_mode && step % 10 == 0) {
      for (auto& [ix, e] : waiting) {
        auto snap = engine.interaction(InteractionId{ix});
        ASSERT_TRUE(snap.ok());
        const QueueConfig& home = model.queues[raw(model.specs[ix].queue)];
        int due = 0;
        for (const auto& st : home.overflow) due += (clock.now() - snap->arrival) >= st.after ? 1 : 0;
        if (snap->phase == Phase::kWaiting) {
          ASSERT_EQ(snap->overflow_steps_applied, due) << "interaction " << ix;
        }
      }
    }
  }
  // The run must have exercised the interesting paths.
  EXPECT_GT(seen[EventType::kOffered], 200);
  EXPECT_GT(seen[EventType::kAnswered], 100);
  EXPECT_GT(seen[EventType::kWrapUpEnded], 50);
  EXPECT_GT(seen[EventType::kAbandoned], 10);
  if (!opt.fifo_mode) {
    EXPECT_GT(seen[EventType::kOverflowed], 10);
    EXPECT_GT(seen[EventType::kRequeued], 10);
  }
  // Nothing lost: every interaction is finished or still in routing.
  for (auto& [ix, s] : model.specs) {
    const bool live = engine.interaction(InteractionId{ix}).ok();
    EXPECT_NE(live, finished.count(ix) == 1) << "interaction " << ix;
  }
  if (opt.log_out) *opt.log_out = log;
}

bool same_event(const Event& a, const Event& b) {
  return a.seq == b.seq && a.time == b.time && a.type == b.type && a.agent == b.agent &&
         a.interaction == b.interaction && a.queue == b.queue && a.channel == b.channel &&
         a.value == b.value && a.disposition == b.disposition && a.reason == b.reason &&
         a.arrival == b.arrival && a.deadline == b.deadline && a.handle == b.handle &&
         a.agent_handle == b.agent_handle;
}

TEST(RoutingProperties, RandomSequencesKeepInvariants) {
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE(seed);
    run({seed, 2500, false});
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The handle overloads are the id entry points minus the lookup: the same
// random run through either gives the same event log, event for event.
TEST(RoutingProperties, ReportsByHandleGiveTheSameLogAsById) {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    std::vector<Event> by_id, by_handle;
    run({seed, 2500, false, false, &by_id});
    if (::testing::Test::HasFatalFailure()) return;
    run({seed, 2500, false, true, &by_handle});
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_EQ(by_id.size(), by_handle.size());
    ASSERT_GT(by_id.size(), 1000u);
    for (std::size_t i = 0; i < by_id.size(); ++i)
      ASSERT_TRUE(same_event(by_id[i], by_handle[i])) << "event " << i << ": " << to_string(by_id[i].type);
  }
}

TEST(RoutingProperties, FifoWithinEqualPriority) {
  for (std::uint64_t seed = 100; seed <= 108; ++seed) {
    SCOPED_TRACE(seed);
    run({seed, 2500, true});
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace hotline::routing
