// SPDX-License-Identifier: Apache-2.0
/*
 * flowtab unit tests: decode_pkt structs built by hand, records collected by a test
 * export callback. Covers creation, 64-bit counters, every flowEndReason, LRU eviction,
 * backwards time and the accounting invariant on a pseudo-random workload.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "flowtab.h"
#include "recsink.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static struct recsink sink;

static void teardown(void)
{
	recsink_reset(&sink);
}

TestSuite(flowtab, .fini = teardown);

static struct flowtab *mk(uint32_t max_flows, uint32_t idle_ms, uint32_t active_ms)
{
	struct flowtab_config c = {
		.max_flows = max_flows,
		.idle_timeout_ms = idle_ms,
		.active_timeout_ms = active_ms,
	};
	struct flowtab *ft = flowtab_new(&c, recsink_collect, &sink);

	cr_assert_not_null(ft);
	return ft;
}

/* Flow number id: IPv4 10.x.y.z -> 192.0.2.1, with ports and protocol. */
static struct decode_pkt pkt(uint32_t id, uint8_t proto, uint64_t ts_ms, uint32_t octets,
			     uint8_t tcp_flags)
{
	struct decode_pkt p;

	memset(&p, 0, sizeof(p));
	p.key.src_addr[0] = 10;
	p.key.src_addr[1] = (uint8_t)(id >> 16);
	p.key.src_addr[2] = (uint8_t)(id >> 8);
	p.key.src_addr[3] = (uint8_t)id;
	p.key.dst_addr[0] = 192;
	p.key.dst_addr[1] = 0;
	p.key.dst_addr[2] = 2;
	p.key.dst_addr[3] = 1;
	p.key.src_port = (uint16_t)(1024 + (id & 0x7fff));
	p.key.dst_port = 443;
	p.key.ip_version = 4;
	p.key.proto = proto;
	p.ts_ms = ts_ms;
	p.octets = octets;
	p.tcp_flags = tcp_flags;
	return p;
}

static uint32_t rec_id(const struct flow_record *r)
{
	return (uint32_t)r->key.src_addr[1] << 16 | (uint32_t)r->key.src_addr[2] << 8 |
	       r->key.src_addr[3];
}

static void add(struct flowtab *ft, uint32_t id, uint8_t proto, uint64_t ts, uint32_t octets,
		uint8_t flags)
{
	struct decode_pkt p = pkt(id, proto, ts, octets, flags);

	flowtab_add(ft, &p);
}

static const struct flow_record *find(uint32_t id)
{
	for (size_t i = 0; i < sink.n; i++)
		if (rec_id(&sink.recs[i]) == id)
			return &sink.recs[i];
	return NULL;
}

Test(flowtab, creates_flow_and_exports_its_fields)
{
	struct flowtab *ft = mk(16, 1000, 5000);
	struct decode_pkt p = pkt(7, 17, 1000, 120, 0);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	p.tos = 0x2e;
	p.inner_vlan_id = 333;
	p.key.vlan_id = 12;
	p.key.ifindex = 4;
	flowtab_add(ft, &p);
	cr_assert_eq(st->flows_created, 1);
	cr_assert_eq(st->flows_active, 1);
	cr_assert_eq(st->packets, 1);
	cr_assert_eq(st->octets, 120);
	cr_assert_eq(sink.n, 0);

	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 1);
	cr_assert(memcmp(&sink.recs[0].key, &p.key, sizeof(p.key)) == 0);
	cr_assert_eq(sink.recs[0].start_ms, 1000);
	cr_assert_eq(sink.recs[0].end_ms, 1000);
	cr_assert_eq(sink.recs[0].packets, 1);
	cr_assert_eq(sink.recs[0].octets, 120);
	cr_assert_eq(sink.recs[0].tos, 0x2e);
	cr_assert_eq(sink.recs[0].inner_vlan_id, 333);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_FORCED);
	cr_assert_eq(st->flows_active, 0);
	cr_assert_eq(st->records_exported, 1);
	cr_assert_eq(st->ended[FLOWTAB_END_FORCED], 1);
	flowtab_free(ft);
}

Test(flowtab, counters_accumulate_in_64_bits)
{
	struct flowtab *ft = mk(16, 100000, 100000);
	const uint32_t big = 0xfffffff0u;

	for (int i = 0; i < 3; i++)
		add(ft, 1, 17, 1000 + (uint64_t)i, big, 0);
	cr_assert_eq(flowtab_get_stats(ft)->octets, 3ull * big);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].packets, 3);
	cr_assert_eq(sink.recs[0].octets, 3ull * big);
	cr_assert_eq(sink.recs[0].start_ms, 1000);
	cr_assert_eq(sink.recs[0].end_ms, 1002);
	flowtab_free(ft);
}

Test(flowtab, tcp_flags_are_ored_and_first_tos_kept)
{
	struct flowtab *ft = mk(16, 100000, 100000);
	struct decode_pkt p = pkt(1, 6, 10, 60, TCP_SYN);

	p.tos = 4;
	flowtab_add(ft, &p);
	p.tcp_flags = TCP_ACK;
	p.tos = 8;
	flowtab_add(ft, &p);
	p.tcp_flags = TCP_PSH | TCP_ACK;
	flowtab_add(ft, &p);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].tcp_flags, TCP_SYN | TCP_ACK | TCP_PSH);
	cr_assert_eq(sink.recs[0].tos, 4);
	cr_assert_eq(sink.recs[0].packets, 3);
	flowtab_free(ft);
}

Test(flowtab, keys_differing_in_any_field_are_different_flows)
{
	struct flowtab *ft = mk(16, 100000, 100000);
	struct decode_pkt p = pkt(1, 6, 10, 60, 0);

	flowtab_add(ft, &p);
	p.key.ifindex = 2;
	flowtab_add(ft, &p);
	p.key.vlan_id = 5;
	flowtab_add(ft, &p);
	p.key.dst_addr[15] = 1; /* beyond the IPv4 bytes: still part of the key */
	flowtab_add(ft, &p);
	p.key.proto = 17;
	flowtab_add(ft, &p);
	flowtab_add(ft, &p);
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, 5);
	flowtab_free(ft);
}

