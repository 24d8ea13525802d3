#include "sip/transaction.h"

#include <algorithm>
#include <random>

namespace hotline::sip {
namespace {

std::mt19937_64& rng() {
  thread_local std::mt19937_64 r{std::random_device{}()};
  return r;
}

std::string hex(std::uint64_t v, int digits) {
  static const char* d = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = d[v & 15];
  return s;
}

std::string first_via(const Message& m) {
  auto v = m.values(HeaderId::kVia);
  return v.empty() ? std::string() : std::string(v.front());
}

// §17.1.1.3: the ACK for a non-2xx final response.
Message build_non2xx_ack(const Message& req, const Message& resp) {
  Message ack = Message::request("ACK", req.request_uri());
  ack.add_header(HeaderId::kVia, first_via(req));
  ack.add_header(HeaderId::kMaxForwards, "70");
  ack.add_header(HeaderId::kFrom, req.header(HeaderId::kFrom));
  ack.add_header(HeaderId::kTo, resp.header(HeaderId::kTo));
  ack.add_header(HeaderId::kCallId, req.call_id());
  ack.add_header(HeaderId::kCSeq, std::to_string(req.cseq()) + " ACK");
  for (auto r : req.values(HeaderId::kRoute)) ack.add_header(HeaderId::kRoute, r);
  return ack;
}

// §9.1: CANCEL mirrors the INVITE's Request-URI, Call-ID, To, From, CSeq
// number, top Via (same branch) and Route.
Message build_cancel(const Message& inv) {
  Message c = Message::request("CANCEL", inv.request_uri());
  c.add_header(HeaderId::kVia, first_via(inv));
  c.add_header(HeaderId::kMaxForwards, "70");
  c.add_header(HeaderId::kFrom, inv.header(HeaderId::kFrom));
  c.add_header(HeaderId::kTo, inv.header(HeaderId::kTo));
  c.add_header(HeaderId::kCallId, inv.call_id());
  c.add_header(HeaderId::kCSeq, std::to_string(inv.cseq()) + " CANCEL");
  for (auto r : inv.values(HeaderId::kRoute)) c.add_header(HeaderId::kRoute, r);
  return c;
}

// Server transaction key (§17.2.3): branch + sent-by + method, ACK matching
// INVITE; RFC 2543 requests (no magic cookie) by their identifying headers.
std::string server_key(const Message& req, std::string_view method) {
  std::string branch, host;
  std::uint16_t port = 0;
  if (auto ids = req.via_ids()) {
    branch = ids->branch;
    host = ids->host;
    port = ids->port;
  } else if (auto via = req.top_via()) {
    branch = via->branch();
    host = via->host;
    port = via->port;
  }
  std::string key;
  if (branch.rfind("z9hG4bK", 0) == 0) {
    key.reserve(branch.size() + host.size() + method.size() + 10);
    key.append(branch).append("|").append(host).append(":").append(std::to_string(port)).append("|");
  } else {
    key = "2543|" + std::string(req.call_id()) + "|" + req.from_tag() + "|" + std::to_string(req.cseq()) +
          "|" + first_via(req) + "|";
  }
  key += method;
  return key;
}

std::string client_key(const Message& m) {
  std::string key;
  if (auto ids = m.via_ids()) {
    key = ids->branch;
  } else if (auto via = m.top_via()) {
    key = via->branch();
  }
  return key.append("|").append(m.cseq_method());
}

std::string ack_key(const Message& m) {
  return std::string(m.call_id()) + "|" + std::to_string(m.cseq()) + "|" + m.from_tag();
}

}  // namespace

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::kUdp:
      return "UDP";
    case Transport::kTcp:
      return "TCP";
    case Transport::kTls:
      return "TLS";
    case Transport::kWs:
      return "WS";
    case Transport::kWss:
      return "WSS";
  }
  return "UDP";
}

std::string Peer::str() const {
  std::string t = transport_name(transport);
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string host = ip.find(':') != std::string::npos ? "[" + ip + "]" : ip;
  std::string r = t + ":" + host + ":" + std::to_string(port);
  if (flow) r += "#" + std::to_string(flow);
  return r;
}

