// The JSON form of every kind: parsing with validation, and back.
#include "center/codec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "iam/extensions.h"
#include "iam/validate.h"

namespace hotline::center::detail {

void fail(const std::string& field, const std::string& message) {
  throw Invalid{common::Error::invalid(field, message)};
}

namespace {

constexpr const char* kStrategies[] = {"longest-idle",  "least-occupied",  "round-robin", "fewest-handled",
                                       "highest-skill", "weighted-random", "ring-all",    "fatigue-aware"};
constexpr const char* kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

bool valid_name(std::string_view v) {
  return !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), is_name_char);
}

// BCP 47-ish: "zh-CN", "en", "yue-Hant-HK".
bool valid_language(std::string_view v) {
  if (v.empty() || v.size() > 35) return false;
  std::size_t start = 0;
  for (int part = 0; start <= v.size(); ++part) {
    auto end = v.find('-', start);
    if (end == std::string_view::npos) end = v.size();
    auto seg = v.substr(start, end - start);
    const bool alpha =
        std::all_of(seg.begin(), seg.end(), [](char c) { return std::isalpha((unsigned char)c); });
    const bool alnum =
        std::all_of(seg.begin(), seg.end(), [](char c) { return std::isalnum((unsigned char)c); });
    if (part == 0 && (seg.size() < 2 || seg.size() > 3 || !alpha)) return false;
    if (part > 0 && (seg.size() < 1 || seg.size() > 8 || !alnum)) return false;
    start = end + 1;
  }
  return true;
}

// Typed access to one JSON object whose fields are named relative to `path`.
class Obj {
 public:
  Obj(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail(path_.empty() ? "body" : path_, "must be a JSON object");
  }

