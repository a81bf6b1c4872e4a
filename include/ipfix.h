/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ipfix: encodes labelled flow records into IPFIX messages with libfixbuf, one encoder
 * per collector (its own session, sequence numbers and message size). libfixbuf writes
 * into a buffer in manual mode; every finished message goes to the emit callback, so the
 * transport (file, UDP, TCP, ...) is ours. Also writes RFC 5610 element type records and,
 * for sampled input, the sampling reports with the templates: the PSAMP selector report
 * (RFC 5476/5477) and the interval per observation domain, one options record per
 * sampling template of the registry.
 */
#ifndef LABELFLOW_IPFIX_H
#define LABELFLOW_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enrich.h"
#include "flowtab.h"
#include "registry.h"

enum ipfix_msg_kind {
	IPFIX_MSG_TEMPLATES = 0, /* template sets and RFC 5610 options records only */
	IPFIX_MSG_DATA,		 /* data records */
};

/*
 * One finished message, borrowed for the duration of the callback. seq_after is the
 * sequence number the next message will carry (header sequence + data records here).
 */
typedef int (*ipfix_emit_fn)(const uint8_t *msg, size_t len, enum ipfix_msg_kind kind,
			     uint32_t seq_after, void *user);

struct ipfix_config {
	uint32_t observation_domain;
	uint16_t max_msg_bytes; /* message size limit, e.g. 1400 for UDP, 65535 for files/TCP */
	bool rfc5610;		/* send information element type records for our elements */
	bool biflow; /* records are biflows: use the registry's biflow templates (RFC 5103) */
	uint32_t sampling_interval; /* N > 1: 1-in-N count-based packet sampling upstream; the
				       template set carries the sampling reports. 0 or 1: none */
};

struct ipfix_encoder;

/*
 * reg is borrowed and must outlive the encoder. Returns NULL (logged) on failure, also
 * when the registry has no template of the configured kind (biflow or uniflow), or no
 * sampling template while sampling_interval > 1.
 */
struct ipfix_encoder *ipfix_encoder_new(const struct registry *reg,
					const struct ipfix_config *config, ipfix_emit_fn emit,
					void *user);
void ipfix_encoder_free(struct ipfix_encoder *enc);

/*
 * Emit the template set, after flushing pending data: RFC 5610 records, the flow
 * templates of the configured kind, and with sampling every sampling options template,
 * then one record for each (in the registry's order). Returns 0 or -errno.
 */
int ipfix_encoder_templates(struct ipfix_encoder *enc, uint64_t now_ms);
/*
 * Append one record with the labels of both ends (either may be NULL for "none") and the
 * name of its observation interface (interfaceName; NULL for none, borrowed for the call).
 * Emits a data message when the current one is full. Returns 0 or -errno.
 */
int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec, const char *ifname,
		      const struct enrich_labels *src, const struct enrich_labels *dst,
		      uint64_t now_ms);
/* Emit the pending data message, if any. Returns 0 or -errno. */
int ipfix_encoder_flush(struct ipfix_encoder *enc);

struct ipfix_stats {
	uint64_t records;
	uint64_t data_msgs;
	uint64_t template_msgs;
	uint64_t encode_errors;	   /* records libfixbuf refused (logged once) */
	uint64_t labels_truncated; /* records sent without some labels: too big for one message */
};
const struct ipfix_stats *ipfix_encoder_get_stats(const struct ipfix_encoder *enc);

#endif
