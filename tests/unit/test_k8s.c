// SPDX-License-Identifier: Apache-2.0
/*
 * k8s: the Kubernetes client thread, through its header alone, against the fake API server
 * (tests/fakes/fake_apiserver.py, a child process on a free loopback port with its own CA
 * and token) serving objects the test builds with tests/fakes/k8s_objects.py: first sync and
 * the published table checked address by address against those objects, a WATCH event, a
 * refused server retried with backoff, 401s, and stopping with watches open. Skipped when
 * python3, openssl or the fakes are missing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "enrich.h"
#include "k8s.h"
#include "testpki.h"

#ifndef LF_TOP_SRCDIR
#define LF_TOP_SRCDIR "."
#endif
#define FAKE	LF_TOP_SRCDIR "/tests/fakes/fake_apiserver.py"
#define OBJECTS LF_TOP_SRCDIR "/tests/fakes/k8s_objects.py"

static char dir[64];  /* the test's work directory (the fake's files in dir/api) */
static GPid fake_pid; /* the fake API server; 0 when not running */
static int api_port, ctl_port;
static char kubeconfig[512]; /* the fake's, with its token */
static struct enrich *e;
static struct k8s *k;

static uint64_t mono_ms(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

static uint64_t wall_ms(void)
{
	return (uint64_t)(g_get_real_time() / 1000);
}

__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

static void need_fakes(void)
{
	g_autofree char *py = g_find_program_in_path("python3");
	g_autofree char *ossl = g_find_program_in_path("openssl");

	if (!py)
		cr_skip_test("python3 is not installed");
	if (!ossl)
		cr_skip_test("the openssl command is not installed");
	if (access(FAKE, R_OK) < 0 || access(OBJECTS, R_OK) < 0)
		cr_skip_test("%s or %s not found", FAKE, OBJECTS);
}

static void setup(void)
{
	/* Everything goes to loopback: no proxy from the environment. */
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	snprintf(dir, sizeof(dir), "/tmp/lf-k8s-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	fake_pid = 0;
	e = enrich_new();
	cr_assert_not_null(e);
	k = NULL;
}

static void fake_stop(void)
{
	if (!fake_pid)
		return;
	kill(fake_pid, SIGKILL);
	waitpid(fake_pid, NULL, 0);
	g_spawn_close_pid(fake_pid);
	fake_pid = 0;
}

static void teardown(void)
{
	k8s_free(k);
	k = NULL;
	fake_stop();
	enrich_free(e);
	if (dir[0])
		sh("rm -rf '%s'", dir);
	dir[0] = '\0';
}

TestSuite(k8s, .init = setup, .fini = teardown, .timeout = 90);

/* ---- the fake API server ------------------------------------------------------------- */

/*
 * Write dir/state.json from object lines: each entry is the arguments of one
 * k8s_objects.py call (shell words), e.g. "pod shop web-0 10.77.0.1 --node node-1".
 */
static void build_state(const char *const *objs, size_t n)
{
	GString *cmd = g_string_new("{ ");

	for (size_t i = 0; i < n; i++)
		g_string_append_printf(cmd, "python3 '%s' %s && ", OBJECTS, objs[i]);
	g_string_append_printf(cmd, "true; } | python3 '%s' state >'%s/state.json'", OBJECTS, dir);
	sh("%s", cmd->str);
	g_string_free(cmd, TRUE);
}

/* Start the fake on a free port with dir/state.json; wait for its READY line. */
static void fake_start(void)
{
	g_autofree char *cmd = g_strdup_printf(
		"exec python3 '%s' --dir '%s/api' --state '%s/state.json' --seed 1 2>'%s/fake.log'",
		FAKE, dir, dir, dir);
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	char line[1024] = "", path[512] = "";
	GError *err = NULL;
	size_t n = 0;
	int out = -1;

	cr_assert(g_spawn_async_with_pipes(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
					   &fake_pid, NULL, &out, NULL, &err),
		  "spawn %s: %s", FAKE, err ? err->message : "?");
	while (n + 1 < sizeof(line) && !strchr(line, '\n')) {
		struct pollfd p = {.fd = out, .events = POLLIN};
		ssize_t got;

		cr_assert_gt(poll(&p, 1, 30000), 0, "the fake API server did not start");
		got = read(out, line + n, sizeof(line) - 1 - n);
		cr_assert_gt(got, 0, "the fake API server exited (see %s/fake.log)", dir);
		n += (size_t)got;
		line[n] = '\0';
	}
	close(out);
	cr_assert_eq(sscanf(line, "READY port=%d control=%d kubeconfig=%511s", &api_port, &ctl_port,
			    path),
		     3, "bad READY line '%s'", line);
	snprintf(kubeconfig, sizeof(kubeconfig), "%s", path);
}

static size_t sink(char *p, size_t s, size_t n, void *user)
{
	g_string_append_len(user, p, (gssize)(s * n));
	return s * n;
}

/* A request to the fake's control port; returns the parsed JSON answer (owned). */
static json_t *control(const char *path, const char *post)
{
	g_autofree char *url = g_strdup_printf("http://127.0.0.1:%d%s", ctl_port, path);
	GString *body = g_string_new(NULL);
	CURL *c = curl_easy_init();
	long status = 0;
	json_t *root;

	cr_assert_not_null(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	if (post)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "control %s", path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	cr_assert_eq(status, 200, "control %s: %ld %s", path, status, body->str);
	root = json_loads(body->str, 0, NULL);
	cr_assert_not_null(root, "control %s: not JSON: %s", path, body->str);
	g_string_free(body, TRUE);
	return root;
}

/* Watches the fake has open, all resources together. */
static json_int_t fake_watches_open(void)
{
	json_t *st = control("/stats", NULL), *v;
	json_int_t n = 0;
	const char *key;

	json_object_foreach(json_object_get(st, "watch_open"), key, v) n += json_integer_value(v);
	json_decref(st);
	return n;
}

/* A loopback port nobody listens on (bound once, then closed). */
static uint16_t closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

/* The control command (k8s_objects.py op OP) for one object; owned JSON text. */
static char *object_op(const char *args, const char *op)
{
	g_autofree char *cmd =
		g_strdup_printf("python3 '%s' %s | python3 '%s' op %s", OBJECTS, args, OBJECTS, op);
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	char *out = NULL;
	gint wait_status = 0;

	cr_assert(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, NULL,
			       &wait_status, NULL));
	cr_assert_eq(wait_status, 0, "k8s_objects.py %s", args);
	return out;
}

/* A kubeconfig for the fake's CA at server with a token or a token file. */
static void write_kubeconfig(const char *path, const char *server, const char *ca,
			     const char *user_line)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f,
		"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
		"    server: \"%s\"\n    certificate-authority: \"%s\"\nusers:\n- name: u\n"
		"  user:\n    %s\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
		"    user: u\ncurrent-context: x\n",
		server, ca, user_line);
	cr_assert_eq(fclose(f), 0);
}

