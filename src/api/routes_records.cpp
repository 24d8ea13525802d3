// Routes of the records service: call detail records, wrap-up, recordings,
// voicemails and the routing event log (docs/records.md).
#include "api/api.h"
#include "records/records.h"
#include "security/mask.h"

namespace hotline::api {

namespace http = boost::beast::http;
using iam::Permission;

namespace {

constexpr std::int64_t kMaxMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

records::Store& need(records::Store* s) {
  if (!s) throw ApiError{503, "unavailable", "call records are not available on this server"};
  return *s;
}

template <class T>
T unwrap(common::Result<T> r) {
  if (r) return std::move(r).value();
  if (r.error().code == "unavailable") throw ApiError{503, "unavailable", r.error().message};
  throw ApiError::from(r.error());
}

// Call and recording ids are strings; anything else is a 400, not a lookup.
std::string id_of(const RequestContext& ctx) {
  const auto& id = ctx.params.at("id");
  if (!records::valid_id(id))
    throw ApiError::bad_request("path parameter 'id' must be 1-32 of [0-9a-zA-Z_-]", "id");
  return id;
}

// Phone numbers are personal data: shown in full only with customers.pii.read.
bool sees_pii(const RequestContext& ctx) { return ctx.principal->can(Permission::CustomersPiiRead); }
std::string phone(const std::string& v, bool pii) { return pii ? v : security::mask_phone(v); }

json call_out(const records::CallRecord& c, bool pii) {
  return json{{"id", c.id},
              {"direction", c.direction},
              {"caller", phone(c.caller, pii)},
              {"caller_name", c.caller_name},
              {"dialled", c.dialled},
              {"customer_id", c.customer_id},
              {"flow", c.flow},
              {"ivr_path", c.ivr_path},
              {"queue", c.queue},
              {"agent_id", c.agent_id},
              {"agent_extension", c.agent_extension},
              {"arrived_ms", c.arrived_ms},
              {"ivr_left_ms", c.ivr_left_ms},
              {"queued_ms", c.queued_ms},
              {"offered_ms", c.offered_ms},
              {"answered_ms", c.answered_ms},
              {"ended_ms", c.ended_ms},
              {"wrapup_ended_ms", c.wrapup_ended_ms},
              {"hold_ms", c.hold_ms},
              {"holds", c.holds},
              {"offers", c.offers},
              {"priority", c.priority},
              {"disposition", c.disposition},
              {"end_reason", c.end_reason},
              {"wrapup_code", c.wrapup_code},
              {"notes", c.notes},
              {"recording_id", c.recording_id}};
}

json leg_out(const records::CallLeg& l, bool pii) {
  // Agent and supervisor legs point at our own phones; the others at the caller.
  const bool internal = l.role == "agent" || l.role == "supervisor";
  return json{{"leg_no", l.leg_no},
              {"role", l.role},
              {"peer", internal ? l.peer : phone(l.peer, pii)},
              {"agent_id", l.agent_id},
              {"started_ms", l.started_ms},
              {"answered_ms", l.answered_ms},
              {"ended_ms", l.ended_ms},
              {"sip_status", l.sip_status},
              {"end_reason", l.end_reason}};
}

// The file path and cipher stay on the server.
json recording_out(const records::RecordingInfo& r) {
  return json{{"id", r.id},
              {"call_id", r.call_id},
              {"kind", r.kind},
              {"started_ms", r.started_ms},
              {"ended_ms", r.ended_ms},
              {"bytes", r.bytes},
              {"queue", r.queue},
              {"customer_id", r.customer_id}};
}

json event_out(const records::EventRecord& e) {
  return json{{"seq", e.seq},           {"time_ms", e.time_ms},         {"type", e.type},
              {"agent_id", e.agent_id}, {"call_id", e.call_id},         {"queue", e.queue},
              {"value", e.value},       {"disposition", e.disposition}, {"reason", e.reason}};
}

template <class T, class F>
json page_out(const records::Page<T>& page, F&& out) {
  json items = json::array();
  for (const auto& x : page.items) items.push_back(out(x));
  return json{{"items", items}, {"next_cursor", page.next_cursor ? json(*page.next_cursor) : json(nullptr)}};
}

records::CallFilter call_filter(const RequestContext& ctx) {
  records::CallFilter f;
  f.from_ms = ctx.query_int("from", 0, kMaxMs).value_or(0);
  f.to_ms = ctx.query_int("to", 0, kMaxMs).value_or(0);
  f.queue = ctx.query_string("queue").value_or("");
  f.agent_id = ctx.query_int("agent_id", 1, INT64_MAX).value_or(0);
  f.disposition = ctx.query_string("disposition").value_or("");
  f.caller = ctx.query_string("caller").value_or("");
  f.cursor = ctx.query_string("cursor").value_or("");
  f.limit = static_cast<int>(ctx.query_int("limit", 1, 1000).value_or(50));
  // Searching by number would reveal who called without seeing the number.
  if (!f.caller.empty() && !sees_pii(ctx)) {
    throw ApiError{403, "forbidden", "filtering by caller requires the permission 'customers.pii.read'",
                   json{{"permission", "customers.pii.read"}, {"field", "caller"}}};
  }
  return f;
}

Reply ok(json body) { return Reply{200, std::move(body), std::nullopt, "application/json", {}}; }

Reply download(std::string bytes, std::string content_type, const std::string& filename) {
  Reply r;
  r.text = std::move(bytes);
  r.content_type = std::move(content_type);
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + filename + "\"");
  return r;
}

// OpenAPI schema fragments.
json str() { return {{"type", "string"}}; }
json integer() { return {{"type", "integer"}}; }
json object(json props) {
  return {{"type", "object"}, {"properties", std::move(props)}, {"additionalProperties", false}};
}
json array_of(json item) { return {{"type", "array"}, {"items", std::move(item)}}; }
json page_of(json item) {
  return object(
      {{"items", array_of(std::move(item))}, {"next_cursor", {{"type", "string"}, {"nullable", true}}}});
}

json call_props() {
  json p;
  for (const char* s :
       {"id", "direction", "caller", "caller_name", "dialled", "flow", "ivr_path", "queue", "agent_extension",
        "disposition", "end_reason", "wrapup_code", "notes", "recording_id"}) {
    p[s] = str();
  }
  for (const char* i :
       {"customer_id", "agent_id", "arrived_ms", "ivr_left_ms", "queued_ms", "offered_ms", "answered_ms",
        "ended_ms", "wrapup_ended_ms", "offers", "priority", "hold_ms", "holds"}) {
    p[i] = integer();
  }
  return p;
}
json call_schema() { return object(call_props()); }
json leg_schema() {
  return object({{"leg_no", integer()},
                 {"role", str()},
                 {"peer", str()},
                 {"agent_id", integer()},
                 {"started_ms", integer()},
                 {"answered_ms", integer()},
                 {"ended_ms", integer()},
                 {"sip_status", integer()},
                 {"end_reason", str()}});
}
json recording_schema() {
  return object({{"id", str()},
                 {"call_id", str()},
                 {"kind", str()},
                 {"started_ms", integer()},
                 {"ended_ms", integer()},
                 {"bytes", integer()},
                 {"queue", str()},
                 {"customer_id", integer()}});
}
json event_schema() {
  return object({{"seq", integer()},
                 {"time_ms", integer()},
                 {"type", str()},
                 {"agent_id", integer()},
                 {"call_id", str()},
                 {"queue", str()},
                 {"value", integer()},
                 {"disposition", str()},
                 {"reason", integer()}});
}
json call_detail_schema() {
  auto p = call_props();
  p["legs"] = array_of(leg_schema());
  p["recordings"] = array_of(recording_schema());
  return object(p);
}

std::vector<std::pair<std::string, std::string>> call_query(bool paged) {
  std::vector<std::pair<std::string, std::string>> q = {
      {"from", "arrived at or after (ms since the epoch)"},
      {"to", "arrived before (ms since the epoch)"},
      {"queue", "last queue"},
      {"agent_id", "agent who took the call"},
      {"disposition", "answered, abandoned, voicemail, ..."},
      {"caller", "caller's number, exact (needs customers.pii.read)"}};
  if (paged) {
    q.emplace_back("cursor", "next_cursor of the previous page");
    q.emplace_back("limit", "1-1000, default 50");
  }
  return q;
}

}  // namespace

