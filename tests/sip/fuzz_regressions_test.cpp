// Replays the inputs kept in fuzz/regressions/ through the same checks as the
// libFuzzer targets, in every build (the fuzz build needs clang).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sip/message.h"
#include "sip/sdp.h"

namespace hotline::sip {
namespace {

std::vector<std::string> inputs(const std::string& target) {
  std::vector<std::string> out;
  const std::filesystem::path dir = std::string(HOTLINE_SOURCE_DIR) + "/fuzz/regressions/" + target;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream f(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    out.push_back(ss.str());
  }
  return out;
}

TEST(FuzzRegressions, SdpInputsParseOrFailCleanlyAndRoundTrip) {
  auto all = inputs("sdp");
  ASSERT_FALSE(all.empty());
  for (const auto& input : all) {
    auto s = sdp::parse(input);
    if (!s) continue;
    // Whatever we accept, we must be able to write back and read again.
    EXPECT_TRUE(sdp::parse(s->str())) << s->str();
  }
}

TEST(FuzzRegressions, HugeRtpmapClockRateIsRejected) {
  const std::string sdp_text =
      "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
      "m=audio 4000 RTP/AVP 8\r\na=rtpmap:8 PCMA/55555555555558000\r\n";
  EXPECT_FALSE(sdp::parse(sdp_text));
}

}  // namespace
}  // namespace hotline::sip
