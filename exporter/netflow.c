// SPDX-License-Identifier: Apache-2.0
/*
 * netflow: NetFlow v9 and v5 packets written by hand into one preallocated buffer (the
 * layouts are fixed; no library needed, no allocation per record). v9 templates are
 * compiled once: standard fields by IPFIX name (numbers from the registry's information
 * model), labels from the registry's templates as base + elementId with a fixed length.
 * Flow times are sysUptime-relative to a "boot" that every header restates, so collectors
 * rebuild exact epoch milliseconds, also when replaying captures older than 49 days.
 * Sampling is reported as v9 options (with the templates, so refreshed with them) or in
 * the v5 header; the counts stay the sampled ones, collectors scale.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netflow.h"

#define NF9_HDR_LEN	     20
#define NF9_SET_HDR_LEN	     4
#define NF9_TEMPLATE_SET_ID  0
#define NF9_OPTIONS_SET_ID   1
#define NF9_OPTIONS_HDR_LEN  6 /* template ID, option scope length, option length */
#define NF9_SCOPE_SYSTEM     1 /* RFC 3954 scope field type 1: System */
#define NF9_SCOPE_LEN	     4 /* its value: the Source ID */
#define NF9_INTERVAL_LEN     4 /* SAMPLING_INTERVAL */
#define NF5_SAMPLING_MODE    1 /* v5 header bits 15-14: 1 = deterministic 1-in-N */
#define NF9_MAX_FIELDS	     64
#define NF5_HDR_LEN	     24
#define NF5_REC_LEN	     48
#define NF5_MAX_RECORDS	     30 /* what Cisco defined; collectors size buffers by it */
#define NF_LABEL_NAME_MAX    64
#define NF_IFNAME_BYTES	     16		  /* IFNAMSIZ: every Linux interface name fits */
#define NF_SPAN_MS	     (1ull << 31) /* a record's times lie within this of the boot */
#define NF_REBASE_SLACK_MS   3600000ull	  /* a new boot starts this long before the record */
#define NF_DEFAULT_MAX_BYTES 1400

/* Where a v9 field's value comes from. */
enum nf9_src {
	NF9_OCTETS = 0,
	NF9_PACKETS,
	NF9_FIRST,
	NF9_LAST,
	NF9_SRC_ADDR,
	NF9_DST_ADDR,
	NF9_IN_IF,
	NF9_OUT_IF,
	NF9_SRC_PORT,
	NF9_DST_PORT,
	NF9_ICMP,
	NF9_PROTO,
	NF9_TOS,
	NF9_TCP_FLAGS,
	NF9_VLAN,
	NF9_IP_VERSION,
	NF9_DIRECTION,
	NF9_IFNAME,
	NF9_LABEL,
};

/*
 * The standard fields of both templates, by IPFIX name (RFC 3954 field types 1-127 are
 * the IANA elements of the same number) and v9 wire length. ip_version 0: both.
 */
static const struct nf9_std_field {
	const char *name;
	uint16_t len;
	uint8_t src; /* enum nf9_src */
	uint8_t ip_version;
} nf9_std_fields[] = {
	{"octetDeltaCount", 8, NF9_OCTETS, 0},		  /* IN_BYTES (1) */
	{"packetDeltaCount", 8, NF9_PACKETS, 0},	  /* IN_PKTS (2) */
	{"flowStartSysUpTime", 4, NF9_FIRST, 0},	  /* FIRST_SWITCHED (22) */
	{"flowEndSysUpTime", 4, NF9_LAST, 0},		  /* LAST_SWITCHED (21) */
	{"sourceIPv4Address", 4, NF9_SRC_ADDR, 4},	  /* IPV4_SRC_ADDR (8) */
	{"destinationIPv4Address", 4, NF9_DST_ADDR, 4},	  /* IPV4_DST_ADDR (12) */
	{"sourceIPv6Address", 16, NF9_SRC_ADDR, 6},	  /* IPV6_SRC_ADDR (27) */
	{"destinationIPv6Address", 16, NF9_DST_ADDR, 6},  /* IPV6_DST_ADDR (28) */
	{"ingressInterface", 4, NF9_IN_IF, 0},		  /* INPUT_SNMP (10) */
	{"egressInterface", 4, NF9_OUT_IF, 0},		  /* OUTPUT_SNMP (14) */
	{"sourceTransportPort", 2, NF9_SRC_PORT, 0},	  /* L4_SRC_PORT (7) */
	{"destinationTransportPort", 2, NF9_DST_PORT, 0}, /* L4_DST_PORT (11) */
	{"icmpTypeCodeIPv4", 2, NF9_ICMP, 0},	 /* ICMP_TYPE (32): v9 uses it for ICMPv6 too */
	{"protocolIdentifier", 1, NF9_PROTO, 0}, /* PROTOCOL (4) */
	{"ipClassOfService", 1, NF9_TOS, 0},	 /* SRC_TOS (5) */
	{"tcpControlBits", 1, NF9_TCP_FLAGS, 0}, /* TCP_FLAGS (6): one octet in v9 */
	{"vlanId", 2, NF9_VLAN, 0},		 /* SRC_VLAN (58) */
	{"ipVersion", 1, NF9_IP_VERSION, 0},	 /* IP_PROTOCOL_VERSION (60) */
	{"flowDirection", 1, NF9_DIRECTION, 0},	 /* DIRECTION (61) */
	{"interfaceName", NF_IFNAME_BYTES, NF9_IFNAME, 0}, /* IF_NAME (82) */
};

