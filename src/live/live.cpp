#include "live/live.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <limits>
#include <thread>

namespace hotline::live {

namespace detail {

struct Tenant;

// One subscriber. Delivery uses a token (`delivering`): whichever thread
// finds the token free takes it and delivers everything queued, in order,
// so that callbacks never run concurrently and publishers never wait for
// one another's subscribers.
struct Subscriber {
  std::shared_ptr<Tenant> tenant;
  iam::Principal who;              // as of subscribe() or the last revalidate()
  iam::PermissionSet permissions;  // who.permissions, read by publish() under the tenant lock
  std::vector<std::string> types;  // empty: all
  std::function<void(std::string)> deliver;
  std::function<void(std::string)> overflow;

  std::mutex mu;
  std::condition_variable idle;
  std::deque<std::shared_ptr<const std::string>> queue;
  bool delivering = false;
  std::thread::id deliverer;
  std::string drop_reason;  // set: drop at the next delivery ("too slow", "session ended")
  bool closed = false;      // unsubscribed or dropped: no callback runs any more

  bool wants(const std::string& type, const std::optional<iam::Permission>& permission) const {
    if (permission && !permissions.has(*permission)) return false;
    return types.empty() || std::find(types.begin(), types.end(), type) != types.end();
  }
};

// A published event kept for replay after a cached snapshot.
struct Past {
  std::int64_t seq;
  std::chrono::steady_clock::time_point at;
  std::string type;
  std::optional<iam::Permission> permission;
  std::shared_ptr<const std::string> msg;
};

struct Tenant {
  std::shared_ptr<std::atomic<std::size_t>> total;  // the hub's subscriber count
  std::mutex mu;                                    // orders publish() and subscribe() of this tenant
  std::int64_t seq = 0;
  std::vector<std::shared_ptr<Subscriber>> subs;
  // The last events (at most Hub::kHistory, none older than kHistoryAge):
  // enough to bring a snapshot cached a moment ago up to date.
  std::deque<Past> history;
  static constexpr auto kHistoryAge = std::chrono::seconds(5);

  void prune(std::chrono::steady_clock::time_point now) {
    while (!history.empty() && (history.size() > Hub::kHistory || now - history.front().at > kHistoryAge))
      history.pop_front();
  }

  void remove(const Subscriber* s) {
    std::lock_guard lock(mu);
    auto it = std::find_if(subs.begin(), subs.end(), [s](const auto& p) { return p.get() == s; });
    if (it == subs.end()) return;
    subs.erase(it);
    total->fetch_sub(1);
  }
};

namespace {

// Delivers what is queued. Called with `lk` held and the token taken;
// returns the token.
void run_delivery(Subscriber& s, std::unique_lock<std::mutex>& lk) {
  while (!s.closed) {
    if (!s.drop_reason.empty()) {
      s.closed = true;
      s.queue.clear();
      std::string reason = s.drop_reason;
      lk.unlock();
      s.tenant->remove(&s);
      if (s.overflow) s.overflow(reason);
      lk.lock();
      break;
    }
    if (s.queue.empty()) break;
    auto msg = std::move(s.queue.front());
    s.queue.pop_front();
    lk.unlock();
    s.deliver(*msg);
    lk.lock();
  }
  s.delivering = false;
  s.deliverer = {};
  s.idle.notify_all();
}

void deliver_queued(Subscriber& s) {
  std::unique_lock lk(s.mu);
  if (s.delivering) return;  // the token holder delivers what we queued
  s.delivering = true;
  s.deliverer = std::this_thread::get_id();
  run_delivery(s, lk);
}

std::string serialise(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace
}  // namespace detail

struct Hub::Impl {
  std::size_t queue_limit = kDefaultQueueLimit;
  std::shared_ptr<std::atomic<std::size_t>> total = std::make_shared<std::atomic<std::size_t>>(0);
  mutable std::mutex mu;  // guards tenants and snapshot
  // Tenants are never erased: their seq must keep increasing.
  std::unordered_map<std::int64_t, std::shared_ptr<detail::Tenant>> tenants;
  SnapshotFn snapshot;

