// api/http_server.h — the HTTP/1.1 server (Boost.Beast) under the REST API.
//
// Knows nothing of routes: every complete request goes to one Handler. The
// server enforces the limits (body and header size, connection count, idle
// and request timeouts), speaks HTTPS when a certificate is configured
// (TLS 1.2 minimum; TLS 1.3 is negotiated whenever the client offers it), and
// drains gracefully: after drain() it accepts nothing new, closes idle
// keep-alive connections, lets in-flight requests finish and answers them
// with `Connection: close`.
//
// Threads: the server runs on the io_context it is given; the Handler is
// called on one of that context's threads and may block briefly (database).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace hotline::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

struct Peer {
  std::string address;  // client IP as text
  bool tls = false;
};

using Handler = std::function<Response(Request&& req, const Peer& peer)>;

// Called for requests the server rejects itself (413, 431, 400, 503); builds
// the body in the API's error shape.
using ErrorResponder =
    std::function<Response(unsigned status, const std::string& code, const std::string& message)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port; see HttpServer::port()
  std::string tls_cert_file;  // HTTPS when both files are set
  std::string tls_key_file;
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_connections = 10000;
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds request_timeout{30};
};

class HttpServer {
 public:
  // Throws std::runtime_error when the address cannot be bound or the TLS
  // files cannot be loaded.
  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler,
             ErrorResponder on_error);
  ~HttpServer();

  void start();
  std::uint16_t port() const { return port_; }
  bool tls() const { return ssl_ != nullptr; }

  // Stop accepting, close idle connections; in-flight requests complete.
  void drain();
  bool draining() const;
  // Requests received whose response has not been fully written yet.
  std::size_t in_flight() const;
  std::size_t connections() const;

  struct Shared;  // state shared with connections (outlives the server if needed)

 private:
  void do_accept();

  boost::asio::io_context& io_;
  HttpServerOptions options_;
  std::unique_ptr<boost::asio::ssl::context> ssl_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  // Counters live in Shared: connections that outlive the server (their
  // handlers are destroyed with the io_context) still update them safely.
  std::shared_ptr<Shared> shared_;
};

}  // namespace hotline::api
