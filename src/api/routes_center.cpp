// Routes of the center service (issue 6); being written.
#include "api/api.h"

namespace hotline::api {

void Api::add_center_routes() {}

}  // namespace hotline::api
