// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for decode: every link type, VLAN/QinQ, IPv4 options, IPv6 extension
 * headers, L4 keys, the fragment table, truncation at every byte, every drop reason,
 * direction, and each overlay in each view. Frames are built with pktbuild and copied into
 * a heap buffer of exactly caplen bytes, so a read past caplen is caught by AddressSanitizer.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "pktbuild.h"

#define TS 1700000000000ULL

/* Decode data[0..caplen) from a buffer of exactly caplen bytes, with a direction. */
static bool decode_bytes_dir(struct decoder *d, int linktype, const uint8_t *data, uint32_t caplen,
			     uint32_t wirelen, uint64_t ts_ms, uint8_t direction,
			     struct decode_pkt *pkt)
{
	uint8_t *copy = malloc(caplen ? caplen : 1);
	bool ok;

	cr_assert_not_null(copy);
	memcpy(copy, data, caplen);
	ok = decode_frame(d, linktype, copy, caplen, wirelen, ts_ms, 7, direction, pkt);
	free(copy);
	return ok;
}

/* The same with the direction unknown: taken from the link header. */
static bool decode_bytes(struct decoder *d, int linktype, const uint8_t *data, uint32_t caplen,
			 uint32_t wirelen, uint64_t ts_ms, struct decode_pkt *pkt)
{
	return decode_bytes_dir(d, linktype, data, caplen, wirelen, ts_ms, DECODE_DIR_UNKNOWN, pkt);
}

static bool decode_b(struct decoder *d, const struct pktbuild *b, uint64_t ts_ms,
		     struct decode_pkt *pkt)
{
	cr_assert_eq(b->err, 0, "frame build failed: %d", b->err);
	return decode_bytes(d, b->linktype, b->data, b->len, b->wirelen, ts_ms, pkt);
}

static uint64_t sum_drops(const struct decode_stats *s)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < DECODE_DROP_COUNT; i++)
		sum += s->drops[i];
	return sum;
}

/* frames == decoded + sum(drops); decoded == sum(tunnel_type[]); tunnelled = the rest. */
static void check_balance(const struct decoder *d)
{
	const struct decode_stats *s = decode_get_stats(d);
	uint64_t by_type = 0;
	int i;

	cr_assert_eq(s->frames, s->decoded + sum_drops(s), "frames %lu decoded %lu drops %lu",
		     (unsigned long)s->frames, (unsigned long)s->decoded,
		     (unsigned long)sum_drops(s));
	for (i = 0; i < DECODE_TUNNEL_COUNT; i++)
		by_type += s->tunnel_type[i];
	cr_assert_eq(by_type, s->decoded);
	cr_assert_eq(s->tunnelled, s->decoded - s->tunnel_type[DECODE_TUNNEL_NONE]);
}

/* The decoder saw n frames, all dropped for `reason`. */
static void expect_only_drops(const struct decoder *d, enum decode_drop reason, uint64_t n)
{
	const struct decode_stats *s = decode_get_stats(d);
	int i;

	for (i = 0; i < DECODE_DROP_COUNT; i++)
		cr_assert_eq(s->drops[i], i == (int)reason ? n : 0, "drops[%s] = %lu",
			     decode_drop_name(i), (unsigned long)s->drops[i]);
	cr_assert_eq(s->decoded, 0);
	cr_assert_eq(s->frames, n);
}

static void expect_addr(const uint8_t got[16], int family, const char *text)
{
	uint8_t want[16] = {0};

	cr_assert_eq(inet_pton(family, text, want), 1);
	cr_assert_arr_eq(got, want, 16, "address differs from %s", text);
}

/* Build a finished frame: link, v4 or v6, one L4 header, payload. */
static void build_tcp(struct pktbuild *b, int linktype, int version, uint16_t sport, uint16_t dport,
		      uint8_t flags, size_t payload)
{
	pktbuild_init(b, linktype);
	if (version == 4)
		pktbuild_ipv4(b, "10.1.2.3", "192.168.7.9");
	else
		pktbuild_ipv6(b, "2001:db8::1", "fd00:1::2");
	pktbuild_tcp(b, sport, dport, flags);
	pktbuild_payload(b, NULL, payload);
	cr_assert_eq(pktbuild_finish(b), 0);
}

static struct pktbuild B, B2, FR[8];

/* ---- link types ----------------------------------------------------------------------- */

Test(decode, ethernet_ipv4_tcp_full_key)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	struct flow_key want;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 40000, 443, PKTBUILD_TCP_SYN | PKTBUILD_TCP_ACK, 100);
	memset(&pkt, 0xff, sizeof(pkt)); /* garbage in: the key must be fully rewritten */
	cr_assert(decode_b(d, &B, TS, &pkt));

	memset(&want, 0, sizeof(want));
	inet_pton(AF_INET, "10.1.2.3", want.src_addr);
	inet_pton(AF_INET, "192.168.7.9", want.dst_addr);
	want.ifindex = 7;
	want.src_port = 40000;
	want.dst_port = 443;
	want.ip_version = 4;
	want.proto = 6;
	cr_assert_arr_eq(&pkt.key, &want, sizeof(want));
	cr_assert_eq(pkt.ts_ms, TS);
	cr_assert_eq(pkt.octets, 20 + 20 + 100);
	cr_assert_eq(pkt.tcp_flags, 0x12);
	cr_assert_eq(pkt.tos, 0);
	cr_assert_eq(pkt.inner_vlan_id, 0);
	cr_assert_not(pkt.fragment);
	cr_assert_eq(decode_get_stats(d)->decoded, 1);
	cr_assert_eq(decode_get_stats(d)->frames, 1);
	decode_free(d);
}

Test(decode, every_link_type_with_both_ip_versions)
{
	static const int links[] = {DECODE_LINK_EN10MB,	    DECODE_LINK_LINUX_SLL,
				    DECODE_LINK_LINUX_SLL2, DECODE_LINK_NULL,
				    DECODE_LINK_LOOP,	    DECODE_LINK_RAW};
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	size_t i;
	int v;

	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		for (v = 4; v <= 6; v += 2) {
			build_tcp(&B, links[i], v, 1000 + (uint16_t)i, 80, PKTBUILD_TCP_ACK, 10);
			cr_assert(decode_b(d, &B, TS, &pkt), "link %d v%d", links[i], v);
			cr_assert_eq(pkt.key.ip_version, v);
			cr_assert_eq(pkt.key.src_port, 1000 + i);
			cr_assert_eq(pkt.key.dst_port, 80);
			cr_assert_eq(pkt.octets, (v == 4 ? 20 : 40) + 20 + 10);
			if (v == 4)
				expect_addr(pkt.key.dst_addr, AF_INET, "192.168.7.9");
			else
				expect_addr(pkt.key.dst_addr, AF_INET6, "fd00:1::2");
		}
	}
	build_tcp(&B, DECODE_LINK_IPV4, 4, 1, 2, 0, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.ip_version, 4);
	build_tcp(&B, DECODE_LINK_IPV6, 6, 1, 2, 0, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.ip_version, 6);
	cr_assert_eq(decode_get_stats(d)->decoded, 14);
	check_balance(d);
	decode_free(d);
}

Test(decode, null_link_accepts_families_in_both_byte_orders)
{
	static const uint32_t v6_families[] = {10, 24, 28, 30};
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	size_t i;

	build_tcp(&B, DECODE_LINK_NULL, 4, 5, 6, 0, 0);
	pktbuild_link_proto(&B, __builtin_bswap32(2));
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.ip_version, 4);
	for (i = 0; i < 4; i++) {
		build_tcp(&B, DECODE_LINK_NULL, 6, 5, 6, 0, 0);
		pktbuild_link_proto(&B, v6_families[i]);
		cr_assert(decode_b(d, &B, TS, &pkt), "family %u", v6_families[i]);
		cr_assert_eq(pkt.key.ip_version, 6);
		pktbuild_link_proto(&B, __builtin_bswap32(v6_families[i]));
		cr_assert(decode_b(d, &B, TS, &pkt), "swapped family %u", v6_families[i]);
		cr_assert_eq(pkt.key.ip_version, 6);
	}
	/* AF 7 is not IP. */
	pktbuild_link_proto(&B, 7);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(decode_get_stats(d)->drops[DECODE_DROP_NON_IP], 1);
	/* AF_INET header on an IPv6 packet. */
	pktbuild_link_proto(&B, 2);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(decode_get_stats(d)->drops[DECODE_DROP_BAD_IP_VERSION], 1);
	cr_assert_eq(decode_get_stats(d)->decoded, 9);
	check_balance(d);
	decode_free(d);
}

Test(decode, loop_link_is_network_order)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_LOOP, 4, 5, 6, 0, 0);
	cr_assert_eq(B.data[3], 2);
	cr_assert(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_LOOP, 6, 5, 6, 0, 0);
	pktbuild_link_proto(&B, 30);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.ip_version, 6);
	/* Little-endian AF_INET6 is a different number in network order. */
	pktbuild_link_proto(&B, __builtin_bswap32(24));
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(decode_get_stats(d)->drops[DECODE_DROP_NON_IP], 1);
	check_balance(d);
	decode_free(d);
}

Test(decode, raw_and_ip_link_types_check_the_version_nibble)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_RAW, 4, 5, 6, 0, 0);
	pktbuild_set_ip_version(&B, 5);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_IPV4, 6, 5, 6, 0, 0); /* IPv6 bytes on the IPv4 link type */
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_IPV6, 4, 5, 6, 0, 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_EN10MB, 6, 5, 6, 0, 0);
	pktbuild_link_proto(&B, 0x0800); /* EtherType IPv4, IPv6 inside */
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_BAD_IP_VERSION, 4);
	decode_free(d);
}

/* ---- VLAN ----------------------------------------------------------------------------- */

Test(decode, vlan_and_qinq_tags)
{
	static const uint16_t tpids[] = {0x8100, 0x88a8, 0x9100};
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	size_t i;

	for (i = 0; i < 3; i++) {
		pktbuild_init(&B, DECODE_LINK_EN10MB);
		pktbuild_vlan(&B, tpids[i], 100 + (uint16_t)i);
		pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
		pktbuild_udp(&B, 53, 5353);
		cr_assert_eq(pktbuild_finish(&B), 0);
		B.data[14] |= 0xe0; /* PCP 7 must not leak into the VID */
		cr_assert(decode_b(d, &B, TS, &pkt));
		cr_assert_eq(pkt.key.vlan_id, 100 + i);
		cr_assert_eq(pkt.inner_vlan_id, 0);
		cr_assert_eq(pkt.key.dst_port, 5353);
	}

	/* QinQ: 802.1ad service tag outside, 802.1Q customer tag inside. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x88a8, 4094);
	pktbuild_vlan(&B, 0x8100, 17);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_tcp(&B, 1, 2, PKTBUILD_TCP_FIN);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.vlan_id, 4094);
	cr_assert_eq(pkt.inner_vlan_id, 17);
	cr_assert_eq(pkt.key.ip_version, 6);
	cr_assert_eq(pkt.octets, 60);

	/* Three tags: the two outermost are kept. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x9100, 1);
	pktbuild_vlan(&B, 0x88a8, 2);
	pktbuild_vlan(&B, 0x8100, 3);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_udp(&B, 7, 8);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.vlan_id, 1);
	cr_assert_eq(pkt.inner_vlan_id, 2);
	cr_assert_eq(pkt.key.src_port, 7);

	/* Tags on cooked captures (libpcap re-inserts them). */
	pktbuild_init(&B, DECODE_LINK_LINUX_SLL2);
	pktbuild_vlan(&B, 0x8100, 300);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_udp(&B, 7, 8);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.vlan_id, 300);
	pktbuild_init(&B, DECODE_LINK_LINUX_SLL);
	pktbuild_vlan(&B, 0x8100, 301);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_udp(&B, 7, 8);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.vlan_id, 301);

	/* A tag followed by ARP. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x8100, 5);
	pktbuild_link_proto(&B, 0x0806);
	pktbuild_payload(&B, NULL, 28);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(decode_get_stats(d)->drops[DECODE_DROP_NON_IP], 1);
	cr_assert_eq(decode_get_stats(d)->decoded, 7);
	check_balance(d);
	decode_free(d);
}

/* ---- IPv4 options, IPv6 extension headers --------------------------------------------- */

