// SQL text and row mapping for calls, call_legs, recordings, routing_events.
#include "records/rows.h"

#include <ctime>

namespace hotline::records::detail {

using store::Value;

const char* const kCallColumns =
    "id, tenant_id, direction, caller, caller_name, dialled, customer_id, flow, ivr_path, queue, agent_id, "
    "agent_extension, arrived_ms, ivr_left_ms, queued_ms, offered_ms, answered_ms, ended_ms, "
    "wrapup_ended_ms, "
    "offers, priority, disposition, end_reason, wrapup_code, notes, recording_id, hold_ms, holds";
const char* const kLegColumns =
    "call_id, tenant_id, leg_no, role, peer, agent_id, started_ms, answered_ms, ended_ms, sip_status, "
    "end_reason";
const char* const kRecordingColumns =
    "id, tenant_id, call_id, kind, path, cipher, started_ms, ended_ms, bytes, queue, customer_id";
const char* const kEventColumns =
    "id, tenant_id, seq, time_ms, type, agent_id, call_id, queue, value, disposition, reason";

namespace {

// Wrap-up code and notes come from the agent through the API (set_wrapup);
// the call layer's later snapshots of the call usually carry them empty, and
// must not erase what the agent typed.
constexpr const char* kUpsertCall =
    "INSERT INTO calls (id, tenant_id, direction, caller, caller_name, dialled, customer_id, flow, ivr_path, "
    "queue, agent_id, agent_extension, arrived_ms, ivr_left_ms, queued_ms, offered_ms, answered_ms, "
    "ended_ms, "
    "wrapup_ended_ms, offers, priority, disposition, end_reason, wrapup_code, notes, recording_id, hold_ms, "
    "holds) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, "
    "$22, $23, $24, $25, $26, $27, $28) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET direction = excluded.direction, caller = excluded.caller, "
    "caller_name = excluded.caller_name, dialled = excluded.dialled, customer_id = excluded.customer_id, "
    "flow = excluded.flow, ivr_path = excluded.ivr_path, queue = excluded.queue, agent_id = "
    "excluded.agent_id, "
    "agent_extension = excluded.agent_extension, arrived_ms = excluded.arrived_ms, "
    "ivr_left_ms = excluded.ivr_left_ms, queued_ms = excluded.queued_ms, offered_ms = excluded.offered_ms, "
    "answered_ms = excluded.answered_ms, ended_ms = excluded.ended_ms, "
    "wrapup_ended_ms = excluded.wrapup_ended_ms, offers = excluded.offers, priority = excluded.priority, "
    "disposition = excluded.disposition, end_reason = excluded.end_reason, "
    "wrapup_code = CASE WHEN excluded.wrapup_code <> '' THEN excluded.wrapup_code ELSE calls.wrapup_code "
    "END, "
    "notes = CASE WHEN excluded.notes <> '' THEN excluded.notes ELSE calls.notes END, "
    "recording_id = excluded.recording_id, hold_ms = excluded.hold_ms, holds = excluded.holds";

constexpr const char* kUpsertLeg =
    "INSERT INTO call_legs (call_id, tenant_id, leg_no, role, peer, agent_id, started_ms, answered_ms, "
    "ended_ms, sip_status, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
    "ON CONFLICT (tenant_id, call_id, leg_no) DO UPDATE SET role = excluded.role, peer = excluded.peer, "
    "agent_id = excluded.agent_id, started_ms = excluded.started_ms, answered_ms = excluded.answered_ms, "
    "ended_ms = excluded.ended_ms, sip_status = excluded.sip_status, end_reason = excluded.end_reason";

constexpr const char* kUpsertRecording =
    "INSERT INTO recordings (id, tenant_id, call_id, kind, path, cipher, started_ms, ended_ms, bytes, queue, "
    "customer_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET call_id = excluded.call_id, kind = excluded.kind, "
    "path = excluded.path, cipher = excluded.cipher, started_ms = excluded.started_ms, "
    "ended_ms = excluded.ended_ms, bytes = excluded.bytes, queue = excluded.queue, "
    "customer_id = excluded.customer_id";

constexpr const char* kInsertEvent =
    "INSERT INTO routing_events (tenant_id, seq, time_ms, type, agent_id, call_id, queue, value, "
    "disposition, "
    "reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

std::int64_t i64(int v) { return static_cast<std::int64_t>(v); }
int i32(const store::Row& r, std::size_t i) { return static_cast<int>(r.integer(i)); }

struct Writer {
  store::Tx& tx;
  void operator()(const CallRecord& c) const {
    tx.exec(kUpsertCall, {c.id,
                          c.tenant_id,
                          c.direction,
                          c.caller,
                          c.caller_name,
                          c.dialled,
                          c.customer_id,
                          c.flow,
                          c.ivr_path,
                          c.queue,
                          c.agent_id,
                          c.agent_extension,
                          c.arrived_ms,
                          c.ivr_left_ms,
                          c.queued_ms,
                          c.offered_ms,
                          c.answered_ms,
                          c.ended_ms,
                          c.wrapup_ended_ms,
                          i64(c.offers),
                          i64(c.priority),
                          c.disposition,
                          c.end_reason,
                          c.wrapup_code,
                          c.notes,
                          c.recording_id,
                          c.hold_ms,
                          i64(c.holds)});
  }
  void operator()(const CallLeg& l) const {
    tx.exec(kUpsertLeg, {l.call_id, l.tenant_id, i64(l.leg_no), l.role, l.peer, l.agent_id, l.started_ms,
                         l.answered_ms, l.ended_ms, i64(l.sip_status), l.end_reason});
  }
  void operator()(const RecordingInfo& r) const {
    tx.exec(kUpsertRecording, {r.id, r.tenant_id, r.call_id, r.kind, r.path, r.cipher, r.started_ms,
                               r.ended_ms, r.bytes, r.queue, r.customer_id});
  }
  void operator()(const EventRecord& e) const {
    tx.exec(kInsertEvent, {e.tenant_id, e.seq, e.time_ms, e.type, e.agent_id, e.call_id, e.queue,
                           i64(e.value), e.disposition, i64(e.reason)});
  }
};

struct Describer {
  std::string operator()(const CallRecord& c) const {
    return "call " + c.id + " (tenant " + std::to_string(c.tenant_id) + ")";
  }
  std::string operator()(const CallLeg& l) const {
    return "leg " + l.call_id + "/" + std::to_string(l.leg_no) + " (tenant " + std::to_string(l.tenant_id) +
           ")";
  }
  std::string operator()(const RecordingInfo& r) const {
    return "recording " + r.id + " (tenant " + std::to_string(r.tenant_id) + ")";
  }
  std::string operator()(const EventRecord& e) const {
    return "event " + e.type + " seq " + std::to_string(e.seq) + " (tenant " + std::to_string(e.tenant_id) +
           ")";
  }
};

}  // namespace

void write(store::Tx& tx, const Item& item) { std::visit(Writer{tx}, item); }
std::string describe(const Item& item) { return std::visit(Describer{}, item); }

CallRecord call_from_row(const store::Row& r) {
  CallRecord c;
  c.id = r.text(0);
  c.tenant_id = r.integer(1);
  c.direction = r.text(2);
  c.caller = r.text(3);
  c.caller_name = r.text(4);
  c.dialled = r.text(5);
  c.customer_id = r.integer(6);
  c.flow = r.text(7);
  c.ivr_path = r.text(8);
  c.queue = r.text(9);
  c.agent_id = r.integer(10);
  c.agent_extension = r.text(11);
  c.arrived_ms = r.integer(12);
  c.ivr_left_ms = r.integer(13);
  c.queued_ms = r.integer(14);
  c.offered_ms = r.integer(15);
  c.answered_ms = r.integer(16);
  c.ended_ms = r.integer(17);
  c.wrapup_ended_ms = r.integer(18);
  c.offers = i32(r, 19);
  c.priority = i32(r, 20);
  c.disposition = r.text(21);
  c.end_reason = r.text(22);
  c.wrapup_code = r.text(23);
  c.notes = r.text(24);
  c.recording_id = r.text(25);
  c.hold_ms = r.integer(26);
  c.holds = i32(r, 27);
  return c;
}

CallLeg leg_from_row(const store::Row& r) {
  return CallLeg{r.text(0),    r.integer(1), i32(r, 2),    r.text(3), r.text(4), r.integer(5),
                 r.integer(6), r.integer(7), r.integer(8), i32(r, 9), r.text(10)};
}

RecordingInfo recording_from_row(const store::Row& r) {
  return RecordingInfo{r.text(0),    r.integer(1), r.text(2),    r.text(3), r.text(4),    r.text(5),
                       r.integer(6), r.integer(7), r.integer(8), r.text(9), r.integer(10)};
}

EventRecord event_from_row(const store::Row& r) {
  return EventRecord{r.integer(1), r.integer(2), r.integer(3), r.text(4), r.integer(5),
                     r.text(6),    r.text(7),    i32(r, 8),    r.text(9), i32(r, 10)};
}

std::string make_cursor(std::int64_t time_ms, const std::string& key) {
  return std::to_string(time_ms) + ":" + key;
}

common::Result<Cursor> parse_cursor(const std::string& s, bool numeric_key) {
  const auto bad = common::Error::invalid("cursor", "malformed cursor: pass next_cursor back unchanged");
  const auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 18) return bad;
  Cursor c;
  for (std::size_t i = 0; i < colon; ++i) {
    if (s[i] < '0' || s[i] > '9') return bad;
    c.time_ms = c.time_ms * 10 + (s[i] - '0');
  }
  c.key = s.substr(colon + 1);
  if (numeric_key) {
    if (c.key.empty() || c.key.size() > 18) return bad;
    for (char ch : c.key) {
      if (ch < '0' || ch > '9') return bad;
    }
  } else if (!valid_id(c.key)) {
    return bad;
  }
  return c;
}

std::string iso_ms(std::int64_t ms) {
  if (ms <= 0) return "";
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

std::string csv_field(const std::string& v, bool defuse) {
  std::string s;
  if (defuse && !v.empty() &&
      (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r')) {
    s = "'" + v;
  } else {
    s = v;
  }
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
  return out;
}

}  // namespace hotline::records::detail
