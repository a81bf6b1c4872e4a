// SPDX-License-Identifier: Apache-2.0
/*
 * kit: every format generated from a small registry written here (one element of each
 * data type, awkward descriptions), from the shipped registry, and from changed ones (an
 * extra element, another PEN, names a collector cannot take, more elements than pmacct
 * reads). The XML is read back with libfixbuf and with registry_load().
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "kit.h"
#include "registry.h"

static char tmpdir[] = "/tmp/lf-kit-XXXXXX";
static char errbuf[1024];
static const char *templates_conf;

/* libfixbuf 2.4's XML reader leaks a GString per parse (see test_registry.c). */
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

/* Write text to tmpdir/name; returns the path (static storage, one per slot). */
static const char *write_tmp(int slot, const char *name, const char *text)
{
	static char paths[4][4200];
	FILE *f;

	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", tmpdir, name);
	f = fopen(paths[slot], "w");
	cr_assert_not_null(f);
	cr_assert_geq(fputs(text, f), 0);
	cr_assert_eq(fclose(f), 0);
	return paths[slot];
}

static void setup(void)
{
	cr_assert_not_null(mkdtemp(tmpdir));
	errbuf[0] = '\0';
	templates_conf = write_tmp(3, "t.conf",
				   "templates = ( { name = \"ipv4\"; id = 256; ip_version = 4;\n"
				   "  elements = [ \"sourceIPv4Address\" ]; } );\n");
}

static void teardown(void)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(kit, .init = setup, .fini = teardown);

#define XML_HEAD                                                                                   \
	"<?xml version='1.0'?>\n<registry id=\"t\" xmlns=\"http://www.iana.org/assignments\">\n"   \
	"<registry id=\"t-elements\">\n"
#define XML_TAIL "</registry>\n</registry>\n"
#define REC(name, id, type, extra)                                                                 \
	"<record><name>" name "</name><dataType>" type "</dataType>" extra "<elementId>" #id       \
	"</elementId><enterpriseId>32473</enterpriseId></record>\n"

/* One element per data type the kit maps differently, plus awkward descriptions. */
#define TYPED_RECORDS                                                                              \
	REC("kitName", 1, "string", "<description><paragraph>A name.</paragraph></description>")   \
	REC("kitLabels", 2, "string",                                                              \
	    "<description><paragraph>Labels as a JSON object.</paragraph></description>")          \
	REC("kitCount", 3, "unsigned32",                                                           \
	    "<dataTypeSemantics>totalCounter</dataTypeSemantics><units>packets</units>"            \
	    "<reversible>true</reversible>")                                                       \
	REC("kitAddr4", 4, "ipv4Address", "")                                                      \
	REC("kitAddr6", 5, "ipv6Address", "")                                                      \
	REC("kitMac", 6, "macAddress", "")                                                         \
	REC("kitDelta", 7, "signed16", "")                                                         \
	REC("kitStamp", 8, "dateTimeMilliseconds", "")                                             \
	REC("kitBlob", 9, "octetArray", "")                                                        \
	REC("kitRatio", 10, "float64", "")                                                         \
	REC("kitFlag", 11, "boolean", "")                                                          \
	REC("kitPercent", 12, "unsigned8", "<range>0-100</range>")                                 \
	REC("kitQuote", 13, "string",                                                              \
	    "<description><paragraph>Say \"hi\" &amp; &lt;bye&gt; \\ back</paragraph>"             \
	    "</description>")

static struct registry *load_xml(const char *xml, uint32_t pen)
{
	const char *path = write_tmp(0, "e.xml", xml);
	struct registry *r = registry_load(path, templates_conf, pen, errbuf, sizeof(errbuf));

	cr_assert_not_null(r, "registry_load: %s", errbuf);
	return r;
}

/* kit_print() into memory; *ret_rc gets its return value. Caller frees. */
static char *render(const struct registry *r, const char *format, int *ret_rc)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	cr_assert_not_null(f);
	*ret_rc = kit_print(r, format, f);
	cr_assert_eq(fclose(f), 0);
	return text;
}

static char *render_ok(const struct registry *r, const char *format)
{
	int rc;
	char *text = render(r, format, &rc);

	cr_assert_eq(rc, 0, "%s: %d", format, rc);
	return text;
}

/* The line equal to want, or NULL. */
static const char *find_line(const char *text, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, want, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return p;
	return NULL;
}

static size_t count_prefixed(const char *text, const char *prefix)
{
	size_t n = 0, len = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n += strncmp(p, prefix, len) == 0;
	return n;
}

