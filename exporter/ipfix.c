// SPDX-License-Identifier: Apache-2.0
/*
 * ipfix: one libfixbuf session per collector, writing into a buffer exporter in manual
 * mode, so message boundaries, sizes and delivery are ours. Records are appended from
 * one fixed internal struct (everything the daemon fills); libfixbuf transcodes it into
 * whichever external template the registry defines for the flow's IP version, by element
 * name (uniflow and biflow templates alike: the internal record has both directions).
 * Element names appear in code, numbers only in the registry data.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipfix.h"
#include "log.h"

/*
 * The internal record. libfixbuf lays an internal template out as the plain sum of its
 * elements' lengths, in spec order, with no alignment; this struct is ordered (8-byte
 * fields first) so that the compiler adds no padding, and record_fields[] below is
 * checked against offsetof() at encoder creation. Integers are in host order
 * (libfixbuf converts), IPv6 addresses in network order, labels borrowed strings.
 */
struct ipfix_rec {
	uint64_t flow_start_ms;
	uint64_t flow_end_ms;
	uint64_t packets;
	uint64_t octets;
	uint64_t segment_id;	    /* layer2SegmentId */
	uint64_t rev_flow_start_ms; /* RFC 5103 reverse elements: biflows only */
	uint64_t rev_flow_end_ms;
	uint64_t rev_packets;
	uint64_t rev_octets;
	fbVarfield_t src_label[ENRICH_DIM_COUNT]; /* borrowed from the enrich snapshot */
	fbVarfield_t dst_label[ENRICH_DIM_COUNT];
	fbVarfield_t ifname;	  /* borrowed from the caller */
	fbVarfield_t tunnel_type; /* static string */
	uint8_t src_ip6[16];
	uint8_t dst_ip6[16];
	uint8_t tunnel_src6[16];
	uint8_t tunnel_dst6[16];
	uint32_t src_ip4;
	uint32_t dst_ip4;
	uint32_t tunnel_src4;
	uint32_t tunnel_dst4;
	uint32_t ingress_ifindex;
	uint32_t egress_ifindex;
	uint16_t src_port;
	uint16_t dst_port;
	uint16_t vlan_id;
	uint16_t inner_vlan_id;
	uint16_t icmp_type_code4;
	uint16_t icmp_type_code6;
	uint16_t tcp_flags;
	uint16_t rev_tcp_flags;
	uint8_t proto;
	uint8_t tos;
	uint8_t end_reason;
	uint8_t direction;
	uint8_t biflow_direction;
	uint8_t padding[3]; /* paddingOctets: makes the template length equal sizeof */
};

struct rec_field {
	const char *name; /* NULL: the label block goes here */
	size_t offset;
	size_t size;
	bool varlen; /* an fbVarfield_t: the spec asks for the element's variable length */
};

#define REC_FIELD(name, member)                                                                    \
	{                                                                                          \
		name, offsetof(struct ipfix_rec, member), sizeof(((struct ipfix_rec *)0)->member), \
			false                                                                      \
	}
#define REC_VARFIELD(name, member)                                                                 \
	{                                                                                          \
		name, offsetof(struct ipfix_rec, member), sizeof(fbVarfield_t), true               \
	}

