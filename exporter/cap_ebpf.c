// SPDX-License-Identifier: Apache-2.0
/*
 * cap_ebpf: the user half of the eBPF capture (kernel half: bpf/labelflow_tc.bpf.c). It
 * loads the program through the generated skeleton, attaches it per interface (TCX links,
 * or clsact filters on kernels without TCX), turns kernel flow entries into flow records
 * on expire (batch reads, O(map entries) per call, a shadow table for active-timeout
 * deltas; biflow entries' per-CPU sides merged, the earliest first packet naming the
 * initiator) and hands ring-buffer packets (flow map full) to the sink. See docs/ebpf.md.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/labelflow_tc.h"
#include "labelflow_tc.skel.h"

#include "cap_ebpf.h"
#include "log.h"

/* Older uapi headers (Debian 12's) predate TCX; the kernel numbers are fixed ABI. */
#define CAP_EBPF_TCX_INGRESS 46
#define CAP_EBPF_TCX_EGRESS  47
#define CAP_EBPF_F_BEFORE    (1U << 3)

/* clsact fallback: our filter's fixed handle and priority ("LF"), see docs/ebpf.md. */
#define CAP_EBPF_TC_HANDLE 0x4c46
#define CAP_EBPF_TC_PRIO   0x4c46

#define CAP_EBPF_DEFAULT_IDLE_MS   15000
#define CAP_EBPF_DEFAULT_ACTIVE_MS 60000
#define CAP_EBPF_BATCH		   128 /* flow entries read per batch syscall */
#define CAP_EBPF_TCP_FIN	   0x01
#define CAP_EBPF_TCP_SYN	   0x02
#define CAP_EBPF_TCP_RST	   0x04
#define CAP_EBPF_TCP_ACK	   0x10
#define CAP_EBPF_TCP_FIN_RST	   (CAP_EBPF_TCP_FIN | CAP_EBPF_TCP_RST)

_Static_assert(sizeof(struct labelflow_tc_key) == sizeof(struct flow_key), "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, ifindex) == offsetof(struct flow_key, ifindex),
	       "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, tunnel_id) == offsetof(struct flow_key, tunnel_id),
	       "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, src_port) == offsetof(struct flow_key, src_port),
	       "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, vlan_id) == offsetof(struct flow_key, vlan_id),
	       "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, ip_version) ==
		       offsetof(struct flow_key, ip_version),
	       "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, direction) == offsetof(struct flow_key, direction),
	       "key layout");
_Static_assert(offsetof(struct labelflow_tc_key, tunnel_type) ==
		       offsetof(struct flow_key, tunnel_type),
	       "key layout");
_Static_assert(sizeof(struct labelflow_tc_value) % 8 == 0, "per-CPU values are 8-aligned");
_Static_assert(sizeof(struct labelflow_tc_bivalue) % 8 == 0, "per-CPU values are 8-aligned");
_Static_assert(sizeof(struct labelflow_tc_sampling) % 8 == 0, "per-CPU values are 8-aligned");
_Static_assert(sizeof(struct labelflow_tc_ifstats) % 8 == 0, "per-CPU values are 8-aligned");
_Static_assert(sizeof(struct labelflow_tc_event) == 112, "ring event size");
_Static_assert(LABELFLOW_TC_CNT_NON_IP - LABELFLOW_TC_CNT_FIRST_DROP == DECODE_DROP_NON_IP &&
		       LABELFLOW_TC_CNT_BAD_IPV6_EXT - LABELFLOW_TC_CNT_FIRST_DROP ==
			       DECODE_DROP_BAD_IPV6_EXT - 1,
	       "drop counters follow enum decode_drop (without unsupported_link)");

/* This module's own counters, after the kernel's in cap_ebpf_get_counters(). */
enum {
	CNT_RING_DELIVERED = 0, /* ring events handed to sink->packet */
	CNT_RING_DISCARDED,	/* ring events consumed with no sink (teardown) */
	CNT_RING_BAD_EVENTS,	/* ring records of the wrong size */
	CNT_RECORDS,		/* flow records handed to sink->flow */
	CNT_ATTACH_FAILURES,	/* interfaces that could not be attached */
	CNT_TCX_ATTACHED,	/* interfaces attached with TCX links */
	CNT_TC_ATTACHED,	/* interfaces attached with clsact filters */
	CNT_STALE_REMOVED,	/* stale labelflowd clsact filters removed */
	CNT_MAP_ERRORS,		/* failed flow map reads/deletes, ring reads */
	CNT_USER_COUNT,
};

static const char *const kernel_names[LABELFLOW_TC_CNT_COUNT] = {
	[LABELFLOW_TC_CNT_PACKETS] = "packets",
	[LABELFLOW_TC_CNT_METERED] = "metered",
	[LABELFLOW_TC_CNT_RING] = "ring",
	[LABELFLOW_TC_CNT_RING_FULL] = "ring_full",
	[LABELFLOW_TC_CNT_NON_IP] = "non_ip",
	[LABELFLOW_TC_CNT_TRUNCATED_L2] = "truncated_l2",
	[LABELFLOW_TC_CNT_BAD_IP_VERSION] = "bad_ip_version",
	[LABELFLOW_TC_CNT_TRUNCATED_IP] = "truncated_ip",
	[LABELFLOW_TC_CNT_BAD_IP_HDR_LEN] = "bad_ip_hdr_len",
	[LABELFLOW_TC_CNT_BAD_IP_TOTAL_LEN] = "bad_ip_total_len",
	[LABELFLOW_TC_CNT_BAD_IPV6_EXT] = "bad_ipv6_ext",
	[LABELFLOW_TC_CNT_VLAN_TOO_DEEP] = "vlan_too_deep",
	[LABELFLOW_TC_CNT_MAP_FULL] = "map_full",
	[LABELFLOW_TC_CNT_TRUNCATED_L4] = "truncated_l4",
	[LABELFLOW_TC_CNT_FRAGMENTS] = "fragments",
	[LABELFLOW_TC_CNT_FRAG_MATCHED] = "frag_matched",
	[LABELFLOW_TC_CNT_FRAG_UNMATCHED] = "frag_unmatched",
	[LABELFLOW_TC_CNT_TUNNELLED] = "tunnelled",
	[LABELFLOW_TC_CNT_TUNNEL_MALFORMED] = "tunnel_malformed",
	[LABELFLOW_TC_CNT_TUNNEL_NOT_IP] = "tunnel_not_ip",
	[LABELFLOW_TC_CNT_TUNNEL_OUTER_FRAG] = "tunnel_outer_frag",
	[LABELFLOW_TC_CNT_IPV6_EXT_TOO_LONG] = "ipv6_ext_too_long",
	[LABELFLOW_TC_CNT_GSO_SEGS] = "gso_segs",
	[LABELFLOW_TC_CNT_OUTER_METERED] = "outer_metered",
	[LABELFLOW_TC_CNT_OUTER_RING] = "outer_ring",
	[LABELFLOW_TC_CNT_OUTER_RING_FULL] = "outer_ring_full",
	[LABELFLOW_TC_CNT_SAMPLED_OUT] = "sampled_out",
};

