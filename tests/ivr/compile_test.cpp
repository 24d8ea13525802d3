// Flow compilation: every node type, every validation rule (with the field
// it names), and the demo flow from docs/ivr.md.
#include <gtest/gtest.h>

#include "ivr/ivr.h"
#include "ivr_fixture.h"

namespace hotline::ivr {
namespace {

using testing::demo_flow;
using testing::must_compile;
using testing::tenant_refs;

json with(json base, const std::string& pointer, json value) {
  base[json::json_pointer(pointer)] = std::move(value);
  return base;
}

json without(json base, const std::string& pointer) {
  const json::json_pointer p(pointer);
  base[p.parent_pointer()].erase(p.back());
  return base;
}

// A flow that uses every node type and every optional field.
json every_type_flow() {
  return json::parse(R"({
    "start": "lookup", "language": "en",
    "nodes": {
      "lookup": {"type": "lookup", "vip": "vip", "blocked": "bye", "known": "hours", "unknown": "hours",
                 "description": "who is calling"},
      "vip": {"type": "set", "priority": 5, "skills": [{"skill": "gold", "level": 3}],
              "attributes": {"tier": "gold"}, "language": "zh-CN", "next": "hours"},
      "hours": {"type": "hours", "calendar": "main", "open": "welcome", "closed": "vm"},
      "welcome": {"type": "play", "prompts": ["welcome"], "next": "menu"},
      "menu": {"type": "menu", "prompts": ["menu"], "options": {"1": "sales", "2": "account", "0": "op", "*": "menu",
               "#": "bye", "A": "welcome"},
               "timeout_s": 7, "retries": 1, "invalid_prompts": ["invalid"], "timeout_prompts": ["menu"],
               "on_failure": "bye"},
      "account": {"type": "collect", "prompts": ["enter_account"], "variable": "account", "min_digits": 4,
                  "max_digits": 8, "terminator": "#", "timeout_s": 10, "retries": 3,
                  "invalid_prompts": ["invalid"], "timeout_prompts": [], "next": "support", "on_failure": "bye"},
      "sales": {"type": "queue", "queue": "sales", "priority": 2, "skills": [{"skill": "sales"}],
                "prompts": ["in_queue"]},
      "support": {"type": "queue", "queue": "support"},
      "vm": {"type": "voicemail", "mailbox": "support", "prompts": ["voicemail_prompt"], "max_message_s": 60},
      "op": {"type": "transfer", "number": "+8610123456", "trunk": "pstn", "prompts": ["goodbye"]},
      "bye": {"type": "hangup", "prompts": ["goodbye"]}
    }})");
}

TEST(IvrCompile, DemoFlowCompiles) { EXPECT_NE(must_compile(demo_flow()), nullptr); }

TEST(IvrCompile, DocsExampleIsTheDemoFlow) {
  const std::string doc = testing::read_text(std::string(HOTLINE_SOURCE_DIR) + "/docs/ivr.md");
  const auto marker = doc.find("<!-- demo-flow -->");
  ASSERT_NE(marker, std::string::npos);
  const auto from = doc.find("```json\n", marker);
  ASSERT_NE(from, std::string::npos);
  const auto to = doc.find("```", from + 8);
  ASSERT_NE(to, std::string::npos);
  EXPECT_EQ(json::parse(doc.substr(from + 8, to - from - 8)), demo_flow());
}

TEST(IvrCompile, EveryNodeTypeCompiles) { EXPECT_NE(must_compile(every_type_flow()), nullptr); }

TEST(IvrCompile, LanguageDefaultsToChinese) {
  auto flow = must_compile(without(demo_flow(), "/language"));
  Runner r(flow, "100", "200", "", {});
  EXPECT_EQ(r.start().language, "zh-CN");
}

TEST(IvrCompile, NullReferenceCallbacksSkipTheirChecks) {
  json def = with(demo_flow(), "/nodes/sales/queue", "nowhere");
  def = with(def, "/nodes/hours/calendar", "nowhere");
  def = with(def, "/nodes/welcome/prompts/0", "nowhere");
  EXPECT_FALSE(compile(def, tenant_refs()).ok());
  EXPECT_TRUE(compile(def, References{}).ok());
}

struct BadCase {
  const char* name;
  json definition;
  const char* field;
  const char* message;  // a fragment of the message
};

std::vector<BadCase> bad_cases() {
  const json d = demo_flow();
  const json e = every_type_flow();
  json many = d;
  for (int i = 0; i < 500; ++i) many["nodes"]["n" + std::to_string(i)] = {{"type", "hangup"}};
  json loop = with(d, "/nodes/welcome/next", "check");
  loop["nodes"]["check"] = {
      {"type", "hours"}, {"calendar", "main"}, {"open", "welcome"}, {"closed", "hours"}};
  json trap = with(d, "/nodes/menu/options/3", "trap");
  trap["nodes"]["trap"] = json::parse(R"({"type": "menu", "prompts": ["menu"], "options": {"1": "trap"},
                                          "on_failure": "trap"})");
  json orphan = d;
  orphan["nodes"]["orphan"] = {{"type", "hangup"}};
  return {
      {"not an object", json::array(), "", "JSON object"},
      {"no start", without(d, "/start"), "start", "required"},
      {"start not a string", with(d, "/start", 5), "start", "node id"},
      {"start missing", with(d, "/start", "nope"), "start", "does not exist"},
      {"bad language", with(d, "/language", "english!"), "language", "language tag"},
      {"unknown top field", with(d, "/version", 2), "version", "not a known field"},
      {"no nodes", without(d, "/nodes"), "nodes", "required"},
      {"empty nodes", with(d, "/nodes", json::object()), "nodes", "1 to 500"},
      {"too many nodes", many, "nodes", "1 to 500"},
      {"bad node id", with(d, "/nodes/bad id", {{"type", "hangup"}}), "nodes", "\"bad id\""},
      {"node not an object", with(d, "/nodes/closed", "hangup"), "nodes.closed", "object"},
      {"no type", without(d, "/nodes/closed/type"), "nodes.closed.type", "required"},
      {"unknown type", with(d, "/nodes/closed/type", "dance"), "nodes.closed.type", "must be one of"},
      {"unknown node field", with(d, "/nodes/welcome/colour", "red"), "nodes.welcome.colour", "not a known"},
      {"field of another type", with(d, "/nodes/welcome/queue", "sales"), "nodes.welcome.queue",
       "not a known"},
      {"long description", with(d, "/nodes/welcome/description", std::string(501, 'x')),
       "nodes.welcome.description", "500"},
      {"play without prompts", without(d, "/nodes/welcome/prompts"), "nodes.welcome.prompts", "required"},
      {"play with no prompt", with(d, "/nodes/welcome/prompts", json::array()), "nodes.welcome.prompts",
       "1 to 20"},
      {"prompts not an array", with(d, "/nodes/welcome/prompts", "welcome"), "nodes.welcome.prompts",
       "array"},
      {"prompt not a name", with(d, "/nodes/welcome/prompts/0", 7), "nodes.welcome.prompts.0", "prompt name"},
      {"play without next", without(d, "/nodes/welcome/next"), "nodes.welcome.next", "required"},
      {"next not a node", with(d, "/nodes/welcome/next", "nope"), "nodes.welcome.next", "does not exist"},
      {"menu without options", without(d, "/nodes/menu/options"), "nodes.menu.options", "required"},
      {"menu empty options", with(d, "/nodes/menu/options", json::object()), "nodes.menu.options",
       "at least"},
      {"menu option key", with(d, "/nodes/menu/options/11", "sales"), "nodes.menu.options", "\"11\""},
      {"menu option target", with(d, "/nodes/menu/options/1", "nope"), "nodes.menu.options.1",
       "does not exist"},
      {"menu option not a string", with(d, "/nodes/menu/options/1", 1), "nodes.menu.options.1", "node id"},
      {"timeout too small", with(d, "/nodes/menu/timeout_s", 0), "nodes.menu.timeout_s", "between 1 and 60"},
      {"timeout too large", with(d, "/nodes/menu/timeout_s", 61), "nodes.menu.timeout_s", "between 1 and 60"},
      {"timeout huge", with(d, "/nodes/menu/timeout_s", 18446744073709551615ull), "nodes.menu.timeout_s",
       "between"},
      {"timeout a string", with(d, "/nodes/menu/timeout_s", "5"), "nodes.menu.timeout_s", "integer"},
      {"timeout a fraction", with(d, "/nodes/menu/timeout_s", 5.5), "nodes.menu.timeout_s", "integer"},
      {"retries", with(d, "/nodes/menu/retries", 11), "nodes.menu.retries", "between 0 and 10"},
      {"no on_failure", without(d, "/nodes/menu/on_failure"), "nodes.menu.on_failure", "required"},
      {"on_failure target", with(d, "/nodes/menu/on_failure", "nope"), "nodes.menu.on_failure",
       "does not exist"},
      {"invalid prompt missing", with(d, "/nodes/menu/invalid_prompts/0", "oops"),
       "nodes.menu.invalid_prompts.0", "prompt \"oops\" does not exist"},
      {"timeout prompt missing", with(d, "/nodes/menu/timeout_prompts", {"oops"}),
       "nodes.menu.timeout_prompts.0", "does not exist"},
      {"collect min_digits", with(e, "/nodes/account/min_digits", 0), "nodes.account.min_digits",
       "between 1"},
      {"collect max_digits", with(e, "/nodes/account/max_digits", 33), "nodes.account.max_digits", "and 32"},
      {"collect max < min", with(e, "/nodes/account/max_digits", 3), "nodes.account.max_digits",
       "min_digits"},
      {"collect terminator", with(e, "/nodes/account/terminator", "x"), "nodes.account.terminator", "\"#\""},
      {"collect no variable", without(e, "/nodes/account/variable"), "nodes.account.variable", "required"},
      {"collect bad variable", with(e, "/nodes/account/variable", "a.b"), "nodes.account.variable", "1-64"},
      {"collect no next", without(e, "/nodes/account/next"), "nodes.account.next", "required"},
      {"hours no calendar", without(d, "/nodes/hours/calendar"), "nodes.hours.calendar", "required"},
      {"hours calendar missing", with(d, "/nodes/hours/calendar", "night"), "nodes.hours.calendar",
       "calendar \"night\" does not exist"},
      {"hours no closed", without(d, "/nodes/hours/closed"), "nodes.hours.closed", "required"},
      {"lookup no unknown", without(e, "/nodes/lookup/unknown"), "nodes.lookup.unknown", "required"},
      {"lookup vip target", with(e, "/nodes/lookup/vip", "nope"), "nodes.lookup.vip", "does not exist"},
      {"set language", with(d, "/nodes/english/language", "e"), "nodes.english.language", "language tag"},
      {"set priority", with(e, "/nodes/vip/priority", 5000), "nodes.vip.priority", "between -1000 and 1000"},
      {"set skill level", with(e, "/nodes/vip/skills/0/level", 11), "nodes.vip.skills.0.level",
       "between 1 and 10"},
      {"set skill field", with(e, "/nodes/vip/skills/0/years", 3), "nodes.vip.skills.0.years", "not a known"},
      {"set skill no name", without(e, "/nodes/vip/skills/0/skill"), "nodes.vip.skills.0.skill", "required"},
      {"set skills not array", with(e, "/nodes/vip/skills", "gold"), "nodes.vip.skills", "array"},
      {"set attribute value", with(e, "/nodes/vip/attributes/tier", 1), "nodes.vip.attributes.tier",
       "string"},
      {"set attribute name", with(e, "/nodes/vip/attributes/a b", "x"), "nodes.vip.attributes", "\"a b\""},
      {"queue missing", with(d, "/nodes/sales/queue", "billing"), "nodes.sales.queue",
       "queue \"billing\" does not exist"},
      {"queue required", without(d, "/nodes/sales/queue"), "nodes.sales.queue", "required"},
      {"queue prompt missing", with(d, "/nodes/sales/prompts", {"hold_music"}), "nodes.sales.prompts.0",
       "does not exist"},
      {"voicemail mailbox", with(e, "/nodes/vm/mailbox", "billing"), "nodes.vm.mailbox", "does not exist"},
      {"voicemail length", with(e, "/nodes/vm/max_message_s", 601), "nodes.vm.max_message_s",
       "between 5 and 600"},
      {"transfer number", with(e, "/nodes/op/number", "12ab"), "nodes.op.number", "digits"},
      {"transfer trunk", with(e, "/nodes/op/trunk", "sat"), "nodes.op.trunk", "trunk \"sat\" does not exist"},
      {"welcome prompt missing", with(d, "/nodes/welcome/prompts/0", "hello"), "nodes.welcome.prompts.0",
       "prompt \"hello\" does not exist"},
      {"unreachable", orphan, "nodes.orphan", "not reachable"},
      {"loop without input", loop, "nodes.check", "check -> welcome -> check"},
      {"no way out", trap, "nodes.trap", "never reach a terminal"},
  };
}

