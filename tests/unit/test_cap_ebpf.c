// SPDX-License-Identifier: Apache-2.0
/*
 * cap_ebpf: the kernel parser is checked against decode_frame() on the same bytes (every
 * crafted frame, every truncation, random damage), then the metering paths (map, ring,
 * counters, expiry) and a live veth pair in private namespaces. Loading BPF needs root:
 * without it every test is skipped.
 */
#define _GNU_SOURCE /* setns */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cap_ebpf.h"
#include "decode.h"
#include "flowtab.h"
#include "log.h"
#include "pktbuild.h"
#include "sampler.h"

#define RUN_IFINDEX 1		/* bpf_prog_test_run runs the skb on the loopback device */
#define TC_UNSPEC   0xffffffffu /* TC_ACT_UNSPEC (-1) as the unsigned retval */
#define MAX_GOT	    8192

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("loading BPF programs needs root");
}

static void quiet(void)
{
	log_set_level(LOG_LVL_WARN);
}

/* ---- what a capture hands over ------------------------------------------------------- */

struct got {
	struct flow_record recs[MAX_GOT];
	size_t n;
	struct decode_pkt pkts[MAX_GOT];
	size_t npkts;
};

static struct got G;

static void got_flow(const struct flow_record *r, void *user)
{
	struct got *g = user;

	cr_assert_lt(g->n, MAX_GOT);
	g->recs[g->n++] = *r;
}

static void got_packet(const struct decode_pkt *p, void *user)
{
	struct got *g = user;

	cr_assert_lt(g->npkts, MAX_GOT);
	g->pkts[g->npkts++] = *p;
}

static const struct capture_sink SINK = {.flow = got_flow, .packet = got_packet, .user = &G};

static struct capture *cap_open(uint8_t view, uint32_t max_flows, uint32_t ring_bytes,
				uint32_t idle_ms, uint32_t active_ms)
{
	struct capture_live_config cfg = {
		.tunnel_view = view,
		.max_flows = max_flows,
		.ring_bytes = ring_bytes,
		.idle_timeout_ms = idle_ms,
		.active_timeout_ms = active_ms,
	};
	struct capture *c;

	quiet();
	c = cap_ebpf_new(&cfg);
	cr_assert_not_null(c, "cap_ebpf_new failed");
	return c;
}

static uint64_t counter(const struct capture *c, const char *name)
{
	uint64_t v[64];
	size_t n = cap_ebpf_counter_count();

	cr_assert_leq(n, 64);
	cr_assert_eq(cap_ebpf_get_counters(c, v, n), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(cap_ebpf_counter_name(i), name) == 0)
			return v[i];
	cr_assert_fail("no counter '%s'", name);
	return 0;
}

/* Every packet the program saw is in exactly one place. */
static void check_balance(const struct capture *c)
{
	static const char *const drops[] = {
		"non_ip",	  "truncated_l2",     "bad_ip_version", "truncated_ip",
		"bad_ip_hdr_len", "bad_ip_total_len", "bad_ipv6_ext",	"vlan_too_deep",
	};
	uint64_t sum = counter(c, "metered") + counter(c, "ring") + counter(c, "ring_full") +
		       counter(c, "sampled_out");

	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++)
		sum += counter(c, drops[i]);
	cr_assert_eq(counter(c, "packets"), sum, "packets %" PRIu64 " != placed %" PRIu64,
		     counter(c, "packets"), sum);
}

/*
 * Run the program on one frame. bpf_prog_test_run refuses (EINVAL) an untagged IPv4/IPv6
 * frame shorter than Ethernet + the fixed IP header; returns false for those only.
 */
static bool try_run(struct capture *c, const void *data, uint32_t len, uint8_t dir)
{
	uint32_t ret = 0;
	int rc;

	rc = cap_ebpf_test_run(c, data, len, 0, dir, 0, &ret, NULL);
	if (rc == -EINVAL && len < 14 + 40)
		return false;
	cr_assert_eq(rc, 0, "test_run len %u: %d", len, rc);
	cr_assert_eq(ret, TC_UNSPEC, "the program returned %d, not TC_ACT_UNSPEC", (int)ret);
	return true;
}

static void run(struct capture *c, const void *data, uint32_t len, uint8_t dir)
{
	cr_assert(try_run(c, data, len, dir), "test_run refused a %u-byte frame", len);
}

/* ---- the model: decode_frame() on the same bytes ------------------------------------- */

struct expect {
	struct flow_key key;
	uint64_t packets;
	uint64_t octets;
	uint16_t inner_vlan_id;
	uint8_t tcp_flags;
	uint8_t tos;
	uint8_t outer_ip_version;
	uint8_t outer_src_addr[16];
	uint8_t outer_dst_addr[16];
	bool seen;
};

struct model {
	struct decoder *d;
	struct expect e[MAX_GOT];
	size_t n;
};

static struct model M;

static void model_init(uint8_t view)
{
	struct decode_config cfg = {.tunnel_view = view};

	decode_free(M.d);
	memset(&M, 0, sizeof(M));
	M.d = decode_new(&cfg);
	cr_assert_not_null(M.d);
}

static void model_add(const struct decode_pkt *p)
{
	struct expect *e = NULL;

	for (size_t i = 0; i < M.n; i++) {
		if (memcmp(&M.e[i].key, &p->key, sizeof(p->key)) == 0) {
			e = &M.e[i];
			break;
		}
	}
	if (!e) {
		cr_assert_lt(M.n, MAX_GOT);
		e = &M.e[M.n++];
		e->key = p->key;
		e->tos = p->tos;
		e->inner_vlan_id = p->inner_vlan_id;
		e->outer_ip_version = p->outer_ip_version;
		memcpy(e->outer_src_addr, p->outer_src_addr, 16);
		memcpy(e->outer_dst_addr, p->outer_dst_addr, 16);
	}
	e->packets++;
	e->octets += p->octets;
	e->tcp_flags |= p->tcp_flags;
}

/* The same frame through decode_frame() (the model) and through the BPF program. */
static void both(struct capture *c, const uint8_t *data, uint32_t len, uint8_t dir)
{
	struct decode_pkt p;

	if (!try_run(c, data, len, dir))
		return; /* the kernel's test harness refuses it: the model skips it too */
	if (decode_frame(M.d, DECODE_LINK_EN10MB, data, len, len, 0, RUN_IFINDEX, dir, &p)) {
		model_add(&p);
		if (decode_outer_view(M.d, &p))
			model_add(&p);
	}
}

static void key_text(char *buf, size_t size, const struct flow_key *k)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int af = k->ip_version == 6 ? AF_INET6 : AF_INET;

	inet_ntop(af, k->src_addr, s, sizeof(s));
	inet_ntop(af, k->dst_addr, d, sizeof(d));
	snprintf(buf, size, "%s>%s v%u proto %u ports %u>%u vlan %u if %u dir %u tunnel %u/%u", s,
		 d, k->ip_version, k->proto, k->src_port, k->dst_port, k->vlan_id, k->ifindex,
		 k->direction, k->tunnel_type, k->tunnel_id);
}

static struct expect *model_find(const struct flow_key *k)
{
	for (size_t i = 0; i < M.n; i++)
		if (memcmp(&M.e[i].key, k, sizeof(*k)) == 0)
			return &M.e[i];
	return NULL;
}

/* Compare one kernel flow (records + ring packets already folded) with the model's. */
static void expect_flow(const struct flow_key *k, uint64_t packets, uint64_t octets, uint8_t flags,
			uint8_t tos, uint16_t inner_vlan, uint8_t outer_v, const uint8_t *osrc,
			const uint8_t *odst, const char *what)
{
	struct expect *e = model_find(k);
	char kt[256];

	key_text(kt, sizeof(kt), k);
	cr_assert_not_null(e, "%s: the eBPF path made flow %s, decode did not", what, kt);
	cr_assert_eq(packets, e->packets, "%s: %s packets %" PRIu64 " want %" PRIu64, what, kt,
		     packets, e->packets);
	cr_assert_eq(octets, e->octets, "%s: %s octets %" PRIu64 " want %" PRIu64, what, kt, octets,
		     e->octets);
	cr_assert_eq(flags, e->tcp_flags, "%s: %s tcp flags", what, kt);
	cr_assert_eq(tos, e->tos, "%s: %s tos", what, kt);
	cr_assert_eq(inner_vlan, e->inner_vlan_id, "%s: %s inner vlan", what, kt);
	cr_assert_eq(outer_v, e->outer_ip_version, "%s: %s outer version", what, kt);
	cr_assert_arr_eq(osrc, e->outer_src_addr, 16, "%s: %s outer src", what, kt);
	cr_assert_arr_eq(odst, e->outer_dst_addr, 16, "%s: %s outer dst", what, kt);
	e->seen = true;
}

/* Drop reasons and informational counters the kernel shares with decode_stats. */
static void expect_counters(const struct capture *c, const char *what)
{
	const struct decode_stats *s = decode_get_stats(M.d);

	cr_assert_eq(counter(c, "packets"), s->frames, "%s: packets", what);
	for (int i = 0; i < DECODE_DROP_COUNT; i++) {
		if (i == DECODE_DROP_UNSUPPORTED_LINK)
			continue;
		cr_assert_eq(counter(c, decode_drop_name(i)), s->drops[i],
			     "%s: drop '%s' %" PRIu64 " want %" PRIu64, what, decode_drop_name(i),
			     counter(c, decode_drop_name(i)), s->drops[i]);
	}
	cr_assert_eq(counter(c, "vlan_too_deep"), 0, "%s", what);
	cr_assert_eq(counter(c, "ipv6_ext_too_long"), 0, "%s", what);
	cr_assert_eq(counter(c, "truncated_l4"), s->truncated_l4, "%s: truncated_l4", what);
	cr_assert_eq(counter(c, "frag_matched"), s->frag_matched, "%s: frag_matched", what);
	cr_assert_eq(counter(c, "frag_unmatched"), s->frag_unmatched, "%s: frag_unmatched", what);
	cr_assert_eq(counter(c, "tunnelled"), s->tunnelled, "%s: tunnelled", what);
	cr_assert_eq(counter(c, "tunnel_malformed"), s->tunnel_malformed, "%s: tunnel_malformed",
		     what);
	cr_assert_eq(counter(c, "tunnel_not_ip"), s->tunnel_not_ip, "%s: tunnel_not_ip", what);
	cr_assert_eq(counter(c, "tunnel_outer_frag"), s->tunnel_outer_frag, "%s: tunnel_outer_frag",
		     what);
	cr_assert_eq(counter(c, "outer_metered") + counter(c, "outer_ring"), s->outer_views,
		     "%s: outer views", what);
	check_balance(c);
}

/* Flush the kernel map and compare every flow, both ways, then the counters. */
static void expect_same(struct capture *c, const char *what)
{
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(c->ops->dispatch(c, 0, &SINK), 0, "%s: nothing went to the ring", what);
	for (size_t i = 0; i < G.n; i++) {
		const struct flow_record *r = &G.recs[i];

		cr_assert_eq(r->end_reason, FLOWTAB_END_FORCED);
		expect_flow(&r->key, r->packets, r->octets, r->tcp_flags, r->tos, r->inner_vlan_id,
			    r->outer_ip_version, r->outer_src_addr, r->outer_dst_addr, what);
	}
	for (size_t i = 0; i < M.n; i++) {
		char kt[256];

		key_text(kt, sizeof(kt), &M.e[i].key);
		cr_assert(M.e[i].seen, "%s: decode made flow %s, the eBPF path did not", what, kt);
	}
	cr_assert_eq(G.n, M.n);
	cr_assert_eq(cap_ebpf_map_entries(c), 0, "%s: flush leaves the map empty", what);
	expect_counters(c, what);
}

/* ---- frames -------------------------------------------------------------------------- */

static struct pktbuild B;

static void finish(struct pktbuild *b)
{
	cr_assert_eq(pktbuild_finish(b), 0, "pktbuild: %d", b->err);
}

/*
 * Plain (untunnelled) frames, case i; false past the last. Ethernet, optional tags, every
 * L4 kind, IPv4 options, IPv6 extension headers, padding.
 */
