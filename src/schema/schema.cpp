#include "schema/schema.h"

#include <string>

#include "schema/parts.h"

namespace hotline::schema {
namespace {

// The identity column is the only DDL difference for now; `{ID}` is replaced
// per backend so both schemas stay visibly the same.
std::string for_backend(std::string sql, bool postgres) {
  const std::string id = postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT";
  for (auto pos = sql.find("{ID}"); pos != std::string::npos; pos = sql.find("{ID}", pos)) {
    sql.replace(pos, 4, id);
  }
  return sql;
}

// v1: tenants, users, roles, sessions, the audit log.
const char* kIdentity = R"SQL(
CREATE TABLE tenants (
  id {ID},
  slug TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  created_ms BIGINT NOT NULL
);
CREATE TABLE users (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  username TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  email TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until_ms BIGINT NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE (tenant_id, username)
);
CREATE TABLE roles (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  permissions TEXT NOT NULL DEFAULT '',
  builtin INTEGER NOT NULL DEFAULT 0,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE (tenant_id, name)
);
CREATE TABLE user_roles (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role_id BIGINT NOT NULL REFERENCES roles(id),
  PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_role ON user_roles(role_id);
CREATE TABLE sessions (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  user_agent TEXT NOT NULL DEFAULT '',
  revoked_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  tenant_id BIGINT NOT NULL,
  ts_ms BIGINT NOT NULL,
  actor TEXT NOT NULL,
  source TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  details TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, seq);
CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY,
  seq BIGINT NOT NULL,
  hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
)SQL";

// The audit log is append-only at the database level too: an UPDATE or
// DELETE aborts, so even a bug (or a careless operator with SQL access
// through the application user) cannot rewrite history silently.
const char* kAuditGuardSqlite = R"SQL(
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)SQL";

const char* kAuditGuardPostgres = R"SQL(
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
)SQL";

// v2: SIP identities. A tenant may own a SIP domain (phones register as
// ext@domain); each extension stores only digest HA1 values for the
// configured realm, never the SIP password itself.
const char* kExtensions = R"SQL(
ALTER TABLE tenants ADD COLUMN sip_domain TEXT;
CREATE UNIQUE INDEX tenants_sip_domain ON tenants(sip_domain);
CREATE TABLE extensions (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  extension TEXT NOT NULL,
  display_name TEXT NOT NULL DEFAULT '',
  user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
  realm TEXT NOT NULL,
  ha1_md5 TEXT NOT NULL,
  ha1_sha256 TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE (tenant_id, extension)
);
)SQL";

}  // namespace

store::Migration portable(int version, std::string name, const std::string& sql,
                          const std::string& sqlite_extra, const std::string& postgres_extra) {
  return store::Migration{version, std::move(name), for_backend(sql, false) + sqlite_extra,
                          for_backend(sql, true) + postgres_extra};
}

const std::vector<store::Migration>& migrations() {
  static const std::vector<store::Migration> all = {
      portable(1, "identity: tenants, users, roles, sessions, audit log", kIdentity, kAuditGuardSqlite,
               kAuditGuardPostgres),
      portable(2, "sip: tenant SIP domains and extensions with digest HA1", kExtensions),
      center_migration(),
      records_migration(),
      records_hold_migration(),
  };
  return all;
}

}  // namespace hotline::schema
