#include "sip/registrar.h"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <charconv>
#include <ctime>

namespace hotline::sip {
namespace {

std::string user_key(std::string_view tenant, std::string_view user) {
  std::string k(tenant);
  k.push_back('\0');
  k.append(user);
  return k;
}

// The Date of a 200 OK: formatted once per second, not per response.
std::string_view http_date(common::WallTime t) {
  thread_local std::time_t cached_second = -1;
  thread_local std::string cached;
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  if (tt != cached_second) {
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_second = tt;
  }
  return cached;
}

// A device refreshing its binding sends the Contact it registered, which we
// stored as that URI's string: compare the strings first and parse the
// stored URI for the RFC 3261 §19.1.4 comparison only when they differ.
bool same_contact(const std::string& stored, const UriView& uri, const std::string& uri_str) {
  if (stored == uri_str) return true;
  auto b = Uri::parse(stored);
  return b && b->equivalent(uri.owned());
}

}  // namespace

const char* binding_event_name(BindingEvent e) {
  switch (e) {
    case BindingEvent::kRegistered:
      return "registered";
    case BindingEvent::kRefreshed:
      return "refreshed";
    case BindingEvent::kUnregistered:
      return "unregistered";
    case BindingEvent::kExpired:
      return "expired";
    case BindingEvent::kUnreachable:
      return "unreachable";
    case BindingEvent::kReachable:
      return "reachable";
  }
  return "?";
}

void InMemoryCredentialStore::add_domain(std::string domain, std::string tenant) {
  domains_[to_lower(domain)] = std::move(tenant);
}

void InMemoryCredentialStore::add_user(std::string tenant, std::string user, std::string password) {
  add_credential(Credential{std::move(tenant), std::move(user), std::move(password), {}, {}});
}

void InMemoryCredentialStore::add_credential(Credential c) {
  std::string k = user_key(c.tenant, c.user);
  users_[k] = std::move(c);
}

std::optional<std::string> InMemoryCredentialStore::tenant_for_domain(std::string_view domain) {
  auto it = domains_.find(to_lower(domain));
  if (it == domains_.end()) return std::nullopt;
  return it->second;
}

void InMemoryCredentialStore::lookup(std::string_view tenant, std::string_view user,
                                     std::function<void(std::optional<Credential>)> done) {
  std::optional<Credential> c;
  lookup_now(tenant, user, c);
  done(std::move(c));
}

bool InMemoryCredentialStore::visit_now(std::string_view tenant, std::string_view user, Visitor& visitor) {
  visitor.on(users_.find(user_key(tenant, user)));
  return true;
}

bool InMemoryCredentialStore::lookup_now(std::string_view tenant, std::string_view user,
                                         std::optional<Credential>& out) {
  const Credential* c = users_.find(user_key(tenant, user));
  if (c)
    out = *c;
  else
    out.reset();
  return true;
}

Registrar::Registrar(RegistrarConfig config, CredentialStore& store, common::Clock& clock)
    : config_(std::move(config)),
      store_(store),
      clock_(clock),
      nonces_(config_.nonce_secret.empty() ? random_secret_hex(32) : config_.nonce_secret,
              config_.nonce_ttl) {}

Registrar::~Registrar() { *alive_ = false; }

Message Registrar::challenge(const Message& req, const Peer& from, std::string_view realm, bool stale,
                             bool sha256) const {
  Message r = make_response(req, 401, &from);
  char nonce[NonceManager::kNonceSize];
  nonces_.issue_to(realm, clock_.wall_ms(), nonce);
  // RFC 7616 §3.7: one challenge per algorithm, in order of preference.
  // Written straight into the response (DigestChallenge::str() without
  // the temporaries).
  auto add = [&](DigestAlgorithm a) {
    r.add_header_parts(HeaderId::kWwwAuthenticate,
                       {"Digest realm=\"", realm, "\", nonce=\"", std::string_view(nonce, sizeof nonce),
                        "\", algorithm=", algorithm_name(a), ", qop=\"auth\"", stale ? ", stale=true" : ""});
  };
  if (sha256 && config_.sha256_first) add(DigestAlgorithm::kSha256);
  add(DigestAlgorithm::kMd5);
  if (sha256 && !config_.sha256_first) add(DigestAlgorithm::kSha256);
  return r;
}

// What the registrar reads from a REGISTER, as views into it (the request
// must outlive this and must not move: `realm` may view `domain`).
struct Registrar::Request {
  const Message* req = nullptr;
  boost::container::small_vector<NameAddrView, 2> contacts;  // parsed before any auth work
  DigestCredentialsView creds;                               // for our realm, when has_creds
  bool has_creds = false;
  std::string scratch;     // digest values that needed unescaping (rare)
  std::string user_owned;  // the To user when it had %-escapes (rare)
  std::string_view user;
  std::string domain;  // lower-case
  std::string_view realm;
  std::optional<std::string> tenant;
  std::string aor;  // user@domain

  Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;

