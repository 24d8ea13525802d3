// End-to-end against real SIPp: the Stack runs in-process on real sockets
// (127.0.0.1, port 0) with the TestUas application; SIPp drives it with the
// scenarios in tests/sip/scenarios and the built-in uac/uas. SIPp exits 0
// only when every call succeeded; we also check the stack's own state.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <fstream>
#include <future>
#include <thread>

#include "sip/stack.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "test_uas.h"

namespace hotline::sip {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

const std::string kScenarios = std::string(HOTLINE_SOURCE_DIR) + "/tests/sip/scenarios/";

class SippTest : public ::testing::Test {
 protected:
  void SetUp() override {
    creds_.add_domain("127.0.0.1", "t1");
    creds_.add_user("t1", "201", "secret201");
    creds_.add_user("t1", "202", "secret202");
    StackConfig cfg;
    cfg.listen = {{Transport::kUdp, "127.0.0.1", 0}, {Transport::kTcp, "127.0.0.1", 0}};
    cfg.qualify_interval = 0s;
    cfg.guard.exempt_prefixes = {"127.0.0.1"};
    stack_ = std::make_unique<Stack>(io_, cfg, creds_);
    uas_ = std::make_unique<testing::TestUas>(*stack_);
    stack_->set_session_handler(uas_.get());
    auto st = stack_->start();
    ASSERT_TRUE(st.ok()) << st.error().message;
    for (const auto& b : stack_->bound()) (b.transport == Transport::kUdp ? udp_port_ : tcp_port_) = b.port;
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(io_);
      io_.run();
    });
  }
  void TearDown() override {
    asio::post(io_, [this] {
      stack_->stop();
      io_.stop();
    });
    if (thread_.joinable()) thread_.join();
  }

  // Runs `fn` on the stack's thread and returns its result.
  template <class F>
  auto on_stack(F fn) {
    std::packaged_task<decltype(fn())()> task(fn);
    auto fut = task.get_future();
    asio::post(io_, [&task] { task(); });
    return fut.get();
  }

  hotline::testing::ProcessResult sipp(std::vector<std::string> args, bool tcp = false) {
    std::vector<std::string> argv = {"/usr/bin/sipp",
                                     std::string("127.0.0.1:") + std::to_string(tcp ? tcp_port_ : udp_port_),
                                     "-i",
                                     "127.0.0.1",
                                     "-ci",
                                     "127.0.0.1",
                                     "-p",
                                     std::to_string(hotline::testing::free_tcp_port()),
                                     "-buff_size",
                                     "4194304",
                                     "-timeout",
                                     "90s",
                                     "-timeout_error",
                                     "-nostdin",
                                     "-trace_err",
                                     "-error_file",
                                     dir_.str() + "/sipp_err.log",
                                     "-max_recv_loops",
                                     "1000"};
    if (tcp) argv.insert(argv.end(), {"-t", "t1"});
    argv.insert(argv.end(), args.begin(), args.end());
    hotline::testing::ProcessOptions opt;
    opt.cwd = dir_.str();
    opt.timeout = 150s;
    auto r = hotline::testing::run_process(argv, opt);
    if (r.exit_code != 0) {
      std::ifstream err(dir_.str() + "/sipp_err.log");
      std::string line;
      while (std::getline(err, line)) r.output += "\n[err] " + line;
    }
    return r;
  }

  std::string users_file(const std::vector<std::pair<std::string, std::string>>& users) {
    std::string path = dir_.str() + "/users.csv";
    std::ofstream f(path);
    f << "SEQUENTIAL\n";
    for (auto& [u, p] : users) f << u << ";[authentication username=" << u << " password=" << p << "]\n";
    return path;
  }

  hotline::testing::TempDir dir_{"hotline-sipp"};
  asio::io_context io_;
  InMemoryCredentialStore creds_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<testing::TestUas> uas_;
  std::thread thread_;
  std::uint16_t udp_port_ = 0, tcp_port_ = 0;
};