static bool plain_frame(int i, struct pktbuild *b)
{
	static const uint8_t opts[8] = {0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00};

	pktbuild_init(b, DECODE_LINK_EN10MB);
	switch (i) {
	case 0:
		pktbuild_ipv4(b, "10.0.0.1", "10.0.0.2");
		pktbuild_tos(b, 0x28);
		pktbuild_tcp(b, 40000, 443, PKTBUILD_TCP_SYN);
		pktbuild_payload(b, NULL, 100);
		break;
	case 1:
		pktbuild_ipv4(b, "10.0.0.1", "10.0.0.2");
		pktbuild_tcp(b, 40000, 443, PKTBUILD_TCP_ACK | PKTBUILD_TCP_PSH);
		pktbuild_payload(b, NULL, 1400);
		break;
	case 2:
		pktbuild_ipv4(b, "192.168.1.5", "8.8.8.8");
		pktbuild_udp(b, 5353, 53);
		pktbuild_payload(b, NULL, 33);
		break;
	case 3:
		pktbuild_ipv4(b, "10.1.1.1", "10.1.1.2");
		pktbuild_icmp(b, 8, 0);
		pktbuild_payload(b, NULL, 56);
		break;
	case 4:
		pktbuild_ipv4(b, "10.1.1.2", "10.1.1.1");
		pktbuild_icmp(b, 3, 4);
		pktbuild_payload(b, NULL, 28);
		break;
	case 5:
		pktbuild_ipv6(b, "2001:db8::1", "2001:db8::2");
		pktbuild_tos(b, 0xb8);
		pktbuild_tcp(b, 50000, 80, PKTBUILD_TCP_SYN | PKTBUILD_TCP_ACK);
		break;
	case 6:
		pktbuild_ipv6(b, "2001:db8::1", "2001:db8::2");
		pktbuild_udp(b, 1000, 2000);
		pktbuild_payload(b, NULL, 10);
		break;
	case 7:
		pktbuild_ipv6(b, "fe80::1", "ff02::1");
		pktbuild_icmpv6(b, 128, 0);
		pktbuild_payload(b, NULL, 8);
		break;
	case 8:
		pktbuild_ipv6(b, "2001:db8::7", "2001:db8::8");
		pktbuild_icmpv6(b, 1, 3);
		break;
	case 9:
		pktbuild_ipv4(b, "10.2.0.1", "10.2.0.2");
		pktbuild_sctp(b, 3868, 3868);
		pktbuild_payload(b, NULL, 20);
		break;
	case 10: /* port-less: ESP */
		pktbuild_ipv4(b, "10.3.0.1", "10.3.0.2");
		pktbuild_proto(b, 50);
		pktbuild_payload(b, NULL, 40);
		break;
	case 11:
		pktbuild_ipv4(b, "10.4.0.1", "10.4.0.2");
		pktbuild_ipv4_options(b, opts, sizeof(opts));
		pktbuild_udp(b, 7, 9);
		break;
	case 12:
		pktbuild_ipv6(b, "2001:db8::a", "2001:db8::b");
		pktbuild_ipv6_ext(b, 0, 8);
		pktbuild_ipv6_ext(b, 43, 24);
		pktbuild_ipv6_ext(b, 60, 16);
		pktbuild_tcp(b, 1, 2, PKTBUILD_TCP_RST);
		break;
	case 13:
		pktbuild_ipv6(b, "2001:db8::a", "2001:db8::b");
		pktbuild_ipv6_ext(b, 51, 16);
		pktbuild_udp(b, 500, 4500);
		break;
	case 14:
		pktbuild_ipv6(b, "2001:db8::c", "2001:db8::d");
		pktbuild_ipv6_ext(b, 44, 8); /* atomic fragment: a whole packet */
		pktbuild_udp(b, 11, 12);
		break;
	case 15: /* no next header */
		pktbuild_ipv6(b, "2001:db8::c", "2001:db8::d");
		pktbuild_proto(b, 59);
		break;
	case 16:
		pktbuild_vlan(b, 0x8100, 100);
		pktbuild_ipv4(b, "10.5.0.1", "10.5.0.2");
		pktbuild_tcp(b, 1234, 22, PKTBUILD_TCP_ACK);
		break;
	case 17:
		pktbuild_vlan(b, 0x88a8, 200);
		pktbuild_vlan(b, 0x8100, 300);
		pktbuild_ipv6(b, "2001:db8::1", "2001:db8::2");
		pktbuild_udp(b, 1, 2);
		break;
	case 18:
		pktbuild_vlan(b, 0x9100, 7);
		pktbuild_vlan(b, 0x8100, 8);
		pktbuild_vlan(b, 0x8100, 9);
		pktbuild_ipv4(b, "10.6.0.1", "10.6.0.2");
		pktbuild_icmp(b, 0, 0);
		break;
	case 19: /* Ethernet padding after a short packet */
		pktbuild_ipv4(b, "10.7.0.1", "10.7.0.2");
		pktbuild_udp(b, 67, 68);
		finish(b);
		pktbuild_pad(b, 18);
		return true;
	case 20: /* same flow as 0, FIN: flags OR */
		pktbuild_ipv4(b, "10.0.0.1", "10.0.0.2");
		pktbuild_tcp(b, 40000, 443, PKTBUILD_TCP_FIN | PKTBUILD_TCP_ACK);
		break;
	case 21: /* ARP: not IP */
		pktbuild_link_proto(b, 0x0806);
		pktbuild_payload(b, NULL, 28);
		break;
	case 22: /* a GRE packet that is no tunnel (unknown payload) */
		pktbuild_ipv4(b, "10.8.0.1", "10.8.0.2");
		pktbuild_proto(b, 47);
		pktbuild_payload(b, "\x00\x00\x88\xbe\x00\x00\x00\x00", 8);
		break;
	case 23: /* UDP to 4789 too short for VXLAN: the plain outer packet */
		pktbuild_ipv4(b, "10.9.0.1", "10.9.0.2");
		pktbuild_udp(b, 999, 4789);
		pktbuild_payload(b, NULL, 4);
		break;
	default:
		return false;
	}
	finish(b);
	return true;
}

#define O4S "192.168.10.1"
#define O4D "192.168.10.2"
#define O6S "2001:db8:1::1"
#define O6D "2001:db8:1::2"

struct tun {
	uint8_t type;
	uint8_t outer_v;
	uint8_t inner_v;
	uint16_t port; /* VXLAN port */
	uint32_t id;   /* VNI, GRE key (NVGRE: VSID << 8 | FlowID) */
	uint16_t gre_flags;
	uint32_t geneve_opt;
	bool geneve_ip;
	uint16_t outer_vlan;
	uint16_t inner_vlan;
	uint8_t inner_l4; /* 6 TCP, 17 UDP, 1/58 ICMP */
};

static void tun_frame(struct pktbuild *b, const struct tun *t)
{
	bool eth = t->type == DECODE_TUNNEL_VXLAN || t->type == DECODE_TUNNEL_NVGRE ||
		   (t->type == DECODE_TUNNEL_GENEVE && !t->geneve_ip);

	pktbuild_init(b, DECODE_LINK_EN10MB);
	if (t->outer_vlan)
		pktbuild_vlan(b, 0x8100, t->outer_vlan);
	if (t->outer_v == 4)
		pktbuild_ipv4(b, O4S, O4D);
	else
		pktbuild_ipv6(b, O6S, O6D);
	pktbuild_tos(b, 0x04);
	switch (t->type) {
	case DECODE_TUNNEL_VXLAN:
		pktbuild_udp(b, 51000, t->port ? t->port : 4789);
		pktbuild_vxlan(b, t->id);
		break;
	case DECODE_TUNNEL_GENEVE:
		pktbuild_udp(b, 52000, 6081);
		pktbuild_geneve(b, t->id, t->geneve_opt);
		break;
	case DECODE_TUNNEL_GRE:
		pktbuild_gre(b, t->gre_flags, t->id, 99);
		break;
	case DECODE_TUNNEL_NVGRE:
		pktbuild_gre(b, t->gre_flags | PKTBUILD_GRE_K, t->id, 99);
		break;
	default:
		break;
	}
	if (eth) {
		pktbuild_eth(b);
		if (t->inner_vlan)
			pktbuild_vlan(b, 0x8100, t->inner_vlan);
	}
	if (t->inner_v == 4)
		pktbuild_ipv4(b, "10.244.1.2", "10.244.2.3");
	else
		pktbuild_ipv6(b, "fd00::1:2", "fd00::2:3");
	pktbuild_tos(b, 0x10);
	switch (t->inner_l4) {
	case 17:
		pktbuild_udp(b, 33333, 8080);
		break;
	case 1:
		if (t->inner_v == 4)
			pktbuild_icmp(b, 8, 0);
		else
			pktbuild_icmpv6(b, 128, 0);
		break;
	default:
		pktbuild_tcp(b, 44444, 6443, PKTBUILD_TCP_SYN);
		break;
	}
	pktbuild_payload(b, NULL, 64);
	finish(b);
}

static const struct tun tun_kinds[] = {
	{.type = DECODE_TUNNEL_VXLAN, .id = 0xabc123},
	{.type = DECODE_TUNNEL_VXLAN, .port = 8472, .id = 1, .inner_l4 = 17},
	{.type = DECODE_TUNNEL_VXLAN, .id = 42, .outer_vlan = 10, .inner_vlan = 20},
	{.type = DECODE_TUNNEL_GENEVE, .id = 0xfedcba, .geneve_opt = 8},
	{.type = DECODE_TUNNEL_GENEVE, .id = 77, .geneve_opt = 252, .inner_l4 = 1},
	{.type = DECODE_TUNNEL_GENEVE, .id = 78, .geneve_ip = true},
	{.type = DECODE_TUNNEL_IPIP},
	{.type = DECODE_TUNNEL_IPIP, .inner_l4 = 17},
	{.type = DECODE_TUNNEL_GRE},
	{.type = DECODE_TUNNEL_GRE, .id = 0xdeadbeef, .gre_flags = PKTBUILD_GRE_K},
	{.type = DECODE_TUNNEL_GRE,
	 .id = 5,
	 .gre_flags = PKTBUILD_GRE_C | PKTBUILD_GRE_K | PKTBUILD_GRE_S},
	{.type = DECODE_TUNNEL_GRE, .gre_flags = PKTBUILD_GRE_C | PKTBUILD_GRE_S, .inner_l4 = 1},
	{.type = DECODE_TUNNEL_NVGRE, .id = 0x12345678},
	{.type = DECODE_TUNNEL_NVGRE, .id = 0xabcdef01, .inner_vlan = 5, .inner_l4 = 17},
};

#define N_TUN (sizeof(tun_kinds) / sizeof(tun_kinds[0]))

/* Every tunnel kind over IPv4/IPv6 outer, carrying IPv4/IPv6, both directions. */
static void tunnel_cross_check(uint8_t view, const char *what)
{
	struct capture *c;

	need_root();
	model_init(view);
	c = cap_open(view, 0, 0, 0, 0);
	for (size_t k = 0; k < N_TUN; k++) {
		for (int ov = 4; ov <= 6; ov += 2) {
			for (int iv = 4; iv <= 6; iv += 2) {
				struct tun t = tun_kinds[k];

				t.outer_v = (uint8_t)ov;
				t.inner_v = (uint8_t)iv;
				tun_frame(&B, &t);
				both(c, B.data, B.len, (uint8_t)(k & 1));
				both(c, B.data, B.len, (uint8_t)(k & 1));
			}
		}
	}
	cr_assert_eq(decode_get_stats(M.d)->tunnelled, N_TUN * 4 * 2,
		     "the model looked through every tunnel");
	expect_same(c, what);
	capture_close(c);
	decode_free(M.d);
	M.d = NULL;
}

/* ---- cross-checks: plain frames ------------------------------------------------------ */

