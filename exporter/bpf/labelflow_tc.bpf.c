// SPDX-License-Identifier: Apache-2.0
/*
 * labelflow_tc: the kernel half of the eBPF capture. One TC program per direction parses
 * each packet exactly as exporter/decode.c parses a frame (Ethernet, 802.1Q/QinQ in the
 * packet or in skb metadata, IPv4/IPv6, L4, VXLAN/Geneve/IPIP/GRE/NVGRE) and meters it in
 * a per-CPU flow hash (uniflows, or RFC 5103 biflows under one canonical key); only when
 * that map is full does a packet go to user space, through a ring buffer. An optional
 * 1-in-N count-based sampler runs first. It never changes the packet and always returns
 * TC_ACT_UNSPEC.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "labelflow_tc.h"

#define ETH_HLEN      14
#define ETH_P_IPV4    0x0800
#define ETH_P_IPV6    0x86dd
#define ETH_P_8021Q   0x8100
#define ETH_P_8021AD  0x88a8
#define ETH_P_QINQ9   0x9100
#define ETH_P_TEB     0x6558 /* Transparent Ethernet Bridging (NVGRE, Geneve) */
#define P_ICMP	      1
#define P_IPIP	      4
#define P_TCP	      6
#define P_UDP	      17
#define P_IPV6	      41
#define P_GRE	      47
#define P_ICMPV6      58
#define P_SCTP	      132
#define VXLAN_PORT    4789
#define VXLAN_PORT_FL 8472 /* Flannel, Linux's historical default */
#define GENEVE_PORT   6081
#define EEXIST	      17

/* enum decode_tunnel and enum decode_tunnel_view, numerically. */
#define TUN_VXLAN  1
#define TUN_GENEVE 2
#define TUN_IPIP   3
#define TUN_GRE	   4
#define TUN_NVGRE  5
#define VIEW_OUTER 1
#define VIEW_BOTH  2

#define FRAG_NONE  0
#define FRAG_FIRST 1
#define FRAG_LATER 2

/* Tunables, set through the skeleton's rodata before load. */
const volatile __u8 tunnel_view = 0;		       /* enum decode_tunnel_view */
const volatile __u64 frag_timeout_ns = 30000000000ULL; /* decode's frag_timeout_ms */
const volatile __u32 sampling_interval = 1; /* 1-in-N packet sampling; 0 and 1: every packet */
const volatile __u8 biflow = 0;		    /* meter in lf_biflows instead of lf_flows */

/* Flows. max_entries is set from capture_live_config.max_flows before load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LABELFLOW_TC_DEFAULT_MAX_FLOWS);
	__type(key, struct labelflow_tc_key);
	__type(value, struct labelflow_tc_value);
} lf_flows SEC(".maps");

/* Biflows (tunable biflow), keyed by the canonical key. Sized like lf_flows before load. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LABELFLOW_TC_DEFAULT_MAX_FLOWS);
	__type(key, struct labelflow_tc_key);
	__type(value, struct labelflow_tc_bivalue);
} lf_biflows SEC(".maps");

/* The sampler's countdown and counts, one per CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct labelflow_tc_sampling);
} lf_sampling SEC(".maps");

/* Packets that found the flow map full. Size set from capture_live_config.ring_bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, LABELFLOW_TC_DEFAULT_RING_BYTES);
} lf_ring SEC(".maps");

/* Counters per interface; user space creates an entry per attached ifindex and key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, LABELFLOW_TC_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct labelflow_tc_ifstats);
} lf_ifstats SEC(".maps");

/* First fragments' ports, for the later fragments of the same datagram. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LABELFLOW_TC_FRAG_ENTRIES);
	__type(key, struct labelflow_tc_frag_key);
	__type(value, struct labelflow_tc_frag);
} lf_frags SEC(".maps");

/* One parsed IP layer (outer or inner). Zeroed before parsing. */
struct l3 {
	__u8 src[16]; /* network order; IPv4 in the first 4 bytes */
	__u8 dst[16];
	__u32 off;  /* IP header offset in the packet */
	__u32 tot;  /* IP length (IPv4 total length, IPv6 payload length + 40) */
	__u32 hlen; /* IP header including options/extension headers */
	__u32 frag_id;
	__u16 sport;
	__u16 dport;
	__u8 ver;
	__u8 proto;
	__u8 tos;
	__u8 tcp_flags;
	__u8 frag; /* FRAG_* */
	__u8 last_frag;
	__u8 trunc_l4; /* the L4 fields were cut by the IP length */
	__u8 ext_cut;  /* IPv6 chain longer than LABELFLOW_TC_MAX_IPV6_EXT */
};

