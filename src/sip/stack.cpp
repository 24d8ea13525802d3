#include "sip/stack.h"

namespace hotline::sip {

namespace asio = boost::asio;

namespace {
// RFC 3261 §25.1 quoted-string: escape '"' and '\\', drop control characters
// (a caller name comes from a carrier or the CRM, never trusted).
std::string quote_display_name(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

constexpr const char* kAllow =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, REFER, NOTIFY, MESSAGE";

bool is_known_method(std::string_view m) {
  for (const char* k : {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "REFER",
                        "NOTIFY", "MESSAGE", "SUBSCRIBE", "PUBLISH", "PRACK"})
    if (m == k) return true;
  return false;
}
}  // namespace

Stack::Stack(asio::io_context& io, StackConfig config, CredentialStore& credentials, common::Clock& clock)
    : io_(io),
      config_(std::move(config)),
      clock_(clock),
      transports_(io, config_.transport, [this](std::string d, const Peer& p) { on_wire(std::move(d), p); }),
      txns_(config_.timers,
            TransactionLayer::Callbacks{
                [this](const Peer& p, const std::string& w) { send_wire(p, w); },
                [this](ServerTxnId id, const Message& m, const Peer& p) { on_request(id, m, p); },
                [this](const Message& m, const Peer& p) { on_ack(m, p); },
                [this](ServerTxnId id) {
                  auto it = txn_dialogs_.find(id);
                  if (it != txn_dialogs_.end()) {
                    if (Dialog* d = dialogs_.find(it->second); d && d->state == DialogState::kEarly)
                      terminate(*d, "cancelled");
                    txn_dialogs_.erase(it);
                  }
                  txn_tags_.erase(id);
                  if (handler_) handler_->on_cancelled(id);
                },
                [this](ServerTxnId id, const Message&) {
                  // §13.3.1.4: no ACK for our 2xx -> the session ends with BYE.
                  auto it = txn_dialogs_.find(id);
                  if (it == txn_dialogs_.end()) return;
                  std::string key = it->second;
                  txn_dialogs_.erase(it);
                  if (Dialog* d = dialogs_.find(key)) {
                    if (d->state == DialogState::kConfirmed && d->remote_invite_pending) {
                      d->remote_invite_pending = false;
                      return;  // a re-INVITE without ACK: keep the call
                    }
                    Message bye = d->make_request("BYE");
                    add_via(bye, d->peer);
                    txns_.send_request(std::move(bye), d->peer, nullptr, clock_.now());
                    d->apply(DialogEvent::kNoAck);
                    terminate(*d, "no ack");
                  }
                },
                [this](const Message& m, const Peer& p) {
                  // A 2xx retransmission after our INVITE transaction ended:
                  // re-send the ACK (§13.2.2.4).
                  if (m.status() >= 200 && m.status() < 300 && m.cseq_method() == "INVITE") {
                    if (Dialog* d = dialogs_.find_for_response(m)) send_ack(*d, m.cseq());
                  }
                  (void)p;
                }}),
      registrar_(config_.registrar, credentials, clock_),
      // The registrar calls this only while it is alive, i.e. while we are
      // (it is our member); one object for every REGISTER.
      register_responder_([this](const Peer& to, Message r) { reply_stateless(to, std::move(r)); }),
      guard_(config_.guard),
      dialogs_(config_.max_dialogs),
      timer_(io),
      housekeeping_timer_(io) {
  txns_.set_limit(config_.max_transactions);
  if (!config_.advertised_address.empty()) transports_.set_advertised_address(config_.advertised_address);
  registrar_.set_auth_observer(
      [this](const Peer& p, bool ok) { guard_.auth_result(p.ip, ok, clock_.now()); });
  transports_.set_on_flow_closed([this](std::uint64_t flow) {
    // A registered device whose connection dropped cannot be reached.
    for (const auto& b : registrar_.all())
      if (b.flow.flow == flow) registrar_.set_reachable(b.aor, b.contact, false);
  });
}

Stack::~Stack() {
  *alive_ = false;
  stop();
}

common::Status Stack::start() {
  for (const auto& l : config_.listen) {
    auto st = transports_.listen(l);
    if (!st) {
      transports_.stop();
      return st;
    }
  }
  running_ = true;
  housekeeping();
  return common::ok_status();
}

void Stack::stop() {
  running_ = false;
  timer_.cancel();
  housekeeping_timer_.cancel();
  transports_.stop();
}

void Stack::send_wire(const Peer& to, std::string_view wire) {
  ++stats_.sent;
  transports_.send_view(to, wire);
}

void Stack::send_wire(const Peer& to, std::string&& wire) {
  ++stats_.sent;
  transports_.send(to, std::move(wire));
}

void Stack::rearm() {
  auto next = txns_.next_deadline();
  if (!next) return;
  if (armed_for_ && *armed_for_ <= *next) return;
  armed_for_ = *next;
  auto wait = *next - clock_.now();
  if (wait < std::chrono::steady_clock::duration::zero()) wait = {};
  timer_.expires_after(wait);
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec == asio::error::operation_aborted) return;
    armed_for_.reset();
    txns_.tick(clock_.now());
    rearm();
  });
}

