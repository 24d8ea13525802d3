// media/session.h — internal: one RTP/RTCP session on one event loop.
// Public users go through MediaSession/MediaEngine (engine.h).
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "media/engine.h"
#include "media/kernel_relay.h"
#include "media/listen.h"
#include "media/local_addresses.h"
#include "media/rtp.h"
#include "media/rtp_io.h"
#include "media/stats.h"

namespace hotline::media {

class Session;

struct EventLoop {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
  std::atomic<bool> accepting{true};  // false once the engine is gone: posts become no-ops
  // RTP socket I/O (rtp_io.h). Created on the loop thread before it runs any
  // handler (an io_uring ring belongs to the thread that submits to it).
  std::unique_ptr<RtpIo> rtp_io;
  // The engine's kernel relay (kernel_relay.h), or nullptr: userspace only.
  KernelRelay* kernel_relay = nullptr;
  // This host's addresses (local_addresses.h), shared by the engine's loops.
  std::shared_ptr<const LocalAddresses> local_addresses;
};

// The loop thread's body. With a zero window it is io.run(). Otherwise, when
// new work was already waiting as a round began (the loop is busy), the
// thread sleeps `window` after the round, so packets that arrive meanwhile are
// handled together in one epoll round instead of one wake-up each (interrupt
// coalescing: fewer context switches per packet, at most `window` of added
// latency, timers included). An idle loop blocks in epoll as usual.
void run_loop(EventLoop& loop, std::chrono::microseconds window);

// What goes out of a session. One transition function (Session::set_mode)
// moves between them; every transition restarts the outgoing timeline so
// sequence numbers stay consecutive and timestamps follow real time.
// `listening`: the session sends the mix of a listen group (silent listen).
enum class OutMode : std::uint8_t { silence, playing, bridged, listening, closed };

// The outgoing RTP stream: one SSRC for the session's life, whatever the
// source. A "segment" starts at each source switch; its first timestamp is the
// previous one plus the real time elapsed, and it carries the marker bit.
struct OutStream {
  std::uint32_t ssrc = 0;
  std::uint16_t next_seq = 0;
  std::uint32_t last_ts = 0;
  bool started = false;
  std::chrono::steady_clock::time_point last_time{};
  std::uint64_t packets = 0;
  std::uint64_t octets = 0;

  // Timestamp for a new segment beginning at `now`.
  std::uint32_t segment_start_ts(std::chrono::steady_clock::time_point now, std::uint32_t frame) const {
    if (!started) return last_ts;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - last_time).count();
    const std::int64_t elapsed = std::max<std::int64_t>(us * 8 / 1000, frame);
    return last_ts + static_cast<std::uint32_t>(elapsed);
  }
};

// Rewrites an incoming stream into the session's OutStream (bridge relay).
struct RelayMap {
  bool valid = false;
  std::uint32_t in_ssrc = 0;
  std::uint16_t seq_offset = 0;
  std::uint32_t ts_offset = 0;
};

struct RecorderTap {
  std::shared_ptr<Recorder> recorder;
  int channel = 0;
  bool poller = false;  // this session drives recorder->poll()
};

// One supervisor listening to one call. The three sessions share a loop and
// hold the group by shared_ptr; the group points back at them with plain
// pointers, which end_listen() clears (on unlisten, a mode change of the
// listener, or close() of any of the three), so no pointer outlives its session.
struct ListenGroup {
  explicit ListenGroup(std::size_t prefill) : mix(prefill) {}
  ListenMix mix;
  Session* listener = nullptr;
  Session* sides[2] = {nullptr, nullptr};  // side 0 hears what a receives, side 1 what b receives
};

