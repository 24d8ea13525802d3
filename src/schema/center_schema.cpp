#include "schema/parts.h"

namespace hotline::schema {

namespace {

// One row per configuration object of a tenant: its kind, the value that must
// be unique per (tenant, kind) (name, number, code, "name/language" for
// prompts; NULL for customers, which have no unique name), and the validated
// JSON document (src/center/codec.cpp). `version` counts saves.
// Every save of an IVR flow is also kept in center_flow_versions; the row in
// center_objects is the newest (live) one.
const char* kCenter = R"SQL(
CREATE TABLE center_objects (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  kind TEXT NOT NULL,
  name TEXT,
  body TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE (tenant_id, kind, name)
);
CREATE INDEX center_objects_tenant ON center_objects(tenant_id, kind);
CREATE TABLE center_flow_versions (
  id {ID},
  tenant_id BIGINT NOT NULL REFERENCES tenants(id),
  flow_id BIGINT NOT NULL REFERENCES center_objects(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  actor TEXT NOT NULL,
  UNIQUE (flow_id, version)
);
)SQL";

}  // namespace

// v3: contact-center configuration (owned by src/center/).
store::Migration center_migration() { return portable(3, "center: contact-center configuration", kCenter); }

}  // namespace hotline::schema
