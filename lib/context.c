/*
 * The build context: a directory as it is, or a tarball (a file, stdin, an
 * http(s) URL) unpacked into kiln's work directory; then the Dockerfile
 * and its .dockerignore.
 */
#include "compat.h"
#include "context.h"
#include "alloc.h"
#include "buf.h"
#include "dockerignore.h"
#include "error.h"
#include "fileio.h"
#include "path.h"
#include "registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

/* An https context is someone else's file: a cap keeps it from filling
 * the disk, set well above any sane context. */
#define CONTEXT_DOWNLOAD_MAX (8ull << 30)
/* The Dockerfile is parsed in memory. */
#define DOCKERFILE_MAX (16u << 20)

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* "scheme://..." with a scheme of letters, digits, '+', '-', '.'. */
static bool has_scheme(const char *s)
{
	const char *p = s;

	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	       (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')))
		p++;
	return p > s && has_prefix(p, "://");
}

static bool is_url(const char *s)
{
	return has_prefix(s, "https://") || has_prefix(s, "http://");
}

static int real_path(char **out, const char *path, struct kiln_error *err)
{
	*out = realpath(path, NULL);
	if (!*out)
		return kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
				"context '%s'", path);
	return 0;
}

/* ---------------------------------------------------------------- unpack */

/*
 * The name an entry gets below dest: clean, relative, not climbing out.
 * An absolute name or a ".." escape refuses the whole tarball, as a
 * context never legitimately holds one. libarchive's SECURE flags check
 * again, and keep writes from going through a symlink the tarball made.
 */
static int entry_name(struct kiln_buf *out, const char *dest, const char *name, const char *what,
		      struct kiln_error *err)
{
	struct kiln_buf clean = KILN_BUF_INIT;
	int ret = 0;

	kiln_path_clean(&clean, name);
	if (name[0] == '/' || kiln_path_escapes(clean.buf))
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "%s '%s' would be written outside the context directory", what,
			       name);
	kiln_buf_reset(out);
	kiln_buf_addf(out, "%s/%s", dest, clean.buf);
	kiln_buf_release(&clean);
	return ret;
}

/* libarchive's errno when it is one (it also reports -1 for its own). */
static int sys_errno(struct archive *a)
{
	int e = archive_errno(a);

	return e > 0 ? e : 0;
}

static int copy_entry_data(struct archive *in, struct archive *out, const char *name,
			   struct kiln_error *err)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;

	while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK) {
		if (archive_write_data_block(out, buf, len, off) < ARCHIVE_WARN)
			return kiln_err(err, KILN_EIO, sys_errno(out), "write '%s': %s", name,
					archive_error_string(out));
	}
	if (r != ARCHIVE_EOF)
		return kiln_err(err, KILN_EINVAL, 0, "read '%s': %s", name,
				archive_error_string(in));
	return 0;
}

/* Unpack the tar(.gz, .zst) read from fd into the directory dest (real
 * path, no symlinks in it, so that libarchive's symlink check applies
 * only to what the tarball creates). */
