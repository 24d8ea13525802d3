// live/live.h — placeholder public header; the subsystem is being written (issue 6).
#pragma once

namespace hotline::live {}  // namespace hotline::live
