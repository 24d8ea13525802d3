#include "app/demo.h"

namespace hotline::app {

using center::json;
using center::Kind;

json demo_flow() {
  return json::parse(R"({
    "start": "welcome",
    "language": "zh-CN",
    "nodes": {
      "welcome": {"type": "play", "prompts": ["welcome"], "next": "vip"},
      "vip":     {"type": "lookup", "blocked": "blocked", "unknown": "hours"},
      "blocked": {"type": "hangup", "prompts": ["goodbye"]},
      "hours":   {"type": "hours", "calendar": "main", "open": "menu", "closed": "closed"},
      "closed":  {"type": "hangup", "prompts": ["closed"]},
      "menu":    {"type": "menu", "prompts": ["menu"],
                  "options": {"1": "sales", "2": "support", "9": "english", "*": "menu"},
                  "timeout_s": 5, "retries": 2, "invalid_prompts": ["invalid"], "on_failure": "support"},
      "english": {"type": "set", "language": "en", "next": "menu_en"},
      "menu_en": {"type": "menu", "prompts": ["menu"],
                  "options": {"1": "sales", "2": "support", "*": "menu_en"},
                  "timeout_s": 5, "retries": 2, "invalid_prompts": ["invalid"], "on_failure": "support"},
      "sales":   {"type": "queue", "queue": "sales"},
      "support": {"type": "queue", "queue": "support"}
    }
  })");
}

namespace {

bool exists(center::Repository& repo, std::int64_t tenant, Kind kind, const std::string& field,
            const json& value) {
  for (const auto& o : repo.list(tenant, kind))
    if (o.contains(field) && o[field] == value) return true;
  return false;
}

int add(center::Repository& repo, std::int64_t tenant, Kind kind, const std::string& key, json body,
        const iam::Actor& actor, std::ostream& log) {
  if (exists(repo, tenant, kind, key, body[key])) return 0;
  auto r = repo.create(tenant, kind, body, actor);
  if (!r) {
    log << "demo: " << center::to_string(kind) << " " << body[key].dump() << ": "
        << (r.error().field.empty() ? "" : r.error().field + ": ") << r.error().message << "\n";
    return 0;
  }
  return 1;
}

}  // namespace

int seed_demo(center::Repository& repo, std::int64_t tenant, const iam::Actor& actor, std::ostream& log) {
  int n = 0;
  for (const char* s : {"sales", "support", "english"})
    n += add(repo, tenant, Kind::kSkill, "name", {{"name", s}}, actor, log);
  json all_day = json::array({"00:00-24:00"});
  n += add(repo, tenant, Kind::kCalendar, "name",
           {{"name", "main"},
            {"time_zone", "Asia/Shanghai"},
            {"weekly",
             {{"mon", all_day},
              {"tue", all_day},
              {"wed", all_day},
              {"thu", all_day},
              {"fri", all_day},
              {"sat", all_day},
              {"sun", all_day}}}},
           actor, log);
  n += add(repo, tenant, Kind::kQueue, "name",
           {{"name", "sales"},
            {"display_name", "Sales"},
            {"skills", json::array({{{"skill", "sales"}, {"level", 1}}})},
            {"wrap_up_s", 10},
            {"ring_timeout_s", 15},
            {"record", true}},
           actor, log);
  n += add(repo, tenant, Kind::kQueue, "name",
           {{"name", "support"},
            {"display_name", "Support"},
            {"skills", json::array({{{"skill", "support"}, {"level", 1}}})},
            {"wrap_up_s", 10},
            {"ring_timeout_s", 15},
            {"record", true}},
           actor, log);
  struct AgentSeed {
    const char* ext;
    const char* name;
    std::vector<std::string> skills;
  };
  const AgentSeed agents[] = {{"1001", "Agent 1001", {"sales", "support"}},
                              {"1002", "Agent 1002", {"sales"}},
                              {"1003", "Agent 1003", {"support"}},
                              {"1004", "Agent 1004", {"support", "english"}},
                              {"1005", "Agent 1005", {"sales", "english"}}};
  for (const auto& a : agents) {
    json skills = json::array();
    for (const auto& s : a.skills) skills.push_back({{"skill", s}, {"level", 5}});
    n += add(repo, tenant, Kind::kAgent, "extension",
             {{"name", a.name}, {"extension", a.ext}, {"skills", skills}}, actor, log);
  }
  n += add(repo, tenant, Kind::kFlow, "name", {{"name", "main"}, {"definition", demo_flow()}}, actor, log);
  n += add(repo, tenant, Kind::kNumber, "number",
           {{"number", "400"}, {"flow", "main"}, {"language", "zh-CN"}}, actor, log);
  n += add(repo, tenant, Kind::kTrunk, "name",
           {{"name", "loopback"}, {"allowed_sources", json::array({"127.0.0.0/8", "::1"})}}, actor, log);
  n += add(repo, tenant, Kind::kCustomer, "name",
           {{"name", "张先生 (VIP)"},
            {"phones", json::array({"+8613800000000"})},
            {"vip", true},
            {"priority", 10}},
           actor, log);
  const std::pair<int, const char*> reasons[] = {
      {100, "break"}, {101, "lunch"}, {102, "training"}, {103, "meeting"}};
  for (const auto& [code, label] : reasons)
    n += add(repo, tenant, Kind::kReasonCode, "code", {{"code", code}, {"label", label}}, actor, log);
  const std::pair<int, const char*> wrapups[] = {{1, "resolved"}, {2, "follow-up needed"}, {3, "sale"}};
  for (const auto& [code, label] : wrapups)
    n += add(repo, tenant, Kind::kWrapUpCode, "code", {{"code", code}, {"label", label}}, actor, log);
  return n;
}

}  // namespace hotline::app
