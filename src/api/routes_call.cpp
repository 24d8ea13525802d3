// Routes of the call service (issue 6); being written.
#include "api/api.h"

namespace hotline::api {

void Api::add_call_routes() {}

}  // namespace hotline::api