static const char *const user_names[CNT_USER_COUNT] = {
	[CNT_RING_DELIVERED] = "ring_delivered",   [CNT_RING_DISCARDED] = "ring_discarded",
	[CNT_RING_BAD_EVENTS] = "ring_bad_events", [CNT_RECORDS] = "records_exported",
	[CNT_ATTACH_FAILURES] = "attach_failures", [CNT_TCX_ATTACHED] = "tcx_attached",
	[CNT_TC_ATTACHED] = "tc_attached",	   [CNT_STALE_REMOVED] = "stale_filters_removed",
	[CNT_MAP_ERRORS] = "map_errors",
};

/* One followed interface. */
struct cap_ebpf_iface {
	uint32_t ifindex;
	char name[IF_NAMESIZE];
	int link_fd[2];	 /* owned: TCX links (ingress, egress), -1 when none */
	bool tc_hook[2]; /* our clsact filter is attached at ingress / egress */
};

/*
 * Already-reported totals of a flow that had an active-timeout report, so the next record
 * carries the delta and the original start time. Owned by the shadow table.
 */
struct cap_ebpf_shadow {
	struct flow_key key; /* the hash key points here */
	uint64_t start_ms;
	uint64_t report_ms;
	uint64_t packets[2]; /* per side (uniflow: side 0) */
	uint64_t octets[2];
	uint8_t init; /* biflow: the initiator's side, fixed at the first report */
};

/* One side of a flow summed over CPUs (a uniflow has side 0 only). */
struct side_sum {
	uint64_t packets;
	uint64_t octets;
	uint64_t first_ns;
	uint64_t last_ns;
	uint8_t tcp_flags;
};

/*
 * One flow entry summed over CPUs, with the attributes of the flow's first packet: those of
 * the CPU slot whose first packet is the earliest.
 */
struct flow_sum {
	struct side_sum side[2];
	uint64_t first_ns; /* the earliest packet, either side */
	uint64_t last_ns;  /* the latest packet, either side */
	bool any;	   /* some CPU counted a packet */
	uint8_t init;	   /* biflow: the side of the first packet (the initiator's) */
	uint8_t first_direction;
	uint8_t first_tcp_flags;
	uint8_t tos;
	uint8_t outer_ip_version;
	uint16_t inner_vlan_id;
	const uint8_t *outer_src_addr; /* borrowed from the values read */
	const uint8_t *outer_dst_addr;
};

/* A flow chosen for deletion during an expiry scan. */
struct cap_ebpf_todo {
	struct labelflow_tc_key key;
	uint8_t reason; /* enum flowtab_end_reason */
};

struct cap_ebpf {
	struct capture base;	   /* must stay first */
	struct labelflow_tc *skel; /* owned */
	struct ring_buffer *rb;	   /* owned */
	GHashTable *shadow;	   /* owned: struct flow_key * -> struct cap_ebpf_shadow * */
	GArray *ifaces;		   /* owned: struct cap_ebpf_iface */
	GArray *todo;		   /* owned: struct cap_ebpf_todo, reused by every scan */
	int ncpus;		   /* possible CPUs: per-CPU values come in this many slots */
	int flows_fd;		   /* lf_flows, or lf_biflows in biflow mode */
	int ifstats_fd;
	int sampling_fd; /* lf_sampling */
	bool biflow;
	uint32_t sampling_interval; /* 1: every packet */
	size_t value_size;	    /* one CPU's slot of a flows_fd value */
	uint32_t idle_timeout_ms;
	uint32_t active_timeout_ms;
	bool force_tc;		 /* tests: skip TCX, attach clsact filters */
	bool error_logged;	 /* a map or ring failure was logged: later ones are only counted */
	int64_t mono_to_wall_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC, refreshed per call */
	/* Batch read buffers: CAP_EBPF_BATCH keys and their per-CPU values. Owned. */
	struct labelflow_tc_key *batch_keys;
	uint8_t *batch_vals; /* batch_cap * ncpus slots of value_size bytes */
	uint32_t batch_cap;
	uint8_t *one_vals;			  /* owned: ncpus slots for single lookups */
	struct labelflow_tc_ifstats *if_vals;	  /* owned: ncpus slots */
	struct labelflow_tc_sampling *smp_vals;	  /* owned: ncpus slots */
	uint64_t retired[LABELFLOW_TC_CNT_COUNT]; /* counters of detached interfaces */
	uint64_t user[CNT_USER_COUNT];
	/* Set for the duration of one ring consume. */
	const struct capture_sink *rb_sink; /* borrowed */
	int rb_budget;
	int rb_count;
};

/* ---- libbpf's messages --------------------------------------------------------------- */

/* Non-zero while probing (tc queries that may find nothing): libbpf warnings become debug. */
static int quiet_probes;

__attribute__((format(printf, 2, 0))) static int log_from_libbpf(enum libbpf_print_level level,
								 const char *fmt, va_list ap)
{
	enum log_level lvl = LOG_LVL_DEBUG;
	char msg[1024];
	size_t n;

	if (level == LIBBPF_WARN)
		lvl = LOG_LVL_WARN;
	else if (level == LIBBPF_INFO)
		lvl = LOG_LVL_INFO;
	if (quiet_probes)
		lvl = LOG_LVL_DEBUG;
	if (lvl > log_get_level())
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_write(lvl, "%s%s", strncmp(msg, "libbpf: ", 8) == 0 ? "" : "libbpf: ", msg);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

static void clock_sync(struct cap_ebpf *c)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &rt);
	c->mono_to_wall_ns = ((int64_t)rt.tv_sec - (int64_t)mono.tv_sec) * 1000000000LL +
			     ((int64_t)rt.tv_nsec - (int64_t)mono.tv_nsec);
}

static uint64_t wall_ms(const struct cap_ebpf *c, uint64_t mono_ns)
{
	int64_t ns = (int64_t)mono_ns + c->mono_to_wall_ns;

	return ns > 0 ? (uint64_t)ns / 1000000u : 0;
}

static guint shadow_hash(gconstpointer p)
{
	const uint8_t *k = p;
	uint64_t h = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i < sizeof(struct flow_key); i++)
		h = (h ^ k[i]) * 0x100000001b3ULL;
	return (guint)(h ^ (h >> 32));
}

