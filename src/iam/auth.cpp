// Login, session tokens and the per-request authentication cache.
//
// Throttling has two layers: per client address (in memory; stops one
// source from trying many accounts) and per account (stored in the users
// row, so a restart does not reset a lockout). Unknown accounts are tracked
// in memory with the same thresholds so that responses for existing and
// non-existing users cannot be told apart, and a dummy hash is verified for
// unknown users so timing does not tell either.
#include <nlohmann/json.hpp>

#include "iam/iam.h"

namespace hotline::iam {

using nlohmann::json;

namespace {

bool plausible_token(const std::string& t) {
  if (t.size() != 43) return false;
  for (char c : t) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Error invalid_credentials() { return Error{"unauthorized", "invalid tenant, username or password", {}}; }

Error locked_error(std::int64_t retry_after_ms) {
  Error e{"locked", "too many failed logins for this account; try again later", {}};
  e.retry_after_s = std::max<std::int64_t>(1, (retry_after_ms + 999) / 1000);
  return e;
}

}  // namespace

Result<LoginResult> Directory::fail_login(const LoginRequest& req, std::int64_t tenant_id,
                                          std::int64_t user_id, const std::string& reason) {
  const auto now = now_ms();
  const auto window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(policy_.source_window).count();
  const auto lockout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(policy_.lockout).count();
  {
    std::lock_guard lock(throttle_mu_);
    auto& f = source_failures_[req.source];
    if (now - f.window_start_ms > window_ms) f = Failures{0, now, 0};
    ++f.count;
    if (source_failures_.size() > 100'000) source_failures_.clear();  // bound memory under a spray
  }
  bool locked_now = false;
  if (user_id == 0) {
    std::lock_guard lock(throttle_mu_);
    auto& f = unknown_accounts_[req.tenant + "/" + req.username];
    if (++f.count >= policy_.max_failed_logins) {
      f = Failures{0, now, now + lockout_ms};
      locked_now = true;
    }
    if (unknown_accounts_.size() > 100'000) unknown_accounts_.clear();
  }
  const Actor actor{
      tenant_id, user_id, "user:" + std::to_string(user_id) + ":" + req.username, req.source, {}};
  db_.transaction([&](store::Tx& tx) {
    if (user_id != 0) {
      auto row = tx.exec(
                       "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 "
                       "RETURNING failed_logins",
                       {user_id})
                     .rows.at(0);
      if (row.integer(0) >= policy_.max_failed_logins) {
        tx.exec("UPDATE users SET failed_logins = 0, locked_until_ms = $1 WHERE id = $2",
                {now + lockout_ms, user_id});
        locked_now = true;
      }
    }
    append_audit(tx, now, actor, tenant_id, "auth.login_failed", "user:" + req.username,
                 json{{"reason", reason}, {"user_agent", req.user_agent}}.dump());
    if (locked_now) {
      append_audit(tx, now, actor, tenant_id, "auth.locked", "user:" + req.username,
                   json{{"lockout_s", policy_.lockout.count()}}.dump());
    }
  });
  if (locked_now) return locked_error(lockout_ms);
  return invalid_credentials();
}

Result<LoginResult> Directory::login(const LoginRequest& req) {
  const auto now = now_ms();
  {
    std::lock_guard lock(throttle_mu_);
    auto it = source_failures_.find(req.source);
    const auto window_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(policy_.source_window).count();
    if (it != source_failures_.end() && now - it->second.window_start_ms <= window_ms &&
        it->second.count >= policy_.max_failures_per_source) {
      Error e{"rate_limited", "too many failed logins from your address; try again later", {}};
      e.retry_after_s = std::max<std::int64_t>(1, (it->second.window_start_ms + window_ms - now) / 1000);
      return e;
    }
    auto ua = unknown_accounts_.find(req.tenant + "/" + req.username);
    if (ua != unknown_accounts_.end() && ua->second.locked_until_ms > now) {
      return locked_error(ua->second.locked_until_ms - now);
    }
  }

  auto tenant = find_tenant(req.tenant);
  std::int64_t tenant_id = tenant && tenant->active ? tenant->id : 0;
  std::int64_t user_id = 0;
  std::string stored_hash;
  bool active = false;
  if (tenant_id != 0) {
    auto rows = db_.exec(
                       "SELECT id, password_hash, active, locked_until_ms FROM users "
                       "WHERE tenant_id = $1 AND username = $2",
                       {tenant_id, req.username})
                    .rows;
    if (!rows.empty()) {
      user_id = rows[0].integer(0);
      stored_hash = rows[0].text(1);
      active = rows[0].integer(2) != 0;
      const auto locked_until = rows[0].integer(3);
      if (locked_until > now) {
        audit(
            Actor{tenant_id, user_id, "user:" + std::to_string(user_id) + ":" + req.username, req.source, {}},
            tenant_id, "auth.login_blocked", "user:" + req.username, json{{"reason", "locked"}}.dump());
        return locked_error(locked_until - now);
      }
    }
  }

  // Always pay for one verification so unknown users cost the same time.
  const bool password_ok = security::verify_password(
      user_id != 0 ? stored_hash : security::dummy_password_hash(policy_.kdf), req.password);
  if (user_id == 0) return fail_login(req, tenant_id, 0, tenant_id == 0 ? "unknown_tenant" : "unknown_user");
  if (!password_ok) return fail_login(req, tenant_id, user_id, "bad_password");
  if (!active) return fail_login(req, tenant_id, user_id, "inactive_user");

  const auto token = security::new_token();
  const auto token_hash = security::sha256_hex(token);
  const auto expires =
      now + std::chrono::duration_cast<std::chrono::milliseconds>(policy_.session_ttl).count();
  const std::string rehash = security::needs_rehash(stored_hash, policy_.kdf)
                                 ? security::hash_password(req.password, policy_.kdf)
                                 : "";
  const Actor actor{
      tenant_id, user_id, "user:" + std::to_string(user_id) + ":" + req.username, req.source, {}};
  auto session_id = db_.transaction([&](store::Tx& tx) {
    tx.exec("UPDATE users SET failed_logins = 0 WHERE id = $1", {user_id});
    if (!rehash.empty()) tx.exec("UPDATE users SET password_hash = $1 WHERE id = $2", {rehash, user_id});
    auto id = tx.exec(
                    "INSERT INTO sessions (tenant_id, user_id, token_hash, created_ms, expires_ms, source, "
                    "user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    {tenant_id, user_id, token_hash, now, expires, req.source, req.user_agent.substr(0, 256)})
                  .rows.at(0)
                  .integer(0);
    append_audit(tx, now, actor, tenant_id, "auth.login", "user:" + std::to_string(user_id),
                 json{{"session", id}, {"user_agent", req.user_agent.substr(0, 256)}}.dump());
    return id;
  });
  (void)session_id;
  auto principal = load_principal(token_hash, now);
  if (!principal) return Error::internal("session vanished right after login");
  return LoginResult{token, expires, *principal};
}

std::optional<Principal> Directory::load_principal(const std::string& token_hash, std::int64_t now) {
  return load_principal_where("s.token_hash = $1", token_hash, now);
}

std::optional<Principal> Directory::session_principal(std::int64_t session_id) {
  return load_principal_where("s.id = $1", session_id, now_ms());
}

std::optional<Principal> Directory::load_principal_where(const char* session_match, const store::Value& key,
                                                         std::int64_t now) {
  auto rows =
      db_.exec(
             std::string("SELECT s.id, s.tenant_id, s.user_id, s.expires_ms, u.username, u.display_name, "
                         "u.email, t.slug FROM sessions s JOIN users u ON u.id = s.user_id JOIN tenants t ON "
                         "t.id = s.tenant_id WHERE ") +
                 session_match +
                 " AND s.revoked_ms = 0 AND s.expires_ms > $2 AND u.active = 1 AND t.active = 1",
             {key, now})
          .rows;
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  Principal p;
  p.session_id = r.integer(0);
  p.tenant_id = r.integer(1);
  p.user_id = r.integer(2);
  p.session_expires_ms = r.integer(3);
  p.username = r.text(4);
  p.display_name = r.text(5);
  p.email = r.text(6);
  p.tenant_slug = r.text(7);
  for (const auto& rr :
       db_.exec("SELECT r.name, r.permissions FROM user_roles ur JOIN roles r ON r.id = ur.role_id "
                "WHERE ur.user_id = $1 ORDER BY r.name",
                {p.user_id})
           .rows) {
    p.roles.push_back(rr.text(0));
    p.permissions |= PermissionSet::from_storage(rr.text(1));
  }
  return p;
}

std::optional<Principal> Directory::authenticate(const std::string& token) {
  if (!plausible_token(token)) return std::nullopt;
  const auto token_hash = security::sha256_hex(token);
  const auto now = now_ms();
  const auto epoch = epoch_.load();
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(token_hash);
    if (it != cache_.end() && it->second.epoch == epoch && now < it->second.valid_until_ms) {
      return it->second.principal;
    }
  }
  auto p = load_principal(token_hash, now);
  std::unique_lock lock(cache_mu_);
  if (!p) {
    cache_.erase(token_hash);
    return std::nullopt;
  }
  if (cache_.size() > 200'000) cache_.clear();  // bound memory; entries are re-read on demand
  const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(policy_.cache_ttl).count();
  cache_[token_hash] = CachedSession{*p, std::min(p->session_expires_ms, now + ttl), epoch};
  return p;
}

Status Directory::logout(const Principal& who, const std::string& source) {
  const auto now = now_ms();
  db_.transaction([&](store::Tx& tx) {
    tx.exec("UPDATE sessions SET revoked_ms = $1 WHERE id = $2 AND revoked_ms = 0", {now, who.session_id});
    append_audit(tx, now, who.actor(source), who.tenant_id, "auth.logout",
                 "user:" + std::to_string(who.user_id), json{{"session", who.session_id}}.dump());
  });
  std::unique_lock lock(cache_mu_);
  for (auto it = cache_.begin(); it != cache_.end(); ++it) {
    if (it->second.principal.session_id == who.session_id) {
      cache_.erase(it);
      break;
    }
  }
  bump_epoch(ChangeScope::kSession, who.session_id);  // tells watchers (open WebSockets) this session ended
  return common::ok_status();
}

}  // namespace hotline::iam