/* Internal template, in struct order. The label block expands to 2 x ENRICH_DIM_COUNT. */
static const struct rec_field record_fields[] = {
	REC_FIELD("flowStartMilliseconds", flow_start_ms),
	REC_FIELD("flowEndMilliseconds", flow_end_ms),
	REC_FIELD("packetDeltaCount", packets),
	REC_FIELD("octetDeltaCount", octets),
	REC_FIELD("layer2SegmentId", segment_id),
	REC_FIELD("reverseFlowStartMilliseconds", rev_flow_start_ms),
	REC_FIELD("reverseFlowEndMilliseconds", rev_flow_end_ms),
	REC_FIELD("reversePacketDeltaCount", rev_packets),
	REC_FIELD("reverseOctetDeltaCount", rev_octets),
	{NULL, offsetof(struct ipfix_rec, src_label), sizeof(((struct ipfix_rec *)0)->src_label),
	 false},
	{NULL, offsetof(struct ipfix_rec, dst_label), sizeof(((struct ipfix_rec *)0)->dst_label),
	 false},
	REC_VARFIELD("interfaceName", ifname),
	REC_VARFIELD("tunnelType", tunnel_type),
	REC_FIELD("sourceIPv6Address", src_ip6),
	REC_FIELD("destinationIPv6Address", dst_ip6),
	REC_FIELD("tunnelSourceIPv6Address", tunnel_src6),
	REC_FIELD("tunnelDestinationIPv6Address", tunnel_dst6),
	REC_FIELD("sourceIPv4Address", src_ip4),
	REC_FIELD("destinationIPv4Address", dst_ip4),
	REC_FIELD("tunnelSourceIPv4Address", tunnel_src4),
	REC_FIELD("tunnelDestinationIPv4Address", tunnel_dst4),
	REC_FIELD("ingressInterface", ingress_ifindex),
	REC_FIELD("egressInterface", egress_ifindex),
	REC_FIELD("sourceTransportPort", src_port),
	REC_FIELD("destinationTransportPort", dst_port),
	REC_FIELD("vlanId", vlan_id),
	REC_FIELD("dot1qCustomerVlanId", inner_vlan_id),
	REC_FIELD("icmpTypeCodeIPv4", icmp_type_code4),
	REC_FIELD("icmpTypeCodeIPv6", icmp_type_code6),
	REC_FIELD("tcpControlBits", tcp_flags),
	REC_FIELD("reverseTcpControlBits", rev_tcp_flags),
	REC_FIELD("protocolIdentifier", proto),
	REC_FIELD("ipClassOfService", tos),
	REC_FIELD("flowEndReason", end_reason),
	REC_FIELD("flowDirection", direction),
	REC_FIELD("biflowDirection", biflow_direction),
	REC_FIELD("paddingOctets", padding),
};

/*
 * The sampling reports: everything a collector may want to know about the daemon's one
 * selector, systematic count-based 1-in-N. Same layout rules as struct ipfix_rec. Each
 * sampling template of the registry picks its elements (and scope) from it, and gets one
 * options record: the PSAMP selector report (RFC 5476 section 6.5.2, RFC 5477) scoped
 * by selectorId, and the interval scoped by observationDomainId that collectors without
 * PSAMP support (nfdump 1.7) scale by.
 */
struct ipfix_sampling_rec {
	uint64_t selector_id;	     /* selectorId */
	uint32_t packet_interval;    /* samplingPacketInterval: 1 */
	uint32_t packet_space;	     /* samplingPacketSpace: N - 1 */
	uint32_t sampling_interval;  /* samplingInterval (deprecated IE 34): N */
	uint32_t observation_domain; /* observationDomainId, for a template scoped by it */
	uint16_t selector_algorithm; /* selectorAlgorithm */
	uint8_t sampling_algorithm;  /* samplingAlgorithm (deprecated IE 35) */
	uint8_t padding[5];
};

#define SAMPLING_FIELD(name, member)                                                               \
	{                                                                                          \
		name, offsetof(struct ipfix_sampling_rec, member),                                 \
			sizeof(((struct ipfix_sampling_rec *)0)->member), false                    \
	}

static const struct rec_field sampling_fields[] = {
	SAMPLING_FIELD("selectorId", selector_id),
	SAMPLING_FIELD("samplingPacketInterval", packet_interval),
	SAMPLING_FIELD("samplingPacketSpace", packet_space),
	SAMPLING_FIELD("samplingInterval", sampling_interval),
	SAMPLING_FIELD("observationDomainId", observation_domain),
	SAMPLING_FIELD("selectorAlgorithm", selector_algorithm),
	SAMPLING_FIELD("samplingAlgorithm", sampling_algorithm),
	SAMPLING_FIELD("paddingOctets", padding),
};

#define N_SAMPLING_FIELDS (sizeof(sampling_fields) / sizeof(sampling_fields[0]))
/* The daemon's one selector; IANA PSAMP selectorAlgorithm 1, samplingAlgorithm 1. */
#define IPFIX_SELECTOR_ID		1
#define IPFIX_SELECTOR_SYSTEMATIC_COUNT 1
#define IPFIX_SAMPLING_DETERMINISTIC	1

