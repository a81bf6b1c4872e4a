// SPDX-License-Identifier: Apache-2.0
/*
 * conf: defaults, the libconfig file and validation. Every setting is one row of a
 * table (group, name, type, field, range), so reading, range checks and the rejection
 * of unknown names share one path; etc/labelflowd.conf documents the same rows.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "conf.h"
#include "follow.h"
#include "netflow.h"
#include "sampler.h"
#include "transport.h"

enum conf_type {
	CONF_U32,
	CONF_U16,
	CONF_BOOL,
	CONF_STR,
	CONF_STRLIST,	     /* struct conf_list */
	CONF_STRLIST_TARGET, /* struct conf_list of export targets, each parsed */
	CONF_LOGLEVEL,
	CONF_ENUM,   /* a string from names[], stored as its index in an int-sized enum */
	CONF_SELECT, /* struct conf_select: a list of groups of string settings */
};

struct conf_setting {
	const char *group;
	const char *name;
	enum conf_type type;
	size_t offset; /* into struct conf */
	uint64_t min;
	uint64_t max;
	const char *const *names; /* CONF_ENUM: NULL-terminated value names */
};

#define SET(g, n, t, field, lo, hi)                                                                \
	{                                                                                          \
		g, n, t, offsetof(struct conf, field), lo, hi, NULL                                \
	}
#define SET_ENUM(g, n, field, names)                                                               \
	{                                                                                          \
		g, n, CONF_ENUM, offsetof(struct conf, field), 0, 0, names                         \
	}

static const char *const backend_names[] = {"pcap", "ebpf", NULL};
static const char *const view_names[] = {"inner", "outer", "both", NULL};
static const char *const cloud_names[] = {"off", "aws", "gcp", "azure", "auto", NULL};