Test(decode, ipv4_options_are_skipped)
{
	static const uint8_t rr[] = {7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0}; /* record route */
	uint8_t max_opts[40];
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_ipv4_options(&B, rr, sizeof(rr));
	pktbuild_tos(&B, 0xb8);
	pktbuild_tcp(&B, 2222, 22, PKTBUILD_TCP_PSH | PKTBUILD_TCP_ACK);
	pktbuild_payload(&B, NULL, 5);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_eq(B.data[14], 0x48);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 2222);
	cr_assert_eq(pkt.key.dst_port, 22);
	cr_assert_eq(pkt.tcp_flags, 0x18);
	cr_assert_eq(pkt.tos, 0xb8);
	cr_assert_eq(pkt.octets, 32 + 20 + 5);

	memset(max_opts, 1, sizeof(max_opts)); /* NOPs: IHL 15 */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_ipv4_options(&B, max_opts, sizeof(max_opts));
	pktbuild_udp(&B, 1234, 4321);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 1234);
	cr_assert_eq(pkt.key.dst_port, 4321);
	cr_assert_eq(pkt.octets, 60 + 8);
	cr_assert_eq(decode_get_stats(d)->truncated_l4, 0);
	decode_free(d);
}

/* IPv6 with one extension header of the given kind and size, then UDP 5000 -> 6000. */
static void build_v6_ext(struct pktbuild *b, uint8_t type, uint32_t len)
{
	pktbuild_init(b, DECODE_LINK_EN10MB);
	pktbuild_ipv6(b, "2001:db8::a", "2001:db8::b");
	pktbuild_ipv6_ext(b, type, len);
	pktbuild_udp(b, 5000, 6000);
	pktbuild_payload(b, NULL, 3);
	cr_assert_eq(pktbuild_finish(b), 0);
}

Test(decode, each_ipv6_extension_header_kind)
{
	static const struct {
		uint8_t type;
		uint32_t len;
	} exts[] = {
		{0, 8}, {0, 24}, {43, 24}, {60, 16}, {51, 12}, {51, 24}, {135, 16}, {44, 8},
	};
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	size_t i;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		build_v6_ext(&B, exts[i].type, exts[i].len);
		cr_assert(decode_b(d, &B, TS, &pkt), "ext %u", exts[i].type);
		cr_assert_eq(pkt.key.proto, 17, "ext %u", exts[i].type);
		cr_assert_eq(pkt.key.src_port, 5000, "ext %u len %u", exts[i].type, exts[i].len);
		cr_assert_eq(pkt.key.dst_port, 6000);
		cr_assert_eq(pkt.octets, 40 + exts[i].len + 8 + 3);
		cr_assert_not(pkt.fragment, "atomic fragment is a whole packet");
	}
	/* AH length is in 4-octet units + 2: 12 bytes is length octet 1. */
	build_v6_ext(&B, 51, 12);
	cr_assert_eq(B.data[14 + 40 + 1], 1);

	/* A chain of all of them. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "2001:db8::a", "2001:db8::b");
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_ipv6_ext(&B, 60, 8);
	pktbuild_ipv6_ext(&B, 43, 8);
	pktbuild_ipv6_ext(&B, 44, 8);
	pktbuild_ipv6_ext(&B, 51, 16);
	pktbuild_ipv6_ext(&B, 135, 8);
	pktbuild_ipv6_ext(&B, 60, 8);
	pktbuild_tcp(&B, 9, 10, PKTBUILD_TCP_RST);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 6);
	cr_assert_eq(pkt.key.src_port, 9);
	cr_assert_eq(pkt.tcp_flags, PKTBUILD_TCP_RST);
	cr_assert_eq(pkt.octets, 40 + 64 + 20);
	cr_assert_eq(decode_get_stats(d)->truncated_l4, 0);
	decode_free(d);
}

Test(decode, ipv6_no_next_header_is_a_portless_flow)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fe80::1", "ff02::1");
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_proto(&B, 59);
	pktbuild_payload(&B, NULL, 16); /* ignored: nothing follows header 59 */
	pktbuild_tos(&B, 0x2e);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 59);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 0);
	cr_assert_eq(pkt.tos, 0x2e);
	cr_assert_eq(pkt.octets, 40 + 8 + 16);
	cr_assert_eq(decode_get_stats(d)->truncated_l4, 0);

	/* Payload length 0 with no next header: a legal empty packet. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fe80::1", "ff02::1");
	pktbuild_proto(&B, 59);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.octets, 40);
	decode_free(d);
}

/* ---- L4 protocols ---------------------------------------------------------------------- */

Test(decode, l4_protocol_keys)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_sctp(&B, 36412, 38412);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 132);
	cr_assert_eq(pkt.key.src_port, 36412);
	cr_assert_eq(pkt.key.dst_port, 38412);
	cr_assert_eq(pkt.tcp_flags, 0);

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_icmp(&B, 3, 4); /* destination unreachable, fragmentation needed */
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 1);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 0x0304);

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_icmpv6(&B, 135, 0); /* neighbour solicitation */
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 58);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 135 << 8);

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_udp(&B, 443, 51000);
	pktbuild_tos(&B, 0xfc);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 17);
	cr_assert_eq(pkt.key.src_port, 443);
	cr_assert_eq(pkt.key.dst_port, 51000);
	cr_assert_eq(pkt.tos, 0xfc);

	/* GRE and ESP: port-less, and the bytes after the IP header are not read as ports. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_proto(&B, 47);
	pktbuild_payload(&B, "\x12\x34\x56\x78\x9a\xbc", 6);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 47);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 0);
	cr_assert_eq(pkt.octets, 26);

	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_proto(&B, 50);
	pktbuild_payload(&B, NULL, 40);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 50);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 0);
	cr_assert_eq(decode_get_stats(d)->truncated_l4, 0);
	decode_free(d);
}

Test(decode, tcp_flags_octet_without_ns)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0xff, 0);
	B.data[20 + 12] |= 0x01; /* NS bit lives in the data offset octet */
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.tcp_flags, 0xff);
	build_tcp(&B, DECODE_LINK_RAW, 6, 1, 2, PKTBUILD_TCP_URG, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.tcp_flags, 0x20);
	decode_free(d);
}

Test(decode, ipv4_key_leaves_upper_address_bytes_zero)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	static const uint8_t zero[12];

	/* A previous IPv6 decode into the same pkt must not leave bytes behind. */
	build_tcp(&B, DECODE_LINK_RAW, 6, 1, 2, 0, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_arr_eq(pkt.key.src_addr + 4, zero, 12);
	cr_assert_arr_eq(pkt.key.dst_addr + 4, zero, 12);
	expect_addr(pkt.key.src_addr, AF_INET, "10.1.2.3");
	decode_free(d);
}

/* ---- octets --------------------------------------------------------------------------- */

Test(decode, octets_come_from_ip_length_under_a_snaplen)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 3000, 80, PKTBUILD_TCP_ACK, 1460);
	pktbuild_truncate(&B, 96);
	cr_assert_eq(B.wirelen, 14 + 1500);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.octets, 1500);
	cr_assert_eq(pkt.key.src_port, 3000);

	build_tcp(&B, DECODE_LINK_LINUX_SLL2, 6, 3000, 80, PKTBUILD_TCP_ACK, 8000);
	pktbuild_truncate(&B, 128);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.octets, 40 + 20 + 8000);
	cr_assert_eq(decode_get_stats(d)->truncated_l4, 0);
	decode_free(d);
}

Test(decode, ethernet_padding_is_ignored)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	pktbuild_pad(&B, 60 - B.len + 4); /* minimum frame plus FCS */
	cr_assert_eq(B.len, 64);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.octets, 28);

	/*
	 * IP length ends inside the TCP header; 0xff padding follows. The ports are not
	 * taken from the padding.
	 */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_proto(&B, 6);
	pktbuild_payload(&B, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 10);
	cr_assert_eq(pktbuild_finish(&B), 0);
	pktbuild_pad(&B, 30);
	memset(B.data + 44, 0xff, 30);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.octets, 30);
	cr_assert_eq(pkt.key.proto, 6);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 0);
	cr_assert_eq(pkt.tcp_flags, 0);
	cr_assert_eq(decode_get_stats(d)->truncated_l4, 1);
	decode_free(d);
}

/* ---- fragments ------------------------------------------------------------------------ */

Test(decode, ipv4_fragments_get_ports_from_the_first)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	int n, i;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_udp(&B, 4789, 8472);
	pktbuild_payload(&B, NULL, 3000);
	cr_assert_eq(pktbuild_finish(&B), 0);
	n = pktbuild_fragment(&B, 0x4242, 1480, FR, 8);
	cr_assert_eq(n, 3);

	cr_assert(decode_b(d, &FR[0], TS, &pkt));
	cr_assert(pkt.fragment);
	cr_assert_eq(pkt.key.src_port, 4789);
	cr_assert_eq(pkt.octets, 1500);
	for (i = 1; i < n; i++) {
		cr_assert(decode_b(d, &FR[i], TS + 10, &pkt));
		cr_assert(pkt.fragment);
		cr_assert_eq(pkt.key.proto, 17);
		cr_assert_eq(pkt.key.src_port, 4789);
		cr_assert_eq(pkt.key.dst_port, 8472);
		expect_addr(pkt.key.src_addr, AF_INET, "10.0.0.1");
	}
	cr_assert_eq(pkt.octets, 20 + 3008 - 2 * 1480);
	cr_assert_eq(s->frag_first, 1);
	cr_assert_eq(s->frag_matched, 2);
	cr_assert_eq(s->frag_unmatched, 0);

	/* Same addresses and protocol, another id: unmatched, ports 0, still counted. */
	n = pktbuild_fragment(&B, 0x4243, 1480, FR, 8);
	cr_assert(decode_b(d, &FR[2], TS + 20, &pkt));
	cr_assert(pkt.fragment);
	cr_assert_eq(pkt.key.proto, 17);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.dst_port, 0);
	cr_assert_eq(s->frag_unmatched, 1);

	/* Later fragments arriving before the first are unmatched too. */
	cr_assert(decode_b(d, &FR[1], TS + 21, &pkt));
	cr_assert_eq(s->frag_unmatched, 2);
	cr_assert(decode_b(d, &FR[0], TS + 22, &pkt));
	cr_assert(decode_b(d, &FR[1], TS + 23, &pkt));
	cr_assert_eq(pkt.key.src_port, 4789);
	cr_assert_eq(s->frag_matched, 3);
	cr_assert_eq(s->frag_first, 2);
	cr_assert_eq(s->decoded, 7);
	check_balance(d);
	decode_free(d);
}

