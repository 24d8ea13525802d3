// iam/extensions.h — SIP extensions of a tenant and the tenant's SIP domain.
//
// An extension is what a phone registers as ("1001"). Only the digest HA1
// values for the configured realm are stored (MD5 for phones, SHA-256 when
// offered); the SIP password is shown once when set and never stored, so a
// change of `sip.realm` requires new extension passwords.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "iam/iam.h"

namespace hotline::iam {

struct Extension {
  std::int64_t id = 0;
  std::int64_t tenant_id = 0;
  std::string extension;
  std::string display_name;
  std::optional<std::int64_t> user_id;
  std::string realm;
  std::string ha1_md5;
  std::string ha1_sha256;
  std::int64_t created_ms = 0;
  std::int64_t updated_ms = 0;
};

// Every extension of every tenant with its tenant's slug and SIP domain:
// what the SIP registrar's credential cache loads.
struct SipIdentity {
  std::string tenant_slug;
  std::optional<std::string> sip_domain;
  std::string extension;
  std::string realm;
  std::string ha1_md5;
  std::string ha1_sha256;
};

class Extensions {
 public:
  Extensions(store::Database& db, common::Clock& clock) : db_(db), clock_(clock) {}

  // Creates an extension with `password` (digits and letters, 8+). Audited.
  common::Result<Extension> create(std::int64_t tenant_id, const std::string& extension,
                                   const std::string& display_name, const std::string& password,
                                   const std::string& realm, const Actor& actor,
                                   std::optional<std::int64_t> user_id = std::nullopt);
  common::Status set_password(std::int64_t tenant_id, std::int64_t id, const std::string& password,
                              const std::string& realm, const Actor& actor);
  common::Status remove(std::int64_t tenant_id, std::int64_t id, const Actor& actor);
  std::vector<Extension> list(std::int64_t tenant_id);
  common::Result<Extension> get(std::int64_t tenant_id, std::int64_t id);

  // Sets (or clears, with an empty string) the tenant's SIP domain. Audited.
  common::Status set_sip_domain(std::int64_t tenant_id, const std::string& domain, const Actor& actor);

  std::vector<SipIdentity> all_sip_identities();

 private:
  store::Database& db_;
  common::Clock& clock_;
};

// Checks for extension numbers: 2-32 characters of 0-9, *, #, letters.
std::optional<common::Error> check_extension(const std::string& v);

}  // namespace hotline::iam