static gboolean shadow_equal(gconstpointer a, gconstpointer b)
{
	return memcmp(a, b, sizeof(struct flow_key)) == 0;
}

static struct cap_ebpf_iface *iface_find(const struct cap_ebpf *c, uint32_t ifindex, guint *ret_i)
{
	for (guint i = 0; i < c->ifaces->len; i++) {
		struct cap_ebpf_iface *ifc = &g_array_index(c->ifaces, struct cap_ebpf_iface, i);

		if (ifc->ifindex == ifindex) {
			if (ret_i)
				*ret_i = i;
			return ifc;
		}
	}
	return NULL;
}

/* Count a failed map or ring operation; log only the first (it repeats every second). */
static void map_error(struct cap_ebpf *c, const char *what, int err)
{
	c->user[CNT_MAP_ERRORS]++;
	if (c->error_logged)
		return;
	c->error_logged = true;
	log_error("eBPF capture: %s failed: %s (further failures only counted in map_errors)", what,
		  strerror(-err));
}

static void side_add(struct side_sum *a, uint64_t packets, uint64_t octets, uint64_t first_ns,
		     uint64_t last_ns, uint8_t tcp_flags)
{
	if (!packets)
		return;
	if (!a->packets || first_ns < a->first_ns)
		a->first_ns = first_ns;
	if (last_ns > a->last_ns)
		a->last_ns = last_ns;
	a->packets += packets;
	a->octets += octets;
	a->tcp_flags |= tcp_flags;
}

/* The slot whose first packet (at first_ns) is the earliest so far gives the attributes. */
static bool first_so_far(struct flow_sum *s, uint64_t first_ns)
{
	if (s->any && first_ns >= s->first_ns)
		return false;
	s->any = true;
	s->first_ns = first_ns;
	return true;
}

/* Sum one flow's per-CPU slots (vals: ncpus slots of c->value_size bytes). */
static void flow_sum(const struct cap_ebpf *c, const void *vals, struct flow_sum *s)
{
	memset(s, 0, sizeof(*s));
	for (int cpu = 0; cpu < c->ncpus; cpu++) {
		if (c->biflow) {
			const struct labelflow_tc_bivalue *v =
				&((const struct labelflow_tc_bivalue *)vals)[cpu];
			uint8_t first = v->first_side & 1;

			for (int j = 0; j < 2; j++)
				side_add(&s->side[j], v->side[j].packets, v->side[j].octets,
					 v->side[j].first_ns, v->side[j].last_ns,
					 v->side[j].tcp_flags);
			if (!v->side[first].packets || !first_so_far(s, v->side[first].first_ns))
				continue;
			s->init = first;
			s->first_direction = v->first_direction;
			s->first_tcp_flags = v->first_tcp_flags;
			s->tos = v->tos;
			s->outer_ip_version = v->outer_ip_version;
			s->inner_vlan_id = v->inner_vlan_id;
			s->outer_src_addr = v->outer_src_addr;
			s->outer_dst_addr = v->outer_dst_addr;
		} else {
			const struct labelflow_tc_value *v =
				&((const struct labelflow_tc_value *)vals)[cpu];

			side_add(&s->side[0], v->packets, v->octets, v->first_ns, v->last_ns,
				 v->tcp_flags);
			if (!v->packets || !first_so_far(s, v->first_ns))
				continue;
			s->tos = v->tos;
			s->outer_ip_version = v->outer_ip_version;
			s->inner_vlan_id = v->inner_vlan_id;
			s->outer_src_addr = v->outer_src_addr;
			s->outer_dst_addr = v->outer_dst_addr;
		}
	}
	s->last_ns =
		s->side[0].last_ns > s->side[1].last_ns ? s->side[0].last_ns : s->side[1].last_ns;
}

/*
 * Has the flow ended at the TCP level? Uniflow: a FIN or RST. Biflow (as flowtab.c's): an
 * RST from either side, or FINs from both sides.
 */
static bool tcp_ended(const struct cap_ebpf *c, const struct flow_sum *s)
{
	uint8_t f0 = s->side[0].tcp_flags, f1 = s->side[1].tcp_flags;

	if (!c->biflow)
		return f0 & CAP_EBPF_TCP_FIN_RST;
	return ((f0 | f1) & CAP_EBPF_TCP_RST) || ((f0 & f1) & CAP_EBPF_TCP_FIN);
}

/*
 * The key of the other direction, as flowtab.c's key_reverse() (ICMP: request and reply
 * types swapped). Only called for the reverse of a canonical biflow key, which exists.
 */
static void key_reverse(struct labelflow_tc_key *ret, const struct labelflow_tc_key *k)
{
	bool icmp = (k->ip_version == 4 && k->proto == LABELFLOW_TC_P_ICMP) ||
		    (k->ip_version == 6 && k->proto == LABELFLOW_TC_P_ICMPV6);

	*ret = *k;
	memcpy(ret->src_addr, k->dst_addr, sizeof(ret->src_addr));
	memcpy(ret->dst_addr, k->src_addr, sizeof(ret->dst_addr));
	if (icmp) {
		int rtype = labelflow_tc_icmp_reply(k->ip_version, (uint8_t)(k->dst_port >> 8));

		if (rtype >= 0)
			ret->dst_port = (uint16_t)((unsigned)rtype << 8 | (k->dst_port & 0xff));
	} else {
		ret->src_port = k->dst_port;
		ret->dst_port = k->src_port;
	}
}

static uint64_t delta(uint64_t now, uint64_t before)
{
	return now > before ? now - before : 0;
}

/*
 * Hand the flow's records since its last report to sink. No record carries 0 packets. A
 * biflow record is the initiator's (as flowtab.c's): its key (the canonical key, turned
 * back when the initiator sent side 1) with its first packet's direction, its counters
 * forward, the responder's reverse.
 */
