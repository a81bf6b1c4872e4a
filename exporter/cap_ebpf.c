// SPDX-License-Identifier: Apache-2.0
/*
 * cap_ebpf: the user half of the eBPF capture (kernel half: bpf/labelflow_tc.bpf.c). It
 * loads the program through the generated skeleton and implements capture_ops over two
 * parts: cap_ebpf_attach.c (TCX links or clsact filters per interface) and
 * cap_ebpf_flows.c (kernel flow entries into flow records on expire). Here: the ring of
 * packets that found the flow map full, the counters, the test hooks. See docs/ebpf.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "cap_ebpf_attach.h"
#include "cap_ebpf_flows.h"
#include "cap_ebpf_priv.h"
#include "log.h"

#define CAP_EBPF_DEFAULT_IDLE_MS   15000
#define CAP_EBPF_DEFAULT_ACTIVE_MS 60000

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

static const char *const user_names[CAP_EBPF_CNT_USER_COUNT] = {
	[CAP_EBPF_CNT_RING_DELIVERED] = "ring_delivered",
	[CAP_EBPF_CNT_RING_DISCARDED] = "ring_discarded",
	[CAP_EBPF_CNT_RING_BAD_EVENTS] = "ring_bad_events",
	[CAP_EBPF_CNT_RECORDS] = "records_exported",
	[CAP_EBPF_CNT_ATTACH_FAILURES] = "attach_failures",
	[CAP_EBPF_CNT_TCX_ATTACHED] = "tcx_attached",
	[CAP_EBPF_CNT_TC_ATTACHED] = "tc_attached",
	[CAP_EBPF_CNT_STALE_REMOVED] = "stale_filters_removed",
	[CAP_EBPF_CNT_MAP_ERRORS] = "map_errors",
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

void cap_ebpf_libbpf_quiet(bool on)
{
	quiet_probes += on ? 1 : -1;
}

/* ---- shared helpers ------------------------------------------------------------------ */

void cap_ebpf_clock_sync(struct cap_ebpf *c)
{
	struct timespec rt, mono;

	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &rt);
	c->mono_to_wall_ns = ((int64_t)rt.tv_sec - (int64_t)mono.tv_sec) * 1000000000LL +
			     ((int64_t)rt.tv_nsec - (int64_t)mono.tv_nsec);
}

/* Only the first is logged: a failing map fails again every second. */
void cap_ebpf_map_error(struct cap_ebpf *c, const char *what, int err)
{
	c->user[CAP_EBPF_CNT_MAP_ERRORS]++;
	if (c->error_logged)
		return;
	c->error_logged = true;
	log_error("eBPF capture: %s failed: %s (further failures only counted in map_errors)", what,
		  strerror(-err));
}

/* ---- flows (cap_ebpf_flows.c) -------------------------------------------------------- */

static void cap_ebpf_expire(struct capture *base, uint64_t now_ms, bool flush,
			    const struct capture_sink *sink)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;

	cap_ebpf_clock_sync(c);
	cap_ebpf_flows_expire(c, now_ms, flush, sink);
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
		c->user[CAP_EBPF_CNT_RING_BAD_EVENTS]++;
		return 0;
	}
	if (!c->rb_sink || !c->rb_sink->packet) {
		c->user[CAP_EBPF_CNT_RING_DISCARDED]++;
		return 0;
	}
	memset(&pkt, 0, sizeof(pkt));
	memcpy(&pkt.key, &ev->key, sizeof(pkt.key));
	pkt.ts_ms = cap_ebpf_wall_ms(c, ev->ts_ns);
	pkt.octets = ev->octets;
	pkt.inner_vlan_id = ev->inner_vlan_id;
	pkt.tcp_flags = ev->tcp_flags;
	pkt.tos = ev->tos;
	pkt.fragment = ev->fragment != 0;
	pkt.outer_ip_version = ev->outer_ip_version;
	memcpy(pkt.outer_src_addr, ev->outer_src_addr, sizeof(pkt.outer_src_addr));
	memcpy(pkt.outer_dst_addr, ev->outer_dst_addr, sizeof(pkt.outer_dst_addr));
	c->user[CAP_EBPF_CNT_RING_DELIVERED]++;
	c->rb_sink->packet(&pkt, c->rb_sink->user);
	/* A negative return stops the consume loop after this record (the budget). */
	if (++c->rb_count >= c->rb_budget && c->rb_budget > 0)
		return -ECANCELED;
	return 0;
}

