/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cap_pcap: the libpcap capture backend, for offline files (pcap and pcapng) and live
 * interfaces (TPACKET_V3 ring through libpcap, non-blocking, one handle per interface).
 * libpcap's errbuf messages are logged here once, with the file or interface quoted.
 */
#ifndef LABELFLOW_CAP_PCAP_H
#define LABELFLOW_CAP_PCAP_H

#include "capture.h"

/* Open a capture file ("-" = stdin). Returns NULL (logged) on failure. */
struct capture *cap_pcap_open_file(const char *path);
/* Open a live interface. Returns NULL (logged) on failure. */
struct capture *cap_pcap_open_live(const char *ifname, const struct capture_live_config *config);

#endif
