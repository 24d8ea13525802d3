// Whole-configuration rules: references between objects and uniqueness.
// The repository compares the problems before and after a write, so a write
// is refused exactly when it introduces a new one (a dangling reference, a
// duplicate), whichever object the problem shows up on.
#include <map>
#include <set>

#include "center/codec.h"

namespace hotline::center::detail {
namespace {

constexpr Kind kAllKinds[] = {Kind::kAgent,      Kind::kSkill,      Kind::kQueue,   Kind::kNumber,
                              Kind::kTrunk,      Kind::kCalendar,   Kind::kPrompt,  Kind::kFlow,
                              Kind::kReasonCode, Kind::kWrapUpCode, Kind::kCustomer};

const char* key_field(Kind k) {
  switch (k) {
    case Kind::kNumber:
      return "number";
    case Kind::kReasonCode:
    case Kind::kWrapUpCode:
      return "code";
    default:
      return "name";
  }
}

template <class T>
std::set<std::string> names_of(const std::vector<T>& v) {
  std::set<std::string> out;
  for (const auto& o : v) out.insert(o.name);
  return out;
}

class Checker {
 public:
  explicit Checker(const Snapshot& s)
      : s_(s),
        skills_(names_of(s.skills)),
        queues_(names_of(s.queues)),
        flows_(names_of(s.flows)),
        calendars_(names_of(s.calendars)),
        trunks_(names_of(s.trunks)) {}

  std::vector<Problem> run() {
    for (Kind k : kAllKinds) unique_keys(k);
    agents();
    queues();
    numbers();
    customers();
    flows();
    return std::move(out_);
  }

 private:
  void add(Kind k, std::int64_t id, const std::string& owner, const std::string& code, std::string field,
           std::string msg) {
    out_.push_back(Problem{k, id, owner, code, std::move(field), std::move(msg)});
  }
  void invalid(Kind k, std::int64_t id, const std::string& owner, std::string field, std::string msg) {
    add(k, id, owner, "invalid_argument", std::move(field), std::move(msg));
  }
  void unique_keys(Kind k) {
    std::map<std::string, std::int64_t> first;
    for (const auto& doc : public_list(s_, k)) {
      auto key = unique_key(k, doc);
      if (!key) continue;
      auto [it, inserted] = first.emplace(*key, doc.at("id").get<std::int64_t>());
      if (!inserted) {
        const auto what = describe(k, doc);
        add(k, doc.at("id"), what, "conflict", key_field(k), what + " already exists");
        add(k, it->second, what, "conflict", key_field(k), what + " already exists");
      }
    }
  }

  void skill_refs(Kind k, std::int64_t id, const std::string& who, const std::vector<SkillLevelDef>& v,
                  const std::string& prefix) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!skills_.count(v[i].skill))
        invalid(k, id, who, prefix + "[" + std::to_string(i) + "].skill",
                "unknown skill '" + v[i].skill + "'");
    }
  }

  void agents() {
    std::map<std::string, std::int64_t> ext;
    std::map<std::int64_t, std::int64_t> users;
    for (const auto& a : s_.agents) {
      const auto who = "agent '" + a.name + "'";
      skill_refs(Kind::kAgent, a.id, who, a.skills, "skills");
      if (!a.extension.empty()) {
        auto [it, fresh] = ext.emplace(a.extension, a.id);
        if (!fresh) {
          const auto msg = "extension " + a.extension + " is already another agent's default";
          add(Kind::kAgent, a.id, who, "conflict", "extension", msg);
          add(Kind::kAgent, it->second, who, "conflict", "extension", msg);
        }
      }
      if (a.user_id) {
        auto [it, fresh] = users.emplace(*a.user_id, a.id);
        if (!fresh) {
          const auto msg = "user " + std::to_string(*a.user_id) + " is already another agent";
          add(Kind::kAgent, a.id, who, "conflict", "user_id", msg);
          add(Kind::kAgent, it->second, who, "conflict", "user_id", msg);
        }
      }
    }
  }

  void queues() {
    for (const auto& q : s_.queues) {
      const auto who = "queue '" + q.name + "'";
      skill_refs(Kind::kQueue, q.id, who, q.skills, "skills");
      for (std::size_t i = 0; i < q.overflow.size(); ++i) {
        const auto f = "overflow[" + std::to_string(i) + "]";
        skill_refs(Kind::kQueue, q.id, who, q.overflow[i].skills, f + ".skills");
        const auto& target = q.overflow[i].queue;
        if (!target.empty() && !queues_.count(target))
          invalid(Kind::kQueue, q.id, who, f + ".queue", "unknown queue '" + target + "'");
      }
    }
  }

  void numbers() {
    for (const auto& n : s_.numbers) {
      if (!flows_.count(n.flow))
        invalid(Kind::kNumber, n.id, "number '" + n.number + "'", "flow", "unknown flow '" + n.flow + "'");
    }
  }

  void customers() {
    std::map<std::string, std::int64_t> phones;
    for (const auto& c : s_.customers) {
      const auto who = "customer " + std::to_string(c.id);
      for (std::size_t i = 0; i < c.phones.size(); ++i) {
        auto [it, fresh] = phones.emplace(c.phones[i], c.id);
        if (!fresh && it->second != c.id) {
          const auto f = "phones[" + std::to_string(i) + "]";
          add(Kind::kCustomer, c.id, who, "conflict", f, "this phone number belongs to another customer");
          add(Kind::kCustomer, it->second, who, "conflict", f,
              "this phone number belongs to another customer");
        }
      }
    }
  }

  // The flow's own validator (ivr) checks everything; this is the part that
  // protects a referenced queue, calendar or trunk from deletion.
  void flows() {
    const std::pair<const char*, const std::set<std::string>*> refs[] = {
        {"queue", &queues_}, {"calendar", &calendars_}, {"trunk", &trunks_}};
    for (const auto& f : s_.flows) {
      const auto& nodes = f.definition.contains("nodes") ? f.definition["nodes"] : json::object();
      if (!nodes.is_object()) continue;
      for (const auto& [node, body] : nodes.items()) {
        if (!body.is_object()) continue;
        for (const auto& [field, known] : refs) {
          auto it = body.find(field);
          if (it == body.end() || !it->is_string()) continue;
          const auto name = it->get<std::string>();
          if (!known->count(name))
            invalid(Kind::kFlow, f.id, "flow '" + f.name + "'", "definition.nodes." + node + "." + field,
                    std::string("unknown ") + field + " '" + name + "'");
        }
      }
    }
  }

  const Snapshot& s_;
  std::set<std::string> skills_, queues_, flows_, calendars_, trunks_;
  std::vector<Problem> out_;
};

}  // namespace

std::vector<Problem> check(const Snapshot& s) { return Checker(s).run(); }

}  // namespace hotline::center::detail
