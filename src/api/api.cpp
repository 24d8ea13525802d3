#include "api/api.h"

#include <spdlog/spdlog.h>

#include "iam/validate.h"
#include "security/security.h"

namespace hotline::api {

namespace http = boost::beast::http;

Api::Api(iam::Directory& directory, iam::Extensions& extensions, store::Database& db,
         common::MetricsRegistry& metrics, common::Clock& clock, ApiOptions options)
    : dir_(directory),
      extensions_(extensions),
      db_(db),
      metrics_(metrics),
      clock_(clock),
      options_(std::move(options)) {
  logins_ok_ = &metrics_.counter("hotline_logins_total", "Login attempts by result", {{"result", "success"}});
  logins_failed_ =
      &metrics_.counter("hotline_logins_total", "Login attempts by result", {{"result", "failure"}});
  add_system_routes();
  add_auth_routes();
  add_user_routes();
  add_role_routes();
  add_audit_routes();
  add_extension_routes();
  add_center_routes();
  add_records_routes();
  add_live_routes();
  add_call_routes();
}

namespace {

std::string request_id_for(const Request& req) {
  auto given = std::string(req["X-Request-Id"]);
  bool ok = !given.empty() && given.size() <= 64;
  for (char c : given) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                c == '_' || c == '.');
  }
  if (ok) return given;
  auto bytes = security::random_bytes(8);
  return security::to_hex(bytes);
}

json error_body(const std::string& code, const std::string& message, const json& details) {
  return json{{"error", {{"code", code}, {"message", message}, {"details", details}}}};
}

std::optional<std::string> bearer_token(const Request& req) {
  auto h = std::string_view(req[http::field::authorization]);
  constexpr std::string_view prefix = "Bearer ";
  if (h.size() <= prefix.size() || h.substr(0, prefix.size()) != prefix) return std::nullopt;
  return std::string(h.substr(prefix.size()));
}

}  // namespace

Response Api::error_response(unsigned status, const std::string& code, const std::string& message,
                             const std::string& request_id) {
  Response res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  if (!request_id.empty()) res.set("X-Request-Id", request_id);
  res.body() = error_body(code, message, json::object()).dump();
  res.prepare_payload();
  metrics_.counter("hotline_http_errors_total", "HTTP error responses", {{"status", std::to_string(status)}})
      .inc();
  return res;
}

