// The Stack on real sockets, driven by a hand-rolled client: core responses
// (416/420/481/483/501/405), hostile traffic (scanners, rate limits, bans,
// no user enumeration, oversized and garbage input), TCP keep-alive, TLS,
// IPv6 and qualify. Absence of a response is never waited for: a request
// that must be ignored is followed by one that must be answered, and the
// first answer has to be the second one's.
#include "sip/stack.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "support/process.h"
#include "support/temp_dir.h"

namespace hotline::sip {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

// A datagram client with receive timeouts (for the "must answer" side only).
class UdpClient {
 public:
  explicit UdpClient(bool v6 = false) : v6_(v6) {
    fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (v6) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
  }
  ~UdpClient() { ::close(fd_); }
  void set_receive_buffer(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }
  std::uint16_t port() const {
    sockaddr_storage a{};
    socklen_t n = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n);
    return ntohs(v6_ ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                     : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  }
  void send(std::uint16_t to_port, const std::string& data) {
    if (v6_) {
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_loopback;
      a.sin6_port = htons(to_port);
      ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(to_port);
      ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
  }
  std::optional<Message> recv(std::chrono::milliseconds timeout = 20s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[65536];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    auto m = Message::parse(std::string(buf, static_cast<size_t>(n)));
    if (!m) return std::nullopt;
    return *m;
  }

 private:
  int fd_;
  bool v6_;
};

std::string request(std::string_view method, std::string_view ruri, std::string_view call_id,
                    std::string_view extra = "", std::string_view to_tag = "", int port = 5060,
                    std::string_view host = "127.0.0.1", int cseq = 1) {
  std::string h =
      std::string(host).find(':') != std::string::npos ? "[" + std::string(host) + "]" : std::string(host);
  std::string s = std::string(method) + " " + std::string(ruri) + " SIP/2.0\r\n" + "Via: SIP/2.0/UDP " + h +
                  ":" + std::to_string(port) + ";rport;branch=z9hG4bK" + random_token(12) + "\r\n" +
                  "From: <sip:201@127.0.0.1>;tag=ft" + std::string(call_id) + "\r\n" +
                  "To: <sip:201@127.0.0.1>" + (to_tag.empty() ? "" : ";tag=" + std::string(to_tag)) + "\r\n" +
                  "Call-ID: " + std::string(call_id) + "\r\n" + "CSeq: " + std::to_string(cseq) + " " +
                  std::string(method) + "\r\n" + "Max-Forwards: 70\r\n" + std::string(extra) +
                  "Content-Length: 0\r\n\r\n";
  return s;
}

class StackTest : public ::testing::Test {
 protected:
  void start(StackConfig cfg, common::Clock& clock = common::SystemClock::instance()) {
    creds_.add_domain("127.0.0.1", "t1");
    creds_.add_user("t1", "201", "secret201");
    cfg.qualify_interval = cfg.qualify_interval.count() ? cfg.qualify_interval : 0s;
    stack_ = std::make_unique<Stack>(io_, cfg, creds_, clock);
    stack_->set_registrar_listener(&events_);
    auto st = stack_->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
    for (const auto& b : stack_->bound()) {
      if (b.transport == Transport::kUdp && b.address.find(':') == std::string::npos) udp_ = b.port;
      if (b.transport == Transport::kUdp && b.address.find(':') != std::string::npos) udp6_ = b.port;
      if (b.transport == Transport::kTcp) tcp_ = b.port;
      if (b.transport == Transport::kTls) tls_ = b.port;
    }
    thread_ = std::thread([this] {
      auto work = asio::make_work_guard(io_);
      io_.run();
    });
  }
  static StackConfig default_config() {
    StackConfig cfg;
    cfg.listen = {{Transport::kUdp, "127.0.0.1", 0}, {Transport::kTcp, "127.0.0.1", 0}};
    cfg.qualify_interval = 0s;
    return cfg;
  }
  void TearDown() override {
    if (!stack_) return;
    asio::post(io_, [this] {
      stack_->stop();
      io_.stop();
    });
    thread_.join();
  }
  template <class F>
  auto on_stack(F fn) {
    std::packaged_task<decltype(fn())()> task(fn);
    auto fut = task.get_future();
    asio::post(io_, [&task] { task(); });
    return fut.get();
  }
  // Polls (never sleeps for correctness) until pred() is true on the stack
  // thread, or a generous deadline passes.
  template <class F>
  bool eventually(F pred, std::chrono::seconds limit = 30s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (on_stack(pred)) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

  struct Events : RegistrarListener {
    std::mutex mu;
    std::vector<BindingEvent> seen;
    void on_binding(BindingEvent e, const Binding&) override {
      std::lock_guard<std::mutex> l(mu);
      seen.push_back(e);
    }
    bool has(BindingEvent e) {
      std::lock_guard<std::mutex> l(mu);
      return std::find(seen.begin(), seen.end(), e) != seen.end();
    }
  } events_;
  asio::io_context io_;
  InMemoryCredentialStore creds_;
  std::unique_ptr<Stack> stack_;
  std::thread thread_;
  std::uint16_t udp_ = 0, udp6_ = 0, tcp_ = 0, tls_ = 0;
};

TEST_F(StackTest, OptionsAnsweredWithCapabilities) {
  start(default_config());
  UdpClient c;
  c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "opt1", "", "", c.port()));
  auto r = c.recv();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), 200);
  EXPECT_NE(r->header(HeaderId::kAllow).find("INVITE"), std::string_view::npos);
  EXPECT_EQ(r->header(HeaderId::kAccept), "application/sdp");
  auto via = r->top_via();
  EXPECT_EQ(find_param(via->params, "rport")->value, std::to_string(c.port()));
}

