// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "enrich.h"

static struct enrich_addr addr_of(const char *text)
{
	struct enrich_addr a;

	cr_assert_eq(enrich_addr_parse(text, &a), 0, "parse '%s'", text);
	return a;
}

static void add_ep(struct enrich_table_builder *b, const char *ip, enum enrich_dim d1,
		   const char *v1, enum enrich_dim d2, const char *v2)
{
	const char *f[ENRICH_DIM_COUNT] = {0};
	struct enrich_addr a = addr_of(ip);

	f[d1] = v1;
	f[d2] = v2;
	cr_assert_eq(enrich_builder_add_endpoint(b, &a, f), 0);
}

static void add_net(struct enrich_table_builder *b, const char *cidr, enum enrich_dim d1,
		    const char *v1, enum enrich_dim d2, const char *v2)
{
	const char *f[ENRICH_DIM_COUNT] = {0};
	struct enrich_addr a;
	uint8_t len;

	cr_assert_eq(enrich_prefix_parse(cidr, &a, &len), 0, "parse '%s'", cidr);
	f[d1] = v1;
	f[d2] = v2;
	cr_assert_eq(enrich_builder_add_subnet(b, &a, len, f), 0);
}

/* Look ip up in a one-table layer and return the labels (valid while s is held). */
static bool lookup(const struct enrich_snapshot *s, const char *ip, struct enrich_labels *l)
{
	struct enrich_addr a = addr_of(ip);

	return enrich_lookup(s, &a, 0, l);
}

static void assert_label(const struct enrich_labels *l, enum enrich_dim d, const char *want)
{
	const char *got = l->v[d];

	if (!want)
		cr_assert_null(got, "%s: want NULL, got '%s'", enrich_dim_name(d), got);
	else
		cr_assert(got && strcmp(got, want) == 0, "%s: want '%s', got '%s'",
			  enrich_dim_name(d), want, got ? got : "(null)");
}

Test(enrich, dim_names_and_keys_in_enum_order)
{
	static const char *const names[] = {
		"ClusterName",	"PodNamespace", "PodName",	  "PodUid",	 "NodeName",
		"WorkloadKind", "WorkloadName", "ReplicaSetName", "ServiceName", "PodLabels",
		"Zone",		"Region",	"VpcId",	  "SubnetId",	 "VmName",
		"InstanceId",	"EntityKind",
	};
	static const char *const keys[] = {
		"cluster",  "namespace",  "pod",     "pod_uid",	    "node", "workload_kind",
		"workload", "replicaset", "service", "labels",	    "zone", "region",
		"vpc",	    "subnet",	  "vm",	     "instance_id", "kind",
	};
	unsigned d;

	cr_assert_eq(sizeof(names) / sizeof(names[0]), ENRICH_DIM_COUNT);
	cr_assert_eq(sizeof(keys) / sizeof(keys[0]), ENRICH_DIM_COUNT);
	for (d = 0; d < ENRICH_DIM_COUNT; d++) {
		cr_assert_str_eq(enrich_dim_name(d), names[d]);
		cr_assert_str_eq(enrich_dim_key(d), keys[d]);
	}
	cr_assert_null(enrich_dim_name(ENRICH_DIM_COUNT));
	cr_assert_null(enrich_dim_key(ENRICH_DIM_COUNT));
}