static void assert_lines(const char *text, const char *const *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_not_null(find_line(text, want[i]), "missing line '%s' in:\n%s", want[i],
				   text);
}

Test(kit, pmacct_primitive_per_type)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	char *text = render_ok(r, "pmacct");
	static const char *const want[] = {
		"name=kitName field_type=32473:1 len=vlen semantics=str",
		"name=kitLabels field_type=32473:2 len=vlen semantics=str",
		"name=kitCount field_type=32473:3 len=4 semantics=u_int",
		"name=kitAddr4 field_type=32473:4 len=4 semantics=ip",
		"name=kitAddr6 field_type=32473:5 len=16 semantics=ip",
		"name=kitMac field_type=32473:6 len=6 semantics=mac",
		"name=kitDelta field_type=32473:7 len=2 semantics=raw",
		"name=kitStamp field_type=32473:8 len=8 semantics=u_int",
		"name=kitBlob field_type=32473:9 len=vlen semantics=raw",
		"name=kitRatio field_type=32473:10 len=8 semantics=raw",
		"name=kitFlag field_type=32473:11 len=1 semantics=u_int",
		"name=kitPercent field_type=32473:12 len=1 semantics=u_int",
		"name=kitQuote field_type=32473:13 len=vlen semantics=str",
	};

	assert_lines(text, want, sizeof(want) / sizeof(want[0]));
	cr_assert_eq(count_prefixed(text, "name="), 13);
	/* Everything else is a '!' comment that fits pmacct's 288-character map lines. */
	for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
		size_t len = (size_t)(strchr(p, '\n') - p);

		cr_assert(p[0] == '!' || strncmp(p, "name=", 5) == 0, "line '%.*s'", (int)len, p);
		cr_assert_lt(len, 288);
	}
	cr_assert_not_null(strstr(text, "!   aggregate: src_host, dst_host, src_port, dst_port, "
					"proto, kitName, kitLabels,"));
	cr_assert_not_null(strstr(text, "13 elements under Private Enterprise Number 32473"));
	free(text);
	registry_free(r);
}

Test(kit, nfacctd_conf_aggregates_every_primitive)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	char *text = render_ok(r, "nfacctd");
	static const char *const want[] = {
		"nfacctd_port: 4739",
		"plugins: print",
		"print_output: json",
		"print_output_file_append: true",
		"aggregate: src_host, dst_host, src_port, dst_port, proto, kitName, kitLabels, "
		"kitCount, kitAddr4, kitAddr6, kitMac, kitDelta, kitStamp, kitBlob, kitRatio, "
		"kitFlag, kitPercent, kitQuote",
	};

	assert_lines(text, want, sizeof(want) / sizeof(want[0]));
	cr_assert_eq(count_prefixed(text, "aggregate_primitives: "), 1);
	cr_assert_not_null(strstr(text, "/collectors/labelflow-primitives.lst\n"));
	free(text);
	registry_free(r);
}

Test(kit, python_ipfix_specs_only)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	char *text = render_ok(r, "python-ipfix");
	static const char *const want[] = {
		"kitName(32473/1)<string>[65535]",     "kitLabels(32473/2)<string>[65535]",
		"kitCount(32473/3)<unsigned32>[4]",    "kitAddr4(32473/4)<ipv4Address>[4]",
		"kitAddr6(32473/5)<ipv6Address>[16]",  "kitMac(32473/6)<macAddress>[6]",
		"kitDelta(32473/7)<signed16>[2]",      "kitStamp(32473/8)<dateTimeMilliseconds>[8]",
		"kitBlob(32473/9)<octetArray>[65535]", "kitRatio(32473/10)<float64>[8]",
		"kitFlag(32473/11)<boolean>[1]",       "kitPercent(32473/12)<unsigned8>[1]",
		"kitQuote(32473/13)<string>[65535]",
	};
	size_t lines = 0;

	assert_lines(text, want, sizeof(want) / sizeof(want[0]));
	/* use_specfile() parses every line as a spec: no comments, no blank lines. */
	for (const char *p = text; *p; p = strchr(p, '\n') + 1, lines++)
		cr_assert(p[0] == 'k', "not a spec: '%.20s'", p);
	cr_assert_eq(lines, 13);
	free(text);
	registry_free(r);
}

