// live/live.h — live events for browsers and integrators: agent state,
// queue and call events, fanned out per tenant over the WebSocket route
// GET /api/v1/events (snapshot first, then deltas).
//
// publish() never blocks the caller (the call layer's loop): events go into
// each subscriber's bounded queue; a subscriber that falls behind is
// disconnected (close reason "too slow") rather than slowing anyone down.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "iam/iam.h"

namespace hotline::live {

using nlohmann::json;

struct Event {
  std::int64_t tenant_id = 0;
  std::string type;  // "agent.state", "queue.update", "call.update", …
  // Only subscribers holding this permission see the event (nullopt: any
  // signed-in user of the tenant).
  std::optional<iam::Permission> permission;
  json data;
};

namespace detail {
struct Subscriber;  // implementation-defined (live.cpp)
}

// One subscriber's registration. Destroying it unsubscribes; once the
// destructor returns, neither `deliver` nor `overflow` runs any more (unless
// the destructor runs inside one of them, on that thread).
class Subscription {
 public:
  explicit Subscription(std::shared_ptr<detail::Subscriber> s);  // made by Hub::subscribe
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

 private:
  std::shared_ptr<detail::Subscriber> s_;
};

// Messages a subscriber receives, serialised as JSON text:
//   {"type":"snapshot","seq":S,"data":<SnapshotFn's result, or {}>}   first, once
//   {"type":"<event type>","seq":N,"data":<Event::data>}              then, in seq order
// `seq` counts the tenant's events (strictly increasing; the snapshot's seq is
// the last event it already reflects). Events a subscriber may not see are
// skipped, so gaps in seq are normal; an event it may see is never skipped:
// a subscriber that cannot keep up is dropped instead (see subscribe()).
class Hub {
 public:
  // Builds the first message for a new subscriber: {"type":"snapshot", …}.
  //
  // It runs while publish() for that tenant waits, so that the snapshot and
  // the deltas after it fit together exactly (no delta reflected in the
  // snapshot is delivered, none published after it is lost). Therefore it
  // must not call publish(), and must not wait for a lock or a thread that
  // may itself be waiting in publish(): read your state under your own lock
  // and call publish() after releasing it (applying a delta twice must be
  // harmless: a change made just before a snapshot and published just after
  // it arrives in both).
  //
  // A provider that serves a cached state (built earlier, on the thread that
  // publishes) says which events it reflects: `reflects_seq` is seq(tenant)
  // as it was when the state was built. The hub then replays the events
  // published since, from its short history, after the snapshot. If that
  // history no longer reaches back so far, the subscriber is dropped with
  // overflow("snapshot too old") rather than miss an event.
  struct Snapshot {
    Snapshot(json d = json::object(), std::int64_t reflects = -1)
        : data(std::move(d)), reflects_seq(reflects) {}
    json data;
    std::int64_t reflects_seq = -1;  // -1: reflects every event published so far
  };
  using SnapshotFn = std::function<Snapshot(std::int64_t tenant, const iam::Principal& who)>;
  // Events kept per tenant for replay after a cached snapshot.
  static constexpr std::size_t kHistory = 4096;

  static constexpr std::size_t kDefaultQueueLimit = 1024;  // messages per subscriber

  Hub();
  // `queue_limit`: how many undelivered messages a subscriber may have queued
  // before it is dropped.
  explicit Hub(std::size_t queue_limit);
  ~Hub();
  void set_snapshot_provider(SnapshotFn f);
  void publish(Event e);
  std::size_t subscribers() const;
  // The seq of the tenant's last published event (0 before the first).
  std::int64_t seq(std::int64_t tenant) const;

  // For the WebSocket session (routes_live.cpp): `deliver` is called with
  // each serialised message (never concurrently for one subscription); it
  // must not block for long. Destroying the Subscription unsubscribes.
  //
  // The snapshot is delivered before subscribe() returns (on the calling
  // thread); deltas are delivered on the thread of a publish() call. Each
  // subscriber has a bounded queue (queue_limit); when a delta finds it full
  // the queue is discarded and `overflow("too slow")` is called once instead
  // of any further delivery: the subscriber is gone (it no longer counts in
  // subscribers()) and should close its connection.
  //
  // Filtering: only events of who.tenant_id, and only those whose permission
  // `who` holds (as of this call).
  std::unique_ptr<Subscription> subscribe(const iam::Principal& who, std::function<void(std::string)> deliver,
                                          std::function<void(std::string reason)> overflow);
  // As above, receiving only the event types listed (empty: all types); the
  // snapshot is always delivered.
  std::unique_ptr<Subscription> subscribe(const iam::Principal& who, std::function<void(std::string)> deliver,
                                          std::function<void(std::string reason)> overflow,
                                          std::vector<std::string> types);

  // Re-checks every subscriber's sign-in. `current` returns the principal as
  // it is now, or nullopt when the session has ended (logged out, expired,
  // password changed, user or tenant deactivated). Subscribers whose session
  // ended are dropped: overflow("session ended") is called once, as for a
  // slow one. The others keep going with their current permissions (a role
  // change takes effect on the next event). `current` runs once per
  // distinct session, with no hub lock held; call from any thread.
  using SessionCheck = std::function<std::optional<iam::Principal>(const iam::Principal&)>;
  void revalidate(const SessionCheck& current);
  // The earliest session expiry (ms since the epoch) among subscribers;
  // INT64_MAX when there are none.
  std::int64_t earliest_session_expiry() const;

 private:
  struct Impl;
  std::vector<std::shared_ptr<detail::Subscriber>> all_subscribers() const;
  std::shared_ptr<Impl> impl_;
};

// Keeps open subscriptions in step with sign-in: subscribers whose session
// ended (logout, expiry, new password, user or tenant deactivated) are
// dropped with "session ended" (the WebSocket closes with 1008), the others
// get their current permissions. Checks once per second on `io` when the
// directory's epoch moved or a subscriber's session expired, and every
// `full_check_every` anyway (changes made by another process sharing the
// database). Each check reads every open session from the database once.
class SessionWatcher {
 public:
  SessionWatcher(boost::asio::io_context& io, Hub& hub, iam::Directory& directory, common::Clock& clock,
                 std::chrono::seconds full_check_every = std::chrono::seconds(30));
  // Stops the timer; a check already running on another thread of `io` is
  // waited for.
  ~SessionWatcher();
  SessionWatcher(const SessionWatcher&) = delete;
  SessionWatcher& operator=(const SessionWatcher&) = delete;

  // Checks now, on the calling thread.
  void check_now();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace hotline::live
