// ivr/tzif.h — IANA time zones read from TZif files (RFC 8536, versions 1-4)
// and the POSIX TZ rule in their footer. Private to src/ivr (and its tests).
//
//   auto z = tz::Zone::load("America/New_York");   // $TZDIR or /usr/share/zoneinfo
//   std::int64_t off = z->offset_at(unix_seconds);  // seconds east of UTC
//
// Leap-second records ("right/" zones) are skipped: offsets are civil time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace hotline::ivr::tz {

// One transition date of a POSIX TZ rule ("M3.2.0/2", "J60", "59").
struct RuleDate {
  enum class Kind : std::uint8_t { kJulian1, kJulian0, kMonthWeekDay };
  Kind kind = Kind::kMonthWeekDay;
  int day = 0;                           // Jn: 1..365 (Feb 29 never counted); n: 0..365
  int month = 0, week = 0, weekday = 0;  // Mm.w.d: 1..12, 1..5 (5 = last), 0..6 (0 = Sunday)
  std::int32_t time = 2 * 3600;          // local time of day of the switch, -167h..167h
};

// A POSIX TZ string: "CST-8", "<+08>-8", "EST5EDT,M3.2.0,M11.1.0".
struct PosixTz {
  std::int32_t std_offset = 0;  // seconds east of UTC (the string's sign is inverted)
  bool has_dst = false;
  std::int32_t dst_offset = 0;
  RuleDate start, end;  // DST starts at `start` (standard time), ends at `end` (DST)

  // nullopt when malformed.
  static std::optional<PosixTz> parse(std::string_view s);
  std::int32_t offset_at(std::int64_t unix_seconds) const;
};

class Zone {
 public:
  // Names like "Asia/Shanghai"; ".." and absolute paths are rejected.
  static common::Result<Zone> load(const std::string& name);
  static common::Result<Zone> parse(std::string_view bytes);

  std::int32_t offset_at(std::int64_t unix_seconds) const;

 private:
  std::vector<std::int64_t> times_;    // transition instants, ascending
  std::vector<std::uint8_t> types_;    // index into offsets_ per transition
  std::vector<std::int32_t> offsets_;  // utoff per local time type
  std::optional<PosixTz> footer_;      // for instants after the last transition
};

}  // namespace hotline::ivr::tz
