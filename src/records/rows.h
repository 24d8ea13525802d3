// records/rows.h — internal: SQL and row mapping for the four tables.
#pragma once

#include <string>
#include <variant>

#include "records/records.h"

namespace hotline::records::detail {

using Item = std::variant<CallRecord, CallLeg, RecordingInfo, EventRecord>;

// Upserts (calls, legs, recordings) or appends (events) one record.
void write(store::Tx& tx, const Item& item);
// "call 0123abcd (tenant 3)" for log lines.
std::string describe(const Item& item);

extern const char* const kCallColumns;
extern const char* const kLegColumns;
extern const char* const kRecordingColumns;
extern const char* const kEventColumns;  // id first: the paging key

CallRecord call_from_row(const store::Row& r);
CallLeg leg_from_row(const store::Row& r);
RecordingInfo recording_from_row(const store::Row& r);
EventRecord event_from_row(const store::Row& r);

// Keyset cursors "<time_ms>:<key>", newest first.
std::string make_cursor(std::int64_t time_ms, const std::string& key);
struct Cursor {
  std::int64_t time_ms = 0;
  std::string key;
};
common::Result<Cursor> parse_cursor(const std::string& s, bool numeric_key);

// ISO-8601 UTC with milliseconds ("2026-01-01T00:00:00.000Z"); "" for 0.
std::string iso_ms(std::int64_t ms);
// One RFC 4180 field; text starting with = + - @ tab or CR gets a leading '
// so spreadsheets do not evaluate it.
std::string csv_field(const std::string& v, bool defuse);

}  // namespace hotline::records::detail
