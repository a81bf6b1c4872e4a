// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_store: keeps only the fields labelling needs from each watched object (never the
 * json_t), in one hash per kind keyed by (namespace, name); shared strings (namespaces,
 * nodes, owners, label sets) are interned. An index pod -> services is kept up to date as
 * endpointslices change, so a pod's labels can be resolved at any time: when a pod dies its
 * resolved labels are frozen into tombstones. Publishing rebuilds the whole table.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "k8s_store.h"
#include "log.h"

/* Longest string kept from an object (names are <= 253, label values <= 63, keys <= 317). */
#define K8S_MAX_STRING_BYTES 1024
/* Most members of any list or map read from one object (labels, ownerReferences,
 * addresses, endpoints; the API allows 1000 endpoints per slice). More: rejected. */
#define K8S_MAX_ITEMS 1024
/* status.podIPs holds at most one address per family. */
#define K8S_MAX_POD_IPS 2
/* Services joined into one pod's ENRICH_SERVICE; more are left out. */
#define K8S_MAX_POD_SERVICES 64

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"

/* ---- interned strings (glib's GRefString: one copy, reference-counted) --------------- */

static const char *istr_new(const char *v)
{
	return v && *v ? g_ref_string_new_intern(v) : NULL;
}

static void istr_put(const char *v)
{
	if (v)
		g_ref_string_release((char *)v);
}

/* ---- objects ------------------------------------------------------------------------ */

/* Identity of every object; first member of each kind's struct. The hash of a kind maps a
 * struct k8s_key (the object itself) to itself; hash and equality read only ns and name. */
struct k8s_key {
	const char *ns; /* interned; NULL for cluster-scoped kinds */
	char *name;	/* owned */
	uint32_t mark;	/* list generation that last saw the object (objects only) */
};

struct pod_ip {
	uint64_t since_ms; /* first seen on this pod with this address */
	struct enrich_addr addr;
};

struct k8s_pod {
	struct k8s_key key;
	char *uid;		/* owned; NULL = absent */
	const char *node;	/* interned: spec.nodeName */
	const char *labels;	/* interned: allow-listed labels as compact JSON; NULL = none */
	const char *owner_kind; /* interned: the controlling (else first) ownerReference */
	const char *owner_name; /* interned */
	const char *services;	/* interned: ENRICH_SERVICE as last published (for tombstones) */
	/* Addresses the pod holds for labelling: none while it has no IP, runs on the host
	 * network, or has ended (Succeeded/Failed). */
	struct pod_ip ips[K8S_MAX_POD_IPS];
	uint8_t n_ips;
};

/* A ReplicaSet or Job: only who controls it. */
struct k8s_owned {
	struct k8s_key key;
	const char *owner_kind; /* interned; NULL = no owner */
	const char *owner_name; /* interned */
};

struct k8s_service {
	struct k8s_key key;
	struct enrich_addr *addrs; /* owned: cluster IPs and load-balancer IPs, distinct */
	uint32_t n_addrs;
};

struct k8s_node {
	struct k8s_key key;
	const char *zone;	   /* interned */
	const char *region;	   /* interned */
	char *instance_id;	   /* owned; from spec.providerID */
	struct enrich_addr *addrs; /* owned: InternalIP and ExternalIP addresses, distinct */
	uint32_t n_addrs;
};

struct k8s_namespace {
	struct k8s_key key;
	const char **labels; /* owned array of 2 * n_labels interned strings: key, value, ... */
	uint32_t n_labels;
};

/* A pod an endpointslice points at (targetRef kind Pod). */
struct slice_target {
	const char *ns; /* interned */
	char *name;	/* owned */
};

struct k8s_slice {
	struct k8s_key key;
	const char *service;	      /* interned: label kubernetes.io/service-name; NULL = none */
	struct slice_target *targets; /* owned */
	struct enrich_addr *addrs;    /* owned: endpoint addresses without a Pod targetRef */
	uint32_t n_targets, n_addrs;
};

/* How many endpointslice entries put a pod (or an address) in one service. */
struct svc_count {
	const char *svc; /* interned */
	uint32_t n;
};

struct svc_set {
	struct svc_count *v; /* owned */
	uint32_t n, cap;
};

/* Index entry: the services of one pod (by namespace/name) through slice targets. */
struct pod_svcs {
	struct k8s_key key;
	struct svc_set set;
};

/* Index entry: the services of one address through targetless slice endpoints. */
struct addr_svcs {
	struct enrich_addr addr;
	struct svc_set set;
};

/* A deleted pod's (or a given-up) address with the labels it had, frozen. */
struct k8s_tomb {
	struct enrich_addr addr;
	uint64_t from_ms, until_ms;
	const char *f[ENRICH_DIM_COUNT]; /* point into blob; NULL = absent */
	char *blob;			 /* owned: the strings, NUL-separated */
};

struct k8s_store {
	struct k8s_store_config cfg;
	struct enrich *e; /* borrowed */
	/* owned: per kind, the objects (key == value), freed by the table's key destructor */
	GHashTable *objs[K8S_KIND_COUNT];
	GHashTable *pod_svcs;  /* owned: struct pod_svcs (key == value) */
	GHashTable *addr_svcs; /* owned: struct addr_svcs (key == value) */
	/* owned struct k8s_tomb *, oldest first; expiry pops from the head: O(expired). */
	GQueue tombs;
	uint32_t mark[K8S_KIND_COUNT]; /* current list generation of each kind */
	bool dirty; /* something the table shows changed since the last publish */
	bool logged_reject[K8S_KIND_COUNT], logged_big[K8S_KIND_COUNT];
	bool logged_limit[K8S_KIND_COUNT], logged_publish, logged_tombs;
	GString *svc_buf; /* owned: scratch for a pod's joined service names */
	struct k8s_store_stats stats;
};

static const char *const kind_names[K8S_KIND_COUNT] = {
	[K8S_POD] = "pods",
	[K8S_SERVICE] = "services",
	[K8S_ENDPOINTSLICE] = "endpointslices",
	[K8S_NODE] = "nodes",
	[K8S_NAMESPACE] = "namespaces",
	[K8S_REPLICASET] = "replicasets",
	[K8S_JOB] = "jobs",
};

