/*
 * copy.c: COPY and ADD (see copy.h): sources expanded and checked, the
 * destination decided as BuildKit decides it, then each source copied.
 *
 * BuildKit's rules followed here (dockerfile2llb and fsutil's copier):
 * - a source path is followed if it is itself a symlink (FollowLinks), but
 *   inside the source root: "/etc/passwd" as a link target means the
 *   context's etc/passwd;
 * - a file goes to dest/<its name> when dest ends in '/' or is an existing
 *   directory, else to dest; a directory's contents go into dest;
 * - missing parents of the destination are made 0755 and owned by the
 *   --chown user (root without it); the destination directory itself keeps
 *   its metadata, directories below it take the source's;
 * - more than one source needs a directory destination.
 */
#include "compat.h"
#include "copy.h"
#include "copy-int.h"
#include "alloc.h"
#include "buf.h"
#include "dockerignore.h"
#include "error.h"
#include "path.h"
#include "registry.h"
#include "strvec.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

/* openat2 answering EAGAIN (a rename raced the lookup) is retried. */
#define OPENAT2_RETRIES 16

/* When openat2 is missing (ENOSYS) or filtered (EPERM): resolve the
 * parent directory with rootfs-path.c's confined walk and follow a final
 * symlink by hand, lexically against the name as given; the target is
 * clamped to the root, so this may differ from the kernel only for link
 * chains through symlinked parents, never by leaving the root. */
static int src_open_walk(int src_fd, const char *rel, int flags, struct kiln_error *err)
{
	struct rootfs_dir r;
	struct kiln_buf cur = KILN_BUF_INIT, next = KILN_BUF_INIT, dir = KILN_BUF_INIT;
	int ret = KILN_EINVAL;

	rootfs_dir_init(&r, src_fd);
	kiln_buf_setstr(&cur, rel);
	for (int hops = 0; hops <= ROOTFS_MAX_SYMLINKS; hops++) {
		char target[PATH_MAX];
		const char *base;
		struct stat st;
		ssize_t n;
		int pfd, fd;

		if (!cur.len) {
			ret = openat(src_fd, ".", flags | O_CLOEXEC);
			if (ret < 0)
				ret = kiln_err(err, KILN_EIO, errno, "open the source root");
			goto out;
		}
		pfd = rootfs_open_parent(&base, &r, cur.buf, false, err);
		if (pfd < 0) {
			ret = pfd;
			goto out;
		}
		fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			ret = kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
				       "open");
			if (fd >= 0)
				close(fd);
			close(pfd);
			goto out;
		}
		if (!S_ISLNK(st.st_mode)) {
			close(fd);
			ret = openat(pfd, base, flags | O_NOFOLLOW | O_CLOEXEC);
			if (ret < 0)
				ret = kiln_err(err, errno == ENOTDIR ? KILN_EINVAL : KILN_EIO,
					       errno, "open");
			close(pfd);
			goto out;
		}
		close(fd);
		n = readlinkat(pfd, base, target, sizeof(target) - 1);
		close(pfd);
		if (n < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "readlink");
			goto out;
		}
		target[n] = '\0';
		kiln_path_split(&dir, NULL, cur.buf);
		kiln_buf_reset(&next);
		/* "/" + ...: cleaning drops any ".." above the root */
		if (target[0] == '/')
			kiln_buf_addstr(&next, target);
		else
			kiln_buf_addf(&next, "/%s/%s", dir.buf, target);
		kiln_path_clean(&cur, next.buf);
		kiln_buf_setstr(&next, cur.buf + 1);
		kiln_buf_setstr(&cur, next.buf);
	}
	ret = kiln_err(err, KILN_EINVAL, ELOOP, "open");
out:
	kiln_buf_release(&cur);
	kiln_buf_release(&next);
	kiln_buf_release(&dir);
	return ret;
}