Test(cap_ebpf, plain_frames_match_decode)
{
	struct capture *c;
	int n = 0;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	for (int dir = 0; dir <= 1; dir++)
		for (int i = 0; plain_frame(i, &B); i++, n++)
			both(c, B.data, B.len, (uint8_t)dir);
	cr_assert_gt(n, 40);
	expect_same(c, "plain");
	cr_assert_eq(counter(c, "non_ip"), 2);
	capture_close(c);
}

/* Ground truth for a few keys, independent of decode.c. */
Test(cap_ebpf, plain_keys_are_exact)
{
	struct capture *c;
	struct flow_key want;
	bool found = false;

	need_root();
	c = cap_open(0, 0, 0, 0, 0);
	plain_frame(4, &B); /* ICMP 3/4 from 10.1.1.2 */
	run(c, B.data, B.len, DECODE_DIR_EGRESS);
	plain_frame(18, &B); /* three tags: 7, 8, then 9 ignored */
	run(c, B.data, B.len, DECODE_DIR_INGRESS);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 2);

	memset(&want, 0, sizeof(want));
	inet_pton(AF_INET, "10.1.1.2", want.src_addr);
	inet_pton(AF_INET, "10.1.1.1", want.dst_addr);
	want.ifindex = RUN_IFINDEX;
	want.dst_port = 3 << 8 | 4;
	want.ip_version = 4;
	want.proto = 1;
	want.direction = DECODE_DIR_EGRESS;
	for (size_t i = 0; i < G.n; i++) {
		if (G.recs[i].key.proto == 1 && G.recs[i].key.dst_port == (3 << 8 | 4)) {
			cr_assert_arr_eq(&G.recs[i].key, &want, sizeof(want));
			cr_assert_eq(G.recs[i].octets, 20 + 8 + 28);
			found = true;
		} else {
			cr_assert_eq(G.recs[i].key.vlan_id, 7);
			cr_assert_eq(G.recs[i].inner_vlan_id, 8);
			cr_assert_eq(G.recs[i].key.direction, DECODE_DIR_INGRESS);
			cr_assert_eq(G.recs[i].key.dst_port, 0); /* echo reply 0/0 */
		}
	}
	cr_assert(found);
	capture_close(c);
}

Test(cap_ebpf, fragments_match_decode)
{
	struct pktbuild frags[8];
	struct capture *c;
	int n;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	/* IPv4 UDP in 3 fragments, in order. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, "10.10.0.1", "10.10.0.2");
	pktbuild_udp(&B, 4000, 5000);
	pktbuild_payload(&B, NULL, 300);
	finish(&B);
	n = pktbuild_fragment(&B, 0x1234, 128, frags, 8);
	cr_assert_eq(n, 3);
	for (int i = 0; i < n; i++)
		both(c, frags[i].data, frags[i].len, 0);
	/* A later fragment of an unknown datagram: port-less. */
	both(c, frags[1].data, frags[1].len, 1);
	/* IPv6 TCP in fragments, the last one twice (after its slot was freed). */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, "2001:db8::10", "2001:db8::20");
	pktbuild_ipv6_ext(&B, 0, 8);
	pktbuild_tcp(&B, 8000, 9000, PKTBUILD_TCP_ACK);
	pktbuild_payload(&B, NULL, 500);
	finish(&B);
	n = pktbuild_fragment(&B, 0xabcdef, 200, frags, 8);
	cr_assert_geq(n, 3);
	for (int i = 0; i < n; i++)
		both(c, frags[i].data, frags[i].len, 0);
	both(c, frags[n - 1].data, frags[n - 1].len, 0);
	expect_same(c, "fragments");
	cr_assert_eq(counter(c, "frag_matched"), 2 + (uint64_t)n - 1);
	capture_close(c);
}

/*
 * Every truncation of every plain frame: the same key or the same drop reason. The test
 * harness refuses short untagged IP frames, so each frame also goes with a VLAN tag in
 * front, which it accepts at any length.
 */
Test(cap_ebpf, every_length_of_plain_frames_matches_decode)
{
	static struct pktbuild tagged;
	struct capture *c;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	for (int i = 0; plain_frame(i, &B); i++) {
		uint32_t full = B.len > 200 ? 200 : B.len;

		for (uint32_t len = 14; len <= full; len++)
			both(c, B.data, len, 0);
		tagged = B;
		memmove(tagged.data + 18, B.data + 14, B.len - 14);
		tagged.data[12] = 0x81;
		tagged.data[13] = 0x00;
		tagged.data[14] = 0x00;
		tagged.data[15] = 0x0f;
		memcpy(tagged.data + 16, B.data + 12, 2);
		for (uint32_t len = 14; len <= full + 4; len++)
			both(c, tagged.data, len, 1);
	}
	expect_same(c, "every length");
	cr_assert_gt(counter(c, "truncated_ip"), 0);
	cr_assert_gt(counter(c, "bad_ip_total_len"), 0);
	capture_close(c);
}

/* Header damage: bad versions, lengths, IPv6 chains running past the payload. */
Test(cap_ebpf, malformed_frames_are_counted_like_decode)
{
	struct capture *c;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	for (int i = 0; plain_frame(i, &B); i++) {
		struct pktbuild d;

		if (pktbuild_ip_offset(&B) == PKTBUILD_NONE)
			continue;
		d = B;
		pktbuild_set_ip_version(&d, 5);
		both(c, d.data, d.len, 0);
		d = B;
		pktbuild_set_ip_len(&d, 3);
		both(c, d.data, d.len, 0);
		d = B;
		pktbuild_set_ip_len(&d, 0xffff);
		both(c, d.data, d.len, 0);
		if (B.data[pktbuild_ip_offset(&B)] >> 4 == 4) {
			d = B;
			pktbuild_set_ihl(&d, 4);
			both(c, d.data, d.len, 0);
			d = B;
			pktbuild_set_ihl(&d, 15);
			both(c, d.data, d.len, 0);
		}
	}
	/* An IPv6 extension header longer than the payload. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv6(&B, "2001:db8::1", "2001:db8::2");
	pktbuild_ipv6_ext(&B, 60, 8);
	pktbuild_udp(&B, 1, 2);
	finish(&B);
	B.data[pktbuild_ip_offset(&B) + 41] = 200;
	both(c, B.data, B.len, 0);
	/* VLAN tag cut after the Ethernet header. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_link_proto(&B, 0x8100);
	pktbuild_payload(&B, NULL, 2);
	finish(&B);
	both(c, B.data, B.len, 0);
	expect_same(c, "malformed");
	for (int i = DECODE_DROP_TRUNCATED_L2; i < DECODE_DROP_COUNT; i++)
		if (i != DECODE_DROP_TRUNCATED_IP)
			cr_assert_gt(counter(c, decode_drop_name(i)), 0, "%s", decode_drop_name(i));
	capture_close(c);
}

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Random byte damage in the headers of plain and tunnel frames. */
Test(cap_ebpf, random_damage_matches_decode, .timeout = 120)
{
	struct capture *c;
	uint32_t seed = 20240611;
	int runs = 0;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	for (int round = 0; round < 12; round++) {
		for (int i = 0; i < 40; i++) {
			struct pktbuild d;
			uint32_t hdr;

			if (i < 24) {
				if (!plain_frame(i, &B))
					continue;
			} else {
				struct tun t = tun_kinds[(size_t)(i - 24) % N_TUN];

				t.outer_v = (i & 1) ? 6 : 4;
				t.inner_v = (round & 1) ? 6 : 4;
				tun_frame(&B, &t);
			}
			d = B;
			hdr = d.len < 160 ? d.len : 160;
			for (int k = 0; k < 1 + (int)(lcg(&seed) % 3); k++)
				d.data[14 + lcg(&seed) % (hdr - 14)] = (uint8_t)lcg(&seed);
			if (lcg(&seed) % 4 == 0)
				d.len = 14 + lcg(&seed) % (d.len - 13);
			both(c, d.data, d.len, (uint8_t)(lcg(&seed) & 1));
			runs++;
		}
	}
	cr_assert_gt(runs, 400);
	expect_same(c, "random damage");
	capture_close(c);
}

/* ---- cross-checks: tunnels (decode.c looks through them too) ------------------------- */

Test(cap_ebpf_tunnel, inner_view_matches_decode)
{
	tunnel_cross_check(DECODE_VIEW_INNER, "tunnels, inner view");
}

Test(cap_ebpf_tunnel, outer_view_matches_decode)
{
	tunnel_cross_check(DECODE_VIEW_OUTER, "tunnels, outer view");
}

Test(cap_ebpf_tunnel, both_views_match_decode)
{
	tunnel_cross_check(DECODE_VIEW_BOTH, "tunnels, both views");
}

/* Ground truth for the overlay ids and outer addresses, independent of decode.c. */
Test(cap_ebpf_tunnel, ids_and_outer_addresses_are_exact)
{
	static const struct {
		struct tun t;
		uint32_t want_id;
	} cases[] = {
		{{.type = DECODE_TUNNEL_VXLAN, .id = 0xabc123}, 0xabc123},
		{{.type = DECODE_TUNNEL_VXLAN, .port = 8472, .id = 9}, 9},
		{{.type = DECODE_TUNNEL_GENEVE, .id = 0x123456, .geneve_opt = 12}, 0x123456},
		{{.type = DECODE_TUNNEL_IPIP}, 0},
		{{.type = DECODE_TUNNEL_GRE, .id = 0xdeadbeef, .gre_flags = PKTBUILD_GRE_K},
		 0xdeadbeef},
		{{.type = DECODE_TUNNEL_NVGRE, .id = 0x12345678}, 0x123456},
	};
	uint8_t o4s[16] = {0}, o4d[16] = {0}, i4s[16] = {0};
	struct capture *c;

	need_root();
	inet_pton(AF_INET, O4S, o4s);
	inet_pton(AF_INET, O4D, o4d);
	inet_pton(AF_INET, "10.244.1.2", i4s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tun t = cases[i].t;

		c = cap_open(0, 0, 0, 0, 0);
		t.outer_v = 4;
		t.inner_v = 4;
		tun_frame(&B, &t);
		run(c, B.data, B.len, 0);
		memset(&G, 0, sizeof(G));
		c->ops->expire(c, 0, true, &SINK);
		cr_assert_eq(G.n, 1, "case %zu", i);
		cr_assert_eq(G.recs[0].key.tunnel_type, t.type, "case %zu", i);
		cr_assert_eq(G.recs[0].key.tunnel_id, cases[i].want_id, "case %zu", i);
		cr_assert_arr_eq(G.recs[0].key.src_addr, i4s, 16, "case %zu", i);
		cr_assert_eq(G.recs[0].key.src_port, 44444);
		cr_assert_eq(G.recs[0].key.dst_port, 6443);
		cr_assert_eq(G.recs[0].outer_ip_version, 4);
		cr_assert_arr_eq(G.recs[0].outer_src_addr, o4s, 16);
		cr_assert_arr_eq(G.recs[0].outer_dst_addr, o4d, 16);
		cr_assert_eq(G.recs[0].tos, 0x10, "the inner packet's ToS");
		cr_assert_eq(G.recs[0].octets, 20 + 20 + 64, "the inner packet's length");
		capture_close(c);
	}
}

/* Broken overlays are metered as their outer packet, counted like decode counts them. */
Test(cap_ebpf_tunnel, broken_tunnels_match_decode)
{
	struct capture *c;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	for (size_t k = 0; k < N_TUN; k++) {
		struct tun t = tun_kinds[k];
		uint32_t tun_off, ip_off;
		struct pktbuild d;

		t.outer_v = 4;
		t.inner_v = (k & 1) ? 6 : 4;
		tun_frame(&B, &t);
		tun_off = pktbuild_tunnel_offset(&B);
		ip_off = pktbuild_ip_offset(&B);
		/* Inner IP version wrong. */
		d = B;
		d.data[ip_off] = (uint8_t)((d.data[ip_off] & 0x0f) | 0x50);
		both(c, d.data, d.len, 0);
		/* Every cut inside the overlay and inner headers. */
		for (uint32_t len = pktbuild_outer_ip_offset(&B) + 20; len < ip_off + 44; len++) {
			d = B;
			d.len = len;
			/* Keep the outer length consistent with the cut. */
			d.data[pktbuild_outer_ip_offset(&B) + 2] =
				(uint8_t)((len - pktbuild_outer_ip_offset(&B)) >> 8);
			d.data[pktbuild_outer_ip_offset(&B) + 3] =
				(uint8_t)(len - pktbuild_outer_ip_offset(&B));
			both(c, d.data, d.len, 1);
		}
		if (tun_off == PKTBUILD_NONE)
			continue;
		/* Overlay flags: VXLAN without I, Geneve version 1, GRE version 1 / routing. */
		d = B;
		d.data[tun_off] ^= (t.type == DECODE_TUNNEL_VXLAN)    ? 0x08
				   : (t.type == DECODE_TUNNEL_GENEVE) ? 0x40
								      : 0x00;
		if (t.type == DECODE_TUNNEL_GRE || t.type == DECODE_TUNNEL_NVGRE)
			d.data[tun_off + 1] |= 0x01;
		both(c, d.data, d.len, 0);
		if (t.type == DECODE_TUNNEL_GRE || t.type == DECODE_TUNNEL_NVGRE) {
			d = B;
			d.data[tun_off] |= 0x40;
			both(c, d.data, d.len, 0);
		}
	}
	/* ARP inside VXLAN: not IP. */
	pktbuild_init(&B, DECODE_LINK_EN10MB);
	pktbuild_ipv4(&B, O4S, O4D);
	pktbuild_udp(&B, 1, 4789);
	pktbuild_vxlan(&B, 3);
	pktbuild_eth(&B);
	pktbuild_link_proto(&B, 0x0806);
	pktbuild_payload(&B, NULL, 28);
	finish(&B);
	both(c, B.data, B.len, 0);
	expect_same(c, "broken tunnels");
	cr_assert_gt(counter(c, "tunnel_malformed"), 0);
	cr_assert_gt(counter(c, "tunnel_not_ip"), 0);
	capture_close(c);
}

Test(cap_ebpf_tunnel, fragments_inside_and_outside)
{
	struct pktbuild frags[8];
	struct capture *c;
	struct tun t = {
		.type = DECODE_TUNNEL_VXLAN, .id = 5, .outer_v = 4, .inner_v = 4, .inner_l4 = 17};
	int n;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	/* A fragmented outer packet is not looked into. */
	tun_frame(&B, &t);
	n = pktbuild_fragment(&B, 77, 64, frags, 8);
	cr_assert_gt(n, 1);
	/* pktbuild_fragment acts on the innermost header: fragments of the inner packet. */
	for (int i = 0; i < n; i++)
		both(c, frags[i].data, frags[i].len, 0);
	expect_same(c, "tunnel fragments");
	capture_close(c);
}

/* ---- metering paths ------------------------------------------------------------------ */

static void udp_flow_frame(struct pktbuild *b, uint16_t sport)
{
	pktbuild_init(b, DECODE_LINK_EN10MB);
	pktbuild_ipv4(b, "10.20.0.1", "10.20.0.2");
	pktbuild_udp(b, sport, 53);
	pktbuild_payload(b, NULL, 20);
	finish(b);
}

/* Fold ring packets into the flows they belong to, as user space meters them. */
static void check_records_and_ring(const char *what)
{
	struct {
		struct flow_key key;
		uint64_t packets, octets;
	} agg[512];
	size_t n = 0;

	for (size_t i = 0; i < G.n + G.npkts; i++) {
		const struct flow_key *k = i < G.n ? &G.recs[i].key : &G.pkts[i - G.n].key;
		uint64_t p = i < G.n ? G.recs[i].packets : 1;
		uint64_t o = i < G.n ? G.recs[i].octets : G.pkts[i - G.n].octets;
		size_t j;

		for (j = 0; j < n; j++)
			if (memcmp(&agg[j].key, k, sizeof(*k)) == 0)
				break;
		if (j == n) {
			cr_assert_lt(n, 512);
			agg[n].key = *k;
			agg[n].packets = 0;
			agg[n].octets = 0;
			n++;
		}
		agg[j].packets += p;
		agg[j].octets += o;
	}
	cr_assert_eq(n, M.n, "%s: %zu flows, decode made %zu", what, n, M.n);
	for (size_t j = 0; j < n; j++) {
		struct expect *e = model_find(&agg[j].key);

		cr_assert_not_null(e, "%s", what);
		cr_assert_eq(agg[j].packets, e->packets, "%s", what);
		cr_assert_eq(agg[j].octets, e->octets, "%s", what);
	}
}

Test(cap_ebpf, map_full_falls_back_to_the_ring)
{
	struct capture_stats st;
	struct capture *c;
	uint64_t sent = 0;
	int got;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 8, 0, 0, 0);
	for (int round = 0; round < 3; round++) {
		for (uint16_t p = 0; p < 100; p++) {
			udp_flow_frame(&B, (uint16_t)(1000 + p));
			both(c, B.data, B.len, 0);
			sent++;
		}
	}
	cr_assert_eq(cap_ebpf_map_entries(c), 8, "the map holds max_flows entries");
	cr_assert_eq(counter(c, "metered"), 8 * 3);
	cr_assert_eq(counter(c, "ring"), sent - 8 * 3);
	cr_assert_eq(counter(c, "ring_full"), 0);
	cr_assert_eq(counter(c, "map_full"), sent - 8 * 3);
	check_balance(c);

	memset(&G, 0, sizeof(G));
	/* The dispatch budget is honoured. */
	got = c->ops->dispatch(c, 10, &SINK);
	cr_assert_eq(got, 10);
	got = c->ops->dispatch(c, 0, &SINK);
	cr_assert_eq((uint64_t)got + 10, sent - 8 * 3);
	cr_assert_eq(G.npkts, sent - 8 * 3);
	/* Ring packets carry what decode would have handed to the flow table. */
	for (size_t i = 0; i < G.npkts; i++) {
		struct expect *e = model_find(&G.pkts[i].key);

		cr_assert_not_null(e);
		cr_assert_eq(G.pkts[i].octets, 20 + 8 + 20);
		cr_assert_eq(G.pkts[i].key.ifindex, RUN_IFINDEX);
		cr_assert_eq(G.pkts[i].key.direction, 0);
		cr_assert_geq(G.pkts[i].ts_ms, (uint64_t)time(NULL) * 1000 - 60000);
	}
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 8);
	check_records_and_ring("map full");
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, sent);
	cr_assert_eq(st.kernel_dropped, 0);
	capture_close(c);
}

