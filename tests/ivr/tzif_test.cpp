// TZif files and POSIX TZ rules: hand-made files for each format corner,
// and the system's zoneinfo cross-checked against GNU date (glibc reads the
// same files with its own code).
#include "ivr/tzif.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "support/process.h"
#include "support/temp_dir.h"

namespace hotline::ivr::tz {
namespace {

using namespace std::chrono;

std::int64_t utc_s(sys_days day, seconds time_of_day = seconds(0)) {
  return duration_cast<seconds>(day.time_since_epoch()).count() + time_of_day.count();
}

// ------------------------------------------------------ TZif writer ----

struct Type {
  std::int32_t utoff;
  bool dst;
};

void be(std::string& out, std::int64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::string block(char version, const std::vector<std::int64_t>& times, const std::vector<int>& idx,
                  const std::vector<Type>& types, int time_size) {
  std::string out = "TZif";
  out.push_back(version);
  out.append(15, '\0');
  for (std::size_t c :
       {types.size(), types.size(), std::size_t{0}, times.size(), types.size(), std::size_t{4}})
    be(out, static_cast<std::int64_t>(c), 4);
  for (auto t : times) be(out, t, time_size);
  for (auto i : idx) out.push_back(static_cast<char>(i));
  for (const auto& t : types) {
    be(out, t.utoff, 4);
    out.push_back(t.dst ? 1 : 0);
    out.push_back(0);
  }
  out.append("ABC", 4);                // abbreviations (with the NUL)
  out.append(types.size() * 2, '\0');  // isstd, isut
  return out;
}

std::string tzif(char version, const std::vector<std::int64_t>& times, const std::vector<int>& idx,
                 const std::vector<Type>& types, const std::string& footer) {
  if (version == 0) return block(0, times, idx, types, 4);
  return block(version, {}, {}, types, 4) + block(version, times, idx, types, 8) + "\n" + footer + "\n";
}

// ------------------------------------------------------ POSIX rules ----

TEST(PosixTz, FixedOffsets) {
  struct Case {
    const char* text;
    std::int32_t offset;
  };
  for (const auto& c : std::vector<Case>{{"CST-8", 8 * 3600},
                                         {"<+08>-8", 8 * 3600},
                                         {"<-03>3", -3 * 3600},
                                         {"IST-5:30", 5 * 3600 + 1800},
                                         {"<+0545>-5:45", 5 * 3600 + 45 * 60},
                                         {"UTC0", 0},
                                         {"XYZ+1:02:03", -(3600 + 120 + 3)}}) {
    SCOPED_TRACE(c.text);
    auto tz = PosixTz::parse(c.text);
    ASSERT_TRUE(tz.has_value());
    EXPECT_FALSE(tz->has_dst);
    EXPECT_EQ(tz->offset_at(0), c.offset);
    EXPECT_EQ(tz->offset_at(4'000'000'000), c.offset);
  }
}

TEST(PosixTz, MalformedRulesAreRejected) {
  for (const char* bad : {"", "C-8", "CST", "CST-8x", "CST-8,", "<+08-8", "<>-8", "CST-25", "EST5EDT,M3.2.0",
                          "EST5EDT,M13.2.0,M11.1.0", "EST5EDT,M3.6.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0",
                          "EST5EDT,J0,J100", "EST5EDT,366,J100", "EST5EDT,M3.2.0/168,M11.1.0", "EST5EDT4x"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(PosixTz::parse(bad).has_value());
  }
}

TEST(PosixTz, UsRuleSwitchesOnTheRightSeconds) {
  auto tz = PosixTz::parse("EST5EDT,M3.2.0,M11.1.0");
  ASSERT_TRUE(tz.has_value());
  EXPECT_EQ(tz->std_offset, -5 * 3600);
  EXPECT_EQ(tz->dst_offset, -4 * 3600);
  // 2026-03-08 02:00 EST = 07:00Z; 2026-11-01 02:00 EDT = 06:00Z.
  EXPECT_EQ(tz->offset_at(utc_s(2026y / March / 8, 7h) - 1), -5 * 3600);
  EXPECT_EQ(tz->offset_at(utc_s(2026y / March / 8, 7h)), -4 * 3600);
  EXPECT_EQ(tz->offset_at(utc_s(2026y / November / 1, 6h) - 1), -4 * 3600);
  EXPECT_EQ(tz->offset_at(utc_s(2026y / November / 1, 6h)), -5 * 3600);
  // Without a rule the US rule is assumed (as glibc does).
  auto bare = PosixTz::parse("EST5EDT");
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->offset_at(utc_s(2026y / March / 8, 7h)), -4 * 3600);
}

TEST(PosixTz, SouthernHemisphereAndLastWeek) {
  auto tz = PosixTz::parse("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(tz.has_value());
  EXPECT_EQ(tz->offset_at(utc_s(2026y / January / 15)), 11 * 3600);
  EXPECT_EQ(tz->offset_at(utc_s(2026y / July / 15)), 10 * 3600);
  EXPECT_EQ(tz->offset_at(utc_s(2026y / December / 31, 23h)), 11 * 3600);
  // M10.5.0 = the last Sunday of October (2026-10-25), 01:00 UTC in London.
  auto london = PosixTz::parse("GMT0BST,M3.5.0/1,M10.5.0");
  ASSERT_TRUE(london.has_value());
  EXPECT_EQ(london->offset_at(utc_s(2026y / October / 25, 1h) - 1), 3600);
  EXPECT_EQ(london->offset_at(utc_s(2026y / October / 25, 1h)), 0);
}

TEST(PosixTz, NegativeDstAndNegativeTimes) {
  // Europe/Dublin: "standard" IST in summer, "DST" GMT in winter.
  auto dublin = PosixTz::parse("IST-1GMT0,M10.5.0,M3.5.0/1");
  ASSERT_TRUE(dublin.has_value());
  EXPECT_EQ(dublin->offset_at(utc_s(2026y / July / 1)), 3600);
  EXPECT_EQ(dublin->offset_at(utc_s(2026y / January / 1)), 0);
  // America/Nuuk style (TZif v3): switch times before local midnight.
  auto nuuk = PosixTz::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  ASSERT_TRUE(nuuk.has_value());
  // DST starts 2026-03-29 at -1:00 local = 2026-03-28 23:00 (-02) = 2026-03-29 01:00Z.
  EXPECT_EQ(nuuk->offset_at(utc_s(2026y / March / 29, 1h) - 1), -2 * 3600);
  EXPECT_EQ(nuuk->offset_at(utc_s(2026y / March / 29, 1h)), -1 * 3600);
}

TEST(PosixTz, JulianDays) {
  // Jn never counts Feb 29: J60 is March 1 even in 2024. n counts it: 59 is Feb 29 in 2024.
  auto j1 = PosixTz::parse("AAA0BBB,J60/0,J300/0");
  ASSERT_TRUE(j1.has_value());
  EXPECT_EQ(j1->offset_at(utc_s(2024y / February / 29, 12h)), 0);
  EXPECT_EQ(j1->offset_at(utc_s(2024y / March / 1)), 3600);
  auto j0 = PosixTz::parse("AAA0BBB,59/0,300/0");
  ASSERT_TRUE(j0.has_value());
  EXPECT_EQ(j0->offset_at(utc_s(2024y / February / 28, 23h + 59min + 59s)), 0);
  EXPECT_EQ(j0->offset_at(utc_s(2024y / February / 29)), 3600);
  EXPECT_EQ(j0->offset_at(utc_s(2025y / March / 1)), 3600);  // day 59 of 2025
}

TEST(PosixTz, PermanentDst) {
  auto tz = PosixTz::parse("EST5EDT,0/0,J365/25");
  ASSERT_TRUE(tz.has_value());
  for (auto day : {2026y / January / 1, 2026y / June / 1, 2026y / December / 31})
    EXPECT_EQ(tz->offset_at(utc_s(day, 12h)), -4 * 3600);
}

// ------------------------------------------------------ TZif files ----

TEST(Tzif, VersionOneFile) {
  const std::string bytes = tzif(0, {1000, 2000}, {1, 0}, {{3600, false}, {7200, true}}, "");
  auto z = Zone::parse(bytes);
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->offset_at(999), 3600);  // before the first transition: type 0
  EXPECT_EQ(z->offset_at(1000), 7200);
  EXPECT_EQ(z->offset_at(1999), 7200);
  EXPECT_EQ(z->offset_at(2000), 3600);
  EXPECT_EQ(z->offset_at(1'000'000'000), 3600);  // no footer: the last type stays
}

TEST(Tzif, FooterOnlyFile) {
  for (char version : {'2', '3', '4'}) {
    auto z = Zone::parse(tzif(version, {}, {}, {{28800, false}}, "<+08>-8"));
    ASSERT_TRUE(z.ok()) << z.error().message;
    EXPECT_EQ(z->offset_at(-2'000'000'000), 28800);
    EXPECT_EQ(z->offset_at(4'000'000'000), 28800);
  }
}

TEST(Tzif, FooterAppliesAfterTheLastTransition) {
  const std::int64_t last = utc_s(2020y / November / 1, 6h);
  auto z = Zone::parse(tzif('2', {last}, {0}, {{-18000, false}}, "EST5EDT,M3.2.0,M11.1.0"));
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->offset_at(last - 1), -18000);  // before the first transition: type 0
  EXPECT_EQ(z->offset_at(utc_s(2026y / July / 1)), -4 * 3600);
  EXPECT_EQ(z->offset_at(utc_s(2026y / December / 1)), -5 * 3600);
}

TEST(Tzif, SixtyFourBitTimesBeyond2038) {
  const std::int64_t far = utc_s(2100y / January / 1);
  auto z = Zone::parse(tzif('2', {far}, {1}, {{0, false}, {3600, false}}, ""));
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->offset_at(far - 1), 0);
  EXPECT_EQ(z->offset_at(far), 3600);
}

TEST(Tzif, CorruptFilesAreRejected) {
  const std::string good = tzif('2', {100}, {0}, {{3600, false}}, "CST-8");
  std::string wrong_index = tzif(0, {100}, {5}, {{3600, false}}, "");
  std::string unsorted = tzif(0, {200, 100}, {0, 0}, {{3600, false}}, "");
  std::string bad_version = good;
  bad_version[4] = '9';
  for (const auto& [name, bytes] : std::vector<std::pair<std::string, std::string>>{
           {"empty", ""},
           {"magic", "TZXX" + good.substr(4)},
           {"version", bad_version},
           {"truncated", good.substr(0, good.size() / 2)},
           {"no footer", good.substr(0, good.size() - 7)},
           {"bad footer", tzif('2', {}, {}, {{0, false}}, "nonsense")},
           {"type index", wrong_index},
           {"unsorted", unsorted},
           {"no types", tzif(0, {}, {}, {}, "")}}) {
    SCOPED_TRACE(name);
    auto z = Zone::parse(bytes);
    ASSERT_FALSE(z.ok());
    EXPECT_EQ(z.error().field, "time_zone");
  }
  EXPECT_TRUE(Zone::parse(good).ok());
}

TEST(Tzif, NamesAreChecked) {
  for (const char* bad : {"", "../etc/passwd", "Asia/../../etc/passwd", "/etc/passwd", "Asia/Shang hai",
                          "Mars/Olympus_Mons", "Asia"}) {
    SCOPED_TRACE(bad);
    auto z = Zone::load(bad);
    ASSERT_FALSE(z.ok());
    EXPECT_EQ(z.error().code, "invalid_argument");
    EXPECT_EQ(z.error().field, "time_zone");
  }
}

TEST(Tzif, TzdirIsHonoured) {
  hotline::testing::TempDir dir;
  std::filesystem::create_directories(dir.path() / "Test");
  std::ofstream(dir.path() / "Test" / "Plus8", std::ios::binary)
      << tzif('2', {}, {}, {{28800, false}}, "<+08>-8");
  const char* old = std::getenv("TZDIR");
  const std::optional<std::string> saved = old ? std::optional<std::string>(old) : std::nullopt;
  ASSERT_EQ(setenv("TZDIR", dir.str().c_str(), 1), 0);
  auto z = Zone::load("Test/Plus8");
  auto missing = Zone::load("Asia/Shanghai");  // not in this TZDIR
  if (saved)
    setenv("TZDIR", saved->c_str(), 1);
  else
    unsetenv("TZDIR");
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->offset_at(0), 28800);
  EXPECT_FALSE(missing.ok());
  EXPECT_TRUE(Zone::load("Asia/Shanghai").ok());
}

// -------------------------------------------- system zones vs date(1) ----

// Offsets (seconds east of UTC) that `TZ=<zone> date -f <file> +%::z` prints
// for each "@<t>" line of the file.
std::vector<std::int32_t> date_offsets(const std::string& zone, const std::vector<std::int64_t>& times) {
  hotline::testing::TempDir dir;
  const auto file = dir.path() / "times";
  {
    std::ofstream f(file);
    for (auto t : times) f << '@' << t << '\n';
  }
  auto r = hotline::testing::run_process(
      {"/usr/bin/env", "TZ=" + zone, "/bin/date", "-f", file.string(), "+%::z"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::int32_t> out;
  std::istringstream in(r.output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() != 9) continue;  // "+hh:mm:ss"
    const int sign = line[0] == '-' ? -1 : 1;
    out.push_back(sign * (std::stoi(line.substr(1, 2)) * 3600 + std::stoi(line.substr(4, 2)) * 60 +
                          std::stoi(line.substr(7, 2))));
  }
  return out;
}

TEST(Tzif, SystemZonesAgreeWithDate) {
  // 1901..2100 every ~9.7 days (odd step so times of day vary), plus the
  // seconds around the 2026 New York switches.
  std::vector<std::int64_t> times;
  for (std::int64_t t = utc_s(1901y / January / 1); t < utc_s(2100y / December / 1); t += 839'731)
    times.push_back(t);
  for (std::int64_t edge : {utc_s(2026y / March / 8, 7h), utc_s(2026y / November / 1, 6h)})
    for (std::int64_t d : {-1, 0, 1}) times.push_back(edge + d);
  for (const char* zone :
       {"America/New_York", "Asia/Shanghai", "Europe/London", "Europe/Dublin", "Australia/Sydney",
        "Asia/Kolkata", "America/Sao_Paulo", "Pacific/Chatham", "America/Nuuk", "Africa/Casablanca", "UTC"}) {
    SCOPED_TRACE(zone);
    auto z = Zone::load(zone);
    ASSERT_TRUE(z.ok()) << z.error().message;
    const auto expected = date_offsets(zone, times);
    ASSERT_EQ(expected.size(), times.size());
    int mismatches = 0;
    for (std::size_t i = 0; i < times.size() && mismatches < 5; ++i)
      if (z->offset_at(times[i]) != expected[i]) {
        ++mismatches;
        ADD_FAILURE() << "t=" << times[i] << " ours=" << z->offset_at(times[i]) << " date=" << expected[i];
      }
  }
}

}  // namespace
}  // namespace hotline::ivr::tz
