// call/internal.h — internal: the pieces of the call layer shared by its
// source files. Not a public header.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "call/call.h"
#include "center/center.h"
#include "ivr/ivr.h"
#include "media/audio.h"
#include "routing/engine.h"
#include "sip/sdp.h"

namespace hotline::call {

// center configuration → routing engine configuration.
routing::QueueConfig to_queue_config(const center::QueueDef& q, const center::Snapshot& snap);
routing::AgentConfig to_agent_config(const center::AgentDef& a, const center::Snapshot& snap);
// Skill names resolve to the SkillDef ids (unique across tenants).
std::vector<routing::SkillLevel> to_skill_levels(const std::vector<center::SkillLevelDef>& skills,
                                                 const center::Snapshot& snap);
std::optional<routing::SkillId> skill_id(const center::Snapshot& snap, const std::string& name);

// The phase of the caller's side of a call. One transition point
// (Call::set_phase) so call records and live events see every change.
enum class CallPhase : std::uint8_t {
  kFeature,          // a feature code: confirmation tone, then hang up
  kIvr,              // walking the IVR flow
  kQueued,           // waiting (music on hold, announcements)
  kConnected,        // bridged to an agent
  kCallbackConfirm,  // pressed 1 in the queue: confirming the callback number
  kCallbackWaiting,  // the caller hung up after asking for a callback; waiting for an agent
  kVoicemail,        // leaving a message
  kOutside,          // transferred to an outside number: ringing it, then bridged to it
  kGoodbye,          // final prompt, then hang up
  kEnded,
};
const char* phase_name(CallPhase p);

// What the caller's media session is playing right now (playback ids tell
// stale "done" events apart).
enum class Playing : std::uint8_t {
  kNothing,
  kIvr,
  kMoh,
  kAnnouncement,
  kGoodbye,
  kTone,
  kVoicemailPrompt,
  kBeep,
  kRingback  // an outside number is ringing
};

enum class LegState : std::uint8_t { kRinging, kAnswered, kEnded };

struct AgentLeg {
  std::int64_t agent = 0;
  std::string extension;
  // One INVITE per registered device of the extension (all ring; the first
  // to answer wins and the others are cancelled).
  std::vector<sip::ClientTxnId> forks;
  int forks_pending = 0;  // devices that have not given a final answer
  int best_failure = 0;   // the failure reported if none answers (RFC 3261 §16.7 order)
  std::string dialog;     // key once a dialog exists
  std::shared_ptr<media::MediaSession> media;
  LegState state = LegState::kRinging;
  bool cancel_requested = false;
  int leg_no = 0;
  std::int64_t started_ms = 0;
  std::int64_t answered_ms = 0;
};

// A leg to an outside number through a trunk (IVR `transfer` node, or an
// agent's REFER to a number). The caller hears ringback until it answers.
struct OutsideLeg {
  std::string number;
  sip::ClientTxnId txn{};
  std::string dialog;  // key once answered
  std::shared_ptr<media::MediaSession> media;
  bool answered = false;
  int leg_no = 0;
  std::int64_t started_ms = 0;
  std::int64_t answered_ms = 0;
};

struct Call {
  std::uint64_t id = 0;  // the call's id (records: 16 hex digits)
  std::uint64_t ix = 0;  // its current routing InteractionId (a transfer makes a new one)
  std::int64_t tenant = 0;
  CallPhase phase = CallPhase::kIvr;
  sip::ServerTxnId invite_txn{};
  std::string caller_dialog;  // key
  std::shared_ptr<media::MediaSession> caller_media;
  media::Codec codec = media::Codec::pcmu;
  std::string media_address;  // our RTP address as the caller sees it
  std::optional<ivr::Runner> runner;
  ivr::Action action;
  std::string language;
  std::string digits;  // collected so far (IVR collect / queue keys)
  Playing playing = Playing::kNothing;
  std::uint64_t playback = 0;
  std::unique_ptr<boost::asio::steady_timer> timer;     // IVR timeouts, feature tone
  std::unique_ptr<boost::asio::steady_timer> announce;  // periodic queue announcements
  std::int64_t queue_id = 0;
  std::string queue_name;
  bool routed = false;  // the routing engine knows the interaction
  std::map<std::int64_t, AgentLeg> offers;
  std::int64_t agent = 0;  // connected agent
  std::unique_ptr<media::RecordingHandle> recording;
  records::RecordingInfo recording_info;
  records::CallRecord rec;
  int legs = 0;
  bool extension_caller = false;
  bool feature = false;  // a feature-code call: no call record
  // Callbacks (agent first, then the customer through a trunk).
  bool callback = false;
  bool callback_dialing = false;
  int callback_attempts = 0;
  sip::ClientTxnId customer_txn{};
  std::shared_ptr<media::MediaSession> pending_customer;
  std::string trunk;  // the trunk the call came in on
  routing::InteractionSpec spec;
  std::vector<std::uint64_t> listeners;            // supervisors' calls listening in
  std::int64_t preferred_agent = 0;                // transfer to an agent: first offer goes there
  std::string mailbox;                             // voicemail: the queue the message belongs to
  std::shared_ptr<media::MediaSession> companion;  // voicemail: the recorder's silent right channel
  std::string caller_extension;
  std::optional<OutsideLeg> outside;
  bool on_hold = false;              // a party put the bridged call on hold (re-INVITE sendonly/inactive)
  std::int64_t hold_started_ms = 0;  // epoch ms while on_hold (for rec.hold_ms)
};

// An agent's working session (who is logged in where).
struct AgentSession {
  std::int64_t tenant = 0;
  std::string extension;  // the device the agent works on
  bool logged_in = false;
};

// "udp|192.0.2.1|5060": a device's source flow as a map key.
std::string flow_key(const sip::Peer& p);

struct TenantState {
  TenantRef ref;
  std::shared_ptr<const center::Snapshot> snap;
  std::map<std::string, std::shared_ptr<const ivr::Flow>> flows;  // compiled, by name
  std::map<std::string, ivr::Calendar> calendars;
  std::set<std::int64_t> queues;  // routing ids upserted
  std::set<std::int64_t> agents;
  // A re-sync is queued on the loop: further changes until it runs are
  // covered by it (it reads the configuration when it runs), so a burst of
  // API writes costs one re-sync, not one per write.
  bool sync_pending = false;
  // extension -> its registered devices (from the registrar's events)
  std::unordered_map<std::string, std::vector<sip::Binding>> devices;
  // flow_key(binding flow) -> extension: who is calling from this address
  std::unordered_map<std::string, std::string> extension_by_flow;
};

}  // namespace hotline::call
