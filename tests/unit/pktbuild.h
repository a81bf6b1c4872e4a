/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pktbuild: a frame builder for unit tests. A frame is pushed outermost layer first
 * (link header, VLAN tags, IPv4/IPv6 with options or extension headers, L4, payload);
 * each layer fills the previous layer's "next protocol" field, and pktbuild_finish() sets
 * the length fields and checksums. Afterwards, helpers corrupt fields, truncate (as a
 * snaplen would), pad, or split the packet into IP fragments.
 *
 * Typical use:
 *	struct pktbuild b;
 *	pktbuild_init(&b, DECODE_LINK_EN10MB);
 *	pktbuild_vlan(&b, 0x8100, 100);
 *	pktbuild_ipv4(&b, "10.0.0.1", "10.0.0.2");
 *	pktbuild_tcp(&b, 40000, 443, PKTBUILD_TCP_SYN);
 *	pktbuild_payload(&b, NULL, 100);
 *	if (pktbuild_finish(&b) == 0)
 *		use(b.data, b.len, b.wirelen);
 *
 * Tunnels: after an IP header push the tunnel header (pktbuild_udp + pktbuild_vxlan or
 * pktbuild_geneve, or pktbuild_gre), then pktbuild_eth() for an inner Ethernet frame
 * (optionally pktbuild_vlan), then the inner IP header and L4 as usual. A second IP header
 * straight after an IP header is IP-in-IP (protocol 4 or 41). finish fills every level:
 *	pktbuild_init(&b, DECODE_LINK_EN10MB);
 *	pktbuild_ipv4(&b, "192.168.0.1", "192.168.0.2");
 *	pktbuild_udp(&b, 50000, 4789);
 *	pktbuild_vxlan(&b, 42);
 *	pktbuild_eth(&b);
 *	pktbuild_ipv4(&b, "10.0.0.1", "10.0.0.2");
 *	pktbuild_tcp(&b, 40000, 443, PKTBUILD_TCP_SYN);
 * Damage helpers and pktbuild_fragment() act on the innermost IP header.
 *
 * Errors (bad address text, no room, a call out of order) are sticky: the first one is
 * kept in b->err, later calls do nothing, and pktbuild_finish() returns it. Nothing is
 * allocated; a struct pktbuild is self-contained and may be copied.
 */
#ifndef LABELFLOW_TESTS_PKTBUILD_H
#define LABELFLOW_TESTS_PKTBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKTBUILD_MAX_LEN   9216	      /* largest frame, in bytes (a jumbo frame) */
#define PKTBUILD_NONE	   UINT32_MAX /* "no such layer" offset */
#define PKTBUILD_MAX_OUTER 2	      /* IP levels around the innermost: tunnel in tunnel */

/* GRE flag bits for pktbuild_gre() (RFC 2784/2890): checksum, key, sequence number. */
#define PKTBUILD_GRE_C 0x8000
#define PKTBUILD_GRE_K 0x2000
#define PKTBUILD_GRE_S 0x1000

/* TCP flag bits for pktbuild_tcp(). */
#define PKTBUILD_TCP_FIN 0x01
#define PKTBUILD_TCP_SYN 0x02
#define PKTBUILD_TCP_RST 0x04
#define PKTBUILD_TCP_PSH 0x08
#define PKTBUILD_TCP_ACK 0x10
#define PKTBUILD_TCP_URG 0x20

/* An IP level enclosing the current one (private to pktbuild.c). */
struct pktbuild_level {
	uint32_t ip_off;
	uint32_t l4_off;
	uint8_t ip_version;
	uint8_t l4_proto;
};

struct pktbuild {
	uint8_t data[PKTBUILD_MAX_LEN]; /* the frame, from the first link-layer byte */
	uint32_t len;			/* bytes captured (caplen) */
	uint32_t wirelen;		/* bytes on the wire: set by finish, kept by truncate */
	int linktype;			/* a DECODE_LINK_* value (== pcap LINKTYPE_*) */
	int err;			/* first error (-EINVAL, -ENOSPC), sticky; 0 = fine */

