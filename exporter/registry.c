// SPDX-License-Identifier: Apache-2.0
/*
 * registry: builds the one information model the exporter uses, from data. libfixbuf's
 * built-in IANA model, plus our enterprise elements read from the XML registry into a
 * scratch model and copied over under the configured PEN (so an operator can move them
 * to their own enterprise number without editing the file). The template definitions
 * are read with libconfig and checked against that model once, at start.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "registry.h"

/* Enterprise element IDs stay below the RFC 5103 reverse bit. */
#define REGISTRY_MAX_ELEMENT_ID 16384

__attribute__((format(printf, 3, 4))) static void fail(char *errbuf, size_t errbuf_size,
						       const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errbuf_size)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errbuf_size, fmt, ap);
	va_end(ap);
}

static int cmp_element_id(const void *a, const void *b)
{
	const fbInfoElement_t *x = *(const fbInfoElement_t *const *)a;
	const fbInfoElement_t *y = *(const fbInfoElement_t *const *)b;

	return (int)x->num - (int)y->num;
}

/* A reverse element libfixbuf derived from a reversible forward element in the file. */
static bool is_derived_reverse(fbInfoModel_t *scratch, const fbInfoElement_t *ie)
{
	const fbInfoElement_t *fwd;

	if (!(ie->num & FB_IE_VENDOR_BIT_REVERSE))
		return false;
	fwd = fbInfoModelGetElementByID(scratch, ie->num & ~FB_IE_VENDOR_BIT_REVERSE, ie->ent);
	return fwd && (fwd->flags & FB_IE_F_REVERSIBLE);
}

/*
 * A light second reading of the XML with GMarkup, for what fbInfoModelReadXMLFile() does
 * not report: it keeps no descriptions, and silently lets a record replace an earlier one
 * with the same number or skips one with a missing field. One entry per <record> that has
 * a <dataType> (records without one, like "Unassigned", are registry notes).
 */
struct xml_record {
	char *name;	   /* owned */
	char *element_id;  /* owned; text as written */
	char *description; /* owned; paragraphs joined, whitespace collapsed */
	bool has_type;
};

struct xml_scan {
	GPtrArray *records; /* of struct xml_record *, owned */
	struct xml_record *cur;
	GString *text;
	const char *field; /* element whose text is being gathered, or NULL */
	bool in_description;
};

static const char *local_name(const char *name)
{
	const char *colon = strchr(name, ':');

	return colon ? colon + 1 : name;
}

static void xml_record_free(gpointer p)
{
	struct xml_record *rec = p;

	free(rec->name);
	free(rec->element_id);
	free(rec->description);
	free(rec);
}

static void scan_start(GMarkupParseContext *ctx, const gchar *element, const gchar **attr_names,
		       const gchar **attr_values, gpointer user, GError **error)
{
	struct xml_scan *sc = user;
	const char *name = local_name(element);

	(void)ctx, (void)attr_names, (void)attr_values, (void)error;
	if (strcmp(name, "record") == 0) {
		sc->cur = calloc(1, sizeof(*sc->cur));
		if (sc->cur)
			g_ptr_array_add(sc->records, sc->cur);
	} else if (sc->cur && strcmp(name, "description") == 0) {
		sc->in_description = true;
		g_string_truncate(sc->text, 0);
	} else if (sc->cur && !sc->in_description &&
		   (strcmp(name, "name") == 0 || strcmp(name, "elementId") == 0 ||
		    strcmp(name, "dataType") == 0)) {
		sc->field = name[0] == 'n' ? "name" : name[0] == 'e' ? "elementId" : "dataType";
		g_string_truncate(sc->text, 0);
	}
}

/* Collapse runs of whitespace to one space and trim, in place. */
static char *squeeze(char *s)
{
	char *w = s;
	bool space = true;

	for (char *r = s; *r; r++) {
		if (g_ascii_isspace(*r)) {
			if (!space)
				*w++ = ' ';
			space = true;
		} else {
			*w++ = *r;
			space = false;
		}
	}
	if (w > s && w[-1] == ' ')
		w--;
	*w = '\0';
	return s;
}

