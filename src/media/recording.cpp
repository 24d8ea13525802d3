#include "media/recording.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sndfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>

namespace hotline::media {

using common::Error;
using common::Result;
using common::Status;

namespace {

constexpr char kMagic[8] = {'H', 'O', 'T', 'R', 'E', 'C', '0', '1'};
constexpr std::size_t kTag = 16;
constexpr std::size_t kNonce = 12;
constexpr std::uint8_t kFlagFinal = 1;

struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

bool sm4_gcm_available() {
  static const bool ok = [] {
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "SM4-GCM", nullptr);
    EVP_CIPHER_free(c);
    return c != nullptr;
  }();
  return ok;
}

// HMAC-SM3 over aad || ct, truncated to 16 bytes.
bool hmac_sm3(std::span<const std::uint8_t> key, std::span<const std::uint8_t> aad,
              std::span<const std::uint8_t> ct, std::uint8_t* tag) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  char digest[] = "SM3";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  std::uint8_t full[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  bool ok = ctx && EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
            EVP_MAC_update(ctx, aad.data(), aad.size()) == 1 &&
            EVP_MAC_update(ctx, ct.data(), ct.size()) == 1 &&
            EVP_MAC_final(ctx, full, &len, sizeof full) == 1 && len >= kTag;
  if (ok) std::memcpy(tag, full, kTag);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok;
}

// Seals `pt` into `out` (ciphertext followed by a 16-byte tag). `key` is 32
// bytes for AES-256-GCM; SM4 suites use key[0..16] for SM4 and, for the
// CTR+HMAC suite, the rest of `key` as the MAC key.
bool aead(bool seal, Cipher cipher, std::span<const std::uint8_t> key, const std::uint8_t* nonce,
          std::span<const std::uint8_t> aad, std::span<const std::uint8_t> in, std::uint8_t* out,
          std::uint8_t* tag) {
  const char* name = cipher == Cipher::aes_256_gcm ? "AES-256-GCM"
                     : cipher == Cipher::sm4_gcm   ? "SM4-GCM"
                                                   : "SM4-CTR";
  std::unique_ptr<EVP_CIPHER, CipherDeleter> c(EVP_CIPHER_fetch(nullptr, name, nullptr));
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx(EVP_CIPHER_CTX_new());
  if (!c || !ctx) return false;
  const bool gcm = cipher != Cipher::sm4_ctr_hmac_sm3;
  if (!gcm && !seal) {  // encrypt-then-MAC: verify before decrypting
    std::uint8_t expect[kTag];
    if (!hmac_sm3(key.subspan(16), aad, in, expect)) return false;
    if (CRYPTO_memcmp(expect, tag, kTag) != 0) return false;
  }
  std::uint8_t iv[16] = {};
  std::memcpy(iv, nonce, kNonce);  // CTR: nonce || 32-bit block counter starting at 0
  if (gcm) {
    if (EVP_CipherInit_ex2(ctx.get(), c.get(), nullptr, nullptr, seal ? 1 : 0, nullptr) != 1) return false;
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonce, nullptr) != 1) return false;
    if (EVP_CipherInit_ex2(ctx.get(), nullptr, key.data(), iv, seal ? 1 : 0, nullptr) != 1) return false;
    int outl = 0;
    if (!aad.empty() &&
        EVP_CipherUpdate(ctx.get(), nullptr, &outl, aad.data(), static_cast<int>(aad.size())) != 1)
      return false;
  } else {
    if (EVP_CipherInit_ex2(ctx.get(), c.get(), key.data(), iv, seal ? 1 : 0, nullptr) != 1) return false;
  }
  int outl = 0;
  if (!in.empty() && EVP_CipherUpdate(ctx.get(), out, &outl, in.data(), static_cast<int>(in.size())) != 1)
    return false;
  if (gcm && !seal && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag) != 1) return false;
  int fin = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out + outl, &fin) != 1) return false;  // GCM open: tag check here
  if (seal) {
    if (gcm) return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, tag) == 1;
    return hmac_sm3(key.subspan(16), aad, std::span(out, in.size()), tag);
  }
  return true;
}

