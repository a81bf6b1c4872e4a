// SPDX-License-Identifier: Apache-2.0
/*
 * cli: parses labelflowd's options and lays them over the config file: the file is loaded
 * first, the options override it, and one conf_validate() checks the merged result. Options
 * that are actions (--check-config, --print-collector-config, --stats-file) stay in
 * struct cli for main.c.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "log.h"
#include "sampler.h"

#include "config.h"

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

int cli_parse(int argc, char **argv, struct cli *cli)
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

/* Config file, then command line on top, then validation. */
int cli_build_conf(struct conf *c, const struct cli *cli)
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
