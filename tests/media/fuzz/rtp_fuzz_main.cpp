// libFuzzer entry point: build with -DHOTLINE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++
// and run: build/fuzz/tests/media/media_rtp_fuzz tests/media/fuzz/corpus
#include "rtp_fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hotline::media::fuzz_rtp_rtcp(data, size);
  return 0;
}
