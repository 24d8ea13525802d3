// The center repository: validated writes with their audit entries, flow
// versions, uploaded prompts, and the per-tenant snapshot cache.
#include "center/center.h"

#include <fcntl.h>
#include <sndfile.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "center/codec.h"
#include "security/mask.h"

namespace hotline::center {

using common::Error;
using common::Result;
using detail::Invalid;

namespace {

constexpr std::pair<Kind, std::string_view> kKindNames[] = {
    {Kind::kAgent, "agent"},
    {Kind::kSkill, "skill"},
    {Kind::kQueue, "queue"},
    {Kind::kNumber, "number"},
    {Kind::kTrunk, "trunk"},
    {Kind::kCalendar, "calendar"},
    {Kind::kPrompt, "prompt"},
    {Kind::kFlow, "flow"},
    {Kind::kReasonCode, "reason_code"},
    {Kind::kWrapUpCode, "wrapup_code"},
    {Kind::kCustomer, "customer"},
};

[[noreturn]] void refuse(Error e) { throw Invalid{std::move(e)}; }

std::string kind_text(Kind k) { return std::string(to_string(k)); }

Snapshot load(store::Tx& tx, std::int64_t tenant) {
  Snapshot s;
  s.tenant_id = tenant;
  auto rows =
      tx.exec("SELECT id, kind, body, version FROM center_objects WHERE tenant_id = $1 ORDER BY id", {tenant})
          .rows;
  for (const auto& r : rows) {
    auto kind = parse_kind(r.text(1));
    if (!kind) continue;  // a kind from a newer version of Hotline
    try {
      detail::add_object(s, *kind, r.integer(0), json::parse(r.text(2)), static_cast<int>(r.integer(3)));
    } catch (const Invalid&) {
      // Stored before a rule got stricter (or its time zone file vanished):
      // left out of the live configuration rather than failing every load.
    }
  }
  return s;
}

// What the audit log keeps of an object: no secrets, no raw phone numbers
// (auditors need not hold customers.pii.read), no flow bodies (versioned).
json audit_form(Kind kind, json doc) {
  doc = detail::strip_secrets(kind, std::move(doc));
  if (kind == Kind::kCustomer)
    for (auto& p : doc["phones"]) p = security::mask_phone(p.get<std::string>());
  if (kind == Kind::kFlow) doc.erase("definition");
  return doc;
}

// The flow validator's error, in this repository's terms.
Error flow_error(Error e) {
  if (e.code == "invalid") e.code = "invalid_argument";
  if (!e.field.empty() && e.field.rfind("definition", 0) != 0) e.field = "definition." + e.field;
  if (e.field.empty() && e.code == "invalid_argument") e.field = "definition";
  return e;
}

// Refuses a change that introduces a problem `before` did not have: on the
// changed object itself it names the field; elsewhere it names the referrer.
void judge(const Snapshot& before, const Snapshot& after, Kind kind, std::int64_t self,
           const std::string& what, const char* verb) {
  auto old = detail::check(before);
  std::vector<detail::Problem> fresh;
  for (auto& p : detail::check(after))
    if (std::find(old.begin(), old.end(), p) == old.end()) fresh.push_back(std::move(p));
  for (const auto& p : fresh)
    if (p.kind == kind && p.id == self) refuse(Error{p.code, p.message, p.field});
  for (const auto& p : fresh)
    refuse(Error::conflict(std::string("cannot ") + verb + " " + what + ": " + p.owner + " depends on it (" +
                           p.field + ": " + p.message + ")"));
}

template <class F>
auto guarded(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Invalid& e) {
    return e.error;
  } catch (const store::StoreError& e) {
    // Only reachable if a rule above missed a duplicate the database caught.
    if (e.kind() == store::StoreError::Kind::Unique)
      return Error::conflict("an object with this key already exists");
    throw;
  }
}

// Serialises the tenant's configuration writes: taken first, so the checks
// below read what every earlier writer committed (PostgreSQL row lock; SQLite
// writers are serialised by BEGIN IMMEDIATE anyway).
void lock_tenant(store::Tx& tx, std::int64_t tenant) {
  if (tx.exec("UPDATE tenants SET active = active WHERE id = $1", {tenant}).affected == 0)
    refuse(Error::not_found("no tenant with id " + std::to_string(tenant)));
}

bool omitted(const json* body, const char* field) {
  return body && (!body->contains(field) || (*body)[field].is_null());
}

}  // namespace