static void emit(struct cap_ebpf *c, const struct labelflow_tc_key *key, const struct flow_sum *s,
		 const struct cap_ebpf_shadow *sh, uint8_t reason, const struct capture_sink *sink)
{
	uint8_t init = sh ? sh->init : s->init;
	const struct side_sum *fwd = &s->side[init], *rev = &s->side[!init];
	struct labelflow_tc_key k = *key;
	struct flow_record rec;

	memset(&rec, 0, sizeof(rec));
	rec.packets = delta(fwd->packets, sh ? sh->packets[init] : 0);
	rec.rev_packets = delta(rev->packets, sh ? sh->packets[!init] : 0);
	if (!s->any || rec.packets + rec.rev_packets == 0)
		return;
	/* Slots are read while CPUs write them: octets may trail packets by a packet. */
	rec.octets = delta(fwd->octets, sh ? sh->octets[init] : 0);
	rec.rev_octets = delta(rev->octets, sh ? sh->octets[!init] : 0);
	rec.start_ms = sh ? sh->start_ms : wall_ms(c, s->first_ns);
	rec.end_ms = wall_ms(c, s->last_ns);
	if (rec.end_ms < rec.start_ms)
		rec.end_ms = rec.start_ms;
	rec.tcp_flags = fwd->tcp_flags;
	if (c->biflow) {
		bool syn = (s->first_tcp_flags & (CAP_EBPF_TCP_SYN | CAP_EBPF_TCP_ACK)) ==
			   CAP_EBPF_TCP_SYN;

		if (init)
			key_reverse(&k, key);
		k.direction = s->first_direction;
		rec.rev_tcp_flags = rev->tcp_flags;
		if (rev->packets) {
			rec.rev_start_ms = wall_ms(c, rev->first_ns);
			rec.rev_end_ms = wall_ms(c, rev->last_ns);
		}
		rec.biflow_direction = key->proto != LABELFLOW_TC_P_TCP || syn
					       ? FLOWTAB_BIFLOW_INITIATOR
					       : FLOWTAB_BIFLOW_ARBITRARY;
	}
	memcpy(&rec.key, &k, sizeof(rec.key));
	rec.inner_vlan_id = s->inner_vlan_id;
	rec.tos = s->tos;
	rec.end_reason = reason;
	rec.outer_ip_version = s->outer_ip_version;
	memcpy(rec.outer_src_addr, s->outer_src_addr, sizeof(rec.outer_src_addr));
	memcpy(rec.outer_dst_addr, s->outer_dst_addr, sizeof(rec.outer_dst_addr));
	c->user[CNT_RECORDS]++;
	if (sink && sink->flow)
		sink->flow(&rec, sink->user);
}

/*
 * Remove the flows listed in c->todo from the map and export them. lookup_and_delete
 * returns the entry's final counts, so only packets a CPU adds between the kernel's copy
 * and the unlink are lost (docs/ebpf.md, "deletion race").
 */
static void finish_todo(struct cap_ebpf *c, const struct capture_sink *sink)
{
	for (guint i = 0; i < c->todo->len; i++) {
		const struct cap_ebpf_todo *t = &g_array_index(c->todo, struct cap_ebpf_todo, i);
		struct cap_ebpf_shadow *sh;
		struct flow_sum s;

		if (bpf_map_lookup_and_delete_elem(c->flows_fd, &t->key, c->one_vals) < 0) {
			if (errno != ENOENT) /* ENOENT: listed twice by a scan racing inserts */
				map_error(c, "delete", -errno);
			continue;
		}
		sh = g_hash_table_lookup(c->shadow, &t->key);
		flow_sum(c, c->one_vals, &s);
		emit(c, &t->key, &s, sh, t->reason, sink);
		if (sh)
			g_hash_table_remove(c->shadow, &t->key);
	}
	g_array_set_size(c->todo, 0);
}

typedef void (*flow_visit_fn)(struct cap_ebpf *c, const struct labelflow_tc_key *key,
			      const void *vals, void *arg);

/* Entry i's per-CPU slots in a batch buffer. */
static const void *batch_val(const struct cap_ebpf *c, __u32 i)
{
	return c->batch_vals + (size_t)i * (size_t)c->ncpus * c->value_size;
}

/* Double the batch buffers (a hash bucket held more entries than one batch). */
static int batch_grow(struct cap_ebpf *c)
{
	uint32_t cap = c->batch_cap * 2;
	struct labelflow_tc_key *keys;
	uint8_t *vals;

	if (cap > (1u << 16))
		return -ENOSPC;
	keys = realloc(c->batch_keys, cap * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	c->batch_keys = keys;
	vals = realloc(c->batch_vals, (size_t)cap * (size_t)c->ncpus * c->value_size);
	if (!vals)
		return -ENOMEM;
	c->batch_vals = vals;
	c->batch_cap = cap;
	return 0;
}

/*
 * Read every flow entry in batches of batch_cap and call fn on each: one syscall per
 * batch, O(map entries) in all. Entries added meanwhile may or may not be seen. Returns
 * 0 or -errno (logged).
 */
static int for_each_flow(struct cap_ebpf *c, flow_visit_fn fn, void *arg)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint64_t in_batch = 0, out_batch = 0; /* hash maps use a 4-byte bucket cursor */
	bool first = true;

	for (;;) {
		__u32 count = c->batch_cap;
		int err;

		err = bpf_map_lookup_batch(c->flows_fd, first ? NULL : &in_batch, &out_batch,
					   c->batch_keys, c->batch_vals, &count, &opts);
		if (err == -ENOSPC && count == 0 && batch_grow(c) == 0)
			continue;
		if (err < 0 && err != -ENOENT) {
			map_error(c, "batch read", err);
			return err;
		}
		for (__u32 i = 0; i < count; i++)
			fn(c, &c->batch_keys[i], batch_val(c, i), arg);
		if (err == -ENOENT)
			return 0;
		in_batch = out_batch;
		first = false;
	}
}

/* ---- expiry -------------------------------------------------------------------------- */

struct expire_arg {
	uint64_t now_ms;
	bool flush;
	const struct capture_sink *sink;
};

static void expire_visit(struct cap_ebpf *c, const struct labelflow_tc_key *key, const void *vals,
			 void *argp)
{
	const struct expire_arg *arg = argp;
	struct cap_ebpf_shadow *sh = g_hash_table_lookup(c->shadow, key);
	struct cap_ebpf_todo t;
	uint64_t report_ms;
	struct flow_sum s;
	uint8_t reason = 0;

	flow_sum(c, vals, &s);
	if (!s.any)
		return;
	report_ms = sh ? sh->report_ms : wall_ms(c, s.first_ns);
	if (arg->flush)
		reason = FLOWTAB_END_FORCED;
	else if (wall_ms(c, s.last_ns) + c->idle_timeout_ms <= arg->now_ms)
		reason = FLOWTAB_END_IDLE;
	else if (tcp_ended(c, &s))
		reason = FLOWTAB_END_EOF_DETECTED;
	else if (report_ms + c->active_timeout_ms <= arg->now_ms)
		reason = FLOWTAB_END_ACTIVE;
	if (!reason)
		return;
	if (reason == FLOWTAB_END_ACTIVE) {
		emit(c, key, &s, sh, reason, arg->sink);
		if (!sh) {
			sh = g_new0(struct cap_ebpf_shadow, 1);
			memcpy(&sh->key, key, sizeof(sh->key));
			sh->start_ms = wall_ms(c, s.first_ns);
			sh->init = s.init;
			g_hash_table_insert(c->shadow, &sh->key, sh);
		}
		sh->report_ms = arg->now_ms;
		for (int j = 0; j < 2; j++) {
			if (s.side[j].packets > sh->packets[j])
				sh->packets[j] = s.side[j].packets;
			if (s.side[j].octets > sh->octets[j])
				sh->octets[j] = s.side[j].octets;
		}
		return;
	}
	memset(&t, 0, sizeof(t));
	t.key = *key;
	t.reason = reason;
	g_array_append_val(c->todo, t);
}