/* Expiry reads the map in batches: thousands of flows, each exported exactly once. */
Test(cap_ebpf, many_flows_span_several_batches)
{
	static uint8_t seen[3000];
	struct capture *c;

	need_root();
	c = cap_open(0, 0, 0, 0, 0);
	for (uint16_t p = 0; p < 3000; p++) {
		udp_flow_frame(&B, (uint16_t)(10000 + p));
		run(c, B.data, B.len, 0);
	}
	cr_assert_eq(cap_ebpf_map_entries(c), 3000);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 3000);
	for (size_t i = 0; i < G.n; i++) {
		uint16_t p = (uint16_t)(G.recs[i].key.src_port - 10000);

		cr_assert_lt(p, 3000);
		cr_assert_eq(seen[p]++, 0, "port %u exported twice", G.recs[i].key.src_port);
		cr_assert_eq(G.recs[i].packets, 1);
	}
	cr_assert_eq(cap_ebpf_map_entries(c), 0);
	capture_close(c);
}

Test(cap_ebpf, ring_full_is_counted_as_kernel_dropped)
{
	struct capture_stats st;
	struct capture *c;
	uint64_t sent = 0, ring, lost;

	need_root();
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 1, 4096, 0, 0); /* one flow, a one-page ring */
	for (uint16_t p = 0; p < 200; p++) {
		udp_flow_frame(&B, (uint16_t)(2000 + p));
		run(c, B.data, B.len, 1);
		sent++;
	}
	ring = counter(c, "ring");
	lost = counter(c, "ring_full");
	cr_assert_gt(ring, 0);
	cr_assert_gt(lost, 0);
	cr_assert_eq(counter(c, "metered") + ring + lost, sent);
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, sent);
	cr_assert_eq(st.kernel_dropped, lost);
	memset(&G, 0, sizeof(G));
	cr_assert_eq((uint64_t)c->ops->dispatch(c, 0, &SINK), ring);
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 1);
	cr_assert_eq(G.recs[0].packets + G.npkts + lost, sent);
	capture_close(c);
}

/* The ring's packets in a tunnel view: the outer views are counted apart. */
Test(cap_ebpf_tunnel, ring_fallback_in_both_views)
{
	struct capture *c;
	struct tun t = {.type = DECODE_TUNNEL_GENEVE, .id = 1, .outer_v = 6, .inner_v = 4};

	need_root();
	model_init(DECODE_VIEW_BOTH);
	c = cap_open(DECODE_VIEW_BOTH, 2, 0, 0, 0);
	for (int i = 0; i < 5; i++) {
		t.id = (uint32_t)i;
		tun_frame(&B, &t);
		both(c, B.data, B.len, 0);
	}
	cr_assert_eq(counter(c, "metered") + counter(c, "outer_metered"), 2);
	cr_assert_eq(counter(c, "ring") + counter(c, "outer_ring"), 8);
	memset(&G, 0, sizeof(G));
	cr_assert_eq(c->ops->dispatch(c, 0, &SINK), 8);
	c->ops->expire(c, 0, true, &SINK);
	check_records_and_ring("both views, ring");
	for (size_t i = 0; i < G.npkts; i++) {
		struct expect *e = model_find(&G.pkts[i].key);

		cr_assert_eq(G.pkts[i].outer_ip_version, e->outer_ip_version);
		cr_assert_arr_eq(G.pkts[i].outer_src_addr, e->outer_src_addr, 16);
	}
	capture_close(c);
}

static uint64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void tcp_frame(struct pktbuild *b, uint8_t flags)
{
	pktbuild_init(b, DECODE_LINK_EN10MB);
	pktbuild_ipv4(b, "10.30.0.1", "10.30.0.2");
	pktbuild_tcp(b, 34567, 80, flags);
	pktbuild_payload(b, NULL, 10);
	finish(b);
}