Test(flowtab, idle_expiry_exactly_at_the_timeout)
{
	struct flowtab *ft = mk(16, 1000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 17, 5000, 100, 0);
	add(ft, 2, 17, 5500, 100, 0);
	flowtab_expire(ft, 5999);
	cr_assert_eq(sink.n, 0);
	cr_assert_eq(st->flows_active, 2);
	flowtab_expire(ft, 6000);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(rec_id(&sink.recs[0]), 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(sink.recs[0].end_ms, 5000);
	cr_assert_eq(st->flows_active, 1);
	cr_assert_eq(st->ended[FLOWTAB_END_IDLE], 1);
	flowtab_expire(ft, 6499);
	cr_assert_eq(sink.n, 1);
	flowtab_expire(ft, 6500);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(rec_id(&sink.recs[1]), 2);
	cr_assert_eq(st->flows_active, 0);
	flowtab_free(ft);
}

Test(flowtab, packet_refreshes_idle_timer)
{
	struct flowtab *ft = mk(16, 1000, 60000);

	add(ft, 1, 17, 1000, 100, 0);
	add(ft, 2, 17, 1100, 100, 0);
	add(ft, 1, 17, 1900, 100, 0); /* flow 1 is now the most recent */
	flowtab_expire(ft, 2100);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(rec_id(&sink.recs[0]), 2);
	flowtab_expire(ft, 2899);
	cr_assert_eq(sink.n, 1);
	flowtab_expire(ft, 2900);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(rec_id(&sink.recs[1]), 1);
	cr_assert_eq(sink.recs[1].packets, 2);
	flowtab_free(ft);
}

Test(flowtab, idle_timer_seen_by_add_ends_the_old_flow)
{
	struct flowtab *ft = mk(16, 1000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 17, 1000, 100, 0);
	add(ft, 1, 17, 2000, 50, 0); /* no expire() in between */
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(sink.recs[0].packets, 1);
	cr_assert_eq(sink.recs[0].octets, 100);
	cr_assert_eq(st->flows_created, 2);
	cr_assert_eq(st->flows_active, 1);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.recs[1].start_ms, 2000);
	cr_assert_eq(sink.recs[1].octets, 50);
	flowtab_free(ft);
}

Test(flowtab, flow_past_both_timers_ends_as_idle)
{
	struct flowtab *ft = mk(16, 1000, 500);

	add(ft, 1, 17, 0, 100, 0);
	flowtab_expire(ft, 2000);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(flowtab_get_stats(ft)->ended[FLOWTAB_END_ACTIVE], 0);
	flowtab_free(ft);
}

Test(flowtab, active_timeout_reports_deltas_and_keeps_start)
{
	struct flowtab *ft = mk(16, 10000, 1000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 6, 1000, 100, TCP_SYN);
	add(ft, 1, 6, 1200, 100, TCP_ACK);
	add(ft, 1, 6, 1500, 100, TCP_ACK);
	flowtab_expire(ft, 1999);
	cr_assert_eq(sink.n, 0);
	flowtab_expire(ft, 2000);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[0].packets, 3);
	cr_assert_eq(sink.recs[0].octets, 300);
	cr_assert_eq(sink.recs[0].start_ms, 1000);
	cr_assert_eq(sink.recs[0].end_ms, 1500);
	cr_assert_eq(sink.recs[0].tcp_flags, TCP_SYN | TCP_ACK);
	cr_assert_eq(st->flows_active, 1);

	/* Second interval: starts at the report (2000), only the new packets count. */
	add(ft, 1, 6, 2100, 40, TCP_PSH | TCP_ACK);
	add(ft, 1, 6, 2500, 60, TCP_ACK);
	flowtab_expire(ft, 2999);
	cr_assert_eq(sink.n, 1);
	flowtab_expire(ft, 3000);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[1].packets, 2);
	cr_assert_eq(sink.recs[1].octets, 100);
	cr_assert_eq(sink.recs[1].start_ms, 1000);
	cr_assert_eq(sink.recs[1].end_ms, 2500);
	cr_assert_eq(sink.recs[1].tcp_flags, TCP_PSH | TCP_ACK);

	/* Nothing since the last report: not reported again, and it idles out silently. */
	flowtab_expire(ft, 5000);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(st->flows_active, 1);
	flowtab_expire(ft, 12499);
	cr_assert_eq(st->flows_active, 1);
	flowtab_expire(ft, 12500);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(st->flows_active, 0);
	cr_assert_eq(st->ended[FLOWTAB_END_ACTIVE], 2);
	cr_assert_eq(st->packets, 5);
	flowtab_free(ft);
}

Test(flowtab, quiet_interval_then_packet_restarts_reporting)
{
	struct flowtab *ft = mk(16, 10000, 1000);

	add(ft, 1, 17, 0, 10, 0);
	flowtab_expire(ft, 1000); /* report 1 */
	flowtab_expire(ft, 2000); /* nothing to report: leaves the active list */
	cr_assert_eq(sink.n, 1);
	add(ft, 1, 17, 2500, 20, 0); /* back on the active list, interval starts at 2500 */
	flowtab_expire(ft, 3499);
	cr_assert_eq(sink.n, 1);
	flowtab_expire(ft, 3500);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[1].packets, 1);
	cr_assert_eq(sink.recs[1].octets, 20);
	cr_assert_eq(sink.recs[1].start_ms, 0);
	cr_assert_eq(sink.recs[1].end_ms, 2500);
	flowtab_free(ft);
}

Test(flowtab, active_timeout_seen_by_add_reports_before_the_packet)
{
	struct flowtab *ft = mk(16, 10000, 1000);

	add(ft, 1, 17, 0, 10, 0);
	add(ft, 1, 17, 600, 10, 0);
	add(ft, 1, 17, 1000, 30, 0); /* interval [0, 1000) is over: reported without this one */
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[0].packets, 2);
	cr_assert_eq(sink.recs[0].octets, 20);
	cr_assert_eq(sink.recs[0].end_ms, 600);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].packets, 1);
	cr_assert_eq(sink.recs[1].octets, 30);
	cr_assert_eq(sink.recs[1].start_ms, 0);
	cr_assert_eq(sink.recs[1].end_ms, 1000);
	flowtab_free(ft);
}

Test(flowtab, add_after_a_quiet_interval_reports_nothing_empty)
{
	struct flowtab *ft = mk(16, 10000, 1000);

	add(ft, 1, 17, 0, 10, 0);
	flowtab_expire(ft, 1000);    /* report 1, next interval starts at 1000 */
	add(ft, 1, 17, 2000, 20, 0); /* interval [1000, 2000) was empty: no record for it */
	cr_assert_eq(sink.n, 1);
	flowtab_expire(ft, 2999);
	cr_assert_eq(sink.n, 1);
	flowtab_expire(ft, 3000);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].packets, 1);
	cr_assert_eq(sink.recs[1].octets, 20);
	cr_assert_eq(flowtab_get_stats(ft)->ended[FLOWTAB_END_ACTIVE], 2);
	flowtab_free(ft);
}

