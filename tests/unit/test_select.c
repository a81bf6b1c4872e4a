// SPDX-License-Identifier: Apache-2.0
/*
 * select unit tests: rules built from the strings a config file gives, matched against
 * flow records and hand-made labels; label selectors checked against jansson's reading of
 * the same JSON; malformed PodLabels texts and rule syntax errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "select.h"

static char errbuf[512];

/* Add a rule from "key", "value", ... pairs; returns select_add_rule's result. */
#define ADD(s, ...) add_rule((s), (const char *const[]){__VA_ARGS__, NULL})

static int add_rule(struct select *s, const char *const *kv)
{
	const char *keys[8], *values[8];
	size_t n = 0;

	for (; kv[2 * n]; n++) {
		cr_assert_lt(n, 8);
		keys[n] = kv[2 * n];
		values[n] = kv[2 * n + 1];
	}
	errbuf[0] = '\0';
	return select_add_rule(s, keys, values, n, errbuf, sizeof(errbuf));
}

static struct select *mk(void)
{
	struct select *s = select_new();

	cr_assert_not_null(s);
	return s;
}

static struct flow_record rec4(const char *src, const char *dst)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.key.ip_version = 4;
	cr_assert_eq(inet_pton(AF_INET, src, r.key.src_addr), 1);
	cr_assert_eq(inet_pton(AF_INET, dst, r.key.dst_addr), 1);
	r.packets = 3;
	r.octets = 300;
	return r;
}

static struct flow_record rec6(const char *src, const char *dst)
{
	struct flow_record r;

	memset(&r, 0, sizeof(r));
	r.key.ip_version = 6;
	cr_assert_eq(inet_pton(AF_INET6, src, r.key.src_addr), 1);
	cr_assert_eq(inet_pton(AF_INET6, dst, r.key.dst_addr), 1);
	r.packets = 1;
	return r;
}

static struct enrich_labels pod(const char *ns, const char *name, const char *labels)
{
	struct enrich_labels l;

	memset(&l, 0, sizeof(l));
	l.v[ENRICH_NAMESPACE] = ns;
	l.v[ENRICH_POD] = name;
	l.v[ENRICH_POD_LABELS] = labels;
	l.v[ENRICH_KIND] = "pod";
	return l;
}

/* Does a one-rule selection "labels = sel" select a flow from this pod to nowhere? */
static bool sel_pod(const char *sel, const char *labels)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "192.0.2.1");
	struct enrich_labels l = pod("shop", "p-1", labels);
	bool m;

	cr_assert_eq(ADD(s, "labels", sel), 0, "%s: %s", sel, errbuf);
	m = select_match(s, &r, &l, NULL);
	cr_assert_eq(select_match(s, &r, NULL, &l), m, "either end");
	select_free(s);
	return m;
}

Test(select, no_rule_selects_everything)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");

	cr_assert_eq(select_n_rules(s), 0);
	cr_assert(select_match(s, &r, NULL, NULL));
	cr_assert(select_flow(s, &r, NULL, NULL));
	cr_assert_eq(select_get_stats(s)->selected, 1);
	select_free(s);
	select_free(NULL);
}

Test(select, namespace_matches_either_end)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");
	struct enrich_labels shop = pod("shop", "cart-1", NULL), other = pod("shopping", "x", NULL);

	cr_assert_eq(ADD(s, "namespace", "shop"), 0, "%s", errbuf);
	cr_assert_eq(select_n_rules(s), 1);
	cr_assert(select_match(s, &r, &shop, NULL));
	cr_assert(select_match(s, &r, NULL, &shop));
	cr_assert(select_match(s, &r, &other, &shop));
	cr_assert_not(select_match(s, &r, &other, &other), "exact names only");
	cr_assert_not(select_match(s, &r, NULL, NULL));
	select_free(s);
}

