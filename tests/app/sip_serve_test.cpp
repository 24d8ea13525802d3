// `hotline serve` as a SIP registrar with credentials from the database,
// driven by real SIP software: SIPp and baresip.
//
//   sipp ── REGISTER ──────────────▶ hotline serve (extension 1001 in SQLite)
//        ◀── 401 digest challenge ──
//        ── REGISTER + Authorization ▶
//        ◀── 200 OK (Contact;expires) ─
#include <gtest/gtest.h>

#include <fstream>

#include "api/http_client.h"
#include "app/hotline_process.h"

using namespace hotline::testing;
using namespace std::chrono_literals;

namespace {

const std::string kScenarios = std::string(HOTLINE_SOURCE_DIR) + "/tests/sip/scenarios/";

const char* kSipConfig =
    "\n[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\ndefault_tenant = \"acme\"\nmin_expires_s = 2\n"
    "qualify_interval_s = 0\n";

std::string add_extension(const std::string& config, const std::string& ext) {
  auto r = hotline_cli(config, {"extension", "add", "acme", ext});
  if (r.exit_code != 0) throw std::runtime_error(r.output);
  auto at = r.output.find("sip password: ");
  return r.output.substr(at + 14, r.output.find('\n', at) - at - 14);
}

ProcessResult sipp(const TempDir& d, unsigned short port, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/sipp",
                                   "127.0.0.1:" + std::to_string(port),
                                   "-i",
                                   "127.0.0.1",
                                   "-p",
                                   "0",
                                   "-buff_size",
                                   "4194304",
                                   "-nostdin",
                                   "-timeout",
                                   "60s",
                                   "-timeout_error",
                                   "-trace_err",
                                   "-error_file",
                                   d.str() + "/sipp_errors.log"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcessOptions o;
  o.cwd = d.str();
  o.timeout = 90s;
  return run_process(argv, o);
}

std::string users_file(const TempDir& d, const std::string& user, const std::string& password) {
  auto path = d.str() + "/users-" + user + ".csv";
  std::ofstream(path) << "SEQUENTIAL\n"
                      << user << ";[authentication username=" << user << " password=" << password << "]\n";
  return path;
}

class SipServe : public ::testing::Test {
 protected:
  void SetUp() override {
    config = write_config(d, "sqlite://" + d.str() + "/hotline.db", kSipConfig, "info");
    ASSERT_EQ(hotline_cli(config, {"tenant", "add", "acme"}).exit_code, 0);
  }
  TempDir d;
  std::string config;
};

}  // namespace

TEST_F(SipServe, SippRegistersWithDigestCredentialsFromTheDatabase) {
  auto pw = add_extension(config, "1001");
  ServeProcess server(d, config);
  auto port = server.sip_port();
  auto ok = sipp(d, port,
                 {"-sf", kScenarios + "register_digest.xml", "-inf", users_file(d, "1001", pw), "-m", "3"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output << read_file(d.str() + "/sipp_errors.log");
  // A wrong password and an unknown extension are refused alike.
  auto bad = sipp(d, port,
                  {"-sf", kScenarios + "register_wrong_password.xml", "-inf",
                   users_file(d, "1001", "not-the-password"), "-m", "1"});
  EXPECT_EQ(bad.exit_code, 0) << bad.output;
  auto unknown = sipp(d, port,
                      {"-sf", kScenarios + "register_wrong_password.xml", "-inf",
                       users_file(d, "9999", "whatever-pass"), "-m", "1"});
  EXPECT_EQ(unknown.exit_code, 0) << unknown.output;
  HttpClient http("127.0.0.1", server.port());
  auto metrics = http.get("/metrics").body;
  EXPECT_NE(metrics.find("hotline_sip_registrations 1"), std::string::npos) << metrics;
  EXPECT_NE(server.log().find("sip: registered 1001@127.0.0.1 (tenant acme)"), std::string::npos)
      << server.log();
}

TEST_F(SipServe, ExtensionCreatedThroughTheApiRegistersAtOnce) {
  auto u = hotline_cli(config, {"user", "add", "acme", "root", "--role", "admin"});
  ASSERT_EQ(u.exit_code, 0);
  auto at = u.output.find("password: ");
  auto admin_pw = u.output.substr(at + 10, u.output.find('\n', at) - at - 10);
  ServeProcess server(d, config);
  HttpClient http("127.0.0.1", server.port());
  http.token =
      http.post("/api/v1/auth/login", {{"tenant", "acme"}, {"username", "root"}, {"password", admin_pw}})
          .json()["token"];
  auto created = http.post("/api/v1/extensions", {{"extension", "2002"}, {"display_name", "Agent Two"}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string sip_pw = created.json()["password"];
  EXPECT_EQ(created.json()["realm"], "hotline");
  auto r =
      sipp(d, server.sip_port(),
           {"-sf", kScenarios + "register_digest.xml", "-inf", users_file(d, "2002", sip_pw), "-m", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.output << read_file(d.str() + "/sipp_errors.log");
  // After a password change the old one no longer works.
  auto id = std::to_string(created.json()["id"].get<std::int64_t>());
  ASSERT_EQ(http.put("/api/v1/extensions/" + id + "/password", nlohmann::json::object()).status, 200);
  auto old = sipp(
      d, server.sip_port(),
      {"-sf", kScenarios + "register_wrong_password.xml", "-inf", users_file(d, "2002", sip_pw), "-m", "1"});
  EXPECT_EQ(old.exit_code, 0) << old.output;
  // Nothing is stored that would reveal the SIP password.
  auto stored = http.get("/api/v1/extensions").body;
  EXPECT_EQ(stored.find(sip_pw), std::string::npos);
}

TEST_F(SipServe, AnswersOptions) {
  ServeProcess server(d, config);
  auto r = sipp(d, server.sip_port(), {"-sf", kScenarios + "options.xml", "-m", "5"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(SipServe, BaresipRegistersAndStaysRegistered) {
  auto pw = add_extension(config, "3003");
  ServeProcess server(d, config);
  TempDir phone("hotline-baresip");
  {
    std::ofstream c(phone.str() + "/config");
    c << "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n"
         "module g711.so\nmodule_app account.so\n";
    std::ofstream a(phone.str() + "/accounts");
    a << "<sip:3003@127.0.0.1:" << server.sip_port() << ";transport=udp>;auth_pass=" << pw << ";regint=6\n";
  }
  ProcessOptions o;
  o.cwd = phone.str();
  o.timeout = 90s;
  // -t 14: baresip quits after 14 s, unregistering first.
  auto r = run_process({"/usr/bin/baresip", "-f", phone.str(), "-t", "14"}, o);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto log = server.log();
  EXPECT_NE(log.find("sip: registered 3003@127.0.0.1 (tenant acme)"), std::string::npos) << log;
  // Refreshes are logged at debug level only (every phone sends one every
  // few minutes); the registrar's event counter shows them.
  HttpClient http("127.0.0.1", server.port());
  auto metrics = http.get("/metrics").body;
  const std::string refreshed = "hotline_sip_registrar_events_total{event=\"refreshed\"} ";
  auto at = metrics.find(refreshed);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoul(metrics.substr(at + refreshed.size())), 2u) << metrics;
  EXPECT_EQ(log.find("sip: expired 3003@"), std::string::npos) << log;
  EXPECT_NE(log.find("sip: unregistered 3003@"), std::string::npos) << log;
}
