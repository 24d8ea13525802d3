// A blocking WebSocket client for tests (Beast), plain or over TLS: reads
// JSON text messages, reports the close code. Shared by the API and the
// call-layer end-to-end tests.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

namespace hotline::testing {

template <class Stream>
struct BasicWsClient {
  template <class... Args>
  explicit BasicWsClient(Args&&... args) : ws(std::forward<Args>(args)...) {}

  nlohmann::json read() {
    buf.clear();
    ws.read(buf);
    return nlohmann::json::parse(boost::beast::buffers_to_string(buf.data()));
  }
  void write(const std::string& text) {
    ws.text(true);
    ws.write(boost::asio::buffer(text));
  }
  // Reads until the server closes; returns the close code (0: no close frame).
  unsigned read_until_closed() {
    try {
      for (int i = 0; i < 10000; ++i) read();
    } catch (const boost::beast::system_error&) {
    }
    return ws.reason().code;
  }

  boost::beast::flat_buffer buf;
  boost::beast::websocket::stream<Stream> ws;
};

// A base so that the io_context is constructed before the stream.
struct IoContextHolder {
  boost::asio::io_context io_;
};

struct WsClient : IoContextHolder, BasicWsClient<boost::beast::tcp_stream> {
  explicit WsClient(unsigned short port) : BasicWsClient(io_) {
    boost::beast::get_lowest_layer(ws).connect({boost::asio::ip::make_address("127.0.0.1"), port});
    boost::beast::get_lowest_layer(ws).expires_after(std::chrono::seconds(60));
  }
  // Throws on a declined upgrade; `res` holds the server's HTTP answer.
  void handshake(const std::string& target, const std::string& token = "") {
    if (!token.empty()) {
      ws.set_option(
          boost::beast::websocket::stream_base::decorator([token](boost::beast::websocket::request_type& r) {
            r.set(boost::beast::http::field::authorization, "Bearer " + token);
          }));
    }
    ws.handshake(res, "127.0.0.1", target);
  }
  boost::beast::websocket::response_type res;
};

}  // namespace hotline::testing
