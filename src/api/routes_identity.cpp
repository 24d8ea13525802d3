// Routes of the foundation: health, metrics, OpenAPI, auth, users, roles, audit.
#include <spdlog/spdlog.h>

#include <set>

#include "api/api.h"
#include "security/security.h"

namespace hotline::api {

namespace http = boost::beast::http;
using iam::Permission;

namespace {

json user_out(const iam::User& u) {
  return json{{"id", u.id},       {"username", u.username},     {"display_name", u.display_name},
              {"email", u.email}, {"active", u.active},         {"locked", u.locked},
              {"roles", u.roles}, {"created_ms", u.created_ms}, {"updated_ms", u.updated_ms}};
}

json role_out(const iam::Role& r) {
  return json{{"id", r.id},
              {"name", r.name},
              {"description", r.description},
              {"permissions", r.permissions.names()},
              {"builtin", r.builtin},
              {"created_ms", r.created_ms},
              {"updated_ms", r.updated_ms}};
}

json audit_out(const iam::AuditEntry& e) {
  auto details = json::parse(e.details, nullptr, false);
  return json{{"seq", e.seq},
              {"ts_ms", e.ts_ms},
              {"actor", e.actor},
              {"source", e.source},
              {"action", e.action},
              {"target", e.target},
              {"details", details.is_discarded() ? json(e.details) : details},
              {"prev_hash", e.prev_hash},
              {"hash", e.hash}};
}

template <class T>
T unwrap(common::Result<T> r) {
  if (!r) throw ApiError::from(r.error());
  return std::move(r).value();
}

void unwrap(const common::Status& s) {
  if (!s) throw ApiError::from(s.error());
}

Reply ok(json body, unsigned status = 200) {
  return Reply{status, std::move(body), std::nullopt, "application/json", {}};
}
Reply no_content() { return Reply{204, json(), std::nullopt, "application/json", {}}; }

json cursor(const std::optional<std::int64_t>& c) { return c ? json(std::to_string(*c)) : json(nullptr); }

// Shared schema fragments for the OpenAPI document.
json str() { return {{"type", "string"}}; }
json integer() { return {{"type", "integer"}}; }
json boolean() { return {{"type", "boolean"}}; }
json strings() { return {{"type", "array"}, {"items", str()}}; }
json object(json props, std::vector<std::string> required = {}) {
  json o{{"type", "object"}, {"properties", std::move(props)}, {"additionalProperties", false}};
  if (!required.empty()) o["required"] = required;
  return o;
}
json user_schema() {
  return object({{"id", integer()},
                 {"username", str()},
                 {"display_name", str()},
                 {"email", str()},
                 {"active", boolean()},
                 {"locked", boolean()},
                 {"roles", strings()},
                 {"created_ms", integer()},
                 {"updated_ms", integer()}});
}
json role_schema() {
  return object({{"id", integer()},
                 {"name", str()},
                 {"description", str()},
                 {"permissions", strings()},
                 {"builtin", boolean()},
                 {"created_ms", integer()},
                 {"updated_ms", integer()}});
}
json page_of(json item) {
  return object({{"items", {{"type", "array"}, {"items", std::move(item)}}},
                 {"next_cursor", {{"type", "string"}, {"nullable", true}}}});
}

}  // namespace

void Api::add_system_routes() {
  router_.add(http::verb::get, "/healthz", Access::Public, std::nullopt,
              {"Liveness: the process answers", "system", nullptr, object({{"status", str()}})},
              [](RequestContext&) {
                return ok(json{{"status", "ok"}});
              });
  router_.add(http::verb::get, "/readyz", Access::Public, std::nullopt,
              {"Readiness: database reachable and not draining", "system", nullptr,
               object({{"status", str()}, {"database", str()}})},
              [this](RequestContext&) {
                const bool db_ok = db_.ping();
                const bool ready = db_ok && !draining_.load();
                return ok(json{{"status", ready ? "ready" : (draining_.load() ? "draining" : "not_ready")},
                               {"database", db_ok ? "ok" : "unreachable"}},
                          ready ? 200 : 503);
              });
  router_.add(http::verb::get, "/metrics", Access::Public, std::nullopt,
              {"Prometheus metrics (text format 0.0.4)", "system", nullptr, str()}, [this](RequestContext&) {
                Reply r;
                r.text = metrics_.render();
                r.content_type = "text/plain; version=0.0.4";
                return r;
              });
  router_.add(http::verb::get, "/api/v1/openapi.json", Access::Public, std::nullopt,
              {"This document: every route of the API", "system", nullptr, {{"type", "object"}}},
              [this](RequestContext&) { return ok(openapi()); });
  router_.add(http::verb::get, "/api/v1/permissions", Access::Permission, Permission::RolesRead,
              {"Every permission a role can contain", "roles", nullptr,
               object({{"items",
                        {{"type", "array"}, {"items", object({{"name", str()}, {"description", str()}})}}}})},
              [](RequestContext&) {
                json items = json::array();
                for (const auto& p : iam::all_permissions()) {
                  items.push_back({{"name", p.name}, {"description", p.description}});
                }
                return ok(json{{"items", items}});
              });
}

void Api::add_auth_routes() {
  json login_req = object({{"tenant", str()}, {"username", str()}, {"password", str()}},
                          {"tenant", "username", "password"});
  json login_res = object({{"token", str()}, {"expires_ms", integer()}, {"user", user_schema()}});
  router_.add(http::verb::post, "/api/v1/auth/login", Access::Public, std::nullopt,
              {"Sign in; returns a bearer token", "auth", login_req, login_res}, [this](RequestContext& ctx) {
                const auto& b = ctx.body();
                reject_unknown_fields(b, {"tenant", "username", "password"});
                iam::LoginRequest lr{req_string(b, "tenant"), req_string(b, "username"),
                                     req_string(b, "password"), ctx.peer.address,
                                     std::string(ctx.req[http::field::user_agent])};
                auto r = dir_.login(lr);
                if (!r) {
                  logins_failed_->inc();
                  throw ApiError::from(r.error());
                }
                logins_ok_->inc();
                auto user = unwrap(dir_.get_user(r->principal.tenant_id, r->principal.user_id));
                return ok(json{{"token", r->token}, {"expires_ms", r->expires_ms}, {"user", user_out(user)}});
              });
  router_.add(http::verb::post, "/api/v1/auth/logout", Access::SignedIn, std::nullopt,
              {"End this session; the token stops working", "auth", nullptr, nullptr, {}, 204},
              [this](RequestContext& ctx) {
                unwrap(dir_.logout(*ctx.principal, ctx.peer.address));
                return no_content();
              });
  json me = object({{"id", integer()},
                    {"username", str()},
                    {"display_name", str()},
                    {"email", str()},
                    {"tenant", object({{"id", integer()}, {"slug", str()}})},
                    {"roles", strings()},
                    {"permissions", strings()},
                    {"session_expires_ms", integer()}});
  router_.add(http::verb::get, "/api/v1/me", Access::SignedIn, std::nullopt,
              {"Who am I: user, tenant, roles and effective permissions", "auth", nullptr, me},
              [](RequestContext& ctx) {
                const auto& p = *ctx.principal;
                return ok(json{{"id", p.user_id},
                               {"username", p.username},
                               {"display_name", p.display_name},
                               {"email", p.email},
                               {"tenant", {{"id", p.tenant_id}, {"slug", p.tenant_slug}}},
                               {"roles", p.roles},
                               {"permissions", p.permissions.names()},
                               {"session_expires_ms", p.session_expires_ms}});
              });
  router_.add(
      http::verb::put, "/api/v1/me/password", Access::SignedIn, std::nullopt,
      {"Change one's own password (ends all sessions)",
       "auth",
       object({{"current_password", str()}, {"new_password", str()}}, {"current_password", "new_password"}),
       nullptr,
       {},
       204},
      [this](RequestContext& ctx) {
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"current_password", "new_password"});
        unwrap(dir_.set_password(ctx.principal->tenant_id, ctx.principal->user_id,
                                 req_string(b, "new_password"), ctx.actor(),
                                 req_string(b, "current_password")));
        return no_content();
      });
}

