/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cap_pcap: the libpcap capture backend, for offline files (pcap and pcapng) and for live
 * interfaces: one object follows many interfaces, each through non-blocking TPACKET_V3
 * handles, all multiplexed behind one epoll fd. libpcap's errbuf messages are logged here
 * once, with the file or interface quoted. docs/capture.md describes the design.
 */
#ifndef LABELFLOW_CAP_PCAP_H
#define LABELFLOW_CAP_PCAP_H

#include <stdint.h>

#include "capture.h"

/* Interfaces one live capture holds at most; attach() past it returns -ENOSPC. */
#define CAP_PCAP_MAX_IFACES 65536u
/* Kernel ring block timeout: a frame reaches dispatch at most this long after capture. */
#define CAP_PCAP_BLOCK_TIMEOUT_MS 100
/* An interface attached while down is tried again this often (from dispatch). */
#define CAP_PCAP_RETRY_MS 250

/*
 * Open a capture file ("-" = stdin). attach, detach and expire are NULL, fd() is -1,
 * iface_stats() lists nothing, dispatch() returns -ENODATA at the end of the file (also
 * after a damaged last record, logged). Frames carry ifindex 0 and CAPTURE_DIR_UNKNOWN.
 * Returns NULL (logged) on failure.
 */
struct capture *cap_pcap_open_file(const char *path);

/*
 * A live capture with no interface yet. config is copied (the filter string too); the
 * filter is checked here, so a bad one fails now and not at every attach. Returns NULL
 * (logged) on failure.
 *
 * attach(ifname, ifindex): opens the interface, returns 0, -EEXIST when it is already
 * capturing, -ENOSPC past CAP_PCAP_MAX_IFACES, or -errno (logged). An interface that is
 * down is accepted (0) and waits: it is opened when attach() is called again for it
 * (follow does so when the link comes up) or by dispatch() within CAP_PCAP_RETRY_MS of
 * it coming up. Frames carry the direction when the handle can say it:
 *  - libpcap offers DLT_LINUX_SLL2 for the device (cooked devices, "any"): one handle,
 *    frames keep the cooked header and CAPTURE_DIR_UNKNOWN, so decode reads the packet
 *    type; ifname "any" with ifindex 0 takes each frame's ifindex from that header;
 *  - otherwise (Ethernet, veth, tap, ...): two handles, one per direction, each with
 *    half of buffer_bytes, frames marked DECODE_DIR_INGRESS or DECODE_DIR_EGRESS.
 * detach(ifindex, sink): frames still in the kernel ring are delivered to sink (waiting
 * up to two block timeouts for the last partly filled block), the kernel counters are
 * added to the totals, the handles are closed. Blocks at most 2 * CAP_PCAP_BLOCK_TIMEOUT_MS
 * per handle.
 * dispatch(max, sink): reads ready handles, spreading max over them; an interface that
 * disappeared or fails is reported once (logged) and keeps its place until detach, so
 * its last frames are not lost. Never returns -ENODATA.
 */
struct capture *cap_pcap_new_live(const struct capture_live_config *config);

enum cap_pcap_iface_state {
	CAP_PCAP_IFACE_CAPTURING = 0,
	CAP_PCAP_IFACE_WAITING = 1, /* attached while down: opened once it is up */
};

/* State of an attached interface (enum cap_pcap_iface_state), or -ENOENT. */
int cap_pcap_iface_state(const struct capture *c, uint32_t ifindex);

#endif
