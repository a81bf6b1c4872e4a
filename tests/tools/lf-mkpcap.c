// SPDX-License-Identifier: Apache-2.0
/*
 * lf-mkpcap: writes deterministic pcap captures for the end-to-end tests and the benchmark,
 * together with their ground truth (frames, IP packets, IP octets, flows, drop reasons) so a
 * test can compare the daemon's counters with numbers known in advance. One splitmix64
 * stream drives every choice, so the same options always give the same bytes. Frames are
 * built in one preallocated buffer and payload checksums come from prefix sums over a fixed
 * pattern, so a million packets take well under a second of CPU. --tunnel wraps every IP
 * packet in one overlay encapsulation (VXLAN, Geneve, IP-in-IP, GRE, NVGRE).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pcap/pcap.h>

#define MK_FRAME_MAX	   4096	     /* largest frame built: 1500-byte IP + QinQ Ethernet */
#define MK_ETH_MIN	   60	     /* Ethernet frame without FCS, after padding */
#define MK_MTU		   1500	     /* IP packets never exceed this */
#define MK_PATTERN_BYTES   8192	     /* payload bytes come from here */
#define MK_PATTERN_OFFS	   4096	     /* payloads start at an even offset below this */
#define MK_MIN_SNAPLEN	   128	     /* every header generated fits: only payload is cut */
#define MK_MIN_SNAPLEN_TUN 256	     /* the same with the deepest tunnel headers (200 bytes) */
#define MK_MAX_FLOWS	   16777214u /* client addresses are 10.0.0.0/8 hosts, one per flow */
#define MK_SERVERS	   1000u     /* server addresses shared by the flows */
#define MK_DEFAULT_START   1700000000000ull

#define IPPROTO_V_ICMP	 1
#define IPPROTO_V_IPIP	 4
#define IPPROTO_V_TCP	 6
#define IPPROTO_V_UDP	 17
#define IPPROTO_V_IPV6	 41
#define IPPROTO_V_GRE	 47
#define IPPROTO_V_ICMP6	 58
#define IPPROTO_V_SCTP	 132
#define IPPROTO_V_HOPOPT 0
#define IPPROTO_V_FRAG6	 44
#define IPPROTO_V_DSTOPT 60

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define ETH_IPV4  0x0800
#define ETH_ARP	  0x0806
#define ETH_VLAN  0x8100
#define ETH_IPV6  0x86dd
#define ETH_QINQ  0x88a8
#define ETH_LOCAL 0x88b5 /* local experimental EtherType: GRE payload no dissector decodes */
#define ETH_TEB	  0x6558 /* Transparent Ethernet Bridging: Ethernet inside GRE/Geneve */

/*
 * Encapsulations for --tunnel. type is the decoder's enum decode_tunnel value (reported in
 * the truth as tunnel_type); port the outer UDP destination port (0: not UDP).
 */
struct mk_tunnel {
	const char *name;
	unsigned int type;
	uint16_t port;
	bool eth; /* carries an Ethernet frame */
};

enum { MK_TUN_VXLAN = 1, MK_TUN_GENEVE, MK_TUN_IPIP, MK_TUN_GRE, MK_TUN_NVGRE };

static const struct mk_tunnel mk_tunnels[] = {
	{"vxlan", MK_TUN_VXLAN, 4789, true},   {"vxlan8472", MK_TUN_VXLAN, 8472, true},
	{"geneve", MK_TUN_GENEVE, 6081, true}, {"ipip", MK_TUN_IPIP, 0, false},
	{"gre", MK_TUN_GRE, 0, false},	       {"nvgre", MK_TUN_NVGRE, 0, true},
};

/* Link types offered; linktype is the LINKTYPE_* number written into the file header. */
struct mk_link {
	const char *name;
	int dlt;
	int linktype;
	unsigned int l2_bytes; /* link header before the first VLAN tag or IP header */
	bool ethertype;	       /* carries an EtherType, so ARP can be written */
};

static const struct mk_link mk_links[] = {
	{"en10mb", DLT_EN10MB, 1, 14, true},
	{"linux_sll", DLT_LINUX_SLL, 113, 16, true},
	{"linux_sll2", DLT_LINUX_SLL2, 276, 20, true},
	{"raw", DLT_RAW, 101, 0, false},
	{"null", DLT_NULL, 0, 4, false},
	{"loop", DLT_LOOP, 108, 4, false},
};

/* The decoder's drop reasons (decode_drop_name()) each generated non-flow frame lands in. */
enum mk_drop {
	MK_DROP_NON_IP = 0,
	MK_DROP_TRUNCATED_L2,
	MK_DROP_BAD_IP_VERSION,
	MK_DROP_TRUNCATED_IP,
	MK_DROP_BAD_IP_HDR_LEN,
	MK_DROP_BAD_IP_TOTAL_LEN,
	MK_DROP_BAD_IPV6_EXT,
	MK_DROP_COUNT,
};

static const char *const mk_drop_names[MK_DROP_COUNT] = {
	[MK_DROP_NON_IP] = "non_ip",
	[MK_DROP_TRUNCATED_L2] = "truncated_l2",
	[MK_DROP_BAD_IP_VERSION] = "bad_ip_version",
	[MK_DROP_TRUNCATED_IP] = "truncated_ip",
	[MK_DROP_BAD_IP_HDR_LEN] = "bad_ip_hdr_len",
	[MK_DROP_BAD_IP_TOTAL_LEN] = "bad_ip_total_len",
	[MK_DROP_BAD_IPV6_EXT] = "bad_ipv6_ext",
};

/* Ground truth, accumulated as frames are written. */
struct mk_truth {
	uint64_t frames;
	uint64_t ip_packets;
	uint64_t ip_octets; /* IPv4 total length / IPv6 payload length + 40, summed */
	uint64_t ipv4_packets;
	uint64_t ipv6_packets;
	uint64_t non_ip_frames;
	uint64_t malformed_frames;
	uint64_t flows; /* distinct flow keys (addresses, ports, protocol, outer VLAN) */
	uint64_t tcp_packets;
	uint64_t udp_packets;
	uint64_t icmp_packets;
	uint64_t icmpv6_packets;
	uint64_t sctp_packets;
	uint64_t gre_packets;
	uint64_t vlan_frames; /* IP packets with at least one 802.1Q tag */
	uint64_t qinq_frames; /* IP packets with two tags */
	uint64_t ipv4_options_packets;
	uint64_t ipv6_ext_packets; /* hop-by-hop + destination options (not fragment headers) */
	uint64_t fragments;	   /* IP fragments, first or not */
	uint64_t snapped_frames;   /* caplen < wire length */
	uint64_t tcp_fin_flows;	   /* TCP connections closed with FIN */
	uint64_t tcp_rst_flows;	   /* TCP connections closed with RST */
	uint64_t tunnel_packets;   /* IP packets written inside a tunnel */
	uint64_t outer_ip_octets;  /* outer IP lengths summed: octets in the outer view */
	uint64_t outer_flows;	   /* distinct outer-view keys */
	uint64_t drops[MK_DROP_COUNT];
	uint64_t first_ts_us;
	uint64_t last_ts_us;
};

/* One IP packet to write. Addresses in network order; IPv4 uses the first 4 bytes. */
struct mk_pkt {
	uint8_t ipv;
	uint8_t proto;
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t tcp_flags;
	bool tcp_mss; /* SYN and SYN-ACK carry an MSS option */
	uint32_t seq;
	uint32_t ack;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t icmp_id;
	uint16_t icmp_seq;
	const uint8_t *payload; /* borrowed; NULL: the pattern at pattern_off */
	uint32_t payload_len;
	uint32_t pattern_off; /* even */
	uint8_t tags;	      /* 802.1Q tags on Ethernet: 0, 1 or 2 (QinQ) */
	uint16_t vid_outer;
	uint16_t vid_inner;
	uint8_t tos;
	uint8_t ttl;
	uint8_t v4_opt_len; /* 0, 4 (router alert) or 40 (record route) */
	bool v6_ext;	    /* hop-by-hop and destination options before L4 */
	bool df;
	uint16_t ip_id;
	uint32_t null_af6; /* DLT_NULL family value for IPv6: 24, 28 or 30 */
	uint8_t smac[6];
	uint8_t dmac[6];
	bool outgoing; /* Linux cooked packet type: outgoing (4) or to us (0) */
};

/* The L4 datagram of a packet: header bytes followed by payload bytes. */
struct mk_l4 {
	uint8_t hdr[64];
	uint32_t hdr_len;
	const uint8_t *payload; /* borrowed */
	uint32_t payload_len;
};

/*
 * Outer-view keys seen, for outer_flows: an open-addressing set of key + 1 (0 = free),
 * sized at setup for two keys (directions) per conversation at most 1/2 full.
 */
struct mk_keyset {
	uint64_t *slot; /* owned */
	uint64_t mask;
};

/* What --tunnel wraps each packet in. */
struct mk_tun_opts {
	const struct mk_tunnel *tun; /* NULL: no tunnel */
	uint32_t vni;		     /* VNI, GRE key, NVGRE VSID */
	bool vni_set;		     /* GRE: a key only when --vni was given */
	uint8_t outer_ipv;	     /* 4 or 6 */
	uint16_t inner_vlan;	     /* 802.1Q tag inside the tunnel's Ethernet frame; 0 = none */
};

/* One generator. Owns the dumper and every buffer; nothing is allocated per packet. */
struct mk {
	const struct mk_link *link;
	struct mk_tun_opts tun;
	struct mk_keyset outer_keys;
	uint32_t gre_seq;
	pcap_t *dead;	       /* owned */
	pcap_dumper_t *dumper; /* owned */
	uint32_t snaplen;
	uint64_t ts_us; /* timestamp of the next frame */
	uint64_t rng;	/* splitmix64 state */
	struct mk_truth truth;
	uint8_t frame[MK_FRAME_MAX];
	uint8_t pattern[MK_PATTERN_BYTES];
	uint64_t psum[MK_PATTERN_BYTES / 2 + 1]; /* psum[i]: sum of the first i 16-bit words */
	unsigned int bad_next;			 /* next malformed kind, cycled */
};

/* ---- randomness ----------------------------------------------------------------------- */

