#include "api/router.h"

#include <cctype>

#include "iam/validate.h"

namespace hotline::api {

namespace http = boost::beast::http;

ApiError ApiError::bad_request(std::string message, std::string field) {
  ApiError e{400, "invalid_argument", std::move(message)};
  if (!field.empty()) e.details["field"] = field;
  return e;
}

ApiError ApiError::from(const common::Error& e) {
  static const std::map<std::string, unsigned> status = {
      {"invalid_argument", 400}, {"unauthorized", 401}, {"forbidden", 403},    {"not_found", 404},
      {"conflict", 409},         {"locked", 429},       {"rate_limited", 429}, {"internal", 500},
  };
  auto it = status.find(e.code);
  ApiError out{it == status.end() ? 500u : it->second, e.code, e.message};
  if (!e.field.empty()) out.details["field"] = e.field;
  out.retry_after_s = e.retry_after_s;
  return out;
}

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

bool is_param(const std::string& seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

}  // namespace

void Router::add(http::verb method, const std::string& pattern, Access access,
                 std::optional<iam::Permission> permission, RouteDoc doc, RouteHandler handler) {
  routes_.push_back(
      Route{method, pattern, access, permission, std::move(doc), std::move(handler), split_path(pattern)});
}

Router::Match Router::match(http::verb method, const std::string& path) const {
  Match m;
  auto segs = split_path(path);
  for (const auto& r : routes_) {
    if (r.segments.size() != segs.size()) continue;
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; i < segs.size() && ok; ++i) {
      if (is_param(r.segments[i])) {
        if (segs[i].empty())
          ok = false;
        else
          params[r.segments[i].substr(1, r.segments[i].size() - 2)] = segs[i];
      } else {
        ok = r.segments[i] == segs[i];
      }
    }
    if (!ok) continue;
    if (r.method == method || (method == http::verb::head && r.method == http::verb::get)) {
      m.route = &r;
      m.params = std::move(params);
      return m;
    }
    m.allowed_methods.emplace_back(http::to_string(r.method));
  }
  return m;
}