Test(enrich, addr_parse_v4_v6_and_rejects)
{
	static const uint8_t v6[16] = {0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	struct enrich_addr a;

	memset(&a, 0xee, sizeof(a));
	cr_assert_eq(enrich_addr_parse("10.1.2.3", &a), 0);
	cr_assert_eq(a.family, 4);
	cr_assert_eq(a.addr[0], 10);
	cr_assert_eq(a.addr[1], 1);
	cr_assert_eq(a.addr[2], 2);
	cr_assert_eq(a.addr[3], 3);
	cr_assert_eq(a.addr[4], 0, "bytes past an IPv4 address are zeroed");
	cr_assert_eq(a.addr[15], 0);

	cr_assert_eq(enrich_addr_parse("fd00:10::1", &a), 0);
	cr_assert_eq(a.family, 6);
	cr_assert_arr_eq(a.addr, v6, 16);

	memset(&a, 0x5a, sizeof(a));
	cr_assert_eq(enrich_addr_parse("10.0.0.999", &a), -EINVAL);
	cr_assert_eq(a.family, 0x5a, "ret_addr untouched on failure");
	cr_assert_eq(enrich_addr_parse("10.0.0", &a), -EINVAL);
	cr_assert_eq(enrich_addr_parse("", &a), -EINVAL);
	cr_assert_eq(enrich_addr_parse(" 10.0.0.1", &a), -EINVAL);
	cr_assert_eq(enrich_addr_parse("10.0.0.1/32", &a), -EINVAL);
	cr_assert_eq(enrich_addr_parse("fd00::1::2", &a), -EINVAL);
	cr_assert_eq(enrich_addr_parse("pod-a", &a), -EINVAL);
	cr_assert_eq(enrich_addr_parse(NULL, &a), -EINVAL);
}

Test(enrich, prefix_parse_lengths_and_host_bits)
{
	struct enrich_addr a;
	uint8_t len = 99;

	cr_assert_eq(enrich_prefix_parse("10.0.0.0/16", &a, &len), 0);
	cr_assert_eq(a.family, 4);
	cr_assert_eq(len, 16);
	cr_assert_eq(a.addr[0], 10);
	cr_assert_eq(enrich_prefix_parse("0.0.0.0/0", &a, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(enrich_prefix_parse("10.1.2.3/32", &a, &len), 0);
	cr_assert_eq(len, 32);
	cr_assert_eq(enrich_prefix_parse("10.1.2.128/25", &a, &len), 0);
	cr_assert_eq(len, 25);
	cr_assert_eq(enrich_prefix_parse("fd00:10:244::/64", &a, &len), 0);
	cr_assert_eq(a.family, 6);
	cr_assert_eq(len, 64);
	cr_assert_eq(a.addr[1], 0x00);
	cr_assert_eq(a.addr[3], 0x10);
	cr_assert_eq(enrich_prefix_parse("fd00::1/128", &a, &len), 0);
	cr_assert_eq(len, 128);
	cr_assert_eq(enrich_prefix_parse("::/0", &a, &len), 0);
	cr_assert_eq(len, 0);

	len = 77;
	/* Host bits set. */
	cr_assert_eq(enrich_prefix_parse("10.0.0.1/16", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.1.2.129/25", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("fd00::1/64", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("fd00:10:244:0:8000::/64", &a, &len), -EINVAL);
	/* Lengths out of range or malformed. */
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/33", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("fd00::/129", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/-1", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/+8", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/8x", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/08", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/1000", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0/8", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("/8", &a, &len), -EINVAL);
	cr_assert_eq(enrich_prefix_parse("10.0.0.0/8/8", &a, &len), -EINVAL);
	cr_assert_eq(len, 77, "ret_len untouched on failure");
}

Test(enrich, exact_endpoint_lookup)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_labels l;
	struct enrich_addr a;

	add_ep(b, "10.0.1.7", ENRICH_POD, "cart-1", ENRICH_NAMESPACE, "shop");
	add_ep(b, "10.0.1.8", ENRICH_POD, "cart-2", ENRICH_NAMESPACE, "shop");
	add_ep(b, "fd00::7", ENRICH_POD, "cart-v6", ENRICH_KIND, "pod");
	/* A later entry for the same address replaces the earlier one. */
	add_ep(b, "10.0.1.8", ENRICH_POD, "cart-2b", ENRICH_NODE, "node-b");
	enrich_publish(e, ENRICH_SRC_INVENTORY, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);

	cr_assert(lookup(s, "10.0.1.7", &l));
	assert_label(&l, ENRICH_POD, "cart-1");
	assert_label(&l, ENRICH_NAMESPACE, "shop");
	assert_label(&l, ENRICH_NODE, NULL);

	cr_assert(lookup(s, "10.0.1.8", &l));
	assert_label(&l, ENRICH_POD, "cart-2b");
	assert_label(&l, ENRICH_NODE, "node-b");
	assert_label(&l, ENRICH_NAMESPACE, NULL);

	cr_assert(lookup(s, "fd00::7", &l));
	assert_label(&l, ENRICH_POD, "cart-v6");
	assert_label(&l, ENRICH_KIND, "pod");

	/* Misses: neighbour address, same bytes in the other family, garbage past IPv4. */
	cr_assert_not(lookup(s, "10.0.1.9", &l));
	assert_label(&l, ENRICH_POD, NULL);
	cr_assert_not(lookup(s, "::a00:107", &l));
	a = addr_of("10.0.1.7");
	memset(a.addr + 4, 0xab, 12);
	cr_assert(enrich_lookup(s, &a, 0, &l), "bytes past an IPv4 address are ignored");
	assert_label(&l, ENRICH_POD, "cart-1");
	a.family = 5;
	cr_assert_not(enrich_lookup(s, &a, 0, &l));

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, table_counts_and_empty_strings_absent)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_labels l, l2;
	struct enrich_snapshot *s;
	struct enrich_table *t;

	add_ep(b, "10.0.0.1", ENRICH_POD, "", ENRICH_NODE, "n1");
	add_ep(b, "10.0.0.2", ENRICH_POD, "p2", ENRICH_NODE, "n1");
	add_net(b, "10.0.0.0/24", ENRICH_POD, "from-subnet", ENRICH_ZONE, "");
	add_net(b, "10.0.0.0/24", ENRICH_POD, "from-subnet", ENRICH_ZONE, ""); /* replaces */
	t = enrich_builder_finish(b);
	cr_assert_eq(enrich_table_endpoints(t), 2);
	cr_assert_eq(enrich_table_subnets(t), 1);
	cr_assert_eq(enrich_table_endpoints(NULL), 0);
	enrich_publish(e, ENRICH_SRC_INVENTORY, t);
	s = enrich_snapshot_acquire(e);

	cr_assert(lookup(s, "10.0.0.1", &l));
	/* "" on the endpoint is absent, so the subnet fills it; "" on the subnet stays NULL. */
	assert_label(&l, ENRICH_POD, "from-subnet");
	assert_label(&l, ENRICH_NODE, "n1");
	assert_label(&l, ENRICH_ZONE, NULL);
	/* Interned: equal strings share storage. */
	cr_assert(lookup(s, "10.0.0.2", &l2));
	cr_assert_eq(l.v[ENRICH_NODE], l2.v[ENRICH_NODE]);

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, builder_rejects_bad_input)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich_addr a = addr_of("10.0.0.1");

	cr_assert_eq(enrich_builder_add_subnet(b, &a, 24, NULL), -EINVAL, "host bits set");
	cr_assert_eq(enrich_builder_add_subnet(b, &a, 33, NULL), -EINVAL);
	a.family = 0;
	cr_assert_eq(enrich_builder_add_endpoint(b, &a, NULL), -EINVAL);
	cr_assert_eq(enrich_builder_add_endpoint(NULL, &a, NULL), -EINVAL);
	a = addr_of("10.0.0.1");
	cr_assert_eq(enrich_builder_add_endpoint(b, &a, NULL), 0, "NULL fields = all absent");
	enrich_builder_free(b);
	enrich_builder_free(NULL);
	cr_assert_null(enrich_builder_finish(NULL));
}

Test(enrich, longest_prefix_wins_v4)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_labels l;

	/* Inserted shortest-last so insertion order cannot be what picks the winner. */
	add_net(b, "10.1.2.0/24", ENRICH_SUBNET, "s24", ENRICH_VPC, NULL);
	add_net(b, "10.0.0.0/8", ENRICH_SUBNET, "s8", ENRICH_VPC, "vpc8");
	add_net(b, "10.1.0.0/16", ENRICH_SUBNET, "s16", ENRICH_ZONE, "z16");
	add_net(b, "0.0.0.0/0", ENRICH_KIND, "external", ENRICH_SUBNET, "s0");
	enrich_publish(e, ENRICH_SRC_INVENTORY, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);

	cr_assert(lookup(s, "10.1.2.3", &l));
	assert_label(&l, ENRICH_SUBNET, "s24");
	/* Only the longest match of a source is used: /16 and /8 fields do not leak in. */
	assert_label(&l, ENRICH_ZONE, NULL);
	assert_label(&l, ENRICH_VPC, NULL);

	cr_assert(lookup(s, "10.1.3.3", &l));
	assert_label(&l, ENRICH_SUBNET, "s16");
	assert_label(&l, ENRICH_ZONE, "z16");

	cr_assert(lookup(s, "10.200.0.1", &l));
	assert_label(&l, ENRICH_SUBNET, "s8");
	assert_label(&l, ENRICH_VPC, "vpc8");

	cr_assert(lookup(s, "192.0.2.1", &l));
	assert_label(&l, ENRICH_SUBNET, "s0");
	assert_label(&l, ENRICH_KIND, "external");

	/* IPv4 prefixes never match IPv6 addresses. */
	cr_assert_not(lookup(s, "::1", &l));

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, longest_prefix_wins_v6)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_labels l;

	add_net(b, "fd00:10:244:1::/64", ENRICH_SUBNET, "s64", ENRICH_VPC, NULL);
	add_net(b, "fd00::/8", ENRICH_SUBNET, "s8", ENRICH_VPC, "vpc8");
	add_net(b, "fd00:10::/32", ENRICH_SUBNET, "s32", ENRICH_VPC, NULL);
	add_net(b, "fd00:10:244:1::80/121", ENRICH_SUBNET, "s121", ENRICH_VPC, NULL);
	add_net(b, "10.0.0.0/8", ENRICH_SUBNET, "v4", ENRICH_VPC, NULL);
	enrich_publish(e, ENRICH_SRC_INVENTORY, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);

	cr_assert(lookup(s, "fd00:10:244:1::81", &l));
	assert_label(&l, ENRICH_SUBNET, "s121");
	cr_assert(lookup(s, "fd00:10:244:1::7f", &l));
	assert_label(&l, ENRICH_SUBNET, "s64");
	cr_assert(lookup(s, "fd00:10:245::1", &l));
	assert_label(&l, ENRICH_SUBNET, "s32");
	cr_assert(lookup(s, "fdff::1", &l));
	assert_label(&l, ENRICH_SUBNET, "s8");
	assert_label(&l, ENRICH_VPC, "vpc8");
	cr_assert_not(lookup(s, "fe80::1", &l));
	cr_assert_not(lookup(s, "::ffff:10.0.0.1", &l), "IPv4-mapped is IPv6, not 10/8");

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, endpoint_beats_subnet_and_subnet_fills_gaps)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_labels l;

	add_ep(b, "10.0.1.7", ENRICH_ZONE, "ep-zone", ENRICH_POD, "cart");
	add_net(b, "10.0.0.0/16", ENRICH_ZONE, "net-zone", ENRICH_VPC, "vpc-1");
	enrich_publish(e, ENRICH_SRC_INVENTORY, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);

	cr_assert(lookup(s, "10.0.1.7", &l));
	assert_label(&l, ENRICH_ZONE, "ep-zone");
	assert_label(&l, ENRICH_POD, "cart");
	assert_label(&l, ENRICH_VPC, "vpc-1");
	assert_label(&l, ENRICH_REGION, NULL);

	cr_assert(lookup(s, "10.0.1.8", &l));
	assert_label(&l, ENRICH_ZONE, "net-zone");
	assert_label(&l, ENRICH_POD, NULL);

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, source_precedence_field_by_field)
{
	struct enrich_table_builder *k8s = enrich_builder_new(), *inv = enrich_builder_new();
	struct enrich_table_builder *cloud = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_labels l;

	add_ep(k8s, "10.0.1.7", ENRICH_POD, "k8s-pod", ENRICH_NAMESPACE, NULL);
	add_net(k8s, "10.0.1.0/24", ENRICH_CLUSTER, "k8s-cluster", ENRICH_REGION, NULL);
	add_ep(inv, "10.0.1.7", ENRICH_POD, "inv-pod", ENRICH_NAMESPACE, "inv-ns");
	add_net(inv, "10.0.0.0/16", ENRICH_CLUSTER, "inv-cluster", ENRICH_ZONE, "inv-zone");
	add_net(cloud, "10.0.0.0/8", ENRICH_ZONE, "cloud-zone", ENRICH_REGION, "cloud-region");
	/* Published out of precedence order: the enum, not the order, decides. */
	enrich_publish(e, ENRICH_SRC_CLOUD, enrich_builder_finish(cloud));
	enrich_publish(e, ENRICH_SRC_INVENTORY, enrich_builder_finish(inv));
	enrich_publish(e, ENRICH_SRC_KUBERNETES, enrich_builder_finish(k8s));
	s = enrich_snapshot_acquire(e);

	cr_assert(lookup(s, "10.0.1.7", &l));
	assert_label(&l, ENRICH_POD, "k8s-pod");	 /* k8s endpoint beats inventory */
	assert_label(&l, ENRICH_NAMESPACE, "inv-ns");	 /* only inventory has it */
	assert_label(&l, ENRICH_CLUSTER, "k8s-cluster"); /* k8s /24 beats inventory /16 */
	assert_label(&l, ENRICH_ZONE, "inv-zone");	 /* inventory subnet beats cloud */
	assert_label(&l, ENRICH_REGION, "cloud-region"); /* only cloud has it */

	cr_assert(lookup(s, "10.9.0.1", &l));
	assert_label(&l, ENRICH_ZONE, "cloud-zone");
	assert_label(&l, ENRICH_CLUSTER, NULL);

	/* Withdrawing a source (NULL) lets the next one show through. */
	enrich_snapshot_release(s);
	enrich_publish(e, ENRICH_SRC_KUBERNETES, NULL);
	s = enrich_snapshot_acquire(e);
	cr_assert(lookup(s, "10.0.1.7", &l));
	assert_label(&l, ENRICH_POD, "inv-pod");
	assert_label(&l, ENRICH_CLUSTER, "inv-cluster");
	cr_assert_eq(enrich_snapshot_generation(s), 4);

	enrich_snapshot_release(s);
	enrich_free(e);
}