Test(select, label_selector_operators)
{
	const char *web = "{\"app\":\"cart\",\"tier\":\"web\",\"team\":\"\"}";

	cr_assert(sel_pod("app=cart", web));
	cr_assert(sel_pod("app==cart", web));
	cr_assert(sel_pod(" app = cart ", web));
	cr_assert_not(sel_pod("app=car", web));
	cr_assert_not(sel_pod("app=carts", web));
	cr_assert(sel_pod("team=", web), "an empty value");
	cr_assert_not(sel_pod("app=", web));
	cr_assert(sel_pod("app!=db", web));
	cr_assert_not(sel_pod("app!=cart", web));
	cr_assert(sel_pod("env!=prod", web), "!= holds when the label is absent");
	cr_assert(sel_pod("tier in (api,web)", web));
	cr_assert(sel_pod("tier in(web)", web));
	cr_assert_not(sel_pod("tier in (api, db)", web));
	cr_assert_not(sel_pod("env in (prod)", web));
	cr_assert(sel_pod("tier notin (api,db)", web));
	cr_assert_not(sel_pod("tier notin (api, web)", web));
	cr_assert(sel_pod("env notin (prod)", web), "notin holds when the label is absent");
	cr_assert(sel_pod("app", web));
	cr_assert_not(sel_pod("env", web));
	cr_assert(sel_pod("!env", web));
	cr_assert_not(sel_pod("!app", web));
	cr_assert(sel_pod("app=cart,tier in (web,api),!env", web), "comma is AND");
	cr_assert_not(sel_pod("app=cart,tier in (api),!env", web));
	/* A pod whose exported labels are none: only negative requirements hold. */
	cr_assert(sel_pod("!app", NULL));
	cr_assert(sel_pod("app!=cart", "{}"));
	cr_assert_not(sel_pod("app", NULL));
	cr_assert(sel_pod("example.com/owner=team-a", "{\"example.com/owner\":\"team-a\"}"));
}

Test(select, label_selectors_only_select_pods)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");
	struct enrich_labels node, svc_pod = pod("shop", NULL, "{\"app\":\"x\"}");

	memset(&node, 0, sizeof(node));
	node.v[ENRICH_KIND] = "node";
	node.v[ENRICH_NAMESPACE] = "shop";
	cr_assert_eq(ADD(s, "labels", "!app"), 0, "%s", errbuf);
	cr_assert_not(select_match(s, &r, &node, NULL), "a node has no pod labels to lack");
	cr_assert_not(select_match(s, &r, NULL, NULL));
	/* Kind "pod" without a pod name (an inventory entry) is still a Pod. */
	cr_assert_not(select_match(s, &r, &svc_pod, NULL));
	svc_pod.v[ENRICH_POD_LABELS] = "{\"tier\":\"x\"}";
	cr_assert(select_match(s, &r, &svc_pod, NULL));
	select_free(s);
}

Test(select, conditions_of_a_rule_hold_for_the_same_end)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");
	struct enrich_labels shop_db = pod("shop", "db-0", "{\"app\":\"db\"}");
	struct enrich_labels web_cart = pod("web", "cart-0", "{\"app\":\"cart\"}");
	struct enrich_labels shop_cart = pod("shop", "cart-1", "{\"app\":\"cart\"}");

	cr_assert_eq(ADD(s, "namespace", "shop", "labels", "app=cart"), 0, "%s", errbuf);
	cr_assert_not(select_match(s, &r, &shop_db, &web_cart));
	cr_assert(select_match(s, &r, &shop_db, &shop_cart));
	/* A second rule is an alternative. */
	cr_assert_eq(ADD(s, "cidr", "10.0.0.2"), 0, "%s", errbuf);
	cr_assert(select_match(s, &r, &shop_db, &web_cart));
	select_free(s);
}

Test(select, workload_with_and_without_kind)
{
	struct select *s = mk(), *t = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");
	struct enrich_labels cart = pod("shop", "cart-1", NULL), cart_sts = cart;

	cart.v[ENRICH_WORKLOAD_KIND] = "Deployment";
	cart.v[ENRICH_WORKLOAD] = "cart";
	cart_sts.v[ENRICH_WORKLOAD_KIND] = "StatefulSet";
	cart_sts.v[ENRICH_WORKLOAD] = "cart";
	cr_assert_eq(ADD(s, "workload", "deployment/cart"), 0, "%s", errbuf);
	cr_assert(select_match(s, &r, &cart, NULL), "kind is case-insensitive");
	cr_assert_not(select_match(s, &r, &cart_sts, NULL));
	cr_assert_eq(ADD(t, "workload", "cart"), 0, "%s", errbuf);
	cr_assert(select_match(t, &r, NULL, &cart));
	cr_assert(select_match(t, &r, &cart_sts, NULL));
	cart.v[ENRICH_WORKLOAD] = "cart2";
	cr_assert_not(select_match(t, &r, &cart, NULL));
	select_free(s);
	select_free(t);
}

