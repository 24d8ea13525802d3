// sip/message.h — SIP requests and responses (RFC 3261 §7, §20, §25).
//
// One Message owns one contiguous buffer. Parsing takes the received bytes by
// move and records every start-line field, header name, header value and the
// body as (offset, length) spans into that buffer: nothing is copied, except
// folded header values, which are unfolded once into the buffer's tail.
// Editing (add/set/remove header, set body) appends to the same buffer, so
// copies of a Message stay valid and cheap to reason about.
//
//   auto m = Message::parse(std::move(datagram));
//   if (!m) reply_400(m.error());           // errors are values, never throws
//   m->header(HeaderId::CallId);           // first value, string_view
//   m->values(HeaderId::Via);              // all values, comma lists split
//   std::string wire = m->serialize();     // Content-Length recomputed
//
// Unknown headers are kept verbatim and in order. Compact forms (i, f, t, v…)
// are recognised for lookup and kept as received on re-serialisation.
// Untrusted input never crashes the parser; callers enforce the size limit
// before parsing (the transport does).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "sip/types.h"
#include "sip/uri.h"

namespace hotline::sip {

enum class HeaderId : std::uint8_t {
  kOther,
  kVia,
  kFrom,
  kTo,
  kCallId,
  kCSeq,
  kContact,
  kMaxForwards,
  kContentLength,
  kContentType,
  kContentEncoding,
  kRoute,
  kRecordRoute,
  kExpires,
  kMinExpires,
  kAuthorization,
  kProxyAuthorization,
  kWwwAuthenticate,
  kProxyAuthenticate,
  kAuthenticationInfo,
  kRequire,
  kProxyRequire,
  kSupported,
  kUnsupported,
  kAllow,
  kAccept,
  kUserAgent,
  kServer,
  kEvent,
  kAllowEvents,
  kReferTo,
  kReferredBy,
  kSubject,
  kRetryAfter,
  kTimestamp,
  kCount
};

// Canonical (long-form) name of a known header.
std::string_view header_name(HeaderId id);
// Maps a received name (long or compact form, any case) to its id.
HeaderId header_id(std::string_view name);
// Headers whose values may be comma-joined on one line (RFC 3261 §7.3.1).
bool is_list_header(HeaderId id);

// Which response a receiver should send for a malformed request.
inline constexpr const char* kErrBadRequest = "bad_request";  // -> 400
inline constexpr const char* kErrBadVersion = "bad_version";  // -> 505

enum class Framing {
  kDatagram,  // UDP: the datagram is the message; missing Content-Length = rest.
  kStream,    // TCP/TLS: Content-Length is mandatory (§18.3).
};

struct Span {
  std::uint32_t off = 0;
  std::uint32_t len = 0;
};

class Message {
 public:
  struct Header {
    HeaderId id;
    Span name;
    Span value;
  };

  Message() = default;
  // The buffers of a Message that goes away are kept for the next ones on
  // this thread (see message_buffer()): a request and its response then
  // cost no allocation of their own.
  ~Message();
  Message(const Message&) = default;
  Message(Message&&) noexcept = default;
  Message& operator=(const Message&) = default;
  Message& operator=(Message&&) noexcept = default;
  // On failure the bytes are moved to *keep_on_error if given (for an
  // error response); otherwise they are freed.
  static common::Result<Message> parse(std::string data, Framing framing = Framing::kDatagram,
                                       std::string* keep_on_error = nullptr);
  static Message request(std::string_view method, std::string_view request_uri);
  static Message response(int status, std::string_view reason = {});

  bool is_request() const { return is_request_; }
  bool is_response() const { return !is_request_; }
  // Request: the request method. Response: the CSeq method.
  std::string_view method() const;
  std::string_view request_uri() const { return view(uri_); }
  int status() const { return status_; }
  std::string_view reason() const { return view(reason_); }

  // Headers.
  const std::vector<Header>& header_list() const { return headers_; }
  std::string_view name_of(const Header& h) const { return view(h.name); }
  std::string_view value_of(const Header& h) const { return view(h.value); }
  // First value (for list headers: the first comma-separated element is NOT
  // split off; use values() for that). Empty view when absent.
  std::string_view header(HeaderId id) const;
  std::string_view header(std::string_view name) const;
  bool has(HeaderId id) const;
  // All values in order; comma lists split for list headers.
  std::vector<std::string_view> values(HeaderId id) const;
  // values(id) without the vector: on(value) for each value (list headers
  // split at top-level commas) until on() returns false.
  template <class OnValue>
  void for_each_value(HeaderId id, OnValue&& on) const {
    bool more = true;
    for (const auto& h : headers_) {
      if (h.id != id) continue;
      if (is_list_header(id)) {
        for_each_list_item(view(h.value), [&](std::string_view v) { return more = on(v); });
      } else {
        more = on(view(h.value));
      }
      if (!more) return;
    }
  }
  std::vector<std::string_view> values(std::string_view name) const;

  void add_header(std::string_view name, std::string_view value);
  void add_header(HeaderId id, std::string_view value);
  // One header whose value is the concatenation of `parts`.
  void add_header_parts(HeaderId id, std::initializer_list<std::string_view> parts);
  void prepend_header(HeaderId id, std::string_view value);
  // Replaces all occurrences by one.
  void set_header(HeaderId id, std::string_view value);
  void set_header(std::string_view name, std::string_view value);
  void remove_header(HeaderId id);
  void remove_header(std::string_view name);
  // Removes only the first occurrence (top Via on a response).
  void remove_first(HeaderId id);
  void set_request_uri(std::string_view uri);
  void set_status(int status, std::string_view reason = {});

