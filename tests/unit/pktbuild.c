// SPDX-License-Identifier: Apache-2.0
/*
 * pktbuild: test frame builder (see pktbuild.h). Layers are appended to a fixed buffer;
 * the builder remembers where the pending protocol/next-header fields and the IP and L4
 * headers of every tunnel level are, so pktbuild_finish() can fill lengths and checksums,
 * innermost level first. Test code: errors are recorded in b->err rather than reported.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "decode.h"
#include "pktbuild.h"

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_TEB  0x6558

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void fail(struct pktbuild *b, int err)
{
	if (!b->err)
		b->err = err;
}

/* Reserve n zeroed bytes at the end; NULL (and b->err set) when they do not fit. */
static uint8_t *grow(struct pktbuild *b, size_t n)
{
	uint8_t *p;

	if (b->err)
		return NULL;
	if (b->finished) {
		fail(b, -EINVAL);
		return NULL;
	}
	if (n > PKTBUILD_MAX_LEN - b->len) {
		fail(b, -ENOSPC);
		return NULL;
	}
	p = b->data + b->len;
	memset(p, 0, n);
	b->len += (uint32_t)n;
	b->vlan_ok = false; /* each push decides what may follow it */
	b->tunnel_open = false;
	return p;
}

static bool is_ethertype_link(int linktype)
{
	return linktype == DECODE_LINK_EN10MB || linktype == DECODE_LINK_LINUX_SLL ||
	       linktype == DECODE_LINK_LINUX_SLL2;
}

static void write_link_proto(struct pktbuild *b, uint32_t value)
{
	uint8_t *p = b->data + b->link_proto_off;

	if (b->link_proto_etype) {
		put16(p, (uint16_t)value);
	} else if (b->linktype == DECODE_LINK_NULL) {
		memcpy(p, &value, 4); /* host order */
	} else {
		put32(p, value);
	}
	b->link_proto_set = true;
}

void pktbuild_init(struct pktbuild *b, int linktype)
{
	static const uint8_t mac_dst[6] = {0x02, 0, 0, 0, 0, 0x02};
	static const uint8_t mac_src[6] = {0x02, 0, 0, 0, 0, 0x01};
	uint8_t *p;

	memset(b, 0, sizeof(*b));
	b->linktype = linktype;
	b->link_proto_off = PKTBUILD_NONE;
	b->ip_off = PKTBUILD_NONE;
	b->nh_off = PKTBUILD_NONE;
	b->l4_off = PKTBUILD_NONE;
	b->tunnel_off = PKTBUILD_NONE;

	switch (linktype) {
	case DECODE_LINK_EN10MB:
		p = grow(b, 14);
		memcpy(p, mac_dst, 6);
		memcpy(p + 6, mac_src, 6);
		b->link_proto_off = 12;
		break;
	case DECODE_LINK_LINUX_SLL:
		p = grow(b, 16);
		put16(p, 4);	 /* packet type: outgoing */
		put16(p + 2, 1); /* ARPHRD_ETHER */
		put16(p + 4, 6); /* address length */
		memcpy(p + 6, mac_src, 6);
		b->link_proto_off = 14;
		break;
	case DECODE_LINK_LINUX_SLL2:
		p = grow(b, 20);
		put32(p + 4, 1); /* interface index */
		put16(p + 8, 1); /* ARPHRD_ETHER */
		p[10] = 4;	 /* packet type: outgoing */
		p[11] = 6;	 /* address length */
		memcpy(p + 12, mac_src, 6);
		b->link_proto_off = 0;
		break;
	case DECODE_LINK_NULL:
	case DECODE_LINK_LOOP:
		grow(b, 4);
		b->link_proto_off = 0;
		break;
	default:
		break;
	}
	b->link_proto_etype = is_ethertype_link(linktype);
	b->vlan_ok = b->link_proto_etype;
}