Test(select, service_is_one_of_the_ends_services)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");
	struct enrich_labels p = pod("shop", "cart-1", NULL);

	cr_assert_eq(ADD(s, "service", "cart"), 0, "%s", errbuf);
	p.v[ENRICH_SERVICE] = "cart";
	cr_assert(select_match(s, &r, &p, NULL));
	p.v[ENRICH_SERVICE] = "api,cart,web";
	cr_assert(select_match(s, &r, NULL, &p));
	p.v[ENRICH_SERVICE] = "api,carts,xcart";
	cr_assert_not(select_match(s, &r, &p, NULL));
	p.v[ENRICH_SERVICE] = NULL;
	cr_assert_not(select_match(s, &r, &p, NULL));
	select_free(s);
}

Test(select, cidr_matches_the_address_of_unlabelled_ends_too)
{
	struct select *s = mk(), *t = mk();
	struct flow_record a = rec4("10.0.31.255", "192.0.2.1"), b = rec4("192.0.2.1", "10.0.32.0");
	struct flow_record c = rec6("fd00:10:244::1a", "2001:db8::1");
	struct flow_record d = rec6("2001:db8::1", "fd00:10:245::1");

	cr_assert_eq(ADD(s, "cidr", "10.0.0.0/19"), 0, "%s", errbuf);
	cr_assert_eq(ADD(s, "cidr", "fd00:10:244::/64"), 0, "%s", errbuf);
	cr_assert(select_match(s, &a, NULL, NULL));
	cr_assert_not(select_match(s, &b, NULL, NULL), "10.0.32.0 is past the /19");
	cr_assert(select_match(s, &c, NULL, NULL));
	cr_assert_not(select_match(s, &d, NULL, NULL));
	cr_assert_eq(ADD(t, "cidr", "192.0.2.1"), 0, "%s", errbuf);
	cr_assert(select_match(t, &a, NULL, NULL));
	cr_assert(select_match(t, &b, NULL, NULL));
	cr_assert_not(select_match(t, &c, NULL, NULL), "an IPv4 prefix never holds IPv6");
	select_free(s);
	select_free(t);
}

Test(select, counts_what_it_leaves_out)
{
	struct select *s = mk();
	struct flow_record in = rec4("10.1.0.1", "10.0.0.2"), out = rec4("10.2.0.1", "10.0.0.2");

	out.rev_packets = 4;
	out.rev_octets = 1000;
	cr_assert_eq(ADD(s, "cidr", "10.1.0.0/16"), 0, "%s", errbuf);
	cr_assert(select_flow(s, &in, NULL, NULL));
	cr_assert_not(select_flow(s, &out, NULL, NULL));
	cr_assert_not(select_flow(s, &out, NULL, NULL));
	cr_assert_eq(select_get_stats(s)->selected, 1);
	cr_assert_eq(select_get_stats(s)->unselected, 2);
	cr_assert_eq(select_get_stats(s)->unselected_packets, 2 * (3 + 4));
	cr_assert_eq(select_get_stats(s)->unselected_octets, 2 * (300 + 1000));
	select_free(s);
}

Test(select, malformed_pod_labels_match_nothing_and_are_counted)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"app\":1}",
		"{\"app\":\"cart\"",
		"{\"x\":\"y\" \"app\":\"cart\"}",
		"{\"x\":\"\\q\",\"app\":\"cart\"}",
		"{\"x\":\"\\ud800\",\"app\":\"cart\"}",
		"{\"x\":\"\\udc00\",\"app\":\"cart\"}",
		"{\"x\":\"\\u12\"}",
		"{\"x\":\"a\nb\",\"app\":\"cart\"}",
		"{app:\"cart\"}",
		"{\"app\"\"cart\"}",
		"{\"app\":\"car",
		"{\"app\":\"cart\"}x",
		"{\"app\":\"cart\",}",
	};
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");

	cr_assert_eq(ADD(s, "labels", "app=cart"), 0, "%s", errbuf);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct enrich_labels l = pod("shop", "p", bad[i]);

		cr_assert_not(select_flow(s, &r, &l, NULL), "'%s'", bad[i]);
		cr_assert_eq(select_get_stats(s)->bad_labels, i + 1, "'%s'", bad[i]);
	}
	select_free(s);
}

