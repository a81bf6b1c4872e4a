// SPDX-License-Identifier: Apache-2.0
/*
 * k8s_client: what every part of the client does the same way. Retries wait in a jittered
 * exponential backoff (honouring Retry-After, capped) while the store keeps the last known
 * view; only the first failure after a success is logged, and a failure every resource sees
 * at once (the server is down) is logged once for all. Counters live under k->lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "k8s_client.h"
#include "kubeconfig.h"
#include "log.h"

#define K8S_RETRY_AFTER_MAX_S 300u

uint64_t k8s_client_mono_ms(void)
{
	return (uint64_t)(g_get_monotonic_time() / 1000);
}

/* The store's clock: wall-clock ms, the time base of flow timestamps. */
uint64_t k8s_client_wall_ms(void)
{
	return (uint64_t)(g_get_real_time() / 1000);
}

void k8s_client_set_str(char **field, const char *value)
{
	char *copy = value ? strdup(value) : NULL;

	if (value && !copy)
		return; /* out of memory: keep the old value */
	free(*field);
	*field = copy;
}

/* Wait before the next attempt: jittered exponential backoff, at least Retry-After. */
void k8s_client_backoff(struct k8s *k, struct k8s_res *r, enum k8s_phase next)
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
	r->retry_at_ms = k8s_client_mono_ms() + delay;
	pthread_mutex_lock(&k->lock);
	r->st.backoffs++;
	r->st.backoff_ms = delay;
	pthread_mutex_unlock(&k->lock);
}

void k8s_client_schedule_now(struct k8s_res *r, enum k8s_phase next)
{
	r->next = next;
	r->retry_at_ms = 0;
}

/* A request succeeded (a LIST, or a WATCH answered 200): failures are over. */
void k8s_client_recovered(struct k8s *k, struct k8s_res *r)
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
void k8s_client_healthy(struct k8s *k, struct k8s_res *r)
{
	k8s_client_recovered(k, r);
	r->backoff_ms = 0;
	r->short_ends = 0;
}

void k8s_client_count_error(struct k8s *k, struct k8s_res *r)
{
	pthread_mutex_lock(&k->lock);
	r->st.errors++;
	pthread_mutex_unlock(&k->lock);
}

/*
 * The first failure after a success is logged; the rest are counted. A server-wide failure
 * (network, 5xx, 429: every resource sees it at once) is logged by one resource only.
 */
void k8s_client_log_failure(struct k8s *k, struct k8s_res *r, bool server_wide, const char *fmt,
			    ...)
{
	char msg[512];
	va_list ap;

	k8s_client_count_error(k, r);
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

bool k8s_client_reread_token(struct k8s *k, bool forced)
{
	char err[512];
	char *tok = NULL;

	if (!k->kc.token_file)
		return false;
	k->token_read_ms = k8s_client_mono_ms();
	if (kubeconfig_read_token(k->kc.token_file, &tok, err, sizeof(err)) < 0) {
		if (!k->logged_token_error || forced)
			log_warn("kubernetes: %s; keeping the previous token", err);
		k->logged_token_error = true;
		return false;
	}
	k->logged_token_error = false;
	if (k->token && strcmp(k->token, tok) == 0) {
		free(tok);
		return false;
	}
	free(k->token);
	k->token = tok;
	pthread_mutex_lock(&k->lock);
	k->token_reads++;
	pthread_mutex_unlock(&k->lock);
	log_debug("kubernetes: token file %s changed; using the new token", k->kc.token_file);
	return true;
}
