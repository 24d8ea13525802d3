// sip/transaction.h — the transaction layer (RFC 3261 §17, §9, RFC 6026).
//
// Four explicit state machines (client/server × INVITE/non-INVITE). Each
// Transaction is a plain object: feed it events with `handle()` and the
// current time; it returns what to do (send bytes, pass a message up, report
// a timeout) and keeps its timer deadlines. No I/O, no clock reads: the
// TransactionLayer owns the transactions, matches messages to them (§17.1.3,
// §17.2.3), and is driven by `receive()` and `tick(now)`, so unit tests step
// a FakeClock and check every retransmission to the millisecond.
//
// UAS 2xx retransmission (§13.3.1.4) lives in the server INVITE transaction's
// Accepted state (RFC 6026): the 2xx is resent at T1, 2·T1, … capped at T2
// until the ACK arrives (matched by Call-ID/CSeq/From-tag, since the ACK for a
// 2xx is its own transaction) or 64·T1 passes (then on_no_ack: send BYE).
//
// CANCEL (§9.2): a CANCEL matching a server INVITE in Proceeding is answered
// 200 and the INVITE 487 by the layer itself; the TU is told via on_cancel.
// A CANCEL matching nothing gets 481. Merged requests (§8.2.2.2) get 482.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "sip/message.h"
#include "sip/types.h"

namespace hotline::sip {

using common::SteadyTime;
using Duration = std::chrono::steady_clock::duration;

enum class TxnKind : std::uint8_t { kClientInvite, kClientNonInvite, kServerInvite, kServerNonInvite };

enum class TxnState : std::uint8_t {
  kCalling,     // client INVITE: request sent, nothing heard
  kTrying,      // client/server non-INVITE: nothing sent/heard yet
  kProceeding,  // provisional response seen/sent
  kCompleted,   // final non-2xx (INVITE) or any final (non-INVITE)
  kConfirmed,   // server INVITE: ACK received for a non-2xx
  kAccepted,    // RFC 6026: INVITE 2xx passed/sent, absorbing retransmissions
  kTerminated,
};
const char* state_name(TxnState s);

enum class TxnEvent : std::uint8_t {
  kSend,     // client: start (send the request); server: TU response (msg)
  kReceive,  // a matching message from the wire (msg)
  kTimerA,
  kTimerB,
  kTimerD,
  kTimerE,
  kTimerF,
  kTimerK,  // client timers
  kTimerG,
  kTimerH,
  kTimerI,
  kTimerJ,
  kTimerL,  // server timers
  kTimerM,  // client INVITE Accepted (RFC 6026)
  kTransportError,
};

// What a transition asks the layer to do.
struct TxnAction {
  enum Kind : std::uint8_t {
    kSendRequest,    // (re)send the request
    kSendResponse,   // (re)send the last response
    kSendAck,        // client INVITE: send ACK for the non-2xx final
    kPassUp,         // give the message to the TU
    kTimeout,        // tell the TU: timer B/F/H or no ACK for a 2xx
    kTransportFail,  // tell the TU: transport error
  } kind;
};

class Transaction {
 public:
  Transaction(TxnKind kind, Message request, Peer peer, TimerConfig timers);

  TxnKind kind() const { return kind_; }
  TxnState state() const { return state_; }
  const Message& request() const { return request_; }
  const Peer& peer() const { return peer_; }
  const std::optional<Message>& last_response() const { return response_; }
  // The single transition function. `msg` is the received message (kReceive)
  // or the TU's response (kSend on a server transaction).
  std::vector<TxnAction> handle(TxnEvent ev, const Message* msg, SteadyTime now);
  // Earliest armed timer, and which one.
  std::optional<std::pair<SteadyTime, TxnEvent>> next_timer() const;

 private:
  void arm(TxnEvent timer, SteadyTime at);
  void disarm(TxnEvent timer);
  void disarm_all();
  bool reliable() const { return is_reliable(peer_.transport); }
  std::vector<TxnAction> client_invite(TxnEvent ev, const Message* msg, SteadyTime now);
  std::vector<TxnAction> client_non_invite(TxnEvent ev, const Message* msg, SteadyTime now);
  std::vector<TxnAction> server_invite(TxnEvent ev, const Message* msg, SteadyTime now);
  std::vector<TxnAction> server_non_invite(TxnEvent ev, const Message* msg, SteadyTime now);

