#include "routing/simulator.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <queue>
#include <random>
#include <sstream>

#include "routing/engine.h"

namespace hotline::routing::sim {

using common::Error;
using common::Result;
using json = nlohmann::json;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------- parsing ----

struct Parser {
  Scenario sc;
  std::map<std::string, QueueId> queue_ids;

  static Error bad(const std::string& field, const std::string& msg) { return Error::invalid(field, msg); }

  Result<double> number(const json& obj, const char* key, const std::string& path, double fallback, double lo,
                        double hi) {
    if (!obj.contains(key)) return fallback;
    const json& v = obj.at(key);
    if (!v.is_number()) return bad(path + "." + key, "must be a number");
    const double d = v.get<double>();
    if (!(d >= lo && d <= hi)) {
      std::ostringstream m;
      m << "must be between " << lo << " and " << hi;
      return bad(path + "." + key, m.str());
    }
    return d;
  }

  Result<SkillId> skill(const std::string& name) {
    if (name.empty()) return bad("skill", "skill names must not be empty");
    auto it = sc.skills.find(name);
    if (it != sc.skills.end()) return it->second;
    const SkillId id = static_cast<SkillId>(sc.skills.size() + 1);
    sc.skills[name] = id;
    return id;
  }

  Result<DistributionSpec> distribution(const json& obj, const char* key, const std::string& path,
                                        DistributionSpec fallback) {
    if (!obj.contains(key)) return fallback;
    const json& v = obj.at(key);
    const std::string p = path + "." + key;
    if (!v.is_object()) return bad(p, "must be an object");
    DistributionSpec d;
    const std::string kind = v.contains("distribution") && v.at("distribution").is_string()
                                 ? v.at("distribution").get<std::string>()
                                 : "exponential";
    if (kind == "exponential")
      d.kind = Distribution::kExponential;
    else if (kind == "lognormal")
      d.kind = Distribution::kLognormal;
    else if (kind == "constant")
      d.kind = Distribution::kConstant;
    else if (kind == "never")
      d.kind = Distribution::kNever;
    else
      return bad(p + ".distribution", "must be exponential, lognormal, constant or never");
    if (d.kind == Distribution::kNever) return d;
    auto mean = number(v, "mean_seconds", p, -1, 0.001, 1e7);
    if (!mean) return mean.error();
    if (*mean < 0) return bad(p + ".mean_seconds", "is required");
    d.mean_seconds = *mean;
    auto sd = number(v, "sd_seconds", p, d.mean_seconds, 0, 1e7);
    if (!sd) return sd.error();
    d.sd_seconds = *sd;
    return d;
  }

  Result<Requirement> requirement(const json& v, const std::string& p) {
    Requirement r;
    if (!v.is_object()) return bad(p, "must be an object");
    if (v.contains("mode")) {
      if (!v.at("mode").is_string()) return bad(p + ".mode", "must be \"all\" or \"any\"");
      const std::string m = v.at("mode").get<std::string>();
      if (m == "all")
        r.mode = MatchMode::kAll;
      else if (m == "any")
        r.mode = MatchMode::kAny;
      else
        return bad(p + ".mode", "must be \"all\" or \"any\"");
    }
    if (v.contains("skills")) {
      const json& s = v.at("skills");
      if (!s.is_object()) return bad(p + ".skills", "must map skill names to minimum levels");
      for (auto it = s.begin(); it != s.end(); ++it) {
        if (!it.value().is_number_integer())
          return bad(p + ".skills." + it.key(), "level must be an integer 1..10");
        const int lvl = it.value().get<int>();
        if (lvl < 1 || lvl > 10) return bad(p + ".skills." + it.key(), "level must be an integer 1..10");
        auto id = skill(it.key());
        if (!id) return id.error();
        r.skills.push_back({*id, lvl});
      }
    }
    return r;
  }

