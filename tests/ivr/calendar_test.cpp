// Business calendars: weekly hours in a zone, holidays, make-up working
// days, 24:00 ends, and the DST switches of America/New_York.
#include <gtest/gtest.h>

#include <chrono>

#include "ivr/ivr.h"

namespace hotline::ivr {
namespace {

using namespace std::chrono;
using Week = std::array<std::vector<std::string>, 7>;

system_clock::time_point at_utc(sys_days day, seconds time_of_day) {
  return system_clock::time_point(
      duration_cast<system_clock::duration>(day.time_since_epoch() + time_of_day));
}

// Shanghai is UTC+8 all year (no DST since 1991).
system_clock::time_point shanghai(sys_days day, seconds local) { return at_utc(day, local - 8h); }

Calendar must(const common::Result<Calendar>& r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().field + ": " + r.error().message);
  return r.ok() ? *r : Calendar();
}

Week office_week() {
  Week w;
  for (int d = 0; d < 5; ++d) w[d] = {"09:00-12:00", "13:00-18:00"};
  w[5] = {"10:00-16:00", "12:00-14:00"};  // overlapping ranges are fine
  w[6] = {"20:00-24:00"};
  return w;
}

TEST(Calendar, ShanghaiWeeklyHours) {
  Calendar c = must(Calendar::compile("Asia/Shanghai", office_week(), {}, {}, {"09:00-18:00"}));
  const sys_days monday = 2026y / June / 1;
  EXPECT_FALSE(c.is_open(shanghai(monday, 8h + 59min + 59s)));
  EXPECT_TRUE(c.is_open(shanghai(monday, 9h)));
  EXPECT_TRUE(c.is_open(shanghai(monday, 11h + 59min)));
  EXPECT_FALSE(c.is_open(shanghai(monday, 12h)));  // end exclusive: lunch
  EXPECT_TRUE(c.is_open(shanghai(monday, 13h)));
  EXPECT_FALSE(c.is_open(shanghai(monday, 18h)));
  EXPECT_TRUE(c.is_open(shanghai(monday + days(5), 15h)));  // Saturday
  EXPECT_FALSE(c.is_open(shanghai(monday + days(5), 16h)));
  EXPECT_EQ(c.utc_offset(shanghai(monday, 9h)), 8h);
  // `TZ=Asia/Shanghai date -d '1988-07-01 00:00Z' +%::z` prints +09:00:00 (China's DST, 1986-1991).
  EXPECT_EQ(c.utc_offset(at_utc(1988y / July / 1, 0s)), 9h);
}

TEST(Calendar, TwentyFourHundredEndsTheDay) {
  Calendar c = must(Calendar::compile("Asia/Shanghai", office_week(), {}, {}, {}));
  const sys_days sunday = 2026y / June / 7;
  EXPECT_FALSE(c.is_open(shanghai(sunday, 19h + 59min)));
  EXPECT_TRUE(c.is_open(shanghai(sunday, 20h)));
  EXPECT_TRUE(c.is_open(shanghai(sunday, 23h + 59min + 59s)));
  EXPECT_FALSE(c.is_open(shanghai(sunday + days(1), 0s)));  // Monday 00:00
}

TEST(Calendar, HolidaysAndMakeUpDays) {
  // 2026-10-01 is a Thursday (National Day); 2026-09-27 a Sunday worked in exchange.
  Calendar c = must(Calendar::compile("Asia/Shanghai", office_week(), {"2026-10-01", "2026-10-02"},
                                      {"2026-09-27"}, {"08:30-17:30"}));
  EXPECT_FALSE(c.is_open(shanghai(2026y / October / 1, 10h)));
  EXPECT_FALSE(c.is_open(shanghai(2026y / October / 2, 10h)));
  EXPECT_TRUE(c.is_open(shanghai(2026y / September / 30, 10h)));  // ordinary Wednesday
  EXPECT_TRUE(c.is_open(shanghai(2026y / September / 27, 8h + 30min)));
  EXPECT_FALSE(c.is_open(shanghai(2026y / September / 27, 17h + 30min)));
  EXPECT_FALSE(c.is_open(shanghai(2026y / September / 27, 21h)));  // Sunday hours don't apply
  // The holiday is the local date: 2026-10-01 00:30 in Shanghai is still 09-30 in UTC.
  Calendar night = must(Calendar::compile(
      "Asia/Shanghai",
      Week{{{"00:00-24:00"}, {"00:00-24:00"}, {"00:00-24:00"}, {"00:00-24:00"}, {"00:00-24:00"}, {}, {}}},
      {"2026-10-01"}, {}, {}));
  EXPECT_FALSE(night.is_open(shanghai(2026y / October / 1, 30min)));
  EXPECT_TRUE(night.is_open(shanghai(2026y / September / 30, 23h + 59min)));
}

TEST(Calendar, HolidayWinsOverMakeUpDay) {
  Calendar c = must(
      Calendar::compile("Asia/Shanghai", office_week(), {"2026-09-27"}, {"2026-09-27"}, {"00:00-24:00"}));
  EXPECT_FALSE(c.is_open(shanghai(2026y / September / 27, 12h)));
}

TEST(Calendar, NewYorkAcrossBothDstSwitches) {
  Week w;
  for (int d = 0; d < 5; ++d) w[d] = {"09:00-17:00"};
  w[6] = {"01:00-02:30"};
  Calendar c = must(Calendar::compile("America/New_York", w, {}, {}, {}));
  // Values printed by `TZ=America/New_York date -d @<t> +%z`:
  //   1772953199 (2026-03-08 06:59:59Z) -0500, 1772953200 -0400,
  //   1793512799 (2026-11-01 05:59:59Z) -0400, 1793512800 -0500,
  //   2224756800 (2040-07-01 12:00Z) -0400, 4103697600 (2100-01-15 12:00Z) -0500.
  auto t = [](std::int64_t s) { return system_clock::time_point(seconds(s)); };
  EXPECT_EQ(c.utc_offset(t(1772953199)), -5h);
  EXPECT_EQ(c.utc_offset(t(1772953200)), -4h);
  EXPECT_EQ(c.utc_offset(t(1793512799)), -4h);
  EXPECT_EQ(c.utc_offset(t(1793512800)), -5h);
  EXPECT_EQ(c.utc_offset(t(2224756800)), -4h);  // past the file's transitions: the footer rule
  EXPECT_EQ(c.utc_offset(t(4103697600)), -5h);
  // Monday opening: 09:00 EST = 14:00Z before the switch, 09:00 EDT = 13:00Z after.
  EXPECT_FALSE(c.is_open(at_utc(2026y / March / 2, 13h + 59min)));
  EXPECT_TRUE(c.is_open(at_utc(2026y / March / 2, 14h)));
  EXPECT_FALSE(c.is_open(at_utc(2026y / March / 9, 12h + 59min)));
  EXPECT_TRUE(c.is_open(at_utc(2026y / March / 9, 13h)));
  EXPECT_FALSE(c.is_open(at_utc(2026y / November / 2, 13h + 59min)));
  EXPECT_TRUE(c.is_open(at_utc(2026y / November / 2, 14h)));
  // Spring forward: 01:59:59 EST is followed by 03:00 EDT, past the 02:30 end.
  EXPECT_TRUE(c.is_open(t(1772953199)));
  EXPECT_FALSE(c.is_open(t(1772953200)));
  // Fall back: 01:00-02:00 local happens twice, and is open both times.
  EXPECT_TRUE(c.is_open(t(1793512800 - 3600)));  // 01:00 EDT
  EXPECT_TRUE(c.is_open(t(1793512800)));         // 01:00 EST
  EXPECT_TRUE(c.is_open(t(1793512800 + 5400 - 1)));
  EXPECT_FALSE(c.is_open(t(1793512800 + 5400)));  // 02:30 EST
}

TEST(Calendar, DefaultCalendarIsClosed) {
  Calendar c;
  EXPECT_FALSE(c.is_open(system_clock::time_point(seconds(1'800'000'000))));
  EXPECT_EQ(c.utc_offset(system_clock::time_point(seconds(0))), 0s);
  Calendar copy = must(Calendar::compile("UTC", Week{{{"00:00-24:00"}, {}, {}, {}, {}, {}, {}}}, {}, {}, {}));
  c = copy;
  EXPECT_TRUE(c.is_open(at_utc(2026y / June / 1, 0s)));  // a Monday
}

TEST(Calendar, BadInputNamesTheField) {
  struct Case {
    const char* name;
    std::string zone;
    Week week;
    std::vector<std::string> holidays, workdays, hours;
    const char* field;
  };
  Week bad_week;
  bad_week[2] = {"09:00-12:00", "12:00-11:00"};
  auto week_with = [](std::string range) {
    Week w;
    w[0] = {std::move(range)};
    return w;
  };
  for (const auto& c : std::vector<Case>{
           {"unknown zone", "Mars/Base", {}, {}, {}, {}, "time_zone"},
           {"dot dot", "../../etc/passwd", {}, {}, {}, {}, "time_zone"},
           {"reversed range", "UTC", bad_week, {}, {}, {}, "weekly.2.1"},
           {"empty range", "UTC", week_with("09:00-09:00"), {}, {}, {}, "weekly.0.0"},
           {"24:00 start", "UTC", week_with("24:00-24:00"), {}, {}, {}, "weekly.0.0"},
           {"24:30 end", "UTC", week_with("09:00-24:30"), {}, {}, {}, "weekly.0.0"},
           {"minutes", "UTC", week_with("09:60-10:00"), {}, {}, {}, "weekly.0.0"},
           {"format", "UTC", week_with("9:00-10:00"), {}, {}, {}, "weekly.0.0"},
           {"separator", "UTC", week_with("09:00~10:00"), {}, {}, {}, "weekly.0.0"},
           {"holiday date", "UTC", {}, {"2026-02-30"}, {}, {}, "holidays.0"},
           {"holiday format", "UTC", {}, {"2026-1-01"}, {}, {}, "holidays.0"},
           {"workday date", "UTC", {}, {}, {"2026-09-27", "someday"}, {}, "workdays.1"},
           {"workday hours", "UTC", {}, {}, {}, {"08:00-07:00"}, "workday_hours.0"},
       }) {
    SCOPED_TRACE(c.name);
    auto r = Calendar::compile(c.zone, c.week, c.holidays, c.workdays, c.hours);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "invalid_argument");
    EXPECT_EQ(r.error().field, c.field);
  }
}

}  // namespace
}  // namespace hotline::ivr