void Stack::housekeeping() {
  if (!running_) return;
  registrar_.expire();
  transports_.reap_idle();
  auto now = clock_.now();
  if (guard_.tracked() > 0) guard_.purge(now);
  if (config_.qualify_interval.count() > 0 && now - last_qualify_ >= config_.qualify_interval) {
    last_qualify_ = now;
    qualify();
  }
  housekeeping_timer_.expires_after(std::chrono::seconds(1));
  std::weak_ptr<bool> alive = alive_;
  housekeeping_timer_.async_wait([this, alive](const boost::system::error_code& ec) {
    if (alive.expired() || ec) return;
    housekeeping();
  });
  rearm();
}

void Stack::qualify() {
  for (const auto& b : registrar_.all()) {
    std::string key = b.aor + "|" + b.contact;
    if (qualify_pending_.count(key)) continue;
    qualify_pending_[key] = true;
    Message m = Message::request("OPTIONS", b.contact);
    m.add_header(HeaderId::kMaxForwards, "70");
    std::string domain = b.aor.substr(b.aor.find('@') + 1);
    m.add_header(HeaderId::kFrom, "<sip:qualify@" + domain + ">;tag=" + random_token(12));
    m.add_header(HeaderId::kTo, "<sip:" + b.aor + ">");
    m.add_header(HeaderId::kCallId, random_token(20) + "@hotline");
    m.add_header(HeaderId::kCSeq, "1 OPTIONS");
    m.add_header(HeaderId::kUserAgent, config_.user_agent);
    std::weak_ptr<bool> alive = alive_;
    send_request(std::move(m), b.flow, [this, alive, b, key](const ClientResult& r) {
      if (alive.expired()) return;
      if (r.kind == ClientResult::kResponse && r.response->status() < 200) return;
      qualify_pending_.erase(key);
      // Any final response means the device is alive (even 405/481).
      registrar_.set_reachable(b.aor, b.contact, r.kind == ClientResult::kResponse);
    });
  }
}

void Stack::add_via(Message& m, const Peer& to) const {
  ListenAddress local = transports_.local_for(to.transport, to.ip.find(':') != std::string::npos);
  std::string host = local.address.find(':') != std::string::npos ? "[" + local.address + "]" : local.address;
  m.prepend_header(HeaderId::kVia, std::string("SIP/2.0/") + transport_name(to.transport) + " " + host + ":" +
                                       std::to_string(local.port) +
                                       ";rport;branch=" + TransactionLayer::new_branch());
}

std::string Stack::local_contact(const Peer& p, std::string_view user) const {
  ListenAddress local = transports_.local_for(p.transport, p.ip.find(':') != std::string::npos);
  std::string host = local.address.find(':') != std::string::npos ? "[" + local.address + "]" : local.address;
  std::string c = "sip:" + std::string(user) + "@" + host + ":" + std::to_string(local.port);
  if (p.transport == Transport::kTcp) c += ";transport=tcp";
  if (p.transport == Transport::kTls) c += ";transport=tls";
  return c;
}

void Stack::on_wire(std::string data, const Peer& from) {
  ++stats_.received;
  auto now = clock_.now();
  if (guard_.banned(from.ip, now)) {
    ++stats_.dropped;
    return;
  }
  std::string raw;  // filled only when parsing fails
  auto m = Message::parse(std::move(data),
                          is_reliable(from.transport) ? Framing::kStream : Framing::kDatagram, &raw);
  if (!m) {
    ++stats_.parse_errors;
    // RFC 4475: malformed requests get 400 (505 for a bad version) when the
    // headers a response needs are there; anything else is dropped. The
    // answer is no larger than the request and rate-limited like any other
    // traffic, so this is no amplifier.
    if (guard_.admit_source(from.ip, now) != Guard::Verdict::kAllow) return;
    if (auto r = error_response_for(raw, m.error())) send_wire(from, *r);
    return;
  }
  if (m->is_request()) {
    if (guard_.admit(*m, from.ip, now) != Guard::Verdict::kAllow) {
      ++stats_.dropped;
      return;
    }
  }
  if (m->is_request()) {
    std::string_view method = m->method();
    if (method == "REGISTER") return register_stateless(*m, from);
    if (method == "OPTIONS" && !m->has_to_tag()) return options_stateless(*m, from);
  }
  txns_.receive(std::move(*m), from, now);
  rearm();
}