/* ---- the client -------------------------------------------------------------------- */

static const char *const label_keys[] = {"app"};

static void client_start(const char *kc, uint32_t backoff_min_ms, uint32_t backoff_max_ms,
			 uint32_t token_reread_s)
{
	struct k8s_config cfg = {
		.kubeconfig = kc,
		.store = {.cluster_name = "test", .n_label_keys = 1},
		.backoff_min_ms = backoff_min_ms,
		.backoff_max_ms = backoff_max_ms,
		.token_reread_s = token_reread_s,
		.connect_timeout_ms = 2000,
	};

	cfg.store.label_keys[0] = label_keys[0];
	cr_assert(k8s_available(&cfg));
	k = k8s_new(&cfg, e);
	cr_assert_not_null(k, "k8s_new failed");
	cr_assert_eq(k8s_start(k), 0);
	cr_assert_eq(k8s_start(k), -EALREADY, "started twice");
}

static struct k8s_stats stats(void)
{
	struct k8s_stats st;

	k8s_get_stats(k, &st);
	return st;
}

/* Stop the client: at once, not at the thread's next wake-up (up to 1 s away). */
static void client_free_promptly(void)
{
	uint64_t t0 = mono_ms(), took;

	k8s_free(k);
	k = NULL;
	took = mono_ms() - t0;
	cr_assert_lt(took, 500, "k8s_free took %" PRIu64 " ms", took);
}