std::string_view to_string(Kind k) {
  for (const auto& [kind, name] : kKindNames)
    if (kind == k) return name;
  return "?";
}

std::optional<Kind> parse_kind(std::string_view s) {
  for (const auto& [kind, name] : kKindNames)
    if (name == s) return kind;
  return std::nullopt;
}

struct Repository::Write {
  enum class Op { kCreate, kUpdate, kDelete } op;
  Kind kind;
  std::int64_t id = 0;
  json doc;                    // canonical form (create, update)
  const json* body = nullptr;  // the client's body: which kept fields it omitted
};

Repository::Repository(store::Database& db, common::Clock& clock, RepositoryOptions options)
    : db_(db), clock_(clock), options_(std::move(options)) {}

Result<json> Repository::create(std::int64_t tenant, Kind kind, const json& body, const iam::Actor& actor) {
  auto doc = guarded([&]() -> Result<json> { return detail::canonical(kind, body, 0); });
  if (!doc) return doc.error();
  return write(tenant, Write{Write::Op::kCreate, kind, 0, std::move(*doc), &body}, actor);
}

Result<json> Repository::update(std::int64_t tenant, Kind kind, std::int64_t id, const json& body,
                                const iam::Actor& actor) {
  auto doc = guarded([&]() -> Result<json> { return detail::canonical(kind, body, id); });
  if (!doc) return doc.error();
  return write(tenant, Write{Write::Op::kUpdate, kind, id, std::move(*doc), &body}, actor);
}

common::Status Repository::remove(std::int64_t tenant, Kind kind, std::int64_t id, const iam::Actor& actor) {
  auto r = write(tenant, Write{Write::Op::kDelete, kind, id, json(), nullptr}, actor);
  if (!r) return r.error();
  return common::ok_status();
}

namespace {

// Fields a replacing update keeps from the stored object.
void keep_fields(Kind kind, const json& old, const json* body, json& doc) {
  if (kind == Kind::kTrunk && omitted(body, "password")) doc["password"] = old.value("password", "");
  if (kind == Kind::kPrompt) {
    doc["path"] = old.value("path", "");
    doc["bytes"] = old.value("bytes", 0);
    const bool renamed = doc["name"] != old["name"] || doc["language"] != old["language"];
    if (renamed && !doc["path"].get<std::string>().empty())
      refuse(
          Error::invalid("name", "a prompt with uploaded audio keeps its name and language; upload it anew"));
  }
}

void check_user(store::Tx& tx, std::int64_t tenant, const json& doc) {
  if (!doc.contains("user_id") || doc["user_id"].is_null()) return;
  auto rows = tx.exec("SELECT id FROM users WHERE tenant_id = $1 AND id = $2",
                      {tenant, doc["user_id"].get<std::int64_t>()})
                  .rows;
  if (rows.empty()) refuse(Error::invalid("user_id", "no such user in this tenant"));
}

store::Value key_value(Kind kind, const json& doc) {
  auto key = detail::unique_key(kind, doc);
  return key ? store::Value(*key) : store::Value(store::Null{});
}

std::string stored_body(json doc) {
  doc.erase("id");
  doc.erase("version");
  return doc.dump();
}

}  // namespace

