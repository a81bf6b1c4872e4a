// SPDX-License-Identifier: Apache-2.0
/*
 * decode: link layer -> IPv4/IPv6 (+ options, extension headers) -> L4 ports, in one
 * straight pass over the frame with no allocation and no logging. Every exit is either a
 * filled decode_pkt or exactly one drop counter, so frames == decoded + sum(drops). Later
 * fragments take their ports from a fixed open-addressing table filled by first
 * fragments: bounded probes, entries expire by packet time (docs/decode.md).
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
#define IPV4_MIN_HLEN	   20
#define IPV6_HLEN	   40

#define IPPROTO_N_ICMP	 1
#define IPPROTO_N_TCP	 6
#define IPPROTO_N_UDP	 17
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
 */
struct decoder {
	struct decode_stats stats;
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

bool decode_frame(struct decoder *d, int linktype, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen, uint64_t ts_ms, uint32_t ifindex, struct decode_pkt *ret_pkt)
{
	const uint8_t *ip, *l4;
	uint32_t off, cap_ip, wire_ip, tot, hlen, l4cap, frag_id = 0;
	uint16_t etype, vlan_id = 0, inner_vlan_id = 0, src_port = 0, dst_port = 0, fo;
	unsigned int want, ver, ntags = 0;
	enum frag_kind frag = FRAG_NONE;
	bool last_frag = false; /* a later fragment with More Fragments clear */
	uint8_t proto, tos, tcp_flags = 0;
	struct flow_key *key;

	d->stats.frames++;

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
		etype = rd16(frame + 14);
		off = SLL_HLEN;
		break;
	case DECODE_LINK_LINUX_SLL2:
		if (caplen < SLL2_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_L2);
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
			vlan_id = vid;
		else if (ntags == 1)
			inner_vlan_id = vid;
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
	ip = frame + off;
	cap_ip = caplen - off;
	/* A length field is checked against the wire; a bogus caplen > wirelen cannot hide it. */
	wire_ip = (wirelen > caplen ? wirelen : caplen) - off;
	ver = ip[0] >> 4;
	if (want ? ver != want : (ver != 4 && ver != 6))
		return drop(d, DECODE_DROP_BAD_IP_VERSION);

	if (ver == 4) {
		if (cap_ip < IPV4_MIN_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_IP);
		hlen = (ip[0] & 0x0fu) * 4;
		tot = rd16(ip + 2);
		if (hlen < IPV4_MIN_HLEN)
			return drop(d, DECODE_DROP_BAD_IP_HDR_LEN);
		if (tot < IPV4_MIN_HLEN || tot > wire_ip)
			return drop(d, DECODE_DROP_BAD_IP_TOTAL_LEN);
		if (hlen > tot)
			return drop(d, DECODE_DROP_BAD_IP_HDR_LEN);
		if (hlen > cap_ip)
			return drop(d, DECODE_DROP_TRUNCATED_IP);
		tos = ip[1];
		proto = ip[9];
		fo = rd16(ip + 6);
		if (fo & 0x3fff) { /* MF or a fragment offset */
			frag = (fo & 0x1fff) ? FRAG_LATER : FRAG_FIRST;
			frag_id = rd16(ip + 4);
			last_frag = !(fo & 0x2000);
		}
	} else {
		uint16_t plen;

		if (cap_ip < IPV6_HLEN)
			return drop(d, DECODE_DROP_TRUNCATED_IP);
		plen = rd16(ip + 4);
		tot = (uint32_t)plen + IPV6_HLEN;
		proto = ip[6];
		if (tot > wire_ip || (plen == 0 && proto == 0)) /* the latter: a jumbogram */
			return drop(d, DECODE_DROP_BAD_IP_TOTAL_LEN);
		tos = (uint8_t)(rd16(ip) >> 4);
		hlen = IPV6_HLEN;
		/*
		 * Walk the extension headers. Each needs its first 2 bytes (8 for a fragment
		 * header) captured and must end inside the payload length. Bounded by caplen:
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
				goto l3_done;
			}
			if (hlen + ext_need > tot)
				return drop(d, DECODE_DROP_BAD_IPV6_EXT);
			if (hlen + ext_need > cap_ip)
				return drop(d, DECODE_DROP_TRUNCATED_IP);
			if (proto == 44) {
				fo = rd16(ip + hlen + 2);
				if (fo & 0xfff8) {
					/* Later fragment: what follows is not a header. */
					frag = FRAG_LATER;
					frag_id = rd32(ip + hlen + 4);
					last_frag = !(fo & 1);
					proto = ip[hlen];
					hlen += 8;
					break;
				}
				if (fo & 1) { /* first fragment; offset 0 with M=0 is atomic */
					frag = FRAG_FIRST;
					frag_id = rd32(ip + hlen + 4);
				}
				ext_len = 8;
			} else if (proto == 51) {
				ext_len = ((uint32_t)ip[hlen + 1] + 2) * 4;
			} else {
				ext_len = ((uint32_t)ip[hlen + 1] + 1) * 8;
			}
			if (hlen + ext_len > tot)
				return drop(d, DECODE_DROP_BAD_IPV6_EXT);
			proto = ip[hlen];
			hlen += ext_len;
		}
	}
