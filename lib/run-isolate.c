/*
 * run-isolate.c: the mounts of a --rootfs step.
 *
 * The parent (in kiln's own mount namespace) finds every mount target
 * inside ROOT with the rootfs resolver and creates the missing ones. The
 * child, in its new mount namespace (fds opened before it belong to the
 * old one, where mount(2) refuses them), resolves each target's parent
 * again and mounts onto "/proc/self/fd/N/base": the resolver keeps the
 * parent inside ROOT, and the last component is checked not to be a
 * symlink. After the step, the parent removes what it created and puts
 * the parents' mtimes back, so the snapshot finds no trace of the mount
 * points.
 */
#include "compat.h"
#include "run.h"
#include "run-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"
#include "rootfs-path.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

/* Host files a step reads; copies keep a step from writing the host's. */
#define RUN_HOST_FILE_CAP (1u << 20)

/* The parent's times, read through an fd opened from the O_PATH dfd. */
static void parent_times(struct timespec t[2], int dfd)
{
	struct stat st;

	if (fstatat(dfd, "", &st, AT_EMPTY_PATH) < 0) {
		t[0].tv_nsec = t[1].tv_nsec = UTIME_OMIT;
		return;
	}
	t[0] = st.st_atim;
	t[1] = st.st_mtim;
}

/* Create base (a directory or an empty file) in dfd, and record it. */
static int make_point(struct run_setup *su, int dfd, const char *base, const char *rel, bool dir,
		      struct kiln_error *err)
{
	struct run_made *m;
	struct timespec after[2];
	int fd;

	if (su->nr_made == su->alloc_made) {
		su->alloc_made = su->alloc_made ? 2 * su->alloc_made : 8;
		su->made = xreallocarray(su->made, su->alloc_made, sizeof(*su->made));
	}
	m = &su->made[su->nr_made];
	parent_times(m->parent_times, dfd);
	if (dir) {
		if (mkdirat(dfd, base, 0755) < 0)
			return kiln_err(err, KILN_EIO, errno, "create mount point '/%s'", rel);
	} else {
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0)
			return kiln_err(err, KILN_EIO, errno, "create mount point '/%s'", rel);
		close(fd);
	}
	parent_times(after, dfd);
	m->parent_after = after[1];
	m->rel = xstrdup(rel);
	m->dir = dir;
	su->nr_made++;
	return 0;
}

/* mkdir -p for the components of rel before its last one. */
static int make_parents(struct run_setup *su, struct rootfs_dir *r, const char *rel,
			struct kiln_error *err)
{
	struct kiln_buf prefix = KILN_BUF_INIT;
	const char *slash, *base;
	struct stat st;
	int dfd, ret = 0;

	for (const char *p = rel; ret == 0 && (slash = strchr(p, '/')); p = slash + 1) {
		kiln_buf_reset(&prefix);
		kiln_buf_add(&prefix, rel, (size_t)(slash - rel));
		dfd = rootfs_open_parent(&base, r, prefix.buf, false, err);
		if (dfd < 0) {
			ret = dfd;
			break;
		}
		/* an existing component (even a symlink: the resolver follows it
		 * inside ROOT) is left alone */
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			ret = make_point(su, dfd, base, prefix.buf, true, err);
		close(dfd);
	}
	kiln_buf_release(&prefix);
	return ret;
}

/* The target must be missing (made here) or of the right type, and never a
 * symlink: mounting through one could land outside ROOT. */
static int check_point(struct run_setup *su, int dfd, const char *base, const char *rel, bool dir,
		       struct kiln_error *err)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return kiln_err(err, KILN_EIO, errno, "mount point '/%s'", rel);
		return make_point(su, dfd, base, rel, dir, err);
	}
	if (S_ISLNK(st.st_mode))
		return kiln_err(err, KILN_EINVAL, 0, "mount point '/%s' in ROOT is a symlink", rel);
	if (dir != !!S_ISDIR(st.st_mode))
		return kiln_err(err, KILN_EINVAL, 0, "mount point '/%s' in ROOT is not a %s", rel,
				dir ? "directory" : "file");
	return 0;
}

static struct run_mount *mount_push(struct run_setup *su)
{
	if (su->nr == su->alloc) {
		su->alloc = su->alloc ? 2 * su->alloc : 8;
		su->m = xreallocarray(su->m, su->alloc, sizeof(*su->m));
	}
	su->m[su->nr] = (struct run_mount){ 0 };
	return &su->m[su->nr++];
}