static struct enrich_table *one_pod_table(const char *ip, const char *pod)
{
	struct enrich_table_builder *b = enrich_builder_new();

	add_ep(b, ip, ENRICH_POD, pod, ENRICH_KIND, "pod");
	return enrich_builder_finish(b);
}

Test(enrich, snapshot_isolation_and_generation)
{
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s0, *s1, *s2;
	struct enrich_labels l;

	s0 = enrich_snapshot_acquire(e);
	cr_assert_not_null(s0);
	cr_assert_eq(enrich_snapshot_generation(s0), 0);
	cr_assert_not(lookup(s0, "10.0.0.1", &l));

	enrich_publish(e, ENRICH_SRC_INVENTORY, one_pod_table("10.0.0.1", "old"));
	s1 = enrich_snapshot_acquire(e);
	cr_assert_eq(enrich_snapshot_generation(s1), 1);

	enrich_publish(e, ENRICH_SRC_INVENTORY, one_pod_table("10.0.0.1", "new"));
	/* The held snapshot still answers with the labels it was taken with. */
	cr_assert(lookup(s1, "10.0.0.1", &l));
	assert_label(&l, ENRICH_POD, "old");
	cr_assert_not(lookup(s0, "10.0.0.1", &l));

	s2 = enrich_snapshot_acquire(e);
	cr_assert_eq(enrich_snapshot_generation(s2), 2);
	cr_assert(lookup(s2, "10.0.0.1", &l));
	assert_label(&l, ENRICH_POD, "new");

	/* Snapshots outlive the layer. */
	enrich_free(e);
	cr_assert(lookup(s1, "10.0.0.1", &l));
	assert_label(&l, ENRICH_POD, "old");
	enrich_snapshot_release(s0);
	enrich_snapshot_release(s1);
	cr_assert(lookup(s2, "10.0.0.1", &l));
	assert_label(&l, ENRICH_POD, "new");
	enrich_snapshot_release(s2);
	enrich_snapshot_release(NULL);
}

