#include "app/contact_center.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>

#include "ivr/ivr.h"

namespace hotline::app {

namespace asio = boost::asio;

std::string default_prompts_dir() {
#ifdef HOTLINE_BUILD_PROMPTS_DIR
  if (std::filesystem::exists(HOTLINE_BUILD_PROMPTS_DIR)) return HOTLINE_BUILD_PROMPTS_DIR;
#endif
  return "/usr/share/hotline/prompts";
}

// Call-layer output: durable records, live events, audit entries.
class ContactCenter::Sink final : public call::Sink {
 public:
  Sink(records::Store& records, live::Hub& hub, iam::Directory& directory, asio::io_context& background)
      : records_(records), hub_(hub), directory_(directory), background_(background) {}

  void call(const records::CallRecord& c) override { records_.put_call(c); }
  void leg(const records::CallLeg& l) override { records_.put_leg(l); }
  void recording(const records::RecordingInfo& r) override { records_.put_recording(r); }
  void event(const records::EventRecord& e) override { records_.put_event(e); }
  void live(live::Event e) override { hub_.publish(std::move(e)); }
  std::int64_t live_seq(std::int64_t tenant) override { return hub_.seq(tenant); }
  void audit(std::int64_t tenant, const std::string& action, const std::string& target,
             const std::string& details) override {
    asio::post(background_, [this, tenant, action, target, details] {
      try {
        iam::Actor a = iam::Actor::system();
        a.tenant_id = tenant;
        a.name = "phone";
        a.source = "sip";
        directory_.audit(a, tenant, action, target, details);
      } catch (const std::exception& e) {
        spdlog::error("audit of {} {} failed: {}", action, target, e.what());
      }
    });
  }

