// ivr/ivr.h — IVR flows: the JSON definition, its validation, and a pure
// runner (an explicit state machine) the call layer drives with events.
// No SIP, no media, no clocks, no database: the call layer plays what the
// runner asks for and reports what happened.
//
// A flow (stored per tenant, versioned by the center repository):
//   {"start": "welcome", "language": "zh-CN",
//    "nodes": {
//      "welcome": {"type": "play", "prompts": ["welcome"], "next": "hours"},
//      "hours":   {"type": "hours", "calendar": "main", "open": "menu", "closed": "closed"},
//      "menu":    {"type": "menu", "prompts": ["menu"], "options": {"1": "sales", "2": "support"},
//                  "timeout_s": 5, "retries": 2, "invalid_prompts": ["invalid"], "on_failure": "bye"},
//      "sales":   {"type": "queue", "queue": "sales"},
//      ...}}
// Node types and fields: docs/ivr.md.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace hotline::ivr {

using nlohmann::json;

struct Flow;  // parsed form (implementation-defined)

// What a flow may refer to outside itself; each returns true if it exists.
struct References {
  std::function<bool(const std::string& name)> prompt;  // in any language
  std::function<bool(const std::string& name)> queue;
  std::function<bool(const std::string& name)> calendar;
  std::function<bool(const std::string& name)> trunk;
};

// Parses and validates a definition: structure and types, unknown node
// references, unreachable nodes, missing prompts/queues/calendars/trunks,
// loops without caller input (any cycle made only of play/hours/lookup/set
// nodes, even one with a way out), nodes that can never reach a terminal node. Errors are
// common::Error::invalid (code "invalid_argument", which the API maps to 400
// with details.field) with `field` naming the place ("nodes.menu.options.1").
// A null References callback skips that check.
common::Result<std::shared_ptr<const Flow>> compile(const json& definition, const References& refs);

// compile() for callers that only need the verdict (center::FlowValidator):
// nullopt when valid, else the error with `field_prefix` put before its field
// ("definition." -> "definition.nodes.menu.next").
std::optional<common::Error> validate(const json& definition, const References& refs,
                                      const std::string& field_prefix = "");

struct SkillNeed {
  std::string skill;
  int level = 1;
};

// What the caller is, as far as the call layer could find out (caller lookup).
struct CallerInfo {
  bool known = false;
  bool vip = false;
  bool blocked = false;
  std::int64_t customer_id = 0;
  int priority = 0;
  std::string language;  // "" = keep
  std::string name;
  std::string region;  // e.g. routing::RegionTable's answer; "" = unknown
};

struct Environment {
  // Business-hours check for the named calendar at the current time.
  std::function<bool(const std::string& calendar)> is_open;
  // Caller lookup by phone number (VIP list, blocklist, customers).
  std::function<CallerInfo(const std::string& number)> lookup;
};

// The call layer's next job.
struct Action {
  enum class Kind : std::uint8_t {
    kPlay,       // play `prompts`, then call Runner::on_played()
    kCollect,    // play `prompts` (a digit stops them), collect digits via on_digit();
                 // call on_timeout() when `timeout` passes without input after the
                 // prompts ended (or since the last digit)
    kQueue,      // terminal: route to `queue` (after playing `prompts`)
    kVoicemail,  // terminal: record a message for `mailbox` (after `prompts`)
    kTransfer,   // terminal: transfer to `number` through `trunk`
    kHangup,     // terminal: play `prompts`, then hang up
  };
  Kind kind = Kind::kHangup;
  std::vector<std::string> prompts;  // prompt names, in `language`
  std::string language;
  std::chrono::milliseconds timeout{5000};
  int max_digits = 1;
  char terminator = 0;  // '#' ends collection early; 0 = none
  // Terminal details.
  std::string queue;
  int priority = 0;
  std::vector<SkillNeed> skills;
  std::map<std::string, std::string> attributes;
  std::string mailbox;
  int max_message_s = 120;
  std::string number;
  std::string trunk;

  bool terminal() const { return kind >= Kind::kQueue; }
};

// One caller's walk through a flow. Not thread-safe; owned by one call.
class Runner {
 public:
  Runner(std::shared_ptr<const Flow> flow, std::string caller, std::string dialled, std::string language,
         Environment env);
  ~Runner();
  Runner(Runner&&) noexcept;
  Runner& operator=(Runner&&) noexcept;

  // `language` "" = the flow's default language. A null flow hangs up at once.
  // start() begins the walk (the first event of any kind does the same);
  // called again, it returns the current action.
  Action start();
  // The prompts of the current kPlay action finished.
  Action on_played();
  // A DTMF digit (0-9, *, #, A-D). During kPlay it is ignored (returns the
  // current action unchanged with `kind` kPlay and no prompts: keep playing).
  // During kCollect, a kCollect with no prompts means "keep collecting"
  // (restart the timeout); anything else is the next job.
  Action on_digit(char digit);
  // The collect timeout passed.
  Action on_timeout();
  // After a terminal action every event returns that action again.

  // The node the caller is at, and every node visited (for call records).
  const std::string& current_node() const;
  const std::vector<std::string>& path() const;
  const std::string& language() const;
  const CallerInfo& caller_info() const;
  // Variables set by collect nodes ("account" -> "12345").
  const std::map<std::string, std::string>& variables() const;
  bool finished() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

// Business hours with IANA time zones (read from the system's zoneinfo,
// TZif v2+), holidays and make-up working days.
class Calendar {
 public:
  // weekly[0] = Monday … weekly[6] = Sunday, ranges "HH:MM-HH:MM" (end
  // exclusive, "24:00" allowed); dates "YYYY-MM-DD" in the calendar's zone.
  // A date in both holidays and workdays is a holiday. The zone file
  // ($TZDIR or /usr/share/zoneinfo) is read here, once; copies share it.
  // Errors (invalid_argument) name "time_zone", "weekly.<day>.<i>",
  // "holidays.<i>", "workdays.<i>" or "workday_hours.<i>".
  static common::Result<Calendar> compile(const std::string& time_zone,
                                          const std::array<std::vector<std::string>, 7>& weekly,
                                          const std::vector<std::string>& holidays,
                                          const std::vector<std::string>& workdays,
                                          const std::vector<std::string>& workday_hours);
  // Closed on a holiday (local date); workday_hours on a make-up day; else
  // the weekday's ranges. A default-constructed Calendar is always closed.
  bool is_open(std::chrono::system_clock::time_point t) const;
  // UTC offset in effect at `t` (for display and tests).
  std::chrono::seconds utc_offset(std::chrono::system_clock::time_point t) const;

  Calendar();
  ~Calendar();
  Calendar(const Calendar&);
  Calendar& operator=(const Calendar&);

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace hotline::ivr
