// SPDX-License-Identifier: Apache-2.0
/*
 * k8s: one GThread drives a libcurl multi handle with one transfer per resource. Each
 * resource cycles LIST (paged, limit/continue) -> WATCH from the list's resourceVersion ->
 * re-WATCH from the last seen version when the stream ends, and back to LIST on 410 Gone.
 * Failures wait in a jittered exponential backoff (honouring Retry-After) while the store
 * keeps the last known view. The store is not thread-safe: every call into it, and the
 * counters the main thread reads, sit under one mutex. Tables are published at most every
 * publish_interval_ms and right after each LIST, so a cluster change is exported within 1 s.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "k8s.h"
#include "k8s_watch.h"
#include "kubeconfig.h"
#include "log.h"

#define K8S_ERROR_BODY_BYTES  (64u << 10) /* kept of a non-200 body, for its Status message */
#define K8S_LINE_SLACK_BYTES  4096u	  /* watch envelope around an object */
#define K8S_IDLE_PUBLISH_MS   1000u	  /* publish (tombstone expiry) at least this often */
#define K8S_MAX_POLL_MS	      1000u
#define K8S_RETRY_AFTER_MAX_S 300u
#define K8S_BACKOFF_CAP_MS    3600000u /* backoff_max_ms above this is clamped */
#define K8S_LIST_LOW_SPEED_S  60L      /* a LIST that sends nothing this long is dead */
#define K8S_WATCH_GRACE_S     60L      /* beyond timeoutSeconds before a silent watch is dead */
#define K8S_SHORT_WATCH_MS    1000u    /* an empty watch shorter than this ended "at once" */
#define K8S_STABLE_WATCH_MS   30000u   /* a watch this long resets the backoff */
#define K8S_QUOTE_BYTES	      160u
#define K8S_DEFAULT_OBJ_BYTES (1u << 20)

static const char k8s_accept_json[] = "Accept: application/json";
static const char k8s_accept_meta_list[] =
	"Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
	"application/json";
static const char k8s_accept_meta_watch[] =
	"Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

static const struct k8s_res_def {
	const char *name; /* resource, for messages */
	const char *path; /* collection URL path, cluster-wide */
	bool meta_only;	  /* ask for PartialObjectMetadata */
	bool optional;	  /* a 404 before the first sync counts as an empty list */
} res_defs[K8S_KIND_COUNT] = {
	[K8S_POD] = {"pods", "/api/v1/pods", false, false},
	[K8S_SERVICE] = {"services", "/api/v1/services", false, false},
	[K8S_ENDPOINTSLICE] = {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", false,
			       true},
	[K8S_NODE] = {"nodes", "/api/v1/nodes", false, false},
	[K8S_NAMESPACE] = {"namespaces", "/api/v1/namespaces", false, false},
	[K8S_REPLICASET] = {"replicasets", "/apis/apps/v1/replicasets", true, true},
	[K8S_JOB] = {"jobs", "/apis/batch/v1/jobs", true, true},
};

enum k8s_phase {
	K8S_PHASE_IDLE = 0, /* waiting for retry_at_ms, then runs next */
	K8S_PHASE_LIST,
	K8S_PHASE_WATCH,
};

/* Why the thread cut a transfer short from inside a callback. */
enum k8s_cut {
	K8S_CUT_NONE = 0,
	K8S_CUT_GONE,	     /* ERROR event with code 410 */
	K8S_CUT_ERROR_EVENT, /* any other ERROR event */
	K8S_CUT_TOO_BIG,     /* LIST page over max_page_bytes */
};

struct k8s_body {
	char *data; /* owned; len bytes used of cap */
	size_t len;
	size_t cap;
};

struct k8s_res {
	struct k8s *k; /* borrowed: the owner */
	enum k8s_kind kind;
	const struct k8s_res_def *def; /* static */
	CURL *easy;		       /* owned */
	struct curl_slist *headers;    /* owned; of the request in flight */
	struct k8s_watch_parser *wp;   /* owned */
	struct k8s_body body;	       /* LIST page, or the head of a non-200 body */

	enum k8s_phase phase; /* the request in flight, or IDLE */
	enum k8s_phase next;  /* what IDLE starts: LIST or WATCH */
	uint64_t retry_at_ms; /* monotonic; when IDLE may start next */
	char *rv;	      /* owned; last resourceVersion seen, NULL before a LIST */
	char *cont;	      /* owned; continue token of the next LIST page, or NULL */
	bool req_cont;	      /* the LIST in flight carries a continue token */
	uint32_t page_limit;