/*
 * The labels of ip now: want lists {dim, value} pairs, every other dimension must be
 * unset. With no pairs, ip must match nothing. Returns false (without failing) when
 * soft and they differ, for polling.
 */
static bool labels_are(bool soft, const char *ip, int n, ...)
{
	const char *want[ENRICH_DIM_COUNT] = {0};
	struct enrich_snapshot *s = enrich_snapshot_acquire(e);
	struct enrich_labels l;
	struct enrich_addr a;
	bool hit, same = true;
	va_list ap;

	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		enum enrich_dim d = (enum enrich_dim)va_arg(ap, int);

		want[d] = va_arg(ap, const char *);
	}
	va_end(ap);
	cr_assert_eq(enrich_addr_parse(ip, &a), 0);
	hit = enrich_lookup(s, &a, wall_ms(), &l);
	if (hit != (n > 0))
		same = false;
	for (int d = 0; same && hit && d < ENRICH_DIM_COUNT; d++)
		same = g_strcmp0(l.v[d], want[d]) == 0;
	if (!same && !soft) {
		if (hit != (n > 0))
			cr_assert_fail("%s: %s", ip, hit ? "labelled" : "not labelled");
		for (int d = 0; d < ENRICH_DIM_COUNT; d++)
			cr_expect_str_eq(l.v[d] ? l.v[d] : "(none)", want[d] ? want[d] : "(none)",
					 "%s: %s", ip, enrich_dim_name((enum enrich_dim)d));
	}
	enrich_snapshot_release(s);
	if (!soft)
		cr_assert(same, "%s: labels differ", ip);
	return same;
}

/* metadata.uid of a pod in dir/state.json (as k8s_objects.py built it). */
static char *state_uid(const char *pod)
{
	g_autofree char *path = g_strdup_printf("%s/state.json", dir);
	json_t *root = json_load_file(path, 0, NULL), *o;
	char *uid = NULL;
	size_t i;

	cr_assert_not_null(root);
	json_array_foreach(json_object_get(json_object_get(root, "objects"), "pods"), i, o)
	{
		const json_t *md = json_object_get(o, "metadata");

		if (g_strcmp0(json_string_value(json_object_get(md, "name")), pod) == 0)
			uid = g_strdup(json_string_value(json_object_get(md, "uid")));
	}
	json_decref(root);
	cr_assert_not_null(uid, "no pod %s in the state", pod);
	return uid;
}

/* Every kind of object the client watches, and the labels they make (docs/kubernetes.md). */
static const char *const cluster_objects[] = {
	"namespace shop",
	"node node-1 --ip 172.18.0.11 --zone zone-a --region region-1",
	"pod shop web-0 10.77.0.1 --node node-1 --owner StatefulSet/web --label app=web "
	"--label tier=front",
	"pod shop api-5d8f-abcde 10.77.0.2 --node node-1 --owner ReplicaSet/api-5d8f "
	"--label app=api",
	"replicaset shop api-5d8f --owner Deployment/api",
	"pod shop backup-28001-xyz 10.77.0.3 --node node-1 --owner Job/backup-28001",
	"job shop backup-28001 --owner CronJob/backup",
	"service shop web --cluster-ip 10.96.0.10 --selector app=web",
	"endpointslice shop web-x1 --service web --endpoint 10.77.0.1=web-0@node-1",
};

