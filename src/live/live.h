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

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

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

class Subscription;

class Hub {
 public:
  // Builds the first message for a new subscriber: {"type":"snapshot", …}.
  using SnapshotFn = std::function<json(std::int64_t tenant, const iam::Principal& who)>;

  Hub();
  ~Hub();
  void set_snapshot_provider(SnapshotFn f);
  void publish(Event e);
  std::size_t subscribers() const;

  // For the WebSocket session (routes_live.cpp): `deliver` is called with
  // each serialised message (never concurrently for one subscription); it
  // must not block for long. Destroying the Subscription unsubscribes.
  std::unique_ptr<Subscription> subscribe(const iam::Principal& who, std::function<void(std::string)> deliver,
                                          std::function<void(std::string reason)> overflow);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hotline::live
