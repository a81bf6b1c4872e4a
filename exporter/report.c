// SPDX-License-Identifier: Apache-2.0
/*
 * report: formats every stage's counters into key=value lines, the same lines for the
 * periodic and final log report and for --stats-file. Names are stable: tests and
 * operators parse them.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cloudmeta.h"
#include "decode.h"
#include "export.h"
#include "flowtab.h"
#include "follow.h"
#include "inventory.h"
#include "k8s.h"
#include "libvirt.h"
#include "log.h"
#include "netflow.h"
#include "report.h"
#include "sampler.h"
#include "select.h"
#include "transport.h"

/* Where report_write() writes a backend's own counters (capture_ops.counters). */
struct report_out {
	FILE *out;	     /* borrowed; NULL: log lines */
	const char *backend; /* borrowed: the backend's name */
};

static void report_counter(const char *name, uint64_t value, void *user)
{
	const struct report_out *ro = user;

	if (ro->out)
		fprintf(ro->out, "capture.%s.%s=%" PRIu64 "\n", ro->backend, name, value);
	else
		log_info("counter capture.%s.%s=%" PRIu64, ro->backend, name, value);
}

void report_write(const struct report_src *src, FILE *out)
{
	const struct decode_stats *ds = decode_get_stats(src->decoder);
	const struct flowtab_stats *fs = flowtab_get_stats(src->flowtab);
	const struct export_stats *xs = export_get_stats(src->exporter);
	char line[256];

#define EMIT(...)                                                                                  \
	do {                                                                                       \
		snprintf(line, sizeof(line), __VA_ARGS__);                                         \
		if (out)                                                                           \
			fprintf(out, "%s\n", line);                                                \
		else                                                                               \
			log_info("counter %s", line);                                              \
	} while (0)

	if (src->cap) {
		struct capture_stats cs;
		const char *name;

		src->cap->ops->stats(src->cap, &cs);
		EMIT("capture.backend=%s", src->cap->ops->name);
		EMIT("capture.received=%" PRIu64, cs.received);
		EMIT("capture.kernel_dropped=%" PRIu64, cs.kernel_dropped);
		EMIT("capture.ifdropped=%" PRIu64, cs.ifdropped);
		if (src->follow) {
			EMIT("capture.attached=%zu",
			     src->stopped ? src->attached_at_stop : follow_attached(src->follow));
			EMIT("capture.attaches=%" PRIu64, src->attaches);
			EMIT("capture.detaches=%" PRIu64,
			     src->stopped ? src->detaches_at_stop : src->detaches);
			EMIT("capture.attach_failed=%" PRIu64,
			     follow_get_stats(src->follow)->attach_failed);
			EMIT("capture.over_limit=%" PRIu64,
			     follow_get_stats(src->follow)->over_limit);
			EMIT("capture.netlink_overflows=%" PRIu64,
			     follow_get_stats(src->follow)->overflows);
		}
		if (src->cap->ops->counters) {
			struct report_out ro = {.out = out, .backend = src->cap->ops->name};

			src->cap->ops->counters(src->cap, report_counter, &ro);
		}
		for (size_t i = 0; src->stopped && i < src->n_final_ifaces; i++) {
			const struct report_iface *f = &src->final_ifaces[i];

			EMIT("capture.iface.%s.received=%" PRIu64, f->name, f->stats.received);
			EMIT("capture.iface.%s.kernel_dropped=%" PRIu64, f->name,
			     f->stats.kernel_dropped);
			EMIT("capture.iface.%s.ifdropped=%" PRIu64, f->name, f->stats.ifdropped);
		}
		for (size_t i = 0; !src->stopped && src->cap->ops->iface_stats &&
				   src->cap->ops->iface_stats(src->cap, i, &name, &cs);
		     i++) {
			EMIT("capture.iface.%s.received=%" PRIu64, name, cs.received);
			EMIT("capture.iface.%s.kernel_dropped=%" PRIu64, name, cs.kernel_dropped);
			EMIT("capture.iface.%s.ifdropped=%" PRIu64, name, cs.ifdropped);
		}
	}
	EMIT("decode.frames=%" PRIu64, ds->frames);
	EMIT("decode.decoded=%" PRIu64, ds->decoded);
	for (int r = 0; r < DECODE_DROP_COUNT; r++)
		EMIT("decode.drop.%s=%" PRIu64, decode_drop_name(r), ds->drops[r]);
	EMIT("decode.truncated_l4=%" PRIu64, ds->truncated_l4);
	EMIT("decode.frag_first=%" PRIu64, ds->frag_first);
	EMIT("decode.frag_matched=%" PRIu64, ds->frag_matched);
	EMIT("decode.frag_unmatched=%" PRIu64, ds->frag_unmatched);
	EMIT("decode.frag_table_full=%" PRIu64, ds->frag_table_full);
	EMIT("decode.tunnelled=%" PRIu64, ds->tunnelled);
	for (int t = 1; t < DECODE_TUNNEL_COUNT; t++)
		EMIT("decode.tunnel.%s=%" PRIu64, decode_tunnel_name(t), ds->tunnel_type[t]);
	EMIT("decode.outer_views=%" PRIu64, ds->outer_views);
	EMIT("decode.tunnel_malformed=%" PRIu64, ds->tunnel_malformed);
	EMIT("decode.tunnel_not_ip=%" PRIu64, ds->tunnel_not_ip);
	EMIT("decode.tunnel_outer_frag=%" PRIu64, ds->tunnel_outer_frag);
	EMIT("flow.packets=%" PRIu64, fs->packets);
	EMIT("flow.octets=%" PRIu64, fs->octets);
	EMIT("flow.created=%" PRIu64, fs->flows_created);
	EMIT("flow.active=%" PRIu64, fs->flows_active);
	EMIT("flow.evictions=%" PRIu64, fs->evictions);
	EMIT("flow.ended.idle=%" PRIu64, fs->ended[FLOWTAB_END_IDLE]);
	EMIT("flow.ended.active=%" PRIu64, fs->ended[FLOWTAB_END_ACTIVE]);
	EMIT("flow.ended.end_of_flow=%" PRIu64, fs->ended[FLOWTAB_END_EOF_DETECTED]);
	EMIT("flow.ended.forced=%" PRIu64, fs->ended[FLOWTAB_END_FORCED]);
	EMIT("flow.ended.lack_of_resources=%" PRIu64, fs->ended[FLOWTAB_END_LACK_OF_RESOURCES]);
	EMIT("export.records=%" PRIu64, xs->records);
	EMIT("export.packets=%" PRIu64, xs->packets);
	EMIT("export.octets=%" PRIu64, xs->octets);
	EMIT("export.labelled_src=%" PRIu64, xs->labelled_src);
	EMIT("export.labelled_dst=%" PRIu64, xs->labelled_dst);
	EMIT("export.rev_packets=%" PRIu64, xs->rev_packets);
	EMIT("export.rev_octets=%" PRIu64, xs->rev_octets);
	if (src->select) {
		const struct select_stats *ss = select_get_stats(src->select);

		EMIT("export.selected=%" PRIu64, ss->selected);
		EMIT("export.unselected=%" PRIu64, ss->unselected);
		EMIT("export.unselected_packets=%" PRIu64, ss->unselected_packets);
		EMIT("export.unselected_octets=%" PRIu64, ss->unselected_octets);
		EMIT("export.select_bad_labels=%" PRIu64, ss->bad_labels);
	}
	if (src->sampler) {
		struct sampler_stats ss = *sampler_get_stats(src->sampler);

		/* A backend that samples in the kernel hands main no frames to sample. */
		if (src->cap && src->cap->ops->sampling_stats)
			src->cap->ops->sampling_stats(src->cap, &ss);
		EMIT("sampling.interval=%u", sampler_interval(src->sampler));
		EMIT("sampling.observed=%" PRIu64, ss.observed);
		EMIT("sampling.selected=%" PRIu64, ss.selected);
	}
	for (size_t i = 0; i < export_n_targets(src->exporter); i++) {
		const char *name = "";
		const struct transport_stats *ts = export_target_stats(src->exporter, i, &name);
		const struct netflow_stats *ns = export_target_netflow_stats(src->exporter, i);

		EMIT("target.%s.msgs_sent=%" PRIu64, name, ts->msgs_sent);
		EMIT("target.%s.bytes_sent=%" PRIu64, name, ts->bytes_sent);
		EMIT("target.%s.msgs_dropped=%" PRIu64, name, ts->msgs_dropped);
		EMIT("target.%s.template_sends=%" PRIu64, name, ts->template_sends);
		EMIT("target.%s.connects=%" PRIu64, name, ts->connects);
		EMIT("target.%s.connect_failures=%" PRIu64, name, ts->connect_failures);
		EMIT("target.%s.send_errors=%" PRIu64, name, ts->send_errors);
		EMIT("target.%s.queued=%" PRIu64, name, ts->queued);
		EMIT("target.%s.unacked=%" PRIu64, name, ts->unacked);
		EMIT("target.%s.msgs_retransmitted=%" PRIu64, name, ts->msgs_retransmitted);
		if (ns) {
			EMIT("target.%s.records=%" PRIu64, name, ns->records);
			EMIT("target.%s.data_msgs=%" PRIu64, name, ns->data_msgs);
			EMIT("target.%s.template_msgs=%" PRIu64, name, ns->template_msgs);
			EMIT("target.%s.strings_truncated=%" PRIu64, name, ns->strings_truncated);
			EMIT("target.%s.v5_ipv6_dropped=%" PRIu64, name, ns->v5_ipv6_dropped);
			EMIT("target.%s.v5_split_records=%" PRIu64, name, ns->v5_split_records);
			EMIT("target.%s.v5_ifindex_zeroed=%" PRIu64, name, ns->v5_ifindex_zeroed);
			EMIT("target.%s.times_clamped=%" PRIu64, name, ns->times_clamped);
			EMIT("target.%s.encode_errors=%" PRIu64, name, ns->encode_errors);
		}
	}
	if (src->inventory) {
		const struct inventory_stats *is = inventory_get_stats(src->inventory);

		EMIT("inventory.loads_ok=%" PRIu64, is->loads_ok);
		EMIT("inventory.loads_failed=%" PRIu64, is->loads_failed);
		EMIT("inventory.endpoints=%" PRIu64, is->endpoints);
		EMIT("inventory.subnets=%" PRIu64, is->subnets);
	}
	if (src->k8s) {
		struct k8s_stats ks;
		uint64_t events = 0, relists = 0, gone = 0, bookmarks = 0, errors = 0;
		uint64_t reconnects = 0, malformed = 0;

		k8s_get_stats(src->k8s, &ks);
		for (int k = 0; k < K8S_KIND_COUNT; k++) {
			const struct k8s_resource_stats *r = &ks.res[k];

			events += r->events;
			relists += r->relists;
			gone += r->gone;
			bookmarks += r->bookmarks;
			errors += r->errors;
			reconnects += r->reconnects;
			malformed += r->malformed + r->oversized;
			EMIT("kubernetes.%s.objects=%" PRIu64, k8s_kind_name(k),
			     ks.store.objects[k]);
			EMIT("kubernetes.%s.events=%" PRIu64, k8s_kind_name(k), r->events);
			EMIT("kubernetes.%s.relists=%" PRIu64, k8s_kind_name(k), r->relists);
		}
		EMIT("kubernetes.synced=%d", ks.synced ? 1 : 0);
		EMIT("kubernetes.sync_ms=%" PRIu64, ks.sync_ms);
		EMIT("kubernetes.metadata_age_ms=%" PRIu64, ks.metadata_age_ms);
		EMIT("kubernetes.events=%" PRIu64, events);
		EMIT("kubernetes.relists=%" PRIu64, relists);
		EMIT("kubernetes.gone=%" PRIu64, gone);
		EMIT("kubernetes.bookmarks=%" PRIu64, bookmarks);
		EMIT("kubernetes.errors=%" PRIu64, errors);
		EMIT("kubernetes.reconnects=%" PRIu64, reconnects);
		EMIT("kubernetes.malformed=%" PRIu64, malformed);
		EMIT("kubernetes.token_reads=%" PRIu64, ks.token_reads);
		EMIT("kubernetes.auth_failures=%" PRIu64, ks.auth_failures);
		EMIT("kubernetes.rejected=%" PRIu64,
		     ks.store.rejected + ks.store.oversized + ks.store.over_limit);
		EMIT("kubernetes.tombstones=%" PRIu64, ks.store.tombstones);
		EMIT("kubernetes.pods_indexed=%" PRIu64, ks.store.pods_indexed);
		EMIT("kubernetes.publishes=%" PRIu64, ks.store.publishes);
		EMIT("kubernetes.records_before_sync=%" PRIu64,
		     src->k8s_synced ? src->k8s_unsynced_records
				     : export_get_stats(src->exporter)->records);
	}
	if (src->libvirt) {
		const struct libvirt_stats *ls = libvirt_get_stats(src->libvirt);

		EMIT("libvirt.domains=%" PRIu64, ls->domains);
		EMIT("libvirt.interfaces=%" PRIu64, ls->interfaces);
		EMIT("libvirt.endpoints=%" PRIu64, ls->endpoints);
		EMIT("libvirt.files_bad=%" PRIu64, ls->files_bad);
		EMIT("libvirt.observed=%" PRIu64, ls->observed);
		EMIT("libvirt.learned=%" PRIu64, ls->learned);
		EMIT("libvirt.learned_full=%" PRIu64, ls->learned_full);
		EMIT("libvirt.publishes=%" PRIu64, ls->publishes);
	}
	if (src->cloud) {
		struct cloudmeta_stats cs;

		cloudmeta_get_stats(src->cloud, &cs);
		EMIT("cloud.provider=%s", cloudmeta_provider_name(cs.provider));
		EMIT("cloud.fetches_ok=%" PRIu64, cs.fetches_ok);
		EMIT("cloud.fetches_failed=%" PRIu64, cs.fetches_failed);
		EMIT("cloud.publishes=%" PRIu64, cs.publishes);
		EMIT("cloud.last_ok_ms=%" PRIu64, cs.last_ok_ms);
	}
#undef EMIT
}
