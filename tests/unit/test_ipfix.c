// SPDX-License-Identifier: Apache-2.0
/*
 * ipfix: encodes records through the real registry, captures the emitted messages,
 * writes them to a file and reads them back with libfixbuf's collector (and ipfixDump
 * when installed), checking every field.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <glib.h>

#include "ipfix.h"

#define MAX_MSGS 512

struct captured {
	uint8_t *buf;
	size_t len;
	enum ipfix_msg_kind kind;
	uint32_t seq_after;
};

static struct captured msgs[MAX_MSGS];
static size_t n_msgs;
static struct registry *reg;
static char elements_path[4200], templates_path[4200];
static char file_path[] = "/tmp/lf-ipfix-XXXXXX";
static int file_fd = -1;

static int capture(const uint8_t *msg, size_t len, enum ipfix_msg_kind kind, uint32_t seq_after,
		   void *user)
{
	cr_assert_eq(user, (void *)&n_msgs);
	cr_assert_lt(n_msgs, MAX_MSGS);
	msgs[n_msgs].buf = malloc(len);
	memcpy(msgs[n_msgs].buf, msg, len);
	msgs[n_msgs].len = len;
	msgs[n_msgs].kind = kind;
	msgs[n_msgs].seq_after = seq_after;
	n_msgs++;
	return 0;
}

static void find_datadir(void)
{
	const char *env = getenv("LABELFLOW_DATADIR");
	char src[4096], dir[4096];

	snprintf(src, sizeof(src), "%s", __FILE__);
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else
		snprintf(dir, sizeof(dir), "%s/../../templates", dirname(src));
	snprintf(elements_path, sizeof(elements_path), "%s/labelflow-elements.xml", dir);
	snprintf(templates_path, sizeof(templates_path), "%s/labelflow-templates.conf", dir);
}

static void setup(void)
{
	char err[512];

	find_datadir();
	reg = registry_load(elements_path, templates_path, 0, err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	file_fd = mkstemp(file_path);
	cr_assert_geq(file_fd, 0);
	n_msgs = 0;
}

static void teardown(void)
{
	for (size_t i = 0; i < n_msgs; i++)
		free(msgs[i].buf);
	n_msgs = 0;
	registry_free(reg);
	close(file_fd);
	unlink(file_path);
}

static uint32_t hdr32(const struct captured *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->buf + off, 4);
	return ntohl(v);
}

static uint16_t hdr16(const struct captured *m, size_t off)
{
	uint16_t v;

	memcpy(&v, m->buf + off, 2);
	return ntohs(v);
}

static void write_file(void)
{
	cr_assert_eq(ftruncate(file_fd, 0), 0);
	cr_assert_eq(lseek(file_fd, 0, SEEK_SET), 0);
	for (size_t i = 0; i < n_msgs; i++)
		cr_assert_eq(write(file_fd, msgs[i].buf, msgs[i].len), (ssize_t)msgs[i].len);
}

/* ---- records used by the tests ------------------------------------------------------ */

static const char *const pod_a[ENRICH_DIM_COUNT] = {
	[ENRICH_CLUSTER] = "prod-eu",  [ENRICH_NAMESPACE] = "shop",
	[ENRICH_POD] = "cart-7d9f",    [ENRICH_POD_UID] = "0b6e-11",
	[ENRICH_NODE] = "node-3",      [ENRICH_WORKLOAD_KIND] = "Deployment",
	[ENRICH_WORKLOAD] = "cart",    [ENRICH_REPLICASET] = "cart-7d9",
	[ENRICH_SERVICE] = "cart-svc", [ENRICH_POD_LABELS] = "{\"app\":\"cart\"}",
	[ENRICH_ZONE] = "eu-west-1a",  [ENRICH_REGION] = "eu-west-1",
	[ENRICH_VPC] = "vpc-1",	       [ENRICH_SUBNET] = "subnet-9",
	[ENRICH_VM] = "vm-a",	       [ENRICH_INSTANCE_ID] = "i-0abc",
	[ENRICH_KIND] = "pod",
};

static const char *const pod_b[ENRICH_DIM_COUNT] = {
	[ENRICH_NAMESPACE] = "db",
	[ENRICH_POD] = "pg-0",
	[ENRICH_KIND] = "pod",
	[ENRICH_POD_LABELS] = "{\"app\":\"pg\",\"tier\":\"data\"}",
};

static struct enrich_labels labels_of(const char *const v[ENRICH_DIM_COUNT])
{
	struct enrich_labels l;

	memcpy(l.v, v, sizeof(l.v));
	return l;
}

static struct flow_record v4_tcp(void)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.key.ip_version = 4;
	r.key.proto = 6;
	memcpy(r.key.src_addr, (uint8_t[]){10, 1, 2, 3}, 4);
	memcpy(r.key.dst_addr, (uint8_t[]){192, 168, 7, 9}, 4);
	r.key.src_port = 43512;
	r.key.dst_port = 443;
	r.key.vlan_id = 100;
	r.key.ifindex = 17;
	r.start_ms = 1700000000123ull;
	r.end_ms = 1700000004567ull;
	r.packets = 12;
	r.octets = 3456;
	r.inner_vlan_id = 200;
	r.tcp_flags = 0x1b;
	r.tos = 0x28;
	r.end_reason = 3;
	return r;
}

static struct flow_record v6_icmp(void)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.key.ip_version = 6;
	r.key.proto = 58;
	inet_pton(AF_INET6, "fd00::1", r.key.src_addr);
	inet_pton(AF_INET6, "2001:db8::99", r.key.dst_addr);
	r.key.src_port = 0;
	r.key.dst_port = (128 << 8) | 0; /* echo request */
	r.start_ms = 1700000010000ull;
	r.end_ms = 1700000010500ull;
	r.packets = 2;
	r.octets = 208;
	r.end_reason = 1;
	return r;
}

static struct flow_record v4_icmp(void)
{
	struct flow_record r = v4_tcp();

	r.key.proto = 1;
	r.key.src_port = 0;
	r.key.dst_port = (3 << 8) | 1; /* host unreachable */
	r.tcp_flags = 0;
	return r;
}

/* ---- reading back -------------------------------------------------------------------- */

