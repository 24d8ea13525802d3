// baresip (a real softphone) registers with a password against the Stack
// running in-process, keeps refreshing its registration, and unregisters on
// exit. Short expiry (4 s) so several refreshes fit in a ~10 s run.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>

#include "sip/stack.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace hotline::sip {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct Recorder : RegistrarListener {
  std::mutex mu;
  std::vector<std::pair<BindingEvent, Binding>> events;
  void on_binding(BindingEvent e, const Binding& b) override {
    std::lock_guard<std::mutex> lock(mu);
    events.emplace_back(e, b);
  }
  int count(BindingEvent e) {
    std::lock_guard<std::mutex> lock(mu);
    int n = 0;
    for (auto& [ev, b] : events) n += ev == e;
    return n;
  }
};

TEST(Baresip, RegistersWithPasswordAndStaysRegistered) {
  asio::io_context io;
  InMemoryCredentialStore creds;
  creds.add_domain("127.0.0.1", "t1");
  creds.add_user("t1", "201", "secret201");
  StackConfig cfg;
  cfg.listen = {{Transport::kUdp, "127.0.0.1", 0}};
  cfg.registrar.min_expires = 4s;
  cfg.qualify_interval = 0s;
  Stack stack(io, cfg, creds);
  Recorder rec;
  stack.set_registrar_listener(&rec);
  ASSERT_TRUE(stack.start().ok());
  auto port = stack.bound().at(0).port;
  std::thread t([&] {
    auto work = asio::make_work_guard(io);
    io.run();
  });

  hotline::testing::TempDir dir("hotline-baresip");
  {
    std::ofstream c(dir.str() + "/config");
    c << "poll_method epoll\nsip_listen 127.0.0.1:0\nmodule_path /usr/lib/baresip/modules\n"
         "module g711.so\nmodule_app account.so\n";
    std::ofstream a(dir.str() + "/accounts");
    a << "<sip:201@127.0.0.1:" << port << ";transport=udp>;auth_pass=secret201;regint=6\n";
  }
  hotline::testing::ProcessOptions opt;
  opt.cwd = dir.str();
  opt.timeout = 90s;
  // -t 14: baresip quits after 14 s (unregistering first); non-interactive.
  auto r = hotline::testing::run_process({"/usr/bin/baresip", "-f", dir.str(), "-t", "14"}, opt);
  asio::post(io, [&] {
    stack.stop();
    io.stop();
  });
  t.join();
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(rec.count(BindingEvent::kRegistered), 1) << r.output;
  EXPECT_GE(rec.count(BindingEvent::kRefreshed), 2) << r.output;  // stayed registered
  EXPECT_EQ(rec.count(BindingEvent::kExpired), 0);                // never lapsed
  EXPECT_EQ(rec.count(BindingEvent::kUnregistered), 1);           // clean exit
  std::lock_guard<std::mutex> lock(rec.mu);
  ASSERT_FALSE(rec.events.empty());
  const Binding& b = rec.events.front().second;
  EXPECT_EQ(b.aor, "201@127.0.0.1");
  EXPECT_EQ(b.flow.ip, "127.0.0.1");
  EXPECT_NE(b.user_agent.find("baresip"), std::string::npos);
}

}  // namespace
}  // namespace hotline::sip
