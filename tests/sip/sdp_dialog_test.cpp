// SDP (RFC 4566) and offer/answer (RFC 3264); dialog state machine and
// in-dialog request construction (RFC 3261 §12).
#include <gtest/gtest.h>

#include "sip/dialog.h"
#include "sip/sdp.h"

namespace hotline::sip {
namespace {

const char* kOffer =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=video 51372 RTP/AVP 31\r\n"
    "a=rtpmap:31 H261/90000\r\n"
    "m=audio 49170 RTP/AVP 18 8 0 101\r\n"
    "c=IN IP4 192.0.2.11\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendonly\r\n";

TEST(Sdp, ParsesCodecsConnectionAndDirection) {
  auto s = sdp::parse(kOffer);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->media.size(), 2u);
  const auto& a = s->media[1];
  EXPECT_EQ(a.port, 49170);
  EXPECT_EQ(a.formats, (std::vector<int>{18, 8, 0, 101}));
  ASSERT_EQ(a.codecs.size(), 4u);
  EXPECT_EQ(a.codecs[1].name, "PCMA");  // static type without rtpmap
  EXPECT_EQ(a.codec(101)->fmtp, "0-15");
  EXPECT_EQ(a.ptime, 20);
  EXPECT_EQ(s->connection_for(0), "192.0.2.10");  // session level
  EXPECT_EQ(s->connection_for(1), "192.0.2.11");  // media level wins
  EXPECT_EQ(s->direction_for(1), sdp::Direction::kSendOnly);
  EXPECT_TRUE(s->is_hold(1));
  EXPECT_FALSE(s->is_hold(0));
}

TEST(Sdp, RejectsMalformed) {
  EXPECT_FALSE(sdp::parse("o=x\r\n").ok());
  EXPECT_FALSE(sdp::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 99999 RTP/AVP 0\r\n").ok());
  EXPECT_FALSE(sdp::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 300\r\n").ok());
  EXPECT_FALSE(
      sdp::parse("v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n").ok());
  EXPECT_FALSE(sdp::parse("garbage").ok());
}

TEST(OfferAnswer, AcceptsFirstCommonCodecRejectsVideoAndAnswersDirection) {
  auto offer = sdp::parse(kOffer);
  sdp::LocalMedia local;
  local.address = "198.51.100.1";
  local.port = 30000;
  auto ans = sdp::answer(*offer, local);
  ASSERT_TRUE(ans.ok());
  ASSERT_EQ(ans->media.size(), 2u);  // same number of m= lines (§6)
  EXPECT_EQ(ans->media[0].port, 0);  // video rejected
  const auto& a = ans->media[1];
  EXPECT_EQ(a.port, 30000);
  EXPECT_EQ(a.formats, (std::vector<int>{0, 101}));   // our preference: PCMU, with their telephone-event
  EXPECT_EQ(a.direction, sdp::Direction::kRecvOnly);  // they sendonly -> we recvonly
  auto reparsed = sdp::parse(ans->str());
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(reparsed->media[1].direction, sdp::Direction::kRecvOnly);
  EXPECT_EQ(reparsed->connection, "198.51.100.1");
}

TEST(OfferAnswer, NoCommonCodecIsNotAcceptable) {
  auto offer = sdp::parse(
      "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 18\r\n");
  sdp::LocalMedia local;
  local.address = "198.51.100.1";
  auto ans = sdp::answer(*offer, local);
  ASSERT_FALSE(ans.ok());
  EXPECT_EQ(ans.error().code, "not_acceptable");
}

TEST(OfferAnswer, DirectionTable) {
  using D = sdp::Direction;
  EXPECT_EQ(sdp::answer_direction(D::kSendRecv, D::kSendRecv), D::kSendRecv);
  EXPECT_EQ(sdp::answer_direction(D::kSendOnly, D::kSendRecv), D::kRecvOnly);
  EXPECT_EQ(sdp::answer_direction(D::kRecvOnly, D::kSendRecv), D::kSendOnly);
  EXPECT_EQ(sdp::answer_direction(D::kInactive, D::kSendRecv), D::kInactive);
  EXPECT_EQ(sdp::answer_direction(D::kSendRecv, D::kSendOnly), D::kSendOnly);  // we hold them
  EXPECT_EQ(sdp::answer_direction(D::kSendOnly, D::kSendOnly), D::kInactive);
}

TEST(OfferAnswer, OldStyleHoldAndNegotiated) {
  auto s = sdp::parse(
      "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:101 telephone-event/8000\r\n");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->is_hold(0));  // RFC 2543 hold: c=0.0.0.0
  auto n = sdp::negotiated(*s);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->codec.name, "PCMA");
  EXPECT_EQ(n->telephone_event_pt, 101);
  EXPECT_EQ(n->direction, sdp::Direction::kInactive);
  sdp::LocalMedia local;
  local.address = "192.0.2.1";
  local.port = 5000;
  auto off = sdp::offer(local);
  auto again = sdp::parse(off.str());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->media[0].formats, (std::vector<int>{0, 8, 101}));
}