static uint64_t rng_next(struct mk *mk)
{
	uint64_t z = (mk->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0. */
static uint32_t rng_below(struct mk *mk, uint32_t n)
{
	return (uint32_t)(((rng_next(mk) >> 32) * (uint64_t)n) >> 32);
}

static uint32_t rng_range(struct mk *mk, uint32_t lo, uint32_t hi)
{
	return lo + rng_below(mk, hi - lo + 1);
}

/* ---- bytes and checksums --------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One's complement sum of len bytes that start at an even offset of the summed data. */
static uint64_t csum_add(uint64_t sum, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void mk_pattern_init(struct mk *mk)
{
	uint32_t i;

	for (i = 0; i < MK_PATTERN_BYTES; i++)
		mk->pattern[i] = (uint8_t)((i * 131u + 7u) ^ (i >> 7));
	mk->psum[0] = 0;
	for (i = 0; i < MK_PATTERN_BYTES / 2; i++)
		mk->psum[i + 1] =
			mk->psum[i] + ((uint32_t)mk->pattern[2 * i] << 8 | mk->pattern[2 * i + 1]);
}

/* Sum of a payload; O(1) for pattern payloads thanks to the prefix sums. */
static uint64_t mk_payload_sum(const struct mk *mk, const struct mk_pkt *p)
{
	uint32_t o = p->pattern_off, len = p->payload_len;
	uint64_t sum;

	if (p->payload)
		return csum_add(0, p->payload, len);
	sum = mk->psum[(o + len) / 2] - mk->psum[o / 2];
	if (len & 1)
		sum += (uint32_t)mk->pattern[o + len - 1] << 8;
	return sum;
}

static uint64_t pseudo_sum(const struct mk_pkt *p, uint32_t l4_len)
{
	uint64_t sum = 0;
	uint8_t tail[8];

	if (p->ipv == 4) {
		sum = csum_add(sum, p->src, 4);
		sum = csum_add(sum, p->dst, 4);
		return sum + p->proto + l4_len;
	}
	sum = csum_add(sum, p->src, 16);
	sum = csum_add(sum, p->dst, 16);
	put32(tail, l4_len);
	put32(tail + 4, p->proto);
	return csum_add(sum, tail, 8);
}

/* ---- frame building -------------------------------------------------------------------- */

/* Build the L4 header (with a valid checksum except for SCTP's CRC32c) and name the payload. */
static void mk_build_l4(const struct mk *mk, const struct mk_pkt *p, struct mk_l4 *l4)
{
	uint8_t *h = l4->hdr;
	uint32_t total;
	uint64_t sum;
	uint16_t c;
	size_t coff = 0;
	bool pseudo = true;

	memset(h, 0, sizeof(l4->hdr));
	l4->payload = p->payload ? p->payload : mk->pattern + p->pattern_off;
	l4->payload_len = p->payload_len;
	switch (p->proto) {
	case IPPROTO_V_TCP:
		put16(h, p->sport);
		put16(h + 2, p->dport);
		put32(h + 4, p->seq);
		put32(h + 8, p->ack);
		l4->hdr_len = p->tcp_mss ? 24 : 20;
		h[12] = (uint8_t)((l4->hdr_len / 4) << 4);
		h[13] = p->tcp_flags;
		put16(h + 14, 64240);
		if (p->tcp_mss) {
			h[20] = 2;
			h[21] = 4;
			put16(h + 22, p->ipv == 4 ? 1460 : 1440);
		}
		coff = 16;
		break;
	case IPPROTO_V_UDP:
		put16(h, p->sport);
		put16(h + 2, p->dport);
		put16(h + 4, (uint16_t)(8 + p->payload_len));
		l4->hdr_len = 8;
		coff = 6;
		break;
	case IPPROTO_V_ICMP:
	case IPPROTO_V_ICMP6:
		h[0] = p->icmp_type;
		h[1] = p->icmp_code;
		put16(h + 4, p->icmp_id);
		put16(h + 6, p->icmp_seq);
		l4->hdr_len = 8;
		coff = 2;
		pseudo = p->proto == IPPROTO_V_ICMP6;
		break;
	case IPPROTO_V_SCTP:
		/* common header, then one DATA chunk carrying the payload (a multiple of 4) */
		put16(h, p->sport);
		put16(h + 2, p->dport);
		put32(h + 4, 0x5c7a0001u ^ p->sport);
		h[12] = 0;
		h[13] = 3;
		put16(h + 14, (uint16_t)(16 + p->payload_len));
		put32(h + 16, p->seq);
		put32(h + 24, 0);
		l4->hdr_len = 28;
		return;
	case IPPROTO_V_GRE:
		put16(h + 2, ETH_LOCAL);
		l4->hdr_len = 4;
		return;
	default:
		l4->hdr_len = 0;
		return;
	}
	total = l4->hdr_len + l4->payload_len;
	sum = pseudo ? pseudo_sum(p, total) : 0;
	sum = csum_add(sum, h, l4->hdr_len);
	sum += mk_payload_sum(mk, p);
	c = csum_fold(sum);
	if (p->proto == IPPROTO_V_UDP && c == 0)
		c = 0xffff;
	put16(h + coff, c);
}

/* Copy bytes [from, from + len) of the L4 datagram to out. */
static void l4_copy(const struct mk_l4 *l4, uint32_t from, uint32_t len, uint8_t *out)
{
	uint32_t n;

	if (from < l4->hdr_len) {
		n = l4->hdr_len - from < len ? l4->hdr_len - from : len;
		memcpy(out, l4->hdr + from, n);
		out += n;
		from += n;
		len -= n;
	}
	if (len)
		memcpy(out, l4->payload + (from - l4->hdr_len), len);
}

/* Link header (and VLAN tags on Ethernet) for a frame of this EtherType. Returns its length. */
static uint32_t mk_put_l2(const struct mk *mk, const struct mk_pkt *p, uint16_t ethertype,
			  uint8_t *f)
{
	uint32_t n = 0, af;

	switch (mk->link->linktype) {
	case 1:
		memcpy(f, p->dmac, 6);
		memcpy(f + 6, p->smac, 6);
		n = 12;
		if (p->tags == 2) {
			put16(f + n, ETH_QINQ);
			put16(f + n + 2, p->vid_outer);
			put16(f + n + 4, ETH_VLAN);
			put16(f + n + 6, p->vid_inner);
			n += 8;
		} else if (p->tags == 1) {
			put16(f + n, ETH_VLAN);
			put16(f + n + 2, p->vid_outer);
			n += 4;
		}
		put16(f + n, ethertype);
		return n + 2;
	case 113:
		put16(f, p->outgoing ? 4 : 0);
		put16(f + 2, 1); /* ARPHRD_ETHER */
		put16(f + 4, 6);
		memcpy(f + 6, p->smac, 6);
		f[12] = 0;
		f[13] = 0;
		put16(f + 14, ethertype);
		return 16;
	case 276:
		put16(f, ethertype);
		put16(f + 2, 0);
		put32(f + 4, 3); /* interface index */
		put16(f + 8, 1);
		f[10] = p->outgoing ? 4 : 0;
		f[11] = 6;
		memcpy(f + 12, p->smac, 6);
		f[18] = 0;
		f[19] = 0;
		return 20;
	case 0:
		af = ethertype == ETH_IPV6 ? p->null_af6 : 2;
		memcpy(f, &af, 4); /* host byte order, as DLT_NULL defines */
		return 4;
	case 108:
		put32(f, ethertype == ETH_IPV6 ? 24 : 2);
		return 4;
	default:
		return 0;
	}
}

static void mk_write(struct mk *mk, const uint8_t *f, uint32_t wirelen)
{
	struct pcap_pkthdr h;

	memset(&h, 0, sizeof(h));
	h.ts.tv_sec = (time_t)(mk->ts_us / 1000000u);
	h.ts.tv_usec = (suseconds_t)(mk->ts_us % 1000000u);
	h.len = wirelen;
	h.caplen = wirelen < mk->snaplen ? wirelen : mk->snaplen;
	pcap_dump((u_char *)mk->dumper, &h, f);
	if (mk->truth.frames == 0)
		mk->truth.first_ts_us = mk->ts_us;
	mk->truth.last_ts_us = mk->ts_us;
	mk->truth.frames++;
	if (h.caplen < h.len)
		mk->truth.snapped_frames++;
}

/* Pad a short Ethernet frame to the 60-byte minimum, as a NIC would. */
static uint32_t mk_pad(const struct mk *mk, uint8_t *f, uint32_t len)
{
	if (mk->link->linktype != 1 || len >= MK_ETH_MIN)
		return len;
	memset(f + len, 0, MK_ETH_MIN - len);
	return MK_ETH_MIN;
}

/* ---- tunnels ---------------------------------------------------------------------------- */

/*
 * Outer addresses: node A (192.168.0.1, fd00:ffff::1) sends the packets marked outgoing
 * (client to server in the mix, every demo packet), node B (.2, ::2) the rest.
 */
static void mk_node_addr(uint8_t ipv, bool node_a, uint8_t out[16])
{
	memset(out, 0, 16);
	if (ipv == 4) {
		out[0] = 192;
		out[1] = 168;
		out[3] = node_a ? 1 : 2;
	} else {
		out[0] = 0xfd;
		out[2] = 0xff;
		out[3] = 0xff;
		out[15] = node_a ? 1 : 2;
	}
}

/*
 * Outer UDP source port: a hash of the inner addresses and protocol in 49152..65535, like
 * Linux's port from the inner flow hash but without the ports, so that every fragment of a
 * datagram gets the same one.
 */
static uint16_t mk_tun_sport(const struct mk_pkt *p)
{
	uint64_t h = 0xcbf29ce484222325ull;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ p->src[i]) * 0x100000001b3ull;
	for (i = 0; i < 16; i++)
		h = (h ^ p->dst[i]) * 0x100000001b3ull;
	h = (h ^ p->proto) * 0x100000001b3ull;
	return (uint16_t)(49152 + ((h ^ h >> 32) & 0x3fff));
}

/*
 * Bytes between the link header (with the outer VLAN tags) and the inner IP header.
 * Every other packet carries a Geneve option (8 bytes) / a GRE checksum (4 bytes): alt.
 */
static uint32_t mk_tun_len(const struct mk *mk, bool alt)
{
	const struct mk_tun_opts *t = &mk->tun;
	uint32_t n = t->outer_ipv == 4 ? 20 : 40;

	switch (t->tun->type) {
	case MK_TUN_VXLAN:
		n += 8 + 8;
		break;
	case MK_TUN_GENEVE:
		n += 8 + 8 + (alt ? 8 : 0);
		break;
	case MK_TUN_GRE: /* sequence number always, checksum on alt, key with --vni */
		n += 4 + 4 + (alt ? 4 : 0) + (t->vni_set ? 4 : 0);
		break;
	case MK_TUN_NVGRE: /* RFC 7637: key only */
		n += 4 + 4;
		break;
	default:
		break;
	}
	if (t->tun->eth)
		n += 14 + (t->inner_vlan ? 4 : 0);
	return n;
}

/* Remember an outer-view key; counts outer_flows. */
static void mk_note_outer_key(struct mk *mk, uint64_t key)
{
	struct mk_keyset *ks = &mk->outer_keys;
	uint64_t v = key + 1, i = (key * 0x9e3779b97f4a7c15ull) >> 20;

	for (i &= ks->mask; ks->slot[i]; i = (i + 1) & ks->mask)
		if (ks->slot[i] == v)
			return;
	if (mk->truth.outer_flows * 2 >= ks->mask) {
		fprintf(stderr, "lf-mkpcap: outer key set full\n");
		exit(1);
	}
	ks->slot[i] = v;
	mk->truth.outer_flows++;
}

/*
 * Write the outer IP header and everything up to the inner IP packet (enc bytes in all,
 * as mk_tun_len() said) in front of the inner_len-byte packet already at o + enc, with
 * valid checksums (outer UDP over IPv4 has none, as Linux sends VXLAN). Returns the outer
 * IP length.
 */
static uint32_t mk_tun_wrap(struct mk *mk, const struct mk_pkt *p, uint8_t *o, uint32_t enc,
			    uint32_t inner_len, bool alt)
{
	const struct mk_tun_opts *t = &mk->tun;
	uint32_t ohl = t->outer_ipv == 4 ? 20 : 40, total = enc + inner_len, x = ohl, csum_at = 0;
	uint8_t src[16], dst[16], proto;
	uint16_t sport = 0, vlan;
	uint64_t sum;

	mk_node_addr(t->outer_ipv, p->outgoing, src);
	mk_node_addr(t->outer_ipv, !p->outgoing, dst);
	switch (t->tun->type) {
	case MK_TUN_VXLAN:
	case MK_TUN_GENEVE:
		proto = IPPROTO_V_UDP;
		sport = mk_tun_sport(p);
		put16(o + x, sport);
		put16(o + x + 2, t->tun->port);
		put16(o + x + 4, (uint16_t)(total - ohl));
		put16(o + x + 6, 0);
		x += 8;
		memset(o + x, 0, 8);
		put32(o + x + 4, t->vni << 8);
		if (t->tun->type == MK_TUN_VXLAN) {
			o[x] = 0x08; /* I: the VNI is valid */
			x += 8;
			break;
		}
		put16(o + x + 2, ETH_TEB);
		o[x] = alt ? 2 : 0; /* option length in 4-byte words */
		x += 8;
		if (alt) { /* one option: class 0x0103, type 1, 4 bytes of data */
			put16(o + x, 0x0103);
			o[x + 2] = 1;
			o[x + 3] = 1;
			put32(o + x + 4, (uint32_t)mk->truth.tunnel_packets);
			x += 8;
		}
		break;
	case MK_TUN_IPIP:
		proto = p->ipv == 4 ? IPPROTO_V_IPIP : IPPROTO_V_IPV6;
		break;
	default: {
		bool nvgre = t->tun->type == MK_TUN_NVGRE, key = nvgre || t->vni_set;
		bool csum = !nvgre && alt, seq = !nvgre;

		proto = IPPROTO_V_GRE;
		put16(o + x,
		      (uint16_t)((csum ? 0x8000 : 0) | (key ? 0x2000 : 0) | (seq ? 0x1000 : 0)));
		put16(o + x + 2, nvgre ? ETH_TEB : p->ipv == 4 ? ETH_IPV4 : ETH_IPV6);
		x += 4;
		if (csum) {
			csum_at = x;
			put32(o + x, 0);
			x += 4;
		}
		if (key) {
			put32(o + x, nvgre ? t->vni << 8 : t->vni); /* NVGRE: VSID, FlowID 0 */
			x += 4;
		}
		if (seq) {
			put32(o + x, mk->gre_seq++);
			x += 4;
		}
		break;
	}
	}
	if (t->tun->eth) {
		memcpy(o + x, p->dmac, 6);
		memcpy(o + x + 6, p->smac, 6);
		x += 12;
		if (t->inner_vlan) {
			put16(o + x, ETH_VLAN);
			put16(o + x + 2, t->inner_vlan);
			x += 4;
		}
		put16(o + x, p->ipv == 4 ? ETH_IPV4 : ETH_IPV6);
		x += 2;
	}
	if (x != enc) {
		fprintf(stderr, "lf-mkpcap: tunnel header is %u bytes, not %u\n", x, enc);
		exit(1);
	}
	if (csum_at) /* GRE checksum: GRE header and payload, no pseudo-header */
		put16(o + csum_at, csum_fold(csum_add(0, o + ohl, total - ohl)));

	if (t->outer_ipv == 4) {
		memset(o, 0, 20);
		o[0] = 0x45;
		put16(o + 2, (uint16_t)total);
		put16(o + 4, (uint16_t)mk->truth.tunnel_packets);
		put16(o + 6, 0x4000); /* DF: the underlay does not fragment */
		o[8] = 64;
		o[9] = proto;
		memcpy(o + 12, src, 4);
		memcpy(o + 16, dst, 4);
		put16(o + 10, csum_fold(csum_add(0, o, 20)));
	} else {
		uint8_t tail[8];

		memset(o, 0, 40);
		put32(o, 0x60000000u | sport);
		put16(o + 4, (uint16_t)(total - 40));
		o[6] = proto;
		o[7] = 64;
		memcpy(o + 8, src, 16);
		memcpy(o + 24, dst, 16);
		if (proto == IPPROTO_V_UDP) { /* mandatory over IPv6 */
			sum = csum_add(0, src, 16);
			sum = csum_add(sum, dst, 16);
			put32(tail, total - 40);
			put32(tail + 4, IPPROTO_V_UDP);
			sum = csum_add(sum, tail, 8);
			sum = csum_add(sum, o + 40, total - 40);
			put16(o + 46, csum_fold(sum) ? csum_fold(sum) : 0xffff);
		}
	}

	/* The outer-view key: direction, outer VLAN, UDP source port, outer protocol. */
	vlan = mk->link->linktype == 1 && p->tags ? p->vid_outer : 0;
	mk_note_outer_key(mk, (uint64_t)p->outgoing | (uint64_t)vlan << 1 | (uint64_t)sport << 13 |
				      (uint64_t)proto << 29);
	return total;
}

/*
 * Write one IP packet carrying bytes [frag_off, frag_off + frag_len) of the L4 datagram.
 * A whole packet is frag_off 0, frag_len = datagram length, more false. With --tunnel the
 * packet is the inner one and the outer headers go in front of it.
 */
static void mk_emit_ip(struct mk *mk, const struct mk_pkt *p, const struct mk_l4 *l4,
		       uint32_t frag_off, uint32_t frag_len, bool more)
{
	uint8_t *f = mk->frame, *ip;
	bool frag = frag_off != 0 || more, alt = mk->truth.ip_packets & 1;
	uint32_t l2, hl, len, ip_len, enc = 0;

	if (mk->tun.tun) {
		enc = mk_tun_len(mk, alt);
		l2 = mk_put_l2(mk, p, mk->tun.outer_ipv == 4 ? ETH_IPV4 : ETH_IPV6, f);
	} else {
		l2 = mk_put_l2(mk, p, p->ipv == 4 ? ETH_IPV4 : ETH_IPV6, f);
	}
	ip = f + l2 + enc;
	if (p->ipv == 4) {
		hl = 20 + p->v4_opt_len;
		ip_len = hl + frag_len;
		memset(ip, 0, hl);
		ip[0] = (uint8_t)(0x40 | (hl / 4));
		ip[1] = p->tos;
		put16(ip + 2, (uint16_t)ip_len);
		put16(ip + 4, p->ip_id);
		put16(ip + 6, (uint16_t)((p->df && !frag ? 0x4000 : 0) | (more ? 0x2000 : 0) |
					 (frag_off / 8)));
		ip[8] = p->ttl;
		ip[9] = p->proto;
		memcpy(ip + 12, p->src, 4);
		memcpy(ip + 16, p->dst, 4);
		if (p->v4_opt_len == 4) {
			ip[20] = 0x94; /* router alert */
			ip[21] = 4;
		} else if (p->v4_opt_len == 40) {
			ip[20] = 7; /* record route, 9 empty slots, then end of list */
			ip[21] = 39;
			ip[22] = 4;
		}
		put16(ip + 10, csum_fold(csum_add(0, ip, hl)));
		mk->truth.ipv4_packets++;
		if (p->v4_opt_len)
			mk->truth.ipv4_options_packets++;
	} else {
		uint8_t *x;
		uint8_t nh = p->proto;

		hl = 40 + (p->v6_ext ? 24 : 0) + (frag ? 8 : 0);
		ip_len = hl + frag_len;
		memset(ip, 0, hl);
		put32(ip, 0x60000000u | (uint32_t)p->tos << 20 | (p->sport ^ p->dport));
		put16(ip + 4, (uint16_t)(ip_len - 40));
		ip[7] = p->ttl;
		memcpy(ip + 8, p->src, 16);
		memcpy(ip + 24, p->dst, 16);
		x = ip + 40;
		if (frag)
			nh = IPPROTO_V_FRAG6;
		if (p->v6_ext) {
			ip[6] = IPPROTO_V_HOPOPT;
			x[0] = IPPROTO_V_DSTOPT; /* hop-by-hop: 8 bytes, PadN */
			x[1] = 0;
			x[2] = 1;
			x[3] = 4;
			x[8] = nh; /* destination options: 16 bytes, PadN */
			x[9] = 1;
			x[10] = 1;
			x[11] = 12;
			x += 24;
			mk->truth.ipv6_ext_packets++;
		} else {
			ip[6] = nh;
		}
		if (frag) {
			x[0] = p->proto;
			put16(x + 2, (uint16_t)(frag_off | (more ? 1 : 0)));
			put32(x + 4, 0x1f000000u | p->ip_id);
		}
		mk->truth.ipv6_packets++;
	}
	l4_copy(l4, frag_off, frag_len, ip + hl);
	if (mk->tun.tun) {
		mk->truth.outer_ip_octets += mk_tun_wrap(mk, p, f + l2, enc, ip_len, alt);
		mk->truth.tunnel_packets++;
	}
	len = mk_pad(mk, f, l2 + enc + ip_len);
	mk_write(mk, f, len);

	mk->truth.ip_packets++;
	mk->truth.ip_octets += ip_len;
	if (frag)
		mk->truth.fragments++;
	if (mk->link->linktype == 1 && p->tags) {
		mk->truth.vlan_frames++;
		if (p->tags == 2)
			mk->truth.qinq_frames++;
	}
	switch (p->proto) {
	case IPPROTO_V_TCP:
		mk->truth.tcp_packets++;
		break;
	case IPPROTO_V_UDP:
		mk->truth.udp_packets++;
		break;
	case IPPROTO_V_ICMP:
		mk->truth.icmp_packets++;
		break;
	case IPPROTO_V_ICMP6:
		mk->truth.icmpv6_packets++;
		break;
	case IPPROTO_V_SCTP:
		mk->truth.sctp_packets++;
		break;
	case IPPROTO_V_GRE:
		mk->truth.gre_packets++;
		break;
	default:
		break;
	}
}

static void mk_emit_whole(struct mk *mk, const struct mk_pkt *p)
{
	struct mk_l4 l4;

	mk_build_l4(mk, p, &l4);
	mk_emit_ip(mk, p, &l4, 0, l4.hdr_len + l4.payload_len, false);
}

/* An ARP request from p's source address (IPv4) for target. Only on EtherType links. */
static void mk_emit_arp(struct mk *mk, const struct mk_pkt *p, const uint8_t target[4])
{
	uint8_t *f = mk->frame, *a;
	struct mk_pkt q = *p;
	uint32_t l2;

	if (!mk->link->ethertype)
		return;
	memset(q.dmac, 0xff, 6);
	q.tags = 0;
	l2 = mk_put_l2(mk, &q, ETH_ARP, f);
	a = f + l2;
	put16(a, 1);
	put16(a + 2, ETH_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, q.smac, 6);
	memcpy(a + 14, q.src, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, target, 4);
	mk_write(mk, f, mk_pad(mk, f, l2 + 28));
	mk->truth.non_ip_frames++;
	mk->truth.drops[MK_DROP_NON_IP]++;
}

/* ---- malformed frames ------------------------------------------------------------------ */

/* Kinds of malformed frame, each landing in exactly one decoder drop reason. */
enum mk_bad {
	MK_BAD_SHORT_L2 = 0, /* frame shorter than the link header */
	MK_BAD_SHORT_VLAN,   /* Ethernet: 802.1Q tag without the inner EtherType */
	MK_BAD_SHORT_IPV4,   /* 12 bytes of IPv4 header */
	MK_BAD_SHORT_IPV6,   /* 30 bytes of IPv6 header */
	MK_BAD_IHL_SMALL,    /* IPv4 IHL 3 */
	MK_BAD_IHL_ZERO,     /* IPv4 IHL 0 */
	MK_BAD_TOTAL_BIG_V4, /* IPv4 total length 1400 in a 46-byte packet */
	MK_BAD_PLEN_BIG_V6,  /* IPv6 payload length 1400 with 20 bytes behind the header */
	MK_BAD_V6_EXT,	     /* hop-by-hop header 40 bytes long in a 16-byte payload */
	MK_BAD_VERSION,	     /* IPv6 packet behind an IPv4 EtherType/family */
	MK_BAD_GARBAGE,	     /* random bytes with version nibble 15 */
	MK_BAD_COUNT,
};

static bool mk_bad_applies(const struct mk *mk, enum mk_bad kind)
{
	switch (kind) {
	case MK_BAD_SHORT_L2:
		return mk->link->l2_bytes > 0;
	case MK_BAD_SHORT_VLAN:
		return mk->link->linktype == 1;
	case MK_BAD_VERSION:
		return mk->link->linktype != 101; /* raw IP has no family to disagree with */
	default:
		return true;
	}
}

static void mk_emit_malformed(struct mk *mk, const struct mk_pkt *tmpl)
{
	uint8_t *f = mk->frame, *ip;
	struct mk_pkt p = *tmpl;
	enum mk_bad kind;
	enum mk_drop why;
	uint32_t l2, n, i;

	do {
		kind = (enum mk_bad)(mk->bad_next++ % MK_BAD_COUNT);
	} while (!mk_bad_applies(mk, kind));
	p.tags = 0;
	l2 = mk_put_l2(mk, &p,
		       kind == MK_BAD_SHORT_IPV6 || kind == MK_BAD_PLEN_BIG_V6 ||
				       kind == MK_BAD_V6_EXT
			       ? ETH_IPV6
			       : ETH_IPV4,
		       f);
	ip = f + l2;
	memset(ip, 0, 64);
	switch (kind) {
	case MK_BAD_SHORT_L2:
		n = mk->link->l2_bytes > 4 ? 10 : 2;
		l2 = 0;
		why = MK_DROP_TRUNCATED_L2;
		break;
	case MK_BAD_SHORT_VLAN:
		put16(f + 12, ETH_VLAN);
		put16(f + 14, 42);
		l2 = 16;
		n = 0;
		why = MK_DROP_TRUNCATED_L2;
		break;
	case MK_BAD_SHORT_IPV4:
		ip[0] = 0x45;
		put16(ip + 2, 84);
		n = 12;
		why = MK_DROP_TRUNCATED_IP;
		break;
	case MK_BAD_SHORT_IPV6:
		ip[0] = 0x60;
		put16(ip + 4, 20);
		ip[6] = IPPROTO_V_UDP;
		n = 30;
		why = MK_DROP_TRUNCATED_IP;
		break;
	case MK_BAD_IHL_SMALL:
	case MK_BAD_IHL_ZERO:
		ip[0] = kind == MK_BAD_IHL_SMALL ? 0x43 : 0x40;
		put16(ip + 2, 40);
		ip[8] = 64;
		ip[9] = IPPROTO_V_UDP;
		memcpy(ip + 12, p.src, 4);
		memcpy(ip + 16, p.dst, 4);
		n = 40;
		why = MK_DROP_BAD_IP_HDR_LEN;
		break;
	case MK_BAD_TOTAL_BIG_V4:
		ip[0] = 0x45;
		put16(ip + 2, 1400);
		ip[8] = 64;
		ip[9] = IPPROTO_V_UDP;
		memcpy(ip + 12, p.src, 4);
		memcpy(ip + 16, p.dst, 4);
		put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
		n = 46;
		why = MK_DROP_BAD_IP_TOTAL_LEN;
		break;
	case MK_BAD_PLEN_BIG_V6:
		ip[0] = 0x60;
		put16(ip + 4, 1400);
		ip[6] = IPPROTO_V_UDP;
		ip[7] = 64;
		ip[8] = 0xfd;
		ip[24] = 0xfd;
		n = 60;
		why = MK_DROP_BAD_IP_TOTAL_LEN;
		break;
	case MK_BAD_V6_EXT:
		ip[0] = 0x60;
		put16(ip + 4, 16);
		ip[6] = IPPROTO_V_HOPOPT;
		ip[7] = 64;
		ip[8] = 0xfd;
		ip[24] = 0xfd;
		ip[40] = IPPROTO_V_UDP;
		ip[41] = 4; /* (4 + 1) * 8 = 40 bytes, past the 16-byte payload */
		n = 56;
		why = MK_DROP_BAD_IPV6_EXT;
		break;
	case MK_BAD_VERSION:
		ip[0] = 0x60;
		put16(ip + 4, 8);
		ip[6] = IPPROTO_V_UDP;
		ip[7] = 64;
		ip[8] = 0xfd;
		ip[24] = 0xfd;
		n = 48;
		why = MK_DROP_BAD_IP_VERSION;
		break;
	case MK_BAD_GARBAGE:
	default:
		n = 40;
		for (i = 0; i < n; i++)
			ip[i] = (uint8_t)rng_next(mk);
		ip[0] |= 0xf0;
		why = MK_DROP_BAD_IP_VERSION;
		break;
	}
	n += l2;
	if (kind != MK_BAD_SHORT_L2 && kind != MK_BAD_SHORT_VLAN && kind != MK_BAD_SHORT_IPV4 &&
	    kind != MK_BAD_SHORT_IPV6)
		n = mk_pad(mk, f, n);
	mk_write(mk, f, n);
	mk->truth.malformed_frames++;
	mk->truth.drops[why]++;
}

/* ---- the mixed-traffic generator ------------------------------------------------------- */

enum mk_end { MK_END_NONE = 0, MK_END_FIN, MK_END_RST };

/* One synthetic conversation; the client address is unique per flow, so keys never collide. */
struct mk_flow {
	uint32_t n_pkts; /* planned IP packets (>= 1) */
	uint32_t sent;
	uint32_t client;
	uint32_t seq_c;
	uint32_t seq_s;
	uint16_t server;
	uint16_t sport;
	uint16_t dport;
	uint16_t vid_outer;
	uint16_t vid_inner;
	uint16_t ip_id;
	uint16_t pend_len; /* UDP payload of a datagram whose second fragment is pending */
	uint16_t pend_off;
	uint16_t pend_id;
	uint8_t ipv;
	uint8_t proto;
	uint8_t tags;
	uint8_t end;
	uint8_t v4opt;
	uint8_t tos;
	uint8_t null_af6;
	uint8_t v6ext : 1, frag : 1, unidir : 1, rst_client : 1;
	uint8_t seen; /* bit 0: client->server key seen, bit 1: server->client */
};

static const uint16_t tcp_ports[] = {80, 443, 8080, 6379, 5432, 3306, 9090, 22, 8443, 11211};
static const uint16_t udp_ports[] = {53, 123, 443, 161, 514, 8125};
static const uint16_t sctp_ports[] = {5000, 7777};
/* AF_INET6 as BSD loopback captures write it: NetBSD/OpenBSD, FreeBSD, Darwin. */
static const uint8_t null_af6_values[] = {24, 28, 30};

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void mix_init_flow(struct mk *mk, struct mk_flow *fl, uint32_t idx, bool mix)
{
	uint32_t r, tags;

	memset(fl, 0, sizeof(*fl));
	fl->client = idx;
	fl->server = (uint16_t)rng_below(mk, MK_SERVERS);
	fl->sport = (uint16_t)rng_range(mk, 32768, 60999);
	fl->ipv = mix && rng_below(mk, 100) < 30 ? 6 : 4;
	r = rng_below(mk, 100);
	if (!mix)
		fl->proto = r < 70 ? IPPROTO_V_TCP : IPPROTO_V_UDP;
	else if (r < 60)
		fl->proto = IPPROTO_V_TCP;
	else if (r < 88)
		fl->proto = IPPROTO_V_UDP;
	else if (r < 94)
		fl->proto = fl->ipv == 4 ? IPPROTO_V_ICMP : IPPROTO_V_ICMP6;
	else if (r < 97)
		fl->proto = IPPROTO_V_SCTP;
	else
		fl->proto = IPPROTO_V_GRE;
	switch (fl->proto) {
	case IPPROTO_V_TCP:
		fl->dport = tcp_ports[rng_below(mk, ARRAY_LEN(tcp_ports))];
		break;
	case IPPROTO_V_UDP:
		fl->dport = udp_ports[rng_below(mk, ARRAY_LEN(udp_ports))];
		break;
	case IPPROTO_V_SCTP:
		fl->dport = sctp_ports[rng_below(mk, ARRAY_LEN(sctp_ports))];
		break;
	default:
		fl->sport = (uint16_t)rng_range(mk, 1, 65535); /* ICMP echo identifier */
		break;
	}
	fl->seq_c = (uint32_t)rng_next(mk);
	fl->seq_s = (uint32_t)rng_next(mk);
	fl->ip_id = (uint16_t)rng_next(mk);
	r = rng_below(mk, 100);
	fl->end = r < 50 ? MK_END_FIN : r < 65 ? MK_END_RST : MK_END_NONE;
	fl->rst_client = rng_below(mk, 2);
	r = rng_below(mk, 100);
	fl->tos = r < 85 ? 0 : r < 95 ? 0x10 : 0xb8;
	fl->null_af6 = null_af6_values[rng_below(mk, ARRAY_LEN(null_af6_values))];
	fl->unidir = fl->proto == IPPROTO_V_UDP && rng_below(mk, 100) < 20;
	r = rng_below(mk, 100);
	tags = r < 4 ? 2 : r < 16 ? 1 : 0;
	fl->vid_outer = (uint16_t)rng_range(mk, 2, 4094);
	fl->vid_inner = (uint16_t)rng_range(mk, 2, 4094);
	r = rng_below(mk, 100);
	if (!mix)
		return;
	if (mk->link->linktype == 1)
		fl->tags = (uint8_t)tags;
	if (fl->proto == IPPROTO_V_UDP && r < 5) {
		fl->frag = 1;
		fl->unidir = 1;
	} else if (fl->ipv == 4 && r >= 90) {
		fl->v4opt = r >= 95 ? 40 : 4;
	} else if (fl->ipv == 6 && r >= 88) {
		fl->v6ext = 1;
	}
}

static void mix_addr(const struct mk_flow *fl, bool client, uint8_t addr[16], uint8_t mac[6])
{
	uint32_t v = client ? fl->client + 1 : fl->server + 1u;

	memset(addr, 0, 16);
	if (fl->ipv == 4) {
		addr[0] = client ? 10 : 172;
		addr[1] = (uint8_t)(client ? v >> 16 : 16 + ((v >> 16) & 15));
		addr[2] = (uint8_t)(v >> 8);
		addr[3] = (uint8_t)v;
	} else {
		addr[0] = 0xfd;
		addr[3] = client ? 0xc1 : 0x5e;
		put32(addr + 12, v);
	}
	mac[0] = 0x02;
	mac[1] = client ? 0x00 : 0x01;
	put32(mac + 2, v);
}

/* Largest payload of one unfragmented packet of this flow. */
static uint32_t mix_max_payload(const struct mk_flow *fl, uint32_t l4_hdr)
{
	uint32_t ip_hdr = fl->ipv == 4 ? 20u + fl->v4opt : 40u + (fl->v6ext ? 24u : 0u);

	return MK_MTU - ip_hdr - l4_hdr;
}

/* Write the flow's next packet; returns true when the flow has sent all its packets. */
static bool mix_step(struct mk *mk, struct mk_flow *fl)
{
	struct mk_pkt p;
	uint32_t n = fl->n_pkts, k = fl->sent, end_len = 0, max, pl = 0;
	bool fwd = true;

	memset(&p, 0, sizeof(p));
	p.ipv = fl->ipv;
	p.proto = fl->proto;
	p.tags = fl->tags;
	p.vid_outer = fl->vid_outer;
	p.vid_inner = fl->vid_inner;
	p.tos = fl->tos;
	p.ttl = 64;
	p.v4_opt_len = fl->v4opt;
	p.v6_ext = fl->v6ext;
	p.null_af6 = fl->null_af6;
	p.ip_id = fl->ip_id++;
	p.pattern_off = rng_below(mk, MK_PATTERN_OFFS / 2) * 2;

	switch (fl->proto) {
	case IPPROTO_V_TCP:
		p.df = true;
		max = mix_max_payload(fl, 20);
		if (fl->end == MK_END_FIN && n >= 6)
			end_len = 3;
		else if (fl->end == MK_END_RST && n >= 4)
			end_len = 1;
		if (k == 0) {
			p.tcp_flags = TH_SYN;
			p.tcp_mss = true;
		} else if (k == 1) {
			fwd = false;
			p.tcp_flags = TH_SYN | TH_ACK;
			p.tcp_mss = true;
		} else if (k == 2) {
			p.tcp_flags = TH_ACK;
		} else if (k >= n - end_len && fl->end == MK_END_FIN) {
			fwd = k - (n - 3) != 1;
			p.tcp_flags = k == n - 1 ? TH_ACK : TH_FIN | TH_ACK;
		} else if (k >= n - end_len) {
			fwd = fl->rst_client;
			p.tcp_flags = TH_RST | TH_ACK;
		} else {
			fwd = (k - 3) % 3 == 0;
			p.tcp_flags = TH_PSH | TH_ACK;
			pl = fwd ? rng_range(mk, 20, 400) : rng_range(mk, 100, max);
		}
		p.seq = fwd ? fl->seq_c : fl->seq_s;
		p.ack = k == 0 ? 0 : fwd ? fl->seq_s : fl->seq_c;
		if (fwd)
			fl->seq_c += pl + ((p.tcp_flags & (TH_SYN | TH_FIN)) ? 1 : 0);
		else
			fl->seq_s += pl + ((p.tcp_flags & (TH_SYN | TH_FIN)) ? 1 : 0);
		if (k == n - 1 && end_len == 3)
			mk->truth.tcp_fin_flows++;
		else if (k == n - 1 && end_len == 1)
			mk->truth.tcp_rst_flows++;
		p.sport = fwd ? fl->sport : fl->dport;
		p.dport = fwd ? fl->dport : fl->sport;
		break;
	case IPPROTO_V_UDP:
		fwd = fl->unidir || k % 2 == 0;
		pl = fwd ? rng_range(mk, 20, 300) : rng_range(mk, 40, 1200);
		p.sport = fwd ? fl->sport : fl->dport;
		p.dport = fwd ? fl->dport : fl->sport;
		break;
	case IPPROTO_V_ICMP:
	case IPPROTO_V_ICMP6:
		fwd = k % 2 == 0;
		pl = 56;
		if (fl->proto == IPPROTO_V_ICMP)
			p.icmp_type = fwd ? 8 : 0;
		else
			p.icmp_type = fwd ? 128 : 129;
		p.icmp_id = fl->sport;
		p.icmp_seq = (uint16_t)(k / 2 + 1);
		break;
	case IPPROTO_V_SCTP:
		fwd = k % 2 == 0;
		pl = rng_range(mk, 4, 250) * 4;
		p.seq = fwd ? fl->seq_c++ : fl->seq_s++;
		p.sport = fwd ? fl->sport : fl->dport;
		p.dport = fwd ? fl->dport : fl->sport;
		break;
	default:
		fwd = k % 2 == 0;
		pl = rng_range(mk, 40, 1400);
		break;
	}
	p.payload_len = pl;
	p.outgoing = fwd;
	mix_addr(fl, fwd, p.src, p.smac);
	mix_addr(fl, !fwd, p.dst, p.dmac);
	fl->seen |= fwd ? 1 : 2;

	if (fl->frag && (fl->pend_len || n - k >= 2)) {
		/*
		 * A UDP datagram too big for the MTU, sent as two fragments on two steps of
		 * this flow (other flows' packets may come in between, as on a real link).
		 */
		struct mk_l4 l4;
		uint32_t cap = fl->ipv == 4 ? 1480 : 1448, total;
		bool second = fl->pend_len != 0;

		if (second) {
			p.payload_len = fl->pend_len;
			p.pattern_off = fl->pend_off;
			p.ip_id = fl->pend_id;
			fl->pend_len = 0;
		} else {
			p.payload_len = rng_range(mk, 1500, 2800);
			fl->pend_len = (uint16_t)p.payload_len;
			fl->pend_off = (uint16_t)p.pattern_off;
			fl->pend_id = p.ip_id;
		}
		mk_build_l4(mk, &p, &l4);
		total = l4.hdr_len + l4.payload_len;
		if (second)
			mk_emit_ip(mk, &p, &l4, cap, total - cap, false);
		else
			mk_emit_ip(mk, &p, &l4, 0, cap, true);
		fl->sent++;
		return fl->sent == n;
	}
	mk_emit_whole(mk, &p);
	fl->sent++;
	return fl->sent == n;
}

struct mk_opts {
	const char *out;
	const char *truth;
	const char *bad_header;
	const char *scenario;
	uint64_t packets;
	uint64_t flows;
	uint64_t seed;
	uint64_t start_ms;
	uint64_t gap_us;
	uint64_t active;
	uint64_t cut_bytes;
	uint32_t snaplen;
	bool mix;
	bool malformed;
	bool snaplen_set;
	struct mk_tun_opts tun;
};

/* A template packet whose addresses the malformed and ARP frames borrow. */
static void mix_side_template(struct mk_pkt *p)
{
	static const uint8_t src[4] = {10, 255, 0, 1}, dst[4] = {172, 31, 255, 1};

	memset(p, 0, sizeof(*p));
	p->ipv = 4;
	memcpy(p->src, src, 4);
	memcpy(p->dst, dst, 4);
	p->smac[0] = 0x02;
	p->smac[1] = 0x02;
	p->smac[5] = 1;
	p->dmac[0] = 0x02;
	p->dmac[1] = 0x03;
	p->dmac[5] = 1;
	p->null_af6 = 24;
}

/*
 * Per-flow packet counts: one packet each, the rest spread by a heavy-tailed weight (most
 * flows short, a few long), so that the counts add up to exactly opts->packets.
 */
static void mix_plan_counts(struct mk *mk, struct mk_flow *flows, uint64_t n_flows,
			    uint64_t packets)
{
	uint64_t extra = packets - n_flows, w_sum = 0, given = 0, i;

	for (i = 0; i < n_flows; i++) {
		uint32_t r = rng_below(mk, 100);

		flows[i].n_pkts = r < 60 ? 1 : r < 90 ? 4 : r < 98 ? 16 : 128; /* weight for now */
		w_sum += flows[i].n_pkts;
	}
	for (i = 0; i < n_flows; i++) {
		uint64_t share = extra * flows[i].n_pkts / w_sum;

		flows[i].n_pkts = (uint32_t)(1 + share);
		given += share;
	}
	for (i = 0; given < extra; i = (i + 1) % n_flows, given++)
		flows[i].n_pkts++;
}

static int mix_run(struct mk *mk, const struct mk_opts *o)
{
	struct mk_flow *flows;
	uint32_t *slots;
	uint64_t n_slots = 0, next = 0, i, step = 0;
	struct mk_pkt side;
	static const uint8_t gw[4] = {10, 255, 255, 254};

	flows = calloc(o->flows, sizeof(*flows));
	slots = calloc(o->active, sizeof(*slots));
	if (!flows || !slots) {
		free(flows);
		free(slots);
		fprintf(stderr, "lf-mkpcap: out of memory for %" PRIu64 " flows\n", o->flows);
		return -ENOMEM;
	}
	for (i = 0; i < o->flows; i++)
		mix_init_flow(mk, &flows[i], (uint32_t)i, o->mix);
	mix_plan_counts(mk, flows, o->flows, o->packets);
	mix_side_template(&side);

	/*
	 * Up to `active` flows are in progress at once; each step sends the next packet of a
	 * random one, and a finished flow's slot goes to the next flow not yet started.
	 */
	while (n_slots < o->active && next < o->flows)
		slots[n_slots++] = (uint32_t)next++;
	while (n_slots) {
		uint32_t s = rng_below(mk, (uint32_t)n_slots);

		if (mix_step(mk, &flows[slots[s]])) {
			if (next < o->flows)
				slots[s] = (uint32_t)next++;
			else
				slots[s] = slots[--n_slots];
		}
		mk->ts_us += o->gap_us;
		step++;
		if (o->mix && step % 997 == 500) {
			mk_emit_arp(mk, &side, gw);
			mk->ts_us += o->gap_us;
		}
		if (o->malformed && step % 101 == 50) {
			mk_emit_malformed(mk, &side);
			mk->ts_us += o->gap_us;
		}
	}
	for (i = 0; i < o->flows; i++)
		mk->truth.flows += (flows[i].seen & 1) + (flows[i].seen >> 1);
	free(flows);
	free(slots);
	return 0;
}

/* ---- the demo scenario ------------------------------------------------------------------ */

/*
 * Traffic between the endpoints of tests/data/sample-inventory.json. The addresses here
 * and in that file must agree (tests/data/README.md lists them).
 */
struct demo_ep {
	const char *ip;
	uint8_t ipv;
	uint8_t addr[16];
	uint8_t mac[6];
};

enum {
	EP_CART_A = 0,	/* shop/cart-7d9f8b6c5-x2x9k, node-a */
	EP_CART_B,	/* shop/cart-7d9f8b6c5-q8wzl, node-b */
	EP_CHECKOUT,	/* shop/checkout-5b8c9d7f4-m4kq7, node-a */
	EP_CHECKOUT_V6, /* the same pod's IPv6 address */
	EP_REDIS,	/* shop/redis-0, node-a */
	EP_PROMETHEUS,	/* monitoring/prometheus-0, node-b */
	EP_COREDNS_A,	/* kube-system/coredns-5d78c9869d-8xkqz, node-a */
	EP_COREDNS_B,	/* kube-system/coredns-5d78c9869d-r2v5n, node-b */
	EP_CATALOG_V6,	/* shop/catalog-6f7b8c9d5-kz4wp, IPv6 only */
	EP_NODE_A,	/* node ip-10-0-1-23.ec2.internal */
	EP_SVC_CART,	/* service shop/cart ClusterIP */
	EP_VM,		/* VM billing-vm-01 */
	EP_EXTERNAL,	/* payments.example.com */
	EP_GATEWAY_A,	/* cni0 on node-a: ARP target, never a flow end */
	EP_COUNT,
};

static struct demo_ep demo_eps[EP_COUNT] = {
	[EP_CART_A] = {.ip = "10.244.0.12"},	     [EP_CART_B] = {.ip = "10.244.1.15"},
	[EP_CHECKOUT] = {.ip = "10.244.0.17"},	     [EP_CHECKOUT_V6] = {.ip = "fd00:10:244::11"},
	[EP_REDIS] = {.ip = "10.244.0.30"},	     [EP_PROMETHEUS] = {.ip = "10.244.1.40"},
	[EP_COREDNS_A] = {.ip = "10.244.0.2"},	     [EP_COREDNS_B] = {.ip = "10.244.1.3"},
	[EP_CATALOG_V6] = {.ip = "fd00:10:244::1a"}, [EP_NODE_A] = {.ip = "10.0.1.23"},
	[EP_SVC_CART] = {.ip = "10.96.142.10"},	     [EP_VM] = {.ip = "10.0.50.10"},
	[EP_EXTERNAL] = {.ip = "203.0.113.50"},	     [EP_GATEWAY_A] = {.ip = "10.244.0.1"},
};

#define DEMO_MAX_FRAMES 1024
#define DEMO_ARENA	65536
#define DEMO_MAX_KEYS	128

struct demo_frame {
	uint64_t ts_us;
	uint32_t order; /* tie-break: insertion order */
	bool arp;
	struct mk_pkt pkt;
};

/* Demo key: what a flow meter keys on (ICMP: type and code instead of ports). */
struct demo_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;
};

struct demo {
	struct demo_frame frames[DEMO_MAX_FRAMES];
	uint32_t n_frames;
	uint8_t arena[DEMO_ARENA]; /* payload bytes, borrowed by frames */
	uint32_t arena_used;
	struct demo_key keys[DEMO_MAX_KEYS];
	uint32_t n_keys;
	uint32_t fin_flows;
	uint32_t rst_flows;
	uint64_t t0_us;
};

/* A TCP connection in the demo: both sequence numbers and the endpoints. */
struct demo_conn {
	int c, s;
	uint16_t sport, dport;
	uint32_t seq_c, seq_s;
	uint64_t t_us; /* time of the last packet */
};

static int demo_init_eps(void)
{
	for (size_t i = 0; i < EP_COUNT; i++) {
		struct demo_ep *e = &demo_eps[i];

		if (inet_pton(AF_INET, e->ip, e->addr) == 1) {
			e->ipv = 4;
			e->mac[0] = 0x0a; /* CNI-style MAC: 0a:58 + the IPv4 address */
			e->mac[1] = 0x58;
			memcpy(e->mac + 2, e->addr, 4);
		} else if (inet_pton(AF_INET6, e->ip, e->addr) == 1) {
			e->ipv = 6;
			e->mac[0] = 0x0a;
			e->mac[1] = 0x58;
			memcpy(e->mac + 2, e->addr + 12, 4);
		} else {
			return -EINVAL;
		}
	}
	/* the IPv6 address belongs to the same pod, hence the same interface */
	memcpy(demo_eps[EP_CHECKOUT_V6].mac, demo_eps[EP_CHECKOUT].mac, 6);
	return 0;
}

static const uint8_t *demo_store(struct demo *d, const void *bytes, uint32_t len)
{
	uint8_t *p;

	if (d->arena_used + len > DEMO_ARENA) {
		fprintf(stderr, "lf-mkpcap: demo payload arena full\n");
		exit(1);
	}
	p = d->arena + d->arena_used;
	memcpy(p, bytes, len);
	d->arena_used += (len + 1) & ~1u;
	return p;
}

static struct mk_pkt *demo_add(struct demo *d, uint64_t t_us, int from, int to, uint8_t proto)
{
	struct demo_frame *fr;
	const struct demo_ep *s = &demo_eps[from], *r = &demo_eps[to];

	if (d->n_frames == DEMO_MAX_FRAMES) {
		fprintf(stderr, "lf-mkpcap: too many demo frames\n");
		exit(1);
	}
	fr = &d->frames[d->n_frames];
	memset(fr, 0, sizeof(*fr));
	fr->ts_us = d->t0_us + t_us;
	fr->order = d->n_frames++;
	fr->pkt.ipv = s->ipv;
	fr->pkt.proto = proto;
	memcpy(fr->pkt.src, s->addr, 16);
	memcpy(fr->pkt.dst, r->addr, 16);
	/*
	 * As seen on a pod's veth: on-link (same /24 pod network, or IPv6) goes direct; a pod
	 * sends everything else to its node's cni0 (x.x.x.1), and what a non-pod address
	 * sends arrives from the receiving pod's cni0.
	 */
	if (s->ipv == 6 || memcmp(s->addr, r->addr, 3) == 0) {
		memcpy(fr->pkt.smac, s->mac, 6);
		memcpy(fr->pkt.dmac, r->mac, 6);
	} else if (s->addr[0] == 10 && s->addr[1] == 244) {
		memcpy(fr->pkt.smac, s->mac, 6);
		memcpy(fr->pkt.dmac, s->mac, 5);
		fr->pkt.dmac[5] = 1;
	} else {
		memcpy(fr->pkt.smac, r->mac, 5);
		fr->pkt.smac[5] = 1;
		memcpy(fr->pkt.dmac, r->mac, 6);
	}
	fr->pkt.ttl = 64;
	fr->pkt.null_af6 = 30;
	fr->pkt.outgoing = true;
	fr->pkt.ip_id = (uint16_t)(0x3a00 + fr->order * 7);
	fr->pkt.df = proto == IPPROTO_V_TCP;
	return &fr->pkt;
}

static void demo_tcp_pkt(struct demo *d, struct demo_conn *cn, uint64_t dt_us, bool from_client,
			 uint8_t flags, const char *text, uint32_t len)
{
	struct mk_pkt *p;
	uint32_t *mine = from_client ? &cn->seq_c : &cn->seq_s;
	uint32_t *theirs = from_client ? &cn->seq_s : &cn->seq_c;

	cn->t_us += dt_us;
	p = demo_add(d, cn->t_us, from_client ? cn->c : cn->s, from_client ? cn->s : cn->c,
		     IPPROTO_V_TCP);
	p->sport = from_client ? cn->sport : cn->dport;
	p->dport = from_client ? cn->dport : cn->sport;
	p->tcp_flags = flags;
	p->tcp_mss = (flags & TH_SYN) != 0;
	p->seq = *mine;
	p->ack = flags & TH_ACK ? *theirs : 0;
	if (text && len) {
		p->payload = demo_store(d, text, len);
		p->payload_len = len;
	}
	*mine += len + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
}

static void demo_open(struct demo *d, struct demo_conn *cn, uint64_t t_us, int c, int s,
		      uint16_t sport, uint16_t dport)
{
	memset(cn, 0, sizeof(*cn));
	cn->c = c;
	cn->s = s;
	cn->sport = sport;
	cn->dport = dport;
	cn->seq_c = 0x1000000u * sport + 17u * dport;
	cn->seq_s = 0x2f00000u * dport + 31u * sport;
	cn->t_us = t_us;
	demo_tcp_pkt(d, cn, 0, true, TH_SYN, NULL, 0);
	demo_tcp_pkt(d, cn, 180, false, TH_SYN | TH_ACK, NULL, 0);
	demo_tcp_pkt(d, cn, 90, true, TH_ACK, NULL, 0);
}

/* Request from the client, response from the server, each acknowledged. */
static void demo_exchange(struct demo *d, struct demo_conn *cn, uint64_t at_us, const char *req,
			  const char *resp)
{
	if (at_us > cn->t_us)
		cn->t_us = at_us;
	demo_tcp_pkt(d, cn, 50, true, TH_PSH | TH_ACK, req, (uint32_t)strlen(req));
	demo_tcp_pkt(d, cn, 40, false, TH_ACK, NULL, 0);
	demo_tcp_pkt(d, cn, 900, false, TH_PSH | TH_ACK, resp, (uint32_t)strlen(resp));
	demo_tcp_pkt(d, cn, 60, true, TH_ACK, NULL, 0);
}

static void demo_close_fin(struct demo *d, struct demo_conn *cn)
{
	demo_tcp_pkt(d, cn, 200, true, TH_FIN | TH_ACK, NULL, 0);
	demo_tcp_pkt(d, cn, 120, false, TH_FIN | TH_ACK, NULL, 0);
	demo_tcp_pkt(d, cn, 80, true, TH_ACK, NULL, 0);
	d->fin_flows++;
}

/* A DNS query and its answer (one A or AAAA record). */
static void demo_dns(struct demo *d, uint64_t t_us, int c, int s, uint16_t sport, uint16_t id,
		     const char *name, int answer)
{
	uint8_t q[512], *w = q + 12;
	const char *label = name, *dot;
	uint16_t qtype = demo_eps[answer].ipv == 4 ? 1 : 28;
	uint32_t qlen, alen = demo_eps[answer].ipv == 4 ? 4 : 16;
	struct mk_pkt *p;

	memset(q, 0, sizeof(q));
	put16(q, id);
	put16(q + 2, 0x0100); /* standard query, recursion desired */
	put16(q + 4, 1);
	do {
		size_t n;

		dot = strchr(label, '.');
		n = dot ? (size_t)(dot - label) : strlen(label);
		*w++ = (uint8_t)n;
		memcpy(w, label, n);
		w += n;
		if (dot)
			label = dot + 1;
	} while (dot);
	*w++ = 0;
	put16(w, qtype);
	put16(w + 2, 1);
	w += 4;
	qlen = (uint32_t)(w - q);
	p = demo_add(d, t_us, c, s, IPPROTO_V_UDP);
	p->sport = sport;
	p->dport = 53;
	p->payload = demo_store(d, q, qlen);
	p->payload_len = qlen;

	put16(q + 2, 0x8580); /* response, authoritative, recursion desired and available */
	put16(q + 6, 1);
	put16(w, 0xc00c); /* the question's name */
	put16(w + 2, qtype);
	put16(w + 4, 1);
	put32(w + 6, 5);
	put16(w + 10, (uint16_t)alen);
	memcpy(w + 12, demo_eps[answer].addr, alen);
	w += 12 + alen;
	p = demo_add(d, t_us + 350, s, c, IPPROTO_V_UDP);
	p->sport = 53;
	p->dport = sport;
	p->payload = demo_store(d, q, (uint32_t)(w - q));
	p->payload_len = (uint32_t)(w - q);
}

static const char *demo_text(struct demo *d, char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Format into buf and keep a copy in the arena (NUL included). */
static const char *demo_text(struct demo *d, char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "lf-mkpcap: demo text too long\n");
		exit(1);
	}
	return (const char *)demo_store(d, buf, (uint32_t)n + 1);
}

