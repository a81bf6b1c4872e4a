// SPDX-License-Identifier: Apache-2.0
/*
 * cloudmeta: cloud instance metadata as an enrich source. One GThread owns one libcurl easy
 * handle and runs a round of plain HTTP requests per refresh (each bounded by timeout_ms,
 * never via a proxy); a round either completes into a whole view or fails, and a failed round
 * changes nothing published. A good view is published only when it differs from the last
 * (compared as canonical text), so a steady node causes no snapshot churn.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "cloudmeta.h"
#include "config.h"
#include "log.h"

/* Largest answer read; a larger one fails the round. Azure's whole document is ~3 KiB. */
#define CLOUDMETA_MAX_BODY_BYTES (64u << 10)
/* Longest single value (id, zone, token) accepted. */
#define CLOUDMETA_MAX_VALUE_BYTES 512u
/* Most network interfaces, addresses per interface, and CIDRs per list taken. */
#define CLOUDMETA_MAX_IFACES	16u
#define CLOUDMETA_MAX_ADDRS	64u
#define CLOUDMETA_MAX_CIDRS	16u
#define CLOUDMETA_AWS_TOKEN_TTL "600"
#define CLOUDMETA_AZURE_PATH	"/metadata/instance?api-version=2021-02-01"
#define CLOUDMETA_ERRBUF	768u
#define CLOUDMETA_QUOTE_BYTES	64u

static const char *const provider_names[] = {
	[CLOUDMETA_OFF] = "off",     [CLOUDMETA_AWS] = "aws",	[CLOUDMETA_GCP] = "gcp",
	[CLOUDMETA_AZURE] = "azure", [CLOUDMETA_AUTO] = "auto",
};

/* A prefix of the node's network, with the labels every address in it gets. */
struct cm_subnet {
	struct enrich_addr net; /* host bits zero */
	uint8_t len;
	char *vpc;    /* owned; NULL = unknown */
	char *subnet; /* owned; NULL = unknown */
	bool zonal;   /* lies in the node's zone (AWS subnets); else regional */
};

/* What one good round learned. Strings owned; NULL = the provider does not say. */
struct cm_view {
	enum cloudmeta_provider provider;
	char *instance_id;
	char *zone;
	char *region;
	char *vpc;
	char *subnet;
	GArray *node_ips;   /* owned, of struct enrich_addr: the node's primary address(es) */
	GPtrArray *subnets; /* owned, of owned struct cm_subnet * */
};

struct cloudmeta {
	struct enrich *e; /* borrowed: must outlive the source */
	enum cloudmeta_provider provider;
	char *base_url; /* owned, without a trailing '/' */
	uint32_t timeout_ms;
	uint32_t refresh_ms;
	uint32_t retry_ms;
	GThread *thread; /* owned: joined by cloudmeta_free */
	GMutex lock;	 /* guards stats, kick; stop is also read without it (atomic) */
	GCond cond;
	gint stop; /* g_atomic: the thread must end */
	bool kick; /* fetch now */
	struct cloudmeta_stats stats;
	/* Thread-only state. */
	CURL *curl; /* owned */
	char curl_err[CURL_ERROR_SIZE];
	char err[CLOUDMETA_ERRBUF]; /* why the current round failed */
	char *last_err;		    /* owned: the failure last logged, to log each kind once */
	char *published;	    /* owned: canonical text of the published view */
	bool failing;		    /* the last round failed */
};

/* The answer to one request. */
struct cm_resp {
	GString *body;	    /* owned */
	bool google_flavor; /* carried "Metadata-Flavor: Google" */
	bool too_big;
};

