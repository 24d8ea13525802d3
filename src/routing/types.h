// routing/types.h — identifiers, configuration records and the event record
// shared by the ACD engine, the metrics and the simulator.
//
// Identifiers are caller-chosen 64-bit numbers (the call layer maps its own
// UUIDs/names onto them) so the decision path never hashes strings. Skills are
// caller-chosen 32-bit numbers with levels 1..10.
//
// Time is `common::SteadyTime` supplied by the caller on every call; the
// engine never reads a clock itself, which makes it deterministic.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"

namespace hotline::routing {

using Time = common::SteadyTime;
using Duration = std::chrono::nanoseconds;
using Millis = std::chrono::milliseconds;

enum class AgentId : std::uint64_t {};
enum class QueueId : std::uint64_t {};
enum class InteractionId : std::uint64_t {};
using SkillId = std::uint32_t;
using ReasonCode = std::uint32_t;

inline constexpr std::uint64_t raw(AgentId id) { return static_cast<std::uint64_t>(id); }
inline constexpr std::uint64_t raw(QueueId id) { return static_cast<std::uint64_t>(id); }
inline constexpr std::uint64_t raw(InteractionId id) { return static_cast<std::uint64_t>(id); }

// Not-ready reason codes below 100 are reserved for the engine; the rest are
// tenant-defined (break, lunch, training, meeting, ...).
namespace reason {
inline constexpr ReasonCode kNone = 0;
inline constexpr ReasonCode kLogin = 1;         // just logged in, not ready yet
inline constexpr ReasonCode kMissed = 2;        // N consecutive unanswered offers
inline constexpr ReasonCode kDisconnected = 3;  // heartbeat lost / reconciled away
inline constexpr ReasonCode kBreak = 100;
inline constexpr ReasonCode kLunch = 101;
inline constexpr ReasonCode kTraining = 102;
inline constexpr ReasonCode kMeeting = 103;
}  // namespace reason

enum class Channel : std::uint8_t { kVoice = 0, kChat = 1, kEmail = 2 };
inline constexpr int kChannelCount = 3;
std::string_view to_string(Channel c);

inline constexpr int kMinSkillLevel = 1;
inline constexpr int kMaxSkillLevel = 10;

struct SkillLevel {
  SkillId skill = 0;
  int level = kMinSkillLevel;
  friend bool operator==(const SkillLevel&, const SkillLevel&) = default;
};

// ---------------------------------------------------------------- agents ----

struct AgentConfig {
  AgentId id{};
  std::uint32_t team = 0;
  std::vector<SkillLevel> skills;           // levels 1..10, one entry per skill
  int capacity[kChannelCount] = {1, 0, 0};  // concurrent interactions per channel
  bool voice_blocks_other_channels = true;  // an active call stops new chats/emails
  double weight = 1.0;                      // for the weighted-random strategy
  // 0 disables heartbeat supervision; otherwise the agent is moved to
  // Not ready (disconnected) when no heartbeat arrives within this time.
  Millis heartbeat_timeout{0};
};

// The status the agent chooses.
enum class AgentStatus : std::uint8_t { kLoggedOut, kReady, kNotReady };
std::string_view to_string(AgentStatus s);

// What the system is doing with the agent, derived from its interactions:
// any offer ringing -> Ringing; else any connected -> Busy; else any
// interaction in wrap-up -> WrapUp; else Idle.
enum class AgentState : std::uint8_t { kIdle, kRinging, kBusy, kWrapUp };
std::string_view to_string(AgentState s);

// ---------------------------------------------------------------- queues ----

enum class MatchMode : std::uint8_t { kAll, kAny };

// Skills with minimum levels, combined with AND (kAll) or OR (kAny). An empty
// requirement matches every agent.
struct Requirement {
  MatchMode mode = MatchMode::kAll;
  std::vector<SkillLevel> skills;
};

enum class StrategyKind : std::uint8_t {
  kLongestIdle,
  kLeastOccupied,
  kRoundRobin,
  kFewestHandledToday,
  kHighestSkill,
  kWeightedRandom,
  kRingAll,
  kFatigueAware,
};
std::string_view to_string(StrategyKind k);
bool parse_strategy(std::string_view name, StrategyKind& out);

enum class ServiceLevelVariant : std::uint8_t {
  kAnsweredOnly,        // answered within T / answered
  kIncludingAbandoned,  // answered within T / (answered + abandoned after the short-abandon threshold)
};

// What happens to an interaction that leaves the queue without an agent.
enum class Disposition : std::uint8_t {
  kNone,
  kDisconnect,  // play a message and hang up
  kVoicemail,
  kCallback,  // convert to a callback request (the call layer asks the caller)
  kQueueFull,
  kNoAgents,
  kTransferred,  // moved to another queue (overflow target) — stays in routing
};
std::string_view to_string(Disposition d);

enum class NoAgentsPolicy : std::uint8_t {
  kQueueAnyway,  // wait; agents may log in
  kReject,       // leave routing with Disposition::kNoAgents
  kRedirect,     // enqueue in `no_agents_redirect` instead
};

// One overflow step, applied when the interaction has waited `after` (measured
// from its original arrival). Steps are sorted by `after`.
struct OverflowStep {
  enum class Action : std::uint8_t {
    kRelax,          // replace the queue's requirement with `requirement`
    kAddQueue,       // also wait in `queue` (its agents may take it)
    kOfferCallback,  // tell the call layer to offer the caller a callback
    kVoicemail,      // leave routing to voicemail
  };
  Millis after{0};
  Action action = Action::kRelax;
  Requirement requirement;  // kRelax
  QueueId queue{};          // kAddQueue
};

// Adds a skill requirement when an interaction attribute has a given value
// (e.g. region=EU requires skill "region-eu" level >= 1).
struct AttributeRule {
  std::string attribute;
  std::string value;
  SkillLevel skill;
};

struct QueueConfig {
  QueueId id{};
  Channel channel = Channel::kVoice;
  Requirement requirement;
  std::vector<AttributeRule> attribute_rules;
  StrategyKind strategy = StrategyKind::kLongestIdle;
  int ring_all_max = 8;  // agents rung at once by the ring-all strategy
  Millis service_level_threshold{20'000};
  ServiceLevelVariant service_level_variant = ServiceLevelVariant::kAnsweredOnly;
  Millis short_abandon{5'000};
  Millis max_wait{0};  // 0 = unlimited
  Disposition max_wait_disposition = Disposition::kVoicemail;
  std::size_t max_length = 0;  // 0 = unlimited
  NoAgentsPolicy no_agents = NoAgentsPolicy::kQueueAnyway;
  QueueId no_agents_redirect{};
  Millis wrap_up{0};
  Millis ring_timeout{15'000};
  int max_consecutive_misses = 2;  // 0 disables the "missed" not-ready
  std::vector<OverflowStep> overflow;
  double weight_seconds = 0;  // cross-queue preference: counts as extra waiting time
  // Sticky agent: the agent who last answered this customer within
  // `sticky_window` gets the first offer for up to `sticky_wait`.
  Millis sticky_window{0};  // 0 disables
  Millis sticky_wait{0};
  // Fatigue-aware strategy: an interaction is "long" when its handle time
  // exceeds this; a run of long/difficult ones lowers the agent's weight.
  Millis fatigue_long_handle{600'000};
};

// ----------------------------------------------------------- interactions ----

struct Attribute {
  std::string key;
  std::string value;
};

struct InteractionSpec {
  InteractionId id{};
  QueueId queue{};
  Channel channel = Channel::kVoice;
  std::uint32_t tenant = 0;
  std::uint64_t customer = 0;  // 0 = unknown; used for sticky routing
  int priority = 0;            // higher first (VIP > normal)
  std::vector<Attribute> attributes;
  std::vector<SkillLevel> required_skills;  // ANDed with the queue requirement
  AgentId preferred_agent{};                // explicit preference (0 = none)
  Millis preferred_wait{0};
  // Arrival time in the system; defaults to the enqueue time. A transfer
  // between queues keeps the original arrival.
  Time arrival{};
};

// --------------------------------------------------------------- handles ----

// Dense handles: the engine's own slot numbers for a live interaction or an
// agent, so a caller that keeps them skips the id lookup (a hash probe and
// usually a cache miss) on every report. An interaction slot is reused once
// the interaction leaves routing, and its generation changes then, so a
// handle kept past that point is stale: the engine rejects it (not_found)
// and never applies it to the slot's new occupant. Agent slots are never
// reused (a removed agent that is added again gets a new slot).
inline constexpr std::uint32_t kNoSlot = std::numeric_limits<std::uint32_t>::max();

struct InteractionHandle {
  std::uint32_t slot = kNoSlot;
  std::uint32_t gen = 0;
  bool valid() const { return slot != kNoSlot; }
  friend bool operator==(const InteractionHandle&, const InteractionHandle&) = default;
};

struct AgentHandle {
  std::uint32_t slot = kNoSlot;
  bool valid() const { return slot != kNoSlot; }
  friend bool operator==(const AgentHandle&, const AgentHandle&) = default;
};

// ------------------------------------------------------------------ events ----

enum class EventType : std::uint8_t {
  // Agent status (chosen by the agent).
  kAgentLoggedIn,
  kAgentReady,
  kAgentNotReady,  // reason
  kAgentLoggedOut,
  // Agent system state (derived): value = AgentState.
  kAgentStateChanged,
  // Interaction lifecycle.
  kEnqueued,        // queue = home queue
  kRejected,        // never queued: disposition (queue full / no agents)
  kOffered,         // command: ring `agent`; deadline = ring timeout; value 1 = callback (agent-first)
  kOfferCancelled,  // command: stop ringing `agent` (another agent answered, caller left, timeout)
  kNoAnswer,        // the offer timed out (engine decided) or the call layer reported it
  kDeclined,        // the agent rejected the offer
  kAnswered,
  kHoldStarted,
  kHoldEnded,
  kEnded,           // conversation ended; wrap-up follows
  kWrapUpEnded,     // interaction fully done for the agent
  kAbandoned,       // caller left while waiting or ringing
  kOverflowed,      // value = step index applied
  kCallbackOffer,   // command: offer the caller a callback (EWT in deadline-arrival)
  kCallbackQueued,  // the interaction is now a virtual-hold / callback entry
  kRemoved,         // left routing without an agent: disposition
  // Returned to the head of its queue (no answer / declined / agent lost), or
  // with disposition kTransferred moved to the no-agents redirect queue
  // (queue = the new home queue; the original arrival is kept).
  kRequeued,
};
std::string_view to_string(EventType t);

// One fixed-size record: the event log never allocates per entry. 80
// bytes: the one-byte fields share a word with the reason.
struct Event {
  std::uint64_t seq = 0;
  Time time{};
  EventType type{};
  Channel channel = Channel::kVoice;
  std::uint8_t value = 0;  // AgentState, step index, callback flag, ...
  Disposition disposition = Disposition::kNone;
  ReasonCode reason = reason::kNone;
  AgentId agent{};
  InteractionId interaction{};
  QueueId queue{};  // home queue for interaction events
  Time arrival{};   // interaction's original arrival (interaction events)
  Time deadline{};  // ring timeout / wrap-up end / callback EWT base
  // Handles of `interaction` and `agent` while they are in the engine (see
  // InteractionHandle); unset on events without one (kRejected has none).
  InteractionHandle handle{};
  AgentHandle agent_handle{};
};

static_assert(sizeof(Event) == 80, "see the field order");

// True for the events the call layer must act on.
bool is_command(EventType t);

}  // namespace hotline::routing
