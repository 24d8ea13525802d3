// routing/engine.cpp — see engine.h for the contract.
//
// Data layout (all indices are uint32 slots into dense arrays; nothing is
// looked up by string on the decision path; see docs/routing.md, "Indexing
// and cost"):
//  * agents: AgentRec (six cache lines: counters, availability times,
//    strategy inputs, and inline the first skills, interactions and 32 queue
//    memberships); slots never reused (the slot is the agent's stable rank).
//    agent_cfgs keeps each agent's configuration as given, apart.
//  * buckets: one availability list per (skill, level, channel). Skill 0 is
//    the pseudo-skill "any" so requirement-free queues have a list too. An
//    agent that becomes available on a channel appends one entry to the list
//    of each of its skills (and "any"), so each list is in availability order
//    (time never runs back). Lists are flat vectors with lazy deletion: an
//    agent that stops being available only bumps its per-channel epoch, which
//    makes its entries stale; scans skip stale entries and a list is compacted
//    when stale entries outnumber live ones. Becoming unavailable thus writes
//    no other agent's memory (a linked list would touch both neighbours).
//  * queues: QueueRec with a flat waiting heap (wait_heap.h) ordered by
//    (priority desc, arrival asc, seq asc), lazily deleted through per-slot
//    wait tokens; timing: the few fields the offer/end paths read, dense;
//    heads: each queue's first entry as an 8-byte order summary, an exact
//    128-bit key and copies of the entry, dense, for a freed agent's scan.
//  * ixs: interaction slots, reused through a free list; the generation
//    number lets stale timers be ignored and stale handles be refused.
//  * timers: a min-heap of deadlines with lazy invalidation.
#include "routing/engine.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <deque>
#include <queue>
#include <sstream>
#include <type_traits>

#include "routing/wait_heap.h"

namespace hotline::routing {

using common::Error;
using common::Result;
using common::Status;
using detail::wait_before;
using detail::WaitEntry;
using detail::WaitHeap;

namespace {

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();
constexpr int kLevels = kMaxSkillLevel;
// Lists per (skill, channel): one per level, numbered with room for 16 so
// that their live counts fill one cache line (LevelCounts).
constexpr std::uint32_t kLevelStride = 16;

struct DenseSkill {
  std::uint32_t skill = 0;  // dense index; 0 is the pseudo-skill "any"
  int level = 1;
};

// One entry of an availability list. Valid while `epoch` equals the agent's
// current epoch on the list's channel (see Impl::epochs).
struct AvailEntry {
  Time since{};
  std::uint32_t agent = kNil;
  std::uint32_t epoch = 0;
};

struct Bucket {
  std::vector<AvailEntry> entries;  // availability order, stale entries included
  std::uint32_t head = 0;           // every entry before `head` is stale
};

// Valid entries (= available agents) of the lists of one (skill, channel),
// by level: a search sums them from one cache line instead of reading ten
// list records. The last slot (no level uses it) holds their sum, so a
// search for a skill nobody with it is available for ends at one load, as
// most arrivals' searches do under load.
constexpr std::uint32_t kLevelTotal = kLevelStride - 1;
static_assert(kLevelTotal >= static_cast<std::uint32_t>(kLevels));
struct alignas(64) LevelCounts {
  std::uint32_t live[kLevelStride] = {};
};

// A read position in one bucket while merging several in availability order.
struct Cursor {
  std::uint32_t bucket = kNil;
  std::uint32_t pos = 0;
};

// A vector with room for N elements inside the owning record. The common
// cases (an interaction's one target and one ringing agent, a voice agent's
// one interaction) then need no separate heap block, which saves a cache miss
// per record on the decision path. Trivially copyable elements only.
template <typename T, std::uint32_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  SmallVec() = default;
  SmallVec(const SmallVec& o) { append(o.begin(), o.end()); }
  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) {
      clear();
      append(o.begin(), o.end());
    }
    return *this;
  }
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      ::operator delete(heap_);
      heap_ = nullptr;
      take(o);
    }
    return *this;
  }
  ~SmallVec() { ::operator delete(heap_); }

  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](std::size_t i) { return data()[i]; }
  const T& operator[](std::size_t i) const { return data()[i]; }
  void clear() { size_ = 0; }
  void assign(const T* b, const T* e) {
    clear();
    append(b, e);
  }
  void push_back(const T& v) {
    if (size_ == cap_) grow();
    data()[size_++] = v;
  }
  // Removes one element, keeping the order of the rest.
  void erase(T* it) {
    std::copy(it + 1, end(), it);
    --size_;
  }
  // Heap bytes beyond the inline room (memory accounting).
  std::size_t heap_bytes() const { return heap_ ? cap_ * sizeof(T) : 0; }

 private:
  T* data() { return heap_ ? heap_ : inline_; }
  const T* data() const { return heap_ ? heap_ : inline_; }
  void append(const T* b, const T* e) {
    for (; b != e; ++b) push_back(*b);
  }
  // Moves o's elements here (this holds no heap block) and empties o.
  void take(SmallVec& o) {
    size_ = o.size_;
    cap_ = o.cap_;
    heap_ = o.heap_;
    if (!heap_)
      std::memcpy(static_cast<void*>(inline_), static_cast<const void*>(o.inline_), sizeof(inline_));
    o.heap_ = nullptr;
    o.size_ = 0;
    o.cap_ = N;
  }
  void grow() {
    const std::uint32_t cap = cap_ * 2;
    T* fresh = static_cast<T*>(::operator new(cap * sizeof(T)));
    std::memcpy(static_cast<void*>(fresh), static_cast<const void*>(data()), size_ * sizeof(T));
    ::operator delete(heap_);
    heap_ = fresh;
    cap_ = cap;
  }
  T* heap_ = nullptr;
  std::uint32_t size_ = 0;
  std::uint32_t cap_ = N;
  T inline_[N]{};
};

// A requirement in dense skills. Up to two terms are held inline, so an
// arrival's search reads a queue's requirement without another pointer.
struct DenseReq {
  MatchMode mode = MatchMode::kAll;
  SmallVec<DenseSkill, 2> terms;
};

// A queue an agent serves, whether the agent meets its base requirement and
// whether the agent is counted in the queue's available-agent counts (a base
// member of a queue that keeps them, see QueueRec::counted); 4 bytes, so an
// agent's first 32 memberships fit inline in its record (128 bytes).
struct QueueRef {
  std::uint32_t queue : 30 = 0;
  std::uint32_t base : 1 = 0;
  std::uint32_t counted : 1 = 0;
};
static_assert(sizeof(QueueRef) == 4);
inline QueueRef queue_ref(std::uint32_t queue, bool base, bool counted) {
  QueueRef r;
  r.queue = queue & 0x3fffffffu;
  r.base = base ? 1u : 0u;
  r.counted = counted ? 1u : 0u;
  return r;
}

// An agent's state: everything an availability change, an offer, an answer
// or an end of conversation reads or writes, with the first skills, queue
// memberships and interactions inline (no pointer to chase for an agent with
// up to 4 skills and 32 queues). An agent that frees up and takes waiting
// work — the step an end of conversation leads to — reads and writes lines
// 0-3 only: the counters, the strategies' inputs, its interactions and its
// first 32 memberships, packed so that they fill exactly those four lines.
// The memberships sit at a fixed place, so an end of conversation prefetches
// them together with the rest as soon as it knows the agent, instead of
// after reading a pointer from the record. Lines 4-5 hold what only listing
// an agent in the availability lists and scoring it as a candidate read (its
// skills and availability times), so the records' share of the cache under
// churn is four lines an agent, not five. The counts are 16 bits wide:
// capacities are at most 1000 a channel (upsert_agent), so slots in use,
// ringing, connected and wrap-up counts stay below 3000. The configuration
// as given lives apart (Impl::agent_cfgs): it is read only when it changes
// and for snapshots.
struct alignas(64) AgentRec {
  // Line 0: availability, the slot counts, identity, the strategies' inputs.
  bool live = false;
  std::uint8_t avail_mask = 0;   // channels it can take an offer on now
  std::uint8_t listed_mask = 0;  // channels it is in the lists and counts for (see sync_lists)
  AgentState state = AgentState::kIdle;
  bool voice_blocks = true;   // cfg.voice_blocks_other_channels
  std::uint8_t cap_mask = 0;  // channels with a capacity above zero (cfg.capacity)
  std::int16_t used[kChannelCount] = {0, 0, 0};
  std::int16_t capacity[kChannelCount] = {0, 0, 0};  // cfg.capacity
  std::int16_t ringing = 0;
  std::int16_t connected = 0;
  std::int16_t wrapping = 0;
  StatusValue status;
  int misses = 0;
  std::uint32_t handled_today = 0;
  AgentId id{};         // cfg.id
  double weight = 1.0;  // cfg.weight
  double busy_decayed = 0;
  // Line 1: the rest of the strategies' inputs, the interactions and the
  // memberships' header (their first 32 fill lines 2-3).
  Time busy_at{};
  double fatigue = 0;
  Time fatigue_at{};
  SmallVec<std::uint32_t, 2> ixs;  // ringing, connected and wrap-up interactions
  SmallVec<QueueRef, 32> queues;   // queues it serves
  // Lines 4-5: read when the agent is listed or scored, not when it frees up
  // and takes waiting work.
  SmallVec<DenseSkill, 4> skills;        // sorted by dense skill
  Time avail_since[kChannelCount] = {};  // when it last became available per channel
  std::uint32_t hb_gen = 0;
};
constexpr std::size_t kAgentHotLines = 4;  // lines 0-3: all a freed agent taking a simple head reads
static_assert(sizeof(AgentRec) <= 384, "agent record: six cache lines");
static_assert(offsetof(AgentRec, busy_at) == 64, "line 0: the counters, identity and strategy inputs");
static_assert(offsetof(AgentRec, queues) + sizeof(SmallVec<QueueRef, 32>) == 64 * kAgentHotLines,
              "the inline memberships end line 3");

struct Target {
  std::uint32_t queue = kNil;
  std::uint16_t tier = 0;
  bool in_set = false;  // a valid entry for this target is in the queue's heap
};

struct Decline {
  std::uint32_t agent;
  Time until;
};

// An interaction's state, three cache lines. Lines 0-1 hold what an
// enqueue, an offer, an answer and an end read or write (flags for the
// rarely non-empty vectors, so testing them does not touch line 2); an end
// of conversation and of wrap-up read and write line 0 only. Line 2 holds
// the rest.
struct alignas(64) IxRec {
  // Line 0: all an end of conversation and an end of wrap-up read.
  bool live = false;
  Phase phase = Phase::kWaiting;
  Channel ch = Channel::kVoice;
  bool callback = false;
  bool on_hold = false;
  bool has_extra = false;     // !extra.empty()
  bool has_declined = false;  // !declined.empty()
  std::uint32_t gen = 0;
  std::uint32_t home = kNil;
  std::uint32_t agent = kNil;
  int priority = 0;
  Time arrival{};
  InteractionId id{};
  Time answered_at{};
  int steps_applied = 0;
  std::uint32_t offer_gen = 0;
  std::uint32_t pref_agent = kNil;
  // Line 1: what waiting, offering and answering add.
  std::uint64_t seq = 0;
  SmallVec<Target, 1> targets;  // [0] is the home queue
  SmallVec<std::uint32_t, 1> ringing;
  std::uint64_t customer = 0;
  // Line 2: preferred agents, extra skills, declines. (Hold and talk times
  // are not kept: the metrics derive them from the event log.)
  Time pref_until{};
  std::vector<DenseSkill> extra;
  std::vector<Decline> declined;
};
static_assert(sizeof(IxRec) <= 192, "interaction record: three cache lines");
static_assert(offsetof(IxRec, seq) == 64, "the end-of-conversation fields fill line 0");

// Per queue, the configuration the offer, end and wrap-up paths read, dense
// (64 bytes a queue) so they do not touch the queue's big record.
struct alignas(64) QueueTiming {
  QueueId id{};
  Millis ring_timeout{0};
  Millis wrap_up{0};
  Millis fatigue_long_handle{0};
  Millis max_wait{0};
  double aht_s = 0;  // recent handle time (EWT)
  int max_consecutive_misses = 0;
  std::uint32_t overflow_steps = 0;
  // Rank of the agent this queue offered to last (round-robin): written on
  // every offer, so it lives here rather than in the queue's big record.
  std::uint32_t rr_last = 0;
};
static_assert(sizeof(QueueTiming) == 64);

// A queue. Lines 0-1 hold all an arrival and a decision read (copies of the
// configuration fields they need included), so the configuration behind is
// read only for the rarer paths (no agents, overflow, ring-all, snapshots).
struct alignas(64) QueueRec {
  // Line 0: all an offer from the queue (its heap and head) and an arrival
  // that finds nobody available read.
  WaitHeap waiting;
  Duration weight{0};  // cfg.weight_seconds
  std::uint32_t staffed = 0;
  bool live = false;
  // Keeps per-channel counts of available base members (Impl::avail_base):
  // only a base requirement of several ANDed skills needs them. For any
  // other the lists of its skill already hold exactly the available base
  // members, so their live counts tell the same at no upkeep.
  bool counted = false;
  bool sticky = false;          // cfg.sticky_window and cfg.sticky_wait both set
  bool has_attr_rules = false;  // !attr_rules.empty()
  std::size_t max_length = 0;   // cfg.max_length
  const Strategy* strategy = nullptr;
  // Line 1: the base requirement inline (a copy of tiers[0]: an arrival's
  // search reads it without following the tiers' pointer) and the rest of
  // what a decision reads.
  DenseReq base;
  QueueId id{};                      // cfg.id
  std::uint32_t first_skill = kNil;  // dense skill of the first base term (highest-skill strategy)
  // Lines 2-3.
  std::vector<DenseReq> tiers;  // [0] base, then one per relax step
  std::vector<std::uint32_t> members;
  // Cold.
  QueueConfig cfg;
  std::shared_ptr<const Strategy> custom;
  std::vector<int> step_tier;  // per overflow step: tier it switches to, or -1
  std::vector<std::pair<AttributeRule, DenseSkill>> attr_rules;
};
static_assert(offsetof(QueueRec, base) == 64, "line 0: the offer and no-candidate arrival fields");
static_assert(offsetof(QueueRec, tiers) <= 128, "line 1: the base requirement and decision fields");

// A queue's requirement at tier `t` (0 is the base, read from its inline copy).
inline const DenseReq& tier_req(const QueueRec& q, std::uint16_t t) { return t == 0 ? q.base : q.tiers[t]; }

