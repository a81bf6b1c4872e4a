// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for decode: every link type, VLAN/QinQ, IPv4 options, IPv6 extension
 * headers, L4 keys, the fragment table, truncation at every byte and every drop reason.
 * Frames are built with pktbuild and copied into a heap buffer of exactly caplen bytes,
 * so a read past caplen is caught by AddressSanitizer.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "pktbuild.h"

#define TS 1700000000000ULL

/* Decode data[0..caplen) from a buffer of exactly caplen bytes. */
static bool decode_bytes(struct decoder *d, int linktype, const uint8_t *data, uint32_t caplen,
			 uint32_t wirelen, uint64_t ts_ms, struct decode_pkt *pkt)
{
	uint8_t *copy = malloc(caplen ? caplen : 1);
	bool ok;

	cr_assert_not_null(copy);
	memcpy(copy, data, caplen);
	ok = decode_frame(d, linktype, copy, caplen, wirelen, ts_ms, 7, pkt);
	free(copy);
	return ok;
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

static void check_balance(const struct decoder *d)
{
	const struct decode_stats *s = decode_get_stats(d);

	cr_assert_eq(s->frames, s->decoded + sum_drops(s), "frames %lu decoded %lu drops %lu",
		     (unsigned long)s->frames, (unsigned long)s->decoded,
		     (unsigned long)sum_drops(s));
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
	want.ingress_ifindex = 7;
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
