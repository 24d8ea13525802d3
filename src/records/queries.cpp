// Reads: filtered, newest-first keyset pages; one tenant at a time.
#include "iam/validate.h"
#include "records/records.h"
#include "records/rows.h"

namespace hotline::records {

using common::Error;
using store::Value;

namespace {

// WHERE clause builder: conditions joined with AND, parameters numbered in order.
struct Query {
  std::string sql;
  std::vector<Value> params;

  void add(const std::string& cond_with_placeholder, Value v) {
    params.push_back(std::move(v));
    std::string cond = cond_with_placeholder;
    cond.replace(cond.find('?'), 1, "$" + std::to_string(params.size()));
    sql += " AND " + cond;
  }
  // (time < t OR (time = t AND key < k)) for a DESC keyset.
  void after(const std::string& time_col, const std::string& key_col, const detail::Cursor& c, Value key) {
    params.push_back(c.time_ms);
    const auto t = "$" + std::to_string(params.size());
    params.push_back(std::move(key));
    const auto k = "$" + std::to_string(params.size());
    sql += " AND (" + time_col + " < " + t + " OR (" + time_col + " = " + t + " AND " + key_col + " < " + k +
           "))";
  }
  void order_limit(const std::string& time_col, const std::string& key_col, int limit) {
    params.push_back(static_cast<std::int64_t>(limit) + 1);
    sql += " ORDER BY " + time_col + " DESC, " + key_col + " DESC LIMIT $" + std::to_string(params.size());
  }
};

std::optional<Error> check_range(std::int64_t from, std::int64_t to) {
  if (from < 0) return Error::invalid("from", "must be a millisecond timestamp >= 0");
  if (to < 0) return Error::invalid("to", "must be a millisecond timestamp >= 0");
  if (to != 0 && to <= from) return Error::invalid("to", "must be after 'from'");
  return std::nullopt;
}

std::optional<Error> check_limit(int limit) {
  if (limit < 1 || limit > 1000) return Error::invalid("limit", "must be from 1 to 1000");
  return std::nullopt;
}

std::optional<Error> check_call_filter(const CallFilter& f) {
  if (auto e = check_range(f.from_ms, f.to_ms)) return e;
  if (auto e = check_limit(f.limit)) return e;
  if (f.agent_id < 0) return Error::invalid("agent_id", "must be a positive agent id");
  if (auto e = iam::check_text(f.queue, 128, "queue")) return e;
  if (auto e = iam::check_text(f.disposition, 32, "disposition")) return e;
  if (auto e = iam::check_text(f.caller, 64, "caller")) return e;
  return std::nullopt;
}

// Rows of `limit + 1` become a page of `limit` and a cursor.
template <class T, class Map, class Key>
Page<T> to_page(const std::vector<store::Row>& rows, int limit, Map map, Key key) {
  Page<T> page;
  for (const auto& r : rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = key(rows[page.items.size() - 1]);
      break;
    }
    page.items.push_back(map(r));
  }
  return page;
}

}  // namespace

common::Result<Page<CallRecord>> Store::calls(std::int64_t tenant, const CallFilter& f) {
  if (auto e = check_call_filter(f)) return *e;
  Query q{std::string("SELECT ") + detail::kCallColumns + " FROM calls WHERE tenant_id = $1", {tenant}};
  if (f.from_ms > 0) q.add("arrived_ms >= ?", f.from_ms);
  if (f.to_ms > 0) q.add("arrived_ms < ?", f.to_ms);
  if (!f.queue.empty()) q.add("queue = ?", f.queue);
  if (f.agent_id > 0) q.add("agent_id = ?", f.agent_id);
  if (!f.disposition.empty()) q.add("disposition = ?", f.disposition);
  if (!f.caller.empty()) q.add("caller = ?", f.caller);
  if (!f.cursor.empty()) {
    auto c = detail::parse_cursor(f.cursor, false);
    if (!c) return c.error();
    q.after("arrived_ms", "id", *c, c->key);
  }
  q.order_limit("arrived_ms", "id", f.limit);
  auto rows = db_.exec(q.sql, q.params).rows;
  return to_page<CallRecord>(rows, f.limit, detail::call_from_row, [](const store::Row& r) {
    return detail::make_cursor(r.integer(12), r.text(0));
  });
}

