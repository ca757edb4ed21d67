/*
 * copy-add.c: what ADD does beyond COPY: unpack a local tar archive and
 * download an http(s) URL.
 *
 * Unpacking follows Docker's (moby's chrooted Untar): the destination
 * directory acts as the root for every entry, so names are resolved inside
 * it (rootfs-path.h with the destination as root: a symlink an earlier
 * entry made is followed as if the destination were "/"), a name climbing
 * above it with ".." is refused, and so are a relative symlink target or a
 * hardlink target that leave it. Entries keep the archive's owners (or
 * take --chown), modes and times; no OCI whiteout meaning is given to
 * ".wh." names: an ADDed archive is user data, not a layer.
 */
#include "compat.h"
#include "copy-int.h"
#include "alloc.h"
#include "buf.h"
#include "error.h"
#include "fileio.h"
#include "log.h"
#include "path.h"
#include "registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>

/* The largest download ADD accepts: a URL must not fill the disk. */
#define COPY_MAX_DOWNLOAD (8ULL << 30)

static struct archive *archive_open(int fd)
{
	struct archive *a = archive_read_new();

	/* the compressions Docker's DecompressStream knows */
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (archive_read_open_fd(a, fd, 64 * 1024) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

bool copy_is_archive(int fd)
{
	struct archive *a = archive_open(fd);
	struct archive_entry *e;
	int r;

	if (!a)
		return false;
	/* as BuildKit: an archive is what yields a first tar header */
	r = archive_read_next_header(a, &e);
	archive_read_free(a);
	return r == ARCHIVE_OK || r == ARCHIVE_WARN;
}

struct dir_meta {
	char *rel;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec times[2];
};

struct unpack {
	struct copy_ctx *c;
	struct rootfs_dir d; /* the destination as root */
	struct archive *a;
	struct dir_meta *dirs;
	size_t nr_dirs, alloc_dirs;
};

static int clear_name(int pfd, const char *base, bool keep_dir, bool *is_dir,
		      struct kiln_error *err)
{
	struct stat st;

	*is_dir = false;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : kiln_err(err, KILN_EIO, errno, "stat");
	if (S_ISDIR(st.st_mode)) {
		if (keep_dir) {
			*is_dir = true;
			return 0;
		}
		return kiln_err(err, KILN_EINVAL, 0, "cannot replace a directory");
	}
	if (unlinkat(pfd, base, 0) < 0)
		return kiln_err(err, KILN_EIO, errno, "remove");
	return 0;
}

static int write_data(struct unpack *u, int fd, struct kiln_error *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(u->a, &buf, &len, &off)) == ARCHIVE_OK) {
		if (pwrite(fd, buf, len, off) != (ssize_t)len)
			return kiln_err(err, KILN_EIO, errno, "write");
	}
	if (r != ARCHIVE_EOF)
		return kiln_err(err, KILN_EIO, 0, "read archive: %s", archive_error_string(u->a));
	/* sparse entries may end in a hole */
	if (ftruncate(fd, lseek(fd, 0, SEEK_END)) < 0)
		return kiln_err(err, KILN_EIO, errno, "truncate");
	return 0;
}

static int entry_one(struct unpack *u, struct archive_entry *e, struct kiln_error *err)
{
	const struct copy_spec *s = u->c->s;
	struct kiln_buf rel = KILN_BUF_INIT, t = KILN_BUF_INIT;
	mode_t type = archive_entry_filetype(e), mode = archive_entry_perm(e) & 07777;
	uid_t uid = s->has_chown ? s->uid : (uid_t)archive_entry_uid(e);
	gid_t gid = s->has_chown ? s->gid : (gid_t)archive_entry_gid(e);
	struct timespec times[2] = {
		{ archive_entry_atime(e), archive_entry_atime_nsec(e) },
		{ archive_entry_mtime(e), archive_entry_mtime_nsec(e) },
	};
	const char *base, *hl = archive_entry_hardlink(e);
	bool is_dir;
	int pfd = -1, fd = -1, ret;

	if (!archive_entry_atime_is_set(e))
		times[0] = times[1];
	if ((ret = rootfs_name_clean(&rel, archive_entry_pathname(e), err)) < 0)
		goto out;
	if (!rel.len) /* "./": the destination itself keeps its metadata */
		goto out;
	pfd = rootfs_open_parent(&base, &u->d, rel.buf, true, err);
	if (pfd < 0) {
		ret = pfd;
		goto out;
	}
	if ((ret = clear_name(pfd, base, type == AE_IFDIR && !hl, &is_dir, err)) < 0)
		goto out;
	if (hl) {
		const char *tbase;
		int tfd;

		if ((ret = rootfs_name_clean(&t, hl, err)) < 0 || !t.len) {
			ret = kiln_err(err, KILN_EINVAL, 0,
				       "hardlink target '%s' is outside the archive", hl);
			goto out;
		}
		tfd = rootfs_open_parent(&tbase, &u->d, t.buf, false, err);
		if (tfd < 0) {
			ret = tfd;
			goto out;
		}
		ret = 0;
		if (linkat(tfd, tbase, pfd, base, 0) < 0)
			ret = kiln_err(err, KILN_EIO, errno, "hardlink to '%s'", hl);
		close(tfd);
		goto out;
	}
	switch (type) {
	case AE_IFDIR:
		if (!is_dir && mkdirat(pfd, base, 0700) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "mkdir");
			goto out;
		}
		/* mode, owner and times once its contents are in */
		if (u->nr_dirs == u->alloc_dirs) {
			u->alloc_dirs = u->alloc_dirs ? 2 * u->alloc_dirs : 16;
			u->dirs = xreallocarray(u->dirs, u->alloc_dirs, sizeof(*u->dirs));
		}
		u->dirs[u->nr_dirs++] = (struct dir_meta){
			kiln_buf_detach(&rel, NULL), mode, uid, gid, { times[0], times[1] }
		};
		goto out;
	case AE_IFREG:
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "create");
			goto out;
		}
		if ((ret = write_data(u, fd, err)) < 0)
			goto out;
		if ((!s->no_chown && fchown(fd, uid, gid) < 0) || fchmod(fd, mode) < 0 ||
		    futimens(fd, times) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "set metadata");
			goto out;
		}
		goto out;
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);

		if (!target)
			target = "";
		/* moby refuses a link whose relative target climbs out of
		 * the destination; an absolute one means the destination's
		 * root in its chroot */
		if (target[0] != '/') {
			struct kiln_buf dir = KILN_BUF_INIT;

			kiln_path_split(&dir, NULL, rel.buf);
			kiln_path_join(&t, dir.buf, target);
			kiln_buf_release(&dir);
			if (kiln_path_escapes(t.buf)) {
				ret = kiln_err(err, KILN_EINVAL, 0,
					       "symlink target '%s' is outside the destination",
					       target);
				goto out;
			}
		}
		if (symlinkat(target, pfd, base) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "symlink");
			goto out;
		}
		break;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		if (mknodat(pfd, base, type | 0600, archive_entry_rdev(e)) < 0 ||
		    fchmodat(pfd, base, mode, 0) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "mknod");
			goto out;
		}
		break;
	default:
		kiln_debug("ADD: entry '%s' of type %o skipped", rel.buf, (unsigned)type);
		goto out;
	}
	if ((!s->no_chown && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) ||
	    utimensat(pfd, base, times, AT_SYMLINK_NOFOLLOW) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "set metadata");
