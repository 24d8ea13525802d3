// iam/iam.h — identity and access: tenants, users, roles, sessions, audit log.
//
// `Directory` is the one service the API and the CLI use for all of it. It
// owns the rules (validation, who may grant what, login throttling and
// lockout, session lifetime) and writes an audit entry in the same database
// transaction as every change it makes, so a change and its audit record are
// committed together or not at all.
//
//   iam::Directory dir(db, clock, policy);
//   auto login = dir.login({.tenant = "demo", .username = "admin", .password = pw, .source = ip});
//   if (!login) return error(login.error());          // "unauthorized", "locked", "rate_limited"
//   auto who = dir.authenticate(login->token);         // cached: no DB round trip on the hot path
//
// Errors are values (common::Error) with codes: invalid_argument (field set),
// not_found, conflict, forbidden, unauthorized, locked, rate_limited.
//
// Tenancy: every method that reads or writes business records takes the
// tenant id of the caller and filters by it; records of another tenant are
// reported as not_found, never returned.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "iam/permissions.h"
#include "security/audit_chain.h"
#include "security/security.h"
#include "store/database.h"

namespace hotline::iam {

using common::Error;
using common::Result;
using common::Status;

struct Tenant {
  std::int64_t id = 0;
  std::string slug;
  std::string name;
  bool active = true;
  std::int64_t created_ms = 0;
};

struct User {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string username;
  std::string display_name;
  std::string email;
  bool active = true;
  bool locked = false;  // temporarily locked after failed logins
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
  std::vector<std::string> roles;  // role names, sorted
};

struct Role {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string name;
  std::string description;
  PermissionSet permissions;
  bool builtin = false;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// Who performs a change: recorded in the audit log, and bounds what can be
// granted (nobody hands out a permission they do not hold).
struct Actor {
  std::int64_t tenant_id = 0;
  std::int64_t user_id = 0;  // 0 for the CLI and the system itself
  std::string name;          // "user:17:alice", "cli", "system"
  std::string source;        // client IP, or "cli"
  PermissionSet permissions;

  static Actor cli();
  static Actor system();
};

// An authenticated user, as the API sees it on every request.
struct Principal {
  std::int64_t tenant_id = 0;
  std::string tenant_slug;
  std::int64_t user_id = 0;
  std::string username;
  std::string display_name;
  std::string email;
  std::vector<std::string> roles;
  PermissionSet permissions;
  std::int64_t session_id = 0;
  std::int64_t session_expires_ms = 0;

  bool can(Permission p) const { return permissions.has(p); }
  Actor actor(std::string source) const;
};

struct AuthPolicy {
  security::KdfCost kdf;
  std::chrono::seconds session_ttl{8 * 3600};
  int max_failed_logins = 5;  // per account, then lockout
  std::chrono::seconds lockout{15 * 60};
  int max_failures_per_source = 30;  // per client address per window
  std::chrono::seconds source_window{5 * 60};
  std::chrono::seconds cache_ttl{30};  // how long a cached session is trusted without the DB
  std::size_t min_password_length = 10;
};

struct NewUser {
  std::string username;
  std::string display_name;
  std::string email;
  std::string password;
  std::vector<std::string> roles;
  bool active = true;
};

struct UserPatch {
  std::optional<std::string> display_name;
  std::optional<std::string> email;
  std::optional<bool> active;
};

struct NewRole {
  std::string name;
  std::string description;
  std::vector<std::string> permissions;
};

struct RolePatch {
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> permissions;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::optional<std::int64_t> next_cursor;  // pass back as `after`/`before` for the next page
};

struct UserQuery {
  int limit = 50;             // 1..500
  std::int64_t after_id = 0;  // cursor
};

struct AuditEntry {
  std::int64_t seq = 0;
  std::int64_t tenant_id = 0;
  std::int64_t ts_ms = 0;
  std::string actor;
  std::string source;
  std::string action;
  std::string target;
  std::string details;  // JSON text
  std::string prev_hash;
  std::string hash;
};

struct AuditQuery {
  std::optional<std::string> action;
  std::optional<std::string> actor;
  std::optional<std::string> target;
  std::optional<std::int64_t> from_ms;     // inclusive
  std::optional<std::int64_t> to_ms;       // exclusive
  std::optional<std::int64_t> before_seq;  // cursor: newest first
  int limit = 50;                          // 1..500
};

struct AuditVerification {
  std::int64_t entries_checked = 0;
  std::string head_hash;
  std::optional<security::ChainBreak> broken;
};

struct LoginRequest {
  std::string tenant;
  std::string username;
  std::string password;
  std::string source;
  std::string user_agent;
};

struct LoginResult {
  std::string token;  // shown once; only its hash is stored
  std::int64_t expires_ms = 0;
  Principal principal;
};

// Appends to the audit chain inside an open transaction (see security/audit_chain.h).
void append_audit(store::Tx& tx, std::int64_t ts_ms, const Actor& actor, std::int64_t tenant_id,
                  const std::string& action, const std::string& target, const std::string& details_json);

class Directory {
 public:
  Directory(store::Database& db, common::Clock& clock, AuthPolicy policy);
  ~Directory();

  const AuthPolicy& policy() const { return policy_; }

  // Tenants (created from the CLI; each gets the built-in roles).
  Result<Tenant> create_tenant(const std::string& slug, const std::string& name, const Actor& actor);
  std::vector<Tenant> list_tenants();
  std::optional<Tenant> find_tenant(const std::string& slug);