/* The collector's record, laid out as libfixbuf lays out internal templates (no gaps). */
struct rd {
	uint64_t start, end, packets, octets, segment;
	fbVarfield_t src[ENRICH_DIM_COUNT], dst[ENRICH_DIM_COUNT];
	fbVarfield_t ifname;
	uint8_t src6[16], dst6[16];
	uint32_t src4, dst4, ifindex, egress;
	uint16_t sport, dport, vlan, cvlan, icmp4, icmp6, tcp_flags;
	uint8_t proto, tos, reason, direction, pad[6];
};

struct got {
	struct rd r;
	uint16_t tid;
	char src[ENRICH_DIM_COUNT][256], dst[ENRICH_DIM_COUNT][256];
	char ifname[64];
};

static char label_names[2][ENRICH_DIM_COUNT][64];

static fbTemplate_t *read_template(fbInfoModel_t *model, bool with_labels)
{
	static fbInfoElementSpec_t head[] = {
		{"flowStartMilliseconds", 8, 0}, {"flowEndMilliseconds", 8, 0},
		{"packetDeltaCount", 8, 0},	 {"octetDeltaCount", 8, 0},
		{"layer2SegmentId", 8, 0},
	};
	static fbInfoElementSpec_t tail[] = {
		{"interfaceName", 0, 0},
		{"sourceIPv6Address", 16, 0},
		{"destinationIPv6Address", 16, 0},
		{"sourceIPv4Address", 4, 0},
		{"destinationIPv4Address", 4, 0},
		{"ingressInterface", 4, 0},
		{"egressInterface", 4, 0},
		{"sourceTransportPort", 2, 0},
		{"destinationTransportPort", 2, 0},
		{"vlanId", 2, 0},
		{"dot1qCustomerVlanId", 2, 0},
		{"icmpTypeCodeIPv4", 2, 0},
		{"icmpTypeCodeIPv6", 2, 0},
		{"tcpControlBits", 2, 0},
		{"protocolIdentifier", 1, 0},
		{"ipClassOfService", 1, 0},
		{"flowEndReason", 1, 0},
		{"flowDirection", 1, 0},
		{"paddingOctets", 6, 0},
	};
	fbTemplate_t *t = fbTemplateAlloc(model);
	GError *err = NULL;

	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		cr_assert(fbTemplateAppendSpec(t, &head[i], 0, &err), "%s", err->message);
	for (int end = 0; end < 2; end++) {
		for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
			fbInfoElementSpec_t s = {label_names[end][d], 0, 0};

			snprintf(label_names[end][d], 64, "%s%s", end ? "destination" : "source",
				 enrich_dim_name(d));
			if (!with_labels)
				s.name = "paddingOctets", s.len_override = sizeof(fbVarfield_t);
			cr_assert(fbTemplateAppendSpec(t, &s, 0, &err), "%s", err->message);
		}
	}
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		cr_assert(fbTemplateAppendSpec(t, &tail[i], 0, &err), "%s", err->message);
	return t;
}

/*
 * Read every data record of the file. model NULL: a fresh IANA-only model that learns
 * our elements from the RFC 5610 records (fBufSetAutomaticInsert). Returns the count.
 */
static size_t read_back(fbInfoModel_t *model, struct got *out, size_t max,
			fbInfoModel_t **ret_model)
{
	fbInfoModel_t *m = model ? model : fbInfoModelAlloc();
	fbSession_t *session = fbSessionAlloc(m);
	fbCollector_t *coll;
	fBuf_t *fbuf;
	GError *err = NULL;
	uint16_t tid;
	size_t n = 0;

	coll = fbCollectorAllocFile(NULL, file_path, &err);
	cr_assert_not_null(coll, "%s", err ? err->message : "");
	fbuf = fBufAllocForCollection(session, coll);
	if (!model)
		cr_assert(fBufSetAutomaticInsert(fbuf, &err));
	/* Labels only when the model knows them already; else fill that room with padding. */
	tid = fbSessionAddTemplate(session, TRUE, FB_TID_AUTO, read_template(m, model != NULL),
				   &err);
	cr_assert_neq(tid, 0);
	cr_assert(fBufSetInternalTemplate(fbuf, tid, &err));
	for (;;) {
		struct rd r;
		size_t len = sizeof(r);
		uint16_t ext = 0;

		memset(&r, 0, sizeof(r));
		if (!fBufNext(fbuf, (uint8_t *)&r, &len, &err)) {
			cr_assert(g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOF), "%s",
				  err->message);
			g_clear_error(&err);
			break;
		}
		fBufGetCollectionTemplate(fbuf, &ext);
		if (ext == REGISTRY_TYPE_TEMPLATE_ID)
			continue;
		cr_assert_lt(n, max);
		out[n].r = r;
		out[n].tid = ext;
		snprintf(out[n].ifname, sizeof(out[n].ifname), "%.*s", (int)r.ifname.len,
			 (char *)r.ifname.buf);
		for (int d = 0; d < ENRICH_DIM_COUNT && model; d++) {
			snprintf(out[n].src[d], 256, "%.*s", (int)r.src[d].len,
				 (char *)r.src[d].buf);
			snprintf(out[n].dst[d], 256, "%.*s", (int)r.dst[d].len,
				 (char *)r.dst[d].buf);
		}
		n++;
	}
	fBufFree(fbuf);
	if (ret_model)
		*ret_model = m;
	else if (!model)
		fbInfoModelFree(m);
	return n;
}

static struct ipfix_encoder *new_encoder(uint16_t max_msg_bytes, bool rfc5610)
{
	struct ipfix_config cfg = {
		.observation_domain = 4242,
		.max_msg_bytes = max_msg_bytes,
		.rfc5610 = rfc5610,
	};
	struct ipfix_encoder *enc = ipfix_encoder_new(reg, &cfg, capture, &n_msgs);

	cr_assert_not_null(enc);
	return enc;
}