int copy_src_open(int src_fd, const char *rel, int flags, struct kiln_error *err)
{
	/* RESOLVE_IN_ROOT: absolute symlinks and ".." stay in the source
	 * root, as BuildKit's fs.RootPath() keeps them in the context. */
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	for (int i = 0; i < OPENAT2_RETRIES; i++) {
		long fd = syscall(SYS_openat2, src_fd, *rel ? rel : ".", &how, sizeof(how));

		if (fd >= 0)
			return (int)fd;
		if (errno == ENOSYS || errno == EPERM)
			return src_open_walk(src_fd, rel, flags, err);
		if (errno == EAGAIN || errno == EINTR)
			continue;
		if (errno == ENOENT)
			return kiln_err(err, KILN_ENOENT, errno, "open");
		return kiln_err(err, errno == ENOTDIR || errno == ELOOP ? KILN_EINVAL : KILN_EIO,
				errno, "open");
	}
	return kiln_err(err, KILN_EIO, EAGAIN, "open");
}

static void items_push(struct copy_items *it, struct copy_item i)
{
	if (it->nr == it->alloc) {
		it->alloc = it->alloc ? 2 * it->alloc : 8;
		it->v = xreallocarray(it->v, it->alloc, sizeof(*it->v));
	}
	it->v[it->nr++] = i;
}

bool copy_is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

/* BuildKit's git detection, reduced: the prefixes gitutil accepts, and an
 * http(s) URL whose path ends in ".git" (optionally with a #fragment). */
static bool is_git(const char *s)
{
	const char *hash, *end;

	if (!strncmp(s, "git@", 4) || !strncmp(s, "git://", 6) || !strncmp(s, "ssh://", 6))
		return true;
	if (!copy_is_url(s))
		return false;
	hash = strchr(s, '#');
	end = hash ? hash : s + strlen(s);
	return end - s > 4 && !strncmp(end - 4, ".git", 4);
}

static int ignored(const struct copy_spec *s, const char *rel)
{
	return s->ignore && *rel && kiln_dockerignore_match(s->ignore, rel);
}

/* Expand one local source into items. */
static int expand_local(struct copy_items *it, bool *wild, const struct copy_spec *s,
			const char *src, struct kiln_error *err)
{
	struct kiln_buf clean = KILN_BUF_INIT, pivot = KILN_BUF_INIT;
	struct kiln_strvec matches = KILN_STRVEC_INIT;
	const char *p = src;
	size_t pivot_len = 0, before = it->nr;
	int ret;

	if (s->src_fd < 0) {
		ret = kiln_err(err, KILN_EINVAL, 0, "'%s': no %s to copy from", src, s->src_what);
		goto out;
	}
	while (*p == '/')
		p++;
	kiln_path_clean(&clean, p);
	if (kiln_path_escapes(clean.buf)) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "'%s': source is outside the %s; name a path inside it", src,
			       s->src_what);
		goto out;
	}
	if (!strcmp(clean.buf, "."))
		kiln_buf_reset(&clean);
	if (s->parents) {
		/* BuildKit's pivot: in "a/./b/c" only "b/c" is kept below
		 * the destination; without one the whole path is. */
		const char *q = p;
		const char *dot;

		while (!strncmp(q, "./", 2))
			q += 2;
		dot = strstr(q, "/./");
		if (dot) {
			struct kiln_buf raw = KILN_BUF_INIT;

			kiln_buf_add(&raw, q, (size_t)(dot - q));
			kiln_path_clean(&pivot, raw.buf);
			kiln_buf_release(&raw);
			if (strcmp(pivot.buf, "."))
				pivot_len = pivot.len + 1;
		}
	}
	if (copy_has_wildcard(clean.buf)) {
		*wild = true;
		if ((ret = copy_glob(&matches, s->src_fd, clean.buf, err)) < 0) {
			kiln_err_prefix(err, "'%s'", src);
			goto out;
		}
		for (size_t i = 0; i < matches.nr; i++) {
			if (ignored(s, matches.v[i]) &&
			    !kiln_dockerignore_dir_has_exceptions(s->ignore, matches.v[i]))
				continue;
			items_push(it, (struct copy_item){ ITEM_PATH, xstrdup(matches.v[i]), src,
							   pivot_len, NULL });
		}
		if (it->nr == before) {
			ret = kiln_err(
				err, KILN_ENOENT, 0,
				"'%s': no source files were specified: nothing in the %s matches",
				src, s->src_what);
			goto out;
		}
	} else {
		if (ignored(s, clean.buf) &&
		    !kiln_dockerignore_dir_has_exceptions(s->ignore, clean.buf)) {
			ret = kiln_err(err, KILN_ENOENT, 0,
				       "'%s': excluded by .dockerignore, so not in the %s", src,
				       s->src_what);
			goto out;
		}
		items_push(it, (struct copy_item){ ITEM_PATH, xstrdup(clean.buf), src, pivot_len,
						   NULL });
	}
	ret = 0;