/*
 * Per-packet scratch, too big for the 512-byte BPF stack. A TC program runs to completion
 * on its CPU with bottom halves disabled, so one slot per CPU is never shared.
 */
struct scratch {
	struct labelflow_tc_event ev;
	struct l3 outer;
	struct l3 inner;
	struct labelflow_tc_key ck; /* biflow: the canonical key */
	struct labelflow_tc_key rk; /* biflow: the reverse key */
	struct labelflow_tc_bivalue bv;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} lf_scratch SEC(".maps");

static __always_inline __u16 rd16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

static __always_inline int is_vlan(__u16 etype)
{
	return etype == ETH_P_8021Q || etype == ETH_P_8021AD || etype == ETH_P_QINQ9;
}

/* Bytes of L4 header needed per protocol, as decode's l4_need[]; 0 = port-less. */
static __always_inline __u32 l4_need(__u8 proto)
{
	switch (proto) {
	case P_ICMP:
	case P_ICMPV6:
		return 2;
	case P_TCP:
		return 14;
	case P_UDP:
	case P_SCTP:
		return 4;
	default:
		return 0;
	}
}

/*
 * Parse the IP header at off, bounded by limit (the end of what may belong to it: the
 * packet, or the outer IP packet for a tunnel). want 4/6 = what the link layer promised,
 * 0 = the version nibble decides. Returns 0, or the LABELFLOW_TC_CNT_* drop reason; the
 * checks come in decode_frame()'s order so both name the same reason.
 */
static __always_inline int parse_ip(struct __sk_buff *skb, __u32 off, __u32 limit, __u8 want,
				    struct l3 *ip)
{
	__u32 cap, hlen, tot, l4cap, need, i;
	__u8 b[40];
	__u8 ver, proto;
	__u16 fo;

	if (limit <= off || bpf_skb_load_bytes(skb, off, b, 1))
		return LABELFLOW_TC_CNT_TRUNCATED_IP;
	cap = limit - off;
	ver = b[0] >> 4;
	if (want ? ver != want : (ver != 4 && ver != 6))
		return LABELFLOW_TC_CNT_BAD_IP_VERSION;
	ip->ver = ver;
	ip->off = off;

