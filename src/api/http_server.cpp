#include "api/http_server.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <deque>
#include <optional>

namespace hotline::api {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// What connections need from the server. Held by shared_ptr so a connection
// that outlives a destroyed server does not dangle.
struct HttpServer::Shared {
  HttpServerOptions options;
  Handler handler;
  ErrorResponder on_error;
  std::atomic<bool> draining_flag{false};
  std::atomic<std::size_t> in_flight_count{0};
  std::atomic<std::size_t> connection_count{0};
  std::atomic<bool>* draining = &draining_flag;
  std::atomic<std::size_t>* in_flight = &in_flight_count;
  std::atomic<std::size_t>* connections = &connection_count;
  std::mutex mu;
  std::unordered_map<void*, std::function<void()>> idle_closers;  // connection -> close-if-idle
};

namespace {

// One client connection: HTTP/1.1 requests, and after an accepted upgrade a
// WebSocket session on the same socket (the stream moves into ws_).
template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>>, public WebSocketSink {
 public:
  Connection(Stream&& stream, std::shared_ptr<HttpServer::Shared> shared, Peer peer)
      : stream_(std::move(stream)),
        executor_(stream_.get_executor()),
        shared_(std::move(shared)),
        peer_(std::move(peer)) {}

  ~Connection() {
    shared_->connections->fetch_sub(1);
    std::lock_guard lock(shared_->mu);
    shared_->idle_closers.erase(this);
  }

  void start() {
    {
      std::lock_guard lock(shared_->mu);
      std::weak_ptr<Connection> weak = this->shared_from_this();
      shared_->idle_closers[this] = [weak] {
        if (auto self = weak.lock()) asio::post(self->executor_, [self] { self->on_drain(); });
      };
    }
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      beast::get_lowest_layer(stream_).expires_after(shared_->options.request_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return self->close();
                                self->read();
                              });
    } else {
      read();
    }
  }

  beast::tcp_stream& lowest() {
    return ws_ ? beast::get_lowest_layer(*ws_) : beast::get_lowest_layer(stream_);
  }

  void send(std::string text) override {
    asio::post(executor_, [self = this->shared_from_this(), t = std::move(text)]() mutable {
      self->ws_enqueue(std::move(t));
    });
  }

  void close(std::uint16_t code, std::string reason) override {
    asio::post(executor_, [self = this->shared_from_this(), code, r = std::move(reason)]() mutable {
      websocket::close_reason cr(code);
      cr.reason = r;
      self->ws_close(std::move(cr));
    });
  }

 private:
  void on_drain() {
    if (ws_) return ws_close(websocket::close_reason(websocket::close_code::going_away, "going away"));
    if (!busy_) close();
  }

  void read() {
    if (shared_->draining->load()) return close();
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    lowest().expires_after(shared_->options.idle_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    // The head is in: from now on this connection is busy with a request and
    // the (shorter) request timeout applies to the body.
    busy_ = true;
    shared_->in_flight->fetch_add(1);
    lowest().expires_after(shared_->options.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec2, std::size_t) { self->on_body(ec2); });
  }

  void on_body(beast::error_code ec) {
    if (ec) {
      finish_request();
      return on_read_error(ec);
    }
    Request req = parser_->release();
    const bool keep_alive = req.keep_alive();
    // An upgrade request offers the handler a slot for a WebSocketApp; the
    // head is kept for the handshake, the handler may consume the request.
    std::optional<http::request<http::empty_body>> upgrade;
    std::shared_ptr<WebSocketApp> app;
    Peer upgrade_peer;
    if (websocket::is_upgrade(req)) {
      upgrade.emplace(req.base());
      upgrade_peer = peer_;
      upgrade_peer.upgrade = &app;
    }
    Response res;
    try {
      res = shared_->handler(std::move(req), upgrade ? upgrade_peer : peer_);
    } catch (const std::exception& e) {
      spdlog::error("http: handler threw: {}", e.what());
      res = shared_->on_error(500, "internal", "internal error");
      app.reset();
    }
    if (app && res.result() == http::status::switching_protocols) return ws_start(std::move(*upgrade), app);
    write(std::move(res), /*close_after=*/!keep_alive);
  }

  // --- WebSocket session (all on the strand) ---

