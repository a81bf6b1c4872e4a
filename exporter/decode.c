// SPDX-License-Identifier: Apache-2.0
/*
 * decode: link layer -> IPv4/IPv6 (+ options, extension headers) -> L4 ports, in one forward
 * pass with no allocation and no logging; every exit is a decode_pkt or one drop counter.
 * One overlay level (VXLAN, Geneve, IP-in-IP, GRE) is looked through by running the same IP
 * parser on the inner packet; anything wrong inside falls back to the outer packet. Later
 * fragments take their ports from a fixed, bounded table filled by first fragments.
 */
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define DECODE_FRAG_DEFAULT_SIZE       4096
#define DECODE_FRAG_DEFAULT_TIMEOUT_MS 30000
/* Slots looked at per insert/lookup: the cost bound of the fragment table. */
#define DECODE_FRAG_PROBES 16

#define ETH_HLEN	   14
#define SLL_HLEN	   16
#define SLL2_HLEN	   20
#define NULL_HLEN	   4
#define ETHERTYPE_IPV4	   0x0800
#define ETHERTYPE_IPV6	   0x86dd
#define ETHERTYPE_8021Q	   0x8100
#define ETHERTYPE_8021AD   0x88a8
#define ETHERTYPE_QINQ_OLD 0x9100
#define ETHERTYPE_TEB	   0x6558 /* Transparent Ethernet Bridging: GRE/Geneve carry Ethernet */
#define IPV4_MIN_HLEN	   20
#define IPV6_HLEN	   40
#define UDP_HLEN	   8
#define VXLAN_HLEN	   8
#define GENEVE_HLEN	   8 /* without options */
#define GRE_HLEN	   4 /* without checksum, key, sequence number */
#define PACKET_OUTGOING	   4 /* Linux cooked packet type of a frame we sent */

#define PORT_VXLAN	 4789
#define PORT_VXLAN_LINUX 8472 /* Linux's default VXLAN port, used by Flannel */
#define PORT_GENEVE	 6081
#define GRE_FLAG_C	 0x8000
#define GRE_FLAG_R	 0x4000
#define GRE_FLAG_K	 0x2000
#define GRE_FLAG_S	 0x1000
#define GRE_VERSION	 0x0007
#define VXLAN_FLAG_I	 0x08

#define IPPROTO_N_ICMP	 1
#define IPPROTO_N_IPIP	 4
#define IPPROTO_N_TCP	 6
#define IPPROTO_N_UDP	 17
#define IPPROTO_N_IPV6	 41
#define IPPROTO_N_GRE	 47
#define IPPROTO_N_ICMPV6 58
#define IPPROTO_N_SCTP	 132

/*
 * Identity of a fragmented datagram. Zeroed before filling: compared and hashed as bytes.
 * IPv4 datagrams are identified by (src, dst, proto, id); IPv6 ones by (src, dst, id)
 * (RFC 8200), so proto stays 0 for IPv6 and the entry carries the resolved protocol.
 */
struct frag_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint32_t id;
	uint8_t version;
	uint8_t proto;
	uint8_t pad[2];
};

struct frag_entry {
	struct frag_key key;
	uint64_t expires_ms; /* live while ts_ms < expires_ms; 0 = never used */
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto; /* protocol after all extension headers (IPv6) */
};

/*
 * The decoder owns its stats and the fragment table (frag_size entries, allocated with
 * it). Insert and lookup look at no more than DECODE_FRAG_PROBES consecutive slots.
 * outer_pkt holds the outer view of the last frame while outer_ready (DECODE_VIEW_BOTH).
 */
struct decoder {
	struct decode_stats stats;
	struct decode_pkt outer_pkt;
	bool outer_ready;
	uint8_t tunnel_view; /* enum decode_tunnel_view */
	uint32_t frag_size;
	uint32_t frag_probes; /* min(frag_size, DECODE_FRAG_PROBES) */
	uint32_t frag_timeout_ms;
	struct frag_entry frag[];
};

/*
 * Bytes of the L4 header decode reads, per protocol; 0 = a port-less protocol. TCP needs
 * ports and the flags octet, UDP and SCTP the ports, ICMP/ICMPv6 type and code.
 */
static const uint8_t l4_need[256] = {
	[IPPROTO_N_ICMP] = 2,	[IPPROTO_N_TCP] = 14, [IPPROTO_N_UDP] = 4,
	[IPPROTO_N_ICMPV6] = 2, [IPPROTO_N_SCTP] = 4,
};

