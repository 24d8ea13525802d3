// media/media.h — the RTP media engine's public surface, in one include.
//
// Hotline's audio half. It knows nothing of SIP, queues, HTTP or storage: the
// call layer negotiates SDP, then drives a MediaEngine with plain values.
//
//   media::MediaEngine engine({.loops = 0, .port_min = 20000, .port_max = 29999});
//   media::SessionParams p{.remote_address = "198.51.100.7", .remote_port = 4000,
//                          .codec = media::Codec::pcma, .payload_type = 8,
//                          .telephone_event_pt = 101, .ptime_ms = 20};
//   auto caller = engine.create_session(p, {.on_dtmf = ..., .on_media_timeout = ...});
//   sdp_answer.port = (*caller)->local_port();
//   (*caller)->play(*prompts.say_number("zh", 3), false, /*playback id*/ 1);
//   auto agent = engine.create_session(q, events, caller->get());   // same loop
//   engine.bridge(**caller, **agent);
//   auto rec = engine.start_recording(**caller, **agent, {path, kek, media::Cipher::aes_256_gcm});
//
// Contract:
//  - Untrusted input (packets, files) never throws or crashes; errors are values or counters.
//  - The per-packet path allocates nothing and never blocks (non-blocking sockets, no locks).
//  - Events run on the session's loop thread; keep them short.
//  - Outgoing RTP keeps one SSRC per session with consecutive sequence numbers and
//    real-time timestamps across every switch between silence, playback and bridge.
//  - Recording files are encrypted as written; see recording.h and docs/media.md.
#pragma once

#include "media/audio.h"      // clips, playlists, tones, prompts
#include "media/dtmf.h"       // RFC 4733 and in-band DTMF
#include "media/engine.h"     // MediaEngine, MediaSession, SessionParams, RecordingHandle
#include "media/g711.h"       // PCMU/PCMA
#include "media/recording.h"  // encrypted recordings, decrypt API for the CLI
#include "media/rtp.h"        // RTP/RTCP wire format