  TxnKind kind_;
  TxnState state_;
  Message request_;
  Peer peer_;
  TimerConfig t_;
  std::optional<Message> response_;
  Duration interval_{};  // current retransmit interval (A, E, G, 2xx)
  bool acked_ = false;   // server INVITE Accepted: ACK for the 2xx seen
  std::vector<std::pair<TxnEvent, SteadyTime>> timers_;
};

// Identifies a server transaction to the TU (for responding later).
using ServerTxnId = std::uint64_t;
using ClientTxnId = std::uint64_t;

struct ClientResult {
  enum Kind { kResponse, kTimeout, kTransportError } kind;
  const Message* response = nullptr;  // for kResponse
};

class TransactionLayer {
 public:
  struct Callbacks {
    // Serialised message to put on the wire.
    std::function<void(const Peer&, const std::string&)> send;
    // A new request (not a retransmission, not ACK/CANCEL): respond with
    // respond(id, …) — exactly one final response.
    std::function<void(ServerTxnId, const Message&, const Peer&)> on_request;
    // ACK for a 2xx (or an ACK matching nothing): the dialog layer's.
    std::function<void(const Message&, const Peer&)> on_ack;
    // The INVITE `id` was cancelled (the layer already sent 200/487).
    std::function<void(ServerTxnId)> on_cancel;
    // No ACK for our final response (Timer H or the 2xx retransmit limit).
    std::function<void(ServerTxnId, const Message& request)> on_no_ack;
    // A response that matched no client transaction (e.g. a 2xx
    // retransmission after the transaction ended).
    std::function<void(const Message&, const Peer&)> on_stray_response;
  };

  TransactionLayer(TimerConfig timers, Callbacks cb);

  // Client side. The request must carry a Via with a branch (use
  // new_branch()); `handler` sees every response and the final outcome.
  ClientTxnId send_request(Message request, const Peer& to, std::function<void(const ClientResult&)> handler,
                           SteadyTime now);
  // Server side: send a response on transaction `id`; ignored if it is gone.
  void respond(ServerTxnId id, Message response, SteadyTime now);
  // Everything from the wire, already parsed.
  void receive(Message msg, const Peer& from, SteadyTime now);
  // Fires due timers.
  void tick(SteadyTime now);
  std::optional<SteadyTime> next_deadline() const;

  // Builds a CANCEL for a client INVITE (§9.1); empty if it cannot be
  // cancelled (no provisional response yet or already final).
  std::optional<ClientTxnId> cancel(ClientTxnId invite, SteadyTime now);
  const Transaction* server(ServerTxnId id) const;
  const Transaction* client(ClientTxnId id) const;
  size_t size() const { return txns_.size(); }
  // Completed server non-INVITE transactions kept only as response bytes.
  size_t completed_size() const { return completed_.size(); }
  void set_limit(size_t max_transactions) { max_txns_ = max_transactions; }

  static std::string new_branch();
  static std::string new_tag();

 private:
  struct Entry {
    std::unique_ptr<Transaction> txn;
    std::function<void(const ClientResult&)> handler;  // client only
    bool is_client;
  };
  std::uint64_t add(std::unique_ptr<Transaction> t, std::function<void(const ClientResult&)> h, bool client);
  void run(std::uint64_t id, TxnEvent ev, const Message* msg, SteadyTime now);
  void send_stateless(const Message& req, const Peer& to, int status);
  void index_timers(std::uint64_t id);

  TimerConfig timers_;
  Callbacks cb_;
  std::uint64_t next_id_ = 1;
  size_t max_txns_ = 100000;
  std::unordered_map<std::uint64_t, Entry> txns_;
  std::unordered_map<std::string, std::uint64_t> client_keys_;  // branch + method
  std::unordered_map<std::string, std::uint64_t> server_keys_;  // branch + sent-by + method
  // 2xx ACK matching: Call-ID + CSeq + From-tag -> server INVITE in Accepted.
  std::unordered_map<std::string, std::uint64_t> ack_keys_;
  // Merged-request detection (§8.2.2.2): From-tag + Call-ID + CSeq -> branch key.
  std::unordered_map<std::string, std::string> merge_keys_;
  std::multimap<SteadyTime, std::uint64_t> deadlines_;
  struct Completed {
    std::string wire;
    Peer peer;
    SteadyTime expires;
  };
  std::unordered_map<std::string, Completed> completed_;
  std::deque<std::pair<SteadyTime, std::string>> completed_fifo_;
  std::unordered_map<std::uint64_t, SteadyTime> armed_at_;
};

}  // namespace hotline::sip
