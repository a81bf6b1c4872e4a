/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decode: turns one captured frame (any supported link type) into the flow key and
 * per-packet metadata the flow table needs, or into exactly one counted drop reason.
 * It never allocates per packet; IPv4/IPv6 non-first fragments get their ports from a
 * bounded table filled by first fragments (see docs/decode.md).
 */
#ifndef LABELFLOW_DECODE_H
#define LABELFLOW_DECODE_H

#include <stdbool.h>
#include <stdint.h>

/* Link types, numerically equal to the pcap LINKTYPE_* values (so no <pcap.h> here). */
enum decode_linktype {
	DECODE_LINK_NULL = 0,	     /* BSD loopback, 4-byte host-order family */
	DECODE_LINK_EN10MB = 1,	     /* Ethernet */
	DECODE_LINK_RAW = 101,	     /* raw IPv4/IPv6 */
	DECODE_LINK_LOOP = 108,	     /* OpenBSD loopback, 4-byte network-order family */
	DECODE_LINK_LINUX_SLL = 113, /* Linux cooked v1 */
	DECODE_LINK_IPV4 = 228,
	DECODE_LINK_IPV6 = 229,
	DECODE_LINK_LINUX_SLL2 = 276, /* Linux cooked v2 */
};

/*
 * Flow key. Zero-initialise the whole struct (padding too) before filling it: it is
 * hashed and compared as bytes. Addresses in network byte order; IPv4 uses the first 4
 * bytes of each address and leaves the remaining 12 zero. Ports in host order. For ICMP
 * and ICMPv6, src_port is 0 and dst_port is (type << 8 | code), as icmpTypeCode* define.
 */
struct flow_key {
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint32_t ingress_ifindex; /* capture interface index; 0 when unknown (offline) */
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan_id;   /* outermost 802.1Q VID; 0 when untagged */
	uint8_t ip_version; /* 4 or 6 */
	uint8_t proto;	    /* IANA protocol number (after IPv6 extension headers) */
};

/* One decoded packet, ready for the flow table. Valid only until the next decode. */
struct decode_pkt {
	struct flow_key key;
	uint64_t ts_ms;	 /* capture time, ms since the Unix epoch */
	uint32_t octets; /* IP header + payload as the IP length field says (octetDeltaCount) */
	uint16_t inner_vlan_id; /* second 802.1Q tag (QinQ customer VID); 0 when absent */
	uint8_t tcp_flags;	/* TCP flags octet (+ NS bit dropped); 0 for non-TCP */
	uint8_t tos;		/* IPv4 TOS / IPv6 traffic class */
	bool fragment;		/* any IP fragment, first or not */
};

/* Why a frame did not become a decode_pkt. Each frame lands in exactly one counter. */
enum decode_drop {
	DECODE_DROP_NON_IP = 0,	      /* valid frame that carries no IPv4/IPv6 (ARP, LLDP, ...) */
	DECODE_DROP_UNSUPPORTED_LINK, /* link type this decoder does not know */
	DECODE_DROP_TRUNCATED_L2,     /* frame shorter than its link-layer header(s) */
	DECODE_DROP_BAD_IP_VERSION,   /* version nibble disagrees with the EtherType/family */
	DECODE_DROP_TRUNCATED_IP,     /* capture ends inside the IP header */
	DECODE_DROP_BAD_IP_HDR_LEN,   /* IPv4 IHL < 5 or past the IP total length */
	DECODE_DROP_BAD_IP_TOTAL_LEN, /* IP length field smaller than the header / larger than the
					 frame on the wire */
	DECODE_DROP_BAD_IPV6_EXT,     /* IPv6 extension header chain runs past the packet */
	DECODE_DROP_COUNT,
};

/* 0 in a field means its default. */
struct decode_config {
	uint32_t frag_table_size; /* first-fragment entries kept for port lookup (default 4096) */
	uint32_t frag_timeout_ms; /* how long a first fragment's ports are remembered (default
				     30000) */
};

struct decode_stats {
	uint64_t frames;		   /* every frame handed to decode_frame() */
	uint64_t decoded;		   /* frames that became a decode_pkt */
	uint64_t drops[DECODE_DROP_COUNT]; /* frames - decoded == sum(drops) */
	uint64_t truncated_l4;		   /* decoded, but the L4 header was cut: ports left 0 */
	uint64_t frag_first;		   /* first fragments seen */
	uint64_t frag_matched;		   /* later fragments whose ports were found */
	uint64_t frag_unmatched;	   /* later fragments counted in a port-less flow */
	uint64_t frag_table_full;	   /* first fragments not remembered: table full */
};

struct decoder;

/* Allocate a decoder; NULL config means defaults. Returns NULL on allocation failure. */
struct decoder *decode_new(const struct decode_config *config);
void decode_free(struct decoder *d);

/*
 * Decode one frame. caplen is the number of bytes in frame, wirelen the length on the
 * wire. ifindex goes into key.ingress_ifindex. Returns true and fills *ret_pkt when the
 * frame is an IP packet; returns false and counts exactly one drop reason otherwise.
 * Never reads past frame + caplen.
 */
bool decode_frame(struct decoder *d, int linktype, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen, uint64_t ts_ms, uint32_t ifindex, struct decode_pkt *ret_pkt);

const struct decode_stats *decode_get_stats(const struct decoder *d);
/* Stable snake_case name of a drop reason, for counters output. */
const char *decode_drop_name(enum decode_drop reason);

#endif