// --- dialogs ---------------------------------------------------------------

TEST(DialogState, EveryTransition) {
  using S = DialogState;
  using E = DialogEvent;
  struct Row {
    S from;
    E ev;
    S to;
  } rows[] = {
      {S::kEarly, E::kProvisional, S::kEarly},         {S::kEarly, E::kSuccess, S::kConfirmed},
      {S::kEarly, E::kFailure, S::kTerminated},        {S::kEarly, E::kBye, S::kTerminated},
      {S::kEarly, E::kNoAck, S::kTerminated},          {S::kEarly, E::kGone, S::kTerminated},
      {S::kConfirmed, E::kProvisional, S::kConfirmed}, {S::kConfirmed, E::kSuccess, S::kConfirmed},
      {S::kConfirmed, E::kFailure, S::kConfirmed},     {S::kConfirmed, E::kBye, S::kTerminated},
      {S::kConfirmed, E::kNoAck, S::kTerminated},      {S::kConfirmed, E::kGone, S::kTerminated},
      {S::kTerminated, E::kSuccess, S::kTerminated},   {S::kTerminated, E::kProvisional, S::kTerminated},
  };
  for (const auto& r : rows)
    EXPECT_EQ(dialog_transition(r.from, r.ev), r.to)
        << dialog_state_name(r.from) << " + " << static_cast<int>(r.ev);
}

Message invite() {
  auto m = Message::parse(
      "INVITE sip:201@pbx.example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa\r\n"
      "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
      "From: \"A\" <sip:alice@example.com>;tag=ft\r\n"
      "To: <sip:201@pbx.example.com>\r\n"
      "Call-ID: dlg-1\r\n"
      "CSeq: 10 INVITE\r\n"
      "Contact: <sip:alice@192.0.2.10:5070>\r\n"
      "Content-Length: 0\r\n\r\n");
  return *m;
}

TEST(Dialog, UasFromInviteBuildsRequestsWithRouteSet) {
  DialogManager dm;
  Peer p{Transport::kUdp, "192.0.2.10", 5070, 0};
  Dialog* d = dm.create_uas(invite(), p, "lt", "sip:hotline@198.51.100.1");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->route_set, (std::vector<std::string>{"<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"}));
  EXPECT_EQ(d->remote_target, "sip:alice@192.0.2.10:5070");
  Message bye = d->make_request("BYE");
  EXPECT_EQ(bye.request_uri(), "sip:alice@192.0.2.10:5070");
  EXPECT_EQ(bye.values(HeaderId::kRoute).size(), 2u);
  EXPECT_EQ(bye.values(HeaderId::kRoute)[0], "<sip:p2.example.com;lr>");
  EXPECT_EQ(bye.from_tag(), "lt");
  EXPECT_EQ(bye.to_tag(), "ft");
  EXPECT_EQ(bye.cseq(), 1u);
  EXPECT_EQ(d->make_request("INFO").cseq(), 2u);
  // Found from the peer's in-dialog request (To-tag = ours).
  auto req = Message::parse(
      "BYE sip:hotline@198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKb\r\n"
      "From: <sip:alice@example.com>;tag=ft\r\nTo: <sip:201@pbx.example.com>;tag=lt\r\nCall-ID: dlg-1\r\n"
      "CSeq: 11 BYE\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(dm.find_for_request(*req), d);
  EXPECT_EQ(dm.check_request(*d, *req), 0);
  EXPECT_EQ(d->remote_cseq, 11u);
}

