#include "security/audit_chain.h"

#include "security/security.h"

namespace hotline::security {
namespace {

void put(std::string& out, const std::string& field) {
  out += std::to_string(field.size());
  out += ':';
  out += field;
}

}  // namespace

std::string audit_hash(const std::string& prev_hash, const AuditFields& f) {
  std::string buf;
  buf.reserve(128 + f.details.size());
  put(buf, prev_hash);
  put(buf, std::to_string(f.seq));
  put(buf, std::to_string(f.tenant_id));
  put(buf, std::to_string(f.ts_ms));
  put(buf, f.actor);
  put(buf, f.source);
  put(buf, f.action);
  put(buf, f.target);
  put(buf, f.details);
  return sha256_hex(buf);
}

std::optional<ChainBreak> ChainVerifier::add(const StoredAuditEntry& e) {
  if (broken_) return broken_;
  const auto seq = e.fields.seq;
  if (seq != expected_seq_) {
    broken_ = ChainBreak{expected_seq_, seq > expected_seq_ ? "entry missing (next stored entry is " +
                                                                  std::to_string(seq) + ")"
                                                            : "entry out of order or duplicated"};
  } else if (e.prev_hash != prev_) {
    broken_ = ChainBreak{seq, "prev_hash does not match the previous entry's hash"};
  } else if (audit_hash(prev_, e.fields) != e.hash) {
    broken_ = ChainBreak{seq, "entry content does not match its hash (modified)"};
  }
  if (broken_) return broken_;
  prev_ = e.hash;
  ++expected_seq_;
  ++checked_;
  return std::nullopt;
}

std::optional<ChainBreak> ChainVerifier::finish(std::int64_t head_seq, const std::string& head_hash) {
  if (broken_) return broken_;
  const auto last = expected_seq_ - 1;
  if (head_seq != last) {
    return ChainBreak{last + 1, "chain head says " + std::to_string(head_seq) + " entries but " +
                                    std::to_string(last) + " are stored (truncated)"};
  }
  if (head_hash != prev_) return ChainBreak{last, "chain head hash does not match the last entry"};
  return std::nullopt;
}

std::optional<ChainBreak> verify_chain(const std::vector<StoredAuditEntry>& entries, std::int64_t head_seq,
                                       const std::string& head_hash) {
  ChainVerifier v;
  for (const auto& e : entries) {
    if (auto b = v.add(e)) return b;
  }
  return v.finish(head_seq, head_hash);
}

}  // namespace hotline::security
