#include "sip/message.h"

#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <random>

namespace hotline::sip {
namespace {

using common::Error;
using common::Result;
using common::Status;

struct NameEntry {
  HeaderId id;
  std::string_view name;
  char compact;
};

constexpr std::array<NameEntry, static_cast<size_t>(HeaderId::kCount) - 1> kNames = {{
    {HeaderId::kVia, "Via", 'v'},
    {HeaderId::kFrom, "From", 'f'},
    {HeaderId::kTo, "To", 't'},
    {HeaderId::kCallId, "Call-ID", 'i'},
    {HeaderId::kCSeq, "CSeq", 0},
    {HeaderId::kContact, "Contact", 'm'},
    {HeaderId::kMaxForwards, "Max-Forwards", 0},
    {HeaderId::kContentLength, "Content-Length", 'l'},
    {HeaderId::kContentType, "Content-Type", 'c'},
    {HeaderId::kContentEncoding, "Content-Encoding", 'e'},
    {HeaderId::kRoute, "Route", 0},
    {HeaderId::kRecordRoute, "Record-Route", 0},
    {HeaderId::kExpires, "Expires", 0},
    {HeaderId::kMinExpires, "Min-Expires", 0},
    {HeaderId::kAuthorization, "Authorization", 0},
    {HeaderId::kProxyAuthorization, "Proxy-Authorization", 0},
    {HeaderId::kWwwAuthenticate, "WWW-Authenticate", 0},
    {HeaderId::kProxyAuthenticate, "Proxy-Authenticate", 0},
    {HeaderId::kAuthenticationInfo, "Authentication-Info", 0},
    {HeaderId::kRequire, "Require", 0},
    {HeaderId::kProxyRequire, "Proxy-Require", 0},
    {HeaderId::kSupported, "Supported", 'k'},
    {HeaderId::kUnsupported, "Unsupported", 0},
    {HeaderId::kAllow, "Allow", 0},
    {HeaderId::kAccept, "Accept", 0},
    {HeaderId::kUserAgent, "User-Agent", 0},
    {HeaderId::kServer, "Server", 0},
    {HeaderId::kEvent, "Event", 'o'},
    {HeaderId::kAllowEvents, "Allow-Events", 'u'},
    {HeaderId::kReferTo, "Refer-To", 'r'},
    {HeaderId::kReferredBy, "Referred-By", 'b'},
    {HeaderId::kSubject, "Subject", 's'},
    {HeaderId::kRetryAfter, "Retry-After", 0},
    {HeaderId::kTimestamp, "Timestamp", 0},
}};

constexpr auto kTokenChar = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = is_token_char(static_cast<char>(c));
  return t;
}();

bool token_char(char c) { return kTokenChar[static_cast<unsigned char>(c)]; }

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!token_char(c)) return false;
  return true;
}

// Known headers by (name length, lower-case first letter): at most a few
// candidates each, so a lookup is one or two case-insensitive compares
// instead of a walk over every known name.
constexpr size_t kMaxNameLen = 20;
constexpr size_t kSlots = 3;
struct NameIndex {
  std::array<std::array<std::array<std::uint8_t, kSlots>, 26>, kMaxNameLen + 1>
      ids{};  // index into kNames + 1
};

Error bad(std::string msg) { return Error{kErrBadRequest, std::move(msg), {}}; }