// Open-addressing map from a non-zero 64-bit id to a value (linear probing,
// backward-shift deletion); get() returns the value type's maximum for a
// missing key. Every API call looks ids up, so this
// avoids a node allocation per interaction and a pointer chase per lookup.
template <typename V>
class FlatMap {
 public:
  static constexpr V kMissing = std::numeric_limits<V>::max();
  V get(std::uint64_t key) const {
    std::size_t unused;
    return get(key, &unused);
  }
  // get() that also gives where a missing key would go, for put_new().
  V get(std::uint64_t key, std::size_t* hint) const {
    *hint = 0;
    if (slots_.empty()) return kMissing;
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return slots_[i].value;
      if (slots_[i].key == 0) {
        *hint = i;
        return kMissing;
      }
    }
  }
  // Adds a key that get(key, &hint) just found missing, with no change to
  // the map in between: no second probe (an enqueue looks its id up anyway).
  void put_new(std::uint64_t key, V value, std::size_t hint) {
    if (slots_.empty() || (size_ + 1) * 4 > slots_.size() * 3) {
      put(key, value);  // grows: the hint is void
      return;
    }
    slots_[hint] = {key, value};
    ++size_;
  }
  void put(std::uint64_t key, V value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    for (std::size_t i = home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        slots_[i].value = value;
        return;
      }
      if (slots_[i].key == 0) {
        slots_[i] = {key, value};
        ++size_;
        return;
      }
    }
  }
  void erase(std::uint64_t key) {
    if (slots_.empty()) return;
    std::size_t i = home(key);
    while (slots_[i].key != key) {
      if (slots_[i].key == 0) return;
      i = (i + 1) & mask_;
    }
    // Backward-shift: move later entries of the probe run into the hole.
    for (std::size_t j = (i + 1) & mask_; slots_[j].key != 0; j = (j + 1) & mask_) {
      const std::size_t start = home(slots_[j].key);
      if (((j - start) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = {0, V{}};
    --size_;
  }
  std::size_t size() const { return size_; }
  std::size_t bytes() const { return slots_.capacity() * sizeof(Slot); }
  // Asks for the line where a lookup or an erase of `key` starts, ahead of it.
  void prefetch(std::uint64_t key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[home(key)]);
  }

 private:
  struct Slot {
    std::uint64_t key;
    V value;
  };
  // Where a key's probe run starts: Fibonacci hashing (the top bits of the
  // key times 2^64 / golden ratio). Ids that callers hand out in sequence —
  // the usual case — land evenly spread instead of at random, so probe runs
  // stay short and their loop exits predictable; other keys get the
  // multiplicative hash's ordinary spread (every key bit reaches the top).
  std::size_t home(std::uint64_t k) const {
    return static_cast<std::size_t>((k * 0x9e3779b97f4a7c15ull) >> shift_);
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{0, V{}});
    mask_ = slots_.size() - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(slots_.size()));
    size_ = 0;
    for (const Slot& e : old)
      if (e.key != 0) put(e.key, e.value);
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  unsigned shift_ = 63;  // 64 - log2(slots_.size())
  std::size_t size_ = 0;
};

using FlatIndex = FlatMap<std::uint32_t>;

// Customer -> the agent who last answered them, for sticky routing. Entries
// sit in a log in answer order (time never runs back), so the ones older than
// the longest sticky window of any queue are dropped from the front: the
// memory holds at most the answers of one window, however many customers
// pass through over time.
class StickyMemory {
 public:
  struct Entry {
    std::uint64_t customer = 0;  // 0: superseded by a later answer
    std::uint32_t agent = kNil;
    Time at{};
  };
  void record(std::uint64_t customer, std::uint32_t agent, Time now) {
    const std::uint64_t old = index_.get(customer);
    if (old != FlatMap<std::uint64_t>::kMissing) log_[static_cast<std::size_t>(old - base_)].customer = 0;
    index_.put(customer, base_ + log_.size());
    log_.push_back(Entry{customer, agent, now});
  }
  // The latest answer for the customer, or nullptr.
  const Entry* find(std::uint64_t customer) const {
    const std::uint64_t seq = index_.get(customer);
    return seq == FlatMap<std::uint64_t>::kMissing ? nullptr : &log_[static_cast<std::size_t>(seq - base_)];
  }
  // Drops every answer recorded before `oldest_kept`.
  void prune(Time oldest_kept) {
    while (!log_.empty() && log_.front().at < oldest_kept) {
      if (log_.front().customer != 0) index_.erase(log_.front().customer);
      log_.pop_front();
      ++base_;
    }
  }
  std::size_t customers() const { return index_.size(); }
  std::size_t log_size() const { return log_.size(); }
  std::size_t bytes() const { return index_.bytes() + log_.size() * sizeof(Entry); }

 private:
  std::deque<Entry> log_;
  std::uint64_t base_ = 0;  // sequence number of log_.front()
  FlatMap<std::uint64_t> index_;
};

// Where a waiting entry stands across queues, as one unsigned 128-bit
// number: the priority (inverted, so higher priority is smaller) above the
// arrival minus the queue's weight (offset so that the unsigned order is the
// time order). Smaller keys go first; equal keys are broken by the enqueue
// number. One compare instead of two branches per queue in the freed agent's
// head scan.
using OrderKey = unsigned __int128;
constexpr OrderKey kEmptyKey = ~OrderKey{0};  // an empty queue's head: after every entry

inline OrderKey order_key(int priority, Time eff) {
  const auto rank = static_cast<std::uint64_t>(std::int64_t{std::numeric_limits<int>::max()} - priority);
  const auto t = static_cast<std::uint64_t>(eff.time_since_epoch().count()) ^ (std::uint64_t{1} << 63);
  return (OrderKey{rank} << 64) | t;
}

// A 64-bit summary of an order key for the freed agent's head scan, 8 bytes
// a queue: the priority in the top byte and the time's upper 56 bits below.
// It never contradicts the exact order (a < b implies approx(a) <=
// approx(b)), so a head whose summary is above the best one's is behind it
// for certain; only summaries at or below the best one's (rare: a better
// head, or one within 256 ns of it) are compared exactly. Priorities outside
// -126..127 all share one summary (below or above the rest), which only
// sends them to the exact compare.
constexpr std::uint64_t kEmptyApprox = ~std::uint64_t{0};

inline std::uint64_t approx_key(int priority, Time eff) {
  if (priority > 127) return 0;
  if (priority < -126) return std::uint64_t{255} << 56;
  const auto rank = static_cast<std::uint64_t>(127 - priority);  // 0..253
  const auto t = static_cast<std::uint64_t>(eff.time_since_epoch().count()) ^ (std::uint64_t{1} << 63);
  return (rank << 56) | (t >> 8);
}

// The first waiting entry of a queue, kept in a dense array (16 bytes a
// queue) so an agent that frees up can compare the heads of all its queues
// without touching them.
struct Head {
  std::uint64_t lo = ~std::uint64_t{0};
  std::uint64_t hi = ~std::uint64_t{0};
  OrderKey key() const { return (OrderKey{hi} << 64) | lo; }
  void set(OrderKey k) {
    lo = static_cast<std::uint64_t>(k);
    hi = static_cast<std::uint64_t>(k >> 64);
  }
};

// The rest of a queue's head entry, read for the queue whose head won only:
// its enqueue number (ties) and copies of what deciding whether the agent
// can take it needs, so the common case reads neither the queue record nor
// its heap before the offer.
struct HeadInfo {
  std::uint64_t seq = 0;
  std::uint32_t ix = kNil;
  std::uint16_t tier = 0;
  bool simple = false;
  Channel ch = Channel::kVoice;
};

// Where a queue's waiting heap keeps its entries and how many it holds: a
// copy of what the queue record knows, in a dense array, so that an offer and
// an arrival can prefetch the heap's lines as soon as they know the queue,
// together with its record, instead of only after reading the record. A hint:
// nothing reads the entries through it.
struct HeapSpot {
  const WaitEntry* data = nullptr;
  std::uint32_t held = 0;
};

enum class TimerKind : std::uint8_t { kRing, kWait, kPref, kRetry, kWrap, kScheduled, kHeartbeat };

struct Timer {
  Time at{};
  std::uint64_t seq = 0;
  TimerKind kind{};
  std::uint32_t idx = 0;
  std::uint32_t gen = 0;
  std::uint32_t aux = 0;
  bool operator>(const Timer& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

// Asks for `lines` cache lines from `p` on, ahead of their use, so that the
// misses of one step's records overlap instead of following one another.
inline void prefetch_lines(const void* p, std::size_t lines) {
  for (std::size_t i = 0; i < lines; ++i) __builtin_prefetch(static_cast<const char*>(p) + 64 * i);
}

inline std::uint8_t bit(Channel ch) { return static_cast<std::uint8_t>(1u << static_cast<int>(ch)); }
inline int ci(Channel ch) { return static_cast<int>(ch); }

// x * exp(-dt / tau): a value decayed over dt seconds. The exp is skipped
// when x is zero (as most agents' fatigue is): the factor is finite and
// positive, so the product is that same zero either way.
inline double decayed(double x, double dt, double tau) { return x == 0 ? x : x * std::exp(-dt / tau); }

// Skills: any contiguous range of DenseSkill (an agent's inline list, an
// interaction's extra requirements).
template <typename Skills>
int level_of(const Skills& skills, std::uint32_t skill) {
  if (skill == 0) return kMaxSkillLevel;
  for (const auto& s : skills)
    if (s.skill == skill) return s.level;
  return 0;
}

template <typename Skills>
bool meets(const Skills& skills, const DenseReq& req) {
  if (req.terms.empty()) return true;
  if (req.mode == MatchMode::kAll) {
    for (const auto& t : req.terms)
      if (level_of(skills, t.skill) < t.level) return false;
    return true;
  }
  for (const auto& t : req.terms)
    if (level_of(skills, t.skill) >= t.level) return true;
  return false;
}

template <typename Skills>
bool meets_all(const Skills& skills, const std::vector<DenseSkill>& terms) {
  for (const auto& t : terms)
    if (level_of(skills, t.skill) < t.level) return false;
  return true;
}

Status check_levels(const std::vector<SkillLevel>& skills, const char* field) {
  for (const auto& s : skills)
    if (s.level < kMinSkillLevel || s.level > kMaxSkillLevel)
      return Error::invalid(field, "skill levels must be between 1 and 10");
  return common::ok_status();
}

}  // namespace

struct Engine::Impl {
  // The reports behind both the id and the handle entry points, by slot.
  Status answer(std::uint32_t xi, std::uint32_t ai, Time now);
  // declined() and no_answer(): the offer to `agent` ends without an answer.
  Status end_ringing(std::uint32_t xi, std::uint32_t ai, Time now, EventType type);
  Status abandon(std::uint32_t xi, Time now);
  Status end(std::uint32_t xi, Time now, bool difficult);
  Status wrap_done(std::uint32_t xi, Time now);

  EngineOptions opt;
  std::mt19937_64 rng;
  Time last{};
  std::uint64_t event_seq = 0;
  std::uint64_t timer_seq = 0;
  std::uint64_t ix_seq = 0;
  std::vector<Event> pending;

  std::unordered_map<SkillId, std::uint32_t> skill_dense;
  std::vector<Bucket> buckets;           // by bucket_id()
  std::vector<LevelCounts> live_counts;  // per (skill, channel)
  // Per (agent, channel): bumped whenever the agent becomes available or
  // stops being available there; list entries with another epoch are stale.
  // Dense and separate from AgentRec so skipping a stale entry costs one
  // load from a small array. (Wrap-around needs 2^32 changes of one agent
  // while a stale entry survives, and stale entries are compacted away long
  // before.)
  std::vector<std::uint32_t> epochs;
  std::vector<AgentRec> agents;
  std::vector<AgentConfig> agent_cfgs;  // per agent slot, as configured (cold)
  FlatIndex agent_index;
  std::vector<QueueRec> queues;
  FlatIndex queue_index;
  std::vector<std::uint64_t> head_approx;  // per queue: approx_key() of its head, kEmptyApprox if none
  std::vector<Head> heads;                 // per queue
  std::vector<HeadInfo> head_infos;        // per queue
  std::vector<HeapSpot> heap_spots;        // per queue
  std::vector<QueueTiming> timing;         // per queue
  // Per (queue, channel), for the queues that keep them (QueueRec::counted):
  // listed agents meeting the queue's base requirement. Zero lets an arrival
  // that needs only the base requirement skip the search: in a backlogged
  // queue no candidate list is scanned just to find that every listed agent
  // lacks a second required skill.
  std::vector<std::uint32_t> avail_base;
  std::vector<IxRec> ixs;
  // Per interaction slot: bumped whenever the interaction leaves Waiting, so
  // its heap entries go stale; never reset, so a reused slot's old entries
  // stay stale too. Dense, so validating a heap entry reads 4 bytes.
  std::vector<std::uint32_t> wait_tokens;
  std::vector<std::uint32_t> free_ixs;
  FlatIndex ix_index;
  StickyMemory sticky;
  Millis sticky_horizon{0};  // longest sticky_window of any live queue; 0: nothing recorded
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers;

  // Scratch space reused by decisions (allocation-free steady state).
  std::vector<Cursor> cursors;
  bool cursors_prove_req = false;  // see collect_cursors()
  std::vector<std::uint32_t> picked;
  std::vector<QueueRef> order;
  std::vector<std::pair<Time, std::uint32_t>> ranked;
  std::vector<std::uint32_t> answer_scratch;
  std::vector<std::uint32_t> victims;
  std::vector<WaitEntry> victim_entries;
  mutable std::vector<std::uint32_t> frontier;  // WaitHeap::visit_in_order
  // Queues whose staffing dropped to zero during the current call; their
  // no-agents policy is applied once the call's other changes are done.
  std::vector<std::uint32_t> unstaffed;

  explicit Impl(EngineOptions o) : opt(o), rng(o.seed) {
    buckets.resize(kLevelStride * kChannelCount);
    live_counts.resize(kChannelCount);
  }

  Time clamp(Time now) {
    if (now < last) return last;
    last = now;
    return now;
  }

  // ------------------------------------------------------------ helpers ----
  std::uint32_t dense(SkillId s) {
    auto [it, inserted] = skill_dense.try_emplace(s, static_cast<std::uint32_t>(skill_dense.size() + 1));
    if (inserted) {
      buckets.resize((skill_dense.size() + 1) * kLevelStride * kChannelCount);
      live_counts.resize((skill_dense.size() + 1) * kChannelCount);
    }
    return it->second;
  }
  std::uint32_t dense_or_nil(SkillId s) const {
    auto it = skill_dense.find(s);
    return it == skill_dense.end() ? kNil : it->second;
  }
  // The ten levels of one (skill, channel) are adjacent: a search sums and
  // opens them in a row.
  static std::uint32_t bucket_id(std::uint32_t skill, int level, Channel ch) {
    return (skill * kChannelCount + ci(ch)) * kLevelStride + static_cast<std::uint32_t>(level - 1);
  }
  std::uint32_t& live(std::uint32_t b) { return live_counts[b / kLevelStride].live[b % kLevelStride]; }
  std::uint32_t live(std::uint32_t b) const { return live_counts[b / kLevelStride].live[b % kLevelStride]; }
  DenseReq to_dense(const Requirement& r) {
    DenseReq d;
    d.mode = r.mode;
    for (const auto& s : r.skills) d.terms.push_back({dense(s.skill), s.level});
    return d;
  }

  std::uint32_t agent_idx(AgentId id) const { return agent_index.get(raw(id)); }
  std::uint32_t queue_idx(QueueId id) const { return queue_index.get(raw(id)); }
  std::uint32_t ix_idx(InteractionId id) const { return ix_index.get(raw(id)); }
  // The slot of a handle that still names a live interaction / agent, else
  // kNil. The generation check is what keeps a handle kept past the end of
  // its interaction from touching the slot's next occupant.
  std::uint32_t ix_slot(InteractionHandle h) const {
    if (h.slot >= ixs.size() || !ixs[h.slot].live || ixs[h.slot].gen != h.gen) return kNil;
    return h.slot;
  }
  std::uint32_t agent_slot(AgentHandle h) const {
    return h.slot < agents.size() && agents[h.slot].live ? h.slot : kNil;
  }

