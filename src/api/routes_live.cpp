// Routes of the live service: GET /api/v1/events, a WebSocket of the
// tenant's live events (protocol: docs/live.md).
#include <spdlog/spdlog.h>

#include "api/api.h"
#include "live/live.h"

namespace hotline::api {

namespace http = boost::beast::http;

namespace {

constexpr std::size_t kMaxTypes = 32;

// `types=agent.state,queue.update`: names of lowercase letters, digits, '.', '_' and '-'.
std::vector<std::string> parse_types(const RequestContext& ctx) {
  std::vector<std::string> out;
  auto given = ctx.query_string("types");
  if (!given) return out;
  std::string_view rest(*given);
  while (true) {
    auto comma = rest.find(',');
    auto name = rest.substr(0, comma);
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
    }
    if (!ok) {
      throw ApiError::bad_request("types must be a comma-separated list of event types, e.g. agent.state",
                                  "types");
    }
    out.emplace_back(name);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  if (out.size() > kMaxTypes) {
    throw ApiError::bad_request("types lists more than " + std::to_string(kMaxTypes) + " event types",
                                "types");
  }
  return out;
}

// Beast would refuse these itself, but with its own body: check them first
// so that the client gets the API's error shape.
void check_handshake(const Request& req) {
  if (req[http::field::sec_websocket_version] != "13") {
    ApiError e{400, "bad_request", "unsupported WebSocket version (Sec-WebSocket-Version must be 13)"};
    e.details["field"] = "Sec-WebSocket-Version";
    throw e;
  }
  const auto key = std::string_view(req[http::field::sec_websocket_key]);
  // Base64 of 16 random bytes.
  if (key.size() != 24 || key.substr(22) != "==") {
    ApiError e{400, "bad_request", "missing or malformed Sec-WebSocket-Key"};
    e.details["field"] = "Sec-WebSocket-Key";
    throw e;
  }
}

// One WebSocket subscriber. The session owns this (through the callbacks);
// the Hub only holds a weak reference to the sink.
struct LiveSession {
  std::unique_ptr<live::Subscription> sub;
  std::weak_ptr<WebSocketSink> sink;
};

std::shared_ptr<WebSocketApp> live_app(live::Hub& hub, iam::Principal who, std::vector<std::string> types) {
  auto session = std::make_shared<LiveSession>();
  auto app = std::make_shared<WebSocketApp>();
  app->on_open = [&hub, session, who = std::move(who),
                  types = std::move(types)](std::shared_ptr<WebSocketSink> sink) mutable {
    session->sink = sink;
    std::weak_ptr<WebSocketSink> weak = sink;
    session->sub = hub.subscribe(
        who,
        [weak](std::string msg) {
          if (auto s = weak.lock()) s->send(std::move(msg));
        },
        [weak](std::string reason) {
          if (auto s = weak.lock()) s->close(1008, reason);
        },
        std::move(types));
  };
  app->on_text = [session](std::string_view text) {
    // Only {"type":"ping"} means anything; everything else is ignored.
    auto j = json::parse(text, nullptr, false);
    if (!j.is_object() || j.value("type", json()) != "ping") return;
    if (auto s = session->sink.lock()) s->send(R"({"type":"pong"})");
  };
  app->on_close = [session] { session->sub.reset(); };
  return app;
}

}  // namespace

void Api::add_live_routes() {
  router_.add(
      http::verb::get, "/api/v1/events", Access::SignedIn, std::nullopt,
      {"Live events (WebSocket): a snapshot, then agent, queue and call events of your tenant that your "
       "permissions allow; see docs/live.md",
       "live",
       nullptr,
       nullptr,
       {{"types", "comma-separated event types to receive (default: all)"},
        {"access_token", "the bearer token, for clients that cannot set the Authorization header"}},
       101},
      [this](RequestContext& ctx) {
        if (!options_.services.live) throw ApiError{503, "unavailable", "live events are not available"};
        if (!ctx.peer.upgrade) {
          Reply r;
          r.status = 426;
          r.body = json{{"error",
                         {{"code", "upgrade_required"},
                          {"message", "this route is a WebSocket: connect with a WebSocket client"},
                          {"details", json::object()}}}};
          r.headers.emplace_back("Upgrade", "websocket");
          return r;
        }
        check_handshake(ctx.req);
        auto types = parse_types(ctx);
        *ctx.peer.upgrade = live_app(*options_.services.live, *ctx.principal, std::move(types));
        Reply r;
        r.status = 101;
        return r;
      });
}

}  // namespace hotline::api
