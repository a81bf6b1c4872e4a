// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_view: each watched object is kept as the few fields labelling needs (never the json_t),
 * in one GHashTable per kind whose key is the object itself, hashed on (namespace, name).
 * Shared strings (namespaces, nodes, owners, label sets) are interned. The service index
 * counts, per pod and per targetless address, how many endpointslice entries name each
 * service, so a slice's update is undone exactly by removing its old version.
 */
#include <string.h>

#include <glib.h>

#include "k8s_view.h"

/* ---- interned strings (glib's GRefString: one copy, reference-counted) --------------- */

const char *k8s_view_istr_new(const char *v)
{
	return v && *v ? g_ref_string_new_intern(v) : NULL;
}

void k8s_view_istr_put(const char *v)
{
	if (v)
		g_ref_string_release((char *)v);
}

/* ---- hashing ------------------------------------------------------------------------ */

/* 8 bytes per step (g_str_hash takes one): publish hashes every pod's keys several times. */
static uint64_t str_hash(const char *s, uint64_t h)
{
	size_t n = strlen(s);
	uint64_t w;

	h ^= n;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ h >> 29;
}

static guint key_hash(gconstpointer p)
{
	const struct k8s_key *k = p;

	return (guint)str_hash(k->name, k->ns ? str_hash(k->ns, 1) : 0);
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
	const struct k8s_key *x = a, *y = b;

	return strcmp(x->name, y->name) == 0 && g_strcmp0(x->ns, y->ns) == 0;
}

static void key_done(struct k8s_key *k)
{
	k8s_view_istr_put(k->ns);
	g_free(k->name);
}

static unsigned addr_len(const struct enrich_addr *a)
{
	return a->family == 4 ? 4 : 16;
}

guint k8s_view_addr_hash(gconstpointer p)
{
	const struct enrich_addr *a = p;
	guint h = 2166136261u ^ a->family;
	unsigned i;

	for (i = 0; i < addr_len(a); i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return h;
}

bool k8s_view_addr_eq(const struct enrich_addr *x, const struct enrich_addr *y)
{
	return x->family == y->family && memcmp(x->addr, y->addr, addr_len(x)) == 0;
}

gboolean k8s_view_addr_equal(gconstpointer a, gconstpointer b)
{
	return k8s_view_addr_eq(a, b);
}

static void pod_free(gpointer p)
{
	struct k8s_pod *o = p;

	key_done(&o->key);
	g_free(o->uid);
	k8s_view_istr_put(o->node);
	k8s_view_istr_put(o->labels);
	k8s_view_istr_put(o->owner_kind);
	k8s_view_istr_put(o->owner_name);
	k8s_view_istr_put(o->services);
	g_free(o);
}

static void owned_free(gpointer p)
{
	struct k8s_owned *o = p;

	key_done(&o->key);
	k8s_view_istr_put(o->owner_kind);
	k8s_view_istr_put(o->owner_name);
	g_free(o);
}

static void service_free(gpointer p)
{
	struct k8s_service *o = p;

	key_done(&o->key);
	g_free(o->addrs);
	g_free(o);
}

static void node_free(gpointer p)
{
	struct k8s_node *o = p;

	key_done(&o->key);
	k8s_view_istr_put(o->zone);
	k8s_view_istr_put(o->region);
	g_free(o->instance_id);
	g_free(o->addrs);
	g_free(o);
}

static void namespace_free(gpointer p)
{
	struct k8s_namespace *o = p;
	uint32_t i;

	key_done(&o->key);
	for (i = 0; i < 2 * o->n_labels; i++)
		k8s_view_istr_put(o->labels[i]);
	g_free(o->labels);
	g_free(o);
}

static void slice_free(gpointer p)
{
	struct k8s_slice *o = p;
	uint32_t i;

	key_done(&o->key);
	k8s_view_istr_put(o->service);
	for (i = 0; i < o->n_targets; i++) {
		k8s_view_istr_put(o->targets[i].ns);
		g_free(o->targets[i].name);
	}
	g_free(o->targets);
	g_free(o->addrs);
	g_free(o);
}

static void svc_set_done(struct k8s_svc_set *set)
{
	uint32_t i;

	for (i = 0; i < set->n; i++)
		k8s_view_istr_put(set->v[i].svc);
	g_free(set->v);
}

static void pod_svcs_free(gpointer p)
{
	struct k8s_pod_svcs *o = p;

	key_done(&o->key);
	svc_set_done(&o->set);
	g_free(o);
}

static void addr_svcs_free(gpointer p)
{
	struct k8s_addr_svcs *o = p;

	svc_set_done(&o->set);
	g_free(o);
}

static const GDestroyNotify kind_free[K8S_KIND_COUNT] = {
	[K8S_POD] = pod_free,	[K8S_SERVICE] = service_free,	  [K8S_ENDPOINTSLICE] = slice_free,
	[K8S_NODE] = node_free, [K8S_NAMESPACE] = namespace_free, [K8S_REPLICASET] = owned_free,
	[K8S_JOB] = owned_free,
};

/* ---- the view ----------------------------------------------------------------------- */

void k8s_view_init(struct k8s_view *v)
{
	unsigned k;

	for (k = 0; k < K8S_KIND_COUNT; k++)
		v->objs[k] = g_hash_table_new_full(key_hash, key_equal, kind_free[k], NULL);
	v->pod_svcs = g_hash_table_new_full(key_hash, key_equal, pod_svcs_free, NULL);
	v->addr_svcs = g_hash_table_new_full(k8s_view_addr_hash, k8s_view_addr_equal,
					     addr_svcs_free, NULL);
}

void k8s_view_done(struct k8s_view *v)
{
	unsigned k;

	for (k = 0; k < K8S_KIND_COUNT; k++)
		if (v->objs[k])
			g_hash_table_destroy(v->objs[k]);
	if (v->pod_svcs)
		g_hash_table_destroy(v->pod_svcs);
	if (v->addr_svcs)
		g_hash_table_destroy(v->addr_svcs);
	memset(v, 0, sizeof(*v));
}

void *k8s_view_find(const struct k8s_view *v, enum k8s_kind kind, const char *ns, const char *name)
{
	struct k8s_key k = {.ns = ns, .name = (char *)name};

	if (!name)
		return NULL;
	return g_hash_table_lookup(v->objs[kind], &k);
}

/* ---- the service index -------------------------------------------------------------- */

static void svc_set_add(struct k8s_svc_set *set, const char *svc)
{
	uint32_t i;

	for (i = 0; i < set->n; i++) {
		if (set->v[i].svc == svc) { /* both interned: one pointer per string */
			set->v[i].n++;
			return;
		}
	}
	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 2;
		set->v = g_renew(struct k8s_svc_count, set->v, set->cap);
	}
	set->v[set->n].svc = g_ref_string_acquire((char *)svc);
	set->v[set->n].n = 1;
	set->n++;
}