/*
 * libfixbuf 2.4's XML reader leaks one small GString per file it parses (inside
 * fbInfoModelReadXMLData); not ours to fix, so LeakSanitizer is told to ignore it. Slow
 * unwinding lets the suppression see past glib's frames, which lack frame pointers.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:fbInfoModelReadXMLData\n";
}

TestSuite(ipfix, .init = setup, .fini = teardown);

Test(ipfix, round_trips_every_field_v4_and_v6)
{
	struct ipfix_encoder *enc = new_encoder(65535, true);
	struct enrich_labels a = labels_of(pod_a), b = labels_of(pod_b);
	struct flow_record r1 = v4_tcp(), r2 = v6_icmp(), r3 = v4_icmp();
	struct got got[8];
	uint8_t want6[16];

	cr_assert_eq(ipfix_encoder_templates(enc, 1700000020000ull), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r1, "veth0", &a, &b, 1700000020000ull), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r2, NULL, &b, NULL, 1700000020000ull), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r3, NULL, NULL, &a, 1700000020000ull), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	/* Template messages (libfixbuf puts options records in their own), then one data. */
	cr_assert_geq(n_msgs, 2);
	for (size_t i = 0; i + 1 < n_msgs; i++)
		cr_assert_eq(msgs[i].kind, IPFIX_MSG_TEMPLATES);
	cr_assert_eq(msgs[n_msgs - 1].kind, IPFIX_MSG_DATA);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->records, 3);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->data_msgs, 1);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->template_msgs, n_msgs - 1);
	/* Header: version 10, length, export time, observation domain. */
	for (size_t i = 0; i < n_msgs; i++) {
		cr_assert_eq(hdr16(&msgs[i], 0), 10);
		cr_assert_eq(hdr16(&msgs[i], 2), msgs[i].len);
		cr_assert_eq(hdr32(&msgs[i], 4), 1700000020u);
		cr_assert_eq(hdr32(&msgs[i], 12), 4242);
	}
	write_file();

	cr_assert_eq(read_back(reg->model, got, 8, NULL), 3);
	/* IPv4 TCP */
	cr_assert_eq(got[0].tid, 256);
	cr_assert_eq(got[0].r.start, 1700000000123ull);
	cr_assert_eq(got[0].r.end, 1700000004567ull);
	cr_assert_eq(got[0].r.packets, 12);
	cr_assert_eq(got[0].r.octets, 3456);
	cr_assert_eq(got[0].r.src4, 0x0a010203);
	cr_assert_eq(got[0].r.dst4, 0xc0a80709);
	cr_assert_eq(got[0].r.sport, 43512);
	cr_assert_eq(got[0].r.dport, 443);
	cr_assert_eq(got[0].r.proto, 6);
	cr_assert_eq(got[0].r.tcp_flags, 0x1b);
	cr_assert_eq(got[0].r.tos, 0x28);
	cr_assert_eq(got[0].r.vlan, 100);
	cr_assert_eq(got[0].r.cvlan, 200);
	cr_assert_eq(got[0].r.ifindex, 17);
	cr_assert_eq(got[0].r.egress, 0);
	cr_assert_eq(got[0].r.direction, 0);
	cr_assert_str_eq(got[0].ifname, "veth0");
	cr_assert_eq(got[0].r.segment, 0);
	cr_assert_eq(got[0].r.icmp4, 0);
	cr_assert_eq(got[0].r.reason, 3);
	for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
		cr_assert_str_eq(got[0].src[d], pod_a[d], "source dim %d", d);
		cr_assert_str_eq(got[0].dst[d], pod_b[d] ? pod_b[d] : "", "destination dim %d", d);
	}
	/* IPv6 ICMPv6: type/code in icmpTypeCodeIPv6, ports 0. */
	cr_assert_eq(got[1].tid, 257);
	inet_pton(AF_INET6, "fd00::1", want6);
	cr_assert_arr_eq(got[1].r.src6, want6, 16);
	inet_pton(AF_INET6, "2001:db8::99", want6);
	cr_assert_arr_eq(got[1].r.dst6, want6, 16);
	cr_assert_eq(got[1].r.src4, 0);
	cr_assert_eq(got[1].r.icmp6, 128 << 8);
	cr_assert_eq(got[1].r.sport, 0);
	cr_assert_eq(got[1].r.dport, 0);
	cr_assert_eq(got[1].r.proto, 58);
	cr_assert_eq(got[1].r.packets, 2);
	cr_assert_eq(got[1].r.octets, 208);
	cr_assert_eq(got[1].r.reason, 1);
	cr_assert_str_eq(got[1].ifname, "");
	cr_assert_str_eq(got[1].src[ENRICH_POD], "pg-0");
	cr_assert_str_eq(got[1].src[ENRICH_POD_LABELS], "{\"app\":\"pg\",\"tier\":\"data\"}");
	cr_assert_str_eq(got[1].dst[ENRICH_POD], "");
	/* IPv4 ICMP: type/code in icmpTypeCodeIPv4, ports 0. */
	cr_assert_eq(got[2].tid, 256);
	cr_assert_eq(got[2].r.icmp4, (3 << 8) | 1);
	cr_assert_eq(got[2].r.sport, 0);
	cr_assert_eq(got[2].r.dport, 0);
	cr_assert_eq(got[2].r.proto, 1);
	cr_assert_str_eq(got[2].src[ENRICH_NAMESPACE], "");
	cr_assert_str_eq(got[2].dst[ENRICH_NAMESPACE], "shop");
	ipfix_encoder_free(enc);
}

Test(ipfix, rfc5610_records_teach_a_collector_our_elements)
{
	struct ipfix_encoder *enc = new_encoder(65535, true);
	struct enrich_labels a = labels_of(pod_a);
	struct flow_record r1 = v4_tcp();
	fbInfoModel_t *learned = NULL;
	const fbInfoElement_t *ie;
	struct got got[2];

	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r1, NULL, &a, &a, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	write_file();
	cr_assert_eq(read_back(NULL, got, 2, &learned), 1);
	cr_assert_eq(got[0].r.sport, 43512);
	for (size_t i = 0; i < reg->n_enterprise; i++) {
		ie = fbInfoModelGetElementByID(learned, reg->enterprise[i]->num, 32473);
		cr_assert_not_null(ie, "element %s not learned", reg->enterprise[i]->ref.name);
		cr_assert_str_eq(ie->ref.name, reg->enterprise[i]->ref.name);
		cr_assert_eq(ie->type, reg->enterprise[i]->type);
	}
	ie = fbInfoModelGetElementByName(learned, "destinationPodLabels");
	cr_assert_not_null(ie);
	cr_assert_eq(ie->num, 110);
	fbInfoModelFree(learned);
	ipfix_encoder_free(enc);
}

static bool run_capture(const char *cmd, char *out, size_t out_size)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	cr_assert_not_null(p);
	n = fread(out, 1, out_size - 1, p);
	out[n] = '\0';
	return pclose(p) == 0;
}

