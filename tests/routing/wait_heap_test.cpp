// The engine's per-queue waiting heap (routing/wait_heap.h): order, lazy
// deletion through tokens, the stale-entry bound, and the in-order walk,
// checked against a sorted model under random operations.
#include "routing/wait_heap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace hotline::routing::detail {
namespace {

Time at(int seconds) { return Time{} + std::chrono::seconds(seconds); }

WaitEntry entry(std::uint32_t slot, int priority, int arrival_s, std::uint64_t seq, std::uint32_t token = 0) {
  WaitEntry e;
  e.ix = slot;
  e.priority = priority;
  e.arrival = at(arrival_s);
  e.seq = seq;
  e.token = token;
  return e;
}

// The valid entries' slots in the order visit_in_order yields them.
std::vector<std::uint32_t> walk(const WaitHeap& h, const WaitHeap::Tokens& tokens) {
  std::vector<std::uint32_t> out, frontier;
  h.visit_in_order(tokens, frontier, [&](const WaitEntry& e) {
    out.push_back(e.ix);
    return true;
  });
  return out;
}

TEST(WaitHeap, HighestPriorityFirstThenLongestWaitingThenFifo) {
  WaitHeap::Tokens tokens(6, 0);
  WaitHeap h;
  h.push(entry(0, 0, 10, 1));
  h.push(entry(1, 1, 30, 2));  // VIP arriving later still goes first
  h.push(entry(2, 0, 5, 3));   // waited longest among normal ones
  h.push(entry(3, 0, 10, 4));  // same arrival as slot 0: enqueue order decides
  h.push(entry(4, 1, 20, 5));
  h.push(entry(5, 0, 10, 0));  // same arrival, earlier seq than slot 0
  EXPECT_EQ(walk(h, tokens), (std::vector<std::uint32_t>{4, 1, 2, 5, 0, 3}));
  ASSERT_NE(h.top(), nullptr);
  EXPECT_EQ(h.top()->ix, 4u);
  EXPECT_EQ(h.size(), 6u);
}

TEST(WaitHeap, RequeuedEntryWithItsOriginalArrivalGoesBackToTheHead) {
  WaitHeap::Tokens tokens(3, 0);
  WaitHeap h;
  h.push(entry(0, 0, 1, 1));
  h.push(entry(1, 0, 2, 2));
  h.push(entry(2, 0, 3, 3));
  // Slot 0 is offered (leaves Waiting), then comes back after a no-answer
  // with its original arrival and sequence number.
  ++tokens[0];
  h.forget(tokens);
  EXPECT_EQ(h.top()->ix, 1u);
  h.push(entry(0, 0, 1, 1, tokens[0]));
  EXPECT_EQ(walk(h, tokens), (std::vector<std::uint32_t>{0, 1, 2}));
}

TEST(WaitHeap, ForgottenEntriesAreSkippedAndNeverOnTop) {
  WaitHeap::Tokens tokens(4, 0);
  WaitHeap h;
  for (std::uint32_t i = 0; i < 4; ++i) h.push(entry(i, 0, static_cast<int>(i), i));
  ++tokens[2];  // an interior entry
  h.forget(tokens);
  EXPECT_EQ(walk(h, tokens), (std::vector<std::uint32_t>{0, 1, 3}));
  ++tokens[0];  // the top
  h.forget(tokens);
  ASSERT_NE(h.top(), nullptr);
  EXPECT_EQ(h.top()->ix, 1u);
  EXPECT_EQ(h.size(), 2u);
  ++tokens[1];
  h.forget(tokens);
  ++tokens[3];
  h.forget(tokens);
  EXPECT_EQ(h.top(), nullptr);
  EXPECT_EQ(h.size(), 0u);
  EXPECT_TRUE(walk(h, tokens).empty());
}

TEST(WaitHeap, WalkStopsWhenAskedAndVisitsOnlyWhatItNeeds) {
  WaitHeap::Tokens tokens(100, 0);
  WaitHeap h;
  for (std::uint32_t i = 0; i < 100; ++i) h.push(entry(i, 0, 100 - static_cast<int>(i), i));
  std::vector<std::uint32_t> seen, frontier;
  h.visit_in_order(tokens, frontier, [&](const WaitEntry& e) {
    seen.push_back(e.ix);
    return seen.size() < 3;
  });
  EXPECT_EQ(seen, (std::vector<std::uint32_t>{99, 98, 97}));
  EXPECT_LE(frontier.size(), 8u);  // a best-first walk, not a sort of the heap
}

TEST(WaitHeap, StaleEntriesStayBoundedByTheLiveOnes) {
  WaitHeap::Tokens tokens(1000, 0);
  WaitHeap h;
  for (std::uint32_t i = 0; i < 1000; ++i) h.push(entry(i, 0, static_cast<int>(i), i));
  // Forget from the back (never the top), so only compaction removes them.
  for (std::uint32_t i = 999; i >= 10; --i) {
    ++tokens[i];
    h.forget(tokens);
    ASSERT_LE(h.held(), 2 * h.size() + 16) << "after forgetting slot " << i;
  }
  EXPECT_EQ(h.size(), 10u);
  EXPECT_EQ(walk(h, tokens), (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

// Random pushes (with re-pushes of requeued slots keeping their key) and
// removals, against a sorted model, checking top, size, bound and order.
TEST(WaitHeap, MatchesASortedModelUnderRandomOperations) {
  std::mt19937_64 rng(42);
  constexpr std::uint32_t kSlots = 64;
  WaitHeap::Tokens tokens(kSlots, 0);
  std::vector<WaitEntry> key(kSlots);  // each slot's key while it exists
  std::vector<bool> in(kSlots, false), exists(kSlots, false);
  std::uint64_t seq = 0;
  WaitHeap h;
  for (int step = 0; step < 20000; ++step) {
    const std::uint32_t slot = static_cast<std::uint32_t>(rng() % kSlots);
    if (!in[slot]) {
      if (!exists[slot] || rng() % 3 == 0) {  // a new interaction in the slot
        key[slot] = entry(slot, static_cast<int>(rng() % 3), static_cast<int>(rng() % 50), ++seq);
        exists[slot] = true;
      }
      WaitEntry e = key[slot];  // else a requeue: same key
      e.token = tokens[slot];
      h.push(e);
      in[slot] = true;
    } else {
      ++tokens[slot];
      h.forget(tokens);
      in[slot] = false;
    }
    std::vector<WaitEntry> model;
    for (std::uint32_t s = 0; s < kSlots; ++s)
      if (in[s]) model.push_back(key[s]);
    std::sort(model.begin(), model.end(), wait_before);
    ASSERT_EQ(h.size(), model.size());
    ASSERT_LE(h.held(), 2 * h.size() + 16);
    if (model.empty()) {
      ASSERT_EQ(h.top(), nullptr);
      continue;
    }
    ASSERT_NE(h.top(), nullptr);
    ASSERT_TRUE(WaitHeap::valid(*h.top(), tokens));
    ASSERT_EQ(h.top()->ix, model.front().ix) << "step " << step;
    if (step % 50 == 0) {
      std::vector<std::uint32_t> want;
      for (const auto& e : model) want.push_back(e.ix);
      ASSERT_EQ(walk(h, tokens), want) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace hotline::routing::detail