Response Api::to_response(const Request& req, Reply reply, const std::string& request_id) {
  Response res{static_cast<http::status>(reply.status), req.version()};
  res.set(http::field::server, "hotline");
  res.set(http::field::content_type, reply.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Request-Id", request_id);
  res.set("X-Content-Type-Options", "nosniff");
  for (auto& [k, v] : reply.headers) res.set(k, v);
  if (reply.text) {
    res.body() = std::move(*reply.text);
  } else if (reply.status != 204) {
    // Replace invalid UTF-8 rather than throw: stored text is validated on the
    // way in, but the response must never fail to serialise.
    res.body() = reply.body.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (req.method() == http::verb::head) res.body().clear();
  res.prepare_payload();
  return res;
}

void Api::observe(const Request& req, const std::string& route, unsigned status, double seconds) {
  // The registry lookup renders label strings; cache the series per
  // (route, method, status) so the hot path is one shared-lock map probe.
  const std::string key =
      route + '\n' + std::string(http::to_string(req.method())) + '\n' + std::to_string(status);
  std::optional<SeriesSet> series;  // a copy: the cache may be cleared meanwhile
  {
    std::shared_lock lock(series_mu_);
    auto it = series_.find(key);
    if (it != series_.end()) series = it->second;
  }
  if (!series) {
    SeriesSet fresh;
    fresh.requests = &metrics_.counter("hotline_http_requests_total", "HTTP requests by route and status",
                                       {{"method", std::string(http::to_string(req.method()))},
                                        {"route", route},
                                        {"status", std::to_string(status)}});
    fresh.latency = &metrics_.histogram("hotline_http_request_duration_seconds", "HTTP request latency",
                                        {{"route", route}});
    if (status >= 400) {
      fresh.errors = &metrics_.counter("hotline_http_errors_total", "HTTP error responses",
                                       {{"status", std::to_string(status)}});
    }
    std::unique_lock lock(series_mu_);
    if (series_.size() > 10'000) series_.clear();  // bound: routes x methods x statuses is small
    series_.try_emplace(key, fresh);
    series = fresh;
  }
  series->requests->inc();
  series->latency->observe(seconds);
  if (series->errors) series->errors->inc();
}

Reply Api::dispatch(RequestContext& ctx, const Router::Match& m) {
  const Route& r = *m.route;
  if (r.access != Access::Public) {
    auto token = bearer_token(ctx.req);
    // Browsers cannot set headers on a WebSocket: upgrades may carry the
    // token in the query instead (never logged: the access log has no query).
    if (!token && ctx.peer.upgrade) {
      auto q = ctx.query.find("access_token");
      if (q != ctx.query.end() && !q->second.empty()) token = q->second;
    }
    if (!token) throw ApiError{401, "unauthorized", "missing bearer token (Authorization: Bearer <token>)"};
    ctx.principal = dir_.authenticate(*token);
    if (!ctx.principal) throw ApiError{401, "unauthorized", "invalid or expired token"};
    if (r.permission && !ctx.principal->can(*r.permission)) {
      throw ApiError{
          403, "forbidden",
          "this requires the permission '" + std::string(iam::permission_name(*r.permission)) + "'",
          json{{"permission", iam::permission_name(*r.permission)}}};
    }
  }
  return r.handler(ctx);
}

Response Api::handle(Request&& req, const Peer& peer) {
  const auto started = std::chrono::steady_clock::now();
  const auto request_id = request_id_for(req);
  std::string target(req.target());
  auto qpos = target.find('?');
  RequestContext ctx(req, peer, request_id, target.substr(0, qpos));
  std::string route_label = "unmatched";
  Reply reply;
  try {
    if (!iam::is_clean_utf8(target)) throw ApiError::bad_request("request target is not valid UTF-8");
    if (qpos != std::string::npos) {
      std::string_view q(target);
      q.remove_prefix(qpos + 1);
      while (!q.empty()) {
        auto amp = q.find('&');
        auto part = q.substr(0, amp);
        auto eq = part.find('=');
        auto k = url_decode(part.substr(0, eq));
        auto v = url_decode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
        if (!k || !v || !iam::is_clean_utf8(*k) || !iam::is_clean_utf8(*v)) {
          throw ApiError::bad_request("malformed query string");
        }
        if (!k->empty()) ctx.query[*k] = *v;
        if (amp == std::string_view::npos) break;
        q.remove_prefix(amp + 1);
      }
    }
    auto m = router_.match(req.method(), ctx.path);
    if (!m.route) {
      if (!m.allowed_methods.empty()) {
        std::string allow;
        for (const auto& a : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + a;
        ApiError e{405, "method_not_allowed", "method not allowed; use " + allow};
        e.details["allow"] = m.allowed_methods;
        throw e;
      }
      throw ApiError{404, "not_found", "no such route: " + ctx.path};
    }
    route_label = m.route->pattern;
    ctx.params = m.params;
    reply = dispatch(ctx, m);
  } catch (const ApiError& e) {
    reply.status = e.status;
    reply.body = error_body(e.code, e.message, e.details);
    if (e.retry_after_s > 0) reply.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
    if (e.status == 405) {
      std::string allow;
      for (const auto& a : e.details["allow"]) allow += (allow.empty() ? "" : ", ") + a.get<std::string>();
      reply.headers.emplace_back("Allow", allow);
    }
  } catch (const store::StoreError& e) {
    spdlog::error("api: {} {} [{}]: storage error: {}", std::string(http::to_string(req.method())), ctx.path,
                  request_id, e.what());
    reply.status = e.kind() == store::StoreError::Kind::Unique ? 409 : 503;
    reply.body = error_body(reply.status == 409 ? "conflict" : "unavailable",
                            reply.status == 409 ? "conflicts with an existing record" : "storage unavailable",
                            json::object());
  } catch (const std::exception& e) {
    spdlog::error("api: {} {} [{}]: {}", std::string(http::to_string(req.method())), ctx.path, request_id,
                  e.what());
    reply.status = 500;
    reply.body = error_body("internal", "internal error", json{{"request_id", request_id}});
  }
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  observe(req, route_label, reply.status, seconds);
  if (options_.access_log) {
    spdlog::get("access")->info("{} {} {} {} {:.3f}ms rid={} user={}", peer.address,
                                std::string(http::to_string(req.method())), ctx.path, reply.status,
                                seconds * 1000, request_id, ctx.principal ? ctx.principal->username : "-");
  }
  return to_response(req, std::move(reply), request_id);
}

}  // namespace hotline::api
