// SPDX-License-Identifier: Apache-2.0
/*
 * libvirt_dir: each file is parsed on its own and kept in its last good version, so one bad
 * file never hides the others. A file's (dev, inode, size, mtime) is its version: the directory
 * is listed again only when its own version changes, and a file is read again only when its
 * version does, so a steady host costs a few stat() calls per poll.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "libvirt_dir.h"
#include "libvirt_lease.h"
#include "libvirt_text.h"
#include "log.h"

/* Largest domain XML or lease file read; larger versions are rejected. */
#define LIBVIRT_MAX_FILE_BYTES (16u << 20)
/* Most *.xml or *.status files followed per directory; the rest are counted and skipped. */
#define LIBVIRT_MAX_FILES 4096u

/* What one poll of a directory changed and counted. */
struct dir_poll_ctx {
	struct libvirt_stats *stats; /* borrowed: the source's counters */
	bool stale;		     /* a file's content was replaced or dropped */
};

/*
 * Read a whole regular file of at most LIBVIRT_MAX_FILE_BYTES. *ret_st describes the file
 * read (valid when *ret_have_st). Returns 0 with *ret_buf (g_free it; NUL-terminated) or
 * -errno with errbuf written.
 */
static int read_file(const char *path, char **ret_buf, size_t *ret_len, struct stat *ret_st,
		     bool *ret_have_st, char *errbuf, size_t errbuf_size)
{
	size_t got = 0, size;
	char *buf = NULL;
	int fd, r = 0;

	*ret_have_st = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errbuf_size, "cannot open: %s", g_strerror(-r));
		return r;
	}
	if (fstat(fd, ret_st) < 0) {
		r = -errno;
		snprintf(errbuf, errbuf_size, "cannot stat: %s", g_strerror(-r));
		goto out;
	}
	*ret_have_st = true;
	if (!S_ISREG(ret_st->st_mode)) {
		snprintf(errbuf, errbuf_size, "not a regular file");
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)ret_st->st_size > LIBVIRT_MAX_FILE_BYTES) {
		snprintf(errbuf, errbuf_size, "%jd bytes, larger than the %u MiB limit",
			 (intmax_t)ret_st->st_size, LIBVIRT_MAX_FILE_BYTES >> 20);
		r = -EFBIG;
		goto out;
	}
	size = (size_t)ret_st->st_size;
	buf = g_try_malloc(size + 1);
	if (!buf) {
		snprintf(errbuf, errbuf_size, "out of memory reading %zu bytes", size);
		r = -ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(errbuf, errbuf_size, "read error: %s", g_strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*ret_buf = buf;
	*ret_len = got;
	buf = NULL;
out:
	g_free(buf);
	close(fd);
	return r;
}

static void file_free(gpointer p)
{
	struct libvirt_dir_file *f = p;

	if (!f)
		return;
	g_free(f->path);
	libvirt_domain_free(f->dom);
	if (f->leases)
		g_array_unref(f->leases);
	g_free(f);
}

static bool file_has_content(const struct libvirt_dir_file *f)
{
	return f->dom || f->leases;
}

/* Load the version of f on disk; on failure keep the last good one and log once. */
static void file_load(struct dir_poll_ctx *pc, struct libvirt_dir *dir, struct libvirt_dir_file *f)
{
	char err[LIBVIRT_ERRBUF], warn[LIBVIRT_ERRBUF] = "", q[LIBVIRT_QUOTE_BYTES + 8];
	struct libvirt_domain *dom = NULL;
	GArray *leases = NULL;
	char *buf = NULL;
	bool have_st;
	struct stat st;
	size_t len = 0;
	int r;

	r = read_file(f->path, &buf, &len, &st, &have_st, err, sizeof(err));
	if (have_st) {
		filesig_of(&f->sig, &st);
		f->have_sig = true;
	}
	if (r == -ENOENT) /* gone since the scan: the next poll removes it */
		return;
	if (r >= 0 && dir->xml)
		dom = libvirt_domain_parse(buf, len, err, sizeof(err));
	else if (r >= 0)
		leases = libvirt_lease_parse(buf, len, &pc->stats->lease_entries_bad, err,
					     sizeof(err), warn, sizeof(warn));
	g_free(buf);
	if (!dom && !leases) {
		pc->stats->files_bad++;
		log_warn("libvirt: '%s': %s; %s", log_quote(f->path, q, sizeof(q)), err,
			 file_has_content(f) ? "keeping its last good version" : "ignored");
		return;
	}
	if (*warn)
		log_warn("libvirt: '%s': %s", log_quote(f->path, q, sizeof(q)), warn);
	pc->stats->files_loaded++;
	libvirt_domain_free(f->dom);
	f->dom = dom;
	if (f->leases)
		g_array_unref(f->leases);
	f->leases = leases;
	pc->stale = true;
}

static void dir_remove_file(struct dir_poll_ctx *pc, struct libvirt_dir *dir, const char *name)
{
	struct libvirt_dir_file *f = g_hash_table_lookup(dir->files, name);

	if (f && file_has_content(f))
		pc->stale = true;
	g_hash_table_remove(dir->files, name);
}

static bool name_matches(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return name[0] != '.' && n > s && strcmp(name + n - s, suffix) == 0;
}

/* List the directory again: follow new files, forget removed ones. */
static void dir_scan(struct dir_poll_ctx *pc, struct libvirt_dir *dir)
{
	char q[LIBVIRT_QUOTE_BYTES + 8];
	GHashTableIter it;
	struct dirent *de;
	gpointer k, v;
	size_t skipped = 0;
	DIR *d;

	d = opendir(dir->path);
	if (!d) {
		/* Logged once per version of the directory: it is listed again when it changes. */
		log_warn("libvirt: cannot list '%s': %s", log_quote(dir->path, q, sizeof(q)),
			 g_strerror(errno));
		return;
	}
	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v))
		((struct libvirt_dir_file *)v)->seen = false;
	while ((de = readdir(d))) {
		struct libvirt_dir_file *f;

		if (!name_matches(de->d_name, dir->suffix))
			continue;
		f = g_hash_table_lookup(dir->files, de->d_name);
		if (!f && g_hash_table_size(dir->files) >= LIBVIRT_MAX_FILES) {
			skipped++;
			continue;
		}
		if (!f) {
			f = g_new0(struct libvirt_dir_file, 1);
			f->path = g_build_filename(dir->path, de->d_name, NULL);
			g_hash_table_insert(dir->files, g_strdup(de->d_name), f);
		}
		f->seen = true;
	}
	closedir(d);
	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		if (((struct libvirt_dir_file *)v)->seen)
			continue;
		if (file_has_content(v))
			pc->stale = true;
		g_hash_table_iter_remove(&it);
	}
	pc->stats->files_skipped += skipped;
	if (skipped && !dir->over_limit)
		log_warn("libvirt: '%s' has more than %u *%s files; %zu not followed",
			 log_quote(dir->path, q, sizeof(q)), LIBVIRT_MAX_FILES, dir->suffix,
			 skipped);
	dir->over_limit = skipped > 0;
}

