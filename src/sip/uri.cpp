#include "sip/uri.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace hotline::sip {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Characters allowed unescaped in the host part.
bool is_host_char(char c) { return ascii_alnum(c) || c == '-' || c == '.' || c == '_'; }

// Scans ";a=b;c" (starting at a ';' or at the end), calling on(ParamView)
// for each parameter. `quoted` allows quoted-string values (header
// parameters); URI parameters are plain.
template <class OnParam>
bool scan_params(std::string_view s, bool quoted, OnParam&& on) {
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_ws(s[i])) ++i;
    if (i == s.size()) break;
    if (s[i] != ';') return false;
    ++i;
    while (i < s.size() && is_ws(s[i])) ++i;
    size_t name_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';' && !is_ws(s[i])) ++i;
    ParamView p;
    p.name = s.substr(name_start, i - name_start);
    if (p.name.empty()) return false;
    while (i < s.size() && is_ws(s[i])) ++i;
    if (i < s.size() && s[i] == '=') {
      ++i;
      while (i < s.size() && is_ws(s[i])) ++i;
      p.has_value = true;
      if (quoted && i < s.size() && s[i] == '"') {
        size_t vs = ++i;
        bool closed = false;
        while (i < s.size()) {
          char c = s[i++];
          if (c == '\\' && i < s.size()) {
            p.escaped = true;
            ++i;
          } else if (c == '"') {
            closed = true;
            break;
          }
        }
        if (!closed) return false;
        p.value = s.substr(vs, i - 1 - vs);
      } else if (i < s.size() && s[i] == '[') {
        size_t close = s.find(']', i);
        if (close == std::string_view::npos) return false;
        p.value = s.substr(i, close + 1 - i);
        i = close + 1;
      } else {
        size_t vs = i;
        while (i < s.size() && s[i] != ';' && !is_ws(s[i])) ++i;
        p.value = s.substr(vs, i - vs);
      }
    }
    on(p);
  }
  return true;
}

bool validate_params(std::string_view s, bool quoted) {
  return scan_params(s, quoted, [](const ParamView&) {});
}

Params owned_params(std::string_view s, bool quoted) {
  Params out;
  scan_params(s, quoted, [&](const ParamView& p) {
    out.push_back(Param{std::string(p.name), param_value(p), p.has_value});
  });
  return out;
}

std::string unquote(std::string_view raw) {
  std::string r;
  r.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\\' && i + 1 < raw.size()) ++i;
    r.push_back(raw[i]);
  }
  return r;
}

bool valid_escapes(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

bool parse_hostport(std::string_view hp, std::string_view& host, std::uint16_t& port) {
  if (hp.empty()) return false;
  size_t host_end;
  if (hp[0] == '[') {
    size_t close = hp.find(']');
    if (close == std::string_view::npos) return false;
    for (size_t i = 1; i < close; ++i) {
      char c = hp[i];
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
    host_end = close + 1;
  } else {
    host_end = hp.find(':');
    if (host_end == std::string_view::npos) host_end = hp.size();
    for (size_t i = 0; i < host_end; ++i)
      if (!is_host_char(hp[i])) return false;
    if (host_end == 0) return false;
  }
  host = hp.substr(0, host_end);
  port = 0;
  if (host_end < hp.size()) {
    if (hp[host_end] != ':') return false;
    std::uint64_t v;
    if (!parse_uint(hp.substr(host_end + 1), v, 65535) || v == 0) return false;
    port = static_cast<std::uint16_t>(v);
  }
  return true;
}

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = ascii_lower(c);
  return r;
}

bool parse_uint(std::string_view s, std::uint64_t& out, std::uint64_t max) {
  s = trim(s);
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > max) return false;
  out = v;
  return true;
}

std::vector<std::string_view> split_list(std::string_view value) {
  std::vector<std::string_view> out;
  for_each_list_item(value, [&](std::string_view part) {
    out.push_back(part);
    return true;
  });
  return out;
}

std::optional<std::string> unescape(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
      if (h < 0 || l < 0) return std::nullopt;
      r.push_back(static_cast<char>(h * 16 + l));
      i += 2;
    } else {
      r.push_back(s[i]);
    }
  }
  return r;
}

std::string param_value(const ParamView& p) { return p.escaped ? unquote(p.value) : std::string(p.value); }