static const struct conf_setting settings[] = {
	SET_ENUM("capture", "backend", backend, backend_names),
	SET("capture", "include", CONF_STRLIST, include, 0, 0),
	SET("capture", "exclude", CONF_STRLIST, exclude, 0, 0),
	SET_ENUM("capture", "tunnel_view", decode.tunnel_view, view_names),
	SET("capture", "ebpf_max_flows", CONF_U32, live.max_flows, 1024, 1u << 24),
	SET("capture", "ebpf_ring_bytes", CONF_U32, live.ring_bytes, 65536, 1u << 30),
	SET("capture", "snaplen", CONF_U32, live.snaplen, 64, 262144),
	SET("capture", "buffer_bytes", CONF_U32, live.buffer_bytes, 65536, 1u << 31),
	SET("capture", "promiscuous", CONF_BOOL, live.promiscuous, 0, 0),
	SET("capture", "filter", CONF_STR, live.bpf_filter, 0, 0),
	SET("flow", "max_flows", CONF_U32, flow.max_flows, 16, 1u << 26),
	SET("flow", "idle_timeout_ms", CONF_U32, flow.idle_timeout_ms, 100, 86400000),
	SET("flow", "active_timeout_ms", CONF_U32, flow.active_timeout_ms, 1000, 86400000),
	SET("flow", "frag_table_size", CONF_U32, decode.frag_table_size, 16, 1u << 24),
	SET("flow", "frag_timeout_ms", CONF_U32, decode.frag_timeout_ms, 100, 600000),
	SET("flow", "biflow", CONF_BOOL, flow.biflow, 0, 0),
	SET("flow", "sampling_interval", CONF_U32, export.ipfix.sampling_interval, 1,
	    SAMPLER_MAX_INTERVAL),
	SET("enrich", "inventory", CONF_STR, inventory, 0, 0),
	SET("enrich", "libvirt", CONF_BOOL, libvirt, 0, 0),
	SET("enrich", "libvirt_dir", CONF_STR, libvirt_dir, 0, 0),
	SET("enrich", "libvirt_leases_dir", CONF_STR, libvirt_leases_dir, 0, 0),
	SET_ENUM("enrich", "cloud", cloud, cloud_names),
	SET("enrich", "cloud_url", CONF_STR, cloud_url, 0, 0),
	SET("enrich", "cloud_timeout_ms", CONF_U32, cloud_timeout_ms, 100, 60000),
	SET("enrich", "cloud_refresh_ms", CONF_U32, cloud_refresh_ms, 10000, 86400000),
	SET("kubernetes", "enabled", CONF_BOOL, k8s.enabled, 0, 0),
	SET("kubernetes", "kubeconfig", CONF_STR, k8s.kubeconfig, 0, 0),
	SET("kubernetes", "incluster_dir", CONF_STR, k8s.incluster_dir, 0, 0),
	SET("kubernetes", "cluster_name", CONF_STR, k8s.cluster_name, 0, 0),
	SET("kubernetes", "label_keys", CONF_STRLIST, k8s.label_keys, 0, 0),
	SET("kubernetes", "tombstone_ms", CONF_U32, k8s.tombstone_ms, 0, 86400000),
	SET("kubernetes", "sync_timeout_ms", CONF_U32, k8s.sync_timeout_ms, 0, 600000),
	SET("kubernetes", "page_limit", CONF_U32, k8s.page_limit, 1, 100000),
	SET("kubernetes", "watch_timeout_s", CONF_U32, k8s.watch_timeout_s, 1, 86400),
	SET("kubernetes", "token_reread_ms", CONF_U32, k8s.token_reread_ms, 1000, 86400000),
	SET("kubernetes", "max_objects", CONF_U32, k8s.max_objects, 1, 10000000),
	SET("kubernetes", "max_object_bytes", CONF_U32, k8s.max_object_bytes, 1024, 1u << 28),
	SET("export", "targets", CONF_STRLIST_TARGET, targets, 0, 0),
	SET("export", "pen", CONF_U32, pen, 1, UINT32_MAX),
	SET("export", "rfc5610", CONF_BOOL, export.ipfix.rfc5610, 0, 0),
	SET("export", "observation_domain", CONF_U32, export.ipfix.observation_domain, 0,
	    UINT32_MAX),
	SET("export", "netflow9_label_base", CONF_U16, export.netflow.label_base, 32768, 65535),
	SET("export", "udp_max_msg_bytes", CONF_U16, export.udp_max_msg_bytes, 512, 65507),
	SET("export", "template_refresh_ms", CONF_U32, export.transport.template_refresh_ms, 1000,
	    3600000),
	SET("export", "template_refresh_msgs", CONF_U32, export.transport.template_refresh_msgs, 1,
	    1000000),
	SET("export", "queue_msgs", CONF_U32, export.transport.queue_msgs, 1, 1u << 20),
	SET("export", "reconnect_min_ms", CONF_U32, export.transport.reconnect_min_ms, 10, 600000),
	SET("export", "reconnect_max_ms", CONF_U32, export.transport.reconnect_max_ms, 10, 3600000),
	SET("export", "tls_ca_file", CONF_STR, export.transport.tls_ca_file, 0, 0),
	SET("export", "tls_cert_file", CONF_STR, export.transport.tls_cert_file, 0, 0),
	SET("export", "tls_key_file", CONF_STR, export.transport.tls_key_file, 0, 0),
	SET("export", "tls_server_name", CONF_STR, export.transport.tls_server_name, 0, 0),
	SET("export", "elements_file", CONF_STR, elements_file, 0, 0),
	SET("export", "templates_file", CONF_STR, templates_file, 0, 0),
	SET("export", "select", CONF_SELECT, select, 0, 0),
	SET("daemon", "log_level", CONF_LOGLEVEL, log_level, 0, 0),
	SET("daemon", "syslog", CONF_BOOL, log_syslog, 0, 0),
	SET("daemon", "stats_interval_ms", CONF_U32, stats_interval_ms, 0, 86400000),
	SET("daemon", "shutdown_linger_ms", CONF_U32, shutdown_linger_ms, 0, 600000),
};

