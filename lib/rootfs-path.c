/*
 * rootfs-path.c: confined resolution of directories inside ROOT (see
 * rootfs-path.h for the rules and why).
 */
#include "compat.h"
#include "rootfs-path.h"
#include "buf.h"
#include "error.h"
#include "path.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

/* How often an openat2 answering EAGAIN (a rename or mount raced with a
 * RESOLVE_IN_ROOT walk) is retried before giving up. */
#define OPENAT2_RETRIES 16

void rootfs_dir_init(struct rootfs_dir *r, int root_fd)
{
	r->fd = root_fd;
	r->walk_fallback = false;
}

int rootfs_name_clean(struct kiln_buf *out, const char *name, struct kiln_error *err)
{
	const char *p = name;

	if (strlen(name) >= PATH_MAX)
		return kiln_err(err, KILN_EINVAL, 0, "name longer than %d bytes", PATH_MAX - 1);
	/* A leading "/" means "from ROOT": the name is relative to ROOT. */
	while (*p == '/')
		p++;
	kiln_path_clean(out, p);
	/* Refuse rather than clamp: "../etc/passwd" in a layer is an attack
	 * or a broken tool, and writing it to ROOT/etc/passwd would hide that. */
	if (kiln_path_escapes(out->buf))
		return kiln_err(err, KILN_EINVAL, 0, "name climbs above the root with '..'");
	if (!strcmp(out->buf, "."))
		kiln_buf_reset(out);
	return 0;
}

static int map_errno(int e)
{
	if (e == ENOENT)
		return KILN_ENOENT;
	if (e == ENOTDIR || e == ELOOP || e == EXDEV || e == ENAMETOOLONG)
		return KILN_EINVAL;
	return KILN_EIO;
}

/*
 * The kernel's confined lookup. RESOLVE_IN_ROOT treats ROOT as "/" for
 * absolute symlinks and "..", RESOLVE_NO_MAGICLINKS keeps /proc/<pid>/fd
 * style links (which point anywhere) out, RESOLVE_NO_XDEV refuses to cross
 * a mount point (a bind-mounted secret or /proc must never be written).
 * Returns an fd or -errno.
 */
static int openat2_dir(int root_fd, const char *rel)
{
	struct open_how how = {
		.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	for (int i = 0; i < OPENAT2_RETRIES; i++) {
		long fd = syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof(how));

		if (fd >= 0)
			return (int)fd;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return -EAGAIN;
}

/* The mount a directory fd lives on: its mount id when the kernel tells
 * (bind mounts of the same file system share st_dev), else st_dev. */
static int mount_of(uint64_t *out, int fd)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) < 0)
		return -errno;
	if (sx.stx_mask & STATX_MNT_ID)
		*out = sx.stx_mnt_id;
	else
		*out = ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor;
	return 0;
}

/* The user-space walk: state of one resolution. */
struct walk {
	int root_fd;
	uint64_t root_mnt;
	int cur;	      /* the directory reached so far */
	struct kiln_buf done; /* components reached, "a/b", to step back on ".." */
	struct kiln_buf todo; /* what is left to resolve */
	unsigned links;	      /* symlinks followed */
	bool create;	      /* make missing directories (mode 0755) */
};

/* Reopen done component by component from ROOT, never following a link:
 * each was a real directory when it was reached. */
