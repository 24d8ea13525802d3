// media/engine.h — RTP sessions on their own event loops.
//
// MediaEngine owns N Asio event loops (one thread each; default one per
// core) and a port range. The call layer creates a MediaSession from the
// negotiated SDP values (SessionParams: no SDP parsing here), puts its
// local_port() into the SDP answer, and then tells it what to send: silence,
// a playlist, a tone, or the audio of another session (bridge).
//
// Threading: every session belongs to one loop. Public methods may be called
// from any thread; they post to that loop and return at once. Events
// (SessionEvents) run on the loop thread and must not block — post to your
// own executor if you need to. Sessions can only be bridged, recorded or
// listened to together when they share a loop: create the second leg (or the
// listener) with `colocate_with` set to the first.
//
// Per packet the engine does no allocation, takes no lock and throws nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "media/audio.h"
#include "media/dtmf.h"
#include "media/g711.h"
#include "media/recording.h"

namespace hotline::media {

// What SDP negotiation produced for one audio stream.
struct SessionParams {
  std::string remote_address;     // from c= (empty: learn it from the first packet)
  std::uint16_t remote_port = 0;  // from m= (0: learn it)
  Codec codec = Codec::pcmu;
  std::uint8_t payload_type = 0;  // the PT the peer uses for `codec` (static 0/8 normally)
  int telephone_event_pt = 101;   // -1 when telephone-event was not negotiated
  int ptime_ms = 20;              // a=ptime; 10..60, multiple of 10
  // Symmetric RTP (RFC 4961 style "comedia"): send to where the peer's
  // packets actually come from, and then ignore everybody else.
  bool latching = true;
  std::chrono::milliseconds media_timeout{30000};  // 0 disables
  bool detect_inband_dtmf = true;
  std::string cname = "hotline";
};

struct SessionEvents {
  std::function<void(const DtmfDigit&)> on_dtmf;
  std::function<void()> on_media_timeout;
  std::function<void(std::uint64_t playback_id)> on_playback_done;
  std::function<void()> on_rtcp_bye;
};

struct SessionStats {
  std::uint64_t packets_received = 0;
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_relayed = 0;
  std::uint64_t packets_relayed_kernel = 0;  // of packets_relayed, sent by the kernel relay
  std::uint64_t dropped_stranger = 0;        // from an address other than the latched one
  std::uint64_t dropped_invalid = 0;         // not RTP, unknown PT, failed validation
  std::uint64_t dropped_listening = 0;       // received while listening silently (never relayed)
  std::uint64_t dropped_loop = 0;            // not relayed: the peer's address is the other leg's own port
  std::int64_t lost = 0;                     // RFC 3550 cumulative loss of the incoming stream
  double jitter_ms = 0;                      // interarrival jitter of the incoming stream
  // What the peer reports about our stream (last RTCP SR/RR received).
  bool have_remote_report = false;
  double remote_fraction_lost = 0;
  std::int64_t remote_cumulative_lost = 0;
  double remote_jitter_ms = 0;
  double rtt_ms = -1;
  std::uint64_t rtcp_sent = 0;
  std::uint64_t rtcp_received = 0;
  bool latched = false;
  std::string remote;  // current send address "ip:port"
  std::uint16_t local_port = 0;
};

class MediaEngine;
class Session;      // implementation (session.h)
struct EventLoop;   // one io_context + thread (session.h)
class KernelRelay;  // kernel_relay.h

class MediaSession {
 public:
  std::uint16_t local_port() const;  // RTP port; RTCP is local_port()+1
  std::size_t loop_index() const;

  void set_remote(std::string address, std::uint16_t port);  // re-INVITE: resets latching
  // Re-negotiation (re-INVITE) of the live session: codec, payload types,
  // ptime, remote address, latching, media timeout, in-band detection. The
  // outgoing stream keeps its SSRC and consecutive sequence numbers; a new
  // ptime starts a new timestamp segment. The remote address moves (and
  // latching restarts) only if remote_address/remote_port/latching differ from
  // the current ones. From the update on, only the new payload types are
  // accepted; a bridge transcodes to or from the new codec as needed. Prefer
  // MediaEngine::update, which validates `params` first.
  void update(SessionParams params);
  void play(std::vector<ClipPtr> clips, bool loop, std::uint64_t playback_id);
  void play_tone(ToneSpec tone, std::uint64_t playback_id);
  void play_source(std::unique_ptr<AudioSource> source, std::uint64_t playback_id);
  void silence();  // stop playback or bridge, send silence
  // Sends DTMF, one key press per character, `duration_ms` (40..2000) each
  // with 60 ms gaps: as RFC 4733 events when telephone-event was negotiated,
  // otherwise in-band as ITU-T Q.23 tone pairs in the session's codec. While
  // digits are sent, relayed audio from a bridge is held back.
  void send_dtmf(std::string digits, int duration_ms = 100);
  // Sends RTCP BYE, stops everything and releases the ports.
  void close();
  std::future<SessionStats> stats() const;