void pktbuild_sll_pkttype(struct pktbuild *b, uint8_t pkttype)
{
	if (b->err)
		return;
	if (b->linktype == DECODE_LINK_LINUX_SLL && b->len >= 16)
		put16(b->data, pkttype);
	else if (b->linktype == DECODE_LINK_LINUX_SLL2 && b->len >= 20)
		b->data[10] = pkttype;
	else
		fail(b, -EINVAL);
}

void pktbuild_link_proto(struct pktbuild *b, uint32_t value)
{
	if (b->err)
		return;
	if (b->link_proto_off == PKTBUILD_NONE) {
		fail(b, -EINVAL);
		return;
	}
	write_link_proto(b, value);
}

void pktbuild_vlan(struct pktbuild *b, uint16_t tpid, uint16_t vid)
{
	uint8_t *p;

	if (!b->err && !b->vlan_ok) {
		fail(b, -EINVAL);
		return;
	}
	p = grow(b, 4);
	if (!p)
		return;
	write_link_proto(b, tpid);
	put16(p, vid & 0x0fff);
	b->link_proto_off = (uint32_t)(p + 2 - b->data);
	b->link_proto_set = false;
	b->vlan_ok = true;
}

/* Write proto into the pending next-header field and make `next` the new pending one. */
static void chain(struct pktbuild *b, uint8_t proto, uint32_t next)
{
	b->data[b->nh_off] = proto;
	b->nh_off = next;
	b->nh_set = next == PKTBUILD_NONE;
}

/*
 * Common start of an IP header: link protocol default, then room for hdr_len bytes. A
 * second IP header opens a tunnel level: it must follow a pending protocol field (GRE,
 * Geneve, inner Ethernet) or an IP header whose next header is pending (IP-in-IP).
 */