const char *k8s_kind_name(enum k8s_kind kind)
{
	return (unsigned)kind < K8S_KIND_COUNT ? kind_names[kind] : NULL;
}

static bool kind_namespaced(enum k8s_kind kind)
{
	return kind != K8S_NODE && kind != K8S_NAMESPACE;
}

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
	istr_put(k->ns);
	g_free(k->name);
}

static unsigned addr_len(const struct enrich_addr *a)
{
	return a->family == 4 ? 4 : 16;
}

static guint addr_hash(gconstpointer p)
{
	const struct enrich_addr *a = p;
	guint h = 2166136261u ^ a->family;
	unsigned i;

	for (i = 0; i < addr_len(a); i++)
		h = (h ^ a->addr[i]) * 16777619u;
	return h;
}

static bool addr_eq(const struct enrich_addr *x, const struct enrich_addr *y)
{
	return x->family == y->family && memcmp(x->addr, y->addr, addr_len(x)) == 0;
}

static gboolean addr_equal(gconstpointer a, gconstpointer b)
{
	return addr_eq(a, b);
}

static void pod_free(gpointer p)
{
	struct k8s_pod *o = p;

	key_done(&o->key);
	g_free(o->uid);
	istr_put(o->node);
	istr_put(o->labels);
	istr_put(o->owner_kind);
	istr_put(o->owner_name);
	istr_put(o->services);
	g_free(o);
}

static void owned_free(gpointer p)
{
	struct k8s_owned *o = p;

	key_done(&o->key);
	istr_put(o->owner_kind);
	istr_put(o->owner_name);
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
	istr_put(o->zone);
	istr_put(o->region);
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
		istr_put(o->labels[i]);
	g_free(o->labels);
	g_free(o);
}

static void slice_free(gpointer p)
{
	struct k8s_slice *o = p;
	uint32_t i;

	key_done(&o->key);
	istr_put(o->service);
	for (i = 0; i < o->n_targets; i++) {
		istr_put(o->targets[i].ns);
		g_free(o->targets[i].name);
	}
	g_free(o->targets);
	g_free(o->addrs);
	g_free(o);
}

static void svc_set_done(struct svc_set *set)
{
	uint32_t i;

	for (i = 0; i < set->n; i++)
		istr_put(set->v[i].svc);
	g_free(set->v);
}

static void pod_svcs_free(gpointer p)
{
	struct pod_svcs *o = p;

	key_done(&o->key);
	svc_set_done(&o->set);
	g_free(o);
}

static void addr_svcs_free(gpointer p)
{
	struct addr_svcs *o = p;

	svc_set_done(&o->set);
	g_free(o);
}

static void tomb_free(gpointer p)
{
	struct k8s_tomb *t = p;

	g_free(t->blob);
	g_free(t);
}

static const GDestroyNotify kind_free[K8S_KIND_COUNT] = {
	[K8S_POD] = pod_free,	[K8S_SERVICE] = service_free,	  [K8S_ENDPOINTSLICE] = slice_free,
	[K8S_NODE] = node_free, [K8S_NAMESPACE] = namespace_free, [K8S_REPLICASET] = owned_free,
	[K8S_JOB] = owned_free,
};

/* ---- the store ---------------------------------------------------------------------- */

struct k8s_store *k8s_store_new(const struct k8s_store_config *cfg, struct enrich *e)
{
	struct k8s_store *s;
	unsigned k;

	if (!cfg || !e)
		return NULL;
	s = g_try_new0(struct k8s_store, 1);
	if (!s)
		return NULL;
	s->cfg = *cfg;
	if (s->cfg.n_label_keys > K8S_MAX_EXPORTED_LABELS)
		s->cfg.n_label_keys = K8S_MAX_EXPORTED_LABELS;
	if (!s->cfg.tombstone_ms)
		s->cfg.tombstone_ms = K8S_STORE_DEFAULT_TOMBSTONE_MS;
	if (!s->cfg.max_objects)
		s->cfg.max_objects = K8S_STORE_DEFAULT_MAX_OBJECTS;
	if (!s->cfg.max_object_bytes)
		s->cfg.max_object_bytes = K8S_STORE_DEFAULT_MAX_OBJECT_BYTES;
	s->e = e;
	for (k = 0; k < K8S_KIND_COUNT; k++)
		s->objs[k] = g_hash_table_new_full(key_hash, key_equal, kind_free[k], NULL);
	s->pod_svcs = g_hash_table_new_full(key_hash, key_equal, pod_svcs_free, NULL);
	s->addr_svcs = g_hash_table_new_full(addr_hash, addr_equal, addr_svcs_free, NULL);
	g_queue_init(&s->tombs);
	s->svc_buf = g_string_sized_new(128);
	return s;
}

void k8s_store_free(struct k8s_store *s)
{
	unsigned k;

	if (!s)
		return;
	for (k = 0; k < K8S_KIND_COUNT; k++)
		if (s->objs[k])
			g_hash_table_destroy(s->objs[k]);
	if (s->pod_svcs)
		g_hash_table_destroy(s->pod_svcs);
	if (s->addr_svcs)
		g_hash_table_destroy(s->addr_svcs);
	g_queue_clear_full(&s->tombs, tomb_free);
	if (s->svc_buf)
		g_string_free(s->svc_buf, TRUE);
	g_free(s);
}

bool k8s_store_synced(const struct k8s_store *s)
{
	unsigned k;

	if (!s)
		return false;
	for (k = 0; k < K8S_KIND_COUNT; k++)
		if (!s->stats.synced[k])
			return false;
	return true;
}

const struct k8s_store_stats *k8s_store_get_stats(const struct k8s_store *s)
{
	return s ? &s->stats : NULL;
}

static void *obj_find(const struct k8s_store *s, enum k8s_kind kind, const char *ns,
		      const char *name)
{
	struct k8s_key k = {.ns = ns, .name = (char *)name};

	if (!name)
		return NULL;
	return g_hash_table_lookup(s->objs[kind], &k);
}

