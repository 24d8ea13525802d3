#include "app/serve.h"

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <iostream>
#include <optional>
#include <thread>

#include "api/api.h"
#include "app/cli.h"
#include "app/contact_center.h"
#include "app/sip_service.h"
#include "common/clock.h"
#include "iam/extensions.h"
#include "iam/iam.h"
#include "schema/schema.h"
#include "store/database.h"

namespace hotline::app {

namespace asio = boost::asio;

iam::AuthPolicy auth_policy(const Config& c) {
  iam::AuthPolicy p;
  p.kdf = security::KdfCost{static_cast<std::uint64_t>(c.auth_kdf_opslimit),
                            static_cast<std::size_t>(c.auth_kdf_memlimit_kib) * 1024};
  p.session_ttl = std::chrono::seconds(c.auth_session_ttl_s);
  p.max_failed_logins = static_cast<int>(c.auth_max_failed_logins);
  p.lockout = std::chrono::seconds(c.auth_lockout_s);
  p.max_failures_per_source = static_cast<int>(c.auth_max_failures_per_source);
  p.min_password_length = static_cast<std::size_t>(c.auth_min_password_length);
  return p;
}

namespace {

// Hides credentials in a postgresql:// URL for logs.
std::string redact_url(const std::string& url) {
  auto at = url.find('@');
  auto scheme = url.find("://");
  if (at == std::string::npos || scheme == std::string::npos) return url;
  return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

// Drain, then stop the loop: polls so that the last in-flight request's
// write completes before the threads exit. Lives in serve()'s frame, so the
// timer's handler may capture `this`.
class Drainer {
 public:
  Drainer(asio::io_context& io, api::HttpServer& server, std::chrono::seconds timeout)
      : io_(io), server_(server), timer_(io), deadline_(std::chrono::steady_clock::now() + timeout) {}

  void start(api::Api& api) {
    spdlog::info("draining: no new connections; waiting for {} in-flight request(s)", server_.in_flight());
    api.set_draining(true);
    server_.drain();
    check();
  }

 private:
  void check() {
    const bool done = server_.in_flight() == 0;
    if (done || std::chrono::steady_clock::now() >= deadline_) {
      if (!done) spdlog::warn("drain timeout: {} request(s) cut off", server_.in_flight());
      io_.stop();
      return;
    }
    timer_.expires_after(std::chrono::milliseconds(20));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) check();
    });
  }

  asio::io_context& io_;
  api::HttpServer& server_;
  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_;
};

}  // namespace

int serve(const Config& c) {
  setup_logging(c);
  store::Options so;
  so.pool_size = static_cast<int>(c.storage_pool_size);
  std::unique_ptr<store::Database> db;
  try {
    db = store::Database::open(c.storage_url, so);
    db->migrate(schema::migrations());
  } catch (const std::exception& e) {
    spdlog::critical("storage: {}", e.what());
    return 1;
  }
  spdlog::info("storage: {} at schema version {}", redact_url(c.storage_url), db->schema_version());

  auto& clock = common::SystemClock::instance();
  common::MetricsRegistry metrics;
  iam::Directory directory(*db, clock, auth_policy(c));
  iam::Extensions extensions(*db, clock);

  const unsigned threads = c.http_threads > 0 ? static_cast<unsigned>(c.http_threads)
                                              : std::max(2u, std::thread::hardware_concurrency());
  asio::io_context io(static_cast<int>(threads));

  // The contact center: configuration, records, live events, media and the
  // call layer on the SIP loop (see app/contact_center.h).
  std::unique_ptr<ContactCenter> center;
  try {
    center = std::make_unique<ContactCenter>(c, *db, directory, metrics, io);
  } catch (const std::exception& e) {
    spdlog::critical("contact center: {}", e.what());
    return 1;
  }
  std::unique_ptr<SipService> sip;
  if (c.sip_enabled) {
    sip = std::make_unique<SipService>(c, extensions, metrics);
    auto attach = [&](sip::Stack& stack) { center->attach(stack, *sip); };
    if (auto s = sip->start(attach); !s) {
      spdlog::critical("sip: {}", s.error().message);
      return 1;
    }
  }
  api::ApiOptions options;
  options.version = kVersion;
  options.access_log = c.log_access;
  options.sip_realm = c.sip_realm;
  if (sip) options.on_extensions_changed = [&sip] { sip->credentials().reload(); };
  options.services = center->services();
  api::Api api(directory, extensions, *db, metrics, clock, options);

  auto [host, port] = split_host_port(c.http_listen, "http.listen");
  api::HttpServerOptions ho;
  ho.host = host;
  ho.port = port;
  ho.tls_cert_file = c.http_tls_cert;
  ho.tls_key_file = c.http_tls_key;
  ho.max_body_bytes = static_cast<std::size_t>(c.http_max_body_bytes);
  ho.max_header_bytes = static_cast<std::size_t>(c.http_max_header_bytes);
  ho.max_connections = static_cast<std::size_t>(c.http_max_connections);
  ho.idle_timeout = std::chrono::seconds(c.http_idle_timeout_s);
  ho.request_timeout = std::chrono::seconds(c.http_request_timeout_s);
  std::unique_ptr<api::HttpServer> server;
  try {
    server = std::make_unique<api::HttpServer>(io, ho, api.handler(), api.error_responder());
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  server->start();

  auto& connections = metrics.gauge("hotline_http_connections", "Open HTTP connections");
  auto& in_flight = metrics.gauge("hotline_http_in_flight", "HTTP requests being handled");
  asio::steady_timer gauges(io);
  std::function<void()> sample = [&] {
    connections.set(static_cast<std::int64_t>(server->connections()));
    in_flight.set(static_cast<std::int64_t>(server->in_flight()));
    gauges.expires_after(std::chrono::seconds(1));
    gauges.async_wait([&](boost::system::error_code ec) {
      if (!ec) sample();
    });
  };
  sample();

  std::optional<Drainer> drainer;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  int signal_count = 0;
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (++signal_count == 1) {
      spdlog::info("received signal {}; shutting down gracefully", sig);
      gauges.cancel();
      drainer.emplace(io, *server, std::chrono::seconds(c.http_drain_timeout_s));
      drainer->start(api);
      signals.async_wait(on_signal);
    } else {
      spdlog::warn("second signal: stopping now");
      io.stop();
    }
  };
  signals.async_wait(on_signal);

  const std::string url = std::string(server->tls() ? "https" : "http") + "://" +
                          (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(server->port());
  spdlog::info("hotline {} serving {} with {} HTTP thread(s)", kVersion, url, threads);
  std::cout << "listening http=" << url << std::endl;
  if (sip) {
    for (const auto& l : sip->bound()) {
      const char* scheme = l.transport == sip::Transport::kUdp   ? "udp"
                           : l.transport == sip::Transport::kTcp ? "tcp"
                                                                 : "tls";
      spdlog::info("sip: listening on {} {}:{}", scheme, l.address, l.port);
      std::cout << "listening sip=" << scheme << "://" << l.address << ":" << l.port << std::endl;
    }
  }

  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  if (sip) {
    sip->run_on_loop_and_wait([&] { center->shutdown(); });
    sip->stop();
  }
  center.reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace hotline::app
