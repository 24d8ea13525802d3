// Routes of the records service (issue 6); being written.
#include "api/api.h"

namespace hotline::api {

void Api::add_records_routes() {}

}  // namespace hotline::api
