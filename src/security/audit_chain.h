// security/audit_chain.h — the tamper-evident hash chain of the audit log.
//
// Each entry's hash is SHA-256 over the previous entry's hash and a canonical,
// length-prefixed encoding of every stored field, so changing, inserting,
// deleting or reordering any entry breaks every later link:
//
//   hash[n] = SHA256( hash[n-1] || enc(seq) || enc(tenant_id) || enc(ts_ms) || ... )
//   hash[0-th predecessor] = 64 zeros ("genesis")
//
// The encoding is length-prefixed so that field boundaries cannot be shifted
// ("ab","c" and "a","bc" hash differently).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hotline::security {

struct AuditFields {
  std::int64_t seq = 0;        // 1, 2, 3 ... without gaps
  std::int64_t tenant_id = 0;  // 0 for system-level events (CLI on no tenant)
  std::int64_t ts_ms = 0;
  std::string actor;    // "user:17:alice", "cli:root", "system"
  std::string source;   // client IP or "cli"
  std::string action;   // "user.create", "auth.login_failed", ...
  std::string target;   // "user:42", "role:7", ...
  std::string details;  // JSON text (before/after of changed fields, reasons)
};

inline const std::string kGenesisHash(64, '0');

std::string audit_hash(const std::string& prev_hash, const AuditFields& f);

struct StoredAuditEntry {
  AuditFields fields;
  std::string prev_hash;
  std::string hash;
};

struct ChainBreak {
  std::int64_t seq;  // first entry whose link is broken (or where one is missing)
  std::string reason;
};

// Checks entries given in seq order. `head_seq`/`head_hash` are the chain head
// recorded separately (detects truncation of the newest entries).
std::optional<ChainBreak> verify_chain(const std::vector<StoredAuditEntry>& entries, std::int64_t head_seq,
                                       const std::string& head_hash);

// Incremental form of verify_chain for streaming through a large log.
class ChainVerifier {
 public:
  // Returns a break at the first bad entry; later calls keep returning it.
  std::optional<ChainBreak> add(const StoredAuditEntry& e);
  std::optional<ChainBreak> finish(std::int64_t head_seq, const std::string& head_hash);
  std::int64_t checked() const { return checked_; }

 private:
  std::string prev_ = kGenesisHash;
  std::int64_t expected_seq_ = 1;
  std::int64_t checked_ = 0;
  std::optional<ChainBreak> broken_;
};

}  // namespace hotline::security