  void push_timer(Time at, TimerKind kind, std::uint32_t idx, std::uint32_t gen, std::uint32_t aux = 0) {
    timers.push(Timer{at, ++timer_seq, kind, idx, gen, aux});
  }

  // The emitters are forced inline: a decision emits about nine events, and
  // as calls each paid more for the call than for the stores.
  [[gnu::always_inline]] Event& emit(EventType type, Time now) {
    Event& e = pending.emplace_back();
    e.seq = ++event_seq;
    e.time = now;
    e.type = type;
    return e;
  }
  [[gnu::always_inline]] Event& emit_ix(EventType type, Time now, const IxRec& ix) {
    Event& e = emit(type, now);
    e.interaction = ix.id;
    e.handle = InteractionHandle{static_cast<std::uint32_t>(&ix - ixs.data()), ix.gen};
    e.queue = timing[ix.home].id;
    e.channel = ix.ch;
    e.arrival = ix.arrival;
    return e;
  }
  [[gnu::always_inline]] Event& emit_agent(EventType type, Time now, const AgentRec& a) {
    Event& e = emit(type, now);
    e.agent = a.id;
    e.agent_handle = AgentHandle{static_cast<std::uint32_t>(&a - agents.data())};
    return e;
  }
  [[gnu::always_inline]] Event& with_agent(Event& e, std::uint32_t ai) const {
    e.agent = agents[ai].id;
    e.agent_handle = AgentHandle{ai};
    return e;
  }

  // --------------------------------------------------------- availability ----
  std::uint32_t& epoch(std::uint32_t ai, Channel ch) { return epochs[ai * kChannelCount + ci(ch)]; }
  std::uint32_t epoch(std::uint32_t ai, Channel ch) const { return epochs[ai * kChannelCount + ci(ch)]; }
  static Channel bucket_channel(std::uint32_t b) {
    return static_cast<Channel>(b / kLevelStride % kChannelCount);
  }
  bool valid(const AvailEntry& e, Channel ch) const { return e.epoch == epoch(e.agent, ch); }

  // Calls f(bucket id) for every list the agent belongs to on `ch`.
  template <typename F>
  void for_each_bucket(const AgentRec& a, Channel ch, F&& f) const {
    f(bucket_id(0, kMaxSkillLevel, ch));
    for (const auto& s : a.skills) f(bucket_id(s.skill, s.level, ch));
  }

  void list_agent(std::uint32_t ai, Channel ch, Time now) {
    AgentRec& a = agents[ai];
    const std::uint32_t ep = ++epoch(ai, ch);
    a.avail_since[ci(ch)] = now;
    for_each_bucket(a, ch, [&](std::uint32_t b) {
      buckets[b].entries.push_back(AvailEntry{now, ai, ep});
      ++live(b);
      ++live_counts[b / kLevelStride].live[kLevelTotal];
    });
    for (const QueueRef r : a.queues)
      if (r.counted) ++avail_base[r.queue * kChannelCount + ci(ch)];
  }
  void unlist_agent(std::uint32_t ai, Channel ch) {
    ++epoch(ai, ch);
    const AgentRec& a = agents[ai];
    for_each_bucket(a, ch, [&](std::uint32_t b) {
      --live(b);
      --live_counts[b / kLevelStride].live[kLevelTotal];
      maybe_compact(b);
    });
    for (const QueueRef r : a.queues)
      if (r.counted) --avail_base[r.queue * kChannelCount + ci(ch)];
  }
  // Adds `delta` to the queue's available-base-member counts for every
  // channel the agent is listed on (membership changes).
  void count_base(std::uint32_t ai, std::uint32_t qi, int delta) {
    for (int c = 0; c < kChannelCount; ++c)
      if (agents[ai].listed_mask & (1u << c))
        avail_base[qi * kChannelCount + static_cast<std::uint32_t>(c)] += static_cast<std::uint32_t>(delta);
  }
  // Keeps a list's stale entries after the head at most about twice its live
  // ones, so scans stay proportional to the available agents (amortized O(1)
  // per change). With drop_prefix this bounds a list to 4 x live + 64 entries.
  void maybe_compact(std::uint32_t b) {
    Bucket& bk = buckets[b];
    const std::size_t held = bk.entries.size() - bk.head;
    if (held <= 2 * static_cast<std::size_t>(live(b)) + 16) return;
    const Channel ch = bucket_channel(b);
    std::size_t out = 0;
    for (std::size_t i = bk.head; i < bk.entries.size(); ++i)
      if (valid(bk.entries[i], ch)) bk.entries[out++] = bk.entries[i];
    bk.entries.resize(out);
    bk.head = 0;
  }
  // The entries before the head are dead; reclaim them once they are half the
  // vector (amortized O(1) per head advance), so a list that always has an
  // available agent does not grow with every availability change.
  static void drop_prefix(Bucket& bk) {
    if (bk.head < 32 || bk.head * 2 < bk.entries.size()) return;
    bk.entries.erase(bk.entries.begin(), bk.entries.begin() + bk.head);
    bk.head = 0;
  }
  // Advances the list's head past stale entries; returns the head position.
  std::uint32_t skip_stale_head(std::uint32_t b) {
    Bucket& bk = buckets[b];
    const Channel ch = bucket_channel(b);
    while (bk.head < bk.entries.size() && !valid(bk.entries[bk.head], ch)) ++bk.head;
    if (bk.head == bk.entries.size()) {
      bk.entries.clear();
      bk.head = 0;
    }
    drop_prefix(bk);
    return bk.head;
  }

  bool can_take_channel(const AgentRec& a, Channel ch) const {
    if (a.status.status != AgentStatus::kReady || a.ringing > 0) return false;
    if (a.used[ci(ch)] >= a.capacity[ci(ch)]) return false;
    if (ch != Channel::kVoice && a.voice_blocks && a.used[ci(Channel::kVoice)] > 0) return false;
    return true;
  }

  // The channels can_take_channel() allows, with the tests they share done
  // once (most refreshes find the agent ringing or busy on voice).
  static std::uint8_t availability(const AgentRec& a) {
    if (!a.live || a.status.status != AgentStatus::kReady || a.ringing > 0) return 0;
    if (a.cap_mask == bit(Channel::kVoice))  // voice only: the common agent
      return a.used[ci(Channel::kVoice)] < a.capacity[ci(Channel::kVoice)] ? a.cap_mask : 0;
    const bool voice_busy = a.used[ci(Channel::kVoice)] > 0;
    std::uint8_t mask = 0;
    for (int c = 0; c < kChannelCount; ++c)
      if (a.used[c] < a.capacity[c] && (c == ci(Channel::kVoice) || !a.voice_blocks || !voice_busy))
        mask |= static_cast<std::uint8_t>(1u << c);
    return mask;
  }
  // Re-derives availability and state and emits a state change event when
  // the derived state changes. The lists and counts follow at once, unless
  // the caller defers that with `list` false: a freed agent that takes
  // waiting work straight away (dispatch_agent) then never enters the lists
  // just to leave them again. A deferring caller must call sync_lists()
  // before anything reads the lists (any select()).
  void refresh(std::uint32_t ai, Time now, bool list = true) {
    AgentRec& a = agents[ai];
    a.avail_mask = availability(a);
    if (list) sync_lists(ai, now);
    const AgentState st = a.ringing > 0     ? AgentState::kRinging
                          : a.connected > 0 ? AgentState::kBusy
                          : a.wrapping > 0  ? AgentState::kWrapUp
                                            : AgentState::kIdle;
    if (st != a.state) {
      a.state = st;
      emit_agent(EventType::kAgentStateChanged, now, a).value = static_cast<std::uint8_t>(st);
    }
  }
  // Brings the lists and counts in line with the agent's availability. An
  // agent listed late (deferred by refresh) is listed with `now`, the time
  // it became available in the same call, and no other agent was listed in
  // between, so every list keeps the order it would have had.
  // The check is inline: nearly every call finds nothing to do.
  [[gnu::always_inline]] void sync_lists(std::uint32_t ai, Time now) {
    if (agents[ai].listed_mask != agents[ai].avail_mask) relist(ai, now);
  }
  void relist(std::uint32_t ai, Time now) {
    AgentRec& a = agents[ai];
    for (int c = 0; c < kChannelCount; ++c) {
      const std::uint8_t b = static_cast<std::uint8_t>(1u << c);
      if ((a.avail_mask & b) && !(a.listed_mask & b))
        list_agent(ai, static_cast<Channel>(c), now);
      else if (!(a.avail_mask & b) && (a.listed_mask & b))
        unlist_agent(ai, static_cast<Channel>(c));
    }
    a.listed_mask = a.avail_mask;
  }
  // Takes the agent out of every list (before its skills change).
  void unlist_all(std::uint32_t ai) {
    AgentRec& a = agents[ai];
    for (int c = 0; c < kChannelCount; ++c)
      if (a.listed_mask & (1u << c)) unlist_agent(ai, static_cast<Channel>(c));
    a.avail_mask = 0;
    a.listed_mask = 0;
  }

  void configure_agent(std::uint32_t ai, const AgentConfig& c) {
    AgentRec& a = agents[ai];
    agent_cfgs[ai] = c;
    a.id = c.id;
    a.voice_blocks = c.voice_blocks_other_channels;
    a.weight = c.weight;
    a.cap_mask = 0;
    for (int i = 0; i < kChannelCount; ++i) {
      a.capacity[i] = static_cast<std::int16_t>(c.capacity[i]);  // at most 1000 (upsert_agent)
      if (c.capacity[i] > 0) a.cap_mask |= static_cast<std::uint8_t>(1u << i);
    }
  }

  // ----------------------------------------------------------- membership ----
  bool relevant(const AgentRec& a, const QueueRec& q, bool* base) const {
    bool any = false;
    *base = false;
    for (std::size_t t = 0; t < q.tiers.size(); ++t) {
      if (meets(a.skills, q.tiers[t])) {
        any = true;
        if (t == 0) *base = true;
      }
    }
    return any;
  }
  bool logged_in(const AgentRec& a) const { return a.status.status != AgentStatus::kLoggedOut; }

  void drop_agent_membership(std::uint32_t ai) {
    AgentRec& a = agents[ai];
    for (const QueueRef r : a.queues) {
      const std::uint32_t qi = r.queue;
      auto& m = queues[qi].members;
      m.erase(std::find(m.begin(), m.end(), ai));
      if (r.counted) count_base(ai, qi, -1);
      if (r.base && logged_in(a)) {
        --queues[qi].staffed;
        note_staffing(qi);
      }
    }
    a.queues.clear();
  }
  void add_membership(std::uint32_t ai, std::uint32_t qi) {
    AgentRec& a = agents[ai];
    QueueRec& q = queues[qi];
    bool base = false;
    if (!relevant(a, q, &base)) return;
    a.queues.push_back(queue_ref(qi, base, base && q.counted));
    q.members.push_back(ai);
    if (base && q.counted) count_base(ai, qi, +1);
    if (base && logged_in(a)) ++q.staffed;
  }
  void rebuild_agent_membership(std::uint32_t ai) {
    drop_agent_membership(ai);
    for (std::uint32_t qi = 0; qi < queues.size(); ++qi)
      if (queues[qi].live) add_membership(ai, qi);
  }
  void rebuild_queue_membership(std::uint32_t qi) {
    QueueRec& q = queues[qi];
    for (std::uint32_t ai : q.members) {
      auto& v = agents[ai].queues;
      auto it = std::find_if(v.begin(), v.end(), [&](const QueueRef& r) { return r.queue == qi; });
      if (it->counted) count_base(ai, qi, -1);
      if (it->base && logged_in(agents[ai])) --q.staffed;
      v.erase(it);
    }
    q.members.clear();
    if (!q.live) return;
    for (std::uint32_t ai = 0; ai < agents.size(); ++ai)
      if (agents[ai].live) add_membership(ai, qi);
  }
  void adjust_staffed(std::uint32_t ai, int delta) {
    for (const QueueRef r : agents[ai].queues)
      if (r.base) {
        const std::uint32_t qi = r.queue;
        queues[qi].staffed = static_cast<std::uint32_t>(static_cast<int>(queues[qi].staffed) + delta);
        note_staffing(qi);
      }
  }
  void note_staffing(std::uint32_t qi) {
    if (queues[qi].staffed == 0) unstaffed.push_back(qi);
  }

  // The no-agents policy covers interactions already waiting when a queue's
  // last agent leaves (logout, skill or requirement change), not only new
  // arrivals: kReject removes them (Disposition::kNoAgents), kRedirect moves
  // them to the redirect queue with their original arrival. Callbacks stay:
  // their caller is not on the line, so nothing is gained by dropping them.
  // Only interactions whose home is the queue are affected; ones that reached
  // it through an overflow step follow their own home queue's policy.
  void enforce_no_agents(Time now) {
    while (!unstaffed.empty()) {
      const std::uint32_t qi = unstaffed.back();
      unstaffed.pop_back();
      const QueueRec& q = queues[qi];
      if (!q.live || q.staffed != 0 || q.cfg.no_agents == NoAgentsPolicy::kQueueAnyway) continue;
      std::uint32_t to = kNil;
      if (q.cfg.no_agents == NoAgentsPolicy::kRedirect) {
        to = queue_idx(q.cfg.no_agents_redirect);
        if (to == kNil || to == qi || !queues[to].live) continue;  // as at enqueue: keep waiting here
      }
      // In waiting order, as the events for them come out in that order.
      victim_entries.clear();
      q.waiting.for_each(wait_tokens, [&](const WaitEntry& k) {
        if (ixs[k.ix].home == qi && !ixs[k.ix].callback) victim_entries.push_back(k);
      });
      std::sort(victim_entries.begin(), victim_entries.end(), wait_before);
      victims.clear();
      for (const WaitEntry& k : victim_entries) victims.push_back(k.ix);
      for (std::uint32_t xi : victims) {
        if (to == kNil)
          remove(xi, Disposition::kNoAgents, now);
        else
          move_home(xi, to, now);
      }
    }
  }
  // Re-homes a waiting interaction in queue `to`: its targets and overflow
  // progress restart there (steps count from the original arrival).
  void move_home(std::uint32_t xi, std::uint32_t to, Time now) {
    remove_waiting(xi);
    IxRec& ix = ixs[xi];
    ix.home = to;
    ix.targets.clear();
    Target home;
    home.queue = to;
    ix.targets.push_back(home);
    ix.steps_applied = 0;
    insert_waiting(xi);
    emit_ix(EventType::kRequeued, now, ix).disposition = Disposition::kTransferred;
    if (apply_due(xi, now)) dispatch_interaction(xi, now);
  }

