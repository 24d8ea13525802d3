#include "routing/metrics.h"

#include <algorithm>
#include <unordered_map>

namespace hotline::routing {
namespace {

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

// Length of [a, b) ∩ [from, to) in seconds.
double overlap(Time a, Time b, Time from, Time to) {
  const Time s = std::max(a, from), e = std::min(b, to);
  return e > s ? secs(e - s) : 0.0;
}

struct QueueAcc {
  QueueMetrics m;
  double wait_sum = 0, abandon_wait_sum = 0, talk = 0, hold = 0, wrap = 0;
};

struct AgentAcc {
  AgentMetrics m;
  AgentStatus status = AgentStatus::kLoggedOut;
  AgentState state = AgentState::kIdle;
  Time since{};
  double handle_sum = 0;
};

struct IxAcc {
  QueueId queue{};
  Time arrival{};
  Time answered{};
  Time ended{};
  Time hold_start{};
  Duration hold{0};
  bool on_hold = false;
  bool answered_flag = false;
};

}  // namespace

MetricsOptions MetricsOptions::from_queues(std::span<const QueueConfig> queues) {
  MetricsOptions o;
  for (const auto& q : queues) o.per_queue[raw(q.id)] = {q.service_level_threshold, q.short_abandon};
  return o;
}

const QueueMetrics* MetricsReport::queue(QueueId id) const {
  for (const auto& q : queues)
    if (q.queue == id) return &q;
  return nullptr;
}
const AgentMetrics* MetricsReport::agent(AgentId id) const {
  for (const auto& a : agents)
    if (a.agent == id) return &a;
  return nullptr;
}

MetricsReport compute_metrics(std::span<const Event> log, Time from, Time to, const MetricsOptions& options) {
  std::map<std::uint64_t, QueueAcc> qs;
  std::map<std::uint64_t, AgentAcc> as;
  std::unordered_map<std::uint64_t, IxAcc> ixs;
  auto qopt = [&](QueueId q) -> const QueueMetricOptions& {
    auto it = options.per_queue.find(raw(q));
    return it == options.per_queue.end() ? options.defaults : it->second;
  };
  auto queue = [&](QueueId q) -> QueueAcc& {
    QueueAcc& acc = qs[raw(q)];
    acc.m.queue = q;
    return acc;
  };
  auto agent = [&](AgentId a) -> AgentAcc& {
    AgentAcc& acc = as[raw(a)];
    acc.m.agent = a;
    return acc;
  };
  // Closes the agent's current time segment at t and accounts it.
  auto close = [&](AgentAcc& a, Time t) {
    const double d = overlap(a.since, t, from, to);
    if (a.status != AgentStatus::kLoggedOut) a.m.logged_in_seconds += d;
    if (a.state == AgentState::kBusy || a.state == AgentState::kWrapUp)
      a.m.handling_seconds += d;
    else if (a.state == AgentState::kRinging)
      a.m.ringing_seconds += d;
    else if (a.status == AgentStatus::kReady)
      a.m.available_seconds += d;
    a.since = t;
  };
  auto in = [&](Time t) { return t >= from && t < to; };

  for (const Event& e : log) {
    if (e.time >= to) break;
    const bool counted = in(e.time);
    switch (e.type) {
      case EventType::kAgentLoggedIn:
      case EventType::kAgentReady:
      case EventType::kAgentNotReady:
      case EventType::kAgentLoggedOut: {
        AgentAcc& a = agent(e.agent);
        close(a, e.time);
        a.status = e.type == EventType::kAgentReady       ? AgentStatus::kReady
                   : e.type == EventType::kAgentLoggedOut ? AgentStatus::kLoggedOut
                                                          : AgentStatus::kNotReady;
        break;
      }
      case EventType::kAgentStateChanged: {
        AgentAcc& a = agent(e.agent);
        close(a, e.time);
        a.state = static_cast<AgentState>(e.value);
        break;
      }
      case EventType::kEnqueued: {
        IxAcc& ix = ixs[raw(e.interaction)];
        ix.queue = e.queue;
        ix.arrival = e.arrival;
        if (counted) ++queue(e.queue).m.offered;
        break;
      }
      case EventType::kRejected:
        if (counted) ++queue(e.queue).m.rejected;
        break;
      case EventType::kOffered:
        if (counted) ++agent(e.agent).m.offered;
        break;
      case EventType::kAnswered: {
        IxAcc& ix = ixs[raw(e.interaction)];
        ix.queue = e.queue;
        ix.arrival = e.arrival;
        ix.answered = e.time;
        ix.answered_flag = true;
        if (counted) {
          QueueAcc& q = queue(e.queue);
          const Duration wait = e.time - e.arrival;
          ++q.m.answered;
          q.wait_sum += secs(wait);
          if (wait <= qopt(e.queue).service_level_threshold) ++q.m.answered_within_threshold;
          ++agent(e.agent).m.answered;
        }
        break;
      }
      case EventType::kHoldStarted: {
        IxAcc& ix = ixs[raw(e.interaction)];
        ix.on_hold = true;
        ix.hold_start = e.time;
        break;
      }
      case EventType::kHoldEnded: {
        IxAcc& ix = ixs[raw(e.interaction)];
        if (ix.on_hold) ix.hold += e.time - ix.hold_start;
        ix.on_hold = false;
        break;
      }
      case EventType::kEnded:
        ixs[raw(e.interaction)].ended = e.time;
        break;
      case EventType::kWrapUpEnded: {
        auto it = ixs.find(raw(e.interaction));
        if (it != ixs.end()) {
          const IxAcc& ix = it->second;
          if (counted) {
            QueueAcc& q = queue(e.queue);
            const double hold = secs(ix.hold);
            const double talk = secs(ix.ended - ix.answered) - hold;
            const double wrap = secs(e.time - ix.ended);
            ++q.m.handled;
            q.talk += talk;
            q.hold += hold;
            q.wrap += wrap;
            AgentAcc& a = agent(e.agent);
            ++a.m.handled;
            a.handle_sum += talk + hold + wrap;
          }
          ixs.erase(it);
        }
        break;
      }
      case EventType::kAbandoned: {
        if (counted) {
          QueueAcc& q = queue(e.queue);
          const Duration wait = e.time - e.arrival;
          ++q.m.abandoned;
          q.abandon_wait_sum += secs(wait);
          if (wait < qopt(e.queue).short_abandon) ++q.m.short_abandoned;
        }
        ixs.erase(raw(e.interaction));
        break;
      }
      case EventType::kRemoved:
        if (counted) ++queue(e.queue).m.removed;
        ixs.erase(raw(e.interaction));
        break;
      default:
        break;
    }
  }

  MetricsReport r;
  r.from = from;
  r.to = to;
  // Still waiting at `to`: arrived, not answered, not gone.
  for (const auto& [id, ix] : ixs) {
    if (ix.answered_flag || ix.arrival >= to) continue;
    QueueAcc& q = queue(ix.queue);
    ++q.m.waiting_at_end;
    q.m.longest_current_wait = std::max(q.m.longest_current_wait, Duration(to - ix.arrival));
  }
  QueueAcc total;
  auto finish_queue = [](QueueAcc& q) {
    QueueMetrics& m = q.m;
    if (m.answered > 0) {
      m.service_level_answered =
          static_cast<double>(m.answered_within_threshold) / static_cast<double>(m.answered);
      m.asa_seconds = q.wait_sum / static_cast<double>(m.answered);
    }
    const std::uint64_t denom = m.answered + m.abandoned - m.short_abandoned;
    if (denom > 0)
      m.service_level_abandoned =
          static_cast<double>(m.answered_within_threshold) / static_cast<double>(denom);
    if (m.handled > 0) {
      const double n = static_cast<double>(m.handled);
      m.avg_talk_seconds = q.talk / n;
      m.avg_hold_seconds = q.hold / n;
      m.avg_wrap_seconds = q.wrap / n;
      m.aht_seconds = (q.talk + q.hold + q.wrap) / n;
    }
    if (m.abandoned > 0) m.avg_abandon_wait_seconds = q.abandon_wait_sum / static_cast<double>(m.abandoned);
  };
  for (auto& [id, q] : qs) {
    finish_queue(q);
    r.queues.push_back(q.m);
    QueueMetrics& t = total.m;
    t.offered += q.m.offered;
    t.rejected += q.m.rejected;
    t.answered += q.m.answered;
    t.answered_within_threshold += q.m.answered_within_threshold;
    t.abandoned += q.m.abandoned;
    t.short_abandoned += q.m.short_abandoned;
    t.removed += q.m.removed;
    t.handled += q.m.handled;
    t.waiting_at_end += q.m.waiting_at_end;
    t.longest_current_wait = std::max(t.longest_current_wait, q.m.longest_current_wait);
    total.wait_sum += q.wait_sum;
    total.abandon_wait_sum += q.abandon_wait_sum;
    total.talk += q.talk;
    total.hold += q.hold;
    total.wrap += q.wrap;
  }
  finish_queue(total);
  r.total = total.m;
  for (auto& [id, a] : as) {
    close(a, to);
    AgentMetrics& m = a.m;
    if (m.offered > 0) m.answer_rate = static_cast<double>(m.answered) / static_cast<double>(m.offered);
    const double staffed = m.handling_seconds + m.available_seconds + m.ringing_seconds;
    if (staffed > 0) m.occupancy = m.handling_seconds / staffed;
    if (m.logged_in_seconds > 0) m.utilization = m.handling_seconds / m.logged_in_seconds;
    if (m.handled > 0) m.aht_seconds = a.handle_sum / static_cast<double>(m.handled);
    r.agents.push_back(m);
  }
  return r;
}

}  // namespace hotline::routing
