/*
 * copy-tree.c: copy files, directories, symlinks and device nodes into
 * ROOT, as BuildKit's copier (tonistiigi/fsutil) does.
 *
 * Below the destination directory (resolved inside ROOT by the caller),
 * each entry is created with *at() calls on its parent's fd and every
 * directory is entered with O_NOFOLLOW: a symlink already in ROOT where a
 * directory of the source goes is an error, never a way out. A file
 * replaces any non-directory at its name (a planted symlink is unlinked,
 * not written through). Metadata order: content, owner, mode (chown clears
 * setuid), security.capability (chown and writes drop it), times;
 * directories get theirs after their contents.
 */
#include "compat.h"
#include "copy-int.h"
#include "alloc.h"
#include "buf.h"
#include "dockerignore.h"
#include "error.h"
#include "fileio.h"
#include "log.h"
#include "strvec.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

/* The one xattr kept: file capabilities (ping, newuidmap) must survive a
 * COPY --from of a binary; other namespaces are the build host's. */
#define CAP_XATTR "security.capability"

int copy_mode(mode_t *out, const struct copy_ctx *c, mode_t src_mode, struct kiln_error *err)
{
	if (c->s->chmod)
		return copy_chmod_apply(out, c->s->chmod, src_mode, err);
	*out = src_mode & 07777;
	return 0;
}

/* COPY --from keeps the source's owners (Docker, moby#38599); the
 * context's files and the directories a copy creates get c->uid:gid. */
static void owner_of(uid_t *uid, gid_t *gid, const struct copy_ctx *c, const struct stat *src)
{
	bool keep = src && c->s->keep_owner && !c->s->has_chown;

	*uid = keep ? src->st_uid : c->uid;
	*gid = keep ? src->st_gid : c->gid;
}

static int owner_fd(const struct copy_ctx *c, int fd, const struct stat *src,
		    struct kiln_error *err)
{
	uid_t uid;
	gid_t gid;

	owner_of(&uid, &gid, c, src);
	if (c->s->no_chown || fchown(fd, uid, gid) == 0)
		return 0;
	return kiln_err(err, KILN_EIO, errno, "chown to %u:%u", (unsigned)uid, (unsigned)gid);
}

static int owner_at(const struct copy_ctx *c, int dfd, const char *name, const struct stat *src,
		    struct kiln_error *err)
{
	uid_t uid;
	gid_t gid;

	owner_of(&uid, &gid, c, src);
	if (c->s->no_chown || fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	return kiln_err(err, KILN_EIO, errno, "chown '%s' to %u:%u", name, (unsigned)uid,
			(unsigned)gid);
}

static void rel_join(struct kiln_buf *out, const char *dir, const char *name)
{
	kiln_buf_reset(out);
	if (dir && *dir)
		kiln_buf_addf(out, "%s/", dir);
	kiln_buf_addstr(out, name);
}

int copy_mkdir_all(struct copy_ctx *c, const char *rel, struct kiln_error *err)
{
	struct kiln_buf prefix = KILN_BUF_INIT;
	const char *p = rel;
	int ret, fd = rootfs_open_dir(&c->root, rel, false, err);

	if (fd != KILN_ENOENT)
		goto out;
	kiln_error_release(err);
	/* Component by component, so that each directory made here gets
	 * the copy's owner: BuildKit's MkdirAll passes the --chown user. */
	for (;;) {
		const char *slash = strchr(p, '/');
		const char *base;
		int pfd;

		kiln_buf_add(&prefix, p, slash ? (size_t)(slash - p) : strlen(p));
		fd = rootfs_open_dir(&c->root, prefix.buf, false, err);
		if (fd == KILN_ENOENT) {
			kiln_error_release(err);
			pfd = rootfs_open_parent(&base, &c->root, prefix.buf, false, err);
			if (pfd < 0) {
				fd = pfd;
				goto out;
			}
			if (mkdirat(pfd, base, 0700) < 0 && errno != EEXIST) {
				fd = kiln_err(err, KILN_EIO, errno, "mkdir '/%s'", prefix.buf);
				close(pfd);
				goto out;
			}
			fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			close(pfd);
			if (fd < 0) {
				fd = kiln_err(err, KILN_EIO, errno, "open '/%s'", prefix.buf);
				goto out;
			}
			if (fchmod(fd, 0755) < 0) {
				close(fd);
				fd = kiln_err(err, KILN_EIO, errno, "chmod '/%s'", prefix.buf);
				goto out;
			}
			if ((ret = owner_fd(c, fd, NULL, err)) < 0) {
				close(fd);
				fd = ret;
				goto out;
			}
		} else if (fd < 0) {
			goto out;
		}
		if (!slash)
			goto out;
		close(fd);
		kiln_buf_addch(&prefix, '/');
		p = slash + 1;
	}
out:
	if (fd == KILN_EINVAL && err && err->sys_errno == ENOTDIR)
		kiln_err(err, KILN_EINVAL, 0, "destination '/%s' is not a directory", rel);
	kiln_buf_release(&prefix);
	return fd;
}

/* Make room for a non-directory at dfd/name: unlink whatever non-directory
 * is there; a directory there is an error, as in BuildKit. */
static int clear_for_file(int dfd, const char *name, struct kiln_error *err)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err(err, KILN_EIO, errno, "stat '%s'", name);
	if (S_ISDIR(st.st_mode))
		return kiln_err(err, KILN_EINVAL, 0, "cannot replace directory '%s' with a file",
				name);
	if (unlinkat(dfd, name, 0) < 0)
		return kiln_err(err, KILN_EIO, errno, "remove '%s'", name);
	return 0;
}