  // 0 when the request can be worked on, else the status to answer (400).
  int read(const Message& m, std::string_view fixed_realm) {
    req = &m;
    // Only the To URI's user and host are needed: as validation read them,
    // or from the text of an edited (or built) message.
    Message::ToIds to;
    if (auto ids = m.to_ids()) {
      to = *ids;
    } else {
      NameAddrView na;
      if (na.parse(m.header(HeaderId::kTo)) || na.wildcard) return 400;
      to = Message::ToIds{na.uri.user, na.uri.host, na.uri.is_sip};
    }
    if (!to.is_sip || to.user.empty()) return 400;
    // Contacts must parse before we spend anything on auth (RFC 4475 regbadct).
    contacts.clear();
    bool bad = false;
    m.for_each_value(HeaderId::kContact, [&](std::string_view c) {
      NameAddrView na;
      bad = na.parse(c) != nullptr;
      if (!bad) contacts.push_back(na);
      return !bad;
    });
    if (bad) return 400;
    if (to.user.find('%') == std::string_view::npos) {
      user = to.user;
    } else {
      user_owned = unescape(to.user).value_or(std::string(to.user));
      user = user_owned;
    }
    domain = to_lower(to.host);
    realm = fixed_realm.empty() ? std::string_view(domain) : fixed_realm;
    aor.clear();
    aor.append(user).append("@").append(domain);
    return read_credentials(m) ? 0 : 400;
  }