Test(decode, ipv4_fragment_key_includes_protocol_and_addresses)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_tcp(&B, 80, 8080, 0);
	pktbuild_payload(&B, NULL, 100);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_eq(pktbuild_fragment(&B, 9, 64, FR, 8), 2);
	cr_assert(decode_b(d, &FR[0], TS, &pkt));

	/* Same id from another source. */
	B2 = FR[1];
	B2.data[15] = 99;
	cr_assert(decode_b(d, &B2, TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 0);
	/* Same id, other protocol. */
	B2 = FR[1];
	B2.data[9] = 17;
	cr_assert(decode_b(d, &B2, TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.key.proto, 17);
	cr_assert(decode_b(d, &FR[1], TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 80);
	cr_assert_eq(decode_get_stats(d)->frag_unmatched, 2);
	cr_assert_eq(decode_get_stats(d)->frag_matched, 1);
	decode_free(d);
}

Test(decode, ipv6_fragments_restore_protocol_and_ports)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	int n;

	/* Hop-by-hop stays in front of the fragment header; dest options travel inside. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x8100, 42);
	pktbuild_ipv6(&B, "2001:db8::1", "2001:db8::2");
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_ipv6_ext(&B, 60, 8);
	pktbuild_tcp(&B, 5001, 179, PKTBUILD_TCP_ACK);
	pktbuild_payload(&B, NULL, 2000);
	cr_assert_eq(pktbuild_finish(&B), 0);
	n = pktbuild_fragment(&B, 0xdeadbeef, 1232, FR, 8);
	cr_assert_eq(n, 2);
	cr_assert_eq(FR[1].data[18 + 40 + 8], 60, "later fragment names dest options");

	cr_assert(decode_b(d, &FR[0], TS, &pkt));
	cr_assert(pkt.fragment);
	cr_assert_eq(pkt.key.proto, 6);
	cr_assert_eq(pkt.key.src_port, 5001);
	cr_assert_eq(pkt.tcp_flags, PKTBUILD_TCP_ACK);
	cr_assert_eq(pkt.octets, 40 + 8 + 8 + 1232);
	cr_assert(decode_b(d, &FR[1], TS + 1, &pkt));
	cr_assert(pkt.fragment);
	cr_assert_eq(pkt.key.proto, 6);
	cr_assert_eq(pkt.key.src_port, 5001);
	cr_assert_eq(pkt.key.dst_port, 179);
	cr_assert_eq(pkt.key.vlan_id, 42);
	cr_assert_eq(pkt.tcp_flags, 0);
	cr_assert_eq(pkt.octets, 40 + 8 + 8 + (8 + 20 + 2000 - 1232));
	cr_assert_eq(s->frag_first, 1);
	cr_assert_eq(s->frag_matched, 1);

	/* Another identification: unmatched; protocol is the fragment header's. */
	n = pktbuild_fragment(&B, 0xdeadbef0, 1232, FR, 8);
	cr_assert(decode_b(d, &FR[1], TS + 2, &pkt));
	cr_assert_eq(pkt.key.proto, 60);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(s->frag_unmatched, 1);
	check_balance(d);
	decode_free(d);
}

Test(decode, first_fragment_with_cut_ports_is_not_remembered)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;

	/* 8 bytes of TCP in the first fragment: ports, but no flags octet. */
	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1111, 2222, PKTBUILD_TCP_SYN, 40);
	cr_assert_eq(pktbuild_fragment(&B, 77, 8, FR, 8), 8);
	cr_assert(decode_b(d, &FR[0], TS, &pkt));
	cr_assert(pkt.fragment);
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(pkt.octets, 28);
	cr_assert_eq(s->truncated_l4, 1);
	cr_assert_eq(s->frag_first, 1);
	cr_assert(decode_b(d, &FR[1], TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(s->frag_unmatched, 1);
	cr_assert_eq(s->frag_matched, 0);
	cr_assert_eq(s->frag_table_full, 0);
	decode_free(d);
}

Test(decode, fragment_entries_expire)
{
	struct decode_config cfg = {.frag_table_size = 64, .frag_timeout_ms = 1000};
	struct decoder *d = decode_new(&cfg);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 100);
	cr_assert_eq(pktbuild_fragment(&B, 5, 64, FR, 8), 2);
	cr_assert(decode_b(d, &FR[0], TS, &pkt));
	cr_assert(decode_b(d, &FR[1], TS + 999, &pkt));
	cr_assert_eq(pkt.key.src_port, 1);
	cr_assert(decode_b(d, &FR[1], TS + 1000, &pkt));
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(s->frag_matched, 1);
	cr_assert_eq(s->frag_unmatched, 1);
	/* A new first fragment of the same datagram refreshes the entry. */
	cr_assert(decode_b(d, &FR[0], TS + 5000, &pkt));
	cr_assert(decode_b(d, &FR[1], TS + 5500, &pkt));
	cr_assert_eq(pkt.key.src_port, 1);
	cr_assert_eq(s->frag_matched, 2);
	decode_free(d);
}

Test(decode, default_fragment_timeout_is_30s)
{
	struct decode_config zero = {0};
	struct decoder *d = decode_new(&zero);
	struct decode_pkt pkt;

	cr_assert_not_null(d);
	build_tcp(&B, DECODE_LINK_RAW, 6, 1, 2, 0, 100);
	cr_assert_eq(pktbuild_fragment(&B, 5, 64, FR, 8), 2);
	cr_assert(decode_b(d, &FR[0], 0, &pkt));
	cr_assert(decode_b(d, &FR[1], 29999, &pkt));
	cr_assert_eq(pkt.key.src_port, 1);
	cr_assert(decode_b(d, &FR[1], 30000, &pkt));
	cr_assert_eq(pkt.key.src_port, 0);
	decode_free(d);
}

Test(decode, fragment_table_full)
{
	struct decode_config cfg = {.frag_table_size = 4, .frag_timeout_ms = 1000};
	struct decoder *d = decode_new(&cfg);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	static struct pktbuild frags[6][2];
	int i;

	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 100);
	for (i = 0; i < 6; i++)
		cr_assert_eq(pktbuild_fragment(&B, 100 + (uint32_t)i, 64, frags[i], 2), 2);
	for (i = 0; i < 6; i++) {
		cr_assert(decode_b(d, &frags[i][0], TS, &pkt));
		cr_assert_eq(pkt.key.src_port, 1, "first fragments always carry their ports");
	}
	cr_assert_eq(s->frag_first, 6);
	cr_assert_eq(s->frag_table_full, 2);
	for (i = 0; i < 6; i++) {
		cr_assert(decode_b(d, &frags[i][1], TS + 1, &pkt));
		cr_assert_eq(pkt.key.src_port, i < 4 ? 1 : 0, "fragment %d", i);
	}
	cr_assert_eq(s->frag_matched, 4);
	cr_assert_eq(s->frag_unmatched, 2);

	/* Expired slots are reused. */
	cr_assert(decode_b(d, &frags[5][0], TS + 1000, &pkt));
	cr_assert_eq(s->frag_table_full, 2);
	cr_assert(decode_b(d, &frags[5][1], TS + 1001, &pkt));
	cr_assert_eq(pkt.key.src_port, 1);
	check_balance(d);
	decode_free(d);
}

Test(decode, last_fragment_frees_its_slot)
{
	struct decode_config cfg = {.frag_table_size = 4, .frag_timeout_ms = 1000};
	struct decoder *d = decode_new(&cfg);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	static struct pktbuild frags[3];
	uint32_t i;

	/* Ten datagrams in turn through a 4-slot table: each frees its slot when done. */
	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 100);
	for (i = 0; i < 10; i++) {
		cr_assert_eq(pktbuild_fragment(&B, 500 + i, 64, frags, 2), 2);
		cr_assert(decode_b(d, &frags[0], TS, &pkt));
		cr_assert(decode_b(d, &frags[1], TS, &pkt));
		cr_assert_eq(pkt.key.src_port, 1, "datagram %u", i);
	}
	cr_assert_eq(s->frag_table_full, 0);
	cr_assert_eq(s->frag_matched, 10);

	/* A middle fragment reordered after the last one finds the slot freed. */
	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 140);
	cr_assert_eq(pktbuild_fragment(&B, 900, 64, frags, 3), 3);
	cr_assert(decode_b(d, &frags[0], TS, &pkt));
	cr_assert(decode_b(d, &frags[2], TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 1);
	cr_assert(decode_b(d, &frags[1], TS, &pkt));
	cr_assert_eq(pkt.key.src_port, 0);
	cr_assert_eq(s->frag_matched, 11);
	cr_assert_eq(s->frag_unmatched, 1);
	check_balance(d);
	decode_free(d);
}

Test(decode, many_fragmented_datagrams_fill_a_large_table)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	static struct pktbuild frags[2];
	uint32_t i;

	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 100);
	for (i = 0; i < 3000; i++) {
		cr_assert_eq(pktbuild_fragment(&B, i, 64, frags, 2), 2);
		cr_assert(decode_b(d, &frags[0], TS, &pkt));
		cr_assert(decode_b(d, &frags[1], TS, &pkt));
	}
	/* 3000 live datagrams in 4096 slots, 16 probes: every one fits. */
	cr_assert_eq(s->frag_table_full, 0);
	cr_assert_eq(s->frag_matched, 3000);
	decode_free(d);
}

/* ---- drop reasons --------------------------------------------------------------------- */

Test(decode, drop_non_ip)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_link_proto(&B, 0x0806); /* ARP */
	pktbuild_payload(&B, NULL, 28);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	pktbuild_link_proto(&B, 0x88cc); /* LLDP */
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	pktbuild_link_proto(&B, 0x0026); /* 802.3 length field */
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	pktbuild_init(&B, DECODE_LINK_LINUX_SLL);
	pktbuild_link_proto(&B, 0x0004); /* 802.2 LLC */
	pktbuild_payload(&B, NULL, 10);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_NON_IP, 4);
	decode_free(d);
}

Test(decode, drop_unsupported_link)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	cr_assert_not(decode_bytes(d, 105 /* IEEE 802.11 */, B.data, B.len, B.len, TS, &pkt));
	cr_assert_not(decode_bytes(d, -1, B.data, B.len, B.len, TS, &pkt));
	cr_assert_not(decode_bytes(d, 9999, B.data, 0, 0, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_UNSUPPORTED_LINK, 3);
	decode_free(d);
}

Test(decode, drop_truncated_l2)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x88a8, 1);
	pktbuild_vlan(&B, 0x8100, 2);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_not(decode_bytes(d, B.linktype, B.data, 13, B.wirelen, TS, &pkt));
	cr_assert_not(decode_bytes(d, B.linktype, B.data, 17, B.wirelen, TS, &pkt));
	cr_assert_not(decode_bytes(d, B.linktype, B.data, 21, B.wirelen, TS, &pkt));
	cr_assert_not(decode_bytes(d, DECODE_LINK_LINUX_SLL, B.data, 15, 100, TS, &pkt));
	cr_assert_not(decode_bytes(d, DECODE_LINK_LINUX_SLL2, B.data, 19, 100, TS, &pkt));
	cr_assert_not(decode_bytes(d, DECODE_LINK_NULL, B.data, 3, 100, TS, &pkt));
	cr_assert_not(decode_bytes(d, DECODE_LINK_LOOP, B.data, 0, 100, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_TRUNCATED_L2, 7);
	decode_free(d);
}

Test(decode, drop_bad_ip_version)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	pktbuild_set_ip_version(&B, 6);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_RAW, 6, 1, 2, 0, 0);
	pktbuild_set_ip_version(&B, 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_BAD_IP_VERSION, 2);
	decode_free(d);
}

Test(decode, drop_truncated_ip)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	uint8_t opts[8] = {1, 1, 1, 1, 1, 1, 1, 1};

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	pktbuild_truncate(&B, 14 + 19);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	pktbuild_truncate(&B, 14);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* Options not captured. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_ipv4_options(&B, opts, sizeof(opts));
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	pktbuild_truncate(&B, 27);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	build_tcp(&B, DECODE_LINK_RAW, 6, 1, 2, 0, 0);
	pktbuild_truncate(&B, 39);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* Extension header's length octet not captured. */
	build_v6_ext(&B, 60, 16);
	pktbuild_truncate(&B, 14 + 40 + 1);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	cr_assert_not(decode_bytes(d, DECODE_LINK_RAW, B.data, 0, 0, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_TRUNCATED_IP, 6);
	decode_free(d);
}

Test(decode, drop_bad_ip_hdr_len)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	pktbuild_set_ihl(&B, 4);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	pktbuild_set_ihl(&B, 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* IHL 15 (60 bytes) in a 40-byte packet. */
	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	pktbuild_set_ihl(&B, 15);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_BAD_IP_HDR_LEN, 3);
	decode_free(d);
}

Test(decode, drop_bad_ip_total_len)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 100);
	pktbuild_set_ip_len(&B, 19);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	pktbuild_set_ip_len(&B, 0); /* also how BIG TCP shows up */
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	pktbuild_set_ip_len(&B, 141); /* one more than the wire has */
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* A snaplen does not hide it: checked against wirelen. */
	pktbuild_truncate(&B, 64);
	cr_assert_not(decode_b(d, &B, TS, &pkt));

	build_tcp(&B, DECODE_LINK_LINUX_SLL, 6, 1, 2, 0, 100);
	pktbuild_set_ip_len(&B, 121);
	cr_assert_not(decode_b(d, &B, TS, &pkt));

	/* Jumbogram: payload length 0 and a hop-by-hop header with the jumbo option. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	B.data[42] = 0xc2;
	B.data[43] = 4;
	B.data[47] = 56;
	pktbuild_set_ip_len(&B, 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_BAD_IP_TOTAL_LEN, 6);

	/* Limits: a length that uses the whole wire is fine. */
	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 100);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.octets, 140);
	decode_free(d);
}

Test(decode, drop_bad_ipv6_ext)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	/* Destination options claims 16 bytes; the packet ends after 8. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_ipv6_ext(&B, 60, 8);
	pktbuild_proto(&B, 59);
	cr_assert_eq(pktbuild_finish(&B), 0);
	B.data[41] = 1;
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* The same with bytes captured past the IP length: still past the packet. */
	pktbuild_pad(&B, 64);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* AH length runs past the payload. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_ipv6_ext(&B, 51, 12);
	pktbuild_proto(&B, 59);
	cr_assert_eq(pktbuild_finish(&B), 0);
	B.data[41] = 2;
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* Chain announces a header but the payload length ends first. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_proto(&B, 43);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	/* Fragment header cut by the payload length. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_proto(&B, 44);
	pktbuild_payload(&B, NULL, 6);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert_not(decode_b(d, &B, TS, &pkt));
	expect_only_drops(d, DECODE_DROP_BAD_IPV6_EXT, 5);
	decode_free(d);
}

Test(decode, drop_names)
{
	static const char *const want[DECODE_DROP_COUNT] = {
		"non_ip",	"unsupported_link", "truncated_l2",	"bad_ip_version",
		"truncated_ip", "bad_ip_hdr_len",   "bad_ip_total_len", "bad_ipv6_ext",
	};
	int i;

	for (i = 0; i < DECODE_DROP_COUNT; i++)
		cr_assert_str_eq(decode_drop_name(i), want[i]);
	cr_assert_str_eq(decode_drop_name(DECODE_DROP_COUNT), "unknown");
	cr_assert_str_eq(decode_drop_name((enum decode_drop) - 1), "unknown");
}

Test(decode, free_null_is_a_noop)
{
	decode_free(NULL);
}

/* ---- truncation at every byte ---------------------------------------------------------- */

