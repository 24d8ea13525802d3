// routing/state_machine.h — the two explicit state machines of the engine.
//
// Each machine is an enum plus one pure transition function that either
// returns the next state or an Error whose message says why the input is not
// allowed. The engine calls nothing else to change these states, so every
// rule lives here and is unit-tested one transition at a time.
#pragma once

#include <optional>

#include "common/result.h"
#include "routing/types.h"

namespace hotline::routing {

// --- Agent status: the state the agent chooses. ---------------------------
//
//   LoggedOut --login--> NotReady(login)
//   NotReady  --ready--> Ready
//   Ready/NotReady --not_ready(r)--> NotReady(r)   (r must differ when already NotReady)
//   Ready/NotReady --logout--> LoggedOut
//
// Whether an agent with live interactions may log out is an engine rule (it
// may not), not part of this machine.
enum class StatusInput : std::uint8_t { kLogin, kReady, kNotReady, kLogout };

struct StatusValue {
  AgentStatus status = AgentStatus::kLoggedOut;
  ReasonCode reason = reason::kNone;
  friend bool operator==(const StatusValue&, const StatusValue&) = default;
};

common::Result<StatusValue> transition_status(StatusValue current, StatusInput input,
                                              ReasonCode not_ready_reason = reason::kNone);

// --- Interaction phase: where an interaction is in routing. -----------------
//
//   Scheduled --activate--> Waiting            (scheduled callback time reached)
//   Waiting   --offer-->    Offered
//   Offered   --answer-->   Connected
//   Offered   --decline | no_answer | withdraw--> Waiting   (head of queue, original arrival)
//   Connected --end-->      WrapUp
//   WrapUp    --wrap_done--> Done
//   Scheduled/Waiting/Offered --abandon--> Abandoned
//   Scheduled/Waiting --remove--> Removed   (max wait, voicemail, queue deleted)
//
// Done, Abandoned and Removed are terminal.
enum class Phase : std::uint8_t {
  kScheduled,
  kWaiting,
  kOffered,
  kConnected,
  kWrapUp,
  kDone,
  kAbandoned,
  kRemoved
};
std::string_view to_string(Phase p);

enum class PhaseInput : std::uint8_t {
  kActivate,
  kOffer,
  kAnswer,
  kDecline,
  kNoAnswer,
  kWithdraw,
  kEnd,
  kWrapDone,
  kAbandon,
  kRemove,
};
std::string_view to_string(PhaseInput p);

// The phase `input` leads to from `current`, or nullopt when the machine
// forbids it (transition_phase() says why). The transition table itself,
// inline because the engine applies it on every offer, answer and end.
constexpr std::optional<Phase> next_phase(Phase current, PhaseInput input) {
  switch (current) {
    case Phase::kScheduled:
      if (input == PhaseInput::kActivate) return Phase::kWaiting;
      if (input == PhaseInput::kAbandon) return Phase::kAbandoned;
      if (input == PhaseInput::kRemove) return Phase::kRemoved;
      return std::nullopt;
    case Phase::kWaiting:
      if (input == PhaseInput::kOffer) return Phase::kOffered;
      if (input == PhaseInput::kAbandon) return Phase::kAbandoned;
      if (input == PhaseInput::kRemove) return Phase::kRemoved;
      return std::nullopt;
    case Phase::kOffered:
      if (input == PhaseInput::kAnswer) return Phase::kConnected;
      if (input == PhaseInput::kDecline || input == PhaseInput::kNoAnswer || input == PhaseInput::kWithdraw)
        return Phase::kWaiting;
      if (input == PhaseInput::kAbandon) return Phase::kAbandoned;
      return std::nullopt;
    case Phase::kConnected:
      if (input == PhaseInput::kEnd) return Phase::kWrapUp;
      return std::nullopt;
    case Phase::kWrapUp:
      if (input == PhaseInput::kWrapDone) return Phase::kDone;
      return std::nullopt;
    case Phase::kDone:
    case Phase::kAbandoned:
    case Phase::kRemoved:
      return std::nullopt;
  }
  return std::nullopt;
}

// next_phase(), or a conflict error naming the input and the phase.
common::Result<Phase> transition_phase(Phase current, PhaseInput input);

inline bool is_terminal(Phase p) {
  return p == Phase::kDone || p == Phase::kAbandoned || p == Phase::kRemoved;
}

}  // namespace hotline::routing