/*
 * Export and remove every flow, a batch at a time (lookup-and-delete batches: one syscall
 * per batch_cap entries instead of one per flow). Entries created meanwhile may remain.
 */
static void flush_all(struct cap_ebpf *c, const struct capture_sink *sink)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint64_t in_batch = 0, out_batch = 0;
	bool first = true;

	for (;;) {
		__u32 count = c->batch_cap;
		int err;

		err = bpf_map_lookup_and_delete_batch(c->flows_fd, first ? NULL : &in_batch,
						      &out_batch, c->batch_keys, c->batch_vals,
						      &count, &opts);
		if (err == -ENOSPC && count == 0 && batch_grow(c) == 0)
			continue;
		if (err < 0 && err != -ENOENT) {
			map_error(c, "batch flush", err);
			return;
		}
		for (__u32 i = 0; i < count; i++) {
			const struct labelflow_tc_key *key = &c->batch_keys[i];
			struct cap_ebpf_shadow *sh = g_hash_table_lookup(c->shadow, key);
			struct flow_sum s;

			flow_sum(c, batch_val(c, i), &s);
			emit(c, key, &s, sh, FLOWTAB_END_FORCED, sink);
			if (sh)
				g_hash_table_remove(c->shadow, key);
		}
		if (err == -ENOENT)
			break;
		in_batch = out_batch;
		first = false;
	}
	/* Shadows of flows that vanished otherwise have nothing left to report. */
	g_hash_table_remove_all(c->shadow);
}

static void cap_ebpf_expire(struct capture *base, uint64_t now_ms, bool flush,
			    const struct capture_sink *sink)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;
	struct expire_arg arg = {.now_ms = now_ms, .flush = flush, .sink = sink};

	clock_sync(c);
	if (flush) {
		flush_all(c, sink);
		return;
	}
	for_each_flow(c, expire_visit, &arg);
	finish_todo(c, sink);
}

int cap_ebpf_map_entries(const struct capture *base)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;
	struct labelflow_tc_key key, next;
	int n = 0;

	while (bpf_map_get_next_key(c->flows_fd, n ? &key : NULL, &next) == 0) {
		key = next;
		n++;
	}
	return errno == ENOENT ? n : -errno;
}

/* ---- ring: packets that found the map full ------------------------------------------- */

static int on_event(void *ctx, void *data, size_t size)
{
	struct cap_ebpf *c = ctx;
	const struct labelflow_tc_event *ev = data;
	struct decode_pkt pkt;

	if (size < sizeof(*ev)) {
		c->user[CNT_RING_BAD_EVENTS]++;
		return 0;
	}
	if (!c->rb_sink || !c->rb_sink->packet) {
		c->user[CNT_RING_DISCARDED]++;
		return 0;
	}
	memset(&pkt, 0, sizeof(pkt));
	memcpy(&pkt.key, &ev->key, sizeof(pkt.key));
	pkt.ts_ms = wall_ms(c, ev->ts_ns);
	pkt.octets = ev->octets;
	pkt.inner_vlan_id = ev->inner_vlan_id;
	pkt.tcp_flags = ev->tcp_flags;
	pkt.tos = ev->tos;
	pkt.fragment = ev->fragment != 0;
	pkt.outer_ip_version = ev->outer_ip_version;
	memcpy(pkt.outer_src_addr, ev->outer_src_addr, sizeof(pkt.outer_src_addr));
	memcpy(pkt.outer_dst_addr, ev->outer_dst_addr, sizeof(pkt.outer_dst_addr));
	c->user[CNT_RING_DELIVERED]++;
	c->rb_sink->packet(&pkt, c->rb_sink->user);
	/* A negative return stops the consume loop after this record (the budget). */
	if (++c->rb_count >= c->rb_budget && c->rb_budget > 0)
		return -ECANCELED;
	return 0;
}

static int drain_ring(struct cap_ebpf *c, int max_items, const struct capture_sink *sink)
{
	int rc;

	clock_sync(c);
	c->rb_sink = sink;
	c->rb_budget = max_items;
	c->rb_count = 0;
	rc = ring_buffer__consume(c->rb);
	c->rb_sink = NULL;
	if (rc < 0 && rc != -ECANCELED) {
		map_error(c, "ring buffer read", rc);
		return rc;
	}
	return c->rb_count;
}

static int cap_ebpf_dispatch(struct capture *base, int max_items, const struct capture_sink *sink)
{
	return drain_ring((struct cap_ebpf *)base, max_items, sink);
}

static int cap_ebpf_fd(const struct capture *base)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;

	return ring_buffer__epoll_fd(c->rb);
}

/* ---- attach / detach ----------------------------------------------------------------- */

/* Link type of an interface: true when TC sees packets without a link header. */
static bool iface_is_l3(const char *ifname)
{
	struct ifreq ifr;
	bool l3 = false;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == 0)
		l3 = ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER &&
		     ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK;
	close(fd);
	return l3;
}

static int ifstats_create(struct cap_ebpf *c, uint32_t ifindex, uint32_t flags)
{
	memset(c->if_vals, 0, sizeof(*c->if_vals) * (size_t)c->ncpus);
	for (int cpu = 0; cpu < c->ncpus; cpu++)
		c->if_vals[cpu].flags = flags;
	if (bpf_map_update_elem(c->ifstats_fd, &ifindex, c->if_vals, BPF_ANY) < 0)
		return -errno;
	return 0;
}

/* Add an interface's per-CPU counters to acc; returns false if it has no entry. */
static bool ifstats_sum(const struct cap_ebpf *c, uint32_t ifindex, uint64_t *acc)
{
	if (bpf_map_lookup_elem(c->ifstats_fd, &ifindex, c->if_vals) < 0)
		return false;
	for (int cpu = 0; cpu < c->ncpus; cpu++)
		for (int i = 0; i < LABELFLOW_TC_CNT_COUNT; i++)
			acc[i] += c->if_vals[cpu].cnt[i];
	return true;
}