  Result<Scenario> parse(std::string_view text) {
    json doc = json::parse(text.begin(), text.end(), nullptr, false);
    if (doc.is_discarded()) return Error::invalid("", "scenario is not valid JSON");
    if (!doc.is_object()) return bad("", "scenario must be a JSON object");
    if (doc.contains("seed")) {
      if (!doc.at("seed").is_number_unsigned()) return bad("seed", "must be a non-negative integer");
      sc.seed = doc.at("seed").get<std::uint64_t>();
    }
    auto hours = number(doc, "duration_hours", "scenario", 8, 0.001, 10000);
    if (!hours) return hours.error();
    sc.duration_seconds = *hours * 3600;
    auto warm = number(doc, "warmup_minutes", "scenario", 0, 0, 1e6);
    if (!warm) return warm.error();
    sc.warmup_seconds = *warm * 60;
    if (sc.warmup_seconds >= sc.duration_seconds)
      return bad("warmup_minutes", "must be shorter than the duration");
    auto delay = number(doc, "answer_delay_seconds", "scenario", 0, 0, 3600);
    if (!delay) return delay.error();
    sc.answer_delay_seconds = *delay;

    if (!doc.contains("queues") || !doc.at("queues").is_array() || doc.at("queues").empty())
      return bad("queues", "at least one queue is required");
    const json& qs = doc.at("queues");
    // Names first, so overflow steps can refer to later queues.
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const std::string p = "queues[" + std::to_string(i) + "]";
      if (!qs[i].is_object()) return bad(p, "must be an object");
      if (!qs[i].contains("name") || !qs[i].at("name").is_string()) return bad(p + ".name", "is required");
      const std::string name = qs[i].at("name").get<std::string>();
      if (queue_ids.count(name)) return bad(p + ".name", "duplicate queue name");
      queue_ids[name] = QueueId{i + 1};
    }
    for (std::size_t i = 0; i < qs.size(); ++i) {
      auto q = queue(qs[i], "queues[" + std::to_string(i) + "]", i);
      if (!q) return q.error();
      sc.queues.push_back(std::move(*q));
    }
    if (!doc.contains("agents") || !doc.at("agents").is_array() || doc.at("agents").empty())
      return bad("agents", "at least one agent group is required");
    const json& ags = doc.at("agents");
    std::size_t total = 0;
    for (std::size_t i = 0; i < ags.size(); ++i) {
      const std::string p = "agents[" + std::to_string(i) + "]";
      const json& g = ags[i];
      if (!g.is_object()) return bad(p, "must be an object");
      AgentGroupSpec spec;
      spec.name = g.contains("name") && g.at("name").is_string() ? g.at("name").get<std::string>() : p;
      auto count = number(g, "count", p, 1, 1, 100000);
      if (!count) return count.error();
      spec.count = static_cast<int>(*count);
      total += static_cast<std::size_t>(spec.count);
      if (g.contains("skills")) {
        const json& s = g.at("skills");
        if (!s.is_object()) return bad(p + ".skills", "must map skill names to levels");
        for (auto it = s.begin(); it != s.end(); ++it) {
          if (!it.value().is_number_integer() || it.value().get<int>() < 1 || it.value().get<int>() > 10)
            return bad(p + ".skills." + it.key(), "level must be an integer 1..10");
          auto id = skill(it.key());
          if (!id) return id.error();
          spec.config.skills.push_back({*id, it.value().get<int>()});
        }
      }
      auto chat = number(g, "chat_capacity", p, 0, 0, 100);
      if (!chat) return chat.error();
      spec.config.capacity[static_cast<int>(Channel::kChat)] = static_cast<int>(*chat);
      auto email = number(g, "email_capacity", p, 0, 0, 100);
      if (!email) return email.error();
      spec.config.capacity[static_cast<int>(Channel::kEmail)] = static_cast<int>(*email);
      auto weight = number(g, "weight", p, 1, 0, 1e6);
      if (!weight) return weight.error();
      spec.config.weight = *weight;
      sc.agents.push_back(std::move(spec));
    }
    if (total > 200000) return bad("agents", "at most 200000 agents");
    if (doc.contains("compare")) {
      const json& c = doc.at("compare");
      if (!c.is_array()) return bad("compare", "must be a list of strategy names");
      for (const auto& n : c) {
        StrategyKind k;
        if (!n.is_string() || !parse_strategy(n.get<std::string>(), k))
          return bad("compare", "unknown strategy");
        sc.compare.push_back(k);
      }
    }
    return std::move(sc);
  }

