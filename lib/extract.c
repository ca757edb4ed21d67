/*
 * extract.c: the layer driver (see extract.h): stream -> tar entries ->
 * whiteouts or entries applied -> directory metadata -> digest check.
 */
#include "compat.h"
#include "extract-int.h"
#include "alloc.h"
#include "error.h"
#include "log.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>

#define WH_PREFIX  ".wh."
#define WH_OPAQUE  ".wh..wh..opq"
#define WH_META	   ".wh..wh."
#define NAME_SHOWN 256 /* bytes of a hostile name shown in a message */

/* ---------------------------------------------------------- path table */

static uint64_t path_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static struct extract_path *paths_slot(struct extract_paths *p, const char *rel)
{
	size_t i = (size_t)path_hash(rel) & (p->cap - 1);

	while (p->v[i].rel && strcmp(p->v[i].rel, rel))
		i = (i + 1) & (p->cap - 1);
	return &p->v[i];
}

static void paths_grow(struct extract_paths *p)
{
	struct extract_paths bigger = { .cap = p->cap ? p->cap * 2 : 1024 };

	bigger.v = xcalloc(bigger.cap, sizeof(*bigger.v));
	for (size_t i = 0; i < p->cap; i++) {
		if (p->v[i].rel)
			*paths_slot(&bigger, p->v[i].rel) = p->v[i];
	}
	free(p->v);
	p->v = bigger.v;
	p->cap = bigger.cap;
}

static void paths_clear(struct extract_paths *p)
{
	for (size_t i = 0; i < p->cap; i++)
		free(p->v[i].rel);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

struct extract_path *extract_paths_find(struct extract *x, const char *rel)
{
	struct extract_path *e;

	if (!x->paths.cap)
		return NULL;
	e = paths_slot(&x->paths, rel);
	return e->rel ? e : NULL;
}

struct extract_path *extract_paths_add(struct extract *x, const char *rel)
{
	struct extract_path *e;

	if ((x->paths.nr + 1) * 2 > x->paths.cap)
		paths_grow(&x->paths);
	e = paths_slot(&x->paths, rel);
	if (!e->rel) {
		e->rel = xstrdup(rel);
		x->paths.nr++;
	}
	return e;
}

/* ------------------------------------------------------------- helpers */

bool extract_is_ignored(const struct extract *x, const char *rel)
{
	for (size_t i = 0; i < x->opts.nr_ignore; i++) {
		const char *ign = x->opts.ignore[i];
		size_t n;

		while (*ign == '/')
			ign++;
		n = strlen(ign);
		/* an ignore entry of "/" would mean everything: never writes */
		if (!n || (!strncmp(rel, ign, n) && (rel[n] == '\0' || rel[n] == '/')))
			return true;
	}
	return false;
}

/*
 * The lexical check above misses a symlink that leads into an ignored
 * directory ("x -> /kiln"). Where /proc tells where a directory fd really
 * is, check that too; where it cannot, the lexical check and the mount
 * point refusals are what remains.
 */
static bool dir_fd_ignored(const struct extract *x, int fd)
{
	char link[64], real[PATH_MAX];
	size_t n = x->root_real ? strlen(x->root_real) : 0;
	ssize_t len;

	if (!x->root_real || !x->opts.nr_ignore)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, real, sizeof(real) - 1);
	if (len < 0 || (size_t)len < n)
		return false;
	real[len] = '\0';
	if (n == 1) /* ROOT is "/" */
		n = 0;
	if (strncmp(real, x->root_real, n) || (real[n] != '/' && real[n] != '\0'))
		return false;
	return extract_is_ignored(x, real + n + (real[n] == '/'));
}

void extract_cache_drop(struct extract *x)
{
	close_fd(&x->cache_fd);
	kiln_buf_reset(&x->cache_rel);
	x->cache_stale = false;
}

