// End-to-end against real SIPp: the Stack runs in-process on real sockets
// (127.0.0.1, port 0) with the TestUas application; SIPp drives it with the
// scenarios in tests/sip/scenarios and the built-in uac/uas. SIPp exits 0
// only when every call succeeded; we also check the stack's own state.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <csignal>
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

// Our stack as UAC against a SIPp UAS scenario; collects the responses
// on_event sees for one INVITE until its final outcome.
struct UacOutcome {
  std::vector<int> statuses;  // every response on_event saw, in order
  std::uint32_t final_cseq = 0;
  bool cancel_accepted = false;
  int bye_status = 0;
};

class SippUasTest : public SippTest {
 protected:
  void start_uas(const std::string& scenario) {
    sipp_port_ = hotline::testing::free_tcp_port();
    hotline::testing::ProcessOptions opt;
    opt.cwd = dir_.str();
    opt.log_path = dir_.str() + "/uas.log";
    uas_pid_ = hotline::testing::spawn_process(
        {"/usr/bin/sipp", "-sf", kScenarios + scenario, "-i", "127.0.0.1", "-p", std::to_string(sipp_port_),
         "-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error", "-buff_size", "4194304", "-trace_err",
         "-error_file", dir_.str() + "/uas_err.log"},
        opt);
  }

  // Sends one INVITE with `creds`; on 180 cancels it (if `cancel_on_ringing`),
  // on 200 hangs up with BYE. Returns once the outcome is final.
  UacOutcome call(std::optional<Stack::InviteOptions::Credentials> creds, bool cancel_on_ringing = false) {
    UacOutcome out;
    std::promise<void> done;
    auto fut = done.get_future();
    Peer to{Transport::kUdp, "127.0.0.1", sipp_port_, 0};
    sdp::LocalMedia local;
    local.address = "127.0.0.1";
    local.port = 41002;
    std::string offer = sdp::offer(local).str();
    std::string uri = "sip:trunk@127.0.0.1:" + std::to_string(sipp_port_);
    ClientTxnId id = 0;
    asio::post(io_, [&] {
      Stack::InviteOptions opts;
      opts.credentials = std::move(creds);
      id = stack_->invite(
          to, uri, "sip:hotline@127.0.0.1", uri, offer,
          [&](Dialog* d, const ClientResult& r) {
            if (r.kind != ClientResult::kResponse) return done.set_value();
            int st = r.response->status();
            out.statuses.push_back(st);
            if (st == 180 && cancel_on_ringing) out.cancel_accepted = stack_->cancel(id);
            if (st < 200) return;
            out.final_cseq = r.response->cseq();
            if (st >= 300 || !d) return done.set_value();
            stack_->request_in_dialog(*d, "BYE", "", "", [&](const ClientResult& br) {
              if (br.kind == ClientResult::kResponse && br.response->status() < 200) return;
              out.bye_status = br.kind == ClientResult::kResponse ? br.response->status() : -1;
              done.set_value();
            });
          },
          opts);
    });
    EXPECT_EQ(fut.wait_for(60s), std::future_status::ready);
    return out;
  }

  // SIPp's exit code (0: its scenario ran to the end with every check met).
  int uas_exit() {
    auto code = hotline::testing::wait_process(uas_pid_, 60s);
    if (code && *code != 0) {
      std::ifstream err(dir_.str() + "/uas_err.log");
      std::string line;
      while (std::getline(err, line)) ADD_FAILURE() << "[sipp] " << line;
    }
    return code.value_or(-1);
  }

  std::uint16_t sipp_port_ = 0;
  pid_t uas_pid_ = -1;
};

const Stack::InviteOptions::Credentials kTrunk{"trunk-user", "s3cret pass"};

TEST_F(SippUasTest, InviteAnswersProxyChallengeOnce) {
  start_uas("uas_invite_proxy_auth.xml");
  auto out = call(kTrunk);
  // The caller never sees the 407: only the authenticated INVITE's 200.
  EXPECT_EQ(out.statuses, std::vector<int>({200}));
  EXPECT_EQ(out.final_cseq, 2u);
  EXPECT_EQ(out.bye_status, 200);
  EXPECT_EQ(uas_exit(), 0);
}

TEST_F(SippUasTest, InviteAnswersWwwChallengeVerifiedBySipp) {
  start_uas("uas_invite_www_auth.xml");
  auto out = call(kTrunk);
  EXPECT_EQ(out.statuses, std::vector<int>({200}));  // 403 if SIPp's digest check failed
  EXPECT_EQ(out.bye_status, 200);
  EXPECT_EQ(uas_exit(), 0);
}

TEST_F(SippUasTest, WrongPasswordIsRejectedBySipp) {
  start_uas("uas_invite_www_auth.xml");
  auto out = call(Stack::InviteOptions::Credentials{"trunk-user", "wrong"});
  EXPECT_EQ(out.statuses, std::vector<int>({403}));
  EXPECT_EQ(uas_exit(), 0);
}

TEST_F(SippUasTest, SecondChallengeIsTheFinalFailure) {
  start_uas("uas_invite_challenge_twice.xml");
  auto out = call(kTrunk);
  EXPECT_EQ(out.statuses, std::vector<int>({407}));
  EXPECT_EQ(out.final_cseq, 2u);
  EXPECT_EQ(uas_exit(), 0);  // no third INVITE arrived
}

TEST_F(SippUasTest, ChallengeWithoutCredentialsIsFinal) {
  start_uas("uas_invite_challenge_twice.xml");
  auto out = call(std::nullopt);
  EXPECT_EQ(out.statuses, std::vector<int>({407}));
  EXPECT_EQ(out.final_cseq, 1u);
  // SIPp waits for an authenticated INVITE that never comes: stop it.
  ::kill(uas_pid_, SIGKILL);
  hotline::testing::wait_process(uas_pid_, 10s);
}

TEST_F(SippUasTest, CancelWithTheFirstIdReachesTheRetry) {
  start_uas("uas_invite_auth_cancel.xml");
  auto out = call(kTrunk, /*cancel_on_ringing=*/true);
  EXPECT_EQ(out.statuses, std::vector<int>({180, 487}));
  EXPECT_TRUE(out.cancel_accepted);
  EXPECT_EQ(out.final_cseq, 2u);
  EXPECT_EQ(uas_exit(), 0);
}

}  // namespace
}  // namespace hotline::sip
