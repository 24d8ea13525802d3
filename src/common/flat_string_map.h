// common/flat_string_map.h — a hash map from strings to values for lookups
// over large key sets on hot paths (SIP bindings and credentials).
//
// Why not std::unordered_map: it reaches an entry through the bucket array,
// the node before it and the node itself, each a cache miss once the table
// outgrows the caches, and its lookups need a key string. Here a lookup
// touches one 8-byte slot (open addressing, linear probing: a 32-bit hash
// tag and the entry's index) and then the entry; keys are looked up as
// string_views.
//
// Contract: entries are dense in a vector in no particular order; erasing
// moves the last entry into the hole. References and pointers to values stay
// valid until the next insertion or erasure. Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hotline::common {

template <class V>
class FlatStringMap {
 public:
  struct Entry {
    std::string key;
    V value;
  };

  const V* find(std::string_view key) const {
    std::size_t s = slot_of(key);
    return s == kNone ? nullptr : &entries_[slots_[s].index].value;
  }
  V* find(std::string_view key) { return const_cast<V*>(std::as_const(*this).find(key)); }

  // The value for `key`, inserted as V{} when absent.
  V& operator[](std::string_view key) {
    if (V* v = find(key)) return *v;
    if ((entries_.size() + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
    std::uint32_t tag = tag_of(key);
    std::size_t s = tag & mask_;
    while (slots_[s].index != kEmpty) s = (s + 1) & mask_;
    slots_[s] = Slot{tag, static_cast<std::uint32_t>(entries_.size())};
    entries_.push_back(Entry{std::string(key), V{}});
    return entries_.back().value;
  }

  bool erase(std::string_view key) {
    std::size_t s = slot_of(key);
    if (s == kNone) return false;
    erase_entry(s);
    return true;
  }
  // Erases entries()[i]; the last entry moves to i.
  void erase_at(std::size_t i) { erase_entry(slot_of(entries_[i].key)); }

  std::vector<Entry>& entries() { return entries_; }
  const std::vector<Entry>& entries() const { return entries_; }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void reserve(std::size_t n) {
    entries_.reserve(n);
    std::size_t want = 16;
    while (want < 2 * n) want *= 2;
    if (want > slots_.size()) rehash(want);
  }

 private:
  struct Slot {
    std::uint32_t tag = 0;  // low 32 bits of the key's hash; its home is tag & mask_
    std::uint32_t index = kEmpty;
  };
  static constexpr std::uint32_t kEmpty = 0xffffffffu;
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

  static std::uint32_t tag_of(std::string_view key) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(key));
  }

  // The slot holding `key`, or kNone.
  std::size_t slot_of(std::string_view key) const {
    if (slots_.empty()) return kNone;
    std::uint32_t tag = tag_of(key);
    for (std::size_t s = tag & mask_;; s = (s + 1) & mask_) {
      const Slot& slot = slots_[s];
      if (slot.index == kEmpty) return kNone;
      if (slot.tag == tag && entries_[slot.index].key == key) return s;
    }
  }

  void rehash(std::size_t n) {
    slots_.assign(n, Slot{});
    mask_ = n - 1;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      std::uint32_t tag = tag_of(entries_[i].key);
      std::size_t s = tag & mask_;
      while (slots_[s].index != kEmpty) s = (s + 1) & mask_;
      slots_[s] = Slot{tag, static_cast<std::uint32_t>(i)};
    }
  }

  void erase_entry(std::size_t s) {
    std::uint32_t index = slots_[s].index;
    remove_slot(s);
    std::uint32_t last = static_cast<std::uint32_t>(entries_.size() - 1);
    if (index != last) {
      // The last entry fills the hole; its slot must point there.
      std::uint32_t tag = tag_of(entries_[last].key);
      std::size_t t = tag & mask_;
      while (slots_[t].index != last) t = (t + 1) & mask_;
      slots_[t].index = index;
      entries_[index] = std::move(entries_[last]);
    }
    entries_.pop_back();
  }

  // Backward-shift deletion: later slots of the same probe run move up, so
  // lookups never need tombstones.
  void remove_slot(std::size_t hole) {
    for (std::size_t j = (hole + 1) & mask_; slots_[j].index != kEmpty; j = (j + 1) & mask_) {
      std::size_t home = slots_[j].tag & mask_;
      // The entry at j stays when its home lies cyclically in (hole, j].
      bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (stays) continue;
      slots_[hole] = slots_[j];
      hole = j;
    }
    slots_[hole] = Slot{};
  }

  std::vector<Slot> slots_;
  std::vector<Entry> entries_;
  std::size_t mask_ = 0;
};

}  // namespace hotline::common