// Finds the blank line ending the header section. Returns the offset of the
// first body byte, or npos. Accepts bare LF line ends for robustness.
size_t find_header_end(std::string_view s, size_t from) {
  for (size_t i = from; i < s.size(); ++i) {
    const void* nl = std::memchr(s.data() + i, '\n', s.size() - i);
    if (!nl) return std::string_view::npos;
    i = static_cast<size_t>(static_cast<const char*>(nl) - s.data());
    if (i + 1 < s.size() && s[i + 1] == '\n') return i + 2;
    if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

// Where the lines before the blank line end (offsets of their '\n'), as
// find_header_end() finds them: the header loop then walks them without
// searching each line again. Lines beyond kMax are searched again.
struct LineEnds {
  static constexpr size_t kMax = 48;
  std::array<std::uint32_t, kMax> at;
  size_t count = 0;
};

// find_header_end() that also records the line ends it passes.
size_t find_header_end(std::string_view s, size_t from, LineEnds& ends) {
  for (size_t i = from; i < s.size(); ++i) {
    const void* nl = std::memchr(s.data() + i, '\n', s.size() - i);
    if (!nl) return std::string_view::npos;
    i = static_cast<size_t>(static_cast<const char*>(nl) - s.data());
    if (ends.count < LineEnds::kMax) ends.at[ends.count++] = static_cast<std::uint32_t>(i);
    if (i + 1 < s.size() && s[i + 1] == '\n') return i + 2;
    if (i + 2 < s.size() && s[i + 1] == '\r' && s[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

}  // namespace

std::string_view header_name(HeaderId id) {
  for (const auto& e : kNames)
    if (e.id == id) return e.name;
  return {};
}

namespace {
constexpr NameIndex kNameIndex = [] {
  NameIndex x{};
  for (size_t i = 0; i < kNames.size(); ++i) {
    const auto& e = kNames[i];
    auto& slots = x.ids[e.name.size()][static_cast<size_t>(ascii_lower(e.name[0]) - 'a')];
    size_t k = 0;
    while (slots[k] != 0) ++k;  // a fourth name of one shape fails to compile (out of range)
    slots[k] = static_cast<std::uint8_t>(i + 1);
  }
  return x;
}();
}  // namespace

HeaderId header_id(std::string_view name) {
  if (name.empty()) return HeaderId::kOther;
  char first = ascii_lower(name[0]);
  if (name.size() == 1) {
    for (const auto& e : kNames)
      if (e.compact == first) return e.id;
    return HeaderId::kOther;
  }
  if (name.size() > kMaxNameLen || first < 'a' || first > 'z') return HeaderId::kOther;
  for (std::uint8_t slot : kNameIndex.ids[name.size()][static_cast<size_t>(first - 'a')]) {
    if (slot == 0) break;
    const auto& e = kNames[slot - 1];
    if (iequals(e.name, name)) return e.id;
  }
  return HeaderId::kOther;
}

bool is_list_header(HeaderId id) {
  switch (id) {
    case HeaderId::kVia:
    case HeaderId::kContact:
    case HeaderId::kRoute:
    case HeaderId::kRecordRoute:
    case HeaderId::kRequire:
    case HeaderId::kProxyRequire:
    case HeaderId::kSupported:
    case HeaderId::kUnsupported:
    case HeaderId::kAllow:
    case HeaderId::kAccept:
    case HeaderId::kAllowEvents:
    case HeaderId::kContentEncoding:
      return true;
    default:
      return false;
  }
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Trying";
    case 180:
      return "Ringing";
    case 181:
      return "Call Is Being Forwarded";
    case 182:
      return "Queued";
    case 183:
      return "Session Progress";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 302:
      return "Moved Temporarily";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Request Entity Too Large";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Unsupported URI Scheme";
    case 420:
      return "Bad Extension";
    case 423:
      return "Interval Too Brief";
    case 480:
      return "Temporarily Unavailable";
    case 481:
      return "Call/Transaction Does Not Exist";
    case 482:
      return "Loop Detected";
    case 483:
      return "Too Many Hops";
    case 486:
      return "Busy Here";
    case 487:
      return "Request Terminated";
    case 488:
      return "Not Acceptable Here";
    case 491:
      return "Request Pending";
    case 500:
      return "Server Internal Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "Version Not Supported";
    case 513:
      return "Message Too Large";
    case 603:
      return "Decline";
    default:
      return "";
  }
}

namespace {
// Buffers of destroyed Messages, reused LIFO by the next ones on the same
// thread (the stack runs on one). Bounded in count and size: a burst of
// large messages is not kept.
struct BufferPool {
  static constexpr size_t kMax = 64;
  static constexpr size_t kMaxBytes = 8192;
  static constexpr size_t kMaxHeaders = 64;
  std::vector<std::string> strings;
  std::vector<std::vector<Message::Header>> headers;
  ~BufferPool();
};
// Set when this thread's pool is destroyed (thread exit): Messages that
// outlive it (statics, other thread_locals) then just free their buffers.
thread_local bool pool_gone = false;
BufferPool::~BufferPool() { pool_gone = true; }

BufferPool* pool() {
  if (pool_gone) return nullptr;
  thread_local BufferPool p;
  return &p;
}

void reserve_headers(std::vector<Message::Header>& h, size_t n) {
  BufferPool* p = pool();
  if (p && h.capacity() == 0 && !p->headers.empty()) {
    h = std::move(p->headers.back());
    p->headers.pop_back();
  }
  h.reserve(n);
}
}  // namespace

std::string message_buffer() {
  BufferPool* p = pool();
  if (!p || p->strings.empty()) {
    std::string s;
    s.reserve(1024);
    return s;
  }
  std::string s = std::move(p->strings.back());
  p->strings.pop_back();
  return s;
}

Message::~Message() {
  BufferPool* p = pool();
  if (!p) return;
  if (buf_.capacity() >= 256 && buf_.capacity() <= BufferPool::kMaxBytes &&
      p->strings.size() < BufferPool::kMax) {
    buf_.clear();
    p->strings.push_back(std::move(buf_));
  }
  if (headers_.capacity() >= 8 && headers_.capacity() <= BufferPool::kMaxHeaders &&
      p->headers.size() < BufferPool::kMax) {
    headers_.clear();
    p->headers.push_back(std::move(headers_));
  }
}

Span Message::append(std::string_view s) {
  Span sp{static_cast<std::uint32_t>(buf_.size()), static_cast<std::uint32_t>(s.size())};
  buf_.append(s);
  return sp;
}

Result<Message> Message::parse(std::string data, Framing framing, std::string* keep_on_error) {
  Message m;
  m.buf_ = std::move(data);
  auto st = parse_into(m, framing);
  if (!st) {
    if (keep_on_error) *keep_on_error = std::move(m.buf_);
    return st.error();
  }
  return m;
}

common::Status Message::parse_into(Message& m, Framing framing) {
  if (m.buf_.size() > 0x7fffffffu) return bad("message too large");
  std::string_view s(m.buf_);
  size_t pos = 0;
  // §7.5: ignore CRLFs before the start line.
  while (pos < s.size() && (s[pos] == '\r' || s[pos] == '\n')) ++pos;
  LineEnds ends;
  size_t body_start = find_header_end(s, pos, ends);
  if (body_start == std::string_view::npos) return bad("no end of header section");
  auto sp = [&](size_t off, size_t len) {
    return Span{static_cast<std::uint32_t>(off), static_cast<std::uint32_t>(len)};
  };
  size_t line_no = 0;
  auto next_line = [&](size_t& p, size_t& line_start, size_t& line_len) {
    line_start = p;
    size_t nl = line_no < ends.count ? ends.at[line_no] : s.find('\n', p);
    ++line_no;
    size_t end = nl;
    if (end > line_start && s[end - 1] == '\r') --end;
    line_len = end - line_start;
    p = nl + 1;
  };
  size_t ls, ll;
  next_line(pos, ls, ll);
  std::string_view start = s.substr(ls, ll);
  for (unsigned char c : start)
    if (c < 0x20 && c != '\t') return bad("control character in start line");
  if (start.size() >= 8 && start.substr(0, 4) == "SIP/") {
    m.is_request_ = false;
    size_t sp1 = start.find(' ');
    if (sp1 == std::string_view::npos) return bad("malformed status line");
    if (start.substr(0, sp1) != "SIP/2.0") return Error{kErrBadVersion, "unsupported SIP version", {}};
    std::string_view code = start.substr(sp1 + 1, 3);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (code.size() != 3 || !digit(code[0]) || !digit(code[1]) || !digit(code[2]))
      return bad("malformed status code");
    m.status_ = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    if (m.status_ < 100 || m.status_ > 699) return bad("status code out of range");
    size_t after = sp1 + 4;
    if (after < start.size()) {
      if (start[after] != ' ') return bad("malformed status line");
      m.reason_ = sp(ls + after + 1, start.size() - after - 1);
    } else {
      m.reason_ = sp(ls + start.size(), 0);
    }
  } else {
    // Request-Line = Method SP Request-URI SP SIP-Version, exactly one SP each.
    size_t sp1 = start.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : start.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || start.find(' ', sp2 + 1) != std::string_view::npos)
      return bad("malformed request line");
    std::string_view method = start.substr(0, sp1);
    std::string_view uri = start.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = start.substr(sp2 + 1);
    if (!is_token(method)) return bad("malformed method");
    if (uri.empty() || uri.find(':') == std::string_view::npos) return bad("malformed Request-URI");
    for (unsigned char c : uri)
      if (c <= 0x20 || c == '<' || c == '>' || c >= 0x7f) return bad("illegal character in Request-URI");
    // §19.1.1: headers are not allowed in a SIP Request-URI (RFC 4475 escruri).
    if ((uri.size() > 4 && iequals(uri.substr(0, 4), "sip:")) ||
        (uri.size() > 5 && iequals(uri.substr(0, 5), "sips:")))
      if (uri.find('?', uri.find('@') == std::string_view::npos ? 0 : uri.find('@')) !=
          std::string_view::npos)
        return bad("headers in Request-URI");
    if (!iequals(version, "SIP/2.0")) {
      if (version.size() > 4 && iequals(version.substr(0, 4), "SIP/"))
        return Error{kErrBadVersion, "unsupported SIP version", {}};
      return bad("malformed SIP version");
    }
    m.method_ = sp(ls, method.size());
    m.uri_ = sp(ls + sp1 + 1, uri.size());
  }
  // Header fields. The header section ends at body_start - (CRLF or LF).
  std::vector<std::pair<size_t, size_t>> folded;  // header index, end offset
  size_t header_end = body_start;
  reserve_headers(m.headers_, 16);
  while (pos < header_end) {
    next_line(pos, ls, ll);
    if (ll == 0) break;  // the blank line
    std::string_view line = s.substr(ls, ll);
    if (line[0] == ' ' || line[0] == '\t') {
      // Continuation (LWS folding): extends the previous header's value.
      if (m.headers_.empty()) return bad("continuation line before first header");
      auto& h = m.headers_.back();
      size_t end = ls + ll;
      h.value.len = static_cast<std::uint32_t>(end - h.value.off);
      if (folded.empty() || folded.back().first != m.headers_.size() - 1)
        folded.emplace_back(m.headers_.size() - 1, end);
      continue;
    }
    // One pass over the name: token characters, optional blanks, ':'.
    size_t name_len = 0;
    while (name_len < line.size() && token_char(line[name_len])) ++name_len;
    size_t colon = name_len;
    while (colon < line.size() && (line[colon] == ' ' || line[colon] == '\t')) ++colon;
    if (colon == line.size() || line[colon] != ':' || name_len == 0) {
      if (line.find(':') == std::string_view::npos) return bad("header line without colon");
      return bad("malformed header name");
    }
    std::string_view name = line.substr(0, name_len);
    size_t v = colon + 1;
    while (v < line.size() && (line[v] == ' ' || line[v] == '\t')) ++v;
    size_t ve = line.size();
    while (ve > v && (line[ve - 1] == ' ' || line[ve - 1] == '\t')) --ve;
    m.headers_.push_back(Header{header_id(name), sp(ls, name.size()), sp(ls + v, ve - v)});
  }
  // Unfold: replace each CRLF + whitespace run with a single SP (§7.3.1).
  for (auto& [idx, end] : folded) {
    (void)end;
    auto& h = m.headers_[idx];
    std::string unfolded;
    std::string_view raw = m.view(h.value);
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (c == '\r' || c == '\n') {
        while (i + 1 < raw.size() &&
               (raw[i + 1] == '\r' || raw[i + 1] == '\n' || raw[i + 1] == ' ' || raw[i + 1] == '\t'))
          ++i;
        while (!unfolded.empty() && (unfolded.back() == ' ' || unfolded.back() == '\t')) unfolded.pop_back();
        unfolded.push_back(' ');
      } else {
        unfolded.push_back(c);
      }
    }
    h.value = m.append(trim(unfolded));
  }
  // Body and Content-Length.
  size_t available = s.size() - body_start;
  std::optional<std::uint64_t> cl;
  for (const auto& h : m.headers_) {
    if (h.id != HeaderId::kContentLength) continue;
    std::uint64_t v;
    if (!parse_uint(m.view(h.value), v, 0x7fffffff)) return bad("malformed Content-Length");
    if (cl && *cl != v) return bad("conflicting Content-Length headers");
    cl = v;
  }
  if (cl) {
    if (*cl > available) return bad("Content-Length larger than the message");
    m.body_ = sp(body_start, *cl);  // extra bytes in a datagram are discarded (§18.3)
  } else {
    if (framing == Framing::kStream) return bad("missing Content-Length on a stream transport");
    m.body_ = sp(body_start, available);
  }
  auto st = m.validate();
  if (!st) return st.error();
  return common::ok_status();
}

Status Message::validate() {
  // Mandatory headers (§8.1.1): To, From, CSeq, Call-ID, Via.
  size_t to = 0, from = 0, cseq = 0, callid = 0, via = 0;
  for (const auto& h : headers_) {
    switch (h.id) {
      case HeaderId::kTo:
        ++to;
        break;
      case HeaderId::kFrom:
        ++from;
        break;
      case HeaderId::kCSeq:
        ++cseq;
        break;
      case HeaderId::kCallId:
        ++callid;
        break;
      case HeaderId::kVia:
        ++via;
        break;
      default:
        break;
    }
  }
  if (to != 1 || from != 1 || cseq != 1 || callid != 1)
    return bad("missing or repeated To/From/CSeq/Call-ID");
  if (via == 0) return bad("missing Via");
  if (call_id().empty()) return bad("empty Call-ID");
  // CSeq = 1*DIGIT LWS Method; the number is < 2**31 (§8.1.1.5).
  std::string_view cs = header(HeaderId::kCSeq);
  size_t sp = cs.find_first_of(" \t");
  if (sp == std::string_view::npos) return bad("malformed CSeq");
  std::uint64_t n;
  if (!parse_uint(cs.substr(0, sp), n, 0x7fffffff)) return bad("malformed CSeq number");
  std::string_view cm = trim(cs.substr(sp));
  if (!is_token(cm)) return bad("malformed CSeq method");
  if (is_request_ && cm != view(method_)) return bad("CSeq method does not match the request method");
  if (has(HeaderId::kMaxForwards)) {
    std::uint64_t mf;
    if (!parse_uint(header(HeaderId::kMaxForwards), mf, 255)) return bad("malformed Max-Forwards");
  }
  NameAddrView f, t;
  if (const char* err = f.parse(header(HeaderId::kFrom))) return bad(std::string("malformed From: ") + err);
  if (const char* err = t.parse(header(HeaderId::kTo))) return bad(std::string("malformed To: ") + err);
  std::string_view via_item;
  for (const auto& h : headers_)
    if (h.id == HeaderId::kVia) {
      via_item = first_list_item(view(h.value));
      break;
    }
  if (via_item.empty()) return bad("malformed Via: empty Via");
  ViaView v;
  if (const char* err = v.parse(via_item)) return bad(std::string("malformed Via: ") + err);
  remember_idents(f, t, via_item, v);
  if (has(HeaderId::kExpires)) {
    // Values above 2**32-1 are legal and mean "very long"; only syntax matters.
    std::string_view e = trim(header(HeaderId::kExpires));
    if (e.empty()) return bad("malformed Expires");
    for (char c : e)
      if (c < '0' || c > '9') return bad("malformed Expires");
  }
  std::string_view ct = header(HeaderId::kContentType);
  if (has(HeaderId::kContentType) && (ct.find('/') == std::string_view::npos))
    return bad("malformed Content-Type");
  return common::ok_status();
}

void Message::remember_idents(const NameAddrView& from, const NameAddrView& to, std::string_view via_item,
                              const ViaView& via) {
  ids_ = Idents{};
  // Escaped (quoted-pair) values differ from their text: leave those to a
  // full parse on demand.
  if (from.tag.escaped || to.tag.escaped || via.branch.escaped) return;
  ids_.from_tag = span_of(from.tag.value);
  ids_.to_tag = span_of(to.tag.value);
  ids_.via_item = span_of(via_item);
  ids_.via_host = span_of(via.host);
  ids_.via_port = via.port;
  ids_.via_has_branch = !via.branch.name.empty();
  ids_.via_branch = span_of(via.branch.value);
  ids_.via_simple = !via.has_comment && via.received.name.empty() && !via.rport.has_value;
  ids_.to_user = span_of(to.uri.user);
  ids_.to_host = span_of(to.uri.host);
  ids_.to_is_sip = to.uri.is_sip && !to.wildcard;
  if (!via.rport.name.empty() && !via.rport.has_value)
    ids_.via_rport_end = span_of(via.rport.name).off + static_cast<std::uint32_t>(via.rport.name.size());
  ids_.valid = true;
}

Message Message::request(std::string_view method, std::string_view request_uri) {
  Message m;
  m.is_request_ = true;
  m.buf_ = message_buffer();
  reserve_headers(m.headers_, 12);
  m.method_ = m.append(method);
  m.uri_ = m.append(request_uri);
  return m;
}

Message Message::response(int status, std::string_view reason) {
  Message m;
  m.is_request_ = false;
  m.buf_ = message_buffer();
  reserve_headers(m.headers_, 12);
  m.status_ = status;
  m.reason_ = m.append(reason.empty() ? reason_phrase(status) : reason);
  return m;
}

std::string_view Message::method() const { return is_request_ ? view(method_) : cseq_method(); }

std::string_view Message::header(HeaderId id) const {
  for (const auto& h : headers_)
    if (h.id == id) return view(h.value);
  return {};
}

std::string_view Message::header(std::string_view name) const {
  HeaderId id = header_id(name);
  if (id != HeaderId::kOther) return header(id);
  for (const auto& h : headers_)
    if (h.id == HeaderId::kOther && iequals(view(h.name), name)) return view(h.value);
  return {};
}

bool Message::has(HeaderId id) const {
  for (const auto& h : headers_)
    if (h.id == id) return true;
  return false;
}

std::vector<std::string_view> Message::values(HeaderId id) const {
  std::vector<std::string_view> out;
  for (const auto& h : headers_) {
    if (h.id != id) continue;
    if (is_list_header(id)) {
      for_each_list_item(view(h.value), [&](std::string_view part) {
        out.push_back(part);
        return true;
      });
    } else {
      out.push_back(view(h.value));
    }
  }
  return out;
}

std::vector<std::string_view> Message::values(std::string_view name) const {
  HeaderId id = header_id(name);
  if (id != HeaderId::kOther) return values(id);
  std::vector<std::string_view> out;
  for (const auto& h : headers_)
    if (h.id == HeaderId::kOther && iequals(view(h.name), name)) out.push_back(view(h.value));
  return out;
}

void Message::add_header(std::string_view name, std::string_view value) {
  Span n = append(name);
  Span v = append(value);
  HeaderId id = header_id(name);
  edited(id);
  headers_.push_back(Header{id, n, v});
}

void Message::add_header_parts(HeaderId id, std::initializer_list<std::string_view> parts) {
  Span n = append(header_name(id));
  Span v{static_cast<std::uint32_t>(buf_.size()), 0};
  for (auto p : parts) buf_.append(p);
  v.len = static_cast<std::uint32_t>(buf_.size() - v.off);
  edited(id);
  headers_.push_back(Header{id, n, v});
}

void Message::add_header(HeaderId id, std::string_view value) {
  Span n = append(header_name(id));
  Span v = append(value);
  edited(id);
  headers_.push_back(Header{id, n, v});
}

void Message::prepend_header(HeaderId id, std::string_view value) {
  Span n = append(header_name(id));
  Span v = append(value);
  edited(id);
  headers_.insert(headers_.begin(), Header{id, n, v});
}

void Message::set_header(HeaderId id, std::string_view value) {
  edited(id);
  for (size_t i = 0; i < headers_.size(); ++i) {
    if (headers_[i].id != id) continue;
    headers_[i].value = append(value);
    for (size_t j = headers_.size(); j-- > i + 1;)
      if (headers_[j].id == id) headers_.erase(headers_.begin() + static_cast<long>(j));
    return;
  }
  add_header(header_name(id), value);
}

void Message::set_header(std::string_view name, std::string_view value) {
  HeaderId id = header_id(name);
  if (id != HeaderId::kOther) return set_header(id, value);
  remove_header(name);
  add_header(name, value);
}

void Message::remove_header(HeaderId id) {
  edited(id);
  std::erase_if(headers_, [id](const Header& h) { return h.id == id; });
}

void Message::remove_header(std::string_view name) {
  HeaderId id = header_id(name);
  if (id != HeaderId::kOther) return remove_header(id);
  std::erase_if(headers_,
                [&](const Header& h) { return h.id == HeaderId::kOther && iequals(view(h.name), name); });
}

void Message::remove_first(HeaderId id) {
  edited(id);
  for (auto it = headers_.begin(); it != headers_.end(); ++it) {
    if (it->id != id) continue;
    std::string_view v = view(it->value);
    auto parts = split_list(v);
    if (is_list_header(id) && parts.size() > 1) {
      // Comma-joined: drop only the first element.
      size_t rest = static_cast<size_t>(parts[1].data() - v.data());
      it->value.off += static_cast<std::uint32_t>(rest);
      it->value.len -= static_cast<std::uint32_t>(rest);
    } else {
      headers_.erase(it);
    }
    return;
  }
}

void Message::set_request_uri(std::string_view uri) { uri_ = append(uri); }

void Message::set_status(int status, std::string_view reason) {
  status_ = status;
  reason_ = append(reason.empty() ? reason_phrase(status) : reason);
}

void Message::set_body(std::string_view content_type, std::string_view body) {
  if (content_type.empty()) {
    remove_header(HeaderId::kContentType);
  } else {
    set_header(HeaderId::kContentType, content_type);
  }
  body_ = append(body);
}

std::string Message::serialize() const {
  std::string out;
  serialize_to(out);
  return out;
}

void Message::serialize_to(std::string& out) const {
  out.reserve(out.size() + buf_.size() + 64);
  if (is_request_) {
    out.append(view(method_));
    out.push_back(' ');
    out.append(view(uri_));
    out.append(" SIP/2.0\r\n");
  } else {
    out.append("SIP/2.0 ");
    char code[4] = {static_cast<char>('0' + status_ / 100), static_cast<char>('0' + status_ / 10 % 10),
                    static_cast<char>('0' + status_ % 10), ' '};
    out.append(code, 4);
    out.append(view(reason_));
    out.append("\r\n");
  }
  for (const auto& h : headers_) {
    if (h.id == HeaderId::kContentLength) continue;
    out.append(view(h.name));
    out.append(": ");
    out.append(view(h.value));
    out.append("\r\n");
  }
  out.append("Content-Length: ");
  out.append(std::to_string(body_.len));
  out.append("\r\n\r\n");
  out.append(view(body_));
}

std::uint32_t Message::cseq() const {
  std::uint64_t n = 0;
  std::string_view cs = header(HeaderId::kCSeq);
  size_t sp = cs.find_first_of(" \t");
  if (sp != std::string_view::npos) (void)parse_uint(cs.substr(0, sp), n, 0xffffffffu);
  return static_cast<std::uint32_t>(n);
}

std::string_view Message::cseq_method() const {
  std::string_view cs = header(HeaderId::kCSeq);
  size_t sp = cs.find_first_of(" \t");
  return sp == std::string_view::npos ? std::string_view() : trim(cs.substr(sp));
}

Result<Via> Message::top_via() const {
  for (const auto& h : headers_) {
    if (h.id != HeaderId::kVia) continue;
    std::string_view first = first_list_item(view(h.value));
    if (first.empty()) return Error::invalid("via", "empty Via");
    return Via::parse(first);
  }
  return Error::invalid("via", "no Via");
}

std::optional<Message::ViaIds> Message::via_ids() const {
  if (!ids_.valid) return std::nullopt;
  return ViaIds{view(ids_.via_branch), view(ids_.via_host), ids_.via_port};
}

Result<NameAddr> Message::from() const { return NameAddr::parse(header(HeaderId::kFrom)); }
Result<NameAddr> Message::to() const { return NameAddr::parse(header(HeaderId::kTo)); }

std::string Message::from_tag() const {
  if (ids_.valid) return std::string(view(ids_.from_tag));
  auto f = this->from();
  return f ? f->tag() : std::string();
}

std::string Message::to_tag() const {
  if (ids_.valid) return std::string(view(ids_.to_tag));
  auto t = to();
  return t ? t->tag() : std::string();
}

std::optional<Message::ToIds> Message::to_ids() const {
  if (!ids_.valid) return std::nullopt;
  return ToIds{view(ids_.to_user), view(ids_.to_host), ids_.to_is_sip};
}

void Message::edited(HeaderId id) {
  if (id == HeaderId::kFrom || id == HeaderId::kTo || id == HeaderId::kVia) ids_.valid = false;
}

int Message::max_forwards() const {
  std::uint64_t v;
  if (!has(HeaderId::kMaxForwards) || !parse_uint(header(HeaderId::kMaxForwards), v, 255)) return -1;
  return static_cast<int>(v);
}

std::optional<std::uint32_t> Message::expires() const {
  if (!has(HeaderId::kExpires)) return std::nullopt;
  std::string_view e = trim(header(HeaderId::kExpires));
  std::uint64_t v = 0;
  for (char c : e) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
    if (v > 0xffffffffu) v = 0xffffffffu;  // saturate: huge values are legal
  }
  return static_cast<std::uint32_t>(v);
}

void random_hex(char* out, size_t hex_digits) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* d = "0123456789abcdef";
  std::uint64_t v = 0;
  for (size_t i = 0; i < hex_digits; ++i) {
    if (i % 16 == 0) v = rng();
    out[i] = d[v & 15];
    v >>= 4;
  }
}