#define NF9_N_STD (sizeof(nf9_std_fields) / sizeof(nf9_std_fields[0]))

/*
 * Default v9 lengths, terminating zero included: both ends of every default label plus
 * the IPv6 standard fields fit a 1400-byte datagram (about 1.3 KB a record). Kubernetes
 * names are at most 63 octets; a UUID (Azure VM ID) 36.
 */
static const uint16_t default_label_bytes[ENRICH_DIM_COUNT] = {
	[ENRICH_CLUSTER] = 32,	   [ENRICH_NAMESPACE] = 64, [ENRICH_POD] = 64,
	[ENRICH_POD_UID] = 0,	   [ENRICH_NODE] = 64,	    [ENRICH_WORKLOAD_KIND] = 24,
	[ENRICH_WORKLOAD] = 64,	   [ENRICH_REPLICASET] = 0, [ENRICH_SERVICE] = 64,
	[ENRICH_POD_LABELS] = 0,   [ENRICH_ZONE] = 24,	    [ENRICH_REGION] = 24,
	[ENRICH_VPC] = 32,	   [ENRICH_SUBNET] = 32,    [ENRICH_VM] = 64,
	[ENRICH_INSTANCE_ID] = 40, [ENRICH_KIND] = 16,
};

struct nf9_field {
	uint16_t type;
	uint16_t len;
	uint8_t src; /* enum nf9_src */
	uint8_t end; /* NF9_LABEL: 0 source, 1 destination */
	uint8_t dim; /* NF9_LABEL: enum enrich_dim */
};

/* One compiled v9 template; rec_len is the sum of its field lengths. */
struct nf9_template {
	uint16_t id;
	uint16_t n_fields;
	size_t rec_len;
	struct nf9_field fields[NF9_MAX_FIELDS];
};

struct netflow_encoder {
	const struct registry *reg; /* borrowed; outlives the encoder */
	struct netflow_config config;
	netflow_emit_fn emit;
	void *user;		 /* borrowed; passed to emit */
	uint8_t *buf;		 /* owned; max_msg_bytes: the packet being built */
	size_t len;		 /* bytes used in buf; 0 = no packet open */
	uint16_t count;		 /* records in the open packet (header count) */
	size_t set_off;		 /* v9: offset of the open data flowset; 0 = none */
	uint16_t set_tid;	 /* v9: its template ID */
	uint32_t seq;		 /* v9: packets sent so far; v5: flow records sent so far */
	uint64_t boot_ms;	 /* sysUptime 0 of the open packet; moves only between packets */
	uint64_t pkt_max_end_ms; /* latest flow end in the open packet (0 = none) */
	uint64_t cur_end_ms;	 /* end of the record being added (0 outside add) */
	uint64_t now_ms;	 /* latest wall clock seen from the caller */
	size_t v5_max_records;
	uint16_t v5_sampling;	     /* v5 header sampling field: mode << 14 | N; 0 = none */
	uint16_t interval_type;	     /* v9 sampling: field type of SAMPLING_INTERVAL; 0 = none */
	struct nf9_template tmpl[2]; /* v9: [0] IPv4, [1] IPv6 */
	char label_names[2][ENRICH_DIM_COUNT][NF_LABEL_NAME_MAX];
	struct netflow_stats stats;
};

