/*
 * build-root.c: where the build runs: ROOT, kiln's own directories, the
 * ignore list, and wiping ROOT between stages.
 *
 * ROOT "/" unpacks images over the executor's own filesystem: only safe
 * inside a container, so kiln refuses it when it sees no sign of one
 * (unless --force), and always when KILN_FORBID_ROOT_SLASH is set (the
 * test suite sets it so a test that forgets --rootfs cannot harm the
 * machine it runs on).
 */
#include "compat.h"
#include "build-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"
#include "mounts.h"
#include "path.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#define WIPE_MAX_DEPTH 512

static bool file_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool cgroup_says_container(void)
{
	struct kiln_buf text = KILN_BUF_INIT;
	struct kiln_error err = KILN_ERROR_INIT;
	static const char *const marks[] = { "docker", "kubepods", "containerd",
					     "libpod", "crio",	   "lxc" };
	bool found = false;

	if (kiln_file_read(&text, "/proc/1/cgroup", 1 << 20, &err) == 0) {
		for (size_t i = 0; i < KILN_ARRAY_SIZE(marks) && !found; i++)
			found = strstr(text.buf, marks[i]) != NULL;
	}
	kiln_error_release(&err);
	kiln_buf_release(&text);
	return found;
}

/* Any of the signs container runtimes leave. */
static bool in_container(void)
{
	return file_exists("/.dockerenv") || file_exists("/run/.containerenv") ||
	       getenv("KUBERNETES_SERVICE_HOST") || getenv("container") || cgroup_says_container();
}

static int check_root_slash(const struct build_options *o, struct kiln_error *err)
{
	const char *forbid = getenv("KILN_FORBID_ROOT_SLASH");

	if (forbid && *forbid && strcmp(forbid, "0")) {
		kiln_err(err, KILN_EINVAL, 0,
			 "refusing to build with ROOT '/': KILN_FORBID_ROOT_SLASH is set");
		return kiln_err_hint(err, "pass --rootfs DIR to build in a directory");
	}
	if (!o->force && !in_container()) {
		kiln_err(err, KILN_EINVAL, 0,
			 "refusing to unpack images over '/': this does not look like a container");
		return kiln_err_hint(err, "pass --rootfs DIR to build in a directory, or --force "
					  "if '/' is a disposable container filesystem");
	}
	return 0;
}

/* mkdir -p: --rootfs and --kiln-dir may name directories to be made. */
static int make_dir(const char *path, struct kiln_error *err)
{
	char *p = xstrdup(path);
	int ret = 0;

	for (char *s = p + 1; *s && ret == 0; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", p);
		*s = '/';
	}
	if (ret == 0 && mkdir(p, 0700) < 0 && errno != EEXIST)
		ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", p);
	free(p);
	return ret;
}

static int setup_kiln_dir(struct build *b, struct kiln_error *err)
{
	const char *dir = b->o->kiln_dir;

	if (!dir && b->isolate) {
		char tmpl[] = "/tmp/kiln-XXXXXX";

		if (!mkdtemp(tmpl))
			return kiln_err(err, KILN_EIO, errno, "mkdtemp '%s'", tmpl);
		b->kiln_dir = xstrdup(tmpl);
		b->kiln_dir_temp = true;
	} else {
		struct kiln_buf p = KILN_BUF_INIT;

		kiln_path_clean(&p, dir ? dir : "/kiln");
		b->kiln_dir = kiln_buf_detach(&p, NULL);
		if (make_dir(b->kiln_dir, err) < 0)
			return KILN_EIO;
	}
	if (b->isolate && kiln_path_is_beneath(b->root, b->kiln_dir))
		return kiln_err(err, KILN_EINVAL, 0, "--kiln-dir '%s' is inside --rootfs '%s'",
				b->kiln_dir, b->root);
	b->blob_dir = xasprintf("%s/blobs", b->kiln_dir);
	b->work_dir = xasprintf("%s/work", b->kiln_dir);
	b->stages_dir = xasprintf("%s/stages", b->kiln_dir);
	{
		char *sha = xasprintf("%s/sha256", b->blob_dir);
		int ret = make_dir(b->blob_dir, err) < 0 || make_dir(sha, err) < 0 ||
					  make_dir(b->work_dir, err) < 0 ||
					  make_dir(b->stages_dir, err) < 0
				  ? KILN_EIO
				  : 0;

		free(sha);
		return ret;
	}
}