  // Users.
  Result<User> create_user(std::int64_t tenant_id, const NewUser& u, const Actor& actor);
  Result<User> get_user(std::int64_t tenant_id, std::int64_t user_id);
  Result<User> find_user(std::int64_t tenant_id, const std::string& username);
  Page<User> list_users(std::int64_t tenant_id, const UserQuery& q);
  Result<User> update_user(std::int64_t tenant_id, std::int64_t user_id, const UserPatch& patch,
                           const Actor& actor);
  Status delete_user(std::int64_t tenant_id, std::int64_t user_id, const Actor& actor);
  // Sets a new password and revokes the user's sessions. `current` is checked
  // when given (a user changing their own password).
  Status set_password(std::int64_t tenant_id, std::int64_t user_id, const std::string& password,
                      const Actor& actor, const std::optional<std::string>& current = std::nullopt);
  Result<User> set_user_roles(std::int64_t tenant_id, std::int64_t user_id,
                              const std::vector<std::string>& roles, const Actor& actor);

  // Roles.
  std::vector<Role> list_roles(std::int64_t tenant_id);
  Result<Role> get_role(std::int64_t tenant_id, std::int64_t role_id);
  Result<Role> create_role(std::int64_t tenant_id, const NewRole& r, const Actor& actor);
  Result<Role> update_role(std::int64_t tenant_id, std::int64_t role_id, const RolePatch& patch,
                           const Actor& actor);
  Status delete_role(std::int64_t tenant_id, std::int64_t role_id, const Actor& actor);

  // Authentication.
  Result<LoginResult> login(const LoginRequest& req);
  std::optional<Principal> authenticate(const std::string& token);
  Status logout(const Principal& who, const std::string& source);

  // Audit log.
  Page<AuditEntry> query_audit(std::int64_t tenant_id, const AuditQuery& q);
  AuditVerification verify_audit();
  // Records an event that is not a change made through this class (e.g. a
  // CLI action, a config reload) in its own transaction.
  void audit(const Actor& actor, std::int64_t tenant_id, const std::string& action, const std::string& target,
             const std::string& details_json);

  // Drops every cached session; the next request re-reads the database.
  void invalidate_cache();

  // The principal of a session as it is now (current roles and
  // permissions), or nullopt if the session was revoked, expired, or its user
  // or tenant deactivated. Always reads the database.
  std::optional<Principal> session_principal(std::int64_t session_id);
  // Changes whenever a session may have ended or a principal changed (logout,
  // password, user, role changes): watchers re-check their sessions when it
  // moves.
  std::uint64_t epoch() const { return epoch_.load(); }
  // What may have changed after `since` (an epoch() value), so a watcher
  // re-reads only the sessions affected (a logout at shift change must not
  // re-read every open socket's session).
  struct Changes {
    std::uint64_t epoch = 0;             // covers every change up to this epoch
    bool everything = false;             // role definitions or tenants, or the log no longer reaches back
    std::vector<std::int64_t> sessions;  // sessions that ended (logout)
    std::vector<std::int64_t> users;     // users whose sessions or permissions may have changed
  };
  Changes changes_since(std::uint64_t since) const;

 private:
  struct CachedSession {
    Principal principal;
    std::int64_t valid_until_ms;
    std::uint64_t epoch;
  };
  struct Failures {
    int count = 0;
    std::int64_t window_start_ms = 0;
    std::int64_t locked_until_ms = 0;
  };

  Result<User> update_user_tx(std::int64_t tenant_id, std::int64_t user_id, const UserPatch& patch,
                              const Actor& actor);
  Result<User> load_user(store::Tx& tx, std::int64_t tenant_id, std::int64_t user_id);
  std::vector<std::string> user_role_names(store::Tx& tx, std::int64_t user_id);
  Result<std::vector<std::int64_t>> resolve_roles(store::Tx& tx, std::int64_t tenant_id,
                                                  const std::vector<std::string>& names, const Actor& actor);
  bool tenant_keeps_an_admin(store::Tx& tx, std::int64_t tenant_id);
  Result<LoginResult> fail_login(const LoginRequest& req, std::int64_t tenant_id, std::int64_t user_id,
                                 const std::string& reason);
  std::optional<Principal> load_principal(const std::string& token_hash, std::int64_t now_ms);
  std::optional<Principal> load_principal_where(const char* session_match, const store::Value& key,
                                                std::int64_t now_ms);
  std::int64_t now_ms() const { return clock_.wall_ms(); }
  enum class ChangeScope { kEverything, kSession, kUser };
  void bump_epoch(ChangeScope scope = ChangeScope::kEverything, std::int64_t id = 0);
  // A user's sessions or permissions changed: their cached sessions go and
  // watchers re-check that user's sessions.
  void drop_user_sessions(std::int64_t user_id);

  store::Database& db_;
  common::Clock& clock_;
  AuthPolicy policy_;

  std::atomic<std::uint64_t> epoch_{1};
  struct Change {
    std::uint64_t epoch;
    ChangeScope scope;
    std::int64_t id;
  };
  static constexpr std::size_t kChangeLog = 1024;  // older changes: "everything"
  mutable std::mutex changes_mu_;                  // epoch_ moves under it, with the log
  std::deque<Change> changes_;
  std::shared_mutex cache_mu_;
  std::unordered_map<std::string, CachedSession> cache_;  // token hash -> session

  std::mutex throttle_mu_;
  std::unordered_map<std::string, Failures> source_failures_;   // client address
  std::unordered_map<std::string, Failures> unknown_accounts_;  // "tenant/username" with no such user
};

}  // namespace hotline::iam
