// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inventory.h"

/* The example of docs/enrichment.md. */
static const char example[] =
	"{\"subnets\":   [{\"cidr\": \"10.0.0.0/16\", \"vpc\": \"vpc-1\", \"subnet\": "
	"\"subnet-a\",\n"
	"                  \"zone\": \"us-east-1a\", \"region\": \"us-east-1\", \"cluster\": "
	"\"prod\"}],\n"
	" \"endpoints\": [{\"ip\": \"10.0.1.7\", \"kind\": \"pod\", \"cluster\": \"prod\", "
	"\"namespace\": \"shop\",\n"
	"                 \"pod\": \"cart-7d9f8b6c5-x2x9k\", \"pod_uid\": "
	"\"0b6a1c52-5c39-4bb0-9a37-0a8f3b1e2d11\",\n"
	"                 \"node\": \"node-a\", \"workload_kind\": \"Deployment\", \"workload\": "
	"\"cart\",\n"
	"                 \"replicaset\": \"cart-7d9f8b6c5\", \"service\": \"cart\",\n"
	"                 \"labels\": {\"tier\": \"web\", \"app\": \"cart\"},\n"
	"                 \"zone\": \"us-east-1a\", \"region\": \"us-east-1\", \"vpc\": \"vpc-1\", "
	"\"subnet\": \"subnet-a\",\n"
	"                 \"vm\": \"\", \"instance_id\": \"\"}]}\n";

static char errbuf[1024];

/* Parse text, publish it as the inventory source and take a snapshot. */
static struct enrich_snapshot *load(struct enrich *e, const char *text)
{
	struct enrich_table *t = inventory_parse_string(text, "t.json", errbuf, sizeof(errbuf));

	cr_assert_not_null(t, "parse failed: %s", errbuf);
	enrich_publish(e, ENRICH_SRC_INVENTORY, t);
	return enrich_snapshot_acquire(e);
}

static bool lookup(const struct enrich_snapshot *s, const char *ip, struct enrich_labels *l)
{
	struct enrich_addr a;

	cr_assert_eq(enrich_addr_parse(ip, &a), 0);
	return enrich_lookup(s, &a, 0, l);
}

static void assert_label(const struct enrich_labels *l, enum enrich_dim d, const char *want)
{
	const char *got = l->v[d];

	if (!want)
		cr_assert_null(got, "%s: want NULL, got '%s'", enrich_dim_key(d), got);
	else
		cr_assert(got && strcmp(got, want) == 0, "%s: want '%s', got '%s'",
			  enrich_dim_key(d), want, got ? got : "(null)");
}

/* Parsing must fail with a message containing every one of the given parts. */
static void assert_rejected(const char *text, const char *part1, const char *part2)
{
	struct enrich_table *t;

	errbuf[0] = '\0';
	t = inventory_parse_string(text, "t.json", errbuf, sizeof(errbuf));
	cr_assert_null(t, "accepted: %s", text);
	cr_assert(strncmp(errbuf, "t.json: ", 8) == 0, "no name prefix: '%s'", errbuf);
	cr_assert(strstr(errbuf, part1), "'%s' lacks '%s'", errbuf, part1);
	if (part2)
		cr_assert(strstr(errbuf, part2), "'%s' lacks '%s'", errbuf, part2);
}

