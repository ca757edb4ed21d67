/*
 * rootfs-path.h: names inside ROOT, resolved without ever leaving it.
 *
 * A layer, a COPY source or a WORKDIR names a path "inside ROOT", and
 * ROOT's own symlinks were written by whoever built the base image: both
 * are hostile input. Resolution therefore follows the OCI/Docker rule: a
 * symlink met on the way is followed as if ROOT were "/" (so an absolute
 * link such as /lib -> /usr/lib stays inside), ".." never climbs above
 * ROOT, and no mount point is crossed. The kernel does this with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_XDEV); where openat2 is missing or
 * filtered by a seccomp profile (older container runtimes answer ENOSYS or
 * EPERM) an equivalent component walk in user space does the same.
 *
 * Only directories are resolved here. The last component of a name is
 * always handled by the caller with *at() calls relative to the directory
 * returned, with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, so a symlink planted
 * where a file is to be written is replaced, never followed.
 *
 * Typical use:
 *	struct rootfs_dir r;
 *	rootfs_dir_init(&r, root_fd);
 *	if (rootfs_name_clean(&rel, name, err) < 0) ...        // "a/b/c"
 *	if (rootfs_open_parent(&dfd, &base, &r, rel.buf, true, err) < 0) ...
 *	mkdirat(dfd, base, 0755);
 */
#ifndef KILN_ROOTFS_PATH_H
#define KILN_ROOTFS_PATH_H

#include "compat.h"

struct kiln_buf;
struct kiln_error;

/* The most symlinks one resolution follows, as the kernel's MAXSYMLINKS. */
#define ROOTFS_MAX_SYMLINKS 40

struct rootfs_dir {
	int fd;		    /* ROOT, borrowed (O_PATH or O_DIRECTORY) */
	bool walk_fallback; /* openat2 unusable here: walk components in user space */
};

/* Use root_fd as ROOT; probes nothing: the first resolution finds out
 * whether openat2 works and sets walk_fallback if not (tests set it to
 * check that the walk obeys the same rules). */
void rootfs_dir_init(struct rootfs_dir *r, int root_fd);

/*
 * Turn a name as written in a layer or by a user into a clean name
 * relative to ROOT: leading "/" and "./" stripped, "//" and "." removed,
 * "a/.." folded. A name that climbs above ROOT ("../x", "a/../../x",
 * "/../x") is refused with KILN_EINVAL: no legitimate layer needs it, and
 * refusing is clearer than silently writing somewhere else. ROOT itself
 * becomes "". Names longer than PATH_MAX are refused too.
 */
int rootfs_name_clean(struct kiln_buf *out, const char *name, struct kiln_error *err);

/*
 * Open the directory rel (a cleaned name, "" for ROOT) inside ROOT,
 * following symlinks as if ROOT were "/". With create, missing components
 * are made (mode 0755, as Docker and tar do for parents a layer omits).
 * Returns an O_PATH directory fd, or a negative KILN_E* code: KILN_ENOENT
 * when a component is missing (and !create), KILN_EINVAL when a component
 * is not a directory, a link loops, or a mount point would be crossed
 * (sys_errno EXDEV says which).
 */
int rootfs_open_dir(struct rootfs_dir *r, const char *rel, bool create, struct kiln_error *err);

/*
 * Split rel ("a/b/c") and open its parent ("a/b") as rootfs_open_dir()
 * does; *base points into rel at the last component ("c"). rel must not be
 * "" (ROOT has no parent inside ROOT). Returns the fd or a negative code.
 */
int rootfs_open_parent(const char **base, struct rootfs_dir *r, const char *rel, bool create,
		       struct kiln_error *err);

#endif