static uint8_t *ip_start(struct pktbuild *b, unsigned int version, size_t hdr_len)
{
	bool link_pending = b->link_proto_off != PKTBUILD_NONE && !b->link_proto_set;
	uint8_t *p;

	if (b->err)
		return NULL;
	if (b->ip_off != PKTBUILD_NONE) {
		bool ip_pending = b->nh_off != PKTBUILD_NONE && !b->nh_set;

		if (b->n_outer == PKTBUILD_MAX_OUTER || (!link_pending && !ip_pending)) {
			fail(b, -EINVAL);
			return NULL;
		}
		if (!link_pending)
			chain(b, version == 4 ? 4 : 41, PKTBUILD_NONE);
		b->outer[b->n_outer++] = (struct pktbuild_level){
			.ip_off = b->ip_off,
			.l4_off = b->l4_off,
			.ip_version = b->ip_version,
			.l4_proto = b->l4_proto,
		};
		b->l4_off = PKTBUILD_NONE;
		b->l4_proto = 0;
	}
	p = grow(b, hdr_len);
	if (!p)
		return NULL;
	if (link_pending) {
		if (b->link_proto_etype)
			write_link_proto(b, version == 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
		else
			write_link_proto(b, version == 4 ? 2 : 24);
	}
	b->ip_off = (uint32_t)(p - b->data);
	b->ip_version = (uint8_t)version;
	b->nh_set = false;
	return p;
}

void pktbuild_ipv4(struct pktbuild *b, const char *src, const char *dst)
{
	uint8_t *p = ip_start(b, 4, 20);

	if (!p)
		return;
	p[0] = 0x45;
	p[8] = 64;
	if (inet_pton(AF_INET, src, p + 12) != 1 || inet_pton(AF_INET, dst, p + 16) != 1)
		fail(b, -EINVAL);
	b->nh_off = b->ip_off + 9;
}

void pktbuild_ipv4_options(struct pktbuild *b, const uint8_t *opts, size_t len)
{
	size_t padded = (len + 3) & ~(size_t)3;
	uint8_t *p;

	if (b->err)
		return;
	if (b->ip_version != 4 || b->len != b->ip_off + 20 || padded > 40) {
		fail(b, -EINVAL);
		return;
	}
	p = grow(b, padded);
	if (!p)
		return;
	memcpy(p, opts, len);
	b->data[b->ip_off] = (uint8_t)(0x40 | (20 + padded) / 4);
}

void pktbuild_ipv4_frag(struct pktbuild *b, uint16_t id, uint32_t offset_bytes, bool more)
{
	uint8_t *ip;

	if (b->err)
		return;
	if (b->ip_version != 4 || offset_bytes % 8 || offset_bytes / 8 > 0x1fff) {
		fail(b, -EINVAL);
		return;
	}
	ip = b->data + b->ip_off;
	put16(ip + 4, id);
	put16(ip + 6, (uint16_t)((more ? 0x2000 : 0) | offset_bytes / 8));
}

void pktbuild_ipv6(struct pktbuild *b, const char *src, const char *dst)
{
	uint8_t *p = ip_start(b, 6, 40);

	if (!p)
		return;
	p[0] = 0x60;
	p[7] = 64;
	if (inet_pton(AF_INET6, src, p + 8) != 1 || inet_pton(AF_INET6, dst, p + 24) != 1)
		fail(b, -EINVAL);
	b->nh_off = b->ip_off + 6;
}

void pktbuild_ipv6_ext(struct pktbuild *b, uint8_t type, uint32_t hdr_len)
{
	uint32_t unit = type == 51 ? 4 : 8;
	uint8_t *p;

	if (b->err)
		return;
	if (b->ip_version != 6 || b->nh_set || hdr_len < 8 || hdr_len % unit ||
	    hdr_len / unit - (type == 51 ? 2 : 1) > 255 || (type == 44 && hdr_len != 8)) {
		fail(b, -EINVAL);
		return;
	}
	p = grow(b, hdr_len);
	if (!p)
		return;
	if (type != 44)
		p[1] = (uint8_t)(hdr_len / unit - (type == 51 ? 2 : 1));
	chain(b, type, (uint32_t)(p - b->data));
}

void pktbuild_ipv6_frag(struct pktbuild *b, uint32_t id, uint32_t offset_bytes, bool more)
{
	uint32_t off;

	if (!b->err && (offset_bytes % 8 || offset_bytes / 8 > 0x1fff)) {
		fail(b, -EINVAL);
		return;
	}
	pktbuild_ipv6_ext(b, 44, 8);
	if (b->err)
		return;
	off = b->len - 8;
	put16(b->data + off + 2, (uint16_t)(offset_bytes | (more ? 1 : 0)));
	put32(b->data + off + 4, id);
}

void pktbuild_tos(struct pktbuild *b, uint8_t tos)
{
	uint8_t *ip;

	if (b->err)
		return;
	if (b->ip_off == PKTBUILD_NONE) {
		fail(b, -EINVAL);
		return;
	}
	ip = b->data + b->ip_off;
	if (b->ip_version == 4) {
		ip[1] = tos;
	} else {
		ip[0] = (uint8_t)(0x60 | tos >> 4);
		ip[1] = (uint8_t)((ip[1] & 0x0f) | (tos & 0x0f) << 4);
	}
}

/* Append an L4 header of hdr_len bytes and record it for finish. */
static uint8_t *l4_start(struct pktbuild *b, uint8_t proto, size_t hdr_len)
{
	uint8_t *p;

	if (!b->err && (b->nh_off == PKTBUILD_NONE || b->nh_set)) {
		fail(b, -EINVAL);
		return NULL;
	}
	p = grow(b, hdr_len);
	if (!p)
		return NULL;
	chain(b, proto, PKTBUILD_NONE);
	b->l4_off = (uint32_t)(p - b->data);
	b->l4_proto = proto;
	return p;
}

void pktbuild_tcp(struct pktbuild *b, uint16_t src_port, uint16_t dst_port, uint8_t flags)
{
	uint8_t *p = l4_start(b, 6, 20);

	if (!p)
		return;
	put16(p, src_port);
	put16(p + 2, dst_port);
	put32(p + 4, 1000); /* sequence number */
	p[12] = 5 << 4;	    /* data offset: 20 bytes */
	p[13] = flags;
	put16(p + 14, 65535); /* window */
}

void pktbuild_udp(struct pktbuild *b, uint16_t src_port, uint16_t dst_port)
{
	uint8_t *p = l4_start(b, 17, 8);

	if (!p)
		return;
	put16(p, src_port);
	put16(p + 2, dst_port);
}

void pktbuild_sctp(struct pktbuild *b, uint16_t src_port, uint16_t dst_port)
{
	uint8_t *p = l4_start(b, 132, 12);

	if (!p)
		return;
	put16(p, src_port);
	put16(p + 2, dst_port);
	put32(p + 4, 0x01020304); /* verification tag */
}

void pktbuild_icmp(struct pktbuild *b, uint8_t type, uint8_t code)
{
	uint8_t *p = l4_start(b, 1, 8);

	if (!p)
		return;
	p[0] = type;
	p[1] = code;
}

void pktbuild_icmpv6(struct pktbuild *b, uint8_t type, uint8_t code)
{
	uint8_t *p = l4_start(b, 58, 8);

	if (!p)
		return;
	p[0] = type;
	p[1] = code;
}

void pktbuild_proto(struct pktbuild *b, uint8_t proto)
{
	if (b->err)
		return;
	if (b->nh_off == PKTBUILD_NONE) {
		fail(b, -EINVAL);
		return;
	}
	chain(b, proto, PKTBUILD_NONE);
}

/* ---- tunnel headers -------------------------------------------------------------------- */

/* Is the UDP header a VXLAN/Geneve header must follow the last push? Else b->err is set. */
static bool after_udp(struct pktbuild *b)
{
	if (b->err)
		return false;
	if (b->l4_off == PKTBUILD_NONE || b->l4_proto != 17 || b->len != b->l4_off + 8) {
		fail(b, -EINVAL);
		return false;
	}
	return true;
}

/* A tunnel header whose protocol field at proto_off is pending (GRE, Geneve). */
static void open_tunnel(struct pktbuild *b, uint8_t *hdr, uint32_t proto_off)
{
	b->tunnel_off = (uint32_t)(hdr - b->data);
	b->tunnel_open = true;
	if (proto_off != PKTBUILD_NONE) {
		b->link_proto_off = b->tunnel_off + proto_off;
		b->link_proto_set = false;
		b->link_proto_etype = true;
	}
}

void pktbuild_vxlan(struct pktbuild *b, uint32_t vni)
{
	uint8_t *p;

	if (!after_udp(b))
		return;
	p = grow(b, 8);
	if (!p)
		return;
	p[0] = 0x08; /* I: the VNI is valid */
	put32(p + 4, vni << 8);
	open_tunnel(b, p, PKTBUILD_NONE);
}

void pktbuild_geneve(struct pktbuild *b, uint32_t vni, uint32_t opt_bytes)
{
	uint32_t done = 0;
	uint8_t *p;

	if (!after_udp(b))
		return;
	if (opt_bytes % 4 || opt_bytes > 252) {
		fail(b, -EINVAL);
		return;
	}
	p = grow(b, 8 + opt_bytes);
	if (!p)
		return;
	p[0] = (uint8_t)(opt_bytes / 4); /* version 0, option length in 4-byte words */
	put32(p + 4, vni << 8);
	/* Options: class 0x0103, types 1, 2, ..., each at most 4 + 124 bytes long. */
	while (done < opt_bytes) {
		uint8_t *o = p + 8 + done;
		uint32_t data = opt_bytes - done - 4;

		if (data > 124)
			data = 124;
		put16(o, 0x0103);
		o[2] = (uint8_t)(1 + done / 128);
		o[3] = (uint8_t)(data / 4);
		memset(o + 4, 0xa5, data);
		done += 4 + data;
	}
	open_tunnel(b, p, 2);
}

void pktbuild_gre(struct pktbuild *b, uint16_t flags, uint32_t key, uint32_t seq)
{
	uint32_t len = 4, off = 4;
	uint8_t *p;

	if (!b->err && (flags & ~(PKTBUILD_GRE_C | PKTBUILD_GRE_K | PKTBUILD_GRE_S))) {
		fail(b, -EINVAL);
		return;
	}
	len += (flags & PKTBUILD_GRE_C) ? 4 : 0;
	len += (flags & PKTBUILD_GRE_K) ? 4 : 0;
	len += (flags & PKTBUILD_GRE_S) ? 4 : 0;
	p = l4_start(b, 47, len);
	if (!p)
		return;
	put16(p, flags); /* version 0 */
	if (flags & PKTBUILD_GRE_C)
		off += 4; /* checksum: pktbuild_finish() */
	if (flags & PKTBUILD_GRE_K) {
		put32(p + off, key);
		off += 4;
	}
	if (flags & PKTBUILD_GRE_S)
		put32(p + off, seq);
	open_tunnel(b, p, 2);
}

void pktbuild_eth(struct pktbuild *b)
{
	static const uint8_t mac_dst[6] = {0x02, 0, 0, 0, 1, 0x02};
	static const uint8_t mac_src[6] = {0x02, 0, 0, 0, 1, 0x01};
	uint8_t *p;

	if (!b->err && !b->tunnel_open) {
		fail(b, -EINVAL);
		return;
	}
	if (!b->err && b->link_proto_off != PKTBUILD_NONE && !b->link_proto_set)
		write_link_proto(b, ETHERTYPE_TEB); /* GRE, Geneve: Ethernet follows */
	p = grow(b, 14);
	if (!p)
		return;
	memcpy(p, mac_dst, 6);
	memcpy(p + 6, mac_src, 6);
	b->link_proto_off = (uint32_t)(p + 12 - b->data);
	b->link_proto_set = false;
	b->link_proto_etype = true;
	b->vlan_ok = true;
}

uint32_t pktbuild_tunnel_offset(const struct pktbuild *b)
{
	return b->tunnel_off;
}

uint32_t pktbuild_outer_ip_offset(const struct pktbuild *b)
{
	return b->n_outer ? b->outer[0].ip_off : b->ip_off;
}

void pktbuild_payload(struct pktbuild *b, const void *data, size_t len)
{
	uint8_t *p = grow(b, len);
	size_t i;

	if (!p)
		return;
	if (data) {
		memcpy(p, data, len);
		return;
	}
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + 1);
}