#define N_FIXED_FIELDS (sizeof(record_fields) / sizeof(record_fields[0]) - 2)
#define N_SPEC	       (N_FIXED_FIELDS + 2 * ENRICH_DIM_COUNT + 1) /* + FB_IESPEC_NULL */
#define LABEL_NAME_MAX 64
#define IPFIX_HDR_LEN  16

struct ipfix_encoder {
	const struct registry *reg; /* borrowed; outlives the encoder */
	struct ipfix_config config;
	ipfix_emit_fn emit;
	void *user;		      /* borrowed; passed to emit */
	fBuf_t *fbuf;		      /* owned; owns the session and the exporter */
	fbSession_t *session;	      /* owned by fbuf */
	fbExporter_t *exporter;	      /* owned by fbuf */
	uint8_t *msgbuf;	      /* owned; max_msg_bytes, where fBufEmit copies a message */
	uint16_t int_tid;	      /* internal template of struct ipfix_rec */
	uint16_t ext_tid4, ext_tid6;  /* external templates by IP version; 0 = none */
	uint16_t samp_int_tid;	      /* internal template of struct ipfix_sampling_rec */
	uint16_t cur_ext_tid;	      /* export template set on fbuf; 0 = must set */
	bool cur_int_set;	      /* fbuf's internal template is int_tid */
	bool in_msg;		      /* fbuf holds an unemitted message */
	uint32_t msg_records;	      /* data/options records in that message */
	enum ipfix_msg_kind msg_kind; /* what that message carries */
	bool logged_encode;	      /* first refused record logged */
	bool logged_no_template[2];
	char label_names[2][ENRICH_DIM_COUNT][LABEL_NAME_MAX];
	fbInfoElementSpec_t spec[N_SPEC];
	fbInfoElementSpec_t samp_spec[N_SAMPLING_FIELDS + 1];
	struct ipfix_rec rec; /* scratch record, refilled per flow */
	struct ipfix_stats stats;
};

static int fb_fail(const char *what, GError **err)
{
	log_error("ipfix: %s: %s", what, (err && *err) ? (*err)->message : "unknown error");
	g_clear_error(err);
	return -EIO;
}

static bool is_eom(const GError *err)
{
	return err && g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOM);
}

/* Build the internal spec from record_fields[]; false if the struct and spec disagree. */
static bool build_spec(struct ipfix_encoder *enc)
{
	size_t n = 0, offset = 0;

	for (size_t i = 0; i < sizeof(record_fields) / sizeof(record_fields[0]); i++) {
		const struct rec_field *f = &record_fields[i];

		if (f->offset != offset)
			return false;
		if (f->name) {
			enc->spec[n++] = (fbInfoElementSpec_t){
				(char *)f->name, f->varlen ? FB_IE_VARLEN : (uint16_t)f->size, 0};
			offset += f->size;
			continue;
		}
		/* Label block: "source" or "destination" + the dimension's element suffix. */
		int end = f->offset == offsetof(struct ipfix_rec, src_label) ? 0 : 1;

		for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
			char *name = enc->label_names[end][d];
			int len = snprintf(name, LABEL_NAME_MAX, "%s%s",
					   end ? "destination" : "source", enrich_dim_name(d));

			if (len <= 0 || len >= LABEL_NAME_MAX)
				return false;
			enc->spec[n++] = (fbInfoElementSpec_t){name, 0, 0};
			offset += sizeof(fbVarfield_t);
		}
	}
	enc->spec[n] = (fbInfoElementSpec_t)FB_IESPEC_NULL;
	if (offset != sizeof(struct ipfix_rec) || n + 1 != N_SPEC)
		return false;
	offset = 0;
	for (size_t i = 0; i < N_SAMPLING_FIELDS; i++) {
		if (sampling_fields[i].offset != offset)
			return false;
		enc->samp_spec[i] = (fbInfoElementSpec_t){(char *)sampling_fields[i].name,
							  (uint16_t)sampling_fields[i].size, 0};
		offset += sampling_fields[i].size;
	}
	enc->samp_spec[N_SAMPLING_FIELDS] = (fbInfoElementSpec_t)FB_IESPEC_NULL;
	return offset == sizeof(struct ipfix_sampling_rec);
}

