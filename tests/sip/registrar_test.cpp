// Registrar + digest (RFC 3261 §10, RFC 7616) with a FakeClock.
#include "sip/registrar.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace hotline::sip {
namespace {

using namespace std::chrono_literals;

struct Events : RegistrarListener {
  std::vector<std::pair<BindingEvent, std::string>> seen;
  void on_binding(BindingEvent e, const Binding& b) override { seen.emplace_back(e, b.contact); }
};

class RegistrarTest : public ::testing::Test {
 protected:
  RegistrarTest() : reg_(config(), store_, clock_) {
    store_.add_domain("acme.example.com", "t1");
    store_.add_user("t1", "201", "secret201");
    reg_.set_listener(&events_);
    reg_.set_auth_observer([this](const Peer&, bool ok) { (ok ? auth_ok_ : auth_fail_)++; });
  }
  static RegistrarConfig config() {
    RegistrarConfig c;
    c.min_expires = 60s;
    c.max_expires = 3600s;
    c.max_contacts_per_aor = 3;
    c.offer_sha256 = true;
    return c;
  }

  Message reg(std::string_view user, std::string_view contact, std::optional<int> expires = std::nullopt,
              std::uint32_t cseq = 1, std::string_view domain = "acme.example.com") {
    Message m = Message::request("REGISTER", "sip:" + std::string(domain));
    m.add_header(HeaderId::kVia,
                 "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=" + random_token(10).insert(0, "z9hG4bK"));
    m.add_header(HeaderId::kMaxForwards, "70");
    std::string aor = "<sip:" + std::string(user) + "@" + std::string(domain) + ">";
    m.add_header(HeaderId::kFrom, aor + ";tag=f1");
    m.add_header(HeaderId::kTo, aor);
    m.add_header(HeaderId::kCallId, call_id_);
    m.add_header(HeaderId::kCSeq, std::to_string(cseq) + " REGISTER");
    if (!contact.empty()) m.add_header(HeaderId::kContact, contact);
    if (expires) m.add_header(HeaderId::kExpires, std::to_string(*expires));
    return m;
  }