static void scan_end(GMarkupParseContext *ctx, const gchar *element, gpointer user, GError **error)
{
	struct xml_scan *sc = user;
	const char *name = local_name(element);

	(void)ctx, (void)error;
	if (strcmp(name, "record") == 0) {
		sc->cur = NULL;
		sc->field = NULL;
		sc->in_description = false;
	} else if (sc->cur && sc->in_description && strcmp(name, "description") == 0) {
		free(sc->cur->description);
		sc->cur->description = squeeze(strdup(sc->text->str));
		sc->in_description = false;
	} else if (sc->cur && sc->in_description) {
		g_string_append_c(sc->text, ' '); /* paragraph or xref boundary */
	} else if (sc->cur && sc->field && strcmp(name, sc->field) == 0) {
		char *v = squeeze(strdup(sc->text->str));

		if (strcmp(name, "name") == 0) {
			free(sc->cur->name);
			sc->cur->name = v;
		} else if (strcmp(name, "elementId") == 0) {
			free(sc->cur->element_id);
			sc->cur->element_id = v;
		} else {
			sc->cur->has_type = true;
			free(v);
		}
		sc->field = NULL;
	}
}

static void scan_text(GMarkupParseContext *ctx, const gchar *text, gsize len, gpointer user,
		      GError **error)
{
	struct xml_scan *sc = user;

	(void)ctx, (void)error;
	if (sc->cur && (sc->field || sc->in_description))
		g_string_append_len(sc->text, text, (gssize)len);
}

static const GMarkupParser scan_parser = {
	.start_element = scan_start,
	.end_element = scan_end,
	.text = scan_text,
};

/* Returns the records (caller frees with g_ptr_array_unref) or NULL on a parse error. */
static GPtrArray *scan_xml(const char *path, char *errbuf, size_t errbuf_size)
{
	struct xml_scan sc = {0};
	GMarkupParseContext *ctx;
	GError *err = NULL;
	gchar *data = NULL;
	gsize len = 0;
	bool ok;

	if (!g_file_get_contents(path, &data, &len, &err)) {
		fail(errbuf, errbuf_size, "%s: %s", path, err->message);
		g_clear_error(&err);
		return NULL;
	}
	sc.records = g_ptr_array_new_with_free_func(xml_record_free);
	sc.text = g_string_new(NULL);
	ctx = g_markup_parse_context_new(
		&scan_parser, G_MARKUP_TREAT_CDATA_AS_TEXT | G_MARKUP_PREFIX_ERROR_POSITION, &sc,
		NULL);
	ok = g_markup_parse_context_parse(ctx, data, (gssize)len, &err) &&
	     g_markup_parse_context_end_parse(ctx, &err);
	g_markup_parse_context_free(ctx);
	g_string_free(sc.text, TRUE);
	g_free(data);
	if (!ok) {
		fail(errbuf, errbuf_size, "%s: %s", path, err ? err->message : "parse error");
		g_clear_error(&err);
		g_ptr_array_unref(sc.records);
		return NULL;
	}
	return sc.records;
}

/*
 * Every typed record of the file must have survived libfixbuf's reading under its own
 * name; a record that shares its number with a later one does not.
 */
static int check_records(GPtrArray *records, fbInfoModel_t *scratch, const char *path, char *errbuf,
			 size_t errbuf_size)
{
	for (guint i = 0; i < records->len; i++) {
		const struct xml_record *rec = g_ptr_array_index(records, i);

		if (!rec->has_type)
			continue;
		if (!rec->name || !rec->element_id) {
			fail(errbuf, errbuf_size,
			     "%s: record %u ('%s') needs <name> and <elementId>", path, i + 1,
			     rec->name ? rec->name : "?");
			return -EINVAL;
		}
		if (fbInfoModelGetElementByName(scratch, rec->name))
			continue;
		for (guint j = 0; j < records->len; j++) {
			const struct xml_record *o = g_ptr_array_index(records, j);

			if (j != i && o->has_type && o->element_id && o->name &&
			    strcmp(o->element_id, rec->element_id) == 0) {
				fail(errbuf, errbuf_size,
				     "%s: elements '%s' and '%s' share elementId %s", path,
				     rec->name, o->name, rec->element_id);
				return -EINVAL;
			}
		}
		fail(errbuf, errbuf_size, "%s: element '%s' could not be read (bad field?)", path,
		     rec->name);
		return -EINVAL;
	}
	return 0;
}

static const char *record_description(GPtrArray *records, const char *name)
{
	for (guint i = 0; i < records->len; i++) {
		const struct xml_record *rec = g_ptr_array_index(records, i);

		if (rec->name && strcmp(rec->name, name) == 0)
			return rec->description && *rec->description ? rec->description : NULL;
	}
	return NULL;
}

/*
 * Read the XML into a scratch model; every element it adds that the base model lacks is
 * ours. They must share one PEN (the file's), have IDs 1..16383 and not collide with an
 * element already present under the target PEN.
 */