const char* state_name(TxnState s) {
  switch (s) {
    case TxnState::kCalling:
      return "Calling";
    case TxnState::kTrying:
      return "Trying";
    case TxnState::kProceeding:
      return "Proceeding";
    case TxnState::kCompleted:
      return "Completed";
    case TxnState::kConfirmed:
      return "Confirmed";
    case TxnState::kAccepted:
      return "Accepted";
    case TxnState::kTerminated:
      return "Terminated";
  }
  return "?";
}

Transaction::Transaction(TxnKind kind, Message request, Peer peer, TimerConfig timers)
    : kind_(kind), request_(std::move(request)), peer_(std::move(peer)), t_(timers) {
  switch (kind) {
    case TxnKind::kClientInvite:
      state_ = TxnState::kCalling;
      break;
    case TxnKind::kClientNonInvite:
      state_ = TxnState::kTrying;
      break;
    case TxnKind::kServerInvite:
      state_ = TxnState::kProceeding;
      break;
    case TxnKind::kServerNonInvite:
      state_ = TxnState::kTrying;
      break;
  }
}

void Transaction::arm(TxnEvent timer, SteadyTime at) {
  disarm(timer);
  timers_.emplace_back(timer, at);
}

void Transaction::disarm(TxnEvent timer) {
  std::erase_if(timers_, [timer](const auto& p) { return p.first == timer; });
}

void Transaction::disarm_all() { timers_.clear(); }

std::optional<std::pair<SteadyTime, TxnEvent>> Transaction::next_timer() const {
  std::optional<std::pair<SteadyTime, TxnEvent>> best;
  for (const auto& [ev, at] : timers_)
    if (!best || at < best->first) best = std::make_pair(at, ev);
  return best;
}

std::vector<TxnAction> Transaction::handle(TxnEvent ev, const Message* msg, SteadyTime now) {
  if (state_ == TxnState::kTerminated) return {};
  // A timer event is only valid while that timer is armed (it may have been
  // disarmed by an earlier transition in the same tick).
  if (ev != TxnEvent::kSend && ev != TxnEvent::kReceive && ev != TxnEvent::kTransportError) {
    auto it = std::find_if(timers_.begin(), timers_.end(), [ev](const auto& p) { return p.first == ev; });
    if (it == timers_.end()) return {};
    timers_.erase(it);
  }
  switch (kind_) {
    case TxnKind::kClientInvite:
      return client_invite(ev, msg, now);
    case TxnKind::kClientNonInvite:
      return client_non_invite(ev, msg, now);
    case TxnKind::kServerInvite:
      return server_invite(ev, msg, now);
    case TxnKind::kServerNonInvite:
      return server_non_invite(ev, msg, now);
  }
  return {};
}

// §17.1.1, Figure 5, with RFC 6026's Accepted state.
std::vector<TxnAction> Transaction::client_invite(TxnEvent ev, const Message* msg, SteadyTime now) {
  using A = TxnAction;
  auto final_non2xx = [&]() -> std::vector<TxnAction> {
    response_ = *msg;
    disarm_all();
    if (reliable()) {
      state_ = TxnState::kTerminated;  // Timer D = 0
    } else {
      state_ = TxnState::kCompleted;
      arm(TxnEvent::kTimerD, now + std::chrono::seconds(32));
    }
    return {{A::kSendAck}, {A::kPassUp}};
  };
  switch (state_) {
    case TxnState::kCalling:
      if (ev == TxnEvent::kSend) {
        if (!reliable()) {
          interval_ = t_.t1;
          arm(TxnEvent::kTimerA, now + interval_);
        }
        arm(TxnEvent::kTimerB, now + 64 * t_.t1);
        return {{A::kSendRequest}};
      }
      if (ev == TxnEvent::kTimerA) {
        interval_ *= 2;
        arm(TxnEvent::kTimerA, now + interval_);
        return {{A::kSendRequest}};
      }
      if (ev == TxnEvent::kTimerB || ev == TxnEvent::kTransportError) {
        disarm_all();
        state_ = TxnState::kTerminated;
        return {{ev == TxnEvent::kTimerB ? A::kTimeout : A::kTransportFail}};
      }
      [[fallthrough]];
    case TxnState::kProceeding:
      if (ev == TxnEvent::kReceive && msg && msg->is_response()) {
        int st = msg->status();
        if (st < 200) {
          disarm_all();
          state_ = TxnState::kProceeding;
          return {{A::kPassUp}};
        }
        if (st < 300) {
          disarm_all();
          state_ = TxnState::kAccepted;
          arm(TxnEvent::kTimerM, now + 64 * t_.t1);
          return {{A::kPassUp}};
        }
        return final_non2xx();
      }
      if (ev == TxnEvent::kTransportError) {
        disarm_all();
        state_ = TxnState::kTerminated;
        return {{A::kTransportFail}};
      }
      return {};
    case TxnState::kCompleted:
      if (ev == TxnEvent::kReceive && msg && msg->is_response() && msg->status() >= 300)
        return {{A::kSendAck}};
      if (ev == TxnEvent::kTimerD) {
        state_ = TxnState::kTerminated;
        return {};
      }
      return {};
    case TxnState::kAccepted:
      // 2xx retransmissions go up so the TU re-sends its ACK.
      if (ev == TxnEvent::kReceive && msg && msg->is_response() && msg->status() >= 200 &&
          msg->status() < 300)
        return {{A::kPassUp}};
      if (ev == TxnEvent::kTimerM) state_ = TxnState::kTerminated;
      return {};
    default:
      return {};
  }
}