  Message send(const Message& m) {
    std::optional<Message> out;
    reg_.handle(m, peer_, [&](Message r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? *out : Message();
  }

  // Challenge, then answer it with `password` using the challenge's first
  // algorithm unless md5 is forced.
  Message register_with(Message m, std::string_view user, std::string_view password, bool force_md5 = false) {
    Message ch = send(m);
    EXPECT_EQ(ch.status(), 401);
    auto chs = ch.values(HeaderId::kWwwAuthenticate);
    EXPECT_FALSE(chs.empty());
    auto c = DigestChallenge::parse(force_md5 ? chs.front() : chs.back());
    EXPECT_TRUE(c.ok());
    m.add_header(HeaderId::kAuthorization,
                 digest_authorization(*c, user, password, "REGISTER", m.request_uri(), "abc", 1));
    return send(m);
  }

  common::FakeClock clock_;
  InMemoryCredentialStore store_;
  Registrar reg_;
  Events events_;
  int auth_ok_ = 0, auth_fail_ = 0;
  std::string call_id_ = "reg-1@10.0.0.5";
  Peer peer_{Transport::kUdp, "203.0.113.7", 40000, 0};
};

TEST_F(RegistrarTest, ChallengeOffersMd5ThenSha256WithQopAuth) {
  Message r = send(reg("201", "<sip:201@10.0.0.5:5060>"));
  EXPECT_EQ(r.status(), 401);
  auto chs = r.values(HeaderId::kWwwAuthenticate);
  ASSERT_EQ(chs.size(), 2u);
  auto a = DigestChallenge::parse(chs[0]);
  auto b = DigestChallenge::parse(chs[1]);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->algorithm, DigestAlgorithm::kMd5);
  EXPECT_EQ(b->algorithm, DigestAlgorithm::kSha256);
  EXPECT_EQ(a->realm, "acme.example.com");
  EXPECT_EQ(a->qop, "auth");
  EXPECT_FALSE(a->stale);
  // Symmetric response routing: received + rport filled in (RFC 3581).
  auto via = r.top_via();
  EXPECT_EQ(via->params.size(), 3u);
  EXPECT_EQ(find_param(via->params, "received")->value, "203.0.113.7");
  EXPECT_EQ(find_param(via->params, "rport")->value, "40000");
  EXPECT_FALSE(r.to_tag().empty());
  EXPECT_TRUE(events_.seen.empty());
}

TEST_F(RegistrarTest, Md5RegistrationCreatesBindingWithFlow) {
  Message r = register_with(reg("201", "<sip:201@10.0.0.5:5060>", 600), "201", "secret201", true);
  EXPECT_EQ(r.status(), 200);
  auto contacts = r.values(HeaderId::kContact);
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0], "<sip:201@10.0.0.5:5060>;expires=600");
  EXPECT_FALSE(r.header("Date").empty());
  auto b = reg_.lookup("201@acme.example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].flow, peer_);  // NAT: requests go to where REGISTER came from
  EXPECT_EQ(b[0].tenant, "t1");
  EXPECT_EQ(events_.seen.size(), 1u);
  EXPECT_EQ(events_.seen[0].first, BindingEvent::kRegistered);
  EXPECT_EQ(auth_ok_, 1);
}

TEST_F(RegistrarTest, Md5OnlyByDefaultForClientCompatibility) {
  RegistrarConfig c;
  Registrar r(c, store_, clock_);
  std::optional<Message> out;
  r.handle(reg("201", "<sip:201@10.0.0.5>"), peer_, [&](Message m) { out = std::move(m); });
  ASSERT_TRUE(out.has_value());
  auto chs = out->values(HeaderId::kWwwAuthenticate);
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(DigestChallenge::parse(chs[0])->algorithm, DigestAlgorithm::kMd5);
}

TEST_F(RegistrarTest, Sha256FirstWhenConfigured) {
  RegistrarConfig c = config();
  c.sha256_first = true;
  Registrar r(c, store_, clock_);
  std::optional<Message> out;
  r.handle(reg("201", "<sip:201@10.0.0.5>"), peer_, [&](Message m) { out = std::move(m); });
  EXPECT_EQ(DigestChallenge::parse(out->values(HeaderId::kWwwAuthenticate).front())->algorithm,
            DigestAlgorithm::kSha256);
}

TEST_F(RegistrarTest, Sha256Registration) {
  Message r = register_with(reg("201", "<sip:201@10.0.0.5>"), "201", "secret201");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(reg_.binding_count(), 1u);
}

TEST_F(RegistrarTest, Ha1OnlyCredentials) {
  store_.add_credential(
      Credential{"t1", "202", "", digest_ha1(DigestAlgorithm::kMd5, "202", "acme.example.com", "pw"), ""});
  Message r = register_with(reg("202", "<sip:202@10.0.0.6>"), "202", "pw", true);
  EXPECT_EQ(r.status(), 200);
}

TEST_F(RegistrarTest, WrongPasswordAndUnknownUserLookTheSame) {
  Message known = register_with(reg("201", "<sip:201@10.0.0.5>"), "201", "wrong");
  Message unknown = register_with(reg("999", "<sip:999@10.0.0.5>"), "999", "whatever");
  Message bad_domain = register_with(reg("201", "<sip:201@10.0.0.5>", std::nullopt, 1, "other.example.org"),
                                     "201", "secret201");
  EXPECT_EQ(known.status(), 403);
  EXPECT_EQ(unknown.status(), 403);
  EXPECT_EQ(bad_domain.status(), 403);
  EXPECT_EQ(known.reason(), unknown.reason());
  EXPECT_EQ(known.header_list().size(), unknown.header_list().size());
  // The challenges too: same headers, same shape.
  Message c1 = send(reg("201", "<sip:201@10.0.0.5>"));
  Message c2 = send(reg("nobody", "<sip:nobody@10.0.0.5>"));
  EXPECT_EQ(c1.status(), c2.status());
  EXPECT_EQ(c1.values(HeaderId::kWwwAuthenticate).size(), c2.values(HeaderId::kWwwAuthenticate).size());
  EXPECT_EQ(auth_fail_, 3);
  EXPECT_EQ(reg_.binding_count(), 0u);
}

TEST_F(RegistrarTest, AuthUserMustMatchAor) {
  store_.add_user("t1", "202", "pw202");
  Message m = reg("201", "<sip:201@10.0.0.5>");
  Message r = register_with(m, "202", "pw202");
  EXPECT_EQ(r.status(), 403);
}

TEST_F(RegistrarTest, ExpiredNonceIsStale) {
  Message m = reg("201", "<sip:201@10.0.0.5>");
  Message ch = send(m);
  auto c = DigestChallenge::parse(ch.values(HeaderId::kWwwAuthenticate).front());
  clock_.advance(301s);
  m.add_header(HeaderId::kAuthorization,
               digest_authorization(*c, "201", "secret201", "REGISTER", m.request_uri(), "x", 1));
  Message r = send(m);
  EXPECT_EQ(r.status(), 401);
  auto again = DigestChallenge::parse(r.values(HeaderId::kWwwAuthenticate).back());
  EXPECT_TRUE(again->stale);
}

TEST_F(RegistrarTest, ForgedNonceIsChallengedAgainNotStale) {
  Message m = reg("201", "<sip:201@10.0.0.5>");
  DigestChallenge fake;
  fake.realm = "acme.example.com";
  fake.nonce = std::string(48, 'a');
  fake.qop = "auth";
  m.add_header(HeaderId::kAuthorization,
               digest_authorization(fake, "201", "secret201", "REGISTER", m.request_uri(), "x", 1));
  Message r = send(m);
  EXPECT_EQ(r.status(), 401);
  EXPECT_FALSE(DigestChallenge::parse(r.values(HeaderId::kWwwAuthenticate).back())->stale);
}

TEST_F(RegistrarTest, IntervalTooBriefIs423WithMinExpires) {
  Message r = register_with(reg("201", "<sip:201@10.0.0.5>", 30), "201", "secret201");
  EXPECT_EQ(r.status(), 423);
  EXPECT_EQ(r.header(HeaderId::kMinExpires), "60");
}

TEST_F(RegistrarTest, ExpiresCappedAtMax) {
  Message r = register_with(reg("201", "<sip:201@10.0.0.5>;expires=99999"), "201", "secret201");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.values(HeaderId::kContact)[0], "<sip:201@10.0.0.5>;expires=3600");
}