/* One's complement sum of len bytes, folded later. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void ipv4_fix_csum(struct pktbuild *b, uint32_t ip_off)
{
	uint8_t *ip = b->data + ip_off;
	size_t hlen = (size_t)(ip[0] & 0x0f) * 4;

	if (hlen < 20 || ip_off + hlen > b->len)
		hlen = 20;
	if (ip_off + hlen > b->len)
		return;
	put16(ip + 10, 0);
	put16(ip + 10, csum_fold(csum_add(0, ip, hlen)));
}

/* TCP/UDP/ICMPv6 checksum with the pseudo-header; ICMP and GRE (C bit) without one. */
static void l4_fix_csum(struct pktbuild *b, const struct pktbuild_level *lv)
{
	const uint8_t *ip = b->data + lv->ip_off;
	uint8_t *l4 = b->data + lv->l4_off;
	uint32_t l4len = b->len - lv->l4_off;
	uint32_t sum = 0;
	size_t csum_off;

	switch (lv->l4_proto) {
	case 6:
		csum_off = 16;
		break;
	case 17:
		csum_off = 6;
		break;
	case 1:
	case 58:
		csum_off = 2;
		break;
	case 47:
		if (l4len < 8 || !(get16(l4) & PKTBUILD_GRE_C))
			return;
		csum_off = 4;
		break;
	default:
		return;
	}
	if (lv->l4_proto != 1 && lv->l4_proto != 47) {
		if (lv->ip_version == 4)
			sum = csum_add(sum, ip + 12, 8);
		else
			sum = csum_add(sum, ip + 8, 32);
		sum += lv->l4_proto + (l4len & 0xffff) + (l4len >> 16);
	}
	put16(l4 + csum_off, 0);
	put16(l4 + csum_off, csum_fold(csum_add(sum, l4, l4len)));
}