void Api::add_user_routes() {
  json new_user = object({{"username", str()},
                          {"display_name", str()},
                          {"email", str()},
                          {"password", str()},
                          {"roles", strings()},
                          {"active", boolean()}},
                         {"username", "password"});
  router_.add(http::verb::get, "/api/v1/users", Access::Permission, Permission::UsersRead,
              {"List users of the tenant (paginated by id)",
               "users",
               nullptr,
               page_of(user_schema()),
               {{"limit", "1-500, default 50"}, {"cursor", "next_cursor of the previous page"}}},
              [this](RequestContext& ctx) {
                iam::UserQuery q;
                q.limit = static_cast<int>(ctx.query_int("limit", 1, 500).value_or(50));
                q.after_id = ctx.query_int("cursor", 0, INT64_MAX).value_or(0);
                auto page = dir_.list_users(ctx.principal->tenant_id, q);
                json items = json::array();
                for (const auto& u : page.items) items.push_back(user_out(u));
                return ok(json{{"items", items}, {"next_cursor", cursor(page.next_cursor)}});
              });
  router_.add(
      http::verb::post, "/api/v1/users", Access::Permission, Permission::UsersWrite,
      {"Create a user", "users", new_user, user_schema(), {}, 201}, [this](RequestContext& ctx) {
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"username", "display_name", "email", "password", "roles", "active"});
        iam::NewUser nu{req_string(b, "username"),
                        opt_string(b, "display_name").value_or(""),
                        opt_string(b, "email").value_or(""),
                        req_string(b, "password"),
                        opt_string_list(b, "roles").value_or(std::vector<std::string>{}),
                        opt_bool(b, "active").value_or(true)};
        // Granting roles needs roles.assign on top of users.write.
        if (!nu.roles.empty() && !ctx.principal->can(Permission::RolesAssign)) {
          throw ApiError{403, "forbidden", "assigning roles requires the permission 'roles.assign'",
                         json{{"permission", "roles.assign"}}};
        }
        auto u = unwrap(dir_.create_user(ctx.principal->tenant_id, nu, ctx.actor()));
        return ok(user_out(u), 201);
      });
  router_.add(http::verb::get, "/api/v1/users/{id}", Access::Permission, Permission::UsersRead,
              {"Get one user", "users", nullptr, user_schema()}, [this](RequestContext& ctx) {
                return ok(user_out(unwrap(dir_.get_user(ctx.principal->tenant_id, ctx.id_param()))));
              });
  router_.add(
      http::verb::patch, "/api/v1/users/{id}", Access::Permission, Permission::UsersWrite,
      {"Change a user's name, e-mail or active flag", "users",
       object({{"display_name", str()}, {"email", str()}, {"active", boolean()}}), user_schema()},
      [this](RequestContext& ctx) {
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"display_name", "email", "active"});
        iam::UserPatch p{opt_string(b, "display_name"), opt_string(b, "email"), opt_bool(b, "active")};
        return ok(
            user_out(unwrap(dir_.update_user(ctx.principal->tenant_id, ctx.id_param(), p, ctx.actor()))));
      });
  router_.add(http::verb::delete_, "/api/v1/users/{id}", Access::Permission, Permission::UsersWrite,
              {"Delete a user and end their sessions", "users", nullptr, nullptr, {}, 204},
              [this](RequestContext& ctx) {
                unwrap(dir_.delete_user(ctx.principal->tenant_id, ctx.id_param(), ctx.actor()));
                return no_content();
              });
  router_.add(http::verb::put, "/api/v1/users/{id}/password", Access::Permission, Permission::UsersWrite,
              {"Set a user's password (ends their sessions)",
               "users",
               object({{"password", str()}}, {"password"}),
               nullptr,
               {},
               204},
              [this](RequestContext& ctx) {
                const auto& b = ctx.body();
                reject_unknown_fields(b, {"password"});
                unwrap(dir_.set_password(ctx.principal->tenant_id, ctx.id_param(), req_string(b, "password"),
                                         ctx.actor()));
                return no_content();
              });
  router_.add(http::verb::put, "/api/v1/users/{id}/roles", Access::Permission, Permission::RolesAssign,
              {"Replace a user's roles", "roles", object({{"roles", strings()}}, {"roles"}), user_schema()},
              [this](RequestContext& ctx) {
                const auto& b = ctx.body();
                reject_unknown_fields(b, {"roles"});
                auto roles = opt_string_list(b, "roles");
                if (!roles) throw ApiError::bad_request("field 'roles' is required", "roles");
                return ok(user_out(unwrap(
                    dir_.set_user_roles(ctx.principal->tenant_id, ctx.id_param(), *roles, ctx.actor()))));
              });
}

