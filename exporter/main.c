// SPDX-License-Identifier: Apache-2.0
/*
 * labelflowd: wires the pipeline capture -> decode -> flowtab -> enrich -> export from
 * the command line and the config file, runs it (offline file or live interfaces) until
 * end of input or SIGINT/SIGTERM, flushes every flow and reports the counters. Only this
 * file exits the process.
 */
#include <errno.h>
#include <getopt.h>
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
#include "sampler.h"
#include "select.h"
#include "transport.h"

#include "config.h"

#define MAIN_BATCH_FRAMES 256
#define MAIN_TICK_MS	  1000

struct iface_snap {
	char name[64];
	struct capture_stats stats;
};

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
	struct iface_snap *final_ifaces;
	size_t n_final_ifaces;
	int sigfd;
	bool stop;
	uint64_t capture_clock_ms; /* newest packet time seen: the flow table's clock */
	uint64_t last_report_ms;   /* wall clock of the last periodic counter report */
};

enum {
	OPT_INVENTORY = 256,
	OPT_CHECK_CONFIG,
	OPT_VERSION,
	OPT_LOG_LEVEL,
	OPT_STATS_FILE,
	OPT_PEN,
	OPT_NO_RFC5610,
	OPT_BACKEND,
	OPT_KUBECONFIG,
	OPT_COLLECTOR_CONFIG,
	OPT_BIFLOW,
	OPT_SAMPLING,
};

static const struct option long_options[] = {
	{"read", required_argument, NULL, 'r'},
	{"interface", required_argument, NULL, 'i'},
	{"export", required_argument, NULL, 'e'},
	{"config", required_argument, NULL, 'c'},
	{"inventory", required_argument, NULL, OPT_INVENTORY},
	{"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"stats-file", required_argument, NULL, OPT_STATS_FILE},
	{"pen", required_argument, NULL, OPT_PEN},
	{"no-rfc5610", no_argument, NULL, OPT_NO_RFC5610},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
	{"print-collector-config", required_argument, NULL, OPT_COLLECTOR_CONFIG},
	{"biflow", no_argument, NULL, OPT_BIFLOW},
	{"sampling", required_argument, NULL, OPT_SAMPLING},
	{"version", no_argument, NULL, OPT_VERSION},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: labelflowd [OPTIONS]\n"
		"Meter Pod and VM traffic into flows, label both ends with Kubernetes and VPC\n"
		"metadata, and export IPFIX to any collector.\n"
		"\n"
		"Input (one of):\n"
		"  -r, --read FILE          read a pcap/pcapng capture, export, flush, exit\n"
		"  -i, --interface PATTERN  capture live on interfaces matching PATTERN, a name\n"
		"                           or a shell pattern such as 'veth*' (repeatable);\n"
		"                           interfaces that appear later are followed too.\n"
		"                           Without -r or -i: capture.include of the config\n"
		"      --backend NAME       live capture backend: pcap (default) or ebpf\n"
		"Output:\n"
		"  -e, --export TARGET      IPFIX to file:PATH (- for standard output),\n"
		"                           udp:HOST:PORT, tcp:HOST:PORT or tls:HOST:PORT;\n"
		"                           netflow9:HOST:PORT, netflow5:HOST:PORT (repeatable;\n"
		"                           IPv6 hosts in brackets: udp:[::1]:4739)\n"
		"Metering:\n"
		"      --biflow             RFC 5103 biflows: one record per conversation\n"
		"      --sampling N         keep 1 packet in N, reported to collectors\n"
		"Metadata:\n"
		"      --inventory FILE     JSON inventory of endpoints and subnets (reloaded on\n"
		"                           SIGHUP and when the file changes)\n"
		"      --kubeconfig FILE    label from the Kubernetes API (in a cluster the\n"
		"                           service account is used without this option)\n"
		"Configuration:\n"
		"  -c, --config FILE        libconfig file (see %s/labelflowd.conf);\n"
		"                           command-line options override it\n"
		"      --check-config       validate configuration, registry, templates and\n"
		"                           inventory, then exit\n"
		"      --pen N              Private Enterprise Number of the label elements\n"
		"      --no-rfc5610         do not send RFC 5610 element type records\n"
		"      --log-level LEVEL    error, warn, info (default) or debug\n"
		"      --stats-file FILE    write the final counters as key=value lines\n"
		"      --print-collector-config=FORMAT\n"
		"                           print a collector's file for the label elements\n"
		"                           (pmacct, nfacctd, wireshark, xml, python-ipfix)\n"
		"                           and exit\n"
		"      --version            print the version and exit\n"
		"  -h, --help               this text\n",
		LF_SYSCONFDIR);
}