// §17.1.2, Figure 6.
std::vector<TxnAction> Transaction::client_non_invite(TxnEvent ev, const Message* msg, SteadyTime now) {
  using A = TxnAction;
  switch (state_) {
    case TxnState::kTrying:
    case TxnState::kProceeding:
      if (ev == TxnEvent::kSend && state_ == TxnState::kTrying) {
        if (!reliable()) {
          interval_ = t_.t1;
          arm(TxnEvent::kTimerE, now + interval_);
        }
        arm(TxnEvent::kTimerF, now + 64 * t_.t1);
        return {{A::kSendRequest}};
      }
      if (ev == TxnEvent::kTimerE) {
        // Trying: doubling capped at T2; Proceeding: every T2.
        interval_ = state_ == TxnState::kTrying ? std::min<Duration>(interval_ * 2, t_.t2) : Duration(t_.t2);
        arm(TxnEvent::kTimerE, now + interval_);
        return {{A::kSendRequest}};
      }
      if (ev == TxnEvent::kTimerF || ev == TxnEvent::kTransportError) {
        disarm_all();
        state_ = TxnState::kTerminated;
        return {{ev == TxnEvent::kTimerF ? A::kTimeout : A::kTransportFail}};
      }
      if (ev == TxnEvent::kReceive && msg && msg->is_response()) {
        if (msg->status() < 200) {
          state_ = TxnState::kProceeding;
          return {{A::kPassUp}};
        }
        response_ = *msg;
        disarm_all();
        if (reliable()) {
          state_ = TxnState::kTerminated;  // Timer K = 0
        } else {
          state_ = TxnState::kCompleted;
          arm(TxnEvent::kTimerK, now + t_.t4);
        }
        return {{A::kPassUp}};
      }
      return {};
    case TxnState::kCompleted:
      if (ev == TxnEvent::kTimerK) state_ = TxnState::kTerminated;
      return {};  // response retransmissions are absorbed
    default:
      return {};
  }
}