  std::string at(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  // Unknown fields are rejected; `read_only` ones (what GET returns) are accepted and ignored.
  void only(std::initializer_list<const char*> known,
            std::initializer_list<const char*> read_only = {}) const {
    for (const auto& [k, _] : j_.items()) {
      auto is = [&](const char* n) { return k == n; };
      if (std::none_of(known.begin(), known.end(), is) &&
          std::none_of(read_only.begin(), read_only.end(), is) && k != "id") {
        fail(at(k), "unknown field");
      }
    }
  }
  // The field, or nullptr when absent or null (null means "the default").
  const json* get(std::string_view name) const {
    auto it = j_.find(name);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  std::string text(std::string_view name, std::string def, std::size_t max, bool required = false) const {
    const json* v = get(name);
    if (!v) {
      if (required) fail(at(name), "is required");
      return def;
    }
    if (!v->is_string()) fail(at(name), "must be a string");
    auto s = v->get<std::string>();
    if (auto e = iam::check_text(s, max, "x")) fail(at(name), e->message);
    if (required && s.empty()) fail(at(name), "must not be empty");
    return s;
  }
  std::string name(std::string_view field, std::string def = "", bool required = true) const {
    auto s = text(field, std::move(def), 64, required);
    if ((required || !s.empty()) && !valid_name(s))
      fail(at(field), "must be 1 to 64 characters of a-z, 0-9, _ and -");
    return s;
  }
  std::string language(std::string_view field, std::string def, bool allow_empty) const {
    auto s = text(field, std::move(def), 35, !allow_empty && def.empty());
    if (!(allow_empty && s.empty()) && !valid_language(s))
      fail(at(field), "must be a language tag such as zh-CN or en");
    return s;
  }
  std::int64_t integer(std::string_view name, std::int64_t def, std::int64_t lo, std::int64_t hi,
                       bool required = false) const {
    const json* v = get(name);
    if (!v) {
      if (required) fail(at(name), "is required");
      return def;
    }
    const auto range = " from " + std::to_string(lo) + " to " + std::to_string(hi);
    if (!v->is_number_integer()) fail(at(name), "must be an integer" + range);
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
      fail(at(name), "must be" + range);
    auto n = v->get<std::int64_t>();
    if (n < lo || n > hi) fail(at(name), "must be" + range);
    return n;
  }
  int num(std::string_view name, int def, int lo, int hi, bool required = false) const {
    return static_cast<int>(integer(name, def, lo, hi, required));
  }
  bool flag(std::string_view name, bool def) const {
    const json* v = get(name);
    if (!v) return def;
    if (!v->is_boolean()) fail(at(name), "must be true or false");
    return v->get<bool>();
  }
  std::string choice(std::string_view name, std::string def, const std::vector<std::string>& allowed) const {
    auto s = text(name, std::move(def), 64);
    if (std::find(allowed.begin(), allowed.end(), s) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      fail(at(name), "must be one of: " + list);
    }
    return s;
  }
  // Calls fn(element, "field[i]") for every element of an array field.
  template <class F>
  void each(std::string_view name, std::size_t max, F&& fn) const {
    const json* v = get(name);
    if (!v) return;
    if (!v->is_array()) fail(at(name), "must be an array");
    if (v->size() > max) fail(at(name), "must have at most " + std::to_string(max) + " entries");
    for (std::size_t i = 0; i < v->size(); ++i) fn((*v)[i], at(name) + "[" + std::to_string(i) + "]");
  }
  std::vector<std::string> strings(std::string_view name, std::size_t max, std::size_t max_len) const {
    std::vector<std::string> out;
    each(name, max, [&](const json& e, const std::string& f) {
      if (!e.is_string()) fail(f, "must be a string");
      auto s = e.get<std::string>();
      if (auto err = iam::check_text(s, max_len, "x")) fail(f, err->message);
      out.push_back(std::move(s));
    });
    return out;
  }

 private:
  const json& j_;
  std::string path_;
};

// ---- shared pieces ----

std::vector<SkillLevelDef> parse_skills(const Obj& o, std::string_view field) {
  std::vector<SkillLevelDef> out;
  o.each(field, 50, [&](const json& e, const std::string& f) {
    Obj s(e, f);
    s.only({"skill", "level"});
    SkillLevelDef d{s.name("skill"), s.num("level", 1, 1, 10)};
    for (const auto& prev : out)
      if (prev.skill == d.skill) fail(s.at("skill"), "skill '" + d.skill + "' is listed twice");
    out.push_back(std::move(d));
  });
  return out;
}

json skills_json(const std::vector<SkillLevelDef>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back({{"skill", s.skill}, {"level", s.level}});
  return a;
}

// "HH:MM" -> minutes; 24:00 allowed as an end.
std::optional<int> parse_hhmm(std::string_view s) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  for (int i : {0, 1, 3, 4})
    if (!std::isdigit((unsigned char)s[i])) return std::nullopt;
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

std::vector<std::string> parse_ranges(const Obj& o, std::string_view field, std::vector<std::string> def) {
  if (!o.get(field)) return def;
  auto list = o.strings(field, 8, 11);
  std::vector<std::pair<int, int>> spans;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto f = o.at(field) + "[" + std::to_string(i) + "]";
    const auto& r = list[i];
    std::optional<int> a, b;
    if (r.size() == 11 && r[5] == '-') {
      a = parse_hhmm(std::string_view(r).substr(0, 5));
      b = parse_hhmm(std::string_view(r).substr(6, 5));
    }
    if (!a || !b || *a == 24 * 60) fail(f, "must be a time range HH:MM-HH:MM, e.g. 09:00-18:00");
    if (*b <= *a) fail(f, "must end after it starts");
    for (const auto& [s, e] : spans)
      if (*a < e && s < *b) fail(f, "overlaps another range of the same day");
    spans.emplace_back(*a, *b);
  }
  return list;
}

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (int i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit((unsigned char)s[i])) return false;
  int y = std::stoi(std::string(s.substr(0, 4))), m = std::stoi(std::string(s.substr(5, 2))),
      d = std::stoi(std::string(s.substr(8, 2)));
  static constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDaysIn[m - 1] + ((m == 2 && leap) ? 1 : 0);
}

std::vector<std::string> parse_dates(const Obj& o, std::string_view field) {
  auto list = o.strings(field, 1000, 10);
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto f = o.at(field) + "[" + std::to_string(i) + "]";
    if (!valid_date(list[i])) fail(f, "must be a date YYYY-MM-DD");
    if (!seen.insert(list[i]).second) fail(f, "is listed twice");
  }
  return list;
}

