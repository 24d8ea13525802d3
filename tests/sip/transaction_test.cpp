// Transaction state machines (RFC 3261 §17) driven by a FakeClock: every
// transition, and every retransmission instant to the millisecond.
#include "sip/transaction.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace hotline::sip {
namespace {

using namespace std::chrono_literals;
using common::FakeClock;

struct Sent {
  std::int64_t at_ms;
  Peer to;
  Message msg;
};

class TxnTest : public ::testing::Test {
 protected:
  TxnTest() { start_ = clock_.now(); }

  void make_layer(TimerConfig t = {}) {
    TransactionLayer::Callbacks cb;
    cb.send = [this](const Peer& p, const std::string& wire) {
      auto m = Message::parse(wire);
      ASSERT_TRUE(m.ok()) << wire;
      sent_.push_back(Sent{ms(), p, *m});
    };
    cb.on_request = [this](ServerTxnId id, const Message& m, const Peer&) { requests_.emplace_back(id, m); };
    cb.on_ack = [this](const Message& m, const Peer&) { acks_.push_back(m); };
    cb.on_cancel = [this](ServerTxnId id) { cancelled_.push_back(id); };
    cb.on_no_ack = [this](ServerTxnId id, const Message&) { no_ack_.push_back(id); };
    cb.on_stray_response = [this](const Message& m, const Peer&) { stray_.push_back(m); };
    layer_ = std::make_unique<TransactionLayer>(t, cb);
  }

  std::int64_t ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - start_).count();
  }

  // Advances the clock in 1 ms steps (so timers fire at their exact ms).
  void run_until(std::int64_t target_ms) {
    while (ms() < target_ms) {
      auto next = layer_->next_deadline();
      auto target = start_ + std::chrono::milliseconds(target_ms);
      if (next && *next <= target && *next > clock_.now()) {
        clock_.advance(*next - clock_.now());
      } else if (!next || *next > target) {
        clock_.advance(target - clock_.now());
      }
      layer_->tick(clock_.now());
    }
    layer_->tick(clock_.now());
  }

  static Message request(std::string_view method, std::string branch = TransactionLayer::new_branch(),
                         std::string_view to_tag = "") {
    Message m = Message::request(method, "sip:bob@example.com");
    m.add_header(HeaderId::kVia, "SIP/2.0/UDP 192.0.2.1:5060;branch=" + branch);
    m.add_header(HeaderId::kMaxForwards, "70");
    m.add_header(HeaderId::kFrom, "<sip:alice@example.com>;tag=a1");
    m.add_header(HeaderId::kTo,
                 "<sip:bob@example.com>" + (to_tag.empty() ? std::string() : ";tag=" + std::string(to_tag)));
    m.add_header(HeaderId::kCallId, "call-1@example.com");
    m.add_header(HeaderId::kCSeq, "1 " + std::string(method == "ACK" ? "INVITE" : method));
    if (method == "ACK") m.set_header(HeaderId::kCSeq, "1 ACK");
    return m;
  }

  static Message response_to(const Message& req, int status, std::string_view to_tag = "b1") {
    Message r = Message::response(status);
    for (auto v : req.values(HeaderId::kVia)) r.add_header(HeaderId::kVia, v);
    r.add_header(HeaderId::kFrom, req.header(HeaderId::kFrom));
    r.add_header(HeaderId::kTo,
                 std::string(req.header(HeaderId::kTo)) +
                     (status > 100 && req.to_tag().empty() ? ";tag=" + std::string(to_tag) : ""));
    r.add_header(HeaderId::kCallId, req.call_id());
    r.add_header(HeaderId::kCSeq, req.header(HeaderId::kCSeq));
    return r;
  }

  std::vector<std::int64_t> send_times(std::string_view method_or_status) {
    std::vector<std::int64_t> out;
    for (const auto& s : sent_) {
      std::string key = s.msg.is_request() ? std::string(s.msg.method()) : std::to_string(s.msg.status());
      if (key == method_or_status) out.push_back(s.at_ms);
    }
    return out;
  }

  FakeClock clock_;
  common::SteadyTime start_;
  std::unique_ptr<TransactionLayer> layer_;
  std::vector<Sent> sent_;
  std::vector<std::pair<ServerTxnId, Message>> requests_;
  std::vector<Message> acks_, stray_;
  std::vector<ServerTxnId> cancelled_, no_ack_;
  Peer udp_{Transport::kUdp, "192.0.2.1", 5060, 0};
  Peer tcp_{Transport::kTcp, "192.0.2.1", 5060, 7};
};