static int unpack_fd(const char *dest, int fd, const char *what, struct kiln_error *err)
{
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	struct kiln_buf name = KILN_BUF_INIT, link = KILN_BUF_INIT, orig = KILN_BUF_INIT;
	struct archive_entry *ae;
	/* Not SECURE_NOABSOLUTEPATHS: names reach libarchive already checked
	 * by entry_name() and prefixed with dest, so they are absolute. */
	int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
		    ARCHIVE_EXTRACT_SECURE_SYMLINKS;
	int r, ret = 0;

	if (!in || !out) {
		ret = kiln_err(err, KILN_EIO, ENOMEM, "libarchive");
		goto out;
	}
	/* Owners as the archive says, numerically (not looked up by name in
	 * kiln's /etc/passwd); only root may give files away. */
	if (geteuid() == 0)
		flags |= ARCHIVE_EXTRACT_OWNER;
	/* Only built-in decompressors: never an external program. */
	if (archive_read_support_filter_gzip(in) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(in) != ARCHIVE_OK ||
	    archive_read_support_filter_none(in) != ARCHIVE_OK ||
	    archive_read_support_format_tar(in) != ARCHIVE_OK ||
	    archive_write_disk_set_options(out, flags) != ARCHIVE_OK ||
	    archive_read_open_fd(in, fd, 128 * 1024) != ARCHIVE_OK) {
		ret = kiln_err(err, KILN_EINVAL, 0, "read context tarball %s: %s", what,
			       archive_error_string(in));
		goto out;
	}
	while ((r = archive_read_next_header(in, &ae)) == ARCHIVE_OK) {
		const char *p = archive_entry_pathname(ae), *h = archive_entry_hardlink(ae);

		if (!p) {
			ret = kiln_err(err, KILN_EINVAL, 0, "an entry without a name");
			goto bad;
		}
		/* Kept for messages: setting the new name frees p. */
		kiln_buf_setstr(&orig, p);
		p = orig.buf;
		if ((ret = entry_name(&name, dest, p, "entry", err)) < 0)
			goto bad;
		archive_entry_set_pathname(ae, name.buf);
		if (h) {
			if ((ret = entry_name(&link, dest, h, "hardlink target", err)) < 0)
				goto bad;
			archive_entry_set_hardlink(ae, link.buf);
		}
		r = archive_write_header(out, ae);
		if (r < ARCHIVE_WARN) {
			ret = kiln_err(err, KILN_EINVAL, sys_errno(out), "entry '%s': %s", p,
				       archive_error_string(out));
			goto bad;
		}
		if (archive_entry_size(ae) > 0 && (ret = copy_entry_data(in, out, p, err)) < 0)
			goto bad;
		if (archive_write_finish_entry(out) < ARCHIVE_WARN) {
			ret = kiln_err(err, KILN_EIO, sys_errno(out), "entry '%s': %s", p,
				       archive_error_string(out));
			goto bad;
		}
	}
	if (r != ARCHIVE_EOF) {
		ret = kiln_err(err, KILN_EINVAL, 0, "read context tarball %s: %s", what,
			       archive_error_string(in));
		goto out;
	}
	/* Directory modes and times are set at close. */
	if (archive_write_close(out) != ARCHIVE_OK) {
		ret = kiln_err(err, KILN_EIO, sys_errno(out), "unpack context tarball %s: %s", what,
			       archive_error_string(out));
		goto out;
	}
	goto out;
bad:
	kiln_err_prefix(err, "context tarball %s", what);
out:
	archive_read_free(in);
	archive_write_free(out);
	kiln_buf_release(&name);
	kiln_buf_release(&link);
	kiln_buf_release(&orig);
	return ret;
}

static int write_to_fd(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_write_all(*(int *)ctx, data, len, "the context download", err);
}

/* Unpack spec's tarball into <work_dir>/context; *dir gets its real path. */
static int unpack(char **dir, const char *spec, const char *work_dir, struct registry_client *c,
		  struct kiln_error *err)
{
	struct kiln_buf dest = KILN_BUF_INIT, file = KILN_BUF_INIT, what = KILN_BUF_INIT;
	struct registry_download dl = REGISTRY_DOWNLOAD_INIT;
	int fd = -1, ret;

