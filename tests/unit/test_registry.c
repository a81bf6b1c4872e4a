// SPDX-License-Identifier: Apache-2.0
/*
 * registry: loads the real templates/ files (LABELFLOW_DATADIR, else relative to this
 * source file) and small broken variants written to a temporary directory.
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "enrich.h"
#include "registry.h"

static char elements_path[4096], templates_path[4096];
static char tmpdir[] = "/tmp/lf-registry-XXXXXX";
static char errbuf[1024];

static void find_datadir(void)
{
	const char *env = getenv("LABELFLOW_DATADIR");
	char src[4096];

	if (env && *env) {
		snprintf(elements_path, sizeof(elements_path), "%s/labelflow-elements.xml", env);
		snprintf(templates_path, sizeof(templates_path), "%s/labelflow-templates.conf",
			 env);
		return;
	}
	snprintf(src, sizeof(src), "%s", __FILE__);
	snprintf(elements_path, sizeof(elements_path), "%s/../../templates/labelflow-elements.xml",
		 dirname(src));
	snprintf(src, sizeof(src), "%s", __FILE__);
	snprintf(templates_path, sizeof(templates_path),
		 "%s/../../templates/labelflow-templates.conf", dirname(src));
}

static void setup(void)
{
	find_datadir();
	cr_assert_not_null(mkdtemp(tmpdir));
	errbuf[0] = '\0';
}

static void teardown(void)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

/* Write text to tmpdir/name and return the path (static storage, one per slot). */
static const char *write_tmp(int slot, const char *name, const char *text)
{
	static char paths[4][4200];
	FILE *f;

	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
	f = fopen(paths[slot], "w");
	cr_assert_not_null(f);
	cr_assert_eq(fputs(text, f) >= 0, 1);
	cr_assert_eq(fclose(f), 0);
	return paths[slot];
}

static const char *element_xml(const char *records)
{
	static char buf[8192];

	snprintf(buf, sizeof(buf),
		 "<?xml version='1.0'?>\n<registry id=\"t\" "
		 "xmlns=\"http://www.iana.org/assignments\">\n"
		 "<registry id=\"t-elements\">\n%s</registry>\n</registry>\n",
		 records);
	return buf;
}

#define RECORD(name, id, pen)                                                                      \
	"<record><name>" name "</name><dataType>string</dataType><elementId>" #id                  \
	"</elementId><enterpriseId>" #pen "</enterpriseId></record>\n"

