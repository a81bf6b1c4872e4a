// SPDX-License-Identifier: Apache-2.0
/*
 * cloudmeta_http: a request is a plain libcurl easy transfer with every option set once at
 * init; the body is collected up to a bound (a larger answer fails the request) and the
 * Metadata-Flavor header is noted, since only a real GCP server sends it. A progress callback
 * aborts the transfer as soon as the owner asks the thread to stop.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>

#include "cloudmeta_http.h"
#include "config.h"
#include "log.h"

/* Largest answer read; a larger one fails the round. Azure's whole document is ~3 KiB. */
#define CLOUDMETA_MAX_BODY_BYTES (64u << 10)

void cloudmeta_http_fail(struct cloudmeta_http *hc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(hc->err, sizeof(hc->err), fmt, ap);
	va_end(ap);
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct cloudmeta_resp *r = user;
	size_t len = size * n;

	if (r->body->len + len > CLOUDMETA_MAX_BODY_BYTES) {
		r->too_big = true;
		return 0; /* makes libcurl fail the transfer */
	}
	g_string_append_len(r->body, data, (gssize)len);
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	static const char flavor[] = "metadata-flavor:";
	struct cloudmeta_resp *r = user;
	size_t len = size * n, i = sizeof(flavor) - 1;

	if (len >= i && g_ascii_strncasecmp(data, flavor, i) == 0) {
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		r->google_flavor = len - i >= 6 && strncmp(data + i, "Google", 6) == 0 &&
				   (len - i == 6 || data[i + 6] == '\r' || data[i + 6] == '\n');
	}
	return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	struct cloudmeta_http *hc = user;

	return g_atomic_int_get(hc->stop) != 0 ? 1 : 0; /* non-zero aborts the transfer */
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/*
 * One request to base_url + path with the given extra headers (NULL-terminated). Returns
 * the HTTP status with r->body filled, or -errno (transport failure, hc->err written).
 */
int cloudmeta_http_request(struct cloudmeta_http *hc, const char *method, const char *path,
			   const char *const *headers, struct cloudmeta_resp *r)
{
	g_autofree char *url = g_strconcat(hc->base_url, path, NULL);
	struct curl_slist *hl = NULL, *n;
	CURL *h = hc->curl;
	long status = 0;
	CURLcode c;
	int ret;

	g_string_truncate(r->body, 0);
	r->google_flavor = false;
	r->too_big = false;
	/* Expect: and a proxy's headers never belong in a metadata request. */
	for (; headers && *headers; headers++) {
		n = curl_slist_append(hl, *headers);
		if (!n) {
			curl_slist_free_all(hl);
			cloudmeta_http_fail(hc, "%s: out of memory", path);
			return -ENOMEM;
		}
		hl = n;
	}
	hc->curl_err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	c = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (c != CURLE_OK) {
		ret = curl_errno(c);
		if (r->too_big)
			cloudmeta_http_fail(hc, "%s: the answer is larger than %u KiB", path,
					    CLOUDMETA_MAX_BODY_BYTES >> 10);
		else
			cloudmeta_http_fail(hc, "%s %s: %s", method, path,
					    hc->curl_err[0] ? hc->curl_err : curl_easy_strerror(c));
		return ret;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return (int)status;
}

/* A usable text value: UTF-8, no control bytes except newlines in lists. */
bool cloudmeta_http_text_ok(const char *s, size_t len, bool list)
{
	size_t i;

	if (!g_utf8_validate(s, (gssize)len, NULL))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && !(list && ch == '\n')) || ch == 0x7f)
			return false;
	}
	return true;
}

/*
 * GET a text value (one line, or a list of lines with list). Returns 0 with *ret (g_free it;
 * trailing blanks removed), -ENOENT on 404 or an empty answer, or -errno with hc->err.
 */
