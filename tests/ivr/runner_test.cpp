// The Runner state machine: every node type, menu and collect retry paths,
// lookup branches, accumulation by set nodes, the idempotent terminal action
// and the runtime step guard.
#include <gtest/gtest.h>

#include "ivr/flow.h"
#include "ivr/ivr.h"
#include "ivr_fixture.h"

namespace hotline::ivr {
namespace {

using testing::demo_flow;
using testing::must_compile;
using K = Action::Kind;
using Prompts = std::vector<std::string>;

struct FakeEnv {
  bool open = true;
  CallerInfo who;
  std::vector<std::string> calendars_asked;
  std::vector<std::string> numbers_looked_up;

  Environment env() {
    return Environment{[this](const std::string& c) {
                         calendars_asked.push_back(c);
                         return open;
                       },
                       [this](const std::string& n) {
                         numbers_looked_up.push_back(n);
                         return who;
                       }};
  }
};

json flow_with_collect() {
  return json::parse(R"({
    "start": "account", "language": "en",
    "nodes": {
      "account": {"type": "collect", "prompts": ["menu"], "variable": "account", "min_digits": 4,
                  "max_digits": 6, "timeout_s": 8, "retries": 1, "invalid_prompts": ["invalid"],
                  "timeout_prompts": ["closed"], "next": "done", "on_failure": "bye"},
      "done": {"type": "queue", "queue": "support"},
      "bye": {"type": "hangup", "prompts": ["goodbye"]}
    }})");
}

json lookup_flow() {
  return json::parse(R"({
    "start": "who", "language": "zh-CN",
    "nodes": {
      "who": {"type": "lookup", "vip": "vip", "blocked": "blocked", "known": "known", "unknown": "unknown"},
      "vip": {"type": "set", "priority": 5, "skills": [{"skill": "gold", "level": 3}, {"skill": "sales", "level": 2}],
              "attributes": {"tier": "gold"}, "next": "more"},
      "more": {"type": "set", "priority": 1, "language": "en", "skills": [{"skill": "gold", "level": 4}],
               "next": "known"},
      "known": {"type": "queue", "queue": "sales", "priority": 2, "skills": [{"skill": "sales", "level": 5}]},
      "blocked": {"type": "hangup", "prompts": ["goodbye"]},
      "unknown": {"type": "queue", "queue": "support"}
    }})");
}

TEST(IvrRunner, DemoFlowSalesSupportAndEnglish) {
  auto flow = must_compile(demo_flow());
  FakeEnv fake;
  for (auto [digits, queue, language] :
       std::vector<std::tuple<std::string, std::string, std::string>>{{"1", "sales", "zh-CN"},
                                                                      {"2", "support", "zh-CN"},
                                                                      {"91", "sales", "en"},
                                                                      {"92", "support", "en"}}) {
    SCOPED_TRACE(digits);
    Runner r(flow, "+8613800000000", "4001", "", fake.env());
    Action a = r.start();
    EXPECT_EQ(a.kind, K::kPlay);
    EXPECT_EQ(a.prompts, Prompts{"welcome"});
    EXPECT_EQ(a.language, "zh-CN");
    a = r.on_played();
    EXPECT_EQ(a.kind, K::kCollect);
    EXPECT_EQ(a.prompts, Prompts{"menu"});
    EXPECT_EQ(a.timeout, std::chrono::milliseconds(5000));
    EXPECT_EQ(a.max_digits, 1);
    EXPECT_EQ(a.terminator, 0);
    for (char d : digits) a = r.on_digit(d);
    EXPECT_EQ(a.kind, K::kQueue);
    EXPECT_EQ(a.queue, queue);
    EXPECT_EQ(a.language, language);
    EXPECT_EQ(r.language(), language);
    EXPECT_TRUE(r.finished());
  }
  EXPECT_EQ(fake.calendars_asked, std::vector<std::string>(4, "main"));
}

TEST(IvrRunner, DemoEnglishMenuIsPlayedInEnglish) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  Action a = r.on_digit('9');
  EXPECT_EQ(a.kind, K::kCollect);
  EXPECT_EQ(a.prompts, Prompts{"menu"});
  EXPECT_EQ(a.language, "en");
  EXPECT_EQ(r.current_node(), "menu_en");
  r.on_digit('1');
  EXPECT_EQ(r.path(), (std::vector<std::string>{"welcome", "hours", "menu", "english", "menu_en", "sales"}));
}

