/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cap_ebpf_attach: attaches the eBPF backend's programs to interfaces (TCX links, or clsact
 * filters after removing stale ones) and detaches them, and keeps each interface's entry in
 * the kernel counter map. Part of the eBPF capture backend; other modules use cap_ebpf.h.
 */
#ifndef LABELFLOW_CAP_EBPF_ATTACH_H
#define LABELFLOW_CAP_EBPF_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "cap_ebpf_priv.h"

/*
 * Attach prog_fd[0] (ingress) and prog_fd[1] (egress) to interface ifname/ifindex and add
 * it to c->ifaces: TCX links, or clsact filters at handle and priority 0x4c46 where TCX is
 * missing (or c->force_tc), after removing filters a dead labelflowd left there. Creates
 * the interface's counter entry. Returns 0, -EEXIST (already attached), -EINVAL or -errno
 * (logged and counted in attach_failures).
 */
int cap_ebpf_attach_iface(struct cap_ebpf *c, const char *ifname, uint32_t ifindex,
			  const int prog_fd[2]);
/* Close ifc's links and remove its filters (the interface may be gone). Idempotent. */
void cap_ebpf_attach_unhook(struct cap_ebpf_iface *ifc);
/* The entry of ifindex in c->ifaces (its index in *ret_i, may be NULL), or NULL. O(ifaces). */
struct cap_ebpf_iface *cap_ebpf_attach_find(const struct cap_ebpf *c, uint32_t ifindex,
					    guint *ret_i);

/* Create (or reset) ifindex's per-CPU counter entry with flags. Returns 0 or -errno. */
int cap_ebpf_attach_ifstats_add(struct cap_ebpf *c, uint32_t ifindex, uint32_t flags);
/* Add ifindex's per-CPU counters to acc[LABELFLOW_TC_CNT_COUNT]; false if it has no entry. */
bool cap_ebpf_attach_ifstats_sum(const struct cap_ebpf *c, uint32_t ifindex, uint64_t *acc);

#endif
