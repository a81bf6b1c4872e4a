/* SPDX-License-Identifier: Apache-2.0 */
/*
 * decode: turns one captured frame (any supported link type) into the flow key and
 * per-packet metadata the flow table needs, or into exactly one counted drop reason.
 * It looks through one level of overlay (VXLAN, Geneve, IP-in-IP, GRE, NVGRE) and never
 * allocates per packet; non-first fragments get their ports from a bounded table filled by
 * first fragments. The exact rules (an eBPF parser must match them) are in docs/decode.md.
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

/* Encapsulations the decoder looks through (flow_key.tunnel_type). */
enum decode_tunnel {
	DECODE_TUNNEL_NONE = 0,
	DECODE_TUNNEL_VXLAN = 1,  /* UDP 4789, and Flannel's 8472 */
	DECODE_TUNNEL_GENEVE = 2, /* UDP 6081 */
	DECODE_TUNNEL_IPIP = 3,	  /* IPv4/IPv6 in IPv4/IPv6 (protocol 4 or 41), Calico-IPIP */
	DECODE_TUNNEL_GRE = 4,	  /* GRE version 0 (protocol 47) carrying IPv4/IPv6; optional key */
	DECODE_TUNNEL_NVGRE = 5,  /* GRE carrying Ethernet (0x6558); VSID = key >> 8 */
	DECODE_TUNNEL_COUNT,
};

/* Where the flow was observed relative to the interface: IANA flowDirection (IE 61). */
enum decode_direction {
	DECODE_DIR_INGRESS = 0,	   /* received on the interface */
	DECODE_DIR_EGRESS = 1,	   /* sent out of the interface */
	DECODE_DIR_UNKNOWN = 0xff, /* decode_frame() argument only: take it from the link header */
};

/*
 * Flow key. Zero-initialise the whole struct (padding too) before filling it: it is
 * hashed and compared as bytes. Addresses in network byte order; IPv4 uses the first 4
 * bytes of each address and leaves the remaining 12 zero. Ports in host order. For ICMP
 * and ICMPv6, src_port is 0 and dst_port is (type << 8 | code), as icmpTypeCode* define.
 * For a tunnelled packet the addresses, ports and protocol are the inner packet's (the
 * "inner" view) and tunnel_type/tunnel_id say which overlay carried it.
 */
struct flow_key {
	uint8_t src_addr[16];
	uint8_t dst_addr[16];
	uint32_t ifindex;   /* observation interface index; 0 when unknown (offline) */
	uint32_t tunnel_id; /* VXLAN/Geneve VNI, GRE key, NVGRE VSID; 0 when none */
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan_id;    /* outermost 802.1Q VID of the captured frame; 0 when untagged */
	uint8_t ip_version;  /* 4 or 6 */
	uint8_t proto;	     /* IANA protocol number (after IPv6 extension headers) */
	uint8_t direction;   /* enum decode_direction */
	uint8_t tunnel_type; /* enum decode_tunnel; NONE also for a tunnel decoded as its outer */
	uint8_t pad[2];	     /* zero */
};

/*
 * One decoded packet, ready for the flow table. Valid only until the next decode. For a
 * tunnelled packet in the inner view, everything but vlan_id/inner_vlan_id (the outer
 * frame's tags) and the outer_* fields describes the inner packet.
 */