// --- client INVITE -------------------------------------------------------

TEST_F(TxnTest, ClientInviteTimerAScheduleAndTimerB) {
  make_layer();
  std::vector<ClientResult::Kind> results;
  auto id = layer_->send_request(
      request("INVITE"), udp_, [&](const ClientResult& r) { results.push_back(r.kind); }, clock_.now());
  EXPECT_EQ(layer_->client(id)->state(), TxnState::kCalling);
  run_until(40000);
  EXPECT_EQ(send_times("INVITE"), (std::vector<std::int64_t>{0, 500, 1500, 3500, 7500, 15500, 31500}));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0], ClientResult::kTimeout);
  EXPECT_EQ(layer_->client(id), nullptr);  // terminated at 32000 (64*T1)
  EXPECT_EQ(layer_->size(), 0u);
}

TEST_F(TxnTest, ClientInviteTimerBFiresAt64T1) {
  make_layer();
  bool timed_out = false;
  layer_->send_request(
      request("INVITE"), udp_, [&](const ClientResult& r) { timed_out = r.kind == ClientResult::kTimeout; },
      clock_.now());
  run_until(31999);
  EXPECT_FALSE(timed_out);
  run_until(32000);
  EXPECT_TRUE(timed_out);
}

TEST_F(TxnTest, ClientInviteCallingToProceedingStopsRetransmission) {
  make_layer();
  Message inv = request("INVITE");
  std::vector<int> seen;
  auto id = layer_->send_request(
      inv, udp_, [&](const ClientResult& r) { seen.push_back(r.response->status()); }, clock_.now());
  run_until(600);
  layer_->receive(response_to(inv, 180), udp_, clock_.now());
  EXPECT_EQ(layer_->client(id)->state(), TxnState::kProceeding);
  run_until(60000);
  EXPECT_EQ(send_times("INVITE"), (std::vector<std::int64_t>{0, 500}));
  EXPECT_EQ(seen, (std::vector<int>{180}));
  EXPECT_NE(layer_->client(id), nullptr);  // no Timer B in Proceeding
}

TEST_F(TxnTest, ClientInviteNon2xxSendsAckThenTimerD) {
  make_layer();
  Message inv = request("INVITE");
  auto id = layer_->send_request(
      inv, udp_, [](const ClientResult&) {}, clock_.now());
  run_until(100);
  Message busy = response_to(inv, 486);
  layer_->receive(busy, udp_, clock_.now());
  EXPECT_EQ(layer_->client(id)->state(), TxnState::kCompleted);
  ASSERT_EQ(send_times("ACK"), (std::vector<std::int64_t>{100}));
  const Message& ack = sent_.back().msg;
  EXPECT_EQ(ack.top_via()->branch(), inv.top_via()->branch());  // same transaction
  EXPECT_EQ(ack.to_tag(), "b1");
  EXPECT_EQ(ack.cseq_method(), "ACK");
  // A retransmitted final response is answered with the ACK again.
  run_until(2000);
  layer_->receive(busy, udp_, clock_.now());
  EXPECT_EQ(send_times("ACK"), (std::vector<std::int64_t>{100, 2000}));
  run_until(32099);
  EXPECT_NE(layer_->client(id), nullptr);
  run_until(32100);  // Timer D = 32 s
  EXPECT_EQ(layer_->client(id), nullptr);
}

