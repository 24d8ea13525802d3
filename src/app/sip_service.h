// app/sip_service.h — the SIP stack inside `hotline serve`.
//
// Runs sip::Stack on its own event loop thread, with credentials from the
// database (iam::Extensions) cached in memory: the registrar's lookups never
// touch the database (they must not block the SIP loop), and the cache is
// reloaded every few seconds and at once when the API changes an extension.
//
// INVITEs and in-dialog requests go to the call layer (set_call_layer);
// without one an INVITE is answered 480 Temporarily Unavailable. REGISTER,
// OPTIONS and the registrar's qualify pings are the stack's own.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "app/config.h"
#include "common/flat_string_map.h"
#include "common/metrics.h"
#include "iam/extensions.h"
#include "sip/stack.h"

namespace hotline::app {

class DbCredentialStore final : public sip::CredentialStore {
 public:
  DbCredentialStore(iam::Extensions& extensions, std::string realm, std::string default_tenant);
  // Re-reads every extension; safe from any thread. Throws on storage errors.
  void reload();
  std::size_t size() const;

  std::optional<std::string> tenant_for_domain(std::string_view domain) override;
  void lookup(std::string_view tenant, std::string_view user,
              std::function<void(std::optional<sip::Credential>)> done) override;
  bool lookup_now(std::string_view tenant, std::string_view user,
                  std::optional<sip::Credential>& out) override;
  // The entry read in place while the snapshot is held (no copy per REGISTER).
  bool visit_now(std::string_view tenant, std::string_view user, Visitor& visitor) override;

 private:
  struct Snapshot {
    std::unordered_map<std::string, std::string> domains;  // sip domain -> tenant slug
    common::FlatStringMap<sip::Credential> credentials;    // "tenant\0ext"
  };
  std::shared_ptr<const Snapshot> snapshot() const;

  iam::Extensions& extensions_;
  std::string realm_;
  std::string default_tenant_;
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
};

class SipService {
 public:
  SipService(const Config& config, iam::Extensions& extensions, common::MetricsRegistry& metrics);
  ~SipService();

  // Loads credentials, binds the transports, calls `before_run` with the
  // stack (the loop is not running yet: build the call layer there) and
  // starts the loop thread.
  common::Status start(std::function<void(sip::Stack&)> before_run = {});
  // Where INVITEs and binding events go; call from `before_run` (or before start).
  void set_call_layer(sip::SessionHandler* calls, sip::RegistrarListener* presence);
  // Runs `f` on the SIP loop (before the stack stops) — e.g. hang up every call.
  void run_on_loop_and_wait(std::function<void()> f);
  // Stops the stack (on its loop) and joins the thread. Idempotent.
  void stop();

  std::vector<sip::ListenAddress> bound() const { return bound_; }
  DbCredentialStore& credentials() { return credentials_; }

 private:
  class Events;
  void reload_loop();

  Config config_;
  common::MetricsRegistry& metrics_;
  DbCredentialStore credentials_;
  boost::asio::io_context io_{1};  // run by one thread: the SIP and call loop
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<sip::Stack> stack_;
  std::unique_ptr<Events> events_;
  std::vector<sip::ListenAddress> bound_;
  std::thread loop_;
  std::thread reloader_;
  std::mutex reload_mu_;
  std::condition_variable reload_cv_;
  bool stopping_ = false;
  sip::SessionHandler* pending_calls_ = nullptr;
  sip::RegistrarListener* pending_presence_ = nullptr;
};

// Builds the stack configuration from `[sip]` keys (exposed for tests).
sip::StackConfig sip_stack_config(const Config& c);

}  // namespace hotline::app