Test(ipfix, ipfixdump_decodes_labels)
{
	struct ipfix_encoder *enc = new_encoder(1400, true);
	struct enrich_labels a = labels_of(pod_a), b = labels_of(pod_b);
	struct flow_record r1 = v4_tcp();
	static char out[1 << 17];
	char cmd[8400];
	gchar *tool = g_find_program_in_path("ipfixDump");

	if (!tool) {
		ipfix_encoder_free(enc);
		cr_skip_test("ipfixDump is not installed");
	}
	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r1, NULL, &a, &b, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	write_file();

	/* Learning the elements from the stream (RFC 5610). */
	snprintf(cmd, sizeof(cmd), "'%s' --rfc5610 --in '%s' 2>&1", tool, file_path);
	cr_assert(run_capture(cmd, out, sizeof(out)), "%s", out);
	cr_assert_not_null(strstr(out, "sourcePodName"), "%s", out);
	cr_assert_not_null(strstr(out, "sourcePodName : (len: 9) cart-7d9f"), "%s", out);
	cr_assert_not_null(strstr(out, "destinationPodName"), "%s", out);
	cr_assert_not_null(strstr(out, "destinationPodName : (len: 4) pg-0"), "%s", out);

	/* Learning them from our XML registry instead. */
	snprintf(cmd, sizeof(cmd), "'%s' --element-file '%s' --in '%s' 2>&1", tool, elements_path,
		 file_path);
	cr_assert(run_capture(cmd, out, sizeof(out)), "%s", out);
	cr_assert_not_null(strstr(out, "destinationPodNamespace"), "%s", out);
	cr_assert_not_null(strstr(out, "destinationPodNamespace : (len: 2) db"), "%s", out);
	g_free(tool);
	ipfix_encoder_free(enc);
}

Test(ipfix, respects_message_size_limit_and_splits_templates)
{
	struct ipfix_encoder *enc = new_encoder(512, true);
	struct enrich_labels a = labels_of(pod_a), b = labels_of(pod_b);
	struct got *got = calloc(64, sizeof(*got));
	size_t n_tmpl = 0, n_data = 0;

	cr_assert_eq(ipfix_encoder_templates(enc, 5000), 0);
	n_tmpl = n_msgs;
	cr_assert_geq(n_tmpl, 3, "template set in %zu messages", n_tmpl);
	for (int i = 0; i < 50; i++) {
		struct flow_record r = i % 2 ? v4_tcp() : v6_icmp();

		r.packets = (uint64_t)i + 1;
		cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, &a, &b, 5000), 0);
	}
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	for (size_t i = 0; i < n_msgs; i++) {
		size_t off = 16;

		cr_assert_leq(msgs[i].len, 512, "message %zu is %zu bytes", i, msgs[i].len);
		cr_assert_eq(hdr16(&msgs[i], 2), msgs[i].len);
		cr_assert_eq(msgs[i].kind, i < n_tmpl ? IPFIX_MSG_TEMPLATES : IPFIX_MSG_DATA);
		n_data += msgs[i].kind == IPFIX_MSG_DATA;
		/* Sets tile the message exactly, and none is empty (v4/v6 switch at a full one). */
		while (off < msgs[i].len) {
			uint16_t set_len = hdr16(&msgs[i], off + 2);

			cr_assert_gt(set_len, 4, "message %zu: empty set at %zu", i, off);
			off += set_len;
		}
		cr_assert_eq(off, msgs[i].len, "message %zu: sets overrun", i);
	}
	cr_assert_gt(n_data, 5);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->data_msgs, n_data);
	write_file();
	cr_assert_eq(read_back(reg->model, got, 64, NULL), 50);
	for (int i = 0; i < 50; i++) {
		cr_assert_eq(got[i].r.packets, (uint64_t)i + 1);
		cr_assert_str_eq(got[i].src[ENRICH_POD], "cart-7d9f");
		cr_assert_str_eq(got[i].dst[ENRICH_POD_LABELS], pod_b[ENRICH_POD_LABELS]);
	}
	free(got);
	ipfix_encoder_free(enc);
}

Test(ipfix, seq_after_counts_data_and_options_records)
{
	struct ipfix_encoder *enc = new_encoder(600, true);
	struct enrich_labels a = labels_of(pod_a);
	uint32_t expect = 0, records_in = 0;

	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	for (int i = 0; i < 20; i++) {
		struct flow_record r = v4_tcp();

		cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, &a, NULL, 1000), 0);
	}
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	cr_assert_gt(n_msgs, 3);
	for (size_t i = 0; i < n_msgs; i++) {
		/* Each message starts where the previous one said the next would. */
		cr_assert_eq(hdr32(&msgs[i], 8), expect, "message %zu", i);
		cr_assert_geq(msgs[i].seq_after, expect);
		if (msgs[i].kind == IPFIX_MSG_DATA)
			records_in += msgs[i].seq_after - expect;
		expect = msgs[i].seq_after;
	}
	/* One RFC 5610 options record per enterprise element, then 20 data records. */
	cr_assert_eq(records_in, 20);
	cr_assert_eq(expect, reg->n_enterprise + 20);
	ipfix_encoder_free(enc);
}

Test(ipfix, without_rfc5610_templates_carry_no_records)
{
	struct ipfix_encoder *enc = new_encoder(65535, false);
	struct flow_record r = v6_icmp();

	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(n_msgs, 1);
	cr_assert_eq(msgs[0].seq_after, 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, NULL, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	cr_assert_eq(n_msgs, 2);
	cr_assert_eq(hdr32(&msgs[1], 8), 0);
	cr_assert_eq(msgs[1].seq_after, 1);
	/* Flushing with nothing pending emits nothing. */
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	cr_assert_eq(n_msgs, 2);
	ipfix_encoder_free(enc);
}

Test(ipfix, oversized_labels_are_dropped_not_the_record)
{
	struct ipfix_encoder *enc = new_encoder(512, false);
	const char *big[ENRICH_DIM_COUNT] = {0};
	struct enrich_labels l;
	struct flow_record r = v4_tcp();
	struct got got[2];
	char json[700];

	memset(json, 'x', sizeof(json) - 1);
	json[sizeof(json) - 1] = '\0';
	big[ENRICH_POD] = "huge-pod";
	big[ENRICH_POD_LABELS] = json;
	memcpy(l.v, big, sizeof(l.v));
	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, &l, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->labels_truncated, 1);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->encode_errors, 0);
	write_file();
	cr_assert_eq(read_back(reg->model, got, 2, NULL), 1);
	cr_assert_str_eq(got[0].src[ENRICH_POD], "huge-pod");
	cr_assert_str_eq(got[0].src[ENRICH_POD_LABELS], "");
	ipfix_encoder_free(enc);
}

