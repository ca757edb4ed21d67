/*
 * extract-remove.c: whiteouts, opaque directories, and clearing the name
 * an entry replaces.
 *
 * Removal walks with directory fds and *at() calls that never follow a
 * symlink (a symlink is removed, not what it points to), and it stops at
 * mount points and ignored paths: under ROOT "/" those are /proc, the
 * bind-mounted /etc/hosts, kiln's own directory, and removing or writing
 * into them is what makes kaniko fail with "device or resource busy".
 * What stays keeps its parents too, so a whiteout of /var with /var/run
 * ignored empties /var of everything else.
 */
#include "compat.h"
#include "extract-int.h"
#include "alloc.h"
#include "error.h"
#include "log.h"
#include "strvec.h"

#include <dirent.h>
#include <fcntl.h>

static int stat_at(struct statx *sx, int dfd, const char *name)
{
	return statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MODE, sx);
}

static bool is_mount_root(const struct statx *sx)
{
	return (sx->stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (sx->stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void join(struct kiln_buf *out, const char *dir, const char *name)
{
	kiln_buf_reset(out);
	if (*dir)
		kiln_buf_addf(out, "%s/", dir);
	kiln_buf_addstr(out, name);
}

/* The names in directory fd (not "." or ".."), read before anything in it
 * is removed, because readdir() during removals may skip entries. */
static int list_dir(struct kiln_strvec *out, int fd, const char *rel, struct kiln_error *err)
{
	int dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;

	if (!d) {
		close_fd(&dup_fd);
		return kiln_err(err, KILN_EIO, errno, "list directory '/%s'", rel);
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			kiln_strvec_push(out, de->d_name);
	}
	if (errno) {
		int e = errno;

		closedir(d);
		return kiln_err(err, KILN_EIO, e, "list directory '/%s'", rel);
	}
	closedir(d);
	return 0;
}

static int remove_tree(struct extract *x, int dfd, const char *name, const char *rel,
		       unsigned depth, struct kiln_error *err);

/* Remove what directory fd holds; 1 when something had to stay. */
static int remove_children(struct extract *x, int fd, const char *rel, unsigned depth,
			   struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	struct kiln_buf child = KILN_BUF_INIT;
	int ret, kept = 0;

	if ((ret = list_dir(&names, fd, rel, err)) < 0)
		goto out;
	for (size_t i = 0; i < names.nr; i++) {
		join(&child, rel, names.v[i]);
		if ((ret = remove_tree(x, fd, names.v[i], child.buf, depth + 1, err)) < 0)
			goto out;
		kept |= ret;
	}
	ret = kept;
out:
	kiln_strvec_clear(&names);
	kiln_buf_release(&child);
	return ret;
}

/* Remove dfd/name (rel from ROOT) and all below it, except mount points
 * and ignored paths. Returns 0 (gone or never there), 1 (something
 * stayed) or a negative code. */
static int remove_tree(struct extract *x, int dfd, const char *name, const char *rel,
		       unsigned depth, struct kiln_error *err)
{
	struct statx sx;
	int fd = -1, ret;

	if (stat_at(&sx, dfd, name) < 0)
		return errno == ENOENT ? 0 : kiln_err(err, KILN_EIO, errno, "stat '/%s'", rel);
	if (is_mount_root(&sx) || extract_is_ignored(x, rel)) {
		kiln_debug("extract: keeping '/%s': mount point or ignored path", rel);
		return 1;
	}
	if (!S_ISDIR(sx.stx_mode)) {
		if (S_ISLNK(sx.stx_mode))
			extract_cache_invalidate(x);
		if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
			return kiln_err(err, KILN_EIO, errno, "remove '/%s'", rel);
		return 0;
	}
	/* bounded: each level holds a directory fd */
	if (depth >= EXTRACT_MAX_DEPTH)
		return kiln_err(err, KILN_EINVAL, 0, "'/%s' is more than %d levels deep", rel,
				EXTRACT_MAX_DEPTH);
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '/%s'", rel);
	extract_cache_invalidate(x);
	ret = remove_children(x, fd, rel, depth, err);
	close_fd(&fd);
	if (ret != 0)
		return ret;
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return kiln_err(err, KILN_EIO, errno, "remove directory '/%s'", rel);
	return 0;
}

static void forget(struct extract *x, const char *rel)
{
	struct kiln_buf path = KILN_BUF_INIT;

	if (!x->opts.seed)
		return;
	kiln_buf_addf(&path, "/%s", rel);
	snapshot_seed_forget(x->opts.seed, path.buf);
	kiln_buf_release(&path);
}

int extract_clear(struct extract *x, int dir_fd, const char *name, const char *rel, bool keep_dir,
		  struct kiln_error *err)
{
	struct statx sx;
	int r;

	if (stat_at(&sx, dir_fd, name) < 0) {
		if (errno == ENOENT)
			return EXTRACT_CLEAR_FREE;
		return kiln_err(err, KILN_EIO, errno, "stat what is there");
	}
	/* a bind-mounted file (/etc/hosts) or directory is never replaced */
	if (is_mount_root(&sx))
		return EXTRACT_CLEAR_KEPT;
	if (keep_dir && S_ISDIR(sx.stx_mode))
		return EXTRACT_CLEAR_IS_DIR;
	if ((r = remove_tree(x, dir_fd, name, rel, 0, err)) < 0)
		return r;
	forget(x, rel);
	return r ? EXTRACT_CLEAR_KEPT : EXTRACT_CLEAR_FREE;
}

/* A lookup that found nothing to act on: a missing name, a file where a
 * directory was expected, or a mount point on the way. */
static bool nothing_there(struct kiln_error *err)
{
	if (err->code != KILN_ENOENT && err->sys_errno != ENOTDIR && err->sys_errno != EXDEV)
		return false;
	kiln_error_release(err);
	return true;
}

static bool written_here(struct extract *x, const char *rel)
{
	const struct extract_path *p = extract_paths_find(x, rel);

	return p && (p->flags & EXTRACT_PATH_WRITTEN);
}

int extract_whiteout(struct extract *x, const char *rel, struct kiln_error *err)
{
	const char *base;
	int pfd, ret;

	/* OCI: a whiteout hides lower layers only; what this layer wrote
	 * under the same name stays */
	if (written_here(x, rel))
		return 0;
	if (extract_is_ignored(x, rel)) {
		kiln_debug("extract: whiteout of ignored path '/%s' not applied", rel);
		return 0;
	}
	if ((pfd = rootfs_open_parent(&base, &x->root, rel, false, err)) < 0)
		return nothing_there(err) ? 0 : pfd;
	ret = remove_tree(x, pfd, base, rel, 0, err);
	close(pfd);
	if (ret < 0)
		return ret;
	forget(x, rel);
	extract_queue_parents(x, rel);
	return 0;
}

/* Empty dfd (rel) of what lower layers put there: this layer's own
 * entries stay, and its directories are emptied in turn, since under an
 * opaque directory nothing of the lower layers may show. */
static int opaque_clear(struct extract *x, int dfd, const char *rel, unsigned depth,
			struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	struct kiln_buf child = KILN_BUF_INIT;
	int ret;

	if (depth >= EXTRACT_MAX_DEPTH)
		return kiln_err(err, KILN_EINVAL, 0, "'/%s' is more than %d levels deep", rel,
				EXTRACT_MAX_DEPTH);
	if ((ret = list_dir(&names, dfd, rel, err)) < 0)
		goto out;
	for (size_t i = 0; i < names.nr && ret >= 0; i++) {
		struct statx sx;
		int fd;

		join(&child, rel, names.v[i]);
		if (!written_here(x, child.buf)) {
			if ((ret = remove_tree(x, dfd, names.v[i], child.buf, 0, err)) >= 0)
				forget(x, child.buf);
			continue;
		}
		if (stat_at(&sx, dfd, names.v[i]) < 0 || !S_ISDIR(sx.stx_mode) ||
		    is_mount_root(&sx))
			continue;
		fd = openat(dfd, names.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "open '/%s'", child.buf);
			break;
		}
		ret = opaque_clear(x, fd, child.buf, depth + 1, err);
		close(fd);
	}
out:
	kiln_strvec_clear(&names);
	kiln_buf_release(&child);
	return ret < 0 ? ret : 0;
}

int extract_opaque(struct extract *x, const char *dir_rel, struct kiln_error *err)
{
	int pfd, fd, ret;

	if (*dir_rel && extract_is_ignored(x, dir_rel)) {
		kiln_debug("extract: opaque marker in ignored path '/%s' not applied", dir_rel);
		return 0;
	}
	if ((pfd = rootfs_open_dir(&x->root, dir_rel, false, err)) < 0)
		return nothing_there(err) ? 0 : pfd;
	fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '/%s'", dir_rel);
	ret = opaque_clear(x, fd, dir_rel, 0, err);
	close(fd);
	if (ret == 0 && *dir_rel) {
		extract_dir_queue(x, dir_rel, false, 0, NULL);
		extract_queue_parents(x, dir_rel);
	}
	return ret;
}