/* Exact outcome of every caplen of one Ethernet/IPv4/TCP frame. */
Test(decode, every_caplen_of_an_ipv4_tcp_frame)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	uint32_t caplen;

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 7, 8, PKTBUILD_TCP_SYN, 30);
	for (caplen = 0; caplen <= B.len; caplen++) {
		bool ok = decode_bytes(d, B.linktype, B.data, caplen, B.wirelen, TS, &pkt);

		cr_assert_eq(ok, caplen >= 34, "caplen %u", caplen);
		if (ok) {
			cr_assert_eq(pkt.octets, 70);
			cr_assert_eq(pkt.key.src_port, caplen >= 48 ? 7 : 0, "caplen %u", caplen);
			cr_assert_eq(pkt.tcp_flags, caplen >= 48 ? 2 : 0);
		}
	}
	cr_assert_eq(s->drops[DECODE_DROP_TRUNCATED_L2], 14);
	cr_assert_eq(s->drops[DECODE_DROP_TRUNCATED_IP], 20);
	cr_assert_eq(s->truncated_l4, 14);
	cr_assert_eq(s->decoded, B.len + 1 - 34);
	check_balance(d);
	decode_free(d);
}

static void every_caplen(struct decoder *d, const struct pktbuild *b, int frame_no)
{
	struct decode_pkt pkt;
	uint32_t caplen;

	cr_assert_eq(b->err, 0);
	for (caplen = 0; caplen <= b->len; caplen++) {
		/* As captured with a snaplen, and as if the wire itself were that short. */
		if (decode_bytes(d, b->linktype, b->data, caplen, b->wirelen, TS, &pkt))
			cr_assert_leq(pkt.octets + 0u, b->wirelen, "frame %d", frame_no);
		decode_bytes(d, b->linktype, b->data, caplen, caplen, TS, &pkt);
		check_balance(d);
	}
	/* The whole frame decodes. */
	cr_assert(decode_bytes(d, b->linktype, b->data, b->len, b->wirelen, TS, &pkt), "frame %d",
		  frame_no);
}

Test(decode, every_caplen_of_many_frames_balances)
{
	struct decoder *d = decode_new(NULL);
	uint8_t opts[12] = {0x94, 4, 0, 0, 1, 1, 1, 1};
	int n, i, f = 0;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x88a8, 10);
	pktbuild_vlan(&B, 0x8100, 20);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_ipv4_options(&B, opts, sizeof(opts));
	pktbuild_tcp(&B, 1, 2, PKTBUILD_TCP_SYN);
	pktbuild_payload(&B, NULL, 20);
	cr_assert_eq(pktbuild_finish(&B), 0);
	every_caplen(d, &B, f++);

	pktbuild_init(&B, DECODE_LINK_LINUX_SLL2);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_ipv6_ext(&B, 0, 16);
	pktbuild_ipv6_ext(&B, 43, 24);
	pktbuild_ipv6_ext(&B, 51, 16);
	pktbuild_ipv6_ext(&B, 135, 8);
	pktbuild_ipv6_ext(&B, 60, 8);
	pktbuild_udp(&B, 3, 4);
	pktbuild_payload(&B, NULL, 10);
	cr_assert_eq(pktbuild_finish(&B), 0);
	every_caplen(d, &B, f++);

	pktbuild_init(&B, DECODE_LINK_NULL);
	pktbuild_ipv4(&B, "10.0.0.1", "10.0.0.2");
	pktbuild_icmp(&B, 8, 0);
	cr_assert_eq(pktbuild_finish(&B), 0);
	every_caplen(d, &B, f++);

	pktbuild_init(&B, DECODE_LINK_LINUX_SLL);
	pktbuild_vlan(&B, 0x8100, 20);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_icmpv6(&B, 1, 3);
	pktbuild_payload(&B, NULL, 48);
	cr_assert_eq(pktbuild_finish(&B), 0);
	every_caplen(d, &B, f++);

	pktbuild_init(&B, DECODE_LINK_LOOP);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_sctp(&B, 5, 6);
	cr_assert_eq(pktbuild_finish(&B), 0);
	every_caplen(d, &B, f++);

	build_tcp(&B, DECODE_LINK_RAW, 6, 1, 2, 0, 5);
	every_caplen(d, &B, f++);
	build_tcp(&B, DECODE_LINK_IPV4, 4, 1, 2, 0, 5);
	every_caplen(d, &B, f++);
	build_tcp(&B, DECODE_LINK_IPV6, 6, 1, 2, 0, 5);
	every_caplen(d, &B, f++);

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, "fd00::1", "fd00::2");
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_udp(&B, 1, 2);
	pktbuild_payload(&B, NULL, 100);
	cr_assert_eq(pktbuild_finish(&B), 0);
	n = pktbuild_fragment(&B, 1, 48, FR, 8);
	cr_assert_eq(n, 3);
	for (i = 0; i < n; i++)
		every_caplen(d, &FR[i], f++);

	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1, 2, 0, 100);
	n = pktbuild_fragment(&B, 2, 64, FR, 8);
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++)
		every_caplen(d, &FR[i], f++);
	pktbuild_pad(&B, 18);
	every_caplen(d, &B, f++);

	cr_assert_gt(decode_get_stats(d)->frag_matched, 0);
	cr_assert_gt(decode_get_stats(d)->truncated_l4, 0);
	decode_free(d);
}

/* Write an IP protocol/family field for the link type; returns the link header length. */
static uint32_t link_proto(int link, uint8_t *buf, int version)
{
	uint8_t et_hi = version == 4 ? 0x08 : 0x86, et_lo = version == 4 ? 0x00 : 0xdd;
	uint8_t fam = version == 4 ? 2 : 24;

	switch (link) {
	case DECODE_LINK_EN10MB:
		buf[12] = et_hi;
		buf[13] = et_lo;
		return 14;
	case DECODE_LINK_LINUX_SLL:
		buf[14] = et_hi;
		buf[15] = et_lo;
		return 16;
	case DECODE_LINK_LINUX_SLL2:
		buf[0] = et_hi;
		buf[1] = et_lo;
		return 20;
	case DECODE_LINK_NULL:
		memset(buf, 0, 4);
		buf[0] = fam;
		return 4;
	case DECODE_LINK_LOOP:
		memset(buf, 0, 4);
		buf[3] = fam;
		return 4;
	default:
		return 0;
	}
}

/* Random bytes behind valid link headers: never a crash, always balanced. */
Test(decode, random_frames_balance)
{
	static const int links[] = {DECODE_LINK_EN10MB,	    DECODE_LINK_LINUX_SLL,
				    DECODE_LINK_LINUX_SLL2, DECODE_LINK_NULL,
				    DECODE_LINK_LOOP,	    DECODE_LINK_RAW,
				    DECODE_LINK_IPV4,	    DECODE_LINK_IPV6};
	struct decode_config cfg = {.frag_table_size = 16, .frag_timeout_ms = 100};
	struct decoder *d = decode_new(&cfg);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	uint8_t buf[160];
	static const uint8_t ext_types[7] = {0, 43, 44, 51, 60, 135, 6};
	uint32_t x = 12345, i, j, len;

	for (i = 0; i < 40000; i++) {
		int link = links[i % 8];

		for (j = 0; j < sizeof(buf); j++) {
			x = x * 1103515245u + 12345u;
			buf[j] = (uint8_t)(x >> 16);
		}
		/* Bias towards IP so the deeper layers get exercised. */
		j = link_proto(link, buf, (i & 16) ? 6 : 4);
		len = (x >> 8) % sizeof(buf);
		/* Plausible version and length fields, sometimes off by a little. */
		if ((i & 32) && len > j + 40) {
			uint32_t iplen = len - j + (x & 3);

			if (i & 16) {
				buf[j] = 0x60;
				buf[j + 4] = 0;
				buf[j + 5] = (uint8_t)(iplen - 40);
				buf[j + 6] = ext_types[(x >> 4) % 7];
				buf[j + 41] &= 3;
			} else {
				buf[j] = (uint8_t)(0x45 + (buf[j] & 3));
				buf[j + 2] = 0;
				buf[j + 3] = (uint8_t)iplen;
				buf[j + 9] = (uint8_t)((x >> 4) % 3 == 0 ? 6 : 17);
			}
		}
		decode_bytes(d, link, buf, len, len + (x & 0x3f), i, &pkt);
	}
	cr_assert_eq(s->frames, 40000);
	cr_assert_gt(s->decoded, 0);
	check_balance(d);
	decode_free(d);
}

/* ---- direction ------------------------------------------------------------------------- */

Test(decode, direction_from_cooked_packet_type)
{
	static const int links[] = {DECODE_LINK_LINUX_SLL, DECODE_LINK_LINUX_SLL2};
	/* PACKET_HOST, _BROADCAST, _MULTICAST, _OTHERHOST, _OUTGOING */
	static const uint8_t types[] = {0, 1, 2, 3, 4};
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		for (j = 0; j < sizeof(types); j++) {
			uint8_t want = types[j] == 4 ? DECODE_DIR_EGRESS : DECODE_DIR_INGRESS;

			build_tcp(&B, links[i], 4, 1, 2, 0, 0);
			pktbuild_sll_pkttype(&B, types[j]);
			cr_assert(decode_b(d, &B, TS, &pkt));
			cr_assert_eq(pkt.key.direction, want, "link %d type %u", links[i],
				     types[j]);
			/* Any value but INGRESS/EGRESS means unknown. */
			cr_assert(decode_bytes_dir(d, B.linktype, B.data, B.len, B.wirelen, TS, 7,
						   &pkt));
			cr_assert_eq(pkt.key.direction, want);
			/* A known direction wins over the packet type. */
			cr_assert(decode_bytes_dir(d, B.linktype, B.data, B.len, B.wirelen, TS,
						   DECODE_DIR_EGRESS, &pkt));
			cr_assert_eq(pkt.key.direction, DECODE_DIR_EGRESS);
			cr_assert(decode_bytes_dir(d, B.linktype, B.data, B.len, B.wirelen, TS,
						   DECODE_DIR_INGRESS, &pkt));
			cr_assert_eq(pkt.key.direction, DECODE_DIR_INGRESS);
		}
	}
	/* Links without a packet type: ingress unless told. */
	build_tcp(&B, DECODE_LINK_EN10MB, 6, 1, 2, 0, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.direction, DECODE_DIR_INGRESS);
	cr_assert(decode_bytes_dir(d, B.linktype, B.data, B.len, B.wirelen, TS, DECODE_DIR_EGRESS,
				   &pkt));
	cr_assert_eq(pkt.key.direction, DECODE_DIR_EGRESS);
	build_tcp(&B, DECODE_LINK_RAW, 4, 1, 2, 0, 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.direction, DECODE_DIR_INGRESS);
	check_balance(d);
	decode_free(d);
}

Test(decode, direction_is_part_of_the_key_bytes)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt in, out;

	build_tcp(&B, DECODE_LINK_LINUX_SLL2, 4, 1, 2, 0, 0);
	pktbuild_sll_pkttype(&B, 0);
	cr_assert(decode_b(d, &B, TS, &in));
	pktbuild_sll_pkttype(&B, 4);
	cr_assert(decode_b(d, &B, TS, &out));
	cr_assert_neq(memcmp(&in.key, &out.key, sizeof(in.key)), 0);
	out.key.direction = DECODE_DIR_INGRESS;
	cr_assert_arr_eq(&in.key, &out.key, sizeof(in.key));
	decode_free(d);
}

/* ---- overlays -------------------------------------------------------------------------- */

#define OUTER4_SRC    "192.0.2.1"
#define OUTER4_DST    "192.0.2.2"
#define OUTER6_SRC    "2001:db8::a"
#define OUTER6_DST    "2001:db8::b"
#define INNER4_SRC    "10.244.0.12"
#define INNER4_DST    "10.244.1.15"
#define INNER6_SRC    "fd00:10:244::11"
#define INNER6_DST    "fd00:10:244::1a"
#define OUTER_SPORT   50123
#define INNER_SPORT   40000
#define INNER_DPORT   443
#define INNER_PAYLOAD 100

