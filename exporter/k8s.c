// SPDX-License-Identifier: Apache-2.0
/*
 * k8s: one GThread drives a libcurl multi handle with one transfer per resource
 * (k8s_http.h); each resource runs its own LIST/WATCH state machine (k8s_res.h). The store is
 * not thread-safe: every call into it, and the counters the main thread reads, sit under one
 * mutex. Tables are published at most every publish_interval_ms and right after each LIST,
 * so a cluster change is exported within 1 s.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>

#include "k8s.h"
#include "k8s_client.h"
#include "k8s_http.h"
#include "k8s_res.h"
#include "k8s_watch.h"
#include "kubeconfig.h"
#include "log.h"

#define K8S_LINE_SLACK_BYTES  4096u /* watch envelope around an object */
#define K8S_IDLE_PUBLISH_MS   1000u /* publish (tombstone expiry) at least this often */
#define K8S_MAX_POLL_MS	      1000u
#define K8S_BACKOFF_CAP_MS    3600000u /* backoff_max_ms above this is clamped */
#define K8S_DEFAULT_OBJ_BYTES (1u << 20)

static const struct k8s_res_def res_defs[K8S_KIND_COUNT] = {
	[K8S_POD] = {"pods", "/api/v1/pods", false, false},
	[K8S_SERVICE] = {"services", "/api/v1/services", false, false},
	[K8S_ENDPOINTSLICE] = {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", false,
			       true},
	[K8S_NODE] = {"nodes", "/api/v1/nodes", false, false},
	[K8S_NAMESPACE] = {"namespaces", "/api/v1/namespaces", false, false},
	[K8S_REPLICASET] = {"replicasets", "/apis/apps/v1/replicasets", true, true},
	[K8S_JOB] = {"jobs", "/apis/batch/v1/jobs", true, true},
};
/* ---- configuration -------------------------------------------------------------------- */

bool k8s_available(const struct k8s_config *cfg)
{
	return (cfg->kubeconfig && cfg->kubeconfig[0]) ||
	       kubeconfig_in_cluster_available(cfg->sa_dir);
}

static void fill_defaults(struct k8s_config *c)
{
	if (!c->page_limit)
		c->page_limit = K8S_DEFAULT_PAGE_LIMIT;
	if (!c->watch_timeout_s)
		c->watch_timeout_s = K8S_DEFAULT_WATCH_TIMEOUT_S;
	if (!c->token_reread_s)
		c->token_reread_s = K8S_DEFAULT_TOKEN_REREAD_S;
	if (!c->max_page_bytes)
		c->max_page_bytes = K8S_DEFAULT_MAX_PAGE_BYTES;
	if (!c->backoff_min_ms)
		c->backoff_min_ms = K8S_DEFAULT_BACKOFF_MIN_MS;
	if (!c->backoff_max_ms)
		c->backoff_max_ms = K8S_DEFAULT_BACKOFF_MAX_MS;
	if (c->backoff_max_ms > K8S_BACKOFF_CAP_MS)
		c->backoff_max_ms = K8S_BACKOFF_CAP_MS;
	if (c->backoff_min_ms > c->backoff_max_ms)
		c->backoff_min_ms = c->backoff_max_ms;
	if (!c->publish_interval_ms)
		c->publish_interval_ms = K8S_DEFAULT_PUBLISH_INTERVAL_MS;
	if (!c->connect_timeout_ms)
		c->connect_timeout_ms = K8S_DEFAULT_CONNECT_TIMEOUT_MS;
	if (!c->store.max_object_bytes)
		c->store.max_object_bytes = K8S_DEFAULT_OBJ_BYTES;
}

