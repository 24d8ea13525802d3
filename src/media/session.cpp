#include "media/session.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

namespace hotline::media {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using steady = std::chrono::steady_clock;

void run_loop(EventLoop& loop, std::chrono::microseconds window) {
  if (window.count() <= 0) {
    loop.io.run();
    return;
  }
  auto round_end = steady::now();
  while (loop.io.run_one() > 0) {
    const bool busy = steady::now() - round_end < window;  // work was waiting: no real sleep in epoll
    loop.io.poll();
    if (busy) std::this_thread::sleep_for(window);
    round_end = steady::now();
  }
}

Session::Session(std::shared_ptr<EventLoop> loop, std::size_t loop_index, const SessionParams& params,
                 SessionEvents events, common::Clock& clock, std::chrono::milliseconds rtcp_interval)
    : loop_(std::move(loop)),
      loop_index_(loop_index),
      params_(params),
      events_(std::move(events)),
      clock_(clock),
      rtcp_interval_(rtcp_interval),
      rtp_(loop_->io),
      rtcp_(loop_->io),
      pacer_(loop_->io),
      housekeeping_(loop_->io),
      rng_(std::random_device{}()) {
  apply_ptime();
  // Random initial SSRC, sequence number and timestamp (RFC 3550 §5.1).
  out_.ssrc = rng_();
  out_.next_seq = static_cast<std::uint16_t>(rng_());
  out_.last_ts = rng_();
}

bool Session::bind(const asio::ip::address& addr, std::uint16_t port) {
  boost::system::error_code ec;
  const auto proto = addr.is_v6() ? udp::v6() : udp::v4();
  rtp_.open(proto, ec);
  if (!ec) rtp_.bind(udp::endpoint(addr, port), ec);
  if (!ec) rtcp_.open(proto, ec);
  if (!ec) rtcp_.bind(udp::endpoint(addr, static_cast<std::uint16_t>(port + 1)), ec);
  if (!ec) rtp_.non_blocking(true, ec);
  if (!ec) rtcp_.non_blocking(true, ec);
  if (ec) {
    boost::system::error_code ignored;
    rtp_.close(ignored);
    rtcp_.close(ignored);
    return false;
  }
  local_port_ = port;
  stats_.local_port = port;
  bound_wildcard_ = addr.is_unspecified();
  bound_address_ = unmapped(addr);
  return true;
}

bool Session::is_own_socket(const udp::endpoint& e) const {
  if (e.port() != local_port_ || local_port_ == 0) return false;
  const auto a = unmapped(e.address());
  if (a.is_unspecified()) return true;  // the kernel sends to 0.0.0.0 (or ::) as to this host
  if (!bound_wildcard_) return a == bound_address_;
  return loop_->local_addresses != nullptr && loop_->local_addresses->contains(a);
}

bool Session::relay_loops() const {
  return peer_ != nullptr && remote_.port() == peer_->local_port_ && peer_->is_own_socket(remote_);
}

void Session::start() {
  if (!params_.remote_address.empty() && params_.remote_port != 0)
    set_remote(params_.remote_address, params_.remote_port);
  last_rx_ = clock_.now();
  next_rtcp_ = last_rx_ + rtcp_interval_;
  loop_->rtp_io->add(*this);
  arm_rtcp_receive();
  arm_housekeeping();
  set_mode(OutMode::silence);
}

void Session::connect_remote() {
  if (connected_ || !have_remote_ || (params_.latching && !latched_)) return;
  boost::system::error_code ec;
  rtp_.connect(remote_, ec);
  connected_ = !ec;
}

void Session::disconnect_remote() {
  if (!connected_) return;
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  (void)::connect(rtp_.native_handle(), &unspec, sizeof unspec);  // dissolves the association
  connected_ = false;
}

void Session::set_remote(const std::string& address, std::uint16_t port) {
  if (mode_ == OutMode::closed) return;
  kernel_withdraw_both();
  disconnect_remote();
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec || port == 0) {
    have_remote_ = false;  // wait for the first packet to latch onto
  } else {
    remote_ = udp::endpoint(addr, port);
    remote_rtcp_ = udp::endpoint(addr, static_cast<std::uint16_t>(port + 1));
    have_remote_ = true;
  }
  latched_ = false;
  connect_remote();
}

void Session::apply_ptime() {
  params_.ptime_ms = std::clamp(params_.ptime_ms / 10 * 10, 10, 60);
  frame_samples_ = static_cast<std::uint32_t>(params_.ptime_ms * 8);
}

