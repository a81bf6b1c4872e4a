// SPDX-License-Identifier: Apache-2.0
/*
 * cloudmeta_imds: each provider's round is a fixed list of requests; a round either completes
 * into a whole view or fails with the first problem described, and every value a server sends
 * is checked (length, characters, address and CIDR syntax) before it is used. AWS further ENIs
 * and Azure interfaces are bounded by CLOUDMETA_MAX_IFACES, CIDR lists by CLOUDMETA_MAX_CIDRS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <jansson.h>

#include "cloudmeta_imds.h"
#include "log.h"

#define CLOUDMETA_AWS_TOKEN_TTL "600"
#define CLOUDMETA_AZURE_PATH	"/metadata/instance?api-version=2021-02-01"

/* Add "10.0.0.0/24" with labels. Returns 0, or -EINVAL with hc->err written. */
static int add_cidr(struct cloudmeta_http *hc, struct cloudmeta_view *v, const char *what,
		    const char *text, const char *vpc, const char *subnet, bool zonal)
{
	char q[CLOUDMETA_QUOTE_BYTES + 8];

	if (cloudmeta_view_add_cidr(v, text, vpc, subnet, zonal) < 0) {
		cloudmeta_http_fail(hc, "%s: '%s' is not a CIDR", what,
				    log_quote(text, q, sizeof(q)));
		return -EINVAL;
	}
	return 0;
}

static int add_ip(struct cloudmeta_http *hc, struct cloudmeta_view *v, const char *what,
		  const char *text)
{
	char q[CLOUDMETA_QUOTE_BYTES + 8];

	if (cloudmeta_view_add_ip(v, text) < 0) {
		cloudmeta_http_fail(hc, "%s: '%s' is not an IP address", what,
				    log_quote(text, q, sizeof(q)));
		return -EINVAL;
	}
	return 0;
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
static int aws_iface(struct cloudmeta_http *hc, struct cloudmeta_resp *r, const char *const *h,
		     struct cloudmeta_view *v, const char *mac, bool primary)
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

	if ((rc = cloudmeta_http_get_opt(hc, r, p1, h, false, false, &vpc)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p2, h, false, false, &subnet)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p3, h, false, false, &cidr)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p4, h, true, false, &vpc_cidrs)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p5, h, true, false, &cidrs6)) < 0)
		return rc;
	if (primary) {
		v->vpc = g_strdup(vpc);
		v->subnet = g_strdup(subnet);
	}
	lines = g_strsplit(vpc_cidrs ? vpc_cidrs : "", "\n", CLOUDMETA_MAX_CIDRS + 1);
	for (i = 0; lines[i] && i < CLOUDMETA_MAX_CIDRS; i++)
		if (*g_strstrip(lines[i]) && add_cidr(hc, v, p4, lines[i], vpc, NULL, false) < 0)
			return -EINVAL;
	if (cidr && add_cidr(hc, v, p3, cidr, vpc, subnet, true) < 0)
		return -EINVAL;
	g_strfreev(lines);
	lines = g_strsplit(cidrs6 ? cidrs6 : "", "\n", CLOUDMETA_MAX_CIDRS + 1);
	for (i = 0; lines[i] && i < CLOUDMETA_MAX_CIDRS; i++)
		if (*g_strstrip(lines[i]) && add_cidr(hc, v, p5, lines[i], vpc, subnet, true) < 0)
			return -EINVAL;
	return 0;
}