// On a listened-to session: where its received audio goes.
struct ListenTap {
  std::shared_ptr<ListenGroup> group;
  int side = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<EventLoop> loop, std::size_t loop_index, const SessionParams& params,
          SessionEvents events, common::Clock& clock, std::chrono::milliseconds rtcp_interval);
  // Binds both sockets; returns false if the pair is taken.
  bool bind(const boost::asio::ip::address& addr, std::uint16_t rtp_port);
  void start();  // on the loop

  // All of these run on the loop.
  void set_remote(const std::string& address, std::uint16_t port);
  // A re-negotiation (re-INVITE) on the live session; see MediaEngine::update.
  void update(const SessionParams& next);
  void play(std::unique_ptr<AudioSource> src, std::uint64_t id);
  void set_silence() { set_mode(OutMode::silence); }
  void bridge_to(const std::shared_ptr<Session>& peer);
  void unbridge();
  void queue_dtmf(const std::string& digits, int duration_ms);
  void close();
  SessionStats snapshot();
  void attach_recorder(RecorderTap tap) {
    kernel_withdraw();  // the recorder needs every packet
    tap_ = std::move(tap);
  }
  void detach_recorder() { tap_ = {}; }
  // Starts sending the mix of what `a` and `b` receive (replacing any other
  // output); received packets are then counted and dropped. Same loop for all.
  void listen_to(const std::shared_ptr<Session>& a, const std::shared_ptr<Session>& b);
  void unlisten() {
    if (mode_ == OutMode::listening) set_mode(OutMode::silence);
  }
  // Detaches the group from all its sessions; a listener still in it goes silent.
  static void end_listen(std::shared_ptr<ListenGroup> g);

  std::uint16_t local_port() const { return local_port_; }
  std::size_t loop_index() const { return loop_index_; }
  boost::asio::io_context& io() { return loop_->io; }
  const std::shared_ptr<EventLoop>& loop() const { return loop_; }
  OutMode mode() const { return mode_; }

  // ---- for the loop's RtpIo backend (rtp_io.h) ----
  int rtp_fd() { return rtp_.native_handle(); }
  bool closed() const { return mode_ == OutMode::closed; }
  common::SteadyTime clock_now() const { return clock_.now(); }
  // One datagram received on the RTP socket; `data` is the backend's buffer
  // (rewritten in place and handed back through queue_send when relayed).
  void on_datagram(std::uint8_t* data, std::size_t size, const sockaddr* from, socklen_t from_len,
                   common::SteadyTime now);
  void on_oversized_datagram() { ++stats_.dropped_invalid; }  // larger than any RTP packet we accept
  // Where relayed packets go: copies the address into `out` and returns its
  // length, or 0 when the socket is connected (the kernel knows the peer).
  socklen_t send_address(sockaddr_storage& out) const;
  // A datagram of `size` bytes accepted by the kernel.
  void count_sent(std::size_t size);
  // Opaque to the session: the backend's handle for this socket.
  std::uint32_t rtp_io_slot = 0;

  // Relay entry point: a packet received by the peer, to be sent from here.
  // `data` is the peer's receive buffer; rewritten in place.
  void relay_from_peer(std::uint8_t* data, std::size_t size, const RtpPacket& pkt, bool is_event, Codec from,
                       std::chrono::steady_clock::time_point now);

  // Whether `e` is this session's own RTP socket (local_addresses.h says why that matters).
  bool is_own_socket(const boost::asio::ip::udp::endpoint& e) const;

 private:
  // Whether what this session relays would go back to its bridge peer's own
  // socket, to be relayed here again: a loop. One compare when it is not.
  bool relay_loops() const;
  void set_mode(OutMode next);
  void arm_rtcp_receive();
  void on_rtcp_readable();
  void handle_rtp(std::uint8_t* data, std::size_t size, const boost::asio::ip::udp::endpoint& from,
                  common::SteadyTime now);
  // Starts the pacer unless it runs; `new_segment` restarts a running one
  // on a fresh timeline (after a ptime change).
  void arm_pacer(bool new_segment = false);
  void on_pace_tick();
  void apply_ptime();
  bool dtmf_pending() const { return dtmf_tx_.active || dtmf_tx_.gap_ticks > 0 || dtmf_head_ != dtmf_tail_; }
  // Outgoing DTMF, one pacer tick: RFC 4733 events when the peer negotiated
  // telephone-event, else in-band tone pairs in the session's codec. Returns
  // true if it sent this tick's packet.
  bool send_dtmf_tick(std::uint32_t ts);
  bool start_dtmf_digit(std::uint32_t ts);
  void send_event_packet();
  void send_inband_packet(std::uint32_t ts);
  void arm_housekeeping();
  void on_housekeeping();
  void send_rtcp(bool bye);
  void send_packet(const std::uint8_t* data, std::size_t size);
  std::uint32_t arrival_units(common::SteadyTime now) const;
  bool pacer_needed() const;

  std::shared_ptr<EventLoop> loop_;
  std::size_t loop_index_;
  SessionParams params_;
  SessionEvents events_;
  common::Clock& clock_;
  std::chrono::milliseconds rtcp_interval_;
  boost::asio::ip::udp::socket rtp_;
  boost::asio::ip::udp::socket rtcp_;
  boost::asio::steady_timer pacer_;
  boost::asio::steady_timer housekeeping_;
  std::uint16_t local_port_ = 0;
  std::uint32_t frame_samples_ = 160;

  OutMode mode_ = OutMode::silence;
  OutStream out_;
  RelayMap relay_;
  std::weak_ptr<Session> peer_weak_;
  Session* peer_ = nullptr;  // valid while bridged (same loop; cleared on close)
  std::unique_ptr<AudioSource> source_;
  std::uint64_t playback_id_ = 0;

  // Send addressing and latching.
  boost::asio::ip::udp::endpoint remote_;
  boost::asio::ip::udp::endpoint remote_rtcp_;
  bool have_remote_ = false;
  bool latched_ = false;
  // Once the peer is known for good (latched, or fixed by SDP without latching)
  // the RTP socket is connect()ed: send() skips the route lookup of sendto() and
  // the kernel itself drops datagrams from anyone else.
  bool connected_ = false;
  void connect_remote();
  void disconnect_remote();

  // Pacing on absolute deadlines: tick k is due at pace_start_ + k * ptime.
  bool pacer_running_ = false;
  std::chrono::steady_clock::time_point pace_start_{};
  std::uint64_t pace_tick_ = 0;
  std::uint32_t segment_ts_ = 0;  // timestamp of tick 0 of the current segment
  bool segment_marker_ = false;
  // Set when the relay sent packets after the pacer's segment began: the pacer
  // must then start a new segment instead of continuing a stale timeline.
  bool relayed_since_segment_ = false;

  // Outgoing DTMF (RFC 4733 or in-band): queued digits, one at a time.
  std::array<char, 64> dtmf_queue_{};
  std::size_t dtmf_head_ = 0, dtmf_tail_ = 0;
  int dtmf_duration_ms_ = 100;
  struct DtmfTx {
    bool active = false;
    std::uint8_t event = 0;
    char digit = 0;
    bool inband = false;  // decided per digit from the negotiated telephone-event PT
    std::uint32_t ts = 0;
    std::uint32_t duration = 0;  // samples so far
    std::uint32_t total = 0;     // samples wanted
    int end_sent = 0;
    int gap_ticks = 0;  // silence between digits
  } dtmf_tx_;

  // Reception (RTP datagrams arrive in the loop's RtpIo buffers).
  std::array<std::uint8_t, 1500> rtcp_buf_{};
  std::array<std::uint8_t, 1500> tx_buf_{};
  std::array<std::int16_t, 1024> pcm_{};
  ReceiveStats rx_stats_;
  std::uint32_t rx_ssrc_ = 0;
  bool rx_ssrc_known_ = false;
  TelephoneEventReceiver te_rx_;
  InbandDtmfDetector inband_;
  bool te_seen_ = false;
  common::SteadyTime last_rx_{};
  bool timed_out_ = false;
  RecorderTap tap_;
  // Listen groups this session's received audio feeds (one per supervisor;
  // changed only on listen/unlisten/close, never per packet).
  std::vector<ListenTap> listen_taps_;
  std::shared_ptr<ListenGroup> listening_;  // as the listener (mode_ == listening)
  void remove_listen_tap(const ListenGroup* g);

  // Kernel relay (kernel_relay.h). While kernel_slot_ is set the kernel relays
  // the audio this session receives to peer_, as relay_from_peer would; the
  // counters and stream positions it keeps are folded back into ours and the
  // peer's by kernel_sync (housekeeping, RTCP, stats, withdrawal). Anything
  // that changes what the relay must do withdraws it first (mode, bridge,
  // parameters, address, recording, listening, the peer's own DTMF); the next
  // packet userspace relays offers it again.
  std::optional<std::uint32_t> kernel_slot_;
  hl_relay_key kernel_key_{};
  std::uint64_t kernel_synced_packets_ = 0;
  std::uint64_t kernel_synced_octets_ = 0;
  common::SteadyTime kernel_retry_at_{};
  bool bound_wildcard_ = false;
  boost::asio::ip::address bound_address_;
  bool kernel_eligible() const;
  // Whether an audio packet belongs to the stream the kernel relays (so it
  // was queued before the handover, not refused by the program).
  bool kernel_same_stream(const RtpHeader& h) const;
  void kernel_offer(common::SteadyTime now);
  void kernel_sync();
  void kernel_withdraw();
  void kernel_withdraw_both() {
    kernel_withdraw();
    if (peer_ != nullptr) peer_->kernel_withdraw();
  }

  // RTCP state.
  common::SteadyTime next_rtcp_{};
  std::uint32_t peer_sr_mid_ = 0;  // middle 32 bits of the peer's last SR NTP time
  common::SteadyTime peer_sr_arrival_{};
  bool have_peer_sr_ = false;
  std::uint64_t packets_at_last_rtcp_ = 0;

  SessionStats stats_;
  std::mt19937 rng_;
};

}  // namespace hotline::media
