// RFC 4475 torture messages (tests/sip/data/torture, written by
// make_torture.py from the RFC text): each valid one parses with the values
// the RFC calls out; each invalid one is rejected with the status the RFC
// expects a receiver to send.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sip/message.h"

namespace hotline::sip {
namespace {

std::string load(const std::string& name) {
  std::ifstream f(std::string(HOTLINE_SOURCE_DIR) + "/tests/sip/data/torture/" + name + ".sip",
                  std::ios::binary);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Message parse_ok(const std::string& name) {
  auto m = Message::parse(load(name));
  EXPECT_TRUE(m.ok()) << name << ": " << (m ? "" : m.error().message);
  return m ? *m : Message();
}

std::string parse_err(const std::string& name) {
  auto m = Message::parse(load(name));
  EXPECT_FALSE(m.ok()) << name << " should be rejected";
  return m ? std::string() : m.error().code;
}

TEST(Torture, Wsinv) {
  Message m = parse_ok("valid/wsinv");
  EXPECT_EQ(m.method(), "INVITE");
  EXPECT_EQ(m.request_uri(), "sip:vivekg@chair-dnrc.example.com;unknownparam");
  EXPECT_EQ(m.to_tag(), "1918181833n");
  auto from = m.from();
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->display, "J Rosenberg \\\"");
  EXPECT_EQ(from->tag(), "98asjd8");
  EXPECT_EQ(m.max_forwards(), 68);
  EXPECT_EQ(m.cseq(), 9u);
  EXPECT_EQ(m.cseq_method(), "INVITE");
  EXPECT_EQ(m.header("NewFangledHeader"), "newfangled value continued newfangled value");
  EXPECT_EQ(m.header("UnknownHeaderWithUnusualValue"), ";;,,;;,;");
  EXPECT_TRUE(m.has(HeaderId::kSubject));
  EXPECT_EQ(m.header(HeaderId::kSubject), "");
  auto vias = m.values(HeaderId::kVia);
  ASSERT_EQ(vias.size(), 3u);
  auto v0 = Via::parse(vias[0]);
  ASSERT_TRUE(v0.ok());
  EXPECT_EQ(v0->transport, "UDP");
  EXPECT_EQ(v0->host, "192.0.2.2");
  EXPECT_EQ(v0->branch(), "390skdjuw");
  auto v1 = Via::parse(vias[1]);
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->transport, "TCP");
  EXPECT_EQ(v1->host, "spindle.example.com");
  EXPECT_EQ(v1->branch(), "z9hG4bK9ikj8");
  auto v2 = Via::parse(vias[2]);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->host, "192.168.255.111");
  EXPECT_EQ(v2->branch(), "z9hG4bK30239");
  auto contact = NameAddr::parse(m.header(HeaderId::kContact));
  ASSERT_TRUE(contact.ok());
  EXPECT_EQ(contact->display, "Quoted string \"\"");
  ASSERT_NE(find_param(contact->params, "newparam"), nullptr);
  EXPECT_EQ(find_param(contact->params, "newparam")->value, "newvalue");
  EXPECT_NE(find_param(contact->params, "secondparam"), nullptr);
  EXPECT_EQ(find_param(contact->params, "q")->value, "0.33");
  auto route = NameAddr::parse(m.header(HeaderId::kRoute));
  ASSERT_TRUE(route.ok());
  EXPECT_NE(route->uri.param("lr"), nullptr);
  EXPECT_EQ(route->uri.param("unknownwith")->value, "value");
  EXPECT_EQ(m.body().size(), 150u);
  // Re-serialised form parses to the same values.
  auto again = Message::parse(m.serialize());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->values(HeaderId::kVia).size(), 3u);
  EXPECT_EQ(again->body(), m.body());
}