int cloudmeta_parse_provider(const char *name, enum cloudmeta_provider *ret_provider)
{
	size_t i;

	if (!name || !ret_provider)
		return -EINVAL;
	for (i = 0; i < G_N_ELEMENTS(provider_names); i++) {
		if (g_ascii_strcasecmp(name, provider_names[i]) == 0) {
			*ret_provider = (enum cloudmeta_provider)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *cloudmeta_provider_name(enum cloudmeta_provider p)
{
	return (unsigned)p < G_N_ELEMENTS(provider_names) ? provider_names[p] : NULL;
}

/* A server's value made safe to print: control bytes become '?', long values are cut. */
static const char *quote(const char *s, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] && n + 4 < size && i < CLOUDMETA_QUOTE_BYTES; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (s[i]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static void __attribute__((format(printf, 2, 3))) fail(struct cloudmeta *cm, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cm->err, sizeof(cm->err), fmt, ap);
	va_end(ap);
}

static bool stopping(struct cloudmeta *cm)
{
	return g_atomic_int_get(&cm->stop) != 0;
}

/* ---- views -------------------------------------------------------------------------- */

static void subnet_free(gpointer p)
{
	struct cm_subnet *s = p;

	if (!s)
		return;
	g_free(s->vpc);
	g_free(s->subnet);
	g_free(s);
}

static struct cm_view *view_new(enum cloudmeta_provider p)
{
	struct cm_view *v = g_new0(struct cm_view, 1);

	v->provider = p;
	v->node_ips = g_array_new(FALSE, TRUE, sizeof(struct enrich_addr));
	v->subnets = g_ptr_array_new_with_free_func(subnet_free);
	return v;
}

static void view_free(struct cm_view *v)
{
	if (!v)
		return;
	g_free(v->instance_id);
	g_free(v->zone);
	g_free(v->region);
	g_free(v->vpc);
	g_free(v->subnet);
	g_array_unref(v->node_ips);
	g_ptr_array_unref(v->subnets);
	g_free(v);
}

/* "a/len": the network (host bits cleared) and its length. Returns 0 or -EINVAL. */
static int cidr_parse(const char *addr, const char *len_text, struct enrich_addr *ret_net,
		      uint8_t *ret_len)
{
	struct enrich_addr a;
	unsigned long len;
	char *end;
	size_t i;

	if (enrich_addr_parse(addr, &a) < 0 || !g_ascii_isdigit(len_text[0]))
		return -EINVAL;
	errno = 0;
	len = strtoul(len_text, &end, 10);
	if (errno || *end || len > (a.family == 4 ? 32u : 128u))
		return -EINVAL;
	for (i = 0; i < sizeof(a.addr); i++) {
		unsigned keep = len >= (i + 1) * 8 ? 8 : len > i * 8 ? (unsigned)(len - i * 8) : 0;

		a.addr[i] &= (uint8_t)(0xff00u >> keep);
	}
	*ret_net = a;
	*ret_len = (uint8_t)len;
	return 0;
}

/* Add "10.0.0.0/24" with labels. Returns 0, or -EINVAL with cm->err written. */
static int view_add_cidr(struct cloudmeta *cm, struct cm_view *v, const char *what,
			 const char *text, const char *vpc, const char *subnet, bool zonal)
{
	char q[CLOUDMETA_QUOTE_BYTES + 8];
	g_autofree char *addr = g_strdup(text);
	char *slash = strchr(addr, '/');
	struct cm_subnet *s;
	struct enrich_addr net;
	uint8_t len;

	if (!slash || (*slash = '\0', cidr_parse(addr, slash + 1, &net, &len) < 0)) {
		fail(cm, "%s: '%s' is not a CIDR", what, quote(text, q, sizeof(q)));
		return -EINVAL;
	}
	if (v->subnets->len >= CLOUDMETA_MAX_IFACES * CLOUDMETA_MAX_CIDRS)
		return 0;
	s = g_new0(struct cm_subnet, 1);
	s->net = net;
	s->len = len;
	s->vpc = g_strdup(vpc);
	s->subnet = g_strdup(subnet);
	s->zonal = zonal;
	g_ptr_array_add(v->subnets, s);
	return 0;
}

static int view_add_ip(struct cloudmeta *cm, struct cm_view *v, const char *what, const char *text)
{
	char q[CLOUDMETA_QUOTE_BYTES + 8];
	struct enrich_addr a;

	if (enrich_addr_parse(text, &a) < 0) {
		fail(cm, "%s: '%s' is not an IP address", what, quote(text, q, sizeof(q)));
		return -EINVAL;
	}
	g_array_append_val(v->node_ips, a);
	return 0;
}

static void text_addr(GString *out, const struct enrich_addr *a, int len)
{
	char buf[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->addr, buf, sizeof(buf)))
		buf[0] = '\0';
	g_string_append(out, buf);
	if (len >= 0)
		g_string_append_printf(out, "/%d", len);
}

/* Canonical text of a view: equal text, equal table. */
static char *view_text(const struct cm_view *v)
{
	GString *out = g_string_new(NULL);
	const char *const f[] = {v->instance_id, v->zone, v->region, v->vpc, v->subnet};
	size_t i;

	g_string_append(out, cloudmeta_provider_name(v->provider));
	for (i = 0; i < G_N_ELEMENTS(f); i++)
		g_string_append_printf(out, "|%s", f[i] ? f[i] : "");
	for (i = 0; i < v->node_ips->len; i++) {
		g_string_append(out, "|ip ");
		text_addr(out, &g_array_index(v->node_ips, struct enrich_addr, i), -1);
	}
	for (i = 0; i < v->subnets->len; i++) {
		const struct cm_subnet *s = g_ptr_array_index(v->subnets, i);

		g_string_append(out, "|net ");
		text_addr(out, &s->net, s->len);
		g_string_append_printf(out, " %s %s %d", s->vpc ? s->vpc : "",
				       s->subnet ? s->subnet : "", s->zonal);
	}
	return g_string_free(out, FALSE);
}

/*
 * Endpoints for the node's addresses (every cloud dimension, KIND left to Kubernetes), then
 * prefixes: broader ones first so that a subnet equal to its VPC's block keeps its id.
 */
static struct enrich_table *view_table(const struct cm_view *v)
{
	const char *f[ENRICH_DIM_COUNT] = {0};
	struct enrich_table_builder *b = enrich_builder_new();
	size_t i;
	int pass;

	if (!b)
		return NULL;
	f[ENRICH_REGION] = v->region;
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < v->subnets->len; i++) {
			const struct cm_subnet *s = g_ptr_array_index(v->subnets, i);

			if ((pass == 0) != (s->subnet == NULL))
				continue;
			f[ENRICH_VPC] = s->vpc;
			f[ENRICH_SUBNET] = s->subnet;
			f[ENRICH_ZONE] = s->zonal ? v->zone : NULL;
			if (enrich_builder_add_subnet(b, &s->net, s->len, f) < 0)
				goto fail;
		}
	}
	f[ENRICH_VPC] = v->vpc;
	f[ENRICH_SUBNET] = v->subnet;
	f[ENRICH_ZONE] = v->zone;
	f[ENRICH_INSTANCE_ID] = v->instance_id;
	for (i = 0; i < v->node_ips->len; i++)
		if (enrich_builder_add_endpoint(
			    b, &g_array_index(v->node_ips, struct enrich_addr, i), f) < 0)
			goto fail;
	return enrich_builder_finish(b);
fail:
	enrich_builder_free(b);
	return NULL;
}