Test(enrich, table_refs_outlive_layer)
{
	struct enrich *e = enrich_new();
	struct enrich_table *t = one_pod_table("10.0.0.1", "p");

	cr_assert_eq(enrich_table_ref(t), t);
	enrich_publish(e, ENRICH_SRC_KUBERNETES, t);
	enrich_publish(e, ENRICH_SRC_LIBVIRT, enrich_table_ref(t)); /* one table, two sources */
	enrich_publish(e, ENRICH_SRC_KUBERNETES, NULL);
	enrich_free(e);
	/* Our own reference is still good (ASan would flag a premature free). */
	cr_assert_eq(enrich_table_endpoints(t), 1);
	enrich_table_unref(t);
	enrich_table_unref(NULL);
	enrich_free(NULL);
}

#define CONC_PUBLISHES 1000

struct conc {
	struct enrich *e;
	atomic_bool done; /* set by the publisher after its last publish */
};

static void *publisher(void *arg)
{
	struct conc *c = arg;
	char pod[32];
	unsigned i;

	for (i = 1; i <= CONC_PUBLISHES; i++) {
		snprintf(pod, sizeof(pod), "pod-%u", i);
		enrich_publish(c->e, ENRICH_SRC_INVENTORY, one_pod_table("10.0.0.1", pod));
	}
	atomic_store(&c->done, true);
	return NULL;
}

