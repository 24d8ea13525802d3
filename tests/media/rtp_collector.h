// Test helper: collects the RTP packets a UdpPeer receives, on its own thread
// so arrival times are real.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "media/rtp.h"
#include "udp_peer.h"

namespace hotline::media::testing {

struct Rx {
  RtpPacket p;
  std::vector<std::uint8_t> data;
  std::chrono::steady_clock::time_point at;
  std::uint16_t from_port = 0;
};

// Reads a peer socket on its own thread so arrival times are real.
class Collector {
 public:
  explicit Collector(const UdpPeer& peer) : peer_(peer), thread_([this] { run(); }) {}
  ~Collector() {
    stop_ = true;
    thread_.join();
  }
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return wait_for(
        [&] {
          std::lock_guard l(mu_);
          return pred(all_);
        },
        timeout);
  }
  std::vector<Rx> snapshot() {
    std::lock_guard l(mu_);
    return all_;
  }
  std::size_t size() {
    std::lock_guard l(mu_);
    return all_.size();
  }

 private:
  void run() {
    while (!stop_) {
      auto d = peer_.recv(20);
      if (!d) continue;
      RtpPacket p;
      if (looks_like_rtcp(d->data) || parse_rtp(d->data, p) != ParseStatus::ok) continue;
      std::lock_guard l(mu_);
      all_.push_back({p, std::move(d->data), d->at, d->from_port});
    }
  }
  const UdpPeer& peer_;
  std::mutex mu_;
  std::vector<Rx> all_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace hotline::media::testing
