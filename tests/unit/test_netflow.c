// SPDX-License-Identifier: Apache-2.0
/*
 * netflow: encodes records through the real registry, captures the emitted packets and
 * reads them back byte by byte: v9 headers, template flowsets (RFC 3954 field types),
 * data flowsets parsed through the templates the encoder sent, v5 headers and records,
 * times rebuilt as a collector does (unix time - sysUptime + FIRST_SWITCHED), and the
 * sampling report (v9 options template and record, v5 header field) byte by byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "netflow.h"

#define MAX_MSGS   4096
#define MAX_FIELDS 64

/* RFC 3954 field types: the wire protocol the collectors speak. */
enum {
	IN_BYTES = 1,
	IN_PKTS = 2,
	PROTOCOL = 4,
	SRC_TOS = 5,
	TCP_FLAGS = 6,
	L4_SRC_PORT = 7,
	IPV4_SRC_ADDR = 8,
	INPUT_SNMP = 10,
	L4_DST_PORT = 11,
	IPV4_DST_ADDR = 12,
	OUTPUT_SNMP = 14,
	LAST_SWITCHED = 21,
	FIRST_SWITCHED = 22,
	IPV6_SRC_ADDR = 27,
	IPV6_DST_ADDR = 28,
	ICMP_TYPE = 32,
	SRC_VLAN = 58,
	IP_PROTOCOL_VERSION = 60,
	DIRECTION = 61,
	IF_NAME = 82,
};

struct captured {
	uint8_t *buf;
	size_t len;
	bool is_template;
	uint32_t seq_after;
};

static struct captured msgs[MAX_MSGS];
static size_t n_msgs;
static struct registry *reg;
static char datadir[4096], elements_path[4200], templates_path[4200];
static char tmpdir[] = "/tmp/lf-netflow-XXXXXX";

static int capture(const uint8_t *msg, size_t len, bool is_template, uint32_t seq_after, void *user)
{
	cr_assert_eq(user, (void *)&n_msgs);
	cr_assert_lt(n_msgs, MAX_MSGS);
	msgs[n_msgs].buf = malloc(len);
	memcpy(msgs[n_msgs].buf, msg, len);
	msgs[n_msgs].len = len;
	msgs[n_msgs].is_template = is_template;
	msgs[n_msgs].seq_after = seq_after;
	n_msgs++;
	return 0;
}

static void setup(void)
{
	const char *env = getenv("LABELFLOW_DATADIR");
	char src[4096], err[512];

	snprintf(src, sizeof(src), "%s", __FILE__);
	if (env && *env)
		snprintf(datadir, sizeof(datadir), "%s", env);
	else
		snprintf(datadir, sizeof(datadir), "%s/../../templates", dirname(src));
	snprintf(elements_path, sizeof(elements_path), "%s/labelflow-elements.xml", datadir);
	snprintf(templates_path, sizeof(templates_path), "%s/labelflow-templates.conf", datadir);
	reg = registry_load(elements_path, templates_path, 0, err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	cr_assert_not_null(mkdtemp(tmpdir));
	n_msgs = 0;
}

static void teardown(void)
{
	char cmd[128];

	for (size_t i = 0; i < n_msgs; i++)
		free(msgs[i].buf);
	n_msgs = 0;
	registry_free(reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(netflow, .init = setup, .fini = teardown);

/* ---- wire helpers ------------------------------------------------------------------ */

static uint16_t g16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)g16(p) << 16 | g16(p + 2);
}

static uint64_t g64(const uint8_t *p)
{
	return (uint64_t)g32(p) << 32 | g32(p + 4);
}

struct tmpl {
	uint16_t id, n;
	uint16_t type[MAX_FIELDS], len[MAX_FIELDS];
	size_t rec_len;
};

/* One data record as a collector sees it. */
struct rec {
	const struct tmpl *t;
	const uint8_t *p;
	const uint8_t *hdr; /* the packet's header */
};

static struct tmpl tmpls[2];
static struct rec recs[MAX_MSGS * 4];
static size_t n_recs;
/* Options flowsets (ID 1) and options data flowsets (ID 258), as sent, per packet. */
struct flowset {
	const uint8_t *p; /* from the flowset header on */
	size_t len;
	size_t msg;
};
static struct flowset opt_tmpls[MAX_MSGS], opt_data[MAX_MSGS];
static size_t n_opt_tmpls, n_opt_data;

/* Learn templates from every template flowset, collect every data record. */
static void parse_v9(void)
{
	n_recs = n_opt_tmpls = n_opt_data = 0;
	for (size_t m = 0; m < n_msgs; m++) {
		const uint8_t *b = msgs[m].buf;
		size_t off = 20, count = 0;

		cr_assert_geq(msgs[m].len, 20);
		cr_assert_eq(g16(b), 9);
		while (off < msgs[m].len) {
			uint16_t id = g16(b + off), len = g16(b + off + 2);
			size_t end = off + len;

			cr_assert_geq(len, 4);
			cr_assert_eq(len % 4, 0, "flowset length %u not padded to 4", len);
			cr_assert_leq(end, msgs[m].len);
			if (id == 0) {
				for (size_t p = off + 4; p < end; count++) {
					uint16_t tid = g16(b + p), nf = g16(b + p + 2);
					struct tmpl *t = &tmpls[tid == 257];

					cr_assert(tid == 256 || tid == 257);
					cr_assert_leq(nf, MAX_FIELDS);
					t->id = tid;
					t->n = nf;
					t->rec_len = 0;
					for (uint16_t i = 0; i < nf; i++) {
						t->type[i] = g16(b + p + 4 + 4 * i);
						t->len[i] = g16(b + p + 6 + 4 * i);
						t->rec_len += t->len[i];
					}
					p += 4 + 4 * (size_t)nf;
				}
			} else if (id == 1) {
				/* One options template of one scope and one option field. */
				cr_assert_eq(len, 20, "options flowset: 18 bytes + 2 padding");
				opt_tmpls[n_opt_tmpls++] = (struct flowset){b + off, len, m};
				count++;
			} else if (id == NETFLOW_V9_TEMPLATE_SAMPLING) {
				cr_assert_gt(n_opt_tmpls, 0, "options data before its template");
				cr_assert_eq(len, 12, "one options record of 8 bytes");
				opt_data[n_opt_data++] = (struct flowset){b + off, len, m};
				count++;
			} else {
				const struct tmpl *t = &tmpls[id == 257];
				size_t p = off + 4;

				cr_assert_eq(t->id, id, "data before its template");
				for (; p + t->rec_len <= end; p += t->rec_len, count++)
					recs[n_recs++] = (struct rec){t, b + p, b};
				cr_assert_lt(end - p, 4, "more padding than needed");
				for (; p < end; p++)
					cr_assert_eq(b[p], 0, "padding not zero");
			}
			off = end;
		}
		cr_assert_eq(off, msgs[m].len);
		cr_assert_eq(g16(b + 2), count, "header count");
	}
}

/* The field of this type in rec (its length in *ret_len), or NULL. */
static const uint8_t *field(const struct rec *r, uint16_t type, size_t *ret_len)
{
	size_t off = 0;

	for (uint16_t i = 0; i < r->t->n; i++) {
		if (r->t->type[i] == type) {
			if (ret_len)
				*ret_len = r->t->len[i];
			return r->p + off;
		}
		off += r->t->len[i];
	}
	return NULL;
}

static uint64_t uval(const struct rec *r, uint16_t type)
{
	size_t len = 0;
	const uint8_t *p = field(r, type, &len);

	cr_assert_not_null(p, "no field %u", type);
	switch (len) {
	case 1:
		return *p;
	case 2:
		return g16(p);
	case 4:
		return g32(p);
	case 8:
		return g64(p);
	}
	cr_assert_fail("field %u has length %zu", type, len);
	return 0;
}

/* A string field: its bytes up to the first zero, and the field must be zero after it. */
static void sval(const struct rec *r, uint16_t type, char *out, size_t out_size)
{
	size_t len = 0, n;
	const uint8_t *p = field(r, type, &len);

	cr_assert_not_null(p, "no field %u", type);
	cr_assert_lt(len, out_size);
	n = strnlen((const char *)p, len);
	memcpy(out, p, n);
	out[n] = 0;
	for (size_t i = n; i < len; i++)
		cr_assert_eq(p[i], 0, "field %u not zero-padded", type);
}

/* What a collector computes: boot = unix_secs*1000 (+ nsecs for v5) - sysUptime. */
static uint64_t boot_of(const uint8_t *hdr)
{
	uint64_t t = (uint64_t)g32(hdr + 8) * 1000;

	if (g16(hdr) == 5)
		t += g32(hdr + 12) / 1000000;
	return t - g32(hdr + 4);
}

static uint16_t label_type(const char *name)
{
	const fbInfoElement_t *ie = fbInfoModelGetElementByName(reg->model, name);

	cr_assert_not_null(ie, "%s", name);
	return (uint16_t)(NETFLOW_DEFAULT_LABEL_BASE + ie->num);
}

/* ---- records used by the tests ---------------------------------------------------- */

#define T0 1700000000000ull

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
	r.start_ms = T0 + 123;
	r.end_ms = T0 + 4567;
	r.packets = 12;
	r.octets = 3456;
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
	r.key.dst_port = (128 << 8) | 0; /* echo request */
	r.key.ifindex = 70000;
	r.key.direction = 1; /* egress */
	r.start_ms = T0 + 10000;
	r.end_ms = T0 + 10500;
	r.packets = 2;
	r.octets = 208;
	return r;
}