TEST(Dialog, UacReversesRecordRouteAndStrictRoutes) {
  DialogManager dm;
  Message inv = invite();
  auto resp = Message::parse(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKa\r\n"
      "Record-Route: <sip:p2.example.com>, <sip:p1.example.com;lr>\r\n"
      "From: \"A\" <sip:alice@example.com>;tag=ft\r\nTo: <sip:201@pbx.example.com>;tag=tt\r\n"
      "Call-ID: dlg-1\r\nCSeq: 10 INVITE\r\nContact: <sip:201@192.0.2.20>\r\nContent-Length: 0\r\n\r\n");
  Dialog* d = dm.create_uac(inv, *resp, Peer{}, "sip:alice@192.0.2.10:5070");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->route_set.front(), "<sip:p1.example.com;lr>");
  // Last route is strict (no lr): the first hop here is loose, so normal.
  Message bye = d->make_request("BYE");
  EXPECT_EQ(bye.request_uri(), "sip:201@192.0.2.20");
  EXPECT_EQ(bye.cseq(), 11u);  // continues from the INVITE's CSeq
  // A strict first route: Request-URI = that route, target goes last.
  d->route_set = {"<sip:strict.example.com>"};
  Message info = d->make_request("INFO");
  EXPECT_EQ(info.request_uri(), "sip:strict.example.com");
  EXPECT_EQ(info.values(HeaderId::kRoute).back(), "<sip:201@192.0.2.20>");
  Message ack = d->make_request("ACK", 10);
  EXPECT_EQ(ack.cseq(), 10u);
}

TEST(Dialog, InDialogRequestRules) {
  DialogManager dm;
  Dialog* d = dm.create_uas(invite(), Peer{}, "lt", "sip:hotline@198.51.100.1");
  auto req = [](std::string_view method, int cseq) {
    return *Message::parse(
        std::string(method) + " sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK" + std::to_string(cseq) +
        "\r\nFrom: <sip:alice@example.com>;tag=ft\r\n"
        "To: <sip:201@pbx.example.com>;tag=lt\r\nCall-ID: dlg-1\r\nCSeq: " +
        std::to_string(cseq) + " " + std::string(method) + "\r\nContent-Length: 0\r\n\r\n");
  };
  EXPECT_EQ(dm.check_request(*d, req("INFO", 9)), 500);  // lower than the INVITE's 10
  EXPECT_EQ(dm.check_request(*d, req("INFO", 11)), 0);
  d->local_invite_pending = true;
  EXPECT_EQ(dm.check_request(*d, req("INVITE", 12)), 491);  // glare
  d->local_invite_pending = false;
  d->remote_invite_pending = true;
  EXPECT_EQ(dm.check_request(*d, req("INVITE", 13)), 500);  // theirs still pending
  d->remote_invite_pending = false;
  EXPECT_EQ(dm.check_request(*d, req("INVITE", 14)), 0);
  EXPECT_EQ(dm.check_request(*d, req("ACK", 14)), 0);
  dm.remove(d->key());
  EXPECT_EQ(dm.size(), 0u);
}

TEST(Dialog, ManagerIsBounded) {
  DialogManager dm(1);
  EXPECT_NE(dm.create_uas(invite(), Peer{}, "a", "sip:h@x"), nullptr);
  EXPECT_EQ(dm.create_uas(invite(), Peer{}, "b", "sip:h@x"), nullptr);
}

}  // namespace
}  // namespace hotline::sip
