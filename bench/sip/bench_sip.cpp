// bench_sip — parse/serialize a typical INVITE and 200 OK, plus the CPU
// cost of one authenticated registration inside the registrar (challenge +
// digest check + binding update), without sockets.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <new>

#include "common/clock.h"
#include "sip/registrar.h"

using namespace hotline::sip;

// Counts C++ heap allocations (operator new; OpenSSL's own mallocs are not
// seen) so BM_AuthenticatedRegistration can report the server's per
// registration count. The benchmarks are single-threaded.
namespace {
std::uint64_t g_allocations = 0;
}  // namespace
// GCC sees free() of operator new's memory once these are inlined; here
// that is exactly the pairing intended.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

const std::string kInvite =
    "INVITE sip:201@pbx.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:201@pbx.example.com>\r\n"
    "From: \"Alice Agent\" <sip:alice@pbx.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.10:5060>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY\r\n"
    "Supported: replaces, timer\r\n"
    "User-Agent: Yealink SIP-T46S 66.86.0.15\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 232\r\n"
    "\r\n"
    "v=0\r\n"
    "o=- 20518 0 IN IP4 192.0.2.10\r\n"
    "s=SDP data\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 11796 RTP/AVP 0 8 18 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

std::string ok_response() {
  auto inv = Message::parse(kInvite);
  Message r = make_response(*inv, 200, nullptr, "a6c85cf");
  r.add_header(HeaderId::kContact, "<sip:hotline@198.51.100.1:5060>");
  r.add_header(HeaderId::kAllow, "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER");
  r.set_body("application/sdp", inv->body());
  return r.serialize();
}

