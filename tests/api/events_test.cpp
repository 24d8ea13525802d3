// GET /api/v1/events: the live-events WebSocket over real sockets (plain and
// TLS), with a live::Hub made through ApiServer's setup hook.
#include <gtest/gtest.h>

#include <boost/asio/ssl.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "api/server_fixture.h"
#include "api/ws_client.h"
#include "live/live.h"

using namespace hotline;
using namespace hotline::testing;
using nlohmann::json;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// A live API server: ApiServer plus the Hub behind /api/v1/events.
struct LiveServer {
  explicit LiveServer(api::HttpServerOptions o = {})
      : s("", o, fast_policy(), [this](ApiServer& srv, api::ApiOptions& ao) {
          auto h = std::make_shared<live::Hub>();
          h->set_snapshot_provider([](std::int64_t tenant, const iam::Principal& who) {
            return json{{"tenant", tenant}, {"user", who.username}};
          });
          srv.keep_alive.push_back(h);
          hub = h.get();
          ao.services.live = hub;
          // As in `hotline serve`: open sockets follow their sign-in.
          srv.keep_alive.push_back(std::make_shared<Watcher>(*hub, *srv.directory, srv.clock));
        }) {}

  // A SessionWatcher on its own loop thread.
  struct Watcher {
    Watcher(live::Hub& hub, iam::Directory& dir, common::Clock& clock)
        : work(asio::make_work_guard(io)), watcher(io, hub, dir, clock), thread([this] { io.run(); }) {}
    ~Watcher() {
      work.reset();
      io.stop();
      thread.join();
    }
    asio::io_context io;
    asio::executor_work_guard<asio::io_context::executor_type> work;
    live::SessionWatcher watcher;
    std::thread thread;
  };

  std::int64_t tenant(const std::string& slug) { return s.directory->find_tenant(slug)->id; }
  void publish(const std::string& slug, const std::string& type, json data,
               std::optional<iam::Permission> p = std::nullopt) {
    hub->publish(live::Event{tenant(slug), type, p, std::move(data)});
  }
  // Waits (bounded) until the hub has `n` subscribers: sessions end asynchronously.
  bool wait_subscribers(std::size_t n) {
    for (int i = 0; i < 1000 && hub->subscribers() != n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return hub->subscribers() == n;
  }

  live::Hub* hub = nullptr;
  ApiServer s;
};

// Connects and handshakes; the first message (the snapshot) is left unread.
std::unique_ptr<WsClient> connect(LiveServer& l, const std::string& token, const std::string& query = "") {
  auto c = std::make_unique<WsClient>(l.s.port());
  c->handshake("/api/v1/events" + query, token);
  return c;
}

// A raw upgrade request through the HTTP client (to read error bodies).
HttpResult raw_upgrade(HttpClient& c, const std::string& target, bool with_key = true) {
  std::vector<std::pair<std::string, std::string>> h = {
      {"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"}};
  if (with_key) h.emplace_back("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
  return c.request(http::verb::get, target, "", h);
}

}  // namespace

TEST(Events, HeaderTokenGetsSnapshotThenEventsInOrder) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, c.token);
  auto snap = ws->read();
  EXPECT_EQ(snap["type"], "snapshot");
  EXPECT_EQ(snap["data"], (json{{"tenant", l.tenant("acme")}, {"user", "ann"}}));
  for (int i = 1; i <= 5; ++i) l.publish("acme", "agent.state", {{"n", i}});
  std::int64_t last_seq = snap["seq"];
  for (int i = 1; i <= 5; ++i) {
    auto m = ws->read();
    EXPECT_EQ(m["type"], "agent.state");
    EXPECT_EQ(m["data"]["n"], i);
    EXPECT_EQ(m["seq"], last_seq + 1);
    last_seq = m["seq"];
  }
}

TEST(Events, QueryTokenWorksForBrowsers) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, "", "?access_token=" + c.token);
  EXPECT_EQ(ws->read()["type"], "snapshot");
  l.publish("acme", "queue.update", {{"q", 1}});
  EXPECT_EQ(ws->read()["type"], "queue.update");
}