/* Protocols an outer packet may tunnel with; UDP only to a tunnel port. */
static const bool tunnel_proto[256] = {
	[IPPROTO_N_IPIP] = true,
	[IPPROTO_N_UDP] = true,
	[IPPROTO_N_IPV6] = true,
	[IPPROTO_N_GRE] = true,
};

static const char *const drop_names[DECODE_DROP_COUNT] = {
	[DECODE_DROP_NON_IP] = "non_ip",
	[DECODE_DROP_UNSUPPORTED_LINK] = "unsupported_link",
	[DECODE_DROP_TRUNCATED_L2] = "truncated_l2",
	[DECODE_DROP_BAD_IP_VERSION] = "bad_ip_version",
	[DECODE_DROP_TRUNCATED_IP] = "truncated_ip",
	[DECODE_DROP_BAD_IP_HDR_LEN] = "bad_ip_hdr_len",
	[DECODE_DROP_BAD_IP_TOTAL_LEN] = "bad_ip_total_len",
	[DECODE_DROP_BAD_IPV6_EXT] = "bad_ipv6_ext",
};

static const char *const tunnel_names[DECODE_TUNNEL_COUNT] = {
	[DECODE_TUNNEL_NONE] = "none",	   [DECODE_TUNNEL_VXLAN] = "vxlan",
	[DECODE_TUNNEL_GENEVE] = "geneve", [DECODE_TUNNEL_IPIP] = "ipip",
	[DECODE_TUNNEL_GRE] = "gre",	   [DECODE_TUNNEL_NVGRE] = "nvgre",
};

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct decoder *decode_new(const struct decode_config *config)
{
	uint32_t size = DECODE_FRAG_DEFAULT_SIZE;
	uint32_t timeout_ms = DECODE_FRAG_DEFAULT_TIMEOUT_MS;
	struct decoder *d;

	if (config && config->frag_table_size)
		size = config->frag_table_size;
	if (config && config->frag_timeout_ms)
		timeout_ms = config->frag_timeout_ms;
	if ((uint64_t)size * sizeof(struct frag_entry) > SIZE_MAX - sizeof(*d))
		return NULL;
	d = calloc(1, sizeof(*d) + (size_t)size * sizeof(struct frag_entry));
	if (!d)
		return NULL;
	d->frag_size = size;
	d->frag_probes = size < DECODE_FRAG_PROBES ? size : DECODE_FRAG_PROBES;
	d->frag_timeout_ms = timeout_ms;
	if (config && config->tunnel_view <= DECODE_VIEW_BOTH)
		d->tunnel_view = config->tunnel_view;
	return d;
}

void decode_free(struct decoder *d)
{
	free(d);
}

const struct decode_stats *decode_get_stats(const struct decoder *d)
{
	return &d->stats;
}

const char *decode_drop_name(enum decode_drop reason)
{
	if ((unsigned int)reason >= DECODE_DROP_COUNT)
		return "unknown";
	return drop_names[reason];
}

const char *decode_tunnel_name(enum decode_tunnel type)
{
	if ((unsigned int)type >= DECODE_TUNNEL_COUNT)
		return "unknown";
	return tunnel_names[type];
}

/* ---- fragment table (touched by fragments only, never by whole packets) ------------- */

static uint32_t frag_slot(const struct decoder *d, const struct frag_key *k)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	uint64_t w;
	size_t i;

	for (i = 0; i < sizeof(*k); i += sizeof(w)) {
		memcpy(&w, (const uint8_t *)k + i, sizeof(w));
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
		h ^= h >> 29;
	}
	/* Map the top 32 bits onto [0, frag_size) without a division. */
	return (uint32_t)(((h >> 32) * d->frag_size) >> 32);
}

static void frag_make_key(struct frag_key *k, const uint8_t *ip, unsigned int version,
			  uint8_t proto, uint32_t id)
{
	memset(k, 0, sizeof(*k));
	if (version == 4) {
		memcpy(k->src, ip + 12, 4);
		memcpy(k->dst, ip + 16, 4);
		k->proto = proto;
	} else {
		memcpy(k->src, ip + 8, 16);
		memcpy(k->dst, ip + 24, 16);
	}
	k->id = id;
	k->version = (uint8_t)version;
}

/*
 * Remember a first fragment's ports. Reuses the slot of the same datagram if it is still
 * live, else the first free or expired slot in the probe window. false = window full.
 */
/* expires_ms of a slot freed by its datagram's last fragment: not live, not "never used". */
#define FRAG_FREED 1