	long http_code;	    /* of the response in flight; 0 until known */
	long retry_after_s; /* Retry-After of the response in flight, -1 if none */
	enum k8s_cut cut;
	char *error_text;		/* owned; message of an ERROR event that cut a watch */
	uint64_t started_ms;		/* monotonic, request start */
	uint64_t req_events;		/* events and bookmarks in the watch in flight */
	uint32_t backoff_ms;		/* current backoff step; 0 = healthy */
	uint32_t failures;		/* since the last success */
	uint32_t short_ends;		/* watches in a row that ended at once, empty */
	uint32_t gone_in_row;		/* 410s with no working watch in between */
	bool logged;			/* this resource's current failure was logged */
	bool logged_shrink;		/* a page size reduction was logged */
	char curl_err[CURL_ERROR_SIZE]; /* libcurl's detailed message of the last transfer */
	bool auth_retried;		/* a 401 already triggered a token re-read and retry */
	bool synced_once;

	struct k8s_resource_stats st; /* under k->lock */
};

struct k8s {
	struct k8s_config cfg;	 /* defaults filled; only cfg.store's strings kept (borrowed) */
	struct kubeconfig kc;	 /* owned */
	struct k8s_store *store; /* owned; touched under lock only */
	CURLM *multi;		 /* owned; used by the thread only once started */
	GThread *thread;	 /* owned; NULL until k8s_start */
	atomic_bool stop;

	pthread_mutex_t lock;	    /* guards store, stats, synced, res[].st */
	pthread_cond_t synced_cond; /* CLOCK_MONOTONIC; signalled when synced becomes true */
	bool synced;
	uint64_t start_ms; /* monotonic, k8s_start */
	uint64_t sync_ms;
	unsigned n_synced;
	uint64_t token_reads;
	uint64_t auth_failures;

	/* thread-only state */
	char *token; /* owned; current bearer token, or NULL */
	uint64_t token_read_ms;
	bool logged_token_error;
	bool logged_outage; /* a server-wide failure (network, 5xx, 429) was logged */
	bool dirty;	    /* events applied since the last publish */
	uint64_t publish_ms;

	struct k8s_res res[K8S_KIND_COUNT];
};