static bool prog_is_ours(uint32_t prog_id)
{
	struct bpf_prog_info info;
	__u32 len = sizeof(info);
	bool ours = false;
	int fd;

	fd = bpf_prog_get_fd_by_id(prog_id);
	if (fd < 0)
		return false;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0)
		ours = strcmp(info.name, "lf_tc_ingress") == 0 ||
		       strcmp(info.name, "lf_tc_egress") == 0;
	close(fd);
	return ours;
}

/* Does the file descriptor /proc/<pid>/fd/<fd> refer to BPF program prog_id? */
static bool fd_is_prog(const char *pid, const char *fd, uint32_t prog_id)
{
	char path[600], target[32], line[128];
	bool found = false;
	ssize_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/fd/%s", pid, fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	if (strcmp(target, "anon_inode:bpf-prog") != 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, fd);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned int id;

		found = sscanf(line, "prog_id: %u", &id) == 1 && id == prog_id;
	}
	fclose(f);
	return found;
}

/*
 * Is a program still held open by some process (a running labelflowd)? A filter left by a
 * dead one is the program's only holder. O(processes x descriptors), run only when a
 * filter of ours is found at attach. When /proc cannot be read the answer is "in use".
 */
static bool prog_held_open(uint32_t prog_id)
{
	struct dirent *p, *f;
	bool held = false;
	DIR *proc, *fds;

	proc = opendir("/proc");
	if (!proc)
		return true;
	while (!held && (p = readdir(proc))) {
		char path[300];

		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/fd", p->d_name);
		fds = opendir(path);
		if (!fds)
			continue;
		while (!held && (f = readdir(fds)))
			held = f->d_name[0] != '.' && fd_is_prog(p->d_name, f->d_name, prog_id);
		closedir(fds);
	}
	closedir(proc);
	return held;
}

/*
 * Remove clsact filters a previous labelflowd left behind (it died before detaching):
 * ours sit at a fixed handle/priority, run a program named like ours, and no process
 * holds that program open. TCX links need no such care: they are owned by the fd and
 * vanish with the process.
 */
static void remove_stale_filters(struct cap_ebpf *c, const struct cap_ebpf_iface *ifc)
{
	static const enum bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

	for (int d = 0; d < 2; d++) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
			    .attach_point = points[d]);
		LIBBPF_OPTS(bpf_tc_opts, q, .handle = CAP_EBPF_TC_HANDLE,
			    .priority = CAP_EBPF_TC_PRIO);
		LIBBPF_OPTS(bpf_tc_opts, del, .handle = CAP_EBPF_TC_HANDLE,
			    .priority = CAP_EBPF_TC_PRIO);
		int err;

		quiet_probes++;
		err = bpf_tc_query(&hook, &q);
		quiet_probes--;
		if (err < 0 || !prog_is_ours(q.prog_id) || prog_held_open(q.prog_id))
			continue;
		if (bpf_tc_detach(&hook, &del) == 0) {
			c->user[CNT_STALE_REMOVED]++;
			log_info("interface '%s': removed a stale labelflowd tc filter (%s)",
				 ifc->name, d ? "egress" : "ingress");
		}
	}
}

static void iface_unhook(struct cap_ebpf_iface *ifc)
{
	static const enum bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};

	for (int d = 0; d < 2; d++) {
		if (ifc->link_fd[d] >= 0) {
			close(ifc->link_fd[d]);
			ifc->link_fd[d] = -1;
		}
		if (ifc->tc_hook[d]) {
			LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
				    .attach_point = points[d]);
			LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CAP_EBPF_TC_HANDLE,
				    .priority = CAP_EBPF_TC_PRIO);

			/* The interface may be gone already, taking the filter with it. */
			bpf_tc_detach(&hook, &opts);
			ifc->tc_hook[d] = false;
		}
	}
}

static int attach_tcx(struct cap_ebpf *c, struct cap_ebpf_iface *ifc, const int prog_fd[2])
{
	static const int types[2] = {CAP_EBPF_TCX_INGRESS, CAP_EBPF_TCX_EGRESS};

	for (int d = 0; d < 2; d++) {
		/* BPF_F_BEFORE without a relative program: run first, before any other. */
		LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = CAP_EBPF_F_BEFORE);
		int fd = bpf_link_create(prog_fd[d], (int)ifc->ifindex,
					 (enum bpf_attach_type)types[d], &opts);

		if (fd < 0) {
			int err = -errno;

			iface_unhook(ifc);
			return err;
		}
		ifc->link_fd[d] = fd;
	}
	c->user[CNT_TCX_ATTACHED]++;
	return 0;
}

static int attach_clsact(struct cap_ebpf *c, struct cap_ebpf_iface *ifc, const int prog_fd[2])
{
	static const enum bpf_tc_attach_point points[2] = {BPF_TC_INGRESS, BPF_TC_EGRESS};
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = (int)ifc->ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err;

	quiet_probes++; /* "exists" is fine, and libbpf would warn about it */
	err = bpf_tc_hook_create(&hook);
	quiet_probes--;
	if (err < 0 && err != -EEXIST)
		return err;
	for (int d = 0; d < 2; d++) {
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CAP_EBPF_TC_HANDLE,
			    .priority = CAP_EBPF_TC_PRIO, .prog_fd = prog_fd[d],
			    .flags = BPF_TC_F_REPLACE);

		hook.attach_point = points[d];
		err = bpf_tc_attach(&hook, &opts);
		if (err < 0) {
			iface_unhook(ifc);
			return err;
		}
		ifc->tc_hook[d] = true;
	}
	c->user[CNT_TC_ATTACHED]++;
	return 0;
}

static int cap_ebpf_attach(struct capture *base, const char *ifname, uint32_t ifindex)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;
	const int prog_fd[2] = {bpf_program__fd(c->skel->progs.lf_tc_ingress),
				bpf_program__fd(c->skel->progs.lf_tc_egress)};
	struct cap_ebpf_iface ifc;
	const char *how = "TCX";
	int err;

	if (ifindex == 0 || !ifname)
		return -EINVAL;
	if (iface_find(c, ifindex, NULL))
		return -EEXIST;
	memset(&ifc, 0, sizeof(ifc));
	ifc.ifindex = ifindex;
	ifc.link_fd[0] = ifc.link_fd[1] = -1;
	snprintf(ifc.name, sizeof(ifc.name), "%s", ifname);

	err = ifstats_create(c, ifindex, iface_is_l3(ifname) ? LABELFLOW_TC_IF_L3 : 0);
	if (err < 0)
		goto fail;
	remove_stale_filters(c, &ifc);
	err = c->force_tc ? -EOPNOTSUPP : attach_tcx(c, &ifc, prog_fd);
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUP) {
		how = "tc clsact";
		err = attach_clsact(c, &ifc, prog_fd);
	}
	if (err < 0) {
		bpf_map_delete_elem(c->ifstats_fd, &ifindex);
		goto fail;
	}
	g_array_append_val(c->ifaces, ifc);
	log_debug("interface '%s': eBPF capture attached (%s)", ifname, how);
	return 0;