TEST_F(SippTest, RegisterWithDigestChallenge) {
  auto users = users_file({{"201", "secret201"}, {"202", "secret202"}});
  auto r = sipp({"-sf", kScenarios + "register_digest.xml", "-inf", users, "-m", "20", "-r", "50"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto bindings = on_stack([&] {
    return std::make_pair(stack_->registrar().lookup("201@127.0.0.1").size(),
                          stack_->registrar().lookup("202@127.0.0.1").size());
  });
  // Each SIPp call re-registers the same contact: one binding per user.
  EXPECT_EQ(bindings.first, 1u);
  EXPECT_EQ(bindings.second, 1u);
}

TEST_F(SippTest, RegisterOverTcp) {
  auto users = users_file({{"201", "secret201"}});
  auto r = sipp({"-sf", kScenarios + "register_digest.xml", "-inf", users, "-m", "5"}, true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto b = on_stack([&] { return stack_->registrar().lookup("201@127.0.0.1"); });
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].flow.transport, Transport::kTcp);
  EXPECT_NE(b[0].flow.flow, 0u);
}

TEST_F(SippTest, WrongPasswordAndUnknownUserBothGet403) {
  auto known = users_file({{"201", "x"}});
  auto r1 = sipp({"-sf", kScenarios + "register_wrong_password.xml", "-inf", known, "-m", "3"});
  ASSERT_EQ(r1.exit_code, 0) << r1.output;
  auto unknown = users_file({{"nobody", "x"}});
  auto r2 = sipp({"-sf", kScenarios + "register_wrong_password.xml", "-inf", unknown, "-m", "3"});
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  EXPECT_EQ(on_stack([&] { return stack_->registrar().binding_count(); }), 0u);
}

TEST_F(SippTest, Options) {
  auto r = sipp({"-sf", kScenarios + "options.xml", "-m", "50", "-r", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

TEST_F(SippTest, BuiltInUacCalls) {
  auto r = sipp({"-sn", "uac", "-m", "10", "-r", "20", "-d", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(on_stack([&] { return uas_->answered.load(); }), 10);
  EXPECT_EQ(on_stack([&] { return uas_->terminated_remote.load(); }), 10);
  EXPECT_EQ(on_stack([&] { return stack_->dialogs().size(); }), 0u);
}

TEST_F(SippTest, BuiltInUacOverTcp) {
  auto r = sipp({"-sn", "uac", "-m", "5", "-d", "100"}, true);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(on_stack([&] { return uas_->answered.load(); }), 5);
}

TEST_F(SippTest, CancelBeforeAnswer) {
  auto r = sipp({"-sf", kScenarios + "cancel.xml", "-m", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(on_stack([&] { return uas_->cancelled.load(); }), 5);
  EXPECT_EQ(on_stack([&] { return stack_->dialogs().size(); }), 0u);
}

TEST_F(SippTest, ReinviteHoldUnholdInfoUpdateReferAndBye) {
  auto r = sipp({"-sf", kScenarios + "reinvite_hold.xml", "-m", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(on_stack([&] { return uas_->reinvites.load(); }), 6);
  EXPECT_EQ(on_stack([&] { return uas_->holds.load(); }), 3);
  EXPECT_EQ(on_stack([&] { return uas_->infos.load(); }), 3);
  EXPECT_EQ(on_stack([&] { return uas_->refers.load(); }), 3);
  EXPECT_EQ(on_stack([&] { return uas_->terminated_remote.load(); }), 3);
}

TEST_F(SippTest, ByeFromServer) {
  auto r = sipp({"-sf", kScenarios + "bye_from_server.xml", "-m", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(on_stack([&] { return uas_->byes_sent.load(); }), 3);
}

TEST_F(SippTest, UacCallsCompleteDespitePacketLoss) {
  // SIPp drops 10% of what it receives; retransmissions on both sides
  // (Timer A/E/G and the 2xx retransmission) must still complete each call.
  auto r = sipp({"-sn", "uac", "-m", "10", "-r", "10", "-d", "100", "-lost", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(on_stack([&] { return uas_->answered.load(); }), 10);
}

TEST_F(SippTest, StackCallsBuiltInUas) {
  // Our stack as UAC against SIPp's built-in UAS: INVITE, 180/200, ACK, BYE.
  int sipp_port = hotline::testing::free_tcp_port();
  hotline::testing::ProcessOptions opt;
  opt.cwd = dir_.str();
  opt.log_path = dir_.str() + "/uas.log";
  pid_t pid = hotline::testing::spawn_process(
      {"/usr/bin/sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", std::to_string(sipp_port), "-m", "3",
       "-nostdin", "-timeout", "60s", "-buff_size", "4194304"},
      opt);
  std::atomic<int> answered{0}, byes_ok{0};
  Peer to{Transport::kUdp, "127.0.0.1", static_cast<std::uint16_t>(sipp_port), 0};
  sdp::LocalMedia local;
  local.address = "127.0.0.1";
  local.port = 41000;
  std::string offer = sdp::offer(local).str();
  // SIPp's UAS needs a moment to bind; INVITE retransmissions (Timer A)
  // cover that, so no sleep is needed.
  for (int i = 0; i < 3; ++i) {
    std::promise<void> done;
    auto fut = done.get_future();
    asio::post(io_, [&] {
      stack_->invite(to, "sip:service@127.0.0.1:" + std::to_string(sipp_port), "sip:hotline@127.0.0.1",
                     "sip:service@127.0.0.1", offer, [&](Dialog* d, const ClientResult& r) {
                       if (r.kind != ClientResult::kResponse) {
                         done.set_value();
                         return;
                       }
                       if (r.response->status() == 200 && d) {
                         ++answered;
                         stack_->request_in_dialog(*d, "BYE", "", "", [&](const ClientResult& br) {
                           if (br.kind == ClientResult::kResponse && br.response->status() == 200) ++byes_ok;
                           if (br.kind != ClientResult::kResponse || br.response->status() >= 200)
                             done.set_value();
                         });
                       } else if (r.response->status() >= 300) {
                         done.set_value();
                       }
                     });
    });
    ASSERT_EQ(fut.wait_for(60s), std::future_status::ready);
  }
  auto code = hotline::testing::wait_process(pid, 60s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_EQ(answered.load(), 3);
  EXPECT_EQ(byes_ok.load(), 3);
}

}  // namespace
}  // namespace hotline::sip
