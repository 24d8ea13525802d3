// Row accessors, URL dispatch and helpers shared by both backends.
#include "store/database.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "store/internal.h"

namespace hotline::store {

namespace {

const char* type_name(const Value& v) {
  switch (v.index()) {
    case 0:
      return "NULL";
    case 1:
      return "integer";
    case 2:
      return "real";
    case 3:
      return "text";
    default:
      return "blob";
  }
}

[[noreturn]] void type_error(std::size_t i, const Value& v, const char* wanted) {
  throw StoreError(StoreError::Kind::Type,
                   "store: column " + std::to_string(i) + " is " + type_name(v) + ", not " + wanted);
}

}  // namespace

const Value& Row::checked(std::size_t i) const {
  if (i >= cols_.size()) {
    throw StoreError(StoreError::Kind::Type, "store: column index " + std::to_string(i) +
                                                 " out of range (row has " + std::to_string(cols_.size()) +
                                                 " columns)");
  }
  return cols_[i];
}

bool Row::is_null(std::size_t i) const { return std::holds_alternative<Null>(checked(i)); }

std::int64_t Row::integer(std::size_t i) const {
  const Value& v = checked(i);
  if (auto p = std::get_if<std::int64_t>(&v)) return *p;
  if (auto s = std::get_if<std::string>(&v)) {
    std::int64_t out = 0;
    auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size() && !s->empty()) return out;
  }
  type_error(i, v, "integer");
}

double Row::real(std::size_t i) const {
  const Value& v = checked(i);
  if (auto p = std::get_if<double>(&v)) return *p;
  if (auto p = std::get_if<std::int64_t>(&v)) return static_cast<double>(*p);
  type_error(i, v, "real");
}

const std::string& Row::text(std::size_t i) const {
  const Value& v = checked(i);
  if (auto p = std::get_if<std::string>(&v)) return *p;
  type_error(i, v, "text");
}

const Blob& Row::blob(std::size_t i) const {
  const Value& v = checked(i);
  if (auto p = std::get_if<Blob>(&v)) return *p;
  type_error(i, v, "blob");
}

std::optional<std::int64_t> Row::opt_integer(std::size_t i) const {
  if (is_null(i)) return std::nullopt;
  return integer(i);
}

std::optional<std::string> Row::opt_text(std::size_t i) const {
  if (is_null(i)) return std::nullopt;
  return text(i);
}

std::unique_ptr<Database> Database::open(const std::string& url, const Options& options) {
  static constexpr std::string_view kMemory = "sqlite::memory:";
  static constexpr std::string_view kSqlite = "sqlite://";
  std::string_view u = url;
  if (u == kMemory) return detail::open_sqlite("", true, options);
  if (u.starts_with(kSqlite)) {
    std::string path(u.substr(kSqlite.size()));
    if (path.empty()) {
      throw StoreError(StoreError::Kind::Connection,
                       "store: database URL 'sqlite://' has no path; use sqlite://<relative path> or "
                       "sqlite:///<absolute path>");
    }
    if (path.find('?') != std::string::npos || path.find('#') != std::string::npos) {
      throw StoreError(StoreError::Kind::Connection,
                       "store: database URL '" + url + "': sqlite:// URLs take a plain file path, no query");
    }
    if (path == ":memory:") return detail::open_sqlite("", true, options);
    return detail::open_sqlite(path, false, options);
  }
  if (u.starts_with("postgresql://") || u.starts_with("postgres://")) {
    return detail::open_postgres(url, options);
  }
  std::string scheme;
  auto colon = u.find(':');
  if (colon == std::string_view::npos) {
    scheme = "(none)";
  } else {
    scheme = "'" + std::string(u.substr(0, colon)) + ":'";
  }
  throw StoreError(StoreError::Kind::Connection,
                   "store: unsupported database URL scheme " + scheme + " in '" + detail::redact_url(u) +
                       "'; expected sqlite://<path>, sqlite::memory: or postgresql://user:pw@host:port/db");
}

namespace detail {

namespace {
thread_local std::vector<const Database*> t_active;

bool ident_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
}  // namespace

namespace {
// Walks SQL text, copying it to `out` (when given) with every `$N`
// placeholder outside quotes and comments passed to `on_placeholder`.
template <class F>
void scan_placeholders(std::string_view sql, std::string* out, F&& on_placeholder) {
  auto copy = [&](std::string_view part) {
    if (out) out->append(part);
  };
  std::size_t i = 0;
  const std::size_t n = sql.size();
  while (i < n) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      // Quoted literal or identifier; a doubled quote is an escaped quote and
      // simply re-enters this branch.
      std::size_t j = i + 1;
      while (j < n && sql[j] != c) ++j;
      j = std::min(n, j + 1);
      copy(sql.substr(i, j - i));
      i = j;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      std::size_t j = sql.find('\n', i);
      j = j == std::string_view::npos ? n : j;
      copy(sql.substr(i, j - i));
      i = j;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      std::size_t j = sql.find("*/", i + 2);
      j = j == std::string_view::npos ? n : j + 2;
      copy(sql.substr(i, j - i));
      i = j;
    } else if (c == '$' && i + 1 < n && sql[i + 1] >= '0' && sql[i + 1] <= '9' &&
               (i == 0 || !ident_char(sql[i - 1]))) {
      std::size_t j = i + 1;
      long number = 0;
      while (j < n && sql[j] >= '0' && sql[j] <= '9') {
        if (number < 1'000'000) number = number * 10 + (sql[j] - '0');
        ++j;
      }
      on_placeholder(number);
      if (out) out->push_back('?');
      copy(sql.substr(i + 1, j - i - 1));
      i = j;
    } else {
      if (out) out->push_back(c);
      ++i;
    }
  }
}
}  // namespace

