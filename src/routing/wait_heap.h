// routing/wait_heap.h — a queue's waiting interactions as a flat binary heap
// with lazy deletion. Internal to the engine (engine.cpp); in a header of
// its own so that it can be unit-tested (tests/routing/wait_heap_test.cpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "routing/types.h"

namespace hotline::routing::detail {

// One entry of a queue's waiting heap. Valid while `token` equals its
// interaction's current wait token (Impl::wait_tokens): leaving Waiting bumps
// the token, which makes the interaction's entries in every queue stale at
// once without touching the heaps (lazy deletion, as in the agent lists).
struct WaitEntry {
  int priority = 0;
  std::uint32_t ix = 0;  // interaction slot
  Time arrival{};
  std::uint64_t seq = 0;
  std::uint32_t token = 0;
  // Not part of the order; copies of interaction state so that an agent can
  // test the common case without touching the interaction record.
  std::uint16_t tier = 0;  // requirement tier of this queue's target
  bool simple = false;     // no extra skills, declines or preferred agent
  Channel ch = Channel::kVoice;
};

// Waiting order: higher priority, then earlier (original) arrival, then
// enqueue order. Keys are unique among a queue's valid entries (seq is).
inline bool wait_before(const WaitEntry& a, const WaitEntry& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.arrival != b.arrival) return a.arrival < b.arrival;
  return a.seq < b.seq;
}

// A queue's waiting interactions: a flat binary heap (best entry at the
// front) with lazy deletion. Insert is O(log n) in one contiguous array,
// removing an interaction is O(1) plus popping stale entries off the top, and
// the heap is compacted when stale entries outnumber live ones, so it never
// holds more than 2 x live + 16 entries.
//
// Contract: `tokens` (one per interaction slot, owned by the caller) covers
// every slot pushed; an entry is valid while tokens[entry.ix] ==
// entry.token. To remove an interaction the caller bumps its token and calls
// forget() once on each heap holding one of its valid entries.
class WaitHeap {
 public:
  using Tokens = std::vector<std::uint32_t>;

  // Returns whether `e` is now the top (the best valid entry). Sifts up as
  // std::push_heap does; most arrivals come last in order and stay put.
  bool push(const WaitEntry& e) {
    std::size_t i = entries_.size();
    entries_.push_back(e);
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!later(entries_[parent], e)) break;
      entries_[i] = entries_[parent];
      i = parent;
    }
    entries_[i] = e;
    ++live_;
    return i == 0;
  }
  // One of the heap's valid entries has just become stale.
  void forget(const Tokens& tokens) {
    --live_;
    settle(tokens);
  }
  // The best valid entry, or nullptr (the top is never stale between calls).
  const WaitEntry* top() const { return entries_.empty() ? nullptr : &entries_.front(); }
  std::size_t size() const { return live_; }
  std::size_t held() const { return entries_.size(); }
  // Where the entries are (moves when a push grows the heap): for prefetching.
  const WaitEntry* data() const { return entries_.data(); }
  std::size_t bytes() const { return entries_.capacity() * sizeof(WaitEntry); }
  static bool valid(const WaitEntry& e, const Tokens& tokens) { return tokens[e.ix] == e.token; }

  // Calls f(entry) for the valid entries in waiting order until f returns
  // false: a best-first walk of the heap (a frontier of heap positions kept
  // as a heap itself), so stopping after k entries costs O(k log k).
  template <typename F>
  void visit_in_order(const Tokens& tokens, std::vector<std::uint32_t>& frontier, F&& f) const {
    frontier.clear();
    if (entries_.empty()) return;
    const auto later_pos = [&](std::uint32_t a, std::uint32_t b) { return later(entries_[a], entries_[b]); };
    frontier.push_back(0);
    while (!frontier.empty()) {
      std::pop_heap(frontier.begin(), frontier.end(), later_pos);
      const std::uint32_t i = frontier.back();
      frontier.pop_back();
      if (valid(entries_[i], tokens) && !f(entries_[i])) return;
      for (std::uint32_t c = 2 * i + 1; c <= 2 * i + 2 && c < entries_.size(); ++c) {
        frontier.push_back(c);
        std::push_heap(frontier.begin(), frontier.end(), later_pos);
      }
    }
  }
  // Calls f(entry) for every valid entry, in no particular order.
  template <typename F>
  void for_each(const Tokens& tokens, F&& f) const {
    for (const WaitEntry& e : entries_)
      if (valid(e, tokens)) f(e);
  }

 private:
  // Heap "less": a comes after b in waiting order.
  static bool later(const WaitEntry& a, const WaitEntry& b) { return wait_before(b, a); }
  void settle(const Tokens& tokens) {
    if (entries_.size() > 2 * static_cast<std::size_t>(live_) + 16) {
      std::erase_if(entries_, [&](const WaitEntry& e) { return !valid(e, tokens); });
      std::make_heap(entries_.begin(), entries_.end(), later);
    }
    while (!entries_.empty() && !valid(entries_.front(), tokens)) {
      std::pop_heap(entries_.begin(), entries_.end(), later);
      entries_.pop_back();
    }
  }
  std::vector<WaitEntry> entries_;
  std::uint32_t live_ = 0;
};

}  // namespace hotline::routing::detail
