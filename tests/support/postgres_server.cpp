#include "support/postgres_server.h"

#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/process.h"

namespace hotline::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
constexpr auto kStartTimeout = std::chrono::seconds(60);

void chown_to_postgres(const std::string& path) {
  if (::geteuid() != 0) return;
  passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) {
    throw std::runtime_error(
        "PostgresServer: running as root but the 'postgres' system user does not exist "
        "(install the postgresql package: apt-get install postgresql)");
  }
  if (::chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("PostgresServer: chown " + path + " failed");
  }
}

}  // namespace

PostgresServer::PostgresServer() : dir_("hotline-pg"), bin_(kBinDir) {
  for (const char* tool : {"initdb", "postgres"}) {
    std::string p = bin_ + "/" + tool;
    if (::access(p.c_str(), X_OK) != 0) {
      throw std::runtime_error("PostgresServer: " + p +
                               " not found; install PostgreSQL 15 (apt-get install postgresql-15)");
    }
  }
  chown_to_postgres(dir_.str());
  data_dir_ = dir_.str() + "/data";
  log_path_ = dir_.str() + "/server.log";
  ProcessOptions opts;
  opts.as_user = "postgres";
  opts.cwd = dir_.str();
  // -N: skip fsync of the freshly created cluster files (only matters for an
  // OS crash during initdb); the server itself runs with fsync=on.
  auto r = run_process(
      {bin_ + "/initdb", "-D", data_dir_, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "-N"},
      opts);
  if (r.exit_code != 0) {
    throw std::runtime_error("PostgresServer: initdb failed (exit " + std::to_string(r.exit_code) + "):\n" +
                             r.output);
  }
  // The port can be taken between free_tcp_port() and the server's bind().
  for (int attempt = 0;; ++attempt) {
    port_ = free_tcp_port();
    try {
      launch();
      wait_ready();
      break;
    } catch (const std::exception&) {
      stop();
      bool port_clash = log_tail().find("could not bind") != std::string::npos ||
                        log_tail().find("Address already in use") != std::string::npos;
      if (!port_clash || attempt >= 4) throw;
    }
  }
  create_database("hotline_test");
}

PostgresServer::~PostgresServer() {
  try {
    kill_now();
  } catch (...) {
  }
}

PostgresServer& PostgresServer::shared() {
  // Stopped by the static destructor at exit. When start-up throws, the next
  // call tries again (each test then fails with the start-up error).
  static std::mutex mu;
  static std::unique_ptr<PostgresServer> server;
  std::lock_guard lock(mu);
  if (!server) server = std::make_unique<PostgresServer>();
  return *server;
}

std::string PostgresServer::url_for(const std::string& database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

void PostgresServer::launch() {
  ProcessOptions opts;
  opts.as_user = "postgres";
  opts.cwd = dir_.str();
  opts.log_path = log_path_;
  // No orphaned servers when a test crashes. The kernel sends the signal when
  // the *thread* that forked exits, so only tie it to the main thread.
  opts.die_with_parent = ::gettid() == ::getpid();
  pid_ =
      spawn_process({bin_ + "/postgres", "-D", data_dir_, "-p", std::to_string(port_), "-k", dir_.str(), "-c",
                     "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "synchronous_commit=on", "-c",
                     "shared_buffers=16MB", "-c", "max_connections=50", "-c", "logging_collector=off"},
                    opts);
}

void PostgresServer::wait_ready() {
  std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=postgres connect_timeout=5";
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  for (;;) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return;
    if (auto code = wait_process(pid_, std::chrono::milliseconds(0))) {
      pid_ = -1;
      throw std::runtime_error("PostgresServer: postgres exited with " + std::to_string(*code) +
                               " during start-up; log:\n" + log_tail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("PostgresServer: not accepting connections after 60 s; log:\n" + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
}

void PostgresServer::stop() { signal_and_wait(SIGINT); }  // fast: abort sessions, checkpoint, exit

void PostgresServer::kill_now() { signal_and_wait(SIGQUIT); }

void PostgresServer::signal_and_wait(int sig) {
  std::lock_guard lock(mu_);
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  if (!wait_process(pid_, std::chrono::seconds(60))) {
    ::kill(pid_, SIGKILL);
    wait_process(pid_, std::chrono::seconds(10));
  }
  pid_ = -1;
}

void PostgresServer::start() {
  {
    std::lock_guard lock(mu_);
    if (pid_ > 0) return;
  }
  launch();
  wait_ready();
}

std::string PostgresServer::log_tail() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > 4000) s = "..." + s.substr(s.size() - 4000);
  return s;
}

void PostgresServer::admin_exec(const std::string& sql, const std::string& database) {
  std::string conninfo =
      "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=postgres";
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("PostgresServer: cannot connect as admin: " + msg);
  }
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(c, sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  std::string msg = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) throw std::runtime_error("PostgresServer: '" + sql + "' failed: " + msg);
}

namespace {
void check_name(const std::string& name) {
  if (name.empty() || name.size() > 60) throw std::invalid_argument("PostgresServer: bad name: " + name);
  for (char ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
      throw std::invalid_argument("PostgresServer: names must match [a-z0-9_]+: " + name);
    }
  }
}
}  // namespace

std::string PostgresServer::create_schema(const std::string& name) {
  check_name(name);
  admin_exec("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name, "hotline_test");
  return url() + "?options=-c%20search_path%3D" + name;
}

std::string PostgresServer::create_database(const std::string& name) {
  check_name(name);
  admin_exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  admin_exec("CREATE DATABASE " + name);
  return url_for(name);
}

}  // namespace hotline::testing