Test(flowtab, quiet_flow_does_not_block_active_reports_behind_it)
{
	struct flowtab *ft = mk(16, 10000, 1000);

	add(ft, 1, 17, 0, 10, 0);
	add(ft, 2, 17, 0, 10, 0);
	flowtab_expire(ft, 1000); /* both reported */
	cr_assert_eq(sink.n, 2);
	add(ft, 2, 17, 1500, 30, 0);
	flowtab_expire(ft, 2000); /* 1 is quiet and due first; 2 behind it has a packet */
	cr_assert_eq(sink.n, 3);
	cr_assert_eq(rec_id(&sink.recs[2]), 2);
	cr_assert_eq(sink.recs[2].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[2].octets, 30);
	flowtab_free(ft);
}

Test(flowtab, flow_restarted_by_add_gets_a_new_report_interval)
{
	struct flowtab *ft = mk(16, 1000, 1500);

	add(ft, 1, 17, 0, 10, 0);
	add(ft, 2, 17, 100, 10, 0);
	add(ft, 2, 17, 900, 10, 0);
	add(ft, 2, 17, 1150, 10, 0);
	add(ft, 1, 17, 1200, 10, 0); /* 1 was idle: ends, restarts with interval from 1200 */
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_IDLE);
	flowtab_expire(ft, 1600); /* 2's interval [100, 1600) is over; 1's is not */
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(rec_id(&sink.recs[1]), 2);
	cr_assert_eq(sink.recs[1].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[1].packets, 3);
	flowtab_free(ft);
}

Test(flowtab, fin_ends_flow_with_the_fin_counted)
{
	struct flowtab *ft = mk(16, 10000, 10000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 6, 100, 60, TCP_SYN);
	add(ft, 1, 6, 110, 1500, TCP_ACK);
	add(ft, 1, 6, 120, 52, TCP_FIN | TCP_ACK);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(sink.recs[0].packets, 3);
	cr_assert_eq(sink.recs[0].octets, 1612);
	cr_assert_eq(sink.recs[0].end_ms, 120);
	cr_assert_eq(sink.recs[0].tcp_flags, TCP_SYN | TCP_ACK | TCP_FIN);
	cr_assert_eq(st->flows_active, 0);
	cr_assert_eq(st->ended[FLOWTAB_END_EOF_DETECTED], 1);

	/* The next packet of that 5-tuple is a new flow. */
	add(ft, 1, 6, 130, 40, TCP_ACK);
	cr_assert_eq(st->flows_created, 2);
	cr_assert_eq(st->flows_active, 1);
	flowtab_free(ft);
}

Test(flowtab, rst_ends_flow_even_as_its_first_packet)
{
	struct flowtab *ft = mk(2, 10000, 10000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 6, 100, 60, TCP_SYN);
	add(ft, 2, 6, 101, 60, TCP_SYN);
	add(ft, 3, 6, 102, 40, TCP_RST); /* full cache: the lone RST must not evict anyone */
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(rec_id(&sink.recs[0]), 3);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(sink.recs[0].packets, 1);
	cr_assert_eq(sink.recs[0].octets, 40);
	cr_assert_eq(sink.recs[0].start_ms, 102);
	cr_assert_eq(st->evictions, 0);
	cr_assert_eq(st->flows_created, 3);
	cr_assert_eq(st->flows_active, 2);

	add(ft, 1, 6, 103, 40, TCP_RST | TCP_ACK);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].packets, 2);
	cr_assert_eq(sink.recs[1].end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(st->flows_active, 1);
	flowtab_free(ft);
}

Test(flowtab, fin_bit_ignored_outside_tcp)
{
	struct flowtab *ft = mk(16, 10000, 10000);

	add(ft, 1, 17, 100, 60, TCP_FIN);
	cr_assert_eq(sink.n, 0);
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, 1);
	flowtab_free(ft);
}

Test(flowtab, full_cache_evicts_least_recently_seen)
{
	struct flowtab *ft = mk(3, 10000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 17, 1, 10, 0);
	add(ft, 2, 17, 2, 20, 0);
	add(ft, 3, 17, 3, 30, 0);
	add(ft, 1, 17, 4, 10, 0); /* 2 is now the least recently seen */
	add(ft, 4, 17, 5, 40, 0);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(rec_id(&sink.recs[0]), 2);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_LACK_OF_RESOURCES);
	cr_assert_eq(sink.recs[0].octets, 20);
	cr_assert_eq(st->evictions, 1);
	cr_assert_eq(st->ended[FLOWTAB_END_LACK_OF_RESOURCES], 1);
	cr_assert_eq(st->flows_active, 3);

	add(ft, 5, 17, 6, 50, 0); /* next victim: 3 */
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(rec_id(&sink.recs[1]), 3);
	cr_assert_eq(st->evictions, 2);

	recsink_reset(&sink);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 3);
	cr_assert_not_null(find(1));
	cr_assert_not_null(find(4));
	cr_assert_not_null(find(5));
	cr_assert_eq(find(1)->packets, 2);
	flowtab_free(ft);
}

Test(flowtab, full_cache_with_idle_head_ends_it_as_idle)
{
	struct flowtab *ft = mk(2, 100, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	add(ft, 1, 17, 0, 10, 0);
	add(ft, 2, 17, 50, 10, 0);
	add(ft, 3, 17, 100, 10, 0); /* flow 1 has been idle for 100 ms: not an eviction */
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(rec_id(&sink.recs[0]), 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(st->evictions, 0);
	cr_assert_eq(st->flows_active, 2);
	flowtab_free(ft);
}

Test(flowtab, flush_exports_everything_forced_and_table_is_reusable)
{
	struct flowtab *ft = mk(64, 10000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);
	uint64_t seen = 0;

	for (uint32_t i = 0; i < 40; i++)
		add(ft, i, 17, 100 + i, 100 + i, 0);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 40);
	for (size_t i = 0; i < sink.n; i++) {
		cr_assert_eq(sink.recs[i].end_reason, FLOWTAB_END_FORCED);
		cr_assert_eq(sink.recs[i].octets, 100 + rec_id(&sink.recs[i]));
		seen |= 1ull << rec_id(&sink.recs[i]);
	}
	cr_assert_eq(seen, (1ull << 40) - 1);
	cr_assert_eq(st->flows_active, 0);
	cr_assert_eq(st->ended[FLOWTAB_END_FORCED], 40);

	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 40);
	for (uint32_t i = 0; i < 64; i++)
		add(ft, 1000 + i, 17, 200, 1, 0);
	cr_assert_eq(st->flows_active, 64);
	cr_assert_eq(st->evictions, 0);
	flowtab_free(ft);
}

