// support/postgres_server.h — a real PostgreSQL 15 server for tests.
//
// Starts /usr/lib/postgresql/15/bin/postgres on 127.0.0.1 and a free port,
// with its data directory in a fresh temp dir (fsync on: durability tests
// rely on it). Running as root, the server runs as the `postgres` user.
//
//   auto& pg = hotline::testing::PostgresServer::shared();   // one per executable
//   auto db = store::Database::open(pg.create_database("my_test"));
//
// initdb costs about a second, so test executables share one server through
// shared() and isolate tests with create_database(). Start-up failures throw
// std::runtime_error with the server log: a test must fail, never skip.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>

#include "support/temp_dir.h"

namespace hotline::testing {

class PostgresServer {
 public:
  // initdb + start + CREATE DATABASE hotline_test. Throws on failure.
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // The per-executable server, started on first use and stopped at exit.
  static PostgresServer& shared();

  // postgresql://postgres@127.0.0.1:<port>/hotline_test
  std::string url() const { return url_for("hotline_test"); }
  std::string url_for(const std::string& database) const;
  int port() const { return port_; }
  bool running() const { return pid_ > 0; }

  // Creates (or drops and re-creates) a database; returns its URL.
  std::string create_database(const std::string& name);

  // Cheaper isolation: (re-)creates schema `name` in hotline_test and returns
  // a URL whose connections use it as search_path, so unqualified tables
  // (including schema_migrations) live there.
  std::string create_schema(const std::string& name);

  // Fast shutdown (SIGINT), waiting until the server has exited.
  void stop();
  // Immediate shutdown (SIGQUIT): no checkpoint. The destructor uses it, as
  // the data directory is deleted right after.
  void kill_now();
  // Starts the server again on the same data directory and port.
  void start();

  std::string log_tail() const;

 private:
  void launch();
  void wait_ready();
  void admin_exec(const std::string& sql, const std::string& database = "postgres");
  void signal_and_wait(int sig);

  TempDir dir_;
  std::string bin_;
  std::string data_dir_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::mutex mu_;
};

}  // namespace hotline::testing
