// Encrypted recordings: container round trips (AES-256-GCM, SM4), crash
// prefixes, wrong keys, tampering; the time-aligned recorder; and an
// end-to-end bridged call whose decrypted WAV is cross-correlated with what
// the caller sent.
#include "media/recording.h"

#include <gtest/gtest.h>
#include <sndfile.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <vector>

#include "media/media.h"
#include "test_ports.h"
#include "udp_peer.h"

namespace hotline::media {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("hotline-media-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
  static inline int counter = 0;
};

Kek test_kek(const std::string& id = "kek-1", std::uint8_t seed = 7) {
  Kek k;
  k.id = id;
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(seed * 31 + i);
  return k;
}

std::vector<std::int16_t> read_wav(const std::string& path, int* channels = nullptr, int* rate = nullptr) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (!f) return {};
  std::vector<std::int16_t> v(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_short(f, v.data(), info.frames);
  sf_close(f);
  if (channels) *channels = info.channels;
  if (rate) *rate = info.samplerate;
  return v;
}

std::vector<std::uint8_t> pcm_bytes(const std::vector<std::int16_t>& s) {
  std::vector<std::uint8_t> b(s.size() * 2);
  for (std::size_t i = 0; i < s.size(); ++i) {
    b[2 * i] = static_cast<std::uint8_t>(s[i]);
    b[2 * i + 1] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(s[i]) >> 8);
  }
  return b;
}

std::vector<std::int16_t> test_signal(std::size_t frames) {
  std::vector<std::int16_t> s(frames * 2);
  for (std::size_t i = 0; i < frames; ++i) {
    s[2 * i] = static_cast<std::int16_t>(i * 7);
    s[2 * i + 1] = static_cast<std::int16_t>(-static_cast<int>(i * 3));
  }
  return s;
}

class Container : public ::testing::TestWithParam<Cipher> {};

TEST_P(Container, RoundTripAndCrashPrefix) {
  TempDir dir;
  const Kek kek = test_kek();
  const auto signal = test_signal(20000);  // 2.5 chunks
  {
    auto f = EncryptedRecordingFile::create(dir.file("a.hrec"), kek, GetParam());
    ASSERT_TRUE(f) << f.error().message;
    ASSERT_TRUE((*f)->write(pcm_bytes(signal)));
    ASSERT_TRUE((*f)->finish());
  }
  // The plaintext is not in the file.
  {
    std::ifstream in(dir.file("a.hrec"), std::ios::binary);
    std::string all{std::istreambuf_iterator<char>(in), {}};
    auto b = pcm_bytes(signal);
    EXPECT_EQ(all.find(std::string(b.begin() + 1000, b.begin() + 1064)), std::string::npos);
  }
  std::vector<Kek> keks = {test_kek("other", 9), kek};
  auto info = decrypt_recording(dir.file("a.hrec"), dir.file("a.wav"), keks);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->frames, 20000u);
  EXPECT_EQ(info->cipher, GetParam());
  EXPECT_EQ(info->kek_id, "kek-1");
  int ch = 0, rate = 0;
  EXPECT_EQ(read_wav(dir.file("a.wav"), &ch, &rate), signal);
  EXPECT_EQ(ch, 2);
  EXPECT_EQ(rate, 8000);

  // Crash: the writer dies without finish(); complete chunks survive.
  {
    auto f = EncryptedRecordingFile::create(dir.file("crash.hrec"), kek, GetParam());
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->write(pcm_bytes(signal)));  // 2 full chunks sealed, 0.5 buffered
  }
  info = decrypt_recording(dir.file("crash.hrec"), dir.file("crash.wav"), keks);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_FALSE(info->complete);
  EXPECT_EQ(info->frames, 16000u);
  auto prefix = read_wav(dir.file("crash.wav"));
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), signal.begin()));
  EXPECT_EQ(prefix.size(), 32000u);

  // Torn write: cut the complete file in the middle of its second chunk.
  const auto size = fs::file_size(dir.file("a.hrec"));
  fs::copy_file(dir.file("a.hrec"), dir.file("torn.hrec"));
  fs::resize_file(dir.file("torn.hrec"), size - 20000);
  info = decrypt_recording(dir.file("torn.hrec"), dir.file("torn.wav"), keks);
  ASSERT_TRUE(info);
  EXPECT_FALSE(info->complete);
  EXPECT_EQ(info->frames, 8000u);
}