  std::shared_ptr<detail::Tenant> find(std::int64_t id, bool create) {
    std::lock_guard lock(mu);
    auto it = tenants.find(id);
    if (it != tenants.end()) return it->second;
    if (!create) return nullptr;
    auto t = std::make_shared<detail::Tenant>();
    t->total = total;
    tenants.emplace(id, t);
    return t;
  }
};

Subscription::Subscription(std::shared_ptr<detail::Subscriber> s) : s_(std::move(s)) {}

Subscription::~Subscription() {
  s_->tenant->remove(s_.get());
  std::unique_lock lk(s_->mu);
  s_->closed = true;
  s_->queue.clear();
  if (s_->delivering && s_->deliverer == std::this_thread::get_id()) return;  // inside a callback
  s_->idle.wait(lk, [this] { return !s_->delivering; });
  // Release what the callbacks captured now, not when the last publisher lets go.
  s_->deliver = nullptr;
  s_->overflow = nullptr;
}

Hub::Hub() : impl_(std::make_shared<Impl>()) {}
Hub::Hub(std::size_t queue_limit) : Hub() { impl_->queue_limit = std::max<std::size_t>(1, queue_limit); }
Hub::~Hub() = default;

void Hub::set_snapshot_provider(SnapshotFn f) {
  std::lock_guard lock(impl_->mu);
  impl_->snapshot = std::move(f);
}

std::size_t Hub::subscribers() const { return impl_->total->load(); }

std::int64_t Hub::seq(std::int64_t tenant) const {
  auto t = impl_->find(tenant, false);
  if (!t) return 0;
  std::lock_guard lock(t->mu);
  return t->seq;
}

void Hub::publish(Event e) {
  // Counted and kept even with nobody listening: a subscriber's cached
  // snapshot may predate this event (see Snapshot::reflects_seq).
  auto tenant = impl_->find(e.tenant_id, true);
  std::vector<std::shared_ptr<detail::Subscriber>> targets;
  {
    std::lock_guard lock(tenant->mu);
    const auto seq = ++tenant->seq;
    const auto now = std::chrono::steady_clock::now();
    // Serialised once for all subscribers; queued under the tenant lock so
    // every queue receives the tenant's events in seq order.
    auto msg = std::make_shared<const std::string>(
        detail::serialise(json{{"type", e.type}, {"seq", seq}, {"data", std::move(e.data)}}));
    tenant->history.push_back(detail::Past{seq, now, e.type, e.permission, msg});
    tenant->prune(now);
    for (const auto& s : tenant->subs) {
      if (s->wants(e.type, e.permission)) targets.push_back(s);
    }
    if (targets.empty()) return;
    for (const auto& s : targets) {
      std::lock_guard slock(s->mu);
      if (s->closed || !s->drop_reason.empty()) continue;
      if (s->queue.size() >= impl_->queue_limit) {
        s->drop_reason = "too slow";
      } else {
        s->queue.push_back(msg);
      }
    }
  }
  for (const auto& s : targets) detail::deliver_queued(*s);
}

std::unique_ptr<Subscription> Hub::subscribe(const iam::Principal& who,
                                             std::function<void(std::string)> deliver,
                                             std::function<void(std::string reason)> overflow) {
  return subscribe(who, std::move(deliver), std::move(overflow), {});
}

std::unique_ptr<Subscription> Hub::subscribe(const iam::Principal& who,
                                             std::function<void(std::string)> deliver,
                                             std::function<void(std::string reason)> overflow,
                                             std::vector<std::string> types) {
  auto s = std::make_shared<detail::Subscriber>();
  s->tenant = impl_->find(who.tenant_id, true);
  s->who = who;
  s->permissions = who.permissions;
  s->types = std::move(types);
  s->deliver = std::move(deliver);
  s->overflow = std::move(overflow);
  // This thread holds the delivery token from the start: deltas published
  // from now on queue up behind the snapshot.
  s->delivering = true;
  s->deliverer = std::this_thread::get_id();
  SnapshotFn provider;
  {
    std::lock_guard lock(impl_->mu);
    provider = impl_->snapshot;
  }
  std::string snapshot;
  bool too_old = false;
  {
    auto& t = *s->tenant;
    std::lock_guard lock(t.mu);
    Snapshot snap = provider ? provider(who.tenant_id, who) : Snapshot{};
    const std::int64_t base = snap.reflects_seq < 0 || snap.reflects_seq > t.seq ? t.seq : snap.reflects_seq;
    t.prune(std::chrono::steady_clock::now());
    too_old = base < t.seq && (t.history.empty() || t.history.front().seq > base + 1);
    if (!too_old) {
      // Events the cached state does not reflect yet come right after it.
      for (const auto& p : t.history)
        if (p.seq > base && s->wants(p.type, p.permission)) s->queue.push_back(p.msg);
      if (s->queue.size() > impl_->queue_limit) s->drop_reason = "too slow";
      snapshot = detail::serialise(json{{"type", "snapshot"}, {"seq", base}, {"data", std::move(snap.data)}});
      t.subs.push_back(s);
      impl_->total->fetch_add(1, std::memory_order_release);
    }
  }
  auto sub = std::make_unique<Subscription>(s);
  if (too_old) {
    // Nothing was delivered and the subscriber was never added.
    std::unique_lock lk(s->mu);
    s->closed = true;
    s->delivering = false;
    lk.unlock();
    if (s->overflow) s->overflow("snapshot too old");
    return sub;
  }
  s->deliver(std::move(snapshot));
  std::unique_lock lk(s->mu);
  detail::run_delivery(*s, lk);
  return sub;
}

std::vector<std::shared_ptr<detail::Subscriber>> Hub::all_subscribers() const {
  std::vector<std::shared_ptr<detail::Tenant>> tenants;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [id, t] : impl_->tenants) tenants.push_back(t);
  }
  std::vector<std::shared_ptr<detail::Subscriber>> out;
  for (const auto& t : tenants) {
    std::lock_guard lock(t->mu);
    out.insert(out.end(), t->subs.begin(), t->subs.end());
  }
  return out;
}

void Hub::revalidate(const SessionCheck& current) {
  auto subs = all_subscribers();
  // One check per session (a user may have several tabs open).
  std::unordered_map<std::int64_t, std::optional<iam::Principal>> checked;
  for (const auto& s : subs) {
    iam::Principal who;
    {
      std::lock_guard lock(s->tenant->mu);
      who = s->who;
    }
    auto it = checked.find(who.session_id);
    if (it == checked.end()) it = checked.emplace(who.session_id, current(who)).first;
    const auto& now = it->second;
    if (now && now->tenant_id == who.tenant_id && now->user_id == who.user_id) {
      std::lock_guard lock(s->tenant->mu);
      s->who = *now;
      s->permissions = now->permissions;
      continue;
    }
    {
      std::lock_guard lock(s->mu);
      if (s->closed || !s->drop_reason.empty()) continue;
      s->drop_reason = "session ended";
      s->queue.clear();
    }
    detail::deliver_queued(*s);
  }
}

std::int64_t Hub::earliest_session_expiry() const {
  std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
  for (const auto& s : all_subscribers()) {
    std::lock_guard lock(s->tenant->mu);
    if (s->who.session_expires_ms > 0) earliest = std::min(earliest, s->who.session_expires_ms);
  }
  return earliest;
}

struct SessionWatcher::State : std::enable_shared_from_this<State> {
  State(boost::asio::io_context& io, Hub& h, iam::Directory& d, common::Clock& c, std::chrono::seconds every)
      : timer(io), hub(h), directory(d), clock(c), full_every(every) {}
  boost::asio::steady_timer timer;
  Hub& hub;
  iam::Directory& directory;
  common::Clock& clock;
  std::chrono::seconds full_every;
  std::mutex mu;  // one check at a time; held by a running check
  bool stopped = false;
  std::uint64_t seen_epoch = 0;
  std::chrono::steady_clock::time_point last_full{};