TEST_F(RegistrarTest, SeveralContactsRefreshAndUnregister) {
  register_with(reg("201", "<sip:201@10.0.0.5>", 600, 1), "201", "secret201");
  register_with(reg("201", "<sip:201@10.0.0.9>", 600, 3), "201", "secret201");
  EXPECT_EQ(reg_.lookup("201@acme.example.com").size(), 2u);
  Message r = register_with(reg("201", "<sip:201@10.0.0.5>", 0, 5), "201", "secret201");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.values(HeaderId::kContact).size(), 1u);
  EXPECT_EQ(events_.seen.back().first, BindingEvent::kUnregistered);
  // Same contact again: a refresh, not a new binding.
  register_with(reg("201", "<sip:201@10.0.0.9>", 600, 7), "201", "secret201");
  EXPECT_EQ(events_.seen.back().first, BindingEvent::kRefreshed);
  EXPECT_EQ(reg_.binding_count(), 1u);
}

TEST_F(RegistrarTest, OutOfOrderCSeqIs500) {
  register_with(reg("201", "<sip:201@10.0.0.5>", 600, 10), "201", "secret201");
  Message r = register_with(reg("201", "<sip:201@10.0.0.5>", 600, 4), "201", "secret201");
  EXPECT_EQ(r.status(), 500);
}