	if (ver == 4) {
		if (cap < 20 || bpf_skb_load_bytes(skb, off, b, 20))
			return LABELFLOW_TC_CNT_TRUNCATED_IP;
		hlen = (b[0] & 0x0f) * 4;
		tot = rd16(b + 2);
		if (hlen < 20)
			return LABELFLOW_TC_CNT_BAD_IP_HDR_LEN;
		if (tot < 20 || tot > cap)
			return LABELFLOW_TC_CNT_BAD_IP_TOTAL_LEN;
		if (hlen > tot)
			return LABELFLOW_TC_CNT_BAD_IP_HDR_LEN;
		ip->tos = b[1];
		proto = b[9];
		fo = rd16(b + 6);
		if (fo & 0x3fff) { /* MF or a fragment offset */
			ip->frag = (fo & 0x1fff) ? FRAG_LATER : FRAG_FIRST;
			ip->frag_id = rd16(b + 4);
			ip->last_frag = !(fo & 0x2000);
		}
		__builtin_memcpy(ip->src, b + 12, 4);
		__builtin_memcpy(ip->dst, b + 16, 4);
	} else {
		__u16 plen;

		if (cap < 40 || bpf_skb_load_bytes(skb, off, b, 40))
			return LABELFLOW_TC_CNT_TRUNCATED_IP;
		plen = rd16(b + 4);
		tot = (__u32)plen + 40;
		proto = b[6];
		if (tot > cap || (plen == 0 && proto == 0)) /* the latter: a jumbogram */
			return LABELFLOW_TC_CNT_BAD_IP_TOTAL_LEN;
		ip->tos = (__u8)(rd16(b) >> 4);
		__builtin_memcpy(ip->src, b + 8, 16);
		__builtin_memcpy(ip->dst, b + 24, 16);
		hlen = 40;
		for (i = 0; i < LABELFLOW_TC_MAX_IPV6_EXT; i++) {
			__u32 ext_len;
			__u8 e[8];

			if (proto == 44) {
				if (hlen + 8 > tot)
					return LABELFLOW_TC_CNT_BAD_IPV6_EXT;
				if (bpf_skb_load_bytes(skb, off + hlen, e, 8))
					return LABELFLOW_TC_CNT_TRUNCATED_IP;
				fo = rd16(e + 2);
				if (fo & 0xfff8) {
					/* Later fragment: what follows is not a header. */
					ip->frag = FRAG_LATER;
					ip->frag_id = (__u32)e[4] << 24 | (__u32)e[5] << 16 |
						      (__u32)e[6] << 8 | e[7];
					ip->last_frag = !(fo & 1);
					proto = e[0];
					hlen += 8;
					goto l3_done;
				}
				if (fo & 1) { /* first fragment; offset 0 with M=0 is atomic */
					ip->frag = FRAG_FIRST;
					ip->frag_id = (__u32)e[4] << 24 | (__u32)e[5] << 16 |
						      (__u32)e[6] << 8 | e[7];
				}
				ext_len = 8;
			} else if (proto == 0 || proto == 43 || proto == 60 || proto == 135 ||
				   proto == 51) {
				if (hlen + 2 > tot)
					return LABELFLOW_TC_CNT_BAD_IPV6_EXT;
				if (bpf_skb_load_bytes(skb, off + hlen, e, 2))
					return LABELFLOW_TC_CNT_TRUNCATED_IP;
				if (proto == 51)
					ext_len = ((__u32)e[1] + 2) * 4;
				else
					ext_len = ((__u32)e[1] + 1) * 8;
			} else {
				goto l3_done;
			}
			if (hlen + ext_len > tot)
				return LABELFLOW_TC_CNT_BAD_IPV6_EXT;
			proto = e[0];
			hlen += ext_len;
		}
		if (proto == 0 || proto == 43 || proto == 60 || proto == 135 || proto == 51 ||
		    proto == 44)
			ip->ext_cut = 1;
	}
l3_done:
	/* No drop past this point. tot <= cap, so the L4 room is bounded by tot. */
	ip->proto = proto;
	ip->tot = tot;
	ip->hlen = hlen;
	if (ip->frag == FRAG_LATER || ip->ext_cut)
		return 0;
	need = l4_need(proto);
	if (!need)
		return 0;
	l4cap = tot > hlen ? tot - hlen : 0;
	if (l4cap < need) {
		ip->trunc_l4 = 1;
		return 0;
	}
	if (proto == P_TCP) {
		if (bpf_skb_load_bytes(skb, off + hlen, b, 14))
			return 0; /* cannot happen: tot <= skb->len */
		ip->sport = rd16(b);
		ip->dport = rd16(b + 2);
		ip->tcp_flags = b[13];
	} else {
		if (bpf_skb_load_bytes(skb, off + hlen, b, 4 > need ? need : 4) < 0)
			return 0;
		if (proto == P_ICMP || proto == P_ICMPV6) {
			ip->dport = rd16(b); /* type << 8 | code */
		} else {
			ip->sport = rd16(b);
			ip->dport = rd16(b + 2);
		}
	}
	return 0;
}

/*
 * An overlay's inner Ethernet frame at *off, bounded by end: skip its VLAN tags (not
 * keyed) and move *off to the IP header. Returns the IP version the EtherType promises,
 * or -TUNNEL_MALFORMED / -TUNNEL_NOT_IP.
 */
static __always_inline int inner_eth(struct __sk_buff *skb, __u32 *off, __u32 end)
{
	__u32 o = *off, i;
	__u8 b[2];
	__u16 etype;

	if (o + ETH_HLEN > end || bpf_skb_load_bytes(skb, o + 12, b, 2))
		return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
	etype = rd16(b);
	o += ETH_HLEN;
	for (i = 0; i < LABELFLOW_TC_MAX_VLAN_TAGS; i++) {
		if (!is_vlan(etype))
			break;
		if (o + 4 > end || bpf_skb_load_bytes(skb, o + 2, b, 2))
			return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
		etype = rd16(b);
		o += 4;
	}
	*off = o;
	if (etype == ETH_P_IPV4)
		return 4;
	if (etype == ETH_P_IPV6)
		return 6;
	return is_vlan(etype) ? -LABELFLOW_TC_CNT_TUNNEL_MALFORMED
			      : -LABELFLOW_TC_CNT_TUNNEL_NOT_IP;
}

