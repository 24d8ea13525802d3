// The simulator drives the real engine; on M/M/N it must agree with Erlang C.
#include "routing/simulator.h"

#include <gtest/gtest.h>

#include <sstream>

#include "routing/erlang.h"
#include "routing/simulate.h"

namespace hotline::routing::sim {
namespace {

std::string data(const char* name) { return std::string(HOTLINE_SOURCE_DIR) + "/tests/routing/data/" + name; }

TEST(Simulator, MMNMatchesErlangC) {
  // 200 calls/h x 180 s = 10 Erlangs on 12 agents, no abandonment, 300 h.
  auto sc = load_scenario(data("mmn.json"));
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  const SimulationResult r = simulate(*sc);
  const QueueMetrics& m = r.report.total;
  ASSERT_GT(m.answered, 50000u);
  EXPECT_EQ(m.abandoned, 0u);
  const double sl = erlang::service_level(12, 10.0, 180, 20);         // 0.640
  const double asa = erlang::average_speed_of_answer(12, 10.0, 180);  // 40.4 s
  // Stated tolerance: 3 percentage points on SL, 20 % on ASA (queue waits are
  // strongly autocorrelated, so 60k calls give only a few thousand
  // independent samples), 2 points on occupancy.
  EXPECT_NEAR(m.service_level_answered, sl, 0.03);
  EXPECT_NEAR(m.asa_seconds, asa, 0.2 * asa);
  double handling = 0, staffed = 0;
  for (const auto& a : r.report.agents) {
    handling += a.handling_seconds;
    staffed += a.handling_seconds + a.available_seconds + a.ringing_seconds;
  }
  EXPECT_NEAR(handling / staffed, erlang::occupancy(12, 10.0), 0.02);
  EXPECT_NEAR(m.aht_seconds, 180.0, 5.0);
}

TEST(Simulator, DeterministicForASeed) {
  auto sc = load_scenario(data("contact_center.json"));
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  const auto a = simulate(*sc);
  const auto b = simulate(*sc);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.report.total.answered, b.report.total.answered);
  EXPECT_DOUBLE_EQ(a.report.total.asa_seconds, b.report.total.asa_seconds);
  sc->seed += 1;
  const auto c = simulate(*sc);
  EXPECT_NE(a.events, c.events);
}

TEST(Simulator, StrategiesSeeTheSameArrivalStream) {
  auto sc = load_scenario(data("contact_center.json"));
  ASSERT_TRUE(sc.ok());
  std::vector<SimulationResult> rs;
  for (int k = 0; k <= static_cast<int>(StrategyKind::kFatigueAware); ++k) {
    const StrategyKind s = static_cast<StrategyKind>(k);
    rs.push_back(simulate(*sc, &s));
  }
  for (const auto& r : rs) {
    EXPECT_EQ(r.arrivals, rs[0].arrivals);
    EXPECT_EQ(r.report.total.offered, rs[0].report.total.offered);
    EXPECT_GT(r.report.total.answered, 0u);
  }
  // Abandonment is modelled: some callers give up, and the including-abandons
  // service level is below the answered-only one.
  EXPECT_GT(rs[0].report.total.abandoned, 0u);
  EXPECT_LT(rs[0].report.total.service_level_abandoned, rs[0].report.total.service_level_answered);
}

TEST(Simulator, LognormalAndConstantHandleTimes) {
  const char* text = R"({
    "seed": 5, "duration_hours": 50,
    "queues": [{"name": "q", "arrivals_per_hour": 30,
                "handle": {"distribution": "lognormal", "mean_seconds": 120, "sd_seconds": 60}}],
    "agents": [{"count": 3}]})";
  auto sc = parse_scenario(text);
  ASSERT_TRUE(sc.ok()) << sc.error().message;
  auto r = simulate(*sc);
  EXPECT_NEAR(r.report.total.aht_seconds, 120.0, 8.0);
  sc->queues[0].handle = {Distribution::kConstant, 90, 0};
  r = simulate(*sc);
  EXPECT_NEAR(r.report.total.aht_seconds, 90.0, 1e-6);
}

