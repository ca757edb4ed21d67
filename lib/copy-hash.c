/*
 * copy-hash.c: what decides a COPY's or ADD's result from its sources,
 * for the cache key: the sources expanded exactly as copy_run() expands
 * them, and below each, in name order, with .dockerignore and --exclude
 * applied as the copy applies them, every entry's path, type, permission
 * bits, content (sha256), link target, device number and hardlink group.
 *
 * Not hashed: modification times (a fresh checkout must hit; BuildKit
 * does the same) and owners (the copy gives root:root or --chown, never
 * the context's owner).
 */
#include "compat.h"
#include "copy-int.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "dockerignore.h"
#include "error.h"
#include "strvec.h"

#include <fcntl.h>
#include <limits.h>

struct hash_walk {
	const struct copy_spec *s;
	struct kiln_dockerignore *exclude;
	copy_hash_fn fn;
	void *ctx;
	struct copy_links links; /* inode -> first path, for hardlink groups */
};

static void feed(struct hash_walk *w, const char *name, const void *data, size_t len)
{
	w->fn(w->ctx, name, data, len);
}

static void feed_str(struct hash_walk *w, const char *name, const char *s)
{
	feed(w, name, s, strlen(s));
}

static void feed_u64(struct hash_walk *w, const char *name, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	feed(w, name, b, sizeof(b));
}

static int feed_content(struct hash_walk *w, int fd, const char *rel, struct kiln_error *err)
{
	struct kiln_sha256 h;
	struct kiln_digest d;
	char buf[1 << 16];
	ssize_t n;

	kiln_sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			kiln_sha256_release(&h);
			return kiln_err(err, KILN_EIO, errno, "read '%s'", rel);
		}
		kiln_sha256_update(&h, buf, (size_t)n);
	}
	kiln_sha256_final(&h, &d);
	feed(w, "content", d.sha256, sizeof(d.sha256));
	return 0;
}

/* A second name of an inode already fed: its group is that path. */
static bool feed_hardlink(struct hash_walk *w, const struct stat *st, const char *rel)
{
	const struct copy_link *l = copy_links_find(&w->links, st);

	if (l) {
		feed_str(w, "hardlink", l->dest);
		return true;
	}
	copy_links_add(&w->links, st, rel);
	return false;
}

static bool skipped(const struct kiln_dockerignore *di, const char *rel, const struct stat *st)
{
	return di && kiln_dockerignore_match(di, rel) &&
	       !(S_ISDIR(st->st_mode) && kiln_dockerignore_dir_has_exceptions(di, rel));
}

static int hash_dir(struct hash_walk *w, int dfd, const char *rel, const char *ign_rel,
		    const char *ex_rel, struct kiln_error *err);

/* One entry (dfd, name) whose path below the source item is rel. */
static int hash_entry(struct hash_walk *w, int dfd, const char *name, const struct stat *st,
		      const char *rel, const char *ign_rel, const char *ex_rel,
		      struct kiln_error *err)
{
	int fd, ret = 0;

	if ((ign_rel && skipped(w->s->ignore, ign_rel, st)) || skipped(w->exclude, ex_rel, st))
		return 0;
	feed_str(w, "path", rel);
	feed_u64(w, "mode", st->st_mode);
	if (S_ISDIR(st->st_mode)) {
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return kiln_err(err, KILN_EIO, errno, "open '%s'", rel);
		ret = hash_dir(w, fd, rel, ign_rel, ex_rel, err);
		close(fd);
	} else if (S_ISREG(st->st_mode)) {
		feed_u64(w, "size", (uint64_t)st->st_size);
		if (st->st_nlink > 1 && feed_hardlink(w, st, rel))
			return 0;
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return kiln_err(err, KILN_EIO, errno, "open '%s'", rel);
		ret = feed_content(w, fd, rel, err);
		close(fd);
	} else if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(dfd, name, target, sizeof(target));

		if (n < 0 || (size_t)n >= sizeof(target))
			return kiln_err(err, KILN_EIO, n < 0 ? errno : ENAMETOOLONG,
					"read symlink '%s'", rel);
		feed(w, "target", target, (size_t)n);
	} else {
		feed_u64(w, "rdev", st->st_rdev);
	}
	return ret;
}

