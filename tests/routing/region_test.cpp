#include "routing/region.h"

#include <gtest/gtest.h>

#include "engine_fixture.h"

namespace hotline::routing {
namespace {

TEST(RegionTable, LongestPrefixWins) {
  RegionTable t;
  ASSERT_TRUE(t.add("+44", "UK").ok());
  ASSERT_TRUE(t.add("+44 20", "London").ok());
  ASSERT_TRUE(t.add("+1", "NANP").ok());
  EXPECT_EQ(t.lookup("+44 20 7946 0000"), "London");
  EXPECT_EQ(t.lookup("+44 161 496 0000"), "UK");
  EXPECT_EQ(t.lookup("+1 (212) 555-0100"), "NANP");
  EXPECT_EQ(t.lookup("+33 1 23 45 67 89"), "");
  EXPECT_EQ(t.lookup(""), "");
  EXPECT_EQ(t.size(), 3u);
}

TEST(RegionTable, RejectsEmptyPrefixOrRegion) {
  RegionTable t;
  EXPECT_EQ(t.add("+", "X").error().code, "invalid_argument");
  EXPECT_EQ(t.add("44", "").error().code, "invalid_argument");
  ASSERT_TRUE(t.add("44", "UK").ok());
  ASSERT_TRUE(t.add("+44", "GB").ok());  // same digits: replaced
  EXPECT_EQ(t.lookup("4412"), "GB");
}

class RegionRouting : public testing::EngineTest {};

TEST_F(RegionRouting, RegionAttributeSelectsAgent) {
  RegionTable regions;
  ASSERT_TRUE(regions.add("+49", "DE").ok());
  constexpr SkillId kGerman = 49;
  auto q = queue_cfg(1);
  q.attribute_rules.push_back(AttributeRule{"region", "DE", {kGerman, 1}});
  add_queue(q);
  add_agent(1);
  add_agent(2, {{kGerman, 4}});
  ready(1);
  ready(2);
  take();
  InteractionSpec s = spec(1, 1);
  s.attributes.push_back({"region", std::string(regions.lookup("+49 30 1234567"))});
  ASSERT_TRUE(engine.enqueue(s, now()).ok());
  auto o = offers();
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].agent, testing::A(2));  // agent 1 is longer idle but has no German
}

}  // namespace
}  // namespace hotline::routing