std::string random_token(size_t hex_digits) {
  std::string s(hex_digits, '0');
  random_hex(s.data(), hex_digits);
  return s;
}

// The top Via of a response with received= and, if the client asked,
// rport= (RFC 3261 §18.2.1, RFC 3581). The text is edited in place when the
// parse left it simple; otherwise it is re-serialised from a full parse.
std::string Message::response_via(const Message& req, std::string_view top, const Peer& from) {
  const auto& ids = req.ids_;
  if (ids.valid && ids.via_simple) {
    std::string_view item = req.view(ids.via_item);
    std::string out;
    out.reserve(item.size() + from.ip.size() + 24);
    size_t rport_at = ids.via_rport_end ? ids.via_rport_end - ids.via_item.off : item.size();
    out.append(item.substr(0, rport_at));
    if (ids.via_rport_end) {
      out.push_back('=');
      out.append(std::to_string(from.port));
      out.append(item.substr(rport_at));
    }
    if (req.view(ids.via_host) != from.ip) {
      out.append(";received=");
      out.append(from.ip);
    }
    return out;
  }
  auto via = Via::parse(top);
  if (!via) return std::string(top);
  if (via->host != from.ip) set_param(via->params, "received", from.ip);
  if (const Param* rp = find_param(via->params, "rport"); rp && !rp->has_value)
    set_param(via->params, "rport", std::to_string(from.port));
  return via->str();
}