static uint64_t mono_ms(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

/* The store's clock: wall-clock ms, the time base of flow timestamps. */
static uint64_t wall_ms(void)
{
	return (uint64_t)(g_get_real_time() / 1000);
}

/* A server value made safe to print: control bytes become '?', long values are cut. */
static const char *quote(const char *s, char *out, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size && i < K8S_QUOTE_BYTES; i++) {
		unsigned char ch = (unsigned char)s[i];

		out[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (s[i]) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static void set_str(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;

	if (value && !copy)
		return; /* out of memory: keep the old value */
	free(*field);
	*field = copy;
}

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
				  quote(cfg->api_server, err, sizeof(err)));
			return -EINVAL;
		}
		set_str(&k->kc.server, cfg->api_server);
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

/* ---- curl callbacks (thread) -------------------------------------------------------- */

static void recovered(struct k8s *k, struct k8s_res *r);

static int body_append(struct k8s_body *b, const char *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 16384;
		char *nd;

		while (cap < b->len + n + 1)
			cap *= 2;
		nd = realloc(b->data, cap);
		if (!nd)
			return -ENOMEM;
		b->data = nd;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static void body_clear(struct k8s_body *b)
{
	b->len = 0;
	/* do not hold on to a huge LIST page between requests */
	if (b->cap > (1u << 20)) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
	}
}

static void set_rv(struct k8s_res *r, const char *rv)
{
	if (rv && rv[0] && (!r->rv || strcmp(r->rv, rv) != 0))
		set_str(&r->rv, rv);
}

/* A watch event, under k->lock (called from k8s_watch_feed). */
static int on_event(const struct k8s_watch_event *ev, void *user)
{
	static const enum k8s_event map[] = {
		[K8S_WATCH_ADDED] = K8S_EVENT_ADDED,
		[K8S_WATCH_MODIFIED] = K8S_EVENT_MODIFIED,
		[K8S_WATCH_DELETED] = K8S_EVENT_DELETED,
	};
	struct k8s_res *r = user;
	struct k8s *k = r->k;
	uint64_t now = wall_ms();

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

			snprintf(msg, sizeof(msg), "ERROR event, code %lld, reason '%s': %s",
				 (long long)ev->error_code,
				 quote(ev->error_reason ? ev->error_reason : "", qr, sizeof(qr)),
				 quote(ev->error_message ? ev->error_message : "", qm, sizeof(qm)));
			set_str(&r->error_text, msg);
			r->cut = K8S_CUT_ERROR_EVENT;
		}
		return 1;
	}
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	struct k8s_res *r = user;
	struct k8s *k = r->k;
	size_t n = size * nmemb;
	size_t limit = K8S_ERROR_BODY_BYTES;
	int rc;

	if (!r->http_code)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http_code);
	pthread_mutex_lock(&k->lock);
	r->st.bytes += n;
	if (r->phase == K8S_PHASE_WATCH && r->http_code == 200) {
		rc = k8s_watch_feed(r->wp, data, n);
		pthread_mutex_unlock(&k->lock);
		return rc ? 0 : n; /* 0 makes libcurl abort the transfer */
	}
	pthread_mutex_unlock(&k->lock);
	if (r->phase == K8S_PHASE_LIST && r->http_code == 200)
		limit = r->k->cfg.max_page_bytes;
	if (r->body.len + n > limit) {
		if (limit != K8S_ERROR_BODY_BYTES) {
			r->cut = K8S_CUT_TOO_BIG;
			return 0;
		}
		return n; /* the head of an error body is enough */
	}
	if (body_append(&r->body, data, n) < 0) {
		r->cut = K8S_CUT_TOO_BIG;
		return 0;
	}
	return n;
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *user)
{
	struct k8s_res *r = user;
	size_t n = size * nmemb;

	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after a 100 Continue, say): forget the previous one's */
		r->http_code = 0;
		r->retry_after_s = -1;
	} else if (n > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
		long v = 0;
		size_t i = 12;
		bool digits = false;

		while (i < n && (buf[i] == ' ' || buf[i] == '\t'))
			i++;
		for (; i < n && buf[i] >= '0' && buf[i] <= '9'; i++) {
			digits = true;
			if (v < 100000)
				v = v * 10 + (buf[i] - '0');
		}
		/* an HTTP-date form is ignored: the backoff applies */
		if (digits)
			r->retry_after_s = v;
	} else if ((n == 2 && buf[0] == '\r') || (n == 1 && buf[0] == '\n')) {
		/* end of the headers: a watch answered 200 means the server is back */
		long code = 0;

		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200 && r->phase == K8S_PHASE_WATCH)
			recovered(r->k, r);
	}
	return n;
}

/* ---- requests (thread) -------------------------------------------------------------- */

static int add_header(struct curl_slist **list, const char *h)
{
	struct curl_slist *n = curl_slist_append(*list, h);

	if (!n)
		return -ENOMEM;
	*list = n;
	return 0;
}