Test(kit, xml_reads_back_identically)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 54321);
	char *text = render_ok(r, "xml");
	const char *path = write_tmp(1, "gen.xml", text);
	fbInfoModel_t *model = fbInfoModelAlloc();
	GError *err = NULL;
	struct registry *back;

	cr_assert(fbInfoModelReadXMLFile(model, path, &err), "%s", err ? err->message : "?");
	for (size_t i = 0; i < r->n_enterprise; i++) {
		const fbInfoElement_t *a = r->enterprise[i];
		const fbInfoElement_t *b = fbInfoModelGetElementByName(model, a->ref.name);

		cr_assert_not_null(b, "%s not read back", a->ref.name);
		cr_assert_eq(b->ent, 54321);
		cr_assert_eq(b->num, a->num, "%s", a->ref.name);
		cr_assert_eq(b->type, a->type, "%s", a->ref.name);
		cr_assert_eq(b->len, a->len, "%s", a->ref.name);
		cr_assert_eq(b->flags, a->flags, "%s: %#x vs %#x", a->ref.name, b->flags, a->flags);
		cr_assert_eq(b->min, a->min, "%s", a->ref.name);
		cr_assert_eq(b->max, a->max, "%s", a->ref.name);
	}
	cr_assert_eq(FB_IE_UNITS(fbInfoModelGetElementByName(model, "kitCount")->flags), 3,
		     "packets");
	cr_assert_eq(fbInfoModelGetElementByName(model, "kitPercent")->max, 100);
	fbInfoModelFree(model);

	/* registry_load() takes it as the registry: same elements, its PEN, descriptions. */
	back = registry_load(path, templates_conf, 0, errbuf, sizeof(errbuf));
	cr_assert_not_null(back, "%s", errbuf);
	cr_assert_eq(back->file_pen, 54321);
	cr_assert_eq(back->n_enterprise, r->n_enterprise);
	for (size_t i = 0; i < r->n_enterprise; i++) {
		cr_assert_str_eq(back->enterprise[i]->ref.name, r->enterprise[i]->ref.name);
		if (r->enterprise[i]->description)
			cr_assert_str_eq(back->enterprise[i]->description,
					 r->enterprise[i]->description);
	}
	cr_assert_str_eq(fbInfoModelGetElementByName(back->model, "kitQuote")->description,
			 "Say \"hi\" & <bye> \\ back");
	registry_free(back);
	free(text);
	registry_free(r);
}

Test(kit, xml_comment_has_no_double_dash)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	char *text = render_ok(r, "xml");
	const char *open = strstr(text, "<!--"), *close = strstr(text, "-->");
	const char *dash;

	cr_assert_not_null(open);
	cr_assert_not_null(close);
	dash = strstr(open + 4, "--");
	cr_assert_eq(dash, close, "'--' inside the XML comment");
	free(text);
	registry_free(r);
}

Test(kit, wireshark_element_table)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	char *text = render_ok(r, "wireshark");
	static const char *const want[] = {
		"local PEN = 32473",
		"  { id = 1, name = \"kitName\", type = \"string\", json = false,",
		"  { id = 2, name = \"kitLabels\", type = \"string\", json = true,",
		"  { id = 3, name = \"kitCount\", type = \"unsigned32\", json = false,",
		"  { id = 4, name = \"kitAddr4\", type = \"ipv4Address\", json = false,",
		"  { id = 6, name = \"kitMac\", type = \"macAddress\", json = false,",
		"  { id = 13, name = \"kitQuote\", type = \"string\", json = false,",
		"    descr = \"Say \\\"hi\\\" & <bye> \\\\ back\" },",
		"    descr = \"Labels as a JSON object.\" },",
		"register_postdissector(proto)",
	};

	assert_lines(text, want, sizeof(want) / sizeof(want[0]));
	cr_assert_eq(count_prefixed(text, "  { id = "), 13);
	cr_assert_eq(strncmp(text, "-- labelflow.lua: ", 18), 0);
	free(text);
	registry_free(r);
}

