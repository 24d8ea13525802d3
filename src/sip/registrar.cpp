#include "sip/registrar.h"

#include <algorithm>
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
std::string http_date(common::WallTime t) {
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
bool same_contact(const std::string& stored, const Uri& uri, const std::string& uri_str) {
  if (stored == uri_str) return true;
  auto b = Uri::parse(stored);
  return b && b->equivalent(uri);
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

Message Registrar::challenge(const Message& req, const Peer& from, const std::string& realm, bool stale,
                             bool sha256) const {
  Message r = make_response(req, 401, &from);
  DigestChallenge ch;
  ch.realm = realm;
  ch.nonce = nonces_.issue(realm, clock_.wall_ms());
  ch.qop = "auth";
  ch.stale = stale;
  // RFC 7616 §3.7: one challenge per algorithm, in order of preference.
  auto add = [&](DigestAlgorithm a) {
    ch.algorithm = a;
    r.add_header(HeaderId::kWwwAuthenticate, ch.str());
  };
  if (sha256 && config_.sha256_first) add(DigestAlgorithm::kSha256);
  add(DigestAlgorithm::kMd5);
  if (sha256 && !config_.sha256_first) add(DigestAlgorithm::kSha256);
  return r;
}

void Registrar::handle(const Message& req, const Peer& from, std::function<void(Message)> respond) {
  // Only the To URI's user and host are needed: read them from the text.
  NameAddrView to;
  if (to.parse(req.header(HeaderId::kTo)) || to.wildcard || !to.uri.is_sip || to.uri.user.empty()) {
    return respond(make_response(req, 400, &from));
  }
  // Contacts must parse before we spend anything on auth (RFC 4475 regbadct);
  // the parsed ones are kept for the binding update.
  std::vector<NameAddr> contacts;
  bool bad_contact = false;
  req.for_each_value(HeaderId::kContact, [&](std::string_view c) {
    auto na = NameAddr::parse(c);
    if (!na) {
      bad_contact = true;
      return false;
    }
    contacts.push_back(std::move(*na));
    return true;
  });
  if (bad_contact) return respond(make_response(req, 400, &from));
  std::string user = unescape(to.uri.user).value_or(std::string(to.uri.user));
  std::string domain = to_lower(to.uri.host);
  std::string realm = config_.realm.empty() ? domain : config_.realm;
  std::optional<std::string> tenant = store_.tenant_for_domain(domain);

  // Find our realm's credentials; anything else is "no credentials".
  std::optional<DigestCredentials> creds;
  bool bad_credentials = false;
  req.for_each_value(HeaderId::kAuthorization, [&](std::string_view v) {
    auto c = DigestCredentials::parse(v);
    if (!c) {
      bad_credentials = true;
      return false;
    }
    if (c->realm != realm) return true;
    creds = std::move(*c);
    return false;
  });
  if (bad_credentials) return respond(make_response(req, 400, &from));
  if (!creds || !creds->algorithm_supported)
    return respond(challenge(req, from, realm, false, config_.offer_sha256));
  switch (nonces_.check(creds->nonce, realm, clock_.wall_ms())) {
    case NonceManager::Check::kInvalid:
      return respond(challenge(req, from, realm, false, config_.offer_sha256));
    case NonceManager::Check::kStale:
      return respond(challenge(req, from, realm, true, config_.offer_sha256));
    case NonceManager::Check::kValid:
      break;
  }
  PendingAuth now;
  now.req = &req;
  now.from = from;
  now.respond = std::move(respond);
  now.creds = std::move(*creds);
  now.realm = std::move(realm);
  now.aor = user + "@" + domain;
  now.user = std::move(user);
  now.tenant = std::move(tenant);
  now.contacts = std::move(contacts);
  if (!now.tenant || now.creds.username != now.user) return verify(now, std::nullopt);
  // Most stores hold credentials in memory: answer without a heap-held state.
  if (std::optional<Credential> cred; store_.lookup_now(*now.tenant, now.creds.username, cred))
    return verify(now, cred);
  auto p = std::make_shared<PendingAuth>(std::move(now));
  std::weak_ptr<bool> alive = alive_;
  store_.lookup(*p->tenant, p->creds.username, [this, alive, p](std::optional<Credential> cred) {
    if (alive.expired()) return;
    p->answered = true;
    verify(*p, cred);
  });
  // An in-memory or cached store answers at once; only a later answer needs
  // its own copy of the request (the caller's goes away when we return).
  if (!p->answered) {
    p->owned = req;
    p->req = &*p->owned;
  }
}

void Registrar::verify(PendingAuth& p, const std::optional<Credential>& cred) {
  const DigestCredentials& creds = p.creds;
  std::string ha1;
  if (cred && p.tenant && creds.username == p.user) {
    if (!cred->password.empty())
      ha1 = digest_ha1(creds.algorithm, creds.username, p.realm, cred->password);
    else if (creds.algorithm == DigestAlgorithm::kMd5)
      ha1 = cred->ha1_md5;
    else
      ha1 = cred->ha1_sha256;
  }
  bool ok = !ha1.empty();
  if (!ok) {
    // Same work as a real check, so unknown users cost the same time.
    ha1 = digest_ha1(creds.algorithm, creds.username, p.realm, "\x01unknown");
  }
  ok = digest_response_matches(creds.algorithm, ha1, creds, "REGISTER") && ok;
  if (auth_observer_) auth_observer_(p.from, ok);
  if (!ok) return p.respond(make_response(*p.req, 403, &p.from));
  authenticated(*p.req, p.from, *p.tenant, p.aor, p.respond, p.contacts);
}

void Registrar::authenticated(const Message& req, const Peer& from, const std::string& tenant,
                              const std::string& aor, const std::function<void(Message)>& respond,
                              std::vector<NameAddr>& parsed) {
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
  size_t contact_count = 0;
  req.for_each_value(HeaderId::kContact, [&](std::string_view c) {
    ++contact_count;
    wildcard = wildcard || trim(c) == "*";
    return true;
  });
  if (wildcard) {
    if (contact_count != 1 || !header_expires || *header_expires != 0) {
      if (list.empty()) aors_.erase(aor);
      return respond(make_response(req, 400, &from));
    }
    while (!list.empty()) remove_at(list.size() - 1, BindingEvent::kUnregistered);
    aors_.erase(aor);
    Message ok = make_response(req, 200, &from);
    ok.add_header("Date", http_date(clock_.wall_now()));
    return respond(std::move(ok));
  }
  struct Update {
    NameAddr na;
    std::string uri;  // na.uri.str(): what a new binding stores
    std::uint32_t expires;
  };
  std::vector<Update> updates;
  for (auto& contact : parsed) {
    NameAddr* na = &contact;  // moved into its Update below
    std::uint64_t e = header_expires.value_or(static_cast<std::uint32_t>(config_.default_expires.count()));
    if (const Param* p = find_param(na->params, "expires")) {
      std::uint64_t v;
      if (parse_uint(p->value, v, 0xffffffffu)) e = v;
    }
    if (e > 0 && e < static_cast<std::uint64_t>(config_.min_expires.count())) {
      if (list.empty()) aors_.erase(aor);
      Message r = make_response(req, 423, &from);
      r.add_header(HeaderId::kMinExpires, std::to_string(config_.min_expires.count()));
      return respond(std::move(r));
    }
    e = std::min<std::uint64_t>(e, static_cast<std::uint64_t>(config_.max_expires.count()));
    std::string uri = na->uri.str();
    updates.push_back(Update{std::move(*na), std::move(uri), static_cast<std::uint32_t>(e)});
  }
  std::string call_id(req.call_id());
  std::uint32_t cseq = req.cseq();
  // §10.3 step 7: an out-of-order REGISTER from the same Call-ID is refused.
  // An equal CSeq can only be a retransmission (REGISTER is handled without
  // transaction state, see Stack), and re-applying it is idempotent.
  for (const auto& u : updates) {
    for (const auto& b : list) {
      if (same_contact(b.contact, u.na.uri, u.uri) && b.call_id == call_id && cseq < b.cseq) {
        return respond(make_response(req, 500, &from));
      }
    }
  }
  std::string ua(req.header(HeaderId::kUserAgent));
  for (const auto& u : updates) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const Binding& b) { return same_contact(b.contact, u.na.uri, u.uri); });
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
      Message r = make_response(req, 503, &from);
      r.add_header(HeaderId::kRetryAfter, "60");
      return respond(std::move(r));
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
    ok.add_header(HeaderId::kContact,
                  "<" + b.contact + ">;expires=" + std::to_string(std::max<long long>(left, 0)));
  }
  if (list.empty()) aors_.erase(aor);
  ok.add_header("Date", http_date(clock_.wall_now()));
  respond(std::move(ok));
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