int extract_parent(struct extract *x, const char *rel, struct kiln_error *err)
{
	const char *slash = strrchr(rel, '/');
	size_t n = slash ? (size_t)(slash - rel) : 0;
	const char *base;
	struct stat st;
	int fd;

	if (x->cache_fd >= 0 && !x->cache_stale && x->cache_rel.len == n &&
	    !memcmp(x->cache_rel.buf, rel, n))
		return x->cache_fd;
	extract_cache_drop(x);
	if ((fd = rootfs_open_parent(&base, &x->root, rel, true, err)) < 0)
		return fd;
	if (dir_fd_ignored(x, fd)) {
		close(fd);
		return kiln_err(err, KILN_EINVAL, EXDEV, "parent directory is an ignored path");
	}
	kiln_buf_add(&x->cache_rel, rel, n);
	x->cache_fd = fd;
	x->cache_setgid = fstat(fd, &st) < 0 || (st.st_mode & S_ISGID);
	return fd;
}

void extract_dir_queue(struct extract *x, const char *rel, bool meta, mode_t mode,
		       const struct timespec times[2])
{
	struct extract_path *p;
	struct extract_dir *d;

	if (!meta && !x->opts.seed)
		return; /* only queued to be seeded again */
	p = extract_paths_add(x, rel);

	if (p->flags & EXTRACT_PATH_DIR_QUEUED) {
		if (!meta)
			return;
		/* a directory named twice in a layer: the last entry wins */
		for (size_t i = x->nr_dirs; i-- > 0;) {
			if (!strcmp(x->dirs[i].rel, rel)) {
				x->dirs[i].meta = true;
				x->dirs[i].mode = mode;
				x->dirs[i].times[0] = times[0];
				x->dirs[i].times[1] = times[1];
				break;
			}
		}
		return;
	}
	p->flags |= EXTRACT_PATH_DIR_QUEUED;
	if (x->nr_dirs == x->alloc_dirs) {
		x->alloc_dirs = x->alloc_dirs ? 2 * x->alloc_dirs : 64;
		x->dirs = xreallocarray(x->dirs, x->alloc_dirs, sizeof(*x->dirs));
	}
	d = &x->dirs[x->nr_dirs++];
	memset(d, 0, sizeof(*d));
	d->rel = xstrdup(rel);
	d->meta = meta;
	d->mode = mode;
	if (meta) {
		d->times[0] = times[0];
		d->times[1] = times[1];
	}
}

void extract_queue_parents(struct extract *x, const char *rel)
{
	struct kiln_buf dir = KILN_BUF_INIT;
	char *slash;

	if (!x->opts.seed)
		return;
	kiln_buf_addstr(&dir, rel);
	/* up to the first directory already queued: above it, all are */
	while ((slash = strrchr(dir.buf, '/'))) {
		const struct extract_path *p;

		kiln_buf_setlen(&dir, (size_t)(slash - dir.buf));
		p = extract_paths_find(x, dir.buf);
		if (p && (p->flags & EXTRACT_PATH_DIR_QUEUED))
			break;
		extract_dir_queue(x, dir.buf, false, 0, NULL);
	}
	kiln_buf_release(&dir);
}

int extract_seed(struct extract *x, int dir_fd, const char *name, const char *rel,
		 const struct snapshot_hash *content, struct kiln_error *err)
{
	struct kiln_buf path = KILN_BUF_INIT;
	int ret;

	if (!x->opts.seed)
		return 0;
	kiln_buf_addf(&path, "/%s", rel);
	ret = snapshot_seed(x->opts.seed, dir_fd, name, path.buf, content, err);
	kiln_buf_release(&path);
	return ret;
}

/* ------------------------------------------------------- one directory */

/* Set a queued directory's mode and times, now that its contents are in.
 * The name is resolved again and opened without following a link, since
 * a later entry of the layer may have replaced the directory. */
