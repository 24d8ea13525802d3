// The audit log: appended inside the caller's transaction; verified by
// streaming the whole chain in seq order.
#include <nlohmann/json.hpp>

#include "iam/iam.h"

namespace hotline::iam {

using store::Value;

void append_audit(store::Tx& tx, std::int64_t ts_ms, const Actor& actor, std::int64_t tenant_id,
                  const std::string& action, const std::string& target, const std::string& details_json) {
  // The head row is the lock: the UPDATE serialises concurrent appenders on
  // PostgreSQL (row lock) and SQLite (writer lock), so seq has no gaps.
  auto head = tx.exec("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash");
  security::AuditFields f;
  f.seq = head.rows.at(0).integer(0);
  f.tenant_id = tenant_id;
  f.ts_ms = ts_ms;
  f.actor = actor.name;
  f.source = actor.source;
  f.action = action;
  f.target = target;
  f.details = details_json.empty() ? "{}" : details_json;
  const std::string prev = head.rows.at(0).text(1);
  const std::string hash = security::audit_hash(prev, f);
  tx.exec(
      "INSERT INTO audit_log (seq, tenant_id, ts_ms, actor, source, action, target, details, prev_hash, "
      "hash) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      {f.seq, f.tenant_id, f.ts_ms, f.actor, f.source, f.action, f.target, f.details, prev, hash});
  tx.exec("UPDATE audit_head SET hash = $1 WHERE id = 1", {hash});
}

void Directory::audit(const Actor& actor, std::int64_t tenant_id, const std::string& action,
                      const std::string& target, const std::string& details_json) {
  db_.transaction(
      [&](store::Tx& tx) { append_audit(tx, now_ms(), actor, tenant_id, action, target, details_json); });
}

namespace {

AuditEntry entry_from_row(const store::Row& r) {
  return AuditEntry{r.integer(0), r.integer(1), r.integer(2), r.text(3), r.text(4),
                    r.text(5),    r.text(6),    r.text(7),    r.text(8), r.text(9)};
}

constexpr const char* kAuditColumns =
    "seq, tenant_id, ts_ms, actor, source, action, target, details, prev_hash, hash";

}  // namespace

Page<AuditEntry> Directory::query_audit(std::int64_t tenant_id, const AuditQuery& q) {
  std::string sql = std::string("SELECT ") + kAuditColumns + " FROM audit_log WHERE tenant_id = $1";
  std::vector<Value> params{tenant_id};
  auto add = [&](const char* cond, Value v) {
    params.push_back(std::move(v));
    sql += " AND ";
    sql += cond;
    sql += " $" + std::to_string(params.size());
  };
  if (q.action) add("action =", *q.action);
  if (q.actor) add("actor =", *q.actor);
  if (q.target) add("target =", *q.target);
  if (q.from_ms) add("ts_ms >=", *q.from_ms);
  if (q.to_ms) add("ts_ms <", *q.to_ms);
  if (q.before_seq) add("seq <", *q.before_seq);
  const int limit = std::clamp(q.limit, 1, 500);
  params.push_back(static_cast<std::int64_t>(limit + 1));
  sql += " ORDER BY seq DESC LIMIT $" + std::to_string(params.size());

  auto rows = db_.exec(sql, params).rows;
  Page<AuditEntry> page;
  for (const auto& r : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = page.items.back().seq;
      break;
    }
    page.items.push_back(entry_from_row(r));
  }
  return page;
}

AuditVerification Directory::verify_audit() {
  AuditVerification out;
  security::ChainVerifier verifier;
  std::int64_t after = 0;
  for (;;) {
    auto rows = db_.exec(std::string("SELECT ") + kAuditColumns +
                             " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT 1000",
                         {after})
                    .rows;
    if (rows.empty()) break;
    for (const auto& r : rows) {
      auto e = entry_from_row(r);
      security::StoredAuditEntry s{
          {e.seq, e.tenant_id, e.ts_ms, e.actor, e.source, e.action, e.target, e.details},
          e.prev_hash,
          e.hash};
      after = e.seq;
      if (auto b = verifier.add(s)) {
        out.broken = b;
        out.entries_checked = verifier.checked();
        return out;
      }
    }
  }
  auto head = db_.exec("SELECT seq, hash FROM audit_head WHERE id = 1").rows.at(0);
  out.head_hash = head.text(1);
  out.broken = verifier.finish(head.integer(0), head.text(1));
  out.entries_checked = verifier.checked();
  return out;
}

}  // namespace hotline::iam