bool valid_time_zone(const std::string& tz) {
  if (tz.empty() || tz.size() > 64 || tz.front() == '/' || tz.find("..") != std::string::npos) return false;
  for (char c : tz)
    if (!std::isalnum((unsigned char)c) && c != '/' && c != '_' && c != '-' && c != '+') return false;
  std::error_code ec;
  return std::filesystem::is_regular_file("/usr/share/zoneinfo/" + tz, ec);
}

bool valid_host(const std::string& h) {
  if (h.empty()) return true;
  if (parse_network(h) && h.find('/') == std::string::npos) return true;
  if (h.size() > 253 || h.front() == '.' || h.front() == '-' || h.back() == '.') return false;
  return std::all_of(h.begin(), h.end(),
                     [](char c) { return std::isalnum((unsigned char)c) || c == '.' || c == '-'; }) &&
         h.find("..") == std::string::npos;
}

// ---- per kind: parse (validating) and to_json (canonical) ----

AgentDef parse_agent(const Obj& o) {
  o.only({"name", "user_id", "extension", "skills", "voice_capacity", "chat_capacity", "email_capacity",
          "active"});
  AgentDef a;
  a.name = o.text("name", "", 128, true);
  if (o.get("user_id")) a.user_id = o.integer("user_id", 0, 1, INT64_MAX);
  a.extension = o.text("extension", "", 32);
  if (!a.extension.empty())
    if (auto e = iam::check_extension(a.extension)) fail(o.at("extension"), e->message);
  a.skills = parse_skills(o, "skills");
  a.voice_capacity = o.num("voice_capacity", 1, 0, 1);
  a.chat_capacity = o.num("chat_capacity", 0, 0, 20);
  a.email_capacity = o.num("email_capacity", 0, 0, 20);
  a.active = o.flag("active", true);
  return a;
}

json to_json(const AgentDef& a) {
  return {{"id", a.id},
          {"name", a.name},
          {"user_id", a.user_id ? json(*a.user_id) : json(nullptr)},
          {"extension", a.extension},
          {"skills", skills_json(a.skills)},
          {"voice_capacity", a.voice_capacity},
          {"chat_capacity", a.chat_capacity},
          {"email_capacity", a.email_capacity},
          {"active", a.active}};
}

SkillDef parse_skill(const Obj& o) {
  o.only({"name", "description"});
  return SkillDef{0, o.name("name"), o.text("description", "", 256)};
}

json to_json(const SkillDef& s) { return {{"id", s.id}, {"name", s.name}, {"description", s.description}}; }

OverflowDef parse_overflow(const Obj& o) {
  o.only({"after_s", "action", "skills", "queue"});
  OverflowDef d;
  d.after_s = o.num("after_s", 0, 1, 86400, true);
  d.action = o.choice("action", "", {"relax", "add_queue", "callback", "voicemail"});
  d.skills = parse_skills(o, "skills");
  d.queue = o.name("queue", "", d.action == "add_queue");
  if (d.action != "relax" && !d.skills.empty()) fail(o.at("skills"), "is only for action 'relax'");
  if (d.action != "add_queue" && !d.queue.empty()) fail(o.at("queue"), "is only for action 'add_queue'");
  return d;
}

