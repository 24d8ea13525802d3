// media/recording.h — encrypted call recordings.
//
// A recording is a stereo 8 kHz 16-bit stream (left = caller, right = agent)
// encrypted as it is written, in chunks of about one second, each sealed
// with an AEAD under a per-recording random data key. The data key is
// wrapped by a key-encryption key (KEK) supplied by the caller (the app
// loads it from config). Because every chunk stands alone, a crash leaves a
// file whose complete chunks still decrypt: decrypt_recording() writes that
// prefix and reports the recording as incomplete. File format: docs/media.md.
//
// Ciphers: AES-256-GCM (default). "SM4" selects SM4-GCM when the linked
// OpenSSL provides it and SM4-CTR + HMAC-SM3 (encrypt-then-MAC, tag cut to
// 128 bits) otherwise; Debian 12's OpenSSL 3.0 has no SM4-GCM, so there it is
// the latter. The cipher is recorded in the file header, so decryption
// never guesses.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace hotline::media {

enum class Cipher : std::uint8_t { aes_256_gcm = 1, sm4_gcm = 2, sm4_ctr_hmac_sm3 = 3 };

// The SM4 variant this OpenSSL supports (sm4_gcm if available).
Cipher sm4_cipher();
const char* cipher_name(Cipher c);

struct Kek {
  std::string id;  // stored in the header to pick the key at decrypt time (rotation)
  std::array<std::uint8_t, 32> key{};
};

// Parses 64 hex characters into a KEK.
common::Result<Kek> kek_from_hex(std::string id, const std::string& hex);

// One background thread that performs recording file I/O, so media loops
// only encrypt (microseconds) and never wait on the disk. Sealed chunks are
// queued with their FILE*; buffers are recycled, so steady-state recording
// allocates nothing. Shared by all recordings of an engine.
class RecordingWriter {
 public:
  using Done = std::function<void(common::Status)>;
  RecordingWriter();
  ~RecordingWriter();  // writes everything queued, then joins
  RecordingWriter(const RecordingWriter&) = delete;
  RecordingWriter& operator=(const RecordingWriter&) = delete;

  std::vector<std::uint8_t> take_buffer();
  // Appends `bytes` to `file`; with `close`, closes it afterwards and calls
  // `done` (on the writer thread). `failed` is set if any write fails. With
  // `close` and a non-empty `sync_dir`, the file is made durable first
  // (fsync of the file, then of `sync_dir`, the directory holding its name)
  // and `done` receives the first error of write, fsync or close.
  void submit(std::FILE* file, std::vector<std::uint8_t> bytes, bool close, Done done,
              std::shared_ptr<std::atomic<bool>> failed, std::string sync_dir = {});

 private:
  struct Job {
    std::FILE* file;
    std::vector<std::uint8_t> bytes;
    bool close;
    Done done;
    std::shared_ptr<std::atomic<bool>> failed;
    std::string sync_dir;
  };
  void run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::vector<std::vector<std::uint8_t>> pool_;
  bool stop_ = false;
  std::thread thread_;
};

// Writes the encrypted container. Not thread-safe; owned by one loop.
// With a RecordingWriter, file I/O happens on the writer's thread; without
// one (tools, tests) it is synchronous.
class EncryptedRecordingFile {
 public:
  static constexpr std::size_t kChunkBytes = 32000;  // 1 s of stereo 8 kHz s16

  static common::Result<std::unique_ptr<EncryptedRecordingFile>> create(
      const std::string& path, const Kek& kek, Cipher cipher, std::uint16_t channels = 2,
      std::uint32_t sample_rate = 8000, std::shared_ptr<RecordingWriter> writer = nullptr);
  // Dropping an unfinished file closes it without the final chunk: it reads
  // back as an incomplete recording, exactly like a crash.
  ~EncryptedRecordingFile();
  EncryptedRecordingFile(const EncryptedRecordingFile&) = delete;
  EncryptedRecordingFile& operator=(const EncryptedRecordingFile&) = delete;

  // Buffers plaintext PCM; seals and writes a chunk each kChunkBytes.
  common::Status write(std::span<const std::uint8_t> pcm);
  // Seals and writes the buffered partial chunk (e.g. on pause) so it survives a crash.
  common::Status flush();
  // Writes the final chunk (flagged, so truncation is detectable), fsyncs the
  // file and its directory so a finished recording survives power loss, and
  // closes; `done` runs once the file is closed (on the writer thread if there
  // is one) with the first error of any write, the fsyncs or the close.
  void finish_async(RecordingWriter::Done done);
  // Blocking finish_async, for callers outside the media loops.
  common::Status finish();
  std::uint64_t bytes_written() const { return plaintext_bytes_; }