Test(ipfix, flow_without_a_template_is_counted)
{
	struct registry *only6;
	struct ipfix_encoder *enc;
	struct ipfix_config cfg = {.observation_domain = 1, .max_msg_bytes = 1400};
	struct flow_record r = v4_tcp();
	char conf[] = "/tmp/lf-ipfix-conf-XXXXXX", err[512];
	int fd = mkstemp(conf);
	const char *text = "templates = ( { name = \"v6\"; id = 300; ip_version = 6; "
			   "elements = [ \"sourceIPv6Address\", \"sourcePodName\" ]; } );\n";

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	only6 = registry_load(elements_path, conf, 0, err, sizeof(err));
	unlink(conf);
	cr_assert_not_null(only6, "%s", err);
	enc = ipfix_encoder_new(only6, &cfg, capture, &n_msgs);
	cr_assert_not_null(enc);
	cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, NULL, NULL, 1000), -EINVAL);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->encode_errors, 1);
	cr_assert_eq(ipfix_encoder_get_stats(enc)->records, 0);
	ipfix_encoder_free(enc);
	registry_free(only6);
}

Test(ipfix, rejects_tiny_message_limit)
{
	struct ipfix_config cfg = {.observation_domain = 1, .max_msg_bytes = 20};

	cr_assert_null(ipfix_encoder_new(reg, &cfg, capture, &n_msgs));
}

Test(ipfix, template_too_big_for_message_fails_cleanly)
{
	struct ipfix_encoder *enc = new_encoder(200, false);
	struct flow_record r = v6_icmp();

	cr_assert_eq(ipfix_encoder_templates(enc, 1000), -EMSGSIZE);
	/* Nothing half-built was handed over; the encoder still works for small records. */
	for (size_t i = 0; i < n_msgs; i++)
		cr_assert_eq(msgs[i].kind, IPFIX_MSG_TEMPLATES);
	cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, NULL, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	cr_assert_eq(msgs[n_msgs - 1].kind, IPFIX_MSG_DATA);
	ipfix_encoder_free(enc);
}

Test(ipfix, egress_and_tunnel_fields)
{
	struct ipfix_encoder *enc = new_encoder(65535, true);
	struct flow_record r = v4_tcp();
	struct got got[2];

	r.key.direction = DECODE_DIR_EGRESS;
	r.key.tunnel_type = DECODE_TUNNEL_VXLAN;
	r.key.tunnel_id = 42;
	r.outer_ip_version = 4;
	memcpy(r.outer_src_addr, (uint8_t[]){192, 168, 50, 1}, 4);
	memcpy(r.outer_dst_addr, (uint8_t[]){192, 168, 50, 2}, 4);
	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r, "eth1", NULL, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	write_file();
	cr_assert_eq(read_back(reg->model, got, 2, NULL), 1);
	cr_assert_eq(got[0].r.ifindex, 0, "ingressInterface stays 0 for an egress flow");
	cr_assert_eq(got[0].r.egress, 17);
	cr_assert_eq(got[0].r.direction, 1);
	cr_assert_eq(got[0].r.segment, 42);
	cr_assert_str_eq(got[0].ifname, "eth1");
	cr_assert_eq(got[0].r.src4, 0x0a010203, "the key stays the inner packet's");
	ipfix_encoder_free(enc);
}

/* ---- biflow and sampling ----------------------------------------------------------- */

static struct ipfix_encoder *new_encoder_cfg(bool biflow, uint32_t sampling_interval)
{
	struct ipfix_config cfg = {
		.observation_domain = 4242,
		.max_msg_bytes = 65535,
		.rfc5610 = true,
		.biflow = biflow,
		.sampling_interval = sampling_interval,
	};
	struct ipfix_encoder *enc = ipfix_encoder_new(reg, &cfg, capture, &n_msgs);

	cr_assert_not_null(enc);
	return enc;
}

/*
 * Template IDs defined in the captured messages, parsed from the bytes (RFC 7011
 * section 3.4): set 2 holds templates, set 3 options templates (scope counts noted).
 */
static size_t defined_templates(uint16_t *tids, uint16_t *scopes, size_t max)
{
	size_t n = 0;

	for (size_t m = 0; m < n_msgs; m++) {
		size_t off = 16; /* message header */

		while (off + 4 <= msgs[m].len) {
			uint16_t set_id = hdr16(&msgs[m], off), set_len = hdr16(&msgs[m], off + 2);
			size_t p = off + 4, end = off + set_len;

			cr_assert_geq(set_len, 4);
			cr_assert_leq(end, msgs[m].len);
			while ((set_id == 2 || set_id == 3) && p + 4 <= end) {
				uint16_t tid = hdr16(&msgs[m], p), count = hdr16(&msgs[m], p + 2);
				uint16_t scope = 0;

				p += 4;
				if (set_id == 3) {
					scope = hdr16(&msgs[m], p);
					p += 2;
				}
				for (uint16_t f = 0; f < count; f++) {
					p += hdr16(&msgs[m], p) & 0x8000 ? 8 : 4;
				}
				cr_assert_lt(n, max);
				tids[n] = tid;
				scopes[n] = scope;
				n++;
			}
			off = end;
		}
	}
	return n;
}

/* Read every record of the file through one internal template; RFC 5610 records skipped. */
static size_t read_with(const fbInfoElementSpec_t *spec, void *out, size_t rec_size, size_t max,
			uint16_t *ret_tids)
{
	fbSession_t *session = fbSessionAlloc(reg->model);
	fbTemplate_t *t = fbTemplateAlloc(reg->model);
	fbCollector_t *coll;
	fBuf_t *fbuf;
	GError *err = NULL;
	uint16_t tid;
	size_t n = 0;

	for (size_t i = 0; spec[i].name; i++)
		cr_assert(fbTemplateAppendSpec(t, (fbInfoElementSpec_t *)&spec[i], 0, &err), "%s",
			  err->message);
	coll = fbCollectorAllocFile(NULL, file_path, &err);
	cr_assert_not_null(coll);
	fbuf = fBufAllocForCollection(session, coll);
	tid = fbSessionAddTemplate(session, TRUE, FB_TID_AUTO, t, &err);
	cr_assert_neq(tid, 0);
	cr_assert(fBufSetInternalTemplate(fbuf, tid, &err));
	for (;;) {
		uint8_t buf[256];
		size_t len = rec_size;
		uint16_t ext = 0;

		cr_assert_leq(rec_size, sizeof(buf));
		memset(buf, 0, sizeof(buf));
		if (!fBufNext(fbuf, buf, &len, &err)) {
			cr_assert(g_error_matches(err, FB_ERROR_DOMAIN, FB_ERROR_EOF), "%s",
				  err->message);
			g_clear_error(&err);
			break;
		}
		fBufGetCollectionTemplate(fbuf, &ext);
		if (ext == REGISTRY_TYPE_TEMPLATE_ID)
			continue;
		cr_assert_lt(n, max);
		memcpy((uint8_t *)out + n * rec_size, buf, rec_size);
		ret_tids[n++] = ext;
	}
	fBufFree(fbuf);
	return n;
}