Result<json> Repository::write(std::int64_t tenant, const Write& w, const iam::Actor& actor) {
  FlowValidator validator;
  {
    std::lock_guard lock(mu_);
    validator = flow_validator_;
  }
  std::string removed_file;
  const auto kind = kind_text(w.kind);
  auto result = guarded([&]() -> Result<json> {
    return db_.transaction([&](store::Tx& tx) -> json {
      lock_tenant(tx, tenant);
      const auto now = clock_.wall_ms();
      Snapshot before = load(tx, tenant);
      json old;
      int version = 0;
      if (w.op != Write::Op::kCreate) {
        auto rows =
            tx.exec("SELECT body, version FROM center_objects WHERE tenant_id = $1 AND kind = $2 AND id = $3",
                    {tenant, kind, w.id})
                .rows;
        if (rows.empty()) refuse(Error::not_found("no " + kind + " with id " + std::to_string(w.id)));
        old = json::parse(rows[0].text(0));
        old["id"] = w.id;
        version = static_cast<int>(rows[0].integer(1));
      }
      json doc = w.doc;
      if (w.op == Write::Op::kUpdate) keep_fields(w.kind, old, w.body, doc);
      Snapshot after = before;
      if (w.op != Write::Op::kCreate) detail::remove_object(after, w.kind, w.id);
      if (w.op != Write::Op::kDelete) detail::add_object(after, w.kind, w.id, doc, version + 1);
      const json& subject = w.op == Write::Op::kDelete ? old : doc;
      const char* verb = w.op == Write::Op::kDelete ? "delete" : "change";
      judge(before, after, w.kind, w.id, detail::describe(w.kind, w.op == Write::Op::kCreate ? doc : old),
            verb);
      if (w.kind == Kind::kAgent && w.op != Write::Op::kDelete) check_user(tx, tenant, doc);
      if (w.kind == Kind::kFlow && w.op != Write::Op::kDelete && validator)
        if (auto e = validator(doc["definition"], after)) refuse(flow_error(*e));

      std::int64_t id = w.id;
      json details;
      if (w.op == Write::Op::kCreate) {
        id =
            tx.exec(
                  "INSERT INTO center_objects (tenant_id, kind, name, body, version, created_ms, updated_ms) "
                  "VALUES ($1, $2, $3, $4, 1, $5, $5) RETURNING id",
                  {tenant, kind, key_value(w.kind, doc), stored_body(doc), now})
                .rows.at(0)
                .integer(0);
        version = 1;
      } else if (w.op == Write::Op::kUpdate) {
        ++version;
        tx.exec("UPDATE center_objects SET name = $1, body = $2, version = $3, updated_ms = $4 WHERE id = $5",
                {key_value(w.kind, doc), stored_body(doc), static_cast<std::int64_t>(version), now, id});
        details["before"] = audit_form(w.kind, old);
      } else {
        tx.exec("DELETE FROM center_flow_versions WHERE flow_id = $1", {id});
        tx.exec("DELETE FROM center_objects WHERE id = $1", {id});
        details["before"] = audit_form(w.kind, old);
        if (w.kind == Kind::kPrompt) removed_file = old.value("path", "");
      }
      json out = subject;
      out["id"] = id;
      if (w.kind == Kind::kFlow) {
        out["version"] = version;
        if (w.op != Write::Op::kDelete)
          tx.exec(
              "INSERT INTO center_flow_versions (tenant_id, flow_id, version, body, created_ms, actor) "
              "VALUES ($1, $2, $3, $4, $5, $6)",
              {tenant, id, static_cast<std::int64_t>(version), stored_body(doc), now, actor.name});
      }
      if (w.op != Write::Op::kDelete) details["after"] = audit_form(w.kind, out);
      const char* op = w.op == Write::Op::kCreate   ? ".create"
                       : w.op == Write::Op::kUpdate ? ".update"
                                                    : ".delete";
      iam::append_audit(tx, now, actor, tenant, kind + op, kind + ":" + std::to_string(id), details.dump());
      return detail::strip_secrets(w.kind, out);
    });
  });
  if (!result) return result;
  if (!removed_file.empty()) {
    std::error_code ec;
    std::filesystem::remove(removed_file, ec);  // best effort: the record is gone already
  }
  changed(tenant);
  return result;
}

Result<json> Repository::get(std::int64_t tenant, Kind kind, std::int64_t id) {
  auto s = db_.read_transaction([&](store::Tx& tx) { return load(tx, tenant); });
  auto obj = detail::public_json(s, kind, id);
  if (!obj) return Error::not_found("no " + kind_text(kind) + " with id " + std::to_string(id));
  return *obj;
}

std::vector<json> Repository::list(std::int64_t tenant, Kind kind) {
  auto s = db_.read_transaction([&](store::Tx& tx) { return load(tx, tenant); });
  return detail::public_list(s, kind);
}

