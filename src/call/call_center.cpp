// The call layer's state machine: caller legs, IVR, queue, agent offers,
// bridging, wrap-up, records and live events. See call.h for the contract.
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "call/internal.h"
#include "routing/types.h"
#include "security/mask.h"

namespace hotline::call {

namespace asio = boost::asio;
using routing::AgentId;
using routing::EventType;
using routing::InteractionId;
using routing::QueueId;

namespace {

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string hex_id(std::uint64_t v) {
  static const char* d = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = d[v & 15];
  return s;
}

// User part of a SIP/tel URI inside a header value ("\"Bob\" <sip:1001@h>;tag=x" -> "1001").
std::string user_of(std::string_view v) {
  auto lt = v.find('<');
  if (lt != std::string_view::npos) v = v.substr(lt + 1);
  for (std::string_view scheme : {"sips:", "sip:", "tel:"}) {
    if (v.substr(0, scheme.size()) == scheme) {
      v.remove_prefix(scheme.size());
      break;
    }
  }
  auto end = v.find_first_of("@;>?:");
  return std::string(v.substr(0, end));
}

std::string display_of(std::string_view v) {
  auto q1 = v.find('"');
  if (q1 == std::string_view::npos) return "";
  auto q2 = v.find('"', q1 + 1);
  if (q2 == std::string_view::npos) return "";
  return std::string(v.substr(q1 + 1, q2 - q1 - 1));
}

// Host of a SIP URI ("sip:400@10.0.0.5:5060;transport=udp" -> "10.0.0.5").
std::string host_of(std::string_view uri) {
  auto at = uri.find('@');
  if (at != std::string_view::npos)
    uri.remove_prefix(at + 1);
  else if (auto c = uri.find(':'); c != std::string_view::npos)
    uri.remove_prefix(c + 1);
  if (!uri.empty() && uri.front() == '[') {
    auto e = uri.find(']');
    return std::string(uri.substr(1, e == std::string_view::npos ? std::string_view::npos : e - 1));
  }
  return std::string(uri.substr(0, uri.find_first_of(":;>?")));
}

bool is_dtmf(char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '*' || c == '#'; }

// "Signal=5\r\nDuration=160" (application/dtmf-relay) or "5" (application/dtmf).
std::optional<char> info_digit(const sip::Message& req) {
  std::string_view body = req.body();
  std::string_view ct = req.header(sip::HeaderId::kContentType);
  if (ct.find("dtmf-relay") != std::string_view::npos) {
    auto p = body.find("Signal");
    if (p == std::string_view::npos) return std::nullopt;
    p = body.find('=', p);
    if (p == std::string_view::npos) return std::nullopt;
    for (++p; p < body.size() && (body[p] == ' ' || body[p] == '\t'); ++p) {
    }
    if (p < body.size() && is_dtmf(body[p])) return body[p];
    return std::nullopt;
  }
  if (ct.find("application/dtmf") != std::string_view::npos) {
    for (char c : body)
      if (is_dtmf(c)) return c;
  }
  return std::nullopt;
}

// API names use '_' ("logged_out", "wrap_up"), like the status values it accepts.
std::string api_name(std::string_view s) {
  std::string out(s);
  for (auto& ch : out)
    if (ch == '-') ch = '_';
  return out;
}
std::string status_name(routing::AgentStatus s) { return api_name(routing::to_string(s)); }

}  // namespace

struct CallCenter::Impl {
  Impl(sip::Stack& s, media::MediaEngine& m, center::Repository& cfg, Sink& sk, common::MetricsRegistry& mr,
       Options o, common::Clock& c)
      : stack(s),
        media(m),
        config(cfg),
        sink(sk),
        metrics(mr),
        options(std::move(o)),
        clock(c),
        prompts(options.prompts_dir),
        engine_timer(s.io()) {
    calls_total = &metrics.counter("hotline_calls_total", "Calls received");
    calls_active = &metrics.gauge("hotline_calls_active", "Calls in progress");
    waiting_gauge = &metrics.gauge("hotline_queue_waiting", "Callers waiting in queues");
    next_id = (static_cast<std::uint64_t>(epoch_ms()) << 12);
    snapshot_timer = std::make_unique<asio::steady_timer>(stack.io());
    // Decoding and resampling a prompt takes milliseconds; do it for every
    // shipped prompt now rather than in front of the first caller.
    prewarm = std::thread([this] {
      std::error_code ec;
      for (const auto& dir : std::filesystem::directory_iterator(options.prompts_dir, ec)) {
        if (!dir.is_directory()) continue;
        for (const auto& f : std::filesystem::directory_iterator(dir.path(), ec)) {
          if (stop_prewarm.load()) return;
          if (f.path().extension() == ".wav")
            (void)prompts.get(dir.path().filename().string(), f.path().stem().string());
        }
      }
    });
  }
  // The live hub asks for snapshots while it holds its own lock, and the
  // loop publishes under that lock: so snapshots come from this cache,
  // refreshed on the loop, never by waiting for the loop.
  // Each cached state carries the live seq it reflects: events published on
  // this loop before it was built are in it, later ones the hub replays.
  void refresh_snapshots() {
    std::map<std::int64_t, live::Hub::Snapshot> fresh;
    for (const auto& [id, t] : tenants) {
      const std::int64_t seq = sink.live_seq(id);
      fresh[id] = live::Hub::Snapshot{realtime(id), seq};
    }
    {
      std::lock_guard lock(snapshot_mu);
      snapshots = std::move(fresh);
    }
    snapshot_timer->expires_after(std::chrono::milliseconds(250));
    std::weak_ptr<bool> a = alive;
    snapshot_timer->async_wait([this, a](boost::system::error_code ec) {
      if (!ec && !a.expired()) refresh_snapshots();
    });
  }
  live::Hub::Snapshot cached_snapshot(std::int64_t tenant) {
    std::lock_guard lock(snapshot_mu);
    auto it = snapshots.find(tenant);
    // Not built yet (a tenant added a moment ago): nothing to reflect.
    if (it == snapshots.end())
      return live::Hub::Snapshot{json{{"queues", json::array()}, {"agents", json::array()}}};
    return it->second;
  }
  std::mutex snapshot_mu;
  std::map<std::int64_t, live::Hub::Snapshot> snapshots;
  std::unique_ptr<asio::steady_timer> snapshot_timer;  // made in the constructor (needs `stack`)

  ~Impl() {
    stop_prewarm = true;
    if (prewarm.joinable()) prewarm.join();
  }
  std::thread prewarm;
  std::atomic<bool> stop_prewarm{false};

  sip::Stack& stack;
  media::MediaEngine& media;
  center::Repository& config;
  Sink& sink;
  common::MetricsRegistry& metrics;
  Options options;
  common::Clock& clock;
  media::PromptLibrary prompts;
  routing::Engine engine;
  asio::steady_timer engine_timer;
  std::unordered_map<std::int64_t, TenantState> tenants;
  std::unordered_map<std::string, std::int64_t> tenant_by_slug;
  std::unordered_map<std::uint64_t, std::unique_ptr<Call>> calls;
  std::unordered_map<std::string, std::uint64_t> by_dialog;    // caller and agent dialogs
  std::unordered_map<sip::ServerTxnId, std::uint64_t> by_txn;  // caller INVITEs not yet answered
  std::unordered_map<std::int64_t, AgentSession> agents;
  std::unordered_map<std::uint64_t, std::uint64_t> by_ix;  // routing interaction -> call
  std::uint64_t next_id = 0;
  std::int64_t event_seq = 0;
  bool pumping = false;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  common::Counter* calls_total;
  common::Gauge* calls_active;
  common::Gauge* waiting_gauge;

  routing::Time now() { return clock.now(); }
  Call* find(std::uint64_t id) {
    auto it = calls.find(id);
    return it == calls.end() ? nullptr : it->second.get();
  }
  // The call a routing interaction belongs to.
  Call* find_ix(std::uint64_t ix) {
    auto it = by_ix.find(ix);
    return it == by_ix.end() ? nullptr : find(it->second);
  }

  // Runs `f` on the loop later (never inside the current handler).
  template <class F>
  void later(F&& f) {
    std::weak_ptr<bool> a = alive;
    asio::post(stack.io(), [a, f = std::forward<F>(f)]() mutable {
      if (!a.expired()) f();
    });
  }

  // ---------------------------------------------------------- tenants ----

  TenantState* tenant(std::int64_t id) {
    auto it = tenants.find(id);
    return it == tenants.end() ? nullptr : &it->second;
  }

  void sync(TenantState& t) {
    auto snap = config.snapshot(t.ref.id);
    if (!snap) return;
    t.snap = snap;
    trunk_sources.clear();
    t.flows.clear();
    ivr::References refs;  // the repository validated references when the flow was saved
    for (const auto& f : snap->flows) {
      auto compiled = ivr::compile(f.definition, refs);
      if (compiled)
        t.flows[f.name] = *compiled;
      else
        spdlog::warn("call: flow '{}' of tenant {} does not compile: {}", f.name, t.ref.slug,
                     compiled.error().message);
    }
    t.calendars.clear();
    for (const auto& c : snap->calendars) {
      auto cal = ivr::Calendar::compile(c.time_zone, c.weekly, c.holidays, c.workdays, c.workday_hours);
      if (cal)
        t.calendars.emplace(c.name, *cal);
      else
        spdlog::warn("call: calendar '{}' unusable: {}", c.name, cal.error().message);
    }
    sync_routing(t, *snap);
    pump();
  }