common::Result<CallRecord> Store::call(std::int64_t tenant, const std::string& id) {
  auto rows =
      db_.exec(std::string("SELECT ") + detail::kCallColumns + " FROM calls WHERE tenant_id = $1 AND id = $2",
               {tenant, id})
          .rows;
  if (rows.empty()) return Error::not_found("no call with id '" + (valid_id(id) ? id : "?") + "'");
  return detail::call_from_row(rows[0]);
}

std::vector<CallLeg> Store::legs(std::int64_t tenant, const std::string& call_id) {
  std::vector<CallLeg> out;
  for (const auto& r : db_.exec(std::string("SELECT ") + detail::kLegColumns +
                                    " FROM call_legs WHERE tenant_id = $1 AND call_id = $2 ORDER BY leg_no",
                                {tenant, call_id})
                           .rows) {
    out.push_back(detail::leg_from_row(r));
  }
  return out;
}

std::vector<RecordingInfo> Store::recordings_for(std::int64_t tenant, const std::string& call_id) {
  std::vector<RecordingInfo> out;
  for (const auto& r :
       db_.exec(std::string("SELECT ") + detail::kRecordingColumns +
                    " FROM recordings WHERE tenant_id = $1 AND call_id = $2 ORDER BY started_ms, id",
                {tenant, call_id})
           .rows) {
    out.push_back(detail::recording_from_row(r));
  }
  return out;
}

common::Result<Page<RecordingInfo>> Store::voicemails(std::int64_t tenant, const std::string& queue,
                                                      const std::string& cursor, int limit) {
  if (auto e = check_limit(limit)) return *e;
  if (auto e = iam::check_text(queue, 128, "queue")) return *e;
  Query q{std::string("SELECT ") + detail::kRecordingColumns +
              " FROM recordings WHERE tenant_id = $1 AND kind = 'voicemail'",
          {tenant}};
  if (!queue.empty()) q.add("queue = ?", queue);
  if (!cursor.empty()) {
    auto c = detail::parse_cursor(cursor, false);
    if (!c) return c.error();
    q.after("started_ms", "id", *c, c->key);
  }
  q.order_limit("started_ms", "id", limit);
  auto rows = db_.exec(q.sql, q.params).rows;
  return to_page<RecordingInfo>(rows, limit, detail::recording_from_row, [](const store::Row& r) {
    return detail::make_cursor(r.integer(6), r.text(0));
  });
}

common::Result<RecordingInfo> Store::recording(std::int64_t tenant, const std::string& id) {
  auto rows = db_.exec(std::string("SELECT ") + detail::kRecordingColumns +
                           " FROM recordings WHERE tenant_id = $1 AND id = $2",
                       {tenant, id})
                  .rows;
  if (rows.empty()) return Error::not_found("no recording with id '" + (valid_id(id) ? id : "?") + "'");
  return detail::recording_from_row(rows[0]);
}

common::Result<Page<EventRecord>> Store::events(std::int64_t tenant, const EventFilter& f) {
  if (auto e = check_range(f.from_ms, f.to_ms)) return *e;
  if (auto e = check_limit(f.limit)) return *e;
  if (f.agent_id < 0) return Error::invalid("agent_id", "must be a positive agent id");
  if (!f.call_id.empty() && !valid_id(f.call_id))
    return Error::invalid("call_id", "must be 1-32 of [0-9a-zA-Z_-]");
  if (auto e = iam::check_text(f.type, 64, "type")) return *e;
  Query q{std::string("SELECT ") + detail::kEventColumns + " FROM routing_events WHERE tenant_id = $1",
          {tenant}};
  if (f.from_ms > 0) q.add("time_ms >= ?", f.from_ms);
  if (f.to_ms > 0) q.add("time_ms < ?", f.to_ms);
  if (f.agent_id > 0) q.add("agent_id = ?", f.agent_id);
  if (!f.call_id.empty()) q.add("call_id = ?", f.call_id);
  if (!f.type.empty()) q.add("type = ?", f.type);
  if (!f.cursor.empty()) {
    auto c = detail::parse_cursor(f.cursor, true);
    if (!c) return c.error();
    q.after("time_ms", "id", *c, static_cast<std::int64_t>(std::stoll(c->key)));
  }
  q.order_limit("time_ms", "id", f.limit);
  auto rows = db_.exec(q.sql, q.params).rows;
  return to_page<EventRecord>(rows, f.limit, detail::event_from_row, [](const store::Row& r) {
    return detail::make_cursor(r.integer(3), std::to_string(r.integer(0)));
  });
}

}  // namespace hotline::records
