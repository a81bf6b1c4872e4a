// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "enrich.h"
#include "k8s_store.h"

/* ---- fixture: one layer, one store ---------------------------------------------------- */

struct fx {
	struct enrich *e;
	struct k8s_store *s;
};

static struct k8s_store_config base_cfg(void)
{
	struct k8s_store_config c = {
		.cluster_name = "prod",
		.label_keys = {"tier", "app"},
		.n_label_keys = 2,
		.tombstone_ms = 60000,
	};

	return c;
}

static struct fx fx_new(const struct k8s_store_config *cfg)
{
	struct k8s_store_config c = base_cfg();
	struct fx f;

	f.e = enrich_new();
	f.s = k8s_store_new(cfg ? cfg : &c, f.e);
	cr_assert_not_null(f.s);
	return f;
}

static void fx_free(struct fx *f)
{
	k8s_store_free(f->s);
	enrich_free(f->e);
}

static const struct k8s_store_stats *st(const struct fx *f)
{
	return k8s_store_get_stats(f->s);
}

/* ---- lookups ------------------------------------------------------------------------ */

/* The labels of ip for a flow started at at_ms, copied out of the current snapshot. */
struct got {
	bool hit;
	char *v[ENRICH_DIM_COUNT];
};

static struct got look(const struct fx *f, const char *ip, uint64_t at_ms)
{
	struct enrich_snapshot *snap = enrich_snapshot_acquire(f->e);
	struct enrich_labels l;
	struct enrich_addr a;
	struct got g = {0};
	unsigned d;

	cr_assert_eq(enrich_addr_parse(ip, &a), 0, "parse '%s'", ip);
	g.hit = enrich_lookup(snap, &a, at_ms, &l);
	for (d = 0; d < ENRICH_DIM_COUNT; d++)
		g.v[d] = l.v[d] ? strdup(l.v[d]) : NULL;
	enrich_snapshot_release(snap);
	return g;
}

static void got_free(struct got *g)
{
	unsigned d;

	for (d = 0; d < ENRICH_DIM_COUNT; d++)
		free(g->v[d]);
}

static void expect_dim(const struct got *g, const char *ip, enum enrich_dim d, const char *want)
{
	const char *v = g->v[d];

	if (!want)
		cr_assert_null(v, "%s %s: want NULL, got '%s'", ip, enrich_dim_name(d), v);
	else
		cr_assert(v && strcmp(v, want) == 0, "%s %s: want '%s', got '%s'", ip,
			  enrich_dim_name(d), want, v ? v : "(null)");
}

/* Expect one dimension of ip at at_ms. */
static void expect(const struct fx *f, const char *ip, uint64_t at_ms, enum enrich_dim d,
		   const char *want)
{
	struct got g = look(f, ip, at_ms);

	expect_dim(&g, ip, d, want);
	got_free(&g);
}

static void expect_miss(const struct fx *f, const char *ip, uint64_t at_ms)
{
	struct got g = look(f, ip, at_ms);

	cr_assert_not(g.hit, "%s: want no entry, got kind '%s' pod '%s'", ip,
		      g.v[ENRICH_KIND] ? g.v[ENRICH_KIND] : "-",
		      g.v[ENRICH_POD] ? g.v[ENRICH_POD] : "-");
	got_free(&g);
}

/* Expect the workload triple of ip (at any time). */
static void expect_workload(const struct fx *f, const char *ip, const char *kind, const char *name,
			    const char *rs)
{
	struct got g = look(f, ip, UINT64_MAX - 1);

	cr_assert(g.hit, "%s: no entry", ip);
	expect_dim(&g, ip, ENRICH_WORKLOAD_KIND, kind);
	expect_dim(&g, ip, ENRICH_WORKLOAD, name);
	expect_dim(&g, ip, ENRICH_REPLICASET, rs);
	expect_dim(&g, ip, ENRICH_KIND, "pod");
	got_free(&g);
}

/* ---- objects, built the way the API server sends them (LIST items: no kind) ---------- */

static json_t *meta(const char *ns, const char *name, const char *uid)
{
	json_t *m = json_pack("{s:s}", "name", name);

	if (ns)
		json_object_set_new(m, "namespace", json_string(ns));
	if (uid)
		json_object_set_new(m, "uid", json_string(uid));
	return m;
}

static void set_owner(json_t *obj, const char *kind, const char *name, bool controller)
{
	json_t *m = json_object_get(obj, "metadata");
	json_t *refs = json_object_get(m, "ownerReferences");

	if (!refs) {
		refs = json_array();
		json_object_set_new(m, "ownerReferences", refs);
	}
	json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b}", "apiVersion", "apps/v1",
					      "kind", kind, "name", name, "uid", "owner-uid",
					      "controller", controller));
}

static void set_label(json_t *obj, const char *k, const char *v)
{
	json_t *m = json_object_get(obj, "metadata");
	json_t *l = json_object_get(m, "labels");

	if (!l) {
		l = json_object();
		json_object_set_new(m, "labels", l);
	}
	json_object_set_new(l, k, json_string(v));
}

/* A Running pod; ip NULL = none yet. owner_kind NULL = no owner. */
static json_t *pod(const char *ns, const char *name, const char *ip, const char *node,
		   const char *owner_kind, const char *owner_name)
{
	char uid[96];
	json_t *p, *status;

	snprintf(uid, sizeof(uid), "uid-%s-%s", ns, name);
	p = json_pack("{s:o, s:{s:s, s:[{s:s}]}, s:{s:s}}", "metadata", meta(ns, name, uid), "spec",
		      "nodeName", node ? node : "", "containers", "name", "c", "status", "phase",
		      ip ? "Running" : "Pending");
	status = json_object_get(p, "status");
	if (ip) {
		json_object_set_new(status, "podIP", json_string(ip));
		json_object_set_new(status, "podIPs", json_pack("[{s:s}]", "ip", ip));
	}
	if (owner_kind)
		set_owner(p, owner_kind, owner_name, true);
	return p;
}

static json_t *owned(const char *ns, const char *name, const char *owner_kind,
		     const char *owner_name)
{
	json_t *o = json_pack("{s:o, s:{s:i}}", "metadata", meta(ns, name, NULL), "spec",
			      "replicas", 2);

	if (owner_kind)
		set_owner(o, owner_kind, owner_name, true);
	return o;
}

static json_t *node(const char *name, const char *ip, const char *provider_id)
{
	json_t *n = json_pack("{s:o, s:{}, s:{s:[{s:s, s:s}]}}", "metadata", meta(NULL, name, NULL),
			      "spec", "status", "addresses", "type", "Hostname", "address", name);

	if (provider_id)
		json_object_set_new(json_object_get(n, "spec"), "providerID",
				    json_string(provider_id));
	if (ip)
		json_array_append_new(json_object_get(json_object_get(n, "status"), "addresses"),
				      json_pack("{s:s, s:s}", "type", "InternalIP", "address", ip));
	return n;
}

static json_t *service(const char *ns, const char *name, const char *cluster_ip)
{
	return json_pack("{s:o, s:{s:s, s:s}, s:{s:{}}}", "metadata", meta(ns, name, NULL), "spec",
			 "type", "ClusterIP", "clusterIP", cluster_ip, "status", "loadBalancer");
}

/* An endpointslice of service svc pointing at pods (NULL-terminated list of names, each
 * given an address "10.1.0.N" that the store must not need). */
static json_t *slice(const char *ns, const char *name, const char *svc, const char *const *pods)
{
	json_t *sl = json_pack("{s:o, s:s, s:[], s:[]}", "metadata", meta(ns, name, NULL),
			       "addressType", "IPv4", "endpoints", "ports");
	json_t *eps = json_object_get(sl, "endpoints");
	unsigned i;

	if (svc)
		set_label(sl, "kubernetes.io/service-name", svc);
	for (i = 0; pods && pods[i]; i++)
		json_array_append_new(eps,
				      json_pack("{s:[s], s:{s:b}, s:{s:s, s:s, s:s}}", "addresses",
						"192.0.2.99", "conditions", "ready", 1, "targetRef",
						"kind", "Pod", "namespace", ns, "name", pods[i]));
	return sl;
}

static void apply_ok(struct fx *f, enum k8s_kind kind, enum k8s_event ev, json_t *obj,
		     uint64_t now_ms)
{
	int r = k8s_store_apply(f->s, kind, ev, obj, 0, now_ms);

	cr_assert_eq(r, 0, "apply %s: %d", k8s_kind_name(kind), r);
	json_decref(obj);
}

