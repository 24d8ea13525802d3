// HTTP server behaviour: health, readiness, metrics, TLS, connection and idle limits, drain.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>

#include "api/server_fixture.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;
namespace http = boost::beast::http;
namespace asio = boost::asio;

TEST(System, HealthReadinessAndMetrics) {
  ApiServer s;
  auto c = s.client();
  EXPECT_EQ(c.get("/healthz").json()["status"], "ok");
  auto ready = c.get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json()["database"], "ok");
  c.get("/api/v1/nope");
  auto m = c.get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("Content-Type").rfind("text/plain", 0), 0u);
  EXPECT_NE(m.body.find("hotline_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("hotline_http_errors_total{status=\"404\"} 1"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("hotline_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"+Inf\"} 1"),
            std::string::npos);
  s.api->set_draining(true);
  EXPECT_EQ(c.get("/readyz").status, 503);
}

TEST(System, RequestIdIsEchoedOrGenerated) {
  ApiServer s;
  auto c = s.client();
  auto given = c.request(http::verb::get, "/healthz", "", {{"X-Request-Id", "abc-123"}});
  EXPECT_EQ(given.header("X-Request-Id"), "abc-123");
  auto bad = c.request(http::verb::get, "/healthz", "", {{"X-Request-Id", "bad id with spaces"}});
  EXPECT_EQ(bad.header("X-Request-Id").size(), 16u);
}

TEST(Limits, ConnectionLimitRefusesExtraConnections) {
  api::HttpServerOptions o;
  o.max_connections = 2;
  ApiServer s("", o);
  auto a = s.client(), b = s.client();
  EXPECT_EQ(a.get("/healthz").status, 200);
  EXPECT_EQ(b.get("/healthz").status, 200);
  auto c = s.client();
  EXPECT_ANY_THROW(c.get("/healthz"));  // closed without a response
  a.close();
  // Once a slot frees up, new connections are served again.
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    try {
      auto d = s.client();
      served = d.get("/healthz").status == 200;
    } catch (...) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  EXPECT_TRUE(served);
}

TEST(Limits, IdleConnectionsAreClosed) {
  api::HttpServerOptions o;
  o.idle_timeout = std::chrono::seconds(1);
  ApiServer s("", o);
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  sock.connect({asio::ip::make_address("127.0.0.1"), s.port()});
  char buf[16];
  boost::system::error_code ec;
  // Blocks until the server closes the idle connection (about 1 s).
  auto n = sock.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(Drain, InFlightRequestFinishesAndNewConnectionsAreRefused) {
  ApiServer s;
  s.signed_in("acme", "root", {"admin"});
  // The sign-in above may still be finishing its write: start from zero.
  for (int i = 0; i < 500 && s.server->in_flight() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(s.server->in_flight(), 0u);
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  sock.connect({asio::ip::make_address("127.0.0.1"), s.port()});
  const std::string body = R"({"tenant":"acme","username":"root","password":"correct-horse-battery"})";
  std::string head =
      "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  asio::write(sock, asio::buffer(head));
  for (int i = 0; i < 500 && s.server->in_flight() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(s.server->in_flight(), 1u);
  s.server->drain();
  // New connections are no longer accepted...
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    try {
      auto c = s.client();
      c.get("/healthz");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } catch (...) {
      refused = true;
    }
  }
  EXPECT_TRUE(refused);
  // ...but the request in flight completes, with Connection: close.
  asio::write(sock, asio::buffer(body));
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res);
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_FALSE(res.keep_alive());
  // The counter drops when the write completes, which may be just after we read.
  for (int i = 0; i < 500 && s.server->in_flight() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.server->in_flight(), 0u);
}

namespace {

// A self-signed certificate made with the openssl CLI into `dir`.
void make_cert(const std::string& dir) {
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir + "/key.pem -out " + dir +
                    "/cert.pem -days 1 -subj /CN=localhost >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
}

std::pair<int, std::string> tls_get(unsigned short port, int max_version) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream(io, ctx);
  boost::beast::get_lowest_layer(stream).connect({asio::ip::make_address("127.0.0.1"), port});
  boost::system::error_code ec;
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return {-1, ""};
  std::string version = SSL_get_version(stream.native_handle());
  http::request<http::string_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, "localhost");
  http::write(stream, req);
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  return {res.result_int(), version};
}

}  // namespace

TEST(Tls, ServesHttpsPreferringTls13AndRefusesOldVersions) {
  TempDir dir;
  make_cert(dir.str());
  api::HttpServerOptions o;
  o.tls_cert_file = dir.str() + "/cert.pem";
  o.tls_key_file = dir.str() + "/key.pem";
  ApiServer s("", o);
  auto [status13, v13] = tls_get(s.port(), TLS1_3_VERSION);
  EXPECT_EQ(status13, 200);
  EXPECT_EQ(v13, "TLSv1.3");
  auto [status12, v12] = tls_get(s.port(), TLS1_2_VERSION);
  EXPECT_EQ(status12, 200);
  EXPECT_EQ(v12, "TLSv1.2");
  auto [status11, v11] = tls_get(s.port(), TLS1_1_VERSION);
  EXPECT_EQ(status11, -1) << "TLS 1.1 handshake must fail";
}

TEST(Tls, MissingCertificateIsAClearError) {
  api::HttpServerOptions o;
  o.tls_cert_file = "/nonexistent/cert.pem";
  o.tls_key_file = "/nonexistent/key.pem";
  try {
    ApiServer s("", o);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tls_cert"), std::string::npos) << e.what();
  }
}