bool Message::add_simple_response_via(Message& r, const Message& req, const Peer& from) {
  const auto& ids = req.ids_;
  if (!ids.valid || !ids.via_simple) return false;
  // The received Via with rport's value and received= edited in, written
  // straight into the response's buffer (as response_via() would build it).
  std::string_view item = req.view(ids.via_item);
  size_t rport_at = ids.via_rport_end ? ids.via_rport_end - ids.via_item.off : item.size();
  char port[8];
  std::string_view port_text;
  if (ids.via_rport_end) {
    port[0] = '=';
    port_text = std::string_view(port, std::to_chars(port + 1, port + sizeof port, from.port).ptr - port);
  }
  bool received = req.view(ids.via_host) != from.ip;
  r.add_header_parts(HeaderId::kVia, {item.substr(0, rport_at), port_text, item.substr(rport_at),
                                      received ? ";received=" : "", received ? from.ip : ""});
  return true;
}

Message make_response(const Message& req, int status, const Peer* from, std::string_view to_tag) {
  Message r = Message::response(status);
  bool first = true;
  req.for_each_value(HeaderId::kVia, [&](std::string_view v) {
    if (first && from) {
      if (!Message::add_simple_response_via(r, req, *from))
        r.add_header(HeaderId::kVia, Message::response_via(req, v, *from));
    } else {
      r.add_header(HeaderId::kVia, v);
    }
    first = false;
    return true;
  });
  r.add_header(HeaderId::kFrom, req.header(HeaderId::kFrom));
  std::string_view to = req.header(HeaderId::kTo);
  if (status > 100 && !req.has_to_tag()) {
    // The tag goes straight into the message buffer: no temporary strings.
    char tag[12];
    if (to_tag.empty()) {
      random_hex(tag, sizeof tag);
      to_tag = std::string_view(tag, sizeof tag);
    }
    r.add_header_parts(HeaderId::kTo, {to, ";tag=", to_tag});
  } else {
    r.add_header(HeaderId::kTo, to);
  }
  r.add_header(HeaderId::kCallId, req.call_id());
  r.add_header(HeaderId::kCSeq, req.header(HeaderId::kCSeq));
  return r;
}