// §17.2.1, Figure 7, with RFC 6026's Accepted state; the 2xx retransmission
// of §13.3.1.4 uses Timer G's schedule while Accepted.
std::vector<TxnAction> Transaction::server_invite(TxnEvent ev, const Message* msg, SteadyTime now) {
  using A = TxnAction;
  switch (state_) {
    case TxnState::kProceeding:
      if (ev == TxnEvent::kReceive && msg && msg->is_request() && msg->method() != "ACK") {
        if (response_) return {{A::kSendResponse}};
        return {};
      }
      if (ev == TxnEvent::kSend && msg) {
        response_ = *msg;
        int st = msg->status();
        if (st < 200) return {{A::kSendResponse}};
        interval_ = t_.t1;
        if (st < 300) {
          state_ = TxnState::kAccepted;
          if (!reliable()) arm(TxnEvent::kTimerG, now + interval_);
          arm(TxnEvent::kTimerL, now + 64 * t_.t1);
        } else {
          state_ = TxnState::kCompleted;
          if (!reliable()) arm(TxnEvent::kTimerG, now + interval_);
          arm(TxnEvent::kTimerH, now + 64 * t_.t1);
        }
        return {{A::kSendResponse}};
      }
      if (ev == TxnEvent::kTransportError) {
        disarm_all();
        state_ = TxnState::kTerminated;
        return {{A::kTransportFail}};
      }
      return {};
    case TxnState::kCompleted:
      if (ev == TxnEvent::kReceive && msg && msg->is_request()) {
        if (msg->method() == "ACK") {
          disarm_all();
          if (reliable()) {
            state_ = TxnState::kTerminated;  // Timer I = 0
          } else {
            state_ = TxnState::kConfirmed;
            arm(TxnEvent::kTimerI, now + t_.t4);
          }
          return {};
        }
        return {{A::kSendResponse}};
      }
      if (ev == TxnEvent::kTimerG) {
        interval_ = std::min<Duration>(interval_ * 2, t_.t2);
        arm(TxnEvent::kTimerG, now + interval_);
        return {{A::kSendResponse}};
      }
      if (ev == TxnEvent::kTimerH || ev == TxnEvent::kTransportError) {
        disarm_all();
        state_ = TxnState::kTerminated;
        return {{ev == TxnEvent::kTimerH ? A::kTimeout : A::kTransportFail}};
      }
      return {};
    case TxnState::kConfirmed:
      if (ev == TxnEvent::kTimerI) state_ = TxnState::kTerminated;
      return {};  // further ACKs absorbed
    case TxnState::kAccepted:
      if (ev == TxnEvent::kReceive && msg && msg->is_request()) {
        if (msg->method() == "ACK") {
          // Stop retransmitting; stay until L to absorb late INVITE copies.
          bool first = std::any_of(timers_.begin(), timers_.end(),
                                   [](const auto& p) { return p.first == TxnEvent::kTimerG; }) ||
                       !acked_;
          disarm(TxnEvent::kTimerG);
          acked_ = true;
          return first ? std::vector<TxnAction>{{A::kPassUp}} : std::vector<TxnAction>{};
        }
        return {};  // INVITE retransmission absorbed (the 2xx timer resends)
      }
      if (ev == TxnEvent::kTimerG) {
        interval_ = std::min<Duration>(interval_ * 2, t_.t2);
        arm(TxnEvent::kTimerG, now + interval_);
        return {{A::kSendResponse}};
      }
      if (ev == TxnEvent::kTimerL) {
        disarm_all();
        state_ = TxnState::kTerminated;
        if (!acked_) return {{A::kTimeout}};
        return {};
      }
      return {};
    default:
      return {};
  }
}

// §17.2.2, Figure 8.
std::vector<TxnAction> Transaction::server_non_invite(TxnEvent ev, const Message* msg, SteadyTime now) {
  using A = TxnAction;
  switch (state_) {
    case TxnState::kTrying:
    case TxnState::kProceeding:
      if (ev == TxnEvent::kReceive) {
        if (state_ == TxnState::kProceeding) return {{A::kSendResponse}};
        return {};  // absorbed while the TU thinks
      }
      if (ev == TxnEvent::kSend && msg) {
        response_ = *msg;
        if (msg->status() < 200) {
          state_ = TxnState::kProceeding;
          return {{A::kSendResponse}};
        }
        if (reliable()) {
          state_ = TxnState::kTerminated;  // Timer J = 0
        } else {
          state_ = TxnState::kCompleted;
          arm(TxnEvent::kTimerJ, now + 64 * t_.t1);
        }
        return {{A::kSendResponse}};
      }
      if (ev == TxnEvent::kTransportError) {
        state_ = TxnState::kTerminated;
        return {{A::kTransportFail}};
      }
      return {};
    case TxnState::kCompleted:
      if (ev == TxnEvent::kReceive) return {{A::kSendResponse}};
      if (ev == TxnEvent::kTimerJ) state_ = TxnState::kTerminated;
      if (ev == TxnEvent::kTransportError) state_ = TxnState::kTerminated;
      return {};
    default:
      return {};
  }
}

// ---------------------------------------------------------------------------

TransactionLayer::TransactionLayer(TimerConfig timers, Callbacks cb) : timers_(timers), cb_(std::move(cb)) {}