static int add_template(struct ipfix_encoder *enc, bool internal, uint16_t tid, fbTemplate_t *tmpl,
			const char *what, uint16_t *ret_tid)
{
	GError *err = NULL;
	uint16_t got = fbSessionAddTemplate(enc->session, internal, tid, tmpl, &err);

	if (!got)
		return fb_fail(what, &err);
	if (ret_tid)
		*ret_tid = got;
	return 0;
}

/* Does the encoder send template t? Its flow kind, and the sampling ones when sampling. */
static bool uses_template(const struct ipfix_encoder *enc, const struct registry_template *t)
{
	if (t->kind == REGISTRY_SAMPLING)
		return enc->config.sampling_interval > 1;
	return t->kind == (enc->config.biflow ? REGISTRY_BIFLOW : REGISTRY_UNIFLOW);
}

/* Add an internal template built from spec; its ID goes to *ret_tid. */
static int add_internal(struct ipfix_encoder *enc, fbInfoElementSpec_t *spec, const char *what,
			uint16_t *ret_tid)
{
	fbTemplate_t *tmpl = fbTemplateAlloc(enc->reg->model);
	GError *err = NULL;

	if (!fbTemplateAppendSpecArray(tmpl, spec, 0, &err)) {
		fbTemplateFreeUnused(tmpl);
		return fb_fail(what, &err);
	}
	if (add_template(enc, true, FB_TID_AUTO, tmpl, what, ret_tid) < 0) {
		fbTemplateFreeUnused(tmpl);
		return -EIO;
	}
	return 0;
}

static int setup_templates(struct ipfix_encoder *enc)
{
	fbInfoModel_t *model = enc->reg->model;
	enum registry_kind kind = enc->config.biflow ? REGISTRY_BIFLOW : REGISTRY_UNIFLOW;
	fbTemplate_t *tmpl;
	GError *err = NULL;
	char what[160];

	if (!registry_template_find(enc->reg, kind, 4) &&
	    !registry_template_find(enc->reg, kind, 6)) {
		log_error("ipfix: the template definitions have no %s template (kind = \"%s\")",
			  registry_kind_name(kind), registry_kind_name(kind));
		return -EINVAL;
	}
	if (enc->config.sampling_interval > 1 &&
	    !registry_template_find(enc->reg, REGISTRY_SAMPLING, 0)) {
		log_error("ipfix: packets are sampled 1 in %u, but the template definitions have "
			  "no sampling template (kind = \"sampling\") to report it",
			  enc->config.sampling_interval);
		return -EINVAL;
	}
	if (add_internal(enc, enc->spec, "internal record template", &enc->int_tid) < 0)
		return -EIO;
	if (enc->config.sampling_interval > 1 &&
	    add_internal(enc, enc->samp_spec, "internal sampling report template",
			 &enc->samp_int_tid) < 0)
		return -EIO;
	for (size_t i = 0; i < enc->reg->n_templates; i++) {
		const struct registry_template *t = &enc->reg->templates[i];

		if (!uses_template(enc, t))
			continue;
		tmpl = fbTemplateAlloc(model);
		for (size_t j = 0; j < t->n_elements; j++) {
			fbInfoElementSpec_t s = {t->elements[j], 0, 0};

			if (!fbTemplateAppendSpec(tmpl, &s, 0, &err)) {
				fbTemplateFreeUnused(tmpl);
				snprintf(what, sizeof(what), "template '%s' element '%s'", t->name,
					 t->elements[j]);
				return fb_fail(what, &err);
			}
		}
		if (t->scope_count)
			fbTemplateSetOptionsScope(tmpl, t->scope_count);
		snprintf(what, sizeof(what), "adding template '%s' (%u)", t->name, t->id);
		if (add_template(enc, false, t->id, tmpl, what, NULL) < 0) {
			fbTemplateFreeUnused(tmpl);
			return -EIO;
		}
		if (t->ip_version == 4)
			enc->ext_tid4 = t->id;
		else if (t->ip_version == 6)
			enc->ext_tid6 = t->id;
	}
	if (!enc->config.rfc5610)
		return 0;
	/* RFC 5610 type records: one options template, internal and external, fixed ID. */
	tmpl = fbInfoElementAllocTypeTemplate(model, &err);
	if (!tmpl)
		return fb_fail("RFC 5610 options template", &err);
	if (add_template(enc, true, REGISTRY_TYPE_TEMPLATE_ID, tmpl, "adding the RFC 5610 template",
			 NULL) < 0) {
		fbTemplateFreeUnused(tmpl);
		return -EIO;
	}
	/* Now referenced by the session: a second add only takes another reference. */
	return add_template(enc, false, REGISTRY_TYPE_TEMPLATE_ID, tmpl,
			    "adding the RFC 5610 template", NULL);
}