Test(flowtab, flush_with_invalid_reason_uses_forced)
{
	struct flowtab *ft = mk(8, 10000, 60000);

	add(ft, 1, 17, 0, 10, 0);
	flowtab_flush(ft, (enum flowtab_end_reason)9);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_FORCED);
	flowtab_free(ft);
}

Test(flowtab, flush_ifindex_only_touches_that_interface)
{
	struct flowtab *ft = mk(64, 10000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	for (uint32_t i = 0; i < 30; i++) {
		struct decode_pkt p = pkt(i, 17, 100, 10, 0);

		p.key.ifindex = 1 + i % 3;
		flowtab_add(ft, &p);
	}
	flowtab_flush_ifindex(ft, 2, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 10);
	for (size_t i = 0; i < sink.n; i++) {
		cr_assert_eq(sink.recs[i].key.ifindex, 2);
		cr_assert_eq(rec_id(&sink.recs[i]) % 3, 1);
		cr_assert_eq(sink.recs[i].end_reason, FLOWTAB_END_FORCED);
	}
	cr_assert_eq(st->flows_active, 20);
	flowtab_flush_ifindex(ft, 7, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 10);

	/* The remaining flows are still found: a packet adds to them, not a new flow. */
	for (uint32_t i = 0; i < 30; i++) {
		struct decode_pkt p = pkt(i, 17, 200, 10, 0);

		p.key.ifindex = 1 + i % 3;
		flowtab_add(ft, &p);
	}
	cr_assert_eq(st->flows_created, 40);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 40);
	flowtab_free(ft);
}

Test(flowtab, time_going_backwards_never_underflows)
{
	struct flowtab *ft = mk(16, 1000, 5000);

	add(ft, 1, 17, 10000, 10, 0);
	add(ft, 1, 17, 9000, 10, 0); /* older than the clock: counted as 10000 */
	add(ft, 2, 17, 8000, 10, 0); /* a new flow in the past starts at the clock */
	flowtab_expire(ft, 5000);    /* an old "now" expires nothing */
	cr_assert_eq(sink.n, 0);
	flowtab_expire(ft, 10999);
	cr_assert_eq(sink.n, 0);
	flowtab_expire(ft, 11000);
	cr_assert_eq(sink.n, 2);
	for (size_t i = 0; i < sink.n; i++) {
		cr_assert_eq(sink.recs[i].start_ms, 10000);
		cr_assert_eq(sink.recs[i].end_ms, 10000);
		cr_assert_eq(sink.recs[i].end_reason, FLOWTAB_END_IDLE);
	}
	cr_assert_eq(find(1)->packets, 2);

	/*
	 * expire() moved the table clock to 11000 but packets keep their own time: a packet
	 * at 10500 starts a flow at 10500, idle from 11500. An older now changes nothing.
	 */
	add(ft, 3, 17, 10500, 10, 0);
	flowtab_expire(ft, 100);
	cr_assert_eq(sink.n, 2);
	flowtab_expire(ft, 11499);
	cr_assert_eq(sink.n, 2);
	flowtab_expire(ft, 11500);
	cr_assert_eq(sink.n, 3);
	cr_assert_eq(sink.recs[2].start_ms, 10500);
	flowtab_free(ft);
}

Test(flowtab, invalid_config_returns_null)
{
	struct flowtab_config ok = {.max_flows = 8, .idle_timeout_ms = 1, .active_timeout_ms = 1};
	struct flowtab_config c;
	struct flowtab *ft;

	cr_assert_null(flowtab_new(NULL, recsink_collect, &sink));
	cr_assert_null(flowtab_new(&ok, NULL, &sink));
	c = ok;
	c.max_flows = 0;
	cr_assert_null(flowtab_new(&c, recsink_collect, &sink));
	c = ok;
	c.max_flows = (1u << 30) + 1;
	cr_assert_null(flowtab_new(&c, recsink_collect, &sink));
	c = ok;
	c.idle_timeout_ms = 0;
	cr_assert_null(flowtab_new(&c, recsink_collect, &sink));
	c = ok;
	c.active_timeout_ms = 0;
	cr_assert_null(flowtab_new(&c, recsink_collect, &sink));
	ft = flowtab_new(&ok, recsink_collect, &sink);
	cr_assert_not_null(ft);
	flowtab_free(ft);
}

Test(flowtab, free_null_is_a_noop)
{
	flowtab_free(NULL);
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

Test(flowtab, accounting_invariant_on_random_workload)
{
	enum { N_FLOWS = 5000, N_PKTS = 100000, MAX_FLOWS = 1000 };
	struct flowtab *ft = mk(MAX_FLOWS, 4000, 3000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);
	static uint64_t want_pkts[N_FLOWS], want_octets[N_FLOWS];
	static uint64_t got_pkts[N_FLOWS], got_octets[N_FLOWS];
	uint64_t rng = 0x9e3779b97f4a7c15ull, ts = 1000000, sum_pkts = 0, sum_octets = 0;
	uint64_t ended_sum = 0;

	memset(want_pkts, 0, sizeof(want_pkts));
	memset(want_octets, 0, sizeof(want_octets));
	memset(got_pkts, 0, sizeof(got_pkts));
	memset(got_octets, 0, sizeof(got_octets));
	for (uint32_t i = 0; i < N_PKTS; i++) {
		uint64_t r = xorshift(&rng);
		/* Skewed: half the packets go to 1/100 of the flows. */
		uint32_t id = (r & 1) ? (uint32_t)(r >> 8) % (N_FLOWS / 100)
				      : (uint32_t)(r >> 8) % N_FLOWS;
		uint8_t proto = (r >> 40) % 3 ? 6 : 17;
		uint8_t flags = TCP_ACK;
		uint32_t octets = 40 + (uint32_t)((r >> 24) % 1461);
		uint64_t pts = ts;

		if ((r >> 50) % 200 == 0)
			flags |= TCP_FIN;
		else if ((r >> 50) % 200 == 1)
			flags |= TCP_RST;
		if ((r >> 58) % 16 == 0 && pts > 30)
			pts -= (r >> 20) % 30; /* slightly out of order */
		add(ft, id, proto, pts, octets, flags);
		want_pkts[id]++;
		want_octets[id] += octets;
		ts += (r >> 33) % 3;
		if (i % 20000 == 9999)
			ts += 3000; /* a lull: flows go idle */
		if (i % 5000 == 4999)
			flowtab_expire(ft, ts);
		cr_assert_leq(st->flows_active, MAX_FLOWS);
	}
	cr_assert_eq(st->packets, N_PKTS);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(st->flows_active, 0);

	for (size_t i = 0; i < sink.n; i++) {
		const struct flow_record *r = &sink.recs[i];
		uint32_t id = rec_id(r);

		cr_assert_lt(id, N_FLOWS);
		cr_assert_geq(r->end_ms, r->start_ms);
		cr_assert_gt(r->packets, 0);
		got_pkts[id] += r->packets;
		got_octets[id] += r->octets;
		sum_pkts += r->packets;
		sum_octets += r->octets;
	}
	cr_assert_eq(sum_pkts, st->packets);
	cr_assert_eq(sum_octets, st->octets);
	for (uint32_t id = 0; id < N_FLOWS; id++) {
		cr_assert_eq(got_pkts[id], want_pkts[id], "flow %u packets", id);
		cr_assert_eq(got_octets[id], want_octets[id], "flow %u octets", id);
	}
	for (int r = 0; r < 6; r++)
		ended_sum += st->ended[r];
	cr_assert_eq(ended_sum, sink.n);
	cr_assert_eq(st->records_exported, sink.n);
	cr_assert_eq(st->evictions, st->ended[FLOWTAB_END_LACK_OF_RESOURCES]);
	/* The workload must exercise every way out of the cache. */
	cr_assert_gt(st->ended[FLOWTAB_END_IDLE], 0);
	cr_assert_gt(st->ended[FLOWTAB_END_ACTIVE], 0);
	cr_assert_gt(st->ended[FLOWTAB_END_EOF_DETECTED], 0);
	cr_assert_gt(st->ended[FLOWTAB_END_FORCED], 0);
	cr_assert_gt(st->evictions, 0);
	flowtab_free(ft);
}

Test(flowtab, expire_leaves_live_flows_alone)
{
	enum { N = 20000 };
	struct flowtab *ft = mk(N, 1000, 100000);

	add(ft, 0, 17, 0, 10, 0);
	for (uint32_t i = 1; i < N; i++)
		add(ft, i, 17, 500, 10, 0);
	flowtab_expire(ft, 1000);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(rec_id(&sink.recs[0]), 0);
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, N - 1);
	flowtab_free(ft);
}