TEST(Torture, Intmeth) {
  Message m = parse_ok("valid/intmeth");
  EXPECT_EQ(m.method(), "!interesting-Method0123456789_*+`.%indeed'~");
  auto uri = Uri::parse(m.request_uri());
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(uri->user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(uri->password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  EXPECT_EQ(uri->host, "example.com");
  auto to = m.to();
  ASSERT_TRUE(to.ok());
  EXPECT_EQ(to->display, std::string("BEL:\x07 NUL:", 10) + std::string(1, '\0') + " DEL:\x7f");
  auto from = m.from();
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->display, "token1~` token2'+_ token3*%!.-");
  EXPECT_EQ(from->tag(), "_token~1'+`*%!-.");
  EXPECT_EQ(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  EXPECT_EQ(m.max_forwards(), 255);
  EXPECT_EQ(m.header("extensionHeader-!.%*+_`'~"), "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb");
}

TEST(Torture, Esc01) {
  Message m = parse_ok("valid/esc01");
  auto ruri = Uri::parse(m.request_uri());
  ASSERT_TRUE(ruri.ok());
  EXPECT_EQ(ruri->user_unescaped(), "sips:user@example.com");
  EXPECT_EQ(ruri->host, "example.net");
  auto to = m.to();
  ASSERT_TRUE(to.ok());
  EXPECT_EQ(to->uri.user_unescaped(), "user");
  auto from = m.from();
  EXPECT_EQ(from->uri.user_unescaped(), "I have spaces");
  auto c = NameAddr::parse(m.header(HeaderId::kContact));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->uri.user_unescaped(), "caller");
  EXPECT_EQ(m.call_id(), "esc01.239409asdfakjkn23onasd0-3234");
  EXPECT_EQ(m.header(HeaderId::kContentType), "application/sdp");
  // Escaped and unescaped forms of the same URI are equivalent (§19.1.4).
  auto plain = Uri::parse("sip:user@example.com");
  EXPECT_TRUE(to->uri.equivalent(*plain));
}

TEST(Torture, Escnull) {
  Message m = parse_ok("valid/escnull");
  auto contacts = m.values(HeaderId::kContact);
  ASSERT_EQ(contacts.size(), 2u);
  auto c0 = NameAddr::parse(contacts[0]);
  auto c1 = NameAddr::parse(contacts[1]);
  ASSERT_TRUE(c0.ok() && c1.ok());
  EXPECT_EQ(c0->uri.user_unescaped(), std::string(1, '\0'));
  EXPECT_EQ(c1->uri.user_unescaped(), std::string(2, '\0'));
  EXPECT_EQ(m.to()->uri.user_unescaped(), std::string("null-\0-null", 11));
}

TEST(Torture, Esc02) {
  Message m = parse_ok("valid/esc02");
  // The method is "RE%47IST%45R", which is not REGISTER: escapes are not
  // decoded in methods.
  EXPECT_EQ(m.method(), "RE%47IST%45R");
  EXPECT_NE(m.method(), "REGISTER");
  EXPECT_EQ(m.values(HeaderId::kContact).size(), 2u);  // C%6Fntact is another header
  EXPECT_EQ(m.header("C%6Fntact"), "<sip:alias2@host2.example.com>");
  EXPECT_EQ(m.to()->display, "%Z%45");
}

TEST(Torture, Lwsdisp) {
  Message m = parse_ok("valid/lwsdisp");
  EXPECT_EQ(m.from()->display, "caller");
  EXPECT_EQ(m.from()->uri.user, "caller");
}

TEST(Torture, Dblreq) {
  // Only the first request (Content-Length: 0) is the message; the rest of
  // the datagram is discarded.
  Message m = parse_ok("valid/dblreq");
  EXPECT_EQ(m.method(), "REGISTER");
  EXPECT_EQ(m.body(), "");
  EXPECT_EQ(m.call_id(), "dblreq.0ha0isndaksdj99sdfafnl3lk233412");
}

TEST(Torture, Semiuri) {
  Message m = parse_ok("valid/semiuri");
  auto u = Uri::parse(m.request_uri());
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->user, "user;par=u%40example.net");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_TRUE(u->params.empty());
  EXPECT_EQ(m.values(HeaderId::kAccept).size(), 6u);
}

TEST(Torture, Transports) {
  Message m = parse_ok("valid/transports");
  auto vias = m.values(HeaderId::kVia);
  ASSERT_EQ(vias.size(), 5u);
  std::vector<std::string> t;
  for (auto v : vias) t.push_back(Via::parse(v)->transport);
  EXPECT_EQ(t, (std::vector<std::string>{"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"}));
}

TEST(Torture, UnreasonAndNoreason) {
  Message m = parse_ok("valid/unreason");
  EXPECT_EQ(m.status(), 200);
  EXPECT_EQ(m.method(), "INVITE");
  EXPECT_EQ(m.body().size(), 154u);
  Message n = parse_ok("valid/noreason");
  EXPECT_EQ(n.status(), 100);
  EXPECT_EQ(n.reason(), "");
}