static int load_elements(struct registry *r, const char *path, uint32_t pen, char *errbuf,
			 size_t errbuf_size)
{
	fbInfoModel_t *scratch = fbInfoModelAlloc();
	GPtrArray *records = scan_xml(path, errbuf, errbuf_size);
	const fbInfoElement_t **ours = NULL;
	const fbInfoElement_t *ie;
	fbInfoModelIter_t it;
	GError *err = NULL;
	size_t n = 0, cap;
	int ret = -EINVAL;

	if (!records)
		goto out;
	if (!fbInfoModelReadXMLFile(scratch, path, &err)) {
		fail(errbuf, errbuf_size, "%s: %s", path, err ? err->message : "cannot read");
		g_clear_error(&err);
		goto out;
	}
	if (check_records(records, scratch, path, errbuf, errbuf_size) < 0)
		goto out;
	cap = fbInfoModelCountElements(scratch);
	ours = calloc(cap ? cap : 1, sizeof(*ours));
	if (!ours) {
		ret = -ENOMEM;
		fail(errbuf, errbuf_size, "%s: out of memory", path);
		goto out;
	}
	fbInfoModelIterInit(&it, scratch);
	while ((ie = fbInfoModelIterNext(&it)) && n < cap) {
		if (fbInfoModelGetElementByName(r->model, ie->ref.name))
			continue; /* IANA or built-in: not from our file */
		if (is_derived_reverse(scratch, ie))
			continue; /* re-created when its forward element is added */
		if (ie->ent == 0) {
			fail(errbuf, errbuf_size, "%s: element '%s' has no enterpriseId", path,
			     ie->ref.name);
			goto out;
		}
		if (n && ie->ent != ours[0]->ent) {
			fail(errbuf, errbuf_size,
			     "%s: element '%s' has enterpriseId %u, others have %u", path,
			     ie->ref.name, ie->ent, ours[0]->ent);
			goto out;
		}
		if (ie->num == 0 || ie->num >= REGISTRY_MAX_ELEMENT_ID) {
			fail(errbuf, errbuf_size,
			     "%s: element '%s' has elementId %u (must be 1..%u)", path,
			     ie->ref.name, ie->num, REGISTRY_MAX_ELEMENT_ID - 1);
			goto out;
		}
		ours[n++] = ie;
	}
	if (n == 0) {
		fail(errbuf, errbuf_size, "%s: no enterprise elements found", path);
		goto out;
	}
	qsort(ours, n, sizeof(*ours), cmp_element_id);
	r->file_pen = ours[0]->ent;
	r->pen = pen ? pen : r->file_pen;
	for (size_t i = 0; i < n; i++) {
		if (fbInfoModelGetElementByID(r->model, ours[i]->num, r->pen)) {
			fail(errbuf, errbuf_size,
			     "%s: element '%s' (%u/%u) collides with a built-in element", path,
			     ours[i]->ref.name, r->pen, ours[i]->num);
			goto out;
		}
	}

	r->enterprise = calloc(n, sizeof(*r->enterprise));
	if (!r->enterprise) {
		ret = -ENOMEM;
		fail(errbuf, errbuf_size, "%s: out of memory", path);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		fbInfoElement_t copy = *ours[i];

		/* Canonical form for fbInfoModelAddElement(): ref.name holds the name. */
		copy.ref.name = ours[i]->ref.name;
		copy.midx = 0;
		copy.ent = r->pen;
		copy.description = record_description(records, copy.ref.name);
		fbInfoModelAddElement(r->model, &copy);
		r->enterprise[i] = fbInfoModelGetElementByName(r->model, ours[i]->ref.name);
		if (!r->enterprise[i] || r->enterprise[i]->ent != r->pen) {
			fail(errbuf, errbuf_size, "%s: element '%s' could not be added", path,
			     ours[i]->ref.name);
			goto out;
		}
		r->n_enterprise = i + 1;
	}
	ret = 0;
out:
	free(ours);
	if (records)
		g_ptr_array_unref(records);
	fbInfoModelFree(scratch);
	return ret;
}

static const char *const kind_names[REGISTRY_KIND_COUNT] = {
	[REGISTRY_UNIFLOW] = "uniflow",
	[REGISTRY_BIFLOW] = "biflow",
	[REGISTRY_SAMPLING] = "sampling",
};

const char *registry_kind_name(enum registry_kind kind)
{
	return (unsigned)kind < REGISTRY_KIND_COUNT ? kind_names[kind] : "unknown";
}

static bool known_key(const char *name)
{
	static const char *const keys[] = {"name", "id", "ip_version", "kind", "scope", "elements"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(name, keys[i]) == 0)
			return true;
	return false;
}