/* Lengths and checksums of one IP level, whose packet runs to the end of the frame. */
static int level_finish(struct pktbuild *b, const struct pktbuild_level *lv)
{
	uint32_t iplen = b->len - lv->ip_off;

	if (lv->ip_version == 4 ? iplen > 0xffff : iplen - 40 > 0xffff) {
		fail(b, -EINVAL);
		return b->err;
	}
	if (lv->ip_version == 4)
		put16(b->data + lv->ip_off + 2, (uint16_t)iplen);
	else
		put16(b->data + lv->ip_off + 4, (uint16_t)(iplen - 40));
	if (lv->l4_off != PKTBUILD_NONE && lv->l4_proto == 17)
		put16(b->data + lv->l4_off + 4, (uint16_t)(b->len - lv->l4_off));
	if (lv->l4_off != PKTBUILD_NONE)
		l4_fix_csum(b, lv);
	if (lv->ip_version == 4)
		ipv4_fix_csum(b, lv->ip_off);
	return 0;
}

int pktbuild_finish(struct pktbuild *b)
{
	uint32_t i;

	if (b->err)
		return b->err;
	if (b->finished) {
		fail(b, -EINVAL);
		return b->err;
	}
	if (b->ip_off != PKTBUILD_NONE) {
		const struct pktbuild_level cur = {
			.ip_off = b->ip_off,
			.l4_off = b->l4_off,
			.ip_version = b->ip_version,
			.l4_proto = b->l4_proto,
		};

		/* Innermost first: an outer checksum covers the finished inner bytes. */
		if (level_finish(b, &cur))
			return b->err;
		for (i = b->n_outer; i-- > 0;)
			if (level_finish(b, &b->outer[i]))
				return b->err;
	}
	b->wirelen = b->len;
	b->finished = true;
	return 0;
}

