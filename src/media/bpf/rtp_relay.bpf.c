/* media/bpf/rtp_relay.bpf.c — the kernel relay: a tc ingress program that
 * forwards bridged G.711 RTP between two sessions without waking the media
 * loop (see kernel_relay.h for when a session is handed to it).
 *
 * For a packet to an installed key, from the latched peer, with the expected
 * payload type and SSRC and a sequence number within the RFC 3550 A.1
 * window, it: updates the reception statistics the session would have
 * kept (A.1 highest sequence, A.8 jitter), rewrites the IPv4 addresses, UDP
 * ports and RTP header (PT, sequence, timestamp, SSRC) with incremental
 * checksum updates, and transmits it on the interface userspace chose (the
 * loopback for a peer on this host; otherwise with the neighbour subsystem
 * filling in the L2 addresses). Anything else returns TC_ACT_UNSPEC so the next
 * filter or the normal stack sees it: userspace handles it as before.
 *
 * Two CPUs relaying the same slot at once would race on the counters; a
 * stream arrives in order from one sender, so that is rare and costs at most
 * a miscount, never a bad packet. */
// linux/bpf.h (and its __u32 and friends) before libbpf's helpers.
#include <linux/bpf.h>
// Then the rest.
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>

#include "rtp_relay_shared.h"

#define ETH_LEN 14
#define IP_OFF ETH_LEN
#define IP_TTL_OFF (IP_OFF + 8)
#define IP_CSUM_OFF (IP_OFF + 10)
#define IP_ADDRS_OFF (IP_OFF + 12)
#define UDP_OFF (IP_OFF + 20)
#define UDP_CSUM_OFF (UDP_OFF + 6)
#define RTP_OFF (UDP_OFF + 8)
#define RTP_HEADER 12
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

/* Sized by the loader (bpf_map__set_max_entries) to the engine's port range. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, struct hl_relay_key);
  __type(value, __u32);
} hl_relay_index SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct hl_relay_slot);
} hl_relay_slots SEC(".maps");

static __always_inline struct hl_relay_slot* find_slot(__u32 daddr, __u16 dport) {
  struct hl_relay_key key = {.addr = daddr, .port = dport, .pad = 0};
  __u32* index = bpf_map_lookup_elem(&hl_relay_index, &key);
  if (!index) {
    key.addr = 0; /* a socket bound to the wildcard address */
    index = bpf_map_lookup_elem(&hl_relay_index, &key);
    if (!index) return 0;
  }
  return bpf_map_lookup_elem(&hl_relay_slots, index);
}

/* A.1: is `seq` in the window the userspace statistics would accept without
 * probation? Big jumps go to userspace, which runs the full algorithm. */
static __always_inline int sequence_acceptable(const struct hl_relay_slot* s, __u16 seq) {
  __u16 udelta = (__u16)(seq - s->max_seq);
  return udelta < MAX_DROPOUT || udelta > (__u16)(65536 - MAX_MISORDER);
}

static __always_inline void count_reception(struct hl_relay_slot* s, __u16 seq, __u32 ts, __u32 payload,
                                            __u64 now) {
  __u16 udelta = (__u16)(seq - s->max_seq);
  if (udelta < MAX_DROPOUT) {
    if (seq < s->max_seq) s->cycles += 65536;
    s->max_seq = seq;
  }
  __s32 transit = (__s32)((__u32)(now / 125000) - ts); /* arrival in 8 kHz units */
  if (s->have_transit) {
    __s32 d = transit - s->last_transit;
    if (d < 0) d = -d;
    s->jitter16 += (__u32)d - ((s->jitter16 + 8) >> 4);
  }
  s->last_transit = transit;
  s->have_transit = 1;
  s->packets += 1;
  s->octets += payload;
  s->last_ns = now;
}

static __always_inline void track_output(struct hl_relay_slot* s, __u16 seq, __u32 ts, __u64 now) {
  if ((__s16)(seq - s->out_next_seq) >= 0) s->out_next_seq = (__u16)(seq + 1);
  if ((__s32)(ts - s->out_last_ts) >= 0) {
    s->out_last_ts = ts;
    s->out_last_ns = now;
  }
}