Test(cap_ebpf, active_timeout_reports_deltas_and_keeps_the_start)
{
	struct capture *c;
	uint64_t t0, start;

	need_root();
	c = cap_open(0, 0, 0, 60000, 1000);
	t0 = wall_now_ms();
	tcp_frame(&B, PKTBUILD_TCP_ACK);
	for (int i = 0; i < 3; i++)
		run(c, B.data, B.len, 0);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, t0 + 500, false, &SINK);
	cr_assert_eq(G.n, 0, "neither idle nor active yet");
	c->ops->expire(c, t0 + 5000, false, &SINK);
	cr_assert_eq(G.n, 1);
	cr_assert_eq(G.recs[0].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(G.recs[0].packets, 3);
	cr_assert_eq(G.recs[0].octets, 3 * 50);
	start = G.recs[0].start_ms;
	cr_assert_geq(start + 1000, t0, "start %" PRIu64 " t0 %" PRIu64, start, t0);
	cr_assert_leq(start, wall_now_ms() + 1000);
	cr_assert_geq(G.recs[0].end_ms, start);

	tcp_frame(&B, PKTBUILD_TCP_ACK | PKTBUILD_TCP_PSH);
	run(c, B.data, B.len, 0);
	run(c, B.data, B.len, 0);
	c->ops->expire(c, t0 + 5500, false, &SINK);
	cr_assert_eq(G.n, 1, "reported 500 ms ago: not yet");
	c->ops->expire(c, t0 + 7000, false, &SINK);
	cr_assert_eq(G.n, 2);
	cr_assert_eq(G.recs[1].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(G.recs[1].packets, 2, "the delta since the last report");
	cr_assert_eq(G.recs[1].octets, 2 * 50);
	cr_assert_eq(G.recs[1].start_ms, start, "the flow's first packet");
	cr_assert_eq(G.recs[1].tcp_flags, PKTBUILD_TCP_ACK | PKTBUILD_TCP_PSH);

	/* Idle with nothing new since the last report: removed, no empty record. */
	c->ops->expire(c, t0 + 120000, false, &SINK);
	cr_assert_eq(G.n, 2);
	cr_assert_eq(cap_ebpf_map_entries(c), 0);
	/* The next packet starts a new flow. */
	run(c, B.data, B.len, 0);
	c->ops->expire(c, wall_now_ms() + 120000, false, &SINK);
	cr_assert_eq(G.n, 3);
	cr_assert_eq(G.recs[2].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(G.recs[2].packets, 1);
	cr_assert_geq(G.recs[2].start_ms, start);
	capture_close(c);
}

Test(cap_ebpf, idle_and_tcp_end_expiry)
{
	struct capture *c;
	uint64_t now;

	need_root();
	c = cap_open(0, 0, 0, 2000, 60000);
	tcp_frame(&B, PKTBUILD_TCP_FIN | PKTBUILD_TCP_ACK);
	run(c, B.data, B.len, 1);
	udp_flow_frame(&B, 4242);
	run(c, B.data, B.len, 1);
	now = wall_now_ms();
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, now, false, &SINK);
	cr_assert_eq(G.n, 1, "FIN ends the TCP flow at the next expiry");
	cr_assert_eq(G.recs[0].end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(G.recs[0].key.proto, 6);
	cr_assert_eq(G.recs[0].tcp_flags, PKTBUILD_TCP_FIN | PKTBUILD_TCP_ACK);
	c->ops->expire(c, now + 1000, false, &SINK);
	cr_assert_eq(G.n, 1, "UDP flow not idle for 2 s yet");
	c->ops->expire(c, now + 3000, false, &SINK);
	cr_assert_eq(G.n, 2);
	cr_assert_eq(G.recs[1].end_reason, FLOWTAB_END_IDLE);
	cr_assert_eq(G.recs[1].key.proto, 17);
	cr_assert_eq(cap_ebpf_map_entries(c), 0);
	cr_assert_eq(counter(c, "records_exported"), 2);
	capture_close(c);
}

Test(cap_ebpf, repeat_and_gso_counting)
{
	struct capture *c;
	uint32_t ret, ns = 0;

	need_root();
	c = cap_open(0, 0, 0, 0, 0);
	plain_frame(0, &B);
	cr_assert_eq(cap_ebpf_test_run(c, B.data, B.len, 0, 0, 1000, &ret, &ns), 0);
	cr_assert_eq(ret, TC_UNSPEC);
	cr_assert_gt(ns, 0);
	cr_assert_eq(counter(c, "packets"), 1000);
	cr_assert_eq(counter(c, "gso_segs"), 1000, "a non-GSO skb is one segment");
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 1);
	cr_assert_eq(G.recs[0].packets, 1000);
	cr_assert_eq(G.recs[0].octets, 1000ull * (20 + 20 + 100));
	cr_assert_eq(cap_ebpf_test_run(c, B.data, 10, 0, 0, 1, &ret, NULL), -EINVAL);
	cr_assert_eq(cap_ebpf_test_run(c, B.data, B.len, 0, 2, 1, &ret, NULL), -EINVAL);
	capture_close(c);
}

Test(cap_ebpf, counter_names_are_unique)
{
	size_t n = cap_ebpf_counter_count();

	cr_assert_gt(n, 20);
	for (size_t i = 0; i < n; i++) {
		cr_assert_not_null(cap_ebpf_counter_name(i));
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(cap_ebpf_counter_name(i), cap_ebpf_counter_name(j));
	}
	cr_assert_null(cap_ebpf_counter_name(n));
	cr_assert_str_eq(cap_ebpf_counter_name(0), "packets");
}

Test(cap_ebpf, bad_config_is_refused)
{
	struct capture_live_config cfg = {.tunnel_view = 3};

	need_root();
	quiet();
	log_set_level(LOG_LVL_ERROR + 0);
	cr_assert_null(cap_ebpf_new(&cfg));
}

/* ---- sampling ------------------------------------------------------------------------ */

/*
 * The sampler keeps one countdown per CPU; bpf_prog_test_run runs the program on the
 * caller's CPU, so the test stays on one CPU to make every decision predictable.
 */
static void pin_to_one_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	cr_assert_geq(cpu, 0);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	cr_assert_eq(sched_setaffinity(0, sizeof(set), &set), 0, "%s", strerror(errno));
}

static struct capture *cap_open_mode(uint32_t sampling_interval, bool biflow, uint32_t max_flows,
				     uint32_t idle_ms, uint32_t active_ms)
{
	struct capture_live_config cfg = {
		.max_flows = max_flows,
		.idle_timeout_ms = idle_ms,
		.active_timeout_ms = active_ms,
		.sampling_interval = sampling_interval,
		.biflow = biflow,
	};
	struct capture *c;

	quiet();
	c = cap_ebpf_new(&cfg);
	cr_assert_not_null(c, "cap_ebpf_new failed");
	return c;
}

/* Frame i of the sampling tests: its own UDP flow (source port 20000 + i). */
static void sampling_frame(struct pktbuild *b, uint16_t i)
{
	udp_flow_frame(b, (uint16_t)(20000 + i));
}

Test(cap_ebpf_sampling, one_in_n_takes_the_frames_sampler_takes)
{
	static const uint32_t intervals[] = {2, 7, 10};

	need_root();
	pin_to_one_cpu();
	for (size_t t = 0; t < sizeof(intervals) / sizeof(intervals[0]); t++) {
		const uint32_t n = intervals[t], k = 101, rep = 53;
		struct sampler *ref = sampler_new(n);
		struct sampler_stats ss = {0};
		bool taken[101];
		uint64_t want_rep = 0;
		struct capture *c;

		cr_assert_not_null(ref);
		c = cap_open_mode(n, false, 0, 0, 0);
		model_init(DECODE_VIEW_INNER);
		for (uint16_t i = 0; i < k; i++) {
			sampling_frame(&B, i);
			taken[i] = sampler_take(ref);
			run(c, B.data, B.len, i % 2);
		}
		/* One test_run of rep repetitions: the countdown goes on across them. */
		sampling_frame(&B, 999);
		cr_assert_eq(cap_ebpf_test_run(c, B.data, B.len, 0, 0, rep, NULL, NULL), 0);
		for (uint32_t i = 0; i < rep; i++)
			want_rep += sampler_take(ref);

		cr_assert(c->ops->sampling_stats(c, &ss));
		cr_assert_eq(ss.observed, k + rep, "1 in %u: observed", n);
		cr_assert_eq(ss.selected, (k + rep + n - 1) / n, "1 in %u: ceil(K / N) selected",
			     n);
		cr_assert_eq(ss.selected, sampler_get_stats(ref)->selected);
		cr_assert_eq(counter(c, "packets"), k + rep);
		cr_assert_eq(counter(c, "sampled_out"), ss.observed - ss.selected);
		cr_assert_eq(counter(c, "metered"), ss.selected);
		check_balance(c);

		memset(&G, 0, sizeof(G));
		c->ops->expire(c, 0, true, &SINK);
		for (uint16_t i = 0; i < k; i++) {
			size_t found = 0;

			for (size_t j = 0; j < G.n; j++)
				found += G.recs[j].key.src_port == 20000 + i;
			cr_assert_eq(found, taken[i] ? 1 : 0, "1 in %u: frame %u taken %d", n, i,
				     taken[i]);
		}
		for (size_t j = 0; j < G.n; j++)
			if (G.recs[j].key.src_port == 20999)
				cr_assert_eq(G.recs[j].packets, want_rep, "1 in %u: repeated frame",
					     n);
		sampler_free(ref);
		capture_close(c);
	}
}

Test(cap_ebpf_sampling, interval_one_samples_nothing)
{
	struct sampler_stats ss = {0};
	struct capture *c;

	need_root();
	c = cap_open_mode(1, false, 0, 0, 0);
	sampling_frame(&B, 1);
	cr_assert_eq(cap_ebpf_test_run(c, B.data, B.len, 0, 0, 10, NULL, NULL), 0);
	cr_assert_not(c->ops->sampling_stats(c, &ss), "no sampler, no selector counts");
	cr_assert_eq(counter(c, "sampled_out"), 0);
	cr_assert_eq(counter(c, "metered"), 10);
	capture_close(c);
	log_set_level(LOG_LVL_ERROR + 0);
	{
		struct capture_live_config cfg = {.sampling_interval = SAMPLER_MAX_INTERVAL + 1};

		cr_assert_null(cap_ebpf_new(&cfg));
	}
}

/* capture_ops.counters hands over exactly what cap_ebpf_get_counters() returns. */
struct counter_seen {
	const char *names[64];
	uint64_t values[64];
	size_t n;
};

static void collect_counter(const char *name, uint64_t value, void *user)
{
	struct counter_seen *cs = user;

	cr_assert_lt(cs->n, 64);
	cs->names[cs->n] = name;
	cs->values[cs->n++] = value;
}

Test(cap_ebpf, counters_op_emits_every_counter)
{
	struct counter_seen cs = {.n = 0};
	uint64_t v[64];
	struct capture *c;
	size_t n = cap_ebpf_counter_count();

	need_root();
	c = cap_open_mode(3, false, 0, 0, 0);
	sampling_frame(&B, 1);
	cr_assert_eq(cap_ebpf_test_run(c, B.data, B.len, 0, 0, 10, NULL, NULL), 0);
	cr_assert_not_null(c->ops->counters);
	c->ops->counters(c, collect_counter, &cs);
	cr_assert_eq(cs.n, n);
	cr_assert_eq(cap_ebpf_get_counters(c, v, n), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_str_eq(cs.names[i], cap_ebpf_counter_name(i));
		cr_assert_eq(cs.values[i], v[i], "%s", cs.names[i]);
	}
	cr_assert_eq(counter(c, "packets"), 10);
	cr_assert_eq(counter(c, "sampled_out") + counter(c, "metered"), 10);
	capture_close(c);
}

/* ---- biflow -------------------------------------------------------------------------- */

/* One packet of a conversation; flags are TCP flags, or the ICMP type (code 0). */
struct bipkt {
	uint8_t ver;
	const char *src, *dst;
	uint8_t proto;
	uint16_t sport, dport;
	uint8_t flags;
	uint8_t dir;
	uint16_t payload;
	uint8_t tos;
};

#define F_S  PKTBUILD_TCP_SYN
#define F_A  PKTBUILD_TCP_ACK
#define F_SA (PKTBUILD_TCP_SYN | PKTBUILD_TCP_ACK)
#define F_PA (PKTBUILD_TCP_PSH | PKTBUILD_TCP_ACK)
#define F_FA (PKTBUILD_TCP_FIN | PKTBUILD_TCP_ACK)
#define F_R  PKTBUILD_TCP_RST

/*
 * Conversations, interleaved: A TCP from the higher address (SYN .. FIN, FIN, ACK), B UDP
 * from the lower one, C ICMP echo, D ICMP unreachable (never paired), E TCP over IPv6 seen
 * from mid-stream and ended by an RST, F ICMPv6 echo, G/G2 TCP between one address and
 * itself (the ports decide), H UDP one way from the higher address. Directions vary.
 */