TEST_F(StackTest, OutOfDialogOptionsKeepsNoTransactionState) {
  // Keep-alive pings are answered statelessly (RFC 3261 §8.2.7): each one,
  // and its retransmission, gets a 200, and nothing is held afterwards. An
  // INVITE on the same stack still creates a server transaction.
  start(default_config());
  UdpClient c;
  std::string ping = request("OPTIONS", "sip:127.0.0.1", "ka1", "", "", c.port());
  for (int i = 0; i < 3; ++i) {
    c.send(udp_, ping);  // the same request: a retransmission after the first
    auto r = c.recv();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status(), 200);
    EXPECT_FALSE(r->to_tag().empty());
    EXPECT_EQ(r->header(HeaderId::kAccept), "application/sdp");
  }
  EXPECT_EQ(on_stack([&] { return stack_->transactions().size() + stack_->transactions().completed_size(); }),
            0u);
  c.send(udp_, request("INVITE", "sip:201@127.0.0.1", "inv-state", "", "", c.port()));
  EXPECT_TRUE(eventually([&] { return stack_->transactions().size() > 0; }));
}

TEST_F(StackTest, UdpBurstIsAnsweredInFull) {
  // 1200 requests queue up while the loop is busy, then arrive in one
  // readiness event: they are taken in recvmmsg() batches (more rounds than
  // one wake-up takes, so a posted continuation finishes the drain) and the
  // responses leave in sendmmsg() batches. Every request gets exactly one
  // answer.
  StackConfig cfg = default_config();
  cfg.guard.exempt_prefixes = {"127.0.0.1"};
  start(cfg);
  UdpClient c;
  c.set_receive_buffer(4 << 20);
  constexpr int kCount = 1200;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  asio::post(io_, [released] { released.wait(); });
  for (int i = 0; i < kCount; ++i)
    c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "burst" + std::to_string(i), "", "", c.port()));
  release.set_value();
  std::set<std::string> answered;
  for (int i = 0; i < kCount; ++i) {
    auto r = c.recv();
    ASSERT_TRUE(r.has_value()) << "after " << answered.size() << " answers";
    EXPECT_EQ(r->status(), 200);
    EXPECT_TRUE(answered.insert(std::string(r->call_id())).second) << "answered twice: " << r->call_id();
  }
  EXPECT_EQ(answered.size(), static_cast<size_t>(kCount));
}

TEST_F(StackTest, StopFreesTheUdpPort) {
  // A restarted server binds the same port at once.
  start(default_config());
  UdpClient c;
  c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "before-stop", "", "", c.port()));
  ASSERT_TRUE(c.recv().has_value());
  on_stack([&] {
    stack_->stop();
    return 0;
  });
  asio::io_context other;
  asio::ip::udp::socket s(other);
  boost::system::error_code ec;
  s.open(asio::ip::udp::v4(), ec);
  s.bind({asio::ip::make_address("127.0.0.1"), udp_}, ec);
  EXPECT_FALSE(ec) << ec.message();
}

