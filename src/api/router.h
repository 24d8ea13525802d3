// api/router.h — routes, their documentation and their permission, in one table.
//
// Every route declares who may call it (public, any signed-in user, or one
// named permission) and how it is documented; the router checks the
// permission before the handler runs, so no handler can forget it, and the
// OpenAPI document is generated from the same table, so no route can be
// missing from it.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "iam/iam.h"

namespace hotline::api {

using nlohmann::json;

// A handler's failure: becomes {"error":{"code","message","details"}}.
struct ApiError {
  unsigned status;
  std::string code;
  std::string message;
  json details = json::object();
  long long retry_after_s = 0;

  static ApiError bad_request(std::string message, std::string field = "");
  static ApiError from(const common::Error& e);
};

enum class Access { Public, SignedIn, Permission };

struct RouteDoc {
  RouteDoc(std::string summary_, std::string tag_, json request = nullptr, json response = nullptr,
           std::vector<std::pair<std::string, std::string>> query_ = {}, unsigned success = 200)
      : summary(std::move(summary_)),
        tag(std::move(tag_)),
        request_schema(std::move(request)),
        response_schema(std::move(response)),
        query(std::move(query_)),
        success_status(success) {}

  std::string summary;
  std::string tag;
  json request_schema;                                     // null when the route takes no body
  json response_schema;                                    // schema of a success body; null for 204
  std::vector<std::pair<std::string, std::string>> query;  // name, description
  unsigned success_status = 200;
  // Path parameters are positive integers unless the route says otherwise
  // (call and recording ids are text: 1-32 of [0-9a-zA-Z_-]).
  bool text_ids = false;
  RouteDoc&& with_text_ids() && {
    text_ids = true;
    return std::move(*this);
  }
};

struct RequestContext {
  RequestContext(const Request& r, const Peer& p, std::string rid, std::string path_only)
      : req(r), peer(p), request_id(std::move(rid)), path(std::move(path_only)) {}

  const Request& req;
  const Peer& peer;
  std::string request_id;
  std::string path;                           // without the query string
  std::map<std::string, std::string> params;  // {id} -> value
  std::map<std::string, std::string> query;   // decoded
  std::optional<iam::Principal> principal;    // set unless the route is public

  // The JSON object body. Throws ApiError 415/400 with a reason.
  const json& body();
  // Query parameter helpers; throw ApiError 400 naming the parameter.
  std::optional<std::string> query_string(const std::string& name) const;
  std::optional<std::int64_t> query_int(const std::string& name, std::int64_t lo, std::int64_t hi) const;
  std::int64_t id_param(const std::string& name = "id") const;
  iam::Actor actor() const { return principal->actor(peer.address); }

 private:
  std::optional<json> body_;
};

struct Reply {
  unsigned status = 200;
  json body;  // serialised unless `text` is set
  std::optional<std::string> text;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

using RouteHandler = std::function<Reply(RequestContext&)>;

struct Route {
  boost::beast::http::verb method;
  std::string pattern;  // "/api/v1/users/{id}"
  Access access;
  std::optional<iam::Permission> permission;
  RouteDoc doc;
  RouteHandler handler;
  std::vector<std::string> segments;  // pattern split on '/'
};

class Router {
 public:
  void add(boost::beast::http::verb method, const std::string& pattern, Access access,
           std::optional<iam::Permission> permission, RouteDoc doc, RouteHandler handler);
  const std::vector<Route>& routes() const { return routes_; }

  struct Match {
    const Route* route = nullptr;
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed_methods;  // when the path matched but not the method
  };
  Match match(boost::beast::http::verb method, const std::string& path) const;

  json openapi(const std::string& version) const;

 private:
  std::vector<Route> routes_;
};

// Field readers for JSON bodies; each throws ApiError 400 naming the field.
std::string req_string(const json& body, const char* field);
std::optional<std::string> opt_string(const json& body, const char* field);
std::optional<bool> opt_bool(const json& body, const char* field);
std::optional<std::vector<std::string>> opt_string_list(const json& body, const char* field);
void reject_unknown_fields(const json& body, std::initializer_list<const char*> known);

// Decodes %XX and '+' in a query component; nullopt when malformed.
std::optional<std::string> url_decode(std::string_view s);

}  // namespace hotline::api