std::string TransactionLayer::new_branch() { return "z9hG4bK" + hex(rng()(), 16); }
std::string TransactionLayer::new_tag() { return hex(rng()(), 12); }

std::uint64_t TransactionLayer::add(std::unique_ptr<Transaction> t,
                                    std::function<void(const ClientResult&)> h, bool client) {
  std::uint64_t id = next_id_++;
  Entry e;
  e.txn = std::move(t);
  e.handler = std::move(h);
  e.is_client = client;
  txns_.emplace(id, std::move(e));
  return id;
}

const Transaction* TransactionLayer::server(ServerTxnId id) const {
  auto it = txns_.find(id);
  return it == txns_.end() || it->second.is_client ? nullptr : it->second.txn.get();
}

const Transaction* TransactionLayer::client(ClientTxnId id) const {
  auto it = txns_.find(id);
  return it == txns_.end() || !it->second.is_client ? nullptr : it->second.txn.get();
}

void TransactionLayer::index_timers(std::uint64_t id) {
  if (auto a = armed_at_.find(id); a != armed_at_.end()) {
    auto range = deadlines_.equal_range(a->second);
    for (auto it = range.first; it != range.second; ++it)
      if (it->second == id) {
        deadlines_.erase(it);
        break;
      }
    armed_at_.erase(a);
  }
  auto it = txns_.find(id);
  if (it == txns_.end()) return;
  if (auto next = it->second.txn->next_timer()) {
    deadlines_.emplace(next->first, id);
    armed_at_[id] = next->first;
  }
}

void TransactionLayer::run(std::uint64_t id, TxnEvent ev, const Message* msg, SteadyTime now) {
  auto it = txns_.find(id);
  if (it == txns_.end()) return;
  Transaction& t = *it->second.txn;
  bool is_client = it->second.is_client;
  auto actions = t.handle(ev, msg, now);
  // Copies, because callbacks may re-enter the layer.
  auto handler = it->second.handler;
  Peer peer = t.peer();
  for (const auto& a : actions) {
    switch (a.kind) {
      case TxnAction::kSendRequest:
        cb_.send(peer, t.request().serialize());
        break;
      case TxnAction::kSendResponse:
        if (t.last_response()) cb_.send(peer, t.last_response()->serialize());
        break;
      case TxnAction::kSendAck:
        if (t.last_response()) cb_.send(peer, build_non2xx_ack(t.request(), *t.last_response()).serialize());
        break;
      case TxnAction::kPassUp:
        if (is_client && handler && msg) handler(ClientResult{ClientResult::kResponse, msg});
        break;
      case TxnAction::kTimeout:
        if (is_client) {
          if (handler) handler(ClientResult{ClientResult::kTimeout, nullptr});
        } else if (cb_.on_no_ack) {
          cb_.on_no_ack(id, t.request());
        }
        break;
      case TxnAction::kTransportFail:
        if (is_client && handler) handler(ClientResult{ClientResult::kTransportError, nullptr});
        break;
    }
    if (txns_.find(id) == txns_.end()) return;  // removed by a callback
  }
  it = txns_.find(id);
  if (it == txns_.end()) return;
  // A Completed server non-INVITE transaction only has to re-send its final
  // response for 64*T1 (Timer J). Keep just the key, the wire bytes and the
  // peer for that: a few hundred bytes instead of two parsed messages.
  if (!it->second.is_client && it->second.txn->kind() == TxnKind::kServerNonInvite &&
      it->second.txn->state() == TxnState::kCompleted && it->second.txn->last_response()) {
    const Transaction& t = *it->second.txn;
    std::string key = server_key(t.request(), t.request().method());
    auto expires = now + 64 * timers_.t1;
    completed_[key] = Completed{t.last_response()->serialize(), t.peer(), expires};
    completed_fifo_.emplace_back(expires, key);
    while (completed_.size() > max_txns_ && !completed_fifo_.empty()) {
      completed_.erase(completed_fifo_.front().second);
      completed_fifo_.pop_front();
    }
    // Fall through to the removal below as if terminated.
    it->second.txn->handle(TxnEvent::kTimerJ, nullptr, expires);
  }
  if (it->second.txn->state() == TxnState::kTerminated) {
    const Message& req = it->second.txn->request();
    if (it->second.is_client) {
      client_keys_.erase(client_key(req));
    } else {
      std::string m(req.method());
      server_keys_.erase(server_key(req, m));
      auto ak = ack_keys_.find(ack_key(req));
      if (ak != ack_keys_.end() && ak->second == id) ack_keys_.erase(ak);
      if (req.to_tag().empty()) {
        auto mk = merge_keys_.find(req.from_tag() + "|" + std::string(req.call_id()) + "|" +
                                   std::to_string(req.cseq()) + "|" + m);
        if (mk != merge_keys_.end() && mk->second == server_key(req, m)) merge_keys_.erase(mk);
      }
    }
    txns_.erase(it);
  }
  index_timers(id);
}

