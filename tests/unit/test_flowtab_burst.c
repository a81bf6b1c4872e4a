// SPDX-License-Identifier: Apache-2.0
/*
 * flowtab unit tests for the burst entry point and the entry layout: flowtab_add_burst()
 * gives exactly what the same packets through flowtab_add() give, outer tunnel addresses
 * belong to the flow and not to its pool slot, entry state never leaks into a record's key,
 * and a flush leaves every slot free for reuse.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "flowtab.h"
#include "recsink.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

static struct recsink sink_a, sink_b;

static void teardown(void)
{
	recsink_reset(&sink_a);
	recsink_reset(&sink_b);
}

TestSuite(flowtab_burst, .fini = teardown);

static struct flowtab *mk(uint32_t max_flows, uint32_t idle_ms, uint32_t active_ms, bool biflow,
			  struct recsink *s)
{
	struct flowtab_config c = {
		.max_flows = max_flows,
		.idle_timeout_ms = idle_ms,
		.active_timeout_ms = active_ms,
		.biflow = biflow,
	};
	struct flowtab *ft = flowtab_new(&c, recsink_collect, s);

	cr_assert_not_null(ft);
	return ft;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/*
 * Host a (10.0.0.<a>) port sport -> host b port dport; both directions of a conversation
 * share interface and tunnel. A conversation with a host above 200 is tunnelled: its
 * packets carry outer addresses that name the two hosts, IPv6 ones if the higher host
 * number is odd, else IPv4.
 */
static struct decode_pkt mkpkt(uint8_t a, uint16_t sport, uint8_t b, uint16_t dport, uint8_t proto,
			       uint64_t ts_ms, uint32_t octets, uint8_t flags)
{
	struct decode_pkt p;

	memset(&p, 0, sizeof(p));
	memcpy(p.key.src_addr, (uint8_t[]){10, 0, 0, a}, 4);
	memcpy(p.key.dst_addr, (uint8_t[]){10, 0, 0, b}, 4);
	p.key.src_port = sport;
	p.key.dst_port = dport;
	p.key.ip_version = 4;
	p.key.proto = proto;
	p.key.ifindex = 1 + (a + b) % 3;
	p.key.direction = a & 1;
	p.ts_ms = ts_ms;
	p.octets = octets;
	p.tcp_flags = flags;
	p.tos = (uint8_t)(a ^ b);
	p.inner_vlan_id = (uint16_t)(a * 7);
	if (a > 200 || b > 200) {
		uint8_t t = a > b ? a : b;

		p.key.tunnel_type = DECODE_TUNNEL_VXLAN;
		p.key.tunnel_id = 5000 + t;
		p.outer_ip_version = (t & 1) ? 6 : 4;
		memset(p.outer_src_addr, a, p.outer_ip_version == 4 ? 4 : 16);
		memset(p.outer_dst_addr, b, p.outer_ip_version == 4 ? 4 : 16);
	}
	return p;
}

static void assert_same_record(const struct flow_record *x, const struct flow_record *y, size_t i)
{
	cr_assert(memcmp(&x->key, &y->key, sizeof(x->key)) == 0, "record %zu: key", i);
	cr_assert_eq(x->start_ms, y->start_ms, "record %zu", i);
	cr_assert_eq(x->end_ms, y->end_ms, "record %zu", i);
	cr_assert_eq(x->packets, y->packets, "record %zu", i);
	cr_assert_eq(x->octets, y->octets, "record %zu", i);
	cr_assert_eq(x->inner_vlan_id, y->inner_vlan_id, "record %zu", i);
	cr_assert_eq(x->tcp_flags, y->tcp_flags, "record %zu", i);
	cr_assert_eq(x->tos, y->tos, "record %zu", i);
	cr_assert_eq(x->end_reason, y->end_reason, "record %zu", i);
	cr_assert_eq(x->outer_ip_version, y->outer_ip_version, "record %zu", i);
	cr_assert(memcmp(x->outer_src_addr, y->outer_src_addr, 16) == 0, "record %zu", i);
	cr_assert(memcmp(x->outer_dst_addr, y->outer_dst_addr, 16) == 0, "record %zu", i);
	cr_assert_eq(x->rev_tcp_flags, y->rev_tcp_flags, "record %zu", i);
	cr_assert_eq(x->biflow_direction, y->biflow_direction, "record %zu", i);
	cr_assert_eq(x->rev_packets, y->rev_packets, "record %zu", i);
	cr_assert_eq(x->rev_octets, y->rev_octets, "record %zu", i);
	cr_assert_eq(x->rev_start_ms, y->rev_start_ms, "record %zu", i);
	cr_assert_eq(x->rev_end_ms, y->rev_end_ms, "record %zu", i);
}