static inline bool frag_live(const struct frag_entry *e, uint64_t ts_ms)
{
	return ts_ms < e->expires_ms && e->expires_ms != FRAG_FREED;
}

static bool frag_insert(struct decoder *d, const struct frag_key *k, uint64_t ts_ms,
			uint16_t src_port, uint16_t dst_port, uint8_t proto)
{
	struct frag_entry *slot = NULL;
	uint32_t i = frag_slot(d, k);
	uint32_t n;

	for (n = 0; n < d->frag_probes; n++) {
		struct frag_entry *e = &d->frag[i];

		if (frag_live(e, ts_ms)) {
			if (memcmp(&e->key, k, sizeof(*k)) == 0) {
				slot = e;
				break;
			}
		} else if (!slot) {
			slot = e;
			if (e->expires_ms == 0)
				break; /* never used: nothing further down the window is ours */
		}
		if (++i == d->frag_size)
			i = 0;
	}
	if (!slot)
		return false;
	slot->key = *k;
	slot->expires_ms = ts_ms + d->frag_timeout_ms;
	slot->src_port = src_port;
	slot->dst_port = dst_port;
	slot->proto = proto;
	return true;
}

/*
 * Find a live first fragment. Inserts fill the first non-live slot of the window, so a
 * never-used slot ends the search.
 */
static struct frag_entry *frag_lookup(struct decoder *d, const struct frag_key *k, uint64_t ts_ms)
{
	uint32_t i = frag_slot(d, k);
	uint32_t n;

	for (n = 0; n < d->frag_probes; n++) {
		struct frag_entry *e = &d->frag[i];

		if (e->expires_ms == 0)
			return NULL;
		if (frag_live(e, ts_ms) && memcmp(&e->key, k, sizeof(*k)) == 0)
			return e;
		if (++i == d->frag_size)
			i = 0;
	}
	return NULL;
}

/* ---- the per-frame path ------------------------------------------------------------- */

static inline bool drop(struct decoder *d, enum decode_drop reason)
{
	d->stats.drops[reason]++;
	return false;
}

/* Address family of a NULL/LOOP header -> IP version; 0 = not IP. */
static inline unsigned int family_version(uint32_t family)
{
	switch (family) {
	case 2: /* AF_INET everywhere */
		return 4;
	case 10: /* AF_INET6: Linux */
	case 24: /* NetBSD, OpenBSD, BSD/OS */
	case 28: /* FreeBSD, DragonFly */
	case 30: /* macOS */
		return 6;
	default:
		return 0;
	}
}

enum frag_kind {
	FRAG_NONE = 0,
	FRAG_FIRST,
	FRAG_LATER,
};

/* ip_parse() result for a valid header: not a drop reason. */
#define IP_OK DECODE_DROP_COUNT

/* One IP header, outer or inner, as ip_parse() found it. Borrows the frame. */
struct ip_hdr {
	const uint8_t *ip;
	uint32_t cap;  /* bytes captured from ip on (may run past tot: padding) */
	uint32_t tot;  /* the IP length field: header + payload */
	uint32_t hlen; /* IP header + IPv6 extension headers (+ a later fragment's header) */
	uint32_t frag_id;
	uint8_t ver;
	uint8_t proto; /* after the extension headers */
	uint8_t tos;
	uint8_t frag;	/* enum frag_kind */
	bool last_frag; /* a later fragment with More Fragments clear */
};

/* What decode_l4() found: ports (host order), resolved protocol, TCP flags. */
struct l4_info {
	uint16_t src_port;
	uint16_t dst_port;
	uint8_t proto;
	uint8_t tcp_flags;
};

/* What the link layer said, for every packet taken from the frame. */
struct frame_info {
	uint64_t ts_ms;
	uint32_t ifindex;
	uint16_t vlan_id;
	uint16_t inner_vlan_id;
	uint8_t direction;
};

/*
 * Check one IP header at ip: cap bytes captured, wire bytes on the wire (its length field
 * may not claim more), want 4 or 6 (0 = either). Returns IP_OK and fills *h, or the drop
 * reason. Reads nothing past ip + cap.
 */
