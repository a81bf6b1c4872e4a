// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_store_bench: feeds k8s_store a generated cluster the size of a large one (default 100k
 * pods in 5000 Deployments with their ReplicaSets, Services and EndpointSlices, 100 nodes)
 * as full LISTs, then measures apply and publish time, resident memory per pod, a steady
 * rebuild, a 10% pod churn (tombstones) and enrich_lookup rate on the published snapshot.
 * Times are CPU seconds of the one thread.   k8s_store_bench [pods] [lookups]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "enrich.h"
#include "k8s_store.h"
#include "log.h"

#define PODS_PER_DEPLOY 20
#define NODES		100
#define NAMESPACES	200

/* CPU time of this thread: steadier than wall time on a shared machine. */
static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Resident set size in bytes (VmRSS), 0 if unknown. */
static uint64_t rss_bytes(void)
{
	char line[256];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %" SCNu64 " kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024;
}

static void pod_ip(unsigned i, char *buf, size_t n)
{
	snprintf(buf, n, "10.%u.%u.%u", 64 + i / 65536, (i / 256) % 256, i % 256);
}

static void pod_name(unsigned i, char *buf, size_t n)
{
	snprintf(buf, n, "deploy-%05u-7d9f8b6c5-%05x", i / PODS_PER_DEPLOY,
		 (i * 2654435761u) >> 12);
}

static json_t *make_pod(unsigned i, const char *ip)
{
	unsigned d = i / PODS_PER_DEPLOY;
	char name[64], ns[32], uid[40], rs[48], app[32], node[32];

	pod_name(i, name, sizeof(name));
	snprintf(ns, sizeof(ns), "team-%03u", d % NAMESPACES);
	snprintf(uid, sizeof(uid), "%08x-4a47-4d7f-818d-%012x", i, i * 7919u);
	snprintf(rs, sizeof(rs), "deploy-%05u-7d9f8b6c5", d);
	snprintf(app, sizeof(app), "deploy-%05u", d);
	snprintf(node, sizeof(node), "node-%03u", i % NODES);
	return json_pack("{s:{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:[{s:s, s:s, s:s, s:s, "
			 "s:b}]}, s:{s:s, s:[{s:s, s:s}]}, s:{s:s, s:s, s:[{s:s}], s:s}}",
			 "metadata", "name", name, "namespace", ns, "uid", uid, "labels", "app",
			 app, "tier", d % 3 ? "web" : "db", "pod-template-hash", "7d9f8b6c5",
			 "version", "v1", "ownerReferences", "apiVersion", "apps/v1", "kind",
			 "ReplicaSet", "name", rs, "uid", "rs-uid", "controller", 1, "spec",
			 "nodeName", node, "containers", "name", "app", "image", "registry/app:v1",
			 "status", "phase", "Running", "podIP", ip, "podIPs", "ip", ip, "hostIP",
			 "192.168.0.1");
}

static void list(struct k8s_store *s, enum k8s_kind kind, unsigned n,
		 json_t *(*make)(unsigned, unsigned), unsigned arg, uint64_t now_ms)
{
	unsigned i;

	k8s_store_list_begin(s, kind);
	for (i = 0; i < n; i++) {
		json_t *o = make(i, arg);

		if (k8s_store_list_item(s, kind, o, 0, now_ms) < 0) {
			fprintf(stderr, "%s item %u refused\n", k8s_kind_name(kind), i);
			exit(1);
		}
		json_decref(o);
	}
	k8s_store_list_end(s, kind, now_ms);
}

static json_t *make_pod_item(unsigned i, unsigned arg)
{
	char ip[32];

	(void)arg;
	pod_ip(i, ip, sizeof(ip));
	return make_pod(i, ip);
}

static json_t *make_rs(unsigned d, unsigned arg)
{
	char ns[32], rs[48], dep[32];

	(void)arg;
	snprintf(ns, sizeof(ns), "team-%03u", d % NAMESPACES);
	snprintf(rs, sizeof(rs), "deploy-%05u-7d9f8b6c5", d);
	snprintf(dep, sizeof(dep), "deploy-%05u", d);
	return json_pack("{s:{s:s, s:s, s:[{s:s, s:s, s:b}]}}", "metadata", "name", rs, "namespace",
			 ns, "ownerReferences", "kind", "Deployment", "name", dep, "controller", 1);
}