TEST_F(RegistrarTest, RetransmittedRegisterIsIdempotent) {
  Message m = reg("201", "<sip:201@10.0.0.5>", 600, 10);
  Message ch = send(m);
  auto c = DigestChallenge::parse(ch.values(HeaderId::kWwwAuthenticate).front());
  m.add_header(HeaderId::kAuthorization,
               digest_authorization(*c, "201", "secret201", "REGISTER", m.request_uri(), "x", 1));
  EXPECT_EQ(send(m).status(), 200);
  EXPECT_EQ(send(m).status(), 200);  // same Call-ID and CSeq: a retransmission
  EXPECT_EQ(reg_.binding_count(), 1u);
}

TEST_F(RegistrarTest, WildcardUnregisterNeedsExpiresZero) {
  register_with(reg("201", "<sip:201@10.0.0.5>", 600, 1), "201", "secret201");
  register_with(reg("201", "<sip:201@10.0.0.6>", 600, 3), "201", "secret201");
  EXPECT_EQ(register_with(reg("201", "*", 10, 5), "201", "secret201").status(), 400);
  EXPECT_EQ(register_with(reg("201", "*", 0, 7), "201", "secret201").status(), 200);
  EXPECT_EQ(reg_.binding_count(), 0u);
}

TEST_F(RegistrarTest, BadContactIs400BeforeAuth) {
  Message m = reg("201", "sip:201@10.0.0.5?Route=%3Csip:x%3E");
  EXPECT_EQ(send(m).status(), 400);
}

TEST_F(RegistrarTest, QueryReturnsBindingsWithoutChange) {
  register_with(reg("201", "<sip:201@10.0.0.5>", 600, 1), "201", "secret201");
  Message r = register_with(reg("201", "", std::nullopt, 3), "201", "secret201");
  EXPECT_EQ(r.status(), 200);
  EXPECT_EQ(r.values(HeaderId::kContact).size(), 1u);
}

TEST_F(RegistrarTest, MaxContactsEvictsTheOldest) {
  for (int i = 0; i < 4; ++i)
    register_with(reg("201", "<sip:201@10.0.0." + std::to_string(10 + i) + ">", 600 + i, 1 + 2 * i), "201",
                  "secret201");
  auto b = reg_.lookup("201@acme.example.com");
  EXPECT_EQ(b.size(), 3u);
  for (const auto& x : b) EXPECT_NE(x.contact, "sip:201@10.0.0.10");
}

TEST_F(RegistrarTest, BindingsExpireWithEvent) {
  register_with(reg("201", "<sip:201@10.0.0.5>", 60), "201", "secret201");
  clock_.advance(59s);
  reg_.expire();
  EXPECT_EQ(reg_.binding_count(), 1u);
  clock_.advance(1s);
  reg_.expire();
  EXPECT_EQ(reg_.binding_count(), 0u);
  EXPECT_EQ(events_.seen.back().first, BindingEvent::kExpired);
}

TEST_F(RegistrarTest, ReachabilityEvents) {
  register_with(reg("201", "<sip:201@10.0.0.5>", 600), "201", "secret201");
  reg_.set_reachable("201@acme.example.com", "sip:201@10.0.0.5", false);
  EXPECT_EQ(events_.seen.back().first, BindingEvent::kUnreachable);
  EXPECT_FALSE(reg_.lookup("201@acme.example.com")[0].reachable);
  reg_.set_reachable("201@acme.example.com", "sip:201@10.0.0.5", true);
  EXPECT_EQ(events_.seen.back().first, BindingEvent::kReachable);
}

