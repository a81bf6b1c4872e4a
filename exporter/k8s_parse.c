// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_parse: reads only the fields labelling needs, each through one accessor that treats
 * absent and null as "not there" and any other type as an error, with every string and list
 * bounded. Each kind is checked in full before anything is allocated, so a refused object
 * leaves nothing behind and the store keeps its last good version.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "k8s_parse.h"

/* Longest string kept from an object (names are <= 253, label values <= 63, keys <= 317). */
#define K8S_MAX_STRING_BYTES 1024
/* Most members of any list or map read from one object (labels, ownerReferences,
 * addresses, endpoints; the API allows 1000 endpoints per slice). More: rejected. */
#define K8S_MAX_ITEMS 1024

#define LABEL_SERVICE_NAME "kubernetes.io/service-name"

/* What the parsers of one object share: the store's settings and its address counter. */
struct parse_ctx {
	const struct k8s_store_config *cfg; /* borrowed */
	uint64_t *bad_addresses;	    /* borrowed: the store's counter */
};

static bool kind_namespaced(enum k8s_kind kind)
{
	return kind != K8S_NODE && kind != K8S_NAMESPACE;
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
static bool addr_take(struct parse_ctx *s, const char *text, struct enrich_addr *ret_addr)
{
	if (enrich_addr_parse(text, ret_addr) == 0)
		return true;
	(*s->bad_addresses)++;
	return false;
}

static bool addr_in(const struct enrich_addr *v, uint32_t n, const struct enrich_addr *a)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (k8s_view_addr_eq(&v[i], a))
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

int k8s_parse_meta(enum k8s_kind kind, const json_t *obj, struct k8s_meta *m, const char **why)
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
static const char *pod_labels_text(const struct parse_ctx *s, const json_t *labels)
{
	json_t *out;
	const char *ret = NULL;
	char *text;
	size_t i;

	if (!labels || !s->cfg->n_label_keys)
		return NULL;
	out = json_object();
	for (i = 0; i < s->cfg->n_label_keys; i++) {
		const char *k = s->cfg->label_keys[i], *v;

		if (k && jstr(labels, k, &v) == 0 && v)
			json_object_set_new(out, k, json_string(v));
	}
	if (json_object_size(out)) {
		text = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
		ret = k8s_view_istr_new(text);
		free(text);
	}
	json_decref(out);
	return ret;
}

static int pod_parse(struct parse_ctx *s, const json_t *obj, const struct k8s_meta *m,
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
	p->key.ns = k8s_view_istr_new(m->ns);
	p->key.name = g_strdup(m->name);
	p->uid = m->uid && *m->uid ? g_strdup(m->uid) : NULL;
	p->node = k8s_view_istr_new(node);
	p->labels = pod_labels_text(s, m->labels);
	p->owner_kind = k8s_view_istr_new(ok);
	p->owner_name = k8s_view_istr_new(on);
	/* Host-network pods share the node's address; ended pods gave theirs back. */
	if (!host_net && !phase_ended(phase)) {
		for (i = 0; i < n; i++)
			p->ips[i].addr = addrs[i];
		p->n_ips = (uint8_t)n;
	}
	*ret_pod = p;
	return 0;
}

static int owned_parse(const struct k8s_meta *m, struct k8s_owned **ret_owned, const char **why)
{
	const char *ok, *on;
	struct k8s_owned *o;

	if (parse_owner(m->meta, &ok, &on, why) < 0)
		return -EINVAL;
	o = g_new0(struct k8s_owned, 1);
	o->key.ns = k8s_view_istr_new(m->ns);
	o->key.name = g_strdup(m->name);
	o->owner_kind = k8s_view_istr_new(ok);
	o->owner_name = k8s_view_istr_new(on);
	*ret_owned = o;
	return 0;
}

static int service_parse(struct parse_ctx *s, const json_t *obj, const struct k8s_meta *m,
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
	o->key.ns = k8s_view_istr_new(m->ns);
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

static int node_parse(struct parse_ctx *s, const json_t *obj, const struct k8s_meta *m,
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
			(*s->bad_addresses)++;
	}
	o = g_new0(struct k8s_node, 1);
	o->key.name = g_strdup(m->name);
	o->zone = k8s_view_istr_new(topology_label(m->labels, "topology.kubernetes.io/zone",
						   "failure-domain.beta.kubernetes.io/zone"));
	o->region = k8s_view_istr_new(topology_label(m->labels, "topology.kubernetes.io/region",
						     "failure-domain.beta.kubernetes.io/region"));
	o->instance_id = instance_id(pid);
	o->addrs = n ? g_memdup2(buf, n * sizeof(buf[0])) : NULL;
	o->n_addrs = n;
	*ret_node = o;
	return 0;
}

static int namespace_parse(const struct k8s_meta *m, struct k8s_namespace **ret_ns)
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

static int slice_parse(struct parse_ctx *s, const json_t *obj, const struct k8s_meta *m,
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
	o->key.ns = k8s_view_istr_new(m->ns);
	o->key.name = g_strdup(m->name);
	o->service = k8s_view_istr_new(svc);
	if (eps && json_array_size(eps)) {
		o->targets = g_new0(struct k8s_slice_target, json_array_size(eps));
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
			o->targets[o->n_targets].ns = k8s_view_istr_new(ns && *ns ? ns : m->ns);
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

int k8s_parse_object(enum k8s_kind kind, const json_t *obj, const struct k8s_meta *m,
		     const struct k8s_store_config *cfg, uint64_t *bad_addresses,
		     struct k8s_key **ret_obj, const char **why)
{
	struct parse_ctx ctx = {.cfg = cfg, .bad_addresses = bad_addresses};
	struct parse_ctx *s = &ctx;

	switch (kind) {
	case K8S_POD:
		return pod_parse(s, obj, m, (struct k8s_pod **)ret_obj, why);
	case K8S_SERVICE:
		return service_parse(s, obj, m, (struct k8s_service **)ret_obj, why);
	case K8S_ENDPOINTSLICE:
		return slice_parse(s, obj, m, (struct k8s_slice **)ret_obj, why);
	case K8S_NODE:
		return node_parse(s, obj, m, (struct k8s_node **)ret_obj, why);
	case K8S_NAMESPACE:
		return namespace_parse(m, (struct k8s_namespace **)ret_obj);
	default:
		return owned_parse(m, (struct k8s_owned **)ret_obj, why);
	}
}