	/* Private to pktbuild.c: where the pending fields are. */
	uint32_t link_proto_off; /* last link-level protocol field, or PKTBUILD_NONE */
	uint32_t ip_off;	 /* IP header, or PKTBUILD_NONE */
	uint32_t nh_off;	 /* last IP next-header field, or PKTBUILD_NONE */
	uint32_t l4_off;	 /* TCP/UDP/SCTP/ICMP header, or PKTBUILD_NONE */
	uint8_t ip_version;
	uint8_t l4_proto;
	bool link_proto_set;
	bool link_proto_etype; /* the pending link-level field holds an EtherType */
	bool nh_set;
	bool finished;
	bool vlan_ok;	     /* last push was an Ethernet-like header or a tag */
	bool tunnel_open;    /* last push was a tunnel header */
	uint32_t tunnel_off; /* last VXLAN/Geneve/GRE header, or PKTBUILD_NONE */
	uint32_t n_outer;
	struct pktbuild_level outer[PKTBUILD_MAX_OUTER]; /* outermost first */
};

/*
 * Start a frame and write its link header: EN10MB 14 bytes (02:00:00:00:00:02 <-
 * 02:00:00:00:00:01), LINUX_SLL 16 and LINUX_SLL2 20 (outgoing, ARPHRD_ETHER, ifindex
 * 1), NULL and LOOP 4 bytes of address family, RAW/IPV4/IPV6 nothing. Any other
 * linktype writes nothing too (to test unsupported link types).
 */
void pktbuild_init(struct pktbuild *b, int linktype);

/*
 * Set the last link-level protocol field: the EtherType for EN10MB, SLL, SLL2 (the
 * innermost one after VLAN tags), the address family for NULL (written in this host's
 * byte order; pass a byte-swapped value for a foreign host) and LOOP (network order).
 * IP layers fill it on their own (0x0800/0x86dd; family 2, or 24 for IPv6); call this
 * for non-IP frames or to override. May be called after later layers were pushed.
 * Inside a tunnel it is the GRE/Geneve protocol type or the inner Ethernet's EtherType.
 */
void pktbuild_link_proto(struct pktbuild *b, uint32_t value);

/* Linux cooked v1/v2 packet type (init writes 4, outgoing; 0 = to us). SLL/SLL2 only. */
void pktbuild_sll_pkttype(struct pktbuild *b, uint8_t pkttype);

/*
 * Append a VLAN tag (tpid 0x8100, 0x88a8 or 0x9100 goes into the protocol field), right
 * after the link header, an inner Ethernet header or another tag.
 */
void pktbuild_vlan(struct pktbuild *b, uint16_t tpid, uint16_t vid);

/* Append a 20-byte IPv4 header: TTL 64, id 0, no flags. Addresses as text. */
void pktbuild_ipv4(struct pktbuild *b, const char *src, const char *dst);

/*
 * Append options to the IPv4 header just pushed, padded with zero (EOL) to 4 bytes, at
 * most 40 bytes; IHL follows. Must come right after pktbuild_ipv4().
 */
void pktbuild_ipv4_options(struct pktbuild *b, const uint8_t *opts, size_t len);

/* Make the IPv4 header a fragment: id, offset in bytes (multiple of 8), MF flag. */
void pktbuild_ipv4_frag(struct pktbuild *b, uint16_t id, uint32_t offset_bytes, bool more);

/* Append a 40-byte IPv6 header: hop limit 64, flow label 0. */
void pktbuild_ipv6(struct pktbuild *b, const char *src, const char *dst);

/*
 * Append an IPv6 extension header of hdr_len bytes in all: next header, the length
 * octet in the header's own units (AH, type 51: 4-octet units minus 2; others 8-octet
 * units minus 1), then zeros (Pad1 options for hop-by-hop/destination options).
 * hdr_len must be a multiple of 8 (of 4 for AH) and at least 8. Type 44 writes an
 * atomic fragment header (use pktbuild_ipv6_frag for a real one).
 */
void pktbuild_ipv6_ext(struct pktbuild *b, uint8_t type, uint32_t hdr_len);

/* Append an IPv6 fragment header: identification, offset in bytes (multiple of 8), M. */
void pktbuild_ipv6_frag(struct pktbuild *b, uint32_t id, uint32_t offset_bytes, bool more);

/* IPv4 TOS or IPv6 traffic class of the IP header pushed. */
void pktbuild_tos(struct pktbuild *b, uint8_t tos);