struct decode_pkt {
	struct flow_key key;
	uint64_t ts_ms;	 /* capture time, ms since the Unix epoch */
	uint32_t octets; /* IP header + payload as the IP length field says (octetDeltaCount);
			    the inner packet's length in the inner view */
	uint16_t inner_vlan_id; /* second 802.1Q tag (QinQ customer VID); 0 when absent */
	uint8_t tcp_flags;	/* TCP flags octet (+ NS bit dropped); 0 for non-TCP */
	uint8_t tos;		/* IPv4 TOS / IPv6 traffic class */
	bool fragment;		/* any IP fragment, first or not */
	/* Inner view of a tunnelled packet: the outer IP header's addresses (as in key). */
	uint8_t outer_ip_version;   /* 4 or 6; 0 when not tunnelled, and in the outer view */
	uint8_t outer_src_addr[16]; /* all zero when outer_ip_version is 0 */
	uint8_t outer_dst_addr[16];
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

/* Which view of a tunnelled packet becomes a flow (decode_config.tunnel_view). */
enum decode_tunnel_view {
	DECODE_VIEW_INNER = 0, /* default: key from the inner packet, tunnel id/type/outer kept */
	DECODE_VIEW_OUTER = 1, /* key from the outer headers; tunnel_type/tunnel_id still set */
	DECODE_VIEW_BOTH = 2,  /* the inner flow, and the outer one via decode_outer_view() */
};

/* 0 in a field means its default. */
struct decode_config {
	uint8_t tunnel_view;	  /* enum decode_tunnel_view (default INNER; unknown = INNER) */
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
	uint64_t tunnelled;		   /* decoded packets with key.tunnel_type != NONE */
	uint64_t tunnel_type[DECODE_TUNNEL_COUNT]; /* decoded packets per key.tunnel_type; the
						      sum is decoded ([NONE] = plain ones) */
	uint64_t outer_views;			   /* extra packets from decode_outer_view() */
	/* Decoded as the plain outer packet (tunnel_type NONE) instead of a tunnel: */
	uint64_t tunnel_malformed;  /* tunnel header or inner IP header truncated or invalid */
	uint64_t tunnel_not_ip;	    /* the tunnel carries no IP (ARP in VXLAN, GRE version 1,
				       GRE/Geneve protocol other than IPv4/IPv6/Ethernet) */
	uint64_t tunnel_outer_frag; /* the outer packet is an IP fragment */
};

struct decoder;

/* Allocate a decoder; NULL config means defaults. Returns NULL on allocation failure. */
struct decoder *decode_new(const struct decode_config *config);
void decode_free(struct decoder *d);

/*
 * Decode one frame. caplen is the number of bytes in frame, wirelen the length on the
 * wire. ifindex goes into key.ifindex. direction goes into key.direction; with
 * DECODE_DIR_UNKNOWN (0xff, = CAPTURE_DIR_UNKNOWN; any value but INGRESS/EGRESS counts as
 * unknown) it is EGRESS when a Linux cooked v1/v2 header says PACKET_OUTGOING (4) and
 * INGRESS otherwise. Returns true and fills *ret_pkt when the frame is an IP packet
 * (tunnelled or not, per decode_config.tunnel_view); returns false and counts exactly one
 * drop reason otherwise. A bad tunnel never drops: it is decoded as the outer packet.
 * Never reads past frame + caplen.
 */
bool decode_frame(struct decoder *d, int linktype, const uint8_t *frame, uint32_t caplen,
		  uint32_t wirelen, uint64_t ts_ms, uint32_t ifindex, uint8_t direction,
		  struct decode_pkt *ret_pkt);
/*
 * With DECODE_VIEW_BOTH, after decode_frame() returned a tunnelled packet: the outer
 * packet's view of the same frame (key from the outer IP and UDP/GRE headers, same
 * tunnel_type/tunnel_id, outer_ip_version 0). Returns false when the last frame was not
 * tunnelled or the view is not BOTH, and on a second call for the same frame. Counted in
 * decode_stats.outer_views, not in frames/decoded.
 */
bool decode_outer_view(struct decoder *d, struct decode_pkt *ret_pkt);

const struct decode_stats *decode_get_stats(const struct decoder *d);
/* "vxlan", "geneve", "ipip", "gre", "nvgre"; "none" for DECODE_TUNNEL_NONE. */
const char *decode_tunnel_name(enum decode_tunnel type);
/* Stable snake_case name of a drop reason, for counters output. */
const char *decode_drop_name(enum decode_drop reason);
/* Stable lower-case name of a tunnel type ("none", "vxlan", ...; "unknown" out of range). */
const char *decode_tunnel_name(enum decode_tunnel type);

#endif
