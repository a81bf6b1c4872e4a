/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export: the last stage. Receives every flow record leaving the flow table, labels
 * both ends once from the current enrich snapshot, and hands the record to every
 * collector (an IPFIX or NetFlow encoder plus a transport each). Collectors are
 * independent: one that is slow or down only fills its own bounded queue.
 */
#ifndef LABELFLOW_EXPORT_H
#define LABELFLOW_EXPORT_H

#include <stdint.h>

#include "enrich.h"
#include "flowtab.h"
#include "ipfix.h"
#include "netflow.h"
#include "registry.h"
#include "select.h"
#include "transport.h"

struct export_config {
	struct ipfix_config ipfix; /* max_msg_bytes is per transport kind, see below */
	/*
	 * netflow9:/netflow5: targets. Set with netflow_config_defaults() first (version 0:
	 * export_new applies them); version, observation_domain (ipfix's) and max_msg_bytes
	 * (udp_max_msg_bytes) are filled per target. v9 template refresh: transport's.
	 */
	struct netflow_config netflow;
	struct transport_config transport;
	uint16_t udp_max_msg_bytes;    /* default 1400: within a 1500-byte path MTU */
	uint16_t stream_max_msg_bytes; /* file/TCP: default 65535 */
};

struct exporter;

/* reg and e are borrowed and must outlive the exporter. */
struct exporter *export_new(const struct registry *reg, struct enrich *e,
			    const struct export_config *config);
/*
 * Flush every encoder and give the collectors at most linger_ms (in all) to take their
 * queues. Blocks. Counters read afterwards show what was finally delivered.
 */
void export_drain(struct exporter *x, uint32_t linger_ms);
/* Flushes encoders, then frees transports (waiting up to linger_ms for TCP queues). */
void export_free(struct exporter *x, uint32_t linger_ms);

/* Add a collector. Returns 0 or -errno (logged). */
int export_add_target(struct exporter *x, const struct transport_spec *spec, uint64_t now_ms);
size_t export_n_targets(const struct exporter *x);

/* The flowtab_export_fn: user must be the struct exporter. */
void export_flow(const struct flow_record *rec, void *user);
/*
 * Name the interface with this index (interfaceName of its records); NULL forgets it.
 * The name is copied. Call before the interface's first flow and forget it only after
 * its flows were flushed. Returns 0 or -ENOMEM.
 */
int export_set_interface(struct exporter *x, uint32_t ifindex, const char *name);
/*
 * Called for every record after it was labelled, before it is encoded (e.g. the libvirt
 * source learns VM addresses from flows on VM interfaces). NULL clears it.
 */
typedef void (*export_observe_fn)(const struct flow_record *rec, const char *ifname, void *user);
void export_set_observer(struct exporter *x, export_observe_fn fn, void *user);
/*
 * Export only the records sel selects (after labelling and the observer; the rest are
 * counted in sel's stats). sel is borrowed and must outlive the exporter; NULL: all.
 */
void export_set_select(struct exporter *x, struct select *sel);
/* Once a second (and at end of input): pick up a new snapshot, flush messages, drive transports. */
void export_tick(struct exporter *x, uint64_t now_ms);

struct export_stats {
	uint64_t records;      /* flow records received from the flow table */
	uint64_t packets;      /* sum of their packetDeltaCount */
	uint64_t octets;       /* sum of their octetDeltaCount */
	uint64_t rev_packets;  /* sum of their reversePacketDeltaCount (biflows) */
	uint64_t rev_octets;   /* sum of their reverseOctetDeltaCount (biflows) */
	uint64_t labelled_src; /* records whose source matched any metadata */
	uint64_t labelled_dst;
};
const struct export_stats *export_get_stats(const struct exporter *x);
/* Per-collector counters, for the periodic report. i < export_n_targets(). */
const struct transport_stats *export_target_stats(const struct exporter *x, size_t i,
						  const char **ret_name);
/* The NetFlow encoder's counters of target i, or NULL for an IPFIX target. */
const struct netflow_stats *export_target_netflow_stats(const struct exporter *x, size_t i);

#endif
