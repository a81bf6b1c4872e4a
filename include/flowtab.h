/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flowtab: the flow cache. Meters decoded packets into uniflows keyed by struct flow_key
 * (default) or RFC 5103 biflows (both directions of a conversation in one record), with
 * a fixed-size preallocated pool (max_flows) and no allocation per packet. Flows leave the
 * cache through one export callback, each with its IANA flowEndReason; expiry touches only
 * the flows that expire (see docs/flowtab.md for the algorithm, bounds and biflow rules).
 */
#ifndef LABELFLOW_FLOWTAB_H
#define LABELFLOW_FLOWTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

/* IANA flowEndReason (IE 136). */
enum flowtab_end_reason {
	FLOWTAB_END_IDLE = 1,
	FLOWTAB_END_ACTIVE = 2,
	FLOWTAB_END_EOF_DETECTED = 3, /* TCP FIN or RST */
	FLOWTAB_END_FORCED = 4,	      /* end of input, shutdown, interface gone */
	FLOWTAB_END_LACK_OF_RESOURCES = 5,
};

/* IANA biflowDirection (IE 239) values a biflow record carries. */
enum flowtab_biflow_direction {
	FLOWTAB_BIFLOW_ARBITRARY =
		0, /* source = first packet seen, not known to be the initiator */
	FLOWTAB_BIFLOW_INITIATOR = 1, /* source = the initiator (TCP SYN without ACK; non-TCP) */
};

/*
 * What the cache hands to export. Borrowed: valid only during the callback.
 *
 * Uniflow mode: one direction; the rev_* fields and biflow_direction are 0.
 * Biflow mode (flowtab_config.biflow): key is the flow's first packet's key (its source is
 * the initiator, RFC 5103 section 5.1); packets/octets/tcp_flags count the initiator's
 * packets, rev_* the responder's; start_ms/end_ms span both directions. Either count may
 * be 0, never both.
 */
struct flow_record {
	struct flow_key key;
	uint64_t start_ms; /* first packet of the flow (kept across active-timeout reports) */
	uint64_t end_ms;   /* last packet of the flow so far (either direction in a biflow) */
	uint64_t packets;  /* packetDeltaCount since the previous report of this flow */
	uint64_t octets;   /* octetDeltaCount since the previous report of this flow */
	uint16_t inner_vlan_id;
	uint8_t tcp_flags;  /* OR of TCP flags since the previous report */
	uint8_t tos;	    /* ToS of the first packet */
	uint8_t end_reason; /* enum flowtab_end_reason */
	/* Outer tunnel endpoints of the flow's first packet; outer_ip_version 0 = none. */
	uint8_t outer_ip_version;
	uint8_t outer_src_addr[16];
	uint8_t outer_dst_addr[16];
	/* Biflow mode only: the reverse direction (responder -> initiator). */
	uint8_t rev_tcp_flags;	  /* reverseTcpControlBits: OR since the previous report */
	uint8_t biflow_direction; /* enum flowtab_biflow_direction */
	uint64_t rev_packets;	  /* reversePacketDeltaCount since the previous report */
	uint64_t rev_octets;	  /* reverseOctetDeltaCount since the previous report */
	uint64_t rev_start_ms;	  /* first reverse packet of the flow; 0 = none yet */
	uint64_t rev_end_ms;	  /* last reverse packet so far; 0 = none yet */
};

typedef void (*flowtab_export_fn)(const struct flow_record *rec, void *user);

struct flowtab_config {
	uint32_t max_flows; /* pool size; inserting past it evicts the least recently seen flow */
	uint32_t idle_timeout_ms;   /* no packet for this long: export with FLOWTAB_END_IDLE */
	uint32_t active_timeout_ms; /* report a live flow this often: FLOWTAB_END_ACTIVE */
	bool biflow; /* RFC 5103 biflows (+40 bytes per flow slot); false = uniflows */
};

struct flowtab_stats {
	uint64_t packets; /* packets metered (== sum of exported packets and rev_packets +
			     packets in cache) */
	uint64_t octets;
	uint64_t flows_created;
	uint64_t flows_active;	   /* currently in the cache */
	uint64_t records_exported; /* callback invocations */
	uint64_t ended[6];	   /* records per flowEndReason, index = enum flowtab_end_reason */
	uint64_t evictions;	   /* == ended[FLOWTAB_END_LACK_OF_RESOURCES] */
};

/*
 * Allocate the cache with all max_flows entries up front. export_fn is called for every
 * record leaving the cache, synchronously, from flowtab_add/expire/flush; the record is
 * valid only during the call, and export_fn must not call any flowtab function on this
 * table. No record carries 0 packets (packets + rev_packets in a biflow). Returns NULL on
 * invalid config (max_flows 0 or above 2^30, timeouts 0), NULL export_fn, or allocation
 * failure.
 */
struct flowtab *flowtab_new(const struct flowtab_config *config, flowtab_export_fn export_fn,
			    void *user);
/* Frees without exporting; call flowtab_flush() first to keep the counts. NULL is a no-op. */
void flowtab_free(struct flowtab *ft);

/*
 * Meter one packet. May export (TCP FIN/RST, eviction, idle or active timeout of this
 * flow). Time is the maximum ts_ms seen, so a packet older than that counts as "now".
 * A biflow ends at an RST, or at the first packet after FINs from both sides.
 */
void flowtab_add(struct flowtab *ft, const struct decode_pkt *pkt);
/*
 * Meter pkts[0..n-1] in order: the same as n calls of flowtab_add(), exports included, but
 * faster, as the table lines of a few packets are fetched before the first is metered.
 */
void flowtab_add_burst(struct flowtab *ft, const struct decode_pkt *pkts, size_t n);
/* Export flows idle or active past their timeout at now_ms. O(expired flows). */
void flowtab_expire(struct flowtab *ft, uint64_t now_ms);
/* Export every flow with the given reason (normally FLOWTAB_END_FORCED) and empty the cache. */
void flowtab_flush(struct flowtab *ft, enum flowtab_end_reason reason);
/* Export every flow with this ingress interface (interface removed). O(flows in cache). */
void flowtab_flush_ifindex(struct flowtab *ft, uint32_t ifindex, enum flowtab_end_reason reason);

const struct flowtab_stats *flowtab_get_stats(const struct flowtab *ft);

#endif