/* Could the (unfragmented) outer layer be an overlay? As decode's tunnel_candidate(). */
static __always_inline int tunnel_candidate(const struct l3 *o)
{
	if (o->proto == P_IPIP || o->proto == P_IPV6 || o->proto == P_GRE)
		return 1;
	return o->proto == P_UDP &&
	       (o->dport == VXLAN_PORT || o->dport == VXLAN_PORT_FL || o->dport == GENEVE_PORT);
}

/*
 * Look through the overlay carried by the unfragmented outer layer o, as decode's
 * decode_tunnel(): headers are read only within the outer IP length. Returns the enum
 * decode_tunnel type (> 0) and fills *in and *ret_id when the inner IP header parsed;
 * otherwise -LABELFLOW_TC_CNT_TUNNEL_MALFORMED or -..._NOT_IP, and the packet is metered
 * as the plain outer packet.
 */
static __always_inline int tunnel(struct __sk_buff *skb, const struct l3 *o, struct l3 *in,
				  __u32 *ret_id)
{
	__u32 l4 = o->off + o->hlen, end = o->off + o->tot, off, id = 0;
	__u8 h[8];
	int type, want = 0;

	if (o->proto == P_IPIP || o->proto == P_IPV6) {
		type = TUN_IPIP;
		off = l4;
		want = o->proto == P_IPIP ? 4 : 6;
	} else if (o->proto == P_GRE) {
		__u16 flags, ptype;

		if (l4 + 4 > end || bpf_skb_load_bytes(skb, l4, h, 4))
			return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
		flags = rd16(h);
		ptype = rd16(h + 2);
		if (flags & 0x0007) /* version 1 is PPTP's enhanced GRE: PPP inside */
			return -LABELFLOW_TC_CNT_TUNNEL_NOT_IP;
		if (flags & 0x4000) /* RFC 1701 source routing */
			return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
		off = l4 + 4;
		if (flags & 0x8000) /* checksum + reserved */
			off += 4;
		if (flags & 0x2000) { /* key */
			if (off + 4 > end || bpf_skb_load_bytes(skb, off, h, 4))
				return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
			id = (__u32)h[0] << 24 | (__u32)h[1] << 16 | (__u32)h[2] << 8 | h[3];
			off += 4;
		}
		if (flags & 0x1000) /* sequence number */
			off += 4;
		if (off > end)
			return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
		if (ptype == ETH_P_IPV4) {
			type = TUN_GRE;
			want = 4;
		} else if (ptype == ETH_P_IPV6) {
			type = TUN_GRE;
			want = 6;
		} else if (ptype == ETH_P_TEB) {
			type = TUN_NVGRE;
			id >>= 8; /* VSID: upper 24 bits; the low 8 are FlowID */
			want = inner_eth(skb, &off, end);
		} else {
			return -LABELFLOW_TC_CNT_TUNNEL_NOT_IP;
		}
	} else {
		/* UDP to a tunnel port: VXLAN's and Geneve's fixed headers are 8 bytes. */
		if (l4 + 16 > end || bpf_skb_load_bytes(skb, l4 + 8, h, 8))
			return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
		id = (__u32)h[4] << 16 | (__u32)h[5] << 8 | h[6];
		if (o->dport == GENEVE_PORT) {
			__u16 ptype = rd16(h + 2);

			if (h[0] >> 6) /* version 0 only */
				return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
			type = TUN_GENEVE;
			off = l4 + 16 + (__u32)(h[0] & 0x3f) * 4; /* skip the options */
			if (off > end)
				return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
			if (ptype == ETH_P_TEB)
				want = inner_eth(skb, &off, end);
			else if (ptype == ETH_P_IPV4)
				want = 4;
			else if (ptype == ETH_P_IPV6)
				want = 6;
			else
				return -LABELFLOW_TC_CNT_TUNNEL_NOT_IP;
		} else {
			if (!(h[0] & 0x08)) /* no valid VNI */
				return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
			type = TUN_VXLAN;
			off = l4 + 16;
			want = inner_eth(skb, &off, end);
		}
	}
	if (want < 0)
		return want;
	if (parse_ip(skb, off, end, (__u8)want, in))
		return -LABELFLOW_TC_CNT_TUNNEL_MALFORMED;
	*ret_id = id;
	return type;
}

