// live::Hub: tenant and permission filtering, ordering, snapshot then deltas,
// overflow, unsubscribe.
#include <gtest/gtest.h>

#include <condition_variable>
#include <latch>
#include <limits>
#include <map>
#include <thread>

#include "live/live.h"

using namespace hotline;
using nlohmann::json;

namespace {

iam::Principal principal(std::int64_t tenant, std::vector<iam::Permission> perms = {}) {
  iam::Principal p;
  p.tenant_id = tenant;
  p.user_id = 1;
  p.username = "u";
  for (auto x : perms) p.permissions.add(x);
  return p;
}

live::Event event(std::int64_t tenant, std::string type, json data,
                  std::optional<iam::Permission> perm = std::nullopt) {
  return live::Event{tenant, std::move(type), perm, std::move(data)};
}

// Collects what a subscription receives; thread-safe.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<json> messages;
  std::vector<std::string> overflows;

  std::function<void(std::string)> deliver() {
    return [this](std::string m) {
      std::lock_guard lock(mu);
      messages.push_back(json::parse(m));
      cv.notify_all();
    };
  }
  std::function<void(std::string)> overflow() {
    return [this](std::string r) {
      std::lock_guard lock(mu);
      overflows.push_back(r);
      cv.notify_all();
    };
  }
  std::vector<json> all() {
    std::lock_guard lock(mu);
    return messages;
  }
  std::vector<std::string> types() {
    std::vector<std::string> out;
    for (auto& m : all()) out.push_back(m["type"]);
    return out;
  }
};

}  // namespace

TEST(Hub, SnapshotComesFirstEmptyWithoutProvider) {
  live::Hub hub;
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  auto m = in.all();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["type"], "snapshot");
  EXPECT_EQ(m[0]["data"], json::object());
  EXPECT_EQ(m[0]["seq"], 0);
  EXPECT_EQ(hub.subscribers(), 1u);
}

TEST(Hub, SnapshotProviderGetsTenantAndPrincipal) {
  live::Hub hub;
  hub.set_snapshot_provider([](std::int64_t tenant, const iam::Principal& who) {
    return json{{"tenant", tenant}, {"user", who.username}};
  });
  Inbox in;
  auto sub = hub.subscribe(principal(7), in.deliver(), in.overflow());
  EXPECT_EQ(in.all().at(0)["data"], (json{{"tenant", 7}, {"user", "u"}}));
}

TEST(Hub, DeliversOnlyTheTenantsEventsInOrder) {
  live::Hub hub;
  Inbox a, b;
  auto sa = hub.subscribe(principal(1), a.deliver(), a.overflow());
  auto sb = hub.subscribe(principal(2), b.deliver(), b.overflow());
  hub.publish(event(1, "agent.state", {{"n", 1}}));
  hub.publish(event(2, "agent.state", {{"n", 100}}));
  hub.publish(event(1, "queue.update", {{"n", 2}}));
  auto ma = a.all();
  ASSERT_EQ(ma.size(), 3u);
  EXPECT_EQ(ma[1], (json{{"type", "agent.state"}, {"seq", 1}, {"data", {{"n", 1}}}}));
  EXPECT_EQ(ma[2], (json{{"type", "queue.update"}, {"seq", 2}, {"data", {{"n", 2}}}}));
  auto mb = b.all();
  ASSERT_EQ(mb.size(), 2u);
  EXPECT_EQ(mb[1]["data"]["n"], 100);
  EXPECT_EQ(mb[1]["seq"], 1);  // seq is per tenant
}

TEST(Hub, EventsNeedingAPermissionReachOnlyHolders) {
  live::Hub hub;
  Inbox agent, supervisor;
  auto s1 = hub.subscribe(principal(1), agent.deliver(), agent.overflow());
  auto s2 =
      hub.subscribe(principal(1, {iam::Permission::QueuesRead}), supervisor.deliver(), supervisor.overflow());
  hub.publish(event(1, "queue.update", {{"q", 1}}, iam::Permission::QueuesRead));
  hub.publish(event(1, "agent.state", {{"a", 1}}));
  EXPECT_EQ(agent.types(), (std::vector<std::string>{"snapshot", "agent.state"}));
  EXPECT_EQ(supervisor.types(), (std::vector<std::string>{"snapshot", "queue.update", "agent.state"}));
  // The agent sees a gap in seq: the event it may not see.
  EXPECT_EQ(agent.all()[1]["seq"], 2);
}