/* The labels of the pod added by the test after the sync (no owner: its own workload). */
static bool late_pod_labelled(bool soft, const char *uid)
{
	return labels_are(soft, "10.77.0.9", 10, ENRICH_CLUSTER, "test", ENRICH_NAMESPACE, "shop",
			  ENRICH_POD, "late-0", ENRICH_POD_UID, uid, ENRICH_NODE, "node-1",
			  ENRICH_WORKLOAD_KIND, "Pod", ENRICH_WORKLOAD, "late-0", ENRICH_ZONE,
			  "zone-a", ENRICH_REGION, "region-1", ENRICH_KIND, "pod");
}

Test(k8s, syncs_and_publishes_the_cluster)
{
	g_autofree char *uid_web = NULL, *uid_api = NULL, *uid_backup = NULL, *uid_late = NULL;
	g_autofree char *add = NULL;
	struct k8s_stats st;
	json_t *answer;
	uint64_t end;

	need_fakes();
	build_state(cluster_objects, G_N_ELEMENTS(cluster_objects));
	fake_start();
	uid_web = state_uid("web-0");
	uid_api = state_uid("api-5d8f-abcde");
	uid_backup = state_uid("backup-28001-xyz");
	client_start(kubeconfig, 0, 0, 0);
	cr_assert_eq(k8s_wait_synced(k, 30000), 0, "no first sync (see %s/fake.log)", dir);
	cr_assert(k8s_synced(k));

	st = stats();
	cr_assert(st.synced);
	cr_assert_gt(st.sync_ms, 0);
	cr_assert_eq(st.auth_failures, 0);
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		const struct k8s_resource_stats *r = &st.res[i];
		const char *name = k8s_kind_name((enum k8s_kind)i);

		cr_assert(r->synced, "%s", name);
		cr_assert_eq(r->lists, 1, "%s", name);
		cr_assert_geq(r->list_pages, 1, "%s", name);
		cr_assert_eq(r->relists, 0, "%s", name);
		cr_assert_eq(r->errors, 0, "%s", name);
		cr_assert_gt(r->bytes, 0, "%s", name);
		cr_assert(st.store.synced[i], "%s", name);
	}
	cr_assert_eq(st.store.objects[K8S_POD], 3);
	cr_assert_eq(st.store.objects[K8S_SERVICE], 1);
	cr_assert_eq(st.store.objects[K8S_ENDPOINTSLICE], 1);
	cr_assert_eq(st.store.objects[K8S_NODE], 1);
	cr_assert_eq(st.store.objects[K8S_NAMESPACE], 1);
	cr_assert_eq(st.store.objects[K8S_REPLICASET], 1);
	cr_assert_eq(st.store.objects[K8S_JOB], 1);
	cr_assert_eq(st.store.rejected, 0);
	cr_assert_eq(st.store.pods_indexed, 3);
	cr_assert_geq(st.store.publishes, 1);

	/* The published table, address by address. */
	labels_are(false, "10.77.0.1", 12, ENRICH_CLUSTER, "test", ENRICH_NAMESPACE, "shop",
		   ENRICH_POD, "web-0", ENRICH_POD_UID, uid_web, ENRICH_NODE, "node-1",
		   ENRICH_WORKLOAD_KIND, "StatefulSet", ENRICH_WORKLOAD, "web", ENRICH_SERVICE,
		   "web", ENRICH_POD_LABELS, "{\"app\":\"web\"}", ENRICH_ZONE, "zone-a",
		   ENRICH_REGION, "region-1", ENRICH_KIND, "pod");
	labels_are(false, "10.77.0.2", 12, ENRICH_CLUSTER, "test", ENRICH_NAMESPACE, "shop",
		   ENRICH_POD, "api-5d8f-abcde", ENRICH_POD_UID, uid_api, ENRICH_NODE, "node-1",
		   ENRICH_WORKLOAD_KIND, "Deployment", ENRICH_WORKLOAD, "api", ENRICH_REPLICASET,
		   "api-5d8f", ENRICH_POD_LABELS, "{\"app\":\"api\"}", ENRICH_ZONE, "zone-a",
		   ENRICH_REGION, "region-1", ENRICH_KIND, "pod");
	labels_are(false, "10.77.0.3", 10, ENRICH_CLUSTER, "test", ENRICH_NAMESPACE, "shop",
		   ENRICH_POD, "backup-28001-xyz", ENRICH_POD_UID, uid_backup, ENRICH_NODE,
		   "node-1", ENRICH_WORKLOAD_KIND, "CronJob", ENRICH_WORKLOAD, "backup",
		   ENRICH_ZONE, "zone-a", ENRICH_REGION, "region-1", ENRICH_KIND, "pod");
	labels_are(false, "10.96.0.10", 4, ENRICH_CLUSTER, "test", ENRICH_NAMESPACE, "shop",
		   ENRICH_SERVICE, "web", ENRICH_KIND, "service");
	labels_are(false, "172.18.0.11", 5, ENRICH_CLUSTER, "test", ENRICH_NODE, "node-1",
		   ENRICH_ZONE, "zone-a", ENRICH_REGION, "region-1", ENRICH_KIND, "node");
	labels_are(false, "10.77.0.99", 0);

	/* A pod added after the sync arrives through the WATCH. */
	add = object_op("pod shop late-0 10.77.0.9 --node node-1", "add");
	answer = json_loads(add, 0, NULL);
	cr_assert_not_null(answer);
	uid_late = g_strdup(json_string_value(json_object_get(
		json_object_get(json_object_get(answer, "object"), "metadata"), "uid")));
	json_decref(answer);
	cr_assert_not_null(uid_late);
	answer = control("/", add);
	cr_assert(json_is_true(json_object_get(answer, "ok")));
	json_decref(answer);
	end = mono_ms() + 10000;
	while (!late_pod_labelled(true, uid_late) && mono_ms() < end)
		g_usleep(10000);
	late_pod_labelled(false, uid_late);
	st = stats();
	cr_assert_geq(st.res[K8S_POD].watches, 1);
	cr_assert_eq(st.res[K8S_POD].events, 1, "one ADDED event");
	cr_assert_eq(st.store.events[K8S_POD], 1);
	cr_assert_eq(st.store.objects[K8S_POD], 4);
	cr_assert_eq(st.store.pods_indexed, 4);
	cr_assert_gt(st.res[K8S_POD].last_event_ms, 0);
	client_free_promptly();
}