SEC("tc")
int hl_rtp_relay(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* end = (void*)(long)skb->data_end;
  if (data + RTP_OFF + RTP_HEADER > end) return TC_ACT_UNSPEC;
  struct ethhdr* eth = data;
  struct iphdr* ip = data + IP_OFF;
  struct udphdr* udp = data + UDP_OFF;
  __u8* rtp = data + RTP_OFF;
  if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
    return TC_ACT_UNSPEC;
  if (ip->frag_off & bpf_htons(0x3fff)) return TC_ACT_UNSPEC; /* fragments: the stack reassembles */
  /* Each pass through the relay costs a hop, so a loop (an SDP pointing one leg
   * at the other's port) ends in userspace instead of spinning in softirq. */
  if (ip->ttl <= 1) return TC_ACT_UNSPEC;
  __u32 udp_len = bpf_ntohs(udp->len);
  if (udp_len < 8 + RTP_HEADER || bpf_ntohs(ip->tot_len) != 20 + udp_len) return TC_ACT_UNSPEC;

  struct hl_relay_slot* s = find_slot(ip->daddr, udp->dest);
  if (!s) return TC_ACT_UNSPEC;
  __u64 now = bpf_ktime_get_ns();
  if (now > s->deadline_ns) return TC_ACT_UNSPEC; /* the owner stopped refreshing (gone or stalled) */
  if (ip->saddr != s->expect_saddr || udp->source != s->expect_sport) return TC_ACT_UNSPEC;
  if ((rtp[0] & 0xc0) != 0x80 || (rtp[1] & 0x7f) != s->audio_pt_in) return TC_ACT_UNSPEC;
  __u32 old_rtp[3];
  __builtin_memcpy(old_rtp, rtp, RTP_HEADER);
  if (bpf_ntohl(old_rtp[2]) != s->in_ssrc) return TC_ACT_UNSPEC;
  __u16 seq = bpf_ntohs(*(__u16*)(rtp + 2));
  __u32 ts = bpf_ntohl(old_rtp[1]);
  if (!sequence_acceptable(s, seq)) return TC_ACT_UNSPEC;

  __u8 ttl_word[2] = {ip->ttl, ip->protocol}; /* one 16-bit word of the header checksum */
  __u16 old_ttl_word, new_ttl_word;
  __builtin_memcpy(&old_ttl_word, ttl_word, 2);
  ttl_word[0] -= 1;
  __builtin_memcpy(&new_ttl_word, ttl_word, 2);
  __u32 old_addrs[2] = {ip->saddr, ip->daddr};
  __u32 new_addrs[2] = {s->new_saddr, s->new_daddr};
  __u16 old_ports[2] = {udp->source, udp->dest};
  __u16 new_ports[2] = {s->new_sport, s->new_dport};
  __u16 out_seq = (__u16)(seq + s->seq_offset);
  __u32 out_ts = ts + s->ts_offset;
  __u32 new_rtp[3];
  __u8* h = (__u8*)new_rtp;
  h[0] = rtp[0];
  h[1] = (__u8)((rtp[1] & 0x80) | s->audio_pt_out);
  *(__u16*)(h + 2) = bpf_htons(out_seq);
  new_rtp[1] = bpf_htonl(out_ts);
  new_rtp[2] = bpf_htonl(s->out_ssrc);

  count_reception(s, seq, ts, udp_len - 8 - RTP_HEADER, now);
  track_output(s, out_seq, out_ts, now);

  /* Addresses are in the IP header checksum and the UDP pseudo-header; ports
   * and RTP fields only in the UDP checksum (left alone when it is 0, and
   * right for CHECKSUM_PARTIAL packets: the helpers know the difference). */
  __s64 addr_diff = bpf_csum_diff(old_addrs, sizeof old_addrs, new_addrs, sizeof new_addrs, 0);
  __u32 old_l4[4] = {*(__u32*)old_ports, old_rtp[0], old_rtp[1], old_rtp[2]};
  __u32 new_l4[4] = {*(__u32*)new_ports, new_rtp[0], new_rtp[1], new_rtp[2]};
  __s64 l4_diff = bpf_csum_diff(old_l4, sizeof old_l4, new_l4, sizeof new_l4, 0);
  if (addr_diff < 0 || l4_diff < 0) return TC_ACT_SHOT;
  bpf_l3_csum_replace(skb, IP_CSUM_OFF, 0, (__u32)addr_diff, 0);
  bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ttl_word, new_ttl_word, 2);
  bpf_skb_store_bytes(skb, IP_TTL_OFF, ttl_word, 1, 0);
  bpf_l4_csum_replace(skb, UDP_CSUM_OFF, 0, (__u32)addr_diff, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
  bpf_l4_csum_replace(skb, UDP_CSUM_OFF, 0, (__u32)l4_diff, BPF_F_MARK_MANGLED_0);
  bpf_skb_store_bytes(skb, IP_ADDRS_OFF, new_addrs, sizeof new_addrs, 0);
  bpf_skb_store_bytes(skb, UDP_OFF, new_ports, sizeof new_ports, 0);
  bpf_skb_store_bytes(skb, RTP_OFF, new_rtp, sizeof new_rtp, 0);
  long rc;
  if (s->out_local) {
    /* The loopback delivers it back to this host's stack: no L2 addresses needed. */
    __u8 macs[12] = {0};
    bpf_skb_store_bytes(skb, 0, macs, sizeof macs, 0);
    rc = bpf_redirect(s->out_ifindex, 0);
  } else {
    /* Route and neighbour (ARP) from the kernel's tables, as a sent datagram gets. */
    rc = bpf_redirect_neigh(s->out_ifindex, 0, 0, 0);
  }
  if (rc != TC_ACT_REDIRECT) s->redirect_failed += 1;
  return rc;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
