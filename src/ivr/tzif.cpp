// ivr/tzif.cpp — TZif reader and POSIX TZ rules (see tzif.h).
#include "ivr/tzif.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace hotline::ivr::tz {

using common::Error;
using common::Result;

namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::size_t kMaxFile = 1 << 20;

// ------------------------------------------------------- POSIX TZ text ----

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool done() const { return i_ >= s_.size(); }
  char peek() const { return done() ? '\0' : s_[i_]; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }

  // "EST" (3+ letters) or "<+08>" (3+ of A-Za-z0-9+-).
  bool name() {
    const std::size_t from = i_;
    if (eat('<')) {
      while (!done() && peek() != '>') {
        const char c = peek();
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return false;
        ++i_;
      }
      return eat('>') && i_ - from >= 5;
    }
    while (std::isalpha(static_cast<unsigned char>(peek()))) ++i_;
    return i_ - from >= 3;
  }

  std::optional<int> number(int max) {
    if (!std::isdigit(static_cast<unsigned char>(peek()))) return std::nullopt;
    int v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      v = v * 10 + (s_[i_++] - '0');
      if (v > max) return std::nullopt;
    }
    return v;
  }

  // [+-]hh[:mm[:ss]] in seconds, hours up to `max_hours`.
  std::optional<std::int32_t> duration(int max_hours) {
    int sign = 1;
    if (eat('-'))
      sign = -1;
    else
      eat('+');
    auto h = number(max_hours);
    if (!h) return std::nullopt;
    std::int32_t v = *h * 3600;
    for (int mult : {60, 1}) {
      if (!eat(':')) break;
      auto part = number(59);
      if (!part) return std::nullopt;
      v += *part * mult;
    }
    return sign * v;
  }

  std::optional<RuleDate> rule_date() {
    RuleDate d;
    if (eat('J')) {
      d.kind = RuleDate::Kind::kJulian1;
      auto n = number(365);
      if (!n || *n < 1) return std::nullopt;
      d.day = *n;
    } else if (eat('M')) {
      auto m = number(12);
      auto w = eat('.') ? number(5) : std::nullopt;
      auto wd = eat('.') ? number(6) : std::nullopt;
      if (!m || !w || !wd || *m < 1 || *w < 1) return std::nullopt;
      d.month = *m, d.week = *w, d.weekday = *wd;
    } else {
      d.kind = RuleDate::Kind::kJulian0;
      auto n = number(365);
      if (!n) return std::nullopt;
      d.day = *n;
    }
    if (eat('/')) {
      auto t = duration(167);
      if (!t) return std::nullopt;
      d.time = *t;
    }
    return d;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
};

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

std::int64_t days_of(const std::chrono::sys_days& d) { return d.time_since_epoch().count(); }

// Local midnight (as seconds, as if UTC) of the rule's date in year y, plus its time.
std::int64_t rule_local(const RuleDate& r, int y) {
  using namespace std::chrono;
  const year yr{y};
  std::int64_t day = 0;
  switch (r.kind) {
    case RuleDate::Kind::kJulian1:
      day = days_of(sys_days{yr / January / 1}) + r.day - 1 + ((is_leap(y) && r.day >= 60) ? 1 : 0);
      break;
    case RuleDate::Kind::kJulian0:
      day = days_of(sys_days{yr / January / 1}) + r.day;
      break;
    case RuleDate::Kind::kMonthWeekDay: {
      const month m{static_cast<unsigned>(r.month)};
      const weekday wd{static_cast<unsigned>(r.weekday)};
      day = r.week == 5 ? days_of(sys_days{year_month_weekday_last{yr, m, weekday_last{wd}}})
                        : days_of(sys_days{year_month_weekday{yr, m, wd[static_cast<unsigned>(r.week)]}});
      break;
    }
  }
  return day * kDay + r.time;
}

int year_of(std::int64_t seconds) {
  using namespace std::chrono;
  std::int64_t d = seconds / kDay;
  if (seconds % kDay < 0) --d;
  return static_cast<int>(year_month_day{sys_days{days{d}}}.year());
}

// ------------------------------------------------------------- TZif ----

struct Header {
  char version = 0;
  std::uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

class Bytes {
 public:
  explicit Bytes(std::string_view b) : b_(b) {}
  bool has(std::size_t n) const { return n <= b_.size() - pos_; }
  std::size_t pos() const { return pos_; }
  void skip(std::size_t n) { pos_ += n; }
  std::int64_t be(std::size_t n) {  // big-endian two's complement, n = 4 or 8
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b_[pos_ + i]);
    pos_ += n;
    if (n == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
    return static_cast<std::int64_t>(v);
  }
  std::uint8_t u8() { return static_cast<std::uint8_t>(b_[pos_++]); }
  std::string_view rest() const { return b_.substr(pos_); }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

std::optional<Header> read_header(Bytes& in) {
  if (!in.has(44) || in.rest().substr(0, 4) != "TZif") return std::nullopt;
  Header h;
  in.skip(4);
  h.version = static_cast<char>(in.u8());
  if (h.version != 0 && (h.version < '2' || h.version > '4')) return std::nullopt;
  in.skip(15);
  for (std::uint32_t* c : {&h.isutcnt, &h.isstdcnt, &h.leapcnt, &h.timecnt, &h.typecnt, &h.charcnt})
    *c = static_cast<std::uint32_t>(in.be(4));
  const bool sane = h.typecnt >= 1 && h.typecnt <= 256 && h.timecnt <= (1u << 20) &&
                    h.leapcnt <= (1u << 16) && h.charcnt <= (1u << 16) &&
                    (h.isstdcnt == 0 || h.isstdcnt == h.typecnt) &&
                    (h.isutcnt == 0 || h.isutcnt == h.typecnt);
  return sane ? std::optional<Header>(h) : std::nullopt;
}

std::size_t block_size(const Header& h, std::size_t time_size) {
  return h.timecnt * time_size + h.timecnt + h.typecnt * 6 + h.charcnt + h.leapcnt * (time_size + 4) +
         h.isstdcnt + h.isutcnt;
}

Error corrupt(const std::string& why) {
  return Error::invalid("time_zone", "unreadable time zone data: " + why);
}

bool is_zone_name(const std::string& name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.find("..") != std::string::npos)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+' || c == '/';
  });
}

}  // namespace

