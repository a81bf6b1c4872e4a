/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cap_ebpf: the eBPF capture backend. A TC program at ingress and egress of every followed
 * interface meters flows in a kernel map; this module exports them (expire) and meters in
 * user space only the packets that found the map full (dispatch, through a ring buffer).
 * Loading needs CAP_BPF + CAP_NET_ADMIN (root); see docs/ebpf.md for the design and costs.
 */
#ifndef LABELFLOW_CAP_EBPF_H
#define LABELFLOW_CAP_EBPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"

/*
 * Open and load the BPF object (the kernel verifies it here) with config's max_flows,
 * ring_bytes, tunnel_view, flow timeouts, sampling_interval and biflow (0 = defaults:
 * 65536 flows, 1 MiB ring, inner view, 15 s idle, 60 s active, every packet, uniflows).
 * Nothing is attached yet: call ops->attach per interface. Routes libbpf's messages into
 * log.h. Returns NULL (logged) on failure, including a sampling interval above
 * SAMPLER_MAX_INTERVAL.
 *
 * The ops, beyond capture.h: attach creates two TCX links (clsact filters at handle and
 * priority 0x4c46 on kernels without TCX) after removing filters a dead labelflowd left
 * there; expire reads the whole kernel map, O(map entries) per call, plus one syscall per
 * ended flow; dispatch hands packets that found the map full to sink->packet (max_items
 * <= 0: all waiting); fd is the ring buffer's epoll fd; counters emits the
 * cap_ebpf_get_counters() values by name; sampling_stats sums the kernel sampler's
 * per-CPU counts (false when not sampling). With biflow, expire hands sink->flow RFC 5103
 * records (initiator = the side whose first packet is the earliest over all CPUs), and the
 * ring's packets carry their own (non-canonical) keys. Not thread-safe: one thread.
 */
struct capture *cap_ebpf_new(const struct capture_live_config *config);

/*
 * Counters: the kernel program's (summed over CPUs and over every interface ever attached)
 * followed by this module's own. Names are stable snake_case, for the stats output.
 */
size_t cap_ebpf_counter_count(void);
const char *cap_ebpf_counter_name(size_t i); /* NULL past the last */
/* Fill ret_values[0..n-1] (n <= cap_ebpf_counter_count()). Returns 0 or -errno. */
int cap_ebpf_get_counters(const struct capture *c, uint64_t *ret_values, size_t n);

/*
 * Tests and benchmarks: run the program of one direction (enum decode_direction) on
 * frame[0..len-1] with bpf_prog_test_run_opts, repeat times (0 = once), as if seen on
 * interface ifindex (0 = the loopback device, key.ifindex 1; otherwise an existing
 * interface of the caller's network namespace). The frame is an Ethernet frame; the kernel
 * refuses (-EINVAL) frames under 14 bytes and untagged IPv4/IPv6 frames shorter than the
 * fixed IP header. Packets are metered like live ones: flow map, ring or a counter.
 * *ret_retval gets the program's verdict (TC_ACT_UNSPEC, i.e. 0xffffffff), *ret_duration_ns
 * the kernel's mean run time (both may be NULL). Returns 0 or -errno.
 */
int cap_ebpf_test_run(struct capture *c, const void *frame, uint32_t len, uint32_t ifindex,
		      uint8_t direction, uint32_t repeat, uint32_t *ret_retval,
		      uint32_t *ret_duration_ns);

/*
 * Tests: attach later interfaces with clsact filters even where TCX works (the fallback
 * path for kernels before 6.6).
 */
void cap_ebpf_test_force_tc(struct capture *c, bool on);

/* Tests: flow entries currently in the kernel map (O(entries)). Returns >= 0 or -errno. */
int cap_ebpf_map_entries(const struct capture *c);

#endif