/*
 * libfixbuf 2.4's XML reader leaks one small GString per file it parses (inside
 * fbInfoModelReadXMLData); not ours to fix, so LeakSanitizer is told to ignore it. Slow
 * unwinding lets the suppression see past glib's frames, which lack frame pointers.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:fbInfoModelReadXMLData\n";
}

TestSuite(registry, .init = setup, .fini = teardown);

Test(registry, loads_the_shipped_files)
{
	struct registry *r =
		registry_load(elements_path, templates_path, 0, errbuf, sizeof(errbuf));
	const struct registry_template *v4, *v6, *sampling;

	cr_assert_not_null(r, "load failed: %s", errbuf);
	cr_assert_eq(r->file_pen, 32473);
	cr_assert_eq(r->pen, 32473);
	cr_assert_eq(r->n_enterprise, 2 * ENRICH_DIM_COUNT + 5, "labels and 5 tunnel elements");
	cr_assert_eq(r->n_templates, 6, "uniflow and biflow per IP version, two sampling");

	v4 = registry_template_for(r, 4);
	v6 = registry_template_for(r, 6);
	cr_assert_not_null(v4);
	cr_assert_not_null(v6);
	cr_assert_str_eq(v4->name, "ipv4");
	cr_assert_eq(v4->id, 256);
	cr_assert_eq(v6->id, 257);
	/* 16 flow fields, 3 observation point fields, 6 tunnel fields, the labels. */
	cr_assert_eq(v4->n_elements, 16 + 3 + 6 + 2 * ENRICH_DIM_COUNT);
	cr_assert_eq(v6->n_elements, 16 + 3 + 6 + 2 * ENRICH_DIM_COUNT);
	cr_assert_str_eq(v4->elements[2], "sourceIPv4Address");
	cr_assert_str_eq(v6->elements[2], "sourceIPv6Address");
	cr_assert_null(registry_template_for(r, 5));
	cr_assert_eq(v4->kind, REGISTRY_UNIFLOW);
	cr_assert_eq(v4->scope_count, 0);

	/* Biflow: the uniflow elements plus five reverse elements and biflowDirection. */
	for (uint8_t ipv = 4; ipv <= 6; ipv += 2) {
		const struct registry_template *u = registry_template_for(r, ipv);
		const struct registry_template *b = registry_template_find(r, REGISTRY_BIFLOW, ipv);
		size_t n_rev = 0;

		cr_assert_not_null(b);
		cr_assert_eq(b->id, ipv == 4 ? 258 : 259);
		cr_assert_eq(b->ip_version, ipv);
		cr_assert_eq(b->n_elements, u->n_elements + 6);
		for (size_t i = 0; i < u->n_elements; i++) {
			bool found = false;

			for (size_t j = 0; j < b->n_elements; j++)
				found |= strcmp(u->elements[i], b->elements[j]) == 0;
			cr_assert(found, "biflow template lacks %s", u->elements[i]);
		}
		for (size_t j = 0; j < b->n_elements; j++) {
			const fbInfoElement_t *ie =
				fbInfoModelGetElementByName(r->model, b->elements[j]);

			if (strncmp(b->elements[j], "reverse", 7) == 0) {
				n_rev++;
				cr_assert_eq(ie->ent, 29305, "%s: RFC 5103 reverse PEN",
					     b->elements[j]);
			}
		}
		cr_assert_eq(n_rev, 5);
	}
	/* Two sampling reports: the PSAMP selector report first (what find returns) ... */
	sampling = registry_template_find(r, REGISTRY_SAMPLING, 0);
	cr_assert_not_null(sampling);
	cr_assert_eq(sampling, &r->templates[4]);
	cr_assert_eq(sampling->id, 260);
	cr_assert_eq(sampling->ip_version, 0);
	cr_assert_eq(sampling->scope_count, 1);
	cr_assert_eq(sampling->n_elements, 6);
	cr_assert_str_eq(sampling->elements[0], "selectorId");
	cr_assert_eq(fbInfoModelGetElementByName(r->model, "selectorId")->num, 302);
	/* ... then the interval per observation domain alone, IEs 149 + 34 (what nfdump reads). */
	sampling = &r->templates[5];
	cr_assert_eq(sampling->kind, REGISTRY_SAMPLING);
	cr_assert_eq(sampling->id, 261);
	cr_assert_str_eq(sampling->name, "sampling-interval");
	cr_assert_eq(sampling->ip_version, 0);
	cr_assert_eq(sampling->scope_count, 1);
	cr_assert_eq(sampling->n_elements, 2);
	cr_assert_str_eq(sampling->elements[0], "observationDomainId");
	cr_assert_str_eq(sampling->elements[1], "samplingInterval");
	cr_assert_eq(fbInfoModelGetElementByName(r->model, sampling->elements[0])->num, 149);
	cr_assert_eq(fbInfoModelGetElementByName(r->model, sampling->elements[0])->len, 4);
	cr_assert_eq(fbInfoModelGetElementByName(r->model, sampling->elements[1])->num, 34);
	cr_assert_eq(fbInfoModelGetElementByName(r->model, sampling->elements[1])->len, 4);
	cr_assert_null(registry_template_find(r, REGISTRY_SAMPLING + 1, 4));
	cr_assert_str_eq(registry_kind_name(REGISTRY_BIFLOW), "biflow");
	cr_assert_str_eq(registry_kind_name(REGISTRY_KIND_COUNT), "unknown");

	/* Every label dimension has both elements, strings, numbered as documented. */
	for (int d = 0; d < ENRICH_DIM_COUNT; d++) {
		char name[128];
		const fbInfoElement_t *ie;

		snprintf(name, sizeof(name), "source%s", enrich_dim_name(d));
		ie = fbInfoModelGetElementByName(r->model, name);
		cr_assert_not_null(ie, "%s missing", name);
		cr_assert_eq(ie->ent, 32473);
		cr_assert_eq(ie->num, d + 1, "%s is %u", name, ie->num);
		cr_assert_eq(ie->type, FB_STRING);
		cr_assert_eq(ie->len, FB_IE_VARLEN);
		snprintf(name, sizeof(name), "destination%s", enrich_dim_name(d));
		ie = fbInfoModelGetElementByName(r->model, name);
		cr_assert_not_null(ie, "%s missing", name);
		cr_assert_eq(ie->num, d + 101, "%s is %u", name, ie->num);
	}
	/* RFC 5610 list: our elements only, sorted by ID. */
	for (size_t i = 0; i < r->n_enterprise; i++) {
		cr_assert_eq(r->enterprise[i]->ent, 32473);
		if (i)
			cr_assert_gt(r->enterprise[i]->num, r->enterprise[i - 1]->num);
	}
	/* Descriptions survive (libfixbuf's reader drops them; they feed RFC 5610). */
	cr_assert_str_eq(r->enterprise[0]->ref.name, "sourceClusterName");
	cr_assert_not_null(r->enterprise[0]->description);
	cr_assert_not_null(strstr(r->enterprise[0]->description, "cluster name of the source"));
	/* IANA elements are still there. */
	cr_assert_eq(fbInfoModelGetElementByName(r->model, "octetDeltaCount")->num, 1);
	registry_free(r);
}

