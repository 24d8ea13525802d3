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
// WebSocket: a request that asks for a WebSocket upgrade reaches the Handler
// like any other, with Peer::upgrade set. A handler that accepts it stores a
// WebSocketApp there and answers 101; the server then completes the
// handshake and the connection becomes a WebSocket session (it still counts
// in connections()). Any other answer is written as a normal HTTP response.
// Sessions ping the client when it has been quiet for ws_ping_interval,
// close with 1009 on a message over ws_max_message_bytes, are cut off when
// more than ws_max_queued_messages wait to be written (a client that does
// not read), and close with 1001 "going away" on drain().
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

// The server side of an open WebSocket session, for the application. Both
// methods may be called from any thread, also after the session ended (they
// then do nothing).
class WebSocketSink {
 public:
  virtual ~WebSocketSink() = default;
  // Queues a text message.
  virtual void send(std::string text) = 0;
  // Sends what is queued, then closes with `code` (1000, 1001, 1008, ...).
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

// The application side of a WebSocket session, given by the handler that
// accepted the upgrade. All callbacks run on the connection's strand.
struct WebSocketApp {
  // The handshake is done. Keep the sink weakly if it is held by something
  // the session itself keeps alive (on_close breaks such cycles anyway).
  std::function<void(std::shared_ptr<WebSocketSink>)> on_open;
  std::function<void(std::string_view text)> on_text;  // each text message (binary ones are ignored)
  std::function<void()> on_close;                      // once, however the session ends
};

struct Peer {
  std::string address;  // client IP as text
  bool tls = false;
  // Set for a WebSocket upgrade request only: see the top of this file.
  std::shared_ptr<WebSocketApp>* upgrade = nullptr;
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
  std::chrono::seconds ws_ping_interval{30};
  std::size_t ws_max_message_bytes = 4 << 10;  // from the client
  std::size_t ws_max_queued_messages = 1024;   // to the client, not yet written
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
  // Requests received whose response has not been fully written yet, and
  // WebSocket sessions whose closing handshake is not done.
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