/*
 * The same random workload (both directions of conversations between 240 hosts, some
 * tunnelled, FINs and RSTs, time stepping back, lulls, a cache too small for it) through
 * flowtab_add() one by one and through flowtab_add_burst() in random burst sizes, with the
 * same expire and flush_ifindex calls between bursts: the records and stats must be equal.
 */
static void burst_equals_one_by_one(bool biflow)
{
	enum { N_PKTS = 60000, MAX_FLOWS = 200 };
	struct flowtab *a = mk(MAX_FLOWS, 400, 700, biflow, &sink_a);
	struct flowtab *b = mk(MAX_FLOWS, 400, 700, biflow, &sink_b);
	static struct decode_pkt pkts[N_PKTS];
	uint64_t rng = 0x2545f4914f6cdd1dull, ts = 1700000000000ull;
	size_t i = 0;

	for (size_t k = 0; k < N_PKTS; k++) {
		uint64_t r = xorshift(&rng);
		/* Half the packets are between three busy hosts: long flows, active reports. */
		static const uint8_t busy[] = {1, 2, 201};
		bool hot = (r >> 62) & 1;
		uint8_t h1 = hot ? busy[(r & 0xff) % 3] : (uint8_t)(1 + (r & 0xff) % 240);
		uint8_t h2 = hot ? busy[(r >> 8 & 0xff) % 3] : (uint8_t)(1 + (r >> 8) % 240);
		uint16_t port = (uint16_t)(1000 + (r >> 16) % 4);
		uint8_t proto = (r >> 20) % 4 ? 6 : 17;
		uint8_t flags = TCP_ACK;
		uint64_t pts = ts;

		if ((r >> 24) % 97 == 0)
			flags |= TCP_FIN;
		else if ((r >> 24) % 97 == 1)
			flags |= TCP_RST;
		else if ((r >> 24) % 97 == 2)
			flags = TCP_SYN;
		if ((r >> 32) % 20 == 0 && pts > 50)
			pts -= (r >> 40) % 50;
		/* Half the packets are replies of a conversation: biflow pairs them. */
		pkts[k] =
			(r >> 36) & 1
				? mkpkt(h2, 80, h1, port, proto, pts, 40 + (r >> 44) % 1400, flags)
				: mkpkt(h1, port, h2, 80, proto, pts, 40 + (r >> 44) % 1400, flags);
		ts += (r >> 54) % 3;
		if (k % 7000 == 6999)
			ts += 500; /* a lull: flows go idle */
	}
	while (i < N_PKTS) {
		uint64_t r = xorshift(&rng);
		size_t n = 1 + (size_t)(r % 40);

		if (n > N_PKTS - i)
			n = N_PKTS - i;
		for (size_t k = 0; k < n; k++)
			flowtab_add(a, &pkts[i + k]);
		flowtab_add_burst(b, &pkts[i], n);
		i += n;
		if ((r >> 8) % 16 == 0) {
			flowtab_expire(a, pkts[i - 1].ts_ms + (r >> 16) % 300);
			flowtab_expire(b, pkts[i - 1].ts_ms + (r >> 16) % 300);
		}
		if ((r >> 24) % 200 == 0) {
			flowtab_flush_ifindex(a, 2, FLOWTAB_END_FORCED);
			flowtab_flush_ifindex(b, 2, FLOWTAB_END_FORCED);
		}
		if ((r >> 32) % 500 == 0) {
			flowtab_flush(a, FLOWTAB_END_FORCED);
			flowtab_flush(b, FLOWTAB_END_FORCED);
		}
	}
	flowtab_add_burst(b, pkts, 0); /* nothing */
	flowtab_flush(a, FLOWTAB_END_FORCED);
	flowtab_flush(b, FLOWTAB_END_FORCED);

	cr_assert(memcmp(flowtab_get_stats(a), flowtab_get_stats(b),
			 sizeof(struct flowtab_stats)) == 0);
	cr_assert_eq(sink_a.n, sink_b.n);
	for (size_t k = 0; k < sink_a.n; k++)
		assert_same_record(&sink_a.recs[k], &sink_b.recs[k], k);
	/* The workload reaches every way out of the cache, and tunnelled flows. */
	for (int reason = FLOWTAB_END_IDLE; reason <= FLOWTAB_END_LACK_OF_RESOURCES; reason++)
		cr_assert_gt(flowtab_get_stats(a)->ended[reason], 0, "reason %d", reason);
	cr_assert_eq(flowtab_get_stats(a)->packets, N_PKTS);
	flowtab_free(a);
	flowtab_free(b);
}

