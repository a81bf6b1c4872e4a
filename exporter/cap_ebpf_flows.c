// SPDX-License-Identifier: Apache-2.0
/*
 * cap_ebpf_flows: the eBPF backend's flow export. Expiry reads the kernel map in batches
 * (O(map entries) per call), sums each entry's per-CPU slots (biflow sides merged, the
 * earliest first packet naming the initiator), and removes ended flows with
 * lookup-and-delete; a shadow table keeps what active-timeout reports already carried, so
 * the next record holds the delta. See docs/ebpf.md.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cap_ebpf_flows.h"

#define CAP_EBPF_BATCH	     128 /* flow entries read per batch syscall */
#define CAP_EBPF_TCP_FIN     0x01
#define CAP_EBPF_TCP_SYN     0x02
#define CAP_EBPF_TCP_RST     0x04
#define CAP_EBPF_TCP_ACK     0x10
#define CAP_EBPF_TCP_FIN_RST (CAP_EBPF_TCP_FIN | CAP_EBPF_TCP_RST)

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
	rec.start_ms = sh ? sh->start_ms : cap_ebpf_wall_ms(c, s->first_ns);
	rec.end_ms = cap_ebpf_wall_ms(c, s->last_ns);
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
			rec.rev_start_ms = cap_ebpf_wall_ms(c, rev->first_ns);
			rec.rev_end_ms = cap_ebpf_wall_ms(c, rev->last_ns);
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
	c->user[CAP_EBPF_CNT_RECORDS]++;
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
				cap_ebpf_map_error(c, "delete", -errno);
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
			cap_ebpf_map_error(c, "batch read", err);
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
	report_ms = sh ? sh->report_ms : cap_ebpf_wall_ms(c, s.first_ns);
	if (arg->flush)
		reason = FLOWTAB_END_FORCED;
	else if (cap_ebpf_wall_ms(c, s.last_ns) + c->idle_timeout_ms <= arg->now_ms)
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
			sh->start_ms = cap_ebpf_wall_ms(c, s.first_ns);
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
			cap_ebpf_map_error(c, "batch flush", err);
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

void cap_ebpf_flows_expire(struct cap_ebpf *c, uint64_t now_ms, bool flush,
			   const struct capture_sink *sink)
{
	struct expire_arg arg = {.now_ms = now_ms, .flush = flush, .sink = sink};

	if (flush) {
		flush_all(c, sink);
		return;
	}
	for_each_flow(c, expire_visit, &arg);
	finish_todo(c, sink);
}

/* ---- interface removal --------------------------------------------------------------- */

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

void cap_ebpf_flows_end_iface(struct cap_ebpf *c, uint32_t ifindex, const struct capture_sink *sink)
{
	struct detach_arg arg = {.ifindex = ifindex};

	for_each_flow(c, detach_visit, &arg);
	finish_todo(c, sink);
}

/* ---- lifetime ------------------------------------------------------------------------ */

int cap_ebpf_flows_init(struct cap_ebpf *c)
{
	c->batch_cap = CAP_EBPF_BATCH;
	c->batch_keys = calloc(c->batch_cap, sizeof(*c->batch_keys));
	c->batch_vals = calloc((size_t)c->batch_cap * (size_t)c->ncpus, c->value_size);
	c->one_vals = calloc((size_t)c->ncpus, c->value_size);
	c->shadow = g_hash_table_new_full(shadow_hash, shadow_equal, NULL, g_free);
	c->todo = g_array_new(FALSE, TRUE, sizeof(struct cap_ebpf_todo));
	if (!c->batch_keys || !c->batch_vals || !c->one_vals)
		return -ENOMEM;
	return 0;
}

void cap_ebpf_flows_done(struct cap_ebpf *c)
{
	if (c->shadow)
		g_hash_table_destroy(c->shadow);
	c->shadow = NULL;
	if (c->todo)
		g_array_free(c->todo, TRUE);
	c->todo = NULL;
	free(c->batch_keys);
	c->batch_keys = NULL;
	free(c->batch_vals);
	c->batch_vals = NULL;
	free(c->one_vals);
	c->one_vals = NULL;
}
