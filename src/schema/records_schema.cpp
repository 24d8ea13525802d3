#include "schema/parts.h"

namespace hotline::schema {

namespace {

// v4: call detail records, call legs, recordings and the routing event log
// (owned by src/records/, described in docs/records.md). Keys start with
// tenant_id so an upsert can never touch another tenant's row, and every
// listing index leads with (tenant_id, <filter>, time) to serve the
// newest-first keyset pages.
const char* kRecords = R"SQL(
CREATE TABLE calls (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  direction TEXT NOT NULL DEFAULT 'inbound',
  caller TEXT NOT NULL DEFAULT '',
  caller_name TEXT NOT NULL DEFAULT '',
  dialled TEXT NOT NULL DEFAULT '',
  customer_id BIGINT NOT NULL DEFAULT 0,
  flow TEXT NOT NULL DEFAULT '',
  ivr_path TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT '',
  agent_id BIGINT NOT NULL DEFAULT 0,
  agent_extension TEXT NOT NULL DEFAULT '',
  arrived_ms BIGINT NOT NULL DEFAULT 0,
  ivr_left_ms BIGINT NOT NULL DEFAULT 0,
  queued_ms BIGINT NOT NULL DEFAULT 0,
  offered_ms BIGINT NOT NULL DEFAULT 0,
  answered_ms BIGINT NOT NULL DEFAULT 0,
  ended_ms BIGINT NOT NULL DEFAULT 0,
  wrapup_ended_ms BIGINT NOT NULL DEFAULT 0,
  offers INTEGER NOT NULL DEFAULT 0,
  priority INTEGER NOT NULL DEFAULT 0,
  disposition TEXT NOT NULL DEFAULT '',
  end_reason TEXT NOT NULL DEFAULT '',
  wrapup_code TEXT NOT NULL DEFAULT '',
  notes TEXT NOT NULL DEFAULT '',
  recording_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX calls_arrived ON calls(tenant_id, arrived_ms, id);
CREATE INDEX calls_queue ON calls(tenant_id, queue, arrived_ms);
CREATE INDEX calls_agent ON calls(tenant_id, agent_id, arrived_ms);
CREATE INDEX calls_disposition ON calls(tenant_id, disposition, arrived_ms);
CREATE INDEX calls_caller ON calls(tenant_id, caller, arrived_ms);
CREATE TABLE call_legs (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  call_id TEXT NOT NULL,
  leg_no INTEGER NOT NULL,
  role TEXT NOT NULL DEFAULT '',
  peer TEXT NOT NULL DEFAULT '',
  agent_id BIGINT NOT NULL DEFAULT 0,
  started_ms BIGINT NOT NULL DEFAULT 0,
  answered_ms BIGINT NOT NULL DEFAULT 0,
  ended_ms BIGINT NOT NULL DEFAULT 0,
  sip_status INTEGER NOT NULL DEFAULT 0,
  end_reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (tenant_id, call_id, leg_no)
);
CREATE TABLE recordings (
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  id TEXT NOT NULL,
  call_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL DEFAULT 'call',
  path TEXT NOT NULL DEFAULT '',
  cipher TEXT NOT NULL DEFAULT '',
  started_ms BIGINT NOT NULL DEFAULT 0,
  ended_ms BIGINT NOT NULL DEFAULT 0,
  bytes BIGINT NOT NULL DEFAULT 0,
  queue TEXT NOT NULL DEFAULT '',
  customer_id BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX recordings_call ON recordings(tenant_id, call_id);
CREATE INDEX recordings_kind ON recordings(tenant_id, kind, queue, started_ms);
CREATE TABLE routing_events (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  seq BIGINT NOT NULL DEFAULT 0,
  time_ms BIGINT NOT NULL,
  type TEXT NOT NULL,
  agent_id BIGINT NOT NULL DEFAULT 0,
  call_id TEXT NOT NULL DEFAULT '',
  queue TEXT NOT NULL DEFAULT '',
  value INTEGER NOT NULL DEFAULT 0,
  disposition TEXT NOT NULL DEFAULT '',
  reason INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX routing_events_time ON routing_events(tenant_id, time_ms, id);
CREATE INDEX routing_events_agent ON routing_events(tenant_id, agent_id, time_ms);
CREATE INDEX routing_events_call ON routing_events(tenant_id, call_id, time_ms);
CREATE INDEX routing_events_type ON routing_events(tenant_id, type, time_ms);
)SQL";

}  // namespace

store::Migration records_migration() {
  return portable(4, "records: calls, call legs, recordings, routing events", kRecords);
}

store::Migration records_hold_migration() {
  return portable(5, "records: hold time per call",
                  "ALTER TABLE calls ADD COLUMN hold_ms BIGINT NOT NULL DEFAULT 0;\n"
                  "ALTER TABLE calls ADD COLUMN holds INTEGER NOT NULL DEFAULT 0;\n");
}

}  // namespace hotline::schema