/* An HTTP response with a correct Content-Length. */
static const char *demo_http_resp(struct demo *d, const char *type, const char *body)
{
	char buf[2048];

	return demo_text(d, buf, sizeof(buf),
			 "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
			 type, strlen(body), body);
}

static void demo_redis_session(struct demo *d, uint64_t t_us, int client, uint16_t sport,
			       unsigned int cart)
{
	struct demo_conn cn;
	char key[32], req[128], resp[128], val[64];
	const char *r1, *r2;

	snprintf(key, sizeof(key), "cart:%u", cart);
	snprintf(val, sizeof(val), "{\"items\":%u,\"total\":\"%u.90\"}", cart % 5 + 1,
		 cart % 7 * 10 + 19);
	demo_open(d, &cn, t_us, client, EP_REDIS, sport, 6379);
	demo_exchange(d, &cn, 0, "*1\r\n$4\r\nPING\r\n", "+PONG\r\n");
	r1 = demo_text(d, req, sizeof(req), "*2\r\n$3\r\nGET\r\n$%zu\r\n%s\r\n", strlen(key), key);
	r2 = demo_text(d, resp, sizeof(resp), "$%zu\r\n%s\r\n", strlen(val), val);
	demo_exchange(d, &cn, 0, r1, r2);
	r1 = demo_text(d, req, sizeof(req), "*3\r\n$6\r\nEXPIRE\r\n$%zu\r\n%s\r\n$4\r\n3600\r\n",
		       strlen(key), key);
	demo_exchange(d, &cn, 0, r1, ":1\r\n");
	demo_close_fin(d, &cn);
}