/* Content from src to dst: copy_file_range (reflinks, server-side copy),
 * else plain reads and writes (across file systems on old kernels). */
static int copy_data(int dst, int src, struct kiln_error *err)
{
	char buf[64 * 1024];
	ssize_t n;

	for (;;) {
		n = copy_file_range(src, NULL, dst, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n < 0)
			break;
	}
	if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP &&
	    errno != EPERM)
		return kiln_err(err, KILN_EIO, errno, "copy");
	while ((n = read(src, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err(err, KILN_EIO, errno, "read");
		}
		if (kiln_write_all(dst, buf, (size_t)n, "copy", err) < 0)
			return KILN_EIO;
	}
	return 0;
}

int copy_write_file(struct copy_ctx *c, int dst_dfd, const char *dname, int src_fd,
		    const void *data, size_t len, mode_t mode, const struct timespec *times,
		    struct kiln_error *err)
{
	char cap[256];
	ssize_t caplen = -1;
	struct stat sst;
	int fd = -1, ret;

	if ((ret = clear_for_file(dst_dfd, dname, err)) < 0)
		return ret;
	/* O_EXCL|O_NOFOLLOW: if something raced into the name, fail rather
	 * than write through it */
	fd = openat(dst_dfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "create '%s'", dname);
	if (src_fd >= 0) {
		ret = copy_data(fd, src_fd, err);
		caplen = fgetxattr(src_fd, CAP_XATTR, cap, sizeof(cap));
	} else {
		ret = kiln_write_all(fd, data, len, dname, err);
	}
	if (ret < 0)
		goto out;
	if (src_fd >= 0 && fstat(src_fd, &sst) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "stat the source of '%s'", dname);
		goto out;
	}
	if ((ret = owner_fd(c, fd, src_fd >= 0 ? &sst : NULL, err)) < 0)
		goto out;
	if (fchmod(fd, mode) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "chmod '%s'", dname);
		goto out;
	}
	if (caplen > 0 && fsetxattr(fd, CAP_XATTR, cap, (size_t)caplen, 0) < 0)
		kiln_debug("copy: '%s': %s not kept: %s", dname, CAP_XATTR, strerror(errno));
	if (times && futimens(fd, times) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "set times of '%s'", dname);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	return ret;
}

const struct copy_link *copy_links_find(const struct copy_links *l, const struct stat *st)
{
	for (size_t i = 0; i < l->nr; i++)
		if (l->v[i].dev == st->st_dev && l->v[i].ino == st->st_ino)
			return &l->v[i];
	return NULL;
}

void copy_links_add(struct copy_links *l, const struct stat *st, const char *dest)
{
	if (l->nr == l->alloc) {
		l->alloc = l->alloc ? 2 * l->alloc : 16;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->nr++] = (struct copy_link){ st->st_dev, st->st_ino, xstrdup(dest) };
}