void Session::update(const SessionParams& next) {
  if (mode_ == OutMode::closed) return;
  const SessionParams prev = params_;  // per re-INVITE, not per packet
  kernel_withdraw_both();
  params_ = next;
  apply_ptime();
  if (params_.telephone_event_pt != prev.telephone_event_pt) {
    // An event being sent under the old PT stops here; queued digits go out
    // as the new negotiation allows. The peer may have stopped sending
    // events, so in-band detection is armed again.
    if (dtmf_tx_.active && !dtmf_tx_.inband) dtmf_tx_.active = false;
    te_seen_ = false;
    te_rx_ = TelephoneEventReceiver{};
  }
  if (params_.codec != prev.codec) inband_.reset();  // half a block of the old law is noise
  // Only a changed address moves the session: a phone latched behind NAT
  // stays latched when the re-INVITE repeats its SDP address.
  if (params_.remote_address != prev.remote_address || params_.remote_port != prev.remote_port ||
      params_.latching != prev.latching)
    set_remote(params_.remote_address, params_.remote_port);
  // Sequence numbers and the SSRC continue; a new ptime needs a new pacing grid.
  if (params_.ptime_ms != prev.ptime_ms && pacer_running_) arm_pacer(true);
}

// The one transition function for what the session sends.
void Session::set_mode(OutMode next) {
  if (mode_ == OutMode::closed) return;
  kernel_withdraw_both();
  if (mode_ == OutMode::bridged && next != OutMode::bridged && peer_ != nullptr) {
    Session* p = peer_;
    peer_ = nullptr;
    p->peer_ = nullptr;
    if (p->mode_ == OutMode::bridged) p->set_mode(OutMode::silence);
  }
  if (mode_ == OutMode::listening && next != OutMode::listening) {
    if (auto g = std::move(listening_)) end_listen(std::move(g));
  }
  if (next != OutMode::playing) source_.reset();
  if (next == OutMode::closed) {
    mode_ = next;
    return;
  }
  mode_ = next;
  relay_.valid = false;  // a new relay segment starts with the next relayed packet
  if (pacer_needed()) arm_pacer();
}

void Session::play(std::unique_ptr<AudioSource> src, std::uint64_t id) {
  if (mode_ == OutMode::closed) return;
  set_mode(OutMode::silence);  // leaves any bridge
  source_ = std::move(src);
  playback_id_ = id;
  mode_ = OutMode::playing;
  if (pacer_needed()) arm_pacer();
}

void Session::bridge_to(const std::shared_ptr<Session>& peer) {
  if (!peer || peer.get() == this || mode_ == OutMode::closed || peer->mode_ == OutMode::closed) return;
  set_mode(OutMode::silence);
  peer->set_mode(OutMode::silence);
  peer_ = peer.get();
  peer->peer_ = this;
  set_mode(OutMode::bridged);
  peer->set_mode(OutMode::bridged);
}

void Session::listen_to(const std::shared_ptr<Session>& a, const std::shared_ptr<Session>& b) {
  if (mode_ == OutMode::closed || !a || !b || a == b || a.get() == this || b.get() == this) return;
  set_mode(OutMode::silence);  // replaces a bridge, a playback or an earlier listen
  if (a->mode_ == OutMode::closed || b->mode_ == OutMode::closed) return;  // call already gone: stay silent
  // Cushion: one of our frames plus 40 ms absorbs the phones' jitter and packet sizes.
  auto g = std::make_shared<ListenGroup>(frame_samples_ + 320);
  g->listener = this;
  g->sides[0] = a.get();
  g->sides[1] = b.get();
  a->kernel_withdraw();  // the mix needs every packet of both
  b->kernel_withdraw();
  a->listen_taps_.push_back(ListenTap{g, 0});
  b->listen_taps_.push_back(ListenTap{g, 1});
  listening_ = std::move(g);
  set_mode(OutMode::listening);
}

void Session::end_listen(std::shared_ptr<ListenGroup> g) {
  // `g` keeps the group alive while the sessions let go of it.
  for (Session*& s : g->sides) {
    if (s != nullptr) s->remove_listen_tap(g.get());
    s = nullptr;
  }
  Session* l = std::exchange(g->listener, nullptr);
  if (l != nullptr && l->listening_ == g) {
    l->listening_.reset();
    if (l->mode_ == OutMode::listening) l->set_mode(OutMode::silence);
  }
}

void Session::remove_listen_tap(const ListenGroup* g) {
  std::erase_if(listen_taps_, [g](const ListenTap& t) { return t.group.get() == g; });
}

void Session::unbridge() {
  if (mode_ == OutMode::bridged) set_mode(OutMode::silence);
}

