/*
 * fileio.h: whole-file reads with a size cap, and atomic writes.
 *
 * An output path either holds the complete new content or what it held
 * before: content goes to a temporary file in the same directory, is
 * fsync'd, and is renamed over the target; the directory is fsync'd so the
 * rename survives a crash. A failed or abandoned write leaves no partial
 * file behind (kiln's rule: nothing half-written looks complete).
 *
 * Typical use (streaming):
 *	struct kiln_atomic_file f = KILN_ATOMIC_FILE_INIT;
 *	if (kiln_atomic_file_open(&f, path, 0644, err) < 0) ...
 *	write(f.fd, ...);
 *	ret = kiln_atomic_file_commit(&f, err);   // or _abort() on failure
 */
#ifndef KILN_FILEIO_H
#define KILN_FILEIO_H

#include "compat.h"

struct kiln_buf;
struct kiln_digest;
struct kiln_error;

struct kiln_atomic_file {
	int fd;	    /* write here */
	char *path; /* the final path */
	char *tmp;  /* the temporary file, NULL once committed or aborted */
};

#define KILN_ATOMIC_FILE_INIT  \
	{                      \
		-1, NULL, NULL \
	}

int kiln_atomic_file_open(struct kiln_atomic_file *f, const char *path, mode_t mode,
			  struct kiln_error *err);
/* fsync, rename into place, fsync the directory. Aborts on failure. */
int kiln_atomic_file_commit(struct kiln_atomic_file *f, struct kiln_error *err);
/* Remove the temporary file; safe to call after commit or twice. */
void kiln_atomic_file_abort(struct kiln_atomic_file *f);

int kiln_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
			   struct kiln_error *err);

/* Append the file's content to b; more than cap bytes is an error. */
int kiln_file_read(struct kiln_buf *b, const char *path, size_t cap, struct kiln_error *err);

/* kiln_file_read(), then the bytes must hash to d (EDIGEST otherwise). */
int kiln_file_read_digest(struct kiln_buf *b, const char *path, size_t cap,
			  const struct kiln_digest *d, struct kiln_error *err);

/* Copy what is left of in to out (both at their offsets). */
int kiln_copy_fd(int out, int in, const char *what, struct kiln_error *err);

/* write(2) the whole buffer, retrying on EINTR and short writes. */
int kiln_write_all(int fd, const void *data, size_t len, const char *what, struct kiln_error *err);

#endif