/* Later fragments take the ports of their datagram's first fragment (decode's table). */
static __always_inline void frag_ports(struct l3 *ip, const struct labelflow_tc_event *ev,
				       struct labelflow_tc_ifstats *st)
{
	struct labelflow_tc_frag_key fk;
	struct labelflow_tc_frag *fe;

	if (ip->frag == FRAG_NONE)
		return;
	st->cnt[LABELFLOW_TC_CNT_FRAGMENTS]++;
	__builtin_memset(&fk, 0, sizeof(fk));
	__builtin_memcpy(fk.src, ip->src, 16);
	__builtin_memcpy(fk.dst, ip->dst, 16);
	fk.id = ip->frag_id;
	fk.ifindex = ev->key.ifindex;
	fk.version = ip->ver;
	fk.proto = ip->ver == 4 ? ip->proto : 0;
	fk.direction = ev->key.direction;
	if (ip->frag == FRAG_FIRST) {
		struct labelflow_tc_frag fv;

		if (ip->trunc_l4) /* ports cut: nothing worth remembering */
			return;
		__builtin_memset(&fv, 0, sizeof(fv));
		fv.expires_ns = ev->ts_ns + frag_timeout_ns;
		fv.src_port = ip->sport;
		fv.dst_port = ip->dport;
		fv.proto = ip->proto;
		bpf_map_update_elem(&lf_frags, &fk, &fv, BPF_ANY);
		return;
	}
	fe = bpf_map_lookup_elem(&lf_frags, &fk);
	if (fe && ev->ts_ns < fe->expires_ns) {
		ip->sport = fe->src_port;
		ip->dport = fe->dst_port;
		ip->proto = fe->proto;
		st->cnt[LABELFLOW_TC_CNT_FRAG_MATCHED]++;
		if (ip->last_frag)
			bpf_map_delete_elem(&lf_frags, &fk);
	} else {
		st->cnt[LABELFLOW_TC_CNT_FRAG_UNMATCHED]++;
	}
}

static __always_inline void key_from(struct labelflow_tc_event *ev, const struct l3 *ip)
{
	__builtin_memcpy(ev->key.src_addr, ip->src, 16);
	__builtin_memcpy(ev->key.dst_addr, ip->dst, 16);
	ev->key.src_port = ip->sport;
	ev->key.dst_port = ip->dport;
	ev->key.ip_version = ip->ver;
	ev->key.proto = ip->proto;
	ev->octets = ip->tot;
	ev->tos = ip->tos;
	ev->tcp_flags = ip->tcp_flags;
	ev->fragment = ip->frag != FRAG_NONE;
}

static __always_inline void first_packet(struct labelflow_tc_value *v,
					 const struct labelflow_tc_event *ev)
{
	v->first_ns = ev->ts_ns;
	v->tos = ev->tos;
	v->inner_vlan_id = ev->inner_vlan_id;
	v->outer_ip_version = ev->outer_ip_version;
	__builtin_memcpy(v->outer_src_addr, ev->outer_src_addr, 16);
	__builtin_memcpy(v->outer_dst_addr, ev->outer_dst_addr, 16);
}

/* No entry can be made: hand the packet to user space, or count it lost. */
static __always_inline void to_ring(struct labelflow_tc_ifstats *st,
				    const struct labelflow_tc_event *ev, int c_ring, int c_lost)
{
	st->cnt[LABELFLOW_TC_CNT_MAP_FULL]++;
	if (bpf_ringbuf_output(&lf_ring, (void *)ev, sizeof(*ev), 0))
		st->cnt[c_lost]++;
	else
		st->cnt[c_ring]++;
}

/*
 * The key of the other direction, as flowtab.c's key_reverse(): addresses and ports
 * swapped, or for ICMP the request and reply types. Returns 0 for ICMP messages without a
 * reply (never paired).
 */
