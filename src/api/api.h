// api/api.h — Hotline's REST API under /api/v1, plus /healthz, /readyz,
// /metrics and /api/v1/openapi.json.
//
// `Api::handle` is the HttpServer handler: it assigns a request id, matches
// the route, authenticates (Authorization: Bearer <token>), checks the
// route's permission, runs the handler and maps every failure to one error
// shape: {"error":{"code":"...","message":"...","details":{...}}}.
//
//   api::Api api(directory, db, metrics, clock, {.version = "0.1.0"});
//   api::HttpServer server(io, options, api.handler(), api.error_responder());
//
// Thread-safety: handle() may run on several threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "api/http_server.h"
#include "api/router.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "iam/extensions.h"
#include "iam/iam.h"
#include "store/database.h"

namespace hotline::center {
class Repository;
}
namespace hotline::records {
class Store;
}
namespace hotline::live {
class Hub;
}
namespace hotline::call {
class CallCenter;
}

namespace hotline::api {

// The contact-center services behind the issue-6 routes. Each may be null
// (tests of the foundation); their routes then answer 503 "unavailable".
struct ApiServices {
  center::Repository* center = nullptr;  // configuration (routes_center.cpp)
  records::Store* records = nullptr;     // call records, recordings (routes_records.cpp)
  live::Hub* live = nullptr;             // live events WebSocket (routes_live.cpp)
  call::CallCenter* calls = nullptr;     // agent status, realtime stats (routes_call.cpp)
};

struct ApiOptions {
  std::string version = "0.0.0";
  bool access_log = true;
  std::string sip_realm = "hotline";            // realm extension HA1s are made for
  std::function<void()> on_extensions_changed;  // e.g. reload the SIP registrar's credentials
  ApiServices services;
};

class Api {
 public:
  Api(iam::Directory& directory, iam::Extensions& extensions, store::Database& db,
      common::MetricsRegistry& metrics, common::Clock& clock, ApiOptions options);

  Response handle(Request&& req, const Peer& peer);
  Response error_response(unsigned status, const std::string& code, const std::string& message,
                          const std::string& request_id = "");

  Handler handler() {
    return [this](Request&& r, const Peer& p) { return handle(std::move(r), p); };
  }
  ErrorResponder error_responder() {
    return [this](unsigned s, const std::string& c, const std::string& m) { return error_response(s, c, m); };
  }

  const Router& router() const { return router_; }
  json openapi() const { return router_.openapi(options_.version); }

  // Readiness: false while draining or when the database does not answer.
  void set_draining(bool v) { draining_.store(v); }

 private:
  void add_system_routes();
  void add_auth_routes();
  void add_user_routes();
  void add_role_routes();
  void add_audit_routes();
  void add_extension_routes();
  void add_center_routes();   // routes_center.cpp
  void add_records_routes();  // routes_records.cpp
  void add_live_routes();     // routes_live.cpp
  void add_call_routes();     // routes_call.cpp
  Reply dispatch(RequestContext& ctx, const Router::Match& m);
  Response to_response(const Request& req, Reply reply, const std::string& request_id);
  void observe(const Request& req, const std::string& route, unsigned status, double seconds);

  iam::Directory& dir_;
  iam::Extensions& extensions_;
  store::Database& db_;
  common::MetricsRegistry& metrics_;
  common::Clock& clock_;
  ApiOptions options_;
  Router router_;
  std::atomic<bool> draining_{false};
  struct SeriesSet {
    common::Counter* requests = nullptr;
    common::Histogram* latency = nullptr;
    common::Counter* errors = nullptr;
  };
  std::shared_mutex series_mu_;
  std::unordered_map<std::string, SeriesSet> series_;
  common::Counter* logins_ok_;
  common::Counter* logins_failed_;
};

}  // namespace hotline::api
