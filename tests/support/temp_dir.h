// support/temp_dir.h — RAII temporary directory and free-port helper for tests.
//
//   hotline::testing::TempDir dir;            // /tmp/hotline-test-XXXXXX
//   auto db = dir.path() / "hotline.db";      // removed with everything in it
//   int port = hotline::testing::free_tcp_port();
#pragma once

#include <filesystem>
#include <string>

namespace hotline::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "hotline-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // Keep the directory after the test (for post-mortem debugging).
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it
// back, close). Another process may take it before you do; servers that can
// should bind to port 0 themselves instead.
int free_tcp_port();

}  // namespace hotline::testing