static void add(struct fx *f, enum k8s_kind kind, json_t *obj, uint64_t now_ms)
{
	apply_ok(f, kind, K8S_EVENT_ADDED, obj, now_ms);
}

static void publish(struct fx *f, uint64_t now_ms)
{
	cr_assert(k8s_store_publish(f->s, now_ms), "expected a publish");
}

/* ---- workloads ---------------------------------------------------------------------- */

Test(k8s_store, kind_names)
{
	cr_assert_str_eq(k8s_kind_name(K8S_POD), "pods");
	cr_assert_str_eq(k8s_kind_name(K8S_ENDPOINTSLICE), "endpointslices");
	cr_assert_str_eq(k8s_kind_name(K8S_JOB), "jobs");
	cr_assert_null(k8s_kind_name(K8S_KIND_COUNT));
	cr_assert_null(k8s_store_new(NULL, NULL));
	k8s_store_free(NULL);
}

Test(k8s_store, owner_chains)
{
	struct fx f = fx_new(NULL);

	add(&f, K8S_REPLICASET, owned("shop", "cart-7d9f", "Deployment", "cart"), 1000);
	add(&f, K8S_REPLICASET, owned("shop", "orphan-rs", NULL, NULL), 1000);
	add(&f, K8S_JOB, owned("batch", "report-28000", "CronJob", "report"), 1000);
	add(&f, K8S_JOB, owned("batch", "oneshot", NULL, NULL), 1000);
	add(&f, K8S_POD,
	    pod("shop", "cart-7d9f-x2x9k", "10.0.0.1", "n1", "ReplicaSet", "cart-7d9f"), 1000);
	add(&f, K8S_POD,
	    pod("shop", "orphan-rs-abcde", "10.0.0.2", "n1", "ReplicaSet", "orphan-rs"), 1000);
	add(&f, K8S_POD, pod("db", "pg-0", "10.0.0.3", "n1", "StatefulSet", "pg"), 1000);
	add(&f, K8S_POD, pod("kube-system", "proxy-q", "10.0.0.4", "n1", "DaemonSet", "proxy"),
	    1000);
	add(&f, K8S_POD, pod("batch", "report-28000-zz", "10.0.0.5", "n1", "Job", "report-28000"),
	    1000);
	add(&f, K8S_POD, pod("batch", "oneshot-yy", "10.0.0.6", "n1", "Job", "oneshot"), 1000);
	add(&f, K8S_POD, pod("default", "debug", "10.0.0.7", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("kube-system", "etcd-n1", "10.0.0.8", "n1", "Node", "n1"), 1000);
	/* The RS of the same name in another namespace is not this pod's owner. */
	add(&f, K8S_POD, pod("other", "cart-7d9f-q", "10.0.0.9", "n1", "ReplicaSet", "cart-7d9f"),
	    1000);
	publish(&f, 1000);

	expect_workload(&f, "10.0.0.1", "Deployment", "cart", "cart-7d9f");
	expect_workload(&f, "10.0.0.2", "ReplicaSet", "orphan-rs", "orphan-rs");
	expect_workload(&f, "10.0.0.3", "StatefulSet", "pg", NULL);
	expect_workload(&f, "10.0.0.4", "DaemonSet", "proxy", NULL);
	expect_workload(&f, "10.0.0.5", "CronJob", "report", NULL);
	expect_workload(&f, "10.0.0.6", "Job", "oneshot", NULL);
	expect_workload(&f, "10.0.0.7", "Pod", "debug", NULL);
	expect_workload(&f, "10.0.0.8", "Node", "n1", NULL);
	expect_workload(&f, "10.0.0.9", "ReplicaSet", "cart-7d9f", "cart-7d9f");
	expect(&f, "10.0.0.1", 1000, ENRICH_POD, "cart-7d9f-x2x9k");
	expect(&f, "10.0.0.1", 1000, ENRICH_NAMESPACE, "shop");
	expect(&f, "10.0.0.1", 1000, ENRICH_POD_UID, "uid-shop-cart-7d9f-x2x9k");
	expect(&f, "10.0.0.1", 1000, ENRICH_NODE, "n1");
	expect(&f, "10.0.0.1", 1000, ENRICH_CLUSTER, "prod");
	cr_assert_eq(st(&f)->pods_indexed, 9);
	cr_assert_eq(st(&f)->objects[K8S_POD], 9);
	cr_assert_eq(st(&f)->objects[K8S_REPLICASET], 2);
	cr_assert_eq(st(&f)->objects[K8S_JOB], 2);
	cr_assert_eq(st(&f)->events[K8S_POD], 9);
	/* Nothing changed: no publish. */
	cr_assert_not(k8s_store_publish(f.s, 1100));
	cr_assert_eq(st(&f)->publishes, 1);
	fx_free(&f);
}

Test(k8s_store, controller_owner_preferred)
{
	struct fx f = fx_new(NULL);
	json_t *p = pod("ns", "p", "10.0.0.1", "n1", NULL, NULL);

	set_owner(p, "ConfigMap", "not-a-controller", false);
	set_owner(p, "StatefulSet", "web", true);
	add(&f, K8S_POD, p, 1000);
	p = pod("ns", "q", "10.0.0.2", "n1", NULL, NULL);
	set_owner(p, "Foo", "first", false);
	set_owner(p, "Bar", "second", false);
	add(&f, K8S_POD, p, 1000);
	publish(&f, 1000);
	expect_workload(&f, "10.0.0.1", "StatefulSet", "web", NULL);
	expect_workload(&f, "10.0.0.2", "Foo", "first", NULL);
	fx_free(&f);
}

Test(k8s_store, replicaset_arriving_later_is_picked_up)
{
	struct fx f = fx_new(NULL);

	add(&f, K8S_POD, pod("shop", "cart-1-a", "10.0.0.1", "n1", "ReplicaSet", "cart-1"), 1000);
	add(&f, K8S_POD, pod("batch", "r-1-b", "10.0.0.2", "n1", "Job", "r-1"), 1000);
	publish(&f, 1000);
	expect_workload(&f, "10.0.0.1", "ReplicaSet", "cart-1", "cart-1");
	expect_workload(&f, "10.0.0.2", "Job", "r-1", NULL);

	add(&f, K8S_REPLICASET, owned("shop", "cart-1", "Deployment", "cart"), 1100);
	add(&f, K8S_JOB, owned("batch", "r-1", "CronJob", "r"), 1100);
	publish(&f, 1100);
	expect_workload(&f, "10.0.0.1", "Deployment", "cart", "cart-1");
	expect_workload(&f, "10.0.0.2", "CronJob", "r", NULL);

	/* The RS goes away: back to the direct owner. */
	apply_ok(&f, K8S_REPLICASET, K8S_EVENT_DELETED, owned("shop", "cart-1", NULL, NULL), 1200);
	publish(&f, 1200);
	expect_workload(&f, "10.0.0.1", "ReplicaSet", "cart-1", "cart-1");
	fx_free(&f);
}

/* ---- services ----------------------------------------------------------------------- */

Test(k8s_store, services_through_endpointslices)
{
	struct fx f = fx_new(NULL);
	const char *const web[] = {"web-1", "web-2", NULL};
	const char *const web1[] = {"web-1", NULL};
	const char *const web2[] = {"web-2", NULL};
	json_t *sl;

	add(&f, K8S_POD, pod("shop", "web-1", "10.0.0.1", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("shop", "web-2", "10.0.0.2", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("other", "web-1", "10.0.0.3", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("shop", "db", "10.0.0.4", "n1", NULL, NULL), 1000);
	/* Service names are joined sorted, whatever the order slices arrive in. */
	add(&f, K8S_ENDPOINTSLICE, slice("shop", "web-abc", "web", web), 1000);
	add(&f, K8S_ENDPOINTSLICE, slice("shop", "canary-x", "canary", web1), 1000);
	add(&f, K8S_ENDPOINTSLICE, slice("shop", "web-def", "web", web1),
	    1000); /* same svc twice */
	add(&f, K8S_ENDPOINTSLICE, slice("shop", "nolabel", NULL, web2), 1000);
	/* A targetless endpoint whose address is a pod's. */
	sl = slice("shop", "manual-1", "manual", NULL);
	json_array_append_new(json_object_get(sl, "endpoints"),
			      json_pack("{s:[s]}", "addresses", "10.0.0.4"));
	json_array_append_new(json_object_get(sl, "endpoints"),
			      json_pack("{s:[s]}", "addresses", "not-an-ip"));
	add(&f, K8S_ENDPOINTSLICE, sl, 1000);
	publish(&f, 1000);

	expect(&f, "10.0.0.1", 1000, ENRICH_SERVICE, "canary,web");
	expect(&f, "10.0.0.2", 1000, ENRICH_SERVICE, "web");
	expect(&f, "10.0.0.3", 1000, ENRICH_SERVICE, NULL); /* same name, other namespace */
	expect(&f, "10.0.0.4", 1000, ENRICH_SERVICE, "manual");
	expect_miss(&f, "192.0.2.99", 1000); /* endpoint addresses of pods index nothing */
	cr_assert_eq(st(&f)->bad_addresses, 1);
	cr_assert_eq(st(&f)->objects[K8S_ENDPOINTSLICE], 5);

	/* Slice web-abc now only has web-2; web-def still has web-1. */
	apply_ok(&f, K8S_ENDPOINTSLICE, K8S_EVENT_MODIFIED, slice("shop", "web-abc", "web", web2),
		 1100);
	apply_ok(&f, K8S_ENDPOINTSLICE, K8S_EVENT_DELETED, slice("shop", "canary-x", NULL, NULL),
		 1100);
	publish(&f, 1100);
	expect(&f, "10.0.0.1", 1100, ENRICH_SERVICE, "web");
	apply_ok(&f, K8S_ENDPOINTSLICE, K8S_EVENT_DELETED, slice("shop", "web-def", NULL, NULL),
		 1200);
	apply_ok(&f, K8S_ENDPOINTSLICE, K8S_EVENT_DELETED, slice("shop", "manual-1", NULL, NULL),
		 1200);
	publish(&f, 1200);
	expect(&f, "10.0.0.1", 1200, ENRICH_SERVICE, NULL);
	expect(&f, "10.0.0.2", 1200, ENRICH_SERVICE, "web");
	expect(&f, "10.0.0.4", 1200, ENRICH_SERVICE, NULL);
	fx_free(&f);
}

Test(k8s_store, service_cluster_and_lb_ips)
{
	struct fx f = fx_new(NULL);
	json_t *sv = service("shop", "front", "10.96.0.20");

	json_object_set_new(json_object_get(sv, "spec"), "clusterIPs",
			    json_pack("[s, s]", "10.96.0.20", "fd00:96::20"));
	json_object_set_new(json_object_get(sv, "status"), "loadBalancer",
			    json_pack("{s:[{s:s, s:s}, {s:s}]}", "ingress", "ip", "203.0.113.7",
				      "ipMode", "VIP", "hostname", "lb.example.com"));
	add(&f, K8S_SERVICE, sv, 1000);
	add(&f, K8S_SERVICE, service("shop", "headless", "None"), 1000);
	add(&f, K8S_SERVICE, service("shop", "broken-ip", "10.96.0.999"), 1000);
	publish(&f, 1000);

	for (unsigned i = 0; i < 3; i++) {
		const char *ip = (const char *[]){"10.96.0.20", "fd00:96::20", "203.0.113.7"}[i];
		struct got g = look(&f, ip, 5);

		cr_assert(g.hit, "%s", ip);
		expect_dim(&g, ip, ENRICH_KIND, "service");
		expect_dim(&g, ip, ENRICH_SERVICE, "front");
		expect_dim(&g, ip, ENRICH_NAMESPACE, "shop");
		expect_dim(&g, ip, ENRICH_CLUSTER, "prod");
		expect_dim(&g, ip, ENRICH_POD, NULL);
		got_free(&g);
	}
	cr_assert_eq(st(&f)->objects[K8S_SERVICE], 3);
	cr_assert_eq(st(&f)->bad_addresses, 1);
	cr_assert_eq(st(&f)->rejected, 0);
	fx_free(&f);
}

/* ---- nodes -------------------------------------------------------------------------- */

Test(k8s_store, node_zone_labels_and_provider_ids)
{
	static const struct {
		const char *provider_id, *want;
	} ids[] = {
		{"aws:///eu-west-1c/i-0abc", "i-0abc"},
		{"gce://my-project/us-east1-b/gke-node-1", "gke-node-1"},
		{"azure:///subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/"
		 "virtualMachines/aks-vm-3",
		 "aks-vm-3"},
		{"azure:///subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/"
		 "virtualMachineScaleSets/aks-pool-123/virtualMachines/7",
		 "aks-pool-123_7"},
		{"kind://docker/kind/kind-control-plane", "kind://docker/kind/kind-control-plane"},
		{"aws:///eu-west-1c/", "aws:///eu-west-1c/"},
		{"openstack:///8c1b-44", "openstack:///8c1b-44"},
		{NULL, NULL},
	};
	struct fx f = fx_new(NULL);
	json_t *n;
	unsigned i;

	n = node("new", "10.1.0.1", NULL);
	set_label(n, "topology.kubernetes.io/zone", "z-new");
	set_label(n, "topology.kubernetes.io/region", "r-new");
	set_label(n, "failure-domain.beta.kubernetes.io/zone", "z-old");
	add(&f, K8S_NODE, n, 1000);
	n = node("legacy", "10.1.0.2", NULL);
	set_label(n, "failure-domain.beta.kubernetes.io/zone", "z-old");
	set_label(n, "failure-domain.beta.kubernetes.io/region", "r-old");
	add(&f, K8S_NODE, n, 1000);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char name[16], ip[16];

		snprintf(name, sizeof(name), "p%u", i);
		snprintf(ip, sizeof(ip), "10.2.0.%u", i + 1);
		add(&f, K8S_NODE, node(name, ip, ids[i].provider_id), 1000);
	}
	publish(&f, 1000);

	expect(&f, "10.1.0.1", 0, ENRICH_KIND, "node");
	expect(&f, "10.1.0.1", 0, ENRICH_NODE, "new");
	expect(&f, "10.1.0.1", 0, ENRICH_ZONE, "z-new");
	expect(&f, "10.1.0.1", 0, ENRICH_REGION, "r-new");
	expect(&f, "10.1.0.1", 0, ENRICH_CLUSTER, "prod");
	expect(&f, "10.1.0.2", 0, ENRICH_ZONE, "z-old");
	expect(&f, "10.1.0.2", 0, ENRICH_REGION, "r-old");
	expect(&f, "10.1.0.2", 0, ENRICH_INSTANCE_ID, NULL);
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char ip[16];

		snprintf(ip, sizeof(ip), "10.2.0.%u", i + 1);
		expect(&f, ip, 0, ENRICH_INSTANCE_ID, ids[i].want);
	}
	fx_free(&f);
}

Test(k8s_store, pods_get_node_zone_and_host_network_resolves_to_node)
{
	struct fx f = fx_new(NULL);
	json_t *n = node("n1", "192.168.1.10", "aws:///eu-west-1a/i-01");
	json_t *hp;

	set_label(n, "topology.kubernetes.io/zone", "eu-west-1a");
	set_label(n, "topology.kubernetes.io/region", "eu-west-1");
	add(&f, K8S_NODE, n, 1000);
	add(&f, K8S_POD, pod("shop", "web", "10.0.0.1", "n1", NULL, NULL), 1000);
	hp = pod("kube-system", "proxy", "192.168.1.10", "n1", "DaemonSet", "proxy");
	json_object_set_new(json_object_get(hp, "spec"), "hostNetwork", json_true());
	add(&f, K8S_POD, hp, 1000);
	/* A host-network pod on a node the store does not know: still not a pod address. */
	hp = pod("kube-system", "proxy2", "192.168.1.11", "n2", "DaemonSet", "proxy");
	json_object_set_new(json_object_get(hp, "spec"), "hostNetwork", json_true());
	add(&f, K8S_POD, hp, 1000);
	publish(&f, 1000);

	expect(&f, "10.0.0.1", 1000, ENRICH_NODE, "n1");
	expect(&f, "10.0.0.1", 1000, ENRICH_ZONE, "eu-west-1a");
	expect(&f, "10.0.0.1", 1000, ENRICH_REGION, "eu-west-1");
	expect(&f, "10.0.0.1", 1000, ENRICH_INSTANCE_ID, NULL);
	expect(&f, "192.168.1.10", 1000, ENRICH_KIND, "node");
	expect(&f, "192.168.1.10", 1000, ENRICH_POD, NULL);
	expect(&f, "192.168.1.10", 1000, ENRICH_INSTANCE_ID, "i-01");
	expect_miss(&f, "192.168.1.11", 1000);
	cr_assert_eq(st(&f)->pods_indexed, 1);

	/* The node's zone changes: its pods follow on the next publish. */
	n = node("n1", "192.168.1.10", "aws:///eu-west-1b/i-01");
	set_label(n, "topology.kubernetes.io/zone", "eu-west-1b");
	apply_ok(&f, K8S_NODE, K8S_EVENT_MODIFIED, n, 1100);
	publish(&f, 1100);
	expect(&f, "10.0.0.1", 1100, ENRICH_ZONE, "eu-west-1b");
	expect(&f, "10.0.0.1", 1100, ENRICH_REGION, NULL);
	fx_free(&f);
}

Test(k8s_store, node_address_beats_pod_claiming_it)
{
	struct fx f = fx_new(NULL);

	add(&f, K8S_NODE, node("n1", "10.0.0.1", NULL), 1000);
	add(&f, K8S_SERVICE, service("ns", "svc", "10.0.0.2"), 1000);
	add(&f, K8S_POD, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("ns", "b", "10.0.0.2", "n1", NULL, NULL), 1000);
	publish(&f, 1000);
	expect(&f, "10.0.0.1", 2000, ENRICH_KIND, "node");
	expect(&f, "10.0.0.2", 2000, ENRICH_KIND, "service");
	cr_assert_eq(st(&f)->pods_indexed, 0);
	fx_free(&f);
}

/* ---- pod lifecycle, tombstones and address reuse ------------------------------------ */

Test(k8s_store, pod_without_ip_then_with_ip)
{
	struct fx f = fx_new(NULL);

	add(&f, K8S_POD, pod("ns", "a", NULL, "n1", NULL, NULL), 1000);
	publish(&f, 1000);
	cr_assert_eq(st(&f)->objects[K8S_POD], 1);
	cr_assert_eq(st(&f)->pods_indexed, 0);
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL),
		 2000);
	/* Unchanged address: keeps its first-seen time (2000). */
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL),
		 3000);
	publish(&f, 3000);
	expect(&f, "10.0.0.1", 2500, ENRICH_POD, "a");
	cr_assert_eq(st(&f)->pods_indexed, 1);
	cr_assert_eq(st(&f)->events[K8S_POD], 3);
	fx_free(&f);
}