static int parse_template(struct registry *r, const char *path, config_setting_t *g,
			  struct registry_template *t, char *errbuf, size_t errbuf_size)
{
	config_setting_t *els;
	const char *name = NULL, *kind = "uniflow";
	int id, ipv = 0, n, scope = 0;

	if (!config_setting_is_group(g)) {
		fail(errbuf, errbuf_size, "%s:%d: a template must be a group { ... }", path,
		     config_setting_source_line(g));
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(g); i++) {
		config_setting_t *s = config_setting_get_elem(g, (unsigned int)i);

		if (!known_key(config_setting_name(s))) {
			fail(errbuf, errbuf_size, "%s:%d: unknown template setting '%s'", path,
			     config_setting_source_line(s), config_setting_name(s));
			return -EINVAL;
		}
	}
	if (!config_setting_lookup_string(g, "name", &name) || !*name) {
		fail(errbuf, errbuf_size, "%s:%d: template needs name = \"...\"", path,
		     config_setting_source_line(g));
		return -EINVAL;
	}
	t->name = strdup(name);
	if (!t->name)
		return -ENOMEM;
	if (!config_setting_lookup_int(g, "id", &id)) {
		fail(errbuf, errbuf_size, "%s:%d: template '%s' needs an integer id", path,
		     config_setting_source_line(g), name);
		return -EINVAL;
	}
	if (id < FB_TID_MIN_DATA || id > UINT16_MAX || id == REGISTRY_TYPE_TEMPLATE_ID) {
		fail(errbuf, errbuf_size,
		     "%s:%d: template '%s': id %d must be 256..65535 and not %d (reserved for "
		     "RFC 5610 records)",
		     path, config_setting_source_line(config_setting_get_member(g, "id")), name, id,
		     REGISTRY_TYPE_TEMPLATE_ID);
		return -EINVAL;
	}
	t->id = (uint16_t)id;
	if (config_setting_get_member(g, "kind") && !config_setting_lookup_string(g, "kind", &kind))
		kind = "";
	for (t->kind = 0; t->kind < REGISTRY_KIND_COUNT; t->kind++)
		if (strcmp(kind, kind_names[t->kind]) == 0)
			break;
	if (t->kind == REGISTRY_KIND_COUNT) {
		fail(errbuf, errbuf_size,
		     "%s:%d: template '%s': kind must be \"uniflow\", \"biflow\" or \"sampling\"",
		     path, config_setting_source_line(g), name);
		return -EINVAL;
	}
	if (t->kind == REGISTRY_SAMPLING) {
		if (config_setting_get_member(g, "ip_version")) {
			fail(errbuf, errbuf_size,
			     "%s:%d: template '%s': a sampling template has no ip_version", path,
			     config_setting_source_line(g), name);
			return -EINVAL;
		}
		if (!config_setting_lookup_int(g, "scope", &scope) || scope < 1) {
			fail(errbuf, errbuf_size,
			     "%s:%d: template '%s' needs scope = N (its first N elements are the "
			     "options scope, N >= 1)",
			     path, config_setting_source_line(g), name);
			return -EINVAL;
		}
	} else {
		if (config_setting_get_member(g, "scope")) {
			fail(errbuf, errbuf_size,
			     "%s:%d: template '%s': only a sampling template has a scope", path,
			     config_setting_source_line(g), name);
			return -EINVAL;
		}
		if (!config_setting_lookup_int(g, "ip_version", &ipv) || (ipv != 4 && ipv != 6)) {
			fail(errbuf, errbuf_size, "%s:%d: template '%s' needs ip_version = 4 or 6",
			     path, config_setting_source_line(g), name);
			return -EINVAL;
		}
	}
	t->ip_version = (uint8_t)ipv;
	els = config_setting_get_member(g, "elements");
	if (!els || !(config_setting_is_array(els) || config_setting_is_list(els)) ||
	    config_setting_length(els) == 0) {
		fail(errbuf, errbuf_size, "%s:%d: template '%s' needs elements = [ \"name\", ... ]",
		     path, config_setting_source_line(els ? els : g), name);
		return -EINVAL;
	}
	n = config_setting_length(els);
	t->elements = calloc((size_t)n, sizeof(*t->elements));
	if (!t->elements)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(els, (unsigned int)i);
		const char *en = config_setting_get_string(e);

