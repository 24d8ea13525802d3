// ivr/ivr.cpp — compile(): JSON definition -> validated Flow.
//
// Checks run in this order and the first failure is returned (nodes are
// visited in id order, so the error is deterministic):
//   1. structure and types (unknown fields rejected), per node
//   2. node references (start and every edge name an existing node)
//   3. reachability from start
//   4. external references (prompts, queues, calendars, trunks)
//   5. loops without caller input (cycles of play/hours/lookup/set)
//   6. every node can reach a terminal node
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "ivr/flow.h"

namespace hotline::ivr {

using common::Error;
using common::Result;

namespace {

using Err = std::optional<Error>;

#define IVR_TRY(expr)           \
  do {                          \
    if (auto ivr_e_ = (expr)) { \
      return ivr_e_;            \
    }                           \
  } while (0)

constexpr std::size_t kMaxNodes = 500;
constexpr std::size_t kMaxPrompts = 20;
constexpr std::size_t kMaxSkills = 20;
constexpr std::size_t kMaxAttributes = 20;
constexpr std::size_t kMaxAttributeValue = 256;
constexpr std::size_t kMaxDescription = 500;

Error bad(const std::string& field, const std::string& message) { return Error::invalid(field, message); }

// [A-Za-z0-9_-]{1,64}: node ids, prompt/queue/calendar/trunk/skill names, keys.
bool is_name(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// A BCP 47-like tag: letters, then "-"-separated alphanumeric subtags ("zh-CN", "en").
bool is_language(const std::string& s) {
  if (s.size() < 2 || s.size() > 35 || s.front() == '-' || s.back() == '-') return false;
  if (s.find("--") != std::string::npos) return false;
  if (!std::isalpha(static_cast<unsigned char>(s[0])) || !std::isalpha(static_cast<unsigned char>(s[1])))
    return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; });
}

// Digits a caller can send; menu option keys.
bool is_dtmf(char c) { return (c >= '0' && c <= '9') || c == '*' || c == '#' || (c >= 'A' && c <= 'D'); }

bool is_phone_number(const std::string& s) {
  const std::size_t start = (!s.empty() && s[0] == '+') ? 1 : 0;
  if (s.size() <= start || s.size() > 32) return false;
  return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(start), s.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::string quoted(const std::string& s) { return json(s).dump(); }

// Reads the fields of one JSON object under `path`, remembering which keys
// were consumed so unknown ones can be rejected.
class Fields {
 public:
  Fields(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  std::string at(const std::string& key) const { return path_ + "." + key; }
  bool has(const char* key) const { return obj_.contains(key); }

  Err string(const char* key, bool required, std::string& out,
             const std::function<bool(const std::string&)>& ok, const char* what) {
    const json* v = take(key);
    if (!v) return required ? Err(bad(at(key), "is required")) : Err();
    if (!v->is_string()) return bad(at(key), "must be a string");
    const auto s = v->get<std::string>();
    if (ok && !ok(s)) return bad(at(key), std::string("must be ") + what);
    out = s;
    return {};
  }

  Err name(const char* key, bool required, std::string& out) {
    return string(key, required, out, is_name, "1-64 characters from A-Z a-z 0-9 _ -");
  }

  Err integer(const char* key, int lo, int hi, int& out) {
    const json* v = take(key);
    if (!v) return {};
    if (!v->is_number_integer()) return bad(at(key), "must be an integer");
    const bool in_range = v->is_number_unsigned() ? v->get<std::uint64_t>() <= static_cast<std::uint64_t>(hi)
                                                  : v->get<std::int64_t>() <= hi;
    if (!in_range || v->get<std::int64_t>() < lo)
      return bad(at(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    out = v->get<int>();
    return {};
  }

  Err prompts(const char* key, bool required, std::size_t min, std::vector<std::string>& out) {
    const json* v = take(key);
    if (!v) return required ? Err(bad(at(key), "is required")) : Err();
    if (!v->is_array()) return bad(at(key), "must be an array of prompt names");
    if (v->size() < min || v->size() > kMaxPrompts)
      return bad(at(key),
                 "must hold " + std::to_string(min) + " to " + std::to_string(kMaxPrompts) + " prompts");
    out.clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& p = (*v)[i];
      if (!p.is_string() || !is_name(p.get<std::string>()))
        return bad(at(key) + "." + std::to_string(i), "must be a prompt name (1-64 of A-Z a-z 0-9 _ -)");
      out.push_back(p.get<std::string>());
    }
    return {};
  }

  Err skills(const char* key, std::vector<SkillNeed>& out);
  Err attributes(const char* key, std::map<std::string, std::string>& out);
  Err options(const char* key, std::map<char, std::string>& out);

  // After reading: the first key nobody asked for.
  Err unknown() const {
    for (const auto& [k, v] : obj_.items())
      if (!taken_.count(k)) return bad(path_ + "." + k, "is not a known field");
    return {};
  }

 private:
  const json* take(const char* key) {
    taken_.insert(key);
    auto it = obj_.find(key);
    return it == obj_.end() ? nullptr : &*it;
  }

  const json& obj_;
  std::string path_;
  std::set<std::string> taken_;
};

Err Fields::skills(const char* key, std::vector<SkillNeed>& out) {
  const json* v = take(key);
  if (!v) return {};
  if (!v->is_array() || v->size() > kMaxSkills)
    return bad(at(key), "must be an array of at most " + std::to_string(kMaxSkills) + " {skill, level}");
  for (std::size_t i = 0; i < v->size(); ++i) {
    const std::string p = at(key) + "." + std::to_string(i);
    if (!(*v)[i].is_object()) return bad(p, "must be an object {skill, level}");
    Fields f((*v)[i], p);
    SkillNeed need;
    IVR_TRY(f.name("skill", true, need.skill));
    IVR_TRY(f.integer("level", 1, 10, need.level));
    IVR_TRY(f.unknown());
    out.push_back(need);
  }
  return {};
}

Err Fields::attributes(const char* key, std::map<std::string, std::string>& out) {
  const json* v = take(key);
  if (!v) return {};
  if (!v->is_object() || v->size() > kMaxAttributes)
    return bad(at(key), "must be an object of at most " + std::to_string(kMaxAttributes) + " string values");
  for (const auto& [k, val] : v->items()) {
    if (!is_name(k)) return bad(at(key), "attribute name " + quoted(k) + " must be 1-64 of A-Z a-z 0-9 _ -");
    if (!val.is_string() || val.get<std::string>().size() > kMaxAttributeValue)
      return bad(at(key) + "." + k, "must be a string of at most 256 bytes");
    out[k] = val.get<std::string>();
  }
  return {};
}

Err Fields::options(const char* key, std::map<char, std::string>& out) {
  const json* v = take(key);
  if (!v) return bad(at(key), "is required");
  if (!v->is_object() || v->empty()) return bad(at(key), "must be an object of at least one digit -> node");
  for (const auto& [k, val] : v->items()) {
    if (k.size() != 1 || !is_dtmf(k[0]))
      return bad(at(key), "option " + quoted(k) + " must be one of 0-9 * # A-D");
    if (!val.is_string() || !is_name(val.get<std::string>()))
      return bad(at(key) + "." + k, "must be a node id");
    out[k[0]] = val.get<std::string>();
  }
  return {};
}

// ------------------------------------------------------------ per type ----

Err read_retry_fields(Fields& f, Node& n) {
  IVR_TRY(f.integer("timeout_s", 1, 60, n.timeout_s));
  IVR_TRY(f.integer("retries", 0, 10, n.retries));
  IVR_TRY(f.prompts("invalid_prompts", false, 0, n.invalid_prompts));
  n.timeout_prompts = n.invalid_prompts;
  IVR_TRY(f.prompts("timeout_prompts", false, 0, n.timeout_prompts));
  return f.name("on_failure", true, n.on_failure);
}

Err read_menu(Fields& f, Node& n) {
  IVR_TRY(f.prompts("prompts", true, 0, n.prompts));
  IVR_TRY(f.options("options", n.options));
  return read_retry_fields(f, n);
}

Err read_collect(Fields& f, Node& n) {
  IVR_TRY(f.prompts("prompts", true, 0, n.prompts));
  IVR_TRY(f.name("variable", true, n.variable));
  IVR_TRY(f.integer("min_digits", 1, 32, n.min_digits));
  IVR_TRY(f.integer("max_digits", 1, 32, n.max_digits));
  if (n.max_digits < n.min_digits) return bad(f.at("max_digits"), "must not be less than min_digits");
  std::string term = "#";
  IVR_TRY(f.string(
      "terminator", false, term, [](const std::string& s) { return s.empty() || s == "#" || s == "*"; },
      "\"#\", \"*\" or \"\""));
  n.terminator = term.empty() ? 0 : term[0];
  IVR_TRY(f.name("next", true, n.next));
  return read_retry_fields(f, n);
}

Err read_lookup(Fields& f, Node& n) {
  IVR_TRY(f.name("vip", false, n.vip));
  IVR_TRY(f.name("blocked", false, n.blocked));
  IVR_TRY(f.name("known", false, n.known));
  return f.name("unknown", true, n.unknown);
}

Err read_set(Fields& f, Node& n) {
  IVR_TRY(f.string("language", false, n.language, is_language, "a language tag like \"zh-CN\" or \"en\""));
  IVR_TRY(f.integer("priority", -1000, 1000, n.priority));
  IVR_TRY(f.skills("skills", n.skills));
  IVR_TRY(f.attributes("attributes", n.attributes));
  return f.name("next", true, n.next);
}

Err read_terminal(Fields& f, Node& n) {
  IVR_TRY(f.prompts("prompts", false, 0, n.prompts));
  switch (n.type) {
    case NodeType::kQueue:
      IVR_TRY(f.name("queue", true, n.queue));
      IVR_TRY(f.integer("priority", -1000, 1000, n.priority));
      return f.skills("skills", n.skills);
    case NodeType::kVoicemail:
      IVR_TRY(f.name("mailbox", true, n.mailbox));
      return f.integer("max_message_s", 5, 600, n.max_message_s);
    case NodeType::kTransfer:
      IVR_TRY(f.string("number", true, n.number, is_phone_number, "1-32 digits with an optional leading +"));
      return f.name("trunk", true, n.trunk);
    default:
      return {};
  }
}

Err read_fields(Fields& f, Node& n) {
  switch (n.type) {
    case NodeType::kPlay:
      IVR_TRY(f.prompts("prompts", true, 1, n.prompts));
      return f.name("next", true, n.next);
    case NodeType::kMenu:
      return read_menu(f, n);
    case NodeType::kCollect:
      return read_collect(f, n);
    case NodeType::kHours:
      IVR_TRY(f.name("calendar", true, n.calendar));
      IVR_TRY(f.name("open", true, n.open));
      return f.name("closed", true, n.closed);
    case NodeType::kLookup:
      return read_lookup(f, n);
    case NodeType::kSet:
      return read_set(f, n);
    default:
      return read_terminal(f, n);
  }
}

const std::map<std::string, NodeType>& node_types() {
  static const std::map<std::string, NodeType> types = {
      {"play", NodeType::kPlay},     {"menu", NodeType::kMenu},           {"collect", NodeType::kCollect},
      {"hours", NodeType::kHours},   {"lookup", NodeType::kLookup},       {"set", NodeType::kSet},
      {"queue", NodeType::kQueue},   {"voicemail", NodeType::kVoicemail}, {"transfer", NodeType::kTransfer},
      {"hangup", NodeType::kHangup},
  };
  return types;
}

Err read_node(const std::string& id, const json& v, Node& n) {
  const std::string path = "nodes." + id;
  if (!v.is_object()) return bad(path, "must be an object");
  Fields f(v, path);
  std::string type;
  IVR_TRY(f.string("type", true, type, nullptr, ""));
  auto t = node_types().find(type);
  if (t == node_types().end())
    return bad(f.at("type"),
               "must be one of play, menu, collect, hours, lookup, set, queue, voicemail, transfer, hangup");
  n.id = id;
  n.type = t->second;
  std::string description;  // free text for editors; not used at run time
  IVR_TRY(f.string(
      "description", false, description, [](const std::string& s) { return s.size() <= kMaxDescription; },
      "at most 500 bytes"));
  IVR_TRY(read_fields(f, n));
  return f.unknown();
}

Err read_flow(const json& def, Flow& flow) {
  if (!def.is_object()) return bad("", "a flow definition must be a JSON object");
  const json* nodes = def.contains("nodes") ? &def.at("nodes") : nullptr;
  if (!def.contains("start")) return bad("start", "is required");
  if (!def.at("start").is_string() || !is_name(def.at("start").get<std::string>()))
    return bad("start", "must be a node id");
  flow.start = def.at("start").get<std::string>();
  if (def.contains("language")) {
    const json& l = def.at("language");
    if (!l.is_string() || !is_language(l.get<std::string>()))
      return bad("language", "must be a language tag like \"zh-CN\" or \"en\"");
    flow.language = l.get<std::string>();
  }
  for (const auto& [k, v] : def.items())
    if (k != "start" && k != "language" && k != "nodes") return bad(k, "is not a known field");
  if (!nodes) return bad("nodes", "is required");
  if (!nodes->is_object() || nodes->empty() || nodes->size() > kMaxNodes)
    return bad("nodes", "must be an object of 1 to 500 nodes");
  for (const auto& [id, v] : nodes->items()) {
    if (!is_name(id)) return bad("nodes", "node id " + quoted(id) + " must be 1-64 of A-Z a-z 0-9 _ -");
    IVR_TRY(read_node(id, v, flow.nodes[id]));
  }
  return {};
}

// ------------------------------------------------------------- graph ----

Err check_targets(const Flow& flow) {
  if (!flow.nodes.count(flow.start)) return bad("start", "node " + quoted(flow.start) + " does not exist");
  for (const auto& [id, n] : flow.nodes)
    for (const auto& e : edges(n))
      if (!flow.nodes.count(e.target))
        return bad("nodes." + id + "." + e.field, "node " + quoted(e.target) + " does not exist");
  return {};
}

Err check_reachable(const Flow& flow) {
  std::set<std::string> seen{flow.start};
  std::vector<std::string> pending{flow.start};
  while (!pending.empty()) {
    const std::string id = pending.back();
    pending.pop_back();
    for (const auto& e : edges(flow.nodes.at(id)))
      if (seen.insert(e.target).second) pending.push_back(e.target);
  }
  for (const auto& [id, n] : flow.nodes)
    if (!seen.count(id)) return bad("nodes." + id, "node " + quoted(id) + " is not reachable from start");
  return {};
}

Err check_prompt_list(const std::vector<std::string>& prompts, const std::string& path,
                      const References& refs) {
  if (!refs.prompt) return {};
  for (std::size_t i = 0; i < prompts.size(); ++i)
    if (!refs.prompt(prompts[i]))
      return bad(path + "." + std::to_string(i), "prompt " + quoted(prompts[i]) + " does not exist");
  return {};
}

Err check_ref(const std::function<bool(const std::string&)>& exists, const std::string& name,
              const std::string& path, const char* what) {
  if (!exists || name.empty() || exists(name)) return {};
  return bad(path, std::string(what) + " " + quoted(name) + " does not exist");
}

Err check_external(const Flow& flow, const References& refs) {
  for (const auto& [id, n] : flow.nodes) {
    const std::string p = "nodes." + id + ".";
    IVR_TRY(check_prompt_list(n.prompts, p + "prompts", refs));
    if (n.type == NodeType::kMenu || n.type == NodeType::kCollect) {
      IVR_TRY(check_prompt_list(n.invalid_prompts, p + "invalid_prompts", refs));
      IVR_TRY(check_prompt_list(n.timeout_prompts, p + "timeout_prompts", refs));
    }
    IVR_TRY(check_ref(refs.calendar, n.calendar, p + "calendar", "calendar"));
    IVR_TRY(check_ref(refs.queue, n.queue, p + "queue", "queue"));
    IVR_TRY(check_ref(refs.queue, n.mailbox, p + "mailbox", "queue"));
    IVR_TRY(check_ref(refs.trunk, n.trunk, p + "trunk", "trunk"));
  }
  return {};
}

// Depth-first search over pass-through nodes only; a back edge is a loop
// that can spin forever without the caller doing anything.
class LoopFinder {
 public:
  explicit LoopFinder(const Flow& flow) : flow_(flow) {}

  Err run() {
    for (const auto& [id, n] : flow_.nodes)
      if (passes_through(n.type) && !color_.count(id)) IVR_TRY(visit(id));
    return {};
  }

 private:
  Err visit(const std::string& id) {
    color_[id] = 1;
    stack_.push_back(id);
    for (const auto& e : edges(flow_.nodes.at(id))) {
      if (!passes_through(flow_.nodes.at(e.target).type)) continue;
      auto c = color_.find(e.target);
      if (c != color_.end() && c->second == 1) return loop_error(e.target);
      if (c == color_.end()) IVR_TRY(visit(e.target));
    }
    stack_.pop_back();
    color_[id] = 2;
    return {};
  }

  Error loop_error(const std::string& back_to) const {
    std::string cycle;
    auto it = std::find(stack_.begin(), stack_.end(), back_to);
    for (; it != stack_.end(); ++it) cycle += *it + " -> ";
    return bad("nodes." + back_to, "nodes " + cycle + back_to +
                                       " form a loop without caller input (add a menu or collect to it)");
  }

  const Flow& flow_;
  std::map<std::string, int> color_;  // 1 = on the stack, 2 = done
  std::vector<std::string> stack_;
};

Err check_exits(const Flow& flow) {
  std::map<std::string, std::vector<std::string>> into;
  std::vector<std::string> pending;
  std::set<std::string> exits;
  for (const auto& [id, n] : flow.nodes) {
    for (const auto& e : edges(n)) into[e.target].push_back(id);
    if (is_terminal(n.type) && exits.insert(id).second) pending.push_back(id);
  }
  while (!pending.empty()) {
    const std::string id = pending.back();
    pending.pop_back();
    for (const auto& from : into[id])
      if (exits.insert(from).second) pending.push_back(from);
  }
  for (const auto& [id, n] : flow.nodes)
    if (!exits.count(id))
      return bad("nodes." + id, "node " + quoted(id) + " can never reach a terminal node");
  return {};
}

}  // namespace

std::vector<Edge> edges(const Node& n) {
  std::vector<Edge> out;
  auto add = [&](const char* field, const std::string& target) {
    if (!target.empty()) out.push_back({field, target});
  };
  add("next", n.next);
  for (const auto& [digit, target] : n.options) out.push_back({std::string("options.") + digit, target});
  add("on_failure", n.on_failure);
  add("open", n.open);
  add("closed", n.closed);
  add("blocked", n.blocked);
  add("vip", n.vip);
  add("known", n.known);
  add("unknown", n.unknown);
  return out;
}

Result<std::shared_ptr<const Flow>> compile(const json& definition, const References& refs) {
  auto flow = std::make_shared<Flow>();
  if (auto e = read_flow(definition, *flow)) return *e;
  if (auto e = check_targets(*flow)) return *e;
  if (auto e = check_reachable(*flow)) return *e;
  if (auto e = check_external(*flow, refs)) return *e;
  if (auto e = LoopFinder(*flow).run()) return *e;
  if (auto e = check_exits(*flow)) return *e;
  return std::shared_ptr<const Flow>(std::move(flow));
}

std::optional<Error> validate(const json& definition, const References& refs,
                              const std::string& field_prefix) {
  auto r = compile(definition, refs);
  if (r.ok()) return std::nullopt;
  Error e = r.error();
  if (!field_prefix.empty()) {
    // A prefix like "definition." names the whole definition when the field is empty.
    const bool dot = field_prefix.back() == '.';
    e.field = e.field.empty() ? (dot ? field_prefix.substr(0, field_prefix.size() - 1) : field_prefix)
                              : field_prefix + e.field;
  }
  return e;
}

}  // namespace hotline::ivr
