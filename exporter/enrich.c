// SPDX-License-Identifier: Apache-2.0
/*
 * enrich: the label layer over the per-source tables (enrich_table.c). Each publish builds a
 * new reference-counted snapshot of the current tables and swaps it in under a mutex; a
 * lookup reads one snapshot's tables in precedence order, endpoints before subnets, and never
 * allocates or locks.
 */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <glib.h>

#include "enrich.h"
#include "enrich_table.h"

static const char *const dim_names[ENRICH_DIM_COUNT] = {
	[ENRICH_CLUSTER] = "ClusterName",
	[ENRICH_NAMESPACE] = "PodNamespace",
	[ENRICH_POD] = "PodName",
	[ENRICH_POD_UID] = "PodUid",
	[ENRICH_NODE] = "NodeName",
	[ENRICH_WORKLOAD_KIND] = "WorkloadKind",
	[ENRICH_WORKLOAD] = "WorkloadName",
	[ENRICH_REPLICASET] = "ReplicaSetName",
	[ENRICH_SERVICE] = "ServiceName",
	[ENRICH_POD_LABELS] = "PodLabels",
	[ENRICH_ZONE] = "Zone",
	[ENRICH_REGION] = "Region",
	[ENRICH_VPC] = "VpcId",
	[ENRICH_SUBNET] = "SubnetId",
	[ENRICH_VM] = "VmName",
	[ENRICH_INSTANCE_ID] = "InstanceId",
	[ENRICH_KIND] = "EntityKind",
};

static const char *const dim_keys[ENRICH_DIM_COUNT] = {
	[ENRICH_CLUSTER] = "cluster",
	[ENRICH_NAMESPACE] = "namespace",
	[ENRICH_POD] = "pod",
	[ENRICH_POD_UID] = "pod_uid",
	[ENRICH_NODE] = "node",
	[ENRICH_WORKLOAD_KIND] = "workload_kind",
	[ENRICH_WORKLOAD] = "workload",
	[ENRICH_REPLICASET] = "replicaset",
	[ENRICH_SERVICE] = "service",
	[ENRICH_POD_LABELS] = "labels",
	[ENRICH_ZONE] = "zone",
	[ENRICH_REGION] = "region",
	[ENRICH_VPC] = "vpc",
	[ENRICH_SUBNET] = "subnet",
	[ENRICH_VM] = "vm",
	[ENRICH_INSTANCE_ID] = "instance_id",
	[ENRICH_KIND] = "kind",
};

const char *enrich_dim_name(enum enrich_dim d)
{
	return (unsigned)d < ENRICH_DIM_COUNT ? dim_names[d] : NULL;
}

const char *enrich_dim_key(enum enrich_dim d)
{
	return (unsigned)d < ENRICH_DIM_COUNT ? dim_keys[d] : NULL;
}

/* ---- the layer ---------------------------------------------------------------------- */

/* One consistent set of tables. Immutable after creation; freed with its last reference. */
struct enrich_snapshot {
	atomic_uint ref;
	uint64_t generation;
	struct enrich_table *tables[ENRICH_SRC_COUNT]; /* one reference each; NULL = no table */
};

struct enrich {
	/* Guards cur (the pointer and the layer's reference), never a lookup. */
	pthread_mutex_t lock;
	struct enrich_snapshot *cur;	 /* one reference owned by the layer; never NULL */
	atomic_uint_fast64_t generation; /* == cur->generation; readable without the lock */
};

static void snapshot_unref(struct enrich_snapshot *s)
{
	unsigned i;

	if (!s || !enrich_ref_dec(&s->ref))
		return;
	for (i = 0; i < ENRICH_SRC_COUNT; i++)
		enrich_table_unref(s->tables[i]);
	g_free(s);
}

struct enrich *enrich_new(void)
{
	struct enrich *e = g_try_new0(struct enrich, 1);

	if (!e)
		return NULL;
	e->cur = g_try_new0(struct enrich_snapshot, 1);
	if (!e->cur) {
		g_free(e);
		return NULL;
	}
	atomic_init(&e->cur->ref, 1);
	atomic_init(&e->generation, 0);
	pthread_mutex_init(&e->lock, NULL);
	return e;
}

void enrich_free(struct enrich *e)
{
	if (!e)
		return;
	snapshot_unref(e->cur);
	pthread_mutex_destroy(&e->lock);
	g_free(e);
}

void enrich_publish(struct enrich *e, enum enrich_source src, struct enrich_table *table)
{
	struct enrich_snapshot *ns, *old;
	unsigned i;

	assert(e && (unsigned)src < ENRICH_SRC_COUNT);
	if (!e || (unsigned)src >= ENRICH_SRC_COUNT) {
		enrich_table_unref(table);
		return;
	}
	ns = g_new0(struct enrich_snapshot, 1);
	atomic_init(&ns->ref, 1);

	pthread_mutex_lock(&e->lock);
	old = e->cur;
	for (i = 0; i < ENRICH_SRC_COUNT; i++)
		ns->tables[i] = i == (unsigned)src ? table : enrich_table_ref(old->tables[i]);
	ns->generation = old->generation + 1;
	e->cur = ns;
	atomic_store(&e->generation, ns->generation);
	pthread_mutex_unlock(&e->lock);

	/* Readers that acquired old keep it alive; the last release frees it. */
	snapshot_unref(old);
}

struct enrich_snapshot *enrich_snapshot_acquire(struct enrich *e)
{
	struct enrich_snapshot *s;

	assert(e);
	pthread_mutex_lock(&e->lock);
	s = e->cur;
	enrich_ref_inc(&s->ref);
	pthread_mutex_unlock(&e->lock);
	return s;
}

void enrich_snapshot_release(struct enrich_snapshot *s)
{
	snapshot_unref(s);
}

uint64_t enrich_generation(struct enrich *e)
{
	return atomic_load(&e->generation);
}

uint64_t enrich_snapshot_generation(const struct enrich_snapshot *s)
{
	return s ? s->generation : 0;
}

bool enrich_lookup(const struct enrich_snapshot *s, const struct enrich_addr *addr, uint64_t at_ms,
		   struct enrich_labels *ret_labels)
{
	unsigned i, filled = 0;
	bool matched = false;

	if (!ret_labels)
		return false;
	memset(ret_labels, 0, sizeof(*ret_labels));
	if (!s || !addr || !enrich_table_family_ok(addr->family))
		return false;

	/* Pass 1: endpoints, sources in precedence order, each field from the first that has it. */
	for (i = 0; i < ENRICH_SRC_COUNT && filled < ENRICH_DIM_COUNT; i++) {
		int n;

		if (!s->tables[i])
			continue;
		n = enrich_table_fill_endpoint(s->tables[i], addr, at_ms, ret_labels);
		if (n >= 0) {
			matched = true;
			filled += (unsigned)n;
		}
	}
	/* Pass 2: each source's longest matching subnet fills what is still missing. */
	for (i = 0; i < ENRICH_SRC_COUNT && filled < ENRICH_DIM_COUNT; i++) {
		int n;

		if (!s->tables[i])
			continue;
		n = enrich_table_fill_subnet(s->tables[i], addr, ret_labels);
		if (n >= 0) {
			matched = true;
			filled += (unsigned)n;
		}
	}
	return matched;
}
