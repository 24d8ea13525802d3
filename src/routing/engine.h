// routing/engine.h — the ACD engine: agents, queues, skills, strategies,
// overflow, callbacks. A pure, single-threaded, deterministic library.
//
// CONTRACT
//  * No sockets, threads or clocks: every call takes `now`. Calls must come
//    from one strand. A `now` earlier than the latest seen is treated as the
//    latest (time never runs backwards inside the engine).
//  * Inputs are reports of facts ("agent 7 answered interaction 42") and
//    requests ("enqueue this"). Invalid input (unknown id, a transition the
//    state machines in state_machine.h forbid) returns an Error and changes
//    nothing.
//  * Outputs are Events, appended to one ordered log. Some of them are
//    commands the call layer must carry out (is_command()): kOffered (ring
//    the agent; report answered/declined/no_answer), kOfferCancelled (stop
//    ringing), kCallbackOffer (offer the caller a callback), kRemoved /
//    kRejected (the interaction leaves routing with a Disposition). The rest
//    are state changes for metrics (metrics.h) and dashboards.
//    Collect them with drain() after each call (or in batches).
//  * Timers (ring timeout, overflow steps, max wait, wrap-up end, sticky
//    window, scheduled callbacks, heartbeat loss) fire in tick(now). Arm one
//    host timer for next_deadline() and call tick() when it expires.
//
// TYPICAL USE (call layer, issue 6)
//   Engine engine;
//   engine.upsert_queue(sales);  engine.upsert_agent(alice);
//   engine.login(alice.id, now); engine.set_ready(alice.id, now);
//   engine.enqueue({.id = call, .queue = sales.id}, now);
//   engine.drain(events);   // -> kOffered{interaction=call, agent=alice, deadline}
//   ... agent picks up ...  engine.answered(call, alice.id, now);
//   ... hang up ...         engine.ended(call, now);      // wrap-up starts
//   engine.tick(now + wrap_up);                           // wrap-up ends, alice idle
//
// ROUTING RULES
//  * Waiting order per queue: higher priority first, then earlier arrival
//    (the original arrival survives declines, no-answers and overflow).
//  * Work conservation: after every call, no available agent could take any
//    waiting interaction (check_invariants() verifies this in tests).
//  * When an agent frees up it takes the best waiting interaction across all
//    queues it can serve: priority, then arrival minus the queue's
//    weight_seconds.
//  * When an interaction arrives and several agents are available, the home
//    queue's strategy picks; agents of overflow-added queues are tried after
//    the home queue's.
//  * A ringing agent gets no further offers; capacity is held from offer
//    until wrap-up ends. An active voice call blocks other channels when the
//    agent's policy says so.
//  * An interaction never goes back to an agent that declined it or let it
//    ring out, while it stays in routing.
//
// COST
//  Available agents are indexed per (channel, skill, level) in availability
//  order, so a decision touches only available agents with the driving
//  skill; an agent freeing up looks only at the heads of the queues it
//  serves. Nothing scans all agents or all queues per decision. Records live
//  in dense arrays addressed by slot; the handle overloads let a caller skip
//  the id lookups entirely.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "routing/state_machine.h"
#include "routing/strategy.h"
#include "routing/types.h"

namespace hotline::routing {

struct EngineOptions {
  std::uint64_t seed = 0x5eed;          // PRNG for the weighted-random strategy
  Millis default_handle_time{180'000};  // EWT prior before any interaction completed
};

enum class EnqueueOutcome : std::uint8_t {
  kQueued,      // waiting or already offered
  kQueueFull,   // left routing: Disposition::kQueueFull
  kNoAgents,    // left routing: Disposition::kNoAgents
  kRedirected,  // queued in the no-agents redirect queue
};

struct AgentSnapshot {
  AgentId id{};
  AgentStatus status = AgentStatus::kLoggedOut;
  ReasonCode reason = reason::kNone;
  AgentState state = AgentState::kIdle;
  int used[kChannelCount] = {0, 0, 0};  // slots held (ringing + connected + wrap-up)
  int consecutive_misses = 0;
  std::uint32_t handled_today = 0;
  std::vector<InteractionId> interactions;
};

struct QueueSnapshot {
  QueueId id{};
  std::size_t waiting = 0;
  Duration longest_wait{0};
  std::size_t staffed = 0;     // logged-in agents meeting the base requirement
  std::size_t available = 0;   // of those, currently available on the queue's channel
  Duration estimated_wait{0};  // for a new arrival
  double recent_handle_seconds = 0;
};

struct InteractionSnapshot {
  InteractionId id{};
  Phase phase = Phase::kWaiting;
  QueueId queue{};
  Time arrival{};
  int priority = 0;
  bool callback = false;
  int overflow_steps_applied = 0;
  std::vector<AgentId> ringing;  // agents the interaction is offered to
  AgentId agent{};               // connected / wrap-up agent
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // ---- configuration (may be called at any time) ----
  // Creates or replaces an agent's configuration. Skill changes apply to the
  // next decision; interactions in progress are unaffected.
  common::Status upsert_agent(const AgentConfig& config, Time now);
  // Only a logged-out agent can be removed.
  common::Status remove_agent(AgentId id);
  common::Status upsert_queue(const QueueConfig& config, Time now);
  // Only an empty queue can be removed.
  common::Status remove_queue(QueueId id);
  // Replaces the queue's strategy with a custom one (pluggable strategies).
  common::Status set_custom_strategy(QueueId id, std::shared_ptr<const Strategy> strategy);

