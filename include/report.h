/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report: the daemon's counters as stable key=value lines (capture, decode, flow, export,
 * sampling, targets, metadata sources), written to a file or to the log.
 */
#ifndef LABELFLOW_REPORT_H
#define LABELFLOW_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "capture.h"

struct cloudmeta;
struct decoder;
struct exporter;
struct flowtab;
struct follow;
struct inventory;
struct k8s;
struct libvirt;
struct sampler;
struct select;

/* One interface's capture counters, kept after the interface was detached. */
struct report_iface {
	char name[64];
	struct capture_stats stats;
};

/*
 * What a report reads. Every pointer is borrowed for the call; NULL means the stage or
 * source is absent (and its lines are left out), except decoder, flowtab and exporter.
 */
struct report_src {
	const struct capture *cap;
	const struct follow *follow; /* live runs */
	const struct decoder *decoder;
	const struct flowtab *flowtab;
	const struct exporter *exporter;
	const struct select *select;
	const struct sampler *sampler;
	const struct inventory *inventory;
	struct k8s *k8s;
	const struct libvirt *libvirt;
	const struct cloudmeta *cloud;
	uint64_t attaches; /* interfaces attached and detached so far */
	uint64_t detaches;
	/* After the final detach: the counts and per-interface counters from just before it. */
	bool stopped;
	size_t attached_at_stop;
	uint64_t detaches_at_stop;
	const struct report_iface *final_ifaces; /* n_final_ifaces of them */
	size_t n_final_ifaces;
	bool k8s_synced;	       /* the Kubernetes source's first full sync was seen */
	uint64_t k8s_unsynced_records; /* records exported before it */
};

/* Write the counters as key=value lines to out, or as info log lines when out is NULL. */
void report_write(const struct report_src *src, FILE *out);

#endif
