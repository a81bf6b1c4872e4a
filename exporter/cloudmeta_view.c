// SPDX-License-Identifier: Apache-2.0
/*
 * cloudmeta_view: a view is compared by its canonical text (every field and prefix in order),
 * so a steady node causes no snapshot churn. Prefixes go into the table broader ones first,
 * so that a subnet equal to its VPC's block keeps its subnet id.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "cloudmeta_view.h"

static void subnet_free(gpointer p)
{
	struct cloudmeta_subnet *s = p;

	if (!s)
		return;
	g_free(s->vpc);
	g_free(s->subnet);
	g_free(s);
}

struct cloudmeta_view *cloudmeta_view_new(enum cloudmeta_provider p)
{
	struct cloudmeta_view *v = g_new0(struct cloudmeta_view, 1);

	v->provider = p;
	v->node_ips = g_array_new(FALSE, TRUE, sizeof(struct enrich_addr));
	v->subnets = g_ptr_array_new_with_free_func(subnet_free);
	return v;
}

void cloudmeta_view_free(struct cloudmeta_view *v)
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

int cloudmeta_view_add_cidr(struct cloudmeta_view *v, const char *text, const char *vpc,
			    const char *subnet, bool zonal)
{
	g_autofree char *addr = g_strdup(text);
	char *slash = strchr(addr, '/');
	struct cloudmeta_subnet *s;
	struct enrich_addr net;
	uint8_t len;

	if (!slash || (*slash = '\0', cidr_parse(addr, slash + 1, &net, &len) < 0))
		return -EINVAL;
	if (v->subnets->len >= CLOUDMETA_MAX_IFACES * CLOUDMETA_MAX_CIDRS)
		return 0;
	s = g_new0(struct cloudmeta_subnet, 1);
	s->net = net;
	s->len = len;
	s->vpc = g_strdup(vpc);
	s->subnet = g_strdup(subnet);
	s->zonal = zonal;
	g_ptr_array_add(v->subnets, s);
	return 0;
}

int cloudmeta_view_add_ip(struct cloudmeta_view *v, const char *text)
{
	struct enrich_addr a;

	if (enrich_addr_parse(text, &a) < 0)
		return -EINVAL;
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
char *cloudmeta_view_text(const struct cloudmeta_view *v)
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
		const struct cloudmeta_subnet *s = g_ptr_array_index(v->subnets, i);

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
struct enrich_table *cloudmeta_view_table(const struct cloudmeta_view *v)
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
			const struct cloudmeta_subnet *s = g_ptr_array_index(v->subnets, i);

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