TEST(IvrCompile, EveryValidationErrorNamesItsField) {
  for (const auto& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    auto r = compile(c.definition, tenant_refs());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_EQ(r.error().field, c.field);
    EXPECT_NE(r.error().message.find(c.message), std::string::npos) << r.error().message;
  }
}

TEST(IvrCompile, ValidatePrefixesTheField) {
  EXPECT_FALSE(validate(demo_flow(), tenant_refs(), "definition.").has_value());
  auto e = validate(without(demo_flow(), "/nodes/welcome/next"), tenant_refs(), "definition.");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "definition.nodes.welcome.next");
  e = validate(json::array(), tenant_refs(), "definition.");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "definition");
  e = validate(with(demo_flow(), "/start", "nope"), tenant_refs());
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "start");
}

TEST(IvrCompile, MenuCyclesWithInputAreFine) {
  // menu -> play -> menu waits for the caller each time round: not a busy loop.
  json def = with(demo_flow(), "/nodes/menu/options/0", "again");
  def["nodes"]["again"] = {{"type", "play"}, {"prompts", {"menu"}}, {"next", "menu"}};
  EXPECT_NE(must_compile(def), nullptr);
}

TEST(IvrCompile, EmptyTerminatorMeansNone) {
  auto flow = must_compile(with(every_type_flow(), "/nodes/account/terminator", ""));
  ASSERT_NE(flow, nullptr);
}

}  // namespace
}  // namespace hotline::ivr
