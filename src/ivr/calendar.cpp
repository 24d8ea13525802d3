// ivr/calendar.cpp — business hours in a named time zone.
//
// is_open(t): t is turned into the zone's local date and time; a holiday is
// closed all day; a make-up working day uses workday_hours; any other day
// uses its weekday's ranges. Ranges are [start, end) in minutes of the local
// day, so at a DST switch the wall clock (not elapsed time) decides.
#include <algorithm>
#include <chrono>
#include <set>

#include "ivr/ivr.h"
#include "ivr/tzif.h"

namespace hotline::ivr {

using common::Error;
using common::Result;

namespace {

constexpr std::size_t kMaxRanges = 48;
constexpr std::size_t kMaxDates = 2000;

using Range = std::pair<int, int>;  // minutes of the day, end exclusive

std::optional<int> digits(const std::string& s, std::size_t at, std::size_t n) {
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// "HH:MM" at `at`; 24:00 only when `end`.
std::optional<int> minute_of_day(const std::string& s, std::size_t at, bool end) {
  if (s[at + 2] != ':') return std::nullopt;
  auto h = digits(s, at, 2);
  auto m = digits(s, at + 3, 2);
  if (!h || !m || *m > 59) return std::nullopt;
  if (*h == 24 && *m == 0 && end) return 24 * 60;
  if (*h > 23) return std::nullopt;
  return *h * 60 + *m;
}

std::optional<Range> parse_range(const std::string& s) {
  if (s.size() != 11 || s[5] != '-') return std::nullopt;
  auto from = minute_of_day(s, 0, false);
  auto to = minute_of_day(s, 6, true);
  if (!from || !to || *from >= *to) return std::nullopt;
  return Range{*from, *to};
}

// "YYYY-MM-DD" -> days since 1970-01-01.
std::optional<std::int64_t> parse_date(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  auto y = digits(s, 0, 4);
  auto m = digits(s, 5, 2);
  auto d = digits(s, 8, 2);
  if (!y || !m || !d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{*y}, std::chrono::month{static_cast<unsigned>(*m)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd}.time_since_epoch().count();
}

Result<std::vector<Range>> parse_ranges(const std::vector<std::string>& in, const std::string& field) {
  if (in.size() > kMaxRanges) return Error::invalid(field, "at most 48 ranges");
  std::vector<Range> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto r = parse_range(in[i]);
    if (!r)
      return Error::invalid(field + "." + std::to_string(i),
                            "must be \"HH:MM-HH:MM\" with start before end (end may be 24:00)");
    out.push_back(*r);
  }
  return out;
}

Result<std::set<std::int64_t>> parse_dates(const std::vector<std::string>& in, const std::string& field) {
  if (in.size() > kMaxDates) return Error::invalid(field, "at most 2000 dates");
  std::set<std::int64_t> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto d = parse_date(in[i]);
    if (!d) return Error::invalid(field + "." + std::to_string(i), "must be a date \"YYYY-MM-DD\"");
    out.insert(*d);
  }
  return out;
}

bool within(const std::vector<Range>& ranges, int minute) {
  return std::any_of(ranges.begin(), ranges.end(),
                     [&](const Range& r) { return minute >= r.first && minute < r.second; });
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

struct Calendar::Impl {
  tz::Zone zone;
  std::array<std::vector<Range>, 7> weekly;  // Monday first
  std::set<std::int64_t> holidays, workdays;
  std::vector<Range> workday_hours;
};

Result<Calendar> Calendar::compile(const std::string& time_zone,
                                   const std::array<std::vector<std::string>, 7>& weekly,
                                   const std::vector<std::string>& holidays,
                                   const std::vector<std::string>& workdays,
                                   const std::vector<std::string>& workday_hours) {
  auto zone = tz::Zone::load(time_zone);
  if (!zone) return zone.error();
  auto impl = std::make_shared<Impl>(Impl{*zone, {}, {}, {}, {}});
  for (std::size_t d = 0; d < 7; ++d) {
    auto r = parse_ranges(weekly[d], "weekly." + std::to_string(d));
    if (!r) return r.error();
    impl->weekly[d] = *r;
  }
  auto h = parse_dates(holidays, "holidays");
  if (!h) return h.error();
  auto w = parse_dates(workdays, "workdays");
  if (!w) return w.error();
  auto wh = parse_ranges(workday_hours, "workday_hours");
  if (!wh) return wh.error();
  impl->holidays = *h;
  impl->workdays = *w;
  impl->workday_hours = *wh;
  Calendar c;
  c.impl_ = std::move(impl);
  return c;
}

bool Calendar::is_open(std::chrono::system_clock::time_point t) const {
  if (!impl_) return false;
  const std::int64_t local = unix_seconds(t) + impl_->zone.offset_at(unix_seconds(t));
  std::int64_t day = local / 86400;
  if (local % 86400 < 0) --day;
  const int minute = static_cast<int>((local - day * 86400) / 60);
  if (impl_->holidays.count(day)) return false;
  if (impl_->workdays.count(day)) return within(impl_->workday_hours, minute);
  const std::chrono::weekday wd{std::chrono::sys_days{std::chrono::days{day}}};
  return within(impl_->weekly[wd.iso_encoding() - 1], minute);
}

std::chrono::seconds Calendar::utc_offset(std::chrono::system_clock::time_point t) const {
  return std::chrono::seconds(impl_ ? impl_->zone.offset_at(unix_seconds(t)) : 0);
}

Calendar::Calendar() = default;
Calendar::~Calendar() = default;
Calendar::Calendar(const Calendar&) = default;
Calendar& Calendar::operator=(const Calendar&) = default;

}  // namespace hotline::ivr