/* Resolve where to connect; logs the reason on failure. */
static int resolve_connection(struct k8s *k, const struct k8s_config *cfg)
{
	static const char *const what[] = {"certificate authority", "client certificate",
					   "client key"};
	const char *files[G_N_ELEMENTS(what)];
	char err[1024];
	int rc;

	if (cfg->kubeconfig && cfg->kubeconfig[0])
		rc = kubeconfig_load_file(cfg->kubeconfig, cfg->context, &k->kc, err, sizeof(err));
	else
		rc = kubeconfig_in_cluster(cfg->sa_dir, &k->kc, err, sizeof(err));
	if (rc < 0) {
		log_error("kubernetes: %s", err);
		return rc;
	}
	if (cfg->api_server && cfg->api_server[0]) {
		if (strncmp(cfg->api_server, "https://", 8) != 0) {
			log_error("kubernetes: API server '%s' is not an https:// URL",
				  log_quote(cfg->api_server, err, sizeof(err)));
			return -EINVAL;
		}
		k8s_client_set_str(&k->kc.server, cfg->api_server);
		if (!k->kc.server)
			return -ENOMEM;
	}
	/* files are read by libcurl per connection: refuse unreadable ones now, clearly */
	files[0] = k->kc.ca_file;
	files[1] = k->kc.cert_file;
	files[2] = k->kc.key_file;
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		if (files[i] && access(files[i], R_OK) < 0) {
			rc = -errno;
			log_error("kubernetes: %s file %s: %s", what[i], files[i], strerror(-rc));
			return rc;
		}
	}
	if (k->kc.token_file) {
		rc = kubeconfig_read_token(k->kc.token_file, &k->token, err, sizeof(err));
		if (rc < 0) {
			log_error("kubernetes: %s", err);
			return rc;
		}
	} else if (k->kc.token) {
		k->token = strdup(k->kc.token);
		if (!k->token)
			return -ENOMEM;
	}
	return 0;
}

/* ---- the thread ----------------------------------------------------------------------- */

static void drain_done(struct k8s *k)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(k->multi, &left))) {
		struct k8s_res *r;
		enum k8s_phase was;
		char *priv = NULL;
		CURLcode res;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		r = (struct k8s_res *)priv;
		if (!r)
			continue;
		res = msg->data.result;
		curl_multi_remove_handle(k->multi, r->easy);
		if (!r->http_code)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_code);
		was = r->phase;
		r->phase = K8S_PHASE_IDLE;
		k8s_res_done(k, r, was, res);
		k8s_http_body_clear(&r->body);
	}
}

static void maybe_publish(struct k8s *k, uint64_t now)
{
	bool due = k->dirty ? now >= k->publish_ms + k->cfg.publish_interval_ms
			    : now >= k->publish_ms + K8S_IDLE_PUBLISH_MS;

	if (!due)
		return;
	pthread_mutex_lock(&k->lock);
	k8s_store_publish(k->store, k8s_client_wall_ms());
	pthread_mutex_unlock(&k->lock);
	k->dirty = false;
	k->publish_ms = now;
}

static gpointer run(gpointer data)
{
	struct k8s *k = data;

	while (!atomic_load(&k->stop)) {
		uint64_t now = k8s_client_mono_ms(), wake = now + K8S_MAX_POLL_MS;
		int running;

		if (k->kc.token_file && now >= k->token_read_ms + k->cfg.token_reread_s * 1000ull)
			k8s_client_reread_token(k, false);
		for (int i = 0; i < K8S_KIND_COUNT; i++) {
			struct k8s_res *r = &k->res[i];

			if (r->phase == K8S_PHASE_IDLE && now >= r->retry_at_ms &&
			    k8s_http_start(k, r, r->next) < 0)
				k8s_client_backoff(k, r, r->next);
		}
		curl_multi_perform(k->multi, &running);
		drain_done(k);
		now = k8s_client_mono_ms();
		maybe_publish(k, now);

		for (int i = 0; i < K8S_KIND_COUNT; i++)
			if (k->res[i].phase == K8S_PHASE_IDLE)
				wake = MIN(wake, k->res[i].retry_at_ms);
		wake = MIN(wake, k->publish_ms + (k->dirty ? k->cfg.publish_interval_ms
							   : K8S_IDLE_PUBLISH_MS));
		if (wake > now)
			curl_multi_poll(k->multi, NULL, 0, (int)(wake - now), NULL);
	}
	return NULL;
}

/* ---- public API ------------------------------------------------------------------------ */