Test(inventory, example_yields_every_dimension)
{
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s = load(e, example);
	struct enrich_labels l;

	cr_assert(lookup(s, "10.0.1.7", &l));
	assert_label(&l, ENRICH_CLUSTER, "prod");
	assert_label(&l, ENRICH_NAMESPACE, "shop");
	assert_label(&l, ENRICH_POD, "cart-7d9f8b6c5-x2x9k");
	assert_label(&l, ENRICH_POD_UID, "0b6a1c52-5c39-4bb0-9a37-0a8f3b1e2d11");
	assert_label(&l, ENRICH_NODE, "node-a");
	assert_label(&l, ENRICH_WORKLOAD_KIND, "Deployment");
	assert_label(&l, ENRICH_WORKLOAD, "cart");
	assert_label(&l, ENRICH_REPLICASET, "cart-7d9f8b6c5");
	assert_label(&l, ENRICH_SERVICE, "cart");
	assert_label(&l, ENRICH_POD_LABELS, "{\"app\":\"cart\",\"tier\":\"web\"}");
	assert_label(&l, ENRICH_ZONE, "us-east-1a");
	assert_label(&l, ENRICH_REGION, "us-east-1");
	assert_label(&l, ENRICH_VPC, "vpc-1");
	assert_label(&l, ENRICH_SUBNET, "subnet-a");
	assert_label(&l, ENRICH_VM, NULL); /* "" is absent */
	assert_label(&l, ENRICH_INSTANCE_ID, NULL);
	assert_label(&l, ENRICH_KIND, "pod");

	/* Another address in the subnet gets only the subnet's fields. */
	cr_assert(lookup(s, "10.0.200.1", &l));
	assert_label(&l, ENRICH_VPC, "vpc-1");
	assert_label(&l, ENRICH_CLUSTER, "prod");
	assert_label(&l, ENRICH_POD, NULL);
	assert_label(&l, ENRICH_KIND, NULL);
	cr_assert_not(lookup(s, "10.1.0.1", &l));
	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(inventory, all_seventeen_dimensions_filled)
{
	static const char doc[] =
		"{\"endpoints\": [{\"ip\": \"fd00::7\", \"cluster\": \"c\", \"namespace\": \"n\","
		" \"pod\": \"p\", \"pod_uid\": \"u\", \"node\": \"no\", \"workload_kind\": \"wk\","
		" \"workload\": \"w\", \"replicaset\": \"rs\", \"service\": \"svc\","
		" \"labels\": {\"k\": \"v\"}, \"zone\": \"z\", \"region\": \"r\", \"vpc\": \"vp\","
		" \"subnet\": \"sn\", \"vm\": \"vm1\", \"instance_id\": \"i-1\", \"kind\": "
		"\"vm\"}]}";
	static const char *const want[ENRICH_DIM_COUNT] = {
		"c", "n", "p",	"u",  "no",  "wk",  "w",  "rs", "svc", "{\"k\":\"v\"}",
		"z", "r", "vp", "sn", "vm1", "i-1", "vm",
	};
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s = load(e, doc);
	struct enrich_labels l;
	unsigned d;

	cr_assert(lookup(s, "fd00::7", &l));
	for (d = 0; d < ENRICH_DIM_COUNT; d++)
		assert_label(&l, d, want[d]);
	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(inventory, unknown_keys_ignored_and_empty_values_absent)
{
	static const char doc[] = "{\"version\": 3, \"comment\": [1, 2],\n"
				  " \"subnets\": [{\"cidr\": \"10.0.0.0/24\", \"zone\": "
				  "\"net-zone\", \"pod\": \"net-pod\","
				  " \"owner\": {\"team\": 5}}],\n"
				  " \"endpoints\": [{\"ip\": \"10.0.0.5\", \"zone\": \"\", "
				  "\"pod\": null, \"labels\": {},"
				  " \"node\": \"n1\", \"colour\": 7, \"kind\": \"\"}]}";
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s = load(e, doc);
	struct enrich_labels l;

	cr_assert(lookup(s, "10.0.0.5", &l));
	assert_label(&l, ENRICH_NODE, "n1");
	/* "", null and {} on the endpoint are absent, so the subnet's values show through. */
	assert_label(&l, ENRICH_ZONE, "net-zone");
	assert_label(&l, ENRICH_POD, "net-pod");
	assert_label(&l, ENRICH_POD_LABELS, NULL);
	assert_label(&l, ENRICH_KIND, NULL);
	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(inventory, empty_document_is_an_empty_table)
{
	struct enrich_table *t = inventory_parse_string(" {} ", "t.json", errbuf, sizeof(errbuf));

	cr_assert_not_null(t, "%s", errbuf);
	cr_assert_eq(enrich_table_endpoints(t), 0);
	cr_assert_eq(enrich_table_subnets(t), 0);
	enrich_table_unref(t);
}

Test(inventory, syntax_errors_give_line_and_column)
{
	assert_rejected("{\"endpoints\": [\n  {\"ip\": \"10.0.0.1\",}\n]}",
			"t.json: line 2 column ", NULL);
	assert_rejected("{\"endpoints\": [", "t.json: line 1 column ", NULL);
	assert_rejected("", "line 1 column ", NULL);
	assert_rejected("{\"subnets\": [], \"subnets\": []}", "line 1 column ", "duplicate");
	assert_rejected("\n  [1, 2]", "t.json: line 2 column 3: ", "top level must be an object");
}

Test(inventory, semantic_errors_give_json_path)
{
	assert_rejected("{\"endpoints\": [{\"ip\": \"10.0.0.1\"}, {\"ip\": \"10.0.0.999\"}]}",
			"t.json: endpoints[1].ip: '10.0.0.999' is not an IPv4 or IPv6 address",
			NULL);
	assert_rejected("{\"endpoints\": [{\"pod\": \"x\"}]}",
			"t.json: endpoints[0]: missing \"ip\"", NULL);
	assert_rejected("{\"endpoints\": [{\"ip\": 10}]}", "endpoints[0].ip: must be a string",
			"integer");
	assert_rejected("{\"subnets\": [{\"vpc\": \"v\"}]}", "t.json: subnets[0]: missing \"cidr\"",
			NULL);
	assert_rejected("{\"subnets\": [{\"cidr\": \"10.0.0.1/16\"}]}",
			"t.json: subnets[0].cidr: '10.0.0.1/16'",
			"host bits are set (the network is 10.0.0.0/16)");
	assert_rejected("{\"subnets\": [{\"cidr\": \"fd00:10::8001/113\"}]}", "subnets[0].cidr",
			"host bits are set (the network is fd00:10::8000/113)");
	assert_rejected("{\"subnets\": [{\"cidr\": \"10.0.0.0/33\"}]}", "subnets[0].cidr",
			"from 0 to 32");
	assert_rejected("{\"subnets\": [{\"cidr\": \"10.0.0.0\"}]}", "subnets[0].cidr", "/length");
	assert_rejected("{\"subnets\": [{\"cidr\": \"nope/8\"}]}", "subnets[0].cidr",
			"not an IPv4 or IPv6");
	assert_rejected("{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"pod\": true}]}",
			"t.json: endpoints[0].pod: must be a string, not a boolean", NULL);
	assert_rejected("{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"zone\": [\"a\"]}]}",
			"endpoints[0].zone: must be a string, not an array", NULL);
	assert_rejected("{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"kind\": \"robot\"}]}",
			"t.json: endpoints[0].kind: 'robot' is not one of", NULL);
	assert_rejected("{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"labels\": \"app=x\"}]}",
			"endpoints[0].labels: must be an object", NULL);
	assert_rejected("{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"labels\": {\"app\": 1}}]}",
			"endpoints[0].labels.app: must be a string, not an integer", NULL);
	assert_rejected("{\"endpoints\": {\"ip\": \"10.0.0.1\"}}",
			"t.json: endpoints: must be an array, not an object", NULL);
	assert_rejected("{\"subnets\": [\"10.0.0.0/8\"]}", "t.json: subnets[0]: must be an object",
			NULL);
}

/* {"endpoints": [{"ip": "10.0.0.1", "pod": "xxx...x"}]} with a pod name of n bytes. */
static char *doc_with_pod_of(size_t n)
{
	static const char head[] = "{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"pod\": \"";
	static const char tail[] = "\"}]}";
	char *doc = malloc(sizeof(head) + n + sizeof(tail));

	cr_assert_not_null(doc);
	memcpy(doc, head, sizeof(head) - 1);
	memset(doc + sizeof(head) - 1, 'x', n);
	memcpy(doc + sizeof(head) - 1 + n, tail, sizeof(tail));
	return doc;
}

Test(inventory, overlong_strings_rejected)
{
	char *doc = doc_with_pod_of(4097);
	struct enrich_table *t;

	assert_rejected(doc, "t.json: endpoints[0].pod: value is 4097 bytes", "4096");
	free(doc);

	doc = doc_with_pod_of(4096);
	t = inventory_parse_string(doc, "t.json", errbuf, sizeof(errbuf));
	cr_assert_not_null(t, "exactly 4096 bytes is fine: %s", errbuf);
	enrich_table_unref(t);
	free(doc);
}

/* ---- files ------------------------------------------------------------------------- */

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/lf-inventory-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void path_in_dir(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
	cr_assert_eq(fclose(f), 0);
}

static void set_mtime(const char *path, time_t sec)
{
	struct timespec ts[2] = {{sec, 0}, {sec, 0}};

	cr_assert_eq(utimensat(AT_FDCWD, path, ts, 0), 0, "%s", strerror(errno));
}

static const char *pod_of(struct enrich *e, const char *ip)
{
	static char buf[64];
	struct enrich_snapshot *s = enrich_snapshot_acquire(e);
	struct enrich_labels l;

	buf[0] = '\0';
	if (lookup(s, ip, &l) && l.v[ENRICH_POD])
		snprintf(buf, sizeof(buf), "%s", l.v[ENRICH_POD]);
	enrich_snapshot_release(s);
	return buf;
}

#define DOC_A "{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"pod\": \"pod-a\"}]}"
#define DOC_B "{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"pod\": \"pod-b\"}]}"
#define DOC_C                                                                                      \
	"{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"pod\": \"pod-c\"}, {\"ip\": \"10.0.0.2\"}],"    \
	" \"subnets\": [{\"cidr\": \"10.0.0.0/8\"}]}"

Test(inventory, parse_file_errors_name_the_path)
{
	char path[128];
	int fd;

	make_dir();
	path_in_dir(path, sizeof(path), "missing.json");
	cr_assert_null(inventory_parse_file(path, errbuf, sizeof(errbuf)));
	cr_assert(strncmp(errbuf, path, strlen(path)) == 0, "%s", errbuf);
	cr_assert(strstr(errbuf, "cannot open"), "%s", errbuf);

	path_in_dir(path, sizeof(path), "bad.json");
	write_file(path, "{\n\n  \"endpoints\": [}\n");
	cr_assert_null(inventory_parse_file(path, errbuf, sizeof(errbuf)));
	cr_assert(strncmp(errbuf, path, strlen(path)) == 0, "%s", errbuf);
	cr_assert(strstr(errbuf, ": line 3 column "), "%s", errbuf);

	/* Over the 64 MiB limit: rejected from its size alone (a sparse file, never read). */
	path_in_dir(path, sizeof(path), "huge.json");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (64 << 20) + 1), 0);
	close(fd);
	cr_assert_null(inventory_parse_file(path, errbuf, sizeof(errbuf)));
	cr_assert(strstr(errbuf, "larger than the 64 MiB limit"), "%s", errbuf);
	unlink(path);

	path_in_dir(path, sizeof(path), "good.json");
	write_file(path, DOC_C);
	struct enrich_table *t = inventory_parse_file(path, errbuf, sizeof(errbuf));

	cr_assert_not_null(t, "%s", errbuf);
	cr_assert_eq(enrich_table_endpoints(t), 2);
	cr_assert_eq(enrich_table_subnets(t), 1);
	enrich_table_unref(t);
	unlink(path);
	path_in_dir(path, sizeof(path), "bad.json");
	unlink(path);
	rmdir(dir);
}

Test(inventory, reload_keeps_last_good_table)
{
	struct enrich *e = enrich_new();
	const struct inventory_stats *st;
	struct inventory *inv;
	char path[128];

	make_dir();
	path_in_dir(path, sizeof(path), "inv.json");
	write_file(path, DOC_C);
	inv = inventory_new(e, path);
	cr_assert_not_null(inv);
	st = inventory_get_stats(inv);
	cr_assert_eq(st->loads_ok, 0, "inventory_new does not load");
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "");

	cr_assert_eq(inventory_reload(inv), 0);
	cr_assert_eq(st->loads_ok, 1);
	cr_assert_eq(st->endpoints, 2);
	cr_assert_eq(st->subnets, 1);
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-c");

	write_file(path,
		   "{\"endpoints\": [{\"ip\": \"10.0.0.1\", \"pod\": \"pod-bad\"}, {\"ip\": 4}]}");
	cr_assert_eq(inventory_reload(inv), -EINVAL);
	cr_assert_eq(st->loads_failed, 1);
	cr_assert_eq(st->loads_ok, 1);
	cr_assert_eq(st->endpoints, 2, "stats describe the table still published");
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-c");

	unlink(path);
	cr_assert_eq(inventory_reload(inv), -ENOENT);
	cr_assert_eq(st->loads_failed, 2);
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-c");

	inventory_free(inv);
	inventory_free(NULL);
	/* The published table belongs to the layer and outlives the inventory. */
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-c");
	enrich_free(e);
	rmdir(dir);
}

