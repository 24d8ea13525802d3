// sip/stack.h — the SIP stack: the one header `hotline serve` and the call
// layer include. It knows nothing of queues, media, HTTP or storage.
//
// Wiring (inside `hotline serve`, a few lines):
//
//   hotline::sip::StackConfig cfg;                     // defaults: UDP+TCP on 0.0.0.0:5060
//   cfg.listen = {{Transport::kUdp, "0.0.0.0", 5060}, {Transport::kTcp, "0.0.0.0", 5060},
//                 {Transport::kTls, "0.0.0.0", 5061}, {Transport::kUdp, "::", 5060}};
//   cfg.transport.tls_cert_file = "/etc/hotline/sip.crt";  // only for kTls
//   cfg.transport.tls_key_file = "/etc/hotline/sip.key";
//   cfg.advertised_address = "198.51.100.10";          // for Via/Contact when bound to 0.0.0.0
//   cfg.registrar.min_expires = 60s;                   // see RegistrarConfig
//   MyStoreCredentials creds(db);                      // implements sip::CredentialStore
//   hotline::sip::Stack sip(io, cfg, creds);           // io: the boost::asio::io_context
//   sip.set_registrar_listener(&presence);             // registered / expired / unreachable
//   sip.set_session_handler(&calls);                   // INVITEs and in-dialog requests
//   if (auto st = sip.start(); !st) fail(st.error());  // binds; sip.bound() has real ports
//   io.run();
//
// Threading: everything runs on the given io_context; call the Stack only
// from that context's thread (post() to it from elsewhere). One io_context
// thread carries thousands of registrations per second.
//
// What the stack does by itself: transactions and retransmissions, REGISTER
// (digest, bindings, qualify), OPTIONS (capabilities), CANCEL (200 + 487),
// 481/482/483/416/420/405/501, BYE (200, dialog ends), ACK matching,
// hostile-traffic admission (guard.h). What it hands up: new INVITEs and
// in-dialog requests (re-INVITE, UPDATE, INFO, REFER, NOTIFY, MESSAGE) to
// the SessionHandler; binding events to the RegistrarListener.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "sip/dialog.h"
#include "sip/guard.h"
#include "sip/message.h"
#include "sip/registrar.h"
#include "sip/sdp.h"
#include "sip/transaction.h"
#include "sip/transport.h"

namespace hotline::sip {

struct StackConfig {
  std::vector<ListenAddress> listen = {{Transport::kUdp, "0.0.0.0", 5060},
                                       {Transport::kTcp, "0.0.0.0", 5060}};
  TransportConfig transport;       // max message size, TLS cert/key, connection caps
  TimerConfig timers;              // T1/T2/T4
  RegistrarConfig registrar;       // realm, expiry bounds, nonce lifetime
  GuardConfig guard;               // rate limits, bans, scanner list
  std::string advertised_address;  // our address in Via/Contact ("" = bound address)
  std::string user_agent = "Hotline";
  std::chrono::seconds qualify_interval{30};  // OPTIONS ping per binding; 0 = off
  size_t max_transactions = 100000;
  size_t max_dialogs = 50000;
};

// Implemented by the call layer.
class SessionHandler {
 public:
  virtual ~SessionHandler() = default;
  // New out-of-dialog INVITE; 100 Trying is already sent. Answer it with
  // Stack::answer() (1xx/2xx, creates the dialog) or Stack::reject().
  virtual void on_invite(ServerTxnId txn, const Message& invite, const Peer& from) = 0;
  // The caller CANCELled before the final answer (200/487 already sent).
  virtual void on_cancelled(ServerTxnId /*txn*/) {}
  // In-dialog re-INVITE, UPDATE, INFO, REFER, NOTIFY, MESSAGE: answer with
  // Stack::respond(txn, Stack::response_for(txn, code)) or answer() for a
  // re-INVITE. BYE is answered by the stack and reported as termination.
  virtual void on_dialog_request(Dialog& d, ServerTxnId txn, const Message& req) = 0;
  // ACK for our 2xx (the dialog is confirmed; an SDP answer may be in it).
  virtual void on_dialog_ack(Dialog& /*d*/, const Message& /*ack*/) {}
  // The dialog is gone: "bye", "remote bye", "no ack", "481", "timeout".
  virtual void on_dialog_terminated(const Dialog& /*d*/, std::string_view /*reason*/) {}
};

class Stack {
 public:
  Stack(boost::asio::io_context& io, StackConfig config, CredentialStore& credentials,
        common::Clock& clock = common::SystemClock::instance());
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  common::Status start();
  void stop();
  std::vector<ListenAddress> bound() const { return transports_.bound(); }