Test(registry, rehomes_elements_under_the_configured_pen)
{
	struct registry *r =
		registry_load(elements_path, templates_path, 12345, errbuf, sizeof(errbuf));
	const fbInfoElement_t *ie;

	cr_assert_not_null(r, "load failed: %s", errbuf);
	cr_assert_eq(r->file_pen, 32473);
	cr_assert_eq(r->pen, 12345);
	ie = fbInfoModelGetElementByName(r->model, "sourcePodName");
	cr_assert_not_null(ie);
	cr_assert_eq(ie->ent, 12345);
	cr_assert_eq(ie->num, 3);
	cr_assert_eq(fbInfoModelGetElementByID(r->model, 3, 12345), ie);
	cr_assert_null(fbInfoModelGetElementByID(r->model, 3, 32473));
	for (size_t i = 0; i < r->n_enterprise; i++)
		cr_assert_eq(r->enterprise[i]->ent, 12345);
	registry_free(r);
}

Test(registry, rejects_template_naming_an_unknown_element)
{
	const char *conf = write_tmp(0, "t.conf",
				     "templates = (\n"
				     "  { name = \"ipv4\"; id = 256; ip_version = 4;\n"
				     "    elements = [ \"sourceIPv4Address\",\n"
				     "                 \"sourcePodNmae\" ]; }\n"
				     ");\n");
	struct registry *r = registry_load(elements_path, conf, 0, errbuf, sizeof(errbuf));

	cr_assert_null(r);
	cr_assert_not_null(strstr(errbuf, "unknown element 'sourcePodNmae'"), "%s", errbuf);
	cr_assert_not_null(strstr(errbuf, "t.conf:4:"), "%s", errbuf);
}

Test(registry, rejects_duplicate_template_id)
{
	const char *conf = write_tmp(
		0, "t.conf",
		"templates = (\n"
		"  { name = \"a\"; id = 300; ip_version = 4; elements = [ \"vlanId\" ]; },\n"
		"  { name = \"b\"; id = 300; ip_version = 6; elements = [ \"vlanId\" ]; }\n"
		");\n");
	struct registry *r = registry_load(elements_path, conf, 0, errbuf, sizeof(errbuf));

	cr_assert_null(r);
	cr_assert_not_null(strstr(errbuf, "id 300 is already used by 'a'"), "%s", errbuf);
}

Test(registry, rejects_reserved_and_small_template_ids)
{
	char text[256];
	const int bad[] = {255, REGISTRY_TYPE_TEMPLATE_ID, 70000};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
			 "templates = ( { name = \"a\"; id = %d; ip_version = 4; "
			 "elements = [ \"vlanId\" ]; } );\n",
			 bad[i]);
		cr_assert_null(registry_load(elements_path, write_tmp(0, "t.conf", text), 0, errbuf,
					     sizeof(errbuf)));
		cr_assert_not_null(strstr(errbuf, "must be 256..65535"), "%d: %s", bad[i], errbuf);
	}
}

Test(registry, reports_libconfig_syntax_error_with_line)
{
	const char *conf = write_tmp(0, "bad.conf",
				     "templates = (\n"
				     "  { name = \"a\"; id = 256;\n"
				     "    ip_version = = 4; elements = [ \"vlanId\" ]; }\n"
				     ");\n");
	struct registry *r = registry_load(elements_path, conf, 0, errbuf, sizeof(errbuf));

	cr_assert_null(r);
	cr_assert_not_null(strstr(errbuf, "bad.conf:3: "), "%s", errbuf);
}

