// call/call.h — placeholder public header; the subsystem is being written (issue 6).
#pragma once

namespace hotline::call {}  // namespace hotline::call