std::optional<std::string> error_response_for(std::string_view raw, const common::Error& parse_error) {
  size_t pos = 0;
  while (pos < raw.size() && (raw[pos] == '\r' || raw[pos] == '\n')) ++pos;
  raw = raw.substr(pos);
  if (raw.substr(0, 4) == "SIP/") return std::nullopt;  // never answer a response
  size_t end = find_header_end(raw, 0);
  std::string_view head =
      raw.substr(0, end == std::string_view::npos ? std::min<size_t>(raw.size(), 8192) : end);
  std::string via, from, to, call_id, cseq;
  size_t p = head.find('\n');
  while (p != std::string_view::npos && p + 1 < head.size()) {
    size_t nl = head.find('\n', p + 1);
    std::string_view line = head.substr(p + 1, (nl == std::string_view::npos ? head.size() : nl) - p - 1);
    p = nl;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.empty() || line[0] == ' ' || line[0] == '\t') continue;
    std::string_view value = trim(line.substr(colon + 1));
    bool clean = true;
    for (char c : value)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') clean = false;
    if (!clean || value.size() > 1024) continue;
    switch (header_id(trim(line.substr(0, colon)))) {
      case HeaderId::kVia:
        via += "Via: " + std::string(value) + "\r\n";
        break;
      case HeaderId::kFrom:
        if (from.empty()) from = value;
        break;
      case HeaderId::kTo:
        if (to.empty()) to = value;
        break;
      case HeaderId::kCallId:
        if (call_id.empty()) call_id = value;
        break;
      case HeaderId::kCSeq:
        if (cseq.empty()) cseq = value;
        break;
      default:
        break;
    }
  }
  if (via.empty() || from.empty() || to.empty() || call_id.empty() || cseq.empty()) return std::nullopt;
  int status = parse_error.code == kErrBadVersion ? 505 : 400;
  std::string r =
      "SIP/2.0 " + std::to_string(status) + " " + std::string(reason_phrase(status)) + "\r\n" + via;
  r += "From: " + from + "\r\n";
  r += "To: " + to + (to.find(";tag=") == std::string::npos ? ";tag=" + random_token(12) : std::string()) +
       "\r\n";
  r += "Call-ID: " + call_id + "\r\nCSeq: " + cseq + "\r\n";
  if (status == 400) {
    // The reason for the rejection helps the sender's developer; keep it short.
    std::string why = parse_error.message.substr(0, 80);
    for (auto& c : why)
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = ' ';
    r += "Warning: 399 hotline \"" + why + "\"\r\n";
  }
  r += "Content-Length: 0\r\n\r\n";
  return r;
}