  // ---------------------------------------------------------- eligibility ----
  bool declined_by(const IxRec& ix, std::uint32_t ai, Time now) const {
    for (const auto& d : ix.declined)
      if (d.agent == ai && now < d.until) return true;
    return false;
  }
  // `tier_proven`: the caller knows that the agent meets the target's tier
  // requirement (it came from a list that only such agents are in), so the
  // agent's skills are not read for it.
  bool eligible(std::uint32_t ai, const IxRec& ix, const Target& t, Time now,
                bool tier_proven = false) const {
    const AgentRec& a = agents[ai];
    if (!(a.avail_mask & bit(ix.ch))) return false;
    if (ix.pref_agent != kNil && now < ix.pref_until && ai != ix.pref_agent) return false;
    if (!tier_proven && !meets(a.skills, tier_req(queues[t.queue], t.tier))) return false;
    if (ix.has_extra && !meets_all(a.skills, ix.extra)) return false;
    if (ix.has_declined && declined_by(ix, ai, now)) return false;
    return true;
  }

  std::uint32_t ready_count(std::uint32_t skill, int min_level, Channel ch) const {
    std::uint32_t n = 0;
    const LevelCounts& c = live_counts[skill * kChannelCount + ci(ch)];
    if (c.live[kLevelTotal] == 0) return 0;
    for (int l = min_level; l <= kLevels; ++l) n += c.live[l - 1];
    return n;
  }

  // Fills `cursors` with the lists that contain every eligible agent (a
  // superset); picks the cheapest driving term. Returns how many available
  // agents the lists hold. Sets cursors_prove_req when every agent in the
  // lists meets `req` (the lists are those of its only term, or of all its
  // OR terms).
  std::uint32_t collect_cursors(const DenseReq& req, const std::vector<DenseSkill>& extra, Channel ch) {
    cursors.clear();
    cursors_prove_req = false;
    auto add_term = [&](const DenseSkill& t) {
      for (int l = t.level; l <= kLevels; ++l) {
        const std::uint32_t b = bucket_id(t.skill, l, ch);
        if (live(b) > 0) cursors.push_back(Cursor{b, skip_stale_head(b)});
      }
    };
    const DenseSkill* best = nullptr;
    std::uint32_t best_n = kNil;
    auto consider = [&](const DenseSkill& t) {
      const std::uint32_t n = ready_count(t.skill, t.level, ch);
      if (n < best_n) {
        best_n = n;
        best = &t;
      }
    };
    for (const auto& t : extra) consider(t);
    if (req.mode == MatchMode::kAll || req.terms.size() <= 1) {
      for (const auto& t : req.terms) consider(t);
      if (best) {
        if (best_n == 0) return 0;  // select() stops here: no list to open
        cursors_prove_req = req.terms.size() == 1 && best == &req.terms[0];
        add_term(*best);
        return best_n;
      }
      add_term(DenseSkill{0, kMaxSkillLevel});
      return live(bucket_id(0, kMaxSkillLevel, ch));
    }
    // OR: the union of the terms, unless one extra (ANDed) term is smaller.
    std::uint32_t sum = 0;
    for (const auto& t : req.terms) sum += ready_count(t.skill, t.level, ch);
    if (best && best_n <= sum) {
      add_term(*best);
      return best_n;
    }
    for (const auto& t : req.terms) add_term(t);
    cursors_prove_req = true;
    return sum;
  }

  // The valid entry at or after the cursor, or nullptr when the list is done.
  const AvailEntry* peek(Cursor& c) const {
    const Bucket& bk = buckets[c.bucket];
    const Channel ch = bucket_channel(c.bucket);
    while (c.pos < bk.entries.size() && !valid(bk.entries[c.pos], ch)) ++c.pos;
    return c.pos < bk.entries.size() ? &bk.entries[c.pos] : nullptr;
  }

  // Merges the cursors' lists: returns the agent available the longest among
  // the cursors' next entries (ties: lower rank) and advances past it; kNil
  // when all lists are done.
  std::uint32_t next_in_order() {
    Cursor* bc = nullptr;
    const AvailEntry* be = nullptr;
    for (Cursor& c : cursors) {
      const AvailEntry* e = peek(c);
      if (!e) continue;
      if (!be || e->since < be->since || (e->since == be->since && e->agent < be->agent)) {
        bc = &c;
        be = e;
      }
    }
    if (!be) return kNil;
    ++bc->pos;
    return be->agent;
  }

  CandidateView view(std::uint32_t ai, Channel ch, const QueueRec& q, Time now) {
    const AgentRec& a = agents[ai];
    CandidateView c;
    c.rank = ai;
    c.available_since = a.avail_since[ci(ch)];
    c.level = q.first_skill == kNil ? 0 : level_of(a.skills, q.first_skill);
    c.handled_today = a.handled_today;
    c.recent_busy_seconds = decayed(a.busy_decayed, seconds_between(a.busy_at, now), 3600.0);
    c.fatigue = decayed(a.fatigue, seconds_between(a.fatigue_at, now), 900.0);
    c.weight = a.weight;
    return c;
  }

  double unit_random() {
    const double u = static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
    return u > 0 ? u : 1e-300;
  }

  // Best-scoring candidate so far for a scored (not idle-ordered) strategy.
  // Ties go to the agent available the longest, then to the lower rank.
  struct ScoreBest {
    std::uint32_t agent = kNil;
    double score = 0;
    Time since{};
    void offer(std::uint32_t ai, double sc, Time since_) {
      if (agent == kNil || sc > score ||
          (sc == score && (since_ < since || (since_ == since && ai < agent)))) {
        agent = ai;
        score = sc;
        since = since_;
      }
    }
  };
  void score_candidate(std::uint32_t ai, const IxRec& ix, const QueueRec& q, const Strategy& s,
                       const SelectionContext& ctx, ScoreBest& best, Time now) {
    CandidateView v = view(ai, ix.ch, q, now);
    if (s.needs_random()) v.random_unit = unit_random();
    best.offer(ai, s.score(v, ctx), v.available_since);
  }

  // Chooses agents for interaction `xi` through target `t`. Returns how many
  // were put in `picked` (0 = none available).
  std::size_t select(std::uint32_t xi, const Target& t, Time now) {
    const IxRec& ix = ixs[xi];
    picked.clear();
    // Every available agent is in the channel's "any" list (the lists are in
    // sync whenever select runs): when it is empty, as it mostly is under
    // load, nobody can be picked and nothing else need be read.
    if (live(bucket_id(0, kMaxSkillLevel, ix.ch)) == 0) return 0;
    QueueRec& q = queues[t.queue];
    if (ix.pref_agent != kNil && now < ix.pref_until) {
      if (eligible(ix.pref_agent, ix, t, now)) picked.push_back(ix.pref_agent);
      return picked.size();
    }
    if (t.tier == 0 && q.counted && avail_base[t.queue * kChannelCount + ci(ix.ch)] == 0) return 0;
    const Strategy& s = *q.strategy;
    static const std::vector<DenseSkill> kNoExtra;
    const std::uint32_t listed =
        collect_cursors(tier_req(q, t.tier), ix.has_extra ? ix.extra : kNoExtra, ix.ch);
    if (listed == 0) return 0;  // the lists hold every eligible agent: none is available
    // A narrow requirement (several ANDed skills) can make the cheapest skill
    // list much longer than the set of agents that could ever serve the
    // queue; then the queue's member list is the smaller superset to scan.
    if (q.members.size() < listed) return select_from_members(ix, t, q, s, now);
    if (s.idle_ordered() || s.ring_all()) {
      const std::size_t want = s.ring_all() ? static_cast<std::size_t>(std::max(1, q.cfg.ring_all_max)) : 1;
      for (std::uint32_t ai = next_in_order(); ai != kNil && picked.size() < want; ai = next_in_order()) {
        if (!eligible(ai, ix, t, now, cursors_prove_req)) continue;
        if (std::find(picked.begin(), picked.end(), ai) != picked.end()) continue;
        picked.push_back(ai);
      }
      return picked.size();
    }
    const SelectionContext ctx{now, timing[t.queue].rr_last, static_cast<std::uint32_t>(agents.size())};
    ScoreBest best;
    for (Cursor& c : cursors) {
      for (const AvailEntry* e = peek(c); e; ++c.pos, e = peek(c)) {
        const std::uint32_t ai = e->agent;
        if (ai == best.agent || !eligible(ai, ix, t, now, cursors_prove_req)) continue;
        score_candidate(ai, ix, q, s, ctx, best, now);
      }
    }
    if (best.agent != kNil) picked.push_back(best.agent);
    return picked.size();
  }

  std::size_t select_from_members(const IxRec& ix, const Target& t, QueueRec& q, const Strategy& s,
                                  Time now) {
    if (s.idle_ordered() || s.ring_all()) {
      ranked.clear();
      for (std::uint32_t ai : q.members)
        if (eligible(ai, ix, t, now)) ranked.emplace_back(agents[ai].avail_since[ci(ix.ch)], ai);
      const std::size_t want = std::min(
          ranked.size(), s.ring_all() ? static_cast<std::size_t>(std::max(1, q.cfg.ring_all_max)) : 1);
      std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(want), ranked.end());
      for (std::size_t i = 0; i < want; ++i) picked.push_back(ranked[i].second);
      return picked.size();
    }
    const SelectionContext ctx{now, timing[t.queue].rr_last, static_cast<std::uint32_t>(agents.size())};
    ScoreBest best;
    for (std::uint32_t ai : q.members)
      if (eligible(ai, ix, t, now)) score_candidate(ai, ix, q, s, ctx, best, now);
    if (best.agent != kNil) picked.push_back(best.agent);
    return picked.size();
  }

  // ------------------------------------------------------------- waiting ----
  // After every change to the queue's heap (its size, or its place when it grew).
  void note_heap(std::uint32_t qi) {
    const WaitHeap& w = queues[qi].waiting;
    heap_spots[qi] = HeapSpot{w.data(), static_cast<std::uint32_t>(w.held())};
  }
  // The lines an offer from the queue reads in its heap: the top and the
  // entries below it that taking the top moves (a small heap's all).
  void prefetch_heap_top(std::uint32_t qi) const {
    const HeapSpot& h = heap_spots[qi];
    if (h.held > 0)
      prefetch_lines(h.data, (std::min<std::uint32_t>(h.held, 7) * sizeof(WaitEntry) + 63) / 64);
  }
  // The lines an arrival's push writes and compares first: the free slot at
  // the end and its parent. (A push that grows the heap moves it anyway.)
  void prefetch_heap_end(std::uint32_t qi) const {
    const HeapSpot& h = heap_spots[qi];
    if (!h.data) return;
    __builtin_prefetch(h.data + h.held);
    if (h.held > 0) __builtin_prefetch(h.data + (h.held - 1) / 2);
  }
  void update_head(std::uint32_t qi) {
    const QueueRec& q = queues[qi];
    const WaitEntry* k = q.waiting.top();
    if (!k) {
      heads[qi].set(kEmptyKey);
      head_approx[qi] = kEmptyApprox;
      return;
    }
    const Time eff = k->arrival - q.weight;
    heads[qi].set(order_key(k->priority, eff));
    head_approx[qi] = approx_key(k->priority, eff);
    head_infos[qi] = HeadInfo{k->seq, k->ix, k->tier, k->simple, k->ch};
  }
  bool head_nonempty(std::uint32_t qi) const { return heads[qi].hi != ~std::uint64_t{0}; }
  // Whether queue qa's head comes before queue qb's (both non-empty).
  bool head_first(std::uint32_t qa, std::uint32_t qb) const {
    const OrderKey a = heads[qa].key(), b = heads[qb].key();
    if (a != b) return a < b;
    return head_infos[qa].seq < head_infos[qb].seq;
  }
  // Puts the interaction's targets that are not in their queue's heap there.
  void insert_waiting(std::uint32_t xi) {
    IxRec& ix = ixs[xi];
    const bool simple = !ix.has_extra && !ix.has_declined && ix.pref_agent == kNil;
    for (auto& t : ix.targets) {
      if (t.in_set) continue;
      const bool top = queues[t.queue].waiting.push(
          WaitEntry{ix.priority, xi, ix.arrival, ix.seq, wait_tokens[xi], t.tier, simple, ix.ch});
      note_heap(t.queue);
      t.in_set = true;
      if (top) update_head(t.queue);  // else the head is the same entry as before
    }
  }
  void remove_waiting(std::uint32_t xi) {
    IxRec& ix = ixs[xi];
    if (ix.targets.size() == 1) {  // the common case: only the home queue
      Target& t = ix.targets[0];
      if (!t.in_set) return;
      ++wait_tokens[xi];
      queues[t.queue].waiting.forget(wait_tokens);
      note_heap(t.queue);
      t.in_set = false;
      update_head(t.queue);
      return;
    }
    bool any = false;
    for (const auto& t : ix.targets) any |= t.in_set;
    if (!any) return;
    ++wait_tokens[xi];
    for (auto& t : ix.targets) {
      if (!t.in_set) continue;
      queues[t.queue].waiting.forget(wait_tokens);
      note_heap(t.queue);
      t.in_set = false;
      update_head(t.queue);
    }
  }
  // The copies in the heap entries (tier, simple) are out of date.
  void reinsert_waiting(std::uint32_t xi) {
    remove_waiting(xi);
    insert_waiting(xi);
  }

  // A transition the caller has already checked (or that the engine's own
  // logic guarantees).
  void set_phase(IxRec& ix, PhaseInput in) {
    const std::optional<Phase> next = next_phase(ix.phase, in);
    assert(next);
    ix.phase = *next;
  }

  std::uint32_t alloc_ix() {
    std::uint32_t xi;
    if (!free_ixs.empty()) {
      xi = free_ixs.back();
      free_ixs.pop_back();
    } else {
      xi = static_cast<std::uint32_t>(ixs.size());
      ixs.emplace_back();
      wait_tokens.push_back(0);
    }
    IxRec& ix = ixs[xi];
    ix.live = true;
    ix.callback = false;
    ix.steps_applied = 0;
    ix.targets.clear();
    if (ix.has_extra) ix.extra.clear();
    ix.ringing.clear();
    if (ix.has_declined) ix.declined.clear();
    ix.has_extra = false;
    ix.has_declined = false;
    ix.customer = 0;
    ix.agent = kNil;
    ix.pref_agent = kNil;
    ix.on_hold = false;
    return xi;
  }
  void release_ix(std::uint32_t xi) {
    IxRec& ix = ixs[xi];
    ix_index.erase(raw(ix.id));
    ix.live = false;
    ++ix.gen;
    free_ixs.push_back(xi);
  }

  // ------------------------------------------------------------- offers ----
  void make_offer(std::uint32_t xi, std::uint32_t via_queue, Time now) {
    IxRec& ix = ixs[xi];
    set_phase(ix, PhaseInput::kOffer);
    remove_waiting(xi);
    const QueueTiming& home = timing[ix.home];
    const Time deadline = now + home.ring_timeout;
    ++ix.offer_gen;
    if (ix.pref_agent != kNil) ix.pref_until = Time{};  // the sticky first offer is spent
    for (std::uint32_t ai : picked) {
      AgentRec& a = agents[ai];
      ++a.used[ci(ix.ch)];
      ++a.ringing;
      a.ixs.push_back(xi);
      ix.ringing.push_back(ai);
      Event& e = with_agent(emit_ix(EventType::kOffered, now, ix), ai);
      e.deadline = deadline;
      e.value = ix.callback ? 1 : 0;
      refresh(ai, now);
    }
    timing[via_queue].rr_last = picked.back();
    if (home.ring_timeout.count() > 0) push_timer(deadline, TimerKind::kRing, xi, ix.gen, ix.offer_gen);
  }

