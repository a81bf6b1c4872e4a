/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvirt: the KVM guest source. Reads libvirt's runtime domain XML (tap interface -> VM
 * name, uuid, MAC) and dnsmasq lease status files (MAC -> IP), learns further VM addresses
 * from the flows seen on a VM's tap interface, and publishes address -> {vm, instance_id,
 * kind "vm"} as ENRICH_SRC_LIBVIRT. Single-threaded: every call comes from the main loop.
 */
#ifndef LABELFLOW_LIBVIRT_H
#define LABELFLOW_LIBVIRT_H

#include <stdint.h>

#include "enrich.h"

#define LIBVIRT_DEFAULT_DOMAIN_DIR     "/run/libvirt/qemu"
#define LIBVIRT_DEFAULT_LEASES_DIR     "/var/lib/libvirt/dnsmasq"
#define LIBVIRT_DEFAULT_MAX_LEARNED    4096u
#define LIBVIRT_DEFAULT_LEARNED_TTL_MS (10u * 60u * 1000u)

/* 0/NULL fields mean defaults. Strings are copied by libvirt_new(). */
struct libvirt_config {
	const char *domain_dir;	 /* runtime domain XML (*.xml); default /run/libvirt/qemu */
	const char *leases_dir;	 /* dnsmasq lease status (*.status); "" = do not read leases */
	uint32_t max_learned;	 /* addresses learned from traffic; more are counted, not kept */
	uint32_t learned_ttl_ms; /* a learned address unseen this long is forgotten */
	/*
	 * Interface name -> ifindex (0 = no such interface); NULL = if_nametoindex() in the
	 * daemon's network namespace. Lets tests name interfaces that do not exist.
	 */
	uint32_t (*ifindex_of)(const char *ifname, void *user);
	void *ifindex_user; /* borrowed; passed to ifindex_of */
};

struct libvirt_stats {
	uint64_t polls;
	uint64_t files_loaded;	    /* file versions parsed and taken (XML and lease files) */
	uint64_t files_bad;	    /* file versions rejected: malformed, too large, unreadable */
	uint64_t files_skipped;	    /* files beyond the per-directory limit, per scan */
	uint64_t lease_entries_bad; /* lease entries skipped: wrong types, bad ip or mac */
	uint64_t publishes;	    /* tables published (only when the content changed) */
	uint64_t domains;	    /* domains currently known */
	uint64_t interfaces;	    /* VM interfaces currently known */
	uint64_t endpoints;	    /* addresses in the table currently published */
	uint64_t observed;	    /* flows seen on a VM interface */
	uint64_t observe_unusable;  /* of those: the VM's address was multicast, broadcast, ... */
	uint64_t learned;	    /* addresses currently learned from traffic */
	uint64_t learned_new;	    /* bindings created */
	uint64_t learned_moved;	    /* addresses seen sent by another VM than before (rebound) */
	uint64_t learned_full;	    /* new addresses not kept: max_learned reached */
	uint64_t learned_expired;
};

struct libvirt;

/*
 * Watch the directories of config and publish into e as ENRICH_SRC_LIBVIRT; e is borrowed
 * and must outlive the source. Reads nothing yet: call libvirt_poll() right away.
 * Returns NULL on allocation failure.
 */
struct libvirt *libvirt_new(struct enrich *e, const struct libvirt_config *config);
/* The published table stays in e until the next publish or enrich_free(). NULL is a no-op. */
void libvirt_free(struct libvirt *lv);

/*
 * Call about once a second with the wall clock (ms since the Unix epoch). Costs one
 * stat() per directory and per watched file; a file is re-read only when its inode, size
 * or mtime changed, and a malformed version is logged once and its last good version kept.
 * Forgets learned addresses past the TTL and leases past their expiry. Publishes a new
 * table only if the address -> VM content changed. Returns 1 if it published, else 0.
 */
int libvirt_poll(struct libvirt *lv, uint64_t now_ms);

/*
 * Learn from one exported flow record (not per packet): it was observed on interface
 * ifindex in direction (enum decode_direction). On a VM's interface, a flow received
 * (ingress) was sent by the VM, so src is the VM's address; a flow sent (egress) goes to
 * the VM, so dst is. ip_version 4 (address in bytes 0..3) or 6; addresses in network
 * order. Ingress evidence moves an address to another VM; egress evidence only creates a
 * binding (bridges flood frames to every port). New bindings are published at the next
 * poll. O(1): one hash probe when ifindex is no VM's interface. Never allocates for a
 * known address.
 */
void libvirt_observe(struct libvirt *lv, uint32_t ifindex, uint8_t direction, uint8_t ip_version,
		     const uint8_t src_addr[16], const uint8_t dst_addr[16]);

/*
 * The VM that owns interface ifname (e.g. "vnet0"), or NULL. The name is borrowed until
 * the next libvirt_poll() or libvirt_free().
 */
const char *libvirt_iface_vm(const struct libvirt *lv, const char *ifname);

const struct libvirt_stats *libvirt_get_stats(const struct libvirt *lv);

#endif
