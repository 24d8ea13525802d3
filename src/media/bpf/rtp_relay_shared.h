/* media/bpf/rtp_relay_shared.h — the layout shared by the kernel relay's BPF
 * program (rtp_relay.bpf.c) and its loader (kernel_relay.cpp).
 *
 * One slot per relay direction: packets arriving at the receiving leg's local
 * address (the key) from its latched peer are rewritten as if the sending leg
 * had relayed them (its address, its peer, its SSRC/sequence/timestamp
 * offsets) and transmitted by the kernel. Userspace owns the configuration
 * fields and the deadline; the program owns the counters and the stream
 * positions, which userspace reads back (the slot array is mmap()ed).
 * Addresses and ports are in network byte order; everything else is host order.
 * Plain C: the BPF side is compiled by clang as C. */
#ifndef HOTLINE_MEDIA_BPF_RTP_RELAY_SHARED_H
#define HOTLINE_MEDIA_BPF_RTP_RELAY_SHARED_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint8_t hl_u8;
typedef std::uint16_t hl_u16;
typedef std::uint32_t hl_u32;
typedef std::int32_t hl_s32;
typedef std::uint64_t hl_u64;
#else
typedef __u8 hl_u8;
typedef __u16 hl_u16;
typedef __u32 hl_u32;
typedef __s32 hl_s32;
typedef __u64 hl_u64;
#endif

/* Key of the index map: the receiving leg's local address. addr 0 matches a
 * socket bound to the wildcard address (looked up after the exact address). */
struct hl_relay_key {
  hl_u32 addr;
  hl_u16 port;
  hl_u16 pad;
};

struct hl_relay_slot {
  /* ---- written by userspace before the key is inserted ---- */
  hl_u64 deadline_ns;  /* CLOCK_MONOTONIC; past it the program leaves packets alone */
  hl_u32 expect_saddr; /* only packets from the latched peer are relayed */
  hl_u16 expect_sport;
  hl_u8 audio_pt_in; /* only this payload type; events and the rest go to userspace */
  hl_u8 audio_pt_out;
  hl_u32 in_ssrc;   /* another SSRC starts a new relay segment: userspace decides it */
  hl_u32 new_saddr; /* the sending leg's local address */
  hl_u32 new_daddr; /* the sending leg's peer */
  hl_u16 new_sport;
  hl_u16 new_dport;
  hl_u16 seq_offset;
  hl_u16 pad0;
  hl_u32 ts_offset;
  hl_u32 out_ssrc;
  hl_u32 out_ifindex; /* where the rewritten packet leaves */
  hl_u32 out_local;   /* 1: the peer is on this host (out_ifindex is the loopback) */
  /* ---- written by the program (userspace seeds them before inserting) ---- */
  hl_u64 packets; /* relayed by the kernel since the slot was installed */
  hl_u64 octets;  /* their RTP payload bytes */
  hl_u64 last_ns; /* arrival of the newest, CLOCK_MONOTONIC */
  hl_u16 max_seq; /* RFC 3550 A.1 highest sequence number received */
  hl_u16 out_next_seq;
  hl_u32 cycles;       /* sequence number wraps, times 65536 */
  hl_s32 last_transit; /* A.8 jitter state, in 8 kHz units */
  hl_u32 jitter16;     /* A.8 jitter, scaled by 16 */
  hl_u32 have_transit;
  hl_u32 out_last_ts;
  hl_u64 out_last_ns;
  hl_u64 redirect_failed; /* packets the kernel could not send on (dropped, as a full socket would) */
};

#endif