  // Tries to place a waiting interaction with an available agent.
  bool dispatch_interaction(std::uint32_t xi, Time now) {
    if (!ixs[xi].live || ixs[xi].phase != Phase::kWaiting) return false;
    for (std::size_t i = 0; i < ixs[xi].targets.size(); ++i) {
      const Target t = ixs[xi].targets[i];
      if (select(xi, t, now) > 0) {
        make_offer(xi, t.queue, now);
        return true;
      }
    }
    return false;
  }

  // The best waiting entry found so far for a freed agent.
  struct Pick {
    std::uint32_t ix = kNil;
    std::uint32_t queue = kNil;
    OrderKey key = kEmptyKey;
    std::uint64_t seq = 0;
    bool beats(OrderKey k, std::uint64_t s) const { return ix == kNil || k < key || (k == key && s < seq); }
  };

  // Whether agent `ai` may take waiting entry `k` of queue `qi`. A simple
  // entry at the base tier needs only channel availability from a base
  // member (membership already proved the skills), so the common case reads
  // neither the agent's skills nor the queue's requirement.
  bool can_take(std::uint32_t ai, std::uint32_t qi, bool base, const WaitEntry& k, Time now) const {
    const AgentRec& a = agents[ai];
    if (k.simple) {
      if (!(a.avail_mask & bit(k.ch))) return false;
      return (base && k.tier == 0) || meets(a.skills, tier_req(queues[qi], k.tier));
    }
    const IxRec& ix = ixs[k.ix];
    for (const auto& t : ix.targets)
      if (t.queue == qi) return eligible(ai, ix, t, now);
    return false;
  }

  // Scans queue `qi` in waiting order for the first entry the agent can take
  // that beats `best`; stops at the first entry that cannot beat it.
  void scan_queue(std::uint32_t ai, QueueRef r, Pick& best, Time now) const {
    const QueueRec& q = queues[r.queue];
    q.waiting.visit_in_order(wait_tokens, frontier, [&](const WaitEntry& k) {
      const OrderKey key = order_key(k.priority, k.arrival - q.weight);
      if (!best.beats(key, k.seq)) return false;
      if (!can_take(ai, r.queue, r.base, k, now)) return true;
      best = Pick{k.ix, r.queue, key, k.seq};
      return false;
    });
  }

  // Finds the best waiting interaction the agent can take across its queues:
  // queues are visited in order of their head entry, and the search stops as
  // soon as no remaining queue's head can beat the best eligible entry found.
  // Usually the best head is eligible, and then one pass over the heads is
  // all it costs.
  void dispatch_agent(std::uint32_t ai, Time now) {
    AgentRec& a = agents[ai];
    while (a.avail_mask != 0) {
      const QueueRef* top = best_head(a);
      if (!top) return;
      const QueueRef first = *top;
      const HeadInfo& h = head_infos[first.queue];
      // The head's interaction (both lines: make_offer reads its targets and
      // writes its ringing agent) and its queue's heap, whichever takes it:
      // their misses overlap instead of following one another.
      prefetch_lines(&ixs[h.ix], 2);
      prefetch_lines(&queues[first.queue], 1);
      prefetch_heap_top(first.queue);
      prefetch_lines(&timing[first.queue], 1);
      __builtin_prefetch(&wait_tokens[h.ix]);
      Pick best;
      if (can_take_head(a, first, h)) {
        // Took the best head itself: no other entry can beat it.
        best = Pick{h.ix, first.queue, heads[first.queue].key(), h.seq};
      } else {
        scan_queue(ai, first, best, now);
        if (best.queue != first.queue || best.seq != h.seq) scan_other_queues(ai, first, best, now);
        if (best.ix == kNil) return;
      }
      picked.clear();
      picked.push_back(ai);
      make_offer(best.ix, best.queue, now);
    }
  }

  // The first of the agent's queues with the best head, or nullptr when all
  // are empty. Empty queues carry kEmptyKey, which never wins.
  //
  // Only equal summaries need the exact keys: a summary never contradicts
  // the exact order and equal keys have equal summaries, so a head with a
  // smaller summary than the best so far is better for certain. An empty
  // queue's summary (kEmptyApprox, which no waiting entry has) equals the
  // bound only while nothing was found, and is skipped.
  const QueueRef* best_head(const AgentRec& a) const {
    const QueueRef* top = nullptr;
    const std::uint64_t* approx = head_approx.data();
    std::uint64_t bound = kEmptyApprox;  // the best head's summary
    for (const QueueRef& r : a.queues) {
      const std::uint64_t v = approx[r.queue];
      if (v > bound) continue;  // behind the best for certain: nearly every head
      if (v == bound && (!top || !head_first(r.queue, top->queue))) continue;
      bound = v;
      top = &r;
    }
    return top;
  }

  // can_take() for a queue's head from its HeadInfo copies, for the common
  // simple entry at the base tier; false means "look at the entry itself"
  // (scan_queue decides), never "cannot take".
  static bool can_take_head(const AgentRec& a, QueueRef r, const HeadInfo& h) {
    return h.simple && h.tier == 0 && r.base && (a.avail_mask & bit(h.ch));
  }

  // dispatch_agent() when the best head (queue `first`, already scanned) was
  // not the agent's to take: repeatedly visit the unvisited queue with the
  // best head while that head can still beat `best`.
  void scan_other_queues(std::uint32_t ai, QueueRef first, Pick& best, Time now) {
    order.clear();
    for (const QueueRef r : agents[ai].queues)
      if (head_nonempty(r.queue)) order.push_back(r);
    const auto visited =
        std::find_if(order.begin(), order.end(), [&](QueueRef r) { return r.queue == first.queue; });
    std::swap(*visited, order.back());
    for (std::size_t remaining = order.size() - 1; remaining > 0; --remaining) {
      std::size_t pick = 0;
      for (std::size_t i = 1; i < remaining; ++i) {
        if (head_first(order[i].queue, order[pick].queue)) pick = i;
      }
      const QueueRef r = order[pick];
      std::swap(order[pick], order[remaining - 1]);
      const std::uint64_t seq = head_infos[r.queue].seq;
      if (!best.beats(heads[r.queue].key(), seq)) return;
      scan_queue(ai, r, best, now);
      if (best.queue == r.queue && best.seq == seq) return;
    }
  }

  void release_slot(std::uint32_t ai, std::uint32_t xi) {
    AgentRec& a = agents[ai];
    --a.used[ci(ixs[xi].ch)];
    auto it = std::find(a.ixs.begin(), a.ixs.end(), xi);
    if (it != a.ixs.end()) a.ixs.erase(it);
  }

  // An agent stops ringing for an interaction. Returns true when nobody is
  // ringing any more (the caller decides what happens to the interaction).
  bool stop_ringing(std::uint32_t xi, std::uint32_t ai) {
    IxRec& ix = ixs[xi];
    auto it = std::find(ix.ringing.begin(), ix.ringing.end(), ai);
    ix.ringing.erase(it);
    --agents[ai].ringing;
    release_slot(ai, xi);
    return ix.ringing.empty();
  }

  void requeue(std::uint32_t xi, PhaseInput why, Time now) {
    IxRec& ix = ixs[xi];
    set_phase(ix, why);
    ++ix.offer_gen;
    insert_waiting(xi);
    emit_ix(EventType::kRequeued, now, ix);
    if (apply_due(xi, now)) dispatch_interaction(xi, now);
  }

  // A missed offer (declined or no answer) by `ai`.
  void miss(std::uint32_t xi, std::uint32_t ai, EventType type, Time now, bool cancel_command) {
    IxRec& ix = ixs[xi];
    AgentRec& a = agents[ai];
    const QueueTiming& home = timing[ix.home];
    if (cancel_command) with_agent(emit_ix(EventType::kOfferCancelled, now, ix), ai);
    with_agent(emit_ix(type, now, ix), ai);
    const bool none_left = stop_ringing(xi, ai);
    const Duration backoff = std::max<Duration>(home.ring_timeout, std::chrono::seconds(1));
    ix.declined.push_back(Decline{ai, now + backoff});
    ix.has_declined = true;
    push_timer(now + backoff, TimerKind::kRetry, xi, ix.gen);
    ++a.misses;
    if (home.max_consecutive_misses > 0 && a.misses >= home.max_consecutive_misses &&
        a.status.status == AgentStatus::kReady) {
      auto next = transition_status(a.status, StatusInput::kNotReady, reason::kMissed);
      assert(next.ok());
      a.status = *next;
      a.misses = 0;
      emit_agent(EventType::kAgentNotReady, now, a).reason = reason::kMissed;
    }
    refresh(ai, now);
    if (none_left)
      requeue(xi, type == EventType::kDeclined ? PhaseInput::kDecline : PhaseInput::kNoAnswer, now);
    dispatch_agent(ai, now);
  }

  // Takes back an offer without blaming the agent (agent lost, logout).
  void withdraw(std::uint32_t xi, std::uint32_t ai, Time now) {
    IxRec& ix = ixs[xi];
    with_agent(emit_ix(EventType::kOfferCancelled, now, ix), ai);
    const bool none_left = stop_ringing(xi, ai);
    refresh(ai, now);
    if (none_left) requeue(xi, PhaseInput::kWithdraw, now);
  }

  // Leaves routing without an agent.
  void remove(std::uint32_t xi, Disposition d, Time now) {
    IxRec& ix = ixs[xi];
    set_phase(ix, PhaseInput::kRemove);
    remove_waiting(xi);
    emit_ix(EventType::kRemoved, now, ix).disposition = d;
    release_ix(xi);
  }

  // Applies max wait and overflow steps that are due; arms the next ones.
  // Returns false when the interaction left routing.
  bool apply_due(std::uint32_t xi, Time now) {
    IxRec& ix = ixs[xi];
    if (ix.phase != Phase::kWaiting) return true;
    const QueueTiming& timed = timing[ix.home];
    // Most queues have neither a maximum wait nor overflow steps: then the
    // big queue record is not read at all.
    if ((ix.callback || timed.max_wait.count() == 0) && timed.overflow_steps == 0) return true;
    QueueRec& home = queues[ix.home];
    const Duration waited = now - ix.arrival;
    if (!ix.callback && home.cfg.max_wait.count() > 0) {
      if (waited >= home.cfg.max_wait) {
        remove(xi, home.cfg.max_wait_disposition, now);
        return false;
      }
      push_timer(ix.arrival + home.cfg.max_wait, TimerKind::kWait, xi, ix.gen);
    }
    const auto& steps = home.cfg.overflow;
    while (ix.steps_applied < static_cast<int>(steps.size()) &&
           waited >= steps[static_cast<std::size_t>(ix.steps_applied)].after) {
      const std::size_t i = static_cast<std::size_t>(ix.steps_applied++);
      const OverflowStep& step = steps[i];
      emit_ix(EventType::kOverflowed, now, ix).value = static_cast<std::uint8_t>(i);
      switch (step.action) {
        case OverflowStep::Action::kRelax:
          ix.targets[0].tier = static_cast<std::uint16_t>(home.step_tier[i]);
          if (ix.targets[0].in_set) reinsert_waiting(xi);
          break;
        case OverflowStep::Action::kAddQueue: {
          const std::uint32_t qi = queue_idx(step.queue);
          if (qi == kNil || !queues[qi].live) break;
          bool present = false;
          for (const auto& t : ix.targets) present |= t.queue == qi;
          if (present) break;
          Target t;
          t.queue = qi;
          ix.targets.push_back(t);
          insert_waiting(xi);
          break;
        }
        case OverflowStep::Action::kOfferCallback:
          if (!ix.callback) {
            Event& e = emit_ix(EventType::kCallbackOffer, now, ix);
            e.deadline = now + estimate(ix.home, home.waiting.size());
          }
          break;
        case OverflowStep::Action::kVoicemail:
          if (!ix.callback) {
            remove(xi, Disposition::kVoicemail, now);
            return false;
          }
          break;
      }
    }
    if (ix.steps_applied < static_cast<int>(steps.size()))
      push_timer(ix.arrival + steps[static_cast<std::size_t>(ix.steps_applied)].after, TimerKind::kWait, xi,
                 ix.gen);
    return true;
  }

  // The sticky memory keeps answers for the longest window any queue uses;
  // with no sticky queue left it is emptied and nothing is recorded.
  void update_sticky_horizon() {
    Millis longest{0};
    for (const QueueRec& q : queues)
      if (q.live && q.cfg.sticky_wait.count() > 0) longest = std::max(longest, q.cfg.sticky_window);
    sticky_horizon = longest;
    if (longest.count() == 0) sticky = StickyMemory{};
  }