/* ---- HTTP --------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	struct cm_resp *r = user;
	size_t len = size * n;

	if (r->body->len + len > CLOUDMETA_MAX_BODY_BYTES) {
		r->too_big = true;
		return 0; /* makes libcurl fail the transfer */
	}
	g_string_append_len(r->body, data, (gssize)len);
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	static const char flavor[] = "metadata-flavor:";
	struct cm_resp *r = user;
	size_t len = size * n, i = sizeof(flavor) - 1;

	if (len >= i && g_ascii_strncasecmp(data, flavor, i) == 0) {
		while (i < len && (data[i] == ' ' || data[i] == '\t'))
			i++;
		r->google_flavor = len - i >= 6 && strncmp(data + i, "Google", 6) == 0 &&
				   (len - i == 6 || data[i + 6] == '\r' || data[i + 6] == '\n');
	}
	return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stopping(user) ? 1 : 0; /* non-zero aborts the transfer */
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_WRITE_ERROR:
		return -EMSGSIZE;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/*
 * One request to base_url + path with the given extra headers (NULL-terminated). Returns
 * the HTTP status with r->body filled, or -errno (transport failure, cm->err written).
 */
static int http(struct cloudmeta *cm, const char *method, const char *path,
		const char *const *headers, struct cm_resp *r)
{
	g_autofree char *url = g_strconcat(cm->base_url, path, NULL);
	struct curl_slist *hl = NULL, *n;
	CURL *h = cm->curl;
	long status = 0;
	CURLcode c;
	int ret;

	g_string_truncate(r->body, 0);
	r->google_flavor = false;
	r->too_big = false;
	/* Expect: and a proxy's headers never belong in a metadata request. */
	for (; headers && *headers; headers++) {
		n = curl_slist_append(hl, *headers);
		if (!n) {
			curl_slist_free_all(hl);
			fail(cm, "%s: out of memory", path);
			return -ENOMEM;
		}
		hl = n;
	}
	cm->curl_err[0] = '\0';
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	}
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	c = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	if (c != CURLE_OK) {
		ret = curl_errno(c);
		if (r->too_big)
			fail(cm, "%s: the answer is larger than %u KiB", path,
			     CLOUDMETA_MAX_BODY_BYTES >> 10);
		else
			fail(cm, "%s %s: %s", method, path,
			     cm->curl_err[0] ? cm->curl_err : curl_easy_strerror(c));
		return ret;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return (int)status;
}

/* A usable text value: UTF-8, no control bytes except newlines in lists. */
static bool text_ok(const char *s, size_t len, bool list)
{
	size_t i;

	if (!g_utf8_validate(s, (gssize)len, NULL))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < 0x20 && !(list && ch == '\n')) || ch == 0x7f)
			return false;
	}
	return true;
}

/*
 * GET a text value (one line, or a list of lines with list). Returns 0 with *ret (g_free it;
 * trailing blanks removed), -ENOENT on 404 or an empty answer, or -errno with cm->err.
 */
static int get_text(struct cloudmeta *cm, struct cm_resp *r, const char *path,
		    const char *const *headers, bool list, bool google, char **ret)
{
	int status = http(cm, "GET", path, headers, r);

	if (status < 0)
		return status;
	if (google && !r->google_flavor) {
		fail(cm,
		     "%s: HTTP %d without 'Metadata-Flavor: Google' (not a GCP metadata server)",
		     path, status);
		return -EPROTO;
	}
	if (status == 404)
		return -ENOENT;
	if (status != 200) {
		fail(cm, "%s: HTTP %d", path, status);
		return -EPROTO;
	}
	while (r->body->len && g_ascii_isspace(r->body->str[r->body->len - 1]))
		g_string_truncate(r->body, r->body->len - 1);
	if (!r->body->len)
		return -ENOENT;
	if ((!list && r->body->len > CLOUDMETA_MAX_VALUE_BYTES) ||
	    !text_ok(r->body->str, r->body->len, list)) {
		fail(cm, "%s: the answer is not a %s", path, list ? "list of values" : "value");
		return -EPROTO;
	}
	*ret = g_strndup(r->body->str, r->body->len);
	return 0;
}

