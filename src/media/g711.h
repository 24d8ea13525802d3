// media/g711.h — ITU-T G.711 μ-law (PCMU) and A-law (PCMA).
//
// Encoders follow the segment/mantissa description of G.711 §3 (with the
// customary 16-bit scaling: μ-law on 14-bit magnitudes with bias 33, A-law on
// 13-bit magnitudes); decoders use 256-entry tables built from the same
// description, so decoding is one load per sample.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hotline::media {

enum class Codec : std::uint8_t { pcmu = 0, pcma = 8 };  // values are the static RTP PTs (RFC 3551)

std::uint8_t linear_to_ulaw(std::int16_t sample);
std::uint8_t linear_to_alaw(std::int16_t sample);
std::int16_t ulaw_to_linear(std::uint8_t code);
std::int16_t alaw_to_linear(std::uint8_t code);

// Code-to-code conversion tables (G.711 Appendix style: decode then re-encode).
std::uint8_t ulaw_to_alaw(std::uint8_t code);
std::uint8_t alaw_to_ulaw(std::uint8_t code);
// Table pointer for in-place transcoding of a payload; nullptr when from == to.
const std::uint8_t* transcode_table(Codec from, Codec to);

void g711_encode(Codec codec, const std::int16_t* in, std::uint8_t* out, std::size_t n);
void g711_decode(Codec codec, const std::uint8_t* in, std::int16_t* out, std::size_t n);

// Encoded value of digital silence for the codec (0xFF for μ-law, 0xD5 for A-law).
std::uint8_t g711_silence(Codec codec);

}  // namespace hotline::media