// The stack's form: one long-lived responder, told where to send.
TEST_F(RegistrarTest, ResponderIsToldThePeer) {
  std::vector<std::pair<Peer, int>> sent;
  Registrar::Responder respond = [&](const Peer& to, Message r) { sent.emplace_back(to, r.status()); };
  reg_.handle(reg("201", "<sip:201@10.0.0.5>"), peer_, respond);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].first.ip, peer_.ip);
  EXPECT_EQ(sent[0].first.port, peer_.port);
  EXPECT_EQ(sent[0].second, 401);
}

// A store that implements only lookup_now() (no visit_now()) is read
// through the default visit_now(), which copies the credential.
TEST_F(RegistrarTest, StoreWithOnlyLookupNowStillAuthenticates) {
  struct CopyOnly : CredentialStore {
    int copies = 0;
    std::optional<std::string> tenant_for_domain(std::string_view) override { return "t1"; }
    void lookup(std::string_view, std::string_view, std::function<void(std::optional<Credential>)>) override {
      ADD_FAILURE() << "lookup_now() answers";
    }
    bool lookup_now(std::string_view, std::string_view user, std::optional<Credential>& out) override {
      ++copies;
      if (user == "201")
        out = Credential{"t1", "201", "pw", {}, {}};
      else
        out.reset();
      return true;
    }
  } store;
  Registrar r(config(), store, clock_);
  auto send_to = [&](const Message& m) {
    std::optional<Message> out;
    r.handle(m, peer_, [&](Message x) { out = std::move(x); });
    return out;
  };
  Message m = reg("201", "<sip:201@10.0.0.5>");
  auto ch = send_to(m);
  ASSERT_TRUE(ch && ch->status() == 401);
  auto c = DigestChallenge::parse(ch->values(HeaderId::kWwwAuthenticate).front());
  m.add_header(HeaderId::kAuthorization,
               digest_authorization(*c, "201", "pw", "REGISTER", m.request_uri(), "x", 1));
  auto ok = send_to(m);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status(), 200);
  EXPECT_EQ(store.copies, 1);
}

// A quoted expires parameter with an escape is read unescaped; a Contact
// given with upper-case scheme is stored in the owned URI's form.
TEST_F(RegistrarTest, ContactParamsAndUriReadFromTheViews) {
  Message ok =
      register_with(reg("201", "<SIP:201@10.0.0.5;transport=udp>;expires=\"12\\0\""), "201", "secret201");
  ASSERT_EQ(ok.status(), 200);
  auto b = reg_.lookup("201@acme.example.com");
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].contact, "sip:201@10.0.0.5;transport=udp");
  EXPECT_EQ(b[0].expires_at - clock_.now(), 120s);
}

TEST_F(RegistrarTest, AsyncStoreAnswersLater) {
  struct Deferred : CredentialStore {
    std::function<void(std::optional<Credential>)> pending;
    std::optional<std::string> tenant_for_domain(std::string_view) override { return "t1"; }
    void lookup(std::string_view, std::string_view,
                std::function<void(std::optional<Credential>)> done) override {
      pending = std::move(done);
    }
  } store;
  Registrar r(config(), store, clock_);
  Message m = reg("201", "<sip:201@10.0.0.5>");
  std::optional<Message> out;
  r.handle(m, peer_, [&](Message x) { out = std::move(x); });
  auto c = DigestChallenge::parse(out->values(HeaderId::kWwwAuthenticate).back());
  m.add_header(HeaderId::kAuthorization,
               digest_authorization(*c, "201", "pw", "REGISTER", m.request_uri(), "x", 1));
  out.reset();
  r.handle(m, peer_, [&](Message x) { out = std::move(x); });
  EXPECT_FALSE(out.has_value());
  ASSERT_TRUE(store.pending);
  store.pending(Credential{"t1", "201", "pw", {}, {}});
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->status(), 200);
}