  void set_session_handler(SessionHandler* h) { handler_ = h; }
  void set_registrar_listener(RegistrarListener* l) { registrar_.set_listener(l); }
  Registrar& registrar() { return registrar_; }
  Guard& guard() { return guard_; }
  DialogManager& dialogs() { return dialogs_; }
  TransactionLayer& transactions() { return txns_; }
  boost::asio::io_context& io() { return io_; }
  const StackConfig& config() const { return config_; }

  // --- UAS -------------------------------------------------------------
  // A response skeleton for server transaction `txn` (Via with
  // received/rport, From, To with our tag, Call-ID, CSeq).
  Message response_for(ServerTxnId txn, int status) const;
  void respond(ServerTxnId txn, Message response);
  // Answers an INVITE or re-INVITE with 101–299 (+ Contact, + SDP if
  // given) and returns its dialog (created on the first tagged response).
  Dialog* answer(ServerTxnId txn, int status, std::string_view sdp = {});
  void reject(ServerTxnId txn, int status);

  // --- UAC -------------------------------------------------------------
  using ResponseHandler = std::function<void(const ClientResult&)>;
  // Out-of-dialog request: adds Via (our address for `to`) and sends.
  ClientTxnId send_request(Message request, const Peer& to, ResponseHandler handler);
  // In-dialog request (BYE, re-INVITE, INFO, REFER, UPDATE…). For INVITE
  // the ACK for the 2xx is sent automatically (and re-sent for each 2xx
  // retransmission); 481/408 end the dialog. Body optional.
  ClientTxnId request_in_dialog(Dialog& d, std::string_view method, std::string_view content_type,
                                std::string_view body, ResponseHandler handler) {
    return request_in_dialog(d, method, {}, content_type, body, std::move(handler));
  }
  // The same with extra headers (e.g. Event and Subscription-State on the
  // NOTIFY that reports a REFER's outcome, RFC 3515 §2.4.4).
  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  ClientTxnId request_in_dialog(Dialog& d, std::string_view method, const HeaderList& headers,
                                std::string_view content_type, std::string_view body,
                                ResponseHandler handler);
  // Out-of-dialog INVITE (UAC). `on_event` sees every response with the
  // dialog it created or confirmed (nullptr for failures); the ACK for a
  // 2xx is sent automatically. Returns the transaction (for cancel()).
  // `options` adds a display name to From (caller ID shown on the phone),
  // extra headers (e.g. X-Hotline-Interaction) and digest credentials.
  struct InviteOptions {
    // For a peer that challenges our INVITE (a carrier's trunk, RFC 3261
    // §22.2). With credentials, a 401 (WWW-Authenticate) or 407
    // (Proxy-Authenticate) is ACKed by the transaction layer and the INVITE
    // re-sent once with Authorization / Proxy-Authorization (MD5 or
    // SHA-256 as challenged, qop=auth when offered; new branch, CSeq+1, same
    // Call-ID and From tag). `on_event` then sees the retry's responses,
    // never the challenge; a second challenge is its final failure.
    // Without credentials a 401/407 is an ordinary final failure.
    struct Credentials {
      std::string username, password;
    };
    std::string from_display;
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<Credentials> credentials;
  };
  ClientTxnId invite(const Peer& to, std::string_view request_uri, std::string_view from_uri,
                     std::string_view to_uri, std::string_view sdp,
                     std::function<void(Dialog*, const ClientResult&)> on_event,
                     const InviteOptions& options);
  ClientTxnId invite(const Peer& to, std::string_view request_uri, std::string_view from_uri,
                     std::string_view to_uri, std::string_view sdp,
                     std::function<void(Dialog*, const ClientResult&)> on_event) {
    return invite(to, request_uri, from_uri, to_uri, sdp, std::move(on_event), InviteOptions{});
  }
  // CANCEL an INVITE we sent (after a provisional response, §9.1). `invite`
  // is the id invite() returned, also once it was re-sent with credentials.
  // False when there is nothing to cancel yet (no provisional response) or
  // any more; a challenge arriving after a cancel() is not answered.
  bool cancel(ClientTxnId invite);
  // Ends a dialog with BYE (confirmed) and forgets it.
  void hangup(Dialog& d);