std::string_view first_list_item(std::string_view value) {
  std::string_view first;
  for_each_list_item(value, [&](std::string_view part) {
    first = part;
    return false;
  });
  return first;
}

const Param* find_param(const Params& params, std::string_view name) {
  for (const auto& p : params)
    if (iequals(p.name, name)) return &p;
  return nullptr;
}

void set_param(Params& params, std::string_view name, std::string_view value, bool has_value) {
  for (auto& p : params)
    if (iequals(p.name, name)) {
      p.value = std::string(value);
      p.has_value = has_value;
      return;
    }
  params.push_back(Param{std::string(name), std::string(value), has_value});
}

void append_params(std::string& out, const Params& params) {
  for (const auto& p : params) {
    out.push_back(';');
    out += p.name;
    if (p.has_value) {
      out.push_back('=');
      bool needs_quote = p.value.empty() || !std::all_of(p.value.begin(), p.value.end(), [](char c) {
                           return is_token_char(c) || c == ':' || c == '[' || c == ']';
                         });
      if (needs_quote) {
        out.push_back('"');
        for (char c : p.value) {
          if (c == '"' || c == '\\') out.push_back('\\');
          out.push_back(c);
        }
        out.push_back('"');
      } else {
        out += p.value;
      }
    }
  }
}

const char* UriView::parse(std::string_view text) {
  *this = UriView{};
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return "missing scheme";
  scheme = text.substr(0, colon);
  for (char c : scheme)
    if (!ascii_alnum(c) && c != '+' && c != '-' && c != '.') return "bad scheme";
  std::string_view rest = text.substr(colon + 1);
  for (char c : rest)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '<' || c == '>' || c == '"' || c == 0x7f)
      return "illegal character in URI";
  if (iequals(scheme, "tel")) {
    size_t semi = rest.find(';');
    user = rest.substr(0, semi);
    if (user.empty()) return "empty telephone number";
    if (semi != std::string_view::npos) {
      params = rest.substr(semi);
      if (!validate_params(params, false)) return "bad tel parameters";
    }
    return nullptr;
  }
  if (!iequals(scheme, "sip") && !iequals(scheme, "sips")) {
    // Unknown schemes are carried opaquely (RFC 3261 §19.1 allows any
    // absoluteURI); the core answers 416 where a SIP URI is required.
    if (rest.empty()) return "empty URI";
    opaque = rest;
    return nullptr;
  }
  is_sip = true;
  // The user part may contain '?', ';' and '/' (RFC 4475 §3.1.1.2), but not
  // an unescaped '@'; so the first '@' ends the userinfo.
  size_t at = rest.find('@');
  size_t qmark = rest.find('?', at == std::string_view::npos ? 0 : at);
  if (qmark != std::string_view::npos) {
    headers = rest.substr(qmark + 1);
    rest = rest.substr(0, qmark);
  }
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    size_t pc = userinfo.find(':');
    user = userinfo.substr(0, pc);
    if (pc != std::string_view::npos) password = userinfo.substr(pc + 1);
    if (user.empty()) return "empty user part";
    if (!valid_escapes(user)) return "bad escape in user part";
    rest = rest.substr(at + 1);
  }
  size_t semi = rest.find(';');
  if (!parse_hostport(rest.substr(0, semi), host, port)) return "bad host or port";
  if (semi != std::string_view::npos) {
    params = rest.substr(semi);
    if (!validate_params(params, false)) return "bad URI parameters";
  }
  return nullptr;
}

Uri UriView::owned() const {
  Uri u;
  u.scheme = to_lower(scheme);
  u.user = std::string(user);
  u.password = std::string(password);
  u.host = std::string(host);
  u.port = port;
  u.params = owned_params(params, false);
  u.headers = std::string(headers);
  u.opaque = std::string(opaque);
  return u;
}

std::string UriView::str() const {
  // Non-SIP URIs re-quote their parameters (append_params): rare, so they
  // take the owned path.
  if (!is_sip || !opaque.empty()) return owned().str();
  std::string r;
  r.reserve(scheme.size() + user.size() + password.size() + host.size() + params.size() + headers.size() +
            10);
  for (char c : scheme) r.push_back(ascii_lower(c));
  r.push_back(':');
  if (!user.empty()) {
    r += user;
    if (!password.empty()) r.append(":").append(password);
    r.push_back('@');
  }
  r += host;
  if (port) {
    char num[8];
    auto end = std::to_chars(num, num + sizeof num, port).ptr;
    r.push_back(':');
    r.append(num, end);
  }
  scan_params(params, false, [&](const ParamView& p) {
    r.push_back(';');
    r += p.name;
    if (p.has_value) r.append("=").append(p.value);
  });
  if (!headers.empty()) r.append("?").append(headers);
  return r;
}