ClientTxnId TransactionLayer::send_request(Message request, const Peer& to,
                                           std::function<void(const ClientResult&)> handler, SteadyTime now) {
  TxnKind kind = request.method() == "INVITE" ? TxnKind::kClientInvite : TxnKind::kClientNonInvite;
  std::string key = client_key(request);
  auto id =
      add(std::make_unique<Transaction>(kind, std::move(request), to, timers_), std::move(handler), true);
  client_keys_[key] = id;
  run(id, TxnEvent::kSend, nullptr, now);
  return id;
}

void TransactionLayer::respond(ServerTxnId id, Message response, SteadyTime now) {
  auto it = txns_.find(id);
  if (it == txns_.end() || it->second.is_client) return;
  const Message& req = it->second.txn->request();
  if (req.method() == "INVITE" && response.status() >= 200 && response.status() < 300)
    ack_keys_[ack_key(req)] = id;
  run(id, TxnEvent::kSend, &response, now);
}

std::optional<ClientTxnId> TransactionLayer::cancel(ClientTxnId invite, SteadyTime now) {
  const Transaction* t = client(invite);
  if (!t || t->kind() != TxnKind::kClientInvite || t->state() != TxnState::kProceeding) return std::nullopt;
  Message c = build_cancel(t->request());
  Peer p = t->peer();
  return send_request(std::move(c), p, nullptr, now);
}

void TransactionLayer::send_stateless(const Message& req, const Peer& to, int status) {
  Message r = Message::response(status);
  for (auto v : req.values(HeaderId::kVia)) r.add_header(HeaderId::kVia, v);
  r.add_header(HeaderId::kFrom, req.header(HeaderId::kFrom));
  std::string to_hdr(req.header(HeaderId::kTo));
  if (req.to_tag().empty()) to_hdr += ";tag=" + new_tag();
  r.add_header(HeaderId::kTo, to_hdr);
  r.add_header(HeaderId::kCallId, req.call_id());
  r.add_header(HeaderId::kCSeq, req.header(HeaderId::kCSeq));
  cb_.send(to, r.serialize());
}