/* Look up in the current snapshot; returns false if the labels are not those of its generation. */
static bool check_once(struct enrich *e, const struct enrich_addr *a, uint64_t *ret_gen)
{
	struct enrich_snapshot *s = enrich_snapshot_acquire(e);
	uint64_t gen = enrich_snapshot_generation(s);
	struct enrich_labels l;
	bool hit = enrich_lookup(s, a, 0, &l), ok;
	char want[32];

	/* Generation g holds exactly the g-th published table. */
	snprintf(want, sizeof(want), "pod-%" PRIu64, gen);
	ok = hit == (gen > 0) &&
	     (gen == 0 || (l.v[ENRICH_POD] && strcmp(l.v[ENRICH_POD], want) == 0));
	enrich_snapshot_release(s);
	*ret_gen = gen;
	return ok;
}

Test(enrich, concurrent_publish_and_lookup, .timeout = 60)
{
	struct conc c = {.e = enrich_new()};
	struct enrich_addr a = addr_of("10.0.0.1");
	uint64_t last = 0, gen, lookups = 0;
	unsigned mismatches = 0, backwards = 0;
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, publisher, &c), 0);
	while (!atomic_load(&c.done)) {
		if (!check_once(c.e, &a, &gen))
			mismatches++;
		if (gen < last)
			backwards++;
		last = gen;
		lookups++;
	}
	pthread_join(th, NULL);
	cr_assert_eq(mismatches, 0, "%u of %" PRIu64 " lookups saw foreign labels", mismatches,
		     lookups);
	cr_assert_eq(backwards, 0, "generation went backwards");
	cr_assert(check_once(c.e, &a, &gen));
	cr_assert_eq(gen, CONC_PUBLISHES, "one generation per publish");
	enrich_free(c.e);
}