Test(k8s, free_with_watches_open_returns_promptly)
{
	uint64_t end;

	need_fakes();
	build_state(cluster_objects, G_N_ELEMENTS(cluster_objects));
	fake_start();
	client_start(kubeconfig, 0, 0, 0);
	cr_assert_eq(k8s_wait_synced(k, 30000), 0);
	/* Every resource's WATCH is open on the server (and would stay so for 300 s). */
	end = mono_ms() + 10000;
	while (fake_watches_open() < K8S_KIND_COUNT && mono_ms() < end)
		g_usleep(20000);
	cr_assert_eq(fake_watches_open(), K8S_KIND_COUNT);
	for (int i = 0; i < K8S_KIND_COUNT; i++)
		cr_assert_eq(stats().res[i].watches, 1, "%s", k8s_kind_name((enum k8s_kind)i));
	client_free_promptly();
}

/*
 * Nothing listens: every resource fails and retries, slowing down to backoff_max_ms, the
 * view stays unsynced and empty, and the client stops at once.
 */
Test(k8s, refused_server_is_retried_with_backoff)
{
	char path[128], server[64];
	struct k8s_stats st;
	struct testpki p;
	uint64_t t0, ran;
	uint16_t port;

	testpki_make(&p); /* a CA file for the kubeconfig; the TLS never starts */
	port = closed_port();
	snprintf(server, sizeof(server), "https://127.0.0.1:%u", port);
	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	write_kubeconfig(path, server, p.ca, "token: \"t\"");
	t0 = mono_ms();
	client_start(path, 50, 200, 0);
	cr_assert_eq(k8s_wait_synced(k, 1500), -ETIMEDOUT);
	st = stats();
	ran = mono_ms() - t0;
	cr_assert_not(k8s_synced(k));
	cr_assert_not(st.synced);
	cr_assert_eq(st.sync_ms, 0);
	cr_assert_eq(st.auth_failures, 0);
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		const struct k8s_resource_stats *r = &st.res[i];
		const char *name = k8s_kind_name((enum k8s_kind)i);

		cr_assert_not(r->synced, "%s", name);
		cr_assert_eq(r->lists, 0, "%s", name);
		cr_assert_geq(r->errors, 3, "%s: %" PRIu64 " errors", name, r->errors);
		/* Delays of 25-50, 50-100, then 100-200 ms: far fewer attempts than time. */
		cr_assert_leq(r->errors, 3 + ran / 100, "%s: %" PRIu64 " errors in %" PRIu64 " ms",
			      name, r->errors, ran);
		cr_assert_geq(r->backoffs, r->errors - 1, "%s", name);
		cr_assert_gt(r->backoff_ms, 0, "%s", name);
		cr_assert_leq(r->backoff_ms, 200, "%s: delay over backoff_max_ms", name);
		cr_assert_eq(r->watches, 0, "%s", name);
		cr_assert_eq(st.store.objects[i], 0, "%s", name);
	}
	labels_are(false, "10.77.0.1", 0);
	client_free_promptly();
	testpki_remove(&p);
}

