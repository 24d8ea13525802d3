// app/serve.h — `hotline serve`: wires storage, identity, API and HTTP.
#pragma once

#include "app/config.h"

namespace hotline::app {

// Runs the server until SIGINT or SIGTERM, then drains: stops accepting,
// lets in-flight requests finish (up to http.drain_timeout_s) and returns 0.
// Prints "listening http=<url>" to stdout once the port is bound (tests
// start it on port 0 and read the real port from that line).
int serve(const Config& config);

// Logging as the config says: text or JSON lines on stderr, plus the
// "access" logger for one line per HTTP request.
void setup_logging(const Config& config);

}  // namespace hotline::app
