// SPDX-License-Identifier: Apache-2.0
/*
 * cloudmeta: cloud instance metadata as an enrich source. One GThread owns the HTTP client
 * (cloudmeta_http.h) and runs one round of provider requests (cloudmeta_imds.h) per refresh;
 * a round either completes into a whole view or fails, and a failed round changes nothing
 * published. A good view is published only when it differs from the last (compared as
 * canonical text), so a steady node causes no snapshot churn.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>

#include "cloudmeta.h"
#include "cloudmeta_http.h"
#include "cloudmeta_imds.h"
#include "cloudmeta_view.h"
#include "log.h"

static const char *const provider_names[] = {
	[CLOUDMETA_OFF] = "off",     [CLOUDMETA_AWS] = "aws",	[CLOUDMETA_GCP] = "gcp",
	[CLOUDMETA_AZURE] = "azure", [CLOUDMETA_AUTO] = "auto",
};

struct cloudmeta {
	struct enrich *e; /* borrowed: must outlive the source */
	enum cloudmeta_provider provider;
	char *base_url; /* owned, without a trailing '/' */
	uint32_t timeout_ms;
	uint32_t refresh_ms;
	uint32_t retry_ms;
	GThread *thread; /* owned: joined by cloudmeta_free */
	GMutex lock;	 /* guards stats, kick; stop is also read without it (atomic) */
	GCond cond;
	gint stop; /* g_atomic: the thread must end */
	bool kick; /* fetch now */
	struct cloudmeta_stats stats;
	/* Thread-only state. */
	struct cloudmeta_http http; /* owned; its err says why the current round failed */
	char *last_err;		    /* owned: the failure last logged, to log each kind once */
	char *published;	    /* owned: canonical text of the published view */
	bool failing;		    /* the last round failed */
};