/* ------------------------------------------------------------------ biflow mode */

static struct flowtab *mkb(uint32_t max_flows, uint32_t idle_ms, uint32_t active_ms)
{
	struct flowtab_config c = {
		.max_flows = max_flows,
		.idle_timeout_ms = idle_ms,
		.active_timeout_ms = active_ms,
		.biflow = true,
	};
	struct flowtab *ft = flowtab_new(&c, recsink_collect, &sink);

	cr_assert_not_null(ft);
	return ft;
}

/* A packet from IPv4 host 10.0.0.<from> port sport to 10.0.0.<to> port dport. */
static struct decode_pkt hp(uint8_t from, uint16_t sport, uint8_t to, uint16_t dport, uint8_t proto,
			    uint64_t ts_ms, uint32_t octets, uint8_t flags, uint8_t direction)
{
	struct decode_pkt p;

	memset(&p, 0, sizeof(p));
	memcpy(p.key.src_addr, (uint8_t[]){10, 0, 0, from}, 4);
	memcpy(p.key.dst_addr, (uint8_t[]){10, 0, 0, to}, 4);
	p.key.src_port = sport;
	p.key.dst_port = dport;
	p.key.ip_version = 4;
	p.key.proto = proto;
	p.key.direction = direction;
	p.key.ifindex = 3;
	p.key.vlan_id = 7;
	p.ts_ms = ts_ms;
	p.octets = octets;
	p.tcp_flags = flags;
	return p;
}

static void addp(struct flowtab *ft, struct decode_pkt p)
{
	flowtab_add(ft, &p);
}

/* A 3-way handshake and data, initiator 10.0.0.<a>:40000 -> 10.0.0.<b>:80. */
static void handshake(struct flowtab *ft, uint8_t a, uint8_t b, uint64_t t0)
{
	addp(ft, hp(a, 40000, b, 80, 6, t0, 60, TCP_SYN, DECODE_DIR_INGRESS));
	addp(ft, hp(b, 80, a, 40000, 6, t0 + 1, 60, TCP_SYN | TCP_ACK, DECODE_DIR_EGRESS));
	addp(ft, hp(a, 40000, b, 80, 6, t0 + 2, 52, TCP_ACK, DECODE_DIR_INGRESS));
	addp(ft, hp(a, 40000, b, 80, 6, t0 + 3, 300, TCP_PSH | TCP_ACK, DECODE_DIR_INGRESS));
	addp(ft, hp(b, 80, a, 40000, 6, t0 + 5, 1500, TCP_ACK, DECODE_DIR_EGRESS));
	addp(ft, hp(b, 80, a, 40000, 6, t0 + 6, 900, TCP_PSH | TCP_ACK, DECODE_DIR_EGRESS));
}

Test(flowtab, biflow_pairs_both_directions_into_one_record)
{
	struct flowtab *ft = mkb(16, 10000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);
	const struct flow_record *r;
	struct decode_pkt first = hp(2, 40000, 9, 80, 6, 0, 0, 0, DECODE_DIR_INGRESS);

	handshake(ft, 2, 9, 1000);
	cr_assert_eq(st->flows_created, 1);
	cr_assert_eq(st->flows_active, 1);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 1);
	r = &sink.recs[0];
	/* The initiator's key, as its first packet had it (ingress at the interface). */
	cr_assert(memcmp(&r->key, &first.key, sizeof(r->key)) == 0);
	cr_assert_eq(r->packets, 3);
	cr_assert_eq(r->octets, 60 + 52 + 300);
	cr_assert_eq(r->tcp_flags, TCP_SYN | TCP_ACK | TCP_PSH);
	cr_assert_eq(r->rev_packets, 3);
	cr_assert_eq(r->rev_octets, 60 + 1500 + 900);
	cr_assert_eq(r->rev_tcp_flags, TCP_SYN | TCP_ACK | TCP_PSH);
	cr_assert_eq(r->start_ms, 1000);
	cr_assert_eq(r->end_ms, 1006, "the biflow ends with its last packet, either way");
	cr_assert_eq(r->rev_start_ms, 1001);
	cr_assert_eq(r->rev_end_ms, 1006);
	cr_assert_eq(r->biflow_direction, FLOWTAB_BIFLOW_INITIATOR);
	cr_assert_eq(r->end_reason, FLOWTAB_END_FORCED);
	cr_assert_eq(st->packets, r->packets + r->rev_packets);
	cr_assert_eq(st->octets, r->octets + r->rev_octets);
	flowtab_free(ft);
}