void TransactionLayer::receive(Message msg, const Peer& from, SteadyTime now) {
  if (msg.is_response()) {
    auto it = client_keys_.find(client_key(msg));
    if (it != client_keys_.end()) {
      run(it->second, TxnEvent::kReceive, &msg, now);
    } else if (cb_.on_stray_response) {
      cb_.on_stray_response(msg, from);
    }
    return;
  }
  std::string method(msg.method());
  if (method == "ACK") {
    auto it = server_keys_.find(server_key(msg, "INVITE"));
    if (it != server_keys_.end()) {
      const Transaction* t = server(it->second);
      bool accepted = t && t->state() == TxnState::kAccepted;
      run(it->second, TxnEvent::kReceive, &msg, now);
      if (!accepted) return;  // ACK for a non-2xx: hop-by-hop, absorbed here
    } else if (auto ak = ack_keys_.find(ack_key(msg)); ak != ack_keys_.end()) {
      run(ak->second, TxnEvent::kReceive, &msg, now);
    }
    if (cb_.on_ack) cb_.on_ack(msg, from);
    return;
  }
  std::string key = server_key(msg, method);
  if (auto it = server_keys_.find(key); it != server_keys_.end()) {
    run(it->second, TxnEvent::kReceive, &msg, now);  // retransmission
    return;
  }
  if (auto c = completed_.find(key); c != completed_.end() && c->second.expires > now) {
    cb_.send(c->second.peer, c->second.wire);  // retransmission after the final response
    return;
  }
  if (txns_.size() >= max_txns_) {
    send_stateless(msg, from, 503);  // bounded memory under flood
    return;
  }
  TxnKind kind = method == "INVITE" ? TxnKind::kServerInvite : TxnKind::kServerNonInvite;
  auto make_response = [&](const Message& req, int status) {
    Message r = Message::response(status);
    for (auto v : req.values(HeaderId::kVia)) r.add_header(HeaderId::kVia, v);
    r.add_header(HeaderId::kFrom, req.header(HeaderId::kFrom));
    std::string to_hdr(req.header(HeaderId::kTo));
    if (req.to_tag().empty() && status > 100) to_hdr += ";tag=" + new_tag();
    r.add_header(HeaderId::kTo, to_hdr);
    r.add_header(HeaderId::kCallId, req.call_id());
    r.add_header(HeaderId::kCSeq, req.header(HeaderId::kCSeq));
    return r;
  };
  if (method == "CANCEL") {
    auto id = add(std::make_unique<Transaction>(kind, msg, from, timers_), nullptr, false);
    server_keys_[key] = id;
    auto inv = server_keys_.find(server_key(msg, "INVITE"));
    if (inv == server_keys_.end()) {
      Message r = make_response(msg, 481);
      run(id, TxnEvent::kSend, &r, now);
      return;
    }
    std::uint64_t inv_id = inv->second;
    Message ok = make_response(msg, 200);
    run(id, TxnEvent::kSend, &ok, now);
    const Transaction* it = server(inv_id);
    if (it && it->state() == TxnState::kProceeding) {
      // §9.2: the UAS answers the INVITE with 487, using its own To-tag if it
      // already sent one in a provisional response.
      Message r = make_response(it->request(), 487);
      if (it->last_response() && !it->last_response()->to_tag().empty())
        r.set_header(HeaderId::kTo, it->last_response()->header(HeaderId::kTo));
      run(inv_id, TxnEvent::kSend, &r, now);
      if (cb_.on_cancel) cb_.on_cancel(inv_id);
    }
    return;
  }
  auto id = add(std::make_unique<Transaction>(kind, msg, from, timers_), nullptr, false);
  server_keys_[key] = id;
  // §8.2.2.2 merged requests: same From-tag, Call-ID and CSeq as a live
  // transaction but a different branch (it forked and came back) -> 482.
  if (msg.to_tag().empty()) {
    std::string mk =
        msg.from_tag() + "|" + std::string(msg.call_id()) + "|" + std::to_string(msg.cseq()) + "|" + method;
    auto m = merge_keys_.find(mk);
    if (m != merge_keys_.end() && m->second != key && server_keys_.count(m->second)) {
      Message r = make_response(msg, 482);
      run(id, TxnEvent::kSend, &r, now);
      return;
    }
    merge_keys_[mk] = key;
  }
  if (kind == TxnKind::kServerInvite) {
    // Send 100 Trying at once: it stops INVITE retransmissions (§17.2.1).
    Message trying = make_response(msg, 100);
    if (auto ts = msg.header(HeaderId::kTimestamp); !ts.empty()) trying.add_header(HeaderId::kTimestamp, ts);
    run(id, TxnEvent::kSend, &trying, now);
  }
  if (cb_.on_request) cb_.on_request(id, server(id)->request(), from);
}

void TransactionLayer::tick(SteadyTime now) {
  while (!completed_fifo_.empty() && completed_fifo_.front().first <= now) {
    auto c = completed_.find(completed_fifo_.front().second);
    if (c != completed_.end() && c->second.expires <= now) completed_.erase(c);
    completed_fifo_.pop_front();
  }
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    auto [at, id] = *deadlines_.begin();
    deadlines_.erase(deadlines_.begin());
    armed_at_.erase(id);
    auto it = txns_.find(id);
    if (it == txns_.end()) continue;
    auto next = it->second.txn->next_timer();
    if (next && next->first <= now) {
      run(id, next->second, nullptr, next->first);
    } else {
      index_timers(id);
    }
  }
}

std::optional<SteadyTime> TransactionLayer::next_deadline() const {
  std::optional<SteadyTime> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (!completed_fifo_.empty() && (!next || completed_fifo_.front().first < *next))
    next = completed_fifo_.front().first;
  return next;
}

}  // namespace hotline::sip
