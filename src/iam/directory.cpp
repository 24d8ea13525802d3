// Tenants, users and roles. Every change runs in one transaction together
// with its audit entry.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "iam/iam.h"
#include "iam/validate.h"

namespace hotline::iam {

using nlohmann::json;
using store::StoreError;
using store::Value;

Actor Actor::cli() { return Actor{0, 0, "cli", "cli", PermissionSet::all()}; }
Actor Actor::system() { return Actor{0, 0, "system", "system", PermissionSet::all()}; }

Actor Principal::actor(std::string source) const {
  return Actor{tenant_id, user_id, "user:" + std::to_string(user_id) + ":" + username, std::move(source),
               permissions};
}

Directory::Directory(store::Database& db, common::Clock& clock, AuthPolicy policy)
    : db_(db), clock_(clock), policy_(std::move(policy)) {}

Directory::~Directory() = default;

void Directory::invalidate_cache() {
  bump_epoch();
  std::unique_lock lock(cache_mu_);
  cache_.clear();
}

void Directory::drop_user_sessions(std::int64_t user_id) {
  bump_epoch(ChangeScope::kUser, user_id);
  std::unique_lock lock(cache_mu_);
  std::erase_if(cache_, [&](const auto& entry) { return entry.second.principal.user_id == user_id; });
}

void Directory::bump_epoch(ChangeScope scope, std::int64_t id) {
  std::lock_guard lock(changes_mu_);
  const std::uint64_t epoch = epoch_.fetch_add(1) + 1;
  changes_.push_back(Change{epoch, scope, id});
  if (changes_.size() > kChangeLog) changes_.pop_front();
}

Directory::Changes Directory::changes_since(std::uint64_t since) const {
  std::lock_guard lock(changes_mu_);
  Changes out;
  out.epoch = epoch_.load();
  if (since >= out.epoch) return out;
  if (changes_.empty() || changes_.front().epoch > since + 1) {
    out.everything = true;  // the log no longer reaches back
    return out;
  }
  for (const auto& c : changes_) {
    if (c.epoch <= since) continue;
    switch (c.scope) {
      case ChangeScope::kEverything:
        out.everything = true;
        break;
      case ChangeScope::kSession:
        out.sessions.push_back(c.id);
        break;
      case ChangeScope::kUser:
        out.users.push_back(c.id);
        break;
    }
  }
  return out;
}

namespace {

Tenant tenant_from_row(const store::Row& r) {
  return Tenant{r.integer(0), r.text(1), r.text(2), r.integer(3) != 0, r.integer(4)};
}

json user_json(const User& u) {
  return json{{"username", u.username},
              {"display_name", u.display_name},
              {"email", u.email},
              {"active", u.active},
              {"roles", u.roles}};
}

// Only the fields that differ, as {"before":{...},"after":{...}}.
std::string diff_json(const json& before, const json& after) {
  json b = json::object(), a = json::object();
  for (auto& [k, v] : after.items()) {
    if (!before.contains(k) || before.at(k) != v) {
      if (before.contains(k)) b[k] = before.at(k);
      a[k] = v;
    }
  }
  for (auto& [k, v] : before.items()) {
    if (!after.contains(k)) b[k] = v;
  }
  return json{{"before", b}, {"after", a}}.dump();
}

Error conflict_from(const StoreError& e, const std::string& what) {
  if (e.kind() == StoreError::Kind::Unique) return Error::conflict(what + " already exists");
  throw e;
}

constexpr const char* kUserColumns =
    "id, tenant_id, username, display_name, email, active, locked_until_ms, created_ms, updated_ms";

User user_from_row(const store::Row& r, std::int64_t now_ms) {
  User u;
  u.id = r.integer(0);
  u.tenant_id = r.integer(1);
  u.username = r.text(2);
  u.display_name = r.text(3);
  u.email = r.text(4);
  u.active = r.integer(5) != 0;
  u.locked = r.integer(6) > now_ms;
  u.created_ms = r.integer(7);
  u.updated_ms = r.integer(8);
  return u;
}

Role role_from_row(const store::Row& r) {
  return Role{r.integer(0),      r.integer(1), r.text(2),   r.text(3), PermissionSet::from_storage(r.text(4)),
              r.integer(5) != 0, r.integer(6), r.integer(7)};
}

constexpr const char* kRoleColumns =
    "id, tenant_id, name, description, permissions, builtin, created_ms, updated_ms";

json role_json(const Role& r) {
  return json{{"name", r.name}, {"description", r.description}, {"permissions", r.permissions.names()}};
}

Result<PermissionSet> parse_permissions(const std::vector<std::string>& names) {
  PermissionSet set;
  for (const auto& n : names) {
    auto p = permission_from_name(n);
    if (!p) return Error::invalid("permissions", "unknown permission '" + n + "'");
    set.add(*p);
  }
  return set;
}

}  // namespace

// ---- tenants ----

Result<Tenant> Directory::create_tenant(const std::string& slug, const std::string& name,
                                        const Actor& actor) {
  if (auto e = check_slug(slug)) return *e;
  if (auto e = check_text(name, 128, "name")) return *e;
  try {
    return db_.transaction([&](store::Tx& tx) {
      const auto now = now_ms();
      auto id =
          tx.exec("INSERT INTO tenants (slug, name, active, created_ms) VALUES ($1, $2, 1, $3) RETURNING id",
                  {slug, name.empty() ? slug : name, now})
              .rows.at(0)
              .integer(0);
      for (const auto& role : builtin_roles()) {
        tx.exec(
            "INSERT INTO roles (tenant_id, name, description, permissions, builtin, created_ms, updated_ms) "
            "VALUES ($1, $2, $3, $4, 1, $5, $5)",
            {id, std::string(role.name), std::string(role.description), role.permissions.to_storage(), now});
      }
      append_audit(tx, now, actor, id, "tenant.create", "tenant:" + std::to_string(id),
                   json{{"after", {{"slug", slug}, {"name", name}}}}.dump());
      return Tenant{id, slug, name.empty() ? slug : name, true, now};
    });
  } catch (const StoreError& e) {
    return conflict_from(e, "tenant '" + slug + "'");
  }
}

std::vector<Tenant> Directory::list_tenants() {
  std::vector<Tenant> out;
  for (const auto& r : db_.exec("SELECT id, slug, name, active, created_ms FROM tenants ORDER BY id").rows) {
    out.push_back(tenant_from_row(r));
  }
  return out;
}

std::optional<Tenant> Directory::find_tenant(const std::string& slug) {
  auto rows = db_.exec("SELECT id, slug, name, active, created_ms FROM tenants WHERE slug = $1", {slug}).rows;
  if (rows.empty()) return std::nullopt;
  return tenant_from_row(rows[0]);
}

// ---- users ----

std::vector<std::string> Directory::user_role_names(store::Tx& tx, std::int64_t user_id) {
  std::vector<std::string> out;
  for (const auto& r : tx.exec("SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
                               "WHERE ur.user_id = $1 ORDER BY r.name",
                               {user_id})
                           .rows) {
    out.push_back(r.text(0));
  }
  return out;
}

Result<User> Directory::load_user(store::Tx& tx, std::int64_t tenant_id, std::int64_t user_id) {
  auto rows = tx.exec(std::string("SELECT ") + kUserColumns + " FROM users WHERE tenant_id = $1 AND id = $2",
                      {tenant_id, user_id})
                  .rows;
  if (rows.empty()) return Error::not_found("no user with id " + std::to_string(user_id));
  User u = user_from_row(rows[0], now_ms());
  u.roles = user_role_names(tx, u.id);
  return u;
}

Result<std::vector<std::int64_t>> Directory::resolve_roles(store::Tx& tx, std::int64_t tenant_id,
                                                           const std::vector<std::string>& names,
                                                           const Actor& actor) {
  std::vector<std::int64_t> ids;
  for (const auto& name : names) {
    auto rows =
        tx.exec("SELECT id, permissions FROM roles WHERE tenant_id = $1 AND name = $2", {tenant_id, name})
            .rows;
    if (rows.empty()) return Error::invalid("roles", "unknown role '" + name + "'");
    // Nobody hands out a permission they do not hold themselves.
    if (!actor.permissions.contains(PermissionSet::from_storage(rows[0].text(1)))) {
      return Error{"forbidden", "you cannot grant role '" + name + "': it has permissions you do not hold",
                   "roles"};
    }
    ids.push_back(rows[0].integer(0));
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

bool Directory::tenant_keeps_an_admin(store::Tx& tx, std::int64_t tenant_id) {
  auto rows = tx.exec(
                    "SELECT COUNT(*) FROM users u JOIN user_roles ur ON ur.user_id = u.id "
                    "JOIN roles r ON r.id = ur.role_id "
                    "WHERE u.tenant_id = $1 AND u.active = 1 AND r.name = 'admin' AND r.builtin = 1",
                    {tenant_id})
                  .rows;
  return rows.at(0).integer(0) > 0;
}

Result<User> Directory::create_user(std::int64_t tenant_id, const NewUser& nu, const Actor& actor) {
  if (auto e = check_username(nu.username)) return *e;
  if (auto e = check_text(nu.display_name, 128, "display_name")) return *e;
  if (auto e = check_email(nu.email)) return *e;
  if (auto e = check_password(nu.password, policy_.min_password_length)) return *e;
  const auto hash = security::hash_password(nu.password, policy_.kdf);  // slow: outside the transaction
  try {
    auto r = db_.transaction([&](store::Tx& tx) -> Result<User> {
      auto role_ids = resolve_roles(tx, tenant_id, nu.roles, actor);
      if (!role_ids) return role_ids.error();
      const auto now = now_ms();
      auto id = tx.exec(
                      "INSERT INTO users (tenant_id, username, display_name, email, password_hash, active, "
                      "created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
                      {tenant_id, nu.username, nu.display_name, nu.email, hash,
                       static_cast<std::int64_t>(nu.active ? 1 : 0), now})
                    .rows.at(0)
                    .integer(0);
      for (auto rid : *role_ids) {
        tx.exec("INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3)",
                {tenant_id, id, rid});
      }
      auto u = load_user(tx, tenant_id, id);
      append_audit(tx, now, actor, tenant_id, "user.create", "user:" + std::to_string(id),
                   json{{"after", user_json(*u)}}.dump());
      return u;
    });
    bump_epoch();
    return r;
  } catch (const StoreError& e) {
    return conflict_from(e, "user '" + nu.username + "'");
  }
}

Result<User> Directory::get_user(std::int64_t tenant_id, std::int64_t user_id) {
  return db_.read_transaction([&](store::Tx& tx) { return load_user(tx, tenant_id, user_id); });
}

Result<User> Directory::find_user(std::int64_t tenant_id, const std::string& username) {
  return db_.read_transaction([&](store::Tx& tx) -> Result<User> {
    auto rows =
        tx.exec("SELECT id FROM users WHERE tenant_id = $1 AND username = $2", {tenant_id, username}).rows;
    if (rows.empty()) return Error::not_found("no user named '" + username + "'");
    return load_user(tx, tenant_id, rows[0].integer(0));
  });
}

Page<User> Directory::list_users(std::int64_t tenant_id, const UserQuery& q) {
  const int limit = std::clamp(q.limit, 1, 500);
  return db_.read_transaction([&](store::Tx& tx) {
    Page<User> page;
    auto rows = tx.exec(std::string("SELECT ") + kUserColumns +
                            " FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                        {tenant_id, q.after_id, static_cast<std::int64_t>(limit + 1)})
                    .rows;
    const auto now = now_ms();
    for (const auto& r : rows) {
      if (static_cast<int>(page.items.size()) == limit) {
        page.next_cursor = page.items.back().id;
        break;
      }
      page.items.push_back(user_from_row(r, now));
    }
    if (page.items.empty()) return page;
    // Roles of the whole page in one query.
    auto role_rows =
        tx.exec(
              "SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
              "WHERE ur.tenant_id = $1 AND ur.user_id >= $2 AND ur.user_id <= $3 ORDER BY r.name",
              {tenant_id, page.items.front().id, page.items.back().id})
            .rows;
    for (const auto& rr : role_rows) {
      auto uid = rr.integer(0);
      auto it =
          std::find_if(page.items.begin(), page.items.end(), [&](const User& u) { return u.id == uid; });
      if (it != page.items.end()) it->roles.push_back(rr.text(1));
    }
    return page;
  });
}

Result<User> Directory::update_user(std::int64_t tenant_id, std::int64_t user_id, const UserPatch& p,
                                    const Actor& actor) {
  if (p.display_name) {
    if (auto e = check_text(*p.display_name, 128, "display_name")) return *e;
  }
  if (p.email) {
    if (auto e = check_email(*p.email)) return *e;
  }
  try {
    auto r = update_user_tx(tenant_id, user_id, p, actor);
    bump_epoch(ChangeScope::kUser, user_id);
    return r;
  } catch (const Error& e) {
    return e;
  }
}

Result<User> Directory::update_user_tx(std::int64_t tenant_id, std::int64_t user_id, const UserPatch& p,
                                       const Actor& actor) {
  return db_.transaction([&](store::Tx& tx) -> Result<User> {
    auto before = load_user(tx, tenant_id, user_id);
    if (!before) return before;
    User after = *before;
    if (p.display_name) after.display_name = *p.display_name;
    if (p.email) after.email = *p.email;
    if (p.active) after.active = *p.active;
    const auto now = now_ms();
    tx.exec("UPDATE users SET display_name = $1, email = $2, active = $3, updated_ms = $4 WHERE id = $5",
            {after.display_name, after.email, static_cast<std::int64_t>(after.active ? 1 : 0), now, user_id});
    if (before->active && !after.active) {
      if (!tenant_keeps_an_admin(tx, tenant_id)) {
        throw Error{"conflict", "cannot deactivate the tenant's last active admin", "active"};
      }
      tx.exec("UPDATE sessions SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms = 0", {now, user_id});
    }
    after.updated_ms = now;
    append_audit(tx, now, actor, tenant_id, "user.update", "user:" + std::to_string(user_id),
                 diff_json(user_json(*before), user_json(after)));
    return after;
  });
}

Status Directory::delete_user(std::int64_t tenant_id, std::int64_t user_id, const Actor& actor) {
  if (actor.user_id == user_id) return Error{"conflict", "you cannot delete your own account", {}};
  try {
    auto r = db_.transaction([&](store::Tx& tx) -> Status {
      auto before = load_user(tx, tenant_id, user_id);
      if (!before) return before.error();
      tx.exec("DELETE FROM users WHERE tenant_id = $1 AND id = $2", {tenant_id, user_id});
      if (!tenant_keeps_an_admin(tx, tenant_id)) {
        throw Error{"conflict", "cannot delete the tenant's last active admin", {}};
      }
      append_audit(tx, now_ms(), actor, tenant_id, "user.delete", "user:" + std::to_string(user_id),
                   json{{"before", user_json(*before)}}.dump());
      return common::ok_status();
    });
    drop_user_sessions(user_id);
    return r;
  } catch (const Error& e) {
    return e;
  }
}

Status Directory::set_password(std::int64_t tenant_id, std::int64_t user_id, const std::string& password,
                               const Actor& actor, const std::optional<std::string>& current) {
  if (auto e = check_password(password, policy_.min_password_length)) return *e;
  if (current) {
    auto rows =
        db_.exec("SELECT password_hash FROM users WHERE tenant_id = $1 AND id = $2", {tenant_id, user_id})
            .rows;
    if (rows.empty()) return Error::not_found("no user with id " + std::to_string(user_id));
    if (!security::verify_password(rows[0].text(0), *current)) {
      return Error{"forbidden", "current password is wrong", "current_password"};
    }
  }
  const auto hash = security::hash_password(password, policy_.kdf);
  auto r = db_.transaction([&](store::Tx& tx) -> Status {
    const auto now = now_ms();
    auto res = tx.exec(
        "UPDATE users SET password_hash = $1, failed_logins = 0, locked_until_ms = 0, updated_ms = $2 "
        "WHERE tenant_id = $3 AND id = $4",
        {hash, now, tenant_id, user_id});
    if (res.affected == 0) return Error::not_found("no user with id " + std::to_string(user_id));
    // A new password ends every existing session of that user.
    tx.exec("UPDATE sessions SET revoked_ms = $1 WHERE user_id = $2 AND revoked_ms = 0", {now, user_id});
    append_audit(tx, now, actor, tenant_id, "user.password", "user:" + std::to_string(user_id),
                 json{{"sessions_revoked", true}}.dump());
    return common::ok_status();
  });
  drop_user_sessions(user_id);
  return r;
}

Result<User> Directory::set_user_roles(std::int64_t tenant_id, std::int64_t user_id,
                                       const std::vector<std::string>& roles, const Actor& actor) {
  try {
    auto r = db_.transaction([&](store::Tx& tx) -> Result<User> {
      auto before = load_user(tx, tenant_id, user_id);
      if (!before) return before;
      auto ids = resolve_roles(tx, tenant_id, roles, actor);
      if (!ids) return ids.error();
      tx.exec("DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2", {tenant_id, user_id});
      for (auto rid : *ids) {
        tx.exec("INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3)",
                {tenant_id, user_id, rid});
      }
      if (!tenant_keeps_an_admin(tx, tenant_id)) {
        throw Error{"conflict", "the tenant must keep at least one active admin", "roles"};
      }
      auto after = load_user(tx, tenant_id, user_id);
      append_audit(tx, now_ms(), actor, tenant_id, "user.roles", "user:" + std::to_string(user_id),
                   json{{"before", {{"roles", before->roles}}}, {"after", {{"roles", after->roles}}}}.dump());
      return after;
    });
    drop_user_sessions(user_id);
    return r;
  } catch (const Error& e) {
    return e;
  }
}

// ---- roles ----

std::vector<Role> Directory::list_roles(std::int64_t tenant_id) {
  std::vector<Role> out;
  for (const auto& r :
       db_.exec(std::string("SELECT ") + kRoleColumns + " FROM roles WHERE tenant_id = $1 ORDER BY id",
                {tenant_id})
           .rows) {
    out.push_back(role_from_row(r));
  }
  return out;
}

Result<Role> Directory::get_role(std::int64_t tenant_id, std::int64_t role_id) {
  auto rows = db_.exec(std::string("SELECT ") + kRoleColumns + " FROM roles WHERE tenant_id = $1 AND id = $2",
                       {tenant_id, role_id})
                  .rows;
  if (rows.empty()) return Error::not_found("no role with id " + std::to_string(role_id));
  return role_from_row(rows[0]);
}

Result<Role> Directory::create_role(std::int64_t tenant_id, const NewRole& nr, const Actor& actor) {
  if (auto e = check_role_name(nr.name)) return *e;
  if (auto e = check_text(nr.description, 512, "description")) return *e;
  auto perms = parse_permissions(nr.permissions);
  if (!perms) return perms.error();
  if (!actor.permissions.contains(*perms)) {
    return Error{"forbidden", "a role cannot have permissions you do not hold", "permissions"};
  }
  try {
    auto r = db_.transaction([&](store::Tx& tx) {
      const auto now = now_ms();
      auto id = tx.exec(
                      "INSERT INTO roles (tenant_id, name, description, permissions, builtin, created_ms, "
                      "updated_ms) VALUES ($1, $2, $3, $4, 0, $5, $5) RETURNING id",
                      {tenant_id, nr.name, nr.description, perms->to_storage(), now})
                    .rows.at(0)
                    .integer(0);
      Role role{id, tenant_id, nr.name, nr.description, *perms, false, now, now};
      append_audit(tx, now, actor, tenant_id, "role.create", "role:" + std::to_string(id),
                   json{{"after", role_json(role)}}.dump());
      return role;
    });
    return r;
  } catch (const StoreError& e) {
    return conflict_from(e, "role '" + nr.name + "'");
  }
}

Result<Role> Directory::update_role(std::int64_t tenant_id, std::int64_t role_id, const RolePatch& p,
                                    const Actor& actor) {
  if (p.description) {
    if (auto e = check_text(*p.description, 512, "description")) return *e;
  }
  std::optional<PermissionSet> perms;
  if (p.permissions) {
    auto parsed = parse_permissions(*p.permissions);
    if (!parsed) return parsed.error();
    if (!actor.permissions.contains(*parsed)) {
      return Error{"forbidden", "a role cannot have permissions you do not hold", "permissions"};
    }
    perms = *parsed;
  }
  auto r = db_.transaction([&](store::Tx& tx) -> Result<Role> {
    auto rows =
        tx.exec(std::string("SELECT ") + kRoleColumns + " FROM roles WHERE tenant_id = $1 AND id = $2",
                {tenant_id, role_id})
            .rows;
    if (rows.empty()) return Error::not_found("no role with id " + std::to_string(role_id));
    Role before = role_from_row(rows[0]);
    if (before.builtin) return Error{"forbidden", "built-in roles cannot be changed", {}};
    Role after = before;
    if (p.description) after.description = *p.description;
    if (perms) after.permissions = *perms;
    after.updated_ms = now_ms();
    tx.exec("UPDATE roles SET description = $1, permissions = $2, updated_ms = $3 WHERE id = $4",
            {after.description, after.permissions.to_storage(), after.updated_ms, role_id});
    append_audit(tx, after.updated_ms, actor, tenant_id, "role.update", "role:" + std::to_string(role_id),
                 diff_json(role_json(before), role_json(after)));
    return after;
  });
  invalidate_cache();
  return r;
}

Status Directory::delete_role(std::int64_t tenant_id, std::int64_t role_id, const Actor& actor) {
  return db_.transaction([&](store::Tx& tx) -> Status {
    auto rows =
        tx.exec(std::string("SELECT ") + kRoleColumns + " FROM roles WHERE tenant_id = $1 AND id = $2",
                {tenant_id, role_id})
            .rows;
    if (rows.empty()) return Error::not_found("no role with id " + std::to_string(role_id));
    Role role = role_from_row(rows[0]);
    if (role.builtin) return Error{"forbidden", "built-in roles cannot be deleted", {}};
    auto users =
        tx.exec("SELECT COUNT(*) FROM user_roles WHERE role_id = $1", {role_id}).rows.at(0).integer(0);
    if (users > 0) {
      return Error::conflict("role is assigned to " + std::to_string(users) + " user(s); unassign it first");
    }
    tx.exec("DELETE FROM roles WHERE id = $1", {role_id});
    append_audit(tx, now_ms(), actor, tenant_id, "role.delete", "role:" + std::to_string(role_id),
                 json{{"before", role_json(role)}}.dump());
    return common::ok_status();
  });
}

}  // namespace hotline::iam
