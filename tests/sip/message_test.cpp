// The message's kept identifiers (tags, top Via parts) and the in-place
// response Via: checked against a full parse of the same text, so the fast
// path cannot drift from the grammar.
#include "sip/message.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hotline::sip {
namespace {

std::string request(std::string_view via, std::string_view from, std::string_view to) {
  std::string m = "OPTIONS sip:a@example.com SIP/2.0\r\n";
  m += "Via: " + std::string(via) + "\r\n";
  m += "From: " + std::string(from) + "\r\n";
  m += "To: " + std::string(to) + "\r\n";
  m += "Call-ID: c1@h\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
  return m;
}

Message parsed(const std::string& wire) {
  auto m = Message::parse(wire);
  EXPECT_TRUE(m.ok()) << (m ? "" : m.error().message);
  return m ? *m : Message();
}

TEST(MessageIdents, TagsAndViaPartsMatchAFullParse) {
  auto m = parsed(request("SIP/2.0/udp  h.example.com:5070 ;branch=z9hG4bKab;rport", "<sip:x@y>;tag=f1",
                          "\"Bob\" <sip:b@y>;TAG=t2"));
  EXPECT_EQ(m.from_tag(), "f1");
  EXPECT_EQ(m.to_tag(), "t2");  // parameter names are case-insensitive
  auto ids = m.via_ids();
  ASSERT_TRUE(ids);
  auto via = m.top_via();
  ASSERT_TRUE(via);
  EXPECT_EQ(ids->branch, via->branch());
  EXPECT_EQ(ids->host, via->host);
  EXPECT_EQ(ids->port, via->port);
  EXPECT_EQ(via->transport, "UDP");
}

TEST(MessageIdents, EscapedTagFallsBackToFullParse) {
  auto m = parsed(request("SIP/2.0/UDP h;branch=z9hG4bK1", "<sip:x@y>;tag=\"a\\\"b\"", "<sip:b@y>"));
  EXPECT_EQ(m.from_tag(), "a\"b");
  EXPECT_FALSE(m.via_ids());  // not kept: the value needs unescaping
  EXPECT_EQ(m.to_tag(), "");
}

// The registrar reads the To URI's user and host as validation found them;
// an edited To (or a built message) has none kept.
TEST(MessageIdents, ToUserAndHostKeptUntilToIsEdited) {
  auto m =
      parsed(request("SIP/2.0/UDP h;branch=z9hG4bK1", "<sip:x@y>;tag=f1", "\"Bob\" <sips:b%41@Y.example>"));
  auto to = m.to_ids();
  ASSERT_TRUE(to);
  EXPECT_EQ(to->user, "b%41");  // as received: the registrar unescapes
  EXPECT_EQ(to->host, "Y.example");
  EXPECT_TRUE(to->is_sip);
  auto tel = parsed(request("SIP/2.0/UDP h;branch=z9hG4bK1", "<sip:x@y>;tag=f1", "<tel:+12015550123>"));
  ASSERT_TRUE(tel.to_ids());
  EXPECT_FALSE(tel.to_ids()->is_sip);
  m.set_header(HeaderId::kTo, "<sip:c@z>");
  EXPECT_FALSE(m.to_ids());
  EXPECT_FALSE(Message::request("REGISTER", "sip:z").to_ids());
}

TEST(MessageIdents, EditingFromDropsTheKeptTag) {
  auto m = parsed(request("SIP/2.0/UDP h;branch=z9hG4bK1", "<sip:x@y>;tag=old", "<sip:b@y>"));
  m.set_header(HeaderId::kFrom, "<sip:x@y>;tag=new");
  EXPECT_EQ(m.from_tag(), "new");
  EXPECT_FALSE(m.via_ids());
}

TEST(ResponseVia, BareRportGetsThePortAndReceivedIsAdded) {
  auto m = parsed(request("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKx", "<sip:x@y>;tag=1", "<sip:b@y>"));
  Peer from{Transport::kUdp, "203.0.113.7", 40000, 0};
  auto r = make_response(m, 200, &from);
  EXPECT_EQ(r.header(HeaderId::kVia),
            "SIP/2.0/UDP 10.0.0.5:5060;rport=40000;branch=z9hG4bKx;received=203.0.113.7");
}

TEST(ResponseVia, SameAddressAndNoRportLeavesTheTextAlone) {
  auto m = parsed(request("SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bKx", "<sip:x@y>;tag=1", "<sip:b@y>"));
  Peer from{Transport::kUdp, "203.0.113.7", 5060, 0};
  auto r = make_response(m, 200, &from);
  EXPECT_EQ(r.header(HeaderId::kVia), "SIP/2.0/UDP 203.0.113.7:5060;branch=z9hG4bKx");
}

TEST(ResponseVia, CommentOrExistingReceivedUsesTheFullParse) {
  Peer from{Transport::kUdp, "203.0.113.7", 40000, 0};
  auto m =
      parsed(request("SIP/2.0/UDP h:5060;rport;branch=z9hG4bKx (a comment)", "<sip:x@y>;tag=1", "<sip:b@y>"));
  auto via = Via::parse(make_response(m, 200, &from).header(HeaderId::kVia));
  ASSERT_TRUE(via);
  EXPECT_EQ(find_param(via->params, "rport")->value, "40000");
  EXPECT_EQ(find_param(via->params, "received")->value, "203.0.113.7");

  auto m2 = parsed(
      request("SIP/2.0/UDP h;received=10.1.1.1;rport;branch=z9hG4bKx", "<sip:x@y>;tag=1", "<sip:b@y>"));
  auto via2 = Via::parse(make_response(m2, 200, &from).header(HeaderId::kVia));
  ASSERT_TRUE(via2);
  EXPECT_EQ(find_param(via2->params, "received")->value, "203.0.113.7");  // replaced, not added twice
  EXPECT_EQ(via2->params.size(), 3u);
}

// The valid RFC 4475 torture messages that parse (some valid ones are
// rejected on purpose; torture_test covers those), with their file names.
std::vector<std::pair<std::string, Message>> valid_torture_messages() {
  std::vector<std::pair<std::string, Message>> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(HOTLINE_SOURCE_DIR) +
                                                           "/tests/sip/data/torture/valid")) {
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    if (auto m = Message::parse(ss.str())) out.emplace_back(e.path().string(), std::move(*m));
  }
  return out;
}