static void count_objects(struct k8s_store *s, enum k8s_kind kind)
{
	s->stats.objects[kind] = g_hash_table_size(s->objs[kind]);
}

/* ---- the service index -------------------------------------------------------------- */

static void svc_set_add(struct svc_set *set, const char *svc)
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
		set->v = g_renew(struct svc_count, set->v, set->cap);
	}
	set->v[set->n].svc = g_ref_string_acquire((char *)svc);
	set->v[set->n].n = 1;
	set->n++;
}

/* Drop one reference of svc; returns true when the set became empty. */
static bool svc_set_del(struct svc_set *set, const char *svc)
{
	uint32_t i;

	for (i = 0; i < set->n; i++) {
		if (set->v[i].svc != svc)
			continue;
		if (--set->v[i].n == 0) {
			istr_put(set->v[i].svc);
			set->v[i] = set->v[--set->n];
		}
		break;
	}
	return set->n == 0;
}

static void slice_index(struct k8s_store *s, const struct k8s_slice *sl, bool add)
{
	uint32_t i;

	if (!sl->service)
		return;
	for (i = 0; i < sl->n_targets; i++) {
		struct k8s_key k = {.ns = sl->targets[i].ns, .name = sl->targets[i].name};
		struct pod_svcs *ps = g_hash_table_lookup(s->pod_svcs, &k);

		if (add) {
			if (!ps) {
				ps = g_new0(struct pod_svcs, 1);
				ps->key.ns = g_ref_string_acquire((char *)k.ns);
				ps->key.name = g_strdup(k.name);
				g_hash_table_add(s->pod_svcs, ps);
			}
			svc_set_add(&ps->set, sl->service);
		} else if (ps && svc_set_del(&ps->set, sl->service)) {
			g_hash_table_remove(s->pod_svcs, ps);
		}
	}
	for (i = 0; i < sl->n_addrs; i++) {
		struct addr_svcs *as = g_hash_table_lookup(s->addr_svcs, &sl->addrs[i]);

		if (add) {
			if (!as) {
				as = g_new0(struct addr_svcs, 1);
				as->addr = sl->addrs[i];
				g_hash_table_add(s->addr_svcs, as);
			}
			svc_set_add(&as->set, sl->service);
		} else if (as && svc_set_del(&as->set, sl->service)) {
			g_hash_table_remove(s->addr_svcs, as);
		}
	}
}

/* ---- resolving a pod's labels ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void names_add(const char **names, unsigned *n, const struct svc_set *set)
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
static const char *pod_services(struct k8s_store *s, const struct k8s_pod *p)
{
	const char *names[K8S_MAX_POD_SERVICES];
	struct pod_svcs *ps = g_hash_table_lookup(s->pod_svcs, &p->key);
	unsigned n = 0, i;

	if (ps)
		names_add(names, &n, &ps->set);
	if (g_hash_table_size(s->addr_svcs)) {
		for (i = 0; i < p->n_ips; i++) {
			struct addr_svcs *as = g_hash_table_lookup(s->addr_svcs, &p->ips[i].addr);

			if (as)
				names_add(names, &n, &as->set);
		}
	}
	if (!n)
		return NULL;
	if (n > 1)
		qsort(names, n, sizeof(names[0]), cmp_str);
	g_string_truncate(s->svc_buf, 0);
	for (i = 0; i < n; i++) {
		if (i)
			g_string_append_c(s->svc_buf, ',');
		g_string_append(s->svc_buf, names[i]);
	}
	return s->svc_buf->str;
}

/* Fill f with the pod's labels. Strings are borrowed from the store (the services until
 * the next pod_services call). */
static void pod_fields(struct k8s_store *s, const struct k8s_pod *p,
		       const char *f[ENRICH_DIM_COUNT])
{
	const struct k8s_node *node = obj_find(s, K8S_NODE, NULL, p->node);
	const char *ok = p->owner_kind, *on = p->owner_name;

	memset(f, 0, sizeof(f[0]) * ENRICH_DIM_COUNT);
	f[ENRICH_CLUSTER] = s->cfg.cluster_name;
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
	f[ENRICH_SERVICE] = pod_services(s, p);

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
			obj_find(s, rs ? K8S_REPLICASET : K8S_JOB, p->key.ns, on);

		if (rs)
			f[ENRICH_REPLICASET] = on;
		if (o && o->owner_kind) {
			f[ENRICH_WORKLOAD_KIND] = o->owner_kind;
			f[ENRICH_WORKLOAD] = o->owner_name;
		}
	}
}

/* ---- tombstones --------------------------------------------------------------------- */

static void tomb_add(struct k8s_store *s, const struct k8s_pod *p, const struct pod_ip *ip,
		     uint64_t now_ms)
{
	const char *f[ENRICH_DIM_COUNT];
	struct k8s_tomb *t;
	size_t len[ENRICH_DIM_COUNT], total = 0, off = 0;
	unsigned d;

	pod_fields(s, p, f);
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
	g_queue_push_tail(&s->tombs, t);
	while (g_queue_get_length(&s->tombs) > s->cfg.max_objects) {
		tomb_free(g_queue_pop_head(&s->tombs));
		s->stats.tombstones_evicted++;
		if (!s->logged_tombs) {
			log_warn("k8s: more than %u pod tombstones; the oldest are dropped early",
				 s->cfg.max_objects);
			s->logged_tombs = true;
		}
	}
	s->stats.tombstones = g_queue_get_length(&s->tombs);
	s->dirty = true;
}

static void pod_retire_all(struct k8s_store *s, const struct k8s_pod *p, uint64_t now_ms)
{
	uint8_t i;

	for (i = 0; i < p->n_ips; i++)
		tomb_add(s, p, &p->ips[i], now_ms);
}

/* ---- JSON access: absent and null are "not there", another type is an error --------- */

static int jstr(const json_t *o, const char *key, const char **ret_str)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
	const char *str;

	if (!v || json_is_null(v)) {
		*ret_str = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	str = json_string_value(v);
	if (json_string_length(v) > K8S_MAX_STRING_BYTES || strlen(str) != json_string_length(v))
		return -EINVAL;
	*ret_str = str;
	return 0;
}