Result<std::vector<json>> Repository::flow_versions(std::int64_t tenant, std::int64_t id) {
  return db_.read_transaction([&](store::Tx& tx) -> Result<std::vector<json>> {
    auto flow = tx.exec("SELECT id FROM center_objects WHERE tenant_id = $1 AND kind = 'flow' AND id = $2",
                        {tenant, id})
                    .rows;
    if (flow.empty()) return Error::not_found("no flow with id " + std::to_string(id));
    std::vector<json> out;
    for (const auto& r : tx.exec("SELECT version, body, created_ms, actor FROM center_flow_versions "
                                 "WHERE tenant_id = $1 AND flow_id = $2 ORDER BY version",
                                 {tenant, id})
                             .rows) {
      auto body = json::parse(r.text(1));
      out.push_back(json{{"id", id},
                         {"name", body.value("name", "")},
                         {"version", r.integer(0)},
                         {"definition", body.value("definition", json::object())},
                         {"created_ms", r.integer(2)},
                         {"actor", r.text(3)}});
    }
    return out;
  });
}

namespace {

// Writes `bytes` to `path` and flushes them to disk.
bool write_synced(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return false;
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  const bool ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

void sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// nullopt when `path` is a WAV file whose audio decodes to the end.
std::optional<std::string> wav_problem(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return std::string("is not readable audio (") + sf_strerror(nullptr) + ")";
  std::optional<std::string> problem;
  const int major = info.format & SF_FORMAT_TYPEMASK;
  if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX) {
    problem = "must be a WAV file";
  } else if (info.frames <= 0 || info.channels < 1 || info.samplerate < 1) {
    problem = "has no audio frames";
  } else {
    std::vector<short> buf(4096 * static_cast<std::size_t>(info.channels));
    sf_count_t total = 0, n = 0;
    while ((n = sf_readf_short(f, buf.data(), 4096)) > 0) total += n;
    if (total < info.frames) problem = "has truncated audio data";
  }
  sf_close(f);
  return problem;
}

}  // namespace

Result<json> Repository::put_prompt_audio(std::int64_t tenant, const std::string& name,
                                          const std::string& language, const std::string& wav_bytes,
                                          const iam::Actor& actor) {
  auto doc = guarded([&]() -> Result<json> {
    return detail::canonical(Kind::kPrompt, json{{"name", name}, {"language", language}}, 0);
  });
  if (!doc) return doc.error();
  if (wav_bytes.empty()) return Error::invalid("wav", "is empty");
  if (wav_bytes.size() > options_.max_prompt_bytes)
    return Error::invalid("wav", "must be at most " + std::to_string(options_.max_prompt_bytes) + " bytes");

  namespace fs = std::filesystem;
  const fs::path dir = fs::path(options_.custom_prompts_dir) / std::to_string(tenant) / language;
  std::error_code ec;
  fs::create_directories(dir, ec);
  const auto final_path = (dir / (name + ".wav")).string();
  const auto tmp = (dir / ("." + name + ".wav.tmp-" + std::to_string(::getpid()) + "-" +
                           std::to_string(temp_counter_.fetch_add(1))))
                       .string();
  if (ec || !write_synced(tmp, wav_bytes)) {
    fs::remove(tmp, ec);
    return Error::internal("cannot write the prompt file under " + dir.string());
  }
  if (auto problem = wav_problem(tmp)) {
    fs::remove(tmp, ec);
    return Error::invalid("wav", *problem);
  }
  fs::rename(tmp, final_path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Error::internal("cannot store the prompt file: " + ec.message());
  }
  sync_dir(dir.string());

  (*doc)["path"] = final_path;
  (*doc)["bytes"] = static_cast<std::int64_t>(wav_bytes.size());
  const auto key = *detail::unique_key(Kind::kPrompt, *doc);
  auto result = guarded([&]() -> Result<json> {
    return db_.transaction([&](store::Tx& tx) -> json {
      lock_tenant(tx, tenant);
      const auto now = clock_.wall_ms();
      auto rows =
          tx.exec("SELECT id FROM center_objects WHERE tenant_id = $1 AND kind = 'prompt' AND name = $2",
                  {tenant, key})
              .rows;
      std::int64_t id = 0;
      if (rows.empty()) {
        id =
            tx.exec(
                  "INSERT INTO center_objects (tenant_id, kind, name, body, version, created_ms, updated_ms) "
                  "VALUES ($1, 'prompt', $2, $3, 1, $4, $4) RETURNING id",
                  {tenant, key, stored_body(*doc), now})
                .rows.at(0)
                .integer(0);
      } else {
        id = rows[0].integer(0);
        tx.exec("UPDATE center_objects SET body = $1, version = version + 1, updated_ms = $2 WHERE id = $3",
                {stored_body(*doc), now, id});
      }
      json out = *doc;
      out["id"] = id;
      iam::append_audit(tx, now, actor, tenant, "prompt.upload", "prompt:" + std::to_string(id),
                        json{{"after", out}}.dump());
      return out;
    });
  });
  if (result) changed(tenant);
  return result;
}