struct rd_bi {
	uint64_t start, end, rstart, rend, packets, octets, rpackets, roctets;
	uint32_t src4, dst4;
	uint16_t sport, dport, tcp_flags, rtcp_flags;
	uint8_t bdir, dir, reason, pad[5];
};

static const fbInfoElementSpec_t rd_bi_spec[] = {
	{"flowStartMilliseconds", 8, 0},
	{"flowEndMilliseconds", 8, 0},
	{"reverseFlowStartMilliseconds", 8, 0},
	{"reverseFlowEndMilliseconds", 8, 0},
	{"packetDeltaCount", 8, 0},
	{"octetDeltaCount", 8, 0},
	{"reversePacketDeltaCount", 8, 0},
	{"reverseOctetDeltaCount", 8, 0},
	{"sourceIPv4Address", 4, 0},
	{"destinationIPv4Address", 4, 0},
	{"sourceTransportPort", 2, 0},
	{"destinationTransportPort", 2, 0},
	{"tcpControlBits", 2, 0},
	{"reverseTcpControlBits", 2, 0},
	{"biflowDirection", 1, 0},
	{"flowDirection", 1, 0},
	{"flowEndReason", 1, 0},
	{"paddingOctets", 5, 0},
	FB_IESPEC_NULL,
};

_Static_assert(sizeof(struct rd_bi) == 8 * 8 + 2 * 4 + 4 * 2 + 3 + 5, "packed like libfixbuf");

Test(ipfix, biflow_mode_sends_biflow_templates_with_reverse_elements)
{
	struct ipfix_encoder *enc = new_encoder_cfg(true, 0);
	struct enrich_labels a = labels_of(pod_a), b = labels_of(pod_b);
	struct flow_record r1 = v4_tcp(), r2 = v6_icmp();
	struct rd_bi got[4];
	uint16_t tids[8], scopes[8], got_tids[4];
	size_t n;

	r1.rev_packets = 9;
	r1.rev_octets = 7000;
	r1.rev_tcp_flags = 0x12;
	r1.rev_start_ms = 1700000000125ull;
	r1.rev_end_ms = 1700000004000ull;
	r1.biflow_direction = 1;
	r1.key.direction = DECODE_DIR_EGRESS;
	r2.rev_packets = 2;
	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r1, "veth1", &a, &b, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r2, NULL, NULL, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);

	/* Only the biflow pair goes out (and the RFC 5610 options template). */
	n = defined_templates(tids, scopes, 8);
	cr_assert_eq(n, 3);
	cr_assert_eq(tids[0], REGISTRY_TYPE_TEMPLATE_ID);
	cr_assert_eq(tids[1], 258);
	cr_assert_eq(tids[2], 259);
	cr_assert_eq(scopes[1] + scopes[2], 0);

	write_file();
	cr_assert_eq(read_with(rd_bi_spec, got, sizeof(got[0]), 4, got_tids), 2);
	cr_assert_eq(got_tids[0], 258);
	cr_assert_eq(got[0].packets, 12);
	cr_assert_eq(got[0].octets, 3456);
	cr_assert_eq(got[0].rpackets, 9);
	cr_assert_eq(got[0].roctets, 7000);
	cr_assert_eq(got[0].tcp_flags, 0x1b);
	cr_assert_eq(got[0].rtcp_flags, 0x12);
	cr_assert_eq(got[0].start, 1700000000123ull);
	cr_assert_eq(got[0].end, 1700000004567ull);
	cr_assert_eq(got[0].rstart, 1700000000125ull);
	cr_assert_eq(got[0].rend, 1700000004000ull);
	cr_assert_eq(got[0].src4, 0x0a010203);
	cr_assert_eq(got[0].sport, 43512);
	cr_assert_eq(got[0].bdir, 1);
	cr_assert_eq(got[0].dir, 1);
	cr_assert_eq(got[0].reason, 3);
	cr_assert_eq(got_tids[1], 259);
	cr_assert_eq(got[1].packets, 2);
	cr_assert_eq(got[1].rpackets, 2);
	cr_assert_eq(got[1].rstart, 0);
	cr_assert_eq(got[1].bdir, 0);
	ipfix_encoder_free(enc);
}

Test(ipfix, uniflow_mode_sends_only_uniflow_templates)
{
	struct ipfix_encoder *enc = new_encoder_cfg(false, 1);
	uint16_t tids[8], scopes[8];

	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(defined_templates(tids, scopes, 8), 3);
	cr_assert_eq(tids[0], REGISTRY_TYPE_TEMPLATE_ID);
	cr_assert_eq(tids[1], 256);
	cr_assert_eq(tids[2], 257);
	/* Interval 1 is "not sampled": no selector report, so only RFC 5610 records. */
	cr_assert_eq(msgs[n_msgs - 1].seq_after, reg->n_enterprise);
	ipfix_encoder_free(enc);
}

struct rd_samp {
	uint64_t selector_id;
	uint32_t packet_interval, packet_space, interval;
	uint16_t selector_algorithm;
	uint8_t algorithm, pad;
};

static const fbInfoElementSpec_t rd_samp_spec[] = {
	{"selectorId", 8, 0},	       {"samplingPacketInterval", 4, 0},
	{"samplingPacketSpace", 4, 0}, {"samplingInterval", 4, 0},
	{"selectorAlgorithm", 2, 0},   {"samplingAlgorithm", 1, 0},
	{"paddingOctets", 1, 0},       FB_IESPEC_NULL,
};

/* A place in the captured messages: message index, byte offset. */
struct wire_pos {
	size_t m, off;
};