/* Options that stay the same for every request of a resource. */
static int setup_easy(struct k8s *k, struct k8s_res *r)
{
	const struct kubeconfig *kc = &k->kc;
	CURL *h = r->easy;
	CURLcode c = CURLE_OK;

#define K8S_SETOPT(opt, val)                                                                       \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(h, opt, val);                                         \
	} while (0)
	K8S_SETOPT(CURLOPT_PRIVATE, r);
	K8S_SETOPT(CURLOPT_ERRORBUFFER, r->curl_err);
	K8S_SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	K8S_SETOPT(CURLOPT_WRITEDATA, r);
	K8S_SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	K8S_SETOPT(CURLOPT_HEADERDATA, r);
	K8S_SETOPT(CURLOPT_NOSIGNAL, 1L);
	K8S_SETOPT(CURLOPT_PROTOCOLS_STR, "https");
	K8S_SETOPT(CURLOPT_FOLLOWLOCATION, 0L); /* never send the token elsewhere */
	K8S_SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	K8S_SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	K8S_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)k->cfg.connect_timeout_ms);
	K8S_SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	K8S_SETOPT(CURLOPT_TCP_KEEPIDLE, 30L);
	K8S_SETOPT(CURLOPT_TCP_KEEPINTVL, 15L);
	K8S_SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	K8S_SETOPT(CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	if (kc->ca_pem || kc->ca_file) {
		/* the cluster's CA is the only trust anchor: no system bundle or directory */
		K8S_SETOPT(CURLOPT_CAPATH, NULL);
		if (kc->ca_pem) {
			struct curl_blob blob = {kc->ca_pem, kc->ca_pem_bytes, CURL_BLOB_COPY};

			K8S_SETOPT(CURLOPT_CAINFO, NULL);
			K8S_SETOPT(CURLOPT_CAINFO_BLOB, &blob);
		} else {
			K8S_SETOPT(CURLOPT_CAINFO, kc->ca_file);
		}
	}
	if (kc->cert_pem) {
		struct curl_blob blob = {kc->cert_pem, kc->cert_pem_bytes, CURL_BLOB_COPY};

		K8S_SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		K8S_SETOPT(CURLOPT_SSLCERT_BLOB, &blob);
	} else if (kc->cert_file) {
		K8S_SETOPT(CURLOPT_SSLCERT, kc->cert_file);
	}
	if (kc->key_pem) {
		struct curl_blob blob = {kc->key_pem, kc->key_pem_bytes, CURL_BLOB_COPY};

		K8S_SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
		K8S_SETOPT(CURLOPT_SSLKEY_BLOB, &blob);
	} else if (kc->key_file) {
		K8S_SETOPT(CURLOPT_SSLKEY, kc->key_file);
	}
	if (kc->proxy_url)
		K8S_SETOPT(CURLOPT_PROXY, kc->proxy_url);
#undef K8S_SETOPT
	if (c != CURLE_OK) {
		log_error("kubernetes: libcurl refused an option: %s", curl_easy_strerror(c));
		return -EINVAL;
	}
	return 0;
}

static char *build_url(struct k8s *k, struct k8s_res *r, enum k8s_phase what)
{
	GString *u = g_string_new(k->kc.server);
	char *esc;

	g_string_append(u, r->def->path);
	if (what == K8S_PHASE_LIST) {
		g_string_append_printf(u, "?limit=%u", r->page_limit);
		if (r->cont) {
			esc = curl_easy_escape(r->easy, r->cont, 0);
			if (!esc)
				goto fail;
			g_string_append_printf(u, "&continue=%s", esc);
			curl_free(esc);
		}
	} else {
		g_string_append_printf(u, "?watch=1&allowWatchBookmarks=true&timeoutSeconds=%u",
				       k->cfg.watch_timeout_s);
		if (r->rv) {
			esc = curl_easy_escape(r->easy, r->rv, 0);
			if (!esc)
				goto fail;
			g_string_append_printf(u, "&resourceVersion=%s", esc);
			curl_free(esc);
		}
	}
	return g_string_free(u, FALSE);
fail:
	g_string_free(u, TRUE);
	return NULL;
}

static int start_request(struct k8s *k, struct k8s_res *r, enum k8s_phase what)
{
	struct curl_slist *hdrs = NULL;
	char *url = NULL, *auth = NULL;
	CURLMcode mc;
	int rc = -ENOMEM;

	url = build_url(k, r, what);
	if (!url)
		goto out;
	if (add_header(&hdrs, !r->def->meta_only       ? k8s_accept_json
			      : what == K8S_PHASE_LIST ? k8s_accept_meta_list
						       : k8s_accept_meta_watch) < 0)
		goto out;
	if (k->token) {
		auth = g_strdup_printf("Authorization: Bearer %s", k->token);
		if (add_header(&hdrs, auth) < 0)
			goto out;
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, hdrs);
	if (what == K8S_PHASE_LIST) {
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, K8S_LIST_LOW_SPEED_S);
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 0L);
	} else {
		long quiet = (long)k->cfg.watch_timeout_s + K8S_WATCH_GRACE_S;

		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, quiet);
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, quiet + K8S_WATCH_GRACE_S);
	}
	curl_slist_free_all(r->headers);
	r->headers = hdrs;
	hdrs = NULL;
	r->phase = what;
	r->req_cont = what == K8S_PHASE_LIST && r->cont;
	r->http_code = 0;
	r->retry_after_s = -1;
	r->cut = K8S_CUT_NONE;
	r->req_events = 0;
	r->started_ms = mono_ms();
	r->body.len = 0;
	r->curl_err[0] = '\0';
	if (what == K8S_PHASE_WATCH) {
		pthread_mutex_lock(&k->lock);
		k8s_watch_reset(r->wp);
		r->st.watches++;
		pthread_mutex_unlock(&k->lock);
	}
	mc = curl_multi_add_handle(k->multi, r->easy);
	if (mc != CURLM_OK) {
		log_error("kubernetes: %s: cannot start a request: %s", r->def->name,
			  curl_multi_strerror(mc));
		r->phase = K8S_PHASE_IDLE;
		rc = -EIO;
		goto out;
	}
	rc = 0;
