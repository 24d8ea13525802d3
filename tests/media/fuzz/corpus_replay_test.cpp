// Replays the fuzz corpus (tests/media/fuzz/corpus) through the fuzz entry
// point, so every input that ever found a bug stays a regression test, plus a
// deterministic pseudo-random sweep of mutated packets.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

#include "rtp_fuzz_target.h"

namespace hotline::media {
namespace {

TEST(FuzzCorpus, ReplaysEveryInput) {
  const std::filesystem::path dir = std::filesystem::path(HOTLINE_SOURCE_DIR) / "tests/media/fuzz/corpus";
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::vector<std::uint8_t> d{std::istreambuf_iterator<char>(in), {}};
    fuzz_rtp_rtcp(d.data(), d.size());
    ++files;
  }
  EXPECT_GE(files, 8);
}

TEST(FuzzCorpus, MutatedCorpusDoesNotCrash) {
  const std::filesystem::path dir = std::filesystem::path(HOTLINE_SOURCE_DIR) / "tests/media/fuzz/corpus";
  std::mt19937 rng(1234);
  int runs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<std::uint8_t> seed{std::istreambuf_iterator<char>(in), {}};
    for (int i = 0; i < 2000; ++i) {
      std::vector<std::uint8_t> d = seed;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < edits; ++k) {
        switch (rng() % 3) {
          case 0:
            if (!d.empty()) d[rng() % d.size()] = static_cast<std::uint8_t>(rng());
            break;
          case 1:
            if (!d.empty()) d.resize(rng() % d.size());
            break;
          default:
            d.push_back(static_cast<std::uint8_t>(rng()));
        }
      }
      fuzz_rtp_rtcp(d.data(), d.size());
      ++runs;
    }
  }
  EXPECT_GT(runs, 10000);
}

}  // namespace
}  // namespace hotline::media