static inline __attribute__((always_inline)) unsigned int
ip_parse(const uint8_t *ip, uint32_t cap, uint32_t wire, unsigned int want, struct ip_hdr *h)
{
	uint32_t tot, hlen;
	unsigned int ver;
	uint16_t fo;
	uint8_t proto;

	if (cap == 0)
		return DECODE_DROP_TRUNCATED_IP;
	ver = ip[0] >> 4;
	if (want ? ver != want : (ver != 4 && ver != 6))
		return DECODE_DROP_BAD_IP_VERSION;
	h->ip = ip;
	h->cap = cap;
	h->ver = (uint8_t)ver;
	h->frag = FRAG_NONE;
	h->frag_id = 0;
	h->last_frag = false;

	if (ver == 4) {
		if (cap < IPV4_MIN_HLEN)
			return DECODE_DROP_TRUNCATED_IP;
		hlen = (ip[0] & 0x0fu) * 4;
		tot = rd16(ip + 2);
		if (hlen < IPV4_MIN_HLEN)
			return DECODE_DROP_BAD_IP_HDR_LEN;
		if (tot < IPV4_MIN_HLEN || tot > wire)
			return DECODE_DROP_BAD_IP_TOTAL_LEN;
		if (hlen > tot)
			return DECODE_DROP_BAD_IP_HDR_LEN;
		if (hlen > cap)
			return DECODE_DROP_TRUNCATED_IP;
		h->tos = ip[1];
		proto = ip[9];
		fo = rd16(ip + 6);
		if (fo & 0x3fff) { /* MF or a fragment offset */
			h->frag = (fo & 0x1fff) ? FRAG_LATER : FRAG_FIRST;
			h->frag_id = rd16(ip + 4);
			h->last_frag = !(fo & 0x2000);
		}
	} else {
		uint16_t plen;

		if (cap < IPV6_HLEN)
			return DECODE_DROP_TRUNCATED_IP;
		plen = rd16(ip + 4);
		tot = (uint32_t)plen + IPV6_HLEN;
		proto = ip[6];
		if (tot > wire || (plen == 0 && proto == 0)) /* the latter: a jumbogram */
			return DECODE_DROP_BAD_IP_TOTAL_LEN;
		h->tos = (uint8_t)(rd16(ip) >> 4);
		hlen = IPV6_HLEN;
		/*
		 * Walk the extension headers. Each needs its first 2 bytes (8 for a fragment
		 * header) captured and must end inside the payload length. Bounded by cap:
		 * every header is at least 8 bytes long.
		 */
		for (;;) {
			uint32_t ext_len, ext_need = 2;

			switch (proto) {
			case 0:	  /* hop-by-hop options */
			case 43:  /* routing */
			case 60:  /* destination options */
			case 135: /* mobility */
			case 51:  /* authentication header */
				break;
			case 44: /* fragment */
				ext_need = 8;
				break;
			default:
				goto done;
			}
			if (hlen + ext_need > tot)
				return DECODE_DROP_BAD_IPV6_EXT;
			if (hlen + ext_need > cap)
				return DECODE_DROP_TRUNCATED_IP;
			if (proto == 44) {
				fo = rd16(ip + hlen + 2);
				if (fo & 0xfff8) {
					/* Later fragment: what follows is not a header. */
					h->frag = FRAG_LATER;
					h->frag_id = rd32(ip + hlen + 4);
					h->last_frag = !(fo & 1);
					proto = ip[hlen];
					hlen += 8;
					break;
				}
				if (fo & 1) { /* first fragment; offset 0 with M=0 is atomic */
					h->frag = FRAG_FIRST;
					h->frag_id = rd32(ip + hlen + 4);
				}
				ext_len = 8;
			} else if (proto == 51) {
				ext_len = ((uint32_t)ip[hlen + 1] + 2) * 4;
			} else {
				ext_len = ((uint32_t)ip[hlen + 1] + 1) * 8;
			}
			if (hlen + ext_len > tot)
				return DECODE_DROP_BAD_IPV6_EXT;
			proto = ip[hlen];
			hlen += ext_len;
		}
	}
done:
	h->tot = tot;
	h->hlen = hlen;
	h->proto = proto;
	return IP_OK;
}

static inline bool tunnel_candidate(uint8_t proto, uint16_t dst_port);

/*
 * Ports, flags and protocol of a parsed IP packet: read from its L4 header (within both
 * cap and tot), or for a later fragment from the fragment table, which first fragments
 * fill. Counts truncated_l4 and the frag_* counters, and for an outer packet (outer)
 * fragments that would have been looked into as a tunnel (tunnel_outer_frag).
 */