 private:
  EncryptedRecordingFile() = default;
  common::Status seal_chunk(bool final);

  std::FILE* file_ = nullptr;
  std::string dir_;  // the directory holding the file's name (fsynced on finish)
  std::shared_ptr<RecordingWriter> writer_;
  std::shared_ptr<std::atomic<bool>> failed_ = std::make_shared<std::atomic<bool>>(false);
  Cipher cipher_ = Cipher::aes_256_gcm;
  std::array<std::uint8_t, 48> data_key_{};
  std::array<std::uint8_t, 32> header_hash_{};
  std::vector<std::uint8_t> buffer_;
  std::vector<std::uint8_t> out_;
  std::uint64_t chunk_index_ = 0;
  std::uint64_t plaintext_bytes_ = 0;
  bool finished_ = false;
};

struct DecryptInfo {
  bool complete = false;  // the final chunk was present (no crash, no truncation)
  std::uint64_t frames = 0;
  std::uint16_t channels = 0;
  std::uint32_t sample_rate = 0;
  Cipher cipher = Cipher::aes_256_gcm;
  std::string kek_id;
};

// Decrypts to a plain 16-bit WAV. The KEK is chosen by the id in the header.
// A truncated file yields the readable prefix with complete=false; a chunk
// that fails authentication is an error ("integrity") unless it is the
// incomplete tail a crash leaves.
common::Result<DecryptInfo> decrypt_recording(const std::string& in_path, const std::string& out_wav_path,
                                              std::span<const Kek> keks);

// `hotline recording decrypt <in> <out.wav>` for the app's CLI; the app
// passes the KEKs it loaded from config. Returns the process exit code.
int run_recording_decrypt_command(const std::vector<std::string>& args, std::span<const Kek> keks,
                                  std::ostream& out, std::ostream& err);

// Time-aligned stereo mixer in front of the encrypted file.
//
// Each channel's audio is placed on a common sample timeline: the first packet
// of a stream is anchored at its arrival time, later ones by their RTP
// timestamps, so gaps (loss, silence suppression, hold) become silence and
// both sides stay aligned. Audio is written out once it is `holdback` old,
// which absorbs network jitter between the two legs. Pause writes silence for
// its duration (so the timeline stays aligned) and drops what arrives.
class Recorder {
 public:
  static constexpr std::size_t kRingSamples = 8000 * 4;  // per channel

  Recorder(std::unique_ptr<EncryptedRecordingFile> file, common::SteadyTime start,
           std::chrono::milliseconds holdback = std::chrono::milliseconds(200));

  // `channel` 0 = left (caller), 1 = right (agent). No allocation.
  void push(int channel, std::uint32_t ssrc, std::uint32_t rtp_ts, const std::int16_t* samples, std::size_t n,
            common::SteadyTime now);
  void pause(common::SteadyTime now);
  void resume(common::SteadyTime now);
  bool paused() const { return paused_; }
  // Writes out everything older than the holdback. Call periodically.
  common::Status poll(common::SteadyTime now);
  // Writes out everything up to `now` and closes the file; `done` runs when
  // the file is closed (on the writer thread if the file has one).
  void stop_async(common::SteadyTime now, RecordingWriter::Done done);
  // Blocking stop_async, for callers outside the media loops.
  common::Status stop(common::SteadyTime now);
  std::uint64_t frames_written() const { return flushed_; }
  bool failed() const { return failed_; }

 private:
  std::int64_t pos_of(common::SteadyTime t) const;
  common::Status write_until(std::int64_t target);

  struct Channel {
    bool anchored = false;
    std::uint32_t ssrc = 0;
    std::int64_t anchor_pos = 0;
    std::uint32_t anchor_ts = 0;
    std::vector<std::int16_t> ring;
  };
  std::unique_ptr<EncryptedRecordingFile> file_;
  common::SteadyTime start_;
  std::int64_t holdback_;
  Channel ch_[2];
  std::int64_t flushed_ = 0;  // frames written so far (timeline position)
  bool paused_ = false;
  bool failed_ = false;
  bool stopped_ = false;
  std::vector<std::uint8_t> frame_buf_;
};

}  // namespace hotline::media
