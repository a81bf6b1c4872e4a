// SPDX-License-Identifier: Apache-2.0
/*
 * ebpf_prog: what the eBPF capture program costs per packet. Each frame is run through the
 * loaded TC program with bpf_prog_test_run (a large repeat, the mean per run as the kernel
 * measures it), next to decode_frame() on the same bytes in user space. Needs root.
 *
 *	ebpf_prog [repeat]     (default 1000000; prints one table row per frame)
 *
 * Then the same for the biflow map and for 1-in-10 sampling, and the cost of expiry.
 */
#define _GNU_SOURCE /* unshare */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cap_ebpf.h"
#include "decode.h"
#include "log.h"

#define BENCH_ROUNDS 5 /* the median of this many test runs is reported */

struct frame {
	const char *name;
	uint8_t data[256];
	uint32_t len;
};

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* Ethernet header with the given EtherType. */
static uint32_t eth(uint8_t *p, uint16_t etype)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};

	memcpy(p, macs, sizeof(macs));
	put16(p + 12, etype);
	return 14;
}

/* IPv4 header, payload_len bytes of payload follow. */
static uint32_t ipv4(uint8_t *p, uint8_t proto, uint32_t payload_len, uint8_t last_octet)
{
	memset(p, 0, 20);
	p[0] = 0x45;
	put16(p + 2, (uint16_t)(20 + payload_len));
	p[8] = 64;
	p[9] = proto;
	p[12] = 10;
	p[15] = last_octet;
	p[16] = 10;
	p[19] = (uint8_t)(last_octet + 1);
	return 20;
}

static uint32_t ipv6(uint8_t *p, uint8_t proto, uint32_t payload_len)
{
	memset(p, 0, 40);
	p[0] = 0x60;
	put16(p + 4, (uint16_t)payload_len);
	p[6] = proto;
	p[7] = 64;
	p[8] = 0x20;
	p[9] = 0x01;
	p[23] = 1;
	p[24] = 0x20;
	p[25] = 0x01;
	p[39] = 2;
	return 40;
}

static uint32_t tcp(uint8_t *p, uint16_t sport, uint16_t dport)
{
	memset(p, 0, 20);
	put16(p, sport);
	put16(p + 2, dport);
	p[12] = 0x50;
	p[13] = 0x10; /* ACK */
	return 20;
}

static uint32_t udp(uint8_t *p, uint16_t sport, uint16_t dport, uint32_t payload_len)
{
	memset(p, 0, 8);
	put16(p, sport);
	put16(p + 2, dport);
	put16(p + 4, (uint16_t)(8 + payload_len));
	return 8;
}

