#include "media/engine.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <cstring>
#include <future>

#include "media/session.h"

namespace hotline::media {

namespace asio = boost::asio;
using common::Error;
using common::Result;
using common::Status;

namespace {

template <class F>
void post_to(const std::shared_ptr<Session>& s, F&& f) {
  if (!s || !s->loop()->accepting.load()) return;
  asio::post(s->io(), std::forward<F>(f));
}

}  // namespace

// ---- MediaSession ----------------------------------------------------------

std::uint16_t MediaSession::local_port() const { return impl_->local_port(); }
std::size_t MediaSession::loop_index() const { return impl_->loop_index(); }

void MediaSession::set_remote(std::string address, std::uint16_t port) {
  post_to(impl_, [s = impl_, a = std::move(address), port] { s->set_remote(a, port); });
}

void MediaSession::update(SessionParams params) {
  post_to(impl_, [s = impl_, p = std::move(params)] { s->update(p); });
}

void MediaSession::play(std::vector<ClipPtr> clips, bool loop, std::uint64_t id) {
  play_source(std::make_unique<PlaylistSource>(std::move(clips), loop), id);
}

void MediaSession::play_tone(ToneSpec tone, std::uint64_t id) {
  play_source(std::make_unique<ToneSource>(std::move(tone)), id);
}

void MediaSession::play_source(std::unique_ptr<AudioSource> source, std::uint64_t id) {
  // std::function needs copyable callables: carry the unique_ptr in a shared_ptr.
  auto holder = std::make_shared<std::unique_ptr<AudioSource>>(std::move(source));
  post_to(impl_, [s = impl_, holder, id] { s->play(std::move(*holder), id); });
}

void MediaSession::silence() {
  post_to(impl_, [s = impl_] { s->set_silence(); });
}

void MediaSession::send_dtmf(std::string digits, int duration_ms) {
  post_to(impl_, [s = impl_, d = std::move(digits), duration_ms] { s->queue_dtmf(d, duration_ms); });
}

void MediaSession::close() {
  post_to(impl_, [s = impl_] { s->close(); });
}

std::future<SessionStats> MediaSession::stats() const {
  auto p = std::make_shared<std::promise<SessionStats>>();
  auto f = p->get_future();
  if (!impl_->loop()->accepting.load()) {
    p->set_value(SessionStats{});
    return f;
  }
  asio::post(impl_->io(), [s = impl_, p] { p->set_value(s->snapshot()); });
  return f;
}

MediaSession::~MediaSession() { close(); }

// ---- recordings --------------------------------------------------------------

struct RecordingHandle::State {
  std::shared_ptr<Recorder> recorder;
  std::shared_ptr<Session> caller, agent;
  common::Clock* clock = nullptr;
  bool stopped = false;
};

void RecordingHandle::pause() {
  post_to(s_->caller, [st = s_] { st->recorder->pause(st->clock->now()); });
}

void RecordingHandle::resume() {
  post_to(s_->caller, [st = s_] { st->recorder->resume(st->clock->now()); });
}

std::future<Status> RecordingHandle::stop() {
  auto p = std::make_shared<std::promise<Status>>();
  auto f = p->get_future();
  if (s_->stopped || !s_->caller->loop()->accepting.load()) {
    p->set_value(s_->stopped ? common::ok_status() : Status(Error::internal("media engine stopped")));
    return f;
  }
  s_->stopped = true;
  asio::post(s_->caller->io(), [st = s_, p] {
    st->caller->detach_recorder();
    st->agent->detach_recorder();
    // Resolves on the writer thread once the file is closed; the loop never waits.
    st->recorder->stop_async(st->clock->now(), [p](Status s) { p->set_value(std::move(s)); });
  });
  return f;
}

RecordingHandle::~RecordingHandle() {
  if (!s_->stopped) (void)stop();
}

// ---- engine -------------------------------------------------------------------

MediaEngine::MediaEngine(EngineConfig config)
    : config_(std::move(config)),
      clock_(config_.clock ? config_.clock : &common::SystemClock::instance()),
      writer_(std::make_shared<RecordingWriter>()) {
  open_kernel_relay();
  const auto local_addresses = std::make_shared<const LocalAddresses>();
  unsigned n = config_.loops ? config_.loops : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    auto loop = std::make_shared<EventLoop>();
    loop->kernel_relay = kernel_relay_.get();
    loop->local_addresses = local_addresses;
    EventLoop* raw = loop.get();
    std::promise<RtpIoBackend> started;
    auto backend = started.get_future();
    std::string why;
    loop->thread = std::thread([raw, &started, &why, cfg = config_] {
      raw->rtp_io = make_rtp_io(raw->io, cfg.rtp_io, cfg.uring_buffers, &why);
      started.set_value(raw->rtp_io->kind());
      run_loop(*raw, cfg.batch_window);
    });
    // io_uring only if every loop got it (a kernel limit could refuse one ring).
    const RtpIoBackend kind = backend.get();
    rtp_io_ = (i == 0 || kind == rtp_io_) ? kind : RtpIoBackend::epoll;
    if (!why.empty()) rtp_io_fallback_ = why;
    // Named so operators (and bench_media) can find the media threads in top/proc.
    pthread_setname_np(loop->thread.native_handle(), ("hl-media-" + std::to_string(i)).c_str());
    if (config_.realtime_priority > 0) {
      sched_param sp{};
      sp.sched_priority = std::clamp(config_.realtime_priority, 1, 99);
      if (const int err = pthread_setschedparam(loop->thread.native_handle(), SCHED_FIFO, &sp); err != 0)
        realtime_priority_error_ = std::string("SCHED_FIFO refused: ") + std::strerror(err);  // stays normal
    }
    loops_.push_back(std::move(loop));
  }
}