TEST_P(Container, RejectsWrongKeyAndTampering) {
  TempDir dir;
  const Kek kek = test_kek();
  {
    auto f = EncryptedRecordingFile::create(dir.file("a.hrec"), kek, GetParam());
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->write(pcm_bytes(test_signal(12000))));
    ASSERT_TRUE((*f)->finish());
  }
  std::vector<Kek> wrong = {test_kek("kek-1", 99)};
  auto r = decrypt_recording(dir.file("a.hrec"), dir.file("x.wav"), wrong);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "integrity");
  std::vector<Kek> none = {test_kek("kek-2")};
  r = decrypt_recording(dir.file("a.hrec"), dir.file("x.wav"), none);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "not_found");
  // Flip one ciphertext byte in the second chunk.
  std::vector<Kek> right = {kek};
  {
    std::fstream f(dir.file("a.hrec"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(dir.file("a.hrec")) - 100));
    char c;
    f.seekg(f.tellp());
    f.get(c);
    f.seekp(-1, std::ios::cur);
    f.put(static_cast<char>(c ^ 1));
  }
  r = decrypt_recording(dir.file("a.hrec"), dir.file("x.wav"), right);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "integrity");
  // Not a recording at all.
  std::ofstream(dir.file("junk.hrec")) << "hello world, definitely not a recording";
  r = decrypt_recording(dir.file("junk.hrec"), dir.file("x.wav"), right);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "invalid_format");
}

INSTANTIATE_TEST_SUITE_P(Ciphers, Container, ::testing::Values(Cipher::aes_256_gcm, sm4_cipher()),
                         [](const auto& info) { return info.param == Cipher::aes_256_gcm ? "AES" : "SM4"; });

// Through the background writer thread (the engine's path): same container,
// same crash semantics, and finish() only returns once the file is closed.
TEST(RecordingWriterThread, WritesCompleteAndCrashedFiles) {
  TempDir dir;
  const Kek kek = test_kek();
  const auto signal = test_signal(20000);
  auto writer = std::make_shared<RecordingWriter>();
  {
    auto f = EncryptedRecordingFile::create(dir.file("ok.hrec"), kek, Cipher::aes_256_gcm, 2, 8000, writer);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->write(pcm_bytes(signal)));
    ASSERT_TRUE((*f)->finish());
  }
  {
    auto f =
        EncryptedRecordingFile::create(dir.file("crash.hrec"), kek, Cipher::aes_256_gcm, 2, 8000, writer);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->write(pcm_bytes(signal)));
  }                // dropped unfinished
  writer.reset();  // drains the queue and joins
  std::vector<Kek> keks = {kek};
  auto ok = decrypt_recording(dir.file("ok.hrec"), dir.file("ok.wav"), keks);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_TRUE(ok->complete);
  EXPECT_EQ(read_wav(dir.file("ok.wav")), signal);
  auto crash = decrypt_recording(dir.file("crash.hrec"), dir.file("crash.wav"), keks);
  ASSERT_TRUE(crash) << crash.error().message;
  EXPECT_FALSE(crash->complete);
  EXPECT_EQ(crash->frames, 16000u);
}

// finish() makes the recording durable: it fsyncs the file and then its
// directory, and reports a failure of either instead of claiming success.
// /dev/null takes writes but refuses fsync (EINVAL), which proves the file's
// fsync happens and is checked; a directory removed before the finish proves
// the same for the directory's.
TEST(RecordingDurability, FinishReportsFailedFileSync) {
  const Kek kek = test_kek();
  auto writer = std::make_shared<RecordingWriter>();
  for (auto w : {std::shared_ptr<RecordingWriter>{}, writer}) {
    auto f = EncryptedRecordingFile::create("/dev/null", kek, Cipher::aes_256_gcm, 2, 8000, w);
    ASSERT_TRUE(f) << f.error().message;
    ASSERT_TRUE((*f)->write(pcm_bytes(test_signal(8000))));  // one whole chunk written before the end
    auto st = (*f)->finish();
    ASSERT_FALSE(st) << (w ? "writer thread" : "synchronous");
    EXPECT_NE(st.error().message.find("fsync"), std::string::npos) << st.error().message;
  }
}

