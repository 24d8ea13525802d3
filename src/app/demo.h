// app/demo.h — the demo contact center `make run` seeds into a tenant:
// number 400 with a Chinese/English IVR (1 sales, 2 support, 9 English),
// queues sales and support, agents on extensions 1001–1005, one VIP
// customer, reason and wrap-up codes, a 24/7 business calendar "main" (edit
// it to try the closed-hours branch) and a "loopback" trunk for SIP test
// tools on this machine. Idempotent: what exists already is left alone.
#pragma once

#include <cstdint>
#include <ostream>

#include "center/center.h"
#include "iam/iam.h"

namespace hotline::app {

// Returns the number of objects created.
int seed_demo(center::Repository& repo, std::int64_t tenant, const iam::Actor& actor, std::ostream& log);

// The demo IVR flow (also used by tests).
center::json demo_flow();

}  // namespace hotline::app
