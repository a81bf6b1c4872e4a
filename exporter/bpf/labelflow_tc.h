/* SPDX-License-Identifier: Apache-2.0 */
/*
 * labelflow_tc: what the TC program (labelflow_tc.bpf.c) and its user side (cap_ebpf.c)
 * share: map layouts, the ring event and the counter numbers. Fixed-width fields, explicit
 * padding, no pointers; the includer provides __u8..__u64 (vmlinux.h or <linux/types.h>).
 * Byte order: addresses in network order, ports and ids in host order (as struct flow_key).
 */
#ifndef LABELFLOW_TC_H
#define LABELFLOW_TC_H

/* Defaults for the tunables the user side sets before load. */
#define LABELFLOW_TC_DEFAULT_MAX_FLOWS	65536
#define LABELFLOW_TC_DEFAULT_RING_BYTES (1u << 20)
#define LABELFLOW_TC_MAX_IFACES		4096 /* lf_ifstats entries (interfaces + slot 0) */
#define LABELFLOW_TC_FRAG_ENTRIES	4096 /* lf_frags: first fragments remembered (LRU) */
#define LABELFLOW_TC_MAX_VLAN_TAGS	6    /* in-packet 802.1Q/802.1ad tags walked */
#define LABELFLOW_TC_MAX_IPV6_EXT	8    /* IPv6 extension headers walked */

/* IP protocol numbers the biflow key needs, on both sides. */
#define LABELFLOW_TC_P_ICMP   1
#define LABELFLOW_TC_P_TCP    6
#define LABELFLOW_TC_P_ICMPV6 58

/* lf_ifstats value flags, set by user space at attach (identical on every CPU). */
#define LABELFLOW_TC_IF_L3 0x1 /* no link header: the packet starts with IPv4/IPv6 */

/* The program's verdict is always TC_ACT_UNSPEC: it only observes. */
#define LABELFLOW_TC_ACT_UNSPEC (-1)

/*
 * Flow key: byte for byte the layout of struct flow_key in include/decode.h (52 bytes;
 * cap_ebpf.c asserts size and offsets). Zeroed before it is filled.
 */
struct labelflow_tc_key {
	__u8 src_addr[16];
	__u8 dst_addr[16];
	__u32 ifindex;
	__u32 tunnel_id;
	__u16 src_port;
	__u16 dst_port;
	__u16 vlan_id;
	__u8 ip_version;
	__u8 proto;
	__u8 direction; /* 0 ingress, 1 egress */
	__u8 tunnel_type;
	__u8 pad[2];
};

/*
 * Per-CPU flow counters (lf_flows value). A CPU's slot with packets == 0 was never
 * written by that CPU. first-packet fields (tos, outer addresses, inner VLAN) belong to
 * the slot's first packet; user space takes them from the slot with the smallest first_ns.
 */
struct labelflow_tc_value {
	__u64 packets;
	__u64 octets;	/* sum of IP lengths (decode_pkt.octets) */
	__u64 gso_segs; /* sum of max(skb gso_segs, 1) */
	__u64 first_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) of the slot's first packet */
	__u64 last_ns;
	__u8 outer_src_addr[16];
	__u8 outer_dst_addr[16];
	__u16 inner_vlan_id;
	__u8 tcp_flags; /* OR since the flow entry was created */
	__u8 tos;
	__u8 outer_ip_version; /* 0 = not tunnelled */
	__u8 pad[3];
};

/*
 * Biflow mode (tunable biflow = 1): one side of a conversation in one CPU's slot of a
 * lf_biflows entry. Side 0 holds the packets whose key is the entry's (canonical) key,
 * side 1 those whose key is its reverse. packets == 0: this CPU saw no packet of the side.
 */
struct labelflow_tc_side {
	__u64 packets;
	__u64 octets;
	__u64 first_ns; /* the side's first packet on this CPU (CLOCK_MONOTONIC) */
	__u64 last_ns;
	__u8 tcp_flags; /* OR since the entry was created */
	__u8 pad[7];
};

/*
 * Per-CPU biflow counters (lf_biflows value), keyed by the canonical key: of a packet's key
 * and its reverse (addresses and ports swapped; ICMP request and reply types swapped), the
 * smaller as bytes, direction 0, as flowtab.c's biflow key. The first_* fields and the
 * first-packet attributes belong to the slot's first packet (either side); user space takes
 * the slot whose first packet is the earliest: that packet's sender is the initiator.
 */
struct labelflow_tc_bivalue {
	struct labelflow_tc_side side[2];
	__u64 gso_segs; /* both sides */
	__u8 outer_src_addr[16];
	__u8 outer_dst_addr[16];
	__u16 inner_vlan_id;
	__u8 tos;
	__u8 outer_ip_version;
	__u8 first_side;      /* 0 or 1: the side of the slot's first packet */
	__u8 first_direction; /* its key.direction */
	__u8 first_tcp_flags; /* its TCP flags (SYN without ACK: a known initiator) */
	__u8 pad;
};

/*
 * Packet sampling state (lf_sampling, per-CPU array of one): 1-in-N systematic count-based
 * selection as exporter/sampler.c, but with one countdown per CPU: after K packets on a
 * CPU exactly ceil(K / N) of them were selected on that CPU.
 */
struct labelflow_tc_sampling {
	__u64 observed; /* packets the sampler saw (selectorIdTotalPktsObserved) */
	__u64 selected; /* packets it took (selectorIdTotalPktsSelected) */
	__u64 skip;	/* packets still to skip before the next one taken */
};