/* Like get_text, but absent (-ENOENT) is fine: *ret stays NULL and 0 is returned. */
static int get_opt(struct cloudmeta *cm, struct cm_resp *r, const char *path,
		   const char *const *headers, bool list, bool google, char **ret)
{
	int rc;

	*ret = NULL;
	rc = get_text(cm, r, path, headers, list, google, ret);
	return rc == -ENOENT ? 0 : rc;
}

static int get_req(struct cloudmeta *cm, struct cm_resp *r, const char *path,
		   const char *const *headers, bool google, char **ret)
{
	int rc = get_text(cm, r, path, headers, false, google, ret);

	if (rc == -ENOENT)
		fail(cm, "%s: missing (HTTP 404 or empty)", path);
	return rc;
}

/* ---- AWS IMDSv2 --------------------------------------------------------------------- */

static bool aws_mac_ok(const char *s)
{
	size_t i;

	if (strlen(s) != 17)
		return false;
	for (i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !g_ascii_isxdigit(s[i]))
			return false;
	return true;
}

/* One ENI: its subnet (zonal) and VPC blocks (regional). The primary also labels the node. */
static int aws_iface(struct cloudmeta *cm, struct cm_resp *r, const char *const *h,
		     struct cm_view *v, const char *mac, bool primary)
{
	g_autofree char *vpc = NULL, *subnet = NULL, *cidr = NULL, *vpc_cidrs = NULL,
			*cidrs6 = NULL;
	g_autofree char *base =
		g_strdup_printf("/latest/meta-data/network/interfaces/macs/%s/", mac);
	g_autofree char *p1 = g_strconcat(base, "vpc-id", NULL);
	g_autofree char *p2 = g_strconcat(base, "subnet-id", NULL);
	g_autofree char *p3 = g_strconcat(base, "subnet-ipv4-cidr-block", NULL);
	g_autofree char *p4 = g_strconcat(base, "vpc-ipv4-cidr-blocks", NULL);
	g_autofree char *p5 = g_strconcat(base, "subnet-ipv6-cidr-blocks", NULL);
	g_auto(GStrv) lines = NULL;
	size_t i;
	int rc;

	if ((rc = get_opt(cm, r, p1, h, false, false, &vpc)) < 0 ||
	    (rc = get_opt(cm, r, p2, h, false, false, &subnet)) < 0 ||
	    (rc = get_opt(cm, r, p3, h, false, false, &cidr)) < 0 ||
	    (rc = get_opt(cm, r, p4, h, true, false, &vpc_cidrs)) < 0 ||
	    (rc = get_opt(cm, r, p5, h, true, false, &cidrs6)) < 0)
		return rc;
	if (primary) {
		v->vpc = g_strdup(vpc);
		v->subnet = g_strdup(subnet);
	}
	lines = g_strsplit(vpc_cidrs ? vpc_cidrs : "", "\n", CLOUDMETA_MAX_CIDRS + 1);
	for (i = 0; lines[i] && i < CLOUDMETA_MAX_CIDRS; i++)
		if (*g_strstrip(lines[i]) &&
		    view_add_cidr(cm, v, p4, lines[i], vpc, NULL, false) < 0)
			return -EINVAL;
	if (cidr && view_add_cidr(cm, v, p3, cidr, vpc, subnet, true) < 0)
		return -EINVAL;
	g_strfreev(lines);
	lines = g_strsplit(cidrs6 ? cidrs6 : "", "\n", CLOUDMETA_MAX_CIDRS + 1);
	for (i = 0; lines[i] && i < CLOUDMETA_MAX_CIDRS; i++)
		if (*g_strstrip(lines[i]) &&
		    view_add_cidr(cm, v, p5, lines[i], vpc, subnet, true) < 0)
			return -EINVAL;
	return 0;
}

