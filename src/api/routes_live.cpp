// Routes of the live service (issue 6); being written.
#include "api/api.h"

namespace hotline::api {

void Api::add_live_routes() {}

}  // namespace hotline::api
