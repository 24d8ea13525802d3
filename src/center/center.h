// center/center.h — the contact center's configuration, per tenant: agents,
// skills, queues, numbers, trunks, business calendars, prompts, IVR flows,
// reason codes, wrap-up codes and customers (VIP list, blocklist).
//
// Stored in the database as validated JSON documents (one row per object,
// table `center_objects`; IVR flows keep every version). Every write is
// validated (a clear error naming the field), and written in the same
// transaction as its audit entry.
//
// The call layer never reads the database on its hot path: it takes an
// immutable Snapshot per tenant (snapshot()), rebuilt after every write, and
// is told about writes through the change listener ("effective without
// restart").
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "iam/iam.h"
#include "store/database.h"

namespace hotline::center {

using nlohmann::json;

enum class Kind : std::uint8_t {
  kAgent,
  kSkill,
  kQueue,
  kNumber,
  kTrunk,
  kCalendar,
  kPrompt,
  kFlow,
  kReasonCode,
  kWrapUpCode,
  kCustomer,
};
// "agent", "skill", "queue", "number", "trunk", "calendar", "prompt", "flow",
// "reason_code", "wrapup_code", "customer".
std::string_view to_string(Kind k);
std::optional<Kind> parse_kind(std::string_view s);

struct SkillLevelDef {
  std::string skill;  // a SkillDef name
  int level = 1;      // 1..10
};

struct SkillDef {
  std::int64_t id = 0;
  std::string name;  // [a-z0-9_-]{1,64}
  std::string description;
};

// An agent: a user of the tenant who takes calls. `extension` is the
// agent's default device; an agent may log in on any extension (hot-desk).
struct AgentDef {
  std::int64_t id = 0;
  std::string name;  // display name, shown to supervisors
  std::optional<std::int64_t> user_id;
  std::string extension;  // default extension ("1001"); may be empty
  std::vector<SkillLevelDef> skills;
  int voice_capacity = 1;  // 0..1
  int chat_capacity = 0;   // 0..20
  int email_capacity = 0;  // 0..20
  bool active = true;
};

struct OverflowDef {
  int after_s = 0;
  std::string action;                 // "relax" | "add_queue" | "callback" | "voicemail"
  std::vector<SkillLevelDef> skills;  // relax: the new requirement
  std::string queue;                  // add_queue: a QueueDef name
};

struct QueueDef {
  std::int64_t id = 0;
  std::string name;  // [a-z0-9_-]{1,64}, what IVR flows route to
  std::string display_name;
  std::string strategy = "longest-idle";  // routing::parse_strategy names
  std::string match = "all";              // "all" | "any" over `skills`
  std::vector<SkillLevelDef> skills;
  int ring_timeout_s = 15;
  int wrap_up_s = 10;
  int max_wait_s = 0;                         // 0 = unlimited
  std::string max_wait_action = "voicemail";  // "voicemail" | "disconnect" | "callback"
  int max_length = 0;                         // 0 = unlimited
  int service_level_s = 20;
  int max_consecutive_misses = 2;
  int priority = 0;  // added to the interaction's priority
  bool record = false;
  std::string moh_prompt = "moh";  // prompt name looped while waiting
  int announce_interval_s = 30;    // 0 = no periodic announcements
  bool announce_position = true;
  bool announce_wait = true;
  bool callback_key = true;   // caller presses 1 for a callback keeping the place
  bool voicemail_key = true;  // caller presses 0 for voicemail
  int callback_attempts = 3;
  int callback_retry_s = 120;
  std::vector<OverflowDef> overflow;
};

// A dialled number (DID or user part) and the flow it starts.
struct NumberDef {
  std::int64_t id = 0;
  std::string number;  // digits, '+', '*', '#'
  std::string flow;    // a FlowDef name
  std::string language = "zh-CN";
};

struct TrunkDef {
  std::int64_t id = 0;
  std::string name;
  std::vector<std::string> allowed_sources;  // IPv4/IPv6 addresses or CIDR blocks
  std::string host;                          // outbound destination ("" = inbound only)
  int port = 5060;
  std::string transport = "udp";  // "udp" | "tcp"
  std::string username;           // optional digest credentials for outbound
  std::string password;           // never returned by the API
  std::string caller_id;          // From user for outbound calls
};

struct CalendarDef {
  std::int64_t id = 0;
  std::string name;
  std::string time_zone = "Asia/Shanghai";  // IANA name
  // weekly[0] = Monday … weekly[6] = Sunday; each "HH:MM-HH:MM" (end exclusive).
  std::array<std::vector<std::string>, 7> weekly;
  std::vector<std::string> holidays;  // "YYYY-MM-DD": closed all day
  // Make-up working days ("YYYY-MM-DD", usually a weekend): open with `workday_hours`.
  std::vector<std::string> workdays;
  std::vector<std::string> workday_hours = {"09:00-18:00"};
};

struct PromptDef {
  std::int64_t id = 0;
  std::string name;
  std::string language;  // "zh-CN" | "en" | …
  std::string path;      // WAV file on disk (custom uploads)
  std::int64_t bytes = 0;
};

struct FlowDef {
  std::int64_t id = 0;
  std::string name;
  int version = 1;  // every save makes a new version; the newest is live
  json definition;  // see ivr/ivr.h
};

struct CodeDef {
  std::int64_t id = 0;
  int code = 0;  // reason codes: >= 100 (below is reserved for the engine)
  std::string label;
};

struct CustomerDef {
  std::int64_t id = 0;
  std::string name;
  std::vector<std::string> phones;  // normalised: digits with optional leading '+'
  bool vip = false;
  bool blocked = false;
  int priority = 0;      // routing priority bonus (VIP usually 10)
  std::string language;  // preferred language, "" = flow default
};

// Immutable view of one tenant's configuration.
struct Snapshot {
  std::int64_t tenant_id = 0;
  std::uint64_t generation = 0;
  std::vector<AgentDef> agents;
  std::vector<SkillDef> skills;
  std::vector<QueueDef> queues;
  std::vector<NumberDef> numbers;
  std::vector<TrunkDef> trunks;
  std::vector<CalendarDef> calendars;
  std::vector<PromptDef> prompts;
  std::vector<FlowDef> flows;  // newest version of each
  std::vector<CodeDef> reason_codes;
  std::vector<CodeDef> wrapup_codes;
  std::vector<CustomerDef> customers;

