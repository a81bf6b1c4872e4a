/* SPDX-License-Identifier: Apache-2.0 */
/*
 * capture: the one interface every capture backend implements (struct capture_ops). A
 * live capture is one object that follows many interfaces (attach/detach by ifindex);
 * it hands data downstream through a struct capture_sink: raw frames (pcap), decoded
 * packets, or flows already aggregated in the kernel (eBPF). Data handed to a sink is
 * borrowed and lives only during the call. Only backend modules include their libraries.
 */
#ifndef LABELFLOW_CAPTURE_H
#define LABELFLOW_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "flowtab.h"
#include "sampler.h"

/* Direction of a captured frame, when the backend knows it. */
#define CAPTURE_DIR_UNKNOWN 0xff

/* One captured frame. Borrowed: valid only during the callback. */
struct capture_frame {
	const uint8_t *data;
	uint32_t caplen;
	uint32_t wirelen;
	uint64_t ts_ms;
	int linktype;	   /* enum decode_linktype value */
	uint32_t ifindex;  /* interface index; 0 for offline files */
	uint8_t direction; /* enum decode_direction, or CAPTURE_DIR_UNKNOWN (then ingress) */
};

/*
 * Where a backend delivers. Each callback may be NULL only if the backend never uses it.
 * frame:  a raw frame, to be decoded and metered (pcap backend);
 * packet: a packet the backend decoded itself, to be metered (eBPF map-full fallback);
 * flow:   a flow record the backend metered itself (eBPF kernel map), ready for export.
 */
struct capture_sink {
	void (*frame)(const struct capture_frame *frame, void *user);
	void (*packet)(const struct decode_pkt *pkt, void *user);
	void (*flow)(const struct flow_record *rec, void *user);
	void *user; /* borrowed; passed to every callback */
};

struct capture_stats {
	uint64_t received;	 /* frames/packets seen by the backend */
	uint64_t kernel_dropped; /* dropped by the kernel before we saw them (ps_drop) */
	uint64_t ifdropped;	 /* dropped by the interface/driver (ps_ifdrop) */
};

/* What a live capture is opened with. 0/NULL fields mean defaults. */
struct capture_live_config {
	uint32_t snaplen;	/* bytes kept per frame (default 256: headers, incl. tunnels) */
	uint32_t buffer_bytes;	/* kernel ring size per interface (default 4 MiB) */
	bool promiscuous;	/* default off: a pod's own traffic needs no promiscuous mode */
	const char *bpf_filter; /* borrowed; NULL or "" = everything */
	/* Flow timeouts, for backends that meter in the kernel (eBPF). */
	uint32_t idle_timeout_ms;
	uint32_t active_timeout_ms;
	uint32_t max_flows;  /* kernel flow map entries (eBPF; default 65536) */
	uint32_t ring_bytes; /* map-full fallback ring buffer (eBPF; default 1 MiB) */
	uint8_t tunnel_view; /* enum decode_tunnel_view, for backends that decode */
	/*
	 * For backends that meter flows themselves (eBPF): 1-in-N packet sampling before
	 * metering (0 or 1: every packet), and RFC 5103 biflows (flowtab_config.biflow).
	 * Backends with a NULL sampling_stats op ignore sampling_interval: main samples the
	 * frames they hand over.
	 */
	uint32_t sampling_interval;
	bool biflow;
};

/* One named backend counter for capture_ops.counters; name borrowed for the call. */
typedef void (*capture_counter_fn)(const char *name, uint64_t value, void *user);

struct capture;

struct capture_ops {
	const char *name; /* "pcap", "ebpf" */
	/*
	 * Start capturing on an interface (live backends). Returns 0, -EEXIST if already
	 * attached, or -errno (logged by the backend). May be NULL for offline captures.
	 */
	int (*attach)(struct capture *c, const char *ifname, uint32_t ifindex);
	/*
	 * Stop capturing on an interface (it was removed or no longer matches). Data still
	 * buffered for it is delivered to sink first; flows the backend meters itself are
	 * handed to sink->flow with FLOWTAB_END_FORCED. sink may be NULL at teardown.
	 */
	void (*detach)(struct capture *c, uint32_t ifindex, const struct capture_sink *sink);
	/*
	 * Hand up to max_items available frames/packets to sink without blocking. Returns
	 * the number handed over (0 = nothing now), -ENODATA at the end of an offline file,
	 * -errno on an error (logged by the backend).
	 */
	int (*dispatch)(struct capture *c, int max_items, const struct capture_sink *sink);
	/*
	 * Backends that meter flows themselves: export flows idle or active past their
	 * timeouts at now_ms to sink->flow; with flush, export every flow (FORCED). NULL for
	 * backends that hand frames or packets only.
	 */
	void (*expire)(struct capture *c, uint64_t now_ms, bool flush,
		       const struct capture_sink *sink);
	/* A file descriptor that becomes readable when data waits, or -1 (offline). */
	int (*fd)(const struct capture *c);
	/* Totals over every interface ever attached. */
	void (*stats)(const struct capture *c, struct capture_stats *ret_stats);
	/*
	 * Per-interface counters, i from 0: returns false past the last interface. Names
	 * are borrowed until the next attach/detach.
	 */
	bool (*iface_stats)(const struct capture *c, size_t i, const char **ret_name,
			    struct capture_stats *ret_stats);
	/*
	 * The backend's own counters beyond stats, one emit call per counter (stable
	 * snake_case names, totals since open). NULL: none.
	 */
	void (*counters)(const struct capture *c, capture_counter_fn emit, void *user);
	/*
	 * Backends that sample packets themselves (capture_live_config.sampling_interval):
	 * the selector's counts, to report instead of main's sampler. Returns false when
	 * this capture does not sample. NULL: the backend never samples.
	 */
	bool (*sampling_stats)(const struct capture *c, struct sampler_stats *ret_stats);
	void (*close)(struct capture *c);
};

/* Every backend's handle starts with this, so generic code can reach ops and names. */
struct capture {
	const struct capture_ops *ops;
	char name[64]; /* backend or file name, for messages */
};

static inline int capture_dispatch(struct capture *c, int max_items,
				   const struct capture_sink *sink)
{
	return c->ops->dispatch(c, max_items, sink);
}

static inline void capture_close(struct capture *c)
{
	if (c)
		c->ops->close(c);
}

#endif