/* Command-line values, applied over the config file. */
struct cli {
	const char *config;
	const char *read_file;
	const char *inventory;
	const char *stats_file;
	const char *log_level;
	const char *pen;
	const char *backend;
	const char *kubeconfig;
	const char *collector_config;
	const char *sampling;
	const char *interfaces[CONF_MAX_LIST];
	size_t n_interfaces;
	const char *targets[CONF_MAX_LIST];
	size_t n_targets;
	bool check_config;
	bool no_rfc5610;
	bool biflow;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int parse_cli(int argc, char **argv, struct cli *cli)
{
	int opt;

	while ((opt = getopt_long(argc, argv, "r:i:e:c:h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'r':
			cli->read_file = optarg;
			break;
		case 'i':
			if (cli->n_interfaces == CONF_MAX_LIST) {
				log_error("too many -i options (at most %d)", CONF_MAX_LIST);
				return 2;
			}
			cli->interfaces[cli->n_interfaces++] = optarg;
			break;
		case 'e':
			if (cli->n_targets == CONF_MAX_LIST) {
				log_error("too many -e options (at most %d)", CONF_MAX_LIST);
				return 2;
			}
			cli->targets[cli->n_targets++] = optarg;
			break;
		case 'c':
			cli->config = optarg;
			break;
		case OPT_INVENTORY:
			cli->inventory = optarg;
			break;
		case OPT_CHECK_CONFIG:
			cli->check_config = true;
			break;
		case OPT_LOG_LEVEL:
			cli->log_level = optarg;
			break;
		case OPT_STATS_FILE:
			cli->stats_file = optarg;
			break;
		case OPT_PEN:
			cli->pen = optarg;
			break;
		case OPT_NO_RFC5610:
			cli->no_rfc5610 = true;
			break;
		case OPT_BACKEND:
			cli->backend = optarg;
			break;
		case OPT_KUBECONFIG:
			cli->kubeconfig = optarg;
			break;
		case OPT_COLLECTOR_CONFIG:
			cli->collector_config = optarg;
			break;
		case OPT_BIFLOW:
			cli->biflow = true;
			break;
		case OPT_SAMPLING:
			cli->sampling = optarg;
			break;
		case OPT_VERSION:
			printf("labelflowd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	return -1;
}

/* Config file, then command line on top, then validation. Returns 0 or an exit code. */
static int build_conf(struct conf *c, const struct cli *cli)
{
	const char *datadir = getenv("LABELFLOW_DATADIR");
	char err[1024];

	conf_init(c, datadir && *datadir ? datadir : LF_DATADIR);
	if (cli->config && conf_load_file(c, cli->config, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	if (cli->read_file)
		conf_set_str(&c->read_file, cli->read_file);
	if (cli->n_interfaces) {
		if (cli->read_file) {
			log_error("-r and -i exclude each other");
			return 2;
		}
		conf_list_clear(&c->include);
		for (size_t i = 0; i < cli->n_interfaces; i++)
			conf_list_add(&c->include, cli->interfaces[i]);
	}
	if (cli->backend) {
		if (strcmp(cli->backend, "pcap") == 0) {
			c->backend = CONF_BACKEND_PCAP;
		} else if (strcmp(cli->backend, "ebpf") == 0) {
			c->backend = CONF_BACKEND_EBPF;
		} else {
			log_error("--backend '%s': must be pcap or ebpf", cli->backend);
			return 2;
		}
	}
	if (cli->kubeconfig) {
		conf_set_str(&c->k8s.kubeconfig, cli->kubeconfig);
		c->k8s.enabled = true;
	}
	if (cli->n_targets) {
		conf_list_clear(&c->targets);
		for (size_t i = 0; i < cli->n_targets; i++)
			conf_list_add(&c->targets, cli->targets[i]);
	}
	if (cli->inventory)
		conf_set_str(&c->inventory, cli->inventory);
	if (cli->log_level && log_parse_level(cli->log_level, &c->log_level) < 0) {
		log_error("--log-level '%s': must be error, warn, info or debug", cli->log_level);
		return 2;
	}
	if (cli->pen) {
		char *end = NULL;
		unsigned long long v = strtoull(cli->pen, &end, 10);

		if (!*cli->pen || *end || v == 0 || v > UINT32_MAX) {
			log_error("--pen '%s': must be a number from 1 to 4294967295", cli->pen);
			return 2;
		}
		c->pen = (uint32_t)v;
	}
	if (cli->no_rfc5610)
		c->export.ipfix.rfc5610 = false;
	if (cli->biflow)
		c->flow.biflow = true;
	if (cli->sampling) {
		char *end = NULL;
		unsigned long long v = strtoull(cli->sampling, &end, 10);

		if (!*cli->sampling || *end || v == 0 || v > SAMPLER_MAX_INTERVAL) {
			log_error("--sampling '%s': must be a number from 1 to %u", cli->sampling,
				  SAMPLER_MAX_INTERVAL);
			return 2;
		}
		c->export.ipfix.sampling_interval = (uint32_t)v;
	}
	if (conf_validate(c, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	return 0;
}

static void on_frame(const struct capture_frame *f, void *user)
{
	struct pipeline *pl = user;
	struct decode_pkt pkt;

	if (f->ts_ms > pl->capture_clock_ms)
		pl->capture_clock_ms = f->ts_ms;
	if (pl->sampler && !sampler_take(pl->sampler))
		return; /* counted in the sampler stats */
	if (!decode_frame(pl->decoder, f->linktype, f->data, f->caplen, f->wirelen, f->ts_ms,
			  f->ifindex, f->direction, &pkt))
		return;
	flowtab_add(pl->flowtab, &pkt);
	if (pl->conf.decode.tunnel_view == DECODE_VIEW_BOTH && decode_outer_view(pl->decoder, &pkt))
		flowtab_add(pl->flowtab, &pkt);
}

/* A packet the backend decoded itself (the eBPF backend's map-full fallback). */
static void on_packet(const struct decode_pkt *pkt, void *user)
{
	struct pipeline *pl = user;

	if (pkt->ts_ms > pl->capture_clock_ms)
		pl->capture_clock_ms = pkt->ts_ms;
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

static void report(const struct pipeline *pl, FILE *out);

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

/* Where report() writes a backend's own counters (capture_ops.counters). */
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

/* Counters as key=value lines to out, or as log lines when out is NULL. */
static void report(const struct pipeline *pl, FILE *out)
{
	const struct decode_stats *ds = decode_get_stats(pl->decoder);
	const struct flowtab_stats *fs = flowtab_get_stats(pl->flowtab);
	const struct export_stats *xs = export_get_stats(pl->exporter);
	char line[256];

#define EMIT(...)                                                                                  \
	do {                                                                                       \
		snprintf(line, sizeof(line), __VA_ARGS__);                                         \
		if (out)                                                                           \
			fprintf(out, "%s\n", line);                                                \
		else                                                                               \
			log_info("counter %s", line);                                              \
	} while (0)

	if (pl->cap) {
		struct capture_stats cs;
		const char *name;

		pl->cap->ops->stats(pl->cap, &cs);
		EMIT("capture.backend=%s", pl->cap->ops->name);
		EMIT("capture.received=%" PRIu64, cs.received);
		EMIT("capture.kernel_dropped=%" PRIu64, cs.kernel_dropped);
		EMIT("capture.ifdropped=%" PRIu64, cs.ifdropped);
		if (pl->follow) {
			EMIT("capture.attached=%zu",
			     pl->stopped ? pl->attached_at_stop : follow_attached(pl->follow));
			EMIT("capture.attaches=%" PRIu64, pl->attaches);
			EMIT("capture.detaches=%" PRIu64,
			     pl->stopped ? pl->detaches_at_stop : pl->detaches);
			EMIT("capture.attach_failed=%" PRIu64,
			     follow_get_stats(pl->follow)->attach_failed);
			EMIT("capture.over_limit=%" PRIu64,
			     follow_get_stats(pl->follow)->over_limit);
			EMIT("capture.netlink_overflows=%" PRIu64,
			     follow_get_stats(pl->follow)->overflows);
		}
		if (pl->cap->ops->counters) {
			struct report_out ro = {.out = out, .backend = pl->cap->ops->name};

			pl->cap->ops->counters(pl->cap, report_counter, &ro);
		}
		for (size_t i = 0; pl->stopped && i < pl->n_final_ifaces; i++) {
			const struct iface_snap *f = &pl->final_ifaces[i];

			EMIT("capture.iface.%s.received=%" PRIu64, f->name, f->stats.received);
			EMIT("capture.iface.%s.kernel_dropped=%" PRIu64, f->name,
			     f->stats.kernel_dropped);
			EMIT("capture.iface.%s.ifdropped=%" PRIu64, f->name, f->stats.ifdropped);
		}
		for (size_t i = 0; !pl->stopped && pl->cap->ops->iface_stats &&
				   pl->cap->ops->iface_stats(pl->cap, i, &name, &cs);
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
	if (pl->select) {
		const struct select_stats *ss = select_get_stats(pl->select);

		EMIT("export.selected=%" PRIu64, ss->selected);
		EMIT("export.unselected=%" PRIu64, ss->unselected);
		EMIT("export.unselected_packets=%" PRIu64, ss->unselected_packets);
		EMIT("export.unselected_octets=%" PRIu64, ss->unselected_octets);
		EMIT("export.select_bad_labels=%" PRIu64, ss->bad_labels);
	}
	if (pl->sampler) {
		struct sampler_stats ss = *sampler_get_stats(pl->sampler);

		/* A backend that samples in the kernel hands main no frames to sample. */
		if (pl->cap && pl->cap->ops->sampling_stats)
			pl->cap->ops->sampling_stats(pl->cap, &ss);
		EMIT("sampling.interval=%u", sampler_interval(pl->sampler));
		EMIT("sampling.observed=%" PRIu64, ss.observed);
		EMIT("sampling.selected=%" PRIu64, ss.selected);
	}
	for (size_t i = 0; i < export_n_targets(pl->exporter); i++) {
		const char *name = "";
		const struct transport_stats *ts = export_target_stats(pl->exporter, i, &name);
		const struct netflow_stats *ns = export_target_netflow_stats(pl->exporter, i);

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
	if (pl->inventory) {
		const struct inventory_stats *is = inventory_get_stats(pl->inventory);

		EMIT("inventory.loads_ok=%" PRIu64, is->loads_ok);
		EMIT("inventory.loads_failed=%" PRIu64, is->loads_failed);
		EMIT("inventory.endpoints=%" PRIu64, is->endpoints);
		EMIT("inventory.subnets=%" PRIu64, is->subnets);
	}
	if (pl->k8s) {
		struct k8s_stats ks;
		uint64_t events = 0, relists = 0, gone = 0, bookmarks = 0, errors = 0;
		uint64_t reconnects = 0, malformed = 0;

		k8s_get_stats(pl->k8s, &ks);
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
		     pl->k8s_synced ? pl->k8s_unsynced_records
				    : export_get_stats(pl->exporter)->records);
	}
	if (pl->libvirt) {
		const struct libvirt_stats *ls = libvirt_get_stats(pl->libvirt);

		EMIT("libvirt.domains=%" PRIu64, ls->domains);
		EMIT("libvirt.interfaces=%" PRIu64, ls->interfaces);
		EMIT("libvirt.endpoints=%" PRIu64, ls->endpoints);
		EMIT("libvirt.files_bad=%" PRIu64, ls->files_bad);
		EMIT("libvirt.observed=%" PRIu64, ls->observed);
		EMIT("libvirt.learned=%" PRIu64, ls->learned);
		EMIT("libvirt.learned_full=%" PRIu64, ls->learned_full);
		EMIT("libvirt.publishes=%" PRIu64, ls->publishes);
	}
	if (pl->cloud) {
		struct cloudmeta_stats cs;

		cloudmeta_get_stats(pl->cloud, &cs);
		EMIT("cloud.provider=%s", cloudmeta_provider_name(cs.provider));
		EMIT("cloud.fetches_ok=%" PRIu64, cs.fetches_ok);
		EMIT("cloud.fetches_failed=%" PRIu64, cs.fetches_failed);
		EMIT("cloud.publishes=%" PRIu64, cs.publishes);
		EMIT("cloud.last_ok_ms=%" PRIu64, cs.last_ok_ms);
	}
#undef EMIT
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
		n = capture_dispatch(pl->cap, MAIN_BATCH_FRAMES, &pl->sink);
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
			n = capture_dispatch(pl->cap, MAIN_BATCH_FRAMES, &pl->sink);
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
	while (capture_dispatch(pl->cap, MAIN_BATCH_FRAMES, &pl->sink) > 0)
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
	ret = parse_cli(argc, argv, &cli);
	if (ret >= 0)
		return ret;
	ret = build_conf(&pl.conf, &cli);
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
