/* SPDX-License-Identifier: Apache-2.0 */
/*
 * k8s_res: one resource's LIST/WATCH state machine in the Kubernetes client: what a finished
 * request or a watch event means (items into the store, relist on 410 Gone, backoff, first
 * sync) and which request comes next. Internal to the client; runs on the client thread.
 */
#ifndef LABELFLOW_K8S_RES_H
#define LABELFLOW_K8S_RES_H

#include <curl/curl.h>

#include "k8s_client.h"
#include "k8s_watch.h"

/*
 * The watch parser's callback for resource user (a struct k8s_res *), called under k->lock:
 * applies ADDED/MODIFIED/DELETED to the store and follows resourceVersions. Returns 0, or 1
 * to cut the stream on an ERROR event (r->cut says why).
 */
int k8s_res_on_event(const struct k8s_watch_event *ev, void *user);

/*
 * r's request of phase was (LIST or WATCH; r is idle again) finished with res: take its
 * result and schedule r's next request (r->next, r->retry_at_ms).
 */
void k8s_res_done(struct k8s *k, struct k8s_res *r, enum k8s_phase was, CURLcode res);

#endif