std::shared_ptr<const Snapshot> Repository::snapshot(std::int64_t tenant) {
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(tenant); it != cache_.end()) return it->second;
  }
  return rebuild(tenant);
}

std::shared_ptr<const Snapshot> Repository::rebuild(std::int64_t tenant) {
  std::lock_guard serial(rebuild_mu_);
  auto s = std::make_shared<Snapshot>(db_.read_transaction([&](store::Tx& tx) { return load(tx, tenant); }));
  s->generation = generation_.fetch_add(1) + 1;
  std::lock_guard lock(mu_);
  cache_[tenant] = s;
  return s;
}

void Repository::changed(std::int64_t tenant) {
  rebuild(tenant);
  std::function<void(std::int64_t)> listener;
  {
    std::lock_guard lock(mu_);
    listener = on_change_;
  }
  if (listener) listener(tenant);
}

void Repository::set_flow_validator(FlowValidator v) {
  std::lock_guard lock(mu_);
  flow_validator_ = std::move(v);
}

void Repository::set_change_listener(std::function<void(std::int64_t tenant)> f) {
  std::lock_guard lock(mu_);
  on_change_ = std::move(f);
}

// ---- Snapshot lookups ----

namespace {

template <class T, class P>
const T* find_if(const std::vector<T>& v, P&& pred) {
  for (const auto& o : v)
    if (pred(o)) return &o;
  return nullptr;
}

std::string_view without_plus(std::string_view s) { return !s.empty() && s[0] == '+' ? s.substr(1) : s; }

}  // namespace

const AgentDef* Snapshot::agent(std::int64_t id) const {
  return find_if(agents, [&](const AgentDef& a) { return a.id == id; });
}
const AgentDef* Snapshot::agent_by_extension(std::string_view ext) const {
  return find_if(agents, [&](const AgentDef& a) { return !a.extension.empty() && a.extension == ext; });
}
const QueueDef* Snapshot::queue(std::string_view name) const {
  return find_if(queues, [&](const QueueDef& q) { return q.name == name; });
}
const NumberDef* Snapshot::number(std::string_view dialled) const {
  if (const auto* exact = find_if(numbers, [&](const NumberDef& n) { return n.number == dialled; }))
    return exact;
  return find_if(numbers,
                 [&](const NumberDef& n) { return without_plus(n.number) == without_plus(dialled); });
}
const FlowDef* Snapshot::flow(std::string_view name) const {
  return find_if(flows, [&](const FlowDef& f) { return f.name == name; });
}
const CalendarDef* Snapshot::calendar(std::string_view name) const {
  return find_if(calendars, [&](const CalendarDef& c) { return c.name == name; });
}
const TrunkDef* Snapshot::trunk(std::string_view name) const {
  return find_if(trunks, [&](const TrunkDef& t) { return t.name == name; });
}

// The most specific matching block wins when trunks overlap.
const TrunkDef* Snapshot::trunk_for_source(std::string_view address) const {
  auto host = detail::parse_network(address);
  if (!host || address.find('/') != std::string_view::npos) return nullptr;
  const TrunkDef* best = nullptr;
  int best_prefix = -1;
  for (const auto& t : trunks) {
    for (const auto& src : t.allowed_sources) {
      auto net = detail::parse_network(src);
      if (net && net->prefix > best_prefix && detail::contains(*net, *host)) {
        best = &t;
        best_prefix = net->prefix;
      }
    }
  }
  return best;
}

const CustomerDef* Snapshot::customer_by_phone(std::string_view phone) const {
  const auto n = detail::normalise_phone(phone);
  if (n.empty()) return nullptr;
  return find_if(customers, [&](const CustomerDef& c) {
    return std::find(c.phones.begin(), c.phones.end(), n) != c.phones.end();
  });
}

const PromptDef* Snapshot::prompt(std::string_view name, std::string_view language) const {
  return find_if(prompts, [&](const PromptDef& p) { return p.name == name && p.language == language; });
}

}  // namespace hotline::center