	kiln_buf_addf(&dest, "%s/context", work_dir);
	if (mkdir(dest.buf, 0755) < 0 && errno != EEXIST) {
		ret = kiln_err(err, KILN_EIO, errno, "mkdir '%s'", dest.buf);
		goto out;
	}
	if ((ret = real_path(dir, dest.buf, err)) < 0)
		goto out;
	if (!strcmp(spec, "tar://stdin")) {
		kiln_buf_addstr(&what, "from stdin");
		ret = unpack_fd(*dir, STDIN_FILENO, what.buf, err);
		goto out;
	}
	kiln_buf_addf(&what, "'%s'", spec);
	if (is_url(spec)) {
		if (!c) {
			ret = kiln_err(err, KILN_EINVAL, 0,
				       "context '%s': no client to download it", spec);
			goto out;
		}
		kiln_buf_addf(&file, "%s/context.tar", work_dir);
		fd = open(file.buf, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "create '%s'", file.buf);
			goto out;
		}
		if ((ret = registry_download(&dl, c, spec, NULL, CONTEXT_DOWNLOAD_MAX, write_to_fd,
					     &fd, err)) < 0) {
			kiln_err_prefix(err, "download context");
			goto out;
		}
		if (lseek(fd, 0, SEEK_SET) < 0) {
			ret = kiln_err(err, KILN_EIO, errno, "seek '%s'", file.buf);
			goto out;
		}
	} else {
		const char *path = has_prefix(spec, "tar://") ? spec + 6 : spec;

		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
				       "context tarball '%s'", path);
			goto out;
		}
	}
	ret = unpack_fd(*dir, fd, what.buf, err);
out:
	close_fd(&fd);
	if (file.len)
		unlink(file.buf); /* unpacked: the tarball is not needed any more */
	registry_download_release(&dl);
	kiln_buf_release(&dest);
	kiln_buf_release(&file);
	kiln_buf_release(&what);
	return ret;
}

/* ---------------------------------------------------------------- open */

static int apply_sub_path(char **dir, const char *sub, struct kiln_error *err)
{
	struct kiln_buf clean = KILN_BUF_INIT, joined = KILN_BUF_INIT;
	char *real = NULL;
	struct stat st;
	int ret = 0;

	kiln_path_clean(&clean, sub);
	/* Checked again after symlinks are resolved: a link in the context
	 * must not lead the build elsewhere either. */
	if (sub[0] == '/' || kiln_path_escapes(clean.buf)) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "context sub-path '%s' is not a path inside the context", sub);
		goto out;
	}
	kiln_buf_addf(&joined, "%s/%s", *dir, clean.buf);
	real = realpath(joined.buf, NULL);
	if (!real) {
		ret = kiln_err(err, errno == ENOENT ? KILN_ENOENT : KILN_EIO, errno,
			       "context sub-path '%s'", sub);
		goto out;
	}
	if (!kiln_path_is_beneath(*dir, real)) {
		ret = kiln_err(err, KILN_EINVAL, 0,
			       "context sub-path '%s' leads out of the context", sub);
		goto out;
	}
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		ret = kiln_err(err, KILN_EINVAL, 0, "context sub-path '%s' is not a directory",
			       sub);
		goto out;
	}
	free(*dir);
	*dir = steal_ptr(&real);
out:
	free(real);
	kiln_buf_release(&clean);
	kiln_buf_release(&joined);
	return ret;
}

int context_open(struct build_context *out, const char *spec, const char *sub_path,
		 const char *work_dir, struct registry_client *c, struct kiln_error *err)
{
	char *dir = NULL;
	struct stat st;
	int ret;

	if (!spec || !*spec)
		return kiln_err(err, KILN_EINVAL, 0, "no build context; pass --context");
	if (has_prefix(spec, "dir://")) {
		ret = real_path(&dir, spec + 6, err);
	} else if (has_prefix(spec, "tar://") || is_url(spec)) {
		ret = unpack(&dir, spec, work_dir, c, err);
	} else if (has_scheme(spec)) {
		return kiln_err(err, KILN_EINVAL, 0, "not supported yet: context '%s'", spec);
	} else if (stat(spec, &st) == 0 && S_ISREG(st.st_mode)) {
		ret = unpack(&dir, spec, work_dir, c, err);
	} else {
		ret = real_path(&dir, spec, err);
	}
	if (ret < 0)
		goto out;
	if (sub_path && *sub_path && (ret = apply_sub_path(&dir, sub_path, err)) < 0)
		goto out;
	out->fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (out->fd < 0) {
		ret = kiln_err(err, errno == ENOTDIR ? KILN_EINVAL : KILN_EIO, errno,
			       "context directory '%s'", dir);
		goto out;
	}
	out->dir = steal_ptr(&dir);
out:
	free(dir);
	return ret;
}