void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}
void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  put16(v, static_cast<std::uint16_t>(x >> 16));
  put16(v, static_cast<std::uint16_t>(x));
}

void chunk_nonce(std::uint64_t index, std::uint8_t* nonce) {
  std::memset(nonce, 0, kNonce);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(index >> (56 - 8 * i));
}

void chunk_aad(const std::array<std::uint8_t, 32>& header_hash, std::uint64_t index, std::uint8_t flags,
               std::uint8_t* aad) {
  std::memcpy(aad, header_hash.data(), 32);
  for (int i = 0; i < 8; ++i) aad[32 + i] = static_cast<std::uint8_t>(index >> (56 - 8 * i));
  aad[40] = flags;
}

std::array<std::uint8_t, 32> sha256(std::span<const std::uint8_t> data) {
  std::array<std::uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::span<const std::uint8_t> kek_material(const Kek& kek) { return std::span(kek.key); }

Status os_error(const std::string& what) { return Error::internal(what + ": " + std::strerror(errno)); }

// A new file's name lives in its directory: after fsync of the file, the
// directory must be fsynced too or a power loss can lose the name.
Status sync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return os_error("cannot open recording directory " + dir);
  Status st = ::fsync(fd) == 0 ? common::ok_status() : os_error("recording directory fsync failed");
  ::close(fd);
  return st;
}

// Closes a recording file; with `sync_dir`, durably: flush to the kernel,
// fsync the data, close, fsync the directory. Returns the first error.
Status close_file(std::FILE* f, const std::string& sync_dir) {
  Status st = common::ok_status();
  if (!sync_dir.empty()) {
    if (std::fflush(f) != 0) {
      st = os_error("recording flush failed");
    } else if (::fsync(::fileno(f)) != 0) {
      st = os_error("recording fsync failed");
    }
  }
  if (std::fclose(f) != 0 && st) st = os_error("recording close failed");
  if (st && !sync_dir.empty()) st = sync_directory(sync_dir);
  return st;
}

std::string parent_directory(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

}  // namespace

Cipher sm4_cipher() { return sm4_gcm_available() ? Cipher::sm4_gcm : Cipher::sm4_ctr_hmac_sm3; }

const char* cipher_name(Cipher c) {
  switch (c) {
    case Cipher::aes_256_gcm:
      return "AES-256-GCM";
    case Cipher::sm4_gcm:
      return "SM4-GCM";
    case Cipher::sm4_ctr_hmac_sm3:
      return "SM4-CTR+HMAC-SM3";
  }
  return "unknown";
}

Result<Kek> kek_from_hex(std::string id, const std::string& hex) {
  if (hex.size() != 64) return Error::invalid("kek", "key-encryption key must be 64 hex characters");
  Kek k;
  k.id = std::move(id);
  for (std::size_t i = 0; i < 32; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error::invalid("kek", "key-encryption key is not hex");
    k.key[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return k;
}

// ---- background writer ----------------------------------------------------

RecordingWriter::RecordingWriter() : thread_([this] { run(); }) {
  pthread_setname_np(thread_.native_handle(), "hl-rec-writer");
}

RecordingWriter::~RecordingWriter() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

std::vector<std::uint8_t> RecordingWriter::take_buffer() {
  std::lock_guard lock(mu_);
  if (pool_.empty()) return {};
  auto b = std::move(pool_.back());
  pool_.pop_back();
  return b;
}

void RecordingWriter::submit(std::FILE* file, std::vector<std::uint8_t> bytes, bool close, Done done,
                             std::shared_ptr<std::atomic<bool>> failed, std::string sync_dir) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(
        Job{file, std::move(bytes), close, std::move(done), std::move(failed), std::move(sync_dir)});
  }
  cv_.notify_one();
}