static __always_inline int key_reverse(struct labelflow_tc_key *r, const struct labelflow_tc_key *k)
{
	int icmp = (k->ip_version == 4 && k->proto == LABELFLOW_TC_P_ICMP) ||
		   (k->ip_version == 6 && k->proto == LABELFLOW_TC_P_ICMPV6);
	int rtype = 0;

	if (icmp) {
		rtype = labelflow_tc_icmp_reply(k->ip_version, (__u8)(k->dst_port >> 8));
		if (rtype < 0)
			return 0;
	}
	__builtin_memcpy(r, k, sizeof(*r));
	__builtin_memcpy(r->src_addr, k->dst_addr, 16);
	__builtin_memcpy(r->dst_addr, k->src_addr, 16);
	if (icmp) {
		r->dst_port = (__u16)((__u32)rtype << 8 | (k->dst_port & 0xff));
	} else {
		r->src_port = k->dst_port;
		r->dst_port = k->src_port;
	}
	return 1;
}

static __always_inline int bytes_cmp(const __u8 *a, const __u8 *b, __u32 n)
{
	for (__u32 i = 0; i < n; i++)
		if (a[i] != b[i])
			return a[i] < b[i] ? -1 : 1;
	return 0;
}

/*
 * Fill sc->ck with the canonical biflow key of sc->ev.key, as flowtab.c's key_canonical():
 * the smaller as bytes of the key and its reverse, direction 0. Returns 1 when the
 * canonical key is the reverse of the packet's (the packet belongs to side 1).
 */
static __always_inline int key_canonical(struct scratch *sc)
{
	int c = bytes_cmp(sc->ev.key.src_addr, sc->ev.key.dst_addr, 16);

	__builtin_memcpy(&sc->ck, &sc->ev.key, sizeof(sc->ck));
	sc->ck.direction = 0;
	if (c < 0 || !key_reverse(&sc->rk, &sc->ck))
		return 0;
	if (c == 0)
		c = bytes_cmp((const __u8 *)&sc->ck, (const __u8 *)&sc->rk, sizeof(sc->ck));
	if (c <= 0)
		return 0;
	__builtin_memcpy(&sc->ck, &sc->rk, sizeof(sc->ck));
	return 1;
}

static __always_inline void bi_first_packet(struct labelflow_tc_bivalue *v,
					    const struct labelflow_tc_event *ev, __u8 side)
{
	v->first_side = side;
	v->first_direction = ev->key.direction;
	v->first_tcp_flags = ev->tcp_flags;
	v->tos = ev->tos;
	v->inner_vlan_id = ev->inner_vlan_id;
	v->outer_ip_version = ev->outer_ip_version;
	__builtin_memcpy(v->outer_src_addr, ev->outer_src_addr, 16);
	__builtin_memcpy(v->outer_dst_addr, ev->outer_dst_addr, 16);
}

static __always_inline void bi_add(struct labelflow_tc_side *s, const struct labelflow_tc_event *ev)
{
	if (s->packets == 0)
		s->first_ns = ev->ts_ns;
	s->packets++;
	s->octets += ev->octets;
	s->last_ns = ev->ts_ns;
	s->tcp_flags |= ev->tcp_flags;
}

/* account() in biflow mode: the side of the canonical entry this packet belongs to. */
static __always_inline void account_bi(struct labelflow_tc_ifstats *st, struct scratch *sc,
				       int c_map, int c_ring, int c_lost)
{
	const struct labelflow_tc_event *ev = &sc->ev;
	struct labelflow_tc_bivalue *v;
	__u8 side = (__u8)key_canonical(sc);
	long err;

	v = bpf_map_lookup_elem(&lf_biflows, &sc->ck);
	if (!v) {
		v = &sc->bv;
		__builtin_memset(v, 0, sizeof(*v));
		bi_first_packet(v, ev, side);
		bi_add(side ? &v->side[1] : &v->side[0], ev);
		v->gso_segs = ev->gso_segs;
		err = bpf_map_update_elem(&lf_biflows, &sc->ck, v, BPF_NOEXIST);
		if (!err) {
			st->cnt[c_map]++;
			return;
		}
		v = NULL;
		if (err == -EEXIST)
			v = bpf_map_lookup_elem(&lf_biflows, &sc->ck);
		if (!v) {
			to_ring(st, ev, c_ring, c_lost);
			return;
		}
	}
	if (v->side[0].packets == 0 && v->side[1].packets == 0) /* this CPU's first packet */
		bi_first_packet(v, ev, side);
	bi_add(side ? &v->side[1] : &v->side[0], ev);
	v->gso_segs += ev->gso_segs;
	st->cnt[c_map]++;
}

