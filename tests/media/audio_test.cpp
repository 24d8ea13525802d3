// Clips (libsndfile + resampling), tones, playlists, prompts and number
// phrases; and no false DTMF on speech (the generated prompts are real speech).
#include "media/audio.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <numbers>
#include <string>
#include <vector>

#include "media/dtmf.h"
#include "media/g711.h"

namespace hotline::media {
namespace {

const std::string kPrompts = std::string(HOTLINE_BINARY_DIR) + "/prompts";

double tone_power(const std::vector<std::int16_t>& x, double freq, std::size_t from = 0, std::size_t n = 0) {
  if (n == 0) n = x.size() - from;
  const double coef = 2 * std::cos(2 * std::numbers::pi * freq / 8000);
  double s1 = 0, s2 = 0;
  for (std::size_t i = from; i < from + n; ++i) {
    const double s0 = x[i] + coef * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return (s1 * s1 + s2 * s2 - coef * s1 * s2) / (double(n) * n);
}

TEST(Resample, KeepsInBandToneAndRemovesAliases) {
  // 22.05 kHz input: a 1 kHz tone plus a 6 kHz tone that would alias to 2 kHz at 8 kHz.
  std::vector<float> in(22050);
  for (std::size_t i = 0; i < in.size(); ++i)
    in[i] = static_cast<float>(0.3 * std::sin(2 * std::numbers::pi * 1000 * i / 22050.0) +
                               0.3 * std::sin(2 * std::numbers::pi * 6000 * i / 22050.0));
  auto out = resample(in, 22050, 8000);
  EXPECT_NEAR(static_cast<double>(out.size()), 8000.0, 1.0);
  const double p1k = tone_power(out, 1000, 500, 7000), p2k = tone_power(out, 2000, 500, 7000);
  EXPECT_GT(p1k, 1000 * p2k);  // alias suppressed by > 30 dB
  // Amplitude preserved (0.3 full scale ≈ 9830): Goertzel power/(N²) ≈ A²/4.
  EXPECT_NEAR(std::sqrt(p1k * 4), 0.3 * 32767, 0.3 * 32767 * 0.05);
}

TEST(Clip, LoadsGeneratedPromptAt8k) {
  auto clip = load_clip(kPrompts + "/en/welcome.wav");
  ASSERT_TRUE(clip) << clip.error().message;
  // espeak-ng writes 22.05 kHz; duration must survive the resampling.
  EXPECT_GT((*clip)->samples.size(), 8000u);  // over a second of speech
  auto missing = load_clip(kPrompts + "/en/no_such_prompt.wav");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "not_found");
  auto not_audio = load_clip(std::string(HOTLINE_SOURCE_DIR) + "/tests/media/data/README.md");
  EXPECT_FALSE(not_audio);
}

TEST(Playlist, PlaysInOrderAndLoops) {
  auto a = std::make_shared<Clip>(), b = std::make_shared<Clip>();
  a->samples.assign(200, 1);
  b->samples.assign(100, 2);
  PlaylistSource once({a, b}, false);
  std::vector<std::int16_t> f(160);
  EXPECT_TRUE(once.read(f));
  EXPECT_EQ(f[0], 1);
  EXPECT_TRUE(once.read(f));
  EXPECT_EQ(f[39], 1);
  EXPECT_EQ(f[40], 2);
  EXPECT_EQ(f[139], 2);
  EXPECT_EQ(f[140], 0);  // padded with silence at the end
  EXPECT_FALSE(once.read(f));
  PlaylistSource moh({a}, true);
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(moh.read(f));
    EXPECT_EQ(f[159], 1);  // music on hold never runs dry
  }
  PlaylistSource empty({}, true);
  EXPECT_FALSE(empty.read(f));
}

TEST(Tone, CadenceAndFrequency) {
  ToneSource busy(ToneSpec::busy_cn());  // 450 Hz, 350 ms on / 350 ms off
  std::vector<std::int16_t> all;
  std::vector<std::int16_t> f(160);
  for (int i = 0; i < 70; ++i) {  // 1.4 s
    ASSERT_TRUE(busy.read(f));
    all.insert(all.end(), f.begin(), f.end());
  }
  EXPECT_GT(tone_power(all, 450, 0, 2400), 1e5);        // 0–300 ms: on
  EXPECT_LT(tone_power(all, 450, 8 * 400, 2400), 1.0);  // 400–700 ms: off
  EXPECT_GT(tone_power(all, 450, 8 * 700, 2400), 1e5);  // 700–1000 ms: on again
  EXPECT_LT(tone_power(all, 1000, 0, 2400), 1e-3 * tone_power(all, 450, 0, 2400));
  ToneSpec once{1000, 0, -10, {}, 100};
  ToneSource beep(once);
  int reads = 0;
  for (int i = 0; i < 20; ++i) reads += beep.read(f) ? 1 : 0;
  EXPECT_GE(reads, 5);
}

TEST(Prompts, NumberWords) {
  using V = std::vector<std::string>;
  EXPECT_EQ(PromptLibrary::number_words("en", 0), V{"digit_0"});
  EXPECT_EQ(PromptLibrary::number_words("en", 7), V{"digit_7"});
  EXPECT_EQ(PromptLibrary::number_words("en", 13), V{"num_13"});
  EXPECT_EQ(PromptLibrary::number_words("en", 42), (V{"num_40", "digit_2"}));
  EXPECT_EQ(PromptLibrary::number_words("en", 305), (V{"digit_3", "hundred", "digit_5"}));
  EXPECT_EQ(PromptLibrary::number_words("en", 2019), (V{"digit_2", "thousand", "num_19"}));
  EXPECT_EQ(PromptLibrary::number_words("en", 1000001), (V{"digit_1", "million", "digit_1"}));
  // Mandarin: 十二 (no leading 一), 二十, 一百零五, 一千零一十, 一万零五, 三万二千.
  EXPECT_EQ(PromptLibrary::number_words("zh", 12), (V{"ten", "digit_2"}));
  EXPECT_EQ(PromptLibrary::number_words("zh", 20), (V{"digit_2", "ten"}));
  EXPECT_EQ(PromptLibrary::number_words("zh", 105), (V{"digit_1", "hundred", "digit_0", "digit_5"}));
  EXPECT_EQ(PromptLibrary::number_words("zh", 1010), (V{"digit_1", "thousand", "digit_0", "digit_1", "ten"}));
  EXPECT_EQ(PromptLibrary::number_words("zh", 10005), (V{"digit_1", "ten_thousand", "digit_0", "digit_5"}));
  EXPECT_EQ(PromptLibrary::number_words("zh", 32000), (V{"digit_3", "ten_thousand", "digit_2", "thousand"}));
  EXPECT_EQ(PromptLibrary::number_words("zh", 0), V{"digit_0"});
}

TEST(Prompts, EveryNumberPromptExistsInBothLanguages) {
  PromptLibrary lib(kPrompts);
  for (const std::string lang : {"en", "zh"}) {
    for (std::uint64_t n :
         {0ull, 7ull, 12ull, 20ull, 99ull, 105ull, 1010ull, 10005ull, 99999ull, 123456ull}) {
      auto clips = lib.say_number(lang, n);
      ASSERT_TRUE(clips) << lang << " " << n << ": " << clips.error().message;
      EXPECT_FALSE(clips->empty());
    }
    auto d = lib.say_digits(lang, "0123456789");
    ASSERT_TRUE(d) << d.error().message;
    EXPECT_EQ(d->size(), 10u);
    for (const char* name :
         {"welcome", "menu", "queue_position", "estimated_wait", "callback_offer", "goodbye"}) {
      EXPECT_TRUE(lib.get(lang, name)) << lang << "/" << name;
    }
  }
  EXPECT_FALSE(lib.say_digits("en", "12a"));
  EXPECT_FALSE(lib.get("en", "../etc/passwd"));
  // Cached: the same clip object comes back.
  EXPECT_EQ(lib.get("en", "digit_1")->get(), lib.get("en", "digit_1")->get());
}

// Speech must not trigger the in-band detector: run it over every generated
// prompt (English and Mandarin speech), G.711-coded as it would arrive.
TEST(InbandDtmf, NoFalseDigitsOnSpeech) {
  std::size_t total = 0;
  std::string false_digits;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(kPrompts)) {
    if (entry.path().extension() != ".wav") continue;
    auto clip = load_clip(entry.path().string());
    ASSERT_TRUE(clip);
    for (Codec codec : {Codec::pcmu, Codec::pcma}) {
      InbandDtmfDetector det;
      std::vector<std::uint8_t> enc((*clip)->samples.size());
      std::vector<std::int16_t> dec(enc.size());
      g711_encode(codec, (*clip)->samples.data(), enc.data(), enc.size());
      g711_decode(codec, enc.data(), dec.data(), dec.size());
      det.process(dec.data(), dec.size(), [&](char c) { false_digits += c; });
      total += dec.size();
    }
  }
  EXPECT_GT(total, 8000u * 60);  // at least a minute of speech examined
  EXPECT_EQ(false_digits, "");
}

}  // namespace
}  // namespace hotline::media