Test(k8s_store, first_seen_time_kept_across_modified_and_relist)
{
	struct fx f = fx_new(NULL);
	json_t *p;

	/* y still holds 10.0.0.1 (its DELETED is late); a shows up with it at 2000. */
	add(&f, K8S_POD, pod("ns", "y", "10.0.0.1", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL), 2000);
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL),
		 3000);
	k8s_store_list_begin(f.s, K8S_POD);
	p = pod("ns", "a", "10.0.0.1", "n1", NULL, NULL);
	cr_assert_eq(k8s_store_list_item(f.s, K8S_POD, p, 0, 4000), 0);
	json_decref(p);
	p = pod("ns", "y", "10.0.0.1", "n1", NULL, NULL);
	cr_assert_eq(k8s_store_list_item(f.s, K8S_POD, p, 0, 4000), 0);
	json_decref(p);
	k8s_store_list_end(f.s, K8S_POD, 4000);
	publish(&f, 4000);
	/* a's span still starts at 2000, so it is the newer holder from then on. */
	expect(&f, "10.0.0.1", 1500, ENRICH_POD, "y");
	expect(&f, "10.0.0.1", 2500, ENRICH_POD, "a");
	expect(&f, "10.0.0.1", 3500, ENRICH_POD, "a");
	fx_free(&f);
}

