// routing/metrics.h — contact-center metrics computed exactly from the
// engine's event log, for any interval [from, to).
//
// Definitions (also in docs/routing.md):
//  * offered    — interactions that entered the queue (kEnqueued) in the interval.
//  * rejected   — arrivals turned away (queue full / no agents), kRejected.
//  * answered   — kAnswered in the interval; wait = answer time − original arrival.
//  * abandoned  — kAbandoned in the interval; short abandons (wait < the
//                 queue's short-abandon threshold) are counted separately.
//  * service_level_answered  = answered with wait <= T / answered.
//  * service_level_abandoned = answered with wait <= T /
//                              (answered + abandoned − short abandoned).
//  * ASA        — mean wait of answered interactions.
//  * AHT        — (talk + hold + wrap-up) / handled, over interactions whose
//                 wrap-up ended in the interval (talk excludes hold).
//  * longest_current_wait — at `to`, the longest wait among interactions
//                 that arrived and are neither answered nor gone.
//  * Agent time (clipped to the interval): logged-in (status != logged out),
//    available (Ready and Idle), ringing, handling (Busy or WrapUp).
//    occupancy = handling / (handling + available + ringing);
//    utilization = handling / logged-in.
//  * agent answer rate = answered / offered (per agent, offers in the interval).
// Live metrics are the same function with `to` = now.
#pragma once

#include <map>
#include <span>
#include <vector>

#include "routing/types.h"

namespace hotline::routing {

struct QueueMetricOptions {
  Millis service_level_threshold{20'000};
  Millis short_abandon{5'000};
};

struct MetricsOptions {
  QueueMetricOptions defaults;
  std::map<std::uint64_t, QueueMetricOptions> per_queue;  // by raw QueueId
  static MetricsOptions from_queues(std::span<const QueueConfig> queues);
};

struct QueueMetrics {
  QueueId queue{};
  std::uint64_t offered = 0;
  std::uint64_t rejected = 0;
  std::uint64_t answered = 0;
  std::uint64_t answered_within_threshold = 0;
  std::uint64_t abandoned = 0;
  std::uint64_t short_abandoned = 0;
  std::uint64_t removed = 0;          // left routing without an agent (max wait, voicemail)
  std::uint64_t handled = 0;          // wrap-up ended
  double service_level_answered = 0;  // 0 when nothing was answered
  double service_level_abandoned = 0;
  double asa_seconds = 0;
  double aht_seconds = 0;
  double avg_talk_seconds = 0;
  double avg_hold_seconds = 0;
  double avg_wrap_seconds = 0;
  double avg_abandon_wait_seconds = 0;
  Duration longest_current_wait{0};
  std::size_t waiting_at_end = 0;
};

struct AgentMetrics {
  AgentId agent{};
  std::uint64_t offered = 0;
  std::uint64_t answered = 0;
  std::uint64_t handled = 0;
  double answer_rate = 0;
  double logged_in_seconds = 0;
  double available_seconds = 0;
  double ringing_seconds = 0;
  double handling_seconds = 0;
  double occupancy = 0;
  double utilization = 0;
  double aht_seconds = 0;
};

struct MetricsReport {
  Time from{};
  Time to{};
  std::vector<QueueMetrics> queues;  // sorted by id
  std::vector<AgentMetrics> agents;  // sorted by id
  QueueMetrics total;                // all queues together (queue id 0)
  const QueueMetrics* queue(QueueId id) const;
  const AgentMetrics* agent(AgentId id) const;
};

// `log` must be in emission order (seq ascending) and complete from the start
// of the agents' sessions, so agent states at `from` are known.
MetricsReport compute_metrics(std::span<const Event> log, Time from, Time to,
                              const MetricsOptions& options = {});

}  // namespace hotline::routing