static inline __attribute__((always_inline)) void
decode_l4(struct decoder *d, const struct ip_hdr *h, uint64_t ts_ms, struct l4_info *r, bool outer)
{
	const uint8_t *l4 = h->ip + h->hlen;
	uint32_t l4cap = h->cap < h->tot ? h->cap : h->tot;

	l4cap = l4cap > h->hlen ? l4cap - h->hlen : 0;
	r->src_port = 0;
	r->dst_port = 0;
	r->proto = h->proto;
	r->tcp_flags = 0;

	if (h->frag != FRAG_LATER) {
		uint8_t need = l4_need[h->proto];

		if (need) {
			if (l4cap >= need) {
				if (h->proto == IPPROTO_N_ICMP || h->proto == IPPROTO_N_ICMPV6) {
					r->dst_port = rd16(l4); /* type << 8 | code */
				} else {
					r->src_port = rd16(l4);
					r->dst_port = rd16(l4 + 2);
					if (h->proto == IPPROTO_N_TCP)
						r->tcp_flags = l4[13];
				}
			} else {
				d->stats.truncated_l4++;
			}
		}
		if (h->frag == FRAG_FIRST) {
			struct frag_key fk;

			d->stats.frag_first++;
			/* A first fragment whose ports were cut is not remembered. */
			if (!need || l4cap >= need) {
				frag_make_key(&fk, h->ip, h->ver, h->proto, h->frag_id);
				if (!frag_insert(d, &fk, ts_ms, r->src_port, r->dst_port, h->proto))
					d->stats.frag_table_full++;
			}
			if (outer && tunnel_candidate(r->proto, r->dst_port))
				d->stats.tunnel_outer_frag++;
		}
	} else {
		struct frag_key fk;
		struct frag_entry *e;

		frag_make_key(&fk, h->ip, h->ver, h->proto, h->frag_id);
		e = frag_lookup(d, &fk, ts_ms);
		if (e) {
			r->src_port = e->src_port;
			r->dst_port = e->dst_port;
			r->proto = e->proto;
			d->stats.frag_matched++;
			/*
			 * The last fragment frees the slot (expired, but non-zero so probe
			 * chains stay intact); fragments arriving after it go unmatched.
			 */
			if (h->last_frag)
				e->expires_ms = FRAG_FREED;
		} else {
			d->stats.frag_unmatched++;
		}
		if (outer && tunnel_candidate(r->proto, r->dst_port))
			d->stats.tunnel_outer_frag++;
	}
}

/* Fill *p from one IP packet as a plain (untunnelled) packet. */
static inline __attribute__((always_inline)) void fill_pkt(struct decode_pkt *p,
							   const struct ip_hdr *h,
							   const struct l4_info *l4,
							   const struct frame_info *fi)
{
	struct flow_key *key = &p->key;

	memset(key, 0, sizeof(*key));
	if (h->ver == 4) {
		memcpy(key->src_addr, h->ip + 12, 4);
		memcpy(key->dst_addr, h->ip + 16, 4);
	} else {
		memcpy(key->src_addr, h->ip + 8, 16);
		memcpy(key->dst_addr, h->ip + 24, 16);
	}
	key->ifindex = fi->ifindex;
	key->src_port = l4->src_port;
	key->dst_port = l4->dst_port;
	key->vlan_id = fi->vlan_id;
	key->ip_version = h->ver;
	key->proto = l4->proto;
	key->direction = fi->direction;
	p->ts_ms = fi->ts_ms;
	p->octets = h->tot;
	p->inner_vlan_id = fi->inner_vlan_id;
	p->tcp_flags = l4->tcp_flags;
	p->tos = h->tos;
	p->fragment = h->frag != FRAG_NONE;
	p->outer_ip_version = 0;
	memset(p->outer_src_addr, 0, sizeof(p->outer_src_addr));
	memset(p->outer_dst_addr, 0, sizeof(p->outer_dst_addr));
}

/* Could this outer packet be a tunnel? proto and dst_port after fragment resolution. */
static inline bool tunnel_candidate(uint8_t proto, uint16_t dst_port)
{
	if (__builtin_expect(!tunnel_proto[proto], 1))
		return false;
	return proto != IPPROTO_N_UDP || dst_port == PORT_VXLAN || dst_port == PORT_VXLAN_LINUX ||
	       dst_port == PORT_GENEVE;
}

/* How a tunnel attempt ended when it yields no inner packet. */
enum tunnel_fail {
	TUNNEL_MALFORMED = 0,
	TUNNEL_NOT_IP,
};

