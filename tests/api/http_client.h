// A small synchronous HTTP/1.1 client over real sockets for tests.
//
//   HttpClient c("127.0.0.1", port);
//   auto r = c.request(http::verb::post, "/api/v1/auth/login", R"({"tenant":"demo"})", {{"Content-Type",
//   "application/json"}}); EXPECT_EQ(r.status, 400); auto j = r.json();
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace hotline::testing {

struct HttpResult {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
  // By value, so `for (auto& x : r.items())` does not dangle.
  nlohmann::json items() const { return json()["items"]; }
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (boost::beast::iequals(k, name)) return v;
    }
    return "";
  }
};

class HttpClient {
 public:
  HttpClient(std::string host, unsigned short port)
      : host_(std::move(host)),
        port_(port),
        io_(std::make_unique<boost::asio::io_context>()),
        stream_(std::make_unique<boost::beast::tcp_stream>(*io_)) {}
  HttpClient(HttpClient&&) = default;
  HttpClient& operator=(HttpClient&&) = default;

  HttpResult request(boost::beast::http::verb method, const std::string& target, const std::string& body = "",
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    namespace http = boost::beast::http;
    connect_if_needed();
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, host_);
    req.keep_alive(true);
    bool has_ct = false;
    for (auto& [k, v] : headers) {
      req.set(k, v);
      has_ct = has_ct || boost::beast::iequals(k, "content-type");
    }
    if (!body.empty() && !has_ct) req.set(http::field::content_type, "application/json");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    req.body() = body;
    req.prepare_payload();
    http::write(*stream_, req);
    return read_response();
  }

  HttpResult get(const std::string& target) { return request(boost::beast::http::verb::get, target); }
  HttpResult post(const std::string& target, const nlohmann::json& body) {
    return request(boost::beast::http::verb::post, target, body.dump());
  }
  HttpResult put(const std::string& target, const nlohmann::json& body) {
    return request(boost::beast::http::verb::put, target, body.dump());
  }
  HttpResult patch(const std::string& target, const nlohmann::json& body) {
    return request(boost::beast::http::verb::patch, target, body.dump());
  }
  HttpResult del(const std::string& target) { return request(boost::beast::http::verb::delete_, target); }

  // Sends raw bytes (for malformed requests) and reads one response.
  HttpResult raw(const std::string& bytes) {
    connect_if_needed();
    boost::asio::write(stream_->socket(), boost::asio::buffer(bytes));
    return read_response();
  }

  void close() {
    boost::beast::error_code ec;
    stream_->socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    stream_->close();
    connected_ = false;
  }

  std::string token;  // sent as a bearer token when set

 private:
  void connect_if_needed() {
    if (connected_) return;
    stream_ = std::make_unique<boost::beast::tcp_stream>(*io_);
    buffer_.clear();
    boost::asio::ip::tcp::resolver resolver(*io_);
    stream_->connect(resolver.resolve(host_, std::to_string(port_)));
    connected_ = true;
  }

  HttpResult read_response() {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    stream_->expires_after(std::chrono::seconds(60));
    http::read(*stream_, buffer_, parser);
    auto res = parser.release();
    HttpResult out;
    out.status = res.result_int();
    out.body = res.body();
    for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    if (!res.keep_alive()) close();
    return out;
  }

  std::string host_;
  unsigned short port_;
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
};

}  // namespace hotline::testing
