/*
 * extract-entry.c: create one layer entry inside ROOT.
 *
 * The parent directory comes from the confined lookup (rootfs-path.h); the
 * last component is created here with *at() calls on that directory fd
 * that never follow a symlink: O_CREAT|O_EXCL|O_NOFOLLOW for files (which
 * fails on a planted symlink instead of writing through it), mkdirat,
 * symlinkat, mknodat, linkat without AT_SYMLINK_FOLLOW. When something is
 * already at the name, it is removed first (extract-remove.c) and the
 * creation retried, so the same rule holds for replacements.
 *
 * Metadata order matters: content, then owner, then mode (chown clears
 * setuid/setgid), then xattrs (a write or chown drops security.capability),
 * then times (every change before touches them).
 */
#include "compat.h"
#include "extract-int.h"
#include "error.h"
#include "log.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/xattr.h>

/* --------------------------------------------------------- attributes */

static int owner_set(struct extract *x, const struct extract_entry *e, int fd, int pfd,
		     struct kiln_error *err)
{
	int r;

	if (x->opts.no_chown)
		return 0;
	r = fd >= 0 ? fchown(fd, e->uid, e->gid)
		    : fchownat(pfd, e->base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW);
	if (r < 0)
		return kiln_err(err, KILN_EIO, errno, "chown to %u:%u", e->uid, e->gid);
	return 0;
}

/* Set one xattr on fd, or on pfd/base through /proc when there is no fd
 * to use (symlinks, FIFOs, devices): lsetxattr on "/proc/self/fd/N/base"
 * resolves the directory by its fd and does not follow base. */
