/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvirt_dir: one watched directory of the libvirt source (domain XML or lease files) and the
 * last good parse of each of its files. A poll costs one stat() per directory and per file and
 * re-reads only what changed; it runs on the caller's thread.
 */
#ifndef LABELFLOW_LIBVIRT_DIR_H
#define LABELFLOW_LIBVIRT_DIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <glib.h>

#include "filesig.h"
#include "libvirt.h"
#include "libvirt_domain.h"

/* One watched file and the last good version of what it says. */
struct libvirt_dir_file {
	char *path; /* owned */
	struct filesig sig;
	bool have_sig; /* sig is of the last load attempt: a bad version is reported once */
	bool seen;     /* listed by the last directory scan */
	struct libvirt_domain *dom; /* owned: last good domain (XML files); NULL before one */
	GArray *leases; /* owned: last good leases (lease files), of struct libvirt_lease */
};

struct libvirt_dir {
	char *path;	    /* owned */
	const char *suffix; /* static: ".xml" or ".status" */
	bool xml;
	struct filesig sig;
	bool have_sig;
	bool missing;	   /* its absence has been logged */
	bool over_limit;   /* LIBVIRT_MAX_FILES reached in the last scan (logged once) */
	GHashTable *files; /* owned: base name (owned) -> struct libvirt_dir_file * (owned) */
};

/*
 * Watch path for files named *suffix (suffix: a static string), parsed as domain XML when xml,
 * else as lease files. Reads nothing yet. libvirt_dir_done undoes it (also after a zeroed dir).
 */
void libvirt_dir_init(struct libvirt_dir *dir, const char *path, const char *suffix, bool xml);
void libvirt_dir_done(struct libvirt_dir *dir);

/*
 * Follow the directory: list it again if it changed, load new or changed files (a malformed
 * version is logged once and the last good one kept), forget removed ones, and forget all
 * while the directory is missing. Counts into stats (files_loaded, files_bad, files_skipped,
 * lease_entries_bad). Returns true if a file's content was replaced or dropped: every pointer
 * into the files' domains and leases taken before the call may then be stale.
 */
bool libvirt_dir_poll(struct libvirt_dir *dir, struct libvirt_stats *stats);

/* The files of dir in path order (a new GPtrArray of borrowed struct libvirt_dir_file *). */
GPtrArray *libvirt_dir_sorted_files(struct libvirt_dir *dir);

#endif