QueueDef parse_queue(const Obj& o) {
  o.only({"name",
          "display_name",
          "strategy",
          "match",
          "skills",
          "ring_timeout_s",
          "wrap_up_s",
          "max_wait_s",
          "max_wait_action",
          "max_length",
          "service_level_s",
          "max_consecutive_misses",
          "priority",
          "record",
          "moh_prompt",
          "announce_interval_s",
          "announce_position",
          "announce_wait",
          "callback_key",
          "voicemail_key",
          "callback_attempts",
          "callback_retry_s",
          "overflow"});
  QueueDef q;
  q.name = o.name("name");
  q.display_name = o.text("display_name", "", 128);
  q.strategy = o.choice("strategy", "longest-idle",
                        std::vector<std::string>(std::begin(kStrategies), std::end(kStrategies)));
  q.match = o.choice("match", "all", {"all", "any"});
  q.skills = parse_skills(o, "skills");
  q.ring_timeout_s = o.num("ring_timeout_s", 15, 5, 300);
  q.wrap_up_s = o.num("wrap_up_s", 10, 0, 3600);
  q.max_wait_s = o.num("max_wait_s", 0, 0, 86400);
  q.max_wait_action = o.choice("max_wait_action", "voicemail", {"voicemail", "disconnect", "callback"});
  q.max_length = o.num("max_length", 0, 0, 100000);
  q.service_level_s = o.num("service_level_s", 20, 1, 3600);
  q.max_consecutive_misses = o.num("max_consecutive_misses", 2, 0, 100);
  q.priority = o.num("priority", 0, -100, 100);
  q.record = o.flag("record", false);
  q.moh_prompt = o.name("moh_prompt", "moh", false);  // "" = silence
  q.announce_interval_s = o.num("announce_interval_s", 30, 0, 3600);
  q.announce_position = o.flag("announce_position", true);
  q.announce_wait = o.flag("announce_wait", true);
  q.callback_key = o.flag("callback_key", true);
  q.voicemail_key = o.flag("voicemail_key", true);
  q.callback_attempts = o.num("callback_attempts", 3, 0, 10);
  q.callback_retry_s = o.num("callback_retry_s", 120, 30, 86400);
  o.each("overflow", 10, [&](const json& e, const std::string& f) {
    auto d = parse_overflow(Obj(e, f));
    if (!q.overflow.empty() && d.after_s <= q.overflow.back().after_s)
      fail(f + ".after_s", "must be greater than the previous step's after_s");
    if (d.queue == q.name && !d.queue.empty()) fail(f + ".queue", "must name another queue");
    q.overflow.push_back(std::move(d));
  });
  return q;
}

json to_json(const QueueDef& q) {
  json overflow = json::array();
  for (const auto& d : q.overflow)
    overflow.push_back({{"after_s", d.after_s},
                        {"action", d.action},
                        {"skills", skills_json(d.skills)},
                        {"queue", d.queue}});
  return {{"id", q.id},
          {"name", q.name},
          {"display_name", q.display_name},
          {"strategy", q.strategy},
          {"match", q.match},
          {"skills", skills_json(q.skills)},
          {"ring_timeout_s", q.ring_timeout_s},
          {"wrap_up_s", q.wrap_up_s},
          {"max_wait_s", q.max_wait_s},
          {"max_wait_action", q.max_wait_action},
          {"max_length", q.max_length},
          {"service_level_s", q.service_level_s},
          {"max_consecutive_misses", q.max_consecutive_misses},
          {"priority", q.priority},
          {"record", q.record},
          {"moh_prompt", q.moh_prompt},
          {"announce_interval_s", q.announce_interval_s},
          {"announce_position", q.announce_position},
          {"announce_wait", q.announce_wait},
          {"callback_key", q.callback_key},
          {"voicemail_key", q.voicemail_key},
          {"callback_attempts", q.callback_attempts},
          {"callback_retry_s", q.callback_retry_s},
          {"overflow", overflow}};
}

NumberDef parse_number(const Obj& o) {
  o.only({"number", "flow", "language"});
  NumberDef n;
  n.number = o.text("number", "", 32, true);
  for (std::size_t i = 0; i < n.number.size(); ++i) {
    const char c = n.number[i];
    if (!(std::isdigit((unsigned char)c) || c == '*' || c == '#' || (c == '+' && i == 0)))
      fail(o.at("number"), "may contain only digits, * and #, with an optional leading +");
  }
  if (n.number == "+") fail(o.at("number"), "must contain digits");
  n.flow = o.name("flow");
  n.language = o.language("language", "zh-CN", false);
  return n;
}

json to_json(const NumberDef& n) {
  return {{"id", n.id}, {"number", n.number}, {"flow", n.flow}, {"language", n.language}};
}

