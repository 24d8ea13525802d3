// ivr/runner.cpp — the Runner: one caller's walk through a compiled Flow.
//
// An explicit state machine; every public event goes through State::step().
//
//   state        event                 -> what happens
//   kIdle        any                   -> enter(start)
//   kPlaying     played                -> enter(next)
//   kPlaying     digit, timeout        -> ignored: kPlay with no prompts (keep playing)
//   kPlaying     start                 -> the current action again
//   kMenu        digit with an option  -> enter(option)
//   kMenu        other digit           -> fail(invalid)
//   kMenu        timeout               -> fail(timeout)
//   kCollecting  0-9                   -> append; at max_digits -> done
//                                         otherwise kCollect with no prompts (keep collecting)
//   kCollecting  terminator            -> done if >= min_digits digits, else fail(invalid)
//   kCollecting  other digit           -> fail(invalid)
//   kCollecting  timeout               -> done if >= min_digits, else fail(timeout if none, invalid)
//   kMenu/kCollecting played, start    -> kCollect with no prompts (keep waiting)
//   kDone        any                   -> the terminal action again
//
// enter(id) runs the pass-through nodes (hours, lookup, set) at once and
// stops at the first node that needs the call layer: play -> kPlaying,
// menu -> kMenu, collect -> kCollecting, a terminal node -> kDone.
// fail() counts one failure of the waiting node: while failures <= retries
// the node's prompts are offered again after its invalid/timeout prompts
// (one kCollect, so digits barge in on both); after that enter(on_failure).
// done stores the digits in variables()[variable] and enters next.
//
// Guard: more than kMaxSteps node entries without an accepted digit (a
// silent caller bouncing between menus, or a flow compiled elsewhere) end
// the call with kHangup.
#include <algorithm>

#include "ivr/flow.h"

namespace hotline::ivr {

namespace {

constexpr int kMaxSteps = 1000;
constexpr std::size_t kMaxPath = 1000;
// A caller looping through a `set` node adds its priority each time round;
// keep the sum far from int overflow.
constexpr int kMaxPriority = 1'000'000;

enum class St : std::uint8_t { kIdle, kPlaying, kMenu, kCollecting, kDone };
enum class Ev : std::uint8_t { kStart, kPlayed, kDigit, kTimeout };

char normalise(char d) { return (d >= 'a' && d <= 'd') ? static_cast<char>(d - 'a' + 'A') : d; }

void merge_skills(std::vector<SkillNeed>& into, const std::vector<SkillNeed>& more) {
  for (const auto& need : more) {
    auto it =
        std::find_if(into.begin(), into.end(), [&](const SkillNeed& s) { return s.skill == need.skill; });
    if (it == into.end())
      into.push_back(need);
    else
      it->level = need.level;
  }
}

}  // namespace

struct Runner::State {
  std::shared_ptr<const Flow> flow;
  std::string caller;
  std::string dialled;
  std::string language;
  Environment env;

  St st = St::kIdle;
  const Node* node = nullptr;
  std::string current;
  std::vector<std::string> path;
  CallerInfo info;
  bool looked_up = false;
  int priority = 0;
  std::vector<SkillNeed> skills;
  std::map<std::string, std::string> attributes;
  std::map<std::string, std::string> variables;
  std::string digits;
  int failures = 0;
  int steps = 0;  // node entries since the last accepted digit
  Action action;  // the last action returned

  Action step(Ev ev, char digit);

