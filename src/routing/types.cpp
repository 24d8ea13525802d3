#include "routing/types.h"

namespace hotline::routing {

std::string_view to_string(Channel c) {
  switch (c) {
    case Channel::kVoice:
      return "voice";
    case Channel::kChat:
      return "chat";
    case Channel::kEmail:
      return "email";
  }
  return "?";
}

std::string_view to_string(AgentStatus s) {
  switch (s) {
    case AgentStatus::kLoggedOut:
      return "logged-out";
    case AgentStatus::kReady:
      return "ready";
    case AgentStatus::kNotReady:
      return "not-ready";
  }
  return "?";
}

std::string_view to_string(AgentState s) {
  switch (s) {
    case AgentState::kIdle:
      return "idle";
    case AgentState::kRinging:
      return "ringing";
    case AgentState::kBusy:
      return "busy";
    case AgentState::kWrapUp:
      return "wrap-up";
  }
  return "?";
}

namespace {
struct StrategyName {
  StrategyKind kind;
  std::string_view name;
};
constexpr StrategyName kStrategyNames[] = {
    {StrategyKind::kLongestIdle, "longest-idle"},   {StrategyKind::kLeastOccupied, "least-occupied"},
    {StrategyKind::kRoundRobin, "round-robin"},     {StrategyKind::kFewestHandledToday, "fewest-handled"},
    {StrategyKind::kHighestSkill, "highest-skill"}, {StrategyKind::kWeightedRandom, "weighted-random"},
    {StrategyKind::kRingAll, "ring-all"},           {StrategyKind::kFatigueAware, "fatigue-aware"},
};
}  // namespace

std::string_view to_string(StrategyKind k) {
  for (const auto& s : kStrategyNames)
    if (s.kind == k) return s.name;
  return "?";
}

bool parse_strategy(std::string_view name, StrategyKind& out) {
  for (const auto& s : kStrategyNames) {
    if (s.name == name) {
      out = s.kind;
      return true;
    }
  }
  return false;
}

std::string_view to_string(Disposition d) {
  switch (d) {
    case Disposition::kNone:
      return "none";
    case Disposition::kDisconnect:
      return "disconnect";
    case Disposition::kVoicemail:
      return "voicemail";
    case Disposition::kCallback:
      return "callback";
    case Disposition::kQueueFull:
      return "queue-full";
    case Disposition::kNoAgents:
      return "no-agents";
    case Disposition::kTransferred:
      return "transferred";
  }
  return "?";
}

std::string_view to_string(EventType t) {
  switch (t) {
    case EventType::kAgentLoggedIn:
      return "agent-logged-in";
    case EventType::kAgentReady:
      return "agent-ready";
    case EventType::kAgentNotReady:
      return "agent-not-ready";
    case EventType::kAgentLoggedOut:
      return "agent-logged-out";
    case EventType::kAgentStateChanged:
      return "agent-state";
    case EventType::kEnqueued:
      return "enqueued";
    case EventType::kRejected:
      return "rejected";
    case EventType::kOffered:
      return "offered";
    case EventType::kOfferCancelled:
      return "offer-cancelled";
    case EventType::kNoAnswer:
      return "no-answer";
    case EventType::kDeclined:
      return "declined";
    case EventType::kAnswered:
      return "answered";
    case EventType::kHoldStarted:
      return "hold-started";
    case EventType::kHoldEnded:
      return "hold-ended";
    case EventType::kEnded:
      return "ended";
    case EventType::kWrapUpEnded:
      return "wrap-up-ended";
    case EventType::kAbandoned:
      return "abandoned";
    case EventType::kOverflowed:
      return "overflowed";
    case EventType::kCallbackOffer:
      return "callback-offer";
    case EventType::kCallbackQueued:
      return "callback-queued";
    case EventType::kRemoved:
      return "removed";
    case EventType::kRequeued:
      return "requeued";
  }
  return "?";
}

bool is_command(EventType t) {
  switch (t) {
    case EventType::kOffered:
    case EventType::kOfferCancelled:
    case EventType::kCallbackOffer:
    case EventType::kRemoved:
    case EventType::kRejected:
      return true;
    default:
      return false;
  }
}

}  // namespace hotline::routing