/* Prepare one mount of tmpl's kind onto target. */
static int add_mount(struct run_setup *su, struct rootfs_dir *r, const struct run_mount *tmpl,
		     const char *target, bool dir, struct kiln_error *err)
{
	struct kiln_buf rel = KILN_BUF_INIT;
	struct run_mount *m;
	const char *base;
	int dfd = -1, ret = rootfs_name_clean(&rel, target, err);

	if (ret == 0 && !rel.len)
		ret = kiln_err(err, KILN_EINVAL, 0, "cannot mount over ROOT itself");
	if (ret == 0)
		ret = make_parents(su, r, rel.buf, err);
	if (ret == 0)
		ret = dfd = rootfs_open_parent(&base, r, rel.buf, false, err);
	if (ret >= 0)
		ret = check_point(su, dfd, base, rel.buf, dir, err);
	if (ret == 0) {
		m = mount_push(su);
		*m = *tmpl;
		m->rel = kiln_buf_detach(&rel, NULL);
	}
	close_fd(&dfd);
	kiln_buf_release(&rel);
	return ret;
}

/* Copy a host file (/etc/hosts) into work_dir; *copy NULL when the host
 * has none. */
static int copy_host_file(char **copy, const char *work_dir, const char *host, const char *name,
			  struct kiln_error *err)
{
	struct kiln_buf data = KILN_BUF_INIT;
	int ret;

	if (access(host, F_OK) < 0)
		return 0;
	*copy = xasprintf("%s/%s", work_dir, name);
	ret = kiln_file_read(&data, host, RUN_HOST_FILE_CAP, err);
	if (ret == 0)
		ret = kiln_file_write_atomic(*copy, data.buf, data.len, 0644, err);
	kiln_buf_release(&data);
	return ret;
}

/* /etc/hosts and /etc/resolv.conf: only when ROOT has an /etc; a symlink
 * there (resolv.conf -> /run/...) is left as the image made it, since
 * refusing would fail the build for an image's own choice. */
static int add_etc_file(struct run_setup *su, struct rootfs_dir *r, const char *copy,
			const char *target, struct kiln_error *err)
{
	struct run_mount tmpl = { .kind = RUN_MOUNT_BIND, .source = copy };
	const char *base;
	struct stat st;
	int dfd;

	if (!copy)
		return 0;
	dfd = rootfs_open_parent(&base, r, target + 1, false, err);
	if (dfd < 0) {
		kiln_error_release(err);
		return 0;
	}
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		kiln_debug("RUN: '%s' in ROOT is not a regular file; not replaced", target);
		close(dfd);
		return 0;
	}
	close(dfd);
	return add_mount(su, r, &tmpl, target, false, err);
}