 private:
  Action on_playing(Ev ev);
  Action on_menu(Ev ev, char digit);
  Action on_collecting(Ev ev, char digit);
  Action enter(std::string id);
  std::string pass_through();
  std::string lookup();
  Action wait_action(std::vector<std::string> prompts) const;
  Action fail(bool timeout);
  Action collected();
  Action terminal_action() const;
  Action emit(Action a, St next);
};

Action Runner::State::step(Ev ev, char digit) {
  switch (st) {
    case St::kIdle:
      return enter(flow ? flow->start : std::string());
    case St::kPlaying:
      return on_playing(ev);
    case St::kMenu:
      return on_menu(ev, digit);
    case St::kCollecting:
      return on_collecting(ev, digit);
    case St::kDone:
      break;
  }
  return action;
}

Action Runner::State::on_playing(Ev ev) {
  if (ev == Ev::kPlayed) return enter(node->next);
  if (ev == Ev::kStart) return action;
  Action keep = action;
  keep.prompts.clear();
  return keep;
}

Action Runner::State::on_menu(Ev ev, char digit) {
  if (ev == Ev::kTimeout) return fail(true);
  if (ev != Ev::kDigit) return wait_action({});
  steps = 0;
  auto it = node->options.find(digit);
  if (it == node->options.end()) return fail(false);
  return enter(it->second);
}

Action Runner::State::on_collecting(Ev ev, char digit) {
  const auto have = static_cast<int>(digits.size());
  if (ev == Ev::kTimeout) {
    if (have >= node->min_digits) return collected();
    return fail(have == 0);
  }
  if (ev != Ev::kDigit) return wait_action({});
  steps = 0;
  if (node->terminator != 0 && digit == node->terminator)
    return have >= node->min_digits ? collected() : fail(false);
  if (digit < '0' || digit > '9') return fail(false);
  digits.push_back(digit);
  if (static_cast<int>(digits.size()) >= node->max_digits) return collected();
  return wait_action({});
}

Action Runner::State::enter(std::string id) {
  while (flow && ++steps <= kMaxSteps) {
    node = &flow->nodes.at(id);
    current = id;
    if (path.size() < kMaxPath) path.push_back(id);
    switch (node->type) {
      case NodeType::kHours:
      case NodeType::kLookup:
      case NodeType::kSet:
        id = pass_through();
        continue;
      case NodeType::kPlay: {
        Action a;
        a.kind = Action::Kind::kPlay;
        a.prompts = node->prompts;
        a.language = language;
        return emit(a, St::kPlaying);
      }
      case NodeType::kMenu:
      case NodeType::kCollect:
        failures = 0;
        digits.clear();
        return emit(wait_action(node->prompts), node->type == NodeType::kMenu ? St::kMenu : St::kCollecting);
      default:
        return emit(terminal_action(), St::kDone);
    }
  }
  Action hangup;  // no flow, or the step guard tripped
  hangup.kind = Action::Kind::kHangup;
  hangup.language = language;
  return emit(hangup, St::kDone);
}

// Runs the current hours/lookup/set node; returns the node to go to.
std::string Runner::State::pass_through() {
  const Node& n = *node;
  if (n.type == NodeType::kHours) return (!env.is_open || env.is_open(n.calendar)) ? n.open : n.closed;
  if (n.type == NodeType::kLookup) return lookup();
  if (!n.language.empty()) language = n.language;
  priority = std::clamp(priority + n.priority, -kMaxPriority, kMaxPriority);
  merge_skills(skills, n.skills);
  for (const auto& [k, v] : n.attributes) attributes[k] = v;
  return n.next;
}

std::string Runner::State::lookup() {
  info = env.lookup ? env.lookup(caller) : CallerInfo{};
  looked_up = true;
  if (!info.language.empty()) language = info.language;
  const Node& n = *node;
  if (info.blocked && !n.blocked.empty()) return n.blocked;
  if (info.vip && !n.vip.empty()) return n.vip;
  if ((info.known || info.vip || info.blocked) && !n.known.empty()) return n.known;
  return n.unknown;
}

// A kCollect for the current menu/collect node.
Action Runner::State::wait_action(std::vector<std::string> prompts) const {
  Action a;
  a.kind = Action::Kind::kCollect;
  a.prompts = std::move(prompts);
  a.language = language;
  a.timeout = std::chrono::seconds(node->timeout_s);
  if (node->type == NodeType::kCollect) {
    a.max_digits = node->max_digits;
    a.terminator = node->terminator;
  }
  return a;
}

Action Runner::State::fail(bool timeout) {
  digits.clear();
  if (++failures > node->retries) return enter(node->on_failure);
  std::vector<std::string> prompts = timeout ? node->timeout_prompts : node->invalid_prompts;
  prompts.insert(prompts.end(), node->prompts.begin(), node->prompts.end());
  return emit(wait_action(std::move(prompts)), st);
}

Action Runner::State::collected() {
  variables[node->variable] = digits;
  digits.clear();
  return enter(node->next);
}

Action Runner::State::terminal_action() const {
  const Node& n = *node;
  Action a;
  a.prompts = n.prompts;
  a.language = language;
  switch (n.type) {
    case NodeType::kQueue:
      a.kind = Action::Kind::kQueue;
      a.queue = n.queue;
      a.priority = (looked_up ? info.priority : 0) + priority + n.priority;
      a.skills = skills;
      merge_skills(a.skills, n.skills);
      if (looked_up) a.attributes["vip"] = info.vip ? "true" : "false";
      if (looked_up && !info.region.empty()) a.attributes["region"] = info.region;
      for (const auto& [k, v] : attributes) a.attributes[k] = v;
      break;
    case NodeType::kVoicemail:
      a.kind = Action::Kind::kVoicemail;
      a.mailbox = n.mailbox;
      a.max_message_s = n.max_message_s;
      break;
    case NodeType::kTransfer:
      a.kind = Action::Kind::kTransfer;
      a.number = n.number;
      a.trunk = n.trunk;
      break;
    default:
      a.kind = Action::Kind::kHangup;
      break;
  }
  return a;
}

Action Runner::State::emit(Action a, St next) {
  st = next;
  action = std::move(a);
  return action;
}

// ------------------------------------------------------------ Runner ----

Runner::Runner(std::shared_ptr<const Flow> flow, std::string caller, std::string dialled,
               std::string language, Environment env)
    : s_(std::make_unique<State>()) {
  s_->flow = std::move(flow);
  s_->caller = std::move(caller);
  s_->dialled = std::move(dialled);
  s_->language = !language.empty() ? std::move(language) : (s_->flow ? s_->flow->language : "zh-CN");
  s_->env = std::move(env);
}

Runner::~Runner() = default;
Runner::Runner(Runner&&) noexcept = default;
Runner& Runner::operator=(Runner&&) noexcept = default;

Action Runner::start() { return s_->step(Ev::kStart, 0); }
Action Runner::on_played() { return s_->step(Ev::kPlayed, 0); }
Action Runner::on_digit(char digit) { return s_->step(Ev::kDigit, normalise(digit)); }
Action Runner::on_timeout() { return s_->step(Ev::kTimeout, 0); }

const std::string& Runner::current_node() const { return s_->current; }
const std::vector<std::string>& Runner::path() const { return s_->path; }
const std::string& Runner::language() const { return s_->language; }
const CallerInfo& Runner::caller_info() const { return s_->info; }
const std::map<std::string, std::string>& Runner::variables() const { return s_->variables; }
bool Runner::finished() const { return s_->st == St::kDone; }

}  // namespace hotline::ivr