TEST(RecordingDurability, FinishReportsFailedDirectorySync) {
  TempDir dir;
  const fs::path sub = dir.path / "gone";
  fs::create_directories(sub);
  auto writer = std::make_shared<RecordingWriter>();
  auto f = EncryptedRecordingFile::create((sub / "r.hrec").string(), test_kek(), Cipher::aes_256_gcm, 2, 8000,
                                          writer);
  ASSERT_TRUE(f);
  ASSERT_TRUE((*f)->write(pcm_bytes(test_signal(800))));
  fs::remove_all(sub);  // the file's name (and its directory) are gone before the close
  auto st = (*f)->finish();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("directory"), std::string::npos) << st.error().message;
}

// The engine's stop() future carries the error to the call layer.
TEST(RecordingDurability, EngineStopReportsCloseErrors) {
  EngineConfig c;
  c.loops = 1;
  hotline::media::testing::use_test_ports(c);
  c.bind_address = "127.0.0.1";
  MediaEngine engine(c);
  testing::UdpPeer pa_phone, pb_phone;
  SessionParams pa;
  pa.remote_address = "127.0.0.1";
  pa.remote_port = pa_phone.port();
  SessionParams pb = pa;
  pb.remote_port = pb_phone.port();
  auto a = engine.create_session(pa, {});
  auto b = engine.create_session(pb, {}, a->get());
  ASSERT_TRUE(a && b);
  auto bad = engine.start_recording(**a, **b, {"/dev/null", test_kek(), Cipher::aes_256_gcm});
  ASSERT_TRUE(bad) << bad.error().message;
  std::vector<std::uint8_t> payload(160, 0x20);
  for (std::uint16_t k = 0; k < 10; ++k)
    pa_phone.send_rtp((*a)->local_port(), {k == 0, 0, k, 160u * k, 1}, payload);
  ASSERT_TRUE(testing::wait_for([&] { return (*a)->stats().get().packets_received == 10; }));
  auto st = (*bad)->stop().get();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("fsync"), std::string::npos) << st.error().message;
  // (The success path of stop() is BridgedCallDecryptsToWhatWasSent.)
}

TEST(RecordingCli, DecryptCommand) {
  TempDir dir;
  const Kek kek = test_kek();
  {
    auto f = EncryptedRecordingFile::create(dir.file("a.hrec"), kek, Cipher::aes_256_gcm);
    ASSERT_TRUE(f);
    ASSERT_TRUE((*f)->write(pcm_bytes(test_signal(100))));
    ASSERT_TRUE((*f)->finish());
  }
  std::vector<Kek> keks = {kek};
  std::ostringstream out, err;
  EXPECT_EQ(run_recording_decrypt_command({dir.file("a.hrec"), dir.file("a.wav")}, keks, out, err), 0);
  EXPECT_NE(out.str().find("100 frames"), std::string::npos) << out.str();
  EXPECT_EQ(run_recording_decrypt_command({dir.file("a.hrec")}, keks, out, err), 2);
  EXPECT_EQ(run_recording_decrypt_command({dir.file("missing"), dir.file("b.wav")}, keks, out, err), 1);
  auto k = kek_from_hex("id", std::string(64, 'a'));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->key[0], 0xaa);
  EXPECT_FALSE(kek_from_hex("id", "abc"));
  EXPECT_FALSE(kek_from_hex("id", std::string(64, 'z')));
}

