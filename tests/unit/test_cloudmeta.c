// SPDX-License-Identifier: Apache-2.0
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "cloudmeta.h"

#ifndef LF_TOP_SRCDIR
#define LF_TOP_SRCDIR "."
#endif
#define FAKE LF_TOP_SRCDIR "/tests/fakes/fake_metadata.py"

/* The fake's data (tests/fakes/fake_metadata.py). */
#define AWS_INSTANCE "i-0abc123def4567890"
#define AWS_VPC	     "vpc-0fedcba9876543210"
#define AWS_SUBNET1  "subnet-0123456789abcdef0"
#define AWS_SUBNET2  "subnet-0aaaabbbbccccdddd"
#define GCP_INSTANCE "4520031799277581759"
#define AZ_VMID	     "02aab8a4-74ef-476e-8182-f6d2ba4166a6"

static GPid fake_pid;
static char fake_url[64];
static struct enrich *e;
static struct cloudmeta *cm;

/* Start the fake for one provider and learn its port. */
static void fake_start(const char *provider)
{
	char *argv[] = {"python3", FAKE, "--provider", (char *)provider, NULL};
	GError *err = NULL;
	char line[64] = "";
	size_t n = 0;
	int out = -1;
	int port = 0;

	cr_assert(g_spawn_async_with_pipes(NULL, argv, NULL,
					   G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, NULL,
					   NULL, &fake_pid, NULL, &out, NULL, &err),
		  "spawn %s: %s", FAKE, err ? err->message : "?");
	while (n + 1 < sizeof(line) && !strchr(line, '\n')) {
		struct pollfd p = {.fd = out, .events = POLLIN};
		ssize_t got;

		cr_assert_gt(poll(&p, 1, 10000), 0, "the fake did not print its port");
		got = read(out, line + n, sizeof(line) - 1 - n);
		cr_assert_gt(got, 0, "the fake exited before printing its port");
		n += (size_t)got;
		line[n] = '\0';
	}
	close(out);
	cr_assert_eq(sscanf(line, "PORT %d", &port), 1, "bad port line '%s'", line);
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:%d", port);
}

static void fake_stop(void)
{
	if (!fake_pid)
		return;
	kill(fake_pid, SIGKILL);
	waitpid(fake_pid, NULL, 0);
	g_spawn_close_pid(fake_pid);
	fake_pid = 0;
}

static size_t sink(char *p, size_t s, size_t n, void *user)
{
	g_string_append_len(user, p, (gssize)(s * n));
	return s * n;
}

/* A plain request from the test itself. Returns the HTTP status; body optional. */
static long request(const char *method, const char *path, const char *header, const char *data,
		    GString *body)
{
	g_autofree char *url = g_strconcat(fake_url, path, NULL);
	struct curl_slist *h = header ? curl_slist_append(NULL, header) : NULL;
	GString *ignore = g_string_new(NULL);
	CURL *c = curl_easy_init();
	long status = 0;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	if (data)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body ? body : ignore);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s %s", method, path);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	g_string_free(ignore, TRUE);
	return status;
}

static void fake_config(const char *json)
{
	cr_assert_eq(
		request("POST", "/__fake/config", "Content-Type: application/json", json, NULL),
		204);
}

/* How many answers the fake gave with this status. */
static long fake_count(const char *status)
{
	GString *body = g_string_new(NULL);
	json_t *root, *n;
	long v;

	cr_assert_eq(request("GET", "/__fake/stats", NULL, NULL, body), 200);
	root = json_loads(body->str, 0, NULL);
	cr_assert_not_null(root);
	n = json_object_get(json_object_get(root, "by_status"), status);
	v = n ? (long)json_integer_value(n) : 0;
	json_decref(root);
	g_string_free(body, TRUE);
	return v;
}

static void setup(void)
{
	e = enrich_new();
	fake_pid = 0;
	snprintf(fake_url, sizeof(fake_url), "http://127.0.0.1:1");
}