fail:
	c->user[CNT_ATTACH_FAILURES]++;
	log_error("interface '%s': cannot attach the eBPF capture: %s", ifname, strerror(-err));
	return err;
}

struct detach_arg {
	uint32_t ifindex;
};

static void detach_visit(struct cap_ebpf *c, const struct labelflow_tc_key *key, const void *vals,
			 void *argp)
{
	const struct detach_arg *arg = argp;
	struct cap_ebpf_todo t;

	(void)vals;
	if (key->ifindex != arg->ifindex)
		return;
	memset(&t, 0, sizeof(t));
	t.key = *key;
	t.reason = FLOWTAB_END_FORCED;
	g_array_append_val(c->todo, t);
}

static void cap_ebpf_detach(struct capture *base, uint32_t ifindex, const struct capture_sink *sink)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;
	struct detach_arg arg = {.ifindex = ifindex};
	struct cap_ebpf_iface *ifc;
	guint idx;

	ifc = iface_find(c, ifindex, &idx);
	if (!ifc)
		return;
	iface_unhook(ifc);
	/* Packets already in the ring first, then the flows still in the kernel map. */
	drain_ring(c, 0, sink);
	clock_sync(c);
	for_each_flow(c, detach_visit, &arg);
	finish_todo(c, sink);
	ifstats_sum(c, ifindex, c->retired);
	bpf_map_delete_elem(c->ifstats_fd, &ifindex);
	g_array_remove_index(c->ifaces, idx);
}

/* ---- stats --------------------------------------------------------------------------- */

static void kernel_totals(const struct cap_ebpf *c, uint64_t *acc)
{
	uint32_t key, next;
	bool first = true;

	memcpy(acc, c->retired, sizeof(c->retired));
	while (bpf_map_get_next_key(c->ifstats_fd, first ? NULL : &key, &next) == 0) {
		ifstats_sum(c, next, acc);
		key = next;
		first = false;
	}
}

static void cap_ebpf_stats(const struct capture *base, struct capture_stats *ret_stats)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;
	uint64_t acc[LABELFLOW_TC_CNT_COUNT];

	kernel_totals(c, acc);
	memset(ret_stats, 0, sizeof(*ret_stats));
	ret_stats->received = acc[LABELFLOW_TC_CNT_PACKETS];
	ret_stats->kernel_dropped = acc[LABELFLOW_TC_CNT_RING_FULL];
}

static bool cap_ebpf_iface_stats(const struct capture *base, size_t i, const char **ret_name,
				 struct capture_stats *ret_stats)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;
	uint64_t acc[LABELFLOW_TC_CNT_COUNT] = {0};
	const struct cap_ebpf_iface *ifc;

	if (i >= c->ifaces->len)
		return false;
	ifc = &g_array_index(c->ifaces, struct cap_ebpf_iface, i);
	ifstats_sum(c, ifc->ifindex, acc);
	*ret_name = ifc->name;
	memset(ret_stats, 0, sizeof(*ret_stats));
	ret_stats->received = acc[LABELFLOW_TC_CNT_PACKETS];
	ret_stats->kernel_dropped = acc[LABELFLOW_TC_CNT_RING_FULL];
	return true;
}

size_t cap_ebpf_counter_count(void)
{
	return LABELFLOW_TC_CNT_COUNT + CNT_USER_COUNT;
}

const char *cap_ebpf_counter_name(size_t i)
{
	if (i < LABELFLOW_TC_CNT_COUNT)
		return kernel_names[i];
	if (i < LABELFLOW_TC_CNT_COUNT + CNT_USER_COUNT)
		return user_names[i - LABELFLOW_TC_CNT_COUNT];
	return NULL;
}

int cap_ebpf_get_counters(const struct capture *base, uint64_t *ret_values, size_t n)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;
	uint64_t all[LABELFLOW_TC_CNT_COUNT + CNT_USER_COUNT];

	if (n > G_N_ELEMENTS(all))
		return -EINVAL;
	kernel_totals(c, all);
	memcpy(all + LABELFLOW_TC_CNT_COUNT, c->user, sizeof(c->user));
	memcpy(ret_values, all, n * sizeof(*ret_values));
	return 0;
}

static void cap_ebpf_counters(const struct capture *base, capture_counter_fn fn, void *user)
{
	uint64_t v[LABELFLOW_TC_CNT_COUNT + CNT_USER_COUNT];
	size_t n = cap_ebpf_counter_count();

	if (cap_ebpf_get_counters(base, v, n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		fn(cap_ebpf_counter_name(i), v[i], user);
}

static bool cap_ebpf_sampling_stats(const struct capture *base, struct sampler_stats *ret_stats)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;
	struct sampler_stats ss = {0};
	uint32_t zero = 0;

	if (c->sampling_interval <= 1)
		return false;
	if (bpf_map_lookup_elem(c->sampling_fd, &zero, c->smp_vals) < 0)
		return false;
	for (int cpu = 0; cpu < c->ncpus; cpu++) {
		ss.observed += c->smp_vals[cpu].observed;
		ss.selected += c->smp_vals[cpu].selected;
	}
	*ret_stats = ss;
	return true;
}

/* ---- test hook ----------------------------------------------------------------------- */

int cap_ebpf_test_run(struct capture *base, const void *frame, uint32_t len, uint32_t ifindex,
		      uint8_t direction, uint32_t repeat, uint32_t *ret_retval,
		      uint32_t *ret_duration_ns)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;
	struct __sk_buff ctx;
	const struct bpf_program *prog;
	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (direction > DECODE_DIR_EGRESS || len < 14)
		return -EINVAL;
	prog = direction == DECODE_DIR_EGRESS ? c->skel->progs.lf_tc_egress
					      : c->skel->progs.lf_tc_ingress;
	memset(&ctx, 0, sizeof(ctx));
	ctx.ifindex = ifindex;
	opts.data_in = frame;
	opts.data_size_in = len;
	opts.ctx_in = &ctx;
	opts.ctx_size_in = sizeof(ctx);
	opts.repeat = (int)repeat;
	if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) < 0)
		return -errno;
	if (ret_retval)
		*ret_retval = opts.retval;
	if (ret_duration_ns)
		*ret_duration_ns = opts.duration;
	return 0;
}

