#include "app/sip_service.h"

#include <spdlog/spdlog.h>

#include <future>

namespace hotline::app {

namespace asio = boost::asio;

// ---- credentials ----

DbCredentialStore::DbCredentialStore(iam::Extensions& extensions, std::string realm,
                                     std::string default_tenant)
    : extensions_(extensions),
      realm_(std::move(realm)),
      default_tenant_(std::move(default_tenant)),
      snapshot_(std::make_shared<Snapshot>()) {}

void DbCredentialStore::reload() {
  auto next = std::make_shared<Snapshot>();
  std::size_t stale = 0;
  for (const auto& id : extensions_.all_sip_identities()) {
    if (id.sip_domain) next->domains[*id.sip_domain] = id.tenant_slug;
    if (id.realm != realm_) {
      ++stale;  // HA1 made for another realm can never match: needs a new password
      continue;
    }
    sip::Credential c;
    c.tenant = id.tenant_slug;
    c.user = id.extension;
    c.ha1_md5 = id.ha1_md5;
    c.ha1_sha256 = id.ha1_sha256;
    next->credentials[id.tenant_slug + '\0' + id.extension] = std::move(c);
  }
  if (stale > 0) {
    spdlog::warn("sip: {} extension(s) have credentials for another realm than '{}'; set new passwords",
                 stale, realm_);
  }
  std::lock_guard lock(mu_);
  snapshot_ = std::move(next);
}

std::shared_ptr<const DbCredentialStore::Snapshot> DbCredentialStore::snapshot() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

std::size_t DbCredentialStore::size() const { return snapshot()->credentials.size(); }

std::optional<std::string> DbCredentialStore::tenant_for_domain(std::string_view domain) {
  auto snap = snapshot();
  std::string lower(domain);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = snap->domains.find(lower);
  if (it != snap->domains.end()) return it->second;
  if (!default_tenant_.empty()) return default_tenant_;
  return std::nullopt;
}

void DbCredentialStore::lookup(std::string_view tenant, std::string_view user,
                               std::function<void(std::optional<sip::Credential>)> done) {
  std::optional<sip::Credential> c;
  lookup_now(tenant, user, c);
  done(std::move(c));
}

bool DbCredentialStore::lookup_now(std::string_view tenant, std::string_view user,
                                   std::optional<sip::Credential>& out) {
  struct Copy final : Visitor {
    std::optional<sip::Credential>* out;
    void on(const sip::Credential* c) override {
      if (c)
        *out = *c;
      else
        out->reset();
    }
  } copy;
  copy.out = &out;
  return visit_now(tenant, user, copy);
}

bool DbCredentialStore::visit_now(std::string_view tenant, std::string_view user, Visitor& visitor) {
  // Held until the visitor returns: a reload() meanwhile swaps in a new
  // snapshot without freeing this one.
  auto snap = snapshot();
  std::string key;
  key.reserve(tenant.size() + 1 + user.size());
  key.append(tenant).push_back('\0');
  key.append(user);
  visitor.on(snap->credentials.find(key));
  return true;
}

// ---- stack events ----

class SipService::Events final : public sip::RegistrarListener, public sip::SessionHandler {
 public:
  Events(sip::Stack& stack, common::MetricsRegistry& metrics) : stack_(stack), metrics_(metrics) {
    bindings_ = &metrics_.gauge("hotline_sip_registrations", "Registered SIP contacts");
  }

  void on_binding(sip::BindingEvent event, const sip::Binding& b) override {
    metrics_
        .counter("hotline_sip_registrar_events_total", "Registrar events",
                 {{"event", sip::binding_event_name(event)}})
        .inc();
    bindings_->set(static_cast<std::int64_t>(stack_.registrar().binding_count()));
    // Refreshes arrive every few minutes from every phone: not info-worthy.
    spdlog::log(event == sip::BindingEvent::kRefreshed ? spdlog::level::debug : spdlog::level::info,
                "sip: {} {} (tenant {}) contact {} via {}", sip::binding_event_name(event), b.aor, b.tenant,
                b.contact, b.flow.str());
    if (presence_) presence_->on_binding(event, b);
  }

  void on_invite(sip::ServerTxnId txn, const sip::Message& m, const sip::Peer& from) override {
    if (calls_) return calls_->on_invite(txn, m, from);
    spdlog::info("sip: INVITE from {} answered 480 (no call layer)", from.str());
    stack_.reject(txn, 480);
  }
  void on_cancelled(sip::ServerTxnId txn) override {
    if (calls_) calls_->on_cancelled(txn);
  }
  void on_dialog_request(sip::Dialog& d, sip::ServerTxnId txn, const sip::Message& m) override {
    if (calls_) return calls_->on_dialog_request(d, txn, m);
    stack_.respond(txn, stack_.response_for(txn, 501));
  }
  void on_dialog_ack(sip::Dialog& d, const sip::Message& ack) override {
    if (calls_) calls_->on_dialog_ack(d, ack);
  }
  void on_dialog_terminated(const sip::Dialog& d, std::string_view reason) override {
    if (calls_) calls_->on_dialog_terminated(d, reason);
  }

