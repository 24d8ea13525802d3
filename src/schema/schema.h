// schema/schema.h — every table of Hotline, as one ordered list of migrations.
//
// Versions only ever grow; a released migration is never edited (add a new
// one instead). `hotline migrate` and `hotline serve` apply them at start.
// Conventions: every business table has `tenant_id`; times are INTEGER
// milliseconds since the Unix epoch (UTC); booleans are 0/1.
#pragma once

#include <vector>

#include "store/database.h"

namespace hotline::schema {

const std::vector<store::Migration>& migrations();

}  // namespace hotline::schema
