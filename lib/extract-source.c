/*
 * extract-source.c: layer bytes in, tar bytes out to libarchive.
 *
 * Every byte read is hashed (sha256 of the blob as the registry stores
 * it), the compression is told by magic bytes rather than by a media type
 * a hostile registry could get wrong, and the stream is read to its end
 * even after the tar's end-of-archive blocks so the digest covers all of
 * it.
 */
#include "compat.h"
#include "extract-int.h"
#include "alloc.h"
#include "error.h"

#include <archive.h>

#define SOURCE_CHUNK (1024 * 1024)

struct extract_source {
	extract_read_fn *read;
	void *arg;
	struct kiln_sha256 sha;
	uint64_t bytes;
	char *buf;
	size_t pending; /* bytes of buf read for the magic check, not yet handed on */
	bool eof;
	struct kiln_error err; /* a read error, kept for the caller */
};

static ssize_t source_fill(struct extract_source *src, size_t len)
{
	ssize_t n;

	if (src->eof)
		return 0;
	n = src->read(src->arg, src->buf, len, &src->err);
	if (n < 0) {
		if (!src->err.code)
			kiln_err(&src->err, KILN_EIO, 0, "read the layer");
		return -1;
	}
	if (n == 0)
		src->eof = true;
	kiln_sha256_update(&src->sha, src->buf, (size_t)n);
	src->bytes += (uint64_t)n;
	return n;
}

static la_ssize_t source_read_cb(struct archive *a, void *data, const void **out)
{
	struct extract_source *src = data;
	ssize_t n;

	*out = src->buf;
	if (src->pending) {
		n = (ssize_t)src->pending;
		src->pending = 0;
		return n;
	}
	n = source_fill(src, SOURCE_CHUNK);
	if (n < 0)
		archive_set_error(a, EIO, "%s", kiln_error_msg(&src->err));
	return n;
}

/* Read until the first bytes can be told apart (or the stream ends). */
static int source_peek(struct extract_source *src)
{
	while (!src->eof && src->pending < 6) {
		ssize_t n = src->read(src->arg, src->buf + src->pending,
				      SOURCE_CHUNK - src->pending, &src->err);

		if (n < 0)
			return src->err.code ? src->err.code : KILN_EIO;
		if (n == 0)
			src->eof = true;
		kiln_sha256_update(&src->sha, src->buf + src->pending, (size_t)n);
		src->bytes += (uint64_t)n;
		src->pending += (size_t)n;
	}
	return 0;
}

static bool has_magic(const struct extract_source *src, const char *magic, size_t n)
{
	return src->pending >= n && !memcmp(src->buf, magic, n);
}

/* Enable exactly the decoder the magic bytes name: libarchive's own
 * bidding would also accept formats no layer uses (xz, rpm, ...). */
static int source_pick_filter(struct extract_source *src, struct archive *a, struct kiln_error *err)
{
	int r;

	if (has_magic(src, "\x1f\x8b", 2))
		r = archive_read_support_filter_gzip(a);
	else if (has_magic(src, "\x28\xb5\x2f\xfd", 4))
		r = archive_read_support_filter_zstd(a);
	else if (has_magic(src,
			   "\xfd"
			   "7zXZ",
			   5) ||
		 has_magic(src, "BZh", 3))
		return kiln_err(err, KILN_EINVAL, 0,
				"layer compression is neither gzip nor zstd (xz or bzip2?)");
	else
		r = archive_read_support_filter_none(a);
	/* ARCHIVE_WARN: libarchive would run an external program */
	if (r != ARCHIVE_OK)
		return kiln_err(err, KILN_EIO, 0, "layer decompressor unavailable: %s",
				archive_error_string(a));
	return 0;
}

int extract_source_open(struct extract_source **out, struct archive *a, extract_read_fn *read,
			void *arg, struct kiln_error *err)
{
	struct extract_source *src = xcalloc(1, sizeof(*src));
	int ret;

	src->read = read;
	src->arg = arg;
	src->buf = xmalloc(SOURCE_CHUNK);
	kiln_sha256_init(&src->sha);
	if ((ret = source_peek(src)) < 0) {
		kiln_err(err, ret, src->err.sys_errno, "%s", kiln_error_msg(&src->err));
		goto fail;
	}
	if ((ret = source_pick_filter(src, a, err)) < 0)
		goto fail;
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_open2(a, src, NULL, source_read_cb, NULL, NULL) != ARCHIVE_OK) {
		if (!extract_source_failed(src, err))
			kiln_err(err, KILN_EINVAL, 0, "not a tar layer: %s",
				 archive_error_string(a));
		ret = err->code;
		goto fail;
	}
	*out = src;
	return 0;
fail:
	extract_source_free(src);
	return ret;
}

int extract_source_finish(struct kiln_digest *digest, uint64_t *bytes, struct extract_source *src,
			  struct kiln_error *err)
{
	src->pending = 0;
	while (!src->eof) {
		if (source_fill(src, SOURCE_CHUNK) < 0) {
			extract_source_failed(src, err);
			return err->code;
		}
	}
	kiln_sha256_final(&src->sha, digest);
	*bytes = src->bytes;
	return 0;
}

bool extract_source_failed(struct extract_source *src, struct kiln_error *err)
{
	if (!src->err.code)
		return false;
	kiln_err(err, src->err.code, 0, "%s", kiln_error_msg(&src->err));
	return true;
}

void extract_source_free(struct extract_source *src)
{
	if (!src)
		return;
	kiln_sha256_release(&src->sha);
	kiln_error_release(&src->err);
	free(src->buf);
	free(src);
}
