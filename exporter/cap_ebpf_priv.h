/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cap_ebpf_priv: the eBPF capture backend's state and the helpers its parts share (clock,
 * error counting, libbpf log level). Internal to cap_ebpf*.c; other modules use cap_ebpf.h.
 */
#ifndef LABELFLOW_CAP_EBPF_PRIV_H
#define LABELFLOW_CAP_EBPF_PRIV_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>
#include <linux/types.h>

#include "bpf/labelflow_tc.h"
#include "capture.h"

struct labelflow_tc; /* the generated skeleton: only cap_ebpf.c includes it */
struct ring_buffer;

/* The backend's own counters, after the kernel's in cap_ebpf_get_counters(). */
enum {
	CAP_EBPF_CNT_RING_DELIVERED = 0, /* ring events handed to sink->packet */
	CAP_EBPF_CNT_RING_DISCARDED,	 /* ring events consumed with no sink (teardown) */
	CAP_EBPF_CNT_RING_BAD_EVENTS,	 /* ring records of the wrong size */
	CAP_EBPF_CNT_RECORDS,		 /* flow records handed to sink->flow */
	CAP_EBPF_CNT_ATTACH_FAILURES,	 /* interfaces that could not be attached */
	CAP_EBPF_CNT_TCX_ATTACHED,	 /* interfaces attached with TCX links */
	CAP_EBPF_CNT_TC_ATTACHED,	 /* interfaces attached with clsact filters */
	CAP_EBPF_CNT_STALE_REMOVED,	 /* stale labelflowd clsact filters removed */
	CAP_EBPF_CNT_MAP_ERRORS,	 /* failed flow map reads/deletes, ring reads */
	CAP_EBPF_CNT_USER_COUNT,
};

/* One followed interface. */
struct cap_ebpf_iface {
	uint32_t ifindex;
	char name[IF_NAMESIZE];
	int link_fd[2];	 /* owned: TCX links (ingress, egress), -1 when none */
	bool tc_hook[2]; /* our clsact filter is attached at ingress / egress */
};

/*
 * The backend's state, shared by its parts. cap_ebpf.c (load, ops, ring, counters)
 * allocates and frees it; cap_ebpf_attach.c fills ifaces; cap_ebpf_flows.c allocates and
 * uses shadow, todo and the batch buffers. One thread.
 */
struct cap_ebpf {
	struct capture base;	   /* must stay first */
	struct labelflow_tc *skel; /* owned */
	struct ring_buffer *rb;	   /* owned */
	GHashTable *shadow;	   /* owned: struct flow_key * -> struct cap_ebpf_shadow * */
	GArray *ifaces;		   /* owned: struct cap_ebpf_iface */
	GArray *todo; /* owned: struct cap_ebpf_todo (cap_ebpf_flows.c), reused by every scan */
	int ncpus;    /* possible CPUs: per-CPU values come in this many slots */
	int flows_fd; /* lf_flows, or lf_biflows in biflow mode */
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
	/* Batch read buffers: batch_cap keys and their per-CPU values. Owned. */
	struct labelflow_tc_key *batch_keys;
	uint8_t *batch_vals; /* batch_cap * ncpus slots of value_size bytes */
	uint32_t batch_cap;
	uint8_t *one_vals;			  /* owned: ncpus slots for single lookups */
	struct labelflow_tc_ifstats *if_vals;	  /* owned: ncpus slots */
	struct labelflow_tc_sampling *smp_vals;	  /* owned: ncpus slots */
	uint64_t retired[LABELFLOW_TC_CNT_COUNT]; /* counters of detached interfaces */
	uint64_t user[CAP_EBPF_CNT_USER_COUNT];
	/* Set for the duration of one ring consume. */
	const struct capture_sink *rb_sink; /* borrowed */
	int rb_budget;
	int rb_count;
};

/* CLOCK_REALTIME - CLOCK_MONOTONIC into c->mono_to_wall_ns: once per call that converts. */
void cap_ebpf_clock_sync(struct cap_ebpf *c);

/* A kernel timestamp (CLOCK_MONOTONIC ns) as wall-clock ms, with the last cap_ebpf_clock_sync. */
static inline uint64_t cap_ebpf_wall_ms(const struct cap_ebpf *c, uint64_t mono_ns)
{
	int64_t ns = (int64_t)mono_ns + c->mono_to_wall_ns;

	return ns > 0 ? (uint64_t)ns / 1000000u : 0;
}

/* Count a failed map or ring operation (err: -errno); logs only the first of the run. */
void cap_ebpf_map_error(struct cap_ebpf *c, const char *what, int err);

/* Probing (tc queries that may find nothing): on demotes libbpf's warnings to debug. Nests. */
void cap_ebpf_libbpf_quiet(bool on);

#endif