void RecordingWriter::run() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_ and drained
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    Status st = common::ok_status();
    if (!job.bytes.empty()) {
      // One fwrite+fflush per chunk: each chunk reaches the kernel whole.
      if (std::fwrite(job.bytes.data(), 1, job.bytes.size(), job.file) != job.bytes.size() ||
          std::fflush(job.file) != 0)
        st = os_error("recording write failed");
    }
    if (job.close) {
      Status closed = close_file(job.file, job.sync_dir);
      if (st) st = std::move(closed);
    }
    if (!st && job.failed) *job.failed = true;
    if (job.done) {
      // An earlier chunk's write failure is reported at close, too.
      if (st && job.failed && job.failed->load()) st = Error::internal("recording write failed");
      job.done(std::move(st));
    }
    job.bytes.clear();
    lock.lock();
    if (job.bytes.capacity() > 0 && pool_.size() < 64) pool_.push_back(std::move(job.bytes));
  }
}

// ---- writer -------------------------------------------------------------

Result<std::unique_ptr<EncryptedRecordingFile>> EncryptedRecordingFile::create(
    const std::string& path, const Kek& kek, Cipher cipher, std::uint16_t channels, std::uint32_t sample_rate,
    std::shared_ptr<RecordingWriter> writer) {
  if (cipher == Cipher::sm4_gcm && !sm4_gcm_available())
    return Error::invalid("cipher", "SM4-GCM is not available in this OpenSSL");
  if (kek.id.size() > 255) return Error::invalid("kek", "KEK id too long");
  std::unique_ptr<EncryptedRecordingFile> f(new EncryptedRecordingFile());
  f->cipher_ = cipher;
  if (RAND_bytes(f->data_key_.data(), static_cast<int>(f->data_key_.size())) != 1)
    return Error::internal("no randomness for the data key");
  // Header: magic, version, cipher, channels, rate, bits, KEK id, wrapped data key.
  std::vector<std::uint8_t> h(kMagic, kMagic + 8);
  h.push_back(1);
  h.push_back(static_cast<std::uint8_t>(cipher));
  put16(h, channels);
  put32(h, sample_rate);
  put16(h, 16);
  h.push_back(static_cast<std::uint8_t>(kek.id.size()));
  h.insert(h.end(), kek.id.begin(), kek.id.end());
  std::uint8_t nonce[kNonce];
  if (RAND_bytes(nonce, kNonce) != 1) return Error::internal("no randomness for the wrap nonce");
  std::uint8_t wrapped[48], tag[kTag];
  // The wrap binds the header prefix (cipher, format, KEK id) as AAD.
  std::vector<std::uint8_t> aad = h;
  if (!aead(true, cipher, kek_material(kek), nonce, aad, f->data_key_, wrapped, tag))
    return Error::internal("wrapping the data key failed");
  h.insert(h.end(), nonce, nonce + kNonce);
  h.insert(h.end(), wrapped, wrapped + 48);
  h.insert(h.end(), tag, tag + kTag);
  f->header_hash_ = sha256(h);
  f->dir_ = parent_directory(path);
  f->file_ = std::fopen(path.c_str(), "wb");
  if (!f->file_) return Error::internal("cannot create recording file " + path);
  if (std::fwrite(h.data(), 1, h.size(), f->file_) != h.size() || std::fflush(f->file_) != 0)
    return Error::internal("cannot write recording header");
  f->buffer_.reserve(kChunkBytes);
  f->out_.resize(5 + kChunkBytes + kTag);
  f->writer_ = std::move(writer);
  return f;
}

EncryptedRecordingFile::~EncryptedRecordingFile() {
  if (file_ && writer_) {
    writer_->submit(file_, {}, true, nullptr, failed_);  // closed after queued chunks, no final chunk
  } else if (file_) {
    std::fclose(file_);
  }
  OPENSSL_cleanse(data_key_.data(), data_key_.size());
}