TEST(Recorder, AlignsChannelsFillsGapsAndPauses) {
  TempDir dir;
  common::FakeClock clock;
  const auto t0 = clock.now();
  auto f = EncryptedRecordingFile::create(dir.file("r.hrec"), test_kek(), Cipher::aes_256_gcm);
  ASSERT_TRUE(f);
  Recorder rec(std::move(*f), t0, 100ms);
  std::vector<std::int16_t> ones(160, 1000), twos(160, -2000);
  // Left: 20 ms packets from t=0..1 s, but packets 10..19 lost (a 200 ms gap).
  // Right: starts 500 ms late (agent answers later).
  for (int k = 0; k < 50; ++k) {
    clock.advance(20ms);
    if (k < 10 || k >= 20) rec.push(0, 0x1, 1000u + 160u * k, ones.data(), 160, clock.now());
    if (k >= 25) rec.push(1, 0x2, 9000u + 160u * (k - 25), twos.data(), 160, clock.now());
    ASSERT_TRUE(rec.poll(clock.now()));
  }
  rec.pause(clock.now());  // t = 1.0 s
  for (int k = 0; k < 25; ++k) {
    clock.advance(20ms);
    rec.push(0, 0x1, 1000u + 160u * (50 + k), ones.data(), 160, clock.now());  // dropped: paused
    ASSERT_TRUE(rec.poll(clock.now()));
  }
  rec.resume(clock.now());  // t = 1.5 s
  for (int k = 0; k < 25; ++k) {
    clock.advance(20ms);
    rec.push(0, 0x1, 1000u + 160u * (75 + k), ones.data(), 160, clock.now());
    ASSERT_TRUE(rec.poll(clock.now()));
  }
  ASSERT_TRUE(rec.stop(clock.now()));  // t = 2.0 s
  std::vector<Kek> keks = {test_kek()};
  auto info = decrypt_recording(dir.file("r.hrec"), dir.file("r.wav"), keks);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->complete);
  EXPECT_EQ(info->frames, 16000u);
  auto wav = read_wav(dir.file("r.wav"));
  auto L = [&](int ms) { return wav[static_cast<std::size_t>(ms) * 8 * 2]; };
  auto R = [&](int ms) { return wav[static_cast<std::size_t>(ms) * 8 * 2 + 1]; };
  EXPECT_EQ(L(100), 1000);   // first packets (anchored at arrival)
  EXPECT_EQ(L(300), 0);      // lost packets → silence, timeline preserved
  EXPECT_EQ(L(500), 1000);   // resumes at its RTP-timestamp position
  EXPECT_EQ(R(300), 0);      // agent not there yet
  EXPECT_EQ(R(700), -2000);  // agent audio aligned to its arrival time
  EXPECT_EQ(L(1250), 0);     // paused: silence, even though audio arrived
  EXPECT_EQ(R(1250), 0);
  EXPECT_EQ(L(1800), 1000);  // resumed
}

