/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netflow: encodes labelled flow records as NetFlow v9 (RFC 3954, labels as fixed-length
 * zero-padded strings in vendor field types) or NetFlow v5 (IPv4 only, no labels), for
 * collectors that speak nothing newer. Same shape as the ipfix encoder: finished packets
 * go to an emit callback, so the transport is shared. See docs/netflow.md.
 */
#ifndef LABELFLOW_NETFLOW_H
#define LABELFLOW_NETFLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich.h"
#include "flowtab.h"
#include "registry.h"

enum netflow_version {
	NETFLOW_V5 = 5,
	NETFLOW_V9 = 9,
};

/*
 * Default vendor field type base: a label element's v9 field type is base + its
 * elementId in the registry (48001-48017 source, 48101-48117 destination). The high bit
 * keeps it clear of every IANA element; no known vendor claims 48000-48999.
 */
#define NETFLOW_DEFAULT_LABEL_BASE 48000
/* v9 template IDs: IPv4 and IPv6 flows, and the sampling options template. */
#define NETFLOW_V9_TEMPLATE_IPV4     256
#define NETFLOW_V9_TEMPLATE_IPV6     257
#define NETFLOW_V9_TEMPLATE_SAMPLING 258
/* Largest sampling interval a v5 header can carry (its low 14 bits). */
#define NETFLOW_V5_MAX_SAMPLING_INTERVAL 16383

/*
 * One finished export packet, borrowed for the duration of the callback. is_template:
 * a v9 template packet, for the transport to cache and resend (RFC 3954 template refresh;
 * the transport renumbers the datagrams that follow a resent copy). seq_after is the
 * sequence number the next packet will carry (v9: packets, v5: flow records).
 */
typedef int (*netflow_emit_fn)(const uint8_t *msg, size_t len, bool is_template, uint32_t seq_after,
			       void *user);

struct netflow_config {
	enum netflow_version version;
	uint32_t observation_domain; /* v9 Source ID; v5 engine_type = bits 15-8, engine_id 7-0 */
	uint16_t max_msg_bytes;	     /* datagram size limit (udp_max_msg_bytes) */
	/*
	 * N > 1: packets were sampled 1 in N (count-based) before metering; the counts in the
	 * records are the sampled ones. v9 reports N in an options record (SAMPLING_INTERVAL,
	 * scope System) sent with the templates; v5 in the header's sampling field (mode 1,
	 * N at most NETFLOW_V5_MAX_SAMPLING_INTERVAL). 0 or 1: unsampled, nothing reported.
	 */
	uint32_t sampling_interval;
	/* v9 only */
	uint16_t label_base;			/* 32768..65535-max elementId; 0 = default */
	uint16_t label_bytes[ENRICH_DIM_COUNT]; /* fixed field length per dimension; 0 = omit */
};

/* Fill every field with its default (version NETFLOW_V9, max_msg_bytes 1400). */
void netflow_config_defaults(struct netflow_config *config);
/* Default v9 field length of a dimension, in bytes (0: not exported by default). */
uint16_t netflow_default_label_bytes(enum enrich_dim d);

struct netflow_encoder;

/*
 * reg is borrowed and must outlive the encoder: v9 takes the standard fields' numbers
 * from its information model and the labels (which, in which order, their elementIds)
 * from its template for each IP version. now_ms (wall clock) is the exporter's "boot"
 * for sysUptime. Returns NULL (logged) on an invalid configuration, e.g. a v9 record
 * that cannot fit in max_msg_bytes, or a v5 sampling interval above 16383.
 */
struct netflow_encoder *netflow_encoder_new(const struct registry *reg,
					    const struct netflow_config *config,
					    netflow_emit_fn emit, void *user, uint64_t now_ms);
void netflow_encoder_free(struct netflow_encoder *enc);

/*
 * v9: flush pending data, then emit the template packet(s); when sampling, the last one also
 * carries the sampling options template and its one record. v5: nothing. Returns 0 or -errno.
 */
int netflow_encoder_templates(struct netflow_encoder *enc, uint64_t now_ms);
/*
 * Append one record (labels of either end may be NULL; ifname may be NULL, borrowed for
 * the call). Emits a packet when the current one is full. Every record is either encoded
 * or counted in exactly one drop counter below. Returns 0 or -errno.
 */
int netflow_encoder_add(struct netflow_encoder *enc, const struct flow_record *rec,
			const char *ifname, const struct enrich_labels *src,
			const struct enrich_labels *dst, uint64_t now_ms);
/* Emit the pending packet, if any. Returns 0 or -errno. */
int netflow_encoder_flush(struct netflow_encoder *enc);

struct netflow_stats {
	uint64_t records;	    /* flow records encoded (a split v5 record counts once) */
	uint64_t data_msgs;	    /* packets carrying flow records */
	uint64_t template_msgs;	    /* v9 template packets built (the transport resends) */
	uint64_t strings_truncated; /* v9 label/interface strings cut to their field */
	uint64_t v5_ipv6_dropped;   /* IPv6 records: v5 cannot carry them (dropped) */
	uint64_t v5_split_records;  /* extra v5 records for deltas above 2^32-1 */
	uint64_t v5_ifindex_zeroed; /* v5 interfaces above 65535 sent as 0 */
	uint64_t times_clamped;	    /* flows longer than 2^31 ms: first switched moved up */
	uint64_t encode_errors;	    /* records of no IP version (dropped) */
};
const struct netflow_stats *netflow_encoder_get_stats(const struct netflow_encoder *enc);

#endif