static int dir_finish(struct extract *x, const struct extract_dir *d, struct kiln_error *err)
{
	const char *base;
	int pfd = -1, fd = -1, ret = 0;

	if (!*d->rel)
		return 0;
	pfd = rootfs_open_parent(&base, &x->root, d->rel, false, err);
	if (pfd < 0) {
		kiln_error_release(err);
		return 0; /* removed or replaced by a later entry: nothing to do */
	}
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		goto out;
	/* chmod after chown (done at creation), because chown clears setgid */
	if (d->meta && fchmod(fd, d->mode & 07777) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "chmod directory '/%s'", d->rel);
		goto out;
	}
	if (d->meta && futimens(fd, d->times) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "set times of directory '/%s'", d->rel);
		goto out;
	}
	ret = extract_seed(x, pfd, base, d->rel, NULL, err);
out:
	close_fd(&fd);
	close_fd(&pfd);
	return ret;
}

static int dirs_finish(struct extract *x, struct kiln_error *err)
{
	int ret = 0;

	for (size_t i = 0; i < x->nr_dirs && ret == 0; i++)
		ret = dir_finish(x, &x->dirs[i], err);
	for (size_t i = 0; i < x->nr_dirs; i++)
		free(x->dirs[i].rel);
	x->nr_dirs = 0;
	return ret;
}

/* ------------------------------------------------------------ an entry */

/* The name as the user sees it in an error: control bytes escaped so the
 * message stays one line, and long names cut. */
static void name_shown(struct kiln_buf *out, const char *name)
{
	for (size_t i = 0; name[i] && i < NAME_SHOWN; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '\'')
			kiln_buf_addf(out, "\\x%02x", c);
		else
			kiln_buf_addch(out, c);
	}
	if (strlen(name) > NAME_SHOWN)
		kiln_buf_addstr(out, "...");
}

static int entry_fail(struct kiln_error *err, const char *name)
{
	struct kiln_buf shown = KILN_BUF_INIT;

	name_shown(&shown, name);
	kiln_err_prefix(err, "entry '%s'", shown.buf);
	kiln_buf_release(&shown);
	return err->code;
}

static uint64_t entry_skip(struct extract *x, const char *rel, const char *why)
{
	kiln_debug("extract: skipping '/%s': %s", rel, why);
	return ++x->stats->skipped;
}

static int owner_of(struct extract_entry *e, struct archive_entry *ae, struct kiln_error *err)
{
	la_int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);

	/* (uid_t)-1 means "leave alone" to chown: not a real owner */
	if (uid < 0 || gid < 0 || uid >= UINT32_MAX || gid >= UINT32_MAX)
		return kiln_err(err, KILN_EINVAL, 0, "owner %lld:%lld out of range", (long long)uid,
				(long long)gid);
	e->uid = (uint32_t)uid;
	e->gid = (uint32_t)gid;
	return 0;
}

static void times_of(struct extract_entry *e, struct archive_entry *ae)
{
	e->times[1].tv_sec = archive_entry_mtime(ae);
	e->times[1].tv_nsec = archive_entry_mtime_nsec(ae);
	e->times[0] = e->times[1];
	if (archive_entry_atime_is_set(ae)) {
		e->times[0].tv_sec = archive_entry_atime(ae);
		e->times[0].tv_nsec = archive_entry_atime_nsec(ae);
	}
}

/* Fill e from the tar header; the cleaned names live in the caller's bufs. */
static int entry_read(struct extract_entry *e, struct kiln_buf *rel, struct kiln_buf *link,
		      struct archive_entry *ae, struct kiln_error *err)
{
	const char *hl = archive_entry_hardlink(ae);
	const char *slash;
	int ret;

	if ((ret = rootfs_name_clean(rel, e->name, err)) < 0)
		return ret;
	e->rel = rel->buf;
	slash = strrchr(e->rel, '/');
	e->base = slash ? slash + 1 : e->rel;
	e->mode = archive_entry_mode(ae);
	e->rdev = archive_entry_rdev(ae);
	e->symlink = archive_entry_filetype(ae) == AE_IFLNK ? archive_entry_symlink(ae) : NULL;
	if (hl) {
		if ((ret = rootfs_name_clean(link, hl, err)) < 0)
			return kiln_err_prefix(err, "hardlink target");
		e->hardlink = link->buf;
	}
	if (archive_entry_filetype(ae) == AE_IFLNK && !e->symlink)
		return kiln_err(err, KILN_EINVAL, 0, "symlink without a target");
	times_of(e, ae);
	return owner_of(e, ae, err);
}

