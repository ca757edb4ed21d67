#include "compat.h"
#include "fileio.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "path.h"

#include <fcntl.h>
#include <sys/stat.h>

int kiln_atomic_file_open(struct kiln_atomic_file *f, const char *path, mode_t mode,
			  struct kiln_error *err)
{
	char *tmp = xasprintf("%s.kiln-tmp-XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);

	if (fd < 0) {
		int e = errno;

		free(tmp);
		return kiln_err(err, KILN_EIO, e, "create a temporary file beside '%s'", path);
	}
	if (fchmod(fd, mode) < 0) {
		int e = errno;

		close(fd);
		unlink(tmp);
		free(tmp);
		return kiln_err(err, KILN_EIO, e, "chmod a temporary file beside '%s'", path);
	}
	f->fd = fd;
	f->tmp = tmp;
	f->path = xstrdup(path);
	return 0;
}

static int fsync_parent(const char *path, struct kiln_error *err)
{
	struct kiln_buf dir = KILN_BUF_INIT;
	int fd, ret = 0;

	kiln_path_split(&dir, NULL, path);
	fd = open(dir.buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		ret = kiln_err(err, KILN_EIO, errno, "sync directory '%s'", dir.buf);
	close_fd(&fd);
	kiln_buf_release(&dir);
	return ret;
}

int kiln_atomic_file_commit(struct kiln_atomic_file *f, struct kiln_error *err)
{
	int ret = -1;

	if (!f->tmp) {
		fprintf(stderr, "kiln: bug: commit of an atomic file that is not open\n");
		abort();
	}
	if (fsync(f->fd) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "write '%s'", f->path);
		goto out;
	}
	if (close(steal_fd(&f->fd)) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "write '%s'", f->path);
		goto out;
	}
	if (rename(f->tmp, f->path) < 0) {
		ret = kiln_err(err, KILN_EIO, errno, "rename into '%s'", f->path);
		goto out;
	}
	xfree(&f->tmp);
	ret = fsync_parent(f->path, err);
out:
	kiln_atomic_file_abort(f);
	return ret;
}

void kiln_atomic_file_abort(struct kiln_atomic_file *f)
{
	close_fd(&f->fd);
	if (f->tmp)
		unlink(f->tmp);
	xfree(&f->tmp);
	xfree(&f->path);
}

int kiln_write_all(int fd, const void *data, size_t len, const char *what, struct kiln_error *err)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(err, KILN_EIO, errno, "write '%s'", what);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int kiln_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err)
{
	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
	int ret;

	ret = kiln_atomic_file_open(&f, path, mode, err);
	if (ret < 0)
		return ret;
	ret = kiln_write_all(f.fd, data, len, path, err);
	if (ret < 0) {
		kiln_atomic_file_abort(&f);
		return ret;
	}
	return kiln_atomic_file_commit(&f, err);
}

int kiln_file_read(struct kiln_buf *b, const char *path, size_t cap, struct kiln_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno, "open '%s'",
				path);
	ret = kiln_buf_read_fd(b, fd, cap, path, err);
	close_fd(&fd);
	return ret;
}

/* copy_file_range first: a reflink where the file system shares extents. */
int kiln_copy_fd(int out, int in, const char *what, struct kiln_error *err)
{
	char buf[64 * 1024];
	ssize_t n;

	for (;;) {
		n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n > 0)
			continue;
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		/* Not supported between these files: copy by hand. */
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
		    errno != EPERM)
			return kiln_err(err, KILN_EIO, errno, "copy %s", what);
		break;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_err(err, KILN_EIO, errno, "read %s", what);
		}
		if (kiln_write_all(out, buf, (size_t)n, what, err) < 0)
			return err->code;
	}
	return 0;
}

int kiln_file_read_digest(struct kiln_buf *b, const char *path, size_t cap,
			  const struct kiln_digest *d, struct kiln_error *err)
{
	struct kiln_digest got;
	size_t start = b->len;
	int ret = kiln_file_read(b, path, cap, err);

	if (ret < 0)
		return ret;
	kiln_digest_of(&got, b->buf + start, b->len - start);
	if (!kiln_digest_eq(&got, d))
		return kiln_err(err, KILN_EDIGEST, 0, "'%s' does not match its digest", path);
	return 0;
}