TEST(Hub, TypeFilterKeepsTheSnapshot) {
  live::Hub hub;
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow(), {"queue.update"});
  hub.publish(event(1, "agent.state", {}));
  hub.publish(event(1, "queue.update", {}));
  EXPECT_EQ(in.types(), (std::vector<std::string>{"snapshot", "queue.update"}));
}

TEST(Hub, SnapshotThenEveryLaterDeltaExactlyOnceWithConcurrentPublishers) {
  // The state lives under `mu`; publishers publish after releasing it, as
  // the snapshot contract asks. Each event carries the full state (a
  // counter), so the subscriber can check that snapshot + deltas add up.
  live::Hub hub(1 << 20);  // no overflow here: that is tested below
  std::mutex mu;
  std::vector<std::int64_t> counters(4, 0);
  hub.set_snapshot_provider([&](std::int64_t, const iam::Principal&) {
    std::lock_guard lock(mu);
    return json(counters);
  });
  constexpr int kPerThread = 2000;
  std::latch start(5);
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 1; i <= kPerThread; ++i) {
        {
          std::lock_guard lock(mu);
          counters[t] = i;
        }
        hub.publish(event(1, "counter", {{"thread", t}, {"value", i}}));
      }
    });
  }
  // One subscriber keeps the tenant busy from the start, so seq advances.
  Inbox early;
  auto s0 = hub.subscribe(principal(1), early.deliver(), early.overflow());
  start.arrive_and_wait();
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  for (auto& p : publishers) p.join();
  auto m = in.all();
  ASSERT_FALSE(m.empty());
  ASSERT_EQ(m[0]["type"], "snapshot");
  auto state = m[0]["data"].get<std::vector<std::int64_t>>();
  std::int64_t last_seq = m[0]["seq"];
  for (std::size_t i = 1; i < m.size(); ++i) {
    EXPECT_GT(m[i]["seq"].get<std::int64_t>(), last_seq);
    last_seq = m[i]["seq"];
    int t = m[i]["data"]["thread"];
    std::int64_t v = m[i]["data"]["value"];
    // A delta is never older than the state already held: each thread's
    // values arrive increasing, with at most the one in-flight change also
    // reflected in the snapshot.
    EXPECT_GE(v, state[t]) << "stale delta";
    EXPECT_LE(v, state[t] + 1) << "lost delta";
    state[t] = v;
  }
  EXPECT_EQ(state, std::vector<std::int64_t>(4, kPerThread));
  EXPECT_TRUE(in.overflows.empty());
}

TEST(Hub, SeqIsStrictlyIncreasingAcrossConcurrentPublishers) {
  live::Hub hub(1 << 20);
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  std::vector<std::thread> publishers;
  for (int t = 0; t < 4; ++t) {
    publishers.emplace_back([&] {
      for (int i = 0; i < 500; ++i) hub.publish(event(1, "x", {}));
    });
  }
  for (auto& p : publishers) p.join();
  auto m = in.all();
  ASSERT_EQ(m.size(), 2001u);
  for (std::size_t i = 1; i < m.size(); ++i) EXPECT_EQ(m[i]["seq"], static_cast<std::int64_t>(i));
  EXPECT_TRUE(in.overflows.empty());
}

TEST(Hub, FullQueueDropsTheSubscriberOnce) {
  live::Hub hub(8);
  // The first delta blocks in deliver until released: everything published
  // meanwhile queues up behind it.
  std::mutex mu;
  std::condition_variable cv;
  bool inside = false, release = false;
  std::vector<std::string> got;
  std::vector<std::string> reasons;
  auto sub = hub.subscribe(
      principal(1),
      [&](std::string m) {
        std::unique_lock lock(mu);
        got.push_back(m);
        if (got.size() == 2) {
          inside = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
        }
      },
      [&](std::string reason) {
        std::lock_guard lock(mu);
        reasons.push_back(reason);
      });
  Inbox healthy;
  auto other = hub.subscribe(principal(1), healthy.deliver(), healthy.overflow());
  std::thread slow_publisher([&] { hub.publish(event(1, "x", {{"i", 0}})); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return inside; });
  }
  for (int i = 1; i <= 20; ++i) hub.publish(event(1, "x", {{"i", i}}));  // never blocks
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  slow_publisher.join();
  EXPECT_EQ(reasons, std::vector<std::string>{"too slow"});
  EXPECT_EQ(got.size(), 2u) << "nothing is delivered after the overflow";
  EXPECT_EQ(hub.subscribers(), 1u);
  hub.publish(event(1, "x", {}));
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(healthy.all().size(), 23u);  // snapshot + 22 events: the others are unaffected
}