std::string rewrite_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  scan_placeholders(sql, &out, [](long) {});
  return out;
}

int max_placeholder(std::string_view sql) {
  long max = 0;
  scan_placeholders(sql, nullptr, [&](long n) { max = std::max(max, n); });
  return static_cast<int>(max);
}

bool is_plain_select(std::string_view sql) {
  std::size_t i = 0;
  while (i < sql.size()) {
    if (sql[i] == ' ' || sql[i] == '\n' || sql[i] == '\t' || sql[i] == '\r' || sql[i] == '(') {
      ++i;
    } else if (sql.substr(i, 2) == "--") {
      auto j = sql.find('\n', i);
      i = j == std::string_view::npos ? sql.size() : j + 1;
    } else {
      break;
    }
  }
  if (sql.size() - i < 6) return false;
  std::string word;
  for (std::size_t k = 0; k < 6; ++k) word.push_back(static_cast<char>(std::tolower(sql[i + k])));
  if (word != "select") return false;
  // SELECT ... FOR UPDATE takes row locks inside a transaction only; outside
  // one it is still a read, so it may be re-sent too.
  return true;
}

std::string redact_url(std::string_view url) {
  std::string u(url);
  auto scheme_end = u.find("://");
  if (scheme_end == std::string::npos) return u;
  auto auth_start = scheme_end + 3;
  auto slash = u.find('/', auth_start);
  auto at = u.substr(0, slash).rfind('@');
  if (at == std::string::npos || at < auth_start) return u;
  auto colon = u.find(':', auth_start);
  if (colon == std::string::npos || colon > at) return u;
  return u.substr(0, colon + 1) + "***" + u.substr(at);
}

std::string scrub_password(std::string message, std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return message;
  auto auth_start = scheme_end + 3;
  // The last '@' before the path ends the credentials; passwords may hold '@'.
  auto slash = url.find('/', auth_start);
  auto at = url.substr(0, slash).rfind('@');
  if (at == std::string_view::npos || at < auth_start) return message;
  auto colon = url.find(':', auth_start);
  if (colon == std::string_view::npos || colon > at) return message;
  std::string pw(url.substr(colon + 1, at - colon - 1));
  if (pw.empty()) return message;
  for (auto pos = message.find(pw); pos != std::string::npos; pos = message.find(pw, pos + 3)) {
    message.replace(pos, pw.size(), "***");
  }
  return message;
}

void validate_migrations(const std::vector<Migration>& migrations) {
  int last = 0;
  for (const auto& m : migrations) {
    if (m.version <= last) {
      throw StoreError(StoreError::Kind::Other,
                       "store: migration versions must be positive and strictly increasing; got " +
                           std::to_string(m.version) + " (" + m.name + ") after " + std::to_string(last));
    }
    last = m.version;
  }
}

void check_params(const std::vector<Value>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (auto s = std::get_if<std::string>(&params[i])) {
      if (std::memchr(s->data(), '\0', s->size()) != nullptr) {
        throw StoreError(StoreError::Kind::Other, "store: text parameter $" + std::to_string(i + 1) +
                                                      " contains a NUL byte; store binary data as Blob");
      }
    }
  }
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TransactionScope::TransactionScope(const Database* db) : db_(db) {
  forbid_nested(db, "transaction()");
  t_active.push_back(db);
}

TransactionScope::~TransactionScope() {
  auto it = std::find(t_active.rbegin(), t_active.rend(), db_);
  if (it != t_active.rend()) t_active.erase(std::next(it).base());
}

bool TransactionScope::active(const Database* db) {
  return std::find(t_active.begin(), t_active.end(), db) != t_active.end();
}

void TransactionScope::forbid_nested(const Database* db, const char* what) {
  if (active(db)) {
    throw StoreError(StoreError::Kind::Other,
                     std::string("store: ") + what +
                         " called inside transaction() on the same thread; use the Tx passed to the "
                         "callback (nested transactions are not supported)");
  }
}

}  // namespace detail
}  // namespace hotline::store