Test(registry, rejects_unknown_template_setting_and_bad_ip_version)
{
	cr_assert_null(registry_load(elements_path,
				     write_tmp(0, "t.conf",
					       "templates = ( { name = \"a\"; id = 256; "
					       "ip_version = 4; element = [ \"vlanId\" ]; } );\n"),
				     0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "unknown template setting 'element'"), "%s", errbuf);
	cr_assert_null(registry_load(elements_path,
				     write_tmp(0, "t.conf",
					       "templates = ( { name = \"a\"; id = 256; "
					       "ip_version = 5; elements = [ \"vlanId\" ]; } );\n"),
				     0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "ip_version = 4 or 6"), "%s", errbuf);
}

Test(registry, rejects_missing_files)
{
	cr_assert_null(
		registry_load("/nonexistent/e.xml", templates_path, 0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "/nonexistent/e.xml"), "%s", errbuf);
	cr_assert_null(
		registry_load(elements_path, "/nonexistent/t.conf", 0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "/nonexistent/t.conf: cannot read"), "%s", errbuf);
}

Test(registry, rejects_element_ids_past_the_reverse_bit)
{
	const char *xml = write_tmp(
		1, "e.xml", element_xml(RECORD("fooOne", 1, 32473) RECORD("fooTwo", 16384, 32473)));
	const char *conf = write_tmp(0, "t.conf",
				     "templates = ( { name = \"a\"; id = 256; ip_version = 4; "
				     "elements = [ \"fooOne\" ]; } );\n");

	cr_assert_null(registry_load(xml, conf, 0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "'fooTwo' has elementId 16384"), "%s", errbuf);
}

Test(registry, rejects_mixed_pens_and_shared_ids)
{
	const char *conf = write_tmp(0, "t.conf",
				     "templates = ( { name = \"a\"; id = 256; ip_version = 4; "
				     "elements = [ \"fooOne\" ]; } );\n");
	const char *xml;

	xml = write_tmp(1, "e.xml",
			element_xml(RECORD("fooOne", 1, 32473) RECORD("fooTwo", 2, 4242)));
	cr_assert_null(registry_load(xml, conf, 0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "has enterpriseId"), "%s", errbuf);

	xml = write_tmp(1, "e.xml",
			element_xml(RECORD("fooOne", 7, 32473) RECORD("fooTwo", 7, 32473)));
	cr_assert_null(registry_load(xml, conf, 0, errbuf, sizeof(errbuf)));
	cr_assert_not_null(strstr(errbuf, "share elementId 7"), "%s", errbuf);
}

Test(registry, small_custom_registry_loads)
{
	const char *xml = write_tmp(
		1, "e.xml", element_xml(RECORD("fooOne", 1, 4242) RECORD("fooTwo", 2, 4242)));
	const char *conf = write_tmp(0, "t.conf",
				     "templates = ( { name = \"six\"; id = 999; ip_version = 6; "
				     "elements = [ \"fooTwo\", \"sourceIPv6Address\" ]; } );\n");
	struct registry *r = registry_load(xml, conf, 0, errbuf, sizeof(errbuf));

	cr_assert_not_null(r, "%s", errbuf);
	cr_assert_eq(r->pen, 4242);
	cr_assert_eq(r->n_enterprise, 2);
	cr_assert_str_eq(r->enterprise[0]->ref.name, "fooOne");
	cr_assert_null(registry_template_for(r, 4));
	cr_assert_eq(registry_template_for(r, 6)->id, 999);
	registry_free(r);
	registry_free(NULL);
}

