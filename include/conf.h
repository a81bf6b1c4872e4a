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
#include "select.h"

#define CONF_MAX_LIST 64

/* A list setting: owned strings. */
struct conf_list {
	char *v[CONF_MAX_LIST];
	size_t n;
};

enum conf_backend {
	CONF_BACKEND_PCAP = 0,
	CONF_BACKEND_EBPF,
};

enum conf_cloud {
	CONF_CLOUD_OFF = 0,
	CONF_CLOUD_AWS,
	CONF_CLOUD_GCP,
	CONF_CLOUD_AZURE,
	CONF_CLOUD_AUTO,
};

/* export.select: one rule per group, its settings as given. Strings owned. */
#define CONF_SELECT_MAX_KEYS 8
struct conf_select_rule {
	size_t n;
	char *key[CONF_SELECT_MAX_KEYS];
	char *value[CONF_SELECT_MAX_KEYS];
};

struct conf_select {
	size_t n;
	struct conf_select_rule rule[SELECT_MAX_RULES];
};

/* The Kubernetes source's settings (group "kubernetes"). Strings owned. */
struct conf_kubernetes {
	bool enabled;	     /* also turned on by --kubeconfig or running in a cluster */
	char *kubeconfig;    /* NULL: in-cluster service account */
	char *incluster_dir; /* service account directory (token, ca.crt, namespace) */
	char *cluster_name;
	struct conf_list label_keys; /* pod labels exported in PodLabels */
	uint32_t tombstone_ms;
	uint32_t sync_timeout_ms; /* -r waits this long for the first full sync */
	uint32_t page_limit;
	uint32_t watch_timeout_s;
	uint32_t token_reread_ms;
	uint32_t max_objects;
	uint32_t max_object_bytes;
};

struct conf {
	/* capture */
	char *read_file;		 /* owned; offline input, or NULL */
	enum conf_backend backend;	 /* live capture backend */
	struct conf_list include;	 /* interface name patterns followed live */
	struct conf_list exclude;	 /* patterns never followed, even if included */
	struct capture_live_config live; /* bpf_filter owned (cast away const) */

	/* decode and flow table */
	struct decode_config decode;
	struct flowtab_config flow;

	/* enrichment */
	char *inventory; /* owned; inventory JSON path, or NULL */
	bool libvirt;	 /* VM names from libvirt's runtime domain XML */
	char *libvirt_dir;
	char *libvirt_leases_dir;
	enum conf_cloud cloud; /* cloud metadata service of the node, default off */
	char *cloud_url;       /* owned; NULL = the provider's well-known address */
	uint32_t cloud_timeout_ms;
	uint32_t cloud_refresh_ms;
	struct conf_kubernetes k8s;

	/* export */
	struct conf_list targets;    /* "udp:host:port", ... */
	uint32_t pen;		     /* Private Enterprise Number, default 32473 */
	char *elements_file;	     /* owned; registry XML */
	char *templates_file;	     /* owned; template definitions */
	struct export_config export; /* export.transport.tls_* strings owned;
				      ipfix.sampling_interval is flow.sampling_interval */
	struct conf_select select;   /* export.select; n == 0: export every flow */

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

/* Append to / empty a list setting. conf_list_add returns 0 or -E2BIG. */
int conf_list_add(struct conf_list *l, const char *value);
void conf_list_clear(struct conf_list *l);

/* Replace an owned string field. */
void conf_set_str(char **field, const char *value);

#endif
