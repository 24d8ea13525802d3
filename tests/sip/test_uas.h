// The dialog layer's own test application: a tiny UAS (and UAC helper) on
// top of sip::Stack, used by sip_test_server and the in-process tests until
// the real call layer exists. Request-URI user decides the behaviour:
//   ring*    -> 180 and wait (for CANCEL)
//   busy*    -> 486
//   hangup*  -> answer, then BYE from our side 200 ms after the ACK
//   anything -> 180, then 200 with an SDP answer (RFC 3264 offer/answer)
// Re-INVITEs are answered with the matching direction (hold -> recvonly),
// INFO (application/dtmf-relay) and UPDATE with 200, REFER with 202.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>

#include "sip/stack.h"

namespace hotline::sip::testing {

class TestUas : public SessionHandler {
 public:
  explicit TestUas(Stack& stack) : stack_(stack) {}

  void on_invite(ServerTxnId txn, const Message& invite, const Peer& from) override;
  void on_cancelled(ServerTxnId txn) override;
  void on_dialog_request(Dialog& d, ServerTxnId txn, const Message& req) override;
  void on_dialog_ack(Dialog& d, const Message& ack) override;
  void on_dialog_terminated(const Dialog& d, std::string_view reason) override;

  std::atomic<int> invites{0}, answered{0}, cancelled{0}, reinvites{0}, holds{0}, infos{0}, refers{0},
      acks{0}, byes_sent{0}, terminated_remote{0}, terminated{0}, rejected_sdp{0};

 private:
  std::string answer_sdp(const Message& offer, bool* ok);
  Stack& stack_;
  std::uint64_t version_ = 1;
};

}  // namespace hotline::sip::testing