 private:
  records::Store& records_;
  live::Hub& hub_;
  iam::Directory& directory_;
  asio::io_context& background_;
};

media::EngineConfig media_engine_config(const Config& c) {
  media::EngineConfig e;
  e.loops = static_cast<unsigned>(c.media_loops);
  e.port_min = static_cast<std::uint16_t>(c.media_rtp_port_min);
  e.port_max = static_cast<std::uint16_t>(c.media_rtp_port_max);
  // The loader accepted only names the media library parses.
  e.rtp_io = media::parse_rtp_io_backend(c.media_rtp_io).value_or(media::RtpIoBackend::automatic);
  e.realtime_priority = static_cast<int>(c.media_realtime_priority);
  e.batch_window = std::chrono::microseconds(c.media_batch_window_us);
  // The loader accepted only names separated by commas.
  for (std::size_t start = 0; start < c.media_kernel_relay.size();) {
    const std::size_t comma = std::min(c.media_kernel_relay.find(',', start), c.media_kernel_relay.size());
    e.kernel_relay_interfaces.push_back(c.media_kernel_relay.substr(start, comma - start));
    start = comma + 1;
  }
  return e;
}

namespace {

std::vector<media::Kek> keks(const Config& c) {
  std::vector<media::Kek> out;
  if (c.recording_kek.empty()) return out;
  auto k = media::kek_from_hex(c.recording_kek_id, c.recording_kek);
  if (!k) throw std::runtime_error("recording.kek: " + k.error().message);
  out.push_back(*k);
  return out;
}

// IVR flows are compiled when saved, against the tenant's configuration.
std::optional<common::Error> validate_flow(const center::json& definition, const center::Snapshot& snap) {
  ivr::References refs;
  refs.prompt = [&snap](const std::string& name) {
    for (const auto& p : snap.prompts)
      if (p.name == name) return true;
    // Shipped prompts exist in every language folder.
    return std::filesystem::exists(default_prompts_dir() + "/en/" + name + ".wav") ||
           std::filesystem::exists(default_prompts_dir() + "/zh/" + name + ".wav");
  };
  refs.queue = [&snap](const std::string& n) { return snap.queue(n) != nullptr; };
  refs.calendar = [&snap](const std::string& n) { return snap.calendar(n) != nullptr; };
  refs.trunk = [&snap](const std::string& n) { return snap.trunk(n) != nullptr; };
  return ivr::validate(definition, refs, "definition.");
}

}  // namespace

ContactCenter::ContactCenter(const Config& config, store::Database& db, iam::Directory& directory,
                             common::MetricsRegistry& metrics, asio::io_context& background)
    : config_(config), directory_(directory), metrics_(metrics) {
  center::RepositoryOptions ro;
  ro.custom_prompts_dir = config.media_custom_prompts_dir;
  repository_ = std::make_unique<center::Repository>(db, common::SystemClock::instance(), ro);
  repository_->set_flow_validator(validate_flow);
  records::StoreOptions so;
  so.keks = keks(config);
  records_ = std::make_unique<records::Store>(db, common::SystemClock::instance(), so);
  hub_ = std::make_unique<live::Hub>();
  media_ = std::make_unique<media::MediaEngine>(media_engine_config(config));
  if (const std::string& why = media_->rtp_io_fallback_reason(); !why.empty()) {
    // Asked for by name it is worth a warning; under `auto` epoll is the planned fallback.
    if (config.media_rtp_io == "io_uring") {
      spdlog::warn("media: io_uring not used for RTP ({}); using epoll", why);
    } else {
      spdlog::info("media: io_uring not available for RTP ({}); using epoll", why);
    }
  }
  if (const std::string& why = media_->realtime_priority_error(); !why.empty())
    spdlog::warn("media: media.realtime_priority = {} not applied ({}); loops run at normal priority",
                 config.media_realtime_priority, why);
  if (const std::string& why = media_->kernel_relay_error(); !why.empty())
    spdlog::warn("media: media.kernel_relay = \"{}\" not loaded ({}); bridges relay in userspace",
                 config.media_kernel_relay, why);
  spdlog::info("media: {} loops, RTP I/O {}, kernel relay {}", media_->loop_count(),
               media::to_string(media_->rtp_io_backend()),
               media_->kernel_relay_active() ? config.media_kernel_relay : std::string("off"));
  sink_ = std::make_unique<Sink>(*records_, *hub_, directory, background);
  std::filesystem::create_directories(config.recording_dir);
  // Open live-event WebSockets follow their sign-in (closed at logout).
  session_watcher_ =
      std::make_unique<live::SessionWatcher>(background, *hub_, directory_, common::SystemClock::instance());
}

ContactCenter::~ContactCenter() {
  session_watcher_.reset();
  calls_.reset();
  media_.reset();
  if (records_) records_->flush();
}

void ContactCenter::attach(sip::Stack& stack, SipService& sip) {
  call::Options o;
  o.prompts_dir = config_.media_prompts_dir.empty() ? default_prompts_dir() : config_.media_prompts_dir;
  o.recordings_dir = config_.recording_dir;
  auto k = keks(config_);
  if (!k.empty()) o.recording_kek = k.front();
  o.recording_cipher = config_.recording_cipher == "sm4" ? media::sm4_cipher() : media::Cipher::aes_256_gcm;
  o.media_timeout = std::chrono::seconds(config_.media_timeout_s);
  if (!config_.media_address.empty()) {
    // An explicit RTP address wins over the one the peer used.
    o.media_address = config_.media_address;
  }
  // Listening in needs recordings.listen (the same trust as hearing a
  // recording). One database read per request, on the SIP loop: rare.
  auto* dir = &directory_;
  o.may_listen = [dir](std::int64_t tenant, std::int64_t user_id) {
    auto u = dir->get_user(tenant, user_id);
    if (!u || !u->active) return false;
    for (const auto& role : dir->list_roles(tenant))
      if (std::find(u->roles.begin(), u->roles.end(), role.name) != u->roles.end() &&
          role.permissions.has(iam::Permission::RecordingsListen))
        return true;
    return false;
  };
  calls_ = std::make_unique<call::CallCenter>(stack, *media_, *repository_, *sink_, metrics_, o);
  auto* creds = &sip.credentials();
  calls_->set_domain_resolver(
      [creds](const std::string& host) { return creds->tenant_for_domain(host).value_or(""); });
  for (const auto& t : directory_.list_tenants()) calls_->add_tenant({t.id, t.slug});
  sip.set_call_layer(calls_.get(), calls_.get());
  auto* calls = calls_.get();
  // A trunk's one address carries every call of a carrier: it must not hit
  // the per-source rate limit meant for phones and scanners.
  stack.guard().set_trusted([calls](const std::string& ip) { return calls->is_trunk_source(ip); });
  repository_->set_change_listener([calls](std::int64_t tenant) { calls->config_changed(tenant); });
  hub_->set_snapshot_provider(
      [calls](std::int64_t tenant, const iam::Principal&) { return calls->live_snapshot(tenant); });
  spdlog::info("call layer: prompts from {}, recordings to {}{}", o.prompts_dir, o.recordings_dir,
               o.recording_kek ? "" : " (no recording.kek: recording disabled)");
}

void ContactCenter::shutdown() {
  if (calls_) calls_->shutdown();
}

api::ApiServices ContactCenter::services() {
  api::ApiServices s;
  s.center = repository_.get();
  s.records = records_.get();
  s.live = hub_.get();
  s.calls = calls_.get();
  return s;
}

}  // namespace hotline::app