  void sync_routing(TenantState& t, const center::Snapshot& snap) {
    const auto ts = now();
    // Queues first without overflow (steps may name queues not yet known), then with.
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& q : snap.queues) {
        auto qc = to_queue_config(q, snap);
        if (pass == 0) qc.overflow.clear();
        if (auto st = engine.upsert_queue(qc, ts); !st)
          spdlog::warn("call: queue '{}' not accepted by routing: {}", q.name, st.error().message);
        t.queues.insert(q.id);
      }
    }
    std::set<std::int64_t> live_agents;
    for (const auto& a : snap.agents) {
      if (!a.active) continue;
      live_agents.insert(a.id);
      if (auto st = engine.upsert_agent(to_agent_config(a, snap), ts); !st)
        spdlog::warn("call: agent {} not accepted by routing: {}", a.id, st.error().message);
      t.agents.insert(a.id);
      auto [sit, fresh] = agents.try_emplace(a.id, AgentSession{t.ref.id, a.extension, false});
      if (!fresh && !sit->second.logged_in) sit->second.extension = a.extension;
    }
    for (auto it = t.agents.begin(); it != t.agents.end();) {
      if (live_agents.count(*it) == 0) {
        (void)engine.logout(AgentId{static_cast<std::uint64_t>(*it)}, ts);
        (void)engine.remove_agent(AgentId{static_cast<std::uint64_t>(*it)});
        agents.erase(*it);
        it = t.agents.erase(it);
      } else {
        ++it;
      }
    }
    std::set<std::int64_t> live_queues;
    for (const auto& q : snap.queues) live_queues.insert(q.id);
    for (auto it = t.queues.begin(); it != t.queues.end();) {
      if (live_queues.count(*it) == 0 && engine.remove_queue(QueueId{static_cast<std::uint64_t>(*it)}))
        it = t.queues.erase(it);
      else
        ++it;
    }
  }

  // ---------------------------------------------------------- records ----

  void save(Call& c) { sink.call(c.rec); }

  void publish_call(Call& c) {
    live::Event e;
    e.tenant_id = c.tenant;
    e.type = "call.update";
    e.permission = iam::Permission::ReportsRead;
    e.data = {{"call_id", c.rec.id},
              {"phase", phase_name(c.phase)},
              {"queue", c.queue_name},
              {"agent_id", c.agent},
              {"caller", security::mask_phone(c.rec.caller)},
              {"disposition", c.rec.disposition},
              {"on_hold", c.on_hold},
              {"arrived_ms", c.rec.arrived_ms}};
    if (c.outside) e.data["outside"] = security::mask_phone(c.outside->number);
    sink.live(std::move(e));
  }

  void set_phase(Call& c, CallPhase p) {
    if (c.phase == p) return;
    queued_calls += (p == CallPhase::kQueued) - (c.phase == CallPhase::kQueued);
    c.phase = p;
    if (!c.feature) publish_call(c);
  }

  void save_leg(Call& c, const AgentLeg& l, int sip_status, const std::string& reason) {
    records::CallLeg leg;
    leg.call_id = c.rec.id;
    leg.tenant_id = c.tenant;
    leg.leg_no = l.leg_no;
    leg.role = "agent";
    leg.peer = l.extension;
    leg.agent_id = l.agent;
    leg.started_ms = l.started_ms;
    leg.answered_ms = l.answered_ms;
    leg.ended_ms = l.state == LegState::kEnded ? epoch_ms() : 0;
    leg.sip_status = sip_status;
    leg.end_reason = reason;
    sink.leg(leg);
  }

  // ------------------------------------------------------------ media ----

  std::string lang_dir(const std::string& lang) {
    // Prompt folders are "en", "zh"; flows say "zh-CN".
    auto dash = lang.find('-');
    return dash == std::string::npos ? lang : lang.substr(0, dash);
  }

  std::vector<media::ClipPtr> clips(const Call& c, const std::vector<std::string>& names,
                                    const std::string& lang) {
    std::vector<media::ClipPtr> out;
    const TenantState* t = tenants.count(c.tenant) ? &tenants.at(c.tenant) : nullptr;
    for (const auto& n : names) {
      if (t && t->snap) {
        if (const auto* p = t->snap->prompt(n, lang); p && !p->path.empty()) {
          if (auto clip = media::load_clip(p->path)) {
            out.push_back(*clip);
            continue;
          }
        }
      }
      auto clip = prompts.get(lang_dir(lang), n);
      if (!clip) clip = prompts.get(lang_dir(options.default_language), n);
      if (clip)
        out.push_back(*clip);
      else
        spdlog::warn("call {}: prompt '{}' ({}) missing", c.rec.id, n, lang);
    }
    return out;
  }

  void play(Call& c, std::vector<media::ClipPtr> list, Playing what, bool loop = false) {
    c.playing = what;
    c.playback = ++next_id;
    if (!c.caller_media) return;
    if (list.empty()) {
      // Nothing to play: behave as if it finished at once.
      const auto id = c.id, pb = c.playback;
      later([this, id, pb] { playback_done(id, pb); });
      return;
    }
    c.caller_media->play(std::move(list), loop, c.playback);
  }

  void stop_playing(Call& c) {
    c.playing = Playing::kNothing;
    ++c.playback;
    if (c.caller_media) c.caller_media->silence();
  }

  media::SessionEvents events_for(std::uint64_t id, bool caller) {
    media::SessionEvents ev;
    std::weak_ptr<bool> a = alive;
    auto& io = stack.io();
    ev.on_dtmf = [this, a, &io, id, caller](const media::DtmfDigit& d) {
      if (!caller) return;  // agents' keys are not routed anywhere (yet)
      const char digit = d.digit;
      asio::post(io, [this, a, id, digit] {
        if (!a.expired()) on_digit(id, digit);
      });
    };
    ev.on_playback_done = [this, a, &io, id](std::uint64_t pb) {
      asio::post(io, [this, a, id, pb] {
        if (!a.expired()) playback_done(id, pb);
      });
    };
    ev.on_media_timeout = [this, a, &io, id, caller] {
      asio::post(io, [this, a, id, caller] {
        if (!a.expired()) media_timeout(id, caller);
      });
    };
    return ev;
  }

  // ---------------------------------------------------------- inbound ----

  std::optional<std::int64_t> tenant_for(const sip::Message& invite) {
    const std::string host = host_of(invite.request_uri());
    if (auto it = tenant_by_slug.find(domain_tenant(host)); it != tenant_by_slug.end()) return it->second;
    return std::nullopt;
  }

  std::function<std::string(const std::string&)> domain_to_slug;
  std::string domain_tenant(const std::string& host) { return domain_to_slug ? domain_to_slug(host) : ""; }

  // A registered device of the tenant sending from exactly this flow.
  std::optional<std::string> extension_at(TenantState& t, const sip::Peer& from) {
    auto it = t.extension_by_flow.find(flow_key(from));
    if (it == t.extension_by_flow.end()) return std::nullopt;
    return it->second;
  }

  void on_invite(sip::ServerTxnId txn, const sip::Message& inv, const sip::Peer& from) {
    auto tid = tenant_for(inv);
    TenantState* t = tid ? tenant(*tid) : nullptr;
    if (!t || !t->snap) return stack.reject(txn, 404);
    const std::string dialled = user_of(inv.request_uri());
    const std::string caller = user_of(inv.header(sip::HeaderId::kFrom));
    auto ext = extension_at(*t, from);
    const center::TrunkDef* trunk = t->snap->trunk_for_source(from.ip);
    if (!ext && !trunk) {
      spdlog::info("call: INVITE from {} refused: neither a registered extension nor a trunk", from.str());
      return stack.reject(txn, 403);
    }
    if (ext && dialled.rfind("*30", 0) == 0) return listen_in(*t, txn, inv, *ext, dialled.substr(3));
    if (ext && !dialled.empty() && dialled[0] == '*') return feature_code(*t, txn, inv, *ext, dialled);
    const center::NumberDef* number = t->snap->number(dialled);
    if (!number) return stack.reject(txn, 404);
    auto flow = t->flows.find(number->flow);
    if (flow == t->flows.end()) return stack.reject(txn, 480);
    auto c = std::make_unique<Call>();
    c->id = ++next_id;
    c->tenant = t->ref.id;
    c->invite_txn = txn;
    c->language = number->language.empty() ? options.default_language : number->language;
    c->extension_caller = ext.has_value();
    c->caller_extension = ext.value_or("");
    c->rec.id = hex_id(c->id);
    c->rec.tenant_id = t->ref.id;
    c->rec.direction = ext ? "internal" : "inbound";
    if (trunk) c->trunk = trunk->name;
    c->rec.caller = caller;
    c->rec.caller_name = display_of(inv.header(sip::HeaderId::kFrom));
    c->rec.dialled = dialled;
    c->rec.flow = number->flow;
    c->rec.arrived_ms = epoch_ms();
    c->timer = std::make_unique<asio::steady_timer>(stack.io());
    c->announce = std::make_unique<asio::steady_timer>(stack.io());
    Call& call = *c;
    if (!answer_caller(call, txn, inv)) return;
    calls_total->inc();
    calls.emplace(call.id, std::move(c));
    calls_active->set(static_cast<std::int64_t>(calls.size()));
    start_ivr(call, flow->second, *t);
  }

  // Answers the caller's INVITE with our SDP; false (and a final error
  // response sent) when the offer is unusable.
  bool answer_caller(Call& c, sip::ServerTxnId txn, const sip::Message& inv, bool with_session = true,
                     const media::MediaSession* colocate = nullptr) {
    auto offer = sip::sdp::parse(inv.body());
    if (!offer) {
      stack.reject(txn, inv.body().empty() ? 488 : 400);
      return false;
    }
    std::string addr = media_address_for(inv.request_uri());
    sip::sdp::LocalMedia local;
    local.address = addr;
    local.port = 9;  // any non-zero port: this answer only picks the codec; the real one follows
    auto probe = sip::sdp::answer(*offer, local);
    if (!probe) {
      stack.reject(txn, 488);
      return false;
    }
    auto negotiated = negotiated_params(*offer, *probe);
    if (!negotiated) {
      stack.reject(txn, 488);
      return false;
    }
    media::SessionParams p = *negotiated;
    if (!with_session) return true;
    auto session = media.create_session(p, events_for(c.id, true), colocate);
    if (!session) {
      spdlog::error("call: no media session: {}", session.error().message);
      stack.reject(txn, 503);
      return false;
    }
    c.caller_media = *session;
    c.codec = p.codec;
    c.media_address = addr;
    local.port = c.caller_media->local_port();
    auto ans = sip::sdp::answer(*offer, local);
    sip::Dialog* d = stack.answer(txn, 200, ans->str());
    if (!d) {
      c.caller_media->close();
      return false;
    }
    c.caller_dialog = d->key();
    by_dialog[c.caller_dialog] = c.id;
    return true;
  }

  // Our session's media parameters from a remote offer and our answer to it
  // (the first accepted audio stream); nullopt when nothing was accepted.
  std::optional<media::SessionParams> negotiated_params(const sip::sdp::Session& offer,
                                                        const sip::sdp::Session& answer) const {
    std::size_t mi = 0;
    for (; mi < answer.media.size(); ++mi)
      if (answer.media[mi].port != 0) break;
    if (mi >= answer.media.size() || mi >= offer.media.size() || answer.media[mi].codecs.empty())
      return std::nullopt;
    media::SessionParams p;
    p.remote_address = offer.connection_for(mi);
    p.remote_port = offer.media[mi].port;
    const auto& codec = answer.media[mi].codecs.front();
    p.codec = codec.name == "PCMA" || codec.payload_type == sip::sdp::kPcma ? media::Codec::pcma
                                                                            : media::Codec::pcmu;
    p.payload_type = static_cast<std::uint8_t>(codec.payload_type);
    p.telephone_event_pt = -1;
    for (const auto& cd : answer.media[mi].codecs)
      if (cd.name == "telephone-event") p.telephone_event_pt = cd.payload_type;
    if (offer.media[mi].ptime > 0) p.ptime_ms = offer.media[mi].ptime;
    p.media_timeout = options.media_timeout;
    return p;
  }

  std::string media_address_for(std::string_view request_uri) {
    std::string a = options.media_address.empty() ? stack.config().advertised_address : options.media_address;
    if (a.empty()) a = host_of(request_uri);
    if (a.empty() || a == "0.0.0.0" || a.find_first_not_of("0123456789.:abcdefABCDEF") != std::string::npos)
      a = "127.0.0.1";
    return a;
  }

  // ------------------------------------------------------------- IVR ----

  void start_ivr(Call& c, std::shared_ptr<const ivr::Flow> flow, TenantState& t) {
    ivr::Environment env;
    const std::int64_t tid = t.ref.id;
    env.is_open = [this, tid](const std::string& cal) {
      TenantState* ts = tenant(tid);
      if (!ts) return true;
      auto it = ts->calendars.find(cal);
      return it == ts->calendars.end() ? true : it->second.is_open(std::chrono::system_clock::now());
    };
    env.lookup = [this, tid](const std::string& number) {
      ivr::CallerInfo info;
      TenantState* ts = tenant(tid);
      if (!ts || !ts->snap) return info;
      if (const auto* cu = ts->snap->customer_by_phone(number)) {
        info.known = true;
        info.vip = cu->vip;
        info.blocked = cu->blocked;
        info.customer_id = cu->id;
        info.priority = cu->priority;
        info.language = cu->language;
        info.name = cu->name;
      }
      return info;
    };
    c.runner.emplace(std::move(flow), c.rec.caller, c.rec.dialled, c.language, std::move(env));
    set_phase(c, CallPhase::kIvr);
    publish_call(c);
    save(c);
    run(c, c.runner->start());
  }

  void run(Call& c, ivr::Action a) {
    using K = ivr::Action::Kind;
    if (a.kind == K::kPlay && a.prompts.empty() && c.action.kind == K::kPlay && c.playing == Playing::kIvr)
      return;  // a key during a plain prompt: keep playing
    if (!a.language.empty()) c.language = a.language;
    c.action = a;
    if (a.kind == K::kCollect && a.prompts.empty()) return arm_collect_timeout(c);
    play(c, clips(c, a.prompts, c.language), Playing::kIvr);
  }

  void arm_collect_timeout(Call& c) {
    const auto id = c.id;
    const auto pb = c.playback;
    c.timer->expires_after(c.action.timeout);
    c.timer->async_wait([this, id, pb](boost::system::error_code ec) {
      if (ec) return;
      Call* call = find(id);
      if (!call || call->phase != CallPhase::kIvr || call->playback != pb) return;
      run(*call, call->runner->on_timeout());
    });
  }

  void ivr_played(Call& c) {
    using K = ivr::Action::Kind;
    switch (c.action.kind) {
      case K::kPlay:
        return run(c, c.runner->on_played());
      case K::kCollect:
        return arm_collect_timeout(c);
      default:
        return ivr_terminal(c);
    }
  }

  void ivr_terminal(Call& c) {
    using K = ivr::Action::Kind;
    c.rec.ivr_left_ms = epoch_ms();
    std::string path;
    for (const auto& n : c.runner->path()) path += (path.empty() ? "" : ",") + n;
    c.rec.ivr_path = path;
    const auto& info = c.runner->caller_info();
    if (info.customer_id) c.rec.customer_id = info.customer_id;
    if (!info.name.empty() && c.rec.caller_name.empty()) c.rec.caller_name = info.name;
    switch (c.action.kind) {
      case K::kQueue:
        return enqueue(c, c.action.queue, c.action);
      case K::kVoicemail:
        return start_voicemail(c, c.action.mailbox);
      case K::kTransfer:
        return dial_outside(c, c.action.number, c.action.trunk);
      default:
        return goodbye(c, info.blocked ? "blocked" : (c.rec.disposition.empty() ? "ivr" : c.rec.disposition),
                       "flow hangup", false);
    }
  }

  void on_digit(std::uint64_t id, char d) {
    Call* c = find(id);
    if (!c) return;
    switch (c->phase) {
      case CallPhase::kIvr:
        if (c->action.kind == ivr::Action::Kind::kCollect) {
          if (c->playing == Playing::kIvr) stop_playing(*c);
          c->timer->cancel();
          run(*c, c->runner->on_digit(d));
        } else {
          run(*c, c->runner->on_digit(d));
        }
        return;
      case CallPhase::kQueued:
        return queue_key(*c, d);
      case CallPhase::kCallbackConfirm:
        return callback_key(*c, d);
      default:
        return;
    }
  }

  void playback_done(std::uint64_t id, std::uint64_t pb) {
    Call* c = find(id);
    if (!c || c->playback != pb) return;
    const Playing what = c->playing;
    c->playing = Playing::kNothing;
    switch (what) {
      case Playing::kIvr:
        if (c->phase == CallPhase::kIvr) ivr_played(*c);
        return;
      case Playing::kAnnouncement:
        if (c->phase == CallPhase::kQueued) play_moh(*c);
        return;
      case Playing::kGoodbye:
      case Playing::kTone:
        return hangup_caller(*c);
      case Playing::kVoicemailPrompt:
        if (c->phase == CallPhase::kVoicemail) voicemail_beep(*c);
        return;
      case Playing::kBeep:
        if (c->phase == CallPhase::kVoicemail) voicemail_record(*c);
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------ queue ----

  const center::QueueDef* queue_def(const Call& c, const std::string& name) {
    TenantState* t = tenant(c.tenant);
    return t && t->snap ? t->snap->queue(name) : nullptr;
  }

  void enqueue(Call& c, const std::string& name, const ivr::Action& a) {
    const center::QueueDef* q = queue_def(c, name);
    TenantState* t = tenant(c.tenant);
    if (!q || !t) return goodbye(c, "failed", "unknown queue " + name);
    c.queue_id = q->id;
    c.queue_name = q->name;
    c.rec.queue = q->name;
    if (c.rec.queued_ms == 0) c.rec.queued_ms = epoch_ms();
    routing::InteractionSpec spec;
    if (c.ix != 0) by_ix.erase(c.ix);
    c.ix = ++next_id;  // a new routing entry (first queue, or a transfer to another)
    by_ix[c.ix] = c.id;
    spec.id = InteractionId{c.ix};
    spec.queue = QueueId{static_cast<std::uint64_t>(q->id)};
    spec.tenant = static_cast<std::uint32_t>(c.tenant);
    spec.customer = static_cast<std::uint64_t>(c.rec.customer_id);
    spec.priority = a.priority + q->priority;
    if (c.preferred_agent) {
      spec.preferred_agent = AgentId{static_cast<std::uint64_t>(c.preferred_agent)};
      spec.preferred_wait = std::chrono::seconds(std::max(5, q->ring_timeout_s * 2));
      c.preferred_agent = 0;
    }
    if (c.rec.queued_ms != 0) spec.arrival = c.spec.arrival;  // a transfer keeps the original arrival
    c.rec.priority = spec.priority;
    for (const auto& [k, v] : a.attributes) spec.attributes.push_back({k, v});
    for (const auto& s : a.skills) {
      if (auto sid = skill_id(*t->snap, s.skill)) spec.required_skills.push_back({*sid, s.level});
    }
    set_phase(c, CallPhase::kQueued);
    save(c);
    auto outcome = engine.enqueue(spec, now());
    if (!outcome) {
      spdlog::warn("call {}: enqueue failed: {}", c.rec.id, outcome.error().message);
      return goodbye(c, "failed", outcome.error().message);
    }
    c.spec = spec;
    if (c.spec.arrival == routing::Time{}) c.spec.arrival = now();
    c.routed =
        *outcome == routing::EnqueueOutcome::kQueued || *outcome == routing::EnqueueOutcome::kRedirected;
    // Offer first (an agent may be free now), then the caller's announcement.
    pump();
    if (c.routed && c.phase == CallPhase::kQueued) {
      if (q->announce_interval_s > 0 && (q->announce_position || q->announce_wait))
        announce(c);
      else
        play_moh(c);
      arm_announcements(c);
    }
  }

  void play_moh(Call& c) {
    const center::QueueDef* q = queue_def(c, c.queue_name);
    auto list = clips(c, {q ? q->moh_prompt : "moh"}, c.language);
    if (list.empty()) {
      c.playing = Playing::kMoh;
      c.playback = ++next_id;
      if (c.caller_media) c.caller_media->play_tone(media::ToneSpec::ringback_cn(), c.playback);
      return;
    }
    play(c, std::move(list), Playing::kMoh, true);
  }

  std::size_t position(const Call& c) {
    std::size_t ahead = 0;
    for (const auto& [id, o] : calls) {
      if (o.get() == &c || o->phase != CallPhase::kQueued || o->queue_id != c.queue_id) continue;
      if (o->rec.priority > c.rec.priority ||
          (o->rec.priority == c.rec.priority && o->rec.queued_ms < c.rec.queued_ms))
        ++ahead;
    }
    return ahead;
  }

  void announce(Call& c) {
    const center::QueueDef* q = queue_def(c, c.queue_name);
    if (!q) return play_moh(c);
    const std::string lang = lang_dir(c.language);
    std::vector<media::ClipPtr> list;
    auto add = [&](std::vector<media::ClipPtr> v) { list.insert(list.end(), v.begin(), v.end()); };
    const std::size_t pos = position(c);
    if (q->announce_position) {
      add(clips(c, {"queue_position"}, c.language));
      if (auto n = prompts.say_number(lang, pos + 1)) add(*n);
      add(clips(c, {"in_queue"}, c.language));
    }
    if (q->announce_wait) {
      auto ewt = engine.estimated_wait(QueueId{static_cast<std::uint64_t>(q->id)}, pos);
      const auto minutes =
          ewt ? std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::minutes>(*ewt).count() + 1)
              : 1;
      add(clips(c, {"estimated_wait"}, c.language));
      if (auto n = prompts.say_number(lang, static_cast<std::uint64_t>(minutes))) add(*n);
      add(clips(c, {"minutes"}, c.language));
    }
    if (q->callback_key) add(clips(c, {"callback_offer"}, c.language));
    play(c, std::move(list), Playing::kAnnouncement);
  }

  void arm_announcements(Call& c) {
    const center::QueueDef* q = queue_def(c, c.queue_name);
    if (!q || q->announce_interval_s <= 0) return;
    const auto id = c.id;
    c.announce->expires_after(std::chrono::seconds(q->announce_interval_s));
    c.announce->async_wait([this, id](boost::system::error_code ec) {
      if (ec) return;
      Call* call = find(id);
      if (!call || call->phase != CallPhase::kQueued) return;
      if (call->offers.empty()) announce(*call);  // not over an agent's ringing
      arm_announcements(*call);
    });
  }

  void queue_key(Call& c, char d) {
    const center::QueueDef* q = queue_def(c, c.queue_name);
    if (!q) return;
    if (d == '1' && q->callback_key) {
      set_phase(c, CallPhase::kCallbackConfirm);
      // "We will call you back at <number>: press 1 to confirm, 2 to keep waiting."
      std::vector<media::ClipPtr> list = clips(c, {"callback_confirm"}, c.language);
      if (auto n = prompts.say_digits(lang_dir(c.language), c.rec.caller))
        list.insert(list.end(), n->begin(), n->end());
      play(c, std::move(list), Playing::kIvr);
    } else if (d == '0' && q->voicemail_key) {
      withdraw_from_routing(c);
      start_voicemail(c, c.queue_name);
    }
  }

  void callback_key(Call& c, char d) {
    if (d == '1') {
      if (auto st = engine.convert_to_callback(InteractionId{c.ix}, now()); !st) {
        spdlog::warn("call {}: callback refused: {}", c.rec.id, st.error().message);
        set_phase(c, CallPhase::kQueued);
        return play_moh(c);
      }
      c.rec.disposition = "callback";
      c.rec.direction = "callback";
      c.callback = true;
      pump();
      return goodbye(c, "callback", "callback requested", true);
    }
    set_phase(c, CallPhase::kQueued);
    play_moh(c);
  }

  // The caller leaves routing without an agent (voicemail key, hang-up).
  void withdraw_from_routing(Call& c) {
    if (!c.routed) return;
    c.routed = false;
    (void)engine.abandoned(InteractionId{c.ix}, now());
    pump();
  }

  // -------------------------------------------------------- voicemail ----

  // Prompt, beep, then the caller's audio is recorded (encrypted) until they
  // hang up or max_message_s passes. The file is the recorder's stereo
  // format with the caller on the left and a silent right channel (a
  // companion session that never receives anything).
  void start_voicemail(Call& c, const std::string& mailbox) {
    c.announce->cancel();
    c.timer->cancel();
    c.mailbox = mailbox.empty() ? c.queue_name : mailbox;
    c.rec.queue = c.mailbox;
    c.rec.disposition = "voicemail";
    set_phase(c, CallPhase::kVoicemail);
    play(c, clips(c, {"voicemail_prompt"}, c.language), Playing::kVoicemailPrompt);
  }

  void voicemail_beep(Call& c) {
    c.playing = Playing::kBeep;
    c.playback = ++next_id;
    if (c.caller_media) c.caller_media->play_tone(media::ToneSpec{1000, 0, -13, {}, 400}, c.playback);
  }

  void voicemail_record(Call& c) {
    if (!options.recording_kek || !c.caller_media) {
      spdlog::warn("call {}: voicemail cannot be recorded without recording.kek", c.rec.id);
      return goodbye(c, "voicemail_failed", "no recording key");
    }
    media::SessionParams p;
    p.codec = c.codec;
    p.payload_type = static_cast<std::uint8_t>(c.codec);
    p.media_timeout = std::chrono::milliseconds(0);
    auto companion = media.create_session(p, {}, c.caller_media.get());
    if (!companion) return goodbye(c, "voicemail_failed", companion.error().message);
    c.companion = *companion;
    if (!begin_recording(c, *c.caller_media, *c.companion, "voicemail"))
      return goodbye(c, "voicemail_failed", "");
    const center::QueueDef* q = queue_def(c, c.mailbox);
    const int max_s =
        c.action.kind == ivr::Action::Kind::kVoicemail ? c.action.max_message_s : (q ? 120 : 120);
    const auto id = c.id;
    c.timer->expires_after(std::chrono::seconds(std::max(5, max_s)));
    c.timer->async_wait([this, id](boost::system::error_code ec) {
      if (ec) return;
      if (Call* call = find(id); call && call->phase == CallPhase::kVoicemail) hangup_caller(*call);
    });
  }

  // Announces a new voicemail to the tenant's supervisors (live event).
  void announce_voicemail(Call& c) {
    live::Event e;
    e.tenant_id = c.tenant;
    e.type = "voicemail.new";
    e.permission = iam::Permission::ReportsRead;
    e.data = {{"call_id", c.rec.id},
              {"recording_id", c.rec.recording_id},
              {"queue", c.mailbox},
              {"caller", security::mask_phone(c.rec.caller)},
              {"customer_id", c.rec.customer_id},
              {"duration_ms", c.recording_info.ended_ms - c.recording_info.started_ms}};
    sink.live(std::move(e));
  }

  // ---------------------------------------------------------- offers ----

  void offer(Call& c, std::int64_t agent_id, bool callback) {
    auto sit = agents.find(agent_id);
    TenantState* t = tenant(c.tenant);
    const std::vector<sip::Binding>* devices = nullptr;
    if (sit != agents.end() && t) {
      auto dit = t->devices.find(sit->second.extension);
      if (dit != t->devices.end() && !dit->second.empty()) devices = &dit->second;
    }
    const bool agent_first = callback || c.phase == CallPhase::kCallbackWaiting;
    if (!devices || (!agent_first && !c.caller_media)) {
      // No phone to ring: count as not answered (the engine moves on, and
      // sets the agent not ready after max_consecutive_misses).
      later([this, ix = c.ix, agent_id] {
        if (auto st =
                engine.no_answer(InteractionId{ix}, AgentId{static_cast<std::uint64_t>(agent_id)}, now());
            st)
          pump();
      });
      return;
    }
    auto session = media.create_session(leg_params(c), events_for(c.id, false),
                                        agent_first ? nullptr : c.caller_media.get());
    if (!session) {
      spdlog::error("call {}: no media session for agent leg: {}", c.rec.id, session.error().message);
      later([this, ix = c.ix, agent_id] {
        if (engine.declined(InteractionId{ix}, AgentId{static_cast<std::uint64_t>(agent_id)}, now())) pump();
      });
      return;
    }
    AgentLeg leg;
    leg.agent = agent_id;
    leg.extension = sit->second.extension;
    leg.media = *session;
    leg.leg_no = ++c.legs;
    leg.started_ms = epoch_ms();
    const std::string sdp = sip::sdp::offer(local_media(c, *leg.media)).str();
    const std::string caller = c.rec.caller.empty() ? "anonymous" : c.rec.caller;
    sip::Stack::InviteOptions opts;
    opts.from_display = c.rec.caller_name.empty() ? caller : c.rec.caller_name;
    opts.headers.push_back({"X-Hotline-Interaction", c.rec.id});
    opts.headers.push_back({"X-Hotline-Queue", c.queue_name});
    if (agent_first) {
      opts.from_display = "Callback " + caller;
      opts.headers.push_back({"X-Hotline-Callback", caller});
    }
    const auto id = c.id;
    AgentLeg& placed = c.offers[agent_id] = std::move(leg);
    // Every registered device rings (a desk phone and a softphone, say).
    for (std::size_t i = 0; i < devices->size(); ++i) {
      const sip::Binding& b = (*devices)[i];
      placed.forks.push_back(stack.invite(
          b.flow, b.contact, "sip:" + caller + "@" + c.media_address,
          "sip:" + placed.extension + "@" + host_of(b.contact), sdp,
          [this, id, agent_id, i](sip::Dialog* d, const sip::ClientResult& r) {
            agent_response(id, agent_id, i, d, r);
          },
          opts));
      ++placed.forks_pending;
    }
    if (c.rec.offered_ms == 0) c.rec.offered_ms = epoch_ms();
    ++c.rec.offers;
  }

  // CANCELs the ringing devices of a leg except `keep` (the one that answered).
  void cancel_forks(AgentLeg& leg, std::size_t keep = SIZE_MAX) {
    for (std::size_t i = 0; i < leg.forks.size(); ++i)
      if (i != keep) stack.cancel(leg.forks[i]);
  }

  // RFC 3261 §16.7: a 6xx wins, then busy (486), then whatever came first.
  static int better_failure(int current, int status) {
    auto rank = [](int s) { return s >= 600 ? 3 : s == 486 ? 2 : s != 0 ? 1 : 0; };
    return rank(status) > rank(current) ? status : current;
  }

  void agent_response(std::uint64_t id, std::int64_t agent_id, std::size_t fork, sip::Dialog* d,
                      const sip::ClientResult& r) {
    Call* c = find(id);
    AgentLeg* leg = nullptr;
    if (c) {
      auto it = c->offers.find(agent_id);
      if (it != c->offers.end()) leg = &it->second;
    }
    const int status = r.kind == sip::ClientResult::kResponse ? r.response->status() : 408;
    if (status < 200) return;
    if (!leg || leg->state == LegState::kEnded) {
      if (d && status < 300) stack.hangup(*d);  // too late: the call is gone or moved on
      return;
    }
    if (leg->state == LegState::kAnswered) {
      // A retransmitted 2xx (the phone did not see our ACK yet: the stack
      // re-sends it), a second device answering too (it gets a BYE), or a
      // cancelled device's 487.
      if (d && status < 300 && d->key() != leg->dialog) stack.hangup(*d);
      return;
    }
    if (status < 300) {
      cancel_forks(*leg, fork);
      return agent_answered(*c, *leg, d, *r.response);
    }
    leg->best_failure = better_failure(leg->best_failure, status);
    if (--leg->forks_pending > 0) return;  // other devices are still ringing
    agent_failed(*c, *leg, leg->best_failure);
  }

  // No device of the agent answered: the offer is declined or missed.
  void agent_failed(Call& c, AgentLeg& leg, int status) {
    const std::int64_t agent_id = leg.agent;
    const bool cancelled = leg.cancel_requested;
    leg.state = LegState::kEnded;
    save_leg(c, leg, status, cancelled ? "cancelled" : "not answered");
    if (leg.media) leg.media->close();
    c.offers.erase(agent_id);  // `leg` is gone from here on
    if (cancelled) return;
    const auto ix = InteractionId{c.ix};
    const auto ag = AgentId{static_cast<std::uint64_t>(agent_id)};
    // Busy or declined by the person; unreachable or timed out by the device.
    const bool declined = status == 486 || status == 600 || status == 603;
    auto st = declined ? engine.declined(ix, ag, now()) : engine.no_answer(ix, ag, now());
    if (!st) spdlog::debug("call {}: offer outcome not accepted: {}", c.rec.id, st.error().message);
    pump();
  }

  void agent_answered(Call& c, AgentLeg& leg, sip::Dialog* d, const sip::Message& resp) {
    if (!d) return;
    const bool callback = c.phase == CallPhase::kCallbackWaiting;
    if (leg.cancel_requested ||
        (c.phase != CallPhase::kQueued && c.phase != CallPhase::kCallbackConfirm && !callback)) {
      leg.state = LegState::kEnded;
      save_leg(c, leg, 200, "answered after cancel");
      if (leg.media) leg.media->close();
      c.offers.erase(leg.agent);
      stack.hangup(*d);
      return;
    }
    leg.dialog = d->key();
    leg.state = LegState::kAnswered;
    leg.answered_ms = epoch_ms();
    by_dialog[leg.dialog] = c.id;
    if (auto ans = sip::sdp::parse(resp.body()); ans) {
      if (auto n = sip::sdp::negotiated(*ans); n) leg.media->set_remote(n->remote_address, n->remote_port);
    }
    if (auto st = engine.answered(InteractionId{c.ix}, AgentId{static_cast<std::uint64_t>(leg.agent)}, now());
        !st) {
      spdlog::warn("call {}: answer not accepted by routing: {}", c.rec.id, st.error().message);
      leg.state = LegState::kEnded;
      by_dialog.erase(leg.dialog);
      leg.media->close();
      std::string key = leg.dialog;
      c.offers.erase(leg.agent);
      if (sip::Dialog* dd = stack.dialogs().find(key)) stack.hangup(*dd);
      return;
    }
    if (callback) {
      c.agent = leg.agent;
      c.rec.agent_id = leg.agent;
      c.rec.agent_extension = leg.extension;
      save_leg(c, leg, 200, "");
      dial_customer(c, leg);
    } else {
      connect(c, leg);
    }
    pump();
  }

  void connect(Call& c, AgentLeg& leg) {
    c.announce->cancel();
    stop_playing(c);
    c.agent = leg.agent;
    c.rec.agent_id = leg.agent;
    c.rec.agent_extension = leg.extension;
    c.rec.answered_ms = leg.answered_ms;
    c.rec.disposition = "answered";
    if (auto st = media.bridge(*c.caller_media, *leg.media); !st)
      spdlog::error("call {}: bridge failed: {}", c.rec.id, st.error().message);
    set_phase(c, CallPhase::kConnected);
    start_recording(c, leg);
    save_leg(c, leg, 200, "");
    save(c);
  }

  void start_recording(Call& c, AgentLeg& leg) {
    const center::QueueDef* q = queue_def(c, c.queue_name);
    if (!q || !q->record || !c.caller_media) return;
    if (!options.recording_kek) {
      spdlog::warn("call {}: queue '{}' records calls but no recording key is configured", c.rec.id, q->name);
      return;
    }
    begin_recording(c, *c.caller_media, *leg.media, "call");
  }

  bool begin_recording(Call& c, const media::MediaSession& left, const media::MediaSession& right,
                       const std::string& kind) {
    if (!options.recording_kek) return false;
    media::MediaEngine::RecordingOptions ro;
    const std::string rid = hex_id(++next_id);
    ro.path = options.recordings_dir + "/" + rid + ".hlrec";
    ro.kek = *options.recording_kek;
    ro.cipher = options.recording_cipher;
    auto h = media.start_recording(left, right, ro);
    if (!h) {
      spdlog::error("call {}: recording failed to start: {}", c.rec.id, h.error().message);
      return false;
    }
    c.recording = std::move(*h);
    c.rec.recording_id = rid;
    auto& info = c.recording_info;
    info.id = rid;
    info.tenant_id = c.tenant;
    info.call_id = c.rec.id;
    info.kind = kind;
    info.path = ro.path;
    info.cipher = media::cipher_name(ro.cipher);
    info.started_ms = epoch_ms();
    info.queue = c.queue_name;
    info.customer_id = c.rec.customer_id;
    if (kind == "voicemail") info.queue = c.mailbox;
    sink.recording(info);
    return true;
  }

  void stop_recording(Call& c) {
    if (!c.recording) return;
    auto done = c.recording->stop();
    c.recording.reset();
    c.recording_info.ended_ms = epoch_ms();
    sink.recording(c.recording_info);
    // The writer finishes (flush, fsync, close) on its own thread; the final
    // size and any error are recorded when it is done, without blocking here.
    pending_recordings.push_back({std::move(done), c.recording_info});
    if (pending_recordings.size() == 1) poll_recordings();
  }

  struct PendingRecording {
    std::future<common::Status> done;
    records::RecordingInfo info;
  };
  std::vector<PendingRecording> pending_recordings;
  std::unique_ptr<asio::steady_timer> recordings_timer;

  void poll_recordings() {
    std::erase_if(pending_recordings, [this](PendingRecording& r) {
      if (r.done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return false;
      const common::Status st = r.done.get();
      if (!st)
        spdlog::error("recording {} of call {} failed: {}", r.info.id, r.info.call_id, st.error().message);
      std::error_code ec;
      const auto size = std::filesystem::file_size(r.info.path, ec);
      r.info.bytes = ec ? 0 : static_cast<std::int64_t>(size);
      sink.recording(r.info);
      return true;
    });
    if (pending_recordings.empty()) return;
    if (!recordings_timer) recordings_timer = std::make_unique<asio::steady_timer>(stack.io());
    recordings_timer->expires_after(std::chrono::milliseconds(200));
    std::weak_ptr<bool> a = alive;
    recordings_timer->async_wait([this, a](boost::system::error_code ec) {
      if (!ec && !a.expired()) poll_recordings();
    });
  }

  void cancel_offer(Call& c, std::int64_t agent_id) {
    auto it = c.offers.find(agent_id);
    if (it == c.offers.end() || it->second.state != LegState::kRinging) return;
    it->second.cancel_requested = true;
    // A device without a provisional response yet cannot be CANCELled
    // (§9.1); its late 2xx is answered with BYE in agent_answered().
    cancel_forks(it->second);
  }

  // -------------------------------------------------------- endings ----

  // Final prompt, then BYE. `keep_routing` leaves the routing entry alone
  // (callbacks stay queued after the caller hangs up).
  void goodbye(Call& c, const std::string& disposition, const std::string& reason,
               bool keep_routing = false) {
    if (!keep_routing) withdraw_from_routing(c);
    c.announce->cancel();
    c.timer->cancel();
    if (c.rec.disposition.empty() || c.rec.disposition != "callback") c.rec.disposition = disposition;
    c.rec.end_reason = reason;
    set_phase(c, CallPhase::kGoodbye);
    play(c, clips(c, {"goodbye"}, c.language), Playing::kGoodbye);
  }

  void hangup_caller(Call& c) {
    std::string key = c.caller_dialog;
    by_dialog.erase(key);
    if (sip::Dialog* d = stack.dialogs().find(key)) stack.hangup(*d);
    caller_gone(c, "hotline hangup");
  }

  // The caller's leg is over (their BYE, our BYE, media timeout).
  void caller_gone(Call& c, const std::string& reason) {
    if (c.phase == CallPhase::kEnded) return;
    c.announce->cancel();
    c.timer->cancel();
    if (c.callback && c.phase == CallPhase::kGoodbye) return await_callback(c);
    if (c.phase == CallPhase::kQueued || c.phase == CallPhase::kCallbackConfirm) {
      if (c.routed) {
        c.routed = false;
        (void)engine.abandoned(InteractionId{c.ix}, now());
      }
      c.rec.disposition = "abandoned";
    } else if (c.phase == CallPhase::kIvr && c.rec.disposition.empty()) {
      c.rec.disposition = "abandoned_ivr";
    }
    for (auto& [agent_id, leg] : c.offers) {
      if (leg.state == LegState::kRinging) {
        leg.cancel_requested = true;
        cancel_forks(leg);
      } else if (leg.state == LegState::kAnswered) {
        end_agent_leg(c, leg, "caller hangup");
      }
    }
    if (c.phase == CallPhase::kConnected && c.rec.end_reason.empty()) c.rec.end_reason = "caller hangup";
    if (c.rec.end_reason.empty()) c.rec.end_reason = reason;
    finish(c);
    pump();
  }

  // The caller hung up after asking for a callback: the call waits in routing
  // (virtual hold) without a caller leg until an agent takes it.
  void await_callback(Call& c) {
    by_dialog.erase(c.caller_dialog);
    c.caller_dialog.clear();
    if (c.caller_media) c.caller_media->close();
    c.caller_media.reset();
    c.playing = Playing::kNothing;
    set_phase(c, CallPhase::kCallbackWaiting);
    save(c);
    pump();
  }

  // `name` (an IVR transfer node's trunk), else the trunk the call came in
  // on, else the tenant's first trunk with an outbound host.
  const center::TrunkDef* outbound_trunk(const Call& c, const std::string& name = "") {
    TenantState* t = tenant(c.tenant);
    if (!t || !t->snap) return nullptr;
    if (!name.empty()) {
      const auto* tr = t->snap->trunk(name);
      return tr && !tr->host.empty() ? tr : nullptr;
    }
    if (const auto* tr = t->snap->trunk(c.trunk); tr && !tr->host.empty()) return tr;
    for (const auto& tr : t->snap->trunks)
      if (!tr.host.empty()) return &tr;
    return nullptr;
  }

  // Agent-first callback: the agent answered; now call the customer through
  // a trunk and bridge them when they answer.
  void dial_customer(Call& c, AgentLeg& leg) {
    const center::TrunkDef* trunk = outbound_trunk(c);
    if (!trunk) return callback_attempt_failed(c, leg, "no trunk with an outbound host");
    auto session = media.create_session(leg_params(c), events_for(c.id, true), leg.media.get());
    if (!session) return callback_attempt_failed(c, leg, session.error().message);
    c.pending_customer = *session;
    leg.media->play_tone(media::ToneSpec::ringback_cn(), ++next_id);
    const sip::sdp::LocalMedia local = local_media(c, *c.pending_customer);
    const auto id = c.id;
    c.callback_dialing = true;
    c.customer_txn = invite_via_trunk(
        *trunk, c.rec.caller, trunk->caller_id.empty() ? std::string("hotline") : trunk->caller_id,
        c.media_address, sip::sdp::offer(local).str(),
        [this, id](sip::Dialog* d, const sip::ClientResult& r) { customer_response(id, d, r); });
  }

  // An INVITE to `number` at the trunk's outbound host.
  sip::ClientTxnId invite_via_trunk(const center::TrunkDef& trunk, const std::string& number,
                                    const std::string& from_user, const std::string& our_address,
                                    const std::string& sdp,
                                    std::function<void(sip::Dialog*, const sip::ClientResult&)> handler) {
    sip::Peer to;
    to.transport = trunk.transport == "tcp" ? sip::Transport::kTcp : sip::Transport::kUdp;
    to.ip = trunk.host;
    to.port = static_cast<std::uint16_t>(trunk.port);
    const std::string uri = "sip:" + number + "@" + trunk.host + ":" + std::to_string(trunk.port);
    const std::string from = "sip:" + from_user + "@" + our_address;
    sip::Stack::InviteOptions opts;
    if (!trunk.username.empty())  // the carrier challenges us (401/407): answered once with these
      opts.credentials = sip::Stack::InviteOptions::Credentials{trunk.username, trunk.password};
    return stack.invite(to, uri, from, uri, sdp, std::move(handler), opts);
  }

  sip::sdp::LocalMedia local_media(const Call& c, const media::MediaSession& session) const {
    sip::sdp::LocalMedia local;
    local.address = c.media_address;
    local.port = session.local_port();
    local.codecs = {c.codec == media::Codec::pcma ? sip::sdp::Codec{sip::sdp::kPcma, "PCMA", 8000, 1, {}}
                                                  : sip::sdp::Codec{sip::sdp::kPcmu, "PCMU", 8000, 1, {}}};
    return local;
  }

  media::SessionParams leg_params(const Call& c) const {
    media::SessionParams p;
    p.codec = c.codec;
    p.payload_type = static_cast<std::uint8_t>(c.codec);
    p.telephone_event_pt = 101;
    p.media_timeout = options.media_timeout;
    return p;
  }

  // ------------------------------------------------ outside numbers ----

  // What may be sent to a trunk: 1–32 digits with an optional leading '+'
  // (the IVR transfer node's rule). No URIs and no other hosts, so a crafted
  // Refer-To cannot make Hotline call anywhere else.
  static bool dialable(std::string_view n) {
    if (!n.empty() && n.front() == '+') n.remove_prefix(1);
    if (n.empty() || n.size() > 32) return false;
    for (char ch : n)
      if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
    return true;
  }

  // Transfer to an outside number through the call's trunk (or the
  // tenant's first outbound one): the caller hears ringback, then is
  // bridged to the number; either side hanging up ends both.
  void dial_outside(Call& c, const std::string& number, const std::string& trunk_name = "") {
    c.announce->cancel();
    c.timer->cancel();
    const center::TrunkDef* trunk = outbound_trunk(c, trunk_name);
    if (!dialable(number)) return goodbye(c, "transfer_failed", "not a dialable number: " + number);
    if (!trunk) return goodbye(c, "transfer_failed", "no trunk with an outbound host");
    if (!c.caller_media) return goodbye(c, "transfer_failed", "no caller media");
    auto session = media.create_session(leg_params(c), events_for(c.id, false), c.caller_media.get());
    if (!session) return goodbye(c, "transfer_failed", session.error().message);
    OutsideLeg leg;
    leg.number = number;
    leg.media = *session;
    leg.leg_no = ++c.legs;
    leg.started_ms = epoch_ms();
    c.outside = std::move(leg);
    c.rec.disposition = "transferred";
    set_phase(c, CallPhase::kOutside);
    c.playing = Playing::kRingback;
    c.playback = ++next_id;
    c.caller_media->play_tone(media::ToneSpec::ringback_cn(), c.playback);
    const std::string from_user =
        !trunk->caller_id.empty() ? trunk->caller_id : (c.rec.caller.empty() ? "anonymous" : c.rec.caller);
    const auto id = c.id;
    c.outside->txn = invite_via_trunk(
        *trunk, number, from_user, c.media_address, sip::sdp::offer(local_media(c, *c.outside->media)).str(),
        [this, id](sip::Dialog* d, const sip::ClientResult& r) { outside_response(id, d, r); });
    save(c);
  }

  void outside_response(std::uint64_t id, sip::Dialog* d, const sip::ClientResult& r) {
    const int status = r.kind == sip::ClientResult::kResponse ? r.response->status() : 408;
    if (status < 200) return;
    Call* c = find(id);
    if (!c || !c->outside || c->phase != CallPhase::kOutside) {
      if (d && status < 300) stack.hangup(*d);  // too late: the caller is gone
      return;
    }
    OutsideLeg& o = *c->outside;
    if (status < 300 && o.answered) {
      if (d && d->key() != o.dialog) stack.hangup(*d);  // a second 2xx from a forking proxy
      return;                                           // else a retransmission
    }
    if (status >= 300 || !d) {
      save_outside_leg(*c, status, "not answered");
      o.media->close();
      c->outside.reset();
      return goodbye(*c, "transfer_failed", "outside number: " + std::to_string(status));
    }
    o.answered = true;
    o.dialog = d->key();
    o.answered_ms = epoch_ms();
    by_dialog[o.dialog] = c->id;
    if (auto ans = sip::sdp::parse(r.response->body()); ans)
      if (auto n = sip::sdp::negotiated(*ans); n) o.media->set_remote(n->remote_address, n->remote_port);
    stop_playing(*c);
    if (auto st = media.bridge(*c->caller_media, *o.media); !st)
      spdlog::error("call {}: bridge to {} failed: {}", c->rec.id, o.number, st.error().message);
    c->rec.end_reason.clear();
    save_outside_leg(*c, 200, "");
    save(*c);
    publish_call(*c);
  }

  void save_outside_leg(Call& c, int sip_status, const std::string& reason, bool ended = false) {
    const OutsideLeg& o = *c.outside;
    records::CallLeg leg;
    leg.call_id = c.rec.id;
    leg.tenant_id = c.tenant;
    leg.leg_no = o.leg_no;
    leg.role = "transfer";
    leg.peer = o.number;
    leg.started_ms = o.started_ms;
    leg.answered_ms = o.answered_ms;
    leg.ended_ms = ended || !o.answered ? epoch_ms() : 0;
    leg.sip_status = sip_status;
    leg.end_reason = reason;
    sink.leg(leg);
  }

  // Ends the outside leg (BYE when answered, CANCEL while ringing).
  void end_outside(Call& c, const std::string& reason) {
    if (!c.outside) return;
    OutsideLeg& o = *c.outside;
    if (o.answered) {
      std::string key = o.dialog;
      by_dialog.erase(key);
      if (sip::Dialog* d = key.empty() ? nullptr : stack.dialogs().find(key)) stack.hangup(*d);
      save_outside_leg(c, 200, reason, true);
    } else {
      stack.cancel(o.txn);  // a 2xx crossing the CANCEL is answered with BYE in outside_response
      save_outside_leg(c, 487, reason);
    }
    if (o.media) o.media->close();
    c.outside.reset();
  }

  // The outside party hung up: so does the caller.
  void outside_gone(Call& c) {
    c.outside->dialog.clear();
    end_outside(c, "outside hangup");
    c.rec.end_reason = "outside hangup";
    hangup_caller(c);
  }

  void customer_response(std::uint64_t id, sip::Dialog* d, const sip::ClientResult& r) {
    const int status = r.kind == sip::ClientResult::kResponse ? r.response->status() : 408;
    if (status < 200) return;
    Call* c = find(id);
    AgentLeg* leg = nullptr;
    if (c && c->agent) {
      auto it = c->offers.find(c->agent);
      if (it != c->offers.end() && it->second.state == LegState::kAnswered) leg = &it->second;
    }
    if (c && d && status < 300 && d->key() == c->caller_dialog) return;  // retransmitted 2xx
    if (!c || !leg || !c->callback_dialing) {
      if (d && status < 300) stack.hangup(*d);
      return;
    }
    c->callback_dialing = false;
    if (status >= 300 || !d) return callback_attempt_failed(*c, *leg, "customer: " + std::to_string(status));
    c->caller_dialog = d->key();
    by_dialog[c->caller_dialog] = c->id;
    c->caller_media = std::move(c->pending_customer);
    if (auto ans = sip::sdp::parse(r.response->body()); ans)
      if (auto n = sip::sdp::negotiated(*ans); n)
        c->caller_media->set_remote(n->remote_address, n->remote_port);
    c->rec.answered_ms = epoch_ms();
    c->rec.disposition = "answered";
    c->rec.end_reason.clear();
    if (auto st = media.bridge(*c->caller_media, *leg->media); !st)
      spdlog::error("call {}: bridge failed: {}", c->rec.id, st.error().message);
    set_phase(*c, CallPhase::kConnected);
    start_recording(*c, *leg);
    records::CallLeg cl;
    cl.call_id = c->rec.id;
    cl.tenant_id = c->tenant;
    cl.leg_no = ++c->legs;
    cl.role = "callback";
    cl.peer = c->rec.caller;
    cl.started_ms = cl.answered_ms = c->rec.answered_ms;
    cl.sip_status = 200;
    sink.leg(cl);
    save(*c);
  }

  // The customer did not answer the callback: the agent is released (wrap-up)
  // and the callback is tried again after callback_retry_s, up to
  // callback_attempts times.
  void callback_attempt_failed(Call& c, AgentLeg& leg, const std::string& why) {
    spdlog::info("call {}: callback attempt {} failed: {}", c.rec.id, c.callback_attempts + 1, why);
    if (c.pending_customer) c.pending_customer->close();
    c.pending_customer.reset();
    end_agent_leg(c, leg, "callback not answered");
    (void)engine.ended(InteractionId{c.ix}, now());
    c.agent = 0;
    c.rec.agent_id = 0;
    ++c.callback_attempts;
    const center::QueueDef* q = queue_def(c, c.queue_name);
    const int attempts = q ? q->callback_attempts : 1;
    if (c.callback_attempts >= attempts) {
      c.rec.disposition = "callback_failed";
      c.rec.end_reason = why;
      finish(c);
      return pump();
    }
    routing::InteractionSpec spec = c.spec;
    by_ix.erase(c.ix);
    c.ix = ++next_id;
    by_ix[c.ix] = c.id;
    spec.id = InteractionId{c.ix};
    const auto at = now() + std::chrono::seconds(q ? q->callback_retry_s : 120);
    if (auto st = engine.schedule_callback(spec, at, now()); !st) {
      c.rec.disposition = "callback_failed";
      c.rec.end_reason = st.error().message;
      finish(c);
    }
    pump();
  }

  void end_agent_leg(Call& c, AgentLeg& leg, const std::string& reason) {
    leg.state = LegState::kEnded;
    save_leg(c, leg, 200, reason);
    std::string key = leg.dialog;
    by_dialog.erase(key);
    if (sip::Dialog* d = stack.dialogs().find(key)) stack.hangup(*d);
    if (leg.media) leg.media->close();
  }

  // The agent's leg is over while connected: the caller goes too.
  void agent_gone(Call& c, std::int64_t agent_id) {
    auto it = c.offers.find(agent_id);
    if (it == c.offers.end()) return;
    it->second.dialog.clear();
    end_agent_leg(c, it->second, "agent hangup");
    if (c.callback_dialing) {
      // The agent gave up while the customer's phone was ringing.
      c.callback_dialing = false;
      stack.cancel(c.customer_txn);
      if (c.pending_customer) c.pending_customer->close();
      c.rec.disposition = "callback_cancelled";
      c.rec.end_reason = "agent hangup";
      (void)engine.ended(InteractionId{c.ix}, now());
      c.agent = 0;
      finish(c);
      return pump();
    }
    if (c.phase == CallPhase::kConnected) {
      c.rec.end_reason = "agent hangup";
      std::string key = c.caller_dialog;
      by_dialog.erase(key);
      if (sip::Dialog* d = stack.dialogs().find(key)) stack.hangup(*d);
      finish(c);
      pump();
    }
  }

  void finish(Call& c) {
    if (c.phase == CallPhase::kEnded) return;
    const bool was_connected = c.phase == CallPhase::kConnected;
    const bool voicemail = c.phase == CallPhase::kVoicemail && c.recording;
    stop_recording(c);
    if (voicemail) announce_voicemail(c);
    for (auto lid : c.listeners)
      if (Call* l = find(lid); l && l->phase != CallPhase::kEnded)
        later([this, lid] {
          if (Call* l2 = find(lid)) hangup_caller(*l2);
        });
    c.listeners.clear();
    if (c.companion) c.companion->close();
    end_outside(c, c.rec.end_reason.empty() ? "caller hangup" : c.rec.end_reason);
    close_hold(c);
    c.rec.ended_ms = epoch_ms();
    by_dialog.erase(c.caller_dialog);
    if (c.caller_media) c.caller_media->close();
    for (auto& [a, leg] : c.offers)
      if (leg.media) leg.media->close();
    set_phase(c, CallPhase::kEnded);
    if (!c.feature) save(c);
    if (was_connected && c.agent) {
      (void)engine.ended(InteractionId{c.ix}, now());
      return;  // kept until wrap-up ends (its record gets wrapup_ended_ms)
    }
    const auto id = c.id;
    later([this, id] { erase_call(id); });
  }

  void erase_call(std::uint64_t id) {
    if (Call* c = find(id)) by_ix.erase(c->ix);
    calls.erase(id);
    calls_active->set(static_cast<std::int64_t>(calls.size()));
  }

  void media_timeout(std::uint64_t id, bool caller) {
    Call* c = find(id);
    if (!c) return;
    spdlog::info("call {}: no RTP from the {} for {} ms: hanging up", c->rec.id, caller ? "caller" : "agent",
                 options.media_timeout.count());
    c->rec.end_reason = "media timeout";
    if (caller || c->phase == CallPhase::kOutside) return hangup_caller(*c);
    if (c->agent) agent_gone(*c, c->agent);
  }

  // ------------------------------------------------------ feature codes ----

  void feature_code(TenantState& t, sip::ServerTxnId txn, const sip::Message& inv, const std::string& ext,
                    const std::string& code) {
    const center::AgentDef* agent = t.snap->agent_by_extension(ext);
    std::string arg = code.size() > 3 ? code.substr(3) : "";
    if (code.rfind("*21", 0) == 0 && !arg.empty()) {
      std::int64_t aid = 0;
      std::from_chars(arg.data(), arg.data() + arg.size(), aid);
      agent = t.snap->agent(aid);
    }
    if (!agent) {
      // The device is not an agent's: make it find out now rather than later.
      for (const auto& [aid, s] : agents)
        if (s.tenant == t.ref.id && s.logged_in && s.extension == ext) agent = t.snap->agent(aid);
    }
    if (!agent) return stack.reject(txn, 404);
    StatusChange change;
    const std::string op = code.substr(0, 3);
    if (op == "*21") {
      change.status = "logged_in";
      change.extension = ext;
    } else if (op == "*22") {
      change.status = "logged_out";
    } else if (op == "*23") {
      change.status = "ready";
    } else if (op == "*24") {
      change.status = "not_ready";
      if (!arg.empty()) std::from_chars(arg.data(), arg.data() + arg.size(), change.reason);
    } else if (op != "*25") {
      return stack.reject(txn, 404);
    }
    common::Status st = op == "*25" ? end_wrap_up_now(agent->id) : apply_status(t.ref.id, agent->id, change);
    sink_audit(t.ref.id, "agent.status", std::to_string(agent->id),
               {{"via", "feature_code"},
                {"code", op},
                {"extension", ext},
                {"ok", st.ok()},
                {"error", st.ok() ? "" : st.error().message}});
    // Confirmation: answer, a short tone (high for done, low for refused), hang up.
    auto c = service_call(t.ref.id);
    if (!answer_caller(*c, txn, inv)) return;
    Call& call = *c;
    calls.emplace(call.id, std::move(c));
    media::ToneSpec tone{st.ok() ? 880.0 : 400.0, 0, -13, {}, static_cast<int>(options.feature_tone.count())};
    call.playing = Playing::kTone;
    call.playback = ++next_id;
    call.caller_media->play_tone(tone, call.playback);
  }

  // Supervisor silent listen: *30<agent extension> from a supervisor's phone.
  // The supervisor must be an agent linked to a user holding
  // recordings.listen; they hear both sides, nothing they send is heard.
  void listen_in(TenantState& t, sip::ServerTxnId txn, const sip::Message& inv, const std::string& ext,
                 const std::string& target_ext) {
    const center::AgentDef* sup = t.snap->agent_by_extension(ext);
    const bool allowed =
        sup && sup->user_id && options.may_listen && options.may_listen(t.ref.id, *sup->user_id);
    Call* target = nullptr;
    for (auto& [id, c] : calls) {
      if (c->tenant != t.ref.id || c->phase != CallPhase::kConnected || !c->agent) continue;
      auto it = c->offers.find(c->agent);
      if (it != c->offers.end() && it->second.extension == target_ext) target = c.get();
    }
    sink_audit(t.ref.id, "call.listen", target ? target->rec.id : target_ext,
               json{{"extension", ext},
                    {"agent_extension", target_ext},
                    {"allowed", allowed},
                    {"found", target != nullptr}}
                   .dump());
    if (!allowed) return stack.reject(txn, 403);
    if (!target) return stack.reject(txn, 404);
    AgentLeg& leg = target->offers.at(target->agent);
    auto c = service_call(t.ref.id);
    if (!answer_caller(*c, txn, inv, true, target->caller_media.get())) return;
    if (auto st = media.listen(*c->caller_media, *target->caller_media, *leg.media); !st) {
      spdlog::warn("call {}: silent listen failed: {}", target->rec.id, st.error().message);
      c->caller_media->close();
      std::string key = c->caller_dialog;
      by_dialog.erase(key);
      if (sip::Dialog* d = stack.dialogs().find(key)) stack.hangup(*d);
      return;
    }
    target->listeners.push_back(c->id);
    records::CallLeg l;
    l.call_id = target->rec.id;
    l.tenant_id = target->tenant;
    l.leg_no = ++target->legs;
    l.role = "supervisor";
    l.peer = ext;
    l.agent_id = sup->id;
    l.started_ms = l.answered_ms = epoch_ms();
    l.sip_status = 200;
    sink.leg(l);
    calls.emplace(c->id, std::move(c));
  }

  // A call to Hotline itself (feature code, silent listen): no call record.
  std::unique_ptr<Call> service_call(std::int64_t tenant) {
    auto c = std::make_unique<Call>();
    c->id = ++next_id;
    c->tenant = tenant;
    c->phase = CallPhase::kFeature;
    c->feature = true;
    c->rec.id = hex_id(c->id);
    c->timer = std::make_unique<asio::steady_timer>(stack.io());
    c->announce = std::make_unique<asio::steady_timer>(stack.io());
    return c;
  }

  void sink_audit(std::int64_t tenant, const std::string& action, const std::string& target, json details);

  // ------------------------------------------------------ agent control ----

  common::Status apply_status(std::int64_t tenant_id, std::int64_t agent_id, const StatusChange& ch) {
    auto sit = agents.find(agent_id);
    if (sit == agents.end() || sit->second.tenant != tenant_id)
      return common::Error::not_found("no such agent");
    const auto id = AgentId{static_cast<std::uint64_t>(agent_id)};
    const auto ts = now();
    common::Status st = common::ok_status();
    if (ch.status == "logged_in") {
      if (!ch.extension.empty()) sit->second.extension = ch.extension;
      if (sit->second.extension.empty())
        return common::Error::invalid("extension", "the agent has no extension; give one");
      auto snap = engine.agent(id);
      if (snap && snap->status == routing::AgentStatus::kLoggedOut) st = engine.login(id, ts);
      if (st) sit->second.logged_in = true;
    } else if (ch.status == "ready") {
      auto snap = engine.agent(id);
      if (snap && snap->status == routing::AgentStatus::kLoggedOut) st = engine.login(id, ts);
      if (st) {
        sit->second.logged_in = true;
        st = engine.set_ready(id, ts);
      }
    } else if (ch.status == "not_ready") {
      const int reason = ch.reason >= 100 ? ch.reason : static_cast<int>(routing::reason::kBreak);
      st = engine.set_not_ready(id, static_cast<routing::ReasonCode>(reason), ts);
    } else if (ch.status == "logged_out") {
      st = engine.logout(id, ts);
      if (st) sit->second.logged_in = false;
    } else {
      return common::Error::invalid("status", "status must be logged_in, ready, not_ready or logged_out");
    }
    pump();
    return st;
  }

  common::Status end_wrap_up_now(std::int64_t agent_id) {
    auto snap = engine.agent(AgentId{static_cast<std::uint64_t>(agent_id)});
    if (!snap) return snap.error();
    if (snap->state != routing::AgentState::kWrapUp)
      return common::Error::conflict("the agent is not in wrap-up");
    common::Status st = common::ok_status();
    for (auto ix : snap->interactions) {
      auto is = engine.interaction(ix);
      if (is && is->phase == routing::Phase::kWrapUp) st = engine.wrap_up_done(ix, now());
    }
    pump();
    return st;
  }

  json agent_json(std::int64_t agent_id) {
    json j = {{"agent_id", agent_id}};
    auto sit = agents.find(agent_id);
    if (sit != agents.end()) {
      j["extension"] = sit->second.extension;
      TenantState* t = tenant(sit->second.tenant);
      std::size_t devices = 0;
      if (t) {
        auto dit = t->devices.find(sit->second.extension);
        if (dit != t->devices.end()) devices = dit->second.size();
      }
      j["device_registered"] = devices > 0;
      j["devices"] = devices;  // registered phones of the extension (all ring on an offer)
    }
    auto s = engine.agent(AgentId{static_cast<std::uint64_t>(agent_id)});
    if (!s) return j;
    j["status"] = status_name(s->status);
    j["reason"] = s->reason;
    j["state"] = api_name(routing::to_string(s->state));
    j["handled_today"] = s->handled_today;
    j["consecutive_misses"] = s->consecutive_misses;
    json ixs = json::array();
    for (auto ix : s->interactions)
      if (Call* c = find_ix(routing::raw(ix))) ixs.push_back(c->rec.id);
    j["calls"] = ixs;
    return j;
  }

  json realtime(std::int64_t tenant_id) {
    json out = {{"queues", json::array()}, {"agents", json::array()}};
    TenantState* t = tenant(tenant_id);
    if (!t || !t->snap) return out;
    for (const auto& q : t->snap->queues) {
      auto s = engine.queue(QueueId{static_cast<std::uint64_t>(q.id)}, now());
      json j = {{"queue", q.name}, {"id", q.id}};
      if (s) {
        j["waiting"] = s->waiting;
        j["longest_wait_s"] = std::chrono::duration_cast<std::chrono::seconds>(s->longest_wait).count();
        j["staffed"] = s->staffed;
        j["available"] = s->available;
        j["estimated_wait_s"] = std::chrono::duration_cast<std::chrono::seconds>(s->estimated_wait).count();
      }
      out["queues"].push_back(j);
    }
    for (const auto& a : t->snap->agents) {
      json j = agent_json(a.id);
      j["name"] = a.name;
      out["agents"].push_back(j);
    }
    std::size_t active = 0;
    for (const auto& [id, c] : calls)
      if (c->tenant == tenant_id && c->phase != CallPhase::kEnded && c->phase != CallPhase::kFeature)
        ++active;
    out["calls_active"] = active;
    return out;
  }

  // ----------------------------------------------------- routing events ----

  void pump() {
    if (pumping) return;
    pumping = true;
    std::vector<routing::Event> evs;
    for (int guard = 0; guard < 1000; ++guard) {
      evs.clear();
      if (engine.drain(evs) == 0) break;
      for (const auto& e : evs) handle(e);
    }
    pumping = false;
    rearm();
    update_gauges();
  }

  void rearm() {
    auto next = engine.next_deadline();
    if (!next) {
      engine_timer.cancel();
      return;
    }
    const auto delay = std::max(std::chrono::nanoseconds(0), *next - now());
    engine_timer.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(delay));
    std::weak_ptr<bool> a = alive;
    engine_timer.async_wait([this, a](boost::system::error_code ec) {
      if (ec || a.expired()) return;
      engine.tick(now());
      pump();
    });
  }

  void update_gauges() { waiting_gauge->set(queued_calls); }
  std::int64_t queued_calls = 0;  // calls in CallPhase::kQueued (kept by set_phase)

  std::int64_t tenant_of_event(const routing::Event& e) {
    if (routing::raw(e.interaction) != 0)
      if (Call* c = find_ix(routing::raw(e.interaction))) return c->tenant;
    if (routing::raw(e.agent) != 0) {
      auto it = agents.find(static_cast<std::int64_t>(routing::raw(e.agent)));
      if (it != agents.end()) return it->second.tenant;
    }
    return 0;
  }

  std::string queue_name_of(std::int64_t tenant_id, routing::QueueId q) {
    TenantState* t = tenant(tenant_id);
    if (!t || !t->snap) return "";
    for (const auto& d : t->snap->queues)
      if (static_cast<std::uint64_t>(d.id) == routing::raw(q)) return d.name;
    return "";
  }

  void handle(const routing::Event& e) {
    const std::int64_t tid = tenant_of_event(e);
    record_event(e, tid);
    const auto ix = routing::raw(e.interaction);
    const auto agent = static_cast<std::int64_t>(routing::raw(e.agent));
    Call* c = ix ? find_ix(ix) : nullptr;
    switch (e.type) {
      case EventType::kOffered:
        if (c) {
          offer(*c, agent, e.value == 1);
        } else {
          // The call is gone (a callback whose caller record ended): take it
          // out of routing rather than ring an agent for nobody.
          later([this, ix] {
            if (engine.abandoned(InteractionId{ix}, now())) pump();
          });
        }
        break;
      case EventType::kOfferCancelled:
        if (c) cancel_offer(*c, agent);
        break;
      case EventType::kRemoved:
      case EventType::kRejected:
        if (c) removed(*c, e.disposition);
        break;
      case EventType::kCallbackOffer:
        if (c && c->phase == CallPhase::kQueued) {
          stop_playing(*c);
          play(*c, clips(*c, {"callback_offer"}, c->language), Playing::kAnnouncement);
        }
        break;
      case EventType::kWrapUpEnded:
        if (c) {
          c->rec.wrapup_ended_ms = epoch_ms();
          save(*c);
          if (c->phase == CallPhase::kEnded) later([this, id = c->id] { erase_call(id); });
        }
        break;
      default:
        break;
    }
    if (routing::raw(e.agent) != 0 && tid != 0) publish_agent(tid, agent, e);
  }

  void removed(Call& c, routing::Disposition d) {
    c.routed = false;
    switch (d) {
      case routing::Disposition::kVoicemail:
        return start_voicemail(c, c.queue_name);
      case routing::Disposition::kCallback:
        set_phase(c, CallPhase::kQueued);  // the caller may still press 1
        stop_playing(c);
        return play(c, clips(c, {"callback_offer"}, c.language), Playing::kAnnouncement);
      case routing::Disposition::kQueueFull:
        return goodbye(c, "queue_full", "queue full");
      case routing::Disposition::kNoAgents:
        return goodbye(c, "no_agents", "no agents logged in");
      default:
        return goodbye(c, "max_wait", "maximum wait reached");
    }
  }

  void record_event(const routing::Event& e, std::int64_t tid) {
    records::EventRecord r;
    r.tenant_id = tid;
    r.seq = static_cast<std::int64_t>(e.seq);
    r.time_ms = epoch_ms();
    r.type = api_name(routing::to_string(e.type));
    r.agent_id = static_cast<std::int64_t>(routing::raw(e.agent));
    if (routing::raw(e.interaction) != 0)
      if (Call* c = find_ix(routing::raw(e.interaction))) r.call_id = c->rec.id;
    r.queue = queue_name_of(tid, e.queue);
    r.value = e.value;
    if (e.disposition != routing::Disposition::kNone)
      r.disposition = std::string(routing::to_string(e.disposition));
    r.reason = static_cast<int>(e.reason);
    sink.event(r);
  }

  void publish_agent(std::int64_t tid, std::int64_t agent, const routing::Event& e) {
    live::Event ev;
    ev.tenant_id = tid;
    ev.type = "agent.state";
    ev.permission = iam::Permission::AgentsRead;
    ev.data = agent_json(agent);
    ev.data["event"] = api_name(routing::to_string(e.type));
    sink.live(std::move(ev));
  }

  // --------------------------------------------------------- devices ----

  void on_binding(sip::BindingEvent ev, const sip::Binding& b) {
    auto it = tenant_by_slug.find(b.tenant);
    if (it == tenant_by_slug.end()) return;
    TenantState* t = tenant(it->second);
    if (!t) return;
    const std::string ext = b.aor.substr(0, b.aor.find('@'));
    auto& list = t->devices[ext];
    std::erase_if(list, [&](const sip::Binding& x) {
      if (x.contact != b.contact) return false;
      t->extension_by_flow.erase(flow_key(x.flow));
      return true;
    });
    const bool up = ev == sip::BindingEvent::kRegistered || ev == sip::BindingEvent::kRefreshed ||
                    ev == sip::BindingEvent::kReachable;
    if (up) {
      list.push_back(b);
      t->extension_by_flow[flow_key(b.flow)] = ext;
    }
    if (list.empty()) t->devices.erase(ext);
  }

  // ----------------------------------------------------------- SIP ----

  void on_dialog_request(sip::Dialog& d, sip::ServerTxnId txn, const sip::Message& req) {
    const std::string_view m = req.method();
    auto it = by_dialog.find(d.key());
    Call* c = it == by_dialog.end() ? nullptr : find(it->second);
    if (m == "INFO") {
      // Read the request before responding: the response completes the
      // transaction, which owns `req`.
      const auto digit = info_digit(req);
      const bool from_caller = c && d.key() == c->caller_dialog;
      const std::uint64_t id = c ? c->id : 0;
      stack.respond(txn, stack.response_for(txn, 200));
      if (from_caller && digit) on_digit(id, *digit);
      return;
    }
    if (m == "INVITE" || m == "UPDATE") {
      // Hold / unhold / codec refresh: answer with the same media (the
      // session latches to wherever the peer's packets come from).
      auto offer = sip::sdp::parse(req.body());
      if (!c || !offer) {
        if (m == "INVITE" && req.body().empty()) {
          // Delayed offer re-INVITE: not supported.
          return stack.reject(txn, 488);
        }
        if (!offer) return stack.reject(txn, 488);
      }
      std::shared_ptr<media::MediaSession> ms;
      if (c && d.key() == c->caller_dialog) ms = c->caller_media;
      for (auto& [a, leg] : c ? c->offers : std::map<std::int64_t, AgentLeg>{})
        if (leg.dialog == d.key()) ms = leg.media;
      if (c && c->outside && c->outside->dialog == d.key()) ms = c->outside->media;
      if (!ms) return stack.reject(txn, 488);
      if (c->phase == CallPhase::kConnected) note_hold(*c, *offer);
      // The codec in use stays first choice; the peer may switch to the
      // other G.711 law (a bridge then transcodes).
      sip::sdp::LocalMedia local = local_media(*c, *ms);
      local.codecs.push_back(c->codec == media::Codec::pcma
                                 ? sip::sdp::Codec{sip::sdp::kPcmu, "PCMU", 8000, 1, {}}
                                 : sip::sdp::Codec{sip::sdp::kPcma, "PCMA", 8000, 1, {}});
      auto ans = sip::sdp::answer(*offer, local);
      if (!ans) return stack.reject(txn, 488);
      // A hold offer with c=0.0.0.0 (RFC 2543 style) keeps the media where it is.
      if (auto p = negotiated_params(*offer, *ans);
          p && p->remote_port != 0 && p->remote_address != "0.0.0.0") {
        if (auto st = media.update(*ms, *p); !st)
          spdlog::warn("call {}: re-negotiation not applied: {}", c->rec.id, st.error().message);
      }
      stack.answer(txn, 200, ans->str());
      return;
    }
    if (m == "REFER") return refer(c, d, txn, req);
    stack.respond(txn, stack.response_for(txn, m == "NOTIFY" ? 200 : 501));
  }

  // Either party putting the bridged call on hold (RFC 3264 §8.4) is
  // reported to routing: hold time counts in AHT and is in the event log.
  void note_hold(Call& c, const sip::sdp::Session& offer) {
    bool hold = false;
    for (std::size_t i = 0; i < offer.media.size(); ++i) {
      if (offer.media[i].port == 0) continue;
      hold = offer.is_hold(i);
      break;
    }
    if (hold == c.on_hold) return;
    c.on_hold = hold;
    if (hold) {
      ++c.rec.holds;
      c.hold_started_ms = epoch_ms();
    } else {
      close_hold(c);
    }
    if (auto st = engine.hold(InteractionId{c.ix}, hold, now()); !st)
      spdlog::debug("call {}: hold not accepted by routing: {}", c.rec.id, st.error().message);
    publish_call(c);
    pump();
  }

  // Adds an open hold's time to the record (at unhold, or when the call ends on hold).
  void close_hold(Call& c) {
    if (c.hold_started_ms == 0) return;
    c.rec.hold_ms += std::max<std::int64_t>(0, epoch_ms() - c.hold_started_ms);
    c.hold_started_ms = 0;
  }

  void on_dialog_terminated(const sip::Dialog& d, std::string_view reason) {
    auto it = by_dialog.find(d.key());
    if (it == by_dialog.end()) return;
    const std::uint64_t id = it->second;
    by_dialog.erase(it);
    Call* c = find(id);
    if (!c) return;
    if (d.key() == c->caller_dialog) return caller_gone(*c, std::string(reason));
    if (c->outside && d.key() == c->outside->dialog) return outside_gone(*c);
    for (auto& [agent, leg] : c->offers)
      if (leg.dialog == d.key()) return agent_gone(*c, agent);
  }

  // Blind transfer by the agent (RFC 3515 REFER on the agent's dialog): to a
  // queue (by name), to another agent (by extension: that agent gets the
  // first offer) or to an outside number (through a trunk). We answer 202,
  // report the outcome with one NOTIFY (sipfrag "200 OK", subscription
  // terminated: the transfer is ours to carry out from here), then the
  // agent's leg ends (BYE) and they go to wrap-up.
  void refer(Call* c, sip::Dialog& d, sip::ServerTxnId txn, const sip::Message& req) {
    AgentLeg* leg = nullptr;
    if (c && c->phase == CallPhase::kConnected)
      for (auto& [a, l] : c->offers)
        if (l.dialog == d.key() && l.state == LegState::kAnswered) leg = &l;
    if (!leg) return stack.reject(txn, 403);
    std::string_view refer_to = req.header(sip::HeaderId::kReferTo);  // also the compact "r"
    // Attended transfer (Refer-To with an embedded Replaces, RFC 3891) is not
    // supported: refused rather than mistaken for a blind transfer.
    std::string lowered(refer_to);
    for (auto& ch : lowered) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lowered.find("replaces") != std::string::npos) return stack.reject(txn, 501);
    const std::string target = user_of(refer_to);
    TenantState* t = tenant(c->tenant);
    if (!t || !t->snap || target.empty()) return stack.reject(txn, 400);
    std::string queue, number;
    std::int64_t preferred = 0;
    if (t->snap->queue(target)) {
      queue = target;
    } else if (const auto* a = t->snap->agent_by_extension(target)) {
      queue = c->queue_name;
      preferred = a->id;
    } else if (dialable(target) && outbound_trunk(*c)) {
      number = target;
    } else {
      return stack.reject(txn, 488);  // nothing we can transfer to
    }
    stack.respond(txn, stack.response_for(txn, 202));
    stack.request_in_dialog(
        d, "NOTIFY", {{"Event", "refer"}, {"Subscription-State", "terminated;reason=noresource"}},
        "message/sipfrag;version=2.0", "SIP/2.0 200 OK\r\n", [](const sip::ClientResult&) {});
    const auto id = c->id;
    later([this, id, queue, preferred, number] {
      Call* call = find(id);
      if (!call || call->phase != CallPhase::kConnected) return;
      if (number.empty()) return transfer(*call, queue, preferred);
      release_agent(*call, "transferred");
      dial_outside(*call, number);
    });
  }

  // The connected agent leaves the call (transfer): unbridged, recording
  // stopped, their leg ended and wrap-up started.
  void release_agent(Call& c, const std::string& reason) {
    auto it = c.offers.find(c.agent);
    if (it == c.offers.end()) return;
    media.unbridge(*c.caller_media);
    stop_recording(c);
    end_agent_leg(c, it->second, reason);
    (void)engine.ended(InteractionId{c.ix}, now());
    c.agent = 0;
  }

  void transfer(Call& c, const std::string& queue, std::int64_t preferred) {
    if (c.offers.find(c.agent) == c.offers.end()) return;
    release_agent(c, "transferred");
    c.rec.disposition.clear();
    ivr::Action a;
    a.kind = ivr::Action::Kind::kQueue;
    a.queue = queue;
    a.priority = c.spec.priority - (queue_def(c, c.queue_name) ? queue_def(c, c.queue_name)->priority : 0);
    for (const auto& at : c.spec.attributes) a.attributes[at.key] = at.value;
    c.preferred_agent = preferred;
    enqueue(c, queue, a);
  }

  bool is_trunk_source(const std::string& ip) {
    if (auto it = trunk_sources.find(ip); it != trunk_sources.end()) return it->second;
    bool found = false;
    for (const auto& [id, t] : tenants)
      if (t.snap && t.snap->trunk_for_source(ip)) found = true;
    if (trunk_sources.size() >= 4096) trunk_sources.clear();  // bounded under spoofed floods
    trunk_sources.emplace(ip, found);
    return found;
  }
  std::unordered_map<std::string, bool> trunk_sources;  // cleared on every configuration sync

  void shutdown() {
    std::vector<std::uint64_t> ids;
    for (const auto& [id, c] : calls) ids.push_back(id);
    for (auto id : ids)
      if (Call* c = find(id); c && c->phase != CallPhase::kEnded) {
        c->rec.end_reason = "shutdown";
        hangup_caller(*c);
      }
    engine_timer.cancel();
    snapshot_timer->cancel();
    if (recordings_timer) recordings_timer->cancel();
  }
};