out:
	kiln_buf_release(&clean);
	kiln_buf_release(&pivot);
	kiln_strvec_clear(&matches);
	return ret;
}

/* Is rel an existing directory inside ROOT (symlinks followed inside)? */
static bool dest_is_dir(struct copy_ctx *c, const char *rel)
{
	struct kiln_error e = KILN_ERROR_INIT;
	int fd = rootfs_open_dir(&c->root, rel, false, &e);

	kiln_error_release(&e);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Where a non-directory goes: *dfd (a directory fd inside ROOT) and
 * *name, with *rel its path in ROOT. */
static int file_target(int *dfd, struct kiln_buf *rel, struct copy_ctx *c, const char *dest_rel,
		       bool into_dir, const char *name, struct kiln_error *err)
{
	struct kiln_buf dir = KILN_BUF_INIT;
	int fd;

	if (into_dir) {
		kiln_buf_setstr(&dir, dest_rel);
		kiln_buf_reset(rel);
		if (*dest_rel)
			kiln_buf_addf(rel, "%s/", dest_rel);
		kiln_buf_addstr(rel, name);
	} else {
		kiln_path_split(&dir, NULL, dest_rel);
		if (!strcmp(dir.buf, "."))
			kiln_buf_reset(&dir);
		kiln_buf_setstr(rel, dest_rel);
	}
	fd = copy_mkdir_all(c, dir.buf, err);
	kiln_buf_release(&dir);
	if (fd < 0)
		return fd;
	*dfd = fd;
	return 0;
}

static const char *last_elem(const char *rel)
{
	const char *s = strrchr(rel, '/');

	return s ? s + 1 : rel;
}

static int copy_path(struct copy_ctx *c, const struct copy_item *it, const char *dest_rel,
		     bool into_dir, struct kiln_error *err)
{
	const struct copy_spec *s = c->s;
	struct kiln_buf rel = KILN_BUF_INIT, ddir = KILN_BUF_INIT;
	const char *kept = it->path + (it->pivot_len <= strlen(it->path) ? it->pivot_len : 0);
	struct stat st;
	int pfd = -1, fd = -1, dfd = -1, ret;

	pfd = copy_src_open(s->src_fd, it->path, O_PATH, err);
	if (pfd < 0 || fstat(pfd, &st) < 0) {
		if (pfd >= 0)
			ret = kiln_err(err, KILN_EIO, errno, "stat");
		else if (pfd == KILN_ENOENT)
			ret = kiln_err(err, KILN_ENOENT, 0, "no such file or directory in the %s",
				       s->src_what);
		else
			ret = pfd;
		goto out;
	}
	if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
		fd = copy_src_open(s->src_fd, it->path, O_RDONLY, err);
		if (fd < 0) {
			ret = fd;
			goto out;
		}
	}
	/* --parents keeps the source's directories below the destination */
	kiln_buf_setstr(&ddir, dest_rel);
	if (s->parents) {
		struct kiln_buf d = KILN_BUF_INIT;

		kiln_path_split(&d, NULL, kept);
		if (S_ISDIR(st.st_mode))
			kiln_buf_setstr(&d, kept);
		if (d.len && strcmp(d.buf, ".")) {
			if (ddir.len)
				kiln_buf_addch(&ddir, '/');
			kiln_buf_addbuf(&ddir, &d);
		}
		kiln_buf_release(&d);
		into_dir = true;
	}
	if (S_ISDIR(st.st_mode)) {
		dfd = copy_mkdir_all(c, ddir.buf, err);
		if (dfd < 0) {
			ret = dfd;
			goto out;
		}
		ret = copy_dir_contents(c, fd, dfd, ddir.buf, s->ignore ? it->path : NULL, "", err);
		fd = -1; /* consumed */
		goto out;
	}
	/* ADD unpacks a local archive, told by its content as BuildKit does */
	if (s->add && S_ISREG(st.st_mode)) {
		bool archive = copy_is_archive(fd);

		if (lseek(fd, 0, SEEK_SET) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "seek");
			goto out;
		}
		if (archive) {
			ret = copy_extract(c, fd, ddir.buf, err);
			goto out;
		}
	}
	if ((ret = file_target(&dfd, &rel, c, ddir.buf, into_dir, last_elem(it->path), err)) < 0)
		goto out;
	/* the top-level source was followed: it is never a symlink here */
	ret = copy_entry(c, -1, last_elem(it->path), fd, &st, dfd, last_elem(rel.buf), rel.buf,
			 NULL, last_elem(it->path), false, err);
