// sip_test_server — runs sip::Stack with an in-memory credential store and
// the TestUas application, for SIPp/baresip runs and benchmarks.
//
//   sip_test_server [--ip 127.0.0.1] [--port 0] [--tcp] [--tls CERT KEY]
//                   [--domain D] [--user NAME:PASSWORD]... [--users N]
//                   [--exempt PREFIX] [--min-expires S] [--sha256]
//
// --users N adds users 1000..1000+N-1 with password "pw<NAME>" (benchmarks).
// Prints "PORT <udp port>" (and "TCP <port>", "TLS <port>") once bound, then
// serves until SIGINT/SIGTERM, printing stats on exit.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "sip/stack.h"
#include "test_uas.h"

using namespace hotline::sip;

int main(int argc, char** argv) {
  StackConfig cfg;
  std::string ip = "127.0.0.1";
  int port = 0;
  bool tcp = false;
  std::string cert, key, domain = "127.0.0.1";
  InMemoryCredentialStore creds;
  std::vector<std::pair<std::string, std::string>> users;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << a << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ip")
      ip = next();
    else if (a == "--port")
      port = std::stoi(next());
    else if (a == "--tcp")
      tcp = true;
    else if (a == "--tls") {
      cert = next();
      key = next();
    } else if (a == "--domain")
      domain = next();
    else if (a == "--user") {
      std::string u = next();
      auto c = u.find(':');
      users.emplace_back(u.substr(0, c), c == std::string::npos ? "" : u.substr(c + 1));
    } else if (a == "--users") {
      int n = std::stoi(next());
      for (int k = 0; k < n; ++k)
        users.emplace_back(std::to_string(1000 + k), "pw" + std::to_string(1000 + k));
    } else if (a == "--exempt")
      cfg.guard.exempt_prefixes.push_back(next());
    else if (a == "--min-expires")
      cfg.registrar.min_expires = std::chrono::seconds(std::stoi(next()));
    else if (a == "--md5-only")
      cfg.registrar.offer_sha256 = false;
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  creds.add_domain(domain, "tenant-1");
  // Stored as HA1 for the realm, as `hotline serve` stores extensions (the
  // plain password is never kept): the registrar then hashes only A2 and
  // the response per REGISTER.
  std::string realm = cfg.registrar.realm.empty() ? to_lower(domain) : cfg.registrar.realm;
  for (auto& [u, p] : users)
    creds.add_credential(Credential{"tenant-1", u, "", digest_ha1(DigestAlgorithm::kMd5, u, realm, p),
                                    digest_ha1(DigestAlgorithm::kSha256, u, realm, p)});
  cfg.listen = {{Transport::kUdp, ip, static_cast<std::uint16_t>(port)}};
  if (tcp) cfg.listen.push_back({Transport::kTcp, ip, static_cast<std::uint16_t>(port)});
  if (!cert.empty()) {
    cfg.listen.push_back({Transport::kTls, ip, 0});
    cfg.transport.tls_cert_file = cert;
    cfg.transport.tls_key_file = key;
  }
  cfg.qualify_interval = std::chrono::seconds(0);
  // Concurrency hint 1: one thread runs the loop (as in `hotline serve`), so
  // Asio queues handlers posted from it without locking or waking a reactor.
  boost::asio::io_context io(1);
  Stack stack(io, cfg, creds);
  testing::TestUas uas(stack);
  stack.set_session_handler(&uas);
  if (auto st = stack.start(); !st) {
    std::cerr << "start failed: " << st.error().message << "\n";
    return 1;
  }
  for (const auto& b : stack.bound()) {
    const char* name = b.transport == Transport::kUdp   ? "PORT"
                       : b.transport == Transport::kTcp ? "TCP"
                                                        : "TLS";
    std::printf("%s %u\n", name, b.port);
  }
  std::fflush(stdout);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    stack.stop();
    io.stop();
  });
  io.run();
  std::printf("received=%llu sent=%llu parse_errors=%llu dropped=%llu bindings=%zu invites=%d answered=%d\n",
              static_cast<unsigned long long>(stack.stats().received),
              static_cast<unsigned long long>(stack.stats().sent),
              static_cast<unsigned long long>(stack.stats().parse_errors),
              static_cast<unsigned long long>(stack.stats().dropped), stack.registrar().binding_count(),
              uas.invites.load(), uas.answered.load());
  return 0;
}