static const struct bipkt conv[] = {
	{4, "10.9.0.20", "10.9.0.10", 6, 40000, 80, F_S, 1, 0, 0},    /* A */
	{4, "10.9.0.1", "10.9.0.2", 17, 5353, 53, 0, 1, 30, 0x10},    /* B */
	{4, "10.9.0.10", "10.9.0.20", 6, 80, 40000, F_SA, 0, 0, 0},   /* A */
	{4, "10.9.0.5", "10.9.0.3", 1, 0, 0, 8, 0, 56, 0},	      /* C */
	{4, "10.9.0.20", "10.9.0.10", 6, 40000, 80, F_A, 1, 0, 0},    /* A */
	{6, "fd00::2", "fd00::1", 6, 443, 5000, F_A, 0, 200, 0},      /* E */
	{4, "10.9.0.3", "10.9.0.5", 1, 0, 0, 0, 1, 56, 0},	      /* C */
	{4, "10.9.0.2", "10.9.0.1", 17, 53, 5353, 0, 0, 120, 0},      /* B */
	{4, "10.9.0.20", "10.9.0.10", 6, 40000, 80, F_PA, 1, 100, 0}, /* A */
	{4, "10.9.0.7", "10.9.0.6", 1, 0, 0, 3, 0, 28, 0},	      /* D */
	{6, "fd00::9", "fd00::8", 58, 0, 0, 128, 1, 64, 0},	      /* F */
	{4, "127.0.0.1", "127.0.0.1", 6, 5000, 4000, F_S, 1, 0, 0},   /* G */
	{4, "127.0.0.1", "127.0.0.1", 6, 4000, 5001, F_S, 0, 0, 0},   /* G2 */
	{4, "10.9.0.10", "10.9.0.20", 6, 80, 40000, F_PA, 0, 300, 0}, /* A */
	{6, "fd00::1", "fd00::2", 6, 5000, 443, F_A, 1, 0, 0},	      /* E */
	{4, "10.9.0.1", "10.9.0.2", 17, 5353, 53, 0, 1, 31, 0},	      /* B */
	{6, "fd00::8", "fd00::9", 58, 0, 0, 129, 0, 64, 0},	      /* F */
	{4, "127.0.0.1", "127.0.0.1", 6, 4000, 5000, F_SA, 1, 0, 0},  /* G */
	{4, "127.0.0.1", "127.0.0.1", 6, 5001, 4000, F_SA, 0, 0, 0},  /* G2 */
	{4, "10.9.0.50", "10.9.0.40", 17, 9000, 9001, 0, 1, 10, 0},   /* H */
	{4, "10.9.0.5", "10.9.0.3", 1, 0, 0, 8, 0, 56, 0},	      /* C */
	{4, "10.9.0.20", "10.9.0.10", 6, 40000, 80, F_FA, 1, 0, 0},   /* A */
	{4, "10.9.0.6", "10.9.0.7", 1, 0, 0, 3, 1, 28, 0},	      /* D */
	{4, "10.9.0.3", "10.9.0.5", 1, 0, 0, 0, 1, 56, 0},	      /* C */
	{4, "10.9.0.10", "10.9.0.20", 6, 80, 40000, F_FA, 0, 0, 0},   /* A */
	{6, "fd00::2", "fd00::1", 6, 443, 5000, F_PA, 0, 500, 0},     /* E */
	{4, "10.9.0.1", "10.9.0.2", 17, 5353, 53, 0, 0, 32, 0},	      /* B */
	{4, "10.9.0.20", "10.9.0.10", 6, 40000, 80, F_A, 1, 0, 0},    /* A */
	{4, "10.9.0.50", "10.9.0.40", 17, 9000, 9001, 0, 1, 11, 0},   /* H */
	{6, "fd00::1", "fd00::2", 6, 5000, 443, F_R, 1, 0, 0},	      /* E */
};

static void bipkt_frame(struct pktbuild *b, const struct bipkt *p)
{
	pktbuild_init(b, DECODE_LINK_EN10MB);
	if (p->ver == 4)
		pktbuild_ipv4(b, p->src, p->dst);
	else
		pktbuild_ipv6(b, p->src, p->dst);
	if (p->tos)
		pktbuild_tos(b, p->tos);
	if (p->proto == 6)
		pktbuild_tcp(b, p->sport, p->dport, p->flags);
	else if (p->proto == 17)
		pktbuild_udp(b, p->sport, p->dport);
	else if (p->proto == 1)
		pktbuild_icmp(b, p->flags, 0);
	else
		pktbuild_icmpv6(b, p->flags, 0);
	if (p->payload)
		pktbuild_payload(b, NULL, p->payload);
	finish(b);
}

/* flowtab's biflow records for the same frames: the reference. */
struct ref_recs {
	struct flow_record r[64];
	size_t n;
};

static void ref_export(const struct flow_record *rec, void *user)
{
	struct ref_recs *rr = user;

	cr_assert_lt(rr->n, 64);
	rr->r[rr->n++] = *rec;
}

static const struct flow_record *find_rec(const struct flow_record *recs, size_t n,
					  const struct flow_key *k)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(&recs[i].key, k, sizeof(*k)) == 0)
			return &recs[i];
	return NULL;
}

/* Every flowtab record has an eBPF twin with the same key and counts, and no other. */
static void expect_same_biflows(const struct ref_recs *ref, const char *what)
{
	cr_assert_eq(G.n, ref->n, "%s: %zu eBPF biflow records, flowtab made %zu", what, G.n,
		     ref->n);
	for (size_t i = 0; i < ref->n; i++) {
		const struct flow_record *w = &ref->r[i], *g = find_rec(G.recs, G.n, &w->key);
		char kt[256];

		key_text(kt, sizeof(kt), &w->key);
		cr_assert_not_null(g, "%s: flowtab made biflow %s, the eBPF path did not", what,
				   kt);
		cr_assert_eq(g->packets, w->packets, "%s: %s packets", what, kt);
		cr_assert_eq(g->octets, w->octets, "%s: %s octets", what, kt);
		cr_assert_eq(g->tcp_flags, w->tcp_flags, "%s: %s tcp flags", what, kt);
		cr_assert_eq(g->rev_packets, w->rev_packets, "%s: %s reverse packets", what, kt);
		cr_assert_eq(g->rev_octets, w->rev_octets, "%s: %s reverse octets", what, kt);
		cr_assert_eq(g->rev_tcp_flags, w->rev_tcp_flags, "%s: %s reverse flags", what, kt);
		cr_assert_eq(g->biflow_direction, w->biflow_direction, "%s: %s biflowDirection",
			     what, kt);
		cr_assert_eq(g->end_reason, w->end_reason, "%s: %s end reason %u want %u", what, kt,
			     g->end_reason, w->end_reason);
		cr_assert_eq(g->tos, w->tos, "%s: %s tos", what, kt);
		cr_assert_eq(g->outer_ip_version, w->outer_ip_version, "%s: %s", what, kt);
		cr_assert_eq(g->rev_start_ms == 0, g->rev_packets == 0, "%s: %s", what, kt);
		cr_assert_leq(g->start_ms, g->end_ms, "%s: %s", what, kt);
		if (g->rev_packets) {
			cr_assert_geq(g->rev_start_ms, g->start_ms, "%s: %s", what, kt);
			cr_assert_leq(g->rev_start_ms, g->rev_end_ms, "%s: %s", what, kt);
			cr_assert_leq(g->rev_end_ms, g->end_ms, "%s: %s", what, kt);
		}
	}
}

Test(cap_ebpf_biflow, both_directions_in_one_record_as_flowtab)
{
	struct flowtab_config fc = {
		.max_flows = 64,
		.idle_timeout_ms = 3600000,
		.active_timeout_ms = 3600000,
		.biflow = true,
	};
	struct ref_recs ref = {.n = 0};
	struct flowtab *ft;
	struct capture *c;
	const struct flow_record *a;
	struct flow_key ka;
	uint64_t metered;

	need_root();
	model_init(DECODE_VIEW_INNER);
	ft = flowtab_new(&fc, ref_export, &ref);
	cr_assert_not_null(ft);
	c = cap_open_mode(0, true, 0, 3600000, 3600000);
	for (size_t i = 0; i < sizeof(conv) / sizeof(conv[0]); i++) {
		struct decode_pkt p;

		bipkt_frame(&B, &conv[i]);
		run(c, B.data, B.len, conv[i].dir);
		cr_assert(decode_frame(M.d, DECODE_LINK_EN10MB, B.data, B.len, B.len, 1000 + i,
				       RUN_IFINDEX, conv[i].dir, &p));
		flowtab_add(ft, &p);
	}
	flowtab_flush(ft, FLOWTAB_END_FORCED);
	metered = counter(c, "metered");
	cr_assert_eq(metered, sizeof(conv) / sizeof(conv[0]));
	check_balance(c);
	/* One entry per conversation; D's two unpaired messages are two. */
	cr_assert_eq(cap_ebpf_map_entries(c), 10);

	/* A's FINs and E's RST end them at the next expiry; the rest at the flush. */
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, wall_now_ms(), false, &SINK);
	cr_assert_eq(G.n, 2, "both FINs, and an RST, end a biflow");
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(cap_ebpf_map_entries(c), 0);
	expect_same_biflows(&ref, "biflow");

	/* Conversation A, spelled out: the client (the higher address) is the source. */
	memset(&ka, 0, sizeof(ka));
	inet_pton(AF_INET, "10.9.0.20", ka.src_addr);
	inet_pton(AF_INET, "10.9.0.10", ka.dst_addr);
	ka.ifindex = RUN_IFINDEX;
	ka.src_port = 40000;
	ka.dst_port = 80;
	ka.ip_version = 4;
	ka.proto = 6;
	ka.direction = 1;
	a = find_rec(G.recs, G.n, &ka);
	cr_assert_not_null(a, "conversation A keyed by its client, egress");
	cr_assert_eq(a->packets, 5);
	cr_assert_eq(a->rev_packets, 3);
	cr_assert_eq(a->octets, 4 * 40 + 140);
	cr_assert_eq(a->rev_octets, 2 * 40 + 340);
	cr_assert_eq(a->tcp_flags, F_S | F_PA | F_FA);
	cr_assert_eq(a->rev_tcp_flags, F_SA | F_PA | F_FA);
	cr_assert_eq(a->biflow_direction, FLOWTAB_BIFLOW_INITIATOR);
	cr_assert_eq(a->end_reason, FLOWTAB_END_EOF_DETECTED);
	cr_assert_eq(counter(c, "records_exported"), ref.n);
	flowtab_free(ft);
	capture_close(c);
}

/* Active reports carry per-side deltas and keep the initiator and the start. */
Test(cap_ebpf_biflow, active_timeout_keeps_the_initiator)
{
	static const struct bipkt syn = {4, "10.9.1.2", "10.9.1.1", 6, 33000, 22, F_S, 1, 0, 0};
	static const struct bipkt back = {4, "10.9.1.1", "10.9.1.2", 6, 22, 33000, F_PA, 0, 60, 0};
	static const struct bipkt fwd = {4, "10.9.1.2", "10.9.1.1", 6, 33000, 22, F_A, 1, 0, 0};
	struct capture *c;
	uint64_t t0;

	need_root();
	c = cap_open_mode(0, true, 0, 3600000, 1000);
	t0 = wall_now_ms();
	bipkt_frame(&B, &syn);
	run(c, B.data, B.len, syn.dir);
	bipkt_frame(&B, &back);
	run(c, B.data, B.len, back.dir);
	run(c, B.data, B.len, back.dir);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, t0 + 5000, false, &SINK);
	cr_assert_eq(G.n, 1);
	cr_assert_eq(G.recs[0].end_reason, FLOWTAB_END_ACTIVE);
	cr_assert_eq(G.recs[0].key.src_port, 33000, "the SYN's sender is the source");
	cr_assert_eq(G.recs[0].packets, 1);
	cr_assert_eq(G.recs[0].rev_packets, 2);
	cr_assert_eq(G.recs[0].rev_octets, 2 * 100);

	/* Only the responder speaks: the next record is still the initiator's, with deltas. */
	run(c, B.data, B.len, back.dir);
	c->ops->expire(c, t0 + 7000, false, &SINK);
	cr_assert_eq(G.n, 2);
	cr_assert_eq(G.recs[1].key.src_port, 33000);
	cr_assert_eq(G.recs[1].key.direction, 1);
	cr_assert_eq(G.recs[1].packets, 0);
	cr_assert_eq(G.recs[1].octets, 0);
	cr_assert_eq(G.recs[1].rev_packets, 1);
	cr_assert_eq(G.recs[1].rev_octets, 100);
	cr_assert_eq(G.recs[1].start_ms, G.recs[0].start_ms);

	bipkt_frame(&B, &fwd);
	run(c, B.data, B.len, fwd.dir);
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 3);
	cr_assert_eq(G.recs[2].end_reason, FLOWTAB_END_FORCED);
	cr_assert_eq(G.recs[2].packets, 1);
	cr_assert_eq(G.recs[2].rev_packets, 0);
	cr_assert_eq(G.recs[2].biflow_direction, FLOWTAB_BIFLOW_INITIATOR);
	capture_close(c);
}