TEST_F(StackTest, CoreRejections) {
  start(default_config());
  UdpClient c;
  struct Case {
    std::string wire;
    int status;
  } cases[] = {
      {request("OPTIONS", "nobodyKnowsThisScheme:opaque", "c416", "", "", c.port()), 416},
      {request("OPTIONS", "sip:127.0.0.1", "c420", "Require: nothingSupportsThis\r\n", "", c.port()), 420},
      {request("INVITE", "sip:201@127.0.0.1", "c483", "", "", c.port()), 483},
      {request("BYE", "sip:201@127.0.0.1", "c481", "", "nosuchtag", c.port()), 481},
      {request("FOO", "sip:201@127.0.0.1", "c501", "", "", c.port()), 501},
      {request("SUBSCRIBE", "sip:201@127.0.0.1", "c405", "", "", c.port()), 405},
      {request("INVITE", "sip:201@127.0.0.1", "c480", "", "", c.port()), 480},  // no call layer yet
  };
  for (auto& k : cases) {
    if (k.status == 483) {
      size_t p = k.wire.find("Max-Forwards: 70");
      k.wire.replace(p, 16, "Max-Forwards: 0");
    }
    c.send(udp_, k.wire);
    std::optional<Message> r;
    // INVITEs get 100 Trying first.
    do r = c.recv();
    while (r && r->status() == 100);
    ASSERT_TRUE(r.has_value()) << k.status;
    EXPECT_EQ(r->status(), k.status);
    if (k.status == 420) {
      EXPECT_EQ(r->header(HeaderId::kUnsupported), "nothingSupportsThis");
    }
    if (k.status == 405 || k.status == 501) {
      EXPECT_FALSE(r->header(HeaderId::kAllow).empty());
    }
  }
}

TEST_F(StackTest, MalformedRequestGets400) {
  start(default_config());
  UdpClient c;
  std::string bad = request("OPTIONS", "sip:127.0.0.1", "mm1", "", "", c.port());
  bad.replace(bad.find("CSeq: 1 OPTIONS"), 15, "CSeq: 1 INVITE");  // RFC 4475 mismatch01
  c.send(udp_, bad);
  auto r = c.recv();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), 400);
  EXPECT_EQ(r->call_id(), "mm1");
  EXPECT_FALSE(r->header("Warning").empty());
}

TEST_F(StackTest, ScannerIsDroppedSilently) {
  start(default_config());
  UdpClient c;
  c.send(udp_,
         request("OPTIONS", "sip:100@127.0.0.1", "scan1", "User-Agent: friendly-scanner\r\n", "", c.port()));
  c.send(udp_, request("OPTIONS", "sip:100@127.0.0.1", "normal1", "User-Agent: Yealink\r\n", "", c.port()));
  auto r = c.recv();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->call_id(), "normal1");  // the scanner got nothing
  EXPECT_EQ(on_stack([&] { return stack_->guard().stats().scanners; }), 1u);
}

TEST_F(StackTest, PerSourceRateLimit) {
  common::FakeClock clock;  // frozen: the bucket never refills during the test
  StackConfig cfg = default_config();
  cfg.guard.burst = 5;
  cfg.guard.requests_per_second = 1;
  start(cfg, clock);
  UdpClient c;
  for (int i = 0; i < 20; ++i)
    c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "rl" + std::to_string(i), "", "", c.port()));
  ASSERT_TRUE(eventually([&] { return stack_->stats().received == 20; }));
  int answered = 0;
  for (int i = 0; i < 5; ++i) answered += c.recv().has_value();
  EXPECT_EQ(answered, 5);
  EXPECT_EQ(on_stack([&] { return stack_->guard().stats().rate_limited; }), 15u);
}

TEST_F(StackTest, RepeatedAuthFailuresBanTheSource) {
  StackConfig cfg = default_config();
  cfg.guard.max_auth_failures = 3;
  start(cfg);
  UdpClient c;
  for (int i = 0; i < 3; ++i) {
    std::string cid = "ban" + std::to_string(i);
    c.send(udp_, request("REGISTER", "sip:127.0.0.1", cid, "Contact: <sip:201@127.0.0.1>\r\n", "", c.port()));
    auto ch = c.recv();
    ASSERT_TRUE(ch.has_value());
    ASSERT_EQ(ch->status(), 401);
    auto d = DigestChallenge::parse(ch->header(HeaderId::kWwwAuthenticate));
    std::string auth =
        "Authorization: " + digest_authorization(*d, "201", "wrong", "REGISTER", "sip:127.0.0.1", "cn", 1) +
        "\r\n";
    c.send(udp_, request("REGISTER", "sip:127.0.0.1", cid, "Contact: <sip:201@127.0.0.1>\r\n" + auth, "",
                         c.port(), "127.0.0.1", 2));
    auto r = c.recv();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status(), 403);
  }
  EXPECT_TRUE(
      on_stack([&] { return stack_->guard().banned("127.0.0.1", common::SystemClock::instance().now()); }));
  c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "after-ban", "", "", c.port()));
  ASSERT_TRUE(eventually([&] { return stack_->stats().dropped >= 1; }));
}