// REGISTER needs no transaction state: a challenge is stateless by design
// (digest.h) and the registrar treats a retransmitted authenticated REGISTER
// (same Call-ID and CSeq) idempotently. Skipping the 64*T1 Completed state
// keeps memory flat at thousands of registrations per second.
namespace {
// A 420's Unsupported header: every option the request Required (§8.2.2.3:
// we support none a peer can require).
void add_unsupported(Message& r, const std::vector<std::string_view>& required) {
  std::string unsupported;
  for (auto o : required) unsupported += (unsupported.empty() ? "" : ", ") + std::string(o);
  r.add_header(HeaderId::kUnsupported, unsupported);
}
}  // namespace

void Stack::register_stateless(const Message& req, const Peer& from) {
  if (rejected_stateless(req, from)) return;
  if (req.has_to_tag()) return reply_stateless(from, make_response(req, 481, &from));
  registrar_.handle(req, from, register_responder_);
}

// Out-of-dialog OPTIONS (keep-alive pings from trunks, proxies and
// monitoring) is answered without transaction state (RFC 3261 §8.2.7): the
// answer has no side effect, so a retransmission is simply answered again,
// and a ping flood no longer parks a completed transaction (about 1.2 KB)
// for 64*T1 per request.
void Stack::options_stateless(const Message& req, const Peer& from) {
  if (rejected_stateless(req, from)) return;
  Message r = make_response(req, 200, &from);
  add_capabilities(r);
  reply_stateless(from, std::move(r));
}

bool Stack::rejected_stateless(const Message& req, const Peer& from) {
  if (int st = request_uri_status(req); st != 0) {
    reply_stateless(from, make_response(req, st, &from));
    return true;
  }
  if (!req.has(HeaderId::kRequire)) return false;
  auto require = req.values(HeaderId::kRequire);
  if (require.empty()) return false;
  Message r = make_response(req, 420, &from);
  add_unsupported(r, require);
  reply_stateless(from, std::move(r));
  return true;
}

void Stack::reply_stateless(const Peer& to, Message response) {
  response.add_header(HeaderId::kServer, config_.user_agent);
  // Serialised into a buffer kept across responses; the transport copies
  // the bytes where they must wait (the UDP batch's send buffer).
  wire_scratch_.clear();
  response.serialize_to(wire_scratch_);
  send_wire(to, std::string_view(wire_scratch_));
}

std::string Stack::tag_for(ServerTxnId id) {
  auto it = txn_tags_.find(id);
  if (it != txn_tags_.end()) return it->second;
  std::string t = random_token(16);
  txn_tags_[id] = t;
  return t;
}

Message Stack::response_for(ServerTxnId id, int status) const {
  const Transaction* t = const_cast<TransactionLayer&>(txns_).server(id);
  if (!t) return Message::response(status);
  auto it = txn_tags_.find(id);
  return make_response(t->request(), status, &t->peer(),
                       it == txn_tags_.end() ? std::string_view() : it->second);
}

void Stack::respond(ServerTxnId id, Message response) {
  if (response.status() >= 200) {
    auto it = txn_dialogs_.find(id);
    if (it != txn_dialogs_.end()) {
      Dialog* d = dialogs_.find(it->second);
      const Transaction* t = txns_.server(id);
      bool reinvite = t && !t->request().to_tag().empty();
      if (d && reinvite) {
        d->remote_invite_pending = false;
        if (response.status() < 300) d->refresh_target(t->request());
      } else if (d && response.status() >= 300) {
        d->apply(DialogEvent::kFailure);
        terminate(*d, "rejected");
      }
      if (response.status() >= 300 || !t || t->request().method() != "INVITE") txn_dialogs_.erase(it);
    }
    if (response.status() >= 300) txn_tags_.erase(id);
  }
  if (!response.has(HeaderId::kServer)) response.add_header(HeaderId::kServer, config_.user_agent);
  txns_.respond(id, std::move(response), clock_.now());
  rearm();
}

