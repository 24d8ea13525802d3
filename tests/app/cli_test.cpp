// The `hotline` command line, run as a real process.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>

#include "app/config.h"
#include "app/hotline_process.h"
#include "media/recording.h"

using namespace hotline::testing;

namespace {

std::string sqlite_url(const TempDir& d) { return "sqlite://" + d.str() + "/hotline.db"; }

}  // namespace

TEST(Cli, HelpListsEveryCommand) {
  auto r = run_process({hotline_binary(), "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* cmd : {"serve", "migrate", "tenant add", "tenant list", "user add", "user passwd",
                          "user list", "audit verify", "version"}) {
    EXPECT_NE(r.output.find(cmd), std::string::npos) << cmd;
  }
  EXPECT_EQ(run_process({hotline_binary(), "user", "--help"}).exit_code, 0);
  auto v = run_process({hotline_binary(), "version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.output.find("hotline 0."), std::string::npos);
}

TEST(Cli, UnknownCommandIsAnError) {
  auto r = run_process({hotline_binary(), "frobnicate"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(Cli, ConfigErrorsNameTheKey) {
  TempDir d;
  auto config = write_config(d, sqlite_url(d), "[http2]\nlisten = 1\n");
  auto r = hotline_cli(config, {"serve"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("http2"), std::string::npos) << r.output;

  TempDir d2;
  auto c3 = d2.str() + "/c3.toml";
  std::ofstream(c3) << "[http]\nmax_body_bytes = 12\n";
  auto r3 = run_process({hotline_binary(), "--config", c3, "config", "check"});
  EXPECT_EQ(r3.exit_code, 2);
  EXPECT_NE(r3.output.find("http.max_body_bytes: must be between"), std::string::npos) << r3.output;

  auto c4 = d2.str() + "/c4.toml";
  std::ofstream(c4) << "[log]\nformat = 7\n";
  auto r4 = run_process({hotline_binary(), "--config", c4, "config", "check"});
  EXPECT_NE(r4.output.find("log.format: must be a string"), std::string::npos) << r4.output;

  ::setenv("HOTLINE_HTTP_LISTN", "x", 1);
  auto r5 = run_process({hotline_binary(), "config", "check"});
  ::unsetenv("HOTLINE_HTTP_LISTN");
  EXPECT_EQ(r5.exit_code, 2);
  EXPECT_NE(r5.output.find("HOTLINE_HTTP_LISTN: unknown environment variable"), std::string::npos)
      << r5.output;

  ::setenv("HOTLINE_HTTP_MAX_CONNECTIONS", "lots", 1);
  auto r6 = run_process({hotline_binary(), "config", "check"});
  ::unsetenv("HOTLINE_HTTP_MAX_CONNECTIONS");
  EXPECT_NE(r6.output.find("http.max_connections: must be an integer"), std::string::npos) << r6.output;
}

TEST(Cli, TenantsUsersAndPasswords) {
  TempDir d;
  auto config = write_config(d, sqlite_url(d));
  EXPECT_EQ(hotline_cli(config, {"migrate"}).exit_code, 0);
  auto t = hotline_cli(config, {"tenant", "add", "acme", "--name", "Acme Inc"});
  ASSERT_EQ(t.exit_code, 0) << t.output;
  EXPECT_NE(hotline_cli(config, {"tenant", "list"}).output.find("acme\tAcme Inc"), std::string::npos);
  EXPECT_EQ(hotline_cli(config, {"tenant", "add", "acme"}).exit_code, 1);  // duplicate
  EXPECT_EQ(hotline_cli(config, {"tenant", "add", "Bad Slug"}).exit_code, 1);

  auto u = hotline_cli(config, {"user", "add", "acme", "admin", "--role", "admin"});
  ASSERT_EQ(u.exit_code, 0) << u.output;
  auto at = u.output.find("password: ");
  ASSERT_NE(at, std::string::npos);
  auto pw = u.output.substr(at + 10, 20);
  EXPECT_EQ(pw.find_first_of(" \n"), std::string::npos);
  auto u2 = hotline_cli(config, {"user", "add", "acme", "admin2", "--role", "admin"});
  EXPECT_EQ(u2.output.find(pw), std::string::npos) << "generated passwords must differ";

  auto list = hotline_cli(config, {"user", "list", "acme"});
  EXPECT_NE(list.output.find("admin\tadmin\tactive"), std::string::npos) << list.output;
  auto pass = hotline_cli(config, {"user", "passwd", "acme", "admin"});
  EXPECT_EQ(pass.exit_code, 0);
  EXPECT_NE(pass.output.find("password: "), std::string::npos);
  EXPECT_EQ(hotline_cli(config, {"user", "add", "ghost-tenant", "x"}).exit_code, 1);
  auto audit = hotline_cli(config, {"audit", "verify"});
  EXPECT_EQ(audit.exit_code, 0) << audit.output;
  EXPECT_NE(audit.output.find("intact: 4 entries"), std::string::npos) << audit.output;
}

TEST(Cli, AuditVerifyReportsTheFirstBrokenLink) {
  TempDir d;
  auto config = write_config(d, sqlite_url(d));
  ASSERT_EQ(hotline_cli(config, {"tenant", "add", "acme"}).exit_code, 0);
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(hotline_cli(config, {"user", "add", "acme", "u" + std::to_string(i)}).exit_code, 0);
  }
  ASSERT_EQ(hotline_cli(config, {"audit", "verify"}).exit_code, 0);

  // Someone with the database file edits entry 3. The append-only trigger
  // stops UPDATE through SQL, so they drop it first: the chain still tells.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((d.str() + "/hotline.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_NE(
      sqlite3_exec(db, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3", nullptr, nullptr, &err),
      SQLITE_OK);
  sqlite3_free(err);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TRIGGER audit_log_no_update; "
                         "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto r = hotline_cli(config, {"audit", "verify"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("BROKEN at entry 3"), std::string::npos) << r.output;
}

TEST(Cli, SimulateRunsTheRoutingEngine) {
  auto r = run_process(
      {hotline_binary(), "simulate", std::string(HOTLINE_SOURCE_DIR) + "/tests/routing/data/mmn.json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(r.output.empty());
  auto bad = run_process({hotline_binary(), "simulate", "/nonexistent.json"});
  EXPECT_NE(bad.exit_code, 0);
}

TEST(Cli, RecordingDecryptUsesTheConfiguredKeyAndIsAudited) {
  TempDir d;
  const std::string hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  auto config = write_config(d, sqlite_url(d), "\n[recording]\nkek = \"" + hex + "\"\nkek_id = \"k7\"\n");
  auto kek = hotline::media::kek_from_hex("k7", hex);
  ASSERT_TRUE(kek);
  const std::string rec = d.str() + "/call.hrec";
  {
    auto f = hotline::media::EncryptedRecordingFile::create(rec, *kek, hotline::media::Cipher::aes_256_gcm);
    ASSERT_TRUE(f);
    std::vector<std::uint8_t> pcm(64000);
    for (std::size_t i = 0; i < pcm.size(); ++i) pcm[i] = static_cast<std::uint8_t>(i * 7);
    ASSERT_TRUE((*f)->write(pcm));
    ASSERT_TRUE((*f)->finish());
  }
  auto r = hotline_cli(config, {"recording", "decrypt", rec, d.str() + "/call.wav"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("kek 'k7'"), std::string::npos) << r.output;
  EXPECT_GT(std::filesystem::file_size(d.str() + "/call.wav"), 64000u);

  TempDir other;
  auto wrong = write_config(other, sqlite_url(other),
                            "\n[recording]\nkek = \"" + std::string(64, 'f') + "\"\nkek_id = \"k7\"\n");
  auto denied = hotline_cli(wrong, {"recording", "decrypt", rec, other.str() + "/call.wav"});
  EXPECT_NE(denied.exit_code, 0) << denied.output;

  auto audit = hotline_cli(config, {"audit", "verify"});
  EXPECT_EQ(audit.exit_code, 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((d.str() + "/hotline.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM audit_log WHERE action = 'recording.decrypt'", -1, &st,
                     nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}
