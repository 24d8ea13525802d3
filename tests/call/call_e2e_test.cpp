// The inbound contact center end to end: the real `hotline serve`, SIPp as
// customers (through the "loopback" trunk) and as agents' phones (registered
// with digest credentials from the database), configuration and results
// through the REST API.
//
// Cast of every test:
//   caller (SIPp UAC) ──▶ hotline :sip ──▶ agent phone (SIPp, registered as 1001)
//                          │  IVR, queue, routing, media bridge, recording
//   test ─── REST API ─────┘  (configure, agent status, call records, events)
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "api/http_client.h"
#include "api/ws_client.h"
#include "app/hotline_process.h"

using namespace hotline::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kScenarios = std::string(HOTLINE_SOURCE_DIR) + "/tests/call/scenarios/";

// RTP ports below the kernel's ephemeral range and apart from the media
// suites' ranges (tests/media/test_ports.h): no stray packets from other tests.
const char* kConfig =
    "\n[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\ndefault_tenant = \"acme\"\nqualify_interval_s = 0\n"
    "\n[media]\nrtp_port_min = 19000\nrtp_port_max = 19999\nloops = 1\n";

std::string after(const std::string& text, const std::string& marker) {
  auto at = text.find(marker);
  if (at == std::string::npos) throw std::runtime_error("no '" + marker + "' in: " + text);
  return text.substr(at + marker.size(), text.find('\n', at) - at - marker.size());
}

