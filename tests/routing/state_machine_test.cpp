// One test per transition of the two state machines (state_machine.h).
#include "routing/state_machine.h"

#include <gtest/gtest.h>

namespace hotline::routing {
namespace {

const StatusValue kOut{AgentStatus::kLoggedOut, reason::kNone};
const StatusValue kReadyV{AgentStatus::kReady, reason::kNone};
const StatusValue kBreakV{AgentStatus::kNotReady, reason::kBreak};

TEST(AgentStatusMachine, LoginFromLoggedOutGoesNotReadyLogin) {
  auto r = transition_status(kOut, StatusInput::kLogin);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, AgentStatus::kNotReady);
  EXPECT_EQ(r->reason, reason::kLogin);
}

TEST(AgentStatusMachine, LoginWhenLoggedInIsRejected) {
  EXPECT_EQ(transition_status(kReadyV, StatusInput::kLogin).error().code, "conflict");
  EXPECT_EQ(transition_status(kBreakV, StatusInput::kLogin).error().code, "conflict");
}

TEST(AgentStatusMachine, ReadyFromNotReady) {
  auto r = transition_status(kBreakV, StatusInput::kReady);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, kReadyV);
}

TEST(AgentStatusMachine, ReadyFromLoggedOutOrReadyIsRejected) {
  EXPECT_FALSE(transition_status(kOut, StatusInput::kReady).ok());
  EXPECT_FALSE(transition_status(kReadyV, StatusInput::kReady).ok());
}

TEST(AgentStatusMachine, NotReadyKeepsReason) {
  auto r = transition_status(kReadyV, StatusInput::kNotReady, reason::kLunch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, AgentStatus::kNotReady);
  EXPECT_EQ(r->reason, reason::kLunch);
  auto change = transition_status(kBreakV, StatusInput::kNotReady, reason::kMeeting);
  ASSERT_TRUE(change.ok());
  EXPECT_EQ(change->reason, reason::kMeeting);
}

TEST(AgentStatusMachine, NotReadyNeedsReasonAndChange) {
  EXPECT_EQ(transition_status(kReadyV, StatusInput::kNotReady, reason::kNone).error().code,
            "invalid_argument");
  EXPECT_FALSE(transition_status(kBreakV, StatusInput::kNotReady, reason::kBreak).ok());
  EXPECT_FALSE(transition_status(kOut, StatusInput::kNotReady, reason::kBreak).ok());
}

TEST(AgentStatusMachine, LogoutFromLoggedIn) {
  EXPECT_EQ(*transition_status(kReadyV, StatusInput::kLogout), kOut);
  EXPECT_EQ(*transition_status(kBreakV, StatusInput::kLogout), kOut);
  EXPECT_FALSE(transition_status(kOut, StatusInput::kLogout).ok());
}

struct PhaseCase {
  Phase from;
  PhaseInput input;
  bool ok;
  Phase to;
};

class PhaseMachine : public ::testing::TestWithParam<PhaseCase> {};

TEST_P(PhaseMachine, Transition) {
  const PhaseCase c = GetParam();
  auto r = transition_phase(c.from, c.input);
  ASSERT_EQ(r.ok(), c.ok) << to_string(c.from) << " + " << to_string(c.input);
  if (c.ok)
    EXPECT_EQ(*r, c.to);
  else
    EXPECT_EQ(r.error().code, "conflict");
}

// Every (phase, input) pair: allowed ones with their target, the rest rejected.
std::vector<PhaseCase> all_cases() {
  const PhaseCase allowed[] = {
      {Phase::kScheduled, PhaseInput::kActivate, true, Phase::kWaiting},
      {Phase::kScheduled, PhaseInput::kAbandon, true, Phase::kAbandoned},
      {Phase::kScheduled, PhaseInput::kRemove, true, Phase::kRemoved},
      {Phase::kWaiting, PhaseInput::kOffer, true, Phase::kOffered},
      {Phase::kWaiting, PhaseInput::kAbandon, true, Phase::kAbandoned},
      {Phase::kWaiting, PhaseInput::kRemove, true, Phase::kRemoved},
      {Phase::kOffered, PhaseInput::kAnswer, true, Phase::kConnected},
      {Phase::kOffered, PhaseInput::kDecline, true, Phase::kWaiting},
      {Phase::kOffered, PhaseInput::kNoAnswer, true, Phase::kWaiting},
      {Phase::kOffered, PhaseInput::kWithdraw, true, Phase::kWaiting},
      {Phase::kOffered, PhaseInput::kAbandon, true, Phase::kAbandoned},
      {Phase::kConnected, PhaseInput::kEnd, true, Phase::kWrapUp},
      {Phase::kWrapUp, PhaseInput::kWrapDone, true, Phase::kDone},
  };
  std::vector<PhaseCase> out;
  for (int p = 0; p <= static_cast<int>(Phase::kRemoved); ++p) {
    for (int i = 0; i <= static_cast<int>(PhaseInput::kRemove); ++i) {
      PhaseCase c{static_cast<Phase>(p), static_cast<PhaseInput>(i), false, Phase::kWaiting};
      for (const auto& a : allowed)
        if (a.from == c.from && a.input == c.input) c = a;
      out.push_back(c);
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(AllPairs, PhaseMachine, ::testing::ValuesIn(all_cases()));

TEST(PhaseMachineTerminal, TerminalPhases) {
  EXPECT_TRUE(is_terminal(Phase::kDone));
  EXPECT_TRUE(is_terminal(Phase::kAbandoned));
  EXPECT_TRUE(is_terminal(Phase::kRemoved));
  EXPECT_FALSE(is_terminal(Phase::kWaiting));
}

}  // namespace
}  // namespace hotline::routing
