// The CSV export: RFC 4180 quoting, formula defusing, ISO-8601 times,
// masking, filters, and several pages in one file.
#include <algorithm>
#include <set>

#include "fixture.h"

namespace hotline::records::test {
namespace {

// A strict RFC 4180 reader: CRLF records, quoted fields with doubled quotes.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, in_quotes = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      } else {
        field += c;
      }
    } else if (c == '"' && field.empty() && !quoted) {
      in_quotes = quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
      quoted = false;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      row.push_back(field);
      rows.push_back(row);
      row.clear();
      field.clear();
      quoted = false;
      ++i;
    } else {
      EXPECT_NE(c, '\n') << "bare LF outside quotes at " << i;
      EXPECT_NE(c, '"') << "quote inside an unquoted field at " << i;
      field += c;
    }
  }
  EXPECT_TRUE(field.empty() && row.empty()) << "last record must end with CRLF";
  return rows;
}

const std::vector<std::string> kHeader = {
    "id",         "direction",   "caller",   "caller_name",     "dialled", "customer_id", "flow",
    "ivr_path",   "queue",       "agent_id", "agent_extension", "arrived", "ivr_left",    "queued",
    "offered",    "answered",    "ended",    "wrapup_ended",    "offers",  "priority",    "disposition",
    "end_reason", "wrapup_code", "notes",    "recording_id",    "hold_ms", "holds"};

std::size_t col(const std::string& name) {
  return static_cast<std::size_t>(std::find(kHeader.begin(), kHeader.end(), name) - kHeader.begin());
}

TEST_P(RecordsTest, CsvQuotesDefusesFormulasAndFormatsTimes) {
  auto s = make_store();
  auto c = make_call(t1, 1);
  c.arrived_ms = kT0 + 1234;  // 2026-01-01T00:00:01.234Z
  c.answered_ms = 0;
  c.caller_name = "Smith, John \"JJ\"";
  c.notes = "line one\r\nline two, with comma";
  c.end_reason = "=HYPERLINK(\"http://evil\",\"x\")";
  c.wrapup_code = "@SUM(A1)";
  c.flow = "-2+3";
  c.ivr_path = "\tcmd";
  c.dialled = "800 = ok";  // '=' inside is harmless
  s->put_call(c);
  s->flush();
  auto csv = s->calls_csv(t1, {});
  ASSERT_TRUE(csv.ok()) << csv.error().message;
  EXPECT_EQ(csv->rfind("id,direction,caller,", 0), 0u);
  auto rows = parse_csv(*csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], kHeader);
  const auto& r = rows[1];
  ASSERT_EQ(r.size(), kHeader.size());
  EXPECT_EQ(r[col("id")], "c1");
  EXPECT_EQ(r[col("caller")], "'+49301000001");
  EXPECT_EQ(r[col("caller_name")], "Smith, John \"JJ\"");
  EXPECT_EQ(r[col("notes")], "line one\r\nline two, with comma");
  EXPECT_EQ(r[col("end_reason")], "'=HYPERLINK(\"http://evil\",\"x\")");
  EXPECT_EQ(r[col("wrapup_code")], "'@SUM(A1)");
  EXPECT_EQ(r[col("flow")], "'-2+3");
  EXPECT_EQ(r[col("ivr_path")], "'\tcmd");
  EXPECT_EQ(r[col("dialled")], "800 = ok");
  EXPECT_EQ(r[col("hold_ms")], "3000");  // make_call(1): two holds of 1.5 s
  EXPECT_EQ(r[col("holds")], "2");
  EXPECT_EQ(r[col("arrived")], "2026-01-01T00:00:01.234Z");
  EXPECT_EQ(r[col("answered")], "") << "0 = did not happen";
  EXPECT_EQ(r[col("ended")], "2026-01-01T00:00:00.900Z");
  EXPECT_EQ(r[col("customer_id")], "101");
  EXPECT_EQ(r[col("agent_id")], "2");
  EXPECT_EQ(r[col("offers")], "2");
  // The raw text: the formula field is quoted because of its quotes and commas.
  EXPECT_NE(csv->find("\"'=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\""), std::string::npos);
}

TEST_P(RecordsTest, CsvMasksCallersAndFollowsFilters) {
  auto s = make_store();
  for (int n = 0; n < 10; ++n) s->put_call(make_call(t1, n));
  s->put_call(make_call(t2, 99));
  s->flush();
  CsvOptions mask;
  mask.mask_phone_numbers = true;
  auto rows = parse_csv(*s->calls_csv(t1, {.queue = "sales"}, mask));
  ASSERT_EQ(rows.size(), 6u);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i][col("queue")], "sales");
    EXPECT_EQ(rows[i][col("caller")].substr(0, 9), "'+4930100");
    EXPECT_EQ(rows[i][col("caller")].substr(9), "****");
    EXPECT_NE(rows[i][col("id")], "c99");
  }
  auto plain = parse_csv(*s->calls_csv(t1, {}));
  EXPECT_EQ(plain.size(), 11u) << "header + the tenant's 10 calls";
  EXPECT_EQ(plain[1][col("id")], "c9") << "newest first";

  CsvOptions small;
  small.max_rows = 5;
  auto big = s->calls_csv(t1, {}, small);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().field, "to");
  EXPECT_EQ(s->calls_csv(t1, {.from_ms = 5, .to_ms = 1}).error().field, "to");
}

TEST_P(RecordsTest, CsvSpansSeveralPages) {
  auto s = make_store();
  constexpr int kCalls = 2345;
  for (int n = 0; n < kCalls; ++n) s->put_call(make_call(t1, n));
  s->flush();
  auto rows = parse_csv(*s->calls_csv(t1, {.limit = 3}));  // limit does not cut the export
  ASSERT_EQ(rows.size(), kCalls + 1u);
  std::set<std::string> seen;
  for (std::size_t i = 1; i < rows.size(); ++i) seen.insert(rows[i][0]);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kCalls));
}

}  // namespace
}  // namespace hotline::records::test