static bool pos_before(struct wire_pos a, struct wire_pos b)
{
	return a.m < b.m || (a.m == b.m && a.off < b.off);
}

/*
 * Where template tid is first defined (set 2 or 3) in messages first..n_msgs-1: its
 * template record, and ret_set_end the end of the set holding it. false when undefined.
 */
static bool find_template(size_t first, uint16_t tid, struct wire_pos *ret_pos,
			  struct wire_pos *ret_set_end)
{
	for (size_t m = first; m < n_msgs; m++) {
		size_t off = 16;

		while (off + 4 <= msgs[m].len) {
			uint16_t set_id = hdr16(&msgs[m], off), set_len = hdr16(&msgs[m], off + 2);
			size_t p = off + 4, end = off + set_len;

			cr_assert_geq(set_len, 4);
			while ((set_id == 2 || set_id == 3) && p + 4 <= end) {
				uint16_t count = hdr16(&msgs[m], p + 2);
				size_t rec = p;

				p += set_id == 3 ? 6 : 4;
				for (uint16_t f = 0; f < count; f++)
					p += hdr16(&msgs[m], p) & 0x8000 ? 8 : 4;
				if (hdr16(&msgs[m], rec) == tid) {
					*ret_pos = (struct wire_pos){m, rec};
					*ret_set_end = (struct wire_pos){m, end};
					return true;
				}
			}
			off = end;
		}
	}
	return false;
}

/* The first data set with ID tid at or after from; false when there is none. */
static bool find_data_set(struct wire_pos from, uint16_t tid, struct wire_pos *ret_pos)
{
	for (size_t m = from.m; m < n_msgs; m++) {
		size_t off = m == from.m ? from.off : 16;

		while (off + 4 <= msgs[m].len) {
			cr_assert_geq(hdr16(&msgs[m], off + 2), 4);
			if (hdr16(&msgs[m], off) == tid) {
				*ret_pos = (struct wire_pos){m, off};
				return true;
			}
			off += hdr16(&msgs[m], off + 2);
		}
	}
	return false;
}

/* Write v as n big-endian octets at p; returns n. */
static size_t put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return n;
}

/* The bytes at pos equal want[0..n). */
static void expect_bytes(struct wire_pos pos, const uint8_t *want, size_t n, const char *what)
{
	const struct captured *c = &msgs[pos.m];

	cr_assert_leq(pos.off + n, c->len, "%s: past the end of message %zu", what, pos.m);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(c->buf[pos.off + i], want[i], "%s: byte %zu is %#x, want %#x", what, i,
			     c->buf[pos.off + i], want[i]);
}

/*
 * The two sampling reports of the template set that starts at message first, byte for
 * byte (RFC 7011 3.4.2.2 and 3.4.3): options template 260 alone in its set, its record,
 * then 261 alone in its set, its record. Alone, because nfdump 1.7 loses an options
 * template that follows 260 in the same set. The IANA element numbers are the ones
 * collectors match on: nfdump 1.7 scales by samplingInterval (34) scoped by
 * observationDomainId (149), and by nothing else of ours.
 */
static void expect_sampling_sets(size_t first, uint32_t n)
{
	static const uint8_t tmpl260[] = {
		1, 4,  0, 6, 0, 1, /* 260, 6 fields, scope 1 */
		1, 46, 0, 8,	   /* selectorId (302), 8 octets */
		1, 48, 0, 2,	   /* selectorAlgorithm (304) */
		1, 49, 0, 4,	   /* samplingPacketInterval (305) */
		1, 50, 0, 4,	   /* samplingPacketSpace (306) */
		0, 35, 0, 1,	   /* samplingAlgorithm (35) */
		0, 34, 0, 4,	   /* samplingInterval (34) */
	};
	static const uint8_t tmpl261[] = {
		1, 5,	0, 2, 0, 1, /* 261, 2 fields, scope 1 */
		0, 149, 0, 4,	    /* observationDomainId (149), 4 octets */
		0, 34,	0, 4,	    /* samplingInterval (34), 4 octets */
	};
	uint8_t rec260[4 + 23], rec261[4 + 8];
	struct wire_pos t260, t261, end260, end261, d260, d261;
	size_t k = 0;

	k += put_be(rec260 + k, 260, 2); /* set 260, one 23-octet record */
	k += put_be(rec260 + k, sizeof(rec260), 2);
	k += put_be(rec260 + k, 1, 8);	   /* selectorId 1 */
	k += put_be(rec260 + k, 1, 2);	   /* systematic count-based */
	k += put_be(rec260 + k, 1, 4);	   /* one packet taken ... */
	k += put_be(rec260 + k, n - 1, 4); /* ... then N - 1 skipped */
	k += put_be(rec260 + k, 1, 1);	   /* deterministic */
	k += put_be(rec260 + k, n, 4);	   /* N */
	cr_assert_eq(k, sizeof(rec260));
	k = 0;
	k += put_be(rec261 + k, 261, 2); /* set 261, one 8-octet record */
	k += put_be(rec261 + k, sizeof(rec261), 2);
	k += put_be(rec261 + k, 4242, 4); /* observationDomainId: the header's */
	k += put_be(rec261 + k, n, 4);	  /* N */
	cr_assert_eq(k, sizeof(rec261));

	cr_assert(find_template(first, 260, &t260, &end260), "no template 260");
	cr_assert(find_template(first, 261, &t261, &end261), "no template 261");
	/* Each an options set (3) of exactly one template record. */
	cr_assert_eq(hdr16(&msgs[t260.m], t260.off - 4), 3, "260 is an options template");
	cr_assert_eq(end260.off - (t260.off - 4), 4 + sizeof(tmpl260), "260 alone in its set");
	cr_assert_eq(hdr16(&msgs[t261.m], t261.off - 4), 3, "261 is an options template");
	cr_assert_eq(end261.off - (t261.off - 4), 4 + sizeof(tmpl261), "261 alone in its set");
	expect_bytes(t260, tmpl260, sizeof(tmpl260), "options template 260");
	expect_bytes(t261, tmpl261, sizeof(tmpl261), "options template 261");
	cr_assert(find_data_set(end260, 260, &d260), "no data set 260 after its template");
	expect_bytes(d260, rec260, sizeof(rec260), "selector report (260)");
	cr_assert(pos_before(d260, t261), "260's record comes before template 261");
	cr_assert(find_data_set(end261, 261, &d261), "no data set 261 after its template");
	expect_bytes(d261, rec261, sizeof(rec261), "interval report (261)");
	for (size_t m = first; m <= d261.m; m++)
		cr_assert_eq(hdr32(&msgs[m], 12), 4242, "message %zu: observation domain", m);
}

