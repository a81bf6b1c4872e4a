// SPDX-License-Identifier: Apache-2.0
/*
 * export: the stage end to end with a real registry, a real enrich table and real
 * transports (a file read back with libfixbuf, and a loopback UDP socket).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "export.h"

static struct registry *reg;
static struct enrich *enr;
static char elements_path[4200], templates_path[4200];
static char file_path[] = "/tmp/lf-export-XXXXXX";

static const struct export_config config = {
	.ipfix = {.observation_domain = 7, .rfc5610 = true},
	.transport = {.queue_msgs = 64,
		      .template_refresh_ms = 60000,
		      .template_refresh_msgs = 1000,
		      .reconnect_min_ms = 100,
		      .reconnect_max_ms = 1000},
	.udp_max_msg_bytes = 1400,
	.stream_max_msg_bytes = 65535,
};

/* See test_registry.c: a libfixbuf XML-reader leak, not ours. */
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

static void publish(const char *pod_name)
{
	struct enrich_table_builder *b = enrich_builder_new();
	const char *pod[ENRICH_DIM_COUNT] = {0}, *net[ENRICH_DIM_COUNT] = {0};
	struct enrich_addr a;
	uint8_t len;

	pod[ENRICH_NAMESPACE] = "shop";
	pod[ENRICH_POD] = pod_name;
	pod[ENRICH_POD_LABELS] = "{\"app\":\"cart\"}";
	pod[ENRICH_KIND] = "pod";
	net[ENRICH_VPC] = "vpc-42";
	net[ENRICH_KIND] = "external";
	cr_assert_not_null(b);
	cr_assert_eq(enrich_addr_parse("10.1.2.3", &a), 0);
	cr_assert_eq(enrich_builder_add_endpoint(b, &a, pod), 0);
	cr_assert_eq(enrich_prefix_parse("192.168.0.0/16", &a, &len), 0);
	cr_assert_eq(enrich_builder_add_subnet(b, &a, len, net), 0);
	enrich_publish(enr, ENRICH_SRC_INVENTORY, enrich_builder_finish(b));
}

static void setup(void)
{
	const char *env = getenv("LABELFLOW_DATADIR");
	char src[4096], dir[4096], err[512];
	int fd;

	snprintf(src, sizeof(src), "%s", __FILE__);
	snprintf(dir, sizeof(dir), "%s", env && *env ? env : "");
	if (!*dir)
		snprintf(dir, sizeof(dir), "%s/../../templates", dirname(src));
	snprintf(elements_path, sizeof(elements_path), "%s/labelflow-elements.xml", dir);
	snprintf(templates_path, sizeof(templates_path), "%s/labelflow-templates.conf", dir);
	reg = registry_load(elements_path, templates_path, 0, err, sizeof(err));
	cr_assert_not_null(reg, "%s", err);
	enr = enrich_new();
	cr_assert_not_null(enr);
	fd = mkstemp(file_path);
	cr_assert_geq(fd, 0);
	close(fd);
}

static void teardown(void)
{
	enrich_free(enr);
	registry_free(reg);
	unlink(file_path);
}

static struct flow_record flow(const char *src, const char *dst, uint64_t packets)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.key.ip_version = 4;
	r.key.proto = 17;
	inet_pton(AF_INET, src, r.key.src_addr);
	inet_pton(AF_INET, dst, r.key.dst_addr);
	r.key.src_port = 5353;
	r.key.dst_port = 53;
	r.start_ms = 1700000000000ull;
	r.end_ms = 1700000001000ull;
	r.packets = packets;
	r.octets = packets * 100;
	r.end_reason = 1;
	return r;
}

/* What the collector reads: ports, counters and a few labels by name. */
struct rd {
	uint64_t packets;
	fbVarfield_t src_pod, src_ns, dst_vpc, dst_kind, dst_pod;
	uint16_t sport, dport;
};

struct got {
	uint64_t packets;
	uint16_t sport, dport;
	char src_pod[64], src_ns[64], dst_vpc[64], dst_kind[64], dst_pod[64];
};

static size_t read_file(struct got *out, size_t max)
{
	static fbInfoElementSpec_t spec[] = {
		{"packetDeltaCount", 8, 0},
		{"sourcePodName", 0, 0},
		{"sourcePodNamespace", 0, 0},
		{"destinationVpcId", 0, 0},
		{"destinationEntityKind", 0, 0},
		{"destinationPodName", 0, 0},
		{"sourceTransportPort", 2, 0},
		{"destinationTransportPort", 2, 0},
		FB_IESPEC_NULL,
	};
	fbSession_t *session = fbSessionAlloc(reg->model);
	fbTemplate_t *tmpl = fbTemplateAlloc(reg->model);
	GError *err = NULL;
	fbCollector_t *coll = fbCollectorAllocFile(NULL, file_path, &err);
	fBuf_t *fbuf;
	uint16_t tid;
	size_t n = 0;

	cr_assert_not_null(coll);
	cr_assert(fbTemplateAppendSpecArray(tmpl, spec, 0, &err));
	tid = fbSessionAddTemplate(session, TRUE, FB_TID_AUTO, tmpl, &err);
	fbuf = fBufAllocForCollection(session, coll);
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
		out[n].packets = r.packets;
		out[n].sport = r.sport;
		out[n].dport = r.dport;
#define COPY(f) snprintf(out[n].f, sizeof(out[n].f), "%.*s", (int)r.f.len, (char *)r.f.buf)
		COPY(src_pod);
		COPY(src_ns);
		COPY(dst_vpc);
		COPY(dst_kind);
		COPY(dst_pod);
#undef COPY
		n++;
	}
	fBufFree(fbuf);
	return n;
}