		if (!en) {
			fail(errbuf, errbuf_size,
			     "%s:%d: template '%s': element %d is not a string", path,
			     config_setting_source_line(e), name, i + 1);
			return -EINVAL;
		}
		if (!fbInfoModelGetElementByName(r->model, en)) {
			fail(errbuf, errbuf_size, "%s:%d: template '%s': unknown element '%s'",
			     path, config_setting_source_line(e), name, en);
			return -EINVAL;
		}
		for (size_t j = 0; j < t->n_elements; j++) {
			if (strcmp(t->elements[j], en) == 0) {
				fail(errbuf, errbuf_size,
				     "%s:%d: template '%s': element '%s' listed twice", path,
				     config_setting_source_line(e), name, en);
				return -EINVAL;
			}
		}
		t->elements[t->n_elements] = strdup(en);
		if (!t->elements[t->n_elements])
			return -ENOMEM;
		t->n_elements++;
	}
	if (scope > n) {
		fail(errbuf, errbuf_size,
		     "%s:%d: template '%s': scope %d is more than its %d elements", path,
		     config_setting_source_line(g), name, scope, n);
		return -EINVAL;
	}
	t->scope_count = (uint16_t)scope;
	return 0;
}

static int load_templates(struct registry *r, const char *path, char *errbuf, size_t errbuf_size)
{
	config_setting_t *list;
	config_t cfg;
	int ret = -EINVAL, n;

	config_init(&cfg);
	if (!config_read_file(&cfg, path)) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
			fail(errbuf, errbuf_size, "%s: cannot read the file", path);
		else
			fail(errbuf, errbuf_size, "%s:%d: %s", path, config_error_line(&cfg),
			     config_error_text(&cfg));
		goto out;
	}
	list = config_lookup(&cfg, "templates");
	if (!list || !(config_setting_is_list(list) || config_setting_is_array(list)) ||
	    config_setting_length(list) == 0) {
		fail(errbuf, errbuf_size, "%s: needs templates = ( { ... }, ... )", path);
		goto out;
	}
	n = config_setting_length(list);
	r->templates = calloc((size_t)n, sizeof(*r->templates));
	if (!r->templates) {
		ret = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned int)i);
		struct registry_template *t = &r->templates[i];

		r->n_templates = (size_t)i + 1;
		ret = parse_template(r, path, g, t, errbuf, errbuf_size);
		if (ret < 0)
			goto out;
		ret = -EINVAL;
		for (int j = 0; j < i; j++) {
			if (r->templates[j].id == t->id) {
				fail(errbuf, errbuf_size,
				     "%s:%d: template '%s': id %u is already used by '%s'", path,
				     config_setting_source_line(g), t->name, t->id,
				     r->templates[j].name);
				goto out;
			}
			/* Flow kinds: one per IP version. Sampling: one record each, any number. */
			if (r->templates[j].kind != t->kind || t->kind == REGISTRY_SAMPLING)
				continue;
			if (r->templates[j].ip_version == t->ip_version) {
				fail(errbuf, errbuf_size,
				     "%s:%d: template '%s': '%s' already covers %s IPv%u", path,
				     config_setting_source_line(g), t->name, r->templates[j].name,
				     kind_names[t->kind], t->ip_version);
				goto out;
			}
		}
	}
	ret = 0;
out:
	if (ret == -ENOMEM)
		fail(errbuf, errbuf_size, "%s: out of memory", path);
	config_destroy(&cfg);
	return ret;
}

struct registry *registry_load(const char *elements_xml, const char *templates_conf, uint32_t pen,
			       char *errbuf, size_t errbuf_size)
{
	struct registry *r;

	if (!elements_xml || !templates_conf) {
		fail(errbuf, errbuf_size, "registry: element and template files are required");
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fail(errbuf, errbuf_size, "registry: out of memory");
		return NULL;
	}
	r->model = fbInfoModelAlloc();
	if (load_elements(r, elements_xml, pen, errbuf, errbuf_size) < 0 ||
	    load_templates(r, templates_conf, errbuf, errbuf_size) < 0) {
		registry_free(r);
		return NULL;
	}
	return r;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_templates; i++) {
		struct registry_template *t = &r->templates[i];

		for (size_t j = 0; j < t->n_elements; j++)
			free(t->elements[j]);
		free(t->elements);
		free(t->name);
	}
	free(r->templates);
	free(r->enterprise);
	if (r->model)
		fbInfoModelFree(r->model);
	free(r);
}

const struct registry_template *registry_template_find(const struct registry *r,
						       enum registry_kind kind, uint8_t ip_version)
{
	if (!r)
		return NULL;
	for (size_t i = 0; i < r->n_templates; i++) {
		const struct registry_template *t = &r->templates[i];

		if (t->kind == kind && (kind == REGISTRY_SAMPLING || t->ip_version == ip_version))
			return t;
	}
	return NULL;
}

const struct registry_template *registry_template_for(const struct registry *r, uint8_t ip_version)
{
	return registry_template_find(r, REGISTRY_UNIFLOW, ip_version);
}