TEST(Torture, Inv2543HasNoBranchOrMaxForwards) {
  Message m = parse_ok("valid/inv2543");
  EXPECT_EQ(m.top_via()->branch(), "");
  EXPECT_EQ(m.max_forwards(), -1);
  EXPECT_EQ(m.from_tag(), "");
}

TEST(Torture, UnknownSchemesParseButAre416) {
  Message m = parse_ok("valid/unkscm");
  EXPECT_EQ(request_uri_status(m), 416);
  Message n = parse_ok("valid/novelsc");
  EXPECT_EQ(request_uri_status(n), 416);
}

TEST(Torture, Bext01ParsesRequireList) {
  Message m = parse_ok("valid/bext01");
  auto req = m.values(HeaderId::kRequire);
  ASSERT_EQ(req.size(), 2u);
  EXPECT_EQ(req[1], "nothingSupportsThisEither");
}

TEST(Torture, RegbadctContactIsRejected) {
  // The message parses; the registrar must refuse the Contact (400).
  Message m = parse_ok("valid/regbadct");
  EXPECT_FALSE(NameAddr::parse(m.header(HeaderId::kContact)).ok());
}

class TortureInvalid : public ::testing::TestWithParam<const char*> {};

TEST_P(TortureInvalid, Rejected400) {
  EXPECT_EQ(parse_err(std::string("invalid/") + GetParam()), kErrBadRequest);
}

INSTANTIATE_TEST_SUITE_P(Rfc4475, TortureInvalid,
                         ::testing::Values("badinv01", "clerr", "scalar02", "ncl", "scalarlg", "quotbal",
                                           "ltgtruri", "lwsruri", "lwsstart", "trws", "escruri", "badaspec",
                                           "baddn", "mismatch01", "mismatch02", "bigcode", "insuf", "multi01",
                                           "mcl01"));

TEST(Torture, BadversIs505) { EXPECT_EQ(parse_err("invalid/badvers"), kErrBadVersion); }

// What the stack sends back for each invalid request (RFC 4475 §3.1.2):
// 400 (505 for badvers) when the headers a response needs are present;
// nothing for a response (bigcode, scalarlg) or when they are missing (insuf).
TEST(Torture, ErrorResponsesForInvalidMessages) {
  struct Case {
    const char* name;
    int status;  // 0 = no response possible
  } cases[] = {{"badinv01", 400},   {"clerr", 400},      {"scalar02", 400}, {"ncl", 400},
               {"quotbal", 400},    {"ltgtruri", 400},   {"lwsruri", 400},  {"lwsstart", 400},
               {"trws", 400},       {"escruri", 400},    {"badaspec", 400}, {"baddn", 400},
               {"mismatch01", 400}, {"mismatch02", 400}, {"multi01", 400},  {"mcl01", 400},
               {"badvers", 505},    {"insuf", 0},        {"bigcode", 0},    {"scalarlg", 0}};
  for (const auto& c : cases) {
    std::string raw = load(std::string("invalid/") + c.name);
    auto parsed = Message::parse(raw);
    ASSERT_FALSE(parsed.ok()) << c.name;
    auto r = error_response_for(raw, parsed.error());
    if (c.status == 0) {
      EXPECT_FALSE(r.has_value()) << c.name;
      continue;
    }
    ASSERT_TRUE(r.has_value()) << c.name;
    // The response echoes the request's (possibly malformed) headers, as
    // §8.2.6 asks, so only its start line and identifiers are checked.
    EXPECT_EQ(r->rfind("SIP/2.0 " + std::to_string(c.status) + " ", 0), 0u) << c.name;
    size_t cid = raw.find("Call-ID: ");
    if (cid != std::string::npos) {
      std::string line = raw.substr(cid, raw.find("\r\n", cid) - cid);
      EXPECT_NE(r->find(line), std::string::npos) << c.name;
    }
    EXPECT_NE(r->find("To: "), std::string::npos) << c.name;
    EXPECT_NE(r->find(";tag="), std::string::npos) << c.name;
    EXPECT_LE(r->size(), raw.size() + 200) << c.name;  // no amplification to speak of
  }
}

}  // namespace
}  // namespace hotline::sip