void Api::add_records_routes() {
  router_.add(http::verb::get, "/api/v1/calls", Access::Permission, Permission::ReportsRead,
              {"Call detail records, newest first (keyset pages)", "calls", nullptr, page_of(call_schema()),
               call_query(true)},
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                auto f = call_filter(ctx);
                const bool pii = sees_pii(ctx);
                auto page = unwrap(rec.calls(ctx.principal->tenant_id, f));
                return ok(page_out(page, [&](const records::CallRecord& c) { return call_out(c, pii); }));
              });
  // Before /calls/{id}, which would otherwise match "export".
  router_.add(http::verb::get, "/api/v1/calls/export", Access::Permission, Permission::ReportsRead,
              {"Call detail records as CSV (RFC 4180; columns in docs/records.md)", "calls", nullptr, str(),
               call_query(false)},
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                auto f = call_filter(ctx);
                records::CsvOptions o;
                o.mask_phone_numbers = !sees_pii(ctx);
                return download(unwrap(rec.calls_csv(ctx.principal->tenant_id, f, o)),
                                "text/csv; charset=utf-8", "calls.csv");
              });
  router_.add(http::verb::get, "/api/v1/calls/{id}", Access::Permission, Permission::ReportsRead,
              RouteDoc{"One call with its legs and recordings", "calls", nullptr, call_detail_schema()}
                  .with_text_ids(),
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                const auto id = id_of(ctx);
                const auto tenant = ctx.principal->tenant_id;
                const bool pii = sees_pii(ctx);
                auto out = call_out(unwrap(rec.call(tenant, id)), pii);
                out["legs"] = json::array();
                for (const auto& l : rec.legs(tenant, id)) out["legs"].push_back(leg_out(l, pii));
                out["recordings"] = json::array();
                for (const auto& r : rec.recordings_for(tenant, id))
                  out["recordings"].push_back(recording_out(r));
                return ok(out);
              });
  // Any holder of agents.state.self may set it on any call of the tenant for
  // now: a call names its agent by agent id, not user id (docs/records.md).
  router_.add(http::verb::put, "/api/v1/calls/{id}/wrapup", Access::Permission, Permission::AgentsStateSelf,
              RouteDoc{"Set a call's wrap-up code and notes (audited)", "calls",
                       json{{"type", "object"},
                            {"properties", {{"code", str()}, {"notes", str()}}},
                            {"required", {"code"}},
                            {"additionalProperties", false}},
                       call_schema()}
                  .with_text_ids(),
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                const auto id = id_of(ctx);
                const auto& b = ctx.body();
                reject_unknown_fields(b, {"code", "notes"});
                const auto code = req_string(b, "code");
                const auto notes = opt_string(b, "notes").value_or("");
                const auto tenant = ctx.principal->tenant_id;
                unwrap(rec.set_wrapup(tenant, id, code, notes, ctx.actor()));
                return ok(call_out(unwrap(rec.call(tenant, id)), sees_pii(ctx)));
              });
  router_.add(http::verb::get, "/api/v1/recordings/{id}/audio", Access::Permission,
              Permission::RecordingsListen,
              RouteDoc{"A recording decrypted to WAV (audio/wav); every download is audited", "recordings",
                       nullptr, str()}
                  .with_text_ids(),
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                const auto id = id_of(ctx);
                return download(unwrap(rec.listen(ctx.principal->tenant_id, id, ctx.actor())), "audio/wav",
                                id + ".wav");
              });
  router_.add(http::verb::get, "/api/v1/voicemails", Access::Permission, Permission::ReportsRead,
              {"Voicemail recordings, newest first",
               "recordings",
               nullptr,
               page_of(recording_schema()),
               {{"queue", "queue / mailbox"},
                {"cursor", "next_cursor of the previous page"},
                {"limit", "1-1000, default 50"}}},
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                auto page =
                    unwrap(rec.voicemails(ctx.principal->tenant_id, ctx.query_string("queue").value_or(""),
                                          ctx.query_string("cursor").value_or(""),
                                          static_cast<int>(ctx.query_int("limit", 1, 1000).value_or(50))));
                return ok(page_out(page, recording_out));
              });
  router_.add(http::verb::get, "/api/v1/routing-events", Access::Permission, Permission::ReportsRead,
              {"The routing engine's event log, newest first",
               "calls",
               nullptr,
               page_of(event_schema()),
               {{"from", "at or after (ms since the epoch)"},
                {"to", "before (ms since the epoch)"},
                {"agent_id", "agent"},
                {"call_id", "call"},
                {"type", "event type (routing::to_string)"},
                {"cursor", "next_cursor of the previous page"},
                {"limit", "1-1000, default 100"}}},
              [this](RequestContext& ctx) {
                auto& rec = need(options_.services.records);
                records::EventFilter f;
                f.from_ms = ctx.query_int("from", 0, kMaxMs).value_or(0);
                f.to_ms = ctx.query_int("to", 0, kMaxMs).value_or(0);
                f.agent_id = ctx.query_int("agent_id", 1, INT64_MAX).value_or(0);
                f.call_id = ctx.query_string("call_id").value_or("");
                f.type = ctx.query_string("type").value_or("");
                f.cursor = ctx.query_string("cursor").value_or("");
                f.limit = static_cast<int>(ctx.query_int("limit", 1, 1000).value_or(100));
                auto page = unwrap(rec.events(ctx.principal->tenant_id, f));
                return ok(page_out(page, event_out));
              });
}

}  // namespace hotline::api
