#include "test_uas.h"

namespace hotline::sip::testing {

std::string TestUas::answer_sdp(const Message& offer, bool* ok) {
  *ok = true;
  if (offer.body().empty()) return {};
  auto s = sdp::parse(offer.body());
  if (!s) {
    *ok = false;
    return {};
  }
  sdp::LocalMedia local;
  local.address = stack_.local_contact(Peer{}).find('[') != std::string::npos ? "::1" : "127.0.0.1";
  local.port = 40000;
  local.session_id = 4242;
  local.session_version = version_++;
  auto a = sdp::answer(*s, local);
  if (!a) {
    *ok = false;
    return {};
  }
  return a->str();
}

void TestUas::on_invite(ServerTxnId txn, const Message& invite, const Peer&) {
  ++invites;
  auto uri = Uri::parse(invite.request_uri());
  std::string user = uri ? uri->user : std::string();
  if (user.rfind("busy", 0) == 0) return stack_.reject(txn, 486);
  bool ok;
  std::string sdp = answer_sdp(invite, &ok);
  if (!ok) {
    ++rejected_sdp;
    return stack_.reject(txn, 488);
  }
  stack_.answer(txn, 180);
  if (user.rfind("ring", 0) == 0) return;  // wait for CANCEL
  if (stack_.answer(txn, 200, sdp)) ++answered;
}

void TestUas::on_cancelled(ServerTxnId) { ++cancelled; }

void TestUas::on_dialog_request(Dialog& d, ServerTxnId txn, const Message& req) {
  std::string_view m = req.method();
  if (m == "INVITE") {
    ++reinvites;
    if (auto s = sdp::parse(req.body()); s && s->is_hold(0)) ++holds;
    bool ok;
    std::string sdp = answer_sdp(req, &ok);
    if (!ok) return stack_.reject(txn, 488);
    stack_.answer(txn, 200, sdp);
    (void)d;
    return;
  }
  if (m == "INFO") ++infos;
  if (m == "REFER") {
    ++refers;
    return stack_.respond(txn, stack_.response_for(txn, 202));
  }
  stack_.respond(txn, stack_.response_for(txn, 200));
}

void TestUas::on_dialog_ack(Dialog& d, const Message&) {
  ++acks;
  // local_uri is our To; decide on the user part of it.
  std::string user = d.local_uri;
  if (user.find("sip:hangup") == std::string::npos) return;
  auto timer = std::make_shared<boost::asio::steady_timer>(stack_.io(), std::chrono::milliseconds(200));
  std::string key = d.key();
  timer->async_wait([this, timer, key](const boost::system::error_code& ec) {
    if (ec) return;
    if (Dialog* dd = stack_.dialogs().find(key)) {
      ++byes_sent;
      stack_.hangup(*dd);
    }
  });
}

void TestUas::on_dialog_terminated(const Dialog&, std::string_view reason) {
  ++terminated;
  if (reason == "remote bye") ++terminated_remote;
}

}  // namespace hotline::sip::testing