/* ---- configuration ---------------------------------------------------------------- */

uint16_t netflow_default_label_bytes(enum enrich_dim d)
{
	return (unsigned)d < ENRICH_DIM_COUNT ? default_label_bytes[d] : 0;
}

void netflow_config_defaults(struct netflow_config *config)
{
	memset(config, 0, sizeof(*config));
	config->version = NETFLOW_V9;
	config->observation_domain = 1;
	config->max_msg_bytes = NF_DEFAULT_MAX_BYTES;
	config->label_base = NETFLOW_DEFAULT_LABEL_BASE;
	for (int d = 0; d < ENRICH_DIM_COUNT; d++)
		config->label_bytes[d] = default_label_bytes[d];
}

/* ---- byte helpers ------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static size_t align4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

static uint64_t ceil_sec(uint64_t ms)
{
	return (ms + 999) / 1000 * 1000;
}

/*
 * Copy s into a len-byte field, zero-padded and always zero-terminated: collectors read
 * these fields as C strings (pmacct runs into the next field otherwise). A longer string
 * is cut at a UTF-8 character boundary, never inside a character. Returns true if cut.
 */
static bool put_string(uint8_t *p, size_t len, const char *s)
{
	size_t room = len - 1, n = s ? strnlen(s, len) : 0;
	bool cut = n > room;

	if (cut) {
		n = room;
		while (n > 0 && ((uint8_t)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (n)
		memcpy(p, s, n);
	memset(p + n, 0, len - n);
	return cut;
}

/* ---- v9 templates ------------------------------------------------------------------- */

static int add_field(struct nf9_template *t, uint16_t type, uint16_t len, uint8_t src, uint8_t end,
		     uint8_t dim)
{
	if (t->n_fields == NF9_MAX_FIELDS) {
		log_error("netflow: template %u has more than %d fields", t->id, NF9_MAX_FIELDS);
		return -E2BIG;
	}
	for (uint16_t i = 0; i < t->n_fields; i++)
		if (t->fields[i].type == type)
			return 0; /* listed twice in the registry template: once is enough */
	t->fields[t->n_fields++] = (struct nf9_field){type, len, src, end, dim};
	t->rec_len += len;
	return 0;
}

/* The label a registry element name stands for; false if it is none. */
static bool label_of(const struct netflow_encoder *enc, const char *name, int *ret_end,
		     int *ret_dim)
{
	for (int end = 0; end < 2; end++) {
		for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
			if (strcmp(name, enc->label_names[end][d]) == 0) {
				*ret_end = end;
				*ret_dim = d;
				return true;
			}
		}
	}
	return false;
}

static int compile_labels(struct netflow_encoder *enc, struct nf9_template *t, uint8_t ip_version)
{
	const struct registry_template *rt = registry_template_for(enc->reg, ip_version);
	int end, dim, ret;

	/* The labels follow the registry's template: trimmed there, trimmed here. */
	for (size_t i = 0; rt && i < rt->n_elements; i++) {
		const fbInfoElement_t *ie;
		uint32_t type;

		if (!label_of(enc, rt->elements[i], &end, &dim) || !enc->config.label_bytes[dim])
			continue;
		ie = fbInfoModelGetElementByName(enc->reg->model, rt->elements[i]);
		if (!ie || !ie->ent) {
			log_error("netflow: label element '%s' is not an enterprise element of the "
				  "registry",
				  rt->elements[i]);
			return -EINVAL;
		}
		type = (uint32_t)enc->config.label_base + ie->num;
		if (type > UINT16_MAX) {
			log_error("netflow: label base %u + elementId %u of '%s' is above 65535",
				  enc->config.label_base, ie->num, rt->elements[i]);
			return -ERANGE;
		}
		ret = add_field(t, (uint16_t)type, enc->config.label_bytes[dim], NF9_LABEL,
				(uint8_t)end, (uint8_t)dim);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int compile_template(struct netflow_encoder *enc, struct nf9_template *t, uint16_t id,
			    uint8_t ip_version)
{
	size_t max = enc->config.max_msg_bytes;
	int ret;

	t->id = id;
	for (size_t i = 0; i < NF9_N_STD; i++) {
		const struct nf9_std_field *f = &nf9_std_fields[i];
		const fbInfoElement_t *ie;

		if (f->ip_version && f->ip_version != ip_version)
			continue;
		ie = fbInfoModelGetElementByName(enc->reg->model, f->name);
		if (!ie || ie->ent) {
			log_error("netflow: the information model has no IANA element '%s'",
				  f->name);
			return -EINVAL;
		}
		ret = add_field(t, (uint16_t)ie->num, f->len, f->src, 0, 0);
		if (ret < 0)
			return ret;
	}
	ret = compile_labels(enc, t, ip_version);
	if (ret < 0)
		return ret;
	if (NF9_HDR_LEN + align4(NF9_SET_HDR_LEN + t->rec_len) > max ||
	    NF9_HDR_LEN + NF9_SET_HDR_LEN + 4 + 4 * (size_t)t->n_fields > max) {
		log_error(
			"netflow: a v9 IPv%u record takes %zu bytes, more than fits in a "
			"%zu-byte datagram; lower the label lengths (export.netflow9_label_bytes) "
			"or raise export.udp_max_msg_bytes",
			ip_version, t->rec_len, max);
		return -EMSGSIZE;
	}
	return 0;
}

/* ---- packets ------------------------------------------------------------------------ */

/*
 * The header's export time: now, unless that is more than 2^32 ms after the boot (a
 * replay of an old capture), then the flows' own clock. Always >= every flow end in the
 * packet and within 2^32 ms of the boot; whole seconds for v9 (its header has no ms).
 */
static uint64_t header_ms(const struct netflow_encoder *enc, bool whole_sec)
{
	uint64_t flows =
		enc->pkt_max_end_ms > enc->cur_end_ms ? enc->pkt_max_end_ms : enc->cur_end_ms;
	uint64_t t = enc->now_ms > flows ? enc->now_ms : flows;

	if (t < enc->boot_ms)
		t = enc->boot_ms;
	if (whole_sec)
		t = ceil_sec(t);
	if (t - enc->boot_ms <= UINT32_MAX)
		return t;
	t = flows > enc->boot_ms ? flows : enc->boot_ms;
	return whole_sec ? ceil_sec(t) : t;
}

/* Pad and close the open v9 data flowset. */
static void close_set(struct netflow_encoder *enc)
{
	size_t end;

	if (!enc->set_off)
		return;
	end = enc->set_off + align4(enc->len - enc->set_off);
	memset(enc->buf + enc->len, 0, end - enc->len);
	put16(enc->buf + enc->set_off + 2, (uint16_t)(end - enc->set_off));
	enc->len = end;
	enc->set_off = 0;
}

/* Write the header and hand the open packet over. Returns the callback's result. */
static int emit_packet(struct netflow_encoder *enc, bool is_template)
{
	bool v9 = enc->config.version == NETFLOW_V9;
	uint64_t t = header_ms(enc, v9);
	uint32_t seq_after;
	uint8_t *h = enc->buf;
	int ret;

	if (!enc->len)
		return 0;
	close_set(enc);
	put16(h, (uint16_t)enc->config.version);
	put16(h + 2, enc->count);
	put32(h + 4, (uint32_t)(t - enc->boot_ms));
	put32(h + 8, (uint32_t)(t / 1000));
	if (v9) {
		put32(h + 12, enc->seq);
		put32(h + 16, enc->config.observation_domain);
		seq_after = enc->seq + 1;
	} else {
		put32(h + 12, (uint32_t)(t % 1000 * 1000000));
		put32(h + 16, enc->seq);
		h[20] = (uint8_t)(enc->config.observation_domain >> 8);
		h[21] = (uint8_t)enc->config.observation_domain;
		put16(h + 22, enc->v5_sampling);
		seq_after = enc->seq + enc->count;
	}
	if (is_template)
		enc->stats.template_msgs++;
	else
		enc->stats.data_msgs++;
	ret = enc->emit(enc->buf, enc->len, is_template, seq_after, enc->user);
	enc->seq = seq_after;
	enc->len = 0;
	enc->count = 0;
	enc->pkt_max_end_ms = 0;
	return ret;
}

/* Close the open flowset, if any, and open one of this ID (and the packet, if none). */
static void open_set(struct netflow_encoder *enc, uint16_t id)
{
	if (!enc->len)
		enc->len = NF9_HDR_LEN;
	close_set(enc);
	enc->set_off = enc->len;
	enc->set_tid = id;
	put16(enc->buf + enc->len, id);
	enc->len += NF9_SET_HDR_LEN;
}

static size_t template_bytes(const struct nf9_template *t)
{
	return 4 + 4 * (size_t)t->n_fields;
}

static void template_record(struct netflow_encoder *enc, const struct nf9_template *t)
{
	uint8_t *p = enc->buf + enc->len;

	put16(p, t->id);
	put16(p + 2, t->n_fields);
	p += 4;
	for (uint16_t i = 0; i < t->n_fields; i++, p += 4) {
		put16(p, t->fields[i].type);
		put16(p + 2, t->fields[i].len);
	}
	enc->len += template_bytes(t);
	enc->count++;
}

/* Bytes of the sampling options template flowset and its data flowset; 0 when unsampled. */
static size_t sampling_bytes(const struct netflow_encoder *enc)
{
	if (!enc->interval_type)
		return 0;
	return align4(NF9_SET_HDR_LEN + NF9_OPTIONS_HDR_LEN + 8) +
	       align4(NF9_SET_HDR_LEN + NF9_SCOPE_LEN + NF9_INTERVAL_LEN);
}

/*
 * The sampling report (RFC 3954 section 6): options template 258, scope System (the
 * Source ID), option SAMPLING_INTERVAL = N, then its one record. SAMPLING_ALGORITHM is
 * left out on purpose: nfdump (1.7) ignores an options record that also carries it.
 */
static void sampling_options(struct netflow_encoder *enc)
{
	uint8_t *p;

	open_set(enc, NF9_OPTIONS_SET_ID);
	p = enc->buf + enc->len;
	put16(p, NETFLOW_V9_TEMPLATE_SAMPLING);
	put16(p + 2, 4); /* option scope length: one scope field */
	put16(p + 4, 4); /* option length: one option field */
	put16(p + 6, NF9_SCOPE_SYSTEM);
	put16(p + 8, NF9_SCOPE_LEN);
	put16(p + 10, enc->interval_type);
	put16(p + 12, NF9_INTERVAL_LEN);
	enc->len += NF9_OPTIONS_HDR_LEN + 8;
	enc->count++;
	open_set(enc, NETFLOW_V9_TEMPLATE_SAMPLING);
	p = enc->buf + enc->len;
	put32(p, enc->config.observation_domain);
	put32(p + NF9_SCOPE_LEN, enc->config.sampling_interval);
	enc->len += NF9_SCOPE_LEN + NF9_INTERVAL_LEN;
	enc->count++;
	close_set(enc);
}

/*
 * The template packet(s): both templates, then the sampling report, in as few packets as
 * max_msg_bytes allows (one, unless the templates are very long).
 */
static int emit_templates(struct netflow_encoder *enc)
{
	size_t max = enc->config.max_msg_bytes;
	int ret = 0;

	for (int i = 0; i < 2; i++) {
		if (enc->len && enc->len + template_bytes(&enc->tmpl[i]) > max &&
		    emit_packet(enc, true) < 0)
			ret = -ENOBUFS;
		if (!enc->set_off)
			open_set(enc, NF9_TEMPLATE_SET_ID);
		template_record(enc, &enc->tmpl[i]);
	}
	if (sampling_bytes(enc)) {
		close_set(enc);
		if (enc->len + sampling_bytes(enc) > max && emit_packet(enc, true) < 0)
			ret = -ENOBUFS;
		sampling_options(enc);
	}
	if (emit_packet(enc, true) < 0)
		ret = -ENOBUFS;
	return ret;
}

/* ---- times -------------------------------------------------------------------------- */

/*
 * sysUptime-relative times of rec. A record that does not fit the current boot (it
 * started before it, or ends too far after it) closes the open packet and moves the boot
 * to an hour before the record's start: every packet restates its boot in its header
 * (unix time - sysUptime), so collectors get the exact times either way.
 */
static void place_times(struct netflow_encoder *enc, const struct flow_record *rec,
			uint32_t *ret_first, uint32_t *ret_last)
{
	uint64_t end = rec->end_ms, start = rec->start_ms < end ? rec->start_ms : end;

	if (end - start > NF_SPAN_MS) {
		start = end - NF_SPAN_MS;
		enc->stats.times_clamped++;
	}
	if (start < enc->boot_ms || end - enc->boot_ms > NF_SPAN_MS + NF_REBASE_SLACK_MS) {
		emit_packet(enc, false); /* a refusal is the transport's to count */
		enc->boot_ms = start - (start < NF_REBASE_SLACK_MS ? start : NF_REBASE_SLACK_MS);
	}
	enc->cur_end_ms = end; /* a packet that carries (part of) this record ends after it */
	*ret_first = (uint32_t)(start - enc->boot_ms);
	*ret_last = (uint32_t)(end - enc->boot_ms);
}

/* ---- v9 records --------------------------------------------------------------------- */

/* Make room for one record of template t, opening a packet and a flowset as needed. */
static void v9_reserve(struct netflow_encoder *enc, const struct nf9_template *t)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		size_t end;

		if (!enc->len)
			enc->len = NF9_HDR_LEN;
		if (enc->set_off && enc->set_tid == t->id)
			end = enc->set_off + align4(enc->len + t->rec_len - enc->set_off);
		else
			end = (enc->set_off ? enc->set_off + align4(enc->len - enc->set_off)
					    : enc->len) +
			      align4(NF9_SET_HDR_LEN + t->rec_len);
		if (end <= enc->config.max_msg_bytes)
			break;
		emit_packet(enc, false); /* checked at creation: one record fits alone */
	}
	if (enc->set_off && enc->set_tid == t->id)
		return;
	open_set(enc, t->id);
}

static void v9_record(struct netflow_encoder *enc, const struct nf9_template *t,
		      const struct flow_record *rec, const char *ifname,
		      const struct enrich_labels *src, const struct enrich_labels *dst,
		      uint32_t first, uint32_t last)
{
	const struct flow_key *k = &rec->key;
	bool icmp = (k->ip_version == 4 && k->proto == 1) || (k->ip_version == 6 && k->proto == 58);
	bool egress = k->direction == DECODE_DIR_EGRESS;
	uint8_t *p = enc->buf + enc->len;

	for (uint16_t i = 0; i < t->n_fields; i++) {
		const struct nf9_field *f = &t->fields[i];
		const struct enrich_labels *l;

		switch (f->src) {
		case NF9_OCTETS:
			put64(p, rec->octets);
			break;
		case NF9_PACKETS:
			put64(p, rec->packets);
			break;
		case NF9_FIRST:
			put32(p, first);
			break;
		case NF9_LAST:
			put32(p, last);
			break;
		case NF9_SRC_ADDR:
			memcpy(p, k->src_addr, f->len);
			break;
		case NF9_DST_ADDR:
			memcpy(p, k->dst_addr, f->len);
			break;
		case NF9_IN_IF:
			put32(p, egress ? 0 : k->ifindex);
			break;
		case NF9_OUT_IF:
			put32(p, egress ? k->ifindex : 0);
			break;
		case NF9_SRC_PORT:
			put16(p, icmp ? 0 : k->src_port);
			break;
		case NF9_DST_PORT:
			put16(p, icmp ? 0 : k->dst_port);
			break;
		case NF9_ICMP: /* the key carries type << 8 | code in dst_port */
			put16(p, icmp ? k->dst_port : 0);
			break;
		case NF9_PROTO:
			*p = k->proto;
			break;
		case NF9_TOS:
			*p = rec->tos;
			break;
		case NF9_TCP_FLAGS:
			*p = rec->tcp_flags;
			break;
		case NF9_VLAN:
			put16(p, k->vlan_id);
			break;
		case NF9_IP_VERSION:
			*p = k->ip_version;
			break;
		case NF9_DIRECTION:
			*p = k->direction;
			break;
		case NF9_IFNAME:
			enc->stats.strings_truncated += put_string(p, f->len, ifname);
			break;
		case NF9_LABEL:
			l = f->end ? dst : src;
			enc->stats.strings_truncated +=
				put_string(p, f->len, l ? l->v[f->dim] : NULL);
			break;
		}
		p += f->len;
	}
	enc->len += t->rec_len;
	enc->count++;
}

/* ---- v5 records --------------------------------------------------------------------- */

static void v5_record(struct netflow_encoder *enc, const struct flow_record *rec, uint32_t packets,
		      uint32_t octets, uint32_t first, uint32_t last)
{
	const struct flow_key *k = &rec->key;
	uint16_t ifindex = k->ifindex > UINT16_MAX ? 0 : (uint16_t)k->ifindex;
	bool egress = k->direction == DECODE_DIR_EGRESS;
	uint8_t *p;

	if (enc->len && enc->count >= enc->v5_max_records)
		emit_packet(enc, false);
	if (!enc->len)
		enc->len = NF5_HDR_LEN;
	p = enc->buf + enc->len;
	memset(p, 0, NF5_REC_LEN);
	memcpy(p, k->src_addr, 4);
	memcpy(p + 4, k->dst_addr, 4);
	/* 8: next hop, 0 */
	put16(p + 12, egress ? 0 : ifindex);
	put16(p + 14, egress ? ifindex : 0);
	put32(p + 16, packets);
	put32(p + 20, octets);
	put32(p + 24, first);
	put32(p + 28, last);
	/* ICMP: type << 8 | code in the destination port, as v5 exporters do */
	put16(p + 32, k->proto == 1 ? 0 : k->src_port);
	put16(p + 34, k->dst_port);
	p[37] = rec->tcp_flags;
	p[38] = k->proto;
	p[39] = rec->tos;
	/* 40..47: AS numbers, masks, padding: 0 */
	enc->len += NF5_REC_LEN;
	enc->count++;
}

/* A delta above 2^32-1 goes out as several records whose counters add up exactly. */
static void v5_add(struct netflow_encoder *enc, const struct flow_record *rec, uint32_t first,
		   uint32_t last)
{
	uint64_t parts_p = rec->packets / UINT32_MAX + (rec->packets % UINT32_MAX != 0);
	uint64_t parts_o = rec->octets / UINT32_MAX + (rec->octets % UINT32_MAX != 0);
	uint64_t parts = parts_p > parts_o ? parts_p : parts_o;

	if (parts == 0)
		parts = 1;
	if (rec->key.ifindex > UINT16_MAX)
		enc->stats.v5_ifindex_zeroed++;
	enc->stats.v5_split_records += parts - 1;
	for (uint64_t i = 0; i < parts; i++) {
		uint64_t pk = rec->packets / parts + (i < rec->packets % parts);
		uint64_t oc = rec->octets / parts + (i < rec->octets % parts);

		v5_record(enc, rec, (uint32_t)pk, (uint32_t)oc, first, last);
	}
}

/* ---- sampling ----------------------------------------------------------------------- */

static int setup_v5_sampling(struct netflow_encoder *enc)
{
	uint32_t n = enc->config.sampling_interval;

	if (n <= 1)
		return 0;
	if (n > NETFLOW_V5_MAX_SAMPLING_INTERVAL) {
		log_error("netflow: a v5 header carries sampling intervals up to %u, not %u",
			  NETFLOW_V5_MAX_SAMPLING_INTERVAL, n);
		return -ERANGE;
	}
	enc->v5_sampling = (uint16_t)(NF5_SAMPLING_MODE << 14 | n);
	return 0;
}

static int setup_v9_sampling(struct netflow_encoder *enc)
{
	const fbInfoElement_t *ie;

	if (enc->config.sampling_interval <= 1)
		return 0;
	/* RFC 3954's SAMPLING_INTERVAL is IANA's samplingInterval (34). */
	ie = fbInfoModelGetElementByName(enc->reg->model, "samplingInterval");
	if (!ie || ie->ent) {
		log_error("netflow: the information model has no IANA element 'samplingInterval'");
		return -EINVAL;
	}
	enc->interval_type = (uint16_t)ie->num;
	return 0;
}

/* ---- public ------------------------------------------------------------------------- */

struct netflow_encoder *netflow_encoder_new(const struct registry *reg,
					    const struct netflow_config *config,
					    netflow_emit_fn emit, void *user, uint64_t now_ms)
{
	struct netflow_encoder *enc;

	if (!reg || !config || !emit ||
	    (config->version != NETFLOW_V9 && config->version != NETFLOW_V5) ||
	    config->max_msg_bytes < NF5_HDR_LEN + NF5_REC_LEN) {
		log_error("netflow: invalid encoder configuration (version %d, max_msg_bytes %u)",
			  config ? (int)config->version : 0, config ? config->max_msg_bytes : 0);
		return NULL;
	}
	enc = calloc(1, sizeof(*enc));
	if (!enc || !(enc->buf = malloc(config->max_msg_bytes))) {
		log_error("netflow: out of memory creating an encoder");
		free(enc);
		return NULL;
	}
	enc->reg = reg;
	enc->config = *config;
	enc->emit = emit;
	enc->user = user;
	enc->boot_ms = now_ms;
	enc->now_ms = now_ms;
	if (config->version == NETFLOW_V5) {
		enc->v5_max_records = (config->max_msg_bytes - NF5_HDR_LEN) / NF5_REC_LEN;
		if (enc->v5_max_records > NF5_MAX_RECORDS)
			enc->v5_max_records = NF5_MAX_RECORDS;
		if (setup_v5_sampling(enc) < 0)
			goto fail;
		return enc;
	}
	if (setup_v9_sampling(enc) < 0)
		goto fail;
	if (!enc->config.label_base)
		enc->config.label_base = NETFLOW_DEFAULT_LABEL_BASE;
	if (enc->config.label_base < 0x8000) {
		log_error("netflow: label field type base %u is below 32768: it would collide with "
			  "IANA elements",
			  enc->config.label_base);
		goto fail;
	}
	for (int end = 0; end < 2; end++) {
		for (int d = 0; d < ENRICH_DIM_COUNT; d++)
			snprintf(enc->label_names[end][d], NF_LABEL_NAME_MAX, "%s%s",
				 end ? "destination" : "source", enrich_dim_name(d));
	}
	if (compile_template(enc, &enc->tmpl[0], NETFLOW_V9_TEMPLATE_IPV4, 4) < 0 ||
	    compile_template(enc, &enc->tmpl[1], NETFLOW_V9_TEMPLATE_IPV6, 6) < 0)
		goto fail;
	return enc;
fail:
	netflow_encoder_free(enc);
	return NULL;
}

void netflow_encoder_free(struct netflow_encoder *enc)
{
	if (!enc)
		return;
	free(enc->buf);
	free(enc);
}

int netflow_encoder_templates(struct netflow_encoder *enc, uint64_t now_ms)
{
	enc->now_ms = now_ms;
	if (enc->config.version != NETFLOW_V9)
		return 0;
	emit_packet(enc, false);
	return emit_templates(enc);
}

int netflow_encoder_add(struct netflow_encoder *enc, const struct flow_record *rec,
			const char *ifname, const struct enrich_labels *src,
			const struct enrich_labels *dst, uint64_t now_ms)
{
	uint32_t first, last;
	uint8_t v = rec->key.ip_version;

	enc->now_ms = now_ms;
	if (v != 4 && v != 6) {
		enc->stats.encode_errors++;
		return -EINVAL;
	}
	if (enc->config.version == NETFLOW_V5 && v == 6) {
		enc->stats.v5_ipv6_dropped++;
		return -EAFNOSUPPORT;
	}
	place_times(enc, rec, &first, &last);
	if (enc->config.version == NETFLOW_V5) {
		v5_add(enc, rec, first, last);
	} else {
		const struct nf9_template *t = &enc->tmpl[v == 6];

		v9_reserve(enc, t);
		v9_record(enc, t, rec, ifname, src, dst, first, last);
	}
	if (enc->cur_end_ms > enc->pkt_max_end_ms)
		enc->pkt_max_end_ms = enc->cur_end_ms;
	enc->cur_end_ms = 0;
	enc->stats.records++;
	return 0;
}

int netflow_encoder_flush(struct netflow_encoder *enc)
{
	return emit_packet(enc, false);
}

const struct netflow_stats *netflow_encoder_get_stats(const struct netflow_encoder *enc)
{
	return &enc->stats;
}