/* ".wh.NAME" and ".wh..wh..opq": never created, applied to lower layers. */
static int entry_whiteout(struct extract *x, const struct extract_entry *e, struct kiln_error *err)
{
	struct kiln_buf target = KILN_BUF_INIT;
	const char *name = e->base + strlen(WH_PREFIX);
	size_t dir_len = (size_t)(e->base - e->rel);
	int ret = 0;

	kiln_buf_add(&target, e->rel, dir_len ? dir_len - 1 : 0);
	if (!strcmp(e->base, WH_OPAQUE)) {
		ret = extract_opaque(x, target.buf, err);
	} else if (!strncmp(e->base, WH_META, strlen(WH_META))) {
		entry_skip(x, e->rel, "whiteout metadata of another format (aufs)");
	} else if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
		/* ".wh..." would otherwise whiteout the parent directory */
		ret = kiln_err(err, KILN_EINVAL, 0, "invalid whiteout name");
	} else {
		if (target.len)
			kiln_buf_addch(&target, '/');
		kiln_buf_addstr(&target, name);
		ret = extract_whiteout(x, target.buf, err);
	}
	if (ret == 0)
		x->stats->whiteouts++;
	kiln_buf_release(&target);
	return ret;
}

static int entry_one(struct extract *x, struct archive *a, struct archive_entry *ae,
		     struct kiln_error *err)
{
	struct extract_entry e = { .a = a, .ae = ae };
	struct kiln_buf rel = KILN_BUF_INIT, link = KILN_BUF_INIT;
	int ret;

	e.name = archive_entry_pathname(ae);
	if (!e.name)
		e.name = archive_entry_pathname_utf8(ae);
	if (!e.name)
		return kiln_err(err, KILN_EINVAL, 0, "entry with an unreadable name");
	if ((ret = entry_read(&e, &rel, &link, ae, err)) < 0)
		goto out;
	if (!*e.rel) {
		/* "./": ROOT's own metadata belongs to whoever made ROOT */
		entry_skip(x, ".", "the root itself");
		ret = 0;
	} else if (!strncmp(e.base, WH_PREFIX, strlen(WH_PREFIX))) {
		ret = entry_whiteout(x, &e, err);
	} else if (extract_is_ignored(x, e.rel)) {
		entry_skip(x, e.rel, "ignored path");
		ret = 0;
	} else {
		ret = extract_entry_apply(x, &e, err);
		if (ret > 0) {
			entry_skip(x, e.rel, "mount point or ignored path in the way");
			ret = 0;
		}
	}
out:
	if (ret < 0)
		entry_fail(err, e.name);
	kiln_buf_release(&rel);
	kiln_buf_release(&link);
	return ret;
}

/* ------------------------------------------------------------- a layer */

static int layer_entries(struct extract *x, struct archive *a, struct extract_source *src,
			 struct kiln_error *err)
{
	struct archive_entry *ae;

	for (;;) {
		int r = archive_read_next_header(a, &ae);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r < ARCHIVE_WARN) {
			if (!extract_source_failed(src, err))
				kiln_err(err, KILN_EINVAL, 0,
					 "corrupt layer after %llu entries: %s",
					 (unsigned long long)x->stats->entries,
					 archive_error_string(a));
			return err->code;
		}
		if (++x->stats->entries > EXTRACT_MAX_ENTRIES)
			return kiln_err(err, KILN_EINVAL, 0, "layer has more than %u entries",
					EXTRACT_MAX_ENTRIES);
		if (entry_one(x, a, ae, err) < 0)
			return err->code;
	}
}