/* L4 headers. Each sets the pending IP next-header field; checksums come with finish. */
void pktbuild_tcp(struct pktbuild *b, uint16_t src_port, uint16_t dst_port, uint8_t flags);
void pktbuild_udp(struct pktbuild *b, uint16_t src_port, uint16_t dst_port);
void pktbuild_sctp(struct pktbuild *b, uint16_t src_port, uint16_t dst_port);
void pktbuild_icmp(struct pktbuild *b, uint8_t type, uint8_t code);   /* protocol 1 */
void pktbuild_icmpv6(struct pktbuild *b, uint8_t type, uint8_t code); /* protocol 58 */

/* Set the pending IP next-header field to any protocol (GRE, ESP, 59 = none, ...). */
void pktbuild_proto(struct pktbuild *b, uint8_t proto);

/* ---- tunnels ------------------------------------------------------------------------- */

/* 8-byte VXLAN header (I flag, vni), right after a UDP header. Ethernet must follow. */
void pktbuild_vxlan(struct pktbuild *b, uint32_t vni);
/*
 * Geneve header (version 0, vni) with opt_bytes (a multiple of 4, <= 252) of TLV options,
 * right after a UDP header. Its protocol type is set by what follows: 0x6558 by
 * pktbuild_eth(), 0x0800/0x86dd by an IP header (or pktbuild_link_proto()).
 */
void pktbuild_geneve(struct pktbuild *b, uint32_t vni, uint32_t opt_bytes);
/*
 * GRE header after an IP header (sets protocol 47). flags: PKTBUILD_GRE_C/K/S; key and seq
 * are written when K/S are set, the checksum by pktbuild_finish(). Protocol type as for
 * Geneve.
 */
void pktbuild_gre(struct pktbuild *b, uint16_t flags, uint32_t key, uint32_t seq);
/* 14-byte inner Ethernet header right after a tunnel header; its EtherType comes next. */
void pktbuild_eth(struct pktbuild *b);

/* Offset of the last tunnel header, and of the outermost IP header; or PKTBUILD_NONE. */
uint32_t pktbuild_tunnel_offset(const struct pktbuild *b);
uint32_t pktbuild_outer_ip_offset(const struct pktbuild *b);

/* Append payload bytes; data NULL appends len bytes of a fixed pattern. */
void pktbuild_payload(struct pktbuild *b, const void *data, size_t len);

/*
 * Fill IPv4 total length / IPv6 payload length, UDP length, the IPv4 header checksum
 * and TCP/UDP/ICMP/ICMPv6 checksums (SCTP's CRC32c is left 0), and set wirelen = len.
 * Returns 0 or b->err. Call once, after the last layer.
 */
int pktbuild_finish(struct pktbuild *b);

/* ---- after pktbuild_finish(): deliberate damage -------------------------------------- */

/* Overwrite the raw IP length field (IPv4 total length, IPv6 payload length). */
void pktbuild_set_ip_len(struct pktbuild *b, uint16_t value);
/* Overwrite the IPv4 IHL nibble (header length in 4-byte words). */
void pktbuild_set_ihl(struct pktbuild *b, uint8_t ihl);
/* Overwrite the IP version nibble. */
void pktbuild_set_ip_version(struct pktbuild *b, uint8_t version);
/* Keep only the first caplen bytes, as a snaplen would; wirelen stays. */
void pktbuild_truncate(struct pktbuild *b, uint32_t caplen);
/* Append len zero bytes after the IP packet (Ethernet padding, FCS); lengths unchanged. */
void pktbuild_pad(struct pktbuild *b, uint32_t len);

/* Offset of the (innermost) IP header / of its L4 header in data, or PKTBUILD_NONE. */
uint32_t pktbuild_ip_offset(const struct pktbuild *b);
uint32_t pktbuild_l4_offset(const struct pktbuild *b);

/*
 * Split a finished, unfragmented IP packet into fragments carrying at most frag_bytes
 * (a multiple of 8) of payload each, with the same link header. IPv4: the IP header
 * (options included) is repeated and id is written into each; IPv6: the IPv6 header and
 * any leading hop-by-hop/routing headers are repeated, then a fragment header with
 * identification id. Returns the number of fragments written to frags[0..max_frags-1],
 * or -EINVAL (not finished, no IP, bad frag_bytes) or -ENOSPC (more than max_frags).
 */
int pktbuild_fragment(const struct pktbuild *whole, uint32_t id, uint32_t frag_bytes,
		      struct pktbuild *frags, size_t max_frags);

#endif