TEST(IvrRunner, ClosedHangsUpWithTheClosedPrompt) {
  FakeEnv fake;
  fake.open = false;
  Runner r(must_compile(demo_flow()), "100", "4001", "en", fake.env());
  r.start();
  Action a = r.on_played();
  EXPECT_EQ(a.kind, K::kHangup);
  EXPECT_EQ(a.prompts, Prompts{"closed"});
  EXPECT_EQ(a.language, "en");  // the number's language overrides the flow's
  EXPECT_TRUE(r.finished());
}

TEST(IvrRunner, DigitsDuringPlayAreIgnored) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  Action a = r.on_digit('1');
  EXPECT_EQ(a.kind, K::kPlay);
  EXPECT_TRUE(a.prompts.empty());
  a = r.on_timeout();
  EXPECT_EQ(a.kind, K::kPlay);
  EXPECT_TRUE(a.prompts.empty());
  EXPECT_EQ(r.current_node(), "welcome");
  EXPECT_EQ(r.on_played().kind, K::kCollect);
}

TEST(IvrRunner, MenuInvalidDigitsRetryThenFail) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  for (int i = 0; i < 2; ++i) {  // retries = 2
    Action a = r.on_digit('5');
    EXPECT_EQ(a.kind, K::kCollect);
    EXPECT_EQ(a.prompts, (Prompts{"invalid", "menu"}));
    EXPECT_EQ(r.current_node(), "menu");
  }
  Action a = r.on_digit('#');
  EXPECT_EQ(a.kind, K::kHangup);
  EXPECT_EQ(a.prompts, Prompts{"goodbye"});
  EXPECT_EQ(r.current_node(), "goodbye");
}

TEST(IvrRunner, MenuTimeoutsUseTimeoutPromptsAndShareTheRetryCount) {
  json def = demo_flow();
  def["nodes"]["menu"]["timeout_prompts"] = {"moh"};
  FakeEnv fake;
  Runner r(must_compile(def), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  EXPECT_EQ(r.on_timeout().prompts, (Prompts{"moh", "menu"}));
  EXPECT_EQ(r.on_digit('7').prompts, (Prompts{"invalid", "menu"}));
  EXPECT_EQ(r.on_timeout().kind, K::kHangup);
}

TEST(IvrRunner, MenuTimeoutPromptsDefaultToInvalidPrompts) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  EXPECT_EQ(r.on_timeout().prompts, (Prompts{"invalid", "menu"}));
  // A valid digit after a failure still routes.
  EXPECT_EQ(r.on_digit('2').queue, "support");
}

TEST(IvrRunner, MenuWithNoRetriesFailsAtOnce) {
  json def = demo_flow();
  def["nodes"]["menu"]["retries"] = 0;
  FakeEnv fake;
  Runner r(must_compile(def), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  EXPECT_EQ(r.on_timeout().kind, K::kHangup);
}

TEST(IvrRunner, MenuIgnoresPlayedWhileWaiting) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  Action a = r.on_played();
  EXPECT_EQ(a.kind, K::kCollect);
  EXPECT_TRUE(a.prompts.empty());
  EXPECT_EQ(r.on_digit('1').queue, "sales");
}

TEST(IvrRunner, CollectWithTerminator) {
  Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
  Action a = r.start();
  EXPECT_EQ(a.kind, K::kCollect);
  EXPECT_EQ(a.prompts, Prompts{"menu"});
  EXPECT_EQ(a.max_digits, 6);
  EXPECT_EQ(a.terminator, '#');
  EXPECT_EQ(a.timeout, std::chrono::seconds(8));
  for (char d : std::string("1234")) {
    a = r.on_digit(d);
    EXPECT_EQ(a.kind, K::kCollect);  // keep collecting
    EXPECT_TRUE(a.prompts.empty());
  }
  EXPECT_TRUE(r.variables().empty());
  a = r.on_digit('#');
  EXPECT_EQ(a.kind, K::kQueue);
  EXPECT_EQ(r.variables().at("account"), "1234");
}

TEST(IvrRunner, CollectStopsAtMaxDigits) {
  Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
  r.start();
  Action a;
  for (char d : std::string("987654")) a = r.on_digit(d);
  EXPECT_EQ(a.kind, K::kQueue);
  EXPECT_EQ(r.variables().at("account"), "987654");
}