/* A full biflow map: the packets go to the ring with their own keys, all accounted. */
Test(cap_ebpf_biflow, map_full_falls_back_to_the_ring)
{
	struct capture *c;
	uint64_t sent = 0, in_records = 0;

	need_root();
	c = cap_open_mode(0, true, 2, 0, 0);
	for (size_t i = 0; i < sizeof(conv) / sizeof(conv[0]); i++) {
		bipkt_frame(&B, &conv[i]);
		run(c, B.data, B.len, conv[i].dir);
		sent++;
	}
	cr_assert_eq(cap_ebpf_map_entries(c), 2);
	check_balance(c);
	memset(&G, 0, sizeof(G));
	cr_assert_eq((uint64_t)c->ops->dispatch(c, 0, &SINK), counter(c, "ring"));
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 2);
	for (size_t i = 0; i < G.n; i++)
		in_records += G.recs[i].packets + G.recs[i].rev_packets;
	cr_assert_eq(in_records + G.npkts, sent);
	cr_assert_eq(in_records, counter(c, "metered"));
	capture_close(c);
}

/* ---- live: a veth pair between two private namespaces -------------------------------- */

static char ns_a[32], ns_b[32];
static bool ns_made;

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

__attribute__((format(printf, 1, 2))) static uint64_t sh_u64(const char *fmt, ...)
{
	char cmd[512], out[64] = "";
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(out, sizeof(out), f), "no output from: %s", cmd);
	pclose(f);
	return strtoull(out, NULL, 10);
}

static void live_teardown(void)
{
	if (!ns_made)
		return;
	sh("ip netns del %s 2>/dev/null", ns_a);
	sh("ip netns del %s 2>/dev/null", ns_b);
	ns_made = false;
}

static const char *live_error; /* the setup step that failed; reported by the test */

/*
 * ns_a: lfv0 192.0.2.1 (documentation prefix) <-> ns_b: lfv1 192.0.2.2. IPv6 off and
 * static neighbours: the only packets are the test's. A u32 match-all filter whose mirred
 * action counts every packet sits after ours on lfv0 (the copies go to lfm0, whose peer
 * is down). The test process itself moves into ns_a. Criterion runs no .fini after a
 * failed .init, so a failure here cleans up at once and the test body reports it.
 */
static void live_setup(void)
{
	static const char *const steps[] = {
		"ip netns add NA && ip netns add NB",
		"ip netns exec NA sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
		"net.ipv6.conf.default.disable_ipv6=1",
		"ip netns exec NB sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
		"net.ipv6.conf.default.disable_ipv6=1",
		"ip -n NA link add lfv0 address 02:00:00:00:0a:01 type veth peer name lfv1 "
		"address 02:00:00:00:0a:02 netns NB",
		"ip -n NA addr add 192.0.2.1/24 dev lfv0 && ip -n NB addr add 192.0.2.2/24 dev "
		"lfv1",
		"ip -n NA neigh add 192.0.2.2 lladdr 02:00:00:00:0a:02 dev lfv0 nud permanent && "
		"ip -n NB neigh add 192.0.2.1 lladdr 02:00:00:00:0a:01 dev lfv1 nud permanent",
		"ip -n NA link set lfv0 up && ip -n NB link set lfv1 up",
		"ip -n NA link add lfm0 type veth peer name lfm1 && ip -n NA link set lfm0 up",
		"ip netns exec NA tc qdisc add dev lfv0 clsact",
		"ip netns exec NA tc filter add dev lfv0 ingress prio 65000 u32 match u32 0 0 "
		"action mirred egress mirror dev lfm0",
		"ip netns exec NA tc filter add dev lfv0 egress prio 65000 u32 match u32 0 0 "
		"action mirred egress mirror dev lfm0",
	};
	char path[64];
	int fd;

	live_error = NULL;
	if (geteuid() != 0 || sh("command -v ping >/dev/null && command -v tc >/dev/null") != 0)
		return; /* the test skips */
	snprintf(ns_a, sizeof(ns_a), "lfebpf%da", (int)getpid());
	snprintf(ns_b, sizeof(ns_b), "lfebpf%db", (int)getpid());
	ns_made = true;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char cmd[512];
		size_t o = 0;

		/* NA/NB stand for the namespace names. */
		for (const char *p = steps[i]; *p && o + 32 < sizeof(cmd); p++) {
			if (p[0] == 'N' && (p[1] == 'A' || p[1] == 'B')) {
				o += (size_t)snprintf(cmd + o, sizeof(cmd) - o, "%s",
						      p[1] == 'A' ? ns_a : ns_b);
				p++;
			} else {
				cmd[o++] = *p;
			}
		}
		cmd[o] = '\0';
		if (sh("%s", cmd) != 0) {
			live_error = steps[i];
			live_teardown();
			return;
		}
	}
	snprintf(path, sizeof(path), "/run/netns/%s", ns_a);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		live_error = "setns";
		live_teardown();
	}
	if (fd >= 0)
		close(fd);
}

static void live_skip_unless_ready(void)
{
	need_root();
	cr_assert_null(live_error, "live setup failed at: %s", live_error);
	if (!ns_made)
		cr_skip_test("needs ping and tc");
}

static uint64_t if_packets(void)
{
	return sh_u64("ip netns exec %s cat /sys/class/net/lfv0/statistics/rx_packets", ns_a) +
	       sh_u64("ip netns exec %s cat /sys/class/net/lfv0/statistics/tx_packets", ns_a);
}

/* Packets the mirred observers (after ours) saw, ingress + egress. */
static uint64_t observer_packets(void)
{
	return sh_u64("ip netns exec %s tc -s filter show dev lfv0 ingress | "
		      "sed -n 's/.*Sent [0-9]* bytes \\([0-9]*\\) pkt.*/\\1/p' | head -1",
		      ns_a) +
	       sh_u64("ip netns exec %s tc -s filter show dev lfv0 egress | "
		      "sed -n 's/.*Sent [0-9]* bytes \\([0-9]*\\) pkt.*/\\1/p' | head -1",
		      ns_a);
}

static void ping(const char *dst, int count)
{
	cr_assert_eq(
		sh("ip netns exec %s ping -q -c %d -i 0.05 -W 1 %s >/dev/null", ns_b, count, dst),
		0, "ping %s", dst);
}

/* Attach, ping, flush: exported packets equal the interface counters; others still see all. */
static void live_ping(bool force_clsact)
{
	uint64_t if0, ma0, if_delta, ma_delta, exported = 0, echo_in = 0, echo_out = 0;
	uint32_t ifindex = if_nametoindex("lfv0");
	struct capture_stats st;
	const char *name = NULL;
	struct capture *c, *other;

	live_skip_unless_ready();
	cr_assert_neq(ifindex, 0);
	c = cap_open(0, 0, 0, 0, 0);
	cap_ebpf_test_force_tc(c, force_clsact);
	if0 = if_packets();
	ma0 = observer_packets();
	cr_assert_eq(c->ops->attach(c, "lfv0", ifindex), 0);
	cr_assert_eq(c->ops->attach(c, "lfv0", ifindex), -EEXIST);
	cr_assert_eq(counter(c, force_clsact ? "tc_attached" : "tcx_attached"), 1);
	/* A second capture's TCX link goes in front of ours: ours sees only what it passes. */
	other = cap_open(0, 0, 0, 0, 0);
	cr_assert_eq(other->ops->attach(other, "lfv0", ifindex), 0);
	ping("192.0.2.1", 7);
	if_delta = if_packets() - if0;
	ma_delta = observer_packets() - ma0;

	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	for (size_t i = 0; i < G.n; i++) {
		const struct flow_record *r = &G.recs[i];

		cr_assert_eq(r->key.ifindex, ifindex);
		exported += r->packets;
		if (r->key.proto == 1 && r->key.dst_port == 8 << 8 &&
		    r->key.direction == DECODE_DIR_INGRESS)
			echo_in += r->packets;
		if (r->key.proto == 1 && r->key.dst_port == 0 &&
		    r->key.direction == DECODE_DIR_EGRESS)
			echo_out += r->packets;
	}
	cr_assert_eq(if_delta, 14, "7 requests in, 7 replies out, nothing else");
	cr_assert_eq(other->ops->iface_stats(other, 0, &name, &st), true);
	cr_assert_eq(st.received, if_delta, "the TCX program before ours saw every packet");
	cr_assert_eq(exported + counter(c, "non_ip"), if_delta,
		     "exported %" PRIu64 " + non-IP vs interface %" PRIu64, exported, if_delta);
	cr_assert_eq(echo_in, 7);
	cr_assert_eq(echo_out, 7);
	cr_assert_eq(ma_delta, if_delta, "the filter after ours saw every packet");
	capture_close(other);
	cr_assert(c->ops->iface_stats(c, 0, &name, &st));
	cr_assert_str_eq(name, "lfv0");
	cr_assert_eq(st.received, if_delta);
	cr_assert_not(c->ops->iface_stats(c, 1, &name, &st));
	check_balance(c);

	/* Detach: flows still in the map come out FORCED; later traffic is not seen. */
	ping("192.0.2.1", 2);
	memset(&G, 0, sizeof(G));
	c->ops->detach(c, ifindex, &SINK);
	exported = 0;
	for (size_t i = 0; i < G.n; i++) {
		cr_assert_eq(G.recs[i].end_reason, FLOWTAB_END_FORCED);
		exported += G.recs[i].packets;
	}
	cr_assert_eq(exported, 4);
	cr_assert_not(c->ops->iface_stats(c, 0, &name, &st));
	ping("192.0.2.1", 2);
	c->ops->stats(c, &st);
	cr_assert_eq(st.received, if_delta + 4, "totals keep detached interfaces, nothing new");
	cr_assert_eq(sh("ip netns exec %s tc filter show dev lfv0 ingress | grep -q lf_tc", ns_a),
		     1, "no filter of ours left");
	capture_close(c);
}

Test(cap_ebpf_live, veth_ping_tcx, .init = live_setup, .fini = live_teardown, .timeout = 60)
{
	live_ping(false);
}

Test(cap_ebpf_live, veth_ping_clsact, .init = live_setup, .fini = live_teardown, .timeout = 60)
{
	live_ping(true);
}

/*
 * Send frames out of lfv1 from ns_b through an AF_PACKET socket (a child process joins
 * ns_b). Tagged frames arrive on lfv0 with the outer tag moved into skb metadata by
 * the receive path (skb_vlan_untag), any further tag still in the packet.
 */
static void send_from_b(const struct pktbuild *frames, int n)
{
	pid_t pid = fork();
	int status;

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sockaddr_ll sll;
		char path[64];
		int fd, ok = 0;

		snprintf(path, sizeof(path), "/run/netns/%s", ns_b);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
			_exit(2);
		close(fd);
		fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
		if (fd < 0)
			_exit(3);
		memset(&sll, 0, sizeof(sll));
		sll.sll_family = AF_PACKET;
		sll.sll_ifindex = (int)if_nametoindex("lfv1");
		sll.sll_halen = 6;
		for (int i = 0; i < n; i++)
			ok += sendto(fd, frames[i].data, frames[i].len, 0,
				     (const struct sockaddr *)&sll,
				     sizeof(sll)) == (ssize_t)frames[i].len;
		_exit(ok == n ? 0 : 4);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "sender exit %d",
		  WEXITSTATUS(status));
}

static void mac_frame(struct pktbuild *b)
{
	static const uint8_t dst[6] = {0x02, 0, 0, 0, 0x0a, 0x01},
			     src[6] = {0x02, 0, 0, 0, 0x0a, 0x02};

	memcpy(b->data, dst, 6);
	memcpy(b->data + 6, src, 6);
}

