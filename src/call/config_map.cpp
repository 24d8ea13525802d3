// center configuration → routing engine configuration.
#include <algorithm>

#include "call/internal.h"

namespace hotline::call {

std::optional<routing::SkillId> skill_id(const center::Snapshot& snap, const std::string& name) {
  for (const auto& s : snap.skills)
    if (s.name == name) return static_cast<routing::SkillId>(s.id);
  return std::nullopt;
}

std::vector<routing::SkillLevel> to_skill_levels(const std::vector<center::SkillLevelDef>& skills,
                                                 const center::Snapshot& snap) {
  std::vector<routing::SkillLevel> out;
  for (const auto& s : skills) {
    // The repository refuses unknown skills; a skill deleted since is skipped.
    if (auto id = skill_id(snap, s.skill))
      out.push_back({*id, std::clamp(s.level, routing::kMinSkillLevel, routing::kMaxSkillLevel)});
  }
  return out;
}

namespace {

routing::Disposition max_wait_disposition(const std::string& action) {
  if (action == "disconnect") return routing::Disposition::kDisconnect;
  if (action == "callback") return routing::Disposition::kCallback;
  return routing::Disposition::kVoicemail;
}

std::optional<routing::OverflowStep> to_step(const center::OverflowDef& o, const center::Snapshot& snap) {
  routing::OverflowStep s;
  s.after = std::chrono::seconds(o.after_s);
  if (o.action == "relax") {
    s.action = routing::OverflowStep::Action::kRelax;
    s.requirement.skills = to_skill_levels(o.skills, snap);
  } else if (o.action == "add_queue") {
    const center::QueueDef* q = snap.queue(o.queue);
    if (!q) return std::nullopt;
    s.action = routing::OverflowStep::Action::kAddQueue;
    s.queue = routing::QueueId{static_cast<std::uint64_t>(q->id)};
  } else if (o.action == "callback") {
    s.action = routing::OverflowStep::Action::kOfferCallback;
  } else if (o.action == "voicemail") {
    s.action = routing::OverflowStep::Action::kVoicemail;
  } else {
    return std::nullopt;
  }
  return s;
}

}  // namespace

routing::QueueConfig to_queue_config(const center::QueueDef& q, const center::Snapshot& snap) {
  routing::QueueConfig c;
  c.id = routing::QueueId{static_cast<std::uint64_t>(q.id)};
  c.requirement.mode = q.match == "any" ? routing::MatchMode::kAny : routing::MatchMode::kAll;
  c.requirement.skills = to_skill_levels(q.skills, snap);
  routing::StrategyKind k;
  c.strategy = routing::parse_strategy(q.strategy, k) ? k : routing::StrategyKind::kLongestIdle;
  c.service_level_threshold = std::chrono::seconds(q.service_level_s);
  c.max_wait = std::chrono::seconds(q.max_wait_s);
  c.max_wait_disposition = max_wait_disposition(q.max_wait_action);
  c.max_length = static_cast<std::size_t>(std::max(0, q.max_length));
  c.wrap_up = std::chrono::seconds(q.wrap_up_s);
  c.ring_timeout = std::chrono::seconds(std::max(1, q.ring_timeout_s));
  c.max_consecutive_misses = q.max_consecutive_misses;
  for (const auto& o : q.overflow)
    if (auto s = to_step(o, snap)) c.overflow.push_back(std::move(*s));
  std::sort(c.overflow.begin(), c.overflow.end(),
            [](const auto& a, const auto& b) { return a.after < b.after; });
  return c;
}

routing::AgentConfig to_agent_config(const center::AgentDef& a, const center::Snapshot& snap) {
  routing::AgentConfig c;
  c.id = routing::AgentId{static_cast<std::uint64_t>(a.id)};
  c.skills = to_skill_levels(a.skills, snap);
  c.capacity[0] = a.voice_capacity;
  c.capacity[1] = a.chat_capacity;
  c.capacity[2] = a.email_capacity;
  return c;
}

const char* phase_name(CallPhase p) {
  switch (p) {
    case CallPhase::kFeature:
      return "feature";
    case CallPhase::kIvr:
      return "ivr";
    case CallPhase::kQueued:
      return "queued";
    case CallPhase::kConnected:
      return "connected";
    case CallPhase::kCallbackConfirm:
      return "callback_confirm";
    case CallPhase::kCallbackWaiting:
      return "callback_waiting";
    case CallPhase::kVoicemail:
      return "voicemail";
    case CallPhase::kOutside:
      return "outside";
    case CallPhase::kGoodbye:
      return "goodbye";
    case CallPhase::kEnded:
      return "ended";
  }
  return "?";
}

}  // namespace hotline::call
