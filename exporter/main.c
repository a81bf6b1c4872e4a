// SPDX-License-Identifier: Apache-2.0
/*
 * labelflowd: wires the pipeline capture -> decode -> flowtab -> enrich -> export from
 * the command line and the config file (cli.h), runs it (offline file or live interfaces)
 * until end of input or SIGINT/SIGTERM, flushes every flow and reports the counters
 * (report.h). Only this file exits the process.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cap_ebpf.h"
#include "cap_pcap.h"
#include "cli.h"
#include "cloudmeta.h"
#include "conf.h"
#include "decode.h"
#include "enrich.h"
#include "export.h"
#include "flowtab.h"
#include "follow.h"
#include "inventory.h"
#include "k8s.h"
#include "kit.h"
#include "libvirt.h"
#include "log.h"
#include "registry.h"
#include "report.h"
#include "sampler.h"
#include "select.h"
#include "transport.h"

#define MAIN_BATCH_FRAMES 256
/* Decoded packets handed to the flow table at once (flowtab_add_burst). */
#define MAIN_BURST_PKTS 16
#define MAIN_TICK_MS	1000

struct pipeline {
	struct conf conf;
	struct registry *registry;
	struct enrich *enrich;
	struct inventory *inventory;
	struct libvirt *libvirt;       /* owned; VM names from libvirt, or NULL */
	struct cloudmeta *cloud;       /* owned; its thread publishes node metadata, or NULL */
	struct k8s *k8s;	       /* owned; its thread follows the Kubernetes API, or NULL */
	bool k8s_synced;	       /* first full sync seen by the main loop */
	uint64_t k8s_unsynced_records; /* records exported before the first full sync */
	struct exporter *exporter;
	struct select *select;	 /* owned; export.select rules, or NULL: export all */
	struct sampler *sampler; /* owned; flow.sampling_interval > 1, or NULL */
	struct decoder *decoder;
	struct flowtab *flowtab;
	struct capture *cap;	  /* the one capture: a file, or the live backend */
	struct follow *follow;	  /* live: attaches interfaces as they come and go */
	struct capture_sink sink; /* where the capture delivers: decode/flowtab/export */
	uint64_t attaches;
	uint64_t detaches;
	bool include_from_cli; /* -i given: names are followed even if excluded */
	bool stopped;	       /* every interface detached at the end of the run */
	size_t attached_at_stop;
	uint64_t detaches_at_stop;
	/* Per-interface counters read just before the final detach (owned array). */
	struct report_iface *final_ifaces;
	size_t n_final_ifaces;
	int sigfd;
	bool stop;
	uint64_t capture_clock_ms; /* newest packet time seen: the flow table's clock */
	/* Decoded packets not yet metered; metered before any other flow table call. */
	struct decode_pkt burst[MAIN_BURST_PKTS];
	size_t n_burst;
	uint64_t last_report_ms; /* wall clock of the last periodic counter report */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Meter the packets decoded so far. Called before every other flow table call. */
static void meter_burst(struct pipeline *pl)
{
	if (pl->n_burst) {
		flowtab_add_burst(pl->flowtab, pl->burst, pl->n_burst);
		pl->n_burst = 0;
	}
}

static void on_frame(const struct capture_frame *f, void *user)
{
	struct pipeline *pl = user;

	if (f->ts_ms > pl->capture_clock_ms)
		pl->capture_clock_ms = f->ts_ms;
	if (pl->sampler && !sampler_take(pl->sampler))
		return; /* counted in the sampler stats */
	if (!decode_frame(pl->decoder, f->linktype, f->data, f->caplen, f->wirelen, f->ts_ms,
			  f->ifindex, f->direction, &pl->burst[pl->n_burst]))
		return;
	if (++pl->n_burst == MAIN_BURST_PKTS)
		meter_burst(pl);
	if (pl->conf.decode.tunnel_view == DECODE_VIEW_BOTH &&
	    decode_outer_view(pl->decoder, &pl->burst[pl->n_burst]) &&
	    ++pl->n_burst == MAIN_BURST_PKTS)
		meter_burst(pl);
}

/* One capture batch; its packets are metered before anything else touches the table. */
static int dispatch(struct pipeline *pl)
{
	int n = capture_dispatch(pl->cap, MAIN_BATCH_FRAMES, &pl->sink);

	meter_burst(pl);
	return n;
}

/* A packet the backend decoded itself (the eBPF backend's map-full fallback). */
static void on_packet(const struct decode_pkt *pkt, void *user)
{
	struct pipeline *pl = user;

	if (pkt->ts_ms > pl->capture_clock_ms)
		pl->capture_clock_ms = pkt->ts_ms;
	meter_burst(pl);
	flowtab_add(pl->flowtab, pkt);
}

/* A flow the backend metered itself (eBPF kernel map): straight to export. */
static void on_flow(const struct flow_record *rec, void *user)
{
	struct pipeline *pl = user;

	export_flow(rec, pl->exporter);
}

static void on_attach(uint32_t ifindex, const char *name, void *user)
{
	struct pipeline *pl = user;

	pl->attaches++;
	export_set_interface(pl->exporter, ifindex, name);
}

/* The interface is gone: its flows leave the cache now, then its name is forgotten. */
static void on_detach(uint32_t ifindex, void *user)
{
	struct pipeline *pl = user;

	pl->detaches++;
	meter_burst(pl); /* frames the backend handed over while detaching */
	flowtab_flush_ifindex(pl->flowtab, ifindex, FLOWTAB_END_FORCED);
	export_set_interface(pl->exporter, ifindex, NULL);
}

static int setup_signals(struct pipeline *pl)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	pl->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	return pl->sigfd < 0 ? -errno : 0;
}