Test(k8s_store, delete_leaves_tombstone_until_grace_ends)
{
	struct fx f = fx_new(NULL);
	json_t *p;
	const char *const a[] = {"a", NULL};

	add(&f, K8S_REPLICASET, owned("ns", "a-rs", "Deployment", "a-dep"), 1000);
	add(&f, K8S_POD, pod("ns", "a", "10.0.0.1", "n1", "ReplicaSet", "a-rs"), 1000);
	add(&f, K8S_ENDPOINTSLICE, slice("ns", "sv-1", "sv", a), 1000);
	publish(&f, 1000);

	/* Terminating: deletionTimestamp set, still labelled. */
	p = pod("ns", "a", "10.0.0.1", "n1", "ReplicaSet", "a-rs");
	json_object_set_new(json_object_get(p, "metadata"), "deletionTimestamp",
			    json_string("2023-03-10T15:59:10Z"));
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, p, 5000);
	/* The endpointslice drops it before the pod is deleted; the RS goes too. */
	apply_ok(&f, K8S_ENDPOINTSLICE, K8S_EVENT_MODIFIED, slice("ns", "sv-1", "sv", NULL), 6000);
	publish(&f, 6000);
	expect(&f, "10.0.0.1", 5500, ENRICH_POD, "a");
	expect(&f, "10.0.0.1", 5500, ENRICH_SERVICE, NULL);
	apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL),
		 10000);
	apply_ok(&f, K8S_REPLICASET, K8S_EVENT_DELETED, owned("ns", "a-rs", NULL, NULL), 10000);
	cr_assert_eq(st(&f)->objects[K8S_POD], 0);
	cr_assert_eq(st(&f)->tombstones, 1);
	publish(&f, 10000);
	/* A late flow that started while the pod lived keeps its labels, frozen at deletion. */
	{
		struct got g = look(&f, "10.0.0.1", 4000);

		cr_assert(g.hit);
		expect_dim(&g, "10.0.0.1", ENRICH_POD, "a");
		expect_dim(&g, "10.0.0.1", ENRICH_WORKLOAD_KIND, "Deployment");
		expect_dim(&g, "10.0.0.1", ENRICH_WORKLOAD, "a-dep");
		expect_dim(&g, "10.0.0.1", ENRICH_POD_UID, "uid-ns-a");
		expect_dim(&g, "10.0.0.1", ENRICH_CLUSTER, "prod");
		got_free(&g);
	}
	cr_assert_eq(st(&f)->pods_indexed, 0);
	/* Grace: until 10000 + 60000. */
	cr_assert_not(k8s_store_publish(f.s, 69999));
	expect(&f, "10.0.0.1", 4000, ENRICH_POD, "a");
	publish(&f, 70000);
	expect_miss(&f, "10.0.0.1", 4000);
	cr_assert_eq(st(&f)->tombstones, 0);
	fx_free(&f);
}

Test(k8s_store, tombstone_keeps_service_dropped_before_delete)
{
	struct fx f = fx_new(NULL);
	const char *const a[] = {"a", NULL};

	add(&f, K8S_POD, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL), 1000);
	add(&f, K8S_ENDPOINTSLICE, slice("ns", "sv-1", "sv", a), 1000);
	publish(&f, 1000);
	expect(&f, "10.0.0.1", 1000, ENRICH_SERVICE, "sv");
	/* Slice update and delete in one batch: the published services are kept. */
	apply_ok(&f, K8S_ENDPOINTSLICE, K8S_EVENT_MODIFIED, slice("ns", "sv-1", "sv", NULL), 2000);
	apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL),
		 2000);
	publish(&f, 2000);
	expect(&f, "10.0.0.1", 1500, ENRICH_SERVICE, "sv");
	fx_free(&f);
}

Test(k8s_store, ip_reuse_flow_gets_owner_at_its_start)
{
	struct fx f = fx_new(NULL);

	add(&f, K8S_POD, pod("ns", "old", "10.0.0.1", "n1", "StatefulSet", "old"), 1000);
	publish(&f, 1000);
	apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", "old", "10.0.0.1", "n1", NULL, NULL),
		 5000);
	add(&f, K8S_POD, pod("ns", "new", "10.0.0.1", "n1", "DaemonSet", "new"), 7000);
	publish(&f, 7000);

	expect(&f, "10.0.0.1", 1000, ENRICH_POD, "old");
	expect(&f, "10.0.0.1", 4999, ENRICH_POD, "old");
	expect(&f, "10.0.0.1", 4999, ENRICH_WORKLOAD_KIND, "StatefulSet");
	expect(&f, "10.0.0.1", 5500, ENRICH_POD, "new"); /* gap: the next holder */
	expect(&f, "10.0.0.1", 7000, ENRICH_POD, "new");
	expect(&f, "10.0.0.1", 7000, ENRICH_WORKLOAD_KIND, "DaemonSet");
	expect(&f, "10.0.0.1", 900, ENRICH_POD, "old"); /* before anyone: the first holder */

	/* The new holder shows up before the old one's DELETED: the newer claim wins. */
	add(&f, K8S_POD, pod("ns", "x", "10.0.0.2", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("ns", "y", "10.0.0.2", "n1", NULL, NULL), 8000);
	apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", "x", "10.0.0.2", "n1", NULL, NULL),
		 9000);
	publish(&f, 9000);
	expect(&f, "10.0.0.2", 7999, ENRICH_POD, "x");
	expect(&f, "10.0.0.2", 8000, ENRICH_POD, "y");
	expect(&f, "10.0.0.2", 8500, ENRICH_POD, "y");
	fx_free(&f);
}