Test(flowtab, biflow_source_is_the_first_packet_whatever_the_address_order)
{
	struct flowtab *ft = mkb(16, 10000, 60000);

	/* Initiators with the higher and with the lower address, in both address orders. */
	handshake(ft, 9, 2, 1000);
	handshake(ft, 3, 8, 2000);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct flow_record *r = &sink.recs[i];
		uint8_t want_src = r->start_ms == 1000 ? 9 : 3;

		cr_assert_eq(r->key.src_addr[3], want_src);
		cr_assert_eq(r->key.src_port, 40000);
		cr_assert_eq(r->key.dst_port, 80);
		cr_assert_eq(r->key.direction, DECODE_DIR_INGRESS);
		cr_assert_eq(r->packets, 3);
		cr_assert_eq(r->rev_packets, 3);
		cr_assert_eq(r->rev_octets, 60 + 1500 + 900);
	}
	flowtab_free(ft);
}

Test(flowtab, biflow_direction_is_the_initiators_and_not_part_of_the_key)
{
	struct flowtab *ft = mkb(16, 10000, 60000);

	/* Seen leaving the interface first: the record says egress. */
	addp(ft, hp(5, 1234, 6, 53, 17, 100, 70, 0, DECODE_DIR_EGRESS));
	addp(ft, hp(6, 53, 5, 1234, 17, 101, 120, 0, DECODE_DIR_INGRESS));
	/* An offline capture without direction: both read as ingress and still pair. */
	addp(ft, hp(7, 1234, 8, 53, 17, 100, 70, 0, DECODE_DIR_INGRESS));
	addp(ft, hp(8, 53, 7, 1234, 17, 101, 120, 0, DECODE_DIR_INGRESS));
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, 2);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 2);
	for (size_t i = 0; i < 2; i++) {
		const struct flow_record *r = &sink.recs[i];

		cr_assert_eq(r->key.direction,
			     r->key.src_addr[3] == 5 ? DECODE_DIR_EGRESS : DECODE_DIR_INGRESS);
		cr_assert_eq(r->key.dst_port, 53);
		cr_assert_eq(r->packets, 1);
		cr_assert_eq(r->rev_packets, 1);
		cr_assert_eq(r->rev_octets, 120);
		cr_assert_eq(r->biflow_direction, FLOWTAB_BIFLOW_INITIATOR, "UDP: first packet");
	}
	flowtab_free(ft);
}

Test(flowtab, biflow_keeps_interfaces_vlans_and_protocols_apart)
{
	struct flowtab *ft = mkb(16, 10000, 60000);
	struct decode_pkt p = hp(1, 1000, 2, 2000, 17, 10, 10, 0, DECODE_DIR_INGRESS);
	struct decode_pkt q = hp(2, 2000, 1, 1000, 17, 11, 10, 0, DECODE_DIR_EGRESS);

	flowtab_add(ft, &p);
	q.key.ifindex = 4; /* the reply on another interface is another flow */
	flowtab_add(ft, &q);
	q.key.ifindex = 3;
	q.key.vlan_id = 8;
	flowtab_add(ft, &q);
	q.key.vlan_id = 7;
	q.key.proto = 6;
	flowtab_add(ft, &q);
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, 4);
	q.key.proto = 17;
	flowtab_add(ft, &q); /* finally the real reply */
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, 4);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 4);
	for (size_t i = 0; i < sink.n; i++)
		cr_assert_eq(sink.recs[i].packets + sink.recs[i].rev_packets,
			     sink.recs[i].key.src_addr[3] == 1 ? 2 : 1);
	flowtab_free(ft);
}

Test(flowtab, biflow_pairs_same_host_conversations_by_port)
{
	struct flowtab *ft = mkb(16, 10000, 60000);

	addp(ft, hp(1, 5000, 1, 6000, 17, 10, 10, 0, DECODE_DIR_EGRESS));
	addp(ft, hp(1, 6000, 1, 5000, 17, 11, 20, 0, DECODE_DIR_INGRESS));
	addp(ft, hp(1, 6000, 1, 5000, 17, 12, 20, 0, DECODE_DIR_INGRESS));
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].key.src_port, 5000);
	cr_assert_eq(sink.recs[0].packets, 1);
	cr_assert_eq(sink.recs[0].rev_packets, 2);
	cr_assert_eq(sink.recs[0].rev_octets, 40);
	flowtab_free(ft);
}

Test(flowtab, biflow_pairs_icmp_requests_with_their_replies_only)
{
	struct flowtab *ft = mkb(16, 10000, 60000);
	struct decode_pkt p;
	size_t echo = 0, unreach = 0, v6 = 0;

	/* ICMP echo: request 8 from .1, reply 0 from .2; ports hold type << 8 | code. */
	addp(ft, hp(1, 0, 2, 8 << 8, 1, 10, 84, 0, DECODE_DIR_INGRESS));
	addp(ft, hp(2, 0, 1, 0 << 8, 1, 11, 84, 0, DECODE_DIR_EGRESS));
	addp(ft, hp(1, 0, 2, 8 << 8, 1, 12, 84, 0, DECODE_DIR_INGRESS));
	/* Destination unreachable has no reply: one flow per direction. */
	addp(ft, hp(1, 0, 2, 3 << 8 | 3, 1, 13, 56, 0, DECODE_DIR_INGRESS));
	addp(ft, hp(2, 0, 1, 3 << 8 | 3, 1, 14, 56, 0, DECODE_DIR_EGRESS));
	/* ICMPv6 echo 128/129, the reply seen first. */
	p = hp(1, 0, 2, 129 << 8, 58, 15, 104, 0, DECODE_DIR_INGRESS);
	p.key.ip_version = 6;
	flowtab_add(ft, &p);
	p = hp(2, 0, 1, 128 << 8, 58, 16, 104, 0, DECODE_DIR_EGRESS);
	p.key.ip_version = 6;
	flowtab_add(ft, &p);
	cr_assert_eq(flowtab_get_stats(ft)->flows_active, 4);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 4);
	for (size_t i = 0; i < sink.n; i++) {
		const struct flow_record *r = &sink.recs[i];

		if (r->key.ip_version == 6) {
			v6++;
			cr_assert_eq(r->key.dst_port, 129 << 8, "the first packet's type");
			cr_assert_eq(r->key.src_addr[3], 1);
			cr_assert_eq(r->packets, 1);
			cr_assert_eq(r->rev_packets, 1);
		} else if (r->key.dst_port == 8 << 8) {
			echo++;
			cr_assert_eq(r->key.src_addr[3], 1);
			cr_assert_eq(r->packets, 2);
			cr_assert_eq(r->rev_packets, 1);
			cr_assert_eq(r->rev_octets, 84);
		} else {
			unreach++;
			cr_assert_eq(r->key.dst_port, 3 << 8 | 3);
			cr_assert_eq(r->packets, 1);
			cr_assert_eq(r->rev_packets, 0);
			cr_assert_eq(r->rev_start_ms, 0);
		}
	}
	cr_assert_eq(echo, 1);
	cr_assert_eq(unreach, 2);
	cr_assert_eq(v6, 1);
	flowtab_free(ft);
}