void Session::queue_dtmf(const std::string& digits, int duration_ms) {
  if (mode_ == OutMode::closed) return;
  if (peer_ != nullptr) peer_->kernel_withdraw();  // our digits interrupt what it relays through us
  dtmf_duration_ms_ = std::clamp(duration_ms, 40, 2000);
  for (char c : digits) {
    if (dtmf_char_to_event(c) < 0) continue;
    const std::size_t next = (dtmf_tail_ + 1) % dtmf_queue_.size();
    if (next == dtmf_head_) break;  // queue full: drop the rest
    dtmf_queue_[dtmf_tail_] = c;
    dtmf_tail_ = next;
  }
  if (pacer_needed()) arm_pacer();
}

void Session::close() {
  if (mode_ == OutMode::closed) return;
  send_rtcp(true);
  set_mode(OutMode::closed);
  boost::system::error_code ec;
  pacer_.cancel();
  housekeeping_.cancel();
  loop_->rtp_io->remove(*this);
  rtp_.close(ec);
  rtcp_.close(ec);
  tap_ = {};
  // Every supervisor listening to this session stops hearing the call.
  auto taps = std::move(listen_taps_);
  listen_taps_.clear();
  for (auto& t : taps) end_listen(t.group);
  events_ = {};  // drop the call layer's captures
}

bool Session::pacer_needed() const {
  if (mode_ == OutMode::silence || mode_ == OutMode::playing || mode_ == OutMode::listening) return true;
  if (mode_ == OutMode::bridged) return dtmf_pending();
  return false;
}

// ---- receive ---------------------------------------------------------------

void Session::on_datagram(std::uint8_t* data, std::size_t size, const sockaddr* from, socklen_t from_len,
                          common::SteadyTime now) {
  udp::endpoint sender;
  const std::size_t len = std::min<std::size_t>(from_len, sender.capacity());
  std::memcpy(sender.data(), from, len);
  sender.resize(len);
  handle_rtp(data, size, sender, now);
}

socklen_t Session::send_address(sockaddr_storage& out) const {
  if (connected_) return 0;
  std::memcpy(&out, remote_.data(), remote_.size());
  return static_cast<socklen_t>(remote_.size());
}

std::uint32_t Session::arrival_units(common::SteadyTime now) const {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  return static_cast<std::uint32_t>(us * 8 / 1000);
}

void Session::handle_rtp(std::uint8_t* buf, std::size_t size, const udp::endpoint& from,
                         common::SteadyTime now) {
  const std::span<const std::uint8_t> data(buf, size);
  if (looks_like_rtcp(data)) {  // rtcp-mux is not negotiated by us
    ++stats_.dropped_invalid;
    return;
  }
  RtpPacket pkt;
  if (parse_rtp(data, pkt) != ParseStatus::ok) {
    ++stats_.dropped_invalid;
    return;
  }
  // Latching: the first valid packet decides where we send; after that only
  // that address may talk to us (protects against RTP injection/bleed).
  if (latched_) {
    if (from != remote_) {
      ++stats_.dropped_stranger;
      return;
    }
  } else if (params_.latching) {
    if (peer_ != nullptr) peer_->kernel_withdraw();  // it relays to our old address
    remote_ = from;
    remote_rtcp_ = udp::endpoint(from.address(), static_cast<std::uint16_t>(from.port() + 1));
    have_remote_ = true;
    latched_ = true;
    connect_remote();
  } else if (have_remote_ && from != remote_) {
    ++stats_.dropped_stranger;
    return;
  }
  const std::uint8_t pt = pkt.header.payload_type;
  const bool is_event = params_.telephone_event_pt >= 0 && pt == params_.telephone_event_pt;
  if (!is_event && pt != params_.payload_type) {
    ++stats_.dropped_invalid;
    return;
  }
  if (kernel_slot_) {
    // The kernel left this packet to us: an event (reported here, relayed with
    // the same offsets), audio that was already queued when the slot went in
    // (the same stream: relayed here the same way), or audio it cannot relay
    // exactly (a new SSRC, a sequence jump), which ends the handover.
    if (is_event || kernel_same_stream(pkt.header)) {
      kernel_sync();
    } else {
      kernel_withdraw();
    }
  }
  if (rx_ssrc_known_ && pkt.header.ssrc != rx_ssrc_) rx_stats_.reset();
  rx_ssrc_ = pkt.header.ssrc;
  rx_ssrc_known_ = true;
  if (!is_event && !rx_stats_.on_packet(pkt.header.sequence, pkt.header.timestamp, arrival_units(now))) {
    ++stats_.dropped_invalid;
    return;
  }
  ++stats_.packets_received;
  last_rx_ = now;
  timed_out_ = false;
  const std::span<const std::uint8_t> payload = data.subspan(pkt.payload_offset, pkt.payload_size);
  if (is_event) {
    te_seen_ = true;  // the peer signals DTMF out of band: stop listening in-band (no double reports)
    if (auto ev = parse_telephone_event(payload)) {
      if (auto digit = te_rx_.on_packet(pkt.header.timestamp, *ev); digit && events_.on_dtmf)
        events_.on_dtmf(*digit);
    }
  } else {
    const bool detect = params_.detect_inband_dtmf && !te_seen_;
    if (detect || tap_.recorder || !listen_taps_.empty()) {
      const std::size_t n = std::min(payload.size(), pcm_.size());
      g711_decode(params_.codec, payload.data(), pcm_.data(), n);
      if (detect) {
        inband_.process(pcm_.data(), n, [this](char c) {
          if (events_.on_dtmf) events_.on_dtmf(DtmfDigit{c, DtmfSource::inband});
        });
      }
      if (tap_.recorder)
        tap_.recorder->push(tap_.channel, pkt.header.ssrc, pkt.header.timestamp, pcm_.data(), n, now);
      for (const ListenTap& t : listen_taps_) t.group->mix.push(t.side, pcm_.data(), n);
    }
  }
  if (mode_ == OutMode::listening) {
    ++stats_.dropped_listening;  // a supervisor listening silently is heard by nobody
    return;
  }
  if (mode_ == OutMode::bridged && peer_ != nullptr) {
    peer_->relay_from_peer(buf, size, pkt, is_event, params_.codec, steady::now());
    if (loop_->kernel_relay != nullptr && !kernel_slot_ && !is_event) kernel_offer(now);
  }
}