bool find_param(std::string_view raw_params, bool quoted, std::string_view name, ParamView& out) {
  bool found = false;
  scan_params(raw_params, quoted, [&](const ParamView& p) {
    if (!found && iequals(p.name, name)) {
      out = p;
      found = true;
    }
  });
  return found;
}

Result<Uri> Uri::parse(std::string_view text) {
  UriView v;
  if (const char* err = v.parse(text)) return Error::invalid("uri", err);
  return v.owned();
}

std::string Uri::host_port() const {
  std::string r = host;
  if (port) r += ":" + std::to_string(port);
  return r;
}

std::string Uri::str() const {
  std::string r = scheme;
  r.push_back(':');
  if (!opaque.empty()) return r + opaque;
  if (scheme == "tel") {
    r += user;
    append_params(r, params);
    return r;
  }
  if (!user.empty()) {
    r += user;
    if (!password.empty()) r += ":" + password;
    r.push_back('@');
  }
  r += host_port();
  for (const auto& p : params) {
    r.push_back(';');
    r += p.name;
    if (p.has_value) r += "=" + p.value;
  }
  if (!headers.empty()) r += "?" + headers;
  return r;
}

std::string Uri::user_unescaped() const { return unescape(user).value_or(user); }

bool Uri::equivalent(const Uri& o) const {
  if (scheme != o.scheme) return false;
  if (!opaque.empty() || !o.opaque.empty()) return opaque == o.opaque;
  if (user_unescaped() != o.user_unescaped()) return false;  // user is case-sensitive
  if (!iequals(host, o.host)) return false;
  if (port != o.port) return false;
  // user, ttl, method, maddr and transport must match if present in either.
  for (const char* name : {"user", "ttl", "method", "maddr", "transport"}) {
    const Param* a = param(name);
    const Param* b = o.param(name);
    if ((a == nullptr) != (b == nullptr)) return false;
    if (a && !iequals(a->value, b->value)) return false;
  }
  // Other parameters present in both must match.
  for (const auto& p : params) {
    const Param* b = o.param(p.name);
    if (b && !iequals(p.value, b->value)) return false;
  }
  return true;
}

const char* NameAddrView::parse(std::string_view text) {
  *this = NameAddrView{};
  text = trim(text);
  if (text == "*") {
    wildcard = true;
    return nullptr;
  }
  size_t i = 0;
  std::string_view uri_text;
  std::string_view after;
  if (!text.empty() && text[0] == '"') {
    size_t start = ++i;
    bool closed = false;
    while (i < text.size()) {
      char c = text[i++];
      if (c == '\\' && i < text.size()) {
        ++i;
      } else if (c == '"') {
        closed = true;
        break;
      }
    }
    if (!closed) return "unterminated display name";
    display = text.substr(start, i - 1 - start);
    display_quoted = true;
    while (i < text.size() && is_ws(text[i])) ++i;
    if (i >= text.size() || text[i] != '<') return "expected <";
  }
  size_t lt = text.find('<', i);
  size_t semi = text.find(';', i);
  if (lt != std::string_view::npos && (semi == std::string_view::npos || lt < semi || i > 0)) {
    if (i == 0) {
      // Unquoted display-name = *(token LWS); anything else must be quoted.
      std::string_view d = trim(text.substr(0, lt));
      for (char c : d)
        if (!is_token_char(c) && !is_ws(c)) return "display name must be quoted";
      display = d;
    }
    size_t gt = text.find('>', lt);
    if (gt == std::string_view::npos) return "missing >";
    uri_text = text.substr(lt + 1, gt - lt - 1);
    after = text.substr(gt + 1);
  } else {
    // addr-spec: parameters after the URI belong to the header.
    uri_text = trim(text.substr(0, semi));
    // §20: an addr-spec containing ',', '?' or ';' must be in <>.
    if (uri_text.find_first_of(",?") != std::string_view::npos)
      return "URI with headers must be enclosed in <>";
    after = semi == std::string_view::npos ? std::string_view() : text.substr(semi);
  }
  if (const char* err = uri.parse(uri_text)) return err;
  params = after;
  bool ok = scan_params(after, true, [this](const ParamView& p) {
    if (tag.name.empty() && iequals(p.name, "tag")) tag = p;
  });
  return ok ? nullptr : "bad header parameters";
}