static int jtype(const json_t *o, const char *key, json_type type, const json_t **ret_val)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	if (!v || json_is_null(v)) {
		*ret_val = NULL;
		return 0;
	}
	if (json_typeof(v) != type)
		return -EINVAL;
	if ((type == JSON_ARRAY && json_array_size(v) > K8S_MAX_ITEMS) ||
	    (type == JSON_OBJECT && json_object_size(v) > K8S_MAX_ITEMS))
		return -EINVAL;
	*ret_val = v;
	return 0;
}

static int jbool(const json_t *o, const char *key, bool *ret_val)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

	if (!v || json_is_null(v)) {
		*ret_val = false;
		return 0;
	}
	if (!json_is_boolean(v))
		return -EINVAL;
	*ret_val = json_is_true(v);
	return 0;
}

/* A map of strings (labels): NULL or an object of at most K8S_MAX_ITEMS string values. */
static int check_string_map(const json_t *m)
{
	const char *k;
	json_t *v;

	if (!m)
		return 0;
	/* json_object_foreach wants a non-const object; it only reads. */
	json_object_foreach((json_t *)m, k, v)
	{
		if (!json_is_string(v) || strlen(k) > K8S_MAX_STRING_BYTES ||
		    json_string_length(v) > K8S_MAX_STRING_BYTES ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return -EINVAL;
	}
	return 0;
}

/* Parse one address text; unparsable ones are counted and skipped (returns false). */
static bool addr_take(struct k8s_store *s, const char *text, struct enrich_addr *ret_addr)
{
	if (enrich_addr_parse(text, ret_addr) == 0)
		return true;
	s->stats.bad_addresses++;
	return false;
}

static bool addr_in(const struct enrich_addr *v, uint32_t n, const struct enrich_addr *a)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (addr_eq(&v[i], a))
			return true;
	return false;
}

/* Append a to v[*n] unless present or full (cap). */
static void addr_push(struct enrich_addr *v, uint32_t *n, uint32_t cap, const struct enrich_addr *a)
{
	if (*n < cap && !addr_in(v, *n, a))
		v[(*n)++] = *a;
}

/* ---- parsing one object ------------------------------------------------------------- */

/* What parsing an object found: its identity and the pieces every kind reads. */
struct meta {
	const json_t *meta, *labels;
	const char *ns, *name, *uid;
};

static int parse_meta(enum k8s_kind kind, const json_t *obj, struct meta *m, const char **why)
{
	memset(m, 0, sizeof(*m));
	if (!json_is_object(obj) || jtype(obj, "metadata", JSON_OBJECT, &m->meta) < 0 || !m->meta) {
		*why = "no metadata object";
		return -EINVAL;
	}
	if (jstr(m->meta, "name", &m->name) < 0 || !m->name || !*m->name) {
		*why = "metadata.name missing or not a string";
		return -EINVAL;
	}
	if (kind_namespaced(kind) &&
	    (jstr(m->meta, "namespace", &m->ns) < 0 || !m->ns || !*m->ns)) {
		*why = "metadata.namespace missing or not a string";
		return -EINVAL;
	}
	if (jstr(m->meta, "uid", &m->uid) < 0) {
		*why = "metadata.uid not a string";
		return -EINVAL;
	}
	if (jtype(m->meta, "labels", JSON_OBJECT, &m->labels) < 0 ||
	    check_string_map(m->labels) < 0) {
		*why = "metadata.labels not a map of strings";
		return -EINVAL;
	}
	return 0;
}

/* The controlling ownerReference (controller: true), else the first one. */
static int parse_owner(const json_t *meta, const char **ret_kind, const char **ret_name,
		       const char **why)
{
	const char *kind = NULL, *name = NULL;
	bool have_ctl = false;
	const json_t *refs;
	size_t i;

	if (jtype(meta, "ownerReferences", JSON_ARRAY, &refs) < 0)
		goto bad;
	for (i = 0; refs && i < json_array_size(refs); i++) {
		const json_t *r = json_array_get(refs, i);
		const char *k, *n;
		bool ctl;

		if (!json_is_object(r) || jstr(r, "kind", &k) < 0 || jstr(r, "name", &n) < 0 ||
		    jbool(r, "controller", &ctl) < 0 || !k || !*k || !n || !*n)
			goto bad;
		if (!kind || (ctl && !have_ctl)) {
			kind = k;
			name = n;
			have_ctl = ctl;
		}
	}
	*ret_kind = kind;
	*ret_name = name;
	return 0;
bad:
	*why = "metadata.ownerReferences malformed";
	return -EINVAL;
}