/* One tunnelled test frame: TCP INNER_SPORT -> INNER_DPORT with INNER_PAYLOAD bytes. */
struct tun_spec {
	int link;
	uint8_t type;	    /* enum decode_tunnel */
	uint8_t outer_v;    /* 4 or 6 */
	uint8_t inner_v;    /* 4 or 6 */
	uint16_t port;	    /* VXLAN: 4789 (default) or 8472 */
	uint32_t id;	    /* VNI; the whole GRE key (NVGRE: VSID << 8 | FlowID) */
	uint16_t gre_flags; /* PKTBUILD_GRE_*; NVGRE always has K */
	uint32_t geneve_opt;
	bool geneve_ip; /* Geneve carries IP directly instead of Ethernet */
	uint16_t outer_vlan;
	uint16_t inner_vlan; /* a tag inside the tunnel's Ethernet frame */
};

static bool tun_has_eth(const struct tun_spec *t)
{
	return t->type == DECODE_TUNNEL_VXLAN || t->type == DECODE_TUNNEL_NVGRE ||
	       (t->type == DECODE_TUNNEL_GENEVE && !t->geneve_ip);
}

/* Push the outer headers and the tunnel header(s), up to where the inner IP goes. */
static void tun_push_outer(struct pktbuild *b, const struct tun_spec *t)
{
	pktbuild_init(b, t->link);
	if (t->outer_vlan)
		pktbuild_vlan(b, 0x8100, t->outer_vlan);
	if (t->outer_v == 4)
		pktbuild_ipv4(b, OUTER4_SRC, OUTER4_DST);
	else
		pktbuild_ipv6(b, OUTER6_SRC, OUTER6_DST);
	switch (t->type) {
	case DECODE_TUNNEL_VXLAN:
		pktbuild_udp(b, OUTER_SPORT, t->port ? t->port : 4789);
		pktbuild_vxlan(b, t->id);
		break;
	case DECODE_TUNNEL_GENEVE:
		pktbuild_udp(b, OUTER_SPORT, 6081);
		pktbuild_geneve(b, t->id, t->geneve_opt);
		break;
	case DECODE_TUNNEL_GRE:
		pktbuild_gre(b, t->gre_flags, t->id, 77);
		break;
	case DECODE_TUNNEL_NVGRE:
		pktbuild_gre(b, t->gre_flags | PKTBUILD_GRE_K, t->id, 77);
		break;
	default: /* IP-in-IP: the inner header follows directly */
		break;
	}
	if (tun_has_eth(t)) {
		pktbuild_eth(b);
		if (t->inner_vlan)
			pktbuild_vlan(b, 0x8100, t->inner_vlan);
	}
}

static void tun_push_inner_ip(struct pktbuild *b, const struct tun_spec *t)
{
	if (t->inner_v == 4)
		pktbuild_ipv4(b, INNER4_SRC, INNER4_DST);
	else
		pktbuild_ipv6(b, INNER6_SRC, INNER6_DST);
}

static void build_tunnel(struct pktbuild *b, const struct tun_spec *t)
{
	tun_push_outer(b, t);
	tun_push_inner_ip(b, t);
	pktbuild_tcp(b, INNER_SPORT, INNER_DPORT, PKTBUILD_TCP_SYN);
	pktbuild_payload(b, NULL, INNER_PAYLOAD);
	cr_assert_eq(pktbuild_finish(b), 0, "build: %d", b->err);
}

static uint32_t tun_want_id(const struct tun_spec *t)
{
	switch (t->type) {
	case DECODE_TUNNEL_VXLAN:
	case DECODE_TUNNEL_GENEVE:
		return t->id & 0xffffff;
	case DECODE_TUNNEL_GRE:
		return (t->gre_flags & PKTBUILD_GRE_K) ? t->id : 0;
	case DECODE_TUNNEL_NVGRE:
		return t->id >> 8;
	default:
		return 0;
	}
}

static void set_addrs(struct flow_key *k, int version, const char *src, const char *dst)
{
	int af = version == 4 ? AF_INET : AF_INET6;

	cr_assert_eq(inet_pton(af, src, k->src_addr), 1);
	cr_assert_eq(inet_pton(af, dst, k->dst_addr), 1);
	k->ip_version = (uint8_t)version;
}

/* pktbuild's cooked headers say "outgoing"; the others say nothing (ingress). */
static uint8_t tun_direction(const struct tun_spec *t)
{
	return t->link == DECODE_LINK_LINUX_SLL || t->link == DECODE_LINK_LINUX_SLL2
		       ? DECODE_DIR_EGRESS
		       : DECODE_DIR_INGRESS;
}

/* The inner-view key of a tun_spec frame decoded with ifindex 7, direction unknown. */
static void tun_inner_key(struct flow_key *k, const struct tun_spec *t)
{
	memset(k, 0, sizeof(*k));
	if (t->inner_v == 4)
		set_addrs(k, 4, INNER4_SRC, INNER4_DST);
	else
		set_addrs(k, 6, INNER6_SRC, INNER6_DST);
	k->ifindex = 7;
	k->direction = tun_direction(t);
	k->tunnel_id = tun_want_id(t);
	k->src_port = INNER_SPORT;
	k->dst_port = INNER_DPORT;
	k->vlan_id = t->outer_vlan;
	k->proto = 6;
	k->tunnel_type = t->type;
}

/* The outer-view key: outer addresses, UDP ports or none, the outer protocol. */
static void tun_outer_key(struct flow_key *k, const struct tun_spec *t, bool tunnelled)
{
	memset(k, 0, sizeof(*k));
	if (t->outer_v == 4)
		set_addrs(k, 4, OUTER4_SRC, OUTER4_DST);
	else
		set_addrs(k, 6, OUTER6_SRC, OUTER6_DST);
	k->ifindex = 7;
	k->direction = tun_direction(t);
	k->vlan_id = t->outer_vlan;
	switch (t->type) {
	case DECODE_TUNNEL_VXLAN:
	case DECODE_TUNNEL_GENEVE:
		k->proto = 17;
		k->src_port = OUTER_SPORT;
		k->dst_port = t->type == DECODE_TUNNEL_GENEVE ? 6081 : t->port ? t->port : 4789;
		break;
	case DECODE_TUNNEL_IPIP:
		k->proto = t->inner_v == 4 ? 4 : 41;
		break;
	default:
		k->proto = 47;
		break;
	}
	if (tunnelled) {
		k->tunnel_type = t->type;
		k->tunnel_id = tun_want_id(t);
	}
}

static void expect_key(const struct flow_key *got, const struct flow_key *want, const char *what)
{
	if (memcmp(got, want, sizeof(*want)) != 0) {
		char gs[INET6_ADDRSTRLEN], ws[INET6_ADDRSTRLEN];

		inet_ntop(got->ip_version == 4 ? AF_INET : AF_INET6, got->src_addr, gs, sizeof(gs));
		inet_ntop(want->ip_version == 4 ? AF_INET : AF_INET6, want->src_addr, ws,
			  sizeof(ws));
		cr_assert_fail("%s: key differs: got %s v%u proto %u ports %u>%u tunnel %u/%u "
			       "vlan %u dir %u; want %s v%u proto %u ports %u>%u tunnel %u/%u "
			       "vlan %u dir %u",
			       what, gs, got->ip_version, got->proto, got->src_port, got->dst_port,
			       got->tunnel_type, got->tunnel_id, got->vlan_id, got->direction, ws,
			       want->ip_version, want->proto, want->src_port, want->dst_port,
			       want->tunnel_type, want->tunnel_id, want->vlan_id, want->direction);
	}
}

static uint32_t inner_octets(const struct tun_spec *t)
{
	return (t->inner_v == 4 ? 20u : 40u) + 20 + INNER_PAYLOAD;
}

/* The outer IP length field (the frame's outer header is always captured here). */
static uint32_t outer_octets(const struct pktbuild *b)
{
	const uint8_t *ip = b->data + pktbuild_outer_ip_offset(b);

	if ((ip[0] >> 4) == 4)
		return (uint32_t)ip[2] << 8 | ip[3];
	return ((uint32_t)ip[4] << 8 | ip[5]) + 40;
}

/* The inner view of a frame: exact key, octets, flags and outer addresses. */
static void expect_inner_view(const struct decode_pkt *pkt, const struct tun_spec *t,
			      const char *what)
{
	struct flow_key want;
	uint8_t zero[16] = {0};

	tun_inner_key(&want, t);
	expect_key(&pkt->key, &want, what);
	cr_assert_eq(pkt->octets, inner_octets(t), "%s", what);
	cr_assert_eq(pkt->tcp_flags, PKTBUILD_TCP_SYN, "%s", what);
	cr_assert_not(pkt->fragment);
	cr_assert_eq(pkt->ts_ms, TS);
	cr_assert_eq(pkt->outer_ip_version, t->outer_v, "%s", what);
	if (t->outer_v == 4) {
		expect_addr(pkt->outer_src_addr, AF_INET, OUTER4_SRC);
		expect_addr(pkt->outer_dst_addr, AF_INET, OUTER4_DST);
	} else {
		expect_addr(pkt->outer_src_addr, AF_INET6, OUTER6_SRC);
		expect_addr(pkt->outer_dst_addr, AF_INET6, OUTER6_DST);
	}
	cr_assert_neq(memcmp(pkt->outer_src_addr, zero, 16), 0);
}

/* The outer view (or a tunnel decoded as its outer packet when !tunnelled). */
static void expect_outer_view(const struct decode_pkt *pkt, const struct pktbuild *b,
			      const struct tun_spec *t, bool tunnelled, const char *what)
{
	struct flow_key want;
	uint8_t zero[16] = {0};

	tun_outer_key(&want, t, tunnelled);
	expect_key(&pkt->key, &want, what);
	cr_assert_eq(pkt->octets, outer_octets(b), "%s", what);
	cr_assert_eq(pkt->tcp_flags, 0, "%s", what);
	cr_assert_eq(pkt->outer_ip_version, 0, "%s", what);
	cr_assert_arr_eq(pkt->outer_src_addr, zero, 16);
	cr_assert_arr_eq(pkt->outer_dst_addr, zero, 16);
}

static struct decoder *decoder_with_view(uint8_t view)
{
	struct decode_config cfg = {.tunnel_view = view};
	struct decoder *d = decode_new(&cfg);

	cr_assert_not_null(d);
	return d;
}

/* Every tunnel kind, over IPv4 and IPv6, carrying IPv4 and IPv6, on several link types. */
static const struct tun_spec tun_kinds[] = {
	{.type = DECODE_TUNNEL_VXLAN, .id = 0xabc123},
	{.type = DECODE_TUNNEL_VXLAN, .port = 8472, .id = 1},
	{.type = DECODE_TUNNEL_GENEVE, .id = 0xfedcba, .geneve_opt = 8},
	{.type = DECODE_TUNNEL_GENEVE, .id = 77, .geneve_ip = true},
	{.type = DECODE_TUNNEL_IPIP},
	{.type = DECODE_TUNNEL_GRE},
	{.type = DECODE_TUNNEL_GRE, .id = 0xdeadbeef, .gre_flags = PKTBUILD_GRE_K},
	{.type = DECODE_TUNNEL_NVGRE, .id = 0x12345678},
};

#define N_TUN_KINDS (sizeof(tun_kinds) / sizeof(tun_kinds[0]))

static const int tun_links[] = {DECODE_LINK_EN10MB, DECODE_LINK_LINUX_SLL2, DECODE_LINK_RAW};

/* Loop over every kind x link x outer version x inner version with t set to the case. */
#define FOR_EACH_TUN(t)                                                                            \
	for (size_t k_ = 0; k_ < N_TUN_KINDS; k_++)                                                \
		for (size_t l_ = 0; l_ < 3; l_++)                                                  \
			for (int ov_ = 4; ov_ <= 6; ov_ += 2)                                      \
				for (int iv_ = 4; iv_ <= 6; iv_ += 2)                              \
					if ((t = tun_kinds[k_], t.link = tun_links[l_],            \
					     t.outer_v = (uint8_t)ov_, t.inner_v = (uint8_t)iv_,   \
					     true))

