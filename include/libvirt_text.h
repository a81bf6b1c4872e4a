/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvirt_text: the text conventions shared by the libvirt source's parsers: MAC addresses as
 * libvirt and dnsmasq write them, and user values quoted safely into log messages.
 */
#ifndef LABELFLOW_LIBVIRT_TEXT_H
#define LABELFLOW_LIBVIRT_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* Size of the buffers that describe one failure (a file's, an entry's). */
#define LIBVIRT_ERRBUF 512u
/* Longest part of a user value printed; quote buffers are LIBVIRT_QUOTE_BYTES + 8. */
#define LIBVIRT_QUOTE_BYTES 128u

/*
 * "52:54:00:6b:3c:58" (either case) into mac and *ret_key (the MAC as a number, a hash key).
 * Returns 0, or -EINVAL with nothing written to *ret_key.
 */
int libvirt_text_mac_parse(const char *text, uint8_t mac[6], gint64 *ret_key);

#endif
