// call/call.h — the call layer: where SIP, media, IVR and routing meet.
//
// CallCenter is a back-to-back user agent. A customer's INVITE (from a
// trunk, or from a registered extension dialling a number) is answered, walks
// the number's IVR flow, waits in a queue with music on hold and periodic
// position / wait announcements, and is bridged to the agent whose phone the
// routing engine chose. Agents log in and change status through the API or
// with feature codes dialled from their phone. Every step is reported to a
// Sink: call records, legs, recordings and routing events (durable), and
// live events (WebSocket).
//
// Threading: everything runs on the SIP stack's io_context thread (`io`).
// The SessionHandler / RegistrarListener callbacks arrive there; media events
// are posted there; the public control methods below may be called from any
// thread (they post to the loop and wait for the result).
//
// Feature codes (dialled from a registered extension):
//   *21        log in the agent whose default extension this is (or *21<agent id>: hot-desk)
//   *22        log out
//   *23        ready
//   *24[code]  not ready with a reason code (default: break, 100)
//   *25        end wrap-up now
//   *30<ext>   supervisor silent listen on the call of the agent at extension <ext>
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "center/center.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/result.h"
#include "live/live.h"
#include "media/engine.h"
#include "records/records.h"
#include "sip/stack.h"

namespace hotline::call {

using nlohmann::json;

// Where the call layer's output goes (the app forwards to records::Store and
// live::Hub; tests collect it). Called on the loop thread; must not block.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void call(const records::CallRecord& c) = 0;
  virtual void leg(const records::CallLeg& l) = 0;
  virtual void recording(const records::RecordingInfo& r) = 0;
  virtual void event(const records::EventRecord& e) = 0;
  virtual void live(live::Event e) = 0;
  // The seq of the tenant's last live event (live::Hub::seq), so that a
  // cached snapshot can say which events it reflects; -1: not known.
  virtual std::int64_t live_seq(std::int64_t /*tenant*/) { return -1; }
  // An audited action taken outside the API (feature codes from phones).
  virtual void audit(std::int64_t tenant, const std::string& action, const std::string& target,
                     const std::string& details_json) = 0;
};

struct Options {
  std::string prompts_dir;  // shipped prompts: <dir>/<lang>/<name>.wav
  std::string recordings_dir = "var/recordings";
  std::optional<media::Kek> recording_kek;  // no key: recording is refused (logged)
  media::Cipher recording_cipher = media::Cipher::aes_256_gcm;
  std::string default_language = "zh-CN";
  // Whether a user may listen in on live calls (supervisor silent listen, *30).
  std::function<bool(std::int64_t tenant, std::int64_t user_id)> may_listen;
  std::string media_address;  // our RTP address in SDP ("" = the address the peer used to reach us)
  std::chrono::milliseconds media_timeout{30000};
  // How long a feature-code confirmation tone plays before we hang up.
  std::chrono::milliseconds feature_tone{600};
};

// A tenant as the call layer knows it.
struct TenantRef {
  std::int64_t id = 0;
  std::string slug;
};

// The agent-status command of the API (/api/v1/agents/{id}/status).
struct StatusChange {
  std::string status;     // "logged_in" | "ready" | "not_ready" | "logged_out"
  int reason = 0;         // not_ready: a reason code (>= 100), 0 = break
  std::string extension;  // logged_in: the extension to use (hot-desk); "" = the agent's default
};

class CallCenter final : public sip::SessionHandler, public sip::RegistrarListener {
 public:
  CallCenter(sip::Stack& stack, media::MediaEngine& media, center::Repository& config, Sink& sink,
             common::MetricsRegistry& metrics, Options options,
             common::Clock& clock = common::SystemClock::instance());
  ~CallCenter() override;
  CallCenter(const CallCenter&) = delete;
  CallCenter& operator=(const CallCenter&) = delete;

  // Loop thread: the tenants to serve (SIP domains / slugs → ids).
  void add_tenant(TenantRef t);
  // Loop thread: maps the host part of a Request-URI (SIP domain or our IP
  // address) to a tenant slug ("" = none).
  void set_domain_resolver(std::function<std::string(const std::string& host)> f);
  // Any thread: the tenant's configuration changed (re-synced on the loop).
  void config_changed(std::int64_t tenant);
  // Loop thread: hang up every call (shutdown).
  void shutdown();
  // Loop thread: is `ip` an allowed source of some tenant's trunk? (The SIP
  // guard lets trunks past its per-source rate limit.) Cached per address.
  bool is_trunk_source(const std::string& ip);

  // ---- control from the API (any thread; waits for the loop) ----
  common::Result<json> agent_status(std::int64_t tenant, std::int64_t agent_id);
  common::Status change_status(std::int64_t tenant, std::int64_t agent_id, const StatusChange& change);
  common::Status end_wrap_up(std::int64_t tenant, std::int64_t agent_id);
  // Live queue and agent figures for /api/v1/stats/realtime and the events snapshot.
  json realtime(std::int64_t tenant);
  // The same figures as of at most 250 ms ago, without waiting for the loop
  // (for the live hub's snapshots, which must not block). Any thread.
  live::Hub::Snapshot live_snapshot(std::int64_t tenant);

  // ---- sip::SessionHandler / sip::RegistrarListener (loop thread) ----
  void on_invite(sip::ServerTxnId txn, const sip::Message& invite, const sip::Peer& from) override;
  void on_cancelled(sip::ServerTxnId txn) override;
  void on_dialog_request(sip::Dialog& d, sip::ServerTxnId txn, const sip::Message& req) override;
  void on_dialog_ack(sip::Dialog& d, const sip::Message& ack) override;
  void on_dialog_terminated(const sip::Dialog& d, std::string_view reason) override;
  void on_binding(sip::BindingEvent event, const sip::Binding& binding) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hotline::call