// Polls `f` until it returns true; generous so a loaded machine only waits longer.
// A UDP port nobody uses right now (for a SIPp that must sit on a known port).
unsigned short free_udp_port() {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

template <class F>
bool eventually(F f, std::chrono::milliseconds limit = 60s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return f();
}

class CallCenter : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string extra = std::string(kConfig) + "\n[recording]\nkek = \"" + std::string(64, 'a') +
                              "\"\nkek_id = \"test\"\ndir = \"" + d.str() + "/recordings\"\n";
    config = write_config(d, "sqlite://" + d.str() + "/hotline.db", extra, "info");
    ASSERT_EQ(hotline_cli(config, {"tenant", "add", "acme"}).exit_code, 0);
    auto admin = hotline_cli(config, {"user", "add", "acme", "admin", "--role", "admin"});
    ASSERT_EQ(admin.exit_code, 0) << admin.output;
    admin_password = after(admin.output, "password: ");
    for (const std::string ext : {"1001", "1002", "1003"}) {
      auto r = hotline_cli(config, {"extension", "add", "acme", ext});
      ASSERT_EQ(r.exit_code, 0) << r.output;
      sip_passwords[ext] = after(r.output, "sip password: ");
    }
    auto seed = hotline_cli(config, {"demo", "seed", "acme"});
    ASSERT_EQ(seed.exit_code, 0) << seed.output;
    server = std::make_unique<ServeProcess>(d, config);
    sip_port = server->sip_port();
    api = std::make_unique<HttpClient>("127.0.0.1", server->port());
    auto login = api->post("/api/v1/auth/login",
                           {{"tenant", "acme"}, {"username", "admin"}, {"password", admin_password}});
    ASSERT_EQ(login.status, 200) << login.body;
    api->token = login.json()["token"];
    // Tests skip the welcome prompt (digits are ignored while it plays) and use short timers.
    skip_welcome();
    tune_queue("sales", {{"ring_timeout_s", 5}, {"wrap_up_s", 2}, {"max_consecutive_misses", 1}});
  }

  void TearDown() override {
    for (pid_t p : background) {
      ::kill(p, SIGKILL);
      wait_process(p, 10s);
    }
    if (!HasFailure()) return;
    if (server) std::cerr << "---- hotline log ----\n" << server->log() << "\n";
    if (api)
      std::cerr << "---- routing events ----\n" << api->get("/api/v1/routing-events?limit=200").body << "\n";
    // SIPp's own view (phones, callers, errors) tells which step went wrong.
    for (const auto& f : std::filesystem::directory_iterator(d.str())) {
      const auto name = f.path().filename().string();
      if (name.find(".log") == std::string::npos || name.rfind("serve-", 0) == 0) continue;
      auto text = read_file(f.path().string());
      if (text.size() > 4000) text = text.substr(text.size() - 4000);
      std::cerr << "---- " << name << " ----\n" << text << "\n";
    }
  }

  json find(const std::string& collection, const std::string& field, const json& value) {
    auto r = api->get("/api/v1/" + collection);
    EXPECT_EQ(r.status, 200) << r.body;
    const json body = r.json();  // keep it alive: the loop walks inside it
    for (const auto& o : body["items"])
      if (o.contains(field) && o[field] == value) return o;
    throw std::runtime_error("no " + collection + " with " + field + "=" + value.dump() + ": " + r.body);
  }

  void replace(const std::string& collection, json object) {
    const auto id = object["id"].get<std::int64_t>();
    for (const char* k : {"id", "version", "created_ms", "updated_ms"}) object.erase(k);
    auto r = api->put("/api/v1/" + collection + "/" + std::to_string(id), object);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  void tune_queue(const std::string& name, const json& changes) {
    auto q = find("queues", "name", name);
    for (auto& [k, v] : changes.items()) q[k] = v;
    replace("queues", q);
  }

  void skip_welcome() {
    auto f = find("flows", "name", "main");
    f["definition"]["nodes"]["welcome"] = {{"type", "set"}, {"next", "vip"}};
    replace("flows", f);
  }

  std::int64_t agent_id(const std::string& ext) { return find("agents", "extension", ext)["id"]; }

  json agent_status(std::int64_t id) {
    auto r = api->get("/api/v1/agents/" + std::to_string(id) + "/status");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? r.json() : json::object();
  }

  std::string users_file(const std::string& user) {
    auto path = d.str() + "/users-" + user + ".csv";
    std::ofstream(path) << "SEQUENTIAL\n"
                        << user << ";[authentication username=" << user << " password=" << sip_passwords[user]
                        << "]\n";
    return path;
  }

  std::vector<std::string> sipp_args(std::vector<std::string> extra) {
    std::vector<std::string> argv = {"/usr/bin/sipp",
                                     "127.0.0.1:" + std::to_string(sip_port),
                                     "-i",
                                     "127.0.0.1",
                                     "-mi",
                                     "127.0.0.1",
                                     "-buff_size",
                                     "4194304",
                                     "-nostdin",
                                     "-timeout",
                                     "120s",
                                     "-timeout_error",
                                     "-trace_err",
                                     "-error_file",
                                     d.str() + "/sipp_errors_" + std::to_string(++sipp_runs) + ".log"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
  }

  // An agent's phone registered as `ext`, handling offers with `ooc` (an
  // out-of-call scenario), for `ms` milliseconds. Runs in the background.
  void start_phone(const std::string& ext, const std::string& ooc,
                   const std::string& main = "agent_register.xml", const std::string& service = "",
                   int ms = 110000) {
    std::vector<std::string> extra = {
        "-sf",
        kScenarios + main,
        "-oocsf",
        kScenarios + ooc,
        "-inf",
        users_file(ext),
        "-m",
        "1",
        "-d",
        std::to_string(ms),
        "-p",
        std::to_string(free_udp_port()),
        "-mp",
        std::to_string(22000 + 100 * (++phones)),
        "-rtp_echo",
        "-key",
        "refer_to",
        refer_to,
        "-trace_msg",
        "-message_file",
        d.str() + "/phone-" + ext + "-" + std::to_string(phones) + "-messages.log"};
    if (!service.empty()) extra.insert(extra.end(), {"-s", service});
    ProcessOptions o;
    o.cwd = d.str();
    o.log_path = d.str() + "/phone-" + ext + ".log";
    o.die_with_parent = true;
    background.push_back(spawn_process(sipp_args(extra), o));
    const auto id = agent_id(ext);
    ASSERT_TRUE(eventually([&] { return agent_status(id).value("device_registered", false); }))
        << "phone " << ext << " did not register: " << read_file(d.str() + "/phone-" + ext + ".log");
  }

  void set_status(std::int64_t id, const json& body) {
    auto r = api->put("/api/v1/agents/" + std::to_string(id) + "/status", body);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // SIPp as a customer calling 400 with `scenario` (keys caller, caller_name, digit, digit2).
  std::vector<std::string> caller_args(const std::string& scenario, const std::string& caller,
                                       const std::string& digit, int hold_ms, const std::string& digit2) {
    return sipp_args({"-sf",         kScenarios + scenario,
                      "-s",          "400",
                      "-key",        "caller",
                      caller,        "-key",
                      "caller_name", "Customer " + caller,
                      "-key",        "digit",
                      digit,         "-key",
                      "digit2",      digit2,
                      "-m",          "1",
                      "-d",          std::to_string(hold_ms),
                      "-p",          std::to_string(free_udp_port()),
                      "-mp",         std::to_string(24000 + 100 * (++callers))});
  }

  // A customer's call; returns SIPp's exit code (0 = every step as scripted).
  int call(const std::string& scenario, const std::string& caller, const std::string& digit, int hold_ms,
           std::string* output = nullptr, const std::string& digit2 = "0") {
    ProcessOptions o;
    o.cwd = d.str();
    o.timeout = 150s;
    auto r = run_process(caller_args(scenario, caller, digit, hold_ms, digit2), o);
    if (output) *output = r.output;
    if (r.exit_code != 0) std::cerr << "sipp caller: " << r.output << "\n";
    return r.exit_code;
  }

  // A customer's call in the background (for several callers at once).
  pid_t call_in_background(const std::string& scenario, const std::string& caller, const std::string& digit,
                           int hold_ms, const std::string& digit2 = "0") {
    ProcessOptions o;
    o.cwd = d.str();
    o.log_path = d.str() + "/caller-" + caller + ".log";
    o.die_with_parent = true;
    auto pid = spawn_process(caller_args(scenario, caller, digit, hold_ms, digit2), o);
    background.push_back(pid);
    return pid;
  }

  // SIPp's built-in UAS as a phone outside the contact center, reached
  // through the "loopback" trunk: answers one call and waits for a BYE.
  // `scenario` replaces SIPp's built-in UAS; `trunk_changes` go into the
  // trunk (e.g. digest credentials).
  pid_t start_outside_party(const std::string& name, const std::string& scenario = "",
                            const json& trunk_changes = json::object()) {
    const auto port = free_udp_port();
    auto trunk = find("trunks", "name", "loopback");
    trunk["host"] = "127.0.0.1";
    trunk["port"] = port;
    for (const auto& [k, v] : trunk_changes.items()) trunk[k] = v;
    replace("trunks", trunk);
    ProcessOptions o;
    o.cwd = d.str();
    o.log_path = d.str() + "/" + name + ".log";
    o.die_with_parent = true;
    std::vector<std::string> args = {"-p",
                                     std::to_string(port),
                                     "-m",
                                     "1",
                                     "-mp",
                                     std::to_string(23000 + 100 * (++outsiders)),
                                     "-rtp_echo",
                                     "-trace_msg",
                                     "-message_file",
                                     d.str() + "/" + name + "-messages.log"};
    if (scenario.empty())
      args.insert(args.begin(), {"-sn", "uas"});
    else
      args.insert(args.begin(), {"-sf", kScenarios + scenario});
    auto pid = spawn_process(sipp_args(args), o);
    background.push_back(pid);
    return pid;
  }

  // The legs of a call with `role`.
  std::vector<json> legs(const std::string& call_id, const std::string& role) {
    auto r = api->get("/api/v1/calls/" + call_id);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json> out;
    const json body = r.json();
    for (const auto& l : body["legs"])
      if (l["role"] == role) out.push_back(l);
    return out;
  }

  std::vector<json> all_calls() {
    auto r = api->get("/api/v1/calls?limit=100");
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json> out;
    const json body = r.json();
    for (const auto& c : body["items"]) out.push_back(c);
    return out;
  }

  // The newest call record (waits until it has ended and `ready` holds).
  json last_call(std::function<bool(const json&)> ready = nullptr) {
    json found;
    eventually([&] {
      auto r = api->get("/api/v1/calls?limit=1");
      if (r.status != 200 || r.json()["items"].empty()) return false;
      found = r.json()["items"][0];
      return found.value("ended_ms", std::int64_t{0}) > 0 && (!ready || ready(found));
    });
    return found;
  }

  std::vector<std::string> event_types(const std::string& call_id) {
    std::vector<std::string> out;
    auto r = api->get("/api/v1/routing-events?call_id=" + call_id + "&limit=1000");
    EXPECT_EQ(r.status, 200) << r.body;
    const json body = r.json();
    for (const auto& e : body["items"]) out.push_back(e["type"]);
    return out;
  }

  TempDir d;
  std::string config;
  std::string admin_password;
  std::map<std::string, std::string> sip_passwords;
  std::unique_ptr<ServeProcess> server;
  std::unique_ptr<HttpClient> api;
  unsigned short sip_port = 0;
  std::vector<pid_t> background;
  // SIPp media ports: phones 22000+, outside numbers 23000+, callers 24000+
  // (100 apart per instance), below the kernel's ephemeral range (32768+) so
  // no socket of another test process can hold them; the server's RTP range
  // is 19000-19999 and the media suites' 10000-21999.
  int sipp_runs = 0, phones = 0, callers = 0, outsiders = 0;
  std::string refer_to = "support";  // where agent_answer_refer.xml transfers to
};

// RMS level of each channel of a 16-bit stereo WAV (left = caller, right =
// agent in Hotline's recordings); {0, 0} if it is not one.
std::pair<double, double> channel_levels(const std::string& wav) {
  const std::size_t data = wav.find("data");
  if (wav.compare(0, 4, "RIFF") != 0 || data == std::string::npos || data + 8 > wav.size()) return {0, 0};
  double sum[2] = {0, 0};
  std::size_t frames = 0;
  for (std::size_t i = data + 8; i + 4 <= wav.size(); i += 4, ++frames) {
    for (int ch = 0; ch < 2; ++ch) {
      const auto lo = static_cast<unsigned char>(wav[i + 2 * static_cast<std::size_t>(ch)]);
      const auto hi = static_cast<unsigned char>(wav[i + 2 * static_cast<std::size_t>(ch) + 1]);
      const double v = static_cast<std::int16_t>(static_cast<std::uint16_t>(lo | (hi << 8)));
      sum[ch] += v * v;
    }
  }
  if (frames == 0) return {0, 0};
  return {std::sqrt(sum[0] / static_cast<double>(frames)), std::sqrt(sum[1] / static_cast<double>(frames))};
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

// caller            hotline                       agent 1001
//   INVITE 400 ──▶  200 (IVR menu)
//   INFO "1"  ──▶   queue sales ── INVITE (X-Hotline-Interaction) ──▶
//                               ◀── 180, 200 ── ACK ──▶
//   ◀═══════════ RTP bridged (recorded, encrypted) ═══════════▶
//   BYE ──▶          ── BYE ──▶  (agent in wrap-up, then idle)
TEST_F(CallCenter, AnsweredCallIsBridgedRecordedAndWrappedUp) {
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer.xml");
  set_status(agent, {{"status", "ready"}});
  EXPECT_EQ(agent_status(agent)["status"], "ready");

  ASSERT_EQ(call("caller_info_hangup.xml", "13900000001", "1", 5000), 0);

  auto rec = last_call([](const json& c) { return !c.value("recording_id", std::string()).empty(); });
  EXPECT_EQ(rec["disposition"], "answered");
  EXPECT_EQ(rec["queue"], "sales");
  EXPECT_EQ(rec["agent_id"], agent);
  EXPECT_EQ(rec["agent_extension"], "1001");
  EXPECT_GT(rec["answered_ms"].get<std::int64_t>(), 0);
  EXPECT_GE(rec["answered_ms"].get<std::int64_t>(), rec["queued_ms"].get<std::int64_t>());
  EXPECT_GE(rec["ended_ms"].get<std::int64_t>(), rec["answered_ms"].get<std::int64_t>());
  EXPECT_EQ(rec["end_reason"], "caller hangup");

  auto types = event_types(rec["id"]);
  for (const char* t : {"enqueued", "offered", "answered", "ended"}) EXPECT_TRUE(contains(types, t)) << t;

  // The agent wraps up for the queue's 2 s, then is idle again.
  EXPECT_TRUE(eventually([&] { return agent_status(agent)["state"] == "idle"; }));
  EXPECT_TRUE(eventually([&] { return last_call()["wrapup_ended_ms"].get<std::int64_t>() > 0; }));

  // The recording decrypts to a WAV with the caller's audio in it.
  auto details = api->get("/api/v1/calls/" + rec["id"].get<std::string>());
  ASSERT_EQ(details.status, 200) << details.body;
  ASSERT_FALSE(details.json()["recordings"].empty()) << details.body;
  auto audio = api->get("/api/v1/recordings/" + rec["recording_id"].get<std::string>() + "/audio");
  ASSERT_EQ(audio.status, 200) << audio.body.substr(0, 200);
  EXPECT_EQ(audio.body.substr(0, 4), "RIFF");
  EXPECT_GT(audio.body.size(), 8000u * 2 * 2);  // more than a second of stereo 16-bit audio
  // Audio flowed both ways through the bridge: the caller's pcap on the
  // left, and on the right the agent phone's echo of what it was sent.
  const auto [caller_level, agent_level] = channel_levels(audio.body);
  EXPECT_GT(caller_level, 100.0);
  EXPECT_GT(agent_level, 100.0);
}

// caller            hotline                       agent 1001
//   INVITE, INFO 1 ──▶ queue ── INVITE ──▶ 180 (rings 3 s)
//                           ── CANCEL ──▶ 200, 487
//                      agent → not ready (missed), caller back in the queue
//   BYE ──▶ abandoned
TEST_F(CallCenter, UnansweredOfferRequeuesTheCallerAndMarksTheAgentMissed) {
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_noanswer.xml");
  set_status(agent, {{"status", "ready"}});

  ASSERT_EQ(call("caller_info_hangup.xml", "13900000002", "1", 9000), 0);

  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "abandoned");
  EXPECT_EQ(rec["agent_id"], 0);
  EXPECT_GE(rec["offers"].get<int>(), 1);
  auto types = event_types(rec["id"]);
  for (const char* t : {"offered", "offer_cancelled", "no_answer", "requeued", "abandoned"})
    EXPECT_TRUE(contains(types, t)) << t;
  auto st = agent_status(agent);
  EXPECT_EQ(st["status"], "not_ready");
  EXPECT_EQ(st["reason"], 2);  // missed
}

// caller ── INVITE, INFO 1 ──▶ queue sales (nobody ready) ── BYE after 2 s ──▶ abandoned
TEST_F(CallCenter, CallerWhoHangsUpWhileWaitingIsAbandoned) {
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000003", "1", 2000), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "abandoned");
  EXPECT_EQ(rec["queue"], "sales");
  EXPECT_GT(rec["queued_ms"].get<std::int64_t>(), 0);
  EXPECT_EQ(rec["answered_ms"], 0);
  EXPECT_TRUE(contains(event_types(rec["id"]), "abandoned"));
}

// caller ── INVITE, RFC 4733 "1" (SIPp's dtmf_2833_1 capture) ──▶ queue sales
TEST_F(CallCenter, Rfc4733DigitsDriveTheMenu) {
  ASSERT_EQ(call("caller_rfc4733_hangup.xml", "13900000004", "", 3000), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["queue"], "sales");
  EXPECT_EQ(rec["disposition"], "abandoned");
}

// agent phone ── REGISTER ──▶ ── INVITE *23 ──▶ 200, tone, BYE: logged in and ready (audited)
TEST_F(CallCenter, FeatureCodeFromThePhoneMakesTheAgentReady) {
  const auto agent = agent_id("1001");
  EXPECT_EQ(agent_status(agent)["status"], "logged_out");
  start_phone("1001", "agent_answer.xml", "agent_feature.xml", "*23");
  EXPECT_TRUE(eventually([&] { return agent_status(agent)["status"] == "ready"; }));
  EXPECT_TRUE(eventually([&] {
    auto r = api->get("/api/v1/audit?limit=50");
    return r.status == 200 && r.body.find("feature_code") != std::string::npos;
  }));
}

// The calendar says closed: caller ── INVITE ──▶ "closed" prompt ── BYE ◀──
TEST_F(CallCenter, ClosedHoursPlayTheClosedMessageAndHangUp) {
  auto cal = find("calendars", "name", "main");
  cal["weekly"] = json::object();  // closed every day
  replace("calendars", cal);
  ASSERT_EQ(call("caller_wait_bye.xml", "13900000005", "", 0), 0);
  auto rec = last_call();
  EXPECT_NE(rec["ivr_path"].get<std::string>().find("closed"), std::string::npos) << rec.dump();
  EXPECT_EQ(rec["queued_ms"], 0);
}

// caller ── INVITE, INFO 1 ──▶ bridged to 1001 ◀── BYE from the agent after 2 s; caller gets BYE
TEST_F(CallCenter, AgentHangupEndsTheCallerLegToo) {
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer_hangup.xml");
  set_status(agent, {{"status", "ready"}});
  ASSERT_EQ(call("caller_info_wait_bye.xml", "13900000006", "1", 0), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "answered");
  EXPECT_EQ(rec["end_reason"], "agent hangup");
}

// Bad input: an agent status with an unknown value is a 400 naming the field,
// and a call from an unknown source is refused.
TEST_F(CallCenter, BadStatusIsRejectedWithTheField) {
  const auto agent = agent_id("1001");
  auto r = api->put("/api/v1/agents/" + std::to_string(agent) + "/status", {{"status", "dancing"}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["error"]["details"]["field"], "status");
  r = api->put("/api/v1/agents/" + std::to_string(agent) + "/status",
               {{"status", "not_ready"}, {"reason", 5}});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.json()["error"]["details"]["field"], "reason");
  EXPECT_EQ(agent_status(agent)["status"], "logged_out");
  r = api->get("/api/v1/agents/999999/status");
  EXPECT_EQ(r.status, 404) << r.body;
}

// callers A, B (normal) wait; VIP (+8613800000000, priority 10) arrives last;
// agent 1001 becomes ready ── the VIP's call is the one offered and answered.
TEST_F(CallCenter, VipOvertakesCallersWhoWaitedLonger) {
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer.xml");
  call_in_background("caller_info_hangup.xml", "13900000011", "1", 12000);
  call_in_background("caller_info_hangup.xml", "13900000012", "1", 12000);
  ASSERT_TRUE(eventually([&] {
    auto r = api->get("/api/v1/stats/realtime");
    const json body = r.json();
    for (const auto& q : body["queues"])
      if (q["queue"] == "sales") return q["waiting"].get<int>() == 2;
    return false;
  }));
  call_in_background("caller_info_hangup.xml", "+8613800000000", "1", 12000);
  ASSERT_TRUE(eventually([&] {
    auto r = api->get("/api/v1/stats/realtime");
    const json body = r.json();
    for (const auto& q : body["queues"])
      if (q["queue"] == "sales") return q["waiting"].get<int>() == 3;
    return false;
  }));
  set_status(agent, {{"status", "ready"}});
  ASSERT_TRUE(eventually([&] {
    for (const auto& c : all_calls())
      if (c["answered_ms"].get<std::int64_t>() > 0) return true;
    return false;
  }));
  json first;
  for (const auto& c : all_calls())
    if (c["answered_ms"].get<std::int64_t>() > 0 &&
        (first.is_null() || c["answered_ms"].get<std::int64_t>() < first["answered_ms"].get<std::int64_t>()))
      first = c;
  EXPECT_GT(first["customer_id"].get<std::int64_t>(), 0) << first.dump();
  EXPECT_EQ(first["priority"], 10) << first.dump();
}

// sales has an overflow step: after 2 s also wait in support. Only 1003
// (support) is ready ── the sales caller is answered by 1003.
TEST_F(CallCenter, OverflowStepLetsAnotherQueueAnswer) {
  tune_queue("sales",
             {{"overflow", json::array({{{"after_s", 2}, {"action", "add_queue"}, {"queue", "support"}}})}});
  const auto agent = agent_id("1003");
  start_phone("1003", "agent_answer.xml");
  set_status(agent, {{"status", "ready"}});
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000013", "1", 8000), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "answered");
  EXPECT_EQ(rec["agent_id"], agent);
  EXPECT_GE(rec["answered_ms"].get<std::int64_t>() - rec["queued_ms"].get<std::int64_t>(), 1900);
  EXPECT_TRUE(contains(event_types(rec["id"]), "overflowed"));
}

// caller ── 1 (sales), 1 (callback), 1 (confirm) ──▶ goodbye, BYE ◀──
// agent 1001 ready ── INVITE (X-Hotline-Callback) ──▶ answers; Hotline ──
// INVITE ──▶ customer (SIPp UAS behind the trunk) ── 200 ── bridged; the
// agent hangs up after 2 s.
TEST_F(CallCenter, CallbackIsCompletedAgentFirst) {
  start_outside_party("customer");
  ASSERT_EQ(call("caller_callback.xml", "13900000014", "1", 0), 0);
  // The caller has hung up; the call waits (not ended) for an agent.
  json waiting;
  ASSERT_TRUE(eventually([&] {
    auto calls = all_calls();
    if (calls.empty()) return false;
    waiting = calls.front();
    return waiting["direction"] == "callback" && waiting["disposition"] == "callback";
  })) << waiting.dump();
  EXPECT_EQ(waiting["ended_ms"], 0);

  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer_hangup.xml");
  set_status(agent, {{"status", "ready"}});
  auto rec = last_call([](const json& c) { return c["answered_ms"].get<std::int64_t>() > 0; });
  EXPECT_EQ(rec["id"], waiting["id"]);
  EXPECT_EQ(rec["disposition"], "answered") << rec.dump();
  EXPECT_EQ(rec["agent_id"], agent);
  EXPECT_EQ(rec["end_reason"], "agent hangup");
}

// caller ── 1 (sales), 0 (voicemail) ──▶ prompt, beep, 3 s of audio, BYE:
// an encrypted voicemail attached to the call and the queue.
TEST_F(CallCenter, VoicemailIsRecordedForTheQueue) {
  ASSERT_EQ(call("caller_voicemail.xml", "13900000015", "1", 9000), 0);
  auto rec = last_call([](const json& c) { return !c.value("recording_id", std::string()).empty(); });
  EXPECT_EQ(rec["disposition"], "voicemail");
  auto r = api->get("/api/v1/voicemails?queue=sales");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.json()["items"].size(), 1u) << r.body;
  auto audio = api->get("/api/v1/recordings/" + rec["recording_id"].get<std::string>() + "/audio");
  ASSERT_EQ(audio.status, 200);
  EXPECT_EQ(audio.body.substr(0, 4), "RIFF");
}

// caller ── 1 ──▶ 1001 answers ── REFER support ──▶ 202, BYE to 1001;
// the caller is queued in support and 1003 answers.
TEST_F(CallCenter, BlindTransferToAnotherQueue) {
  const auto first = agent_id("1001"), second = agent_id("1003");
  start_phone("1001", "agent_answer_refer.xml");
  start_phone("1003", "agent_answer.xml");
  set_status(first, {{"status", "ready"}});
  set_status(second, {{"status", "ready"}});  // support only: sales calls go to 1001
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000016", "1", 9000), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "answered");
  // The routing log shows the transfer: queued again in support and
  // answered there by 1003; the record names the last queue and agent.
  auto r = api->get("/api/v1/routing-events?call_id=" + rec["id"].get<std::string>() + "&limit=1000");
  ASSERT_EQ(r.status, 200);
  const json events = r.json();
  int enqueued = 0;
  bool answered_in_support = false;
  for (const auto& e : events["items"]) {
    enqueued += e["type"] == "enqueued";
    answered_in_support |= e["type"] == "answered" && e["queue"] == "support" && e["agent_id"] == second;
  }
  EXPECT_EQ(enqueued, 2) << r.body;
  EXPECT_TRUE(answered_in_support) << r.body;
  EXPECT_TRUE(eventually([&] { return agent_status(first)["state"] != "busy"; }));
  rec = last_call();
  EXPECT_EQ(rec["agent_id"], second);
  EXPECT_EQ(rec["queue"], "support");
  EXPECT_GE(rec["offers"].get<int>(), 2);
}

// Two agents, ten callers at once: every call ends with a record, each
// answered or abandoned, none lost, no agent with two calls at once.
TEST_F(CallCenter, TwoAgentsTenCallersEveryCallAccountedFor) {
  tune_queue("sales", {{"wrap_up_s", 0}});
  start_phone("1001", "agent_answer_hangup.xml");
  start_phone("1002", "agent_answer_hangup.xml");
  set_status(agent_id("1001"), {{"status", "ready"}});
  set_status(agent_id("1002"), {{"status", "ready"}});
  std::vector<pid_t> pids;
  for (int i = 0; i < 10; ++i)
    pids.push_back(call_in_background("caller_info_wait_bye.xml", "1390000002" + std::to_string(i), "1", 0));
  ASSERT_TRUE(eventually(
      [&] {
        auto calls = all_calls();
        if (calls.size() < 10) return false;
        for (const auto& c : calls)
          if (c["ended_ms"].get<std::int64_t>() == 0) return false;
        return true;
      },
      120s));
  int answered = 0;
  std::map<std::int64_t, std::vector<std::pair<std::int64_t, std::int64_t>>> by_agent;
  for (const auto& c : all_calls()) {
    ASSERT_TRUE(c["disposition"] == "answered" || c["disposition"] == "abandoned") << c.dump();
    if (c["disposition"] == "answered") {
      ++answered;
      by_agent[c["agent_id"]].push_back({c["answered_ms"], c["ended_ms"]});
    }
  }
  EXPECT_GE(answered, 2);
  for (auto& [agent, spans] : by_agent) {
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i)
      EXPECT_GE(spans[i].first, spans[i - 1].second) << "agent " << agent;
  }
}