static struct netflow_config v9_config(void)
{
	struct netflow_config c;

	netflow_config_defaults(&c);
	c.observation_domain = 0x01020304;
	return c;
}

static struct netflow_encoder *v9_new(const struct netflow_config *c, uint64_t now)
{
	struct netflow_encoder *enc = netflow_encoder_new(reg, c, capture, &n_msgs, now);

	cr_assert_not_null(enc);
	cr_assert_eq(netflow_encoder_templates(enc, now), 0);
	return enc;
}

/* ---- v9 ----------------------------------------------------------------------------- */

Test(netflow, v9_template_packet)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc = v9_new(&c, T0 + 20000);
	static const uint16_t std4[][2] = {
		{IN_BYTES, 8},	     {IN_PKTS, 8},
		{FIRST_SWITCHED, 4}, {LAST_SWITCHED, 4},
		{IPV4_SRC_ADDR, 4},  {IPV4_DST_ADDR, 4},
		{INPUT_SNMP, 4},     {OUTPUT_SNMP, 4},
		{L4_SRC_PORT, 2},    {L4_DST_PORT, 2},
		{ICMP_TYPE, 2},	     {PROTOCOL, 1},
		{SRC_TOS, 1},	     {TCP_FLAGS, 1},
		{SRC_VLAN, 2},	     {IP_PROTOCOL_VERSION, 1},
		{DIRECTION, 1},	     {IF_NAME, 16},
	};
	const uint8_t *b;
	size_t n_labels = 0, want = 0, i;

	cr_assert_eq(n_msgs, 1);
	b = msgs[0].buf;
	cr_assert_eq(g16(b), 9);
	cr_assert_eq(g16(b + 2), 2, "two template records");
	cr_assert_eq(g32(b + 8), (T0 + 20000) / 1000);
	cr_assert_eq(g32(b + 4), 0, "boot is the encoder's start");
	cr_assert_eq(g32(b + 12), 0, "first packet: sequence 0");
	cr_assert_eq(g32(b + 16), 0x01020304);
	cr_assert_eq(msgs[0].seq_after, 1);
	cr_assert_eq(g16(b + 20), 0, "template flowset");
	cr_assert_eq(g16(b + 22), msgs[0].len - 20);
	parse_v9();
	cr_assert_eq(tmpls[0].id, 256);
	cr_assert_eq(tmpls[1].id, 257);
	for (i = 0; i < sizeof(std4) / sizeof(std4[0]); i++) {
		cr_assert_eq(tmpls[0].type[i], std4[i][0], "field %zu", i);
		cr_assert_eq(tmpls[0].len[i], std4[i][1], "field %zu", i);
	}
	/* IPv6: the same with 16-byte addresses. */
	cr_assert_eq(tmpls[1].type[4], IPV6_SRC_ADDR);
	cr_assert_eq(tmpls[1].len[4], 16);
	cr_assert_eq(tmpls[1].type[5], IPV6_DST_ADDR);
	cr_assert_eq(tmpls[1].n, tmpls[0].n);
	/* Labels after the standard fields, in the registry template's order. */
	for (; i < tmpls[0].n; i++, n_labels++)
		cr_assert_geq(tmpls[0].type[i], NETFLOW_DEFAULT_LABEL_BASE);
	cr_assert_eq(tmpls[0].type[sizeof(std4) / sizeof(std4[0])], 48001, "sourceClusterName");
	cr_assert_eq(tmpls[0].len[sizeof(std4) / sizeof(std4[0])], 32);
	for (i = 0; i < tmpls[0].n && tmpls[0].type[i] != 48101; i++)
		;
	cr_assert_lt(i, tmpls[0].n, "destinationClusterName is 48101");
	/* Every default label of both ends (the registry's templates carry them all). */
	for (int d = 0; d < ENRICH_DIM_COUNT; d++)
		want += netflow_default_label_bytes(d) ? 2 : 0;
	cr_assert_eq(n_labels, want);
	cr_assert_eq(want, 28, "14 dimensions have a default length");
	netflow_encoder_free(enc);
}