/* Damage helpers need a finished frame with an IP header whose fixed part was captured. */
static uint8_t *ip_fixed(struct pktbuild *b)
{
	if (b->err)
		return NULL;
	if (!b->finished || b->ip_off == PKTBUILD_NONE ||
	    b->ip_off + (b->ip_version == 4 ? 20u : 40u) > b->len) {
		fail(b, -EINVAL);
		return NULL;
	}
	return b->data + b->ip_off;
}

void pktbuild_set_ip_len(struct pktbuild *b, uint16_t value)
{
	uint8_t *ip = ip_fixed(b);

	if (!ip)
		return;
	if (b->ip_version == 4) {
		put16(ip + 2, value);
		ipv4_fix_csum(b, b->ip_off);
	} else {
		put16(ip + 4, value);
	}
}

void pktbuild_set_ihl(struct pktbuild *b, uint8_t ihl)
{
	uint8_t *ip = ip_fixed(b);

	if (!ip)
		return;
	if (b->ip_version != 4) {
		fail(b, -EINVAL);
		return;
	}
	ip[0] = (uint8_t)((ip[0] & 0xf0) | (ihl & 0x0f));
	ipv4_fix_csum(b, b->ip_off);
}

void pktbuild_set_ip_version(struct pktbuild *b, uint8_t version)
{
	uint8_t *ip = ip_fixed(b);

	if (!ip)
		return;
	ip[0] = (uint8_t)((ip[0] & 0x0f) | version << 4);
}