/* ---- time-bounded entries (enrich_builder_add_endpoint_span) ------------------------ */

static void add_span(struct enrich_table_builder *b, const char *ip, const char *pod,
		     uint64_t from_ms, uint64_t until_ms)
{
	const char *f[ENRICH_DIM_COUNT] = {0};
	struct enrich_addr a = addr_of(ip);

	f[ENRICH_POD] = pod;
	cr_assert_eq(enrich_builder_add_endpoint_span(b, &a, f, from_ms, until_ms), 0);
}

/* The pod a one-source snapshot gives ip for a flow started at at_ms (NULL = no match). */
static const char *pod_at(const struct enrich_snapshot *s, const char *ip, uint64_t at_ms)
{
	struct enrich_addr a = addr_of(ip);
	struct enrich_labels l;

	if (!enrich_lookup(s, &a, at_ms, &l))
		return NULL;
	return l.v[ENRICH_POD] ? l.v[ENRICH_POD] : "(no pod)";
}

#define assert_pod_at(s, ip, at, want)                                                             \
	do {                                                                                       \
		const char *got_ = pod_at(s, ip, at);                                              \
		cr_assert(got_ &&strcmp(got_, want) == 0, "%s at %llu: want %s, got %s", ip,       \
			  (unsigned long long)(at), want, got_ ? got_ : "(none)");                 \
	} while (0)