Test(cap_ebpf_live, vlan_tags_in_skb_metadata_and_packet, .init = live_setup, .fini = live_teardown,
     .timeout = 60)
{
	static struct pktbuild frames[3];
	uint32_t ifindex = if_nametoindex("lfv0");
	struct capture *c;
	bool seen_qinq = false, seen_single = false;
	int n_in = 0;

	live_skip_unless_ready();
	model_init(DECODE_VIEW_INNER);
	/* QinQ 100/200, a single tag 300, and an untagged frame. */
	pktbuild_init(&frames[0], DECODE_LINK_EN10MB);
	pktbuild_vlan(&frames[0], 0x88a8, 100);
	pktbuild_vlan(&frames[0], 0x8100, 200);
	pktbuild_ipv4(&frames[0], "192.0.2.2", "192.0.2.1");
	pktbuild_udp(&frames[0], 1111, 2222);
	pktbuild_payload(&frames[0], NULL, 30);
	pktbuild_init(&frames[1], DECODE_LINK_EN10MB);
	pktbuild_vlan(&frames[1], 0x8100, 300);
	pktbuild_ipv6(&frames[1], "2001:db8::2", "2001:db8::1");
	pktbuild_tcp(&frames[1], 3333, 4444, PKTBUILD_TCP_SYN);
	pktbuild_init(&frames[2], DECODE_LINK_EN10MB);
	pktbuild_ipv4(&frames[2], "192.0.2.2", "192.0.2.1");
	pktbuild_udp(&frames[2], 5555, 6666);
	for (int i = 0; i < 3; i++) {
		struct decode_pkt p;

		finish(&frames[i]);
		mac_frame(&frames[i]);
		cr_assert(decode_frame(M.d, DECODE_LINK_EN10MB, frames[i].data, frames[i].len,
				       frames[i].len, 0, ifindex, DECODE_DIR_INGRESS, &p));
		model_add(&p);
	}
	c = cap_open(0, 0, 0, 0, 0);
	cr_assert_eq(c->ops->attach(c, "lfv0", ifindex), 0);
	send_from_b(frames, 3);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	for (size_t i = 0; i < G.n; i++) {
		const struct flow_record *r = &G.recs[i];

		if (r->key.direction == DECODE_DIR_EGRESS) {
			/* ns_a's answer to the untagged UDP packet: port unreachable. */
			cr_assert_eq(r->key.proto, 1);
			cr_assert_eq(r->key.dst_port, 3 << 8 | 3);
			continue;
		}
		n_in++;
		expect_flow(&r->key, r->packets, r->octets, r->tcp_flags, r->tos, r->inner_vlan_id,
			    r->outer_ip_version, r->outer_src_addr, r->outer_dst_addr, "vlan live");
		seen_qinq |= r->key.vlan_id == 100 && r->inner_vlan_id == 200;
		seen_single |= r->key.vlan_id == 300 && r->inner_vlan_id == 0;
	}
	cr_assert_eq(n_in, 3);
	cr_assert(seen_qinq && seen_single);
	capture_close(c);
}

/*
 * A Linux VXLAN device in each namespace over the veth pair: lfv0 carries the overlay,
 * and its flows are the inner packets with VNI 42 and the underlay addresses kept.
 */
Test(cap_ebpf_live, vxlan_device_traffic_is_decapsulated, .init = live_setup, .fini = live_teardown,
     .timeout = 60)
{
	uint32_t ifindex = if_nametoindex("lfv0");
	uint8_t inner_a[16] = {0}, outer_a[16] = {0}, outer_b[16] = {0};
	uint64_t echo_in = 0, echo_out = 0, other = 0;
	struct capture *c;

	live_skip_unless_ready();
	if (sh("ip -n %s link add vx0 address 02:00:00:00:0b:01 type vxlan id 42 dstport 4789 "
	       "local 192.0.2.1 remote 192.0.2.2 dev lfv0 2>/dev/null",
	       ns_a) != 0)
		cr_skip_test("no VXLAN support in this kernel");
	cr_assert_eq(sh("ip -n %s link add vx0 address 02:00:00:00:0b:02 type vxlan id 42 "
			"dstport 4789 local 192.0.2.2 remote 192.0.2.1 dev lfv1 && "
			"ip -n %s addr add 203.0.113.1/24 dev vx0 && "
			"ip -n %s addr add 203.0.113.2/24 dev vx0 && "
			"ip -n %s neigh add 203.0.113.2 lladdr 02:00:00:00:0b:02 dev vx0 nud "
			"permanent && ip -n %s neigh add 203.0.113.1 lladdr 02:00:00:00:0b:01 "
			"dev vx0 nud permanent && ip -n %s link set vx0 up && "
			"ip -n %s link set vx0 up",
			ns_b, ns_a, ns_b, ns_a, ns_b, ns_a, ns_b),
		     0);
	inet_pton(AF_INET, "203.0.113.1", inner_a);
	inet_pton(AF_INET, "192.0.2.1", outer_a);
	inet_pton(AF_INET, "192.0.2.2", outer_b);
	c = cap_open(0, 0, 0, 0, 0);
	cr_assert_eq(c->ops->attach(c, "lfv0", ifindex), 0);
	ping("203.0.113.1", 4);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	for (size_t i = 0; i < G.n; i++) {
		const struct flow_record *r = &G.recs[i];
		bool in = r->key.direction == DECODE_DIR_INGRESS;

		if (r->key.proto != 1) {
			other += r->packets;
			continue;
		}
		cr_assert_eq(r->key.tunnel_type, DECODE_TUNNEL_VXLAN);
		cr_assert_eq(r->key.tunnel_id, 42);
		cr_assert_eq(r->outer_ip_version, 4);
		cr_assert_arr_eq(in ? r->key.dst_addr : r->key.src_addr, inner_a, 16);
		cr_assert_arr_eq(in ? r->outer_dst_addr : r->outer_src_addr, outer_a, 16);
		cr_assert_arr_eq(in ? r->outer_src_addr : r->outer_dst_addr, outer_b, 16);
		cr_assert_eq(r->octets, r->packets * 84, "inner IPv4 + ICMP + 56 bytes");
		if (in && r->key.dst_port == 8 << 8)
			echo_in += r->packets;
		if (!in && r->key.dst_port == 0)
			echo_out += r->packets;
	}
	cr_assert_eq(echo_in, 4);
	cr_assert_eq(echo_out, 4);
	cr_assert_eq(other, 0, "nothing else crossed lfv0");
	cr_assert_eq(counter(c, "tunnelled"), 8);
	capture_close(c);
}

/*
 * A device without a link header (tun): the program starts at the IP header. Packets are
 * written into the tun device, which receives them (ingress on lft0).
 */
Test(cap_ebpf_live, l3_device_packets_start_at_ip, .init = live_setup, .fini = live_teardown,
     .timeout = 60)
{
	struct capture *c;
	struct ifreq ifr;
	uint32_t ifindex;
	int fd;

	live_skip_unless_ready();
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		cr_skip_test("no /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lft0");
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0, "TUNSETIFF: %s", strerror(errno));
	cr_assert_eq(sh("ip -n %s link set lft0 up", ns_a), 0);
	ifindex = if_nametoindex("lft0");
	cr_assert_neq(ifindex, 0);
	model_init(DECODE_VIEW_INNER);
	c = cap_open(0, 0, 0, 0, 0);
	cr_assert_eq(c->ops->attach(c, "lft0", ifindex), 0);
	for (int i = 0; plain_frame(i, &B); i++) {
		uint32_t ip = pktbuild_ip_offset(&B), len;
		struct decode_pkt p;

		if (ip != 14)
			continue; /* not IP, or VLAN tags: no place on an L3 device */
		len = B.len - ip;
		cr_assert_eq(write(fd, B.data + ip, len), (ssize_t)len, "write: %s",
			     strerror(errno));
		cr_assert(decode_frame(M.d, DECODE_LINK_RAW, B.data + ip, len, len, 0, ifindex, 0,
				       &p));
		model_add(&p);
	}
	close(fd);
	cr_assert_gt(M.n, 10);
	expect_same(c, "L3 device");
	capture_close(c);
}

/* A labelflowd that died left its clsact filters: the next one removes them. */
Test(cap_ebpf_live, stale_clsact_filters_are_removed, .init = live_setup, .fini = live_teardown,
     .timeout = 60)
{
	uint32_t ifindex = if_nametoindex("lfv0");
	struct capture *c;
	pid_t pid;
	int status;

	live_skip_unless_ready();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct capture *dead;

		quiet();
		dead = cap_ebpf_new(NULL);
		if (!dead)
			_exit(1);
		cap_ebpf_test_force_tc(dead, true);
		_exit(dead->ops->attach(dead, "lfv0", ifindex) == 0 ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	cr_assert_eq(sh("ip netns exec %s tc filter show dev lfv0 ingress | grep -q lf_tc_ingress",
			ns_a),
		     0, "the dead process's filter is still there");

	c = cap_open(0, 0, 0, 0, 0);
	cr_assert_eq(c->ops->attach(c, "lfv0", ifindex), 0);
	cr_assert_eq(counter(c, "stale_filters_removed"), 2);
	cr_assert_eq(sh("ip netns exec %s tc filter show dev lfv0 ingress | grep -q lf_tc", ns_a),
		     1, "gone; ours is a TCX link");
	ping("192.0.2.1", 1);
	memset(&G, 0, sizeof(G));
	c->ops->expire(c, 0, true, &SINK);
	cr_assert_eq(G.n, 2, "counted once per direction, not twice");
	cr_assert_eq(G.recs[0].packets, 1);
	cr_assert_eq(G.recs[1].packets, 1);
	capture_close(c);
}

/* The interface disappears (its Pod died) before detach: its flows still come out. */
Test(cap_ebpf_live, interface_removed_before_detach, .init = live_setup, .fini = live_teardown,
     .timeout = 60)
{
	uint32_t ifindex = if_nametoindex("lfv0");
	struct capture *c;
	uint64_t exported = 0;

	live_skip_unless_ready();
	for (int mode = 0; mode < 2; mode++) {
		if (mode == 1) {
			cr_assert_eq(
				sh("ip -n %s link add lfv0 address 02:00:00:00:0a:01 type veth "
				   "peer name lfv1 address 02:00:00:00:0a:02 netns %s && "
				   "ip -n %s addr add 192.0.2.1/24 dev lfv0 && "
				   "ip -n %s addr add 192.0.2.2/24 dev lfv1 && "
				   "ip -n %s link set lfv0 up && ip -n %s link set lfv1 up",
				   ns_a, ns_b, ns_a, ns_b, ns_a, ns_b),
				0);
			ifindex = if_nametoindex("lfv0");
		}
		c = cap_open(0, 0, 0, 0, 0);
		cap_ebpf_test_force_tc(c, mode == 1);
		cr_assert_eq(c->ops->attach(c, "lfv0", ifindex), 0);
		ping("192.0.2.1", 3);
		cr_assert_eq(sh("ip -n %s link del lfv0", ns_a), 0);
		memset(&G, 0, sizeof(G));
		c->ops->detach(c, ifindex, &SINK);
		exported = 0;
		for (size_t i = 0; i < G.n; i++) {
			cr_assert_eq(G.recs[i].end_reason, FLOWTAB_END_FORCED);
			exported += G.recs[i].packets;
		}
		cr_assert_eq(exported, 6, "mode %d: the pings are exported", mode);
		cr_assert_eq(counter(c, "map_errors"), 0);
		capture_close(c);
	}
}

Test(cap_ebpf_live, attach_failure_is_counted, .init = live_setup, .fini = live_teardown)
{
	struct capture *c;

	live_skip_unless_ready();
	c = cap_open(0, 0, 0, 0, 0);
	log_set_level(LOG_LVL_ERROR + 0);
	cr_assert_lt(c->ops->attach(c, "nosuchif", 999999), 0);
	cr_assert_eq(counter(c, "attach_failures"), 1);
	cr_assert_eq(c->ops->attach(c, "lfv0", if_nametoindex("lfv0")), 0);
	cr_assert_geq(c->ops->fd(c), 0);
	capture_close(c);
}
