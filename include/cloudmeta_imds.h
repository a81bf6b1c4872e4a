/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cloudmeta_imds: one round of metadata requests per provider (AWS IMDSv2, GCP, Azure IMDS)
 * and the parsing of their answers into a view. It blocks on the HTTP client's requests; call
 * it from the metadata thread only.
 */
#ifndef LABELFLOW_CLOUDMETA_IMDS_H
#define LABELFLOW_CLOUDMETA_IMDS_H

#include "cloudmeta_http.h"
#include "cloudmeta_view.h"

/*
 * Ask v->provider's metadata service everything a view holds, into v (empty, from
 * cloudmeta_view_new). r is the response buffer the requests share. Returns 0 with v filled,
 * or -errno with hc->err describing the failure (v then partly filled: free it).
 */
int cloudmeta_imds_fetch(struct cloudmeta_http *hc, struct cloudmeta_resp *r,
			 struct cloudmeta_view *v);

#endif