TrunkDef parse_trunk(const Obj& o) {
  o.only({"name", "allowed_sources", "host", "port", "transport", "username", "password", "caller_id"});
  TrunkDef t;
  t.name = o.name("name");
  t.allowed_sources = o.strings("allowed_sources", 100, 64);
  for (std::size_t i = 0; i < t.allowed_sources.size(); ++i)
    if (!parse_network(t.allowed_sources[i]))
      fail(o.at("allowed_sources") + "[" + std::to_string(i) + "]",
           "must be an IPv4 or IPv6 address or CIDR block, e.g. 203.0.113.0/24");
  t.host = o.text("host", "", 253);
  if (!valid_host(t.host)) fail(o.at("host"), "must be a host name or an IP address");
  t.port = o.num("port", 5060, 1, 65535);
  t.transport = o.choice("transport", "udp", {"udp", "tcp"});
  t.username = o.text("username", "", 64);
  if (t.username.find(':') != std::string::npos) fail(o.at("username"), "must not contain ':'");
  t.password = o.text("password", "", 128);
  t.caller_id = o.text("caller_id", "", 64);
  return t;
}

json to_json(const TrunkDef& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"allowed_sources", t.allowed_sources},
          {"host", t.host},
          {"port", t.port},
          {"transport", t.transport},
          {"username", t.username},
          {"password", t.password},
          {"caller_id", t.caller_id}};
}

CalendarDef parse_calendar(const Obj& o) {
  o.only({"name", "time_zone", "weekly", "holidays", "workdays", "workday_hours"});
  CalendarDef c;
  c.name = o.name("name");
  c.time_zone = o.text("time_zone", "Asia/Shanghai", 64);
  if (!valid_time_zone(c.time_zone))
    fail(o.at("time_zone"), "must be an IANA time zone such as Asia/Shanghai");
  if (o.get("weekly")) {
    Obj w(*o.get("weekly"), o.at("weekly"));
    w.only({"mon", "tue", "wed", "thu", "fri", "sat", "sun"});
    for (int d = 0; d < 7; ++d) c.weekly[d] = parse_ranges(w, kDays[d], {});
  }
  c.holidays = parse_dates(o, "holidays");
  c.workdays = parse_dates(o, "workdays");
  for (std::size_t i = 0; i < c.workdays.size(); ++i)
    if (std::find(c.holidays.begin(), c.holidays.end(), c.workdays[i]) != c.holidays.end())
      fail(o.at("workdays") + "[" + std::to_string(i) + "]", "is also a holiday");
  c.workday_hours = parse_ranges(o, "workday_hours", {"09:00-18:00"});
  return c;
}

json to_json(const CalendarDef& c) {
  json weekly = json::object();
  for (int d = 0; d < 7; ++d) weekly[kDays[d]] = c.weekly[d];
  return {{"id", c.id},
          {"name", c.name},
          {"time_zone", c.time_zone},
          {"weekly", weekly},
          {"holidays", c.holidays},
          {"workdays", c.workdays},
          {"workday_hours", c.workday_hours}};
}

// `path` and `bytes` are set by uploads only (clients never choose a file).
PromptDef parse_prompt(const Obj& o, bool trusted) {
  o.only({"name", "language"}, {"path", "bytes"});
  PromptDef p;
  p.name = o.name("name");
  p.language = o.language("language", "", false);
  if (trusted) {
    p.path = o.text("path", "", 4096);
    p.bytes = o.integer("bytes", 0, 0, INT64_MAX);
  }
  return p;
}

json to_json(const PromptDef& p) {
  return {{"id", p.id}, {"name", p.name}, {"language", p.language}, {"path", p.path}, {"bytes", p.bytes}};
}

FlowDef parse_flow(const Obj& o) {
  o.only({"name", "definition"}, {"version"});
  FlowDef f;
  f.name = o.name("name");
  const json* d = o.get("definition");
  if (!d) fail(o.at("definition"), "is required");
  if (!d->is_object()) fail(o.at("definition"), "must be a JSON object");
  if (!d->contains("start") || !(*d)["start"].is_string())
    fail(o.at("definition") + ".start", "is required: the name of the first node");
  if (!d->contains("nodes") || !(*d)["nodes"].is_object())
    fail(o.at("definition") + ".nodes", "is required: an object of named nodes");
  if (d->dump().size() > 1024 * 1024) fail(o.at("definition"), "must be at most 1 MiB");
  f.definition = *d;
  return f;
}

json to_json(const FlowDef& f) {
  return {{"id", f.id}, {"name", f.name}, {"version", f.version}, {"definition", f.definition}};
}