Test(k8s_store, pod_ends_or_changes_address)
{
	struct fx f = fx_new(NULL);
	json_t *p;

	add(&f, K8S_POD, pod("ns", "job", "10.0.0.1", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("ns", "mover", "10.0.0.2", "n1", NULL, NULL), 1000);
	publish(&f, 1000);
	/* Succeeded keeps status.podIP but gave the address back: tombstone from then on. */
	p = pod("ns", "job", "10.0.0.1", "n1", NULL, NULL);
	json_object_set_new(json_object_get(p, "status"), "phase", json_string("Succeeded"));
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, p, 3000);
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, pod("ns", "mover", "10.0.0.3", "n1", NULL, NULL),
		 3000);
	cr_assert_eq(st(&f)->tombstones, 2);
	add(&f, K8S_POD, pod("ns", "next", "10.0.0.1", "n1", NULL, NULL), 4000);
	publish(&f, 4000);
	expect(&f, "10.0.0.1", 2000, ENRICH_POD, "job");
	expect(&f, "10.0.0.1", 4000, ENRICH_POD, "next");
	expect(&f, "10.0.0.2", 2000, ENRICH_POD, "mover");
	expect(&f, "10.0.0.3", 3000, ENRICH_POD, "mover");
	cr_assert_eq(st(&f)->pods_indexed, 2);
	/* A Failed pod listed for the first time is never indexed. */
	p = pod("ns", "crashed", "10.0.0.9", "n1", NULL, NULL);
	json_object_set_new(json_object_get(p, "status"), "phase", json_string("Failed"));
	add(&f, K8S_POD, p, 5000);
	publish(&f, 5000);
	expect_miss(&f, "10.0.0.9", 5000);
	fx_free(&f);
}

Test(k8s_store, same_name_new_uid_retires_old_pod)
{
	struct fx f = fx_new(NULL);
	json_t *p;

	add(&f, K8S_POD, pod("ns", "web-0", "10.0.0.1", "n1", "StatefulSet", "web"), 1000);
	publish(&f, 1000);
	/* The old pod's DELETED was missed; the new incarnation arrives with a new uid. */
	p = pod("ns", "web-0", "10.0.0.5", "n1", "StatefulSet", "web");
	json_object_set_new(json_object_get(p, "metadata"), "uid", json_string("uid-new"));
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, p, 3000);
	/* A late DELETED of the old uid leaves the new one alone. */
	apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", "web-0", "10.0.0.1", "n1", NULL, NULL),
		 3500);
	publish(&f, 4000);
	cr_assert_eq(st(&f)->objects[K8S_POD], 1);
	expect(&f, "10.0.0.1", 2000, ENRICH_POD_UID, "uid-ns-web-0");
	expect(&f, "10.0.0.5", 3000, ENRICH_POD_UID, "uid-new");
	fx_free(&f);
}

Test(k8s_store, tombstones_bounded_by_max_objects)
{
	struct k8s_store_config c = base_cfg();
	struct fx f;
	unsigned i;

	c.max_objects = 3;
	f = fx_new(&c);
	for (i = 0; i < 3; i++) {
		char name[8], ip[16];

		snprintf(name, sizeof(name), "p%u", i);
		snprintf(ip, sizeof(ip), "10.0.0.%u", i + 1);
		add(&f, K8S_POD, pod("ns", name, ip, "n1", NULL, NULL), 1000);
	}
	for (i = 0; i < 3; i++) {
		char name[8], ip[16];

		snprintf(name, sizeof(name), "p%u", i);
		snprintf(ip, sizeof(ip), "10.0.0.%u", i + 1);
		apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", name, ip, "n1", NULL, NULL),
			 2000 + i);
		add(&f, K8S_POD, pod("ns", name, ip, "n1", NULL, NULL), 3000);
		apply_ok(&f, K8S_POD, K8S_EVENT_DELETED, pod("ns", name, ip, "n1", NULL, NULL),
			 4000);
	}
	cr_assert_eq(st(&f)->tombstones, 3);
	cr_assert_eq(st(&f)->tombstones_evicted, 3);
	publish(&f, 4000);
	/* Six tombstones, three kept: the oldest went first, so both of p0's and p1's first. */
	expect_miss(&f, "10.0.0.1", 1500);
	expect(&f, "10.0.0.2", 3500, ENRICH_POD, "p1");
	expect(&f, "10.0.0.3", 1500, ENRICH_POD, "p2");
	expect(&f, "10.0.0.3", 3500, ENRICH_POD, "p2");
	fx_free(&f);
}

/* ---- lists -------------------------------------------------------------------------- */

Test(k8s_store, relist_deletes_missing_objects)
{
	struct fx f = fx_new(NULL);
	json_t *a, *n, *bad;

	cr_assert_not(k8s_store_synced(f.s));
	for (unsigned k = 0; k < K8S_KIND_COUNT; k++) {
		k8s_store_list_begin(f.s, k);
		k8s_store_list_end(f.s, k, 500);
	}
	cr_assert(k8s_store_synced(f.s));

	k8s_store_list_begin(f.s, K8S_POD);
	a = pod("ns", "a", "10.0.0.1", "n1", NULL, NULL);
	cr_assert_eq(k8s_store_list_item(f.s, K8S_POD, a, 0, 1000), 0);
	json_decref(a);
	k8s_store_list_end(f.s, K8S_POD, 1000);
	add(&f, K8S_POD, pod("ns", "b", "10.0.0.2", "n1", NULL, NULL), 1000);
	add(&f, K8S_POD, pod("ns", "c", "10.0.0.3", "n1", NULL, NULL), 1000);
	add(&f, K8S_NODE, node("n1", "10.9.0.1", NULL), 1000);
	add(&f, K8S_NODE, node("n2", "10.9.0.2", NULL), 1000);
	publish(&f, 1000);

	/* Relist after a 410: b is gone, c comes back malformed (kept as it was). */
	k8s_store_list_begin(f.s, K8S_POD);
	a = pod("ns", "a", "10.0.0.1", "n1", NULL, NULL);
	cr_assert_eq(k8s_store_list_item(f.s, K8S_POD, a, 0, 2000), 0);
	json_decref(a);
	bad = pod("ns", "c", "10.0.0.3", "n1", NULL, NULL);
	json_object_set_new(json_object_get(bad, "status"), "podIP", json_integer(7));
	json_object_del(json_object_get(bad, "status"), "podIPs");
	cr_assert_eq(k8s_store_list_item(f.s, K8S_POD, bad, 0, 2000), -EINVAL);
	json_decref(bad);
	k8s_store_list_end(f.s, K8S_POD, 2000);
	k8s_store_list_begin(f.s, K8S_NODE);
	n = node("n2", "10.9.0.2", NULL);
	cr_assert_eq(k8s_store_list_item(f.s, K8S_NODE, n, 0, 2000), 0);
	json_decref(n);
	k8s_store_list_end(f.s, K8S_NODE, 2000);
	publish(&f, 2000);

	cr_assert_eq(st(&f)->objects[K8S_POD], 2);
	cr_assert_eq(st(&f)->objects[K8S_NODE], 1);
	cr_assert_eq(st(&f)->tombstones, 1);
	cr_assert_eq(st(&f)->rejected, 1);
	cr_assert_eq(st(&f)->events[K8S_POD], 2, "list items are not events");
	expect(&f, "10.0.0.1", 2500, ENRICH_POD, "a");
	expect(&f, "10.0.0.2", 1500, ENRICH_POD, "b"); /* tombstone */
	expect(&f, "10.0.0.3", 2500, ENRICH_POD, "c");
	expect_miss(&f, "10.9.0.1", 2500);
	expect(&f, "10.9.0.2", 2500, ENRICH_NODE, "n2");
	cr_assert(st(&f)->synced[K8S_POD]);
	fx_free(&f);
}

/* ---- refusals ----------------------------------------------------------------------- */