/* A token the server refuses: every resource's LIST gets 401, counted; nothing syncs. */
Test(k8s, unauthorized_is_counted)
{
	char path[128], server[64], ca[128];
	struct k8s_stats st;
	uint64_t end;

	need_fakes();
	build_state(cluster_objects, G_N_ELEMENTS(cluster_objects));
	fake_start();
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", api_port);
	snprintf(ca, sizeof(ca), "%s/api/ca.crt", dir);
	snprintf(path, sizeof(path), "%s/kubeconfig-bad", dir);
	write_kubeconfig(path, server, ca, "token: \"not-the-token\"");
	client_start(path, 50, 200, 0);
	end = mono_ms() + 10000;
	while (stats().auth_failures < 2 * K8S_KIND_COUNT && mono_ms() < end)
		g_usleep(10000);
	cr_assert_eq(k8s_wait_synced(k, 200), -ETIMEDOUT);
	st = stats();
	cr_assert_geq(st.auth_failures, 2 * K8S_KIND_COUNT);
	cr_assert_not(st.synced);
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		const char *name = k8s_kind_name((enum k8s_kind)i);

		cr_assert_geq(st.res[i].errors, 1, "%s", name);
		cr_assert_eq(st.res[i].lists, 0, "%s", name);
		cr_assert_not(st.res[i].synced, "%s", name);
	}
	labels_are(false, "10.77.0.1", 0);
	client_free_promptly();
}

/*
 * With a token file, a 401 makes the client read the file again; a file fixed while it
 * backs off is picked up at the next periodic re-read, and the client syncs.
 */