static int drain_ring(struct cap_ebpf *c, int max_items, const struct capture_sink *sink)
{
	int rc;

	cap_ebpf_clock_sync(c);
	c->rb_sink = sink;
	c->rb_budget = max_items;
	c->rb_count = 0;
	rc = ring_buffer__consume(c->rb);
	c->rb_sink = NULL;
	if (rc < 0 && rc != -ECANCELED) {
		cap_ebpf_map_error(c, "ring buffer read", rc);
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

/* ---- attach / detach (cap_ebpf_attach.c) --------------------------------------------- */

static int cap_ebpf_attach(struct capture *base, const char *ifname, uint32_t ifindex)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;
	const int prog_fd[2] = {bpf_program__fd(c->skel->progs.lf_tc_ingress),
				bpf_program__fd(c->skel->progs.lf_tc_egress)};

	return cap_ebpf_attach_iface(c, ifname, ifindex, prog_fd);
}

static void cap_ebpf_detach(struct capture *base, uint32_t ifindex, const struct capture_sink *sink)
{
	struct cap_ebpf *c = (struct cap_ebpf *)base;
	struct cap_ebpf_iface *ifc;
	guint idx;

	ifc = cap_ebpf_attach_find(c, ifindex, &idx);
	if (!ifc)
		return;
	cap_ebpf_attach_unhook(ifc);
	/* Packets already in the ring first, then the flows still in the kernel map. */
	drain_ring(c, 0, sink);
	cap_ebpf_clock_sync(c);
	cap_ebpf_flows_end_iface(c, ifindex, sink);
	cap_ebpf_attach_ifstats_sum(c, ifindex, c->retired);
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
		cap_ebpf_attach_ifstats_sum(c, next, acc);
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
	cap_ebpf_attach_ifstats_sum(c, ifc->ifindex, acc);
	*ret_name = ifc->name;
	memset(ret_stats, 0, sizeof(*ret_stats));
	ret_stats->received = acc[LABELFLOW_TC_CNT_PACKETS];
	ret_stats->kernel_dropped = acc[LABELFLOW_TC_CNT_RING_FULL];
	return true;
}

size_t cap_ebpf_counter_count(void)
{
	return LABELFLOW_TC_CNT_COUNT + CAP_EBPF_CNT_USER_COUNT;
}

const char *cap_ebpf_counter_name(size_t i)
{
	if (i < LABELFLOW_TC_CNT_COUNT)
		return kernel_names[i];
	if (i < LABELFLOW_TC_CNT_COUNT + CAP_EBPF_CNT_USER_COUNT)
		return user_names[i - LABELFLOW_TC_CNT_COUNT];
	return NULL;
}

int cap_ebpf_get_counters(const struct capture *base, uint64_t *ret_values, size_t n)
{
	const struct cap_ebpf *c = (const struct cap_ebpf *)base;
	uint64_t all[LABELFLOW_TC_CNT_COUNT + CAP_EBPF_CNT_USER_COUNT];

	if (n > G_N_ELEMENTS(all))
		return -EINVAL;
	kernel_totals(c, all);
	memcpy(all + LABELFLOW_TC_CNT_COUNT, c->user, sizeof(c->user));
	memcpy(ret_values, all, n * sizeof(*ret_values));
	return 0;
}

static void cap_ebpf_counters(const struct capture *base, capture_counter_fn fn, void *user)
{
	uint64_t v[LABELFLOW_TC_CNT_COUNT + CAP_EBPF_CNT_USER_COUNT];
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
	cap_ebpf_flows_done(c);
	if (c->ifaces)
		g_array_free(c->ifaces, TRUE);
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
	c->if_vals = calloc((size_t)c->ncpus, sizeof(*c->if_vals));
	c->smp_vals = calloc((size_t)c->ncpus, sizeof(*c->smp_vals));
	c->ifaces = g_array_new(FALSE, TRUE, sizeof(struct cap_ebpf_iface));
	if (cap_ebpf_flows_init(c) < 0 || !c->if_vals || !c->smp_vals)
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
	err = cap_ebpf_attach_ifstats_add(c, 0, 0);
	if (err < 0) {
		log_error("eBPF capture: cannot initialise the counters: %s", strerror(-err));
		goto fail;
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.lf_ring), on_event, c, NULL);
	if (!c->rb) {
		log_error("eBPF capture: cannot map the ring buffer: %s", strerror(errno));
		goto fail;
	}
	cap_ebpf_clock_sync(c);
	log_info("eBPF capture loaded: %" PRIu32 " %s, %" PRIu32 "-byte ring, %d CPUs, "
		 "sampling 1 in %" PRIu32,
		 max_flows, c->biflow ? "biflows" : "flows", ring_size(ring_bytes), c->ncpus,
		 c->sampling_interval);
	return &c->base;
fail:
	cap_ebpf_close(&c->base);
	return NULL;
}