void Api::add_role_routes() {
  router_.add(http::verb::get, "/api/v1/roles", Access::Permission, Permission::RolesRead,
              {"List roles (built-in and custom)", "roles", nullptr,
               object({{"items", {{"type", "array"}, {"items", role_schema()}}}})},
              [this](RequestContext& ctx) {
                json items = json::array();
                for (const auto& r : dir_.list_roles(ctx.principal->tenant_id)) items.push_back(role_out(r));
                return ok(json{{"items", items}});
              });
  router_.add(
      http::verb::post, "/api/v1/roles", Access::Permission, Permission::RolesWrite,
      {"Create a custom role",
       "roles",
       object({{"name", str()}, {"description", str()}, {"permissions", strings()}}, {"name", "permissions"}),
       role_schema(),
       {},
       201},
      [this](RequestContext& ctx) {
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"name", "description", "permissions"});
        auto perms = opt_string_list(b, "permissions");
        if (!perms) throw ApiError::bad_request("field 'permissions' is required", "permissions");
        iam::NewRole nr{req_string(b, "name"), opt_string(b, "description").value_or(""), *perms};
        return ok(role_out(unwrap(dir_.create_role(ctx.principal->tenant_id, nr, ctx.actor()))), 201);
      });
  router_.add(http::verb::get, "/api/v1/roles/{id}", Access::Permission, Permission::RolesRead,
              {"Get one role", "roles", nullptr, role_schema()}, [this](RequestContext& ctx) {
                return ok(role_out(unwrap(dir_.get_role(ctx.principal->tenant_id, ctx.id_param()))));
              });
  router_.add(http::verb::patch, "/api/v1/roles/{id}", Access::Permission, Permission::RolesWrite,
              {"Change a custom role's description or permissions", "roles",
               object({{"description", str()}, {"permissions", strings()}}), role_schema()},
              [this](RequestContext& ctx) {
                const auto& b = ctx.body();
                reject_unknown_fields(b, {"description", "permissions"});
                iam::RolePatch p{opt_string(b, "description"), opt_string_list(b, "permissions")};
                return ok(role_out(
                    unwrap(dir_.update_role(ctx.principal->tenant_id, ctx.id_param(), p, ctx.actor()))));
              });
  router_.add(http::verb::delete_, "/api/v1/roles/{id}", Access::Permission, Permission::RolesWrite,
              {"Delete a custom role that nobody has", "roles", nullptr, nullptr, {}, 204},
              [this](RequestContext& ctx) {
                unwrap(dir_.delete_role(ctx.principal->tenant_id, ctx.id_param(), ctx.actor()));
                return no_content();
              });
}