  // Our Contact URI for a given peer's transport/family.
  std::string local_contact(const Peer& p, std::string_view user = "hotline") const;
  struct Stats {
    std::uint64_t received = 0, parse_errors = 0, dropped = 0, sent = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  void on_wire(std::string data, const Peer& from);
  void on_request(ServerTxnId id, const Message& req, const Peer& from);
  void register_stateless(const Message& req, const Peer& from);
  void options_stateless(const Message& req, const Peer& from);
  // The checks before the method matters (Request-URI -> 400/416, Require
  // -> 420), answered without transaction state; true when answered.
  bool rejected_stateless(const Message& req, const Peer& from);
  void reply_stateless(const Peer& to, Message response);
  static void add_capabilities(Message& options_response);
  void on_in_dialog(ServerTxnId id, const Message& req, const Peer& from);
  void on_ack(const Message& ack, const Peer& from);
  // The bytes are copied only when they must wait (a UDP batch, a stream's
  // write queue); a temporary is moved instead.
  void send_wire(const Peer& to, std::string_view wire);
  void send_wire(const Peer& to, std::string&& wire);
  void add_via(Message& m, const Peer& to) const;
  void send_ack(Dialog& d, std::uint32_t cseq);
  void rearm();
  void housekeeping();
  void qualify();
  void terminate(Dialog& d, std::string_view reason);
  void answer_options(ServerTxnId id);
  std::string tag_for(ServerTxnId id);
  struct UacInvite;  // one outgoing INVITE and its authenticated retry
  void send_invite(const std::shared_ptr<UacInvite>& inv);
  void on_invite_result(const std::shared_ptr<UacInvite>& inv, const ClientResult& r);
  bool retry_with_credentials(const std::shared_ptr<UacInvite>& inv, const Message& challenge);

  boost::asio::io_context& io_;
  StackConfig config_;
  common::Clock& clock_;
  TransportManager transports_;
  TransactionLayer txns_;
  Registrar registrar_;
  Registrar::Responder register_responder_;
  Guard guard_;
  DialogManager dialogs_;
  SessionHandler* handler_ = nullptr;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer housekeeping_timer_;
  std::optional<common::SteadyTime> armed_for_;
  std::unordered_map<ServerTxnId, std::string> txn_tags_;     // To-tag per server INVITE
  std::unordered_map<ServerTxnId, std::string> txn_dialogs_;  // INVITE/re-INVITE txn -> dialog key
  std::unordered_map<std::string, bool> qualify_pending_;     // aor|contact
  // INVITEs with credentials until their final outcome, by the id invite()
  // returned (cancel() follows it to the retry's transaction).
  std::unordered_map<ClientTxnId, std::shared_ptr<UacInvite>> uac_invites_;
  common::SteadyTime last_qualify_{};
  Stats stats_;
  std::string wire_scratch_;  // reply_stateless()'s serialisation buffer
  bool running_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hotline::sip