TEST(IvrRunner, CollectTooFewDigitsIsInvalid) {
  Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
  r.start();
  r.on_digit('1');
  r.on_digit('2');
  Action a = r.on_digit('#');
  EXPECT_EQ(a.kind, K::kCollect);
  EXPECT_EQ(a.prompts, (Prompts{"invalid", "menu"}));
  // The buffer starts again: 4 new digits are enough.
  for (char d : std::string("5555")) a = r.on_digit(d);
  a = r.on_digit('#');
  EXPECT_EQ(a.kind, K::kQueue);
  EXPECT_EQ(r.variables().at("account"), "5555");
}

TEST(IvrRunner, CollectTimeouts) {
  {  // nothing typed: timeout prompts
    Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
    r.start();
    EXPECT_EQ(r.on_timeout().prompts, (Prompts{"closed", "menu"}));
    EXPECT_EQ(r.on_timeout().kind, K::kHangup);  // retries = 1
  }
  {  // some digits, too few: invalid
    Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
    r.start();
    r.on_digit('1');
    EXPECT_EQ(r.on_timeout().prompts, (Prompts{"invalid", "menu"}));
  }
  {  // enough digits: the inter-digit timeout ends the entry
    Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
    r.start();
    for (char d : std::string("12345")) r.on_digit(d);
    EXPECT_EQ(r.on_timeout().kind, K::kQueue);
    EXPECT_EQ(r.variables().at("account"), "12345");
  }
}

TEST(IvrRunner, CollectRejectsNonDigitsAndFailsOver) {
  Runner r(must_compile(flow_with_collect()), "100", "4001", "", {});
  r.start();
  r.on_digit('1');
  EXPECT_EQ(r.on_digit('*').prompts, (Prompts{"invalid", "menu"}));
  Action a = r.on_digit('B');
  EXPECT_EQ(a.kind, K::kHangup);
  EXPECT_EQ(a.prompts, Prompts{"goodbye"});
  EXPECT_TRUE(r.variables().empty());
}

TEST(IvrRunner, CollectWithoutTerminatorTreatsHashAsInvalid) {
  json def = flow_with_collect();
  def["nodes"]["account"]["terminator"] = "";
  Runner r(must_compile(def), "100", "4001", "", {});
  EXPECT_EQ(r.start().terminator, 0);
  for (char d : std::string("1234")) r.on_digit(d);
  EXPECT_EQ(r.on_digit('#').prompts, (Prompts{"invalid", "menu"}));
}

TEST(IvrRunner, LookupBranches) {
  auto flow = must_compile(lookup_flow());
  struct Case {
    CallerInfo who;
    std::string node;
  };
  CallerInfo vip;
  vip.known = vip.vip = true;
  vip.priority = 10;
  CallerInfo blocked;
  blocked.known = blocked.vip = blocked.blocked = true;
  CallerInfo known;
  known.known = true;
  known.customer_id = 7;
  for (const auto& [who, node] :
       std::vector<Case>{{vip, "known"}, {blocked, "blocked"}, {known, "known"}, {CallerInfo{}, "unknown"}}) {
    FakeEnv fake;
    fake.who = who;
    Runner r(flow, "+8613900000000", "4001", "", fake.env());
    r.start();
    EXPECT_EQ(r.current_node(), node);
    EXPECT_EQ(fake.numbers_looked_up, std::vector<std::string>{"+8613900000000"});
    EXPECT_EQ(r.caller_info().customer_id, who.customer_id);
  }
}

TEST(IvrRunner, LookupFallsThroughMissingBranches) {
  json def = lookup_flow();
  def["nodes"]["who"].erase("blocked");
  def["nodes"]["who"].erase("vip");
  def["nodes"].erase("vip");
  def["nodes"].erase("more");
  def["nodes"].erase("blocked");
  auto flow = must_compile(def);
  FakeEnv fake;
  fake.who.blocked = true;
  Runner blocked(flow, "1", "2", "", fake.env());
  EXPECT_EQ(blocked.start().queue, "sales");  // blocked -> known
  def["nodes"]["who"].erase("known");
  def["nodes"].erase("known");
  Runner vip(must_compile(def), "1", "2", "", fake.env());
  EXPECT_EQ(vip.start().queue, "support");  // -> unknown
  Runner no_lookup(flow, "1", "2", "", {});
  EXPECT_EQ(no_lookup.start().queue, "support");
  EXPECT_FALSE(no_lookup.caller_info().known);
}