MediaEngine::~MediaEngine() {
  {
    std::lock_guard lock(mu_);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) asio::post(s->io(), [s] { s->close(); });
    }
  }
  // Once every session is closed the loops run out of work and return.
  for (auto& l : loops_) l->work.reset();
  for (auto& l : loops_) {
    if (l->thread.joinable()) l->thread.join();
    l->accepting = false;
    l->kernel_relay = nullptr;  // every session is closed; the relay goes with the engine
  }
}

namespace {
// "lo,eth0" → {"lo", "eth0"}.
std::vector<std::string> split_interfaces(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view name = list.substr(0, comma);
    if (!name.empty()) out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}
}  // namespace

void MediaEngine::open_kernel_relay() {
  std::vector<std::string> interfaces = config_.kernel_relay_interfaces;
  if (interfaces.empty()) {
    if (const char* env = std::getenv("HL_MEDIA_KERNEL_RELAY")) interfaces = split_interfaces(env);
  }
  if (interfaces.empty()) return;
  // At most one slot per session (the direction it receives): one per port pair.
  const std::uint32_t first_even = (config_.port_min + 1u) & ~1u;
  const std::uint32_t pairs = config_.port_max > first_even ? (config_.port_max - first_even + 1u) / 2u : 1u;
  auto relay = KernelRelay::open(interfaces, std::max<std::uint32_t>(pairs, 1));
  if (!relay.ok()) {
    kernel_relay_error_ = relay.error().message;
    return;
  }
  kernel_relay_ = std::move(*relay);
}