Test(decode, tunnel_inner_view_every_kind)
{
	struct decoder *d = decoder_with_view(DECODE_VIEW_INNER);
	const struct decode_stats *s = decode_get_stats(d);
	uint64_t per_type[DECODE_TUNNEL_COUNT] = {0}, n = 0;
	struct decode_pkt pkt;
	struct tun_spec t;
	char what[96];

	FOR_EACH_TUN(t)
	{
		snprintf(what, sizeof(what), "type %u link %d v%u-in-v%u", t.type, t.link,
			 t.inner_v, t.outer_v);
		build_tunnel(&B, &t);
		memset(&pkt, 0xee, sizeof(pkt));
		cr_assert(decode_b(d, &B, TS, &pkt), "%s", what);
		expect_inner_view(&pkt, &t, what);
		cr_assert_not(decode_outer_view(d, &pkt), "%s", what);
		per_type[t.type]++;
		n++;
	}
	cr_assert_eq(s->decoded, n);
	cr_assert_eq(s->tunnelled, n);
	for (int i = 0; i < DECODE_TUNNEL_COUNT; i++)
		cr_assert_eq(s->tunnel_type[i], per_type[i], "type %d", i);
	cr_assert_eq(s->tunnel_malformed + s->tunnel_not_ip + s->tunnel_outer_frag, 0);
	cr_assert_eq(s->outer_views, 0);
	cr_assert_eq(s->truncated_l4, 0);
	check_balance(d);
	decode_free(d);
}

Test(decode, tunnel_outer_view_every_kind)
{
	struct decoder *d = decoder_with_view(DECODE_VIEW_OUTER);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	struct tun_spec t;
	uint64_t n = 0;
	char what[96];

	FOR_EACH_TUN(t)
	{
		snprintf(what, sizeof(what), "type %u link %d v%u-in-v%u", t.type, t.link,
			 t.inner_v, t.outer_v);
		build_tunnel(&B, &t);
		memset(&pkt, 0xee, sizeof(pkt));
		cr_assert(decode_b(d, &B, TS, &pkt), "%s", what);
		expect_outer_view(&pkt, &B, &t, true, what);
		cr_assert_not(decode_outer_view(d, &pkt));
		n++;
	}
	cr_assert_eq(s->decoded, n);
	cr_assert_eq(s->tunnelled, n);
	cr_assert_eq(s->outer_views, 0);
	check_balance(d);
	decode_free(d);
}

Test(decode, tunnel_both_views_match_the_single_views)
{
	struct decoder *both = decoder_with_view(DECODE_VIEW_BOTH);
	struct decoder *inner = decoder_with_view(DECODE_VIEW_INNER);
	struct decoder *outer = decoder_with_view(DECODE_VIEW_OUTER);
	const struct decode_stats *s = decode_get_stats(both);
	struct decode_pkt pb, pi, po;
	struct tun_spec t;
	uint64_t n = 0;
	char what[96];

	FOR_EACH_TUN(t)
	{
		snprintf(what, sizeof(what), "type %u link %d v%u-in-v%u", t.type, t.link,
			 t.inner_v, t.outer_v);
		build_tunnel(&B, &t);
		cr_assert(decode_b(both, &B, TS, &pb));
		cr_assert(decode_b(inner, &B, TS, &pi));
		cr_assert(decode_b(outer, &B, TS, &po));
		expect_inner_view(&pb, &t, what);
		expect_key(&pb.key, &pi.key, what);
		memset(&pb, 0xee, sizeof(pb));
		cr_assert(decode_outer_view(both, &pb), "%s", what);
		expect_outer_view(&pb, &B, &t, true, what);
		expect_key(&pb.key, &po.key, what);
		cr_assert_eq(pb.octets, po.octets);
		cr_assert_eq(pb.tos, po.tos);
		cr_assert_eq(pb.ts_ms, TS);
		/* Once per frame. */
		cr_assert_not(decode_outer_view(both, &pb));
		n++;
	}
	cr_assert_eq(s->frames, n);
	cr_assert_eq(s->decoded, n);
	cr_assert_eq(s->outer_views, n);
	check_balance(both);

	/* A plain packet has no outer view, nor has a dropped frame after a tunnel. */
	build_tunnel(&B, &tun_kinds[0]);
	cr_assert(decode_b(both, &B, TS, &pb));
	build_tcp(&B2, DECODE_LINK_EN10MB, 4, 1, 2, 0, 0);
	cr_assert(decode_b(both, &B2, TS, &pb));
	cr_assert_not(decode_outer_view(both, &pb));
	cr_assert_eq(pb.outer_ip_version, 0);
	build_tunnel(&B, &tun_kinds[0]);
	cr_assert(decode_b(both, &B, TS, &pb));
	pktbuild_truncate(&B, 10);
	cr_assert_not(decode_b(both, &B, TS, &pb));
	cr_assert_not(decode_outer_view(both, &pb));
	cr_assert_eq(s->outer_views, n);
	check_balance(both);
	decode_free(both);
	decode_free(inner);
	decode_free(outer);
}

Test(decode, tunnel_vlan_comes_from_the_outer_frame)
{
	struct decoder *d = decoder_with_view(DECODE_VIEW_BOTH);
	struct tun_spec t = {.link = DECODE_LINK_EN10MB, .outer_v = 4, .inner_v = 4, .id = 9};
	static const uint8_t eth_kinds[] = {DECODE_TUNNEL_VXLAN, DECODE_TUNNEL_GENEVE,
					    DECODE_TUNNEL_NVGRE};
	struct decode_pkt pkt;
	size_t i;

	for (i = 0; i < sizeof(eth_kinds); i++) {
		t.type = eth_kinds[i];
		/* Outer tag only. */
		t.outer_vlan = 100;
		t.inner_vlan = 0;
		build_tunnel(&B, &t);
		cr_assert(decode_b(d, &B, TS, &pkt));
		expect_inner_view(&pkt, &t, "outer tag");
		cr_assert_eq(pkt.key.vlan_id, 100);
		cr_assert_eq(pkt.inner_vlan_id, 0);
		/* Inner tag only: skipped, not keyed. */
		t.outer_vlan = 0;
		t.inner_vlan = 200;
		build_tunnel(&B, &t);
		cr_assert(decode_b(d, &B, TS, &pkt));
		expect_inner_view(&pkt, &t, "inner tag");
		cr_assert_eq(pkt.key.vlan_id, 0);
		cr_assert_eq(pkt.inner_vlan_id, 0);
		/* Both. */
		t.outer_vlan = 300;
		build_tunnel(&B, &t);
		cr_assert(decode_b(d, &B, TS, &pkt));
		expect_inner_view(&pkt, &t, "both tags");
		cr_assert(decode_outer_view(d, &pkt));
		cr_assert_eq(pkt.key.vlan_id, 300);
	}

	/* Outer QinQ and an inner QinQ: the outer pair is reported in both views. */
	t.type = DECODE_TUNNEL_VXLAN;
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_vlan(&B, 0x88a8, 1000);
	pktbuild_vlan(&B, 0x8100, 10);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_udp(&B, OUTER_SPORT, 4789);
	pktbuild_vxlan(&B, 9);
	pktbuild_eth(&B);
	pktbuild_vlan(&B, 0x88a8, 2000);
	pktbuild_vlan(&B, 0x8100, 20);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_tcp(&B, INNER_SPORT, INNER_DPORT, PKTBUILD_TCP_SYN);
	pktbuild_payload(&B, NULL, INNER_PAYLOAD);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	t.outer_vlan = 1000;
	expect_inner_view(&pkt, &t, "qinq");
	cr_assert_eq(pkt.inner_vlan_id, 10);
	cr_assert(decode_outer_view(d, &pkt));
	cr_assert_eq(pkt.key.vlan_id, 1000);
	cr_assert_eq(pkt.inner_vlan_id, 10);
	check_balance(d);
	decode_free(d);
}

Test(decode, geneve_options_are_skipped)
{
	static const uint32_t opts[] = {0, 4, 8, 12, 124, 128, 132, 252};
	struct decoder *d = decode_new(NULL);
	struct tun_spec t = {.link = DECODE_LINK_EN10MB,
			     .type = DECODE_TUNNEL_GENEVE,
			     .outer_v = 6,
			     .id = 0x00a0b0c0};
	struct decode_pkt pkt;
	char what[64];
	size_t i;
	int ip;

	for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		for (ip = 0; ip < 3; ip++) {
			/* Ethernet (0x6558), IPv4 (0x0800), IPv6 (0x86dd) inside. */
			t.geneve_opt = opts[i];
			t.geneve_ip = ip != 0;
			t.inner_v = ip == 2 ? 6 : 4;
			snprintf(what, sizeof(what), "options %u inner %d", opts[i], ip);
			build_tunnel(&B, &t);
			cr_assert_eq(B.data[pktbuild_tunnel_offset(&B)] & 0x3f, opts[i] / 4);
			cr_assert(decode_b(d, &B, TS, &pkt), "%s", what);
			expect_inner_view(&pkt, &t, what);
		}
	}
	cr_assert_eq(decode_get_stats(d)->tunnel_type[DECODE_TUNNEL_GENEVE], 24);
	check_balance(d);
	decode_free(d);
}

Test(decode, gre_checksum_key_sequence_combinations)
{
	struct decoder *d = decode_new(NULL);
	struct tun_spec t = {.link = DECODE_LINK_EN10MB, .outer_v = 4, .id = 0x01020304};
	struct decode_pkt pkt;
	char what[64];
	uint16_t f;
	int v;

	for (f = 0; f < 8; f++) {
		for (v = 4; v <= 6; v += 2) {
			t.gre_flags = (uint16_t)((f & 1 ? PKTBUILD_GRE_C : 0) |
						 (f & 2 ? PKTBUILD_GRE_K : 0) |
						 (f & 4 ? PKTBUILD_GRE_S : 0));
			t.inner_v = (uint8_t)v;
			t.type = DECODE_TUNNEL_GRE;
			snprintf(what, sizeof(what), "GRE flags %#x v%d", t.gre_flags, v);
			build_tunnel(&B, &t);
			cr_assert(decode_b(d, &B, TS, &pkt), "%s", what);
			expect_inner_view(&pkt, &t, what);
			cr_assert_eq(pkt.key.tunnel_id, (f & 2) ? 0x01020304u : 0u);
			/* NVGRE: K is always there; the VSID is the key's upper 24 bits. */
			t.type = DECODE_TUNNEL_NVGRE;
			snprintf(what, sizeof(what), "NVGRE flags %#x v%d", t.gre_flags, v);
			build_tunnel(&B, &t);
			cr_assert(decode_b(d, &B, TS, &pkt), "%s", what);
			expect_inner_view(&pkt, &t, what);
			cr_assert_eq(pkt.key.tunnel_id, 0x010203);
		}
	}
	cr_assert_eq(decode_get_stats(d)->tunnel_type[DECODE_TUNNEL_GRE], 16);
	cr_assert_eq(decode_get_stats(d)->tunnel_type[DECODE_TUNNEL_NVGRE], 16);
	check_balance(d);
	decode_free(d);
}

Test(decode, gre_transparent_ethernet_without_key_is_nvgre_vsid_0)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_gre(&B, 0, 0, 0);
	pktbuild_eth(&B);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NVGRE);
	cr_assert_eq(pkt.key.tunnel_id, 0);
	cr_assert_eq(pkt.key.dst_port, 2);
	expect_addr(pkt.key.src_addr, AF_INET, INNER4_SRC);
	decode_free(d);
}

Test(decode, outer_ipv6_extension_headers_before_the_tunnel)
{
	struct decoder *d = decode_new(NULL);
	struct tun_spec t = {.link = DECODE_LINK_EN10MB, .outer_v = 6, .inner_v = 4};
	struct decode_pkt pkt;

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_ipv6_ext(&B, 60, 16);
	pktbuild_ipv6_ext(&B, 44, 8); /* atomic fragment: not a fragment */
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_tcp(&B, INNER_SPORT, INNER_DPORT, PKTBUILD_TCP_SYN);
	pktbuild_payload(&B, NULL, INNER_PAYLOAD);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	t.type = DECODE_TUNNEL_IPIP;
	expect_inner_view(&pkt, &t, "ipip after extension headers");

	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
	pktbuild_ipv6_ext(&B, 43, 24);
	pktbuild_udp(&B, OUTER_SPORT, 4789);
	pktbuild_vxlan(&B, 5);
	pktbuild_eth(&B);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_tcp(&B, INNER_SPORT, INNER_DPORT, PKTBUILD_TCP_SYN);
	pktbuild_payload(&B, NULL, INNER_PAYLOAD);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	t.type = DECODE_TUNNEL_VXLAN;
	t.id = 5;
	expect_inner_view(&pkt, &t, "vxlan after a routing header");
	check_balance(d);
	decode_free(d);
}