static bool phase_ended(const char *phase)
{
	return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

/* The allow-listed labels as compact JSON with sorted keys, interned; NULL = none. */
static const char *pod_labels_text(const struct k8s_store *s, const json_t *labels)
{
	json_t *out;
	const char *ret = NULL;
	char *text;
	size_t i;

	if (!labels || !s->cfg.n_label_keys)
		return NULL;
	out = json_object();
	for (i = 0; i < s->cfg.n_label_keys; i++) {
		const char *k = s->cfg.label_keys[i], *v;

		if (k && jstr(labels, k, &v) == 0 && v)
			json_object_set_new(out, k, json_string(v));
	}
	if (json_object_size(out)) {
		text = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
		ret = istr_new(text);
		free(text);
	}
	json_decref(out);
	return ret;
}

static int pod_parse(struct k8s_store *s, const json_t *obj, const struct meta *m,
		     struct k8s_pod **ret_pod, const char **why)
{
	const json_t *spec, *status, *ips;
	const char *node, *phase, *ip, *ok, *on;
	struct enrich_addr addrs[K8S_MAX_POD_IPS], a;
	uint32_t n = 0;
	bool host_net;
	struct k8s_pod *p;
	size_t i, n_ips;

	if (jtype(obj, "spec", JSON_OBJECT, &spec) < 0 ||
	    jtype(obj, "status", JSON_OBJECT, &status) < 0 || jstr(spec, "nodeName", &node) < 0 ||
	    jbool(spec, "hostNetwork", &host_net) < 0 || jstr(status, "phase", &phase) < 0 ||
	    jstr(status, "podIP", &ip) < 0 || jtype(status, "podIPs", JSON_ARRAY, &ips) < 0) {
		*why = "spec or status field of the wrong type";
		return -EINVAL;
	}
	if (parse_owner(m->meta, &ok, &on, why) < 0)
		return -EINVAL;
	/* status.podIPs[].ip (dual-stack), then status.podIP (all versions; = podIPs[0]). */
	n_ips = ips ? json_array_size(ips) : 0;
	for (i = 0; i <= n_ips; i++) {
		const char *text = ip;

		if (i < n_ips && (jstr(json_array_get(ips, i), "ip", &text) < 0 || !text)) {
			*why = "status.podIPs[] without an ip string";
			return -EINVAL;
		}
		if (!text || !*text)
			continue;
		if (enrich_addr_parse(text, &a) < 0) {
			*why = "pod IP is not an IP address";
			return -EINVAL;
		}
		if (addr_in(addrs, n, &a))
			continue;
		if (n == K8S_MAX_POD_IPS) {
			*why = "more than 2 pod IPs";
			return -EINVAL;
		}
		addrs[n++] = a;
	}

	p = g_new0(struct k8s_pod, 1);
	p->key.ns = istr_new(m->ns);
	p->key.name = g_strdup(m->name);
	p->uid = m->uid && *m->uid ? g_strdup(m->uid) : NULL;
	p->node = istr_new(node);
	p->labels = pod_labels_text(s, m->labels);
	p->owner_kind = istr_new(ok);
	p->owner_name = istr_new(on);
	/* Host-network pods share the node's address; ended pods gave theirs back. */
	if (!host_net && !phase_ended(phase)) {
		for (i = 0; i < n; i++)
			p->ips[i].addr = addrs[i];
		p->n_ips = (uint8_t)n;
	}
	*ret_pod = p;
	return 0;
}

static int owned_parse(const struct meta *m, struct k8s_owned **ret_owned, const char **why)
{
	const char *ok, *on;
	struct k8s_owned *o;

	if (parse_owner(m->meta, &ok, &on, why) < 0)
		return -EINVAL;
	o = g_new0(struct k8s_owned, 1);
	o->key.ns = istr_new(m->ns);
	o->key.name = g_strdup(m->name);
	o->owner_kind = istr_new(ok);
	o->owner_name = istr_new(on);
	*ret_owned = o;
	return 0;
}

static int service_parse(struct k8s_store *s, const json_t *obj, const struct meta *m,
			 struct k8s_service **ret_service, const char **why)
{
	const json_t *spec, *status, *lb, *ing, *ips;
	struct enrich_addr *buf, a;
	const char *cip;
	struct k8s_service *o;
	uint32_t n = 0, cap;
	size_t i;

	if (jtype(obj, "spec", JSON_OBJECT, &spec) < 0 ||
	    jtype(obj, "status", JSON_OBJECT, &status) < 0 || jstr(spec, "clusterIP", &cip) < 0 ||
	    jtype(spec, "clusterIPs", JSON_ARRAY, &ips) < 0 ||
	    jtype(status, "loadBalancer", JSON_OBJECT, &lb) < 0 ||
	    jtype(lb, "ingress", JSON_ARRAY, &ing) < 0) {
		*why = "spec or status field of the wrong type";
		return -EINVAL;
	}
	for (i = 0; ips && i < json_array_size(ips); i++) {
		if (!json_is_string(json_array_get(ips, i))) {
			*why = "spec.clusterIPs[] not a string";
			return -EINVAL;
		}
	}
	for (i = 0; ing && i < json_array_size(ing); i++) {
		const char *text;

		if (!json_is_object(json_array_get(ing, i)) ||
		    jstr(json_array_get(ing, i), "ip", &text) < 0) {
			*why = "status.loadBalancer.ingress[] malformed";
			return -EINVAL;
		}
	}
	cap = 1 + (uint32_t)(ips ? json_array_size(ips) : 0) +
	      (uint32_t)(ing ? json_array_size(ing) : 0);
	buf = g_new(struct enrich_addr, cap);
	/* spec.clusterIP, spec.clusterIPs[] ("None" = headless), status.loadBalancer.ingress[].ip
	 * (an ingress may have only a hostname). */
	for (i = 0; i < cap; i++) {
		const char *text = cip;
		size_t n_ips = ips ? json_array_size(ips) : 0;

		if (i > 0 && i <= n_ips)
			text = json_string_value(json_array_get(ips, i - 1));
		else if (i > n_ips)
			text = json_string_value(
				json_object_get(json_array_get(ing, i - 1 - n_ips), "ip"));
		if (text && *text && strcmp(text, "None") != 0 && addr_take(s, text, &a))
			addr_push(buf, &n, cap, &a);
	}
	o = g_new0(struct k8s_service, 1);
	o->key.ns = istr_new(m->ns);
	o->key.name = g_strdup(m->name);
	o->n_addrs = n;
	if (n)
		o->addrs = g_renew(struct enrich_addr, buf, n);
	else
		g_free(buf);
	*ret_service = o;
	return 0;
}

/*
 * The cloud instance behind spec.providerID: aws:///zone/i-0abc -> i-0abc;
 * gce://project/zone/name -> name; azure:///.../virtualMachines/NAME -> NAME, and a scale
 * set's azure:///.../virtualMachineScaleSets/SET/virtualMachines/N -> SET_N (the VM's name);
 * anything else (or an empty last segment): the whole providerID.
 */
static char *instance_id(const char *pid)
{
	const char *last, *vmss;

	if (!pid || !*pid)
		return NULL;
	last = strrchr(pid, '/');
	if (!last || !last[1] ||
	    !(g_str_has_prefix(pid, "aws://") || g_str_has_prefix(pid, "gce://") ||
	      g_str_has_prefix(pid, "azure://")))
		return g_strdup(pid);
	vmss = strstr(pid, "/virtualMachineScaleSets/");
	if (g_str_has_prefix(pid, "azure://") && vmss) {
		const char *set = vmss + strlen("/virtualMachineScaleSets/");
		const char *end = strchr(set, '/');

		if (end && end > set && g_str_has_prefix(end, "/virtualMachines/"))
			return g_strdup_printf("%.*s_%s", (int)(end - set), set, last + 1);
	}
	return g_strdup(last + 1);
}

/* A label of the new topology key, else of the legacy beta key. */
static const char *topology_label(const json_t *labels, const char *key, const char *legacy)
{
	const char *v = NULL;

	if (jstr(labels, key, &v) < 0 || !v || !*v)
		if (jstr(labels, legacy, &v) < 0)
			v = NULL;
	return v;
}

static int node_parse(struct k8s_store *s, const json_t *obj, const struct meta *m,
		      struct k8s_node **ret_node, const char **why)
{
	const json_t *spec, *status, *addrs;
	struct enrich_addr buf[K8S_MAX_ITEMS], a;
	const char *pid;
	struct k8s_node *o;
	uint32_t n = 0;
	size_t i;

	/* 17 KiB on the stack: nodes are few and this runs on the client's thread. */

	if (jtype(obj, "spec", JSON_OBJECT, &spec) < 0 ||
	    jtype(obj, "status", JSON_OBJECT, &status) < 0 || jstr(spec, "providerID", &pid) < 0 ||
	    jtype(status, "addresses", JSON_ARRAY, &addrs) < 0) {
		*why = "spec or status field of the wrong type";
		return -EINVAL;
	}
	for (i = 0; addrs && i < json_array_size(addrs); i++) {
		const json_t *e = json_array_get(addrs, i);
		const char *type, *text;

		if (!json_is_object(e) || jstr(e, "type", &type) < 0 ||
		    jstr(e, "address", &text) < 0) {
			*why = "status.addresses[] malformed";
			return -EINVAL;
		}
		/* Hostname, InternalDNS, ExternalDNS, LegacyHostIP: not addresses we label. */
		if (!type || (strcmp(type, "InternalIP") != 0 && strcmp(type, "ExternalIP") != 0))
			continue;
		if (text && addr_take(s, text, &a))
			addr_push(buf, &n, G_N_ELEMENTS(buf), &a);
		else if (!text)
			s->stats.bad_addresses++;
	}
	o = g_new0(struct k8s_node, 1);
	o->key.name = g_strdup(m->name);
	o->zone = istr_new(topology_label(m->labels, "topology.kubernetes.io/zone",
					  "failure-domain.beta.kubernetes.io/zone"));
	o->region = istr_new(topology_label(m->labels, "topology.kubernetes.io/region",
					    "failure-domain.beta.kubernetes.io/region"));
	o->instance_id = instance_id(pid);
	o->addrs = n ? g_memdup2(buf, n * sizeof(buf[0])) : NULL;
	o->n_addrs = n;
	*ret_node = o;
	return 0;
}

static int namespace_parse(const struct meta *m, struct k8s_namespace **ret_ns)
{
	struct k8s_namespace *o = g_new0(struct k8s_namespace, 1);
	const char *k;
	json_t *v;

	o->key.name = g_strdup(m->name);
	if (m->labels && json_object_size(m->labels)) {
		o->labels = g_new0(const char *, 2 * json_object_size(m->labels));
		json_object_foreach((json_t *)m->labels, k, v)
		{
			o->labels[2 * o->n_labels] = g_ref_string_new_intern(k);
			o->labels[2 * o->n_labels + 1] =
				g_ref_string_new_intern(json_string_value(v));
			o->n_labels++;
		}
	}
	*ret_ns = o;
	return 0;
}

static int slice_parse(struct k8s_store *s, const json_t *obj, const struct meta *m,
		       struct k8s_slice **ret_slice, const char **why)
{
	const json_t *eps;
	const char *svc, *atype;
	struct k8s_slice *o;
	size_t i, j, n_addrs = 0;

	if (jtype(obj, "endpoints", JSON_ARRAY, &eps) < 0 || jstr(obj, "addressType", &atype) < 0 ||
	    jstr(m->labels, LABEL_SERVICE_NAME, &svc) < 0) {
		*why = "endpoints or addressType of the wrong type";
		return -EINVAL;
	}
	/* Check every endpoint first, so nothing is allocated for a bad slice. */
	for (i = 0; eps && i < json_array_size(eps); i++) {
		const json_t *ep = json_array_get(eps, i), *addrs, *ref;
		const char *k, *n, *ns;

		if (!json_is_object(ep) || jtype(ep, "addresses", JSON_ARRAY, &addrs) < 0 ||
		    jtype(ep, "targetRef", JSON_OBJECT, &ref) < 0 || jstr(ref, "kind", &k) < 0 ||
		    jstr(ref, "name", &n) < 0 || jstr(ref, "namespace", &ns) < 0) {
			*why = "endpoints[] malformed";
			return -EINVAL;
		}
		for (j = 0; addrs && j < json_array_size(addrs); j++) {
			if (!json_is_string(json_array_get(addrs, j))) {
				*why = "endpoints[].addresses[] not a string";
				return -EINVAL;
			}
		}
		n_addrs += addrs ? json_array_size(addrs) : 0;
		if (n_addrs > K8S_MAX_ITEMS) {
			*why = "more than 1024 endpoint addresses";
			return -EINVAL;
		}
	}

	o = g_new0(struct k8s_slice, 1);
	o->key.ns = istr_new(m->ns);
	o->key.name = g_strdup(m->name);
	o->service = istr_new(svc);
	if (eps && json_array_size(eps)) {
		o->targets = g_new0(struct slice_target, json_array_size(eps));
		o->addrs = n_addrs ? g_new0(struct enrich_addr, n_addrs) : NULL;
	}
	for (i = 0; eps && i < json_array_size(eps); i++) {
		const json_t *ep = json_array_get(eps, i),
			     *addrs = json_object_get(ep, "addresses");
		const json_t *ref = json_object_get(ep, "targetRef");
		const char *k = NULL, *n = NULL, *ns = NULL;

		if (json_is_object(ref)) {
			k = json_string_value(json_object_get(ref, "kind"));
			n = json_string_value(json_object_get(ref, "name"));
			ns = json_string_value(json_object_get(ref, "namespace"));
		}
		if (k && n && *n && strcmp(k, "Pod") == 0) {
			o->targets[o->n_targets].ns = istr_new(ns && *ns ? ns : m->ns);
			o->targets[o->n_targets].name = g_strdup(n);
			o->n_targets++;
			continue;
		}
		/* No Pod behind it: its addresses may still be a pod's (or nobody's). */
		for (j = 0; json_is_array(addrs) && j < json_array_size(addrs); j++) {
			const char *text = json_string_value(json_array_get(addrs, j));
			struct enrich_addr a;

			if (atype && strcmp(atype, "FQDN") == 0)
				continue;
			if (addr_take(s, text, &a))
				addr_push(o->addrs, &o->n_addrs, (uint32_t)n_addrs, &a);
		}
	}
	*ret_slice = o;
	return 0;
}

/* ---- applying ----------------------------------------------------------------------- */

/* Log the first refused object of a kind for one reason; later ones are only counted. */
static void log_once(bool *logged, enum k8s_kind kind, const struct meta *m, const char *why)
{
	if (*logged)
		return;
	*logged = true;
	log_warn("k8s: %s '%s%s%s' ignored: %s (more such %s are only counted)", kind_names[kind],
		 m->ns ? m->ns : "", m->ns ? "/" : "", m->name ? m->name : "?", why,
		 kind_names[kind]);
}

/* A pod replaces its previous version: addresses kept keep their since_ms; addresses
 * given up become tombstones. */
static void pod_carry(struct k8s_store *s, struct k8s_pod *np, const struct k8s_pod *old,
		      uint64_t now_ms)
{
	bool same = old && !(old->uid && np->uid && strcmp(old->uid, np->uid) != 0);
	uint8_t i, j;

	for (i = 0; i < np->n_ips; i++)
		np->ips[i].since_ms = now_ms;
	if (!old)
		return;
	if (!same) { /* a new pod with the old one's name (StatefulSet): the old one died */
		pod_retire_all(s, old, now_ms);
		return;
	}
	np->services = old->services ? g_ref_string_acquire((char *)old->services) : NULL;
	for (j = 0; j < old->n_ips; j++) {
		for (i = 0; i < np->n_ips; i++) {
			if (addr_eq(&np->ips[i].addr, &old->ips[j].addr)) {
				np->ips[i].since_ms = old->ips[j].since_ms;
				break;
			}
		}
		if (i == np->n_ips)
			tomb_add(s, old, &old->ips[j], now_ms);
	}
}

/* Remove one held object as if DELETED. */
static void obj_remove(struct k8s_store *s, enum k8s_kind kind, struct k8s_key *o, uint64_t now_ms)
{
	if (kind == K8S_POD)
		pod_retire_all(s, (struct k8s_pod *)o, now_ms);
	else if (kind == K8S_ENDPOINTSLICE)
		slice_index(s, (struct k8s_slice *)o, false);
	if (kind != K8S_NAMESPACE)
		s->dirty = true;
}

static int apply(struct k8s_store *s, enum k8s_kind kind, enum k8s_event ev, const json_t *obj,
		 size_t size_bytes, uint64_t now_ms)
{
	const char *why = NULL;
	struct k8s_key *old, *nobj = NULL;
	struct meta m;
	int r;

	if (!s || (unsigned)kind >= K8S_KIND_COUNT)
		return -EINVAL;
	if (parse_meta(kind, obj, &m, &why) < 0)
		goto reject;
	old = obj_find(s, kind, m.ns, m.name);
	/* Seen by this list even if this version is refused: the last good view stays. */
	if (old)
		old->mark = s->mark[kind];

	if (ev == K8S_EVENT_DELETED) {
		const struct k8s_pod *p = (const struct k8s_pod *)old;

		/* A delete for an earlier pod of the same name leaves the current one alone. */
		if (old && !(kind == K8S_POD && p->uid && m.uid && strcmp(p->uid, m.uid) != 0)) {
			obj_remove(s, kind, old, now_ms);
			g_hash_table_remove(s->objs[kind], old);
			count_objects(s, kind);
		}
		return 0;
	}
	if (size_bytes > s->cfg.max_object_bytes) {
		s->stats.oversized++;
		log_once(&s->logged_big[kind], kind, &m, "larger than max_object_bytes");
		return -EMSGSIZE;
	}
	if (!old && g_hash_table_size(s->objs[kind]) >= s->cfg.max_objects) {
		s->stats.over_limit++;
		log_once(&s->logged_limit[kind], kind, &m, "max_objects reached");
		return -ENOSPC;
	}

	switch (kind) {
	case K8S_POD:
		r = pod_parse(s, obj, &m, (struct k8s_pod **)&nobj, &why);
		break;
	case K8S_SERVICE:
		r = service_parse(s, obj, &m, (struct k8s_service **)&nobj, &why);
		break;
	case K8S_ENDPOINTSLICE:
		r = slice_parse(s, obj, &m, (struct k8s_slice **)&nobj, &why);
		break;
	case K8S_NODE:
		r = node_parse(s, obj, &m, (struct k8s_node **)&nobj, &why);
		break;
	case K8S_NAMESPACE:
		r = namespace_parse(&m, (struct k8s_namespace **)&nobj);
		break;
	default:
		r = owned_parse(&m, (struct k8s_owned **)&nobj, &why);
		break;
	}
	if (r < 0)
		goto reject;

	if (kind == K8S_POD) {
		pod_carry(s, (struct k8s_pod *)nobj, (struct k8s_pod *)old, now_ms);
	} else if (kind == K8S_ENDPOINTSLICE) {
		if (old)
			slice_index(s, (struct k8s_slice *)old, false);
		slice_index(s, (struct k8s_slice *)nobj, true);
	}
	nobj->mark = s->mark[kind];
	/* Replaces (and frees) the old version, if any. */
	g_hash_table_add(s->objs[kind], nobj);
	count_objects(s, kind);
	if (kind != K8S_NAMESPACE)
		s->dirty = true;
	return 0;

reject:
	s->stats.rejected++;
	log_once(&s->logged_reject[kind], kind, &m, why ? why : "malformed");
	return -EINVAL;
}

int k8s_store_apply(struct k8s_store *s, enum k8s_kind kind, enum k8s_event ev, const json_t *obj,
		    size_t size_bytes, uint64_t now_ms)
{
	int r;

	if ((unsigned)ev > K8S_EVENT_DELETED)
		return -EINVAL;
	r = apply(s, kind, ev, obj, size_bytes, now_ms);
	if (r == 0)
		s->stats.events[kind]++;
	return r;
}

void k8s_store_list_begin(struct k8s_store *s, enum k8s_kind kind)
{
	if (!s || (unsigned)kind >= K8S_KIND_COUNT)
		return;
	s->mark[kind]++;
}

int k8s_store_list_item(struct k8s_store *s, enum k8s_kind kind, const json_t *obj,
			size_t size_bytes, uint64_t now_ms)
{
	return apply(s, kind, K8S_EVENT_ADDED, obj, size_bytes, now_ms);
}

void k8s_store_list_end(struct k8s_store *s, enum k8s_kind kind, uint64_t now_ms)
{
	GHashTableIter it;
	gpointer o;

	if (!s || (unsigned)kind >= K8S_KIND_COUNT)
		return;
	g_hash_table_iter_init(&it, s->objs[kind]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		if (((struct k8s_key *)o)->mark == s->mark[kind])
			continue;
		obj_remove(s, kind, o, now_ms);
		g_hash_table_iter_remove(&it);
	}
	count_objects(s, kind);
	s->stats.synced[kind] = true;
}

/* ---- publishing --------------------------------------------------------------------- */

/* Node and service addresses: they win over any pod claiming the same address. */
static GHashTable *reserved_addrs(struct k8s_store *s)
{
	GHashTable *h = g_hash_table_new(addr_hash, addr_equal);
	GHashTableIter it;
	gpointer o;
	uint32_t i;

	g_hash_table_iter_init(&it, s->objs[K8S_SERVICE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_service *sv = o;

		for (i = 0; i < sv->n_addrs; i++)
			g_hash_table_add(h, (gpointer)&sv->addrs[i]);
	}
	g_hash_table_iter_init(&it, s->objs[K8S_NODE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_node *n = o;

		for (i = 0; i < n->n_addrs; i++)
			g_hash_table_add(h, (gpointer)&n->addrs[i]);
	}
	return h;
}

static int build(struct k8s_store *s, struct enrich_table_builder *b, GHashTable *reserved)
{
	const char *f[ENRICH_DIM_COUNT];
	uint64_t pods = 0;
	GHashTableIter it;
	gpointer o;
	GList *l;
	uint32_t i;
	int r;

	g_hash_table_iter_init(&it, s->objs[K8S_POD]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		struct k8s_pod *p = o;

		if (!p->n_ips)
			continue;
		pod_fields(s, p, f);
		if (g_strcmp0(f[ENRICH_SERVICE], p->services) != 0) {
			istr_put(p->services);
			p->services = istr_new(f[ENRICH_SERVICE]);
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
	for (l = s->tombs.head; l; l = l->next) {
		const struct k8s_tomb *t = l->data;

		if (g_hash_table_contains(reserved, &t->addr))
			continue;
		r = enrich_builder_add_endpoint_span(b, &t->addr, t->f, t->from_ms, t->until_ms);
		if (r < 0)
			return r;
	}
	/* Services, then nodes: a node address that is also a service's wins (same span). */
	g_hash_table_iter_init(&it, s->objs[K8S_SERVICE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_service *sv = o;

		memset(f, 0, sizeof(f));
		f[ENRICH_CLUSTER] = s->cfg.cluster_name;
		f[ENRICH_NAMESPACE] = sv->key.ns;
		f[ENRICH_SERVICE] = sv->key.name;
		f[ENRICH_KIND] = "service";
		for (i = 0; i < sv->n_addrs; i++) {
			r = enrich_builder_add_endpoint(b, &sv->addrs[i], f);
			if (r < 0)
				return r;
		}
	}
	g_hash_table_iter_init(&it, s->objs[K8S_NODE]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		const struct k8s_node *n = o;

		memset(f, 0, sizeof(f));
		f[ENRICH_CLUSTER] = s->cfg.cluster_name;
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
	s->stats.pods_indexed = pods;
	return 0;
}

bool k8s_store_publish(struct k8s_store *s, uint64_t now_ms)
{
	struct enrich_table_builder *b;
	GHashTable *reserved;
	struct k8s_tomb *t;
	gint64 t0_us;
	int r;

	if (!s)
		return false;
	while ((t = g_queue_peek_head(&s->tombs)) && now_ms >= t->until_ms &&
	       now_ms - t->until_ms >= s->cfg.tombstone_ms) {
		tomb_free(g_queue_pop_head(&s->tombs));
		s->dirty = true;
	}
	s->stats.tombstones = g_queue_get_length(&s->tombs);
	if (!s->dirty)
		return false;

	t0_us = g_get_monotonic_time();
	b = enrich_builder_new();
	if (!b) {
		r = -ENOMEM;
		goto fail;
	}
	reserved = reserved_addrs(s);
	r = build(s, b, reserved);
	g_hash_table_destroy(reserved);
	if (r < 0) {
		enrich_builder_free(b);
		goto fail;
	}
	enrich_publish(s->e, ENRICH_SRC_KUBERNETES, enrich_builder_finish(b));
	s->stats.last_build_us = (uint64_t)(g_get_monotonic_time() - t0_us);
	s->dirty = false;
	s->stats.publishes++;
	return true;

fail:
	s->stats.publish_failed++;
	if (!s->logged_publish) {
		log_error("k8s: cannot build the label table: %s (the previous one stays)",
			  g_strerror(-r));
		s->logged_publish = true;
	}
	return false;
}