static void teardown(void)
{
	cloudmeta_free(cm);
	cm = NULL;
	fake_stop();
	enrich_free(e);
}

TestSuite(cloudmeta, .init = setup, .fini = teardown, .timeout = 60);

static void start(enum cloudmeta_provider p, uint32_t timeout_ms, uint32_t refresh_ms)
{
	struct cloudmeta_config c = {
		.provider = p,
		.base_url = fake_url,
		.timeout_ms = timeout_ms,
		.refresh_ms = refresh_ms,
		.retry_ms = refresh_ms,
	};

	cm = cloudmeta_new(e, &c);
	cr_assert_not_null(cm);
}

static struct cloudmeta_stats stats(void)
{
	struct cloudmeta_stats s;

	cloudmeta_get_stats(cm, &s);
	return s;
}

/* Wait (at most 10 s) until the counters reach the given values. */
static void wait_stats(uint64_t ok, uint64_t failed)
{
	gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;
	struct cloudmeta_stats s;

	for (;;) {
		s = stats();
		if (s.fetches_ok >= ok && s.fetches_failed >= failed)
			return;
		cr_assert_lt(g_get_monotonic_time(), end,
			     "waited for ok >= %" PRIu64 ", failed >= %" PRIu64 "; have %" PRIu64
			     ", %" PRIu64,
			     ok, failed, s.fetches_ok, s.fetches_failed);
		g_usleep(5000);
	}
}

/*
 * Check every dimension of ip's labels: want lists {dim, value} pairs; all others must be
 * NULL. With no pairs, ip must match nothing at all.
 */
static void expect(const char *ip, int n, ...)
{
	const char *want[ENRICH_DIM_COUNT] = {0};
	struct enrich_snapshot *s = enrich_snapshot_acquire(e);
	struct enrich_labels l;
	struct enrich_addr a;
	va_list ap;
	bool hit;
	int i;

	va_start(ap, n);
	for (i = 0; i < n; i++) {
		int d = va_arg(ap, int);

		want[d] = va_arg(ap, const char *);
	}
	va_end(ap);
	cr_assert_eq(enrich_addr_parse(ip, &a), 0);
	hit = enrich_lookup(s, &a, 0, &l);
	cr_assert_eq(hit, n > 0, "%s: matched %d, want %d", ip, hit, n > 0);
	for (i = 0; i < ENRICH_DIM_COUNT; i++) {
		if (!want[i])
			cr_assert_null(l.v[i], "%s: %s is '%s', want NULL", ip, enrich_dim_key(i),
				       l.v[i]);
		else
			cr_assert(l.v[i] && strcmp(l.v[i], want[i]) == 0,
				  "%s: %s is '%s', want '%s'", ip, enrich_dim_key(i),
				  l.v[i] ? l.v[i] : "(null)", want[i]);
	}
	enrich_snapshot_release(s);
}