Test(enrich, span_picks_holder_at_flow_start)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;

	/* 10.0.0.5: a held it [1000, 2000), then b from 2500 on (a gap of 500 ms). Added newest
	 * first so the order of adding cannot be what decides. */
	add_span(b, "10.0.0.5", "b", 2500, UINT64_MAX);
	add_span(b, "10.0.0.5", "a", 1000, 2000);
	/* 10.0.0.6: c [100, 200) and d [300, 400), both over: a late flow gets the last one. */
	add_span(b, "10.0.0.6", "c", 100, 200);
	add_span(b, "10.0.0.6", "d", 300, 400);
	/* fd00::6: one pod seen from 5000 on. */
	add_span(b, "fd00::6", "v6", 5000, UINT64_MAX);
	enrich_publish(e, ENRICH_SRC_KUBERNETES, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);

	/* Inside a span: its holder, even though a newer holder exists now. */
	assert_pod_at(s, "10.0.0.5", 1000, "a");
	assert_pod_at(s, "10.0.0.5", 1999, "a");
	assert_pod_at(s, "10.0.0.5", 2500, "b");
	assert_pod_at(s, "10.0.0.5", UINT64_MAX - 1, "b");
	/* Before any holder: the earliest one; in the gap: the next holder. */
	assert_pod_at(s, "10.0.0.5", 0, "a");
	assert_pod_at(s, "10.0.0.5", 999, "a");
	assert_pod_at(s, "10.0.0.5", 2000, "b");
	assert_pod_at(s, "10.0.0.5", 2499, "b");
	/* After every span: the one that ended last; in the gap, the next one. */
	assert_pod_at(s, "10.0.0.6", 150, "c");
	assert_pod_at(s, "10.0.0.6", 250, "d");
	assert_pod_at(s, "10.0.0.6", 400, "d");
	assert_pod_at(s, "10.0.0.6", 1000000, "d");
	/* A flow seen before its pod was (watch latency) still gets it. */
	assert_pod_at(s, "fd00::6", 4000, "v6");
	assert_pod_at(s, "fd00::6", 6000, "v6");
	cr_assert_null(pod_at(s, "10.0.0.7", 1500));

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, span_overlap_newest_holder_wins_and_same_span_replaces)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	struct enrich_table *t;
	struct enrich_addr a = addr_of("10.0.0.5");

	/* old still listed (its DELETED not seen yet) while new already has the IP. */
	add_span(b, "10.0.0.5", "new", 2000, UINT64_MAX);
	add_span(b, "10.0.0.5", "old", 1000, 3000);
	/* Same span as "old": replaces it. */
	add_span(b, "10.0.0.5", "old2", 1000, 3000);
	/* Equal starts: the later-added one wins. */
	add_span(b, "10.0.0.9", "first", 1000, UINT64_MAX);
	add_span(b, "10.0.0.9", "second", 1000, 5000);
	/* Empty or reversed spans are rejected. */
	cr_assert_eq(enrich_builder_add_endpoint_span(b, &a, NULL, 10, 10), -EINVAL);
	cr_assert_eq(enrich_builder_add_endpoint_span(b, &a, NULL, 11, 10), -EINVAL);
	cr_assert_eq(enrich_builder_add_endpoint_span(NULL, &a, NULL, 0, 10), -EINVAL);
	t = enrich_builder_finish(b);
	cr_assert_eq(enrich_table_endpoints(t), 2, "an address with several spans counts once");
	enrich_publish(e, ENRICH_SRC_KUBERNETES, t);
	s = enrich_snapshot_acquire(e);

	assert_pod_at(s, "10.0.0.5", 1500, "old2");
	assert_pod_at(s, "10.0.0.5", 2000, "new");
	assert_pod_at(s, "10.0.0.5", 2999, "new");
	assert_pod_at(s, "10.0.0.5", 0, "old2");
	assert_pod_at(s, "10.0.0.9", 1000, "second");
	assert_pod_at(s, "10.0.0.9", 5000, "first");

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, span_mixes_with_always_entries_and_sources)
{
	struct enrich_table_builder *k8s = enrich_builder_new(), *inv = enrich_builder_new();
	struct enrich *e = enrich_new();
	const char *f[ENRICH_DIM_COUNT] = {0};
	struct enrich_addr a = addr_of("10.0.0.5");
	struct enrich_snapshot *s;
	struct enrich_labels l;

	/* An always-valid entry and a span on one address: inside the span the span's entry
	 * started later and wins; outside it, the always entry contains every instant. */
	add_ep(k8s, "10.0.0.5", ENRICH_POD, "always", ENRICH_NODE, "n-always");
	add_span(k8s, "10.0.0.5", "spanned", 1000, 2000);
	/* add_endpoint twice: the span is the same (always), so the second replaces. */
	add_ep(k8s, "10.0.0.8", ENRICH_POD, "x1", ENRICH_NODE, NULL);
	add_ep(k8s, "10.0.0.8", ENRICH_POD, "x2", ENRICH_NODE, NULL);
	f[ENRICH_NAMESPACE] = "inv-ns";
	f[ENRICH_POD] = "inv-pod";
	cr_assert_eq(enrich_builder_add_endpoint(inv, &a, f), 0);
	cr_assert_eq(enrich_builder_add_subnet(inv, &(struct enrich_addr){.family = 4}, 0,
					       (const char *[ENRICH_DIM_COUNT]){
						       [ENRICH_ZONE] = "z",
					       }),
		     0);
	enrich_publish(e, ENRICH_SRC_KUBERNETES, enrich_builder_finish(k8s));
	enrich_publish(e, ENRICH_SRC_INVENTORY, enrich_builder_finish(inv));
	s = enrich_snapshot_acquire(e);

	cr_assert(enrich_lookup(s, &a, 1500, &l));
	assert_label(&l, ENRICH_POD, "spanned");
	/* The chosen k8s entry has no node: the span's entry is used whole, never mixed with
	 * the same source's other entry; the next source still fills gaps. */
	assert_label(&l, ENRICH_NODE, NULL);
	assert_label(&l, ENRICH_NAMESPACE, "inv-ns");
	assert_label(&l, ENRICH_ZONE, "z");
	cr_assert(enrich_lookup(s, &a, 2000, &l));
	assert_label(&l, ENRICH_POD, "always");
	assert_label(&l, ENRICH_NODE, "n-always");
	cr_assert(enrich_lookup(s, &a, 0, &l));
	assert_label(&l, ENRICH_POD, "always");
	assert_pod_at(s, "10.0.0.8", 0, "x2");
	assert_pod_at(s, "10.0.0.8", 123456, "x2");

	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, span_long_chain)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_snapshot *s;
	char pod[16];
	unsigned i;

	/* 200 holders of one address, 10 ms each with 5 ms gaps, plus 1000 other addresses
	 * so the chain's records are spread among others and the records array grows. */
	for (i = 0; i < 200; i++) {
		char ip[32];

		snprintf(pod, sizeof(pod), "p%u", i);
		add_span(b, "10.9.9.9", pod, 1000 + 15 * (uint64_t)i, 1010 + 15 * (uint64_t)i);
		for (unsigned j = 0; j < 5; j++) {
			snprintf(ip, sizeof(ip), "10.1.%u.%u", i, j);
			add_ep(b, ip, ENRICH_POD, "other", ENRICH_NODE, NULL);
		}
	}
	enrich_publish(e, ENRICH_SRC_KUBERNETES, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);
	for (i = 0; i < 200; i++) {
		snprintf(pod, sizeof(pod), "p%u", i);
		assert_pod_at(s, "10.9.9.9", 1000 + 15 * (uint64_t)i, pod);
		assert_pod_at(s, "10.9.9.9", 1009 + 15 * (uint64_t)i, pod);
		/* In the gap after p(i): the next holder, or the last one after the end. */
		snprintf(pod, sizeof(pod), "p%u", i < 199 ? i + 1 : 199);
		assert_pod_at(s, "10.9.9.9", 1012 + 15 * (uint64_t)i, pod);
	}
	assert_pod_at(s, "10.1.7.3", 0, "other");
	enrich_snapshot_release(s);
	enrich_free(e);
}