static int walk_reopen(struct walk *w)
{
	const char *p = w->done.buf;
	int fd = openat(w->root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

	while (fd >= 0 && *p) {
		const char *end = strchrnul(p, '/');
		struct kiln_buf c = KILN_BUF_INIT;
		int next;

		kiln_buf_add(&c, p, (size_t)(end - p));
		next = openat(fd, c.buf, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		kiln_buf_release(&c);
		close_fd(&fd);
		fd = next;
		p = *end ? end + 1 : end;
	}
	if (fd < 0)
		return -errno;
	close_fd(&w->cur);
	w->cur = fd;
	return 0;
}

static int walk_dotdot(struct walk *w)
{
	char *slash = strrchr(w->done.buf, '/');

	/* ".." at ROOT stays at ROOT, as it does at "/" */
	if (!w->done.len)
		return 0;
	kiln_buf_setlen(&w->done, slash ? (size_t)(slash - w->done.buf) : 0);
	return walk_reopen(w);
}

/* A symlink met in the walk: its target is put in front of what is left;
 * an absolute target restarts from ROOT, never from the host's "/". */
static int walk_symlink(struct walk *w, int link_fd, const char *rest)
{
	char target[PATH_MAX];
	ssize_t n;
	struct kiln_buf todo = KILN_BUF_INIT;

	if (++w->links > ROOTFS_MAX_SYMLINKS)
		return -ELOOP;
	n = readlinkat(link_fd, "", target, sizeof(target));
	if (n < 0)
		return -errno;
	if ((size_t)n >= sizeof(target))
		return -ENAMETOOLONG;
	kiln_buf_add(&todo, target, (size_t)n);
	kiln_buf_addch(&todo, '/');
	kiln_buf_addstr(&todo, rest);
	kiln_buf_setstr(&w->todo, todo.buf);
	kiln_buf_release(&todo);
	if (target[0] == '/') {
		kiln_buf_reset(&w->done);
		return walk_reopen(w);
	}
	return 0;
}

/* Step into one ordinary component name. rest is what follows it. */
static int walk_step(struct walk *w, const char *name, const char *rest)
{
	struct stat st;
	uint64_t mnt = 0;
	int fd = openat(w->cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), ret;

	if (fd < 0 && errno == ENOENT && w->create) {
		/* EEXIST: made meanwhile; anything else shows at the open */
		mkdirat(w->cur, name, 0755);
		fd = openat(w->cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		ret = walk_symlink(w, fd, rest);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		ret = -ENOTDIR;
		goto out;
	}
	/* the same refusal as RESOLVE_NO_XDEV */
	if ((ret = mount_of(&mnt, fd)) < 0)
		goto out;
	if (mnt != w->root_mnt) {
		ret = -EXDEV;
		goto out;
	}
	if (w->done.len)
		kiln_buf_addch(&w->done, '/');
	kiln_buf_addstr(&w->done, name);
	close_fd(&w->cur);
	w->cur = steal_fd(&fd);
	kiln_buf_setstr(&w->todo, rest);
	ret = 0;
out:
	close_fd(&fd);
	return ret;
}

/* Take the first component off w->todo and resolve it. */
static int walk_next(struct walk *w)
{
	const char *p = w->todo.buf, *end;
	struct kiln_buf name = KILN_BUF_INIT, rest = KILN_BUF_INIT;
	int ret = 0;

	while (*p == '/')
		p++;
	end = strchrnul(p, '/');
	kiln_buf_add(&name, p, (size_t)(end - p));
	while (*end == '/')
		end++;
	/* copied out: todo is rewritten below and by walk_symlink() */
	kiln_buf_addstr(&rest, end);
	if (!name.len || !strcmp(name.buf, ".")) {
		kiln_buf_setstr(&w->todo, rest.buf);
	} else if (!strcmp(name.buf, "..")) {
		kiln_buf_setstr(&w->todo, rest.buf);
		ret = walk_dotdot(w);
	} else {
		ret = walk_step(w, name.buf, rest.buf);
	}
	kiln_buf_release(&name);
	kiln_buf_release(&rest);
	return ret;
}

/* The same resolution as openat2_dir(), one component at a time; with
 * create, missing directories are made on the way. */
static int walk_dir(int root_fd, const char *rel, bool create)
{
	struct walk w = { .root_fd = root_fd,
			  .cur = -1,
			  .done = KILN_BUF_INIT,
			  .todo = KILN_BUF_INIT,
			  .create = create };
	int ret;

	if ((w.cur = openat(root_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -errno;
	if ((ret = mount_of(&w.root_mnt, w.cur)) < 0)
		goto out;
	kiln_buf_setstr(&w.todo, rel);
	/* todo only grows when a link is followed, and links are counted */
	while (w.todo.len) {
		if ((ret = walk_next(&w)) < 0)
			goto out;
	}
	ret = steal_fd(&w.cur);
out:
	close_fd(&w.cur);
	kiln_buf_release(&w.done);
	kiln_buf_release(&w.todo);
	return ret;
}

/* Resolve without creating; -errno on failure. */
static int resolve_dir(struct rootfs_dir *r, const char *rel)
{
	if (!r->walk_fallback) {
		int fd = openat2_dir(r->fd, rel);

		/* ENOSYS: kernel before 5.6; EPERM: a seccomp profile that
		 * predates openat2. Either way the walk gives the same answer. */
		if (fd != -ENOSYS && fd != -EPERM)
			return fd;
		r->walk_fallback = true;
	}
	return walk_dir(r->fd, rel, false);
}

static int resolve_err(struct kiln_error *err, int neg_errno, const char *rel)
{
	const char *what = neg_errno == -EXDEV ? "crosses a mount point" : "cannot be opened";

	return kiln_err(err, map_errno(-neg_errno), -neg_errno, "directory '/%s' %s", rel, what);
}

int rootfs_open_dir(struct rootfs_dir *r, const char *rel, bool create, struct kiln_error *err)
{
	int fd = resolve_dir(r, rel);

	if (fd >= 0)
		return fd;
	/* Slow path, for parents a layer omits: the walk makes what is
	 * missing as it goes, so a dangling link gets its target made inside
	 * ROOT (as containerd does), never outside. */
	if (fd == -ENOENT && create && (fd = walk_dir(r->fd, rel, true)) >= 0)
		return fd;
	return resolve_err(err, fd, rel);
}

int rootfs_open_parent(const char **base, struct rootfs_dir *r, const char *rel, bool create,
		       struct kiln_error *err)
{
	const char *slash = strrchr(rel, '/');
	struct kiln_buf dir = KILN_BUF_INIT;
	int fd;

	if (!*rel)
		return kiln_err(err, KILN_EINVAL, 0, "the root has no parent");
	*base = slash ? slash + 1 : rel;
	if (slash)
		kiln_buf_add(&dir, rel, (size_t)(slash - rel));
	fd = rootfs_open_dir(r, dir.buf, create, err);
	kiln_buf_release(&dir);
	return fd;
}