Test(select, json_escapes_and_spacing_are_understood)
{
	cr_assert(sel_pod("app=cart", " { \"ap\\u0070\" : \"c\\u0061rt\" } "));
	cr_assert(sel_pod("app=cart", "{\"a\\\"b\":\"\\\\\",\"app\":\"cart\"}"));
	cr_assert(sel_pod("app=cart", "{\"x\":\"\\ud83d\\ude00\",\"app\":\"cart\"}"));
	cr_assert_not(sel_pod("app=cart", "{\"app\":\"cart\\u0000\"}"));
	cr_assert(sel_pod("!app", "{\"apps\":\"cart\",\"ap\":\"cart\"}"));
}

/* Random label maps written by jansson (some with every non-ASCII byte escaped). */
Test(select, label_selectors_agree_with_jansson)
{
	static const char *const keys[] = {"app", "tier", "env", "a.b/c", "x-y_z"};
	static const char *const vals[] = {"cart", "web", "api", "", "v1.2", "prod"};
	uint64_t rng = 12345;

	for (int round = 0; round < 2000; round++) {
		json_t *o = json_object();
		char sel[128];
		char *text;
		size_t k, v;
		const char *got;
		bool want;

		for (size_t i = 0; i < 5; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			if ((rng >> 40) % 3 == 0)
				json_object_set_new(o, keys[i], json_string(vals[(rng >> 20) % 6]));
		}
		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		k = (rng >> 33) % 5;
		v = (rng >> 17) % 6;
		text = json_dumps(o, (round % 2 ? JSON_ENSURE_ASCII : JSON_COMPACT) |
					     (round % 3 ? JSON_SORT_KEYS : 0));
		cr_assert_not_null(text);
		got = json_string_value(json_object_get(o, keys[k]));
		switch ((rng >> 50) % 4) {
		case 0:
			snprintf(sel, sizeof(sel), "%s=%s", keys[k], vals[v]);
			want = got && strcmp(got, vals[v]) == 0;
			break;
		case 1:
			snprintf(sel, sizeof(sel), "%s!=%s", keys[k], vals[v]);
			want = !got || strcmp(got, vals[v]) != 0;
			break;
		case 2:
			snprintf(sel, sizeof(sel), "%s", keys[k]);
			want = got != NULL;
			break;
		default:
			snprintf(sel, sizeof(sel), "!%s", keys[k]);
			want = got == NULL;
			break;
		}
		cr_assert_eq(sel_pod(sel, text), want, "'%s' on %s", sel, text);
		free(text);
		json_decref(o);
	}
}

/* Any bytes at all: no crash, no read past the text (ASan), bad input counted. */
Test(select, survives_random_label_texts)
{
	struct select *s = mk();
	struct flow_record r = rec4("10.0.0.1", "10.0.0.2");
	const char *seed = "{\"app\":\"cart\",\"x\":\"\\u00e9\\ud83d\\ude00\",\"tier\":\"web\"}";
	uint64_t rng = 99;
	char buf[96];

	cr_assert_eq(ADD(s, "labels", "app in (cart, web),!env,tier!=api"), 0, "%s", errbuf);
	for (int round = 0; round < 20000; round++) {
		size_t len = strlen(seed);
		struct enrich_labels l;

		memcpy(buf, seed, len + 1);
		for (int m = 0; m < 1 + round % 4; m++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			if ((rng >> 60) < 4)
				buf[(rng >> 8) % len] = (char)(rng >> 24);
			else
				buf[(rng >> 8) % len] = "{}\":,\\u"[(rng >> 24) % 7];
		}
		buf[(rng >> 30) % (len + 1)] = '\0';
		l = pod("ns", "p", buf);
		select_flow(s, &r, &l, NULL);
	}
	cr_assert_gt(select_get_stats(s)->bad_labels, 0);
	cr_assert_gt(select_get_stats(s)->selected, 0);
	select_free(s);
}