// Every valid torture message: the kept identifiers equal a full parse's.
TEST(MessageIdents, TortureMessagesAgreeWithFullParse) {
  int checked = 0;
  for (const auto& [path, m] : valid_torture_messages()) {
    auto from = m.from();
    auto to = m.to();
    ASSERT_TRUE(from && to) << path;
    EXPECT_EQ(m.from_tag(), from->tag()) << path;
    EXPECT_EQ(m.to_tag(), to->tag()) << path;
    if (auto ids = m.via_ids()) {
      auto via = m.top_via();
      ASSERT_TRUE(via) << path;
      EXPECT_EQ(ids->branch, via->branch()) << path;
      EXPECT_EQ(ids->host, via->host) << path;
      EXPECT_EQ(ids->port, via->port) << path;
    }
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

// UriView::str() writes what the owned URI's str() does, for every URI in
// the valid torture messages (Request-URI, From, To, Contacts).
TEST(UriViewStr, MatchesTheOwnedForm) {
  int compared = 0;
  auto check = [&](std::string_view text, const std::string& path) {
    UriView v;
    if (v.parse(text)) return;
    EXPECT_EQ(v.str(), v.owned().str()) << path << ": " << text;
    ++compared;
  };
  for (const auto& [path, m] : valid_torture_messages()) {
    if (m.is_request()) check(m.request_uri(), path);
    for (HeaderId id : {HeaderId::kFrom, HeaderId::kTo, HeaderId::kContact}) {
      m.for_each_value(id, [&](std::string_view value) {
        NameAddrView na;
        if (!na.parse(value) && !na.wildcard) {
          EXPECT_EQ(na.uri.str(), na.uri.owned().str()) << path;
          ++compared;
        }
        return true;
      });
    }
  }
  for (const char* u :
       {"sip:a@b", "SIPS:A@Example.COM:5061;Transport=TCP;lr?subject=x", "sip:[::1]:5060;maddr=x",
        "sip:u:pw@h;flag", "tel:+1-201-555-0123;phone-context=x", "mailto:a@b"})
    check(u, "literal");
  EXPECT_GT(compared, 30);
}

// A Message's buffer goes back to this thread's pool when it is destroyed
// and is what message_buffer() hands out next (empty, capacity kept);
// copies own their bytes, and a moved-from Message gives nothing back.
TEST(MessageBuffers, DestroyedMessagesBufferIsReused) {
  const void* data = nullptr;
  {
    std::string b = message_buffer();
    EXPECT_TRUE(b.empty());
    EXPECT_GE(b.capacity(), 256u);
    b.assign(request("SIP/2.0/UDP h;branch=z9hG4bK1", "<sip:x@y>;tag=f1", "<sip:b@y>"));
    auto m = Message::parse(std::move(b));
    ASSERT_TRUE(m.ok());
    Message copy = *m;
    Message moved = std::move(copy);
    data = m->call_id().data();
    EXPECT_EQ(moved.call_id(), m->call_id());
    EXPECT_NE(moved.call_id().data(), data);
  }
  // `moved` went last (its own buffer), then `m`: LIFO gives m's next but
  // one; either way both came back and the strings are empty.
  std::string first = message_buffer();
  std::string second = message_buffer();
  EXPECT_TRUE(first.empty() && second.empty());
  auto owns = [&](const std::string& s) { return data >= s.data() && data < s.data() + s.capacity(); };
  EXPECT_TRUE(owns(first) || owns(second));
  // A large buffer is not kept (it would be the next one handed out).
  {
    std::string big(64 * 1024, 'x');
    big.assign(request("SIP/2.0/UDP h;branch=z9hG4bK1", "<sip:x@y>;tag=f1", "<sip:b@y>"));
    auto m = Message::parse(std::move(big));
    ASSERT_TRUE(m.ok());
  }
  EXPECT_LE(message_buffer().capacity(), 8192u);
}

TEST(FindParam, FirstMatchCaseInsensitiveQuotedOrNot) {
  ParamView p;
  ASSERT_TRUE(find_param(";q=0.5;Expires=\"6\\0\";expires=1", true, "expires", p));
  EXPECT_EQ(p.name, "Expires");
  EXPECT_TRUE(p.escaped);
  EXPECT_EQ(param_value(p), "60");
  ASSERT_TRUE(find_param(";lr;transport=tcp", false, "lr", p));
  EXPECT_FALSE(p.has_value);
  EXPECT_FALSE(find_param(";a=1", false, "b", p));
  EXPECT_FALSE(find_param("", true, "a", p));
}

// for_each_value() walks exactly what values() returns, on every header of
// every valid torture message (list headers with quotes, <> and escapes
// among them), and stops when asked to.
TEST(MessageValues, ForEachValueMatchesValues) {
  int compared = 0;
  for (const auto& [path, m] : valid_torture_messages()) {
    for (int i = 1; i < static_cast<int>(HeaderId::kCount); ++i) {
      auto id = static_cast<HeaderId>(i);
      std::vector<std::string_view> walked;
      m.for_each_value(id, [&](std::string_view v) {
        walked.push_back(v);
        return true;
      });
      EXPECT_EQ(walked, m.values(id)) << path << " " << header_name(id);
      compared += static_cast<int>(walked.size());
    }
  }
  EXPECT_GT(compared, 50);
  auto m = Message::parse(
      "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h1;branch=z9hG4bK1, SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"
      "Via: SIP/2.0/UDP h3;branch=z9hG4bK3\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
      "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContact: \"A, B\" <sip:a@h;x=\"1,2\">, <sip:b@h>\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(m) << m.error().message;
  std::vector<std::string_view> first_two;
  m->for_each_value(HeaderId::kVia, [&](std::string_view v) {
    first_two.push_back(v);
    return first_two.size() < 2;
  });
  ASSERT_EQ(first_two.size(), 2u);
  EXPECT_EQ(first_two[1], "SIP/2.0/UDP h2;branch=z9hG4bK2");
  EXPECT_EQ(m->values(HeaderId::kContact),
            (std::vector<std::string_view>{"\"A, B\" <sip:a@h;x=\"1,2\">", "<sip:b@h>"}));
}

}  // namespace
}  // namespace hotline::sip
