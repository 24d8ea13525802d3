// sip/registrar.h — REGISTER with digest authentication (RFC 3261 §10,
// RFC 7616) and the location service the call layer looks devices up in.
//
// Credentials come from outside through CredentialStore (the storage layer
// implements it; InMemoryCredentialStore is for tests and tools). Domains map
// to tenants; users are looked up per (tenant, user) and may be answered
// asynchronously.
//
// Hostile-traffic rules built in here:
//  * unknown domains, unknown users and wrong passwords are indistinguishable:
//    every REGISTER without valid credentials gets the same 401 challenge,
//    every bad credential the same 403, and an unknown user still costs one
//    digest computation (no timing oracle for svwar-style enumeration);
//  * nonces are stateless (see digest.h), so challenges cost no memory;
//  * bindings are bounded per AOR (oldest evicted) and in total (503);
//  * an observer hears every auth success/failure so the stack can ban
//    sources that keep failing (see guard.h).
//
// NAT: each binding remembers the flow (transport, source address/port,
// connection) the REGISTER came from; requests to the device must go there,
// not to the Contact address (which is often a private address).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/flat_string_map.h"
#include "sip/digest.h"
#include "sip/message.h"
#include "sip/types.h"

namespace hotline::sip {

// What the storage layer knows about one SIP user (an agent's extension).
// Give either the plain password or the HA1 hashes for the realm in use
// (HA1 = H(user:realm:password), RFC 7616 §3.4.2); SHA-256 is only offered
// to the client when the password or ha1_sha256 is available.
struct Credential {
  std::string tenant;
  std::string user;
  std::string password;
  std::string ha1_md5;
  std::string ha1_sha256;
};

class CredentialStore {
 public:
  virtual ~CredentialStore() = default;
  // SIP domain (To/From host of a REGISTER) -> tenant id; nullopt if the
  // domain is not ours. Called on the stack's thread; must not block (keep
  // the domain map in memory).
  virtual std::optional<std::string> tenant_for_domain(std::string_view domain) = 0;
  // Looks up (tenant, user) and calls `done` exactly once with the
  // credential or nullopt. `done` may be called synchronously, or later —
  // but then on the stack's io_context thread (post it there).
  virtual void lookup(std::string_view tenant, std::string_view user,
                      std::function<void(std::optional<Credential>)> done) = 0;
  // The same answer without a callback when the store holds it in memory:
  // true with `out` set (nullopt: no such user), false when only lookup()
  // can tell. The registrar asks this first; a store that always answers
  // here saves a heap-held request state per authenticated REGISTER.
  virtual bool lookup_now(std::string_view /*tenant*/, std::string_view /*user*/,
                          std::optional<Credential>& /*out*/) {
    return false;
  }
  // Receives a credential read in place (nullptr: no such user); the
  // pointer is valid only during the call.
  class Visitor {
   public:
    virtual void on(const Credential* credential) = 0;

   protected:
    ~Visitor() = default;
  };
  // lookup_now() without the copy: calls `visitor` before returning and
  // returns true, or returns false (not calling it) when only lookup() can
  // tell. The registrar asks this first. The default goes through
  // lookup_now(); in-memory stores read their entry in place, which saves
  // copying the credential's strings on every authenticated REGISTER.
  virtual bool visit_now(std::string_view tenant, std::string_view user, Visitor& visitor) {
    std::optional<Credential> c;
    if (!lookup_now(tenant, user, c)) return false;
    visitor.on(c ? &*c : nullptr);
    return true;
  }
};

class InMemoryCredentialStore final : public CredentialStore {
 public:
  void add_domain(std::string domain, std::string tenant);
  void add_user(std::string tenant, std::string user, std::string password);
  void add_credential(Credential c);
  std::optional<std::string> tenant_for_domain(std::string_view domain) override;
  void lookup(std::string_view tenant, std::string_view user,
              std::function<void(std::optional<Credential>)> done) override;
  bool lookup_now(std::string_view tenant, std::string_view user, std::optional<Credential>& out) override;
  bool visit_now(std::string_view tenant, std::string_view user, Visitor& visitor) override;