Dialog* Stack::answer(ServerTxnId id, int status, std::string_view sdp) {
  const Transaction* t = txns_.server(id);
  if (!t || status <= 100 || status >= 300) return nullptr;
  const Message& req = t->request();
  Dialog* d = nullptr;
  if (!req.to_tag().empty()) {
    d = dialogs_.find_for_request(req);  // re-INVITE / UPDATE
  } else {
    tag_for(id);
    if (auto it = txn_dialogs_.find(id); it != txn_dialogs_.end()) d = dialogs_.find(it->second);
    if (!d) {
      d = dialogs_.create_uas(req, t->peer(), txn_tags_[id], local_contact(t->peer()));
      if (!d) {
        reject(id, 503);
        return nullptr;
      }
    }
  }
  if (d) txn_dialogs_[id] = d->key();
  Message r = response_for(id, status);
  r.add_header(HeaderId::kContact, "<" + (d ? d->local_contact : local_contact(t->peer())) + ">");
  if (req.method() == "INVITE") r.add_header(HeaderId::kAllow, kAllow);
  if (!sdp.empty()) r.set_body("application/sdp", sdp);
  if (d && status >= 200) {
    d->apply(DialogEvent::kSuccess);
  } else if (d) {
    d->apply(DialogEvent::kProvisional);
  }
  respond(id, std::move(r));
  return d;
}

void Stack::reject(ServerTxnId id, int status) { respond(id, response_for(id, status)); }

void Stack::add_capabilities(Message& r) {
  r.add_header(HeaderId::kAllow, kAllow);
  r.add_header(HeaderId::kAccept, "application/sdp");
  r.add_header("Accept-Encoding", "identity");
  r.add_header(HeaderId::kSupported, "replaces");
}

void Stack::answer_options(ServerTxnId id) {
  Message r = response_for(id, 200);
  add_capabilities(r);
  respond(id, std::move(r));
}

void Stack::on_request(ServerTxnId id, const Message& req, const Peer& from) {
  std::string_view method = req.method();
  if (int st = request_uri_status(req); st != 0) return reject(id, st);
  // §8.2.2.3: we support no extensions that a peer can Require.
  auto require = req.values(HeaderId::kRequire);
  if (!require.empty() && method != "CANCEL") {
    Message r = response_for(id, 420);
    add_unsupported(r, require);
    return respond(id, std::move(r));
  }
  // We are a B2BUA: an INVITE that cannot be forwarded further is refused.
  if (req.max_forwards() == 0 && method != "OPTIONS" && method != "REGISTER") return reject(id, 483);
  if (!req.to_tag().empty()) return on_in_dialog(id, req, from);
  // REGISTER and out-of-dialog OPTIONS never get here: on_wire() answers them
  // without transaction state (register_stateless, options_stateless).
  if (method == "INVITE") {
    if (!handler_) return reject(id, 480);
    handler_->on_invite(id, req, from);
    return;
  }
  if (method == "BYE" || method == "INFO" || method == "UPDATE" || method == "PRACK") return reject(id, 481);
  if (method == "REFER" || method == "NOTIFY" || method == "MESSAGE") {
    // Out-of-dialog REFER/NOTIFY/MESSAGE: not used by the contact center.
    Message r = response_for(id, 405);
    r.add_header(HeaderId::kAllow, kAllow);
    return respond(id, std::move(r));
  }
  if (is_known_method(method)) {
    Message r = response_for(id, 405);
    r.add_header(HeaderId::kAllow, kAllow);
    return respond(id, std::move(r));
  }
  Message r = response_for(id, 501);
  r.add_header(HeaderId::kAllow, kAllow);
  respond(id, std::move(r));
}

void Stack::on_in_dialog(ServerTxnId id, const Message& req, const Peer& from) {
  std::string_view method = req.method();
  Dialog* d = dialogs_.find_for_request(req);
  if (!d) {
    if (method == "OPTIONS") return answer_options(id);
    return reject(id, 481);
  }
  int st = dialogs_.check_request(*d, req);
  if (st == 500 && method == "INVITE" && d->remote_invite_pending) {
    Message r = response_for(id, 500);
    r.add_header(HeaderId::kRetryAfter, "1");
    return respond(id, std::move(r));
  }
  if (st != 0) return reject(id, st);
  // Keep the flow fresh: a device that re-connected is reachable here.
  d->peer = from;
  if (method == "BYE") {
    respond(id, response_for(id, 200));
    d->apply(DialogEvent::kBye);
    terminate(*d, "remote bye");
    return;
  }
  if (method == "OPTIONS") return answer_options(id);
  if (method == "INVITE") {
    d->remote_invite_pending = true;
    txn_dialogs_[id] = d->key();
  }
  if (method == "INVITE" || method == "UPDATE") d->refresh_target(req);
  if (!handler_) {
    if (method == "INVITE" || method == "UPDATE") {
      // Without a call layer there is no new SDP to give: refuse politely.
      return reject(id, 488);
    }
    return reject(id, method == "INFO" || method == "NOTIFY" ? 200 : 501);
  }
  handler_->on_dialog_request(*d, id, req);
}

