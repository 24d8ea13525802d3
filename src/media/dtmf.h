// media/dtmf.h — DTMF in both forms: RFC 4733 telephone-events and in-band tones.
//
// TelephoneEventReceiver turns a stream of RFC 4733 packets (with their three
// redundant end packets, retransmissions and reordering) into exactly one
// report per key press. InbandDtmfDetector finds DTMF tone pairs in 8 kHz
// audio with Goertzel filters. Neither allocates after construction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace hotline::media {

// One RFC 4733 §2.3 event block.
struct TelephoneEvent {
  std::uint8_t event = 0;  // 0-9, 10 '*', 11 '#', 12-15 'A'-'D'
  bool end = false;
  std::uint8_t volume = 10;    // -dBm0, 0..63
  std::uint16_t duration = 0;  // timestamp units since the event's RTP timestamp
};

// Reads the first 4-byte block; nullopt if the payload is shorter.
std::optional<TelephoneEvent> parse_telephone_event(std::span<const std::uint8_t> payload);
// Writes 4 bytes; returns 0 if `out` is too small.
std::size_t write_telephone_event(std::span<std::uint8_t> out, const TelephoneEvent& ev);

// '0'..'9', '*', '#', 'A'..'D' ↔ event codes; '\0' / -1 for anything else.
char dtmf_event_to_char(std::uint8_t event);
int dtmf_char_to_event(char digit);

enum class DtmfSource : std::uint8_t { rfc4733, inband };

// What the call layer receives: one per key press.
struct DtmfDigit {
  char digit = 0;
  DtmfSource source = DtmfSource::rfc4733;
};

// RFC 4733 §2.5.2 receiver rules, reduced to "report each key press once".
// A key press is identified by its RTP timestamp (all packets of one event
// carry the event's start timestamp); the report happens on the first packet
// seen, so a lost start or lost end packets still yield exactly one report.
class TelephoneEventReceiver {
 public:
  // Returns the digit to report, if this packet starts a new key press.
  std::optional<DtmfDigit> on_packet(std::uint32_t rtp_timestamp, const TelephoneEvent& ev);
  bool in_event() const { return active_ && !ended_; }
  std::uint64_t events() const { return events_; }

 private:
  bool active_ = false;
  bool ended_ = false;
  std::uint32_t timestamp_ = 0;
  std::uint8_t event_ = 0;
  std::uint64_t events_ = 0;
};

// Goertzel DTMF detector for 8 kHz linear audio.
//
// Audio is cut into blocks of kBlock samples. A block "hits" digit d when one
// row and one column tone dominate their groups, the pair carries most of the
// block's energy (speech spreads its energy, a DTMF pair does not), twist is
// within limits and the second harmonics are weak (speech formants have them).
// A digit is reported after kConfirmBlocks consecutive hits and not again
// until the tone has stopped for a block, so one press gives one digit.
class InbandDtmfDetector {
 public:
  static constexpr std::size_t kBlock = 102;
  static constexpr int kConfirmBlocks = 2;

  // Calls `on_digit(char)` for each detected key press.
  template <class F>
  void process(const std::int16_t* samples, std::size_t n, F&& on_digit) {
    for (std::size_t i = 0; i < n; ++i) {
      block_[fill_++] = samples[i];
      if (fill_ == kBlock) {
        fill_ = 0;
        char d = analyse_block();
        if (char out = update(d); out != 0) on_digit(out);
      }
    }
  }
  void reset();

 private:
  char analyse_block() const;
  char update(char hit);

  std::array<std::int16_t, kBlock> block_{};
  std::size_t fill_ = 0;
  char last_hit_ = 0;
  int hit_count_ = 0;
  bool reported_ = false;
};

// Fills `out` with a DTMF tone pair for `digit` at the given level (dBm0 per
// tone, negative) starting at phase sample `offset`; for tests and for
// callers that need in-band DTMF. Returns false for an unknown digit.
bool generate_dtmf(char digit, std::span<std::int16_t> out, double level_dbm0 = -10.0,
                   std::size_t offset = 0);

}  // namespace hotline::media