// End to end: caller speaks (generated speech) and agent hums a tone through a
// bridge; the decrypted stereo WAV holds each side on its channel, aligned.
TEST(Recording, BridgedCallDecryptsToWhatWasSent) {
  TempDir dir;
  PromptLibrary prompts(std::string(HOTLINE_BINARY_DIR) + "/prompts");
  auto speech = prompts.get("en", "welcome");
  ASSERT_TRUE(speech) << speech.error().message;
  EngineConfig c;
  c.loops = 1;
  hotline::media::testing::use_test_ports(c);
  c.bind_address = "127.0.0.1";
  MediaEngine engine(c);
  testing::UdpPeer caller_phone, agent_phone;
  SessionParams pa;
  pa.remote_address = "127.0.0.1";
  pa.remote_port = caller_phone.port();
  SessionParams pb = pa;
  pb.remote_port = agent_phone.port();
  pb.codec = Codec::pcma;
  pb.payload_type = 8;
  auto a = engine.create_session(pa, {});
  auto b = engine.create_session(pb, {}, a->get());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(engine.bridge(**a, **b));
  auto rec = engine.start_recording(**a, **b, {dir.file("call.hrec"), test_kek(), Cipher::aes_256_gcm});
  ASSERT_TRUE(rec) << rec.error().message;
  (void)(*a)->stats().get();  // barrier: recorder attached
  // Send 2 s of the speech from the caller and a 1 kHz tone from the agent, paced at 20 ms.
  const auto& s = (*speech)->samples;
  const std::size_t frames = std::min<std::size_t>(s.size() / 160, 100);
  auto start = std::chrono::steady_clock::now();
  for (std::size_t k = 0; k < frames; ++k) {
    std::vector<std::uint8_t> pu(160), pl(160);
    g711_encode(Codec::pcmu, s.data() + 160 * k, pu.data(), 160);
    std::vector<std::int16_t> tone(160);
    for (int i = 0; i < 160; ++i)
      tone[i] = static_cast<std::int16_t>(8000 * std::sin(2 * M_PI * 1000 * (160.0 * k + i) / 8000));
    g711_encode(Codec::pcma, tone.data(), pl.data(), 160);
    caller_phone.send_rtp(
        (*a)->local_port(),
        {k == 0, 0, static_cast<std::uint16_t>(k), 160u * static_cast<std::uint32_t>(k), 0xCA11}, pu);
    agent_phone.send_rtp(
        (*b)->local_port(),
        {k == 0, 8, static_cast<std::uint16_t>(k), 160u * static_cast<std::uint32_t>(k), 0xA6E7}, pl);
    std::this_thread::sleep_until(start + (k + 1) * 20ms);  // a phone's pacing, not a wait for a result
  }
  // Half a second of silence after the speech, and every packet handled
  // before the stop: the recorder places the first packet at the time the
  // loop took it and the rest by timestamp, so if a loaded machine took the
  // first one late, a stop right after the last send would cut the speech.
  for (std::size_t k = frames; k < frames + 25; ++k) {
    const auto seq = static_cast<std::uint16_t>(k);
    const auto ts = 160u * static_cast<std::uint32_t>(k);
    caller_phone.send_rtp((*a)->local_port(), {false, 0, seq, ts, 0xCA11},
                          std::vector<std::uint8_t>(160, 0xff));
    agent_phone.send_rtp((*b)->local_port(), {false, 8, seq, ts, 0xA6E7},
                         std::vector<std::uint8_t>(160, 0xd5));
    std::this_thread::sleep_until(start + (k + 1) * 20ms);
  }
  ASSERT_TRUE(testing::wait_for([&] {
    return (*a)->stats().get().packets_received >= frames + 25 &&
           (*b)->stats().get().packets_received >= frames + 25;
  }));
  auto st = (*rec)->stop().get();
  ASSERT_TRUE(st) << st.error().message;
  std::vector<Kek> keks = {test_kek()};
  auto info = decrypt_recording(dir.file("call.hrec"), dir.file("call.wav"), keks);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->complete);
  int ch = 0;
  auto wav = read_wav(dir.file("call.wav"), &ch);
  ASSERT_EQ(ch, 2);
  const std::size_t n = wav.size() / 2;
  ASSERT_GT(n, frames * 160 * 9 / 10);
  std::vector<double> left(n), right(n);
  for (std::size_t i = 0; i < n; ++i) {
    left[i] = wav[2 * i];
    right[i] = wav[2 * i + 1];
  }
  // Reference: what the caller sent, after G.711.
  std::vector<double> ref(frames * 160);
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] = ulaw_to_linear(linear_to_ulaw(s[i]));
  // Normalised cross-correlation over lags up to 1 s.
  double best = 0;
  std::size_t best_lag = 0;
  const double ref_e = std::inner_product(ref.begin(), ref.end(), ref.begin(), 0.0);
  for (std::size_t lag = 0; lag < 8000 && lag + ref.size() <= n + 1600; ++lag) {
    double xy = 0, yy = 0;
    for (std::size_t i = 0; i < ref.size() && i + lag < n; ++i) {
      xy += ref[i] * left[i + lag];
      yy += left[i + lag] * left[i + lag];
    }
    if (yy <= 0) continue;
    const double c = xy / std::sqrt(ref_e * yy);
    if (c > best) best = c, best_lag = lag;
  }
  EXPECT_GT(best, 0.95) << "lag " << best_lag;
  // Right channel: the agent's tone, and no speech bleed into it.
  double e_tone = 0;
  for (std::size_t i = best_lag; i < best_lag + ref.size() && i < n; ++i) e_tone += right[i] * right[i];
  EXPECT_GT(e_tone / ref.size(), 1e6);  // ~8000/sqrt(2) RMS
  double xy = 0;
  for (std::size_t i = 0; i < ref.size() && i + best_lag < n; ++i) xy += ref[i] * right[i + best_lag];
  EXPECT_LT(std::abs(xy) / std::sqrt(ref_e * e_tone), 0.2);
}

}  // namespace
}  // namespace hotline::media