out:
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	kiln_buf_release(&rel);
	kiln_buf_release(&ddir);
	return ret;
}

static int copy_inline_one(struct copy_ctx *c, const struct copy_inline *in, const char *dest_rel,
			   bool into_dir, struct kiln_error *err)
{
	struct kiln_buf rel = KILN_BUF_INIT;
	mode_t mode = 0644;
	int dfd = -1, ret;

	if (c->s->chmod && (ret = copy_chmod_apply(&mode, c->s->chmod, S_IFREG | 0644, err)) < 0)
		return ret;
	if ((ret = file_target(&dfd, &rel, c, dest_rel, into_dir, in->name, err)) < 0)
		goto out;
	ret = copy_write_file(c, dfd, last_elem(rel.buf), -1, in->data, in->len, mode, NULL, err);
out:
	if (dfd >= 0)
		close(dfd);
	kiln_buf_release(&rel);
	return ret;
}

static int copy_url(struct copy_ctx *c, const char *url, const char *dest_rel, bool into_dir,
		    struct kiln_error *err)
{
	struct registry_download d = REGISTRY_DOWNLOAD_INIT;
	struct kiln_buf name = KILN_BUF_INIT, rel = KILN_BUF_INIT;
	struct timespec times[2];
	mode_t mode = 0600;
	int fd = -1, dfd = -1, ret;

	if (c->s->chmod && (ret = copy_chmod_apply(&mode, c->s->chmod, S_IFREG | 0600, err)) < 0)
		goto out;
	if (into_dir && (ret = copy_url_name(&name, url, err)) < 0)
		goto out;
	if ((ret = copy_download(&fd, &d, c, url, err)) < 0)
		goto out;
	if ((ret = file_target(&dfd, &rel, c, dest_rel, into_dir, name.buf, err)) < 0)
		goto out;
	/* the file's time is the server's Last-Modified, as BuildKit sets it */
	times[0].tv_sec = times[1].tv_sec = (time_t)d.last_modified;
	times[0].tv_nsec = times[1].tv_nsec = 0;
	ret = copy_write_file(c, dfd, last_elem(rel.buf), fd, NULL, 0, mode,
			      d.last_modified >= 0 ? times : NULL, err);
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	registry_download_release(&d);
	kiln_buf_release(&name);
	kiln_buf_release(&rel);
	return ret;
}

int copy_items_collect(struct copy_items *it, const struct copy_spec *s, struct kiln_error *err)
{
	bool wild = false;
	int ret;

	for (size_t i = 0; i < s->nr_srcs; i++) {
		if (copy_is_url(s->srcs[i]))
			items_push(it, (struct copy_item){ ITEM_URL, xstrdup(s->srcs[i]),
							   s->srcs[i], 0, NULL });
		else if ((ret = expand_local(it, &wild, s, s->srcs[i], err)) < 0)
			return ret;
	}
	for (size_t i = 0; i < s->nr_inlines; i++)
		items_push(it, (struct copy_item){ ITEM_INLINE, NULL, s->inlines[i].name, 0,
						   &s->inlines[i] });
	if (!it->nr)
		return kiln_err(err, KILN_EINVAL, 0, "no source files were specified");
	return 0;
}