/* The counters, as report.h lines to out, or to the log when out is NULL. */
static void report(const struct pipeline *pl, FILE *out)
{
	const struct report_src src = {
		.cap = pl->cap,
		.follow = pl->follow,
		.decoder = pl->decoder,
		.flowtab = pl->flowtab,
		.exporter = pl->exporter,
		.select = pl->select,
		.sampler = pl->sampler,
		.inventory = pl->inventory,
		.k8s = pl->k8s,
		.libvirt = pl->libvirt,
		.cloud = pl->cloud,
		.attaches = pl->attaches,
		.detaches = pl->detaches,
		.stopped = pl->stopped,
		.attached_at_stop = pl->attached_at_stop,
		.detaches_at_stop = pl->detaches_at_stop,
		.final_ifaces = pl->final_ifaces,
		.n_final_ifaces = pl->n_final_ifaces,
		.k8s_synced = pl->k8s_synced,
		.k8s_unsynced_records = pl->k8s_unsynced_records,
	};

	report_write(&src, out);
}

static void handle_signals(struct pipeline *pl)
{
	struct signalfd_siginfo si;

	while (read(pl->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			log_info("signal %u: flushing flows and stopping", si.ssi_signo);
			pl->stop = true;
			break;
		case SIGHUP:
			if (pl->inventory) {
				log_info("SIGHUP: reloading inventory");
				inventory_reload(pl->inventory);
			}
			if (pl->cloud)
				cloudmeta_refresh(pl->cloud);
			break;
		case SIGUSR1:
			report(pl, NULL);
			break;
		default:
			break;
		}
	}
}

/* Once a second: expire flows on the capture clock, drive export and metadata sources. */
static void tick(struct pipeline *pl, uint64_t flow_clock_ms)
{
	uint64_t wall = now_ms();

	if (pl->inventory)
		inventory_poll(pl->inventory);
	if (pl->libvirt)
		libvirt_poll(pl->libvirt, wall);
	if (pl->follow)
		follow_process(pl->follow, &pl->sink); /* retries a refused link dump */
	if (pl->k8s && !pl->k8s_synced && k8s_synced(pl->k8s)) {
		pl->k8s_synced = true;
		pl->k8s_unsynced_records = export_get_stats(pl->exporter)->records;
		if (pl->k8s_unsynced_records)
			log_info("kubernetes: synced; %" PRIu64 " records were exported before "
				 "and carry no Kubernetes labels",
				 pl->k8s_unsynced_records);
	}
	meter_burst(pl);
	flowtab_expire(pl->flowtab, flow_clock_ms);
	if (pl->cap && pl->cap->ops->expire)
		pl->cap->ops->expire(pl->cap, wall, false, &pl->sink);
	export_tick(pl->exporter, wall);
	if (pl->conf.stats_interval_ms && wall >= pl->last_report_ms + pl->conf.stats_interval_ms) {
		if (pl->last_report_ms)
			report(pl, NULL);
		pl->last_report_ms = wall;
	}
}