// ---- kernel relay ----------------------------------------------------------

bool Session::kernel_eligible() const {
  const Session* p = peer_;
  if (mode_ != OutMode::bridged || p == nullptr || p->mode_ != OutMode::bridged) return false;
  // Our source settled (latched, or fixed by SDP) for the program to check;
  // the peer's destination known and its source address concrete (a peer that
  // latches later withdraws the relay: handle_rtp).
  if (!connected_ || !p->have_remote_ || (p->bound_wildcard_ && !p->connected_)) return false;
  if (!remote_.address().is_v4() || !p->remote_.address().is_v4()) return false;
  if (params_.codec != p->params_.codec) return false;  // transcoding stays here
  if (p->relay_loops()) return false;                   // counted and dropped in userspace
  // Someone needs the audio itself. In-band detection only counts for a peer
  // that did not negotiate telephone-event: one that did sends its digits as
  // RFC 4733 events, which still come to userspace (EngineConfig says so).
  const bool inband_needed = params_.detect_inband_dtmf && !te_seen_ && params_.telephone_event_pt < 0;
  if (tap_.recorder || !listen_taps_.empty() || inband_needed) return false;
  return rx_ssrc_known_ && !p->dtmf_pending() && p->relay_.valid && p->relay_.in_ssrc == rx_ssrc_;
}

void Session::kernel_offer(common::SteadyTime now) {
  if (now < kernel_retry_at_ || !kernel_eligible()) return;
  Session& p = *peer_;
  boost::system::error_code ec;
  const udp::endpoint from = p.rtp_.local_endpoint(ec);  // concrete once connected
  if (ec || !from.address().is_v4()) return;
  const udp::endpoint here = rtp_.local_endpoint(ec);
  if (ec) return;
  hl_relay_key key{};
  key.addr = bound_wildcard_ ? 0 : htonl(here.address().to_v4().to_uint());
  key.port = htons(local_port_);
  hl_relay_slot c{};
  c.expect_saddr = htonl(remote_.address().to_v4().to_uint());
  c.expect_sport = htons(remote_.port());
  c.audio_pt_in = params_.payload_type;
  c.audio_pt_out = p.params_.payload_type;
  c.in_ssrc = rx_ssrc_;
  c.new_saddr = htonl(from.address().to_v4().to_uint());
  c.new_sport = htons(from.port());
  c.new_daddr = htonl(p.remote_.address().to_v4().to_uint());
  c.new_dport = htons(p.remote_.port());
  const auto egress = KernelRelay::egress(c.new_saddr, c.new_daddr);
  if (!egress) return;
  c.out_ifindex = egress->ifindex;
  c.out_local = egress->local ? 1 : 0;
  c.seq_offset = p.relay_.seq_offset;
  c.ts_offset = p.relay_.ts_offset;
  c.out_ssrc = p.out_.ssrc;
  const ReceiveStats::Position pos = rx_stats_.position();
  c.max_seq = pos.max_seq;
  c.cycles = pos.cycles;
  c.last_transit = pos.last_transit;
  c.jitter16 = pos.jitter16;
  c.have_transit = pos.have_transit ? 1 : 0;
  c.out_next_seq = p.out_.next_seq;
  c.out_last_ts = p.out_.last_ts;
  c.out_last_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(p.out_.last_time.time_since_epoch()).count());
  kernel_slot_ = loop_->kernel_relay->install(key, c);
  if (!kernel_slot_) {
    kernel_retry_at_ = now + std::chrono::seconds(1);  // full or refused: not on every packet
    return;
  }
  kernel_key_ = key;
  kernel_synced_packets_ = 0;
  kernel_synced_octets_ = 0;
}