Test(flowtab_burst, uniflow_burst_equals_one_by_one)
{
	burst_equals_one_by_one(false);
}

Test(flowtab_burst, biflow_burst_equals_one_by_one)
{
	burst_equals_one_by_one(true);
}

/* The record of a tunnelled flow carries what mkpkt() put in its first packet. */
static void assert_outer_of(const struct flow_record *r, uint8_t a, uint8_t b)
{
	uint8_t src[16] = {0}, dst[16] = {0};
	uint8_t ver = ((a > b ? a : b) & 1) ? 6 : 4;

	memset(src, a, ver == 4 ? 4 : 16);
	memset(dst, b, ver == 4 ? 4 : 16);
	cr_assert_eq(r->outer_ip_version, ver);
	cr_assert(memcmp(r->outer_src_addr, src, 16) == 0);
	cr_assert(memcmp(r->outer_dst_addr, dst, 16) == 0);
}

static void assert_no_outer(const struct flow_record *r)
{
	static const uint8_t zero[16];

	cr_assert_eq(r->outer_ip_version, 0);
	cr_assert(memcmp(r->outer_src_addr, zero, 16) == 0);
	cr_assert(memcmp(r->outer_dst_addr, zero, 16) == 0);
}

Test(flowtab_burst, outer_addresses_belong_to_the_flow_not_its_slot)
{
	struct flowtab *ft = mk(1, 1000, 100000, false, &sink_a);
	struct decode_pkt p;

	/* A tunnelled flow, then a plain one in the same (only) slot, then an IPv6 outer. */
	p = mkpkt(211, 1000, 5, 80, 17, 1000, 100, 0);
	flowtab_add(ft, &p);
	flowtab_add(ft, &p);
	p = mkpkt(6, 1000, 5, 80, 17, 1001, 100, 0);
	flowtab_add(ft, &p); /* evicts the tunnelled flow */
	p = mkpkt(212, 1000, 9, 80, 17, 1002, 100, 0);
	flowtab_add(ft, &p); /* evicts the plain flow */
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink_a.n, 3);
	cr_assert_eq(sink_a.recs[0].packets, 2);
	assert_outer_of(&sink_a.recs[0], 211, 5);
	assert_no_outer(&sink_a.recs[1]);
	assert_outer_of(&sink_a.recs[2], 212, 9);

	/* A one-packet RST flow never takes a slot and still carries its outer addresses. */
	p = mkpkt(215, 1000, 7, 80, 6, 1003, 40, TCP_RST);
	flowtab_add(ft, &p);
	cr_assert_eq(sink_a.n, 4);
	cr_assert_eq(sink_a.recs[3].end_reason, FLOWTAB_END_EOF_DETECTED);
	assert_outer_of(&sink_a.recs[3], 215, 7);

	/* A flow restarted after idling takes the outer addresses of its new first packet. */
	p = mkpkt(217, 1000, 7, 80, 17, 2000, 40, 0);
	flowtab_add(ft, &p);
	p.outer_src_addr[0] = 99;
	p.ts_ms = 3500;
	flowtab_add(ft, &p);
	cr_assert_eq(sink_a.n, 5);
	cr_assert_eq(sink_a.recs[4].end_reason, FLOWTAB_END_IDLE);
	assert_outer_of(&sink_a.recs[4], 217, 7);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink_a.n, 6);
	cr_assert_eq(sink_a.recs[5].outer_src_addr[0], 99);
	cr_assert_eq(sink_a.recs[5].outer_src_addr[1], 217);
	flowtab_free(ft);
}