void cap_ebpf_test_force_tc(struct capture *base, bool on)
{
	((struct cap_ebpf *)base)->force_tc = on;
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void cap_ebpf_close(struct capture *base)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;

	if (!c)
		return;
	while (c->ifaces && c->ifaces->len)
		cap_ebpf_detach(base, g_array_index(c->ifaces, struct cap_ebpf_iface, 0).ifindex,
				NULL);
	ring_buffer__free(c->rb);
	labelflow_tc__destroy(c->skel);
	if (c->shadow)
		g_hash_table_destroy(c->shadow);
	if (c->ifaces)
		g_array_free(c->ifaces, TRUE);
	if (c->todo)
		g_array_free(c->todo, TRUE);
	free(c->batch_keys);
	free(c->batch_vals);
	free(c->one_vals);
	free(c->if_vals);
	free(c->smp_vals);
	free(c);
}

static const struct capture_ops cap_ebpf_ops = {
	.name = "ebpf",
	.attach = cap_ebpf_attach,
	.detach = cap_ebpf_detach,
	.dispatch = cap_ebpf_dispatch,
	.expire = cap_ebpf_expire,
	.fd = cap_ebpf_fd,
	.stats = cap_ebpf_stats,
	.iface_stats = cap_ebpf_iface_stats,
	.counters = cap_ebpf_counters,
	.sampling_stats = cap_ebpf_sampling_stats,
	.close = cap_ebpf_close,
};

/* Ring sizes must be a power of two and a multiple of the page size. */
static uint32_t ring_size(uint32_t want)
{
	uint32_t page = (uint32_t)sysconf(_SC_PAGESIZE), size = page;

	while (size < want && size < (1u << 30))
		size <<= 1;
	return size;
}

struct capture *cap_ebpf_new(const struct capture_live_config *config)
{
	uint32_t max_flows = LABELFLOW_TC_DEFAULT_MAX_FLOWS;
	uint32_t ring_bytes = LABELFLOW_TC_DEFAULT_RING_BYTES;
	struct cap_ebpf *c;
	int err;

	libbpf_set_print(log_from_libbpf);
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->base.ops = &cap_ebpf_ops;
	snprintf(c->base.name, sizeof(c->base.name), "ebpf");
	c->idle_timeout_ms = CAP_EBPF_DEFAULT_IDLE_MS;
	c->active_timeout_ms = CAP_EBPF_DEFAULT_ACTIVE_MS;
	if (config && config->idle_timeout_ms)
		c->idle_timeout_ms = config->idle_timeout_ms;
	if (config && config->active_timeout_ms)
		c->active_timeout_ms = config->active_timeout_ms;
	if (config && config->max_flows)
		max_flows = config->max_flows;
	if (config && config->ring_bytes)
		ring_bytes = config->ring_bytes;
	if (config && config->tunnel_view > DECODE_VIEW_BOTH) {
		log_error("eBPF capture: unknown tunnel view %u", config->tunnel_view);
		goto fail;
	}
	c->sampling_interval = 1;
	if (config && config->sampling_interval > 1)
		c->sampling_interval = config->sampling_interval;
	if (c->sampling_interval > SAMPLER_MAX_INTERVAL) {
		log_error("eBPF capture: sampling interval %u is not 1..%u", c->sampling_interval,
			  SAMPLER_MAX_INTERVAL);
		goto fail;
	}
	c->biflow = config && config->biflow;
	c->value_size =
		c->biflow ? sizeof(struct labelflow_tc_bivalue) : sizeof(struct labelflow_tc_value);

	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0) {
		log_error("eBPF capture: cannot count possible CPUs: %s", strerror(-c->ncpus));
		goto fail;
	}
	c->batch_cap = CAP_EBPF_BATCH;
	c->batch_keys = calloc(c->batch_cap, sizeof(*c->batch_keys));
	c->batch_vals = calloc((size_t)c->batch_cap * (size_t)c->ncpus, c->value_size);
	c->one_vals = calloc((size_t)c->ncpus, c->value_size);
	c->if_vals = calloc((size_t)c->ncpus, sizeof(*c->if_vals));
	c->smp_vals = calloc((size_t)c->ncpus, sizeof(*c->smp_vals));
	c->shadow = g_hash_table_new_full(shadow_hash, shadow_equal, NULL, g_free);
	c->ifaces = g_array_new(FALSE, TRUE, sizeof(struct cap_ebpf_iface));
	c->todo = g_array_new(FALSE, TRUE, sizeof(struct cap_ebpf_todo));
	if (!c->batch_keys || !c->batch_vals || !c->one_vals || !c->if_vals || !c->smp_vals)
		goto fail;

	c->skel = labelflow_tc__open();
	if (!c->skel) {
		log_error("eBPF capture: cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	if (config)
		c->skel->rodata->tunnel_view = config->tunnel_view;
	c->skel->rodata->sampling_interval = c->sampling_interval;
	c->skel->rodata->biflow = c->biflow;
	/* The map of the other mode is never written: one entry, nothing allocated. */
	err = bpf_map__set_max_entries(c->skel->maps.lf_flows, c->biflow ? 1 : max_flows);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.lf_biflows, c->biflow ? max_flows : 1);
	if (!err)
		err = bpf_map__set_max_entries(c->skel->maps.lf_ring, ring_size(ring_bytes));
	if (err) {
		log_error("eBPF capture: cannot size the maps: %s", strerror(-err));
		goto fail;
	}
	err = labelflow_tc__load(c->skel);
	if (err) {
		log_error("eBPF capture: cannot load the BPF program (needs CAP_BPF and "
			  "CAP_NET_ADMIN): %s",
			  strerror(-err));
		goto fail;
	}
	c->flows_fd = bpf_map__fd(c->biflow ? c->skel->maps.lf_biflows : c->skel->maps.lf_flows);
	c->sampling_fd = bpf_map__fd(c->skel->maps.lf_sampling);
	c->ifstats_fd = bpf_map__fd(c->skel->maps.lf_ifstats);
	/* Slot 0 counts packets of interfaces without an entry of their own. */
	err = ifstats_create(c, 0, 0);
	if (err < 0) {
		log_error("eBPF capture: cannot initialise the counters: %s", strerror(-err));
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.lf_ring), on_event, c, NULL);
	if (!c->rb) {
		log_error("eBPF capture: cannot map the ring buffer: %s", strerror(errno));
		goto fail;
	}
	clock_sync(c);
	log_info("eBPF capture loaded: %" PRIu32 " %s, %" PRIu32 "-byte ring, %d CPUs, "
		 "sampling 1 in %" PRIu32,
		 max_flows, c->biflow ? "biflows" : "flows", ring_size(ring_bytes), c->ncpus,
		 c->sampling_interval);
	return &c->base;
fail:
	cap_ebpf_close(&c->base);
	return NULL;
}