static json_t *make_service(unsigned d, unsigned arg)
{
	char ns[32], name[32], ip[32];

	(void)arg;
	snprintf(ns, sizeof(ns), "team-%03u", d % NAMESPACES);
	snprintf(name, sizeof(name), "deploy-%05u", d);
	snprintf(ip, sizeof(ip), "10.96.%u.%u", d / 256, d % 256);
	return json_pack("{s:{s:s, s:s}, s:{s:s, s:[s]}}", "metadata", "name", name, "namespace",
			 ns, "spec", "clusterIP", ip, "clusterIPs", ip);
}

static json_t *make_slice(unsigned d, unsigned arg)
{
	char ns[32], name[48], svc[32];
	json_t *sl, *eps;
	unsigned i;

	(void)arg;
	snprintf(ns, sizeof(ns), "team-%03u", d % NAMESPACES);
	snprintf(svc, sizeof(svc), "deploy-%05u", d);
	snprintf(name, sizeof(name), "deploy-%05u-abcde", d);
	sl = json_pack("{s:{s:s, s:s, s:{s:s}}, s:s, s:[]}", "metadata", "name", name, "namespace",
		       ns, "labels", "kubernetes.io/service-name", svc, "addressType", "IPv4",
		       "endpoints");
	eps = json_object_get(sl, "endpoints");
	for (i = d * PODS_PER_DEPLOY; i < (d + 1) * PODS_PER_DEPLOY; i++) {
		char ip[32], pod[64];

		pod_ip(i, ip, sizeof(ip));
		pod_name(i, pod, sizeof(pod));
		json_array_append_new(eps,
				      json_pack("{s:[s], s:{s:b}, s:{s:s, s:s, s:s}}", "addresses",
						ip, "conditions", "ready", 1, "targetRef", "kind",
						"Pod", "namespace", ns, "name", pod));
	}
	return sl;
}

static json_t *make_node(unsigned i, unsigned arg)
{
	char name[32], ip[32], pid[64], zone[32];

	(void)arg;
	snprintf(name, sizeof(name), "node-%03u", i);
	snprintf(ip, sizeof(ip), "192.168.%u.%u", i / 256, i % 256 + 1);
	snprintf(zone, sizeof(zone), "eu-west-1%c", 'a' + i % 3);
	snprintf(pid, sizeof(pid), "aws:///%s/i-%017x", zone, i);
	return json_pack("{s:{s:s, s:{s:s, s:s}}, s:{s:s}, s:{s:[{s:s, s:s}, {s:s, s:s}]}}",
			 "metadata", "name", name, "labels", "topology.kubernetes.io/zone", zone,
			 "topology.kubernetes.io/region", "eu-west-1", "spec", "providerID", pid,
			 "status", "addresses", "type", "InternalIP", "address", ip, "type",
			 "Hostname", "address", name);
}