  explicit MediaSession(std::shared_ptr<Session> impl) : impl_(std::move(impl)) {}
  ~MediaSession();  // closes the session if the owner forgot
  const std::shared_ptr<Session>& impl() const { return impl_; }

 private:
  std::shared_ptr<Session> impl_;
};

// Handle to a running recording (caller = left, agent = right).
class RecordingHandle {
 public:
  void pause();
  void resume();
  // Writes the rest and closes the file; the future resolves on the loop.
  std::future<common::Status> stop();

  struct State;
  explicit RecordingHandle(std::shared_ptr<State> s) : s_(std::move(s)) {}
  ~RecordingHandle();

 private:
  std::shared_ptr<State> s_;
};

// How a loop's RTP sockets are read and relayed packets written.
//   epoll:    one inner epoll set per loop; recvmmsg per readable socket,
//             sendmmsg per destination socket (a syscall per socket and wake-up).
//   io_uring: one ring per loop; a multishot recvmsg per socket into a shared
//             provided-buffer ring, relays queued as SQEs; one io_uring_enter
//             per loop iteration batches across sockets. Needs liburing at
//             build time and a kernel that allows io_uring.
//   automatic: see EngineConfig::rtp_io.
enum class RtpIoBackend : std::uint8_t { automatic, epoll, io_uring };
const char* to_string(RtpIoBackend b);
// "auto", "epoll", "io_uring"; nullopt for anything else.
std::optional<RtpIoBackend> parse_rtp_io_backend(std::string_view s);

struct EngineConfig {
  unsigned loops = 0;  // 0 = std::thread::hardware_concurrency()
  std::uint16_t port_min = 20000;
  std::uint16_t port_max = 29999;
  std::string bind_address = "0.0.0.0";
  std::chrono::milliseconds rtcp_interval{5000};
  common::Clock* clock = nullptr;  // nullptr = SystemClock
  // SCHED_FIFO priority for the loop threads (1..99), 0 = normal scheduling.
  // Pacing jitter on a busy host is mostly run-queue delay; real-time priority
  // removes it. Needs CAP_SYS_NICE; without it the loops stay normal and
  // MediaEngine::realtime_priority_error() says why.
  int realtime_priority = 0;
  // Interrupt coalescing for busy loops (see run_loop in session.h): after a
  // round that found work already waiting, the loop sleeps this long so the
  // packets arriving meanwhile cost one epoll round instead of one wake-up
  // each. Adds at most this much latency to packets and timers (pacing); an
  // idle or lightly loaded loop is unaffected. 0 disables.
  std::chrono::microseconds batch_window{0};
  // RTP I/O backend (the app's `media.rtp_io`). `automatic` takes the
  // environment variable HL_MEDIA_RTP_IO (auto | epoll | io_uring; not
  // HOTLINE_*, which the app's config owns) and otherwise the default,
  // io_uring (less CPU per relayed packet than epoll in every paired run:
  // bench/README.md, Media). Whatever is asked for, a loop whose io_uring
  // setup fails (no liburing, io_uring disabled, old kernel, seccomp) uses
  // epoll; MediaEngine::rtp_io_backend() says what runs.
  RtpIoBackend rtp_io = RtpIoBackend::automatic;
  // io_uring only: receive buffers per loop (power of two, 2 KiB each), shared
  // by the loop's sockets. When all are in use a socket's receive pauses until
  // buffers return (the kernel queues meanwhile, up to the socket buffer).
  unsigned uring_buffers = 2048;
  // Kernel relay (the app's `media.kernel_relay`): interfaces whose ingress
  // gets a BPF program that relays same-law bridges without waking the loops
  // (kernel_relay.h), e.g. {"lo", "eth0"}. Empty: the environment variable
  // HL_MEDIA_KERNEL_RELAY (comma-separated interface names), else userspace
  // only. Needs root (CAP_BPF, CAP_NET_ADMIN) and IPv4; when loading fails the
  // engine relays in userspace and kernel_relay_error() says why. A bridge is
  // relayed in the kernel while both legs use the same law and nothing needs
  // its audio: no recording, no silent listen, and no in-band DTMF detection
  // for a peer that did not negotiate telephone-event. A peer that did is
  // trusted to send its digits as RFC 4733 events, which still pass through
  // userspace and are reported; tones it sends in the audio are relayed, not
  // detected, while the kernel relays (they are again whenever userspace has
  // the audio: playback, a new segment, the kernel relay off).
  std::vector<std::string> kernel_relay_interfaces;
};

class MediaEngine {
 public:
  explicit MediaEngine(EngineConfig config);
  ~MediaEngine();  // stops the loops; sessions still open are closed
  MediaEngine(const MediaEngine&) = delete;
  MediaEngine& operator=(const MediaEngine&) = delete;