Result<std::shared_ptr<MediaSession>> MediaEngine::create_session(const SessionParams& params,
                                                                  SessionEvents events,
                                                                  const MediaSession* colocate_with) {
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(config_.bind_address, ec);
  if (ec) return Error::invalid("bind_address", "invalid media bind address " + config_.bind_address);
  if (config_.port_max <= config_.port_min) return Error::invalid("port_range", "empty RTP port range");
  if (params.payload_type > 127) return Error::invalid("payload_type", "payload type out of range");
  std::lock_guard lock(mu_);
  std::size_t li;
  if (colocate_with) {
    li = colocate_with->loop_index();
  } else {
    li = next_loop_++ % loops_.size();
  }
  const std::uint32_t first_even = (config_.port_min + 1u) & ~1u;
  const std::uint32_t pairs = (config_.port_max - first_even + 1u) / 2u;
  if (pairs == 0) return Error::invalid("port_range", "RTP port range holds no even/odd pair");
  for (std::uint32_t attempt = 0; attempt < pairs; ++attempt) {
    const std::uint32_t idx = (next_port_ + attempt) % pairs;
    const auto port = static_cast<std::uint16_t>(first_even + 2 * idx);
    auto s = std::make_shared<Session>(loops_[li], li, params, events, *clock_, config_.rtcp_interval);
    if (!s->bind(addr, port)) continue;
    next_port_ = idx + 1;
    // Forget sessions that are gone, so the list does not grow forever.
    std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
    sessions_.push_back(s);
    asio::post(s->io(), [s] { s->start(); });
    return std::make_shared<MediaSession>(s);
  }
  return Error{"resource_exhausted", "no free RTP port pair in range", "port_range"};
}

Status MediaEngine::bridge(const MediaSession& a, const MediaSession& b) {
  if (a.loop_index() != b.loop_index())
    return Error::invalid("session", "sessions on different loops (create the second with colocate_with)");
  post_to(a.impl(), [x = a.impl(), y = b.impl()] { x->bridge_to(y); });
  return common::ok_status();
}

void MediaEngine::unbridge(const MediaSession& a) {
  post_to(a.impl(), [x = a.impl()] { x->unbridge(); });
}

Status MediaEngine::update(const MediaSession& session, const SessionParams& params) {
  if (params.payload_type > 127) return Error::invalid("payload_type", "payload type out of range");
  if (params.telephone_event_pt < -1 || params.telephone_event_pt > 127)
    return Error::invalid("telephone_event_pt", "telephone-event payload type out of range");
  if (params.telephone_event_pt == params.payload_type)
    return Error::invalid("telephone_event_pt", "telephone-event and audio share a payload type");
  post_to(session.impl(), [s = session.impl(), p = params] { s->update(p); });
  return common::ok_status();
}

Status MediaEngine::listen(const MediaSession& listener, const MediaSession& a, const MediaSession& b) {
  if (listener.impl() == a.impl() || listener.impl() == b.impl() || a.impl() == b.impl())
    return Error::invalid("session", "listener, a and b must be three different sessions");
  if (listener.loop_index() != a.loop_index() || a.loop_index() != b.loop_index())
    return Error::invalid("session", "sessions on different loops (create the listener with colocate_with)");
  post_to(listener.impl(), [l = listener.impl(), x = a.impl(), y = b.impl()] { l->listen_to(x, y); });
  return common::ok_status();
}

void MediaEngine::unlisten(const MediaSession& listener) {
  post_to(listener.impl(), [l = listener.impl()] { l->unlisten(); });
}

Result<std::unique_ptr<RecordingHandle>> MediaEngine::start_recording(const MediaSession& caller,
                                                                      const MediaSession& agent,
                                                                      const RecordingOptions& options) {
  if (caller.loop_index() != agent.loop_index())
    return Error::invalid("session", "sessions on different loops (create the second with colocate_with)");
  auto file = EncryptedRecordingFile::create(options.path, options.kek, options.cipher, 2, 8000, writer_);
  if (!file) return file.error();
  auto state = std::make_shared<RecordingHandle::State>();
  state->recorder = std::make_shared<Recorder>(std::move(*file), clock_->now());
  state->caller = caller.impl();
  state->agent = agent.impl();
  state->clock = clock_;
  post_to(state->caller, [st = state] {
    st->caller->attach_recorder(RecorderTap{st->recorder, 0, true});
    st->agent->attach_recorder(RecorderTap{st->recorder, 1, false});
  });
  return std::make_unique<RecordingHandle>(state);
}

}  // namespace hotline::media