Test(k8s_store, malformed_objects_counted_and_ignored)
{
	struct fx f = fx_new(NULL);
	json_t *objs[16];
	unsigned i, n = 0;

	add(&f, K8S_POD, pod("ns", "good", "10.0.0.1", "n1", NULL, NULL), 1000);
	objs[n++] = json_pack("{s:{s:s}}", "metadata", "namespace", "ns"); /* no name */
	objs[n++] = json_pack("{s:{s:i, s:s}}", "metadata", "name", 5, "namespace", "ns");
	objs[n++] = json_pack("{s:{s:s}}", "metadata", "name", "no-namespace");
	objs[n++] = json_pack("[]");
	objs[n++] = json_pack("{s:s}", "metadata", "x");
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* labels not a map */
	json_object_set_new(json_object_get(objs[n++], "metadata"), "labels", json_string("x"));
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* bad pod IP */
	json_object_set_new(json_object_get(objs[n], "status"), "podIPs",
			    json_pack("[{s:s}]", "ip", "10.0.0.999"));
	n++;
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* three pod IPs */
	json_object_set_new(json_object_get(objs[n++], "status"), "podIPs",
			    json_pack("[{s:s}, {s:s}, {s:s}]", "ip", "10.0.0.1", "ip", "fd00::1",
				      "ip", "10.0.0.7"));
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* owner without kind */
	json_object_set_new(json_object_get(objs[n++], "metadata"), "ownerReferences",
			    json_pack("[{s:s}]", "name", "x"));
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* spec a string */
	json_object_set_new(objs[n++], "spec", json_string("x"));
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* hostNetwork a string */
	json_object_set_new(json_object_get(objs[n++], "spec"), "hostNetwork", json_string("yes"));
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* NUL inside a string */
	json_object_set_new(json_object_get(objs[n++], "spec"), "nodeName",
			    json_stringn("n\0x", 3));
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* a 1025-byte node name */
	{
		char longname[1026];

		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		json_object_set_new(json_object_get(objs[n++], "spec"), "nodeName",
				    json_string(longname));
	}
	objs[n] = pod("ns", "good", "10.0.0.1", "n1", NULL, NULL); /* 1025 labels */
	for (i = 0; i < 1025; i++) {
		char k[16];

		snprintf(k, sizeof(k), "l%u", i);
		set_label(objs[n], k, "v");
	}
	n++;
	for (i = 0; i < n; i++) {
		cr_assert_eq(k8s_store_apply(f.s, K8S_POD, K8S_EVENT_MODIFIED, objs[i], 0, 2000),
			     -EINVAL, "object %u", i);
		json_decref(objs[i]);
	}
	cr_assert_eq(st(&f)->rejected, n);
	/* Wrong types in other kinds. */
	objs[0] = node("n1", "10.1.0.1", NULL);
	json_object_set_new(json_object_get(objs[0], "status"), "addresses", json_string("x"));
	objs[1] = service("ns", "s", "10.96.0.1");
	json_object_set_new(json_object_get(objs[1], "spec"), "clusterIPs", json_pack("[i]", 1));
	objs[2] = slice("ns", "sl", "s", NULL);
	json_array_append_new(json_object_get(objs[2], "endpoints"),
			      json_pack("{s:[i]}", "addresses", 1));
	objs[3] = owned("ns", "rs", NULL, NULL);
	json_object_set_new(json_object_get(objs[3], "metadata"), "ownerReferences",
			    json_string("x"));
	cr_assert_eq(k8s_store_apply(f.s, K8S_NODE, K8S_EVENT_ADDED, objs[0], 0, 1), -EINVAL);
	cr_assert_eq(k8s_store_apply(f.s, K8S_SERVICE, K8S_EVENT_ADDED, objs[1], 0, 1), -EINVAL);
	cr_assert_eq(k8s_store_apply(f.s, K8S_ENDPOINTSLICE, K8S_EVENT_ADDED, objs[2], 0, 1),
		     -EINVAL);
	cr_assert_eq(k8s_store_apply(f.s, K8S_REPLICASET, K8S_EVENT_ADDED, objs[3], 0, 1), -EINVAL);
	for (i = 0; i < 4; i++)
		json_decref(objs[i]);
	cr_assert_eq(st(&f)->rejected, n + 4);
	cr_assert_eq(k8s_store_apply(f.s, K8S_POD, K8S_EVENT_DELETED, NULL, 0, 1), -EINVAL);
	cr_assert_eq(k8s_store_apply(f.s, K8S_KIND_COUNT, K8S_EVENT_ADDED, NULL, 0, 1), -EINVAL);

	/* The last good view stays; unknown fields are fine. */
	publish(&f, 2000);
	expect(&f, "10.0.0.1", 2000, ENRICH_POD, "good");
	expect(&f, "10.0.0.1", 2000, ENRICH_NODE, "n1");
	cr_assert_eq(st(&f)->objects[K8S_POD], 1);
	cr_assert_eq(st(&f)->objects[K8S_NODE], 0);
	fx_free(&f);
}

Test(k8s_store, oversized_and_over_limit)
{
	struct k8s_store_config c = base_cfg();
	struct fx f;
	json_t *p;

	c.max_objects = 2;
	c.max_object_bytes = 4096;
	f = fx_new(&c);
	add(&f, K8S_POD, pod("ns", "a", "10.0.0.1", "n1", NULL, NULL), 1000);
	p = pod("ns", "a", "10.0.0.5", "n1", NULL, NULL);
	cr_assert_eq(k8s_store_apply(f.s, K8S_POD, K8S_EVENT_MODIFIED, p, 4097, 1000), -EMSGSIZE);
	cr_assert_eq(k8s_store_apply(f.s, K8S_POD, K8S_EVENT_MODIFIED, p, 4096, 1000), 0);
	json_decref(p);
	add(&f, K8S_POD, pod("ns", "b", "10.0.0.2", "n1", NULL, NULL), 1000);
	p = pod("ns", "c", "10.0.0.3", "n1", NULL, NULL);
	cr_assert_eq(k8s_store_apply(f.s, K8S_POD, K8S_EVENT_ADDED, p, 0, 1000), -ENOSPC);
	json_decref(p);
	/* Other kinds have their own limit; updates of held objects are not "more". */
	add(&f, K8S_NODE, node("n1", "10.9.0.1", NULL), 1000);
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, pod("ns", "b", "10.0.0.4", "n1", NULL, NULL),
		 1000);
	publish(&f, 1000);
	cr_assert_eq(st(&f)->oversized, 1);
	cr_assert_eq(st(&f)->over_limit, 1);
	cr_assert_eq(st(&f)->objects[K8S_POD], 2);
	expect(&f, "10.0.0.5", 1000, ENRICH_POD, "a");
	expect(&f, "10.0.0.4", 1000, ENRICH_POD, "b");
	expect_miss(&f, "10.0.0.3", 1000);
	fx_free(&f);
}

Test(k8s_store, label_allow_list)
{
	struct k8s_store_config c = base_cfg();
	struct fx f, g;
	json_t *p;

	f = fx_new(NULL);
	p = pod("ns", "a", "10.0.0.1", "n1", NULL, NULL);
	set_label(p, "app", "cart");
	set_label(p, "tier", "web \"x\"");
	set_label(p, "pod-template-hash", "7d9f");
	add(&f, K8S_POD, p, 1000);
	p = pod("ns", "b", "10.0.0.2", "n1", NULL, NULL);
	set_label(p, "other", "x");
	add(&f, K8S_POD, p, 1000);
	publish(&f, 1000);
	expect(&f, "10.0.0.1", 1000, ENRICH_POD_LABELS,
	       "{\"app\":\"cart\",\"tier\":\"web \\\"x\\\"\"}");
	expect(&f, "10.0.0.2", 1000, ENRICH_POD_LABELS, NULL);
	fx_free(&f);

	c.n_label_keys = 0;
	c.cluster_name = NULL;
	g = fx_new(&c);
	p = pod("ns", "a", "10.0.0.1", "n1", NULL, NULL);
	set_label(p, "app", "cart");
	add(&g, K8S_POD, p, 1000);
	publish(&g, 1000);
	expect(&g, "10.0.0.1", 1000, ENRICH_POD_LABELS, NULL);
	expect(&g, "10.0.0.1", 1000, ENRICH_CLUSTER, NULL);
	fx_free(&g);
}

Test(k8s_store, namespaces_kept_without_republishing)
{
	struct fx f = fx_new(NULL);
	json_t *ns = json_pack("{s:o}", "metadata", meta(NULL, "shop", "u1"));

	set_label(ns, "team", "a");
	set_label(ns, "empty", "");
	add(&f, K8S_NAMESPACE, ns, 1000);
	cr_assert_eq(st(&f)->objects[K8S_NAMESPACE], 1);
	cr_assert_not(k8s_store_publish(f.s, 1000), "namespaces change no label");
	apply_ok(&f, K8S_NAMESPACE, K8S_EVENT_DELETED,
		 json_pack("{s:o}", "metadata", meta(NULL, "shop", "u1")), 1100);
	cr_assert_eq(st(&f)->objects[K8S_NAMESPACE], 0);
	fx_free(&f);
}

