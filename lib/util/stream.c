#include "compat.h"
#include "stream.h"
#include "alloc.h"
#include "buf.h"
#include "digest.h"
#include "error.h"
#include "fileio.h"

static KILN_NORETURN void writer_bug(const struct kiln_writer *w, const char *what)
{
	static const char *const states[] = { "new", "open", "closed", "failed" };

	fprintf(stderr, "kiln: bug: %s on a %s %s writer\n", what, states[w->state], w->ops->name);
	abort();
}

void kiln_writer_init(struct kiln_writer *w, const struct kiln_writer_ops *ops,
		      struct kiln_writer *next)
{
	w->ops = ops;
	w->next = next;
	w->state = KILN_WRITER_NEW;
	w->bytes = 0;
}

int kiln_writer_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err)
{
	int ret;

	if (w->state != KILN_WRITER_NEW && w->state != KILN_WRITER_OPEN)
		writer_bug(w, "write");
	w->state = KILN_WRITER_OPEN;
	if (!len)
		return 0;
	ret = w->ops->write(w, data, len, err);
	if (ret < 0) {
		w->state = KILN_WRITER_FAILED;
		return ret;
	}
	w->bytes += len;
	return 0;
}

int kiln_writer_close(struct kiln_writer *w, struct kiln_error *err)
{
	int ret = 0;

	if (w->state != KILN_WRITER_NEW && w->state != KILN_WRITER_OPEN)
		writer_bug(w, "close");
	if (w->ops->close)
		ret = w->ops->close(w, err);
	if (ret == 0 && w->next)
		ret = kiln_writer_close(w->next, err);
	w->state = ret < 0 ? KILN_WRITER_FAILED : KILN_WRITER_CLOSED;
	return ret;
}

void kiln_writer_free(struct kiln_writer *w)
{
	if (w)
		w->ops->free(w);
}

/* ------------------------------------------------------------------ sha256 */

struct sha256_writer {
	struct kiln_writer w;
	struct kiln_sha256 h;
	struct kiln_digest digest;
};

static int sha256_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err)
{
	struct sha256_writer *s = (struct sha256_writer *)w;

	kiln_sha256_update(&s->h, data, len);
	return kiln_writer_write(w->next, data, len, err);
}

static int sha256_close(struct kiln_writer *w, struct kiln_error *err)
{
	struct sha256_writer *s = (struct sha256_writer *)w;

	(void)err;
	kiln_sha256_final(&s->h, &s->digest);
	return 0;
}

static void sha256_free(struct kiln_writer *w)
{
	struct sha256_writer *s = (struct sha256_writer *)w;

	kiln_sha256_release(&s->h);
	free(s);
}

static const struct kiln_writer_ops sha256_ops = {
	.name = "sha256",
	.write = sha256_write,
	.close = sha256_close,
	.free = sha256_free,
};

struct kiln_writer *kiln_sha256_writer_new(struct kiln_writer *next)
{
	struct sha256_writer *s = xcalloc(1, sizeof(*s));

	kiln_writer_init(&s->w, &sha256_ops, next);
	kiln_sha256_init(&s->h);
	return &s->w;
}

void kiln_sha256_writer_digest(struct kiln_digest *out, const struct kiln_writer *w)
{
	if (w->ops != &sha256_ops || w->state != KILN_WRITER_CLOSED)
		writer_bug(w, "digest");
	*out = ((const struct sha256_writer *)w)->digest;
}

/* --------------------------------------------------------------------- tap */

struct tap_writer {
	struct kiln_writer w;
	kiln_tap_fn *fn;
	void *ctx;
};

static int tap_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err)
{
	struct tap_writer *t = (struct tap_writer *)w;
	int ret = kiln_writer_write(w->next, data, len, err);

	if (ret == 0)
		t->fn(t->ctx, w->next->bytes);
	return ret;
}

static int tap_close(struct kiln_writer *w, struct kiln_error *err)
{
	(void)w;
	(void)err;
	return 0;
}

static void tap_free(struct kiln_writer *w)
{
	free(w);
}

static const struct kiln_writer_ops tap_ops = {
	.name = "tap",
	.write = tap_write,
	.close = tap_close,
	.free = tap_free,
};

struct kiln_writer *kiln_tap_writer_new(struct kiln_writer *next, kiln_tap_fn *fn, void *ctx)
{
	struct tap_writer *t = xcalloc(1, sizeof(*t));

	kiln_writer_init(&t->w, &tap_ops, next);
	t->fn = fn;
	t->ctx = ctx;
	return &t->w;
}

/* ---------------------------------------------------------------------- fd */

struct fd_writer {
	struct kiln_writer w;
	int fd;
	char *what;
};

static int fd_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err)
{
	struct fd_writer *f = (struct fd_writer *)w;

	return kiln_write_all(f->fd, data, len, f->what, err);
}

static void fd_free(struct kiln_writer *w)
{
	struct fd_writer *f = (struct fd_writer *)w;

	free(f->what);
	free(f);
}

static const struct kiln_writer_ops fd_ops = {
	.name = "fd",
	.write = fd_write,
	.free = fd_free,
};

struct kiln_writer *kiln_fd_writer_new(int fd, const char *what)
{
	struct fd_writer *f = xcalloc(1, sizeof(*f));

	kiln_writer_init(&f->w, &fd_ops, NULL);
	f->fd = fd;
	f->what = xstrdup(what);
	return &f->w;
}

/* --------------------------------------------------------------------- buf */

struct buf_writer {
	struct kiln_writer w;
	struct kiln_buf *b;
	size_t cap;
	char *what;
};

static int buf_write(struct kiln_writer *w, const void *data, size_t len, struct kiln_error *err)
{
	struct buf_writer *bw = (struct buf_writer *)w;

	return kiln_buf_add_capped(bw->b, data, len, bw->cap, bw->what, err);
}

static void buf_free(struct kiln_writer *w)
{
	struct buf_writer *bw = (struct buf_writer *)w;

	free(bw->what);
	free(bw);
}

static const struct kiln_writer_ops buf_ops = {
	.name = "buf",
	.write = buf_write,
	.free = buf_free,
};

struct kiln_writer *kiln_buf_writer_new(struct kiln_buf *b, size_t cap, const char *what)
{
	struct buf_writer *bw = xcalloc(1, sizeof(*bw));

	kiln_writer_init(&bw->w, &buf_ops, NULL);
	bw->b = b;
	bw->cap = cap;
	bw->what = xstrdup(what);
	return &bw->w;
}