Test(netflow, v9_ipv4_record)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc = v9_new(&c, T0 + 20000);
	struct flow_record r = v4_tcp();
	struct enrich_labels a = labels_of(pod_a);
	char s[256];

	cr_assert_eq(netflow_encoder_add(enc, &r, "veth1a2b", &a, NULL, T0 + 20000), 0);
	cr_assert_eq(netflow_encoder_flush(enc), 0);
	cr_assert_eq(n_msgs, 2);
	cr_assert_eq(g32(msgs[1].buf + 12), 1, "second packet: sequence 1");
	cr_assert_eq(msgs[1].seq_after, 2);
	parse_v9();
	cr_assert_eq(n_recs, 1);
	cr_assert_eq(recs[0].t->id, 256);
	cr_assert_eq(uval(&recs[0], IN_BYTES), 3456);
	cr_assert_eq(uval(&recs[0], IN_PKTS), 12);
	cr_assert_eq(uval(&recs[0], IPV4_SRC_ADDR), 0x0a010203);
	cr_assert_eq(uval(&recs[0], IPV4_DST_ADDR), 0xc0a80709);
	cr_assert_eq(uval(&recs[0], L4_SRC_PORT), 43512);
	cr_assert_eq(uval(&recs[0], L4_DST_PORT), 443);
	cr_assert_eq(uval(&recs[0], ICMP_TYPE), 0);
	cr_assert_eq(uval(&recs[0], PROTOCOL), 6);
	cr_assert_eq(uval(&recs[0], SRC_TOS), 0x28);
	cr_assert_eq(uval(&recs[0], TCP_FLAGS), 0x1b);
	cr_assert_eq(uval(&recs[0], SRC_VLAN), 100);
	cr_assert_eq(uval(&recs[0], INPUT_SNMP), 17);
	cr_assert_eq(uval(&recs[0], OUTPUT_SNMP), 0);
	cr_assert_eq(uval(&recs[0], IP_PROTOCOL_VERSION), 4);
	cr_assert_eq(uval(&recs[0], DIRECTION), 0);
	cr_assert_eq(boot_of(recs[0].hdr) + uval(&recs[0], FIRST_SWITCHED), r.start_ms);
	cr_assert_eq(boot_of(recs[0].hdr) + uval(&recs[0], LAST_SWITCHED), r.end_ms);
	cr_assert_leq(uval(&recs[0], LAST_SWITCHED), g32(recs[0].hdr + 4), "last <= sysUptime");
	sval(&recs[0], IF_NAME, s, sizeof(s));
	cr_assert_str_eq(s, "veth1a2b");
	sval(&recs[0], label_type("sourcePodNamespace"), s, sizeof(s));
	cr_assert_str_eq(s, "shop");
	sval(&recs[0], label_type("sourceWorkloadKind"), s, sizeof(s));
	cr_assert_str_eq(s, "Deployment");
	sval(&recs[0], label_type("sourceEntityKind"), s, sizeof(s));
	cr_assert_str_eq(s, "pod");
	sval(&recs[0], label_type("destinationPodNamespace"), s, sizeof(s));
	cr_assert_str_eq(s, "", "no labels for the destination");
	cr_assert_null(field(&recs[0], label_type("sourcePodLabels"), NULL), "off by default");
	cr_assert_eq(netflow_encoder_get_stats(enc)->records, 1);
	cr_assert_eq(netflow_encoder_get_stats(enc)->strings_truncated, 0);
	netflow_encoder_free(enc);
}

Test(netflow, v9_ipv6_icmp_record)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc = v9_new(&c, T0 + 20000);
	struct flow_record r = v6_icmp();
	struct enrich_labels a = labels_of(pod_a);
	const uint8_t *p;
	char s[256];
	size_t len;

	cr_assert_eq(netflow_encoder_add(enc, &r, NULL, NULL, &a, T0 + 20000), 0);
	netflow_encoder_flush(enc);
	parse_v9();
	cr_assert_eq(n_recs, 1);
	cr_assert_eq(recs[0].t->id, 257);
	p = field(&recs[0], IPV6_SRC_ADDR, &len);
	cr_assert_eq(len, 16);
	cr_assert_arr_eq(p, r.key.src_addr, 16);
	p = field(&recs[0], IPV6_DST_ADDR, &len);
	cr_assert_arr_eq(p, r.key.dst_addr, 16);
	cr_assert_null(field(&recs[0], IPV4_SRC_ADDR, NULL));
	cr_assert_eq(uval(&recs[0], ICMP_TYPE), 128 << 8, "ICMPv6 type << 8 | code");
	cr_assert_eq(uval(&recs[0], L4_DST_PORT), 0);
	cr_assert_eq(uval(&recs[0], OUTPUT_SNMP), 70000, "egress: the interface is the output");
	cr_assert_eq(uval(&recs[0], INPUT_SNMP), 0);
	cr_assert_eq(uval(&recs[0], DIRECTION), 1);
	cr_assert_eq(uval(&recs[0], IP_PROTOCOL_VERSION), 6);
	sval(&recs[0], IF_NAME, s, sizeof(s));
	cr_assert_str_eq(s, "");
	sval(&recs[0], label_type("destinationPodName"), s, sizeof(s));
	cr_assert_str_eq(s, "cart-7d9f");
	sval(&recs[0], label_type("destinationInstanceId"), s, sizeof(s));
	cr_assert_str_eq(s, "i-0abc");
	netflow_encoder_free(enc);
}

