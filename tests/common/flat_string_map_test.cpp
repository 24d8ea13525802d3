// FlatStringMap against std::unordered_map over random inserts, finds and
// both kinds of erase (small key spaces, so probe runs wrap around the end
// of the slot array and backward shifts cross it).
#include "common/flat_string_map.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>

namespace {

using hotline::common::FlatStringMap;

void expect_same(const FlatStringMap<int>& flat, const std::unordered_map<std::string, int>& model) {
  ASSERT_EQ(flat.size(), model.size());
  for (const auto& [k, v] : model) {
    const int* found = flat.find(k);
    ASSERT_NE(found, nullptr) << k;
    EXPECT_EQ(*found, v) << k;
  }
  for (const auto& e : flat.entries()) EXPECT_EQ(model.count(e.key), 1u) << e.key;
}

TEST(FlatStringMap, BehavesLikeUnorderedMapUnderRandomOperations) {
  for (int keys : {5, 40, 1000}) {
    std::mt19937 rng(static_cast<unsigned>(keys));
    FlatStringMap<int> flat;
    std::unordered_map<std::string, int> model;
    for (int step = 0; step < 20000; ++step) {
      std::string key = "k" + std::to_string(rng() % static_cast<unsigned>(keys));
      switch (rng() % 4) {
        case 0:
        case 1:
          flat[key] = step;
          model[key] = step;
          break;
        case 2:
          EXPECT_EQ(flat.erase(key), model.erase(key) == 1) << key;
          break;
        default:
          if (!flat.empty()) {
            std::size_t i = rng() % flat.size();
            model.erase(flat.entries()[i].key);
            flat.erase_at(i);
          }
          break;
      }
      if (step % 997 == 0) expect_same(flat, model);
      EXPECT_EQ(flat.find(key) != nullptr, model.count(key) == 1) << key;
    }
    expect_same(flat, model);
  }
}

TEST(FlatStringMap, FindsByViewAndInsertsDefault) {
  FlatStringMap<std::string> m;
  EXPECT_EQ(m.find("absent"), nullptr);
  m["201@acme.example.com"] += "x";
  std::string_view view("201@acme.example.com");
  ASSERT_NE(m.find(view), nullptr);
  EXPECT_EQ(*m.find(view), "x");
  m.reserve(1000);  // rehashing keeps what is there
  EXPECT_EQ(*m.find(view), "x");
  EXPECT_TRUE(m.erase(view));
  EXPECT_FALSE(m.erase(view));
  EXPECT_TRUE(m.empty());
}

}  // namespace