static int layer_verify(struct extract_stats *st, struct extract_source *src,
			const struct kiln_digest *expect, struct kiln_error *err)
{
	char want[KILN_DIGEST_STR_SIZE], got[KILN_DIGEST_STR_SIZE];
	int ret = extract_source_finish(&st->digest, &st->bytes_in, src, err);

	if (ret < 0 || !expect || kiln_digest_eq(expect, &st->digest))
		return ret;
	kiln_digest_format(want, expect);
	kiln_digest_format(got, &st->digest);
	kiln_err(err, KILN_EDIGEST, 0, "layer content is %s, expected %s", got, want);
	return kiln_err_hint(err, "the blob is corrupt or was replaced; the root is unusable");
}

int extract_layer_read(struct extract_stats *stats, struct extract *x, extract_read_fn *read,
		       void *arg, const struct kiln_digest *expect, struct kiln_error *err)
{
	struct extract_stats local = { 0 };
	struct archive *a = archive_read_new();
	struct extract_source *src = NULL;
	int ret;

	if (!a) {
		fprintf(stderr, "kiln: fatal: out of memory for a layer reader\n");
		exit(1);
	}
	x->stats = &local;
	extract_cache_drop(x);
	if ((ret = extract_source_open(&src, a, read, arg, err)) < 0)
		goto out;
	if ((ret = layer_entries(x, a, src, err)) < 0)
		goto out;
	if ((ret = dirs_finish(x, err)) < 0)
		goto out;
	ret = layer_verify(&local, src, expect, err);
out:
	archive_read_free(a);
	extract_source_free(src);
	for (size_t i = 0; i < x->nr_dirs; i++)
		free(x->dirs[i].rel);
	x->nr_dirs = 0;
	paths_clear(&x->paths);
	extract_cache_drop(x);
	x->stats = NULL;
	if (stats)
		*stats = local;
	return ret;
}

static ssize_t fd_read(void *arg, void *buf, size_t len, struct kiln_error *err)
{
	int fd = *(int *)arg;

	for (;;) {
		ssize_t n = read(fd, buf, len);

		if (n >= 0)
			return n;
		if (errno != EINTR)
			return kiln_err(err, KILN_EIO, errno, "read layer");
	}
}

int extract_layer_fd(struct extract_stats *stats, struct extract *x, int fd,
		     const struct kiln_digest *expect, struct kiln_error *err)
{
	return extract_layer_read(stats, x, fd_read, &fd, expect, err);
}

/* --------------------------------------------------------- the handle */

static char *fd_real_path(int fd)
{
	char link[64], real[PATH_MAX];
	ssize_t len;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, real, sizeof(real) - 1);
	if (len <= 0 || real[0] != '/')
		return NULL;
	real[len] = '\0';
	return xstrdup(real);
}

/* The umask, read without umask(2), which would change it for every
 * thread of the process for a moment. -1 when /proc cannot tell. */
static int umask_read(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int mask = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *end;
		unsigned long v;

		if (strncmp(line, "Umask:", 6))
			continue;
		v = strtoul(line + 6, &end, 8);
		if (end != line + 6 && v <= 0777)
			mask = (int)v;
		break;
	}
	fclose(f);
	return mask;
}

int extract_new(struct extract **out, int root_fd, const struct extract_options *opts,
		struct kiln_error *err)
{
	struct extract *x;
	struct stat st;

	if (fstat(root_fd, &st) < 0)
		return kiln_err(err, KILN_EIO, errno, "stat the root");
	if (!S_ISDIR(st.st_mode))
		return kiln_err(err, KILN_EINVAL, ENOTDIR, "the root is not a directory");
	x = xcalloc(1, sizeof(*x));
	rootfs_dir_init(&x->root, root_fd);
	x->opts = *opts;
	x->cache_fd = -1;
	kiln_buf_init(&x->cache_rel, 0);
	x->root_real = fd_real_path(root_fd);
	x->euid = geteuid();
	x->egid = getegid();
	x->umask = umask_read();
	*out = x;
	return 0;
}

void extract_free(struct extract *x)
{
	if (!x)
		return;
	if (x->opts.seed)
		snapshot_seed_finish(x->opts.seed);
	extract_cache_drop(x);
	kiln_buf_release(&x->cache_rel);
	paths_clear(&x->paths);
	free(x->dirs);
	free(x->root_real);
	free(x);
}
