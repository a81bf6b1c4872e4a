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

#include "cap_pcap.h"
#include "conf.h"
#include "decode.h"
#include "enrich.h"
#include "export.h"
#include "flowtab.h"
#include "inventory.h"
#include "log.h"
#include "registry.h"
#include "transport.h"

#include "config.h"

#define MAIN_BATCH_FRAMES 256
#define MAIN_TICK_MS	  1000

struct pipeline {
	struct conf conf;
	struct registry *registry;
	struct enrich *enrich;
	struct inventory *inventory;
	struct exporter *exporter;
	struct decoder *decoder;
	struct flowtab *flowtab;
	struct capture *captures[CONF_MAX_LIST];
	size_t n_captures;
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
		"  -i, --interface IFACE    capture live on IFACE until SIGINT/SIGTERM "
		"(repeatable)\n"
		"Output:\n"
		"  -e, --export TARGET      file:PATH | udp:HOST:PORT | tcp:HOST:PORT "
		"(repeatable;\n"
		"                           IPv6 hosts in brackets: udp:[::1]:4739)\n"
		"Metadata:\n"
		"      --inventory FILE     JSON inventory of endpoints and subnets (reloaded on\n"
		"                           SIGHUP and when the file changes)\n"
		"Configuration:\n"
		"  -c, --config FILE        libconfig file (see %s/labelflowd.conf);\n"
		"                           command-line options override it\n"
		"      --check-config       validate configuration, registry, templates and\n"
		"                           inventory, then exit\n"
		"      --pen N              Private Enterprise Number of the label elements\n"
		"      --no-rfc5610         do not send RFC 5610 element type records\n"
		"      --log-level LEVEL    error, warn, info (default) or debug\n"
		"      --stats-file FILE    write the final counters as key=value lines\n"
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
	const char *interfaces[CONF_MAX_LIST];
	size_t n_interfaces;
	const char *targets[CONF_MAX_LIST];
	size_t n_targets;
	bool check_config;
	bool no_rfc5610;
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
		while (c->n_interfaces)
			free(c->interfaces[--c->n_interfaces]);
		for (size_t i = 0; i < cli->n_interfaces; i++)
			conf_add_interface(c, cli->interfaces[i]);
		if (cli->read_file) {
			log_error("-r and -i exclude each other");
			return 2;
		}
	}
	if (cli->read_file) {
		while (c->n_interfaces)
			free(c->interfaces[--c->n_interfaces]);
	}
	if (cli->n_targets) {
		while (c->n_targets)
			free(c->targets[--c->n_targets]);
		for (size_t i = 0; i < cli->n_targets; i++)
			conf_add_target(c, cli->targets[i]);
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
	if (decode_frame(pl->decoder, f->linktype, f->data, f->caplen, f->wirelen, f->ts_ms,
			 f->ifindex, &pkt))
		flowtab_add(pl->flowtab, &pkt);
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
			break;
		case SIGUSR1:
			report(pl, NULL);
			break;
		default:
			break;
		}
	}
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

	for (size_t i = 0; i < pl->n_captures; i++) {
		struct capture_stats cs;

		pl->captures[i]->ops->stats(pl->captures[i], &cs);
		EMIT("capture.%s.received=%" PRIu64, pl->captures[i]->name, cs.received);
		EMIT("capture.%s.kernel_dropped=%" PRIu64, pl->captures[i]->name,
		     cs.kernel_dropped);
		EMIT("capture.%s.ifdropped=%" PRIu64, pl->captures[i]->name, cs.ifdropped);
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
	for (size_t i = 0; i < export_n_targets(pl->exporter); i++) {
		const char *name = "";
		const struct transport_stats *ts = export_target_stats(pl->exporter, i, &name);

		EMIT("target.%s.msgs_sent=%" PRIu64, name, ts->msgs_sent);
		EMIT("target.%s.bytes_sent=%" PRIu64, name, ts->bytes_sent);
		EMIT("target.%s.msgs_dropped=%" PRIu64, name, ts->msgs_dropped);
		EMIT("target.%s.template_sends=%" PRIu64, name, ts->template_sends);
		EMIT("target.%s.connects=%" PRIu64, name, ts->connects);
		EMIT("target.%s.connect_failures=%" PRIu64, name, ts->connect_failures);
		EMIT("target.%s.send_errors=%" PRIu64, name, ts->send_errors);
		EMIT("target.%s.queued=%" PRIu64, name, ts->queued);
	}
	if (pl->inventory) {
		const struct inventory_stats *is = inventory_get_stats(pl->inventory);

		EMIT("inventory.loads_ok=%" PRIu64, is->loads_ok);
		EMIT("inventory.loads_failed=%" PRIu64, is->loads_failed);
		EMIT("inventory.endpoints=%" PRIu64, is->endpoints);
		EMIT("inventory.subnets=%" PRIu64, is->subnets);
	}
#undef EMIT
}

