// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_table: a pod's labels are resolved when they are needed (a rebuild, a tombstone), never
 * stored per pod: workload through ReplicaSet -> Deployment and Job -> CronJob, services from
 * the view's index, zone and region from the pod's node. A rebuild walks the whole view; node
 * and service addresses are reserved first so that no pod claims them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "k8s_table.h"

/* Services joined into one pod's ENRICH_SERVICE; more are left out. */
#define K8S_MAX_POD_SERVICES 64

/* ---- resolving a pod's labels ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void names_add(const char **names, unsigned *n, const struct k8s_svc_set *set)
{
	uint32_t i;
	unsigned j;

	for (i = 0; set && i < set->n; i++) {
		for (j = 0; j < *n; j++)
			if (names[j] == set->v[i].svc)
				break;
		if (j == *n && *n < K8S_MAX_POD_SERVICES)
			names[(*n)++] = set->v[i].svc;
	}
}

/* The pod's services, sorted and joined with ","; NULL = none. Valid until the next call. */
static const char *pod_services(const struct k8s_view *v, GString *scratch, const struct k8s_pod *p)
{
	const char *names[K8S_MAX_POD_SERVICES];
	struct k8s_pod_svcs *ps = g_hash_table_lookup(v->pod_svcs, &p->key);
	unsigned n = 0, i;

	if (ps)
		names_add(names, &n, &ps->set);
	if (g_hash_table_size(v->addr_svcs)) {
		for (i = 0; i < p->n_ips; i++) {
			struct k8s_addr_svcs *as =
				g_hash_table_lookup(v->addr_svcs, &p->ips[i].addr);

			if (as)
				names_add(names, &n, &as->set);
		}
	}
	if (!n)
		return NULL;
	if (n > 1)
		qsort(names, n, sizeof(names[0]), cmp_str);
	g_string_truncate(scratch, 0);
	for (i = 0; i < n; i++) {
		if (i)
			g_string_append_c(scratch, ',');
		g_string_append(scratch, names[i]);
	}
	return scratch->str;
}

/* Fill f with the pod's labels. Strings are borrowed from the view (the services from
 * scratch, until its next use). */
static void pod_fields(const struct k8s_view *v, const char *cluster_name, GString *scratch,
		       const struct k8s_pod *p, const char *f[ENRICH_DIM_COUNT])
{
	const struct k8s_node *node = k8s_view_find(v, K8S_NODE, NULL, p->node);
	const char *ok = p->owner_kind, *on = p->owner_name;

	memset(f, 0, sizeof(f[0]) * ENRICH_DIM_COUNT);
	f[ENRICH_CLUSTER] = cluster_name;
	f[ENRICH_NAMESPACE] = p->key.ns;
	f[ENRICH_POD] = p->key.name;
	f[ENRICH_POD_UID] = p->uid;
	f[ENRICH_NODE] = p->node;
	f[ENRICH_POD_LABELS] = p->labels;
	f[ENRICH_KIND] = "pod";
	if (node) {
		f[ENRICH_ZONE] = node->zone;
		f[ENRICH_REGION] = node->region;
	}
	f[ENRICH_SERVICE] = pod_services(v, scratch, p);

	/* Workload: Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, else the owner. */
	if (!ok) {
		f[ENRICH_WORKLOAD_KIND] = "Pod";
		f[ENRICH_WORKLOAD] = p->key.name;
		return;
	}
	f[ENRICH_WORKLOAD_KIND] = ok;
	f[ENRICH_WORKLOAD] = on;
	if (strcmp(ok, "ReplicaSet") == 0 || strcmp(ok, "Job") == 0) {
		bool rs = strcmp(ok, "ReplicaSet") == 0;
		const struct k8s_owned *o =
			k8s_view_find(v, rs ? K8S_REPLICASET : K8S_JOB, p->key.ns, on);

		if (rs)
			f[ENRICH_REPLICASET] = on;
		if (o && o->owner_kind) {
			f[ENRICH_WORKLOAD_KIND] = o->owner_kind;
			f[ENRICH_WORKLOAD] = o->owner_name;
		}
	}
}

/* ---- tombstones --------------------------------------------------------------------- */

struct k8s_tomb *k8s_table_tomb_new(const struct k8s_view *v, const char *cluster_name,
				    GString *scratch, const struct k8s_pod *p,
				    const struct k8s_pod_ip *ip, uint64_t now_ms)
{
	const char *f[ENRICH_DIM_COUNT];
	struct k8s_tomb *t;
	size_t len[ENRICH_DIM_COUNT], total = 0, off = 0;
	unsigned d;

	pod_fields(v, cluster_name, scratch, p, f);
	/* Endpointslices often drop a terminating pod before it is deleted: keep the services
	 * flows saw while it served. */
	if (!f[ENRICH_SERVICE])
		f[ENRICH_SERVICE] = p->services;
	for (d = 0; d < ENRICH_DIM_COUNT; d++) {
		len[d] = f[d] ? strlen(f[d]) + 1 : 0;
		total += len[d];
	}
	t = g_new0(struct k8s_tomb, 1);
	t->addr = ip->addr;
	t->from_ms = ip->since_ms;
	t->until_ms = now_ms > ip->since_ms ? now_ms : ip->since_ms + 1;
	t->blob = g_malloc(total ? total : 1);
	for (d = 0; d < ENRICH_DIM_COUNT; d++) {
		if (!len[d])
			continue;
		memcpy(t->blob + off, f[d], len[d]);
		t->f[d] = t->blob + off;
		off += len[d];
	}
	return t;
}