static void build(struct frame *f)
{
	uint8_t *p = f->data;
	uint32_t o = 0;

	memset(f->data, 0, sizeof(f->data));
	if (strcmp(f->name, "tcp4") == 0) {
		o += eth(p, 0x0800);
		o += ipv4(p + o, 6, 20 + 64, 1);
		o += tcp(p + o, 40000, 443);
		o += 64;
	} else if (strcmp(f->name, "udp4") == 0) {
		o += eth(p, 0x0800);
		o += ipv4(p + o, 17, 8 + 64, 1);
		o += udp(p + o, 5353, 53, 64);
		o += 64;
	} else if (strcmp(f->name, "tcp6") == 0) {
		o += eth(p, 0x86dd);
		o += ipv6(p + o, 6, 20 + 64);
		o += tcp(p + o, 40000, 443);
		o += 64;
	} else if (strcmp(f->name, "vlan-udp4") == 0) {
		o += eth(p, 0x8100);
		put16(p + o, 100);
		put16(p + o + 2, 0x0800);
		o += 4;
		o += ipv4(p + o, 17, 8 + 64, 1);
		o += udp(p + o, 5353, 53, 64);
		o += 64;
	} else { /* vxlan: outer IPv4/UDP 4789, VNI 42, inner Ethernet/IPv4/TCP */
		uint32_t inner = 14 + 20 + 20 + 64;

		o += eth(p, 0x0800);
		o += ipv4(p + o, 17, 8 + 8 + inner, 100);
		o += udp(p + o, 51000, 4789, 8 + inner);
		p[o] = 0x08;
		p[o + 6] = 42;
		o += 8;
		o += eth(p + o, 0x0800);
		o += ipv4(p + o, 6, 20 + 64, 1);
		o += tcp(p + o, 40000, 443);
		o += 64;
	}
	f->len = o;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double decode_ns(const struct frame *f, uint32_t repeat)
{
	struct decoder *d = decode_new(NULL);
	struct timespec a, b;
	struct decode_pkt pkt;
	uint64_t ok = 0;

	if (!d)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (uint32_t i = 0; i < repeat; i++)
		ok += decode_frame(d, DECODE_LINK_EN10MB, f->data, f->len, f->len, 0, 1, 0, &pkt);
	clock_gettime(CLOCK_MONOTONIC, &b);
	decode_free(d);
	if (ok != repeat)
		return -1;
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / repeat;
}

static double ms_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void count_flow(const struct flow_record *rec, void *user)
{
	(void)rec;
	((uint64_t *)user)[0]++;
}

/* A packet that went through the ring: the map could not take its flow at that moment. */
static void count_ring(const struct decode_pkt *pkt, void *user)
{
	(void)pkt;
	((uint64_t *)user)[1]++;
}

/*
 * The cost of expiry: fill the kernel map with n single-packet flows, then time one scan
 * that expires nothing (what the once-a-second call costs) and one flush that exports all.
 */
static int bench_expire(uint32_t n)
{
	/* Headroom: the kernel's per-CPU element counter may call the map full a bit early. */
	struct capture_live_config cfg = {.max_flows = n + n / 4};
	uint64_t counts[2] = {0, 0}; /* flows exported from the map, packets via the ring */
	struct capture_sink sink = {.flow = count_flow, .packet = count_ring, .user = counts};
	struct frame f = {.name = "udp4"};
	struct timespec t;
	double scan_ms, flush_ms;
	struct capture *c;
	uint32_t ret;

	c = cap_ebpf_new(&cfg);
	if (!c)
		return -1;
	build(&f);
	for (uint32_t i = 0; i < n; i++) {
		put16(f.data + 14 + 20, (uint16_t)i); /* source port */
		f.data[14 + 14] = (uint8_t)(i >> 16); /* source address, 2nd octet */
		cap_ebpf_test_run(c, f.data, f.len, 0, 0, 1, &ret, NULL);
	}
	clock_gettime(CLOCK_MONOTONIC, &t);
	c->ops->expire(c, 0, false, &sink); /* now_ms 0: nothing is idle or active yet */
	scan_ms = ms_since(&t);
	clock_gettime(CLOCK_MONOTONIC, &t);
	c->ops->expire(c, 0, true, &sink);
	flush_ms = ms_since(&t);
	while (c->ops->dispatch(c, 4096, &sink) > 0)
		;
	/*
	 * The flow map allocates entries on demand; in a burst the kernel's allocator can
	 * refuse one, and that packet takes the ring to user space instead: both are counted.
	 */
	printf("expire with %u flows in the map: scan %.1f ms, flush %.1f ms (%llu records, "
	       "%llu packets via the ring)\n",
	       n, scan_ms, flush_ms, (unsigned long long)counts[0], (unsigned long long)counts[1]);
	capture_close(c);
	return counts[0] + counts[1] == n ? 0 : -1;
}

/* Median ns/packet of frame f through a capture opened with cfg and attached to lo. */
static int mode_ns(const struct capture_live_config *cfg, const struct frame *f, uint32_t repeat,
		   uint32_t *ret_ns)
{
	uint32_t ns[BENCH_ROUNDS], ret;
	struct capture *c = cap_ebpf_new(cfg);
	int err = 0;

	if (!c || c->ops->attach(c, "lo", 1) < 0) {
		capture_close(c);
		return -1;
	}
	for (int r = 0; r < BENCH_ROUNDS && err == 0; r++)
		err = cap_ebpf_test_run(c, f->data, f->len, 0, 0, repeat, &ret, &ns[r]);
	capture_close(c);
	if (err < 0)
		return err;
	qsort(ns, BENCH_ROUNDS, sizeof(ns[0]), cmp_u32);
	*ret_ns = ns[BENCH_ROUNDS / 2];
	return 0;
}

/* The program's modes: uniflow (the table above), biflow map, 1-in-10 sampling. */
static int bench_modes(uint32_t repeat)
{
	static const struct {
		const char *name;
		struct capture_live_config cfg;
	} modes[] = {
		{"uniflow", {.max_flows = 0}},
		{"biflow", {.biflow = true}},
		{"sample1/10", {.sampling_interval = 10}},
	};
	struct frame frames[] = {{.name = "tcp4"}, {.name = "udp4"}};

	printf("%-10s %-11s %12s\n", "frame", "mode", "bpf ns/pkt");
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		build(&frames[i]);
		for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			uint32_t ns = 0;
			int err = mode_ns(&modes[m].cfg, &frames[i], repeat, &ns);

			if (err < 0) {
				fprintf(stderr, "mode '%s': %s\n", modes[m].name, strerror(-err));
				return -1;
			}
			printf("%-10s %-11s %12u\n", frames[i].name, modes[m].name, ns);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct frame frames[] = {
		{.name = "tcp4"},      {.name = "udp4"},  {.name = "tcp6"},
		{.name = "vlan-udp4"}, {.name = "vxlan"},
	};
	uint32_t repeat = 1000000;
	struct capture *c;

	if (argc > 1)
		repeat = (uint32_t)strtoul(argv[1], NULL, 10);
	if (repeat == 0) {
		fprintf(stderr, "usage: %s [repeat]\n", argv[0]);
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "%s: loading BPF programs needs root\n", argv[0]);
		return 77;
	}
	log_set_level(LOG_LVL_WARN);
	/*
	 * Run on an attached interface, as live packets do (one counter-slot lookup): the
	 * loopback device of a private network namespace, so nothing on the host is touched.
	 */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s\n", argv[0], strerror(errno));
		return 1;
	}
	c = cap_ebpf_new(NULL);
	if (!c || c->ops->attach(c, "lo", 1) < 0) {
		capture_close(c);
		return 1;
	}
	printf("%-10s %6s %12s %10s %14s\n", "frame", "bytes", "bpf ns/pkt", "bpf Mpps",
	       "decode ns/pkt");
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		uint32_t ns[BENCH_ROUNDS], ret;
		double dns;

		build(&frames[i]);
		for (int r = 0; r < BENCH_ROUNDS; r++) {
			int err = cap_ebpf_test_run(c, frames[i].data, frames[i].len, 0, 0, repeat,
						    &ret, &ns[r]);

			if (err < 0) {
				fprintf(stderr, "test run '%s': %s\n", frames[i].name,
					strerror(-err));
				capture_close(c);
				return 1;
			}
		}
		qsort(ns, BENCH_ROUNDS, sizeof(ns[0]), cmp_u32);
		dns = decode_ns(&frames[i], repeat);
		printf("%-10s %6u %12u %10.2f %14.1f\n", frames[i].name, frames[i].len,
		       ns[BENCH_ROUNDS / 2], ns[BENCH_ROUNDS / 2] ? 1e3 / ns[BENCH_ROUNDS / 2] : 0,
		       dns);
	}
	capture_close(c);
	if (bench_modes(repeat) < 0)
		return 1;
	return bench_expire(65536) < 0;
}