TestSuite(export, .init = setup, .fini = teardown);

Test(export, labels_flows_into_a_file_and_follows_new_snapshots)
{
	struct transport_spec spec;
	struct exporter *x;
	struct flow_record r;
	struct got got[8];
	char target[4200];
	const char *name = NULL;

	publish("cart-1");
	x = export_new(reg, enr, &config);
	cr_assert_not_null(x);
	snprintf(target, sizeof(target), "file:%s", file_path);
	cr_assert_eq(transport_parse(target, &spec, NULL, 0), 0);
	cr_assert_eq(export_add_target(x, &spec, 1700000002000ull), 0);
	cr_assert_eq(export_n_targets(x), 1);

	r = flow("10.1.2.3", "192.168.7.9", 3);
	export_flow(&r, x);
	r = flow("192.168.7.9", "10.1.2.3", 4); /* reverse direction */
	export_flow(&r, x);
	r = flow("172.16.0.1", "8.8.8.8", 5); /* nobody we know */
	export_flow(&r, x);

	/* A new inventory labels the very next record, without waiting for a tick. */
	export_tick(x, 1700000003000ull);
	r = flow("10.1.2.3", "8.8.8.8", 6);
	export_flow(&r, x);
	publish("cart-2");
	r = flow("10.1.2.3", "8.8.8.8", 7);
	export_flow(&r, x);

	cr_assert_eq(export_get_stats(x)->records, 5);
	cr_assert_eq(export_get_stats(x)->packets, 25);
	cr_assert_eq(export_get_stats(x)->octets, 2500);
	cr_assert_eq(export_get_stats(x)->labelled_src, 4);
	cr_assert_eq(export_get_stats(x)->labelled_dst, 2);
	cr_assert_not_null(export_target_stats(x, 0, &name));
	cr_assert_str_eq(name, target);
	cr_assert_null(export_target_stats(x, 1, &name));
	export_free(x, 0); /* flushes the last record */

	cr_assert_eq(read_file(got, 8), 5);
	cr_assert_eq(got[0].packets, 3);
	cr_assert_eq(got[0].sport, 5353);
	cr_assert_eq(got[0].dport, 53);
	cr_assert_str_eq(got[0].src_pod, "cart-1");
	cr_assert_str_eq(got[0].src_ns, "shop");
	cr_assert_str_eq(got[0].dst_vpc, "vpc-42");
	cr_assert_str_eq(got[0].dst_kind, "external");
	cr_assert_str_eq(got[1].src_pod, "");
	cr_assert_str_eq(got[1].dst_pod, "cart-1");
	cr_assert_str_eq(got[1].dst_kind, "pod");
	cr_assert_str_eq(got[2].src_pod, "");
	cr_assert_str_eq(got[2].dst_kind, "");
	cr_assert_eq(got[3].packets, 6);
	cr_assert_str_eq(got[3].src_pod, "cart-1", "snapshot before the publish");
	cr_assert_eq(got[4].packets, 7);
	cr_assert_str_eq(got[4].src_pod, "cart-2", "new snapshot right after the publish");
}

Test(export, udp_target_gets_templates_then_data_within_mtu)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	struct timeval tv = {.tv_sec = 2};
	struct transport_spec spec = {.kind = TRANSPORT_UDP};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	size_t n_tmpl = 0, n_data = 0;
	struct exporter *x;
	uint8_t buf[65536];
	ssize_t n;

	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	snprintf(spec.host, sizeof(spec.host), "127.0.0.1");
	snprintf(spec.port, sizeof(spec.port), "%u", ntohs(a.sin_port));

	publish("cart-1");
	x = export_new(reg, enr, &config);
	cr_assert_eq(export_add_target(x, &spec, 1000), 0);
	for (int i = 0; i < 40; i++) {
		struct flow_record r = flow("10.1.2.3", "192.168.1.1", (uint64_t)i + 1);

		export_flow(&r, x);
	}
	export_tick(x, 2000);
	cr_assert_eq(export_target_stats(x, 0, NULL)->template_sends, 1);
	export_free(x, 0);

	/* Templates (with RFC 5610 records) first, then data; every datagram <= 1400. */
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		uint16_t set_id = (uint16_t)(buf[16] << 8 | buf[17]);

		cr_assert_leq(n, 1400);
		cr_assert_eq(buf[0] << 8 | buf[1], 10);
		cr_assert_eq((uint32_t)(buf[12] << 24 | buf[13] << 16 | buf[14] << 8 | buf[15]), 7);
		if (set_id >= 256 && set_id != REGISTRY_TYPE_TEMPLATE_ID) {
			n_data++;
		} else {
			cr_assert_eq(n_data, 0, "template message after data");
			n_tmpl++;
		}
	}
	cr_assert_geq(n_tmpl, 2);
	cr_assert_geq(n_data, 2);
	close(fd);
}

Test(export, bad_target_is_refused_and_not_added)
{
	struct transport_spec spec;
	struct exporter *x = export_new(reg, enr, &config);

	cr_assert_not_null(x);
	cr_assert_eq(transport_parse("file:/nonexistent-dir/out.ipfix", &spec, NULL, 0), 0);
	cr_assert_lt(export_add_target(x, &spec, 1000), 0);
	cr_assert_eq(export_n_targets(x), 0);
	export_free(x, 0);
	export_free(NULL, 0);
}
