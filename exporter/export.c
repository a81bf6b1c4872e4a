// SPDX-License-Identifier: Apache-2.0
/*
 * export: fans each flow record out to every collector. Both ends are labelled once per
 * record from one held enrich snapshot (re-acquired as soon as its generation
 * changes), then encoded by each collector's own encoder (IPFIX, or NetFlow v9/v5 by
 * target kind) and delivered by its own transport, so a slow or absent collector only
 * fills its own queue.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#include "export.h"
#include "log.h"

/* One collector: exactly one of the two encoders is set, by the target's kind. */
struct target {
	struct exporter *x;	    /* borrowed: the owner */
	struct ipfix_encoder *enc;  /* owned; IPFIX targets (file, udp, tcp, tls) */
	struct netflow_encoder *nf; /* owned; netflow9/netflow5 targets */
	struct transport *tp;	    /* owned */
	char name[300];		    /* "udp:host:port", for counters */
};

struct exporter {
	const struct registry *reg;   /* borrowed; outlives the exporter */
	struct enrich *enrich;	      /* borrowed; outlives the exporter */
	struct enrich_snapshot *snap; /* reference held until the next generation */
	struct export_config config;
	struct target **targets; /* owned array of owned targets (stable addresses) */
	size_t n_targets;
	uint64_t now_ms;     /* wall clock of the latest tick: message export time */
	GHashTable *ifnames; /* owned: ifindex (as pointer) -> owned name */
	export_observe_fn observe;
	void *observe_user;    /* borrowed */
	struct select *select; /* borrowed; NULL = export every record */
	struct export_stats stats;
};

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct exporter *export_new(const struct registry *reg, struct enrich *e,
			    const struct export_config *config)
{
	struct exporter *x;

	if (!reg || !e || !config)
		return NULL;
	x = calloc(1, sizeof(*x));
	if (!x) {
		log_error("export: out of memory");
		return NULL;
	}
	x->reg = reg;
	x->enrich = e;
	x->config = *config;
	/* A configuration that never set the NetFlow part (version 0) gets its defaults. */
	if (!x->config.netflow.version)
		netflow_config_defaults(&x->config.netflow);
	x->snap = enrich_snapshot_acquire(e);
	x->now_ms = wall_ms();
	x->ifnames = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	return x;
}

int export_set_interface(struct exporter *x, uint32_t ifindex, const char *name)
{
	if (!name) {
		g_hash_table_remove(x->ifnames, GUINT_TO_POINTER(ifindex));
		return 0;
	}
	g_hash_table_replace(x->ifnames, GUINT_TO_POINTER(ifindex), g_strdup(name));
	return 0;
}

void export_set_observer(struct exporter *x, export_observe_fn fn, void *user)
{
	x->observe = fn;
	x->observe_user = user;
}

void export_set_select(struct exporter *x, struct select *sel)
{
	x->select = sel;
}

/* Frees without lingering: callers drain first (export_drain). */
static void target_free(struct target *tg)
{
	if (!tg)
		return;
	ipfix_encoder_free(tg->enc);
	netflow_encoder_free(tg->nf);
	transport_free(tg->tp, 0);
	free(tg);
}