 private:
  std::unordered_map<std::string, std::string> domains_;
  common::FlatStringMap<Credential> users_;  // "tenant\0user"
};

struct RegistrarConfig {
  std::string realm;  // fixed realm; empty = the REGISTER's domain
  std::chrono::seconds min_expires{60};
  std::chrono::seconds max_expires{3600};
  std::chrono::seconds default_expires{3600};
  std::chrono::seconds nonce_ttl{300};
  size_t max_contacts_per_aor = 10;
  size_t max_bindings = 1'000'000;
  // SHA-256 (RFC 7616) as an extra challenge. Off by default: deployed
  // clients break on it — SIPp 3.6 answers the first challenge and fails on
  // SHA-256, baresip 1.0 (libre) fails on any SHA-256 challenge ("Function
  // not implemented"). When on, MD5 still goes first unless sha256_first
  // (RFC 7616 order: most preferred first). Verification accepts either.
  bool offer_sha256 = false;
  bool sha256_first = false;
  std::string nonce_secret;  // empty = random per process
};

struct Binding {
  std::string aor;  // "user@domain", domain lower-case
  std::string tenant;
  std::string contact;  // the Contact URI as registered
  Peer flow;            // send requests for this device here
  std::string call_id;
  std::uint32_t cseq = 0;
  common::SteadyTime expires_at{};
  std::string user_agent;
  bool reachable = true;
};

enum class BindingEvent { kRegistered, kRefreshed, kUnregistered, kExpired, kUnreachable, kReachable };
const char* binding_event_name(BindingEvent e);

class RegistrarListener {
 public:
  virtual ~RegistrarListener() = default;
  virtual void on_binding(BindingEvent event, const Binding& binding) = 0;
};

class Registrar {
 public:
  Registrar(RegistrarConfig config, CredentialStore& store, common::Clock& clock);
  ~Registrar();

  void set_listener(RegistrarListener* l) { listener_ = l; }
  // Told about every credential check: ok=false for a wrong/unknown user.
  void set_auth_observer(std::function<void(const Peer&, bool ok)> f) { auth_observer_ = std::move(f); }

  // Sends a response to the peer a REGISTER came from.
  using Responder = std::function<void(const Peer& to, Message response)>;
  // Handles one REGISTER; calls `respond` exactly once (maybe later, when
  // the credential store answers: then with a copy of `respond`). The
  // stack passes one long-lived Responder, so a REGISTER answered at once
  // costs no callback object.
  void handle(const Message& req, const Peer& from, const Responder& respond);
  // The same with a callback for this request only (tests, tools).
  void handle(const Message& req, const Peer& from, std::function<void(Message)> respond);

  // Location service.
  std::vector<Binding> lookup(std::string_view aor) const;
  std::vector<Binding> all() const;
  size_t binding_count() const { return count_; }
  // Removes expired bindings (fires kExpired). Call about once a second.
  void expire();
  // Qualify results from the stack.
  void set_reachable(std::string_view aor, std::string_view contact, bool reachable);

  const RegistrarConfig& config() const { return config_; }

 private:
  Message challenge(const Message& req, const Peer& from, std::string_view realm, bool stale,
                    bool sha256) const;
  struct Request;  // a REGISTER's To, Contacts and credentials, as views
  struct PendingAuth;
  void challenge_or_verify(Request& r, const Peer& from, const Responder& respond);
  void verify(const Request& r, const Peer& from, const Responder& respond, const Credential* cred);
  void authenticated(const Request& r, const Peer& from, const Responder& respond);
  void emit(BindingEvent e, const Binding& b) {
    if (listener_) listener_->on_binding(e, b);
  }

  RegistrarConfig config_;
  CredentialStore& store_;
  common::Clock& clock_;
  NonceManager nonces_;
  RegistrarListener* listener_ = nullptr;
  std::function<void(const Peer&, bool)> auth_observer_;
  common::FlatStringMap<std::vector<Binding>> aors_;  // by AOR
  size_t count_ = 0;
  common::SteadyTime earliest_expiry_ = common::SteadyTime::max();  // no binding expires before
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hotline::sip