Test(decode, not_a_tunnel)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	uint8_t zero[16] = {0};

	/* Tunnel ports as source, or on TCP, are ordinary flows. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_udp(&B, 4789, 53);
	pktbuild_vxlan(&B, 1);
	pktbuild_eth(&B);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
	cr_assert_eq(pkt.key.src_port, 4789);
	cr_assert_eq(pkt.outer_ip_version, 0);
	cr_assert_arr_eq(pkt.outer_src_addr, zero, 16);
	build_tcp(&B, DECODE_LINK_EN10MB, 4, 1000, 6081, 0, 40);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
	cr_assert_eq(pkt.key.dst_port, 6081);
	cr_assert_eq(s->decoded, 2);
	cr_assert_eq(s->tunnel_type[DECODE_TUNNEL_NONE], 2);
	cr_assert_eq(s->tunnelled + s->tunnel_malformed + s->tunnel_not_ip, 0);
	check_balance(d);
	decode_free(d);
}

Test(decode, tunnel_in_tunnel_keys_the_first_inner_packet)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	/* GRE (key 5) around VXLAN (VNI 6) around TCP: the key is the VXLAN UDP flow. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_gre(&B, PKTBUILD_GRE_K, 5, 0);
	pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
	pktbuild_udp(&B, OUTER_SPORT, 4789);
	pktbuild_vxlan(&B, 6);
	pktbuild_eth(&B);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_tcp(&B, INNER_SPORT, INNER_DPORT, PKTBUILD_TCP_SYN);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_GRE);
	cr_assert_eq(pkt.key.tunnel_id, 5);
	cr_assert_eq(pkt.key.ip_version, 6);
	cr_assert_eq(pkt.key.proto, 17);
	cr_assert_eq(pkt.key.src_port, OUTER_SPORT);
	cr_assert_eq(pkt.key.dst_port, 4789);
	expect_addr(pkt.key.src_addr, AF_INET6, OUTER6_SRC);
	expect_addr(pkt.outer_src_addr, AF_INET, OUTER4_SRC);
	cr_assert_eq(pkt.octets, B.len - 14 - 20 - 8);

	/* IP-in-IP in IP-in-IP: the middle header. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_IPIP);
	cr_assert_eq(pkt.key.proto, 4);
	cr_assert_eq(pkt.key.src_port, 0);
	expect_addr(pkt.key.src_addr, AF_INET, OUTER4_SRC);
	expect_addr(pkt.outer_dst_addr, AF_INET6, OUTER6_DST);
	cr_assert_eq(decode_get_stats(d)->tunnelled, 2);
	check_balance(d);
	decode_free(d);
}

/* ---- tunnels decoded as their outer packet --------------------------------------------- */

enum tun_damage {
	DMG_VXLAN_NO_I_FLAG,
	DMG_VXLAN_SHORT_UDP,	 /* UDP 4789 with 6 payload bytes */
	DMG_CUT_TUNNEL_HEADER,	 /* caplen ends inside the tunnel header */
	DMG_CUT_INNER_ETH,	 /* caplen ends inside the inner Ethernet header */
	DMG_CUT_INNER_VLAN,	 /* caplen ends inside an inner VLAN tag */
	DMG_CUT_INNER_IP,	 /* caplen ends inside the inner IP header */
	DMG_INNER_VERSION,	 /* inner version nibble disagrees */
	DMG_INNER_LEN_BIG,	 /* inner IP length past the outer packet */
	DMG_INNER_IHL,		 /* inner IPv4 IHL 3 */
	DMG_INNER_V6_EXT,	 /* inner IPv6 extension header past the packet */
	DMG_GENEVE_VERSION,	 /* Geneve version 1 */
	DMG_GENEVE_OPTS_PAST,	 /* option length past the packet */
	DMG_GRE_ROUTING,	 /* R bit */
	DMG_GRE_CUT_OPTIONAL,	 /* caplen ends in the key field */
	DMG_OUTER_LEN_SHORT,	 /* outer IP length ends inside the inner header */
	DMG_OUTER_LEN_IN_TUNNEL, /* outer IP length ends inside the tunnel header */
	DMG_OUTER_LEN_IN_ETH,	 /* outer IP length ends inside the inner Ethernet header */
	DMG_NOT_IP_ARP,		 /* Ethernet tunnels: ARP inside */
	DMG_NOT_IP_GRE_PROTO,	 /* GRE/Geneve protocol type MPLS */
	DMG_NOT_IP_GRE_VERSION1, /* GRE version 1 */
	DMG_COUNT,
};

/* Does this damage apply to this kind? */
static bool dmg_applies(enum tun_damage k, const struct tun_spec *t)
{
	bool udp = t->type == DECODE_TUNNEL_VXLAN || t->type == DECODE_TUNNEL_GENEVE;
	bool gre = t->type == DECODE_TUNNEL_GRE || t->type == DECODE_TUNNEL_NVGRE;

	switch (k) {
	case DMG_VXLAN_NO_I_FLAG:
	case DMG_VXLAN_SHORT_UDP:
		return t->type == DECODE_TUNNEL_VXLAN;
	case DMG_CUT_TUNNEL_HEADER:
	case DMG_OUTER_LEN_IN_TUNNEL:
		return udp || gre;
	case DMG_OUTER_LEN_IN_ETH:
	case DMG_CUT_INNER_ETH:
	case DMG_CUT_INNER_VLAN:
	case DMG_NOT_IP_ARP:
		return tun_has_eth(t);
	case DMG_INNER_IHL:
		return t->inner_v == 4;
	case DMG_INNER_V6_EXT:
		return t->inner_v == 6;
	case DMG_GENEVE_VERSION:
	case DMG_GENEVE_OPTS_PAST:
		return t->type == DECODE_TUNNEL_GENEVE;
	case DMG_GRE_ROUTING:
	case DMG_NOT_IP_GRE_VERSION1:
		return gre;
	case DMG_GRE_CUT_OPTIONAL:
		return gre && (t->gre_flags & PKTBUILD_GRE_K);
	case DMG_NOT_IP_GRE_PROTO:
		return gre || (t->type == DECODE_TUNNEL_GENEVE);
	default:
		return true;
	}
}

static void set_outer_ip_len(struct pktbuild *b, uint32_t len)
{
	uint8_t *ip = b->data + pktbuild_outer_ip_offset(b);

	if ((ip[0] >> 4) == 4) {
		ip[2] = (uint8_t)(len >> 8);
		ip[3] = (uint8_t)len;
	} else {
		len -= 40;
		ip[4] = (uint8_t)(len >> 8);
		ip[5] = (uint8_t)len;
	}
}

/*
 * Build t's frame with damage k. Returns true when the decoder must count it as
 * tunnel_malformed, false for tunnel_not_ip; either way it is decoded as the outer packet.
 */
static bool build_damaged(struct pktbuild *b, struct tun_spec t, enum tun_damage k)
{
	uint32_t toff;

	if (k == DMG_CUT_INNER_VLAN)
		t.inner_vlan = 42;
	if (k == DMG_GRE_CUT_OPTIONAL)
		t.gre_flags |= PKTBUILD_GRE_C;
	if (k == DMG_VXLAN_SHORT_UDP) {
		pktbuild_init(b, t.link);
		if (t.outer_v == 4)
			pktbuild_ipv4(b, OUTER4_SRC, OUTER4_DST);
		else
			pktbuild_ipv6(b, OUTER6_SRC, OUTER6_DST);
		pktbuild_udp(b, OUTER_SPORT, t.port ? t.port : 4789);
		pktbuild_payload(b, "\x08\0\0\0\0\x01", 6);
		cr_assert_eq(pktbuild_finish(b), 0);
		return true;
	}
	if (k == DMG_NOT_IP_ARP) {
		tun_push_outer(b, &t);
		pktbuild_link_proto(b, 0x0806);
		pktbuild_payload(b, NULL, 28);
		cr_assert_eq(pktbuild_finish(b), 0);
		return false;
	}
	if (k == DMG_INNER_V6_EXT) {
		tun_push_outer(b, &t);
		tun_push_inner_ip(b, &t);
		pktbuild_ipv6_ext(b, 0, 8);
		pktbuild_udp(b, 1, 2);
		cr_assert_eq(pktbuild_finish(b), 0);
		b->data[pktbuild_ip_offset(b) + 41] = 9; /* 80 bytes: past the 16 there are */
		return true;
	}
	build_tunnel(b, &t);
	toff = pktbuild_tunnel_offset(b);
	switch (k) {
	case DMG_VXLAN_NO_I_FLAG:
		b->data[toff] = 0;
		break;
	case DMG_CUT_TUNNEL_HEADER:
		pktbuild_truncate(b, toff + 3);
		break;
	case DMG_CUT_INNER_ETH:
		pktbuild_truncate(b, pktbuild_ip_offset(b) - (t.inner_vlan ? 4 : 0) - 1);
		break;
	case DMG_CUT_INNER_VLAN:
		pktbuild_truncate(b, pktbuild_ip_offset(b) - 2);
		break;
	case DMG_CUT_INNER_IP:
		pktbuild_truncate(b, pktbuild_ip_offset(b) + (t.inner_v == 4 ? 19 : 39));
		break;
	case DMG_INNER_VERSION:
		pktbuild_set_ip_version(b, t.inner_v == 4 ? 6 : 4);
		break;
	case DMG_INNER_LEN_BIG:
		pktbuild_set_ip_len(b,
				    (uint16_t)(inner_octets(&t) - (t.inner_v == 4 ? 0 : 40) + 1));
		break;
	case DMG_INNER_IHL:
		pktbuild_set_ihl(b, 3);
		break;
	case DMG_GENEVE_VERSION:
		b->data[toff] |= 0x40;
		break;
	case DMG_GENEVE_OPTS_PAST:
		b->data[toff] = 63; /* 252 bytes of options in a 154-byte payload */
		break;
	case DMG_GRE_ROUTING:
		b->data[toff] |= 0x40;
		break;
	case DMG_GRE_CUT_OPTIONAL:
		pktbuild_truncate(b, toff + 4 + 4 + 2); /* base, checksum, half the key */
		break;
	case DMG_OUTER_LEN_SHORT:
		/* The outer IP packet ends 4 bytes into the inner IP header. */
		set_outer_ip_len(b, pktbuild_ip_offset(b) + 4 - pktbuild_outer_ip_offset(b));
		break;
	case DMG_OUTER_LEN_IN_TUNNEL:
		/* What follows stays captured: it must be taken for padding, not read. */
		set_outer_ip_len(b, toff + 4 - pktbuild_outer_ip_offset(b));
		break;
	case DMG_OUTER_LEN_IN_ETH:
		set_outer_ip_len(b, pktbuild_ip_offset(b) - (t.inner_vlan ? 4 : 0) - 2 -
					    pktbuild_outer_ip_offset(b));
		break;
	case DMG_NOT_IP_GRE_PROTO:
		b->data[toff + 2] = 0x88; /* MPLS unicast */
		b->data[toff + 3] = 0x47;
		return false;
	case DMG_NOT_IP_GRE_VERSION1:
		b->data[toff + 1] |= 1;
		return false;
	default:
		break;
	}
	return true;
}

Test(decode, bad_tunnels_decode_as_their_outer_packet)
{
	static const uint8_t views[] = {DECODE_VIEW_INNER, DECODE_VIEW_OUTER, DECODE_VIEW_BOTH};
	struct decode_pkt pkt;
	struct tun_spec t;
	char what[96];
	size_t v;

	for (v = 0; v < 3; v++) {
		struct decoder *d = decoder_with_view(views[v]);
		const struct decode_stats *s = decode_get_stats(d);
		uint64_t n = 0, bad = 0, not_ip = 0;

		FOR_EACH_TUN(t)
		{
			for (int k = 0; k < DMG_COUNT; k++) {
				bool malformed;

				if (!dmg_applies(k, &t))
					continue;
				snprintf(what, sizeof(what),
					 "view %u damage %d type %u link %d v%u-in-v%u", views[v],
					 k, t.type, t.link, t.inner_v, t.outer_v);
				malformed = build_damaged(&B, t, k);
				memset(&pkt, 0xee, sizeof(pkt));
				cr_assert(decode_b(d, &B, TS, &pkt), "%s", what);
				expect_outer_view(&pkt, &B, &t, false, what);
				cr_assert_not(decode_outer_view(d, &pkt), "%s", what);
				n++;
				bad += malformed;
				not_ip += !malformed;
				cr_assert_eq(s->tunnel_malformed, bad, "%s", what);
				cr_assert_eq(s->tunnel_not_ip, not_ip, "%s", what);
			}
		}
		cr_assert_eq(s->decoded, n);
		cr_assert_eq(s->tunnelled, 0);
		cr_assert_eq(s->tunnel_type[DECODE_TUNNEL_NONE], n);
		cr_assert_eq(s->outer_views, 0);
		cr_assert_gt(bad, 400);
		cr_assert_gt(not_ip, 100);
		check_balance(d);
		decode_free(d);
	}
}

