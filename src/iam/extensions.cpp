#include "iam/extensions.h"

#include <nlohmann/json.hpp>

#include "iam/validate.h"

namespace hotline::iam {

using common::Error;
using nlohmann::json;
using store::StoreError;

std::optional<Error> check_extension(const std::string& v) {
  if (v.size() < 2 || v.size() > 32) return Error::invalid("extension", "must be 2 to 32 characters");
  for (char c : v) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '*' ||
              c == '#' || c == '-' || c == '_' || c == '.';
    if (!ok) return Error::invalid("extension", "may contain only digits, letters and * # - _ .");
  }
  return std::nullopt;
}

namespace {

constexpr const char* kColumns =
    "id, tenant_id, extension, display_name, user_id, realm, ha1_md5, ha1_sha256, created_ms, updated_ms";

Extension from_row(const store::Row& r) {
  return Extension{r.integer(0), r.integer(1), r.text(2), r.text(3),    r.opt_integer(4),
                   r.text(5),    r.text(6),    r.text(7), r.integer(8), r.integer(9)};
}

std::optional<Error> check_sip_password(const std::string& pw) {
  if (pw.size() < 8 || pw.size() > 128) return Error::invalid("password", "must be 8 to 128 characters");
  if (!is_clean_utf8(pw) || pw.find(':') != std::string::npos) {
    return Error::invalid("password", "must be printable and must not contain ':'");
  }
  return std::nullopt;
}

json ext_json(const Extension& e) {
  return json{{"extension", e.extension},
              {"display_name", e.display_name},
              {"user_id", e.user_id ? json(*e.user_id) : json(nullptr)}};
}

}  // namespace

Result<Extension> Extensions::create(std::int64_t tenant_id, const std::string& extension,
                                     const std::string& display_name, const std::string& password,
                                     const std::string& realm, const Actor& actor,
                                     std::optional<std::int64_t> user_id) {
  if (auto e = check_extension(extension)) return *e;
  if (auto e = check_text(display_name, 128, "display_name")) return *e;
  if (auto e = check_sip_password(password)) return *e;
  const auto ha1_md5 = security::md5_hex(extension + ":" + realm + ":" + password);
  const auto ha1_sha = security::sha256_hex(extension + ":" + realm + ":" + password);
  try {
    return db_.transaction([&](store::Tx& tx) -> Result<Extension> {
      if (user_id) {
        auto u = tx.exec("SELECT id FROM users WHERE tenant_id = $1 AND id = $2", {tenant_id, *user_id}).rows;
        if (u.empty()) return Error::invalid("user_id", "no such user in this tenant");
      }
      const auto now = clock_.wall_ms();
      store::Value uid = user_id ? store::Value(*user_id) : store::Value(store::Null{});
      auto id = tx.exec(
                      "INSERT INTO extensions (tenant_id, extension, display_name, user_id, realm, ha1_md5, "
                      "ha1_sha256, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
                      "RETURNING id",
                      {tenant_id, extension, display_name, uid, realm, ha1_md5, ha1_sha, now})
                    .rows.at(0)
                    .integer(0);
      Extension e{id, tenant_id, extension, display_name, user_id, realm, ha1_md5, ha1_sha, now, now};
      append_audit(tx, now, actor, tenant_id, "extension.create", "extension:" + std::to_string(id),
                   json{{"after", ext_json(e)}}.dump());
      return e;
    });
  } catch (const StoreError& e) {
    if (e.kind() == StoreError::Kind::Unique)
      return Error::conflict("extension '" + extension + "' already exists");
    throw;
  }
}

Status Extensions::set_password(std::int64_t tenant_id, std::int64_t id, const std::string& password,
                                const std::string& realm, const Actor& actor) {
  if (auto e = check_sip_password(password)) return *e;
  auto ext = get(tenant_id, id);
  if (!ext) return ext.error();
  return db_.transaction([&](store::Tx& tx) -> Status {
    const auto now = clock_.wall_ms();
    tx.exec("UPDATE extensions SET realm = $1, ha1_md5 = $2, ha1_sha256 = $3, updated_ms = $4 WHERE id = $5",
            {realm, security::md5_hex(ext->extension + ":" + realm + ":" + password),
             security::sha256_hex(ext->extension + ":" + realm + ":" + password), now, id});
    append_audit(tx, now, actor, tenant_id, "extension.password", "extension:" + std::to_string(id), "{}");
    return common::ok_status();
  });
}

Status Extensions::remove(std::int64_t tenant_id, std::int64_t id, const Actor& actor) {
  auto ext = get(tenant_id, id);
  if (!ext) return ext.error();
  return db_.transaction([&](store::Tx& tx) -> Status {
    tx.exec("DELETE FROM extensions WHERE tenant_id = $1 AND id = $2", {tenant_id, id});
    append_audit(tx, clock_.wall_ms(), actor, tenant_id, "extension.delete",
                 "extension:" + std::to_string(id), json{{"before", ext_json(*ext)}}.dump());
    return common::ok_status();
  });
}

std::vector<Extension> Extensions::list(std::int64_t tenant_id) {
  std::vector<Extension> out;
  for (const auto& r : db_.exec(std::string("SELECT ") + kColumns +
                                    " FROM extensions WHERE tenant_id = $1 ORDER BY extension",
                                {tenant_id})
                           .rows) {
    out.push_back(from_row(r));
  }
  return out;
}

Result<Extension> Extensions::get(std::int64_t tenant_id, std::int64_t id) {
  auto rows =
      db_.exec(std::string("SELECT ") + kColumns + " FROM extensions WHERE tenant_id = $1 AND id = $2",
               {tenant_id, id})
          .rows;
  if (rows.empty()) return Error::not_found("no extension with id " + std::to_string(id));
  return from_row(rows[0]);
}

Status Extensions::set_sip_domain(std::int64_t tenant_id, const std::string& domain, const Actor& actor) {
  if (!domain.empty()) {
    if (auto e = check_text(domain, 253, "sip_domain")) return *e;
    for (char c : domain) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
                c == '[' || c == ']';
      if (!ok) return Error::invalid("sip_domain", "must be a lower-case host name or IP address");
    }
  }
  try {
    return db_.transaction([&](store::Tx& tx) -> Status {
      store::Value v = domain.empty() ? store::Value(store::Null{}) : store::Value(domain);
      auto r = tx.exec("UPDATE tenants SET sip_domain = $1 WHERE id = $2", {v, tenant_id});
      if (r.affected == 0) return Error::not_found("no such tenant");
      append_audit(tx, clock_.wall_ms(), actor, tenant_id, "tenant.sip_domain",
                   "tenant:" + std::to_string(tenant_id), json{{"after", {{"sip_domain", domain}}}}.dump());
      return common::ok_status();
    });
  } catch (const StoreError& e) {
    if (e.kind() == StoreError::Kind::Unique) return Error::conflict("SIP domain '" + domain + "' is taken");
    throw;
  }
}

std::vector<SipIdentity> Extensions::all_sip_identities() {
  std::vector<SipIdentity> out;
  for (const auto& r : db_.exec("SELECT t.slug, t.sip_domain, e.extension, e.realm, e.ha1_md5, e.ha1_sha256 "
                                "FROM extensions e JOIN tenants t ON t.id = e.tenant_id WHERE t.active = 1")
                           .rows) {
    out.push_back(SipIdentity{r.text(0), r.opt_text(1), r.text(2), r.text(3), r.text(4), r.text(5)});
  }
  return out;
}

}  // namespace hotline::iam
