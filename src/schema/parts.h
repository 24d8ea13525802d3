// schema/parts.h — internal: helpers shared by the migration files.
// Each later migration lives in its own file (center_schema.cpp,
// records_schema.cpp) so subsystems can own their tables' DDL.
#pragma once

#include <string>

#include "store/database.h"

namespace hotline::schema {

// `{ID}` becomes the backend's auto-increment primary key; everything else is
// portable SQL. `sqlite_extra`/`postgres_extra` hold backend-only statements
// (triggers, functions).
store::Migration portable(int version, std::string name, const std::string& sql,
                          const std::string& sqlite_extra = "", const std::string& postgres_extra = "");

store::Migration center_migration();        // v3: contact-center configuration
store::Migration records_migration();       // v4: call records, recordings, routing events
store::Migration records_hold_migration();  // v5: hold time per call

}  // namespace hotline::schema