bool Session::kernel_same_stream(const RtpHeader& h) const {
  const hl_relay_slot s = loop_->kernel_relay->read(*kernel_slot_);
  const auto udelta = static_cast<std::uint16_t>(h.sequence - s.max_seq);
  // The program's own test (rtp_relay.bpf.c, sequence_acceptable).
  return h.ssrc == s.in_ssrc && (udelta < 3000 || udelta > 65536 - 100);
}

void Session::kernel_sync() {
  if (!kernel_slot_ || peer_ == nullptr) return;
  const hl_relay_slot s = loop_->kernel_relay->read(*kernel_slot_);
  const std::uint64_t n = s.packets - kernel_synced_packets_;
  if (n == 0) return;
  const std::uint64_t octets = s.octets - kernel_synced_octets_;
  kernel_synced_packets_ = s.packets;
  kernel_synced_octets_ = s.octets;
  stats_.packets_received += n;
  last_rx_ = clock_.now();
  timed_out_ = false;
  rx_stats_.resume(
      ReceiveStats::Position{s.max_seq, s.cycles, s.last_transit, s.jitter16, s.have_transit != 0}, n);
  Session& p = *peer_;
  p.stats_.packets_relayed += n;
  p.stats_.packets_relayed_kernel += n;
  p.stats_.packets_sent += n;
  p.out_.packets += n;
  p.out_.octets += octets;
  if (static_cast<std::int16_t>(s.out_next_seq - p.out_.next_seq) > 0) p.out_.next_seq = s.out_next_seq;
  if (!p.out_.started || static_cast<std::int32_t>(s.out_last_ts - p.out_.last_ts) > 0) {
    p.out_.last_ts = s.out_last_ts;
    p.out_.last_time = steady::time_point(std::chrono::nanoseconds(s.out_last_ns));
  }
  p.out_.started = true;
  p.relayed_since_segment_ = true;
}

void Session::kernel_withdraw() {
  if (!kernel_slot_) return;
  loop_->kernel_relay->remove(*kernel_slot_, kernel_key_);
  kernel_sync();  // after the removal: nothing more can arrive in the slot (bar one CPU's packet in flight)
  kernel_slot_.reset();
}

void Session::relay_from_peer(std::uint8_t* data, std::size_t size, const RtpPacket& pkt, bool is_event,
                              Codec from, steady::time_point now) {
  if (mode_ != OutMode::bridged || !have_remote_) return;
  if (dtmf_pending()) return;  // our own DTMF owns the stream
  if (is_event && params_.telephone_event_pt < 0)
    return;  // reported on the other leg; this peer cannot take events
  if (relay_loops()) {
    ++stats_.dropped_loop;
    return;
  }
  std::uint8_t pt = params_.payload_type;
  if (is_event) {
    pt = static_cast<std::uint8_t>(params_.telephone_event_pt);
  } else if (const std::uint8_t* table = transcode_table(from, params_.codec)) {
    std::uint8_t* p = data + pkt.payload_offset;
    for (std::size_t i = 0; i < pkt.payload_size; ++i) p[i] = table[p[i]];
  }
  bool marker = pkt.header.marker;
  if (!relay_.valid || relay_.in_ssrc != pkt.header.ssrc) {
    // New segment: continue our own sequence and timeline from where they were.
    const std::uint32_t start_ts = out_.segment_start_ts(now, frame_samples_);
    relay_.ts_offset = start_ts - pkt.header.timestamp;
    relay_.seq_offset = static_cast<std::uint16_t>(out_.next_seq - pkt.header.sequence);
    relay_.in_ssrc = pkt.header.ssrc;
    relay_.valid = true;
    marker = true;
  }
  RtpHeader h;
  h.marker = marker;
  h.payload_type = pt;
  h.sequence = static_cast<std::uint16_t>(pkt.header.sequence + relay_.seq_offset);
  h.timestamp = pkt.header.timestamp + relay_.ts_offset;
  h.ssrc = out_.ssrc;
  rewrite_rtp_header(std::span(data, size), h);
  loop_->rtp_io->queue_send(*this, data, size);
  // Track the newest position (reordered packets keep their relative place).
  if (static_cast<std::int16_t>(h.sequence - out_.next_seq) >= 0)
    out_.next_seq = static_cast<std::uint16_t>(h.sequence + 1);
  if (!out_.started || static_cast<std::int32_t>(h.timestamp - out_.last_ts) >= 0) {
    out_.last_ts = h.timestamp;
    out_.last_time = now;
  }
  out_.started = true;
  relayed_since_segment_ = true;
  ++stats_.packets_relayed;
}

