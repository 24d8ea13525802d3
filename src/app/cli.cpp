#include "app/cli.h"

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "app/config.h"
#include "app/demo.h"
#include "app/serve.h"
#include "center/center.h"
#include "common/clock.h"
#include "iam/extensions.h"
#include "iam/iam.h"
#include "media/recording.h"
#include "routing/simulate.h"
#include "schema/schema.h"
#include "security/security.h"
#include "store/database.h"

namespace hotline::app {

iam::AuthPolicy auth_policy(const Config& c);  // serve.cpp

namespace {

constexpr const char* kUsage = R"(hotline — contact-center server

Usage: hotline [--config FILE] <command> [arguments]

Commands:
  serve                                   run the server until SIGINT/SIGTERM (graceful drain)
  migrate                                 apply database migrations and exit
  tenant add <slug> [--name NAME]         create a tenant with the built-in roles
  tenant list                             list tenants
  user add <tenant> <username> [--role ROLE]... [--display-name NAME] [--email EMAIL]
           [--password-stdin]             create a user; prints a generated password
                                          unless one is read from standard input
  user passwd <tenant> <username> [--password-stdin]
                                          set a new password (generated unless read
                                          from standard input); ends the user's sessions
  user list <tenant>                      list a tenant's users
  tenant sip-domain <tenant> <domain>     set the SIP domain the tenant's phones register to
  extension add <tenant> <extension> [--display-name NAME] [--user USERNAME] [--password-stdin]
                                          create a SIP extension; prints a generated SIP
                                          password unless one is read from standard input
  extension passwd <tenant> <extension> [--password-stdin]
  extension list <tenant>                 list a tenant's extensions
  demo seed <tenant>                      add the demo contact center (number 400, IVR, queues
                                          sales/support, agents 1001-1005, a VIP customer)
  audit verify                            check the audit log's hash chain
  recording decrypt <in.hrec> <out.wav>   decrypt a recording with the configured key (audited)
  simulate [options] scenario.json        run the routing engine on a simulated contact center
                                          (`hotline simulate --help`)
  config example                          print every configuration key with its default
  config check                            load the configuration and report errors
  version                                 print the version

Options:
  --config FILE   TOML configuration (default: $HOTLINE_CONFIG, else built-in defaults)
  --help          this text; `hotline <command> --help` for a command

Environment: HOTLINE_<SECTION>_<KEY> overrides a key, e.g. HOTLINE_HTTP_LISTEN=0.0.0.0:8080.
)";

struct Args {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> options;  // --name value
  std::vector<std::string> flags;                   // --flag
  bool has_flag(const std::string& f) const {
    return std::find(flags.begin(), flags.end(), f) != flags.end();
  }
  std::optional<std::string> option(const std::string& o) const {
    auto it = options.find(o);
    if (it == options.end()) return std::nullopt;
    return it->second;
  }
  std::vector<std::string> all(const std::string& o) const {
    std::vector<std::string> out;
    for (auto [it, end] = options.equal_range(o); it != end; ++it) out.push_back(it->second);
    return out;
  }
};

const std::vector<std::string> kValueOptions = {"--config",       "--name",  "--role",
                                                "--display-name", "--email", "--user"};

std::optional<Args> parse(const std::vector<std::string>& argv, std::ostream& err) {
  Args a;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto& s = argv[i];
    if (s.rfind("--", 0) == 0) {
      if (std::find(kValueOptions.begin(), kValueOptions.end(), s) != kValueOptions.end()) {
        if (i + 1 >= argv.size()) {
          err << "hotline: " << s << " needs a value\n";
          return std::nullopt;
        }
        a.options.emplace(s, argv[++i]);
      } else {
        a.flags.push_back(s);
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

struct Context {
  Config config;
  std::unique_ptr<store::Database> db;
  std::unique_ptr<iam::Directory> dir;
};

Context open_context(const Args& a) {
  Context ctx;
  auto env = hotline_environment();
  auto path = a.option("--config");
  if (!path && env.count("HOTLINE_CONFIG")) path = env["HOTLINE_CONFIG"];
  ctx.config = load_config_file(path.value_or(""), env);
  store::Options so;
  so.pool_size = 2;
  ctx.db = store::Database::open(ctx.config.storage_url, so);
  ctx.db->migrate(schema::migrations());
  ctx.dir =
      std::make_unique<iam::Directory>(*ctx.db, common::SystemClock::instance(), auth_policy(ctx.config));
  return ctx;
}

std::optional<std::string> read_password(const Args& a, std::ostream& err) {
  if (!a.has_flag("--password-stdin")) return security::generate_password();
  std::string pw;
  if (!std::getline(std::cin, pw) || pw.empty()) {
    err << "hotline: --password-stdin given but no password on standard input\n";
    return std::nullopt;
  }
  return pw;
}

int fail(std::ostream& err, const common::Error& e) {
  err << "hotline: " << (e.field.empty() ? "" : e.field + ": ") << e.message << "\n";
  return 1;
}

std::optional<iam::Tenant> need_tenant(Context& ctx, const std::string& slug, std::ostream& err) {
  auto t = ctx.dir->find_tenant(slug);
  if (!t) err << "hotline: no tenant '" << slug << "' (see `hotline tenant list`)\n";
  return t;
}

int cmd_tenant(const Args& a, std::ostream& out, std::ostream& err) {
  const auto& p = a.positional;
  if (p.size() == 4 && p[1] == "sip-domain") {
    auto ctx = open_context(a);
    auto t = need_tenant(ctx, p[2], err);
    if (!t) return 1;
    iam::Extensions ext(*ctx.db, common::SystemClock::instance());
    auto s = ext.set_sip_domain(t->id, p[3], iam::Actor::cli());
    if (!s) return fail(err, s.error());
    out << "tenant " << t->slug << " now owns SIP domain " << p[3] << "\n";
    return 0;
  }
  if (p.size() >= 2 && p[1] == "list") {
    auto ctx = open_context(a);
    for (const auto& t : ctx.dir->list_tenants()) {
      out << t.id << "\t" << t.slug << "\t" << t.name << (t.active ? "" : "\t(inactive)") << "\n";
    }
    return 0;
  }
  if (p.size() == 3 && p[1] == "add") {
    auto ctx = open_context(a);
    auto t = ctx.dir->create_tenant(p[2], a.option("--name").value_or(p[2]), iam::Actor::cli());
    if (!t) return fail(err, t.error());
    out << "created tenant " << t->slug << " (id " << t->id << ")\n";
    return 0;
  }
  err << "usage: hotline tenant add <slug> [--name NAME] | hotline tenant list | "
         "hotline tenant sip-domain <tenant> <domain>\n";
  return 2;
}

int cmd_user(const Args& a, std::ostream& out, std::ostream& err) {
  const auto& p = a.positional;
  if (p.size() == 3 && p[1] == "list") {
    auto ctx = open_context(a);
    auto t = need_tenant(ctx, p[2], err);
    if (!t) return 1;
    iam::UserQuery q;
    q.limit = 500;
    for (;;) {
      auto page = ctx.dir->list_users(t->id, q);
      for (const auto& u : page.items) {
        std::string roles;
        for (const auto& r : u.roles) roles += (roles.empty() ? "" : ",") + r;
        out << u.id << "\t" << u.username << "\t" << roles << "\t" << (u.active ? "active" : "inactive")
            << (u.locked ? "\tlocked" : "") << "\n";
      }
      if (!page.next_cursor) break;
      q.after_id = *page.next_cursor;
    }
    return 0;
  }
  if (p.size() == 4 && (p[1] == "add" || p[1] == "passwd")) {
    auto ctx = open_context(a);
    auto t = need_tenant(ctx, p[2], err);
    if (!t) return 1;
    auto pw = read_password(a, err);
    if (!pw) return 1;
    if (p[1] == "add") {
      iam::NewUser nu{p[3],
                      a.option("--display-name").value_or(""),
                      a.option("--email").value_or(""),
                      *pw,
                      a.all("--role"),
                      true};
      auto u = ctx.dir->create_user(t->id, nu, iam::Actor::cli());
      if (!u) return fail(err, u.error());
      out << "created user " << u->username << " (id " << u->id << ") in tenant " << t->slug << "\n";
    } else {
      auto u = ctx.dir->find_user(t->id, p[3]);
      if (!u) return fail(err, u.error());
      auto s = ctx.dir->set_password(t->id, u->id, *pw, iam::Actor::cli());
      if (!s) return fail(err, s.error());
      out << "password changed for " << u->username << "; their sessions were ended\n";
    }
    if (!a.has_flag("--password-stdin")) out << "password: " << *pw << "\n";
    return 0;
  }
  err << "usage: hotline user add <tenant> <username> [--role ROLE]... [--password-stdin]\n"
         "       hotline user passwd <tenant> <username> [--password-stdin]\n"
         "       hotline user list <tenant>\n";
  return 2;
}

std::string sip_password(const Args& a, std::ostream& err, bool& generated) {
  generated = !a.has_flag("--password-stdin");
  if (generated) return security::generate_password(16);
  auto pw = read_password(a, err);
  return pw.value_or("");
}

int cmd_extension(const Args& a, std::ostream& out, std::ostream& err) {
  const auto& p = a.positional;
  if (p.size() < 3 || !(p[1] == "add" || p[1] == "list" || p[1] == "passwd") ||
      (p[1] != "list" && p.size() != 4)) {
    err << "usage: hotline extension add <tenant> <extension> [--display-name NAME] [--user USERNAME] "
           "[--password-stdin]\n       hotline extension passwd <tenant> <extension> [--password-stdin]\n"
           "       hotline extension list <tenant>\n";
    return 2;
  }
  auto ctx = open_context(a);
  auto t = need_tenant(ctx, p[2], err);
  if (!t) return 1;
  iam::Extensions ext(*ctx.db, common::SystemClock::instance());
  if (p[1] == "list") {
    for (const auto& e : ext.list(t->id)) {
      out << e.id << "\t" << e.extension << "\t" << e.display_name << "\t" << e.realm << "\n";
    }
    return 0;
  }
  bool generated = false;
  auto pw = sip_password(a, err, generated);
  if (pw.empty()) return 1;
  if (p[1] == "add") {
    std::optional<std::int64_t> user_id;
    if (auto username = a.option("--user")) {
      auto u = ctx.dir->find_user(t->id, *username);
      if (!u) return fail(err, u.error());
      user_id = u->id;
    }
    auto e = ext.create(t->id, p[3], a.option("--display-name").value_or(""), pw, ctx.config.sip_realm,
                        iam::Actor::cli(), user_id);
    if (!e) return fail(err, e.error());
    out << "created extension " << e->extension << " (id " << e->id << ") in tenant " << t->slug << "\n";
  } else {
    std::optional<iam::Extension> found;
    for (const auto& e : ext.list(t->id)) {
      if (e.extension == p[3]) found = e;
    }
    if (!found) return fail(err, common::Error::not_found("no extension '" + p[3] + "'"));
    auto s = ext.set_password(t->id, found->id, pw, ctx.config.sip_realm, iam::Actor::cli());
    if (!s) return fail(err, s.error());
    out << "SIP password changed for extension " << found->extension << "\n";
  }
  if (generated) out << "sip password: " << pw << "\n";
  return 0;
}

int cmd_audit(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.positional.size() != 2 || a.positional[1] != "verify") {
    err << "usage: hotline audit verify\n";
    return 2;
  }
  auto ctx = open_context(a);
  auto v = ctx.dir->verify_audit();
  if (v.broken) {
    out << "audit log BROKEN at entry " << v.broken->seq << ": " << v.broken->reason << "\n"
        << v.entries_checked << " entries before it are intact\n";
    return 3;
  }
  out << "audit log intact: " << v.entries_checked << " entries, head " << v.head_hash << "\n";
  return 0;
}

int cmd_config(const Args& a, std::ostream& out, std::ostream& err) {
  if (a.positional.size() == 2 && a.positional[1] == "example") {
    out << example_config();
    return 0;
  }
  if (a.positional.size() == 2 && a.positional[1] == "check") {
    auto env = hotline_environment();
    auto path = a.option("--config");
    if (!path && env.count("HOTLINE_CONFIG")) path = env["HOTLINE_CONFIG"];
    load_config_file(path.value_or(""), env);
    out << "configuration ok\n";
    return 0;
  }
  err << "usage: hotline config example | hotline config check\n";
  return 2;
}

int run_parsed(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err);

int cmd_demo(const Args& a, std::ostream& out, std::ostream& err) {
  const auto& p = a.positional;
  if (p.size() != 3 || p[1] != "seed") {
    err << "usage: hotline demo seed <tenant>\n";
    return 2;
  }
  auto ctx = open_context(a);
  auto t = need_tenant(ctx, p[2], err);
  if (!t) return 1;
  center::RepositoryOptions ro;
  ro.custom_prompts_dir = ctx.config.media_custom_prompts_dir;
  center::Repository repo(*ctx.db, common::SystemClock::instance(), ro);
  const int n = seed_demo(repo, t->id, iam::Actor::cli(), err);
  out << "demo: " << n << " object(s) created in tenant " << t->slug << "\n";
  return 0;
}

int cmd_recording(const Args& a, std::ostream& out, std::ostream& err) {
  const auto& p = a.positional;
  if (p.size() != 4 || p[1] != "decrypt") {
    err << "usage: hotline recording decrypt <recording.hrec> <out.wav>\n";
    return 2;
  }
  auto ctx = open_context(a);
  if (ctx.config.recording_kek.empty()) {
    err << "hotline: recording.kek is not configured; recordings cannot be decrypted\n";
    return 1;
  }
  auto kek = media::kek_from_hex(ctx.config.recording_kek_id, ctx.config.recording_kek);
  if (!kek) return fail(err, kek.error());
  std::vector<media::Kek> keks{*kek};
  const int rc = media::run_recording_decrypt_command({p[2], p[3]}, keks, out, err);
  // Listening to a recording is a privileged act: leave a trace either way.
  ctx.dir->audit(iam::Actor::cli(), 0, "recording.decrypt", "recording:" + p[2],
                 nlohmann::json{{"output", p[3]}, {"exit_code", rc}}.dump());
  return rc;
}

}  // namespace

int run_cli(const std::vector<std::string>& raw, std::ostream& out, std::ostream& err) {
  // `simulate` takes its own options: hand it the words as they are.
  std::size_t first = 0;
  while (first + 1 < raw.size() && raw[first] == "--config") first += 2;
  if (first < raw.size() && raw[first] == "simulate") {
    return routing::run_simulate_command(std::vector<std::string>(raw.begin() + first + 1, raw.end()), out,
                                         err);
  }
  return run_parsed(raw, out, err);
}

namespace {

int run_parsed(const std::vector<std::string>& argv, std::ostream& out, std::ostream& err) {
  auto parsed = parse(argv, err);
  if (!parsed) return 2;
  const Args& a = *parsed;
  if (a.positional.empty()) {
    (a.has_flag("--help") ? out : err) << kUsage;
    return a.has_flag("--help") ? 0 : 2;
  }
  const auto& cmd = a.positional[0];
  if (a.has_flag("--help") || a.has_flag("-h")) {
    out << kUsage;
    return 0;
  }
  try {
    if (cmd == "version") {
      out << "hotline " << kVersion << "\n";
      return 0;
    }
    if (cmd == "serve") {
      auto env = hotline_environment();
      auto path = a.option("--config");
      if (!path && env.count("HOTLINE_CONFIG")) path = env["HOTLINE_CONFIG"];
      return serve(load_config_file(path.value_or(""), env));
    }
    if (cmd == "migrate") {
      auto ctx = open_context(a);
      out << "schema at version " << ctx.db->schema_version() << "\n";
      return 0;
    }
    if (cmd == "tenant") return cmd_tenant(a, out, err);
    if (cmd == "user") return cmd_user(a, out, err);
    if (cmd == "audit") return cmd_audit(a, out, err);
    if (cmd == "extension") return cmd_extension(a, out, err);
    if (cmd == "recording") return cmd_recording(a, out, err);
    if (cmd == "demo") return cmd_demo(a, out, err);
    if (cmd == "config") return cmd_config(a, out, err);
  } catch (const ConfigError& e) {
    err << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    err << "hotline: " << e.what() << "\n";
    return 1;
  }
  err << "hotline: unknown command '" << cmd << "'\n\n" << kUsage;
  return 2;
}

}  // namespace

}  // namespace hotline::app