static int fetch_aws(struct cloudmeta *cm, struct cm_resp *r, struct cm_view *v)
{
	static const char *const token_hdr[] = {
		"X-aws-ec2-metadata-token-ttl-seconds: " CLOUDMETA_AWS_TOKEN_TTL, NULL};
	g_autofree char *auth = NULL, *ip = NULL, *mac = NULL, *macs = NULL;
	const char *h[2] = {NULL, NULL};
	char q[CLOUDMETA_QUOTE_BYTES + 8];
	g_auto(GStrv) lines = NULL;
	size_t i, n = 0;
	int rc;

	rc = http(cm, "PUT", "/latest/api/token", token_hdr, r);
	if (rc < 0)
		return rc;
	if (rc != 200) {
		fail(cm, "PUT /latest/api/token: HTTP %d (no IMDSv2 token)", rc);
		return -EPROTO;
	}
	if (!r->body->len || r->body->len > CLOUDMETA_MAX_VALUE_BYTES ||
	    !text_ok(r->body->str, r->body->len, false)) {
		fail(cm, "PUT /latest/api/token: the answer is not a token");
		return -EPROTO;
	}
	auth = g_strdup_printf("X-aws-ec2-metadata-token: %s", r->body->str);
	h[0] = auth;
	if ((rc = get_req(cm, r, "/latest/meta-data/instance-id", h, false, &v->instance_id)) < 0 ||
	    (rc = get_req(cm, r, "/latest/meta-data/placement/availability-zone", h, false,
			  &v->zone)) < 0 ||
	    (rc = get_opt(cm, r, "/latest/meta-data/placement/region", h, false, false,
			  &v->region)) < 0 ||
	    (rc = get_opt(cm, r, "/latest/meta-data/local-ipv4", h, false, false, &ip)) < 0 ||
	    (rc = get_req(cm, r, "/latest/meta-data/mac", h, false, &mac)) < 0 ||
	    (rc = get_opt(cm, r, "/latest/meta-data/network/interfaces/macs/", h, true, false,
			  &macs)) < 0)
		return rc;
	/* Old IMDS without placement/region: the zone minus its letter ("us-east-1a"). */
	if (!v->region) {
		size_t len = strlen(v->zone);

		while (len && g_ascii_isalpha(v->zone[len - 1]))
			len--;
		v->region = len ? g_strndup(v->zone, len) : NULL;
	}
	if (ip && view_add_ip(cm, v, "/latest/meta-data/local-ipv4", ip) < 0)
		return -EINVAL;
	if (!aws_mac_ok(mac)) {
		fail(cm, "/latest/meta-data/mac: '%s' is not a MAC address",
		     quote(mac, q, sizeof(q)));
		return -EINVAL;
	}
	rc = aws_iface(cm, r, h, v, mac, true);
	if (rc < 0)
		return rc;
	/* Further ENIs ("0e:..:11/" per line): their subnets hold this node's pods (VPC CNI). */
	lines = g_strsplit(macs ? macs : "", "\n", -1);
	for (i = 0; lines[i] && n < CLOUDMETA_MAX_IFACES; i++) {
		char *m = g_strstrip(lines[i]);
		size_t len = strlen(m);

		if (len && m[len - 1] == '/')
			m[--len] = '\0';
		if (!len || g_ascii_strcasecmp(m, mac) == 0)
			continue;
		if (!aws_mac_ok(m)) {
			fail(cm, "network/interfaces/macs/: '%s' is not a MAC address",
			     quote(m, q, sizeof(q)));
			return -EINVAL;
		}
		rc = aws_iface(cm, r, h, v, m, false);
		if (rc < 0)
			return rc;
		n++;
	}
	return 0;
}

/* ---- GCP ---------------------------------------------------------------------------- */

/* "projects/123/zones/us-central1-a" -> "us-central1-a": the last path component. */
static char *last_component(const char *s)
{
	const char *slash = strrchr(s, '/');

	return g_strdup(slash ? slash + 1 : s);
}

/* "255.255.240.0" -> 20; -1 if not a contiguous IPv4 mask. */
static int mask_len(const char *text)
{
	struct in_addr m;
	uint32_t v;
	int len = 0;

	if (inet_pton(AF_INET, text, &m) != 1)
		return -1;
	v = ntohl(m.s_addr);
	while (v & 0x80000000u) {
		len++;
		v <<= 1;
	}
	return v ? -1 : len;
}