  Result<QueueSpec> queue(const json& v, const std::string& p, std::size_t index) {
    QueueSpec q;
    q.name = v.at("name").get<std::string>();
    q.config.id = QueueId{index + 1};
    auto rate = number(v, "arrivals_per_hour", p, 0, 0, 1e7);
    if (!rate) return rate.error();
    q.arrivals_per_hour = *rate;
    auto handle = distribution(v, "handle", p, DistributionSpec{});
    if (!handle) return handle.error();
    q.handle = *handle;
    auto patience = distribution(v, "patience", p, DistributionSpec{Distribution::kNever, 0, 0});
    if (!patience) return patience.error();
    q.patience = *patience;
    auto vip = number(v, "vip_fraction", p, 0, 0, 1);
    if (!vip) return vip.error();
    q.vip_fraction = *vip;
    if (v.contains("channel")) {
      const std::string ch = v.at("channel").is_string() ? v.at("channel").get<std::string>() : "";
      if (ch == "voice")
        q.config.channel = Channel::kVoice;
      else if (ch == "chat")
        q.config.channel = Channel::kChat;
      else if (ch == "email")
        q.config.channel = Channel::kEmail;
      else
        return bad(p + ".channel", "must be voice, chat or email");
    }
    if (v.contains("requirement")) {
      auto r = requirement(v.at("requirement"), p + ".requirement");
      if (!r) return r.error();
      q.config.requirement = std::move(*r);
    }
    if (v.contains("strategy")) {
      if (!v.at("strategy").is_string() ||
          !parse_strategy(v.at("strategy").get<std::string>(), q.config.strategy))
        return bad(p + ".strategy", "unknown strategy");
    }
    auto secs = [&](const char* key, double fallback, Millis& out) -> common::Status {
      auto d = number(v, key, p, fallback, 0, 1e7);
      if (!d) return d.error();
      out = Millis(static_cast<std::int64_t>(std::llround(*d * 1000)));
      return common::ok_status();
    };
    if (auto s = secs("service_level_seconds", 20, q.config.service_level_threshold); !s) return s.error();
    if (auto s = secs("short_abandon_seconds", 5, q.config.short_abandon); !s) return s.error();
    if (auto s = secs("wrap_up_seconds", 0, q.config.wrap_up); !s) return s.error();
    if (auto s = secs("ring_timeout_seconds", 15, q.config.ring_timeout); !s) return s.error();
    if (auto s = secs("max_wait_seconds", 0, q.config.max_wait); !s) return s.error();
    auto ring_all = number(v, "ring_all_max", p, 8, 1, 1000);
    if (!ring_all) return ring_all.error();
    q.config.ring_all_max = static_cast<int>(*ring_all);
    if (v.contains("overflow")) {
      const json& steps = v.at("overflow");
      if (!steps.is_array()) return bad(p + ".overflow", "must be a list");
      for (std::size_t i = 0; i < steps.size(); ++i) {
        const std::string sp = p + ".overflow[" + std::to_string(i) + "]";
        const json& s = steps[i];
        if (!s.is_object()) return bad(sp, "must be an object");
        OverflowStep step;
        auto after = number(s, "after_seconds", sp, -1, 0, 1e7);
        if (!after) return after.error();
        if (*after < 0) return bad(sp + ".after_seconds", "is required");
        step.after = Millis(static_cast<std::int64_t>(std::llround(*after * 1000)));
        if (s.contains("relax")) {
          auto r = requirement(s.at("relax"), sp + ".relax");
          if (!r) return r.error();
          step.action = OverflowStep::Action::kRelax;
          step.requirement = std::move(*r);
        } else if (s.contains("add_queue")) {
          const json& n = s.at("add_queue");
          if (!n.is_string() || !queue_ids.count(n.get<std::string>()))
            return bad(sp + ".add_queue", "unknown queue");
          step.action = OverflowStep::Action::kAddQueue;
          step.queue = queue_ids[n.get<std::string>()];
        } else if (s.contains("action") && s.at("action") == "callback") {
          step.action = OverflowStep::Action::kOfferCallback;
        } else if (s.contains("action") && s.at("action") == "voicemail") {
          step.action = OverflowStep::Action::kVoicemail;
        } else {
          return bad(sp, "needs relax, add_queue or action (callback|voicemail)");
        }
        if (!q.config.overflow.empty() && step.after < q.config.overflow.back().after)
          return bad(sp + ".after_seconds", "steps must be in time order");
        q.config.overflow.push_back(std::move(step));
      }
    }
    return q;
  }
};