static int run_offline(struct pipeline *pl)
{
	uint64_t last_tick_flow = 0, last_tick_wall = now_ms();
	int n;

	for (;;) {
		n = dispatch(pl);
		if (n < 0)
			break;
		/* The flow clock follows the capture; transports and reloads follow the wall. */
		if (pl->capture_clock_ms >= last_tick_flow + MAIN_TICK_MS ||
		    now_ms() >= last_tick_wall + MAIN_TICK_MS) {
			tick(pl, pl->capture_clock_ms);
			last_tick_flow = pl->capture_clock_ms;
			last_tick_wall = now_ms();
			handle_signals(pl);
			if (pl->stop)
				break;
		}
	}
	return n == -ENODATA || pl->stop ? 0 : 1;
}

static int run_live(struct pipeline *pl)
{
	struct pollfd pfd[3];
	uint64_t last_tick = now_ms();
	int ret = 0;

	pfd[0].fd = pl->sigfd;
	pfd[1].fd = pl->cap->ops->fd(pl->cap);
	pfd[2].fd = follow_fd(pl->follow);
	for (int i = 0; i < 3; i++)
		pfd[i].events = POLLIN;
	while (!pl->stop) {
		int rc = poll(pfd, 3, 100);
		int n;

		if (rc < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			ret = 1;
			break;
		}
		if (pfd[0].revents)
			handle_signals(pl);
		/* Interfaces first, so frames of a new interface find it attached. */
		if (pfd[2].revents && follow_process(pl->follow, &pl->sink) < 0) {
			ret = 1;
			break;
		}
		/* Drain each round: ring timeouts can leave frames without POLLIN. */
		do {
			n = dispatch(pl);
		} while (n == MAIN_BATCH_FRAMES);
		if (n < 0) {
			ret = 1;
			break;
		}
		if (now_ms() >= last_tick + MAIN_TICK_MS) {
			last_tick = now_ms();
			tick(pl, last_tick);
		}
	}
	/* Frames still in the rings belong to this run's counts. */
	while (dispatch(pl) > 0)
		;
	return ret;
}

static int open_captures(struct pipeline *pl)
{
	struct conf *c = &pl->conf;
	struct follow_config fc = {
		.on_attach = on_attach,
		.on_detach = on_detach,
		.user = pl,
	};

	pl->sink = (struct capture_sink){
		.frame = on_frame,
		.packet = on_packet,
		.flow = on_flow,
		.user = pl,
	};
	if (c->read_file) {
		pl->cap = cap_pcap_open_file(c->read_file);
		return pl->cap ? 0 : -EIO;
	}
	c->live.idle_timeout_ms = c->flow.idle_timeout_ms;
	c->live.active_timeout_ms = c->flow.active_timeout_ms;
	c->live.tunnel_view = c->decode.tunnel_view;
	c->live.biflow = c->flow.biflow;
	c->live.sampling_interval = c->export.ipfix.sampling_interval;
	pl->cap = c->backend == CONF_BACKEND_EBPF ? cap_ebpf_new(&c->live)
						  : cap_pcap_new_live(&c->live);
	if (!pl->cap)
		return -EIO;
	fc.static_names = pl->include_from_cli;
	for (size_t i = 0; i < c->include.n; i++)
		fc.include[fc.n_include++] = c->include.v[i];
	for (size_t i = 0; i < c->exclude.n; i++)
		fc.exclude[fc.n_exclude++] = c->exclude.v[i];
	log_info("live capture with the %s backend; following interfaces that match %zu "
		 "pattern(s)",
		 pl->cap->ops->name, c->include.n);
	pl->follow = follow_new(pl->cap, &fc);
	return pl->follow ? 0 : -EIO;
}