// caller ── 1 ──▶ 1001 answers. Supervisor (1002, a user with the
// supervisor role) dials *301001 ── 200: hears both sides ── when the caller
// hangs up, Hotline hangs up the supervisor too. The leg is on record.
TEST_F(CallCenter, SupervisorListensSilentlyToALiveCall) {
  auto sup = hotline_cli(config, {"user", "add", "acme", "sup", "--role", "supervisor"});
  ASSERT_EQ(sup.exit_code, 0) << sup.output;
  auto users = api->get("/api/v1/users");
  std::int64_t sup_user = 0;
  const json ubody = users.json();
  for (const auto& u : ubody["items"])
    if (u["username"] == "sup") sup_user = u["id"];
  auto sup_agent = find("agents", "extension", "1002");
  sup_agent["user_id"] = sup_user;
  replace("agents", sup_agent);

  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer.xml");
  set_status(agent, {{"status", "ready"}});
  auto caller = call_in_background("caller_info_hangup.xml", "13900000030", "1",
                                   15000);  // time for the supervisor to join on a slow machine
  ASSERT_TRUE(eventually([&] { return agent_status(agent)["state"] == "busy"; }));
  start_phone("1002", "agent_answer.xml", "agent_feature.xml", "*301001");
  EXPECT_EQ(wait_process(caller, 60s).value_or(-1), 0);
  auto rec = last_call();
  auto details = api->get("/api/v1/calls/" + rec["id"].get<std::string>());
  ASSERT_EQ(details.status, 200);
  bool supervisor_leg = false;
  const json dbody = details.json();
  for (const auto& l : dbody["legs"]) supervisor_leg |= l["role"] == "supervisor";
  EXPECT_TRUE(supervisor_leg) << details.body;
  EXPECT_TRUE(eventually([&] {
    auto r = api->get("/api/v1/audit?limit=100");
    return r.status == 200 && r.body.find("call.listen") != std::string::npos;
  }));
}