TEST_F(TxnTest, ClientInvite2xxGoesToAcceptedAndPassesRetransmissions) {
  make_layer();
  Message inv = request("INVITE");
  int oks = 0;
  auto id = layer_->send_request(
      inv, udp_, [&](const ClientResult& r) { oks += r.response->status() == 200; }, clock_.now());
  Message ok = response_to(inv, 200);
  layer_->receive(ok, udp_, clock_.now());
  EXPECT_EQ(layer_->client(id)->state(), TxnState::kAccepted);
  layer_->receive(ok, udp_, clock_.now());
  EXPECT_EQ(oks, 2);
  EXPECT_TRUE(send_times("ACK").empty());  // the ACK for a 2xx is the TU's
  run_until(31999);
  EXPECT_NE(layer_->client(id), nullptr);
  run_until(32000);  // Timer M
  EXPECT_EQ(layer_->client(id), nullptr);
}

TEST_F(TxnTest, ClientInviteReliableHasNoRetransmitsAndNoTimerD) {
  make_layer();
  Message inv = request("INVITE");
  auto id = layer_->send_request(
      inv, tcp_, [](const ClientResult&) {}, clock_.now());
  run_until(10000);
  EXPECT_EQ(send_times("INVITE"), (std::vector<std::int64_t>{0}));
  layer_->receive(response_to(inv, 404), tcp_, clock_.now());
  EXPECT_EQ(send_times("ACK").size(), 1u);
  EXPECT_EQ(layer_->client(id), nullptr);
}

TEST_F(TxnTest, ClientInviteTransportErrorIsNotAResponse) {
  // Transport errors are reported by the transport via a failed send; the
  // transaction maps them to Terminated (covered at Transaction level).
  Transaction t(TxnKind::kClientInvite, request("INVITE"), udp_, TimerConfig{});
  t.handle(TxnEvent::kSend, nullptr, clock_.now());
  auto a = t.handle(TxnEvent::kTransportError, nullptr, clock_.now());
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].kind, TxnAction::kTransportFail);
  EXPECT_EQ(t.state(), TxnState::kTerminated);
}

TEST_F(TxnTest, ClientCancelAfterProvisional) {
  make_layer();
  Message inv = request("INVITE");
  auto id = layer_->send_request(
      inv, udp_, [](const ClientResult&) {}, clock_.now());
  EXPECT_FALSE(layer_->cancel(id, clock_.now()).has_value());  // §9.1: wait for a provisional
  layer_->receive(response_to(inv, 180), udp_, clock_.now());
  auto cid = layer_->cancel(id, clock_.now());
  ASSERT_TRUE(cid.has_value());
  const Message& c = sent_.back().msg;
  EXPECT_EQ(c.method(), "CANCEL");
  EXPECT_EQ(c.top_via()->branch(), inv.top_via()->branch());
  EXPECT_EQ(c.cseq(), inv.cseq());
}

// --- client non-INVITE ----------------------------------------------------