/* Every element of the shipped registry is in every format. */
Test(kit, shipped_registry_in_every_format)
{
	char dir[4096], xml[4200], conf[4200];
	const char *env = getenv("LABELFLOW_DATADIR");
	struct registry *r;

	if (env && *env) {
		snprintf(dir, sizeof(dir), "%s", env);
	} else {
		snprintf(xml, sizeof(xml), "%s", __FILE__);
		snprintf(dir, sizeof(dir), "%s/../../templates", dirname(xml));
	}
	snprintf(xml, sizeof(xml), "%s/labelflow-elements.xml", dir);
	snprintf(conf, sizeof(conf), "%s/labelflow-templates.conf", dir);
	r = registry_load(xml, conf, 0, errbuf, sizeof(errbuf));
	cr_assert_not_null(r, "%s", errbuf);
	cr_assert_gt(r->n_enterprise, 0);

	char *pm = render_ok(r, "pmacct"), *nf = render_ok(r, "nfacctd");
	char *ws = render_ok(r, "wireshark"), *x = render_ok(r, "xml");
	char *py = render_ok(r, "python-ipfix");

	for (size_t i = 0; i < r->n_enterprise; i++) {
		const fbInfoElement_t *ie = r->enterprise[i];
		char want[256];

		snprintf(want, sizeof(want), "name=%s field_type=%u:%u ", ie->ref.name, r->pen,
			 ie->num);
		cr_assert_eq(count_prefixed(pm, want), 1, "pmacct: %s", want);
		snprintf(want, sizeof(want), ", %s", ie->ref.name);
		cr_assert_not_null(strstr(nf, want), "nfacctd: %s", want);
		snprintf(want, sizeof(want), "  { id = %u, name = \"%s\", ", ie->num, ie->ref.name);
		cr_assert_eq(count_prefixed(ws, want), 1, "wireshark: %s", want);
		snprintf(want, sizeof(want), "      <name>%s</name>", ie->ref.name);
		cr_assert_not_null(find_line(x, want), "xml: %s", want);
		snprintf(want, sizeof(want), "%s(%u/%u)<", ie->ref.name, r->pen, ie->num);
		cr_assert_eq(count_prefixed(py, want), 1, "python-ipfix: %s", want);
	}
	cr_assert_eq(count_prefixed(pm, "name="), r->n_enterprise);
	cr_assert_eq(count_prefixed(x, "    <record>"), r->n_enterprise);
	/* The label JSON elements are the ones the registry describes as JSON. */
	cr_assert_not_null(
		strstr(ws, "name = \"sourcePodLabels\", type = \"string\", json = true"));
	cr_assert_not_null(strstr(ws, "name = \"sourcePodName\", type = \"string\", json = false"));
	free(pm);
	free(nf);
	free(ws);
	free(x);
	free(py);
	registry_free(r);
}

/* A registry with one more element: every format gains exactly that element. */
Test(kit, follows_a_changed_registry)
{
	struct registry *a = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	struct registry *b =
		load_xml(XML_HEAD TYPED_RECORDS REC("kitExtra", 77, "unsigned16", "") XML_TAIL, 0);
	static const char *const formats[] = {"pmacct", "nfacctd", "wireshark", "xml",
					      "python-ipfix"};
	static const char *const extra[] = {
		"name=kitExtra field_type=32473:77 len=2 semantics=u_int",
		"aggregate: src_host, dst_host, src_port, dst_port, proto, kitName, kitLabels, "
		"kitCount, kitAddr4, kitAddr6, kitMac, kitDelta, kitStamp, kitBlob, kitRatio, "
		"kitFlag, kitPercent, kitQuote, kitExtra",
		"  { id = 77, name = \"kitExtra\", type = \"unsigned16\", json = false,",
		"      <name>kitExtra</name>",
		"kitExtra(32473/77)<unsigned16>[2]",
	};

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char *ta = render_ok(a, formats[i]), *tb = render_ok(b, formats[i]);

		cr_assert_null(find_line(ta, extra[i]), "%s", formats[i]);
		cr_assert_not_null(find_line(tb, extra[i]), "%s lacks '%s'", formats[i], extra[i]);
		cr_assert_str_neq(ta, tb);
		free(ta);
		free(tb);
	}
	/* python-ipfix: the old lines, then the new one (sorted by ID, 77 is last). */
	char *pa = render_ok(a, "python-ipfix"), *pb = render_ok(b, "python-ipfix");

	cr_assert_eq(strncmp(pa, pb, strlen(pa)), 0);
	cr_assert_str_eq(pb + strlen(pa), "kitExtra(32473/77)<unsigned16>[2]\n");
	free(pa);
	free(pb);
	registry_free(a);
	registry_free(b);
}

Test(kit, uses_the_configured_pen)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 4200000000u);
	static const char *const formats[] = {"pmacct", "nfacctd", "wireshark", "xml",
					      "python-ipfix"};

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		char *text = render_ok(r, formats[i]);

		cr_assert_null(strstr(text, "32473"), "%s still names the file's PEN", formats[i]);
		cr_assert_not_null(strstr(text, "4200000000"), "%s", formats[i]);
		free(text);
	}
	char *pm = render_ok(r, "pmacct");

	cr_assert_not_null(
		find_line(pm, "name=kitAddr4 field_type=4200000000:4 len=4 semantics=ip"));
	free(pm);
	registry_free(r);
}