// caller ── 1 ──▶ 1001 answers ── REFER sip:13800138000 ──▶ 202,
//   NOTIFY (Event: refer, "SIP/2.0 200 OK") ──▶ 1001, BYE ──▶ 1001 (wrap-up);
// hotline ── INVITE 13800138000 through the trunk ──▶ outside party: 200;
//   caller ◀═══ RTP ═══▶ outside party, until the caller's BYE ── BYE ──▶ outside.
TEST_F(CallCenter, BlindTransferToAnOutsideNumber) {
  auto outside = start_outside_party("outside");
  refer_to = "13800138000";
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer_refer.xml");
  set_status(agent, {{"status", "ready"}});
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000040", "1", 8000), 0);
  EXPECT_EQ(wait_process(outside, 30s).value_or(-1), 0) << "the outside party saw no BYE";
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "transferred") << rec.dump();
  EXPECT_EQ(rec["agent_id"], agent);
  const auto id = rec["id"].get<std::string>();
  json leg;
  ASSERT_TRUE(eventually([&] {
    auto l = legs(id, "transfer");
    if (l.empty()) return false;
    leg = l.front();
    return leg["ended_ms"].get<std::int64_t>() > 0;
  })) << leg.dump();
  EXPECT_EQ(leg["peer"], "13800138000");
  EXPECT_EQ(leg["sip_status"], 200);
  EXPECT_GT(leg["answered_ms"].get<std::int64_t>(), 0);
  EXPECT_NE(read_file(d.str() + "/outside-messages.log").find("INVITE sip:13800138000@127.0.0.1"),
            std::string::npos);
  EXPECT_TRUE(eventually([&] { return agent_status(agent)["state"] != "busy"; }));
}