static int fetch_gcp(struct cloudmeta *cm, struct cm_resp *r, struct cm_view *v)
{
	static const char *const h[] = {"Metadata-Flavor: Google", NULL};
	static const char nic[] = "/computeMetadata/v1/instance/network-interfaces/0/";
	g_autofree char *zone = NULL, *ip = NULL, *network = NULL, *mask = NULL;
	g_autofree char *p_ip = g_strconcat(nic, "ip", NULL);
	g_autofree char *p_net = g_strconcat(nic, "network", NULL);
	g_autofree char *p_mask = g_strconcat(nic, "subnetmask", NULL);
	char q[CLOUDMETA_QUOTE_BYTES + 8];
	char *dash;
	int rc, len;

	if ((rc = get_req(cm, r, "/computeMetadata/v1/instance/id", h, true, &v->instance_id)) <
		    0 ||
	    (rc = get_req(cm, r, "/computeMetadata/v1/instance/zone", h, true, &zone)) < 0 ||
	    (rc = get_opt(cm, r, p_ip, h, false, true, &ip)) < 0 ||
	    (rc = get_opt(cm, r, p_net, h, false, true, &network)) < 0 ||
	    (rc = get_opt(cm, r, p_mask, h, false, true, &mask)) < 0)
		return rc;
	v->zone = last_component(zone);
	dash = strrchr(v->zone, '-');
	if (!*v->zone || !dash || dash == v->zone) {
		fail(cm, "instance/zone: '%s' is not projects/N/zones/REGION-X",
		     quote(zone, q, sizeof(q)));
		return -EINVAL;
	}
	v->region = g_strndup(v->zone, (size_t)(dash - v->zone));
	if (network)
		v->vpc = last_component(network);
	if (ip && view_add_ip(cm, v, p_ip, ip) < 0)
		return -EINVAL;
	if (ip && mask) {
		g_autofree char *cidr = NULL;

		len = mask_len(mask);
		if (len < 0) {
			fail(cm, "%s: '%s' is not a netmask", p_mask, quote(mask, q, sizeof(q)));
			return -EINVAL;
		}
		cidr = g_strdup_printf("%s/%d", ip, len);
		/* GCP subnets are regional, and the metadata server does not name them. */
		if (view_add_cidr(cm, v, p_mask, cidr, v->vpc, NULL, false) < 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- Azure IMDS --------------------------------------------------------------------- */

/* A string member of obj, or NULL if absent; -EINVAL (cm->err) if not a short string. */
static int json_str(struct cloudmeta *cm, const json_t *obj, const char *where, const char *key,
		    const char **ret)
{
	const json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > CLOUDMETA_MAX_VALUE_BYTES ||
	    !text_ok(json_string_value(v), json_string_length(v), false)) {
		fail(cm, "%s.%s: not a short string", where, key);
		return -EINVAL;
	}
	*ret = json_string_value(v);
	return 0;
}

static int azure_iface(struct cloudmeta *cm, struct cm_view *v, const json_t *nic, size_t idx)
{
	const json_t *ipv4 = json_object_get(nic, "ipv4"), *addrs, *subnets;
	char where[96];
	size_t i;

	snprintf(where, sizeof(where), "network.interface[%zu].ipv4", idx);
	if (!json_is_object(nic) || (ipv4 && !json_is_object(ipv4))) {
		fail(cm, "%s: not an object", where);
		return -EINVAL;
	}
	addrs = json_object_get(ipv4, "ipAddress");
	subnets = json_object_get(ipv4, "subnet");
	if ((addrs && !json_is_array(addrs)) || (subnets && !json_is_array(subnets))) {
		fail(cm, "%s: ipAddress and subnet must be arrays", where);
		return -EINVAL;
	}
	/* The node is its first interface's first address; the others may be pods' (CNI). */
	if (idx == 0 && json_array_size(addrs)) {
		const json_t *a = json_array_get(addrs, 0);
		const char *ip;

		if (!json_is_object(a) || json_str(cm, a, where, "privateIpAddress", &ip) < 0) {
			fail(cm, "%s.ipAddress[0]: not an object with privateIpAddress", where);
			return -EINVAL;
		}
		if (ip && view_add_ip(cm, v, where, ip) < 0)
			return -EINVAL;
	}
	for (i = 0; i < json_array_size(subnets) && i < CLOUDMETA_MAX_CIDRS; i++) {
		const json_t *s = json_array_get(subnets, i), *p = json_object_get(s, "prefix");
		const char *addr = NULL;
		char text[96];

		if (!json_is_object(s) || json_str(cm, s, where, "address", &addr) < 0 || !addr ||
		    !(json_is_string(p) || json_is_integer(p))) {
			fail(cm, "%s.subnet[%zu]: not an object with address and prefix", where, i);
			return -EINVAL;
		}
		if (json_is_string(p))
			snprintf(text, sizeof(text), "%s/%s", addr, json_string_value(p));
		else
			snprintf(text, sizeof(text), "%s/%" JSON_INTEGER_FORMAT, addr,
				 json_integer_value(p));
		/* Azure subnets span the region's zones; IMDS names no VNet or subnet. */
		if (view_add_cidr(cm, v, where, text, NULL, NULL, false) < 0)
			return -EINVAL;
	}
	return 0;
}

static int fetch_azure(struct cloudmeta *cm, struct cm_resp *r, struct cm_view *v)
{
	static const char *const h[] = {"Metadata: true", NULL};
	const char *vm_id, *location, *zone;
	const json_t *compute, *network, *nics;
	json_error_t jerr;
	json_t *root;
	size_t i;
	int rc;

	rc = http(cm, "GET", CLOUDMETA_AZURE_PATH, h, r);
	if (rc < 0)
		return rc;
	if (rc != 200) {
		fail(cm, "%s: HTTP %d", CLOUDMETA_AZURE_PATH, rc);
		return -EPROTO;
	}
	root = json_loadb(r->body->str, r->body->len, 0, &jerr);
	if (!root) {
		fail(cm, "%s: line %d column %d: %s", CLOUDMETA_AZURE_PATH, jerr.line, jerr.column,
		     jerr.text);
		return -EPROTO;
	}
	rc = -EINVAL;
	compute = json_object_get(root, "compute");
	network = json_object_get(root, "network");
	if (!json_is_object(compute)) {
		fail(cm, "%s: no \"compute\" object", CLOUDMETA_AZURE_PATH);
		goto out;
	}
	if (json_str(cm, compute, "compute", "vmId", &vm_id) < 0 ||
	    json_str(cm, compute, "compute", "location", &location) < 0 ||
	    json_str(cm, compute, "compute", "zone", &zone) < 0)
		goto out;
	if (!vm_id || !*vm_id || !location || !*location) {
		fail(cm, "%s: compute.vmId or compute.location is missing", CLOUDMETA_AZURE_PATH);
		goto out;
	}
	v->instance_id = g_strdup(vm_id);
	v->region = g_strdup(location);
	/* Kubernetes' convention for Azure zones: "<location>-<zone>", e.g. "westeurope-2". */
	v->zone = zone && *zone ? g_strdup_printf("%s-%s", location, zone) : NULL;
	nics = json_is_object(network) ? json_object_get(network, "interface") : NULL;
	if (nics && !json_is_array(nics)) {
		fail(cm, "network.interface: not an array");
		goto out;
	}
	for (i = 0; i < json_array_size(nics) && i < CLOUDMETA_MAX_IFACES; i++)
		if (azure_iface(cm, v, json_array_get(nics, i), i) < 0)
			goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ---- the thread --------------------------------------------------------------------- */

static int fetch(struct cloudmeta *cm, struct cm_resp *r, struct cm_view *v)
{
	switch (v->provider) {
	case CLOUDMETA_AWS:
		return fetch_aws(cm, r, v);
	case CLOUDMETA_GCP:
		return fetch_gcp(cm, r, v);
	case CLOUDMETA_AZURE:
		return fetch_azure(cm, r, v);
	default:
		return -EINVAL;
	}
}

static void publish(struct cloudmeta *cm, struct cm_view *v)
{
	char *text = view_text(v);
	struct enrich_table *t;

	if (cm->published && strcmp(text, cm->published) == 0) {
		g_free(text);
		return;
	}
	t = view_table(v);
	if (!t) {
		log_error("cloud: out of memory building the table; keeping the last one");
		g_free(text);
		return;
	}
	log_info("cloud: %s metadata: instance '%s', zone '%s', region '%s', vpc '%s', subnet "
		 "'%s', %u node address(es), %u prefixes",
		 cloudmeta_provider_name(v->provider), v->instance_id, v->zone ? v->zone : "",
		 v->region ? v->region : "", v->vpc ? v->vpc : "", v->subnet ? v->subnet : "",
		 v->node_ips->len, v->subnets->len);
	enrich_publish(cm->e, ENRICH_SRC_CLOUD, t);
	g_free(cm->published);
	cm->published = text;
	g_mutex_lock(&cm->lock);
	cm->stats.publishes++;
	g_mutex_unlock(&cm->lock);
}

/* One round: every request of one provider (each of them in auto mode until one answers). */
static bool round_run(struct cloudmeta *cm)
{
	static const enum cloudmeta_provider all[] = {CLOUDMETA_AWS, CLOUDMETA_GCP,
						      CLOUDMETA_AZURE};
	enum cloudmeta_provider p;
	struct cm_resp r = {.body = g_string_new(NULL)};
	struct cm_view *v = NULL;
	GString *why = g_string_new(NULL);
	bool ok = false;
	size_t i;

	g_mutex_lock(&cm->lock);
	p = cm->stats.provider;
	g_mutex_unlock(&cm->lock);
	for (i = 0; i < G_N_ELEMENTS(all) && !stopping(cm); i++) {
		if (p != CLOUDMETA_AUTO && p != all[i])
			continue;
		v = view_new(all[i]);
		cm->err[0] = '\0';
		if (fetch(cm, &r, v) == 0) {
			ok = true;
			break;
		}
		g_string_append_printf(why, "%s%s%s", why->len ? "; " : "",
				       p == CLOUDMETA_AUTO ? cloudmeta_provider_name(all[i]) : "",
				       p == CLOUDMETA_AUTO ? ": " : "");
		g_string_append(why, cm->err);
		view_free(v);
		v = NULL;
	}
	g_string_free(r.body, TRUE);
	if (stopping(cm)) {
		view_free(v);
		g_string_free(why, TRUE);
		return ok;
	}

	if (ok) {
		if (cm->failing)
			log_info("cloud: %s metadata answers again",
				 cloudmeta_provider_name(v->provider));
		cm->failing = false;
		g_clear_pointer(&cm->last_err, g_free);
		publish(cm, v);
	}
	/* After publishing: whoever sees the counter move also sees the table. */
	g_mutex_lock(&cm->lock);
	if (ok) {
		cm->stats.fetches_ok++;
		cm->stats.last_ok_ms = (uint64_t)(g_get_real_time() / 1000);
		cm->stats.provider = v->provider;
	} else {
		cm->stats.fetches_failed++;
	}
	g_mutex_unlock(&cm->lock);

	if (!ok) {
		/* Each kind of failure is logged once; the same failure again is only counted. */
		if (!cm->last_err || strcmp(cm->last_err, why->str) != 0)
			log_warn("cloud: %s metadata: %s; %s (retrying every %.1f s)",
				 cloudmeta_provider_name(p), why->str,
				 cm->published ? "keeping the last good view"
					       : "no cloud labels yet",
				 cm->retry_ms / 1000.0);
		g_free(cm->last_err);
		cm->last_err = g_strdup(why->str);
		cm->failing = true;
	}
	view_free(v);
	g_string_free(why, TRUE);
	return ok;
}

static gpointer cm_thread(gpointer user)
{
	struct cloudmeta *cm = user;

	while (!stopping(cm)) {
		bool ok = round_run(cm);
		gint64 end = g_get_monotonic_time() +
			     (gint64)(ok ? cm->refresh_ms : cm->retry_ms) * G_TIME_SPAN_MILLISECOND;

		g_mutex_lock(&cm->lock);
		while (!g_atomic_int_get(&cm->stop) && !cm->kick)
			if (!g_cond_wait_until(&cm->cond, &cm->lock, end))
				break;
		cm->kick = false;
		g_mutex_unlock(&cm->lock);
	}
	return NULL;
}

/* Options that hold for every request. Returns 0 or -EINVAL (logged). */
static int curl_setup(struct cloudmeta *cm)
{
	CURL *h = cm->curl;
	CURLcode c = CURLE_OK;

#define CM_SETOPT(opt, val)                                                                        \
	do {                                                                                       \
		if (c == CURLE_OK)                                                                 \
			c = curl_easy_setopt(h, opt, val);                                         \
	} while (0)
	CM_SETOPT(CURLOPT_NOSIGNAL, 1L);
	CM_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	CM_SETOPT(CURLOPT_PROXY, ""); /* never through http_proxy: the service is link-local */
	CM_SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	CM_SETOPT(CURLOPT_TIMEOUT_MS, (long)cm->timeout_ms);
	CM_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long)cm->timeout_ms);
	CM_SETOPT(CURLOPT_ERRORBUFFER, cm->curl_err);
	CM_SETOPT(CURLOPT_WRITEFUNCTION, on_body);
	CM_SETOPT(CURLOPT_HEADERFUNCTION, on_header);
	CM_SETOPT(CURLOPT_NOPROGRESS, 0L);
	CM_SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	CM_SETOPT(CURLOPT_XFERINFODATA, cm);
	CM_SETOPT(CURLOPT_USERAGENT, "labelflowd/" PACKAGE_VERSION);
#undef CM_SETOPT
	if (c != CURLE_OK) {
		log_error("cloud: libcurl refused an option: %s", curl_easy_strerror(c));
		return -EINVAL;
	}
	return 0;
}

struct cloudmeta *cloudmeta_new(struct enrich *e, const struct cloudmeta_config *config)
{
	const char *url;
	struct cloudmeta *cm;
	size_t len;

	if (!e || !config || config->provider == CLOUDMETA_OFF ||
	    !cloudmeta_provider_name(config->provider))
		return NULL;
	url = config->base_url && *config->base_url ? config->base_url : CLOUDMETA_DEFAULT_URL;
	if (!g_str_has_prefix(url, "http://") && !g_str_has_prefix(url, "https://")) {
		log_error("cloud: metadata URL '%s' is not http:// or https://", url);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("cloud: libcurl initialisation failed");
		return NULL;
	}
	cm = g_new0(struct cloudmeta, 1);
	cm->e = e;
	cm->provider = config->provider;
	cm->stats.provider = config->provider;
	cm->base_url = g_strdup(url);
	len = strlen(cm->base_url);
	while (len && cm->base_url[len - 1] == '/')
		cm->base_url[--len] = '\0';
	cm->timeout_ms = config->timeout_ms ? config->timeout_ms : CLOUDMETA_DEFAULT_TIMEOUT_MS;
	cm->refresh_ms = config->refresh_ms ? config->refresh_ms : CLOUDMETA_DEFAULT_REFRESH_MS;
	cm->retry_ms = config->retry_ms ? config->retry_ms : CLOUDMETA_DEFAULT_RETRY_MS;
	if (cm->retry_ms > cm->refresh_ms)
		cm->retry_ms = cm->refresh_ms;
	g_mutex_init(&cm->lock);
	g_cond_init(&cm->cond);
	cm->curl = curl_easy_init();
	if (!cm->curl) {
		log_error("cloud: cannot create a libcurl handle");
		goto fail;
	}
	if (curl_setup(cm) < 0)
		goto fail;
	cm->thread = g_thread_try_new("lf-cloudmeta", cm_thread, cm, NULL);
	if (!cm->thread) {
		log_error("cloud: cannot start the metadata thread");
		goto fail;
	}
	log_info("cloud: asking %s metadata at '%s' (timeout %u ms, refresh %.1f s)",
		 cloudmeta_provider_name(cm->provider), cm->base_url, cm->timeout_ms,
		 cm->refresh_ms / 1000.0);
	return cm;
fail:
	cloudmeta_free(cm);
	return NULL;
}

void cloudmeta_free(struct cloudmeta *cm)
{
	if (!cm)
		return;
	if (cm->thread) {
		g_mutex_lock(&cm->lock);
		g_atomic_int_set(&cm->stop, 1);
		g_cond_signal(&cm->cond);
		g_mutex_unlock(&cm->lock);
		g_thread_join(cm->thread);
	}
	if (cm->curl)
		curl_easy_cleanup(cm->curl);
	curl_global_cleanup();
	g_mutex_clear(&cm->lock);
	g_cond_clear(&cm->cond);
	g_free(cm->base_url);
	g_free(cm->last_err);
	g_free(cm->published);
	g_free(cm);
}

void cloudmeta_refresh(struct cloudmeta *cm)
{
	if (!cm)
		return;
	g_mutex_lock(&cm->lock);
	cm->kick = true;
	g_cond_signal(&cm->cond);
	g_mutex_unlock(&cm->lock);
}

void cloudmeta_get_stats(const struct cloudmeta *cm, struct cloudmeta_stats *ret_stats)
{
	struct cloudmeta *m = (struct cloudmeta *)cm; /* the lock is not part of the value */

	if (!ret_stats)
		return;
	if (!cm) {
		memset(ret_stats, 0, sizeof(*ret_stats));
		return;
	}
	g_mutex_lock(&m->lock);
	*ret_stats = m->stats;
	g_mutex_unlock(&m->lock);
}