TEST(IvrRunner, SetNodesAndLookupAccumulateIntoTheQueueAction) {
  FakeEnv fake;
  fake.who.known = fake.who.vip = true;
  fake.who.priority = 10;
  fake.who.language = "zh-CN";
  fake.who.region = "CN-BJ";
  Runner r(must_compile(lookup_flow()), "1", "2", "", fake.env());
  Action a = r.start();
  EXPECT_EQ(a.kind, K::kQueue);
  EXPECT_EQ(a.queue, "sales");
  EXPECT_EQ(a.priority, 10 + 5 + 1 + 2);
  ASSERT_EQ(a.skills.size(), 2u);
  EXPECT_EQ(a.skills[0].skill, "gold");
  EXPECT_EQ(a.skills[0].level, 4);  // a later set replaces the level
  EXPECT_EQ(a.skills[1].skill, "sales");
  EXPECT_EQ(a.skills[1].level, 5);  // the queue node's own skill wins
  EXPECT_EQ(a.attributes,
            (std::map<std::string, std::string>{{"tier", "gold"}, {"vip", "true"}, {"region", "CN-BJ"}}));
  EXPECT_EQ(a.language, "en");  // the set node ran after the lookup
  EXPECT_EQ(r.path(), (std::vector<std::string>{"who", "vip", "more", "known"}));
}

TEST(IvrRunner, KnownCustomerLanguageIsUsed) {
  FakeEnv fake;
  fake.who.known = true;
  fake.who.priority = 3;
  fake.who.language = "en";
  Runner r(must_compile(lookup_flow()), "1", "2", "", fake.env());
  Action a = r.start();
  EXPECT_EQ(a.language, "en");
  EXPECT_EQ(a.priority, 3 + 2);
  EXPECT_EQ(a.attributes.at("vip"), "false");
  EXPECT_EQ(a.attributes.count("region"), 0u);
}

TEST(IvrRunner, VoicemailAndTransferActions) {
  json def = json::parse(R"({
    "start": "menu",
    "nodes": {
      "menu": {"type": "menu", "prompts": ["menu"], "options": {"1": "vm", "2": "op", "3": "plain"},
               "on_failure": "bye"},
      "vm": {"type": "voicemail", "mailbox": "support", "prompts": ["voicemail_prompt"], "max_message_s": 60},
      "op": {"type": "transfer", "number": "+8610123456", "trunk": "pstn"},
      "plain": {"type": "voicemail", "mailbox": "sales"},
      "bye": {"type": "hangup"}
    }})");
  auto flow = must_compile(def);
  Runner vm(flow, "1", "2", "", {});
  vm.start();
  Action a = vm.on_digit('1');
  EXPECT_EQ(a.kind, K::kVoicemail);
  EXPECT_EQ(a.mailbox, "support");
  EXPECT_EQ(a.max_message_s, 60);
  EXPECT_EQ(a.prompts, Prompts{"voicemail_prompt"});
  Runner op(flow, "1", "2", "", {});
  op.start();
  a = op.on_digit('2');
  EXPECT_EQ(a.kind, K::kTransfer);
  EXPECT_EQ(a.number, "+8610123456");
  EXPECT_EQ(a.trunk, "pstn");
  EXPECT_TRUE(a.prompts.empty());
  Runner plain(flow, "1", "2", "", {});
  plain.start();
  EXPECT_EQ(plain.on_digit('3').max_message_s, 120);
  Runner bye(flow, "1", "2", "", {});
  bye.start();
  bye.on_digit('9');
  bye.on_digit('9');
  a = bye.on_digit('9');
  EXPECT_EQ(a.kind, K::kHangup);
  EXPECT_TRUE(a.prompts.empty());
}

TEST(IvrRunner, TerminalActionIsIdempotent) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  const Action done = r.on_digit('1');
  ASSERT_TRUE(done.terminal());
  for (const Action& again : {r.on_digit('2'), r.on_played(), r.on_timeout(), r.start()}) {
    EXPECT_EQ(again.kind, K::kQueue);
    EXPECT_EQ(again.queue, "sales");
    EXPECT_EQ(again.prompts, done.prompts);
  }
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(r.path().size(), 4u);
}