// caller ── 1 ──▶ the flow's `transfer` node (number +8610086, trunk
// loopback): ringback, then bridged to the outside party until the caller
// hangs up. No agent is involved.
TEST_F(CallCenter, IvrTransferNodeSendsTheCallerToAnOutsideNumber) {
  auto outside = start_outside_party("outside");
  auto f = find("flows", "name", "main");
  f["definition"]["nodes"]["sales"] = {{"type", "transfer"}, {"number", "+8610086"}, {"trunk", "loopback"}};
  replace("flows", f);
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000041", "1", 4000), 0);
  EXPECT_EQ(wait_process(outside, 30s).value_or(-1), 0) << "the outside party saw no BYE";
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "transferred") << rec.dump();
  EXPECT_EQ(rec["agent_id"], 0);
  auto l = legs(rec["id"].get<std::string>(), "transfer");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["peer"], "+8610086");
  EXPECT_EQ(l[0]["sip_status"], 200);
}

// 1001 works on two phones (a desk phone that only rings, a softphone that
// answers): an offer rings both; when the softphone answers, the desk
// phone gets CANCEL (200, 487, ACK). One offer, one answered call.
TEST_F(CallCenter, EveryRegisteredDeviceOfTheAgentRings) {
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_noanswer.xml");
  start_phone("1001", "agent_answer.xml");
  ASSERT_TRUE(eventually([&] { return agent_status(agent).value("devices", 0) == 2; }))
      << agent_status(agent).dump();
  set_status(agent, {{"status", "ready"}});
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000042", "1", 3000), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "answered") << rec.dump();
  EXPECT_EQ(rec["offers"], 1);
  const auto desk = read_file(d.str() + "/phone-1001-1-messages.log");
  EXPECT_NE(desk.find("CANCEL sip:"), std::string::npos) << desk;
  EXPECT_NE(desk.find("487 Request Terminated"), std::string::npos) << desk;
}