Test(inventory, poll_notices_changes_only)
{
	struct enrich *e = enrich_new();
	const struct inventory_stats *st;
	struct inventory *inv;
	char path[128];

	make_dir();
	path_in_dir(path, sizeof(path), "inv.json");
	write_file(path, DOC_A);
	set_mtime(path, 1700000000);
	inv = inventory_new(e, path);
	st = inventory_get_stats(inv);

	cr_assert_eq(inventory_poll(inv), 1, "first poll loads");
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-a");
	cr_assert_eq(inventory_poll(inv), 0, "unchanged file is not re-read");
	cr_assert_eq(st->loads_ok, 1);

	/* Same inode, same size: only the mtime tells the new content apart. */
	write_file(path, DOC_B);
	set_mtime(path, 1700000000);
	cr_assert_eq(inventory_poll(inv), 0, "identical inode/size/mtime looks unchanged");
	set_mtime(path, 1700000100);
	cr_assert_eq(inventory_poll(inv), 1);
	cr_assert_eq(st->loads_ok, 2);
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-b");

	/* A bad version is tried (and counted) once, not on every poll. */
	write_file(path, "{\"endpoints\": 5}");
	set_mtime(path, 1700000200);
	cr_assert_eq(inventory_poll(inv), -EINVAL);
	cr_assert_eq(inventory_poll(inv), 0);
	cr_assert_eq(st->loads_failed, 1);
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-b");

	/* The file disappears: the last good table stays. */
	unlink(path);
	cr_assert_eq(inventory_poll(inv), -ENOENT);
	cr_assert_eq(inventory_poll(inv), -ENOENT);
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-b");
	cr_assert_eq(st->loads_failed, 1, "a missing file is not a failed load");

	/* And comes back. */
	write_file(path, DOC_C);
	cr_assert_eq(inventory_poll(inv), 1);
	cr_assert_str_eq(pod_of(e, "10.0.0.1"), "pod-c");
	cr_assert_eq(st->endpoints, 2);

	inventory_free(inv);
	enrich_free(e);
	unlink(path);
	rmdir(dir);
}

