// An in-process Hotline API on a real socket (port 0), on SQLite or PostgreSQL,
// with a FakeClock so expiry and lockout are tested without sleeping.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "api/api.h"
#include "api/http_client.h"
#include "common/clock.h"
#include "iam/iam.h"
#include "schema/schema.h"
#include "store/database.h"
#include "support/postgres_server.h"
#include "support/temp_dir.h"

namespace hotline::testing {

// Cheap argon2id so that suites with many logins stay fast; production
// defaults are tested in security_tests.
inline iam::AuthPolicy fast_policy() {
  iam::AuthPolicy p;
  p.kdf = security::KdfCost{1, 8 * 1024 * 1024};
  return p;
}

class ApiServer {
  // Declared first so they outlive the server objects below.
  TempDir dir_;
  std::string url_;
  boost::asio::io_context io_;
  std::thread thread_;

 public:
  // `setup` runs after the database, directory and extensions exist and
  // before the Api is built: it may create services (keep them alive in
  // `keep_alive`, destroyed after the server) and put them into the options.
  using Setup = std::function<void(ApiServer&, api::ApiOptions&)>;

  explicit ApiServer(std::string url = "", api::HttpServerOptions options = {},
                     iam::AuthPolicy policy = fast_policy(), Setup setup = {})
      : url_(url.empty() ? default_url() : url) {
    db = store::Database::open(url_);
    db->migrate(schema::migrations());
    directory = std::make_unique<iam::Directory>(*db, clock, policy);
    extensions = std::make_unique<iam::Extensions>(*db, clock);
    auto api_options = test_options();
    if (setup) setup(*this, api_options);
    api = std::make_unique<api::Api>(*directory, *extensions, *db, metrics, clock, api_options);
    options.host = "127.0.0.1";
    options.port = 0;
    server = std::make_unique<api::HttpServer>(io_, options, api->handler(), api->error_responder());
    server->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~ApiServer() {
    io_.stop();
    thread_.join();
  }

  static api::ApiOptions test_options() {
    api::ApiOptions o;
    o.version = "test";
    o.access_log = false;
    return o;
  }

  // HOTLINE_TEST_STORAGE=postgres runs the same suite on a real PostgreSQL
  // server (ctest registers api_tests twice); SQLite otherwise.
  std::string default_url() {
    const char* backend = std::getenv("HOTLINE_TEST_STORAGE");
    if (backend && std::string(backend) == "postgres") {
      static int n = 0;
      return PostgresServer::shared().create_database("api_" + std::to_string(++n));
    }
    return "sqlite://" + dir_.str() + "/hotline.db";
  }

  unsigned short port() const { return server->port(); }
  HttpClient client() { return HttpClient("127.0.0.1", port()); }

  // Creates a tenant and a user with `roles`; returns a client signed in as that user.
  HttpClient signed_in(const std::string& tenant, const std::string& username,
                       std::vector<std::string> roles) {
    auto t = directory->find_tenant(tenant);
    if (!t) t = *directory->create_tenant(tenant, tenant, iam::Actor::cli());
    auto u = directory->create_user(t->id, {username, username, "", kPassword, std::move(roles), true},
                                    iam::Actor::cli());
    if (!u) throw std::runtime_error("cannot create user " + username + ": " + u.error().message);
    auto c = client();
    auto r =
        c.post("/api/v1/auth/login", {{"tenant", tenant}, {"username", username}, {"password", kPassword}});
    if (r.status != 200) throw std::runtime_error("login failed: " + r.body);
    c.token = r.json()["token"];
    return c;
  }

  std::int64_t count(const std::string& table) {
    return db->exec("SELECT COUNT(*) FROM " + table).rows.at(0).integer(0);
  }

  static constexpr const char* kPassword = "correct-horse-battery";

  common::FakeClock clock;
  common::MetricsRegistry metrics;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<iam::Directory> directory;
  std::unique_ptr<iam::Extensions> extensions;
  std::vector<std::shared_ptr<void>> keep_alive;  // services made by `setup`
  std::unique_ptr<api::Api> api;
  std::unique_ptr<api::HttpServer> server;
};

}  // namespace hotline::testing