// ---------------------------------------------------------- simulation ----

// Portable random draws (the standard distributions' algorithms are
// implementation-defined; these are not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  double unit() {  // (0, 1]
    return (static_cast<double>(g_() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  }
  double exponential(double mean) { return -std::log(unit()) * mean; }
  double normal() {
    const double u1 = unit(), u2 = unit();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double draw(const DistributionSpec& d) {
    switch (d.kind) {
      case Distribution::kExponential:
        return exponential(d.mean_seconds);
      case Distribution::kConstant:
        return d.mean_seconds;
      case Distribution::kNever:
        return kInf;
      case Distribution::kLognormal: {
        const double m = d.mean_seconds, s = d.sd_seconds;
        const double sigma2 = std::log(1.0 + (s * s) / (m * m));
        const double mu = std::log(m) - sigma2 / 2;
        return std::exp(mu + std::sqrt(sigma2) * normal());
      }
    }
    return kInf;
  }

 private:
  std::mt19937_64 g_;
};

struct Caller {
  double arrival;
  std::uint32_t queue;
  double handle;
  double patience;
  int priority;
};

std::vector<Caller> generate_callers(const Scenario& sc) {
  std::vector<Caller> all;
  for (std::uint32_t qi = 0; qi < sc.queues.size(); ++qi) {
    const QueueSpec& q = sc.queues[qi];
    if (q.arrivals_per_hour <= 0) continue;
    Rng rng(sc.seed * 0x9E3779B97F4A7C15ull + qi + 1);
    const double mean_gap = 3600.0 / q.arrivals_per_hour;
    for (double t = rng.exponential(mean_gap); t < sc.duration_seconds; t += rng.exponential(mean_gap)) {
      Caller c{t, qi, rng.draw(q.handle), rng.draw(q.patience), 0};
      c.priority = rng.unit() <= q.vip_fraction ? 1 : 0;
      all.push_back(c);
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const Caller& a, const Caller& b) { return a.arrival < b.arrival; });
  return all;
}

enum class SimKind : std::uint8_t { kArrival, kAnswer, kEnd, kAbandon };

struct SimEvent {
  double t;
  std::uint64_t seq;
  SimKind kind;
  std::uint64_t ix;     // caller index + 1 (= interaction id)
  std::uint64_t agent;  // kAnswer
  bool operator>(const SimEvent& o) const { return t != o.t ? t > o.t : seq > o.seq; }
};

struct CallerState {
  bool answered = false;
  bool gone = false;
};

}  // namespace

Result<Scenario> parse_scenario(std::string_view json_text) { return Parser{}.parse(json_text); }

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::not_found("cannot open scenario file " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_scenario(ss.str());
}