// --------------------------------------------------------------- public ----

CallCenter::CallCenter(sip::Stack& stack, media::MediaEngine& media, center::Repository& config, Sink& sink,
                       common::MetricsRegistry& metrics, Options options, common::Clock& clock)
    : impl_(std::make_unique<Impl>(stack, media, config, sink, metrics, std::move(options), clock)) {}

CallCenter::~CallCenter() = default;

void CallCenter::Impl::sink_audit(std::int64_t tenant, const std::string& action, const std::string& target,
                                  json details) {
  sink.audit(tenant, action, target, details.dump());
}

void CallCenter::add_tenant(TenantRef t) {
  impl_->tenant_by_slug[t.slug] = t.id;
  auto& ts = impl_->tenants[t.id];
  ts.ref = t;
  impl_->sync(ts);
  impl_->refresh_snapshots();
}

live::Hub::Snapshot CallCenter::live_snapshot(std::int64_t tenant) { return impl_->cached_snapshot(tenant); }

void CallCenter::set_domain_resolver(std::function<std::string(const std::string&)> f) {
  impl_->domain_to_slug = std::move(f);
}

void CallCenter::config_changed(std::int64_t tenant) {
  impl_->later([this, tenant] {
    TenantState* t = impl_->tenant(tenant);
    if (!t || t->sync_pending) return;
    t->sync_pending = true;
    impl_->later([this, tenant] {
      if (TenantState* t = impl_->tenant(tenant)) {
        t->sync_pending = false;
        impl_->sync(*t);
      }
    });
  });
}