/* One packet handed to user space when the flow map is full (lf_ring). 112 bytes. */
struct labelflow_tc_event {
	struct labelflow_tc_key key;
	__u32 octets;
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u8 outer_src_addr[16];
	__u8 outer_dst_addr[16];
	__u32 gso_segs;
	__u16 inner_vlan_id;
	__u8 tcp_flags;
	__u8 tos;
	__u8 fragment;
	__u8 outer_ip_version;
	__u8 pad[6];
};

/*
 * Per-CPU counters per interface (lf_ifstats value; key 0 collects packets of interfaces
 * with no entry). Invariant per interface and in total, once the program is idle:
 *   PACKETS == METERED + RING + RING_FULL + SAMPLED_OUT + sum(drops, NON_IP .. VLAN_TOO_DEEP).
 * The counters after LABELFLOW_TC_CNT_LAST_DROP are informational (a packet may appear in
 * several or none of them); OUTER_* count the extra outer views of tunnel_view "both".
 */
enum labelflow_tc_counter {
	LABELFLOW_TC_CNT_PACKETS = 0, /* packets the program ran on */
	LABELFLOW_TC_CNT_METERED,     /* counted in a lf_flows entry */
	LABELFLOW_TC_CNT_RING,	      /* flow map full: sent through lf_ring */
	LABELFLOW_TC_CNT_RING_FULL,   /* flow map and ring full: lost */
	LABELFLOW_TC_CNT_NON_IP,      /* drops, named and ordered as enum decode_drop */
	LABELFLOW_TC_CNT_TRUNCATED_L2,
	LABELFLOW_TC_CNT_BAD_IP_VERSION,
	LABELFLOW_TC_CNT_TRUNCATED_IP,
	LABELFLOW_TC_CNT_BAD_IP_HDR_LEN,
	LABELFLOW_TC_CNT_BAD_IP_TOTAL_LEN,
	LABELFLOW_TC_CNT_BAD_IPV6_EXT,
	LABELFLOW_TC_CNT_VLAN_TOO_DEEP, /* more than LABELFLOW_TC_MAX_VLAN_TAGS tags */
	LABELFLOW_TC_CNT_MAP_FULL,	/* flow insert failed (E2BIG, ENOMEM): RING or RING_FULL */
	LABELFLOW_TC_CNT_TRUNCATED_L4,
	LABELFLOW_TC_CNT_FRAGMENTS,
	LABELFLOW_TC_CNT_FRAG_MATCHED,
	LABELFLOW_TC_CNT_FRAG_UNMATCHED,
	LABELFLOW_TC_CNT_TUNNELLED, /* metered with a tunnel_type (any view) */
	/* A tunnel candidate metered as the plain outer packet (decode_stats names): */
	LABELFLOW_TC_CNT_TUNNEL_MALFORMED,  /* overlay or inner IP header truncated/invalid */
	LABELFLOW_TC_CNT_TUNNEL_NOT_IP,	    /* carries no IP (ARP in VXLAN, GRE version 1) */
	LABELFLOW_TC_CNT_TUNNEL_OUTER_FRAG, /* the outer packet is an IP fragment */
	LABELFLOW_TC_CNT_IPV6_EXT_TOO_LONG, /* chain cut at LABELFLOW_TC_MAX_IPV6_EXT: port-less */
	LABELFLOW_TC_CNT_GSO_SEGS,	    /* sum of max(gso_segs, 1) over PACKETS */
	LABELFLOW_TC_CNT_OUTER_METERED,
	LABELFLOW_TC_CNT_OUTER_RING,
	LABELFLOW_TC_CNT_OUTER_RING_FULL,
	LABELFLOW_TC_CNT_SAMPLED_OUT, /* skipped by the 1-in-N sampler: not parsed, not metered */
	LABELFLOW_TC_CNT_COUNT,
};

#define LABELFLOW_TC_CNT_FIRST_DROP LABELFLOW_TC_CNT_NON_IP
#define LABELFLOW_TC_CNT_LAST_DROP  LABELFLOW_TC_CNT_VLAN_TOO_DEEP

struct labelflow_tc_ifstats {
	__u64 cnt[LABELFLOW_TC_CNT_COUNT];
	__u32 flags; /* LABELFLOW_TC_IF_* */
	__u32 pad;
};

/*
 * First fragments remembered for the later fragments of their datagram (lf_frags, LRU).
 * IPv4: (src, dst, proto, id); IPv6: (src, dst, id), proto 0. Per interface and direction.
 */
struct labelflow_tc_frag_key {
	__u8 src[16];
	__u8 dst[16];
	__u32 id;
	__u32 ifindex;
	__u8 version;
	__u8 proto;
	__u8 direction;
	__u8 pad;
};

struct labelflow_tc_frag {
	__u64 expires_ns;
	__u16 src_port;
	__u16 dst_port;
	__u8 proto; /* protocol after the IPv6 extension headers */
	__u8 pad[3];
};

/*
 * The ICMP/ICMPv6 type that answers type (and the reverse), or -1: the only ICMP messages
 * a biflow pairs, as flowtab.c's icmp_reply_type(). Shared by the program and user space.
 */
static inline int labelflow_tc_icmp_reply(__u8 ip_version, __u8 type)
{
	if (ip_version == 4) {
		switch (type) {
		case 8:
			return 0;
		case 0:
			return 8;
		case 13:
		case 15:
		case 17:
			return type + 1;
		case 14:
		case 16:
		case 18:
			return type - 1;
		}
		return -1;
	}
	switch (type) {
	case 128:
	case 139:
		return type + 1;
	case 129:
	case 140:
		return type - 1;
	}
	return -1;
}

#endif
