/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filesig: what identifies one version of a file or directory (device, inode, size,
 * modification time), so a watched source reloads only what changed.
 */
#ifndef LABELFLOW_FILESIG_H
#define LABELFLOW_FILESIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct filesig {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_sec;
	long mtime_nsec;
};

/* The signature of what st describes. */
void filesig_of(struct filesig *ret_sig, const struct stat *st);
/* Same version? */
bool filesig_eq(const struct filesig *a, const struct filesig *b);

#endif
