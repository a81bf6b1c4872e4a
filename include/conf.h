/* SPDX-License-Identifier: Apache-2.0 */
/*
 * conf: the daemon's configuration. Defaults, the libconfig file (etc/labelflowd.conf
 * documents every setting), and validation, in one struct; command-line options are
 * applied on top by main. libconfig's file:line errors are reported from here.
 */
#ifndef LABELFLOW_CONF_H
#define LABELFLOW_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture.h"
#include "decode.h"
#include "export.h"
#include "flowtab.h"
#include "log.h"

#define CONF_MAX_LIST 64

struct conf {
	/* capture */
	char *read_file;		 /* owned; offline input, or NULL */
	char *interfaces[CONF_MAX_LIST]; /* owned */
	size_t n_interfaces;
	struct capture_live_config live; /* bpf_filter owned (cast away const) */

	/* decode and flow table */
	struct decode_config decode;
	struct flowtab_config flow;

	/* enrichment */
	char *inventory; /* owned; inventory JSON path, or NULL */

	/* export */
	char *targets[CONF_MAX_LIST]; /* owned; "udp:host:port", ... */
	size_t n_targets;
	uint32_t pen;	      /* Private Enterprise Number, default 32473 */
	char *elements_file;  /* owned; registry XML */
	char *templates_file; /* owned; template definitions */
	struct export_config export;

	/* daemon */
	enum log_level log_level;
	bool log_syslog;
	uint32_t stats_interval_ms;  /* periodic counter report; 0 = only at exit */
	uint32_t shutdown_linger_ms; /* wait for TCP queues at exit */
};

/* Fill with defaults. datadir is where templates live (element and template files). */
void conf_init(struct conf *c, const char *datadir);
/* Free owned strings. */
void conf_done(struct conf *c);

/*
 * Read a libconfig file over the current values. Unknown settings are errors (a typo
 * must not silently keep a default). Returns 0 or -EINVAL, writing "PATH:LINE: what"
 * into errbuf.
 */
int conf_load_file(struct conf *c, const char *path, char *errbuf, size_t errbuf_size);
/* Check ranges and combinations. Returns 0 or -EINVAL with the reason in errbuf. */
int conf_validate(const struct conf *c, char *errbuf, size_t errbuf_size);

/* Append to a list setting (interfaces, targets). Returns 0 or -E2BIG. */
int conf_add_interface(struct conf *c, const char *name);
int conf_add_target(struct conf *c, const char *target);
/* Replace an owned string field. */
void conf_set_str(char **field, const char *value);

#endif