void copy_items_release(struct copy_items *it)
{
	for (size_t i = 0; i < it->nr; i++)
		free(it->v[i].path);
	free(it->v);
	memset(it, 0, sizeof(*it));
}

int copy_check_spec(const struct copy_spec *s, struct kiln_error *err)
{
	if (s->keep_git_dir)
		return kiln_err(
			err, KILN_EINVAL, 0,
			"ADD --keep-git-dir is not supported: git sources are not supported yet");
	if (s->chmod && copy_chmod_parse(s->chmod, err) < 0)
		return KILN_EINVAL;
	for (size_t i = 0; i < s->nr_srcs; i++) {
		const char *src = s->srcs[i];

		if (s->add && is_git(src))
			return kiln_err(err, KILN_EINVAL, 0,
					"'%s': ADD of a git repository is not supported yet; clone "
					"it in a RUN step",
					src);
		if (!s->add && copy_is_url(src))
			return kiln_err(err, KILN_EINVAL, 0,
					"'%s': COPY cannot download a URL; use ADD", src);
		if (s->checksum && !copy_is_url(src))
			return kiln_err(err, KILN_EINVAL, 0,
					"'%s': --checksum applies only to http(s) sources", src);
	}
	return 0;
}

int copy_run(const struct copy_spec *s, struct kiln_error *err)
{
	struct copy_ctx c = { .s = s };
	struct copy_items it = { 0 };
	struct kiln_buf dest_rel = KILN_BUF_INIT;
	size_t dl = strlen(s->dest);
	bool dir_syntax;
	int ret;

	if ((ret = copy_check_spec(s, err)) < 0)
		goto out;
	rootfs_dir_init(&c.root, s->root_fd);
	if (s->has_chown) {
		c.uid = s->uid;
		c.gid = s->gid;
	}
	if (s->nr_excludes &&
	    (ret = kiln_dockerignore_new(&c.exclude, s->excludes, s->nr_excludes, err)) < 0) {
		kiln_err_prefix(err, "--exclude");
		goto out;
	}
	/* "dir/" and "dir/." name a directory, as in BuildKit */
	dir_syntax = (dl && s->dest[dl - 1] == '/') ||
		     (dl >= 2 && !strcmp(s->dest + dl - 2, "/.")) || !strcmp(s->dest, ".");
	if ((ret = rootfs_name_clean(&dest_rel, s->dest, err)) < 0) {
		kiln_err_prefix(err, "destination '%s'", s->dest);
		goto out;
	}
	if (!dest_rel.len)
		dir_syntax = true;
	if ((ret = copy_items_collect(&it, s, err)) < 0)
		goto out;
	/* Counted after expansion, as Docker does: "COPY *.jar app.jar"
	 * with one jar is fine. */
	if (it.nr > 1 && !dir_syntax && !dest_is_dir(&c, dest_rel.buf)) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "destination '%s' must be a directory ending in '/' when copying "
			       "more than one source",
			       s->dest);
		goto out;
	}
	for (size_t i = 0; i < it.nr; i++) {
		struct copy_item *x = &it.v[i];
		bool into = dir_syntax || dest_is_dir(&c, dest_rel.buf);

		c.src_name = x->src;
		if (x->kind == ITEM_PATH)
			ret = copy_path(&c, x, dest_rel.buf, into, err);
		else if (x->kind == ITEM_URL)
			ret = copy_url(&c, x->path, dest_rel.buf, into, err);
		else
			ret = copy_inline_one(&c, x->in, dest_rel.buf, into, err);
		if (ret < 0) {
			if (x->kind == ITEM_PATH && strcmp(x->src, x->path) && x->path[0])
				kiln_err_prefix(err, "'%s' ('%s')", x->src, x->path);
			else
				kiln_err_prefix(err, "'%s'", x->src);
			goto out;
		}
	}
	ret = 0;
out:
	copy_pool_free(c.pool);
	copy_items_release(&it);
	copy_links_release(&c.links);
	kiln_dockerignore_free(c.exclude);
	kiln_buf_release(&dest_rel);
	return ret;
}