static int add_binds(struct run_setup *su, struct rootfs_dir *r, const struct run_spec *s,
		     struct kiln_error *err)
{
	for (size_t i = 0; i < s->nr_binds; i++) {
		const struct run_bind *b = &s->binds[i];
		struct run_mount tmpl = { .kind = RUN_MOUNT_BIND,
					  .source = b->source,
					  .read_only = b->read_only,
					  .recursive = true };
		struct stat st;
		int ret;

		if (stat(b->source, &st) < 0)
			return kiln_err(err, KILN_ENOENT, errno, "bind source '%s'", b->source);
		ret = add_mount(su, r, &tmpl, b->target, S_ISDIR(st.st_mode), err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int run_setup_prepare(struct run_setup *su, const struct run_spec *s, int root_fd,
		      struct kiln_error *err)
{
	static const struct run_mount proc = { .kind = RUN_MOUNT_PROC },
				      dev = { .kind = RUN_MOUNT_DEV },
				      sys = { .kind = RUN_MOUNT_SYS,
					      .source = "/sys",
					      .read_only = true };
	struct rootfs_dir r;
	int ret;

	rootfs_dir_init(&r, root_fd);
	ret = add_mount(su, &r, &dev, "/dev", true, err);
	if (ret == 0)
		ret = add_mount(su, &r, &proc, "/proc", true, err);
	if (ret == 0)
		ret = add_mount(su, &r, &sys, "/sys", true, err);
	if (ret == 0)
		ret = copy_host_file(&su->hosts, s->work_dir, "/etc/hosts", "hosts", err);
	if (ret == 0)
		ret = copy_host_file(&su->resolv, s->work_dir, "/etc/resolv.conf", "resolv.conf",
				     err);
	if (ret == 0)
		ret = add_etc_file(su, &r, su->hosts, "/etc/hosts", err);
	if (ret == 0)
		ret = add_etc_file(su, &r, su->resolv, "/etc/resolv.conf", err);
	if (ret == 0)
		ret = add_binds(su, &r, s, err);
	return ret;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Put the parent's times back as they were before the mount point was
 * made; the caller checked that nothing else changed the parent since. */
static void restore_parent(int dfd, const struct run_made *m)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (futimens(fd, m->parent_times) < 0)
		kiln_debug("RUN: restoring times of the parent of '/%s': %s", m->rel,
			   strerror(errno));
	close(fd);
}

/* Is the mount point still what kiln made: the same type, and for a file
 * still empty? */
static bool still_ours(int dfd, const char *base, const struct run_made *m)
{
	struct stat st;

	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	if (m->dir)
		return S_ISDIR(st.st_mode);
	return S_ISREG(st.st_mode) && st.st_size == 0;
}

/* Remove one mount point unless the step put something in it (a directory
 * that is no longer empty stays: it is part of the step's result). */
static void remove_point(struct rootfs_dir *r, const struct run_made *m)
{
	struct kiln_error ignored = KILN_ERROR_INIT;
	struct timespec now[2] = { { 0, 0 }, { 0, 0 } };
	const char *base;
	bool untouched;
	int dfd = rootfs_open_parent(&base, r, m->rel, false, &ignored);

	kiln_error_release(&ignored);
	if (dfd < 0)
		return;
	parent_times(now, dfd);
	untouched = same_time(&now[1], &m->parent_after);
	if (!still_ours(dfd, base, m))
		kiln_debug("RUN: '/%s' was replaced by the step; kept", m->rel);
	else if (unlinkat(dfd, base, m->dir ? AT_REMOVEDIR : 0) < 0)
		kiln_debug("RUN: keeping '/%s': %s", m->rel, strerror(errno));
	else if (untouched)
		restore_parent(dfd, m);
	close(dfd);
}

void run_setup_cleanup(struct run_setup *su, int root_fd)
{
	struct rootfs_dir r;

	rootfs_dir_init(&r, root_fd);
	for (size_t i = su->nr_made; i-- > 0;)
		remove_point(&r, &su->made[i]);
}

void run_setup_release(struct run_setup *su)
{
	for (size_t i = 0; i < su->nr; i++) {
		free(su->m[i].rel);
	}
	for (size_t i = 0; i < su->nr_made; i++)
		free(su->made[i].rel);
	free(su->m);
	free(su->made);
	free(su->hosts);
	free(su->resolv);
	*su = (struct run_setup){ 0 };
}

/* ---- in the child ---- */

/* Where a mount goes: "/proc/self/fd/N/base", N the target's parent
 * resolved inside ROOT in this namespace. */
struct target {
	int dfd;
	char path[64 + NAME_MAX];
};

static int mount_fail(int rep_fd, const struct run_mount *m, const char *what)
{
	char detail[200];

	snprintf(detail, sizeof(detail), "%s on /%s", what, m->rel);
	run_report_send(rep_fd, RUN_STAGE_MOUNT, errno, detail);
	return -1;
}

static int target_open(struct target *t, struct rootfs_dir *r, const struct run_mount *m,
		       int rep_fd)
{
	const char *base;
	struct stat st;

	t->dfd = rootfs_open_parent(&base, r, m->rel, false, NULL);
	if (t->dfd < 0) {
		errno = ENOENT;
		return mount_fail(rep_fd, m, "resolve");
	}
	if (fstatat(t->dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISLNK(st.st_mode)) {
		errno = S_ISLNK(st.st_mode) ? ELOOP : errno;
		close_fd(&t->dfd);
		return mount_fail(rep_fd, m, "resolve");
	}
	snprintf(t->path, sizeof(t->path), "/proc/self/fd/%d/%s", t->dfd, base);
	return 0;
}

/* A bind mount is made writable whatever MS_RDONLY says; read-only takes a
 * remount, which must keep the flags the kernel locked on the source. */
static int remount_ro(const char *path)
{
	static const struct {
		unsigned long st, ms;
	} keep[] = { { ST_NOSUID, MS_NOSUID },	       { ST_NODEV, MS_NODEV },
		     { ST_NOEXEC, MS_NOEXEC },	       { ST_NOATIME, MS_NOATIME },
		     { ST_NODIRATIME, MS_NODIRATIME }, { ST_RELATIME, MS_RELATIME } };
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return -1;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(keep); i++)
		if (sv.f_flag & keep[i].st)
			flags |= keep[i].ms;
	return mount(NULL, path, NULL, flags, NULL);
}

static int mount_bind(int rep_fd, const struct run_mount *m, const char *path)
{
	if (mount(m->source, path, NULL, MS_BIND | (m->recursive ? MS_REC : 0), NULL) < 0)
		return mount_fail(rep_fd, m, m->source);
	if (m->read_only && remount_ro(path) < 0)
		return mount_fail(rep_fd, m, "read-only remount");
	return 0;
}

/* The nodes a build needs, bound from the host's /dev (mknod may be
 * forbidden where kiln runs; a bind needs no CAP_MKNOD). */
static int dev_nodes(int rep_fd, const struct run_mount *m, const char *dir)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = { { "fd", "/proc/self/fd" },
						{ "stdin", "/proc/self/fd/0" },
						{ "stdout", "/proc/self/fd/1" },
						{ "stderr", "/proc/self/fd/2" },
						{ "ptmx", "pts/ptmx" } };
	char src[64], dst[PATH_MAX];
	int fd;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(nodes); i++) {
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, nodes[i]);
		if (access(src, F_OK) < 0)
			continue;
		fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 || close(fd) < 0 || mount(src, dst, NULL, MS_BIND, NULL) < 0)
			return mount_fail(rep_fd, m, src);
	}
	for (size_t i = 0; i < KILN_ARRAY_SIZE(links); i++) {
		snprintf(dst, sizeof(dst), "%s/%s", dir, links[i][0]);
		if (symlink(links[i][1], dst) < 0)
			return mount_fail(rep_fd, m, links[i][0]);
	}
	snprintf(dst, sizeof(dst), "%s/shm", dir);
	if (mkdir(dst, 01777) < 0 || chmod(dst, 01777) < 0)
		return mount_fail(rep_fd, m, "shm");
	snprintf(dst, sizeof(dst), "%s/pts", dir);
	if (mkdir(dst, 0755) < 0)
		return mount_fail(rep_fd, m, "pts");
	/* terminals are a nicety for a build: no devpts is not an error */
	mount("devpts", dst, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
	return 0;
}

