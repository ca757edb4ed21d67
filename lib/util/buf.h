/*
 * buf.h: the one growable byte/string buffer (git's strbuf invariants).
 *
 * - buf is never NULL: an empty buffer points at a shared "" so it can be
 *   printed and compared without checks;
 * - buf[len] is always '\0', so text can be used as a C string, and
 *   binary data (which may hold NULs) is still fine through len;
 * - kiln_buf_detach() hands the memory to the caller.
 * Appends die on OOM and so return void. Anything read from the network or
 * from a layer goes through a reader that takes a size cap.
 *
 * Typical use:
 *	struct kiln_buf b = KILN_BUF_INIT;
 *	kiln_buf_addf(&b, "%s/%s", dir, name);
 *	use(b.buf);
 *	kiln_buf_release(&b);
 */
#ifndef KILN_BUF_H
#define KILN_BUF_H

#include "compat.h"

struct kiln_error;

struct kiln_buf {
	char *buf;
	size_t len;
	size_t alloc; /* 0 while buf points at the shared empty string */
};

extern char kiln_buf_empty[];
#define KILN_BUF_INIT                \
	{                            \
		kiln_buf_empty, 0, 0 \
	}

void kiln_buf_init(struct kiln_buf *b, size_t hint);
void kiln_buf_release(struct kiln_buf *b);
/* Give the memory to the caller (always malloc'd); b is empty after. */
char *kiln_buf_detach(struct kiln_buf *b, size_t *len);

/* Make room for at least extra more bytes (plus the NUL). */
void kiln_buf_grow(struct kiln_buf *b, size_t extra);
void kiln_buf_setlen(struct kiln_buf *b, size_t len);
static inline void kiln_buf_reset(struct kiln_buf *b)
{
	kiln_buf_setlen(b, 0);
}

void kiln_buf_add(struct kiln_buf *b, const void *data, size_t len);
void kiln_buf_addstr(struct kiln_buf *b, const char *s);
void kiln_buf_addch(struct kiln_buf *b, int c);
void kiln_buf_addbuf(struct kiln_buf *b, const struct kiln_buf *other);
void kiln_buf_addf(struct kiln_buf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
void kiln_buf_vaddf(struct kiln_buf *b, const char *fmt, va_list ap) KILN_PRINTF(2, 0);
/* Replace the contents with s. */
void kiln_buf_setstr(struct kiln_buf *b, const char *s);

/* Remove trailing whitespace / one trailing character c if present. */
void kiln_buf_rtrim(struct kiln_buf *b);
void kiln_buf_strip_suffix_ch(struct kiln_buf *b, int c);

bool kiln_buf_starts_with(const struct kiln_buf *b, const char *prefix);

/*
 * Append data only while the total stays within cap; otherwise append
 * nothing and fail with KILN_EINVAL naming what (e.g. "manifest from
 * 'host/repo'"). This is the guard for every read from the network or a
 * layer, where a hostile peer could otherwise make kiln allocate anything.
 */
int kiln_buf_add_capped(struct kiln_buf *b, const void *data, size_t len, size_t cap,
			const char *what, struct kiln_error *err);

/* Read fd to EOF, appending at most cap bytes (more is an error). */
int kiln_buf_read_fd(struct kiln_buf *b, int fd, size_t cap, const char *what,
		     struct kiln_error *err);

#endif