static int fetch_aws(struct cloudmeta_http *hc, struct cloudmeta_resp *r, struct cloudmeta_view *v)
{
	static const char *const token_hdr[] = {
		"X-aws-ec2-metadata-token-ttl-seconds: " CLOUDMETA_AWS_TOKEN_TTL, NULL};
	g_autofree char *auth = NULL, *ip = NULL, *mac = NULL, *macs = NULL;
	const char *h[2] = {NULL, NULL};
	char q[CLOUDMETA_QUOTE_BYTES + 8];
	g_auto(GStrv) lines = NULL;
	size_t i, n = 0;
	int rc;

	rc = cloudmeta_http_request(hc, "PUT", "/latest/api/token", token_hdr, r);
	if (rc < 0)
		return rc;
	if (rc != 200) {
		cloudmeta_http_fail(hc, "PUT /latest/api/token: HTTP %d (no IMDSv2 token)", rc);
		return -EPROTO;
	}
	if (!r->body->len || r->body->len > CLOUDMETA_MAX_VALUE_BYTES ||
	    !cloudmeta_http_text_ok(r->body->str, r->body->len, false)) {
		cloudmeta_http_fail(hc, "PUT /latest/api/token: the answer is not a token");
		return -EPROTO;
	}
	auth = g_strdup_printf("X-aws-ec2-metadata-token: %s", r->body->str);
	h[0] = auth;
	if ((rc = cloudmeta_http_get_req(hc, r, "/latest/meta-data/instance-id", h, false,
					 &v->instance_id)) < 0 ||
	    (rc = cloudmeta_http_get_req(hc, r, "/latest/meta-data/placement/availability-zone", h,
					 false, &v->zone)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, "/latest/meta-data/placement/region", h, false,
					 false, &v->region)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, "/latest/meta-data/local-ipv4", h, false, false,
					 &ip)) < 0 ||
	    (rc = cloudmeta_http_get_req(hc, r, "/latest/meta-data/mac", h, false, &mac)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, "/latest/meta-data/network/interfaces/macs/", h,
					 true, false, &macs)) < 0)
		return rc;
	/* Old IMDS without placement/region: the zone minus its letter ("us-east-1a"). */
	if (!v->region) {
		size_t len = strlen(v->zone);

		while (len && g_ascii_isalpha(v->zone[len - 1]))
			len--;
		v->region = len ? g_strndup(v->zone, len) : NULL;
	}
	if (ip && add_ip(hc, v, "/latest/meta-data/local-ipv4", ip) < 0)
		return -EINVAL;
	if (!aws_mac_ok(mac)) {
		cloudmeta_http_fail(hc, "/latest/meta-data/mac: '%s' is not a MAC address",
				    log_quote(mac, q, sizeof(q)));
		return -EINVAL;
	}
	rc = aws_iface(hc, r, h, v, mac, true);
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
			cloudmeta_http_fail(hc,
					    "network/interfaces/macs/: '%s' is not a MAC address",
					    log_quote(m, q, sizeof(q)));
			return -EINVAL;
		}
		rc = aws_iface(hc, r, h, v, m, false);
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

static int fetch_gcp(struct cloudmeta_http *hc, struct cloudmeta_resp *r, struct cloudmeta_view *v)
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

	if ((rc = cloudmeta_http_get_req(hc, r, "/computeMetadata/v1/instance/id", h, true,
					 &v->instance_id)) < 0 ||
	    (rc = cloudmeta_http_get_req(hc, r, "/computeMetadata/v1/instance/zone", h, true,
					 &zone)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p_ip, h, false, true, &ip)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p_net, h, false, true, &network)) < 0 ||
	    (rc = cloudmeta_http_get_opt(hc, r, p_mask, h, false, true, &mask)) < 0)
		return rc;
	v->zone = last_component(zone);
	dash = strrchr(v->zone, '-');
	if (!*v->zone || !dash || dash == v->zone) {
		cloudmeta_http_fail(hc, "instance/zone: '%s' is not projects/N/zones/REGION-X",
				    log_quote(zone, q, sizeof(q)));
		return -EINVAL;
	}
	v->region = g_strndup(v->zone, (size_t)(dash - v->zone));
	if (network)
		v->vpc = last_component(network);
	if (ip && add_ip(hc, v, p_ip, ip) < 0)
		return -EINVAL;
	if (ip && mask) {
		g_autofree char *cidr = NULL;

		len = mask_len(mask);
		if (len < 0) {
			cloudmeta_http_fail(hc, "%s: '%s' is not a netmask", p_mask,
					    log_quote(mask, q, sizeof(q)));
			return -EINVAL;
		}
		cidr = g_strdup_printf("%s/%d", ip, len);
		/* GCP subnets are regional, and the metadata server does not name them. */
		if (add_cidr(hc, v, p_mask, cidr, v->vpc, NULL, false) < 0)
			return -EINVAL;
	}
	return 0;
}

/* ---- Azure IMDS --------------------------------------------------------------------- */

/* A string member of obj, or NULL if absent; -EINVAL (hc->err) if not a short string. */
static int json_str(struct cloudmeta_http *hc, const json_t *obj, const char *where,
		    const char *key, const char **ret)
{
	const json_t *v = json_object_get(obj, key);

	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) > CLOUDMETA_MAX_VALUE_BYTES ||
	    !cloudmeta_http_text_ok(json_string_value(v), json_string_length(v), false)) {
		cloudmeta_http_fail(hc, "%s.%s: not a short string", where, key);
		return -EINVAL;
	}
	*ret = json_string_value(v);
	return 0;
}