/* One stat() for the directory, one per file; re-read only what changed. */
static void dir_poll(struct dir_poll_ctx *pc, struct libvirt_dir *dir)
{
	char q[LIBVIRT_QUOTE_BYTES + 8];
	struct filesig now;
	GHashTableIter it;
	GPtrArray *gone = NULL;
	struct stat st;
	gpointer k, v;
	size_t i;
	int r;

	r = stat(dir->path, &st) < 0 ? -errno : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (r < 0) {
		if (!dir->missing)
			log_warn("libvirt: directory '%s': %s; no %s until it appears",
				 log_quote(dir->path, q, sizeof(q)), g_strerror(-r),
				 dir->xml ? "VM interfaces" : "DHCP leases");
		dir->missing = true;
		dir->have_sig = false;
		if (g_hash_table_size(dir->files))
			pc->stale = true;
		g_hash_table_remove_all(dir->files);
		return;
	}
	if (dir->missing)
		log_info("libvirt: directory '%s' is back", log_quote(dir->path, q, sizeof(q)));
	dir->missing = false;
	filesig_of(&now, &st);
	if (!dir->have_sig || !filesig_eq(&now, &dir->sig)) {
		dir->sig = now;
		dir->have_sig = true;
		dir_scan(pc, dir);
	}
	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v)) {
		struct libvirt_dir_file *f = v;

		if (stat(f->path, &st) < 0) {
			if (!gone)
				gone = g_ptr_array_new_with_free_func(g_free);
			g_ptr_array_add(gone, g_strdup(k));
			continue;
		}
		filesig_of(&now, &st);
		if (f->have_sig && filesig_eq(&now, &f->sig))
			continue;
		f->sig = now; /* so a bad version is reported once, even if it cannot be opened */
		f->have_sig = true;
		file_load(pc, dir, f);
	}
	for (i = 0; gone && i < gone->len; i++)
		dir_remove_file(pc, dir, g_ptr_array_index(gone, i));
	if (gone)
		g_ptr_array_unref(gone);
}

void libvirt_dir_init(struct libvirt_dir *dir, const char *path, const char *suffix, bool xml)
{
	dir->path = g_strdup(path);
	dir->suffix = suffix;
	dir->xml = xml;
	dir->files = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, file_free);
}

void libvirt_dir_done(struct libvirt_dir *dir)
{
	if (dir->files)
		g_hash_table_unref(dir->files);
	g_free(dir->path);
}

static int file_cmp(gconstpointer a, gconstpointer b)
{
	const struct libvirt_dir_file *x = *(const struct libvirt_dir_file *const *)a;
	const struct libvirt_dir_file *y = *(const struct libvirt_dir_file *const *)b;

	return strcmp(x->path, y->path);
}

/* The files of dir in name order, so that duplicates resolve the same way every time. */
GPtrArray *libvirt_dir_sorted_files(struct libvirt_dir *dir)
{
	GPtrArray *a = g_ptr_array_new();
	GHashTableIter it;
	gpointer k, v;

	g_hash_table_iter_init(&it, dir->files);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_ptr_array_add(a, v);
	g_ptr_array_sort(a, file_cmp);
	return a;
}

bool libvirt_dir_poll(struct libvirt_dir *dir, struct libvirt_stats *stats)
{
	struct dir_poll_ctx ctx = {.stats = stats};

	dir_poll(&ctx, dir);
	return ctx.stale;
}