void Stack::on_ack(const Message& ack, const Peer& from) {
  Dialog* d = dialogs_.find_for_request(ack);
  if (!d) return;
  d->peer = from;
  if (handler_) handler_->on_dialog_ack(*d, ack);
}

ClientTxnId Stack::send_request(Message request, const Peer& to, ResponseHandler handler) {
  add_via(request, to);
  if (!request.has(HeaderId::kMaxForwards)) request.add_header(HeaderId::kMaxForwards, "70");
  if (!request.has(HeaderId::kUserAgent)) request.add_header(HeaderId::kUserAgent, config_.user_agent);
  auto id = txns_.send_request(std::move(request), to, std::move(handler), clock_.now());
  rearm();
  return id;
}

void Stack::send_ack(Dialog& d, std::uint32_t cseq) {
  Message ack = d.make_request("ACK", cseq);
  add_via(ack, d.peer);
  send_wire(d.peer, ack.serialize());
}

ClientTxnId Stack::request_in_dialog(Dialog& d, std::string_view method, const HeaderList& headers,
                                     std::string_view content_type, std::string_view body,
                                     ResponseHandler handler) {
  Message m = d.make_request(method);
  for (const auto& [name, value] : headers) m.add_header(name, value);
  if (!body.empty()) m.set_body(content_type, body);
  std::string key = d.key();
  bool invite = method == "INVITE";
  if (invite) {
    d.local_invite_pending = true;
    d.invite_cseq = d.local_cseq;
  }
  std::weak_ptr<bool> alive = alive_;
  return send_request(std::move(m), d.peer, [this, alive, key, invite, handler](const ClientResult& r) {
    if (alive.expired()) return;
    Dialog* d = dialogs_.find(key);
    if (d && r.kind == ClientResult::kResponse) {
      int st = r.response->status();
      if (invite && st >= 200) {
        d->local_invite_pending = false;
        if (st < 300) {
          d->refresh_target(*r.response);
          send_ack(*d, r.response->cseq());
        }
      }
      if (st == 481 || st == 408) {
        d->apply(DialogEvent::kGone);
        terminate(*d, std::to_string(st));
      }
    } else if (d && r.kind != ClientResult::kResponse) {
      if (invite) d->local_invite_pending = false;
      d->apply(DialogEvent::kGone);
      terminate(*d, "timeout");
    }
    if (handler) handler(r);
  });
}

// One outgoing INVITE as the caller sees it: the first request and at most
// one authenticated retry. Two phases, so a challenge is answered once.
struct Stack::UacInvite {
  enum class Phase : std::uint8_t {
    kAnswerable,  // first attempt with credentials: a 401/407 is answered
    kFinal,       // no credentials, already retried, or cancel() asked: responses go up as they are
  };
  Message request;  // without Via: the template of a retry and the origin of the dialog
  Peer to;
  std::function<void(Dialog*, const ClientResult&)> on_event;
  std::optional<InviteOptions::Credentials> credentials;
  Phase phase = Phase::kFinal;
  ClientTxnId first = 0, current = 0;
};

ClientTxnId Stack::invite(const Peer& to, std::string_view request_uri, std::string_view from_uri,
                          std::string_view to_uri, std::string_view sdp,
                          std::function<void(Dialog*, const ClientResult&)> on_event,
                          const InviteOptions& options) {
  Message m = Message::request("INVITE", request_uri);
  std::string from;
  if (!options.from_display.empty()) from = quote_display_name(options.from_display) + " ";
  m.add_header(HeaderId::kFrom, from + "<" + std::string(from_uri) + ">;tag=" + random_token(16));
  m.add_header(HeaderId::kTo, "<" + std::string(to_uri) + ">");
  m.add_header(HeaderId::kCallId, random_token(24) + "@hotline");
  m.add_header(HeaderId::kCSeq, "1 INVITE");
  m.add_header(HeaderId::kContact, "<" + local_contact(to) + ">");
  m.add_header(HeaderId::kAllow, kAllow);
  for (const auto& [name, value] : options.headers) m.add_header(name, value);
  if (!sdp.empty()) m.set_body("application/sdp", sdp);
  auto inv = std::make_shared<UacInvite>();
  inv->request = std::move(m);
  inv->to = to;
  inv->on_event = std::move(on_event);
  inv->credentials = options.credentials;
  if (inv->credentials) inv->phase = UacInvite::Phase::kAnswerable;
  send_invite(inv);
  inv->first = inv->current;
  if (inv->credentials) uac_invites_[inv->first] = inv;
  return inv->first;
}

