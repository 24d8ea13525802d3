// listen(): a real encrypted recording (media::EncryptedRecordingFile)
// decrypts to a WAV with the same samples; every access is audited; no
// plaintext is left on disk; other tenants, tampering and missing files fail.
#include <sndfile.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace hotline::records::test {
namespace {

namespace fs = std::filesystem;

media::Kek kek(const std::string& id, std::uint8_t seed) {
  media::Kek k;
  k.id = id;
  for (std::size_t i = 0; i < k.key.size(); ++i) k.key[i] = static_cast<std::uint8_t>(seed * 13 + i);
  return k;
}

// Stereo 8 kHz: left a ramp, right its negative.
std::vector<std::int16_t> signal(std::size_t frames) {
  std::vector<std::int16_t> s(frames * 2);
  for (std::size_t i = 0; i < frames; ++i) {
    s[2 * i] = static_cast<std::int16_t>(i * 11);
    s[2 * i + 1] = static_cast<std::int16_t>(-static_cast<int>(i * 5));
  }
  return s;
}

std::vector<std::int16_t> wav_samples(const std::string& bytes, const fs::path& scratch) {
  {
    std::ofstream out(scratch, std::ios::binary);
    out << bytes;
  }
  SF_INFO info{};
  SNDFILE* f = sf_open(scratch.c_str(), SFM_READ, &info);
  if (!f) return {};
  EXPECT_EQ(info.channels, 2);
  EXPECT_EQ(info.samplerate, 8000);
  std::vector<std::int16_t> v(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_short(f, v.data(), info.frames);
  sf_close(f);
  fs::remove(scratch);
  return v;
}

class ListenTest : public RecordsTest {
 protected:
  void SetUp() override {
    RecordsTest::SetUp();
    fs::create_directories(tmp_);
    // listen()'s temporary WAV goes to TMPDIR: a private one proves cleanup.
    old_tmp_ = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "";
    ::setenv("TMPDIR", tmp_.c_str(), 1);
  }
  void TearDown() override {
    if (old_tmp_.empty()) {
      ::unsetenv("TMPDIR");
    } else {
      ::setenv("TMPDIR", old_tmp_.c_str(), 1);
    }
  }

  // Writes an encrypted recording of `frames` frames; returns its path.
  std::string make_file(const std::string& name, std::size_t frames, const media::Kek& k) {
    const auto path = (dir_.path() / name).string();
    auto file = media::EncryptedRecordingFile::create(path, k, media::Cipher::aes_256_gcm);
    EXPECT_TRUE(file.ok());
    if (!file) return path;
    auto pcm = signal(frames);
    std::vector<std::uint8_t> bytes(pcm.size() * 2);
    for (std::size_t i = 0; i < pcm.size(); ++i) {
      bytes[2 * i] = static_cast<std::uint8_t>(pcm[i]);
      bytes[2 * i + 1] = static_cast<std::uint8_t>(static_cast<std::uint16_t>(pcm[i]) >> 8);
    }
    EXPECT_TRUE((*file)->write(bytes).ok());
    EXPECT_TRUE((*file)->finish().ok());
    return path;
  }

  RecordingInfo put(Store& s, std::int64_t tenant, const std::string& id, const std::string& path) {
    RecordingInfo r = make_recording(tenant, 1);
    r.id = id;
    r.path = path;
    s.put_recording(r);
    s.flush();
    return r;
  }

  bool tmp_empty() const { return fs::is_empty(tmp_); }

  fs::path tmp_ = dir_.path() / "tmp";
  std::string old_tmp_;
  iam::Actor actor_{0, 7, "user:7:sue", "192.0.2.7", {}};
};

TEST_P(ListenTest, DecryptsToTheRecordedSamplesAndAudits) {
  const auto k = kek("kek-a", 3);
  auto s =
      make_store({.max_batch = 1000, .max_delay = std::chrono::milliseconds(5), .keks = {kek("old", 1), k}});
  constexpr std::size_t kFrames = 8000 * 2 + 1234;  // two full chunks and a partial one
  put(*s, t1, "rec1", make_file("rec1.hrec", kFrames, k));
  auto wav = s->listen(t1, "rec1", actor_);
  ASSERT_TRUE(wav.ok()) << wav.error().code << ": " << wav.error().message;
  EXPECT_EQ(wav->substr(0, 4), "RIFF");
  EXPECT_EQ(wav_samples(*wav, dir_.path() / "check.wav"), signal(kFrames));
  EXPECT_TRUE(tmp_empty()) << "the decrypted temporary file is removed";
  auto a = db->exec(
                 "SELECT actor, source, target, details, tenant_id FROM audit_log WHERE action = "
                 "'recording.listen'")
               .rows;
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].text(0), "user:7:sue");
  EXPECT_EQ(a[0].text(1), "192.0.2.7");
  EXPECT_EQ(a[0].text(2), "recording:rec1");
  EXPECT_EQ(a[0].integer(4), t1);
  auto details = nlohmann::json::parse(a[0].text(3));
  EXPECT_EQ(details["complete"], true);
  EXPECT_EQ(details["frames"], kFrames);
  EXPECT_EQ(details["call_id"], "c1");
  // Every access is one entry.
  ASSERT_TRUE(s->listen(t1, "rec1", actor_).ok());
  EXPECT_EQ(audits("recording.listen"), 2);
}

TEST_P(ListenTest, OtherTenantTamperingAndMissingFilesFailWithoutAudit) {
  const auto k = kek("kek-a", 3);
  auto s = make_store({.max_batch = 1000, .max_delay = std::chrono::milliseconds(5), .keks = {k}});
  put(*s, t2, "theirs", make_file("theirs.hrec", 8000, k));
  EXPECT_EQ(s->listen(t1, "theirs", actor_).error().code, "not_found");
  EXPECT_EQ(s->listen(t1, "nosuch", actor_).error().code, "not_found");

  const auto tampered = make_file("tampered.hrec", 8000 * 3, k);
  {
    std::fstream f(tampered, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(fs::file_size(tampered) / 2));
    char byte = 0;
    f.read(&byte, 1);
    f.seekp(static_cast<std::streamoff>(fs::file_size(tampered) / 2));
    byte = static_cast<char>(byte ^ 0x5a);
    f.write(&byte, 1);
  }
  put(*s, t1, "tampered", tampered);
  EXPECT_EQ(s->listen(t1, "tampered", actor_).error().code, "integrity");

  put(*s, t1, "gone", (dir_.path() / "missing.hrec").string());
  EXPECT_EQ(s->listen(t1, "gone", actor_).error().code, "unavailable");

  auto no_key = make_store();  // no KEKs configured
  put(*no_key, t1, "nokey", make_file("nokey.hrec", 8000, k));
  EXPECT_EQ(no_key->listen(t1, "nokey", actor_).error().code, "unavailable");

  EXPECT_EQ(audits("recording.listen"), 0);
  EXPECT_TRUE(tmp_empty()) << "no partial plaintext left behind";
}

INSTANTIATE_TEST_SUITE_P(Backends, ListenTest,
                         ::testing::Values(store::Backend::Sqlite, store::Backend::Postgres), backend_name);

}  // namespace
}  // namespace hotline::records::test