static const char *const groups[] = {"capture", "flow", "enrich", "kubernetes", "export", "daemon"};

void conf_set_str(char **field, const char *value)
{
	free(*field);
	*field = value ? strdup(value) : NULL;
}

void conf_init(struct conf *c, const char *datadir)
{
	char path[4096];

	memset(c, 0, sizeof(*c));
	c->live.snaplen = 256;
	c->live.buffer_bytes = 4u << 20;
	c->live.promiscuous = false;
	c->live.max_flows = 65536;
	c->live.ring_bytes = 1u << 20;
	c->backend = CONF_BACKEND_PCAP;
	c->cloud_timeout_ms = 1000;
	c->cloud_refresh_ms = 300000;
	conf_set_str(&c->libvirt_dir, "/run/libvirt/qemu");
	conf_set_str(&c->libvirt_leases_dir, "/var/lib/libvirt/dnsmasq");
	conf_set_str(&c->k8s.incluster_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
	c->k8s.tombstone_ms = 60000;
	c->k8s.sync_timeout_ms = 10000;
	c->k8s.page_limit = 500;
	c->k8s.watch_timeout_s = 300;
	c->k8s.token_reread_ms = 60000;
	c->k8s.max_objects = 200000;
	c->k8s.max_object_bytes = 1u << 20;
	conf_list_add(&c->k8s.label_keys, "app");
	conf_list_add(&c->k8s.label_keys, "app.kubernetes.io/name");
	conf_list_add(&c->k8s.label_keys, "version");
	for (size_t i = 0; follow_default_include[i]; i++)
		conf_list_add(&c->include, follow_default_include[i]);
	for (size_t i = 0; follow_default_exclude[i]; i++)
		conf_list_add(&c->exclude, follow_default_exclude[i]);
	c->decode.frag_table_size = 4096;
	c->decode.frag_timeout_ms = 30000;
	c->flow.max_flows = 262144;
	c->flow.idle_timeout_ms = 15000;
	c->flow.active_timeout_ms = 60000;
	c->pen = 32473;
	c->export.ipfix.rfc5610 = true;
	c->export.ipfix.observation_domain = 1;
	c->export.ipfix.sampling_interval = 1;
	c->export.udp_max_msg_bytes = 1400;
	netflow_config_defaults(&c->export.netflow);
	c->export.stream_max_msg_bytes = 65535;
	c->export.transport.queue_msgs = 4096;
	c->export.transport.template_refresh_ms = 60000;
	c->export.transport.template_refresh_msgs = 1000;
	c->export.transport.reconnect_min_ms = 500;
	c->export.transport.reconnect_max_ms = 30000;
	c->log_level = LOG_LVL_INFO;
	c->stats_interval_ms = 60000;
	c->shutdown_linger_ms = 2000;
	snprintf(path, sizeof(path), "%s/labelflow-elements.xml", datadir);
	conf_set_str(&c->elements_file, path);
	snprintf(path, sizeof(path), "%s/labelflow-templates.conf", datadir);
	conf_set_str(&c->templates_file, path);
}

void conf_list_clear(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i]);
		l->v[i] = NULL;
	}
	l->n = 0;
}

int conf_list_add(struct conf_list *l, const char *value)
{
	if (l->n >= CONF_MAX_LIST)
		return -E2BIG;
	l->v[l->n++] = strdup(value);
	return 0;
}

void conf_done(struct conf *c)
{
	free(c->read_file);
	conf_list_clear(&c->include);
	conf_list_clear(&c->exclude);
	free((char *)c->live.bpf_filter);
	free(c->inventory);
	free(c->libvirt_dir);
	free(c->libvirt_leases_dir);
	free(c->cloud_url);
	free(c->k8s.kubeconfig);
	free(c->k8s.incluster_dir);
	free(c->k8s.cluster_name);
	conf_list_clear(&c->k8s.label_keys);
	conf_list_clear(&c->targets);
	for (size_t i = 0; i < c->select.n; i++) {
		for (size_t j = 0; j < c->select.rule[i].n; j++) {
			free(c->select.rule[i].key[j]);
			free(c->select.rule[i].value[j]);
		}
	}
	free(c->elements_file);
	free(c->templates_file);
	free(c->export.transport.tls_ca_file);
	free(c->export.transport.tls_cert_file);
	free(c->export.transport.tls_key_file);
	free(c->export.transport.tls_server_name);
	memset(c, 0, sizeof(*c));
}