Test(netflow, v9_label_truncated_at_utf8_boundary)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;
	struct flow_record r = v4_tcp();
	struct enrich_labels l = {{NULL}};
	const uint8_t *p;
	size_t len;

	c.label_bytes[ENRICH_NAMESPACE] = 4;
	c.label_bytes[ENRICH_POD] = 5;
	c.label_bytes[ENRICH_NODE] = 6;
	enc = v9_new(&c, T0 + 20000);
	l.v[ENRICH_NAMESPACE] = "ab\xe2\x82\xac";	       /* "ab" + a 3-byte character: cut */
	l.v[ENRICH_POD] = "abcde";			       /* one byte more than fits: cut */
	l.v[ENRICH_NODE] = "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"; /* 4 x 2 bytes: 2 fit */
	l.v[ENRICH_WORKLOAD] = "abcdefghijklmnopqrstuvwxyz01234567890abcdefghijklmnopqrstuvwxyz";
	l.v[ENRICH_SERVICE] = "abcdefghijklmnopqrstuvwxyz01234567890abcdefghijklmnopqrstuvwxyz!";
	cr_assert_eq(netflow_encoder_add(enc, &r, NULL, &l, NULL, T0 + 20000), 0);
	netflow_encoder_flush(enc);
	parse_v9();
	p = field(&recs[0], label_type("sourcePodNamespace"), &len);
	cr_assert_eq(len, 4);
	cr_assert_arr_eq(p, "ab\0\0", 4);
	p = field(&recs[0], label_type("sourcePodName"), &len);
	cr_assert_eq(len, 5);
	cr_assert_arr_eq(p, "abcd", 5, "always zero-terminated");
	p = field(&recs[0], label_type("sourceNodeName"), &len);
	cr_assert_eq(len, 6);
	cr_assert_arr_eq(p, "\xc3\xa9\xc3\xa9\0", 6);
	/* 63 octets (the Kubernetes maximum) fit the default 64; 64 do not. */
	p = field(&recs[0], label_type("sourceWorkloadName"), &len);
	cr_assert_eq(len, 64);
	cr_assert_arr_eq(p, l.v[ENRICH_WORKLOAD], 64);
	p = field(&recs[0], label_type("sourceServiceName"), &len);
	cr_assert_arr_eq(p, l.v[ENRICH_SERVICE], 63);
	cr_assert_eq(p[63], 0);
	cr_assert_eq(netflow_encoder_get_stats(enc)->strings_truncated, 4);
	netflow_encoder_free(enc);
}

Test(netflow, v9_packets_split_at_max_bytes)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;
	struct enrich_labels a = labels_of(pod_a);
	size_t total = 0;

	c.max_msg_bytes = 3000;
	enc = v9_new(&c, T0 + 20000);
	for (int i = 0; i < 25; i++) {
		struct flow_record r = i % 3 ? v4_tcp() : v6_icmp();

		r.octets = 1000 + (uint64_t)i;
		cr_assert_eq(netflow_encoder_add(enc, &r, "eth0", &a, &a, T0 + 20000), 0);
	}
	netflow_encoder_flush(enc);
	parse_v9();
	cr_assert_eq(n_recs, 25);
	for (size_t i = 0; i < n_recs; i++)
		total += uval(&recs[i], IN_BYTES);
	cr_assert_eq(total, 25 * 1000 + 24 * 25 / 2);
	for (size_t m = 0; m < n_msgs; m++) {
		cr_assert_leq(msgs[m].len, 3000);
		cr_assert_eq(g32(msgs[m].buf + 12), m, "sequence counts packets");
		cr_assert_eq(msgs[m].seq_after, m + 1);
		/* A packet is only closed when the next record did not fit. */
		if (m > 0 && m + 1 < n_msgs)
			cr_assert_gt(msgs[m].len + tmpls[0].rec_len + 4, 3000 - 20 - 4);
	}
	cr_assert_eq(netflow_encoder_get_stats(enc)->data_msgs, n_msgs - 1);
	cr_assert_eq(netflow_encoder_get_stats(enc)->records, 25);
	netflow_encoder_free(enc);
}

Test(netflow, v9_mixed_families_share_a_packet)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;
	struct flow_record a = v4_tcp(), b = v6_icmp();

	for (int d = 0; d < ENRICH_DIM_COUNT; d++)
		c.label_bytes[d] = 0; /* no labels: small records */
	enc = v9_new(&c, T0 + 20000);
	netflow_encoder_add(enc, &a, NULL, NULL, NULL, T0 + 20000);
	netflow_encoder_add(enc, &b, NULL, NULL, NULL, T0 + 20000);
	netflow_encoder_add(enc, &a, NULL, NULL, NULL, T0 + 20000);
	netflow_encoder_flush(enc);
	cr_assert_eq(n_msgs, 2, "one data packet");
	parse_v9();
	cr_assert_eq(n_recs, 3);
	cr_assert_eq(recs[0].t->id, 256);
	cr_assert_eq(recs[1].t->id, 257);
	cr_assert_eq(recs[2].t->id, 256);
	cr_assert_eq(tmpls[0].n, 18, "standard fields only");
	netflow_encoder_free(enc);
}