Test(cloudmeta, aws_imdsv2_node_and_subnets)
{
	fake_start("aws");
	start(CLOUDMETA_AWS, 2000, 60000);
	wait_stats(1, 0);
	cr_assert_eq(stats().publishes, 1);
	cr_assert_eq(stats().provider, CLOUDMETA_AWS);
	cr_assert_gt(stats().last_ok_ms, 1600000000000ull);

	/* The node's primary address: every cloud dimension, no kind. */
	expect("10.20.1.15", 5, ENRICH_INSTANCE_ID, AWS_INSTANCE, ENRICH_ZONE, "eu-west-1b",
	       ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
	/* A secondary address of the primary ENI (a pod with the VPC CNI): subnet labels. */
	expect("10.20.1.77", 4, ENRICH_ZONE, "eu-west-1b", ENRICH_REGION, "eu-west-1", ENRICH_VPC,
	       AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
	/* The second ENI's subnet. */
	expect("100.64.5.5", 4, ENRICH_ZONE, "eu-west-1b", ENRICH_REGION, "eu-west-1", ENRICH_VPC,
	       AWS_VPC, ENRICH_SUBNET, AWS_SUBNET2);
	/* Elsewhere in the VPC's blocks: another zone's subnet, so only VPC and region. */
	expect("10.20.200.1", 2, ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC);
	expect("100.64.200.1", 2, ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC);
	expect("2a05:d018:1234:5600::99", 4, ENRICH_ZONE, "eu-west-1b", ENRICH_REGION, "eu-west-1",
	       ENRICH_VPC, AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
	expect("192.168.1.1", 0);

	/* The client always sent the headers IMDSv2 requires. */
	cr_assert_eq(fake_count("400"), 0);
	cr_assert_eq(fake_count("401"), 0);
	cr_assert_eq(fake_count("403"), 0);
	cr_assert_gt(fake_count("200"), 10);
}

Test(cloudmeta, gcp_node_and_subnet)
{
	fake_start("gcp");
	start(CLOUDMETA_GCP, 2000, 60000);
	wait_stats(1, 0);
	expect("10.128.0.7", 4, ENRICH_INSTANCE_ID, GCP_INSTANCE, ENRICH_ZONE, "us-central1-a",
	       ENRICH_REGION, "us-central1", ENRICH_VPC, "prod-vpc");
	/* 255.255.240.0: 10.128.0.0/20, regional. */
	expect("10.128.15.254", 2, ENRICH_REGION, "us-central1", ENRICH_VPC, "prod-vpc");
	expect("10.128.16.1", 0);
	cr_assert_eq(fake_count("403"), 0);
	cr_assert_eq(fake_count("404"), 0);
}

Test(cloudmeta, azure_node_and_subnet)
{
	fake_start("azure");
	start(CLOUDMETA_AZURE, 2000, 60000);
	wait_stats(1, 0);
	expect("10.224.0.4", 3, ENRICH_INSTANCE_ID, AZ_VMID, ENRICH_ZONE, "westeurope-2",
	       ENRICH_REGION, "westeurope");
	expect("10.224.0.33", 1, ENRICH_REGION, "westeurope"); /* a secondary ipconfig */
	expect("10.224.250.1", 1, ENRICH_REGION, "westeurope");
	expect("10.225.0.1", 0);
	cr_assert_eq(fake_count("400"), 0);
}

Test(cloudmeta, azure_without_zone)
{
	fake_start("azure");
	fake_config("{\"values\": {\"compute.zone\": \"\"}}");
	start(CLOUDMETA_AZURE, 2000, 60000);
	wait_stats(1, 0);
	expect("10.224.0.4", 2, ENRICH_INSTANCE_ID, AZ_VMID, ENRICH_REGION, "westeurope");
}

/* The fake is only worth something if it refuses what the real services refuse. */
Test(cloudmeta, fake_enforces_the_real_header_rules)
{
	GString *tok = g_string_new(NULL);
	g_autofree char *auth = NULL;

	fake_start("aws");
	cr_assert_eq(request("GET", "/latest/meta-data/instance-id", NULL, NULL, NULL), 401);
	cr_assert_eq(request("PUT", "/latest/api/token", NULL, NULL, NULL), 400);
	cr_assert_eq(request("PUT", "/latest/api/token",
			     "X-aws-ec2-metadata-token-ttl-seconds: 99999", NULL, NULL),
		     400);
	cr_assert_eq(request("GET", "/latest/meta-data/instance-id",
			     "X-aws-ec2-metadata-token: forged", NULL, NULL),
		     401);
	cr_assert_eq(request("PUT", "/latest/api/token", "X-aws-ec2-metadata-token-ttl-seconds: 60",
			     NULL, tok),
		     200);
	auth = g_strconcat("X-aws-ec2-metadata-token: ", tok->str, NULL);
	cr_assert_eq(request("GET", "/latest/meta-data/instance-id", auth, NULL, NULL), 200);
	g_string_free(tok, TRUE);
	fake_stop();

	fake_start("gcp");
	cr_assert_eq(request("GET", "/computeMetadata/v1/instance/id", NULL, NULL, NULL), 403);
	cr_assert_eq(request("GET", "/computeMetadata/v1/instance/id", "Metadata-Flavor: google",
			     NULL, NULL),
		     403);
	cr_assert_eq(request("GET", "/computeMetadata/v1/instance/id", "Metadata-Flavor: Google",
			     NULL, NULL),
		     200);
	fake_stop();

	fake_start("azure");
	cr_assert_eq(request("GET", "/metadata/instance?api-version=2021-02-01", NULL, NULL, NULL),
		     400);
	cr_assert_eq(request("GET", "/metadata/instance", "Metadata: true", NULL, NULL), 400);
	cr_assert_eq(request("GET", "/metadata/instance?api-version=2021-02-01", "Metadata: true",
			     NULL, NULL),
		     200);
}

Test(cloudmeta, auto_detects_gcp)
{
	fake_start("gcp");
	start(CLOUDMETA_AUTO, 2000, 100);
	wait_stats(1, 0);
	cr_assert_eq(stats().provider, CLOUDMETA_GCP);
	cr_assert_eq(stats().fetches_failed, 0); /* AWS failing first is part of one round */
	expect("10.128.0.7", 4, ENRICH_INSTANCE_ID, GCP_INSTANCE, ENRICH_ZONE, "us-central1-a",
	       ENRICH_REGION, "us-central1", ENRICH_VPC, "prod-vpc");
	/* Once detected, only GCP is asked: the AWS token request is not repeated. */
	wait_stats(3, 0);
	cr_assert_eq(fake_count("404"), 1);
}

Test(cloudmeta, auto_detects_azure)
{
	fake_start("azure");
	start(CLOUDMETA_AUTO, 2000, 60000);
	wait_stats(1, 0);
	cr_assert_eq(stats().provider, CLOUDMETA_AZURE);
	expect("10.224.0.4", 3, ENRICH_INSTANCE_ID, AZ_VMID, ENRICH_ZONE, "westeurope-2",
	       ENRICH_REGION, "westeurope");
}

Test(cloudmeta, nothing_answers)
{
	/* setup()'s URL: port 1 on loopback, where nothing listens. */
	start(CLOUDMETA_AUTO, 500, 100);
	wait_stats(0, 2);
	cr_assert_eq(stats().fetches_ok, 0);
	cr_assert_eq(stats().publishes, 0);
	cr_assert_eq(stats().last_ok_ms, 0);
	cr_assert_eq(stats().provider, CLOUDMETA_AUTO);
	cr_assert_eq(enrich_generation(e), 0);
}

Test(cloudmeta, server_down_keeps_the_last_view)
{
	uint64_t gen;

	fake_start("aws");
	start(CLOUDMETA_AWS, 1000, 60000);
	wait_stats(1, 0);
	gen = enrich_generation(e);
	fake_stop();
	cloudmeta_refresh(cm);
	wait_stats(1, 1);
	cloudmeta_refresh(cm);
	wait_stats(1, 2);
	cr_assert_eq(enrich_generation(e), gen);
	expect("10.20.1.15", 5, ENRICH_INSTANCE_ID, AWS_INSTANCE, ENRICH_ZONE, "eu-west-1b",
	       ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
}

Test(cloudmeta, http_errors_are_failures)
{
	fake_start("aws");
	fake_config("{\"status\": 500}");
	start(CLOUDMETA_AWS, 1000, 100);
	wait_stats(0, 2);
	cr_assert_eq(stats().fetches_ok, 0);
	cr_assert_eq(enrich_generation(e), 0);
	/* Back to normal: the next retry succeeds. */
	fake_config("{\"status\": null}");
	wait_stats(1, 2);
	expect("10.20.1.15", 5, ENRICH_INSTANCE_ID, AWS_INSTANCE, ENRICH_ZONE, "eu-west-1b",
	       ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
}

Test(cloudmeta, azure_malformed_json_keeps_the_last_view)
{
	uint64_t gen;

	fake_start("azure");
	start(CLOUDMETA_AZURE, 1000, 60000);
	wait_stats(1, 0);
	gen = enrich_generation(e);
	fake_config("{\"malformed\": true}");
	cloudmeta_refresh(cm);
	wait_stats(1, 1);
	cr_assert_eq(enrich_generation(e), gen);
	expect("10.224.0.4", 3, ENRICH_INSTANCE_ID, AZ_VMID, ENRICH_ZONE, "westeurope-2",
	       ENRICH_REGION, "westeurope");
	/* Well-formed JSON of the wrong shape is refused too. */
	fake_config("{\"malformed\": false, \"values\": {\"compute.vmId\": 42}}");
	cloudmeta_refresh(cm);
	wait_stats(1, 2);
	fake_config("{\"values\": {\"compute.vmId\": \"11111111-2222-3333-4444-555555555555\","
		    " \"network.interface.0.ipv4.subnet\": [{\"address\": \"10.224.0.0\"}]}}");
	cloudmeta_refresh(cm);
	wait_stats(1, 3);
	cr_assert_eq(enrich_generation(e), gen);
	expect("10.224.0.4", 3, ENRICH_INSTANCE_ID, AZ_VMID, ENRICH_ZONE, "westeurope-2",
	       ENRICH_REGION, "westeurope");
}

Test(cloudmeta, malformed_values_are_failures)
{
	fake_start("aws");
	fake_config("{\"malformed\": true}"); /* subnet-ipv4-cidr-block "10.20.0.0/99" */
	start(CLOUDMETA_AWS, 1000, 60000);
	wait_stats(0, 1);
	cr_assert_eq(enrich_generation(e), 0);
	cloudmeta_free(cm);
	cm = NULL;
	fake_stop();

	fake_start("aws");
	fake_config("{\"values\": {\"latest/meta-data/mac\": \"../../../../etc\"}}");
	start(CLOUDMETA_AWS, 1000, 60000);
	wait_stats(0, 1);
	cr_assert_eq(enrich_generation(e), 0);
	cloudmeta_free(cm);
	cm = NULL;
	fake_stop();

	fake_start("gcp");
	fake_config("{\"malformed\": true}"); /* subnetmask 255.0.255.0 */
	start(CLOUDMETA_GCP, 1000, 60000);
	wait_stats(0, 1);
	cr_assert_eq(enrich_generation(e), 0);
	cloudmeta_free(cm);
	cm = NULL;
	fake_stop();

	fake_start("gcp");
	fake_config("{\"values\": {\"computeMetadata/v1/instance/zone\": \"nozone\"}}");
	start(CLOUDMETA_GCP, 1000, 60000);
	wait_stats(0, 1);
	cr_assert_eq(enrich_generation(e), 0);
}

Test(cloudmeta, a_slow_server_times_out)
{
	gint64 t0;
	uint64_t ms;

	fake_start("aws");
	fake_config("{\"sleep_ms\": 3000}");
	t0 = g_get_monotonic_time();
	start(CLOUDMETA_AWS, 300, 60000);
	wait_stats(0, 1);
	ms = (uint64_t)((g_get_monotonic_time() - t0) / 1000);
	/* The first request (the token) gave up after timeout_ms, not after the server's 3 s. */
	cr_assert_geq(ms, 250, "failed after %" PRIu64 " ms", ms);
	cr_assert_lt(ms, 1500, "failed after %" PRIu64 " ms", ms);
	cr_assert_eq(stats().fetches_ok, 0);
}

Test(cloudmeta, free_aborts_a_request_in_flight)
{
	gint64 t0;

	fake_start("gcp");
	fake_config("{\"sleep_ms\": 20000}");
	start(CLOUDMETA_GCP, 30000, 60000);
	g_usleep(200000); /* the first request is now waiting for the server */
	t0 = g_get_monotonic_time();
	cloudmeta_free(cm);
	cm = NULL;
	cr_assert_lt(g_get_monotonic_time() - t0, 3 * G_TIME_SPAN_SECOND);
}

Test(cloudmeta, refresh_publishes_only_changes)
{
	fake_start("aws");
	start(CLOUDMETA_AWS, 2000, 50);
	wait_stats(3, 0);
	cr_assert_eq(stats().publishes, 1);
	fake_config("{\"values\": {\"latest/meta-data/placement/availability-zone\": "
		    "\"eu-west-1c\"}}");
	{
		gint64 end = g_get_monotonic_time() + 10 * G_TIME_SPAN_SECOND;

		while (stats().publishes < 2 && g_get_monotonic_time() < end)
			g_usleep(5000);
	}
	cr_assert_eq(stats().publishes, 2);
	expect("10.20.1.15", 5, ENRICH_INSTANCE_ID, AWS_INSTANCE, ENRICH_ZONE, "eu-west-1c",
	       ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
	wait_stats(stats().fetches_ok + 3, 0);
	cr_assert_eq(stats().publishes, 2);
}

Test(cloudmeta, region_from_the_zone_when_imds_has_none)
{
	fake_start("aws");
	fake_config("{\"values\": {\"latest/meta-data/placement/region\": null}}");
	start(CLOUDMETA_AWS, 2000, 60000);
	wait_stats(1, 0);
	expect("10.20.1.15", 5, ENRICH_INSTANCE_ID, AWS_INSTANCE, ENRICH_ZONE, "eu-west-1b",
	       ENRICH_REGION, "eu-west-1", ENRICH_VPC, AWS_VPC, ENRICH_SUBNET, AWS_SUBNET1);
}

Test(cloudmeta, provider_names_and_bad_configs)
{
	enum cloudmeta_provider p;
	struct cloudmeta_config c = {.provider = CLOUDMETA_OFF};
	struct cloudmeta_stats s;

	cr_assert_eq(cloudmeta_parse_provider("aws", &p), 0);
	cr_assert_eq(p, CLOUDMETA_AWS);
	cr_assert_eq(cloudmeta_parse_provider("Azure", &p), 0);
	cr_assert_eq(p, CLOUDMETA_AZURE);
	cr_assert_eq(cloudmeta_parse_provider("off", &p), 0);
	cr_assert_eq(p, CLOUDMETA_OFF);
	cr_assert_eq(cloudmeta_parse_provider("auto", &p), 0);
	cr_assert_eq(p, CLOUDMETA_AUTO);
	cr_assert_eq(cloudmeta_parse_provider("oracle", &p), -EINVAL);
	cr_assert_eq(cloudmeta_parse_provider(NULL, &p), -EINVAL);
	cr_assert_str_eq(cloudmeta_provider_name(CLOUDMETA_GCP), "gcp");
	cr_assert_null(cloudmeta_provider_name((enum cloudmeta_provider)42));

	cr_assert_null(cloudmeta_new(e, &c));
	c.provider = (enum cloudmeta_provider)42;
	cr_assert_null(cloudmeta_new(e, &c));
	c.provider = CLOUDMETA_AWS;
	c.base_url = "file:///etc/passwd";
	cr_assert_null(cloudmeta_new(e, &c));
	cr_assert_null(cloudmeta_new(NULL, &c));
	cr_assert_null(cloudmeta_new(e, NULL));
	cloudmeta_free(NULL);
	cloudmeta_refresh(NULL);
	cloudmeta_get_stats(NULL, &s);
	cr_assert_eq(s.fetches_ok, 0);
}

/* The fake needs python3: without it the whole program is skipped (exit 77), not passed. */
int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	g_autofree char *py = g_find_program_in_path("python3");
	int result = 0;

	if (!py) {
		fprintf(stderr, "test_cloudmeta: SKIP: python3 not found\n");
		criterion_finalize(tests);
		return 77;
	}
	if (criterion_handle_args(argc, argv, true))
		result = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return result;
}