// caller ── 1 ──▶ 1001 answers ── re-INVITE a=sendonly (hold) ──▶ 200 a=recvonly,
//   1 s later re-INVITE a=sendrecv (resume) ──▶ 200; the routing log has
//   hold_started and hold_ended for the call (hold time counts in AHT).
TEST_F(CallCenter, HoldAndResumeAreReportedToRouting) {
  const auto agent = agent_id("1001");
  start_phone("1001", "agent_answer_hold.xml");
  set_status(agent, {{"status", "ready"}});
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000043", "1", 6000), 0);
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "answered") << rec.dump();
  const auto types = event_types(rec["id"].get<std::string>());
  EXPECT_TRUE(contains(types, "hold_started"));
  EXPECT_TRUE(contains(types, "hold_ended"));
  // The record has the hold too: once, about the scenario's 1 s pause
  // (bounded loosely above: a slow machine stretches it, never shrinks it).
  EXPECT_EQ(rec["holds"], 1) << rec.dump();
  EXPECT_GE(rec["hold_ms"].get<std::int64_t>(), 900) << rec.dump();
  EXPECT_LT(rec["hold_ms"].get<std::int64_t>(), 6000) << rec.dump();
}

// A real softphone as the agent: baresip registers as 1002 (digest auth),
// auto-answers the offer and sends a 440 Hz tone from a WAV file; the
// caller (SIPp) streams its pcap. The encrypted recording has both: the
// caller on the left, baresip's tone on the right.
TEST_F(CallCenter, BaresipAgentAnswersAndIsHeard) {
  TempDir phone("hotline-baresip-agent");
  {
    // One second of a 440 Hz tone, 8 kHz mono 16-bit, repeated by the file
    // source for as long as the call lasts.
    std::string pcm;
    for (int i = 0; i < 8000 * 20; ++i) {
      const auto v = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 440 * i / 8000.0));
      pcm.push_back(static_cast<char>(v & 0xff));
      pcm.push_back(static_cast<char>((v >> 8) & 0xff));
    }
    auto le32 = [](std::uint32_t v) {
      return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)};
    };
    std::ofstream(phone.str() + "/tone.wav", std::ios::binary)
        << "RIFF" << le32(36 + static_cast<std::uint32_t>(pcm.size())) << "WAVEfmt " << le32(16)
        << std::string{1, 0, 1, 0} << le32(8000) << le32(16000) << std::string{2, 0, 16, 0} << "data"
        << le32(static_cast<std::uint32_t>(pcm.size())) << pcm;
    std::ofstream(phone.str() + "/config") << "poll_method epoll\nsip_listen 127.0.0.1:" << free_udp_port()
                                           << "\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\n"
                                              "module aufile.so\nmodule_app account.so\nmodule_app menu.so\n"
                                              "audio_source aufile,"
                                           << phone.str() << "/tone.wav\n";
    std::ofstream(phone.str() + "/accounts")
        << "<sip:1002@127.0.0.1:" << sip_port << ";transport=udp>;auth_pass=" << sip_passwords["1002"]
        << ";regint=60;answermode=auto\n";
  }
  ProcessOptions o;
  o.cwd = phone.str();
  o.log_path = d.str() + "/baresip.log";
  o.die_with_parent = true;
  background.push_back(spawn_process({"/usr/bin/baresip", "-f", phone.str(), "-t", "60"}, o));
  const auto agent = agent_id("1002");
  ASSERT_TRUE(eventually([&] { return agent_status(agent).value("device_registered", false); }))
      << read_file(d.str() + "/baresip.log");
  set_status(agent, {{"status", "ready"}});
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000044", "1", 5000), 0);
  auto rec = last_call([](const json& c) { return !c.value("recording_id", std::string()).empty(); });
  EXPECT_EQ(rec["disposition"], "answered") << rec.dump();
  EXPECT_EQ(rec["agent_id"], agent);
  auto audio = api->get("/api/v1/recordings/" + rec["recording_id"].get<std::string>() + "/audio");
  ASSERT_EQ(audio.status, 200);
  const auto [caller_level, agent_level] = channel_levels(audio.body);
  EXPECT_GT(caller_level, 100.0);
  EXPECT_GT(agent_level, 1000.0) << "baresip's tone is missing from the agent's channel";
}