TEST(Events, OtherTenantsAndUnpermittedEventsNeverArrive) {
  LiveServer l;
  auto agent = l.s.signed_in("acme", "ann", {"agent"});
  auto sup = l.s.signed_in("acme", "sue", {"supervisor"});
  l.s.signed_in("other", "olga", {"agent"});
  auto wa = connect(l, agent.token);
  auto ws = connect(l, sup.token);
  EXPECT_EQ(wa->read()["type"], "snapshot");
  EXPECT_EQ(ws->read()["type"], "snapshot");
  l.publish("other", "agent.state", {{"secret", "other tenant"}});
  l.publish("acme", "agent.state", {{"who", "everyone"}}, iam::Permission::AgentsRead);
  l.publish("acme", "marker", {{"last", true}});
  // The agent lacks agents.read: the marker is the next thing it sees.
  EXPECT_EQ(wa->read()["type"], "marker");
  EXPECT_EQ(ws->read()["data"]["who"], "everyone");
  EXPECT_EQ(ws->read()["type"], "marker");
}

TEST(Events, TypesQueryFilters) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, c.token, "?types=queue.update,call.update");
  EXPECT_EQ(ws->read()["type"], "snapshot");
  l.publish("acme", "agent.state", {});
  l.publish("acme", "call.update", {});
  EXPECT_EQ(ws->read()["type"], "call.update");
}

TEST(Events, BadTypesIs400NamingTheField) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto r = raw_upgrade(c, "/api/v1/events?types=Agent%20State");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.json()["error"]["details"]["field"], "types");
  EXPECT_EQ(l.hub->subscribers(), 0u);
}

TEST(Events, BadOrMissingTokenIs401WithTheErrorShape) {
  LiveServer l;
  l.s.signed_in("acme", "ann", {"agent"});
  for (std::string query : {"", "?access_token=nope"}) {
    WsClient ws(l.s.port());
    try {
      ws.handshake("/api/v1/events" + query, query.empty() ? "bad-token" : "");
      FAIL() << "handshake must be declined";
    } catch (const beast::system_error& e) {
      EXPECT_EQ(e.code(), websocket::error::upgrade_declined) << e.code().message();
    }
  }
  // The answer itself (Beast's client keeps neither status nor body here).
  auto anon = l.s.client();
  EXPECT_EQ(raw_upgrade(anon, "/api/v1/events").json()["error"]["code"], "unauthorized");
  anon.token = "bad-token";
  auto bad = raw_upgrade(anon, "/api/v1/events");
  EXPECT_EQ(bad.status, 401u);
  EXPECT_EQ(bad.json()["error"]["code"], "unauthorized");
  EXPECT_EQ(l.hub->subscribers(), 0u);
}

TEST(Events, QueryTokenIsOnlyForUpgrades) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto anon = l.s.client();
  EXPECT_EQ(anon.get("/api/v1/me?access_token=" + c.token).status, 401u);
}

TEST(Events, PlainGetIs426) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto r = c.get("/api/v1/events");
  EXPECT_EQ(r.status, 426u);
  EXPECT_EQ(r.json()["error"]["code"], "upgrade_required");
  EXPECT_EQ(r.header("Upgrade"), "websocket");
}

TEST(Events, MalformedHandshakeIs400) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto r = raw_upgrade(c, "/api/v1/events", /*with_key=*/false);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.json()["error"]["details"]["field"], "Sec-WebSocket-Key");
  EXPECT_EQ(l.hub->subscribers(), 0u);
}

TEST(Events, WithoutTheServiceIs503) {
  ApiServer s;
  auto c = s.signed_in("acme", "ann", {"agent"});
  auto r = raw_upgrade(c, "/api/v1/events");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(r.json()["error"]["code"], "unavailable");
}

TEST(Events, PingGetsPongOtherTextIsIgnored) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, c.token);
  ws->read();
  ws->write("hello");
  ws->write(R"({"type":"subscribe"})");
  ws->write(R"({"type":"ping"})");
  EXPECT_EQ(ws->read(), (json{{"type", "pong"}}));
}

TEST(Events, UpgradedConnectionCountsAndClientCloseEndsTheSubscription) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  const auto before = l.s.server->connections();
  auto ws = connect(l, c.token);
  ws->read();
  EXPECT_EQ(l.s.server->connections(), before + 1);
  EXPECT_EQ(l.hub->subscribers(), 1u);
  ws->ws.close(websocket::close_code::normal);
  EXPECT_TRUE(l.wait_subscribers(0));
}

TEST(Events, DrainClosesWith1001) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, c.token);
  ws->read();
  l.s.server->drain();
  EXPECT_EQ(ws->read_until_closed(), 1001u);
  EXPECT_EQ(ws->ws.reason().reason, "going away");
  EXPECT_TRUE(l.wait_subscribers(0));
  // The closing session counted as in flight until its close handshake ended.
  for (int i = 0; i < 500 && l.s.server->in_flight() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(l.s.server->in_flight(), 0u);
}