int main(int argc, char **argv)
{
	unsigned pods = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
	uint64_t lookups = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000000, i, hits = 0;
	unsigned deploys = (pods + PODS_PER_DEPLOY - 1) / PODS_PER_DEPLOY;
	struct k8s_store_config cfg = {
		.cluster_name = "bench",
		.label_keys = {"app", "tier"},
		.n_label_keys = 2,
	};
	const struct k8s_store_stats *st;
	struct enrich_snapshot *snap;
	struct k8s_store *s;
	struct enrich *e;
	double t0, t_apply, t_pub, t_pub2, t_churn, t_look;
	uint64_t rss0, rss_store, rss_pub, now = 1700000000000ull, rnd = 88172645463325252ull;

	if (pods == 0 || pods > 4000000) {
		fprintf(stderr, "usage: %s [pods 1..4000000] [lookups]\n", argv[0]);
		return 2;
	}
	log_set_level(LOG_LVL_ERROR);
	e = enrich_new();
	s = k8s_store_new(&cfg, e);
	if (!e || !s)
		return 1;
	rss0 = rss_bytes();

	t0 = now_s();
	list(s, K8S_NODE, NODES, make_node, 0, now);
	list(s, K8S_REPLICASET, deploys, make_rs, 0, now);
	list(s, K8S_SERVICE, deploys, make_service, 0, now);
	list(s, K8S_ENDPOINTSLICE, deploys, make_slice, 0, now);
	list(s, K8S_POD, pods, make_pod_item, 0, now);
	t_apply = now_s() - t0;
	rss_store = rss_bytes();

	t0 = now_s();
	if (!k8s_store_publish(s, now))
		return 1;
	t_pub = now_s() - t0;
	rss_pub = rss_bytes();
	st = k8s_store_get_stats(s);
	if (st->pods_indexed != pods || st->rejected) {
		fprintf(stderr, "indexed %" PRIu64 " of %u pods, %" PRIu64 " rejected\n",
			st->pods_indexed, pods, st->rejected);
		return 1;
	}

	/* One pod changes, five times: the steady-state cost of a publish (the best run). */
	t_pub2 = 1e9;
	for (i = 0; i < 5; i++) {
		char ip[32];
		json_t *p;
		double t;

		pod_ip(0, ip, sizeof(ip));
		p = make_pod(0, ip);
		k8s_store_apply(s, K8S_POD, K8S_EVENT_MODIFIED, p, 0, now + 100);
		json_decref(p);
		t0 = now_s();
		k8s_store_publish(s, now + 100);
		t = now_s() - t0;
		t_pub2 = t < t_pub2 ? t : t_pub2;
	}

	/* Lookups: pod addresses at random, flow start = now; every 8th one misses. */
	snap = enrich_snapshot_acquire(e);
	t0 = now_s();
	for (i = 0; i < lookups; i++) {
		struct enrich_labels l;
		struct enrich_addr a = {.family = 4};
		unsigned k;

		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		k = (unsigned)(rnd % pods);
		a.addr[0] = 10;
		a.addr[1] = (uint8_t)((i & 7) ? 64 + k / 65536 : 200);
		a.addr[2] = (uint8_t)(k / 256);
		a.addr[3] = (uint8_t)k;
		hits += enrich_lookup(snap, &a, now + 50, &l);
	}
	t_look = now_s() - t0;
	enrich_snapshot_release(snap);

	/* Churn: 10% of the pods deleted and replaced on the same addresses. */
	t0 = now_s();
	for (i = 0; i < pods / 10; i++) {
		char ip[32];
		json_t *p;

		pod_ip((unsigned)i * 10, ip, sizeof(ip));
		p = make_pod((unsigned)i * 10, ip);
		k8s_store_apply(s, K8S_POD, K8S_EVENT_DELETED, p, 0, now + 1000);
		json_object_set_new(json_object_get(p, "metadata"), "uid", json_string("new-uid"));
		k8s_store_apply(s, K8S_POD, K8S_EVENT_ADDED, p, 0, now + 2000);
		json_decref(p);
	}
	k8s_store_publish(s, now + 2000);
	t_churn = now_s() - t0;

	printf("k8s_store bench: %u pods, %u deployments (RS + service + endpointslice each), %u "
	       "nodes\n",
	       pods, deploys, NODES);
	printf("  apply (full LISTs, JSON built per item)  %8.3f s  (%.2f us/pod)\n", t_apply,
	       t_apply * 1e6 / pods);
	printf("  first publish (build the table)          %8.3f s\n", t_pub);
	printf("  publish after one change (full rebuild)  %8.3f s\n", t_pub2);
	printf("  10%% churn + publish with %" PRIu64 " tombstones %6.3f s\n",
	       k8s_store_get_stats(s)->tombstones, t_churn);
	printf("  RSS: store %.0f B/pod, store + published table %.0f B/pod\n",
	       (double)(rss_store - rss0) / pods, (double)(rss_pub - rss0) / pods);
	printf("  lookups: %.2f M/s (%" PRIu64 " lookups, %.1f%% hits)\n",
	       (double)lookups / t_look / 1e6, lookups, 100.0 * (double)hits / (double)lookups);
	k8s_store_free(s);
	enrich_free(e);
	return 0;
}
