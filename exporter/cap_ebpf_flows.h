/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cap_ebpf_flows: turns the kernel flow map into flow records: batch reads, expiry, deltas
 * after active-timeout reports, and the merge of per-CPU values (biflow sides included).
 * Part of the eBPF capture backend (cap_ebpf_priv.h); other modules use cap_ebpf.h.
 */
#ifndef LABELFLOW_CAP_EBPF_FLOWS_H
#define LABELFLOW_CAP_EBPF_FLOWS_H

#include <stdbool.h>
#include <stdint.h>

#include "cap_ebpf_priv.h"

/*
 * Allocate this part's state in c (shadow table, scan list, batch buffers; needs c->ncpus
 * and c->value_size). Returns 0 or -ENOMEM; cap_ebpf_flows_done() undoes a partial init.
 */
int cap_ebpf_flows_init(struct cap_ebpf *c);
/* Free what cap_ebpf_flows_init() allocated; safe on a zeroed or half-built c. */
void cap_ebpf_flows_done(struct cap_ebpf *c);

/*
 * Hand sink->flow (sink may be NULL) the records of flows that ended by now_ms (idle,
 * TCP end, active timeout; the latter stay in the map and report deltas next time), or
 * of every flow with flush, which empties the map. O(map entries) per call, plus one
 * syscall per ended flow. Call cap_ebpf_clock_sync() first. Failures are counted.
 */
void cap_ebpf_flows_expire(struct cap_ebpf *c, uint64_t now_ms, bool flush,
			   const struct capture_sink *sink);
/* Remove interface ifindex's flows from the map and hand their records to sink (forced end). */
void cap_ebpf_flows_end_iface(struct cap_ebpf *c, uint32_t ifindex,
			      const struct capture_sink *sink);

#endif