Test(kit, unknown_format_writes_nothing)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	int rc;
	char *text = render(r, "ntopng", &rc);

	cr_assert_eq(rc, -EINVAL);
	cr_assert_str_eq(text, "");
	free(text);
	text = render(r, "", &rc);
	cr_assert_eq(rc, -EINVAL);
	free(text);
	cr_assert_eq(kit_print(NULL, "xml", stdout), -EINVAL);
	cr_assert_eq(kit_print(r, NULL, stdout), -EINVAL);
	registry_free(r);
}

Test(kit, format_names_are_the_accepted_formats)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	char names[256], *save = NULL;
	size_t n = 0;

	snprintf(names, sizeof(names), "%s", kit_format_names());
	cr_assert_str_eq(names, "pmacct, nfacctd, wireshark, xml, python-ipfix");
	for (char *tok = strtok_r(names, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		free(render_ok(r, tok));
		n++;
	}
	cr_assert_eq(n, 5);
	registry_free(r);
}

/* Names a collector cannot take fail that format, whole, before anything is written. */
Test(kit, rejects_unusable_names)
{
	struct registry *r = load_xml(XML_HEAD REC("label", 1, "string", "") XML_TAIL, 0);
	int rc;
	char *text = render(r, "wireshark", &rc);

	cr_assert_eq(rc, -EDOM, "labelflow.label is the plugin's own field");
	cr_assert_str_eq(text, "");
	free(text);
	free(render_ok(r, "pmacct"));
	registry_free(r);

	r = load_xml(XML_HEAD REC("pod-name", 1, "string", "") XML_TAIL, 0);
	static const char *const formats[] = {"pmacct", "nfacctd", "wireshark", "xml",
					      "python-ipfix"};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		text = render(r, formats[i], &rc);
		cr_assert_eq(rc, -EDOM, "%s", formats[i]);
		cr_assert_str_eq(text, "", "%s", formats[i]);
		free(text);
	}
	registry_free(r);

	/* pmacct keeps names below 64 bytes; the others take longer ones. */
	r = load_xml(XML_HEAD REC("kitAVeryLongElementNameThatGoesOnAndOnBeyondSixtyThreeCharacters"
				  "X",
				  1, "string", "") XML_TAIL,
		     0);
	text = render(r, "pmacct", &rc);
	cr_assert_eq(rc, -EDOM);
	free(text);
	free(render_ok(r, "xml"));
	free(render_ok(r, "python-ipfix"));
	registry_free(r);
}

/* pmacct reads at most 64 custom primitives: the first 64 by ID, and a note. */
Test(kit, pmacct_takes_the_first_64)
{
	GString *xml = g_string_new(XML_HEAD);
	struct registry *r;
	char *pm, *nf;

	for (int i = 1; i <= 70; i++)
		g_string_append_printf(xml,
				       "<record><name>kitMany%d</name><dataType>string</dataType>"
				       "<elementId>%d</elementId><enterpriseId>32473</enterpriseId>"
				       "</record>\n",
				       i, i);
	g_string_append(xml, XML_TAIL);
	r = load_xml(xml->str, 0);
	g_string_free(xml, TRUE);
	pm = render_ok(r, "pmacct");
	nf = render_ok(r, "nfacctd");
	cr_assert_eq(count_prefixed(pm, "name="), 64);
	cr_assert_not_null(
		find_line(pm, "name=kitMany64 field_type=32473:64 len=vlen semantics=str"));
	cr_assert_null(strstr(pm, "kitMany65"));
	cr_assert_not_null(strstr(pm, "! Only the first 64 of 70 elements"));
	cr_assert_not_null(strstr(nf, ", kitMany64\n"));
	cr_assert_null(strstr(nf, "kitMany65"));
	free(pm);
	free(nf);
	registry_free(r);
}

Test(kit, reports_write_errors)
{
	struct registry *r = load_xml(XML_HEAD TYPED_RECORDS XML_TAIL, 0);
	FILE *full = fopen("/dev/full", "w");

	if (!full)
		cr_skip_test("no /dev/full");
	cr_assert_eq(kit_print(r, "wireshark", full), -EIO);
	(void)fclose(full);
	registry_free(r);
}