static void target_flush(struct target *tg)
{
	if (tg->enc)
		ipfix_encoder_flush(tg->enc);
	else
		netflow_encoder_flush(tg->nf);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void export_drain(struct exporter *x, uint32_t linger_ms)
{
	uint64_t deadline = mono_ms() + linger_ms;

	if (!x)
		return;
	/* Everything pending goes to the transports first, then each gets what is left. */
	for (size_t i = 0; i < x->n_targets; i++)
		target_flush(x->targets[i]);
	for (size_t i = 0; i < x->n_targets; i++) {
		uint64_t now = mono_ms();

		transport_drain(x->targets[i]->tp,
				now >= deadline ? 0 : (uint32_t)(deadline - now));
	}
}

void export_free(struct exporter *x, uint32_t linger_ms)
{
	if (!x)
		return;
	export_drain(x, linger_ms);
	for (size_t i = 0; i < x->n_targets; i++)
		target_free(x->targets[i]);
	free(x->targets);
	if (x->ifnames)
		g_hash_table_destroy(x->ifnames);
	if (x->snap)
		enrich_snapshot_release(x->snap);
	free(x);
}

static int on_message(const uint8_t *msg, size_t len, enum ipfix_msg_kind kind, uint32_t seq_after,
		      void *user)
{
	struct target *tg = user;

	return transport_send(tg->tp, msg, len, kind == IPFIX_MSG_TEMPLATES, seq_after,
			      tg->x->now_ms);
}

static int on_netflow(const uint8_t *msg, size_t len, bool is_template, uint32_t seq_after,
		      void *user)
{
	struct target *tg = user;

	return transport_send(tg->tp, msg, len, is_template, seq_after, tg->x->now_ms);
}

static bool is_netflow(enum transport_kind kind)
{
	return kind == TRANSPORT_NETFLOW9 || kind == TRANSPORT_NETFLOW5;
}

/* The target's encoder, with its first templates (a file starts with them, TCP caches them). */
static int target_encoder(struct exporter *x, struct target *tg, const struct transport_spec *spec,
			  uint64_t now_ms, uint16_t *ret_max)
{
	struct netflow_config nc = x->config.netflow;
	struct ipfix_config ic = x->config.ipfix;

	if (is_netflow(spec->kind)) {
		nc.version = spec->kind == TRANSPORT_NETFLOW9 ? NETFLOW_V9 : NETFLOW_V5;
		nc.observation_domain = x->config.ipfix.observation_domain;
		nc.max_msg_bytes = x->config.udp_max_msg_bytes;
		*ret_max = nc.max_msg_bytes;
		tg->nf = netflow_encoder_new(x->reg, &nc, on_netflow, tg, now_ms);
		if (!tg->nf)
			return -EINVAL;
		return netflow_encoder_templates(tg->nf, now_ms);
	}
	ic.max_msg_bytes = spec->kind == TRANSPORT_UDP ? x->config.udp_max_msg_bytes
						       : x->config.stream_max_msg_bytes;
	*ret_max = ic.max_msg_bytes;
	tg->enc = ipfix_encoder_new(x->reg, &ic, on_message, tg);
	if (!tg->enc)
		return -EINVAL;
	return ipfix_encoder_templates(tg->enc, now_ms);
}

int export_add_target(struct exporter *x, const struct transport_spec *spec, uint64_t now_ms)
{
	struct target **grown, *tg;
	uint16_t max_bytes = 0;
	int ret;

	tg = calloc(1, sizeof(*tg));
	grown = realloc(x->targets, (x->n_targets + 1) * sizeof(*grown));
	if (!tg || !grown) {
		free(tg);
		if (grown)
			x->targets = grown;
		log_error("export: out of memory adding a target");
		return -ENOMEM;
	}
	x->targets = grown;
	x->now_ms = now_ms;
	tg->x = x;
	transport_spec_str(spec, tg->name, sizeof(tg->name));
	tg->tp = transport_new(spec, &x->config.transport);
	if (!tg->tp) {
		target_free(tg);
		return -EIO;
	}
	ret = target_encoder(x, tg, spec, now_ms, &max_bytes);
	if (ret == -EINVAL) {
		target_free(tg);
		return ret;
	}
	if (ret < 0) {
		log_error("export target '%s': cannot build the template set", tg->name);
		target_free(tg);
		return ret;
	}
	x->targets[x->n_targets++] = tg;
	log_info("export target '%s' added (messages up to %u bytes)", tg->name, max_bytes);
	return 0;
}

size_t export_n_targets(const struct exporter *x)
{
	return x ? x->n_targets : 0;
}

static void to_addr(struct enrich_addr *a, const uint8_t *addr, uint8_t ip_version)
{
	memset(a, 0, sizeof(*a));
	a->family = ip_version;
	memcpy(a->addr, addr, ip_version == 4 ? 4 : 16);
}

/* Swap in the current snapshot if a source published since ours was taken. */
static void refresh_snapshot(struct exporter *x)
{
	if (enrich_generation(x->enrich) == enrich_snapshot_generation(x->snap))
		return;
	enrich_snapshot_release(x->snap);
	x->snap = enrich_snapshot_acquire(x->enrich);
}

void export_flow(const struct flow_record *rec, void *user)
{
	struct exporter *x = user;
	struct enrich_labels src, dst;
	struct enrich_addr a;
	const char *ifname = NULL;
	bool have_src, have_dst;

	x->stats.records++;
	x->stats.packets += rec->packets;
	x->stats.octets += rec->octets;
	x->stats.rev_packets += rec->rev_packets;
	x->stats.rev_octets += rec->rev_octets;
	refresh_snapshot(x); /* one atomic load per record: labels are as of the export */
	to_addr(&a, rec->key.src_addr, rec->key.ip_version);
	have_src = enrich_lookup(x->snap, &a, rec->start_ms, &src);
	to_addr(&a, rec->key.dst_addr, rec->key.ip_version);
	have_dst = enrich_lookup(x->snap, &a, rec->start_ms, &dst);
	x->stats.labelled_src += have_src;
	x->stats.labelled_dst += have_dst;
	if (rec->key.ifindex)
		ifname = g_hash_table_lookup(x->ifnames, GUINT_TO_POINTER(rec->key.ifindex));
	if (x->observe)
		x->observe(rec, ifname, x->observe_user);
	if (x->select &&
	    !select_flow(x->select, rec, have_src ? &src : NULL, have_dst ? &dst : NULL))
		return; /* counted in the select stats */
	/* Encoders count their own refusals; nothing more to do per record here. */
	for (size_t i = 0; i < x->n_targets; i++) {
		struct target *tg = x->targets[i];

		if (tg->enc)
			ipfix_encoder_add(tg->enc, rec, ifname, have_src ? &src : NULL,
					  have_dst ? &dst : NULL, x->now_ms);
		else
			netflow_encoder_add(tg->nf, rec, ifname, have_src ? &src : NULL,
					    have_dst ? &dst : NULL, x->now_ms);
	}
}

void export_tick(struct exporter *x, uint64_t now_ms)
{
	x->now_ms = now_ms;
	refresh_snapshot(x);
	for (size_t i = 0; i < x->n_targets; i++) {
		struct target *tg = x->targets[i];

		target_flush(tg);
		transport_poll(tg->tp, now_ms);
	}
}

const struct export_stats *export_get_stats(const struct exporter *x)
{
	return &x->stats;
}

const struct transport_stats *export_target_stats(const struct exporter *x, size_t i,
						  const char **ret_name)
{
	if (i >= x->n_targets)
		return NULL;
	if (ret_name)
		*ret_name = x->targets[i]->name;
	return transport_get_stats(x->targets[i]->tp);
}

const struct netflow_stats *export_target_netflow_stats(const struct exporter *x, size_t i)
{
	if (i >= x->n_targets || !x->targets[i]->nf)
		return NULL;
	return netflow_encoder_get_stats(x->targets[i]->nf);
}