/* ---- real API server output (/work/shared/fixtures/k8s) ---------------------------- */

static const char *fixture_dir(void)
{
	const char *d = getenv("LF_K8S_FIXTURES");

	return d && *d ? d : LF_TOP_SRCDIR "/../shared/fixtures/k8s";
}

/* Skip the test when the fixture tree is absent; call before allocating anything. */
static void need_fixtures(void)
{
	char path[1024];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/README.md", fixture_dir());
	if (stat(path, &sb) != 0)
		cr_skip_test("fixtures not found at %s (set LF_K8S_FIXTURES)", fixture_dir());
}

static json_t *load_fixture(const char *rel)
{
	char path[1024];
	json_error_t err;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", fixture_dir(), rel);
	j = json_load_file(path, 0, &err);
	cr_assert_not_null(j, "%s: %s", path, err.text);
	return j;
}

/* Feed a LIST response (a *List object) as one full list; returns the item count. */
static size_t load_list(struct fx *f, enum k8s_kind kind, const char *rel, uint64_t now_ms)
{
	json_t *list = load_fixture(rel), *items = json_object_get(list, "items"), *it;
	size_t i;

	cr_assert(json_is_array(items), "%s: no items", rel);
	k8s_store_list_begin(f->s, kind);
	json_array_foreach(items, i, it) cr_assert_eq(
		k8s_store_list_item(f->s, kind, it, 0, now_ms), 0, "%s item %zu", rel, i);
	k8s_store_list_end(f->s, kind, now_ms);
	i = json_array_size(items);
	json_decref(list);
	return i;
}

/* A copy of the named item of a LIST fixture. */
static json_t *fixture_item(const char *rel, const char *name)
{
	json_t *list = load_fixture(rel), *it, *copy = NULL;
	size_t i;

	json_array_foreach(json_object_get(list, "items"), i, it)
	{
		const char *n =
			json_string_value(json_object_get(json_object_get(it, "metadata"), "name"));

		if (n && strcmp(n, name) == 0)
			copy = json_deep_copy(it);
	}
	json_decref(list);
	cr_assert_not_null(copy, "%s: no item '%s'", rel, name);
	return copy;
}

Test(k8s_store_fixtures, kubeadm_kube_system)
{
	struct fx f;
	json_t *p;

	need_fixtures();
	f = fx_new(NULL);
	cr_assert_eq(load_list(&f, K8S_POD, "kubeadm-v1.28-kube-system/podlist.json", 1000), 7);
	cr_assert_eq(load_list(&f, K8S_REPLICASET, "kubeadm-v1.28-kube-system/replicasetlist.json",
			       1000),
		     1);
	cr_assert_eq(load_list(&f, K8S_NODE, "kubeadm-v1.28-kube-system/nodelist.json", 1000), 1);
	cr_assert_eq(load_list(&f, K8S_SERVICE, "kubeadm-v1.28-kube-system/servicelist.json", 1000),
		     1);
	publish(&f, 1000);
	cr_assert_eq(st(&f)->rejected, 0);
	cr_assert_eq(st(&f)->objects[K8S_POD], 7);
	/* 5 host-network pods share the node's address, 2 coredns pods have no IP yet. */
	cr_assert_eq(st(&f)->pods_indexed, 0);
	{
		struct got g = look(&f, "192.168.1.105", 1000);

		cr_assert(g.hit);
		expect_dim(&g, "192.168.1.105", ENRICH_KIND, "node");
		expect_dim(&g, "192.168.1.105", ENRICH_NODE, "k8s-controller-01");
		expect_dim(&g, "192.168.1.105", ENRICH_POD, NULL);
		expect_dim(&g, "192.168.1.105", ENRICH_ZONE, NULL); /* bare metal */
		expect_dim(&g, "192.168.1.105", ENRICH_INSTANCE_ID, NULL);
		got_free(&g);
	}
	expect(&f, "10.96.0.10", 1000, ENRICH_KIND, "service");
	expect(&f, "10.96.0.10", 1000, ENRICH_SERVICE, "kube-dns");
	expect(&f, "10.96.0.10", 1000, ENRICH_NAMESPACE, "kube-system");

	/* The scheduler gives coredns-…-2zrhr an address: RS -> Deployment coredns. */
	p = fixture_item("kubeadm-v1.28-kube-system/podlist.json", "coredns-5dd5756b68-2zrhr");
	json_object_set_new(json_object_get(p, "spec"), "nodeName",
			    json_string("k8s-controller-01"));
	json_object_set_new(json_object_get(p, "status"), "phase", json_string("Running"));
	json_object_set_new(json_object_get(p, "status"), "podIP", json_string("10.244.0.2"));
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, p, 2000);
	/* kube-proxy (DaemonSet) and etcd (static, owned by the Node) off the host network. */
	p = fixture_item("kubeadm-v1.28-kube-system/podlist.json", "kube-proxy-p4jmn");
	json_object_set_new(json_object_get(p, "spec"), "hostNetwork", json_false());
	json_object_set_new(json_object_get(p, "status"), "podIP", json_string("10.244.0.3"));
	json_object_del(json_object_get(p, "status"), "podIPs");
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, p, 2000);
	p = fixture_item("kubeadm-v1.28-kube-system/podlist.json", "etcd-k8s-controller-01");
	json_object_del(json_object_get(p, "spec"), "hostNetwork");
	json_object_set_new(json_object_get(p, "status"), "podIPs",
			    json_pack("[{s:s}]", "ip", "10.244.0.4"));
	apply_ok(&f, K8S_POD, K8S_EVENT_MODIFIED, p, 2000);
	publish(&f, 2000);
	expect_workload(&f, "10.244.0.2", "Deployment", "coredns", "coredns-5dd5756b68");
	expect(&f, "10.244.0.2", 2000, ENRICH_NODE, "k8s-controller-01");
	expect(&f, "10.244.0.2", 2000, ENRICH_POD_UID, "2c176363-9a3a-40d0-ab36-27f04a14dceb");
	expect(&f, "10.244.0.2", 2000, ENRICH_POD_LABELS, NULL); /* no k8s-app in allow-list */
	expect_workload(&f, "10.244.0.3", "DaemonSet", "kube-proxy", NULL);
	expect_workload(&f, "10.244.0.4", "Node", "k8s-controller-01", NULL);
	cr_assert_eq(st(&f)->pods_indexed, 3);
	fx_free(&f);
}

Test(k8s_store_fixtures, kind_endpointslices_and_namespaces)
{
	struct k8s_store_config c = base_cfg();
	struct fx f;

	need_fixtures();
	c.label_keys[0] = "k8s-app";
	c.n_label_keys = 1;
	f = fx_new(&c);
	cr_assert_eq(load_list(&f, K8S_POD, "kind-2020-victoriametrics/podlist.json", 1000), 1);
	cr_assert_eq(load_list(&f, K8S_NODE, "kind-2020-victoriametrics/nodelist.json", 1000), 1);
	cr_assert_eq(load_list(&f, K8S_SERVICE, "kind-2020-victoriametrics/servicelist.json", 1000),
		     1);
	cr_assert_eq(load_list(&f, K8S_ENDPOINTSLICE,
			       "kind-2020-victoriametrics/endpointslicelist.json", 1000),
		     2);
	cr_assert_eq(
		load_list(&f, K8S_NAMESPACE, "kind-2020-victoriametrics/namespacelist.json", 1000),
		2);
	/* The slice's target pod, which the fixture's pod list does not hold. */
	{
		json_t *p = pod("kube-system", "coredns-66bff467f8-z8czk", "10.244.0.3",
				"kind-control-plane", "ReplicaSet", "coredns-66bff467f8");

		set_label(p, "k8s-app", "kube-dns");
		add(&f, K8S_POD, p, 1000);
	}
	publish(&f, 1000);
	cr_assert_eq(st(&f)->rejected, 0);
	cr_assert_eq(st(&f)->objects[K8S_NAMESPACE], 2);
	expect(&f, "10.244.0.3", 1000, ENRICH_SERVICE, "kube-dns");
	expect(&f, "10.244.0.3", 1000, ENRICH_POD, "coredns-66bff467f8-z8czk");
	expect(&f, "10.244.0.3", 1000, ENRICH_POD_LABELS, "{\"k8s-app\":\"kube-dns\"}");
	expect(&f, "10.96.0.10", 1000, ENRICH_SERVICE, "kube-dns");
	/* The node m01 (placeholder providerID aws:///foo-bar/baz); etcd is host-network. */
	expect(&f, "172.17.0.2", 1000, ENRICH_KIND, "node");
	expect(&f, "172.17.0.2", 1000, ENRICH_NODE, "m01");
	expect(&f, "172.17.0.2", 1000, ENRICH_INSTANCE_ID, "baz");
	/* The apiserver endpoint of "kubernetes" has no Pod behind it and labels nothing. */
	expect_miss(&f, "172.18.0.2", 1000);
	fx_free(&f);
}