Test(select, rejects_bad_rules_with_a_reason)
{
	static const struct {
		const char *key, *value, *error;
		int ret;
	} cases[] = {
		{"name", "x", "unknown selection key 'name'", -EINVAL},
		{"namespace", "", "namespace: the value is empty", -EINVAL},
		{"cidr", "10.0.0.1/8", "cidr '10.0.0.1/8'", -EINVAL},
		{"cidr", "10.0.0.0/33", "cidr '10.0.0.0/33'", -EINVAL},
		{"cidr", "cart", "cidr 'cart': not an address", -EINVAL},
		{"workload", "/cart", "workload '/cart'", -EINVAL},
		{"workload", "Deployment/", "workload 'Deployment/'", -EINVAL},
		{"workload", "a/b/c", "workload 'a/b/c'", -EINVAL},
		{"service", "shop/cart", "service 'shop/cart'", -EINVAL},
		{"labels", "", "bad label key", -EINVAL},
		{"labels", "app=cart,", "bad label key", -EINVAL},
		{"labels", "app=-x", "bad value for 'app'", -EINVAL},
		{"labels", "app==", "", 0},
		{"labels", "app=a b", "',' expected", -EINVAL},
		{"labels", "app in ()", "bad value in the set of 'app'", -EINVAL},
		{"labels", "app in (a,)", "bad value in the set of 'app'", -EINVAL},
		{"labels", "app in (a b)", "',' or ')' expected", -EINVAL},
		{"labels", "app in a", "'(' expected", -EINVAL},
		{"labels", "app notin (a", "',' or ')' expected", -EINVAL},
		{"labels", "app > 3", "'=', '!=', 'in' or 'notin' expected after 'app'", -EINVAL},
		{"labels", "!app=x", "',' expected", -EINVAL},
		{"labels", "/app", "bad label key", -EINVAL},
		{"labels", "-app", "bad label key", -EINVAL},
		{"labels", "a_very_long_label_name_that_goes_past_sixty_three_characters_xxxxxx",
		 "bad label key", -EINVAL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct select *s = mk();
		int ret = ADD(s, cases[i].key, cases[i].value);

		cr_assert_eq(ret, cases[i].ret, "%s = '%s': %d (%s)", cases[i].key, cases[i].value,
			     ret, errbuf);
		cr_assert_not_null(strstr(errbuf, cases[i].error), "%s = '%s': %s", cases[i].key,
				   cases[i].value, errbuf);
		cr_assert_eq(select_n_rules(s), ret == 0 ? 1 : 0);
		select_free(s);
	}
}

Test(select, rejects_empty_and_repeated_keys_and_limits)
{
	struct select *s = mk();
	char big[1024];
	size_t len = 0;

	cr_assert_eq(select_add_rule(s, NULL, NULL, 0, errbuf, sizeof(errbuf)), -EINVAL);
	cr_assert_not_null(strstr(errbuf, "an empty rule"), "%s", errbuf);
	cr_assert_eq(ADD(s, "namespace", "a", "namespace", "b"), -EINVAL);
	cr_assert_not_null(strstr(errbuf, "'namespace' given twice"), "%s", errbuf);

	for (int i = 0; i <= SELECT_MAX_REQUIREMENTS; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "%sk%d", i ? "," : "", i);
	cr_assert_eq(ADD(s, "labels", big), -E2BIG, "%s", errbuf);
	len = (size_t)snprintf(big, sizeof(big), "k in (");
	for (int i = 0; i <= SELECT_MAX_SET_VALUES; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len, "%sv%d", i ? "," : "", i);
	snprintf(big + len, sizeof(big) - len, ")");
	cr_assert_eq(ADD(s, "labels", big), -E2BIG, "%s", errbuf);
	cr_assert_eq(select_n_rules(s), 0);

	for (int i = 0; i < SELECT_MAX_RULES; i++)
		cr_assert_eq(ADD(s, "cidr", "10.0.0.0/8"), 0, "%s", errbuf);
	cr_assert_eq(ADD(s, "cidr", "10.0.0.0/8"), -E2BIG);
	cr_assert_not_null(strstr(errbuf, "more than 64 selection rules"), "%s", errbuf);
	cr_assert_eq(select_n_rules(s), SELECT_MAX_RULES);
	select_free(s);
}
