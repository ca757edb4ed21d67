/*
 * stream.h: the writer chain layers and blobs flow through in one pass
 * (tar -> sha256 -> gzip -> sha256 -> file).
 *
 * A writer takes bytes and passes them, transformed or only observed, to
 * the next writer. Closing the head flushes and closes the whole chain, in
 * order. Each writer keeps a state: new (nothing written yet), open, closed
 * or failed. A failure moves the writer to failed and is returned to the
 * caller; writing to a closed or failed writer, or closing it twice, is a
 * bug in the caller and aborts. Writers never own the next writer: whoever
 * built the chain frees each link (any order, after use).
 *
 * Typical use:
 *	struct kiln_writer *file = kiln_fd_writer_new(fd, path);
 *	struct kiln_writer *sum = kiln_sha256_writer_new(file);
 *	if (kiln_writer_write(sum, data, len, err) < 0 ||
 *	    kiln_writer_close(sum, err) < 0)
 *		goto out;
 *	kiln_sha256_writer_digest(&digest, sum);
 *	...
 *	kiln_writer_free(sum);
 *	kiln_writer_free(file);
 */
#ifndef KILN_STREAM_H
#define KILN_STREAM_H

#include "compat.h"

struct kiln_buf;
struct kiln_digest;
struct kiln_error;
struct kiln_writer;

enum kiln_writer_state {
	KILN_WRITER_NEW,
	KILN_WRITER_OPEN,
	KILN_WRITER_CLOSED,
	KILN_WRITER_FAILED,
};

/* What a writer implementation provides; the base functions below check
 * the state, count bytes and call these. */
struct kiln_writer_ops {
	const char *name; /* "sha256", "gzip", "fd", ... for bug reports */
	int (*write)(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err);
	/* Flush what is buffered into w->next; the base closes next after. */
	int (*close)(struct kiln_writer *w, struct kiln_error *err);
	/* Free the implementation's state and w itself. */
	void (*free)(struct kiln_writer *w);
};

/* Embedded first in each implementation's struct. */
struct kiln_writer {
	const struct kiln_writer_ops *ops;
	struct kiln_writer *next; /* borrowed; NULL for a sink */
	enum kiln_writer_state state;
	uint64_t bytes; /* accepted by this writer so far */
};

/* For implementations: fill the base part of a new writer. */
void kiln_writer_init(struct kiln_writer *w, const struct kiln_writer_ops *ops,
		      struct kiln_writer *next);

int kiln_writer_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err);
/* Close w, then w->next, and so on to the sink. */
int kiln_writer_close(struct kiln_writer *w, struct kiln_error *err);
/* NULL-safe; does not touch w->next. */
void kiln_writer_free(struct kiln_writer *w);

/* Passes everything through to next and hashes it. */
struct kiln_writer *kiln_sha256_writer_new(struct kiln_writer *next);
/* The digest of everything written; w must be a closed sha256 writer. */
void kiln_sha256_writer_digest(struct kiln_digest *out, const struct kiln_writer *w);

/* Passes everything through to next, then tells fn the bytes passed on so
 * far: a reader following a file being written learns what it may read. */
typedef void kiln_tap_fn(void *ctx, uint64_t total);
struct kiln_writer *kiln_tap_writer_new(struct kiln_writer *next, kiln_tap_fn *fn, void *ctx);

/* A sink writing to fd (borrowed, not closed); what names it in errors. */
struct kiln_writer *kiln_fd_writer_new(int fd, const char *what);

/* A sink appending to b; more than cap bytes in total is an error. */
struct kiln_writer *kiln_buf_writer_new(struct kiln_buf *b, size_t cap, const char *what);

#endif