 private:
  // Our realm's credentials; anything else is "no credentials". False when
  // one is malformed.
  bool read_credentials(const Message& m) {
    has_creds = false;
    scratch.clear();
    bool bad = false;
    m.for_each_value(HeaderId::kAuthorization, [&](std::string_view v) {
      DigestCredentialsView c;
      if (c.parse(v, scratch)) {
        bad = true;
        return false;
      }
      if (c.realm != realm) return true;
      creds = c;
      has_creds = true;
      return false;
    });
    return !bad;
  }
};

// An authenticated REGISTER waiting for its user's credential.
struct Registrar::PendingAuth {
  std::optional<Message> owned;  // copied only when the store answers later
  Request r;
  Peer from;
  Responder respond;
  bool answered = false;  // the store called back already
};

void Registrar::handle(const Message& req, const Peer& from, std::function<void(Message)> respond) {
  handle(req, from, [respond = std::move(respond)](const Peer&, Message m) { respond(std::move(m)); });
}

void Registrar::handle(const Message& req, const Peer& from, const Responder& respond) {
  Request r;
  if (int status = r.read(req, config_.realm)) return respond(from, make_response(req, status, &from));
  challenge_or_verify(r, from, respond);
}

void Registrar::challenge_or_verify(Request& r, const Peer& from, const Responder& respond) {
  const Message& req = *r.req;
  if (!r.has_creds || !r.creds.algorithm_supported)
    return respond(from, challenge(req, from, r.realm, false, config_.offer_sha256));
  switch (nonces_.check(r.creds.nonce, r.realm, clock_.wall_ms())) {
    case NonceManager::Check::kInvalid:
      return respond(from, challenge(req, from, r.realm, false, config_.offer_sha256));
    case NonceManager::Check::kStale:
      return respond(from, challenge(req, from, r.realm, true, config_.offer_sha256));
    case NonceManager::Check::kValid:
      break;
  }
  r.tenant = store_.tenant_for_domain(r.domain);  // looked up once the nonce is good
  if (!r.tenant || r.creds.username != r.user) return verify(r, from, respond, nullptr);
  // Most stores hold credentials in memory: read in place, no request state.
  struct AtOnce final : CredentialStore::Visitor {
    Registrar* self;
    const Request* r;
    const Peer* from;
    const Responder* respond;
    void on(const Credential* c) override { self->verify(*r, *from, *respond, c); }
  } at_once;
  at_once.self = this;
  at_once.r = &r;
  at_once.from = &from;
  at_once.respond = &respond;
  if (store_.visit_now(*r.tenant, r.creds.username, at_once)) return;
  auto p = std::make_shared<PendingAuth>();
  p->from = from;
  p->respond = respond;
  p->r.read(req, config_.realm);
  p->r.tenant = r.tenant;
  std::weak_ptr<bool> alive = alive_;
  store_.lookup(*r.tenant, r.creds.username, [this, alive, p](std::optional<Credential> cred) {
    if (alive.expired()) return;
    p->answered = true;
    verify(p->r, p->from, p->respond, cred ? &*cred : nullptr);
  });
  // A store that answers inside lookup() needed nothing more; a later
  // answer needs its own copy of the request (the caller's goes away when
  // we return), and the views read again from that copy.
  if (!p->answered) {
    p->owned = req;
    p->r.read(*p->owned, config_.realm);
  }
}

void Registrar::verify(const Request& r, const Peer& from, const Responder& respond, const Credential* cred) {
  const DigestCredentialsView& creds = r.creds;
  char computed[64];
  std::string_view ha1;
  if (cred && r.tenant && creds.username == r.user) {
    if (!cred->password.empty())
      ha1 = std::string_view(
          computed, digest_ha1_to(creds.algorithm, creds.username, r.realm, cred->password, computed));
    else if (creds.algorithm == DigestAlgorithm::kMd5)
      ha1 = cred->ha1_md5;
    else
      ha1 = cred->ha1_sha256;
  }
  bool ok = !ha1.empty();
  if (!ok) {
    // Same work as a real check, so unknown users cost the same time.
    ha1 = std::string_view(computed,
                           digest_ha1_to(creds.algorithm, creds.username, r.realm, "\x01unknown", computed));
  }
  ok = digest_response_matches(creds.algorithm, ha1, creds, "REGISTER") && ok;
  if (auth_observer_) auth_observer_(from, ok);
  if (!ok) return respond(from, make_response(*r.req, 403, &from));
  authenticated(r, from, respond);
}

void Registrar::authenticated(const Request& r, const Peer& from, const Responder& respond) {
  const Message& req = *r.req;
  const std::string& aor = r.aor;
  const std::string& tenant = *r.tenant;
  auto now = clock_.now();
  std::optional<std::uint32_t> header_expires = req.expires();
  auto& list = aors_[aor];
  auto remove_at = [&](size_t i, BindingEvent ev) {
    Binding b = std::move(list[i]);
    list.erase(list.begin() + static_cast<long>(i));
    --count_;
    emit(ev, b);
  };
  // §10.3 step 6: "*" only alone and with Expires: 0.
  bool wildcard = false;
  for (const auto& c : r.contacts) wildcard = wildcard || c.wildcard;
  if (wildcard) {
    if (r.contacts.size() != 1 || !header_expires || *header_expires != 0) {
      if (list.empty()) aors_.erase(aor);
      return respond(from, make_response(req, 400, &from));
    }
    while (!list.empty()) remove_at(list.size() - 1, BindingEvent::kUnregistered);
    aors_.erase(aor);
    Message ok = make_response(req, 200, &from);
    ok.add_header("Date", http_date(clock_.wall_now()));
    return respond(from, std::move(ok));
  }
  struct Update {
    const NameAddrView* na;
    std::string uri;  // what a new binding stores (UriView::str())
    std::uint32_t expires;
  };
  boost::container::small_vector<Update, 2> updates;
  for (const auto& na : r.contacts) {
    std::uint64_t e = header_expires.value_or(static_cast<std::uint32_t>(config_.default_expires.count()));
    ParamView p;
    if (find_param(na.params, true, "expires", p)) {
      std::string unescaped;
      std::string_view value = p.value;
      if (p.escaped) value = unescaped = param_value(p);
      std::uint64_t v;
      if (parse_uint(value, v, 0xffffffffu)) e = v;
    }
    if (e > 0 && e < static_cast<std::uint64_t>(config_.min_expires.count())) {
      if (list.empty()) aors_.erase(aor);
      Message m = make_response(req, 423, &from);
      m.add_header(HeaderId::kMinExpires, std::to_string(config_.min_expires.count()));
      return respond(from, std::move(m));
    }
    e = std::min<std::uint64_t>(e, static_cast<std::uint64_t>(config_.max_expires.count()));
    updates.push_back(Update{&na, na.uri.str(), static_cast<std::uint32_t>(e)});
  }
  std::string_view call_id = req.call_id();
  std::uint32_t cseq = req.cseq();
  // §10.3 step 7: an out-of-order REGISTER from the same Call-ID is refused.
  // An equal CSeq can only be a retransmission (REGISTER is handled without
  // transaction state, see Stack), and re-applying it is idempotent.
  for (const auto& u : updates) {
    for (const auto& b : list) {
      if (same_contact(b.contact, u.na->uri, u.uri) && b.call_id == call_id && cseq < b.cseq) {
        return respond(from, make_response(req, 500, &from));
      }
    }
  }
  std::string_view ua = req.header(HeaderId::kUserAgent);
  for (const auto& u : updates) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const Binding& b) { return same_contact(b.contact, u.na->uri, u.uri); });
    if (u.expires == 0) {
      if (it != list.end()) remove_at(static_cast<size_t>(it - list.begin()), BindingEvent::kUnregistered);
      continue;
    }
    auto expires_at = now + std::chrono::seconds(u.expires);
    earliest_expiry_ = std::min(earliest_expiry_, expires_at);
    if (it != list.end()) {
      it->flow = from;
      it->call_id = call_id;
      it->cseq = cseq;
      it->expires_at = expires_at;
      it->user_agent = ua;
      it->reachable = true;
      emit(BindingEvent::kRefreshed, *it);
      continue;
    }
    if (count_ >= config_.max_bindings) {
      if (list.empty()) aors_.erase(aor);
      Message m = make_response(req, 503, &from);
      m.add_header(HeaderId::kRetryAfter, "60");
      return respond(from, std::move(m));
    }
    if (list.size() >= config_.max_contacts_per_aor) {
      // Evict the binding closest to expiry: devices that rebooted with a
      // new contact must not be locked out by their own stale bindings.
      auto oldest = std::min_element(list.begin(), list.end(), [](const Binding& a, const Binding& b) {
        return a.expires_at < b.expires_at;
      });
      remove_at(static_cast<size_t>(oldest - list.begin()), BindingEvent::kUnregistered);
    }
    Binding b;
    b.aor = aor;
    b.tenant = tenant;
    b.contact = u.uri;
    b.flow = from;
    b.call_id = call_id;
    b.cseq = cseq;
    b.expires_at = expires_at;
    b.user_agent = ua;
    list.push_back(std::move(b));
    ++count_;
    emit(BindingEvent::kRegistered, list.back());
  }
  Message ok = make_response(req, 200, &from);
  for (const auto& b : list) {
    auto left = std::chrono::duration_cast<std::chrono::seconds>(b.expires_at - now).count();
    char num[24];
    auto end = std::to_chars(num, num + sizeof num, std::max<long long>(left, 0)).ptr;
    ok.add_header_parts(HeaderId::kContact, {"<", b.contact, ">;expires=", std::string_view(num, end - num)});
  }
  if (list.empty()) aors_.erase(aor);
  ok.add_header("Date", http_date(clock_.wall_now()));
  respond(from, std::move(ok));
}