CodeDef parse_code(const Obj& o, Kind kind) {
  o.only({"code", "label"});
  CodeDef c;
  const bool reason = kind == Kind::kReasonCode;
  c.code = o.num("code", 0, reason ? 100 : 1, 999999, true);
  c.label = o.text("label", "", 128, true);
  return c;
}

json to_json(const CodeDef& c) { return {{"id", c.id}, {"code", c.code}, {"label", c.label}}; }

CustomerDef parse_customer(const Obj& o) {
  o.only({"name", "phones", "vip", "blocked", "priority", "language"});
  CustomerDef c;
  c.name = o.text("name", "", 128);
  auto phones = o.strings("phones", 10, 32);
  for (std::size_t i = 0; i < phones.size(); ++i) {
    const auto f = o.at("phones") + "[" + std::to_string(i) + "]";
    const auto& p = phones[i];
    const bool chars_ok = std::all_of(p.begin(), p.end(), [](char ch) {
      return std::isdigit((unsigned char)ch) || std::strchr("+ -.()", ch) != nullptr;
    });
    auto n = normalise_phone(p);
    const auto digits = n.size() - (n.rfind('+', 0) == 0 ? 1 : 0);
    const auto plus = p.find('+');
    const bool plus_ok =
        plus == std::string::npos || (plus == p.find_first_not_of(' ') && p.rfind('+') == plus);
    if (!chars_ok || !plus_ok || digits < 3 || digits > 20)
      fail(f,
           "must be a phone number: 3 to 20 digits, an optional leading +, spaces, dashes, dots or "
           "parentheses");
    if (std::find(c.phones.begin(), c.phones.end(), n) != c.phones.end()) fail(f, "is listed twice");
    c.phones.push_back(std::move(n));
  }
  c.vip = o.flag("vip", false);
  c.blocked = o.flag("blocked", false);
  c.priority = o.num("priority", 0, 0, 100);
  c.language = o.language("language", "", true);
  return c;
}

json to_json(const CustomerDef& c) {
  return {{"id", c.id},           {"name", c.name},         {"phones", c.phones},    {"vip", c.vip},
          {"blocked", c.blocked}, {"priority", c.priority}, {"language", c.language}};
}

// Calls fn(vector) with the snapshot's vector for `kind`.
template <class S, class F>
decltype(auto) with_vector(S& s, Kind k, F&& fn) {
  switch (k) {
    case Kind::kAgent:
      return fn(s.agents);
    case Kind::kSkill:
      return fn(s.skills);
    case Kind::kQueue:
      return fn(s.queues);
    case Kind::kNumber:
      return fn(s.numbers);
    case Kind::kTrunk:
      return fn(s.trunks);
    case Kind::kCalendar:
      return fn(s.calendars);
    case Kind::kPrompt:
      return fn(s.prompts);
    case Kind::kFlow:
      return fn(s.flows);
    case Kind::kReasonCode:
      return fn(s.reason_codes);
    case Kind::kWrapUpCode:
      return fn(s.wrapup_codes);
    case Kind::kCustomer:
      return fn(s.customers);
  }
  return fn(s.customers);  // unreachable: every Kind is handled above
}

AgentDef parse_as(const Obj& o, Kind, AgentDef*, bool) { return parse_agent(o); }
SkillDef parse_as(const Obj& o, Kind, SkillDef*, bool) { return parse_skill(o); }
QueueDef parse_as(const Obj& o, Kind, QueueDef*, bool) { return parse_queue(o); }
NumberDef parse_as(const Obj& o, Kind, NumberDef*, bool) { return parse_number(o); }
TrunkDef parse_as(const Obj& o, Kind, TrunkDef*, bool) { return parse_trunk(o); }
CalendarDef parse_as(const Obj& o, Kind, CalendarDef*, bool) { return parse_calendar(o); }
PromptDef parse_as(const Obj& o, Kind, PromptDef*, bool trusted) { return parse_prompt(o, trusted); }
FlowDef parse_as(const Obj& o, Kind, FlowDef*, bool) { return parse_flow(o); }
CodeDef parse_as(const Obj& o, Kind k, CodeDef*, bool) { return parse_code(o, k); }
CustomerDef parse_as(const Obj& o, Kind, CustomerDef*, bool) { return parse_customer(o); }