/* Drop one reference of svc; returns true when the set became empty. */
static bool svc_set_del(struct k8s_svc_set *set, const char *svc)
{
	uint32_t i;

	for (i = 0; i < set->n; i++) {
		if (set->v[i].svc != svc)
			continue;
		if (--set->v[i].n == 0) {
			k8s_view_istr_put(set->v[i].svc);
			set->v[i] = set->v[--set->n];
		}
		break;
	}
	return set->n == 0;
}

void k8s_view_index_slice(struct k8s_view *v, const struct k8s_slice *sl, bool add)
{
	uint32_t i;

	if (!sl->service)
		return;
	for (i = 0; i < sl->n_targets; i++) {
		struct k8s_key k = {.ns = sl->targets[i].ns, .name = sl->targets[i].name};
		struct k8s_pod_svcs *ps = g_hash_table_lookup(v->pod_svcs, &k);

		if (add) {
			if (!ps) {
				ps = g_new0(struct k8s_pod_svcs, 1);
				ps->key.ns = g_ref_string_acquire((char *)k.ns);
				ps->key.name = g_strdup(k.name);
				g_hash_table_add(v->pod_svcs, ps);
			}
			svc_set_add(&ps->set, sl->service);
		} else if (ps && svc_set_del(&ps->set, sl->service)) {
			g_hash_table_remove(v->pod_svcs, ps);
		}
	}
	for (i = 0; i < sl->n_addrs; i++) {
		struct k8s_addr_svcs *as = g_hash_table_lookup(v->addr_svcs, &sl->addrs[i]);

		if (add) {
			if (!as) {
				as = g_new0(struct k8s_addr_svcs, 1);
				as->addr = sl->addrs[i];
				g_hash_table_add(v->addr_svcs, as);
			}
			svc_set_add(&as->set, sl->service);
		} else if (as && svc_set_del(&as->set, sl->service)) {
			g_hash_table_remove(v->addr_svcs, as);
		}
	}
}