void copy_links_release(struct copy_links *l)
{
	for (size_t i = 0; i < l->nr; i++)
		free(l->v[i].dest);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* A second name of an inode already copied: link to its copy. */
static int hardlink(struct copy_ctx *c, const struct copy_link *l, int dst_dfd, const char *dname,
		    struct kiln_error *err)
{
	const char *base;
	int pfd, ret;

	if ((ret = clear_for_file(dst_dfd, dname, err)) < 0)
		return ret;
	pfd = rootfs_open_parent(&base, &c->root, l->dest, false, err);
	if (pfd < 0)
		return pfd;
	ret = 0;
	if (linkat(pfd, base, dst_dfd, dname, 0) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "hardlink '%s' to '/%s'", dname, l->dest);
	close(pfd);
	return ret;
}

static int copy_dir(struct copy_ctx *c, int src_dfd, const char *name, int src_fd,
		    const struct stat *st, int dst_dfd, const char *dname, const char *dst_rel,
		    const char *ign_rel, const char *ex_rel, bool overwrite, struct kiln_error *err)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	struct stat dst;
	bool created = false;
	int sfd = -1, dfd = -1, ret;
	mode_t mode;

	if ((ret = copy_mode(&mode, c, st->st_mode, err)) < 0)
		return ret;
	if (fstatat(dst_dfd, dname, &dst, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return kiln_err(err, KILN_EIO, errno, "stat '/%s'", dst_rel);
		if (mkdirat(dst_dfd, dname, 0700) < 0)
			return kiln_err(err, KILN_EIO, errno, "mkdir '/%s'", dst_rel);
		created = true;
	} else if (!S_ISDIR(dst.st_mode)) {
		return kiln_err(err, KILN_EINVAL, 0,
				"cannot copy a directory to non-directory '/%s'", dst_rel);
	}
	dfd = openat(dst_dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "open '/%s'", dst_rel);
		goto out;
	}
	sfd = src_fd >= 0 ? dup(src_fd)
			  : openat(src_dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "open source directory '%s'", name);
		goto out;
	}
	ret = copy_dir_contents(c, sfd, dfd, dst_rel, ign_rel, ex_rel, err);
	sfd = -1; /* consumed */
	if (ret < 0)
		goto out;
	if (created || overwrite) {
		if ((ret = owner_fd(c, dfd, st, err)) < 0)
			goto out;
		if (fchmod(dfd, mode) < 0 || futimens(dfd, times) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "set metadata of '/%s'", dst_rel);
			goto out;
		}
	}
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

