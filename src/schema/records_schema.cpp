#include "schema/parts.h"

namespace hotline::schema {

// v4: call records (owned by src/records/). Placeholder until the records
// subsystem lands; no released database carries it yet.
store::Migration records_migration() {
  return portable(4, "records: calls, recordings, routing events",
                  "CREATE TABLE records_placeholder (id {ID});");
}

}  // namespace hotline::schema