static void join(struct kiln_buf *out, const char *dir, const char *name)
{
	kiln_buf_reset(out);
	if (dir && *dir)
		kiln_buf_addf(out, "%s/", dir);
	kiln_buf_addstr(out, name);
}

static int hash_dir(struct hash_walk *w, int dfd, const char *rel, const char *ign_rel,
		    const char *ex_rel, struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	struct kiln_buf r = KILN_BUF_INIT, i = KILN_BUF_INIT, e = KILN_BUF_INIT;
	int lfd = dup(dfd), ret;

	if (lfd < 0)
		return kiln_err(err, KILN_EIO, errno, "dup");
	if ((ret = copy_list_names(&names, lfd, err)) < 0)
		goto out;
	for (size_t k = 0; k < names.nr && ret == 0; k++) {
		struct stat st;

		if (fstatat(dfd, names.v[k], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "stat '%s/%s'", rel, names.v[k]);
			break;
		}
		join(&r, rel, names.v[k]);
		join(&i, ign_rel, names.v[k]);
		join(&e, ex_rel, names.v[k]);
		ret = hash_entry(w, dfd, names.v[k], &st, r.buf, ign_rel ? i.buf : NULL, e.buf,
				 err);
	}
out:
	kiln_strvec_clear(&names);
	kiln_buf_release(&r);
	kiln_buf_release(&i);
	kiln_buf_release(&e);
	return ret;
}

/* A path source: followed at the top as the copy follows it. */
static int hash_path(struct hash_walk *w, const struct copy_item *it, struct kiln_error *err)
{
	const struct copy_spec *s = w->s;
	struct stat st;
	int fd, ret;

	feed_str(w, "source", it->path);
	feed_u64(w, "pivot", it->pivot_len);
	fd = copy_src_open(s->src_fd, it->path, O_RDONLY, err);
	if (fd == KILN_ENOENT)
		return kiln_err(err, KILN_ENOENT, 0, "'%s': no such file or directory in the %s",
				it->src, s->src_what);
	if (fd < 0)
		return kiln_err_prefix(err, "'%s'", it->src);
	if (fstat(fd, &st) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "stat '%s'", it->src);
	} else {
		feed_u64(w, "mode", st.st_mode);
		if (S_ISDIR(st.st_mode))
			ret = hash_dir(w, fd, "", s->ignore ? it->path : NULL, "", err);
		else if (S_ISREG(st.st_mode))
			ret = feed_content(w, fd, it->src, err);
		else
			ret = 0;
	}
	close(fd);
	return ret;
}

static int hash_item(struct hash_walk *w, const struct copy_item *it, bool *volatile_,
		     struct kiln_error *err)
{
	const struct copy_spec *s = w->s;

	switch (it->kind) {
	case ITEM_URL:
		feed_str(w, "url", it->path);
		if (s->checksum)
			feed(w, "checksum", s->checksum->sha256, sizeof(s->checksum->sha256));
		else
			*volatile_ = true; /* only the download tells */
		return 0;
	case ITEM_INLINE:
		feed_str(w, "inline", it->in->name);
		feed(w, "body", it->in->data, it->in->len);
		return 0;
	case ITEM_PATH:
		break;
	}
	return hash_path(w, it, err);
}

int copy_hash(bool *volatile_, const struct copy_spec *s, copy_hash_fn fn, void *ctx,
	      struct kiln_error *err)
{
	struct hash_walk w = { .s = s, .fn = fn, .ctx = ctx };
	struct copy_items it = { 0 };
	int ret;

	*volatile_ = false;
	if ((ret = copy_check_spec(s, err)) < 0)
		goto out;
	if (s->nr_excludes &&
	    (ret = kiln_dockerignore_new(&w.exclude, s->excludes, s->nr_excludes, err)) < 0) {
		kiln_err_prefix(err, "--exclude");
		goto out;
	}
	if ((ret = copy_items_collect(&it, s, err)) < 0)
		goto out;
	for (size_t i = 0; i < it.nr && ret == 0; i++)
		ret = hash_item(&w, &it.v[i], volatile_, err);
out:
	copy_items_release(&it);
	copy_links_release(&w.links);
	kiln_dockerignore_free(w.exclude);
	return ret;
}