/* Count a decoded packet of the frame: decode_frame()'s last word, always true. */
static inline bool count_decoded(struct decoder *d, uint8_t tunnel_type)
{
	d->stats.decoded++;
	d->stats.tunnel_type[tunnel_type]++;
	if (tunnel_type != DECODE_TUNNEL_NONE)
		d->stats.tunnelled++;
	return true;
}

/* A frame that is not a tunnel after all: *p stays the plain outer packet. */
static inline bool tunnel_fail(struct decoder *d, enum tunnel_fail why)
{
	if (why == TUNNEL_MALFORMED)
		d->stats.tunnel_malformed++;
	else
		d->stats.tunnel_not_ip++;
	return count_decoded(d, DECODE_TUNNEL_NONE);
}

/*
 * Look through the encapsulation of an unfragmented outer packet that *p already holds as
 * a plain packet (key.proto IPIP, IPv6, GRE, or UDP to a tunnel port). ip is its IP
 * header, avail its captured bytes within the IP length, hlen its header length. Reads
 * nothing past ip + avail. A tunnel rewrites *p in the configured view (and fills
 * d->outer_pkt for BOTH); anything else leaves *p alone and is counted. Either way the
 * packet is counted as decoded and true returned.
 */
static bool decode_tunnel(struct decoder *d, struct decode_pkt *p, const uint8_t *ip,
			  uint32_t avail, uint32_t hlen)
{
	uint32_t off = hlen, tunnel_id = 0;
	uint8_t type, outer_src[16], outer_dst[16], outer_ver = p->key.ip_version;
	unsigned int want = 0;
	bool eth = false;
	struct ip_hdr in;
	struct l4_info il4;
	struct frame_info fi;

	if (off > avail) /* an IPv6 extension header ran past the capture */
		return tunnel_fail(d, TUNNEL_MALFORMED);
	switch (p->key.proto) {
	case IPPROTO_N_IPIP:
	case IPPROTO_N_IPV6:
		type = DECODE_TUNNEL_IPIP;
		want = p->key.proto == IPPROTO_N_IPIP ? 4 : 6;
		break;
	case IPPROTO_N_GRE: {
		uint16_t flags, ptype;

		if (avail - off < GRE_HLEN)
			return tunnel_fail(d, TUNNEL_MALFORMED);
		flags = rd16(ip + off);
		ptype = rd16(ip + off + 2);
		if (flags & GRE_VERSION) /* version 1 is PPTP's enhanced GRE: PPP inside */
			return tunnel_fail(d, TUNNEL_NOT_IP);
		if (flags & GRE_FLAG_R) /* RFC 1701 source routing: RFC 2784 says discard */
			return tunnel_fail(d, TUNNEL_MALFORMED);
		off += GRE_HLEN;
		if (flags & GRE_FLAG_C)
			off += 4; /* checksum, reserved1 */
		if (flags & GRE_FLAG_K) {
			if (avail < off + 4)
				return tunnel_fail(d, TUNNEL_MALFORMED);
			tunnel_id = rd32(ip + off);
			off += 4;
		}
		if (flags & GRE_FLAG_S)
			off += 4; /* sequence number */
		if (off > avail)
			return tunnel_fail(d, TUNNEL_MALFORMED);
		if (ptype == ETHERTYPE_IPV4) {
			want = 4;
		} else if (ptype == ETHERTYPE_IPV6) {
			want = 6;
		} else if (ptype == ETHERTYPE_TEB) {
			eth = true;
		} else {
			return tunnel_fail(d, TUNNEL_NOT_IP);
		}
		if (eth) {
			type = DECODE_TUNNEL_NVGRE;
			tunnel_id >>= 8; /* 24-bit VSID; the low byte is FlowID */
		} else {
			type = DECODE_TUNNEL_GRE;
		}
		break;
	}
	default: /* UDP to a tunnel port; the UDP header is the first thing to check */
		if (avail - off < UDP_HLEN + VXLAN_HLEN) /* Geneve's fixed part is as long */
			return tunnel_fail(d, TUNNEL_MALFORMED);
		off += UDP_HLEN;
		if (p->key.dst_port == PORT_GENEVE) {
			uint16_t ptype = rd16(ip + off + 2);

			if (ip[off] >> 6) /* version 0 is the only one */
				return tunnel_fail(d, TUNNEL_MALFORMED);
			type = DECODE_TUNNEL_GENEVE;
			tunnel_id = rd32(ip + off + 4) >> 8;
			off += GENEVE_HLEN + (ip[off] & 0x3fu) * 4; /* options, in 4-byte units */
			if (off > avail)
				return tunnel_fail(d, TUNNEL_MALFORMED);
			if (ptype == ETHERTYPE_TEB)
				eth = true;
			else if (ptype == ETHERTYPE_IPV4)
				want = 4;
			else if (ptype == ETHERTYPE_IPV6)
				want = 6;
			else
				return tunnel_fail(d, TUNNEL_NOT_IP);
		} else {
			if (!(ip[off] & VXLAN_FLAG_I)) /* no valid VNI */
				return tunnel_fail(d, TUNNEL_MALFORMED);
			type = DECODE_TUNNEL_VXLAN;
			tunnel_id = rd32(ip + off + 4) >> 8;
			off += VXLAN_HLEN;
			eth = true;
		}
		break;
	}

	if (eth) {
		/* Inner Ethernet frame: its 802.1Q/802.1ad tags are skipped, not keyed. */
		uint16_t etype;

		if (avail - off < ETH_HLEN)
			return tunnel_fail(d, TUNNEL_MALFORMED);
		etype = rd16(ip + off + 12);
		off += ETH_HLEN;
		while (etype == ETHERTYPE_8021Q || etype == ETHERTYPE_8021AD ||
		       etype == ETHERTYPE_QINQ_OLD) {
			if (avail - off < 4)
				return tunnel_fail(d, TUNNEL_MALFORMED);
			etype = rd16(ip + off + 2);
			off += 4;
		}
		if (etype == ETHERTYPE_IPV4)
			want = 4;
		else if (etype == ETHERTYPE_IPV6)
			want = 6;
		else
			return tunnel_fail(d, TUNNEL_NOT_IP);
	}

	/* The inner packet must fit in what the outer IP length leaves (p->octets). */
	if (ip_parse(ip + off, avail - off, p->octets - off, want, &in) != IP_OK)
		return tunnel_fail(d, TUNNEL_MALFORMED);

	/* *p is the outer view; the tunnel adds its type and id. */
	p->key.tunnel_type = type;
	p->key.tunnel_id = tunnel_id;
	if (d->tunnel_view == DECODE_VIEW_OUTER)
		return count_decoded(d, type);
	if (d->tunnel_view == DECODE_VIEW_BOTH) {
		d->outer_pkt = *p; /* until decode_outer_view() */
		d->outer_ready = true;
	}
	fi.ts_ms = p->ts_ms;
	fi.ifindex = p->key.ifindex;
	fi.vlan_id = p->key.vlan_id;
	fi.inner_vlan_id = p->inner_vlan_id;
	fi.direction = p->key.direction;
	memcpy(outer_src, p->key.src_addr, 16);
	memcpy(outer_dst, p->key.dst_addr, 16);
	decode_l4(d, &in, fi.ts_ms, &il4, false);
	fill_pkt(p, &in, &il4, &fi);
	p->key.tunnel_type = type;
	p->key.tunnel_id = tunnel_id;
	p->outer_ip_version = outer_ver;
	memcpy(p->outer_src_addr, outer_src, 16);
	memcpy(p->outer_dst_addr, outer_dst, 16);
	return count_decoded(d, type);
}

