// media/kernel_relay.h — internal: bridged RTP relayed inside the kernel.
//
// A userspace relay pays two system calls and a loop wake-up per packet; most
// of its CPU is the kernel's UDP work (bench/README.md, Media). For the common
// bridge — both legs the same G.711 law, nothing listening to the audio —
// the engine can hand a direction to a tc ingress BPF program (bpf/
// rtp_relay.bpf.c): it rewrites the packet as the userspace relay would
// (addresses, ports, payload type, sequence, timestamp, SSRC) and transmits
// it, keeping the RFC 3550 statistics the session would have kept. Anything
// it cannot relay exactly (DTMF events, another SSRC, a sequence jump,
// strangers, no route yet) it leaves to the stack, so userspace sees it as
// before; Session decides when to install and withdraw (session.h).
//
// Needs CAP_BPF and CAP_NET_ADMIN (root), libbpf at build time, and IPv4.
// The program is attached to the ingress of each configured interface (the
// loopback for peers on this host, the NIC for the rest) beside any other
// filters there, and detached again by the destructor. A process that dies
// without detaching leaves an inert filter behind: its slots carry a deadline
// that only the living owner pushes forward, so its forwarding stops within
// kDeadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "media/bpf/rtp_relay_shared.h"

struct bpf_object;

namespace hotline::media {

class KernelRelay {
 public:
  // How long a slot relays without its owner refreshing it.
  static constexpr std::chrono::seconds kDeadline{3};

  // Loads the program with room for `max_slots` directions and attaches it to
  // the ingress of every interface named. Errors say why (not built with
  // libbpf, no privilege, no such interface, kernel refused).
  static common::Result<std::unique_ptr<KernelRelay>> open(const std::vector<std::string>& interfaces,
                                                           std::uint32_t max_slots);
  ~KernelRelay();
  KernelRelay(const KernelRelay&) = delete;
  KernelRelay& operator=(const KernelRelay&) = delete;

  // Installs one direction: writes `config` (its program-owned fields seed the
  // positions) into a free slot, then makes `key` point at it. nullopt when
  // every slot is in use or the kernel refused the key.
  std::optional<std::uint32_t> install(const hl_relay_key& key, const hl_relay_slot& config);
  // The slot as the program last left it (counters and positions).
  hl_relay_slot read(std::uint32_t slot) const;
  // Pushes the slot's deadline kDeadline past now.
  void refresh(std::uint32_t slot);
  // Removes the key; the slot is reused only after a quarantine, so a packet
  // still in flight on another CPU never lands in someone else's slot.
  void remove(std::uint32_t slot, const hl_relay_key& key);

  static std::uint64_t monotonic_ns();

  // Where a packet from local address `saddr` to `daddr` (network order)
  // leaves: the loopback when `daddr` is this host's, else the interface that
  // holds `saddr` (the sending leg's socket chose it by route). nullopt when
  // neither is known.
  struct Egress {
    std::uint32_t ifindex = 0;
    bool local = false;
  };
  static std::optional<Egress> egress(std::uint32_t saddr, std::uint32_t daddr);
  // Attached interfaces, for the log.
  const std::vector<std::string>& interfaces() const { return names_; }

 private:
  KernelRelay() = default;
  struct Attachment {
    int ifindex = 0;
    std::uint32_t handle = 0;
    std::uint32_t priority = 0;
  };
  common::Status attach(const std::string& name);
  std::optional<std::uint32_t> take_slot();

  bpf_object* object_ = nullptr;
  int program_fd_ = -1;
  int index_fd_ = -1;
  int slots_fd_ = -1;
  hl_relay_slot* slots_ = nullptr;  // the program's slot array, mmap()ed
  std::size_t mapped_bytes_ = 0;
  std::uint32_t max_slots_ = 0;
  std::vector<Attachment> attached_;
  std::vector<std::string> names_;

  std::mutex mu_;  // slot bookkeeping only (install/remove), never per packet
  std::uint32_t never_used_ = 0;
  struct Quarantined {
    std::uint32_t slot;
    std::uint64_t free_at_ns;
  };
  std::deque<Quarantined> released_;
};

}  // namespace hotline::media