l3_done:
	/* No drop past this point: the frame is a decoded packet. */
	l4 = ip + hlen;
	l4cap = (cap_ip < tot ? cap_ip : tot);
	l4cap = l4cap > hlen ? l4cap - hlen : 0;

	if (frag != FRAG_LATER) {
		uint8_t need = l4_need[proto];

		if (need) {
			if (l4cap >= need) {
				if (proto == IPPROTO_N_ICMP || proto == IPPROTO_N_ICMPV6) {
					dst_port = rd16(l4); /* type << 8 | code */
				} else {
					src_port = rd16(l4);
					dst_port = rd16(l4 + 2);
					if (proto == IPPROTO_N_TCP)
						tcp_flags = l4[13];
				}
			} else {
				d->stats.truncated_l4++;
			}
		}
		if (frag == FRAG_FIRST) {
			struct frag_key fk;

			d->stats.frag_first++;
			/* A first fragment whose ports were cut is not remembered. */
			if (!need || l4cap >= need) {
				frag_make_key(&fk, ip, ver, proto, frag_id);
				if (!frag_insert(d, &fk, ts_ms, src_port, dst_port, proto))
					d->stats.frag_table_full++;
			}
		}
	} else {
		struct frag_key fk;
		struct frag_entry *e;

		frag_make_key(&fk, ip, ver, proto, frag_id);
		e = frag_lookup(d, &fk, ts_ms);
		if (e) {
			src_port = e->src_port;
			dst_port = e->dst_port;
			proto = e->proto;
			d->stats.frag_matched++;
			/*
			 * The last fragment frees the slot (expired, but non-zero so probe
			 * chains stay intact); fragments arriving after it go unmatched.
			 */
			if (last_frag)
				e->expires_ms = FRAG_FREED;
		} else {
			d->stats.frag_unmatched++;
		}
	}

	key = &ret_pkt->key;
	memset(key, 0, sizeof(*key));
	if (ver == 4) {
		memcpy(key->src_addr, ip + 12, 4);
		memcpy(key->dst_addr, ip + 16, 4);
	} else {
		memcpy(key->src_addr, ip + 8, 16);
		memcpy(key->dst_addr, ip + 24, 16);
	}
	key->ingress_ifindex = ifindex;
	key->src_port = src_port;
	key->dst_port = dst_port;
	key->vlan_id = vlan_id;
	key->ip_version = (uint8_t)ver;
	key->proto = proto;
	ret_pkt->ts_ms = ts_ms;
	ret_pkt->octets = tot;
	ret_pkt->inner_vlan_id = inner_vlan_id;
	ret_pkt->tcp_flags = tcp_flags;
	ret_pkt->tos = tos;
	ret_pkt->fragment = frag != FRAG_NONE;
	d->stats.decoded++;
	return true;
}
