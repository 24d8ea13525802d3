// A real WAV file made with libsndfile, for prompt upload tests.
#pragma once

#include <sndfile.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace hotline::testing {

// `seconds` of a 440 Hz tone, 8 kHz mono 16-bit PCM, as the bytes of a WAV file.
inline std::string make_wav(const std::string& scratch_path, double seconds = 0.25) {
  SF_INFO info{};
  info.samplerate = 8000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(scratch_path.c_str(), SFM_WRITE, &info);
  if (!f) throw std::runtime_error(std::string("sf_open: ") + sf_strerror(nullptr));
  std::vector<short> samples(static_cast<std::size_t>(seconds * 8000));
  for (std::size_t i = 0; i < samples.size(); ++i)
    samples[i] = static_cast<short>(8000 * std::sin(2 * M_PI * 440 * static_cast<double>(i) / 8000));
  sf_writef_short(f, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(f);
  std::ifstream in(scratch_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace hotline::testing