template <class T>
T parse_typed(Kind k, const json& body, bool trusted) {
  return parse_as(Obj(body, ""), k, static_cast<T*>(nullptr), trusted);
}

}  // namespace

json canonical(Kind kind, const json& body, std::int64_t id) {
  Snapshot none;
  return with_vector(none, kind, [&](auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    T obj = parse_typed<T>(kind, body, false);
    obj.id = id;
    return to_json(obj);
  });
}

void add_object(Snapshot& s, Kind kind, std::int64_t id, const json& doc, int version) {
  with_vector(s, kind, [&](auto& v) {
    using T = typename std::decay_t<decltype(v)>::value_type;
    T obj = parse_typed<T>(kind, doc, true);
    obj.id = id;
    if constexpr (std::is_same_v<T, FlowDef>) obj.version = version;
    v.push_back(std::move(obj));
  });
}

void remove_object(Snapshot& s, Kind kind, std::int64_t id) {
  with_vector(s, kind, [&](auto& v) { std::erase_if(v, [&](const auto& o) { return o.id == id; }); });
}

json strip_secrets(Kind kind, json doc) {
  if (kind == Kind::kTrunk) doc.erase("password");
  return doc;
}

std::optional<json> public_json(const Snapshot& s, Kind kind, std::int64_t id) {
  return with_vector(s, kind, [&](const auto& v) -> std::optional<json> {
    for (const auto& o : v)
      if (o.id == id) return strip_secrets(kind, to_json(o));
    return std::nullopt;
  });
}

std::vector<json> public_list(const Snapshot& s, Kind kind) {
  return with_vector(s, kind, [&](const auto& v) {
    std::vector<json> out;
    for (const auto& o : v) out.push_back(strip_secrets(kind, to_json(o)));
    return out;
  });
}

std::optional<std::string> unique_key(Kind kind, const json& doc) {
  switch (kind) {
    case Kind::kNumber:
      return doc.at("number").get<std::string>();
    case Kind::kReasonCode:
    case Kind::kWrapUpCode:
      return std::to_string(doc.at("code").get<int>());
    case Kind::kPrompt:
      return doc.at("name").get<std::string>() + "/" + doc.at("language").get<std::string>();
    case Kind::kCustomer:
      return std::nullopt;
    default:
      return doc.at("name").get<std::string>();
  }
}

std::string describe(Kind kind, const json& doc) {
  auto key = unique_key(kind, doc);
  std::string what(to_string(kind));
  std::replace(what.begin(), what.end(), '_', ' ');
  if (!key) return what + " " + std::to_string(doc.value("id", std::int64_t{0}));
  return what + " '" + *key + "'";
}

std::string normalise_phone(std::string_view phone) {
  std::string out;
  auto first = phone.find_first_not_of(' ');
  if (first != std::string_view::npos && phone[first] == '+') out = "+";
  for (char c : phone)
    if (std::isdigit((unsigned char)c)) out += c;
  return out == "+" ? "" : out;
}

std::optional<Network> parse_network(std::string_view text) {
  std::string s(text);
  int prefix = -1;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    auto p = s.substr(slash + 1);
    if (p.empty() || p.size() > 3 ||
        !std::all_of(p.begin(), p.end(), [](char c) { return std::isdigit((unsigned char)c); }))
      return std::nullopt;
    prefix = std::stoi(p);
    s.resize(slash);
  }
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  Network n;
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    if (prefix > 32) return std::nullopt;
    n.addr[10] = n.addr[11] = 0xff;
    std::memcpy(n.addr + 12, &v4, 4);
    n.prefix = 96 + (prefix < 0 ? 32 : prefix);
    return n;
  }
  if (inet_pton(AF_INET6, s.c_str(), n.addr) == 1) {
    if (prefix > 128) return std::nullopt;
    n.prefix = prefix < 0 ? 128 : prefix;
    return n;
  }
  return std::nullopt;
}

bool contains(const Network& net, const Network& host) {
  for (int bit = 0; bit < net.prefix; ++bit) {
    const int byte = bit / 8, mask = 0x80 >> (bit % 8);
    if ((net.addr[byte] & mask) != (host.addr[byte] & mask)) return false;
  }
  return true;
}

}  // namespace hotline::center::detail