  void check(bool force) {
    std::lock_guard lock(mu);
    if (stopped) return;
    const auto now = std::chrono::steady_clock::now();
    const bool full =
        force || clock.wall_ms() >= hub.earliest_session_expiry() || now - last_full >= full_every;
    if (!full && directory.epoch() == seen_epoch) return;
    if (hub.subscribers() == 0) return;
    // Between full checks only the sessions a change names are re-read.
    const iam::Directory::Changes changes = directory.changes_since(seen_epoch);
    seen_epoch = changes.epoch;
    const bool all = full || changes.everything;
    if (all) last_full = now;
    auto named = [&](const iam::Principal& p) {
      return std::find(changes.sessions.begin(), changes.sessions.end(), p.session_id) !=
                 changes.sessions.end() ||
             std::find(changes.users.begin(), changes.users.end(), p.user_id) != changes.users.end();
    };
    try {
      hub.revalidate([&](const iam::Principal& p) -> std::optional<iam::Principal> {
        if (!all && !named(p)) return p;
        return directory.session_principal(p.session_id);
      });
    } catch (const std::exception& e) {
      spdlog::warn("live: checking open sessions failed (will retry): {}", e.what());
      seen_epoch = 0;  // retry at the next tick
    }
  }

  void arm() {
    timer.expires_after(std::chrono::seconds(1));
    std::weak_ptr<State> weak = shared_from_this();
    timer.async_wait([weak](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->check(false);
      std::lock_guard lock(self->mu);
      if (!self->stopped) self->arm();
    });
  }
};

SessionWatcher::SessionWatcher(boost::asio::io_context& io, Hub& hub, iam::Directory& directory,
                               common::Clock& clock, std::chrono::seconds full_check_every)
    : state_(std::make_shared<State>(io, hub, directory, clock, full_check_every)) {
  state_->seen_epoch = directory.epoch();
  state_->last_full = std::chrono::steady_clock::now();
  std::lock_guard lock(state_->mu);
  state_->arm();
}

SessionWatcher::~SessionWatcher() {
  std::lock_guard lock(state_->mu);  // waits for a running check
  state_->stopped = true;
  state_->timer.cancel();
}

void SessionWatcher::check_now() { state_->check(true); }

}  // namespace hotline::live