_Static_assert((int)CONF_CLOUD_AWS == (int)CLOUDMETA_AWS &&
		       (int)CONF_CLOUD_AZURE == (int)CLOUDMETA_AZURE &&
		       (int)CONF_CLOUD_AUTO == (int)CLOUDMETA_AUTO,
	       "enrich.cloud values map 1:1 to cloudmeta providers");

/* Flows on a VM's tap device teach the libvirt source the VM's address. */
static void observe_vm_flow(const struct flow_record *rec, const char *ifname, void *user)
{
	(void)ifname;
	libvirt_observe(user, rec->key.ifindex, rec->key.direction, rec->key.ip_version,
			rec->key.src_addr, rec->key.dst_addr);
}

/* Registry, metadata and exporter: everything --check-config validates. */
static int build_export(struct pipeline *pl)
{
	struct conf *c = &pl->conf;
	char err[1024];

	pl->registry = registry_load(c->elements_file, c->templates_file, c->pen, err, sizeof(err));
	if (!pl->registry) {
		log_error("%s", err);
		return -EINVAL;
	}
	pl->enrich = enrich_new();
	if (!pl->enrich)
		return -ENOMEM;
	if (c->inventory) {
		pl->inventory = inventory_new(pl->enrich, c->inventory);
		if (!pl->inventory || inventory_reload(pl->inventory) < 0)
			return -EINVAL;
	}
	if (c->libvirt) {
		struct libvirt_config lc = {
			.domain_dir = c->libvirt_dir,
			.leases_dir = c->libvirt_leases_dir,
		};

		pl->libvirt = libvirt_new(pl->enrich, &lc);
		if (!pl->libvirt)
			return -ENOMEM;
		libvirt_poll(pl->libvirt, now_ms());
	}
	if (c->cloud != CONF_CLOUD_OFF) {
		struct cloudmeta_config cc = {
			.provider = (enum cloudmeta_provider)c->cloud,
			.base_url = c->cloud_url,
			.timeout_ms = c->cloud_timeout_ms,
			.refresh_ms = c->cloud_refresh_ms,
		};

		pl->cloud = cloudmeta_new(pl->enrich, &cc);
		if (!pl->cloud)
			return -EINVAL;
	}
	c->export.ipfix.biflow = c->flow.biflow;
	c->export.netflow.sampling_interval = c->export.ipfix.sampling_interval;
	if (c->flow.biflow && !registry_template_find(pl->registry, REGISTRY_BIFLOW, 4) &&
	    !registry_template_find(pl->registry, REGISTRY_BIFLOW, 6)) {
		log_error("flow.biflow: '%s' has no biflow template (kind = \"biflow\")",
			  c->templates_file);
		return -EINVAL;
	}
	if (c->export.ipfix.sampling_interval > 1 &&
	    !registry_template_find(pl->registry, REGISTRY_SAMPLING, 0)) {
		log_error("flow.sampling_interval: '%s' has no sampling template "
			  "(kind = \"sampling\") to tell collectors the interval",
			  c->templates_file);
		return -EINVAL;
	}
	pl->exporter = export_new(pl->registry, pl->enrich, &c->export);
	if (!pl->exporter)
		return -ENOMEM;
	if (c->select.n) {
		char why[384];

		pl->select = select_new();
		if (!pl->select)
			return -ENOMEM;
		for (size_t i = 0; i < c->select.n; i++) {
			const struct conf_select_rule *r = &c->select.rule[i];

			if (select_add_rule(pl->select, (const char *const *)r->key,
					    (const char *const *)r->value, r->n, why,
					    sizeof(why)) < 0) {
				log_error("export.select rule %zu: %s", i + 1, why);
				return -EINVAL;
			}
		}
		export_set_select(pl->exporter, pl->select);
	}
	if (pl->libvirt)
		export_set_observer(pl->exporter, observe_vm_flow, pl->libvirt);
	return 0;
}