static int azure_iface(struct cloudmeta_http *hc, struct cloudmeta_view *v, const json_t *nic,
		       size_t idx)
{
	const json_t *ipv4 = json_object_get(nic, "ipv4"), *addrs, *subnets;
	char where[96];
	size_t i;

	snprintf(where, sizeof(where), "network.interface[%zu].ipv4", idx);
	if (!json_is_object(nic) || (ipv4 && !json_is_object(ipv4))) {
		cloudmeta_http_fail(hc, "%s: not an object", where);
		return -EINVAL;
	}
	addrs = json_object_get(ipv4, "ipAddress");
	subnets = json_object_get(ipv4, "subnet");
	if ((addrs && !json_is_array(addrs)) || (subnets && !json_is_array(subnets))) {
		cloudmeta_http_fail(hc, "%s: ipAddress and subnet must be arrays", where);
		return -EINVAL;
	}
	/* The node is its first interface's first address; the others may be pods' (CNI). */
	if (idx == 0 && json_array_size(addrs)) {
		const json_t *a = json_array_get(addrs, 0);
		const char *ip;

		if (!json_is_object(a) || json_str(hc, a, where, "privateIpAddress", &ip) < 0) {
			cloudmeta_http_fail(
				hc, "%s.ipAddress[0]: not an object with privateIpAddress", where);
			return -EINVAL;
		}
		if (ip && add_ip(hc, v, where, ip) < 0)
			return -EINVAL;
	}
	for (i = 0; i < json_array_size(subnets) && i < CLOUDMETA_MAX_CIDRS; i++) {
		const json_t *s = json_array_get(subnets, i), *p = json_object_get(s, "prefix");
		const char *addr = NULL;
		char text[96];

		if (!json_is_object(s) || json_str(hc, s, where, "address", &addr) < 0 || !addr ||
		    !(json_is_string(p) || json_is_integer(p))) {
			cloudmeta_http_fail(hc,
					    "%s.subnet[%zu]: not an object with address and prefix",
					    where, i);
			return -EINVAL;
		}
		if (json_is_string(p))
			snprintf(text, sizeof(text), "%s/%s", addr, json_string_value(p));
		else
			snprintf(text, sizeof(text), "%s/%" JSON_INTEGER_FORMAT, addr,
				 json_integer_value(p));
		/* Azure subnets span the region's zones; IMDS names no VNet or subnet. */
		if (add_cidr(hc, v, where, text, NULL, NULL, false) < 0)
			return -EINVAL;
	}
	return 0;
}

static int fetch_azure(struct cloudmeta_http *hc, struct cloudmeta_resp *r,
		       struct cloudmeta_view *v)
{
	static const char *const h[] = {"Metadata: true", NULL};
	const char *vm_id, *location, *zone;
	const json_t *compute, *network, *nics;
	json_error_t jerr;
	json_t *root;
	size_t i;
	int rc;

	rc = cloudmeta_http_request(hc, "GET", CLOUDMETA_AZURE_PATH, h, r);
	if (rc < 0)
		return rc;
	if (rc != 200) {
		cloudmeta_http_fail(hc, "%s: HTTP %d", CLOUDMETA_AZURE_PATH, rc);
		return -EPROTO;
	}
	root = json_loadb(r->body->str, r->body->len, 0, &jerr);
	if (!root) {
		cloudmeta_http_fail(hc, "%s: line %d column %d: %s", CLOUDMETA_AZURE_PATH,
				    jerr.line, jerr.column, jerr.text);
		return -EPROTO;
	}
	rc = -EINVAL;
	compute = json_object_get(root, "compute");
	network = json_object_get(root, "network");
	if (!json_is_object(compute)) {
		cloudmeta_http_fail(hc, "%s: no \"compute\" object", CLOUDMETA_AZURE_PATH);
		goto out;
	}
	if (json_str(hc, compute, "compute", "vmId", &vm_id) < 0 ||
	    json_str(hc, compute, "compute", "location", &location) < 0 ||
	    json_str(hc, compute, "compute", "zone", &zone) < 0)
		goto out;
	if (!vm_id || !*vm_id || !location || !*location) {
		cloudmeta_http_fail(hc, "%s: compute.vmId or compute.location is missing",
				    CLOUDMETA_AZURE_PATH);
		goto out;
	}
	v->instance_id = g_strdup(vm_id);
	v->region = g_strdup(location);
	/* Kubernetes' convention for Azure zones: "<location>-<zone>", e.g. "westeurope-2". */
	v->zone = zone && *zone ? g_strdup_printf("%s-%s", location, zone) : NULL;
	nics = json_is_object(network) ? json_object_get(network, "interface") : NULL;
	if (nics && !json_is_array(nics)) {
		cloudmeta_http_fail(hc, "network.interface: not an array");
		goto out;
	}
	for (i = 0; i < json_array_size(nics) && i < CLOUDMETA_MAX_IFACES; i++)
		if (azure_iface(hc, v, json_array_get(nics, i), i) < 0)
			goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int cloudmeta_imds_fetch(struct cloudmeta_http *hc, struct cloudmeta_resp *r,
			 struct cloudmeta_view *v)
{
	switch (v->provider) {
	case CLOUDMETA_AWS:
		return fetch_aws(hc, r, v);
	case CLOUDMETA_GCP:
		return fetch_gcp(hc, r, v);
	case CLOUDMETA_AZURE:
		return fetch_azure(hc, r, v);
	default:
		return -EINVAL;
	}
}
