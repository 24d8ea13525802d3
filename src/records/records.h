// records/records.h — placeholder public header; the subsystem is being written (issue 6).
#pragma once

namespace hotline::records {}  // namespace hotline::records