out:
	curl_slist_free_all(hdrs);
	g_free(auth);
	g_free(url);
	return rc;
}

/* Wait before the next attempt: jittered exponential backoff, at least Retry-After. */
static void backoff(struct k8s *k, struct k8s_res *r, enum k8s_phase next)
{
	uint64_t delay;

	if (!r->backoff_ms)
		r->backoff_ms = k->cfg.backoff_min_ms;
	else
		r->backoff_ms = MIN(r->backoff_ms * 2u, k->cfg.backoff_max_ms);
	delay = r->backoff_ms / 2 + (uint64_t)g_random_int_range(0, (int)(r->backoff_ms / 2) + 1);
	if (r->retry_after_s > 0)
		delay = MAX(delay, (uint64_t)MIN((uint64_t)r->retry_after_s,
						 (uint64_t)K8S_RETRY_AFTER_MAX_S) *
					   1000u);
	r->failures++;
	r->next = next;
	r->retry_at_ms = mono_ms() + delay;
	pthread_mutex_lock(&k->lock);
	r->st.backoffs++;
	r->st.backoff_ms = delay;
	pthread_mutex_unlock(&k->lock);
}

static void schedule_now(struct k8s_res *r, enum k8s_phase next)
{
	r->next = next;
	r->retry_at_ms = 0;
}

/* A request succeeded (a LIST, or a WATCH answered 200): failures are over. */
static void recovered(struct k8s *k, struct k8s_res *r)
{
	if (r->logged)
		log_info("kubernetes: %s: recovered after %u failed attempt%s", r->def->name,
			 r->failures, r->failures == 1 ? "" : "s");
	r->logged = false;
	k->logged_outage = false;
	r->failures = 0;
	r->auth_retried = false;
	pthread_mutex_lock(&k->lock);
	r->st.backoff_ms = 0;
	pthread_mutex_unlock(&k->lock);
}

/* The connection proved stable (a full LIST, a watch with events or a long one). */
static void healthy(struct k8s *k, struct k8s_res *r)
{
	recovered(k, r);
	r->backoff_ms = 0;
	r->short_ends = 0;
}

static void count_error(struct k8s *k, struct k8s_res *r)
{
	pthread_mutex_lock(&k->lock);
	r->st.errors++;
	pthread_mutex_unlock(&k->lock);
}

/*
 * The first failure after a success is logged; the rest are counted. A server-wide failure
 * (network, 5xx, 429: every resource sees it at once) is logged by one resource only.
 */
static void __attribute__((format(printf, 4, 5)))
log_failure(struct k8s *k, struct k8s_res *r, bool server_wide, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	count_error(k, r);
	if (r->failures || (server_wide && k->logged_outage))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("kubernetes: %s: %s; retrying with backoff, keeping the last known view "
		 "(further failures are only counted)",
		 r->def->name, msg);
	r->logged = true;
	if (server_wide)
		k->logged_outage = true;
}

static void reread_token(struct k8s *k, bool forced)
{
	char err[512];
	char *tok = NULL;

	if (!k->kc.token_file)
		return;
	k->token_read_ms = mono_ms();
	if (kubeconfig_read_token(k->kc.token_file, &tok, err, sizeof(err)) < 0) {
		if (!k->logged_token_error || forced)
			log_warn("kubernetes: %s; keeping the previous token", err);
		k->logged_token_error = true;
		return;
	}
	k->logged_token_error = false;
	if (k->token && strcmp(k->token, tok) == 0) {
		free(tok);
		return;
	}
	free(k->token);
	k->token = tok;
	pthread_mutex_lock(&k->lock);
	k->token_reads++;
	pthread_mutex_unlock(&k->lock);
	log_debug("kubernetes: token file %s changed; using the new token", k->kc.token_file);
}

/* libcurl's detailed message ("SSL certificate problem: ...") or its generic one. */
static const char *curl_error(const struct k8s_res *r, CURLcode res)
{
	return r->curl_err[0] ? r->curl_err : curl_easy_strerror(res);
}