TEST_F(StackTest, KnownAndUnknownUsersLookAlikeOnTheWire) {
  start(default_config());
  UdpClient c;
  auto shape = [](const Message& m) {
    std::vector<std::string> names;
    for (const auto& h : m.header_list()) names.emplace_back(m.name_of(h));
    return std::make_pair(m.status(), names);
  };
  std::vector<std::pair<int, std::vector<std::string>>> seen;
  for (std::string user : {"201", "999"}) {
    std::string reg =
        request("REGISTER", "sip:127.0.0.1", "enum" + user, "Contact: <sip:x@127.0.0.1>\r\n", "", c.port());
    for (size_t p = 0; user != "201" && (p = reg.find("sip:201@", p)) != std::string::npos; p += 8)
      reg.replace(p, 8, "sip:" + user + "@");
    c.send(udp_, reg);
    auto r = c.recv();
    ASSERT_TRUE(r.has_value());
    seen.push_back(shape(*r));
  }
  EXPECT_EQ(seen[0], seen[1]);
  EXPECT_EQ(seen[0].first, 401);
}

TEST_F(StackTest, GarbageAndOversizedInputIsDropped) {
  StackConfig cfg = default_config();
  cfg.transport.max_message_size = 2000;
  start(cfg);
  UdpClient c;
  c.send(udp_, std::string("\x00\xff garbage \r\n\r\n", 15));
  c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "big", "X-Pad: " + std::string(3000, 'a') + "\r\n", "",
                       c.port()));
  c.send(udp_, request("OPTIONS", "sip:127.0.0.1", "small", "", "", c.port()));
  auto r = c.recv();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->call_id(), "small");
  EXPECT_EQ(on_stack([&] { return stack_->stats().parse_errors; }), 1u);
  // TCP: an oversized message closes the connection instead of buffering.
  asio::io_context cio;
  asio::ip::tcp::socket s(cio);
  s.connect({asio::ip::make_address("127.0.0.1"), tcp_});
  std::string big = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nX-Pad: " + std::string(5000, 'b') + "\r\n";
  boost::system::error_code ec;
  asio::write(s, asio::buffer(big), ec);
  char buf[16];
  s.read_some(asio::buffer(buf), ec);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST_F(StackTest, TcpKeepAliveAndFraming) {
  start(default_config());
  asio::io_context cio;
  asio::ip::tcp::socket s(cio);
  s.connect({asio::ip::make_address("127.0.0.1"), tcp_});
  // RFC 5626 ping, then two messages in one write, split oddly.
  std::string a = request("OPTIONS", "sip:127.0.0.1", "tcp1");
  std::string b = request("OPTIONS", "sip:127.0.0.1", "tcp2");
  for (auto* w : {&a, &b}) {
    size_t p = w->find("SIP/2.0/UDP");
    w->replace(p, 11, "SIP/2.0/TCP");
  }
  asio::write(s, asio::buffer(std::string("\r\n\r\n") + a + b.substr(0, 10)));
  asio::write(s, asio::buffer(b.substr(10)));
  asio::streambuf in;
  asio::read_until(s, in, "\r\n");
  std::string pong(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + 2);
  EXPECT_EQ(pong, "\r\n");
  in.consume(2);
  std::vector<std::string> ids;
  while (ids.size() < 2) {
    asio::read_until(s, in, "\r\n\r\n");
    std::string all(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
    auto f = frame_stream(all, 65535);
    ASSERT_EQ(f.kind, FrameResult::kMessage);
    auto m = Message::parse(all.substr(0, f.size), Framing::kStream);
    ASSERT_TRUE(m.ok());
    ids.emplace_back(m->call_id());
    in.consume(f.size);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"tcp1", "tcp2"}));
}