TEST_F(TxnTest, ClientNonInviteTimerEScheduleCappedAtT2AndTimerF) {
  make_layer();
  bool timeout = false;
  layer_->send_request(
      request("OPTIONS"), udp_, [&](const ClientResult& r) { timeout = r.kind == ClientResult::kTimeout; },
      clock_.now());
  run_until(40000);
  EXPECT_EQ(send_times("OPTIONS"),
            (std::vector<std::int64_t>{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_TRUE(timeout);
}

TEST_F(TxnTest, ClientNonInviteProceedingRetransmitsEveryT2) {
  make_layer();
  Message req = request("REGISTER");
  auto id = layer_->send_request(
      req, udp_, [](const ClientResult&) {}, clock_.now());
  run_until(600);
  layer_->receive(response_to(req, 100), udp_, clock_.now());
  EXPECT_EQ(layer_->client(id)->state(), TxnState::kProceeding);
  run_until(10000);
  // E was due at 1500 (armed before the 100); from then on every T2.
  EXPECT_EQ(send_times("REGISTER"), (std::vector<std::int64_t>{0, 500, 1500, 5500, 9500}));
}

TEST_F(TxnTest, ClientNonInviteFinalThenTimerK) {
  make_layer();
  Message req = request("OPTIONS");
  int finals = 0;
  auto id = layer_->send_request(
      req, udp_, [&](const ClientResult& r) { finals += r.kind == ClientResult::kResponse; }, clock_.now());
  run_until(200);
  Message ok = response_to(req, 200);
  layer_->receive(ok, udp_, clock_.now());
  EXPECT_EQ(layer_->client(id)->state(), TxnState::kCompleted);
  layer_->receive(ok, udp_, clock_.now());  // absorbed
  EXPECT_EQ(finals, 1);
  run_until(5199);
  EXPECT_NE(layer_->client(id), nullptr);
  run_until(5200);  // Timer K = T4
  EXPECT_EQ(layer_->client(id), nullptr);
  EXPECT_EQ(send_times("OPTIONS"), (std::vector<std::int64_t>{0}));
}

TEST_F(TxnTest, ClientNonInviteReliableTerminatesOnFinal) {
  make_layer();
  Message req = request("OPTIONS");
  auto id = layer_->send_request(
      req, tcp_, [](const ClientResult&) {}, clock_.now());
  layer_->receive(response_to(req, 200), tcp_, clock_.now());
  EXPECT_EQ(layer_->client(id), nullptr);
}

TEST_F(TxnTest, ResponseMatchingNothingIsStray) {
  make_layer();
  layer_->receive(response_to(request("INVITE"), 200), udp_, clock_.now());
  EXPECT_EQ(stray_.size(), 1u);
}

// --- server non-INVITE ----------------------------------------------------

TEST_F(TxnTest, ServerNonInviteTryingAbsorbsThenCompletedResends) {
  make_layer();
  Message req = request("OPTIONS");
  layer_->receive(req, udp_, clock_.now());
  ASSERT_EQ(requests_.size(), 1u);
  ServerTxnId id = requests_[0].first;
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kTrying);
  layer_->receive(req, udp_, clock_.now());  // retransmission: absorbed, not passed up
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_TRUE(sent_.empty());
  // Completed: kept only as the response bytes (see TransactionLayer::run).
  Transaction t(TxnKind::kServerNonInvite, req, udp_, TimerConfig{});
  t.handle(TxnEvent::kSend, &req, clock_.now());  // not a response: ignored
  Message ok = response_to(req, 200);
  t.handle(TxnEvent::kSend, &ok, clock_.now());
  EXPECT_EQ(t.state(), TxnState::kCompleted);
  layer_->respond(id, ok, clock_.now());
  EXPECT_EQ(layer_->completed_size(), 1u);
  run_until(1000);
  layer_->receive(req, udp_, clock_.now());
  EXPECT_EQ(send_times("200"), (std::vector<std::int64_t>{0, 1000}));
  run_until(31999);
  layer_->receive(req, udp_, clock_.now());
  EXPECT_EQ(send_times("200").size(), 3u);
  EXPECT_EQ(requests_.size(), 1u);
  run_until(32000);  // Timer J = 64*T1: forgotten; a copy now is a new request
  EXPECT_EQ(layer_->completed_size(), 0u);
  layer_->receive(req, udp_, clock_.now());
  EXPECT_EQ(requests_.size(), 2u);
}

TEST_F(TxnTest, ServerNonInviteProceedingResendsProvisional) {
  make_layer();
  Message req = request("REGISTER");
  layer_->receive(req, udp_, clock_.now());
  ServerTxnId id = requests_[0].first;
  layer_->respond(id, response_to(req, 100), clock_.now());
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kProceeding);
  layer_->receive(req, udp_, clock_.now());
  EXPECT_EQ(send_times("100").size(), 2u);
}

TEST_F(TxnTest, ServerNonInviteReliableTerminatesAtOnce) {
  make_layer();
  Message req = request("OPTIONS");
  layer_->receive(req, tcp_, clock_.now());
  layer_->respond(requests_[0].first, response_to(req, 200), clock_.now());
  EXPECT_EQ(layer_->size(), 0u);
}

// --- server INVITE --------------------------------------------------------

TEST_F(TxnTest, ServerInviteSends100AndResendsOnRetransmission) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(layer_->server(requests_[0].first)->state(), TxnState::kProceeding);
  EXPECT_EQ(send_times("100"), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(sent_[0].msg.to_tag(), "");  // 100 carries no To-tag
  run_until(500);
  layer_->receive(inv, udp_, clock_.now());
  EXPECT_EQ(send_times("100"), (std::vector<std::int64_t>{0, 500}));
  EXPECT_EQ(requests_.size(), 1u);
}

TEST_F(TxnTest, ServerInviteNon2xxTimerGThenAckConfirmedThenTimerI) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  ServerTxnId id = requests_[0].first;
  Message busy = response_to(inv, 486);
  layer_->respond(id, busy, clock_.now());
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kCompleted);
  run_until(12000);
  EXPECT_EQ(send_times("486"), (std::vector<std::int64_t>{0, 500, 1500, 3500, 7500, 11500}));
  Message ack = request("ACK", std::string(inv.top_via()->branch()), "b1");
  layer_->receive(ack, udp_, clock_.now());
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kConfirmed);
  EXPECT_TRUE(acks_.empty());  // hop-by-hop ACK stays in the transaction
  run_until(16999);
  EXPECT_NE(layer_->server(id), nullptr);
  run_until(17000);  // Timer I = T4
  EXPECT_EQ(layer_->server(id), nullptr);
  EXPECT_EQ(send_times("486").size(), 6u);
}

