// ivr/ivr.h — placeholder public header; the subsystem is being written (issue 6).
#pragma once

namespace hotline::ivr {}  // namespace hotline::ivr