void Stack::send_invite(const std::shared_ptr<UacInvite>& inv) {
  std::weak_ptr<bool> alive = alive_;
  inv->current = send_request(inv->request, inv->to, [this, alive, inv](const ClientResult& r) {
    if (alive.expired()) return;
    on_invite_result(inv, r);
  });
}

void Stack::on_invite_result(const std::shared_ptr<UacInvite>& inv, const ClientResult& r) {
  Dialog* d = nullptr;
  if (r.kind == ClientResult::kResponse) {
    const Message& resp = *r.response;
    int st = resp.status();
    if (st > 100 && st < 300 && !resp.to_tag().empty()) {
      d = dialogs_.create_uac(inv->request, resp, inv->to, local_contact(inv->to));
      if (d) {
        d->apply(st < 200 ? DialogEvent::kProvisional : DialogEvent::kSuccess);
        if (st >= 200) {
          d->refresh_target(resp);
          send_ack(*d, resp.cseq());
        }
      }
    } else if (st >= 300) {
      if (Dialog* early = dialogs_.find_for_response(resp)) {
        early->apply(DialogEvent::kFailure);
        terminate(*early, "rejected");
      }
      if ((st == 401 || st == 407) && retry_with_credentials(inv, resp)) return;
    }
    if (st < 200) {
      if (inv->on_event) inv->on_event(d, r);
      return;
    }
  }
  // Final outcome of the INVITE as the caller sees it.
  if (inv->credentials) uac_invites_.erase(inv->first);
  if (inv->on_event) inv->on_event(d, r);
}

// RFC 3261 §22.2: answer the challenge with a new INVITE in the same dialog
// attempt (same Call-ID, From tag), CSeq+1 and a new branch (add_via).
bool Stack::retry_with_credentials(const std::shared_ptr<UacInvite>& inv, const Message& challenge) {
  if (inv->phase != UacInvite::Phase::kAnswerable || !inv->credentials) return false;
  inv->phase = UacInvite::Phase::kFinal;  // a second challenge is final
  bool proxy = challenge.status() == 407;
  auto challenges = answerable_challenges(
      challenge.values(proxy ? HeaderId::kProxyAuthenticate : HeaderId::kWwwAuthenticate));
  if (challenges.empty()) return false;
  Message next = inv->request;
  next.set_header(HeaderId::kCSeq, std::to_string(inv->request.cseq() + 1) + " INVITE");
  for (const auto& ch : challenges)
    next.add_header(proxy ? HeaderId::kProxyAuthorization : HeaderId::kAuthorization,
                    digest_authorization(ch, inv->credentials->username, inv->credentials->password, "INVITE",
                                         inv->request.request_uri(), random_token(16), 1));
  inv->request = std::move(next);
  send_invite(inv);
  return true;
}

bool Stack::cancel(ClientTxnId invite) {
  if (auto it = uac_invites_.find(invite); it != uac_invites_.end()) {
    // The caller wants the call gone: a challenge that still arrives is final.
    it->second->phase = UacInvite::Phase::kFinal;
    invite = it->second->current;
  }
  bool ok = txns_.cancel(invite, clock_.now()).has_value();
  rearm();
  return ok;
}

void Stack::hangup(Dialog& d) {
  if (d.state == DialogState::kConfirmed) {
    Message bye = d.make_request("BYE");
    add_via(bye, d.peer);
    txns_.send_request(std::move(bye), d.peer, nullptr, clock_.now());
    rearm();
  }
  d.apply(DialogEvent::kBye);
  terminate(d, "bye");
}

void Stack::terminate(Dialog& d, std::string_view reason) {
  std::string key = d.key();
  Dialog copy = d;
  copy.state = DialogState::kTerminated;
  dialogs_.remove(key);
  if (handler_) handler_->on_dialog_terminated(copy, reason);
}

}  // namespace hotline::sip
