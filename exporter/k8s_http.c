// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_http: every resource has its own easy handle on the client's multi handle, set up once
 * with the cluster's CA as the only trust anchor and never following redirects (the token
 * goes nowhere else). A LIST page is buffered up to max_page_bytes; a 200 WATCH body is fed
 * to the watch parser as it arrives; of an error body only the head is kept, for its Status.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "config.h"
#include "k8s_client.h"
#include "k8s_http.h"
#include "k8s_watch.h"
#include "log.h"

#define K8S_ERROR_BODY_BYTES (64u << 10) /* kept of a non-200 body, for its Status message */
#define K8S_LIST_LOW_SPEED_S 60L	 /* a LIST that sends nothing this long is dead */
#define K8S_WATCH_GRACE_S    60L	 /* beyond timeoutSeconds before a silent watch is dead */

static const char k8s_accept_json[] = "Accept: application/json";
static const char k8s_accept_meta_list[] =
	"Accept: application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,"
	"application/json";
static const char k8s_accept_meta_watch[] =
	"Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";

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

void k8s_http_body_clear(struct k8s_body *b)
{
	b->len = 0;
	/* do not hold on to a huge LIST page between requests */
	if (b->cap > (1u << 20)) {
		free(b->data);
		b->data = NULL;
		b->cap = 0;
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
			k8s_client_recovered(r->k, r);
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
int k8s_http_setup(struct k8s *k, struct k8s_res *r)
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

int k8s_http_start(struct k8s *k, struct k8s_res *r, enum k8s_phase what)
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
	r->started_ms = k8s_client_mono_ms();
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

/* libcurl's detailed message ("SSL certificate problem: ...") or its generic one. */
const char *k8s_http_curl_error(const struct k8s_res *r, CURLcode res)
{
	return r->curl_err[0] ? r->curl_err : curl_easy_strerror(res);
}

/* The message of a Status body, for logs; "" when there is none. */
const char *k8s_http_status_message(const struct k8s_body *b, char *out, size_t size)
{
	json_t *root = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	const json_t *m = json_object_get(root, "message");

	out[0] = '\0';
	if (json_is_string(m))
		log_quote(json_string_value(m), out, size);
	json_decref(root);
	return out;
}