/*
 * The rest of decode_frame() for an unfragmented tunnel candidate: fill *p as the plain
 * outer packet, then look inside. Out of line, with the state passed by value, so that
 * the plain path neither spills for it nor keeps anything alive across it.
 */
static __attribute__((noinline)) bool
decode_tunnel_frame(struct decoder *d, struct ip_hdr o, struct frame_info fi, struct decode_pkt *p)
{
	struct l4_info l4;

	decode_l4(d, &o, fi.ts_ms, &l4, true); /* not a fragment: counts nothing */
	fill_pkt(p, &o, &l4, &fi);
	return decode_tunnel(d, p, o.ip, o.cap < o.tot ? o.cap : o.tot, o.hlen);
}

bool decode_frame(struct decoder *d, int linktype, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen, uint64_t ts_ms, uint32_t ifindex, uint8_t direction,
		  struct decode_pkt *ret_pkt)
{
	struct frame_info fi = {.ts_ms = ts_ms, .ifindex = ifindex, .direction = direction};
	bool dir_unknown = direction > DECODE_DIR_EGRESS;
	uint32_t off, wire;
	uint16_t etype;
	unsigned int want, ntags = 0, reason;
	struct ip_hdr o;
	struct l4_info l4;

	d->stats.frames++;
	d->outer_ready = false;
	if (dir_unknown)
		fi.direction = DECODE_DIR_INGRESS;