NameAddr NameAddrView::owned() const {
  NameAddr na;
  na.wildcard = wildcard;
  if (wildcard) return na;
  na.display = display_quoted ? unquote(display) : std::string(display);
  na.uri = uri.owned();
  na.params = owned_params(params, true);
  return na;
}

Result<NameAddr> NameAddr::parse(std::string_view text) {
  NameAddrView v;
  if (const char* err = v.parse(text)) return Error::invalid("name-addr", err);
  return v.owned();
}

std::string NameAddr::str() const {
  if (wildcard) return "*";
  std::string r;
  if (!display.empty()) {
    r.push_back('"');
    for (char c : display) {
      if (c == '"' || c == '\\') r.push_back('\\');
      r.push_back(c);
    }
    r += "\" ";
  }
  r.push_back('<');
  r += uri.str();
  r.push_back('>');
  append_params(r, params);
  return r;
}

std::string NameAddr::tag() const {
  const Param* p = find_param(params, "tag");
  return p ? p->value : std::string();
}

const char* ViaView::parse(std::string_view text) {
  *this = ViaView{};
  text = trim(text);
  // sent-protocol = "SIP" SLASH "2.0" SLASH transport, LWS allowed around '/'.
  std::string_view proto[3];
  size_t i = 0;
  for (int part = 0; part < 3; ++part) {
    while (i < text.size() && is_ws(text[i])) ++i;
    size_t s = i;
    while (i < text.size() && !is_ws(text[i]) && text[i] != '/') ++i;
    proto[part] = text.substr(s, i - s);
    while (i < text.size() && is_ws(text[i])) ++i;
    if (part < 2) {
      if (i >= text.size() || text[i] != '/') return "bad sent-protocol";
      ++i;
    }
  }
  if (!iequals(proto[0], "SIP") || proto[1] != "2.0" || proto[2].empty()) return "bad sent-protocol";
  transport = proto[2];
  while (i < text.size() && is_ws(text[i])) ++i;
  size_t s = i;
  while (i < text.size() && text[i] != ';' && !is_ws(text[i])) ++i;
  std::string_view hp = text.substr(s, i - s);
  if (!parse_hostport(hp, host, port)) return "bad sent-by";
  // "host : port" with LWS is legal but rare.
  while (i < text.size() && is_ws(text[i])) ++i;
  if (i < text.size() && text[i] == ':') {
    ++i;
    while (i < text.size() && is_ws(text[i])) ++i;
    size_t ps = i;
    while (i < text.size() && text[i] != ';' && !is_ws(text[i])) ++i;
    std::uint64_t v;
    if (port != 0 || !parse_uint(text.substr(ps, i - ps), v, 65535) || v == 0) return "bad sent-by";
    port = static_cast<std::uint16_t>(v);
  }
  // A trailing comment "( ... )" is allowed by the grammar; drop it.
  params = text.substr(i);
  size_t paren = params.find('(');
  if (paren != std::string_view::npos) {
    params = params.substr(0, paren);
    has_comment = true;
  }
  bool ok = scan_params(params, true, [this](const ParamView& p) {
    if (branch.name.empty() && iequals(p.name, "branch")) branch = p;
    if (rport.name.empty() && iequals(p.name, "rport")) rport = p;
    if (received.name.empty() && iequals(p.name, "received")) received = p;
  });
  return ok ? nullptr : "bad via parameters";
}

Via ViaView::owned() const {
  Via v;
  v.transport = std::string(transport);
  for (auto& c : v.transport) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  v.host = std::string(host);
  v.port = port;
  v.params = owned_params(params, true);
  return v;
}

Result<Via> Via::parse(std::string_view text) {
  ViaView v;
  if (const char* err = v.parse(text)) return Error::invalid("via", err);
  return v.owned();
}

std::string Via::str() const {
  std::string r = "SIP/2.0/" + transport + " " + host;
  if (port) r += ":" + std::to_string(port);
  append_params(r, params);
  return r;
}

std::string Via::branch() const {
  const Param* p = find_param(params, "branch");
  return p ? p->value : std::string();
}

}  // namespace hotline::sip