Test(registry, template_kinds_and_their_rules)
{
	static const struct {
		const char *text;
		const char *error; /* NULL: loads */
	} cases[] = {
		{"{ name = \"u\"; id = 300; ip_version = 4; elements = [ \"vlanId\" ]; },"
		 "{ name = \"b\"; kind = \"biflow\"; id = 301; ip_version = 4;"
		 "  elements = [ \"vlanId\", \"reversePacketDeltaCount\" ]; },"
		 "{ name = \"s\"; kind = \"sampling\"; id = 302; scope = 2;"
		 "  elements = [ \"selectorId\", \"observationDomainId\", \"samplingInterval\" ]; "
		 "}",
		 NULL},
		{"{ name = \"x\"; kind = \"triflow\"; id = 300; ip_version = 4;"
		 "  elements = [ \"vlanId\" ]; }",
		 "kind must be \"uniflow\", \"biflow\" or \"sampling\""},
		{"{ name = \"x\"; kind = 3; id = 300; ip_version = 4; elements = [ \"vlanId\" ]; }",
		 "kind must be"},
		{"{ name = \"b1\"; kind = \"biflow\"; id = 300; ip_version = 6;"
		 "  elements = [ \"vlanId\" ]; },"
		 "{ name = \"b2\"; kind = \"biflow\"; id = 301; ip_version = 6;"
		 "  elements = [ \"vlanId\" ]; }",
		 "'b1' already covers biflow IPv6"},
		{"{ name = \"s\"; kind = \"sampling\"; id = 300; elements = [ \"selectorId\" ]; }",
		 "needs scope = N"},
		{"{ name = \"s\"; kind = \"sampling\"; id = 300; scope = 2;"
		 "  elements = [ \"selectorId\" ]; }",
		 "scope 2 is more than its 1 elements"},
		{"{ name = \"s\"; kind = \"sampling\"; id = 300; scope = 1; ip_version = 4;"
		 "  elements = [ \"selectorId\" ]; }",
		 "a sampling template has no ip_version"},
		{"{ name = \"s1\"; kind = \"sampling\"; id = 300; scope = 1;"
		 "  elements = [ \"selectorId\" ]; },"
		 "{ name = \"s2\"; kind = \"sampling\"; id = 300; scope = 1;"
		 "  elements = [ \"observationDomainId\" ]; }",
		 "id 300 is already used by 's1'"},
		{"{ name = \"u\"; id = 300; ip_version = 4; scope = 1; elements = [ \"vlanId\" ]; "
		 "}",
		 "only a sampling template has a scope"},
		{"{ name = \"b\"; kind = \"biflow\"; id = 300; elements = [ \"vlanId\" ]; }",
		 "needs ip_version = 4 or 6"},
	};
	char text[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct registry *r;

		snprintf(text, sizeof(text), "templates = ( %s );\n", cases[i].text);
		r = registry_load(elements_path, write_tmp(0, "t.conf", text), 0, errbuf,
				  sizeof(errbuf));
		if (!cases[i].error) {
			const struct registry_template *t;

			cr_assert_not_null(r, "case %zu: %s", i, errbuf);
			cr_assert_eq(registry_template_for(r, 4)->id, 300);
			cr_assert_eq(registry_template_find(r, REGISTRY_BIFLOW, 4)->id, 301);
			cr_assert_null(registry_template_find(r, REGISTRY_BIFLOW, 6));
			t = registry_template_find(r, REGISTRY_SAMPLING, 0);
			cr_assert_eq(t->id, 302);
			cr_assert_eq(t->scope_count, 2);
			cr_assert_eq(t->n_elements, 3);
			registry_free(r);
			continue;
		}
		cr_assert_null(r, "case %zu loaded", i);
		cr_assert_not_null(strstr(errbuf, cases[i].error), "case %zu: %s", i, errbuf);
	}
}

Test(registry, several_sampling_templates_load_in_file_order)
{
	const char *text =
		"templates = ( { name = \"u\"; id = 300; ip_version = 4;"
		"  elements = [ \"vlanId\" ]; },"
		"{ name = \"psamp\"; kind = \"sampling\"; id = 310; scope = 1;"
		"  elements = [ \"selectorId\", \"samplingPacketSpace\" ]; },"
		"{ name = \"domain\"; kind = \"sampling\"; id = 311; scope = 1;"
		"  elements = [ \"observationDomainId\", \"samplingInterval\" ]; },"
		"{ name = \"third\"; kind = \"sampling\"; id = 305; scope = 2;"
		"  elements = [ \"observationDomainId\", \"selectorId\", \"samplingInterval\" ]; "
		"} );\n";
	static const uint16_t ids[] = {310, 311, 305};
	struct registry *r = registry_load(elements_path, write_tmp(0, "t.conf", text), 0, errbuf,
					   sizeof(errbuf));
	size_t n = 0;

	cr_assert_not_null(r, "%s", errbuf);
	cr_assert_eq(registry_template_find(r, REGISTRY_SAMPLING, 0)->id, 310, "the first one");
	for (size_t i = 0; i < r->n_templates; i++) {
		const struct registry_template *t = &r->templates[i];

		if (t->kind != REGISTRY_SAMPLING)
			continue;
		cr_assert_lt(n, 3);
		cr_assert_eq(t->id, ids[n], "sampling template %zu is %u", n, t->id);
		cr_assert_eq(t->ip_version, 0);
		n++;
	}
	cr_assert_eq(n, 3);
	cr_assert_eq(r->templates[3].scope_count, 2);
	cr_assert_str_eq(r->templates[2].elements[1], "samplingInterval");
	registry_free(r);
}