Test(netflow, v9_invalid_configurations)
{
	struct netflow_config c = v9_config();

	c.max_msg_bytes = 600; /* a default-labelled record is ~1.3 KB */
	cr_assert_null(netflow_encoder_new(reg, &c, capture, &n_msgs, T0));
	c = v9_config();
	c.label_base = 1000; /* would collide with IANA elements */
	cr_assert_null(netflow_encoder_new(reg, &c, capture, &n_msgs, T0));
	c.label_base = 65500; /* + 117 is above 65535 */
	cr_assert_null(netflow_encoder_new(reg, &c, capture, &n_msgs, T0));
	c = v9_config();
	c.version = 7;
	cr_assert_null(netflow_encoder_new(reg, &c, capture, &n_msgs, T0));
	cr_assert_eq(n_msgs, 0);
}

Test(netflow, v9_label_base_configurable)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;
	const fbInfoElement_t *ie = fbInfoModelGetElementByName(reg->model, "destinationVpcId");
	bool found = false;

	c.label_base = 33333;
	enc = v9_new(&c, T0);
	parse_v9();
	for (uint16_t i = 0; i < tmpls[1].n; i++)
		found |= tmpls[1].type[i] == 33333 + ie->num;
	cr_assert(found);
	netflow_encoder_free(enc);
}

/* Write a file into the test's directory. */
static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, true);
	cr_assert_eq(fclose(f), 0);
}

Test(netflow, v9_labels_follow_the_registry)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;
	struct registry *mine;
	char xml_path[4300], conf_path[4300], err[512], *xml, *at;
	const char *old = "<name>sourcePodNamespace</name>";
	FILE *f = fopen(elements_path, "r");
	long size;

	/* The elements file with sourcePodNamespace renumbered from 2 to 77. */
	cr_assert_not_null(f);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	rewind(f);
	xml = calloc(1, (size_t)size + 1);
	cr_assert_eq(fread(xml, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	at = strstr(xml, old);
	cr_assert_not_null(at);
	at = strstr(at, "<elementId>2</elementId>");
	cr_assert_not_null(at);
	snprintf(xml_path, sizeof(xml_path), "%s/elements.xml", tmpdir);
	f = fopen(xml_path, "w");
	cr_assert_not_null(f);
	fprintf(f, "%.*s<elementId>77</elementId>%s", (int)(at - xml), xml,
		at + strlen("<elementId>2</elementId>"));
	cr_assert_eq(fclose(f), 0);
	free(xml);
	/* Templates with two labels only, destination first. */
	snprintf(conf_path, sizeof(conf_path), "%s/templates.conf", tmpdir);
	write_text(conf_path, "templates = ({ name = \"ipv4\"; id = 256; ip_version = 4;\n"
			      "  elements = [\"sourceIPv4Address\", \"destinationPodName\",\n"
			      "               \"sourcePodNamespace\"]; });\n");
	mine = registry_load(xml_path, conf_path, 0, err, sizeof(err));
	cr_assert_not_null(mine, "%s", err);
	enc = netflow_encoder_new(mine, &c, capture, &n_msgs, T0);
	cr_assert_not_null(enc);
	netflow_encoder_templates(enc, T0);
	parse_v9();
	cr_assert_eq(tmpls[0].n, 20);
	cr_assert_eq(tmpls[0].type[18], 48103, "destinationPodName");
	cr_assert_eq(tmpls[0].type[19], 48077, "sourcePodNamespace, renumbered");
	cr_assert_eq(tmpls[1].n, 18, "no IPv6 template in the registry: no labels");
	netflow_encoder_free(enc);
	registry_free(mine);
}

Test(netflow, v9_times_exact_for_old_captures)
{
	struct netflow_config c = v9_config();
	uint64_t now = T0 + 400ull * 86400000; /* wall clock 400 days after the capture */
	struct netflow_encoder *enc = v9_new(&c, now);
	struct flow_record r = v4_tcp(), early = v4_tcp(), longest = v4_tcp();

	cr_assert_eq(netflow_encoder_add(enc, &r, NULL, NULL, NULL, now), 0);
	early.start_ms = r.start_ms - 7200000; /* before the boot picked for r */
	early.end_ms = r.start_ms;
	cr_assert_eq(netflow_encoder_add(enc, &early, NULL, NULL, NULL, now), 0);
	longest.start_ms = r.end_ms - (1ull << 31) - 5000; /* longer than 2^31 ms */
	longest.end_ms = r.end_ms;
	cr_assert_eq(netflow_encoder_add(enc, &longest, NULL, NULL, NULL, now), 0);
	netflow_encoder_flush(enc);
	parse_v9();
	cr_assert_eq(n_recs, 3);
	cr_assert_eq(boot_of(recs[0].hdr) + uval(&recs[0], FIRST_SWITCHED), r.start_ms);
	cr_assert_eq(boot_of(recs[0].hdr) + uval(&recs[0], LAST_SWITCHED), r.end_ms);
	cr_assert_eq(boot_of(recs[1].hdr) + uval(&recs[1], FIRST_SWITCHED), early.start_ms);
	cr_assert_eq(boot_of(recs[1].hdr) + uval(&recs[1], LAST_SWITCHED), early.end_ms);
	cr_assert_neq(recs[0].hdr, recs[1].hdr, "the earlier boot starts a new packet");
	cr_assert_eq(boot_of(recs[2].hdr) + uval(&recs[2], FIRST_SWITCHED),
		     longest.end_ms - (1ull << 31));
	cr_assert_eq(boot_of(recs[2].hdr) + uval(&recs[2], LAST_SWITCHED), longest.end_ms);
	for (size_t i = 0; i < n_recs; i++)
		cr_assert_leq(uval(&recs[i], LAST_SWITCHED), g32(recs[i].hdr + 4));
	cr_assert_eq(netflow_encoder_get_stats(enc)->times_clamped, 1);
	netflow_encoder_free(enc);
}

Test(netflow, v9_live_header_is_now)
{
	struct netflow_config c = v9_config();
	uint64_t now = T0 + 5400; /* flows ended just before */
	struct netflow_encoder *enc = v9_new(&c, T0 - 60000);
	struct flow_record r = v4_tcp();

	netflow_encoder_add(enc, &r, NULL, NULL, NULL, now);
	netflow_encoder_flush(enc);
	parse_v9();
	cr_assert_eq(g32(recs[0].hdr + 8), (now + 999) / 1000, "export time: now, whole seconds");
	cr_assert_eq(boot_of(recs[0].hdr), T0 - 60000, "boot: the encoder's start");
	cr_assert_eq(boot_of(recs[0].hdr) + uval(&recs[0], FIRST_SWITCHED), r.start_ms);
	netflow_encoder_free(enc);
}

Test(netflow, v9_templates_flagged_for_the_transport)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc = v9_new(&c, T0);
	struct flow_record r = v4_tcp();

	netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0);
	/* Templates again (a refresh): the pending data packet goes out first. */
	cr_assert_eq(netflow_encoder_templates(enc, T0 + 1000), 0);
	netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0 + 1000);
	netflow_encoder_flush(enc);
	cr_assert_eq(n_msgs, 4);
	for (size_t m = 0; m < n_msgs; m++) {
		bool is_t = g16(msgs[m].buf + 20) == 0;

		cr_assert_eq(is_t, m % 2 == 0, "packet %zu", m);
		cr_assert_eq(msgs[m].is_template, is_t, "only template packets are flagged");
		cr_assert_eq(g32(msgs[m].buf + 12), m, "template packets are numbered too");
		cr_assert_eq(msgs[m].seq_after, m + 1);
	}
	cr_assert_eq(netflow_encoder_get_stats(enc)->template_msgs, 2);
	cr_assert_eq(netflow_encoder_get_stats(enc)->data_msgs, 2);
	cr_assert_eq(netflow_encoder_flush(enc), 0);
	cr_assert_eq(n_msgs, 4, "nothing pending: nothing sent");
	netflow_encoder_free(enc);
}