json Router::openapi(const std::string& version) const {
  json paths = json::object();
  for (const auto& r : routes_) {
    const std::string method(http::to_string(r.method));
    // OpenAPI names operations by lower-case method ("get"); Beast spells them "GET".
    std::string key = method;
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    json op;
    op["summary"] = r.doc.summary;
    op["tags"] = json::array({r.doc.tag});
    op["operationId"] = method + " " + r.pattern;
    if (r.access == Access::Public) {
      op["security"] = json::array();
    } else {
      op["security"] = json::array({json{{"bearer", json::array()}}});
    }
    if (r.permission) op["x-permission"] = std::string(iam::permission_name(*r.permission));
    json params = json::array();
    for (const auto& seg : r.segments) {
      if (is_param(seg)) {
        params.push_back(
            {{"name", seg.substr(1, seg.size() - 2)},
             {"in", "path"},
             {"required", true},
             {"schema", r.doc.text_ids ? json{{"type", "string"}, {"pattern", "^[0-9A-Za-z_-]{1,32}$"}}
                                       : json{{"type", "integer"}, {"minimum", 1}}}});
      }
    }
    for (const auto& [name, desc] : r.doc.query) {
      params.push_back({{"name", name},
                        {"in", "query"},
                        {"required", false},
                        {"description", desc},
                        {"schema", {{"type", "string"}}}});
    }
    if (!params.empty()) op["parameters"] = params;
    if (!r.doc.request_schema.is_null()) {
      op["requestBody"] = {{"required", true},
                           {"content", {{"application/json", {{"schema", r.doc.request_schema}}}}}};
    }
    json responses;
    const auto ok = std::to_string(r.doc.success_status);
    if (r.doc.response_schema.is_null()) {
      responses[ok] = {{"description", "Success"}};
    } else {
      responses[ok] = {{"description", "Success"},
                       {"content", {{"application/json", {{"schema", r.doc.response_schema}}}}}};
    }
    auto err =
        json{{"description", "Error"},
             {"content", {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
    responses["400"] = err;
    if (r.access != Access::Public) responses["401"] = err;
    if (r.permission) responses["403"] = err;
    responses["default"] = err;
    op["responses"] = responses;
    paths[r.pattern][key] = std::move(op);
  }
  json error_schema = {{"type", "object"},
                       {"required", {"error"}},
                       {"properties",
                        {{"error",
                          {{"type", "object"},
                           {"required", {"code", "message", "details"}},
                           {"properties",
                            {{"code", {{"type", "string"}}},
                             {"message", {{"type", "string"}}},
                             {"details", {{"type", "object"}}}}}}}}}};
  return json{{"openapi", "3.0.3"},
              {"info", {{"title", "Hotline API"}, {"version", version}}},
              {"servers", json::array({json{{"url", "/"}}})},
              {"paths", paths},
              {"components",
               {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
                {"schemas", {{"Error", error_schema}}}}}};
}

// ---- request helpers ----

const json& RequestContext::body() {
  if (body_) return *body_;
  auto ct = std::string(req[http::field::content_type]);
  if (ct.rfind("application/json", 0) != 0) {
    throw ApiError{415, "unsupported_media_type", "Content-Type must be application/json"};
  }
  auto parsed = json::parse(req.body(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    // Re-parse to get the position and reason for the message.
    try {
      auto again = json::parse(req.body());
      (void)again;
    } catch (const json::parse_error& e) {
      throw ApiError{400, "malformed_json", std::string("malformed JSON: ") + e.what(),
                     json{{"byte", e.byte}}};
    }
    throw ApiError{400, "malformed_json", "malformed JSON"};
  }
  if (!parsed.is_object()) throw ApiError{400, "malformed_json", "request body must be a JSON object"};
  body_ = std::move(parsed);
  return *body_;
}

std::optional<std::string> RequestContext::query_string(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::optional<std::int64_t> RequestContext::query_int(const std::string& name, std::int64_t lo,
                                                      std::int64_t hi) const {
  auto s = query_string(name);
  if (!s) return std::nullopt;
  std::int64_t v = 0;
  std::size_t used = 0;
  try {
    v = std::stoll(*s, &used);
  } catch (...) {
    used = 0;
  }
  if (s->empty() || used != s->size() || v < lo || v > hi) {
    throw ApiError::bad_request("query parameter '" + name + "' must be an integer from " +
                                    std::to_string(lo) + " to " + std::to_string(hi),
                                name);
  }
  return v;
}

std::int64_t RequestContext::id_param(const std::string& name) const {
  const auto& s = params.at(name);
  std::int64_t v = 0;
  std::size_t used = 0;
  try {
    v = std::stoll(s, &used);
  } catch (...) {
    used = 0;
  }
  if (used != s.size() || v < 1)
    throw ApiError::bad_request("path parameter '" + name + "' must be a positive integer", name);
  return v;
}

std::optional<std::string> url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// ---- body field readers ----

namespace {

[[noreturn]] void wrong_type(const char* field, const char* type) {
  throw ApiError::bad_request(std::string("field '") + field + "' must be " + type, field);
}

}  // namespace

std::string req_string(const json& body, const char* field) {
  auto v = opt_string(body, field);
  if (!v) throw ApiError::bad_request(std::string("field '") + field + "' is required", field);
  return *v;
}

std::optional<std::string> opt_string(const json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) wrong_type(field, "a string");
  return it->get<std::string>();
}

std::optional<bool> opt_bool(const json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) wrong_type(field, "true or false");
  return it->get<bool>();
}

std::optional<std::vector<std::string>> opt_string_list(const json& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) wrong_type(field, "an array of strings");
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) wrong_type(field, "an array of strings");
    out.push_back(v.get<std::string>());
  }
  if (out.size() > 100)
    throw ApiError::bad_request(std::string("field '") + field + "' has too many items", field);
  return out;
}

void reject_unknown_fields(const json& body, std::initializer_list<const char*> known) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool ok = false;
    for (const char* k : known) ok = ok || it.key() == k;
    if (!ok) {
      auto key = iam::is_clean_utf8(it.key()) ? it.key() : std::string("(invalid UTF-8)");
      throw ApiError::bad_request("unknown field '" + key + "'", key);
    }
  }
}

}  // namespace hotline::api
