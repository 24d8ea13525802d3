// Routes of the call layer: agent status control, wrap-up, realtime stats.
#include "api/api.h"
#include "call/call.h"
#include "center/center.h"

namespace hotline::api {

namespace http = boost::beast::http;
using iam::Permission;

namespace {

json str() { return {{"type", "string"}}; }
json integer() { return {{"type", "integer"}}; }
json any_object() { return {{"type", "object"}}; }

json agent_status_schema() {
  return {{"type", "object"},
          {"properties",
           {{"agent_id", integer()},
            {"extension", str()},
            {"device_registered", {{"type", "boolean"}}},
            {"status", str()},
            {"reason", integer()},
            {"state", str()},
            {"handled_today", integer()},
            {"consecutive_misses", integer()},
            {"calls", {{"type", "array"}, {"items", str()}}}}}};
}

call::CallCenter& calls_or_503(call::CallCenter* c) {
  if (!c) throw ApiError{503, "unavailable", "the call layer is not running (sip.enabled = false?)"};
  return *c;
}

void unwrap(const common::Status& s) {
  if (!s) throw ApiError::from(s.error());
}

}  // namespace

void Api::add_call_routes() {
  // An agent may control their own status (agents.state.self, matched by the
  // agent's user_id); anybody else needs agents.write.
  auto may_control = [this](RequestContext& ctx, std::int64_t agent_id) {
    if (ctx.principal->can(Permission::AgentsWrite)) return;
    if (auto* repo = options_.services.center) {
      auto snap = repo->snapshot(ctx.principal->tenant_id);
      const center::AgentDef* a = snap ? snap->agent(agent_id) : nullptr;
      if (a && a->user_id && *a->user_id == ctx.principal->user_id) return;
    }
    throw ApiError{403, "forbidden",
                   "you may only change your own status (agents.write is needed for others)"};
  };

  router_.add(http::verb::get, "/api/v1/agents/{id}/status", Access::Permission, Permission::AgentsStateSelf,
              {"An agent's status and state as routing sees them", "agents", nullptr, agent_status_schema()},
              [this, may_control](RequestContext& ctx) {
                auto& calls = calls_or_503(options_.services.calls);
                const auto id = ctx.id_param();
                if (!ctx.principal->can(Permission::AgentsRead)) may_control(ctx, id);
                auto r = calls.agent_status(ctx.principal->tenant_id, id);
                if (!r) throw ApiError::from(r.error());
                return Reply{200, *r, std::nullopt, "application/json", {}};
              });

  json status_req = {
      {"type", "object"},
      {"properties",
       {{"status", {{"type", "string"}, {"enum", {"logged_in", "ready", "not_ready", "logged_out"}}}},
        {"reason", integer()},
        {"extension", str()}}},
      {"required", {"status"}},
      {"additionalProperties", false}};
  router_.add(
      http::verb::put, "/api/v1/agents/{id}/status", Access::Permission, Permission::AgentsStateSelf,
      {"Log in (optionally on another extension), ready, not ready with a reason, log out", "agents",
       status_req, agent_status_schema()},
      [this, may_control](RequestContext& ctx) {
        auto& calls = calls_or_503(options_.services.calls);
        const auto id = ctx.id_param();
        may_control(ctx, id);
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"status", "reason", "extension"});
        call::StatusChange ch;
        ch.status = req_string(b, "status");
        if (b.contains("reason")) {
          if (!b["reason"].is_number_integer() || b["reason"].get<std::int64_t>() < 100 ||
              b["reason"].get<std::int64_t>() > 1'000'000)
            throw ApiError::bad_request("reason must be a reason code (an integer >= 100)", "reason");
          ch.reason = b["reason"].get<int>();
        }
        ch.extension = opt_string(b, "extension").value_or("");
        if (ch.extension.size() > 32 ||
            ch.extension.find_first_not_of(
                "0123456789*#abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos)
          throw ApiError::bad_request("extension must be 1-32 of 0-9, *, #, letters", "extension");
        unwrap(calls.change_status(ctx.principal->tenant_id, id, ch));
        dir_.audit(
            ctx.actor(), ctx.principal->tenant_id, "agent.status", std::to_string(id),
            json{{"via", "api"}, {"status", ch.status}, {"reason", ch.reason}, {"extension", ch.extension}}
                .dump());
        auto r = calls.agent_status(ctx.principal->tenant_id, id);
        if (!r) throw ApiError::from(r.error());
        return Reply{200, *r, std::nullopt, "application/json", {}};
      });

  router_.add(
      http::verb::post, "/api/v1/agents/{id}/wrap-up/end", Access::Permission, Permission::AgentsStateSelf,
      {"End the agent's wrap-up now (the agent is available again)", "agents", nullptr, nullptr, {}, 204},
      [this, may_control](RequestContext& ctx) {
        auto& calls = calls_or_503(options_.services.calls);
        const auto id = ctx.id_param();
        may_control(ctx, id);
        unwrap(calls.end_wrap_up(ctx.principal->tenant_id, id));
        dir_.audit(ctx.actor(), ctx.principal->tenant_id, "agent.wrapup_end", std::to_string(id), "{}");
        return Reply{204, json(), std::nullopt, "application/json", {}};
      });

  router_.add(
      http::verb::get, "/api/v1/stats/realtime", Access::Permission, Permission::QueuesRead,
      {"Live queue and agent figures (waiting, longest wait, staffed, available, EWT; agent states)", "stats",
       nullptr, any_object()},
      [this](RequestContext& ctx) {
        auto& calls = calls_or_503(options_.services.calls);
        return Reply{200, calls.realtime(ctx.principal->tenant_id), std::nullopt, "application/json", {}};
      });
}

}  // namespace hotline::api