static void ignore_add(struct build *b, const char *path)
{
	struct kiln_buf p = KILN_BUF_INIT;

	kiln_path_join(&p, "/", path);
	if (strcmp(p.buf, "/") && !kiln_strvec_contains(&b->ignore, p.buf))
		kiln_strvec_push(&b->ignore, p.buf);
	kiln_buf_release(&p);
}

/* kaniko's list: its own dir, kernel filesystems, mount points, /var/run. */
static int setup_ignore(struct build *b, struct kiln_error *err)
{
	const struct build_options *o = b->o;

	for (size_t i = 0; i < o->ignore_paths.nr; i++)
		ignore_add(b, o->ignore_paths.v[i]);
	if (b->isolate)
		return 0;
	ignore_add(b, b->kiln_dir);
	ignore_add(b, "/proc");
	ignore_add(b, "/sys");
	ignore_add(b, "/dev");
	ignore_add(b, "/etc/mtab");
	ignore_add(b, "/busybox");
	if (o->ignore_var_run)
		ignore_add(b, "/var/run");
	{
		struct kiln_strvec mounts = KILN_STRVEC_INIT;

		if (kiln_mounts_under(&mounts, "/", err) < 0)
			return KILN_EIO;
		for (size_t i = 0; i < mounts.nr; i++)
			ignore_add(b, mounts.v[i]);
		kiln_strvec_clear(&mounts);
	}
	return 0;
}

static int open_root(struct build *b, struct kiln_error *err)
{
	if (b->isolate) {
		char *real;

		if (make_dir(b->o->rootfs, err) < 0)
			return kiln_err_prefix(err, "--rootfs");
		real = realpath(b->o->rootfs, NULL);
		if (!real)
			return kiln_err(err, KILN_EIO, errno, "--rootfs '%s'", b->o->rootfs);
		if (!strcmp(real, "/")) {
			free(real);
			return kiln_err(err, KILN_EINVAL, 0,
					"--rootfs '/' is the machine's own root; leave --rootfs "
					"out inside a container");
		}
		b->root = real;
	} else {
		b->root = xstrdup("/");
	}
	b->root_fd = open(b->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->root_fd < 0)
		return kiln_err(err, KILN_EIO, errno, "open ROOT '%s'", b->root);
	/* the directory is the image's "/": a mktemp -d 0700 would lock every
	 * non-root USER out of the whole tree */
	if (b->isolate && fchmod(b->root_fd, 0755) < 0)
		return kiln_err(err, KILN_EIO, errno, "chmod ROOT '%s'", b->root);
	return 0;
}

int root_setup(struct build *b, struct kiln_error *err)
{
	b->root_fd = -1;
	b->isolate = b->o->rootfs != NULL;
	if (!b->isolate && check_root_slash(b->o, err) < 0)
		return KILN_EINVAL;
	if (open_root(b, err) < 0 || setup_kiln_dir(b, err) < 0 || setup_ignore(b, err) < 0)
		return -1;
	kiln_debug("ROOT '%s', kiln dir '%s', %zu ignored paths", b->root, b->kiln_dir,
		   b->ignore.nr);
	return 0;
}

static bool is_ignored(const struct build *b, const char *rel)
{
	for (size_t i = 0; i < b->ignore.nr; i++) {
		if (kiln_path_is_beneath(b->ignore.v[i], rel))
			return true;
	}
	return false;
}

struct wipe {
	const struct build *b;
	dev_t dev;
	struct kiln_buf path; /* from ROOT, "/a/b" */
};

/* The names in the directory fd (not "." or ".."), read before any is
 * removed or moved. */
static int dir_names(struct kiln_strvec *out, int fd, struct kiln_error *err)
{
	int dup_fd = dup(fd);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return kiln_err(err, KILN_EIO, errno, "read directory");
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			kiln_strvec_push(out, de->d_name);
	}
	closedir(d);
	return 0;
}

static int wipe_dir(struct wipe *w, int fd, unsigned depth, struct kiln_error *err);

/* Remove dfd/name unless it is ignored or another filesystem's mount
 * point (kept, with whatever leads to it). */