void CallCenter::shutdown() { impl_->shutdown(); }
bool CallCenter::is_trunk_source(const std::string& ip) { return impl_->is_trunk_source(ip); }

namespace {
template <class F>
auto on_loop(boost::asio::io_context& io, F f) -> decltype(f()) {
  if (io.get_executor().running_in_this_thread()) return f();
  // Shared: if the loop is late, the task still exists when it finally runs.
  auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
  auto fut = task->get_future();
  asio::post(io, [task] { (*task)(); });
  if (fut.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
    throw std::runtime_error("call layer did not answer in time");
  return fut.get();
}
}  // namespace

common::Result<json> CallCenter::agent_status(std::int64_t tenant, std::int64_t agent_id) {
  return on_loop(impl_->stack.io(), [this, tenant, agent_id]() -> common::Result<json> {
    auto it = impl_->agents.find(agent_id);
    if (it == impl_->agents.end() || it->second.tenant != tenant)
      return common::Error::not_found("no such agent");
    return impl_->agent_json(agent_id);
  });
}

common::Status CallCenter::change_status(std::int64_t tenant, std::int64_t agent_id,
                                         const StatusChange& change) {
  return on_loop(impl_->stack.io(),
                 [this, tenant, agent_id, change] { return impl_->apply_status(tenant, agent_id, change); });
}

common::Status CallCenter::end_wrap_up(std::int64_t tenant, std::int64_t agent_id) {
  return on_loop(impl_->stack.io(), [this, tenant, agent_id]() -> common::Status {
    auto it = impl_->agents.find(agent_id);
    if (it == impl_->agents.end() || it->second.tenant != tenant)
      return common::Error::not_found("no such agent");
    return impl_->end_wrap_up_now(agent_id);
  });
}

json CallCenter::realtime(std::int64_t tenant) {
  return on_loop(impl_->stack.io(), [this, tenant] { return impl_->realtime(tenant); });
}

void CallCenter::on_invite(sip::ServerTxnId txn, const sip::Message& invite, const sip::Peer& from) {
  impl_->on_invite(txn, invite, from);
}
void CallCenter::on_cancelled(sip::ServerTxnId) {}
void CallCenter::on_dialog_request(sip::Dialog& d, sip::ServerTxnId txn, const sip::Message& req) {
  impl_->on_dialog_request(d, txn, req);
}
void CallCenter::on_dialog_ack(sip::Dialog&, const sip::Message&) {}
void CallCenter::on_dialog_terminated(const sip::Dialog& d, std::string_view reason) {
  impl_->on_dialog_terminated(d, reason);
}
void CallCenter::on_binding(sip::BindingEvent event, const sip::Binding& binding) {
  impl_->on_binding(event, binding);
}

}  // namespace hotline::call