  Duration estimate(std::uint32_t qi, std::size_t position) const {
    const double staffed = std::max<double>(1.0, queues[qi].staffed);
    return std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(static_cast<double>(position + 1) * timing[qi].aht_s / staffed));
  }

  // --------------------------------------------------------- completion ----
  void finish_wrap(std::uint32_t xi, Time now) {
    IxRec& ix = ixs[xi];
    set_phase(ix, PhaseInput::kWrapDone);
    const std::uint32_t ai = ix.agent;
    AgentRec& a = agents[ai];
    --a.wrapping;
    release_slot(ai, xi);
    if (a.queues.heap_bytes() > 0)  // more memberships than the record holds: for dispatch_agent
      prefetch_lines(a.queues.begin(), (a.queues.size() * sizeof(QueueRef) + 63) / 64);
    with_agent(emit_ix(EventType::kWrapUpEnded, now, ix), ai);
    const double handle = seconds_between(ix.answered_at, now);
    QueueTiming& q = timing[ix.home];
    q.aht_s = 0.9 * q.aht_s + 0.1 * handle;
    a.busy_decayed = decayed(a.busy_decayed, seconds_between(a.busy_at, now), 3600.0) + handle;
    a.busy_at = now;
    release_ix(xi);
    refresh(ai, now, /*list=*/false);
    dispatch_agent(ai, now);
    sync_lists(ai, now);
  }

  void end_conversation(std::uint32_t xi, Time now, bool difficult) {
    IxRec& ix = ixs[xi];
    set_phase(ix, PhaseInput::kEnd);
    const std::uint32_t ai = ix.agent;
    AgentRec& a = agents[ai];
    prefetch_lines(&a, kAgentHotLines);  // all read below and when it frees up (memberships included)
    prefetch_lines(&timing[ix.home], 1);
    // The id index entry that the end of wrap-up erases (at once when the
    // queue has no wrap-up time): its miss then overlaps the agent's instead
    // of following it.
    ix_index.prefetch(raw(ix.id));
    if (ix.on_hold) {
      ix.on_hold = false;
      with_agent(emit_ix(EventType::kHoldEnded, now, ix), ai);
    }
    --a.connected;
    ++a.wrapping;
    ++a.handled_today;
    const QueueTiming& home = timing[ix.home];
    const bool long_one = (now - ix.answered_at) >= home.fatigue_long_handle;
    const double f = decayed(a.fatigue, seconds_between(a.fatigue_at, now), 900.0);
    a.fatigue = (long_one || difficult) ? f + 1.0 : std::max(0.0, f - 0.5);
    a.fatigue_at = now;
    const Time wrap_end = now + home.wrap_up;
    Event& e = with_agent(emit_ix(EventType::kEnded, now, ix), ai);
    e.deadline = wrap_end;
    refresh(ai, now);
    if (home.wrap_up.count() <= 0) {
      finish_wrap(xi, now);
    } else {
      push_timer(wrap_end, TimerKind::kWrap, xi, ix.gen);
    }
  }

  void lose_agent(std::uint32_t ai, Time now) {
    AgentRec& a = agents[ai];
    const std::vector<std::uint32_t> held(a.ixs.begin(), a.ixs.end());
    for (std::uint32_t xi : held)
      if (ixs[xi].phase == Phase::kOffered) withdraw(xi, ai, now);
    // Fails (and changes nothing) when already not ready (disconnected).
    if (auto next = transition_status(a.status, StatusInput::kNotReady, reason::kDisconnected)) {
      a.status = *next;
      emit_agent(EventType::kAgentNotReady, now, a).reason = reason::kDisconnected;
    }
    refresh(ai, now);
  }

  // ---------------------------------------------------------------- timers ----
  void fire(const Timer& t, Time now) {
    if (t.kind == TimerKind::kHeartbeat) {
      AgentRec& a = agents[t.idx];
      if (!a.live || a.hb_gen != t.gen || !logged_in(a)) return;
      lose_agent(t.idx, now);
      return;
    }
    if (t.idx >= ixs.size()) return;
    IxRec& ix = ixs[t.idx];
    if (!ix.live || ix.gen != t.gen) return;
    switch (t.kind) {
      case TimerKind::kRing: {
        if (ix.phase != Phase::kOffered || ix.offer_gen != t.aux) return;
        const std::vector<std::uint32_t> ringing(ix.ringing.begin(), ix.ringing.end());
        for (std::uint32_t ai : ringing)
          if (ixs[t.idx].live && ixs[t.idx].phase == Phase::kOffered)
            miss(t.idx, ai, EventType::kNoAnswer, now, true);
        return;
      }
      case TimerKind::kWait:
        if (ix.phase == Phase::kWaiting && apply_due(t.idx, now)) dispatch_interaction(t.idx, now);
        return;
      case TimerKind::kPref:
        if (ix.phase == Phase::kWaiting) dispatch_interaction(t.idx, now);
        return;
      case TimerKind::kRetry: {
        std::erase_if(ix.declined, [&](const Decline& d) { return d.until <= now; });
        ix.has_declined = !ix.declined.empty();
        if (ix.phase == Phase::kWaiting) dispatch_interaction(t.idx, now);
        return;
      }
      case TimerKind::kWrap:
        if (ix.phase == Phase::kWrapUp) finish_wrap(t.idx, now);
        return;
      case TimerKind::kScheduled:
        if (ix.phase == Phase::kScheduled) activate(t.idx, now);
        return;
      case TimerKind::kHeartbeat:
        return;
    }
  }

  void activate(std::uint32_t xi, Time now) {
    IxRec& ix = ixs[xi];
    set_phase(ix, PhaseInput::kActivate);
    insert_waiting(xi);
    emit_ix(EventType::kEnqueued, now, ix).value = 1;
    if (apply_due(xi, now)) dispatch_interaction(xi, now);
  }

  // -------------------------------------------------------------- checks ----
  std::string check() const {
    std::vector<std::size_t> listed(agents.size() * kChannelCount, 0);
    std::ostringstream err;
    err << check_lists(listed) << check_waiting();
    std::vector<int> used(agents.size() * kChannelCount, 0), ringing(agents.size(), 0),
        conn(agents.size(), 0), wrap(agents.size(), 0);
    for (std::uint32_t xi = 0; xi < ixs.size(); ++xi) {
      const IxRec& ix = ixs[xi];
      if (!ix.live) continue;
      if (ix_index.get(raw(ix.id)) != xi) err << "interaction " << raw(ix.id) << " not indexed\n";
      for (const auto& t : ix.targets) {
        if (t.in_set != (ix.phase == Phase::kWaiting))
          err << "interaction " << raw(ix.id) << " waiting-set membership does not match phase\n";
      }
      if (ix.phase == Phase::kOffered) {
        if (ix.ringing.empty()) err << "offered interaction " << raw(ix.id) << " rings nobody\n";
        for (auto ai : ix.ringing) {
          ++used[ai * kChannelCount + ci(ix.ch)];
          ++ringing[ai];
        }
      } else if (!ix.ringing.empty()) {
        err << "interaction " << raw(ix.id) << " rings while " << to_string(ix.phase) << "\n";
      }
      if (ix.phase == Phase::kConnected || ix.phase == Phase::kWrapUp) {
        ++used[ix.agent * kChannelCount + ci(ix.ch)];
        (ix.phase == Phase::kConnected ? conn : wrap)[ix.agent]++;
        const auto& q = queues[ix.home];
        (void)q;
      }
    }
    for (std::uint32_t ai = 0; ai < agents.size(); ++ai) {
      const AgentRec& a = agents[ai];
      for (int c = 0; c < kChannelCount; ++c) {
        if (used[ai * kChannelCount + c] != a.used[c])
          err << "agent " << raw(a.id) << " used count mismatch\n";
        if (a.used[c] > a.capacity[c]) err << "agent " << raw(a.id) << " over capacity\n";
        const bool want = a.live && can_take_channel(a, static_cast<Channel>(c));
        const bool have = (a.avail_mask >> c) & 1;
        if (have != (((a.listed_mask >> c) & 1) != 0))
          err << "agent " << raw(a.id) << " listing not in sync\n";
        if (want != have) err << "agent " << raw(a.id) << " availability mask stale\n";
        const std::size_t expect = have ? a.skills.size() + 1 : 0;
        if (listed[ai * kChannelCount + c] != expect)
          err << "agent " << raw(a.id) << " index membership wrong\n";
      }
      if (ringing[ai] != a.ringing || conn[ai] != a.connected || wrap[ai] != a.wrapping)
        err << "agent " << raw(a.id) << " ringing/connected/wrap counts mismatch\n";
      if (a.live && a.status.status == AgentStatus::kLoggedOut && !a.ixs.empty())
        err << "logged-out agent " << raw(a.id) << " holds interactions\n";
    }
    return err.str() + check_conservation();
  }

  // Counts each agent's valid list entries per channel; checks each list's
  // order, live count and that its valid entries belong there.
  std::string check_lists(std::vector<std::size_t>& listed) const {
    std::ostringstream err;
    for (std::uint32_t b = 0; b < buckets.size(); ++b) {
      if (b % kLevelStride == kLevelTotal) {
        std::uint32_t sum = 0;
        for (std::uint32_t l = 0; l < kLevelTotal; ++l) sum += live(b - kLevelTotal + l);
        if (sum != live(b)) err << "level counts' total out of date\n";
        continue;
      }
      const Bucket& bk = buckets[b];
      const Channel ch = bucket_channel(b);
      std::uint32_t n = 0;
      Time prev{};
      for (std::size_t i = 0; i < bk.entries.size(); ++i) {
        const AvailEntry& e = bk.entries[i];
        if (!valid(e, ch)) continue;
        if (i < bk.head) err << "valid entry before the list head\n";
        ++n;
        ++listed[e.agent * kChannelCount + ci(ch)];
        bool belongs = false;
        for_each_bucket(agents[e.agent], ch, [&](std::uint32_t x) { belongs |= x == b; });
        if (!belongs || !(agents[e.agent].avail_mask & bit(ch))) err << "entry in wrong list\n";
        if (e.since < prev) err << "list not in availability order\n";
        prev = e.since;
      }
      if (n != live(b)) err << "list live count mismatch\n";
      if (bk.entries.size() > 4 * static_cast<std::size_t>(live(b)) + 64)
        err << "list holds too many stale entries\n";
    }
    return err.str();
  }

  std::string check_conservation() const {
    std::ostringstream err;
    std::vector<std::uint32_t> base(queues.size() * kChannelCount, 0);
    for (std::uint32_t ai = 0; ai < agents.size(); ++ai)
      for (const QueueRef r : agents[ai].queues) {
        if (r.counted != (r.base && queues[r.queue].counted)) err << "membership counted flag out of date\n";
        for (int c = 0; c < kChannelCount; ++c)
          if (r.counted && (agents[ai].avail_mask & (1u << c)))
            ++base[r.queue * kChannelCount + static_cast<std::uint32_t>(c)];
      }
    if (base != avail_base) err << "available base-member counts out of date\n";
    // Work conservation: no available agent can take a waiting interaction.
    for (std::uint32_t qi = 0; qi < queues.size(); ++qi) {
      const QueueRec& q = queues[qi];
      std::size_t staffed = 0;
      for (auto ai : q.members) {
        const AgentRec& a = agents[ai];
        auto it =
            std::find_if(a.queues.begin(), a.queues.end(), [&](const QueueRef& r) { return r.queue == qi; });
        if (it == a.queues.end())
          err << "membership not symmetric\n";
        else if (it->base && logged_in(a))
          ++staffed;
      }
      if (staffed != q.staffed)
        err << "queue " << raw(q.cfg.id) << " staffed count " << q.staffed << " != " << staffed << "\n";
      q.waiting.for_each(wait_tokens, [&](const WaitEntry& k) {
        const IxRec& ix = ixs[k.ix];
        const Target* t = target_in(ix, qi);
        if (!ix.live || ix.phase != Phase::kWaiting || !t) return;  // reported by check_waiting
        for (std::uint32_t ai = 0; ai < agents.size(); ++ai)
          if (agents[ai].live && eligible(ai, ix, *t, last))
            err << "agent " << raw(agents[ai].id) << " is available and eligible for waiting interaction "
                << raw(ix.id) << "\n";
      });
    }
    return err.str();
  }

  static const Target* target_in(const IxRec& ix, std::uint32_t qi) {
    for (const auto& t : ix.targets)
      if (t.queue == qi) return &t;
    return nullptr;
  }

  // Every waiting interaction has exactly one valid heap entry per target,
  // with up-to-date copies; counts, heads and the stale-entry bound hold.
  std::string check_waiting() const {
    std::ostringstream err;
    std::vector<std::uint32_t> entries(ixs.size(), 0);
    for (std::uint32_t qi = 0; qi < queues.size(); ++qi) {
      const WaitHeap& w = queues[qi].waiting;
      std::size_t n = 0;
      w.for_each(wait_tokens, [&](const WaitEntry& k) {
        ++n;
        ++entries[k.ix];
        const IxRec& ix = ixs[k.ix];
        const Target* t = target_in(ix, qi);
        if (!ix.live || ix.phase != Phase::kWaiting || !t || !t->in_set)
          err << "dead entry in waiting heap of queue " << raw(queues[qi].id) << "\n";
        else if (t->tier != k.tier || k.ch != ix.ch || k.priority != ix.priority || k.arrival != ix.arrival)
          err << "interaction " << raw(ix.id) << " waiting entry out of date\n";
        else if (ix.has_extra != !ix.extra.empty() || ix.has_declined != !ix.declined.empty())
          err << "interaction " << raw(ix.id) << " has_extra/has_declined out of date\n";
        else if (k.simple && (ix.has_extra || ix.has_declined || ix.pref_agent != kNil))
          err << "interaction " << raw(ix.id) << " marked simple but is not\n";
      });
      if (n != w.size()) err << "queue " << raw(queues[qi].id) << " waiting count mismatch\n";
      if (w.top() && !WaitHeap::valid(*w.top(), wait_tokens)) err << "stale entry at a heap top\n";
      if (w.held() > 2 * w.size() + 16) err << "waiting heap holds too many stale entries\n";
      if (head_nonempty(qi) != (w.top() != nullptr) || (w.top() && head_infos[qi].seq != w.top()->seq) ||
          (w.top() ? head_approx[qi] != approx_key(w.top()->priority, w.top()->arrival - queues[qi].weight)
                   : head_approx[qi] != kEmptyApprox))
        err << "queue " << raw(queues[qi].id) << " head out of date\n";
      if (heap_spots[qi].data != w.data() || heap_spots[qi].held != w.held())
        err << "queue " << raw(queues[qi].id) << " heap spot out of date\n";
    }
    for (std::uint32_t xi = 0; xi < ixs.size(); ++xi) {
      std::uint32_t want = 0;
      if (ixs[xi].live)
        for (const auto& t : ixs[xi].targets) want += t.in_set ? 1 : 0;
      if (entries[xi] != want)
        err << "interaction slot " << xi << " has " << entries[xi] << " heap entries\n";
    }
    return err.str();
  }
};

// ================================================================ public ====

Engine::Engine(EngineOptions options) : impl_(std::make_unique<Impl>(options)) {}
Engine::~Engine() = default;

Status Engine::upsert_agent(const AgentConfig& config, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  if (raw(config.id) == 0) return Error::invalid("id", "agent id must be non-zero");
  if (auto s = check_levels(config.skills, "skills"); !s) return s;
  for (int c = 0; c < kChannelCount; ++c)
    if (config.capacity[c] < 0 || config.capacity[c] > 1000)
      return Error::invalid("capacity", "capacity out of range");
  if (!(config.weight >= 0)) return Error::invalid("weight", "weight must be >= 0");
  std::vector<DenseSkill> skills;
  for (const auto& s : config.skills) {
    const std::uint32_t d = m.dense(s.skill);
    for (const auto& e : skills)
      if (e.skill == d) return Error::invalid("skills", "a skill is listed twice");
    skills.push_back({d, s.level});
  }
  std::sort(skills.begin(), skills.end(), [](auto& a, auto& b) { return a.skill < b.skill; });
  std::uint32_t ai = m.agent_idx(config.id);
  if (ai == kNil) {
    ai = static_cast<std::uint32_t>(m.agents.size());
    m.agents.emplace_back();
    m.agent_index.put(raw(config.id), ai);
    m.agent_cfgs.emplace_back();
    AgentRec& a = m.agents[ai];
    a.live = true;
    m.configure_agent(ai, config);
    a.skills.assign(skills.data(), skills.data() + skills.size());
    m.epochs.resize(m.agents.size() * kChannelCount, 0);
    m.rebuild_agent_membership(ai);
    return common::ok_status();
  }
  AgentRec& a = m.agents[ai];
  const bool skills_changed =
      skills.size() != a.skills.size() ||
      !std::equal(skills.begin(), skills.end(), a.skills.begin(),
                  [](auto& x, auto& y) { return x.skill == y.skill && x.level == y.level; });
  m.configure_agent(ai, config);
  if (skills_changed) {
    m.unlist_all(ai);
    a.skills.assign(skills.data(), skills.data() + skills.size());
    m.rebuild_agent_membership(ai);
  }
  m.refresh(ai, now);
  m.dispatch_agent(ai, now);
  m.enforce_no_agents(now);
  return common::ok_status();
}

Status Engine::remove_agent(AgentId id) {
  auto& m = *impl_;
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  AgentRec& a = m.agents[ai];
  if (m.logged_in(a) || !a.ixs.empty()) return Error::conflict("agent must be logged out to be removed");
  m.drop_agent_membership(ai);
  a.live = false;
  m.agent_index.erase(raw(id));
  return common::ok_status();
}