TEST(Hub, DestroyingTheSubscriptionUnsubscribes) {
  live::Hub hub;
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  hub.publish(event(1, "x", {}));
  sub.reset();
  EXPECT_EQ(hub.subscribers(), 0u);
  hub.publish(event(1, "x", {}));
  EXPECT_EQ(in.all().size(), 2u);
}

TEST(Hub, NoDeliveryAfterDestructionReturnsEvenWhileAPublisherIsDelivering) {
  live::Hub hub;
  std::mutex mu;
  std::condition_variable cv;
  bool inside = false, release = false, destroyed = false;
  int after_destruction = 0;
  auto sub = hub.subscribe(
      principal(1),
      [&](std::string m) {
        if (json::parse(m)["type"] == "snapshot") return;
        std::unique_lock lock(mu);
        if (destroyed) ++after_destruction;
        inside = true;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
      },
      [](std::string) {});
  std::thread publisher([&] { hub.publish(event(1, "x", {})); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return inside; });
  }
  hub.publish(event(1, "x", {}));  // queued behind the delivery in progress
  std::thread destroyer([&] {
    sub.reset();  // waits for the delivery in progress, drops the queued one
    std::lock_guard lock(mu);
    destroyed = true;
  });
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  destroyer.join();
  publisher.join();
  hub.publish(event(1, "x", {}));
  EXPECT_EQ(after_destruction, 0);
  EXPECT_EQ(hub.subscribers(), 0u);
}

TEST(Hub, SubscriptionMayOutliveTheHub) {
  Inbox in;
  std::unique_ptr<live::Subscription> sub;
  {
    live::Hub hub;
    sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  }
  sub.reset();  // no crash, no leak (ASan builds check)
  EXPECT_EQ(in.all().size(), 1u);
}

TEST(Hub, EventsWithoutSubscribersStillCount) {
  live::Hub hub;
  hub.publish(event(1, "x", {{"big", std::string(1000, 'x')}}));
  EXPECT_EQ(hub.subscribers(), 0u);
  EXPECT_EQ(hub.seq(1), 1);
  EXPECT_EQ(hub.seq(2), 0);
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  // A provider without reflects_seq reflects everything: nothing replayed.
  EXPECT_EQ(in.types(), std::vector<std::string>{"snapshot"});
  EXPECT_EQ(in.all().at(0)["seq"], 1);
}

// A snapshot cached before some events: those events follow it, in order,
// filtered like any delta; the ones it reflects do not.
TEST(Hub, CachedSnapshotIsBroughtUpToDateFromHistory) {
  live::Hub hub;
  hub.publish(event(1, "agent.state", {{"n", 1}}));  // seq 1: in the cached state
  const std::int64_t cached_at = hub.seq(1);
  hub.publish(event(1, "agent.state", {{"n", 2}}));                                // seq 2
  hub.publish(event(1, "call.update", {{"n", 3}}, iam::Permission::ReportsRead));  // seq 3, not for agents
  hub.publish(event(2, "agent.state", {{"n", 99}}));                               // another tenant
  hub.publish(event(1, "agent.state", {{"n", 4}}));                                // seq 4
  hub.set_snapshot_provider([cached_at](std::int64_t, const iam::Principal&) {
    return live::Hub::Snapshot{json{{"cached", true}}, cached_at};
  });
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  auto got = in.all();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]["type"], "snapshot");
  EXPECT_EQ(got[0]["seq"], 1) << "the snapshot says what it reflects";
  EXPECT_EQ(got[1]["seq"], 2);
  EXPECT_EQ(got[2]["seq"], 4);
  hub.publish(event(1, "agent.state", {{"n", 5}}));
  EXPECT_EQ(in.all().back()["seq"], 5);
}

TEST(Hub, SnapshotOlderThanTheHistoryDropsTheSubscriber) {
  live::Hub hub;
  hub.set_snapshot_provider([](std::int64_t, const iam::Principal&) {
    return live::Hub::Snapshot{json::object(), 0};
  });
  for (std::size_t i = 0; i < live::Hub::kHistory + 10; ++i) hub.publish(event(1, "x", {{"i", i}}));
  Inbox in;
  auto sub = hub.subscribe(principal(1), in.deliver(), in.overflow());
  EXPECT_TRUE(in.all().empty()) << "no snapshot that would miss events";
  EXPECT_EQ(in.overflows, std::vector<std::string>{"snapshot too old"});
  EXPECT_EQ(hub.subscribers(), 0u);
  hub.publish(event(1, "x", {}));
  EXPECT_TRUE(in.all().empty());
}

