// The RTP/RTCP parsing fuzz entry point, shared by the libFuzzer binary
// (rtp_fuzz_main.cpp, HOTLINE_FUZZ=ON with clang) and the corpus replay test.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hotline::media {
// Runs every parser that sees network bytes over `data`. Must never crash,
// hang or trip a sanitizer, whatever the input.
void fuzz_rtp_rtcp(const std::uint8_t* data, std::size_t size);
}  // namespace hotline::media
