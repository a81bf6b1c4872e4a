// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "filesig.h"

void filesig_of(struct filesig *ret_sig, const struct stat *st)
{
	memset(ret_sig, 0, sizeof(*ret_sig));
	ret_sig->dev = st->st_dev;
	ret_sig->ino = st->st_ino;
	ret_sig->size = st->st_size;
	ret_sig->mtime_sec = st->st_mtim.tv_sec;
	ret_sig->mtime_nsec = st->st_mtim.tv_nsec;
}

bool filesig_eq(const struct filesig *a, const struct filesig *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}