/*
 * Meter one packet view in lf_flows (lf_biflows in biflow mode); when no entry can be
 * made, hand it to user space through lf_ring; when that is full too, count the loss.
 * Exactly one of the three counters c_map, c_ring, c_lost is incremented.
 */
static __always_inline void account(struct labelflow_tc_ifstats *st, struct scratch *sc, int c_map,
				    int c_ring, int c_lost)
{
	const struct labelflow_tc_event *ev = &sc->ev;
	struct labelflow_tc_value *v, nv;
	long err;

	if (biflow) {
		account_bi(st, sc, c_map, c_ring, c_lost);
		return;
	}

	v = bpf_map_lookup_elem(&lf_flows, &ev->key);
	if (!v) {
		__builtin_memset(&nv, 0, sizeof(nv));
		first_packet(&nv, ev);
		nv.packets = 1;
		nv.octets = ev->octets;
		nv.gso_segs = ev->gso_segs;
		nv.last_ns = ev->ts_ns;
		nv.tcp_flags = ev->tcp_flags;
		err = bpf_map_update_elem(&lf_flows, &ev->key, &nv, BPF_NOEXIST);
		if (!err) {
			st->cnt[c_map]++;
			return;
		}
		/* Another CPU created it meanwhile: add to our slot of that entry. */
		if (err == -EEXIST)
			v = bpf_map_lookup_elem(&lf_flows, &ev->key);
		if (!v) {
			to_ring(st, ev, c_ring, c_lost);
			return;
		}
	}
	if (v->packets == 0) /* this CPU's first packet of the flow */
		first_packet(v, ev);
	v->packets++;
	v->octets += ev->octets;
	v->gso_segs += ev->gso_segs;
	v->last_ns = ev->ts_ns;
	v->tcp_flags |= ev->tcp_flags;
	st->cnt[c_map]++;
}