static int add_targets(struct pipeline *pl)
{
	struct conf *c = &pl->conf;
	uint64_t now = now_ms();

	if (c->targets.n == 0) {
		if (!c->read_file) {
			log_error(
				"no export target: give -e udp:HOST:PORT (or set export.targets)");
			return -EINVAL;
		}
		if (isatty(STDOUT_FILENO)) {
			log_error("no export target and standard output is a terminal: give -e "
				  "file:PATH, or redirect standard output (IPFIX is binary)");
			return -EINVAL;
		}
		conf_list_add(&c->targets, "file:-");
	}
	for (size_t i = 0; i < c->targets.n; i++) {
		struct transport_spec spec;
		char err[256];

		if (transport_parse(c->targets.v[i], &spec, err, sizeof(err)) < 0) {
			log_error("export target '%s': %s", c->targets.v[i], err);
			return -EINVAL;
		}
		if (export_add_target(pl->exporter, &spec, now) < 0)
			return -EIO;
	}
	return 0;
}

/*
 * End of a live run: remember what is attached and each interface's counters (the ring
 * was drained; capture is over) before every interface is detached for the final flush.
 */
static void snapshot_ifaces(struct pipeline *pl)
{
	const char *name;
	struct capture_stats cs;
	size_t n = 0;

	pl->attached_at_stop = follow_attached(pl->follow);
	pl->detaches_at_stop = pl->detaches;
	if (!pl->cap->ops->iface_stats)
		return;
	while (pl->cap->ops->iface_stats(pl->cap, n, &name, &cs))
		n++;
	pl->final_ifaces = calloc(n ? n : 1, sizeof(*pl->final_ifaces));
	if (!pl->final_ifaces)
		return;
	for (size_t i = 0; i < n && pl->cap->ops->iface_stats(pl->cap, i, &name, &cs); i++) {
		snprintf(pl->final_ifaces[i].name, sizeof(pl->final_ifaces[i].name), "%s", name);
		pl->final_ifaces[i].stats = cs;
		pl->n_final_ifaces = i + 1;
	}
}

/*
 * The Kubernetes source: with --kubeconfig / kubernetes.enabled, or in a pod (service
 * account present). Offline, the first full sync is awaited so the file is labelled.
 */
static int start_kubernetes(struct pipeline *pl)
{
	struct conf_kubernetes *kc = &pl->conf.k8s;
	struct k8s_config cfg = {
		.kubeconfig = kc->kubeconfig,
		.sa_dir = kc->incluster_dir,
		.page_limit = kc->page_limit,
		.watch_timeout_s = kc->watch_timeout_s,
		.token_reread_s = kc->token_reread_ms / 1000,
		.store =
			{
				.cluster_name = kc->cluster_name,
				.tombstone_ms = kc->tombstone_ms,
				.max_objects = kc->max_objects,
				.max_object_bytes = kc->max_object_bytes,
			},
	};
	int rc;

	for (size_t i = 0; i < kc->label_keys.n && i < K8S_MAX_EXPORTED_LABELS; i++)
		cfg.store.label_keys[cfg.store.n_label_keys++] = kc->label_keys.v[i];
	if (!kc->enabled && !k8s_available(&cfg))
		return 0;
	if (getenv("NODE_NAME") && *getenv("NODE_NAME"))
		log_info("kubernetes: this instance runs on node '%s'", getenv("NODE_NAME"));
	pl->k8s = k8s_new(&cfg, pl->enrich);
	if (!pl->k8s || k8s_start(pl->k8s) < 0)
		return -EINVAL;
	if (!pl->conf.read_file)
		return 0;
	rc = k8s_wait_synced(pl->k8s, kc->sync_timeout_ms);
	if (rc == -ETIMEDOUT)
		log_warn("kubernetes: no full sync within %u ms; reading the capture anyway, "
			 "records may lack Kubernetes labels",
			 kc->sync_timeout_ms);
	if (k8s_synced(pl->k8s))
		pl->k8s_synced = true;
	return 0;
}