static const char demo_metrics_cart[] =
	"# HELP http_requests_total Requests served.\n"
	"# TYPE http_requests_total counter\n"
	"http_requests_total{code=\"200\",handler=\"/api/cart\"} 1027\n"
	"http_requests_total{code=\"500\",handler=\"/api/cart\"} 3\n"
	"# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
	"# TYPE process_resident_memory_bytes gauge\n"
	"process_resident_memory_bytes 4.3118592e+07\n";

static const char demo_metrics_dns[] =
	"# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol "
	"and family.\n"
	"# TYPE coredns_dns_requests_total counter\n"
	"coredns_dns_requests_total{family=\"1\",proto=\"udp\",server=\"dns://:53\","
	"type=\"A\",zone=\"cluster.local.\"} 48213\n";

static const char demo_metrics_node[] =
	"# HELP node_load1 1m load average.\n"
	"# TYPE node_load1 gauge\n"
	"node_load1 0.42\n"
	"# HELP node_network_receive_bytes_total Network device statistic receive_bytes.\n"
	"# TYPE node_network_receive_bytes_total counter\n"
	"node_network_receive_bytes_total{device=\"ens5\"} 8.1235522e+09\n";

static void demo_build(struct demo *d, uint64_t start_ms)
{
	struct demo_conn scrape[4], cn;
	static const int targets[4] = {EP_CART_A, EP_CHECKOUT, EP_COREDNS_A, EP_NODE_A};
	static const uint16_t tports[4] = {8080, 9090, 9153, 9100};
	const char *bodies[4] = {demo_metrics_cart, demo_metrics_cart, demo_metrics_dns,
				 demo_metrics_node};
	const uint64_t s = 1000000; /* one second in microseconds */
	char buf[512], tls[600];
	const char *req, *resp;
	struct mk_pkt *p;
	int i, round;

	d->t0_us = start_ms * 1000;

	/* cart on node-a resolves its gateway, then redis */
	demo_add(d, 0, EP_CART_A, EP_GATEWAY_A, 0);
	d->frames[d->n_frames - 1].arp = true;
	demo_dns(d, 2000, EP_CART_A, EP_COREDNS_A, 41233, 0x51c2,
		 "redis-0.redis.shop.svc.cluster.local", EP_REDIS);
	demo_redis_session(d, 5000, EP_CART_A, 46210, 42);

	/* checkout resolves the cart service and calls it through its ClusterIP */
	demo_dns(d, 40000, EP_CHECKOUT, EP_COREDNS_B, 52881, 0x0b7e, "cart.shop.svc.cluster.local",
		 EP_SVC_CART);
	demo_open(d, &cn, 45000, EP_CHECKOUT, EP_SVC_CART, 38412, 8080);
	demo_exchange(d, &cn, 0,
		      "GET /api/cart/42 HTTP/1.1\r\nHost: cart.shop.svc.cluster.local:8080\r\n"
		      "User-Agent: checkout/1.8.2\r\nAccept: application/json\r\n\r\n",
		      demo_http_resp(d, "application/json",
				     "{\"cart\":42,\"items\":[{\"sku\":\"sku-1042\",\"qty\":2},"
				     "{\"sku\":\"sku-2210\",\"qty\":1}],\"total\":\"59.90\"}"));
	demo_close_fin(d, &cn);

	/* prometheus on node-b keeps one connection per target and scrapes every 5 s */
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 4; i++) {
			uint64_t t = 1 * s + (uint64_t)round * 5 * s + (uint64_t)i * 7000;

			if (round == 0)
				demo_open(d, &scrape[i], t, EP_PROMETHEUS, targets[i],
					  (uint16_t)(43100 + i * 17), tports[i]);
			req = demo_text(d, buf, sizeof(buf),
					"GET %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: "
					"Prometheus/2.48.1\r\nAccept: text/plain;version=0.0.4\r\n"
					"X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
					"/metrics", demo_eps[targets[i]].ip, tports[i]);
			resp = demo_http_resp(d, "text/plain; version=0.0.4; charset=utf-8",
					      bodies[i]);
			demo_exchange(d, &scrape[i], t, req, resp);
		}
	}

	/* checkout adds an item straight to a cart pod */
	demo_open(d, &cn, 2 * s + 500000, EP_CHECKOUT, EP_CART_A, 38420, 8080);
	demo_exchange(d, &cn, 0,
		      "POST /api/cart/42/items HTTP/1.1\r\nHost: 10.244.0.12:8080\r\n"
		      "Content-Type: application/json\r\nContent-Length: 29\r\n\r\n"
		      "{\"sku\":\"sku-3307\",\"qty\":1}\r\n",
		      demo_http_resp(d, "application/json", "{\"cart\":42,\"items\":3}"));
	demo_close_fin(d, &cn);

	/* checkout pings the billing VM four times, a second apart */
	for (i = 0; i < 4; i++) {
		uint8_t ping[56];

		for (size_t j = 0; j < sizeof(ping); j++)
			ping[j] = (uint8_t)(j < 8 ? 0x65 + i + j : j);
		p = demo_add(d, 3 * s + (uint64_t)i * s, EP_CHECKOUT, EP_VM, IPPROTO_V_ICMP);
		p->icmp_type = 8;
		p->icmp_id = 0x1c2d;
		p->icmp_seq = (uint16_t)(i + 1);
		p->payload = demo_store(d, ping, sizeof(ping));
		p->payload_len = sizeof(ping);
		p = demo_add(d, 3 * s + (uint64_t)i * s + 420, EP_VM, EP_CHECKOUT, IPPROTO_V_ICMP);
		p->icmp_type = 0;
		p->icmp_id = 0x1c2d;
		p->icmp_seq = (uint16_t)(i + 1);
		p->payload = demo_store(d, ping, sizeof(ping));
		p->payload_len = sizeof(ping);
	}

	/* more cart sessions with redis, one from the cart pod on node-b */
	demo_redis_session(d, 4 * s + 100000, EP_CART_A, 46244, 77);
	demo_redis_session(d, 9 * s + 300000, EP_CART_B, 51002, 108);
	demo_redis_session(d, 12 * s + 700000, EP_CART_A, 46302, 42);

	/* checkout talks TLS to the external payment API, which resets the connection */
	demo_open(d, &cn, 7 * s, EP_CHECKOUT, EP_EXTERNAL, 40110, 443);
	memset(tls, 0, sizeof(tls));
	tls[0] = 0x16; /* handshake record, TLS 1.0 record version, 512 bytes */
	tls[1] = 0x03;
	tls[2] = 0x01;
	tls[3] = 0x02;
	tls[4] = 0x00;
	tls[5] = 0x01; /* client hello */
	for (i = 6; i < 517; i++)
		tls[i] = (char)(i * 37 + 11);
	demo_tcp_pkt(d, &cn, 60, true, TH_PSH | TH_ACK, tls, 517);
	demo_tcp_pkt(d, &cn, 21000, false, TH_ACK, NULL, 0);
	tls[5] = 0x02; /* server hello */
	demo_tcp_pkt(d, &cn, 300, false, TH_PSH | TH_ACK, tls, 517);
	demo_tcp_pkt(d, &cn, 80, true, TH_ACK, NULL, 0);
	tls[0] = 0x17; /* application data */
	demo_tcp_pkt(d, &cn, 900, true, TH_PSH | TH_ACK, tls, 233);
	demo_tcp_pkt(d, &cn, 23000, false, TH_PSH | TH_ACK, tls, 417);
	demo_tcp_pkt(d, &cn, 70, true, TH_ACK, NULL, 0);
	demo_tcp_pkt(d, &cn, 5000, false, TH_RST | TH_ACK, NULL, 0);
	d->rst_flows++;

	/* IPv6: checkout asks the IPv6-only catalog pod for a product */
	demo_open(d, &cn, 8 * s, EP_CHECKOUT_V6, EP_CATALOG_V6, 47788, 8080);
	demo_exchange(
		d, &cn, 0,
		"GET /api/products/sku-1042 HTTP/1.1\r\nHost: catalog.shop.svc.cluster.local:8080"
		"\r\nUser-Agent: checkout/1.8.2\r\nAccept: application/json\r\n\r\n",
		demo_http_resp(d, "application/json",
			       "{\"sku\":\"sku-1042\",\"name\":\"Espresso cup\","
			       "\"price\":\"14.95\",\"stock\":118}"));
	demo_close_fin(d, &cn);

	/* the node-b cart pod resolves redis late in the capture */
	demo_dns(d, 14 * s, EP_CART_B, EP_COREDNS_B, 60112, 0x9d01,
		 "redis-0.redis.shop.svc.cluster.local", EP_REDIS);
}