Status EncryptedRecordingFile::seal_chunk(bool final) {
  const std::size_t n = buffer_.size();
  const std::uint8_t flags = final ? kFlagFinal : 0;
  out_[0] = static_cast<std::uint8_t>(n >> 24);
  out_[1] = static_cast<std::uint8_t>(n >> 16);
  out_[2] = static_cast<std::uint8_t>(n >> 8);
  out_[3] = static_cast<std::uint8_t>(n);
  out_[4] = flags;
  std::uint8_t nonce[kNonce], aad[41];
  chunk_nonce(chunk_index_, nonce);
  chunk_aad(header_hash_, chunk_index_, flags, aad);
  if (!aead(true, cipher_, data_key_, nonce, aad, buffer_, out_.data() + 5, out_.data() + 5 + n))
    return Error::internal("chunk encryption failed");
  const std::size_t total = 5 + n + kTag;
  ++chunk_index_;
  buffer_.clear();
  if (writer_) {
    // Hand the sealed chunk to the writer thread; recycle one of its buffers.
    std::vector<std::uint8_t> b = writer_->take_buffer();
    b.assign(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(total));
    writer_->submit(file_, std::move(b), false, nullptr, failed_);
    return common::ok_status();
  }
  // One fwrite+fflush per chunk: the chunk reaches the kernel whole, so after a
  // process crash every completed chunk is on disk.
  if (std::fwrite(out_.data(), 1, total, file_) != total || std::fflush(file_) != 0)
    return Error::internal("recording write failed");
  return common::ok_status();
}

Status EncryptedRecordingFile::write(std::span<const std::uint8_t> pcm) {
  if (finished_) return Error::conflict("recording already finished");
  if (failed_->load()) return Error::internal("recording write failed");
  while (!pcm.empty()) {
    const std::size_t n = std::min(pcm.size(), kChunkBytes - buffer_.size());
    buffer_.insert(buffer_.end(), pcm.begin(), pcm.begin() + static_cast<std::ptrdiff_t>(n));
    pcm = pcm.subspan(n);
    plaintext_bytes_ += n;
    if (buffer_.size() == kChunkBytes) {
      if (auto st = seal_chunk(false); !st) return st;
    }
  }
  return common::ok_status();
}

Status EncryptedRecordingFile::flush() {
  if (finished_ || buffer_.empty()) return common::ok_status();
  return seal_chunk(false);
}

void EncryptedRecordingFile::finish_async(RecordingWriter::Done done) {
  if (finished_) {
    if (done) done(common::ok_status());
    return;
  }
  finished_ = true;
  auto st = seal_chunk(true);
  std::FILE* f = file_;
  file_ = nullptr;
  if (writer_) {
    writer_->submit(
        f, {}, true,
        [st, done = std::move(done)](Status closed) {
          if (done) done(st ? closed : st);
        },
        failed_, dir_);
    return;
  }
  Status closed = close_file(f, dir_);
  if (done) done(st ? std::move(closed) : st);
}

Status EncryptedRecordingFile::finish() {
  std::promise<Status> p;
  auto fut = p.get_future();
  finish_async([&p](Status s) { p.set_value(std::move(s)); });
  return fut.get();
}

// ---- reader -------------------------------------------------------------