static int wipe_entry(struct wipe *w, int dfd, const char *name, unsigned depth,
		      struct kiln_error *err)
{
	size_t mark = w->path.len;
	struct stat st;
	int ret = 0;

	kiln_buf_addf(&w->path, "/%s", name);
	if (is_ignored(w->b, w->path.buf) || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		int fd;

		if (st.st_dev != w->dev || depth >= WIPE_MAX_DEPTH)
			goto out;
		fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "open '%s'", w->path.buf);
			goto out;
		}
		ret = wipe_dir(w, fd, depth + 1, err);
		close(fd);
		if (ret == 0 && unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOTEMPTY &&
		    errno != EBUSY)
			ret = kiln_err(err, KILN_EIO, errno, "remove '%s'", w->path.buf);
	} else if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT) {
		ret = kiln_err(err, KILN_EIO, errno, "remove '%s'", w->path.buf);
	}
out:
	kiln_buf_setlen(&w->path, mark);
	return ret;
}

static int wipe_dir(struct wipe *w, int fd, unsigned depth, struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	int ret = dir_names(&names, fd, err);

	if (ret < 0)
		return kiln_err_prefix(err, "'%s'", w->path.len ? w->path.buf : "/");
	for (size_t i = 0; i < names.nr && ret == 0; i++)
		ret = wipe_entry(w, fd, names.v[i], depth, err);
	kiln_strvec_clear(&names);
	return ret;
}

int root_wipe(struct build *b, struct kiln_error *err)
{
	struct wipe w = { .b = b, .path = KILN_BUF_INIT };
	struct stat st;
	int ret;

	if (fstat(b->root_fd, &st) < 0)
		return kiln_err(err, KILN_EIO, errno, "stat ROOT '%s'", b->root);
	w.dev = st.st_dev;
	ret = wipe_dir(&w, b->root_fd, 0, err);
	kiln_buf_release(&w.path);
	return ret;
}

int root_move_aside(bool *moved, struct build *b, const char *dir, struct kiln_error *err)
{
	struct kiln_strvec names = KILN_STRVEC_INIT;
	struct stat rs, ds;
	int dfd = -1, ret = 0;

	*moved = false;
	/* only a --rootfs directory with nothing kept in it: in "/" the
	 * container's mounts live inside the top-level directories */
	if (!b->isolate || b->ignore.nr)
		return 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return kiln_err(err, KILN_EIO, errno, "mkdir '%s'", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return kiln_err(err, KILN_EIO, errno, "open '%s'", dir);
	if (fstat(b->root_fd, &rs) < 0 || fstat(dfd, &ds) < 0 || rs.st_dev != ds.st_dev)
		goto out; /* another filesystem: the caller wipes, the tree is rebuilt */
	if ((ret = dir_names(&names, b->root_fd, err)) < 0)
		goto out;
	for (size_t i = 0; i < names.nr && ret == 0; i++) {
		if (renameat(b->root_fd, names.v[i], dfd, names.v[i]) < 0)
			ret = kiln_err(err, KILN_EIO, errno, "move '/%s' to '%s'", names.v[i], dir);
	}
	*moved = ret == 0;
out:
	kiln_strvec_clear(&names);
	close_fd(&dfd);
	return ret;
}

int root_remove_tree(int dirfd, const char *name, struct kiln_error *err)
{
	struct build none = { .ignore = KILN_STRVEC_INIT };
	struct wipe w = { .b = &none, .path = KILN_BUF_INIT };
	struct stat st;
	int ret;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err(err, KILN_EIO, errno, "stat '%s'", name);
	w.dev = st.st_dev;
	ret = wipe_entry(&w, dirfd, name, 0, err);
	kiln_buf_release(&w.path);
	return ret;
}

void root_release(struct build *b)
{
	close_fd(&b->root_fd);
	if (b->kiln_dir_temp) {
		struct kiln_error err = KILN_ERROR_INIT;

		if (root_remove_tree(AT_FDCWD, b->kiln_dir, &err) < 0)
			kiln_warn("could not remove '%s': %s", b->kiln_dir, kiln_error_msg(&err));
		kiln_error_release(&err);
	}
	free(b->root);
	free(b->kiln_dir);
	free(b->blob_dir);
	free(b->work_dir);
	free(b->stages_dir);
	kiln_strvec_clear(&b->ignore);
}