Test(flowtab, biflow_tcp_ends_after_both_fins_and_the_last_ack)
{
	struct flowtab *ft = mkb(16, 10000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	handshake(ft, 2, 9, 1000);
	addp(ft, hp(2, 40000, 9, 80, 6, 1010, 52, TCP_FIN | TCP_ACK, DECODE_DIR_INGRESS));
	cr_assert_eq(sink.n, 0, "one FIN does not end a biflow");
	addp(ft, hp(9, 80, 2, 40000, 6, 1011, 52, TCP_FIN | TCP_ACK, DECODE_DIR_EGRESS));
	cr_assert_eq(sink.n, 0, "the last ACK is still to come");
	addp(ft, hp(2, 40000, 9, 80, 6, 1012, 52, TCP_ACK, DECODE_DIR_INGRESS));
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(sink.recs[0].packets, 5);
	cr_assert_eq(sink.recs[0].rev_packets, 4);
	cr_assert_eq(sink.recs[0].tcp_flags & TCP_FIN, TCP_FIN);
	cr_assert_eq(sink.recs[0].rev_tcp_flags & TCP_FIN, TCP_FIN);
	cr_assert_eq(sink.recs[0].end_ms, 1012);
	cr_assert_eq(sink.recs[0].rev_end_ms, 1011);
	cr_assert_eq(st->flows_active, 0);

	/* An RST from either side ends it at once, the RST counted. */
	handshake(ft, 3, 9, 2000);
	addp(ft, hp(9, 80, 3, 40000, 6, 2010, 40, TCP_RST, DECODE_DIR_EGRESS));
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(sink.recs[1].rev_packets, 4);
	cr_assert_eq(sink.recs[1].rev_tcp_flags & TCP_RST, TCP_RST);
	cr_assert_eq(st->flows_active, 0);
	flowtab_free(ft);
}

Test(flowtab, biflow_lone_rst_takes_no_slot_and_midstream_start_is_arbitrary)
{
	struct flowtab *ft = mkb(1, 10000, 60000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);

	/* Picked up mid-connection: the first packet is the server's ACK. */
	addp(ft, hp(9, 80, 2, 40000, 6, 100, 1500, TCP_ACK, DECODE_DIR_EGRESS));
	addp(ft, hp(2, 40000, 9, 80, 6, 101, 52, TCP_ACK, DECODE_DIR_INGRESS));
	/* A full cache: a lone RST is exported at once and evicts nobody. */
	addp(ft, hp(4, 1, 5, 2, 6, 102, 40, TCP_RST, DECODE_DIR_INGRESS));
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].key.src_addr[3], 4);
	cr_assert_eq(sink.recs[0].packets, 1);
	cr_assert_eq(sink.recs[0].rev_packets, 0);
	cr_assert_eq(sink.recs[0].biflow_direction, FLOWTAB_BIFLOW_ARBITRARY);
	cr_assert_eq(st->evictions, 0);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].key.src_addr[3], 9);
	cr_assert_eq(sink.recs[1].key.direction, DECODE_DIR_EGRESS);
	cr_assert_eq(sink.recs[1].biflow_direction, FLOWTAB_BIFLOW_ARBITRARY);
	cr_assert_eq(sink.recs[1].rev_packets, 1);
	flowtab_free(ft);
}

Test(flowtab, biflow_active_reports_carry_deltas_of_both_directions)
{
	struct flowtab *ft = mkb(16, 100000, 1000);

	addp(ft, hp(1, 1000, 2, 53, 17, 0, 60, 0, DECODE_DIR_INGRESS));
	addp(ft, hp(2, 53, 1, 1000, 17, 100, 200, 0, DECODE_DIR_EGRESS));
	flowtab_expire(ft, 1000);
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[0].packets, 1);
	cr_assert_eq(sink.recs[0].rev_packets, 1);
	/* Only the responder talks in the next interval: still reported, packets 0. */
	addp(ft, hp(2, 53, 1, 1000, 17, 1500, 300, 0, DECODE_DIR_EGRESS));
	addp(ft, hp(2, 53, 1, 1000, 17, 1600, 300, 0, DECODE_DIR_EGRESS));
	flowtab_expire(ft, 2000);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(sink.recs[1].packets, 0);
	cr_assert_eq(sink.recs[1].octets, 0);
	cr_assert_eq(sink.recs[1].rev_packets, 2);
	cr_assert_eq(sink.recs[1].rev_octets, 600);
	cr_assert_eq(sink.recs[1].start_ms, 0);
	cr_assert_eq(sink.recs[1].rev_start_ms, 100, "kept across reports, like start_ms");
	cr_assert_eq(sink.recs[1].rev_end_ms, 1600);
	cr_assert_eq(sink.recs[1].key.src_addr[3], 1, "still the initiator's record");
	/* A quiet interval reports nothing. */
	flowtab_expire(ft, 3000);
	cr_assert_eq(sink.n, 2);
	addp(ft, hp(1, 1000, 2, 53, 17, 3500, 70, 0, DECODE_DIR_INGRESS));
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 3);
	cr_assert_eq(sink.recs[2].packets, 1);
	cr_assert_eq(sink.recs[2].octets, 70);
	cr_assert_eq(sink.recs[2].rev_packets, 0);
	cr_assert_eq(sink.recs[2].rev_octets, 0);
	cr_assert_eq(sink.recs[2].rev_tcp_flags, 0);
	flowtab_free(ft);
}