  // ---- agent status (agent's choice) ----
  common::Status login(AgentId id, Time now);
  common::Status set_ready(AgentId id, Time now);
  common::Status set_not_ready(AgentId id, ReasonCode reason, Time now);
  // Refused while the agent holds a connected or wrap-up interaction; ringing
  // offers are withdrawn and their interactions requeued.
  common::Status logout(AgentId id, Time now);
  // Device/session liveness. With AgentConfig::heartbeat_timeout set, a
  // missing heartbeat moves the agent to Not ready (disconnected) and
  // withdraws its ringing offers.
  common::Status heartbeat(AgentId id, Time now);
  // The call layer's view of which interactions the agent really has. Offers
  // it does not have are withdrawn (requeued); connected ones it does not have
  // are ended (wrap-up skipped). Interactions it has that the engine does not
  // attribute to the agent are ignored (reported as an Error code "conflict"
  // after the fix-ups are done).
  common::Status reconcile(AgentId id, std::span<const InteractionId> actual, Time now);
  // Resets handled-today counters (the app calls it at the tenant's midnight).
  void start_new_day();

  // ---- interactions ----
  common::Result<EnqueueOutcome> enqueue(const InteractionSpec& spec, Time now);
  // A callback to be queued at `at` (agent-first when offered).
  common::Status schedule_callback(const InteractionSpec& spec, Time at, Time now);
  // Virtual hold: the caller hangs up but keeps the position; the
  // interaction is offered to an agent as a callback (agent-first) and can no
  // longer be abandoned or hit max wait.
  common::Status convert_to_callback(InteractionId id, Time now);
  common::Status answered(InteractionId id, AgentId agent, Time now);
  common::Status declined(InteractionId id, AgentId agent, Time now);
  common::Status no_answer(InteractionId id, AgentId agent, Time now);
  // Caller left (waiting or ringing). For a connected call use ended().
  common::Status abandoned(InteractionId id, Time now);
  common::Status hold(InteractionId id, bool on_hold, Time now);
  // Conversation over; wrap-up runs for the queue's wrap_up time. `difficult`
  // feeds the fatigue-aware strategy.
  common::Status ended(InteractionId id, Time now, bool difficult = false);
  // Agent finished wrap-up early.
  common::Status wrap_up_done(InteractionId id, Time now);

  // ---- the same reports by handle (no id lookup) ----
  // Handles come from events (Event::handle, Event::agent_handle), from the
  // enqueue() overload below or from handle_of(). Each call below behaves
  // exactly like its id-based twin, except that a stale handle (the
  // interaction left routing, its slot may now hold another one; or the agent
  // was removed) is rejected with not_found "stale ... handle" and changes
  // nothing. An interaction's handle stays the same from enqueue until it
  // leaves routing (done, abandoned, removed).
  common::Result<EnqueueOutcome> enqueue(const InteractionSpec& spec, Time now, InteractionHandle& handle);
  common::Result<InteractionHandle> handle_of(InteractionId id) const;
  common::Result<AgentHandle> handle_of(AgentId id) const;
  common::Status answered(InteractionHandle ix, AgentHandle agent, Time now);
  common::Status declined(InteractionHandle ix, AgentHandle agent, Time now);
  common::Status no_answer(InteractionHandle ix, AgentHandle agent, Time now);
  common::Status abandoned(InteractionHandle ix, Time now);
  common::Status ended(InteractionHandle ix, Time now, bool difficult = false);
  common::Status wrap_up_done(InteractionHandle ix, Time now);

  // ---- time ----
  void tick(Time now);
  std::optional<Time> next_deadline() const;

  // ---- output ----
  // Appends the events produced since the last drain to `out`.
  std::size_t drain(std::vector<Event>& out);
  // Discards pending events (benchmarks).
  void discard_events();
  std::size_t pending_events() const;

  // ---- queries ----
  common::Result<AgentSnapshot> agent(AgentId id) const;
  common::Result<QueueSnapshot> queue(QueueId id, Time now) const;
  common::Result<InteractionSnapshot> interaction(InteractionId id) const;
  // Estimated wait for the caller at 0-based `position` in the queue.
  common::Result<Duration> estimated_wait(QueueId id, std::size_t position) const;
  std::size_t agent_count() const;
  std::size_t live_interaction_count() const;
  // Bytes of engine memory attributable to agents / waiting interactions
  // (approximate: container capacities, not allocator overhead).
  std::size_t approximate_memory_bytes() const;
  // Customers remembered for sticky routing. Bounded: answers older than the
  // longest sticky_window of any queue are dropped (on answers and in tick),
  // and nothing is remembered while no queue uses sticky routing.
  std::size_t sticky_entries() const;

  // Full consistency check (O(everything)); returns "" when consistent.
  // Used by tests after every step.
  std::string check_invariants() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hotline::routing