void pktbuild_truncate(struct pktbuild *b, uint32_t caplen)
{
	if (b->err)
		return;
	if (!b->finished) {
		fail(b, -EINVAL);
		return;
	}
	if (caplen < b->len)
		b->len = caplen;
}

void pktbuild_pad(struct pktbuild *b, uint32_t len)
{
	if (b->err)
		return;
	if (!b->finished || b->len != b->wirelen) {
		fail(b, -EINVAL); /* pad a finished, untruncated frame */
		return;
	}
	if (len > PKTBUILD_MAX_LEN - b->len) {
		fail(b, -ENOSPC);
		return;
	}
	memset(b->data + b->len, 0, len);
	b->len += len;
	b->wirelen += len;
}

uint32_t pktbuild_ip_offset(const struct pktbuild *b)
{
	return b->ip_off;
}

uint32_t pktbuild_l4_offset(const struct pktbuild *b)
{
	return b->l4_off;
}

/*
 * Size of the part of an IPv6 packet repeated in every fragment: the IPv6 header and
 * leading hop-by-hop/routing headers. *ret_nh_off is the next-header field to point at
 * the fragment header. 0 when the chain does not fit.
 */
static uint32_t ipv6_unfragmentable(const uint8_t *ip, uint32_t iplen, uint32_t *ret_nh_off)
{
	uint32_t off = 40, nh_off = 6;

	while ((ip[nh_off] == 0 || ip[nh_off] == 43) && off + 8 <= iplen) {
		uint32_t len = ((uint32_t)ip[off + 1] + 1) * 8;

		if (off + len > iplen)
			return 0;
		nh_off = off;
		off += len;
	}
	*ret_nh_off = nh_off;
	return off;
}

int pktbuild_fragment(const struct pktbuild *whole, uint32_t id, uint32_t frag_bytes,
		      struct pktbuild *frags, size_t max_frags)
{
	const uint8_t *ip;
	uint32_t iplen, hdr, nh_off = 0, payload, done;
	size_t n = 0;

	if (whole->err || !whole->finished || whole->ip_off == PKTBUILD_NONE ||
	    whole->len != whole->wirelen || frag_bytes == 0 || frag_bytes % 8)
		return -EINVAL;
	ip = whole->data + whole->ip_off;
	iplen = whole->len - whole->ip_off;
	if (whole->ip_version == 4) {
		hdr = (uint32_t)(ip[0] & 0x0f) * 4;
		if (get16(ip + 6) & 0x3fff)
			return -EINVAL; /* already a fragment */
	} else {
		hdr = ipv6_unfragmentable(ip, iplen, &nh_off);
	}
	if (hdr < 20 || hdr > iplen)
		return -EINVAL;
	payload = iplen - hdr;

	for (done = 0; done < payload || n == 0; done += frag_bytes) {
		uint32_t chunk = payload - done < frag_bytes ? payload - done : frag_bytes;
		bool more = done + chunk < payload;
		struct pktbuild *f;
		uint8_t *fip;

		if (n == max_frags)
			return -ENOSPC;
		f = &frags[n++];
		*f = *whole;
		f->finished = false;
		f->l4_off = PKTBUILD_NONE; /* the checksum was computed over the whole */
		f->len = whole->ip_off + hdr;
		fip = f->data + f->ip_off;
		if (whole->ip_version == 4) {
			put16(fip + 4, (uint16_t)id);
			put16(fip + 6, (uint16_t)((more ? 0x2000 : 0) | done / 8));
		} else {
			uint8_t *fh = grow(f, 8);

			if (!fh)
				return f->err;
			fh[0] = fip[nh_off];
			fip[nh_off] = 44;
			put16(fh + 2, (uint16_t)(done | (more ? 1 : 0)));
			put32(fh + 4, id);
		}
		pktbuild_payload(f, ip + hdr + done, chunk);
		if (pktbuild_finish(f))
			return f->err;
		if (payload == 0)
			break;
	}
	return (int)n;
}