struct k8s *k8s_new(const struct k8s_config *cfg, struct enrich *e)
{
	struct k8s *k = calloc(1, sizeof(*k));
	pthread_condattr_t ca;

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&k->synced_cond, &ca);
	pthread_condattr_destroy(&ca);
	k->cfg = *cfg;
	fill_defaults(&k->cfg);
	/* the strings of cfg are not kept (only the store's, which the store borrows) */
	k->cfg.kubeconfig = k->cfg.context = k->cfg.sa_dir = k->cfg.api_server = NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("kubernetes: libcurl initialisation failed");
		pthread_cond_destroy(&k->synced_cond);
		pthread_mutex_destroy(&k->lock);
		free(k);
		return NULL;
	}
	if (resolve_connection(k, cfg) < 0)
		goto fail;
	k->store = k8s_store_new(&k->cfg.store, e);
	k->multi = curl_multi_init();
	if (!k->store || !k->multi)
		goto fail;
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		struct k8s_res *r = &k->res[i];

		r->k = k;
		r->kind = (enum k8s_kind)i;
		r->def = &res_defs[i];
		r->next = K8S_PHASE_LIST;
		r->page_limit = k->cfg.page_limit;
		r->retry_after_s = -1;
		r->easy = curl_easy_init();
		r->wp = k8s_watch_parser_new(
			r->def->name, (size_t)k->cfg.store.max_object_bytes + K8S_LINE_SLACK_BYTES,
			k8s_res_on_event, r);
		if (!r->easy || !r->wp || k8s_http_setup(k, r) < 0)
			goto fail;
	}
	log_info("kubernetes: API server %s (%s), %s", k->kc.server, k->kc.context,
		 k->token			     ? "bearer token"
		 : k->kc.cert_file || k->kc.cert_pem ? "client certificate"
						     : "no credentials");
	return k;
fail:
	k8s_free(k);
	return NULL;
}

int k8s_start(struct k8s *k)
{
	GError *err = NULL;

	if (k->thread)
		return -EALREADY;
	k->start_ms = k8s_client_mono_ms();
	k->token_read_ms = k->start_ms;
	k->publish_ms = k->start_ms;
	k->thread = g_thread_try_new("k8s", run, k, &err);
	if (!k->thread) {
		log_error("kubernetes: cannot start the client thread: %s",
			  err ? err->message : "unknown error");
		g_clear_error(&err);
		return -EAGAIN;
	}
	return 0;
}

bool k8s_synced(struct k8s *k)
{
	bool s;

	pthread_mutex_lock(&k->lock);
	s = k->synced;
	pthread_mutex_unlock(&k->lock);
	return s;
}

int k8s_wait_synced(struct k8s *k, uint32_t timeout_ms)
{
	struct timespec end;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ms / 1000;
	end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&k->lock);
	while (!k->synced && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&k->synced_cond, &k->lock, &end);
	rc = k->synced ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&k->lock);
	return rc;
}

void k8s_get_stats(struct k8s *k, struct k8s_stats *ret)
{
	uint64_t now = k8s_client_wall_ms(), last = 0;

	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&k->lock);
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		const struct k8s_watch_stats *ws = k8s_watch_get_stats(k->res[i].wp);
		struct k8s_resource_stats *o = &ret->res[i];

		*o = k->res[i].st;
		o->malformed += ws->malformed + ws->unknown_type;
		o->oversized += ws->oversized;
		last = MAX(last, o->last_event_ms);
	}
	ret->store = *k8s_store_get_stats(k->store);
	ret->token_reads = k->token_reads;
	ret->auth_failures = k->auth_failures;
	ret->sync_ms = k->sync_ms;
	ret->synced = k->synced;
	pthread_mutex_unlock(&k->lock);
	ret->metadata_age_ms = last && now > last ? now - last : 0;
}

void k8s_free(struct k8s *k)
{
	if (!k)
		return;
	if (k->thread) {
		atomic_store(&k->stop, true);
		curl_multi_wakeup(k->multi);
		g_thread_join(k->thread);
	}
	for (int i = 0; i < K8S_KIND_COUNT; i++) {
		struct k8s_res *r = &k->res[i];

		if (r->easy && r->phase != K8S_PHASE_IDLE)
			curl_multi_remove_handle(k->multi, r->easy);
		if (r->easy)
			curl_easy_cleanup(r->easy);
		curl_slist_free_all(r->headers);
		k8s_watch_parser_free(r->wp);
		free(r->body.data);
		free(r->rv);
		free(r->cont);
		free(r->error_text);
	}
	if (k->multi)
		curl_multi_cleanup(k->multi);
	k8s_store_free(k->store);
	kubeconfig_done(&k->kc);
	free(k->token);
	pthread_cond_destroy(&k->synced_cond);
	pthread_mutex_destroy(&k->lock);
	free(k);
	curl_global_cleanup();
}
