// Routing decisions per second and decision latency under heavy churn.
//
// Setup per run: A agents with 4 random skills (of 100) at random levels,
// Q queues each requiring one skill (20 % require two, ANDed) that at least
// one agent has. Every agent is logged in and ready.
//
// Churn loop (one benchmark iteration = one step): keep about 1.02 x A
// interactions in the system; below that, enqueue a new one (to a queue of a
// random agent when balanced, else to a uniformly random queue), otherwise end a random connected interaction
// (its agent frees up and takes waiting work). Every offer is answered at once; 1 step in 50 toggles a random
// agent not-ready/ready. A "decision" is one kOffered event. Offers are
// answered and interactions ended through the handles the events carry (the
// dense-handle API of engine.h), as a call layer that keeps them would.
//
// Counters: decisions/s over the whole loop (all engine calls included),
// p50/p99 latency of the engine calls that produced a decision, and memory
// per agent and per waiting interaction (glibc heap delta).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

#include "common/clock.h"
#include "routing/engine.h"

namespace hotline::routing {
namespace {

constexpr int kSkills = 100;

// Steps per churn run: HOTLINE_BENCH_STEPS overrides the default (short runs
// under cachegrind, whose counts do not depend on the machine's load).
std::int64_t churn_steps() {
  const char* env = std::getenv("HOTLINE_BENCH_STEPS");
  const long long n = env ? std::atoll(env) : 0;
  return n > 0 ? n : 400'000;
}

// Heap in use: small chunks plus mmap'd blocks (large vectors such as the
// record arrays are mmap'd and would be missed by uordblks alone).
std::size_t heap_bytes() {
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

struct World {
  std::vector<AgentConfig> agents;
  std::vector<QueueConfig> queues;
  // Per agent: the queues it meets, flattened (agent a's are
  // served[served_at[a] .. served_at[a + 1])), so that picking an arrival's
  // queue costs the loop one cache miss, not two (a vector per agent).
  std::vector<std::uint32_t> served;
  std::vector<std::uint32_t> served_at;
};

bool meets(const AgentConfig& a, const Requirement& r) {
  for (const auto& need : r.skills) {
    bool has = false;
    for (const auto& s : a.skills) has |= s.skill == need.skill && s.level >= need.level;
    if (!has) return false;
  }
  return true;
}

World make_world(int n_agents, int n_queues, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  World w;
  for (int i = 0; i < n_agents; ++i) {
    AgentConfig a;
    a.id = AgentId{static_cast<std::uint64_t>(i + 1)};
    while (a.skills.size() < 4) {
      const SkillId s = static_cast<SkillId>(1 + rng() % kSkills);
      if (std::none_of(a.skills.begin(), a.skills.end(), [&](auto& x) { return x.skill == s; }))
        a.skills.push_back({s, static_cast<int>(1 + rng() % 10)});
    }
    w.agents.push_back(a);
  }
  for (int i = 0; i < n_queues; ++i) {
    QueueConfig q;
    q.id = QueueId{static_cast<std::uint64_t>(i + 1)};
    q.ring_timeout = Millis(0);  // offers are answered at once
    q.wrap_up = Millis(0);
    const AgentConfig& a = w.agents[rng() % w.agents.size()];
    const auto& s = a.skills[rng() % a.skills.size()];
    q.requirement.skills.push_back(
        {s.skill, 1 + static_cast<int>(rng() % static_cast<std::uint64_t>(s.level))});
    if (rng() % 5 == 0) {
      const auto& s2 =
          a.skills[(rng() % (a.skills.size() - 1) + 1 + static_cast<std::size_t>(&s - a.skills.data())) %
                   a.skills.size()];
      if (s2.skill != s.skill) q.requirement.skills.push_back({s2.skill, 1});
    }
    w.queues.push_back(q);
  }
  for (std::size_t a = 0; a < w.agents.size(); ++a) {
    w.served_at.push_back(static_cast<std::uint32_t>(w.served.size()));
    for (std::uint32_t q = 0; q < w.queues.size(); ++q)
      if (meets(w.agents[a], w.queues[q].requirement)) w.served.push_back(q);
  }
  w.served_at.push_back(static_cast<std::uint32_t>(w.served.size()));
  return w;
}

void BM_RoutingChurn(benchmark::State& state) {
  const int n_agents = static_cast<int>(state.range(0));
  const int n_queues = static_cast<int>(state.range(1));
  const bool balanced = state.range(2) != 0;
  const World w = make_world(n_agents, n_queues, 7);
  common::FakeClock clock;

  const std::size_t heap0 = heap_bytes();
  Engine engine;
  for (const auto& q : w.queues) (void)engine.upsert_queue(q, clock.now());
  const std::size_t heap1 = heap_bytes();
  const std::size_t engine1 = engine.approximate_memory_bytes();
  for (const auto& a : w.agents) {
    (void)engine.upsert_agent(a, clock.now());
    (void)engine.login(a.id, clock.now());
    (void)engine.set_ready(a.id, clock.now());
  }
  engine.discard_events();
  const std::size_t heap2 = heap_bytes();
  const std::size_t engine2 = engine.approximate_memory_bytes();
  (void)heap0;

  std::mt19937_64 rng(11);
  std::vector<Event> ev;
  ev.reserve(1024);
  std::vector<InteractionHandle> connected;  // handles from the kOffered events
  connected.reserve(static_cast<std::size_t>(n_agents) * 2);
  std::vector<std::uint32_t> lat;
  lat.reserve(1 << 22);
  std::uint64_t next_ix = 1, decisions = 0, live = 0;
  const std::uint64_t target = static_cast<std::uint64_t>(n_agents) * 102 / 100;
  std::vector<char> not_ready(static_cast<std::size_t>(n_agents) + 1, 0);

  auto answer_all = [&]() -> std::uint64_t {
    ev.clear();
    engine.drain(ev);
    std::uint64_t offers = 0;
    for (const Event& e : ev) {
      if (e.type != EventType::kOffered) continue;
      ++offers;
      (void)engine.answered(e.handle, e.agent_handle, clock.now());
      connected.push_back(e.handle);
    }
    engine.discard_events();
    return offers;
  };

  for (auto _ : state) {
    clock.advance(std::chrono::milliseconds(10));
    const auto t0 = std::chrono::steady_clock::now();
    if (rng() % 50 == 0) {
      const std::uint64_t a = 1 + rng() % static_cast<std::uint64_t>(n_agents);
      if (not_ready[a])
        (void)engine.set_ready(AgentId{a}, clock.now());
      else
        (void)engine.set_not_ready(AgentId{a}, reason::kBreak, clock.now());
      not_ready[a] ^= 1;
    } else if (live < target || connected.empty()) {
      InteractionSpec s;
      s.id = InteractionId{next_ix++};
      if (balanced) {
        // Demand follows staffing: a queue served by a random agent.
        const std::size_t a = rng() % w.agents.size();
        const std::uint32_t first = w.served_at[a], n = w.served_at[a + 1] - first;
        s.queue = n == 0 ? w.queues[rng() % w.queues.size()].id : w.queues[w.served[first + rng() % n]].id;
      } else {
        s.queue = w.queues[rng() % w.queues.size()].id;
      }
      s.priority = rng() % 10 == 0 ? 1 : 0;
      (void)engine.enqueue(s, clock.now());
      ++live;
    } else {
      const std::size_t k = rng() % connected.size();
      const InteractionHandle ix = connected[k];
      connected[k] = connected.back();
      connected.pop_back();
      (void)engine.ended(ix, clock.now());  // wrap-up 0: agent frees and takes work
      --live;
    }
    const std::uint64_t d = answer_all();
    const auto t1 = std::chrono::steady_clock::now();
    if (d > 0) {
      decisions += d;
      if (lat.size() < lat.capacity())
        lat.push_back(static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
    }
  }
  state.counters["decisions/s"] =
      benchmark::Counter(static_cast<double>(decisions), benchmark::Counter::kIsRate);
  state.counters["decisions"] = static_cast<double>(decisions);
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    state.counters["p50_ns"] = lat[lat.size() / 2];
    state.counters["p99_ns"] = lat[lat.size() * 99 / 100];
  }
  state.counters["waiting"] = static_cast<double>(engine.live_interaction_count() - connected.size());
  state.counters["B/agent"] = static_cast<double>(heap2 - heap1) / n_agents;
  state.counters["B/agent(engine)"] = static_cast<double>(engine2 - engine1) / n_agents;
}

// Memory per waiting interaction: no agent is ready, so everything waits.
void BM_MemoryPerWaiting(benchmark::State& state) {
  const World w = make_world(1000, 100, 7);
  common::FakeClock clock;
  double per = 0, engine_per = 0;
  for (auto _ : state) {
    Engine engine;
    for (const auto& q : w.queues) (void)engine.upsert_queue(q, clock.now());
    for (const auto& a : w.agents) {
      (void)engine.upsert_agent(a, clock.now());
      (void)engine.login(a.id, clock.now());
    }
    const int n = static_cast<int>(state.range(0));
    const std::size_t before = heap_bytes();
    const std::size_t engine_before = engine.approximate_memory_bytes();
    for (int i = 0; i < n; ++i) {
      InteractionSpec s;
      s.id = InteractionId{static_cast<std::uint64_t>(i + 1)};
      s.queue = w.queues[static_cast<std::size_t>(i) % w.queues.size()].id;
      (void)engine.enqueue(s, clock.now());
    }
    engine.discard_events();
    per = static_cast<double>(heap_bytes() - before) / n;
    engine_per = static_cast<double>(engine.approximate_memory_bytes() - engine_before) / n;
  }
  // Heap delta includes vector growth slack (capacity doubling); the
  // engine's own accounting counts container capacities.
  state.counters["B/waiting"] = per;
  state.counters["B/waiting(engine)"] = engine_per;
}

// Baseline for the scaling table: what a scan-every-member design costs.
// Each decision scans all agents for a free one with the queue's skill
// (longest idle), like app_queue walking a queue's member list.
void BM_NaiveScanBaseline(benchmark::State& state) {
  const int n_agents = static_cast<int>(state.range(0));
  const World w = make_world(n_agents, static_cast<int>(state.range(1)), 7);
  std::vector<std::int64_t> idle_since(static_cast<std::size_t>(n_agents), 0);
  std::vector<char> busy(static_cast<std::size_t>(n_agents), 0);
  std::mt19937_64 rng(11);
  std::int64_t now = 0;
  std::uint64_t decisions = 0;
  for (auto _ : state) {
    ++now;
    const QueueConfig& q = w.queues[rng() % w.queues.size()];
    int best = -1;
    for (int i = 0; i < n_agents; ++i) {
      if (busy[static_cast<std::size_t>(i)]) continue;
      bool ok = true;
      for (const auto& need : q.requirement.skills) {
        bool has = false;
        for (const auto& s : w.agents[static_cast<std::size_t>(i)].skills)
          has |= s.skill == need.skill && s.level >= need.level;
        ok &= has;
      }
      if (ok &&
          (best < 0 || idle_since[static_cast<std::size_t>(i)] < idle_since[static_cast<std::size_t>(best)]))
        best = i;
    }
    if (best >= 0) {
      ++decisions;
      busy[static_cast<std::size_t>(best)] = 1;
    }
    // Free a random agent so about 90 % stay busy.
    const std::size_t f = rng() % busy.size();
    if (busy[f]) {
      busy[f] = 0;
      idle_since[f] = now;
    }
    benchmark::DoNotOptimize(best);
  }
  state.counters["decisions/s"] =
      benchmark::Counter(static_cast<double>(decisions), benchmark::Counter::kIsRate);
}

// Args: agents, queues, balanced (1: arrivals follow staffing; 0: uniform
// over queues, so thinly staffed queues build a backlog). A fixed number of
// steps: the world's state (backlog, idle agents) depends on how far the
// churn has run, so every run and every engine version does the same work.
BENCHMARK(BM_RoutingChurn)
    ->ArgNames({"agents", "queues", "balanced"})
    ->Iterations(churn_steps())
    ->Args({100, 10, 1})
    ->Args({1000, 100, 1})
    ->Args({10000, 1000, 1})
    ->Args({10000, 100, 1})
    ->Args({1000, 1000, 1})
    ->Args({100, 10, 0})
    ->Args({1000, 100, 0})
    ->Args({10000, 1000, 0})
    ->Unit(benchmark::kNanosecond);
BENCHMARK(BM_MemoryPerWaiting)->Arg(10000)->Iterations(1);
BENCHMARK(BM_NaiveScanBaseline)
    ->ArgNames({"agents", "queues"})
    ->Args({100, 10})
    ->Args({1000, 100})
    ->Args({10000, 1000});

}  // namespace
}  // namespace hotline::routing

BENCHMARK_MAIN();