static __always_inline void handle(struct __sk_buff *skb, __u8 direction)
{
	struct labelflow_tc_ifstats *st;
	struct labelflow_tc_event *ev;
	struct l3 *outer, *inner;
	struct scratch *sc;
	__u32 ifindex = skb->ifindex, zero = 0, len = skb->len, off = 0, id = 0, i, gso_segs;
	__u16 etype, ntags = 0;
	__u8 want = 0, type = 0, b[4];
	int rc;

	st = bpf_map_lookup_elem(&lf_ifstats, &ifindex);
	if (!st)
		st = bpf_map_lookup_elem(&lf_ifstats, &zero);
	sc = bpf_map_lookup_elem(&lf_scratch, &zero);
	if (!st || !sc)
		return; /* key 0 is created before any attach, an array slot always exists */
	st->cnt[LABELFLOW_TC_CNT_PACKETS]++;
	gso_segs = skb->gso_segs ? skb->gso_segs : 1;
	st->cnt[LABELFLOW_TC_CNT_GSO_SEGS] += gso_segs;

	/* 1-in-N before anything else, as exporter/sampler.c before decode. */
	if (sampling_interval > 1) {
		struct labelflow_tc_sampling *smp = bpf_map_lookup_elem(&lf_sampling, &zero);

		if (smp) { /* an array slot always exists */
			smp->observed++;
			if (smp->skip) {
				smp->skip--;
				st->cnt[LABELFLOW_TC_CNT_SAMPLED_OUT]++;
				return;
			}
			smp->skip = sampling_interval - 1;
			smp->selected++;
		}
	}

	ev = &sc->ev;
	outer = &sc->outer;
	inner = &sc->inner;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->key.ifindex = ifindex;
	ev->key.direction = direction;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->gso_segs = gso_segs;

	if (!(st->flags & LABELFLOW_TC_IF_L3)) {
		if (len < ETH_HLEN || bpf_skb_load_bytes(skb, 12, b, 2)) {
			st->cnt[LABELFLOW_TC_CNT_TRUNCATED_L2]++;
			return;
		}
		etype = rd16(b);
		off = ETH_HLEN;
		/* A tag the kernel moved into skb metadata was the outermost one. */
		if (skb->vlan_present) {
			ev->key.vlan_id = skb->vlan_tci & 0x0fff;
			ntags = 1;
		}
		for (i = 0; i < LABELFLOW_TC_MAX_VLAN_TAGS; i++) {
			__u16 vid;

			if (!is_vlan(etype))
				break;
			if (len - off < 4 || bpf_skb_load_bytes(skb, off, b, 4)) {
				st->cnt[LABELFLOW_TC_CNT_TRUNCATED_L2]++;
				return;
			}
			vid = rd16(b) & 0x0fff;
			if (ntags == 0)
				ev->key.vlan_id = vid;
			else if (ntags == 1)
				ev->inner_vlan_id = vid;
			ntags++;
			etype = rd16(b + 2);
			off += 4;
		}
		if (etype == ETH_P_IPV4) {
			want = 4;
		} else if (etype == ETH_P_IPV6) {
			want = 6;
		} else {
			st->cnt[is_vlan(etype) ? LABELFLOW_TC_CNT_VLAN_TOO_DEEP
					       : LABELFLOW_TC_CNT_NON_IP]++;
			return;
		}
	}

	__builtin_memset(outer, 0, sizeof(*outer));
	rc = parse_ip(skb, off, len, want, outer);
	if (rc) {
		if (rc >= LABELFLOW_TC_CNT_FIRST_DROP && rc <= LABELFLOW_TC_CNT_LAST_DROP)
			st->cnt[rc]++;
		return;
	}
	/* decode_frame() order: the outer L4 (fragment table included), then the overlay. */
	if (outer->trunc_l4)
		st->cnt[LABELFLOW_TC_CNT_TRUNCATED_L4]++;
	if (outer->ext_cut)
		st->cnt[LABELFLOW_TC_CNT_IPV6_EXT_TOO_LONG]++;
	frag_ports(outer, ev, st);
	if (!outer->ext_cut && tunnel_candidate(outer)) {
		if (outer->frag != FRAG_NONE) {
			st->cnt[LABELFLOW_TC_CNT_TUNNEL_OUTER_FRAG]++;
		} else {
			__builtin_memset(inner, 0, sizeof(*inner));
			rc = tunnel(skb, outer, inner, &id);
			if (rc > 0)
				type = (__u8)rc;
			else if (rc == -LABELFLOW_TC_CNT_TUNNEL_MALFORMED)
				st->cnt[LABELFLOW_TC_CNT_TUNNEL_MALFORMED]++;
			else
				st->cnt[LABELFLOW_TC_CNT_TUNNEL_NOT_IP]++;
		}
	}
	if (type)
		st->cnt[LABELFLOW_TC_CNT_TUNNELLED]++;
	ev->key.tunnel_type = type;
	ev->key.tunnel_id = id;

	if (type && tunnel_view != VIEW_OUTER) {
		if (inner->trunc_l4)
			st->cnt[LABELFLOW_TC_CNT_TRUNCATED_L4]++;
		if (inner->ext_cut)
			st->cnt[LABELFLOW_TC_CNT_IPV6_EXT_TOO_LONG]++;
		frag_ports(inner, ev, st);
		key_from(ev, inner);
		ev->outer_ip_version = outer->ver;
		__builtin_memcpy(ev->outer_src_addr, outer->src, 16);
		__builtin_memcpy(ev->outer_dst_addr, outer->dst, 16);
		account(st, sc, LABELFLOW_TC_CNT_METERED, LABELFLOW_TC_CNT_RING,
			LABELFLOW_TC_CNT_RING_FULL);
		if (tunnel_view != VIEW_BOTH)
			return;
		/* The same packet as the outer flow: outer IP + UDP/GRE, same tunnel id. */
		key_from(ev, outer);
		ev->outer_ip_version = 0;
		__builtin_memset(ev->outer_src_addr, 0, 16);
		__builtin_memset(ev->outer_dst_addr, 0, 16);
		account(st, sc, LABELFLOW_TC_CNT_OUTER_METERED, LABELFLOW_TC_CNT_OUTER_RING,
			LABELFLOW_TC_CNT_OUTER_RING_FULL);
		return;
	}
	/* Not tunnelled, or the outer view only (tunnel_type/tunnel_id still set). */
	key_from(ev, outer);
	account(st, sc, LABELFLOW_TC_CNT_METERED, LABELFLOW_TC_CNT_RING,
		LABELFLOW_TC_CNT_RING_FULL);
}

SEC("tc")
int lf_tc_ingress(struct __sk_buff *skb)
{
	handle(skb, 0);
	return LABELFLOW_TC_ACT_UNSPEC;
}

SEC("tc")
int lf_tc_egress(struct __sk_buff *skb)
{
	handle(skb, 1);
	return LABELFLOW_TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Apache-2.0";
