// sip/uri.h — SIP/SIPS/tel URIs (RFC 3261 §19.1, RFC 3966), name-addr and
// Via values, plus the small lexical helpers the rest of the stack shares.
//
// These are parsed on demand from header values (the message parser keeps
// values as raw text), so they own their strings: they are short, and the
// owning form is what dialogs and bindings store anyway.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace hotline::sip {

using common::Error;
using common::Result;

// ;name=value parameters in the order received. A parameter without a value
// ("lr", "rport") has an empty value and has_value=false.
struct Param {
  std::string name;
  std::string value;
  bool has_value = false;
};
using Params = std::vector<Param>;

// Case-insensitive lookup (parameter names are case-insensitive).
const Param* find_param(const Params& params, std::string_view name);
void set_param(Params& params, std::string_view name, std::string_view value, bool has_value = true);
void append_params(std::string& out, const Params& params);

struct Uri {
  std::string scheme;  // lower-case: "sip", "sips" or "tel"
  std::string user;    // as on the wire (still %-escaped); tel: the number
  std::string password;
  std::string host;        // IPv6 references keep their brackets
  std::uint16_t port = 0;  // 0 = not given
  Params params;
  std::string headers;  // raw text after '?', without the '?'
  std::string opaque;   // everything after ':' for schemes other than sip/sips/tel

  static Result<Uri> parse(std::string_view text);
  std::string str() const;
  std::string user_unescaped() const;
  std::string host_port() const;
  const Param* param(std::string_view name) const { return find_param(params, name); }
  // RFC 3261 §19.1.4 comparison (case rules, escapes, and the parameters
  // that must match when present on either side).
  bool equivalent(const Uri& other) const;
};

// name-addr / addr-spec with header parameters (From, To, Contact, Route…).
struct NameAddr {
  std::string display;  // unquoted display name; empty if none
  Uri uri;
  Params params;          // header parameters after the URI (tag, expires, q…)
  bool wildcard = false;  // Contact: *

  static Result<NameAddr> parse(std::string_view text);
  std::string str() const;
  std::string tag() const;
};

struct Via {
  std::string transport;  // upper-case: UDP, TCP, TLS, WS, WSS, SCTP
  std::string host;
  std::uint16_t port = 0;
  Params params;

  static Result<Via> parse(std::string_view text);
  std::string str() const;
  std::string branch() const;
};

// Zero-copy forms of the same grammar: views into the parsed text, valid as
// long as it is. The message parser validates From, To and the top Via with
// these (no allocation); the owned types above are built from them, so there
// is one grammar. A parse returns nullptr on success, else what is wrong.
struct ParamView {
  std::string_view name;
  std::string_view value;  // quoted: between the quotes, backslash escapes kept
  bool has_value = false;
  bool escaped = false;  // the quoted value contains backslash escapes
};

struct UriView {
  std::string_view scheme;  // as received (compare with iequals)
  std::string_view user, password, host;
  std::uint16_t port = 0;
  std::string_view params;   // raw ";a=b;c" text, already validated
  std::string_view headers;  // after '?'
  std::string_view opaque;
  bool is_sip = false;  // sip or sips (not tel, not an opaque scheme)

  const char* parse(std::string_view text);
  Uri owned() const;
  // owned().str() written from the view (one string, no owned parts).
  std::string str() const;
};

struct NameAddrView {
  std::string_view display;  // quoted: between the quotes, escapes kept
  bool display_quoted = false;
  UriView uri;
  std::string_view params;  // raw header parameters, already validated
  bool wildcard = false;
  ParamView tag;  // the first "tag" parameter, if any (name empty if none)

  const char* parse(std::string_view text);
  NameAddr owned() const;
};

struct ViaView {
  std::string_view transport;  // as received (owned form is upper-case)
  std::string_view host;       // IPv6 references keep their brackets
  std::uint16_t port = 0;
  std::string_view params;  // raw, without a trailing comment, validated
  bool has_comment = false;
  ParamView branch, rport, received;  // first occurrences (name empty if none)

  const char* parse(std::string_view text);
  Via owned() const;
};

// The value of a parameter with quoted-pair escapes resolved.
std::string param_value(const ParamView& p);
// The first parameter called `name` (case-insensitive) in raw, validated
// ";a=b;c" text (`quoted`: header parameters, which may be quoted); false
// when there is none.
bool find_param(std::string_view raw_params, bool quoted, std::string_view name, ParamView& out);
// The first element of a comma-separated list (split_list()[0]), or empty.
std::string_view first_list_item(std::string_view value);

// Lexical helpers (ASCII only, locale-free: the libc ctype calls were a
// quarter of the parse time).
constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
constexpr bool ascii_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
// RFC 3261 token characters: alphanum / "-" / "." / "!" / "%" / "*" / "_" /
// "+" / "`" / "'" / "~".
constexpr bool is_token_char(char c) {
  switch (c) {
    case '-':
    case '.':
    case '!':
    case '%':
    case '*':
    case '_':
    case '+':
    case '`':
    case '\'':
    case '~':
      return true;
    default:
      return ascii_alnum(c);
  }
}
// ASCII case-insensitive equality. Inline: the parsers call it for every
// header name and parameter, mostly on short strings that differ in length
// or in the first byte.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] != b[i] && ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}
std::string_view trim(std::string_view s);
std::string to_lower(std::string_view s);
// Splits a header value at top-level commas (not inside quotes or <>).
std::vector<std::string_view> split_list(std::string_view value);
// Calls on(item) for each non-empty, trimmed element of a comma-separated
// header value (commas inside quotes or <> do not split) until on() returns
// false. split_list() without the vector, for the paths that run per request.
template <class OnItem>
void for_each_list_item(std::string_view value, OnItem&& on) {
  if (value.find(',') == std::string_view::npos) {  // the usual case: one item
    auto item = trim(value);
    if (!item.empty()) on(item);
    return;
  }
  bool in_quote = false;
  int angle = 0;
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (in_quote) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_quote = false;
    } else if (c == '"') {
      in_quote = true;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>') {
      if (angle > 0) --angle;
    } else if (c == ',' && angle == 0) {
      auto part = trim(value.substr(start, i - start));
      if (!part.empty() && !on(part)) return;
      start = i + 1;
    }
  }
  auto part = trim(value.substr(start));
  if (!part.empty()) on(part);
}
// Percent-decoding; returns nullopt on a malformed escape.
std::optional<std::string> unescape(std::string_view s);
bool parse_uint(std::string_view s, std::uint64_t& out, std::uint64_t max);

}  // namespace hotline::sip
