/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudmeta_http: the cloud metadata source's HTTP client: one libcurl easy handle that sends
 * bounded plain requests to the metadata service (never via a proxy) and describes any failure
 * in one error buffer. It blocks for at most timeout_ms per request; use it from one thread.
 */
#ifndef LABELFLOW_CLOUDMETA_HTTP_H
#define LABELFLOW_CLOUDMETA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <glib.h>

/* Longest single value (id, zone, token) accepted. */
#define CLOUDMETA_MAX_VALUE_BYTES 512u
#define CLOUDMETA_ERRBUF	  768u
/* Longest part of a server's value printed; quote buffers are CLOUDMETA_QUOTE_BYTES + 8. */
#define CLOUDMETA_QUOTE_BYTES 64u

struct cloudmeta_http {
	CURL *curl;	      /* owned */
	const char *base_url; /* borrowed: without a trailing '/' */
	gint *stop;	      /* borrowed, g_atomic: non-zero aborts a request in flight */
	char curl_err[CURL_ERROR_SIZE];
	char err[CLOUDMETA_ERRBUF]; /* why the last request (or the round) failed */
};

/* The answer to one request. */
struct cloudmeta_resp {
	GString *body;	    /* owned */
	bool google_flavor; /* carried "Metadata-Flavor: Google" */
	bool too_big;
};

/*
 * Create the handle with the options every request shares (timeout_ms for the whole request,
 * connect included). base_url and stop stay borrowed. Returns 0 or -errno (logged); call
 * cloudmeta_http_done either way. The caller initialises libcurl (curl_global_init).
 */
int cloudmeta_http_init(struct cloudmeta_http *hc, const char *base_url, uint32_t timeout_ms,
			gint *stop);
/* Accepts a zeroed or half-initialised client. */
void cloudmeta_http_done(struct cloudmeta_http *hc);

/* Describe the current failure in hc->err (printf-style). */
void cloudmeta_http_fail(struct cloudmeta_http *hc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A usable text value: UTF-8, no control bytes except newlines when list. */
bool cloudmeta_http_text_ok(const char *s, size_t len, bool list);

/*
 * One request to base_url + path with the given extra headers (NULL-terminated). Returns
 * the HTTP status with r->body filled, or -errno (transport failure, hc->err written).
 */
int cloudmeta_http_request(struct cloudmeta_http *hc, const char *method, const char *path,
			   const char *const *headers, struct cloudmeta_resp *r);

/*
 * GET a text value (one line, or a list of lines with list; google: the answer must carry
 * "Metadata-Flavor: Google"). get_opt returns 0 with *ret (g_free it; trailing blanks removed;
 * NULL when absent: HTTP 404 or an empty answer), or -errno with hc->err written. get_req
 * (never a list) is the same, but absent is an error: -ENOENT.
 */
int cloudmeta_http_get_opt(struct cloudmeta_http *hc, struct cloudmeta_resp *r, const char *path,
			   const char *const *headers, bool list, bool google, char **ret);
int cloudmeta_http_get_req(struct cloudmeta_http *hc, struct cloudmeta_resp *r, const char *path,
			   const char *const *headers, bool google, char **ret);

#endif