/* Once a second: expire flows on the capture clock, drive export and metadata sources. */
static void tick(struct pipeline *pl, uint64_t flow_clock_ms)
{
	uint64_t wall = now_ms();

	if (pl->inventory)
		inventory_poll(pl->inventory);
	flowtab_expire(pl->flowtab, flow_clock_ms);
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
		n = capture_dispatch(pl->captures[0], MAIN_BATCH_FRAMES, on_frame, pl);
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
	struct pollfd pfd[CONF_MAX_LIST + 1];
	uint64_t last_tick = now_ms();
	int ret = 0;

	pfd[0].fd = pl->sigfd;
	pfd[0].events = POLLIN;
	for (size_t i = 0; i < pl->n_captures; i++) {
		pfd[i + 1].fd = pl->captures[i]->ops->fd(pl->captures[i]);
		pfd[i + 1].events = POLLIN;
	}
	while (!pl->stop) {
		int rc = poll(pfd, pl->n_captures + 1, 100);

		if (rc < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			ret = 1;
			break;
		}
		if (pfd[0].revents)
			handle_signals(pl);
		/* Drain every capture each round: ring timeouts can leave frames without POLLIN. */
		for (size_t i = 0; i < pl->n_captures; i++) {
			int n;

			do {
				n = capture_dispatch(pl->captures[i], MAIN_BATCH_FRAMES, on_frame,
						     pl);
			} while (n == MAIN_BATCH_FRAMES);
			if (n < 0) {
				ret = 1;
				pl->stop = true;
			}
		}
		if (now_ms() >= last_tick + MAIN_TICK_MS) {
			last_tick = now_ms();
			tick(pl, last_tick);
		}
	}
	return ret;
}

static int open_captures(struct pipeline *pl)
{
	struct conf *c = &pl->conf;

	if (c->read_file) {
		pl->captures[0] = cap_pcap_open_file(c->read_file);
		if (!pl->captures[0])
			return -EIO;
		pl->n_captures = 1;
		return 0;
	}
	for (size_t i = 0; i < c->n_interfaces; i++) {
		pl->captures[i] = cap_pcap_open_live(c->interfaces[i], &c->live);
		if (!pl->captures[i])
			return -EIO;
		pl->n_captures = i + 1;
		log_info("capturing on interface '%s' (ifindex %u)", c->interfaces[i],
			 pl->captures[i]->ifindex);
	}
	return 0;
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
	pl->exporter = export_new(pl->registry, pl->enrich, &c->export);
	return pl->exporter ? 0 : -ENOMEM;
}

static int add_targets(struct pipeline *pl)
{
	struct conf *c = &pl->conf;
	uint64_t now = now_ms();

	if (c->n_targets == 0) {
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
		conf_add_target(c, "file:-");
	}
	for (size_t i = 0; i < c->n_targets; i++) {
		struct transport_spec spec;
		char err[256];

		if (transport_parse(c->targets[i], &spec, err, sizeof(err)) < 0) {
			log_error("export target '%s': %s", c->targets[i], err);
			return -EINVAL;
		}
		if (export_add_target(pl->exporter, &spec, now) < 0)
			return -EIO;
	}
	return 0;
}

static void teardown(struct pipeline *pl)
{
	for (size_t i = 0; i < pl->n_captures; i++)
		capture_close(pl->captures[i]);
	flowtab_free(pl->flowtab);
	decode_free(pl->decoder);
	export_free(pl->exporter, pl->conf.shutdown_linger_ms);
	inventory_free(pl->inventory);
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
	if (!pl.conf.read_file && pl.conf.n_interfaces == 0) {
		log_error("nothing to capture: give -r FILE or -i IFACE (see --help)");
		ret = 2;
		goto out;
	}
	pl.decoder = decode_new(&pl.conf.decode);
	pl.flowtab = flowtab_new(&pl.conf.flow, export_flow, pl.exporter);
	if (!pl.decoder || !pl.flowtab || setup_signals(&pl) < 0 || add_targets(&pl) < 0 ||
	    open_captures(&pl) < 0) {
		ret = 1;
		goto out;
	}
	ret = pl.conf.read_file ? run_offline(&pl) : run_live(&pl);
	/* Pick up metadata published since the last tick before labelling the last flows. */
	export_tick(pl.exporter, now_ms());
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