static int xattr_set(const struct extract_entry *e, int fd, int pfd, const char *name,
		     const void *value, size_t size)
{
	char path[PATH_MAX + 32];

	if (fd >= 0)
		return fsetxattr(fd, name, value, size, 0);
	if ((size_t)snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", pfd, e->base) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return lsetxattr(path, name, value, size, 0);
}

static int xattrs_set(const struct extract_entry *e, int fd, int pfd, struct kiln_error *err)
{
	int n = archive_entry_xattr_reset(e->ae);
	const char *name;
	const void *value;
	size_t size;

	/* bounded: each one is a system call on the hot path */
	if (n > EXTRACT_MAX_XATTRS)
		return kiln_err(err, KILN_EINVAL, 0, "more than %d xattrs", EXTRACT_MAX_XATTRS);
	while (n > 0 && archive_entry_xattr_next(e->ae, &name, &value, &size) == ARCHIVE_OK) {
		if (size > EXTRACT_MAX_XATTR_LEN)
			return kiln_err(err, KILN_EINVAL, 0, "xattr '%s' too large", name);
		if (xattr_set(e, fd, pfd, name, value, size) == 0)
			continue;
		/* A file system without xattrs, or a namespace this process
		 * may not write (trusted.*, or anything when not root), loses
		 * the attribute as tar does, with a trace of it. */
		if (errno == ENOTSUP || errno == EPERM || errno == ENOENT) {
			kiln_debug("extract: '/%s': xattr '%s' not set: %s", e->rel, name,
				   strerror(errno));
			continue;
		}
		return kiln_err(err, KILN_EIO, errno, "set xattr '%s'", name);
	}
	return 0;
}

/* What a new file already has right: attrs_set() skips those calls. */
enum attrs_done {
	ATTRS_OWNER_DONE = 1 << 0,
	ATTRS_MODE_DONE = 1 << 1,
};

/* Owner, mode, xattrs and times of anything but a directory (whose mode
 * and times wait for its contents) or a symlink (which has no mode). */
static int attrs_set(struct extract *x, const struct extract_entry *e, int fd, int pfd,
		     unsigned done, struct kiln_error *err)
{
	int ret;

	if (!(done & ATTRS_OWNER_DONE) && (ret = owner_set(x, e, fd, pfd, err)) < 0)
		return ret;
	/* mknodat() just made pfd/base, so the name is not a symlink: the
	 * fchmodat() that cannot refuse to follow one follows nothing */
	if (!(done & ATTRS_MODE_DONE) && (fd >= 0 ? fchmod(fd, e->mode & 07777)
						  : fchmodat(pfd, e->base, e->mode & 07777, 0)) < 0)
		return kiln_err(err, KILN_EIO, errno, "chmod");
	if ((ret = xattrs_set(e, fd, pfd, err)) < 0)
		return ret;
	if ((fd >= 0 ? futimens(fd, e->times)
		     : utimensat(pfd, e->base, e->times, AT_SYMLINK_NOFOLLOW)) < 0)
		return kiln_err(err, KILN_EIO, errno, "set times");
	return 0;
}

/* ------------------------------------------------------ making room */

/*
 * Run make() (a creation at pfd/base); when the name is taken, clear it
 * and try once more. Returns 0, 1 (a mount point or ignored path is in
 * the way: skip the entry), or a negative code.
 */
static int create_retry(struct extract *x, const struct extract_entry *e, int pfd,
			int (*make)(const struct extract_entry *e, int pfd, void *arg), void *arg,
			struct kiln_error *err)
{
	int r;

	if (make(e, pfd, arg) == 0)
		return 0;
	if (errno != EEXIST)
		return kiln_err(err, KILN_EIO, errno, "create");
	r = extract_clear(x, pfd, e->base, e->rel, false, err);
	if (r < 0)
		return r;
	if (r == EXTRACT_CLEAR_KEPT)
		return 1;
	if (make(e, pfd, arg) < 0)
		return kiln_err(err, KILN_EIO, errno, "create");
	return 0;
}

/* ----------------------------------------------------------- regular */

static int write_at(int fd, const char *buf, size_t len, off_t off, struct kiln_error *err)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return kiln_err(err, KILN_EIO, n < 0 ? errno : ENOSPC, "write");
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * Copy the entry's data to fd, feeding h (when not NULL) as it goes.
 * Sparse entries arrive as blocks at offsets: holes are left as holes and
 * h is dropped (*hashed false), since hashing a hostile terabyte of zeros
 * is not worth saving one read in the next snapshot.
 */
static int data_copy(struct extract *x, const struct extract_entry *e, int fd,
		     struct snapshot_hasher *h, bool *hashed, struct kiln_error *err)
{
	int64_t size = archive_entry_size(e->ae), pos = 0;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(e->a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (off != pos)
			*hashed = false;
		if (write_at(fd, buf, len, (off_t)off, err) < 0)
			return err->code;
		if (h && *hashed)
			snapshot_hasher_update(h, buf, len);
		pos = off + (int64_t)len;
		x->stats->bytes_data += len;
	}
	if (r != ARCHIVE_EOF)
		return kiln_err(err, KILN_EINVAL, 0, "read file data: %s",
				archive_error_string(e->a));
	if (size > pos) {
		*hashed = false;
		if (ftruncate(fd, (off_t)size) < 0)
			return kiln_err(err, KILN_EIO, errno, "extend to %lld bytes",
					(long long)size);
	}
	return 0;
}

struct new_file {
	int fd;
	mode_t mode;
};

static int make_file(const struct extract_entry *e, int pfd, void *arg)
{
	struct new_file *nf = arg;

	/* O_EXCL|O_NOFOLLOW: a symlink at the name fails with EEXIST
	 * instead of sending the content wherever it points. */
	nf->fd = openat(pfd, e->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			nf->mode);
	return nf->fd < 0 ? -1 : 0;
}

/*
 * What a file created by make_file() gets right by itself. The mode, when
 * it has no setuid/setgid/sticky bit and the umask takes nothing from it
 * (others get 0600 until the real mode is set after chown, so nobody runs
 * or reads a setuid file half written). The owner, when it is this
 * process's and the directory does not impose its group.
 */
static unsigned file_done(const struct extract *x, const struct extract_entry *e, mode_t *mode)
{
	mode_t perm = e->mode & 07777;
	unsigned done = 0;

	*mode = 0600;
	if (x->umask >= 0 && !(perm & 07000) && !(perm & (mode_t)x->umask)) {
		*mode = perm;
		done |= ATTRS_MODE_DONE;
	}
	if (x->opts.no_chown || (e->uid == x->euid && e->gid == x->egid && !x->cache_setgid))
		done |= ATTRS_OWNER_DONE;
	return done;
}

static int apply_file(struct extract *x, const struct extract_entry *e, int pfd,
		      struct kiln_error *err)
{
	struct snapshot_hasher *h = x->opts.seed ? snapshot_hasher_new() : NULL;
	struct snapshot_hash hash;
	struct extract_path *p;
	bool hashed = h != NULL;
	struct new_file nf = { .fd = -1 };
	unsigned done = file_done(x, e, &nf.mode);
	int ret;

	if ((ret = create_retry(x, e, pfd, make_file, &nf, err)) != 0)
		goto out;
	if ((ret = data_copy(x, e, nf.fd, h, &hashed, err)) < 0 ||
	    (ret = attrs_set(x, e, nf.fd, pfd, done, err)) < 0)
		goto out;
	if (h) {
		snapshot_hasher_finish(steal_ptr(&h), &hash);
		if ((ret = extract_seed(x, pfd, e->base, e->rel, hashed ? &hash : NULL, err)) < 0)
			goto out;
	}
	p = extract_paths_add(x, e->rel);
	if (hashed) {
		p->hash = hash;
		p->flags |= EXTRACT_PATH_HASHED;
	}
out:
	snapshot_hasher_free(h);
	close_fd(&nf.fd);
	return ret;
}

/* -------------------------------------------------------- directories */

static int apply_dir(struct extract *x, const struct extract_entry *e, int pfd,
		     struct kiln_error *err)
{
	int fd = -1, r, ret;

	/* 0700 until its contents are in (see struct extract_dir) */
	if (mkdirat(pfd, e->base, 0700) < 0) {
		if (errno != EEXIST)
			return kiln_err(err, KILN_EIO, errno, "mkdir");
		/* a directory over a directory merges; over anything else
		 * the old one goes */
		if ((r = extract_clear(x, pfd, e->base, e->rel, true, err)) < 0)
			return r;
		if (r == EXTRACT_CLEAR_KEPT)
			return 1;
		if (r == EXTRACT_CLEAR_FREE && mkdirat(pfd, e->base, 0700) < 0)
			return kiln_err(err, KILN_EIO, errno, "mkdir");
	}
	fd = openat(pfd, e->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open new directory");
	if ((ret = owner_set(x, e, fd, pfd, err)) == 0 && (ret = xattrs_set(e, fd, pfd, err)) == 0)
		extract_dir_queue(x, e->rel, true, e->mode, e->times);
	close_fd(&fd);
	return ret;
}

/* ----------------------------------------------------------- symlinks */

static int make_symlink(const struct extract_entry *e, int pfd, void *arg)
{
	(void)arg;
	/* the target is stored as written: it is only ever resolved inside
	 * ROOT (or by the container at run time) */
	return symlinkat(e->symlink, pfd, e->base);
}

static int apply_symlink(struct extract *x, const struct extract_entry *e, int pfd,
			 struct kiln_error *err)
{
	int ret;

	if (strlen(e->symlink) >= PATH_MAX)
		return kiln_err(err, KILN_EINVAL, 0, "symlink target too long");
	if ((ret = create_retry(x, e, pfd, make_symlink, NULL, err)) != 0)
		return ret;
	if ((ret = owner_set(x, e, -1, pfd, err)) < 0 || (ret = xattrs_set(e, -1, pfd, err)) < 0)
		return ret;
	if (utimensat(pfd, e->base, e->times, AT_SYMLINK_NOFOLLOW) < 0)
		return kiln_err(err, KILN_EIO, errno, "set times");
	return extract_seed(x, pfd, e->base, e->rel, NULL, err);
}

/* --------------------------------------------- FIFOs and device nodes */

static int make_node(const struct extract_entry *e, int pfd, void *arg)
{
	(void)arg;
	return mknodat(pfd, e->base, (e->mode & S_IFMT) | 0600, e->rdev);
}

static int apply_node(struct extract *x, const struct extract_entry *e, int pfd,
		      struct kiln_error *err)
{
	int ret = create_retry(x, e, pfd, make_node, NULL, err);

	/* Device nodes need CAP_MKNOD, which an unprivileged build does not
	 * have; like kaniko and rootless runtimes, go on without them. */
	if (ret < 0 && err->sys_errno == EPERM && !S_ISFIFO(e->mode)) {
		if (!x->warned_mknod)
			kiln_warn("cannot create device nodes here (not permitted): skipping "
				  "them, starting with '/%s'",
				  e->rel);
		x->warned_mknod = true;
		kiln_error_release(err);
		return 1;
	}
	if (ret != 0)
		return ret;
	if ((ret = attrs_set(x, e, -1, pfd, 0, err)) < 0)
		return ret;
	return extract_seed(x, pfd, e->base, e->rel, NULL, err);
}

/* ---------------------------------------------------------- hardlinks */

struct link_target {
	int fd;
	const char *base;
};

static int make_link(const struct extract_entry *e, int pfd, void *arg)
{
	const struct link_target *t = arg;

	/* no AT_SYMLINK_FOLLOW: a link to a symlink links the symlink */
	return linkat(t->fd, t->base, pfd, e->base, 0);
}

static int link_error(const struct extract_entry *e, struct kiln_error *err)
{
	int e_no = err->sys_errno;

	if (e_no == ENOENT)
		return kiln_err(err, KILN_EINVAL, 0, "hardlink target '/%s' not found in the root",
				e->hardlink);
	if (e_no == EPERM)
		return kiln_err(err, KILN_EINVAL, 0, "hardlink target '/%s' is a directory",
				e->hardlink);
	return kiln_err_prefix(err, "hardlink to '/%s'", e->hardlink);
}

/* The link and its target now share a new link count and ctime: both are
 * seeded again, with the content hash when this layer wrote the target. */
static int link_seed(struct extract *x, const struct extract_entry *e, int pfd,
		     const struct link_target *t, struct kiln_error *err)
{
	struct extract_path *p = extract_paths_find(x, e->hardlink);
	const struct snapshot_hash *h = p && (p->flags & EXTRACT_PATH_HASHED) ? &p->hash : NULL;
	struct snapshot_hash copy;
	int ret;

	if (!x->opts.seed)
		return 0;
	if (h)
		copy = *h;
	if ((ret = extract_seed(x, t->fd, t->base, e->hardlink, h ? &copy : NULL, err)) < 0 ||
	    (ret = extract_seed(x, pfd, e->base, e->rel, h ? &copy : NULL, err)) < 0)
		return ret;
	if (h) {
		p = extract_paths_add(x, e->rel);
		p->hash = copy;
		p->flags |= EXTRACT_PATH_HASHED;
	}
	return 0;
}

static int apply_hardlink(struct extract *x, const struct extract_entry *e, int pfd,
			  struct kiln_error *err)
{
	struct link_target t = { .fd = -1 };
	int ret;

	if (!strcmp(e->hardlink, e->rel))
		return 0; /* a link to itself is already there */
	/* an ignored target was never unpacked: skip the link as well */
	if (extract_is_ignored(x, e->hardlink))
		return 1;
	/* the target is resolved inside ROOT like any name, and must exist */
	t.fd = rootfs_open_parent(&t.base, &x->root, e->hardlink, false, err);
	if (t.fd < 0) {
		ret = link_error(e, err);
		goto out;
	}
	ret = create_retry(x, e, pfd, make_link, &t, err);
	if (ret < 0)
		ret = link_error(e, err);
	else if (ret == 0)
		ret = link_seed(x, e, pfd, &t, err);
out:
	close_fd(&t.fd);
	return ret;
}

/* ------------------------------------------------------------ dispatch */

static int apply_type(struct extract *x, const struct extract_entry *e, int pfd,
		      struct kiln_error *err)
{
	if (e->hardlink)
		return apply_hardlink(x, e, pfd, err);
	switch (e->mode & S_IFMT) {
	case S_IFREG:
		return apply_file(x, e, pfd, err);
	case S_IFDIR:
		return apply_dir(x, e, pfd, err);
	case S_IFLNK:
		return apply_symlink(x, e, pfd, err);
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
		return apply_node(x, e, pfd, err);
	case S_IFSOCK:
		return 1; /* a socket is only meaningful to the process that bound it */
	default:
		return kiln_err(err, KILN_EINVAL, 0, "unknown entry type 0%o",
				(unsigned)(e->mode & S_IFMT));
	}
}

int extract_entry_apply(struct extract *x, const struct extract_entry *e, struct kiln_error *err)
{
	int pfd = extract_parent(x, e->rel, err), ret;

	if (pfd < 0) {
		/* a mount point or an ignored directory on the way: leave it */
		if (err->sys_errno != EXDEV)
			return pfd;
		kiln_error_release(err);
		return 1;
	}
	if ((ret = apply_type(x, e, pfd, err)) != 0)
		return ret;
	extract_paths_add(x, e->rel)->flags |= EXTRACT_PATH_WRITTEN;
	extract_queue_parents(x, e->rel);
	return 0;
}