struct ipfix_encoder *ipfix_encoder_new(const struct registry *reg,
					const struct ipfix_config *config, ipfix_emit_fn emit,
					void *user)
{
	struct ipfix_encoder *enc;

	if (!reg || !config || !emit || config->max_msg_bytes < 64) {
		log_error("ipfix: invalid encoder configuration (max_msg_bytes %u)",
			  config ? config->max_msg_bytes : 0);
		return NULL;
	}
	enc = calloc(1, sizeof(*enc));
	if (!enc)
		goto oom;
	enc->reg = reg;
	enc->config = *config;
	enc->emit = emit;
	enc->user = user;
	enc->msgbuf = malloc(config->max_msg_bytes);
	if (!enc->msgbuf)
		goto oom;
	if (!build_spec(enc)) {
		log_error("ipfix: internal record layout does not match its template");
		goto fail;
	}
	enc->session = fbSessionAlloc(reg->model);
	fbSessionSetDomain(enc->session, config->observation_domain);
	/* Templates go in before the buffer exists, so adding them exports nothing. */
	if (setup_templates(enc) < 0) {
		fbSessionFree(enc->session);
		enc->session = NULL;
		goto fail;
	}
	enc->exporter = fbExporterAllocBuffer(enc->msgbuf, config->max_msg_bytes);
	enc->fbuf = fBufAllocForExport(enc->session, enc->exporter);
	fBufSetAutomaticMode(enc->fbuf, FALSE);
	return enc;
oom:
	log_error("ipfix: out of memory creating an encoder");
fail:
	ipfix_encoder_free(enc);
	return NULL;
}

void ipfix_encoder_free(struct ipfix_encoder *enc)
{
	if (!enc)
		return;
	if (enc->fbuf)
		fBufFree(enc->fbuf); /* frees session, templates and exporter */
	free(enc->msgbuf);
	free(enc);
}

/* Hand the message in fbuf to the emit callback. Returns the callback's result. */
/*
 * libfixbuf opens the set of a new template before it knows whether the next record fits;
 * when it does not, the message ends with a set header and no record. RFC 7011 gives sets
 * no records to stand for, and collectors stop parsing at such a set (nfacctd reports an
 * incomplete packet), so empty sets are cut out and the message length fixed.
 */
static size_t drop_empty_sets(uint8_t *msg, size_t len)
{
	size_t off = IPFIX_HDR_LEN;

	while (off + 4 <= len) {
		uint16_t set_len = (uint16_t)(msg[off + 2] << 8 | msg[off + 3]);

		if (set_len < 4 || off + set_len > len)
			break; /* not ours to judge: leave the message as libfixbuf made it */
		if (set_len == 4) {
			memmove(msg + off, msg + off + 4, len - off - 4);
			len -= 4;
			continue;
		}
		off += set_len;
	}
	msg[2] = (uint8_t)(len >> 8);
	msg[3] = (uint8_t)len;
	return len;
}

