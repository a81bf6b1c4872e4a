/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_http: the Kubernetes client's HTTP layer: each resource's libcurl easy handle (verified
 * TLS, credentials, timeouts), the URL and headers of its next LIST or WATCH, and the callbacks
 * that route a WATCH body to the watch parser and any other body into a bounded buffer.
 * Internal to the client; runs on the client thread.
 */
#ifndef LABELFLOW_K8S_HTTP_H
#define LABELFLOW_K8S_HTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "k8s_client.h"

/* Set the options that stay the same for every request of r. Returns 0 or -EINVAL (logged). */
int k8s_http_setup(struct k8s *k, struct k8s_res *r);

/*
 * Start r's next request, what (K8S_PHASE_LIST or K8S_PHASE_WATCH), on k->multi, and reset
 * the per-request state of r. Returns 0, or -errno (r stays idle; logged when libcurl
 * refused it).
 */
int k8s_http_start(struct k8s *k, struct k8s_res *r, enum k8s_phase what);

/* Forget a response body, dropping a large buffer rather than keeping it between requests. */
void k8s_http_body_clear(struct k8s_body *b);

/* libcurl's detailed message of r's last transfer ("SSL certificate problem: ...") or its
 * generic one for res. */
const char *k8s_http_curl_error(const struct k8s_res *r, CURLcode res);
/* The message of a Status body, quoted into out, for logs; "" when there is none. */
const char *k8s_http_status_message(const struct k8s_body *b, char *out, size_t size);

#endif
