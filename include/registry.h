/* SPDX-License-Identifier: Apache-2.0 */
/*
 * registry: loads the element registry (templates/labelflow-elements.xml, the IANA
 * registry XML format libfixbuf and ipfixDump read) and the template definitions
 * (templates/labelflow-templates.conf). This is the only place element numbers come from:
 * code names elements, the data files number them. The enterprise elements are re-homed
 * under the configured Private Enterprise Number.
 */
#ifndef LABELFLOW_REGISTRY_H
#define LABELFLOW_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <fixbuf/public.h>

/*
 * Template ID of the RFC 5610 information element type options template. Fixed, so a
 * collector sees the same ID on every restart; reserved: the definitions file may not
 * use it.
 */
#define REGISTRY_TYPE_TEMPLATE_ID 0xFFF0

/* What a template carries: the "kind" setting of the definitions file. */
enum registry_kind {
	REGISTRY_UNIFLOW = 0, /* flow records, one direction ("uniflow", the default) */
	REGISTRY_BIFLOW,      /* RFC 5103 biflow records ("biflow"; flow.biflow) */
	REGISTRY_SAMPLING,    /* options template of a sampling report ("sampling"): the PSAMP
				 selector report, or the interval of the observation domain */
	REGISTRY_KIND_COUNT,
};

/* One template from the definitions file: an ID and the element names it carries. */
struct registry_template {
	char *name;	      /* owned; "ipv4", "ipv6", ... */
	uint16_t id;	      /* template ID, >= 256 */
	uint8_t ip_version;   /* which flows use it: 4 or 6; 0 for REGISTRY_SAMPLING */
	uint8_t kind;	      /* enum registry_kind */
	uint16_t scope_count; /* options templates: the first scope_count elements are the
				 scope; 0 for data templates */
	size_t n_elements;
	char **elements; /* owned; element names, each present in the info model */
};

struct registry {
	fbInfoModel_t *model; /* owned; IANA elements + ours under pen */
	uint32_t pen;	      /* Private Enterprise Number of our elements */
	uint32_t file_pen;    /* the PEN written in the XML file */
	size_t n_templates;
	struct registry_template *templates; /* owned */
	size_t n_enterprise;
	const fbInfoElement_t **enterprise; /* borrowed from model; our elements, for RFC 5610 */
};

/*
 * Load the XML element file and the template definitions; pen 0 keeps the file's PEN.
 * Every element a template names must exist; every enterprise element ID must be below
 * 16384; template IDs unique, >= 256 and not REGISTRY_TYPE_TEMPLATE_ID; at most one
 * flow template per kind and IP version; any number of sampling templates, each with a
 * scope of 1..n elements. On failure returns NULL and writes a message with the file name
 * (and line, where the parser gives one) into errbuf.
 */
struct registry *registry_load(const char *elements_xml, const char *templates_conf, uint32_t pen,
			       char *errbuf, size_t errbuf_size);
void registry_free(struct registry *r);

/* The uniflow template for flows of this IP version, or NULL if the definitions have none. */
const struct registry_template *registry_template_for(const struct registry *r, uint8_t ip_version);
/*
 * The template of this kind (and IP version; ignored for REGISTRY_SAMPLING: the first
 * sampling template in file order), or NULL. Iterate templates[] for every sampling one.
 */
const struct registry_template *registry_template_find(const struct registry *r,
						       enum registry_kind kind, uint8_t ip_version);
/* "uniflow", "biflow", "sampling"; "unknown" out of range. */
const char *registry_kind_name(enum registry_kind kind);

#endif