void BM_ParseInvite(benchmark::State& st) {
  for (auto _ : st) {
    auto m = Message::parse(kInvite);
    benchmark::DoNotOptimize(m);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_ParseInvite);

void BM_ParseInviteAndReadHeaders(benchmark::State& st) {
  // What the stack reads of every INVITE: Via, tags, CSeq, Max-Forwards.
  for (auto _ : st) {
    auto m = Message::parse(kInvite);
    auto via = m->top_via();
    benchmark::DoNotOptimize(via);
    benchmark::DoNotOptimize(m->from_tag());
    benchmark::DoNotOptimize(m->to_tag());
    benchmark::DoNotOptimize(m->cseq());
    benchmark::DoNotOptimize(m->max_forwards());
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_ParseInviteAndReadHeaders);

void BM_SerializeInvite(benchmark::State& st) {
  auto m = Message::parse(kInvite);
  std::string out;
  for (auto _ : st) {
    out.clear();
    m->serialize_to(out);
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_SerializeInvite);

void BM_Parse200Ok(benchmark::State& st) {
  std::string wire = ok_response();
  for (auto _ : st) {
    auto m = Message::parse(wire);
    benchmark::DoNotOptimize(m);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Parse200Ok);

void BM_Build200Ok(benchmark::State& st) {
  // Build the 200 from the parsed INVITE and serialise it.
  auto inv = Message::parse(kInvite);
  Peer from{Transport::kUdp, "203.0.113.9", 5060, 0};
  for (auto _ : st) {
    Message r = make_response(*inv, 200, &from, "a6c85cf");
    r.add_header(HeaderId::kContact, "<sip:hotline@198.51.100.1:5060>");
    r.set_body("application/sdp", inv->body());
    std::string out = r.serialize();
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Build200Ok);

void BM_Serialize200Ok(benchmark::State& st) {
  auto m = Message::parse(ok_response());
  std::string out;
  for (auto _ : st) {
    out.clear();
    m->serialize_to(out);
    benchmark::DoNotOptimize(out);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_Serialize200Ok);

void BM_AuthenticatedRegistration(benchmark::State& st) {
  // REGISTER -> 401 -> REGISTER with MD5 digest -> 200, in the registrar
  // only (parsing of both requests included; no sockets).
  hotline::common::SystemClock& clock = hotline::common::SystemClock::instance();
  InMemoryCredentialStore store;
  store.add_domain("pbx.example.com", "t1");
  for (int i = 0; i < 1000; ++i)
    store.add_user("t1", std::to_string(1000 + i), "pw" + std::to_string(1000 + i));
  RegistrarConfig cfg;
  Registrar reg(cfg, store, clock);
  Peer from{Transport::kUdp, "192.0.2.10", 5060, 0};
  int i = 0;
  std::uint64_t server_allocations = 0;  // parse + registrar, not the client side
  for (auto _ : st) {
    std::string user = std::to_string(1000 + (i++ % 1000));
    std::string base =
        "REGISTER sip:pbx.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" +
        std::to_string(i) +
        ";rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:" +
        user + "@pbx.example.com>;tag=ab" + std::to_string(i) + "\r\nTo: <sip:" + user +
        "@pbx.example.com>\r\nCall-ID: reg" + user + "\r\n";
    std::string first_wire = base + "CSeq: " + std::to_string(2 * i) + " REGISTER\r\nContact: <sip:" + user +
                             "@192.0.2.10:5060>\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
    std::uint64_t a0 = g_allocations;
    auto first = Message::parse(std::move(first_wire));
    std::string www;
    reg.handle(*first, from, [&](Message r) { www = std::string(r.header(HeaderId::kWwwAuthenticate)); });
    server_allocations += g_allocations - a0;
    auto ch = DigestChallenge::parse(www);
    std::string auth =
        digest_authorization(*ch, user, "pw" + user, "REGISTER", "sip:pbx.example.com", "0a4f113b", 1);
    std::string second_wire =
        base + "CSeq: " + std::to_string(2 * i + 1) + " REGISTER\r\nContact: <sip:" + user +
        "@192.0.2.10:5060>\r\nAuthorization: " + auth + "\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
    std::uint64_t a1 = g_allocations;
    auto second = Message::parse(std::move(second_wire));
    int status = 0;
    reg.handle(*second, from, [&](Message r) { status = r.status(); });
    server_allocations += g_allocations - a1;
    if (status != 200) st.SkipWithError("registration failed");
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["server_allocs"] =
      benchmark::Counter(static_cast<double>(server_allocations), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_AuthenticatedRegistration);

void BM_RegistrarServerSide(benchmark::State& st) {
  // The server's share of one authenticated registration, as the stack
  // runs it: parse the REGISTER, challenge it, parse the REGISTER with
  // credentials, verify, update the binding, serialise both responses. The
  // client's messages are made before timing (nonces stay valid 300 s).
  hotline::common::SystemClock& clock = hotline::common::SystemClock::instance();
  InMemoryCredentialStore store;
  store.add_domain("pbx.example.com", "t1");
  const int users = static_cast<int>(st.range(0));
  for (int i = 0; i < users; ++i)
    store.add_user("t1", std::to_string(1000 + i), "pw" + std::to_string(1000 + i));
  RegistrarConfig cfg;
  Registrar reg(cfg, store, clock);
  Peer from{Transport::kUdp, "192.0.2.10", 5060, 0};
  struct Pair {
    std::string first, second;
  };
  std::vector<Pair> pairs;
  for (int i = 0; i < users; ++i) {
    std::string user = std::to_string(1000 + i);
    std::string base =
        "REGISTER sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK" +
        std::to_string(i) + ";rport\r\nMax-Forwards: 70\r\nFrom: <sip:" + user + "@pbx.example.com>;tag=ab" +
        std::to_string(i) + "\r\nTo: <sip:" + user + "@pbx.example.com>\r\nCall-ID: reg" + user + "\r\n";
    std::string contact = "Contact: <sip:" + user + "@192.0.2.10:5060>\r\n";
    Pair p;
    p.first = base + "CSeq: 1 REGISTER\r\n" + contact + "Expires: 3600\r\nContent-Length: 0\r\n\r\n";
    std::string www;
    reg.handle(*Message::parse(p.first), from,
               [&](Message r) { www = std::string(r.header(HeaderId::kWwwAuthenticate)); });
    auto ch = DigestChallenge::parse(www);
    std::string auth =
        digest_authorization(*ch, user, "pw" + user, "REGISTER", "sip:pbx.example.com", "0a4f113b", 1);
    p.second = base + "CSeq: 2 REGISTER\r\n" + contact + "Authorization: " + auth +
               "\r\nExpires: 3600\r\nContent-Length: 0\r\n\r\n";
    pairs.push_back(std::move(p));
  }
  std::string out;
  size_t i = 0;
  int status = 0;
  // One responder for all requests, as the stack has.
  Registrar::Responder respond = [&](const Peer&, Message r) {
    status = r.status();
    out.clear();
    r.serialize_to(out);
  };
  std::uint64_t a0 = g_allocations;
  for (auto _ : st) {
    const Pair& p = pairs[i++ % pairs.size()];
    auto first = Message::parse(p.first);
    reg.handle(*first, from, respond);
    auto second = Message::parse(p.second);
    reg.handle(*second, from, respond);
    if (status != 200) st.SkipWithError("registration failed");
  }
  st.SetItemsProcessed(st.iterations());
  st.counters["allocs"] =
      benchmark::Counter(static_cast<double>(g_allocations - a0), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RegistrarServerSide)->Arg(1000)->Arg(50000);

void BM_NonceIssueAndCheck(benchmark::State& st) {
  // One challenge's nonce and its verification (the registrar does both per
  // authenticated registration).
  NonceManager nonces(random_token(64), std::chrono::seconds(300));
  std::int64_t now = 1'700'000'000'000;
  for (auto _ : st) {
    std::string n = nonces.issue("pbx.example.com", now);
    auto c = nonces.check(n, "pbx.example.com", now + 10);
    if (c != NonceManager::Check::kValid) st.SkipWithError("nonce rejected");
    benchmark::DoNotOptimize(n);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_NonceIssueAndCheck);

void BM_DigestVerify(benchmark::State& st) {
  // The server's digest work for one authenticated REGISTER from a stored
  // HA1: H(A2) and the expected response.
  DigestCredentials c;
  c.username = "1001";
  c.realm = "pbx.example.com";
  c.nonce = "0000018bcfe56800a1b2c3d4e5f60718293a4b5c6d7e8f90";
  c.uri = "sip:pbx.example.com";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "0a4f113b";
  std::string ha1 = digest_ha1(DigestAlgorithm::kMd5, "1001", "pbx.example.com", "pw1001");
  for (auto _ : st) {
    std::string r = digest_response(DigestAlgorithm::kMd5, ha1, c, "REGISTER");
    benchmark::DoNotOptimize(r);
  }
  st.SetItemsProcessed(st.iterations());
}
BENCHMARK(BM_DigestVerify);

}  // namespace

BENCHMARK_MAIN();