/* ---- v9 sampling -------------------------------------------------------------------- */

/* The options template and record the encoder must send for 1-in-interval sampling. */
static void check_sampling_options(const struct flowset *t, const struct flowset *d,
				   uint32_t source_id, uint32_t interval)
{
	/*
	 * Options flowset (ID 1) of 20 bytes: template 258, scope length 4, option length
	 * 4; scope System (1) of 4 bytes; SAMPLING_INTERVAL (34) of 4 bytes; 2 bytes padding.
	 */
	static const uint8_t tmpl[20] = {0, 1, 0, 20, 1, 2,  0, 4, 0, 4,
					 0, 1, 0, 4,  0, 34, 0, 4, 0, 0};
	uint8_t rec[12] = {0x01, 0x02, 0, 12};

	cr_assert_eq(t->len, sizeof(tmpl));
	cr_assert_arr_eq(t->p, tmpl, sizeof(tmpl), "options template bytes");
	rec[4] = (uint8_t)(source_id >> 24);
	rec[5] = (uint8_t)(source_id >> 16);
	rec[6] = (uint8_t)(source_id >> 8);
	rec[7] = (uint8_t)source_id;
	rec[8] = (uint8_t)(interval >> 24);
	rec[9] = (uint8_t)(interval >> 16);
	rec[10] = (uint8_t)(interval >> 8);
	rec[11] = (uint8_t)interval;
	cr_assert_eq(d->len, sizeof(rec));
	cr_assert_arr_eq(d->p, rec, sizeof(rec), "options record bytes");
}

Test(netflow, v9_sampling_options_with_the_templates)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;
	struct flow_record r = v4_tcp();
	const uint8_t *b;

	c.sampling_interval = 100000; /* more than 16 bits: v9 carries 32 */
	enc = v9_new(&c, T0);
	cr_assert_eq(n_msgs, 1, "templates and the sampling report in one packet");
	cr_assert(msgs[0].is_template);
	b = msgs[0].buf;
	cr_assert_eq(g16(b + 2), 4, "2 templates + options template + options record");
	parse_v9();
	cr_assert_eq(n_opt_tmpls, 1);
	cr_assert_eq(n_opt_data, 1);
	cr_assert_eq(opt_tmpls[0].p, b + 20 + g16(b + 22), "right after the template flowset");
	cr_assert_eq(opt_data[0].p, opt_tmpls[0].p + 20, "the record right after its template");
	cr_assert_eq(opt_data[0].p + 12, b + msgs[0].len, "last in the packet");
	check_sampling_options(&opt_tmpls[0], &opt_data[0], 0x01020304, 100000);
	/* Data packets carry no report; a refresh repeats it with the templates. */
	netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0);
	cr_assert_eq(netflow_encoder_templates(enc, T0 + 1000), 0);
	netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0 + 1000);
	netflow_encoder_flush(enc);
	cr_assert_eq(n_msgs, 4);
	parse_v9();
	cr_assert_eq(n_opt_tmpls, 2);
	cr_assert_eq(n_opt_data, 2);
	cr_assert_eq(opt_data[1].msg, 2, "in the refreshed template packet");
	check_sampling_options(&opt_tmpls[1], &opt_data[1], 0x01020304, 100000);
	cr_assert_eq(n_recs, 2);
	cr_assert_eq(uval(&recs[0], IN_PKTS), 12, "counts are not scaled");
	cr_assert_eq(uval(&recs[0], IN_BYTES), 3456);
	cr_assert_eq(netflow_encoder_get_stats(enc)->template_msgs, 2);
	netflow_encoder_free(enc);
}

Test(netflow, v9_unsampled_sends_no_options)
{
	struct netflow_config c = v9_config();
	struct netflow_encoder *enc;

	for (uint32_t n = 0; n <= 1; n++) {
		c.sampling_interval = n;
		enc = v9_new(&c, T0);
		netflow_encoder_free(enc);
	}
	cr_assert_eq(n_msgs, 2);
	parse_v9();
	cr_assert_eq(n_opt_tmpls + n_opt_data, 0, "interval 0 and 1: no sampling report");
	cr_assert_eq(g16(msgs[0].buf + 2), 2);
	cr_assert_eq(g16(msgs[1].buf + 2), 2);
}