static int demo_frame_cmp(const void *a, const void *b)
{
	const struct demo_frame *x = a, *y = b;

	if (x->ts_us != y->ts_us)
		return x->ts_us < y->ts_us ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void demo_note_key(struct demo *d, const struct mk_pkt *p)
{
	struct demo_key k;
	uint32_t i;

	memset(&k, 0, sizeof(k));
	memcpy(k.src, p->src, 16);
	memcpy(k.dst, p->dst, 16);
	k.proto = p->proto;
	if (p->proto == IPPROTO_V_ICMP || p->proto == IPPROTO_V_ICMP6) {
		k.dport = (uint16_t)(p->icmp_type << 8 | p->icmp_code);
	} else {
		k.sport = p->sport;
		k.dport = p->dport;
	}
	for (i = 0; i < d->n_keys; i++)
		if (memcmp(&d->keys[i], &k, sizeof(k)) == 0)
			return;
	if (d->n_keys < DEMO_MAX_KEYS)
		d->keys[d->n_keys++] = k;
}

static int demo_run(struct mk *mk, const struct mk_opts *o)
{
	struct demo *d = calloc(1, sizeof(*d));
	uint32_t i;

	if (!d)
		return -ENOMEM;
	if (demo_init_eps() < 0) {
		free(d);
		return -EINVAL;
	}
	demo_build(d, o->start_ms);
	qsort(d->frames, d->n_frames, sizeof(d->frames[0]), demo_frame_cmp);
	for (i = 0; i < d->n_frames; i++) {
		struct demo_frame *fr = &d->frames[i];

		mk->ts_us = fr->ts_us;
		if (fr->arp) {
			mk_emit_arp(mk, &fr->pkt, fr->pkt.dst);
			continue;
		}
		mk_emit_whole(mk, &fr->pkt);
		demo_note_key(d, &fr->pkt);
	}
	mk->truth.flows = d->n_keys;
	mk->truth.tcp_fin_flows = d->fin_flows;
	mk->truth.tcp_rst_flows = d->rst_flows;
	free(d);
	return 0;
}

/* ---- output ------------------------------------------------------------------------------ */

/* The flow key's tunnel_id for every packet: VNI, GRE key (0 without --vni), NVGRE VSID. */
static uint32_t mk_tun_id(const struct mk_tun_opts *t)
{
	if (!t->tun || t->tun->type == MK_TUN_IPIP || (t->tun->type == MK_TUN_GRE && !t->vni_set))
		return 0;
	return t->vni;
}

static int write_truth(const struct mk *mk, const struct mk_opts *o, const char *path)
{
	const struct mk_truth *t = &mk->truth;
	FILE *f = fopen(path, "we");
	int i;

	if (!f) {
		int err = errno;

		fprintf(stderr, "lf-mkpcap: cannot write truth file '%s': %s\n", path,
			strerror(err));
		return -err;
	}
#define KV(k, v) fprintf(f, "%s=%" PRIu64 "\n", k, (uint64_t)(v))
	KV("frames", t->frames);
	KV("ip_packets", t->ip_packets);
	KV("ip_octets", t->ip_octets);
	KV("ipv4_packets", t->ipv4_packets);
	KV("ipv6_packets", t->ipv6_packets);
	KV("non_ip_frames", t->non_ip_frames);
	KV("malformed_frames", t->malformed_frames);
	KV("flows", t->flows);
	KV("tcp_packets", t->tcp_packets);
	KV("udp_packets", t->udp_packets);
	KV("icmp_packets", t->icmp_packets);
	KV("icmpv6_packets", t->icmpv6_packets);
	KV("sctp_packets", t->sctp_packets);
	KV("gre_packets", t->gre_packets);
	KV("vlan_frames", t->vlan_frames);
	KV("qinq_frames", t->qinq_frames);
	KV("ipv4_options_packets", t->ipv4_options_packets);
	KV("ipv6_ext_packets", t->ipv6_ext_packets);
	KV("fragments", t->fragments);
	KV("snapped_frames", t->snapped_frames);
	KV("tcp_fin_flows", t->tcp_fin_flows);
	KV("tcp_rst_flows", t->tcp_rst_flows);
	KV("tunnel_type", mk->tun.tun ? mk->tun.tun->type : 0);
	KV("tunnel_id", mk_tun_id(&mk->tun));
	KV("tunnel_packets", t->tunnel_packets);
	KV("outer_ip_octets", mk->tun.tun ? t->outer_ip_octets : t->ip_octets);
	KV("outer_flows", mk->tun.tun ? t->outer_flows : t->flows);
	for (i = 0; i < MK_DROP_COUNT; i++)
		fprintf(f, "drop_%s=%" PRIu64 "\n", mk_drop_names[i], t->drops[i]);
	KV("linktype", mk->link->linktype);
	KV("snaplen", mk->snaplen);
	KV("seed", o->seed);
	KV("first_ts_ms", t->first_ts_us / 1000);
	KV("last_ts_ms", t->last_ts_us / 1000);
#undef KV
	if (fclose(f) != 0) {
		fprintf(stderr, "lf-mkpcap: writing '%s': %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

/* A file whose pcap header is garbage: no libpcap version opens it. */
static int write_bad_header(const char *path)
{
	static const uint8_t junk[40] = {'L',  'F',  'B',  'A',	 'D',  '!',  0x00,
					 0x07, 0xde, 0xad, 0xbe, 0xef, 0x13, 0x37,
					 0x42, 0x00, 0xff, 0xff, 0x00, 0x01};
	FILE *f = fopen(path, "we");

	if (!f || fwrite(junk, 1, sizeof(junk), f) != sizeof(junk) || fclose(f) != 0) {
		fprintf(stderr, "lf-mkpcap: cannot write '%s': %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: lf-mkpcap -o FILE [OPTIONS]\n"
		"Write a deterministic pcap capture and, optionally, its ground truth.\n"
		"\n"
		"  -o, --output FILE        capture to write (\"-\" = standard output)\n"
		"      --truth FILE         write key=value ground truth (see "
		"tests/data/README.md)\n"
		"      --packets N          IP packets to write (default 1000); ARP and malformed\n"
		"                           frames come on top\n"
		"      --flows N            conversations (default 100, at most N packets); each "
		"has\n"
		"                           a unique client address and gives one flow key per\n"
		"                           direction that carries packets\n"
		"      --seed S             PRNG seed (default 1)\n"
		"      --linktype T         en10mb (default), linux_sll, linux_sll2, raw, null, "
		"loop\n"
		"      --mix                TCP/UDP/ICMP/ICMPv6/SCTP/GRE over IPv4 and IPv6, "
		"802.1Q and\n"
		"                           QinQ tags, IPv4 options, IPv6 extension headers, IPv4 "
		"and\n"
		"                           IPv6 fragments, ARP frames (default: IPv4 TCP and "
		"UDP)\n"
		"      --malformed          also write one malformed frame every 101 packets\n"
		"      --snaplen N          keep at most N bytes per frame, N >= %d (default "
		"65535)\n"
		"      --start-ms T         first timestamp, ms since the epoch (default %llu)\n"
		"      --gap-us N           time between frames (default 10)\n"
		"      --active N           conversations in progress at once (default 4096)\n"
		"      --scenario demo      the quick-start capture for "
		"tests/data/sample-inventory.json\n"
		"      --cut-bytes N        drop the last N bytes of the file (truncated last "
		"record)\n"
		"      --bad-pcap-header F  write a file with a garbage pcap header to F\n"
		"      --tunnel T           wrap every IP packet in vxlan (UDP 4789), vxlan8472,\n"
		"                           geneve (6081; every other packet with an 8-byte "
		"option),\n"
		"                           ipip (protocol 4/41), gre (sequence numbers, checksum "
		"on\n"
		"                           every other packet, key with --vni) or nvgre\n"
		"      --vni N              VXLAN/Geneve VNI, NVGRE VSID (default 42, < 2^24), "
		"GRE\n"
		"                           key (default: no key)\n"
		"      --outer-ipv6         IPv6 outer header (default IPv4)\n"
		"      --inner-vlan N       802.1Q tag N inside the tunnel's Ethernet frame "
		"(vxlan,\n"
		"                           geneve, nvgre)\n"
		"  -h, --help               this text\n"
		"With --tunnel the snaplen must be >= %d.\n",
		MK_MIN_SNAPLEN, (unsigned long long)MK_DEFAULT_START, MK_MIN_SNAPLEN_TUN);
}

static int parse_u64(const char *opt, const char *text, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno || end == text || *end || text[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"lf-mkpcap: %s '%s': expected a number from %" PRIu64 " to %" PRIu64 "\n",
			opt, text, min, max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

enum {
	OPT_TRUTH = 256,
	OPT_PACKETS,
	OPT_FLOWS,
	OPT_SEED,
	OPT_LINKTYPE,
	OPT_MIX,
	OPT_MALFORMED,
	OPT_SNAPLEN,
	OPT_START_MS,
	OPT_GAP_US,
	OPT_ACTIVE,
	OPT_SCENARIO,
	OPT_CUT_BYTES,
	OPT_BAD_HEADER,
	OPT_TUNNEL,
	OPT_VNI,
	OPT_OUTER_IPV6,
	OPT_INNER_VLAN,
};

static const struct option long_options[] = {
	{"output", required_argument, NULL, 'o'},
	{"truth", required_argument, NULL, OPT_TRUTH},
	{"packets", required_argument, NULL, OPT_PACKETS},
	{"flows", required_argument, NULL, OPT_FLOWS},
	{"seed", required_argument, NULL, OPT_SEED},
	{"linktype", required_argument, NULL, OPT_LINKTYPE},
	{"mix", no_argument, NULL, OPT_MIX},
	{"malformed", no_argument, NULL, OPT_MALFORMED},
	{"snaplen", required_argument, NULL, OPT_SNAPLEN},
	{"start-ms", required_argument, NULL, OPT_START_MS},
	{"gap-us", required_argument, NULL, OPT_GAP_US},
	{"active", required_argument, NULL, OPT_ACTIVE},
	{"scenario", required_argument, NULL, OPT_SCENARIO},
	{"cut-bytes", required_argument, NULL, OPT_CUT_BYTES},
	{"bad-pcap-header", required_argument, NULL, OPT_BAD_HEADER},
	{"tunnel", required_argument, NULL, OPT_TUNNEL},
	{"vni", required_argument, NULL, OPT_VNI},
	{"outer-ipv6", no_argument, NULL, OPT_OUTER_IPV6},
	{"inner-vlan", required_argument, NULL, OPT_INNER_VLAN},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* --tunnel and its companions: consistent, defaults filled in. */
static int check_tunnel_args(struct mk_opts *o)
{
	struct mk_tun_opts *t = &o->tun;

	if (!t->tun) {
		if (t->vni_set || t->outer_ipv || t->inner_vlan) {
			fprintf(stderr, "lf-mkpcap: --vni, --outer-ipv6 and --inner-vlan need "
					"--tunnel\n");
			return -EINVAL;
		}
		return 0;
	}
	if (!t->outer_ipv)
		t->outer_ipv = 4;
	if (t->tun->type == MK_TUN_IPIP && t->vni_set) {
		fprintf(stderr, "lf-mkpcap: --vni: IP-in-IP has no tunnel id\n");
		return -EINVAL;
	}
	if (t->tun->type != MK_TUN_GRE && t->tun->type != MK_TUN_IPIP) {
		if (!t->vni_set)
			t->vni = 42;
		if (t->vni > 0xffffff) {
			fprintf(stderr, "lf-mkpcap: --vni %u: a VNI/VSID has 24 bits\n", t->vni);
			return -EINVAL;
		}
	}
	if (t->inner_vlan && !t->tun->eth) {
		fprintf(stderr, "lf-mkpcap: --inner-vlan: --tunnel %s carries no Ethernet frame\n",
			t->tun->name);
		return -EINVAL;
	}
	if (!o->snaplen_set)
		return 0;
	if (o->snaplen < MK_MIN_SNAPLEN_TUN) {
		fprintf(stderr, "lf-mkpcap: --snaplen %u: --tunnel needs at least %d\n", o->snaplen,
			MK_MIN_SNAPLEN_TUN);
		return -EINVAL;
	}
	return 0;
}

static int parse_args(int argc, char **argv, struct mk_opts *o, const struct mk_link **ret_link)
{
	const struct mk_link *link = &mk_links[0];
	uint64_t v;
	int opt, rc = 0;
	size_t i;

	while ((opt = getopt_long(argc, argv, "o:h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			o->out = optarg;
			break;
		case OPT_TRUTH:
			o->truth = optarg;
			break;
		case OPT_PACKETS:
			rc = parse_u64("--packets", optarg, 1, 1000000000, &o->packets);
			break;
		case OPT_FLOWS:
			rc = parse_u64("--flows", optarg, 1, MK_MAX_FLOWS, &o->flows);
			break;
		case OPT_SEED:
			rc = parse_u64("--seed", optarg, 0, UINT64_MAX, &o->seed);
			break;
		case OPT_LINKTYPE:
			link = NULL;
			for (i = 0; i < ARRAY_LEN(mk_links); i++)
				if (strcmp(optarg, mk_links[i].name) == 0)
					link = &mk_links[i];
			if (!link) {
				fprintf(stderr,
					"lf-mkpcap: --linktype '%s': expected en10mb, "
					"linux_sll, linux_sll2, raw, null or loop\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_MIX:
			o->mix = true;
			break;
		case OPT_MALFORMED:
			o->malformed = true;
			break;
		case OPT_SNAPLEN:
			rc = parse_u64("--snaplen", optarg, MK_MIN_SNAPLEN, 262144, &v);
			o->snaplen = (uint32_t)v;
			o->snaplen_set = true;
			break;
		case OPT_START_MS:
			rc = parse_u64("--start-ms", optarg, 0, 1ull << 52, &o->start_ms);
			break;
		case OPT_GAP_US:
			rc = parse_u64("--gap-us", optarg, 0, 3600000000ull, &o->gap_us);
			break;
		case OPT_ACTIVE:
			rc = parse_u64("--active", optarg, 1, MK_MAX_FLOWS, &o->active);
			break;
		case OPT_SCENARIO:
			if (strcmp(optarg, "demo") != 0) {
				fprintf(stderr, "lf-mkpcap: --scenario '%s': only 'demo' exists\n",
					optarg);
				return -EINVAL;
			}
			o->scenario = optarg;
			break;
		case OPT_CUT_BYTES:
			rc = parse_u64("--cut-bytes", optarg, 1, 1u << 20, &o->cut_bytes);
			break;
		case OPT_BAD_HEADER:
			o->bad_header = optarg;
			break;
		case OPT_TUNNEL:
			o->tun.tun = NULL;
			for (i = 0; i < ARRAY_LEN(mk_tunnels); i++)
				if (strcmp(optarg, mk_tunnels[i].name) == 0)
					o->tun.tun = &mk_tunnels[i];
			if (!o->tun.tun) {
				fprintf(stderr,
					"lf-mkpcap: --tunnel '%s': expected vxlan, vxlan8472, "
					"geneve, ipip, gre or nvgre\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_VNI:
			rc = parse_u64("--vni", optarg, 0, UINT32_MAX, &v);
			o->tun.vni = (uint32_t)v;
			o->tun.vni_set = true;
			break;
		case OPT_OUTER_IPV6:
			o->tun.outer_ipv = 6;
			break;
		case OPT_INNER_VLAN:
			rc = parse_u64("--inner-vlan", optarg, 1, 4094, &v);
			o->tun.inner_vlan = (uint16_t)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
		if (rc < 0)
			return rc;
	}
	if (optind < argc) {
		fprintf(stderr, "lf-mkpcap: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->out && !o->bad_header) {
		fprintf(stderr, "lf-mkpcap: -o FILE is required (or --bad-pcap-header FILE)\n");
		return -EINVAL;
	}
	if (o->flows > o->packets) {
		fprintf(stderr,
			"lf-mkpcap: --flows %" PRIu64 " exceeds --packets %" PRIu64
			": every flow carries at least one packet\n",
			o->flows, o->packets);
		return -EINVAL;
	}
	if (o->cut_bytes && (!o->out || strcmp(o->out, "-") == 0)) {
		fprintf(stderr, "lf-mkpcap: --cut-bytes needs -o with a regular file\n");
		return -EINVAL;
	}
	rc = check_tunnel_args(o);
	if (rc < 0)
		return rc;
	*ret_link = link;
	return 0;
}

/* With --tunnel: room for two outer keys per conversation (demo: < 1024), half full. */
static int mk_keyset_init(struct mk *mk, const struct mk_opts *o)
{
	uint64_t want = (o->scenario ? 1024 : o->flows) * 4, size = 1024;

	if (!o->tun.tun)
		return 0;
	while (size < want)
		size *= 2;
	mk->outer_keys.slot = calloc(size, sizeof(*mk->outer_keys.slot));
	if (!mk->outer_keys.slot) {
		fprintf(stderr, "lf-mkpcap: out of memory for %" PRIu64 " outer keys\n", size);
		return -ENOMEM;
	}
	mk->outer_keys.mask = size - 1;
	return 0;
}

static int cut_tail(const char *path, uint64_t n)
{
	FILE *f = fopen(path, "r+e");
	long size;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0) {
		fprintf(stderr, "lf-mkpcap: cannot open '%s': %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -EIO;
	}
	if ((uint64_t)size <= 24 + n || ftruncate(fileno(f), size - (long)n) != 0) {
		fprintf(stderr, "lf-mkpcap: cannot cut %" PRIu64 " bytes off '%s'\n", n, path);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	struct mk_opts o = {
		.packets = 1000,
		.flows = 100,
		.seed = 1,
		.start_ms = MK_DEFAULT_START,
		.gap_us = 10,
		.active = 4096,
		.snaplen = 65535,
	};
	const struct mk_link *link = NULL;
	static struct mk mk; /* large: frame and pattern buffers */
	FILE *f;
	int rc;

	if (parse_args(argc, argv, &o, &link) < 0)
		return 2;
	if (o.bad_header && write_bad_header(o.bad_header) < 0)
		return 1;
	if (!o.out)
		return 0;

	mk.link = link;
	mk.tun = o.tun;
	mk.snaplen = o.snaplen;
	mk.rng = o.seed;
	mk.ts_us = o.start_ms * 1000;
	mk_pattern_init(&mk);
	mk.dead = pcap_open_dead(link->dlt, (int)o.snaplen);
	if (!mk.dead) {
		fprintf(stderr, "lf-mkpcap: pcap_open_dead failed\n");
		return 1;
	}
	f = strcmp(o.out, "-") == 0 ? stdout : fopen(o.out, "we");
	if (!f) {
		fprintf(stderr, "lf-mkpcap: cannot write '%s': %s\n", o.out, strerror(errno));
		pcap_close(mk.dead);
		return 1;
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	mk.dumper = pcap_dump_fopen(mk.dead, f);
	if (!mk.dumper) {
		fprintf(stderr, "lf-mkpcap: '%s': %s\n", o.out, pcap_geterr(mk.dead));
		fclose(f);
		pcap_close(mk.dead);
		return 1;
	}
	rc = mk_keyset_init(&mk, &o);
	if (rc == 0)
		rc = o.scenario ? demo_run(&mk, &o) : mix_run(&mk, &o);
	free(mk.outer_keys.slot);
	if (pcap_dump_flush(mk.dumper) != 0) {
		fprintf(stderr, "lf-mkpcap: writing '%s' failed\n", o.out);
		rc = -EIO;
	}
	pcap_dump_close(mk.dumper);
	pcap_close(mk.dead);
	if (rc == 0 && o.cut_bytes)
		rc = cut_tail(o.out, o.cut_bytes);
	if (rc == 0 && o.truth)
		rc = write_truth(&mk, &o, o.truth);
	return rc < 0 ? 1 : 0;
}
