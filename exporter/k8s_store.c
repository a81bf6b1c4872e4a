// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_store: applies watch events and LISTs to the cluster view (k8s_view.h), parsing each
 * object with k8s_parse.h and keeping the last good version of an object it refuses. A LIST
 * marks what it saw with a generation number, so its end deletes exactly what it did not see.
 * When a pod dies its resolved labels are frozen into tombstones (k8s_table.h), kept in
 * age order; publishing rebuilds the whole table.
 */
#include <errno.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "k8s_parse.h"
#include "k8s_store.h"
#include "k8s_table.h"
#include "k8s_view.h"
#include "log.h"

struct k8s_store {
	struct k8s_store_config cfg;
	struct enrich *e;     /* borrowed */
	struct k8s_view view; /* owned: the objects and the service index */
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

/* ---- the store ---------------------------------------------------------------------- */

struct k8s_store *k8s_store_new(const struct k8s_store_config *cfg, struct enrich *e)
{
	struct k8s_store *s;

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
	k8s_view_init(&s->view);
	g_queue_init(&s->tombs);
	s->svc_buf = g_string_sized_new(128);
	return s;
}

void k8s_store_free(struct k8s_store *s)
{
	if (!s)
		return;
	k8s_view_done(&s->view);
	g_queue_clear_full(&s->tombs, k8s_table_tomb_free);
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

static void count_objects(struct k8s_store *s, enum k8s_kind kind)
{
	s->stats.objects[kind] = g_hash_table_size(s->view.objs[kind]);
}

/* ---- tombstones --------------------------------------------------------------------- */

static void tomb_add(struct k8s_store *s, const struct k8s_pod *p, const struct k8s_pod_ip *ip,
		     uint64_t now_ms)
{
	struct k8s_tomb *t =
		k8s_table_tomb_new(&s->view, s->cfg.cluster_name, s->svc_buf, p, ip, now_ms);

	g_queue_push_tail(&s->tombs, t);
	while (g_queue_get_length(&s->tombs) > s->cfg.max_objects) {
		k8s_table_tomb_free(g_queue_pop_head(&s->tombs));
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

/* ---- applying ----------------------------------------------------------------------- */

/* Log the first refused object of a kind for one reason; later ones are only counted. */
static void log_once(bool *logged, enum k8s_kind kind, const struct k8s_meta *m, const char *why)
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
			if (k8s_view_addr_eq(&np->ips[i].addr, &old->ips[j].addr)) {
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
		k8s_view_index_slice(&s->view, (struct k8s_slice *)o, false);
	if (kind != K8S_NAMESPACE)
		s->dirty = true;
}

static int apply(struct k8s_store *s, enum k8s_kind kind, enum k8s_event ev, const json_t *obj,
		 size_t size_bytes, uint64_t now_ms)
{
	const char *why = NULL;
	struct k8s_key *old, *nobj = NULL;
	struct k8s_meta m;
	int r;

	if (!s || (unsigned)kind >= K8S_KIND_COUNT)
		return -EINVAL;
	if (k8s_parse_meta(kind, obj, &m, &why) < 0)
		goto reject;
	old = k8s_view_find(&s->view, kind, m.ns, m.name);
	/* Seen by this list even if this version is refused: the last good view stays. */
	if (old)
		old->mark = s->mark[kind];

	if (ev == K8S_EVENT_DELETED) {
		const struct k8s_pod *p = (const struct k8s_pod *)old;

		/* A delete for an earlier pod of the same name leaves the current one alone. */
		if (old && !(kind == K8S_POD && p->uid && m.uid && strcmp(p->uid, m.uid) != 0)) {
			obj_remove(s, kind, old, now_ms);
			g_hash_table_remove(s->view.objs[kind], old);
			count_objects(s, kind);
		}
		return 0;
	}
	if (size_bytes > s->cfg.max_object_bytes) {
		s->stats.oversized++;
		log_once(&s->logged_big[kind], kind, &m, "larger than max_object_bytes");
		return -EMSGSIZE;
	}
	if (!old && g_hash_table_size(s->view.objs[kind]) >= s->cfg.max_objects) {
		s->stats.over_limit++;
		log_once(&s->logged_limit[kind], kind, &m, "max_objects reached");
		return -ENOSPC;
	}

	r = k8s_parse_object(kind, obj, &m, &s->cfg, &s->stats.bad_addresses, &nobj, &why);
	if (r < 0)
		goto reject;

	if (kind == K8S_POD) {
		pod_carry(s, (struct k8s_pod *)nobj, (struct k8s_pod *)old, now_ms);
	} else if (kind == K8S_ENDPOINTSLICE) {
		if (old)
			k8s_view_index_slice(&s->view, (struct k8s_slice *)old, false);
		k8s_view_index_slice(&s->view, (struct k8s_slice *)nobj, true);
	}
	nobj->mark = s->mark[kind];
	/* Replaces (and frees) the old version, if any. */
	g_hash_table_add(s->view.objs[kind], nobj);
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
	g_hash_table_iter_init(&it, s->view.objs[kind]);
	while (g_hash_table_iter_next(&it, &o, NULL)) {
		if (((struct k8s_key *)o)->mark == s->mark[kind])
			continue;
		obj_remove(s, kind, o, now_ms);
		g_hash_table_iter_remove(&it);
	}
	count_objects(s, kind);
	s->stats.synced[kind] = true;
}

bool k8s_store_publish(struct k8s_store *s, uint64_t now_ms)
{
	struct enrich_table_builder *b;
	struct k8s_tomb *t;
	gint64 t0_us;
	int r;

	if (!s)
		return false;
	while ((t = g_queue_peek_head(&s->tombs)) && now_ms >= t->until_ms &&
	       now_ms - t->until_ms >= s->cfg.tombstone_ms) {
		k8s_table_tomb_free(g_queue_pop_head(&s->tombs));
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
	r = k8s_table_build(&s->view, &s->tombs, s->cfg.cluster_name, s->svc_buf, b,
			    &s->stats.pods_indexed);
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
