#include "live/live.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
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
  iam::PermissionSet permissions;
  std::vector<std::string> types;  // empty: all
  std::function<void(std::string)> deliver;
  std::function<void(std::string)> overflow;

  std::mutex mu;
  std::condition_variable idle;
  std::deque<std::shared_ptr<const std::string>> queue;
  bool delivering = false;
  std::thread::id deliverer;
  bool overflowed = false;
  bool closed = false;  // unsubscribed or dropped: no callback runs any more

  bool wants(const Event& e) const {
    if (e.permission && !permissions.has(*e.permission)) return false;
    return types.empty() || std::find(types.begin(), types.end(), e.type) != types.end();
  }
};

struct Tenant {
  std::shared_ptr<std::atomic<std::size_t>> total;  // the hub's subscriber count
  std::mutex mu;                                    // orders publish() and subscribe() of this tenant
  std::int64_t seq = 0;
  std::vector<std::shared_ptr<Subscriber>> subs;

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
    if (s.overflowed) {
      s.closed = true;
      s.queue.clear();
      lk.unlock();
      s.tenant->remove(&s);
      if (s.overflow) s.overflow("too slow");
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

void Hub::publish(Event e) {
  if (impl_->total->load(std::memory_order_acquire) == 0) return;  // nobody listens anywhere
  auto tenant = impl_->find(e.tenant_id, false);
  if (!tenant) return;
  std::vector<std::shared_ptr<detail::Subscriber>> targets;
  {
    std::lock_guard lock(tenant->mu);
    if (tenant->subs.empty()) return;
    const auto seq = ++tenant->seq;
    for (const auto& s : tenant->subs) {
      if (s->wants(e)) targets.push_back(s);
    }
    if (targets.empty()) return;
    // Serialised once for all subscribers; queued under the tenant lock so
    // every queue receives the tenant's events in seq order.
    auto msg = std::make_shared<const std::string>(
        detail::serialise(json{{"type", e.type}, {"seq", seq}, {"data", std::move(e.data)}}));
    for (const auto& s : targets) {
      std::lock_guard slock(s->mu);
      if (s->closed || s->overflowed) continue;
      if (s->queue.size() >= impl_->queue_limit) {
        s->overflowed = true;
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
  {
    std::lock_guard lock(s->tenant->mu);
    json data = provider ? provider(who.tenant_id, who) : json::object();
    snapshot =
        detail::serialise(json{{"type", "snapshot"}, {"seq", s->tenant->seq}, {"data", std::move(data)}});
    s->tenant->subs.push_back(s);
    impl_->total->fetch_add(1, std::memory_order_release);
  }
  auto sub = std::make_unique<Subscription>(s);
  s->deliver(std::move(snapshot));
  std::unique_lock lk(s->mu);
  detail::run_delivery(*s, lk);
  return sub;
}

}  // namespace hotline::live