TEST_F(StackTest, TlsTransport) {
  hotline::testing::TempDir dir("hotline-tls");
  std::string cert = dir.str() + "/c.pem", key = dir.str() + "/k.pem";
  auto gen =
      hotline::testing::run_process({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                                     "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"});
  ASSERT_EQ(gen.exit_code, 0) << gen.output;
  StackConfig cfg = default_config();
  cfg.listen.push_back({Transport::kTls, "127.0.0.1", 0});
  cfg.transport.tls_cert_file = cert;
  cfg.transport.tls_key_file = key;
  start(cfg);
  ASSERT_NE(tls_, 0);
  asio::io_context cio;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  asio::ssl::stream<asio::ip::tcp::socket> s(cio, ctx);
  s.next_layer().connect({asio::ip::make_address("127.0.0.1"), tls_});
  s.handshake(asio::ssl::stream_base::client);
  std::string req = request("OPTIONS", "sip:127.0.0.1", "tls1");
  req.replace(req.find("SIP/2.0/UDP"), 11, "SIP/2.0/TLS");
  asio::write(s, asio::buffer(req));
  asio::streambuf in;
  asio::read_until(s, in, "\r\n\r\n");
  std::string all(asio::buffers_begin(in.data()), asio::buffers_end(in.data()));
  EXPECT_EQ(all.rfind("SIP/2.0 200 OK", 0), 0u) << all;
}

TEST_F(StackTest, TlsWithoutCertificateFailsToStart) {
  StackConfig cfg = default_config();
  cfg.listen.push_back({Transport::kTls, "127.0.0.1", 0});
  Stack s(io_, cfg, creds_);
  EXPECT_FALSE(s.start().ok());
}

TEST_F(StackTest, Ipv6Udp) {
  StackConfig cfg = default_config();
  cfg.listen.push_back({Transport::kUdp, "::1", 0});
  start(cfg);
  ASSERT_NE(udp6_, 0);
  UdpClient c(true);
  c.send(udp6_, request("OPTIONS", "sip:[::1]", "v6", "", "", c.port(), "::1"));
  auto r = c.recv();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status(), 200);
}

TEST_F(StackTest, QualifyMarksSilentDeviceUnreachable) {
  StackConfig cfg = default_config();
  cfg.timers.t1 = 10ms;  // Timer F = 640 ms
  cfg.qualify_interval = 1s;
  start(cfg);
  UdpClient phone;
  std::string contact = "Contact: <sip:201@127.0.0.1:" + std::to_string(phone.port()) + ">\r\n";
  phone.send(udp_, request("REGISTER", "sip:127.0.0.1", "q1", contact, "", phone.port()));
  auto ch = phone.recv();
  ASSERT_TRUE(ch.has_value());
  auto d = DigestChallenge::parse(ch->header(HeaderId::kWwwAuthenticate));
  std::string auth =
      "Authorization: " + digest_authorization(*d, "201", "secret201", "REGISTER", "sip:127.0.0.1", "cn", 1) +
      "\r\n";
  phone.send(udp_,
             request("REGISTER", "sip:127.0.0.1", "q1", contact + auth, "", phone.port(), "127.0.0.1", 2));
  // Skip the qualify OPTIONS if it overtakes the 200.
  std::optional<Message> ok;
  do ok = phone.recv();
  while (ok && ok->is_request());
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  // The phone stays silent: qualify OPTIONS times out -> unreachable.
  auto ping = phone.recv();
  ASSERT_TRUE(ping.has_value());
  EXPECT_EQ(ping->method(), "OPTIONS");
  ASSERT_TRUE(eventually([&] { return events_.has(BindingEvent::kUnreachable); }));
  EXPECT_FALSE(on_stack([&] { return stack_->registrar().lookup("201@127.0.0.1").at(0).reachable; }));
  // Answering the pings brings it back (earlier pings' retransmissions may
  // arrive first; answer everything until the event shows up).
  auto end = std::chrono::steady_clock::now() + 30s;
  while (!events_.has(BindingEvent::kReachable) && std::chrono::steady_clock::now() < end) {
    auto m = phone.recv(100ms);
    if (m && m->is_request() && m->method() == "OPTIONS")
      phone.send(udp_, make_response(*m, 200).serialize());
  }
  EXPECT_TRUE(events_.has(BindingEvent::kReachable));
}

}  // namespace
}  // namespace hotline::sip