Test(decode, ipip_version_must_match_the_protocol)
{
	struct decoder *d = decode_new(NULL);
	struct decode_pkt pkt;

	/* Protocol 4 with an IPv6 packet inside, and 41 with IPv4. */
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_ipv6(&B, INNER6_SRC, INNER6_DST);
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	B.data[9] = 4;
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 4);
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
	pktbuild_init(&B, DECODE_LINK_RAW);
	pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
	pktbuild_ipv4(&B, INNER4_SRC, INNER4_DST);
	pktbuild_udp(&B, 1, 2);
	cr_assert_eq(pktbuild_finish(&B), 0);
	B.data[6] = 41;
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 41);
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
	cr_assert_eq(decode_get_stats(d)->tunnel_malformed, 2);
	check_balance(d);
	decode_free(d);
}

Test(decode, cut_inner_l4_keeps_the_inner_flow)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	struct tun_spec t;

	FOR_EACH_TUN(t)
	{
		build_tunnel(&B, &t);
		pktbuild_truncate(&B, pktbuild_l4_offset(&B) + 13); /* no flags octet */
		cr_assert(decode_b(d, &B, TS, &pkt));
		cr_assert_eq(pkt.key.tunnel_type, t.type);
		cr_assert_eq(pkt.key.src_port, 0);
		cr_assert_eq(pkt.key.dst_port, 0);
		cr_assert_eq(pkt.key.proto, 6);
		cr_assert_eq(pkt.octets, inner_octets(&t));
	}
	cr_assert_eq(s->truncated_l4, s->decoded);
	cr_assert_eq(s->tunnelled, s->decoded);
	cr_assert_eq(s->tunnel_malformed, 0);
	check_balance(d);
	decode_free(d);
}

Test(decode, fragmented_outer_packets_are_not_looked_into)
{
	struct decoder *d = decoder_with_view(DECODE_VIEW_BOTH);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	struct pktbuild outer;
	int n, i, v;

	for (v = 4; v <= 6; v += 2) {
		/* A VXLAN packet split by the underlay: first and later fragments. */
		pktbuild_init(&outer, DECODE_LINK_EN10MB);
		if (v == 4)
			pktbuild_ipv4(&outer, OUTER4_SRC, OUTER4_DST);
		else
			pktbuild_ipv6(&outer, OUTER6_SRC, OUTER6_DST);
		pktbuild_udp(&outer, OUTER_SPORT, 4789);
		pktbuild_vxlan(&outer, 3);
		pktbuild_eth(&outer);
		pktbuild_ipv4(&outer, INNER4_SRC, INNER4_DST);
		pktbuild_tcp(&outer, INNER_SPORT, INNER_DPORT, PKTBUILD_TCP_ACK);
		pktbuild_payload(&outer, NULL, 1400);
		cr_assert_eq(pktbuild_finish(&outer), 0);
		/* pktbuild_fragment splits the innermost header: rebuild as a plain packet. */
		pktbuild_init(&B, DECODE_LINK_EN10MB);
		if (v == 4)
			pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
		else
			pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
		pktbuild_proto(&B, 17);
		pktbuild_payload(&B,
				 outer.data + pktbuild_outer_ip_offset(&outer) + (v == 4 ? 20 : 40),
				 outer.len - pktbuild_outer_ip_offset(&outer) - (v == 4 ? 20 : 40));
		cr_assert_eq(pktbuild_finish(&B), 0);
		n = pktbuild_fragment(&B, 0x77, 1000, FR, 8);
		cr_assert_eq(n, 2);
		for (i = 0; i < n; i++) {
			cr_assert(decode_b(d, &FR[i], TS, &pkt));
			cr_assert(pkt.fragment);
			cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
			cr_assert_eq(pkt.key.proto, 17);
			cr_assert_eq(pkt.key.dst_port, 4789, "fragment %d", i);
			cr_assert_eq(pkt.key.ip_version, v);
			cr_assert_not(decode_outer_view(d, &pkt));
		}
	}
	/* A later fragment of GRE. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, OUTER4_SRC, OUTER4_DST);
	pktbuild_ipv4_frag(&B, 9, 64, false);
	pktbuild_proto(&B, 47);
	pktbuild_payload(&B, NULL, 40);
	cr_assert_eq(pktbuild_finish(&B), 0);
	cr_assert(decode_b(d, &B, TS, &pkt));
	cr_assert_eq(pkt.key.proto, 47);
	cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
	cr_assert_eq(s->tunnel_outer_frag, 5);
	cr_assert_eq(s->frag_matched, 2);
	cr_assert_eq(s->tunnelled + s->tunnel_malformed, 0);
	check_balance(d);
	decode_free(d);
}

Test(decode, inner_fragments_use_the_fragment_table)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct tun_spec t = {
		.link = DECODE_LINK_EN10MB, .type = DECODE_TUNNEL_GENEVE, .outer_v = 4, .id = 99};
	struct decode_pkt pkt;
	int n, i, v;

	for (v = 4; v <= 6; v += 2) {
		t.inner_v = (uint8_t)v;
		tun_push_outer(&B, &t);
		tun_push_inner_ip(&B, &t);
		pktbuild_udp(&B, 5000, 4789); /* inside a tunnel: not an outer fragment */
		pktbuild_payload(&B, NULL, 1200);
		cr_assert_eq(pktbuild_finish(&B), 0);
		n = pktbuild_fragment(&B, 0x1234, 512, FR, 8);
		cr_assert_eq(n, 3);
		for (i = 0; i < n; i++) {
			cr_assert(decode_b(d, &FR[i], TS, &pkt));
			cr_assert(pkt.fragment);
			cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_GENEVE);
			cr_assert_eq(pkt.key.tunnel_id, 99);
			cr_assert_eq(pkt.key.proto, 17);
			cr_assert_eq(pkt.key.src_port, 5000, "v%d fragment %d", v, i);
			cr_assert_eq(pkt.key.dst_port, 4789);
			cr_assert_eq(pkt.outer_ip_version, 4);
		}
	}
	cr_assert_eq(s->frag_first, 2);
	cr_assert_eq(s->frag_matched, 4);
	cr_assert_eq(s->tunnel_type[DECODE_TUNNEL_GENEVE], 6);
	cr_assert_eq(s->tunnel_outer_frag, 0);
	check_balance(d);
	decode_free(d);
}

/*
 * Every caplen of every tunnel kind: dropped while the outer IP header is cut, the outer
 * packet (malformed) until the inner IP header is complete, then the inner packet.
 */
Test(decode, every_caplen_of_tunnel_frames)
{
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	struct tun_spec t;

	FOR_EACH_TUN(t)
	{
		uint32_t oip, inner_end, candidate, caplen, hdr, ohl;
		uint64_t bad0 = s->tunnel_malformed;

		if (t.link == DECODE_LINK_LINUX_SLL2)
			continue; /* the same offsets as Ethernet, shifted */
		t.outer_vlan = t.link == DECODE_LINK_EN10MB ? 5 : 0;
		build_tunnel(&B, &t);
		oip = pktbuild_outer_ip_offset(&B);
		ohl = t.outer_v == 4 ? 20 : 40;
		inner_end = pktbuild_ip_offset(&B) + (t.inner_v == 4 ? 20 : 40);
		hdr = pktbuild_l4_offset(&B) + 14;
		/* UDP tunnels: the destination port must be there to suspect a tunnel. */
		candidate = pktbuild_tunnel_offset(&B) != PKTBUILD_NONE &&
					    B.data[oip + (t.outer_v == 4 ? 9 : 6)] == 17
				    ? oip + ohl + 4
				    : oip + ohl;
		for (caplen = 0; caplen <= B.len; caplen++) {
			bool ok = decode_bytes(d, B.linktype, B.data, caplen, B.wirelen, TS, &pkt);

			cr_assert_eq(ok, caplen >= oip + ohl, "caplen %u", caplen);
			if (!ok)
				continue;
			cr_assert_eq(pkt.key.tunnel_type, caplen >= inner_end ? t.type : 0,
				     "type %u caplen %u", t.type, caplen);
			if (caplen >= inner_end)
				cr_assert_eq(pkt.key.dst_port, caplen >= hdr ? INNER_DPORT : 0);
			/* The outer packet is never keyed with a cut tunnel header... */
			cr_assert_eq(pkt.octets,
				     caplen >= inner_end ? inner_octets(&t) : outer_octets(&B));
			check_balance(d);
		}
		/* ...and each caplen in [candidate, inner_end) was one malformed tunnel. */
		cr_assert_eq(s->tunnel_malformed - bad0, inner_end - candidate, "type %u", t.type);
	}
	decode_free(d);
}

/* Random damage to tunnel frames: never a crash or a read past caplen, always balanced. */
Test(decode, random_tunnel_damage_balances)
{
	struct decoder *d = decoder_with_view(DECODE_VIEW_BOTH);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	struct tun_spec t;
	uint32_t x = 777, outers = 0;
	int round;

	for (round = 0; round < 40; round++) {
		FOR_EACH_TUN(t)
		{
			uint32_t start, i, n;

			build_tunnel(&B, &t);
			start = pktbuild_outer_ip_offset(&B) + (t.outer_v == 4 ? 20 : 40);
			x = x * 1103515245u + 12345u;
			n = 1 + (x >> 28);
			for (i = 0; i < n; i++) {
				x = x * 1103515245u + 12345u;
				B.data[start + (x >> 8) % (B.len - start)] = (uint8_t)(x >> 3);
			}
			x = x * 1103515245u + 12345u;
			if (x & 1)
				B.len = start + (x >> 8) % (B.len - start);
			decode_b(d, &B, TS, &pkt);
			outers += decode_outer_view(d, &pkt);
		}
	}
	cr_assert_eq(s->decoded, s->frames);
	cr_assert_eq(s->outer_views, outers);
	cr_assert_eq(s->outer_views, s->tunnelled);
	cr_assert_gt(s->tunnelled, 0);
	cr_assert_gt(s->tunnel_malformed, 0);
	check_balance(d);
	decode_free(d);
}

Test(decode, unknown_tunnel_view_means_inner)
{
	struct decoder *d = decoder_with_view(7);
	struct decode_pkt pkt;
	struct tun_spec t = tun_kinds[0];

	t.link = DECODE_LINK_EN10MB;
	t.outer_v = 4;
	t.inner_v = 6;
	build_tunnel(&B, &t);
	cr_assert(decode_b(d, &B, TS, &pkt));
	expect_inner_view(&pkt, &t, "view 7");
	cr_assert_not(decode_outer_view(d, &pkt));
	decode_free(d);
}

/* An outer IPv6 extension header cut by the capture: never read past caplen for the tunnel. */
Test(decode, outer_extension_header_cut_before_the_tunnel)
{
	static const uint8_t protos[] = {4, 41, 47};
	struct decoder *d = decode_new(NULL);
	const struct decode_stats *s = decode_get_stats(d);
	struct decode_pkt pkt;
	size_t i;

	for (i = 0; i < sizeof(protos); i++) {
		pktbuild_init(&B, DECODE_LINK_EN10MB);
		pktbuild_ipv6(&B, OUTER6_SRC, OUTER6_DST);
		pktbuild_ipv6_ext(&B, 0, 64);
		pktbuild_proto(&B, protos[i]);
		pktbuild_payload(&B, NULL, 60);
		cr_assert_eq(pktbuild_finish(&B), 0);
		pktbuild_truncate(&B, 14 + 40 + 8); /* 8 of the 64 bytes of hop-by-hop */
		cr_assert(decode_b(d, &B, TS, &pkt));
		cr_assert_eq(pkt.key.proto, protos[i]);
		cr_assert_eq(pkt.key.tunnel_type, DECODE_TUNNEL_NONE);
		cr_assert_eq(pkt.octets, 40 + 64 + 60);
	}
	cr_assert_eq(s->tunnel_malformed, 3);
	check_balance(d);
	decode_free(d);
}

Test(decode, tunnel_names)
{
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_NONE), "none");
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_VXLAN), "vxlan");
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_GENEVE), "geneve");
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_IPIP), "ipip");
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_GRE), "gre");
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_NVGRE), "nvgre");
	cr_assert_str_eq(decode_tunnel_name(DECODE_TUNNEL_COUNT), "unknown");
}