TEST(Simulator, ParseErrorsNameTheField) {
  EXPECT_EQ(parse_scenario("{").error().code, "invalid_argument");
  EXPECT_EQ(parse_scenario("[]").error().code, "invalid_argument");
  EXPECT_EQ(parse_scenario(R"({"queues": []})").error().field, "queues");
  EXPECT_EQ(parse_scenario(R"({"queues": [{"name": "q"}]})").error().field, "agents");
  EXPECT_EQ(parse_scenario(R"({"queues": [{"name": "q", "strategy": "fastest"}], "agents": [{"count": 1}]})")
                .error()
                .field,
            "queues[0].strategy");
  EXPECT_EQ(parse_scenario(R"({"queues": [{"name": "q"}], "agents": [{"skills": {"x": 11}}]})").error().field,
            "agents[0].skills.x");
  EXPECT_EQ(
      parse_scenario(R"({"queues": [{"name": "q", "overflow": [{"after_seconds": 5, "add_queue": "nope"}]}],
                               "agents": [{"count": 1}]})")
          .error()
          .field,
      "queues[0].overflow[0].add_queue");
  EXPECT_EQ(
      parse_scenario(R"({"queues": [{"name": "q", "arrivals_per_hour": -1}], "agents": [{"count": 1}]})")
          .error()
          .field,
      "queues[0].arrivals_per_hour");
  EXPECT_EQ(parse_scenario(R"({"duration_hours": 1, "warmup_minutes": 90, "queues": [{"name": "q"}],
                               "agents": [{"count": 1}]})")
                .error()
                .field,
            "warmup_minutes");
  EXPECT_EQ(load_scenario("/nonexistent/scenario.json").error().code, "not_found");
}

TEST(SimulateCommand, HelpAndUsageErrors) {
  std::ostringstream out, err;
  EXPECT_EQ(run_simulate_command({"--help"}, out, err), 0);
  EXPECT_NE(out.str().find("usage: hotline simulate"), std::string::npos);
  EXPECT_EQ(run_simulate_command({}, out, err), 2);
  EXPECT_EQ(run_simulate_command({"--bogus", "x.json"}, out, err), 2);
  EXPECT_EQ(run_simulate_command({"--strategy", "nope", "x.json"}, out, err), 2);
  EXPECT_EQ(run_simulate_command({"--compare", "longest-idle,nope", "x.json"}, out, err), 2);
  EXPECT_EQ(run_simulate_command({"/nonexistent.json"}, out, err), 1);
  EXPECT_NE(err.str().find("cannot open"), std::string::npos);
}

TEST(SimulateCommand, RunsExampleScenarioAndComparesStrategies) {
  std::ostringstream out, err;
  ASSERT_EQ(run_simulate_command({data("contact_center.json")}, out, err), 0) << err.str();
  const std::string s = out.str();
  // The example lists strategies to compare.
  EXPECT_NE(s.find("comparison on the same arrival stream"), std::string::npos);
  EXPECT_NE(s.find("round-robin"), std::string::npos);
  EXPECT_NE(s.find("sales"), std::string::npos);
  EXPECT_NE(s.find("TOTAL"), std::string::npos);
}

TEST(SimulateCommand, SingleStrategyWithErlangPrediction) {
  std::ostringstream out, err;
  ASSERT_EQ(run_simulate_command({"--strategy", "round-robin", "--erlang", data("mmn.json")}, out, err), 0)
      << err.str();
  const std::string s = out.str();
  EXPECT_NE(s.find("strategy: round-robin (all queues)"), std::string::npos);
  EXPECT_NE(s.find("erlang C (12 agents, 10.00 Erlangs"), std::string::npos);
  EXPECT_NE(s.find("agents needed for 80% within 20 s: 14"), std::string::npos);
  EXPECT_EQ(s.find("comparison"), std::string::npos);
}

}  // namespace
}  // namespace hotline::routing::sim