namespace {
iam::Principal session_principal(std::int64_t session, std::int64_t user,
                                 std::vector<iam::Permission> perms = {}) {
  auto p = principal(1, std::move(perms));
  p.session_id = session;
  p.user_id = user;
  p.session_expires_ms = 1000 * session;
  return p;
}
}  // namespace

TEST(Hub, RevalidateDropsEndedSessionsOnceAndKeepsTheOthers) {
  live::Hub hub;
  Inbox ended, kept, same_session;
  auto a = hub.subscribe(session_principal(7, 1), ended.deliver(), ended.overflow());
  auto b = hub.subscribe(session_principal(8, 2), kept.deliver(), kept.overflow());
  auto c = hub.subscribe(session_principal(7, 1), same_session.deliver(), same_session.overflow());
  std::map<std::int64_t, int> asked;
  auto check = [&](const iam::Principal& p) -> std::optional<iam::Principal> {
    ++asked[p.session_id];
    if (p.session_id == 7) return std::nullopt;  // logged out
    return p;
  };
  hub.revalidate(check);
  EXPECT_EQ(asked[7], 1) << "one check per session, not per subscriber";
  EXPECT_EQ(asked[8], 1);
  EXPECT_EQ(ended.overflows, std::vector<std::string>{"session ended"});
  EXPECT_EQ(same_session.overflows, std::vector<std::string>{"session ended"});
  EXPECT_TRUE(kept.overflows.empty());
  EXPECT_EQ(hub.subscribers(), 1u);
  hub.publish(event(1, "x", {}));
  EXPECT_EQ(kept.types(), (std::vector<std::string>{"snapshot", "x"}));
  EXPECT_EQ(ended.types(), std::vector<std::string>{"snapshot"}) << "nothing after the drop";
  hub.revalidate(check);
  EXPECT_EQ(ended.overflows.size(), 1u) << "dropped once";
}

TEST(Hub, RevalidateAppliesCurrentPermissions) {
  live::Hub hub;
  Inbox inbox;
  auto sub = hub.subscribe(session_principal(3, 1), inbox.deliver(), inbox.overflow());
  hub.publish(event(1, "call.update", {{"n", 1}}, iam::Permission::ReportsRead));
  // Granted a role that reads reports: the next events arrive.
  hub.revalidate([](const iam::Principal& p) -> std::optional<iam::Principal> {
    auto now = p;
    now.permissions.add(iam::Permission::ReportsRead);
    return now;
  });
  hub.publish(event(1, "call.update", {{"n", 2}}, iam::Permission::ReportsRead));
  auto got = inbox.all();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1]["data"]["n"], 2);
  // And revoked again: nothing more.
  hub.revalidate([](const iam::Principal& p) -> std::optional<iam::Principal> {
    auto now = p;
    now.permissions = {};
    return now;
  });
  hub.publish(event(1, "call.update", {{"n", 3}}, iam::Permission::ReportsRead));
  EXPECT_EQ(inbox.all().size(), 2u);
}

TEST(Hub, RevalidateRejectsAnotherUsersPrincipal) {
  live::Hub hub;
  Inbox inbox;
  auto sub = hub.subscribe(session_principal(3, 1), inbox.deliver(), inbox.overflow());
  hub.revalidate([](const iam::Principal& p) -> std::optional<iam::Principal> {
    auto other = p;
    other.user_id = 99;  // a session id reused for someone else must not carry over
    return other;
  });
  EXPECT_EQ(inbox.overflows, std::vector<std::string>{"session ended"});
}

TEST(Hub, EarliestSessionExpiry) {
  live::Hub hub;
  EXPECT_EQ(hub.earliest_session_expiry(), std::numeric_limits<std::int64_t>::max());
  Inbox a, b;
  auto s1 = hub.subscribe(session_principal(5, 1), a.deliver(), a.overflow());
  auto s2 = hub.subscribe(session_principal(2, 2), b.deliver(), b.overflow());
  EXPECT_EQ(hub.earliest_session_expiry(), 2000);
  s2.reset();
  EXPECT_EQ(hub.earliest_session_expiry(), 5000);
}