int copy_entry(struct copy_ctx *c, int src_dfd, const char *name, int src_fd, const struct stat *st,
	       int dst_dfd, const char *dname, const char *dst_rel, const char *ign_rel,
	       const char *ex_rel, bool overwrite, struct kiln_error *err)
{
	struct timespec times[2] = { st->st_atim, st->st_mtim };
	const struct copy_link *l;
	mode_t mode;
	int fd, ret;

	/* An excluded directory is still entered when an exception below it
	 * can bring something back, as BuildKit's walker does. */
	if (ign_rel && c->s->ignore && kiln_dockerignore_match(c->s->ignore, ign_rel) &&
	    !(S_ISDIR(st->st_mode) && kiln_dockerignore_dir_has_exceptions(c->s->ignore, ign_rel)))
		return 0;
	if (ex_rel && c->exclude && kiln_dockerignore_match(c->exclude, ex_rel) &&
	    !(S_ISDIR(st->st_mode) && kiln_dockerignore_dir_has_exceptions(c->exclude, ex_rel)))
		return 0;
	if (S_ISDIR(st->st_mode))
		return copy_dir(c, src_dfd, name, src_fd, st, dst_dfd, dname, dst_rel, ign_rel,
				ex_rel, overwrite, err);
	if ((ret = copy_mode(&mode, c, st->st_mode, err)) < 0)
		return ret;
	if (S_ISREG(st->st_mode)) {
		if (st->st_nlink > 1 && (l = copy_links_find(&c->links, st)))
			return hardlink(c, l, dst_dfd, dname, err);
		fd = src_fd >= 0 ? src_fd
				 : openat(src_dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return kiln_err(err, KILN_EIO, errno, "open source file '%s'", name);
		/* one name, in a directory being walked: nothing waits for it */
		if (c->pool && c->in_walk && st->st_nlink == 1 && fd != src_fd) {
			copy_pool_add(c->pool, dst_dfd, dname, fd, mode, times);
			return 0;
		}
		ret = copy_write_file(c, dst_dfd, dname, fd, NULL, 0, mode, times, err);
		if (fd != src_fd)
			close(fd);
		if (ret == 0 && st->st_nlink > 1)
			copy_links_add(&c->links, st, dst_rel);
		return ret;
	}
	if (S_ISSOCK(st->st_mode)) {
		kiln_debug("copy: socket '%s' skipped", name);
		return 0;
	}
	if ((ret = clear_for_file(dst_dfd, dname, err)) < 0)
		return ret;
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(src_dfd, name, target, sizeof(target));

		if (n < 0 || (size_t)n >= sizeof(target))
			return kiln_err(err, KILN_EIO, n < 0 ? errno : ENAMETOOLONG,
					"read symlink '%s'", name);
		target[n] = '\0';
		if (symlinkat(target, dst_dfd, dname) < 0)
			return kiln_err(err, KILN_EIO, errno, "symlink '/%s'", dst_rel);
	} else {
		/* FIFOs and device nodes, as BuildKit copies them */
		if (mknodat(dst_dfd, dname, (st->st_mode & S_IFMT) | 0600, st->st_rdev) < 0)
			return kiln_err(err, KILN_EIO, errno, "mknod '/%s'", dst_rel);
	}
	if ((ret = owner_at(c, dst_dfd, dname, st, err)) < 0)
		return ret;
	/* mknodat just made the name: it is no symlink for fchmodat to follow */
	if (!S_ISLNK(st->st_mode) && fchmodat(dst_dfd, dname, mode, 0) < 0)
		return kiln_err(err, KILN_EIO, errno, "chmod '/%s'", dst_rel);
	if (utimensat(dst_dfd, dname, times, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err(err, KILN_EIO, errno, "set times of '/%s'", dst_rel);
	return 0;
}

int copy_dir_contents(struct copy_ctx *c, int src_fd, int dst_fd, const char *dst_rel,
		      const char *ign_rel, const char *ex_rel, struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	struct kiln_buf d = KILN_BUF_INIT, i = KILN_BUF_INIT, e = KILN_BUF_INIT;
	struct kiln_error drain_err = KILN_ERROR_INIT;
	bool was_walking = c->in_walk;
	int lfd = dup(src_fd), ret, drained;

	if (!c->pool)
		c->pool = copy_pool_new(c);
	c->in_walk = true;
	if (lfd < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "dup");
		goto out;
	}
	if ((ret = copy_list_names(&names, lfd, err)) < 0)
		goto out;
	for (size_t k = 0; k < names.nr; k++) {
		const char *n = names.v[k];
		struct stat st;

		if (fstatat(src_fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "stat source '%s'", n);
			goto out;
		}
		rel_join(&d, dst_rel, n);
		if (ign_rel)
			rel_join(&i, ign_rel, n);
		rel_join(&e, ex_rel, n);
		ret = copy_entry(c, src_fd, n, -1, &st, dst_fd, n, d.buf, ign_rel ? i.buf : NULL,
				 e.buf, true, err);
		if (ret < 0)
			goto out;
	}
	ret = 0;
out:
	/* the directory's metadata comes next: its files must all be in */
	drained = c->pool ? copy_pool_drain(c->pool, &drain_err) : 0;
	if (ret == 0 && drained < 0) {
		ret = drained;
		kiln_err(err, drain_err.code, drain_err.sys_errno, "%s",
			 kiln_error_msg(&drain_err));
	}
	kiln_error_release(&drain_err);
	c->in_walk = was_walking;
	close(src_fd);
	kiln_strvec_clear(&names);
	kiln_buf_release(&d);
	kiln_buf_release(&i);
	kiln_buf_release(&e);
	return ret;
}