Test(flowtab_burst, record_keys_are_the_packet_keys_in_every_mode)
{
	for (int biflow = 0; biflow <= 1; biflow++) {
		struct flowtab *ft = mk(16, 1000, 50, biflow, &sink_a);
		/* The responder (lower address) speaks first after a SYN: the key is swapped. */
		struct decode_pkt syn = mkpkt(9, 40000, 4, 80, 6, 1000, 60, TCP_SYN);
		struct decode_pkt rep = mkpkt(4, 80, 9, 40000, 6, 1001, 60, TCP_SYN | TCP_ACK);
		struct decode_pkt fin = mkpkt(9, 40000, 4, 80, 6, 1100, 60, TCP_FIN | TCP_ACK);

		sink_a.n = 0;
		flowtab_add(ft, &syn);
		flowtab_add(ft, &rep);
		flowtab_expire(ft, 1060); /* an active report: the entry is on the active list */
		flowtab_add(ft, &fin);
		flowtab_flush(ft, FLOWTAB_END_FORCED);
		cr_assert_geq(sink_a.n, 2);
		for (size_t i = 0; i < sink_a.n; i++) {
			const struct flow_key *k = &sink_a.recs[i].key;

			cr_assert_eq(k->pad[0], 0);
			cr_assert_eq(k->pad[1], 0);
			cr_assert(memcmp(k, &syn.key, sizeof(*k)) == 0 ||
					  (!biflow && memcmp(k, &rep.key, sizeof(*k)) == 0),
				  "mode %d record %zu", biflow, i);
		}
		flowtab_free(ft);
	}
}

Test(flowtab_burst, flush_frees_every_slot_for_reuse)
{
	enum { MAX = 8 };
	struct flowtab *ft = mk(MAX, 100000, 100000, false, &sink_a);
	const struct flowtab_stats *st = flowtab_get_stats(ft);
	struct decode_pkt p[MAX + 1];

	for (int round = 0; round < 3; round++) {
		sink_a.n = 0;
		for (uint8_t i = 0; i <= MAX; i++)
			p[i] = mkpkt((uint8_t)(20 + round * 10 + i), 1000, 1, 80, 17,
				     1000 + 10 * (uint64_t)round + i, 100, 0);
		flowtab_add_burst(ft, p, MAX);
		cr_assert_eq(st->flows_active, MAX);
		cr_assert_eq(st->evictions, (uint64_t)round);
		cr_assert_eq(sink_a.n, 0);
		/* One more: the least recently seen of this round leaves, nothing older. */
		flowtab_add(ft, &p[MAX]);
		cr_assert_eq(st->evictions, (uint64_t)round + 1);
		cr_assert_eq(sink_a.n, 1);
		cr_assert(memcmp(&sink_a.recs[0].key, &p[0].key, sizeof(p[0].key)) == 0);
		flowtab_flush(ft, FLOWTAB_END_FORCED);
		cr_assert_eq(st->flows_active, 0);
		cr_assert_eq(sink_a.n, 1 + MAX);
		for (uint8_t i = 1; i <= MAX; i++) {
			cr_assert(memcmp(&sink_a.recs[i].key, &p[i].key, sizeof(p[i].key)) == 0,
				  "LRU order");
			cr_assert_eq(sink_a.recs[i].end_reason, FLOWTAB_END_FORCED);
		}
		/* After a flush, a packet of a flushed flow starts a new flow. */
		flowtab_add(ft, &p[1]);
		cr_assert_eq(st->flows_active, 1);
		flowtab_flush(ft, FLOWTAB_END_FORCED);
		cr_assert_eq(sink_a.recs[sink_a.n - 1].packets, 1);
	}
	cr_assert_eq(st->records_exported, 3 * (MAX + 2));
	flowtab_free(ft);
}