/* The message of a Status body, for logs; "" when there is none. */
static const char *status_message(const struct k8s_body *b, char *out, size_t size)
{
	json_t *root = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	const json_t *m = json_object_get(root, "message");

	out[0] = '\0';
	if (json_is_string(m))
		quote(json_string_value(m), out, size);
	json_decref(root);
	return out;
}

/* A non-200, non-410 response: decide between a token retry and the backoff. */
static void http_failure(struct k8s *k, struct k8s_res *r, const char *what, enum k8s_phase next)
{
	char msg[K8S_QUOTE_BYTES + 8];
	long code = r->http_code;

	status_message(&r->body, msg, sizeof(msg));
	if (code == 401) {
		pthread_mutex_lock(&k->lock);
		k->auth_failures++;
		pthread_mutex_unlock(&k->lock);
		if (!r->auth_retried && k->kc.token_file) {
			/* the projected token may have rotated under us: re-read and retry once */
			r->auth_retried = true;
			reread_token(k, true);
			count_error(k, r);
			schedule_now(r, next);
			return;
		}
	}
	if (code == 401)
		log_failure(k, r, true,
			    "%s: HTTP 401 Unauthorized: the credentials were refused%s%s", what,
			    msg[0] ? ": " : "", msg);
	else if (code == 403)
		log_failure(k, r, false,
			    "%s: HTTP 403 Forbidden: grant get, list and watch on %s%s%s", what,
			    r->def->name, msg[0] ? ": " : "", msg);
	else
		log_failure(k, r, code == 429 || code >= 500, "%s: HTTP %ld%s%s", what, code,
			    msg[0] ? ": " : "", msg);
	backoff(k, r, next);
}

static void synced_one(struct k8s *k, struct k8s_res *r)
{
	uint64_t took;

	r->synced_once = true;
	r->st.synced = true;
	if (++k->n_synced < K8S_KIND_COUNT)
		return;
	took = mono_ms() - k->start_ms;
	k->sync_ms = took ? took : 1;
	k->synced = true;
	pthread_cond_broadcast(&k->synced_cond);
	log_info("kubernetes: synced %u/%u resources in %llu ms", k->n_synced,
		 (unsigned)K8S_KIND_COUNT, (unsigned long long)took);
}

/* After a 410: list again at once, unless 410s keep coming without a working watch. */
static void relist(struct k8s *k, struct k8s_res *r)
{
	set_str(&r->cont, NULL);
	if (++r->gone_in_row > 2)
		backoff(k, r, K8S_PHASE_LIST);
	else
		schedule_now(r, K8S_PHASE_LIST);
}