static int emit_message(struct ipfix_encoder *enc)
{
	GError *err = NULL;
	uint32_t seq;
	size_t len;

	if (!enc->in_msg)
		return 0;
	enc->in_msg = false;
	if (!fBufEmit(enc->fbuf, &err))
		return fb_fail("finishing a message", &err);
	len = fbExporterGetMsgLen(enc->exporter);
	if (len < IPFIX_HDR_LEN || len > enc->config.max_msg_bytes) {
		log_error("ipfix: libfixbuf produced a %zu-byte message", len);
		return -EIO;
	}
	len = drop_empty_sets(enc->msgbuf, len);
	memcpy(&seq, enc->msgbuf + 8, sizeof(seq));
	seq = ntohl(seq) + enc->msg_records;
	enc->msg_records = 0;
	if (enc->msg_kind == IPFIX_MSG_DATA)
		enc->stats.data_msgs++;
	else
		enc->stats.template_msgs++;
	return enc->emit(enc->msgbuf, len, enc->msg_kind, seq, enc->user);
}

/* Finish the message in fbuf without handing it over (libfixbuf has no "abandon"). */
static void discard_message(struct ipfix_encoder *enc)
{
	GError *err = NULL;

	if (enc->in_msg && !fBufEmit(enc->fbuf, &err))
		g_clear_error(&err);
	enc->in_msg = false;
	enc->msg_records = 0;
}

/* Start a message of this kind, emitting a pending one of the other kind first. */
static void begin(struct ipfix_encoder *enc, enum ipfix_msg_kind kind, uint64_t now_ms)
{
	if (enc->in_msg && enc->msg_kind != kind)
		emit_message(enc);
	if (!enc->in_msg) {
		fBufSetExportTime(enc->fbuf, (uint32_t)(now_ms / 1000));
		enc->msg_kind = kind;
	}
}

/*
 * libfixbuf answers FB_ERROR_EOM both for "message full" and for "this kind of set must
 * start a new message" (even when no message is open), so every write is tried up to
 * three times: as is, after emitting the open message, and in a fresh message.
 */
#define WRITE_ATTEMPTS 3

static int export_template(struct ipfix_encoder *enc, uint16_t tid)
{
	GError *err = NULL;

	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		g_clear_error(&err);
		if (fbSessionExportTemplate(enc->session, tid, &err)) {
			enc->in_msg = true;
			return 0;
		}
		if (!is_eom(err))
			return fb_fail("writing a template", &err);
		emit_message(enc);
	}
	log_error("ipfix: template %u does not fit in a %u-byte message", tid,
		  enc->config.max_msg_bytes);
	g_clear_error(&err);
	return -EMSGSIZE;
}

static int write_type_record(struct ipfix_encoder *enc, const fbInfoElement_t *ie)
{
	GError *err = NULL;

	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		g_clear_error(&err);
		if (fbInfoElementWriteOptionsRecord(enc->fbuf, ie, REGISTRY_TYPE_TEMPLATE_ID,
						    REGISTRY_TYPE_TEMPLATE_ID, &err)) {
			enc->in_msg = true;
			enc->msg_records++;
			return 0;
		}
		if (!is_eom(err))
			break;
		emit_message(enc);
	}
	return fb_fail("writing an RFC 5610 record", &err);
}

/* One sampling report: the options record of sampling template tid. */
static int write_sampling_report(struct ipfix_encoder *enc, uint16_t tid)
{
	struct ipfix_sampling_rec r = {
		.selector_id = IPFIX_SELECTOR_ID,
		.packet_interval = 1,
		.packet_space = enc->config.sampling_interval - 1,
		.sampling_interval = enc->config.sampling_interval,
		.observation_domain = enc->config.observation_domain,
		.selector_algorithm = IPFIX_SELECTOR_SYSTEMATIC_COUNT,
		.sampling_algorithm = IPFIX_SAMPLING_DETERMINISTIC,
	};
	GError *err = NULL;

	if (!fBufSetInternalTemplate(enc->fbuf, enc->samp_int_tid, &err) ||
	    !fBufSetExportTemplate(enc->fbuf, tid, &err))
		return fb_fail("selecting a sampling report template", &err);
	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		g_clear_error(&err);
		if (fBufAppend(enc->fbuf, (uint8_t *)&r, sizeof(r), &err)) {
			enc->in_msg = true;
			enc->msg_records++;
			return 0;
		}
		if (!is_eom(err))
			break;
		emit_message(enc);
	}
	return fb_fail("writing a sampling report", &err);
}