Test(inventory, bad_arguments)
{
	struct enrich *e = enrich_new();

	cr_assert_null(inventory_new(NULL, "/x"));
	cr_assert_null(inventory_new(e, NULL));
	cr_assert_eq(inventory_reload(NULL), -EINVAL);
	cr_assert_eq(inventory_poll(NULL), -EINVAL);
	cr_assert_null(inventory_parse_string(NULL, "t.json", errbuf, sizeof(errbuf)));
	cr_assert_null(inventory_parse_string("[", "t.json", NULL, 0));
	enrich_free(e);
}

#ifdef LF_TOP_SRCDIR
Test(inventory, shipped_sample_parses)
{
	struct enrich_table *t = inventory_parse_file(
		LF_TOP_SRCDIR "/tests/data/sample-inventory.json", errbuf, sizeof(errbuf));
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_labels l;

	cr_assert_not_null(t, "%s", errbuf);
	cr_assert_eq(enrich_table_endpoints(t), 14);
	cr_assert_eq(enrich_table_subnets(t), 5);
	enrich_publish(e, ENRICH_SRC_INVENTORY, t);
	s = enrich_snapshot_acquire(e);
	cr_assert(lookup(s, "10.244.0.30", &l));
	assert_label(&l, ENRICH_POD, "redis-0");
	assert_label(&l, ENRICH_REPLICASET, NULL);
	assert_label(&l, ENRICH_POD_LABELS,
		     "{\"app\":\"redis\",\"role\":\"primary\","
		     "\"statefulset.kubernetes.io/pod-name\":\"redis-0\"}");
	enrich_snapshot_release(s);
	enrich_free(e);
}
#endif
