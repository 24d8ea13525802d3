// media/audio.h — what a session can play: clips, playlists, tones, silence.
//
// Everything is 8 kHz mono 16-bit linear internally. Clips are decoded and
// resampled once when loaded (libsndfile + a windowed-sinc resampler) and
// shared read-only between sessions, so playing a prompt to a thousand
// callers costs one copy in memory and no work per packet beyond a memcpy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"

namespace hotline::media {

constexpr int kSampleRate = 8000;

struct Clip {
  std::string name;
  std::vector<std::int16_t> samples;  // 8 kHz mono
};
using ClipPtr = std::shared_ptr<const Clip>;

// Loads any libsndfile-readable file (WAV, etc.), downmixes to mono and
// resamples to 8 kHz. Errors (missing file, unreadable) are values.
common::Result<ClipPtr> load_clip(const std::string& path);

// Band-limited resampling of mono audio (windowed sinc, 16 zero crossings).
std::vector<std::int16_t> resample(std::span<const float> in, int in_rate, int out_rate);

// A source of audio frames. read() fills `out` completely (silence after the
// end) and returns false once the source is exhausted. Called on the
// session's loop for every outgoing packet: must not allocate or block.
class AudioSource {
 public:
  virtual ~AudioSource() = default;
  virtual bool read(std::span<std::int16_t> out) = 0;
};

// Plays clips one after another; with `loop` starts over (music on hold).
class PlaylistSource final : public AudioSource {
 public:
  PlaylistSource(std::vector<ClipPtr> clips, bool loop) : clips_(std::move(clips)), loop_(loop) {}
  bool read(std::span<std::int16_t> out) override;

 private:
  std::vector<ClipPtr> clips_;
  bool loop_;
  std::size_t clip_ = 0;
  std::size_t pos_ = 0;
};

// Call-progress tones as a cadence of on/off periods (ms); an empty cadence is
// a continuous tone. Presets follow ITU-T E.180 national entries.
struct ToneSpec {
  double freq1 = 450;
  double freq2 = 0;  // 0 = single frequency
  double level_dbm0 = -13;
  std::vector<int> cadence_ms;  // on, off, on, off, ... (repeats)
  int total_ms = 0;             // 0 = until stopped

  static ToneSpec ringback_cn() { return {450, 0, -13, {1000, 4000}, 0}; }
  static ToneSpec busy_cn() { return {450, 0, -13, {350, 350}, 0}; }
  static ToneSpec ringback_us() { return {440, 480, -19, {2000, 4000}, 0}; }
  static ToneSpec busy_us() { return {480, 620, -24, {500, 500}, 0}; }
};

class ToneSource final : public AudioSource {
 public:
  explicit ToneSource(ToneSpec spec);
  bool read(std::span<std::int16_t> out) override;

 private:
  ToneSpec spec_;
  double amp_;
  double ph1_ = 0, ph2_ = 0, inc1_, inc2_;
  std::size_t elapsed_ = 0;         // samples since start
  std::size_t cadence_len_ = 0;     // samples per cadence cycle
  std::vector<std::size_t> edges_;  // cumulative sample offsets of cadence edges
};

// Prompts by language and name, loaded from `<root>/<lang>/<name>.wav`
// (the build generates en and zh prompts with espeak-ng; see prompts/).
// Thread-safe; clips are loaded on first use and cached.
class PromptLibrary {
 public:
  explicit PromptLibrary(std::string root) : root_(std::move(root)) {}

  common::Result<ClipPtr> get(const std::string& lang, const std::string& name);
  // Digit by digit: "2", "0", "8".
  common::Result<std::vector<ClipPtr>> say_digits(const std::string& lang, const std::string& digits);
  // A number as words (0..99,999,999): en "one hundred twenty three",
  // zh "一百二十三" using 十/百/千/万 and 零 rules.
  common::Result<std::vector<ClipPtr>> say_number(const std::string& lang, std::uint64_t n);
  // The prompt names say_number would use, for tests and for uploading custom sets.
  static std::vector<std::string> number_words(const std::string& lang, std::uint64_t n);
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::mutex mu_;
  std::map<std::string, ClipPtr> cache_;
};

}  // namespace hotline::media