Result<DecryptInfo> decrypt_recording(const std::string& in_path, const std::string& out_wav_path,
                                      std::span<const Kek> keks) {
  std::ifstream in(in_path, std::ios::binary);
  if (!in) return Error::not_found("cannot open " + in_path);
  std::vector<std::uint8_t> d{std::istreambuf_iterator<char>(in), {}};
  auto bad = [](const std::string& m) { return Error{"invalid_format", m, "recording"}; };
  if (d.size() < 20 || std::memcmp(d.data(), kMagic, 8) != 0) return bad("not a Hotline recording");
  std::size_t o = 8;
  if (d[o++] != 1) return bad("unsupported recording version");
  DecryptInfo info;
  const std::uint8_t cipher = d[o++];
  if (cipher < 1 || cipher > 3) return bad("unknown cipher");
  info.cipher = static_cast<Cipher>(cipher);
  info.channels = static_cast<std::uint16_t>((d[o] << 8) | d[o + 1]);
  o += 2;
  info.sample_rate = (std::uint32_t{d[o]} << 24) | (std::uint32_t{d[o + 1]} << 16) |
                     (std::uint32_t{d[o + 2]} << 8) | d[o + 3];
  o += 4;
  const std::uint16_t bits = static_cast<std::uint16_t>((d[o] << 8) | d[o + 1]);
  o += 2;
  if (bits != 16 || info.channels == 0 || info.channels > 8 || info.sample_rate == 0 ||
      info.sample_rate > 192000)
    return bad("unsupported audio format");
  const std::size_t id_len = d[o++];
  if (o + id_len + kNonce + 48 + kTag > d.size()) return bad("truncated header");
  info.kek_id.assign(reinterpret_cast<const char*>(d.data() + o), id_len);
  o += id_len;
  const std::size_t prefix_len = o;
  const Kek* kek = nullptr;
  for (const auto& k : keks)
    if (k.id == info.kek_id) kek = &k;
  if (!kek) return Error::not_found("no key-encryption key with id '" + info.kek_id + "'");
  std::array<std::uint8_t, 48> data_key{};
  if (!aead(false, info.cipher, kek_material(*kek), d.data() + o, std::span(d.data(), prefix_len),
            std::span(d.data() + o + kNonce, 48), data_key.data(), d.data() + o + kNonce + 48))
    return Error{"integrity", "data key does not unwrap with this KEK (wrong key or tampered header)", "kek"};
  o += kNonce + 48 + kTag;
  const auto header_hash = sha256(std::span(d.data(), o));

  SF_INFO sfi{};
  sfi.samplerate = static_cast<int>(info.sample_rate);
  sfi.channels = info.channels;
  sfi.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* out = sf_open(out_wav_path.c_str(), SFM_WRITE, &sfi);
  if (!out) return Error::internal("cannot create " + out_wav_path);
  std::vector<std::uint8_t> plain;
  std::vector<std::int16_t> pcm;
  std::uint64_t index = 0;
  Result<DecryptInfo> result = info;
  while (true) {
    if (o == d.size()) break;  // clean end without final chunk: truncated at a chunk boundary
    if (o + 5 > d.size()) break;
    const std::size_t n =
        (std::size_t{d[o]} << 24) | (std::size_t{d[o + 1]} << 16) | (std::size_t{d[o + 2]} << 8) | d[o + 3];
    const std::uint8_t flags = d[o + 4];
    if (n > EncryptedRecordingFile::kChunkBytes || (flags & ~kFlagFinal) != 0) {
      result = bad("corrupt chunk header");
      break;
    }
    if (o + 5 + n + kTag > d.size()) break;  // partially written tail (crash)
    std::uint8_t nonce[kNonce], aad[41];
    chunk_nonce(index, nonce);
    chunk_aad(header_hash, index, flags, aad);
    plain.resize(n);
    if (!aead(false, info.cipher, data_key, nonce, aad, std::span(d.data() + o + 5, n), plain.data(),
              d.data() + o + 5 + n)) {
      result = Error{"integrity", "chunk " + std::to_string(index) + " failed authentication", "recording"};
      break;
    }
    pcm.resize(n / 2);
    for (std::size_t i = 0; i < n / 2; ++i)
      pcm[i] = static_cast<std::int16_t>(plain[2 * i] | (plain[2 * i + 1] << 8));  // little endian
    sf_write_short(out, pcm.data(), static_cast<sf_count_t>(pcm.size()));
    info.frames += pcm.size() / info.channels;
    o += 5 + n + kTag;
    ++index;
    if (flags & kFlagFinal) {
      info.complete = o == d.size();
      if (!info.complete) result = bad("data after the final chunk");
      break;
    }
  }
  sf_close(out);
  OPENSSL_cleanse(data_key.data(), data_key.size());
  if (!result) return result;
  return info;
}

int run_recording_decrypt_command(const std::vector<std::string>& args, std::span<const Kek> keks,
                                  std::ostream& out, std::ostream& err) {
  if (args.size() != 2) {
    err << "usage: hotline recording decrypt <recording.hrec> <out.wav>\n";
    return 2;
  }
  auto r = decrypt_recording(args[0], args[1], keks);
  if (!r) {
    err << "decrypt failed: " << r.error().code << ": " << r.error().message << "\n";
    return 1;
  }
  out << "wrote " << args[1] << ": " << r->frames << " frames, " << r->channels << " channels, "
      << r->sample_rate << " Hz, cipher " << cipher_name(r->cipher) << ", kek '" << r->kek_id << "'"
      << (r->complete ? "" : " (INCOMPLETE: recording was cut short; readable prefix written)") << "\n";
  return r->complete ? 0 : 3;
}

// ---- recorder -----------------------------------------------------------

