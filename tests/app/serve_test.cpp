// `hotline serve` as a real process: durability across SIGKILL on both
// backends, graceful drain on SIGTERM, and the `make run` setup script.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <cstdlib>

#include "api/http_client.h"
#include "app/hotline_process.h"
#include "support/postgres_server.h"

using namespace hotline::testing;
using nlohmann::json;
namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

std::string admin_password(const std::string& config) {
  auto r = hotline_cli(config, {"user", "add", "acme", "root", "--role", "admin"});
  if (r.exit_code != 0) throw std::runtime_error(r.output);
  auto at = r.output.find("password: ");
  return r.output.substr(at + 10, r.output.find('\n', at) - at - 10);
}

HttpClient login(unsigned short port, const std::string& password) {
  HttpClient c("127.0.0.1", port);
  auto r = c.post("/api/v1/auth/login", {{"tenant", "acme"}, {"username", "root"}, {"password", password}});
  if (r.status != 200) throw std::runtime_error("login: " + r.body);
  c.token = r.json()["token"];
  return c;
}

// Commits N users through the API, SIGKILLs the server, restarts it and
// finds every acknowledged user.
void kill9_loses_nothing(const std::string& storage_url) {
  TempDir d;
  auto config = write_config(d, storage_url);
  ASSERT_EQ(hotline_cli(config, {"tenant", "add", "acme"}).exit_code, 0);
  auto pw = admin_password(config);
  std::vector<std::string> acknowledged;
  {
    ServeProcess server(d, config);
    auto c = login(server.port(), pw);
    for (int i = 0; i < 60; ++i) {
      std::string name = "durable" + std::to_string(i);
      auto r = c.post("/api/v1/users", {{"username", name}, {"password", "a-long-password"}});
      ASSERT_EQ(r.status, 201) << r.body;
      acknowledged.push_back(name);
    }
    server.kill_hard();
  }
  ServeProcess again(d, config);
  auto c = login(again.port(), pw);
  auto r = c.get("/api/v1/users?limit=500");
  ASSERT_EQ(r.status, 200);
  std::set<std::string> present;
  for (auto& u : r.items()) present.insert(u["username"]);
  for (const auto& name : acknowledged) EXPECT_TRUE(present.count(name)) << name << " lost after SIGKILL";
  EXPECT_EQ(hotline_cli(config, {"audit", "verify"}).exit_code, 0);
}

}  // namespace

TEST(Durability, SqliteKeepsEveryAcknowledgedRecordAfterSigkill) {
  TempDir d;
  kill9_loses_nothing("sqlite://" + d.str() + "/hotline.db");
}

TEST(Durability, PostgresKeepsEveryAcknowledgedRecordAfterSigkill) {
  auto& pg = PostgresServer::shared();
  kill9_loses_nothing(pg.create_database("serve_durability"));
}

TEST(Drain, SigtermFinishesInFlightRequestsAndExitsZero) {
  TempDir d;
  auto config = write_config(d, "sqlite://" + d.str() + "/hotline.db", "", "info");
  ASSERT_EQ(hotline_cli(config, {"tenant", "add", "acme"}).exit_code, 0);
  auto pw = admin_password(config);
  ServeProcess server(d, config);

  // Send a request's head, then SIGTERM, then its body: the server must
  // still answer it before exiting.
  asio::io_context io;
  asio::ip::tcp::socket sock(io);
  sock.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  const std::string body = json{{"tenant", "acme"}, {"username", "root"}, {"password", pw}}.dump();
  asio::write(sock,
              asio::buffer("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n"));
  // Wait until the server has the head (it reports in-flight in /metrics).
  HttpClient probe("127.0.0.1", server.port());
  bool seen = false;
  for (int i = 0; i < 300 && !seen; ++i) {
    seen = probe.get("/metrics").body.find("hotline_http_in_flight 1") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  probe.close();
  ASSERT_TRUE(seen) << "server never reported the in-flight request";
  ::kill(server.pid(), SIGTERM);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(200));  // let the signal land; correctness does not depend on it
  asio::write(sock, asio::buffer(body));
  boost::beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(sock, buf, res);
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(server.terminate(), 0) << server.log();
  EXPECT_NE(server.log().find("shutting down gracefully"), std::string::npos);
}

TEST(MakeRun, SetupScriptCreatesConfigDemoTenantAndAdmin) {
  TempDir d;
  const std::string var = d.str() + "/var";
  const std::string cmd = "cd " + std::string(HOTLINE_SOURCE_DIR) + " && VAR_DIR=" + var +
                          " bash scripts/run-dev.sh " + hotline_binary() + " --setup-only > " + d.str() +
                          "/setup.log 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_file(d.str() + "/setup.log");
  auto out = read_file(d.str() + "/setup.log");
  auto pw = read_file(var + "/admin-password");
  while (!pw.empty() && pw.back() == '\n') pw.pop_back();
  ASSERT_EQ(pw.size(), 20u);
  EXPECT_NE(out.find("Password: " + pw), std::string::npos) << out;
  EXPECT_NE(out.find("http://127.0.0.1:8080"), std::string::npos);
  // Idempotent: a second run keeps the same tenant, user and password.
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_NE(read_file(d.str() + "/setup.log").find("Password: " + pw), std::string::npos);

  // The server it would start works with that password (on a free port here).
  EXPECT_NE(out.find("extension 1001  password "), std::string::npos) << out;
  EXPECT_NE(out.find("extension 1005  password "), std::string::npos) << out;
  ::setenv("HOTLINE_HTTP_LISTEN", "127.0.0.1:0", 1);
  ::setenv("HOTLINE_SIP_UDP", "127.0.0.1:0", 1);
  ::setenv("HOTLINE_SIP_TCP", "127.0.0.1:0", 1);
  ServeProcess server(d, var + "/hotline.toml");
  ::unsetenv("HOTLINE_HTTP_LISTEN");
  ::unsetenv("HOTLINE_SIP_UDP");
  ::unsetenv("HOTLINE_SIP_TCP");
  HttpClient c("127.0.0.1", server.port());
  auto r = c.post("/api/v1/auth/login", {{"tenant", "demo"}, {"username", "admin"}, {"password", pw}});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(server.log().find("5 extension credential(s) loaded"), std::string::npos) << server.log();
}

TEST(Logging, JsonFormatWritesOneJsonObjectPerLine) {
  TempDir d;
  auto config = write_config(d, "sqlite://" + d.str() + "/hotline.db",
                             "\n[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\n", "info");
  ::setenv("HOTLINE_LOG_FORMAT", "json", 1);
  ::setenv("HOTLINE_LOG_ACCESS", "true", 1);
  ServeProcess server(d, config);
  ::unsetenv("HOTLINE_LOG_FORMAT");
  ::unsetenv("HOTLINE_LOG_ACCESS");
  HttpClient c("127.0.0.1", server.port());
  c.request(http::verb::get, "/api/v1/nope\"quote");
  EXPECT_EQ(server.terminate(), 0);
  std::istringstream lines(server.log());
  std::string line;
  int json_lines = 0;
  bool saw_access = false;
  while (std::getline(lines, line)) {
    if (line.rfind("listening ", 0) == 0) continue;  // stdout: the machine-readable port lines
    auto j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("ts") && j.contains("level") && j.contains("msg"));
    saw_access = saw_access || (j["logger"] == "access" &&
                                j["msg"].get<std::string>().find("nope\"quote") != std::string::npos);
    ++json_lines;
  }
  EXPECT_GE(json_lines, 3);
  EXPECT_TRUE(saw_access);
}