TEST_F(TxnTest, ServerInviteTimerHReportsMissingAck) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  ServerTxnId id = requests_[0].first;
  layer_->respond(id, response_to(inv, 603), clock_.now());
  run_until(31999);
  EXPECT_TRUE(no_ack_.empty());
  run_until(32000);
  EXPECT_EQ(no_ack_, (std::vector<ServerTxnId>{id}));
}

TEST_F(TxnTest, ServerInvite2xxRetransmittedUntilAck) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  ServerTxnId id = requests_[0].first;
  layer_->respond(id, response_to(inv, 200), clock_.now());
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kAccepted);
  run_until(8000);
  EXPECT_EQ(send_times("200"), (std::vector<std::int64_t>{0, 500, 1500, 3500, 7500}));
  // The ACK for a 2xx has its own branch; it matches by dialog identifiers.
  Message ack = request("ACK", TransactionLayer::new_branch(), "b1");
  layer_->receive(ack, udp_, clock_.now());
  EXPECT_EQ(acks_.size(), 1u);
  run_until(20000);
  EXPECT_EQ(send_times("200").size(), 5u);   // stopped
  layer_->receive(inv, udp_, clock_.now());  // late INVITE copy: absorbed
  EXPECT_EQ(requests_.size(), 1u);
  run_until(32000);  // Timer L
  EXPECT_EQ(layer_->server(id), nullptr);
  EXPECT_TRUE(no_ack_.empty());
}

TEST_F(TxnTest, ServerInvite2xxWithoutAckGivesUpAt64T1) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  ServerTxnId id = requests_[0].first;
  layer_->respond(id, response_to(inv, 200), clock_.now());
  run_until(40000);
  EXPECT_EQ(send_times("200"),
            (std::vector<std::int64_t>{0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500}));
  EXPECT_EQ(no_ack_, (std::vector<ServerTxnId>{id}));
}