Recorder::Recorder(std::unique_ptr<EncryptedRecordingFile> file, common::SteadyTime start,
                   std::chrono::milliseconds holdback)
    : file_(std::move(file)), start_(start), holdback_(holdback.count() * 8) {
  for (auto& c : ch_) c.ring.assign(kRingSamples, 0);
  frame_buf_.reserve(4 * 1600);
}

std::int64_t Recorder::pos_of(common::SteadyTime t) const {
  return std::chrono::duration_cast<std::chrono::microseconds>(t - start_).count() * 8 / 1000;
}

void Recorder::push(int channel, std::uint32_t ssrc, std::uint32_t rtp_ts, const std::int16_t* samples,
                    std::size_t n, common::SteadyTime now) {
  if (channel < 0 || channel > 1 || paused_ || stopped_) return;
  Channel& c = ch_[channel];
  const std::int64_t now_pos = pos_of(now);
  std::int64_t pos = c.anchor_pos + static_cast<std::int32_t>(rtp_ts - c.anchor_ts);
  // (Re)anchor on a new stream or when timestamps and arrival time disagree by
  // more than the holdback (sender restarted its clock, long hold, ...).
  if (!c.anchored || c.ssrc != ssrc || pos > now_pos + holdback_ || pos < now_pos - 2 * holdback_ - 8000) {
    c.anchored = true;
    c.ssrc = ssrc;
    c.anchor_ts = rtp_ts;
    c.anchor_pos = std::max(now_pos - static_cast<std::int64_t>(n), flushed_);
    pos = c.anchor_pos;
  }
  for (std::size_t i = 0; i < n; ++i, ++pos) {
    if (pos < flushed_ || pos >= flushed_ + static_cast<std::int64_t>(kRingSamples))
      continue;  // too late / too early
    c.ring[static_cast<std::size_t>(pos) % kRingSamples] = samples[i];
  }
}

Status Recorder::write_until(std::int64_t target) {
  if (failed_) return Error::internal("recording failed earlier");
  while (flushed_ < target) {
    const std::int64_t n = std::min<std::int64_t>(target - flushed_, 1600);
    frame_buf_.resize(static_cast<std::size_t>(n) * 4);
    for (std::int64_t i = 0; i < n; ++i) {
      const std::size_t idx = static_cast<std::size_t>(flushed_ + i) % kRingSamples;
      for (int c = 0; c < 2; ++c) {
        const std::int16_t s = paused_ ? 0 : ch_[c].ring[idx];
        ch_[c].ring[idx] = 0;
        frame_buf_[static_cast<std::size_t>(i) * 4 + c * 2] = static_cast<std::uint8_t>(s);
        frame_buf_[static_cast<std::size_t>(i) * 4 + c * 2 + 1] =
            static_cast<std::uint8_t>(static_cast<std::uint16_t>(s) >> 8);
      }
    }
    if (auto st = file_->write(frame_buf_); !st) {
      failed_ = true;
      return st;
    }
    flushed_ += n;
  }
  return common::ok_status();
}

void Recorder::pause(common::SteadyTime now) {
  if (paused_ || stopped_) return;
  (void)write_until(pos_of(now));  // keep what was said before the pause
  (void)file_->flush();
  paused_ = true;
}

void Recorder::resume(common::SteadyTime now) {
  if (!paused_ || stopped_) return;
  (void)write_until(pos_of(now));  // silence for the paused span
  paused_ = false;
  for (auto& c : ch_) c.anchored = false;
}

Status Recorder::poll(common::SteadyTime now) {
  if (stopped_) return common::ok_status();
  return write_until(pos_of(now) - holdback_);
}

void Recorder::stop_async(common::SteadyTime now, RecordingWriter::Done done) {
  if (stopped_) {
    if (done) done(common::ok_status());
    return;
  }
  auto st = write_until(pos_of(now));
  stopped_ = true;
  file_->finish_async([st, done = std::move(done)](Status fin) {
    if (done) done(st ? fin : st);
  });
}

Status Recorder::stop(common::SteadyTime now) {
  std::promise<Status> p;
  auto fut = p.get_future();
  stop_async(now, [&p](Status s) { p.set_value(std::move(s)); });
  return fut.get();
}

}  // namespace hotline::media
