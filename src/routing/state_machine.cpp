#include "routing/state_machine.h"

#include <string>

namespace hotline::routing {

using common::Error;
using common::Result;

Result<StatusValue> transition_status(StatusValue current, StatusInput input, ReasonCode not_ready_reason) {
  const bool logged_in = current.status != AgentStatus::kLoggedOut;
  switch (input) {
    case StatusInput::kLogin:
      if (logged_in) return Error::conflict("agent is already logged in");
      return StatusValue{AgentStatus::kNotReady, reason::kLogin};
    case StatusInput::kReady:
      if (!logged_in) return Error::conflict("agent must log in before becoming ready");
      if (current.status == AgentStatus::kReady) return Error::conflict("agent is already ready");
      return StatusValue{AgentStatus::kReady, reason::kNone};
    case StatusInput::kNotReady:
      if (!logged_in) return Error::conflict("agent must log in before becoming not ready");
      if (not_ready_reason == reason::kNone)
        return Error::invalid("reason", "a not-ready status needs a reason code");
      if (current.status == AgentStatus::kNotReady && current.reason == not_ready_reason)
        return Error::conflict("agent is already not ready with this reason");
      return StatusValue{AgentStatus::kNotReady, not_ready_reason};
    case StatusInput::kLogout:
      if (!logged_in) return Error::conflict("agent is already logged out");
      return StatusValue{AgentStatus::kLoggedOut, reason::kNone};
  }
  return Error::invalid("input", "unknown status input");
}

Result<Phase> transition_phase(Phase current, PhaseInput input) {
  auto bad = [&]() -> Result<Phase> {
    return Error::conflict(std::string("cannot ") + std::string(to_string(input)) +
                           " an interaction that is " + std::string(to_string(current)));
  };
  if (const std::optional<Phase> next = next_phase(current, input)) return *next;
  return bad();
}

std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::kScheduled:
      return "scheduled";
    case Phase::kWaiting:
      return "waiting";
    case Phase::kOffered:
      return "offered";
    case Phase::kConnected:
      return "connected";
    case Phase::kWrapUp:
      return "wrap-up";
    case Phase::kDone:
      return "done";
    case Phase::kAbandoned:
      return "abandoned";
    case Phase::kRemoved:
      return "removed";
  }
  return "?";
}

std::string_view to_string(PhaseInput p) {
  switch (p) {
    case PhaseInput::kActivate:
      return "activate";
    case PhaseInput::kOffer:
      return "offer";
    case PhaseInput::kAnswer:
      return "answer";
    case PhaseInput::kDecline:
      return "decline";
    case PhaseInput::kNoAnswer:
      return "no-answer";
    case PhaseInput::kWithdraw:
      return "withdraw";
    case PhaseInput::kEnd:
      return "end";
    case PhaseInput::kWrapDone:
      return "finish wrap-up of";
    case PhaseInput::kAbandon:
      return "abandon";
    case PhaseInput::kRemove:
      return "remove";
  }
  return "?";
}

}  // namespace hotline::routing