TEST_F(TxnTest, ServerInviteReliable2xxIsNotRetransmitted) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, tcp_, clock_.now());
  layer_->respond(requests_[0].first, response_to(inv, 200), clock_.now());
  run_until(10000);
  EXPECT_EQ(send_times("200").size(), 1u);
}

TEST_F(TxnTest, CustomTimersScaleEverySchedule) {
  make_layer(TimerConfig{100ms, 400ms, 1000ms});
  layer_->send_request(
      request("OPTIONS"), udp_, [](const ClientResult&) {}, clock_.now());
  run_until(7000);
  EXPECT_EQ(send_times("OPTIONS"),
            (std::vector<std::int64_t>{0, 100, 300, 700, 1100, 1500, 1900, 2300, 2700, 3100, 3500, 3900, 4300,
                                       4700, 5100, 5500, 5900, 6300}));
}

// --- CANCEL, 481, 482 -----------------------------------------------------

TEST_F(TxnTest, CancelAnswers200AndInvite487) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  ServerTxnId id = requests_[0].first;
  layer_->respond(id, response_to(inv, 180), clock_.now());
  Message cancel = request("CANCEL", std::string(inv.top_via()->branch()));
  cancel.set_header(HeaderId::kCSeq, "1 CANCEL");
  layer_->receive(cancel, udp_, clock_.now());
  EXPECT_EQ(cancelled_, (std::vector<ServerTxnId>{id}));
  ASSERT_EQ(send_times("487").size(), 1u);
  bool got_cancel_200 = false;
  for (const auto& s : sent_)
    if (s.msg.is_response() && s.msg.status() == 200 && s.msg.cseq_method() == "CANCEL")
      got_cancel_200 = true;
  EXPECT_TRUE(got_cancel_200);
  // The 487 reuses the To-tag of the 180.
  for (const auto& s : sent_)
    if (s.msg.is_response() && s.msg.status() == 487) {
      EXPECT_EQ(s.msg.to_tag(), "b1");
    }
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kCompleted);
  // The TU's later 200 for the INVITE is ignored (already final).
  layer_->respond(id, response_to(inv, 200), clock_.now());
  EXPECT_EQ(layer_->server(id)->state(), TxnState::kCompleted);
}

TEST_F(TxnTest, CancelForUnknownTransactionIs481) {
  make_layer();
  Message cancel = request("CANCEL");
  layer_->receive(cancel, udp_, clock_.now());
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_EQ(sent_[0].msg.status(), 481);
  EXPECT_TRUE(requests_.empty());
}

TEST_F(TxnTest, CancelAfterFinalDoesNotTouchInvite) {
  make_layer();
  Message inv = request("INVITE");
  layer_->receive(inv, udp_, clock_.now());
  layer_->respond(requests_[0].first, response_to(inv, 486), clock_.now());
  Message cancel = request("CANCEL", std::string(inv.top_via()->branch()));
  cancel.set_header(HeaderId::kCSeq, "1 CANCEL");
  layer_->receive(cancel, udp_, clock_.now());
  EXPECT_TRUE(cancelled_.empty());
  EXPECT_TRUE(send_times("487").empty());
}

TEST_F(TxnTest, MergedRequestIs482) {
  make_layer();
  layer_->receive(request("INVITE", "z9hG4bKone"), udp_, clock_.now());
  layer_->receive(request("INVITE", "z9hG4bKtwo"), udp_, clock_.now());
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_EQ(send_times("482").size(), 1u);
}

TEST_F(TxnTest, TransactionLimitAnswers503Statelessly) {
  make_layer();
  layer_->set_limit(2);
  for (int i = 0; i < 3; ++i) {
    Message m = request("OPTIONS");
    m.set_header(HeaderId::kCallId, "c" + std::to_string(i));
    layer_->receive(m, udp_, clock_.now());
  }
  EXPECT_EQ(requests_.size(), 2u);
  EXPECT_EQ(send_times("503").size(), 1u);
  EXPECT_EQ(layer_->size(), 2u);
}

}  // namespace
}  // namespace hotline::sip