/* Templates of the standard fields only: 76 bytes each. */
static void small_templates(struct netflow_config *c, uint16_t max_bytes, uint32_t interval)
{
	*c = v9_config();
	for (int d = 0; d < ENRICH_DIM_COUNT; d++)
		c->label_bytes[d] = 0;
	c->max_msg_bytes = max_bytes;
	c->sampling_interval = interval;
}

Test(netflow, v9_sampling_options_in_small_datagrams)
{
	struct netflow_config c;
	struct netflow_encoder *enc;

	/* 20 + 4 + 76 + 76 + 32 = 208: the report goes in a packet of its own. */
	small_templates(&c, 207, 10);
	enc = v9_new(&c, T0);
	cr_assert_eq(n_msgs, 2);
	cr_assert_eq(msgs[0].len, 176);
	cr_assert_eq(g16(msgs[0].buf + 2), 2);
	cr_assert_eq(msgs[1].len, 52);
	cr_assert_eq(g16(msgs[1].buf + 2), 2, "options template + record");
	cr_assert(msgs[1].is_template, "resent with the templates");
	cr_assert_eq(g32(msgs[1].buf + 12), 1, "numbered like any packet");
	parse_v9();
	check_sampling_options(&opt_tmpls[0], &opt_data[0], 0x01020304, 10);
	netflow_encoder_free(enc);
	for (size_t i = 0; i < n_msgs; i++)
		free(msgs[i].buf);
	n_msgs = 0;
	/* Exactly 208: one packet. */
	small_templates(&c, 208, 10);
	enc = v9_new(&c, T0);
	cr_assert_eq(n_msgs, 1);
	cr_assert_eq(msgs[0].len, 208);
	cr_assert_eq(g16(msgs[0].buf + 2), 4);
	netflow_encoder_free(enc);
	for (size_t i = 0; i < n_msgs; i++)
		free(msgs[i].buf);
	n_msgs = 0;
	/* 120: one template a packet, the report with the second (100 + 32 > 120: alone). */
	small_templates(&c, 120, 10);
	enc = v9_new(&c, T0);
	cr_assert_eq(n_msgs, 3);
	cr_assert_eq(msgs[0].len, 100);
	cr_assert_eq(msgs[1].len, 100);
	cr_assert_eq(msgs[2].len, 52);
	parse_v9();
	cr_assert_eq(tmpls[0].id, 256);
	cr_assert_eq(tmpls[1].id, 257);
	cr_assert_eq(opt_data[0].msg, 2);
	check_sampling_options(&opt_tmpls[0], &opt_data[0], 0x01020304, 10);
	for (size_t m = 0; m < n_msgs; m++)
		cr_assert(msgs[m].is_template);
	netflow_encoder_free(enc);
}

/* ---- v5 ----------------------------------------------------------------------------- */

static struct netflow_encoder *v5_new_sampled(uint16_t max_bytes, uint64_t now, uint32_t interval)
{
	struct netflow_config c;
	struct netflow_encoder *enc;
	size_t before = n_msgs;

	netflow_config_defaults(&c);
	c.version = NETFLOW_V5;
	c.max_msg_bytes = max_bytes;
	c.observation_domain = 0x0a0b;
	c.sampling_interval = interval;
	enc = netflow_encoder_new(reg, &c, capture, &n_msgs, now);
	cr_assert_not_null(enc);
	cr_assert_eq(netflow_encoder_templates(enc, now), 0);
	cr_assert_eq(n_msgs, before, "v5 has no templates");
	return enc;
}

static struct netflow_encoder *v5_new(uint16_t max_bytes, uint64_t now)
{
	return v5_new_sampled(max_bytes, now, 0);
}

Test(netflow, v5_header_and_record)
{
	uint64_t now = T0 + 7250;
	struct netflow_encoder *enc = v5_new(1400, T0);
	struct flow_record r = v4_tcp(), icmp = v4_tcp();
	struct enrich_labels a = labels_of(pod_a);
	const uint8_t *h, *p;

	icmp.key.proto = 1;
	icmp.key.src_port = 0;
	icmp.key.dst_port = (3 << 8) | 1;
	icmp.key.direction = 1;
	cr_assert_eq(netflow_encoder_add(enc, &r, "eth0", &a, &a, now), 0);
	cr_assert_eq(netflow_encoder_add(enc, &icmp, NULL, NULL, NULL, now), 0);
	netflow_encoder_flush(enc);
	cr_assert_eq(n_msgs, 1);
	cr_assert_eq(msgs[0].len, 24 + 2 * 48);
	h = msgs[0].buf;
	cr_assert_eq(g16(h), 5);
	cr_assert_eq(g16(h + 2), 2);
	cr_assert_eq(g32(h + 8), now / 1000);
	cr_assert_eq(g32(h + 12), now % 1000 * 1000000, "residual nanoseconds");
	cr_assert_eq(g32(h + 16), 0, "flow sequence");
	cr_assert_eq(msgs[0].seq_after, 2, "v5 counts flows");
	cr_assert_eq(h[20], 0x0a, "engine type");
	cr_assert_eq(h[21], 0x0b, "engine id");
	cr_assert_eq(g16(h + 22), 0, "not sampled");
	cr_assert(!msgs[0].is_template);
	p = h + 24;
	cr_assert_eq(g32(p), 0x0a010203);
	cr_assert_eq(g32(p + 4), 0xc0a80709);
	cr_assert_eq(g32(p + 8), 0, "next hop");
	cr_assert_eq(g16(p + 12), 17, "input");
	cr_assert_eq(g16(p + 14), 0, "output");
	cr_assert_eq(g32(p + 16), 12);
	cr_assert_eq(g32(p + 20), 3456);
	cr_assert_eq(boot_of(h) + g32(p + 24), r.start_ms);
	cr_assert_eq(boot_of(h) + g32(p + 28), r.end_ms);
	cr_assert_eq(g16(p + 32), 43512);
	cr_assert_eq(g16(p + 34), 443);
	cr_assert_eq(p[36], 0);
	cr_assert_eq(p[37], 0x1b);
	cr_assert_eq(p[38], 6);
	cr_assert_eq(p[39], 0x28);
	for (int i = 40; i < 48; i++)
		cr_assert_eq(p[i], 0, "AS, masks, padding: byte %d", i);
	p += 48;
	cr_assert_eq(g16(p + 12), 0, "egress: input 0");
	cr_assert_eq(g16(p + 14), 17, "egress: output");
	cr_assert_eq(g16(p + 32), 0);
	cr_assert_eq(g16(p + 34), (3 << 8) | 1, "ICMP type/code in the destination port");
	cr_assert_eq(p[38], 1);
	netflow_encoder_free(enc);
}

