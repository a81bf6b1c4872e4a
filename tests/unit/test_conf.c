// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "conf.h"
#include "follow.h"

static char path[64];

static const char *write_conf(const char *text)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/lf-conf-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void cleanup(void)
{
	if (path[0])
		unlink(path);
}

TestSuite(conf, .fini = cleanup);

Test(conf, defaults_are_documented_values)
{
	struct conf c;

	conf_init(&c, "/data");
	cr_assert_eq(c.pen, 32473);
	cr_assert_eq(c.flow.max_flows, 262144);
	cr_assert_eq(c.flow.idle_timeout_ms, 15000);
	cr_assert_eq(c.flow.active_timeout_ms, 60000);
	cr_assert_eq(c.export.udp_max_msg_bytes, 1400);
	cr_assert(c.export.ipfix.rfc5610);
	cr_assert_not(c.live.promiscuous);
	cr_assert_str_eq(c.elements_file, "/data/labelflow-elements.xml");
	cr_assert_str_eq(c.templates_file, "/data/labelflow-templates.conf");
	conf_done(&c);
}

Test(conf, example_config_loads_and_validates)
{
	char err[512] = "";
	char example[4096];
	struct conf c;

	snprintf(example, sizeof(example), "%s/etc/labelflowd.conf", LF_TOP_SRCDIR);
	conf_init(&c, "/data");
	cr_assert_eq(conf_load_file(&c, example, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.flow.max_flows, 262144);
	conf_done(&c);
}

Test(conf, reads_every_kind_of_setting)
{
	char err[512] = "";
	struct conf c;

	conf_init(&c, "/data");
	write_conf(
		"capture: { include = [\"veth1\", \"cni0\"]; exclude = [\"veth9*\"]; snaplen = 512;"
		" backend = \"ebpf\"; tunnel_view = \"both\"; ebpf_max_flows = 4096;"
		" promiscuous = true; filter = \"udp\"; };\n"
		"flow: { max_flows = 1000; idle_timeout_ms = 2000; active_timeout_ms = 5000; };\n"
		"enrich: { inventory = \"/tmp/inv.json\"; libvirt = true; cloud = \"gcp\";"
		" cloud_url = \"http://127.0.0.1:1\"; };\n"
		"kubernetes: { enabled = true; kubeconfig = \"/k\"; cluster_name = \"prod\";"
		" label_keys = [\"team\"]; tombstone_ms = 5000; };\n"
		"export: { targets = [\"udp:127.0.0.1:4739\", \"tcp:[::1]:4739\"]; pen = 12345;"
		" rfc5610 = false; udp_max_msg_bytes = 1200; };\n"
		"daemon: { log_level = \"debug\"; stats_interval_ms = 0; };\n");
	cr_assert_eq(conf_load_file(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.include.n, 2);
	cr_assert_str_eq(c.include.v[1], "cni0");
	cr_assert_eq(c.exclude.n, 1);
	cr_assert_str_eq(c.exclude.v[0], "veth9*");
	cr_assert_eq(c.backend, CONF_BACKEND_EBPF);
	cr_assert_eq(c.decode.tunnel_view, DECODE_VIEW_BOTH);
	cr_assert_eq(c.live.max_flows, 4096);
	cr_assert(c.libvirt);
	cr_assert_eq(c.cloud, CONF_CLOUD_GCP);
	cr_assert_str_eq(c.cloud_url, "http://127.0.0.1:1");
	cr_assert(c.k8s.enabled);
	cr_assert_str_eq(c.k8s.kubeconfig, "/k");
	cr_assert_str_eq(c.k8s.cluster_name, "prod");
	cr_assert_eq(c.k8s.label_keys.n, 1);
	cr_assert_str_eq(c.k8s.label_keys.v[0], "team");
	cr_assert_eq(c.k8s.tombstone_ms, 5000);
	cr_assert_eq(c.live.snaplen, 512);
	cr_assert(c.live.promiscuous);
	cr_assert_str_eq(c.live.bpf_filter, "udp");
	cr_assert_eq(c.flow.max_flows, 1000);
	cr_assert_eq(c.flow.idle_timeout_ms, 2000);
	cr_assert_eq(c.flow.active_timeout_ms, 5000);
	cr_assert_str_eq(c.inventory, "/tmp/inv.json");
	cr_assert_eq(c.targets.n, 2);
	cr_assert_str_eq(c.targets.v[1], "tcp:[::1]:4739");
	cr_assert_eq(c.pen, 12345);
	cr_assert_not(c.export.ipfix.rfc5610);
	cr_assert_eq(c.export.udp_max_msg_bytes, 1200);
	cr_assert_eq(c.log_level, LOG_LVL_DEBUG);
	cr_assert_eq(c.stats_interval_ms, 0);
	conf_done(&c);
}

static void expect_error(const char *text, const char *fragment)
{
	char err[512] = "";
	struct conf c;

	conf_init(&c, "/data");
	write_conf(text);
	cr_assert_eq(conf_load_file(&c, path, err, sizeof(err)), -EINVAL, "accepted: %s", text);
	cr_assert(strstr(err, fragment) != NULL, "message '%s' lacks '%s'", err, fragment);
	cr_assert(strstr(err, path) != NULL, "message '%s' lacks the file name", err);
	conf_done(&c);
}

Test(conf, rejects_syntax_error_with_line)
{
	expect_error("flow: {\n max_flows = 1000;\n idle_timeout_ms = ;\n};\n", ":3:");
}

Test(conf, rejects_unknown_setting_with_line)
{
	expect_error("flow:\n{\n  max_flow = 1000;\n};\n", ":3: unknown setting 'flow.max_flow'");
}

Test(conf, rejects_unknown_section)
{
	expect_error("flows: { max_flows = 1000; };\n", "unknown section 'flows'");
}

Test(conf, rejects_out_of_range_value)
{
	expect_error("flow: { max_flows = 2; };\n", "flow.max_flows: 2 is out of range");
}

Test(conf, rejects_wrong_types)
{
	expect_error("flow: { max_flows = \"many\"; };\n", "must be an integer");
	expect_error("export: { rfc5610 = 1; };\n", "must be true or false");
	expect_error("daemon: { log_level = \"loud\"; };\n", "must be \"error\"");
	expect_error("capture: { include = \"veth0\"; };\n", "must be a list of strings");
	expect_error("capture: { backend = \"afxdp\"; };\n", "must be one of \"pcap\", \"ebpf\"");
	expect_error("capture: { tunnel_view = 1; };\n", "must be one of \"inner\"");
	expect_error("enrich: { cloud = \"ibm\"; };\n", "\"azure\"");
}

Test(conf, rejects_bad_export_target)
{
	expect_error("export: { targets = [\"smtp:host:25\"]; };\n", "'smtp:host:25'");
	expect_error("export: { targets = [\"udp:127.0.0.1\"]; };\n", "'udp:127.0.0.1'");
}

Test(conf, missing_file_is_a_clear_error)
{
	char err[512] = "";
	struct conf c;

	conf_init(&c, "/data");
	cr_assert_eq(conf_load_file(&c, "/nonexistent/labelflowd.conf", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "/nonexistent/labelflowd.conf: cannot read") != NULL, "%s", err);
	conf_done(&c);
}

Test(conf, defaults_follow_common_cnis_and_label_keys)
{
	struct conf c;
	bool veth = false, lo_excluded = false;

	conf_init(&c, "/data");
	for (size_t i = 0; follow_default_include[i]; i++)
		veth |= strcmp(follow_default_include[i], "veth*") == 0;
	for (size_t i = 0; follow_default_exclude[i]; i++)
		lo_excluded |= strcmp(follow_default_exclude[i], "lo") == 0;
	cr_assert(veth);
	cr_assert(lo_excluded);
	cr_assert_gt(c.include.n, 10, "live capture follows the default patterns");
	cr_assert_str_eq(c.include.v[0], follow_default_include[0]);
	cr_assert_str_eq(c.exclude.v[0], "lo");
	cr_assert_eq(c.backend, CONF_BACKEND_PCAP);
	cr_assert_eq(c.cloud, CONF_CLOUD_OFF);
	cr_assert_eq(c.k8s.label_keys.n, 3);
	cr_assert_str_eq(c.k8s.label_keys.v[0], "app");
	conf_done(&c);
}

Test(conf, validate_rejects_inverted_backoff)
{
	char err[512] = "";
	struct conf c;

	conf_init(&c, "/data");
	c.export.transport.reconnect_min_ms = 5000;
	c.export.transport.reconnect_max_ms = 1000;
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "reconnect_min_ms") != NULL, "%s", err);
	conf_done(&c);
}