void Session::send_packet(const std::uint8_t* data, std::size_t size) {
  if (!have_remote_) return;
  boost::system::error_code ec;
  // Non-blocking: a full socket buffer drops the packet rather than stalling the loop.
  if (connected_) {
    rtp_.send(asio::buffer(data, size), 0, ec);
  } else {
    rtp_.send_to(asio::buffer(data, size), remote_, 0, ec);
  }
  if (!ec) count_sent(size);
}

void Session::count_sent(std::size_t size) {
  ++stats_.packets_sent;
  ++out_.packets;
  out_.octets += size - kRtpHeaderSize;
}

// ---- pacing ---------------------------------------------------------------

void Session::arm_pacer(bool new_segment) {
  if (mode_ == OutMode::closed) return;
  // A pending tick may still belong to a segment the relay has since moved past
  // (bridge → play within one ptime); restart rather than go back in time.
  if (pacer_running_ && !relayed_since_segment_ && !new_segment) return;
  pacer_running_ = true;
  relayed_since_segment_ = false;
  pace_start_ = steady::now();
  pace_tick_ = 0;
  segment_ts_ = out_.segment_start_ts(pace_start_, frame_samples_);
  segment_marker_ = true;
  pacer_.expires_at(pace_start_);
  pacer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    self->on_pace_tick();
  });
}

void Session::on_pace_tick() {
  if (mode_ == OutMode::closed || !pacer_needed()) {
    pacer_running_ = false;
    return;
  }
  const auto ptime = std::chrono::milliseconds(params_.ptime_ms);
  const auto now = steady::now();
  auto due = pace_start_ + pace_tick_ * ptime;
  // If the loop stalled for several frames, skip them instead of bursting;
  // timestamps still advance with real time.
  if (now - due > 3 * ptime) {
    pace_tick_ += static_cast<std::uint64_t>((now - due) / ptime);
    due = pace_start_ + pace_tick_ * ptime;
  }
  const std::uint32_t ts = segment_ts_ + static_cast<std::uint32_t>(pace_tick_ * frame_samples_);
  if (!send_dtmf_tick(ts) && mode_ != OutMode::bridged) {
    const std::size_t n = frame_samples_;
    std::uint8_t* payload = tx_buf_.data() + kRtpHeaderSize;
    if (mode_ == OutMode::playing && source_) {
      const bool more = source_->read(std::span(pcm_.data(), n));
      g711_encode(params_.codec, pcm_.data(), payload, n);
      if (!more) {
        const std::uint64_t id = playback_id_;
        set_mode(OutMode::silence);
        if (events_.on_playback_done) events_.on_playback_done(id);
      }
    } else if (mode_ == OutMode::listening && listening_) {
      listening_->mix.pull(pcm_.data(), n);
      g711_encode(params_.codec, pcm_.data(), payload, n);  // in the listener's own law
    } else {
      std::memset(payload, g711_silence(params_.codec), n);
    }
    RtpHeader h{segment_marker_, params_.payload_type, out_.next_seq++, ts, out_.ssrc};
    write_rtp_header(tx_buf_, h);
    send_packet(tx_buf_.data(), kRtpHeaderSize + n);
  }
  segment_marker_ = false;
  out_.last_ts = ts;
  out_.last_time = due;
  out_.started = true;
  if (mode_ == OutMode::closed) return;
  ++pace_tick_;
  pacer_.expires_at(pace_start_ + pace_tick_ * ptime);
  pacer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    self->on_pace_tick();
  });
}

bool Session::send_dtmf_tick(std::uint32_t ts) {
  if (!dtmf_tx_.active) {
    if (dtmf_tx_.gap_ticks > 0) {
      --dtmf_tx_.gap_ticks;
      if (!dtmf_tx_.inband) return false;  // between events: normal audio (or nothing when bridged)
      send_inband_packet(ts);              // silence: an in-band detector must hear the tone stop
      return true;
    }
    if (!start_dtmf_digit(ts)) return false;
  }
  if (dtmf_tx_.inband) {
    send_inband_packet(ts);
  } else {
    send_event_packet();
  }
  return true;
}

bool Session::start_dtmf_digit(std::uint32_t ts) {
  if (dtmf_head_ == dtmf_tail_) return false;
  const char c = dtmf_queue_[dtmf_head_];
  dtmf_head_ = (dtmf_head_ + 1) % dtmf_queue_.size();
  dtmf_tx_.active = true;
  dtmf_tx_.digit = c;
  dtmf_tx_.event = static_cast<std::uint8_t>(dtmf_char_to_event(c));
  // Without a negotiated telephone-event the peer can only hear the digit.
  dtmf_tx_.inband = params_.telephone_event_pt < 0;
  dtmf_tx_.ts = ts;
  dtmf_tx_.duration = 0;
  dtmf_tx_.total = static_cast<std::uint32_t>(dtmf_duration_ms_ * 8);
  dtmf_tx_.end_sent = 0;
  relay_.valid = false;
  return true;
}