TEST(IvrRunner, SilentCallerBouncingBetweenNodesIsHungUp) {
  // menu -(failure)-> play -> menu ... waits for input each time, so it
  // compiles, but a caller who never presses anything must not stay forever.
  json def = demo_flow();
  def["nodes"]["menu"]["on_failure"] = "again";
  def["nodes"]["again"] = {{"type", "play"}, {"prompts", {"menu"}}, {"next", "menu"}};
  FakeEnv fake;
  Runner r(must_compile(def), "100", "4001", "", fake.env());
  Action a = r.start();
  int events = 0;
  while (!r.finished() && events < 100000) {
    a = a.kind == K::kPlay ? r.on_played() : r.on_timeout();
    ++events;
  }
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(a.kind, K::kHangup);
  EXPECT_TRUE(a.prompts.empty());
  EXPECT_EQ(r.path().size(), 1000u);  // capped
}

TEST(IvrRunner, DigitsResetTheStepGuard) {
  json def = demo_flow();
  def["nodes"]["menu"]["options"]["0"] = "again";
  def["nodes"]["again"] = {{"type", "play"}, {"prompts", {"menu"}}, {"next", "menu"}};
  FakeEnv fake;
  Runner r(must_compile(def), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  for (int i = 0; i < 3000; ++i) {  // 6000 node entries, each round started by a digit
    ASSERT_EQ(r.on_digit('0').kind, K::kPlay);
    ASSERT_EQ(r.on_played().kind, K::kCollect);
  }
  EXPECT_EQ(r.on_digit('2').queue, "support");
}

TEST(IvrRunner, PriorityAccumulatedInALoopIsBounded) {
  json def = demo_flow();
  def["nodes"]["menu"]["options"]["0"] = "bump";
  def["nodes"]["bump"] = {{"type", "set"}, {"priority", 1000}, {"next", "menu"}};
  FakeEnv fake;
  Runner r(must_compile(def), "100", "4001", "", fake.env());
  r.start();
  r.on_played();
  for (int i = 0; i < 1100; ++i) ASSERT_EQ(r.on_digit('0').kind, K::kCollect);
  EXPECT_EQ(r.on_digit('1').priority, 1'000'000);
}

TEST(IvrRunner, PassThroughLoopInAnUncheckedFlowHangsUp) {
  // Flows are compiled before use; this one is built by hand to prove the
  // runtime guard holds even when validation was bypassed.
  auto flow = std::make_shared<Flow>();
  flow->start = "a";
  Node& a_node = flow->nodes["a"];
  a_node.id = "a";
  a_node.type = NodeType::kSet;
  a_node.next = "b";
  Node& b_node = flow->nodes["b"];
  b_node.id = "b";
  b_node.type = NodeType::kHours;
  b_node.calendar = "main";
  b_node.open = b_node.closed = "a";
  Runner r(flow, "1", "2", "", {});
  Action a = r.start();
  EXPECT_EQ(a.kind, K::kHangup);
  EXPECT_TRUE(r.finished());
}

TEST(IvrRunner, NullFlowHangsUp) {
  Runner r(nullptr, "1", "2", "", {});
  EXPECT_EQ(r.start().kind, K::kHangup);
  EXPECT_TRUE(r.finished());
  EXPECT_EQ(r.language(), "zh-CN");
}

TEST(IvrRunner, FirstEventStartsAndLowercaseLettersAreDigits) {
  json def = demo_flow();
  def["nodes"]["menu"]["options"]["A"] = "support";
  FakeEnv fake;
  Runner r(must_compile(def), "100", "4001", "", fake.env());
  Action a = r.on_digit('3');  // before start(): starts, the digit is not consumed
  EXPECT_EQ(a.kind, K::kPlay);
  EXPECT_EQ(a.prompts, Prompts{"welcome"});
  EXPECT_EQ(r.start().prompts, Prompts{"welcome"});  // start() again: the current action
  r.on_played();
  EXPECT_EQ(r.on_digit('a').queue, "support");
}

TEST(IvrRunner, RunnersMove) {
  FakeEnv fake;
  Runner r(must_compile(demo_flow()), "100", "4001", "", fake.env());
  r.start();
  Runner moved(std::move(r));
  EXPECT_EQ(moved.on_played().kind, K::kCollect);
  Runner other(nullptr, "", "", "", {});
  other = std::move(moved);
  EXPECT_EQ(other.on_digit('1').queue, "sales");
}

}  // namespace
}  // namespace hotline::ivr
