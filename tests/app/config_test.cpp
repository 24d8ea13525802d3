// Configuration parsing, in-process: every rule names the key it enforces.
#include "app/config.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "app/contact_center.h"

using namespace hotline::app;

namespace {

std::string error_of(const std::string& toml, std::map<std::string, std::string> env = {}) {
  try {
    load_config(toml, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, DefaultsAreTheEmbeddedSetup) {
  auto c = load_config("", {});
  EXPECT_EQ(c.http_listen, "127.0.0.1:8080");
  EXPECT_EQ(c.storage_url, "sqlite://var/hotline.db");
  EXPECT_EQ(c.log_format, "text");
}

TEST(Config, FileThenEnvironment) {
  auto c = load_config("[http]\nlisten = \"0.0.0.0:9000\"\n[log]\nformat = \"json\"\n",
                       {{"HOTLINE_HTTP_LISTEN", "[::1]:9001"}, {"HOTLINE_LOG_ACCESS", "false"}});
  EXPECT_EQ(c.http_listen, "[::1]:9001");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_FALSE(c.log_access);
}

TEST(Config, ErrorsNameTheKey) {
  EXPECT_NE(error_of("[http]\nlisen = \"x\"\n").find("http.lisen: unknown key"), std::string::npos);
  EXPECT_NE(error_of("[nope]\nx = 1\n").find("nope.x: unknown key"), std::string::npos);
  EXPECT_NE(error_of("[http]\nmax_connections = \"many\"\n").find("http.max_connections: must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of("[http]\nmax_connections = 0\n").find("http.max_connections: must be between"),
            std::string::npos);
  EXPECT_NE(error_of("[log]\nlevel = \"loud\"\n").find("log.level: must be one of"), std::string::npos);
  EXPECT_NE(
      error_of("[media]\nrtp_io = \"uring\"\n").find("media.rtp_io: must be one of auto, epoll, io_uring"),
      std::string::npos);
  EXPECT_NE(error_of("[storage]\nurl = \"mysql://x\"\n").find("storage.url"), std::string::npos);
  EXPECT_NE(error_of("[http]\nlisten = \"nohost\"\n").find("http.listen"), std::string::npos);
  EXPECT_NE(error_of("[http]\nlisten = \"h:99999\"\n").find("http.listen"), std::string::npos);
  EXPECT_NE(error_of("[http]\ntls_cert = \"c.pem\"\n").find("tls_cert and tls_key"), std::string::npos);
  EXPECT_NE(error_of("[http\n").find("TOML syntax error at line 1"), std::string::npos);
  EXPECT_NE(error_of("http = 3\n").find("http: must be a [section] table"), std::string::npos);
  EXPECT_NE(error_of("", {{"HOTLINE_LOG_ACCESS", "maybe"}}).find("log.access: must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of("", {{"HOTLINE_WHATEVER", "1"}}).find("HOTLINE_WHATEVER: unknown environment variable"),
            std::string::npos);
}

// media.rtp_io reaches the media engine: file and environment, and an
// engine built from it runs what was asked (epoll is always available).
TEST(Config, MediaRtpIoReachesTheEngine) {
  EXPECT_EQ(media_engine_config(load_config("", {})).rtp_io, hotline::media::RtpIoBackend::automatic);
  EXPECT_EQ(media_engine_config(load_config("[media]\nrtp_io = \"io_uring\"\n", {})).rtp_io,
            hotline::media::RtpIoBackend::io_uring);
  const auto c =
      load_config("[media]\nrtp_io = \"io_uring\"\nloops = 1\n", {{"HOTLINE_MEDIA_RTP_IO", "epoll"}});
  EXPECT_EQ(media_engine_config(c).rtp_io, hotline::media::RtpIoBackend::epoll);
  hotline::media::MediaEngine engine(media_engine_config(c));
  EXPECT_EQ(engine.rtp_io_backend(), hotline::media::RtpIoBackend::epoll);
}

// media.realtime_priority and media.batch_window_us reach the engine, and
// out-of-range values stop the start with the key named. An engine asked for
// real-time priority either runs with it or says why not.
TEST(Config, MediaSchedulingKeysReachTheEngine) {
  const auto c = load_config("[media]\nrealtime_priority = 5\nbatch_window_us = 200\nloops = 1\n", {});
  const auto e = media_engine_config(c);
  EXPECT_EQ(e.realtime_priority, 5);
  EXPECT_EQ(e.batch_window, std::chrono::microseconds(200));
  EXPECT_EQ(media_engine_config(load_config("", {})).realtime_priority, 0);
  EXPECT_NE(error_of("[media]\nrealtime_priority = 100\n").find("media.realtime_priority"),
            std::string::npos);
  EXPECT_NE(error_of("[media]\nbatch_window_us = -1\n").find("media.batch_window_us"), std::string::npos);
  hotline::media::MediaEngine engine(e);
  // The loop thread is named hl-media-0 (engine.cpp); read its policy by tid.
  int policy = -1;
  sched_param sp{};
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name) && name == "hl-media-0") {
      const pid_t tid = std::stoi(task.path().filename().string());
      policy = sched_getscheduler(tid);
      ASSERT_EQ(sched_getparam(tid, &sp), 0);
    }
  }
  if (engine.realtime_priority_error().empty()) {
    EXPECT_EQ(policy, SCHED_FIFO);
    EXPECT_EQ(sp.sched_priority, 5);
  } else {
    EXPECT_EQ(policy, SCHED_OTHER);
  }
}

TEST(Config, KernelRelayInterfacesReachTheEngine) {
  const auto c = load_config("[media]\nkernel_relay = \"lo,eth0\"\n", {});
  EXPECT_EQ(media_engine_config(c).kernel_relay_interfaces, (std::vector<std::string>{"lo", "eth0"}));
  EXPECT_TRUE(media_engine_config(load_config("", {})).kernel_relay_interfaces.empty());
  for (const char* bad : {"lo,", ",lo", "lo eth0", "a-very-long-interface-name", "lo;rm"}) {
    EXPECT_NE(error_of(std::string("[media]\nkernel_relay = \"") + bad + "\"\n").find("media.kernel_relay"),
              std::string::npos)
        << bad;
  }
}

TEST(Config, ExampleIsAValidConfigWithEveryKey) {
  auto text = example_config();
  EXPECT_NO_THROW(load_config(text, {}));
  for (const char* key : {"listen", "max_body_bytes", "url", "format", "session_ttl_s", "kdf_memlimit_kib"}) {
    EXPECT_NE(text.find(std::string(key) + " = "), std::string::npos) << key;
  }
}