  std::string_view body() const { return view(body_); }
  void set_body(std::string_view content_type, std::string_view body);

  // Serialises with Content-Length recomputed (added if missing).
  std::string serialize() const;
  void serialize_to(std::string& out) const;

  // Typed accessors for the mandatory headers (validated by parse()).
  std::string_view call_id() const { return header(HeaderId::kCallId); }
  std::uint32_t cseq() const;
  std::string_view cseq_method() const;
  common::Result<Via> top_via() const;
  common::Result<NameAddr> from() const;
  common::Result<NameAddr> to() const;
  // The top Via's identifying parts without copying, for a parsed message
  // whose Via was not edited since (views into this message: do not keep
  // them across edits); nullopt otherwise (then use top_via()).
  struct ViaIds {
    std::string_view branch, host;
    std::uint16_t port = 0;
  };
  std::optional<ViaIds> via_ids() const;
  // The To URI's user and host as validation read them (views into this
  // message), for a parsed message whose To was not edited since; nullopt
  // otherwise (then parse header(HeaderId::kTo)).
  struct ToIds {
    std::string_view user, host;
    bool is_sip = false;  // sip or sips
  };
  std::optional<ToIds> to_ids() const;
  std::string from_tag() const;
  std::string to_tag() const;
  bool has_to_tag() const { return ids_.valid ? ids_.to_tag.len > 0 : !to_tag().empty(); }
  // -1 when absent or malformed.
  int max_forwards() const;
  std::optional<std::uint32_t> expires() const;

 private:
  std::string_view view(Span s) const { return std::string_view(buf_.data() + s.off, s.len); }
  Span append(std::string_view s);
  common::Status validate();
  static common::Status parse_into(Message& m, Framing framing);

  std::string buf_;
  bool is_request_ = true;
  Span method_, uri_, reason_, body_;
  int status_ = 0;
  std::vector<Header> headers_;
  // Where validate() found the tags and the top Via's parts: spans into
  // buf_ (stable across appends), so later readers need no second parse.
  // Dropped when From, To or Via is edited, or when a value needs
  // unescaping; readers then parse the header text again.
  struct Idents {
    bool valid = false;
    Span from_tag, to_tag;
    Span via_item;  // the first Via element, as received
    Span via_host, via_branch;
    std::uint16_t via_port = 0;
    bool via_has_branch = false;
    // make_response() can edit the Via text in place (no comment, no
    // received= already there); rport_end: after the bare "rport" (0: none).
    bool via_simple = false;
    std::uint32_t via_rport_end = 0;
    Span to_user, to_host;
    bool to_is_sip = false;
  };
  Idents ids_;
  // `v` must be empty or lie within buf_.
  Span span_of(std::string_view v) const {
    if (v.empty()) return Span{};
    return Span{static_cast<std::uint32_t>(v.data() - buf_.data()), static_cast<std::uint32_t>(v.size())};
  }
  void remember_idents(const NameAddrView& from, const NameAddrView& to, std::string_view via_item,
                       const ViaView& via);
  static std::string response_via(const Message& req, std::string_view top, const Peer& from);
  // response_via() for a simple top Via, appended to `r` without a
  // temporary; false (nothing added) when the Via is not simple.
  static bool add_simple_response_via(Message& r, const Message& req, const Peer& from);
  friend Message make_response(const Message& req, int status, const Peer* from, std::string_view to_tag);
  void edited(HeaderId id);
};

// Canonical reason phrase for a status code ("" if unknown).
std::string_view reason_phrase(int status);

// Builds a response to `req` (§8.2.6): Via, From, To (+ tag when the
// request had none and status > 100), Call-ID and CSeq copied. With `from`,
// the top Via gets received= and, if the client asked, rport= (RFC 3581).
Message make_response(const Message& req, int status, const Peer* from = nullptr,
                      std::string_view to_tag = {});
// An empty string with room for a typical message, from the buffers that
// Messages on this thread gave back (or newly reserved): the transport
// copies a received datagram into it before Message::parse().
std::string message_buffer();
std::string random_token(size_t hex_digits);
// Writes `hex_digits` random lower-case hex digits to `out` (not for secrets:
// tags and branches only).
void random_hex(char* out, size_t hex_digits);

// For a request that failed to parse: a best-effort error response
// (400, or 505 for kErrBadVersion) built from its raw Via/From/To/Call-ID/
// CSeq lines, or nullopt when those are not all there (then: drop it).
std::optional<std::string> error_response_for(std::string_view raw, const common::Error& parse_error);

// 0 if the Request-URI is a usable sip/sips/tel URI, else the status to
// answer with (416 unknown scheme, 400 malformed).
int request_uri_status(const Message& m);

// Stream framing for TCP/TLS: inspects the start of `buf` and reports how
// many bytes form the next message.
struct FrameResult {
  enum Kind { kNeedMore, kMessage, kKeepAlive, kError } kind;
  size_t size = 0;  // bytes to consume (message, or CRLF keep-alive run)
  std::string error;
};
FrameResult frame_stream(std::string_view buf, size_t max_message_size);

}  // namespace hotline::sip
