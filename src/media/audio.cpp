#include "media/audio.h"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

namespace hotline::media {

using common::Error;
using common::Result;

std::vector<std::int16_t> resample(std::span<const float> in, int in_rate, int out_rate) {
  std::vector<std::int16_t> out;
  if (in.empty() || in_rate <= 0 || out_rate <= 0) return out;
  const double ratio = double(out_rate) / in_rate;
  const std::size_t n_out = static_cast<std::size_t>(std::floor(in.size() * ratio));
  out.resize(n_out);
  const double cutoff = std::min(1.0, ratio) * 0.95;  // low-pass below the new Nyquist
  constexpr int kZeros = 16;
  const double half_width = kZeros / cutoff;  // in input samples
  for (std::size_t i = 0; i < n_out; ++i) {
    const double centre = i / ratio;
    const long lo = static_cast<long>(std::ceil(centre - half_width));
    const long hi = static_cast<long>(std::floor(centre + half_width));
    double acc = 0;
    for (long j = std::max(0L, lo); j <= std::min<long>(static_cast<long>(in.size()) - 1, hi); ++j) {
      const double x = (j - centre) * cutoff;
      const double sinc = x == 0 ? 1.0 : std::sin(std::numbers::pi * x) / (std::numbers::pi * x);
      const double w = 0.5 + 0.5 * std::cos(std::numbers::pi * (j - centre) / half_width);  // Hann
      acc += in[j] * sinc * w * cutoff;
    }
    out[i] = static_cast<std::int16_t>(std::clamp(std::lround(acc * 32767.0), -32768L, 32767L));
  }
  return out;
}

Result<ClipPtr> load_clip(const std::string& path) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return Error::not_found("cannot open audio file " + path + ": " + sf_strerror(nullptr));
  if (info.channels <= 0 || info.samplerate <= 0 || info.frames < 0 || info.frames > 8000LL * 3600 * 6) {
    sf_close(f);
    return Error::invalid("path", "unsupported audio file " + path);
  }
  std::vector<float> interleaved(static_cast<std::size_t>(info.frames) * info.channels);
  const sf_count_t got = sf_readf_float(f, interleaved.data(), info.frames);
  sf_close(f);
  std::vector<float> mono(static_cast<std::size_t>(got));
  for (sf_count_t i = 0; i < got; ++i) {
    float s = 0;
    for (int c = 0; c < info.channels; ++c) s += interleaved[i * info.channels + c];
    mono[i] = s / info.channels;
  }
  auto clip = std::make_shared<Clip>();
  clip->name = path;
  if (info.samplerate == kSampleRate) {
    clip->samples.resize(mono.size());
    for (std::size_t i = 0; i < mono.size(); ++i)
      clip->samples[i] =
          static_cast<std::int16_t>(std::clamp(std::lround(mono[i] * 32767.0), -32768L, 32767L));
  } else {
    clip->samples = resample(mono, info.samplerate, kSampleRate);
  }
  return ClipPtr(std::move(clip));
}

bool PlaylistSource::read(std::span<std::int16_t> out) {
  std::size_t filled = 0;
  while (filled < out.size()) {
    if (clip_ >= clips_.size()) {
      if (!loop_ || clips_.empty()) break;
      clip_ = 0;
      pos_ = 0;
    }
    const auto& s = clips_[clip_]->samples;
    const std::size_t n = std::min(out.size() - filled, s.size() - pos_);
    if (n > 0) std::memcpy(out.data() + filled, s.data() + pos_, n * sizeof(std::int16_t));
    filled += n;
    pos_ += n;
    if (pos_ >= s.size()) {
      ++clip_;
      pos_ = 0;
      // An empty looping playlist of empty clips would spin forever.
      if (loop_ && clip_ >= clips_.size() && filled == 0 && n == 0) {
        bool all_empty =
            std::all_of(clips_.begin(), clips_.end(), [](const ClipPtr& c) { return c->samples.empty(); });
        if (all_empty) break;
      }
    }
  }
  std::fill(out.begin() + static_cast<std::ptrdiff_t>(filled), out.end(), 0);
  return filled > 0 || (clip_ < clips_.size());
}

ToneSource::ToneSource(ToneSpec spec) : spec_(std::move(spec)) {
  amp_ = 32767.0 * std::pow(10.0, (spec_.level_dbm0 - 3.17) / 20.0);
  inc1_ = 2 * std::numbers::pi * spec_.freq1 / kSampleRate;
  inc2_ = 2 * std::numbers::pi * spec_.freq2 / kSampleRate;
  std::size_t acc = 0;
  for (int ms : spec_.cadence_ms) {
    acc += static_cast<std::size_t>(ms) * 8;
    edges_.push_back(acc);
  }
  cadence_len_ = acc;
}

