// SPDX-License-Identifier: Apache-2.0
/*
 * flowtab's 32-bit per-interval packet count: this file builds flowtab.c itself with a
 * low FLOWTAB_PACKETS_MAX, so a flow reaches the count within a test and must be reported
 * (active timeout) before it would wrap, in uniflow and biflow mode.
 */
#define FLOWTAB_PACKETS_MAX 1000u
#include "../../exporter/flowtab.c"

#include <criterion/criterion.h>

struct sink {
	struct flow_record recs[16];
	size_t n;
};

static void collect(const struct flow_record *rec, void *user)
{
	struct sink *s = user;

	cr_assert_lt(s->n, 16);
	s->recs[s->n++] = *rec;
}

static struct decode_pkt mkpkt(uint8_t from, uint8_t to, uint64_t ts_ms)
{
	struct decode_pkt p;

	memset(&p, 0, sizeof(p));
	memcpy(p.key.src_addr, (uint8_t[]){10, 0, 0, from}, 4);
	memcpy(p.key.dst_addr, (uint8_t[]){10, 0, 0, to}, 4);
	p.key.src_port = from == 1 ? 5000 : 53;
	p.key.dst_port = from == 1 ? 53 : 5000;
	p.key.ip_version = 4;
	p.key.proto = 17;
	p.ts_ms = ts_ms;
	p.octets = 100;
	return p;
}

/* 2500 packets, all within one active timeout: records of 1000, 1000, then 500. */
static void full_count_is_reported(bool biflow)
{
	struct flowtab_config c = {
		.max_flows = 4,
		.idle_timeout_ms = 60000,
		.active_timeout_ms = 600000,
		.biflow = biflow,
	};
	struct sink s = {.n = 0};
	struct flowtab *ft = flowtab_new(&c, collect, &s);
	const struct flowtab_stats *st;

	cr_assert_not_null(ft);
	st = flowtab_get_stats(ft);
	for (uint32_t i = 0; i < 2500; i++) {
		/* In biflow mode every fifth packet is a reply. */
		struct decode_pkt p = biflow && i % 5 == 4 ? mkpkt(2, 1, 1000 + i / 10)
							   : mkpkt(1, 2, 1000 + i / 10);

		flowtab_add(ft, &p);
	}
	cr_assert_eq(s.n, 2);
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	cr_assert_eq(s.n, biflow ? 3 : 3);
	for (size_t i = 0; i < 3; i++) {
		uint64_t want = i < 2 ? 1000 : 500;

		cr_assert_eq(s.recs[i].packets + s.recs[i].rev_packets, want, "record %zu", i);
		cr_assert_eq(s.recs[i].octets + s.recs[i].rev_octets, 100 * want);
		cr_assert_eq(s.recs[i].rev_packets, biflow ? want / 5 : 0);
		cr_assert_eq(s.recs[i].end_reason, i < 2 ? FLOWTAB_END_ACTIVE : FLOWTAB_END_FORCED);
		cr_assert_eq(s.recs[i].start_ms, 1000);
	}
	/* The first report holds packets 0..999 (last at 1099 ms), the next begins after. */
	cr_assert_eq(s.recs[0].end_ms, 1099);
	cr_assert_eq(s.recs[1].end_ms, 1199);
	cr_assert_eq(s.recs[2].end_ms, 1249);
	cr_assert_eq(st->packets, 2500);
	cr_assert_eq(st->ended[FLOWTAB_END_ACTIVE], 2);
	cr_assert_eq(st->flows_created, 1);
	flowtab_free(ft);
}

Test(flowtab_cap, uniflow_full_count_is_reported_before_it_wraps)
{
	full_count_is_reported(false);
}

Test(flowtab_cap, biflow_full_count_is_reported_before_it_wraps)
{
	full_count_is_reported(true);
}