  void ws_start(http::request<http::empty_body> req, std::shared_ptr<WebSocketApp> app) {
    finish_request();  // the HTTP exchange is over: drain() need not wait for it
    app_ = std::move(app);
    lowest().expires_never();  // the websocket stream keeps its own timeouts
    ws_.emplace(std::move(stream_));
    websocket::stream_base::timeout t;
    t.handshake_timeout = shared_->options.request_timeout;  // also bounds the closing handshake
    t.idle_timeout = 2 * shared_->options.ws_ping_interval;  // pings at half of it, closes at all of it
    t.keep_alive_pings = true;
    ws_->set_option(t);
    ws_->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& r) { r.set(http::field::server, "hotline"); }));
    ws_->read_message_max(shared_->options.ws_max_message_bytes);
    ws_->async_accept(req,
                      [self = this->shared_from_this()](beast::error_code ec) { self->ws_on_accept(ec); });
  }

  void ws_on_accept(beast::error_code ec) {
    if (ec) return ws_finish();
    if (app_ && app_->on_open)
      app_->on_open(std::static_pointer_cast<WebSocketSink>(this->shared_from_this()));
    if (shared_->draining->load()) on_drain();
    if (closing_ && !writing_) ws_write_next();
    ws_read();
  }

  void ws_read() {
    ws_->async_read(rbuf_, [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
      // Errors include the client's close (answered by Beast), our own close
      // completing, 1009 for an oversize message (sent by Beast) and aborts.
      if (ec) return self->ws_finish();
      if (self->ws_->got_text() && self->app_ && self->app_->on_text) {
        auto data = self->rbuf_.cdata();
        self->app_->on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
      }
      self->rbuf_.consume(self->rbuf_.size());
      self->ws_read();
    });
  }

  void ws_enqueue(std::string text) {
    if (ws_done_ || closing_) return;
    if (outq_.size() >= shared_->options.ws_max_queued_messages) {
      // The client does not read: a close frame would queue behind the
      // stuck write too, so cut the connection.
      spdlog::warn("http: websocket client {} too slow ({} messages queued); disconnecting", peer_.address,
                   outq_.size());
      closing_ = websocket::close_reason(websocket::close_code::policy_error, "too slow");  // queue no more
      return ws_abort();
    }
    outq_.push_back(std::move(text));
    if (!writing_) ws_write_next();
  }

  void ws_write_next() {
    if (ws_done_) return;
    if (outq_.empty()) {
      if (closing_ && !close_sent_) {
        close_sent_ = true;
        ws_->async_close(*closing_, [self = this->shared_from_this()](beast::error_code ec) {
          if (ec) self->ws_abort();  // else the pending read ends with `closed`
        });
      }
      return;
    }
    writing_ = true;
    ws_->text(true);
    ws_->async_write(asio::buffer(outq_.front()),
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) return self->ws_abort();
                       self->outq_.pop_front();
                       self->ws_write_next();
                     });
  }

  void ws_close(websocket::close_reason reason) {
    if (ws_done_ || closing_) return;
    closing_ = std::move(reason);
    // A closing session counts as in flight, so that a drain waits for the
    // close handshake instead of cutting it off.
    closing_counted_ = true;
    shared_->in_flight->fetch_add(1);
    if (ws_->is_open() && !writing_) ws_write_next();  // else ws_on_accept starts it
  }

  void ws_abort() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  void ws_finish() {
    if (ws_done_) return;
    ws_done_ = true;
    outq_.clear();
    if (closing_counted_) shared_->in_flight->fetch_sub(1);
    auto app = std::move(app_);
    if (app && app->on_close) app->on_close();
    ws_abort();
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return write_error(
          413, "payload_too_large",
          "request body exceeds " + std::to_string(shared_->options.max_body_bytes) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return write_error(
          431, "headers_too_large",
          "request head exceeds " + std::to_string(shared_->options.max_header_bytes) + " bytes");
    }
    return write_error(400, "bad_request", "malformed HTTP request: " + ec.message());
  }

  void write_error(unsigned status, const std::string& code, const std::string& msg) {
    busy_ = true;
    shared_->in_flight->fetch_add(1);
    write(shared_->on_error(status, code, msg), /*close_after=*/true);
  }

  void write(Response res, bool close_after) {
    if (shared_->draining->load()) close_after = true;
    res.keep_alive(!close_after);
    res.prepare_payload();
    response_ = std::make_shared<Response>(std::move(res));
    lowest().expires_after(shared_->options.request_timeout);
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this(), close_after](beast::error_code ec, std::size_t) {
                        self->finish_request();
                        self->response_.reset();
                        if (ec) return self->close();
                        if (close_after) return self->linger_close();
                        self->read();
                      });
  }

  // Half-close and read what the client still sends before closing: closing
  // with unread data makes the kernel send RST, which can destroy the error
  // response (e.g. a 413) before the client reads it.
  void linger_close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().expires_after(std::chrono::seconds(2));
    drain_some();
  }

  void drain_some() {
    lowest().async_read_some(asio::buffer(discard_),
                             [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                               self->drained_ += n;
                               if (ec || self->drained_ > (8u << 20)) return self->close();
                               self->drain_some();
                             });
  }

  void finish_request() {
    if (busy_) {
      busy_ = false;
      shared_->in_flight->fetch_sub(1);
    }
  }

  void close() {
    beast::error_code ec;
    if constexpr (std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>) {
      // Skip the TLS close_notify round trip; the TCP shutdown is enough here.
      lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    } else {
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    }
    lowest().close();
  }

  Stream stream_;
  typename Stream::executor_type executor_;  // the connection's strand
  std::shared_ptr<HttpServer::Shared> shared_;
  Peer peer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<Response> response_;
  bool busy_ = false;
  std::array<char, 16384> discard_{};
  std::size_t drained_ = 0;
  // WebSocket session state, after an accepted upgrade.
  std::optional<websocket::stream<Stream>> ws_;
  std::shared_ptr<WebSocketApp> app_;
  beast::flat_buffer rbuf_;
  std::deque<std::string> outq_;
  bool writing_ = false;
  std::optional<websocket::close_reason> closing_;
  bool close_sent_ = false;
  bool closing_counted_ = false;
  bool ws_done_ = false;
};

}  // namespace

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler,
                       ErrorResponder on_error)
    : io_(io), options_(std::move(options)), acceptor_(io) {
  if (!options_.tls_cert_file.empty()) {
    ssl_ = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ssl_->native_handle(), TLS1_2_VERSION);
    ssl_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::single_dh_use);
    boost::system::error_code ec;
    ssl_->use_certificate_chain_file(options_.tls_cert_file, ec);
    if (ec)
      throw std::runtime_error("http: cannot load tls_cert " + options_.tls_cert_file + ": " + ec.message());
    ssl_->use_private_key_file(options_.tls_key_file, ssl::context::pem, ec);
    if (ec)
      throw std::runtime_error("http: cannot load tls_key " + options_.tls_key_file + ": " + ec.message());
  }
  boost::system::error_code ec;
  auto address = asio::ip::make_address(options_.host == "localhost" ? "127.0.0.1" : options_.host, ec);
  if (ec) throw std::runtime_error("http: bad listen address '" + options_.host + "'");
  tcp::endpoint ep(address, options_.port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(ep, ec);
  if (ec) {
    throw std::runtime_error("http: cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                             ": " + ec.message());
  }
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
  shared_ = std::make_shared<Shared>();
  shared_->options = options_;
  shared_->handler = std::move(handler);
  shared_->on_error = std::move(on_error);
}

HttpServer::~HttpServer() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

void HttpServer::start() { do_accept(); }

void HttpServer::do_accept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || shared_->draining_flag.load()) return;
    if (!ec) {
      boost::system::error_code ep_ec;
      auto remote = socket.remote_endpoint(ep_ec);
      Peer peer{ep_ec ? std::string("unknown") : remote.address().to_string(), ssl_ != nullptr};
      if (shared_->connection_count.load() >= options_.max_connections) {
        // Over the limit: close at once. Cheaper than a 503 and the client
        // retries; the limit protects memory and file descriptors.
        spdlog::warn("http: connection limit {} reached; refusing {}", options_.max_connections,
                     peer.address);
        socket.close(ep_ec);
      } else {
        shared_->connection_count.fetch_add(1);
        socket.set_option(tcp::no_delay(true), ep_ec);
        if (ssl_) {
          auto c = std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
              beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *ssl_), shared_,
              peer);
          c->start();
        } else {
          auto c = std::make_shared<Connection<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)),
                                                                   shared_, peer);
          c->start();
        }
      }
    }
    do_accept();
  });
}

bool HttpServer::draining() const { return shared_->draining_flag.load(); }
std::size_t HttpServer::in_flight() const { return shared_->in_flight_count.load(); }
std::size_t HttpServer::connections() const { return shared_->connection_count.load(); }

void HttpServer::drain() {
  shared_->draining_flag.store(true);
  asio::post(acceptor_.get_executor(), [this] {
    boost::system::error_code ec;
    acceptor_.close(ec);
  });
  std::vector<std::function<void()>> closers;
  {
    std::lock_guard lock(shared_->mu);
    for (auto& [_, fn] : shared_->idle_closers) closers.push_back(fn);
  }
  for (auto& fn : closers) fn();
}

}  // namespace hotline::api
