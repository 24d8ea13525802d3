// Routes of the contact center's configuration (center::Repository): the
// same five routes for every kind, plus flow versions and prompt uploads.
// Field-by-field documentation: docs/center.md.
#include <optional>

#include "api/api.h"
#include "center/center.h"
#include "security/mask.h"

namespace hotline::api {

namespace http = boost::beast::http;
using center::Kind;
using iam::Permission;

namespace {

json s_str() { return {{"type", "string"}}; }
json s_int() { return {{"type", "integer"}}; }
json s_bool() { return {{"type", "boolean"}}; }
json s_strs() { return {{"type", "array"}, {"items", s_str()}}; }
json s_array(json item) { return {{"type", "array"}, {"items", std::move(item)}}; }
json s_obj(json props, std::vector<std::string> required = {}) {
  json o{{"type", "object"}, {"properties", std::move(props)}, {"additionalProperties", false}};
  if (!required.empty()) o["required"] = required;
  return o;
}
json s_id() { return {{"type", "integer"}, {"readOnly", true}}; }
json s_skills() { return s_array(s_obj({{"skill", s_str()}, {"level", s_int()}}, {"skill"})); }

json kind_schema(Kind k) {
  switch (k) {
    case Kind::kAgent:
      return s_obj({{"id", s_id()},
                    {"name", s_str()},
                    {"user_id", {{"type", "integer"}, {"nullable", true}}},
                    {"extension", s_str()},
                    {"skills", s_skills()},
                    {"voice_capacity", s_int()},
                    {"chat_capacity", s_int()},
                    {"email_capacity", s_int()},
                    {"active", s_bool()}},
                   {"name"});
    case Kind::kSkill:
      return s_obj({{"id", s_id()}, {"name", s_str()}, {"description", s_str()}}, {"name"});
    case Kind::kQueue: {
      json props = {
          {"id", s_id()},     {"name", s_str()},      {"display_name", s_str()},    {"strategy", s_str()},
          {"match", s_str()}, {"skills", s_skills()}, {"max_wait_action", s_str()}, {"moh_prompt", s_str()}};
      for (const char* n : {"ring_timeout_s", "wrap_up_s", "max_wait_s", "max_length", "service_level_s",
                            "max_consecutive_misses", "priority", "announce_interval_s", "callback_attempts",
                            "callback_retry_s"})
        props[n] = s_int();
      for (const char* n : {"record", "announce_position", "announce_wait", "callback_key", "voicemail_key"})
        props[n] = s_bool();
      props["overflow"] = s_array(
          s_obj({{"after_s", s_int()}, {"action", s_str()}, {"skills", s_skills()}, {"queue", s_str()}},
                {"after_s", "action"}));
      return s_obj(props, {"name"});
    }
    case Kind::kNumber:
      return s_obj({{"id", s_id()}, {"number", s_str()}, {"flow", s_str()}, {"language", s_str()}},
                   {"number", "flow"});
    case Kind::kTrunk:
      return s_obj({{"id", s_id()},
                    {"name", s_str()},
                    {"allowed_sources", s_strs()},
                    {"host", s_str()},
                    {"port", s_int()},
                    {"transport", s_str()},
                    {"username", s_str()},
                    {"password", {{"type", "string"}, {"writeOnly", true}}},
                    {"caller_id", s_str()}},
                   {"name"});
    case Kind::kCalendar: {
      json days;
      for (const char* d : {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}) days[d] = s_strs();
      return s_obj({{"id", s_id()},
                    {"name", s_str()},
                    {"time_zone", s_str()},
                    {"weekly", s_obj(days)},
                    {"holidays", s_strs()},
                    {"workdays", s_strs()},
                    {"workday_hours", s_strs()}},
                   {"name"});
    }
    case Kind::kPrompt:
      return s_obj({{"id", s_id()},
                    {"name", s_str()},
                    {"language", s_str()},
                    {"path", {{"type", "string"}, {"readOnly", true}}},
                    {"bytes", {{"type", "integer"}, {"readOnly", true}}}},
                   {"name", "language"});
    case Kind::kFlow:
      return s_obj({{"id", s_id()},
                    {"name", s_str()},
                    {"version", {{"type", "integer"}, {"readOnly", true}}},
                    {"definition", {{"type", "object"}}}},
                   {"name", "definition"});
    case Kind::kReasonCode:
    case Kind::kWrapUpCode:
      return s_obj({{"id", s_id()}, {"code", s_int()}, {"label", s_str()}}, {"code", "label"});
    case Kind::kCustomer:
      return s_obj({{"id", s_id()},
                    {"name", s_str()},
                    {"phones", s_strs()},
                    {"vip", s_bool()},
                    {"blocked", s_bool()},
                    {"priority", s_int()},
                    {"language", s_str()}},
                   {});
  }
  return s_obj({});
}

struct Resource {
  const char* plural;  // path segment
  Kind kind;
  const char* noun;  // for summaries
  const char* tag;
  Permission read;
  Permission write;
};

constexpr Resource kResources[] = {
    {"agents", Kind::kAgent, "agent", "agents", Permission::AgentsRead, Permission::AgentsWrite},
    {"skills", Kind::kSkill, "skill", "queues", Permission::QueuesRead, Permission::QueuesWrite},
    {"queues", Kind::kQueue, "queue", "queues", Permission::QueuesRead, Permission::QueuesWrite},
    {"numbers", Kind::kNumber, "number", "center", Permission::QueuesRead, Permission::SettingsWrite},
    {"trunks", Kind::kTrunk, "trunk", "center", Permission::QueuesRead, Permission::SettingsWrite},
    {"calendars", Kind::kCalendar, "business calendar", "center", Permission::QueuesRead,
     Permission::SettingsWrite},
    {"prompts", Kind::kPrompt, "prompt", "center", Permission::QueuesRead, Permission::SettingsWrite},
    {"flows", Kind::kFlow, "IVR flow", "center", Permission::QueuesRead, Permission::SettingsWrite},
    {"reason-codes", Kind::kReasonCode, "reason code", "center", Permission::QueuesRead,
     Permission::SettingsWrite},
    {"wrapup-codes", Kind::kWrapUpCode, "wrap-up code", "center", Permission::QueuesRead,
     Permission::SettingsWrite},
    {"customers", Kind::kCustomer, "customer", "customers", Permission::CustomersRead,
     Permission::CustomersWrite},
};

template <class T>
T unwrap_center(common::Result<T> r) {
  if (!r) throw ApiError::from(r.error());
  return std::move(r).value();
}

Reply json_reply(json body, unsigned status = 200) {
  return Reply{status, std::move(body), std::nullopt, "application/json", {}};
}

// Phone numbers are PII: shown masked unless the caller may read PII.
json present(Kind kind, json obj, const RequestContext& ctx) {
  if (kind == Kind::kCustomer && !ctx.principal->can(Permission::CustomersPiiRead))
    for (auto& p : obj["phones"]) p = security::mask_phone(p.get<std::string>());
  return obj;
}

// Standard base64 (RFC 4648 §4), padding optional; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

}  // namespace

void Api::add_center_routes() {
  auto repo = [this]() -> center::Repository& {
    if (!options_.services.center)
      throw ApiError{503, "unavailable", "the contact-center configuration service is not running"};
    return *options_.services.center;
  };

  // Before /prompts/{id}, so that PUT /prompts/audio is not read as an id.
  router_.add(
      http::verb::put, "/api/v1/prompts/audio", Access::Permission, Permission::SettingsWrite,
      {"Upload a prompt's audio (a WAV file, base64) for a name and language; replaces existing audio",
       "center",
       s_obj({{"name", s_str()}, {"language", s_str()}, {"wav_base64", s_str()}},
             {"name", "language", "wav_base64"}),
       kind_schema(Kind::kPrompt)},
      [repo](RequestContext& ctx) {
        auto& r = repo();
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"name", "language", "wav_base64"});
        auto wav = base64_decode(req_string(b, "wav_base64"));
        if (!wav) throw ApiError::bad_request("field 'wav_base64' is not valid base64", "wav_base64");
        auto out = r.put_prompt_audio(ctx.principal->tenant_id, req_string(b, "name"),
                                      req_string(b, "language"), *wav, ctx.actor());
        if (!out) {
          auto e = ApiError::from(out.error());
          if (out.error().field == "wav") e.details["field"] = "wav_base64";
          throw e;
        }
        return json_reply(*out);
      });
  router_.add(http::verb::get, "/api/v1/flows/{id}/versions", Access::Permission, Permission::QueuesRead,
              {"Every saved version of an IVR flow, oldest first (the newest is live)", "center", nullptr,
               s_obj({{"items", s_array(s_obj({{"id", s_int()},
                                               {"name", s_str()},
                                               {"version", s_int()},
                                               {"definition", {{"type", "object"}}},
                                               {"created_ms", s_int()},
                                               {"actor", s_str()}}))}})},
              [repo](RequestContext& ctx) {
                auto items = unwrap_center(repo().flow_versions(ctx.principal->tenant_id, ctx.id_param()));
                return json_reply(json{{"items", items}});
              });

  for (const auto& res : kResources) {
    const std::string base = std::string("/api/v1/") + res.plural;
    const std::string noun = res.noun;
    const Kind kind = res.kind;
    const json schema = kind_schema(kind);
    router_.add(
        http::verb::get, base, Access::Permission, res.read,
        {"List every " + noun + " of the tenant", res.tag, nullptr, s_obj({{"items", s_array(schema)}})},
        [repo, kind](RequestContext& ctx) {
          json items = json::array();
          for (auto& o : repo().list(ctx.principal->tenant_id, kind)) items.push_back(present(kind, o, ctx));
          return json_reply(json{{"items", items}});
        });
    router_.add(http::verb::post, base, Access::Permission, res.write,
                {"Create a " + noun, res.tag, schema, schema, {}, 201}, [repo, kind](RequestContext& ctx) {
                  auto& r = repo();
                  auto out = unwrap_center(r.create(ctx.principal->tenant_id, kind, ctx.body(), ctx.actor()));
                  return json_reply(present(kind, std::move(out), ctx), 201);
                });
    router_.add(http::verb::get, base + "/{id}", Access::Permission, res.read,
                {"Get one " + noun, res.tag, nullptr, schema}, [repo, kind](RequestContext& ctx) {
                  auto out = unwrap_center(repo().get(ctx.principal->tenant_id, kind, ctx.id_param()));
                  return json_reply(present(kind, std::move(out), ctx));
                });
    router_.add(http::verb::put, base + "/{id}", Access::Permission, res.write,
                {"Replace a " + noun + " (omitted fields get their defaults)", res.tag, schema, schema},
                [repo, kind](RequestContext& ctx) {
                  auto& r = repo();
                  auto out = unwrap_center(
                      r.update(ctx.principal->tenant_id, kind, ctx.id_param(), ctx.body(), ctx.actor()));
                  return json_reply(present(kind, std::move(out), ctx));
                });
    router_.add(http::verb::delete_, base + "/{id}", Access::Permission, res.write,
                {"Delete a " + noun + " that nothing refers to", res.tag, nullptr, nullptr, {}, 204},
                [repo, kind](RequestContext& ctx) {
                  auto& r = repo();
                  auto s = r.remove(ctx.principal->tenant_id, kind, ctx.id_param(), ctx.actor());
                  if (!s) throw ApiError::from(s.error());
                  return Reply{204, json(), std::nullopt, "application/json", {}};
                });
  }
}

}  // namespace hotline::api
