#include "schema/parts.h"

namespace hotline::schema {

// v3: contact-center configuration (owned by src/center/). Placeholder until
// the center subsystem lands; no released database carries it yet.
store::Migration center_migration() {
  return portable(3, "center: contact-center configuration", "CREATE TABLE center_placeholder (id {ID});");
}

}  // namespace hotline::schema
