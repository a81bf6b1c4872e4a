/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kit: the collector integration kit. Writes the files a collector needs to name and
 * type labelflow's enterprise elements (pmacct primitives, a Wireshark Lua plugin, the
 * registry XML for libfixbuf/ipfixDump/SiLK, python-ipfix IE specs), generated from the
 * loaded registry, so that changing templates/ or the PEN changes every file alike.
 */
#ifndef LABELFLOW_KIT_H
#define LABELFLOW_KIT_H

#include <stddef.h>
#include <stdio.h>

#include "registry.h"

/*
 * Write the file of the named format ("pmacct", "wireshark", "xml", "python-ipfix") for
 * the enterprise elements of r, under r->pen, to out. Does not block beyond stdio.
 * Returns 0; -EINVAL for an unknown format (nothing written); -EDOM when an element name
 * cannot be used by that collector (logged once, nothing written); -EIO when writing
 * fails.
 */
int kit_print(const struct registry *r, const char *format, FILE *out);

/* The formats kit_print() accepts, comma-separated, for usage and error messages. */
const char *kit_format_names(void);

#endif