  const AgentDef* agent(std::int64_t id) const;
  const AgentDef* agent_by_extension(std::string_view ext) const;
  const QueueDef* queue(std::string_view name) const;
  const NumberDef* number(std::string_view dialled) const;
  const FlowDef* flow(std::string_view name) const;
  const CalendarDef* calendar(std::string_view name) const;
  const TrunkDef* trunk(std::string_view name) const;
  // The trunk whose allowed_sources contain `address` (IPv4/IPv6 text).
  const TrunkDef* trunk_for_source(std::string_view address) const;
  const CustomerDef* customer_by_phone(std::string_view phone) const;
  const PromptDef* prompt(std::string_view name, std::string_view language) const;
};

// Extra validation of an IVR flow definition against the rest of the
// tenant's configuration (set by the app to ivr::validate). Returns an error
// naming the field ("definition.nodes.menu.next") or nullopt.
using FlowValidator =
    std::function<std::optional<common::Error>(const json& definition, const Snapshot& snap)>;

struct RepositoryOptions {
  std::string custom_prompts_dir = "var/prompts";  // uploaded WAVs: <dir>/<tenant>/<lang>/<name>.wav
  std::size_t max_prompt_bytes = 10 * 1024 * 1024;
};

class Repository {
 public:
  Repository(store::Database& db, common::Clock& clock, RepositoryOptions options = {});

  // Generic CRUD on the JSON form (what the REST API sends and returns).
  // Objects carry "id" (and flows "version"); secrets (trunk passwords) are
  // never returned. Errors: invalid_argument (400, Error::field names the
  // field), not_found, conflict (duplicate name; or a delete/rename that would
  // break a reference, the message naming the referrer). Field-by-field rules:
  // docs/center.md.
  common::Result<json> create(std::int64_t tenant, Kind kind, const json& body, const iam::Actor& actor);
  // Replaces the object (fields omitted get their defaults, except secrets
  // which are kept when omitted). Flows get a new version.
  common::Result<json> update(std::int64_t tenant, Kind kind, std::int64_t id, const json& body,
                              const iam::Actor& actor);
  common::Status remove(std::int64_t tenant, Kind kind, std::int64_t id, const iam::Actor& actor);
  common::Result<json> get(std::int64_t tenant, Kind kind, std::int64_t id);
  std::vector<json> list(std::int64_t tenant, Kind kind);
  // Every stored version of a flow, oldest first.
  common::Result<std::vector<json>> flow_versions(std::int64_t tenant, std::int64_t id);
  // Stores an uploaded WAV (checked with libsndfile: readable audio) as prompt
  // (name, language), replacing an existing one. Audited.
  common::Result<json> put_prompt_audio(std::int64_t tenant, const std::string& name,
                                        const std::string& language, const std::string& wav_bytes,
                                        const iam::Actor& actor);

  // Current configuration of a tenant (cached; rebuilt after a write).
  std::shared_ptr<const Snapshot> snapshot(std::int64_t tenant);
  void set_flow_validator(FlowValidator v);
  // Called (on the writing thread, after commit) with the tenant whose
  // configuration changed.
  void set_change_listener(std::function<void(std::int64_t tenant)> f);

 private:
  // (implementation-defined)
  struct Write;  // one validated change, see center.cpp
  common::Result<json> write(std::int64_t tenant, const Write& w, const iam::Actor& actor);
  // Reloads the tenant's snapshot from the database and caches it.
  std::shared_ptr<const Snapshot> rebuild(std::int64_t tenant);
  void changed(std::int64_t tenant);

  store::Database& db_;
  common::Clock& clock_;
  RepositoryOptions options_;
  std::mutex mu_;
  std::unordered_map<std::int64_t, std::shared_ptr<const Snapshot>> cache_;
  FlowValidator flow_validator_;
  std::function<void(std::int64_t)> on_change_;
  std::mutex rebuild_mu_;  // rebuilds run one at a time, so the newest read is cached last
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> temp_counter_{0};
};

}  // namespace hotline::center
