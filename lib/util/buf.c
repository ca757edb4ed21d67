#include "compat.h"
#include "buf.h"
#include "alloc.h"
#include "error.h"

char kiln_buf_empty[1];

void kiln_buf_init(struct kiln_buf *b, size_t hint)
{
	b->buf = kiln_buf_empty;
	b->len = 0;
	b->alloc = 0;
	if (hint)
		kiln_buf_grow(b, hint);
}

void kiln_buf_release(struct kiln_buf *b)
{
	if (b->alloc)
		free(b->buf);
	kiln_buf_init(b, 0);
}

char *kiln_buf_detach(struct kiln_buf *b, size_t *len)
{
	char *p;

	if (len)
		*len = b->len;
	if (!b->alloc)
		return xstrdup("");
	p = b->buf;
	kiln_buf_init(b, 0);
	return p;
}

void kiln_buf_grow(struct kiln_buf *b, size_t extra)
{
	size_t need = st_add(st_add(b->len, extra), 1);
	size_t alloc;
	bool fresh = !b->alloc;

	if (need <= b->alloc)
		return;
	alloc = b->alloc ? b->alloc : 64;
	while (alloc < need)
		alloc = alloc < need / 2 ? need : st_add(alloc, alloc / 2 + 16);
	b->buf = xrealloc(fresh ? NULL : b->buf, alloc);
	b->alloc = alloc;
	if (fresh)
		b->buf[0] = '\0';
}

void kiln_buf_setlen(struct kiln_buf *b, size_t len)
{
	if (!b->alloc) {
		if (len == 0)
			return;
		kiln_buf_grow(b, len);
	}
	if (len >= b->alloc) {
		fprintf(stderr, "kiln: bug: kiln_buf_setlen(%zu) beyond %zu\n", len, b->alloc);
		abort();
	}
	b->len = len;
	b->buf[len] = '\0';
}

void kiln_buf_add(struct kiln_buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	kiln_buf_grow(b, len);
	memcpy(b->buf + b->len, data, len);
	kiln_buf_setlen(b, b->len + len);
}

void kiln_buf_addstr(struct kiln_buf *b, const char *s)
{
	kiln_buf_add(b, s, strlen(s));
}

void kiln_buf_addch(struct kiln_buf *b, int c)
{
	kiln_buf_grow(b, 1);
	b->buf[b->len] = (char)c;
	kiln_buf_setlen(b, b->len + 1);
}

void kiln_buf_addbuf(struct kiln_buf *b, const struct kiln_buf *other)
{
	kiln_buf_add(b, other->buf, other->len);
}

void kiln_buf_vaddf(struct kiln_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	kiln_buf_grow(b, 64);
	va_copy(cp, ap);
	n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, cp);
	va_end(cp);
	if (n < 0) {
		fprintf(stderr, "kiln: bug: bad format string '%s'\n", fmt);
		abort();
	}
	if ((size_t)n >= b->alloc - b->len) {
		kiln_buf_grow(b, (size_t)n);
		n = vsnprintf(b->buf + b->len, b->alloc - b->len, fmt, ap);
	}
	kiln_buf_setlen(b, b->len + (size_t)n);
}

void kiln_buf_addf(struct kiln_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kiln_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void kiln_buf_setstr(struct kiln_buf *b, const char *s)
{
	kiln_buf_reset(b);
	kiln_buf_addstr(b, s);
}

void kiln_buf_rtrim(struct kiln_buf *b)
{
	size_t len = b->len;

	while (len && (b->buf[len - 1] == ' ' || b->buf[len - 1] == '\t' ||
		       b->buf[len - 1] == '\n' || b->buf[len - 1] == '\r'))
		len--;
	kiln_buf_setlen(b, len);
}

void kiln_buf_strip_suffix_ch(struct kiln_buf *b, int c)
{
	if (b->len && b->buf[b->len - 1] == (char)c)
		kiln_buf_setlen(b, b->len - 1);
}

bool kiln_buf_starts_with(const struct kiln_buf *b, const char *prefix)
{
	size_t n = strlen(prefix);

	return b->len >= n && memcmp(b->buf, prefix, n) == 0;
}

int kiln_buf_add_capped(struct kiln_buf *b, const void *data, size_t len, size_t cap,
			const char *what, struct kiln_error *err)
{
	if (len > cap || b->len > cap - len)
		return kiln_err(err, KILN_EINVAL, 0, "%s is larger than the limit of %zu bytes",
				what, cap);
	kiln_buf_add(b, data, len);
	return 0;
}

int kiln_buf_read_fd(struct kiln_buf *b, int fd, size_t cap, const char *what,
		     struct kiln_error *err)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_err(err, KILN_EIO, errno, "read %s", what);
		if (n == 0)
			return 0;
		if (kiln_buf_add_capped(b, chunk, (size_t)n, cap, what, err) < 0)
			return err ? err->code : KILN_EINVAL;
	}
}