TEST(Events, OversizeClientMessageClosesWith1009) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, c.token);
  ws->read();
  ws->write(std::string(5000, 'x'));
  EXPECT_EQ(ws->read_until_closed(), 1009u);
  EXPECT_TRUE(l.wait_subscribers(0));
}

TEST(Events, SlowSubscriberIsDroppedAndTheServerStaysHealthy) {
  api::HttpServerOptions o;
  o.ws_max_queued_messages = 16;
  LiveServer l(o);
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto slow = connect(l, c.token);  // never reads
  ASSERT_TRUE(l.wait_subscribers(1));
  const json big = {{"pad", std::string(16 << 10, 'x')}};
  // Loopback buffers take a few MB; then the server's queue fills.
  for (int i = 0; i < 4000 && l.hub->subscribers() == 1; ++i) l.publish("acme", "agent.state", big);
  EXPECT_TRUE(l.wait_subscribers(0)) << "the slow subscriber was not dropped";
  // Others are served as before.
  EXPECT_EQ(c.get("/healthz").status, 200u);
  auto fresh = connect(l, c.token);
  EXPECT_EQ(fresh->read()["type"], "snapshot");
  l.publish("acme", "agent.state", {{"n", 1}});
  EXPECT_EQ(fresh->read()["data"]["n"], 1);
}

namespace {

void make_cert(const std::string& dir) {
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir + "/key.pem -out " + dir +
                    "/cert.pem -days 1 -subj /CN=localhost >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
}

}  // namespace

TEST(Events, WorksOverTls) {
  TempDir dir;
  make_cert(dir.str());
  api::HttpServerOptions o;
  o.tls_cert_file = dir.str() + "/cert.pem";
  o.tls_key_file = dir.str() + "/key.pem";
  LiveServer l(o);
  // Sign in over TLS as well (the fixture's client speaks plain HTTP).
  auto t = l.s.directory->create_tenant("acme", "acme", iam::Actor::cli());
  ASSERT_TRUE(t);
  ASSERT_TRUE(l.s.directory->create_user(t->id, {"ann", "ann", "", ApiServer::kPassword, {"agent"}, true},
                                         iam::Actor::cli()));
  auto login = l.s.directory->login({"acme", "ann", ApiServer::kPassword, "127.0.0.1", ""});
  ASSERT_TRUE(login);
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_none);
  BasicWsClient<beast::ssl_stream<beast::tcp_stream>> ws(io, ctx);
  beast::get_lowest_layer(ws.ws).connect({asio::ip::make_address("127.0.0.1"), l.s.port()});
  beast::get_lowest_layer(ws.ws).expires_after(std::chrono::seconds(60));
  ws.ws.next_layer().handshake(asio::ssl::stream_base::client);
  ws.ws.handshake("localhost", "/api/v1/events?access_token=" + login->token);
  EXPECT_EQ(ws.read()["type"], "snapshot");
  l.publish("acme", "agent.state", {{"n", 7}});
  EXPECT_EQ(ws.read()["data"]["n"], 7);
  l.s.server->drain();
  EXPECT_EQ(ws.read_until_closed(), 1001u);
}

TEST(Events, UpgradeToAnotherRouteIsAnsweredAsPlainHttp) {
  LiveServer l;
  auto c = l.s.client();
  auto r = raw_upgrade(c, "/healthz");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json()["status"], "ok");
  EXPECT_EQ(c.get("/healthz").status, 200u);  // still plain HTTP on the same connection
}

TEST(Events, LogoutClosesTheOpenWebSocketWith1008) {
  LiveServer l;
  auto c = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, c.token);
  ASSERT_EQ(ws->read()["type"], "snapshot");
  auto other = l.s.signed_in("acme", "bob", {"agent"});
  auto stays = connect(l, other.token);
  ASSERT_EQ(stays->read()["type"], "snapshot");
  ASSERT_EQ(c.post("/api/v1/auth/logout", json::object()).status / 100, 2u);
  EXPECT_EQ(ws->read_until_closed(), 1008u);
  EXPECT_EQ(ws->ws.reason().reason, "session ended");
  ASSERT_TRUE(l.wait_subscribers(1));
  // Bob's session is untouched and still receives events.
  l.publish("acme", "agent.state", {{"n", 1}});
  EXPECT_EQ(stays->read()["data"]["n"], 1);
}