Test(flowtab, biflow_restarted_after_idle_belongs_to_its_new_first_sender)
{
	struct flowtab *ft = mkb(16, 1000, 60000);

	addp(ft, hp(1, 1000, 2, 53, 17, 0, 60, 0, DECODE_DIR_INGRESS));
	addp(ft, hp(2, 53, 1, 1000, 17, 10, 200, 0, DECODE_DIR_EGRESS));
	/* Idle, then the other side speaks first: a new biflow with it as the source. */
	addp(ft, hp(2, 53, 1, 1000, 17, 5000, 90, 0, DECODE_DIR_EGRESS));
	addp(ft, hp(1, 1000, 2, 53, 17, 5001, 30, 0, DECODE_DIR_INGRESS));
	cr_assert_eq(sink.n, 1);
	cr_assert_eq(sink.recs[0].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(sink.recs[0].key.src_addr[3], 1);
	cr_assert_eq(sink.recs[0].rev_packets, 1);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 2);
	cr_assert_eq(sink.recs[1].key.src_addr[3], 2);
	cr_assert_eq(sink.recs[1].key.src_port, 53);
	cr_assert_eq(sink.recs[1].key.direction, DECODE_DIR_EGRESS);
	cr_assert_eq(sink.recs[1].start_ms, 5000);
	cr_assert_eq(sink.recs[1].packets, 1);
	cr_assert_eq(sink.recs[1].octets, 90);
	cr_assert_eq(sink.recs[1].rev_packets, 1);
	cr_assert_eq(sink.recs[1].rev_octets, 30);
	cr_assert_eq(sink.recs[1].rev_start_ms, 5001);
	flowtab_free(ft);
}

Test(flowtab, uniflow_records_carry_no_reverse_fields)
{
	struct flowtab *ft = mk(16, 10000, 60000);

	handshake(ft, 2, 9, 1000);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(sink.n, 2);
	for (size_t i = 0; i < sink.n; i++) {
		cr_assert_eq(sink.recs[i].packets, 3);
		cr_assert_eq(sink.recs[i].rev_packets, 0);
		cr_assert_eq(sink.recs[i].rev_octets, 0);
		cr_assert_eq(sink.recs[i].rev_tcp_flags, 0);
		cr_assert_eq(sink.recs[i].rev_start_ms, 0);
		cr_assert_eq(sink.recs[i].biflow_direction, 0);
	}
	flowtab_free(ft);
}

/*
 * Random conversations through a small biflow table: every packet is counted exactly once,
 * in the direction of its sender relative to the record's source, through evictions,
 * idle and active timeouts, FIN/RST ends and flushes of one interface.
 */
Test(flowtab, biflow_accounting_invariant_on_random_workload)
{
	enum { N_CONV = 3000, N_PKTS = 100000, MAX_FLOWS = 500 };
	struct flowtab *ft = mkb(MAX_FLOWS, 4000, 3000);
	const struct flowtab_stats *st = flowtab_get_stats(ft);
	/* [conv][0] packets sent by the client, [1] by the server */
	static uint64_t want[N_CONV][2], got[N_CONV][2], want_oct[N_CONV][2], got_oct[N_CONV][2];
	uint64_t rng = 0x243f6a8885a308d3ull, ts = 1000000, sum = 0, sum_oct = 0;

	memset(want, 0, sizeof(want));
	memset(got, 0, sizeof(got));
	memset(want_oct, 0, sizeof(want_oct));
	memset(got_oct, 0, sizeof(got_oct));
	for (uint32_t i = 0; i < N_PKTS; i++) {
		uint64_t r = xorshift(&rng);
		uint32_t c =
			(r & 1) ? (uint32_t)(r >> 8) % (N_CONV / 50) : (uint32_t)(r >> 8) % N_CONV;
		int server = (r >> 30) & 1;
		uint8_t proto = c % 3 ? 6 : 17;
		uint8_t flags = TCP_ACK;
		uint32_t octets = 40 + (uint32_t)((r >> 24) % 1461);
		struct decode_pkt p;

		if ((r >> 50) % 300 == 0)
			flags |= TCP_FIN;
		else if ((r >> 50) % 300 == 1)
			flags |= TCP_RST;
		/* Client 10.<c>, server 192.0.2.1:443 (lower or higher address by c). */
		memset(&p, 0, sizeof(p));
		p.key.ip_version = 4;
		p.key.proto = proto;
		p.key.ifindex = 1 + c % 2;
		memcpy(server ? p.key.dst_addr : p.key.src_addr,
		       (uint8_t[]){c % 4 ? 10 : 200, 0, (uint8_t)(c >> 8), (uint8_t)c}, 4);
		memcpy(server ? p.key.src_addr : p.key.dst_addr, (uint8_t[]){192, 0, 2, 1}, 4);
		p.key.src_port = server ? 443 : (uint16_t)(1024 + c);
		p.key.dst_port = server ? (uint16_t)(1024 + c) : 443;
		p.key.direction = (r >> 40) & 1;
		p.ts_ms = ts;
		p.octets = octets;
		p.tcp_flags = proto == 6 ? flags : 0;
		flowtab_add(ft, &p);
		want[c][server]++;
		want_oct[c][server] += octets;
		ts += (r >> 33) % 3;
		if (i % 20000 == 9999)
			ts += 5000;
		if (i % 5000 == 4999)
			flowtab_expire(ft, ts);
		if (i == N_PKTS / 2)
			flowtab_flush_ifindex(ft, 2, FLOWTAB_END_FORCED);
		cr_assert_leq(st->flows_active, MAX_FLOWS);
	}
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	for (size_t i = 0; i < sink.n; i++) {
		const struct flow_record *r = &sink.recs[i];
		int client_first = r->key.src_port != 443;
		uint32_t c = (uint32_t)(client_first ? r->key.src_port : r->key.dst_port) - 1024;

		cr_assert_lt(c, N_CONV);
		cr_assert_gt(r->packets + r->rev_packets, 0);
		cr_assert_geq(r->end_ms, r->start_ms);
		got[c][!client_first] += r->packets;
		got[c][client_first] += r->rev_packets;
		got_oct[c][!client_first] += r->octets;
		got_oct[c][client_first] += r->rev_octets;
		sum += r->packets + r->rev_packets;
		sum_oct += r->octets + r->rev_octets;
	}
	cr_assert_eq(sum, N_PKTS);
	cr_assert_eq(st->packets, N_PKTS);
	cr_assert_eq(sum_oct, st->octets);
	for (uint32_t c = 0; c < N_CONV; c++) {
		for (int s = 0; s < 2; s++) {
			cr_assert_eq(got[c][s], want[c][s], "conversation %u side %d", c, s);
			cr_assert_eq(got_oct[c][s], want_oct[c][s], "conversation %u side %d", c,
				     s);
		}
	}
	cr_assert_eq(st->records_exported, sink.n);
	cr_assert_gt(st->ended[FLOWTAB_END_IDLE], 0);
	cr_assert_gt(st->ended[FLOWTAB_END_ACTIVE], 0);
	cr_assert_gt(st->ended[FLOWTAB_END_EOF_DETECTED], 0);
	cr_assert_gt(st->ended[FLOWTAB_END_FORCED], 0);
	cr_assert_gt(st->evictions, 0);
	flowtab_free(ft);
}