void Session::send_event_packet() {
  const bool first = dtmf_tx_.duration == 0;
  dtmf_tx_.duration = std::min(dtmf_tx_.duration + frame_samples_, dtmf_tx_.total);
  const bool end = dtmf_tx_.duration >= dtmf_tx_.total;
  RtpHeader h{first, static_cast<std::uint8_t>(params_.telephone_event_pt), out_.next_seq++, dtmf_tx_.ts,
              out_.ssrc};
  write_rtp_header(tx_buf_, h);
  write_telephone_event(
      std::span(tx_buf_).subspan(kRtpHeaderSize),
      TelephoneEvent{dtmf_tx_.event, end, 10, static_cast<std::uint16_t>(dtmf_tx_.duration)});
  send_packet(tx_buf_.data(), kRtpHeaderSize + 4);
  if (end && ++dtmf_tx_.end_sent >= 3) {  // RFC 4733 §2.5.1.4: end packet sent three times
    dtmf_tx_.active = false;
    dtmf_tx_.gap_ticks = std::max(1, 60 / params_.ptime_ms);
  }
}

// One audio frame of the current digit's tone pair (ITU-T Q.23 frequencies,
// -10 dBm0 per tone, phase continuous across frames), or of silence in the
// gap after it; the gap is at least 40 ms (Q.24's minimum pause).
void Session::send_inband_packet(std::uint32_t ts) {
  const std::size_t n = frame_samples_;
  std::fill_n(pcm_.data(), n, std::int16_t{0});
  if (dtmf_tx_.active) {
    const std::size_t tone = std::min<std::size_t>(n, dtmf_tx_.total - dtmf_tx_.duration);
    (void)generate_dtmf(dtmf_tx_.digit, std::span(pcm_.data(), tone), -10.0, dtmf_tx_.duration);
    dtmf_tx_.duration += static_cast<std::uint32_t>(tone);
    if (dtmf_tx_.duration >= dtmf_tx_.total) {
      dtmf_tx_.active = false;
      dtmf_tx_.gap_ticks = std::max(1, 60 / params_.ptime_ms);
    }
  }
  std::uint8_t* payload = tx_buf_.data() + kRtpHeaderSize;
  g711_encode(params_.codec, pcm_.data(), payload, n);
  RtpHeader h{segment_marker_, params_.payload_type, out_.next_seq++, ts, out_.ssrc};
  write_rtp_header(tx_buf_, h);
  send_packet(tx_buf_.data(), kRtpHeaderSize + n);
}

// ---- RTCP and housekeeping -------------------------------------------------

void Session::arm_housekeeping() {
  // On a 200 ms grid shared by the loop's sessions, in eight phases 25 ms
  // apart: the sessions of one phase expire together, so a loop wakes 40
  // times a second for housekeeping instead of five times per session (with
  // the kernel relay those wake-ups were most of the media threads' CPU), and
  // each wake-up handles an eighth of them, a short burst for the pacers.
  constexpr std::chrono::milliseconds period{200}, phase{25};
  const auto offset = phase * ((local_port_ / 2) % 8);
  const auto since = steady::now().time_since_epoch() - offset;
  housekeeping_.expires_at(steady::time_point((since / period + 1) * period + offset));
  housekeeping_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->mode_ == OutMode::closed) return;
    self->on_housekeeping();
  });
}

void Session::on_housekeeping() {
  if (kernel_slot_) {
    kernel_sync();  // before the media timeout looks at last_rx_
    loop_->kernel_relay->refresh(*kernel_slot_);
  }
  const auto now = clock_.now();
  if (params_.media_timeout.count() > 0 && !timed_out_ && now - last_rx_ > params_.media_timeout) {
    timed_out_ = true;  // once per silence period; cleared by the next packet
    if (events_.on_media_timeout) events_.on_media_timeout();
    if (mode_ == OutMode::closed) return;
  }
  if (now >= next_rtcp_) {
    send_rtcp(false);
    // RFC 3550 §6.3.1: randomise the interval to 0.5–1.5 times the nominal.
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    next_rtcp_ =
        now + std::chrono::duration_cast<common::SteadyTime::duration>(rtcp_interval_ * jitter(rng_));
  }
  if (tap_.recorder && tap_.poller) (void)tap_.recorder->poll(now);
  arm_housekeeping();
}