Test(k8s, token_file_fixed_after_401_recovers)
{
	char path[128], server[64], ca[128], tok[128], user[160];
	g_autofree char *good = NULL;
	g_autofree char *uid = NULL;
	struct k8s_stats st;
	uint64_t end;

	need_fakes();
	build_state(cluster_objects, G_N_ELEMENTS(cluster_objects));
	fake_start();
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", api_port);
	snprintf(ca, sizeof(ca), "%s/api/ca.crt", dir);
	snprintf(tok, sizeof(tok), "%s/token", dir);
	snprintf(path, sizeof(path), "%s/kubeconfig-file", dir);
	snprintf(user, sizeof(user), "tokenFile: \"%s\"", tok);
	cr_assert(g_file_set_contents(tok, "stale-token\n", -1, NULL));
	write_kubeconfig(path, server, ca, user);
	client_start(path, 50, 200, 1);
	end = mono_ms() + 10000;
	while (stats().auth_failures < K8S_KIND_COUNT && mono_ms() < end)
		g_usleep(10000);
	st = stats();
	cr_assert_geq(st.auth_failures, K8S_KIND_COUNT);
	cr_assert_not(st.synced);
	cr_assert_eq(st.token_reads, 0, "the file did not change");

	/* The rotated token lands in the file. */
	{
		g_autofree char *api_tok = g_strdup_printf("%s/api/token", dir);

		cr_assert(g_file_get_contents(api_tok, &good, NULL, NULL));
	}
	cr_assert(g_file_set_contents(tok, good, -1, NULL));
	cr_assert_eq(k8s_wait_synced(k, 15000), 0, "no sync with the fixed token file");
	st = stats();
	cr_assert_eq(st.token_reads, 1);
	for (int i = 0; i < K8S_KIND_COUNT; i++)
		cr_assert_eq(st.res[i].lists, 1, "%s", k8s_kind_name((enum k8s_kind)i));
	uid = state_uid("web-0");
	labels_are(false, "10.77.0.1", 12, ENRICH_CLUSTER, "test", ENRICH_NAMESPACE, "shop",
		   ENRICH_POD, "web-0", ENRICH_POD_UID, uid, ENRICH_NODE, "node-1",
		   ENRICH_WORKLOAD_KIND, "StatefulSet", ENRICH_WORKLOAD, "web", ENRICH_SERVICE,
		   "web", ENRICH_POD_LABELS, "{\"app\":\"web\"}", ENRICH_ZONE, "zone-a",
		   ENRICH_REGION, "region-1", ENRICH_KIND, "pod");
	client_free_promptly();
}

/* Configuration mistakes are found by k8s_new, before any network I/O. */
Test(k8s, bad_configuration_fails_at_new)
{
	struct k8s_config cfg = {0};
	char path[128], missing[128];

	snprintf(missing, sizeof(missing), "%s/missing", dir);
	cfg.sa_dir = missing;
	cr_assert_not(k8s_available(&cfg), "no kubeconfig, not in a cluster");
	cr_assert_null(k8s_new(&cfg, e), "in-cluster without a service account");

	cfg.kubeconfig = missing;
	cr_assert(k8s_available(&cfg), "a kubeconfig is configured");
	cr_assert_null(k8s_new(&cfg, e), "kubeconfig file missing");

	snprintf(path, sizeof(path), "%s/kubeconfig", dir);
	write_kubeconfig(path, "https://127.0.0.1:1", missing, "token: \"t\"");
	cfg.kubeconfig = path;
	cr_assert_null(k8s_new(&cfg, e), "CA file missing");

	/* Any readable file passes as the CA here: it is only read when connecting. */
	write_kubeconfig(path, "https://127.0.0.1:1", path, "token: \"t\"");
	cfg.api_server = "http://127.0.0.1:1";
	cr_assert_null(k8s_new(&cfg, e), "plain http:// server");

	cfg.api_server = NULL;
	k = k8s_new(&cfg, e);
	cr_assert_not_null(k, "a usable kubeconfig");
	cr_assert_not(k8s_synced(k));
	cr_assert_eq(k8s_wait_synced(k, 10), -ETIMEDOUT, "never started");
	k8s_free(k); /* never started: nothing to stop */
	k = NULL;
	k8s_free(NULL);
}
