/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli: labelflowd's command line: the options, --help, and their merge over the config
 * file into one validated struct conf.
 */
#ifndef LABELFLOW_CLI_H
#define LABELFLOW_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

/* Command-line values, applied over the config file. Strings are borrowed from argv. */
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

/*
 * Fill cli (zeroed by the caller) from argv with getopt_long. --help and --version print
 * to standard output here. Returns -1 to go on, else the process exit code: 0 after --help
 * or --version, 2 for a usage error (logged, or the usage text on standard error).
 */
int cli_parse(int argc, char **argv, struct cli *cli);

/*
 * Initialise c (conf_init, with $LABELFLOW_DATADIR or the built-in data directory), load
 * cli->config, apply the command line on top and validate. c needs conf_done() whatever
 * the result. Returns 0, or the exit code after a logged error: 1 for a bad config file,
 * 2 for a bad option.
 */
int cli_build_conf(struct conf *c, const struct cli *cli);

#endif