static void teardown(struct pipeline *pl)
{
	follow_free(pl->follow);
	capture_close(pl->cap);
	free(pl->final_ifaces);
	flowtab_free(pl->flowtab);
	decode_free(pl->decoder);
	export_free(pl->exporter, pl->conf.shutdown_linger_ms);
	select_free(pl->select); /* after the exporter that borrowed it */
	sampler_free(pl->sampler);
	inventory_free(pl->inventory);
	k8s_free(pl->k8s);	   /* joins its thread before the enrich layer goes */
	cloudmeta_free(pl->cloud); /* joins its thread before the enrich layer goes */
	libvirt_free(pl->libvirt);
	enrich_free(pl->enrich);
	registry_free(pl->registry);
	if (pl->sigfd >= 0)
		close(pl->sigfd);
	conf_done(&pl->conf);
}

static int write_stats_file(const struct pipeline *pl, const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f) {
		log_error("cannot write stats file '%s': %s", path, strerror(errno));
		return -errno;
	}
	report(pl, f);
	return fclose(f) == 0 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	struct pipeline pl = {.sigfd = -1};
	struct cli cli = {0};
	int ret;

	log_route_glib();
	ret = cli_parse(argc, argv, &cli);
	if (ret >= 0)
		return ret;
	ret = cli_build_conf(&pl.conf, &cli);
	pl.include_from_cli = cli.n_interfaces > 0;
	log_set_level(pl.conf.log_level);
	log_use_syslog(pl.conf.log_syslog);
	if (ret)
		goto out;
	if (build_export(&pl) < 0) {
		ret = 1;
		goto out;
	}
	if (cli.check_config) {
		printf("configuration OK\n");
		goto out;
	}
	if (cli.collector_config) {
		ret = kit_print(pl.registry, cli.collector_config, stdout);
		if (ret == -EINVAL)
			log_error("--print-collector-config '%s': unknown format (one of: %s)",
				  cli.collector_config, kit_format_names());
		ret = ret == -EINVAL ? 2 : ret < 0 ? 1 : 0;
		goto out;
	}
	if (!pl.conf.read_file && pl.conf.include.n == 0) {
		log_error("nothing to capture: give -r FILE or -i PATTERN, or set capture.include");
		ret = 2;
		goto out;
	}
	if (pl.conf.export.ipfix.sampling_interval > 1) {
		pl.sampler = sampler_new(pl.conf.export.ipfix.sampling_interval);
		if (!pl.sampler) {
			ret = 1;
			goto out;
		}
	}
	pl.decoder = decode_new(&pl.conf.decode);
	pl.flowtab = flowtab_new(&pl.conf.flow, export_flow, pl.exporter);
	if (!pl.decoder || !pl.flowtab || setup_signals(&pl) < 0 || add_targets(&pl) < 0 ||
	    start_kubernetes(&pl) < 0 || open_captures(&pl) < 0) {
		ret = 1;
		goto out;
	}
	ret = pl.conf.read_file ? run_offline(&pl) : run_live(&pl);
	/* Pick up metadata published since the last tick before labelling the last flows. */
	export_tick(pl.exporter, now_ms());
	if (pl.follow) {
		/* Detach every interface: last frames and kernel-metered flows are handed over. */
		snapshot_ifaces(&pl);
		follow_detach_all(pl.follow, &pl.sink);
		pl.stopped = true;
	}
	if (pl.cap && pl.cap->ops->expire)
		pl.cap->ops->expire(pl.cap, now_ms(), true, &pl.sink);
	meter_burst(&pl);
	flowtab_flush(pl.flowtab, FLOWTAB_END_FORCED);
	export_tick(pl.exporter, now_ms());
	export_drain(pl.exporter, pl.conf.shutdown_linger_ms);
	pl.conf.shutdown_linger_ms = 0; /* drained: teardown need not wait again */
	report(&pl, NULL);
	if (cli.stats_file && write_stats_file(&pl, cli.stats_file) < 0)
		ret = 1;
out:
	teardown(&pl);
	return ret;
}
