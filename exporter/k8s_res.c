// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_res: each resource cycles LIST (paged, limit/continue) -> WATCH from the list's
 * resourceVersion -> re-WATCH from the last seen version when the stream ends, and back to
 * LIST on 410 Gone. A page too large halves the page size; a server that ends every watch at
 * once, or keeps answering 410, is slowed down by the backoff rather than spun on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "k8s_client.h"
#include "k8s_http.h"
#include "k8s_res.h"
#include "k8s_store.h"
#include "k8s_watch.h"
#include "log.h"

#define K8S_SHORT_WATCH_MS  1000u  /* an empty watch shorter than this ended "at once" */
#define K8S_STABLE_WATCH_MS 30000u /* a watch this long resets the backoff */

static void set_rv(struct k8s_res *r, const char *rv)
{
	if (rv && rv[0] && (!r->rv || strcmp(r->rv, rv) != 0))
		k8s_client_set_str(&r->rv, rv);
}

/* A watch event, under k->lock (called from k8s_watch_feed). */
int k8s_res_on_event(const struct k8s_watch_event *ev, void *user)
{
	static const enum k8s_event map[] = {
		[K8S_WATCH_ADDED] = K8S_EVENT_ADDED,
		[K8S_WATCH_MODIFIED] = K8S_EVENT_MODIFIED,
		[K8S_WATCH_DELETED] = K8S_EVENT_DELETED,
	};
	struct k8s_res *r = user;
	struct k8s *k = r->k;
	uint64_t now = k8s_client_wall_ms();

	switch (ev->type) {
	case K8S_WATCH_ADDED:
	case K8S_WATCH_MODIFIED:
	case K8S_WATCH_DELETED:
		/* a rejected object is counted by the store; its version still counts */
		k8s_store_apply(k->store, r->kind, map[ev->type], ev->object, ev->line_bytes, now);
		set_rv(r, ev->resource_version);
		r->st.events++;
		r->st.last_event_ms = now;
		r->req_events++;
		k->dirty = true;
		return 0;
	case K8S_WATCH_BOOKMARK:
		set_rv(r, ev->resource_version);
		r->st.bookmarks++;
		r->st.last_event_ms = now;
		r->req_events++;
		return 0;
	case K8S_WATCH_ERROR:
	default:
		if (ev->error_code == 410) {
			r->cut = K8S_CUT_GONE;
		} else {
			char msg[2 * K8S_QUOTE_BYTES + 64], qr[K8S_QUOTE_BYTES + 8];
			char qm[K8S_QUOTE_BYTES + 8];

			snprintf(
				msg, sizeof(msg), "ERROR event, code %lld, reason '%s': %s",
				(long long)ev->error_code,
				log_quote(ev->error_reason ? ev->error_reason : "", qr, sizeof(qr)),
				log_quote(ev->error_message ? ev->error_message : "", qm,
					  sizeof(qm)));
			k8s_client_set_str(&r->error_text, msg);
			r->cut = K8S_CUT_ERROR_EVENT;
		}
		return 1;
	}
}

/* A non-200, non-410 response: decide between a token retry and the backoff. */
static void http_failure(struct k8s *k, struct k8s_res *r, const char *what, enum k8s_phase next)
{
	char msg[K8S_QUOTE_BYTES + 8];
	long code = r->http_code;

	k8s_http_status_message(&r->body, msg, sizeof(msg));
	if (code == 401) {
		pthread_mutex_lock(&k->lock);
		k->auth_failures++;
		pthread_mutex_unlock(&k->lock);
		/*
		 * The projected token may have rotated under us: re-read it on every 401, and
		 * retry at once the first time and whenever the file holds a new token; an
		 * unchanged token waits out the backoff, and is read again after it.
		 */
		if (k->kc.token_file &&
		    (k8s_client_reread_token(k, !r->auth_retried) || !r->auth_retried)) {
			r->auth_retried = true;
			k8s_client_count_error(k, r);
			k8s_client_schedule_now(r, next);
			return;
		}
	}
	if (code == 401)
		k8s_client_log_failure(
			k, r, true, "%s: HTTP 401 Unauthorized: the credentials were refused%s%s",
			what, msg[0] ? ": " : "", msg);
	else if (code == 403)
		k8s_client_log_failure(
			k, r, false, "%s: HTTP 403 Forbidden: grant get, list and watch on %s%s%s",
			what, r->def->name, msg[0] ? ": " : "", msg);
	else
		k8s_client_log_failure(k, r, code == 429 || code >= 500, "%s: HTTP %ld%s%s", what,
				       code, msg[0] ? ": " : "", msg);
	k8s_client_backoff(k, r, next);
}