static const struct conf_setting *find_setting(const char *group, const char *name)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		if (strcmp(settings[i].group, group) == 0 && strcmp(settings[i].name, name) == 0)
			return &settings[i];
	}
	return NULL;
}

static bool known_group(const char *name)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (strcmp(groups[i], name) == 0)
			return true;
	}
	return false;
}

static int apply_list(struct conf *c, const struct conf_setting *s, config_setting_t *cs,
		      char *errbuf, size_t errbuf_size)
{
	struct conf_list *list = (struct conf_list *)((char *)c + s->offset);
	int count;

	if (!config_setting_is_array(cs) && !config_setting_is_list(cs)) {
		snprintf(errbuf, errbuf_size, "must be a list of strings, e.g. [ \"a\", \"b\" ]");
		return -EINVAL;
	}
	conf_list_clear(list);
	count = config_setting_length(cs);
	for (int i = 0; i < count; i++) {
		const char *v = config_setting_get_string_elem(cs, i);

		if (!v) {
			snprintf(errbuf, errbuf_size, "element %d is not a string", i);
			return -EINVAL;
		}
		if (s->type == CONF_STRLIST_TARGET) {
			struct transport_spec spec;
			char why[256];

			if (transport_parse(v, &spec, why, sizeof(why)) < 0) {
				snprintf(errbuf, errbuf_size, "'%s': %s", v, why);
				return -EINVAL;
			}
		}
		if (conf_list_add(list, v) < 0) {
			snprintf(errbuf, errbuf_size, "more than %d entries", CONF_MAX_LIST);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * export.select = ( { namespace = "shop"; }, { labels = "app=cart"; cidr = "10.0.0.0/8"; } );
 * Each rule is checked by the select module now, so a bad one is reported with its line.
 */
static int apply_select(struct conf *c, config_setting_t *cs, char *errbuf, size_t errbuf_size)
{
	struct select *check = select_new();
	struct conf_select *sel = &c->select;
	int ret = 0;

	if (!check) {
		snprintf(errbuf, errbuf_size, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < sel->n; i++) {
		for (size_t j = 0; j < sel->rule[i].n; j++) {
			free(sel->rule[i].key[j]);
			free(sel->rule[i].value[j]);
		}
	}
	memset(sel, 0, sizeof(*sel));
	if (!config_setting_is_list(cs)) {
		snprintf(errbuf, errbuf_size,
			 "must be a list of rules, e.g. ( { namespace = \"shop\"; } )");
		ret = -EINVAL;
		goto out;
	}
	for (int i = 0; i < config_setting_length(cs) && ret == 0; i++) {
		config_setting_t *g = config_setting_get_elem(cs, (unsigned int)i);
		struct conf_select_rule *r;
		char why[384];

		if (!config_setting_is_group(g) ||
		    config_setting_length(g) > CONF_SELECT_MAX_KEYS) {
			snprintf(errbuf, errbuf_size,
				 "rule %d (line %d): must be a group { key = \"value\"; ... }",
				 i + 1, config_setting_source_line(g));
			ret = -EINVAL;
			break;
		}
		if (sel->n == SELECT_MAX_RULES) {
			snprintf(errbuf, errbuf_size, "more than %d rules", SELECT_MAX_RULES);
			ret = -EINVAL;
			break;
		}
		r = &sel->rule[sel->n++];
		for (int j = 0; j < config_setting_length(g); j++) {
			config_setting_t *kv = config_setting_get_elem(g, (unsigned int)j);
			const char *v = config_setting_get_string(kv);

			if (!v) {
				snprintf(errbuf, errbuf_size,
					 "rule %d (line %d): %s must be a string", i + 1,
					 config_setting_source_line(kv), config_setting_name(kv));
				ret = -EINVAL;
				break;
			}
			r->key[r->n] = strdup(config_setting_name(kv));
			r->value[r->n] = strdup(v);
			r->n++;
		}
		if (ret == 0 &&
		    select_add_rule(check, (const char *const *)r->key,
				    (const char *const *)r->value, r->n, why, sizeof(why)) < 0) {
			snprintf(errbuf, errbuf_size, "rule %d (line %d): %s", i + 1,
				 config_setting_source_line(g), why);
			ret = -EINVAL;
		}
	}
out:
	select_free(check);
	return ret;
}

static int apply_setting(struct conf *c, const struct conf_setting *s, config_setting_t *cs,
			 char *errbuf, size_t errbuf_size)
{
	void *field = (char *)c + s->offset;
	long long v;

	switch (s->type) {
	case CONF_U32:
	case CONF_U16:
		if (config_setting_type(cs) != CONFIG_TYPE_INT &&
		    config_setting_type(cs) != CONFIG_TYPE_INT64) {
			snprintf(errbuf, errbuf_size, "must be an integer");
			return -EINVAL;
		}
		v = config_setting_get_int64(cs);
		if (v < (long long)s->min || (unsigned long long)v > s->max) {
			snprintf(errbuf, errbuf_size, "%lld is out of range [%llu, %llu]", v,
				 (unsigned long long)s->min, (unsigned long long)s->max);
			return -EINVAL;
		}
		if (s->type == CONF_U32)
			*(uint32_t *)field = (uint32_t)v;
		else
			*(uint16_t *)field = (uint16_t)v;
		return 0;
	case CONF_BOOL:
		if (config_setting_type(cs) != CONFIG_TYPE_BOOL) {
			snprintf(errbuf, errbuf_size, "must be true or false");
			return -EINVAL;
		}
		*(bool *)field = config_setting_get_bool(cs);
		return 0;
	case CONF_STR:
		if (config_setting_type(cs) != CONFIG_TYPE_STRING) {
			snprintf(errbuf, errbuf_size, "must be a string");
			return -EINVAL;
		}
		conf_set_str((char **)field, config_setting_get_string(cs));
		return 0;
	case CONF_LOGLEVEL:
		if (config_setting_type(cs) != CONFIG_TYPE_STRING ||
		    log_parse_level(config_setting_get_string(cs), field) < 0) {
			snprintf(errbuf, errbuf_size,
				 "must be \"error\", \"warn\", \"info\" or \"debug\"");
			return -EINVAL;
		}
		return 0;
	case CONF_STRLIST:
	case CONF_STRLIST_TARGET:
		return apply_list(c, s, cs, errbuf, errbuf_size);
	case CONF_SELECT:
		return apply_select(c, cs, errbuf, errbuf_size);
	case CONF_ENUM:
		if (config_setting_type(cs) == CONFIG_TYPE_STRING) {
			const char *name = config_setting_get_string(cs);

			for (int i = 0; s->names[i]; i++) {
				if (strcmp(s->names[i], name) == 0) {
					if (s->offset == offsetof(struct conf, decode.tunnel_view))
						*(uint8_t *)field = (uint8_t)i;
					else
						*(int *)field = i;
					return 0;
				}
			}
		}
		{
			size_t len = 0;

			len += (size_t)snprintf(errbuf, errbuf_size, "must be one of");
			for (int i = 0; s->names[i] && len < errbuf_size; i++)
				len += (size_t)snprintf(errbuf + len, errbuf_size - len,
							"%s \"%s\"", i ? "," : "", s->names[i]);
		}
		return -EINVAL;
	}
	return -EINVAL;
}

int conf_load_file(struct conf *c, const char *path, char *errbuf, size_t errbuf_size)
{
	config_t cfg;
	config_setting_t *root;
	char why[512];
	int ret = 0;

	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			snprintf(errbuf, errbuf_size, "%s: cannot read: %s", path, strerror(errno));
		else
			snprintf(errbuf, errbuf_size, "%s:%d: %s", path, config_error_line(&cfg),
				 config_error_text(&cfg));
		ret = -EINVAL;
		goto out;
	}
	root = config_root_setting(&cfg);
	for (int g = 0; g < config_setting_length(root); g++) {
		config_setting_t *group = config_setting_get_elem(root, g);
		const char *gname = config_setting_name(group);

		if (!known_group(gname) || !config_setting_is_group(group)) {
			snprintf(errbuf, errbuf_size, "%s:%d: unknown section '%s'", path,
				 config_setting_source_line(group), gname);
			ret = -EINVAL;
			goto out;
		}
		for (int i = 0; i < config_setting_length(group); i++) {
			config_setting_t *cs = config_setting_get_elem(group, i);
			const struct conf_setting *s = find_setting(gname, config_setting_name(cs));

			if (!s) {
				snprintf(errbuf, errbuf_size, "%s:%d: unknown setting '%s.%s'",
					 path, config_setting_source_line(cs), gname,
					 config_setting_name(cs));
				ret = -EINVAL;
				goto out;
			}
			if (apply_setting(c, s, cs, why, sizeof(why)) < 0) {
				snprintf(errbuf, errbuf_size, "%s:%d: %s.%s: %s", path,
					 config_setting_source_line(cs), gname, s->name, why);
				ret = -EINVAL;
				goto out;
			}
		}
	}
out:
	config_destroy(&cfg);
	return ret;
}

int conf_validate(const struct conf *c, char *errbuf, size_t errbuf_size)
{
	const struct transport_config *t = &c->export.transport;

	if (t->reconnect_min_ms > t->reconnect_max_ms) {
		snprintf(errbuf, errbuf_size,
			 "export.reconnect_min_ms (%u) is larger than export.reconnect_max_ms (%u)",
			 t->reconnect_min_ms, t->reconnect_max_ms);
		return -EINVAL;
	}
	if (!c->elements_file || !c->templates_file) {
		snprintf(errbuf, errbuf_size,
			 "export.elements_file and export.templates_file are required");
		return -EINVAL;
	}
	if (c->k8s.enabled && c->read_file && c->k8s.sync_timeout_ms == 0) {
		snprintf(errbuf, errbuf_size,
			 "kubernetes.sync_timeout_ms must be > 0 when reading a file with the "
			 "Kubernetes source");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->targets.n; i++) {
		struct transport_spec spec;
		char why[256];

		if (transport_parse(c->targets.v[i], &spec, why, sizeof(why)) < 0) {
			snprintf(errbuf, errbuf_size, "export target '%s': %s", c->targets.v[i],
				 why);
			return -EINVAL;
		}
		if ((spec.kind == TRANSPORT_NETFLOW9 || spec.kind == TRANSPORT_NETFLOW5) &&
		    c->flow.biflow) {
			snprintf(errbuf, errbuf_size,
				 "export target '%s': NetFlow carries no biflows; use IPFIX with "
				 "flow.biflow",
				 c->targets.v[i]);
			return -EINVAL;
		}
		if (spec.kind == TRANSPORT_NETFLOW5 &&
		    c->export.ipfix.sampling_interval > NETFLOW_V5_MAX_SAMPLING_INTERVAL) {
			snprintf(errbuf, errbuf_size,
				 "export target '%s': flow.sampling_interval %u does not fit "
				 "a NetFlow v5 header (at most %u)",
				 c->targets.v[i], c->export.ipfix.sampling_interval,
				 NETFLOW_V5_MAX_SAMPLING_INTERVAL);
			return -EINVAL;
		}
	}
	return 0;
}
