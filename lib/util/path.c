#include "compat.h"
#include "path.h"
#include "buf.h"

/* Drop the last element of out (which holds a cleaned prefix starting at
 * root_len); return false when there is none to drop. */
static bool drop_last(struct kiln_buf *out, size_t root_len)
{
	size_t len = out->len;

	if (len <= root_len)
		return false;
	while (len > root_len && out->buf[len - 1] != '/')
		len--;
	/* "a/b" -> "a"; "a" -> ""; "/a" -> "/" */
	if (len > root_len)
		len--;
	kiln_buf_setlen(out, len);
	return true;
}

static bool last_is_dotdot(const struct kiln_buf *out, size_t root_len)
{
	size_t len = out->len;

	if (len < root_len + 2 || memcmp(out->buf + len - 2, "..", 2))
		return false;
	return len == root_len + 2 || out->buf[len - 3] == '/';
}

void kiln_path_clean(struct kiln_buf *out, const char *path)
{
	struct kiln_buf res = KILN_BUF_INIT;
	bool rooted = path[0] == '/';
	size_t root_len = rooted ? 1 : 0;
	const char *p = path;

	if (rooted)
		kiln_buf_addch(&res, '/');
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* empty element or ".": nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* ".." above "/" is "/"; in a relative path it stays */
			if (last_is_dotdot(&res, root_len) || !drop_last(&res, root_len)) {
				if (!rooted) {
					if (res.len > root_len)
						kiln_buf_addch(&res, '/');
					kiln_buf_addstr(&res, "..");
				}
			}
		} else {
			if (res.len > root_len)
				kiln_buf_addch(&res, '/');
			kiln_buf_add(&res, p, n);
		}
		p = *end ? end + 1 : end;
	}
	if (res.len == 0)
		kiln_buf_addch(&res, '.');
	kiln_buf_reset(out);
	kiln_buf_addbuf(out, &res);
	kiln_buf_release(&res);
}

void kiln_path_join(struct kiln_buf *out, const char *a, const char *b)
{
	struct kiln_buf tmp = KILN_BUF_INIT;

	kiln_buf_addstr(&tmp, a);
	if (*a && *b)
		kiln_buf_addch(&tmp, '/');
	kiln_buf_addstr(&tmp, b);
	kiln_path_clean(out, tmp.buf);
	kiln_buf_release(&tmp);
}

void kiln_path_split(struct kiln_buf *dir, struct kiln_buf *base, const char *path)
{
	struct kiln_buf clean = KILN_BUF_INIT;
	char *slash;

	kiln_path_clean(&clean, path);
	slash = strrchr(clean.buf, '/');
	if (base)
		kiln_buf_setstr(base, slash ? slash + 1 : clean.buf);
	if (dir) {
		if (!slash)
			kiln_buf_setstr(dir, ".");
		else if (slash == clean.buf)
			kiln_buf_setstr(dir, "/");
		else {
			kiln_buf_reset(dir);
			kiln_buf_add(dir, clean.buf, (size_t)(slash - clean.buf));
		}
	}
	if (base && !strcmp(clean.buf, "/"))
		kiln_buf_reset(base);
	kiln_buf_release(&clean);
}

bool kiln_path_is_beneath(const char *parent, const char *child)
{
	struct kiln_buf p = KILN_BUF_INIT, c = KILN_BUF_INIT;
	bool ret;

	kiln_path_clean(&p, parent);
	kiln_path_clean(&c, child);
	if ((p.buf[0] == '/') != (c.buf[0] == '/'))
		ret = false;
	else if (!strcmp(p.buf, "/"))
		ret = true;
	else if (!strcmp(p.buf, "."))
		ret = !kiln_path_escapes(c.buf);
	else
		ret = kiln_buf_starts_with(&c, p.buf) &&
		      (c.buf[p.len] == '\0' || c.buf[p.len] == '/');
	kiln_buf_release(&p);
	kiln_buf_release(&c);
	return ret;
}

bool kiln_path_escapes(const char *rel)
{
	struct kiln_buf c = KILN_BUF_INIT;
	bool ret;

	kiln_path_clean(&c, rel);
	ret = !strcmp(c.buf, "..") || kiln_buf_starts_with(&c, "../");
	kiln_buf_release(&c);
	return ret;
}