void Api::add_audit_routes() {
  json entry = object({{"seq", integer()},
                       {"ts_ms", integer()},
                       {"actor", str()},
                       {"source", str()},
                       {"action", str()},
                       {"target", str()},
                       {"details", {{"type", "object"}}},
                       {"prev_hash", str()},
                       {"hash", str()}});
  router_.add(http::verb::get, "/api/v1/audit", Access::Permission, Permission::AuditRead,
              {"The tenant's audit log, newest first",
               "audit",
               nullptr,
               page_of(entry),
               {{"action", "exact action, e.g. user.create"},
                {"actor", "exact actor, e.g. user:1:admin"},
                {"target", "exact target, e.g. user:7"},
                {"from_ms", "inclusive lower bound on ts_ms"},
                {"to_ms", "exclusive upper bound on ts_ms"},
                {"limit", "1-500, default 50"},
                {"cursor", "next_cursor of the previous page"}}},
              [this](RequestContext& ctx) {
                iam::AuditQuery q;
                q.action = ctx.query_string("action");
                q.actor = ctx.query_string("actor");
                q.target = ctx.query_string("target");
                q.from_ms = ctx.query_int("from_ms", 0, INT64_MAX);
                q.to_ms = ctx.query_int("to_ms", 0, INT64_MAX);
                q.before_seq = ctx.query_int("cursor", 1, INT64_MAX);
                q.limit = static_cast<int>(ctx.query_int("limit", 1, 500).value_or(50));
                for (const auto& [k, _] : ctx.query) {
                  static const std::set<std::string> known = {"action", "actor",  "target", "from_ms",
                                                              "to_ms",  "cursor", "limit"};
                  if (!known.count(k)) throw ApiError::bad_request("unknown query parameter '" + k + "'", k);
                }
                auto page = dir_.query_audit(ctx.principal->tenant_id, q);
                json items = json::array();
                for (const auto& e : page.items) items.push_back(audit_out(e));
                return ok(json{{"items", items}, {"next_cursor", cursor(page.next_cursor)}});
              });
}

}  // namespace hotline::api