int request_uri_status(const Message& m) {
  // Most requests a server gets repeat one Request-URI (every REGISTER
  // names the registrar's domain, pings name the server): the last one that
  // passed is remembered per thread, and a repeat costs a compare instead
  // of a parse. The answer depends on the text alone.
  constexpr size_t kRemembered = 128;
  thread_local std::array<char, kRemembered> last_ok;
  thread_local size_t last_ok_len = 0;
  std::string_view uri = m.request_uri();
  if (last_ok_len != 0 && uri == std::string_view(last_ok.data(), last_ok_len)) return 0;
  UriView u;  // validation only: no owned copy
  if (u.parse(uri)) return 400;
  if (!u.opaque.empty()) return 416;
  if (uri.size() <= kRemembered) {
    std::memcpy(last_ok.data(), uri.data(), uri.size());
    last_ok_len = uri.size();
  }
  return 0;
}

FrameResult frame_stream(std::string_view buf, size_t max_message_size) {
  size_t crlf = 0;
  while (crlf < buf.size() && (buf[crlf] == '\r' || buf[crlf] == '\n')) ++crlf;
  if (crlf > 0) return FrameResult{FrameResult::kKeepAlive, crlf, {}};
  size_t body_start = find_header_end(buf, 0);
  if (body_start == std::string_view::npos) {
    if (buf.size() > max_message_size) return FrameResult{FrameResult::kError, 0, "header section too large"};
    return FrameResult{FrameResult::kNeedMore, 0, {}};
  }
  // Find Content-Length (or compact 'l') in the header section.
  std::string_view head = buf.substr(0, body_start);
  std::optional<std::uint64_t> cl;
  size_t p = 0;
  while (p < head.size()) {
    size_t nl = head.find('\n', p);
    if (nl == std::string_view::npos) break;
    std::string_view line = head.substr(p, nl - p);
    p = nl + 1;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon));
    if (iequals(name, "Content-Length") || iequals(name, "l")) {
      std::uint64_t v;
      if (!parse_uint(line.substr(colon + 1), v, 0x7fffffff))
        return FrameResult{FrameResult::kError, 0, "malformed Content-Length"};
      cl = v;
    }
  }
  if (!cl) return FrameResult{FrameResult::kError, 0, "missing Content-Length on a stream"};
  size_t total = body_start + *cl;
  if (total > max_message_size) return FrameResult{FrameResult::kError, 0, "message too large"};
  if (buf.size() < total) return FrameResult{FrameResult::kNeedMore, 0, {}};
  return FrameResult{FrameResult::kMessage, total, {}};
}

}  // namespace hotline::sip