bool ToneSource::read(std::span<std::int16_t> out) {
  const std::size_t total = static_cast<std::size_t>(spec_.total_ms) * 8;
  bool any = false;
  for (auto& s : out) {
    if (total != 0 && elapsed_ >= total) {
      s = 0;
      continue;
    }
    bool on = true;
    if (cadence_len_ > 0) {
      const std::size_t pos = elapsed_ % cadence_len_;
      std::size_t k = 0;
      while (k < edges_.size() && pos >= edges_[k]) ++k;
      on = (k % 2) == 0;
    }
    double v = 0;
    if (on) v = amp_ * (std::sin(ph1_) + (spec_.freq2 > 0 ? std::sin(ph2_) : 0.0));
    ph1_ += inc1_;
    ph2_ += inc2_;
    if (ph1_ > 2 * std::numbers::pi) ph1_ -= 2 * std::numbers::pi;
    if (ph2_ > 2 * std::numbers::pi) ph2_ -= 2 * std::numbers::pi;
    s = static_cast<std::int16_t>(std::clamp(v, -32768.0, 32767.0));
    ++elapsed_;
    any = true;
  }
  return any;
}

Result<ClipPtr> PromptLibrary::get(const std::string& lang, const std::string& name) {
  // Names come from the call layer's configuration; refuse path tricks anyway.
  auto bad = [](const std::string& s) {
    return s.empty() || s.find('/') != std::string::npos || s.find("..") != std::string::npos;
  };
  if (bad(lang) || bad(name)) return Error::invalid("prompt", "invalid prompt name " + lang + "/" + name);
  const std::string key = lang + "/" + name;
  {
    std::lock_guard lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
  }
  auto clip = load_clip(root_ + "/" + key + ".wav");
  if (!clip) return clip.error();
  std::lock_guard lock(mu_);
  cache_[key] = *clip;
  return *clip;
}

Result<std::vector<ClipPtr>> PromptLibrary::say_digits(const std::string& lang, const std::string& digits) {
  std::vector<ClipPtr> out;
  for (char c : digits) {
    if (c < '0' || c > '9') return Error::invalid("digits", "not a digit string");
    auto clip = get(lang, std::string("digit_") + c);
    if (!clip) return clip.error();
    out.push_back(*clip);
  }
  return out;
}

namespace {

void en_below_1000(unsigned n, std::vector<std::string>& w) {
  if (n >= 100) {
    w.push_back("digit_" + std::to_string(n / 100));
    w.push_back("hundred");
    n %= 100;
  }
  if (n >= 20) {
    w.push_back("num_" + std::to_string(n / 10 * 10));
    n %= 10;
    if (n) w.push_back("digit_" + std::to_string(n));
  } else if (n >= 10) {
    w.push_back("num_" + std::to_string(n));
  } else if (n > 0) {
    w.push_back("digit_" + std::to_string(n));
  }
}

// Mandarin: groups of four digits with 千 百 十, 零 for internal zeros, 万 for 10^4.
void zh_below_10000(unsigned n, bool leading, std::vector<std::string>& w) {
  static const char* kUnits[] = {"thousand", "hundred", "ten", ""};
  const unsigned d[4] = {n / 1000, n / 100 % 10, n / 10 % 10, n % 10};
  bool zero_pending = false;
  bool started = !leading;
  for (int i = 0; i < 4; ++i) {
    if (d[i] == 0) {
      if (started) zero_pending = true;
      continue;
    }
    if (zero_pending) w.push_back("digit_0");
    zero_pending = false;
    // 十 alone at the start of a number: "十二" not "一十二".
    if (!(i == 2 && d[i] == 1 && !started && leading)) w.push_back("digit_" + std::to_string(d[i]));
    if (*kUnits[i]) w.push_back(kUnits[i]);
    started = true;
  }
}

}  // namespace

std::vector<std::string> PromptLibrary::number_words(const std::string& lang, std::uint64_t n) {
  std::vector<std::string> w;
  if (n == 0) return {"digit_0"};
  if (n > 99'999'999) {
    for (char c : std::to_string(n)) w.push_back(std::string("digit_") + c);
    return w;
  }
  if (lang == "zh") {
    const unsigned hi = static_cast<unsigned>(n / 10000), lo = static_cast<unsigned>(n % 10000);
    if (hi) {
      zh_below_10000(hi, true, w);
      w.push_back("ten_thousand");
      if (lo > 0 && lo < 1000) w.push_back("digit_0");
      if (lo) zh_below_10000(lo, false, w);
    } else {
      zh_below_10000(lo, true, w);
    }
    // zh_below_10000(lo, false) may have emitted a leading 零 already; collapse doubles.
    w.erase(std::unique(
                w.begin(), w.end(),
                [](const std::string& a, const std::string& b) { return a == "digit_0" && b == "digit_0"; }),
            w.end());
    return w;
  }
  const unsigned millions = static_cast<unsigned>(n / 1'000'000);
  const unsigned thousands = static_cast<unsigned>(n / 1000 % 1000);
  const unsigned rest = static_cast<unsigned>(n % 1000);
  if (millions) {
    en_below_1000(millions, w);
    w.push_back("million");
  }
  if (thousands) {
    en_below_1000(thousands, w);
    w.push_back("thousand");
  }
  en_below_1000(rest, w);
  return w;
}

Result<std::vector<ClipPtr>> PromptLibrary::say_number(const std::string& lang, std::uint64_t n) {
  std::vector<ClipPtr> out;
  for (const auto& name : number_words(lang, n)) {
    auto clip = get(lang, name);
    if (!clip) return clip.error();
    out.push_back(*clip);
  }
  return out;
}

}  // namespace hotline::media