Status Engine::upsert_queue(const QueueConfig& config, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  if (raw(config.id) == 0) return Error::invalid("id", "queue id must be non-zero");
  if (auto s = check_levels(config.requirement.skills, "requirement"); !s) return s;
  for (std::size_t i = 0; i < config.overflow.size(); ++i) {
    if (auto s = check_levels(config.overflow[i].requirement.skills, "overflow"); !s) return s;
    if (config.overflow[i].after.count() < 0)
      return Error::invalid("overflow", "overflow step time must be >= 0");
    if (i > 0 && config.overflow[i].after < config.overflow[i - 1].after)
      return Error::invalid("overflow", "overflow steps must be sorted by time");
  }
  if (config.overflow.size() > 255) return Error::invalid("overflow", "too many overflow steps");
  for (const auto& r : config.attribute_rules)
    if (r.skill.level < kMinSkillLevel || r.skill.level > kMaxSkillLevel)
      return Error::invalid("attribute_rules", "skill levels must be between 1 and 10");
  if (config.ring_timeout.count() < 0 || config.wrap_up.count() < 0 || config.max_wait.count() < 0)
    return Error::invalid("timers", "durations must be >= 0");
  std::uint32_t qi = m.queue_idx(config.id);
  const bool is_new = qi == kNil;
  if (is_new) {
    qi = static_cast<std::uint32_t>(m.queues.size());
    m.queues.emplace_back();
    m.queue_index.put(raw(config.id), qi);
    m.heads.emplace_back();
    m.head_infos.emplace_back();
    m.heap_spots.emplace_back();
    m.head_approx.push_back(kEmptyApprox);
    m.avail_base.resize(m.queues.size() * kChannelCount, 0);
    m.timing.emplace_back();
    m.timing[qi].aht_s = std::chrono::duration<double>(m.opt.default_handle_time).count();
  }
  QueueRec& q = m.queues[qi];
  q.live = true;
  q.cfg = config;
  QueueTiming& timed = m.timing[qi];
  timed.id = config.id;
  timed.ring_timeout = config.ring_timeout;
  timed.wrap_up = config.wrap_up;
  timed.fatigue_long_handle = config.fatigue_long_handle;
  timed.max_wait = config.max_wait;
  timed.max_consecutive_misses = config.max_consecutive_misses;
  timed.overflow_steps = static_cast<std::uint32_t>(config.overflow.size());
  q.id = config.id;
  if (!q.custom) q.strategy = &builtin_strategy(config.strategy);
  q.tiers.clear();
  q.step_tier.clear();
  q.tiers.push_back(m.to_dense(config.requirement));
  int current = 0;
  for (const auto& step : config.overflow) {
    if (step.action == OverflowStep::Action::kRelax) {
      q.tiers.push_back(m.to_dense(step.requirement));
      current = static_cast<int>(q.tiers.size() - 1);
      q.step_tier.push_back(current);
    } else {
      q.step_tier.push_back(-1);
    }
  }
  q.attr_rules.clear();
  for (const auto& r : config.attribute_rules)
    q.attr_rules.emplace_back(r, DenseSkill{m.dense(r.skill.skill), r.skill.level});
  q.base = q.tiers[0];
  q.first_skill = q.tiers[0].terms.empty() ? kNil : q.tiers[0].terms[0].skill;
  q.sticky = config.sticky_window.count() > 0 && config.sticky_wait.count() > 0;
  q.has_attr_rules = !q.attr_rules.empty();
  q.max_length = config.max_length;
  q.counted = q.tiers[0].mode == MatchMode::kAll && q.tiers[0].terms.size() > 1;
  q.weight = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(config.weight_seconds));
  m.update_head(qi);
  m.rebuild_queue_membership(qi);
  m.note_staffing(qi);  // a changed requirement or policy may leave it unstaffed
  m.update_sticky_horizon();
  if (!is_new) {
    // Waiting interactions keep their position; requirement tiers are
    // re-derived from the steps they already passed.
    std::vector<std::uint32_t> waiting;
    for (std::uint32_t xi = 0; xi < m.ixs.size(); ++xi) {
      IxRec& ix = m.ixs[xi];
      if (!ix.live) continue;
      bool stale_copies = false;
      for (auto& t : ix.targets) {
        if (t.queue != qi) continue;
        t.tier = 0;
        if (ix.home == qi) {
          ix.steps_applied = std::min<int>(ix.steps_applied, static_cast<int>(config.overflow.size()));
          for (int s = 0; s < ix.steps_applied; ++s)
            if (q.step_tier[static_cast<std::size_t>(s)] >= 0)
              t.tier = static_cast<std::uint16_t>(q.step_tier[static_cast<std::size_t>(s)]);
        }
        stale_copies |= t.in_set;
      }
      if (stale_copies) m.reinsert_waiting(xi);
      if (ix.phase == Phase::kWaiting) waiting.push_back(xi);
    }
    for (auto xi : waiting)
      if (m.apply_due(xi, now)) m.dispatch_interaction(xi, now);
  }
  m.enforce_no_agents(now);
  return common::ok_status();
}

Status Engine::remove_queue(QueueId id) {
  auto& m = *impl_;
  const std::uint32_t qi = m.queue_idx(id);
  if (qi == kNil) return Error::not_found("unknown queue");
  for (const auto& ix : m.ixs) {
    if (!ix.live) continue;
    for (const auto& t : ix.targets)
      if (t.queue == qi) return Error::conflict("queue still has interactions");
  }
  m.queues[qi].live = false;
  m.rebuild_queue_membership(qi);
  m.queue_index.erase(raw(id));
  m.unstaffed.clear();  // nothing waits in it, and no other queue's staffing changed
  m.update_sticky_horizon();
  return common::ok_status();
}

Status Engine::set_custom_strategy(QueueId id, std::shared_ptr<const Strategy> strategy) {
  auto& m = *impl_;
  const std::uint32_t qi = m.queue_idx(id);
  if (qi == kNil) return Error::not_found("unknown queue");
  QueueRec& q = m.queues[qi];
  q.custom = std::move(strategy);
  q.strategy = q.custom ? q.custom.get() : &builtin_strategy(q.cfg.strategy);
  return common::ok_status();
}

Status Engine::login(AgentId id, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  AgentRec& a = m.agents[ai];
  auto next = transition_status(a.status, StatusInput::kLogin);
  if (!next) return next.error();
  a.status = *next;
  a.misses = 0;
  m.adjust_staffed(ai, +1);
  m.emit_agent(EventType::kAgentLoggedIn, now, a).reason = a.status.reason;
  if (m.agent_cfgs[ai].heartbeat_timeout.count() > 0)
    m.push_timer(now + m.agent_cfgs[ai].heartbeat_timeout, TimerKind::kHeartbeat, ai, ++a.hb_gen);
  m.refresh(ai, now);
  return common::ok_status();
}

Status Engine::set_ready(AgentId id, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  AgentRec& a = m.agents[ai];
  auto next = transition_status(a.status, StatusInput::kReady);
  if (!next) return next.error();
  a.status = *next;
  a.misses = 0;
  m.emit_agent(EventType::kAgentReady, now, a);
  m.refresh(ai, now, /*list=*/false);
  m.dispatch_agent(ai, now);
  m.sync_lists(ai, now);
  return common::ok_status();
}

Status Engine::set_not_ready(AgentId id, ReasonCode reason_code, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  AgentRec& a = m.agents[ai];
  auto next = transition_status(a.status, StatusInput::kNotReady, reason_code);
  if (!next) return next.error();
  a.status = *next;
  m.emit_agent(EventType::kAgentNotReady, now, a).reason = reason_code;
  m.refresh(ai, now);
  return common::ok_status();
}

Status Engine::logout(AgentId id, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  AgentRec& a = m.agents[ai];
  auto next = transition_status(a.status, StatusInput::kLogout);
  if (!next) return next.error();
  if (a.connected > 0 || a.wrapping > 0)
    return Error::conflict("agent has connected or wrap-up interactions");
  // Status first so the withdrawn interactions are not offered straight back.
  m.adjust_staffed(ai, -1);
  a.status = *next;
  m.refresh(ai, now);
  const std::vector<std::uint32_t> held(a.ixs.begin(), a.ixs.end());
  for (std::uint32_t xi : held) m.withdraw(xi, ai, now);
  ++a.hb_gen;
  m.emit_agent(EventType::kAgentLoggedOut, now, a);
  m.refresh(ai, now);
  m.enforce_no_agents(now);
  return common::ok_status();
}

Status Engine::heartbeat(AgentId id, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  AgentRec& a = m.agents[ai];
  if (!m.logged_in(a)) return Error::conflict("agent is logged out");
  if (m.agent_cfgs[ai].heartbeat_timeout.count() > 0)
    m.push_timer(now + m.agent_cfgs[ai].heartbeat_timeout, TimerKind::kHeartbeat, ai, ++a.hb_gen);
  return common::ok_status();
}

Status Engine::reconcile(AgentId id, std::span<const InteractionId> actual, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  const std::vector<std::uint32_t> held(m.agents[ai].ixs.begin(), m.agents[ai].ixs.end());
  for (std::uint32_t xi : held) {
    IxRec& ix = m.ixs[xi];
    if (std::find(actual.begin(), actual.end(), ix.id) != actual.end()) continue;
    if (ix.phase == Phase::kOffered) {
      m.withdraw(xi, ai, now);
    } else if (ix.phase == Phase::kConnected) {
      m.end_conversation(xi, now, false);
      if (m.ixs[xi].live && m.ixs[xi].gen == ix.gen && m.ixs[xi].phase == Phase::kWrapUp)
        m.finish_wrap(xi, now);
    }
  }
  m.refresh(ai, now);
  m.dispatch_agent(ai, now);
  for (const auto& want : actual) {
    const std::uint32_t xi = m.ix_idx(want);
    const auto& mine = m.agents[ai].ixs;
    if (xi == kNil || std::find(mine.begin(), mine.end(), xi) == mine.end())
      return Error::conflict("agent reports an interaction the engine does not attribute to it");
  }
  return common::ok_status();
}

void Engine::start_new_day() {
  for (auto& a : impl_->agents) a.handled_today = 0;
}

Result<EnqueueOutcome> Engine::enqueue(const InteractionSpec& spec, Time now) {
  InteractionHandle ignored;
  return enqueue(spec, now, ignored);
}

Result<EnqueueOutcome> Engine::enqueue(const InteractionSpec& spec, Time now, InteractionHandle& handle) {
  auto& m = *impl_;
  handle = InteractionHandle{};
  now = m.clamp(now);
  if (raw(spec.id) == 0) return Error::invalid("id", "interaction id must be non-zero");
  std::size_t id_hint = 0;
  if (m.ix_index.get(raw(spec.id), &id_hint) != kNil)
    return Error::conflict("interaction is already in routing");
  std::uint32_t qi = m.queue_idx(spec.queue);
  if (qi == kNil) return Error::not_found("unknown queue");
  // The queue's lines, its heap's end and the interaction slot's second
  // line (its first was written when the slot was freed), all written or
  // read below: their misses overlap instead of following one another.
  prefetch_lines(&m.queues[qi], 1);
  prefetch_lines(&m.timing[qi], 1);
  m.prefetch_heap_end(qi);
  if (!m.free_ixs.empty()) __builtin_prefetch(&m.ixs[m.free_ixs.back()].seq, 1);
  if (!spec.required_skills.empty())
    if (auto s = check_levels(spec.required_skills, "required_skills"); !s) return s.error();
  EnqueueOutcome outcome = EnqueueOutcome::kQueued;
  auto reject = [&](Disposition d) {
    Event& e = m.emit(EventType::kRejected, now);
    e.interaction = spec.id;
    e.queue = m.queues[qi].cfg.id;
    e.channel = spec.channel;
    e.arrival = spec.arrival.time_since_epoch().count() != 0 ? spec.arrival : now;
    e.disposition = d;
  };
  if (m.queues[qi].staffed == 0) {
    const QueueConfig& cfg = m.queues[qi].cfg;
    if (cfg.no_agents == NoAgentsPolicy::kReject) {
      reject(Disposition::kNoAgents);
      return EnqueueOutcome::kNoAgents;
    }
    if (cfg.no_agents == NoAgentsPolicy::kRedirect) {
      const std::uint32_t r = m.queue_idx(cfg.no_agents_redirect);
      if (r != kNil && r != qi) {
        qi = r;
        outcome = EnqueueOutcome::kRedirected;
      }
    }
  }
  QueueRec& q = m.queues[qi];
  if (q.max_length > 0 && q.waiting.size() >= q.max_length) {
    reject(Disposition::kQueueFull);
    return EnqueueOutcome::kQueueFull;
  }
  const std::uint32_t xi = m.alloc_ix();
  IxRec& ix = m.ixs[xi];
  ix.id = spec.id;
  ix.home = qi;
  ix.ch = spec.channel;
  ix.priority = spec.priority;
  ix.arrival = spec.arrival.time_since_epoch().count() != 0 ? std::min(spec.arrival, now) : now;
  ix.seq = ++m.ix_seq;
  ix.customer = spec.customer;
  ix.phase = Phase::kWaiting;
  for (const auto& s : spec.required_skills) ix.extra.push_back({m.dense(s.skill), s.level});
  if (q.has_attr_rules)
    for (const auto& [rule, skill] : q.attr_rules)
      for (const auto& at : spec.attributes)
        if (at.key == rule.attribute && at.value == rule.value) ix.extra.push_back(skill);
  ix.has_extra = !ix.extra.empty();
  if (raw(spec.preferred_agent) != 0) {
    const std::uint32_t pa = m.agent_idx(spec.preferred_agent);
    if (pa != kNil && spec.preferred_wait.count() > 0) {
      ix.pref_agent = pa;
      ix.pref_until = now + spec.preferred_wait;
    }
  } else if (q.sticky && spec.customer != 0) {
    const StickyMemory::Entry* last = m.sticky.find(spec.customer);
    if (last && now - last->at <= q.cfg.sticky_window && m.agents[last->agent].live) {
      ix.pref_agent = last->agent;
      ix.pref_until = now + q.cfg.sticky_wait;
    }
  }
  if (ix.pref_agent != kNil) m.push_timer(ix.pref_until, TimerKind::kPref, xi, ix.gen);
  Target home;
  home.queue = qi;
  ix.targets.push_back(home);
  m.ix_index.put_new(raw(spec.id), xi, id_hint);  // nothing changed the index since the lookup
  m.insert_waiting(xi);
  m.emit_ix(EventType::kEnqueued, now, ix);
  const InteractionHandle mine{xi, ix.gen};
  if (m.apply_due(xi, now)) m.dispatch_interaction(xi, now);
  if (m.ix_slot(mine) != kNil) handle = mine;  // not when it left routing at once
  return outcome;
}