Test(ipfix, sampling_sends_both_reports_with_the_templates)
{
	struct ipfix_encoder *enc = new_encoder_cfg(false, 10);
	struct flow_record r = v4_tcp();
	struct rd_samp got[8];
	uint16_t tids[8], scopes[8], got_tids[8];
	uint32_t records = 0;
	size_t first_refresh;

	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	/* Every template message, and each report is counted like a data record. */
	for (size_t i = 0; i < n_msgs; i++)
		cr_assert_eq(msgs[i].kind, IPFIX_MSG_TEMPLATES);
	records = msgs[n_msgs - 1].seq_after;
	cr_assert_eq(records, reg->n_enterprise + 2);
	cr_assert_eq(defined_templates(tids, scopes, 8), 5);
	cr_assert_eq(tids[3], 260);
	cr_assert_eq(scopes[3], 1);
	cr_assert_eq(tids[4], 261);
	cr_assert_eq(scopes[4], 1);
	expect_sampling_sets(0, 10);
	cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, NULL, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	cr_assert_eq(msgs[n_msgs - 1].kind, IPFIX_MSG_DATA);
	cr_assert_eq(hdr32(&msgs[n_msgs - 1], 8), records);

	/* A refresh sends both templates and reports again, with the same values. */
	first_refresh = n_msgs;
	cr_assert_eq(ipfix_encoder_templates(enc, 2000), 0);
	expect_sampling_sets(first_refresh, 10);
	write_file();
	/* libfixbuf reads both through one internal template: 261 fills only the interval. */
	cr_assert_eq(read_with(rd_samp_spec, got, sizeof(got[0]), 8, got_tids), 5);
	for (int i = 0; i < 5; i += 3) {
		cr_assert_eq(got_tids[i], 260);
		cr_assert_eq(got[i].selector_id, 1);
		cr_assert_eq(got[i].selector_algorithm, 1, "systematic count-based");
		cr_assert_eq(got[i].packet_interval, 1);
		cr_assert_eq(got[i].packet_space, 9);
		cr_assert_eq(got[i].interval, 10);
		cr_assert_eq(got[i].algorithm, 1, "deterministic");
		cr_assert_eq(got_tids[i + 1], 261);
		cr_assert_eq(got[i + 1].interval, 10);
		cr_assert_eq(got[i + 1].selector_id, 0);
		cr_assert_eq(got[i + 1].packet_space, 0);
	}
	cr_assert_eq(got_tids[2], 256, "the flow record in between");
	cr_assert_eq(got[2].selector_id, 0);
	ipfix_encoder_free(enc);
}

/* UDP-sized messages: the set spreads over several, each report still after its template. */
Test(ipfix, sampling_reports_follow_their_templates_in_small_messages)
{
	struct ipfix_config cfg = {
		.observation_domain = 4242,
		.max_msg_bytes = 512,
		.rfc5610 = true,
		.sampling_interval = 1000000,
	};
	struct ipfix_encoder *enc = ipfix_encoder_new(reg, &cfg, capture, &n_msgs);

	cr_assert_not_null(enc);
	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_gt(n_msgs, 2, "the template set needs several 512-byte messages");
	for (size_t i = 0; i < n_msgs; i++) {
		cr_assert_leq(msgs[i].len, 512);
		cr_assert_eq(msgs[i].kind, IPFIX_MSG_TEMPLATES);
	}
	cr_assert_eq(msgs[n_msgs - 1].seq_after, reg->n_enterprise + 2);
	expect_sampling_sets(0, 1000000);
	ipfix_encoder_free(enc);
}

Test(ipfix, ipfixdump_decodes_biflow_and_selector_report)
{
	struct ipfix_encoder *enc = new_encoder_cfg(true, 4);
	struct flow_record r = v4_tcp();
	static char out[1 << 17];
	char cmd[8400];
	gchar *tool = g_find_program_in_path("ipfixDump");

	if (!tool) {
		ipfix_encoder_free(enc);
		cr_skip_test("ipfixDump is not installed");
	}
	r.rev_packets = 77;
	r.rev_octets = 8888;
	cr_assert_eq(ipfix_encoder_templates(enc, 1000), 0);
	cr_assert_eq(ipfix_encoder_add(enc, &r, NULL, NULL, NULL, 1000), 0);
	cr_assert_eq(ipfix_encoder_flush(enc), 0);
	write_file();
	snprintf(cmd, sizeof(cmd), "'%s' --rfc5610 --in '%s' 2>&1", tool, file_path);
	cr_assert(run_capture(cmd, out, sizeof(out)), "%s", out);
	cr_assert_not_null(strstr(out, "reversePacketDeltaCount : 77"), "%s", out);
	cr_assert_not_null(strstr(out, "reverseOctetDeltaCount : 8888"), "%s", out);
	cr_assert_not_null(strstr(out, "samplingPacketSpace : 3"), "%s", out);
	cr_assert_not_null(strstr(out, "samplingInterval : 4"), "%s", out);
	cr_assert_not_null(strstr(out, "observationDomainId : 4242"), "%s", out);
	g_free(tool);
	ipfix_encoder_free(enc);
}

Test(ipfix, missing_kind_templates_fail_at_creation)
{
	struct registry *uni;
	struct ipfix_config cfg = {.observation_domain = 1, .max_msg_bytes = 1400};
	char conf[] = "/tmp/lf-ipfix-conf-XXXXXX", err[512];
	int fd = mkstemp(conf);
	const char *text = "templates = ( { name = \"v4\"; id = 300; ip_version = 4; "
			   "elements = [ \"sourceIPv4Address\" ]; } );\n";

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	uni = registry_load(elements_path, conf, 0, err, sizeof(err));
	unlink(conf);
	cr_assert_not_null(uni, "%s", err);
	cfg.biflow = true;
	cr_assert_null(ipfix_encoder_new(uni, &cfg, capture, &n_msgs));
	cfg.biflow = false;
	cfg.sampling_interval = 100;
	cr_assert_null(ipfix_encoder_new(uni, &cfg, capture, &n_msgs));
	cfg.sampling_interval = 1;
	ipfix_encoder_free(ipfix_encoder_new(uni, &cfg, capture, &n_msgs));
	registry_free(uni);
}
