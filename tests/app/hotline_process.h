// Runs the real `hotline` binary for process-level tests: CLI commands, and
// `hotline serve` on a free port (it binds port 0 and prints the URL).
#pragma once

#include <signal.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "support/process.h"
#include "support/temp_dir.h"

namespace hotline::testing {

inline std::string hotline_binary() { return std::string(HOTLINE_BINARY_DIR) + "/src/app/hotline"; }

inline std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A config file in `dir` for `storage_url`, HTTP on an ephemeral port.
inline std::string write_config(const TempDir& dir, const std::string& storage_url,
                                const std::string& extra = "", const std::string& log_level = "warn") {
  auto path = dir.str() + "/hotline.toml";
  std::ofstream f(path);
  f << "[http]\nlisten = \"127.0.0.1:0\"\n\n[storage]\nurl = \"" << storage_url << "\"\n\n"
    << "[auth]\nkdf_opslimit = 1\nkdf_memlimit_kib = 8192\n\n[log]\nlevel = \"" << log_level
    << "\"\naccess = false\n"
    << extra;
  // A test that does not care about SIP must not need port 5060 (a phone, a
  // benchmark or another suite may hold it): ephemeral UDP, no TCP.
  if (extra.find("[sip]") == std::string::npos) f << "\n[sip]\nudp = \"127.0.0.1:0\"\ntcp = \"\"\n";
  return path;
}

inline ProcessResult hotline_cli(const std::string& config, std::vector<std::string> args) {
  std::vector<std::string> argv{hotline_binary(), "--config", config};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv);
}

// `hotline serve` in the background; the destructor SIGKILLs it if still running.
class ServeProcess {
 public:
  ServeProcess(const TempDir& dir, const std::string& config)
      : log_(dir.str() + "/serve-" + std::to_string(++counter_) + ".log") {
    ProcessOptions o;
    o.log_path = log_;
    o.die_with_parent = true;
    pid_ = spawn_process({hotline_binary(), "--config", config, "serve"}, o);
    for (int i = 0; i < 3000; ++i) {  // up to 60 s on a loaded machine
      auto text = read_file(log_);
      auto at = text.find("listening http=http://127.0.0.1:");
      if (at != std::string::npos) {
        auto start = at + std::string("listening http=http://127.0.0.1:").size();
        auto end = text.find('\n', start);
        if (end != std::string::npos) {
          port_ = static_cast<unsigned short>(std::stoi(text.substr(start, end - start)));
          return;
        }
      }
      if (auto rc = wait_process(pid_, std::chrono::milliseconds(0))) {
        pid_ = -1;
        throw std::runtime_error("hotline serve exited with " + std::to_string(*rc) + ":\n" + text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("hotline serve did not print its port:\n" + read_file(log_));
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      wait_process(pid_, std::chrono::seconds(30));
    }
  }
  unsigned short port() const { return port_; }
  void kill_hard() {
    ::kill(pid_, SIGKILL);
    wait_process(pid_, std::chrono::seconds(30));
    pid_ = -1;
  }
  // SIGTERM, then wait for the exit code.
  int terminate() {
    ::kill(pid_, SIGTERM);
    auto rc = wait_process(pid_, std::chrono::seconds(60));
    pid_ = -1;
    return rc.value_or(-999);
  }
  pid_t pid() const { return pid_; }
  // The port printed as "listening sip=<scheme>://127.0.0.1:<port>".
  unsigned short sip_port(const std::string& scheme = "udp") const {
    const std::string marker = "listening sip=" + scheme + "://127.0.0.1:";
    for (int i = 0; i < 500; ++i) {
      auto text = read_file(log_);
      auto at = text.find(marker);
      if (at != std::string::npos && text.find('\n', at) != std::string::npos) {
        return static_cast<unsigned short>(std::stoi(text.substr(at + marker.size())));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("no " + marker + " line:\n" + read_file(log_));
  }
  std::string log() const { return read_file(log_); }

 private:
  static inline int counter_ = 0;
  std::string log_;
  pid_t pid_ = -1;
  unsigned short port_ = 0;
};

}  // namespace hotline::testing