int ipfix_encoder_templates(struct ipfix_encoder *enc, uint64_t now_ms)
{
	int ret = ipfix_encoder_flush(enc);

	if (ret < 0)
		return ret;
	begin(enc, IPFIX_MSG_TEMPLATES, now_ms);
	/*
	 * Element type records first: a collector that learns elements from them (RFC 5610)
	 * then knows names and types before it parses the templates that use them.
	 */
	if (enc->config.rfc5610) {
		ret = export_template(enc, REGISTRY_TYPE_TEMPLATE_ID);
		for (size_t i = 0; ret == 0 && i < enc->reg->n_enterprise; i++)
			ret = write_type_record(enc, enc->reg->enterprise[i]);
		if (ret < 0)
			goto out;
	}
	/*
	 * Each sampling template is followed by its record, so every options template sits
	 * alone in its set: nfdump 1.7 loses an options template that follows the PSAMP
	 * report's in the same set, and "sampling-interval" is the one it scales by.
	 */
	for (size_t i = 0; i < enc->reg->n_templates; i++) {
		const struct registry_template *t = &enc->reg->templates[i];

		if (!uses_template(enc, t))
			continue;
		ret = export_template(enc, t->id);
		if (ret == 0 && t->kind == REGISTRY_SAMPLING)
			ret = write_sampling_report(enc, t->id);
		if (ret < 0)
			goto out;
	}
out:
	/* Options records moved fbuf's templates; data appends must set them again. */
	enc->cur_ext_tid = 0;
	enc->cur_int_set = false;
	if (ret < 0) {
		discard_message(enc); /* never hand over half a template set */
		return ret;
	}
	return emit_message(enc);
}

static void set_label(fbVarfield_t *v, const char *s)
{
	size_t len = s ? strlen(s) : 0;

	/* libfixbuf copies the bytes into the message; buf is never written through. */
	v->buf = (uint8_t *)(uintptr_t)s;
	v->len = len > UINT16_MAX - 1 ? UINT16_MAX - 1 : len;
}

static void fill_tunnel(struct ipfix_rec *r, const struct flow_record *f)
{
	const struct flow_key *k = &f->key;

	if (k->tunnel_type == DECODE_TUNNEL_NONE || k->tunnel_type >= DECODE_TUNNEL_COUNT)
		return;
	set_label(&r->tunnel_type, decode_tunnel_name(k->tunnel_type));
	r->segment_id = k->tunnel_id;
	if (f->outer_ip_version == 4) {
		memcpy(&r->tunnel_src4, f->outer_src_addr, 4);
		memcpy(&r->tunnel_dst4, f->outer_dst_addr, 4);
		r->tunnel_src4 = ntohl(r->tunnel_src4);
		r->tunnel_dst4 = ntohl(r->tunnel_dst4);
	} else if (f->outer_ip_version == 6) {
		memcpy(r->tunnel_src6, f->outer_src_addr, 16);
		memcpy(r->tunnel_dst6, f->outer_dst_addr, 16);
	}
}

static void fill_record(struct ipfix_rec *r, const struct flow_record *f, const char *ifname,
			const struct enrich_labels *src, const struct enrich_labels *dst)
{
	const struct flow_key *k = &f->key;

	memset(r, 0, sizeof(*r));
	r->flow_start_ms = f->start_ms;
	r->flow_end_ms = f->end_ms;
	r->packets = f->packets;
	r->octets = f->octets;
	r->rev_flow_start_ms = f->rev_start_ms;
	r->rev_flow_end_ms = f->rev_end_ms;
	r->rev_packets = f->rev_packets;
	r->rev_octets = f->rev_octets;
	r->rev_tcp_flags = f->rev_tcp_flags;
	r->biflow_direction = f->biflow_direction;
	for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
		set_label(&r->src_label[d], src ? src->v[d] : NULL);
		set_label(&r->dst_label[d], dst ? dst->v[d] : NULL);
	}
	if (k->ip_version == 4) {
		memcpy(&r->src_ip4, k->src_addr, 4);
		memcpy(&r->dst_ip4, k->dst_addr, 4);
		r->src_ip4 = ntohl(r->src_ip4);
		r->dst_ip4 = ntohl(r->dst_ip4);
	} else {
		memcpy(r->src_ip6, k->src_addr, 16);
		memcpy(r->dst_ip6, k->dst_addr, 16);
	}
	if (k->direction == DECODE_DIR_EGRESS)
		r->egress_ifindex = k->ifindex;
	else
		r->ingress_ifindex = k->ifindex;
	r->direction = k->direction;
	set_label(&r->ifname, ifname);
	fill_tunnel(r, f);
	/* ICMP: the key carries type << 8 | code in dst_port; ports stay 0 on the wire. */
	if (k->ip_version == 4 && k->proto == 1) {
		r->icmp_type_code4 = k->dst_port;
	} else if (k->ip_version == 6 && k->proto == 58) {
		r->icmp_type_code6 = k->dst_port;
	} else {
		r->src_port = k->src_port;
		r->dst_port = k->dst_port;
	}
	r->vlan_id = k->vlan_id;
	r->inner_vlan_id = f->inner_vlan_id;
	r->tcp_flags = f->tcp_flags;
	r->proto = k->proto;
	r->tos = f->tos;
	r->end_reason = f->end_reason;
}