TEST(Digest, Rfc7616Sha256Example) {
  // RFC 7616 §3.9.1 example ("Mufasa"/"Circle of Life"), SHA-256, qop=auth.
  DigestCredentials c;
  c.username = "Mufasa";
  c.realm = "http-auth@example.org";
  c.nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  c.uri = "/dir/index.html";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  auto ha1 = digest_ha1(DigestAlgorithm::kSha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(digest_response(DigestAlgorithm::kSha256, ha1, c, "GET"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  auto ha1m = digest_ha1(DigestAlgorithm::kMd5, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(digest_response(DigestAlgorithm::kMd5, ha1m, c, "GET"), "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(Digest, ParsesAuthorizationWithQuotesAndUnsupportedAlgorithm) {
  auto c = DigestCredentials::parse(
      "Digest username=\"a\\\"b\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"abc\", "
      "algorithm=MD5-sess, "
      "qop=auth, nc=00000001, cnonce=\"cn\"");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->username, "a\"b");
  EXPECT_FALSE(c->algorithm_supported);
  EXPECT_FALSE(DigestCredentials::parse("Basic Zm9vOmJhcg==").ok());
  EXPECT_FALSE(DigestCredentials::parse("Digest username=\"unterminated").ok());
}

// The view parse (the registrar's per-REGISTER path) reads the same values
// as the owned one; escaped quoted values are unescaped into the scratch
// buffer, and several of them stay valid together.
TEST(Digest, ViewParseMatchesOwnedParseAndUnescapesIntoScratch) {
  const std::string value =
      "Digest username=\"a\\\"b\", realm=\"r\\\\x\", nonce=\"n\", uri=\"sip:x\", response=\"abc\", "
      "algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c\\\"n\", opaque=\"o\"";
  auto owned = DigestCredentials::parse(value);
  ASSERT_TRUE(owned.ok());
  std::string scratch;
  DigestCredentialsView v;
  ASSERT_EQ(v.parse(value, scratch), nullptr);
  EXPECT_EQ(v.username, "a\"b");
  EXPECT_EQ(v.realm, "r\\x");
  EXPECT_EQ(v.cnonce, "c\"n");
  for (auto [a, b] : {std::pair{v.username, owned->username},
                      {v.realm, owned->realm},
                      {v.nonce, owned->nonce},
                      {v.uri, owned->uri},
                      {v.response, owned->response},
                      {v.cnonce, owned->cnonce},
                      {v.nc, owned->nc},
                      {v.qop, owned->qop},
                      {v.opaque, owned->opaque}})
    EXPECT_EQ(a, std::string_view(b));
  // Values without escapes are views into the header value itself.
  EXPECT_GE(v.nonce.data(), value.data());
  EXPECT_LT(v.nonce.data(), value.data() + value.size());
  EXPECT_NE(v.parse("Digest username=\"x\"", scratch), nullptr);  // no nonce, uri, response
  EXPECT_NE(v.parse("Basic Zm9vOmJhcg==", scratch), nullptr);
}

TEST(Digest, NonceWrittenInPlaceIsTheIssuedOne) {
  NonceManager n("secret", 300s);
  char out[NonceManager::kNonceSize];
  n.issue_to("r", 1'700'000'000'000, out);
  EXPECT_EQ(std::string_view(out, sizeof out), n.issue("r", 1'700'000'000'000));
  EXPECT_EQ(n.check(std::string_view(out, sizeof out), "r", 1'700'000'000'500), NonceManager::Check::kValid);
}

// Client side (outbound INVITE to a challenging trunk): the Authorization
// value built from a challenge, checked against the RFCs' worked examples.
constexpr const char* kRfc7616Challenge =
    "realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

TEST(DigestClient, AnswersRfc7616ChallengesPreferringSha256) {
  // RFC 7616 §3.9.1: the server offers SHA-256 and MD5 for one realm.
  std::string sha = std::string("Digest ") + kRfc7616Challenge + ", algorithm=SHA-256";
  std::string md5 = std::string("Digest ") + kRfc7616Challenge + ", algorithm=MD5";
  auto chs = answerable_challenges({md5, sha});
  ASSERT_EQ(chs.size(), 1u);
  EXPECT_EQ(chs[0].algorithm, DigestAlgorithm::kSha256);
  std::string cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  auto a = digest_authorization(chs[0], "Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce, 1);
  auto parsed = DigestCredentials::parse(a);
  ASSERT_TRUE(parsed.ok()) << a;
  EXPECT_EQ(parsed->response, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  EXPECT_EQ(parsed->algorithm, DigestAlgorithm::kSha256);
  EXPECT_EQ(parsed->qop, "auth");
  EXPECT_EQ(parsed->nc, "00000001");
  EXPECT_EQ(parsed->cnonce, cnonce);
  EXPECT_EQ(parsed->opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
  EXPECT_EQ(parsed->uri, "/dir/index.html");

  auto only_md5 = answerable_challenges({md5});
  ASSERT_EQ(only_md5.size(), 1u);
  auto m = DigestCredentials::parse(
      digest_authorization(only_md5[0], "Mufasa", "Circle of Life", "GET", "/dir/index.html", cnonce, 1));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->response, "8ca523f5e9506fed4657c9700eebdbec");
}

TEST(DigestClient, Rfc2617QopAndRfc2069WithoutQop) {
  // RFC 2617 §3.5 (password "Circle Of Life", qop=auth, cnonce 0a4f113b).
  auto ch = DigestChallenge::parse(
      "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
      "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"");
  ASSERT_TRUE(ch.ok());
  auto c = DigestCredentials::parse(
      digest_authorization(*ch, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b", 1));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->response, "6629fae49393a05397450978507c4ef1");
  // RFC 2069 (no qop offered: no qop, nc or cnonce in the answer).
  auto old = DigestChallenge::parse(
      "Digest realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\"");
  ASSERT_TRUE(old.ok());
  std::string a = digest_authorization(*old, "Mufasa", "CircleOfLife", "GET", "/dir/index.html", "unused", 1);
  auto o = DigestCredentials::parse(a);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->response, "1949323746fe6a43ef61f9606e7febea");
  EXPECT_TRUE(o->qop.empty());
  EXPECT_EQ(a.find("cnonce"), std::string::npos);
}

TEST(DigestClient, SkipsWhatItCannotAnswerAndAnswersEachRealm) {
  std::vector<std::string_view> values = {
      "Digest realm=\"a\", nonce=\"1\", qop=\"auth-int\"",        // auth-int only
      "Digest realm=\"a\", nonce=\"2\", algorithm=SHA-512-256",   // unknown algorithm
      "Basic realm=\"a\"",                                        // other scheme
      "Digest realm=\"a\", nonce=\"3\", qop=\"auth-int, auth\"",  // answerable
      "Digest realm=\"b\", nonce=\"4\"",                          // a second proxy
  };
  auto chs = answerable_challenges(values);
  ASSERT_EQ(chs.size(), 2u);
  EXPECT_EQ(chs[0].nonce, "3");
  EXPECT_EQ(chs[1].nonce, "4");
  EXPECT_TRUE(answerable_challenges({values[0], values[1], values[2]}).empty());
}

TEST(DigestClient, QuotesUsernameAndRoundTrips) {
  DigestChallenge ch;
  ch.realm = "r";
  ch.nonce = "n";
  ch.qop = "auth";
  auto a = digest_authorization(ch, "we\"ird\\user", "pw", "INVITE", "sip:x@y", "c", 1);
  auto c = DigestCredentials::parse(a);
  ASSERT_TRUE(c.ok()) << a;
  EXPECT_EQ(c->username, "we\"ird\\user");
  // The server side accepts what the client side computed.
  auto ha1 = digest_ha1(DigestAlgorithm::kMd5, "we\"ird\\user", "r", "pw");
  EXPECT_EQ(digest_response(DigestAlgorithm::kMd5, ha1, *c, "INVITE"), c->response);
}

}  // namespace
}  // namespace hotline::sip