Test(enrich, many_distinct_strings_interned)
{
	struct enrich_table_builder *b = enrich_builder_new();
	struct enrich *e = enrich_new();
	struct enrich_labels l, l0;
	struct enrich_snapshot *s;
	char ip[32], pod[32];
	unsigned i;

	/* 20000 distinct pod names (the intern index grows many times), 7 namespaces. */
	for (i = 0; i < 20000; i++) {
		char ns[16];

		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		snprintf(pod, sizeof(pod), "pod-%u", i);
		snprintf(ns, sizeof(ns), "ns-%u", i % 7);
		add_ep(b, ip, ENRICH_POD, pod, ENRICH_NAMESPACE, ns);
	}
	enrich_publish(e, ENRICH_SRC_KUBERNETES, enrich_builder_finish(b));
	s = enrich_snapshot_acquire(e);
	cr_assert(lookup(s, "10.0.0.0", &l0));
	for (i = 0; i < 20000; i++) {
		char ns[16];

		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16, (i >> 8) & 255, i & 255);
		snprintf(pod, sizeof(pod), "pod-%u", i);
		snprintf(ns, sizeof(ns), "ns-%u", i % 7);
		cr_assert(lookup(s, ip, &l));
		assert_label(&l, ENRICH_POD, pod);
		assert_label(&l, ENRICH_NAMESPACE, ns);
		if (i % 7 == 0)
			cr_assert_eq(l.v[ENRICH_NAMESPACE], l0.v[ENRICH_NAMESPACE], "stored once");
	}
	enrich_snapshot_release(s);
	enrich_free(e);
}