Status Engine::schedule_callback(const InteractionSpec& spec, Time at, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  if (raw(spec.id) == 0) return Error::invalid("id", "interaction id must be non-zero");
  if (m.ix_idx(spec.id) != kNil) return Error::conflict("interaction is already in routing");
  const std::uint32_t qi = m.queue_idx(spec.queue);
  if (qi == kNil) return Error::not_found("unknown queue");
  if (auto s = check_levels(spec.required_skills, "required_skills"); !s) return s;
  const std::uint32_t xi = m.alloc_ix();
  IxRec& ix = m.ixs[xi];
  ix.id = spec.id;
  ix.home = qi;
  ix.ch = spec.channel;
  ix.priority = spec.priority;
  ix.arrival = std::max(at, now);
  ix.seq = ++m.ix_seq;
  ix.customer = spec.customer;
  ix.phase = Phase::kScheduled;
  ix.callback = true;
  for (const auto& s : spec.required_skills) ix.extra.push_back({m.dense(s.skill), s.level});
  ix.has_extra = !ix.extra.empty();
  Target home;
  home.queue = qi;
  ix.targets.push_back(home);
  m.ix_index.put(raw(spec.id), xi);
  Event& e = m.emit_ix(EventType::kCallbackQueued, now, ix);
  e.deadline = ix.arrival;
  if (ix.arrival <= now)
    m.activate(xi, now);
  else
    m.push_timer(ix.arrival, TimerKind::kScheduled, xi, ix.gen);
  return common::ok_status();
}

Status Engine::convert_to_callback(InteractionId id, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t xi = m.ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  IxRec& ix = m.ixs[xi];
  if (ix.phase != Phase::kWaiting) return Error::conflict("only a waiting interaction can become a callback");
  if (ix.callback) return Error::conflict("interaction is already a callback");
  ix.callback = true;
  m.emit_ix(EventType::kCallbackQueued, now, ix).deadline = ix.arrival;
  return common::ok_status();
}

Status Engine::answered(InteractionId id, AgentId agent, Time now) {
  auto& m = *impl_;
  const std::uint32_t xi = m.ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  const std::uint32_t ai = m.agent_idx(agent);
  if (ai == kNil) return Error::not_found("unknown agent");
  return m.answer(xi, ai, now);
}

Status Engine::answered(InteractionHandle ix, AgentHandle agent, Time now) {
  auto& m = *impl_;
  const std::uint32_t xi = m.ix_slot(ix);
  if (xi == kNil) return Error::not_found("stale interaction handle");
  const std::uint32_t ai = m.agent_slot(agent);
  if (ai == kNil) return Error::not_found("stale agent handle");
  return m.answer(xi, ai, now);
}

Status Engine::Impl::answer(std::uint32_t xi, std::uint32_t ai, Time now) {
  now = clamp(now);
  IxRec& ix = ixs[xi];
  if (ix.phase != Phase::kOffered || std::find(ix.ringing.begin(), ix.ringing.end(), ai) == ix.ringing.end())
    return Error::conflict("interaction is not ringing this agent");
  set_phase(ix, PhaseInput::kAnswer);
  ++ix.offer_gen;
  // The other agents rung (ring-all), copied into reused scratch space (no
  // allocation per answer); usually there are none. Nothing below re-enters
  // answer(), so the scratch is not reused meanwhile.
  std::vector<std::uint32_t>& others = answer_scratch;
  others.clear();
  if (ix.ringing.size() > 1)
    for (std::uint32_t o : ix.ringing)
      if (o != ai) others.push_back(o);
  ix.ringing.clear();
  AgentRec& a = agents[ai];
  --a.ringing;
  ++a.connected;
  a.misses = 0;
  ix.agent = ai;
  ix.answered_at = now;
  with_agent(emit_ix(EventType::kAnswered, now, ix), ai);
  if (sticky_horizon.count() > 0 && ix.customer != 0) {
    sticky.record(ix.customer, ai, now);
    sticky.prune(now - sticky_horizon);
  }
  refresh(ai, now);
  for (std::uint32_t o : others) {
    with_agent(emit_ix(EventType::kOfferCancelled, now, ix), o);
    --agents[o].ringing;
    release_slot(o, xi);
    refresh(o, now);
  }
  for (std::uint32_t o : others) dispatch_agent(o, now);
  if (a.avail_mask != 0) dispatch_agent(ai, now);  // multi-capacity channels may take more
  return common::ok_status();
}

Status Engine::Impl::end_ringing(std::uint32_t xi, std::uint32_t ai, Time now, EventType type) {
  now = clamp(now);
  IxRec& ix = ixs[xi];
  if (ix.phase != Phase::kOffered || std::find(ix.ringing.begin(), ix.ringing.end(), ai) == ix.ringing.end())
    return Error::conflict("interaction is not ringing this agent");
  miss(xi, ai, type, now, false);
  return common::ok_status();
}

Status Engine::declined(InteractionId id, AgentId agent, Time now) {
  auto& m = *impl_;
  const std::uint32_t xi = m.ix_idx(id);
  const std::uint32_t ai = m.agent_idx(agent);
  if (xi == kNil || ai == kNil) return Error::not_found("unknown interaction or agent");
  return m.end_ringing(xi, ai, now, EventType::kDeclined);
}

Status Engine::no_answer(InteractionId id, AgentId agent, Time now) {
  auto& m = *impl_;
  const std::uint32_t xi = m.ix_idx(id);
  const std::uint32_t ai = m.agent_idx(agent);
  if (xi == kNil || ai == kNil) return Error::not_found("unknown interaction or agent");
  return m.end_ringing(xi, ai, now, EventType::kNoAnswer);
}

Status Engine::declined(InteractionHandle ix, AgentHandle agent, Time now) {
  auto& m = *impl_;
  const std::uint32_t xi = m.ix_slot(ix);
  const std::uint32_t ai = m.agent_slot(agent);
  if (xi == kNil || ai == kNil) return Error::not_found("stale interaction or agent handle");
  return m.end_ringing(xi, ai, now, EventType::kDeclined);
}

Status Engine::no_answer(InteractionHandle ix, AgentHandle agent, Time now) {
  auto& m = *impl_;
  const std::uint32_t xi = m.ix_slot(ix);
  const std::uint32_t ai = m.agent_slot(agent);
  if (xi == kNil || ai == kNil) return Error::not_found("stale interaction or agent handle");
  return m.end_ringing(xi, ai, now, EventType::kNoAnswer);
}

Status Engine::abandoned(InteractionId id, Time now) {
  const std::uint32_t xi = impl_->ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  return impl_->abandon(xi, now);
}

Status Engine::abandoned(InteractionHandle ix, Time now) {
  const std::uint32_t xi = impl_->ix_slot(ix);
  if (xi == kNil) return Error::not_found("stale interaction handle");
  return impl_->abandon(xi, now);
}

Status Engine::Impl::abandon(std::uint32_t xi, Time now) {
  now = clamp(now);
  IxRec& ix = ixs[xi];
  auto next = transition_phase(ix.phase, PhaseInput::kAbandon);
  if (!next) return next.error();
  if (ix.callback && ix.phase != Phase::kScheduled)
    return Error::conflict("a callback cannot be abandoned; it is removed by the agent");
  const std::vector<std::uint32_t> ringing(ix.ringing.begin(), ix.ringing.end());
  remove_waiting(xi);
  for (std::uint32_t ai : ringing) {
    with_agent(emit_ix(EventType::kOfferCancelled, now, ix), ai);
    stop_ringing(xi, ai);
  }
  ix.phase = *next;
  emit_ix(EventType::kAbandoned, now, ix);
  release_ix(xi);
  for (std::uint32_t ai : ringing) refresh(ai, now);
  for (std::uint32_t ai : ringing) dispatch_agent(ai, now);
  return common::ok_status();
}

Status Engine::hold(InteractionId id, bool on_hold, Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  const std::uint32_t xi = m.ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  IxRec& ix = m.ixs[xi];
  if (ix.phase != Phase::kConnected) return Error::conflict("only a connected interaction can be held");
  if (ix.on_hold == on_hold) return Error::conflict(on_hold ? "already on hold" : "not on hold");
  ix.on_hold = on_hold;
  m.with_agent(m.emit_ix(on_hold ? EventType::kHoldStarted : EventType::kHoldEnded, now, ix), ix.agent);
  return common::ok_status();
}

Status Engine::ended(InteractionId id, Time now, bool difficult) {
  const std::uint32_t xi = impl_->ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  return impl_->end(xi, now, difficult);
}

Status Engine::ended(InteractionHandle ix, Time now, bool difficult) {
  const std::uint32_t xi = impl_->ix_slot(ix);
  if (xi == kNil) return Error::not_found("stale interaction handle");
  return impl_->end(xi, now, difficult);
}

Status Engine::Impl::end(std::uint32_t xi, Time now, bool difficult) {
  now = clamp(now);
  if (!next_phase(ixs[xi].phase, PhaseInput::kEnd))
    return transition_phase(ixs[xi].phase, PhaseInput::kEnd).error();
  end_conversation(xi, now, difficult);
  return common::ok_status();
}

Status Engine::wrap_up_done(InteractionId id, Time now) {
  const std::uint32_t xi = impl_->ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  return impl_->wrap_done(xi, now);
}

Status Engine::wrap_up_done(InteractionHandle ix, Time now) {
  const std::uint32_t xi = impl_->ix_slot(ix);
  if (xi == kNil) return Error::not_found("stale interaction handle");
  return impl_->wrap_done(xi, now);
}

Status Engine::Impl::wrap_done(std::uint32_t xi, Time now) {
  now = clamp(now);
  if (!next_phase(ixs[xi].phase, PhaseInput::kWrapDone))
    return transition_phase(ixs[xi].phase, PhaseInput::kWrapDone).error();
  finish_wrap(xi, now);
  return common::ok_status();
}

Result<InteractionHandle> Engine::handle_of(InteractionId id) const {
  const std::uint32_t xi = impl_->ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  return InteractionHandle{xi, impl_->ixs[xi].gen};
}

Result<AgentHandle> Engine::handle_of(AgentId id) const {
  const std::uint32_t ai = impl_->agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  return AgentHandle{ai};
}

void Engine::tick(Time now) {
  auto& m = *impl_;
  now = m.clamp(now);
  while (!m.timers.empty() && m.timers.top().at <= now) {
    const Timer t = m.timers.top();
    m.timers.pop();
    m.fire(t, now);
  }
  if (m.sticky_horizon.count() > 0) m.sticky.prune(now - m.sticky_horizon);
}

std::optional<Time> Engine::next_deadline() const {
  if (impl_->timers.empty()) return std::nullopt;
  return impl_->timers.top().at;
}

std::size_t Engine::drain(std::vector<Event>& out) {
  auto& p = impl_->pending;
  const std::size_t n = p.size();
  if (out.empty() && out.capacity() >= n) {
    // Hand over the buffer instead of copying it: the caller's (big enough)
    // empty buffer becomes the engine's next one.
    out.swap(p);
  } else {
    out.insert(out.end(), p.begin(), p.end());
  }
  p.clear();
  return n;
}

void Engine::discard_events() { impl_->pending.clear(); }
std::size_t Engine::pending_events() const { return impl_->pending.size(); }

Result<AgentSnapshot> Engine::agent(AgentId id) const {
  const auto& m = *impl_;
  const std::uint32_t ai = m.agent_idx(id);
  if (ai == kNil) return Error::not_found("unknown agent");
  const AgentRec& a = m.agents[ai];
  AgentSnapshot s;
  s.id = id;
  s.status = a.status.status;
  s.reason = a.status.reason;
  s.state = a.state;
  for (int c = 0; c < kChannelCount; ++c) s.used[c] = a.used[c];
  s.consecutive_misses = a.misses;
  s.handled_today = a.handled_today;
  for (auto xi : a.ixs) s.interactions.push_back(m.ixs[xi].id);
  return s;
}

Result<QueueSnapshot> Engine::queue(QueueId id, Time now) const {
  const auto& m = *impl_;
  const std::uint32_t qi = m.queue_idx(id);
  if (qi == kNil) return Error::not_found("unknown queue");
  const QueueRec& q = m.queues[qi];
  QueueSnapshot s;
  s.id = id;
  s.waiting = q.waiting.size();
  q.waiting.for_each(m.wait_tokens, [&](const WaitEntry& k) {
    s.longest_wait = std::max(s.longest_wait, Duration(now - k.arrival));
  });
  s.staffed = q.staffed;
  for (auto ai : q.members)
    if (m.agents[ai].avail_mask & bit(q.cfg.channel)) ++s.available;
  s.estimated_wait = m.estimate(qi, q.waiting.size());
  s.recent_handle_seconds = m.timing[qi].aht_s;
  return s;
}

Result<InteractionSnapshot> Engine::interaction(InteractionId id) const {
  const auto& m = *impl_;
  const std::uint32_t xi = m.ix_idx(id);
  if (xi == kNil) return Error::not_found("unknown interaction");
  const IxRec& ix = m.ixs[xi];
  InteractionSnapshot s;
  s.id = id;
  s.phase = ix.phase;
  s.queue = m.queues[ix.home].cfg.id;
  s.arrival = ix.arrival;
  s.priority = ix.priority;
  s.callback = ix.callback;
  s.overflow_steps_applied = ix.steps_applied;
  for (auto ai : ix.ringing) s.ringing.push_back(m.agents[ai].id);
  if (ix.agent != kNil && (ix.phase == Phase::kConnected || ix.phase == Phase::kWrapUp))
    s.agent = m.agents[ix.agent].id;
  return s;
}

Result<Duration> Engine::estimated_wait(QueueId id, std::size_t position) const {
  const std::uint32_t qi = impl_->queue_idx(id);
  if (qi == kNil) return Error::not_found("unknown queue");
  return impl_->estimate(qi, position);
}

std::size_t Engine::agent_count() const { return impl_->agent_index.size(); }
std::size_t Engine::live_interaction_count() const { return impl_->ix_index.size(); }

std::size_t Engine::approximate_memory_bytes() const {
  const auto& m = *impl_;
  std::size_t bytes = m.agents.capacity() * sizeof(AgentRec) + m.epochs.capacity() * 4 +
                      m.ixs.capacity() * (sizeof(IxRec) + 4) + m.queues.capacity() * sizeof(QueueRec) +
                      m.buckets.capacity() * sizeof(Bucket) + m.live_counts.capacity() * sizeof(LevelCounts) +
                      m.timing.capacity() * sizeof(QueueTiming);
  for (const auto& b : m.buckets) bytes += b.entries.capacity() * sizeof(AvailEntry);
  for (const auto& a : m.agents) bytes += a.skills.heap_bytes() + a.queues.heap_bytes() + a.ixs.heap_bytes();
  for (const auto& c : m.agent_cfgs) bytes += sizeof(AgentConfig) + c.skills.capacity() * sizeof(SkillLevel);
  for (const auto& q : m.queues) bytes += q.waiting.bytes() + q.members.capacity() * 4;
  for (const auto& ix : m.ixs)
    bytes += ix.targets.heap_bytes() + ix.extra.capacity() * sizeof(DenseSkill) + ix.ringing.heap_bytes() +
             ix.declined.capacity() * sizeof(Decline);
  bytes += m.sticky.bytes();
  bytes += m.agent_index.bytes() + m.ix_index.bytes() + m.queue_index.bytes() +
           m.heads.capacity() * (sizeof(Head) + sizeof(HeadInfo) + sizeof(HeapSpot) + 8);
  return bytes;
}

std::size_t Engine::sticky_entries() const { return impl_->sticky.customers(); }

std::string Engine::check_invariants() const { return impl_->check(); }

}  // namespace hotline::routing