Test(k8s_store_fixtures, aws_kops_nodes_legacy_labels)
{
	struct fx f;
	json_t *ev;

	need_fixtures();
	f = fx_new(NULL);
	cr_assert_eq(load_list(&f, K8S_NODE, "aws-kops-2017/nodelist.json", 1000), 2);
	ev = load_fixture("aws-kops-2017/node-watch-event-modified.json");
	cr_assert_str_eq(json_string_value(json_object_get(ev, "type")), "MODIFIED");
	cr_assert_eq(k8s_store_apply(f.s, K8S_NODE, K8S_EVENT_MODIFIED,
				     json_object_get(ev, "object"), 0, 1100),
		     0);
	json_decref(ev);
	publish(&f, 1100);
	cr_assert_eq(st(&f)->objects[K8S_NODE], 3);
	cr_assert_eq(st(&f)->bad_addresses, 0);
	expect(&f, "172.20.116.86", 0, ENRICH_NODE, "ip-172-20-116-86.eu-west-1.compute.internal");
	expect(&f, "172.20.116.86", 0, ENRICH_ZONE, "eu-west-1c");
	expect(&f, "172.20.116.86", 0, ENRICH_REGION, "eu-west-1");
	expect(&f, "172.20.116.86", 0, ENRICH_INSTANCE_ID, "i-09af54f292341f816");
	expect(&f, "54.229.183.136", 0, ENRICH_INSTANCE_ID, "i-09af54f292341f816"); /* ExternalIP */
	expect(&f, "172.20.44.207", 0, ENRICH_ZONE, "eu-west-1a");
	expect(&f, "172.20.44.207", 0, ENRICH_INSTANCE_ID, "i-0f6e9934d66c97561");
	expect(&f, "34.240.9.80", 0, ENRICH_ZONE, "eu-west-1b");
	expect(&f, "34.240.9.80", 0, ENRICH_INSTANCE_ID, "i-043235df01b4f2705");
	fx_free(&f);
}

Test(k8s_store_fixtures, gcp_openshift_node_garbage_addresses)
{
	struct fx f;
	json_t *n;

	need_fixtures();
	f = fx_new(NULL);
	n = load_fixture("gcp-openshift-2020/node-worker-b.json");
	cr_assert_eq(k8s_store_apply(f.s, K8S_NODE, K8S_EVENT_ADDED, n, 0, 1000), 0);
	json_decref(n);
	publish(&f, 1000);
	cr_assert_eq(st(&f)->objects[K8S_NODE], 1);
	cr_assert_eq(st(&f)->rejected, 0);
	cr_assert_eq(st(&f)->bad_addresses, 2, "'xx.x.xx.x' and '' are skipped, counted");
	/* Nothing to index, but its pods get its zone, region and name. */
	add(&f, K8S_POD,
	    pod("ns", "p", "10.128.2.5", "ci-ln-3z9y7mt-f76d1-69jcr-worker-b-q6vs9", NULL, NULL),
	    1000);
	publish(&f, 1000);
	expect(&f, "10.128.2.5", 1000, ENRICH_ZONE, "us-east1-b");
	expect(&f, "10.128.2.5", 1000, ENRICH_REGION, "us-east1");
	expect(&f, "10.128.2.5", 1000, ENRICH_NODE, "ci-ln-3z9y7mt-f76d1-69jcr-worker-b-q6vs9");
	fx_free(&f);
}

Test(k8s_store_fixtures, metallb_load_balancer_services)
{
	json_t *items, *it;
	struct fx f;
	size_t i;

	need_fixtures();
	f = fx_new(NULL);
	items = load_fixture("kind-metallb-2026-kubelb/services-items.json");
	cr_assert(json_is_array(items));
	k8s_store_list_begin(f.s, K8S_SERVICE);
	json_array_foreach(items, i, it)
		cr_assert_eq(k8s_store_list_item(f.s, K8S_SERVICE, it, 0, 1000), 0);
	k8s_store_list_end(f.s, K8S_SERVICE, 1000);
	json_decref(items);
	publish(&f, 1000);
	cr_assert_eq(st(&f)->objects[K8S_SERVICE], 30);
	cr_assert_eq(st(&f)->bad_addresses, 0);
	expect(&f, "172.18.255.205", 0, ENRICH_SERVICE,
	       "envoy-tenant-primary-default-grpc-gw-dd1e96ff");
	expect(&f, "172.18.255.205", 0, ENRICH_NAMESPACE, "kubelb");
	expect(&f, "10.96.234.211", 0, ENRICH_SERVICE,
	       "envoy-tenant-primary-default-grpc-gw-dd1e96ff");
	expect(&f, "172.18.255.200", 0, ENRICH_SERVICE, "kubelb-ingress-nginx-controller");
	expect(&f, "10.96.120.36", 0, ENRICH_SERVICE, "default-staging-app-staging-web");
	fx_free(&f);
}

Test(k8s_store_fixtures, kind_pod_watch_delete_sequence)
{
	static const char *const want_types[] = {"ADDED",    "ADDED",	 "MODIFIED",
						 "MODIFIED", "MODIFIED", "DELETED"};
	char path[1024], line[65536];
	unsigned n = 0;
	struct fx f;
	FILE *fp;

	need_fixtures();
	f = fx_new(NULL);
	snprintf(path, sizeof(path), "%s/watch/pods-watch-kind-2023.jsonl", fixture_dir());
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s", path);
	/* One event per line, applied in order, 1 s apart; publish after each, as the client. */
	while (fgets(line, sizeof(line), fp)) {
		json_error_t err;
		json_t *ev = json_loads(line, 0, &err);
		const char *type;
		enum k8s_event e;

		cr_assert_not_null(ev, "line %u: %s", n + 1, err.text);
		type = json_string_value(json_object_get(ev, "type"));
		cr_assert(n < 6 && strcmp(type, want_types[n]) == 0);
		e = type[0] == 'A'   ? K8S_EVENT_ADDED
		    : type[0] == 'M' ? K8S_EVENT_MODIFIED
				     : K8S_EVENT_DELETED;
		cr_assert_eq(k8s_store_apply(f.s, K8S_POD, e, json_object_get(ev, "object"),
					     strlen(line), 1000 * (n + 1)),
			     0, "line %u", n + 1);
		json_decref(ev);
		k8s_store_publish(f.s, 1000 * (n + 1));
		n++;
		if (n == 5) { /* terminating (deletionTimestamp), still labelled */
			expect(&f, "10.244.0.8", 4500, ENRICH_POD, "network-tool");
			cr_assert_eq(st(&f)->objects[K8S_POD], 2);
		}
	}
	fclose(fp);
	cr_assert_eq(n, 6);
	cr_assert_eq(st(&f)->objects[K8S_POD], 1);
	cr_assert_eq(st(&f)->tombstones, 1);
	cr_assert_eq(st(&f)->events[K8S_POD], 6);
	expect(&f, "10.244.0.6", 6000, ENRICH_POD, "network-tool1");
	expect(&f, "10.244.0.6", 6000, ENRICH_NAMESPACE, "default");
	expect(&f, "10.244.0.6", 6000, ENRICH_NODE, "aeraki-control-plane");
	expect(&f, "10.244.0.6", 6000, ENRICH_WORKLOAD_KIND, "Pod");
	/* The deleted pod: a flow that started while it lived keeps its labels. */
	expect(&f, "10.244.0.8", 3000, ENRICH_POD, "network-tool");
	expect(&f, "10.244.0.8", 3000, ENRICH_POD_UID, "548a29a9-9359-4858-8a18-48633d29d394");
	cr_assert_eq(st(&f)->pods_indexed, 1);
	/* Until the grace period ends (deleted at 6000). */
	publish(&f, 66000);
	expect_miss(&f, "10.244.0.8", 3000);
	fx_free(&f);
}