out:
	if (ret < 0)
		kiln_err_prefix(err, "archive entry '%s'", archive_entry_pathname(e));
	if (fd >= 0)
		close(fd);
	if (pfd >= 0)
		close(pfd);
	kiln_buf_release(&rel);
	kiln_buf_release(&t);
	return ret;
}

static int dirs_finish(struct unpack *u, struct kiln_error *err)
{
	/* deepest first is not needed: a directory's times change only when
	 * its entries do, and every entry is written by now */
	for (size_t i = u->nr_dirs; i-- > 0;) {
		struct dir_meta *m = &u->dirs[i];
		int pfd = rootfs_open_dir(&u->d, m->rel, false, err), fd;
		int ret = 0;

		if (pfd < 0)
			return kiln_err_prefix(err, "archive entry '%s'", m->rel);
		fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(pfd);
		if (fd < 0 || (!u->c->s->no_chown && fchown(fd, m->uid, m->gid) < 0) ||
		    fchmod(fd, m->mode) < 0 || futimens(fd, m->times) < 0)
			ret = kiln_err(err, KILN_EIO, errno, "archive entry '%s': set metadata",
				       m->rel);
		if (fd >= 0)
			close(fd);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int copy_extract(struct copy_ctx *c, int fd, const char *dst_rel, struct kiln_error *err)
{
	struct unpack u = { .c = c };
	struct archive_entry *e;
	int dfd, ret, r;

	dfd = copy_mkdir_all(c, dst_rel, err);
	if (dfd < 0)
		return dfd;
	rootfs_dir_init(&u.d, dfd);
	u.a = archive_open(fd);
	if (!u.a) {
		ret = kiln_err(err, KILN_EIO, 0, "open archive");
		goto out;
	}
	while ((r = archive_read_next_header(u.a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		if ((ret = entry_one(&u, e, err)) < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		ret = kiln_err(err, KILN_EINVAL, 0, "read archive: %s", archive_error_string(u.a));
		goto out;
	}
	ret = dirs_finish(&u, err);
out:
	for (size_t i = 0; i < u.nr_dirs; i++)
		free(u.dirs[i].rel);
	free(u.dirs);
	if (u.a)
		archive_read_free(u.a);
	close(dfd);
	return ret;
}

int copy_url_name(struct kiln_buf *out, const char *url, struct kiln_error *err)
{
	const char *p = strstr(url, "://");
	const char *path, *end, *slash;

	p = p ? p + 3 : url;
	path = strchr(p, '/');
	end = path ? path + strcspn(path, "?#") : NULL;
	if (path) {
		for (slash = end; slash > path && slash[-1] != '/'; slash--)
			;
		kiln_buf_reset(out);
		kiln_buf_add(out, slash, (size_t)(end - slash));
	}
	if (!path || !out->len || !strcmp(out->buf, ".") || !strcmp(out->buf, ".."))
		return kiln_err(
			err, KILN_EINVAL, 0,
			"cannot tell a file name from the URL; give the destination a file name");
	return 0;
}

static int sink_fd(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_write_all(*(int *)ctx, data, len, "download", err);
}

int copy_download(int *out, struct registry_download *d, struct copy_ctx *c, const char *url,
		  struct kiln_error *err)
{
	const struct copy_spec *s = c->s;
	char *tmp;
	int fd, ret;

	if (!s->client || !s->work_dir)
		return kiln_err(err, KILN_EINVAL, 0, "no HTTP client to download with");
	tmp = xasprintf("%s/add-XXXXXX", s->work_dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "create a file in '%s'", s->work_dir);
		free(tmp);
		return ret;
	}
	/* unlinked at once: nothing to clean up whatever happens */
	unlink(tmp);
	free(tmp);
	ret = registry_download(d, s->client, url, s->checksum, COPY_MAX_DOWNLOAD, sink_fd, &fd,
				err);
	if (ret == 0 && lseek(fd, 0, SEEK_SET) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "seek");
	if (ret < 0) {
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}