/* A LIST page arrived with HTTP 200: feed it to the store. */
static void list_page(struct k8s *k, struct k8s_res *r)
{
	json_error_t err;
	json_t *root = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &err);
	const json_t *items, *meta, *v, *item;
	const char *cont = NULL, *rv = NULL;
	uint64_t now = wall_ms();
	size_t i;

	items = json_object_get(root, "items");
	meta = json_object_get(root, "metadata");
	/* "items" must be there (null means empty): a 200 without it is no list at all, and
	 * ending a list on it would delete every object of the kind */
	if (!json_is_object(root) || !(json_is_array(items) || json_is_null(items))) {
		log_failure(k, r, false, "list: the response is not a list (%s)",
			    root ? "no items array" : err.text);
		json_decref(root);
		backoff(k, r, K8S_PHASE_LIST); /* the same page again */
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
		k->publish_ms = mono_ms();
		if (!r->synced_once)
			synced_one(k, r);
	}
	pthread_mutex_unlock(&k->lock);

	if (cont) {
		set_str(&r->cont, cont);
		schedule_now(r, K8S_PHASE_LIST);
	} else {
		set_str(&r->cont, NULL);
		free(r->rv);
		r->rv = rv ? strdup(rv) : NULL;
		log_debug("kubernetes: %s: listed, resourceVersion %s", r->def->name,
			  rv ? rv : "(none)");
		healthy(k, r);
		schedule_now(r, K8S_PHASE_WATCH);
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
	uint64_t now = wall_ms();

	log_warn("kubernetes: list %s: HTTP 404: the API server does not serve %s; treating it as "
		 "empty and retrying every %u ms",
		 r->def->name, r->def->path, k->cfg.backoff_max_ms);
	count_error(k, r);
	pthread_mutex_lock(&k->lock);
	k8s_store_list_begin(k->store, r->kind);
	k8s_store_list_end(k->store, r->kind, now);
	r->st.lists++;
	k8s_store_publish(k->store, now);
	k->dirty = false;
	k->publish_ms = mono_ms();
	synced_one(k, r);
	pthread_mutex_unlock(&k->lock);
	r->next = K8S_PHASE_LIST;
	r->retry_at_ms = mono_ms() + k->cfg.backoff_max_ms;
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
			set_str(&r->cont, NULL);
			schedule_now(r, K8S_PHASE_LIST);
		} else {
			log_failure(k, r, false, "list: one object is over %u bytes",
				    k->cfg.max_page_bytes);
			backoff(k, r, K8S_PHASE_LIST);
		}
		return;
	}
	if (res != CURLE_OK) {
		log_failure(k, r, true, "list: %s", curl_error(r, res));
		backoff(k, r, K8S_PHASE_LIST);
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
	uint64_t lasted = mono_ms() - r->started_ms;
	bool truncated;

	pthread_mutex_lock(&k->lock);
	truncated = k8s_watch_finish(r->wp);
	pthread_mutex_unlock(&k->lock);
	if (r->req_events || lasted >= K8S_STABLE_WATCH_MS) {
		healthy(k, r);
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
		log_failure(k, r, false, "watch: %s",
			    r->error_text ? r->error_text : "ERROR event");
		backoff(k, r, K8S_PHASE_WATCH);
	} else if (res != CURLE_OK) {
		log_failure(k, r, true, "watch: %s", curl_error(r, res));
		backoff(k, r, K8S_PHASE_WATCH);
	} else if (r->http_code != 200) {
		http_failure(k, r, "watch", K8S_PHASE_WATCH);
	} else if (truncated) {
		log_failure(k, r, true, "watch: the stream ended mid-event");
		backoff(k, r, K8S_PHASE_WATCH);
	} else if (!r->req_events && lasted < K8S_SHORT_WATCH_MS && ++r->short_ends > 1) {
		/* a server that ends every watch at once: do not spin */
		log_failure(k, r, false, "watch: the stream ended at once, %u times in a row",
			    r->short_ends);
		backoff(k, r, K8S_PHASE_WATCH);
	} else {
		/* timeoutSeconds ran out: carry on from the last version seen */
		if (r->req_events || lasted >= K8S_SHORT_WATCH_MS) {
			r->short_ends = 0;
			r->gone_in_row = 0;
		}
		pthread_mutex_lock(&k->lock);
		r->st.last_event_ms = wall_ms();
		pthread_mutex_unlock(&k->lock);
		schedule_now(r, K8S_PHASE_WATCH);
	}
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
		if (was == K8S_PHASE_LIST)
			list_done(k, r, res);
		else
			watch_done(k, r, res);
		body_clear(&r->body);
	}
}

static void maybe_publish(struct k8s *k, uint64_t now)
{
	bool due = k->dirty ? now >= k->publish_ms + k->cfg.publish_interval_ms
			    : now >= k->publish_ms + K8S_IDLE_PUBLISH_MS;

	if (!due)
		return;
	pthread_mutex_lock(&k->lock);
	k8s_store_publish(k->store, wall_ms());
	pthread_mutex_unlock(&k->lock);
	k->dirty = false;
	k->publish_ms = now;
}

static gpointer run(gpointer data)
{
	struct k8s *k = data;

	while (!atomic_load(&k->stop)) {
		uint64_t now = mono_ms(), wake = now + K8S_MAX_POLL_MS;
		int running;

		if (k->kc.token_file && now >= k->token_read_ms + k->cfg.token_reread_s * 1000ull)
			reread_token(k, false);
		for (int i = 0; i < K8S_KIND_COUNT; i++) {
			struct k8s_res *r = &k->res[i];

			if (r->phase == K8S_PHASE_IDLE && now >= r->retry_at_ms &&
			    start_request(k, r, r->next) < 0)
				backoff(k, r, r->next);
		}
		curl_multi_perform(k->multi, &running);
		drain_done(k);
		now = mono_ms();
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
			on_event, r);
		if (!r->easy || !r->wp || setup_easy(k, r) < 0)
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
	k->start_ms = mono_ms();
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
	uint64_t now = wall_ms(), last = 0;

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