std::vector<Binding> Registrar::lookup(std::string_view aor) const {
  const std::vector<Binding>* list = aors_.find(aor);
  if (!list) return {};
  auto now = clock_.now();
  std::vector<Binding> out;
  for (const auto& b : *list)
    if (b.expires_at > now) out.push_back(b);
  return out;
}

std::vector<Binding> Registrar::all() const {
  std::vector<Binding> out;
  out.reserve(count_);
  for (const auto& e : aors_.entries())
    for (const auto& b : e.value) out.push_back(b);
  return out;
}

// Called every second: walks the bindings only when the earliest expiry may
// have passed (a lower bound: refreshes only move expiries later), and
// recomputes that bound from what is left.
void Registrar::expire() {
  auto now = clock_.now();
  if (now < earliest_expiry_) return;
  earliest_expiry_ = common::SteadyTime::max();
  // Backwards: erase_at() moves the last entry, which was already walked.
  for (size_t e = aors_.size(); e-- > 0;) {
    auto& list = aors_.entries()[e].value;
    for (size_t i = list.size(); i-- > 0;) {
      if (list[i].expires_at <= now) {
        Binding b = std::move(list[i]);
        list.erase(list.begin() + static_cast<long>(i));
        --count_;
        emit(BindingEvent::kExpired, b);
      } else {
        earliest_expiry_ = std::min(earliest_expiry_, list[i].expires_at);
      }
    }
    if (list.empty()) aors_.erase_at(e);
  }
}

void Registrar::set_reachable(std::string_view aor, std::string_view contact, bool reachable) {
  std::vector<Binding>* list = aors_.find(aor);
  if (!list) return;
  for (auto& b : *list) {
    if (b.contact != contact || b.reachable == reachable) continue;
    b.reachable = reachable;
    emit(reachable ? BindingEvent::kReachable : BindingEvent::kUnreachable, b);
  }
}

}  // namespace hotline::sip