// caller ── 1 ──▶ transfer node ── INVITE +8610086 ──▶ carrier trunk: 401 (digest challenge)
//                                ── ACK, INVITE with Authorization (user "carrier") ──▶ 200
//   caller ◀═══ RTP ═══▶ carrier, until the caller's BYE ── BYE ──▶ carrier.
TEST_F(CallCenter, TrunkThatChallengesGetsOurDigestCredentials) {
  auto carrier = start_outside_party("carrier", "trunk_challenge.xml",
                                     {{"username", "carrier"}, {"password", "s3cret-pass"}});
  auto f = find("flows", "name", "main");
  f["definition"]["nodes"]["sales"] = {{"type", "transfer"}, {"number", "+8610086"}, {"trunk", "loopback"}};
  replace("flows", f);
  ASSERT_EQ(call("caller_info_hangup.xml", "13900000045", "1", 3000), 0);
  EXPECT_EQ(wait_process(carrier, 30s).value_or(-1), 0) << "the carrier did not accept our credentials";
  auto rec = last_call();
  EXPECT_EQ(rec["disposition"], "transferred") << rec.dump();
  auto l = legs(rec["id"].get<std::string>(), "transfer");
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0]["sip_status"], 200);
}

// A wallboard's first view is exact: the live snapshot is cached (rebuilt
// every 250 ms), so a status set a moment before the socket opens must
// follow the snapshot from the hub's history, never be lost. Agent 1002's
// later change marks the end of what the first view includes.
TEST_F(CallCenter, LiveSnapshotIsBroughtUpToDate) {
  const auto agent = agent_id("1001");
  const auto marker = agent_id("1002");
  set_status(agent, {{"status", "ready"}});  // logs in
  set_status(agent, {{"status", "not_ready"}, {"reason", 100}});
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // the cache now says not_ready
  set_status(agent, {{"status", "ready"}});
  WsClient ws(server->port());
  ws.handshake("/api/v1/events", api->token);
  auto snapshot = ws.read();
  ASSERT_EQ(snapshot["type"], "snapshot") << snapshot.dump();
  std::string status;
  for (const auto& a : snapshot["data"]["agents"])
    if (a["agent_id"] == agent) status = a["status"];
  set_status(marker, {{"status", "ready"}});
  std::int64_t last_seq = snapshot["seq"];
  for (;;) {
    auto m = ws.read();
    ASSERT_GT(m["seq"].get<std::int64_t>(), last_seq) << "events follow the snapshot in seq order";
    last_seq = m["seq"];
    if (m["type"] != "agent.state") continue;
    if (m["data"]["agent_id"] == agent) status = m["data"]["status"];
    if (m["data"]["agent_id"] == marker) break;
  }
  EXPECT_EQ(status, "ready") << "the change made just before connecting was lost";
}