void k8s_table_tomb_free(gpointer p)
{
	struct k8s_tomb *t = p;

	if (!t)
		return;
	g_free(t->blob);
	g_free(t);
}

/* ---- the table ---------------------------------------------------------------------- */

/* Node and service addresses: they win over any pod claiming the same address. */
static GHashTable *reserved_addrs(const struct k8s_view *v)
{
	GHashTable *h = g_hash_table_new(k8s_view_addr_hash, k8s_view_addr_equal);
	GHashTableIter it;
	gpointer o;
	uint32_t i;

	g_hash_table_iter_init(&it, v->objs[K8S_SERVICE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_service *sv = o;

		for (i = 0; i < sv->n_addrs; i++)
			g_hash_table_add(h, (gpointer)&sv->addrs[i]);
	}
	g_hash_table_iter_init(&it, v->objs[K8S_NODE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_node *n = o;

		for (i = 0; i < n->n_addrs; i++)
			g_hash_table_add(h, (gpointer)&n->addrs[i]);
	}
	return h;
}

static int build(struct k8s_view *v, const GQueue *tombs, const char *cluster_name,
		 GString *scratch, struct enrich_table_builder *b, GHashTable *reserved,
		 uint64_t *ret_pods)
{
	const char *f[ENRICH_DIM_COUNT];
	uint64_t pods = 0;
	GHashTableIter it;
	gpointer o;
	GList *l;
	uint32_t i;
	int r;

	g_hash_table_iter_init(&it, v->objs[K8S_POD]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		struct k8s_pod *p = o;

		if (!p->n_ips)
			continue;
		pod_fields(v, cluster_name, scratch, p, f);
		if (g_strcmp0(f[ENRICH_SERVICE], p->services) != 0) {
			k8s_view_istr_put(p->services);
			p->services = k8s_view_istr_new(f[ENRICH_SERVICE]);
		}
		for (i = 0; i < p->n_ips; i++) {
			if (g_hash_table_contains(reserved, &p->ips[i].addr))
				continue;
			r = enrich_builder_add_endpoint_span(b, &p->ips[i].addr, f,
							     p->ips[i].since_ms, UINT64_MAX);
			if (r < 0)
				return r;
			pods++;
		}
	}
	for (l = tombs->head; l; l = l->next) {
		const struct k8s_tomb *t = l->data;

		if (g_hash_table_contains(reserved, &t->addr))
			continue;
		r = enrich_builder_add_endpoint_span(b, &t->addr, t->f, t->from_ms, t->until_ms);
		if (r < 0)
			return r;
	}
	/* Services, then nodes: a node address that is also a service's wins (same span). */
	g_hash_table_iter_init(&it, v->objs[K8S_SERVICE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_service *sv = o;

		memset(f, 0, sizeof(f));
		f[ENRICH_CLUSTER] = cluster_name;
		f[ENRICH_NAMESPACE] = sv->key.ns;
		f[ENRICH_SERVICE] = sv->key.name;
		f[ENRICH_KIND] = "service";
		for (i = 0; i < sv->n_addrs; i++) {
			r = enrich_builder_add_endpoint(b, &sv->addrs[i], f);
			if (r < 0)
				return r;
		}
	}
	g_hash_table_iter_init(&it, v->objs[K8S_NODE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_node *n = o;

		memset(f, 0, sizeof(f));
		f[ENRICH_CLUSTER] = cluster_name;
		f[ENRICH_NODE] = n->key.name;
		f[ENRICH_ZONE] = n->zone;
		f[ENRICH_REGION] = n->region;
		f[ENRICH_INSTANCE_ID] = n->instance_id;
		f[ENRICH_KIND] = "node";
		for (i = 0; i < n->n_addrs; i++) {
			r = enrich_builder_add_endpoint(b, &n->addrs[i], f);
			if (r < 0)
				return r;
		}
	}
	*ret_pods = pods;
	return 0;
}

int k8s_table_build(struct k8s_view *v, const GQueue *tombs, const char *cluster_name,
		    GString *scratch, struct enrich_table_builder *b, uint64_t *ret_pods)
{
	GHashTable *reserved = reserved_addrs(v);
	int r;

	r = build(v, tombs, cluster_name, scratch, b, reserved, ret_pods);
	g_hash_table_destroy(reserved);
	return r;
}