  common::Result<std::shared_ptr<MediaSession>> create_session(const SessionParams& params,
                                                               SessionEvents events,
                                                               const MediaSession* colocate_with = nullptr);
  // Relay a ↔ b. Same codec: header rewrite only; PCMU↔PCMA: table transcode.
  common::Status bridge(const MediaSession& a, const MediaSession& b);
  // Both sides go back to silence.
  void unbridge(const MediaSession& a);
  // Applies a re-negotiation to a live session (see MediaSession::update).
  // Errors ("invalid_argument"): payload_type or telephone_event_pt outside
  // 0..127 (telephone_event_pt may be -1), or both equal; nothing changes then.
  common::Status update(const MediaSession& session, const SessionParams& params);

  // Supervisor silent listen. `listener` hears a mix of what `a` and `b`
  // receive (both directions of a bridged call, a and b need not be bridged),
  // encoded in the listener's own codec; what arrives on `listener` is counted
  // (SessionStats::dropped_listening) and dropped. All three must share a loop
  // (create the listener with colocate_with = a). Replaces what the listener
  // was playing (or bridged to); a's and b's own output and any recording are
  // unaffected. Ends, the listener going back to silence, on unlisten(), on
  // play/silence/bridge of the listener, or when any of the three is closed
  // (if a or b is already closed the listener just goes silent). Several
  // listeners may listen to the same call. Errors ("invalid_argument", field
  // "session"): different loops; the same session in two roles.
  common::Status listen(const MediaSession& listener, const MediaSession& a, const MediaSession& b);
  void unlisten(const MediaSession& listener);

  struct RecordingOptions {
    std::string path;
    Kek kek;
    Cipher cipher = Cipher::aes_256_gcm;
  };
  common::Result<std::unique_ptr<RecordingHandle>> start_recording(const MediaSession& caller,
                                                                   const MediaSession& agent,
                                                                   const RecordingOptions& options);

  std::size_t loop_count() const { return loops_.size(); }
  // The backend the loops actually run (after resolving `automatic` and any fallback).
  RtpIoBackend rtp_io_backend() const { return rtp_io_; }
  // Why io_uring was asked for and not used (empty otherwise), for the log.
  const std::string& rtp_io_fallback_reason() const { return rtp_io_fallback_; }
  // Why EngineConfig::realtime_priority was asked for and not applied to
  // every loop (empty when applied or not asked for), for the log.
  const std::string& realtime_priority_error() const { return realtime_priority_error_; }
  // Whether the kernel relay is attached (EngineConfig::kernel_relay_interfaces).
  bool kernel_relay_active() const { return kernel_relay_ != nullptr; }
  // Why the kernel relay was asked for and is not active (empty otherwise).
  const std::string& kernel_relay_error() const { return kernel_relay_error_; }
  common::Clock& clock() const { return *clock_; }
  const EngineConfig& config() const { return config_; }

 private:
  EngineConfig config_;
  common::Clock* clock_;
  std::vector<std::shared_ptr<EventLoop>> loops_;
  RtpIoBackend rtp_io_ = RtpIoBackend::epoll;
  std::string rtp_io_fallback_;
  std::string realtime_priority_error_;
  void open_kernel_relay();
  std::unique_ptr<KernelRelay> kernel_relay_;  // outlives the loops' sessions: closed before it goes
  std::string kernel_relay_error_;
  std::mutex mu_;
  std::size_t next_loop_ = 0;
  std::uint32_t next_port_ = 0;
  std::vector<std::weak_ptr<Session>> sessions_;  // closed on engine shutdown
  std::shared_ptr<RecordingWriter> writer_;       // recording file I/O off the loops
};

}  // namespace hotline::media