int cloudmeta_parse_provider(const char *name, enum cloudmeta_provider *ret_provider)
{
	size_t i;

	if (!name || !ret_provider)
		return -EINVAL;
	for (i = 0; i < G_N_ELEMENTS(provider_names); i++) {
		if (g_ascii_strcasecmp(name, provider_names[i]) == 0) {
			*ret_provider = (enum cloudmeta_provider)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *cloudmeta_provider_name(enum cloudmeta_provider p)
{
	return (unsigned)p < G_N_ELEMENTS(provider_names) ? provider_names[p] : NULL;
}

static bool stopping(struct cloudmeta *cm)
{
	return g_atomic_int_get(&cm->stop) != 0;
}

/* ---- the thread --------------------------------------------------------------------- */

static void publish(struct cloudmeta *cm, struct cloudmeta_view *v)
{
	char *text = cloudmeta_view_text(v);
	struct enrich_table *t;

	if (cm->published && strcmp(text, cm->published) == 0) {
		g_free(text);
		return;
	}
	t = cloudmeta_view_table(v);
	if (!t) {
		log_error("cloud: out of memory building the table; keeping the last one");
		g_free(text);
		return;
	}
	log_info("cloud: %s metadata: instance '%s', zone '%s', region '%s', vpc '%s', subnet "
		 "'%s', %u node address(es), %u prefixes",
		 cloudmeta_provider_name(v->provider), v->instance_id, v->zone ? v->zone : "",
		 v->region ? v->region : "", v->vpc ? v->vpc : "", v->subnet ? v->subnet : "",
		 v->node_ips->len, v->subnets->len);
	enrich_publish(cm->e, ENRICH_SRC_CLOUD, t);
	g_free(cm->published);
	cm->published = text;
	g_mutex_lock(&cm->lock);
	cm->stats.publishes++;
	g_mutex_unlock(&cm->lock);
}

/* One round: every request of one provider (each of them in auto mode until one answers). */
static bool round_run(struct cloudmeta *cm)
{
	static const enum cloudmeta_provider all[] = {CLOUDMETA_AWS, CLOUDMETA_GCP,
						      CLOUDMETA_AZURE};
	enum cloudmeta_provider p;
	struct cloudmeta_resp r = {.body = g_string_new(NULL)};
	struct cloudmeta_view *v = NULL;
	GString *why = g_string_new(NULL);
	bool ok = false;
	size_t i;

	g_mutex_lock(&cm->lock);
	p = cm->stats.provider;
	g_mutex_unlock(&cm->lock);
	for (i = 0; i < G_N_ELEMENTS(all) && !stopping(cm); i++) {
		if (p != CLOUDMETA_AUTO && p != all[i])
			continue;
		v = cloudmeta_view_new(all[i]);
		cm->http.err[0] = '\0';
		if (cloudmeta_imds_fetch(&cm->http, &r, v) == 0) {
			ok = true;
			break;
		}
		g_string_append_printf(why, "%s%s%s", why->len ? "; " : "",
				       p == CLOUDMETA_AUTO ? cloudmeta_provider_name(all[i]) : "",
				       p == CLOUDMETA_AUTO ? ": " : "");
		g_string_append(why, cm->http.err);
		cloudmeta_view_free(v);
		v = NULL;
	}
	g_string_free(r.body, TRUE);
	if (stopping(cm)) {
		cloudmeta_view_free(v);
		g_string_free(why, TRUE);
		return ok;
	}

	if (ok) {
		if (cm->failing)
			log_info("cloud: %s metadata answers again",
				 cloudmeta_provider_name(v->provider));
		cm->failing = false;
		g_clear_pointer(&cm->last_err, g_free);
		publish(cm, v);
	}
	/* After publishing: whoever sees the counter move also sees the table. */
	g_mutex_lock(&cm->lock);
	if (ok) {
		cm->stats.fetches_ok++;
		cm->stats.last_ok_ms = (uint64_t)(g_get_real_time() / 1000);
		cm->stats.provider = v->provider;
	} else {
		cm->stats.fetches_failed++;
	}
	g_mutex_unlock(&cm->lock);

	if (!ok) {
		/* Each kind of failure is logged once; the same failure again is only counted. */
		if (!cm->last_err || strcmp(cm->last_err, why->str) != 0)
			log_warn("cloud: %s metadata: %s; %s (retrying every %.1f s)",
				 cloudmeta_provider_name(p), why->str,
				 cm->published ? "keeping the last good view"
					       : "no cloud labels yet",
				 cm->retry_ms / 1000.0);
		g_free(cm->last_err);
		cm->last_err = g_strdup(why->str);
		cm->failing = true;
	}
	cloudmeta_view_free(v);
	g_string_free(why, TRUE);
	return ok;
}

static gpointer cm_thread(gpointer user)
{
	struct cloudmeta *cm = user;

	while (!stopping(cm)) {
		bool ok = round_run(cm);
		gint64 end = g_get_monotonic_time() +
			     (gint64)(ok ? cm->refresh_ms : cm->retry_ms) * G_TIME_SPAN_MILLISECOND;

		g_mutex_lock(&cm->lock);
		while (!g_atomic_int_get(&cm->stop) && !cm->kick)
			if (!g_cond_wait_until(&cm->cond, &cm->lock, end))
				break;
		cm->kick = false;
		g_mutex_unlock(&cm->lock);
	}
	return NULL;
}

struct cloudmeta *cloudmeta_new(struct enrich *e, const struct cloudmeta_config *config)
{
	const char *url;
	struct cloudmeta *cm;
	size_t len;

	if (!e || !config || config->provider == CLOUDMETA_OFF ||
	    !cloudmeta_provider_name(config->provider))
		return NULL;
	url = config->base_url && *config->base_url ? config->base_url : CLOUDMETA_DEFAULT_URL;
	if (!g_str_has_prefix(url, "http://") && !g_str_has_prefix(url, "https://")) {
		log_error("cloud: metadata URL '%s' is not http:// or https://", url);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cloud: libcurl initialisation failed");
		return NULL;
	}
	cm = g_new0(struct cloudmeta, 1);
	cm->e = e;
	cm->provider = config->provider;
	cm->stats.provider = config->provider;
	cm->base_url = g_strdup(url);
	len = strlen(cm->base_url);
	while (len && cm->base_url[len - 1] == '/')
		cm->base_url[--len] = '\0';
	cm->timeout_ms = config->timeout_ms ? config->timeout_ms : CLOUDMETA_DEFAULT_TIMEOUT_MS;
	cm->refresh_ms = config->refresh_ms ? config->refresh_ms : CLOUDMETA_DEFAULT_REFRESH_MS;
	cm->retry_ms = config->retry_ms ? config->retry_ms : CLOUDMETA_DEFAULT_RETRY_MS;
	if (cm->retry_ms > cm->refresh_ms)
		cm->retry_ms = cm->refresh_ms;
	g_mutex_init(&cm->lock);
	g_cond_init(&cm->cond);
	if (cloudmeta_http_init(&cm->http, cm->base_url, cm->timeout_ms, &cm->stop) < 0)
		goto fail;
	cm->thread = g_thread_try_new("lf-cloudmeta", cm_thread, cm, NULL);
	if (!cm->thread) {
		log_error("cloud: cannot start the metadata thread");
		goto fail;
	}
	log_info("cloud: asking %s metadata at '%s' (timeout %u ms, refresh %.1f s)",
		 cloudmeta_provider_name(cm->provider), cm->base_url, cm->timeout_ms,
		 cm->refresh_ms / 1000.0);
	return cm;
fail:
	cloudmeta_free(cm);
	return NULL;
}

void cloudmeta_free(struct cloudmeta *cm)
{
	if (!cm)
		return;
	if (cm->thread) {
		g_mutex_lock(&cm->lock);
		g_atomic_int_set(&cm->stop, 1);
		g_cond_signal(&cm->cond);
		g_mutex_unlock(&cm->lock);
		g_thread_join(cm->thread);
	}
	cloudmeta_http_done(&cm->http);
	curl_global_cleanup();
	g_mutex_clear(&cm->lock);
	g_cond_clear(&cm->cond);
	g_free(cm->base_url);
	g_free(cm->last_err);
	g_free(cm->published);
	g_free(cm);
}

void cloudmeta_refresh(struct cloudmeta *cm)
{
	if (!cm)
		return;
	g_mutex_lock(&cm->lock);
	cm->kick = true;
	g_cond_signal(&cm->cond);
	g_mutex_unlock(&cm->lock);
}

void cloudmeta_get_stats(const struct cloudmeta *cm, struct cloudmeta_stats *ret_stats)
{
	struct cloudmeta *m = (struct cloudmeta *)cm; /* the lock is not part of the value */

	if (!ret_stats)
		return;
	if (!cm) {
		memset(ret_stats, 0, sizeof(*ret_stats));
		return;
	}
	g_mutex_lock(&m->lock);
	*ret_stats = m->stats;
	g_mutex_unlock(&m->lock);
}