  sip::SessionHandler* calls_ = nullptr;
  sip::RegistrarListener* presence_ = nullptr;

 private:
  sip::Stack& stack_;
  common::MetricsRegistry& metrics_;
  common::Gauge* bindings_;
};

// ---- service ----

namespace {

void add_listen(std::vector<sip::ListenAddress>& out, sip::Transport t, const std::string& value,
                const char* key) {
  if (value.empty()) return;
  auto [host, port] = split_host_port(value, key);
  out.push_back(sip::ListenAddress{t, host, port});
}

}  // namespace

sip::StackConfig sip_stack_config(const Config& c) {
  sip::StackConfig s;
  s.listen.clear();
  add_listen(s.listen, sip::Transport::kUdp, c.sip_udp, "sip.udp");
  add_listen(s.listen, sip::Transport::kTcp, c.sip_tcp, "sip.tcp");
  add_listen(s.listen, sip::Transport::kTls, c.sip_tls, "sip.tls");
  s.transport.tls_cert_file = c.sip_tls_cert;
  s.transport.tls_key_file = c.sip_tls_key;
  s.transport.max_message_size = static_cast<std::size_t>(c.sip_max_message_bytes);
  s.timers.t1 = std::chrono::milliseconds(c.sip_t1_ms);
  s.registrar.realm = c.sip_realm;
  s.registrar.min_expires = std::chrono::seconds(c.sip_min_expires_s);
  s.registrar.max_expires = std::chrono::seconds(c.sip_max_expires_s);
  s.registrar.default_expires = std::chrono::seconds(std::min<std::int64_t>(3600, c.sip_max_expires_s));
  s.advertised_address = c.sip_advertised_address;
  s.qualify_interval = std::chrono::seconds(c.sip_qualify_interval_s);
  s.guard.requests_per_second = static_cast<double>(c.sip_rate_limit);
  s.guard.burst = static_cast<double>(c.sip_rate_burst);
  for (std::size_t start = 0; start < c.sip_trusted_sources.size();) {
    auto end = c.sip_trusted_sources.find(',', start);
    if (end == std::string::npos) end = c.sip_trusted_sources.size();
    std::string prefix = c.sip_trusted_sources.substr(start, end - start);
    std::erase(prefix, ' ');
    if (!prefix.empty()) s.guard.exempt_prefixes.push_back(prefix);
    start = end + 1;
  }
  return s;
}

SipService::SipService(const Config& config, iam::Extensions& extensions, common::MetricsRegistry& metrics)
    : config_(config),
      metrics_(metrics),
      credentials_(extensions, config.sip_realm, config.sip_default_tenant),
      work_(asio::make_work_guard(io_)) {}

SipService::~SipService() { stop(); }

void SipService::set_call_layer(sip::SessionHandler* calls, sip::RegistrarListener* presence) {
  pending_calls_ = calls;
  pending_presence_ = presence;
  if (events_) {
    events_->calls_ = calls;
    events_->presence_ = presence;
  }
}

void SipService::run_on_loop_and_wait(std::function<void()> f) {
  if (!loop_.joinable()) return f();
  std::promise<void> done;
  asio::post(io_, [&] {
    f();
    done.set_value();
  });
  done.get_future().wait();
}

common::Status SipService::start(std::function<void(sip::Stack&)> before_run) {
  credentials_.reload();
  stack_ = std::make_unique<sip::Stack>(io_, sip_stack_config(config_), credentials_);
  events_ = std::make_unique<Events>(*stack_, metrics_);
  events_->calls_ = pending_calls_;
  events_->presence_ = pending_presence_;
  stack_->set_registrar_listener(events_.get());
  stack_->set_session_handler(events_.get());
  if (auto s = stack_->start(); !s) return s;
  bound_ = stack_->bound();
  if (before_run) before_run(*stack_);
  loop_ = std::thread([this] { io_.run(); });
  reloader_ = std::thread([this] { reload_loop(); });
  spdlog::info("sip: {} extension credential(s) loaded, realm '{}'", credentials_.size(), config_.sip_realm);
  return common::ok_status();
}

void SipService::reload_loop() {
  std::unique_lock lock(reload_mu_);
  while (!reload_cv_.wait_for(lock, std::chrono::seconds(5), [this] { return stopping_; })) {
    lock.unlock();
    try {
      credentials_.reload();
    } catch (const std::exception& e) {
      spdlog::error("sip: reloading credentials failed (keeping the previous set): {}", e.what());
    }
    lock.lock();
  }
}

void SipService::stop() {
  {
    std::lock_guard lock(reload_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  reload_cv_.notify_all();
  if (reloader_.joinable()) reloader_.join();
  if (stack_ && loop_.joinable()) {
    asio::post(io_, [this] {
      stack_->stop();
      io_.stop();  // nothing else of ours runs on this loop
    });
  }
  work_.reset();
  if (loop_.joinable()) loop_.join();
}

}  // namespace hotline::app