/* Append enc->rec; on a full message emit it and try again in an empty one. */
static int append_record(struct ipfix_encoder *enc, GError **err)
{
	for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		g_clear_error(err);
		if (fBufAppend(enc->fbuf, (uint8_t *)&enc->rec, sizeof(enc->rec), err)) {
			enc->in_msg = true;
			enc->msg_records++;
			return 0;
		}
		if (!is_eom(*err))
			return -1;
		emit_message(enc);
	}
	return -1;
}

static void strip_labels(struct ipfix_rec *r, bool all)
{
	for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
		if (all || d == ENRICH_POD_LABELS) {
			r->src_label[d].len = 0;
			r->dst_label[d].len = 0;
		}
	}
}

int ipfix_encoder_add(struct ipfix_encoder *enc, const struct flow_record *rec, const char *ifname,
		      const struct enrich_labels *src, const struct enrich_labels *dst,
		      uint64_t now_ms)
{
	uint16_t tid = rec->key.ip_version == 4	  ? enc->ext_tid4
		       : rec->key.ip_version == 6 ? enc->ext_tid6
						  : 0;
	GError *err = NULL;

	if (!tid) {
		int v = rec->key.ip_version == 6;

		if (!enc->logged_no_template[v]) {
			log_warn("ipfix: no template for IPv%u flows in the template definitions; "
				 "such records are counted as encode errors",
				 rec->key.ip_version);
			enc->logged_no_template[v] = true;
		}
		enc->stats.encode_errors++;
		return -EINVAL;
	}
	begin(enc, IPFIX_MSG_DATA, now_ms);
	if (!enc->cur_int_set) {
		if (!fBufSetInternalTemplate(enc->fbuf, enc->int_tid, &err))
			goto refused;
		enc->cur_int_set = true;
	}
	if (enc->cur_ext_tid != tid) {
		if (!fBufSetExportTemplate(enc->fbuf, tid, &err))
			goto refused;
		enc->cur_ext_tid = tid;
	}
	fill_record(&enc->rec, rec, ifname, src, dst);
	if (append_record(enc, &err) == 0)
		goto ok;
	if (!is_eom(err))
		goto refused;
	/* Too big even alone in a message: drop the label JSON, then every label. */
	for (int level = 0; level < 2; level++) {
		g_clear_error(&err);
		strip_labels(&enc->rec, level == 1);
		if (append_record(enc, &err) == 0) {
			enc->stats.labels_truncated++;
			goto ok;
		}
		if (!is_eom(err))
			goto refused;
	}
refused:
	enc->stats.encode_errors++;
	if (!enc->logged_encode) {
		log_error("ipfix: record refused (further refusals only counted): %s",
			  err ? err->message : "unknown error");
		enc->logged_encode = true;
	}
	g_clear_error(&err);
	return -EIO;
ok:
	enc->stats.records++;
	return 0;
}

int ipfix_encoder_flush(struct ipfix_encoder *enc)
{
	if (!enc->in_msg)
		return 0;
	return emit_message(enc);
}

const struct ipfix_stats *ipfix_encoder_get_stats(const struct ipfix_encoder *enc)
{
	return &enc->stats;
}