SimulationResult simulate(const Scenario& sc, const StrategyKind* strategy) {
  SimulationResult res;
  const Time base = common::FakeClock().now();
  auto at = [&](double s) {
    return base + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
  };
  auto secs = [&](Time t) { return std::chrono::duration<double>(t - base).count(); };

  EngineOptions eo;
  eo.seed = sc.seed;
  Engine engine(eo);
  std::vector<QueueConfig> configs;
  for (const auto& q : sc.queues) {
    QueueConfig c = q.config;
    if (strategy) c.strategy = *strategy;
    configs.push_back(c);
  }
  res.strategy = strategy ? *strategy : (configs.empty() ? StrategyKind::kLongestIdle : configs[0].strategy);
  res.strategy_overridden = strategy != nullptr;
  for (const auto& c : configs) (void)engine.upsert_queue(c, at(0));
  std::uint64_t next_agent = 1;
  for (const auto& g : sc.agents) {
    for (int i = 0; i < g.count; ++i) {
      AgentConfig a = g.config;
      a.id = AgentId{next_agent++};
      (void)engine.upsert_agent(a, at(0));
      (void)engine.login(a.id, at(0));
      (void)engine.set_ready(a.id, at(0));
    }
  }

  const std::vector<Caller> callers = generate_callers(sc);
  std::vector<CallerState> state(callers.size());
  std::priority_queue<SimEvent, std::vector<SimEvent>, std::greater<>> heap;
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < callers.size(); ++i)
    heap.push(SimEvent{callers[i].arrival, ++seq, SimKind::kArrival, i + 1, 0});

  std::vector<Event> log;
  std::vector<Event> batch;
  auto react = [&](double now) {
    batch.clear();
    engine.drain(batch);
    for (const Event& e : batch) {
      const std::uint64_t ix = raw(e.interaction);
      switch (e.type) {
        case EventType::kOffered:
          ++res.offers;
          heap.push(SimEvent{now + sc.answer_delay_seconds, ++seq, SimKind::kAnswer, ix, raw(e.agent)});
          break;
        case EventType::kRemoved:
        case EventType::kRejected:
          if (ix >= 1 && ix <= state.size()) state[ix - 1].gone = true;
          break;
        default:
          break;
      }
    }
    log.insert(log.end(), batch.begin(), batch.end());
  };

  while (true) {
    const double next_sim = heap.empty() ? kInf : heap.top().t;
    const auto deadline = engine.next_deadline();
    const double next_engine = deadline ? secs(*deadline) : kInf;
    const double t = std::min(next_sim, next_engine);
    if (!(t <= sc.duration_seconds)) break;
    if (next_engine <= next_sim) {
      engine.tick(*deadline);  // exact time: a round trip through double could land just before it
      react(t);
      continue;
    }
    const SimEvent ev = heap.top();
    heap.pop();
    const Caller& c = callers[ev.ix - 1];
    CallerState& st = state[ev.ix - 1];
    switch (ev.kind) {
      case SimKind::kArrival: {
        ++res.arrivals;
        InteractionSpec spec;
        spec.id = InteractionId{ev.ix};
        spec.queue = configs[c.queue].id;
        spec.channel = configs[c.queue].channel;
        spec.priority = c.priority;
        (void)engine.enqueue(spec, at(t));
        if (std::isfinite(c.patience))
          heap.push(SimEvent{t + c.patience, ++seq, SimKind::kAbandon, ev.ix, 0});
        break;
      }
      case SimKind::kAnswer:
        if (!st.answered && !st.gone &&
            engine.answered(InteractionId{ev.ix}, AgentId{ev.agent}, at(t)).ok()) {
          st.answered = true;
          heap.push(SimEvent{t + c.handle, ++seq, SimKind::kEnd, ev.ix, 0});
        }
        break;
      case SimKind::kEnd:
        (void)engine.ended(InteractionId{ev.ix}, at(t));
        break;
      case SimKind::kAbandon:
        if (!st.answered && !st.gone && engine.abandoned(InteractionId{ev.ix}, at(t)).ok()) st.gone = true;
        break;
    }
    react(t);
  }
  res.events = log.size();
  res.left_in_system = engine.live_interaction_count();
  res.report = compute_metrics(log, at(sc.warmup_seconds), at(sc.duration_seconds),
                               MetricsOptions::from_queues(configs));
  return res;
}

}  // namespace hotline::routing::sim