	/* Link layer: find where IP starts and which version the link layer promises. */
	switch (linktype) {
	case DECODE_LINK_EN10MB:
		if (caplen < ETH_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
		etype = rd16(frame + 12);
		off = ETH_HLEN;
		break;
	case DECODE_LINK_LINUX_SLL:
		if (caplen < SLL_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
		if (dir_unknown && rd16(frame) == PACKET_OUTGOING)
			fi.direction = DECODE_DIR_EGRESS;
		etype = rd16(frame + 14);
		off = SLL_HLEN;
		break;
	case DECODE_LINK_LINUX_SLL2:
		if (caplen < SLL2_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
		if (dir_unknown && frame[10] == PACKET_OUTGOING)
			fi.direction = DECODE_DIR_EGRESS;
		etype = rd16(frame);
		off = SLL2_HLEN;
		break;
	case DECODE_LINK_NULL: {
		uint32_t fam;

		if (caplen < NULL_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
		/* Host order of the capturing machine, which may not be ours: try both. */
		fam = (uint32_t)frame[0] | (uint32_t)frame[1] << 8 | (uint32_t)frame[2] << 16 |
		      (uint32_t)frame[3] << 24;
		if (fam > 0xffff)
			fam = __builtin_bswap32(fam);
		want = family_version(fam);
		if (!want)
			return drop(d, DECODE_DROP_NON_IP);
		off = NULL_HLEN;
		goto ip;
	}
	case DECODE_LINK_LOOP:
		if (caplen < NULL_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
		want = family_version(rd32(frame));
		if (!want)
			return drop(d, DECODE_DROP_NON_IP);
		off = NULL_HLEN;
		goto ip;
	case DECODE_LINK_RAW:
		want = 0; /* the version nibble decides */
		off = 0;
		goto ip;
	case DECODE_LINK_IPV4:
		want = 4;
		off = 0;
		goto ip;
	case DECODE_LINK_IPV6:
		want = 6;
		off = 0;
		goto ip;
	default:
		return drop(d, DECODE_DROP_UNSUPPORTED_LINK);
	}

	/* EtherType-based links: skip 802.1Q/802.1ad tags, keeping the two outermost VIDs. */
	while (etype == ETHERTYPE_8021Q || etype == ETHERTYPE_8021AD ||
	       etype == ETHERTYPE_QINQ_OLD) {
		uint16_t vid;

		if (caplen - off < 4)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
		vid = rd16(frame + off) & 0x0fff;
		if (ntags == 0)
			fi.vlan_id = vid;
		else if (ntags == 1)
			fi.inner_vlan_id = vid;
		ntags++;
		etype = rd16(frame + off + 2);
		off += 4;
	}
	if (etype == ETHERTYPE_IPV4)
		want = 4;
	else if (etype == ETHERTYPE_IPV6)
		want = 6;
	else
		return drop(d, DECODE_DROP_NON_IP);

ip:
	if (caplen <= off)
		return drop(d, DECODE_DROP_TRUNCATED_IP);
	/* A length field is checked against the wire; a bogus caplen > wirelen cannot hide it. */
	wire = (wirelen > caplen ? wirelen : caplen) - off;
	reason = ip_parse(frame + off, caplen - off, wire, want, &o);
	if (reason != IP_OK)
		return drop(d, (enum decode_drop)reason);

	/*
	 * No drop past this point: the frame is a decoded packet. A possible tunnel leaves
	 * here, before the plain path's work; UDP only when its destination port says so.
	 */
	if (__builtin_expect(tunnel_proto[o.proto], 0) && o.frag == FRAG_NONE) {
		uint32_t end = o.cap < o.tot ? o.cap : o.tot;

		if (o.proto != IPPROTO_N_UDP ||
		    (end >= o.hlen + 4 && tunnel_candidate(o.proto, rd16(o.ip + o.hlen + 2))))
			return decode_tunnel_frame(d, o, fi, ret_pkt);
	}
	decode_l4(d, &o, ts_ms, &l4, true);
	fill_pkt(ret_pkt, &o, &l4, &fi);
	return count_decoded(d, DECODE_TUNNEL_NONE);
}

bool decode_outer_view(struct decoder *d, struct decode_pkt *ret_pkt)
{
	if (!d->outer_ready)
		return false;
	d->outer_ready = false;
	*ret_pkt = d->outer_pkt;
	d->stats.outer_views++;
	return true;
}