std::optional<PosixTz> PosixTz::parse(std::string_view s) {
  Scanner in(s);
  PosixTz tz;
  if (!in.name()) return std::nullopt;
  auto std_off = in.duration(24);
  if (!std_off) return std::nullopt;
  tz.std_offset = -*std_off;
  if (in.done()) return tz;
  if (!in.name()) return std::nullopt;
  tz.has_dst = true;
  tz.dst_offset = tz.std_offset + 3600;
  if (!in.done() && in.peek() != ',') {
    auto dst_off = in.duration(24);
    if (!dst_off) return std::nullopt;
    tz.dst_offset = -*dst_off;
  }
  if (in.done()) {  // no rule: the US rule, as glibc assumes
    tz.start = RuleDate{RuleDate::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
    tz.end = RuleDate{RuleDate::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
    return tz;
  }
  if (!in.eat(',')) return std::nullopt;
  auto start = in.rule_date();
  auto end = in.eat(',') ? in.rule_date() : std::nullopt;
  if (!start || !end || !in.done()) return std::nullopt;
  tz.start = *start;
  tz.end = *end;
  return tz;
}

std::int32_t PosixTz::offset_at(std::int64_t t) const {
  if (!has_dst) return std_offset;
  const int y = year_of(t + std_offset);
  const std::int64_t begin = rule_local(start, y) - std_offset;
  const std::int64_t finish = rule_local(end, y) - dst_offset;
  const bool dst = begin < finish ? (t >= begin && t < finish) : !(t >= finish && t < begin);
  return dst ? dst_offset : std_offset;
}

Result<Zone> Zone::parse(std::string_view bytes) {
  Bytes in(bytes);
  auto h = read_header(in);
  if (!h) return corrupt("bad header");
  std::size_t time_size = 4;
  if (h->version != 0) {  // skip the 32-bit block; the 64-bit one follows
    if (!in.has(block_size(*h, 4))) return corrupt("truncated");
    in.skip(block_size(*h, 4));
    h = read_header(in);
    if (!h) return corrupt("bad second header");
    time_size = 8;
  }
  if (!in.has(block_size(*h, time_size))) return corrupt("truncated");
  Zone z;
  for (std::uint32_t i = 0; i < h->timecnt; ++i) z.times_.push_back(in.be(time_size));
  for (std::uint32_t i = 0; i < h->timecnt; ++i) z.types_.push_back(in.u8());
  for (std::uint32_t i = 0; i < h->typecnt; ++i) {
    z.offsets_.push_back(static_cast<std::int32_t>(in.be(4)));
    in.skip(2);  // isdst, abbreviation index
  }
  in.skip(h->charcnt + h->leapcnt * (time_size + 4) + h->isstdcnt + h->isutcnt);
  if (!std::is_sorted(z.times_.begin(), z.times_.end())) return corrupt("transitions out of order");
  for (auto t : z.types_)
    if (t >= h->typecnt) return corrupt("bad type index");
  if (time_size == 8) {
    const std::string_view rest = in.rest();
    const auto nl = rest.size() >= 2 && rest[0] == '\n' ? rest.find('\n', 1) : std::string_view::npos;
    if (nl == std::string_view::npos) return corrupt("missing footer");
    const std::string_view footer = rest.substr(1, nl - 1);
    if (!footer.empty()) {
      z.footer_ = PosixTz::parse(footer);
      if (!z.footer_) return corrupt("unsupported TZ rule \"" + std::string(footer) + "\"");
    }
  }
  return z;
}

Result<Zone> Zone::load(const std::string& name) {
  if (!is_zone_name(name))
    return Error::invalid("time_zone", "must be an IANA time zone name like Asia/Shanghai");
  const char* dir = std::getenv("TZDIR");
  const std::filesystem::path path =
      std::filesystem::path(dir && *dir ? dir : "/usr/share/zoneinfo") / std::filesystem::path(name);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > kMaxFile)
    return Error::invalid("time_zone", "unknown time zone \"" + name + "\"");
  std::ifstream f(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (!f.good() && !f.eof()) return Error::invalid("time_zone", "cannot read time zone \"" + name + "\"");
  return parse(bytes);
}

std::int32_t Zone::offset_at(std::int64_t t) const {
  if (times_.empty() || t >= times_.back()) {
    if (footer_) return footer_->offset_at(t);
    if (times_.empty()) return offsets_.empty() ? 0 : offsets_[0];
  }
  if (t < times_.front()) return offsets_[0];
  const auto i = std::upper_bound(times_.begin(), times_.end(), t) - times_.begin() - 1;
  return offsets_[types_[static_cast<std::size_t>(i)]];
}

}  // namespace hotline::ivr::tz