static int get_text(struct cloudmeta_http *hc, struct cloudmeta_resp *r, const char *path,
		    const char *const *headers, bool list, bool google, char **ret)
{
	int status = cloudmeta_http_request(hc, "GET", path, headers, r);

	if (status < 0)
		return status;
	if (google && !r->google_flavor) {
		cloudmeta_http_fail(
			hc,
			"%s: HTTP %d without 'Metadata-Flavor: Google' (not a GCP metadata server)",
			path, status);
		return -EPROTO;
	}
	if (status == 404)
		return -ENOENT;
	if (status != 200) {
		cloudmeta_http_fail(hc, "%s: HTTP %d", path, status);
		return -EPROTO;
	}
	while (r->body->len && g_ascii_isspace(r->body->str[r->body->len - 1]))
		g_string_truncate(r->body, r->body->len - 1);
	if (!r->body->len)
		return -ENOENT;
	if ((!list && r->body->len > CLOUDMETA_MAX_VALUE_BYTES) ||
	    !cloudmeta_http_text_ok(r->body->str, r->body->len, list)) {
		cloudmeta_http_fail(hc, "%s: the answer is not a %s", path,
				    list ? "list of values" : "value");
		return -EPROTO;
	}
	*ret = g_strndup(r->body->str, r->body->len);
	return 0;
}

/* Like get_text, but absent (-ENOENT) is fine: *ret stays NULL and 0 is returned. */
int cloudmeta_http_get_opt(struct cloudmeta_http *hc, struct cloudmeta_resp *r, const char *path,
			   const char *const *headers, bool list, bool google, char **ret)
{
	int rc;

	*ret = NULL;
	rc = get_text(hc, r, path, headers, list, google, ret);
	return rc == -ENOENT ? 0 : rc;
}

int cloudmeta_http_get_req(struct cloudmeta_http *hc, struct cloudmeta_resp *r, const char *path,
			   const char *const *headers, bool google, char **ret)
{
	int rc = get_text(hc, r, path, headers, false, google, ret);

	if (rc == -ENOENT)
		cloudmeta_http_fail(hc, "%s: missing (HTTP 404 or empty)", path);
	return rc;
}

/* Options that hold for every request. Returns 0 or -EINVAL (logged). */
static int curl_setup(struct cloudmeta_http *hc, uint32_t timeout_ms)
{
	CURL *h = hc->curl;
	CURLcode c = CURLE_OK;

#define CM_SETOPT(opt, val)                                                                        \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(h, opt, val);                                         \
	} while (0)
	CM_SETOPT(CURLOPT_NOSIGNAL, 1L);
	CM_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	CM_SETOPT(CURLOPT_PROXY, ""); /* never through http_proxy: the service is link-local */
	CM_SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	CM_SETOPT(CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	CM_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	CM_SETOPT(CURLOPT_ERRORBUFFER, hc->curl_err);
	CM_SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	CM_SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	CM_SETOPT(CURLOPT_NOPROGRESS, 0L);
	CM_SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	CM_SETOPT(CURLOPT_XFERINFODATA, hc);
	CM_SETOPT(CURLOPT_USERAGENT, "labelflowd/" PACKAGE_VERSION);
#undef CM_SETOPT
	if (c != CURLE_OK) {
		log_error("cloud: libcurl refused an option: %s", curl_easy_strerror(c));
		return -EINVAL;
	}
	return 0;
}

int cloudmeta_http_init(struct cloudmeta_http *hc, const char *base_url, uint32_t timeout_ms,
			gint *stop)
{
	hc->base_url = base_url;
	hc->stop = stop;
	hc->curl = curl_easy_init();
	if (!hc->curl) {
		log_error("cloud: cannot create a libcurl handle");
		return -ENOMEM;
	}
	return curl_setup(hc, timeout_ms);
}

void cloudmeta_http_done(struct cloudmeta_http *hc)
{
	if (hc->curl)
		curl_easy_cleanup(hc->curl);
	hc->curl = NULL;
}