static int mount_at(int rep_fd, const struct run_mount *m, const char *path)
{
	switch (m->kind) {
	case RUN_MOUNT_PROC:
		if (mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return mount_fail(rep_fd, m, "proc");
		return 0;
	case RUN_MOUNT_DEV:
		if (mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755") < 0)
			return mount_fail(rep_fd, m, "tmpfs");
		return dev_nodes(rep_fd, m, path);
	case RUN_MOUNT_SYS:
	case RUN_MOUNT_BIND:
		return mount_bind(rep_fd, m, path);
	}
	return 0;
}

static int mount_all(const struct run_setup *su, struct rootfs_dir *r, int rep_fd)
{
	for (size_t i = 0; i < su->nr; i++) {
		struct target t;
		int ret;

		if (target_open(&t, r, &su->m[i], rep_fd) < 0)
			return -1;
		ret = mount_at(rep_fd, &su->m[i], t.path);
		close(t.dfd);
		if (ret < 0)
			return -1;
	}
	return 0;
}

int run_setup_mount(const struct run_setup *su, const char *root, int rep_fd)
{
	struct rootfs_dir r;
	int root_fd, ret;

	/* nothing mounted below may propagate back to kiln's namespace */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		run_report_send(rep_fd, RUN_STAGE_MOUNT, errno, "make / private");
		return -1;
	}
	root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root_fd < 0) {
		run_report_send(rep_fd, RUN_STAGE_MOUNT, errno, root);
		return -1;
	}
	rootfs_dir_init(&r, root_fd);
	ret = mount_all(su, &r, rep_fd);
	close(root_fd);
	return ret;
}