// Between full checks the watcher re-reads only what a change names: a
// logout names its session, user changes name the user, role definitions
// (and a log that no longer reaches back) name everything.
TEST(Events, DirectoryChangesNameWhatTheyAffect) {
  LiveServer l;
  auto admin = l.s.signed_in("acme", "root", {"admin"});
  auto ann = l.s.signed_in("acme", "ann", {"agent"});
  const auto tenant = l.tenant("acme");
  auto ann_id = l.s.directory->find_user(tenant, "ann")->id;
  auto& dir = *l.s.directory;

  auto before = dir.epoch();
  ASSERT_EQ(ann.post("/api/v1/auth/logout", json::object()).status / 100, 2u);
  auto logout = dir.changes_since(before);
  EXPECT_FALSE(logout.everything);
  EXPECT_EQ(logout.sessions.size(), 1u);
  EXPECT_TRUE(logout.users.empty());
  EXPECT_EQ(logout.epoch, dir.epoch());

  before = dir.epoch();
  ASSERT_TRUE(dir.set_password(tenant, ann_id, "another-long-password", iam::Actor::cli()));
  auto password = dir.changes_since(before);
  EXPECT_FALSE(password.everything);
  EXPECT_EQ(password.users, std::vector<std::int64_t>{ann_id});
  EXPECT_TRUE(password.sessions.empty());

  EXPECT_TRUE(dir.changes_since(dir.epoch()).sessions.empty());
  EXPECT_FALSE(dir.changes_since(dir.epoch()).everything);
  // Far older than the log: everything may have changed.
  iam::UserPatch rename;
  rename.display_name = "Ann";
  for (int i = 0; i < 1100; ++i) ASSERT_TRUE(dir.update_user(tenant, ann_id, rename, iam::Actor::cli()));
  EXPECT_TRUE(dir.changes_since(before).everything);
  EXPECT_EQ(admin.get("/healthz").status, 200u);
}

TEST(Events, NewPasswordAndDeactivationCloseTheUsersSockets) {
  LiveServer l;
  auto admin = l.s.signed_in("acme", "root", {"admin"});
  auto ann = l.s.signed_in("acme", "ann", {"agent"});
  auto bob = l.s.signed_in("acme", "bob", {"agent"});
  auto ws_ann = connect(l, ann.token);
  auto ws_bob = connect(l, bob.token);
  ASSERT_EQ(ws_ann->read()["type"], "snapshot");
  ASSERT_EQ(ws_bob->read()["type"], "snapshot");
  const auto tenant = l.tenant("acme");
  auto ann_id = l.s.directory->find_user(tenant, "ann")->id;
  auto bob_id = l.s.directory->find_user(tenant, "bob")->id;
  ASSERT_TRUE(l.s.directory->set_password(tenant, ann_id, "another-long-password", iam::Actor::cli()));
  EXPECT_EQ(ws_ann->read_until_closed(), 1008u);
  iam::UserPatch off;
  off.active = false;
  ASSERT_TRUE(l.s.directory->update_user(tenant, bob_id, off, iam::Actor::cli()));
  EXPECT_EQ(ws_bob->read_until_closed(), 1008u);
  EXPECT_TRUE(l.wait_subscribers(0));
  EXPECT_EQ(admin.get("/healthz").status, 200u);
}

TEST(Events, ARoleChangeAppliesToTheOpenSocket) {
  LiveServer l;
  auto admin = l.s.signed_in("acme", "root", {"admin"});  // a tenant keeps an admin
  auto ann = l.s.signed_in("acme", "ann", {"agent"});
  auto ws = connect(l, ann.token);
  ASSERT_EQ(ws->read()["type"], "snapshot");
  const auto tenant = l.tenant("acme");
  auto ann_id = l.s.directory->find_user(tenant, "ann")->id;
  auto roled = l.s.directory->set_user_roles(tenant, ann_id, {"supervisor"}, iam::Actor::cli());
  ASSERT_TRUE(roled) << roled.error().message;
  // Within the watcher's tick the socket carries supervisor-only events; the
  // marker event (no permission needed) is published after each attempt so
  // a read never blocks.
  bool arrived = false;
  for (int i = 0; i < 50 && !arrived; ++i) {
    l.publish("acme", "call.update", {{"i", i}}, iam::Permission::ReportsRead);
    l.publish("acme", "marker", {{"i", i}});
    for (;;) {
      auto m = ws->read();
      if (m["type"] == "call.update") arrived = true;
      if (m["type"] == "marker") break;
    }
    if (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(arrived) << "supervisor events never reached the re-roled user";
}