static void synced_one(struct k8s *k, struct k8s_res *r)
{
	uint64_t took;

	r->synced_once = true;
	r->st.synced = true;
	if (++k->n_synced < K8S_KIND_COUNT)
		return;
	took = k8s_client_mono_ms() - k->start_ms;
	k->sync_ms = took ? took : 1;
	k->synced = true;
	pthread_cond_broadcast(&k->synced_cond);
	log_info("kubernetes: synced %u/%u resources in %llu ms", k->n_synced,
		 (unsigned)K8S_KIND_COUNT, (unsigned long long)took);
}

/* After a 410: list again at once, unless 410s keep coming without a working watch. */
static void relist(struct k8s *k, struct k8s_res *r)
{
	k8s_client_set_str(&r->cont, NULL);
	if (++r->gone_in_row > 2)
		k8s_client_backoff(k, r, K8S_PHASE_LIST);
	else
		k8s_client_schedule_now(r, K8S_PHASE_LIST);
}

/* A LIST page arrived with HTTP 200: feed it to the store. */
static void list_page(struct k8s *k, struct k8s_res *r)
{
	json_error_t err;
	json_t *root = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &err);
	const json_t *items, *meta, *v, *item;
	const char *cont = NULL, *rv = NULL;
	uint64_t now = k8s_client_wall_ms();
	size_t i;

	items = json_object_get(root, "items");
	meta = json_object_get(root, "metadata");
	/* "items" must be there (null means empty): a 200 without it is no list at all, and
	 * ending a list on it would delete every object of the kind */
	if (!json_is_object(root) || !(json_is_array(items) || json_is_null(items))) {
		k8s_client_log_failure(k, r, false, "list: the response is not a list (%s)",
				       root ? "no items array" : err.text);
		json_decref(root);
		k8s_client_backoff(k, r, K8S_PHASE_LIST); /* the same page again */
		return;
	}
	v = json_object_get(meta, "continue");
	if (json_is_string(v) && json_string_length(v))
		cont = json_string_value(v);
	v = json_object_get(meta, "resourceVersion");
	if (json_is_string(v) && json_string_length(v))
		rv = json_string_value(v);

	pthread_mutex_lock(&k->lock);
	if (!r->req_cont) {
		/* first page (again, after an expired continue token): a fresh list */
		k8s_store_list_begin(k->store, r->kind);
	}
	json_array_foreach(items, i, item)
	{
		size_t bytes = json_dumpb(item, NULL, 0, JSON_COMPACT);

		k8s_store_list_item(k->store, r->kind, item, bytes, now);
	}
	r->st.list_pages++;
	r->st.last_event_ms = now;
	if (!cont) {
		k8s_store_list_end(k->store, r->kind, now);
		if (r->synced_once)
			r->st.relists++;
		r->st.lists++;
		k8s_store_publish(k->store, now);
		k->dirty = false;
		k->publish_ms = k8s_client_mono_ms();
		if (!r->synced_once)
			synced_one(k, r);
	}
	pthread_mutex_unlock(&k->lock);

	if (cont) {
		k8s_client_set_str(&r->cont, cont);
		k8s_client_schedule_now(r, K8S_PHASE_LIST);
	} else {
		k8s_client_set_str(&r->cont, NULL);
		free(r->rv);
		r->rv = rv ? strdup(rv) : NULL;
		log_debug("kubernetes: %s: listed, resourceVersion %s", r->def->name,
			  rv ? rv : "(none)");
		k8s_client_healthy(k, r);
		k8s_client_schedule_now(r, K8S_PHASE_WATCH);
	}
	json_decref(root);
}

/*
 * The server does not know an optional resource (a cluster older than 1.21 has no
 * discovery.k8s.io/v1, say): it counts as an empty, synced list so the others still get
 * their first sync; it is listed again every backoff_max_ms in case it appears. A 404 on
 * pods, services, nodes or namespaces means a wrong server URL: an ordinary failure.
 */
static void not_served(struct k8s *k, struct k8s_res *r)
{
	uint64_t now = k8s_client_wall_ms();

	log_warn("kubernetes: list %s: HTTP 404: the API server does not serve %s; treating it as "
		 "empty and retrying every %u ms",
		 r->def->name, r->def->path, k->cfg.backoff_max_ms);
	k8s_client_count_error(k, r);
	pthread_mutex_lock(&k->lock);
	k8s_store_list_begin(k->store, r->kind);
	k8s_store_list_end(k->store, r->kind, now);
	r->st.lists++;
	k8s_store_publish(k->store, now);
	k->dirty = false;
	k->publish_ms = k8s_client_mono_ms();
	synced_one(k, r);
	pthread_mutex_unlock(&k->lock);
	r->next = K8S_PHASE_LIST;
	r->retry_at_ms = k8s_client_mono_ms() + k->cfg.backoff_max_ms;
}