Test(conf, lists_are_bounded)
{
	struct conf c;
	int rc = 0;

	conf_init(&c, "/data");
	for (int i = 0; i <= CONF_MAX_LIST && rc == 0; i++)
		rc = conf_list_add(&c.targets, "udp:127.0.0.1:4739");
	cr_assert_eq(rc, -E2BIG);
	cr_assert_eq(c.targets.n, CONF_MAX_LIST);
	conf_done(&c);
}

Test(conf, biflow_sampling_and_selection_settings)
{
	char err[512] = "";
	struct conf c;

	conf_init(&c, "/data");
	cr_assert_not(c.flow.biflow);
	cr_assert_eq(c.export.ipfix.sampling_interval, 1);
	cr_assert_eq(c.select.n, 0);
	write_conf("flow: { biflow = true; sampling_interval = 100; };\n"
		   "export: { select = ( { namespace = \"shop\"; },\n"
		   "  { labels = \"app in (a, b)\"; cidr = \"10.0.0.0/8\"; } ); };\n");
	cr_assert_eq(conf_load_file(&c, path, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert(c.flow.biflow);
	cr_assert_eq(c.export.ipfix.sampling_interval, 100);
	cr_assert_eq(c.select.n, 2);
	cr_assert_eq(c.select.rule[1].n, 2);
	cr_assert_str_eq(c.select.rule[1].key[0], "labels");
	cr_assert_str_eq(c.select.rule[1].value[0], "app in (a, b)");
	cr_assert_str_eq(c.select.rule[1].key[1], "cidr");
	cr_assert_eq(conf_list_add(&c.targets, "netflow9:127.0.0.1:2055"), 0);
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "NetFlow carries no biflows"), "%s", err);
	/* Sampling is reported in NetFlow too: v9 options, the v5 header up to 16383. */
	c.flow.biflow = false;
	cr_assert_eq(conf_list_add(&c.targets, "netflow5:127.0.0.1:2056"), 0);
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), 0, "%s", err);
	c.export.ipfix.sampling_interval = 16384;
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "'netflow5:127.0.0.1:2056'"), "%s", err);
	cr_assert_not_null(strstr(err, "does not fit a NetFlow v5 header"), "%s", err);
	conf_list_clear(&c.targets);
	c.export.ipfix.sampling_interval = 100;
	c.flow.biflow = true;
	/* The eBPF backend meters biflows and samples in the kernel too. */
	c.backend = CONF_BACKEND_EBPF;
	cr_assert_eq(conf_validate(&c, err, sizeof(err)), 0, "%s", err);
	conf_done(&c);

	conf_init(&c, "/data");
	write_conf("export: { select = (\n { namespace = \"a\"; },\n { labels = \"!\"; } ); };\n");
	cr_assert_eq(conf_load_file(&c, path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, ":1: export.select: rule 2 (line 3): labels '!'"), "%s",
			   err);
	conf_done(&c);
	conf_init(&c, "/data");
	write_conf("export: { select = ( { name = \"a\"; } ); };\n");
	cr_assert_eq(conf_load_file(&c, path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "unknown selection key 'name'"), "%s", err);
	conf_done(&c);
	conf_init(&c, "/data");
	write_conf("flow: { sampling_interval = 0; };\n");
	cr_assert_eq(conf_load_file(&c, path, err, sizeof(err)), -EINVAL);
	cr_assert_not_null(strstr(err, "out of range"), "%s", err);
	conf_done(&c);
}