/* ----------------------------------------------------------- Dockerfile */

/* ctx->ignore from the ignore file that applies, NULL when there is none. */
static int load_ignore(struct kiln_dockerignore **out, const char *dir, const char *dockerfile,
		       struct kiln_error *err)
{
	char *file = NULL;
	int ret = kiln_dockerignore_pick(&file, dir, dockerfile, err);

	if (ret == 0 && file)
		ret = kiln_dockerignore_load(out, dir, dockerfile, err);
	free(file);
	return ret;
}

static int add_to_buf(void *ctx, const void *data, size_t len, struct kiln_error *err)
{
	return kiln_buf_add_capped(ctx, data, len, DOCKERFILE_MAX, "Dockerfile", err);
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int context_read_dockerfile(struct kiln_buf *text, char **name, struct build_context *ctx,
			    const char *dockerfile, struct registry_client *c,
			    struct kiln_error *err)
{
	struct registry_download dl = REGISTRY_DOWNLOAD_INIT;
	struct kiln_buf path = KILN_BUF_INIT;
	struct kiln_dockerignore *ignore = NULL;
	int ret;

	if (!dockerfile || !*dockerfile)
		dockerfile = "Dockerfile";
	if (!strcmp(dockerfile, "-"))
		return kiln_err(err, KILN_EINVAL, 0,
				"not supported yet: a Dockerfile from stdin (--dockerfile -)");
	if (is_url(dockerfile)) {
		if (!c)
			return kiln_err(err, KILN_EINVAL, 0,
					"Dockerfile '%s': no client to download it", dockerfile);
		if ((ret = registry_download(&dl, c, dockerfile, NULL, DOCKERFILE_MAX, add_to_buf,
					     text, err)) < 0) {
			kiln_err_prefix(err, "download Dockerfile");
			goto out;
		}
		/* No file beside it: only the context's .dockerignore applies. */
		if ((ret = load_ignore(&ignore, ctx->dir, NULL, err)) < 0)
			goto out;
		kiln_buf_addstr(&path, dockerfile);
		goto done;
	}
	if (dockerfile[0] == '/') {
		kiln_buf_addstr(&path, dockerfile);
	} else {
		kiln_buf_addf(&path, "%s/%s", ctx->dir, dockerfile);
		/* kaniko's fallback: a path relative to where kiln was started. */
		if (!exists(path.buf) && exists(dockerfile)) {
			char *real = realpath(dockerfile, NULL);

			kiln_buf_setstr(&path, real ? real : dockerfile);
			free(real);
		}
	}
	if (!exists(path.buf)) {
		ret = kiln_err(err, KILN_ENOENT, 0, "Dockerfile '%s' not found in the context '%s'",
			       dockerfile, ctx->dir);
		kiln_err_hint(err, "pass --dockerfile");
		goto out;
	}
	if ((ret = kiln_file_read(text, path.buf, DOCKERFILE_MAX, err)) < 0 ||
	    (ret = load_ignore(&ignore, ctx->dir, path.buf, err)) < 0)
		goto out;
done:
	kiln_dockerignore_free(ctx->ignore);
	ctx->ignore = steal_ptr(&ignore);
	*name = kiln_buf_detach(&path, NULL);
out:
	kiln_dockerignore_free(ignore);
	registry_download_release(&dl);
	kiln_buf_release(&path);
	return ret;
}

void context_release(struct build_context *ctx)
{
	xfree(&ctx->dir);
	close_fd(&ctx->fd);
	kiln_dockerignore_free(ctx->ignore);
	ctx->ignore = NULL;
}