void Session::send_rtcp(bool bye) {
  if (!have_remote_ || !rtcp_.is_open()) return;
  kernel_sync();                               // what we received through the kernel
  if (peer_ != nullptr) peer_->kernel_sync();  // what the kernel sent as us
  std::array<std::uint8_t, 512> buf;
  const auto now = clock_.now();
  ReportBlock block;
  std::size_t nblocks = 0;
  if (rx_stats_.initialised()) {
    std::uint32_t dlsr = 0;
    if (have_peer_sr_) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - peer_sr_arrival_).count();
      dlsr = static_cast<std::uint32_t>(us * 65536 / 1'000'000);
    }
    block = rx_stats_.make_report(rx_ssrc_, have_peer_sr_ ? peer_sr_mid_ : 0, dlsr);
    nblocks = 1;
  }
  std::size_t n;
  if (out_.packets > packets_at_last_rtcp_) {
    SenderInfo si;
    si.ntp = ntp_from_unix_ns(
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.wall_now().time_since_epoch()).count());
    si.rtp_timestamp = out_.last_ts;
    si.packet_count = static_cast<std::uint32_t>(out_.packets);
    si.octet_count = static_cast<std::uint32_t>(out_.octets);
    n = write_rtcp_sr(buf, out_.ssrc, si, std::span(&block, nblocks));
  } else {
    n = write_rtcp_rr(buf, out_.ssrc, std::span(&block, nblocks));
  }
  packets_at_last_rtcp_ = out_.packets;
  n += write_rtcp_sdes_cname(std::span(buf).subspan(n), out_.ssrc,
                             std::span(params_.cname.data(), params_.cname.size()));
  if (bye) n += write_rtcp_bye(std::span(buf).subspan(n), out_.ssrc);
  boost::system::error_code ec;
  rtcp_.send_to(asio::buffer(buf.data(), n), remote_rtcp_, 0, ec);
  if (!ec) ++stats_.rtcp_sent;
}

void Session::arm_rtcp_receive() {
  rtcp_.async_wait(udp::socket::wait_read, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->mode_ == OutMode::closed) return;
    self->on_rtcp_readable();
  });
}

void Session::on_rtcp_readable() {
  for (int i = 0; i < 8; ++i) {
    udp::endpoint from;
    boost::system::error_code ec;
    const std::size_t n = rtcp_.receive_from(asio::buffer(rtcp_buf_), from, 0, ec);
    if (ec) break;
    if (have_remote_ && from.address() != remote_.address()) {
      ++stats_.dropped_stranger;
      continue;
    }
    const auto now = clock_.now();
    bool bye = false;
    const ParseStatus st =
        parse_rtcp(std::span<const std::uint8_t>(rtcp_buf_.data(), n), [&](const RtcpPacket& p) {
          if (p.type == RtcpType::bye) {
            bye = true;
            return;
          }
          if (p.has_sender_info) {
            peer_sr_mid_ = static_cast<std::uint32_t>(p.sender.ntp >> 16);
            peer_sr_arrival_ = now;
            have_peer_sr_ = true;
          }
          for (std::size_t i = 0; i < p.report_count; ++i) {
            const ReportBlock& b = p.reports[i];
            if (b.ssrc != out_.ssrc) continue;
            stats_.have_remote_report = true;
            stats_.remote_fraction_lost = b.fraction_lost / 256.0;
            stats_.remote_cumulative_lost = b.cumulative_lost;
            stats_.remote_jitter_ms = b.jitter / 8.0;
            if (b.last_sr != 0) {
              const std::uint64_t ntp = ntp_from_unix_ns(
                  std::chrono::duration_cast<std::chrono::nanoseconds>(clock_.wall_now().time_since_epoch())
                      .count());
              const std::uint32_t a = static_cast<std::uint32_t>(ntp >> 16);
              const std::uint32_t rtt = a - b.last_sr - b.delay_since_last_sr;
              stats_.rtt_ms = rtt * 1000.0 / 65536.0;
            }
          }
        });
    if (st == ParseStatus::ok) {
      ++stats_.rtcp_received;
    } else {
      ++stats_.dropped_invalid;
    }
    if (bye && events_.on_rtcp_bye) events_.on_rtcp_bye();
    if (mode_ == OutMode::closed) return;
  }
  arm_rtcp_receive();
}

SessionStats Session::snapshot() {
  kernel_sync();
  if (peer_ != nullptr) peer_->kernel_sync();
  SessionStats s = stats_;
  s.lost = rx_stats_.lost();
  s.jitter_ms = rx_stats_.jitter() / 8.0;
  s.latched = latched_;
  if (have_remote_) s.remote = remote_.address().to_string() + ":" + std::to_string(remote_.port());
  return s;
}

}  // namespace hotline::media