Test(netflow, v5_packet_limits_and_sequence)
{
	struct netflow_encoder *enc = v5_new(1400, T0);
	struct flow_record r = v4_tcp();
	uint32_t seq = 0;

	for (int i = 0; i < 100; i++)
		netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0 + 9000);
	netflow_encoder_flush(enc);
	cr_assert_eq(n_msgs, 4, "28 records fit in 1400 bytes: 28 + 28 + 28 + 16");
	for (size_t m = 0; m < n_msgs; m++) {
		uint16_t count = g16(msgs[m].buf + 2);

		cr_assert_eq(count, m < 3 ? 28 : 16);
		cr_assert_eq(msgs[m].len, 24 + 48 * (size_t)count);
		cr_assert_eq(g32(msgs[m].buf + 16), seq);
		seq += count;
		cr_assert_eq(msgs[m].seq_after, seq);
	}
	netflow_encoder_free(enc);
	for (size_t i = 0; i < n_msgs; i++)
		free(msgs[i].buf);
	n_msgs = 0;
	enc = v5_new(1500, T0);
	for (int i = 0; i < 31; i++)
		netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0 + 9000);
	netflow_encoder_flush(enc);
	cr_assert_eq(n_msgs, 2);
	cr_assert_eq(g16(msgs[0].buf + 2), 30, "never more than 30 records");
	netflow_encoder_free(enc);
}

Test(netflow, v5_accounting)
{
	struct netflow_encoder *enc = v5_new(1400, T0);
	struct flow_record r = v4_tcp(), six = v6_icmp(), big = v4_tcp(), odd = v4_tcp();
	const struct netflow_stats *st = netflow_encoder_get_stats(enc);
	uint64_t pk = 0, oc = 0;
	size_t n = 0;

	big.packets = 5000000000ull;	    /* 2 records by packets */
	big.octets = 3ull * UINT32_MAX + 7; /* 4 records by octets */
	big.key.ifindex = 65536;
	odd.key.ip_version = 0;
	cr_assert_eq(netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0 + 9000), 0);
	cr_assert_eq(netflow_encoder_add(enc, &six, NULL, NULL, NULL, T0 + 9000), -EAFNOSUPPORT);
	cr_assert_eq(netflow_encoder_add(enc, &big, NULL, NULL, NULL, T0 + 9000), 0);
	cr_assert_eq(netflow_encoder_add(enc, &odd, NULL, NULL, NULL, T0 + 9000), -EINVAL);
	netflow_encoder_flush(enc);
	cr_assert_eq(st->records + st->v5_ipv6_dropped + st->encode_errors, 4);
	cr_assert_eq(st->records, 2);
	cr_assert_eq(st->v5_ipv6_dropped, 1);
	cr_assert_eq(st->encode_errors, 1);
	cr_assert_eq(st->v5_split_records, 3);
	cr_assert_eq(st->v5_ifindex_zeroed, 1);
	for (size_t m = 0; m < n_msgs; m++) {
		for (uint16_t i = 0; i < g16(msgs[m].buf + 2); i++, n++) {
			const uint8_t *p = msgs[m].buf + 24 + 48 * (size_t)i;

			pk += g32(p + 16);
			oc += g32(p + 20);
			if (n > 0)
				cr_assert_eq(g16(p + 12), 0, "ifindex 65536 sent as 0");
		}
	}
	cr_assert_eq(n, 5);
	cr_assert_eq(pk, r.packets + big.packets, "split records add up exactly");
	cr_assert_eq(oc, r.octets + big.octets);
	netflow_encoder_free(enc);
}

Test(netflow, v5_old_capture_times)
{
	uint64_t now = T0 + 400ull * 86400000;
	struct netflow_encoder *enc = v5_new(1400, now);
	struct flow_record r = v4_tcp();
	const uint8_t *h;

	netflow_encoder_add(enc, &r, NULL, NULL, NULL, now);
	netflow_encoder_flush(enc);
	h = msgs[0].buf;
	cr_assert_eq(boot_of(h) + g32(h + 24 + 24), r.start_ms);
	cr_assert_eq(boot_of(h) + g32(h + 24 + 28), r.end_ms);
	cr_assert_leq(g32(h + 24 + 28), g32(h + 4));
	netflow_encoder_free(enc);
}

Test(netflow, v5_sampling_header_field)
{
	static const struct {
		uint32_t interval;
		uint16_t field;
	} cases[] = {
		{0, 0}, {1, 0}, {2, 0x4002}, {10, 0x400a}, {1000, 0x43e8}, {16383, 0x7fff},
	};
	struct flow_record r = v4_tcp();
	struct netflow_config c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct netflow_encoder *enc = v5_new_sampled(1400, T0, cases[i].interval);

		netflow_encoder_add(enc, &r, NULL, NULL, NULL, T0 + 9000);
		netflow_encoder_flush(enc);
		cr_assert_eq(n_msgs, i + 1);
		cr_assert_eq(g16(msgs[i].buf + 22), cases[i].field, "interval %u",
			     cases[i].interval);
		cr_assert_eq(g32(msgs[i].buf + 24 + 16), 12, "counts are not scaled");
		netflow_encoder_free(enc);
	}
	/* 14 bits: a larger interval cannot be reported, so the encoder refuses it. */
	netflow_config_defaults(&c);
	c.version = NETFLOW_V5;
	c.sampling_interval = NETFLOW_V5_MAX_SAMPLING_INTERVAL + 1;
	cr_assert_null(netflow_encoder_new(reg, &c, capture, &n_msgs, T0));
}