namespace hotline::api {

namespace {

json extension_out(const iam::Extension& e) {
  return json{{"id", e.id},
              {"extension", e.extension},
              {"display_name", e.display_name},
              {"user_id", e.user_id ? json(*e.user_id) : json(nullptr)},
              {"realm", e.realm},
              {"created_ms", e.created_ms},
              {"updated_ms", e.updated_ms}};
}

json ext_schema() {
  return object({{"id", integer()},
                 {"extension", str()},
                 {"display_name", str()},
                 {"user_id", {{"type", "integer"}, {"nullable", true}}},
                 {"realm", str()},
                 {"created_ms", integer()},
                 {"updated_ms", integer()},
                 {"password", str()}});
}

}  // namespace

void Api::add_extension_routes() {
  auto changed = [this] {
    if (options_.on_extensions_changed) options_.on_extensions_changed();
  };
  router_.add(http::verb::get, "/api/v1/extensions", Access::Permission, Permission::AgentsRead,
              {"List the tenant's SIP extensions", "extensions", nullptr,
               object({{"items", {{"type", "array"}, {"items", ext_schema()}}}})},
              [this](RequestContext& ctx) {
                json items = json::array();
                for (const auto& e : extensions_.list(ctx.principal->tenant_id))
                  items.push_back(extension_out(e));
                return ok(json{{"items", items}});
              });
  router_.add(
      http::verb::post, "/api/v1/extensions", Access::Permission, Permission::AgentsWrite,
      {"Create a SIP extension; the SIP password is returned once (generated unless given)",
       "extensions",
       object({{"extension", str()}, {"display_name", str()}, {"user_id", integer()}, {"password", str()}},
              {"extension"}),
       ext_schema(),
       {},
       201},
      [this, changed](RequestContext& ctx) {
        const auto& b = ctx.body();
        reject_unknown_fields(b, {"extension", "display_name", "user_id", "password"});
        std::optional<std::int64_t> user_id;
        if (b.contains("user_id") && !b["user_id"].is_null()) {
          if (!b["user_id"].is_number_integer()) {
            throw ApiError::bad_request("field 'user_id' must be an integer", "user_id");
          }
          user_id = b["user_id"].get<std::int64_t>();
        }
        auto given = opt_string(b, "password");
        const auto password = given ? *given : security::generate_password(16);
        auto e = unwrap(extensions_.create(ctx.principal->tenant_id, req_string(b, "extension"),
                                           opt_string(b, "display_name").value_or(""), password,
                                           options_.sip_realm, ctx.actor(), user_id));
        changed();
        auto out = extension_out(e);
        if (!given) out["password"] = password;
        return ok(out, 201);
      });
  router_.add(http::verb::put, "/api/v1/extensions/{id}/password", Access::Permission,
              Permission::AgentsWrite,
              {"Set a new SIP password (generated unless given; returned once)", "extensions",
               object({{"password", str()}}), object({{"password", str()}})},
              [this, changed](RequestContext& ctx) {
                const auto& b = ctx.body();
                reject_unknown_fields(b, {"password"});
                auto given = opt_string(b, "password");
                const auto password = given ? *given : security::generate_password(16);
                unwrap(extensions_.set_password(ctx.principal->tenant_id, ctx.id_param(), password,
                                                options_.sip_realm, ctx.actor()));
                changed();
                return ok(given ? json::object() : json{{"password", password}});
              });
  router_.add(http::verb::delete_, "/api/v1/extensions/{id}", Access::Permission, Permission::AgentsWrite,
              {"Delete a SIP extension", "extensions", nullptr, nullptr, {}, 204},
              [this, changed](RequestContext& ctx) {
                unwrap(extensions_.remove(ctx.principal->tenant_id, ctx.id_param(), ctx.actor()));
                changed();
                return no_content();
              });
}

}  // namespace hotline::api