static void list_done(struct k8s *k, struct k8s_res *r, CURLcode res)
{
	if (r->cut == K8S_CUT_TOO_BIG) {
		pthread_mutex_lock(&k->lock);
		r->st.oversized++;
		pthread_mutex_unlock(&k->lock);
		if (r->page_limit > 1) {
			/* smaller pages: start over, a continue token is tied to its limit */
			r->page_limit = MAX(r->page_limit / 2, 1u);
			if (!r->logged_shrink)
				log_warn("kubernetes: %s: a LIST page was over %u bytes; listing "
					 "again "
					 "with limit=%u (halved again as needed, only counted)",
					 r->def->name, k->cfg.max_page_bytes, r->page_limit);
			r->logged_shrink = true;
			k8s_client_set_str(&r->cont, NULL);
			k8s_client_schedule_now(r, K8S_PHASE_LIST);
		} else {
			k8s_client_log_failure(k, r, false, "list: one object is over %u bytes",
					       k->cfg.max_page_bytes);
			k8s_client_backoff(k, r, K8S_PHASE_LIST);
		}
		return;
	}
	if (res != CURLE_OK) {
		k8s_client_log_failure(k, r, true, "list: %s", k8s_http_curl_error(r, res));
		k8s_client_backoff(k, r, K8S_PHASE_LIST);
		return;
	}
	if (r->http_code == 200) {
		list_page(k, r);
	} else if (r->http_code == 410) {
		/* expired continue token: the list restarts from scratch */
		pthread_mutex_lock(&k->lock);
		r->st.gone++;
		pthread_mutex_unlock(&k->lock);
		log_info("kubernetes: list %s: continue token expired (410 Gone), restarting the "
			 "list",
			 r->def->name);
		relist(k, r);
	} else if (r->http_code == 404 && r->def->optional && !r->synced_once) {
		not_served(k, r);
	} else {
		http_failure(k, r, "list", K8S_PHASE_LIST);
	}
}

static void watch_done(struct k8s *k, struct k8s_res *r, CURLcode res)
{
	uint64_t lasted = k8s_client_mono_ms() - r->started_ms;
	bool truncated;

	pthread_mutex_lock(&k->lock);
	truncated = k8s_watch_finish(r->wp);
	pthread_mutex_unlock(&k->lock);
	if (r->req_events || lasted >= K8S_STABLE_WATCH_MS) {
		k8s_client_healthy(k, r);
		r->gone_in_row = 0;
	}
	if (r->cut == K8S_CUT_GONE || (res == CURLE_OK && r->http_code == 410)) {
		pthread_mutex_lock(&k->lock);
		r->st.gone++;
		pthread_mutex_unlock(&k->lock);
		log_info("kubernetes: watch %s: 410 Gone, relisting", r->def->name);
		relist(k, r);
		return;
	}
	pthread_mutex_lock(&k->lock);
	r->st.reconnects++;
	pthread_mutex_unlock(&k->lock);
	if (r->cut == K8S_CUT_ERROR_EVENT) {
		k8s_client_log_failure(k, r, false, "watch: %s",
				       r->error_text ? r->error_text : "ERROR event");
		k8s_client_backoff(k, r, K8S_PHASE_WATCH);
	} else if (res != CURLE_OK) {
		k8s_client_log_failure(k, r, true, "watch: %s", k8s_http_curl_error(r, res));
		k8s_client_backoff(k, r, K8S_PHASE_WATCH);
	} else if (r->http_code != 200) {
		http_failure(k, r, "watch", K8S_PHASE_WATCH);
	} else if (truncated) {
		k8s_client_log_failure(k, r, true, "watch: the stream ended mid-event");
		k8s_client_backoff(k, r, K8S_PHASE_WATCH);
	} else if (!r->req_events && lasted < K8S_SHORT_WATCH_MS && ++r->short_ends > 1) {
		/* a server that ends every watch at once: do not spin */
		k8s_client_log_failure(k, r, false,
				       "watch: the stream ended at once, %u times in a row",
				       r->short_ends);
		k8s_client_backoff(k, r, K8S_PHASE_WATCH);
	} else {
		/* timeoutSeconds ran out: carry on from the last version seen */
		if (r->req_events || lasted >= K8S_SHORT_WATCH_MS) {
			r->short_ends = 0;
			r->gone_in_row = 0;
		}
		pthread_mutex_lock(&k->lock);
		r->st.last_event_ms = k8s_client_wall_ms();
		pthread_mutex_unlock(&k->lock);
		k8s_client_schedule_now(r, K8S_PHASE_WATCH);
	}
}

void k8s_res_done(struct k8s *k, struct k8s_res *r, enum k8s_phase was, CURLcode res)
{
	if (was == K8S_PHASE_LIST)
		list_done(k, r, res);
	else
		watch_done(k, r, res);
}
